#!/bin/bash
# e2e: hostile account names through the default runbook.  Accounts whose
# names are shell code ($(...), backticks, quotes, ';', a glob, and on h3
# the issue's `a';touch /tmp/pwned;'@x` with a blank; all lower case:
# Dovecot lowercases user names) send 100 spam each
# over real SMTP AUTH beside bob's and carol's legitimate mail; dry-run,
# respond and rollback must name each account exactly, rotate and purge
# only it (h1 Plesk stand-in, h2 Dovecot), refuse the blank name (h3) and
# run no planted command on the hosts or on the controller.
. "$(dirname "$0")/../reliability/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
N=${REL_HOSTILE_SPAM:-100}
# shellcheck disable=SC2016
declare -A ACC=(
    [h1]='p$(>/tmp/pwned1)`>/tmp/pwned2`;|&*?[x]{y}<z>@x'
    [h2]='d;>/tmp/pwned3;$(id>/tmp/pwned4)*@x'
    [h3]="a';touch /tmp/pwned;'@x"
)
CANARIES="/tmp/pwned /tmp/pwned1 /tmp/pwned2 /tmp/pwned3 /tmp/pwned4"
declare -A PW
for h in h1 h2 h3; do PW[$h]=$(openssl rand -hex 12); done
canaries_gone() {
    local h f
    for f in $CANARIES; do
        [[ ! -e $f ]] || { echo "# controller: $f exists" >&2; return 1; }
        for h in h1 h2 h3; do
            if "$LAB" on "$h" test -e "$f"; then echo "# $h: $f exists" >&2; return 1; fi
        done
    done
}
for f in $CANARIES; do
    rm -f "$f"
    for h in h1 h2 h3; do "$LAB" on "$h" rm -f "$f"; done
done
at_exit 'for h in h1 h2 h3; do plain_user_names $h >/dev/null 2>&1; done'

for h in h1 h2 h3; do
    restage "$h" --legit 4
    any_user_names "$h" >/dev/null
    # Dovecot escapes ' " \ with a backslash before it looks a name up in
    # the passwd-file, so the file holds that form of h3's name.
    add_account "$h" "$(sed "s/[\\'\"]/\\\\&/g" <<<"${ACC[$h]}")" "${PW[$h]}"
    # Dovecot's auth process restarts after the reload: up to 10 s.
    for _ in $(seq 20); do auth "$h" "${ACC[$h]}" "${PW[$h]}" && break || sleep 0.5; done
    if ! auth "$h" "${ACC[$h]}" "${PW[$h]}"; then
        fail "$h: SMTP AUTH as the hostile name before the run"
        finish
    fi
    stage_spam_as "$h" "${ACC[$h]}" "${PW[$h]}" "$N" "$TMP/spam-$h.txt" 2>>"$TMP/stage.err" ||
        fail "$h: staging spam as the hostile name"
    queue_settles "$h" "$((N + 4))" || fail "$h: queue did not settle at $((N + 4))"
    awk '{ print $NF }' "$TMP/spam-$h.txt" | sort >"$TMP/spamids-$h"
    "$LAB" state "$h" >"$TMP/before-$h"
done
check "staged $N spam per host" test "$(cat "$TMP"/spamids-h* | sort -u | wc -l)" = "$((3 * N))"

# The exact name in a text: fixed-string search.
names() { grep -qF -- "${ACC[$2]}" "$1"; }
# Every JSON string in a file (one document or JSON lines) holding NAME.
json_has() {
    "$PY" -c 'import json, sys
want = sys.argv[2]
def walk(v):
    if isinstance(v, str):
        return want in v
    if isinstance(v, dict):
        return any(walk(x) for x in v.values()) or any(want in k for k in v)
    if isinstance(v, list):
        return any(walk(x) for x in v)
    return False
text = open(sys.argv[1]).read()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = [json.loads(l) for l in text.splitlines() if l.strip()]
sys.exit(0 if any(walk(d) for d in docs) else 1)' "$1" "$2"
}

# The same set of queued Message-IDs as before the run.
same_ids() {
    diff <(awk '$1 == "queue" { print $3 }' "$TMP/before-$1" | sort) \
        <("$LAB" state "$1" | awk '$1 == "queue" { print $3 }' | sort) >/dev/null
}
# As same_ids, and the hostile account's spam all on hold.
ids_spam_held() {
    same_ids "$1" || return 1
    ! "$LAB" state "$1" | awk '$1 == "queue" && $2 != "hold" { print $3 }' | grep -qF -f "$TMP/spamids-$1"
}

# Dry run: names every account, changes nothing.
rc=0
ss respond --dry-run h1 h2 h3 >"$TMP/dry.out" 2>"$TMP/dry.err" || rc=$?
check "dry-run exits 0 or 1 (got $rc)" test "$rc" -le 1
for h in h1 h2 h3; do
    check "dry-run names $h's account exactly" names "$TMP/dry.out" "$h"
    check "$h unchanged by the dry run" same_state "$h" "$TMP/before-$h"
done
check "no canary after the dry run" canaries_gone

# Respond.
rc=0
ss respond --yes h1 h2 h3 >"$TMP/out.txt" 2>"$TMP/err.txt" || rc=$?
R=$(run_id)
RD=$SD/runs/$R
echo "# respond exit $rc, run $R"
head -12 "$TMP/out.txt" | sed 's/^/#   /'
check "respond exits 1 (h3's name refused) (got $rc)" test "$rc" = 1
"$SPAMSTOP" report "$R" --format json --state-dir "$SD" -o "$TMP/report.json" >/dev/null 2>&1 ||
    fail "report --format json"
for h in h1 h2 h3; do
    check "the report (JSON) names $h's account exactly" json_has "$TMP/report.json" "${ACC[$h]}"
    check "the audit trail names $h's account exactly" json_has "$RD/audit.jsonl" "${ACC[$h]}"
done
newpw() { [[ -f $RD/credentials ]] || return 0; A=${ACC[$1]} H=$1 awk '$1 == ENVIRON["H"] && index($0, ENVIRON["A"] " ") == length($1) + 2 { p = $NF } END { print p }' "$RD/credentials"; }
for h in h1 h2; do
    check "$h committed" grep -qE "(^|Z )$h +committed" "$TMP/out.txt"
    np=$(newpw "$h")
    check "$h: a new password in the credentials file" test -n "$np"
    check "$h: the old password fails SMTP AUTH" sh -c '! "$0" auth "$1" "$2" "$3" >/dev/null 2>&1' \
        "$LAB" "$h" "${ACC[$h]}" "${PW[$h]}"
    check "$h: the new password works" auth "$h" "${ACC[$h]}" "$np"
    "$LAB" state "$h" >"$TMP/after-$h"
    check "$h: none of the hostile account's spam left" sh -c '! grep -qF -f "$0" "$1"' "$TMP/spamids-$h" "$TMP/after-$h"
    check "$h: the legitimate mail untouched" diff <(grep -v -F -f "$TMP/spamids-$h" "$TMP/before-$h" | grep '^queue') \
        <(grep '^queue' "$TMP/after-$h")
done
check "h3 (blank in the name) not committed" sh -c '! grep -qE "(^|Z )h3 +committed" "$0"' "$TMP/out.txt"
check "h3: the old password still works" auth h3 "${ACC[h3]}" "${PW[h3]}"
check "h3: its queue as before" same_ids h3
check "no canary after respond" canaries_gone

# Rollback.
rc=0
ss rollback "$R" --yes >"$TMP/rb.out" 2>&1 || rc=$?
check "rollback exits 0 (got $rc)" test "$rc" = 0
# A plain rollback keeps the new passwords: the stolen ones never come back.
for h in h1 h2; do
    check "$h: the old password still fails after rollback" sh -c '! "$0" auth "$1" "$2" "$3" >/dev/null 2>&1' \
        "$LAB" "$h" "${ACC[$h]}" "${PW[$h]}"
    check "$h: the new password still works after rollback" auth "$h" "${ACC[$h]}" "$(newpw "$h")"
    check "$h: every message back (spam on hold)" ids_spam_held "$h"
done
check "no canary after rollback" canaries_gone
finish
