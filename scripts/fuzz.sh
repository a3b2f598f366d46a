#!/usr/bin/env bash
# Build the libFuzzer drivers (tests/fuzz/) with clang and run each for a
# while on a temporary copy of its seed corpus (the repository is not
# modified). Exits non-zero if a target crashed or broke an invariant; the
# reproducer is copied to $BUILD_DIR/fuzz-artifacts/.
#   scripts/fuzz.sh [seconds-per-target, default 60]
# Environment: BUILD_DIR (default build-fuzz/), FUZZ_JOBS (parallel workers
# per target, default 1), FUZZ_MAX_LEN (default 8192).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
secs=${1:-60}
jobs=${FUZZ_JOBS:-1}
max_len=${FUZZ_MAX_LEN:-8192}
targets=(fuzz_request fuzz_chunked)

if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found (scripts/install-deps.sh --test installs it)" >&2
    exit 2
fi
CC=clang cmake -S "$root" -B "$build" -DCUNICORN_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/cunicorn-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# A corpus directory name for each target: fuzz_request -> request.
status=0
summary=()
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    corpus=$work/$name
    mkdir -p "$corpus" "$work/$name-artifacts"
    cp "$root/tests/fuzz/corpus/$name/." "$corpus/" -r
    log=$work/$name.log
    rc=0
    par=()
    # -jobs runs workers in subprocesses logging to fuzz-N.log in the cwd
    ((jobs > 1)) && par=(-jobs="$jobs" -workers="$jobs")
    (cd "$work" && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
        -max_len="$max_len" -print_final_stats=1 "${par[@]}" \
        -artifact_prefix="$work/$name-artifacts/" "$corpus" >"$log" 2>&1) || rc=$?
    if ((jobs > 1)); then
        cat "$work"/fuzz-*.log >>"$log" 2>/dev/null || true
        rm -f "$work"/fuzz-*.log
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' |
            awk '{s+=$1} END {print s+0}')
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    speed=$(awk -v e="$execs" -v s="$secs" 'BEGIN {printf "%d", (s > 0 ? e / s : e)}')
    crashes=$(find "$work/$name-artifacts" -type f | wc -l)
    if [[ $rc -ne 0 || $crashes -gt 0 ]]; then
        status=1
        cp "$work/$name-artifacts/"* "$artifacts/" 2>/dev/null || true
        cp "$log" "$artifacts/$name.log"
        grep -m3 -E 'invariant violated|ERROR: (Address|Undefined|libFuzzer)|runtime error' "$log" >&2 || true
        summary+=("$t: FAILED (exit $rc) after $execs execs, ${cov:-cov: ?}; reproducers and log in $artifacts/")
    else
        summary+=("$t: ok, $execs execs in ${secs}s (~$speed/s), ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files")
    fi
done
printf '%s\n' "${summary[@]}"
exit $status
