#!/bin/bash
# e2e: Ctrl-C half-way through a 3-host run, in a real terminal (a tmux
# pane).  `respond --yes --forks 1` on h1, h2, h3 (each with a stolen
# account): as soon as the first host's journal has rotate's "done" record,
# C-c goes to the pane.  The first host is past rotate: it must end
# `contained` (its new password works, the stolen one is refused, none of
# its mail deleted, Postfix running); no other host is started (`skipped`,
# untouched); exit 130; the terminal shows the interruption and the
# "finish it with: spamstop resume RUN" line.  Then `resume RUN --yes`
# commits every host, without a second rotation on the first.  --forks 1
# makes "half-way" exact: one host in flight, the others not started
# (a host interrupted before rotate would be rolled back, which resume
# leaves alone; engine tests cover that).  Every wait is bounded.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
ss=${SPAMSTOP:-${BUILD_DIR:-$src/build}/spamstop}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_interrupt
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

work=$(mktemp -d /tmp/ss-int-XXXXXX)
chmod 700 "$work"
sock=ss-int-$$
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    for h in h1 h2 h3; do "$lab" clear "$h" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

sd=$work/state
common=(-F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$sd")
pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
auth() { "$lab" auth "$1" "$2" "$3" >/dev/null 2>&1; }
# SMTP AUTH refused (535: lab.sh auth exit 1; 2 is an error, no refusal).
refused() {
    local rc=0
    "$lab" auth "$1" "$2" "$3" >/dev/null 2>&1 || rc=$?
    [[ $rc == 1 ]]
}
state_of() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["host_states"][sys.argv[2]])' \
        "$sd/runs/$R/run.json" "$1"
}
capture() { tmux -L "$sock" capture-pane -p -J -S - -t t >"$work/pane"; }
declare -A ACC=([h1]=alice [h2]=dave [h3]=erin)

for h in h1 h2 h3; do
    "$lab" clear "$h" >/dev/null
    "$lab" stage "$h" --spam "${ACC[$h]}:200" --legit 4 >/dev/null 2>&1
    "$lab" state "$h" >"$work/before-$h"
done
ok "staged h1 (alice), h2 (dave), h3 (erin): 200 spam and 4 legit each"

# respond in a 160x50 pane, by bash (it waits for a child that handles
# SIGINT itself, then goes on); the exit status goes to $work/rc.
cmd="$(printf '%q ' "$ss" respond "${common[@]}" --yes --forks 1 h1 h2 h3)"
cmd+="; echo \$? >$work/rc.tmp; mv $work/rc.tmp $work/rc; sleep 3600"
tmux -L "$sock" -f /dev/null new-session -d -x 160 -y 50 -s t bash -c "$cmd"

# The first host whose journal has rotate's "done" (at most 60 s).
first=
for ((i = 0; i < 3000; i++)); do
    for h in h1 h2 h3; do
        js=("$sd"/runs/*/journal/"$h".jsonl)
        j=${js[0]}
        [[ -f $j ]] || continue
        n=$(sed -n 's/.*"type":"intent","step":\([0-9]*\),"name":"rotate".*/\1/p' "$j" | head -1)
        if [[ -n $n ]] && grep -q "\"type\":\"done\",\"step\":$n," "$j"; then
            first=$h
            break 2
        fi
    done
    [[ -f $work/rc ]] && break
    sleep 0.02
done
[[ -n $first ]] || { capture; fail "no rotate 'done' in any journal within 60 s"; }
tmux -L "$sock" send-keys -t t C-c
R=$(ls "$sd/runs")
ok "C-c sent once $first's journal had rotate 'done' (run $R)"

for ((i = 0; i < 1200; i++)); do
    [[ -f $work/rc ]] && break
    sleep 0.1
done
capture
[[ -f $work/rc ]] || fail "respond did not end within 120 s of the C-c"
rc=$(cat "$work/rc")
[[ $rc == 130 ]] || fail "respond exited $rc, want 130"
grep -Eq "^respond: run $R: interrupted \(exit 130\)" "$work/pane" ||
    fail "the pane does not say the run was interrupted"
# The live view says it (it draws over the signal handler's own line).
grep -q "interrupted: no new step starts; hosts in flight are brought to a safe state" "$work/pane" ||
    fail "the screen does not say what the interrupt does"
grep -Eq "^finish it with: spamstop resume $R( |$)" "$work/pane" ||
    fail "no 'finish it with: spamstop resume $R' line"
grep -Eq "^$first +contained" "$work/pane" || fail "the recap does not show $first contained"
ok "exit 130; the pane shows the interruption, $first contained and the resume command"

[[ $(state_of "$first") == contained ]] || fail "$first is $(state_of "$first"), want contained"
cred=$sd/runs/$R/credentials
newpw=$(awk -v h="$first" -v a="${ACC[$first]}@example.test" '$1 == h && $2 == a { p = $3 } END { print p }' "$cred")
[[ -n $newpw ]] || fail "$first: no new password in the credentials file"
sleep 1.1 # Dovecot re-reads its passwd-file at most once a second
auth "$first" "${ACC[$first]}" "$newpw" || fail "$first: the new password does not work"
refused "$first" "${ACC[$first]}" "$(pw "${ACC[$first]}")" || fail "$first: the stolen password is not refused"
held="(hold not reached)"
for h in h1 h2 h3; do
    "$lab" state "$h" >"$work/int-$h"
    grep -qx 'postfix running' "$work/int-$h" || fail "$h: postfix not running after the interrupt"
    if [[ $h == "$first" ]]; then
        # contained: nothing deleted yet, spam on hold or (hold not reached) deferred
        diff <(awk '$1 == "queue" { print $3 }' "$work/before-$h" | sort) \
            <(awk '$1 == "queue" { print $3 }' "$work/int-$h" | sort) >/dev/null ||
            fail "$h: messages went missing before the commit"
        awk -v m="$LAB_DIR/stage-$h.txt" 'BEGIN { while ((getline l < m) > 0) { split(l, f, " "); k[f[4]] = f[1] } }
            $1 == "queue" && k[$3] != "spam" && $2 != "deferred" { bad = 1 } END { exit bad }' "$work/int-$h" ||
            fail "$h: legitimate mail left the deferred queue"
        # once the hold is journaled done, every flagged message is on hold
        j=$sd/runs/$R/journal/$h.jsonl
        n=$(sed -n 's/.*"type":"intent","step":\([0-9]*\),"name":"purge".*/\1/p' "$j" | head -1)
        if [[ -n $n ]] && grep -q "\"type\":\"done\",\"step\":$n," "$j"; then
            awk -v m="$LAB_DIR/stage-$h.txt" 'BEGIN { while ((getline l < m) > 0) { split(l, f, " "); k[f[4]] = f[1] } }
                $1 == "queue" && k[$3] == "spam" && $2 != "hold" { bad = 1 } END { exit bad }' "$work/int-$h" ||
                fail "$h: the hold is done but spam is not on hold"
            held="(spam on hold)"
        fi
    else
        [[ $(state_of "$h") == skipped ]] || fail "$h is $(state_of "$h"), want skipped (not started)"
        diff "$work/before-$h" "$work/int-$h" >/dev/null || fail "$h changed though not started"
    fi
done
ok "$first contained (new password works, stolen one refused, no mail lost) $held; others skipped and untouched; postfix running everywhere"

# --- resume finishes the run --------------------------------------------
rc=0
"$ss" resume "${common[@]}" --yes "$R" >"$work/resume.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "resume exited $rc: $(tail -10 "$work/resume.out")"
sleep 1.1
for h in h1 h2 h3; do
    [[ $(state_of "$h") == committed ]] || fail "$h is $(state_of "$h") after resume, want committed"
    "$lab" state "$h" >"$work/after-$h"
    grep -qx 'postfix running' "$work/after-$h" || fail "$h: postfix not running after resume"
    while read -r kind _ _ mid; do
        if [[ $kind == spam ]]; then
            grep -qF " $mid" "$work/after-$h" && fail "$h: spam $mid still queued after resume"
        else
            grep -qF "queue deferred $mid" "$work/after-$h" || fail "$h: legitimate $mid gone"
        fi
    done <"$LAB_DIR/stage-$h.txt"
    a=${ACC[$h]}
    [[ $(grep -c "^$h $a@example.test " "$cred") == 1 ]] ||
        fail "$h: $a rotated $(grep -c "^$h $a@example.test " "$cred") times, want once"
    p=$(awk -v h="$h" -v a="$a@example.test" '$1 == h && $2 == a { print $3 }' "$cred")
    auth "$h" "$a" "$p" || fail "$h: $a's new password does not work after resume"
    refused "$h" "$a" "$(pw "$a")" || fail "$h: $a's stolen password is not refused after resume"
done
"$ss" audit verify --state-dir "$sd" "$R" >/dev/null || fail "audit verify failed"
ok "resume committed h1 h2 h3: spam gone, legit kept, one rotation each, audit intact"
