#!/bin/sh
# The log watch after a rotation (read-only): the successful logins of
# the given accounts in the host's mail logs, from the files written
# since the rotation (the same files as maillog.sh: whichever of Debian's,
# RHEL's and Plesk's exist, else journald's mail facility).  A login is a
# Postfix smtpd line "client=...[IP], ... sasl_username=ADDR" (mail
# submitted after AUTH) or a Dovecot line "SERVICE-login: Login:
# user=<ADDR>, ..., rip=IP" (IMAP/POP).
# Inputs: since (epoch seconds: files last written before it are skipped),
# logs (the log files, blank-separated; rotated copies read too), cap
# (bytes of output at most).  Stdin: the accounts, one a line (matched
# without regard to case).
# Output: "now EPOCH OFFSET", "source PATH" per file read (or "source
# journald"), then "L TIME SERVICE ACCOUNT IP" per login (TIME as the log
# wrote it, blanks made '_'; SERVICE smtp, imap, pop3...; ACCOUNT as given
# on stdin; IP "-" when the line names none), then "end".  Output cut at
# cap has no "end".  Exit 0, also when there is no log at all.
# Sent after the part logfiles.sh (log_list, log_sources, log_grep).
# shellcheck disable=SC2154 # since, logs and cap come from the caller
umask 077
t=$(mktemp -d) || exit 3
trap 'rm -rf "$t"' EXIT
cat >"$t/accounts"
log_list "$t/list"
{
    date '+now %s %z'
    log_sources "$t/list"
    log_grep "$t/list" 'sasl_username=' 'Login: user=<' |
        awk -v list="$t/accounts" '
        BEGIN {
            while ((getline a < list) > 0)
                if (a != "") want[tolower(a)] = a
        }
        {
            if (substr($1, 1, 1) ~ /[0-9]/) t = $1; else t = $1 "_" $2 "_" $3
            if ((p = index($0, "sasl_username=")) > 0 && index($0, " client=") > 0) {
                u = substr($0, p + 14)
                if ((k = index(u, ",")) > 0) u = substr(u, 1, k - 1)
                if ((k = index(u, " ")) > 0) u = substr(u, 1, k - 1)
                c = substr($0, index($0, " client=") + 8)
                a = index(c, "[")
                b = index(c, "]")
                ip = a > 0 && b > a ? substr(c, a + 1, b - a - 1) : "-"
                s = "smtp"
            } else if ((p = index($0, "-login: Login: user=<")) > 0) {
                u = substr($0, p + 21)
                if ((k = index(u, ">")) == 0) next
                u = substr(u, 1, k - 1)
                s = substr($0, 1, p - 1)
                if ((k = match(s, /[A-Za-z0-9]+$/)) == 0) next
                s = substr(s, k)
                ip = "-"
                if ((k = index($0, " rip=")) > 0) {
                    ip = substr($0, k + 5)
                    if ((k = index(ip, ",")) > 0) ip = substr(ip, 1, k - 1)
                }
            } else next
            l = tolower(u)
            if (!(l in want) || ip ~ /[^0-9A-Fa-f.:]/ || ip == "") next
            print "L", t, s, want[l], ip
        }'
    echo end
} | head -c "$cap"
