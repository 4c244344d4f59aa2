#!/bin/bash
# e2e: the host lock lives on the host.  Two runs from two state folders
# (two controllers, as far as their local locks go) at once on one host:
# the second is refused there, names the first run and its operator,
# exits 1 and sends the host nothing but the lock command; once the first
# run ends, a new run takes the host.  A controller killed with SIGKILL
# mid-run does not keep the host: its dead connection released the lock,
# and a run from another state folder is not refused; the killed run's
# own rollback takes the host back at once.
. "$(dirname "$0")/lib/engine.sh"

SD2=$TMP/state2
PAUSE=6
OPERATOR=$(printf '%s@%s' "$(id -un | sed 's/[^A-Za-z0-9._-]/_/g')" \
    "$(hostname | sed 's/[^A-Za-z0-9._-]/_/g')")
# spamstop with the second state folder.
ss2() {
    "$SPAMSTOP" "$1" -F "$LAB_SSH_CONFIG" --state-dir "$SD2" "${@:2}"
}
cleanup2() {
    local h
    for h in $LAB_HOSTS; do
        "$LAB" on "$h" rm -rf "$MDIR-2" "$MDIR-3" >/dev/null 2>&1 || true
    done
    cleanup
}
trap cleanup2 EXIT

# Starts respond (state folder $SD, marker folder $MDIR, pause $PAUSE) on
# h1 in the background and waits until h1 runs mark-one (step index 2),
# which sleeps.  Sets bg_pid and bg_run.
start_first() {
    local i
    rm -rf "$SD/runs"
    # not through ss: $! must be spamstop itself
    "$SPAMSTOP" respond -F "$LAB_SSH_CONFIG" --state-dir "$SD" -p "$PLAYBOOK" \
        --param dir="$MDIR" --param pause=$PAUSE --yes h1 >"$TMP/first.out" 2>&1 &
    bg_pid=$!
    bg_run=
    for ((i = 0; i < 50; i++)); do
        bg_run=$(ls "$SD/runs" 2>/dev/null | head -1 || true)
        [[ -n $bg_run ]] && break
        sleep 0.1
    done
    # the intent is journaled before the command: wait for its marker too
    for ((i = 0; i < 100; i++)); do
        grep -qs '"type":"intent","step":2,' "$SD/runs/$bg_run/journal/h1.jsonl" &&
            "$LAB" on h1 test -e "$MDIR/one" && return 0
        sleep 0.1
    done
    fail "the first run did not reach mark-one on h1: $(cat "$TMP/first.out")"
    return 1
}
# The commands the newest run of state folder $1 sent to host $2, one per
# line as PHASE:HEAD (HEAD: the lock's lk_act line, else the first line).
commands_to() {
    "$PY" - "$1" "$2" <<'PYEOF'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
run = sorted(os.listdir(runs), key=lambda r: os.path.getmtime(os.path.join(runs, r)))[-1]
for line in open(os.path.join(runs, run, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "command" and r.get("host") == sys.argv[2]:
        lines = r["command"].split("\n")
        head = lines[1] if lines[0].startswith("lk_dir=") else lines[0]
        print("%s:%s" % (r.get("phase"), head))
PYEOF
}
# A host's state in run.json of run $2 in state folder $1.
run_host_state() {
    "$PY" -c 'import json, sys
print(json.load(open(sys.argv[1]))["host_states"][sys.argv[2]])' "$1/runs/$2/run.json" "$3"
}
# The holder record of h1's lock, or "free".
h1_holder() { "$LAB" on h1 cat /run/spamstop/holder 2>/dev/null || echo free; }

declare -A before
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done

# 1. Two runs at once from two state folders.
start_first
first=$bg_run
# the first run goes on changing its own markers meanwhile (a loaded
# machine may get it past mark-one): compare the host without them
h1_during=$("$LAB" state h1)
rc=0
ss2 respond -p "$PLAYBOOK" --param dir="$MDIR-2" --yes h1 h3 >"$TMP/out" 2>"$TMP/err" || rc=$?
second=$(ls "$SD2/runs" | head -1)
check "the second run exits 1 (got $rc)" test "$rc" = 1
got=$(grep -E "(^|Z )h1: " "$TMP/out" || true)
if [[ $got == *"refused: host locked by run $first of $OPERATOR since "*" UTC"* ]]; then
    pass "recap names the holder: $got"
else
    fail "recap: $(cat "$TMP/out" "$TMP/err")"
fi
check "second run: h1 refused" test "$(run_host_state "$SD2" "$second" h1)" = refused
check "second run: h3 (free) committed" test "$(run_host_state "$SD2" "$second" h3)" = committed
sent=$(commands_to "$SD2" h1)
check "second run sent h1 only the lock command (got: $sent)" test "$sent" = "lock:lk_act=take"
check "second run has no journal for h1" test ! -e "$SD2/runs/$second/journal/h1.jsonl"
check "h1 has no marker of the second run" \
    test "$("$LAB" on h1 ls -d "$MDIR-2" 2>/dev/null || echo none)" = none
check "h1 unchanged by the second run" test "$("$LAB" state h1)" = "$h1_during"
rc=0
wait "$bg_pid" || rc=$?
check "the first run committed h1 (exit $rc)" test "$rc" = 0
sent=$(commands_to "$SD" h1 | sed -n '1p;$p' | tr '\n' ' ')
check "first run: lock first, unlock last (got: $sent)" \
    test "$sent" = "lock:lk_act=take unlock:lk_act=release "
check "h1's lock is free after the first run" test "$(h1_holder)" = free
# once the first run ended, another takes the host
rc=0
ss2 respond -p "$PLAYBOOK" --param dir="$MDIR-2" --yes h1 >"$TMP/out" 2>&1 || rc=$?
check "a new run takes h1 after the first ended (exit $rc)" test "$rc" = 0
grep -Eq "(^|Z )h1 +committed" "$TMP/out" && pass "h1 committed by the new run" ||
    fail "new run: $(cat "$TMP/out")"
for r in "$SD2"/runs/*; do
    ss2 rollback --yes "${r##*/}" >/dev/null 2>&1 || fail "rollback of ${r##*/}"
done
ss rollback --yes "$first" >/dev/null 2>&1 || fail "rollback of the first run"
for h in $LAB_HOSTS; do
    check "$h as before after the rollbacks" test "$(host_state "$h")" = "${before[$h]}"
done

# 2. kill -9 of a controller mid-run: its connection dies, and the lock
# with it: a run from another state folder is not refused.
rm -rf "$SD2/runs"
if start_first; then
    killed=$bg_run
    holder=$(h1_holder)
    [[ $holder == "$killed $OPERATOR "* ]] && pass "h1's lock names the running run" ||
        fail "h1's holder record: '$holder'"
    kill -KILL "$bg_pid" && pass "controller killed mid-run" || fail "controller ended before the kill"
    wait "$bg_pid" 2>/dev/null || true
    # sshd notices the closed connection within moments; allow up to ~10 s
    t0=$(date +%s)
    tries=0
    while :; do
        tries=$((tries + 1))
        rm -rf "$SD2/runs"
        rc=0
        ss2 respond -p "$PLAYBOOK" --param dir="$MDIR-3" --yes h1 >"$TMP/out" 2>&1 || rc=$?
        grep -Eq "(^|Z )h1: refused: host locked" "$TMP/out" || break
        ((tries < 20 && $(date +%s) - t0 < 10)) || break
        sleep 0.5
    done
    echo "# the new run got h1 at try $tries"
    check "a run from another state folder is not refused after the kill (exit $rc, try $tries)" \
        test "$rc" = 0
    grep -Eq "(^|Z )h1 +committed" "$TMP/out" && pass "h1 committed by the new run" ||
        fail "new run after the kill: $(cat "$TMP/out")"
    if "$PY" - "$SD2" <<'PYEOF'; then
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
run = os.listdir(runs)[0]
for line in open(os.path.join(runs, run, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "command" and r.get("phase") == "lock":
        sys.exit(0 if "took over a stale lock" in json.dumps(r) else 1)
sys.exit(1)
PYEOF
        pass "the new run's lock command took over a stale lock"
    else
        fail "no stale take-over in the new run's trail"
    fi
    ss2 rollback --yes "$(ls "$SD2/runs" | head -1)" >/dev/null 2>&1 ||
        fail "rollback of the run after the kill"
    ss rollback --yes "$killed" >/dev/null 2>&1 || fail "rollback of the killed run"
    for h in $LAB_HOSTS; do
        check "$h as before after the kill and the rollbacks" \
            test "$(host_state "$h")" = "${before[$h]}"
    done
fi

# 3. The killed run's own rollback, at once: the lock still names it (its
# connection is dead, maybe not yet noticed by sshd); same run: taken.
if start_first; then
    killed=$bg_run
    kill -KILL "$bg_pid" && pass "controller killed mid-run again" ||
        fail "controller ended before the kill"
    wait "$bg_pid" 2>/dev/null || true
    holder=$(h1_holder)
    [[ $holder == "$killed "* ]] && pass "h1's lock still names the killed run" ||
        fail "h1's holder record after the kill: '$holder'"
    rc=0
    ss rollback --yes "$killed" >"$TMP/out" 2>&1 || rc=$?
    check "rollback of the killed run exits 0 (got $rc: $(tr '\n' ' ' <"$TMP/out"))" test "$rc" = 0
    check "h1's lock is free after that rollback" test "$(h1_holder)" = free
    for h in $LAB_HOSTS; do
        check "$h as before after the rollback of the killed run" \
            test "$(host_state "$h")" = "${before[$h]}"
    done
fi
finish
