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
# TIME as the log wrote it with blanks made '_', then "end". Records of
# one kind come in the order of the log; the kinds do not: the plain
# files' A records, their S records, then the compressed files' (the
# controller joins them by queue id, where only the order within a kind
# counts). Output cut at cap, or not all written, has no "end". Exit 0,
# also when there is no log at all.
# The plain files are read twice at once, once per kind: grep of one
# fixed string is several times faster than of two, and each kind's awk
# runs beside the other's and beside zcat of the compressed files.
# Sent after the part logfiles.sh (log_list, log_sources, log_plain,
# log_packed, log_grep).
# shellcheck disable=SC2154 # since, logs and cap come from the caller
umask 077
t=$(mktemp -d) || exit 3
trap 'rm -rf "$t"' EXIT
# A line to a record of kind k (A, S, or either when empty), or none.
# The time: ISO (one field, a digit first) or syslog "Mon DD HH:MM:SS".
# A line that makes an A record (client= and sasl_username=) makes no S
# record. mawk spends on each call about what it spends on splitting the
# line into fields: a line takes only the few calls its kind needs.
# shellcheck disable=SC2016 # awk's $, not the shell's
prog='
{
    if ($1 ~ /^[0-9]/) { t = $1; q = $4; f = $5 } else { t = $1 "_" $2 "_" $3; q = $6; f = $7 }
    if (q !~ /^[0-9A-Za-z]*:$/ || q == "NOQUEUE:") next
    if (f ~ /^client=/ && (p = index($0, "sasl_username=")) > 0) {
        if (k == "S") next
        u = substr($0, p + 14)
        if ((p = index(u, ",")) > 0) u = substr(u, 1, p - 1)
        if ((p = index(u, " ")) > 0) u = substr(u, 1, p - 1)
        if (u == "") next
        ip = (p = index(f, "[")) > 0 ? substr(f, p + 1, index(f, "]") - p - 1) : "-"
        print "A", t, substr(q, 1, length(q) - 1), u, ip
    } else if (k != "A" && (p = index($0, " status=")) > 0) {
        s = substr($0, p + 8, 12)
        if ((p = index(s, " ")) > 0) s = substr(s, 1, p - 1)
        if ((p = index(s, ",")) > 0) s = substr(s, 1, p - 1)
        print "S", t, substr(q, 1, length(q) - 1), s
    }
}'

# records [KIND]: the records of one kind (A or S; both without one) from
# the log lines on stdin.
records() {
    awk -v k="$1" "$prog"
}

submitted='sasl_username=' tried=' status='
log_list "$t/list"
{
    date '+now %s %z'
    log_sources "$t/list"
    ok=0
    if [ -s "$t/list" ]; then
        # three at once, the slowest (zcat) first, the last to stdout
        packed=
        while IFS= read -r f; do
            case $f in *.gz) packed=1 ;; esac
        done <"$t/list"
        if [ -n "$packed" ]; then
            log_packed "$t/list" | grep -F -e "$submitted" -e "$tried" |
                records | head -c "$cap" >"$t/3" &
            packed=$!
        fi
        log_plain "$t/list" grep -h -F -e "$tried" -- | records S |
            head -c "$cap" >"$t/2" &
        plain=$!
        log_plain "$t/list" grep -h -F -e "$submitted" -- | records A
        wait "$plain" || ok=1
        [ -z "$packed" ] || wait "$packed" || ok=1
        cat "$t/2"
        [ -z "$packed" ] || cat "$t/3"
    else
        log_grep "$t/list" "$submitted" "$tried" | records
    fi
    [ "$ok" != 0 ] || echo end
} | head -c "$cap"
