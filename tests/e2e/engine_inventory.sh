#!/bin/bash
# e2e: respond -i INVENTORY --limit PATTERN: only the selected hosts are
# touched; per-host ansible_user/ansible_become reach the connection (h2 as
# deploy through sudo); run.json keeps them so rollback reconnects the same
# way; hosts named on the command line join the inventory's.
. "$(dirname "$0")/lib/engine.sh"

a() { local v=LAB_ADDR_$1; echo "${!v}"; }
cat >"$TMP/fleet.ini" <<INI
# the lab as an inventory
[plesk]
h1 ansible_host=$(a h1)

[plain]
h2 ansible_host=$(a h2) ansible_user=deploy ansible_become=true
h3 ansible_host=$(a h3)

[mail:children]
plesk
plain
INI
keys=(--identity "$LAB_KEY" --known-hosts "$LAB_KNOWN_HOSTS")
deploy_logins() { "$LAB" sshd-log "$1" | grep -c 'Accepted publickey for deploy' || true; }

declare -A before
for h in $LAB_HOSTS; do before[$h]=$(host_state "$h"); done
c1=$(sshd_conns h1)
d2=$(deploy_logins h2)
rc=0
respond "${keys[@]}" --yes -i "$TMP/fleet.ini" --limit 'mail:!plesk' >"$TMP/out" 2>"$TMP/err" || rc=$?
check "respond -i --limit exits 0 (got $rc)" test "$rc" = 0
run=$(run_id)
check "run.json lists the selected hosts" test "$(jget "$run" '" ".join(o["hosts"])')" = "h2 h3"
check "h1 (excluded by --limit) was not contacted" test "$(sshd_conns h1)" = "$c1"
check "h1 unchanged" test "$(host_state h1)" = "${before[h1]}"
for h in h2 h3; do
    check "$h committed" test "$(markers "$h")" = "host one purged two"
done
check "h2 was reached as deploy" test "$(deploy_logins h2)" -gt "$d2"
owner=$("$LAB" on h2 stat -c %U "$MDIR/one")
check "h2's markers were written as root through sudo (owner $owner)" test "$owner" = root
check "run.json keeps h2's user" test "$(jget "$run" 'o["targets"]["h2"]["user"]')" = deploy
check "run.json keeps h2's become" test "$(jget "$run" 'o["targets"]["h2"]["become"]')" = True
check "run.json keeps h3's address" test "$(jget "$run" 'o["targets"]["h3"]["address"]')" = "$(a h3)"

# rollback reconnects as the run did (deploy + sudo on h2)
d2=$(deploy_logins h2)
rc=0
ss rollback "${keys[@]}" --yes "$run" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "rollback exits 0 (got $rc)" test "$rc" = 0
check "rollback reached h2 as deploy" test "$(deploy_logins h2)" -gt "$d2"
for h in $LAB_HOSTS; do
    check "$h as before after rollback" test "$(host_state "$h")" = "${before[$h]}"
done

# a host named on the command line joins the inventory's hosts
rc=0
respond "${keys[@]}" --yes -i "$TMP/fleet.ini" --limit 'plain:!h2' h1 >"$TMP/out" 2>"$TMP/err" || rc=$?
run=$(run_id)
check "-i with --limit narrows the inventory only: h3 (got $rc)" \
    test "$(jget "$run" '" ".join(o["hosts"])')" = "h3"
ss rollback "${keys[@]}" --yes "$run" >/dev/null 2>&1 || fail "rollback"
cat >"$TMP/plain.ini" <<INI
[plain]
h2 ansible_host=$(a h2) ansible_user=deploy ansible_become=true
h3 ansible_host=$(a h3)
INI
rc=0
respond "${keys[@]}" --yes -i "$TMP/plain.ini" h1 >"$TMP/out" 2>"$TMP/err" || rc=$?
run=$(run_id)
check "command-line h1 joins the inventory's h2 and h3 (exit $rc)" \
    test "$(jget "$run" '" ".join(sorted(o["hosts"]))')" = "h1 h2 h3"
for h in $LAB_HOSTS; do
    check "$h committed" test "$(jget "$run" "o['host_states']['$h']")" = committed
done
ss rollback "${keys[@]}" --yes "$run" >/dev/null 2>&1 || fail "rollback"
for h in $LAB_HOSTS; do
    check "$h as before at the end" test "$(host_state "$h")" = "${before[$h]}"
done
finish
