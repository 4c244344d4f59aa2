#!/bin/sh
# Rollback after the purge's commit: the snapshot's messages go back on
# hold (never delivered), each unless a message of its name is still
# queued or held; then postsuper -s.
# Parts before it: [dirs.sh] running.sh.
# Inputs: t the snapshot tar, q and pdd.
# Output: "restored N".  Exit 3 when the snapshot is missing or tar fails.
# shellcheck disable=SC2154 # t comes from the caller
[ -n "$q" ] || postfix_dirs
enter_queue
[ -f "$t" ] || { echo "no snapshot at $t" >&2; exit 3; }
s="${t%/*}/restore.$$"
rm -rf "$s" && mkdir -p "$s" && tar -C "$s" -xpf "$t" --same-owner --numeric-owner --warning=no-timestamp || exit 3
n=0
(cd "$s" && find deferred active incoming hold -type f 2>/dev/null) | {
while IFS= read -r f; do
  b=${f##*/}
  if [ -e "$f" ] || [ -e "hold/$b" ]; then continue; fi
  mv -f "$s/$f" "hold/$b" && n=$((n + 1))
done
echo "restored $n"
}
rm -rf "$s"
postsuper -s >/dev/null 2>&1 || true
touch "$t.restored"
