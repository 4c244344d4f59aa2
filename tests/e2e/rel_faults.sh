#!/bin/bash
# e2e: faults on one host (h3) in the middle of a run of the default
# playbook while h2 runs beside it: its link cut, its sshd killed, its link
# slowed down past the command deadline, the run folder's disk full, and
# an interrupt (SIGINT) of the controller.  The fault is injected at an
# exact journal position with the test hook SPAMSTOP_TEST_STALL_AT
# (docs/reliability.md).  Fail safe means contained (docs/decisions.md):
# each time h2 commits; h3's journal replays and shows the policy (a
# failure once rotate or the hold may have run is contained: those steps
# are kept, not undone; one before is rolled back); h3 ends contained,
# rolled-back or needs-attention and respond's exit code says which.  Once
# the fault is gone, `rollback` releases the held mail (after the commit:
# puts it back on hold), leaves Postfix running and never gives the stolen
# password back, and `resume` reaches the end of an uninterrupted run.
. "$(dirname "$0")/../reliability/lib.sh"
F=h3
NS=$LAB_NAME-$F
VETH=$LAB_NAME-$F
T=8 # seconds each command of the test playbook may take

# The default playbook with a short deadline per command (but for the
# Postfix stop and start, which wait up to 30 s), so a dead link costs
# seconds, not the default 120 s.  Then the journal write positions of a
# host where every step runs (begin, one read per read-only step, an
# intent and a done per other step): W_<step>_intent, W_<step>_done.
eval "$("$PY" - "$SOURCE_DIR/playbooks/compromised-account.json" "$TMP/pb.json" "$T" <<'PYEOF'
import json, sys
pb = json.load(open(sys.argv[1]))
w = 1
for s in pb["steps"]:
    if s["action"] != "service":
        s["timeout"] = int(sys.argv[3])
    if s["kind"] == "read-only":
        w += 1
    else:
        print("W_%s_intent=%d W_%s_done=%d" % (s["name"], w + 1, s["name"], w + 2))
        w += 2
json.dump(pb, open(sys.argv[2], "w"))
PYEOF
)"
: "${W_stop_done:?}" "${W_rotate_intent:?}" "${W_rotate_done:?}" "${W_purge_intent:?}" "${W_purge_done:?}"

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

# Stages both hosts (HOSTS: only those) and keeps their state in
# $TMP/before-H.
stage_both() {
    local h
    for h in ${1:-h2 $F}; do
        restage "$h" --spam "$(acct "$h"):60" --legit 4
        "$LAB" state "$h" >"$TMP/before-$h"
    done
}
# The account whose spam a host gets.
acct() { if [[ $1 == h2 ]]; then echo dave; else echo erin; fi; }

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

# h3's journal (of respond) ends as a fault must leave it and shows the
# policy: it replays (rollback and resume read it), its last record is
# `end` in one of STATES, a step failed (or the rollback or containment
# says why); once rotate or purge (on_failure keep) had an intent, the
# failure is contained (a `contain` record, no `rollback`, neither kept
# step undone), else rolled back (no `contain`).  Prints "STATE ROTATED
# HELD RECORDS" (ROTATED, HELD: 1 when rotate, purge are journaled done).
faulty_journal() {
    "$PY" - "$SD/runs/$1/journal/$F.jsonl" "$2" <<'PYEOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
seqs = [r["seq"] for r in recs]
assert seqs == list(range(1, len(recs) + 1)), "seq gaps"
last = recs[-1]
assert last["type"] == "end" and last["state"] in sys.argv[2].split(), last
# a read-only step (identify) journals no intent: its failure is the
# error of the rollback it started
assert any(r["type"] in ("failed", "undo-failed") or (r["type"] in ("rollback", "contain") and r.get("error")) for r in recs), "no failure recorded: " + " / ".join(json.dumps(r)[:160] for r in recs[-6:])
step = {r["name"]: r["step"] for r in recs if r["type"] == "intent"}
kept = {step[n] for n in ("rotate", "purge") if n in step}
types = [r["type"] for r in recs]
if kept:
    assert "contain" in types and "rollback" not in types, "rotate or purge had begun, but: %s" % types
    undone = [r for r in recs if r["type"].startswith("undo") and r["step"] in kept]
    assert not undone, "a kept step was undone: %s" % undone
else:
    assert "rollback" in types and "contain" not in types, "nothing to keep, but: %s" % types
done = {r["step"] for r in recs if r["type"] == "done"}
print(last["state"], int(step.get("rotate") in done), int(step.get("purge") in done), len(recs))
PYEOF
}
# respond's exit code for h2 committed and h3 ending STATE.
exit_for() {
    case $1 in
    needs-attention) echo 3 ;;
    contained) echo 6 ;;
    rolled-back) echo 1 ;;
    *) echo "?" ;;
    esac
}
# The new password a run gave a host's account (its last one), and the
# password it had before the run.
newp() { new_pw "$1" "$2" "$(acct "$2")" 2>/dev/null || true; }
oldp() { old_pw "$(acct "$1")"; }

# h2 beside the fault: committed, spam gone, legit kept, its new password
# works and the stolen one is refused.
h2_committed() {
    local what=$1 R=$2
    grep -q 'h2 *committed' "$TMP/run.out" && pass "$what: h2 committed" ||
        fail "$what: h2 did not commit: $(grep -A3 -E '(^|Z )h2:? ' "$TMP/run.out" | cut -c1-300)"
    check "$what: h2 as after a run" as_committed h2 "$TMP/before-h2"
    check "$what: h2's new password works, the stolen one is refused" \
        pw_rotated h2 dave "$(newp "$R" h2)" "$(oldp h2)"
}
# The common start of a scenario's checks: h2 committed, h3's journal
# shows the policy and ends in one of STATES, respond's exit code matches;
# sets st (h3's end state), rotated, held.
after_fault() {
    local what=$1 states=$2 R=$3 out
    h2_committed "$what" "$R"
    if out=$(faulty_journal "$R" "$states" 2>&1); then
        read -r st rotated held _ <<<"$out"
        pass "$what: h3 journal ends $st (rotated $rotated, held $held), the policy kept what it must"
    else
        fail "$what: h3 journal: $out"
        st="?" rotated=0 held=0
    fi
    [[ $rc == "$(exit_for "$st")" ]] && pass "$what: respond exit $rc" ||
        fail "$what: respond exit $rc, h3 ended $st"
}
# A rollback of h3 before any commit: every message as before (held mail
# released, queue names included), Postfix running, and the password as
# it was before the rollback: the new one if a rotation ran (then the
# stolen one refused), else the old one.
rollback_released() {
    local what=$1 R=$2 out
    out=$(ss rollback --yes --host "$F" "$R" 2>&1) || fail "$what: rollback after the fault: $out"
    "$LAB" state "$F" >"$TMP/rb-$F"
    if diff <(grep -v '^users ' "$TMP/before-$F") <(grep -v '^users ' "$TMP/rb-$F") >"$TMP/diff-$F"; then
        pass "$what: rollback: every message of h3 as before (held mail released), postfix running"
    else
        head -6 "$TMP/diff-$F" | sed 's/^/#   /' >&2
        fail "$what: rollback: h3's queues or postfix differ from before"
    fi
    if [[ $(grep '^users ' "$TMP/before-$F") == $(grep '^users ' "$TMP/rb-$F") ]]; then
        ((rotated)) && fail "$what: rollback gave the stolen password back" ||
            pass "$what: rollback: no rotation had run, password unchanged"
    else
        check "$what: rollback kept the new password, the stolen one is refused" \
            pw_rotated "$F" erin "$(newp "$R" "$F")" "$(oldp "$F")"
    fi
}
# resume of h3 once the fault is gone: as after an uninterrupted run (spam
# gone, legit mail as before, Postfix running, only the last new password
# works); then `rollback` of the committed run puts the spam back on hold
# from the snapshot, leaves Postfix running and keeps the new password.
resume_then_rollback() {
    local what=$1 R=$2 out p q rc=0
    out=$(ss resume --yes "$R" 2>&1) || rc=$?
    # A containment the fault broke off (the host unreachable for the undo
    # of the stop) is finished first, and the same resume goes on forward.
    [[ $rc == 0 ]] || fail "$what: resume exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
    check "$what: resume: h3 as after an uninterrupted run" as_committed "$F" "$TMP/before-$F"
    p=$(newp "$R" "$F")
    check "$what: resume: h3's last new password works, the stolen one is refused" \
        pw_rotated "$F" erin "$p" "$(oldp "$F")"
    # Any earlier new password of this run (a rotation started again) is
    # refused too.
    for q in $(awk -v h="$F" '$1 == h { print $3 }' "$SD/runs/$R/credentials"); do
        [[ $q == "$p" ]] || ! auth "$F" erin "$q" || fail "$what: resume: an earlier new password of erin works"
    done
    out=$(ss rollback --yes --host "$F" "$R" 2>&1) || fail "$what: rollback after the commit: $out"
    check "$what: rollback after the commit: spam back on hold, legit as before, postfix running" \
        restored_on_hold "$F" "$TMP/before-$F"
    check "$what: rollback after the commit: the new password stays, the stolen one is refused" \
        pw_rotated "$F" erin "$p" "$(oldp "$F")"
}

SD=$TMP/sd
mkdir -m 700 "$SD"

# (a) the link cut after h3 journaled the intent to hold (purge): the
# rotation is done, the hold fails with an unknown outcome, the host is
# contained but cannot be reached to start Postfix (needs-attention).
if want link && stage_both && start_stalled "$W_purge_intent+" h2 "$F"; then
    ip link set "$VETH" down
    release
    ip link set "$VETH" up
    R=$(run_id)
    after_fault "link cut" "needs-attention contained" "$R"
    ((rotated)) || fail "link cut: h3's rotation (before the cut) is not journaled done"
    rollback_released "link cut" "$R"
    echo "# link cut: done at $(elapsed) s"
fi

# (b) every sshd process of h3 killed after the intent to rotate: the
# rotation fails with an unknown outcome (contained, kept), Postfix cannot
# be started (needs-attention); with sshd back, resume finishes the run.
if want sshd && stage_both && start_stalled "$W_rotate_intent+" h2 "$F"; then
    for p in $(ip netns pids "$NS"); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && kill -KILL "$p"
    done
    for ((i = 0; i < 50; i++)); do sshd_listens || break; sleep 0.1; done
    release
    sshd_up || fail "sshd killed: cannot start h3's sshd again"
    R=$(run_id)
    after_fault "sshd killed" "needs-attention contained" "$R"
    resume_then_rollback "sshd killed" "$R"
    echo "# sshd killed: done at $(elapsed) s"
fi

# (c) h3's link slowed to 1 kB/s before the identify pass (its stamps in
# and fingerprints out are kB), past the 8 s deadline: nothing to keep yet,
# so h3 is rolled back as before.  (sch_netem is not in this kernel; a
# token bucket does the slowing instead.)
if want slow && stage_both && start_stalled "$W_stop_done+" h2 "$F"; then
    tc qdisc add dev "$VETH" root tbf rate 8kbit burst 1600 latency 60s
    ip netns exec "$NS" tc qdisc add dev eth0 root tbf rate 8kbit burst 1600 latency 60s
    release
    tc qdisc del dev "$VETH" root
    ip netns exec "$NS" tc qdisc del dev eth0 root
    R=$(run_id)
    after_fault "slow link" "rolled-back needs-attention" "$R"
    out=$(ss rollback --yes --host "$F" "$R" 2>&1) || fail "slow link: rollback after the fault: $out"
    if same_state "$F" "$TMP/before-$F"; then pass "slow link: rollback gave h3 back as before"; else
        fail "slow link: h3 differs from before after rollback"
    fi
    echo "# slow link: done at $(elapsed) s"
fi

# (e) SIGINT to the controller once h3's hold is done (SPAMSTOP_FULL=1:
# also once its rotation is done, before the hold), h3 alone: h3 is
# contained at once (Postfix running, the new password and the hold kept,
# exit 130); resume finishes the run without rotating again (and, the hold
# done, without stopping Postfix again); rollback then puts the spam back
# on hold.
positions=("$W_purge_done+")
[[ $FULL == 1 ]] && positions=("$W_rotate_done+" "$W_purge_done+")
for pos in "${positions[@]}"; do
    want interrupt || break
    stage_both "$F" && start_stalled "$pos" "$F" || continue
    what="interrupt at $pos"
    kill -INT "$pid"
    release
    R=$(run_id)
    [[ $rc == 130 ]] && pass "$what: respond exit 130" || fail "$what: respond exit $rc"
    if out=$(faulty_journal "$R" contained 2>&1); then
        read -r st rotated held _ <<<"$out"
        pass "$what: h3 contained (rotated $rotated, held $held), nothing kept undone"
    else
        fail "$what: h3 journal: $out"
        rotated=0 held=0
    fi
    "$LAB" state "$F" >"$TMP/int-$F"
    grep -qx 'postfix running' "$TMP/int-$F" && pass "$what: postfix runs on h3" ||
        fail "$what: postfix not running on h3 after the interrupt"
    ((rotated)) || fail "$what: the rotation is not journaled done"
    check "$what: the new password works, the stolen one is refused" \
        pw_rotated "$F" erin "$(newp "$R" "$F")" "$(oldp "$F")"
    if ((held)); then
        check "$what: the held spam is not queued for delivery" spam_not_live "$F" "$TMP/int-$F"
        check "$what: same Message-IDs, legit mail as before" \
            restored_on_hold "$F" "$TMP/before-$F" "$TMP/int-$F"
    elif [[ $pos == "$W_purge_done+" ]]; then
        fail "$what: the hold is not journaled done"
    else
        diff <(grep -v '^users ' "$TMP/before-$F") <(grep -v '^users ' "$TMP/int-$F") >&2 &&
            pass "$what: every message as before (nothing held yet)" || fail "$what: h3's queues changed"
    fi
    n=$(wc -l <"$SD/runs/$R/journal/$F.jsonl")
    resume_then_rollback "$what" "$R"
    k=$(cred_lines "$R" "$F" erin)
    [[ $k == 1 ]] && pass "$what: resume did not rotate again" || fail "$what: $k rotations of erin"
    if ((held)); then
        tail -n +"$((n + 1))" "$SD/runs/$R/journal/$F.jsonl" | grep -q '"type":"intent","step":[0-9]*,"name":"stop"' &&
            fail "$what: resume stopped Postfix again though the hold was done" ||
            pass "$what: resume left Postfix running (only what was left ran)"
    fi
    echo "# $what: done at $(elapsed) s"
done

# (d) the run folder's disk fills up while h3 is stalled before the end of
# its rotation: h3 stops dead, nothing more is sent to it.
mkdir -m 700 "$TMP/full"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$TMP/full"
SD=$TMP/full/sd
mkdir -m 700 "$SD"
ns=$(sessions)
if want disk && stage_both && start_stalled "$W_rotate_intent+" "$F"; then
    n0=$(sessions)
    dd if=/dev/zero of="$TMP/full/filler" bs=64k 2>/dev/null || true
    release
    sleep 0.3
    R=$(run_id)
    # The first write after the stall is either an audit record (the
    # journal or trail fails: hands off, needs-attention, exit 3) or,
    # since rotate's apply sends no look first, the credentials file
    # before any password is set: a failed rotation, contained (exit 6)
    # when the journal and the trail still have room for the rest.
    if [[ $rc == 3 ]] && grep -q "$F *needs-attention" "$TMP/run.out"; then
        pass "disk full: respond exit 3, h3 needs-attention"
    elif [[ $rc == 6 ]] && grep -q "$F *contained: .*credentials.*No space" "$TMP/run.out"; then
        pass "disk full: respond exit 6, h3 contained, no password set"
    else
        fail "disk full: respond exit $rc: $(grep -E "(^|Z )$F:? " "$TMP/run.out")"
    fi
    # Every command h3 ran after the disk filled is in the trail, but for
    # the one whose record could not be written: then nothing more.
    n=$(($(sessions) - ns))
    a=$(grep -c '"event": *"command"' "$SD/runs/$R/audit.jsonl" || true)
    ((n <= a + 1)) && pass "disk full: h3 ran $n commands, $a in the trail: none after the failed write" ||
        fail "disk full: h3 ran $n commands but the trail has $a"
    echo "# disk full: $((n - n0 + ns)) command(s) reached h3 after the disk filled"
    rm -f "$TMP/full/filler"
    # A password set on the host is the one in the credentials file (its
    # line is written first): no account is locked out by a full disk.
    "$LAB" state "$F" >"$TMP/fault-$F"
    rotated=0
    [[ $(grep '^users ' "$TMP/before-$F") == $(grep '^users ' "$TMP/fault-$F") ]] || rotated=1
    echo "# disk full: the rotation reached h3: $rotated"
    rollback_released "disk full" "$R"
    [[ $(grep '^users ' "$TMP/fault-$F") == $(grep '^users ' "$TMP/rb-$F") ]] ||
        fail "disk full: the rollback changed h3's passwords"
    echo "# disk full: done at $(elapsed) s"
fi
SD=$TMP/sd
umount "$TMP/full"
finish
