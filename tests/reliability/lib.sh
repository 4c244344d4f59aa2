# Shared by tests/e2e/rel_*.sh (sourced, not a test itself): the lab's
# environment, a scratch folder, checks, and host snapshots that compare
# queues by Message-ID.
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SPAMSTOP=${SPAMSTOP:-${BUILD_DIR:-$SOURCE_DIR/build}/spamstop}
LAB=$SOURCE_DIR/tests/lab/lab.sh
PY=/usr/bin/python3
# shellcheck disable=SC1090
. "$("$LAB" env)"
TMP=$(mktemp -d /tmp/spamstop-rel.XXXXXX)
chmod 700 "$TMP"
T0=$(date +%s.%N)
FULL=${SPAMSTOP_FULL:-0}

# shellcheck disable=SC1091
. "$SOURCE_DIR/tests/e2e/lib/check.sh"
# Seconds since the test started.
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
finish() {
    echo "# $(basename "$0"): $(elapsed) s"
    if ((fails > 0)); then
        echo "$fails check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed"
}

# Extra cleanup steps a test registers; run in reverse at exit.
cleanups=()
at_exit() { cleanups+=("$1"); }
rel_cleanup() {
    local i
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" || true; done
    for h in $LAB_HOSTS; do "$LAB" clear "$h" >/dev/null 2>&1 || true; done
    if [[ ${REL_KEEP:-0} == 1 ]]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap rel_cleanup EXIT
# Whether scenario NAME runs (env REL_ONLY: a space-separated list).
want() { [[ -z ${REL_ONLY:-} || " $REL_ONLY " == *" $1 "* ]]; }

# spamstop CMD with the lab's ssh settings and state folder $SD.
ss() {
    "$SPAMSTOP" "$1" -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$SD" "${@:2}"
}
# The newest run id in $SD.
run_id() { ls -t "$SD/runs" 2>/dev/null | head -1; }
# A field of a run's run.json: jget RUN 'o["host_states"]["h1"]'.
jget() {
    "$PY" -c 'import json, sys
o = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$SD/runs/$1/run.json" "$2" 2>/dev/null || echo "?"
}
# A staged account's original password.
old_pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$LAB_PASSWORDS"; }
# The last new password of ACCOUNT on HOST in a run's credentials file.
new_pw() { awk -v h="$2" -v a="$3@example.test" '$1 == h && $2 == a { p = $3 } END { print p }' "$SD/runs/$1/credentials"; }
# SMTP AUTH as USER with PASS on HOST: exit 0 accepted.
auth() { "$LAB" auth "$1" "$2" "$3" >/dev/null 2>&1; }

# Sets a host back to a staged queue: clear, then stage ARGS...
restage() {
    local h=$1
    shift
    "$LAB" clear "$h" >/dev/null 2>&1
    "$LAB" stage "$h" "$@" >/dev/null 2>&1
}
# The set of queued Message-IDs of a host (queue names left out).
mids() { "$LAB" state "$1" | awk '$1 == "queue" { print $3 }' | sort; }
# Message-IDs of one kind (spam, legit) in a host's stage manifest.
staged() { awk -v k="$2" '$1 == k { print $4 }' "$LAB_DIR/stage-$1.txt" | sort; }

# Checks a host is exactly as a saved `lab.sh state` dump; says what differs.
same_state() {
    local h=$1 want=$2
    "$LAB" state "$h" >"$TMP/now-$h"
    if diff "$want" "$TMP/now-$h" >"$TMP/diff-$h"; then return 0; fi
    head -8 "$TMP/diff-$h" | sed 's/^/#   /' >&2
    return 1
}

# After a rollback of a run whose commit may have run: the same Message-IDs
# as in the dump, spam only on hold, everything else in its old queue,
# Postfix running.  The users line is left out: a rollback keeps the new
# passwords (check them with pw_rotated).  NOW: a dump of the host taken
# already (default: one taken here).
restored_on_hold() {
    local h=$1 want=$2 now=${3:-} bad
    if [[ -z $now ]]; then
        now=$TMP/now-$h
        "$LAB" state "$h" >"$now"
    fi
    diff <(awk '$1 == "queue" { print $3 }' "$want" | sort) \
        <(awk '$1 == "queue" { print $3 }' "$now" | sort) >&2 || return 1
    bad=$(awk -v m="$LAB_DIR/stage-$h.txt" 'BEGIN { while ((getline l < m) > 0) { split(l, f, " "); k[f[4]] = f[1] } }
        $1 == "queue" && k[$3] == "spam" && $2 != "hold" { print "spam in " $2 ": " $3 }' "$now")
    [[ -z $bad ]] || { echo "# $bad" | head -3 >&2; return 1; }
    diff <(grep -v -e '^queue' -e '^users ' "$want") <(grep -v -e '^queue' -e '^users ' "$now") >&2 || return 1
    diff <(awk '$1 == "queue" && $3 !~ /^<spam/' "$want") \
        <(awk '$1 == "queue" && $3 !~ /^<spam/' "$now") >&2
}

# In a dump of a host (`lab.sh state`): none of its staged spam is in a
# queue Postfix delivers from (maildrop, incoming, active, deferred): it is
# on hold or gone.
spam_not_live() {
    local h=$1 now=$2 bad
    bad=$(awk -v m="$LAB_DIR/stage-$h.txt" 'BEGIN { while ((getline l < m) > 0) { split(l, f, " "); if (f[1] == "spam") s[f[4]] = 1 } }
        $1 == "queue" && ($3 in s) && $2 != "hold" { n++; if (n == 1) e = $2 " " $3 }
        END { if (n) print n " staged spam not on hold, e.g. " e }' "$now")
    [[ -z $bad ]] || { echo "# $h: $bad" >&2; return 1; }
}

# Number of lines for ACCOUNT on HOST in a run's credentials file (one per
# rotation that was started).
cred_lines() {
    [[ -f $SD/runs/$1/credentials ]] || { echo 0; return 0; }
    awk -v h="$2" -v a="$3@example.test" '$1 == h && $2 == a { n++ } END { print n + 0 }' "$SD/runs/$1/credentials"
}

# Waits until a host's Dovecot passwd-file is 1.1 s old: Dovecot re-reads
# it at most once a second, so an SMTP AUTH sooner may see the file as it
# was before its last change.
settle_users() {
    local m w
    m=$("$LAB" on "$1" stat -c %.9Y /etc/dovecot/users 2>/dev/null) || m=
    w=$(awk -v m="$m" -v n="$(date +%s.%N)" 'BEGIN { d = (m == "") ? 1.1 : m + 1.1 - n
        if (d > 1.1) d = 1.1; if (d < 0) d = 0; printf "%.3f", d }')
    sleep "$w"
}

# Over real SMTP AUTH on HOST, USER's NEW password is accepted and OLD is
# refused (a 535, not an error), once the passwd-file has settled; says
# what is wrong.
pw_rotated() {
    local h=$1 u=$2 new=$3 old=$4 rc=0 o=0
    [[ -n $new ]] || { echo "# $h: no new password of $u in the credentials file" >&2; return 1; }
    settle_users "$h"
    auth "$h" "$u" "$new" || { echo "# $h: the new password of $u is refused" >&2; rc=1; }
    "$LAB" auth "$h" "$u" "$old" >/dev/null 2>&1 || o=$?
    [[ $o == 1 ]] || { echo "# $h: the old password of $u: lab.sh auth exit $o, not 1 (refused)" >&2; rc=1; }
    return $rc
}

# As after an uninterrupted run: no staged spam left, the legitimate mail
# in its old queue, Postfix running, the Dovecot users file changed.
as_committed() {
    local h=$1 want=$2
    "$LAB" state "$h" >"$TMP/now-$h"
    if grep -qF -f <(staged "$h" spam) "$TMP/now-$h"; then
        echo "# $h: $(grep -cF -f <(staged "$h" spam) "$TMP/now-$h") spam still queued" >&2
        return 1
    fi
    diff <(grep -F -f <(staged "$h" legit) "$want") \
        <(grep -F -f <(staged "$h" legit) "$TMP/now-$h") >&2 || return 1
    grep -qx 'postfix running' "$TMP/now-$h" || { echo "# $h: postfix not running" >&2; return 1; }
    [[ $(grep '^users' "$want") != $(grep '^users' "$TMP/now-$h") ]] ||
        { echo "# $h: users file unchanged" >&2; return 1; }
}

# Lets Dovecot on a host take any byte in a user name (its default
# auth_username_chars allows only letters, digits and ".-_@").
any_user_names() {
    "$LAB" on "$1" sh -c 'grep -qx "auth_username_chars =" /etc/dovecot/dovecot.conf ||
        echo "auth_username_chars =" >>/etc/dovecot/dovecot.conf; doveadm reload; postfix reload 2>/dev/null'
    # Old smtpd processes keep their link to the old auth process: the
    # postfix reload makes new ones; the auth process restarts meanwhile.
    sleep 2
}
# Undoes any_user_names.
plain_user_names() {
    "$LAB" on "$1" sh -c 'sed -i "/^auth_username_chars =\$/d" /etc/dovecot/dovecot.conf; doveadm reload; postfix reload 2>/dev/null'
}
# Adds ACCOUNT with PASSWORD to a host's Dovecot passwd-file and, on the
# Plesk stand-in, to its store (readable) and its sasldb; both go on stdin.
# `lab.sh clear` takes them out again.
add_account() {
    local h=$1 a=$2 pw=$3 hash
    hash=$(printf '%s\n' "$pw" | openssl passwd -6 -stdin)
    printf '%s:{SHA512-CRYPT}%s\n' "$a" "$hash" | "$LAB" on "$h" sh -c 'cat >>/etc/dovecot/users'
    printf '%s %s\n' "$a" "$pw" | "$LAB" on "$h" sh -c \
        's=/var/lib/dovecot/plesk-standin; if [ -f $s/passwords ]; then cat >>$s/passwords; else cat >/dev/null; fi'
    # plesk roles: SMTP AUTH goes through Cyrus SASL's sasldb
    printf '%s\n' "$pw" | "$LAB" on "$h" sh -c \
        'd=/etc/postfix/sasl/sasldb2; if [ -f $d ]; then saslpasswd2 -p -c -f $d "$0"; else cat >/dev/null; fi' "$a"
    sleep 1.1 # Dovecot re-reads the passwd-file at most once a second.
}
# Submits N spam over SMTP AUTH as ACCOUNT (any bytes) with PASSWORD to a
# host, as `lab.sh stage` does; appends manifest lines to FILE.
stage_spam_as() {
    local h=$1 a=$2 pw=$3 n=$4 file=$5 ip
    ip=$(eval echo "\$LAB_ADDR_$h")
    STAGE_PASSWORD=$pw "$PY" "$SOURCE_DIR/tests/lab/smtp_stage.py" smtp --kind spam --server "$ip" \
        --account "$a" --count "$n" --conns 1 --sources "10.$LAB_NET.0.2 10.$LAB_NET.0.3" --host "$h" >>"$file"
}
# Waits until a host's queue holds N messages.
queue_settles() { "$LAB" on "$1" "$PY" - wait "$2" <"$SOURCE_DIR/tests/lab/lab_host.py"; }
