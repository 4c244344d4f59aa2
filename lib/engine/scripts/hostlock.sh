#!/bin/sh
# The host lock: one responder per host.  Under flock on $lk_dir/lock it
# reads the holder record ("RUNID OPERATOR SINCE PID START"); the holder
# is alive while its process exists with the same start time (a zombie is
# dead: its connection is gone).
# take: a live holder of another run prints "held RUNID OPERATOR SINCE"
# and exits 3; otherwise the record becomes ours (the sshd process above
# this command, i.e. this SSH connection: it dies with the connection) and
# it prints "taken".  release: removes the record when it is ours
# ("released"), or prints "not-held".
# Inputs: lk_dir, lk_act (take or release), lk_id (the run), lk_op (the
# operator, take only).
# Exit 0, 3 (held), or 4 with a line on stderr when it cannot work.
# shellcheck disable=SC2154 # the inputs come from the caller
umask 077
st() { awk '{ sub(/^.*\) /, ""); if ($1 != "Z" && $1 != "X") print $20 }' "/proc/$1/stat" 2>/dev/null; }
pp() { awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null; }
f=$lk_dir/holder
if [ "$lk_act" = release ] && [ ! -e "$f" ]; then
    echo not-held; exit 0
fi
[ -d "$lk_dir" ] || mkdir -m 700 "$lk_dir" 2>/dev/null || [ -d "$lk_dir" ] || { echo "cannot make '$lk_dir'" >&2; exit 4; }
if [ -L "$lk_dir" ] || [ ! -d "$lk_dir" ]; then
    echo "'$lk_dir' is not a folder" >&2; exit 4
fi
command -v flock >/dev/null 2>&1 || { echo 'flock not found' >&2; exit 4; }
exec 9>>"$lk_dir/lock" || exit 4
flock -w 10 9 || { echo "cannot lock '$lk_dir/lock'" >&2; exit 4; }
hid='' hop='' hsince='' hpid='' hstart=''
if [ -f "$f" ]; then
    read -r hid hop hsince hpid hstart _ <"$f" || :
fi
if [ "$lk_act" = release ]; then
    if [ -n "$hid" ] && [ "$hid" = "$lk_id" ]; then
        rm -f "$f" || exit 4
        echo released
    else
        echo not-held
    fi
    exit 0
fi
alive=''
case $hpid in
''|*[!0-9]*) ;;
*) [ -n "$hstart" ] && [ "$(st "$hpid")" = "$hstart" ] && alive=1 ;;
esac
if [ -n "$alive" ] && [ "$hid" != "$lk_id" ]; then
    printf 'held %s %s %s\n' "$hid" "$hop" "$hsince"
    exit 3
fi
if [ -n "$hid" ] && [ "$hid" != "$lk_id" ]; then
    echo 'took over a stale lock (its connection is gone)' >&2
fi
c='' p=$PPID n=0
while [ "$n" -lt 32 ]; do
    case $p in ''|0|1|*[!0-9]*) break ;; esac
    case $(cat "/proc/$p/comm" 2>/dev/null) in
    sshd|sshd-session|dropbear) c=$p; break ;;
    esac
    p=$(pp "$p")
    n=$((n + 1))
done
[ -n "$c" ] || c=$PPID
s=$(st "$c")
[ -n "$s" ] || { echo "cannot read /proc/$c/stat" >&2; exit 4; }
printf '%s %s %s %s %s\n' "$lk_id" "$lk_op" "$(date +%s)" "$c" "$s" >"$f.tmp" && mv -f "$f.tmp" "$f" || exit 4
echo taken
