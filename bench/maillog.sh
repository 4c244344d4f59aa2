#!/bin/bash
# The log evidence pass against its floor (issue 21: at most 1.25x): the
# same mail logs read by lib/postfix/scripts/maillog.sh, as spamstop sends
# it, and by `zcat -f | grep -c sasl_username=`, the count an admin types.
# Synthetic Debian-style logs: LINES lines in mail.log, the same again in
# mail.log.1 and gzipped in mail.log.2.gz; each message takes the 7 lines
# Postfix logs for an authenticated submission relayed to one recipient
# (connect, client with sasl_username, cleanup, qmgr from, smtp status,
# removed, disconnect).
# The pass reads the two kinds of lines at once: its time depends on the
# CPUs free (the CPU count and the load are printed with the result).
# usage: bench/maillog.sh [LINES] [RUNS]   (defaults 1000000 and 5)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
lines=${1:-1000000}
runs=${2:-5}
tmp=$(mktemp -d /tmp/ss-bench-maillog.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

awk -v n="$lines" 'BEGIN {
    # a message is 7 lines, as Postfix logs an authenticated submission
    # relayed to one recipient
    for (i = 0; i * 7 < n; i++) {
        q = sprintf("%X", 1048576 + i)
        t = sprintf("Dec  5 08:%02d:%02d mx", i / 60 % 60, i % 60)
        c = sprintf("c%d[10.%d.%d.%d]", i % 77, i % 200, i % 50, i % 9)
        printf "%s postfix/submission/smtpd[%d]: connect from %s\n", t, i % 999, c
        printf "%s postfix/submission/smtpd[%d]: %s: client=%s, sasl_method=PLAIN, sasl_username=u%d@example.test\n", t, i % 999, q, c, i % 500
        printf "%s postfix/cleanup[%d]: %s: message-id=<%d@example.test>\n", t, i % 99, q, i
        printf "%s postfix/qmgr[9]: %s: from=<u%d@example.test>, size=%d, nrcpt=1 (queue active)\n", t, q, i % 500, 1000 + i % 5000
        printf "%s postfix/smtp[%d]: %s: to=<r%d@remote.test>, relay=mx.remote.test[10.1.1.1]:25, delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABC)\n", t, i % 999, q, i
        printf "%s postfix/qmgr[9]: %s: removed\n", t, q
        printf "%s postfix/submission/smtpd[%d]: disconnect from %s ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8\n", t, i % 999, c
    } }' >"$tmp/mail.log"
cp "$tmp/mail.log" "$tmp/mail.log.1"
gzip -c "$tmp/mail.log" >"$tmp/mail.log.2.gz"
{
    printf 'since=0\nlogs=%s\ncap=%s\n' "'$tmp/mail.log'" 1073741824
    cat "$src/cmake/script-preamble.sh" "$src/lib/postfix/scripts/logfiles.sh" \
        "$src/lib/postfix/scripts/maillog.sh"
} >"$tmp/pass.sh"

# best of RUNS wall times, in seconds
best() {
    local b=999999 s e t
    for _ in $(seq "$runs"); do
        s=$(date +%s.%N)
        "$@" >/dev/null
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc)
        b=$(echo "if ($t < $b) $t else $b" | bc)
    done
    echo "$b"
}
floor() { zcat -f "$tmp/mail.log" "$tmp/mail.log.1" "$tmp/mail.log.2.gz" | LC_ALL=C grep -c sasl_username=; }
pass() { sh "$tmp/pass.sh"; }
f=$(best floor)
p=$(best pass)
records=$(pass | grep -c '^[AS] ')
bytes=$(cat "$tmp/mail.log" "$tmp/mail.log.1" | wc -c)
printf 'maillog: %d lines x 3 files (%d MB plain + gz), %d records out; %d CPUs, load %s\n' \
    "$lines" $((bytes / 1000000)) "$records" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
printf 'maillog: floor (zcat -f | grep -c) %.3f s, pass %.3f s: %.2fx (target <= 1.25x)\n' \
    "$f" "$p" "$(echo "$p / $f" | bc -l)"
