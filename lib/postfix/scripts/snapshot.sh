#!/bin/sh
# The purge's snapshot: tars the queue files (with all=1 every message and
# log file, else those of the ids on stdin) to $d/queue.tar, through
# queue.tar.tmp and a rename, keeping an existing one (a resumed run must
# not replace the pre-purge copy), then streams it on stdout: the evidence
# copy comes back in the same command, hashed by the controller as it
# arrives.  Queue files keep their mode bits (tar -p --numeric-owner).
# Parts before it: [dirs.sh] running.sh.
# Inputs: d the snapshot folder, all (1 or empty), q and pdd.
# Stdin: queue ids, one a line (checked again), unless all.
# Output: the tar.  Exit 3 when the queue, the folder or tar fails.
# shellcheck disable=SC2154 # d and all come from the caller
umask 077
[ -n "$q" ] || postfix_dirs
enter_queue
mkdir -p "$d" || exit 3
if [ ! -f "$d/queue.tar" ]; then
  if [ -n "$all" ]; then
    find deferred active incoming hold maildrop defer bounce trace -type f >"$d/paths" 2>/dev/null
  else
    # file names are ids
    grep -E '^[0-9A-Za-z]+$' >"$d/ids"
    find deferred active incoming hold maildrop defer bounce trace -type f 2>/dev/null | awk 'NR == FNR { want[$0] = 1; next } { n = split($0, p, "/"); if (p[n] in want) print }' "$d/ids" - >"$d/paths"
  fi
  tar -cpf "$d/queue.tar.tmp" --numeric-owner --ignore-failed-read --no-recursion -T "$d/paths" 2>"$d/tar.err"
  [ $? -le 1 ] || { cat "$d/tar.err" >&2; exit 3; }
  mv -f "$d/queue.tar.tmp" "$d/queue.tar" || exit 3
fi
exec cat -- "$d/queue.tar"
