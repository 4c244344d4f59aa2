#!/bin/bash
# e2e: respond --syslog sends one line per step outcome, per host end and
# per run start/end to syslog, with the run id and the exit status, and
# never a password.  This machine runs no syslog daemon: the test runs
# spamstop in a private mount namespace whose /dev holds a socket that a
# small listener reads (glibc's syslog() writes to /dev/log).
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_syslog
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

if ! command -v unshare >/dev/null || [[ $(id -u) != 0 ]]; then
    echo "$t: SKIP: needs root and unshare for a private /dev/log"
    exit 0
fi

work=$(mktemp -d /tmp/ss-uxlog-XXXXXX)
chmod 700 "$work"
listener=
cleanup() {
    [[ -n $listener ]] && kill "$listener" 2>/dev/null
    "$lab" clear h2 >/dev/null 2>&1 || true
    umount "$work/dev" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# a /dev of our own: the nodes spamstop may open, and the log socket
mkdir "$work/dev"
mount -t tmpfs -o mode=755 ss-uxlog "$work/dev"
for n in null zero random urandom tty; do
    [[ -e /dev/$n ]] && cp -a "/dev/$n" "$work/dev/$n"
done
/usr/bin/python3 - "$work/dev/log" "$work/syslog.txt" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
EOF
listener=$!
for _ in $(seq 50); do [[ -S $work/dev/log ]] && break; sleep 0.1; done
[[ -S $work/dev/log ]] || fail "listener did not start"

"$lab" clear h2 >/dev/null
"$lab" stage h2 --spam dave:60 --legit 2 >/dev/null
set +e
unshare --mount --propagation private sh -c \
    'mount --bind "$1" /dev && shift && exec "$@"' sh "$work/dev" \
    "$ss" respond --yes --syslog -F "$LAB_SSH_CONFIG" \
    --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$work/state" h2 \
    >"$work/out" 2>&1 </dev/null
rc=$?
set -e
[[ $rc == 0 ]] || fail "respond --syslog exited $rc: $(tail -5 "$work/out")"
sleep 0.3
run=$(ls -t "$work/state/runs" | head -1)
log=$work/syslog.txt
[[ -s $log ]] || fail "nothing reached syslog"
# <PRI>: LOG_AUTHPRIV is facility 10: PRI = 80 + severity
grep -Eq "^<8[0-7]>.*spamstop\[[0-9]+\]: run=$run respond start" "$log" ||
    fail "no run start line (facility authpriv): $(head -3 "$log")"
grep -Eq "spamstop\[[0-9]+\]: run=$run host=h2 connected key=SHA256:" "$log" ||
    fail "no connected line"
grep -Eq "run=$run host=h2 step=[a-z-]+ result=done" "$log" || fail "no step line"
grep -Eq "run=$run host=h2 host-end state=committed" "$log" || fail "no host-end line"
grep -Eq "run=$run respond end outcome=committed exit=0" "$log" ||
    fail "no run end line with the exit status"
steps=$(grep -c "run=$run host=h2 step=" "$log")
# no new password anywhere in the log lines
while read -r account password _; do
    [[ -n $password ]] || continue
    grep -qF -- "$password" "$log" && fail "the new password of $account is in syslog"
done <"$work/state/runs/$run/credentials"
[[ -s $work/state/runs/$run/credentials ]] || fail "no credentials file to check against"
head -4 "$log" | sed "s/^/    syslog: /"
ok "syslog (authpriv): run start/end with exit 0, $steps step lines, host end, no password"
