"""The source distribution: what it holds, that it installs on its own, and the build's message
without a C compiler.

The sdist is made once per run (``python -m build --sdist``, without build isolation when the
build requirements are importable here; else ``python setup.py sdist``). The install test makes
a plain virtual environment (no system site packages, so this checkout's fastdrop cannot leak
in), installs the build requirements of pyproject.toml into it, then fastdrop from the tarball
alone (``--no-build-isolation``: the requirements just installed build it), and runs the
self-check from a directory outside the source tree. pip fetches the requirements from the
package index or the local wheel cache; when it can reach neither, the test is skipped and says
so.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "fastdrop-numpy"

# Files a user needs from the sdist, besides every tracked C source and Cython file (below).
REQUIRED = [
    "PKG-INFO", "README.md", "LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "pyproject.toml",
    "setup.py", "MANIFEST.in",
    "fastdrop/_core.pyx", "fastdrop/_core.pyi", "fastdrop/py.typed", "fastdrop/_kernels.pxd",
    "fastdrop/__main__.py", "fastdrop/reference/__init__.py", "fastdrop/bench/__init__.py",
    "csrc/fastdrop.h", "csrc/isa/dispatch.c", "csrc/isa/scalar.c",
    "tests/conftest.py", "tests/pin_cases.py", "tests/fuzz_harness.py",
    "tests/data/pins.json", "tests/data/philox4x32_10_kat.txt", "tests/data/make_pins.py",
    "tests/simde/run.sh", "tests/sanitize/run.sh",
    "docs/contract.md", "benchmarks/compare_builds.py", "examples/overfit.py",
]
# Tracked files matching these must all be in the sdist (new files are picked up by MANIFEST.in).
TRACKED_GLOBS = ["csrc/**/*.c", "csrc/**/*.h", "fastdrop/*.pyx", "fastdrop/*.pxi",
                 "fastdrop/*.pxd", "fastdrop/*.pyi", "tests/**/*.py", "tests/data/*"]
NEED_COMPILER = "fastdrop needs a C compiler, GCC or Clang, to build"


def _clean_env(**extra):
    """This process's environment without what would put the source tree on sys.path or
    change the build."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE",
            "FASTDROP_DISABLE_OPENMP", "FASTDROP_ISA")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def _run(cmd, timeout=300, **kwargs):
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, errors="replace",
                          timeout=timeout, **kwargs)


def _tail(text, n=25):
    return "\n".join(text.splitlines()[-n:])


def _have(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


UNTRACKED = re.compile(r"(^|/)(build|dist|\.git|__pycache__|\.pytest_cache|\.hypothesis|"
                       r"\.benchmarks|[^/]*\.egg-info)(/|$)|\.(so|pyd|o|pyc)$|^fastdrop/_core\.c$")


def _tracked_files():
    """Files of the checkout that git tracks (when git cannot say: the files that are not
    build products or caches)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True).stdout
        tracked = {p for p in out.decode().split("\0") if p}
    except (OSError, subprocess.CalledProcessError):
        tracked = set()
    if "setup.py" in tracked:
        return tracked
    # not a git checkout (an unpacked sdist, say)
    files = (str(p.relative_to(ROOT)).replace(os.sep, "/") for p in ROOT.rglob("*") if p.is_file())
    return {f for f in files if not UNTRACKED.search(f)}


def _build_requirements(pyproject_text):
    m = re.search(r"^\[build-system\].*?^requires\s*=\s*\[(.*?)\]", pyproject_text, re.M | re.S)
    return re.findall(r'"([^"]+)"', m.group(1))


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """Path of the sdist made from this checkout."""
    if not (ROOT / "setup.py").is_file():
        pytest.skip("needs the source tree (setup.py), not an installed fastdrop")
    out = tmp_path_factory.mktemp("sdist")
    # From a copy of the tracked files: in the checkout, a SOURCES.txt left in *.egg-info by an
    # earlier build would add its files to the sdist whatever MANIFEST.in says.
    tree = tmp_path_factory.mktemp("checkout") / "fastdrop"
    for rel in sorted(_tracked_files()):
        if (ROOT / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, tree / rel)
    can_build_here = _have("setuptools", "Cython", "numpy", "wheel")
    if _have("build"):
        cmd = [sys.executable, "-m", "build", "--sdist", "--outdir", out, tree]
        if can_build_here:
            cmd.insert(4, "--no-isolation")  # the build requirements are here: no install
    elif _have("setuptools", "Cython", "numpy"):
        cmd = [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", out]
    else:
        pytest.skip("making the sdist needs the 'build' package (in the test extra: "
                    "pip install build) or Cython and setuptools")
    proc = _run(cmd, cwd=tree, env=_clean_env())
    assert proc.returncode == 0, "making the sdist failed:\n" + _tail(proc.stdout, 40)
    tarballs = list(out.glob("*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


@pytest.fixture(scope="module")
def sdist_names(sdist):
    """The sdist's file names, relative to its top folder."""
    with tarfile.open(sdist) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    top = {n.split("/", 1)[0] for n in names}
    assert len(top) == 1, top
    return {n.split("/", 1)[1] for n in names}


def test_sdist_name_and_version(sdist):
    import fastdrop
    # setuptools >= 69.3 writes the normalised fastdrop_numpy-..., older ones fastdrop-numpy-...
    assert re.fullmatch(r"fastdrop[-_]numpy-%s\.tar\.gz" % re.escape(fastdrop.__version__),
                        sdist.name), sdist.name


def test_sdist_holds_what_building_and_testing_need(sdist_names):
    missing = [f for f in REQUIRED if f not in sdist_names]
    assert not missing, "not in the sdist: %s (see MANIFEST.in)" % missing
    tracked = _tracked_files()
    from fnmatch import fnmatch
    wanted = {f for f in tracked
              if any(fnmatch(f, g) or fnmatch(f, g.replace("**/", "")) for g in TRACKED_GLOBS)}
    assert any(f.startswith("csrc/isa/") for f in wanted)
    missing = sorted(wanted - sdist_names)
    assert not missing, "tracked files missing from the sdist: %s (see MANIFEST.in)" % missing


def test_sdist_has_no_generated_or_compiled_files(sdist_names):
    bad = sorted(n for n in sdist_names
                 if n == "fastdrop/_core.c" or n.startswith("build/")
                 or "__pycache__/" in n or n.startswith(".git/")
                 or re.search(r"\.(so|pyd|o|a|dylib|dll|pyc)$", n))
    assert not bad, "generated or compiled files in the sdist: %s" % bad


def test_sdist_metadata(sdist):
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.count("/") == 1
                      and m.name.endswith("/PKG-INFO"))
        meta = tar.extractfile(member).read().decode()
    assert re.search(r"^Name: fastdrop[-_]numpy$", meta, re.M), meta[:300]
    assert re.search(r"^(License-Expression|License): BSD-3-Clause$", meta, re.M)
    assert re.search(r"^Requires-Python: >=3\.9$", meta, re.M)
    for minor in range(9, 14):
        assert "Classifier: Programming Language :: Python :: 3.%d\n" % minor in meta
    assert re.search(r"^Project-URL: Source, https://github.com/fastdrop/fastdrop$", meta, re.M)


@pytest.fixture(scope="module")
def unpacked(sdist, tmp_path_factory):
    """The sdist extracted: (its folder, the build requirements its pyproject.toml names)."""
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        tar.extractall(dest)
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top, _build_requirements((top / "pyproject.toml").read_text())


def _index_answers(py, tmp):
    """Whether pip gets anything from its index: pip itself is on every index. (When it cannot
    find a build requirement while the index answers, pyproject.toml is at fault.)"""
    proc = _run([py, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                 "-d", tmp / "probe", "pip"], env=_clean_env())
    return proc.returncode == 0


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory, unpacked):
    """A plain virtual environment with the build requirements installed: its Python (the
    environment is removed after this module's tests)."""
    vdir = tmp_path_factory.mktemp("venv") / "env"
    proc = _run([sys.executable, "-m", "venv", vdir], env=_clean_env())
    if proc.returncode != 0:
        pytest.skip("cannot make a virtual environment (python -m venv): " + _tail(proc.stdout, 5))
    py = vdir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    reqs = unpacked[1]
    proc = _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + reqs,
                env=_clean_env())
    if proc.returncode != 0:
        if "No matching distribution" in proc.stdout and not _index_answers(py, vdir.parent):
            pytest.skip("pip can reach neither the package index nor a local wheel cache for "
                        "the build requirements %s:\n%s" % (reqs, _tail(proc.stdout, 5)))
        pytest.fail("pip install %s failed:\n%s" % (reqs, _tail(proc.stdout, 40)))
    yield py
    shutil.rmtree(vdir, ignore_errors=True)  # ~120 MB; pytest would keep it for three runs


def test_sdist_installs_alone_and_passes_its_self_check(sdist, venv_python, tmp_path):
    proc = _run([venv_python, "-m", "pip", "install", "--disable-pip-version-check",
                 "--no-build-isolation", "--no-cache-dir", sdist], env=_clean_env())
    assert proc.returncode == 0, "pip install of the sdist failed:\n" + _tail(proc.stdout, 60)

    elsewhere = tmp_path / "elsewhere"  # not the source tree: `python -m` puts the cwd first
    elsewhere.mkdir()
    where = _run([venv_python, "-c",
                  "import fastdrop, importlib.metadata as m; "
                  "print(fastdrop.__file__); print(m.version('%s'))" % DIST_NAME],
                 cwd=elsewhere, env=_clean_env())
    assert where.returncode == 0, where.stdout
    path, version = where.stdout.split()[-2:]
    venv_dir = venv_python.parent.parent
    assert Path(path).resolve().is_relative_to(venv_dir.resolve()), \
        "fastdrop imported from %s, not from the venv" % path
    import fastdrop
    assert version == fastdrop.__version__

    check = _run([venv_python, "-m", "fastdrop"], cwd=elsewhere,
                 env=_clean_env(OMP_NUM_THREADS="2"))
    assert check.returncode == 0 and "self-check: OK" in check.stdout, _tail(check.stdout, 40)


def test_build_without_a_compiler_says_what_to_install(unpacked, request, tmp_path):
    """CC naming a missing compiler: one message saying a C compiler is needed and how to get
    one, no traceback (in the unpacked sdist, with this Python when it has the build
    requirements, else with the venv's)."""
    if _have("setuptools", "Cython", "numpy"):
        py = sys.executable
    else:
        py = request.getfixturevalue("venv_python")
    src, _ = unpacked
    tree = tmp_path / "tree"
    shutil.copytree(src, tree)
    proc = _run([py, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                env=_clean_env(CC="/usr/bin/no-such-cc"))
    out = proc.stdout
    assert proc.returncode != 0, _tail(out)
    assert NEED_COMPILER in out, _tail(out)
    for hint in ("build-essential", "xcode-select --install", "/usr/bin/no-such-cc"):
        assert hint in out, _tail(out)
    assert "Traceback" not in out, _tail(out)
    assert "OpenMP" not in out, _tail(out)  # the compiler check comes before the OpenMP probe
