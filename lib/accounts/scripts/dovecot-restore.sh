#!/bin/sh
# Puts back a Dovecot passwd-file account's hash from the backup the
# rotation made (other accounts' lines untouched); the old hash never
# leaves the host.  The rotation copies the file before it changes
# anything, so no backup means it never ran: nothing to put back (a
# controller killed between journaling the intent and sending the command).
# Parts before it: dovecot.sh.
# Inputs: f the passwd-file, b the backup folder.  Stdin: the account name.
# Output: "not rotated: nothing to put back" when so.  Exit 2 for bad
# stdin, 3 when a file cannot be read or written, 4 when the account is
# not exactly once in the file or the backup.
# shellcheck disable=SC2154 # addr and k come from read_account (dovecot.sh)
read_account
[ -f "$k" ] || { echo 'not rotated: nothing to put back'; exit 0; }
old=$(U="$addr" awk 'BEGIN { FS = ":" } $1 == ENVIRON["U"] { n++; h = $2 } END { if (n != 1) exit 4; print h }' "$k") || { echo "account not exactly once in the backup" >&2; exit 4; }
[ -n "$old" ] || exit 4
rewrite "$old"
