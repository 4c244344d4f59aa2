#!/bin/bash
# e2e: rotate on a Plesk host that hashes mail passwords is a pivot on that
# host only: the plan says so first, the run commits, rollback leaves it.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"

t=runbook_pivot
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d /tmp/ss-pv-XXXXXX)
chmod 700 "$work"
cleanup() {
    "$lab" on h1 sh -c 'echo recoverable >/var/lib/dovecot/plesk-standin/mode' || true
    for h in h1 h2; do "$lab" clear "$h" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

run() {
    "$ss" "$@" -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state"
}
pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
auth() { "$lab" auth "$1" "$2" "$3" >/dev/null 2>&1; }

[[ $LAB_ROLE_h1 == plesk ]] || fail "h1 has role $LAB_ROLE_h1, not plesk"
for h in h1 h2; do "$lab" clear "$h" >/dev/null; done
"$lab" on h1 sh -c 'echo hashed >/var/lib/dovecot/plesk-standin/mode'
"$lab" stage h1 --spam alice:80 --legit 5 >/dev/null
"$lab" stage h2 --spam dave:80 --legit 5 >/dev/null
for h in h1 h2; do "$lab" state "$h" >"$work/before-$h"; done
ok "h1 (plesk, hashed passwords) and h2 (dovecot) staged: 80 spam, 5 legit"

# --- the plan says PIVOT for h1's rotate before anything runs; h2 not ----
run respond --dry-run h1 h2 >"$work/dry.out" 2>&1 ||
    fail "dry-run failed: $(tail -5 "$work/dry.out")"
for h in h1 h2; do
    "$lab" state "$h" | diff -q - "$work/before-$h" >/dev/null ||
        fail "dry-run changed $h"
done
grep -q '\[5\] rotate (compensable): PIVOT on this host, cannot be undone: plesk hashes' \
    "$work/dry.out" || fail "no PIVOT for h1's rotate: $(grep -n rotate "$work/dry.out")"
[[ $(grep -c 'PIVOT on this host' "$work/dry.out") == 1 ]] ||
    fail "a pivot is shown for more than h1's rotate"
ok "dry-run: h1's rotate is a PIVOT in the plan, h2's is not, nothing changed"

# --- the real run commits; h1's rotate is journaled as a pivot ----------
run respond --yes h1 h2 >"$work/run.out" 2>&1 ||
    fail "respond failed: $(tail -20 "$work/run.out")"
R=$(ls -t "$work/state/runs" | head -1)
rd=$work/state/runs/$R
grep -q "h1 *committed" "$work/run.out" && grep -q "h2 *committed" "$work/run.out" ||
    fail "not committed: $(tail -10 "$work/run.out")"
grep -q '"type":"intent".*"name":"rotate","kind":"pivot"' "$rd/journal/h1.jsonl" ||
    fail "h1's rotate intent is not journaled as a pivot"
grep -q '"name":"rotate","kind":"compensable"' "$rd/journal/h2.jsonl" ||
    fail "h2's rotate is not compensable"
grep -q '"event":"pivot"' "$rd/audit.jsonl" || fail "no pivot record in the trail"
newpw=$(awk '$1 == "h1" && $2 == "alice@example.test" { p = $3 } END { print p }' "$rd/credentials")
sleep 1.1
auth h1 alice "$newpw" || fail "h1: the new password does not work"
"$lab" state h1 >"$work/after-h1"
ok "respond committed h1 and h2 (run $R); h1's rotate journaled as a pivot"

# --- rollback: h2 rolled back; h1 left exactly as committed, and said ---
rb() {
    set +e
    "$ss" rollback --yes -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state" "$R" >"$1" 2>&1
    rc=$?
    set -e
}
rb "$work/rb.out"
[[ $rc == 3 ]] || fail "rollback exited $rc, want 3: $(tail -10 "$work/rb.out")"
grep -q "h1 *needs-attention" "$work/rb.out" || fail "h1 not needs-attention: $(cat "$work/rb.out")"
grep -q "not rolled back, nothing changed: step 5 'rotate' ran and is a pivot here" \
    "$work/rb.out" || fail "h1: no clear reason: $(cat "$work/rb.out")"
grep -q "h2 *rolled-back" "$work/rb.out" || fail "h2 not rolled back: $(cat "$work/rb.out")"
sleep 1.1
"$lab" state h1 | diff - "$work/after-h1" || fail "rollback changed h1"
grep -qx 'postfix running' "$work/after-h1" || fail "h1: postfix not running"
auth h1 alice "$newpw" || fail "h1: the new password no longer works"
auth h1 alice "$(pw alice)" && fail "h1: the old password works again"
"$lab" state h2 >"$work/rb-h2"
grep -qx 'postfix running' "$work/rb-h2" || fail "h2: postfix not running after rollback"
grep '^users ' "$work/before-h2" | diff - <(grep '^users ' "$work/rb-h2") ||
    fail "h2: the old hash is not back"
ok "rollback: h1 needs-attention and unchanged (committed), h2 rolled back"

# a second rollback says the same for h1 and finds nothing on h2
rb "$work/rb2.out"
[[ $rc == 3 ]] || fail "second rollback exited $rc"
grep -q "h2 *nothing-to-do" "$work/rb2.out" || fail "second rollback: h2 not nothing-to-do"
"$lab" state h1 | diff - "$work/after-h1" || fail "second rollback changed h1"
ok "a second rollback changes nothing"
