"""Kernel == reference, bit for bit, on every SIMD path.

One generator (conftest.arrays / conftest.layout) produces every dtype, shape and memory
layout; each case goes through fastdrop and fastdrop.reference: forward (with and without the
packed mask, training and inference, both modes), backward from the mask, backward with the
mask regenerated, dropout_mask packed and unpacked, ``out=`` a separate non-contiguous array and
in place. Small shapes get the full cross product of offsets x p x mode x layout; larger ones a
deterministic sample in which every value of every parameter still occurs.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import reference as ref

from conftest import (
    DTYPES, LAYOUTS, MODES, PS, SHAPES, SMALL_SHAPES, TWO32, TWO64, WRITEABLE_LAYOUTS, arrays,
    assert_bitwise_equal, bits, assert_mask_equal, layout, offsets_for, values,
)

SEEDS = (0, 1, 2**32 - 1, 2**32, 0x243F6A8885A308D3, 2**64 - 1)
SENTINEL = 7.25


# --------------------------------------------------------------------------------------------
# Case selection
# --------------------------------------------------------------------------------------------
def _cycled(rng, vals, k):
    """k values of `vals`, every value at least once when k >= len(vals), in shuffled order."""
    out = []
    while len(out) < k:
        out.extend(rng.permutation(len(vals)).tolist())
    return [vals[i] for i in out[:k]]


def training_cases(shape):
    """(layout, offset, p, mode, seed, out_layout) tuples for training-mode checks."""
    n = math.prod(shape)
    offs = offsets_for(n)
    rng = np.random.default_rng(n + 17 * len(shape))
    if shape in SMALL_SHAPES:
        # full product of offset x p x mode; layouts, seeds and out layouts cycled through it
        combos = list(itertools.product(offs, PS, MODES))
        k = len(combos)
        lays = _cycled(rng, LAYOUTS, k)
        seeds = _cycled(rng, SEEDS, k)
        outs = _cycled(rng, WRITEABLE_LAYOUTS, k)
        cases = [(l, o, p, m, s, ol) for (o, p, m), l, s, ol in zip(combos, lays, seeds, outs)]
        # and every layout against every p at one unaligned offset
        cases += [(l, 3, p, "inverted", 12345, "step") for l in LAYOUTS for p in PS]
        return cases
    k = 36
    return list(zip(_cycled(rng, LAYOUTS, k), _cycled(rng, offs, k), _cycled(rng, PS, k),
                    _cycled(rng, MODES, k), _cycled(rng, SEEDS, k),
                    _cycled(rng, WRITEABLE_LAYOUTS, k)))


# --------------------------------------------------------------------------------------------
# Reference results, cached across SIMD paths and layouts (they depend on neither)
# --------------------------------------------------------------------------------------------
_REF = {}


def _content(name):
    return "bcast" if name == "broadcast" else "full"


def ref_forward(x, key, p, seed, offset, training, mode):
    k = ("fwd", key, p, seed, offset, training, mode)
    if k not in _REF:
        _REF[k] = ref.dropout(np.array(x, order="C"), p, seed=seed, offset=offset,
                              training=training, mode=mode, return_mask=True)
    return _REF[k]


def ref_backward(g, key, p, seed, offset, mode):
    """(from the mask, regenerated); the two must agree in the reference too."""
    k = ("bwd", key, p, seed, offset, mode)
    if k not in _REF:
        gc = np.array(g, order="C")
        _, mask = ref_forward(g, key, p, seed, offset, True, mode)
        a = ref.dropout_backward(gc, p, mask=mask, mode=mode)
        b = ref.dropout_backward(gc, p, seed=seed, offset=offset, mode=mode)
        assert_bitwise_equal(a, b, "reference: backward(mask) vs backward(regenerated)")
        _REF[k] = a
    return _REF[k]


# --------------------------------------------------------------------------------------------
# The generator test
# --------------------------------------------------------------------------------------------
def check_training(x, v, name, dtype, shape, offset, p, mode, seed, out_layout):
    key = (np.dtype(dtype).name, shape, _content(name))
    label = (f"{np.dtype(dtype).name}{shape}/{name} p={p} mode={mode} seed={seed} "
             f"offset={offset}")
    n = x.size
    yr, mr = ref_forward(x, key, p, seed, offset, True, mode)
    assert mr.shape == ((n + 7) // 8,)

    y, m = fd.dropout(x, p, seed=seed, offset=offset, mode=mode, return_mask=True)
    assert y.flags.c_contiguous, label
    assert_bitwise_equal(y, yr, label + " forward")
    assert_mask_equal(m, mr, label + " forward mask")

    y2 = fd.dropout(x, p, seed=seed, offset=offset, mode=mode)
    assert_bitwise_equal(y2, yr, label + " forward without mask")

    # out= a separate array in another (usually non-contiguous) layout
    out = layout(np.full(shape, SENTINEL, dtype), out_layout)
    r = fd.dropout(x, p, seed=seed, offset=offset, mode=mode, out=out)
    assert r is out, label
    assert_bitwise_equal(out, yr, label + f" out=<{out_layout}>")

    # in place
    if name in WRITEABLE_LAYOUTS:
        xi = layout(v if _content(name) == "full" else np.array(x, order="C"), name)
        r = fd.dropout(xi, p, seed=seed, offset=offset, mode=mode, out=xi)
        assert r is xi, label
        assert_bitwise_equal(xi, yr, label + " in place")

    # backward: from the mask, regenerated, and in place
    gr = ref_backward(x, key, p, seed, offset, mode)
    gm = fd.dropout_backward(x, p, mask=m, mode=mode)
    assert gm.flags.c_contiguous, label
    assert_bitwise_equal(gm, gr, label + " backward(mask)")
    gs = fd.dropout_backward(x, p, seed=seed, offset=offset, mode=mode)
    assert_bitwise_equal(gs, gr, label + " backward(regenerated)")
    out = layout(np.full(shape, SENTINEL, dtype), out_layout)
    r = fd.dropout_backward(x, p, mask=m, mode=mode, out=out)
    assert r is out
    assert_bitwise_equal(out, gr, label + f" backward(mask) out=<{out_layout}>")

    # the mask on its own (independent of dtype, layout and mode: checked once per combination)
    if name == "C" and mode == "inverted":
        assert_mask_equal(fd.dropout_mask(shape, p, seed=seed, offset=offset), mr,
                          label + " dropout_mask")
        keep = fd.dropout_mask(shape, p, seed=seed, offset=offset, packed=False)
        assert keep.dtype == np.bool_ and keep.shape == shape, label
        np.testing.assert_array_equal(
            keep, ref.dropout_mask(shape, p, seed=seed, offset=offset, packed=False),
            err_msg=label + " dropout_mask(packed=False)")


def check_inference(x, name, dtype, shape, p, mode, out_layout):
    key = (np.dtype(dtype).name, shape, _content(name))
    label = f"{np.dtype(dtype).name}{shape}/{name} p={p} mode={mode} training=False"
    yr, mr = ref_forward(x, key, p, 0, 0, False, mode)
    y, m = fd.dropout(x, p, seed=5, training=False, mode=mode, return_mask=True)
    assert y.flags.c_contiguous and y is not x, label
    assert_bitwise_equal(y, yr, label)
    assert_mask_equal(m, mr, label + " mask")
    out = layout(np.full(shape, SENTINEL, dtype), out_layout)
    r = fd.dropout(x, p, training=False, mode=mode, out=out)
    assert r is out
    assert_bitwise_equal(out, yr, label + f" out=<{out_layout}>")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matches_reference(isa, dtype, shape):
    v = values(shape, dtype)
    xs = {name: layout(v, name) for name in LAYOUTS}
    for name, x in xs.items():  # every layout holds the intended values
        if name != "broadcast":
            assert_bitwise_equal(x, v, f"layout {name}")
    for name, offset, p, mode, seed, out_layout in training_cases(shape):
        check_training(xs[name], v, name, dtype, shape, offset, p, mode, seed, out_layout)
    for (name, p, mode), out_layout in zip(itertools.product(LAYOUTS, PS, MODES),
                                           itertools.cycle(WRITEABLE_LAYOUTS[::-1])):
        check_inference(xs[name], name, dtype, shape, p, mode, out_layout)


def test_generator_covers_the_brief():
    """The generator really produces the layouts the kernels must handle."""
    seen = {}
    for label, a in arrays(shapes=[(3, 5, 7)]):
        seen[label.split("/")[1]] = a
    assert seen["C"].flags.c_contiguous
    assert seen["F"].flags.f_contiguous and not seen["F"].flags.c_contiguous
    assert not seen["permuted"].flags.c_contiguous and not seen["permuted"].flags.f_contiguous
    assert seen["reversed"].strides[0] < 0
    assert all(s < 0 for s in seen["all_reversed"].strides)
    assert seen["step"].strides[-1] == 3 * seen["step"].itemsize
    assert seen["step_reversed"].strides[-1] == -3 * seen["step_reversed"].itemsize
    assert not seen["misaligned_bytes"].flags.aligned or seen["misaligned_bytes"].itemsize == 1
    assert seen["broadcast"].strides[0] == 0 and not seen["broadcast"].flags.writeable
    n = sum(1 for _ in arrays())
    assert n == len(DTYPES) * len(SHAPES) * len(LAYOUTS)


# --------------------------------------------------------------------------------------------
# Sharding: the mask depends only on the global index
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sharding_1d_pieces(isa, dtype):
    x = values((10007,), dtype, seed=3)
    cuts = [0, 1, 6, 13, 100, 2049, 2050, 4101, 7777, 10007]  # pieces of 1, 5, 7, 87, ...
    base = 2**32 * 4 - 5003  # the pieces straddle the 2**32 block-counter carry
    for p, mode in [(0.3, "inverted"), (0.5, "naive"), (0.9, "inverted")]:
        whole, wmask = fd.dropout(x, p, seed=99, offset=base, mode=mode, return_mask=True)
        parts, keeps = [], []
        for a, b in zip(cuts[:-1], cuts[1:]):
            y, m = fd.dropout(x[a:b], p, seed=99, offset=base + a, mode=mode, return_mask=True)
            parts.append(y)
            keeps.append(np.unpackbits(m, count=b - a, bitorder="little"))
            g = fd.dropout_backward(x[a:b], p, seed=99, offset=base + a, mode=mode)
            assert_bitwise_equal(g, fd.dropout_backward(x, p, mask=wmask, mode=mode)[a:b],
                                 f"backward piece [{a}:{b}]")
        assert_bitwise_equal(np.concatenate(parts), whole, f"p={p} {mode}")
        np.testing.assert_array_equal(
            np.packbits(np.concatenate(keeps), bitorder="little"), wmask)
        assert_bitwise_equal(whole, ref.dropout(x, p, seed=99, offset=base, mode=mode))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sharding_2d_row_blocks(isa, dtype):
    x = values((129, 67), dtype, seed=4)
    xs = {"C": x, "F": np.asfortranarray(x), "step": layout(x, "step")}
    whole = fd.dropout(x, 0.4, seed=2024, offset=11)
    for name, xv in xs.items():
        rows = [0, 1, 4, 31, 64, 100, 129]
        pieces = [fd.dropout(xv[a:b], 0.4, seed=2024, offset=11 + a * 67)
                  for a, b in zip(rows[:-1], rows[1:])]
        assert_bitwise_equal(np.concatenate(pieces, axis=0), whole, name)
    assert_bitwise_equal(whole, ref.dropout(x, 0.4, seed=2024, offset=11))


def test_sharding_mask_shift(isa):
    """Offset k is the same mask as offset 0 with the first k elements cut off."""
    full = fd.dropout_mask(1000 + 77, 0.5, seed=8, packed=False)
    for k in (1, 2, 3, 4, 5, 63, 64, 65, 77):
        np.testing.assert_array_equal(
            fd.dropout_mask(1000, 0.5, seed=8, offset=k, packed=False), full[k:1000 + k])


# --------------------------------------------------------------------------------------------
# In place and out= in detail: nothing outside the view is written
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_in_place_non_contiguous_leaves_gaps_alone(isa, dtype):
    base = np.full((37, 3 * 41), SENTINEL, dtype)
    x = base[::-1, ::3]
    x[...] = values((37, 41), dtype, seed=5)
    want = ref.dropout(x, 0.5, seed=1, offset=3)
    r = fd.dropout(x, 0.5, seed=1, offset=3, out=x)
    assert r is x
    assert_bitwise_equal(x, want)
    gaps = np.ones(base.shape, bool)
    gaps[:, ::3] = False
    assert np.all(base[gaps] == SENTINEL)

    g = x.copy()
    gr = ref.dropout_backward(g, 0.5, seed=1, offset=3)
    xb = base[::-1, ::3]
    xb[...] = g
    assert fd.dropout_backward(xb, 0.5, seed=1, offset=3, out=xb) is xb
    assert_bitwise_equal(xb, gr)
    assert np.all(base[gaps] == SENTINEL)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_out_separate_non_contiguous(isa, dtype):
    x = values((50, 70), dtype, seed=6)
    obase = np.full((50, 140), SENTINEL, dtype)
    out = obase[:, ::-2]  # negative stride, not contiguous
    assert not out.flags.c_contiguous
    want = ref.dropout(x, 0.25, seed=77)
    r = fd.dropout(np.asfortranarray(x), 0.25, seed=77, out=out)
    assert r is out
    assert_bitwise_equal(out, want)
    touched = np.zeros(obase.shape, bool)
    touched[:, ::-2] = True
    assert np.all(obase[~touched] == SENTINEL)
    # the input is not modified
    assert_bitwise_equal(x, values((50, 70), dtype, seed=6))


def test_same_view_object_counts_as_in_place():
    x = np.arange(12.0).reshape(3, 4)
    out = x.view()
    fd.dropout(x, 0.5, seed=1, out=out)
    assert_bitwise_equal(x, ref.dropout(np.arange(12.0).reshape(3, 4), 0.5, seed=1))


def test_inference_inverted_in_place_is_identity():
    x = np.arange(10, dtype=np.float32)
    assert fd.dropout(x, 0.5, training=False, out=x) is x
    np.testing.assert_array_equal(x, np.arange(10, dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Contract details
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
def test_select_semantics_nan_inf(isa, dtype, mode):
    """Dropped NaN / inf give +0.0; kept ones propagate; bitwise equal to the reference."""
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 1.0] * 40, dtype)
    y, m = fd.dropout(x, 0.5, seed=3, mode=mode, return_mask=True)
    yr, mr = ref.dropout(x, 0.5, seed=3, mode=mode, return_mask=True)
    assert_mask_equal(m, mr)
    keep = np.unpackbits(m, count=x.size, bitorder="little").astype(bool)
    assert 0 < keep.sum() < x.size
    assert np.all(bits(y[~keep]) == 0)  # +0.0 exactly
    assert np.isnan(y[keep & np.isnan(x)]).all()
    assert_bitwise_equal(y, yr)
    assert_bitwise_equal(fd.dropout_backward(x, 0.5, mask=m, mode=mode),
                         ref.dropout_backward(x, 0.5, mask=mr, mode=mode))


def test_p_extremes(isa):
    x = values((1001,), np.float32, seed=7)
    y, m = fd.dropout(x, 1.0, seed=1, return_mask=True)
    assert np.all(bits(y) == 0) and not m.any()
    y, m = fd.dropout(x, 0.0, seed=1, return_mask=True)
    assert_bitwise_equal(y, x)  # scale 1: x * 1 == x
    assert np.unpackbits(m, bitorder="little").sum() == 1001
    assert m[-1] == (1 << (1001 % 8)) - 1  # unused high bits zero
    y = fd.dropout(x, 0.0, seed=1, mode="naive", training=False)
    assert_bitwise_equal(y, x)


def test_threshold_boundary(isa):
    """kept iff word >= floor(p * 2**32): p exactly k / 2**32 and its neighbours."""
    n = 4096
    words = ref.random_words(n, 31, offset=5)
    for u in (int(words.min()), int(np.median(words)), int(words.max())):
        for p in (u / TWO32, np.nextafter(u / TWO32, 0), np.nextafter(u / TWO32, 1)):
            if not 0 <= p <= 1:
                continue
            keep = fd.dropout_mask(n, p, seed=31, offset=5, packed=False)
            np.testing.assert_array_equal(keep, words >= math.floor(p * TWO32), err_msg=str(p))


def test_key_split():
    """Seeds differing only in the high or low 32 bits give different masks."""
    masks = [fd.dropout_mask(256, 0.5, seed=s) for s in (1, 1 + 2**32, 2**32, 0)]
    for a, b in itertools.combinations(masks, 2):
        assert not np.array_equal(a, b)
    for s in (1 + 2**32, 2**64 - 1):
        assert_mask_equal(fd.dropout_mask(256, 0.5, seed=s), ref.dropout_mask(256, 0.5, seed=s))


def test_last_elements_of_index_space(isa):
    for n in (1, 3, 4, 5, 64, 67, 3000):
        off = TWO64 - n
        assert_mask_equal(fd.dropout_mask(n, 0.5, seed=9, offset=off),
                          ref.dropout_mask(n, 0.5, seed=9, offset=off), f"n={n}")


def test_counter_carry_across_2_32(isa):
    """Runs that cross block index 2**32 (c0 wraps, c1 increments) at every alignment."""
    for start in range(TWO32 * 4 - 70, TWO32 * 4 - 60):
        assert_mask_equal(fd.dropout_mask(200, 0.3, seed=5, offset=start),
                          ref.dropout_mask(200, 0.3, seed=5, offset=start), f"offset={start}")


# --------------------------------------------------------------------------------------------
# Array-likes
# --------------------------------------------------------------------------------------------
def test_array_likes():
    y = fd.dropout([1.0, 2.0, 3.0], 0.5, seed=0)
    assert y.dtype == np.float64 and y.shape == (3,)
    assert_bitwise_equal(y, ref.dropout(np.array([1.0, 2.0, 3.0]), 0.5, seed=0))

    y = fd.dropout([[1, 2], [3, 4]], 0.5, seed=0)  # Python ints become float64
    assert y.dtype == np.float64 and y.shape == (2, 2)
    assert_bitwise_equal(y, ref.dropout(np.array([[1.0, 2.0], [3.0, 4.0]]), 0.5, seed=0))

    for s in (3, 3.5):
        y = fd.dropout(s, 0.5, seed=0)
        assert isinstance(y, np.ndarray) and y.shape == () and y.dtype == np.float64
        assert_bitwise_equal(y, ref.dropout(np.float64(s), 0.5, seed=0))

    y = fd.dropout(np.float32(2.5), 0.5, seed=1, return_mask=True)[0]
    assert y.shape == () and y.dtype == np.float32

    g = fd.dropout_backward([1, 2, 3], 0.5, seed=0)
    assert g.dtype == np.float64
    assert_bitwise_equal(g, ref.dropout_backward(np.array([1.0, 2.0, 3.0]), 0.5, seed=0))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_zero_d_and_empty(isa, dtype):
    x = np.array(1.5, dtype)
    y, m = fd.dropout(x, 0.5, seed=2, return_mask=True)
    assert y.shape == () and y.dtype == dtype and m.shape == (1,)
    assert_bitwise_equal(y, ref.dropout(x, 0.5, seed=2))
    out = np.array(0, dtype)
    assert fd.dropout(x, 0.5, seed=2, out=out) is out
    for shape in [(0,), (2, 0, 3), (0, 0)]:
        e = np.empty(shape, dtype)
        y, m = fd.dropout(e, 0.5, seed=2, return_mask=True)
        assert y.shape == shape and y.dtype == dtype and m.shape == (0,)
        assert fd.dropout_mask(shape, 0.5, seed=2).shape == (0,)
        assert fd.dropout_mask(shape, 0.5, seed=2, packed=False).shape == shape
        assert fd.dropout_backward(e, 0.5, mask=m).shape == shape
        # empty arrays are fine at the very end of the index space
        assert fd.dropout(e, 0.5, seed=2, offset=TWO64 - 1).shape == shape


# --------------------------------------------------------------------------------------------
# Unusual views and masks
# --------------------------------------------------------------------------------------------
def test_many_dimensions_and_odd_strides_on_length_one_axes(isa):
    from numpy.lib.stride_tricks import as_strided

    base = values((2,) * 14 + (6,), np.float32, seed=8)
    x = base[(slice(None, None, -1),) * 14 + (slice(None, None, 2),)]  # 15-d, all strided
    assert_bitwise_equal(fd.dropout(x, 0.5, seed=3, offset=1),
                         ref.dropout(np.array(x), 0.5, seed=3, offset=1), "15-d")
    x = np.ones((1,) * 63 + (5,))
    assert_bitwise_equal(fd.dropout(x, 0.5, seed=3), ref.dropout(x, 0.5, seed=3), "64-d")
    b = np.arange(1.0, 41.0)
    x = as_strided(b, shape=(1, 5, 1, 4), strides=(12345 * 8, 64, -56, 8), writeable=False)
    assert_bitwise_equal(fd.dropout(x, 0.5, seed=3), ref.dropout(np.array(x), 0.5, seed=3))


def test_large_broadcast_input_threaded(isa, restore_threads):
    fd.set_num_threads(2)
    x = np.broadcast_to(values((7,), np.float16, seed=2), (50_000, 7))
    assert_bitwise_equal(fd.dropout(x, 0.3, seed=9), ref.dropout(np.array(x), 0.3, seed=9))


def test_backward_mask_strided_and_unused_bits_ignored(isa):
    x = values((100,), np.float32, seed=9)
    y, m = fd.dropout(x, 0.5, seed=1, return_mask=True)
    want = ref.dropout_backward(x, 0.5, mask=m)
    assert_bitwise_equal(fd.dropout_backward(x, 0.5, mask=m), want)
    m2 = np.zeros(2 * m.size, np.uint8)
    m2[::2] = m
    assert_bitwise_equal(fd.dropout_backward(x, 0.5, mask=m2[::2]), want, "strided mask")
    m3 = m.copy()
    m3[-1] |= 0xF0  # 100 % 8 == 4: the high four bits of the last byte are unused
    assert_bitwise_equal(fd.dropout_backward(x, 0.5, mask=m3), want, "unused bits set")
    assert m[-1] >> 4 == 0  # and fastdrop itself writes them as zero


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_backward_p_one_with_a_set_mask(isa, dtype):
    x = np.array([1.0, -2.0, 0.0, 3.0], dtype)
    _, m = fd.dropout(x, 1.0, training=False, return_mask=True)  # inference: all bits set
    assert m.tolist() == [0b1111]
    assert_bitwise_equal(fd.dropout_backward(x, 1.0, mask=m),
                         ref.dropout_backward(x, 1.0, mask=m))
