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
# Sent after the part logfiles.sh (log_list, log_sources, log_grep).
# shellcheck disable=SC2154 # since, logs and cap come from the caller
umask 077
list=$(mktemp) || exit 3
trap 'rm -f "$list"' EXIT
log_list "$list"
{
    date '+now %s %z'
    log_sources "$list"
    log_grep "$list" 'sasl_username=' ' status=' |
        awk '
        {
            # the time: ISO (one field, a digit first) or syslog "Mon DD HH:MM:SS"
            if (substr($1, 1, 1) ~ /[0-9]/) { t = $1; i = 4 } else { t = $1 "_" $2 "_" $3; i = 6 }
            q = $i
            n = length(q)
            if (substr(q, n, 1) != ":") next
            q = substr(q, 1, n - 1)
            if (q == "NOQUEUE" || q ~ /[^0-9A-Za-z]/) next
            f = $(i + 1)
            if (substr(f, 1, 7) == "client=" && (p = index($0, "sasl_username=")) > 0) {
                u = substr($0, p + 14)
                if ((k = index(u, ",")) > 0) u = substr(u, 1, k - 1)
                if ((k = index(u, " ")) > 0) u = substr(u, 1, k - 1)
                a = index(f, "[")
                ip = a > 0 ? substr(f, a + 1, index(f, "]") - a - 1) : "-"
                if (u != "") print "A", t, q, u, ip
            } else if ((p = index($0, " status=")) > 0) {
                s = substr($0, p + 8, 12)
                if ((k = index(s, " ")) > 0) s = substr(s, 1, k - 1)
                if ((k = index(s, ",")) > 0) s = substr(s, 1, k - 1)
                print "S", t, q, s
            }
        }'
    echo end
} | head -c "$cap"
