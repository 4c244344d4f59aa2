# shellcheck shell=sh
# A part, not a program (no #!): the reading of Plesk's mail_auth_view,
# sent before look.sh and plesk-read.sh.

# Reads mail_auth_view's table on stdin ("| address | flags | password |"
# rows, cells padded with any number of blanks) and prints, for the
# address $1 (compared without case), "sym PASSWORD" when its password is
# stored readable, or "hashed" when it cannot be read back: flag H, an
# empty password cell, or one that is a hash ("$..."): a hash is never
# taken for a password.  The address and the password may hold '|' (the
# row is read from both ends); a password's outer blanks are padding.
# Exit 3 when the address is not exactly once in the table.
plesk_row() {
  A="$1" awk '
    function ltrim(s) { sub(/^[ \t]+/, "", s); return s }
    function rtrim(s) { sub(/[ \t\r]+$/, "", s); return s }
    {
      a = tolower(ENVIRON["A"]); l = rtrim($0)
      if (substr(l, 1, 1) != "|" || substr(l, length(l), 1) != "|") next
      r = ltrim(substr(l, 2, length(l) - 2))
      if (tolower(substr(r, 1, length(a))) != a) next
      r = ltrim(substr(r, length(a) + 1))
      if (substr(r, 1, 1) != "|") next
      r = substr(r, 2); i = index(r, "|")
      if (i == 0) next
      f = substr(r, 1, i - 1); p = rtrim(ltrim(substr(r, i + 1))); n++
    }
    END {
      if (n != 1) exit 3
      if (f ~ /H/ || p == "" || p ~ /^[$]/) print "hashed"; else print "sym " p
    }'
}
