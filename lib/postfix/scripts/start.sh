#!/bin/sh
# Starts Postfix, in one round trip: the manager's name, then, only when it
# is stopped (a start of a Postfix already running outside systemd would
# leave a failed unit), the verb, and the wait until master -t agrees.
# With the dead-man timer (T set): when this run's stop stopped Postfix
# (its clock is in D), Postfix's quick-start marker skips the integrity
# checks of "postfix start" (they ran when this Postfix last started, and
# only this run's hold touched the queue since: docs/decisions.md); once
# Postfix runs, its clock, the disarm, and the down time when known (the
# timer's clock if the timer started Postfix, ours if this command did;
# neither when someone else did).
# Parts before it: [dirs.sh] running.sh service.sh.
# Inputs: v, ticks, q, pdd; with a timer T, D, X, u (see stop.sh).
# Output: the manager's name; "*** SPAMSTOP DOWN STOP START timer|start
# ***" with a timer.  Exit 1 when Postfix did not start in time, 3 when
# no way to control it was found.
# shellcheck disable=SC2154 # the inputs come from the caller
[ -n "$q" ] || postfix_dirs
manager
w=''
if ! running; then
    if [ -n "$T" ]; then
        # "true", a regular builtin: a failed redirection of ":" would end
        # the script
        w=1
        if [ -f "$D" ] && [ -n "$q" ]; then true >"$q/quick-start" 2>/dev/null || :; fi
    fi
    case $v in systemd) systemctl start postfix.service;; sysv) /etc/init.d/postfix start;; *) postfix start;; esac >/dev/null 2>&1 </dev/null || true
fi
settle start
[ -n "$T" ] || exit 0
read -r t _ 2>/dev/null </proc/uptime || t=''
disarm
if [ -f "$D" ] && read -r a b <"$D"; then
    if [ -n "$b" ]; then echo "*** SPAMSTOP DOWN $a $b timer ***"
    elif [ -n "$w" ] && [ -n "$t" ]; then echo "*** SPAMSTOP DOWN $a $t start ***"; fi
fi
if [ -f "$T" ] || [ -f "$D" ] || [ -f "$X" ]; then rm -f "$T" "$D" "$X"; fi
[ -z "$q" ] || [ ! -f "$q/quick-start" ] || rm -f "$q/quick-start"
