"""Build the fastdrop extension.

OpenMP is probed at build time (as scikit-learn's ``_build_utils/openmp_helpers.py`` does): if the
compiler cannot build and link an OpenMP program, fastdrop is built serial with a warning rather
than failing. SIMD paths are compiled with per-function target attributes and chosen at run time,
so the default build never uses ``-march=native`` and runs on any x86-64.

Before that, the compiler itself is checked: without a working C compiler (or without Python's
headers) the build stops with one message saying what to install, instead of a traceback.
"""
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy as np
import setuptools
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

CSRC = ["csrc/driver.c", "csrc/roofline.c", "csrc/strided.c",
        "csrc/gaussian.c", "csrc/dropblock.c", "csrc/window.c", "csrc/parallel.c", "csrc/plan.c",
        # the ISA layer: the dispatcher and one file per instruction set
        "csrc/isa/dispatch.c",
        "csrc/isa/scalar.c",
        "csrc/isa/vector.c",
        "csrc/isa/avx2.c",
        "csrc/isa/avx512.c",
        "csrc/isa/neon.c"]

OPENMP_PROBE = textwrap.dedent("""
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n == omp_get_max_threads());
        return 0;
    }
""")


HELLO_PROBE = "int main(void) { return 0; }\n"
PYTHON_H_PROBE = "#include <Python.h>\nint main(void) { return 0; }\n"

NEED_COMPILER = """\
{headline}
{detail}
Install a C compiler and Python's C headers, then run the install again:
  - Debian / Ubuntu:  sudo apt install build-essential python3-dev
  - Fedora / RHEL:    sudo dnf install gcc python3-devel
  - Alpine:           apk add build-base python3-dev
  - macOS:            xcode-select --install   (the Xcode command line tools: Clang)
  - conda:            conda install -c conda-forge c-compiler
  - Windows:          not supported (fastdrop needs GCC or Clang); use WSL
If the compiler is installed somewhere else, point CC at it (CC=clang pip install ...)."""


class _ProbeFailed(Exception):
    """A probe command failed; the message is the compiler's own output."""


def _brief(output, tmp):
    """The compiler's diagnostic in a line or two (temporary paths removed)."""
    output = output.replace(tmp + os.sep, "").replace(tmp.lstrip(os.sep) + os.sep, "")
    lines = [l.strip() for l in output.splitlines()]
    lines = [l for l in lines if l]
    keys = ("error", "undefined reference", "cannot find", "not found", "unrecognized")
    picked = [l for l in lines if any(k in l.lower() for k in keys)] or lines[-2:]
    text = "; ".join(picked[:2]) + (" ..." if len(picked) > 2 else "")
    return (text[:300] + " ...") if len(text) > 300 else (text or "no compiler output")


def _spawn_quietly(cmd, env=None, **kwargs):
    """compiler.spawn / compiler.call replacement: quiet on success; the output becomes the
    error on failure."""
    try:
        proc = subprocess.run([os.fspath(c) for c in cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True,
                              errors="replace", env=env)
    except OSError as exc:  # the compiler itself is missing or not executable
        raise _ProbeFailed("%s: %s" % (cmd[0], exc.strerror or exc))
    if proc.returncode != 0:
        raise _ProbeFailed(proc.stdout)


class _QuietCompiler:
    """Run a distutils compiler with _spawn_quietly for the duration of a ``with`` block.
    Older setuptools run the compiler and linker through ``compiler.spawn``, newer ones
    through ``compiler.call``: both are replaced."""

    NAMES = ("spawn", "call")

    def __init__(self, compiler):
        self.compiler = compiler

    def __enter__(self):
        self.saved = {}
        for name in self.NAMES:
            if hasattr(self.compiler, name):
                own = vars(self.compiler).get(name)
                self.saved[name] = own
                setattr(self.compiler, name, _spawn_quietly)
        return self.compiler

    def __exit__(self, *exc):
        for name, own in self.saved.items():
            if own is not None:
                setattr(self.compiler, name, own)
            else:
                delattr(self.compiler, name)


def _write_probe(tmp, name, code):
    """Write a probe source into tmp; create the folder its object goes to, so that compiling
    it (output_dir=tmp) prints no 'creating ...' lines."""
    src = os.path.join(tmp, name)
    with open(src, "w") as f:
        f.write(code)
    os.makedirs(os.path.join(tmp, os.path.splitdrive(tmp)[1].lstrip(os.sep)), exist_ok=True)
    return src


def check_compiler(compiler):
    """Stop the build with one clear message when there is no usable C compiler or Python.h."""
    if compiler.compiler_type == "msvc":
        raise CompileError(NEED_COMPILER.format(
            headline="fastdrop needs a C compiler, GCC or Clang, to build.",
            detail="Microsoft Visual C++ is not supported: the SIMD paths use GCC/Clang "
                   "target attributes and CPU detection."))
    cc = (getattr(compiler, "compiler_so", None) or ["the C compiler"])[0]
    cases = (("hello.c", HELLO_PROBE,
              "fastdrop needs a C compiler, GCC or Clang, to build, and none was found that works."),
             ("pyhello.c", PYTHON_H_PROBE,
              "fastdrop needs Python's C headers (Python.h) to build, and %s cannot find them." % cc))
    with tempfile.TemporaryDirectory() as tmp, _QuietCompiler(compiler):
        for name, code, headline in cases:
            src = _write_probe(tmp, name, code)
            try:
                compiler.compile([src], output_dir=tmp)
            except Exception as exc:
                why = _brief(str(exc), tmp) if isinstance(exc, _ProbeFailed) else repr(exc)
                raise CompileError(NEED_COMPILER.format(
                    headline=headline, detail="Compiling a test program with %s failed: %s" % (cc, why))
                ) from None


def openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or ([], []) with a warning saying why."""
    if os.environ.get("FASTDROP_DISABLE_OPENMP"):
        warnings.warn("FASTDROP_DISABLE_OPENMP is set: building fastdrop without OpenMP (serial).")
        return [], []
    if compiler.compiler_type == "msvc":
        flags = (["/openmp"], [])
    elif sys.platform == "darwin":
        flags = (["-Xpreprocessor", "-fopenmp"], ["-lomp"])
    else:
        flags = (["-fopenmp"], ["-fopenmp"])
    # Build the probe as the extension is built. compiler.compile already runs with the
    # environment's CFLAGS (setuptools puts them in compiler_so), but link_executable uses the
    # bare compiler, while the extension's link adds LDFLAGS and CFLAGS: without them a
    # CFLAGS/LDFLAGS="-fsanitize=..." build would fail this probe and go serial for no reason.
    env_link = []
    if compiler.compiler_type != "msvc":
        env_link = shlex.split(os.environ.get("LDFLAGS", "")) + shlex.split(os.environ.get("CFLAGS", ""))

    with tempfile.TemporaryDirectory() as tmp, _QuietCompiler(compiler):
        src = _write_probe(tmp, "probe.c", OPENMP_PROBE)
        step = "compile"
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags[0])
            step = "link"
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_preargs=env_link,
                                     extra_postargs=flags[1])
        except Exception as exc:  # any compile or link failure means "no OpenMP"
            why = _brief(str(exc), tmp) if isinstance(exc, _ProbeFailed) else repr(exc)
            warnings.warn(
                "fastdrop: the OpenMP probe failed to %s (%s); building a serial fastdrop. "
                "fastdrop.show_config() will report openmp=False." % (step, why)
            )
            return [], []
    return flags


class BuildExt(build_ext):
    def build_extensions(self):
        check_compiler(self.compiler)
        cflags, ldflags = openmp_flags(self.compiler)
        # -ffp-contract=off: no silent FMA contraction, so every path rounds exactly as the reference
        opt = [] if self.compiler.compiler_type == "msvc" else ["-O3", "-fno-math-errno", "-ffp-contract=off"]
        for ext in self.extensions:
            ext.extra_compile_args = opt + cflags + ext.extra_compile_args
            ext.extra_link_args = ldflags + ext.extra_link_args
            ext.define_macros.append(("FASTDROP_OPENMP", "1" if cflags else "0"))
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "fastdrop._core",
        sources=["fastdrop/_core.pyx"] + CSRC,
        include_dirs=["csrc", np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        depends=["csrc/fastdrop.h", "csrc/kernels.h", "csrc/philox.h", "csrc/strided.h",
                 "csrc/structured.h", "csrc/bits.h", "csrc/gaussian.h", "csrc/parallel.h", "csrc/driver.h", "csrc/plan.h",
                 "csrc/isa/isa.h", "csrc/isa/philox-inl.h", "csrc/isa/loops-inl.h",
                 "csrc/isa/dtype-inl.h", "csrc/isa/autovec-inl.h", "csrc/isa/u16x16-inl.h"],
    )
    return cythonize([ext], language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True})


def license_metadata():
    """The license (dynamic in pyproject.toml): an SPDX expression for setuptools >= 77, which
    deprecates the older form, and the older form for earlier setuptools, which rejects the new."""
    if int(setuptools.__version__.split(".")[0]) >= 77:
        return {"license_expression": "BSD-3-Clause", "license_files": ["LICENSE"]}
    return {"license": "BSD-3-Clause", "license_files": ["LICENSE"]}


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt}, **license_metadata())
