#!/bin/bash
# Manual: valgrind memcheck on a full `respond --dry-run` against the lab
# (h1 and h2 staged with a suspect, h3 clean).  Exit 0 only with no memory
# error and no definite or indirect leak.  Usage (lab up):
#   LAB_NAME=sslab SPAMSTOP=build/spamstop tests/reliability/valgrind_dry_run.sh
. "$(dirname "$0")/lib.sh"
SD=$TMP/state
mkdir -m 700 "$SD"
restage h1 --spam alice:60 --legit 3
restage h2 --spam dave:60 --legit 3
rc=0
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
    --log-file="$TMP/vg.log" "$SPAMSTOP" respond --dry-run -F "$LAB_SSH_CONFIG" \
    --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$SD" $LAB_HOSTS >"$TMP/out" 2>&1 || rc=$?
grep -E 'ERROR SUMMARY|in use at exit|total heap usage|definitely|indirectly|possibly' "$TMP/vg.log"
check "memcheck: dry-run exit 0, no error, no leak (exit $rc)" test "$rc" = 0
check "the dry-run reached every host" grep -q 'nothing changed (exit 0)' "$TMP/out"
finish
