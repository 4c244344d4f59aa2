#!/bin/sh
# Says whether Postfix runs: the manager's name (detected when v is empty),
# then the exit status.
# Parts before it: [dirs.sh] running.sh service.sh.
# Inputs: v, q, pdd.
# Output: the manager's name.  Exit 0 when Postfix runs, 3 when no way to
# control it was found, else 1.
# shellcheck disable=SC2154 # q comes from the caller
[ -n "$q" ] || postfix_dirs
manager
running
