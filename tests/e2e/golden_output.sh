#!/bin/bash
# e2e: golden output.  respond's output without a terminal (a log: stdout
# and stderr in one file, one host at a time so the order is fixed), with
# times, run ids, keys and paths masked, must be tests/golden/NAME.txt
# exactly, for a dry run, a committed run, a run with a failed host and an
# interrupted run.  Besides the diff, each is checked for what the issue
# asked: the run id first, a recap, no "would" after the fact, the account
# analysis once per host.  GOLDEN_UPDATE=1 writes the files instead (read
# the diff before committing it).
. "$(dirname "$0")/lib/runbook.sh"

golden=$src/tests/golden
markers=$src/tests/fixtures/playbooks/e2e-markers.json
mdir=/var/tmp/spamstop-golden-$$
at_exit 'for h in h1 h3; do "$lab" on "$h" rm -rf "$mdir" >/dev/null 2>&1; done'

# What changes from run to run: times, ids, keys, paths, the mail logs'
# history on the lab hosts (other tests add to it), elapsed times.
mask() {
    sed -E \
        -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z /TIME /' \
        -e 's/[0-9]{8}-[0-9]{6}-[0-9]{4}-[0-9a-f]{6}/RUN/g' \
        -e "s#$work#WORK#g" -e "s#$mdir#MDIR#g" -e "s#$src#SRC#g" -e "s#$LAB_DIR#LAB#g" \
        -e 's/top [0-9.]+ \(/top IP (/g' \
        -e 's#SHA256:[A-Za-z0-9+/]+#SHA256:KEY#g' \
        -e 's/(^|[^0-9])[0-9]{2}:[0-9]{2}:[0-9]{2}([^0-9]|$)/\1HH:MM:SS\2/g' \
        -e 's/ [0-9]+\.[0-9]s$/ N.Ns/' \
        -e 's/mail down [0-9]+\.[0-9]+ s/mail down N.NN s/' \
        -e 's/audit: [0-9]+:[0-9a-f]{64}/audit: N:HEAD/' \
        -e 's/: [0-9]+ records? in the last ([0-9]+) h, [0-9]+ accounts? submitted mail/: N records in the last \1 h, N accounts submitted mail/' \
        -e 's/(queued \([0-9.]+% of [0-9]+\)); [0-9]+ submitted .*$/\1; LOG/'
}

# check_golden NAME FILE: FILE masked is tests/golden/NAME.txt.
check_golden() {
    mask <"$2" >"$work/$1.masked"
    if [[ -n ${GOLDEN_UPDATE:-} ]]; then
        cp "$work/$1.masked" "$golden/$1.txt"
        ok "$1: golden file written"
        return
    fi
    diff -u "$golden/$1.txt" "$work/$1.masked" ||
        fail "$1: the output differs from tests/golden/$1.txt (above)"
    ok "$1: the output is tests/golden/$1.txt"
}

# check_log NAME FILE COMMAND: what every log must hold.
check_log() {
    local name=$1 f=$2 cmd=$3
    head -n 1 "$f" | grep -Eq "^[0-9T:.-]+Z $cmd: run [0-9a-f-]+ on [0-9]+ hosts?$" ||
        fail "$name: the first line is not the run id: $(head -n 1 "$f")"
    grep -q "RECAP $cmd run " "$f" || fail "$name: no recap"
    grep -Eq "^[0-9T:.-]+Z h1 +[a-z-]+ +ok=[0-9]+ +changed=" "$f" || fail "$name: no recap line for h1"
}

stage() {
    "$lab" clear h1 >/dev/null
    "$lab" clear h3 >/dev/null
    "$lab" stage h1 --spam alice:60 --legit 3 >/dev/null
    "$lab" stage h3 --legit 2 >/dev/null
}

# --- a dry run: the plan, in the future ------------------------------------
stage
run respond --dry-run --forks 1 h1 h3 >"$work/dry.log" 2>&1 || fail "dry run: $(tail -5 "$work/dry.log")"
check_log dry-run "$work/dry.log" dry-run
grep -q "will hold 60 messages of alice@example.test" "$work/dry.log" || fail "dry run: no plan to hold"
[[ $(grep -c "FLAGGED alice@example.test" "$work/dry.log") == 1 ]] || fail "dry run: the analysis is not said once"
check_golden dry-run "$work/dry.log"

# --- a committed run: the result, once, in the past ------------------------
run respond --yes --forks 1 h1 h3 >"$work/run.log" 2>&1 || fail "run: $(tail -5 "$work/run.log")"
check_log committed "$work/run.log" respond
! grep -q "would\|will " "$work/run.log" || fail "run: future after the fact: $(grep -m3 'would\|will ' "$work/run.log")"
[[ $(grep -c "FLAGGED alice@example.test" "$work/run.log") == 1 ]] || fail "run: the analysis is not said once"
grep -Eq "h3 +clean +ok=" "$work/run.log" || fail "run: h3 is not clean"
check_golden committed "$work/run.log"

# --- a failed host: rolled back, named, with the command to run it again ---
rc=0
run respond -p "$markers" --param dir="$mdir" --param fail_on=h3 --yes --forks 1 h1 h3 \
    >"$work/fail.log" 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "failed host: exit $rc, want 1: $(tail -5 "$work/fail.log")"
check_log failed-host "$work/fail.log" respond
grep -q "h3: run it again with: spamstop respond " "$work/fail.log" || fail "failed host: no follow-up command"
check_golden failed-host "$work/fail.log"

# --- an interrupted run: h1 brought back, h3 never started ------------------
"$ss" respond -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$work/state" \
    -p "$markers" --param dir="$mdir" --param pause=3 --yes --forks 1 h1 h3 \
    >"$work/int.log" 2>&1 &
pid=$!
for ((i = 0; i < 300; i++)); do
    grep -q "h1: step 'mark-one' start" "$work/int.log" && break
    sleep 0.1
done
sleep 0.5
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 130 ]] || fail "interrupted: exit $rc, want 130: $(tail -5 "$work/int.log")"
check_log interrupted "$work/int.log" respond
grep -q "h3 *skipped" "$work/int.log" || fail "interrupted: h3 not skipped"
check_golden interrupted "$work/int.log"
