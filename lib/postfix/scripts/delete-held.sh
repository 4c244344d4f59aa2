#!/bin/sh
# The purge's commit: deletes a held message only when its hold/ file has
# the inode, size and ctime the hold recorded (a replaced or re-created
# file has another inode or a later ctime; a rewritten one a later ctime),
# so its envelope is the one identify read.
# Parts before it: [dirs.sh] running.sh postsuper.sh.
# Inputs: q, pdd.  Stdin: the hold's "ID INODE SIZE CTIME" lines (checked
# again).
# Output: "checked N matched M"; postsuper's totals on stderr.  Exit 3 when
# the queue cannot be entered, else postsuper's status.
# shellcheck disable=SC2154 # q comes from the caller
[ -n "$q" ] || postfix_dirs
enter_queue
umask 077
t=$(mktemp) || exit 3
trap 'rm -f "$t" "$t.del"' EXIT
grep -E '^[0-9A-Za-z]+ [0-9]+ [0-9]+ [0-9]+(\.[0-9]+)?$' >"$t"
held_list | awk -v T="$t" -v D="$t.del" 'BEGIN { while ((getline l < T) > 0) { want[l] = 1; c++ }; printf "" >D }
($0 in want) { print $1 >D; m++ }
END { print "checked " c + 0 " matched " m + 0 }'
stderr_once postsuper -d - hold <"$t.del"
