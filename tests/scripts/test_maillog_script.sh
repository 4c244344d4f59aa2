#!/bin/sh
# The log evidence program (lib/postfix/scripts/maillog.sh) on scratch
# logs laid out as Debian (mail.log, rotated .1 and .2.gz), RHEL/Plesk
# (maillog, Plesk's path a link to it) and journald (a fake journalctl).
# Usage: test_maillog_script.sh SOURCE_DIR
# shellcheck disable=SC1091,SC2154 # harness.sh sets tmp and rc
src=${1:?source dir}
. "$src/tests/scripts/harness.sh"

deb=$tmp/deb rhel=$tmp/rhel psa=$tmp/psa
mkdir -p "$deb" "$rhel" "$psa"
sub='postfix/smtpd[12]: 4AB1: client=mx.test[10.0.0.7], sasl_method=PLAIN, sasl_username=bob@x.test'
cat >"$deb/mail.log" <<X
Dec  5 08:15:00 h1 $sub
Dec  5 08:15:01 h1 postfix/smtp[13]: 4AB1: to=<r@y.test>, relay=s[10.0.0.250]:25, delay=1, dsn=2.0.0, status=sent (250 ok)
Dec  5 08:15:02 h1 postfix/smtpd[12]: NOQUEUE: reject: RCPT from a[1.2.3.4]: 554 no; sasl_username=evil
Dec  5 08:15:03 h1 postfix/qmgr[9]: 4AB1: removed
X
echo "Dec  4 09:00:00 h1 postfix/smtpd[2]: 5CD2: client=b[10.0.0.8], sasl_method=LOGIN, sasl_username=alice@x.test" >"$deb/mail.log.1"
echo "Dec  3 09:00:00 h1 postfix/smtpd[2]: 6EF3: client=c[::1], sasl_method=LOGIN, sasl_username=carol@x.test" | gzip >"$deb/mail.log.2.gz"
echo "Nov  1 09:00:00 h1 $sub" >"$deb/mail.log.9"
touch -d '2026-11-01 10:00' "$deb/mail.log.9"
echo "2026-12-05T08:15:00+00:00 h2 $sub" >"$rhel/maillog"
ln -s "$rhel/maillog" "$psa/maillog"

# run_pass SINCE LOGS CAP: the pass as the controller sends it
run_pass() {
    compose "$tmp/cmd" "since=$(quote "$1")
logs=$(quote "$2")
cap=$(quote "$3")
" postfix/scripts/logfiles.sh postfix/scripts/maillog.sh
    run "$tmp/cmd"
}

run_pass "$(date -d '2026-11-15' +%s)" "$deb/mail.log $tmp/none/maillog" 100000
check "exit 0" [ "$rc" -eq 0 ]
check "the host's clock first" sh -c "head -n 1 '$tmp/out' | grep -Eq '^now [0-9]+ [+-][0-9]{4}$'"
check "mail.log, .1 and .2.gz read" sh -c "grep -c '^source $deb/mail.log' '$tmp/out' | grep -qx 3"
check "a file untouched since the window is skipped" lacks out "mail.log.9"
check "a submission" has out "A Dec_5_08:15:00 4AB1 bob@x.test 10.0.0.7"
check "its delivery" has out "S Dec_5_08:15:01 4AB1 sent"
check "the rotated ones" has out "A Dec_4_09:00:00 5CD2 alice@x.test 10.0.0.8"
check "the gzipped one" has out "A Dec_3_09:00:00 6EF3 carol@x.test ::1"
check "no NOQUEUE record" lacks out "evil"
check "no other line" sh -c "! grep -q removed '$tmp/out'"
check "complete" sh -c "tail -n 1 '$tmp/out' | grep -qx end"

run_pass 0 "$deb/none.log $rhel/maillog $psa/maillog" 100000
check "RHEL and Plesk's link read once" sh -c "grep -c '^source ' '$tmp/out' | grep -qx 1"
check "ISO times kept whole" has out "A 2026-12-05T08:15:00+00:00 4AB1 bob@x.test 10.0.0.7"

fake journalctl "echo \"\$*\" >$tmp/journalctl.args
echo '2026-12-05T08:15:00+0000 h3 $sub'"
run_pass 1796372286 "$tmp/none/mail.log" 100000
check "journald when there is no file" has out "source journald"
check "journald's mail facility since the window" has journalctl.args "SYSLOG_FACILITY=2 --since @1796372286"
check "journald's record" has out "A 2026-12-05T08:15:00+0000 4AB1 bob@x.test 10.0.0.7"

run_pass 0 "$deb/mail.log" 40
check "cut at cap" sh -c "[ \$(wc -c <'$tmp/out') -eq 40 ]"
check "a cut pass has no end" lacks out "end"

# each kind read on its own: a line makes at most one record, of the
# kind the one pass made of it, and each kind keeps the log's order
cat >"$rhel/maillog" <<X
Dec  5 09:00:00 h1 postfix/smtpd[1]: 7A1: client=d[10.0.0.5], sasl_username=dan@x.test, status=sent
Dec  5 09:00:01 h1 postfix/smtp[2]: 7A1: to=<r@y.test>, sasl_username=dan@x.test, status=deferred (later)
Dec  5 09:00:02 h1 postfix/smtp[2]: 7A1: to=<r@y.test>, status=sent (250 ok)
Dec  5 09:00:03 h1 postfix/smtpd[1]: 7A2: client=e[10.0.0.6], sasl_username=, status=sent
X
run_pass 0 "$rhel/maillog" 100000
check "client= and sasl_username=: an A record" has out "A Dec_5_09:00:00 7A1 dan@x.test 10.0.0.5"
check "client= and sasl_username=: no S record" lacks out "S Dec_5_09:00:00"
check "sasl_username= without client=: an S record" has out "S Dec_5_09:00:01 7A1 deferred"
check "S records in the log's order" sh -c "grep '^S' '$tmp/out' | tr '\n' ' ' | grep -qx 'S Dec_5_09:00:01 7A1 deferred S Dec_5_09:00:02 7A1 sent '"
check "an empty sasl_username: no record" lacks out "7A2"
# a record file the pass cannot write (here a folder in its place): the
# records it has, but no end
# shellcheck disable=SC2016 # the fake's own $
fake mktemp 'd=$(command -p mktemp "$@") && mkdir "$d/2" && echo "$d"'
run_pass 0 "$deb/mail.log" 100000
check "records not all written: still exit 0" [ "$rc" -eq 0 ]
check "records not all written: the others still there" has out "A Dec_5_08:15:00 4AB1 bob@x.test 10.0.0.7"
check "records not all written: no end" lacks out "end"
rm "$tmp/bin/mktemp"
# logins.sh: the watch after a rotation, only the accounts asked about
cat >"$deb/mail.log" <<X
Dec  5 08:15:00 h1 $sub
Dec  5 08:16:00 h1 dovecot: imap-login: Login: user=<Bob@X.test>, method=PLAIN, rip=10.0.0.9, lip=10.0.0.2, mpid=77, session=<abc>
Dec  5 08:16:30 h1 dovecot: pop3-login: Login: user=<alice@x.test>, method=PLAIN, rip=10.0.0.10, lip=10.0.0.2
Dec  5 08:17:00 h1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<bob@x.test>, method=PLAIN, rip=10.0.0.11
Dec  5 08:17:02 h1 postfix/smtpd[12]: NOQUEUE: reject: RCPT from a[1.2.3.4]: 554 no; sasl_username=bob@x.test
Dec  5 08:17:03 h1 dovecot: imap-login: Login: user=<bob@x.test>, method=PLAIN, rip=\$(reboot), lip=10.0.0.2
X
printf 'bob@x.test\n' >"$tmp/who"
compose "$tmp/cmd" "since=$(quote "$(date -d '2026-11-15' +%s)")
logs=$(quote "$deb/mail.log")
cap=$(quote 100000)
" postfix/scripts/logfiles.sh postfix/scripts/logins.sh
run "$tmp/cmd" "$tmp/who"
check "logins: exit 0" [ "$rc" -eq 0 ]
check "logins: the host's clock first" sh -c "head -n 1 '$tmp/out' | grep -Eq '^now [0-9]+ [+-][0-9]{4}$'"
check "logins: smtp submission" has out "L Dec_5_08:15:00 smtp bob@x.test 10.0.0.7"
check "logins: imap login, any case" has out "L Dec_5_08:16:00 imap bob@x.test 10.0.0.9"
check "logins: another account is not listed" lacks out "alice@x.test"
check "logins: a failed login is no login" lacks out "10.0.0.11"
check "logins: no reject line" lacks out "1.2.3.4"
check "logins: an odd address is dropped" lacks out "reboot"
check "logins: the rotated file too" has out "source $deb/mail.log.1"
check "logins: complete" sh -c "tail -n 1 '$tmp/out' | grep -qx end"
compose "$tmp/cmd" "since=$(quote "$(date -d '2026-11-15' +%s)")
logs=$(quote "$deb/mail.log")
cap=$(quote 40)
" postfix/scripts/logfiles.sh postfix/scripts/logins.sh
run "$tmp/cmd" "$tmp/who"
check "logins: cut at the cap, no end" sh -c "[ \$(wc -c <'$tmp/out') -le 40 ] && ! grep -qx end '$tmp/out'"

finish
