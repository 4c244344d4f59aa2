#!/bin/bash
# e2e: the dead-man timer of the stop step.  (a) The controller is killed
# with SIGKILL right after the stop step's journal "done" record: with
# nobody touching the host, Postfix runs again within restart_after (5 s
# here) plus a few seconds, the timer's process and files are gone, and
# a rollback of the run then copes with the timer that fired.  (b) An
# uninterrupted run leaves no timer (no process, no file) and its report
# shows how long mail was down.  (c) The start disarmed the timer: with
# Postfix stopped by hand after the run, nothing starts it past the
# deadline.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
H=h2
DEADLINE=5

# The default playbook with restart_after 5 s (pb-short.json), and the
# same with a pause after the stop (a read-only shell step), so the kill
# lands while Postfix is stopped (pb.json).
"$PY" - "$SOURCE_DIR/playbooks/compromised-account.json" "$TMP" "$DEADLINE" <<'PYEOF'
import json, sys
pb = json.load(open(sys.argv[1]))
pb["params"]["restart_after"] = sys.argv[3]
json.dump(pb, open(sys.argv[2] + "/pb-short.json", "w"))
steps = pb["steps"]
i = [s["name"] for s in steps].index("stop")
steps.insert(i + 1, {"name": "pause", "kind": "read-only",
                     "shell": {"run": "sleep 3"}})
json.dump(pb, open(sys.argv[2] + "/pb.json", "w"))
PYEOF

# Seconds since the epoch, with a fraction.
now() { date +%s.%N; }
# Whether Postfix runs on the host (postfix status's exit code).
postfix_runs() { "$LAB" on "$H" postfix status >/dev/null 2>&1; }
# The timer processes of run R on any lab host (no PID namespaces here),
# zombies left out: "pid args" lines.  (The path is put together inside
# awk, so that awk's own command line does not match.)
timer_procs() {
    ps -eo pid=,stat=,args= |
        awk -v r="$1" 'BEGIN { t = "/run/spamstop/" r ".sh" } $2 !~ /^Z/ && index($0, t) { print }'
}
# Whether run R's timer is armed on the host: where systemd is PID 1 a
# timer unit (no process until it fires), else its process.
timer_armed() {
    if "$LAB" on "$H" test -d /run/systemd/system; then
        "$LAB" on "$H" systemctl is-active --quiet "spamstop-restart-$1.timer"
    else
        test -n "$(timer_procs "$1")"
    fi
}
# The run's timer files on the host (none: empty).
timer_files() { "$LAB" on "$H" sh -c "ls /run/spamstop/$1.* 2>/dev/null" || true; }
# Waits up to SECS for run R's journal of the host to hold the stop
# step's done record; false when it never does.
wait_stop_done() {
    local r=$1 secs=$2 i j
    for ((i = 0; i < secs * 50; i++)); do
        j=$SD/runs/$r/journal/$H.jsonl
        [[ -f $j ]] && grep -q '"type":"done","step":1,' "$j" && return 0
        sleep 0.02
    done
    return 1
}

# Runs the short-deadline playbook with a pause on the host in the
# background and kills it with SIGKILL right after the stop step's journal
# "done" record; sets run (empty when that record never came).
respond_and_kill() {
    local pid i
    restage "$H" --spam dave:60 --legit 4
    rm -rf "$SD"
    "$SPAMSTOP" respond -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$SD" -p "$TMP/pb.json" --yes "$H" >"$TMP/killed.out" 2>&1 &
    pid=$!
    run=
    for ((i = 0; i < 100; i++)); do
        run=$(ls "$SD/runs" 2>/dev/null | head -1 || true)
        [[ -n $run ]] && break
        sleep 0.05
    done
    if [[ -n $run ]] && wait_stop_done "$run" 60; then
        kill -KILL "$pid" 2>/dev/null && t_kill=$(now)
        wait "$pid" 2>/dev/null || true
        pass "controller killed right after the stop step's done record"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "no stop step done record in the journal: $(tail -3 "$TMP/killed.out")"
    run=
}
# Waits (bounded) until Postfix runs; sets up to the seconds since the
# kill, or empty.
wait_postfix_up() {
    local i
    up=
    for ((i = 0; i < (DEADLINE + 10) * 10; i++)); do
        if postfix_runs; then
            up=$(awk -v a="$t_kill" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
            return 0
        fi
        sleep 0.1
    done
}

# --- (a) kill -9 after the stop: the host starts Postfix itself ------------
want a && {
    respond_and_kill
    if [[ -n $run ]]; then
        check "postfix is stopped after the kill" bash -c '! "$0" on "$1" postfix status >/dev/null 2>&1' "$LAB" "$H"
        check "the run's timer is armed" timer_armed "$run"
        wait_postfix_up
        check "postfix runs again ${up:-never} s after the kill (deadline $DEADLINE s + a few)" \
            awk -v u="${up:-999}" -v d="$DEADLINE" 'BEGIN { exit !(u <= d + 8) }'
        for ((i = 0; i < 30; i++)); do
            [[ -z $(timer_procs "$run") ]] && break
            sleep 0.1
        done
        check "no timer process is left once it fired" test -z "$(timer_procs "$run")"
        check "the fired timer left only its clock (.down): $(timer_files "$run" | tr '\n' ' ')" \
            test "$(timer_files "$run")" = "/run/spamstop/$run.down"
        rc=0
        ss rollback --yes "$run" >"$TMP/a-rb.out" 2>&1 || rc=$?
        check "rollback after the timer fired exits 0 (got $rc: $(tail -2 "$TMP/a-rb.out" | tr '\n' ' '))" test "$rc" = 0
        check "postfix runs after the rollback" postfix_runs
        check "no timer file is left after the rollback" test -z "$(timer_files "$run")"
    fi
}

# --- (d) the same, then resume: it copes with the timer that fired ---------
want d && {
    respond_and_kill
    if [[ -n $run ]]; then
        wait_postfix_up
        check "postfix runs again ${up:-never} s after the kill" test -n "$up"
        rc=0
        ss resume --yes "$run" >"$TMP/d-resume.out" 2>&1 || rc=$?
        echo "# resume after the timer fired: exit $rc, $(grep -E "(^|Z )$H " "$TMP/d-resume.out" | tr -s ' ')"
        check "resume ends (exit $rc) with postfix running" postfix_runs
        # the hold finds Postfix running (the timer started it): the host
        # is contained, and the same resume stops it again and finishes
        check "resume after the timer fired commits the host (exit $rc)" \
            grep -qE "(^|Z )$H +committed" "$TMP/d-resume.out"
        check "no timer process after the resume" test -z "$(timer_procs "$run")"
        check "no timer armed after the resume: $(timer_files "$run" | tr '\n' ' ')" \
            bash -c '! "$0" on "$1" ls "/run/spamstop/$2.timer" "/run/spamstop/$2.sh" >/dev/null 2>&1' "$LAB" "$H" "$run"
        ss rollback --yes "$run" >/dev/null 2>&1 || true
    fi
}

# --- (b) an uninterrupted run: no timer left, a mail-down time reported ----
want b && {
    restage "$H" --spam dave:60 --legit 4
    rm -rf "$SD"
    rc=0
    ss respond -p "$TMP/pb-short.json" --yes "$H" >"$TMP/b.out" 2>&1 || rc=$?
    run=$(run_id)
    check "the run commits (exit $rc)" test "$rc" = 0
    check "no timer process after the run" test -z "$(timer_procs "$run")"
    check "no timer file after the run" test -z "$(timer_files "$run")"
    "$SPAMSTOP" report --state-dir "$SD" "$run" --format json -o "$TMP/report.json" >/dev/null 2>&1 ||
        fail "report json"
    ms=$("$PY" -c 'import json, sys; h = json.load(open(sys.argv[1]))["hosts"][0]; print(h["mail_down_ms"])' "$TMP/report.json" 2>/dev/null || echo "?")
    check "the report's JSON has the mail-down time ($ms ms)" \
        awk -v m="$ms" 'BEGIN { exit !(m ~ /^[0-9]+$/ && m > 0 && m < 60000) }'
    "$SPAMSTOP" report --state-dir "$SD" "$run" >"$TMP/report.md" 2>/dev/null || fail "report md"
    check "the Markdown report says how long Postfix was down" \
        grep -q "Postfix was down for [0-9.]* s (stop to start" "$TMP/report.md"
    echo "# $H: mail down $ms ms in an uninterrupted run"

    # --- (c) the start disarmed the timer: nothing starts Postfix later ---
    want c && {
        "$LAB" on "$H" postfix stop >/dev/null 2>&1 || true
        check "postfix stopped by hand after the run" bash -c '! "$0" on "$1" postfix status >/dev/null 2>&1' "$LAB" "$H"
        sleep $((DEADLINE + 3))
        check "postfix is still stopped past the deadline (the timer was disarmed)" \
            bash -c '! "$0" on "$1" postfix status >/dev/null 2>&1' "$LAB" "$H"
        check "no timer process past the deadline" test -z "$(timer_procs "$run")"
        "$LAB" on "$H" postfix start >/dev/null 2>&1 || true
        check "postfix started again by hand" postfix_runs
    }
}
finish
