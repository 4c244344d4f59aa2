#!/bin/bash
# Host keys through spamstop exec: a changed key is refused before any
# authentication or command (sshd's log proves it), an unknown key is
# refused unless --accept-new, which records it.  Restores h2's known_hosts
# entries afterwards so other tests keep working.
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SPAMSTOP=${SPAMSTOP:-$SOURCE_DIR/build/spamstop}
LAB=$SOURCE_DIR/tests/lab/lab.sh
# shellcheck disable=SC1090
. "$("$LAB" env)"
TMP=$(mktemp -d /tmp/spamstop-e2e-hostkey.XXXXXX)

fails=0
pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*" >&2
    fails=$((fails + 1))
}
addr_h2=$LAB_ADDR_h2

# After the rekey, the lab's known_hosts must learn h2's new key again.
restore() {
    local pub="$LAB_DIR/hosts/h2/etc/ssh/ssh_host_ed25519_key.pub" key
    if [[ -f $TMP/rekeyed && -f $pub ]]; then
        key=$(cut -d' ' -f1,2 "$pub")
        (
            flock 9
            grep -v -e "^h2 " -e "^$addr_h2 " "$LAB_KNOWN_HOSTS" >"$TMP/kh" || true
            printf '%s %s\nh2 %s\n' "$addr_h2" "$key" "$key" >>"$TMP/kh"
            cat "$TMP/kh" >"$LAB_KNOWN_HOSTS"
        ) 9>>"$LAB_DIR/known_hosts.lock"
    fi
    rm -rf "$TMP"
}
trap restore EXIT

# Connection options without the lab's ssh_config, so --known-hosts rules.
direct() {
    local kh=$1
    shift
    "$SPAMSTOP" exec --identity "$LAB_KEY" --user root --known-hosts "$kh" "$@"
}

# 1. Unknown host: refused without --accept-new, recorded with it.
: >"$TMP/empty_kh"
rc=0
direct "$TMP/empty_kh" -c 'echo SHOULD-NOT-RUN' "$LAB_ADDR_h1" >"$TMP/o" 2>"$TMP/e" || rc=$?
[[ $rc == 1 ]] && grep -q "unknown host key for '$LAB_ADDR_h1'" "$TMP/e" && grep -q -- '--accept-new' "$TMP/e" &&
    ! grep -q SHOULD-NOT-RUN "$TMP/o" && pass "unknown host refused: $(cat "$TMP/e")" ||
    fail "unknown host: rc=$rc $(cat "$TMP/o" "$TMP/e")"
[[ ! -s $TMP/empty_kh ]] && pass "nothing recorded without --accept-new" || fail "known_hosts written"
rc=0
direct "$TMP/empty_kh" --accept-new -c 'echo accepted' "$LAB_ADDR_h1" "$LAB_ADDR_h3" >"$TMP/o" 2>"$TMP/e" || rc=$?
[[ $rc == 0 && $(grep -c '^accepted$' "$TMP/o") == 2 ]] && pass "--accept-new trusts on first use" ||
    fail "accept-new: rc=$rc $(cat "$TMP/o" "$TMP/e")"
[[ $(wc -l <"$TMP/empty_kh") == 2 ]] && pass "two keys recorded" || fail "recorded: $(cat "$TMP/empty_kh")"
direct "$TMP/empty_kh" -c 'echo known' "$LAB_ADDR_h1" | grep -qx known &&
    pass "recorded key is then accepted without --accept-new" || fail "recorded key not accepted"
# A recorded key that differs is still refused with --accept-new.
cut -d' ' -f2- "$TMP/empty_kh" | head -1 | sed "s/^/$LAB_ADDR_h2 /" >"$TMP/wrong_kh"
rc=0
direct "$TMP/wrong_kh" --accept-new -c 'echo SHOULD-NOT-RUN' "$LAB_ADDR_h2" >"$TMP/o" 2>"$TMP/e" || rc=$?
[[ $rc == 1 ]] && grep -q "host key of '$LAB_ADDR_h2' has changed" "$TMP/e" && ! grep -q SHOULD-NOT-RUN "$TMP/o" &&
    pass "--accept-new does not accept a changed key" || fail "accept-new on changed: $(cat "$TMP/e")"

# 2. h2 gets a new host key: the next connect is refused before any command.
old_fp=$("$SPAMSTOP" exec -F "$LAB_SSH_CONFIG" --json -c true h2 |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["fingerprint"])')
"$LAB" rekey h2 2>/dev/null
touch "$TMP/rekeyed"
new_fp=$(ssh-keygen -lf "$LAB_DIR/hosts/h2/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)
log_lines=$("$LAB" sshd-log h2 | wc -l)
rc=0
"$SPAMSTOP" exec -F "$LAB_SSH_CONFIG" -c 'touch /tmp/spamstop-e2e-must-not-exist' h1 h2 h3 >"$TMP/o" 2>"$TMP/e" || rc=$?
sleep 0.3
[[ $rc == 1 ]] && pass "changed key gives exit code 1" || fail "changed key: exit $rc"
grep -q "host key of 'h2' has changed" "$TMP/e" && grep -qF "$new_fp" "$TMP/e" && grep -qF "$old_fp" "$TMP/e" &&
    pass "error names h2, the offered and the recorded fingerprint: $(grep h2 "$TMP/e")" ||
    fail "changed-key error: $(cat "$TMP/e") (new $new_fp, old $old_fp)"
grep -q '== h2 (failed: host key' "$TMP/o" && grep -q '== h1 (exit 0' "$TMP/o" && grep -q '== h3 (exit 0' "$TMP/o" &&
    pass "h1 and h3 ran, h2 refused" || fail "outcome: $(cat "$TMP/o")"
after=$("$LAB" sshd-log h2 | tail -n +"$((log_lines + 1))")
echo "$after" | sed 's/^/#   h2 sshd: /'
if grep -qE 'Accepted|Starting session|Postponed|Failed publickey' <<<"$after"; then
    fail "h2's sshd saw authentication or a session after the rekey"
else
    pass "h2's sshd log shows no authentication and no command after the rekey"
fi
if "$LAB" on h2 test -e /tmp/spamstop-e2e-must-not-exist; then fail "command ran on h2"; else
    pass "no file made on h2"
fi
"$LAB" on h1 rm -f /tmp/spamstop-e2e-must-not-exist
"$LAB" on h3 rm -f /tmp/spamstop-e2e-must-not-exist

if ((fails > 0)); then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
