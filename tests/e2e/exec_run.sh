#!/bin/bash
# spamstop exec against the lab: parallel runs, exit status, stderr, stdin
# (and that a secret on stdin leaks nowhere), deadlines, caps, unreachable
# hosts, and --forks timing.  Needs a lab that is up (LAB_NAME, LAB_NET).
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SPAMSTOP=${SPAMSTOP:-$SOURCE_DIR/build/spamstop}
LAB=$SOURCE_DIR/tests/lab/lab.sh
# shellcheck disable=SC1090
. "$("$LAB" env)"
TMP=$(mktemp -d /tmp/spamstop-e2e-exec.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

fails=0
pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*" >&2
    fails=$((fails + 1))
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# True when a < b (floating point).
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

ss() { "$SPAMSTOP" exec -F "$LAB_SSH_CONFIG" "$@"; }
# One field of the JSON line of host h in file f.
jfield() {
    /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["host"] == sys.argv[2]:
        v = o[sys.argv[3]]
        print("null" if v is None else v)
' "$1" "$2" "$3"
}

# 1. Three hosts in parallel; postqueue -j counts equal what was staged.
declare -A want
for h in $LAB_HOSTS; do
    before=$("$LAB" on "$h" postqueue -j | wc -l)
    case $h in
    h1) "$LAB" stage h1 --spam alice:12 --legit 4 2>/dev/null; n=16 ;;
    h2) "$LAB" stage h2 --spam dave:7 --legit 2 2>/dev/null; n=9 ;;
    *) "$LAB" stage "$h" --legit 3 2>/dev/null; n=3 ;;
    esac
    want[$h]=$((before + n))
done
t0=$(now)
rc=0
ss --json --forks 3 -c 'postqueue -j | wc -l' $LAB_HOSTS >"$TMP/count.json" || rc=$?
t1=$(now)
[[ $rc == 0 ]] && pass "postqueue on 3 hosts exits 0" || fail "postqueue on 3 hosts exited $rc"
for h in $LAB_HOSTS; do
    got=$(jfield "$TMP/count.json" "$h" stdout | tr -d ' \n')
    if [[ $got == "${want[$h]}" ]]; then
        pass "$h: postqueue -j lists $got messages as staged"
    else
        fail "$h: postqueue -j lists '$got', staged ${want[$h]}"
    fi
    fp=$(jfield "$TMP/count.json" "$h" fingerprint)
    [[ $fp == SHA256:* ]] && pass "$h: fingerprint $fp" || fail "$h: no fingerprint ($fp)"
done
echo "# connect+postqueue on $(wc -w <<<"$LAB_HOSTS") hosts, --forks 3: $(secs "$t0" "$t1") s"
for h in $LAB_HOSTS; do
    echo "# $h connect+exec: $(jfield "$TMP/count.json" "$h" duration_ms) ms"
done

# 2. Exit status, stderr kept apart from stdout.
rc=0
ss -c 'echo to-out; echo to-err >&2; exit 7' h1 >"$TMP/o" 2>"$TMP/e" || rc=$?
[[ $rc == 1 ]] && pass "non-zero remote exit gives exit code 1" || fail "exit code $rc, want 1"
grep -qx '== h1 (exit 7, .*) ==' "$TMP/o" && pass "header shows exit 7" ||
    fail "header: $(head -1 "$TMP/o")"
grep -qx 'to-out' "$TMP/o" && ! grep -q 'to-err' "$TMP/o" &&
    pass "stdout holds only stdout" || fail "stdout: $(cat "$TMP/o")"
grep -qx 'to-err' "$TMP/e" && ! grep -q 'to-out' "$TMP/e" &&
    pass "stderr holds only stderr" || fail "stderr: $(cat "$TMP/e")"
ss --json -c 'echo o; echo e >&2; kill -KILL $$' h1 >"$TMP/sig.json" || true
[[ $(jfield "$TMP/sig.json" h1 signal) == KILL ]] && pass "signal KILL reported" ||
    fail "signal: $(cat "$TMP/sig.json")"
ss --json -c 'printf o; printf e >&2; exit 0' h1 >"$TMP/j.json"
[[ $(jfield "$TMP/j.json" h1 stdout) == o && $(jfield "$TMP/j.json" h1 stderr) == e &&
    $(jfield "$TMP/j.json" h1 exit) == 0 ]] && pass "json has exit, stdout, stderr" ||
    fail "json: $(cat "$TMP/j.json")"

# 3. stdin reaches the command; a secret on stdin shows in no log or argv.
secret="Sec-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s' "$secret" >"$TMP/secret"
ss --stdin -c 'cat >/tmp/spamstop-e2e-stdin; sleep 2; cat /tmp/spamstop-e2e-stdin; rm -f /tmp/spamstop-e2e-stdin' \
    h2 <"$TMP/secret" >"$TMP/o" 2>"$TMP/e" &
pid=$!
leaked=0
for _ in $(seq 1 15); do
    # No PID namespace in the lab: this sees every host's processes.
    if ps -eo args | grep -F -- "$secret" | grep -vq 'grep -F'; then leaked=1; fi
    sleep 0.1
done
wait "$pid" || fail "stdin run failed: $(cat "$TMP/e")"
grep -qxF "$secret" "$TMP/o" && pass "stdin delivered" || fail "stdin not delivered: $(cat "$TMP/o")"
((leaked == 0)) && pass "secret not in any process's argv" || fail "secret seen in ps"
if "$LAB" sshd-log h2 | grep -qF -- "$secret"; then fail "secret in h2's sshd log"; else
    pass "secret not in h2's sshd log"
fi
if grep -qF -- "$secret" "$TMP/e"; then fail "secret in spamstop's stderr"; else
    pass "secret not in spamstop's stderr"
fi

# 3b. Stdin bigger than the SSH window, read late: 8 MiB to a command that
# starts reading after 7 s, past libssh's own timeout (the lab's
# ConnectTimeout 5), as identify reads its stamps after listing a big queue.
head -c 8388608 /dev/urandom >"$TMP/big-in"
want=$(sha256sum <"$TMP/big-in" | cut -d' ' -f1)
if ss --stdin --timeout 60 -c 'sleep 7; sha256sum' h2 <"$TMP/big-in" >"$TMP/o" 2>"$TMP/e" &&
    grep -qF "$want" "$TMP/o"; then
    pass "8 MiB of stdin read after 7 s delivered whole"
else
    fail "late-read stdin: $(head -c 300 "$TMP/e")"
fi

# 4. Deadline: sleep 30 with a 2 s deadline fails in about 2 s.
t0=$(now)
rc=0
ss --timeout 2 -c 'sleep 30' h3 >"$TMP/o" 2>"$TMP/e" || rc=$?
t1=$(now)
d=$(secs "$t0" "$t1")
[[ $rc == 1 ]] && grep -q 'failed: timeout' "$TMP/o" && grep -q 'did not finish within 2.0 s' "$TMP/e" &&
    pass "timeout reported ($(cat "$TMP/e"))" || fail "timeout: rc=$rc $(cat "$TMP/o" "$TMP/e")"
lt "$d" 4 && pass "timeout after $d s" || fail "timeout took $d s"
echo "# sleep 30 with --timeout 2: $d s"
# As a non-root user sshd honours the TERM we send for an abandoned command
# (for root logins OpenSSH refuses signal requests: documented).
ss --user deploy --timeout 1 -c 'sleep 33' h3 >/dev/null 2>&1 || true
sleep 0.5
if ps -eo args | grep -qx 'sleep 33'; then fail "timed-out 'sleep 33' still runs"; else
    pass "timed-out command was stopped on the host"
fi

# 5. Unreachable host fails fast with a clear error; the others succeed.
t0=$(now)
rc=0
ss --json --connect-timeout 5 -c 'echo up' h1 h2 "10.$LAB_NET.0.99" h3 >"$TMP/u.json" 2>/dev/null || rc=$?
t1=$(now)
[[ $rc == 1 ]] && pass "unreachable host makes exit code 1" || fail "exit code $rc with unreachable host"
for h in h1 h2 h3; do
    [[ $(jfield "$TMP/u.json" "$h" stdout) == up ]] && pass "$h ran next to the unreachable host" ||
        fail "$h: $(cat "$TMP/u.json")"
done
err=$(jfield "$TMP/u.json" "10.$LAB_NET.0.99" error)
kind=$(jfield "$TMP/u.json" "10.$LAB_NET.0.99" error_kind)
[[ $kind == unreachable && $err == *"cannot connect to '10.$LAB_NET.0.99'"* ]] &&
    pass "unreachable: $err" || fail "unreachable error: $kind $err"
lt "$(secs "$t0" "$t1")" 6 && pass "unreachable host failed within $(secs "$t0" "$t1") s" ||
    fail "unreachable took $(secs "$t0" "$t1") s"

# 6. Output over the cap: an error, no crash; a bigger cap passes.
rc=0
ss --out-cap 1000000 -c 'head -c 80M /dev/zero' h1 >"$TMP/o" 2>"$TMP/e" || rc=$?
[[ $rc == 1 ]] && grep -q 'failed: output too big' "$TMP/o" && grep -q 'over its cap' "$TMP/e" &&
    pass "80 MiB over a 1 MB cap is refused" || fail "cap: rc=$rc $(head -c 300 "$TMP/o" "$TMP/e")"
rc=0
ss -c 'head -c 80M /dev/zero' h1 >/dev/null 2>"$TMP/e" || rc=$?
[[ $rc == 1 ]] && grep -q 'over its cap' "$TMP/e" && pass "80 MiB over the default 64 MiB cap is refused" ||
    fail "default cap: rc=$rc $(cat "$TMP/e")"
ss --json -c 'f=/tmp/spamstop-e2e-big; head -c 3000000 /dev/urandom >$f; sha256sum <$f >&2; cat $f; rm -f $f' \
    h1 >"$TMP/big.json"
bytes=$(jfield "$TMP/big.json" h1 stdout_bytes)
sum=$(jfield "$TMP/big.json" h1 stdout_sha256)
remote=$(jfield "$TMP/big.json" h1 stderr)
[[ $bytes == 3000000 && $remote == *"$sum"* ]] && pass "3 MB of stdout arrives whole (sha256 $sum)" ||
    fail "3 MB: bytes=$bytes sum=$sum remote=$remote"
ss -c 'echo still-fine' h1 | grep -qx still-fine && pass "host still answers after the cap" ||
    fail "host broken after cap"

# 7. --become runs the command as root through sudo -n.
[[ $(ss --user deploy -c 'id -u' h1) == *$'\n'[1-9]* ]] && pass "deploy is not root without --become" ||
    fail "deploy uid: $(ss --user deploy -c 'id -u' h1)"
out=$(ss --user deploy --become -c 'id -u; echo "it'\''s $((1+1))"' h1)
[[ $out == *$'\n0\n'"it's 2"* ]] && pass "--become runs as root, quoting intact" || fail "--become: $out"

# 8. --forks: all hosts at once vs one by one.
n=$(wc -w <<<"$LAB_HOSTS")
t0=$(now)
ss --forks 10 -c 'sleep 1' $LAB_HOSTS >/dev/null
t1=$(now)
ss --forks 1 -c 'sleep 1' $LAB_HOSTS >/dev/null
t2=$(now)
par=$(secs "$t0" "$t1")
ser=$(secs "$t1" "$t2")
echo "# 'sleep 1' on $n hosts: --forks 10 $par s, --forks 1 $ser s"
lt "$par" "$(awk -v s="$ser" 'BEGIN { print s * 0.6 }')" && pass "--forks 10 ($par s) beats --forks 1 ($ser s)" ||
    fail "--forks 10 $par s vs --forks 1 $ser s"
t0=$(now)
ss --forks 3 -c true $LAB_HOSTS >/dev/null
t1=$(now)
ss --forks 1 -c true $LAB_HOSTS >/dev/null
t2=$(now)
echo "# 'true' on $n hosts: --forks 3 $(secs "$t0" "$t1") s, --forks 1 $(secs "$t1" "$t2") s"

# 9. The SSH socket has Nagle off: every command is a few small packets
# each way, and with Nagle each can wait for a 40 ms delayed ACK (that was
# 45 ms of a 48 ms round trip on the lab).  strace sees the setsockopt.
if command -v strace >/dev/null 2>&1; then
    strace -f -qq -e trace=setsockopt -o "$TMP/strace" \
        "$SPAMSTOP" exec -F "$LAB_SSH_CONFIG" -c true h1 >/dev/null 2>&1 || true
    if grep -q 'TCP_NODELAY, \[1\]' "$TMP/strace"; then
        pass "the SSH socket sets TCP_NODELAY"
    else
        fail "no TCP_NODELAY on the SSH socket: $(head -c 300 "$TMP/strace")"
    fi
else
    fail "strace is not installed (tests/install-deps.sh installs it)"
fi

# 10. Usage errors exit 2 and connect nowhere.
rc=0
"$SPAMSTOP" exec h1 2>/dev/null || rc=$?
[[ $rc == 2 ]] && pass "missing -c is a usage error" || fail "missing -c exited $rc"

if ((fails > 0)); then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
