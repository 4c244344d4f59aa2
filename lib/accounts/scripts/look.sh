#!/bin/sh
# The account look: which backend the host has, whether it knows each
# account and, for Plesk, how it stores each one's password.  Plesk wins
# when both exist (Plesk runs Dovecot too).  Plesk keeps passwords per
# account: readable back ("sym") or hashed, both kinds on one server once
# email-password-hashing was switched on (only passwords set after the
# switch are hashed); mail_auth_view's table says which (plesk_row), and
# its output never leaves the host.  Dovecot counts when a passdb uses a
# passwd-file.  Every tool reads /dev/null: stdin holds only the names.
# Parts before it: plesk.sh.
# Inputs: none.  Stdin: account names, one a line (checked again).
# Output: "backend plesk|dovecot|none"; for Dovecot "recoverable yes" and
# "passwd_file PATH"; then per name "account ADDR yes|no", for a known
# Plesk account "account ADDR yes sym|hashed".
# Exit 2 for a bad name on stdin.
be=none f='' v=''
if command -v plesk >/dev/null 2>&1; then
  be=plesk; echo 'backend plesk'
  v=$(plesk sbin mail_auth_view 2>/dev/null </dev/null) || v=''
elif command -v doveconf >/dev/null 2>&1; then
  f=$(doveconf -n 2>/dev/null </dev/null | awk '$1 == "passdb" && index($0, "{") { p = 1; d = ""; a = ""; next } p && $1 == "driver" { d = $3; next } p && $1 == "args" { a = $NF; next } p && $1 == "}" { p = 0; if (d == "passwd-file" && f == "") f = a } END { print f }')
  if [ -n "$f" ]; then be=dovecot; echo 'backend dovecot'; echo 'recoverable yes'; printf 'passwd_file %s\n' "$f"
  else echo 'backend none'; fi
else echo 'backend none'; fi
while IFS= read -r addr; do
  case $addr in ''|*:*|*' '*) echo 'bad account name' >&2; exit 2;; esac
  k=no
  case $be in
  plesk)
    if plesk bin mail --info "$addr" >/dev/null 2>&1 </dev/null; then
      s=$(printf '%s\n' "$v" | plesk_row "$addr") || s=hashed
      k="yes ${s%% *}"
    fi;;
  dovecot) [ -f "$f" ] && U="$addr" awk 'BEGIN { FS = ":" } $1 == ENVIRON["U"] { n++ } END { exit n == 1 ? 0 : 4 }' "$f" </dev/null && k=yes;;
  esac
  printf 'account %s %s\n' "$addr" "$k"
done
