#!/usr/bin/env bash
# Bit-for-bit check of the SIMD kernels against the scalar kernels, on any machine:
#   1. csrc/isa/avx512.c compiled against SIMDe's portable AVX-512 emulation
#      (https://github.com/simd-everywhere/simde), so the AVX-512 path stays checked on CPUs
#      without AVX-512;
#   2. natively, each of csrc/isa/avx2.c / csrc/isa/avx512.c that this CPU can run;
#   3. natively, csrc/gaussian.c's AVX2 / AVX-512 paths that this CPU can run (check_gaussian.c).
# With AddressSanitizer/UBSan when the compiler has them (masked tails must not touch memory
# past n). Usage: bash tests/simde/run.sh     Env: CC (default cc), SIMDE_INCLUDE (a directory
# holding simde/, if not on the default include path). Exit status 1 on any mismatch.
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
    echo "native $isa: csrc/isa/$isa.c"
    "$CC" "${flags[@]}" "${san[@]}" -c "$root/csrc/isa/$isa.c" -o "$out/native_$isa.o"
    check "$isa" "$out/native_$isa.o" || status=1
done

# Gaussian dropout (csrc/gaussian.c): gcc-vectorised C, so only the native paths; -O3 because
# the vectoriser is what is being checked.
echo "native gaussian: csrc/gaussian.c"
gflags=("${flags[@]/-O1/-O3}")
"$CC" "${gflags[@]}" -fno-math-errno -Wno-unknown-pragmas "${san[@]}" "$here/check_gaussian.c" \
    "$root"/csrc/*.c "$root"/csrc/isa/*.c -o "$out/check_gaussian"
"$out/check_gaussian" || status=1

if ! echo '#include <simde/x86/avx512.h>' | "$CC" "${inc[@]}" -E -x c - >/dev/null 2>&1; then
    echo "SKIPPED the AVX-512 emulation check: SIMDe headers not found" \
         "(apt-get install libsimde-dev, or set SIMDE_INCLUDE)."
    exit $status
fi
ver=$(printf '#include <simde/simde-common.h>\nSIMDE_VERSION_MAJOR.SIMDE_VERSION_MINOR.SIMDE_VERSION_MICRO\n' \
    | "$CC" "${inc[@]}" -E -P -x c - 2>/dev/null | tail -1 | tr -d ' ') || ver="?"
echo "emulated avx512: csrc/isa/avx512.c under SIMDe $ver"
"$CC" "${flags[@]}" "${san[@]}" "${inc[@]}" -include "$here/fd_simde_shim.h" \
    -c "$root/csrc/isa/avx512.c" -o "$out/simde_avx512.o"
check avx512 "$out/simde_avx512.o" "${inc[@]}" || status=1
exit $status
