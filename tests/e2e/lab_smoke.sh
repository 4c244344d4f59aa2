#!/bin/bash
# e2e: the lab itself works -- staging, the queue seen over plain ssh,
# SMTP AUTH checks, roles, and clear restoring the host's state.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"

fail() {
    echo "lab_smoke: FAIL: $*" >&2
    exit 1
}
ok() { echo "lab_smoke: ok: $*"; }
rsh() { ssh -F "$LAB_SSH_CONFIG" "$@"; }

h=h1
"$lab" clear "$h"
before=$("$lab" state "$h")
grep -qx 'postfix running' <<<"$before" || fail "postfix is not running on $h"
grep -q '^queue ' <<<"$before" && fail "$h's queue is not empty after clear"

"$lab" stage "$h" --spam alice:50 --legit 5
man=$LAB_DIR/stage-$h.txt
[[ $(wc -l <"$man") == 55 ]] || fail "manifest has $(wc -l <"$man") lines, expected 55"
[[ $(grep -c '^spam alice@example.test ' "$man") == 50 ]] || fail "manifest: not 50 spam lines"
[[ $(awk '{ print $3 }' "$man" | sort -u | wc -l) == 55 ]] || fail "manifest digests are not distinct"
ok "staged 55, manifest consistent"

# The queue as an operator sees it over plain ssh.
q=$(rsh "$h" postqueue -j)
total=$(grep -c '"queue_id"' <<<"$q" || true)
deferred=$(grep -c '"queue_name": *"deferred"' <<<"$q" || true)
[[ $total == 55 && $deferred == 55 ]] || fail "postqueue -j: $total messages, $deferred deferred; expected 55/55"
ok "postqueue -j over ssh: 55 deferred"

# Every envelope; count the ones smtpd stamped with alice's SASL login.
env_out=$(rsh "$h" 'find /var/spool/postfix/deferred -type f | xargs postcat -e')
n_env=$(grep -c '^\*\*\* ENVELOPE RECORDS .*deferred/' <<<"$env_out" || true)
n_alice=$(grep -c '^named_attribute: sasl_username=alice@example.test$' <<<"$env_out" || true)
n_sasl=$(grep -c '^named_attribute: sasl_username=' <<<"$env_out" || true)
[[ $n_env == 55 ]] || fail "postcat saw $n_env envelopes, expected 55"
[[ $n_alice == 50 ]] || fail "$n_alice envelopes with sasl_username alice, expected 50"
[[ $n_sasl == 55 ]] || fail "$n_sasl envelopes with a sasl_username, expected 55"
n_src=$(grep '^named_attribute: log_client_address=' <<<"$env_out" | sort -u | wc -l)
((n_src >= 2)) || fail "all spam came from one client address"
ok "postcat: 50 with sasl_username=alice, 5 legit, $n_src client addresses"

# Each manifest digest is the sha256 of a queued message's Message-ID.
state=$("$lab" state "$h")
while read -r _kind _acct digest msgid; do
    grep -qxF "queue deferred $msgid" <<<"$state" || fail "state lacks $msgid"
    [[ $(printf '%s' "$msgid" | sha256sum | cut -d' ' -f1) == "$digest" ]] || fail "digest of $msgid"
done <"$man"
ok "state lists every staged Message-ID; digests match"

# SMTP AUTH: right password accepted, wrong one rejected.
pw=$(awk '$1 == "alice@example.test" { print $2 }' "$LAB_PASSWORDS")
"$lab" auth "$h" alice@example.test "$pw" || fail "auth with the right password failed"
rc=0
"$lab" auth "$h" alice@example.test "not-$pw" || rc=$?
[[ $rc == 1 ]] || fail "auth with a wrong password gave $rc, expected 1"
ok "auth accepts the right password, rejects a wrong one"

# Roles: the plesk stand-in only on plesk hosts; deploy has sudo.
if [[ ${LAB_ROLE_h1:-} == plesk ]]; then
    rsh h1 'plesk sbin mail_auth_view' | grep -qE "^\| alice@example.test +\| E +\| $pw +\|\$" ||
        fail "mail_auth_view on h1 does not show alice's password"
fi
if [[ ${LAB_ROLE_h2:-} == plain ]]; then
    rsh h2 'command -v plesk' && fail "plain host h2 has a plesk command"
fi
[[ $(rsh "deploy@$h" 'sudo -n id -u') == 0 ]] || fail "deploy cannot sudo on $h"
ok "roles and deploy sudo"

"$lab" clear "$h"
after=$("$lab" state "$h")
[[ $after == "$before" ]] || fail "state after clear differs: $(diff <(echo "$before") <(echo "$after"))"
[[ $(rsh "$h" postqueue -j | wc -l) == 0 ]] || fail "queue not empty after clear"
ok "clear restored $h's state"
