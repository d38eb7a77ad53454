#!/usr/bin/env bash
# Bit-for-bit check of the SIMD kernel tables against the scalar table, on any machine:
#   1. natively, every ISA file of csrc/isa/ (each but scalar.c and dispatch.c) whose path this
#      CPU runs (the checker asks the table's own CPU check and skips the others);
#   2. the gcc-vectorised Gaussian tiles (csrc/isa/autovec-inl.h), natively on each path this
#      CPU runs, through the dispatcher (check_gaussian.c);
#   3. the AVX-512 and NEON files compiled against SIMDe's portable intrinsics
#      (https://github.com/simd-everywhere/simde), so they stay checked on CPUs without them
#      (tests/cross/run.sh also checks the NEON file natively, built for aarch64 under qemu).
# With AddressSanitizer/UBSan when the compiler has them (masked tails must not touch memory
# past n). Usage: bash tests/simde/run.sh     Env: CC (default cc), SIMDE_INCLUDE (a directory
# holding simde/, if not on the default include path). Exit status 1 on any mismatch.
# Without SIMDe headers (and SIMDE_INCLUDE unset) it installs libsimde-dev when it runs as root
# with apt-get; if it cannot, it says the emulated check did NOT run, and exits 1 when CI=true
# (so CI never skips it silently), otherwise with the status of the native checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CC=${CC:-cc}
inc=()
[ -n "${SIMDE_INCLUDE:-}" ] && inc=(-I"$SIMDE_INCLUDE")

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=gnu11 -O1 -g1 -Wall -Wextra -Wno-psabi -Wno-missing-field-initializers
       -ffp-contract=off -I"$root/csrc")
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
if ! echo 'int main(void){return 0;}' | "$CC" "${san[@]}" -x c - -o "$out/probe" >/dev/null 2>&1; then
    echo "(no sanitizers with $CC: checking without them)"
    san=()
fi
"$CC" "${flags[@]}" "${san[@]}" -c "$root/csrc/isa/scalar.c" -o "$out/kernels_scalar.o"

# check NAME OBJECT [cflags...]: link the checker against kernel table fd_kernels_NAME and run it
check() {
    local name=$1 obj=$2
    shift 2
    "$CC" "${flags[@]}" "${san[@]}" "$@" -DFD_CHECK_KERNELS="fd_kernels_$name" \
        "$here/check_kernels.c" "$obj" "$out/kernels_scalar.o" -lm -o "$out/check_$name"
    "$out/check_$name"
}

status=0

# Native: every ISA file; the checker skips a path this CPU (or build) does not run.
for src in "$root"/csrc/isa/*.c; do
    isa=$(basename "$src" .c)
    case $isa in scalar | dispatch) continue ;; esac
    echo "native $isa: csrc/isa/$isa.c"
    "$CC" "${flags[@]}" "${san[@]}" -c "$src" -o "$out/native_$isa.o"
    check "$isa" "$out/native_$isa.o" || status=1
done

# Gaussian dropout (csrc/isa/autovec-inl.h): gcc-vectorised C, so only the native paths; -O3
# because the vectoriser is what is being checked.
echo "native gaussian: csrc/isa/autovec-inl.h in every ISA file"
gflags=("${flags[@]/-O1/-O3}")
"$CC" "${gflags[@]}" -fno-math-errno -Wno-unknown-pragmas "${san[@]}" "$here/check_gaussian.c" \
    "$root"/csrc/*.c "$root"/csrc/isa/*.c -o "$out/check_gaussian"
"$out/check_gaussian" || status=1

have_simde() {
    printf '#include <simde/x86/avx512.h>\n#include <simde/arm/neon.h>\n' |
        "$CC" "${inc[@]}" -E -x c - >/dev/null 2>&1
}
# install_simde: apt-get install libsimde-dev if we may (root, apt-get, network); on failure
# leave the reason in $why.
install_simde() {
    if [ -n "${SIMDE_INCLUDE:-}" ]; then
        why="no simde/x86/avx512.h and simde/arm/neon.h under SIMDE_INCLUDE=$SIMDE_INCLUDE"; return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        why="SIMDe headers not found and not root, so libsimde-dev was not installed"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        why="SIMDe headers not found and no apt-get to install libsimde-dev"; return 1
    fi
    echo "SIMDe headers not found: apt-get install libsimde-dev ..."
    local log="$out/apt.log" apt=(apt-get -qq -o DPkg::Lock::Timeout=120)
    if ! { DEBIAN_FRONTEND=noninteractive timeout 300 "${apt[@]}" update &&
           DEBIAN_FRONTEND=noninteractive timeout 300 "${apt[@]}" install -y \
               --no-install-recommends libsimde-dev; } </dev/null >"$log" 2>&1; then
        why="apt-get install libsimde-dev failed (offline?): $(grep -v '^\s*$' "$log" | tail -1)"
        return 1
    fi
    have_simde || { why="libsimde-dev installed but $CC still cannot include its headers"; return 1; }
}

why=""
if ! have_simde && ! install_simde; then
    msg="NOT RUN: the emulated AVX-512 and NEON checks (csrc/isa/avx512.c, neon.c under SIMDe): $why."
    msg+=" Install libsimde-dev or set SIMDE_INCLUDE=/dir/holding/simde."
    case "${CI:-}" in
        true|TRUE|True|1|yes) echo "$msg Failing because CI=$CI."; exit 1 ;;
    esac
    echo "$msg"
    exit $status
fi
ver=$(printf '#include <simde/simde-common.h>\nSIMDE_VERSION_MAJOR.SIMDE_VERSION_MINOR.SIMDE_VERSION_MICRO\n' \
    | "$CC" "${inc[@]}" -E -P -x c - 2>/dev/null | tail -1 | tr -d ' ') || ver="?"
echo "emulated avx512: csrc/isa/avx512.c under SIMDe $ver"
"$CC" "${flags[@]}" "${san[@]}" "${inc[@]}" -include "$here/fd_simde_shim.h" \
    -c "$root/csrc/isa/avx512.c" -o "$out/simde_avx512.o"
check avx512 "$out/simde_avx512.o" "${inc[@]}" || status=1
echo "emulated neon: csrc/isa/neon.c under SIMDe $ver"
"$CC" "${flags[@]}" "${san[@]}" "${inc[@]}" -include "$here/fd_simde_neon_shim.h" \
    -c "$root/csrc/isa/neon.c" -o "$out/simde_neon.o"
check neon "$out/simde_neon.o" "${inc[@]}" || status=1
exit $status
