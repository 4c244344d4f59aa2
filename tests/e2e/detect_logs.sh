#!/bin/bash
# e2e: the mail logs flag an account the queue alone would not (a burst
# that mostly left already), read from mail.log, a rotated .1 in syslog's
# own format and a .2.gz; --account flags a named account with nothing
# queued; both get new passwords (old refused over SMTP AUTH) and dave's
# few queued messages are held and deleted with their bounces to third
# parties (backscatter), other bounces stay; the reasons are in the plan.
. "$(dirname "$0")/lib/runbook.sh"
at_exit '"$lab" on h3 rm -f /var/log/mail.log.1 /var/log/mail.log.2.gz >/dev/null 2>&1
"$lab" clear h3 >/dev/null 2>&1'

"$lab" clear h3 >/dev/null
"$lab" stage h3 --spam dave:5 --legit 10 >/dev/null
# dave's burst in the rotated logs (mail.log is the lab's own): 170 in
# mail.log.1 (syslog times), 80 in mail.log.2.gz (ISO times), from 12
# addresses; 200 of them were sent, 50 deferred.  Queue ids unique to this
# run: a later run must not see them again.
iso=$(date -u -d '-20 min' +%Y-%m-%dT%H:%M:%S+00:00)
sys=$(date -d '-40 min' '+%b %e %H:%M:%S')
run_tag=$((RANDOM % 90000 + 10000))
gen() { # FIRST COUNT TIME STATUS
    awk -v f="$1" -v n="$2" -v t="$3" -v s="$4" -v g="$run_tag" 'BEGIN {
        for (i = f; i < f + n; i++) {
            printf "%s h3 postfix/smtpd[77]: L%dB%d: client=x[10.9.%d.7], sasl_method=PLAIN, sasl_username=dave@example.test\n", t, g, i, i % 12
            printf "%s h3 postfix/smtp[78]: L%dB%d: to=<r%d@remote.test>, relay=s[10.0.0.250]:25, delay=1, dsn=2.0.0, status=%s (x)\n", t, g, i, i, s
        } }'
}
gen 1000 170 "$sys" sent >"$work/mail.log.1"
{ gen 2000 30 "$iso" sent && gen 3000 50 "$iso" deferred; } | gzip >"$work/mail.log.2.gz"
for f in mail.log.1 mail.log.2.gz; do
    "$lab" on h3 sh -c 'cat >"/var/log/$1"' _ "$f" <"$work/$f"
done
ok "dave: 5 queued, 250 submissions in mail.log.1 and mail.log.2.gz"
# backscatter: two bounces (null sender) to the forged sender of one of
# dave's spam messages, one to an address of nobody's spam
forged=$("$lab" on h3 postqueue -j | python3 -c 'import json, sys
s = [json.loads(l)["sender"] for l in sys.stdin]
print(sorted(x for x in s if not x.startswith(("bob@", "carol@")))[0])')
for to in "$forged" "$forged" someone@else.test; do
    "$lab" on h3 sh -c 'printf "Subject: Undelivered Mail Returned to Sender\n\nbounce\n" |
        sendmail -f "" "$1"' _ "$to"
done
for _ in $(seq 50); do
    [[ $("$lab" on h3 postqueue -j | wc -l) == 18 ]] && break
    sleep 0.2
done
[[ $("$lab" on h3 postqueue -j | wc -l) == 18 ]] || fail "the bounces did not queue"
ok "3 bounces queued, 2 of them to dave's forged sender $forged"

run respond --dry-run h3 >"$work/dry.out" 2>&1 || fail "dry-run: $(tail -5 "$work/dry.out")"
grep -q "FLAGGED dave@example.test: 5 messages" "$work/dry.out" ||
    fail "dave not flagged: $(grep -i "dave\|mail logs" "$work/dry.out")"
# (the lab's own log adds what earlier tests staged as dave: deferred)
why=$(grep -o "why: 5 queued (.*); [0-9]* submitted in the last 24 h from [0-9]* client addresses (200 sent, [0-9]* deferred, 0 bounced); flagged on the logs" \
    "$work/dry.out" | head -n 1)
[[ -n $why ]] || fail "dave's reason: $(grep 'why:' "$work/dry.out")"
n=$(sed 's/.*; \([0-9]*\) submitted.*/\1/' <<<"$why")
a=$(sed 's/.* from \([0-9]*\) client.*/\1/' <<<"$why")
((n >= 250 && a >= 12)) || fail "dave: $n submitted from $a addresses: $why"
grep -q "to hold: 5 messages of 1 flagged account and 2 bounces of them to third parties (backscatter); 11 other queued messages stay" \
    "$work/dry.out" || fail "backscatter: $(grep 'to hold' "$work/dry.out")"
grep -q "will hold 7 messages of dave@example.test" "$work/dry.out" ||
    fail "hold: $(grep 'will hold' "$work/dry.out")"
grep -q "mail log /var/log/mail.log and more: " "$work/dry.out" ||
    fail "no log line in the plan: $(cat "$work/dry.out")"
ok "dry-run flags dave on the logs, with the numbers, and his backscatter"

# the queue alone (log thresholds out of reach) flags nobody on h3
run respond --dry-run --param log_min_clients=50 h3 >"$work/dry2.out" 2>&1 || fail "dry-run 2"
grep -q "FLAGGED" "$work/dry2.out" && fail "flagged without the logs: $(grep FLAGGED "$work/dry2.out")"
ok "with log_min_clients=50 nobody is flagged"

rc=0
run respond --yes --account Erin@Example.test h3 >"$work/run.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "respond exited $rc: $(tail -20 "$work/run.out")"
R=$(ls -t "$work/state/runs" | head -1)
rd=$work/state/runs/$R
awk '{ print $1, $2 }' "$rd/credentials" | sort >"$work/cred"
printf '%s\n' 'h3 dave@example.test' 'h3 erin@example.test' | diff - "$work/cred" ||
    fail "rotated: $(cat "$work/cred")"
sleep 1.1 # dovecot re-reads its passwd-file at most once a second
while read -r h a p; do
    u=${a%@*}
    auth "$h" "$u" "$(pw "$u")" && fail "$h: old password of $u still works"
    auth "$h" "$u" "$p" || fail "$h: new password of $u does not work"
done <"$rd/credentials"
auth h3 bob "$(pw bob)" || fail "bob's password changed"
grep -q "flagged on the operator's word (named)" "$rd/evidence/h3/suspects.json" ||
    fail "erin's reason not in the findings"
[[ -s $rd/evidence/h3/seen.maillog ]] || fail "no log evidence kept"
grep -q '"auth_cache":"flushed","sessions_ended":0,"kick_failed":0,"evicted":true' \
    "$rd/evidence/h3/rotate.evidence.json" ||
    fail "eviction: $(cat "$rd/evidence/h3/rotate.evidence.json")"
grep -q 'doveadm kick' "$rd/audit.jsonl" || fail "no kick in the audit trail"
grep -q '"path":"evidence/h3/seen.maillog"' "$rd/audit.jsonl" ||
    fail "the log evidence is not in the audit trail"
left=$("$lab" state h3 | grep -c '^queue ' || true)
[[ $left == 11 ]] || fail "queue after the run: $left messages, want 10 legit and 1 bounce"
"$lab" on h3 postqueue -j | grep -q '"address": *"someone@else.test"' ||
    fail "the unrelated bounce is gone"
ok "dave (logs) and erin (--account) rotated, old passwords refused, Dovecot's auth cache flushed and their sessions ended; dave's 5 and their 2 bounces held and deleted, 10 legit and the other bounce stay"

rc=0
run respond --dry-run --account not-an-address h3 >"$work/bad.out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--account not-an-address: exit $rc"
grep -q "'not-an-address' is not an account address" "$work/bad.out" || fail "message: $(cat "$work/bad.out")"
ok "--account with a bad address: exit 2, named"
