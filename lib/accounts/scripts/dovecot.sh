# shellcheck shell=sh
# A part, not a program (no #!): functions sent before dovecot-rotate.sh
# and dovecot-restore.sh.
# Inputs: f the passwd-file, b the backup folder.
# shellcheck disable=SC2154,SC2034 # f and b come from the caller, addr and k are for it

# Reads and checks the account name on stdin (again, on the host) into
# addr, and sets k to the backup copy of f: its path with '/' made '_'.
# Exits 2 for a bad name.
read_account() {
    IFS= read -r addr || { echo 'no account on stdin' >&2; exit 2; }
    case $addr in ''|*:*|*' '*) echo 'bad account name' >&2; exit 2;; esac
    k="$b/$(printf '%s' "$f" | tr '/' '_')"
}

# Rewrites addr's hash to $1 in f atomically: a temporary file in the
# same folder made by cp -p (owner, mode), awk into it, sync, rename.
# Exits 3 when a file cannot be read or written, 4 when addr is not
# exactly once in f (nothing changed).
rewrite() {
    [ -f "$f" ] || { echo "no passwd-file at $f" >&2; exit 3; }
    t="$f.spamstop.$$"
    trap 'rm -f "$t"' EXIT
    cp -p "$f" "$t" || exit 3
    U="$addr" H="$1" awk 'BEGIN { FS = OFS = ":" } $1 == ENVIRON["U"] { $2 = ENVIRON["H"]; n++ } { print } END { exit n == 1 ? 0 : 4 }' "$f" >"$t"
    rc=$?
    if [ $rc -eq 4 ]; then echo "account not exactly once in $f" >&2; exit 4; fi
    [ $rc -eq 0 ] || exit 3
    sync "$t" 2>/dev/null || sync
    mv -f "$t" "$f" || exit 3
}
