#!/bin/bash
# e2e: the crash matrix of the default playbook on one lab host (h2).  The
# controller dies by SIGKILL at journal write N (test hook
# SPAMSTOP_TEST_CRASH_AT, docs/reliability.md): "N" before the write, "N+"
# after it, "N~" with half of it written.  Fail safe means contained
# (docs/decisions.md): right after the crash the spam of a hold that ran is
# not queued for delivery; then `rollback` must give the mail back as
# before the run (before the purge's commit: exactly, held mail released;
# after it: the same Message-IDs, the spam on hold) with Postfix running,
# but keep the new password of a rotation that ran (the stolen one stays
# refused over SMTP AUTH); or `resume` must reach the state of an
# uninterrupted run (spam gone, legit mail kept, only the last new password
# works, a rotation journaled done not repeated).
# Short form (CI): with rollback, the crash just after each intent (the
# change is about to be sent) and just before each done/commit-done (the
# change was made, not recorded); resume after the rotate intent, before
# the hold's done (the hold made, not recorded) and after the first
# commit-intent.  SPAMSTOP_REL_POSITIONS="3+:rollback 9:resume ..."
# picks positions.
# SPAMSTOP_FULL=1: every position in all three variants, each with rollback
# and with resume.
. "$(dirname "$0")/../reliability/lib.sh"
H=h2
U=dave
STAGE=(--spam "$U:60" --legit 5)

restage "$H" "${STAGE[@]}"
"$LAB" state "$H" >"$TMP/before"

# The uninterrupted run: how many journal writes it makes on the host.
SD=$TMP/sd-ref
ss respond --yes "$H" >"$TMP/ref.out" 2>&1 || fail "uninterrupted run failed: $(tail -3 "$TMP/ref.out")"
R=$(run_id)
W=$(wc -l <"$SD/runs/$R/journal/$H.jsonl")
check "uninterrupted run commits ($W journal writes)" as_committed "$H" "$TMP/before"
check "uninterrupted run: the new password works, the stolen one is refused" \
    pw_rotated "$H" $U "$(new_pw "$R" "$H" $U)" "$(old_pw $U)"
[[ $W -ge 15 ]] || fail "only $W journal writes in the uninterrupted run"
J=$SD/runs/$R/journal/$H.jsonl
# The write (= line, = seq) of the first record matching a pattern.
at() { grep -n -E "$1" "$J" | head -1 | cut -d: -f1; }
# A step's index in the journal, from its intent.
step_of() { grep -o -E "\"type\":\"intent\",\"step\":[0-9]+,\"name\":\"$1\"" "$J" | head -1 | grep -o -E '[0-9]+'; }
rs=$(step_of rotate)
ps=$(step_of purge)
[[ -n $rs && -n $ps ]] || fail "no rotate or purge intent in the uninterrupted run's journal"
rotate_intent=$(at "\"type\":\"intent\",\"step\":$rs,")
rotate_done=$(at "\"type\":\"done\",\"step\":$rs,")
purge_intent=$(at "\"type\":\"intent\",\"step\":$ps,")
purge_done=$(at "\"type\":\"done\",\"step\":$ps,")
committed_at=$(at '"type":"commit-intent"')
purge_ci=$(at "\"type\":\"commit-intent\",\"step\":$ps,")
echo "# writes: rotate $rotate_intent/$rotate_done, hold $purge_intent/$purge_done, commit-intents $committed_at..$purge_ci"
# The writes after which the host is sent a change: intents.
intents=" $(grep -n -E '"type":"(intent|commit-intent)"' "$J" | cut -d: -f1 | tr '\n' ' ')"
# The writes just after a change was made on the host: its outcome.
outcomes=" $(grep -n -E '"type":"(done|commit-done)"' "$J" | cut -d: -f1 | tr '\n' ' ')"
restage "$H" "${STAGE[@]}"
"$LAB" state "$H" >"$TMP/before"
# The account's password before the run ($LAB_PASSWORDS' after a restage).
cur_pw=$(old_pw $U)

# Position list "SPEC ACTION" for this run's form.
cases=()
for ((n = 1; n <= W; n++)); do
    if [[ $FULL == 1 ]]; then
        cases+=("$n rollback" "$n+ rollback" "$n~ rollback" "$n resume" "$n+ resume" "$n~ resume")
        continue
    fi
    [[ $outcomes == *" $n "* ]] && cases+=("$n rollback")
    [[ $intents == *" $n "* ]] && cases+=("$n+ rollback")
    [[ $n == "$purge_done" ]] && cases+=("$n resume")
    [[ $n == "$rotate_intent" || $n == "$committed_at" ]] && cases+=("$n+ resume")
done

if [[ -n ${SPAMSTOP_REL_POSITIONS:-} ]]; then
    cases=()
    for c in $SPAMSTOP_REL_POSITIONS; do cases+=("${c%%:*} ${c#*:}"); done
fi

# The journal records a rollback of this run wrote from line FROM on that
# changed something on the host (undone, uncommitted) or failed to.
changes_from() { tail -n +"$2" "$SD/runs/$1/journal/$H.jsonl" | grep -c -E '"type":"(undone|uncommitted|undo-failed|uncommit-failed)"' || true; }

dirty=0
covered=0
for c in "${cases[@]}"; do
    read -r spec action <<<"$c"
    n=${spec%[+~]}
    if ((dirty)); then
        restage "$H" "${STAGE[@]}"
        "$LAB" state "$H" >"$TMP/before"
        cur_pw=$(old_pw $U)
        dirty=0
    fi
    # What had happened on the host when the controller died: the host is
    # sent a step's change after its intent write is durable, so it ran
    # when the crash came at a later write.
    rotated=0 held=0 purge_committed=0 rotate_recorded=0
    ((n > rotate_intent)) && rotated=1
    ((n > purge_intent)) && held=1
    [[ $n -gt $purge_ci || ($n == "$purge_ci" && $spec == "$n+") ]] && purge_committed=1
    [[ $n -gt $rotate_done || ($n == "$rotate_done" && $spec == "$n+") ]] && rotate_recorded=1
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
    # The controller is dead: a hold that ran keeps the spam out of the
    # queues Postfix delivers from, whatever the dead-man timer does.
    if ((held)); then
        "$LAB" state "$H" >"$TMP/crashed"
        check "[$spec] after the crash the held spam is not queued for delivery" spam_not_live "$H" "$TMP/crashed"
    fi
    # A rotation that ran has its password in the credentials file (written
    # before the password is set); one that did not, none.
    k=$(cred_lines "$R" "$H" $U)
    if ((rotated ? k != 1 : k != 0)); then
        fail "[$spec] $k credentials line(s) of $U after the crash, rotation ran: $rotated"
        dirty=1
    fi
    new=$(new_pw "$R" "$H" $U 2>/dev/null || true)
    jl=$(wc -l <"$SD/runs/$R/journal/$H.jsonl")
    rc=0
    ss "$action" --yes "$R" >"$TMP/act.out" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        fail "[$spec $action] exit $rc: $(tail -3 "$TMP/act.out" | tr '\n' ' ')"
        dirty=1
        continue
    fi
    if [[ $action == rollback ]]; then
        "$LAB" state "$H" >"$TMP/rb"
        if ! grep -qx 'postfix running' "$TMP/rb"; then
            fail "[$spec rollback] postfix not running after the rollback"
            dirty=1
        fi
        # The mail: before the purge's commit may have run (its intent not
        # durable: "N" and the torn "N~") the queues are exactly as before
        # (held mail released); after it the deleted spam is back on hold.
        if ((purge_committed)); then
            dirty=1
            check "[$spec rollback] $H: same Message-IDs, spam on hold, legit mail as before" \
                restored_on_hold "$H" "$TMP/before" "$TMP/rb"
        elif diff <(grep -v '^users ' "$TMP/before") <(grep -v '^users ' "$TMP/rb") >"$TMP/diff"; then
            pass "[$spec rollback] $H: every message as before (held mail released), postfix running"
        else
            head -6 "$TMP/diff" | sed 's/^/#   /' >&2
            fail "[$spec rollback] $H: the queues differ from before"
            dirty=1
        fi
        # The password: a rollback never gives the stolen one back.
        if ((rotated)); then
            if pw_rotated "$H" $U "$new" "$cur_pw"; then
                pass "[$spec rollback] the new password of $U stays, the stolen one is refused"
            else
                fail "[$spec rollback] the stolen password of $U works again or the new one does not"
                dirty=1
            fi
        elif [[ $(grep '^users ' "$TMP/before") == $(grep '^users ' "$TMP/rb") ]]; then
            pass "[$spec rollback] no rotation ran: $U's password unchanged"
        else
            fail "[$spec rollback] the users file changed though no rotation ran"
            dirty=1
        fi
        # Again: nothing changes on the host.  (A kept password is kept
        # again, so that is not always 'nothing-to-do'.)
        jl=$(wc -l <"$SD/runs/$R/journal/$H.jsonl")
        out=$(ss rollback --yes "$R" 2>&1) || fail "[$spec] second rollback: $out"
        if ! grep -q '"type":"kept"' "$SD/runs/$R/journal/$H.jsonl"; then
            grep -q nothing-to-do <<<"$out" || fail "[$spec] second rollback did something: $out"
        fi
        m=$(changes_from "$R" $((jl + 1)))
        [[ $m == 0 ]] || fail "[$spec] second rollback journaled $m change(s)"
        if ! same_state "$H" "$TMP/rb"; then
            fail "[$spec] second rollback changed $H"
            dirty=1
        fi
        # Held mail released, the same password: the next crash run can
        # start from here (its stolen password being this one).
        if ((!dirty)); then
            cp "$TMP/rb" "$TMP/before"
            ((rotated)) && cur_pw=$new
        fi
    else
        dirty=1
        if as_committed "$H" "$TMP/before"; then
            pass "[$spec resume] $H as after an uninterrupted run"
        else
            fail "[$spec resume] $H not as after an uninterrupted run"
        fi
        p=$(new_pw "$R" "$H" $U)
        if pw_rotated "$H" $U "$p" "$cur_pw"; then
            pass "[$spec resume] the last new password of $U works, the stolen one is refused"
        else
            fail "[$spec resume] the last new password of $U does not work or the stolen one does"
        fi
        # A rotation journaled done is kept, not repeated (a second one
        # would hand out another password); one that ran unrecorded is run
        # again, and then the first new password must not work either.
        k=$(cred_lines "$R" "$H" $U)
        if ((rotate_recorded)); then
            [[ $k == 1 ]] || fail "[$spec resume] the recorded rotation ran again ($k credentials lines)"
        elif ((rotated)) && [[ $k -gt 1 && $new != "$p" ]]; then
            auth "$H" $U "$new" && fail "[$spec resume] the first new password of $U still works"
        fi
    fi
    echo "# [$spec $action] $(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
done
echo "# $covered crash runs over $W journal write positions (form: $([[ $FULL == 1 ]] && echo full || echo short))"
finish
