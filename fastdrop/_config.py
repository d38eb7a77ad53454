"""Threads, SIMD path and build information."""
from __future__ import annotations

import os
import platform
from typing import Any, Dict, Optional, Tuple

import numpy as np

from fastdrop import _core
from fastdrop import _validate as V
from fastdrop._version import __version__

ISAS = _core.ISA_NAMES  # named once, in csrc/isa/ (each table's name)
_VECTOR_UNIT = {"x86_64": "SSE2", "amd64": "SSE2", "aarch64": "NEON", "arm64": "NEON",
                "ppc64le": "VSX", "ppc64": "VSX"}


def describe_isa(name: str) -> str:
    """What the SIMD path `name` runs on this machine, in a few words."""
    if name == "vector":
        unit = _VECTOR_UNIT.get(platform.machine().lower())
        return f"portable vector code, {unit} here" if unit else "portable vector code"
    return {"scalar": "plain C, the definition of the bits", "avx2": "AVX2 + F16C",
            "avx512": "AVX-512 F/BW/DQ/VL", "neon": "AArch64 NEON"}.get(name, name)


_num_threads: Optional[int] = None  # None: follow omp_get_max_threads() on every call
# Where the plan in use (SIMD path and store policy per call class) comes from; fastdrop._tune
# sets it when it loads, makes or forgets a plan.
_plan: Dict[str, Any] = {"status": "built in (no tuning file)", "file": None}


def set_plan_source(status: str, file: Optional[str] = None) -> None:
    _plan.update(status=status, file=file)


def plan_source() -> Dict[str, Any]:
    """Where the plan in use comes from: ``{"status": text, "file": path or None}``."""
    return dict(_plan)


def set_num_threads(n: Optional[int]) -> None:
    """Use ``n`` threads in every kernel call; ``None`` returns to the default.

    The default is resolved per call from ``omp_get_max_threads()``, so ``OMP_NUM_THREADS``
    and ``threadpoolctl.threadpool_limits`` apply. The thread count never changes results.
    """
    global _num_threads
    _num_threads = None if n is None else V.integer(n, "n", 1, 1 << 16)


def get_num_threads() -> int:
    """The number of threads the next kernel call may use (1 in a build without OpenMP)."""
    if not _core.openmp_enabled():
        return 1
    return _num_threads if _num_threads is not None else _core.max_threads()


def _check_isa_env() -> None:
    """FASTDROP_ISA must name a path this CPU runs: anything else is an error (at import)."""
    status = _core.isa_env_status()
    if status == 0:
        return
    name = os.environ.get("FASTDROP_ISA", "")
    runs = ", ".join(supported_isas())
    if status == 1:
        raise ValueError(f"FASTDROP_ISA={name!r} is not a fastdrop SIMD path: use one of "
                         f"{', '.join(ISAS)} (this CPU runs {runs}), or unset it")
    raise ValueError(f"FASTDROP_ISA={name!r}: this CPU (or this build of fastdrop) does not run "
                     f"the {name} path; it runs {runs}. Unset FASTDROP_ISA for the best one")


def get_isa() -> str:
    """The SIMD path in use: 'scalar', 'vector', 'avx2', 'avx512' or 'neon'."""
    return _core.isa_get()


def supported_isas() -> Tuple[str, ...]:
    """The SIMD paths this CPU and build support, narrowest first."""
    return tuple(i for i in ISAS if _core.isa_supported(i))


def set_isa(name: Optional[str] = None) -> None:
    """Force a SIMD path ('scalar', 'vector', 'avx2', 'avx512', 'neon'); ``None`` picks the
    widest supported.

    Every path gives the same bits; this is for profiling and testing. The environment
    variable ``FASTDROP_ISA`` does the same at import (a name that is not a path, or a path
    this CPU does not run, makes the import fail with a ValueError). A forced path wins over a
    tuned plan (:func:`fastdrop.tune`); ``None`` lets the plan choose again.
    """
    if name is None:  # the widest path; a tuned plan's choices apply again
        _core.isa_reset()
        return
    if name not in ISAS:
        raise ValueError(f"isa must be one of {ISAS} or None; got {name!r}")
    if not _core.isa_set(name):
        raise ValueError(
            f"isa {name!r} is not supported by this CPU; supported: {', '.join(supported_isas())}"
        )


def config() -> Dict[str, Any]:
    """Build and runtime configuration as a dict."""
    return {
        "version": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "openmp": _core.openmp_enabled(),
        "threads": get_num_threads(),
        "isa": get_isa(),
        "isa_description": describe_isa(get_isa()),
        "isa_best": _core.isa_best(),
        "isa_supported": supported_isas(),
        "parallel_threshold": _core.parallel_threshold(),
        "stream_threshold": _core.stream_threshold(),
        "plan": _plan["status"],
    }


def show_config() -> None:
    """Print the configuration: version, OpenMP, threads and the SIMD path in use."""
    c = config()
    print(f"fastdrop {c['version']} (numpy {c['numpy']}, Python {c['python']}, {c['machine']})")
    print(f"  openmp:   {c['openmp']}" + ("" if c["openmp"] else "  (built without OpenMP: serial)"))
    print(f"  threads:  {c['threads']}")
    print(f"  isa:      {c['isa']} ({c['isa_description']}; best: {c['isa_best']}; "
          f"supported: {', '.join(c['isa_supported'])})")
    print(f"  parallel above {c['parallel_threshold']} elements")
    print(f"  streaming stores from {c['stream_threshold']} bytes of output; plan: {c['plan']}")


_check_isa_env()
