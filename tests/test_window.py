"""window=(global_shape, origin): a block of a larger virtual array gets exactly the bits the
whole array would give it (csrc/window.c). No Dask needed."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as R
from conftest import DTYPES, assert_bitwise_equal, assert_mask_equal, layout, values

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


def _blocks(shape, rng, k=6):
    """Random blocks (slices) of `shape`, plus the whole array, full rows and single rows."""
    out = [tuple(slice(0, n) for n in shape)]
    for _ in range(k):
        sl = []
        for n in shape:
            a = int(rng.integers(0, n + 1))
            b = int(rng.integers(a, n + 1))
            sl.append(slice(a, b))
        out.append(tuple(sl))
    if len(shape) >= 2 and shape[0] > 1:  # trailing dims spanned fully: merged into rows
        out.append((slice(1, shape[0]),) + tuple(slice(0, n) for n in shape[1:]))
        out.append((slice(1, 2),) + tuple(slice(0, n) for n in shape[1:]))
    return out


SHAPES = ((), (1,), (13,), (7, 9), (3, 1, 10), (4, 5, 6), (2, 3, 4, 5), (17, 33), (1, 65, 3))


def _origin(sl):
    return tuple(s.start for s in sl)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", (0.0, 0.3, 0.5, 1.0))
def test_block_equals_slice_of_whole(shape, dtype, p):
    rng = np.random.default_rng(abs(hash((shape, p))) % 2**32)
    whole = values(shape, dtype)
    for seed, offset in ((0, 0), (12345, 3), (2**64 - 1, 2**40 + 1)):
        y, m = fd.dropout(whole, p, seed=seed, offset=offset, return_mask=True)
        keep = np.unpackbits(m, count=whole.size, bitorder="little").astype(bool)
        keep = keep.reshape(shape)
        for sl in _blocks(shape, rng):
            blk = whole[sl]
            win = (shape, _origin(sl))
            yb, mb = fd.dropout(blk, p, seed=seed, offset=offset, window=win, return_mask=True)
            assert_bitwise_equal(yb, y[sl], f"{shape} {sl}")
            assert_mask_equal(mb, np.packbits(keep[sl].ravel(), bitorder="little"))
            yr, mr = R.dropout(blk, p, seed=seed, offset=offset, window=win, return_mask=True)
            assert_bitwise_equal(yb, yr)
            assert_mask_equal(mb, mr)
            # mask only, and both backwards
            mm = fd.dropout_mask(blk.shape, p, seed=seed, offset=offset, window=win)
            assert_mask_equal(mm, mb)
            km = fd.dropout_mask(blk.shape, p, seed=seed, offset=offset, window=win,
                                 packed=False)
            assert np.array_equal(km, keep[sl])
            g = values(blk.shape, dtype, seed=1)
            gw = fd.dropout_backward(g, p, seed=seed, offset=offset, window=win)
            gwhole = fd.dropout_backward(g, p, mask=mb)
            assert_bitwise_equal(gw, gwhole)
            assert_bitwise_equal(gw, R.dropout_backward(g, p, seed=seed, offset=offset,
                                                        window=win))


@pytest.mark.parametrize("mode", ("inverted", "naive"))
def test_modes_and_layouts(mode):
    shape = (6, 10, 12)
    whole = values(shape, np.float32)
    y = fd.dropout(whole, 0.4, seed=9, offset=7, mode=mode)
    sl = (slice(1, 5), slice(2, 9), slice(3, 11))
    for lay in ("C", "F", "permuted", "reversed", "step", "unaligned_start"):
        blk = layout(whole[sl].copy(), lay)
        yb = fd.dropout(blk, 0.4, seed=9, offset=7, mode=mode, window=(shape, _origin(sl)))
        assert_bitwise_equal(yb, y[sl], lay)
        # in place
        b2 = layout(whole[sl].copy(), lay)
        if b2.flags.writeable:
            fd.dropout(b2, 0.4, seed=9, offset=7, mode=mode, window=(shape, _origin(sl)),
                       out=b2)
            assert_bitwise_equal(b2, y[sl], lay + " in place")


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("isa_name", fd.supported_isas())
def test_large_blocks_threads_and_isas(restore_threads, threads, isa_name):
    """Blocks big enough for the parallel paths (many rows; few long rows), odd row lengths so
    the packed mask is written through the bit-shift path across thread borders."""
    fd.set_num_threads(threads)
    old = fd.get_isa()
    fd.set_isa(isa_name)
    try:
        for shape, sl in (
            ((1000, 301), (slice(3, 997), slice(5, 300))),      # many short odd rows
            ((300, 2001), (slice(1, 299), slice(0, 2001))),     # full rows merged: one run
            ((4, 70001), (slice(1, 3), slice(7, 70000))),       # two long rows
            ((50, 40, 37), (slice(3, 47), slice(1, 39), slice(2, 35))),
        ):
            whole = values(shape, np.float32)
            y, m = fd.dropout(whole, 0.5, seed=77, offset=5, return_mask=True)
            keep = np.unpackbits(m, count=whole.size, bitorder="little").reshape(shape)
            yb, mb = fd.dropout(whole[sl], 0.5, seed=77, offset=5, window=(shape, _origin(sl)),
                                return_mask=True)
            assert_bitwise_equal(yb, y[sl], f"{shape}")
            assert_mask_equal(mb, np.packbits(keep[sl].ravel(), bitorder="little"))
            mm = fd.dropout_mask(whole[sl].shape, 0.5, seed=77, offset=5,
                                 window=(shape, _origin(sl)))
            assert_mask_equal(mm, mb)
    finally:
        fd.set_isa(old)


# Short rows (the keep bits drawn for many rows at once, then one driver call): odd row lengths,
# row starts at every residue mod 4, 8 and 64, rows close together (one draw spans several) and
# far apart (one draw per row), blocks big enough for the threaded paths.
SHORT_ROW_CASES = (
    ((4100, 23), (slice(3, 4099), slice(5, 18))),        # 13-element rows, 23 apart
    ((700, 9, 41), (slice(1, 700), slice(2, 9), slice(3, 40))),
    ((16000, 7), (slice(0, 15999), slice(1, 6))),        # 5-element rows
    ((300, 3001), (slice(2, 299), slice(777, 900))),     # far apart: one draw per row
    ((130, 4, 160), (slice(1, 129), slice(0, 4), slice(1, 158))),  # 157: the longest kind
    ((70000, 3), (slice(5, 69999), slice(1, 2))),        # single-element rows
    ((6, 9000, 11), (slice(1, 5), slice(0, 9000), slice(2, 9))),  # few indices on dim 0
)


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("isa_name", fd.supported_isas())
def test_short_rows_threads_and_isas(restore_threads, threads, isa_name):
    fd.set_num_threads(threads)
    old = fd.get_isa()
    fd.set_isa(isa_name)
    try:
        for (shape, sl), offset in itertools.product(SHORT_ROW_CASES, (3, 4 * 2**32 - 37)):
            whole = values(shape, np.float32)
            offset = min(offset, 2**64 - whole.size)
            win = (shape, _origin(sl))
            y, m = fd.dropout(whole, 0.3, seed=41, offset=offset, return_mask=True)
            keep = np.unpackbits(m, count=whole.size, bitorder="little").reshape(shape)
            want_mask = np.packbits(keep[sl].ravel(), bitorder="little")
            yb, mb = fd.dropout(whole[sl], 0.3, seed=41, offset=offset, window=win,
                                return_mask=True)
            assert_bitwise_equal(yb, y[sl], f"{shape} {offset}")
            assert_mask_equal(mb, want_mask, f"{shape} {offset}")
            assert_mask_equal(fd.dropout_mask(whole[sl].shape, 0.3, seed=41, offset=offset,
                                              window=win), want_mask)
            g = fd.dropout_backward(whole, 0.3, seed=41, offset=offset)
            assert_bitwise_equal(fd.dropout_backward(whole[sl], 0.3, seed=41, offset=offset,
                                                     window=win), g[sl])
            ya, ma = fd.alpha_dropout(whole, 0.3, seed=41, offset=offset, return_mask=True)
            yab, mab = fd.alpha_dropout(whole[sl], 0.3, seed=41, offset=offset, window=win,
                                        return_mask=True)
            assert_bitwise_equal(yab, ya[sl])
            assert_mask_equal(mab, want_mask)
            ga = fd.alpha_dropout_backward(whole, 0.3, seed=41, offset=offset)
            assert_bitwise_equal(fd.alpha_dropout_backward(whole[sl], 0.3, seed=41,
                                                           offset=offset, window=win), ga[sl])
            yg = fd.gaussian_dropout(whole, 0.3, seed=41, offset=offset)
            assert_bitwise_equal(fd.gaussian_dropout(whole[sl], 0.3, seed=41, offset=offset,
                                                     window=win), yg[sl])
        shape, sl = SHORT_ROW_CASES[1]
        win = (shape, _origin(sl))
        for dtype in DTYPES:  # every dtype, non-contiguous blocks and in place
            whole = values(shape, dtype)
            y = fd.dropout(whole, 0.6, seed=5, offset=9)
            ya = fd.alpha_dropout(whole, 0.6, seed=5, offset=9)
            yg = fd.gaussian_dropout(whole, 0.6, seed=5, offset=9)
            for lay in ("C", "F", "reversed", "step"):
                for f, want in ((fd.dropout, y), (fd.alpha_dropout, ya),
                                (fd.gaussian_dropout, yg)):
                    blk = layout(whole[sl].copy(), lay)
                    assert_bitwise_equal(f(blk, 0.6, seed=5, offset=9, window=win), want[sl],
                                         f"{dtype} {lay}")
                    f(blk, 0.6, seed=5, offset=9, window=win, out=blk)
                    assert_bitwise_equal(blk, want[sl], f"{dtype} {lay} in place")
    finally:
        fd.set_isa(old)


def test_short_rows_match_the_reference():
    shape, sl = (50, 3, 29), (slice(1, 48), slice(0, 3), slice(6, 19))
    whole = values(shape, np.float64)
    win = (shape, _origin(sl))
    for p in (0.0, 0.1, 0.5, 1.0):
        yb, mb = fd.dropout(whole[sl], p, seed=3, offset=11, window=win, return_mask=True)
        yr, mr = R.dropout(whole[sl], p, seed=3, offset=11, window=win, return_mask=True)
        assert_bitwise_equal(yb, yr)
        assert_mask_equal(mb, mr)
        assert_bitwise_equal(fd.alpha_dropout(whole[sl], p, seed=3, offset=11, window=win),
                             R.alpha_dropout(whole[sl], p, seed=3, offset=11, window=win))
        if p < 1:
            assert_bitwise_equal(
                fd.gaussian_dropout(whole[sl], p, seed=3, offset=11, window=win),
                R.gaussian_dropout(whole[sl], p, seed=3, offset=11, window=win))


def test_tiling_covers_the_whole_array():
    """Cut an array into a grid of blocks along every axis: the blocks reassemble the whole."""
    shape = (9, 10, 11)
    whole = values(shape, np.float64)
    y = fd.dropout(whole, 0.25, seed=3)
    got = np.empty_like(whole)
    cuts = [(0, 4, 9), (0, 3, 7, 10), (0, 1, 6, 11)]
    for i, j, k in itertools.product(*(range(len(c) - 1) for c in cuts)):
        sl = (slice(cuts[0][i], cuts[0][i + 1]), slice(cuts[1][j], cuts[1][j + 1]),
              slice(cuts[2][k], cuts[2][k + 1]))
        got[sl] = fd.dropout(whole[sl], 0.25, seed=3, window=(shape, _origin(sl)))
    assert_bitwise_equal(got, y)


def test_reference_window_helpers():
    g = R.window_indices((2, 3), (5, 7), (1, 2))
    assert g.tolist() == [[9, 10, 11], [16, 17, 18]]
    words = R.random_words(40, 11, offset=0)
    assert np.array_equal(R.random_words_at(g, 11), words[g.astype(np.intp)])
    k = R.keep_mask_window((2, 3), 0.5, 11, 4, global_shape=(5, 7), origin=(1, 2))
    assert np.array_equal(k, R.keep_mask((5, 7), 0.5, 11, offset=4)[1:3, 2:5])


def test_inference_ignores_window():
    x = values((4, 5), np.float32)
    y = fd.dropout(x, 0.5, training=False, window=((10, 10), (2, 3)))
    assert_bitwise_equal(y, x)


@pytest.mark.parametrize("window, exc", [
    (((4,), (0,)), ValueError),            # wrong ndim
    (((4, 5), (1, 0)), ValueError),        # does not fit
    (((4, 5), (0, -1)), ValueError),       # negative origin
    ((4, 5), ValueError),                  # a pair, but not of a shape and an origin
    ("ab", TypeError),
])
def test_bad_windows(window, exc):
    x = np.ones((4, 5), np.float32)
    with pytest.raises(exc):
        fd.dropout(x, 0.5, seed=1, window=window)


def test_window_needs_seed_and_offset_fits():
    x = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="seed"):
        fd.dropout(x, 0.5, window=((4, 4), (0, 0)))
    with pytest.raises(ValueError, match="2\\*\\*64"):
        fd.dropout(x, 0.5, seed=1, offset=2**64 - 10, window=((4, 4), (0, 0)))
    with pytest.raises(ValueError, match="seed"):
        fd.dropout(np.ones((2, 2)), 0.5, broadcast_axes=0, window=((4, 4), (0, 0)))


def test_fastdrop_without_dask():
    """fastdrop imports without dask; fastdrop.dask then says what to install."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'dask' or name.startswith('dask.') or name == 'distributed':\n"
        "            raise ImportError('no ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import fastdrop, numpy as np\n"
        "fastdrop.dropout(np.ones(3), 0.5, seed=1, window=((5,), (1,)))\n"
        "try:\n"
        "    import fastdrop.dask\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "fastdrop.dask needs dask: pip install 'fastdrop-numpy[dask]'" in out


@pytest.mark.parametrize("shape, axes", [
    ((6, 5, 7, 8), (2, 3)), ((6, 7, 8, 5), (1, 2)), ((9, 10, 11), (0,)), ((9, 10, 11), (2,)),
    ((9, 10, 11), (1,)), ((5, 4, 3), (0, 1, 2)), ((40, 3, 3), (1, 2)),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_and_drop_path_windows(shape, axes, dtype):
    rng = np.random.default_rng(len(shape) * 7 + sum(axes))
    whole = values(shape, dtype)
    for mode in ("inverted", "naive"):
        y = fd.dropout(whole, 0.4, seed=21, offset=6, mode=mode, broadcast_axes=axes)
        gb = fd.dropout_backward(whole, 0.4, seed=21, offset=6, mode=mode, broadcast_axes=axes)
        for sl in _blocks(shape, rng, k=4):
            win = (shape, _origin(sl))
            yb, mb = fd.dropout(whole[sl], 0.4, seed=21, offset=6, mode=mode,
                                broadcast_axes=axes, window=win, return_mask=True)
            assert_bitwise_equal(yb, y[sl], f"{shape} {axes} {sl}")
            assert_bitwise_equal(
                fd.dropout_backward(whole[sl], 0.4, seed=21, offset=6, mode=mode,
                                    broadcast_axes=axes, window=win), gb[sl])
            assert_bitwise_equal(
                fd.dropout_backward(whole[sl], 0.4, mask=mb, mode=mode, broadcast_axes=axes),
                gb[sl])
    if axes == tuple(range(1, len(shape))):
        for sbk in (True, False):
            y = fd.drop_path(whole, 0.4, seed=3, scale_by_keep=sbk)
            g = fd.drop_path_backward(whole, 0.4, seed=3, scale_by_keep=sbk)
            for sl in _blocks(shape, rng, k=4):
                win = (shape, _origin(sl))
                assert_bitwise_equal(fd.drop_path(whole[sl], 0.4, seed=3, scale_by_keep=sbk,
                                                  window=win), y[sl])
                assert_bitwise_equal(fd.drop_path_backward(whole[sl], 0.4, seed=3,
                                                           scale_by_keep=sbk, window=win), g[sl])


# --- window= on alpha, feature-alpha, Gaussian dropout and DropBlock ------------------------
ALPHA_GAUSS_SHAPES = ((13,), (7, 9), (4, 5, 6), (2, 3, 4, 5), (1, 65, 3), (40, 3, 3))


def _bits_equal_block(got, whole, sl, msg=""):
    assert_bitwise_equal(got, whole[sl], msg)


@pytest.mark.parametrize("shape", ALPHA_GAUSS_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_and_gaussian_windows(shape, dtype):
    rng = np.random.default_rng(sum(shape) + len(shape))
    whole = values(shape, dtype)
    for seed, offset in ((5, 0), (2**64 - 1, 2**40 + 3)):
        for p in (0.0, 0.3, 1.0):
            y, m = fd.alpha_dropout(whole, p, seed=seed, offset=offset, return_mask=True)
            keep = np.unpackbits(m, count=whole.size, bitorder="little").reshape(shape)
            g = fd.alpha_dropout_backward(whole, p, seed=seed, offset=offset)
            for sl in _blocks(shape, rng, k=4):
                win = (shape, _origin(sl))
                yb, mb = fd.alpha_dropout(whole[sl], p, seed=seed, offset=offset, window=win,
                                          return_mask=True)
                _bits_equal_block(yb, y, sl, f"alpha {shape} {sl} p={p}")
                assert_mask_equal(mb, np.packbits(keep[sl].ravel(), bitorder="little"))
                assert_bitwise_equal(yb, R.alpha_dropout(whole[sl], p, seed=seed, offset=offset,
                                                         window=win))
                gb = fd.alpha_dropout_backward(whole[sl], p, seed=seed, offset=offset,
                                               window=win)
                _bits_equal_block(gb, g, sl)
                assert_bitwise_equal(gb, fd.alpha_dropout_backward(whole[sl], p, mask=mb))
                assert_bitwise_equal(gb, R.alpha_dropout_backward(whole[sl], p, seed=seed,
                                                                  offset=offset, window=win))
        for p in (0.0, 0.2, 0.7):
            y = fd.gaussian_dropout(whole, p, seed=seed, offset=offset)
            g = fd.gaussian_dropout_backward(whole, p, seed=seed, offset=offset)
            for sl in _blocks(shape, rng, k=4):
                win = (shape, _origin(sl))
                yb = fd.gaussian_dropout(whole[sl], p, seed=seed, offset=offset, window=win)
                _bits_equal_block(yb, y, sl, f"gaussian {shape} {sl} p={p}")
                assert_bitwise_equal(yb, R.gaussian_dropout(whole[sl], p, seed=seed,
                                                            offset=offset, window=win))
                _bits_equal_block(fd.gaussian_dropout_backward(whole[sl], p, seed=seed,
                                                               offset=offset, window=win), g, sl)


@pytest.mark.parametrize("threads", (1, 2, 3))
@pytest.mark.parametrize("isa_name", fd.supported_isas())
def test_struct_window_threads_layouts(restore_threads, threads, isa_name):
    """Large blocks (row-parallel and row-internal threads), odd rows (mask bit shifts),
    non-contiguous blocks and in place, for the kernel-side windows of alpha and Gaussian."""
    fd.set_num_threads(threads)
    old = fd.get_isa()
    fd.set_isa(isa_name)
    try:
        for shape, sl in (((1000, 301), (slice(3, 997), slice(5, 300))),
                          ((4, 70001), (slice(1, 3), slice(7, 70000))),
                          ((300, 2001), (slice(1, 299), slice(0, 2001))),
                          ((50, 40, 37), (slice(3, 47), slice(1, 39), slice(2, 35)))):
            whole = values(shape, np.float32)
            win = (shape, _origin(sl))
            y, m = fd.alpha_dropout(whole, 0.4, seed=8, offset=1, return_mask=True)
            keep = np.unpackbits(m, count=whole.size, bitorder="little").reshape(shape)
            yb, mb = fd.alpha_dropout(whole[sl], 0.4, seed=8, offset=1, window=win,
                                      return_mask=True)
            assert_bitwise_equal(yb, y[sl], f"{shape}")
            assert_mask_equal(mb, np.packbits(keep[sl].ravel(), bitorder="little"))
            gz = fd.gaussian_dropout(whole, 0.4, seed=8, offset=1)
            assert_bitwise_equal(fd.gaussian_dropout(whole[sl], 0.4, seed=8, offset=1,
                                                     window=win), gz[sl], f"{shape}")
        shape, sl = (6, 10, 12), (slice(1, 5), slice(2, 9), slice(3, 11))
        whole = values(shape, np.float64)
        ya = fd.alpha_dropout(whole, 0.4, seed=9, offset=7)
        yg = fd.gaussian_dropout(whole, 0.4, seed=9, offset=7)
        for lay in ("C", "F", "permuted", "reversed", "step", "unaligned_start"):
            for f, want in ((fd.alpha_dropout, ya), (fd.gaussian_dropout, yg)):
                blk = layout(whole[sl].copy(), lay)
                assert_bitwise_equal(f(blk, 0.4, seed=9, offset=7, window=(shape, _origin(sl))),
                                     want[sl], lay)
                if blk.flags.writeable:
                    f(blk, 0.4, seed=9, offset=7, window=(shape, _origin(sl)), out=blk)
                    assert_bitwise_equal(blk, want[sl], lay + " in place")
    finally:
        fd.set_isa(old)


@pytest.mark.parametrize("shape, df", [((3, 4, 5, 6), "channels_first"),
                                       ((4, 5, 6, 3), "channels_last"),
                                       ((5, 3), "channels_first"),
                                       ((2, 3, 4, 5, 2), "channels_last")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_feature_alpha_windows(shape, df, dtype):
    rng = np.random.default_rng(len(shape) + shape[0])
    whole = values(shape, dtype)
    y = fd.feature_alpha_dropout(whole, 0.4, data_format=df, seed=4, offset=2)
    g = fd.feature_alpha_dropout_backward(whole, 0.4, data_format=df, seed=4, offset=2)
    for sl in _blocks(shape, rng, k=6):
        win = (shape, _origin(sl))
        yb, mb = fd.feature_alpha_dropout(whole[sl], 0.4, data_format=df, seed=4, offset=2,
                                          window=win, return_mask=True)
        _bits_equal_block(yb, y, sl, f"{shape} {sl}")
        assert_bitwise_equal(yb, R.feature_alpha_dropout(whole[sl], 0.4, data_format=df, seed=4,
                                                         offset=2, window=win))
        gb = fd.feature_alpha_dropout_backward(whole[sl], 0.4, data_format=df, seed=4, offset=2,
                                               window=win)
        _bits_equal_block(gb, g, sl)
        assert_bitwise_equal(gb, fd.feature_alpha_dropout_backward(whole[sl], 0.4,
                                                                   data_format=df, mask=mb))


@pytest.mark.parametrize("shape, df", [((3, 4, 17, 19), "channels_first"),
                                       ((2, 13, 11, 3), "channels_last"),
                                       ((2, 3, 7, 9, 8), "channels_first")])
def test_dropblock_windows(shape, df):
    rng = np.random.default_rng(shape[1])
    whole = values(shape, np.float32)
    for bs, vo, sc, scale in itertools.product((1, 3, 4), (False, True), (False, True),
                                              ("count", "expected")):
        kw = dict(seed=7, offset=3, data_format=df, valid_only=vo, share_channels=sc,
                  scale=scale)
        y, m = fd.dropblock(whole, 0.3, bs, return_mask=True, **kw)
        g = fd.dropblock_backward(whole, 0.3, bs, **kw)
        keep = np.unpackbits(m, count=whole.size, bitorder="little").reshape(shape)
        kc = int(np.count_nonzero(keep)) if scale == "count" else None
        for sl in _blocks(shape, rng, k=3):
            win = (shape, _origin(sl))
            yb, mb = fd.dropblock(whole[sl], 0.3, bs, window=win, kept_count=kc,
                                  return_mask=True, **kw)
            _bits_equal_block(yb, y, sl, f"{bs} {vo} {sc} {scale} {sl}")
            assert_mask_equal(mb, np.packbits(keep[sl].ravel(), bitorder="little"))
            gb = fd.dropblock_backward(whole[sl], 0.3, bs, window=win, kept_count=kc, **kw)
            _bits_equal_block(gb, g, sl)
            kwm = {k: v for k, v in kw.items() if k not in ("seed", "offset")}
            assert_bitwise_equal(fd.dropblock_backward(whole[sl], 0.3, bs, mask=mb, window=win,
                                                       kept_count=kc, **kwm), gb)


def test_dropblock_window_tiling_p1_and_counts():
    """Blocks tile the whole batch; their kept counts sum to the whole count; p = 1."""
    shape = (2, 3, 10, 12)
    whole = values(shape, np.float64)
    _, m = fd.dropblock(whole, 0.4, 3, seed=2, return_mask=True)
    kc = int(np.unpackbits(m, count=whole.size, bitorder="little").sum())
    y = fd.dropblock(whole, 0.4, 3, seed=2)
    got, total = np.empty_like(whole), 0
    cuts = [(0, 1, 2), (0, 2, 3), (0, 4, 10), (0, 5, 7, 12)]
    for idx in itertools.product(*(range(len(c) - 1) for c in cuts)):
        sl = tuple(slice(c[i], c[i + 1]) for c, i in zip(cuts, idx))
        win = (shape, _origin(sl))
        got[sl] = fd.dropblock(whole[sl], 0.4, 3, seed=2, window=win, kept_count=kc)
        _, mb = fd.dropblock(whole[sl], 0.4, 3, seed=2, window=win, scale="expected",
                             return_mask=True)
        total += int(np.unpackbits(mb, count=whole[sl].size, bitorder="little").sum())
    assert_bitwise_equal(got, y)
    assert total == kc
    zb = fd.dropblock(whole[:, :, 2:5], 1.0, 3, seed=2, window=(shape, (0, 0, 2, 0)),
                      kept_count=0)
    assert_bitwise_equal(zb, np.zeros_like(whole[:, :, 2:5]))


def test_struct_window_errors():
    x = np.ones((2, 3, 4, 4), np.float32)
    win = ((4, 3, 4, 4), (1, 0, 0, 0))
    for f in (fd.alpha_dropout, fd.gaussian_dropout, fd.feature_alpha_dropout):
        with pytest.raises(ValueError, match="seed"):
            f(x, 0.5, window=win)
        with pytest.raises(ValueError, match="seed"):
            f(x, 0.5, rng=fd.Generator(1), window=win)
        with pytest.raises(ValueError, match="does not fit"):
            f(x, 0.5, seed=1, window=((2, 3, 4, 4), (1, 0, 0, 0)))
        with pytest.raises(TypeError, match="window"):
            f(x, 0.5, seed=1, window="ab")
        with pytest.raises(ValueError, match="2\\*\\*64"):
            f(x, 0.3, seed=1, offset=2**64 - 10, window=win)
        assert_bitwise_equal(f(x, 0.5, training=False, window=win), x)
    for f in (fd.alpha_dropout_backward, fd.gaussian_dropout_backward,
              fd.feature_alpha_dropout_backward):
        with pytest.raises(ValueError, match="one entry per dimension"):
            f(x, 0.5, seed=1, window=((4, 3), (1, 0)))
    with pytest.raises(ValueError, match="seed"):
        fd.dropblock(x, 0.5, 3, scale="expected", window=win)
    with pytest.raises(ValueError, match="kept_count"):
        fd.dropblock(x, 0.5, 3, seed=1, window=win)  # scale="count" needs it
    with pytest.raises(ValueError, match="kept_count"):
        fd.dropblock_backward(x, 0.5, 3, seed=1, window=win)
    with pytest.raises(ValueError, match="kept_count= goes with window"):
        fd.dropblock(x, 0.5, 3, seed=1, kept_count=10)
    with pytest.raises(ValueError, match="scale='count'"):
        fd.dropblock(x, 0.5, 3, seed=1, window=win, scale="expected", kept_count=10)
    with pytest.raises(ValueError, match="kept_count"):
        fd.dropblock(x, 0.5, 3, seed=1, window=win, kept_count=4 * 3 * 16 + 1)
    with pytest.raises(TypeError, match="kept_count"):
        fd.dropblock(x, 0.5, 3, seed=1, window=win, kept_count=1.5)
    with pytest.raises(ValueError, match="does not fit"):
        fd.dropblock(x, 0.5, 3, seed=1, scale="expected", window=((2, 3, 4, 3), (0,) * 4))
    out = np.full_like(x, 7.0)
    with pytest.raises(ValueError):
        fd.dropblock(x, 0.5, 3, seed=1, window=win, out=out)
    assert (out == 7.0).all()  # nothing written before the error
    assert_bitwise_equal(fd.dropblock(x, 0.5, 3, training=False, window=win), x)


HUGE_WINDOWS = [  # global extents of 2**63 and more (offset + size <= 2**64 still)
    ((1 << 62, 4), (4, 4), ((1 << 62) - 4, 0), 0),
    ((1 << 63,), (100,), ((1 << 63) - 100,), 0),
    ((1 << 63,), (100,), (7,), (1 << 63) - 1),
    (((1 << 64) - 1,), (70,), ((1 << 64) - 71,), 0),
    ((3, 1 << 62), (2, 50), (1, (1 << 62) - 50), 0),
]


@pytest.mark.parametrize("gshape,lshape,origin,offset", HUGE_WINDOWS)
def test_windows_beyond_2_63(gshape, lshape, origin, offset):
    x = values(lshape, np.float32)
    win = (gshape, origin)
    kw = dict(seed=11, offset=offset, window=win)
    assert_bitwise_equal(fd.dropout(x, 0.4, **kw), R.dropout(x, 0.4, **kw))
    assert_mask_equal(fd.dropout_mask(lshape, 0.4, **kw), R.dropout_mask(lshape, 0.4, **kw))
    assert_bitwise_equal(fd.dropout_backward(x, 0.4, **kw), R.dropout_backward(x, 0.4, **kw))
    assert_bitwise_equal(fd.alpha_dropout(x, 0.4, **kw), R.alpha_dropout(x, 0.4, **kw))
    assert_bitwise_equal(fd.gaussian_dropout(x, 0.4, **kw), R.gaussian_dropout(x, 0.4, **kw))
    assert_bitwise_equal(fd.gaussian_dropout_backward(x, 0.4, **kw),
                         R.gaussian_dropout_backward(x, 0.4, **kw))
