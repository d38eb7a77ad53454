"""The shape of the Python package: imports flow one way, the production code never leans on
fastdrop.reference (so the bitwise tests compare two independent implementations), only the
plumbing calls the kernels, and the reference mirrors the production modules.

The import graph is read from the source (every ``import`` / ``from ... import``, function-level
ones included), not from what happens to be loaded."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fastdrop as fd
from fastdrop import reference as ref

ROOT = Path(fd.__file__).parent
PKG = "fastdrop"

# Production family modules and their twins in fastdrop.reference (same file names).
FAMILIES = ("_dropout", "_broadcast", "_alpha", "_gaussian", "_dropblock")
# Modules whose job is checking fastdrop against its twin, besides the twin itself: the
# package re-exports it as the public ``fastdrop.reference``; ``python -m fastdrop`` checks its
# demonstration against it. The benchmark (fastdrop.bench, every module of it) checks its
# outputs bitwise against the twin, times the compiled core's roofline copy and saves and
# restores _config._num_threads, so it is exempt from the three rules below.
VERIFIERS = {"fastdrop", "fastdrop.__main__"}
# Modules that may import the compiled core: the plumbing runs every kernel; _config asks it
# about threads and SIMD paths; _tune sets the plan (path and store policy per call class).
CORE_USERS = {"fastdrop._plumbing", "fastdrop._config", "fastdrop._tune"}


def _bench(name):
    return name == "fastdrop.bench" or name.startswith("fastdrop.bench.")


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}
KNOWN = set(MODULES) | {"fastdrop._core"}  # _core: the Cython extension


def _private(attr):
    return attr.startswith("_") and not attr.startswith("__")


def _resolve(node, name):
    """The absolute module of an ``ast.ImportFrom`` in module `name`."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    return base


def _imports(name):
    """[(imported module, names taken from it, line)] of module `name`, at any depth. ``from
    pkg import sub`` counts as an import of the submodule when ``pkg.sub`` is a module."""
    path = MODULES[name]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, name)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in KNOWN:
                    out.append((sub, (), node.lineno))
                else:
                    out.append((base, (a.name,), node.lineno))
    return [(m, names, line) for m, names, line in out if m == PKG or m.startswith(PKG + ".")]


GRAPH = {name: {m for m, _, _ in _imports(name)} - {name} for name in MODULES}


def _cycles():
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    assert GRAPH["fastdrop._dropout"] >= {"fastdrop._plumbing", "fastdrop._broadcast"}
    assert "fastdrop._core" in GRAPH["fastdrop._plumbing"]
    assert {f"fastdrop.reference.{f}" for f in FAMILIES} <= set(MODULES)


def test_imports_flow_one_way():
    mutual = sorted((a, b) for a in GRAPH for b in GRAPH[a] if a < b and a in GRAPH.get(b, ()))
    assert mutual == [], f"modules importing each other: {mutual}"
    assert _cycles() == [], f"import cycles: {_cycles()}"


def test_production_code_does_not_use_the_reference():
    users = sorted(name for name in MODULES if not name.startswith("fastdrop.reference")
                   and any(m == "fastdrop.reference" or m.startswith("fastdrop.reference.")
                           for m in GRAPH[name]))
    users = {name for name in users if not _bench(name)}
    assert users <= VERIFIERS, f"{sorted(users - VERIFIERS)} import fastdrop.reference"


def test_the_reference_stands_alone():
    for name in MODULES:
        if name.startswith("fastdrop.reference"):
            outside = {m for m in GRAPH[name] if not m.startswith("fastdrop.reference")}
            assert outside == set(), f"{name} imports {outside}: the twin must not share code"


def test_only_the_plumbing_calls_the_kernels():
    users = {name for name in MODULES if "fastdrop._core" in GRAPH[name] and not _bench(name)}
    assert users <= CORE_USERS, f"{sorted(users - CORE_USERS)} import fastdrop._core"


def test_leaves():
    assert GRAPH["fastdrop._formulas"] == set()  # the formulas depend on nothing of ours
    assert GRAPH["fastdrop._validate"] == set()


def test_no_module_reaches_into_another_modules_private_names():
    """``from fastdrop.x import _helper`` or ``x._helper`` across modules: a helper another
    module needs belongs in the module that owns it, under a public name."""
    bad = []
    for name, path in MODULES.items():
        if _bench(name):
            continue
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> the fastdrop module bound to it
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in KNOWN:
                        aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else PKG
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node, name)
                if base not in KNOWN:
                    continue
                for a in node.names:
                    if f"{base}.{a.name}" in KNOWN:
                        aliases[a.asname or a.name] = f"{base}.{a.name}"
                    elif _private(a.name) and base != name:
                        bad.append(f"{name}:{node.lineno} takes {base}.{a.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                owner = aliases.get(node.value.id)
                if (owner and owner != name and _private(node.attr)
                        and f"{owner}.{node.attr}" not in KNOWN):
                    bad.append(f"{name}:{node.lineno} uses {owner}.{node.attr}")
    assert bad == []


# --- fastdrop.reference: one package, every old name, mirroring the production modules ------
OLD_REFERENCE_NAMES = [  # the public names of the single-module fastdrop/reference.py (0.2.0)
    "ALPHA_PRIME", "DATA_FORMATS", "PHILOX_M0", "PHILOX_M1", "PHILOX_ROUNDS", "PHILOX_W0",
    "PHILOX_W1", "STREAM_DROPBLOCK", "STREAM_GAUSSIAN", "alpha_constants", "alpha_dropout",
    "alpha_dropout_backward", "annotations", "broadcast_dropout", "broadcast_dropout_backward",
    "compute_dtype", "contract_log1p", "contract_normals", "contract_radius2", "contract_sincos",
    "drop_path", "drop_path_backward", "dropblock", "dropblock_backward", "dropblock_gamma",
    "dropblock_geometry", "dropblock_keep", "dropout", "dropout_backward", "dropout_mask",
    "embedding_dropout", "embedding_dropout_backward", "feature_alpha_dropout",
    "feature_alpha_dropout_backward", "gaussian_dropout", "gaussian_dropout_backward",
    "gaussian_sigma", "keep_mask", "keep_mask_window", "locked_dropout",
    "locked_dropout_backward", "math", "np", "operator", "philox4x32_10", "random_words",
    "random_words_at", "reduced_shape", "scale_for", "spatial_axes", "spatial_dropout",
    "spatial_dropout_backward", "standard_normals", "standard_normals_window", "threshold",
    "window_indices",
]


def test_reference_keeps_every_public_name():
    missing = [n for n in OLD_REFERENCE_NAMES if not hasattr(ref, n)]
    assert missing == []
    assert set(OLD_REFERENCE_NAMES) - {"annotations", "math", "np", "operator"} <= set(ref.__all__)
    assert all(hasattr(ref, n) for n in ref.__all__)
    assert len(set(ref.__all__)) == len(ref.__all__)


def test_reference_submodules_partition_its_names():
    import importlib

    subs = ["_contract", *FAMILIES]
    seen = []
    for s in subs:
        mod = importlib.import_module(f"fastdrop.reference.{s}")
        seen += mod.__all__
        for n in mod.__all__:
            assert getattr(ref, n) is getattr(mod, n), (s, n)
    assert sorted(seen) == sorted(ref.__all__)


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_mirrors_the_production_modules(family):
    import importlib

    prod = importlib.import_module(f"fastdrop.{family}")
    twin = importlib.import_module(f"fastdrop.reference.{family}")
    for name in prod.__all__:
        assert getattr(fd, name) is getattr(prod, name)
        if hasattr(ref, name):  # every drawing function has its twin in the same file
            assert name in twin.__all__, f"reference.{name} is not in reference/{family}.py"


# --- fastdrop/_core.pyi: the extension's calls are made with keywords, so names matter -------
def test_core_stub_matches_the_extension():
    import inspect

    from fastdrop import _core

    tree = ast.parse((ROOT / "_core.pyi").read_text())
    stub_funcs = {n.name: [a.arg for a in n.args.args] for n in tree.body
                  if isinstance(n, ast.FunctionDef)}
    stub_consts = {n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)
                   and not n.target.id.startswith("_")}
    public = {n for n in dir(_core) if not n.startswith("_")}
    funcs = {n for n in public if callable(getattr(_core, n))}
    assert set(stub_funcs) == funcs
    assert stub_consts == public - funcs - {"np"}
    for name, params in stub_funcs.items():
        assert list(inspect.signature(getattr(_core, name)).parameters) == params, name
