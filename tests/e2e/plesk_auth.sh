#!/bin/bash
# shellcheck disable=SC1091,SC2016,SC2154
# e2e: Plesk's own SMTP authentication path and per-account password
# storage, on h1 (role plesk: the TEST STAND-IN `plesk`, Postfix through
# Cyrus SASL against the sasldb it keeps).
# - the path: smtpd asks Cyrus SASL, not Dovecot (a password taken out of
#   the sasldb only is refused over SMTP while Dovecot still takes it);
# - a mixed host made the way real ones become mixed: erin gets a weak
#   password under a lax policy (stored readable), the policy is raised,
#   email-password-hashing is switched on and dave's password set again
#   (stored hashed); alice stays as she was (readable);
# - the plan says PIVOT for dave alone, before anything runs;
# - respond (snapshot made impossible, as in rel_rollback_account: the run
#   ends contained): over real SMTP AUTH every old password is refused and
#   the new one accepted; the report names dave as stored hashed;
# - rollback --account alice --account dave --restore-password: alice's
#   old password accepted again, dave's cannot come back (said), his new
#   one still works;
# - rollback --account erin --restore-password: Plesk's policy refuses the
#   weak old password: needs attention, with Plesk's own words.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
H=h1
HD=/var/lib/spamstop
WEAK=abc12

[[ $LAB_ROLE_h1 == plesk ]] || { echo "# h1 has role $LAB_ROLE_h1, not plesk" >&2; exit 1; }
on() { "$LAB" on "$H" "$@"; }
# Whether SMTP AUTH on h1 as USER with PASS is refused (535: exit 1).
refused() {
    local rc=0
    "$LAB" auth "$H" "$1" "$2" >/dev/null 2>&1 || rc=$?
    [[ $rc == 1 ]]
}
# Dovecot (IMAP/POP's passdb) takes USER with PASS.
dovecot_takes() { on doveadm auth test "$1@example.test" "$2" >/dev/null 2>&1; }
# Sets USER's password through the stand-in, as Plesk's CLI does.
plesk_set() { on env PSA_PASSWORD="$2" plesk bin mail --update "$1@example.test" -passwd ''; }
# The flags cell of USER's row in mail_auth_view (any padding).
flags_of() { on plesk sbin mail_auth_view | awk -F'|' -v a="$1@example.test" '{ x = $2; gsub(/ /, "", x) } x == a { f = $3; gsub(/ /, "", f); print f }'; }
at_exit '"$LAB" on "$H" sh -c "[ ! -e $HD/.plesk-auth ] || umount $HD"; "$LAB" clear "$H" >/dev/null 2>&1'

# --- the SMTP AUTH path is Cyrus SASL's ------------------------------------
"$LAB" clear "$H" >/dev/null
check "h1's smtpd uses Cyrus SASL" test "$(on postconf -h smtpd_sasl_type)" = cyrus
check "Cyrus SASL reads the sasldb (auxprop)" on grep -qx 'auxprop_plugin: sasldb' /etc/postfix/sasl/smtpd.conf
check "erin's password accepted over SMTP" auth "$H" erin "$(old_pw erin)"
on saslpasswd2 -d -f /etc/postfix/sasl/sasldb2 erin@example.test
check "erin out of the sasldb only: refused over SMTP" refused erin "$(old_pw erin)"
check "... while Dovecot still takes it (smtpd does not ask Dovecot)" dovecot_takes erin "$(old_pw erin)"
"$LAB" clear "$H" >/dev/null
check "lab.sh clear puts the sasldb back" auth "$H" erin "$(old_pw erin)"

# --- the stand-in's storage, policy and switch -----------------------------
"$LAB" stage "$H" --spam alice:60 --spam dave:60 --spam erin:60 --legit 4 >/dev/null
rc=0
on plesk bin server_pref -u -min_password_strength very_weak >/dev/null
plesk_set erin "$WEAK" >/dev/null || rc=$?
check "a weak password is taken under a lax policy" test "$rc" = 0
on plesk bin server_pref -u -min_password_strength medium >/dev/null
rc=0
plesk_set carol "$WEAK" >"$TMP/weak.out" 2>&1 || rc=$?
check "the medium policy refuses a weak one: exit 1 (got $rc)" test "$rc" = 1
check "... in Plesk's words" grep -q "The password is too weak" "$TMP/weak.out"
on plesk bin server_pref -u -email-password-hashing true >/dev/null
check "server_pref -s shows the switch" sh -c '"$0" on h1 plesk bin server_pref -s | grep -qx "email-password-hashing: true"' "$LAB"
plesk_set dave "$(old_pw dave)" >/dev/null
check "mail_auth_view: alice and erin readable (E), dave hashed (H)" \
    test "$(flags_of alice) $(flags_of erin) $(flags_of dave)" = "E E H"
check "mail_auth_view shows no password for dave" \
    sh -c '! "$0" on h1 plesk sbin mail_auth_view | grep -F "$1"' "$LAB" "$(old_pw dave)"
check "dave's password (now hashed) still accepted over SMTP" auth "$H" dave "$(old_pw dave)"
check "erin's weak password accepted over SMTP" auth "$H" erin "$WEAK"
"$LAB" state "$H" >"$TMP/before"
on sh -c "mount -t tmpfs -o size=64k,mode=0700 plesk-auth $HD && touch $HD/.plesk-auth"

# --- the plan: PIVOT for dave alone, before anything runs ------------------
rc=0
ss respond --dry-run "$H" >"$TMP/dry.out" 2>&1 || rc=$?
check "dry-run exits 0 (got $rc)" test "$rc" = 0
check "the plan: dave's rotate is a PIVOT for that account" \
    grep -q 'will set a new password for dave@example.test (plesk): PIVOT for this account, plesk stores its password hashed' "$TMP/dry.out"
check "the plan: alice's and erin's old passwords are kept" \
    test "$(grep -o 'the old one kept on the host until the run commits' "$TMP/dry.out" | wc -l)" = 2
check "the plan: no pivot on the host" sh -c '! grep -q "PIVOT on this host" "$0"' "$TMP/dry.out"
check "dry-run changed nothing" same_state "$H" "$TMP/before"

# --- respond: contained, every account rotated -----------------------------
rc=0
ss respond --yes "$H" >"$TMP/run.out" 2>&1 || rc=$?
R=$(run_id)
echo "# respond exit $rc, run $R"
check "respond exits 6 (h1 contained) (got $rc)" test "$rc" = 6
check "no pivot journaled on the host" sh -c '! grep -q "\"kind\":\"pivot\"" "$0"' "$SD/runs/$R/journal/$H.jsonl"
A_NEW=$(new_pw "$R" "$H" alice)
D_NEW=$(new_pw "$R" "$H" dave)
E_NEW=$(new_pw "$R" "$H" erin)
check "alice: over SMTP AUTH the new password accepted, the old refused" pw_rotated "$H" alice "$A_NEW" "$(old_pw alice)"
check "dave: over SMTP AUTH the new password accepted, the old refused" pw_rotated "$H" dave "$D_NEW" "$(old_pw dave)"
check "erin: over SMTP AUTH the new password accepted, the weak old one refused" pw_rotated "$H" erin "$E_NEW" "$WEAK"
check "Dovecot (IMAP/POP) agrees: alice's new password" dovecot_takes alice "$A_NEW"
check "dave's new password is stored hashed (switch on)" test "$(flags_of dave)" = H
"$SPAMSTOP" report --state-dir "$SD" "$R" --format md -o "$TMP/report.md" 2>/dev/null
check "the report names dave as stored hashed" \
    grep -q "Stored hashed (cannot be put back): dave@example.test" "$TMP/report.md"

# --- rollback alice and dave with --restore-password -----------------------
rc=0
ss rollback "$R" --yes --account alice@example.test --account dave@example.test \
    --restore-password >"$TMP/rb1.out" 2>&1 || rc=$?
check "rollback alice, dave: exit 0 (got $rc)" test "$rc" = 0
check "rollback: says dave's old password cannot come back" \
    grep -q "the old password of dave@example.test cannot be put back: plesk stores it hashed" "$TMP/rb1.out"
settle_users "$H"
check "alice: the old password accepted again over SMTP" auth "$H" alice "$(old_pw alice)"
check "alice: the new password refused" refused alice "$A_NEW"
check "dave: the new password still accepted" auth "$H" dave "$D_NEW"
check "dave: the stolen password still refused" refused dave "$(old_pw dave)"
check "erin (not named): the new password still accepted" auth "$H" erin "$E_NEW"

# --- rollback erin with --restore-password: Plesk's policy refuses ---------
rc=0
ss rollback "$R" --yes --account erin@example.test --restore-password >"$TMP/rb2.out" 2>&1 || rc=$?
check "rollback erin: needs attention, exit non-zero (got $rc)" test "$rc" != 0
check "rollback erin: h1 needs attention (run.json)" test "$(jget "$R" 'o["host_states"]["h1"]')" = needs-attention
check "rollback erin: Plesk's own message" grep -q "The password is too weak (the minimum password strength on this server is Medium)" "$TMP/rb2.out"
check "rollback erin: names the account" grep -q "old password of 'erin@example.test'" "$TMP/rb2.out"
settle_users "$H"
check "erin: the new password still accepted" auth "$H" erin "$E_NEW"
check "audit verify" "$SPAMSTOP" audit verify --state-dir "$SD" "$R"
((fails == 0)) || sed 's/^/#   rb2: /' "$TMP/rb2.out" | tail -8
finish
