"""The command line: ``python -m fastdrop.bench [options]``."""
from __future__ import annotations

import argparse
import json
import sys

import fastdrop as fd
from fastdrop import _config, _core

from ._defaults import (DEFAULT_SIZES, DTYPES, FULL_EXTRA_SIZES, NUMPY_MAX, OPS, P, QUICK_SIZES,
                        QUICK_STRUCT_FLAT, QUICK_STRUCT_SHAPE, STRUCT_FLAT, STRUCT_OPS, STRUCT_P,
                        STRUCT_SHAPE, parse_size)
from ._machine import max_threads
from ._profile import run
from ._text import render_text


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
        return max_threads()
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad thread count {text!r}: an integer or 'max'")
    if n < 1:
        raise argparse.ArgumentTypeError("thread counts must be >= 1")
    return n


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
                         f"p = {STRUCT_P}, the benchmark shapes: {'x'.join(map(str, STRUCT_SHAPE))} and "
                         f"2^24; --quick: small ones): {', '.join(STRUCT_OPS)}")
    ap.add_argument("--dtypes", type=_csv("dtype", DTYPES), default=list(DTYPES),
                    help="dtypes (default float32,float64,float16)")
    ap.add_argument("--isa", type=_csv("isa", _config.ISAS + ("all",)),
                    help="SIMD path(s) to profile, e.g. scalar,avx2, or all: every path this CPU "
                         "supports, side by side, with the default path flagged where another "
                         "is more than 10%% faster (default: the one in use)")
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
        description="Throughput profile of fastdrop (G elements/s, also per thread) against the scaled-copy roofline "
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
        opts.threads = sorted({1, max_threads()})
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
    if opts.isa and "all" in opts.isa:
        opts.isa = list(fd.supported_isas())
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
