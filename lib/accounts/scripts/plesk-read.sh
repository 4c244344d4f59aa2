#!/bin/sh
# A Plesk account's current password, from mail_auth_view's
# "| address | flags | password |" rows (the address compared without
# case, the password taken between the table's separators).  With k, it
# is kept in the root-only file k instead of printed (once: an existing
# non-empty k stays), so it never crosses the wire.
# Inputs: A the address; for keeping, k the file and b its folder.
# Output: the password (without k).  Exit 3 when the account is not
# exactly once in the table, or the password is empty, or k cannot be
# written.
# shellcheck disable=SC2154 # A, k and b come from the caller
password() {
  plesk sbin mail_auth_view 2>/dev/null </dev/null | A="$A" awk '{ a = tolower(ENVIRON["A"]) } index(tolower($0), "| " a " ") == 1 { r = substr($0, length(a) + 4); if (sub(/^ *\| [^|]* \| /, "", r) != 1) next; sub(/ *\|[ \t\r]*$/, "", r); p = r; n++ } END { if (n != 1 || p == "") exit 3; print p }'
}
if [ -z "$k" ]; then
  password
  exit
fi
umask 077
mkdir -p "$b" || exit 3
if [ ! -s "$k" ]; then
  if ! { password >"$k.tmp" && mv -f "$k.tmp" "$k"; }; then
    rm -f "$k.tmp"; echo 'cannot read the old password' >&2; exit 3
  fi
fi
