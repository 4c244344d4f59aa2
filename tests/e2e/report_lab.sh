#!/bin/bash
# e2e: a staged incident (h1: alice's stolen password and a web script; h2:
# bob and alice again; h3: clean).  First a dry run and its report: what
# was read and what a real run would do, never "nothing was looked at".
# Then `respond --yes` and `report` in md, text, html and json: the numbers
# match what was staged, alice (flagged on two hosts) gets one notice that
# names no host (unless --notice-hosts), the text report has no Markdown
# escapes, no new password appears in any report, the HTML holds no markup
# from the queue.  With chromium installed the HTML is also rendered to
# $BUILD_DIR/test-artifacts/report.png.
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SPAMSTOP=${SPAMSTOP:-$SOURCE_DIR/build/spamstop}
LAB=$SOURCE_DIR/tests/lab/lab.sh
PY=/usr/bin/python3
# shellcheck disable=SC1090
. "$("$LAB" env)"
TMP=$(mktemp -d /tmp/spamstop-e2e-report.XXXXXX)
SD=$TMP/state
T0=$(date +%s.%N)
# shellcheck disable=SC1091
. "$SOURCE_DIR/tests/e2e/lib/check.sh"
cleanup() {
    local h
    for h in h1 h2 h3; do "$LAB" clear "$h" >/dev/null 2>&1 || true; done
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$TMP"
}
trap cleanup EXIT
ss() { "$SPAMSTOP" "$1" -F "$LAB_SSH_CONFIG" --state-dir "$SD" "${@:2}"; }
rep() { "$SPAMSTOP" report --state-dir "$SD" "$@"; }

for h in h1 h2 h3; do "$LAB" clear "$h" >/dev/null; done
"$LAB" stage h1 --spam alice:120 --legit 10 --script 3 >/dev/null 2>&1
"$LAB" stage h2 --spam bob:80 --spam alice:60 --legit 5 >/dev/null 2>&1
"$LAB" stage h3 --legit 4 >/dev/null 2>&1
# what was staged, message by message: "kind account sha256 message-id"
for h in h1 h2 h3; do cp "$LAB_DIR/stage-$h.txt" "$TMP/stage-$h.txt"; done

# the dry run's report: what was read, what a real run would do
rc=0
ss respond --dry-run h1 h2 h3 >"$TMP/dry.out" 2>&1 || rc=$?
check "dry run exits 0 (got $rc: $(tail -3 "$TMP/dry.out" | tr '\n' ' '))" \
    test "$rc" = 0
dry=$(ls -1 "$SD/runs" | sort | tail -n 1)
for f in md json; do
    rc=0
    rep "$dry" --format "$f" -o "$TMP/dry.$f" 2>"$TMP/dry.$f.err" || rc=$?
    check "dry-run report --format $f exits 0 (got $rc: $(cat "$TMP/dry.$f.err"))" \
        test "$rc" = 0
done
check "the dry-run report never says nothing was looked at" \
    bash -c "! grep -qi 'nothing on this host was looked at\|No identify findings' '$TMP/dry.md'"
check "the dry-run report has a plan per host" \
    test "$(grep -c '^### What a real run would do' "$TMP/dry.md")" = 3
check "the dry-run report would reset alice on h1 and h2" \
    test "$(grep -c 'Set a new password for .*alice@example.test' "$TMP/dry.md")" = 2
check "the dry-run report has no step 'not started'" \
    bash -c "! grep -q 'not started' '$TMP/dry.md'"
out=$("$PY" - "$TMP/dry.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
errs = []
if not r["dry_run"]:
    errs.append("dry_run false")
for h in r["hosts"]:
    if h["state"] != "dry-run":
        errs.append(f"{h['host']} state {h['state']}")
    if not h["findings"]:
        errs.append(f"{h['host']} has no findings")
    if h["queue_before"] is None:
        errs.append(f"{h['host']} has no queue listing")
if r["notices"]:
    errs.append("a dry run drafted notices")
print("; ".join(errs) if errs else "ok")
EOF
)
check "the dry-run JSON report keeps states, findings and listings ($out)" \
    test "$out" = ok
check "run.json keeps the dry run's host states" \
    test "$(grep -c '"dry-run"' "$SD/runs/$dry/run.json")" = 4

rc=0
ss respond --yes h1 h2 h3 >"$TMP/respond.out" 2>&1 || rc=$?
check "respond exits 0 (got $rc: $(tail -3 "$TMP/respond.out" | tr '\n' ' '))" \
    test "$rc" = 0
run=$(ls -1 "$SD/runs" | sort | tail -n 1)

for f in md text html json; do
    rc=0
    rep "$run" --format "$f" -o "$TMP/report.$f" 2>"$TMP/report.$f.err" ||
        rc=$?
    check "report --format $f exits 0 (got $rc: $(cat "$TMP/report.$f.err"))" \
        test "$rc" = 0
    check "report.$f is mode 0600" test "$(stat -c %a "$TMP/report.$f")" = 600
done
rep "$run" >"$TMP/stdout.md" 2>/dev/null || true
check "report to stdout is the md report" \
    test "$(grep -vc 'Report made' "$TMP/stdout.md")" = \
    "$(grep -vc 'Report made' "$TMP/report.md")"

# the numbers of the staged incident, from the JSON report
out=$("$PY" - "$TMP" <<'EOF'
import json, sys, collections
tmp = sys.argv[1]
r = json.load(open(tmp + "/report.json"))
hosts = {x["host"]: x for x in r["hosts"]}
errs = []
notice_hosts = {}
def want(what, got, exp):
    if got != exp:
        errs.append(f"{what}: got {got!r}, want {exp!r}")
want("audit ok", r["audit"]["ok"], True)
for name, h in sorted(hosts.items()):
    lines = [l.split() for l in open(f"{tmp}/stage-{name}.txt")]
    total = len(lines)
    per = collections.Counter(l[1] for l in lines if l[1] != "-")
    # identify's rule: at least 50 messages and 20% of the queue
    flagged = {a: n for a, n in per.items() if n >= 50 and n >= 0.2 * total}
    scripts = sum(1 for l in lines if l[0] == "script")
    f = h["findings"]
    want(f"{name} identify total", f["total"], total)
    # flagged with queued mail; the lab's own mail logs may add suspects
    # that have none queued (flagged or on watch from the logs)
    want(f"{name} flagged", sorted(s["username"] for s in f["suspects"]
                                   if s["flagged"] and s["messages"] > 0), sorted(flagged))
    for s in f["suspects"]:
        want(f"{name} {s['username']} messages", s["messages"], per.get(s["username"], 0))
        want(f"{name} {s['username']} has client IPs", bool(s["clients"]["top"]),
             s["messages"] > 0)
    want(f"{name} script messages", sum(s["messages"] for s in f["scripts"]), scripts)
    if not flagged:
        want(f"{name} state", h["state"], "committed")
        want(f"{name} the survey's listing", h["queue_before"]["total"], total)
        want(f"{name} nothing rotated", h["rotated"], [])
        continue
    want(f"{name} before total", h["queue_before"]["total"], total)
    want(f"{name} before deferred", h["queue_before"]["counts"]["deferred"], total)
    want(f"{name} purged", h["purge"]["by_account"], flagged)
    want(f"{name} listing digest in trail",
         any(e["path"].endswith("/suspects.queue.json") and e["in_trail"]
             for e in h["evidence"]), True)
    if h["state"] == "committed":
        want(f"{name} after total", h["queue_after"]["total"], total - sum(flagged.values()))
        want(f"{name} rotated", sorted(h["rotated"]), sorted(flagged))
        want(f"{name} purge fate", h["purge"]["fate"], "deleted")
        for a in flagged:
            notice_hosts.setdefault(a, []).append(name)
    else:
        # a rolled-back host: the report must say everything was put back
        want(f"{name} restored", sorted(h["restored"]), sorted(flagged))
        want(f"{name} after total", h["queue_after"]["total"], total)
# one notice per account, with every host its new password stands on
want("notices", {n["account"]: n["hosts"] for n in r["notices"]}, notice_hosts)
for n in r["notices"]:
    words = n["text"].replace(".", " ").replace(",", " ").split()
    for name in hosts:
        if name in words:
            errs.append(f"notice of {n['account']} names host {name}")
    if "not affected" in n["text"]:
        errs.append(f"notice of {n['account']} says 'not affected'")
# the damage per account: alice on two hosts, her numbers summed
acc = {a["account"]: a for a in r["accounts"]}
alice = acc.get("alice@example.test")
if alice is None:
    errs.append("alice not in accounts")
else:
    want("alice's hosts", alice["hosts"], ["h1", "h2"])
    want("alice's held", alice["held"], 180)
    want("alice's recipient domains", bool(alice["recipient_domains"]["top"]), True)
print("; ".join(errs) if errs else "ok")
EOF
)
check "report numbers match the staged incident ($out)" test "$out" = ok

# no new password in any report (the credentials file has them)
check "the run wrote a credentials file" test -s "$SD/runs/$run/credentials"
leaks=0
while read -r _host _acct pw; do
    for f in md text html json; do
        if grep -qF -- "$pw" "$TMP/report.$f"; then leaks=$((leaks + 1)); fi
    done
done <"$SD/runs/$run/credentials"
check "no password from the credentials file in any report ($leaks found)" \
    test "$leaks" = 0
check "md has one customer notice for alice (flagged on h1 and h2)" \
    test "$(grep -c "Security notice: the password of alice@example.test" "$TMP/report.md")" = 1
check "text has one customer notice for alice" \
    test "$(grep -c "Security notice: the password of alice@example.test" "$TMP/report.text")" = 1
check "text's summary calls h3 (nothing flagged, nothing changed) clean" \
    grep -Eq '^h3 +clean ' "$TMP/report.text"
check "text's summary calls h1 committed" grep -Eq '^h1 +committed ' "$TMP/report.text"
check "text has no Markdown escapes" \
    bash -c "! grep -q '\\\\[_*|<>#]' '$TMP/report.text'"
check "text has its sections as plain headings" \
    grep -qx -- "-------" <(grep -A1 -x "Summary" "$TMP/report.text")
rep "$run" --notice-hosts --format json -o "$TMP/named.json" 2>/dev/null || true
check "--notice-hosts names alice's two hosts in her notice" \
    "$PY" -c "import json,sys; r=json.load(open('$TMP/named.json')); \
sys.exit(0 if any('h1 and h2' in ' '.join(n['text'].split()) for n in r['notices'] \
if n['account']=='alice@example.test') else 1)"
check "html is one self-contained file" \
    bash -c "! grep -Eq '<(script|link|img|iframe)|src=\"|href=\"' '$TMP/report.html'"

# a look in a real browser, when there is one
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -n $browser ]]; then
    art=${BUILD_DIR:-$TMP}/test-artifacts
    mkdir -p "$art"
    rm -f "$art/report.png" # a stale one from an earlier run proves nothing
    prof=$(mktemp -d)
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$prof" --screenshot="$art/report.png" \
        --window-size=1200,1600 "file://$TMP/report.html" >/dev/null 2>&1 || true
    rm -rf "$prof"
    check "chromium rendered the HTML report ($art/report.png)" \
        bash -c "head -c 8 '$art/report.png' | od -An -tx1 | tr -d ' \n' | grep -qx 89504e470d0a1a0a"
    cp "$TMP/report.html" "$art/report.html"
else
    echo "# chromium not installed: no screenshot"
fi

echo "# $(basename "$0"): $(awk -v a="$T0" -v b="$(date +%s.%N)" \
    'BEGIN { printf "%.1f", b - a }') s"
if ((fails > 0)); then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
