#!/bin/bash
# e2e: the README's set-up commands work as written, as root, where there is
# no sudo.  The README starts with exactly two commands (the demo, then the
# test suite), and .ci/run runs the second one and nothing else; the first,
# run in a fresh clone with a sudo on PATH that only records that it was
# called and fails like a missing one, installs, builds, starts its lab,
# responds to the live incident, reports and verifies the audit trail.
# (The second command is what CI itself runs on a clean clone.)
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

t=readme_commands
fails=0
fail() {
    echo "$t: FAIL: $*" >&2
    fails=$((fails + 1))
}
ok() { echo "$t: ok: $*"; }

# The indented lines before the first "## " heading are the set-up commands.
mapfile -t cmds < <(awk '/^## /{exit} /^    [^ ]/{sub(/^    /, ""); print}' \
    "$src/README.md")
if [[ ${#cmds[@]} == 2 ]]; then
    ok "the README starts with two commands: ${cmds[*]}"
else
    fail "the README starts with ${#cmds[@]} commands: ${cmds[*]}"
fi
[[ ${cmds[1]:-} == tests/check.sh ]] && grep -qx 'exec tests/check.sh' "$src/.ci/run" &&
    ok ".ci/run runs the second command and nothing else" ||
    fail ".ci/run does not run '${cmds[1]:-}': $(grep -v '^#' "$src/.ci/run" | tr '\n' ' ')"
[[ $(id -u) == 0 ]] || {
    fail "must run as root, like the README's commands"
    exit 1
}
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || {
    fail "$src is not a git clone: nothing to clone from"
    exit 1
}

work=$(mktemp -d /tmp/ss-readme-XXXXXX)
chmod 700 "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
git clone -q "$src" "$work/clone"
# A sudo first on PATH that records its arguments' count (never them) and
# fails as "command not found" does.
mkdir "$work/bin"
cat >"$work/bin/sudo" <<EOF
#!/bin/sh
echo "called with \$# arguments" >>"$work/sudo-calls"
echo "sudo: command not found" >&2
exit 127
EOF
chmod 755 "$work/bin/sudo"

rc=0
# as written: not with the e2e suite's lab (LAB_NAME names it; the demo
# brings up and tears down its own)
(cd "$work/clone" && env -u LAB_NAME -u LAB_NET -u LAB_HOSTS -u SPAMSTOP -u SOURCE_DIR -u BUILD_DIR PATH="$work/bin:$PATH" \
    timeout 900 ${cmds[0]} </dev/null >"$work/out" 2>&1) || rc=$?
[[ $rc == 0 ]] && ok "'${cmds[0]}' in a fresh clone exits 0" ||
    fail "'${cmds[0]}' exits $rc: $(tail -20 "$work/out")"
[[ ! -e $work/sudo-calls ]] && ok "no sudo called" ||
    fail "sudo called: $(cat "$work/sudo-calls")"
grep -q "command not found" "$work/out" && fail "'command not found' in the output" ||
    ok "no 'command not found'"
# the demo's promises: a real run with a recap, its report, a verified trail
# (without a terminal each line of spamstop's starts with its UTC time)
grep -Eq '^([0-9T:.-]+Z )?respond: run [0-9a-z-]+ on 3 hosts$' "$work/out" &&
    ok "the real run's log starts with its run id" || fail "no 'respond: run ID on 3 hosts'"
grep -q '^audit: *verified' "$work/out" && ok "the audit trail verified" ||
    fail "no verified audit trail: $(grep -i audit "$work/out" | tail -3)"
grep -q 'Incident report' "$work/out" && ok "the report is shown" ||
    fail "no report in the output"
# install noise stays out of the demo's output
grep -Eq '^(Get|Hit|Reading package|Setting up|Selecting previously|-- )' "$work/out" &&
    fail "install or build noise in the output: $(grep -Em3 '^(Get|Hit|Reading|Setting|Selecting|-- )' "$work/out")" ||
    ok "no install or build noise"
if ((fails > 0)); then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
