#!/bin/bash
# e2e: the SSH round trips of the default playbook on one host do not grow
# with the queue: the same number of audited commands for 100 and 5,000
# queued messages, and the identify pass after the stop reads no queue file
# again when none changed.  Prints the identify pass's duration for both.
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
    "$ss" respond --yes -v -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$st" "$h" >"$st.out" 2>&1 ||
        fail "respond failed: $(tail -5 "$st.out")"
    grep -Eq "(^|Z )$h +committed" "$st.out" || fail "$h did not commit"
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

# The identify pass after the stop read no queue file again: nothing
# changed since the survey (Postfix defers for an hour here), so it got
# the survey's stamps and sent back only its own, and the run acted on
# the survey's messages (the purge checks above).  Its cache went with
# the host.
st=$work/state-big
read -r sv_bytes id_bytes id_in < <(python3 - "$st" "$h" <<'EOF'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
run = sorted(os.listdir(runs))[-1]
got = {}
for line in open(os.path.join(runs, run, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "command" and r.get("host") == sys.argv[2]:
        got.setdefault(r.get("step"), r)
print(got["survey"]["stdout_bytes"], got["identify"]["stdout_bytes"],
      got["identify"].get("stdin_bytes", 0))
EOF
)
((id_bytes * 4 < sv_bytes)) ||
    fail "identify after the stop sent back $id_bytes bytes, the survey $sv_bytes: it read the queue again"
((id_in > 0)) || fail "identify after the stop got no stamps on stdin"
ok "identify after the stop: $id_bytes bytes back (survey $sv_bytes), $id_in bytes of stamps in"
grep -q "read again with postfix stopped: 5000 files unchanged since the first pass" "$st.out" ||
    fail "the result (-v) does not say the 5000 messages were not read again"
ok "the result (-v) says 5000 messages were not read again"
ls "$st"/runs/*/cache/"$h".identify >/dev/null 2>&1 &&
    fail "the survey's cache file is still in the run folder"
ok "the survey's cache file went with the host"

# What the survey learned serves the later commands: only the survey asks
# postconf for the queue and daemon directories, and the start step acts
# without a look of its own (the stop step left Postfix stopped and
# checked it).
read -r asks starts < <(python3 - "$st" "$h" <<'EOF2'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
run = sorted(os.listdir(runs))[-1]
asks, starts = [], 0
for line in open(os.path.join(runs, run, "audit.jsonl")):
    r = json.loads(line)
    if r.get("event") == "command" and r.get("host") == sys.argv[2]:
        if "postconf -h queue_directory" in r["command"]:
            asks.append(r["step"])
        if r.get("step") == "start":
            starts += 1
print(",".join(asks) or "-", starts)
EOF2
)
[[ $asks == survey ]] || fail "steps that asked postconf for the directories: $asks (only the survey should)"
ok "only the survey asked postconf for the queue and daemon directories"
[[ $starts == 1 ]] || fail "the start step ran $starts commands, not 1"
grep -q "\[6\] start [0-9:]*: started postfix (via postfix);.* mail down [0-9.]* s" "$st.out" ||
    fail "the result does not say when postfix started and how long mail was down"
ok "the start step ran one command; the result says when and how long mail was down"
