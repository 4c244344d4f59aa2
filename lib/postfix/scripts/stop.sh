#!/bin/sh
# Stops Postfix, in one round trip: the manager's name, then, only when it
# runs, the verb (a second "postfix abort" fails through postlog's fatal,
# which sleeps a second), and the wait until master -t agrees.  Without a
# service manager the verb is "postfix abort": the same SIGTERM as
# "postfix stop", without its waits in whole seconds.  systemd and SysV
# keep their own stop, so the manager's state stays right; a Postfix that
# systemd's stop left running (started by hand, outside its unit: systemd
# does not know it) gets "postfix abort" too.
# With the dead-man timer (T set), when it stops Postfix itself (a Postfix
# found stopped is not this run's to start again) it first arms the timer
# (R set: timer.sh, started by systemd-run where systemd is PID 1, else
# detached by setsid) and notes its clock in D, right before the verb:
# the arm stays off the time mail is down.
# Parts before it: [dirs.sh] running.sh service.sh.
# Inputs: v, ticks, q, pdd; with a timer S (its folder), T (its file,
# "PID TOKEN" or "systemd TOKEN"), D (the down-time file), X (the file
# for timer.sh), u (the unit name), and to arm it ra (seconds) and R
# (timer.sh's text).
# Output: the manager's name; "*** SPAMSTOP TIMER PID|systemd ***" with a
# timer.  Exit 1 when Postfix did not stop in time, 3 when no way to
# control it was found, 4 when the timer cannot be armed (Postfix left
# running).
# shellcheck disable=SC2154 # the inputs come from the caller
[ -n "$q" ] || postfix_dirs
manager
if running; then
    if [ -n "$T" ]; then
        # shellcheck disable=SC2174 # only the last folder is ours to make 0700
        [ -d "$S" ] || mkdir -p -m 700 "$S" 2>/dev/null
        if [ -n "$R" ]; then
            # an earlier timer of the run first (a stop run again by resume)
            disarm
            read -r t _ 2>/dev/null </proc/uptime || t=0
            k="$u:$t" a=''
            if printf '%s' "$R" >"$X" 2>/dev/null; then
                # AccuracySec=1s, or the timer may fire up to a minute late;
                # $! of setsid is the script's pid (a background job of a
                # shell without job control is no group leader)
                if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
                    systemd-run --quiet --collect --unit="$u" --on-active="$ra" --timer-property=AccuracySec=1s /bin/sh "$X" "$u" 0 "$pdd" "$T" "$D" "$v" "$k" </dev/null >/dev/null 2>&1 && echo "systemd $k" >"$T" && a=1
                elif command -v setsid >/dev/null 2>&1; then
                    setsid /bin/sh "$X" "$u" "$ra" "$pdd" "$T" "$D" "$v" "$k" </dev/null >/dev/null 2>&1 &
                    echo "$! $k" >"$T" && a=1
                fi
            fi
            [ -n "$a" ] || { echo "cannot arm the restart timer: postfix was left running" >&2; exit 4; }
        fi
        # the stop's clock (a builtin read: no process)
        read -r t _ 2>/dev/null </proc/uptime && echo "$t" 2>/dev/null >"$D"
    fi
    case $v in systemd) systemctl stop postfix.service; ! running || postfix abort;; sysv) /etc/init.d/postfix stop;; *) postfix abort;; esac >/dev/null 2>&1 </dev/null || true
fi
settle stop
if [ -n "$T" ] && [ -f "$T" ] && read -r a _ <"$T"; then echo "*** SPAMSTOP TIMER $a ***"; fi
