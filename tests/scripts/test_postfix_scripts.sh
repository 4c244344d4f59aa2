#!/bin/sh
# The Postfix programs of lib/postfix/scripts against fake postconf,
# postcat, postsuper, postfix and master on a scratch queue.
# Usage: test_postfix_scripts.sh SOURCE_DIR
# shellcheck disable=SC1091,SC2154,SC2016 # harness.sh sets tmp and rc; fakes are text
src=${1:?source dir}
. "$src/tests/scripts/harness.sh"

# a queue: $tmp/q, Postfix stopped unless $tmp/running exists
mkdir -p "$tmp/q/deferred/A" "$tmp/q/deferred/B" "$tmp/q/hold/C" "$tmp/sbin"
fake postconf "echo $tmp/q; echo $tmp/sbin"
printf '#!/bin/sh\n[ "$1" = -t ] && [ ! -f %s/running ]\n' "$tmp" >"$tmp/sbin/master"
chmod 755 "$tmp/sbin/master"
fake postfix "echo \"\$*\" >>$tmp/postfix.log
case \$1 in status) [ -f $tmp/running ];; start) touch $tmp/running;;
abort) rm -f $tmp/running;; *) exit 9;; esac"
# postcat -e -h FILES: the envelope records are the file's own text
fake postcat "[ \"\$1 \$2\" = '-e -h' ] || exit 9
shift 2
echo \"\$*\" >>$tmp/postcat.log
for f do
  [ -f \"\$f\" ] || exit 1
  echo \"*** ENVELOPE RECORDS \$f ***\"; cat \"\$f\"; echo \"*** MESSAGE FILE END \$f ***\"
done"
# postsuper ARGS, ids on stdin: logs both, moves -h ids into hold/
fake postsuper "echo \"\$*\" >>$tmp/postsuper.args
n=0
while read -r id; do
  echo \"\$id\" >>$tmp/postsuper.in
  f=\$(find deferred hold -name \"\$id\" 2>/dev/null | head -n 1)
  [ -n \"\$f\" ] || continue
  if [ \"\$1\" = -h ]; then mv \"\$f\" hold/\"\$id\"; fi
  if [ \"\$1\" = -d ]; then rm \"\$f\"; fi
  case \$1 in -h) w='placed on hold';; -H) w='released from hold';; *) w=removed;; esac
  echo \"postsuper: \$id: \$w\" >&2; n=\$((n + 1))
done
echo \"postsuper: warning: a warning stays\" >&2
echo \"postsuper: Total: \$n messages\" >&2"
cat >"$tmp/q/deferred/A/ABC1" <<'X'
sender: alice@x
recipient: r1@x
named_attribute: sasl_username=alice@x
named_attribute: client_port=4711
*** MESSAGE CONTENTS deferred/A/ABC1 ***
Received: from x
Subject: hello
 folded
X-Other: no
X
{
    echo "sender: bob@x"
    i=0
    while [ $i -lt 40 ]; do echo "recipient: r$i@y"; i=$((i + 1)); done
    echo "*** MESSAGE CONTENTS deferred/B/BCD2 ***"
    echo "Subject: many"
} >"$tmp/q/deferred/B/BCD2"
printf 'sender: carol@x\n' >"$tmp/q/hold/C/CDE3"

# identify: the filtered envelopes, a stamp per file, the directories
ident="F=$(quote "$(cat "$src/lib/postfix/scripts/identify.awk")")
B=$(quote "$(cat "$src/cmake/script-preamble.sh" "$src/lib/postfix/scripts/identify-batch.sh")")
K='32'
q=''
pdd=''
"
compose "$tmp/identify" "$ident" postfix/scripts/dirs.sh \
    postfix/scripts/running.sh postfix/scripts/identify.sh
run identify
check "identify exits 0" [ "$rc" -eq 0 ]
check "identify keeps the envelope" has out "named_attribute: sasl_username=alice@x"
check "identify keeps the sender" has out "sender: alice@x"
check "identify keeps Subject and its fold" sh -c "grep -qx 'Subject: hello' '$tmp/out' && grep -qx ' folded' '$tmp/out'"
check "identify drops other records" lacks out "client_port"
check "identify drops other headers" lacks out "Received"
check "identify drops X-Other" lacks out "X-Other"
check "identify keeps 32 recipients" [ "$(grep -c '^recipient: r[0-9]*@y' "$tmp/out")" -eq 32 ]
check "identify counts the others" has out "spamstop_recipients: 40"
check "identify stamps each file" [ "$(grep -c '^\*\*\* SPAMSTOP FILE ' "$tmp/out")" -eq 3 ]
check "identify names the directories" has out "*** SPAMSTOP DIRS $tmp/q $tmp/sbin ***"
check "identify ends with its marker" [ "$(tail -n 1 "$tmp/out")" = '*** SPAMSTOP IDENTIFY END ***' ]
# again with every stamp known: no postcat, the same stamps, the end
sed -n 's/^\*\*\* SPAMSTOP FILE \(.*\) \*\*\*$/\1/p' "$tmp/out" >"$tmp/known"
: >"$tmp/postcat.log"
run identify "$tmp/known"
check "known files are not read again" [ ! -s "$tmp/postcat.log" ]
check "known files keep their stamp" [ "$(grep -c '^\*\*\* SPAMSTOP FILE ' "$tmp/out")" -eq 3 ]
check "known files: the end marker" has out "*** SPAMSTOP IDENTIFY END ***"
# a postcat whose output is cut: exit 2, no end marker
mv "$tmp/bin/postcat" "$tmp/postcat.real"
fake postcat "$tmp/postcat.real \"\$@\" | sed '/BCD2 \*\*\*\$/,\$d'"
run identify
# the batch exits 2, so xargs 123
check "a cut output fails" [ "$rc" -ne 0 ]
check "a cut output says so" has err "its output was cut"
check "a cut output has no end marker" lacks out "IDENTIFY END"
mv "$tmp/postcat.real" "$tmp/bin/postcat"

# the hold and its record: ids checked, one stderr write, the record
compose "$tmp/hold" "q=''
pdd=''
" postfix/scripts/dirs.sh postfix/scripts/running.sh \
    postfix/scripts/postsuper.sh postfix/scripts/hold-record.sh
printf 'ABC1\nBAD;ID\nZZZ9\n' >"$tmp/ids"
touch "$tmp/running"
run hold "$tmp/ids"
check "the hold refuses while postfix runs" [ "$rc" -eq 75 ]
check "the hold ran no postsuper then" [ ! -f "$tmp/postsuper.args" ]
rm "$tmp/running"
run hold "$tmp/ids"
check "the hold exits 0" [ "$rc" -eq 0 ]
check "the hold runs postsuper -h -" [ "$(cat "$tmp/postsuper.args")" = "-h -" ]
check "the hold passes only queue ids" [ "$(cat "$tmp/postsuper.in")" = "$(printf 'ABC1\nZZZ9')" ]
check "the hold records the held file" grep -qE '^ABC1 [0-9]+ [0-9]+ [0-9]+\.[0-9]+$' "$tmp/out"
check "the hold records only held files" [ "$(wc -l <"$tmp/out")" -eq 1 ]
check "postsuper's stderr comes out" has err "postsuper: Total: 1 messages"
check "and its warnings" has err "postsuper: warning: a warning stays"
check "but not its line per message" sh -c '! grep -q "ABC1: placed on hold" "$0"' "$tmp/err"
cp "$tmp/out" "$tmp/record"

# the commit's delete: only files whose stamp matches
rm -f "$tmp/postsuper.args" "$tmp/postsuper.in"
printf 'CDE3 1 17 1.5\nnot a record\n' >>"$tmp/record"
compose "$tmp/delete" "q='$tmp/q'
pdd='$tmp/sbin'
" postfix/scripts/running.sh postfix/scripts/postsuper.sh \
    postfix/scripts/delete-held.sh
run delete "$tmp/record"
check "the delete exits 0" [ "$rc" -eq 0 ]
check "the delete says what matched" [ "$(cat "$tmp/out")" = "checked 2 matched 1" ]
check "the delete runs postsuper -d - hold" [ "$(cat "$tmp/postsuper.args")" = "-d - hold" ]
check "the delete deletes only the matching id" [ "$(cat "$tmp/postsuper.in")" = "ABC1" ]
check "the held file is gone" [ ! -f "$tmp/q/hold/ABC1" ]
check "the other held file stays" [ -f "$tmp/q/hold/C/CDE3" ]

# postsuper on ids: release, and a delete that must find postfix stopped
rm -f "$tmp/postsuper.args" "$tmp/postsuper.in"
compose "$tmp/release" "stopped=''
" postfix/scripts/postsuper.sh postfix/scripts/postsuper-release.sh
printf 'CDE3\n$(reboot)\n' >"$tmp/ids"
run release "$tmp/ids"
check "the release exits 0" [ "$rc" -eq 0 ]
check "the release runs postsuper -H -" [ "$(cat "$tmp/postsuper.args")" = "-H -" ]
check "the release passes only queue ids" [ "$(cat "$tmp/postsuper.in")" = "CDE3" ]
rm -f "$tmp/postsuper.args"
compose "$tmp/pdel" "stopped='1'
q='$tmp/q'
pdd='$tmp/sbin'
" postfix/scripts/running.sh postfix/scripts/postsuper.sh \
    postfix/scripts/postsuper-delete.sh
touch "$tmp/running"
run pdel "$tmp/ids"
check "a stopped-only delete refuses while postfix runs" [ "$rc" -eq 75 ]
check "... and runs no postsuper" [ ! -f "$tmp/postsuper.args" ]
rm "$tmp/running"

# the snapshot: the files of the ids on stdin, streamed, kept once
printf 'x\n' >"$tmp/q/deferred/B/DEF4"
compose "$tmp/snap" "d='$tmp/snap dir'
all=''
q=''
pdd=''
" postfix/scripts/dirs.sh postfix/scripts/running.sh postfix/scripts/snapshot.sh
printf 'BCD2\nDEF4\n../x\n' >"$tmp/ids"
run snap "$tmp/ids"
check "the snapshot exits 0" [ "$rc" -eq 0 ]
check "the snapshot streams the tar it keeps" cmp -s "$tmp/out" "$tmp/snap dir/queue.tar"
check "the snapshot holds the named files" [ "$(tar -tf "$tmp/out" | sort | tr '\n' ' ')" = "deferred/B/BCD2 deferred/B/DEF4 " ]
printf 'CDE3\n' >"$tmp/ids"
run snap "$tmp/ids"
check "a second snapshot streams the first tar" cmp -s "$tmp/out" "$tmp/snap dir/queue.tar"
check "... unchanged" [ "$(tar -tf "$tmp/out" | wc -l)" -eq 2 ]

# stop and start: only when the state disagrees, then the wait
svc="v='postfix'
ticks='20'
q=''
pdd=''
S=''
T=''
D=''
X=''
u=''
ra=''
R=''
"
compose "$tmp/stop" "$svc" postfix/scripts/dirs.sh postfix/scripts/running.sh \
    postfix/scripts/service.sh postfix/scripts/stop.sh
compose "$tmp/start" "$svc" postfix/scripts/dirs.sh postfix/scripts/running.sh \
    postfix/scripts/service.sh postfix/scripts/start.sh
compose "$tmp/status" "$svc" postfix/scripts/dirs.sh postfix/scripts/running.sh \
    postfix/scripts/service.sh postfix/scripts/status.sh
: >"$tmp/postfix.log"
touch "$tmp/running"
run status
check "status: 0 while postfix runs" [ "$rc" -eq 0 ]
check "status names the manager" [ "$(cat "$tmp/out")" = postfix ]
run stop
check "stop exits 0" [ "$rc" -eq 0 ]
check "stop stopped postfix" [ ! -f "$tmp/running" ]
run stop
check "a second stop exits 0" [ "$rc" -eq 0 ]
run status
check "status: 1 while postfix is stopped" [ "$rc" -eq 1 ]
run start
check "start exits 0" [ "$rc" -eq 0 ]
check "start started postfix" [ -f "$tmp/running" ]
run start
check "the verb ran once each, abort for the stop" [ "$(tr '\n' ' ' <"$tmp/postfix.log")" = "abort start " ]
fake postfix "exit 0"
rm "$tmp/running"
sed "s/^ticks='20'/ticks='3'/" "$tmp/start" >"$tmp/start3"
run start3
check "a start that never comes fails" [ "$rc" -eq 1 ]
check "... and says so" has err "postfix did not start"

# systemd: its stop and start; a Postfix started by hand outside the unit
# (systemd's stop leaves it running) is stopped with postfix abort
fake postfix "echo \"\$*\" >>$tmp/postfix.log
case \$1 in status) [ -f $tmp/running ];; start) touch $tmp/running;;
abort) rm -f $tmp/running;; *) exit 9;; esac"
fake systemctl "echo \"\$*\" >>$tmp/systemctl.log
case \$1 in stop) [ ! -f $tmp/unit ] || rm -f $tmp/running $tmp/unit;;
start) touch $tmp/running $tmp/unit;; *) exit 9;; esac"
for p in stop start; do sed "s/^v='postfix'/v='systemd'/" "$tmp/$p" >"$tmp/sd-$p"; done
: >"$tmp/postfix.log"
touch "$tmp/running" "$tmp/unit"
run sd-stop
check "systemd: stop exits 0, postfix stopped" [ "$rc" -eq 0 ] && [ ! -f "$tmp/running" ]
check "systemd: stop names the manager" [ "$(cat "$tmp/out")" = systemd ]
run sd-start
check "systemd: start exits 0, postfix runs" [ "$rc" -eq 0 ] && [ -f "$tmp/running" ]
check "systemd: systemctl's verbs only" [ "$(tr '\n' ' ' <"$tmp/systemctl.log")" = "stop postfix.service start postfix.service " ] &&
    [ ! -s "$tmp/postfix.log" ]
rm -f "$tmp/unit"
run sd-stop
check "systemd: a postfix started by hand is stopped too" [ "$rc" -eq 0 ] && [ ! -f "$tmp/running" ]
check "... by postfix abort, after systemctl stop" [ "$(cat "$tmp/postfix.log")" = abort ] &&
    [ "$(tail -n 1 "$tmp/systemctl.log")" = "stop postfix.service" ]

finish
