# shellcheck shell=bash
# Sourced by the e2e tests that run spamstop's default playbook on the lab:
# the lab's environment, t (the test's name, from $0), fail/ok, a private
# work folder ($work, removed at exit unless KEEP is set; a test adds its
# own clean-up with at_exit), run (spamstop with the lab's ssh config and
# the work folder's state), pw (a lab account's original password) and
# auth (one SMTP AUTH on a host).
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"

t=$(basename "$0" .sh)
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d "/tmp/ss-$t-XXXXXX")
chmod 700 "$work"
exit_hook=:
# at_exit CMD: runs CMD (a string) at exit, before the work folder goes.
at_exit() { exit_hook=$1; }
runbook_cleanup() {
    eval "$exit_hook" || true
    if [[ -n ${KEEP:-} ]]; then
        echo "$t: kept $work"
    else
        rm -rf "$work"
    fi
}
trap runbook_cleanup EXIT

run() {
    "$ss" "$@" -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state"
}
pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
auth() { "$lab" auth "$1" "$2" "$3" >/dev/null 2>&1; }
