"""The profile's groups (element-wise ops x dtype x size, structured ops, a transposed input,
the per-call cost), each timing fastdrop against the roofline and the NumPy idiom, and
:func:`run`, which runs them."""
from __future__ import annotations

import sys

import numpy as np

import fastdrop as fd
from fastdrop import _config, _core, reference

from ._check import check_mask, check_struct, check_values, check_windows, same, struct_calls
from ._defaults import SEED, STRUCT_OPS, STRUCT_P, fmt_size
from ._machine import Watch, run_meta
from ._timing import Kernel, measure


def numpy_idiom(x, p, rng):
    """The NumPy idiom: ``x * (rng.random(x.shape, dtype=x.dtype) >= p) / (1 - p)``.

    ``Generator.random`` has no float16, so float16 inputs draw float32 uniforms (the product
    stays float16).
    """
    dt = x.dtype if x.dtype != np.float16 else np.float32
    return x * (rng.random(x.shape, dtype=dt) >= p) / (1 - p)


def _bytes_moved(op, n, itemsize):
    mask_bytes = (n + 7) // 8
    return ({o: 2 * n * itemsize for o in STRUCT_OPS} | {
        "forward": 2 * n * itemsize,
        "backward_regen": 2 * n * itemsize,
        "forward_mask": 2 * n * itemsize + mask_bytes,
        "backward_mask": 2 * n * itemsize + mask_bytes,
        "mask": mask_bytes,
        "roofline": 2 * n * itemsize,
        "roofline_streaming": 2 * n * itemsize,
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


# The plan's class of each timed op (fastdrop.tune): which path and store policy it runs with.
_PLAN_CLASS = {"forward": "draw", "forward_mask": "draw", "backward_regen": "draw",
               "backward_mask": "stored", "mask": "bits", "alpha_dropout": "affine",
               "gaussian_dropout": "noise", "spatial_dropout": "stored", "drop_path": "stored",
               "dropblock": "stored", "dropblock_shared": "stored"}
_DTYPE_CODE = {"float16": 0, "float32": 1, "float64": 2}


def _stores(op, dtype, n, layout):
    """'streaming' when a fastdrop op wrote its output with streaming stores, else 'regular'."""
    isz = np.dtype(dtype).itemsize if dtype != "-" else 0
    opc = _PLAN_CLASS.get(op)
    if opc is None or opc == "bits" or layout != "C":
        return "regular"
    return "streaming" if _core.plan_choice(opc, _DTYPE_CODE.get(dtype, 1), n * isz)[1] else "regular"


def _row(op, dtype, n, t, isa, sec, layout="C", impl="fastdrop", check="bitwise-equal"):
    isz = np.dtype(dtype).itemsize if dtype != "-" else 0
    used = _threads_used(n, t) if impl in ("fastdrop", "roofline", "roofline_streaming") else (1 if impl == "numpy" else t)
    geps = n / sec / 1e9
    return {
        "op": op, "impl": impl, "dtype": dtype, "layout": layout, "size": n, "threads": t,
        "threads_used": used, "isa": isa, "seconds": sec, "gelem_s": geps,
        "gb_s": _bytes_moved(op if impl == "fastdrop" else impl, n, isz if op != "mask" else 0) / sec / 1e9,
        "gelem_s_per_thread": geps / used, "roofline_ratio": None, "numpy_ratio": None,
        "check": check,
        "stores": _stores(op, dtype, n, layout) if impl == "fastdrop" else
        "streaming" if impl == "roofline_streaming" else "regular",
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
    # the streaming roofline writes its own array: its stores evict their lines from the caches,
    # which would slow whatever wrote y next in an in-cache case
    ys = np.empty_like(x)
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
        want = (x.astype(reference.compute_dtype(dt)) * reference.scale_for(p, dt)).astype(dt)
        for kind, out, streaming in (("roofline", y, False), ("roofline_streaming", ys, True)):
            out.fill(np.nan)
            _core.scaled_copy(x, out, scale, t, streaming)
            checks[(kind, t)] = same(out, want)

    kernels = []
    for t in threads:
        kernels.append(Kernel(("roofline", t), lambda t=t: _core.scaled_copy(x, y, scale, t)))
        kernels.append(Kernel(("roofline_streaming", t),
                              lambda t=t: _core.scaled_copy(x, ys, scale, t, True)))
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
        nt = med[("roofline_streaming", t)]
        r = _row("roofline_streaming", dtype, n, t, isa, nt, impl="roofline_streaming",
                 check="ok" if checks[("roofline_streaming", t)] else "FAILED")
        r["roofline_ratio"] = roof / nt
        r.update(st[("roofline_streaming", t)])
        run.rows.append(r)
        for op in ops:
            sec = med[(op, t)]
            r = _row(op, dtype if op != "mask" else "-", n, t, isa, sec,
                     check="bitwise-equal" if checks[(op, t)] else "FAILED")
            if op != "mask":
                r["roofline_ratio"] = roof / sec
                r["streaming_ratio"] = nt / sec
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


def group_structured(run, isa, ops, threads):
    """Structured dropout at the benchmark shapes, each against the roofline (interleaved), every
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
            struct_calls(op, x, y, p, seed)[0]()
            checks[(op, t)] = check_struct(op, x, y, p, seed, threads)
        for kind in data:
            y = outs[kind]
            y.fill(np.nan)
            _core.scaled_copy(data[kind].reshape(-1), y.reshape(-1), scale, t)
            checks[(f"roofline_{kind}", t)] = same(y, data[kind] * reference.scale_for(p, np.float32))

    kernels = []
    for t in threads:
        for kind in data:
            xf, yf = data[kind].reshape(-1), outs[kind].reshape(-1)
            kernels.append(Kernel((f"roofline_{kind}", t), lambda t=t, xf=xf, yf=yf: _core.scaled_copy(xf, yf, scale, t)))
        for op in ops:
            x, y = data[which[op]], outs[which[op]]
            kernels.append(Kernel((op, t), struct_calls(op, x, y, p, seed)[0], setup=_set_threads(t)))
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
    return {"meta": run_meta(opts, r.watch), **res}
