"""``python -m fastdrop.bench``: the throughput profile of fastdrop (per call and per thread).

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

from ._check import check_mask, check_struct, check_values, check_windows
from ._cli import (add_profile_arguments, build_parser, failed_checks, load_json, main, resolve,
                   write_json)
from ._defaults import (CHECK_WINDOW, DEFAULT_SIZES, DROPBLOCK_SIZE, DTYPES, FULL_CHECK_MAX,
                        FULL_EXTRA_SIZES, NUMPY_MAX, OP_LABELS, OPS, P, QUICK_SIZES,
                        QUICK_STRUCT_FLAT, QUICK_STRUCT_SHAPE, SEED, STRUCT_FLAT, STRUCT_OPS,
                        STRUCT_P, STRUCT_SHAPE, STRUCT_TARGETS, fmt_size, parse_size)
from ._machine import Watch, busy_note, cpu_model, machine_line
from ._profile import numpy_idiom, run
from ._text import BASELINES_HINT, fmt, isa_guard, render_text, table
from ._timing import Kernel, measure

__all__ = [
    # running and the command line
    "main", "run", "resolve", "build_parser", "add_profile_arguments", "load_json", "write_json",
    "failed_checks",
    # what is measured
    "OPS", "OP_LABELS", "STRUCT_OPS", "STRUCT_SHAPE", "STRUCT_FLAT", "QUICK_STRUCT_SHAPE",
    "QUICK_STRUCT_FLAT", "STRUCT_P", "DROPBLOCK_SIZE", "STRUCT_TARGETS", "DTYPES", "DEFAULT_SIZES",
    "FULL_EXTRA_SIZES", "QUICK_SIZES", "NUMPY_MAX", "FULL_CHECK_MAX", "CHECK_WINDOW", "SEED", "P",
    "fmt_size", "parse_size", "numpy_idiom",
    # timing and checks
    "Kernel", "measure", "check_windows", "check_values", "check_mask", "check_struct",
    # machine and text output
    "Watch", "cpu_model", "machine_line", "busy_note", "render_text", "table", "fmt", "BASELINES_HINT",
    "isa_guard",
]
