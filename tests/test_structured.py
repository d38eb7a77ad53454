"""Structured dropout: broadcast masks (dropout(broadcast_axes=...), spatial, locked, embedding
dropout, drop_path), DropBlock, alpha / feature-alpha and Gaussian dropout.

Every variant is checked bit for bit against fastdrop.reference for every dtype and several
memory layouts, forward and backward, on every SIMD path and for 1 and 2 threads; DropBlock's
structure against an independent brute-force construction (and PyTorch's max-pool formulation
when torch is installed); the statistics the layers promise; and the error messages.
"""
from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core
from fastdrop import reference as ref

from conftest import assert_bitwise_equal, assert_mask_equal, layout, values

DTYPES = (np.float16, np.float32, np.float64)
LAYS = ("C", "F", "permuted", "all_reversed", "step", "broadcast")
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")


def arr(shape, dtype=np.float32, lay="C", seed=0):
    return layout(values(shape, dtype, seed), lay)


def normal(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def unpack(mask, shape):
    return np.unpackbits(mask, count=math.prod(shape), bitorder="little").astype(bool).reshape(shape)


# --------------------------------------------------------------------------------------------
# Broadcast masks
# --------------------------------------------------------------------------------------------
BCAST_CASES = [  # shape, broadcast_axes
    ((4, 6, 5, 7), (2, 3)), ((4, 6, 5, 7), (1, 2)), ((4, 6, 5, 7), (0,)), ((4, 6, 5, 7), (1, 3)),
    ((4, 6, 5, 7), (0, 1, 2, 3)), ((4, 6, 5, 7), ()), ((3, 1, 70), (2,)), ((130,), (0,)),
    ((9, 2, 3), -1), ((), ()),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lay", LAYS)
def test_broadcast_dropout_matches_reference(isa, dtype, lay):
    for k, (shape, axes) in enumerate(BCAST_CASES):
        x = arr(shape, dtype, lay, k)
        for p, off, mode in ((0.3, 0, "inverted"), (0.5, 5, "naive"), (1.0, 2, "inverted"),
                             (0.0, 1, "inverted")):
            y, m = fd.dropout(x, p, seed=11, offset=off, mode=mode, broadcast_axes=axes,
                              return_mask=True)
            r, rm = ref.broadcast_dropout(x, p, broadcast_axes=axes, seed=11, offset=off,
                                          mode=mode, return_mask=True)
            assert_bitwise_equal(y, r, f"{shape} {axes} p={p}")
            assert_mask_equal(m, rm, f"{shape} {axes} p={p}")
            g = arr(shape, dtype, "C", k + 100)
            for kw in (dict(mask=m), dict(seed=11, offset=off)):
                gb = fd.dropout_backward(g, p, mode=mode, broadcast_axes=axes, **kw)
                gr = ref.broadcast_dropout_backward(g, p, broadcast_axes=axes, mode=mode, **kw)
                assert_bitwise_equal(gb, gr, f"backward {shape} {axes} {list(kw)}")


def test_broadcast_contract_is_dropout_mask_of_reduced_shape():
    x = normal((8, 16, 9, 9))
    y, m = fd.dropout(x, 0.4, seed=3, offset=8, broadcast_axes=(2, 3), return_mask=True)
    keep = fd.dropout_mask((8, 16, 1, 1), 0.4, seed=3, offset=8, packed=False)
    assert_mask_equal(m, np.packbits(keep.ravel(), bitorder="little"))
    want = np.where(keep, x * np.float32(1 / 0.6), np.float32(0))
    assert_bitwise_equal(y, want)
    assert m.size == (8 * 16 + 7) // 8


def test_noise_shape_equals_broadcast_axes():
    x = normal((5, 7, 11))
    a = fd.dropout(x, 0.3, seed=9, noise_shape=(None, 1, 11))
    b = fd.dropout(x, 0.3, seed=9, broadcast_axes=(1,))
    assert_bitwise_equal(a, b)
    c = fd.dropout(x, 0.3, seed=9, noise_shape=(5, 7, 11))
    assert_bitwise_equal(c, fd.dropout(x, 0.3, seed=9))  # nothing broadcast: plain dropout


def test_broadcast_inference_out_and_in_place():
    x = normal((4, 8, 5, 5))
    assert_bitwise_equal(fd.dropout(x, 0.5, training=False, broadcast_axes=(2, 3)), x)
    naive = fd.dropout(x, 0.5, training=False, mode="naive", broadcast_axes=(2, 3))
    assert_bitwise_equal(naive, ref.dropout(x, 0.5, seed=0, training=False, mode="naive"))
    _, m = fd.dropout(x, 0.5, training=False, broadcast_axes=(2, 3), return_mask=True)
    assert_mask_equal(m, np.packbits(np.ones(32, bool), bitorder="little"))
    want = ref.broadcast_dropout(x, 0.5, broadcast_axes=(2, 3), seed=4)
    z = x.copy()
    assert fd.dropout(z, 0.5, seed=4, broadcast_axes=(2, 3), out=z) is z
    assert_bitwise_equal(z, want)
    o = np.empty((4, 8, 5, 15), np.float32)[..., ::3]
    assert fd.dropout(x, 0.5, seed=4, broadcast_axes=(2, 3), out=o) is o
    assert_bitwise_equal(o, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ndim", (3, 4, 5))
def test_spatial_dropout(isa, dtype, ndim):
    shape = (3, 5, 6, 4, 3)[:ndim]
    x = arr(shape, dtype, "permuted", ndim)
    for fmt in ("channels_first", "channels_last"):
        y, m = fd.spatial_dropout(x, 0.4, data_format=fmt, seed=2, offset=3, return_mask=True)
        r, rm = ref.spatial_dropout(x, 0.4, data_format=fmt, seed=2, offset=3, return_mask=True)
        assert_bitwise_equal(y, r, fmt)
        assert_mask_equal(m, rm, fmt)
        g = arr(shape, dtype, "step", 9)
        for kw in (dict(mask=m), dict(seed=2, offset=3)):
            assert_bitwise_equal(fd.spatial_dropout_backward(g, 0.4, data_format=fmt, **kw),
                                 ref.spatial_dropout_backward(g, 0.4, data_format=fmt, **kw))
    # whole channels: every (n, c) slice is all kept or all dropped; both layouts agree
    x = normal((4, 6, 7, 9))
    y = fd.spatial_dropout(x, 0.5, seed=1)
    zero = (y == 0).reshape(4, 6, -1)
    assert np.all(zero.all(-1) | ~zero.any(-1))
    ycl = fd.spatial_dropout(np.moveaxis(x, 1, -1), 0.5, seed=1, data_format="channels_last")
    assert_bitwise_equal(np.moveaxis(ycl, -1, 1), y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_locked_and_embedding_dropout(isa, dtype):
    x = arr((6, 4, 10), dtype, "F", 1)
    for t in (0, 1, -1):
        y, m = fd.locked_dropout(x, 0.3, time_axis=t, seed=5, return_mask=True)
        r, rm = ref.locked_dropout(x, 0.3, time_axis=t, seed=5, return_mask=True)
        assert_bitwise_equal(y, r)
        assert_mask_equal(m, rm)
        assert_bitwise_equal(fd.locked_dropout_backward(x, 0.3, time_axis=t, mask=m),
                             ref.locked_dropout_backward(x, 0.3, time_axis=t, mask=m))
    y = fd.locked_dropout(normal((6, 4, 10)), 0.5, seed=5)
    assert np.all((y == 0) == (y[:1] == 0))  # the same mask at every time step
    y, m = fd.embedding_dropout(x, 0.3, seed=5, offset=1, return_mask=True)
    r, rm = ref.embedding_dropout(x, 0.3, seed=5, offset=1, return_mask=True)
    assert_bitwise_equal(y, r)
    assert_mask_equal(m, rm)
    assert m.size == (24 + 7) // 8
    assert_bitwise_equal(fd.embedding_dropout_backward(x, 0.3, seed=5, offset=1),
                         ref.embedding_dropout_backward(x, 0.3, seed=5, offset=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_drop_path(isa, dtype):
    x = arr((8, 3, 5, 7), dtype, "all_reversed", 2)
    for mode in ("row", "batch"):
        for sbk in (True, False):
            for seed in range(3):
                y, m = fd.drop_path(x, 0.4, mode=mode, scale_by_keep=sbk, seed=seed,
                                    return_mask=True)
                r, rm = ref.drop_path(x, 0.4, mode=mode, scale_by_keep=sbk, seed=seed,
                                      return_mask=True)
                assert_bitwise_equal(y, r, f"{mode} {sbk}")
                assert_mask_equal(m, rm)
                assert m.size == 1
                gb = fd.drop_path_backward(x, 0.4, mode=mode, scale_by_keep=sbk, mask=m)
                assert_bitwise_equal(gb, ref.drop_path_backward(x, 0.4, mode=mode,
                                                                scale_by_keep=sbk, mask=m))
    assert_bitwise_equal(fd.drop_path(x, 0.4, training=False), np.array(x, order="C"))
    assert_bitwise_equal(fd.drop_path(x, 0.4, training=False, scale_by_keep=False),
                         np.array(x, order="C"))
    y = fd.drop_path(normal((64, 10)), 0.5, seed=7)
    z = y == 0
    assert np.all(z.all(1) | ~z.any(1)) and 10 < z.all(1).sum() < 54


def test_drop_path_rates():
    assert fd.drop_path_rates(4, 0.2) == [0.05, 0.1, 0.15000000000000002, 0.2]
    assert fd.drop_path_rates(0, 0.3) == []
    r = fd.drop_path_rates(12, 0.1)
    assert r[-1] == 0.1 and all(a < b for a, b in zip(r, r[1:]))


# --------------------------------------------------------------------------------------------
# Alpha dropout
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lay", LAYS)
def test_alpha_dropout_matches_reference(isa, dtype, lay):
    for shape in ((3, 5, 7), (1000,), (0, 3), ()):
        x = arr(shape, dtype, lay, 3)
        for p, off in ((0.2, 0), (0.5, 3), (0.0, 0), (1.0, 1), (0.999, 2)):
            y, m = fd.alpha_dropout(x, p, seed=21, offset=off, return_mask=True)
            r, rm = ref.alpha_dropout(x, p, seed=21, offset=off, return_mask=True)
            assert_bitwise_equal(y, r, f"{shape} p={p}")
            assert_mask_equal(m, rm)
            if 0 < p < 1:  # the core contract's mask
                assert_mask_equal(m, fd.dropout_mask(shape, p, seed=21, offset=off))
            g = arr(shape, dtype, "C", 4)
            for kw in (dict(mask=m), dict(seed=21, offset=off)):
                assert_bitwise_equal(fd.alpha_dropout_backward(g, p, **kw),
                                     ref.alpha_dropout_backward(g, p, **kw))
        x4 = arr((3, 4, 5, 6), dtype, lay, 5)
        for fmt in ("channels_first", "channels_last"):
            y, m = fd.feature_alpha_dropout(x4, 0.3, data_format=fmt, seed=2, return_mask=True)
            r, rm = ref.feature_alpha_dropout(x4, 0.3, data_format=fmt, seed=2,
                                              return_mask=True)
            assert_bitwise_equal(y, r, fmt)
            assert_mask_equal(m, rm)
            assert_bitwise_equal(
                fd.feature_alpha_dropout_backward(x4, 0.3, data_format=fmt, seed=2),
                ref.feature_alpha_dropout_backward(x4, 0.3, data_format=fmt, seed=2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_dropout_fused_kernel_over_tiles_and_chunks(isa, dtype, restore_threads):
    """The fused affine kernels over many 64-element groups: several tiles and parallel chunks,
    every Philox run offset (offset % 4), a ragged end, with and without the packed mask."""
    x = arr((5, 30011), dtype, "C", 8)
    for threads in (1, 2):
        fd.set_num_threads(threads)
        for off in (0, 1, 2, 3, 4097):
            y, m = fd.alpha_dropout(x, 0.3, seed=9, offset=off, return_mask=True)
            r, rm = ref.alpha_dropout(x, 0.3, seed=9, offset=off, return_mask=True)
            assert_bitwise_equal(y, r, f"threads={threads} offset={off}")
            assert_mask_equal(m, rm)
            assert_bitwise_equal(fd.alpha_dropout(x, 0.3, seed=9, offset=off), r)
            xs = x[:, ::2]  # strided: the fused kernel on gathered tiles
            assert_bitwise_equal(fd.alpha_dropout(xs, 0.3, seed=9, offset=off),
                                 ref.alpha_dropout(xs, 0.3, seed=9, offset=off))


@pytest.mark.parametrize("p", (0.1, 0.5))
def test_alpha_dropout_keeps_mean_and_variance(p):
    x = normal(1 << 20, np.float64, 1)
    for y in (fd.alpha_dropout(x, p, seed=1),
              fd.feature_alpha_dropout(x.reshape(4096, 256, 1), p, seed=1)):
        assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02
    y = fd.alpha_dropout(x, p, seed=1)
    dropped = ~unpack(fd.dropout_mask(x.shape, p, seed=1), x.shape)
    a, b, d = ref.alpha_constants(p)
    assert np.all(y[dropped] == d) and abs(d - a * ref.ALPHA_PRIME - b) < 1e-15
    assert abs(dropped.mean() - p) < 0.005


def test_alpha_dropout_agrees_with_pytorch_formula():
    torch = pytest.importorskip("torch")
    x = normal((64, 300), np.float64, 2)
    p = 0.3
    y, m = fd.alpha_dropout(x, p, seed=5, return_mask=True)
    keep = torch.from_numpy(unpack(m, x.shape).astype(np.float64))
    alpha = 1.7580993408473766  # PyTorch's _dropout_impl, with our mask as its noise
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    b = keep.add(-1).mul_(alpha * a).add_(alpha * a * p)
    want = torch.from_numpy(x) * keep.mul(a) + b
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------------------
# Gaussian dropout
# --------------------------------------------------------------------------------------------
def test_normals_match_reference(isa):
    for n, off in ((1, 0), (2, 1), (7, 3), (17, 15), (33, 31), (4097, 5), (100003, 2**40 + 1),
                   (6, 2**64 - 6), (40, 2**64 - 40)):
        for th in (1, 2):
            z = _core.gaussian_normals(n, 0x243F6A8885A308D3, off, th)
            assert z.dtype == np.float32
            assert_bitwise_equal(z, ref.standard_normals(n, 0x243F6A8885A308D3, off), f"{n} {off}")
    # a window of a longer draw is the same as drawing the window (pure function of index)
    z = ref.standard_normals(40, 1, 0)
    assert_bitwise_equal(ref.standard_normals(13, 1, 7), z[7:20])


def exact_box_muller(w):
    """float64 Box-Muller of contract words (32k + i, 32k + 16 + i pairs (U, A)) with the
    contract's angle: theta = (A >> 30) * pi/2 + pi/4 * t, t = (A << 2 as int32) * 2^-31."""
    w = w.astype(np.uint32).reshape(-1, 2, 16)
    u, a = w[:, 0], w[:, 1]
    r = np.sqrt(-2.0 * np.log((u.astype(np.float64) + 1) * 2.0**-32))
    t = (a << np.uint32(2)).view(np.int32).astype(np.float64) * 2.0**-31
    theta = (a >> np.uint32(30)).astype(np.float64) * (math.pi / 2) + t * (math.pi / 4)
    z = np.empty(w.shape)
    z[:, 0], z[:, 1] = r * np.cos(theta), r * np.sin(theta)
    return z.reshape(-1)


def test_normal_transform_pieces():
    f32 = np.float32
    f = np.linspace(math.sqrt(0.5) - 1, math.sqrt(2) - 1, 200001).astype(f32)
    f = f[f != 0]
    lg = ref.contract_log1p(f)
    assert lg.dtype == f32
    assert np.max(np.abs(lg / np.log1p(f.astype(np.float64)) - 1)) < 4e-7
    t = np.linspace(-1, 1, 200001, dtype=f32)
    s, c = ref.contract_sincos(t)
    assert s.dtype == c.dtype == f32
    phi = t.astype(np.float64) * (math.pi / 4)
    assert np.max(np.abs(s - np.sin(phi))) < 1.2e-7 and np.max(np.abs(c - np.cos(phi))) < 1.2e-7
    # -2 log u, u = (U + 1) 2^-32: small relative error from the far tail (U = 0,
    # r = sqrt(64 ln 2)) to u = 1 - 2^-32 (U = 2^32 - 2, r = 2^-15.5: no hole around z = 0)
    edges = np.arange(100000, dtype=np.uint64)
    U = np.concatenate([edges, 2**32 - 1 - edges, 3037000499 + edges - 50000, 2**31 + edges - 50000,
                        np.random.default_rng(2).integers(0, 2**32, 10**6, dtype=np.uint64)])
    U = U.astype(np.uint32)
    r2 = ref.contract_radius2(U)
    assert r2.dtype == f32
    want = -2.0 * np.log((U.astype(np.float64) + 1) * 2.0**-32)
    nz = want > 0
    assert np.all(r2[~nz] == 0) and np.all(r2[nz] > 0)
    assert np.max(np.abs(r2[nz] / want[nz] - 1)) < 5e-7
    assert abs(np.sqrt(ref.contract_radius2(np.uint32(0))) - math.sqrt(64 * math.log(2))) < 5e-7


def test_normals_statistics_and_accuracy():
    n = 1 << 20
    z = _core.gaussian_normals(n, 3, 0, 2)
    assert_bitwise_equal(z, ref.standard_normals(n, 3, 0))
    zd = z.astype(np.float64)
    # within 1e-6 of the exact (float64) Box-Muller transform of the same Philox words
    exact = exact_box_muller(ref.random_words(n, 3, 0, stream=ref.STREAM_GAUSSIAN))
    assert np.max(np.abs(zd - exact)) < 1e-6
    assert abs(zd.mean()) < 3e-3 and abs(zd.var() - 1) < 4e-3
    assert abs((zd**3).mean()) < 0.01 and abs((zd**4).mean() - 3) < 0.03
    assert np.abs(zd).max() <= math.sqrt(64 * math.log(2))
    # Kolmogorov-Smirnov distance to the normal CDF (1% critical value 1.63 / sqrt(n))
    zs = np.sort(zd)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(zs / math.sqrt(2)))
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n), ks
    # no hole at zero: |z| < 1e-3 as often as the density says (2e-3 * n / sqrt(2 pi) = 837)
    near = np.count_nonzero(np.abs(zd) < 1e-3)
    assert abs(near - 2e-3 * n / math.sqrt(2 * math.pi)) < 5 * math.sqrt(837), near
    # the cos and sin halves of a pair (elements 32k + i and 32k + 16 + i) are uncorrelated
    pairs = zd.reshape(-1, 2, 16)
    assert abs(np.corrcoef(pairs[:, 0].ravel(), pairs[:, 1].ravel())[0, 1]) < 5e-3


def test_normals_tail_and_center_accuracy():
    # the far tail (U small: r up to sqrt(64 ln 2)) and the center (U near 2^32: r down to
    # 2^-15.5) against the exact transform of the same words, for random angles
    rng = np.random.default_rng(11)
    k = np.arange(1 << 19, dtype=np.uint64)
    for U in (k, 2**32 - 1 - k):
        w = rng.integers(0, 2**32, (U.size // 16, 2, 16), dtype=np.uint64).astype(np.uint32)
        w[:, 0] = U.reshape(-1, 16).astype(np.uint32)
        w = w.reshape(-1)
        z = ref.contract_normals(w).astype(np.float64)
        exact = exact_box_muller(w)
        assert np.max(np.abs(z - exact)) < 1e-6
        # and relative: no loss of resolution near z = 0 either (a few float32 ulps)
        assert np.max(np.abs(z - exact) / np.maximum(np.abs(exact), 1e-30)) < 1e-6


def test_normals_pin():
    # the transform is part of the contract (docs/contract.md): a change shows up here
    z = ref.standard_normals(1 << 16, 0x0123456789ABCDEF, offset=3)
    digest = hashlib.sha256(z.astype("<f4").tobytes()).hexdigest()
    assert digest == "81031a80cfb84b8e6f807836137c35b9b086fa1e79911bb1b0c74bd2566bd10a"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lay", LAYS)
def test_gaussian_dropout_matches_reference(isa, dtype, lay):
    for shape in ((3, 5, 7), (2100,), (0,), ()):
        x = arr(shape, dtype, lay, 6)
        for p, off in ((0.3, 0), (0.5, 3), (0.0, 1), (0.9, 2**33 + 1)):
            y = fd.gaussian_dropout(x, p, seed=8, offset=off)
            assert_bitwise_equal(y, ref.gaussian_dropout(x, p, seed=8, offset=off), f"{p}")
            g = arr(shape, dtype, "C", 7)
            assert_bitwise_equal(fd.gaussian_dropout_backward(g, p, seed=8, offset=off),
                                 ref.gaussian_dropout_backward(g, p, seed=8, offset=off))
        assert_bitwise_equal(fd.gaussian_dropout(x, 0.5, training=False),
                             np.array(x, order="C"))


def test_gaussian_dropout_statistics():
    x = np.full(1 << 20, 3.0)
    for p in (0.1, 0.5):
        y = fd.gaussian_dropout(x, p, seed=2)
        var = p / (1 - p) * 9.0
        assert abs(y.mean() - 3.0) < 4 * math.sqrt(var / x.size)
        assert abs(y.var() / var - 1) < 0.01
    # the backward multiplies by the same noise: grad of sum(y) is y / x
    xs = normal(5000, np.float64, 3) + 5
    y = fd.gaussian_dropout(xs, 0.2, seed=4, offset=12)
    g = fd.gaussian_dropout_backward(np.ones_like(xs), 0.2, seed=4, offset=12)
    np.testing.assert_allclose(g * xs, y, rtol=1e-15)


# --------------------------------------------------------------------------------------------
# DropBlock
# --------------------------------------------------------------------------------------------
def brute_dropped(shape, p, bs, seed, offset, fmt="channels_first", valid=False, share=False):
    """Independent construction: one explicit clipped block per seed position (seeds from the
    core contract on stream 1), channels-first (N, C or 1, *S)."""
    N, C, S, K, G = ref.dropblock_geometry(shape, bs, fmt, valid)
    Cs = 1 if share else C
    dropped = np.zeros((N, Cs) + S, bool)
    if p == 1:
        return np.ones((N, Cs) + S, bool)
    gamma = min(p * math.prod(S) / math.prod(K) / math.prod(s - k + 1 for s, k in zip(S, K)), 1)
    seeds = ~ref.keep_mask((N, Cs) + G, gamma, seed, offset=offset, stream=1)
    for idx in np.argwhere(seeds):
        n, c, pos = idx[0], idx[1], idx[2:]
        sl = []
        for s_, k, P in zip(pos, K, S):
            lo = s_ if valid else s_ - k // 2
            if valid:
                assert 0 <= lo and lo + k <= P  # the whole block fits
            sl.append(slice(max(lo, 0), min(lo + k, P)))
        dropped[(n, c) + tuple(sl)] = True
    return dropped


DB_CASES = [  # shape (channels first), block_size
    ((2, 3, 9, 11), 3), ((2, 3, 9, 11), 4), ((2, 3, 9, 11), (2, 5)), ((2, 3, 9, 11), 30),
    ((1, 2, 16, 70), 7), ((1, 2, 12, 130), (3, 65)), ((2, 2, 4, 6, 7), 3),
    ((1, 2, 5, 9, 66), (2, 3, 4)), ((2, 2, 8, 8), 1),
    ((2, 3, 56, 56), 7),  # the benchmark's maps: sparse seeds, rows straddling 64-bit words
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropblock_matches_reference(isa, dtype):
    for k, (shape, bs) in enumerate(DB_CASES):
        for fmt in ("channels_first", "channels_last"):
            base = arr(shape, dtype, "C", k)
            x = base if fmt == "channels_first" else np.moveaxis(base, 1, -1)  # a strided view
            for valid, share, scale, p in ((False, False, "count", 0.3), (True, False, "count", 0.5),
                                           (False, True, "expected", 0.2),
                                           (True, True, "count", 0.9)):
                kw = dict(data_format=fmt, valid_only=valid, share_channels=share, scale=scale)
                y, m = fd.dropblock(x, p, bs, seed=k, offset=3, return_mask=True, **kw)
                r, rm = ref.dropblock(x, p, bs, seed=k, offset=3, return_mask=True, **kw)
                assert_bitwise_equal(y, r, f"{shape} {bs} {kw}")
                assert_mask_equal(m, rm, f"{shape} {bs} {kw}")
                g = arr(x.shape, dtype, "F", 50)
                for bkw in (dict(mask=m), dict(seed=k, offset=3)):
                    assert_bitwise_equal(fd.dropblock_backward(g, p, bs, **kw, **bkw),
                                         ref.dropblock_backward(g, p, bs, **kw, **bkw))


@pytest.mark.parametrize("fmt", ("channels_first", "channels_last"))
def test_dropblock_structure(fmt):
    for k, (shape, bs) in enumerate(DB_CASES):
        for valid in (False, True):
            for share in (False, True):
                p = 0.4
                x = np.ones(shape, np.float32)
                if fmt == "channels_last":
                    x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
                _, m = fd.dropblock(x, p, bs, seed=k + 7, data_format=fmt, valid_only=valid,
                                    share_channels=share, return_mask=True)
                keep = unpack(m, x.shape)
                if fmt == "channels_last":
                    keep = np.moveaxis(keep, -1, 1)
                want = brute_dropped(shape, p, bs, k + 7, 0, "channels_first", valid, share)
                assert np.array_equal(~keep, np.broadcast_to(want, keep.shape)), (shape, bs)
                if share:  # the same positions in every channel
                    assert np.all(keep == keep[:, :1])


def test_dropblock_matches_max_pool_formulations():
    """timm's rule is max_pool(seeds, k, stride 1, padding k//2), cropped by one row and column
    at the start for even k (timm >= 1.0.23); the valid-only rule (odd k) is torchvision's
    pad-then-max_pool."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, p = (2, 4, 20, 23), 0.3
    for k in (1, 2, 3, 4, 5, 7):
        N, C, S, K, G = ref.dropblock_geometry(shape, k)
        for valid in (False, True) if k % 2 else (False,):
            G = tuple(s - k + 1 for s in S) if valid else S
            gamma = p * math.prod(S) / k**2 / math.prod(s - k + 1 for s in S)
            seeds = ~ref.keep_mask((N, C) + G, gamma, 5, stream=1)
            t = torch.from_numpy(seeds.astype(np.float32))
            if valid:
                t = F.pad(t, [k // 2] * 4)
            dropped = F.max_pool2d(t, k, stride=1, padding=k // 2).numpy() > 0
            dropped = dropped[..., (k + 1) % 2:, (k + 1) % 2:]
            _, m = fd.dropblock(np.ones(shape, np.float32), p, k, seed=5, valid_only=valid,
                                return_mask=True)
            assert np.array_equal(~unpack(m, shape), dropped), (k, valid)


def test_dropblock_scale_count_and_statistics():
    x = normal((16, 16, 64, 64), np.float32, 4)
    for p, k in ((0.1, 7), (0.2, 5), (0.05, 3)):
        y, m = fd.dropblock(x, p, k, seed=p.hex().__hash__() % 1000, return_mask=True)
        keep = unpack(m, x.shape)
        kept = int(keep.sum())
        assert abs(1 - kept / x.size - p) < 0.02  # fraction dropped near p on large maps
        s = np.float32(x.size / kept)
        assert_bitwise_equal(y, np.where(keep, x * s, np.float32(0)))
        assert fd._core.count_bits(m, x.size) == kept
    # "expected": 1 / (1 - p)
    y, m = fd.dropblock(x, 0.1, 7, seed=1, scale="expected", return_mask=True)
    assert_bitwise_equal(y, np.where(unpack(m, x.shape), x * np.float32(1 / 0.9), np.float32(0)))
    # p = 1 drops everything; p = 0 and inference keep everything
    assert not fd.dropblock(x[:2], 1.0, 3, seed=1).any()
    assert_bitwise_equal(fd.dropblock(x[:2], 0.0, 3, seed=1), x[:2])
    assert_bitwise_equal(fd.dropblock(x[:2], 0.5, 3, training=False), x[:2])
    # blocks larger than the map clip (no division by zero); gamma >= 1 means every position
    y = fd.dropblock(x[:1, :2, :5, :5], 0.5, 99, seed=1)
    assert y.shape == (1, 2, 5, 5)


def test_dropblock_schedule():
    assert fd.dropblock_schedule(0, 100, 0.1) == 0.0
    assert fd.dropblock_schedule(50, 100, 0.1) == 0.05
    assert fd.dropblock_schedule(100, 100, 0.1) == 0.1
    assert fd.dropblock_schedule(500, 100, 0.1) == 0.1
    assert fd.dropblock_schedule(0, 0, 0.1) == 0.1
    assert fd.dropblock_schedule(25, 100, 0.3, start=0.1) == pytest.approx(0.15)
    ps = [fd.dropblock_schedule(s, 1000, 0.25) for s in range(0, 1001, 10)]
    assert all(a <= b for a, b in zip(ps, ps[1:]))


# --------------------------------------------------------------------------------------------
# Threads, SIMD paths, the GIL, generators
# --------------------------------------------------------------------------------------------
def _all_ops(x, x5):
    return {
        "broadcast": lambda: fd.dropout(x, 0.3, seed=1, offset=5, broadcast_axes=(2, 3)),
        "spatial_cl": lambda: fd.spatial_dropout(x, 0.3, seed=1, data_format="channels_last"),
        "locked": lambda: fd.locked_dropout(x, 0.3, seed=1, time_axis=1),
        "drop_path": lambda: fd.drop_path(x, 0.3, seed=1),
        "alpha": lambda: fd.alpha_dropout(x, 0.3, seed=1, offset=3, return_mask=True),
        "feature_alpha": lambda: fd.feature_alpha_dropout(x, 0.3, seed=1),
        "gaussian": lambda: fd.gaussian_dropout(x, 0.3, seed=1, offset=1),
        "gaussian_bwd": lambda: fd.gaussian_dropout_backward(x, 0.3, seed=1, offset=1),
        "dropblock": lambda: fd.dropblock(x, 0.2, 5, seed=1, return_mask=True),
        "dropblock_cl": lambda: fd.dropblock(x, 0.2, (3, 4), seed=1, data_format="channels_last",
                                             share_channels=True, return_mask=True),
        "dropblock_wide": lambda: fd.dropblock(x.reshape(8, 8, 16, 256), 0.3, 9, seed=1,
                                               valid_only=True),
        "dropblock3d": lambda: fd.dropblock(x5, 0.2, 3, seed=1, return_mask=True),
    }


def _flat(res):
    return res if isinstance(res, tuple) else (res,)


def test_thread_count_and_isa_independence(restore_threads):
    x = normal((8, 16, 32, 64), np.float32, 9)  # 262144 elements: above the parallel threshold
    assert x.size > _core.parallel_threshold()
    x5 = normal((4, 8, 8, 32, 33), np.float32, 10)
    previous = fd.get_isa()
    results = {}
    try:
        for isa in fd.supported_isas():
            fd.set_isa(isa)
            for th in (1, 2):
                fd.set_num_threads(th)
                for name, f in _all_ops(x, x5).items():
                    got = _flat(f())
                    if name not in results:
                        results[name] = got
                    for a, b in zip(got, results[name]):
                        check = assert_mask_equal if a.dtype == np.uint8 else assert_bitwise_equal
                        check(a, b, f"{name} isa={isa} threads={th}")
    finally:
        fd.set_isa(previous)
    assert_bitwise_equal(results["dropblock3d"][0],
                         ref.dropblock(x5, 0.2, 3, seed=1))
    assert_bitwise_equal(results["gaussian"][0], ref.gaussian_dropout(x, 0.3, seed=1, offset=1))


def test_python_threads_run_concurrently_and_agree():
    xs = [normal((4, 8, 32, 32), np.float32, i) for i in range(8)]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda a: fd.dropblock(a[1], 0.2, 5, seed=a[0]), enumerate(xs)))
        gg = list(ex.map(lambda a: fd.gaussian_dropout(a[1], 0.2, seed=a[0]), enumerate(xs)))
    for i, x in enumerate(xs):
        assert_bitwise_equal(got[i], ref.dropblock(x, 0.2, 5, seed=i))
        assert_bitwise_equal(gg[i], ref.gaussian_dropout(x, 0.2, seed=i))


def test_generator_draws_the_reduced_or_seed_count():
    x = normal((6, 10, 8, 8))
    g = fd.Generator(5)
    fd.spatial_dropout(x, 0.5, rng=g)
    assert g.offset == 60  # N*C
    fd.drop_path(x, 0.5, rng=g)
    assert g.offset == 68  # + 6 rounded up to 8
    fd.dropblock(x, 0.5, 3, rng=g, valid_only=True)
    assert g.offset == 68 + 6 * 10 * 36
    fd.gaussian_dropout(x, 0.5, rng=g)
    assert g.offset == 68 + 2160 + x.size
    # a generator draw equals the explicit seed/offset it handed out
    g2 = fd.Generator(5)
    s, off = g2.draw(60)
    assert_bitwise_equal(fd.spatial_dropout(x, 0.5, rng=fd.Generator(5)),
                         fd.spatial_dropout(x, 0.5, seed=s, offset=off))


# --------------------------------------------------------------------------------------------
# Errors: clear messages, nothing written
# --------------------------------------------------------------------------------------------
ERRORS = [
    (lambda x, o: fd.dropout(x, 0.5, broadcast_axes=(4,), out=o), ValueError, "out of range"),
    (lambda x, o: fd.dropout(x, 0.5, broadcast_axes=(1, -3), out=o), ValueError, "repeated"),
    (lambda x, o: fd.dropout(x, 0.5, broadcast_axes=1.5, out=o), TypeError, "broadcast_axes"),
    (lambda x, o: fd.dropout(x, 0.5, broadcast_axes="2", out=o), TypeError, "broadcast_axes"),
    (lambda x, o: fd.dropout(x, 0.5, noise_shape=(2, 1), out=o), ValueError, "4 dimensions"),
    (lambda x, o: fd.dropout(x, 0.5, noise_shape=(2, 3, 2, 5), out=o), ValueError, "noise_shape[2]"),
    (lambda x, o: fd.dropout(x, 0.5, noise_shape=(2, 3, 1, 1), broadcast_axes=(2,), out=o),
     ValueError, "not both"),
    (lambda x, o: fd.dropout_backward(x, 0.5, broadcast_axes=(2, 3), out=o), ValueError, "mask"),
    (lambda x, o: fd.dropout_backward(x, 0.5, broadcast_axes=(2, 3),
                                      mask=np.zeros(5, np.uint8), out=o), ValueError, "bytes"),
    (lambda x, o: fd.spatial_dropout(x[0, 0], 0.5), ValueError, "3, 4 or 5-D"),
    (lambda x, o: fd.spatial_dropout(x, 0.5, data_format="NCHW", out=o), ValueError,
     "channels_first"),
    (lambda x, o: fd.locked_dropout(x, 0.5, time_axis=7, out=o), ValueError, "time_axis"),
    (lambda x, o: fd.drop_path(x, 0.5, mode="sample", out=o), ValueError, "'row', 'batch'"),
    (lambda x, o: fd.drop_path(np.float32(1.0), 0.5), ValueError, "batch axis"),
    (lambda x, o: fd.dropblock(x[0], 0.5, 3), ValueError, "4 or 5-D"),
    (lambda x, o: fd.dropblock(x, 0.5, 0, out=o), ValueError, "positive"),
    (lambda x, o: fd.dropblock(x, 0.5, (3, 3, 3), out=o), ValueError, "2 spatial"),
    (lambda x, o: fd.dropblock(x, 0.5, 2.5, out=o), TypeError, "block_size"),
    (lambda x, o: fd.dropblock(x, 0.5, 3, scale="mean", out=o), ValueError, "scale"),
    (lambda x, o: fd.dropblock(x, 0.5, 3, data_format="nhwc", out=o), ValueError, "data_format"),
    (lambda x, o: fd.dropblock(x, 1.5, 3, out=o), ValueError, "[0, 1]"),
    (lambda x, o: fd.dropblock_backward(x, 0.5, 3, out=o), ValueError, "seed"),
    (lambda x, o: fd.feature_alpha_dropout(x[0, 0, 0], 0.5), ValueError, "2-D"),
    (lambda x, o: fd.gaussian_dropout(x, 1.0, out=o), ValueError, "[0, 1)"),
    (lambda x, o: fd.gaussian_dropout_backward(x, 0.5, out=o), ValueError, "seed"),
    (lambda x, o: fd.alpha_dropout_backward(x, 0.5, mask=np.zeros(3, np.uint8), out=o),
     ValueError, "bytes"),
    (lambda x, o: fd.alpha_dropout(x.astype(np.int32), 0.5), TypeError, "dtype"),
    (lambda x, o: fd.drop_path_rates(-1, 0.1), ValueError, "depth"),
    (lambda x, o: fd.dropblock_schedule(1, 10, 2.0), ValueError, "p_final"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_bad_arguments_raise_clear_errors_before_writing(k, restore_default_generator):
    f, exc, text = ERRORS[k]
    x = normal((2, 3, 4, 5))
    o = np.full_like(x, 7.25)
    state = fd.default_generator().get_state()
    with pytest.raises(exc) as info:
        f(x, o)
    assert text in str(info.value), str(info.value)
    assert np.all(o == 7.25)  # nothing written
    assert fd.default_generator().get_state() == state  # nothing drawn


def test_out_and_in_place_for_every_kind():
    x = normal((4, 6, 10, 12), np.float32, 11)
    cases = {
        "spatial": (lambda **k: fd.spatial_dropout(x, 0.3, seed=2, **k),
                    lambda a: ref.spatial_dropout(a, 0.3, seed=2)),
        "alpha": (lambda **k: fd.alpha_dropout(x, 0.3, seed=2, **k),
                  lambda a: ref.alpha_dropout(a, 0.3, seed=2)),
        "feature_alpha": (lambda **k: fd.feature_alpha_dropout(x, 0.3, seed=2, **k),
                          lambda a: ref.feature_alpha_dropout(a, 0.3, seed=2)),
        "gaussian": (lambda **k: fd.gaussian_dropout(x, 0.3, seed=2, **k),
                     lambda a: ref.gaussian_dropout(a, 0.3, seed=2)),
        "dropblock": (lambda **k: fd.dropblock(x, 0.3, 3, seed=2, **k),
                      lambda a: ref.dropblock(a, 0.3, 3, seed=2)),
    }
    for name, (f, r) in cases.items():
        want = r(x)
        o = np.full((4, 6, 10, 36), 7.25, np.float32)[..., ::3]
        assert f(out=o) is o
        assert_bitwise_equal(o, want, name)
        xx = x.copy()
        got = {"spatial": lambda: fd.spatial_dropout(xx, 0.3, seed=2, out=xx),
               "alpha": lambda: fd.alpha_dropout(xx, 0.3, seed=2, out=xx),
               "feature_alpha": lambda: fd.feature_alpha_dropout(xx, 0.3, seed=2, out=xx),
               "gaussian": lambda: fd.gaussian_dropout(xx, 0.3, seed=2, out=xx),
               "dropblock": lambda: fd.dropblock(xx, 0.3, 3, seed=2, out=xx)}[name]()
        assert got is xx
        assert_bitwise_equal(xx, want, f"{name} in place")


def test_empty_arrays_at_the_end_of_the_index_space():
    e = np.zeros((0, 3, 4, 5), np.float32)
    end = 2**64
    for f in (lambda: fd.dropout(e, 0.5, seed=1, offset=end, broadcast_axes=(2, 3)),
              lambda: fd.spatial_dropout(e, 0.5, seed=1, offset=end),
              lambda: fd.alpha_dropout(e, 0.5, seed=1, offset=end),
              lambda: fd.alpha_dropout_backward(e, 0.5, seed=1, offset=end),
              lambda: fd.gaussian_dropout(e, 0.5, seed=1, offset=end),
              lambda: fd.gaussian_dropout_backward(e, 0.5, seed=1, offset=end),
              lambda: fd.dropblock(e, 0.5, 3, seed=1, offset=end),
              lambda: fd.dropblock_backward(e, 0.5, 3, seed=1, offset=end)):
        assert f().shape == e.shape
    with pytest.raises(ValueError, match="2\\*\\*64"):
        fd.spatial_dropout(np.zeros((2, 3, 4)), 0.5, seed=1, offset=end - 5)
