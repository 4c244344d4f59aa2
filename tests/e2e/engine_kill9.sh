#!/bin/bash
# e2e: the controller is killed with SIGKILL mid-run (every host has
# journaled the intent of a step that sleeps); `rollback` restores every
# host and a second rollback does nothing; after another kill, `resume`
# reaches the state of an uninterrupted run, and a second resume does
# nothing.
. "$(dirname "$0")/lib/engine.sh"
PAUSE=3

declare -A before after
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done

# The uninterrupted run, for the end state resume must reach.
respond --yes --param pause=0 $LAB_HOSTS >/dev/null 2>&1 ||
    fail "uninterrupted run failed"
for h in $LAB_HOSTS; do after[$h]=$(host_state "$h"); done
ss rollback --yes "$(run_id)" >/dev/null 2>&1 || fail "rollback of the uninterrupted run"
for h in $LAB_HOSTS; do
    [[ $(host_state "$h") == "${before[$h]}" ]] || fail "$h not restored after the first run"
done

# Starts respond in the background and kills it with SIGKILL once every
# host has journaled the intent of mark-one (step index 2), which sleeps.
# Sets run.
start_and_kill() {
    local pid i
    rm -rf "$SD/runs"
    run=
    # not through the shell function: $! must be spamstop itself
    "$SPAMSTOP" respond -F "$LAB_SSH_CONFIG" --state-dir "$SD" -p "$PLAYBOOK" \
        --param dir="$MDIR" --yes --param pause=$PAUSE $LAB_HOSTS >"$TMP/killed.out" 2>&1 &
    pid=$!
    for ((i = 0; i < 50; i++)); do
        run=$(ls "$SD/runs" 2>/dev/null | head -1 || true)
        [[ -n $run ]] && break
        sleep 0.1
    done
    if [[ -z $run ]] || ! wait_intents "$run" 10 2; then
        fail "no intent on every host: $(cat "$TMP/killed.out")"
    fi
    if kill -KILL "$pid"; then
        pass "controller killed mid-run"
    else
        fail "controller ended before the kill"
    fi
    wait "$pid" 2>/dev/null || true
}

# 1. kill -9, then rollback
start_and_kill
check "run.json still says running after the kill" test "$(jget "$run" 'o["outcome"]')" = running
for h in $LAB_HOSTS; do
    got=$(markers "$h")
    check "$h was changed when killed (marker folder: $got)" test "$got" != "-"
done
rc=0
ss rollback --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "rollback after kill -9 exits 0 (got $rc: $(cat "$TMP/out"))" test "$rc" = 0
for h in $LAB_HOSTS; do
    check "$h is as before after rollback" test "$(host_state "$h")" = "${before[$h]}"
    check "$h: run.json says rolled-back" test "$(jget "$run" "o['host_states']['$h']")" = rolled-back
done
for h in $LAB_HOSTS; do declare "n_$h=$(sshd_lines "$h")"; done
rc=0
ss rollback --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "second rollback exits 0 (got $rc)" test "$rc" = 0
check "second rollback: nothing to do anywhere" test "$(grep -c 'nothing-to-do' "$TMP/out")" = 3
for h in $LAB_HOSTS; do
    v=n_$h
    check "$h: second rollback connected nowhere" test "$(sshd_lines "$h")" = "${!v}"
done
out=$(audit_verify "$run") && pass "audit verifies: $out" || fail "audit verify: $out"

# 2. kill -9, then resume
start_and_kill
rc=0
ss resume --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "resume after kill -9 exits 0 (got $rc: $(cat "$TMP/out"))" test "$rc" = 0
for h in $LAB_HOSTS; do
    check "$h is as after an uninterrupted run" test "$(host_state "$h")" = "${after[$h]}"
    check "$h: run.json says committed" test "$(jget "$run" "o['host_states']['$h']")" = committed
done
check "run.json: committed" test "$(jget "$run" 'o["outcome"]')" = committed
rc=0
ss resume --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "second resume exits 0 with nothing to do (got $rc)" \
    test "$rc" = 0 -a "$(grep -c 'nothing-to-do' "$TMP/out")" = 3
out=$(audit_verify "$run") && pass "audit verifies: $out" || fail "audit verify: $out"
# and the resumed run can still be rolled back whole
ss rollback --yes "$run" >/dev/null 2>&1 || fail "rollback of the resumed run"
for h in $LAB_HOSTS; do
    check "$h is as before after rolling back the resumed run" \
        test "$(host_state "$h")" = "${before[$h]}"
done
finish
