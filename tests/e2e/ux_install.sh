#!/bin/bash
# e2e: `cmake --install` into a DESTDIR: the binary, playbooks, man page and
# bash completion land where a user looks; the man page renders without
# warnings; the installed binary finds its default playbook by the lookup
# order of docs/playbooks.md and runs respond --dry-run on the lab with it.
set -euo pipefail
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
lab=$src/tests/lab/lab.sh
build=${BUILD_DIR:-$src/build}
# shellcheck disable=SC1090
. "$("$lab" env)"

t=ux_install
fail() {
    echo "$t: FAIL: $*" >&2
    exit 1
}
ok() { echo "$t: ok: $*"; }

work=$(mktemp -d /tmp/ss-install-XXXXXX)
chmod 700 "$work"
cleanup() {
    "$lab" clear h1 >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

dest=$work/dest
DESTDIR=$dest cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 ||
    fail "cmake --install failed: $(tail -5 "$work/install.log")"
bin=$dest/usr/bin/spamstop
pbdir=$dest/usr/share/spamstop/playbooks
man=$dest/usr/share/man/man1/spamstop.1
[[ -f $man ]] || man=$man.gz
comp=$dest/usr/share/bash-completion/completions/spamstop
[[ -x $bin ]] || fail "no executable usr/bin/spamstop"
[[ -f $pbdir/compromised-account.json ]] || fail "no usr/share/spamstop/playbooks/compromised-account.json"
[[ -f $man ]] || fail "no usr/share/man/man1/spamstop.1(.gz)"
[[ -f $comp ]] || fail "no usr/share/bash-completion/completions/spamstop"
find "$dest" -name '*.c' -o -name '*.h' -o -name '*.sh' | grep -q . &&
    fail "sources or scripts installed: $(find "$dest" -name '*.[ch]' -o -name '*.sh' | head -3)"
"$bin" --version >"$work/version" 2>&1 || fail "installed binary: --version failed"
ok "installed: bin/spamstop ($(cat "$work/version")), playbooks, man page, completion"

# the man page renders, and groff has nothing to say about it
command -v man >/dev/null || fail "man is not installed (tests/install-deps.sh)"
MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$man" >"$work/man.txt" 2>"$work/man.err" ||
    fail "man -l failed: $(head -5 "$work/man.err")"
[[ ! -s $work/man.err ]] || fail "man -l warns: $(head -5 "$work/man.err")"
grep -q 'SPAMSTOP_PLAYBOOK_DIR' "$work/man.txt" || fail "the man page does not name SPAMSTOP_PLAYBOOK_DIR"
grep -q 'respond' "$work/man.txt" || fail "the rendered man page lacks 'respond'"
ok "man -l renders $(wc -l <"$work/man.txt") lines, no warnings"

# bash completion: the installed file defines the completion of spamstop
bash -c ". '$comp' && complete -p spamstop" >"$work/comp" 2>&1 ||
    fail "the completion file does not complete spamstop: $(cat "$work/comp")"
ok "completion: $(cat "$work/comp")"

# The lookup order: -p FILE, $SPAMSTOP_PLAYBOOK_DIR, BIN/../share/spamstop/
# playbooks, the compile-time folder, the source tree.  The DESTDIR copy is
# rewritten (same meaning, other bytes) so its digest tells it apart.
python3 - "$pbdir/compromised-account.json" <<'EOF'
import json, sys
p = sys.argv[1]
o = json.load(open(p))
open(p, "w").write(json.dumps(o, indent=1) + "\n")
EOF
sha() { sha256sum "$1" | cut -d' ' -f1; }
used() { # the playbook digest the last run recorded
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["playbook_sha256"])' \
        "$work/state/runs/$(ls -t "$work/state/runs" | head -1)/run.json"
}
[[ $(sha "$pbdir/compromised-account.json") != $(sha "$src/playbooks/compromised-account.json") ]] ||
    fail "the rewritten copy has the source's digest"
dry() {
    "$bin" respond --dry-run -F "$LAB_SSH_CONFIG" --known-hosts "$LAB_KNOWN_HOSTS" \
        --state-dir "$work/state" "$@" h1 h2 h3
}
"$lab" clear h1 >/dev/null
"$lab" stage h1 --spam alice:80 --legit 5 >/dev/null 2>&1

rc=0
(unset SPAMSTOP_PLAYBOOK_DIR && dry) >"$work/dry.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "installed respond --dry-run exited $rc: $(tail -5 "$work/dry.out")"
grep -q 'will hold 80 messages of alice@example.test' "$work/dry.out" ||
    fail "dry-run does not plan alice's 80: $(grep -m3 'will ' "$work/dry.out")"
[[ $(used) == $(sha "$pbdir/compromised-account.json") ]] ||
    fail "the DESTDIR binary did not use the playbook installed beside it"
ok "DESTDIR binary: dry-run on the lab with the playbook beside it (would hold 80 of alice)"

# the binary moved elsewhere with its tree still finds it (relocatable)
mv "$dest/usr" "$work/opt"
bin=$work/opt/bin/spamstop
pbdir=$work/opt/share/spamstop/playbooks
(unset SPAMSTOP_PLAYBOOK_DIR && dry) >"$work/dry2.out" 2>&1 || fail "moved tree: dry-run failed"
[[ $(used) == $(sha "$pbdir/compromised-account.json") ]] || fail "moved tree: other playbook used"
ok "moved install tree: still the playbook beside the binary"

# $SPAMSTOP_PLAYBOOK_DIR wins over the folder beside the binary
mkdir "$work/pbenv"
python3 - "$src/playbooks/compromised-account.json" "$work/pbenv/compromised-account.json" <<'EOF'
import json, sys
open(sys.argv[2], "w").write(json.dumps(json.load(open(sys.argv[1])), indent=3) + "\n")
EOF
SPAMSTOP_PLAYBOOK_DIR=$work/pbenv dry >"$work/dry3.out" 2>&1 || fail "env dir: dry-run failed"
[[ $(used) == $(sha "$work/pbenv/compromised-account.json") ]] || fail "\$SPAMSTOP_PLAYBOOK_DIR was not used"
ok "\$SPAMSTOP_PLAYBOOK_DIR wins over the installed folder"

# a set but empty-handed $SPAMSTOP_PLAYBOOK_DIR is an error, not a fallback
rc=0
SPAMSTOP_PLAYBOOK_DIR=$work/nowhere dry >"$work/dry4.out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "missing \$SPAMSTOP_PLAYBOOK_DIR: exit $rc, want 2"
grep -q "no playbook 'compromised-account.json' in '$work/nowhere'" "$work/dry4.out" ||
    fail "missing \$SPAMSTOP_PLAYBOOK_DIR: $(cat "$work/dry4.out")"
ok "a \$SPAMSTOP_PLAYBOOK_DIR without the playbook: exit 2, named"

# -p FILE wins over everything
SPAMSTOP_PLAYBOOK_DIR=$work/pbenv dry -p "$src/playbooks/compromised-account.json" \
    >"$work/dry5.out" 2>&1 || fail "-p: dry-run failed"
[[ $(used) == $(sha "$src/playbooks/compromised-account.json") ]] || fail "-p FILE was not used"
ok "-p FILE wins over \$SPAMSTOP_PLAYBOOK_DIR"
