# The e2e scripts' verdicts: pass and fail print one TAP-like line each,
# fail counts into $fails (the script's finish turns it into the exit
# status), check runs a command and says which.
fails=0
pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*" >&2
    fails=$((fails + 1))
}
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
