"""Runnable examples: ``python -m fastdrop.demo NAME [--plot FILE.png] [options]``.

=================  ==================================================================
churn              inverted dropout by hand on a 2->4->1 network; dropout-rate sweep
overfit            the overfitting explorer: loss curves and decision boundaries
mc                 MC dropout uncertainty on 1-D regression
scaling            inverted vs naive scaling; the rate table (0.5 -> 2x, 0.8 -> 5x)
variance-shift     dropout before batch norm: train / inference variance (Li et al.)
=================  ==================================================================

Each demo module has ``run(**options)`` (returns the numbers), ``report(result)`` (the
printed table), ``plot(result, path)`` and ``main(argv)``.
"""
from __future__ import annotations

import importlib
import sys

DEMOS = {
    "churn": "churn",
    "overfit": "overfit",
    "mc": "mc",
    "scaling": "scaling",
    "variance-shift": "variance_shift",
}


def load(name):
    """The demo module for ``name`` (``variance-shift`` and ``variance_shift`` both work)."""
    key = name.replace("_", "-")
    if key not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; choose from {', '.join(DEMOS)}")
    return importlib.import_module(f"fastdrop.demo.{DEMOS[key]}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "list"):
        print("usage: python -m fastdrop.demo NAME [--plot FILE.png] [options]\n\ndemos:")
        for name in DEMOS:
            doc = (load(name).__doc__ or "").strip().splitlines()[0]
            print(f"  {name:15s} {doc.split(': ', 1)[-1]}")
        print("\n`python -m fastdrop.demo NAME --help` lists a demo's options.")
        return 0
    try:
        mod = load(argv[0])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mod.main(argv[1:])
    return 0
