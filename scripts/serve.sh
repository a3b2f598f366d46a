#!/usr/bin/env bash
# Quick start: install what is missing, build, and serve examples/hello.py on
# http://127.0.0.1:8000 with the default number of workers.
#   scripts/serve.sh [more cunicorn options...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
exec "$root/build/cunicorn" --chdir "$root/examples" -b 127.0.0.1:8000 "$@" hello:app
