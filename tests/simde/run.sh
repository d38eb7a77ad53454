#!/usr/bin/env bash
# Bit-for-bit check of the SIMD kernel tables against the scalar table, on any machine:
#   1. natively, every ISA file of csrc/isa/ (each but scalar.c and dispatch.c) whose path this
#      CPU runs (the checker asks the table's own CPU check and skips the others);
#   2. the gcc-vectorised Gaussian tiles (csrc/isa/autovec-inl.h), natively on each path this
#      CPU runs, through the dispatcher (check_gaussian.c);
#   3. each ISA of EMULATED compiled against SIMDe's portable intrinsics
#      (https://github.com/simd-everywhere/simde), so it stays checked on CPUs without it.
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
