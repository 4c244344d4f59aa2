#!/bin/bash
# e2e: megabytes of remote output.  A playbook step printing 50 MB on
# stdout, and one printing 20 MB of NULs with no newline, fail with "output
# too big" at the engine's 16 MiB cap, the host rolls back, the audit trail
# says so, and the controller's peak RSS stays bounded; a 6 MB line with
# NULs under the cap passes and is digested whole.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
# The bound: the 16 MiB stdout and 1 MiB stderr caps over a base of about
# 13 MB (the same run with 6 MB of output), with slack: 48 MiB.
RSS_MAX_KB=${REL_RSS_MAX_KB:-49152}
play() {
    cat >"$TMP/$1.json" <<JSON
{"name": "$1", "steps": [
  {"name": "mark", "kind": "compensable",
   "shell": {"run": "touch /tmp/spamstop-big-mark", "undo": "rm -f /tmp/spamstop-big-mark"}},
  {"name": "flood", "kind": "read-only", "shell": {"run": "$2"}}]}
JSON
}
play big50 "yes spamstop-output-flood | head -c 52428800"
play nul20 "head -c 20971520 /dev/zero"
play nul6 "head -c 6291456 /dev/zero; printf tail"
for p in big50 nul20 nul6; do
    rc=0
    /usr/bin/time -v -o "$TMP/time-$p" "$SPAMSTOP" respond --yes -p "$TMP/$p.json" \
        -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$SD" h2 \
        >"$TMP/out-$p" 2>"$TMP/err-$p" || rc=$?
    R=$(run_id)
    rss=$(awk -F': ' '/Maximum resident/ { print $2 }' "$TMP/time-$p")
    secs=$(awk -F': ' '/Elapsed/ { print $2 }' "$TMP/time-$p")
    echo "# $p: exit $rc, peak RSS $rss kB, $secs"
    check "$p: peak RSS $rss kB <= $RSS_MAX_KB kB" test "$rss" -le "$RSS_MAX_KB"
    if [[ $p == nul6 ]]; then
        check "$p: exit 0 under the cap (got $rc)" test "$rc" = 0
        check "$p: audit has the flood step's full size" grep -q '"stdout_bytes":6291460' "$SD/runs/$R/audit.jsonl"
        "$LAB" on h2 rm -f /tmp/spamstop-big-mark
    else
        check "$p: exit 1 (got $rc)" test "$rc" = 1
        check "$p: h2 rolled back" grep -qE '(^|Z )h2 +rolled-back' "$TMP/out-$p"
        check "$p: the mark step undone" sh -c '! "$0" on h2 test -e /tmp/spamstop-big-mark' "$LAB"
        check "$p: the outcome says the output was over its cap" grep -q "'flood'.*over its cap (stdout 16777216" "$TMP/out-$p"
        check "$p: the audit trail says output too big" grep -q '"step":"flood".*"rc":"output too big"' "$SD/runs/$R/audit.jsonl"
    fi
done
# A queued message with 5,000 recipients and a 60 kB Subject, sent over
# SMTP AUTH as alice beside 60 ordinary spam from her and 4 legit: identify
# counts it once and flags alice with 61.
restage h2 --spam alice:60 --legit 4
"$LAB" on h2 sh -c 'postconf -e smtpd_recipient_limit=6000 && postfix reload' >/dev/null 2>&1
at_exit '"$LAB" on h2 sh -c "postconf -X smtpd_recipient_limit; postfix reload" >/dev/null 2>&1'
STAGE_PASSWORD=$(old_pw alice) "$PY" - "$LAB_ADDR_h2" <<'PY' || fail "staging the huge envelope"
import os, smtplib, sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=60)
s.ehlo("huge.example.test")
s.login("alice@example.test", os.environ["STAGE_PASSWORD"])
rcpts = ["r%d@remote.example.invalid" % i for i in range(5000)]
subj = " ".join("word%d" % i for i in range(7000))
msg = ("From: alice@example.test\r\nTo: undisclosed:;\r\nSubject: %s\r\n"
       "Message-ID: <spam.huge.envelope@example.test>\r\n\r\nbody\r\n" % subj)
refused = s.sendmail("alice@example.test", rcpts, msg)
s.quit()
sys.exit(1 if refused else 0)
PY
queue_settles h2 65 || fail "h2's queue did not settle at 65"
rc=0
/usr/bin/time -v -o "$TMP/time-huge" "$SPAMSTOP" respond --dry-run \
    -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$SD" h2 \
    >"$TMP/out-huge" 2>"$TMP/err-huge" || rc=$?
rss=$(awk -F': ' '/Maximum resident/ { print $2 }' "$TMP/time-huge")
echo "# huge envelope: dry-run exit $rc, peak RSS $rss kB, $(awk -F': ' '/Elapsed/ { print $2 }' "$TMP/time-huge")"
grep -m 3 -E 'queue: [0-9]+ messages read|alice' "$TMP/out-huge" | sed 's/^/#   /'
check "huge envelope: dry-run exits 0 (got $rc)" test "$rc" = 0
check "huge envelope: 65 queued messages read" grep -q 'queue: 65 messages read' "$TMP/out-huge"
check "huge envelope: alice flagged with 61 messages" grep -q 'FLAGGED alice@example.test: 61 messages' "$TMP/out-huge"
check "huge envelope: peak RSS $rss kB <= $RSS_MAX_KB kB" test "$rss" -le "$RSS_MAX_KB"
finish
