#!/bin/bash
# e2e: --dry-run changes nothing: each host's state (queue, Postfix,
# passwords, marker files) is the same before and after, no journal is
# written, and the audit trail records only the read-only steps and probes,
# exactly the commands the playbook declares as such.
. "$(dirname "$0")/lib/engine.sh"

declare -A before
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done
# with something already there, so the probes have data to show
"$LAB" on h3 sh -c 'mkdir -p "$1" && echo old > "$1/one"' _ "$MDIR"
before[h3]=$(host_state h3)

rc=0
respond --dry-run -v $LAB_HOSTS >"$TMP/out" 2>"$TMP/err" || rc=$?
check "dry-run exits 0 (got $rc)" test "$rc" = 0
run=$(run_id)
for h in $LAB_HOSTS; do
    check "$h unchanged by the dry run" test "$(host_state "$h")" = "${before[$h]}"
done
check "run.json: dry-run" test "$(jget "$run" 'o["outcome"]')" = dry-run
check "no journal written" test -z "$(ls -A "$SD/runs/$run/journal")"
grep -q "command: mkdir -p '$MDIR'" "$TMP/out" && pass "plan (-v) shows what make-dir would run" ||
    fail "plan: $(cat "$TMP/out")"
grep -q "probe (1 line): ls '$MDIR'/one" "$TMP/out" && grep -q "| $MDIR/one" "$TMP/out" &&
    pass "plan shows h3's probe output" || fail "plan lacks h3's probe: $(cat "$TMP/out")"
# the trail: only read-only runs and probes, each as the playbook renders it
# (mark-one's probe is there on every host: read-only, so it runs for real)
"$PY" - "$SD/runs/$run/audit.jsonl" "$MDIR" <<'PY' >"$TMP/audit-check" 2>&1 && pass "audit: only read-only commands" || fail "audit: $(cat "$TMP/audit-check")"
import json, sys
d = "'%s'" % sys.argv[2]  # the engine quotes every parameter
allowed = {
    ("read", "hostname"),
    ("probe", "ls -ld %s 2>/dev/null || echo absent" % d),
    ("probe", "ls %s/one 2>/dev/null || echo no-one" % d),
    ("read", "ls %s" % d),
}
seen = set()
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["event"] != "command":
        continue
    n += 1
    k = (o.get("phase"), o.get("command"))
    if k not in allowed:
        sys.exit("not read-only: %r" % (k,))
    seen.add(k)
if n < 9 or len(seen) != 4:
    sys.exit("expected the 4 read-only commands on 3 hosts, saw %d: %r" % (n, seen))
print(n, "commands")
PY
out=$(audit_verify "$run") && pass "audit verifies: $out" || fail "audit verify: $out"
# a rollback or resume of a dry run has nothing to do
rc=0
ss rollback --yes "$run" >/dev/null 2>&1 || rc=$?
check "rollback of a dry run exits 0 (got $rc)" test "$rc" = 0
for h in $LAB_HOSTS; do
    check "$h still unchanged" test "$(host_state "$h")" = "${before[$h]}"
done
# a dry run and a real run started one right after the other (often in
# the same second): ids sort in start order, and "last" is the real run
# (the fixture's undo of mark-one removes h3's "old" marker: compare with
# the hosts as they are now)
for h in $LAB_HOSTS; do "$LAB" on "$h" rm -rf "$MDIR"; before[$h]=$(host_state "$h"); done
respond -C $LAB_HOSTS >/dev/null 2>"$TMP/dry.err" || true
respond --yes $LAB_HOSTS >"$TMP/real" 2>"$TMP/real.err" || true
real=$(sed -n 's/^\(.* \)\{0,1\}respond: run \([0-9a-z-]*\): .*/\2/p' "$TMP/real" | tail -1)
dry=$(ls "$SD/runs" | sort | tail -2 | head -1)
check "the real run's id sorts after the dry run's ($dry < $real)" \
    test "$(printf '%s\n' "$real" "$dry" | sort | tail -1)" = "$real" -a "$dry" != "$real"
check "the dry run is a dry run" test "$(jget "$dry" 'o["dry_run"]')" = True
check "-C is --dry-run; its log starts with its run id" \
    test "$(head -n 1 "$TMP/dry.err" | cut -d' ' -f2-)" = "dry-run: run $dry on 3 hosts"
check "the real run's log starts with its run id" \
    test "$(head -n 1 "$TMP/real.err" | cut -d' ' -f2-)" = "respond: run $real on 3 hosts"
# without a terminal every line says when, in UTC, on both streams
stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z '
check "every log line has its UTC time" \
    test "$(cat "$TMP/real.err" "$TMP/real" | grep -cEv "$stamp")" = 0
check "the recap is there without a terminal" grep -q "RECAP respond run $real" "$TMP/real"
listed=$("$SPAMSTOP" audit list --state-dir "$SD" | tail -1 | cut -d' ' -f1)
check "audit list names the real run last ($listed)" test "$listed" = "$real"
"$SPAMSTOP" report last --state-dir "$SD" --format json -o "$TMP/last.json" 2>/dev/null || true
got=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$TMP/last.json" 2>&1)
check "report last is the real run's ($got)" test "$got" = "$real"
out=$("$SPAMSTOP" audit verify --state-dir "$SD" last 2>&1) && pass "audit verify last: $out" ||
    fail "audit verify last: $out"
rc=0
ss rollback --yes last >/dev/null 2>&1 || rc=$?
check "rollback last exits 0 (got $rc)" test "$rc" = 0
for h in $LAB_HOSTS; do
    after=$(host_state "$h")
    [ "$after" = "${before[$h]}" ] && pass "$h as before after rollback last" ||
        fail "$h after rollback last: $(diff <(echo "${before[$h]}") <(echo "$after") | tr "\n" " ")"
done
rc=0
"$SPAMSTOP" report ../etc --state-dir "$SD" >/dev/null 2>"$TMP/err" || rc=$?
check "report of a bad run id: exit 2 ($rc)" test "$rc" = 2
finish
