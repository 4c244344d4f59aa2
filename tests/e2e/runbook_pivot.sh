#!/bin/bash
# e2e: rotate on a Plesk host that hashes mail passwords is a pivot on that
# host only: the plan says so first, the run commits; being containment, a
# rollback treats it as on the other host: spam back on hold, the new
# password kept (a plain rollback never gives a stolen password back).
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
# Plesk hashes only passwords set after the switch: set alice's again
"$lab" on h1 plesk bin server_pref -u -email-password-hashing true >/dev/null
"$lab" on h1 env PSA_PASSWORD="$(pw alice)" plesk bin mail --update alice@example.test -passwd '' >/dev/null
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
grep -q '\[4\] rotate: PIVOT on this host, cannot be undone: plesk hashes' \
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
newpw2=$(awk '$1 == "h2" && $2 == "dave@example.test" { p = $3 } END { print p }' "$rd/credentials")
[[ -n $newpw2 ]] || fail "h2: no new password for dave in the credentials file"
"$lab" state h1 >"$work/after-h1"
"$lab" state h2 >"$work/after-h2"
ok "respond committed h1 and h2 (run $R); h1's rotate journaled as a pivot"

# --- rollback: the pivot is containment, so both hosts come back the same
# way: spam back on hold from the snapshot, Postfix running, the new
# password kept (a plain rollback never gives a stolen password back, and
# h1's old one cannot come back at all) -------------------------------
rb() {
    set +e
    "$ss" rollback --yes -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state" "$R" >"$1" 2>&1
    rc=$?
    set -e
}
# Audited commands of step $1 ("-": any step but the host lock's).
cmds() {
    python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") != "command" or r.get("phase") in ("lock", "unlock"):
        continue
    n += sys.argv[2] in ("-", r.get("step"))
print(n)' "$rd/audit.jsonl" "$1"
}
nrot=$(cmds rotate)
rb "$work/rb.out"
[[ $rc == 0 ]] || fail "rollback exited $rc, want 0: $(tail -10 "$work/rb.out")"
(( nrot > 0 )) && [[ $(cmds rotate) == "$nrot" ]] || fail "rollback ran a rotate command (a password was set)"
sleep 1.1
for h in h1 h2; do
    grep -q "$h *rolled-back" "$work/rb.out" || fail "$h not rolled back: $(cat "$work/rb.out")"
    "$lab" state "$h" >"$work/rb-$h"
    grep -qx 'postfix running' "$work/rb-$h" || fail "$h: postfix not running after rollback"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF "queue hold $mid" "$work/rb-$h" || fail "$h: spam $mid not back on hold"
        else
            grep -qF "queue deferred $mid" "$work/rb-$h" || fail "$h: legit $mid gone after rollback"
        fi
    done <"$LAB_DIR/stage-$h.txt"
    # the new password stays: the password files are the ones the run left
    diff <(grep -v '^queue ' "$work/after-$h") <(grep -v '^queue ' "$work/rb-$h") ||
        fail "$h: rollback changed the password files"
done
grep -q "the new password of alice@example.test stays" "$work/rb.out" ||
    fail "h1: rollback does not say the new password stays: $(cat "$work/rb.out")"
grep -q "the new password of dave@example.test stays" "$work/rb.out" ||
    fail "h2: rollback does not say the new password stays: $(cat "$work/rb.out")"
auth h1 alice "$newpw" || fail "h1: the new password no longer works"
auth h1 alice "$(pw alice)" && fail "h1: the old password works again"
auth h2 dave "$(pw dave)" && fail "h2: a plain rollback gave dave's stolen password back"
auth h2 dave "$newpw2" || fail "h2: dave's new password no longer works"
ok "rollback: h1 (pivot) and h2 rolled back: spam on hold, new passwords kept, postfix running"

# a second rollback does no harm: same outcome, nothing sent but the lock
n0=$(cmds -)
rb "$work/rb2.out"
[[ $rc == 0 ]] || fail "second rollback exited $rc: $(tail -10 "$work/rb2.out")"
[[ $(cmds -) == "$n0" ]] || fail "second rollback sent $(($(cmds -) - n0)) command(s)"
for h in h1 h2; do
    grep -Eq "$h *(rolled-back|nothing-to-do)" "$work/rb2.out" ||
        fail "second rollback: $h: $(cat "$work/rb2.out")"
    "$lab" state "$h" | diff - "$work/rb-$h" || fail "second rollback changed $h"
done
ok "a second rollback changes nothing"
