#!/bin/sh
# The dead-man timer, written by service.sh's stop to $X and run as
# "sh FILE NAME SECS PDD TIMER DOWN MANAGER TOKEN" (a file, not sh -c:
# systemd 252 expands $VAR in a transient unit's command line).  After
# SECS it does nothing unless the TIMER file still holds its TOKEN (a start
# removed it: a disarm whose kill missed still disarms); else it starts
# Postfix through MANAGER unless it runs, waits up to 30 s for it, adds its
# own clock to the DOWN file's stop time when it was the one to start it,
# and only then removes the TIMER file and itself: a start of the run that
# comes while the timer is at work still finds it, and stops it once
# Postfix runs.
# Parts before it: running.sh.
# Inputs: the arguments above.  Output: none; exit 0.
# shellcheck disable=SC2034 # pdd is for running (running.sh)
n=$2 pdd=$3 f=$4 d=$5 m=$6 tk=$7 x=$0 s=
[ "$n" -gt 0 ] 2>/dev/null && sleep "$n"
mine() { [ -f "$f" ] && read -r _ k <"$f" && [ "$k" = "$tk" ]; }
mine || exit 0
if ! running; then s=1; case $m in systemd) systemctl start postfix.service;; sysv) /etc/init.d/postfix start;; *) postfix start;; esac >/dev/null 2>&1 </dev/null; fi
i=0
while ! running && [ $i -lt 300 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
if [ -n "$s" ] && running && [ -f "$d" ] && read -r a b <"$d" && [ -z "$b" ] && read -r t _ </proc/uptime; then echo "$a $t" >"$d"; fi
! mine || rm -f "$f" "$x"
