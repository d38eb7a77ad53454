"""Forward dropout: fastdrop against the roofline, fastdrop.reference, the NumPy idiom, PyTorch
``F.dropout`` / ``torch.native_dropout`` and numba ``prange`` kernels.

One pytest-benchmark group per (operation, dtype, size): read each group's table top-down.
"""
import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core, reference
from fastdrop.bench import numpy_idiom

from _bench_util import (
    BASELINE_MAX, DTYPES, P, REFERENCE_MAX, SEED, SIZES, THREADS, assert_bitwise,
    assert_dropout_like, data, expected, group_name, size_id,
)

sizes = pytest.mark.parametrize("n", SIZES, ids=size_id)
dtypes = pytest.mark.parametrize("dtype", DTYPES)
nthreads = pytest.mark.parametrize("t", THREADS, ids=lambda t: f"{t}thr")


def _info(benchmark, impl, dtype, n, t=1, **extra):
    benchmark.extra_info.update(impl=impl, dtype=dtype, size=n, threads=t, p=P, **extra)


# --------------------------------------------------------------------------------- forward
@nthreads
@dtypes
@sizes
def test_fastdrop(benchmark, threads, n, dtype, t):
    """fd.dropout(x, p, seed=s, out=y): the fused kernel, output preallocated like the roofline."""
    threads(t)
    x, want = data(dtype, n), expected("forward", dtype, n)
    y = np.empty_like(x)
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "fastdrop", dtype, n, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout(x, P, seed=SEED, out=y), want)
    y.fill(0)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED, out=y), want)


@nthreads
@dtypes
@sizes
def test_fastdrop_alloc(benchmark, threads, n, dtype, t):
    """fd.dropout(x, p, seed=s): as users call it, allocating y (compare with torch, NumPy)."""
    threads(t)
    x, want = data(dtype, n), expected("forward", dtype, n)
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "fastdrop (allocating)", dtype, n, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout(x, P, seed=SEED), want)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED), want)


@nthreads
@dtypes
@sizes
def test_roofline(benchmark, n, dtype, t):
    """The roofline: y = x * s over the same arrays with the same threads and split."""
    x = data(dtype, n)
    y = np.empty_like(x)
    s = float(reference.scale_for(P, dtype))
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "roofline scaled_copy", dtype, n, t)
    benchmark(_core.scaled_copy, x, y, s, t)
    want = (x.astype(reference.compute_dtype(dtype)) * reference.scale_for(P, dtype)).astype(dtype)
    assert_bitwise(y, want, "scaled_copy")


@dtypes
@sizes
def test_reference(benchmark, n, dtype):
    """fastdrop.reference.dropout: the pure-NumPy twin (vectorised Philox in uint64)."""
    if n > REFERENCE_MAX:
        pytest.skip(f"reference timed up to {size_id(REFERENCE_MAX)}")
    x = data(dtype, n)
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "fastdrop.reference", dtype, n)
    assert_bitwise(benchmark(reference.dropout, x, P, seed=SEED), expected("forward", dtype, n))


@dtypes
@sizes
def test_numpy_idiom(benchmark, n, dtype):
    """x * (rng.random(x.shape, dtype=x.dtype) >= p) / (1 - p), np.random.default_rng, 1 thread."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    x = data(dtype, n)
    rng = np.random.default_rng(0)
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "numpy idiom (own RNG)", dtype, n)
    assert_dropout_like(benchmark(numpy_idiom, x, P, rng), x)


@nthreads
@dtypes
@sizes
def test_torch(benchmark, torch_threads, n, dtype, t):
    """torch.nn.functional.dropout on CPU (own RNG, allocates its output)."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    torch = torch_threads(t)
    x = data(dtype, n)
    xt = torch.from_numpy(x.copy())
    F = torch.nn.functional
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, f"torch {torch.__version__} F.dropout (own RNG)", dtype, n, t)
    out = benchmark(F.dropout, xt, P, training=True)
    assert_dropout_like(out.numpy(), x)


@nthreads
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@sizes
def test_numba_philox(benchmark, numba_kernels, n, dtype, t):
    """numba prange over Philox4x32-10 blocks with fastdrop's contract: bitwise checked."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    k = numba_kernels(t)
    x, want = data(dtype, n), expected("forward", dtype, n)
    scale, thr = reference.scale_for(P, dtype), reference.threshold(P)

    def run():
        y = np.empty_like(x)
        k["philox"](x, y, SEED, thr, scale)
        return y

    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "numba prange Philox (contract)", dtype, n, t)
    assert_bitwise(run(), want, "numba philox")
    assert_bitwise(benchmark(run), want, "numba philox")


@nthreads
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@sizes
def test_numba_own_rng(benchmark, numba_kernels, n, dtype, t):
    """numba prange with np.random.random() per element (numba's own RNG: not reproducible)."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    k = numba_kernels(t)
    x = data(dtype, n)
    scale = reference.scale_for(P, dtype)

    def run():
        y = np.empty_like(x)
        k["own_rng"](x, y, P, scale)
        return y

    run()  # compile for this dtype outside the timing
    benchmark.group = group_name("forward", dtype, n)
    _info(benchmark, "numba prange np.random (own RNG)", dtype, n, t)
    assert_dropout_like(benchmark(run), x)


# ------------------------------------------------------------------- forward with packed mask
@nthreads
@dtypes
@sizes
def test_fastdrop_with_mask(benchmark, threads, n, dtype, t):
    """fd.dropout(..., return_mask=True): y and the packed mask (1 bit/element) in one pass."""
    threads(t)
    x, want = data(dtype, n), expected("forward_mask", dtype, n)
    y = np.empty_like(x)
    benchmark.group = group_name("forward + packed mask", dtype, n)
    _info(benchmark, "fastdrop", dtype, n, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout(x, P, seed=SEED, out=y, return_mask=True), want)
    y.fill(0)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED, out=y, return_mask=True), want)


@nthreads
@dtypes
@sizes
def test_roofline_with_mask(benchmark, n, dtype, t):
    x = data(dtype, n)
    y = np.empty_like(x)
    benchmark.group = group_name("forward + packed mask", dtype, n)
    _info(benchmark, "roofline scaled_copy", dtype, n, t)
    benchmark(_core.scaled_copy, x, y, float(reference.scale_for(P, dtype)), t)


@dtypes
@sizes
def test_reference_with_mask(benchmark, n, dtype):
    if n > REFERENCE_MAX:
        pytest.skip(f"reference timed up to {size_id(REFERENCE_MAX)}")
    x = data(dtype, n)
    benchmark.group = group_name("forward + packed mask", dtype, n)
    _info(benchmark, "fastdrop.reference", dtype, n)
    out = benchmark(reference.dropout, x, P, seed=SEED, return_mask=True)
    assert_bitwise(out, expected("forward_mask", dtype, n))


@nthreads
@dtypes
@sizes
def test_torch_native_dropout(benchmark, torch_threads, n, dtype, t):
    """torch.native_dropout: output and a bool mask (1 byte/element), what autograd stores."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    torch = torch_threads(t)
    x = data(dtype, n)
    xt = torch.from_numpy(x.copy())
    benchmark.group = group_name("forward + packed mask", dtype, n)
    _info(benchmark, f"torch {torch.__version__} native_dropout (bool mask, own RNG)", dtype, n, t)
    y, mask = benchmark(torch.native_dropout, xt, P, True)
    assert_dropout_like(y.numpy(), x)
