#!/usr/bin/env bash
# Install what is missing, build, and run every test: the Check unit suites
# and the integration suites (real binary, real sockets) through ctest, first
# in a normal build, then a bounded libFuzzer run of the parser, then
# everything again in an AddressSanitizer + UBSan build.
#   scripts/test.sh                  all of it
#   SANITIZE=0 scripts/test.sh       skip the sanitizer build
#   FUZZ_SECONDS=0 scripts/test.sh   skip fuzzing (default 60 s per target)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh" --test

run_suite() {
    local dir=$1
    shift
    BUILD_DIR=$dir "$root/scripts/build.sh" -DCUNICORN_WERROR=ON "$@"
    (cd "$dir" && ctest --output-on-failure --timeout 1500)
}

echo "== normal build =="
run_suite "$root/build"
if [[ ${FUZZ_SECONDS:-60} != 0 ]]; then
    echo "== libFuzzer: request parser and chunked decoder, ${FUZZ_SECONDS:-60} s each =="
    "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-60}"
fi
if [[ ${SANITIZE:-1} != 0 ]]; then
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
    # Python's own allocations outlive the process on purpose; leak reports
    # from the embedded interpreter are not ours (unit tests, which run
    # without Python, keep leak detection on: see tests/CMakeLists.txt).
    BUILD_TYPE=Debug run_suite "$root/build-asan" -DCUNICORN_SANITIZE=ON
fi
