"""Structured dropout at the benchmark shapes: spatial_dropout and drop_path on float32
32x64x56x56, DropBlock 2-D (block 7, p 0.1; per channel and share_channels), alpha and Gaussian
dropout on 2^24 elements; each against the roofline (a scaled copy of the same array) and,
for DropBlock, timm's ``drop_block_2d`` (the function behind ``DropBlock2d``) on PyTorch CPU
when importable. Every fastdrop benchmark asserts bitwise equality with ``fastdrop.reference``
before timing and on the timed result.

``FASTDROP_BENCH_STRUCT_SHAPE=8x16x56x56`` and ``FASTDROP_BENCH_STRUCT_FLAT=2^20`` shrink it."""
import numpy as np
import pytest

import fastdrop as fd
from fastdrop import _core, reference

import baselines
from _bench_util import (
    DROPBLOCK_SIZE, SEED, STRUCT_P, THREADS, assert_bitwise, size_id, struct_data, struct_expected,
)

nthreads = pytest.mark.parametrize("t", THREADS, ids=lambda t: f"{t}thr")
K = DROPBLOCK_SIZE
MAP_OPS = ("spatial_dropout", "drop_path", "dropblock", "dropblock_shared")
FLAT_OPS = ("alpha_dropout", "gaussian_dropout")


def _kind(op):
    return "flat" if op in FLAT_OPS else "map"


def _call(op, x, out=None):
    if op == "spatial_dropout":
        return fd.spatial_dropout(x, STRUCT_P, seed=SEED, out=out)
    if op == "drop_path":
        return fd.drop_path(x, STRUCT_P, seed=SEED, out=out)
    if op in ("dropblock", "dropblock_shared"):
        return fd.dropblock(x, STRUCT_P, K, seed=SEED, share_channels=op == "dropblock_shared", out=out)
    return getattr(fd, op)(x, STRUCT_P, seed=SEED, out=out)


def _group(op):
    x = struct_data(_kind(op))
    shape = "x".join(map(str, x.shape)) if x.ndim > 1 else size_id(x.size)
    return f"structured {op} float32 {shape} p={STRUCT_P}"


def _info(benchmark, impl, op, t=1, **extra):
    x = struct_data(_kind(op))
    benchmark.extra_info.update(impl=impl, op=op, shape=list(x.shape), threads=t, p=STRUCT_P, **extra)


@nthreads
@pytest.mark.parametrize("op", MAP_OPS + FLAT_OPS)
def test_structured_fastdrop(benchmark, threads, op, t):
    """fastdrop's structured op writing into a preallocated y (out=), as the roofline does."""
    threads(t)
    x = struct_data(_kind(op))
    want = struct_expected(op)
    y = np.empty_like(x)
    benchmark.group = _group(op)
    _info(benchmark, "fastdrop", op, t, isa=fd.get_isa())
    assert_bitwise(_call(op, x, out=y), want)
    y.fill(0)
    assert_bitwise(benchmark(_call, op, x, y), want)


@nthreads
@pytest.mark.parametrize("op", MAP_OPS + FLAT_OPS)
def test_structured_roofline(benchmark, op, t):
    """The scaled copy y = x * s over the same array and threads."""
    x = struct_data(_kind(op)).reshape(-1)
    y = np.empty_like(x)
    s = float(reference.scale_for(STRUCT_P, np.float32))
    benchmark.group = _group(op)
    _info(benchmark, "roofline (scaled copy)", op, t)
    benchmark(_core.scaled_copy, x, y, s, t)
    assert_bitwise(y, x * reference.scale_for(STRUCT_P, np.float32))


@nthreads
@pytest.mark.parametrize("op", ("dropblock", "dropblock_shared"))
def test_dropblock_fastdrop_allocating(benchmark, threads, op, t):
    """fd.dropblock allocating its output: the like-for-like figure against timm."""
    threads(t)
    x = struct_data("map")
    benchmark.group = _group(op)
    _info(benchmark, "fastdrop (allocates y)", op, t, isa=fd.get_isa())
    assert_bitwise(benchmark(_call, op, x), struct_expected(op))


@nthreads
@pytest.mark.parametrize("op", ("dropblock", "dropblock_shared"))
def test_dropblock_timm(benchmark, torch_threads, op, t):
    """timm's drop_block_2d on torch CPU (own RNG, so only checked for shape and zeros), with
    couple_channels matching share_channels."""
    timm = baselines.timm_drop_block()
    if timm is None:
        pytest.skip("timm (and torch) not importable")
    torch = torch_threads(t)
    xt = torch.from_numpy(np.array(struct_data("map")))
    shared = op == "dropblock_shared"
    benchmark.group = _group(op)
    _info(benchmark, f"timm {timm['version']} drop_block_2d (torch {torch.__version__.split('+')[0]})", op, t)
    y = benchmark(timm["drop_block_2d"], xt, STRUCT_P, K, couple_channels=shared)
    y = y.numpy()
    assert y.shape == xt.shape
    dropped = (y == 0).mean()
    assert 0.0 < dropped < 3 * STRUCT_P, dropped
