#!/bin/bash
# e2e: refusals that must connect nowhere: respond without a terminal and
# without --yes (exit 5), an invalid playbook, inventory or --limit (exit 2).
# "Nowhere" is checked on every host's sshd log.
. "$(dirname "$0")/lib/engine.sh"

declare -A lines
snap_logs() { for h in $LAB_HOSTS; do lines[$h]=$(sshd_lines "$h"); done; }
no_conn() {
    local h ok=1
    for h in $LAB_HOSTS; do
        [[ $(sshd_lines "$h") == "${lines[$h]}" ]] || ok=0
    done
    check "$1: no connection to any host" test "$ok" = 1
}
expect() {
    local want=$1 what=$2 rc=0
    shift 2
    snap_logs
    "$@" </dev/null >"$TMP/out" 2>"$TMP/err" || rc=$?
    check "$what: exit $want (got $rc: $(head -c 300 "$TMP/err"))" test "$rc" = "$want"
    no_conn "$what"
}

# (d) no TTY, no --yes
expect 5 "no terminal, no --yes" respond $LAB_HOSTS
grep -q 'no --yes and no terminal' "$TMP/err" && pass "says why" || fail "message: $(cat "$TMP/err")"
check "no run folder made" test ! -e "$SD/runs"
# the same for rollback and resume of an existing run
respond --yes h1 >/dev/null 2>&1 || fail "setup run failed"
run=$(run_id)
expect 5 "rollback without --yes" ss rollback "$run"
expect 5 "resume without --yes" ss resume "$run"
ss rollback --yes "$run" >/dev/null 2>&1 || fail "cleanup rollback failed"

# (e) invalid playbooks: each names file, step and field
printf '{"name":"x","steps":[{"name":"a","kind":"compensable","shell":{"run":"touch /tmp/x"}}]}' >"$TMP/bad1.json"
expect 2 "compensable step without undo" ss respond --yes -p "$TMP/bad1.json" $LAB_HOSTS
grep -q "bad1.json: step 1 'a': a compensable step needs 'shell.undo'" "$TMP/err" &&
    pass "message names file, step and field" || fail "message: $(cat "$TMP/err")"
printf '{"name":"x","steps":[{"name":"a","kind":"read-only","shell":{"run":"echo {{nope}}"}}]}' >"$TMP/bad2.json"
expect 2 "reference to an unknown result" ss respond --yes -p "$TMP/bad2.json" $LAB_HOSTS
printf '{"name":"x","steps":[{"name":"a","kind":"compensable","shell":{"run":"x","undo":"y","uncommit":"z"}}]}' >"$TMP/bad3.json"
expect 2 "uncommit without commit" ss respond --yes -p "$TMP/bad3.json" $LAB_HOSTS
printf '{"name":"x",' >"$TMP/bad4.json"
expect 2 "invalid JSON" ss respond --yes -p "$TMP/bad4.json" $LAB_HOSTS
expect 2 "unknown parameter" respond --yes --param nosuch=1 $LAB_HOSTS
expect 2 "playbook check of a bad file" "$SPAMSTOP" playbook check "$TMP/bad1.json"

# bad inventories and limits
printf '[mail]\nh1 ansible_port=70000\n' >"$TMP/bad.ini"
expect 2 "inventory with a bad port" respond --yes -i "$TMP/bad.ini"
grep -q "bad.ini:2: ansible_port '70000'" "$TMP/err" && pass "inventory error names file and line" ||
    fail "message: $(cat "$TMP/err")"
expect 2 "missing inventory" respond --yes -i "$TMP/none.ini"
printf '[mail]\nh1\nh2\n' >"$TMP/ok.ini"
expect 2 "--limit matching nothing" respond --yes -i "$TMP/ok.ini" --limit 'mail:!h9'
check "no run folder for refused runs" test "$(ls "$SD/runs" | wc -l)" = 1
finish
