#!/bin/bash
# e2e: faults on one host (h3) in the middle of a run of the default
# playbook while h2 runs beside it: its link cut, its sshd killed, its link
# slowed down past the command deadline, and the run folder's disk full.
# The fault is injected at an exact journal position with the test hook
# SPAMSTOP_TEST_STALL_AT (docs/reliability.md).  Each time h2 commits, h3
# ends rolled-back or needs-attention with a journal that replays, and once
# the fault is gone `rollback` gives h3 back as before the run, every
# message still queued.
. "$(dirname "$0")/../reliability/lib.sh"
F=h3
NS=$LAB_NAME-$F
VETH=$LAB_NAME-$F
T=8 # seconds each command of the test playbook may take

# The default playbook with a short deadline per command (but for the
# Postfix stop and start, which wait up to 30 s), so a dead link costs
# seconds, not the default 120 s.
"$PY" - "$SOURCE_DIR/playbooks/compromised-account.json" "$TMP/pb.json" "$T" <<'PYEOF'
import json, sys
pb = json.load(open(sys.argv[1]))
for s in pb["steps"]:
    if s["action"] != "service":
        s["timeout"] = int(sys.argv[3])
json.dump(pb, open(sys.argv[2], "w"))
PYEOF

at_exit 'ip link set "$VETH" up 2>/dev/null'
at_exit 'tc qdisc del dev "$VETH" root 2>/dev/null'
at_exit 'ip netns exec "$NS" tc qdisc del dev eth0 root 2>/dev/null'
at_exit 'mountpoint -q "$TMP/full" && umount "$TMP/full"'
at_exit 'sshd_up'

# Says whether something listens on h3's port 22.
sshd_listens() { [[ -n $(ip netns exec "$NS" ss -Htln 'sport = :22') ]]; }
# Starts h3's sshd again when nothing listens on its port 22.
sshd_up() {
    local i
    sshd_listens && return 0
    "$LAB" on "$F" /usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log </dev/null
    for ((i = 0; i < 50; i++)); do sshd_listens && return 0; sleep 0.1; done
    return 1
}
# Number of commands h3's sshd has started so far.
sessions() { "$LAB" sshd-log "$F" | grep -c 'Starting session' || true; }

# Stages both hosts and keeps their state in $TMP/before-H.
stage_both() {
    restage h2 --spam dave:60 --legit 4
    restage "$F" --spam erin:60 --legit 4
    "$LAB" state h2 >"$TMP/before-h2"
    "$LAB" state "$F" >"$TMP/before-$F"
}

# Runs respond on HOSTS in the background, stalled at h3's journal write
# POS (hook syntax); sets pid.  Waits until the stall is reached.
start_stalled() {
    local pos=$1 i
    shift
    rm -f "$TMP/stall"
    SPAMSTOP_TEST_STALL_AT=$pos SPAMSTOP_TEST_CRASH_HOST=$F SPAMSTOP_TEST_STALL_FILE=$TMP/stall \
        "$SPAMSTOP" respond -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$SD" --connect-timeout 3 -p "$TMP/pb.json" --yes "$@" \
        >"$TMP/run.out" 2>&1 &
    pid=$!
    for ((i = 0; i < 300; i++)); do
        [[ -e $TMP/stall ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "the run never reached h3's journal write $pos: $(tail -3 "$TMP/run.out")"
    return 1
}
# Lets the stalled run go on and waits for it; sets rc.
release() {
    rm -f "$TMP/stall"
    rc=0
    wait "$pid" || rc=$?
}

# h3's journal ends as a fault must leave it: replays (rollback and resume
# read it), its last record is `end` with rolled-back or needs-attention,
# and a step failed (or the rollback says why).
faulty_journal() {
    "$PY" - "$SD/runs/$1/journal/$F.jsonl" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
seqs = [r["seq"] for r in recs]
assert seqs == list(range(1, len(recs) + 1)), "seq gaps"
last = recs[-1]
assert last["type"] == "end" and last["state"] in ("rolled-back", "needs-attention"), last
# a read-only step (identify) journals no intent: its failure is the
# error of the rollback it started
assert any(r["type"] in ("failed", "undo-failed") or (r["type"] == "rollback" and r.get("error")) for r in recs), "no failure recorded: " + " / ".join(json.dumps(r)[:160] for r in recs[-6:])
print(last["state"], "after", len(recs), "records")
PYEOF
}

# The common end of a scenario: h2 committed, h3 faulty with a good
# journal; with the fault gone, rollback of h3 gives it back as before.
after_fault() {
    local what=$1 R out st
    R=$(run_id)
    grep -q 'h2 *committed' "$TMP/run.out" && pass "$what: h2 committed" ||
        fail "$what: h2 did not commit: $(grep -A3 -E '^h2 ' "$TMP/run.out" | cut -c1-300)"
    check "$what: h2 as after a run" as_committed h2 "$TMP/before-h2"
    [[ $rc == 1 || $rc == 3 ]] && pass "$what: respond exit $rc" || fail "$what: respond exit $rc"
    if st=$(faulty_journal "$R" 2>&1); then pass "$what: h3 journal ends $st"; else
        fail "$what: h3 journal: $st"
    fi
    out=$(ss rollback --yes --host "$F" "$R" 2>&1) || fail "$what: rollback after the fault: $out"
    if same_state "$F" "$TMP/before-$F"; then pass "$what: rollback gave h3 back as before"; else
        fail "$what: h3 differs from before after rollback"
    fi
}

SD=$TMP/sd
mkdir -m 700 "$SD"

# (a) the link cut after h3 journaled the intent to purge (write 10).
if want link && stage_both && start_stalled 10+ h2 "$F"; then
    ip link set "$VETH" down
    release
    ip link set "$VETH" up
    after_fault "link cut"
fi

# (b) every sshd process of h3 killed after the intent to snapshot.
if want sshd && stage_both && start_stalled 6+ h2 "$F"; then
    for p in $(ip netns pids "$NS"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && kill -KILL "$p"
    done
    for ((i = 0; i < 50; i++)); do sshd_listens || break; sleep 0.1; done
    release
    sshd_up || fail "sshd killed: cannot start h3's sshd again"
    after_fault "sshd killed"
fi

# (c) h3's link slowed to 1 kB/s before the identify pass (its stamps in
# and fingerprints out are kB), past the 8 s deadline.  (sch_netem is not
# in this kernel; a token bucket does the slowing instead.)
if want slow && stage_both && start_stalled 4+ h2 "$F"; then
    tc qdisc add dev "$VETH" root tbf rate 8kbit burst 1600 latency 60s
    ip netns exec "$NS" tc qdisc add dev eth0 root tbf rate 8kbit burst 1600 latency 60s
    release
    tc qdisc del dev "$VETH" root
    ip netns exec "$NS" tc qdisc del dev eth0 root
    after_fault "slow link"
fi

# (d) the run folder's disk fills up while h3 is stalled before the end of
# its rotation: h3 stops dead, nothing more is sent to it.
mkdir -m 700 "$TMP/full"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$TMP/full"
SD=$TMP/full/sd
mkdir -m 700 "$SD"
ns=$(sessions)
if want disk && stage_both && start_stalled 8+ "$F"; then
    n0=$(sessions)
    dd if=/dev/zero of="$TMP/full/filler" bs=64k 2>/dev/null || true
    release
    sleep 0.3
    R=$(run_id)
    # The first write after the stall is either an audit record (the
    # journal or trail fails: hands off, needs-attention, exit 3) or,
    # since rotate's apply sends no look first, the credentials file
    # before any password is set (a clean failure: rolled back, exit 1).
    if [[ $rc == 3 ]] && grep -q "$F *needs-attention" "$TMP/run.out"; then
        pass "disk full: respond exit 3, h3 needs-attention"
    elif [[ $rc == 1 ]] && grep -q "$F *rolled-back: .*credentials.*No space" "$TMP/run.out"; then
        pass "disk full: respond exit 1, h3 rolled back before any password was set"
    else
        fail "disk full: respond exit $rc: $(grep -E "^$F " "$TMP/run.out")"
    fi
    # Every command h3 ran after the disk filled is in the trail, but for
    # the one whose record could not be written: then nothing more.
    n=$(($(sessions) - ns))
    a=$(grep -c '"event": *"command"' "$SD/runs/$R/audit.jsonl" || true)
    ((n <= a + 1)) && pass "disk full: h3 ran $n commands, $a in the trail: none after the failed write" ||
        fail "disk full: h3 ran $n commands but the trail has $a"
    echo "# disk full: $((n - n0 + ns)) command(s) reached h3 after the disk filled"
    rm -f "$TMP/full/filler"
    rc=0
    out=$(ss rollback --yes "$R" 2>&1) || rc=$?
    if [[ $rc != 0 ]]; then
        fail "disk full: rollback after freeing space: $out"
    elif same_state "$F" "$TMP/before-$F"; then
        pass "disk full: rollback gave h3 back as before"
    else
        fail "disk full: h3 differs from before after rollback"
    fi
fi
SD=$TMP/sd
umount "$TMP/full"
finish
