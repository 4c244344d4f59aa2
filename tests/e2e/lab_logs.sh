#!/bin/bash
# e2e: every lab host logs its mail where a real server of its kind does:
# Debian (plain) /var/log/mail.log, RHEL/Plesk (plesk roles)
# /var/log/maillog with Plesk's /usr/local/psa/var/log/maillog, both
# written by the host's own rsyslogd; systemd hosts journald only.  Three
# bursts with a rotation between each: the rotated files (.1, .2.gz) hold
# the earlier ones.  Each burst has mail that left (stage --sent:
# status=sent) and mail that deferred.  spamstop's log pass
# (lib/postfix/scripts/maillog.sh) reads each layout.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
# shellcheck disable=SC1090
. "$("$lab" env)"

t=lab_logs
fails=0
fail() {
    echo "$t: FAIL: $*" >&2
    fails=$((fails + 1))
}
ok() { echo "$t: ok: $*"; }
cleanup() { for h in $LAB_HOSTS; do "$lab" clear "$h" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

# The mail log text of host H in file F (zcat for .gz; "journald": the
# journal's mail facility).
log_of() {
    if [[ $2 == journald ]]; then
        "$lab" on "$1" journalctl -q --no-pager -o short -S "@$t0" SYSLOG_FACILITY=2
    else
        "$lab" on "$1" zcat -f -- "$2"
    fi
}
# Waits up to 10 s until host H's log F has at least N lines matching RE.
wait_log() {
    local i
    for ((i = 0; i < 100; i++)); do
        (($(log_of "$1" "$2" 2>/dev/null | grep -cE -- "$3" || true) >= $4)) && return 0
        sleep 0.1
    done
    return 1
}
# Number of lines of TEXT matching RE.
count() { grep -cE -- "$2" <<<"$1" || true; }

# One burst on H as USER: 3 messages that defer, 2 that leave; waits
# until log F shows both kinds for it.
burst() {
    local h=$1 f=$2 u=$3
    local out
    out=$("$lab" stage "$h" --spam "$u:3" --sent "$u:2" 2>&1) || {
        fail "$h: stage as $u: $out"
        return 0
    }
    wait_log "$h" "$f" "sasl_username=$u@" 5 &&
        wait_log "$h" "$f" "status=sent" "$4" ||
        fail "$h: burst of $u not in $f: $(log_of "$h" "$f" | tail -3)"
}

for h in $LAB_HOSTS; do
    role=LAB_ROLE_$h
    role=${!role}
    case $role in
    systemd) f=journald other="/var/log/mail.log /var/log/maillog" ;;
    plesk*) f=/var/log/maillog other=/var/log/mail.log ;;
    *) f=/var/log/mail.log other=/var/log/maillog ;;
    esac
    "$lab" clear "$h"
    if [[ $f != journald ]] && ! "$lab" on "$h" test -S /run/lab-syslog/dev-log; then
        echo "$t: SKIP: $h ($role): no rsyslogd in the host (tests/install-deps.sh installs rsyslog)"
        continue
    fi
    # only this test's traffic: the journal from now on; fresh log files
    # (a rotation, its copies removed)
    sleep 1
    t0=$(date +%s)
    if [[ $f != journald ]]; then
        "$lab" rotate "$h" 2>/dev/null
        "$lab" on "$h" sh -c 'rm -f "$1".[0-9]*' _ "$f"
    fi
    # dave earlier, then erin, then alice; a rotation between bursts
    burst "$h" "$f" dave 2
    "$lab" rotate "$h" 2>/dev/null
    burst "$h" "$f" erin "$([[ $f == journald ]] && echo 4 || echo 2)"
    "$lab" rotate "$h" 2>/dev/null
    burst "$h" "$f" alice "$([[ $f == journald ]] && echo 6 || echo 2)"

    now=$(log_of "$h" "$f")
    (($(count "$now" 'sasl_username=alice@') == 5)) || fail "$h: $f lacks alice's 5 submissions"
    (($(count "$now" ' status=sent ') >= 2)) || fail "$h: $f has no status=sent"
    (($(count "$now" ' status=deferred ') >= 3)) || fail "$h: $f has no status=deferred"
    grep -qE 'relay=[0-9.]+\[[0-9.]+\]:2525, .* status=sent' <<<"$now" ||
        fail "$h: the sent mail did not go to the lab's sink"
    for x in $other; do
        "$lab" on "$h" test -e "$x" && fail "$h ($role): $x exists"
    done
    if [[ $f == journald ]]; then
        for u in dave erin; do
            (($(count "$now" "sasl_username=$u@") == 5)) || fail "$h: the journal lacks $u's burst"
        done
        "$lab" on "$h" systemctl is-active --quiet systemd-journald.service ||
            fail "$h: journald is not active"
        [[ $("$lab" on "$h" readlink /dev/log) == /run/systemd/journal/dev-log ]] ||
            fail "$h: /dev/log does not lead to journald"
        ok "$h ($role): journald only, 3 bursts, sasl_username, status=sent and deferred"
    else
        one=$(log_of "$h" "$f.1")
        two=$(log_of "$h" "$f.2.gz")
        (($(count "$one" 'sasl_username=erin@') == 5)) && ! grep -q 'sasl_username=alice@' <<<"$one" ||
            fail "$h: $f.1 does not hold the second burst alone"
        (($(count "$two" 'sasl_username=dave@') == 5 && $(count "$two" ' status=sent ') >= 2)) ||
            fail "$h: $f.2.gz does not hold the first burst"
        grep -q 'sasl_username=dave@' <<<"$now$one" && fail "$h: the first burst is not only in $f.2.gz"
        if [[ $role == plesk* ]]; then
            [[ $(log_of "$h" /usr/local/psa/var/log/maillog) == "$now" ]] ||
                fail "$h: /usr/local/psa/var/log/maillog is not /var/log/maillog"
        fi
        [[ $("$lab" on "$h" sh -c 'cat /proc/$(cat /run/rsyslogd.pid)/comm') == rsyslogd ]] ||
            fail "$h: no rsyslogd in the host"
        ok "$h ($role): $f (rsyslogd), $f.1 and $f.2.gz hold earlier bursts, status=sent and deferred"
    fi

    # spamstop's log pass on this layout: each source once, the three
    # accounts' submissions and both outcomes.
    out=$({
        printf "since=%s\nlogs='/var/log/mail.log /var/log/maillog /usr/local/psa/var/log/maillog'\n" "$t0"
        printf 'cap=4000000\n'
        cat "$src/lib/postfix/scripts/logfiles.sh" "$src/lib/postfix/scripts/maillog.sh"
    } | "$lab" on "$h" sh -s)
    want_src=$([[ $f == journald ]] && echo 1 || echo 3)
    (($(count "$out" '^source ') == want_src)) || fail "$h: log pass sources: $(grep '^source' <<<"$out")"
    for u in dave erin alice; do
        (($(count "$out" "^A .* $u@example.test ") == 5)) || fail "$h: log pass: not 5 submissions of $u"
    done
    (($(count "$out" '^S .* sent$') >= 6 && $(count "$out" '^S .* deferred$') >= 9)) &&
        tail -1 <<<"$out" | grep -qx end || fail "$h: log pass: outcomes or end missing"
    ok "$h ($role): spamstop's log pass reads $want_src source(s): 3 accounts, sent and deferred"
    "$lab" clear "$h"
done
((fails == 0)) || exit 1
echo "$t: all checks passed"
