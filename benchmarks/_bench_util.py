"""Helpers of the benchmark suite (sizes, data, reference outputs, bitwise assertions): the one
place for what only the benchmarks use. Public constants of ``fastdrop.bench`` (the seed, the
structured shapes) are imported from there."""
from __future__ import annotations

import functools
import os

import numpy as np

from fastdrop import _core, reference
from fastdrop.bench import DROPBLOCK_SIZE, SEED, STRUCT_P, STRUCT_SHAPE, fmt_size, parse_size

P = 0.5
DTYPES = ("float32", "float64", "float16")
SIZES = tuple(parse_size(s) for s in
              os.environ.get("FASTDROP_BENCH_SIZES", "2^16,2^20,2^22").split(",") if s.strip())
_MAXT = _core.max_threads() if _core.openmp_enabled() else 1
THREADS = tuple(dict.fromkeys(
    int(t) if t.strip() != "max" else _MAXT
    for t in os.environ.get("FASTDROP_BENCH_THREADS", f"1,{_MAXT}").split(",") if t.strip()))
REFERENCE_MAX = 1 << 22   # the pure-NumPy reference is timed up to here
BASELINE_MAX = 1 << 22    # NumPy idiom, PyTorch, numba up to here


def size_id(n):
    return fmt_size(n)


def group_name(what, dtype, n, extra=""):
    return f"{what} {dtype} {size_id(n)}{extra}"


@functools.lru_cache(maxsize=None)
def data(dtype, n, tag=0):
    """Fixed input data (read-only, so a benchmark cannot change another's input)."""
    x = np.random.default_rng(1000 + n + tag).standard_normal(n, dtype=np.float32).astype(dtype)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=None)
def expected(op, dtype, n):
    """The reference output for ``op`` on ``data(dtype, n)`` with SEED (read-only)."""
    x = data(dtype, n)
    if op == "mask":
        out = reference.dropout_mask(n, P, seed=SEED)
    elif op == "forward_mask":
        y, m = reference.dropout(x, P, seed=SEED, return_mask=True)
        y.setflags(write=False)
        m.setflags(write=False)
        return y, m
    else:  # forward, backward_mask, backward_regen: all where(keep, x*scale, 0)
        out = reference.dropout(x, P, seed=SEED)
    out.setflags(write=False)
    return out


def assert_bitwise(got, want, what="output"):
    """Byte-for-byte equality (so -0.0 vs +0.0 and NaN payloads count)."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert_bitwise(g, w, f"{what}[{i}]")
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if got.tobytes() != want.tobytes():
        g8 = np.ascontiguousarray(got).reshape(-1).view(np.uint8).reshape(got.size, -1)
        w8 = np.ascontiguousarray(want).reshape(-1).view(np.uint8).reshape(want.size, -1)
        bad = np.flatnonzero((g8 != w8).any(axis=1))
        raise AssertionError(f"{what} differs from fastdrop.reference (first differing element near "
                             f"{bad[:5].tolist() if bad.size else '?'})")


def assert_dropout_like(y, x, p=P):
    """Sanity check for implementations with their own RNG (PyTorch, numba's np.random):
    every element is 0 or x/(1-p), and about a fraction 1-p is kept."""
    y = np.asarray(y, dtype=np.float64).ravel()
    x = np.asarray(x, dtype=np.float64).ravel()
    kept = y != 0
    assert np.allclose(y[kept], x[kept] / (1 - p), rtol=2e-3, atol=0)
    frac = kept.mean() if y.size else 1 - p
    assert abs(frac - (1 - p)) < max(0.02, 5 / np.sqrt(max(y.size, 1))), frac


# ---------------------------------------------------------------------------------- structured
STRUCT_SHAPE = tuple(int(v) for v in os.environ.get(
    "FASTDROP_BENCH_STRUCT_SHAPE", "x".join(map(str, STRUCT_SHAPE))).split("x"))
STRUCT_FLAT = parse_size(os.environ.get("FASTDROP_BENCH_STRUCT_FLAT", "2^24"))


@functools.lru_cache(maxsize=None)
def struct_data(kind):
    """float32 input of the structured benchmarks: 'map' (STRUCT_SHAPE) or 'flat' (STRUCT_FLAT)."""
    shape = STRUCT_SHAPE if kind == "map" else (STRUCT_FLAT,)
    x = np.random.default_rng(4).standard_normal(shape, dtype=np.float32)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=None)
def struct_expected(op):
    """fastdrop.reference's output for a structured op on its struct_data with SEED."""
    k = DROPBLOCK_SIZE
    if op in ("alpha_dropout", "gaussian_dropout"):
        x = struct_data("flat")
        out = getattr(reference, op)(x, STRUCT_P, seed=SEED)
    else:
        x = struct_data("map")
        if op == "spatial_dropout":
            out = reference.spatial_dropout(x, STRUCT_P, seed=SEED)
        elif op == "drop_path":
            out = reference.drop_path(x, STRUCT_P, seed=SEED)
        else:
            out = reference.dropblock(x, STRUCT_P, k, seed=SEED, share_channels=op == "dropblock_shared")
    out.setflags(write=False)
    return out
