# shellcheck shell=sh
# A part, not a program (no #!): functions sent before stop.sh, start.sh
# and status.sh, after running.sh.
# Inputs: v (systemd, sysv, postfix, or empty: detect), ticks (tenths of a
# second to wait), T and u (the dead-man timer's file and unit name, see
# stop.sh).
# shellcheck disable=SC2154 # the inputs come from the caller

# Sets v to the way the host runs Postfix unless given (systemd where it is
# PID 1 and knows postfix.service, else SysV, else the postfix command) and
# prints it; prints "none" and exits 3 when there is none.
manager() {
    if [ -z "$v" ]; then
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl cat postfix.service >/dev/null 2>&1; then v=systemd
        elif [ -x /etc/init.d/postfix ]; then v=sysv
        elif command -v postfix >/dev/null 2>&1; then v=postfix
        else echo none; echo "no way to control postfix was found on the host" >&2; exit 3; fi
    fi
    echo "$v"
}

# Waits in tenths of a second (a whole second where sleep takes integers
# only, counted as ten ticks) until Postfix is stopped ($1 stop) or runs
# ($1 start), up to ticks, else exits 1 saying so.
settle() {
    i=0
    while if [ "$1" = stop ]; then running; else ! running; fi; do
        if [ $i -ge "$ticks" ]; then echo "postfix did not $1" >&2; exit 1; fi
        if sleep 0.1 2>/dev/null; then i=$((i + 1)); else sleep 1; i=$((i + 10)); fi
    done
}

# Stops the timer the file $T names, also one that fired and is still at
# work (the caller's Postfix runs already): a systemd timer unit and its
# service, or a process group, killed only when the pid's command line
# still holds the token (a pid reused since is left alone).  Nothing
# armed, or a timer that is done (it removed the file), is fine.  The
# caller removes $T.
disarm() {
    [ -f "$T" ] || return 0
    read -r a b <"$T" || :
    case $a in
    systemd) systemctl stop "$u.timer" "$u.service" >/dev/null 2>&1 ;;
    '' | *[!0-9]*) ;;
    *) [ -n "$b" ] && grep -qF -e "$b" "/proc/$a/cmdline" 2>/dev/null && kill -TERM "-$a" 2>/dev/null ;;
    esac
    return 0
}
