#!/bin/bash
# e2e: respond --json writes one JSON object per line on stdout (nothing
# else): run-start, host-start, step-start/step-end per host and phase,
# host-end, run-end (docs/events.md); the stream agrees with run.json and
# the exit status, also for rollback.
. "$(dirname "$0")/lib/engine.sh"

check_stream() { # FILE COMMAND EXIT RUN -- prints problems, exit 1 if any
    "$PY" - "$@" "$SD/runs/$4/run.json" <<'PY'
import json, sys
path, command, code, run, run_json = sys.argv[1:6]
info = json.load(open(run_json))
evs = [json.loads(l) for l in open(path)]   # fails on any non-JSON line
bad = []
def need(c, msg):
    if not c:
        bad.append(msg)
need(evs[0]["event"] == "run-start" and evs[0]["command"] == command, "first is not run-start")
need(evs[0]["run_id"] == run, "run-start run_id")
last = evs[-1]
need(last["event"] == "run-end", "last is not run-end")
need(last["exit"] == int(code), "run-end exit %r != %s" % (last.get("exit"), code))
need(last["outcome"] == info["outcome"], "outcome differs from run.json")
need(last["audit_records"] == info["audit_records"] and last["audit_head"] == info["audit_head"],
     "audit anchor differs from run.json")
hosts = evs[0]["hosts"]
for h in hosts:
    mine = [e for e in evs if e.get("host") == h]
    ends = [e for e in mine if e["event"] == "host-end"]
    need(len(ends) == 1 and mine[-1] is ends[0], "%s: one host-end, last" % h)
    need(ends and ends[0]["state"] == info["host_states"][h] or
         (ends and ends[0]["state"] == "nothing-to-do"), "%s: state differs from run.json" % h)
    open_ = None
    for e in mine:
        if e["event"] == "step-start":
            need(open_ is None, "%s: step-start inside a step" % h)
            open_ = (e["step"], e["phase"])
        elif e["event"] == "step-end":
            need(open_ == (e["step"], e["phase"]), "%s: step-end %r without its start" % (h, e["step"]))
            open_ = None
    need(open_ is None, "%s: a step never ended" % h)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}
steps() { # FILE HOST PHASE -> "step:ok ..." of step-end events
    "$PY" -c 'import json, sys
print(" ".join("%s:%s" % (e["step"], e["ok"]) for e in map(json.loads, open(sys.argv[1]))
      if e["event"] == "step-end" and e["host"] == sys.argv[2] and e["phase"] == sys.argv[3]))' "$@"
}

rc=0
respond --json --yes --param fail_on=h2 $LAB_HOSTS >"$TMP/ev" 2>"$TMP/err" || rc=$?
run=$(run_id)
out=$(check_stream "$TMP/ev" respond "$rc" "$run") && pass "respond stream is well formed ($(wc -l <"$TMP/ev") events)" ||
    fail "respond stream: $out"
check "respond --json exit 1" test "$rc" = 1
all="hostname:True make-dir:True mark-one:True hold:True mark-host:True maybe-fail:True list:True"
check "h1: every step ended ok" test "$(steps "$TMP/ev" h1 run)" = "$all"
check "h1: the commit ran" test "$(steps "$TMP/ev" h1 commit)" = "hold:True"
check "h2: maybe-fail failed" test "$(steps "$TMP/ev" h2 run)" = \
    "hostname:True make-dir:True mark-one:True hold:True mark-host:True maybe-fail:False"
check "h2: undone newest first" test "$(steps "$TMP/ev" h2 undo)" = \
    "mark-host:True hold:True mark-one:True make-dir:True"
check "no progress lines on stderr with --json" test -z "$(grep -v '^spamstop:' "$TMP/err" || true)"

rc=0
ss rollback --json --yes "$run" >"$TMP/ev2" 2>"$TMP/err" || rc=$?
out=$(check_stream "$TMP/ev2" rollback "$rc" "$run") && pass "rollback stream is well formed" ||
    fail "rollback stream: $out"
check "h1: rollback uncommitted hold" test "$(steps "$TMP/ev2" h1 uncommit)" = "hold:True"
check "h1: rollback undid the rest" test "$(steps "$TMP/ev2" h1 undo)" = \
    "maybe-fail:True mark-host:True mark-one:True make-dir:True"
check "h2: nothing to do" test "$(steps "$TMP/ev2" h2 undo)" = ""
finish
