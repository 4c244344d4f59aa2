#!/bin/bash
# e2e: a step fails on h2 only: h2 is rolled back while h1 and h3 commit
# (exit 1, run.json right, the trail verifies against its anchor); then
# `rollback` of the finished run uncommits and undoes h1 and h3, and a
# second rollback does nothing.
. "$(dirname "$0")/lib/engine.sh"

declare -A before
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done

rc=0
respond --yes --param fail_on=h2 $LAB_HOSTS >"$TMP/out" 2>"$TMP/err" || rc=$?
check "respond exits 1 when one host rolled back (got $rc)" test "$rc" = 1
run=$(run_id)
check "run.json outcome is partial" test "$(jget "$run" 'o["outcome"]')" = partial
for h in h1 h3; do
    check "$h committed in run.json" test "$(jget "$run" "o['host_states']['$h']")" = committed
    got=$(markers "$h")
    check "$h has the committed markers ($got)" test "$got" = "host one purged two"
done
check "h2 rolled-back in run.json" test "$(jget "$run" 'o["host_states"]["h2"]')" = rolled-back
check "h2 is as before" test "$(host_state h2)" = "${before[h2]}"
grep -Eq "(^|Z )h2: rolled-back: step 6 'maybe-fail'" "$TMP/out" && pass "recap names h2's failed step" ||
    fail "recap: $(cat "$TMP/out")"
# the failed step's undo list on h2, newest first, in the journal
order=$("$PY" -c 'import json, sys
print(" ".join(r["name"] for r in map(json.loads, open(sys.argv[1])) if r["type"] == "undone"))' \
    "$SD/runs/$run/journal/h2.jsonl")
check "h2 undone newest first ($order)" test "$order" = "mark-host hold mark-one make-dir"
grep -Eq "(^|Z )audit: $(jget "$run" 'o["audit_records"]'):$(jget "$run" 'o["audit_head"]')" "$TMP/out" &&
    pass "recap prints run.json's audit anchor" || fail "no anchor in recap: $(tail -2 "$TMP/out")"
out=$(audit_verify "$run") && pass "audit verifies: $out" || fail "audit verify: $out"
# the anchor catches a cut tail, which the chain alone cannot
cp "$SD/runs/$run/audit.jsonl" "$TMP/trail"
head -n -1 "$TMP/trail" >"$SD/runs/$run/audit.jsonl"
out=$(audit_verify "$run") && fail "a cut trail verifies: $out" || pass "a cut trail is caught by the anchor"
# audit list says the same, in its table and as JSON
list=$("$SPAMSTOP" audit list --state-dir "$SD")
grep -q "^$run .* 3 no   partial *TAMPERED" <<<"$list" && pass "audit list: the cut run is TAMPERED" ||
    fail "audit list: $list"
"$SPAMSTOP" audit list --json --state-dir "$SD" >"$TMP/list.json"
got=$("$PY" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["run_id"] == sys.argv[2]][0]
print(r["outcome"], r["dry_run"], len(r["hosts"]), r["audit"]["ok"])' "$TMP/list.json" "$run")
check "audit list --json: partial, not dry, 3 hosts, not ok ($got)" test "$got" = "partial False 3 False"
cp "$TMP/trail" "$SD/runs/$run/audit.jsonl"
list=$("$SPAMSTOP" audit list --state-dir "$SD")
grep -q "^$run .* ok ([0-9]* records, anchored)" <<<"$list" && pass "audit list: the restored run is ok" ||
    fail "audit list: $list"

# rollback after the run finished: h1 and h3 get uncommit + undo, h2 is
# left alone (nothing to do), every host ends as before
n2=$(sshd_lines h2)
rc=0
ss rollback --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "rollback exits 0 (got $rc: $(cat "$TMP/out"))" test "$rc" = 0
for h in $LAB_HOSTS; do
    check "$h is as before after rollback" test "$(host_state "$h")" = "${before[$h]}"
done
check "h2 was not contacted by the rollback" test "$(sshd_lines h2)" = "$n2"
types=$("$PY" -c 'import json, sys
rs = list(map(json.loads, open(sys.argv[1])))
i = max(k for k, r in enumerate(rs) if r["type"] == "rollback")
print(" ".join(r["type"] + ":" + r.get("name", "") for r in rs[i + 1:] if r["type"] in ("uncommitted", "undone")))' \
    "$SD/runs/$run/journal/h1.jsonl")
check "h1: uncommit of hold between the undos ($types)" test "$types" = \
    "undone:maybe-fail undone:mark-host uncommitted:hold undone:mark-one undone:make-dir"
check "run.json: rolled-back" test "$(jget "$run" 'o["outcome"]')" = rolled-back
out=$(audit_verify "$run") && pass "audit still verifies after rollback: $out" || fail "audit verify: $out"

# a second rollback finds nothing to do and connects nowhere
for h in $LAB_HOSTS; do declare "n_$h=$(sshd_lines "$h")"; done
rc=0
ss rollback --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "second rollback exits 0 (got $rc)" test "$rc" = 0
check "second rollback: nothing to do on every host" test "$(grep -c 'nothing-to-do' "$TMP/out")" = 3
for h in $LAB_HOSTS; do
    v=n_$h
    check "$h not contacted by the second rollback" test "$(sshd_lines "$h")" = "${!v}"
done
finish
