"""Backward dropout, both kinds: from the packed mask the forward returned, and regenerated from
(seed, offset) with nothing stored. Against the roofline, fastdrop.reference, the NumPy idiom
(a stored bool mask) and PyTorch's ``native_dropout_backward`` (a stored bool mask).
"""
import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core, reference

from _bench_util import (
    BASELINE_MAX, DTYPES, P, REFERENCE_MAX, SEED, SIZES, THREADS, assert_bitwise, data,
    expected, group_name, size_id,
)

sizes = pytest.mark.parametrize("n", SIZES, ids=size_id)
dtypes = pytest.mark.parametrize("dtype", DTYPES)
nthreads = pytest.mark.parametrize("t", THREADS, ids=lambda t: f"{t}thr")
KINDS = {"mask": "backward, packed mask", "regen": "backward, regenerated"}
kinds = pytest.mark.parametrize("kind", list(KINDS))


def _grad(dtype, n):
    return data(dtype, n)  # the gradient: expected("forward") is then the right grad_x too


def _mask(n):
    return expected("mask", "float32", n)  # packed, read-only, reference-made


def _bool_mask(n):
    return np.unpackbits(_mask(n), count=n, bitorder="little").view(np.bool_)


def _info(benchmark, impl, dtype, n, t=1, **extra):
    benchmark.extra_info.update(impl=impl, dtype=dtype, size=n, threads=t, p=P, **extra)


@nthreads
@kinds
@dtypes
@sizes
def test_fastdrop(benchmark, threads, n, dtype, kind, t):
    threads(t)
    g, want = _grad(dtype, n), expected("forward", dtype, n)
    y = np.empty_like(g)
    kw = {"mask": _mask(n)} if kind == "mask" else {"seed": SEED}
    benchmark.group = group_name(KINDS[kind], dtype, n)
    _info(benchmark, "fastdrop", dtype, n, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout_backward(g, P, out=y, **kw), want)
    y.fill(0)
    assert_bitwise(benchmark(fd.dropout_backward, g, P, out=y, **kw), want)


@nthreads
@kinds
@dtypes
@sizes
def test_roofline(benchmark, n, dtype, kind, t):
    g = _grad(dtype, n)
    y = np.empty_like(g)
    benchmark.group = group_name(KINDS[kind], dtype, n)
    _info(benchmark, "roofline scaled_copy", dtype, n, t)
    benchmark(_core.scaled_copy, g, y, float(reference.scale_for(P, dtype)), t)


@kinds
@dtypes
@sizes
def test_reference(benchmark, n, dtype, kind):
    if n > REFERENCE_MAX:
        pytest.skip(f"reference timed up to {size_id(REFERENCE_MAX)}")
    g = _grad(dtype, n)
    kw = {"mask": _mask(n)} if kind == "mask" else {"seed": SEED}
    benchmark.group = group_name(KINDS[kind], dtype, n)
    _info(benchmark, "fastdrop.reference", dtype, n)
    assert_bitwise(benchmark(reference.dropout_backward, g, P, **kw), expected("forward", dtype, n))


@dtypes
@sizes
def test_numpy_idiom(benchmark, n, dtype):
    """grad * keep / (1 - p) with the bool mask the NumPy forward idiom would have kept."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    g, keep = _grad(dtype, n), _bool_mask(n)
    benchmark.group = group_name(KINDS["mask"], dtype, n)
    _info(benchmark, "numpy idiom (stored bool mask)", dtype, n)
    out = benchmark(lambda: g * keep / (1 - P))
    np.testing.assert_allclose(out.astype(np.float64), expected("forward", dtype, n).astype(np.float64),
                               rtol=2e-3)


@nthreads
@dtypes
@sizes
def test_torch(benchmark, torch_threads, n, dtype, t):
    """torch.ops.aten.native_dropout_backward(grad, bool_mask, scale): what autograd runs."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    torch = torch_threads(t)
    g = torch.from_numpy(_grad(dtype, n).copy())
    mask = torch.from_numpy(_bool_mask(n).copy())
    scale = float(1.0 / (1.0 - P))
    benchmark.group = group_name(KINDS["mask"], dtype, n)
    _info(benchmark, f"torch {torch.__version__} native_dropout_backward (bool mask)", dtype, n, t)
    out = benchmark(torch.ops.aten.native_dropout_backward, g, mask, scale)
    np.testing.assert_allclose(out.numpy().astype(np.float64),
                               expected("forward", dtype, n).astype(np.float64), rtol=2e-3)
