#!/bin/sh
# The man page documents every subcommand and long option, and renders
# without a warning.  Run from the source tree: tests/man_check.sh
set -u
cd "$(dirname "$0")/.." || exit 1
page=${MAN_PAGE:-docs/spamstop.1}
bad=0

warn=$(groff -man -ww -z "$page" 2>&1)
if [ -n "$warn" ]; then
    echo "groff warns about $page:"
    echo "$warn"
    bad=1
fi
if command -v man >/dev/null 2>&1; then
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    if [ -n "$out" ]; then
        echo "man -l warns about $page:"
        echo "$out"
        bad=1
    fi
fi

# subcommands: the table in cmd/main.c; each needs a .SS heading naming it
for c in $(sed -n 's/^ *{"\([a-z][a-z-]*\)", *cmd_[a-z_]*,.*/\1/p' cmd/main.c); do
    if ! grep -Eq "^\.SS (.*[ ,])?$c(,.*)?\$" "$page"; then
        echo "subcommand '$c' (cmd/main.c) has no .SS section in $page"
        bad=1
    fi
done

# long options: every getopt_long table entry in cmd/ and cmd.h's macro
for o in $(sed -n 's/.*{ *"\([a-z][a-z-]*\)", *\(no\|required\|optional\)_argument.*/\1/p' \
        cmd/*.c cmd/cmd.h | sort -u); do
    esc=$(printf '%s' "$o" | sed 's/-/\\-/g')
    if ! grep -Fq -- "\\-\\-$esc" "$page"; then
        echo "option '--$o' (cmd/) is not in $page"
        bad=1
    fi
done
[ $bad = 0 ] && echo "man page: every subcommand and option documented, no warnings"
exit $bad
