#!/bin/sh
# The log evidence pass (read-only): from the host's mail logs, the lines
# that say who submitted mail (sasl_username=) and what became of it
# (status=), compacted to one short record each for the controller.
# Inputs: since (epoch seconds: files last written before it are skipped),
# logs (the log files to look for, blank-separated; their rotated copies
# NAME.N, NAME.N.gz and NAME-YYYYMMDD[.gz] are read too), cap (bytes of
# output at most).
# Output: "now EPOCH OFFSET" (the host's clock and its UTC offset, +HHMM,
# for the syslog times that have neither year nor zone), "source PATH" for
# each file read (or "source journald"), then
# records "A TIME QID USER IP" (an authenticated submission) and
# "S TIME QID STATUS" (a delivery attempt: sent, deferred, bounced, ...),
# TIME as the log wrote it with blanks made '_', then "end". Output cut at
# cap has no "end". Exit 0, also when there is no log at all.
# shellcheck disable=SC2154 # since, logs and cap come from the caller
umask 077
list=$(mktemp) || exit 3
trap 'rm -f "$list"' EXIT
for f in $logs; do
    d=${f%/*} b=${f##*/}
    [ -d "$d" ] || continue
    find "$d" -maxdepth 1 -type f \( -name "$b" -o -name "$b.[0-9]*" \
        -o -name "$b-[0-9]*" \) -newermt "@$since" 2>/dev/null
done | while IFS= read -r f; do
    # Plesk's maillog may be a link to /var/log/maillog: read a file once
    readlink -f -- "$f"
done | sort -u >"$list"
{
    date '+now %s %z'
    if [ -s "$list" ]; then
        sed 's/^/source /' "$list"
    elif command -v journalctl >/dev/null 2>&1; then
        echo "source journald"
    fi
    if [ -s "$list" ]; then
        tr '\n' '\0' <"$list" | xargs -0 zcat -f --
    elif command -v journalctl >/dev/null 2>&1; then
        journalctl -q --no-pager -o short-iso SYSLOG_FACILITY=2 \
            --since "@$since" 2>/dev/null
    fi | grep -F -e 'sasl_username=' -e ' status=' |
        awk '
        {
            # the time: ISO (one field) or syslog "Mon DD HH:MM:SS"
            if ($1 ~ /^[0-9][0-9][0-9][0-9]-/) { t = $1; i = 3 }
            else { t = $1 "_" $2 "_" $3; i = 5 }
            q = $(i + 1); sub(/:$/, "", q)
            if (q !~ /^[0-9A-Za-z]+$/ || q == "NOQUEUE") next
            if ((p = index($0, "sasl_username=")) > 0) {
                u = substr($0, p + 14); sub(/[ ,].*/, "", u)
                ip = "-"
                if ((c = index($0, "client=")) > 0) {
                    ip = substr($0, c + 7); sub(/[],].*/, "", ip)
                    sub(/^[^[]*\[/, "", ip)
                }
                if (u != "") print "A", t, q, u, ip
            } else if ((p = index($0, " status=")) > 0) {
                s = substr($0, p + 8); sub(/[ ,].*/, "", s)
                print "S", t, q, s
            }
        }'
    echo end
} | head -c "$cap"
