"""Tests of the pure-NumPy reference implementation of the mask contract."""

import math
import time
from pathlib import Path

import numpy as np
import pytest

from fastdrop import reference as ref

from conftest import sha256_le

KAT_FILE = Path(__file__).parent / "data" / "philox4x32_10_kat.txt"
TWO32 = 1 << 32
TWO64 = 1 << 64


def load_kat():
    """Parse ``c0 c1 c2 c3 k0 k1 -> o0 o1 o2 o3`` lines (hex)."""
    vectors = []
    for line in KAT_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        lhs, rhs = line.split("->")
        inp = [int(w, 16) for w in lhs.split()]
        out = [int(w, 16) for w in rhs.split()]
        assert len(inp) == 6 and len(out) == 4, line
        vectors.append((inp[:4], inp[4:], out))
    return vectors


KAT = load_kat()


# --------------------------------------------------------------------------
# Philox4x32-10
# --------------------------------------------------------------------------
def test_kat_file_has_random123_vectors():
    assert len(KAT) >= 3
    assert ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]) in KAT


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_kat(counter, key, expected):
    out = ref.philox4x32_10(np.array(counter, dtype=np.uint32), np.array(key, dtype=np.uint32))
    assert out.dtype == np.uint32
    assert out.shape == (4,)
    assert out.tolist() == expected


def test_philox_kat_batched():
    counters = np.array([c for c, _, _ in KAT], dtype=np.uint32)
    keys = np.array([k for _, k, _ in KAT], dtype=np.uint32)
    expected = np.array([o for _, _, o in KAT], dtype=np.uint32)
    np.testing.assert_array_equal(ref.philox4x32_10(counters, keys), expected)
    # extra leading dimensions
    out = ref.philox4x32_10(counters[None, :, :], keys[None, :, :])
    np.testing.assert_array_equal(out, expected[None])


def test_philox_key_broadcast():
    counter, key, expected = KAT[2]
    counters = np.array([counter, [0, 0, 0, 0], counter], dtype=np.uint32)
    out = ref.philox4x32_10(counters, np.array(key, dtype=np.uint32))
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[2], expected)
    np.testing.assert_array_equal(out[1], ref.philox4x32_10([0, 0, 0, 0], key))


# --------------------------------------------------------------------------
# Element numbering
# --------------------------------------------------------------------------
def test_random_words_seed_zero_is_kat_zero():
    # block 0, stream 0, key (0, 0) is the all-zero KAT vector
    np.testing.assert_array_equal(ref.random_words(4, seed=0), KAT[0][2])


def test_random_words_word_selection_and_key_split():
    seed = 0x0123456789ABCDEF
    key = [0x89ABCDEF, 0x01234567]
    for stream in (0, 1, 0xFFFFFFFF):
        for g in [0, 1, 2, 3, 4, 5, 10, 4 * 12345 + 3, 4 * TWO32 + 2, TWO64 - 1]:
            b = g // 4
            block = ref.philox4x32_10([b % TWO32, b >> 32, stream, 0], key)
            w = ref.random_words(1, seed, offset=g, stream=stream)
            assert w.dtype == np.uint32 and w.shape == (1,)
            assert w[0] == block[g % 4], (stream, g)


@pytest.mark.parametrize("offset", range(0, 9))
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31])
def test_random_words_unaligned_offset_is_slice(offset, n):
    seed = 987654321987654321
    big = ref.random_words(64, seed)
    np.testing.assert_array_equal(ref.random_words(n, seed, offset=offset), big[offset : offset + n])


def test_random_words_large_unaligned_offset_is_slice():
    seed, base = 7, 10**15  # base is a multiple of 4
    big = ref.random_words(1000, seed, offset=base)
    for off in (1, 2, 3, 5, 333):
        np.testing.assert_array_equal(
            ref.random_words(500, seed, offset=base + off), big[off : off + 500]
        )


@pytest.mark.parametrize("stream", [0, 3])
def test_counter_carry_across_2_32_blocks(stream):
    seed = 0xDEADBEEFCAFEF00D
    key = [seed % TWO32, seed >> 32]
    offset = 4 * TWO32 - 6  # word 2 of block 2**32 - 2
    words = ref.random_words(12, seed, offset=offset, stream=stream)
    blocks = ref.philox4x32_10(
        np.array(
            [
                [0xFFFFFFFE, 0, stream, 0],
                [0xFFFFFFFF, 0, stream, 0],
                [0x00000000, 1, stream, 0],  # block 2**32: c0 wraps, c1 carries
                [0x00000001, 1, stream, 0],
            ],
            dtype=np.uint32,
        ),
        np.array(key, dtype=np.uint32),
    ).ravel()
    np.testing.assert_array_equal(words, blocks[2:14])


def test_last_block_of_index_space():
    seed = 5
    words = ref.random_words(4, seed, offset=TWO64 - 4)
    block = ref.philox4x32_10([0xFFFFFFFF, 0x3FFFFFFF, 0, 0], [5, 0])
    np.testing.assert_array_equal(words, block)
    with pytest.raises(ValueError):
        ref.random_words(5, seed, offset=TWO64 - 4)


def test_streams_differ():
    a = ref.random_words(64, 1, stream=0)
    b = ref.random_words(64, 1, stream=1)
    assert not np.array_equal(a, b)


def test_random_words_speed():
    t0 = time.perf_counter()
    w = ref.random_words(1 << 20, seed=1, offset=1)
    elapsed = time.perf_counter() - t0
    assert w.shape == (1 << 20,)
    assert elapsed < 1.0


# --------------------------------------------------------------------------
# Thresholds and keep decision
# --------------------------------------------------------------------------
def test_threshold_values():
    assert ref.threshold(0.0) == 0
    assert ref.threshold(0.5) == 1 << 31
    assert ref.threshold(0.25) == 1 << 30
    assert ref.threshold(0.1) == math.floor(0.1 * 2.0**32) == 429496729
    assert ref.threshold(np.nextafter(1.0, 0.0)) == TWO32 - 1
    assert ref.threshold(2.0**-32) == 1
    assert ref.threshold(np.nextafter(2.0**-32, 0.0)) == 0


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_invalid_p(p):
    with pytest.raises(ValueError):
        ref.threshold(p)
    with pytest.raises(ValueError):
        ref.dropout(np.ones(4, np.float32), p, seed=0)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_keep_iff_word_ge_threshold(p):
    seed, offset = 31337, 6
    shape = (7, 13)
    words = ref.random_words(91, seed, offset=offset).astype(np.int64)
    keep = ref.keep_mask(shape, p, seed, offset=offset)
    assert keep.dtype == bool and keep.shape == shape
    np.testing.assert_array_equal(keep.ravel(), words >= ref.threshold(p))


def test_keep_fraction():
    keep = ref.keep_mask(1 << 20, 0.3, seed=99)
    assert abs(keep.mean() - 0.7) < 0.005


def test_p_one_drops_everything_and_p_zero_keeps_everything():
    assert not ref.keep_mask((5, 5), 1.0, seed=1).any()
    assert ref.keep_mask((5, 5), 0.0, seed=1).all()
    x = np.arange(1, 26, dtype=np.float32).reshape(5, 5)
    y, m = ref.dropout(x, 1.0, seed=1, return_mask=True)
    assert np.all(y == 0) and not np.signbit(y).any()
    np.testing.assert_array_equal(m, np.zeros(4, np.uint8))
    np.testing.assert_array_equal(ref.dropout(x, 0.0, seed=1), x)


# --------------------------------------------------------------------------
# Packed mask
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n", list(range(0, 18)) + [1000])
def test_packed_mask_layout(n):
    seed, offset, p = 1234, 3, 0.5
    keep = ref.dropout_mask(n, p, seed=seed, offset=offset, packed=False)
    packed = ref.dropout_mask(n, p, seed=seed, offset=offset)
    assert packed.dtype == np.uint8
    assert packed.shape == ((n + 7) // 8,)
    for i in range(n):  # bit i % 8 of byte i // 8 (little bit order)
        assert bool((packed[i // 8] >> (i % 8)) & 1) == keep[i]
    if n % 8:
        assert packed[-1] >> (n % 8) == 0  # unused high bits are zero
    back = np.unpackbits(packed, count=n, bitorder="little").astype(bool)
    np.testing.assert_array_equal(back, keep)


def test_packed_mask_is_c_order_and_matches_dropout():
    shape = (3, 5, 7)
    x = np.ones(shape, np.float32)
    y, m = ref.dropout(x, 0.4, seed=8, offset=12, return_mask=True)
    keep = ref.dropout_mask(shape, 0.4, seed=8, offset=12, packed=False)
    np.testing.assert_array_equal(m, np.packbits(keep.ravel(), bitorder="little"))
    np.testing.assert_array_equal(m, ref.dropout_mask(shape, 0.4, seed=8, offset=12))
    np.testing.assert_array_equal(y != 0, keep)


def test_return_mask_inference_is_all_ones():
    x = np.ones(13, np.float32)
    for mode in ("inverted", "naive"):
        _, m = ref.dropout(x, 0.5, seed=0, training=False, mode=mode, return_mask=True)
        np.testing.assert_array_equal(m, np.array([0xFF, 0x1F], np.uint8))


# --------------------------------------------------------------------------
# Output values and dtype rules
# --------------------------------------------------------------------------
def test_scale_for_rounding():
    p = 0.3
    s64 = np.float64(1.0) / (np.float64(1.0) - np.float64(p))
    assert ref.scale_for(p, np.float64) == s64 and ref.scale_for(p, np.float64).dtype == np.float64
    assert ref.scale_for(p, np.float32) == np.float32(s64)
    assert ref.scale_for(p, np.float32).dtype == np.float32
    # float16 inputs use a float32 scale, not a float16 one
    assert ref.scale_for(p, np.float16).dtype == np.float32
    assert ref.scale_for(p, np.float16) == np.float32(s64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inverted_values(dtype):
    p, seed, offset = 0.3, 17, 9
    x = np.linspace(-50, 50, 1001).astype(dtype)
    y = ref.dropout(x, p, seed=seed, offset=offset)
    keep = ref.keep_mask(x.shape, p, seed, offset=offset)
    scale = dtype(np.float64(1.0) / (np.float64(1.0) - np.float64(p)))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y[keep], x[keep] * scale)
    assert np.all(y[~keep] == 0)


def test_float16_computed_via_float32():
    p, seed = 0.3, 4
    x = np.linspace(-10, 10, 10001).astype(np.float16)
    y = ref.dropout(x, p, seed=seed)
    keep = ref.keep_mask(x.shape, p, seed)
    assert y.dtype == np.float16
    expected = (x.astype(np.float32) * np.float32(1.0 / (1.0 - p))).astype(np.float16)
    np.testing.assert_array_equal(y[keep], expected[keep])
    assert np.all(y[~keep] == 0)
    # the rule is observable: a float16 scale would give different values
    naive_f16 = x * np.float16(1.0 / (1.0 - p))
    assert np.any(y[keep] != naive_f16[keep])


def test_float16_backward_computed_via_float32():
    p, seed = 0.3, 4
    g = np.linspace(-10, 10, 10001).astype(np.float16)
    gx = ref.dropout_backward(g, p, seed=seed)
    np.testing.assert_array_equal(gx, ref.dropout(g, p, seed=seed))


@pytest.mark.parametrize("dtype", [np.int32, np.complex64, np.bool_, np.longdouble])
def test_unsupported_dtypes(dtype):
    if np.dtype(dtype) == np.float64:  # longdouble may alias float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError):
        ref.dropout(np.zeros(4, dtype), 0.5, seed=0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", ["inverted", "naive"])
def test_select_semantics_nan_inf(dtype, mode):
    p, seed = 0.5, 2024
    n = 256
    specials = np.array([np.nan, np.inf, -np.inf, -1.0, -0.0], dtype)
    x = np.resize(specials, n)
    y = ref.dropout(x, p, seed=seed, mode=mode)
    keep = ref.keep_mask(n, p, seed)
    assert keep.any() and (~keep).any()
    # dropped: exactly +0.0, whatever the input (NaN, inf, negative)
    assert np.all(y[~keep] == 0)
    assert not np.signbit(y[~keep]).any()
    # kept: NaN stays NaN, inf stays inf with its sign
    np.testing.assert_array_equal(np.isnan(y[keep]), np.isnan(x[keep]))
    np.testing.assert_array_equal(np.isposinf(y[keep]), np.isposinf(x[keep]))
    np.testing.assert_array_equal(np.isneginf(y[keep]), np.isneginf(x[keep]))
    # backward has the same select semantics
    g = ref.dropout_backward(x, p, seed=seed, mode=mode)
    assert np.all(g[~keep] == 0) and not np.signbit(g[~keep]).any()


def test_naive_mode():
    p, seed = 0.25, 77
    x = np.linspace(-3, 3, 500).astype(np.float32)
    keep = ref.keep_mask(x.shape, p, seed)
    y = ref.dropout(x, p, seed=seed, mode="naive")
    np.testing.assert_array_equal(y, np.where(keep, x, np.float32(0)))
    yi = ref.dropout(x, p, seed=seed, mode="naive", training=False)
    np.testing.assert_array_equal(yi, x * np.float32(np.float64(1.0) - np.float64(p)))
    x16 = x.astype(np.float16)
    yi16 = ref.dropout(x16, p, seed=seed, mode="naive", training=False)
    assert yi16.dtype == np.float16
    np.testing.assert_array_equal(
        yi16, (x16.astype(np.float32) * np.float32(1.0 - p)).astype(np.float16)
    )


def test_inverted_inference_is_copy():
    x = np.arange(10, dtype=np.float64)
    y = ref.dropout(x, 0.5, seed=0, training=False)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(x, y)


def test_layout_independence():
    p, seed, offset = 0.5, 55, 1
    base = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    expected = ref.dropout(base, p, seed=seed, offset=offset)
    for view in (np.asfortranarray(base), np.ascontiguousarray(base[:, ::-1])[:, ::-1]):
        np.testing.assert_array_equal(view, base)
        y = ref.dropout(view, p, seed=seed, offset=offset)
        assert y.flags.c_contiguous
        np.testing.assert_array_equal(y, expected)
    # strided view: numbering follows the view's C order, not memory
    big = np.arange(12 * 8, dtype=np.float32).reshape(12, 8)
    view = big[::2]
    np.testing.assert_array_equal(
        ref.dropout(view, p, seed=seed, offset=offset),
        ref.dropout(np.ascontiguousarray(view), p, seed=seed, offset=offset),
    )


def test_scalar_and_empty():
    y, m = ref.dropout(np.float32(3.0), 0.0, seed=0, return_mask=True)
    assert y.shape == () and y == 3.0
    np.testing.assert_array_equal(m, [1])
    y, m = ref.dropout(np.zeros((0, 3), np.float32), 0.5, seed=0, return_mask=True)
    assert y.shape == (0, 3) and m.shape == (0,)


# --------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", ["inverted", "naive"])
def test_backward_mask_vs_regenerated(dtype, mode):
    p, seed, offset = 0.35, 2718, 13
    x = np.linspace(-5, 5, 333).astype(dtype).reshape(9, 37)
    y, m = ref.dropout(x, p, seed=seed, offset=offset, mode=mode, return_mask=True)
    g1 = ref.dropout_backward(x, p, mask=m, mode=mode)
    g2 = ref.dropout_backward(x, p, seed=seed, offset=offset, mode=mode)
    assert g1.dtype == dtype and g1.shape == x.shape
    np.testing.assert_array_equal(g1, g2)
    # backward with grad = x reproduces the training forward
    np.testing.assert_array_equal(g1, y)
    keep = ref.keep_mask(x.shape, p, seed, offset=offset)
    if mode == "naive":
        np.testing.assert_array_equal(g1, np.where(keep, x, dtype(0)))


def test_backward_needs_mask_or_seed():
    with pytest.raises(ValueError):
        ref.dropout_backward(np.ones(3, np.float32), 0.5)


# --------------------------------------------------------------------------
# Stability pins (a change needs a version bump and an entry in docs/contract.md "Changes")
# --------------------------------------------------------------------------
def test_pin_random_words():
    w = ref.random_words(1 << 20, seed=0x0123456789ABCDEF, offset=3)
    assert sha256_le(w) == "61166615b57dd2e053947271ff5c45020c789a6422366f7d69b589bd24394261"


def test_pin_dropout():
    y = ref.dropout(np.arange(1000, dtype=np.float32), 0.3, seed=42, offset=5)
    assert sha256_le(y) == "253961ad106ae8616e98e05c0f7362835210e1d4439c69eac7b374adf2cc1769"
