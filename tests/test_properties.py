"""Hypothesis property tests: random shapes, strides, dtypes, p, offsets and seeds, on every
SIMD path, against fastdrop.reference."""
from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastdrop as fd  # noqa: E402
from fastdrop import reference as ref  # noqa: E402

from conftest import DTYPES, PS, TWO32, TWO64, assert_bitwise_equal, assert_mask_equal  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
ISAS = fd.supported_isas()


@st.composite
def strided_arrays(draw):
    """An array of random dtype and shape seen through random steps (negative included),
    possibly transposed, possibly a zero-stride broadcast (then read-only)."""
    dtype = draw(st.sampled_from(DTYPES))
    ndim = draw(st.integers(0, 4))
    big = draw(st.integers(0, ndim - 1)) if ndim else None
    shape = tuple(draw(st.integers(0, 300 if i == big and ndim <= 2 else 7))
                  for i in range(ndim))
    steps = tuple(draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in range(ndim))
    base_shape = tuple(n * abs(s) + draw(st.integers(0, 2)) for n, s in zip(shape, steps))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(over="ignore"):
        base = (rng.standard_normal(base_shape) * 10.0 ** rng.uniform(-6, 5, base_shape))
        base = base.astype(dtype)
    start = tuple(draw(st.integers(0, b - n * abs(s))) if n else 0
                  for n, s, b in zip(shape, steps, base_shape))
    idx = tuple(slice(o, None, s) if s > 0 else slice(b - 1 - o, None, s)
                for o, s, b in zip(start, steps, base_shape))
    x = base[idx][tuple(slice(0, n) for n in shape)]
    assert x.shape == shape, (x.shape, shape, idx)
    if ndim >= 2 and draw(st.booleans()):
        perm = draw(st.permutations(range(ndim)))
        x = x.transpose(perm)
    if x.ndim and x.size and draw(st.integers(0, 9)) == 0:
        x = np.broadcast_to(x[:1], x.shape)
    return x


def offsets(n):
    return st.one_of(
        st.integers(0, 70),
        st.integers(4 * TWO32 - 3 * max(n, 1) - 8, 4 * TWO32 + 8),  # c0 -> c1 carry
        st.integers(max(TWO64 - n - 70, 0), TWO64 - max(n, 1)),  # end of the index space
        st.integers(0, TWO64 - max(n, 1)),
    )


probabilities = st.one_of(
    st.sampled_from(PS),
    st.floats(0.0, 1.0),
    st.integers(0, TWO32).map(lambda k: k / TWO32),  # exactly on a threshold
    st.integers(1, TWO32 - 1).map(lambda k: np.nextafter(k / TWO32, 0.0)),  # just below one
)
seeds = st.one_of(st.integers(0, TWO64 - 1), st.sampled_from([0, 2**32 - 1, 2**32, 2**64 - 1]))


def _on_every_isa(fn):
    previous = fd.get_isa()
    try:
        for isa in ISAS:
            fd.set_isa(isa)
            fn(isa)
    finally:
        fd.set_isa(previous)


@SETTINGS
@given(x=strided_arrays(), data=st.data(), p=probabilities, seed=seeds,
       mode=st.sampled_from(["inverted", "naive"]), training=st.booleans())
def test_forward_equals_reference(x, data, p, seed, mode, training):
    offset = data.draw(offsets(x.size), label="offset")
    yr, mr = ref.dropout(np.array(x, order="C"), p, seed=seed, offset=offset, training=training,
                         mode=mode, return_mask=True)

    def check(isa):
        label = f"{isa} {x.dtype}{x.shape} strides={x.strides}"
        y, m = fd.dropout(x, p, seed=seed, offset=offset, training=training, mode=mode,
                          return_mask=True)
        assert_bitwise_equal(y, yr, label)
        assert_mask_equal(m, mr, label)
        # in place, on a strided (interleaved, reversed) copy
        xi = np.zeros(x.shape + (2,), x.dtype)[..., 1]
        if xi.ndim:
            xi = xi[::-1]
        xi[...] = x
        assert fd.dropout(xi, p, seed=seed, offset=offset, training=training, mode=mode,
                          out=xi) is xi
        assert_bitwise_equal(xi, yr, label + " in place")

    _on_every_isa(check)


@SETTINGS
@given(g=strided_arrays(), data=st.data(), p=probabilities, seed=seeds,
       mode=st.sampled_from(["inverted", "naive"]))
def test_backward_mask_equals_regenerated_equals_reference(g, data, p, seed, mode):
    offset = data.draw(offsets(g.size), label="offset")
    mask = ref.dropout_mask(g.shape, p, seed=seed, offset=offset)
    want = ref.dropout_backward(np.array(g, order="C"), p, seed=seed, offset=offset, mode=mode)

    def check(isa):
        label = f"{isa} {g.dtype}{g.shape} strides={g.strides}"
        _, m = fd.dropout(np.zeros(g.shape, g.dtype), p, seed=seed, offset=offset,
                          return_mask=True)
        assert_mask_equal(m, mask, label + " forward mask")
        assert_mask_equal(fd.dropout_mask(g.shape, p, seed=seed, offset=offset), mask, label)
        a = fd.dropout_backward(g, p, mask=m, mode=mode)
        b = fd.dropout_backward(g, p, seed=seed, offset=offset, mode=mode)
        assert_bitwise_equal(a, want, label + " backward(mask)")
        assert_bitwise_equal(b, want, label + " backward(regenerated)")

    _on_every_isa(check)


@SETTINGS
@given(n=st.integers(0, 5000), cuts=st.lists(st.integers(0, 5000), max_size=6),
       offset=st.integers(0, TWO64 - 5001), seed=seeds, p=probabilities)
def test_sharding_any_cut_points(n, cuts, offset, seed, p):
    bounds = sorted({0, n, *(c for c in cuts if c <= n)})
    whole = fd.dropout_mask(n, p, seed=seed, offset=offset, packed=False)
    parts = [fd.dropout_mask(b - a, p, seed=seed, offset=offset + a, packed=False)
             for a, b in zip(bounds[:-1], bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(parts) if parts else whole[:0], whole)


@SETTINGS
@given(n=st.integers(0, 2000), state_offset=st.integers(0, 10**6), seed=seeds,
       sizes=st.lists(st.integers(0, 100), max_size=8))
def test_generator_sequence(n, state_offset, seed, sizes):
    g = fd.Generator(seed)
    g.set_state({"seed": seed, "offset": state_offset})
    off = state_offset
    for k in sizes:
        assert g.draw(k) == (seed, off)
        off += math.ceil(k / 4) * 4
    assert g.offset == off
