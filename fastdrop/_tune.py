"""Measured dispatch: time the SIMD paths and store policies on this machine, keep the fastest.

:func:`tune` times every available path, with regular and with non-temporal (streaming)
stores, for each operation class (dropout's forward, a backward from a stored mask, alpha
dropout, Gaussian dropout, keep bits only), dtype and output size class, and saves the choice in
a small JSON file in the user's cache directory. At import fastdrop loads that file when it was
made on the same CPU (model, flags, paths) and fastdrop version, and ignores it otherwise.
Without it, the built-in choice applies: the widest path, and streaming stores for contiguous
outputs of at least the stream threshold (the OS's last-level cache size, clamped to 4-32 MiB).

Nothing here changes a bit of any result: every path and store policy gives the same bits.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Dict, Iterable, Optional

import numpy as np
from numpy.typing import DTypeLike

from fastdrop import _config
from fastdrop import _core
from fastdrop._version import __version__

__all__ = ["tune", "tune_file", "tuned", "set_stream_threshold", "get_stream_threshold"]

DTYPES = (np.float16, np.float32, np.float64)
_CODES = {np.dtype(np.float16): 0, np.dtype(np.float32): 1, np.dtype(np.float64): 2}
# Bytes of output timed for each size class (csrc/plan.h: < 256 KiB, < 4 MiB, < 32 MiB, more).
CLASS_BYTES = (64 << 10, 1 << 20, 16 << 20, 64 << 20)
CLASS_NAMES = ("< 256 KiB", "256 KiB - 4 MiB", "4 - 32 MiB", ">= 32 MiB")
# A candidate replaces the built-in choice only when it is at least this much faster.
MARGIN = 0.05
SAMPLE = 0.005  # seconds per timed sample (small outputs repeat the call)


# ---- the stream threshold ------------------------------------------------------------------

def _parse_bytes(text, name):
    units = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
             "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}
    t = text.strip().lower()
    num = t.rstrip("kmgtib")
    unit = t[len(num):]
    try:
        value = int(num)
    except ValueError:
        value = -1
    if value < 0 or unit not in units:
        raise ValueError(f"{name} must be a byte count such as 33554432, 32M or 32MiB; got {text!r}")
    return value * units[unit]


def set_stream_threshold(nbytes: Optional[int] = None) -> None:
    """Write contiguous outputs of at least ``nbytes`` bytes with streaming stores.

    Non-temporal (streaming) stores bypass the caches: faster for an output that does not fit
    in the last-level cache, slower for one that is read again soon. ``None`` restores the
    built-in threshold (the OS's last-level cache size clamped to [4 MiB, 32 MiB]); the
    environment variable ``FASTDROP_STREAM_THRESHOLD`` sets it at import. A tuned plan
    (:func:`tune`) decides per size class and wins over the threshold. Results never change.
    """
    if nbytes is None:
        nbytes = _core.stream_threshold_default()
    if isinstance(nbytes, (bool, np.bool_)) or not isinstance(nbytes, (int, np.integer)):
        raise TypeError(f"nbytes must be an int or None; got {type(nbytes).__name__}")
    if nbytes < 1:
        raise ValueError(f"nbytes must be >= 1; got {nbytes}")
    _core.set_stream_threshold(int(nbytes))


def get_stream_threshold() -> int:
    """The byte size from which outputs without a tuned plan entry are streamed."""
    return _core.stream_threshold()


# ---- the CPU signature and the file ---------------------------------------------------------

def _cpuinfo():
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "flags", "Features", "CPU part", "vendor_id") \
                        and key not in fields:
                    fields[key] = value.strip()
    except OSError:
        pass
    return fields


def cpu_signature():
    """What identifies this machine's CPU for a saved plan (a plan from another one is ignored)."""
    info = _cpuinfo()
    flags = " ".join(sorted((info.get("flags") or info.get("Features") or "").split()))
    return {
        "machine": platform.machine(),
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
        "paths": [i for i in _core.ISA_NAMES if _core.isa_supported(i)],
        "fastdrop": __version__,
    }


def tune_file():
    """Where the plan is saved: ``FASTDROP_TUNE_FILE`` if set, else ``fastdrop/tune.json`` in the
    user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``; ``~/Library/Caches`` on macOS;
    ``%LOCALAPPDATA%`` on Windows). ``FASTDROP_TUNE_FILE=""`` turns loading and saving off."""
    env = os.environ.get("FASTDROP_TUNE_FILE")
    if env is not None:
        return env or None
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "fastdrop", "tune.json")


def tuned():
    """Where the plan in use comes from: a dict with ``file`` (or None) and ``status``."""
    return _config.plan_source()


def _apply(entries):
    _core.plan_clear()
    for e in entries:
        _core.plan_set(e["op"], _CODES[np.dtype(e["dtype"])], int(e["size_class"]), e["isa"],
                       int(e["stream"]))


def load(path=None):
    """Apply the saved plan if it was made on this CPU (called at import). Returns its status."""
    path = tune_file() if path is None else path
    _core.plan_clear()
    _config.set_plan_source("built in (no tuning file)")
    if not path or not os.path.exists(path):
        return tuned()["status"]
    try:
        with open(path) as f:
            saved = json.load(f)
        if saved.get("signature") != cpu_signature():
            _config.set_plan_source(
                f"built in ({path} was tuned on another CPU or fastdrop version)")
            return tuned()["status"]
        _apply(saved["plan"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        _core.plan_clear()
        _config.set_plan_source(f"built in ({path} unreadable: {e})")
        return tuned()["status"]
    _config.set_plan_source(f"tuned ({path})", path)
    return tuned()["status"]


def init_from_environment():
    """At import: ``FASTDROP_STREAM_THRESHOLD`` (bytes, or with a K/M/G suffix), then the saved
    plan of this CPU. A malformed threshold is an error, not silently ignored."""
    env = os.environ.get("FASTDROP_STREAM_THRESHOLD")
    if env:
        nbytes = _parse_bytes(env, "FASTDROP_STREAM_THRESHOLD")
        if nbytes < 1:
            raise ValueError(f"FASTDROP_STREAM_THRESHOLD must be >= 1 byte; got {env!r}")
        _core.set_stream_threshold(nbytes)
    load()


# ---- measuring -----------------------------------------------------------------------------

def _op_call(op, dtype, nbytes, rng):
    """A zero-argument call of one operation class writing about nbytes of output."""
    from fastdrop._alpha import alpha_dropout
    from fastdrop._dropout import dropout, dropout_backward, dropout_mask
    from fastdrop._gaussian import gaussian_dropout

    es = np.dtype(dtype).itemsize
    if op == "bits":  # the output is the packed mask: n / 8 bytes
        n = nbytes * 8
        return n, lambda: dropout_mask((n,), 0.5, seed=1)
    n = max(nbytes // es, 64)
    x = rng.standard_normal(n, dtype=np.float32).astype(dtype)
    y = np.empty_like(x)
    if op == "draw":
        return n, lambda: dropout(x, 0.5, seed=1, out=y)
    if op == "stored":
        _, m = dropout(x, 0.5, seed=1, return_mask=True)
        return n, lambda: dropout_backward(x, 0.5, mask=m, out=y)
    if op == "affine":
        return n, lambda: alpha_dropout(x, 0.1, seed=1, out=y)
    return n, lambda: gaussian_dropout(x, 0.1, seed=1, out=y)


def _candidates(op):
    paths = [i for i in _core.ISA_NAMES if _core.isa_supported(i)]
    out = []
    for isa in paths:
        out.append((isa, 0))
        if op != "bits" and _core.isa_streams(isa):
            out.append((isa, 1))
    return out


def _builtin(op, nbytes):
    best = _core.isa_best()
    stream = int(op not in ("bits", "noise") and _core.isa_streams(best)
                 and nbytes >= _core.stream_threshold())
    return best, stream


def tune(*, ops: Optional[Iterable[str]] = None, dtypes: Optional[Iterable[DTypeLike]] = None,
         size_classes: Optional[Iterable[int]] = None, repeat: int = 5, save: bool = True,
         path: Optional[str] = None, verbose: bool = False) -> Dict[str, Any]:
    """Time every SIMD path and store policy on this machine and use the fastest.

    For each operation class (``"draw"``: dropout's forward and the regenerated backward;
    ``"stored"``: backwards from a packed mask; ``"affine"``: alpha dropout; ``"noise"``:
    Gaussian dropout; ``"bits"``: the mask only), dtype and output size class, every available
    path is timed with regular and with streaming stores, interleaved, ``repeat`` times; a
    candidate replaces the built-in choice only when its median is at least 5% faster. The
    plan takes effect at once and, with ``save``, is written to :func:`tune_file` (or ``path``)
    for later imports on the same CPU. Takes about a minute with the defaults.

    Results never depend on the plan: every path and store policy gives the same bits. A path
    forced with ``FASTDROP_ISA`` or :func:`set_isa` wins over the plan's path.

    Returns
    -------
    dict
        ``{"signature": ..., "plan": [entries], "timings": [rows]}``; each row names the op,
        dtype, size class and the median seconds of every candidate.
    """
    ops = _core.PLAN_OPS if ops is None else tuple(ops)
    for op in ops:
        if op not in _core.PLAN_OPS:
            raise ValueError(f"ops must be among {_core.PLAN_OPS}; got {op!r}")
    dtypes = DTYPES if dtypes is None else tuple(np.dtype(d).type for d in dtypes)
    for d in dtypes:
        if np.dtype(d) not in _CODES:
            raise TypeError(f"dtypes must be float16, float32 or float64; got {np.dtype(d)}")
    classes = range(_core.PLAN_SIZES) if size_classes is None else tuple(size_classes)
    for c in classes:
        if c not in range(_core.PLAN_SIZES):
            raise ValueError(f"size_classes must be in range({_core.PLAN_SIZES}); got {c!r}")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be an int >= 1; got {repeat!r}")
    if _core.isa_forced():
        raise RuntimeError("a SIMD path is forced (FASTDROP_ISA or fastdrop.set_isa): "
                           "unset it (fastdrop.set_isa(None)) before tuning")
    rng = np.random.default_rng(0)
    _core.plan_clear()
    plan, rows = [], []
    for op in ops:
        # the mask alone has no dtype: timed once (as float32), planned for every dtype
        for dtype in ((np.float32,) if op == "bits" else dtypes):
            code = _CODES[np.dtype(dtype)]
            for c in classes:
                n, call = _op_call(op, dtype, CLASS_BYTES[c], rng)
                cands = _candidates(op)
                times: Dict[Any, list] = {cand: [] for cand in cands}
                reps = 1  # calls per sample: a sample lasts at least SAMPLE seconds
                for r in range(repeat + 1):  # round 0 warms up and sets reps
                    order = cands if r % 2 else cands[::-1]
                    for isa, stream in order:
                        _core.plan_set(op, code, c, isa, stream)
                        t = time.perf_counter()
                        for _ in range(reps):
                            call()
                        dt = time.perf_counter() - t
                        if r:
                            times[(isa, stream)].append(dt / reps)
                        else:
                            reps = max(reps, min(1000, int(SAMPLE / max(dt, 1e-7)) + 1))
                _core.plan_set(op, code, c, None, -1)
                med = {cand: statistics.median(v) for cand, v in times.items()}
                base = _builtin(op, CLASS_BYTES[c])
                best = min(med, key=lambda k: med[k])
                choice = best if med[best] < (1 - MARGIN) * med[base] else base
                entry = {"op": op, "dtype": np.dtype(dtype).name, "size_class": c,
                         "isa": choice[0], "stream": choice[1]}
                for d in (DTYPES if op == "bits" else (dtype,)):
                    plan.append({**entry, "dtype": np.dtype(d).name})
                    _core.plan_set(op, _CODES[np.dtype(d)], c, *choice)
                rows.append({**entry, "elements": n, "builtin": list(base),
                             "seconds": {f"{i}{'+stream' if s else ''}": t
                                         for (i, s), t in med.items()}})
                if verbose:
                    print(_row_text(rows[-1]), flush=True)
    result = {"signature": cpu_signature(), "plan": plan, "timings": rows}
    # a partial tuning keeps the rest of a saved plan
    path = tune_file() if path is None else path
    if save and path:
        merged = _merge_saved(path, plan)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({**result, "plan": merged}, f, indent=1)
        os.replace(tmp, path)
        _apply(merged)
        _config.set_plan_source(f"tuned ({path})", path)
    else:
        _config.set_plan_source("tuned in this process (not saved)")
    return result


def _merge_saved(path, plan):
    try:
        with open(path) as f:
            saved = json.load(f)
        if saved.get("signature") != cpu_signature():
            return plan
        keys = {(e["op"], e["dtype"], e["size_class"]) for e in plan}
        return [e for e in saved["plan"]
                if (e["op"], e["dtype"], e["size_class"]) not in keys] + plan
    except (OSError, ValueError, KeyError, TypeError):
        return plan


def _row_text(row):
    secs = row["seconds"]
    base = f"{row['builtin'][0]}{'+stream' if row['builtin'][1] else ''}"
    pick = f"{row['isa']}{'+stream' if row['stream'] else ''}"
    cells = "  ".join(f"{k} {secs[base] / v:4.2f}" for k, v in secs.items())
    return (f"{row['op']:<7} {row['dtype']:<8} {CLASS_NAMES[row['size_class']]:<16} "
            f"chosen {pick:<15} (speed vs built-in {base}: {cells})")


def reset(path=None):
    """Forget the plan: back to the built-in choice, and remove the saved file."""
    path = tune_file() if path is None else path
    _core.plan_clear()
    if path and os.path.exists(path):
        os.remove(path)
    _config.set_plan_source("built in (no tuning file)")


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m fastdrop.tune",
        description="Time fastdrop's SIMD paths and store policies on this machine and save the "
                    "fastest choice per operation, dtype and size (results never change).")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per candidate (median)")
    ap.add_argument("--ops", nargs="+", choices=_core.PLAN_OPS, help="operation classes")
    ap.add_argument("--dtypes", nargs="+", choices=["float16", "float32", "float64"])
    ap.add_argument("--no-save", action="store_true", help="measure and print only")
    ap.add_argument("--show", action="store_true", help="print the plan in use and exit")
    ap.add_argument("--reset", action="store_true", help="remove the saved plan and exit")
    a = ap.parse_args(argv)
    if a.reset:
        reset()
        print(f"removed the saved plan; using the built-in choice ({tune_file()})")
        return 0
    if a.show:
        print(f"plan: {tuned()['status']}")
        print(f"stream threshold (without a plan entry): {get_stream_threshold()} bytes")
        for op in _core.PLAN_OPS:
            for d in DTYPES:
                for c in range(_core.PLAN_SIZES):
                    isa, st = _core.plan_choice(op, _CODES[np.dtype(d)], CLASS_BYTES[c])
                    print(f"  {op:<7} {np.dtype(d).name:<8} {CLASS_NAMES[c]:<16} {isa}"
                          f"{' + streaming stores' if st else ''}")
        return 0
    print(f"tuning fastdrop on {cpu_signature()['cpu']} "
          f"(paths: {', '.join(cpu_signature()['paths'])}); speeds relative to the built-in choice")
    tune(ops=a.ops, dtypes=a.dtypes, repeat=a.repeat, save=not a.no_save, verbose=True)
    print(f"plan: {tuned()['status']}")
    return 0
