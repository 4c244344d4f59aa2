#!/bin/bash
# shellcheck disable=SC1091,SC2016
# e2e: fail safe means contained.  The snapshot (after Postfix is started
# again, from the hold queue) cannot be written on h2: a 64 KiB tmpfs over
# h2's /var/lib/spamstop (its own mount namespace; the other hosts and this
# machine keep the real folder) takes rotate's small password backup but not
# the tar of 120 held messages.  respond must leave h2 `contained`: Postfix
# running, the stolen password refused over SMTP AUTH, the new one
# (RUN/credentials) accepted, every flagged message on hold, the legitimate
# mail as it was; exit 6, the recap names h2 contained and prints the resume
# command; h1 and h3 commit.  Then the folder gets room (the tmpfs grows,
# its files stay) and `resume RUN --yes` finishes h2 without a second
# rotation: spam deleted, the snapshot copied, the kept old password
# destroyed on the host, Postfix running.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
H=h2
HD=/var/lib/spamstop

restage h1 --spam alice:80 --legit 5
restage h2 --spam dave:120 --legit 6
restage h3 --spam erin:80 --legit 4
for h in h1 h2 h3; do "$LAB" state "$h" >"$TMP/before-$h"; done

# SMTP AUTH on HOST as USER with PASS is refused (535; lab.sh auth exit 1,
# not 2: an error is no refusal).
refused() {
    local rc=0
    "$LAB" auth "$1" "$2" "$3" >/dev/null 2>&1 || rc=$?
    [[ $rc == 1 ]]
}

# The obstacle (the folder made first: a systemd host has none yet);
# the marker tells the cleanup that ours is still mounted.
at_exit '"$LAB" on "$H" sh -c "[ ! -e $HD/.rel-contained ] || umount $HD"'
"$LAB" on "$H" sh -c "mkdir -p $HD && mount -t tmpfs -o size=64k,mode=0700 rel-contained $HD && touch $HD/.rel-contained"
"$LAB" on "$H" sh -c "df -k $HD | tail -1" | sed "s|^|# $H $HD: |"

# --- respond: h2 contained, the others committed ---------------------------
rc=0
ss respond --yes h1 h2 h3 >"$TMP/run.out" 2>&1 || rc=$?
R=$(run_id)
RD=$SD/runs/$R
echo "# respond exit $rc, run $R"
{ grep -E '(^|Z )(h[123]:? |respond:|finish it)' "$TMP/run.out" || true; } | sed 's/^/#   /'
check "respond exits 6 (some host contained) (got $rc)" test "$rc" = 6
check "run.json: h2 contained" test "$(jget "$R" 'o["host_states"]["h2"]')" = contained
check "run.json: outcome contained" test "$(jget "$R" 'o["outcome"]')" = contained
for h in h1 h3; do
    check "run.json: $h committed" test "$(jget "$R" "o['host_states']['$h']")" = committed
    check "$h: committed (spam gone, legit kept, postfix running, password changed)" \
        as_committed "$h" "$TMP/before-$h"
done
check "recap: h2 contained, its snapshot failed" \
    grep -qE "(^|Z )h2: contained: step [0-9]+ 'snapshot'" "$TMP/run.out"
check "recap: h2 keeps rotate and purge, resume finishes it" \
    grep -qE "(^|Z )h2: contained: .*kept: rotate, purge; left: .*snapshot, the commit; 'resume' finishes it" "$TMP/run.out"
check "recap: prints the resume command" \
    grep -qE "(^|Z )finish it with: spamstop resume $R( |$)" "$TMP/run.out"
check "the journal says h2 ended contained" \
    grep -q '"type":"end".*"state":"contained"' "$RD/journal/h2.jsonl"
check "no evidence copy of h2's snapshot" test ! -e "$RD/evidence/h2/queue.tar"
for h in h1 h3; do "$LAB" state "$h" >"$TMP/after-$h"; done

# h2 as contained: Postfix up, new password only, spam held, the rest as it was
sleep 1.1 # Dovecot re-reads its passwd-file at most once a second
NEWPW=$(new_pw "$R" h2 dave)
"$LAB" state h2 >"$TMP/contained-h2"
check "h2: postfix running" grep -qx 'postfix running' "$TMP/contained-h2"
check "h2: a new password for dave in the credentials file" test -n "$NEWPW"
check "h2: the stolen password is refused over SMTP AUTH" refused h2 dave "$(old_pw dave)"
check "h2: the new password is accepted" auth h2 dave "$NEWPW"
check "h2: bob's password unchanged" auth h2 bob "$(old_pw bob)"
check "h2: carol's password unchanged" auth h2 carol "$(old_pw carol)"
held=$(awk '$1 == "queue" && $2 == "hold" { print $3 }' "$TMP/contained-h2" | sort)
check "h2: the 120 flagged messages all on hold, nothing else" \
    diff <(staged h2 spam) <(echo "$held")
check "h2: the legitimate mail unchanged" \
    diff <(grep -F -f <(staged h2 legit) "$TMP/before-h2") <(grep -F -f <(staged h2 legit) "$TMP/contained-h2")
check "h2: the old password is still kept on the host (for rollback)" \
    "$LAB" on h2 sh -c "[ -n \"\$(find $HD/$R/h2/accounts -type f 2>/dev/null)\" ]"
check "audit verify after respond" "$SPAMSTOP" audit verify --state-dir "$SD" "$R"

# --- the folder gets room: resume commits h2 ------------------------------
"$LAB" on "$H" mount -o remount,size=64m "$HD"
rc=0
ss resume "$R" --yes >"$TMP/resume.out" 2>&1 || rc=$?
echo "# resume exit $rc"
{ grep -E '(^|Z )(h[123]:? |resume:)' "$TMP/resume.out" || true; } | sed 's/^/#   /'
check "resume exits 0 (got $rc)" test "$rc" = 0
check "resume: h2 committed" grep -qE '(^|Z )h2 +committed' "$TMP/resume.out"
check "run.json after resume: h2 committed" test "$(jget "$R" 'o["host_states"]["h2"]')" = committed
check "run.json after resume: outcome committed" test "$(jget "$R" 'o["outcome"]')" = committed
sleep 1.1
check "h2: committed (spam deleted, legit kept, postfix running, password changed)" \
    as_committed h2 "$TMP/before-h2"
check "h2: no second rotation (one credentials line for dave)" \
    test "$(grep -c '^h2 dave@example.test ' "$RD/credentials")" = 1
check "h2: the new password still accepted" auth h2 dave "$NEWPW"
check "h2: the stolen password still refused" refused h2 dave "$(old_pw dave)"
check "h2: the commit destroyed the old password kept on the host" \
    "$LAB" on h2 sh -c "[ -z \"\$(find $HD/$R/h2/accounts -type f 2>/dev/null)\" ]"
n=$(tar -tf "$RD/evidence/h2/queue.tar" 2>/dev/null | grep -c '^hold/' || true)
check "h2: the evidence copy holds the 120 messages from hold/ (got $n)" test "$n" = 120
for h in h1 h3; do
    check "resume left $h alone" same_state "$h" "$TMP/after-$h"
done
check "audit verify after resume" "$SPAMSTOP" audit verify --state-dir "$SD" "$R"
finish
