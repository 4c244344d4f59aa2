# shellcheck shell=sh
# A part, not a program (no #!): functions sent before the programs that
# run postsuper.

# Runs "$@" with its stderr kept and written out in one piece; returns its
# status.  Without postlogd, postsuper writes a line per message to stderr,
# each its own write and so its own SSH packet.  Those lines ("ID: placed
# on hold", 38 bytes each: 34 MB for 900,000 messages) are left out: the
# summary lines ("Placed on hold: N messages") and any warning go on, and
# the ids are in what the caller sent and records.
stderr_once() {
    { e=$("$@" 2>&1 >&3); s=$?; } 3>&1
    [ -z "$e" ] || printf '%s\n' "$e" | grep -v -E \
        '^postsuper: [0-9A-Za-z]+: (placed on hold|released from hold|removed|requeued)$' >&2
    return "$s"
}

# "ID INODE SIZE CTIME" of every hold/ file: what the hold records and the
# commit compares, so both print it through here.
held_list() {
    find hold -type f -printf '%f %i %s %C@\n' 2>/dev/null
}
