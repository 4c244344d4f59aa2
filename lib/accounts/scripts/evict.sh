#!/bin/sh
# After new passwords: where Dovecot runs, flushes its auth cache (an old
# password must not keep working until a cache entry expires) and ends
# the IMAP/POP sessions of each account (a changed password does not end
# sessions that are already logged in).  SMTP sessions end with Postfix's
# stop.  Read-only otherwise.
# Inputs: none.  Stdin: the accounts, one a line.
# Output: "now EPOCH" (the host's clock: when the new passwords were in
# force, what the verify step's log watch counts from), "cache
# flushed|failed|none" (none: no doveadm or no Dovecot running), then per
# account "kicked ADDR N" (sessions ended) or "kick-failed ADDR".  Exit 0.
date '+now %s'
if ! command -v doveadm >/dev/null 2>&1 || ! doveadm who >/dev/null 2>&1; then
    echo "cache none"
    exit 0
fi
if doveadm auth cache flush >/dev/null 2>&1; then
    echo "cache flushed"
else
    echo "cache failed"
fi
while IFS= read -r a; do
    [ -n "$a" ] || continue
    # doveadm kick names the users it kicked, one a line; with nobody
    # logged in it says "no users kicked" and exits 68
    out=$(doveadm kick "$a" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "kicked $a $(printf '%s\n' "$out" | grep -c -F -x -- "$a")"
    elif [ "$rc" -eq 68 ] && [ "$out" = "no users kicked" ]; then
        echo "kicked $a 0"
    else
        echo "kick-failed $a"
    fi
done
