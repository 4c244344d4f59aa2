#!/bin/bash
# e2e: the fleet picture in the plan (issue 21, item 5).  alice's stolen
# password on h1 and h2, dave's on h2, h3 clean; the lab submits all spam
# from the same four client addresses.  The dry run's plan then says, after
# the hosts and before the recap, that alice gets one notice and which
# client addresses sent for whom on which host: that block must be
# tests/golden/fleet-plan.txt (GOLDEN_UPDATE=1 writes it; read the diff).
# --json carries it as a "fleet" event; a run where one host alone has a
# flagged account says nothing of the fleet; the committed run's result
# says it again.
. "$(dirname "$0")/lib/runbook.sh"

golden=$src/tests/golden/fleet-plan.txt
at_exit 'for h in h1 h2 h3; do "$lab" clear "$h" >/dev/null 2>&1; done'

for h in h1 h2 h3; do "$lab" clear "$h" >/dev/null; done
"$lab" stage h1 --spam alice:60 --legit 3 >/dev/null 2>&1
"$lab" stage h2 --spam alice:55 --spam dave:60 --legit 2 >/dev/null 2>&1
"$lab" stage h3 --legit 2 >/dev/null 2>&1

# the lab's network (10.N.0.0/24, N from LAB_NET): NET in the golden file
net=10.$LAB_NET.0

# fleet_block FILE: the lines from "Fleet:" to the recap, without times,
# the lab's network as NET.
fleet_block() {
    sed -E -e 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' \
        -e "s/(^|[^0-9])${net//./\\.}\./\1NET./g" "$1" |
        awk '/^Fleet: / { on = 1 } /^RECAP / { on = 0 } on'
}

# --- the plan: one notice for alice, the addresses the hosts share -------
run respond --dry-run --forks 1 h1 h2 h3 >"$work/dry.log" 2>&1 ||
    fail "dry run: $(tail -5 "$work/dry.log")"
fleet_block "$work/dry.log" >"$work/fleet.txt"
[[ -s $work/fleet.txt ]] || fail "dry run: no fleet picture: $(tail -20 "$work/dry.log")"
if [[ -n ${GOLDEN_UPDATE:-} ]]; then
    cp "$work/fleet.txt" "$golden"
    ok "golden file written"
else
    diff -u "$golden" "$work/fleet.txt" ||
        fail "dry run: the fleet picture differs from tests/golden/fleet-plan.txt (above)"
    ok "the plan's fleet picture is tests/golden/fleet-plan.txt"
fi
grep -qx "  alice@example.test flagged on h1, h2: one notice" "$work/fleet.txt" ||
    fail "dry run: alice's one notice is not said"
grep -q "^  dave@example.test flagged" "$work/fleet.txt" &&
    fail "dry run: dave, flagged on h2 alone, is said to be on several hosts"
grep -Eqx "  NET\.2 \(client IP\) sent for alice@example\.test on h1 \([0-9]+\), for dave@example\.test on h2 \([0-9]+\) and for alice@example\.test on h2 \([0-9]+\)" \
    "$work/fleet.txt" || fail "dry run: $net.2 is not put together across h1 and h2"
# after every host's plan, before the recap
fl=$(grep -n " Fleet: " "$work/dry.log" | cut -d: -f1)
h3l=$(grep -n " h3: clean$" "$work/dry.log" | cut -d: -f1)
rl=$(grep -n " RECAP dry-run " "$work/dry.log" | cut -d: -f1)
[[ -n $fl && -n $h3l && -n $rl ]] && ((h3l < fl && fl < rl)) ||
    fail "dry run: the fleet picture is not between the hosts' plans and the recap"
ok "the plan puts alice's hosts and the shared addresses together"

# --- --json: the same as a "fleet" event ---------------------------------
run respond --dry-run --json --forks 1 h1 h2 h3 >"$work/dry.json" 2>"$work/dry.err" ||
    fail "json dry run: $(tail -5 "$work/dry.err")"
/usr/bin/python3 - "$work/dry.json" "$net.2" <<'EOF' || fail "json dry run: the fleet event is wrong"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
names = [e["event"] for e in evs]
def need(c, m):
    if not c:
        print("fleet_plan: " + m, file=sys.stderr)
        sys.exit(1)
need(names.count("fleet") == 1, "not one fleet event: %s" % names)
i = names.index("fleet")
need(names[i + 1] == "run-end", "the fleet event is not right before run-end")
need(max(k for k, n in enumerate(names) if n == "host-end") < i,
     "the fleet event comes before a host ended")
f = evs[i]
need(f["command"] == "dry-run", "command %r" % f["command"])
need(f["accounts"] == [{"account": "alice@example.test", "hosts": ["h1", "h2"]}],
     "accounts %r" % f["accounts"])
v = {(x["kind"], x["value"]): x for x in f["values"]}
ip = sys.argv[2]
x = v.get(("client IP", ip))
need(x is not None, "no %s in %r" % (ip, sorted(v)))
seen = {(s["host"], s["account"]) for s in x["seen"]}
need(seen == {("h1", "alice@example.test"), ("h2", "alice@example.test"),
              ("h2", "dave@example.test")}, "%s seen %r" % (ip, seen))
need(x["hosts"] == 2 and x["messages"] == sum(s["messages"] for s in x["seen"]),
     "%s counts %r" % (ip, x))
need(f["values_more"] == 0 and x["seen_more"] == 0, "more left out")
# the records it comes from: each flagged account's top client addresses
acc = [a for e in evs if e["event"] == "host-end" and e["host"] == "h2"
       for s in e["steps"] if s.get("survey") for a in s["survey"]["accounts"]
       if a["account"] == "dave@example.test"]
need(acc and any(c["value"] == ip for c in acc[-1]["top_clients"]),
     "h2's survey has no top_clients for dave")
EOF
ok "--json has the fleet event, from the surveys' records"

# --- one host with a flagged account: no fleet picture -------------------
run respond --dry-run --forks 1 h1 h3 >"$work/one.log" 2>&1 ||
    fail "one host: $(tail -5 "$work/one.log")"
grep -q "FLAGGED alice@example.test" "$work/one.log" || fail "one host: alice is not flagged on h1"
! grep -q "Fleet:" "$work/one.log" || fail "one host: a fleet picture with nothing shared"
ok "nothing shared, nothing said"

# --- the committed run says it again, in its result ----------------------
run respond --yes --forks 1 h1 h2 h3 >"$work/run.log" 2>&1 ||
    fail "run: $(tail -5 "$work/run.log")"
fleet_block "$work/run.log" >"$work/run-fleet.txt"
diff -u "$work/fleet.txt" "$work/run-fleet.txt" ||
    fail "run: the result's fleet picture is not the plan's"
grep -Eq "h1 +committed" "$work/run.log" && grep -Eq "h2 +committed" "$work/run.log" ||
    fail "run: h1 and h2 not committed: $(tail -8 "$work/run.log")"
ok "the committed run's result has the same fleet picture"
