#!/bin/sh
# `cmake --install` into a scratch prefix puts the binary and the man page
# where GNUInstallDirs says, the binary runs from there, and the installed
# page is docs/cunicorn.1 and passes groff's lint (when groff is here) and
# man's look-up by name (when man is here). Run by ctest (install_layout).
# usage: check-install.sh CMAKE BUILD_DIR SOURCE_DIR BINDIR MANDIR
set -eu
cmake=$1 build=$2 src=$3 bindir=$4 mandir=$5
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

"$cmake" --install "$build" --prefix "$prefix" >/dev/null
bin=$prefix/$bindir/cunicorn
page=$prefix/$mandir/man1/cunicorn.1
test -x "$bin" || { echo "no executable $bin"; exit 1; }
"$bin" --version | grep -q '^cunicorn (version ' || { echo "$bin --version failed"; exit 1; }
cmp "$src/docs/cunicorn.1" "$page" || { echo "$page is not docs/cunicorn.1"; exit 1; }
if command -v groff >/dev/null; then
    warnings=$(groff -man -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || { echo "groff: $warnings"; exit 1; }
fi
if command -v man >/dev/null; then
    MANWIDTH=80 man -M "$prefix/$mandir" cunicorn 2>&1 | grep -q 'cunicorn \[OPTIONS\] \[APP_MODULE\]' ||
        { echo "man -M $prefix/$mandir cunicorn does not show the page"; exit 1; }
fi
echo "check-install: $bindir/cunicorn and $mandir/man1/cunicorn.1 installed"
