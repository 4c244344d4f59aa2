# Shared by tests/e2e/engine_*.sh (sourced, not a test itself): the lab's
# environment, a scratch state folder, checks and host snapshots.
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
SPAMSTOP=${SPAMSTOP:-$SOURCE_DIR/build/spamstop}
LAB=$SOURCE_DIR/tests/lab/lab.sh
PLAYBOOK=$SOURCE_DIR/tests/fixtures/playbooks/e2e-markers.json
PY=/usr/bin/python3
# shellcheck disable=SC1090
. "$("$LAB" env)"
# A marker folder of our own, so parallel labs or other tests never share it.
MDIR=/var/tmp/spamstop-e2e-$$
TMP=$(mktemp -d /tmp/spamstop-e2e-engine.XXXXXX)
SD=$TMP/state
T0=$(date +%s.%N)

# shellcheck disable=SC1091
. "$SOURCE_DIR/tests/e2e/lib/check.sh"
finish() {
    local t
    t=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "# $(basename "$0"): $t s"
    if ((fails > 0)); then
        echo "$fails check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed"
}

# Removes our markers from every host and the scratch folder.
cleanup() {
    local h
    for h in $LAB_HOSTS; do
        "$LAB" on "$h" rm -rf "$MDIR" >/dev/null 2>&1 || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# spamstop with the lab's ssh settings and our state folder.
ss() {
    "$SPAMSTOP" "$1" -F "$LAB_SSH_CONFIG" --state-dir "$SD" "${@:2}"
}
# respond with the marker playbook.
respond() {
    ss respond -p "$PLAYBOOK" --param dir="$MDIR" "$@"
}

# A host's state: the lab's dump plus our marker folder's files and contents.
host_state() {
    "$LAB" state "$1"
    "$LAB" on "$1" sh -c 'cd "$1" 2>/dev/null || { echo "markers: none"; exit 0; }
        for f in $(ls -A | sort); do printf "marker %s: %s\n" "$f" "$(cat "$f")"; done' _ "$MDIR"
}
# The marker files on a host, space-separated, sorted ("-" when no folder).
markers() {
    "$LAB" on "$1" sh -c 'cd "$1" 2>/dev/null && ls -A | sort | tr "\n" " " || echo -' _ "$MDIR" |
        sed 's/ $//'
}
# Number of lines of a host's sshd log (each session logs lines).
sshd_lines() { "$LAB" sshd-log "$1" | wc -l; }
# Number of SSH connections a host's sshd has accepted so far.
sshd_conns() { "$LAB" sshd-log "$1" | grep -c '^Connection from' || true; }

# The only run id in the state folder (the newest when several).
run_id() { ls -t "$SD/runs" | head -1; }
# A field of run.json: jget RUN 'o["host_states"]["h1"]'.
jget() {
    "$PY" -c 'import json, sys
o = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("null" if v is None else v)' "$SD/runs/$1/run.json" "$2"
}
# Waits (up to $2 s) until every host's journal of run $1 has an intent for
# step index $3.
wait_intents() {
    local run=$1 secs=$2 step=$3 i h ok
    for ((i = 0; i < secs * 10; i++)); do
        ok=1
        for h in $LAB_HOSTS; do
            if ! grep -qs "\"type\":\"intent\",\"step\":$step," "$SD/runs/$run/journal/$h.jsonl"; then
                ok=0
            fi
        done
        ((ok)) && return 0
        sleep 0.1
    done
    return 1
}
# spamstop audit verify of a run (its output; the exit status is verify's).
audit_verify() {
    local out rc=0
    out=$("$SPAMSTOP" audit verify --state-dir "$SD" "$1" 2>&1) || rc=$?
    echo "$out"
    return $rc
}
