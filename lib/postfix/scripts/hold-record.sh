#!/bin/sh
# The purge's hold, and its record in the same command: puts the messages
# whose ids are on stdin on hold, refusing while Postfix runs, then prints
# the "ID INODE SIZE CTIME" of each held file (postsuper renames: the
# inode stays, the ctime becomes the hold's), what the commit compares.
# Parts before it: [dirs.sh] running.sh postsuper.sh.
# Inputs: q, pdd.  Stdin: queue ids, one a line (checked again).
# Output: the record lines; postsuper's totals on stderr.  Exit 75 while
# Postfix runs, 3 when the queue cannot be entered, else postsuper's
# status when it failed.
# shellcheck disable=SC2154 # q comes from the caller
[ -n "$q" ] || postfix_dirs
enter_queue
require_stopped
umask 077
t=$(mktemp) || exit 3
trap 'rm -f "$t"' EXIT
grep -E '^[0-9A-Za-z]+$' >"$t"
stderr_once postsuper -h - <"$t" || exit $?
held_list | awk 'NR == FNR { want[$1] = 1; next } ($1 in want)' "$t" -
