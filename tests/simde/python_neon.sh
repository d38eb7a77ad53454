#!/usr/bin/env bash
# The Python tests on the NEON path, on an x86 (or any) machine: copies the tracked files to a
# temporary directory, builds fastdrop there with csrc/isa/neon.c compiled against SIMDe's
# portable NEON (CFLAGS="-include tests/simde/fd_simde_neon_shim.h", which every file of the
# core gets; only neon.c uses it), so the neon path runs here and is the default, then runs
# pytest there: by default the stability pins and the dropout tests with FASTDROP_ISA=neon
# (tests/test_pins.py, tests/test_dropout.py; a few minutes, most of them the build, as SIMDe's
# headers are large). Arguments replace the pytest arguments, e.g. `tests` for the whole suite.
# Needs the SIMDe headers (libsimde-dev; see run.sh) and what setup.py needs.
# Usage: bash tests/simde/python_neon.sh [pytest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! echo '#include <simde/arm/neon.h>' | "${CC:-cc}" -E -x c - >/dev/null 2>&1; then
    echo "NOT RUN: no SIMDe headers (apt-get install libsimde-dev, or run tests/simde/run.sh as root)"
    case "${CI:-}" in true|TRUE|True|1|yes) exit 1 ;; esac
    exit 0
fi
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$work")
else
    cp -r "$root"/. "$work"
    rm -rf "$work"/build "$work"/fastdrop/_core.*.so "$work"/fastdrop/_core.c
fi
cd "$work"
echo "python_neon: building with csrc/isa/neon.c under SIMDe's NEON emulation ..."
CFLAGS="${CFLAGS:-} -include $work/tests/simde/fd_simde_neon_shim.h -I$work/csrc" \
    "$py" setup.py build_ext --inplace -q >"$work/build.log" 2>&1 ||
    { tail -20 "$work/build.log"; echo "python_neon: build FAILED"; exit 1; }
FASTDROP_ISA=neon PYTHONPATH="$work" "$py" -c \
    "import fastdrop as fd; assert fd.get_isa() == 'neon', fd.get_isa(); fd.show_config()"
if [ $# = 0 ]; then
    set -- tests/test_pins.py tests/test_dropout.py
fi
FASTDROP_ISA=neon PYTHONPATH="$work" "$py" -m pytest -q -p no:cacheprovider "$@"
