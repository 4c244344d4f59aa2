#!/bin/bash
# e2e: secrets and trust.  After a respond that rotates passwords on h1
# (Plesk stand-in) and h2 (Dovecot), no new and no old password is in any
# artefact: audit trail, journals, run folder (but the credentials file),
# stdout, stderr, the report in every format, the hosts' /var/log, the
# process lists of the controller and of the hosts sampled during the run.
# Run folder, journals and credentials are owner-only; a state folder that
# others can write is refused before any connection; a changed host key on
# h3 lets no command reach h3 while h2 goes on.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
samplers=()
at_exit 'for p in "${samplers[@]}"; do kill "$p" 2>/dev/null; done'

restage h1 --spam alice:60 --legit 4
restage h2 --spam dave:60 --legit 4

# The process list sampled during the run: the lab's hosts have no PID
# namespace of their own, so this one list shows the controller's and the
# hosts' processes (the remote shells and what they run) with their argv.
(while :; do ps -eo args >>"$TMP/ps.txt" 2>/dev/null; sleep 0.02; done) &
samplers+=($!)
rc=0
ss respond --yes h1 h2 >"$TMP/out.txt" 2>"$TMP/err.txt" || rc=$?
for p in "${samplers[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
samplers=()
R=$(run_id)
RD=$SD/runs/$R
check "respond with rotations exits 0 (got $rc)" test "$rc" = 0
check "two rotations in the credentials file" test "$(wc -l <"$RD/credentials")" -ge 2
for f in md html json; do
    "$SPAMSTOP" report "$R" --format "$f" --state-dir "$SD" -o "$TMP/report.$f" >/dev/null 2>>"$TMP/err.txt" ||
        fail "report --format $f failed"
done
# the hosts' logs: files, and the journal where systemd runs (h2 by default)
for h in h1 h2; do
    "$LAB" on "$h" sh -c 'cat /var/log/* 2>/dev/null; journalctl -q --no-pager 2>/dev/null; true' \
        >"$TMP/varlog-$h.txt"
done
echo "# sampled $(wc -l <"$TMP/ps.txt") process lines; $(cat "$TMP"/varlog-*.txt | wc -l) remote log lines"

# Every password, new and old, as a fixed-string pattern file.
awk '{ print $3 }' "$RD/credentials" >"$TMP/secrets"
awk '{ print $2 }' "$LAB_PASSWORDS" >>"$TMP/secrets"
check "pattern file holds $(wc -l <"$TMP/secrets") passwords, none empty" \
    test "$(grep -c '^.\{8,\}$' "$TMP/secrets")" = "$(wc -l <"$TMP/secrets")"
# The search itself finds a password planted in a copy of the output.
{ cat "$TMP/out.txt"; tail -1 "$TMP/secrets"; } >"$TMP/planted"
check "the search finds a planted password" grep -qF -f "$TMP/secrets" "$TMP/planted"
hits=$(find "$RD" -type f ! -path "$RD/credentials" ! -path "$RD/secrets/*" -print0 |
    xargs -0 grep -lF -f "$TMP/secrets" || true)
check "no password in the run folder (but credentials, secrets/)${hits:+: $hits}" test -z "$hits"
for f in out.txt err.txt report.md report.html report.json ps.txt varlog-h1.txt varlog-h2.txt; do
    check "no password in $f" sh -c '! grep -qF -f "$1" "$2"' _ "$TMP/secrets" "$TMP/$f"
done

# Modes: owner-only.
check "run folder is 0700" test "$(stat -c %a "$RD")" = 700
check "journal folder is 0700" test "$(stat -c %a "$RD/journal")" = 700
for f in "$RD"/journal/*.jsonl "$RD/credentials" "$RD/audit.jsonl" "$RD/run.json"; do
    check "$(basename "$f") is 0600" test "$(stat -c %a "$f")" = 600
done

# A state folder others can write: refused, nothing connected.
mkdir -m 700 "$TMP/open"
chmod 777 "$TMP/open"
n1=$("$LAB" sshd-log h2 | grep -c 'Connection from' || true)
rc=0
"$SPAMSTOP" respond --yes -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
    --state-dir "$TMP/open" h2 >"$TMP/open.out" 2>&1 || rc=$?
n2=$("$LAB" sshd-log h2 | grep -c 'Connection from' || true)
check "world-writable state folder refused (exit $rc: $(head -1 "$TMP/open.out"))" \
    test "$rc" != 0 -a "$n1" = "$n2"
check "the refusal says why" grep -qi 'writ' "$TMP/open.out"

# Changed host key on h3: zero commands reach it, h2 goes on.
restage h2 --spam dave:60 --legit 4
restage h3 --spam erin:60 --legit 4
"$LAB" state h3 >"$TMP/before-h3"
kh_restore() {
    local pub="$LAB_DIR/hosts/h3/etc/ssh/ssh_host_ed25519_key.pub" key
    [[ -f $TMP/rekeyed && -f $pub ]] || return 0
    key=$(cut -d' ' -f1,2 "$pub")
    (
        flock 9
        grep -v -e "^h3 " -e "^$LAB_ADDR_h3 " "$LAB_KNOWN_HOSTS" >"$TMP/kh" || true
        printf '%s %s\nh3 %s\n' "$LAB_ADDR_h3" "$key" "$key" >>"$TMP/kh"
        cat "$TMP/kh" >"$LAB_KNOWN_HOSTS"
    ) 9>>"$LAB_DIR/known_hosts.lock"
}
at_exit kh_restore
"$LAB" rekey h3 2>/dev/null
touch "$TMP/rekeyed"
l0=$("$LAB" sshd-log h3 | wc -l)
rc=0
ss respond --yes h2 h3 >"$TMP/key.out" 2>&1 || rc=$?
sleep 0.3
log=$("$LAB" sshd-log h3 | tail -n +"$((l0 + 1))")
check "respond exits 1 with h3 refused (got $rc)" test "$rc" = 1
check "h3 refused for its host key" grep -qE '(^|Z )h3:? .*(host key|refused)' "$TMP/key.out"
check "h2 committed beside it" grep -qE '(^|Z )h2 +committed' "$TMP/key.out"
if grep -qE 'Accepted|Starting session|Postponed' <<<"$log"; then
    fail "h3's sshd saw an authentication or a command: $log"
else
    pass "h3's sshd log shows no authentication and no command"
fi
check "h3 unchanged" same_state h3 "$TMP/before-h3"
kh_restore
rm -f "$TMP/rekeyed"
finish
