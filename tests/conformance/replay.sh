#!/usr/bin/env bash
# Replay Gunicorn's HTTP request corpus (shared/conformance, beside this
# repository) against the built cunicorn for one worker class.
#   tests/conformance/replay.sh CUNICORN_BIN CLASS
# Exits 77 (ctest: skipped) with a message when the corpus is not there: the
# repository must not need it.
set -euo pipefail
bin=$1
klass=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
corpus=${CONFORMANCE_DIR:-$root/../shared/conformance}
if [[ ! -f $corpus/replay.py ]]; then
    echo "SKIP: no conformance corpus at $corpus"
    exit 77
fi
extra=""
[[ $klass == gthread ]] && extra="--threads 4"
# run.py adds the cases that need a setting the shared runner cannot pass
exec /usr/bin/python3 "$root/tests/conformance/run.py" "$corpus" \
    "$bin -b 127.0.0.1:{port} -w 1 -k $klass $extra {app}"
