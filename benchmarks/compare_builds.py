"""A/B timing of two fastdrop builds on this machine, interleaved, for changes to the kernels.

Each build is a source tree with its extension built in place (``python setup.py build_ext
--inplace``). Rounds alternate the two builds (A B, B A, ...), each round in fresh processes,
one per ISA path and thread count; every op is timed as the median of repeated calls inside
its process. The table gives, per op, the median over rounds of the per-round ratio new/old
(above 1.0: the new build is slower), so a machine whose speed drifts between rounds still
compares like with like.

    python benchmarks/compare_builds.py OLD_TREE NEW_TREE [--rounds 5] [--isa avx2 avx512]
        [--threads 1 2] [--only forward,backward_mask]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

# One process: time every op of OPS with one build, ISA and thread count; print JSON.
CHILD = textwrap.dedent(r"""
    import json, sys, time
    import numpy as np
    import fastdrop as fd

    isa, threads, reps, only = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    fd.set_isa(isa)
    fd.set_num_threads(threads)
    rng = np.random.default_rng(0)

    def arr(n, dtype=np.float32):
        return rng.standard_normal(n, dtype=np.float64).astype(dtype)

    x20, x24 = arr(1 << 20), arr(1 << 24)
    x16 = arr(1 << 16)
    h20, d20 = arr(1 << 20, np.float16), arr(1 << 20, np.float64)
    y24 = np.empty_like(x24)
    _, m24 = fd.dropout(x24, 0.5, seed=1, return_mask=True)
    t4096 = arr(1 << 24).reshape(4096, 4096).T
    maps = arr(8 * 64 * 56 * 56).reshape(8, 64, 56, 56)
    rows4 = arr(1 << 18).reshape(-1, 4)        # a window of 4-element rows
    rows16 = arr(1 << 18).reshape(-1, 16)
    w4 = ((rows4.shape[0], 8), (0, 2))
    w16 = ((rows16.shape[0], 32), (0, 5))

    OPS = {
        "forward 2^16": lambda: fd.dropout(x16, 0.5, seed=1),
        "forward 2^20": lambda: fd.dropout(x20, 0.5, seed=1),
        "forward 2^24": lambda: fd.dropout(x24, 0.5, seed=1, out=y24),
        "forward+mask 2^24": lambda: fd.dropout(x24, 0.5, seed=1, out=y24, return_mask=True),
        "backward mask 2^24": lambda: fd.dropout_backward(x24, 0.5, mask=m24, out=y24),
        "backward regen 2^24": lambda: fd.dropout_backward(x24, 0.5, seed=1, out=y24),
        "mask 2^24": lambda: fd.dropout_mask(1 << 24, 0.5, seed=1),
        "forward f16 2^20": lambda: fd.dropout(h20, 0.5, seed=1),
        "forward f64 2^20": lambda: fd.dropout(d20, 0.5, seed=1),
        "alpha 2^24": lambda: fd.alpha_dropout(x24, 0.5, seed=1, out=y24),
        "gaussian 2^24": lambda: fd.gaussian_dropout(x24, 0.5, seed=1, out=y24),
        "spatial 8x64x56x56": lambda: fd.spatial_dropout(maps, 0.5, seed=1),
        "dropblock 8x64x56x56": lambda: fd.dropblock(maps, 0.1, 7, seed=1),
        "transposed 4096^2": lambda: fd.dropout(t4096, 0.5, seed=1),
        "window rows of 4": lambda: fd.dropout(rows4, 0.5, seed=1, window=w4),
        "window rows of 16": lambda: fd.dropout(rows16, 0.5, seed=1, window=w16),
        "window alpha rows of 16": lambda: fd.alpha_dropout(rows16, 0.5, seed=1, window=w16),
        "window gaussian rows of 16": lambda: fd.gaussian_dropout(rows16, 0.5, seed=1,
                                                                  window=w16),
        "window mask rows of 4": lambda: fd.dropout_mask(rows4.shape, 0.5, seed=1, window=w4),
    }
    out = {}
    for name, fn in OPS.items():
        if only and not any(k in name for k in only.split(",")):
            continue
        fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = sorted(ts)[len(ts) // 2]
    print(json.dumps(out))
""")


def run(tree, isa, threads, reps, only):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, isa, str(threads), str(reps), only],
                       capture_output=True, text=True, env=env, cwd=os.path.abspath(tree))
    if r.returncode:
        raise SystemExit(f"{tree} ({isa}, {threads} threads) failed:\n{r.stderr}")
    return json.loads(r.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=15, help="calls per op per process (median)")
    ap.add_argument("--isa", nargs="+", default=["scalar", "avx2", "avx512"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--only", default="", help="comma-separated substrings of op names")
    a = ap.parse_args(argv)
    ratios = {}
    for rnd in range(a.rounds):
        for isa in a.isa:
            for t in a.threads:
                order = [a.old, a.new] if rnd % 2 == 0 else [a.new, a.old]
                res = {tree: run(tree, isa, t, a.reps, a.only) for tree in order}
                for op, t_old in res[a.old].items():
                    ratios.setdefault((op, isa, t), []).append(res[a.new][op] / t_old)
        print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)
    print(f"| op | ISA | threads | new/old time (median of {a.rounds} rounds) | range |")
    print("|---|---|---:|---:|---|")
    for (op, isa, t), rs in ratios.items():
        print(f"| {op} | {isa} | {t} | {statistics.median(rs):.3f} | "
              f"{min(rs):.2f}-{max(rs):.2f} |")


if __name__ == "__main__":
    main()
