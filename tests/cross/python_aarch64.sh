#!/usr/bin/env bash
# The Python tests on an emulated aarch64 Python, with the NEON path native to it: no ARM
# machine needed. Not run by CI (about ten minutes, most of them the tests under emulation).
#   1. a Debian bookworm arm64 root (debootstrap --foreign: download and unpack only, nothing of
#      it runs during the set-up): python3.11, pytest, hypothesis;
#   2. NumPy's aarch64 wheel for CPython 3.11 from PyPI (pip download, no install);
#   3. fastdrop's extension cross-compiled for aarch64 (Cython's C on the host, then
#      aarch64-linux-gnu-gcc; serial: the root has no libgomp);
#   4. pytest on that Python under qemu-aarch64 -L root: by default the stability pins and the
#      dropout tests (every path aarch64 runs: scalar, vector, neon); arguments replace them.
# Tests that start Python subprocesses cannot run this way (no binfmt_misc: a child aarch64
# Python is not found), so pick files that do not. Needs root (apt-get for debootstrap, the
# cross compiler and qemu-user, as tests/cross/run.sh installs them), network access, and the
# host's Cython (setup.py's build requirement).
# Usage: bash tests/cross/python_aarch64.sh [pytest args]   Env: FD_AARCH64_ROOT (a directory to
# keep the arm64 root in between runs; default: a temporary one), NUMPY_VERSION (default 2.2.6).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
a64=${FD_AARCH64_ROOT:-$work/root}
npv=${NUMPY_VERSION:-2.2.6}
say() { echo "python_aarch64: $*"; }

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
    say "apt-get install ${need[*]} ..."
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=120 update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=120 install -y \
        --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$a64/usr/bin/python3.11" ]; then
    say "debootstrap --foreign --arch=arm64 bookworm $a64 (download and unpack) ..."
    debootstrap --foreign --arch=arm64 --variant=minbase \
        --include=python3,python3-dev,python3-pytest,python3-hypothesis \
        bookworm "$a64" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
        { tail -5 "$work/debootstrap.log"; exit 1; }
    for deb in "$a64"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$a64"
    done
fi

say "NumPy $npv for aarch64 (pip download) ..."
mkdir -p "$work/wheel" "$work/site"
"$py" -m pip download --quiet --only-binary=:all: --no-deps --dest "$work/wheel" \
    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
    --python-version 3.11 --implementation cp --abi cp311 "numpy==$npv"
"$py" -m zipfile -e "$work"/wheel/numpy-*.whl "$work/site"

say "fastdrop for aarch64 (Cython on the host, aarch64-linux-gnu-gcc) ..."
src=$work/src
mkdir -p "$src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" ls-files -z fastdrop tests csrc | (cd "$root" && xargs -0 cp --parents -t "$src")
else
    cp -r "$root"/fastdrop "$root"/tests "$root"/csrc "$src"
fi
(cd "$src" && "$py" -c '
from Cython.Build import cythonize
cythonize(["fastdrop/_core.pyx"], language_level=3, quiet=True, compiler_directives={
    "boundscheck": False, "wraparound": False, "cdivision": True})')
aarch64-linux-gnu-gcc -shared -fPIC -O3 -fno-math-errno -ffp-contract=off \
    -DNPY_NO_DEPRECATED_API=NPY_1_7_API_VERSION -DFASTDROP_OPENMP=0 -I"$src/csrc" \
    -I"$work/site/numpy/_core/include" -I"$a64/usr/include/python3.11" -I"$a64/usr/include" \
    "$src/fastdrop/_core.c" "$src"/csrc/*.c "$src"/csrc/isa/*.c \
    -o "$src/fastdrop/_core.cpython-311-aarch64-linux-gnu.so"

run() { (cd "$src" && PYTHONPATH="$work/site:$src" qemu-aarch64 -L "$a64" "$a64/usr/bin/python3.11" "$@"); }
run -c "import fastdrop as fd; assert fd.get_isa() == 'neon', fd.get_isa(); fd.show_config()"
if [ $# = 0 ]; then
    set -- tests/test_pins.py tests/test_dropout.py
fi
say "pytest $* under qemu-aarch64 ..."
run -m pytest -q -p no:cacheprovider "$@"
