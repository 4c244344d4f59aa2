#!/bin/bash
# e2e: the default playbook on the lab -- dry-run, the real run, what it left
# (passwords, queues, services, audit, no secret anywhere), then rollback.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"

t=runbook_respond
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d /tmp/ss-rb-XXXXXX)
chmod 700 "$work"
sampler=
cleanup() {
    [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
    for h in h1 h2 h3; do "$lab" clear "$h" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# The lab's hosts share /etc/init.d with this machine but run Postfix with
# the postfix command (no PID namespace for start-stop-daemon): say so.
run() {
    "$ss" "$@" -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state"
}
pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
auth() { "$lab" auth "$1" "$2" "$3" >/dev/null 2>&1; }
last_run() { ls -t "$work/state/runs" | head -1; }

for h in h1 h2 h3; do "$lab" clear "$h" >/dev/null; done
# h1 (plesk): alice stolen, legit mail of bob and carol; h2 (plain): dave
# and erin stolen, legit mail of bob and carol; h3 (plain): clean.
"$lab" stage h1 --spam alice:300 --legit 20 >/dev/null
"$lab" stage h2 --spam dave:200 --spam erin:150 --legit 10 >/dev/null
for h in h1 h2 h3; do "$lab" state "$h" >"$work/before-$h"; done
ok "staged h1 (300 spam, 20 legit) and h2 (350 spam, 10 legit)"

# --- dry-run: changes nothing, says exactly what the run will do ---------
run respond --dry-run h1 h2 h3 >"$work/dry.out" 2>&1 || fail "dry-run failed: $(tail -5 "$work/dry.out")"
for h in h1 h2 h3; do
    "$lab" state "$h" | diff -q - "$work/before-$h" >/dev/null ||
        fail "dry-run changed $h"
done
grep -o 'will hold [0-9]* messages of [^ ,]*' "$work/dry.out" | sort >"$work/dry.holds"
printf '%s\n' 'will hold 150 messages of erin@example.test' \
    'will hold 200 messages of dave@example.test' \
    'will hold 300 messages of alice@example.test' | sort >"$work/want.holds"
diff "$work/want.holds" "$work/dry.holds" || fail "dry-run plan holds differ"
ok "dry-run changed nothing and plans to hold exactly alice 300, dave 200, erin 150"

# --- the real run, sampling the process list meanwhile -------------------
(while :; do ps -eo args >>"$work/ps.txt" 2>/dev/null; sleep 0.02; done) &
sampler=$!
set +e
run respond --yes h1 h2 h3 >"$work/run.out" 2>&1
rc=$?
set -e
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null || true
sampler=
[[ $rc == 0 ]] || fail "respond exited $rc: $(tail -20 "$work/run.out")"
R=$(last_run)
rd=$work/state/runs/$R
grep -q "h1 *committed" "$work/run.out" && grep -q "h2 *committed" "$work/run.out" &&
    grep -q "h3 *clean" "$work/run.out" || fail "not every host committed (h3 clean)"
! grep -q "would" "$work/run.out" || fail "the result says 'would': $(grep would "$work/run.out")"
ok "respond committed on h1 h2, h3 clean (run $R, $(wc -l <"$work/ps.txt") ps lines sampled)"

# credentials: owner-only, one line per flagged account
cred=$rd/credentials
[[ $(stat -c %a "$cred") == 600 ]] || fail "credentials mode $(stat -c %a "$cred")"
awk '{ print $1, $2 }' "$cred" | sort >"$work/cred.accounts"
printf '%s\n' 'h1 alice@example.test' 'h2 dave@example.test' \
    'h2 erin@example.test' | sort | diff - "$work/cred.accounts" ||
    fail "credentials name other accounts"

# passwords: old ones fail, new ones work, the others are unchanged
sleep 1.1 # dovecot re-reads its passwd-file at most once a second
while read -r h a p; do
    u=${a%@*}
    auth "$h" "$u" "$(pw "$u")" && fail "$h: old password of $u still works"
    auth "$h" "$u" "$p" || fail "$h: new password of $u does not work"
done <"$cred"
for h in h1 h2 h3; do
    for u in bob carol; do
        auth "$h" "$u" "$(pw "$u")" || fail "$h: password of $u changed"
    done
done
auth h3 alice "$(pw alice)" || fail "h3: alice's password changed"
ok "old passwords fail, new ones (credentials file) work, others unchanged"

# queues: no flagged spam left, every legitimate message still queued
for h in h1 h2; do
    "$lab" state "$h" >"$work/after-$h"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF " $mid" "$work/after-$h" && fail "$h: spam $mid still queued"
        else
            grep -qF "queue deferred $mid" "$work/after-$h" ||
                fail "$h: legitimate $mid is gone"
        fi
    done <"$LAB_DIR/stage-$h.txt"
    grep -qx 'postfix running' "$work/after-$h" || fail "$h: postfix not running"
done
"$lab" state h3 | diff - "$work/before-h3" || fail "the clean host h3 changed"
ok "spam gone, legitimate mail queued, postfix running, h3 unchanged"

# the plan the run showed matches the dry-run, and what was held
grep -o 'held [0-9]* messages of [^ ,]*' "$work/run.out" | sort >"$work/held"
sed 's/^will hold/held/' "$work/want.holds" | diff - "$work/held" ||
    fail "the run held other counts than the dry-run planned"
! grep -q "only [0-9]* of them put on hold" "$work/run.out" ||
    fail "postsuper held fewer messages than planned: $(grep 'put on hold' "$work/run.out")"

# evidence: the snapshot's tar, streamed by the snapshot command itself
# (its digest is that command's stdout_sha256), and the queue listing the
# identify pass kept (no postqueue -j of its own: one read of the queue less)
for h in h1 h2; do
    f=queue.tar
    [[ -s $rd/evidence/$h/$f ]] || fail "no evidence $h/$f"
    d=$(sha256sum "$rd/evidence/$h/$f" | cut -d' ' -f1)
    grep -q "\"stdout_sha256\": *\"$d\"" "$rd/audit.jsonl" ||
        fail "the trail lacks the digest of $h/$f"
    n=$(wc -l <"$rd/evidence/$h/suspects.queue.json")
    [[ $n == "$(wc -l <"$LAB_DIR/stage-$h.txt")" ]] ||
        fail "$h: the listing has $n messages, $(wc -l <"$LAB_DIR/stage-$h.txt") were staged"
    # the tar is made once Postfix runs again, from the hold queue
    n=$(tar -tf "$rd/evidence/$h/queue.tar" | grep -c -E '^hold/' || true)
    [[ $n == "$(grep -c '^spam ' "$LAB_DIR/stage-$h.txt")" ]] ||
        fail "$h: the snapshot holds $n messages"
done
grep -q 'postqueue -j' "$rd/audit.jsonl" && fail "a command ran postqueue -j"
ok "evidence copied, digests in the audit trail, no postqueue -j"

# every file under RUN/evidence/ has an "evidence" record with its digest
python3 - "$rd" <<'EOF' || fail "evidence files without their audit record"
import hashlib, json, os, sys
rd = sys.argv[1]
recs = set()
for line in open(os.path.join(rd, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "evidence":
        d = r.get("data") or {}
        recs.add((d.get("path"), d.get("sha256"), d.get("size")))
n = 0
for top, _, files in os.walk(os.path.join(rd, "evidence")):
    for f in files:
        p = os.path.join(top, f)
        data = open(p, "rb").read()
        key = (os.path.relpath(p, rd), hashlib.sha256(data).hexdigest(), len(data))
        if key not in recs:
            sys.exit("no evidence record for %s" % (key,))
        n += 1
if n < 12:
    sys.exit("only %d evidence files" % n)
EOF
ok "every evidence file has an 'evidence' audit record with its sha256"

# audit: verifies, names every command
"$ss" audit verify --state-dir "$work/state" "$R" >/dev/null || fail "audit verify failed"
python3 - "$rd/audit.jsonl" <<'EOF' || fail "audit records without their command"
import json, sys
need = {"stop", "survey", "identify", "snapshot", "rotate", "purge", "start"}
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") != "command":
        continue
    # the host lock's take and release belong to no step (phase lock/unlock)
    no_step = r.get("phase") in ("lock", "unlock")
    if not r.get("command") or not (r.get("step") or no_step) or not r.get("host"):
        sys.exit("record %s lacks command, step or host" % r.get("seq"))
    seen.add(r.get("step"))
missing = need - seen
if missing:
    sys.exit("no command recorded for steps %s" % sorted(missing))
EOF
ok "audit verifies and names each command"

# no password anywhere but the credentials file
while read -r _ _ p; do
    grep -rqF -- "$p" "$rd/audit.jsonl" "$rd/journal" && fail "a password is in the trail or journal"
    grep -qF -- "$p" "$work/run.out" "$work/dry.out" && fail "a password is in the terminal output"
    grep -qF -- "$p" "$work/ps.txt" && fail "a password is in the process list"
    grep -rlF -- "$p" "$rd" | grep -v "/credentials$" && fail "a password is in another run file"
done <"$cred"
for u in alice dave erin; do
    grep -rqF -- "$(pw "$u")" "$rd" "$work/run.out" && fail "an old password leaked"
done
ok "no password in audit, journal, terminal, process list"

# --- rollback: spam back on hold, new passwords kept, postfix running ----
"$ss" rollback --yes -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
    --state-dir "$work/state" "$R" >"$work/rb.out" 2>&1 || fail "rollback failed: $(tail -20 "$work/rb.out")"
sleep 1.1
for h in h1 h2; do
    "$lab" state "$h" >"$work/rb-$h"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF "queue hold $mid" "$work/rb-$h" || fail "$h: spam $mid not back on hold"
        else
            grep -qF "queue deferred $mid" "$work/rb-$h" || fail "$h: legit $mid gone"
        fi
    done <"$LAB_DIR/stage-$h.txt"
    grep -qx 'postfix running' "$work/rb-$h" || fail "$h: postfix not running after rollback"
done
# a plain rollback keeps the new password: the stolen one never comes back
if grep '^users ' "$work/before-h2" | diff -q - <(grep '^users ' "$work/rb-h2") >/dev/null; then
    fail "h2: a plain rollback gave the stolen password back"
fi
for x in h1:alice h2:dave h2:erin; do
    auth "${x%%:*}" "${x#*:}" "$(pw "${x#*:}")" && fail "$x: a plain rollback gave the stolen password back"
done
"$lab" state h3 | diff - "$work/before-h3" || fail "rollback changed h3"
ok "rollback: spam on hold, stolen passwords still refused, postfix running"
