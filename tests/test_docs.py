"""The API reference (docs/api, Sphinx + numpydoc, generated from the docstrings) builds with
warnings as errors, and lists every public name. Skipped without the ``doc`` extra
(``pip install -e ".[doc]"``)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")

import fastdrop  # noqa: E402
from fastdrop import layers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "api"


def test_every_public_name_is_in_the_reference():
    text = (DOCS / "index.rst").read_text()
    listed = {line.strip() for line in text.splitlines() if line.startswith("   ")}
    skip = {"reference", "layers", "__version__"}  # modules and the version string
    assert {n for n in fastdrop.__all__ if n not in skip} <= listed
    assert set(layers.__all__) <= listed


def test_sphinx_build_has_no_warnings(tmp_path):
    """The README's command, into a temporary directory (``-W``: a warning fails it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E",
                        "-b", "html", "-d", str(tmp_path / "doctrees"), str(DOCS),
                        str(tmp_path / "html")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "fastdrop.dropout" in page or "dropout" in page
    assert (tmp_path / "html" / "generated" / "fastdrop.dropout.html").exists()
