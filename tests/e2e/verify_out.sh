#!/bin/bash
# e2e: the attacker is out, and the run proves it (issue 21, item 4).
# dave's password is stolen on h1 (Plesk: Cyrus SASL) and h3 (Dovecot
# SASL), and he holds an IMAP session open on each.  respond --watch 5:
# the verify step confirms each new password through the host's own path
# (SMTP AUTH on loopback on h1, doveadm auth test on h3), the IMAP
# sessions are gone, the old password is refused through the same paths,
# the watch sees no login, and the recap and the report say so.  Then the
# negative case: a login with the new password during the watch makes
# the host contained (exit 6), named with its address, nothing deleted.
. "$(dirname "$0")/lib/runbook.sh"
imap_pids=()
at_exit 'for p in "${imap_pids[@]}"; do kill "$p" 2>/dev/null; done
"$lab" clear h1 >/dev/null 2>&1; "$lab" clear h3 >/dev/null 2>&1'

addr() { local v="LAB_ADDR_$1"; echo "${!v}"; }

# imap_hold HOST USER PASSWORD FILE: an IMAP session in the background,
# logged in, a NOOP every 0.3 s for at most 120 s; FILE gets "in" once
# logged in and "gone" when the server ends the session.  Its pid goes to
# imap_pids (killed at exit).
imap_hold() {
    IMAP_PW=$3 timeout 130 python3 - "$(addr "$1")" "$2@example.test" "$4" <<'PY' &
import imaplib, os, sys, time
ip, user, out = sys.argv[1:4]
m = imaplib.IMAP4(ip, 143, timeout=10)
m.login(user, os.environ["IMAP_PW"])
open(out, "w").write("in\n")
end = time.time() + 120
while time.time() < end:
    try:
        m.noop()
    except Exception:
        open(out, "a").write("gone\n")
        sys.exit(0)
    time.sleep(0.3)
open(out, "a").write("still open\n")
PY
    imap_pids+=($!)
}

# dovecot_auth HOST USER PASSWORD: doveadm auth test on the host, the
# password on stdin (0 accepted).
dovecot_auth() {
    printf '%s\n' "$3" | "$lab" on "$1" doveadm auth test -x service=smtp "$2@example.test" 2>&1 |
        grep -q 'auth succeeded'
}

for h in h1 h3; do
    "$lab" clear "$h" >/dev/null
    "$lab" stage "$h" --spam dave:60 --legit 5 >/dev/null
done
old=$(pw dave)
for h in h1 h3; do
    imap_hold "$h" dave "$old" "$work/imap.$h"
done
for _ in $(seq 50); do
    [[ -s $work/imap.h1 && -s $work/imap.h3 ]] && break
    sleep 0.2
done
for h in h1 h3; do
    grep -qx in "$work/imap.$h" || fail "$h: dave's IMAP session did not log in"
done
ok "dave: 60 spam on h1 and h3, an IMAP session open on each"

rc=0
run respond --yes --watch 5 h1 h3 >"$work/run.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "respond exited $rc: $(tail -20 "$work/run.out")"
R=$(ls -t "$work/state/runs" | head -1)
rd=$work/state/runs/$R
grep -qE "(^|Z )h1 check: dave@example.test: password confirmed \(smtp auth on 127\.0\.0\.1:25\); no login of dave@example.test since [0-9:]{8} UTC, watched 5 s$" \
    "$work/run.out" || fail "h1 recap: $(grep -i 'check\|password' "$work/run.out")"
grep -qE "(^|Z )h3 check: dave@example.test: password confirmed \(doveadm auth test\); no login of dave@example.test since [0-9:]{8} UTC, watched 5 s$" \
    "$work/run.out" || fail "h3 recap: $(grep -i 'check\|password' "$work/run.out")"
ok "the recap: each new password confirmed through the host's own path, no login in 5 s"

for h in h1 h3; do
    grep -qx gone "$work/imap.$h" || fail "$h: dave's IMAP session is still open: $(cat "$work/imap.$h")"
done
ok "dave's open IMAP sessions on h1 and h3 are gone"

sleep 1.1 # dovecot re-reads its passwd-file at most once a second
new1=$(awk '$1 == "h1" && $2 == "dave@example.test" { print $3 }' "$rd/credentials")
new3=$(awk '$1 == "h3" && $2 == "dave@example.test" { print $3 }' "$rd/credentials")
[[ -n $new1 && -n $new3 ]] || fail "no new passwords in the credentials file"
auth h1 dave "$old" && fail "h1: the old password still passes SMTP AUTH (Cyrus)"
auth h1 dave "$new1" || fail "h1: the new password fails SMTP AUTH (Cyrus)"
dovecot_auth h3 dave "$old" && fail "h3: doveadm auth test takes the old password"
dovecot_auth h3 dave "$new3" || fail "h3: doveadm auth test refuses the new password"
auth h3 dave "$old" && fail "h3: the old password still passes SMTP AUTH"
ok "the old password is refused: SMTP AUTH through Cyrus on h1, doveadm auth test and SMTP AUTH on h3"

for h in h1 h3; do
    ev=$rd/evidence/$h/verify.evidence.json
    grep -q '"password":"confirmed"' "$ev" || fail "$h: evidence: $(cat "$ev")"
    grep -q '"logins":0' "$ev" || fail "$h: evidence logins: $(cat "$ev")"
    grep -q "\"path\":\"evidence/$h/verify.evidence.json\"" "$rd/audit.jsonl" ||
        fail "$h: the verify evidence is not in the audit trail"
done
for s in "$new1" "$new3" "$old"; do
    grep -rqF -- "$s" "$rd/audit.jsonl" "$rd/journal" "$rd/evidence" "$work/run.out" &&
        fail "a password is in the trail, journal, evidence or output"
done
"$ss" report --state-dir "$work/state" "$R" >"$work/report.md" 2>&1 || fail "report: $(tail -3 "$work/report.md")"
[[ $(grep -c "No login of dave@example.test since [0-9:]* UTC on [0-9-]*, watched 5 s" "$work/report.md") == 2 ]] ||
    fail "report: $(grep -i 'login\|confirmed' "$work/report.md")"
grep -q "new password confirmed through the host's own authentication (smtp auth on 127.0.0.1:25)" "$work/report.md" ||
    fail "report h1: $(grep -i confirmed "$work/report.md")"
ok "evidence, audit trail and report say it; no password in any of them"

# The negative case: someone logs in with the new password during the
# watch (here the test, from the credentials file): h3 ends contained.
"$lab" clear h3 >/dev/null
"$lab" stage h3 --spam dave:60 --legit 5 >/dev/null
rm -rf "$work/state"
rc=0
run respond --yes --watch 15 h3 >"$work/run2.out" 2>&1 &
rpid=$!
new=
for _ in $(seq 300); do
    c=$(ls "$work"/state/runs/*/credentials 2>/dev/null | head -n 1 || true)
    if [[ -n $c ]] && grep -q '"step":"verify"' "$(dirname "$c")/audit.jsonl" 2>/dev/null; then
        new=$(awk '$2 == "dave@example.test" { print $3 }' "$c")
        break
    fi
    sleep 0.1
done
[[ -n $new ]] || fail "the run never reached its password check"
IMAP_PW=$new timeout 20 python3 -c '
import imaplib, os, sys
m = imaplib.IMAP4(sys.argv[1], 143, timeout=10)
m.login("dave@example.test", os.environ["IMAP_PW"])
m.logout()' "$(addr h3)" || fail "IMAP login with the new password failed"
wait "$rpid" || rc=$?
[[ $rc == 6 ]] || fail "a login during the watch: exit $rc, want 6 (contained): $(tail -20 "$work/run2.out")"
grep -qE "(^|Z )h3 FAILED check: dave@example.test: password confirmed \(doveadm auth test\); 1 LOGIN of dave@example.test since [0-9:]{8} UTC \(first at [0-9:]{8} UTC from $LAB_CONTROLLER\), watched 15 s$" \
    "$work/run2.out" || fail "recap: $(grep -i 'check\|login' "$work/run2.out")"
grep -q "login seen: dave@example.test" "$work/run2.out" || fail "no reason: $(cat "$work/run2.out")"
[[ $("$lab" on h3 postqueue -j | grep -c '"queue_name": *"hold"') == 60 ]] ||
    fail "dave's spam is not all held"
"$lab" on h3 postfix status >/dev/null 2>&1 || fail "postfix is not running on h3"
ok "a login with the new password during the watch: contained (exit 6), named with its address; the spam stays held, Postfix runs"
