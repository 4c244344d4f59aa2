#!/bin/sh
# Puts a snapshot back in place, Postfix stopped, then postsuper -s (queue
# ids change: short ids embed the inode).  Once only: restored messages
# get new ids, so a second restore could not recognise them and would
# queue every message twice ($t.restored marks the first).
# Parts before it: [dirs.sh] running.sh.
# Inputs: t the snapshot tar, q and pdd.
# Output: "restored N".  Exit 75 while Postfix runs, 3 when the snapshot is
# missing or tar fails.
# shellcheck disable=SC2154 # t comes from the caller
[ -n "$q" ] || postfix_dirs
enter_queue
if running; then echo "postfix is running: stop it before an in-place restore" >&2; exit 75; fi
[ -f "$t" ] || { echo "no snapshot at $t" >&2; exit 3; }
if [ -f "$t.restored" ]; then echo 'restored 0'; exit 0; fi
n=$(tar -tf "$t" | grep -c -E '^(deferred|active|incoming|hold|maildrop)/')
tar -xpf "$t" --same-owner --numeric-owner --warning=no-timestamp || exit 3
postsuper -s >/dev/null 2>&1 || true
touch "$t.restored"
echo "restored $n"
