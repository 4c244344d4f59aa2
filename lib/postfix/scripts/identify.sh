#!/bin/sh
# The identify pass: the envelopes and a few headers of every queued
# message, filtered on the host.  A fingerprint per message file (path,
# inode, size, ctime, taken before postcat reads it) is printed as
# "*** SPAMSTOP FILE PATH INODE SIZE CTIME ***" after the messages; a file
# whose line is on stdin (an earlier pass read it with that very stamp) is
# not read again, and files with odd names get no line and are always
# read.  postcat runs over the files to read in batches (identify-batch.sh),
# one per core at once, each at most 2000 files so its text on disk stays
# small.  The end marker follows only when every batch succeeded.
# Starting processes is what costs here (docs/performance.md): a pass whose
# files are all known starts no getconf, xargs or postcat.
# Parts before it: [dirs.sh] running.sh.
# Inputs: q, pdd, F the filter (identify.awk), B the batch
# program (identify-batch.sh), K recipients kept per message.  Stdin: the
# known "PATH INODE SIZE CTIME" stamps.
# Output: the filtered postcat text, the FILE lines, a "*** SPAMSTOP GONE
# PATH INODE SIZE CTIME ***" line for each stdin stamp whose file is no
# longer there so (changed, moved or removed), "*** SPAMSTOP DIRS Q
# PDD ***" (when both are plain absolute paths), "*** SPAMSTOP IDENTIFY END
# ***".  Exit 3 when the queue cannot be listed, the batch's status (2: its
# output was cut) when one fails.
# shellcheck disable=SC2154 # q, pdd, F, B and K come from the caller
# postcat prints arrival times in UTC
TZ=UTC0
export TZ
[ -n "$q" ] || postfix_dirs
enter_queue
umask 077
w=$(mktemp -d) || exit 3
trap 'rm -rf "$w"' EXIT
find deferred active incoming hold maildrop -type f \( -regex '[a-z]+/[0-9A-Za-z/]+' -fprintf "$w/fp" '%p %i %s %C@\n' -o -fprint0 "$w/odd" \) 2>/dev/null
: >>"$w/fp"; : >>"$w/odd"
# the known stamps, checked; a mark per file; the files to read; their
# count; a GONE mark per known stamp no file has now
awk -v M="$w/marks" -v C="$w/n" 'BEGIN { while ((getline l < "/dev/stdin") > 0) if (l ~ "^[a-z]+/[0-9A-Za-z/]+ [0-9]+ [0-9]+ [0-9]+([.][0-9]+)?$") k[l] = 1 }
{ print "*** SPAMSTOP FILE " $0 " ***" >M }
$0 in k { delete k[$0]; next }
{ print $1; n++ }
END { for (l in k) print "*** SPAMSTOP GONE " l " ***" >M; print n + 0 >C }' "$w/fp" | tr '\n' '\000' >"$w/files"
{ read -r n <"$w/n" && case $n in '' | *[!0-9]*) false ;; esac; } || { echo 'cannot list the queue files' >&2; exit 3; }
if [ -s "$w/odd" ]; then cat "$w/odd" >>"$w/files"; n=$((n + $(tr -cd '\000' <"$w/odd" | wc -c))); fi
if [ "$n" -gt 0 ]; then
p=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || p=1
case $p in '' | *[!0-9]*) p=1 ;; esac
[ "$p" -le 8 ] || p=8
command -v flock >/dev/null 2>&1 || p=1
b=$((n / p + 1)); [ "$b" -le 2000 ] || b=2000
W=$w P=$p
export F K W P
xargs -0 -r -P "$p" -n "$b" sh -c "$B" sh <"$w/files" || exit $?
fi
{ [ ! -f "$w/marks" ] || cat "$w/marks"; } &&
{ case "$q/$pdd" in *[!A-Za-z0-9/._+-]*) ;; /*) case $pdd in /*) echo "*** SPAMSTOP DIRS $q $pdd ***" ;; esac ;; esac; } &&
echo '*** SPAMSTOP IDENTIFY END ***'
