#!/usr/bin/env bash
# Benchmark cunicorn against gunicorn 20.1 with wrk. Builds nothing.
#   tests/bench/bench.sh [duration-seconds]        (default 10)
#   CLASSES="sync gthread gevent" CUNICORN_BIN=build/cunicorn tests/bench/bench.sh 5
# See tests/bench/README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export CUNICORN_BIN="${CUNICORN_BIN:-$repo/build/cunicorn}"
case "$CUNICORN_BIN" in /*) ;; *) CUNICORN_BIN="$repo/$CUNICORN_BIN" ;; esac
export GUNICORN_BIN="${GUNICORN_BIN:-/usr/bin/gunicorn}"
export CLASSES="${CLASSES:-sync}"
exec /usr/bin/python3 "$here/bench.py" "${1:-10}"
