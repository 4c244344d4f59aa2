#!/bin/sh
# One batch of identify's queue files, run by xargs from identify.sh as
# sh -c "$B" sh FILE...: postcat -e -h writes the batch's text to a file of
# its own (cheaper than a pipe for its many small writes:
# docs/performance.md), awk ($F, identify.awk) filters it, and the text
# goes out whole (under flock when batches run at once, so messages never
# interleave).  One vanished file makes postcat exit 1 for its whole
# batch: the batch is read again without the files that are gone, up to
# three times, then file by file.
# Inputs (environment): F the filter, K recipients kept, W the temporary
# folder, P batches at once.  Output: the filtered text; exit status the
# filter's (2: output cut).
# shellcheck disable=SC2154 # F, K, W and P come from identify.sh
[ $# -gt 0 ] || exit 0
c=$W/c.$$ o='' n=0
for _ in 1 2 3; do
  postcat -e -h "$@" </dev/null >"$c" 2>/dev/null && { o=1; n=$#; break; }
  for f do shift; [ -f "$f" ] && set -- "$@" "$f"; done
done
[ -n "$o" ] || for f do postcat -e -h "$f" </dev/null 2>/dev/null && n=$((n + 1)); done >"$c"
if [ "$P" -gt 1 ]; then awk -v N="$n" -v K="$K" "$F" "$c" >"$c.f" && flock "$W/lock" cat "$c.f"
else awk -v N="$n" -v K="$K" "$F" "$c"; fi
s=$?; : >"$c"; : >"$c.f"; exit $s
