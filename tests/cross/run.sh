#!/usr/bin/env bash
# The NEON path natively, on any Linux machine: builds fastdrop's C core (every file of csrc/
# and csrc/isa/) and the SIMD checker of tests/simde/ for aarch64 with Debian's cross compiler
# (gcc-aarch64-linux-gnu), statically, and runs them under user-mode emulation (qemu-aarch64):
#   1. tests/simde/check_kernels.c on the NEON table and on the portable vector table (which
#      becomes NEON code there), bit for bit against the scalar table, the real instructions
#      (float16 conversions included) as qemu executes them;
#   2. tests/simde/check_gaussian.c through the dispatcher, on every path aarch64 runs;
#   3. the dispatcher's choice there (neon) and the FASTDROP_ISA handling (x86 names refused);
#   4. with clang installed, the same core cross-compiled by clang (--target=aarch64-linux-gnu,
#      -Werror), its NEON and vector tables checked the same way (Apple clang and Linux clang
#      builds take this source);
#   5. with Debian's s390x or ppc64le cross compilers installed, the vector table on those
#      (big-endian without a vector unit; VSX) under their qemu.
# Prints `aarch64 neon: N cases bitwise equal to scalar` on success. Exit status 1 on any
# mismatch or build failure.
# When the cross compiler or qemu-aarch64 is missing it installs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user with apt-get (as root); if it cannot, it prints one
# `NOT RUN: ...` line saying why and exits 1 when CI=true (so CI never skips it silently),
# else 0. Usage: bash tests/cross/run.sh    Env: CROSS_CC (default aarch64-linux-gnu-gcc),
# QEMU (default qemu-aarch64, or qemu-aarch64-static).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CROSS_CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

find_qemu() {
    if [ -n "${QEMU:-}" ]; then command -v "$QEMU"; return; fi
    command -v qemu-aarch64 || command -v qemu-aarch64-static
}
have_tools() {
    command -v "$CROSS_CC" >/dev/null 2>&1 && find_qemu >/dev/null 2>&1 &&
        echo 'int main(void){return 0;}' | "$CROSS_CC" -static -x c - -o "$out/probe" 2>/dev/null
}
install_tools() {
    if [ "$(id -u)" != 0 ]; then
        why="$CROSS_CC or qemu-aarch64 missing and not root, so nothing was installed"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        why="$CROSS_CC or qemu-aarch64 missing and no apt-get to install them"; return 1
    fi
    echo "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user ..."
    local log="$out/apt.log" apt=(apt-get -qq -o DPkg::Lock::Timeout=120)
    if ! { DEBIAN_FRONTEND=noninteractive timeout 600 "${apt[@]}" update &&
           DEBIAN_FRONTEND=noninteractive timeout 600 "${apt[@]}" install -y \
               --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; } \
           </dev/null >"$log" 2>&1; then
        why="apt-get install failed (offline?): $(grep -v '^\s*$' "$log" | tail -1)"
        return 1
    fi
    have_tools || { why="installed, but $CROSS_CC -static or qemu-aarch64 still does not work"; return 1; }
}

why=""
if ! have_tools && ! install_tools; then
    msg="NOT RUN: the aarch64 NEON check (cross compiler + qemu-aarch64): $why."
    case "${CI:-}" in
        true|TRUE|True|1|yes) echo "$msg Failing because CI=$CI."; exit 1 ;;
    esac
    echo "$msg"
    exit 0
fi
qemu=$(find_qemu)
echo "cross: $("$CROSS_CC" --version | head -1); $("$qemu" --version | head -1)"

flags=(-std=gnu11 -O3 -fno-math-errno -ffp-contract=off -Wall -Wextra -Wno-psabi
       -Wno-missing-field-initializers -Wno-unknown-pragmas -I"$root/csrc" -static)
status=0
core=("$root"/csrc/*.c "$root"/csrc/isa/*.c)

# The whole C core, as setup.py builds it (serial: the checkers need no OpenMP).
objs=()
for src in "${core[@]}"; do
    o="$out/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
    "$CROSS_CC" "${flags[@]}" -DFASTDROP_OPENMP=0 -c "$src" -o "$o"
    objs+=("$o")
done
isa_objs=("$out"/isa_*.o)

# check_kernels.c on a table: prints "OK: N checks, ..." on success
ncases=0
check() {
    local name=$1 log="$out/check_$1.log"
    "$CROSS_CC" "${flags[@]}" -DFD_CHECK_KERNELS="fd_kernels_$name" \
        "$root/tests/simde/check_kernels.c" "${isa_objs[@]}" -lm -o "$out/check_$name"
    if "$qemu" "$out/check_$name" >"$log" 2>&1; then
        sed 's/^/  /' "$log"
        n=$(sed -n 's/^OK: \([0-9]*\) checks.*/\1/p' "$log")
        [ -n "$n" ] || { echo "  $name: skipped (not run?)"; status=1; return; }
        [ "$name" = neon ] && ncases=$((ncases + n))
        echo "  $name table: $n cases bitwise equal to scalar (tests/simde/check_kernels.c)"
    else
        sed 's/^/  /' "$log"
        echo "aarch64 $name: FAILED"
        status=1
    fi
}
check neon
check vector

# The Gaussian tiles through the dispatcher, on every path aarch64 runs.
"$CROSS_CC" "${flags[@]}" -DFASTDROP_OPENMP=0 "$root/tests/simde/check_gaussian.c" "${objs[@]}" \
    -lm -o "$out/check_gaussian"
if "$qemu" "$out/check_gaussian" >"$out/gauss.log" 2>&1; then
    sed 's/^/  /' "$out/gauss.log"
    n=$(sed -n 's/^gaussian neon: \([0-9]*\) checks.*/\1/p' "$out/gauss.log")
    ncases=$((ncases + ${n:-0}))
else
    sed 's/^/  /' "$out/gauss.log"
    echo "aarch64 gaussian: FAILED"
    status=1
fi

# The dispatcher on aarch64: neon by default, FASTDROP_ISA honoured, x86 names refused.
cat >"$out/dispatch.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include "fastdrop.h"
int main(void)
{
    int st = fd_isa_env_status();
    printf("%s %s %d", fd_isa_name(fd_isa_get()), fd_isa_name(fd_isa_best()), st);
    for (fd_isa i = 0; i < fd_isa_count(); i++)
        if (fd_isa_supported(i))
            printf(" %s", fd_isa_name(i));
    printf("\n");
    return 0;
}
EOF
"$CROSS_CC" "${flags[@]}" -DFASTDROP_OPENMP=0 "$out/dispatch.c" "${objs[@]}" -lm -o "$out/dispatch"
expect() { # expect ENV WANT
    local got
    got=$(env -u FASTDROP_ISA ${1:+FASTDROP_ISA=$1} "$qemu" "$out/dispatch")
    if [ "$got" = "$2" ]; then
        echo "  FASTDROP_ISA=${1:-(unset)}: $got"
    else
        echo "  FASTDROP_ISA=${1:-(unset)}: got '$got', want '$2'"
        status=1
    fi
}
expect "" "neon neon 0 scalar vector neon"
expect scalar "scalar neon 0 scalar vector neon"
expect vector "vector neon 0 scalar vector neon"
expect avx2 "neon neon 2 scalar vector neon"
expect NEON "neon neon 1 scalar vector neon"

# clang: the same core for aarch64 (Apple clang and Linux clang take this source), without
# warnings, and its NEON and vector tables checked as above (linked by the cross gcc).
if command -v clang >/dev/null 2>&1; then
    cflags=("${flags[@]/-static/}")
    ok=1
    for src in "${core[@]}"; do
        o="$out/clang_$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
        clang --target=aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include "${cflags[@]}" \
            -DFASTDROP_OPENMP=0 -Werror -c "$src" -o "$o" 2>"$out/clang.log" ||
            { ok=0; sed 's/^/  /' "$out/clang.log"; }
    done
    for name in neon vector; do
        [ $ok = 1 ] || break
        "$CROSS_CC" "${flags[@]}" -DFD_CHECK_KERNELS="fd_kernels_$name" \
            "$root/tests/simde/check_kernels.c" "$out"/clang_isa_*.o -lm -o "$out/clang_check_$name"
        "$qemu" "$out/clang_check_$name" >"$out/clang_check.log" 2>&1 &&
            grep -q '^OK:' "$out/clang_check.log" || { ok=0; sed 's/^/  /' "$out/clang_check.log"; }
    done
    if [ $ok = 1 ]; then
        echo "  clang $(clang --version | sed -n 's/.*clang version \([^ ]*\).*/\1/p;q')" \
            "--target=aarch64-linux-gnu: csrc/ compiles without warnings; neon, vector bitwise" \
            "equal to scalar"
    else
        echo "aarch64 clang build: FAILED"
        status=1
    fi
fi

# Other architectures, when their Debian cross compilers are installed (not installed here):
# the portable vector path where it is the default, big-endian s390x (no vector unit at the
# baseline: plain loops) and ppc64le (VSX), under their qemu.
for arch in s390x:s390x-linux-gnu ppc64le:powerpc64le-linux-gnu; do
    q=qemu-${arch%%:*} cc=${arch#*:}-gcc
    command -v "$cc" >/dev/null 2>&1 && command -v "$q" >/dev/null 2>&1 || continue
    "$cc" "${flags[@]}" -c "$root/csrc/isa/scalar.c" -o "$out/other_scalar.o"
    "$cc" "${flags[@]}" -c "$root/csrc/isa/vector.c" -o "$out/other_vector.o"
    "$cc" "${flags[@]}" -DFD_CHECK_KERNELS=fd_kernels_vector "$root/tests/simde/check_kernels.c" \
        "$out/other_vector.o" "$out/other_scalar.o" -lm -o "$out/other_check"
    if "$q" "$out/other_check" >"$out/other.log" 2>&1; then
        echo "  ${arch%%:*} vector: $(tail -1 "$out/other.log")"
    else
        sed 's/^/  /' "$out/other.log" | tail -5
        echo "${arch%%:*} vector: FAILED"
        status=1
    fi
done

if [ $status = 0 ]; then
    echo "aarch64 neon: $ncases cases bitwise equal to scalar"
fi
exit $status
