#!/usr/bin/env bash
# Run integration tests again and again under a CPU hog, to shake out races
# that a quiet machine hides (a flaky test is a server bug until shown
# otherwise). Not part of the test suite: it takes tens of minutes. Stops at
# the first failure, printing which run failed.
#
#   tests/stress/repeat.sh [RUNS]          (default 50)
#   CLASSES="gthread" HOGS=4 tests/stress/repeat.sh 20
#   TESTS="test_zero_downtime.py test_request_timeout.py" HOGS=1 tests/stress/repeat.sh 6
#
# TESTS names files of tests/integration (default: test_signals.py
# test_hardening.py).
# Run i uses worker class CLASSES[i % n] (default: sync gthread gevent in
# turn). HOGS busy loops (default: one per CPU) run for the whole time;
# they are started here and ended here, by PID. CUNICORN_BIN defaults to
# build/cunicorn.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-50}
read -r -a classes <<<"${CLASSES:-sync gthread gevent}"
read -r -a tests <<<"${TESTS:-test_signals.py test_hardening.py}"
tests=("${tests[@]/#/$repo/tests/integration/}")
hogs=${HOGS:-$(nproc)}
export CUNICORN_BIN=${CUNICORN_BIN:-$repo/build/cunicorn}
export PYTHONDONTWRITEBYTECODE=1

hog_pids=()
stop_hogs() {
    for pid in "${hog_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do
    bash -c 'while :; do :; done' &
    hog_pids+=($!)
done

start=$(date +%s)
for ((i = 0; i < runs; i++)); do
    klass=${classes[i % ${#classes[@]}]}
    t0=$(date +%s)
    if ! out=$(CUNICORN_WORKER_CLASS=$klass /usr/bin/python3 -m pytest -q -p no:cacheprovider -x \
                   "${tests[@]}" 2>&1); then
        echo "$out"
        echo "stress: run $((i + 1))/$runs ($klass) FAILED after $(($(date +%s) - start)) s"
        exit 1
    fi
    echo "stress: run $((i + 1))/$runs ($klass): $(tail -n 1 <<<"$out") [$(($(date +%s) - t0)) s]"
done
echo "stress: $runs runs passed under $hogs CPU hogs in $(($(date +%s) - start)) s"
