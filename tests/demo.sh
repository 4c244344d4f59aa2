#!/bin/bash
# The main job on a local lab, for a first look: installs what is needed,
# builds, starts three real mail servers with a live incident (one Plesk-
# style host with a stolen mailbox, one plain Postfix+Dovecot host with two,
# one clean host), then runs spamstop respond --dry-run, the real respond,
# writes the incident report (HTML and Markdown) and verifies the audit
# trail.  KEEP_LAB=1 leaves the lab running after.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
tests/install-deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
spamstop=$src/build/spamstop

export LAB_NAME=${LAB_NAME:-demo} LAB_NET=${LAB_NET:-76}
lab=$src/tests/lab/lab.sh
if [ "${KEEP_LAB:-0}" != 1 ]; then
    trap '"$lab" down >/dev/null' EXIT
fi
"$lab" up 3 plesk plain plain
. "$("$lab" env)"

echo "== staging an incident: alice@ stolen on h1, dave@ and erin@ on h2 (legitimate mail of bob@ and carol@ everywhere) =="
"$lab" stage h1 --spam alice:300 --legit 20
"$lab" stage h2 --spam dave:200 --spam erin:150 --legit 10
"$lab" stage h3 --legit 5

state=$LAB_DIR/spamstop-state
mkdir -p -m 700 "$state"
common=(-F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS"
        --state-dir "$state")

echo
echo "== spamstop respond --dry-run h1 h2 h3 =="
"$spamstop" respond --dry-run "${common[@]}" h1 h2 h3

echo
echo "== spamstop respond --yes h1 h2 h3 =="
rc=0
"$spamstop" respond --yes "${common[@]}" h1 h2 h3 || rc=$?

run=$(ls -1 "$state/runs" | sort | tail -n 1)
echo
echo "== spamstop report $run (Markdown) =="
"$spamstop" report --state-dir "$state" "$run"
echo
echo "== spamstop report $run -o $LAB_DIR/report.html --format html =="
"$spamstop" report --state-dir "$state" "$run" -o "$LAB_DIR/report.html" \
    --format html
echo
echo "== spamstop audit verify $run =="
vrc=0
"$spamstop" audit verify --state-dir "$state" "$run" || vrc=$?
echo
cp "$LAB_DIR/report.html" "$src/build/demo-report.html"
echo "report:     $LAB_DIR/report.html"
echo "            (the lab folder goes with the lab unless KEEP_LAB=1; a copy"
echo "            stays in $src/build/demo-report.html)"
[ "$vrc" = 0 ] && echo "audit:      verified (spamstop audit verify $run)" ||
    echo "audit:      NOT verified (exit $vrc)"
echo "run folder: $state/runs/$run (new passwords: credentials, mode 0600)"
[ "$vrc" = 0 ] || rc=$vrc
[ "${KEEP_LAB:-0}" = 1 ] && echo "lab kept: LAB_NAME=$LAB_NAME $lab down"
exit "$rc"
