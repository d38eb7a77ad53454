"""Build the fastdrop extension.

OpenMP is probed at build time (as scikit-learn's ``_build_utils/openmp_helpers.py`` does): if the
compiler cannot build and link an OpenMP program, fastdrop is built serial with a warning rather
than failing. SIMD paths are compiled with per-function target attributes and chosen at run time,
so the default build never uses ``-march=native`` and runs on any x86-64.
"""
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = ["csrc/driver.c", "csrc/roofline.c", "csrc/strided.c",
        "csrc/gaussian.c", "csrc/dropblock.c", "csrc/window.c", "csrc/parallel.c", "csrc/plan.c",
        # the ISA layer: the dispatcher and one file per instruction set
        "csrc/isa/dispatch.c",
        "csrc/isa/scalar.c",
        "csrc/isa/avx2.c",
        "csrc/isa/avx512.c"]

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

    def spawn(cmd, **kwargs):  # quiet on success; keep the output for the warning on failure
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, errors="replace")
        if proc.returncode != 0:
            raise _ProbeFailed(proc.stdout)

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        step = "compile"
        own_spawn = "spawn" in vars(compiler)
        saved_spawn = compiler.spawn
        compiler.spawn = spawn
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
        finally:
            if own_spawn:
                compiler.spawn = saved_spawn
            else:
                del compiler.spawn
    return flags


class BuildExt(build_ext):
    def build_extensions(self):
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


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
