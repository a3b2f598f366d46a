#!/usr/bin/env bash
# Install, from Debian's archive only, whatever cunicorn needs to build, test
# and benchmark that is not installed yet. Run as root on Debian 12.
set -euo pipefail

# build: compiler, CMake, libev, llhttp's C sources, libpython3.11, Check
build_pkgs=(gcc make cmake pkg-config libev-dev node-llhttp python3-dev check)
# tests: the reference server, real apps, HTTP clients, a proxy, benchmarks,
# fuzzing (clang's libFuzzer), memory checking, and strace (the sendfile test)
test_pkgs=(python3-pytest python3-requests python3-flask python3-django python3-gevent
           python3-prometheus-client
           gunicorn nginx curl wrk clang libclang-rt-14-dev valgrind procps util-linux strace
           python3-pyflakes)

want=("${build_pkgs[@]}")
[[ ${1:-} == --test ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
