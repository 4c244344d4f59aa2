#!/bin/bash
# e2e: the confirmation prompt and the live view, driven in a real terminal
# (a tmux pane): "n" changes nothing (exit 5), "y" commits and shows the
# live per-host view and the recap; rollback asks too; no terminal and no
# --yes refuses; NO_COLOR turns colours off.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_confirm
fail() {
    echo "$t: FAIL: $*" >&2
    [[ -f $work/pane ]] && sed 's/^/    pane: /' "$work/pane" | tail -40 >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }
if ! command -v tmux >/dev/null; then
    echo "$t: SKIP: tmux is not installed (tests/install-deps.sh installs it)"
    exit 0
fi

work=$(mktemp -d /tmp/ss-ux-XXXXXX)
chmod 700 "$work"
sock=ss-ux-$$-0
npane=0
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    "$lab" clear h1 >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

common=(-F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS"
    --state-dir "$work/state")
printf '%q ' "$ss" >"$work/ss"

# Starts "spamstop ARGS" in a fresh tmux pane (160x50); its exit status
# goes to $work/rc.  ENV=... words before -- are set for it.
pane_run() {
    local envs=()
    while [[ $1 != -- ]]; do
        envs+=("$1")
        shift
    done
    shift
    rm -f "$work/rc"
    local cmd
    cmd="env ${envs[*]} $(cat "$work/ss")$(printf '%q ' "$@"); echo \$? >$work/rc.tmp; mv $work/rc.tmp $work/rc; sleep 3600"
    tmux -L "$sock" kill-server 2>/dev/null || true
    npane=$((npane + 1))
    sock=ss-ux-$$-$npane
    tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 50 -s t "$cmd"
}
capture() { tmux -L "$sock" capture-pane -p -J -S - -t t "$@" >"$work/pane"; }
# Waits (at most 60 s) for the pane to show text $1.
wait_for() {
    local i
    for ((i = 0; i < 600; i++)); do
        capture
        grep -qF -- "$1" "$work/pane" && return 0
        sleep 0.1
    done
    fail "no '$1' in the pane after 60 s"
}
# Waits (at most 120 s) for the command to end; its status goes to rc.
wait_rc() {
    local i
    for ((i = 0; i < 1200; i++)); do
        [[ -f $work/rc ]] && {
            capture
            rc=$(cat "$work/rc")
            return 0
        }
        sleep 0.1
    done
    fail "the command did not end in 120 s"
}

"$lab" clear h1 >/dev/null
"$lab" stage h1 --spam alice:60 --legit 3 >/dev/null
"$lab" state h1 >"$work/before"

# --- no terminal and no --yes: refused -----------------------------------
set +e
"$ss" respond "${common[@]}" h1 </dev/null >"$work/notty.out" 2>&1
rc=$?
set -e
[[ $rc == 5 ]] || fail "no tty, no --yes: exit $rc, want 5"
grep -q -- "--yes" "$work/notty.out" || fail "refusal does not say what to do"
"$lab" state h1 | diff -q - "$work/before" >/dev/null || fail "refusal changed h1"
ok "no terminal and no --yes: exit 5, says to use --yes, nothing changed"

# --- "n": nothing changes ------------------------------------------------
pane_run -- respond "${common[@]}" h1
wait_for "proceed? [y/N]"
grep -q "rotate password: alice@example.test" "$work/pane" ||
    fail "the plan does not name the account to rotate"
grep -q "purge (hold, delete at commit): 60 messages of alice@example.test" \
    "$work/pane" || fail "the plan does not say what it purges"
grep -q "keep queued: 3 message" "$work/pane" || fail "the plan does not say what stays"
grep -q "^Pivots" "$work/pane" || fail "the plan does not list the pivots"
grep -q "^h1: plan$" "$work/pane" || fail "no plan block for h1"
grep -q "will stop postfix" "$work/pane" || fail "the plan does not speak in the future"
grep -q "RECAP" "$work/pane" && fail "a recap before the question"
tmux -L "$sock" send-keys -t t n Enter
wait_rc
[[ $rc == 5 ]] || fail "answer n: exit $rc, want 5"
grep -q "not confirmed" "$work/pane" || fail "no 'not confirmed' message"
"$lab" state h1 | diff "$work/before" - || fail "answer n changed h1"
ok "plan shown (alice, 60 to purge, 3 kept, pivots); 'n': exit 5, h1 unchanged"

# --- "y": committed, with the live view and the recap --------------------
pane_run -- respond "${common[@]}" h1
wait_for "proceed? [y/N]"
tmux -L "$sock" send-keys -t t y Enter
wait_rc
[[ $rc == 0 ]] || fail "answer y: exit $rc, want 0"
run=$(ls -t "$work/state/runs" | head -1)
grep -Eq "^respond: run $run on 1 host" "$work/pane" || fail "no live view header"
grep -Eq "^h1 +committed +8 ok, [1-9][0-9]* changed, 0 failed +[0-9]+\.[0-9]s" \
    "$work/pane" || fail "no final live line for h1"
grep -q "^RECAP respond run $run" "$work/pane" || fail "no recap title with the run id"
grep -Eq "^h1 +committed +ok=8 +changed=[1-9][0-9]* +contained=0 +failed=0 +unreachable=0 +skipped=0 +[0-9]+\.[0-9]s" \
    "$work/pane" || fail "no recap row for h1"
# the result once, in the past: the plan's accounts and the run's, no more
grep -Eq "^  \[2\] stop [0-9:]{8}: stopped postfix" "$work/pane" || fail "no past-tense stop with its time"
[[ $(grep -c "FLAGGED alice@example.test" "$work/pane") == 2 ]] ||
    fail "the analysis is not once in the plan and once in the result"
! grep -q "would" "$work/pane" || fail "'would' on screen: $(grep would "$work/pane")"
grep -q "\"outcome\": *\"committed\"" "$work/state/runs/$run/run.json" ||
    fail "run.json outcome is not committed"
"$lab" state h1 | diff -q "$work/before" - >/dev/null && fail "answer y changed nothing"
capture -e
grep -q $'\033\\[[0-9;]*3[12]m' "$work/pane" || fail "no colour on a terminal"
ok "'y': committed run $run; live view, recap (8 ok, 0 failed) and colours seen"

# --- rollback asks too; NO_COLOR turns colours off ------------------------
pane_run NO_COLOR=1 -- rollback "${common[@]}" "$run"
wait_for "rollback run $run on 1 host(s)? [y/N]"
grep -q "rollback of run $run" "$work/pane" || fail "rollback does not say what it undoes"
tmux -L "$sock" send-keys -t t n Enter
wait_rc
[[ $rc == 5 ]] || fail "rollback answered n: exit $rc, want 5"
pane_run NO_COLOR=1 -- rollback "${common[@]}" "$run"
wait_for "rollback run $run on 1 host(s)? [y/N]"
tmux -L "$sock" send-keys -t t y Enter
wait_rc
[[ $rc == 0 ]] || fail "rollback answered y: exit $rc, want 0"
grep -Eq "^h1 +rolled-back +" "$work/pane" || fail "no recap row after rollback"
capture -e
grep -q $'\033\\[[0-9;]*3[0-7]m' "$work/pane" && fail "colour despite NO_COLOR"
"$lab" state h1 | grep -qx "postfix running" || fail "postfix not running after rollback"
ok "rollback: asks, 'n' exit 5, 'y' rolled back; no colour with NO_COLOR"
