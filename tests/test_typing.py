"""The public API's types: ``mypy --strict`` accepts a user-style file using the API as the
README does (tests/typing/user_example.py) and rejects wrong calls (tests/typing/bad_example.py,
each line marked ``# E: why``); ``mypy fastdrop`` is clean; stubtest finds the stubs of the compiled
core and of the typed modules equal to what runs. Skipped when mypy is not installed (it is in
the ``test`` extra).

mypy finds fastdrop through ``MYPYPATH`` set to the source tree (an editable install's import
hook is invisible to mypy), and ``--follow-imports=silent`` keeps the strict flags meant for the
user's file from applying to fastdrop's own modules, as they would not for an installed package.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parents[1]
TYPING = Path(__file__).resolve().parent / "typing"
STUBTEST_MODULES = ["fastdrop._core", "fastdrop._dropout", "fastdrop._broadcast",
                    "fastdrop._dropblock", "fastdrop._alpha", "fastdrop._gaussian",
                    "fastdrop._generator", "fastdrop._config", "fastdrop.layers", "fastdrop.mc",
                    "fastdrop.reference"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(args, cache, timeout=300):
    env = dict(os.environ, MYPYPATH=str(ROOT), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_user_example_is_strict_clean(cache):
    r = _mypy(["--strict", "--follow-imports=silent", str(TYPING / "user_example.py")], cache)
    assert r.returncode == 0, r.stdout + r.stderr


def test_wrong_calls_are_rejected(cache):
    path = TYPING / "bad_example.py"
    r = _mypy(["--strict", "--follow-imports=silent", str(path)], cache)
    assert r.returncode == 1, r.stdout + r.stderr
    want = {i for i, line in enumerate(path.read_text().splitlines(), 1) if "  # E:" in line}
    got = {int(m.group(1)) for m in re.finditer(r"bad_example\.py:(\d+): error", r.stdout)}
    assert want and got == want, r.stdout
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if 'seed="abc"' in t)
    assert f'bad_example.py:{line}: error: No overload variant of "dropout"' in r.stdout


def test_no_public_callable_is_untyped(cache, tmp_path):
    """reveal_type of every public callable (fastdrop, layers, reference, dask): never Any, and
    no signature (or overload) returning Any."""
    import fastdrop
    from fastdrop import layers, reference

    mods = {"fastdrop": fastdrop, "fastdrop.layers": layers, "fastdrop.reference": reference}
    try:
        import fastdrop.dask as fdask
        mods["fastdrop.dask"] = fdask
    except ImportError:
        pass
    lines = [f"import {m}" for m in mods]
    names = [f"{m}.{n}" for m, mod in mods.items() for n in mod.__all__
             if callable(getattr(mod, n))]
    lines += [f"reveal_type({n})" for n in names]
    path = tmp_path / "reveal_public.py"
    path.write_text("\n".join(lines) + "\n")
    r = _mypy(["--follow-imports=silent", str(path)], cache)
    revealed = re.findall(r'Revealed type is "(.*)"$', r.stdout, re.M)
    assert len(revealed) == len(names), r.stdout + r.stderr
    bad = [f"{n}: {t}" for n, t in zip(names, revealed)
           if t == "Any" or re.search(r"-> Any(, def \(|\)$|$)", t)]
    assert bad == []


def test_package_is_mypy_clean(cache):
    r = _mypy(["-p", "fastdrop"], cache)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stubtest():
    """The stubs (fastdrop/*.pyi) and inline annotations match the runtime signatures."""
    try:
        import dask.array  # noqa: F401
        extra = ["fastdrop.dask"]
    except ImportError:
        extra = []
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", os.devnull,
                        *STUBTEST_MODULES, *extra],
                       cwd=ROOT, env=dict(os.environ, MYPYPATH=str(ROOT), PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
