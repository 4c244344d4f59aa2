#!/bin/bash
# e2e: the flagged account is no longer in the backend (the customer's
# mailbox was deleted while its spam sat in the queue).  On h1 (the Plesk
# stand-in) and h2 (Dovecot passwd-file) 60 spam are sent as a fresh
# account, which is then taken out of the passwd-file.  The dry run and
# respond must both say, per host, that the account is not in plesk / in
# the passwd-file; respond rolls both hosts back, exits 1, and leaves
# them exactly as before (queue, users file, Postfix running).
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
A=gone@example.test
PWD_A=$(openssl rand -hex 12)
declare -A WHERE=([h1]="plesk" [h2]="/etc/dovecot/users")

for h in h1 h2; do
    restage "$h" --legit 4
    add_account "$h" "$A" "$PWD_A"
    for _ in $(seq 20); do auth "$h" "$A" "$PWD_A" && break || sleep 0.5; done
    stage_spam_as "$h" "$A" "$PWD_A" 60 "$TMP/spam-$h.txt" 2>>"$TMP/stage.err" ||
        fail "$h: staging spam as $A"
    queue_settles "$h" 64 || fail "$h: queue did not settle at 64"
    # the mailbox goes; its spam stays queued
    "$LAB" on "$h" sh -c 'grep -v "^gone@example.test:" /etc/dovecot/users >/etc/dovecot/users.new
cat /etc/dovecot/users.new >/etc/dovecot/users; rm -f /etc/dovecot/users.new
s=/var/lib/dovecot/plesk-standin/passwords
if [ -f $s ]; then grep -v "^gone@example.test " $s >$s.new; cat $s.new >$s; rm -f $s.new; fi'
    check "$h: $A is no longer in the passwd-file" \
        sh -c '! "$0" on "$1" grep -q "^gone@example.test:" /etc/dovecot/users' "$LAB" "$h"
    "$LAB" state "$h" >"$TMP/before-$h"
done

rc=0
ss respond --dry-run h1 h2 >"$TMP/dry.out" 2>&1 || rc=$?
echo "# dry-run exit $rc"
{ grep -E "(^|Z )h[12]:? " "$TMP/dry.out" || true; } | sed 's/^/#   /'
check "dry-run exits 1 (got $rc)" test "$rc" = 1
for h in h1 h2; do
    check "dry-run: $h says $A is not in ${WHERE[$h]}" \
        grep -qF "account '$A' is not in ${WHERE[$h]}" "$TMP/dry.out"
    check "$h unchanged by the dry run" same_state "$h" "$TMP/before-$h"
done

rc=0
ss respond --yes h1 h2 >"$TMP/out.txt" 2>&1 || rc=$?
R=$(run_id)
echo "# respond exit $rc, run $R"
{ grep -E "(^|Z )h[12]:? " "$TMP/out.txt" || true; } | sed 's/^/#   /'
check "respond exits 1 (got $rc)" test "$rc" = 1
for h in h1 h2; do
    check "$h rolled back, naming $A and ${WHERE[$h]}" \
        grep -qE "(^|Z )$h: rolled-back: .*account '$A' is not in ${WHERE[$h]}" "$TMP/out.txt"
    check "$h: exactly as before (queue, users, postfix running)" same_state "$h" "$TMP/before-$h"
    check "$h: no password set in the run" sh -c '! grep -q "^$0 " "$1" 2>/dev/null' "$h" "$SD/runs/$R/credentials"
done
# one look a host: the backend and the account in one command
looks() {
    "$PY" - "$SD/runs/$R/audit.jsonl" "$1" <<'PYEOF'
import json, sys
n = [r for r in map(json.loads, open(sys.argv[1]))
     if r.get("event") == "command" and r.get("host") == sys.argv[2]
     and r.get("step") == "rotate"]
ok = len(n) == 1 and "doveconf -n" in n[0]["command"] and "--info" in n[0]["command"]
sys.exit(0 if ok else 1)
PYEOF
}
for h in h1 h2; do check "$h: rotate sent one command, the look" looks "$h"; done
finish
