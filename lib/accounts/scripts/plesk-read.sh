#!/bin/sh
# A Plesk account's current password, from mail_auth_view's table (see
# plesk_row): only one stored readable ("sym"); a hashed one cannot be
# read back (exit 3), so a hash is never kept as "the old password".
# With k, it is kept in the root-only file k instead of printed (once: an
# existing non-empty k stays), so it never crosses the wire.
# Parts before it: plesk.sh.
# Inputs: A the address; for keeping, k the file and b its folder.
# Output: the password (without k).  Exit 3 when the account is not
# exactly once in the table, its password is stored hashed, or k cannot
# be written.
# shellcheck disable=SC2154 # A, k and b come from the caller
password() {
  r=$(plesk sbin mail_auth_view 2>/dev/null </dev/null | plesk_row "$A") || return 3
  case $r in
  'sym '?*) printf '%s\n' "${r#sym }" ;;
  *) echo "the password of $A is stored hashed: it cannot be read back" >&2; return 3 ;;
  esac
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
