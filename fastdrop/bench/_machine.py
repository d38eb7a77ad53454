"""The machine a result was measured on: CPU model, clock, cores and SIMD flags (/proc on
Linux), fastdrop's ISA path and threads, versions, and the busy check (CPU time other processes
took during the run)."""
from __future__ import annotations

import datetime
import os
import platform
import time

import numpy as np

import fastdrop as fd
from fastdrop import _core

from ._defaults import SEED, STRUCT_P


def max_threads():
    return _core.max_threads() if _core.openmp_enabled() else 1


def ncores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def physical_cores():
    """Physical cores among the CPUs this process may run on (SMT siblings counted once), from
    /sys/devices/system/cpu/cpu*/topology; None where that is not available."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return None
    cores = set()
    for c in cpus:
        base = f"/sys/devices/system/cpu/cpu{c}/topology/"
        for name in ("core_cpus_list", "thread_siblings_list"):
            try:
                with open(base + name) as f:
                    cores.add(f.read().strip())
                break
            except OSError:
                continue
        else:
            return None
    return len(cores) or None


def _cpuinfo(key):
    """The value of the first line of /proc/cpuinfo that starts with ``key``, or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model():
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags():
    return set((_cpuinfo("flags") or "").split())


def cpu_mhz():
    try:
        return float(_cpuinfo("cpu MHz"))
    except (TypeError, ValueError):
        return None


def cpu_busy():
    """(machine-wide busy CPU seconds, this process's CPU seconds), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(v) - v[3] - (v[4] if len(v) > 4 else 0)
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system


class Watch:
    """Wall time since it was made, and the share of the machine's CPU time that other
    processes took meanwhile (the busy check; None off Linux)."""

    def __init__(self):
        self.t0, self.cpu0 = time.perf_counter(), cpu_busy()

    def elapsed(self):
        return time.perf_counter() - self.t0

    def foreign_fraction(self):
        end, elapsed = cpu_busy(), self.elapsed()
        if not (self.cpu0 and end):
            return None
        # CPU time other processes took while we ran, per core-second
        return max(0.0, ((end[0] - self.cpu0[0]) - (end[1] - self.cpu0[1])) / (elapsed * ncores()))


def run_meta(opts, watch):
    """A result's ``meta``: the command, the machine, what was measured, elapsed time and the
    busy check (``watch``: a :class:`Watch` started with the run)."""
    flags = cpu_flags()
    vers = {"fastdrop": fd.__version__, "numpy": np.__version__, "python": platform.python_version()}
    return {
        "command": opts.command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cpu_mhz": cpu_mhz(),
        "cores": ncores(),  # logical CPUs this process may use
        "physical_cores": physical_cores(),
        "machine": platform.machine(),
        "system": platform.system(),
        "simd_flags": [f for f in ("avx512f", "avx2", "fma", "f16c") if f in flags],
        "isa": opts.isa or [fd.get_isa()],
        "isa_default": fd.get_isa(),  # the path calls take unless told otherwise
        "isa_best": _core.isa_best(),
        "openmp": _core.openmp_enabled(),
        "max_threads": max_threads(),
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


def machine_line(meta):
    """CPU, cores, SIMD flags, ISA path, OpenMP, versions and date of a result's ``meta``."""
    mhz = f" ~{meta['cpu_mhz'] / 1000:.2f} GHz" if meta.get("cpu_mhz") else ""
    v = meta["versions"]
    extra = "".join(f", {k} {v[k]}" for k in v if k not in ("fastdrop", "numpy", "python"))
    phys = meta.get("physical_cores")
    cores = (f"{meta['cores']} cores" if phys in (None, meta["cores"])
             else f"{meta['cores']} logical CPUs on {phys} physical cores")
    return (f"{meta['cpu']}{mhz}, {cores} ({', '.join(meta['simd_flags']) or 'no AVX'}), "
            f"fastdrop ISA path {'/'.join(meta['isa'])}, OpenMP {'on' if meta['openmp'] else 'off'}; "
            f"fastdrop {v['fastdrop']}, NumPy {v['numpy']}, Python {v['python']}{extra}; {meta['date']}")


def busy_note(meta):
    """A warning when other processes took >= 5% of the CPU time during the run, else None."""
    f = meta.get("foreign_cpu_fraction")
    if f is None or f < 0.05:
        return None
    return (f"note: other processes used {100 * f:.0f}% of the machine's CPU time during this run; "
            "multi-threaded figures (a thread waiting for a busy core) are unreliable: re-run on an idle machine")
