#!/usr/bin/env bash
# The test suite against an AddressSanitizer + UBSan build of fastdrop, with OpenMP.
#
# Copies the tracked source tree to a temporary directory, builds the extension there in place with
#   CFLAGS=LDFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
# (setup.py's own -O3 comes after CFLAGS, so the kernels are checked as released, vectorised loops
# included), checks that the build has OpenMP and is instrumented, then runs pytest with the
# compiler's libasan/libubsan preloaded into the (uninstrumented) Python:
#   - the kernel tests once per SIMD path the CPU supports (FASTDROP_ISA=scalar, avx2, avx512;
#     they also switch paths and thread counts 1-3 themselves),
#   - the remaining tests that reach C code (layers, MC, stats, examples, bench, the plans and
#     streaming stores of tests/test_tune.py on every path) once.
# tests/test_dask.py is left out: it runs the same kernels per chunk inside a dask.distributed
# cluster of worker processes, and under the preloaded runtime the cluster loses its workers
# (after the test that kills one) and the next test waits forever.
#
# Any sanitizer report fails the run (non-zero exit), whether pytest passed or not.
# Usage: bash tests/sanitize/run.sh
# Env: PYTHON (default python), CC (default: the compiler Python builds extensions with).
# Needs git (or copies the tree without build products), a GCC with libasan/libubsan, and
# Cython/setuptools (installed with pip from pyproject.toml's build requirements if missing).
# ThreadSanitizer is not run: libgomp is not TSan-instrumented, so the ordering its barriers give
# is invisible and OpenMP regions report false races (e.g. a worker's read of a job struct on the
# caller's stack against the caller's next call); it is also over ten times slower.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
start=$SECONDS

py=$("${PYTHON:-python}" -c 'import sys; print(sys.executable)')  # not a shim: only Python gets the preload
cc=${CC:-$("$py" -c 'import sysconfig; print((sysconfig.get_config_var("CC") or "cc").split()[0])')}

say() { echo "sanitize: $*"; }
fail() {
    echo "sanitize: FAILED: $*"
    [ -n "${work:-}" ] && echo "sanitize: logs kept in $work"
    keep=1
    exit 1
}

keep=0
work=$(mktemp -d "${TMPDIR:-/tmp}/fastdrop-sanitize.XXXXXX")
trap '[ "$keep" = 1 ] || rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"

# 1. The tracked files (their working-tree contents), or the tree without build products.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    while IFS= read -r -d '' f; do
        [ -f "$root/$f" ] || continue  # deleted in the working tree
        mkdir -p "$src/$(dirname "$f")"
        cp -p "$root/$f" "$src/$f"
    done < <(git -C "$root" ls-files -z)
else
    tar -C "$root" --exclude=./.git --exclude=./build --exclude='*.so' --exclude=./fastdrop/_core.c \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$src" -xf -
fi
say "copied $(find "$src" -type f | wc -l) files to $src"

# 2. Build requirements (pip install -e builds in an isolated environment, so Cython may be absent).
if ! "$py" -c 'import Cython, setuptools, numpy' >/dev/null 2>&1; then
    reqs=$("$py" - "$src/pyproject.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^\[build-system\].*?^requires\s*=\s*\[(.*?)\]', text, re.M | re.S)
print(" ".join(re.findall(r'"([^"]+)"', m.group(1))))
PY
)
    say "installing the build requirements: $reqs"
    # shellcheck disable=SC2086
    "$py" -m pip install -q $reqs </dev/null || fail "pip install $reqs"
fi

# 3. Sanitizer runtimes: preloaded, since Python itself is not instrumented.
asan=$(${cc%% *} -print-file-name=libasan.so)
ubsan=$(${cc%% *} -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
    [ -f "$lib" ] || fail "$cc has no ${lib##*/} (needs GCC's libasan/libubsan, e.g. apt-get install gcc)"
done

# 4. The instrumented build, with OpenMP.
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
say "building with CFLAGS=LDFLAGS=\"$san\""
t0=$SECONDS
(cd "$src" && CC="$cc" CFLAGS="$san" LDFLAGS="$san" "$py" setup.py build_ext --inplace -q) \
    >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "the sanitizer build failed"; }
say "built in $((SECONDS - t0)) s"
so=$(ls "$src"/fastdrop/_core*.so)
nm -D --undefined-only "$so" | grep __asan_init >/dev/null || fail "$so is not instrumented"

preload="$asan $ubsan${LD_PRELOAD:+ $LD_PRELOAD}"
# sanpy ARGS: Python with the runtimes preloaded (only Python and the processes it starts; not
# the shell tools here, whose own sanitizer messages would count as reports)
sanpy() { LD_PRELOAD="$preload" "$py" "$@"; }
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$work/asan"  # Python leaks by design
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
export PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
unset FASTDROP_ISA

cd "$src"  # python -m puts the current directory first on sys.path: this build, not an installed one
info=$(sanpy -c '
import fastdrop, os, sys
c = fastdrop.config()
assert os.path.dirname(fastdrop.__file__) == os.path.join(os.getcwd(), "fastdrop"), fastdrop.__file__
if not c["openmp"]:
    sys.exit("the sanitizer build has no OpenMP (openmp=False): see the setup.py warning")
print(" ".join(c["isa_supported"]), c["threads"])
' 2>"$work/config.err") || { cat "$work/config.err"; grep -i "warning.*openmp" "$work/build.log" | tail -3
                             fail "fastdrop.config() check in the sanitizer build"; }
read -r -a isas <<<"${info% *}"
say "openmp=True, ${info##* } threads by default, SIMD paths: ${isas[*]}"

# Sanitizer reports in a pytest log or in ASan's log files. UBSan writes to stderr (log_path is
# not honoured with the preloaded runtime), which --capture=sys leaves on the terminal; a child
# process's report ends up in the failing test's message.
reports() {
    grep -E -c 'runtime error:|ERROR: AddressSanitizer|AddressSanitizer: CHECK failed' \
        "$1" $(ls "$work"/asan.* 2>/dev/null) 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}' || true
}

kernel_tests=(tests/test_threads.py tests/test_dropout.py tests/test_structured.py
              tests/test_window.py tests/test_reference.py tests/test_errors.py
              tests/test_generator.py tests/test_properties.py)
other_tests=(tests/test_layers.py tests/test_mc.py tests/test_stats.py tests/test_examples.py
             tests/test_bench.py tests/test_tune.py)

# run NAME ISA|- FILES...: one pytest process; fails on a pytest failure, no tests or any report.
summary=()
total=0
run() {
    local name=$1 isa=$2 log="$work/pytest-$1.log" rc=0 t0=$SECONDS
    shift 2
    say "pytest ($name): $*"
    if [ "$isa" != - ]; then
        FASTDROP_ISA=$isa sanpy -c "import fastdrop, sys; sys.exit(fastdrop.get_isa() != '$isa')" ||
            fail "FASTDROP_ISA=$isa was not applied"
        FASTDROP_ISA=$isa sanpy -m pytest -q -p no:cacheprovider --capture=sys "$@" 2>&1 |
            tee "$log" || rc=${PIPESTATUS[0]}
    else
        sanpy -m pytest -q -p no:cacheprovider --capture=sys "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    fi
    local n found passed
    n=$(reports "$log")
    found=$(grep -E -o '[0-9]+ passed' "$log" | tail -1 | cut -d' ' -f1 || true)
    passed=${found:-0}
    total=$((total + passed))
    summary+=("$name: $passed passed, $((SECONDS - t0)) s")
    if [ "$n" != 0 ]; then
        ls "$work"/asan.* >/dev/null 2>&1 && cat "$work"/asan.*
        fail "$n sanitizer report(s) in pytest ($name); see above"
    fi
    [ "$rc" = 0 ] || fail "pytest ($name) exited with $rc$([ "$rc" = 134 ] && echo ' (aborted: a sanitizer report or a crash)')"
    [ "$passed" -gt 0 ] || fail "pytest ($name) ran no tests"
}

for isa in "${isas[@]}"; do
    run "$isa" "$isa" "${kernel_tests[@]}"
done
run other - "${other_tests[@]}"

printf 'sanitize:   %s\n' "${summary[@]}"
msg="no AddressSanitizer/UBSan reports in $total passed tests (SIMD paths: ${isas[*]}; OpenMP on)"
say "OK: $msg, $((SECONDS - start)) s in all"
