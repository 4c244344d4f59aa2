#!/bin/sh
# Lints the programs spamstop runs on hosts: sh -n and shellcheck -s sh on
# every lib/*/scripts/*.sh and the preamble, and an awk syntax check of
# every lib/*/scripts/*.awk (run on empty input).
# Usage: scripts_lint.sh SOURCE_DIR
set -u
src=${1:-.}
fail=0
set -- "$src"/cmake/script-preamble.sh "$src"/lib/*/scripts/*.sh
for f do
    sh -n "$f" || { echo "sh -n failed: $f" >&2; fail=1; }
done
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck -s sh "$@" || fail=1
else
    echo "shellcheck not found (tests/install-deps.sh installs it)" >&2
    fail=1
fi
for f in "$src"/lib/*/scripts/*.awk; do
    [ -f "$f" ] || continue
    # given the variables the program is given, on empty input: a syntax
    # error exits non-zero with a message
    if ! err=$(awk -v N=0 -v K=1 -f "$f" </dev/null 2>&1 >/dev/null) ||
        [ -n "$err" ]; then
        printf 'awk check failed: %s\n%s\n' "$f" "$err" >&2
        fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "scripts_lint: every script passed"
exit "$fail"
