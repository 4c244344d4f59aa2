# shellcheck shell=sh
# A part, not a program (no #!): functions sent before the programs that
# look at Postfix's state or queue.
# Inputs: q and pdd, the queue and daemon directories.
# shellcheck disable=SC2154 # q and pdd come from the caller

# True while Postfix's master runs.  That is what postfix status reports,
# and how: its test is "master -t" (exit 0 when master.pid is absent or
# unlocked), run here alone instead of behind postfix-script.  Without the
# daemon directory, postfix status itself.
running() {
    if [ -n "$pdd" ] && [ -x "$pdd/master" ]; then
        ! "$pdd/master" -t >/dev/null 2>&1 </dev/null
    else
        postfix status >/dev/null 2>&1 </dev/null
    fi
}

# Exits 75 while Postfix runs: queue ids can be reused.
require_stopped() {
    if running; then
        echo "postfix is running: refusing to act on queue ids" >&2
        exit 75
    fi
}

# Enters the queue directory, or exits 3.
enter_queue() {
    if [ -z "$q" ] || ! cd "$q"; then
        echo "cannot enter the postfix queue directory" >&2
        exit 3
    fi
}
