# shellcheck shell=sh
# Sourced by tests/scripts/test_*.sh: runs the script files of lib/*/scripts
# as the controller sends them (assignments, parts, the preamble, the
# program) in a scratch folder with fake host tools first on PATH.
# The caller sets src (the source tree) first.
# shellcheck disable=SC2154,SC2034 # src comes from the test; rc is for it

set -u
tmp=$(mktemp -d /tmp/ss-scripts.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
failed=0 passed=0

# fake NAME BODY: an executable $tmp/bin/NAME running BODY under /bin/sh.
fake() {
    printf '#!/bin/sh\n%s\n' "$2" >"$tmp/bin/$1"
    chmod 755 "$tmp/bin/$1"
}

# compose OUT ASSIGNMENTS PART... PROGRAM: the command text, as sent, in
# OUT (parts and programs are paths under lib/).
compose() {
    out=$1 assign=$2
    shift 2
    printf '%s' "$assign" >"$out"
    while [ $# -gt 1 ]; do
        cat "$src/lib/$1" >>"$out"
        shift
    done
    cat "$src/cmake/script-preamble.sh" "$src/lib/$1" >>"$out"
}

# run SCRIPT [STDIN]: runs it with the fakes first on PATH; its stdout in
# $tmp/out, stderr in $tmp/err, status in rc.
run() {
    (cd "$tmp" && PATH="$tmp/bin:$PATH" sh "$1" >"$tmp/out" 2>"$tmp/err" \
        <"${2:-/dev/null}")
    rc=$?
}

# check NAME CONDITION...: records a result.
check() {
    name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $name" >&2
        sed 's/^/  out: /' "$tmp/out" >&2
        sed 's/^/  err: /' "$tmp/err" >&2
    fi
}

# has NAME TEXT / lacks NAME TEXT: whether $tmp/NAME holds the string.
has() { grep -qF -e "$2" "$tmp/$1"; }
lacks() { ! grep -qF -e "$2" "$tmp/$1"; }

# The closing line, and the exit status.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# quote TEXT: TEXT as one single-quoted sh word (as shquote_add makes it).
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
