#!/bin/bash
# e2e: a host that refuses root logins (PermitRootLogin no) is reached as
# deploy with sudo: from an INI inventory (ansible_user/ansible_become) and
# from --user/--become; respond contains it, rollback puts the spam back on
# hold and keeps the new password.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_become
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d /tmp/ss-become-XXXXXX)
chmod 700 "$work"
cleanup() {
    "$lab" root-login h2 yes >/dev/null 2>&1 || echo "$t: could not re-allow root on h2" >&2
    "$lab" clear h2 >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

keys=(--identity "$LAB_KEY" --known-hosts "$LAB_KNOWN_HOSTS")
pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
auth() { "$lab" auth h2 "$1" "$2" >/dev/null 2>&1; }
last_run() { ls -t "$work/state/runs" | head -1; }
deploy_logins() { "$lab" sshd-log h2 | grep -c 'Accepted publickey for deploy' || true; }
cat >"$work/fleet.ini" <<INI
[mail]
h2 ansible_host=$LAB_ADDR_h2 ansible_user=deploy ansible_become=true
INI

"$lab" clear h2 >/dev/null
"$lab" root-login h2 no >/dev/null 2>&1
grep -qx 'PermitRootLogin no' "$LAB_DIR/hosts/h2/etc/ssh/sshd_config" ||
    fail "lab.sh root-login did not set PermitRootLogin no"

# root is refused: an authentication error, exit 1
rc=0
"$ss" exec -F "$LAB_SSH_CONFIG" -c true h2 >"$work/root.out" 2>"$work/root.err" || rc=$?
[[ $rc == 1 ]] || fail "exec as root on h2 exited $rc, want 1"
grep -q "authentication as 'root' on 'h2' refused" "$work/root.err" ||
    fail "exec as root: no authentication error: $(cat "$work/root.err")"
ok "root refused on h2: exit 1 and '$(head -1 "$work/root.err")'"

# respond as deploy + sudo, then rollback, once per way of saying so.  The
# user/become of either way are kept in run.json: rollback is not told them
# again (docs/inventory.md).
contain_and_restore() {
    local how=$1 rbopts=$2 d0 rc R cred u p
    shift 2
    "$lab" clear h2 >/dev/null
    "$lab" stage h2 --spam dave:60 --legit 5 >/dev/null 2>&1
    "$lab" state h2 >"$work/before"
    d0=$(deploy_logins)
    rc=0
    "$ss" respond "${keys[@]}" --state-dir "$work/state" --yes "$@" \
        >"$work/run.out" 2>&1 || rc=$?
    [[ $rc == 0 ]] || fail "$how: respond exited $rc: $(tail -20 "$work/run.out")"
    grep -q "h2 *committed" "$work/run.out" || fail "$how: h2 not committed"
    (($(deploy_logins) > d0)) || fail "$how: h2 was not reached as deploy"
    R=$(last_run)
    cred=$work/state/runs/$R/credentials
    read -r _ u p <"$cred" || fail "$how: no credentials"
    [[ $u == dave@example.test ]] || fail "$how: rotated '$u', want dave"
    sleep 1.1 # dovecot re-reads its passwd-file at most once a second
    auth dave "$(pw dave)" && fail "$how: dave's old password still works"
    auth dave "$p" || fail "$how: dave's new password does not work"
    auth bob "$(pw bob)" || fail "$how: bob's password changed"
    "$lab" state h2 >"$work/after"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF " $mid" "$work/after" && fail "$how: spam $mid still queued"
        else
            grep -qF "queue deferred $mid" "$work/after" || fail "$how: legit $mid gone"
        fi
    done <"$LAB_DIR/stage-h2.txt"
    grep -qx 'postfix running' "$work/after" || fail "$how: postfix not running"
    ok "$how: respond contained h2 as deploy+sudo (run $R): dave rotated, 60 spam gone, 5 legit kept"

    d0=$(deploy_logins)
    rc=0
    # shellcheck disable=SC2086
    "$ss" rollback "${keys[@]}" $rbopts --state-dir "$work/state" --yes "$R" \
        >"$work/rb.out" 2>&1 || rc=$?
    [[ $rc == 0 ]] || fail "$how: rollback exited $rc: $(tail -20 "$work/rb.out")"
    (($(deploy_logins) > d0)) || fail "$how: rollback did not reach h2 as deploy"
    sleep 1.1
    "$lab" state h2 >"$work/rb"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF "queue hold $mid" "$work/rb" || fail "$how: spam $mid not back on hold"
        else
            grep -qF "queue deferred $mid" "$work/rb" || fail "$how: legit $mid gone after rollback"
        fi
    done <"$LAB_DIR/stage-h2.txt"
    grep -qx 'postfix running' "$work/rb" || fail "$how: postfix not running after rollback"
    # a plain rollback keeps the new password: the stolen one never comes back
    grep '^users ' "$work/after" | diff - <(grep '^users ' "$work/rb") >/dev/null ||
        fail "$how: rollback changed the passwd-file"
    auth dave "$(pw dave)" && fail "$how: a plain rollback gave dave's stolen password back"
    auth dave "$p" || fail "$how: dave's new password no longer works after rollback"
    grep -q "the new password of dave@example.test stays" "$work/rb.out" ||
        fail "$how: rollback does not say the new password stays: $(tail -5 "$work/rb.out")"
    ok "$how: rollback as deploy+sudo: spam back on hold, new password kept, postfix running"
}
contain_and_restore "inventory" "" -i "$work/fleet.ini"
grep -q 'Host h2' "$LAB_SSH_CONFIG" || fail "no h2 in the lab's ssh config"
contain_and_restore "--user --become" "-F $LAB_SSH_CONFIG" -F "$LAB_SSH_CONFIG" --user deploy --become h2
"$ss" exec -F "$LAB_SSH_CONFIG" -c true h2 >/dev/null 2>&1 &&
    fail "root got in on h2 during the test"
ok "root still refused on h2 at the end"
