#!/bin/bash
# shellcheck disable=SC1091,SC2016
# e2e: a false positive among two flagged accounts.  On h2 dave (100) and
# erin (80) both send spam; the snapshot cannot be written there (a 64 KiB
# tmpfs over h2's /var/lib/spamstop, as in rel_contained), so the run ends
# contained: both rotated, both on hold.  Then, account by account:
# - bad input first: --restore-password without --account, and --account
#   with something that is no address, exit 2 and change nothing;
# - `rollback --account dave`: exactly dave's messages go back to deferred,
#   erin's stay on hold, no password changes (dave's new one stays), h2
#   stays contained;
# - `--account dave --restore-password`: the warning, then exactly dave's
#   old password back (erin's line of the passwd-file untouched);
# - a plain rollback: erin's mail released, her stolen password never back.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
H=h2
HD=/var/lib/spamstop

restage "$H" --spam dave:100 --spam erin:80 --legit 6
"$LAB" state "$H" >"$TMP/before"
"$LAB" on "$H" cat /etc/dovecot/users >"$TMP/users-before"
at_exit '"$LAB" on "$H" sh -c "[ ! -e $HD/.rel-rollback-account ] || umount $HD"'
"$LAB" on "$H" sh -c "mount -t tmpfs -o size=64k,mode=0700 rel-rollback-account $HD && touch $HD/.rel-rollback-account"

# Message-IDs of one account's staged spam.
spam_of() { awk -v a="$1@example.test" '$1 == "spam" && $2 == a { print $4 }' "$LAB_DIR/stage-$H.txt" | sort; }
# Message-IDs in one queue of a state dump.
in_queue() { awk -v q="$2" '$1 == "queue" && $2 == q { print $3 }' "$1" | sort; }
# A user's line of a copy of the passwd-file.
user_line() { grep "^$1@example.test:" "$2"; }
# Whether SMTP AUTH on h2 as USER with PASS is refused (535; lab.sh auth
# exit 1, not 2: an error is no refusal).
refused() {
    local rc=0
    "$LAB" auth "$H" "$1" "$2" >/dev/null 2>&1 || rc=$?
    [[ $rc == 1 ]]
}
# Everything that could change: the host, the run's journal and trail.
snap() {
    "$LAB" state "$H" >"$1.state"
    "$LAB" on "$H" cat /etc/dovecot/users >"$1.users"
    cat "$SD/runs/$R/journal/$H.jsonl" "$SD/runs/$R/audit.jsonl" "$SD/runs/$R/run.json" | sha256sum >"$1.run"
}
unchanged_since() {
    local now=$TMP/now-snap
    snap "$now"
    diff "$1.state" "$now.state" >&2 || return 1
    cmp -s "$1.users" "$now.users" || { echo "# the passwd-file changed" >&2; return 1; }
    cmp -s "$1.run" "$now.run" || { echo "# the run's journal, trail or run.json changed" >&2; return 1; }
}

# --- respond: contained, both accounts rotated and held ---------------------
rc=0
ss respond --yes "$H" >"$TMP/run.out" 2>&1 || rc=$?
R=$(run_id)
echo "# respond exit $rc, run $R"
check "respond exits 6 (h2 contained) (got $rc)" test "$rc" = 6
check "run.json: h2 contained" test "$(jget "$R" 'o["host_states"]["h2"]')" = contained
DAVE_NEW=$(new_pw "$R" "$H" dave)
ERIN_NEW=$(new_pw "$R" "$H" erin)
check "both dave and erin rotated" test -n "$DAVE_NEW" -a -n "$ERIN_NEW"
sleep 1.1 # Dovecot re-reads its passwd-file at most once a second
snap "$TMP/contained"
check "contained: dave's and erin's spam on hold, nothing else" \
    diff <(sort <(spam_of dave) <(spam_of erin)) <(in_queue "$TMP/contained.state" hold)
check "contained: postfix running" grep -qx 'postfix running' "$TMP/contained.state"

# --- bad input: exit 2, nothing changed ------------------------------------
rc=0
ss rollback "$R" --yes --restore-password >"$TMP/bad1.out" 2>&1 || rc=$?
check "--restore-password without --account: exit 2 (got $rc)" test "$rc" = 2
check "--restore-password without --account: says it needs --account" \
    grep -q -- "--restore-password needs --account" "$TMP/bad1.out"
check "--restore-password without --account: nothing changed" unchanged_since "$TMP/contained"
rc=0
ss rollback "$R" --yes --account notanaddress >"$TMP/bad2.out" 2>&1 || rc=$?
check "--account notanaddress: exit 2 (got $rc)" test "$rc" = 2
check "--account notanaddress: says it is not an address" \
    grep -q "'notanaddress' is not an account address" "$TMP/bad2.out"
check "--account notanaddress: nothing changed" unchanged_since "$TMP/contained"
[[ $(grep -c . "$TMP/bad2.out") -le 3 ]] || sed 's/^/#   bad2: /' "$TMP/bad2.out" | head -8

# --- rollback --account dave: his mail released, nothing else --------------
rc=0
ss rollback "$R" --yes --account dave@example.test >"$TMP/rb1.out" 2>&1 || rc=$?
check "rollback --account dave: exit 0 (got $rc)" test "$rc" = 0
sleep 1.1
snap "$TMP/rb1"
check "rollback --account dave: dave's 100 messages back in deferred" \
    diff <(spam_of dave) <(comm -12 <(spam_of dave) <(in_queue "$TMP/rb1.state" deferred))
check "rollback --account dave: erin's 80 still on hold, nothing else held" \
    diff <(spam_of erin) <(in_queue "$TMP/rb1.state" hold)
check "rollback --account dave: deferred is exactly the legitimate mail and dave's" \
    diff <(sort <(staged "$H" legit) <(spam_of dave)) <(in_queue "$TMP/rb1.state" deferred)
check "rollback --account dave: postfix running" grep -qx 'postfix running' "$TMP/rb1.state"
check "rollback --account dave: no password changed" cmp -s "$TMP/contained.users" "$TMP/rb1.users"
check "rollback --account dave: dave's stolen password still refused" refused dave "$(old_pw dave)"
check "rollback --account dave: dave's new password still accepted" auth "$H" dave "$DAVE_NEW"
check "rollback --account dave: says dave's new password stays" \
    grep -q "leaves the password of dave@example.test.* as it is" "$TMP/rb1.out"
check "rollback --account dave: no restore warning" sh -c '! grep -q WARNING "$0"' "$TMP/rb1.out"
check "rollback --account dave: h2 stays contained (run.json)" \
    test "$(jget "$R" 'o["host_states"]["h2"]')" = contained
check "rollback --account dave: the recap says contained" grep -qE '(^|Z )h2 +contained' "$TMP/rb1.out"

# --- --account dave --restore-password: exactly his old password back -----
rc=0
ss rollback "$R" --yes --account dave@example.test --restore-password >"$TMP/rb2.out" 2>&1 || rc=$?
check "--restore-password dave: exit 0 (got $rc)" test "$rc" = 0
# The warning's heading, then the accounts, one a line, indented.
warned() {
    grep -A1 -- "^WARNING: --restore-password puts back the OLD password of:" "$1" |
        grep -qx "  $2"
}
check "--restore-password dave: the warning names dave" warned "$TMP/rb2.out" dave@example.test
check "--restore-password dave: the warning does not name erin" \
    sh -c '! grep -q "^  erin@example.test" "$0"' "$TMP/rb2.out"
sleep 1.1
snap "$TMP/rb2"
check "--restore-password dave: dave's old password accepted" auth "$H" dave "$(old_pw dave)"
check "--restore-password dave: dave's new password refused" refused dave "$DAVE_NEW"
check "--restore-password dave: erin's stolen password still refused" refused erin "$(old_pw erin)"
check "--restore-password dave: erin's new password still accepted" auth "$H" erin "$ERIN_NEW"
check "--restore-password dave: dave's line of the passwd-file is the old one" \
    diff <(user_line dave "$TMP/users-before") <(user_line dave "$TMP/rb2.users")
check "--restore-password dave: every other line as before the restore" \
    diff <(grep -v '^dave@example.test:' "$TMP/rb1.users") <(grep -v '^dave@example.test:' "$TMP/rb2.users")
check "--restore-password dave: the queues unchanged, postfix running" \
    diff <(grep -v '^users ' "$TMP/rb1.state") <(grep -v '^users ' "$TMP/rb2.state")
check "--restore-password dave: h2 stays contained" \
    test "$(jget "$R" 'o["host_states"]["h2"]')" = contained

# --- a plain rollback: erin's mail released, her password never back ------
rc=0
ss rollback "$R" --yes >"$TMP/rb3.out" 2>&1 || rc=$?
check "plain rollback: exit 0 (got $rc)" test "$rc" = 0
sleep 1.1
snap "$TMP/rb3"
check "plain rollback: nothing left on hold" test -z "$(in_queue "$TMP/rb3.state" hold)"
check "plain rollback: every message back in deferred" \
    diff <(in_queue "$TMP/before" deferred) <(in_queue "$TMP/rb3.state" deferred)
check "plain rollback: postfix running" grep -qx 'postfix running' "$TMP/rb3.state"
check "plain rollback: no restore warning" sh -c '! grep -q WARNING "$0"' "$TMP/rb3.out"
check "plain rollback: erin's stolen password still refused" refused erin "$(old_pw erin)"
check "plain rollback: erin's new password still accepted" auth "$H" erin "$ERIN_NEW"
check "plain rollback: no password changed" cmp -s "$TMP/rb2.users" "$TMP/rb3.users"
check "plain rollback: dave keeps the password he got back" auth "$H" dave "$(old_pw dave)"
check "plain rollback: h2 rolled back (run.json)" \
    test "$(jget "$R" 'o["host_states"]["h2"]')" = rolled-back
check "audit verify" "$SPAMSTOP" audit verify --state-dir "$SD" "$R"
finish
