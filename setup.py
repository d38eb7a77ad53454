"""Build the fastdrop extension.

OpenMP is probed at build time (as scikit-learn's ``_build_utils/openmp_helpers.py`` does): if the
compiler cannot build and link an OpenMP program, fastdrop is built serial with a warning rather
than failing. SIMD paths are compiled with per-function target attributes and chosen at run time,
so the default build never uses ``-march=native`` and runs on any x86-64.
"""
import os
import sys
import tempfile
import textwrap
import warnings

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = ["csrc/driver.c", "csrc/roofline.c", "csrc/strided.c",
        "csrc/gaussian.c", "csrc/dropblock.c", "csrc/window.c", "csrc/parallel.c",
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


def openmp_flags(compiler):
    """Return (compile_args, link_args) for OpenMP, or ([], []) with a warning."""
    if os.environ.get("FASTDROP_DISABLE_OPENMP"):
        warnings.warn("FASTDROP_DISABLE_OPENMP is set: building fastdrop without OpenMP (serial).")
        return [], []
    if compiler.compiler_type == "msvc":
        flags = (["/openmp"], [])
    elif sys.platform == "darwin":
        flags = (["-Xpreprocessor", "-fopenmp"], ["-lomp"])
    else:
        flags = (["-fopenmp"], ["-fopenmp"])
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OPENMP_PROBE)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags[0])
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=flags[1])
        except Exception as exc:  # any compile or link failure means "no OpenMP"
            warnings.warn(
                "fastdrop: this compiler cannot build OpenMP code (%s); building a serial "
                "fastdrop. fastdrop.show_config() will report openmp=False." % exc.__class__.__name__
            )
            return [], []
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
                 "csrc/structured.h", "csrc/bits.h", "csrc/gaussian.h", "csrc/parallel.h", "csrc/driver.h",
                 "csrc/isa/isa.h", "csrc/isa/philox-inl.h", "csrc/isa/loops-inl.h",
                 "csrc/isa/dtype-inl.h", "csrc/isa/autovec-inl.h", "csrc/isa/u16x16-inl.h"],
    )
    return cythonize([ext], language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
