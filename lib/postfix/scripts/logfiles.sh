# A part (no #!): the mail logs of a host, for maillog.sh and logins.sh.
# Reads the caller's since (epoch seconds) and logs (the log files to look
# for, blank-separated; their rotated copies NAME.N, NAME.N.gz and
# NAME-YYYYMMDD[.gz] count too).
# shellcheck disable=SC2154 # since and logs come from the caller

# log_list FILE: writes to FILE the logs written since $since, each real
# file once (Plesk's maillog is often a link to /var/log/maillog).
log_list() {
    for f in $logs; do
        d=${f%/*} b=${f##*/}
        [ -d "$d" ] || continue
        find "$d" -maxdepth 1 -type f \( -name "$b" -o -name "$b.[0-9]*" \
            -o -name "$b-[0-9]*" \) -newermt "@$since" 2>/dev/null
    done | while IFS= read -r f; do
        readlink -f -- "$f"
    done | sort -u >"$1"
}

# log_sources FILE: "source PATH" for each file of the list, else "source
# journald" where journald is what there is.
log_sources() {
    if [ -s "$1" ]; then
        sed 's/^/source /' "$1"
    elif command -v journalctl >/dev/null 2>&1; then
        echo "source journald"
    fi
}

# log_plain FILE COMMAND...: runs COMMAND with the uncompressed files of
# the list as its last arguments (not at all when there is none).
log_plain() {
    l=$1
    shift
    grep -v '\.gz$' "$l" | tr '\n' '\0' | xargs -0 -r "$@"
}

# log_packed FILE: the text of the compressed files of the list.
log_packed() {
    grep '\.gz$' "$1" | tr '\n' '\0' | xargs -0 -r zcat -f --
}

# log_grep FILE PATTERN...: the lines of the listed files (plain ones
# straight to grep, compressed ones through zcat) or, with no file,
# journald's mail facility since $since, holding any of the fixed strings.
log_grep() {
    l=$1
    shift
    for p in "$@"; do set -- "$@" -e "$p"; shift; done
    if [ -s "$l" ]; then
        log_plain "$l" grep -h -F "$@" --
        log_packed "$l" | grep -F "$@"
    elif command -v journalctl >/dev/null 2>&1; then
        journalctl -q --no-pager -o short-iso SYSLOG_FACILITY=2 \
            --since "@$since" 2>/dev/null | grep -F "$@"
    fi
}
