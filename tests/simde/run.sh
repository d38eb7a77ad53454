#!/usr/bin/env bash
# Bit-for-bit check of the SIMD kernels against the scalar kernels, on any machine:
#   1. csrc/kernels_avx512.c compiled against SIMDe's portable AVX-512 emulation
#      (https://github.com/simd-everywhere/simde), so the AVX-512 path stays checked on CPUs
#      without AVX-512;
#   2. natively, each of csrc/kernels_avx2.c / csrc/kernels_avx512.c that this CPU can run;
#   3. natively, csrc/gaussian.c's AVX2 / AVX-512 paths that this CPU can run (check_gaussian.c).
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
"$CC" "${flags[@]}" "${san[@]}" -c "$root/csrc/kernels_scalar.c" -o "$out/kernels_scalar.o"

# check NAME OBJECT [cflags...]: link the checker against kernel table fd_kernels_NAME and run it
check() {
    local name=$1 obj=$2
    shift 2
    "$CC" "${flags[@]}" "${san[@]}" "$@" -DFD_CHECK_KERNELS="fd_kernels_$name" \
        "$here/check_kernels.c" "$obj" "$out/kernels_scalar.o" -o "$out/check_$name"
    "$out/check_$name"
}

status=0

# Native paths this CPU supports (x86-64 only).
cat > "$out/cpu.c" <<'C'
#include <stdio.h>
int main(void) {
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) puts("avx2");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2")) puts("avx512");
#endif
    return 0;
}
C
native=$("$CC" "$out/cpu.c" -o "$out/cpu" 2>/dev/null && "$out/cpu" || true)
for isa in $native; do
    echo "native $isa: csrc/kernels_$isa.c"
    "$CC" "${flags[@]}" "${san[@]}" -c "$root/csrc/kernels_$isa.c" -o "$out/native_$isa.o"
    check "$isa" "$out/native_$isa.o" || status=1
done

# Gaussian dropout (csrc/gaussian.c): gcc-vectorised C, so only the native paths; -O3 because
# the vectoriser is what is being checked.
echo "native gaussian: csrc/gaussian.c"
gflags=("${flags[@]/-O1/-O3}")
"$CC" "${gflags[@]}" -fno-math-errno -Wno-unknown-pragmas "${san[@]}" "$here/check_gaussian.c" \
    $(ls "$root"/csrc/*.c) -o "$out/check_gaussian"
"$out/check_gaussian" || status=1

have_simde() { echo '#include <simde/x86/avx512.h>' | "$CC" "${inc[@]}" -E -x c - >/dev/null 2>&1; }
# install_simde: apt-get install libsimde-dev if we may (root, apt-get, network); on failure
# leave the reason in $why.
install_simde() {
    if [ -n "${SIMDE_INCLUDE:-}" ]; then
        why="no simde/x86/avx512.h under SIMDE_INCLUDE=$SIMDE_INCLUDE"; return 1
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
    have_simde || { why="libsimde-dev installed but $CC still cannot include simde/x86/avx512.h"; return 1; }
}

why=""
if ! have_simde && ! install_simde; then
    msg="NOT RUN: the emulated AVX-512 check (csrc/kernels_avx512.c under SIMDe): $why."
    msg+=" Install libsimde-dev or set SIMDE_INCLUDE=/dir/holding/simde."
    case "${CI:-}" in
        true|TRUE|True|1|yes) echo "$msg Failing because CI=$CI."; exit 1 ;;
    esac
    echo "$msg"
    exit $status
fi
ver=$(printf '#include <simde/simde-common.h>\nSIMDE_VERSION_MAJOR.SIMDE_VERSION_MINOR.SIMDE_VERSION_MICRO\n' \
    | "$CC" "${inc[@]}" -E -P -x c - 2>/dev/null | tail -1 | tr -d ' ') || ver="?"
echo "emulated avx512: csrc/kernels_avx512.c under SIMDe $ver"
"$CC" "${flags[@]}" "${san[@]}" "${inc[@]}" -include "$here/fd_simde_shim.h" \
    -c "$root/csrc/kernels_avx512.c" -o "$out/simde_avx512.o"
check avx512 "$out/simde_avx512.o" "${inc[@]}" || status=1
exit $status
