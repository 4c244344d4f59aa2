#!/bin/bash
# e2e: the crash matrix of the default playbook on one lab host (h2).  The
# controller dies by SIGKILL at journal write N (test hook
# SPAMSTOP_TEST_CRASH_AT, docs/reliability.md): "N" before the write, "N+"
# after it, "N~" with half of it written.  Then `rollback` must give back
# the host as before the run (before the commit: exactly; after it: the same
# Message-IDs, the spam on hold), or `resume` must reach the state of an
# uninterrupted run (spam gone, legit mail kept, the new password works).
# Short form (CI): with rollback, the crash just after each intent (the
# change is about to be sent) and just before each done/commit-done (the
# change was made, not recorded); resume after the rotate intent and after
# the commit-intent.  SPAMSTOP_REL_POSITIONS="3+:rollback 9:resume ..."
# picks positions.
# SPAMSTOP_FULL=1: every position in all three variants, each with rollback
# and with resume.
. "$(dirname "$0")/../reliability/lib.sh"
H=h2
STAGE=(--spam dave:60 --legit 5)

restage "$H" "${STAGE[@]}"
"$LAB" state "$H" >"$TMP/before"

# The uninterrupted run: how many journal writes it makes on the host.
SD=$TMP/sd-ref
ss respond --yes "$H" >"$TMP/ref.out" 2>&1 || fail "uninterrupted run failed: $(tail -3 "$TMP/ref.out")"
R=$(run_id)
W=$(wc -l <"$SD/runs/$R/journal/$H.jsonl")
check "uninterrupted run commits ($W journal writes)" as_committed "$H" "$TMP/before"
[[ $W -ge 15 ]] || fail "only $W journal writes in the uninterrupted run"
J=$SD/runs/$R/journal/$H.jsonl
committed_at=$(grep -n '"type":"commit-intent"' "$J" | head -1 | cut -d: -f1)
rotate_intent=$(grep -n '"type":"intent".*"name":"rotate"' "$J" | head -1 | cut -d: -f1)
# The writes after which the host is sent a change: intents.
intents=" $(grep -n -E '"type":"(intent|commit-intent)"' "$J" | cut -d: -f1 | tr '\n' ' ')"
# The writes just after a change was made on the host: its outcome.
outcomes=" $(grep -n -E '"type":"(done|commit-done)"' "$J" | cut -d: -f1 | tr '\n' ' ')"
restage "$H" "${STAGE[@]}"
"$LAB" state "$H" >"$TMP/before"

# Position list "SPEC ACTION" for this run's form.
cases=()
for ((n = 1; n <= W; n++)); do
    if [[ $FULL == 1 ]]; then
        cases+=("$n rollback" "$n+ rollback" "$n~ rollback" "$n resume" "$n+ resume" "$n~ resume")
        continue
    fi
    [[ $outcomes == *" $n "* ]] && cases+=("$n rollback")
    [[ $intents == *" $n "* ]] && cases+=("$n+ rollback")
    [[ $n == "$rotate_intent" || $n == "$committed_at" ]] && cases+=("$n+ resume")
done

if [[ -n ${SPAMSTOP_REL_POSITIONS:-} ]]; then
    cases=()
    for c in $SPAMSTOP_REL_POSITIONS; do cases+=("${c%%:*} ${c#*:}"); done
fi

dirty=0
covered=0
for c in "${cases[@]}"; do
    read -r spec action <<<"$c"
    n=${spec%[+~]}
    if ((dirty)); then
        restage "$H" "${STAGE[@]}"
        "$LAB" state "$H" >"$TMP/before"
        dirty=0
    fi
    t1=$(date +%s.%N)
    SD=$TMP/sd-$covered
    mkdir -m 700 "$SD"
    rc=0
    SPAMSTOP_TEST_CRASH_AT=$spec SPAMSTOP_TEST_CRASH_HOST=$H \
        ss respond --yes "$H" >"$TMP/crash.out" 2>&1 || rc=$?
    covered=$((covered + 1))
    if [[ $rc != 137 ]]; then
        fail "[$spec] respond did not die by SIGKILL (exit $rc)"
        dirty=1
        continue
    fi
    R=$(run_id)
    if [[ -z $R ]]; then
        fail "[$spec] no run folder"
        continue
    fi
    rc=0
    ss "$action" --yes "$R" >"$TMP/act.out" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        fail "[$spec $action] exit $rc: $(tail -3 "$TMP/act.out" | tr '\n' ' ')"
        dirty=1
        continue
    fi
    if [[ $action == rollback ]]; then
        # Before the commit may have run (its intent not durable: "N" and
        # the torn "N~") the host is exactly as before; after it the purged
        # spam is back on hold.
        if [[ $n -lt $committed_at || ($n == "$committed_at" && $spec != "$n+") ]]; then
            if same_state "$H" "$TMP/before"; then
                pass "[$spec rollback] $H exactly as before"
            else
                fail "[$spec rollback] $H differs from before"
                dirty=1
            fi
        else
            dirty=1
            check "[$spec rollback] $H: same Message-IDs, spam on hold, old hash" \
                restored_on_hold "$H" "$TMP/before"
        fi
        out=$(ss rollback --yes "$R" 2>&1) || fail "[$spec] second rollback: $out"
        grep -q nothing-to-do <<<"$out" || fail "[$spec] second rollback did something: $out"
    else
        dirty=1
        if as_committed "$H" "$TMP/before"; then
            sleep 1.1 # Dovecot re-reads its passwd-file at most once a second
            p=$(new_pw "$R" "$H" dave)
            if auth "$H" dave "$p" && ! auth "$H" dave "$(old_pw dave)"; then
                pass "[$spec resume] $H as after an uninterrupted run, new password works"
            else
                fail "[$spec resume] the new password of dave does not work or the old one does"
            fi
        else
            fail "[$spec resume] $H not as after an uninterrupted run"
        fi
    fi
    echo "# [$spec $action] $(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
done
echo "# $covered crash runs over $W journal write positions (form: $([[ $FULL == 1 ]] && echo full || echo short))"
finish
