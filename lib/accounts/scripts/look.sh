#!/bin/sh
# The account look: which backend the host has and whether it knows each
# account.  Plesk wins when both exist (Plesk runs Dovecot too); its
# mail_auth_view shows "| address | flags | password |" rows, and
# passwords in clear mean the old one can be put back.  Dovecot counts
# when a passdb uses a passwd-file.  Every tool reads /dev/null: stdin
# holds only the names.
# Inputs: none.  Stdin: account names, one a line (checked again).
# Output: "backend plesk|dovecot|none", "recoverable yes|no",
# "passwd_file PATH" (dovecot), then "account ADDR yes|no" per name.
# Exit 2 for a bad name on stdin.
be=none f=''
if command -v plesk >/dev/null 2>&1; then
  be=plesk; echo 'backend plesk'
  if plesk sbin mail_auth_view 2>/dev/null </dev/null | awk -F'|' 'NF >= 5 { a = $2; p = $4; gsub(/^[ \t]+|[ \t]+$/, "", a); gsub(/^[ \t]+|[ \t]+$/, "", p); if (index(a, "@") && p != "" && p !~ /^[$]/) n++ } END { exit n > 0 ? 0 : 1 }'; then echo 'recoverable yes'; else echo 'recoverable no'; fi
elif command -v doveconf >/dev/null 2>&1; then
  f=$(doveconf -n 2>/dev/null </dev/null | awk '$1 == "passdb" && index($0, "{") { p = 1; d = ""; a = ""; next } p && $1 == "driver" { d = $3; next } p && $1 == "args" { a = $NF; next } p && $1 == "}" { p = 0; if (d == "passwd-file" && f == "") f = a } END { print f }')
  if [ -n "$f" ]; then be=dovecot; echo 'backend dovecot'; echo 'recoverable yes'; printf 'passwd_file %s\n' "$f"
  else echo 'backend none'; fi
else echo 'backend none'; fi
while IFS= read -r addr; do
  case $addr in ''|*:*|*' '*) echo 'bad account name' >&2; exit 2;; esac
  k=no
  case $be in
  plesk) plesk bin mail --info "$addr" >/dev/null 2>&1 </dev/null && k=yes;;
  dovecot) [ -f "$f" ] && U="$addr" awk 'BEGIN { FS = ":" } $1 == ENVIRON["U"] { n++ } END { exit n == 1 ? 0 : 4 }' "$f" </dev/null && k=yes;;
  esac
  printf 'account %s %s\n' "$addr" "$k"
done
