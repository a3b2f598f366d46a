#!/usr/bin/env bash
# The one style rule a formatter run does not settle by itself: C lines stay
# within 100 columns (.clang-format's ColumnLimit). Lists every longer line
# and fails if there is one. Run by ctest (style_line_length).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
long=$(find src include tests/unit tests/fuzz -name '*.[ch]' -print0 |
       xargs -0 awk 'length > 100 { printf "%s:%d: %d columns\n", FILENAME, FNR, length }')
if [[ -n $long ]]; then
    echo "$long"
    echo "check-style: lines over 100 columns"
    exit 1
fi
echo "check-style: every C line within 100 columns"
