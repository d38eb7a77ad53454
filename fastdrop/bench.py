"""``python -m fastdrop.bench``: the per-core throughput profile of fastdrop.

Dropout is memory-bound, so every fastdrop kernel is measured against the *roofline*: a plain
scaled copy ``y = x * s`` (``fastdrop._core.scaled_copy``) over the same arrays, with the same
threads and the same per-thread split, timed in the same run. All kernels compared in one table
cell are measured interleaved (round-robin repetitions, the starting kernel rotating, medians), so
drift on a shared machine hits them alike; read the ratios, not the absolute figures. The NumPy
idiom ``x * (rng.random(x.shape) >= p) / (1 - p)`` is timed alongside.

Every fastdrop output is checked bitwise against :mod:`fastdrop.reference` for the seed it was
timed with (the whole array up to 2^20 elements, above that windows at the start, the end, every
thread's split point and random places: the contract makes a window with ``offset = start``
equal to that part of the whole), so a fast wrong kernel shows up as a failed row, not a fast one.

Examples::

    python -m fastdrop.bench                     # default profile (~1-2 minutes)
    python -m fastdrop.bench --full              # adds 2^27
    python -m fastdrop.bench --ops forward,backward_mask --sizes 2^20,2^24 --threads 1,2
    python -m fastdrop.bench --quick --json out.json   # the results for other tools

The comparisons with PyTorch, numba and timm, the README's tables and the plots are made by
``python benchmarks/report.py`` in fastdrop's source tree (``benchmarks/`` is not installed), on
top of this module. Nothing here is needed to use fastdrop.
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

__all__ = ["main", "run", "render_text", "numpy_idiom"]

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


def numpy_idiom(x, p, rng):
    """The NumPy idiom: ``x * (rng.random(x.shape, dtype=x.dtype) >= p) / (1 - p)``.

    ``Generator.random`` has no float16, so float16 inputs draw float32 uniforms (the product
    stays float16).
    """
    dt = x.dtype if x.dtype != np.float16 else np.float32
    return x * (rng.random(x.shape, dtype=dt) >= p) / (1 - p)


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


def check_windows(n, threads):
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
        self.rows, self.overhead = [], []
        self.progress_done, self.progress_total = 0, 0
        self.watch = Watch()
        self.tty = sys.stderr.isatty()

    def progress(self, what):
        if self.opts.quiet:
            return
        self.progress_done += 1
        el = self.watch.elapsed()
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
    windows = check_windows(n, threads)

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
    windows = check_windows(n, threads)
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
    kernels = [Kernel(k, fn, _set_threads(t) if k.startswith("fastdrop") else None,
                      runtime="numpy" if k == "numpy" else "fastdrop")
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


def check_struct(op, x, y, p, seed, threads):
    """Bitwise check of y against fastdrop.reference: the whole array for the structured maps;
    element-wise ops (alpha, Gaussian: a window with offset = start is that part of the whole)
    in windows above FULL_CHECK_MAX."""
    _, ref = _struct_calls(op, x, y, p, seed)
    if ref is not None:
        return _same(y, ref())
    fn = reference.alpha_dropout if op == "alpha_dropout" else reference.gaussian_dropout
    xf, yf = x.reshape(-1), y.reshape(-1)
    for lo, hi in check_windows(xf.size, threads):
        if not _same(yf[lo:hi], fn(xf[lo:hi], p, seed=seed, offset=lo)):
            return False
    return True


def group_structured(run, isa, ops, threads):
    """Structured dropout at issue 4's shapes, each against the roofline (interleaved), every
    output checked bitwise against fastdrop.reference first."""
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
            checks[(op, t)] = check_struct(op, x, y, p, seed, threads)
        for kind in data:
            y = outs[kind]
            y.fill(np.nan)
            _core.scaled_copy(data[kind].reshape(-1), y.reshape(-1), scale, t)
            checks[(f"roofline_{kind}", t)] = _same(y, data[kind] * reference.scale_for(p, np.float32))

    kernels = []
    for t in threads:
        for kind in data:
            xf, yf = data[kind].reshape(-1), outs[kind].reshape(-1)
            kernels.append(Kernel((f"roofline_{kind}", t), lambda t=t, xf=xf, yf=yf: _core.scaled_copy(xf, yf, scale, t)))
        for op in ops:
            x, y = data[which[op]], outs[which[op]]
            kernels.append(Kernel((op, t), _struct_calls(op, x, y, p, seed)[0], setup=_set_threads(t)))
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
            r.update(st[(op, t)])
            run.rows.append(r)


def run(opts, extra_groups=()):
    """Run the profile described by ``opts`` (the parsed command line, see :func:`resolve`);
    return the result dict: ``meta``, ``rows``, ``baselines`` (left empty here) and ``overhead``,
    what ``--json`` writes.

    ``extra_groups``: ``(description, fn)`` pairs run after the profile's own groups, with the
    first ISA path set, inside its progress count, elapsed time and busy check; ``fn(result)``
    adds to the result dict (``meta`` is added last). ``benchmarks/report.py`` in the source tree
    runs the PyTorch, numba and timm comparisons this way."""
    saved_threads, saved_isa = _config._num_threads, fd.get_isa()
    Kernel.stat = opts.stat
    r = Run(opts)
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
    if opts.overhead:
        groups.append(("overhead", isas[0]))
    groups += [("extra", isas[0], what, fn) for what, fn in extra_groups]
    r.progress_total = len(groups)
    res = {"rows": r.rows, "baselines": [], "overhead": r.overhead}
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
            elif kind == "overhead":
                r.progress("per-call overhead, 4096 float32")
                group_overhead(r)
            else:
                r.progress(g[2])
                g[3](res)
    finally:
        r.progress_end()
        _config._num_threads = saved_threads
        fd.set_isa(saved_isa)
    return {"meta": _meta(opts, r.watch), **res}


class Watch:
    """Wall time since it was made, and the share of the machine's CPU time that other
    processes took meanwhile (the busy check; None off Linux)."""

    def __init__(self):
        self.t0, self.cpu0 = time.perf_counter(), _cpu_busy()

    def elapsed(self):
        return time.perf_counter() - self.t0

    def foreign_fraction(self):
        end, elapsed = _cpu_busy(), self.elapsed()
        if not (self.cpu0 and end):
            return None
        # CPU time other processes took while we ran, per core-second
        return max(0.0, ((end[0] - self.cpu0[0]) - (end[1] - self.cpu0[1])) / (elapsed * _ncores()))


def _meta(opts, watch):
    flags = _cpu_flags()
    vers = {"fastdrop": fd.__version__, "numpy": np.__version__, "python": platform.python_version()}
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
        "elapsed_s": watch.elapsed(),
        "loadavg_1min_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "foreign_cpu_fraction": watch.foreign_fraction(),
    }


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------


def fmt(v, spec=".2f", none="-"):
    """``v`` formatted with ``spec``, or ``none`` for None."""
    return none if v is None else format(v, spec)


def table(headers, rows, align=None):
    """A text table: columns padded, ``align`` one letter per column (``l`` or ``r``)."""
    cols = [headers] + [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    a = align or "l" * len(headers)
    line = lambda r: "  ".join(c.rjust(w[i]) if a[i] == "r" else c.ljust(w[i]) for i, c in enumerate(r))
    return "\n".join([line(headers), "  ".join("-" * x for x in w)] + [line(r) for r in cols[1:]])


def machine_line(meta):
    """CPU, cores, SIMD flags, ISA path, OpenMP, versions and date of a result's ``meta``."""
    mhz = f" ~{meta['cpu_mhz'] / 1000:.2f} GHz" if meta.get("cpu_mhz") else ""
    v = meta["versions"]
    extra = "".join(f", {k} {v[k]}" for k in v if k not in ("fastdrop", "numpy", "python"))
    return (f"{meta['cpu']}{mhz}, {meta['cores']} cores ({', '.join(meta['simd_flags']) or 'no AVX'}), "
            f"fastdrop ISA path {'/'.join(meta['isa'])}, OpenMP {'on' if meta['openmp'] else 'off'}; "
            f"fastdrop {v['fastdrop']}, NumPy {v['numpy']}, Python {v['python']}{extra}; {meta['date']}")


def busy_note(meta):
    """A warning when other processes took >= 5% of the CPU time during the run, else None."""
    f = meta.get("foreign_cpu_fraction")
    if f is None or f < 0.05:
        return None
    return (f"note: other processes used {100 * f:.0f}% of the machine's CPU time during this run; "
            "multi-threaded figures (a thread waiting for a busy core) are unreliable: re-run on an idle machine")


BASELINES_HINT = ("PyTorch, numba and timm comparisons, the README tables and plots: "
                  "python benchmarks/report.py in fastdrop's source tree (benchmarks/ is not installed)")


def render_text(res, struct_columns=(), struct_note="", sections=(), hint=BASELINES_HINT):
    """The text tables of a result. ``struct_columns``: more ``(header, align, fn(row))`` columns
    of the structured table (before "check"), ``struct_note``: more words for its title,
    ``sections``: more text blocks after it, ``hint``: the line before the command (None: none);
    ``benchmarks/report.py`` adds its comparisons with them."""
    meta = res["meta"]
    out = [f"fastdrop.bench: {machine_line(meta)}",
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
             fmt(r["gelem_s"], ".3f"), fmt(r["gb_s"], ".1f"), fmt(r["gelem_s_per_core"], ".3f"),
             fmt(r["roofline_ratio"]), fmt(r["numpy_ratio"], ".1f"), r["check"]]
            for r in res["rows"] if r.get("group") != "structured"]
    if rows:
        out += [table(hdr, rows, "lllllllrrrrrl"), ""]
    srows = [r for r in res["rows"] if r.get("group") == "structured"]
    if srows:
        out.append(f"Structured dropout (float32, p = {srows[0]['p']}; roofline = scaled copy of the same "
                   f"array{struct_note})")
        out.append(table(["op", "shape", "threads", "ISA", "G elem/s", "GB/s", "x roofline", "target"]
                         + [c[0] for c in struct_columns] + ["check"],
                         [[OP_LABELS.get(r["op"], r["op"]), "x".join(map(str, r["shape"])) if len(r["shape"]) > 1 else fmt_size(r["size"]),
                           r["threads"], r["isa"], fmt(r["gelem_s"], ".3f"), fmt(r["gb_s"], ".1f"),
                           fmt(r["roofline_ratio"]), STRUCT_TARGETS.get(r["op"], "")]
                          + [c[2](r) for c in struct_columns] + [r["check"]] for r in srows],
                         "llrlrrrl" + "".join(c[1] for c in struct_columns) + "l"))
        out.append("")
    for block in sections:
        out += [block, ""]
    if res["overhead"]:
        out.append("Per-call overhead: one 4096-element float32 dropout, kernel included")
        out.append(table(["call", "us per call", "x fastdrop dropout(x, p)", "check"],
                         [[o["label"].replace("`", ""), fmt(o["us_per_call"], ".2f"), fmt(o["vs_fastdrop"], ".2f"), o["check"]]
                          for o in res["overhead"]], "lrrl"))
        out.append("")
    if hint:
        out.append(hint)
    out.append(f"command: {meta['command']}  ({meta['elapsed_s']:.0f} s)")
    if busy_note(meta):
        out.append(busy_note(meta))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def add_profile_arguments(ap):
    """The options that say what to measure (shared with ``benchmarks/report.py``)."""
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
    ap.add_argument("--no-numpy", dest="numpy", action="store_false", help="skip the NumPy idiom")
    ap.add_argument("--no-transposed", dest="transposed", action="store_false",
                    help="skip the transposed 4096x4096 case")
    ap.add_argument("--no-overhead", dest="overhead", action="store_false",
                    help="skip the per-call overhead case")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': to stdout, "
                                                    "instead of the tables)")
    ap.add_argument("--load", metavar="FILE", help="render a saved --json result instead of measuring")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (for tests)")
    ap.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    return ap


# options of earlier versions whose work moved to benchmarks/report.py (source tree only)
MOVED = ("--baselines", "--markdown", "--update-readme", "--plot")


def build_parser():
    ap = argparse.ArgumentParser(
        prog="python -m fastdrop.bench",
        description="Per-core throughput profile of fastdrop against the scaled-copy roofline "
                    "and the NumPy idiom. Ratios come from kernels timed interleaved in one run. "
                    "The PyTorch, numba and timm comparisons, the README tables and the plots "
                    "are made by benchmarks/report.py in fastdrop's source tree.")
    add_profile_arguments(ap)
    ap.add_argument("--baselines", action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS)
    ap.add_argument("--markdown", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--update-readme", help=argparse.SUPPRESS)
    ap.add_argument("--plot", help=argparse.SUPPRESS)
    return ap


def resolve(opts, argv, prog="python -m fastdrop.bench"):
    """Fill in the defaults of parsed options (``argv``, after ``prog``, is the command shown)."""
    opts.command = " ".join([prog] + list(argv))
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
    opts.min_time = 0.0005 if opts.quick else 0.002
    opts.numpy_max = NUMPY_MAX
    opts.transposed_shape = (512, 512) if opts.quick else (4096, 4096)
    if opts.isa:
        bad = [i for i in opts.isa if not _core.isa_supported(i)]
        if bad:
            raise SystemExit(f"--isa {','.join(bad)}: not supported here "
                             f"(supported: {', '.join(fd.supported_isas())})")
    return opts


def load_json(path):
    """A result saved by ``--json``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(res, path):
    """Write a result as JSON to ``path`` ('-': stdout)."""
    if path == "-":
        json.dump(res, sys.stdout, indent=1)
        print()
        return
    with open(path, "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)


def failed_checks(res, prog="fastdrop.bench"):
    """1 (with a line on stderr) when any output check of the result failed, else 0."""
    failed = [r for r in res["rows"] + res["baselines"] + res["overhead"] if r["check"] == "FAILED"]
    if failed:
        print(f"{prog}: {len(failed)} output check(s) FAILED", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = resolve(build_parser().parse_args(argv), argv)
    moved = [flag for flag in MOVED if getattr(opts, flag[2:].replace("-", "_"))]
    if moved:
        print(f"fastdrop.bench: {', '.join(moved)} moved to benchmarks/report.py in fastdrop's source "
              "tree (python benchmarks/report.py [--full] [--update-readme README.md] [--plot FILE]); "
              "nothing was measured.", file=sys.stderr)
        return 2
    res = load_json(opts.load) if opts.load else run(opts)
    if opts.json:
        write_json(res, opts.json)
    if opts.json != "-":
        print(render_text(res))
    return failed_checks(res)


if __name__ == "__main__":
    sys.exit(main())
