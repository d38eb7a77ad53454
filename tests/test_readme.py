"""Every code block of README.md works as printed.

- Every ```python block is written to a file of its own and run with ``python FILE`` in an
  empty temporary directory, so each must be self-contained (its own imports and data). A block
  is skipped only when it imports an optional dependency (dask, torch, matplotlib, numba, timm)
  that is not installed.
- A ```bash block is run (with ``bash -e``, in an empty temporary directory, ``python`` being
  this interpreter) only when every command in it is cheap and leaves the environment alone:
  the demos (``python -m fastdrop.demo ...``, seconds each; their ``--plot`` files land in the
  temporary directory) and the self-check (``python -m fastdrop``). The other blocks install
  packages (``pip install``), build and run the contributor checks (minutes, and they need root
  or GCC's sanitizer runtimes), run the benchmarks (minutes), or need a path of your own; they
  are listed, not run: the install commands are what CI runs, the others have tests of their
  own (tests/test_bench.py, tests/test_typing.py, tests/test_docs.py).
- The README speaks to users: no issue numbers or notes on earlier versions of a figure.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
OPTIONAL = ("dask", "distributed", "torch", "matplotlib", "numba", "timm", "zarr")
SAFE_BASH = (re.compile(r"python -m fastdrop\.demo\b"), re.compile(r"python -m fastdrop\s*(#|$)"))


def _blocks(lang):
    out = []
    for m in re.finditer(r"^```" + lang + r"\n(.*?)^```", README, re.S | re.M):
        line = README.count("\n", 0, m.start()) + 1
        out.append(pytest.param(m.group(1), id=f"line{line}"))
    return out


def _env(tmp_path):
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pp = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return dict(os.environ, PATH=path, PYTHONPATH=pp, MPLBACKEND="Agg")


def _missing_optional(code):
    mods = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", code, re.M))
    return sorted(m for m in mods & set(OPTIONAL) if importlib.util.find_spec(m) is None)


PYTHON = _blocks("python")
BASH = _blocks("bash")


def test_there_are_blocks():
    assert len(PYTHON) >= 5 and len(BASH) >= 5


@pytest.mark.parametrize("code", PYTHON)
def test_python_block_runs(code, tmp_path):
    missing = _missing_optional(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    script = tmp_path / "block.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def _commands(code):
    return [ln.strip() for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]


@pytest.mark.parametrize("code", BASH)
def test_bash_block_runs(code, tmp_path):
    cmds = _commands(code)
    if not all(any(p.match(c) for p in SAFE_BASH) for c in cmds):
        pytest.skip("installs, builds, benchmarks or needs your own paths (see the docstring)")
    if any("--plot" in c for c in cmds) and importlib.util.find_spec("matplotlib") is None:
        pytest.skip("needs matplotlib")
    r = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for c in cmds:  # --plot FILE wrote FILE, relative to the working directory
        m = re.search(r"--plot\s+(\S+)", c)
        if m:
            assert (tmp_path / m.group(1)).read_bytes()[:4] == b"\x89PNG"


def test_some_bash_blocks_run():
    ran = [c for c in BASH if all(any(p.match(x) for p in SAFE_BASH) for x in _commands(c.values[0]))]
    assert ran, "no README bash block is run by the tests"


@pytest.mark.parametrize("pattern", [r"\bissue\s*#?\d", r"\(issue", r"issue's", r"\(was \d",
                                     r"\bsession\b", r"measured earlier"])
def test_readme_speaks_to_users(pattern):
    assert not re.search(pattern, README, re.I), re.search(pattern, README, re.I)
