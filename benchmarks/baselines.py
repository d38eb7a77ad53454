"""Implementations fastdrop is compared with: PyTorch ``F.dropout``, numba ``prange`` kernels
(one implements fastdrop's Philox contract and is checked bitwise, one uses numba's own RNG)
and timm's ``drop_block_2d``. Each is optional: a missing one is left out.

Used by the pytest-benchmark files (``numba_kernels``, ``timm_drop_block``) and by
``report.py``, which times them in groups of their own inside ``fastdrop.bench.run``, each
interleaved with the fastdrop call it is compared with (see :func:`extra_groups`).
"""
from __future__ import annotations

import importlib.util
import os
import re

import numpy as np

import fastdrop as fd
from fastdrop import reference
from fastdrop.bench import (DROPBLOCK_SIZE, SEED, STRUCT_P, Kernel, check_values, check_windows,
                            fmt_size, measure, numpy_idiom)

MAX_SIZE = 1 << 24  # the profile's comparisons run up to this size
OVERHEAD_SIZE = 4096


def optional(name):
    """Import an optional module, or None (any import failure counts as 'not installed')."""
    try:
        return __import__(name)
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# numba comparison kernels
# ---------------------------------------------------------------------------------------------
_NUMBA = None


def numba_kernels():
    """Compile (once) and return ``{"philox": f, "own_rng": g}`` or None without numba.

    ``philox(x, y, seed, threshold, scale)``: Philox4x32-10 with fastdrop's contract (offset 0,
    stream 0) in a ``prange`` over blocks of 4 elements, so its output is bitwise the reference's.
    ``own_rng(x, y, p, scale)``: the usual numba idiom, ``np.random.random()`` per element in a
    ``prange`` (numba's own per-thread generator: not reproducible, not the contract).
    Both take flat C-contiguous arrays; ``scale`` must already have the compute dtype.
    """
    global _NUMBA
    if _NUMBA is not None:
        return _NUMBA or None
    numba = optional("numba")
    if numba is None:
        _NUMBA = False
        return None
    from numba import njit, prange

    M0, M1 = np.uint64(reference.PHILOX_M0), np.uint64(reference.PHILOX_M1)
    W0, W1 = np.uint64(reference.PHILOX_W0), np.uint64(reference.PHILOX_W1)
    MASK, S32, ZERO = np.uint64(0xFFFFFFFF), np.uint64(32), np.uint64(0)

    @njit(parallel=True, nogil=True)
    def philox(x, y, seed, threshold, scale):  # pragma: no cover - compiled
        n = x.size
        k0 = np.uint64(seed) & MASK
        k1 = np.uint64(seed) >> S32
        t = np.uint64(threshold)
        zero = x.dtype.type(0)
        for b in prange((n + 3) // 4):
            bb = np.uint64(b)
            c0, c1, c2, c3 = bb & MASK, bb >> S32, ZERO, ZERO
            a0, a1 = k0, k1
            for _ in range(10):
                p0 = M0 * c0
                p1 = M1 * c2
                c0, c1, c2, c3 = (p1 >> S32) ^ c1 ^ a0, p1 & MASK, (p0 >> S32) ^ c3 ^ a1, p0 & MASK
                a0 = (a0 + W0) & MASK
                a1 = (a1 + W1) & MASK
            i = 4 * b
            if i + 3 < n:
                y[i] = x[i] * scale if c0 >= t else zero
                y[i + 1] = x[i + 1] * scale if c1 >= t else zero
                y[i + 2] = x[i + 2] * scale if c2 >= t else zero
                y[i + 3] = x[i + 3] * scale if c3 >= t else zero
            else:
                w = (c0, c1, c2, c3)
                for j in range(n - i):
                    y[i + j] = x[i + j] * scale if w[j] >= t else zero

    @njit(parallel=True, nogil=True)
    def own_rng(x, y, p, scale):  # pragma: no cover - compiled
        zero = x.dtype.type(0)
        for i in prange(x.size):
            y[i] = x[i] * scale if np.random.random() >= p else zero

    _NUMBA = {"philox": philox, "own_rng": own_rng, "module": numba}
    return _NUMBA


# ---------------------------------------------------------------------------------------------
# timm's DropBlock
# ---------------------------------------------------------------------------------------------
_TIMM = None


def timm_drop_block():
    """timm's ``drop_block_2d`` (the function behind ``DropBlock2d``) or None.

    ``import timm`` pulls in torchvision (not needed for DropBlock); when that import fails the
    module ``timm/layers/drop.py`` is loaded from its file, which needs only torch.
    """
    global _TIMM
    if _TIMM is not None:
        return _TIMM or None
    _TIMM = False
    if optional("torch") is None:
        return None
    fn = version = None
    try:
        from timm.layers.drop import drop_block_2d as fn
        import timm
        version = timm.__version__
    except Exception:
        try:
            spec = importlib.util.find_spec("timm")
            if spec is None or not spec.submodule_search_locations:
                return None
            root = list(spec.submodule_search_locations)[0]
            path = os.path.join(root, "layers", "drop.py")
            mspec = importlib.util.spec_from_file_location("_fastdrop_bench_timm_drop", path)
            mod = importlib.util.module_from_spec(mspec)
            mspec.loader.exec_module(mod)
            fn = mod.drop_block_2d
            try:
                vtext = open(os.path.join(root, "version.py"), encoding="utf-8").read()
                version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", vtext).group(1)
            except Exception:
                version = "?"
        except Exception:
            return None
    _TIMM = {"drop_block_2d": fn, "version": version}
    return _TIMM


# ---------------------------------------------------------------------------------------------
# the report's comparison groups (run inside fastdrop.bench.run)
# ---------------------------------------------------------------------------------------------


def load():
    """The comparisons importable here: ``{"torch": module or None, "numba": kernels or None,
    "timm": drop_block_2d or None}``."""
    torch = optional("torch")
    return {"torch": torch, "numba": numba_kernels(), "timm": timm_drop_block() if torch is not None else None}


def versions(b):
    """Versions of the loaded comparisons, for the result's ``meta["versions"]``."""
    vers = {}
    if b["torch"] is not None:
        vers["torch"] = b["torch"].__version__
    if b["numba"] is not None:
        vers["numba"] = b["numba"]["module"].__version__
    if b["timm"] is not None:
        vers["timm"] = b["timm"]["version"]
    return vers


def extra_groups(opts, b):
    """``(description, fn(result))`` groups for ``fastdrop.bench.run(opts, extra_groups=...)``."""
    groups = []
    if opts.ops:
        groups += [(f"comparisons float32 {fmt_size(n)}", lambda res, n=n: compare_forward(res, opts, b, n))
                   for n in opts.sizes if n <= MAX_SIZE]
    if b["timm"] is not None and {"dropblock", "dropblock_shared"} & set(opts.struct_ops):
        groups += [(f"{isa} timm drop_block_2d vs fastdrop dropblock",
                    lambda res, isa=isa: compare_dropblock(res, opts, b, isa))
                   for isa in opts.isa or [fd.get_isa()]]
    if opts.overhead and b["torch"] is not None:
        groups.append((f"per-call overhead, PyTorch, {OVERHEAD_SIZE} float32",
                       lambda res: compare_overhead(res, opts, b)))
    return groups


def _set_threads(t):
    return lambda: fd.set_num_threads(t)


def _torch_setup(torch, t):
    def setup():
        if torch.get_num_threads() != t:
            torch.set_num_threads(t)
    return setup


def compare_forward(res, opts, b, n):
    """float32 forward, every implementation allocating its output (as users call them):
    fastdrop, the NumPy idiom, PyTorch, numba (contract and own RNG), interleaved."""
    p, seed, threads = opts.p, SEED, opts.threads
    x = np.random.default_rng(5).standard_normal(n, dtype=np.float32)
    windows = check_windows(n, threads)
    scale32 = reference.scale_for(p, np.float32)
    torch, nk = b["torch"], b["numba"]
    kernels, checks, labels = [], {}, {}

    for t in threads:
        fd.set_num_threads(t)
        checks[("fastdrop", t)] = check_values(x, fd.dropout(x, p, seed=seed), p, seed, windows)
        kernels.append(Kernel(("fastdrop", t), lambda: fd.dropout(x, p, seed=seed), _set_threads(t)))
        labels["fastdrop"] = "fastdrop `dropout(x, p, seed=s)` (allocates y)"
    nrng = np.random.default_rng(3)
    kernels.append(Kernel(("numpy", 1), lambda: numpy_idiom(x, p, nrng), runtime="numpy"))
    labels["numpy"] = "NumPy idiom (1 thread)"
    if torch is not None:
        xt = torch.from_numpy(x)
        F = torch.nn.functional
        for t in threads:
            kernels.append(Kernel(("torch", t), lambda: F.dropout(xt, p, training=True),
                                  _torch_setup(torch, t), runtime="torch"))
        labels["torch"] = f"PyTorch {torch.__version__.split('+')[0]} `F.dropout` (own RNG)"
    if nk is not None:
        numba = nk["module"]
        thr = int(np.uint64(reference.threshold(p)))

        def nb_philox():
            y = np.empty_like(x)
            nk["philox"](x, y, seed, thr, scale32)
            return y

        def nb_own():
            y = np.empty_like(x)
            nk["own_rng"](x, y, p, scale32)
            return y

        maxt = numba.config.NUMBA_NUM_THREADS
        for t in threads:
            tt = min(t, maxt)
            numba.set_num_threads(tt)
            checks[("numba_philox", t)] = check_values(x, nb_philox(), p, seed, windows)
            setup = (lambda tt=tt: numba.set_num_threads(tt))
            kernels.append(Kernel(("numba_philox", t), nb_philox, setup, runtime="numba"))
            kernels.append(Kernel(("numba_own_rng", t), nb_own, setup, runtime="numba"))
        labels["numba_philox"] = f"numba {numba.__version__} prange, Philox4x32-10 (fastdrop's contract)"
        labels["numba_own_rng"] = f"numba {numba.__version__} prange, `np.random.random()` (own RNG)"
    measure(kernels, opts.repeat, opts.min_time)
    med = {k.key: k.median() for k in kernels}
    kern = {k.key: k for k in kernels}
    for (impl, t), sec in med.items():
        ref_t = t if impl != "numpy" else 1
        fds = med[("fastdrop", ref_t)] if ("fastdrop", ref_t) in med else med[("fastdrop", threads[0])]
        chk = checks.get((impl, t))
        res["baselines"].append({
            "impl": impl, "label": labels[impl], "op": "forward", "dtype": "float32", "size": n,
            "threads": t, "seconds": sec, "gelem_s": n / sec / 1e9,
            "gelem_s_per_thread": n / sec / 1e9 / (1 if impl == "numpy" else t),
            "fastdrop_speedup": sec / fds,
            "check": "n/a" if chk is None else ("bitwise-equal" if chk else "FAILED"),
            **kern[(impl, t)].stats(),
        })


def compare_dropblock(res, opts, b, isa):
    """timm's ``drop_block_2d`` (torch CPU) against ``fd.dropblock`` on the same map, both
    allocating their output, interleaved; the figures go to the structured rows of ``isa``
    (``timm_seconds``, ``alloc_seconds``, ``timm_speedup``, ``timm_version``)."""
    fd.set_isa(isa)
    p, seed, torch, timm = STRUCT_P, SEED, b["torch"], b["timm"]
    x = np.random.default_rng(4).standard_normal(opts.struct_shape, dtype=np.float32)  # the profile's map
    xt = torch.from_numpy(x)
    dbk = timm["drop_block_2d"]
    ops = [op for op in ("dropblock", "dropblock_shared") if op in opts.struct_ops]
    kernels = []
    for t in opts.threads:
        for op in ops:
            sh = op == "dropblock_shared"
            kernels.append(Kernel((op + "_alloc", t),
                                  lambda sh=sh: fd.dropblock(x, p, DROPBLOCK_SIZE, seed=seed, share_channels=sh),
                                  setup=_set_threads(t)))
            kernels.append(Kernel(("timm_" + op, t),
                                  lambda sh=sh: dbk(xt, p, DROPBLOCK_SIZE, couple_channels=sh),
                                  _torch_setup(torch, t), runtime="torch"))
    measure(kernels, opts.repeat, opts.min_time)
    med = {k.key: k.median() for k in kernels}
    for r in res["rows"]:
        key = (r["op"], r["threads"])
        if r.get("group") == "structured" and r["isa"] == isa and ("timm_" + key[0], key[1]) in med:
            r["timm_seconds"] = med[("timm_" + r["op"], r["threads"])]
            r["alloc_seconds"] = med[(r["op"] + "_alloc", r["threads"])]
            r["timm_speedup"] = r["timm_seconds"] / r["alloc_seconds"]
            r["timm_version"] = timm["version"]


def compare_overhead(res, opts, b):
    """Per-call cost of PyTorch ``F.dropout`` on 4096 float32 (one thread), interleaved with
    fastdrop's ``dropout(x, p)``; ``vs_fastdrop`` is the ratio to that call."""
    p, torch, n = opts.p, b["torch"], OVERHEAD_SIZE
    x = np.random.default_rng(11).standard_normal(n, dtype=np.float32)  # the profile's data
    xt = torch.from_numpy(x)
    F = torch.nn.functional
    kernels = [Kernel("fastdrop", lambda: fd.dropout(x, p), _set_threads(fd.get_num_threads())),
               Kernel("torch", lambda: F.dropout(xt, p, training=True), _torch_setup(torch, 1),
                      runtime="torch")]
    measure(kernels, opts.repeat, opts.min_time * 5)
    fast, tk = kernels[0].median(), kernels[1]
    res["overhead"].append({
        **tk.stats(),
        "impl": "torch", "label": f"PyTorch {torch.__version__.split('+')[0]} `F.dropout`",
        "size": n, "dtype": "float32", "us_per_call": tk.median() * 1e6,
        "vs_fastdrop": tk.median() / fast, "check": "n/a",
    })
