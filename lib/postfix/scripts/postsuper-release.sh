#!/bin/sh
# postsuper -H -: releases the held messages whose ids are on stdin (back to deferred).
# Parts before it: postsuper.sh, and with stopped [dirs.sh] running.sh.
# Inputs: stopped=1 to refuse while Postfix runs (then q and pdd).  Stdin:
# queue ids, one a line (checked again).
# Output: postsuper's totals on stderr.  Exit 75 while Postfix runs (with
# stopped), else postsuper's status.
# shellcheck disable=SC2154 # stopped and q come from the caller
if [ -n "$stopped" ]; then
    [ -n "$q" ] || postfix_dirs
    require_stopped
fi
grep -E '^[0-9A-Za-z]+$' | stderr_once postsuper -H -
