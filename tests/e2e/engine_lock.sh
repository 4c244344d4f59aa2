#!/bin/bash
# e2e: two runs at once on the same host: the second is refused for that
# host (the host lock) and sends it nothing, while it acts on a free host;
# the first run is unaffected.
. "$(dirname "$0")/lib/engine.sh"

declare -A before
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done
"$SPAMSTOP" respond -F "$LAB_SSH_CONFIG" --state-dir "$SD" -p "$PLAYBOOK" \
    --param dir="$MDIR" --param pause=3 --yes h1 h2 >"$TMP/first.out" 2>&1 &
pid=$!
first=
for ((i = 0; i < 50; i++)); do
    first=$(ls "$SD/runs" 2>/dev/null | head -1 || true)
    [[ -n $first ]] && break
    sleep 0.1
done
for ((i = 0; i < 100; i++)); do
    grep -qs '"type":"intent","step":2,' "$SD/runs/$first/journal/h1.jsonl" && break
    sleep 0.1
done
n1=$(sshd_conns h1)
rc=0
respond --yes --param dir="$MDIR-second" h1 h3 >"$TMP/out" 2>"$TMP/err" || rc=$?
second=$(ls -t "$SD/runs" | head -1)
check "the second run exits 1 (got $rc)" test "$rc" = 1
check "second run: h1 refused" test "$(jget "$second" 'o["host_states"]["h1"]')" = refused
grep -Eq "(^|Z )h1: refused: another run is acting on 'h1'" "$TMP/out" && pass "recap says h1 is locked" ||
    fail "recap: $(cat "$TMP/out")"
check "second run: h3 (free) committed" test "$(jget "$second" 'o["host_states"]["h3"]')" = committed
check "second run did not connect to h1" test "$(sshd_conns h1)" = "$n1"
check "h1 has no marker of the second run" test "$("$LAB" on h1 ls -d "$MDIR-second" 2>/dev/null || echo none)" = none
"$PY" -c 'import json, sys
sys.exit(any(json.loads(l).get("host") == "h1" and json.loads(l)["event"] == "command" for l in open(sys.argv[1])))' \
    "$SD/runs/$second/audit.jsonl" && pass "second trail holds no command for h1" || fail "second trail has h1 commands"
rc=0
wait "$pid" || rc=$?
check "the first run committed both hosts (exit $rc)" test "$rc" = 0
check "first run: h1 committed" test "$(jget "$first" 'o["host_states"]["h1"]')" = committed
# clean up through the tool itself
ss rollback --yes "$first" >/dev/null 2>&1 || fail "rollback of the first run"
ss rollback --yes "$second" >/dev/null 2>&1 || fail "rollback of the second run"
for h in $LAB_HOSTS; do
    check "$h as before after both rollbacks" test "$(host_state "$h")" = "${before[$h]}"
done
"$LAB" on h3 rm -rf "$MDIR-second"
finish
