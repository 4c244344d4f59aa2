#!/bin/bash
# e2e: the SSH round trips of the default playbook on one host do not grow
# with the queue: the same number of audited commands for 100 and 5,000
# queued messages.  Prints the identify pass's duration for both.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"

t=runbook_roundtrips
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

h=h3
work=$(mktemp -d /tmp/ss-rt-XXXXXX)
chmod 700 "$work"
trap '"$lab" clear "$h" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# Prints "COMMANDS IDENTIFY_MS" for host $h of the run in state dir $1.
count() {
    python3 - "$1" "$h" <<'EOF'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
run = sorted(os.listdir(runs))[-1]
n, ms = 0, None
for line in open(os.path.join(runs, run, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "command" and r.get("host") == sys.argv[2]:
        n += 1
        if r.get("step") == "identify":
            ms = r.get("duration_ms")
print(n, ms)
EOF
}

# One respond on $h after staging "$@"; checks it committed and purged.
one() {
    local st=$work/state-$1
    shift
    "$lab" clear "$h" >/dev/null
    "$lab" stage "$h" "$@" >/dev/null
    mkdir -m 700 "$st"
    "$ss" respond --yes -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$st" "$h" >"$st.out" 2>&1 ||
        fail "respond failed: $(tail -5 "$st.out")"
    grep -q "^$h *committed" "$st.out" || fail "$h did not commit"
    [[ $("$lab" state "$h" | grep -c '^queue ') == "$(grep -c '^legit ' "$LAB_DIR/stage-$h.txt")" ]] ||
        fail "the queue does not hold exactly the legitimate mail"
    count "$st"
}

read -r small small_ms < <(one small --spam dave:80 --legit 20)
ok "100 queued: $small commands on $h, identify ${small_ms} ms"
read -r big big_ms < <(one big --spam dave:4000 --legit 1000)
ok "5000 queued: $big commands on $h, identify ${big_ms} ms"
[[ $small == "$big" ]] || fail "round trips grow with the queue: $small vs $big"
ok "same number of round trips ($small) for 100 and 5,000 messages"
