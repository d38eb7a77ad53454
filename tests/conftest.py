"""Shared fixtures and the one array generator of the core suite.

Modelled on bottleneck's test layout: a single generator (:func:`arrays`) yields every
combination of dtype, shape and memory layout the kernels must handle, and the tests run each
of them through both ``fastdrop`` and ``fastdrop.reference`` and compare the bits.

Helpers are imported by the test modules with ``from conftest import ...``.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import os
import zlib

import numpy as np
import pytest

# The suite runs on the built-in plan, whatever this user has tuned (tests/test_tune.py sets
# plans of its own); set before fastdrop is imported, which loads the saved plan.
os.environ["FASTDROP_TUNE_FILE"] = ""

import fastdrop as fd  # noqa: E402

TWO32 = 1 << 32
TWO64 = 1 << 64

DTYPES = (np.float16, np.float32, np.float64)

# Sizes that are not multiples of 4, 8 or 64, 0-d, empty, ones that cross a 2048-element tile,
# and dimensions of length 1 (merged away by the C iterator).
SHAPES = (
    (), (0,), (1,), (7,), (63,), (64,), (65,), (3, 5, 7), (2, 0, 3), (5, 1, 3),
    (2, 3, 4, 5), (1000,), (4097,), (129, 67),
)
SMALL_SHAPES = tuple(s for s in SHAPES if math.prod(s) <= 128)

PS = (0.0, 1e-9, 0.1, 0.5, 0.9, 1.0)
MODES = ("inverted", "naive")

#: Every layout the generator can produce. "broadcast" is read-only (input only).
LAYOUTS = ("C", "F", "permuted", "reversed", "all_reversed", "step", "step_reversed",
           "unaligned_start", "misaligned_bytes", "broadcast")
WRITEABLE_LAYOUTS = tuple(l for l in LAYOUTS if l != "broadcast")


def offsets_for(n):
    """Offsets to try for an array of n elements: small ones not multiples of 4, one that makes
    the block counter cross 2**32 (counter word c0 wraps into c1) and the very end of the
    index space (2**64 - 1 for an empty array: see test_errors.test_empty_at_offset_2_64)."""
    return (0, 1, 2, 3, 5, TWO32 * 4 - 7, TWO64 - max(n, 1))


# --------------------------------------------------------------------------------------------
# Values and layouts
# --------------------------------------------------------------------------------------------
def values(shape, dtype, seed=0):
    """Logical (C-order) values: normal numbers over many magnitudes (float16 subnormals and
    overflow after scaling included), with +-0.0 and +-inf sprinkled in."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{np.dtype(dtype).name}{shape}".encode())])
    n = math.prod(shape)
    mag = 10.0 ** rng.uniform(-9, 5.5, n)
    v = rng.standard_normal(n) * mag
    if n:
        special = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0])
        k = min(n, len(special))
        pos = rng.choice(n, size=k, replace=False)
        v[pos] = special[:k]
    with np.errstate(over="ignore"):
        return v.astype(dtype).reshape(shape)


def layout(v, name):
    """A new array with the logical values of `v` (except "broadcast") in memory layout `name`.

    Every layout but "broadcast" is writeable and owns (or views) fresh memory.
    """
    shape, dtype, nd = v.shape, v.dtype, v.ndim
    if name == "C":
        return np.array(v, order="C")
    if name == "F":
        return np.array(v, order="F")
    if name == "permuted":  # a C array seen through a non-trivial axis permutation
        if nd < 2:
            return np.array(v)
        perm = tuple(range(1, nd)) + (0,)
        inv = tuple(np.argsort(perm))
        return np.ascontiguousarray(v.transpose(perm)).transpose(inv)
    if name == "reversed":  # negative stride on axis 0
        if nd == 0:
            return np.array(v)
        return np.ascontiguousarray(v[::-1])[::-1]
    if name == "all_reversed":  # negative strides everywhere (coalescable)
        if nd == 0:
            return np.array(v)
        idx = (slice(None, None, -1),) * nd
        return np.ascontiguousarray(v[idx])[idx]
    if name in ("step", "step_reversed"):  # x[..., ::3] (and x[..., ::-3]) of a bigger array
        if nd == 0:
            return np.array(v)
        base = np.full(shape[:-1] + (3 * shape[-1],), np.nan, dtype)
        step = 3 if name == "step" else -3
        a = base[..., ::step]
        a[...] = v
        return a
    if name == "unaligned_start":  # contiguous, but starting one element into a buffer
        buf = np.empty(v.size + 1, dtype)
        a = buf[1:].reshape(shape)
        a[...] = v
        return a
    if name == "misaligned_bytes":  # data pointer not a multiple of the itemsize
        buf = np.empty(v.size * v.itemsize + 1, np.uint8)
        a = buf[1:].view(dtype).reshape(shape)
        a[...] = v
        return a
    if name == "broadcast":  # zero strides; read-only
        if nd == 0 or v.size == 0:
            return np.broadcast_to(np.array(v), shape)
        return np.broadcast_to(v[:1], shape)
    raise ValueError(name)


def arrays(dtypes=DTYPES, shapes=SHAPES, layouts=LAYOUTS, seed=0):
    """The one generator: yield ``(label, array)`` for every dtype x shape x layout."""
    for dtype, shape, name in itertools.product(dtypes, shapes, layouts):
        a = layout(values(shape, dtype, seed), name)
        yield f"{np.dtype(dtype).name}{shape}/{name}", a


# --------------------------------------------------------------------------------------------
# Bitwise comparison
# --------------------------------------------------------------------------------------------
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def bits(a):
    """The raw bits of `a` in C order as a 1-d unsigned-integer array (same itemsize)."""
    a = np.asarray(a)
    return np.ascontiguousarray(a).reshape(-1).view(_UINT[a.itemsize])


def assert_bitwise_equal(got, want, msg=""):
    """`got` and `want` have the same dtype, shape and bits (NaN payloads and -0.0 included)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{msg}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{msg}: shape {got.shape} != {want.shape}"
    gb, wb = bits(got), bits(want)
    if not np.array_equal(gb, wb):
        bad = np.flatnonzero(gb != wb)
        i = bad[0]
        raise AssertionError(
            f"{msg}: {bad.size} of {gb.size} elements differ; first at flat index {i}: "
            f"got {got.reshape(-1)[i]!r} (0x{int(gb[i]):x}), "
            f"want {want.reshape(-1)[i]!r} (0x{int(wb[i]):x})"
        )


def sha256_le(a):
    """SHA-256 of an array's bytes in explicit little-endian order (the pins' digest)."""
    return hashlib.sha256(a.astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def assert_mask_equal(got, want, msg=""):
    got = np.asarray(got)
    assert got.dtype == np.uint8, f"{msg}: mask dtype {got.dtype}"
    assert got.ndim == 1, f"{msg}: mask shape {got.shape}"
    if not np.array_equal(got, want):
        bad = np.flatnonzero(got != want)
        raise AssertionError(
            f"{msg}: packed masks differ in {bad.size} of {got.size} bytes; first at byte "
            f"{bad[0]}: got 0x{int(got[bad[0]]):02x}, want 0x{int(want[bad[0]]):02x}"
        )


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(params=fd.supported_isas())
def isa(request):
    """Run the test on every SIMD path this CPU supports; restore the previous one after."""
    previous = fd.get_isa()
    fd.set_isa(request.param)
    assert fd.get_isa() == request.param
    try:
        yield request.param
    finally:
        fd.set_isa(previous)


@pytest.fixture
def restore_threads():
    """Put the thread setting back to the default (follow omp_get_max_threads) afterwards."""
    try:
        yield
    finally:
        fd.set_num_threads(None)


@pytest.fixture
def restore_default_generator():
    state = fd.default_generator().get_state()
    try:
        yield fd.default_generator()
    finally:
        fd.default_generator().set_state(state)


def openmp_disabled_at_build():
    return bool(os.environ.get("FASTDROP_DISABLE_OPENMP"))


# --------------------------------------------------------------------------------------------
# Options of the differential fuzzer (tests/test_fuzz.py)
# --------------------------------------------------------------------------------------------
def pytest_addoption(parser):
    group = parser.getgroup("fastdrop fuzz", "differential fuzzer (tests/test_fuzz.py)")
    group.addoption("--fuzz-cases", type=int, default=None, metavar="N",
                    help="number of fuzz cases (default: env FASTDROP_FUZZ_CASES, else the "
                         "short run's count)")
    group.addoption("--fuzz-seed", type=int, default=None, metavar="S",
                    help="run the cases S*1000000 + i, i < N (default: env "
                         "FASTDROP_FUZZ_SEED, else 0)")
    group.addoption("--fuzz-only", default=None, metavar="SEEDS",
                    help="comma-separated case seeds to rerun (overrides the two above)")
