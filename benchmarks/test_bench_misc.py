"""The mask alone, a transposed input, and the per-call overhead of a small call."""
import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core, reference
from fastdrop.bench import numpy_idiom

from _bench_util import (
    BASELINE_MAX, P, REFERENCE_MAX, SEED, SIZES, THREADS, assert_bitwise, assert_dropout_like,
    data, expected, size_id,
)

sizes = pytest.mark.parametrize("n", SIZES, ids=size_id)
nthreads = pytest.mark.parametrize("t", THREADS, ids=lambda t: f"{t}thr")


def _info(benchmark, impl, n, t=1, **extra):
    benchmark.extra_info.update(impl=impl, size=n, threads=t, p=P, **extra)


# ----------------------------------------------------------------------------- dropout_mask
@nthreads
@sizes
def test_mask_fastdrop(benchmark, threads, n, t):
    """fd.dropout_mask(shape, p, seed=s): the packed keep mask only (Philox-bound)."""
    threads(t)
    want = expected("mask", "float32", n)
    benchmark.group = f"dropout_mask {size_id(n)}"
    _info(benchmark, "fastdrop", n, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout_mask(n, P, seed=SEED), want)
    assert_bitwise(benchmark(fd.dropout_mask, n, P, seed=SEED), want)


@sizes
def test_mask_reference(benchmark, n):
    if n > REFERENCE_MAX:
        pytest.skip(f"reference timed up to {size_id(REFERENCE_MAX)}")
    benchmark.group = f"dropout_mask {size_id(n)}"
    _info(benchmark, "fastdrop.reference", n)
    assert_bitwise(benchmark(reference.dropout_mask, n, P, seed=SEED), expected("mask", "float32", n))


@sizes
def test_mask_numpy(benchmark, n):
    """np.packbits(rng.random(n, dtype=float32) >= p): the NumPy way to a packed mask."""
    if n > BASELINE_MAX:
        pytest.skip(f"baselines timed up to {size_id(BASELINE_MAX)}")
    rng = np.random.default_rng(0)
    benchmark.group = f"dropout_mask {size_id(n)}"
    _info(benchmark, "numpy rng.random + packbits (own RNG)", n)
    out = benchmark(lambda: np.packbits(rng.random(n, dtype=np.float32) >= P, bitorder="little"))
    assert out.shape == ((n + 7) // 8,)


# ------------------------------------------------------------------------------ transposed
SHAPE = (4096, 4096)


@pytest.fixture(scope="module")
def square():
    base = np.random.default_rng(7).standard_normal(SHAPE, dtype=np.float32)
    xt = base.T
    xc = np.ascontiguousarray(xt)
    return xt, xc, reference.dropout(xc, P, seed=SEED)


@nthreads
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_layout(benchmark, threads, square, layout, t):
    """float32 4096x4096 forward: a transposed view (x.T) against the same data contiguous."""
    threads(t)
    xt, xc, want = square
    x = xt if layout == "transposed" else xc
    y = np.empty(SHAPE, np.float32)
    benchmark.group = "forward float32 4096x4096: transposed vs contiguous"
    _info(benchmark, f"fastdrop {layout}", xc.size, t, isa=fd.get_isa())
    assert_bitwise(fd.dropout(x, P, seed=SEED, out=y), want)
    y.fill(0)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED, out=y), want)


@nthreads
def test_layout_roofline(benchmark, square, t):
    _, xc, _ = square
    y = np.empty(SHAPE, np.float32)
    benchmark.group = "forward float32 4096x4096: transposed vs contiguous"
    _info(benchmark, "roofline scaled_copy (contiguous)", xc.size, t)
    benchmark(_core.scaled_copy, xc, y, float(reference.scale_for(P, np.float32)), t)


# ------------------------------------------------------------------------ per-call overhead
N_SMALL = 4096
OVERHEAD = "per-call overhead: 4096 float32"


def test_overhead_fastdrop(benchmark):
    """fd.dropout(x, p): the everyday call (default generator), Python API and kernel."""
    x = data("float32", N_SMALL)
    benchmark.group = OVERHEAD
    _info(benchmark, "fastdrop dropout(x, p)", N_SMALL)
    state = fd.default_generator().get_state()
    first = fd.dropout(x, P)
    assert_bitwise(first, reference.dropout(x, P, seed=state["seed"], offset=state["offset"]))
    benchmark(fd.dropout, x, P)


def test_overhead_fastdrop_seed(benchmark):
    x = data("float32", N_SMALL)
    benchmark.group = OVERHEAD
    _info(benchmark, "fastdrop dropout(x, p, seed=s)", N_SMALL)
    want = expected("forward", "float32", N_SMALL)
    assert_bitwise(fd.dropout(x, P, seed=SEED), want)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED), want)


def test_overhead_fastdrop_out(benchmark):
    x = data("float32", N_SMALL)
    y = np.empty_like(x)
    benchmark.group = OVERHEAD
    _info(benchmark, "fastdrop dropout(x, p, seed=s, out=y)", N_SMALL)
    want = expected("forward", "float32", N_SMALL)
    assert_bitwise(fd.dropout(x, P, seed=SEED, out=y), want)
    assert_bitwise(benchmark(fd.dropout, x, P, seed=SEED, out=y), want)


def test_overhead_roofline(benchmark):
    x = data("float32", N_SMALL)
    y = np.empty_like(x)
    benchmark.group = OVERHEAD
    _info(benchmark, "_core.scaled_copy (no Python API)", N_SMALL)
    benchmark(_core.scaled_copy, x, y, 2.0, 1)


def test_overhead_numpy(benchmark):
    x = data("float32", N_SMALL)
    rng = np.random.default_rng(0)
    benchmark.group = OVERHEAD
    _info(benchmark, "numpy idiom", N_SMALL)
    assert_dropout_like(benchmark(numpy_idiom, x, P, rng), x)


def test_overhead_torch(benchmark, torch_threads):
    torch = torch_threads(1)
    x = data("float32", N_SMALL)
    xt = torch.from_numpy(x.copy())
    benchmark.group = OVERHEAD
    _info(benchmark, f"torch {torch.__version__} F.dropout", N_SMALL)
    assert_dropout_like(benchmark(torch.nn.functional.dropout, xt, P, training=True).numpy(), x)
