"""``python -m fastdrop.bench``: the per-core throughput profile of fastdrop.

Dropout is memory-bound, so every fastdrop kernel is measured against the *roofline*: a plain
scaled copy ``y = x * s`` (``fastdrop._core.scaled_copy``) over the same arrays, with the same
threads and the same per-thread split, timed in the same run. All kernels compared in one table
cell are measured interleaved (round-robin repetitions, the starting kernel rotating, medians), so
drift on a shared machine hits them alike; read the ratios, not the absolute figures.

Every fastdrop output is checked bitwise against :mod:`fastdrop.reference` for the seed it was
timed with (the whole array up to 2^20 elements, above that windows at the start, the end, every
thread's split point and random places: the contract makes a window with ``offset = start``
equal to that part of the whole), so a fast wrong kernel shows up as a failed row, not a fast one.

Examples::

    python -m fastdrop.bench                     # default profile (~1-2 minutes)
    python -m fastdrop.bench --full --markdown   # the README's "Performance" tables
    python -m fastdrop.bench --ops forward,backward_mask --sizes 2^20,2^24 --threads 1,2
    python -m fastdrop.bench --quick --json out.json --plot out.png

The optional comparisons (PyTorch ``F.dropout``, numba ``prange`` kernels) run when importable;
``--no-baselines`` skips them. Nothing here is needed to use fastdrop.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import re
import sys
import time

import numpy as np

import fastdrop as fd
from fastdrop import _config, _core, reference

__all__ = ["main", "run", "render_text", "render_markdown", "numba_kernels", "numpy_idiom"]

OPS = ("forward", "forward_mask", "backward_mask", "backward_regen", "mask")
OP_LABELS = {
    "forward": "forward",
    "forward_mask": "forward + packed mask",
    "backward_mask": "backward, packed mask",
    "backward_regen": "backward, regenerated",
    "mask": "dropout_mask (packed)",
    "roofline": "roofline (scaled copy)",
}
STRUCT_OPS = ("spatial_dropout", "drop_path", "dropblock", "dropblock_shared", "alpha_dropout",
              "gaussian_dropout")
OP_LABELS.update({
    "spatial_dropout": "spatial_dropout (Dropout2d)",
    "drop_path": "drop_path (per sample)",
    "dropblock": "dropblock 2-D, block 7",
    "dropblock_shared": "dropblock 2-D, block 7, share_channels",
    "alpha_dropout": "alpha_dropout",
    "gaussian_dropout": "gaussian_dropout",
})
STRUCT_SHAPE = (32, 64, 56, 56)        # issue 4's feature-map shape (float32)
STRUCT_FLAT = 1 << 24                  # issue 4's size for alpha / Gaussian dropout
QUICK_STRUCT_SHAPE = (2, 8, 28, 28)
QUICK_STRUCT_FLAT = 1 << 16
STRUCT_P = 0.1                         # drop probability of the structured ops (issue 4: DropBlock p 0.1)
DROPBLOCK_SIZE = 7
STRUCT_TARGETS = {"spatial_dropout": "≥ 0.85", "drop_path": "≥ 0.85", "dropblock": "≥ 0.6",
                  "dropblock_shared": "≥ 0.6", "alpha_dropout": "≥ 0.7", "gaussian_dropout": "≥ 0.7"}
DTYPES = ("float32", "float64", "float16")
DEFAULT_SIZES = (1 << 16, 1 << 20, 1 << 24)
FULL_EXTRA_SIZES = (1 << 27,)
QUICK_SIZES = (1 << 12, 1 << 17)
NUMPY_MAX = 1 << 24         # the NumPy idiom is measured up to here (a 2^27 call takes seconds)
BASELINE_MAX = 1 << 24      # PyTorch / numba up to here
FULL_CHECK_MAX = 1 << 20    # whole-array reference check up to here, windows above
CHECK_WINDOW = 1 << 15
SEED = 0x0123456789ABCDEF   # both Philox key words non-zero
P = 0.5

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _log2(n):
    return int(n).bit_length() - 1 if n > 0 and n & (n - 1) == 0 else None


def fmt_size(n):
    k = _log2(n)
    return f"2^{k}" if k is not None and k >= 10 else str(n)


def parse_size(text):
    text = text.strip().replace("**", "^")
    m = re.fullmatch(r"(\d+)\s*\^\s*(\d+)", text)
    if m:
        return int(m.group(1)) ** int(m.group(2))
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use 2^20, 1048576, 1M or 64k")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(m.group(1)) * mult


def _csv(kind, allowed=None, conv=str):
    def parse(text):
        items = [conv(t) for t in text.split(",") if t.strip()]
        if allowed is not None:
            bad = [i for i in items if i not in allowed]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {', '.join(map(str, bad))}; choose from {', '.join(allowed)}")
        if not items:
            raise argparse.ArgumentTypeError(f"no {kind} given")
        return items
    return parse


def _threads_item(text):
    text = text.strip()
    if text == "max":
        return _max_threads()
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad thread count {text!r}: an integer or 'max'")
    if n < 1:
        raise argparse.ArgumentTypeError("thread counts must be >= 1")
    return n


def _max_threads():
    return _core.max_threads() if _core.openmp_enabled() else 1


def _ncores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _cpu_mhz():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def _cpu_busy():
    """(machine-wide busy CPU seconds, this process's CPU seconds), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(v) - v[3] - (v[4] if len(v) > 4 else 0)
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system


def _optional(name):
    """Import an optional module, or None (any import failure counts as 'not installed')."""
    try:
        return __import__(name)
    except Exception:
        return None


def numpy_idiom(x, p, rng):
    """The NumPy idiom: ``x * (rng.random(x.shape, dtype=x.dtype) >= p) / (1 - p)``.

    ``Generator.random`` has no float16, so float16 inputs draw float32 uniforms (the product
    stays float16).
    """
    dt = x.dtype if x.dtype != np.float16 else np.float32
    return x * (rng.random(x.shape, dtype=dt) >= p) / (1 - p)


# ---------------------------------------------------------------------------------------------
# numba comparison kernels (optional)
# ---------------------------------------------------------------------------------------------
_NUMBA = None


def numba_kernels():
    """Compile (once) and return ``{"philox": f, "own_rng": g}`` or None without numba.

    ``philox(x, y, seed, threshold, scale)``: Philox4x32-10 with fastdrop's contract (offset 0,
    stream 0) in a ``prange`` over blocks of 4 elements, so its output is bitwise the reference's.
    ``own_rng(x, y, p, scale)``: the usual numba idiom, ``np.random.random()`` per element in a
    ``prange`` (numba's own per-thread generator: not reproducible, not the contract).
    Both take flat C-contiguous arrays; ``scale`` must already have the compute dtype.
    """
    global _NUMBA
    if _NUMBA is not None:
        return _NUMBA or None
    numba = _optional("numba")
    if numba is None:
        _NUMBA = False
        return None
    from numba import njit, prange

    M0, M1 = np.uint64(reference.PHILOX_M0), np.uint64(reference.PHILOX_M1)
    W0, W1 = np.uint64(reference.PHILOX_W0), np.uint64(reference.PHILOX_W1)
    MASK, S32, ZERO = np.uint64(0xFFFFFFFF), np.uint64(32), np.uint64(0)

    @njit(parallel=True, nogil=True)
    def philox(x, y, seed, threshold, scale):  # pragma: no cover - compiled
        n = x.size
        k0 = np.uint64(seed) & MASK
        k1 = np.uint64(seed) >> S32
        t = np.uint64(threshold)
        zero = x.dtype.type(0)
        for b in prange((n + 3) // 4):
            bb = np.uint64(b)
            c0, c1, c2, c3 = bb & MASK, bb >> S32, ZERO, ZERO
            a0, a1 = k0, k1
            for _ in range(10):
                p0 = M0 * c0
                p1 = M1 * c2
                c0, c1, c2, c3 = (p1 >> S32) ^ c1 ^ a0, p1 & MASK, (p0 >> S32) ^ c3 ^ a1, p0 & MASK
                a0 = (a0 + W0) & MASK
                a1 = (a1 + W1) & MASK
            i = 4 * b
            if i + 3 < n:
                y[i] = x[i] * scale if c0 >= t else zero
                y[i + 1] = x[i + 1] * scale if c1 >= t else zero
                y[i + 2] = x[i + 2] * scale if c2 >= t else zero
                y[i + 3] = x[i + 3] * scale if c3 >= t else zero
            else:
                w = (c0, c1, c2, c3)
                for j in range(n - i):
                    y[i + j] = x[i + j] * scale if w[j] >= t else zero

    @njit(parallel=True, nogil=True)
    def own_rng(x, y, p, scale):  # pragma: no cover - compiled
        zero = x.dtype.type(0)
        for i in prange(x.size):
            y[i] = x[i] * scale if np.random.random() >= p else zero

    _NUMBA = {"philox": philox, "own_rng": own_rng, "module": numba}
    return _NUMBA


# ---------------------------------------------------------------------------------------------
# the timing engine
# ---------------------------------------------------------------------------------------------


class Kernel:
    """One thing to time: ``fn()`` with ``setup()`` (untimed, before each sample)."""

    def __init__(self, key, fn, setup=None, runtime="fastdrop", inner=None):
        self.key, self.fn, self.setup, self.runtime = key, fn, setup, runtime
        self.inner, self.samples = inner, []

    def prepare(self):
        if self.setup is not None:
            self.setup()

    stat = "median"

    def median(self):
        """The figure reported: the median sample (``--stat min``: the fastest)."""
        return float(np.min(self.samples) if Kernel.stat == "min" else np.median(self.samples))

    def stats(self):
        """Extra figures for the JSON: fastest sample and interquartile spread / median."""
        q1, q3 = np.percentile(self.samples, [25, 75])
        return {"seconds_min": float(np.min(self.samples)), "spread": float((q3 - q1) / self.median()),
                "seconds_median": float(np.median(self.samples)),
                "samples": len(self.samples), "calls_per_sample": self.inner}


def measure(kernels, repeat, min_time):
    """Round-robin timing: each repetition times every kernel once (a batch of ``inner`` calls
    so a sample lasts >= ``min_time``), the starting kernel rotating; per-call medians kept."""
    if not kernels:
        return
    for k in kernels:  # warm-up and calibration (fastest of a few calls: robust to a busy machine)
        k.prepare()
        k.fn()
        dt = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            k.fn()
            dt = min(dt, time.perf_counter() - t0)
            if dt > 0.05:
                break
        if k.inner is None:
            k.inner = max(1, int(math.ceil(min_time / max(dt, 1e-7))))
    gc_was = gc.isenabled()
    gc.disable()
    try:
        prev = None
        for r in range(repeat):
            s = r % len(kernels)
            for k in kernels[s:] + kernels[:s]:
                k.prepare()
                if prev is not None and prev != k.runtime:
                    time.sleep(0.002)  # let another runtime's spinning worker threads go idle
                prev = k.runtime
                if k.inner > 1:
                    k.fn()  # wake this kernel's threads and caches
                fn, inner = k.fn, k.inner
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                k.samples.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()


# ---------------------------------------------------------------------------------------------
# bitwise checks against fastdrop.reference
# ---------------------------------------------------------------------------------------------


def _windows(n, threads):
    """[lo, hi) ranges (lo multiple of 8) that the check compares with the reference."""
    if n <= FULL_CHECK_MAX:
        return [(0, n)]
    w = CHECK_WINDOW
    starts = {0, n - w}
    for nt in set(threads) | {2, 3, 4}:
        for t in range(1, nt):
            starts.add(n * t // nt - w // 2)
    rng = np.random.default_rng(n)
    starts.update(int(s) for s in rng.integers(0, n - w, 4))
    out = []
    for s in sorted(starts):
        lo = max(0, min(s, n - w)) // 8 * 8
        out.append((lo, min(n, lo + w + 8)))
    return out


def _same(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_values(xflat, yflat, p, seed, windows, offset=0):
    """y is where(keep, x*scale, 0) for the contract's keep mask (forward and backward alike)."""
    for lo, hi in windows:
        ref = reference.dropout(xflat[lo:hi], p, seed=seed, offset=offset + lo)
        if not _same(yflat[lo:hi], ref):
            return False
    return True


def check_mask(mask, n, p, seed, windows):
    for lo, hi in windows:
        ref = reference.dropout_mask(hi - lo, p, seed=seed, offset=lo)
        got = mask[lo // 8:(hi + 7) // 8]  # lo is a multiple of 8; a short last byte pads with 0
        if not _same(got, ref):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# the profile
# ---------------------------------------------------------------------------------------------


def _bytes_moved(op, n, itemsize):
    mask_bytes = (n + 7) // 8
    return ({o: 2 * n * itemsize for o in STRUCT_OPS} | {
        "forward": 2 * n * itemsize,
        "backward_regen": 2 * n * itemsize,
        "forward_mask": 2 * n * itemsize + mask_bytes,
        "backward_mask": 2 * n * itemsize + mask_bytes,
        "mask": mask_bytes,
        "roofline": 2 * n * itemsize,
        "numpy": 2 * n * itemsize,
    })[op]


class Run:
    """Collects rows while the groups run."""

    def __init__(self, opts):
        self.opts = opts
        self.rows, self.baselines, self.overhead = [], [], []
        self.progress_done, self.progress_total = 0, 0
        self.t_start = time.perf_counter()
        self.cpu_start = _cpu_busy()
        self.tty = sys.stderr.isatty()

    def progress(self, what):
        if self.opts.quiet:
            return
        self.progress_done += 1
        el = time.perf_counter() - self.t_start
        msg = f"[fastdrop.bench] {self.progress_done}/{self.progress_total} {what}  ({el:.0f} s)"
        if self.tty:
            sys.stderr.write("\r\033[K" + msg)
        else:
            sys.stderr.write(msg + "\n")
        sys.stderr.flush()

    def progress_end(self):
        if not self.opts.quiet and self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _threads_used(n, t):
    return 1 if n < _core.parallel_threshold() or not _core.openmp_enabled() else t


def _row(op, dtype, n, t, isa, sec, layout="C", impl="fastdrop", check="bitwise-equal"):
    isz = np.dtype(dtype).itemsize if dtype != "-" else 0
    used = _threads_used(n, t) if impl in ("fastdrop", "roofline") else (1 if impl == "numpy" else t)
    geps = n / sec / 1e9
    return {
        "op": op, "impl": impl, "dtype": dtype, "layout": layout, "size": n, "threads": t,
        "threads_used": used, "isa": isa, "seconds": sec, "gelem_s": geps,
        "gb_s": _bytes_moved(op if impl == "fastdrop" else impl, n, isz if op != "mask" else 0) / sec / 1e9,
        "gelem_s_per_core": geps / used, "roofline_ratio": None, "numpy_ratio": None,
        "check": check,
    }


def _set_threads(t):
    return lambda: fd.set_num_threads(t)


def group_main(run, isa, dtype, n, threads, ops):
    """All ops x threads for one (dtype, size), with the roofline and the NumPy idiom."""
    o = run.opts
    dt = np.dtype(dtype)
    rng = np.random.default_rng(1234)
    x = rng.standard_normal(n, dtype=np.float32).astype(dt)
    y = np.empty_like(x)
    p, seed = o.p, SEED
    scale = float(reference.scale_for(p, dt))
    mask0 = fd.dropout_mask(n, p, seed=seed)
    windows = _windows(n, threads)

    calls = {
        "forward": lambda: fd.dropout(x, p, seed=seed, out=y),
        "forward_mask": lambda: fd.dropout(x, p, seed=seed, out=y, return_mask=True),
        "backward_mask": lambda: fd.dropout_backward(x, p, mask=mask0, out=y),
        "backward_regen": lambda: fd.dropout_backward(x, p, seed=seed, out=y),
        "mask": lambda: fd.dropout_mask(n, p, seed=seed),
    }
    checks = {}
    ok_mask0 = check_mask(mask0, n, p, seed, windows)
    for t in threads:
        fd.set_num_threads(t)
        for op in ops:
            y.fill(np.nan)
            out = calls[op]()
            if op == "mask":
                ok = check_mask(out, n, p, seed, windows)
            else:
                ok = check_values(x, y, p, seed, windows)
                if op == "forward_mask":
                    ok = ok and check_mask(out[1], n, p, seed, windows)
                if op == "backward_mask":
                    ok = ok and ok_mask0
            checks[(op, t)] = ok
        y.fill(np.nan)
        _core.scaled_copy(x, y, scale, t)
        checks[("roofline", t)] = _same(y, (x.astype(reference.compute_dtype(dt)) * reference.scale_for(p, dt)).astype(dt))

    kernels = []
    for t in threads:
        kernels.append(Kernel(("roofline", t), lambda t=t: _core.scaled_copy(x, y, scale, t)))
        for op in ops:
            kernels.append(Kernel((op, t), calls[op], setup=_set_threads(t)))
    want_numpy = o.numpy and n <= o.numpy_max and "forward" in ops
    if want_numpy:
        nrng = np.random.default_rng(99)
        kernels.append(Kernel(("numpy", 1), lambda: numpy_idiom(x, p, nrng), runtime="numpy"))
    measure(kernels, o.repeat, o.min_time)
    med = {k.key: k.median() for k in kernels}
    st = {k.key: k.stats() for k in kernels}

    for t in threads:
        roof = med[("roofline", t)]
        r = _row("roofline", dtype, n, t, isa, roof, impl="roofline",
                 check="ok" if checks[("roofline", t)] else "FAILED")
        r["roofline_ratio"] = 1.0
        r.update(st[("roofline", t)])
        run.rows.append(r)
        for op in ops:
            sec = med[(op, t)]
            r = _row(op, dtype if op != "mask" else "-", n, t, isa, sec,
                     check="bitwise-equal" if checks[(op, t)] else "FAILED")
            if op != "mask":
                r["roofline_ratio"] = roof / sec
            if want_numpy and op == "forward":
                r["numpy_ratio"] = med[("numpy", 1)] / sec
            r.update(st[(op, t)])
            run.rows.append(r)
    if want_numpy:
        r = _row("forward", dtype, n, 1, isa, med[("numpy", 1)], impl="numpy", check="n/a")
        r["roofline_ratio"] = med[("roofline", threads[0])] / med[("numpy", 1)] if threads[0] == 1 else None
        r.update(st[("numpy", 1)])
        run.rows.append(r)


def group_transposed(run, isa, shape, threads):
    """Forward on a transposed float32 view against the same data contiguous."""
    o = run.opts
    p, seed = o.p, SEED
    base = np.random.default_rng(7).standard_normal(shape, dtype=np.float32)
    xt = base.T                      # non-contiguous view
    xc = np.ascontiguousarray(xt)    # same values, same C-order element numbering
    n = xc.size
    y = np.empty_like(xc)
    scale = float(reference.scale_for(p, np.float32))
    windows = _windows(n, threads)
    checks = {}
    for t in threads:
        fd.set_num_threads(t)
        for lay, x in (("T", xt), ("C", xc)):
            y.fill(np.nan)
            fd.dropout(x, p, seed=seed, out=y)
            checks[(lay, t)] = check_values(xc.reshape(-1), y.reshape(-1), p, seed, windows)
    kernels = []
    for t in threads:
        kernels.append(Kernel(("roofline", t), lambda t=t: _core.scaled_copy(xc, y, scale, t)))
        kernels.append(Kernel(("C", t), lambda: fd.dropout(xc, p, seed=seed, out=y), _set_threads(t)))
        kernels.append(Kernel(("T", t), lambda: fd.dropout(xt, p, seed=seed, out=y), _set_threads(t)))
    measure(kernels, o.repeat, o.min_time)
    med = {k.key: k.median() for k in kernels}
    st = {k.key: k.stats() for k in kernels}
    for t in threads:
        for lay in ("C", "T"):
            r = _row("forward", "float32", n, t, isa, med[(lay, t)], layout=lay,
                     check="bitwise-equal" if checks[(lay, t)] else "FAILED")
            r["roofline_ratio"] = med[("roofline", t)] / med[(lay, t)]
            r["shape"] = list(shape)
            if lay == "T":
                r["vs_contiguous"] = med[("C", t)] / med[("T", t)]
            r["group"] = "transposed"
            r.update(st[(lay, t)])
            run.rows.append(r)


def _torch_setup(torch, t):
    def setup():
        if torch.get_num_threads() != t:
            torch.set_num_threads(t)
    return setup


def group_baselines(run, isa, n, threads):
    """float32 forward, every implementation allocating its output (as users call them)."""
    o = run.opts
    p, seed = o.p, SEED
    x = np.random.default_rng(5).standard_normal(n, dtype=np.float32)
    windows = _windows(n, threads)
    scale32 = reference.scale_for(p, np.float32)
    torch = run.torch
    nk = run.numba
    kernels, checks, labels = [], {}, {}

    for t in threads:
        fd.set_num_threads(t)
        checks[("fastdrop", t)] = check_values(x, fd.dropout(x, p, seed=seed), p, seed, windows)
        kernels.append(Kernel(("fastdrop", t), lambda: fd.dropout(x, p, seed=seed), _set_threads(t)))
        labels["fastdrop"] = "fastdrop `dropout(x, p, seed=s)` (allocates y)"
    nrng = np.random.default_rng(3)
    kernels.append(Kernel(("numpy", 1), lambda: numpy_idiom(x, p, nrng), runtime="numpy"))
    labels["numpy"] = "NumPy idiom (1 thread)"
    if torch is not None:
        xt = torch.from_numpy(x)
        F = torch.nn.functional
        for t in threads:
            kernels.append(Kernel(("torch", t), lambda: F.dropout(xt, p, training=True),
                                  _torch_setup(torch, t), runtime="torch"))
        labels["torch"] = f"PyTorch {torch.__version__.split('+')[0]} `F.dropout` (own RNG)"
    if nk is not None:
        numba = nk["module"]
        thr = int(np.uint64(reference.threshold(p)))

        def nb_philox():
            y = np.empty_like(x)
            nk["philox"](x, y, seed, thr, scale32)
            return y

        def nb_own():
            y = np.empty_like(x)
            nk["own_rng"](x, y, p, scale32)
            return y

        maxt = numba.config.NUMBA_NUM_THREADS
        for t in threads:
            tt = min(t, maxt)
            numba.set_num_threads(tt)
            checks[("numba_philox", t)] = check_values(x, nb_philox(), p, seed, windows)
            setup = (lambda tt=tt: numba.set_num_threads(tt))
            kernels.append(Kernel(("numba_philox", t), nb_philox, setup, runtime="numba"))
            kernels.append(Kernel(("numba_own_rng", t), nb_own, setup, runtime="numba"))
        labels["numba_philox"] = f"numba {numba.__version__} prange, Philox4x32-10 (fastdrop's contract)"
        labels["numba_own_rng"] = f"numba {numba.__version__} prange, `np.random.random()` (own RNG)"
    measure(kernels, o.repeat, o.min_time)
    med = {k.key: k.median() for k in kernels}
    kern = {k.key: k for k in kernels}
    for (impl, t), sec in med.items():
        ref_t = t if impl != "numpy" else 1
        fds = med[("fastdrop", ref_t)] if ("fastdrop", ref_t) in med else med[("fastdrop", threads[0])]
        chk = checks.get((impl, t))
        run.baselines.append({
            "impl": impl, "label": labels[impl], "op": "forward", "dtype": "float32", "size": n,
            "threads": t, "seconds": sec, "gelem_s": n / sec / 1e9,
            "gelem_s_per_core": n / sec / 1e9 / (1 if impl == "numpy" else t),
            "fastdrop_speedup": sec / fds,
            "check": "n/a" if chk is None else ("bitwise-equal" if chk else "FAILED"),
            **kern[(impl, t)].stats(),
        })


def group_overhead(run, n=4096):
    """Per-call cost of a small float32 dropout, Python API included."""
    o = run.opts
    p, seed = o.p, SEED
    x = np.random.default_rng(11).standard_normal(n, dtype=np.float32)
    y = np.empty_like(x)
    scale = float(reference.scale_for(p, np.float32))
    t = fd.get_num_threads()
    gen = fd.Generator(1)
    ok = check_values(x, fd.dropout(x, p, seed=seed), p, seed, [(0, n)])
    ok_out = check_values(x, fd.dropout(x, p, seed=seed, out=y), p, seed, [(0, n)]) and ok
    s, off = fd.Generator(1).draw(n)
    ok_rng = check_values(x, fd.dropout(x, p, rng=fd.Generator(1)), p, s, [(0, n)], offset=off)
    st = fd.default_generator().get_state()
    ok_def = check_values(x, fd.dropout(x, p), p, st["seed"], [(0, n)], offset=st["offset"])
    nrng = np.random.default_rng(1)
    ks = [
        ("fastdrop", "fastdrop `dropout(x, p)` (default generator)", lambda: fd.dropout(x, p), ok_def),
        ("fastdrop_seed", "fastdrop `dropout(x, p, seed=s)`", lambda: fd.dropout(x, p, seed=seed), ok),
        ("fastdrop_rng", "fastdrop `dropout(x, p, rng=gen)`", lambda: fd.dropout(x, p, rng=gen), ok_rng),
        ("fastdrop_out", "fastdrop `dropout(x, p, seed=s, out=y)`", lambda: fd.dropout(x, p, seed=seed, out=y), ok_out),
        ("roofline", "`_core.scaled_copy(x, y, s, n)` (no Python API)", lambda: _core.scaled_copy(x, y, scale, t), "n/a"),
        ("numpy", "NumPy idiom", lambda: numpy_idiom(x, p, nrng), "n/a"),
    ]
    if run.torch is not None:
        torch = run.torch
        xt = torch.from_numpy(x)
        F = torch.nn.functional
        ks.append(("torch", f"PyTorch {torch.__version__.split('+')[0]} `F.dropout`",
                   lambda: F.dropout(xt, p, training=True), "n/a"))
    kernels = [Kernel(k, fn, _set_threads(t) if k.startswith("fastdrop") else
                      (_torch_setup(run.torch, 1) if k == "torch" else None),
                      runtime=("torch" if k == "torch" else "numpy" if k == "numpy" else "fastdrop"))
               for k, _, fn, _ in ks]
    measure(kernels, o.repeat, o.min_time * 5)
    med = {k.key: k.median() for k in kernels}
    base = med["fastdrop"]
    kern = {k.key: k for k in kernels}
    for key, label, _, chk in ks:
        run.overhead.append({
            **kern[key].stats(),
            "impl": key, "label": label, "size": n, "dtype": "float32",
            "us_per_call": med[key] * 1e6, "vs_fastdrop": med[key] / base,
            "check": chk if isinstance(chk, str) else ("bitwise-equal" if chk else "FAILED"),
        })


# ---------------------------------------------------------------------------------------------
# structured dropout (issue 4)
# ---------------------------------------------------------------------------------------------
_TIMM = None


def timm_drop_block():
    """timm's ``drop_block_2d`` (the function behind ``DropBlock2d``) or None.

    ``import timm`` pulls in torchvision (not needed for DropBlock); when that import fails the
    module ``timm/layers/drop.py`` is loaded from its file, which needs only torch.
    """
    global _TIMM
    if _TIMM is not None:
        return _TIMM or None
    _TIMM = False
    if _optional("torch") is None:
        return None
    fn = version = None
    try:
        from timm.layers.drop import drop_block_2d as fn
        import timm
        version = timm.__version__
    except Exception:
        try:
            import importlib.util
            spec = importlib.util.find_spec("timm")
            if spec is None or not spec.submodule_search_locations:
                return None
            root = list(spec.submodule_search_locations)[0]
            path = os.path.join(root, "layers", "drop.py")
            mspec = importlib.util.spec_from_file_location("_fastdrop_bench_timm_drop", path)
            mod = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(mod)
            fn = mod.drop_block_2d
            try:
                vtext = open(os.path.join(root, "version.py"), encoding="utf-8").read()
                version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", vtext).group(1)
            except Exception:
                version = "?"
        except Exception:
            return None
    _TIMM = {"drop_block_2d": fn, "version": version}
    return _TIMM


def _struct_calls(op, x, y, p, seed):
    """(fastdrop call writing y, fastdrop call allocating, reference output of the whole array)."""
    k = DROPBLOCK_SIZE
    if op == "spatial_dropout":
        return (lambda: fd.spatial_dropout(x, p, seed=seed, out=y),
                lambda: reference.spatial_dropout(x, p, seed=seed))
    if op == "drop_path":
        return (lambda: fd.drop_path(x, p, seed=seed, out=y),
                lambda: reference.drop_path(x, p, seed=seed))
    if op in ("dropblock", "dropblock_shared"):
        sh = op == "dropblock_shared"
        return (lambda: fd.dropblock(x, p, k, seed=seed, share_channels=sh, out=y),
                lambda: reference.dropblock(x, p, k, seed=seed, share_channels=sh))
    if op == "alpha_dropout":
        return (lambda: fd.alpha_dropout(x, p, seed=seed, out=y), None)
    if op == "gaussian_dropout":
        return (lambda: fd.gaussian_dropout(x, p, seed=seed, out=y), None)
    raise ValueError(op)


def _check_struct(op, x, y, p, seed, threads):
    """Bitwise check of y against fastdrop.reference: the whole array for the structured maps;
    element-wise ops (alpha, Gaussian: a window with offset = start is that part of the whole)
    in windows above FULL_CHECK_MAX."""
    _, ref = _struct_calls(op, x, y, p, seed)
    if ref is not None:
        return _same(y, ref())
    fn = reference.alpha_dropout if op == "alpha_dropout" else reference.gaussian_dropout
    xf, yf = x.reshape(-1), y.reshape(-1)
    for lo, hi in _windows(xf.size, threads):
        if not _same(yf[lo:hi], fn(xf[lo:hi], p, seed=seed, offset=lo)):
            return False
    return True


def group_structured(run, isa, ops, threads):
    """Structured dropout at issue 4's shapes, each against the roofline (interleaved), every
    output checked bitwise against fastdrop.reference first; timm's DropBlock2d (torch CPU)
    when importable, both allocating their output."""
    o = run.opts
    p, seed = STRUCT_P, SEED
    shape4, nflat = o.struct_shape, o.struct_flat
    rng = np.random.default_rng(4)
    data = {}
    if any(op not in ("alpha_dropout", "gaussian_dropout") for op in ops):
        data["map"] = rng.standard_normal(shape4, dtype=np.float32)
    if any(op in ("alpha_dropout", "gaussian_dropout") for op in ops):
        data["flat"] = rng.standard_normal(nflat, dtype=np.float32)
    outs = {k: np.empty_like(v) for k, v in data.items()}
    which = {op: ("flat" if op in ("alpha_dropout", "gaussian_dropout") else "map") for op in ops}
    scale = float(reference.scale_for(p, np.float32))

    checks = {}
    for t in threads:
        fd.set_num_threads(t)
        for op in ops:
            x, y = data[which[op]], outs[which[op]]
            y.fill(np.nan)
            _struct_calls(op, x, y, p, seed)[0]()
            checks[(op, t)] = _check_struct(op, x, y, p, seed, threads)
        for kind in data:
            y = outs[kind]
            y.fill(np.nan)
            _core.scaled_copy(data[kind].reshape(-1), y.reshape(-1), scale, t)
            checks[(f"roofline_{kind}", t)] = _same(y, data[kind] * reference.scale_for(p, np.float32))

    timm = run.timm if ("dropblock" in ops or "dropblock_shared" in ops) else None
    kernels = []
    for t in threads:
        for kind in data:
            xf, yf = data[kind].reshape(-1), outs[kind].reshape(-1)
            kernels.append(Kernel((f"roofline_{kind}", t), lambda t=t, xf=xf, yf=yf: _core.scaled_copy(xf, yf, scale, t)))
        for op in ops:
            x, y = data[which[op]], outs[which[op]]
            kernels.append(Kernel((op, t), _struct_calls(op, x, y, p, seed)[0], setup=_set_threads(t)))
        if timm is not None:
            torch = run.torch
            xt = torch.from_numpy(data["map"])
            dbk = timm["drop_block_2d"]
            for op in ("dropblock", "dropblock_shared"):
                if op not in ops:
                    continue
                sh = op == "dropblock_shared"
                x = data["map"]
                kernels.append(Kernel((op + "_alloc", t),
                                      lambda sh=sh, x=x: fd.dropblock(x, p, DROPBLOCK_SIZE, seed=seed, share_channels=sh),
                                      setup=_set_threads(t)))
                kernels.append(Kernel(("timm_" + op, t),
                                      lambda sh=sh: dbk(xt, p, DROPBLOCK_SIZE, couple_channels=sh),
                                      _torch_setup(torch, t), runtime="torch"))
    measure(kernels, o.repeat, o.min_time)
    med = {k.key: k.median() for k in kernels}
    st = {k.key: k.stats() for k in kernels}

    for t in threads:
        for op in ops:
            kind = which[op]
            x = data[kind]
            roof = med[(f"roofline_{kind}", t)]
            r = _row(op, "float32", x.size, t, isa, med[(op, t)],
                     check="bitwise-equal" if checks[(op, t)] and checks[(f"roofline_{kind}", t)] else "FAILED")
            r.update(group="structured", shape=list(x.shape), p=p, roofline_ratio=roof / med[(op, t)],
                     roofline_seconds=roof)
            if ("timm_" + op, t) in med:
                r["timm_seconds"] = med[("timm_" + op, t)]
                r["alloc_seconds"] = med[(op + "_alloc", t)]
                r["timm_speedup"] = med[("timm_" + op, t)] / med[(op + "_alloc", t)]
                r["timm_version"] = timm["version"]
            r.update(st[(op, t)])
            run.rows.append(r)


def run(opts):
    """Run the profile described by ``opts`` (the parsed command line); return the result dict."""
    saved_threads, saved_isa = _config._num_threads, fd.get_isa()
    Kernel.stat = opts.stat
    r = Run(opts)
    r.torch = _optional("torch") if opts.baselines else None
    r.numba = numba_kernels() if opts.baselines else None
    r.timm = timm_drop_block() if opts.baselines and r.torch is not None else None
    isas = opts.isa or [fd.get_isa()]
    f32_ops = list(opts.ops)
    other_ops = list(opts.ops) if opts.ops_given else ["forward"]
    groups = []
    for isa in isas:
        for dtype in opts.dtypes:
            ops = f32_ops if dtype == "float32" else [op for op in other_ops if op != "mask"]
            if not ops:
                continue
            for n in opts.sizes:
                groups.append(("main", isa, dtype, n, ops))
        if opts.struct_ops:
            groups.append(("structured", isa))
        if opts.transposed:
            groups.append(("transposed", isa))
    if opts.baselines and opts.ops:
        for n in opts.sizes:
            if n <= opts.baseline_max:
                groups.append(("baselines", isas[0], n))
    if opts.overhead:
        groups.append(("overhead", isas[0]))
    r.progress_total = len(groups)
    try:
        for g in groups:
            kind, isa = g[0], g[1]
            fd.set_isa(isa)
            if kind == "main":
                _, _, dtype, n, ops = g
                r.progress(f"{isa} {dtype} {fmt_size(n)}: {', '.join(ops)} x threads {opts.threads}")
                group_main(r, isa, dtype, n, opts.threads, ops)
            elif kind == "structured":
                r.progress(f"{isa} structured float32: {', '.join(opts.struct_ops)} x threads {opts.threads}")
                group_structured(r, isa, opts.struct_ops, opts.threads)
            elif kind == "transposed":
                r.progress(f"{isa} float32 transposed {opts.transposed_shape[0]}x{opts.transposed_shape[1]}")
                group_transposed(r, isa, opts.transposed_shape, opts.threads)
            elif kind == "baselines":
                r.progress(f"comparisons float32 {fmt_size(g[2])}")
                group_baselines(r, isa, g[2], opts.threads)
            else:
                r.progress("per-call overhead, 4096 float32")
                group_overhead(r)
    finally:
        r.progress_end()
        _config._num_threads = saved_threads
        fd.set_isa(saved_isa)
    return {"meta": _meta(opts, r), "rows": r.rows, "baselines": r.baselines, "overhead": r.overhead}


def _meta(opts, r):
    elapsed = time.perf_counter() - r.t_start
    foreign = None
    end = _cpu_busy()
    if r.cpu_start and end:  # CPU time other processes took while we ran, per core-second
        foreign = max(0.0, ((end[0] - r.cpu_start[0]) - (end[1] - r.cpu_start[1])) / (elapsed * _ncores()))
    flags = _cpu_flags()
    vers = {"fastdrop": fd.__version__, "numpy": np.__version__, "python": platform.python_version()}
    if r.torch is not None:
        vers["torch"] = r.torch.__version__
    if r.numba is not None:
        vers["numba"] = r.numba["module"].__version__
    if getattr(r, "timm", None) is not None:
        vers["timm"] = r.timm["version"]
    return {
        "command": opts.command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cpu_mhz": _cpu_mhz(),
        "cores": _ncores(),
        "machine": platform.machine(),
        "system": platform.system(),
        "simd_flags": [f for f in ("avx512f", "avx2", "fma", "f16c") if f in flags],
        "isa": opts.isa or [fd.get_isa()],
        "isa_best": _core.isa_best(),
        "openmp": _core.openmp_enabled(),
        "max_threads": _max_threads(),
        "parallel_threshold": _core.parallel_threshold(),
        "threads": opts.threads,
        "sizes": opts.sizes,
        "struct_ops": opts.struct_ops,
        "struct_shape": list(opts.struct_shape),
        "struct_flat": opts.struct_flat,
        "struct_p": STRUCT_P,
        "repeat": opts.repeat,
        "stat": opts.stat,
        "p": opts.p,
        "seed": SEED,
        "versions": vers,
        "elapsed_s": elapsed,
        "loadavg_1min_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "foreign_cpu_fraction": foreign,
    }


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------


def _f(v, spec=".2f", none="-"):
    return none if v is None else format(v, spec)


def _table(headers, rows, markdown, align=None):
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "| " + " | ".join("---:" if (align and a == "r") else "---" for a in (align or "l" * len(headers))) + " |"]
        out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
        return "\n".join(out)
    cols = [headers] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    a = align or "l" * len(headers)
    fmt = lambda r: "  ".join(c.rjust(w[i]) if a[i] == "r" else c.ljust(w[i]) for i, c in enumerate(r))
    return "\n".join([fmt(headers), "  ".join("-" * x for x in w)] + [fmt(r) for r in cols[1:]])


def _machine_line(meta):
    mhz = f" ~{meta['cpu_mhz'] / 1000:.2f} GHz" if meta.get("cpu_mhz") else ""
    v = meta["versions"]
    extra = "".join(f", {k} {v[k]}" for k in ("torch", "numba", "timm") if k in v)
    return (f"{meta['cpu']}{mhz}, {meta['cores']} cores ({', '.join(meta['simd_flags']) or 'no AVX'}), "
            f"fastdrop ISA path {'/'.join(meta['isa'])}, OpenMP {'on' if meta['openmp'] else 'off'}; "
            f"fastdrop {v['fastdrop']}, NumPy {v['numpy']}, Python {v['python']}{extra}; {meta['date']}")


def _busy_note(meta):
    f = meta.get("foreign_cpu_fraction")
    if f is None or f < 0.05:
        return None
    return (f"note: other processes used {100 * f:.0f}% of the machine's CPU time during this run; "
            "multi-threaded figures (a thread waiting for a busy core) are unreliable: re-run on an idle machine")


def render_text(res):
    meta = res["meta"]
    out = [f"fastdrop.bench: {_machine_line(meta)}",
           f"p = {meta['p']}, {meta.get('stat', 'median')} of {meta['repeat']} interleaved repetitions; "
           f"roofline = scaled copy y = x*s on the same arrays and threads; "
           f"GB/s counts x read + y written + mask bytes",
           ""]
    hdr = ["op", "impl", "dtype", "layout", "size", "threads", "ISA", "G elem/s", "GB/s",
           "G elem/s/core", "x roofline", "x NumPy", "check"]
    rows = [[OP_LABELS.get(r["op"], r["op"]) if r["impl"] == "fastdrop" else (OP_LABELS["roofline"] if r["impl"] == "roofline" else "forward (NumPy idiom)"),
             r["impl"], r["dtype"], r["layout"] if r["layout"] == "C" else "transposed",
             "x".join(map(str, r["shape"])) if "shape" in r else fmt_size(r["size"]),
             r["threads"] if r["threads_used"] == r["threads"] or r["impl"] == "numpy" else f"{r['threads']} (1 used)",
             r["isa"] if r["impl"] != "numpy" else "-",
             _f(r["gelem_s"], ".3f"), _f(r["gb_s"], ".1f"), _f(r["gelem_s_per_core"], ".3f"),
             _f(r["roofline_ratio"]), _f(r["numpy_ratio"], ".1f"), r["check"]]
            for r in res["rows"] if r.get("group") != "structured"]
    if rows:
        out += [_table(hdr, rows, False, "lllllllrrrrrl"), ""]
    srows = [r for r in res["rows"] if r.get("group") == "structured"]
    if srows:
        out.append(f"Structured dropout (float32, p = {srows[0]['p']}; roofline = scaled copy of the same "
                   "array; timm: fastdrop and timm both allocating)")
        out.append(_table(["op", "shape", "threads", "ISA", "G elem/s", "GB/s", "x roofline", "target",
                           "x faster than timm", "check"],
                          [[OP_LABELS.get(r["op"], r["op"]), "x".join(map(str, r["shape"])) if len(r["shape"]) > 1 else fmt_size(r["size"]),
                            r["threads"], r["isa"], _f(r["gelem_s"], ".3f"), _f(r["gb_s"], ".1f"),
                            _f(r["roofline_ratio"]), STRUCT_TARGETS.get(r["op"], ""),
                            _f(r.get("timm_speedup"), ".1f"), r["check"]] for r in srows],
                          False, "llrlrrrlrl"))
        out.append("")
    if res["baselines"]:
        out.append("Comparisons: float32 forward, every implementation allocating its output")
        out.append(_table(["implementation", "size", "threads", "G elem/s", "G elem/s/core",
                           "fastdrop is x faster", "check"],
                          [[b["label"], fmt_size(b["size"]), b["threads"], _f(b["gelem_s"], ".3f"),
                            _f(b["gelem_s_per_core"], ".3f"), _f(b["fastdrop_speedup"], ".1f"), b["check"]]
                           for b in res["baselines"]], False, "lrrrrrl"))
        out.append("")
    if res["overhead"]:
        out.append("Per-call overhead: one 4096-element float32 dropout, kernel included")
        out.append(_table(["call", "us per call", "x fastdrop dropout(x, p)", "check"],
                          [[o["label"].replace("`", ""), _f(o["us_per_call"], ".2f"), _f(o["vs_fastdrop"], ".2f"), o["check"]]
                           for o in res["overhead"]], False, "lrrl"))
        out.append("")
    out.append(f"command: {meta['command']}  ({meta['elapsed_s']:.0f} s)")
    if _busy_note(meta):
        out.append(_busy_note(meta))
    return "\n".join(out)


def _find(res, op="forward", dtype="float32", size=None, threads=None, impl="fastdrop", layout="C"):
    for r in res["rows"]:
        if r.get("group") is None and (r["op"] == op and r["dtype"] == dtype and r["size"] == size and r["threads"] == threads
                and r["impl"] == impl and r["layout"] == layout):
            return r
    return None


def _base(res, impl, size, threads):
    for b in res["baselines"]:
        if b["impl"] == impl and b["size"] == size and b["threads"] == threads:
            return b
    return None


def headline(res):
    """The README's summary: (measure, size, value at 1 thread, value at max threads, target)."""
    th = res["meta"]["threads"]
    t1, tn = min(th), max(th)
    rows = []
    nm = lambda v, spec=".2f", suf="x": "—" if v is None else f"{v:{spec}}{suf}"

    def ratio(op, dtype, size, key="roofline_ratio", layout="C"):
        vals = []
        for t in (t1, tn):
            r = _find(res, op, dtype, size, t, layout=layout)
            vals.append(None if r is None or r["check"] != "bitwise-equal" else r[key])
        return vals

    def add(label, size, vals, target, spec=".2f", suf="x"):
        if all(v is None for v in vals):
            return
        rows.append([label, size, nm(vals[0], spec, suf), nm(vals[1], spec, suf) if tn != t1 else "—", target])

    for n in (1 << 24, 1 << 27):
        add("forward ÷ roofline", fmt_size(n), ratio("forward", "float32", n),
            "≥ 0.80 / ≥ 0.80" if n == 1 << 24 else "≥ 0.80 / ≥ 0.85")
    for n in (1 << 24, 1 << 27):
        add("forward + packed mask ÷ roofline", fmt_size(n), ratio("forward_mask", "float32", n),
            "≥ 0.80" if n == 1 << 24 else "")
    for n in (1 << 24, 1 << 27):
        add("backward, packed mask ÷ roofline", fmt_size(n), ratio("backward_mask", "float32", n),
            "≥ 0.85" if n == 1 << 24 else "")
    for n in (1 << 24, 1 << 27):
        add("backward, regenerated ÷ roofline", fmt_size(n), ratio("backward_regen", "float32", n),
            "≥ 0.80" if n == 1 << 24 else "")
    for dt in ("float64", "float16"):
        add(f"{dt} forward ÷ {dt} roofline", "2^24", ratio("forward", dt, 1 << 24), "≥ 0.80")
    add("forward vs NumPy idiom (× faster)", "2^24", ratio("forward", "float32", 1 << 24, "numpy_ratio"),
        "≥ 5 / ≥ 10", ".1f")
    for impl, name in (("torch", "PyTorch `F.dropout`"), ("numba_philox", "numba prange (Philox)"),
                       ("numba_own_rng", "numba prange (own RNG)")):
        vals = [None if _base(res, impl, 1 << 24, t) is None else _base(res, impl, 1 << 24, t)["fastdrop_speedup"]
                for t in (t1, tn)]
        add(f"forward vs {name} (× faster, both allocating)", "2^24", vals, "", ".1f")
    for n in sorted({r["size"] for r in res["rows"] if (1 << 16) <= r["size"] <= (1 << 20)}):
        a, b = _find(res, "forward", "float32", n, t1), _find(res, "forward", "float32", n, tn)
        if a and b and tn != t1:
            rows.append([f"forward, {tn} threads ÷ 1 thread", fmt_size(n), "—",
                         nm(a["seconds"] / b["seconds"]), "≥ 1.8"])
    tr = [r for r in res["rows"] if r.get("group") == "transposed" and r["layout"] == "T"]
    if tr:
        shp = "×".join(map(str, tr[0]["shape"]))
        vals = [next((r["vs_contiguous"] for r in tr if r["threads"] == t), None) for t in (t1, tn)]
        add("transposed ÷ contiguous (float32 forward)", shp, vals, "≥ 0.5")
    for n in (1 << 24, 1 << 27):
        vals = [(_find(res, "roofline", "float32", n, t, impl="roofline") or {}).get("gelem_s") for t in (t1, tn)]
        add("roofline, G elem/s (for scale)", fmt_size(n), vals, "", ".2f", "")
        vals = [(_find(res, "forward", "float32", n, t) or {}).get("gelem_s") for t in (t1, tn)]
        add("forward, G elem/s", fmt_size(n), vals, "", ".2f", "")
    return rows


def render_markdown(res):
    """The block the README's "Performance" section shows (regenerate with --markdown)."""
    meta = res["meta"]
    th = meta["threads"]
    t1, tn = min(th), max(th)
    out = [f"Measured on: {_machine_line(meta)}.", "",
           f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s; p = {meta['p']}, {meta.get('stat', 'median')} of "
           f"{meta['repeat']} interleaved repetitions; float32 and contiguous unless stated; "
           f"every fastdrop row checked bitwise against `fastdrop.reference`).", ""]
    if _busy_note(meta):
        out += [f"*{_busy_note(meta)}.*", ""]
    hdr = ["measure", "size", f"{t1} thread" + ("s" if t1 > 1 else ""), f"{tn} threads", "target (issue 3)"]
    hl = headline(res)
    if hl:
        out.append(_table(hdr, hl, True, "llrrl"))
    smd = render_structured_markdown(res, header=False)
    if smd:
        out += ["", f"Structured dropout (issue 4; float32, p = {STRUCT_P}; "
                    "also shown under \"Structured dropout\" above):", "", smd]
    if res["overhead"]:
        out += ["", "Per-call cost of one 4096-element float32 dropout (Python call and kernel; "
                    "target ≤ 4 µs):", ""]
        out.append(_table(["call", "µs per call"],
                          [[o["label"], _f(o["us_per_call"], ".2f")] for o in res["overhead"]], True, "lr"))
    fwd = [r for r in res["rows"] if r["dtype"] in ("float32", "-") and r.get("group") is None
           and r["impl"] in ("fastdrop", "roofline")]
    if fwd:
        out += ["", "<details><summary>All float32 rows (G elem/s per core, ratio to the roofline)</summary>", ""]
        out.append(_table(["op", "size", "threads", "G elem/s", "GB/s", "G elem/s/core", "÷ roofline"],
                          [[OP_LABELS.get(r["op"]) if r["impl"] == "fastdrop" else OP_LABELS["roofline"],
                            fmt_size(r["size"]), r["threads"], _f(r["gelem_s"], ".3f"), _f(r["gb_s"], ".1f"),
                            _f(r["gelem_s_per_core"], ".3f"), _f(r["roofline_ratio"])] for r in fwd],
                          True, "llrrrrr"))
        out += ["", "</details>"]
    return "\n".join(out)


def _shape_text(r):
    return "×".join(map(str, r["shape"])) if len(r.get("shape", ())) > 1 else fmt_size(r["size"])


def render_structured_markdown(res, header=True):
    """The structured-dropout table (issue 4): ratio to the roofline per op, 1 and max threads,
    and DropBlock against timm; empty string when the run had no structured ops."""
    srows = [r for r in res["rows"] if r.get("group") == "structured"]
    if not srows:
        return ""
    meta = res["meta"]
    th = sorted({r["threads"] for r in srows})
    t1, tn = th[0], th[-1]
    get = lambda op, t: next((r for r in srows if r["op"] == op and r["threads"] == t), None)
    val = lambda r, key, spec: "—" if r is None or r["check"] != "bitwise-equal" or r.get(key) is None else f"{r[key]:{spec}}x"
    hdr = ["operation (float32)", "shape", f"{t1} thread" + ("s" if t1 > 1 else "")]
    if tn != t1:
        hdr.append(f"{tn} threads")
    hdr.append("target (issue 4)")
    rows = []
    ops = [op for op in STRUCT_OPS if any(r["op"] == op for r in srows)]
    for op in ops:
        a, b = get(op, t1), get(op, tn)
        ref = a or b
        row = [f"{OP_LABELS[op]} ÷ roofline", _shape_text(ref), val(a, "roofline_ratio", ".2f")]
        if tn != t1:
            row.append(val(b, "roofline_ratio", ".2f"))
        rows.append(row + [STRUCT_TARGETS.get(op, "")])
    for op in ops:
        a, b = get(op, t1), get(op, tn)
        if (a or b) and (a or b).get("timm_speedup") is not None:
            ref = a or b
            row = [f"{OP_LABELS[op]} vs timm {ref['timm_version']} `drop_block_2d`"
                   f"{' (couple_channels)' if op == 'dropblock_shared' else ' (couple_channels=False)'}, × faster, both allocating",
                   _shape_text(ref), val(a, "timm_speedup", ".1f")]
            if tn != t1:
                row.append(val(b, "timm_speedup", ".1f"))
            rows.append(row + ["≥ 2"])
    table = _table(hdr, rows, True, "ll" + "r" * (len(hdr) - 3) + "l")
    if not header:
        return table
    out = [f"Command: `{meta['command']}`; p = {srows[0]['p']}, {meta.get('stat', 'median')} of {meta['repeat']} "
           f"interleaved repetitions, each op timed with its roofline (a scaled copy of the same array) "
           f"in the same run; every output checked bitwise against `fastdrop.reference`; "
           f"{meta['cpu']}, {meta['cores']} cores, ISA path {'/'.join(meta['isa'])}, {meta['date']}.", ""]
    if _busy_note(meta):
        out += [f"*{_busy_note(meta)}.*", ""]
    out.append(table)
    return "\n".join(out)


BEGIN, END = "<!-- fastdrop.bench:begin -->", "<!-- fastdrop.bench:end -->"
SBEGIN, SEND = "<!-- fastdrop.bench:structured:begin -->", "<!-- fastdrop.bench:structured:end -->"


def _replace_between(text, begin, end, block):
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + block + "\n" + end + tail


def update_readme(path, block, structured=None):
    """Replace the table between the fastdrop.bench markers; with ``structured`` (non-empty)
    also the one between the structured markers, where the file has them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SystemExit(f"--update-readme: cannot read {path}: {exc.strerror}")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers to replace between")
    text = _replace_between(text, BEGIN, END, block)
    if structured and SBEGIN in text and SEND in text:
        text = _replace_between(text, SBEGIN, SEND, structured)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["rows"] if r["dtype"] in ("float32", "-") and r["layout"] == "C"
            and r["impl"] in ("fastdrop", "roofline") and r.get("group") is None]
    threads = sorted({r["threads"] for r in rows})
    sizes = sorted({r["size"] for r in rows})
    ops = [op for op in ("roofline",) + OPS if any((r["op"] == op) for r in rows)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    styles = ["-", "--", ":", "-."]
    colors = dict(zip(ops, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for i, t in enumerate(threads):
        for op in ops:
            pts = sorted((r["size"], r["gelem_s"]) for r in rows if r["op"] == op and r["threads"] == t)
            if pts:
                a1.plot([p[0] for p in pts], [p[1] for p in pts], styles[i % 4], marker="o",
                        color=colors[op], lw=2.5 if op == "roofline" else 1.5,
                        label=f"{OP_LABELS[op]}, {t} thr")
    a1.set_xscale("log", base=2)
    a1.set_xlabel("elements (float32)")
    a1.set_ylabel("G elements / s")
    a1.set_title("throughput vs size")
    a1.grid(True, alpha=0.3)
    a1.legend(fontsize=7)
    big = max(sizes)
    for op in ops:
        pts = sorted((r["threads"], r["gelem_s"]) for r in rows if r["op"] == op and r["size"] == big)
        if pts:
            a2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors[op],
                    lw=2.5 if op == "roofline" else 1.5, label=OP_LABELS[op])
    a2.set_xticks(threads)
    a2.set_xlabel("threads")
    a2.set_ylabel("G elements / s")
    a2.set_title(f"throughput vs threads at {fmt_size(big)} float32")
    a2.grid(True, alpha=0.3)
    a2.legend(fontsize=7)
    fig.suptitle("fastdrop vs the scaled-copy roofline — " + res["meta"]["cpu"], fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def build_parser():
    ap = argparse.ArgumentParser(
        prog="python -m fastdrop.bench",
        description="Per-core throughput profile of fastdrop against the scaled-copy roofline, "
                    "the NumPy idiom and (where installed) PyTorch and numba. Ratios come from "
                    "kernels timed interleaved in one run.")
    ap.add_argument("--sizes", type=_csv("size", conv=parse_size),
                    help="element counts, e.g. 2^16,2^20,2^24 (default; --full adds 2^27)")
    ap.add_argument("--full", action="store_true", help="add 2^27 to the default sizes")
    ap.add_argument("--threads", type=_csv("thread count", conv=_threads_item),
                    help="thread counts, e.g. 1,2 or 1,max (default: 1 and max)")
    ap.add_argument("--ops", type=_csv("op", OPS + STRUCT_OPS),
                    help=f"operations (default all): {', '.join(OPS)}; float64/float16 run "
                         "forward only unless --ops is given; structured dropout (float32, "
                         f"p = {STRUCT_P}, issue 4's shapes: {'x'.join(map(str, STRUCT_SHAPE))} and "
                         f"2^24; --quick: small ones): {', '.join(STRUCT_OPS)}")
    ap.add_argument("--dtypes", type=_csv("dtype", DTYPES), default=list(DTYPES),
                    help="dtypes (default float32,float64,float16)")
    ap.add_argument("--isa", type=_csv("isa", _config.ISAS),
                    help="SIMD path(s) to profile, e.g. scalar,avx2 (default: the one in use)")
    ap.add_argument("--repeat", type=int, help="interleaved repetitions per kernel (default 11; --quick 3)")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="per-kernel figure over the repetitions (default median; min is the "
                         "steadier choice on a machine shared with other work)")
    ap.add_argument("--p", type=float, default=P, help="drop probability (default 0.5)")
    ap.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=None,
                    help="PyTorch and numba comparisons where importable (default on, off with --quick)")
    ap.add_argument("--no-numpy", dest="numpy", action="store_false", help="skip the NumPy idiom")
    ap.add_argument("--no-transposed", dest="transposed", action="store_false",
                    help="skip the transposed 4096x4096 case")
    ap.add_argument("--no-overhead", dest="overhead", action="store_false",
                    help="skip the per-call overhead case")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--plot", metavar="FILE.png", help="plot throughput vs size and threads (matplotlib)")
    ap.add_argument("--markdown", action="store_true", help="print the README table (Markdown)")
    ap.add_argument("--update-readme", metavar="README.md",
                    help="replace the table between the fastdrop.bench markers in this file")
    ap.add_argument("--load", metavar="FILE", help="render a saved --json result instead of measuring")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (for tests)")
    ap.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    return ap


def _resolve(opts, argv):
    opts.command = " ".join(["python -m fastdrop.bench"] + list(argv))
    if opts.sizes is None:
        opts.sizes = list(QUICK_SIZES if opts.quick else DEFAULT_SIZES + (FULL_EXTRA_SIZES if opts.full else ()))
    if opts.threads is None:
        opts.threads = sorted({1, _max_threads()})
    opts.threads = list(dict.fromkeys(opts.threads))
    opts.ops_given = opts.ops is not None
    given = opts.ops
    opts.ops = [op for op in given if op in OPS] if given else list(OPS)
    opts.struct_ops = [op for op in given if op in STRUCT_OPS] if given else list(STRUCT_OPS)
    opts.struct_shape = QUICK_STRUCT_SHAPE if opts.quick else STRUCT_SHAPE
    opts.struct_flat = QUICK_STRUCT_FLAT if opts.quick else STRUCT_FLAT
    if opts.repeat is None:
        opts.repeat = 3 if opts.quick else 11
    if opts.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    if not 0.0 <= opts.p < 1.0:
        raise SystemExit("--p must be in [0, 1)")
    if opts.baselines is None:
        opts.baselines = not opts.quick
    opts.min_time = 0.0005 if opts.quick else 0.002
    opts.numpy_max = NUMPY_MAX
    opts.baseline_max = BASELINE_MAX
    opts.transposed_shape = (512, 512) if opts.quick else (4096, 4096)
    if opts.isa:
        bad = [i for i in opts.isa if not _core.isa_supported(i)]
        if bad:
            raise SystemExit(f"--isa {','.join(bad)}: not supported here "
                             f"(supported: {', '.join(fd.supported_isas())})")
    return opts


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = _resolve(build_parser().parse_args(argv), argv)
    if opts.plot and _optional("matplotlib") is None:
        print("fastdrop.bench: --plot needs matplotlib, which is not installed "
              "(pip install matplotlib, or pip install 'fastdrop[plot]'); nothing was measured.",
              file=sys.stderr)
        return 2
    if opts.load:
        with open(opts.load, encoding="utf-8") as f:
            res = json.load(f)
    else:
        res = run(opts)
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
    if opts.plot:
        plot(res, opts.plot)
    md = render_markdown(res)
    if opts.update_readme:
        update_readme(opts.update_readme, md, render_structured_markdown(res))
    print(md if opts.markdown else render_text(res))
    failed = [r for r in res["rows"] + res["baselines"] + res["overhead"] if r["check"] == "FAILED"]
    if failed:
        print(f"fastdrop.bench: {len(failed)} output check(s) FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
