"""Sphinx configuration of fastdrop's API reference (docs/api).

Build: ``python -m pip install -e ".[doc]" && python -m sphinx -W -b html docs/api docs/_build/html``
(from the source tree; the compiled extension must be built, as the pages are generated from
the docstrings of the importable package).
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import fastdrop  # noqa: E402

project = "fastdrop"
author = "the fastdrop developers"
release = fastdrop.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
]

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"          # the numpydoc "Parameters" sections carry the types
autodoc_default_options = {"members": True, "undoc-members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

intersphinx_mapping = {}            # no network access needed to build

templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_title = f"fastdrop {release} API reference"
