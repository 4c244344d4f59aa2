#!/bin/bash
# e2e: ssh-agent authentication as ssh does it: an ssh config that names no
# IdentityFile and a HOME with no ~/.ssh, so the only key is in the agent;
# without SSH_AUTH_SOCK the same command fails with an authentication error.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_agent
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d /tmp/ss-agent-XXXXXX)
chmod 700 "$work"
agent_pid=
cleanup() {
    [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -m 700 "$work/home"
# the lab's hosts, without IdentityFile/IdentitiesOnly
cat >"$work/ssh_config" <<EOF
Host h1
    HostName $LAB_ADDR_h1
    User root
    UserKnownHostsFile $LAB_KNOWN_HOSTS
    StrictHostKeyChecking yes
    BatchMode yes
EOF
grep -qi identity "$work/ssh_config" && fail "the config names a key"

unset SSH_AUTH_SOCK SSH_AGENT_PID
eval "$(ssh-agent -s -a "$work/agent.sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
[[ $agent_pid =~ ^[0-9]+$ ]] || fail "ssh-agent gave no PID"
ssh-add -q "$LAB_KEY" 2>/dev/null || fail "ssh-add of the lab key failed"
[[ $(ssh-add -l | wc -l) == 1 ]] || fail "the agent does not hold exactly one key"

sx() { HOME=$work/home "$ss" exec -F "$work/ssh_config" --known-hosts "$LAB_KNOWN_HOSTS" "$@"; }

rc=0
sx -c 'echo via-agent' h1 >"$work/ok.out" 2>"$work/ok.err" || rc=$?
[[ $rc == 0 ]] || fail "exec via the agent exited $rc: $(cat "$work/ok.err")"
grep -qx via-agent "$work/ok.out" || fail "exec via the agent: no output"
ok "exec h1 through the agent (no IdentityFile, empty HOME)"

rc=0
env -u SSH_AUTH_SOCK HOME="$work/home" "$ss" exec -F "$work/ssh_config" \
    --known-hosts "$LAB_KNOWN_HOSTS" -c true h1 >"$work/no.out" 2>"$work/no.err" || rc=$?
[[ $rc == 1 ]] || fail "without SSH_AUTH_SOCK exec exited $rc, want 1 (docs/exit-codes.md)"
grep -q "authentication as 'root' on 'h1' refused" "$work/no.err" ||
    fail "without SSH_AUTH_SOCK: no authentication error: $(cat "$work/no.err")"
ok "without SSH_AUTH_SOCK: exit 1, '$(head -1 "$work/no.err")'"

# the agent emptied: refused too, so the success above was the agent's key
ssh-add -D -q 2>/dev/null || ssh-add -D >/dev/null 2>&1
rc=0
sx -c true h1 >/dev/null 2>"$work/empty.err" || rc=$?
[[ $rc == 1 ]] || fail "with an empty agent exec exited $rc, want 1"
grep -q "refused" "$work/empty.err" || fail "empty agent: $(cat "$work/empty.err")"
ok "with an empty agent: refused, exit 1"

kill "$agent_pid"
agent_pid=
