"""Stability pins: the cases shared by tests/test_pins.py and tests/data/make_pins.py.

Each case calls one public fastdrop function on fixed inputs and returns an array or a tuple of
arrays. tests/data/pins.json holds, per output, its dtype, shape and the SHA-256 of its
little-endian bytes, written by make_pins.py from the code as it was (which also checked every
case against ``fastdrop.reference``, or against the reference's whole-array result sliced to the
block for the window forms the reference lacks). test_pins.py recomputes every case on every
SIMD path and 1-3 threads.

A case is a pair of thunks: ``run()`` calls fastdrop, ``ref()`` computes the same result from
the reference. Inputs are built once at import and made read-only, so no case can change
another's input.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import zlib
from typing import Callable

import numpy as np

import fastdrop as fd
from fastdrop import reference as R

from conftest import DTYPES, layout, sha256_le

TWO32 = 1 << 32
THRESHOLD = fd.config()["parallel_threshold"]
# The kernels split work in chunks of THRESHOLD // 2 elements (FD_CHUNK, csrc/strided.h) and go
# parallel from THRESHOLD elements on: above THRESHOLD there are at least three chunks, so 2 and
# 3 threads all get some. Every kernel has a case at least this big (test_pins checks).
SPLIT_MIN = THRESHOLD + 1
BIG = 100_003  # four chunks, odd

# The counter word c0 = (offset + i) div 4 wraps into c1 at global index 4 * 2**32: at element 7
# with WRAP, and just past the 65536-element thread border (2 and 3 threads) with WRAP_BIG.
WRAP = 4 * TWO32 - 7
WRAP_BIG = 4 * TWO32 - (THRESHOLD + 5)
SEEDS = (0x0123456789ABCDEF, 42, (1 << 64) - 1)  # both key words busy, a small one, the largest
SEED = SEEDS[0]


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
def pin_values(shape, dtype, seed=0):
    """Logical (C-order) values built from integer bits only: +-(1 + m) * 2**e with e in
    [-27, 17] (float16 subnormals, float16 overflow once scaled) and +-0.0, +-inf, +-1 at fixed
    places.

    Not conftest.values(): its ``10.0 ** u`` goes through NumPy's SIMD power, whose last bits
    differ between CPUs (AVX-512 or not), and a pin must not depend on the machine. The raw
    PCG64 words are NumPy's stable bit-generator stream.
    """
    shape = tuple(shape)
    n = math.prod(shape)
    ss = np.random.SeedSequence([seed, zlib.crc32(f"{np.dtype(dtype).name}{shape}".encode())])
    raw = np.random.PCG64(ss).random_raw(n).astype(np.uint64)
    sign = raw >> np.uint64(63)
    exp = ((raw >> np.uint64(52)) & np.uint64(0x7FF)) % np.uint64(45) + np.uint64(1023 - 27)
    mant = raw & np.uint64((1 << 52) - 1)
    v = ((sign << np.uint64(63)) | (exp << np.uint64(52)) | mant).view(np.float64)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0])
    k = min(n, len(special))
    if k:
        v[[i * n // k for i in range(k)]] = special[:k]
    with np.errstate(over="ignore"):
        return v.astype(dtype).reshape(shape)


def _frozen(a):
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=None)
def X(shape, dtype, lay="C", seed=0):
    """A read-only input of `shape` and `dtype` in memory layout `lay` (conftest.layout)."""
    return _frozen(layout(pin_values(shape, dtype, seed), lay))


def G(shape, dtype, lay="C"):
    """A gradient: another input of the same shape."""
    return X(shape, dtype, lay, seed=1)


@functools.lru_cache(maxsize=None)
def pin_mask(n, seed=0):
    """A packed mask for n elements from random bytes, the unused high bits of the last byte
    set too (the kernels must ignore them)."""
    raw = np.random.PCG64(np.random.SeedSequence([seed, n, 8])).random_raw((n + 7) // 8)
    return _frozen((raw & np.uint64(0xFF)).astype(np.uint8))


def block(gshape, sl, dtype, lay="C", seed=0):
    """The block `sl` (a tuple of slices) of a global input of `gshape`, in its own memory
    (layout `lay`)."""
    return _block(gshape, tuple((s.start, s.stop) for s in sl), dtype, lay, seed)


@functools.lru_cache(maxsize=None)
def _block(gshape, bounds, dtype, lay, seed):  # (slices are unhashable before Python 3.12)
    sl = tuple(slice(a, b) for a, b in bounds)
    return _frozen(layout(np.ascontiguousarray(pin_values(gshape, dtype, seed)[sl]), lay))


def whole(gshape, dtype, seed=0):
    return X(gshape, dtype, "C", seed)


def _origin(sl):
    return tuple(s.start for s in sl)


def _r4(n):
    """What a Generator draw of n elements advances the offset by."""
    return (n + 3) // 4 * 4


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[], object]  # fastdrop's result: an array or a tuple of arrays
    ref: Callable[[], object]  # the same from fastdrop.reference
    n: int                     # elements the kernel streams (the thread-split check)
    covers: tuple              # the public names (fastdrop.__all__, dotted) the case pins


CASES: dict[str, Case] = {}


def _add(case_id, run, ref, n, covers=None):
    assert case_id not in CASES, case_id
    assert "#" not in case_id  # '#' separates a case id from an output index
    CASES[case_id] = Case(case_id, run, ref, int(n), tuple(covers or (case_id.split("/")[0],)))


def _twin(name, *args, **kw):
    """run / ref calling fastdrop.<name> and fastdrop.reference.<name> with the same arguments."""
    return (lambda: getattr(fd, name)(*args, **kw), lambda: getattr(R, name)(*args, **kw))


def outputs(case_id, result):
    """{output key: array}: the case id, or 'id#i' for the i-th array of a tuple."""
    if isinstance(result, tuple):
        return {f"{case_id}#{i}": np.asarray(a) for i, a in enumerate(result)}
    return {case_id: np.asarray(result)}


def case_of(key):
    return key.split("#")[0]


def pin_record(a):
    """What pins.json holds for one output."""
    return {"dtype": a.dtype.name, "shape": list(a.shape), "sha256": sha256_le(a)}


def _sid(shape):
    return "x".join(map(str, shape))


def _oid(offset):
    return {WRAP: "wrap", WRAP_BIG: "wrapbig"}.get(offset, str(offset))


def _dt(dtype):
    return np.dtype(dtype).name


def _packed(keep):
    return np.packbits(np.ascontiguousarray(keep).ravel(), bitorder="little")


# --- dropout, dropout_mask, dropout_backward (stream 0) --------------------------------------
ELEMENTWISE = (  # shape, p, seed, offset, input layout
    ((7,), 0.5, SEEDS[0], 0, "C"),            # less than a mask byte / SIMD vector
    ((65,), 0.1, SEEDS[1], WRAP, "C"),         # counter wraps at element 7
    ((4097,), 0.9, SEEDS[2], WRAP, "C"),       # two 2048-element tiles and one element
    ((63,), 1.0, SEEDS[0], 0, "C"),            # drops everything (backward scale inf)
    ((64,), 0.0, SEEDS[1], 9, "C"),            # keeps everything
    ((129, 67), 0.5, SEEDS[0], 3, "F"),        # non-contiguous: Fortran order
    ((41, 63), 0.1, SEEDS[1], 5, "step"),      # non-contiguous: every third element
    ((1001,), 0.9, SEEDS[2], 1, "misaligned_bytes"),
    ((BIG,), 0.5, SEEDS[0], WRAP_BIG, "C"),    # threads; wrap just past a thread border
    ((331, 307), 0.9, SEEDS[2], 2, "reversed"),  # threads over a strided input
)

for shape, p, seed, off, lay in ELEMENTWISE:
    n = math.prod(shape)
    tail = f"{_sid(shape)}/p{p}/off{_oid(off)}"
    _add(f"dropout_mask/{tail}", *_twin("dropout_mask", shape, p, seed=seed, offset=off), n)
    _add(f"dropout_mask/{tail}/unpacked",
         *_twin("dropout_mask", shape, p, seed=seed, offset=off, packed=False), n)
    for dt in DTYPES:
        x, g = X(shape, dt, lay), G(shape, dt, lay)
        key = f"{_dt(dt)}/{tail}/{lay}"
        kw = dict(seed=seed, offset=off)
        _add(f"dropout/{key}", *_twin("dropout", x, p, **kw), n)
        _add(f"dropout/{key}/return_mask", *_twin("dropout", x, p, return_mask=True, **kw), n)
        _add(f"dropout/{key}/naive",
             *_twin("dropout", x, p, mode="naive", return_mask=True, **kw), n)
        # p = 1: the forward's all-zero mask (a kept element would be x * inf, NaN at x = 0)
        m = pin_mask(n) if p < 1 else _frozen(np.zeros((n + 7) // 8, np.uint8))
        _add(f"dropout_backward/{key}/mask", *_twin("dropout_backward", g, p, mask=m), n)
        _add(f"dropout_backward/{key}/seed", *_twin("dropout_backward", g, p, **kw), n)
        _add(f"dropout_backward/{key}/seed/naive",
             *_twin("dropout_backward", g, p, mode="naive", **kw), n)


def _in_place(x, p, seed, offset):
    y = x.copy()
    fd.dropout(y, p, seed=seed, offset=offset, out=y)
    return y


for dt in DTYPES:
    x = X((4097,), dt)
    _add(f"dropout/{_dt(dt)}/4097/p0.3/inference/naive",
         *_twin("dropout", x, 0.3, seed=SEED, training=False, mode="naive", return_mask=True),
         x.size)
    _add(f"dropout/{_dt(dt)}/4097/p0.3/off5/in_place", lambda x=x: _in_place(x, 0.3, SEED, 5),
         lambda x=x: R.dropout(x, 0.3, seed=SEED, offset=5), x.size)


# --- broadcast_axes= / noise_shape= forms of dropout and dropout_backward --------------------
BROADCAST = (  # shape, fastdrop keyword, the broadcast axes it means, p, offset, layout
    ((6, 5, 7, 9), dict(broadcast_axes=(2, 3)), (2, 3), 0.5, 0, "C"),
    ((9, 10, 11), dict(noise_shape=(1, None, 11)), (0,), 0.1, WRAP, "C"),
    ((7, 8, 65), dict(broadcast_axes=1), (1,), 0.9, 3, "F"),
    ((96, 7, 129), dict(broadcast_axes=(1,)), (1,), 0.5, 11, "C"),  # threads
)


def _bcast_cases(shape, bkw, axes, p, off, lay, dt):
    x, g = X(shape, dt, lay), G(shape, dt, lay)
    nr = math.prod(R.reduced_shape(shape, axes))
    m = pin_mask(nr)
    form = "noise_shape" if "noise_shape" in bkw else "broadcast_axes"
    key = f"{_dt(dt)}/{_sid(shape)}/{form}{axes}/p{p}/off{_oid(off)}/{lay}".replace(" ", "")
    kw = dict(seed=SEED, offset=off)
    rkw = dict(broadcast_axes=axes, seed=SEED, offset=off)
    _add(f"dropout/{key}", lambda: fd.dropout(x, p, return_mask=True, **kw, **bkw),
         lambda: R.broadcast_dropout(x, p, return_mask=True, **rkw), x.size)
    _add(f"dropout/{key}/naive", lambda: fd.dropout(x, p, mode="naive", **kw, **bkw),
         lambda: R.broadcast_dropout(x, p, mode="naive", **rkw), x.size)
    _add(f"dropout_backward/{key}/mask", lambda: fd.dropout_backward(g, p, mask=m, **bkw),
         lambda: R.broadcast_dropout_backward(g, p, broadcast_axes=axes, mask=m), x.size)
    _add(f"dropout_backward/{key}/seed", lambda: fd.dropout_backward(g, p, **kw, **bkw),
         lambda: R.broadcast_dropout_backward(g, p, **rkw), x.size)


for args in BROADCAST:
    for dt in DTYPES:
        _bcast_cases(*args, dt)


# --- window=(global_shape, origin) of the element-wise kernels ------------------------------
WINDOWS = (  # global shape, block, p, offset, block layout
    ((17, 33), (slice(2, 15), slice(5, 30)), 0.5, 3, "C"),
    ((6, 10, 12), (slice(1, 5), slice(2, 9), slice(3, 11)), 0.1, WRAP, "F"),
    ((300, 311), (slice(3, 290), slice(5, 301)), 0.9, WRAP_BIG, "C"),  # many rows: row-parallel
    ((16000, 7), (slice(0, 15999), slice(1, 6)), 0.5, 1, "C"),        # short rows
    ((3, 70001), (slice(1, 3), slice(7, 70000)), 0.3, 5, "C"),        # two rows, threads in each
)


def _window_cases(gshape, sl, p, off, lay, dt):
    x, g = block(gshape, sl, dt, lay), block(gshape, sl, dt, lay, seed=1)
    win = (gshape, _origin(sl))
    key = f"{_dt(dt)}/{_sid(gshape)}@{_sid(win[1])}/p{p}/off{_oid(off)}/{lay}/window"
    kw = dict(seed=SEED, offset=off, window=win)
    _add(f"dropout/{key}", *_twin("dropout", x, p, return_mask=True, **kw), x.size)
    _add(f"dropout_backward/{key}", *_twin("dropout_backward", g, p, **kw), x.size)
    # with mask= the block's own packed mask decides (the window is only validated)
    m = pin_mask(x.size)
    _add(f"dropout_backward/{key}/mask",
         lambda: fd.dropout_backward(g, p, mask=m, offset=off, window=win),
         lambda: R.dropout_backward(g, p, mask=m), x.size)
    _add(f"alpha_dropout/{key}", *_twin("alpha_dropout", x, p, return_mask=True, **kw), x.size)
    _add(f"alpha_dropout_backward/{key}", *_twin("alpha_dropout_backward", g, p, **kw), x.size)
    _add(f"gaussian_dropout/{key}", *_twin("gaussian_dropout", x, p, **kw), x.size)
    _add(f"gaussian_dropout_backward/{key}", *_twin("gaussian_dropout_backward", g, p, **kw),
         x.size)


for gshape, sl, p, off, lay in WINDOWS:
    shape = tuple(s.stop - s.start for s in sl)
    win = (gshape, _origin(sl))
    tail = f"{_sid(gshape)}@{_sid(win[1])}/p{p}/off{_oid(off)}/window"
    _add(f"dropout_mask/{tail}",
         *_twin("dropout_mask", shape, p, seed=SEED, offset=off, window=win), math.prod(shape))
    _add(f"dropout_mask/{tail}/unpacked",
         *_twin("dropout_mask", shape, p, seed=SEED, offset=off, window=win, packed=False),
         math.prod(shape))
    for dt in DTYPES:
        _window_cases(gshape, sl, p, off, lay, dt)


# Windows the reference has no window= for: the whole array's result, sliced to the block.
BROADCAST_WINDOWS = (  # global shape, block, broadcast axes, p, offset
    ((9, 10, 11), (slice(2, 8), slice(1, 10), slice(0, 11)), (0,), 0.5, WRAP),
    ((40, 6, 7, 9), (slice(3, 37), slice(1, 5), slice(2, 7), slice(0, 9)), (2, 3), 0.3, 4),
)


def _bcast_window_cases(gshape, sl, axes, p, off, dt):
    x, g = block(gshape, sl, dt), block(gshape, sl, dt, seed=1)
    wx, wg = whole(gshape, dt), whole(gshape, dt, seed=1)
    win = (gshape, _origin(sl))
    key = f"{_dt(dt)}/{_sid(gshape)}@{_sid(win[1])}/broadcast_axes{axes}/p{p}/off{_oid(off)}"
    key = key.replace(" ", "") + "/window"
    kw = dict(seed=SEED, offset=off, broadcast_axes=axes, window=win)
    rkw = dict(seed=SEED, offset=off, broadcast_axes=axes)

    def ref_forward():
        y, m = R.broadcast_dropout(wx, p, return_mask=True, **rkw)
        rshape = R.reduced_shape(gshape, axes)
        keep = np.unpackbits(m, count=math.prod(rshape), bitorder="little").reshape(rshape)
        rsl = tuple(slice(0, 1) if d in axes else s for d, s in enumerate(sl))
        return y[sl], _packed(keep[rsl])

    _add(f"dropout/{key}", lambda: fd.dropout(x, p, return_mask=True, **kw), ref_forward,
         x.size)
    _add(f"dropout_backward/{key}", lambda: fd.dropout_backward(g, p, **kw),
         lambda: R.broadcast_dropout_backward(wg, p, **rkw)[sl], x.size)


for args in BROADCAST_WINDOWS:
    for dt in DTYPES:
        _bcast_window_cases(*args, dt)


# --- spatial, locked and embedding dropout (stream 0, reduced masks) -------------------------
SPATIAL = (  # shape, data_format, p, offset, layout
    ((3, 5, 7), "channels_first", 0.5, 0, "C"),
    ((2, 6, 5, 7), "channels_last", 0.1, WRAP, "C"),
    ((2, 3, 4, 5, 6), "channels_first", 0.9, 3, "F"),
    ((8, 16, 24, 25), "channels_first", 0.5, 1, "C"),  # threads
)
LOCKED = (  # shape, time_axis, p, offset, layout
    ((5, 3, 33), 0, 0.5, WRAP, "C"),
    ((3, 7, 65), 1, 0.1, 0, "step"),
    ((40, 16, 129), 0, 0.9, 2, "C"),  # threads
)
EMBEDDING = (  # shape, p, offset, layout
    ((13, 33), 0.5, 0, "C"),
    ((2, 9, 17), 0.1, WRAP, "reversed"),
    ((1025, 80), 0.9, 4, "C"),  # threads
)


def _struct_cases(name, shape, p, off, lay, dt, nr, **fkw):
    """Forward (with its mask) and both backwards of a broadcast-mask function."""
    x, g = X(shape, dt, lay), G(shape, dt, lay)
    extra = "".join(f"/{v}" for v in fkw.values())
    key = f"{_dt(dt)}/{_sid(shape)}{extra}/p{p}/off{_oid(off)}/{lay}"
    kw = dict(seed=SEED, offset=off, **fkw)
    _add(f"{name}/{key}", *_twin(name, x, p, return_mask=True, **kw), x.size)
    _add(f"{name}_backward/{key}/mask", *_twin(f"{name}_backward", g, p, mask=pin_mask(nr),
                                              **fkw), x.size)
    _add(f"{name}_backward/{key}/seed", *_twin(f"{name}_backward", g, p, **kw), x.size)


for dt in DTYPES:
    for shape, df, p, off, lay in SPATIAL:
        nr = math.prod(R.reduced_shape(shape, R.spatial_axes(len(shape), df)))
        _struct_cases("spatial_dropout", shape, p, off, lay, dt, nr, data_format=df)
    for shape, t, p, off, lay in LOCKED:
        _struct_cases("locked_dropout", shape, p, off, lay, dt, math.prod(shape) // shape[t],
                      time_axis=t)
    for shape, p, off, lay in EMBEDDING:
        _struct_cases("embedding_dropout", shape, p, off, lay, dt, math.prod(shape[:-1]))


# --- drop_path (stream 0; one decision per sample or per batch) ------------------------------
DROP_PATH = (  # shape, mode, scale_by_keep, p, offset, layout
    ((9, 5, 7), "row", True, 0.5, WRAP, "C"),
    ((6, 3, 4), "batch", True, 0.1, 0, "C"),
    ((10, 4, 5), "row", False, 0.9, 3, "F"),
    ((16, 70, 71), "row", True, 0.5, 1, "C"),  # threads
)
for dt in DTYPES:
    for shape, mode, sbk, p, off, lay in DROP_PATH:
        nr = shape[0] if mode == "row" else 1
        _struct_cases("drop_path", shape, p, off, lay, dt, nr, mode=mode, scale_by_keep=sbk)

DROP_PATH_WINDOWS = (  # global shape, block, p, offset
    ((12, 5, 7), (slice(2, 11), slice(1, 5), slice(0, 7)), 0.5, WRAP),
    ((32, 50, 70), (slice(3, 30), slice(0, 50), slice(0, 70)), 0.3, 2),  # threads
)


def _drop_path_window_cases(gshape, sl, p, off, dt):
    x, g = block(gshape, sl, dt), block(gshape, sl, dt, seed=1)
    wx, wg = whole(gshape, dt), whole(gshape, dt, seed=1)
    win = (gshape, _origin(sl))
    key = f"{_dt(dt)}/{_sid(gshape)}@{_sid(win[1])}/p{p}/off{_oid(off)}/window"
    _add(f"drop_path/{key}",
         lambda: fd.drop_path(x, p, seed=SEED, offset=off, window=win, return_mask=True),
         lambda: (R.drop_path(wx, p, seed=SEED, offset=off)[sl],
                  _packed(R.dropout_mask((gshape[0],), p, seed=SEED, offset=off,
                                         packed=False)[sl[0]])),
         x.size)
    _add(f"drop_path_backward/{key}",
         lambda: fd.drop_path_backward(g, p, seed=SEED, offset=off, window=win),
         lambda: R.drop_path_backward(wg, p, seed=SEED, offset=off)[sl], x.size)


for args in DROP_PATH_WINDOWS:
    for dt in DTYPES:
        _drop_path_window_cases(*args, dt)


# --- drop_path_rates and dropblock_schedule: plain numbers, pinned as float64 arrays ---------
for depth, p_max in ((12, 0.3), (5, 1.0), (7, 0.1), (0, 0.5)):
    _add(f"drop_path_rates/{depth}/{p_max}",
         lambda depth=depth, p_max=p_max: np.array(fd.drop_path_rates(depth, p_max), np.float64),
         lambda depth=depth, p_max=p_max: np.array([l / depth * p_max
                                                    for l in range(1, depth + 1)], np.float64),
         0)


def _schedule_ref(step, total, p_final, start):
    """The documented ramp: start at step <= 0, p_final from total_steps on, linear between."""
    if total == 0 or step >= total:
        return p_final
    if step <= 0:
        return start
    p = start + (p_final - start) * (step / total)
    return min(max(p, min(start, p_final)), max(start, p_final))


for total, p_final, start in ((10, 0.3, 0.0), (7, 0.1, 0.05), (3, 0.2, 0.4), (0, 0.25, 0.0)):
    steps = range(-2, total + 3)
    _add(f"dropblock_schedule/{total}/{p_final}/{start}",
         lambda steps=steps, a=(total, p_final, start): np.array(
             [fd.dropblock_schedule(s, *a) for s in steps], np.float64),
         lambda steps=steps, a=(total, p_final, start): np.array(
             [_schedule_ref(s, *a) for s in steps], np.float64),
         0)


# --- alpha and feature-alpha dropout (stream 0, affine map) ----------------------------------
ALPHA = (  # shape, p, offset, layout
    ((7,), 0.5, 0, "C"),
    ((4097,), 0.1, WRAP, "C"),
    ((129, 67), 0.9, 3, "F"),
    ((BIG,), 0.5, WRAP_BIG, "C"),  # threads
)
for dt in DTYPES:
    for shape, p, off, lay in ALPHA:
        x, g = X(shape, dt, lay), G(shape, dt, lay)
        key = f"{_dt(dt)}/{_sid(shape)}/p{p}/off{_oid(off)}/{lay}"
        kw = dict(seed=SEED, offset=off)
        _add(f"alpha_dropout/{key}", *_twin("alpha_dropout", x, p, **kw), x.size)
        _add(f"alpha_dropout/{key}/return_mask",
             *_twin("alpha_dropout", x, p, return_mask=True, **kw), x.size)
        _add(f"alpha_dropout_backward/{key}/mask",
             *_twin("alpha_dropout_backward", g, p, mask=pin_mask(x.size)), x.size)
        _add(f"alpha_dropout_backward/{key}/seed",
             *_twin("alpha_dropout_backward", g, p, **kw), x.size)

FEATURE_ALPHA = (  # shape, data_format, p, offset, layout
    ((3, 4, 5, 6), "channels_first", 0.5, 0, "C"),
    ((4, 5, 6, 3), "channels_last", 0.1, WRAP, "C"),
    ((5, 3), "channels_first", 0.9, 3, "C"),
    ((6, 7, 9, 11), "channels_last", 0.5, 2, "step"),
    ((8, 16, 24, 25), "channels_first", 0.3, 1, "C"),  # threads
)
for dt in DTYPES:
    for shape, df, p, off, lay in FEATURE_ALPHA:
        nr = shape[0] * (shape[1] if df == "channels_first" else shape[-1])
        _struct_cases("feature_alpha_dropout", shape, p, off, lay, dt, nr, data_format=df)

FEATURE_ALPHA_WINDOWS = (  # global shape, block, data_format, p, offset
    ((6, 5, 7, 9), (slice(1, 5), slice(1, 4), slice(2, 7), slice(0, 9)), "channels_first", 0.4,
     WRAP),
    ((4, 5, 6, 3), (slice(0, 3), slice(1, 5), slice(0, 6), slice(1, 3)), "channels_last", 0.6, 2),
)
for gshape, sl, df, p, off in FEATURE_ALPHA_WINDOWS:
    win = (gshape, _origin(sl))
    for dt in DTYPES:
        x, g = block(gshape, sl, dt), block(gshape, sl, dt, seed=1)
        key = f"{_dt(dt)}/{_sid(gshape)}@{_sid(win[1])}/{df}/p{p}/off{_oid(off)}/window"
        kw = dict(seed=SEED, offset=off, data_format=df, window=win)
        _add(f"feature_alpha_dropout/{key}",
             *_twin("feature_alpha_dropout", x, p, return_mask=True, **kw), x.size)
        _add(f"feature_alpha_dropout_backward/{key}",
             *_twin("feature_alpha_dropout_backward", g, p, **kw), x.size)


# --- Gaussian dropout (stream 2, float32 Box-Muller normals) ---------------------------------
GAUSSIAN = (  # shape, p, offset, layout
    ((7,), 0.5, 0, "C"),
    ((4097,), 0.1, WRAP, "C"),
    ((129, 67), 0.9, 3, "F"),
    ((41, 63), 0.5, 5, "step"),
    ((BIG,), 0.3, WRAP_BIG, "C"),  # threads
)
for dt in DTYPES:
    for shape, p, off, lay in GAUSSIAN:
        x, g = X(shape, dt, lay), G(shape, dt, lay)
        key = f"{_dt(dt)}/{_sid(shape)}/p{p}/off{_oid(off)}/{lay}"
        kw = dict(seed=SEED, offset=off)
        _add(f"gaussian_dropout/{key}", *_twin("gaussian_dropout", x, p, **kw), x.size)
        _add(f"gaussian_dropout_backward/{key}", *_twin("gaussian_dropout_backward", g, p, **kw),
             x.size)


# --- DropBlock (stream 1 seeds, dilated; "count" scale from an exact popcount) ---------------
DROPBLOCK = (  # shape, block_size, data_format, valid_only, share_channels, scale, p, offset, lay
    ((2, 3, 17, 19), 3, "channels_first", False, False, "count", 0.5, 0, "C"),
    ((2, 13, 11, 3), 4, "channels_last", False, False, "count", 0.1, WRAP, "C"),
    ((2, 3, 7, 9, 8), 3, "channels_first", True, False, "expected", 0.9, 3, "F"),
    ((3, 4, 12, 10), (2, 5), "channels_first", False, True, "count", 0.5, 1, "step"),
    ((4, 8, 45, 47), 5, "channels_first", False, False, "count", 0.3, 2, "C"),  # threads
    ((4, 40, 42, 12), 3, "channels_last", True, True, "expected", 0.2, 7, "C"),  # threads
)
for dt in DTYPES:
    for shape, bs, df, vo, sc, scale, p, off, lay in DROPBLOCK:
        x, g = X(shape, dt, lay), G(shape, dt, lay)
        geo = dict(data_format=df, valid_only=vo, share_channels=sc, scale=scale)
        flags = f"{df}/bs{bs}{'/valid_only' if vo else ''}{'/share' if sc else ''}/{scale}"
        key = f"{_dt(dt)}/{_sid(shape)}/{flags}/p{p}/off{_oid(off)}/{lay}".replace(" ", "")
        kw = dict(seed=SEED, offset=off, **geo)
        _add(f"dropblock/{key}", *_twin("dropblock", x, p, bs, return_mask=True, **kw), x.size)
        _add(f"dropblock_backward/{key}/mask",
             *_twin("dropblock_backward", g, p, bs, mask=pin_mask(x.size), **geo), x.size)
        _add(f"dropblock_backward/{key}/seed", *_twin("dropblock_backward", g, p, bs, **kw),
             x.size)

DROPBLOCK_WINDOWS = (  # global shape, block, block_size, data_format, p, offset
    ((2, 3, 17, 19), (slice(0, 2), slice(1, 3), slice(4, 15), slice(2, 19)), 3,
     "channels_first", 0.5, 3),
    ((2, 13, 11, 3), (slice(1, 2), slice(2, 12), slice(0, 9), slice(0, 3)), 4,
     "channels_last", 0.3, WRAP),
    ((4, 10, 50, 53), (slice(0, 4), slice(1, 10), slice(2, 49), slice(3, 53)), 5,
     "channels_first", 0.3, 1),  # threads
)


@functools.lru_cache(maxsize=None)
def _dropblock_keep(gshape, bs, df, p, off):
    return R.dropblock_keep(gshape, p, bs, seed=SEED, offset=off, data_format=df)


def _dropblock_window_cases(gshape, sl, bs, df, p, off, scale, dt):
    x, g = block(gshape, sl, dt), block(gshape, sl, dt, seed=1)
    wx, wg = whole(gshape, dt), whole(gshape, dt, seed=1)
    win = (gshape, _origin(sl))
    key = f"{_dt(dt)}/{_sid(gshape)}@{_sid(win[1])}/{df}/bs{bs}/{scale}/p{p}/off{_oid(off)}"
    key += "/window"
    kw = dict(seed=SEED, offset=off, data_format=df, scale=scale, window=win)

    def kept():  # the whole array's kept count: what a windowed scale="count" needs
        if scale == "count":
            return int(np.count_nonzero(_dropblock_keep(gshape, bs, df, p, off)))
        return None

    _add(f"dropblock/{key}",
         lambda: fd.dropblock(x, p, bs, return_mask=True, kept_count=kept(), **kw),
         lambda: (R.dropblock(wx, p, bs, seed=SEED, offset=off, data_format=df,
                              scale=scale)[sl],
                  _packed(_dropblock_keep(gshape, bs, df, p, off)[sl])),
         x.size)
    _add(f"dropblock_backward/{key}",
         lambda: fd.dropblock_backward(g, p, bs, kept_count=kept(), **kw),
         lambda: R.dropblock_backward(wg, p, bs, seed=SEED, offset=off, data_format=df,
                                      scale=scale)[sl],
         x.size)
    # with the block's mask: "count" still takes the whole array's kept_count
    _add(f"dropblock_backward/{key}/mask",
         lambda: fd.dropblock_backward(g, p, bs, mask=_packed(_dropblock_keep(gshape, bs, df, p,
                                                                             off)[sl]),
                                       kept_count=kept(), data_format=df, scale=scale,
                                       window=win),
         lambda: R.dropblock_backward(wg, p, bs, seed=SEED, offset=off, data_format=df,
                                      scale=scale)[sl],
         x.size)


for args in DROPBLOCK_WINDOWS:
    for scale in ("count", "expected"):
        for dt in DTYPES:
            _dropblock_window_cases(*args, scale, dt)


# --- Generators: the (seed, offset) sequence of draws ----------------------------------------
def _generator_run(dt):
    x1, x2, x3, x4 = (X((4097,), dt), X((3, 5, 7), dt), X((2, 3, 17, 19), dt), X((65,), dt))
    g = fd.Generator(SEED)
    return (fd.dropout(x1, 0.5, rng=g),
            *fd.spatial_dropout(x2, 0.3, rng=g, return_mask=True),
            fd.dropblock(x3, 0.4, 3, rng=g),
            fd.gaussian_dropout(x4, 0.2, rng=g),
            fd.dropout_mask((13,), 0.5, rng=g),
            np.array([g.offset], np.uint64))


def _generator_ref(dt):
    x1, x2, x3, x4 = (X((4097,), dt), X((3, 5, 7), dt), X((2, 3, 17, 19), dt), X((65,), dt))
    o = np.cumsum([0, _r4(4097), _r4(3 * 5), _r4(2 * 3 * 17 * 19), _r4(65), _r4(13)])
    o = [int(v) for v in o]
    return (R.dropout(x1, 0.5, seed=SEED, offset=o[0]),
            *R.spatial_dropout(x2, 0.3, seed=SEED, offset=o[1], return_mask=True),
            R.dropblock(x3, 0.4, 3, seed=SEED, offset=o[2]),
            R.gaussian_dropout(x4, 0.2, seed=SEED, offset=o[3]),
            R.dropout_mask((13,), 0.5, seed=SEED, offset=o[4]),
            np.array([o[5]], np.uint64))


def _default_generator_run(x):
    """manual_seed, then draws from the default generator (its state is put back)."""
    state = fd.default_generator().get_state()
    try:
        fd.manual_seed(SEEDS[1])
        y = fd.dropout(x, 0.5)
        return y, np.array(fd.default_generator().draw(10), np.uint64)
    finally:
        fd.default_generator().set_state(state)


for dt in DTYPES:
    _add(f"Generator/{_dt(dt)}/draws", lambda dt=dt: _generator_run(dt),
         lambda dt=dt: _generator_ref(dt), 4097)
    x = X((4097,), dt)
    _add(f"manual_seed/{_dt(dt)}/default_generator", lambda x=x: _default_generator_run(x),
         lambda x=x: (R.dropout(x, 0.5, seed=SEEDS[1]),
                      np.array([SEEDS[1], _r4(x.size)], np.uint64)),
         x.size, covers=("manual_seed", "default_generator"))


# --- layers.Dropout and mc_dropout: through the functions, one pin each ----------------------
def _layer_run(x, g, store_mask):
    layer = fd.layers.Dropout(0.3, rng=fd.Generator(SEED), store_mask=store_mask)
    y = layer(x)
    gx = layer.backward(g)
    return y, gx, layer(x)  # the second forward: the generator has moved on


def _layer_ref(x, g):
    return (R.dropout(x, 0.3, seed=SEED), R.dropout_backward(g, 0.3, seed=SEED),
            R.dropout(x, 0.3, seed=SEED, offset=_r4(x.size)))


def _mc_ref(x, passes):
    """Samples from the reference; mean and variance by Welford's update in float64, the
    algorithm mc_dropout documents."""
    samples = np.stack([R.dropout(x, 0.5, seed=SEED, offset=k * _r4(x.size))
                        for k in range(passes)])
    mean = np.zeros(x.shape)
    m2 = np.zeros(x.shape)
    for k, y in enumerate(samples, 1):
        delta = y - mean
        mean = mean + delta / k
        m2 = m2 + delta * (y - mean)
    return mean, m2 / passes, samples


for dt in DTYPES:
    x, g = X((4097,), dt), G((4097,), dt)
    for store_mask in (True, False):
        _add(f"layers.Dropout/{_dt(dt)}/4097/store_mask={store_mask}",
             lambda x=x, g=g, s=store_mask: _layer_run(x, g, s),
             lambda x=x, g=g: _layer_ref(x, g), x.size)
    # small values: an inf sample (float16 overflow once scaled) would make inf - inf = NaN
    xf = _frozen(((np.arange(4097) % 17 - 8) / 4).astype(dt))
    _add(f"mc_dropout/{_dt(dt)}/4097/passes3",
         lambda x=xf: fd.mc_dropout(fd.layers.Dropout(0.5), x, 3, seed=SEED,
                                    return_samples=True),
         lambda x=xf: _mc_ref(x, 3), x.size)
