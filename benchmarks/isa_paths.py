"""Every SIMD path this CPU runs against the NumPy idiom, interleaved in one process: the figures of
the README's "CPU families" section.

    OMP_NUM_THREADS=1 python benchmarks/isa_paths.py [--size 2^20] [--repeat 21] [--dtype float32]

Each repetition times ``fd.dropout(x, 0.5, seed=..., out=y)`` once on every path (switched with
``fd.set_isa``) and the NumPy idiom ``x * (rng.random(x.shape, dtype=np.float32) >= p) / (1 - p)``
once, in turn, so that a busy neighbour slows them all alike; the table gives medians, and each
path's speed-up over the NumPy idiom and over the scalar path. One thread.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import fastdrop as fd
from fastdrop.bench import fmt_size, parse_size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="2^20", help="elements (default 2^20)")
    ap.add_argument("--repeat", type=int, default=21, help="interleaved repetitions (default 21)")
    ap.add_argument("--dtype", default="float32", choices=("float16", "float32", "float64"))
    ap.add_argument("--p", type=float, default=0.5)
    opts = ap.parse_args(argv)
    n, p, dt = parse_size(opts.size), opts.p, np.dtype(opts.dtype)
    fd.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal(n).astype(dt)
    y = np.empty_like(x)
    rng = np.random.default_rng(1)
    isas = fd.supported_isas()
    default = fd.get_isa()

    def run_fd(isa):
        fd.set_isa(isa)
        t = time.perf_counter()
        fd.dropout(x, p, seed=7, out=y)
        return time.perf_counter() - t

    def run_numpy():
        t = time.perf_counter()
        x * (rng.random(x.shape, dtype=np.float32) >= p) / (1 - p)
        return time.perf_counter() - t

    times = {k: [] for k in (*isas, "numpy")}
    for _ in range(2):  # warm-up
        for isa in isas:
            run_fd(isa)
        run_numpy()
    for _ in range(opts.repeat):
        for isa in isas:
            times[isa].append(run_fd(isa))
        times["numpy"].append(run_numpy())
    fd.set_isa(default)

    med = {k: statistics.median(v) for k, v in times.items()}
    c = fd.config()
    print(f"dropout forward, {fmt_size(n)} {dt.name}, p = {p}, 1 thread, median of {opts.repeat} "
          f"interleaved repetitions; {c['machine']}, default path {default}")
    print(f"{'path':<16}{'ms':>8}{'G elem/s':>10}{'x NumPy':>9}{'x scalar':>10}")
    for k in (*isas, "numpy"):
        name = "NumPy idiom" if k == "numpy" else k
        print(f"{name:<16}{med[k] * 1e3:8.3f}{n / med[k] / 1e9:10.3f}"
              f"{med['numpy'] / med[k]:9.2f}{med['scalar'] / med[k]:10.2f}")


if __name__ == "__main__":
    main()
