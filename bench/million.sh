#!/bin/bash
# The million-message benchmark (issue 24): one lab host with N queued
# messages (90% of one stolen account, 10% legitimate), staged fast and
# genuine (docs/lab.md, "A million messages"); then spamstop respond on
# it. Measures the staging, the identify pass (the survey's command time
# from the audit trail) against the `postcat -e` floor on the same host,
# the controller's peak RSS for the whole respond (/usr/bin/time -v), and
# checks the run: every spam message held and deleted, the legitimate
# mail still queued and untouched, the password changed, Postfix up.
#
# usage: bench/million.sh [--host H] [--messages N] [--templates T]
#                         [--spamstop PATH] [--out DIR] [--keep]
# Lab: the one named by LAB_NAME/LAB_NET, already up (a plain host; its
# tmpfs must hold N queue files: about 5 KiB each, LAB_TMPFS_SIZE at up).
# T genuine messages are submitted over SMTP AUTH, then cloned N/T times.
# Writes one JSON line to DIR/million-STAMP.jsonl (default bench/results).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${SOURCE_DIR:-$(cd "$here/.." && pwd)}
lab=$src/tests/lab/lab.sh
h=h3
n=1000000
templates=1000
ss=${SPAMSTOP:-$src/build/spamstop}
out=$src/bench/results
keep=0

die() {
    echo "million: $*" >&2
    exit 2
}
say() { echo "million: $*" >&2; }

while (($#)); do
    case $1 in
    --host) h=$2 && shift ;;
    --messages) n=$2 && shift ;;
    --templates) templates=$2 && shift ;;
    --spamstop) ss=$2 && shift ;;
    --out) out=$2 && shift ;;
    --keep) keep=1 ;;
    -h | --help)
        sed -n '2,17p' "$0"
        exit 0
        ;;
    *) die "unknown option '$1'" ;;
    esac
    shift
done
[[ -n ${LAB_NAME:-} && -n ${LAB_NET:-} ]] || die "set LAB_NAME and LAB_NET (a lab that is up)"
[[ $n =~ ^[0-9]+$ && $templates =~ ^[0-9]+$ ]] || die "bad numbers"
((templates >= 10 && n >= templates && n % templates == 0)) ||
    die "--messages must be a multiple of --templates (at least 10)"
[[ -x $ss ]] || die "no spamstop binary '$ss'"
ss=$(realpath "$ss")
env_file=$("$lab" env)
# shellcheck disable=SC1090
. "$env_file"
mkdir -p "$out"
work=$(mktemp -d /tmp/ss-million-XXXXXX)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
cleanup() {
    local rc=$?
    ((keep)) || "$lab" clear "$h" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

spam_t=$((templates * 9 / 10))
legit_t=$((templates - spam_t))
k=$((n / templates))
spam_n=$((spam_t * k))
legit_n=$((legit_t * k))

# --- staging ---------------------------------------------------------------
say "staging $n messages on $h: $templates over SMTP AUTH, each cloned x$k"
"$lab" clear "$h" >/dev/null
t0=$(now)
"$lab" stage "$h" --spam "alice:$spam_t" --legit "$legit_t" 2>"$work/stage.log"
t1=$(now)
"$lab" clone "$h" "$k" 2>"$work/clone.log"
t2=$(now)
say "staged: SMTP $(secs "$t0" "$t1") s, clone $(secs "$t1" "$t2") s ($(tail -1 "$work/clone.log"))"
q=$("$lab" on "$h" sh -c 'cd /var/spool/postfix && find deferred -type f | wc -l')
[[ $q == "$n" ]] || die "staged $q messages, not $n"

# --- the floor: postcat -e over every queue file, on the host ---------------
floor_script='cd /var/spool/postfix && find deferred active incoming hold maildrop -type f | xargs postcat -e >/dev/null'
t3=$(now)
"$lab" on "$h" sh -c "$floor_script"
t4=$(now)
floor_s=$(secs "$t3" "$t4")
say "floor: postcat -e over $n messages on $h: ${floor_s} s"

# --- spamstop respond --------------------------------------------------------
st=$work/state
mkdir -m 700 "$st"
rc=0
t5=$(now)
(cd "$st" && exec /usr/bin/time -v -o "$work/time.txt" "$ss" respond --yes -F "$LAB_SSH_CONFIG" \
    --known-hosts "$LAB_KNOWN_HOSTS" --state-dir "$st" "$h" >"$work/respond.out" 2>&1) || rc=$?
t6=$(now)
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
read -r survey_ms survey_bytes flagged steps mail_down_ms < <(/usr/bin/python3 - "$st"/runs/*/audit.jsonl "$st"/runs/*/evidence/"$h"/seen.json "$st"/runs/*/evidence/"$h"/start.evidence.json <<'PY'
import collections, json, os, sys
per, survey = collections.defaultdict(int), None
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "command" and "duration_ms" in r and r.get("step"):
        per[r["step"]] += r["duration_ms"]
        if r["step"] == "survey" and "IDENTIFY END" in r.get("command", "") and survey is None:
            survey = r
f = json.load(open(sys.argv[2]))
# the start's own count of the mail-down time (stop to start, on the host)
down = -1
if os.path.exists(sys.argv[3]):
    down = json.load(open(sys.argv[3])).get("mail_down_ms", -1)
print(survey["duration_ms"], survey["stdout_bytes"], f.get("flagged_messages", -1),
      ",".join("%s:%d" % kv for kv in per.items()), down)
PY
)
say "respond: rc=$rc $(secs "$t5" "$t6") s, peak RSS ${rss} kB, survey ${survey_ms} ms (${survey_bytes} bytes), steps ms: $steps, mail down ${mail_down_ms} ms"
if ((rc != 0)); then
    keep_dir=$(mktemp -d /tmp/ss-million-failed-XXXXXX)
    cp -a "$st" "$work/respond.out" "$keep_dir/"
    grep -E "failed|error|cannot" "$work/respond.out" | head -5 >&2 || true
    die "respond failed: its state and output kept in $keep_dir"
fi

# --- correctness ---------------------------------------------------------------
bad=""
((flagged == spam_n)) || bad+=" flagged=$flagged(want $spam_n)"
left=$("$lab" on "$h" sh -c 'cd /var/spool/postfix && find deferred active incoming hold maildrop -type f | wc -l')
[[ $left == "$legit_n" ]] || bad+=" left=$left(want $legit_n)"
held=$("$lab" on "$h" sh -c 'cd /var/spool/postfix && find hold -type f | wc -l')
[[ $held == 0 ]] || bad+=" still-held=$held"
# what is left is the legitimate mail, as staged: bob's and carol's
others=$("$lab" on "$h" postqueue -j | /usr/bin/python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l)["sender"] not in ("bob@example.test", "carol@example.test")))')
[[ $others == 0 ]] || bad+=" not-legit-left=$others"
"$lab" on "$h" postfix status >/dev/null 2>&1 || bad+=" postfix-stopped"
tpl=$(grep '^alice@' "$LAB_DIR/tpl/users")
"$lab" on "$h" grep -qxF -- "$tpl" /etc/dovecot/users && bad+=" password-unchanged"
check=${bad:-ok}
ratio=$(awk -v a="$survey_ms" -v b="$floor_s" 'BEGIN { printf "%.2f", a / 1000 / b }')
say "check: $check; identify/floor = $ratio"
/usr/bin/python3 - "$out/million-$stamp.jsonl" <<PY
import json, sys
r = {"date": "$stamp", "host": "$h", "messages": $n, "spam": $spam_n, "legit": $legit_n,
     "templates": $templates, "stage_smtp_s": $(secs "$t0" "$t1"), "clone_s": $(secs "$t1" "$t2"),
     "floor_postcat_s": $floor_s, "survey_ms": $survey_ms, "survey_bytes": $survey_bytes,
     "identify_over_floor": $ratio, "respond_s": $(secs "$t5" "$t6"), "rss_kb": $rss,
     "steps_ms": "$steps", "mail_down_ms": $mail_down_ms, "check": "$check",
     "load": "$(cut -d' ' -f1-3 /proc/loadavg)", "nproc": $(nproc),
     "spamstop": "$("$ss" version 2>/dev/null | head -1)"}
open(sys.argv[1], "a").write(json.dumps(r) + "\n")
print(json.dumps(r))
PY
[[ $check == ok ]]
