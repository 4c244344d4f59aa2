#!/bin/bash
# e2e: the host's temporary folder is full.  identify keeps postcat's text
# in files under mktemp -d, and postcat exits 0 when its writes fail, so
# the script counts the messages it got against the files postcat read
# (unit_postfix cut_output covers the one-core case, where nothing else
# would notice).  h2's /tmp becomes a 64 KiB tmpfs while 320 messages are
# queued: respond fails on h2 in the survey, the trail says why, nothing
# changes on h2; with /tmp back, a dry run finds the account.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
H=h2

restage "$H" --spam alice:300 --legit 20
"$LAB" state "$H" >"$TMP/before"
# a small tmpfs over the host's /tmp, in its own mount namespace; the
# marker file tells the cleanup that ours is still mounted
at_exit '"$LAB" on "$H" sh -c "[ ! -e /tmp/.rel-hosttmp ] || umount /tmp"'
"$LAB" on "$H" sh -c 'mount -t tmpfs -o size=64k,mode=1777 tmpfs /tmp && touch /tmp/.rel-hosttmp'
"$LAB" on "$H" sh -c 'df -k /tmp | tail -1' | sed 's/^/# h2 \/tmp: /'

rc=0
ss respond --yes "$H" >"$TMP/run.out" 2>&1 || rc=$?
r=$(run_id)
state=$(jget "$r" 'o["host_states"]["h2"]')
check "full /tmp: respond fails (exit $rc), h2 $state" test "$rc" -ne 0
grep -q 'output was cut' "$SD/runs/$r/audit.jsonl" &&
    pass "full /tmp: the trail says postcat's output was cut" ||
    fail "full /tmp: no 'output was cut' in the trail: $(tail -3 "$TMP/run.out")"
if grep -q '"step":"stop"' "$SD/runs/$r/audit.jsonl"; then
    fail "full /tmp: the run went on to stop Postfix"
else
    pass "full /tmp: no step after the survey ran"
fi
"$LAB" on "$H" umount /tmp
same_state "$H" "$TMP/before" && pass "full /tmp: h2 unchanged" || fail "full /tmp: h2 changed"

ss respond --dry-run "$H" >"$TMP/dry.out" 2>&1 && grep -q 'alice@example.test' "$TMP/dry.out" &&
    pass "/tmp back: the dry run finds alice" ||
    fail "/tmp back: dry run: $(tail -3 "$TMP/dry.out")"
finish
