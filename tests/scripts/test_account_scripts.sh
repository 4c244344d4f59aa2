#!/bin/sh
# The account programs of lib/accounts/scripts (Plesk, Dovecot) and the
# engine's (forget-passwords, hostlock) against fake plesk and real files.
# Usage: test_account_scripts.sh SOURCE_DIR
# shellcheck disable=SC1091,SC2154,SC2016 # harness.sh sets tmp and rc; fakes are text
src=${1:?source dir}
. "$src/tests/scripts/harness.sh"

# plesk: mail_auth_view prints the table from $tmp/view; anything else
# logs its argv (a line each) and PSA_PASSWORD
fake plesk "if [ \"\$2\" = mail_auth_view ]; then cat $tmp/view; exit 0; fi
printf '%s\n' \"\$@\" >$tmp/argv
printf '%s' \"\$PSA_PASSWORD\" >$tmp/env"
cat >"$tmp/view" <<'X'
+---------------+-------+-----------+
| address | flags | password |
| o'b@x.test |  E     | old pw x  |
|c@x.test|E|other|
|   h@x.test    |  H  |           |
| d@x.test | | $AES-128-CBC$x |
| e@x.test |       |           |
+---------------+-------+-----------+
X
printf '| p|q@x.test   | E | pi|pe |\r\n' >>"$tmp/view"
pw='N3w-pass word'
printf '%s\n' "$pw" >"$tmp/pw"

# the set: the password from stdin into the environment, never argv
compose "$tmp/set" "A='o'\\''b@x.test'
k=''
b=''
" accounts/scripts/plesk-set.sh
run set "$tmp/pw"
check "the set exits 0" [ "$rc" -eq 0 ]
check "the password reaches plesk's environment" [ "$(cat "$tmp/env")" = "$pw" ]
check "the address reaches plesk's argv" [ "$(tr '\n' ' ' <"$tmp/argv")" = "bin mail --update o'b@x.test -passwd  " ]
check "the password is not in argv" lacks argv "N3w"
run set
check "no password: exit 2" [ "$rc" -eq 2 ]

# keeping the old password in a root-only file, once
keep="A='O'\\''B@x.test'
k='$tmp/acc/plesk-1'
b='$tmp/acc'
"
compose "$tmp/keep" "$keep" accounts/scripts/plesk.sh accounts/scripts/plesk-read.sh
run keep
check "the keep exits 0" [ "$rc" -eq 0 ]
check "the keep prints nothing" [ ! -s "$tmp/out" ]
check "the old password is kept" [ "$(cat "$tmp/acc/plesk-1")" = "old pw x" ]
check "... in a root-only file" [ "$(stat -c %a "$tmp/acc/plesk-1")" = 600 ]
sed -i 's/old pw x/changed/' "$tmp/view"
run keep
check "a second keep keeps the first" [ "$(cat "$tmp/acc/plesk-1")" = "old pw x" ]
# read A: the read of account A's password
read_of() {
    compose "$tmp/rd" "A='$1'
k=''
b=''
" accounts/scripts/plesk.sh accounts/scripts/plesk-read.sh
    run rd
}
read_of c@x.test
check "the read prints the password (no padding at all)" [ "$(cat "$tmp/out")" = other ]
read_of P\|Q@X.TEST
check "an address and a password with '|', a CR at the end" [ "$(cat "$tmp/out")" = 'pi|pe' ]
read_of nobody@x.test
check "an unknown account: exit 3" [ "$rc" -eq 3 ]
for a in h@x.test d@x.test e@x.test; do
    read_of "$a"
    check "$a (flag H, a hash, no password) is never read: exit 3" [ "$rc" -eq 3 -a ! -s "$tmp/out" ]
done
compose "$tmp/keeph" "A='h@x.test'
k='$tmp/acc/plesk-h'
b='$tmp/acc'
" accounts/scripts/plesk.sh accounts/scripts/plesk-read.sh
run keeph
check "a hashed account's keep fails, keeping nothing" [ "$rc" -eq 3 -a ! -e "$tmp/acc/plesk-h" ]

# the look: per account, sym or hashed from the table; --info knows them
fake plesk "if [ \"\$2\" = mail_auth_view ]; then cat $tmp/view; exit 0; fi
[ \"\$1 \$2 \$3\" = 'bin mail --info' ] || exit 9
[ \"\$4\" != nobody@x.test ]"
compose "$tmp/look" "" accounts/scripts/plesk.sh accounts/scripts/look.sh
printf '%s\n' "o'b@x.test" c@x.test h@x.test d@x.test e@x.test p\|q@x.test nobody@x.test gone@x.test >"$tmp/in"
run look "$tmp/in"
check "the look exits 0" [ "$rc" -eq 0 ]
check "the look: per account storage" [ "$(cat "$tmp/out")" = "backend plesk
account o'b@x.test yes sym
account c@x.test yes sym
account h@x.test yes hashed
account d@x.test yes hashed
account e@x.test yes hashed
account p|q@x.test yes sym
account nobody@x.test no
account gone@x.test yes hashed" ]
check "the look prints no password" lacks out "old pw"
fake plesk "if [ \"\$2\" = mail_auth_view ]; then cat $tmp/view; exit 0; fi
printf '%s\n' \"\$@\" >$tmp/argv
printf '%s' \"\$PSA_PASSWORD\" >$tmp/env"

# the restore: the kept password to the set's stdin
rm -f "$tmp/env"
compose "$tmp/put" "A='o'\\''b@x.test'
k='$tmp/acc/plesk-1'
b=''
" accounts/scripts/plesk-set.sh
run put
check "the restore exits 0" [ "$rc" -eq 0 ]
check "the kept password goes back" [ "$(cat "$tmp/env")" = "old pw x" ]
compose "$tmp/put2" "A='o'\\''b@x.test'
k='$tmp/acc/plesk-none'
b=''
" accounts/scripts/plesk-set.sh
rm -f "$tmp/env"
run put2
check "nothing kept: nothing to put back" has out "not rotated: nothing to put back"
check "... and no set" [ ! -f "$tmp/env" ]

# dovecot: rotate (backup once), restore, refusals
printf 'alice@x:{SHA512-CRYPT}$6$old$a::::\nbob@x:{SHA512-CRYPT}$6$old$b\n' >"$tmp/users"
chmod 640 "$tmp/users"
cp "$tmp/users" "$tmp/users.orig"
dv="f='$tmp/users'
b='$tmp/acc'
"
compose "$tmp/rot" "$dv" accounts/scripts/dovecot.sh accounts/scripts/dovecot-rotate.sh
compose "$tmp/res" "$dv" accounts/scripts/dovecot.sh accounts/scripts/dovecot-restore.sh
printf 'alice@x\n{SHA512-CRYPT}$6$new$a\n' >"$tmp/in"
run rot "$tmp/in"
check "the rotation exits 0" [ "$rc" -eq 0 ]
check "the rotation sets alice's hash" grep -qx 'alice@x:{SHA512-CRYPT}$6$new$a::::' "$tmp/users"
check "the rotation keeps bob" grep -qx 'bob@x:{SHA512-CRYPT}$6$old$b' "$tmp/users"
check "the rotation keeps the mode" [ "$(stat -c %a "$tmp/users")" = 640 ]
check "the backup is the file before" cmp -s "$tmp/users.orig" "$tmp/acc/$(printf '%s' "$tmp/users" | tr / _)"
printf 'alice@x\nplain\n' >"$tmp/in"
run rot "$tmp/in"
check "a hash that is no SHA512-CRYPT: exit 2" [ "$rc" -eq 2 ]
printf 'nobody@x\n{SHA512-CRYPT}$6$n$n\n' >"$tmp/in"
run rot "$tmp/in"
check "an unknown account: exit 4" [ "$rc" -eq 4 ]
printf 'alice@x\n' >"$tmp/in"
run res "$tmp/in"
check "the restore exits 0" [ "$rc" -eq 0 ]
check "the restore puts the file back" cmp -s "$tmp/users.orig" "$tmp/users"
printf 'a:b\n' >"$tmp/in"
run res "$tmp/in"
check "a bad name: exit 2" [ "$rc" -eq 2 ]

# the commit: only a folder ending in /accounts goes
compose "$tmp/forget" "b='$tmp/acc'
" engine/scripts/forget-passwords.sh
run forget
check "another folder is refused" [ "$rc" -eq 2 ]
check "another folder is refused (2)" [ -d "$tmp/acc" ]
mkdir -p "$tmp/run/accounts" && touch "$tmp/run/accounts/plesk-1"
compose "$tmp/forget" "b='$tmp/run/accounts'
" engine/scripts/forget-passwords.sh
run forget
check "the kept passwords are destroyed" [ "$rc" -eq 0 ]
check "the kept passwords are destroyed (2)" [ ! -e "$tmp/run/accounts" ]

# the host lock: take, held by a live holder, release
# lock NAME ACT ID OP: the host lock command NAME.
lock() {
    compose "$tmp/$1" "lk_dir='$tmp/lk'
lk_act=$2
lk_id='$3'
lk_op='$4'
" engine/scripts/hostlock.sh
}
lock take_a take run-a ops@ctl
lock take_b take run-b ops@ctl
lock rel_a release run-a ''
lock rel_b release run-b ''
run rel_a
check "release without a lock: not-held" [ "$(cat "$tmp/out")" = not-held ]
run take_a
check "take: taken" [ "$rc" -eq 0 ]
check "take: taken (2)" [ "$(cat "$tmp/out")" = taken ]
check "the record names the run" grep -q '^run-a ops@ctl [0-9]* [0-9]* [0-9]*$' "$tmp/lk/holder"
# a live holder: this test's shell, with its start time
start=$(awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$$/stat")
echo "run-a ops@ctl 1764330000 $$ $start" >"$tmp/lk/holder"
run take_b
check "held by a live holder: exit 3" [ "$rc" -eq 3 ]
check "... saying whose" [ "$(cat "$tmp/out")" = "held run-a ops@ctl 1764330000" ]
run rel_b
check "another run's release: not-held" [ "$(cat "$tmp/out")" = not-held ]
check "another run's release: not-held (2)" [ -f "$tmp/lk/holder" ]
run rel_a
check "the holder's release: released" [ "$(cat "$tmp/out")" = released ]
check "the holder's release: released (2)" [ ! -f "$tmp/lk/holder" ]
# a dead holder's lock is taken over
echo "run-a ops@ctl 1764330000 $$ 1" >"$tmp/lk/holder"
run take_b
check "a stale lock is taken over" [ "$rc" -eq 0 ]
check "a stale lock is taken over (2)" has err "took over a stale lock"

# evict.sh: auth cache flush and kicks, where Dovecot runs
compose "$tmp/evict" "" accounts/scripts/evict.sh
printf 'alice@x.test\nbob@x.test\n' >"$tmp/evict.in"
fake doveadm "echo \"\$*\" >>$tmp/doveadm.log
case \"\$1 \$2\" in
'who '*) exit 0;;
'auth cache') echo '3 cache entries flushed';;
'kick alice@x.test') printf 'kicked connections from the following users:\nalice@x.test\nalice@x.test\n';;
'kick bob@x.test') echo 'no users kicked'; exit 68;;
esac"
run "$tmp/evict" "$tmp/evict.in"
check "evict: cache flushed" has out "cache flushed"
check "evict: alice's 2 sessions" has out "kicked alice@x.test 2"
check "evict: bob had none" has out "kicked bob@x.test 0"
check "evict: the flush ran" has doveadm.log "auth cache flush"
fake doveadm "[ \"\$1\" = who ] && exit 75; exit 0"
run "$tmp/evict" "$tmp/evict.in"
check "evict: no Dovecot running" [ "$(sed 1d "$tmp/out")" = "cache none" ]
check "evict: the host's clock first" grep -qx 'now [0-9][0-9]*' "$tmp/out"
fake doveadm "case \"\$1\" in who) exit 0;; auth) exit 1;; kick) echo boom; exit 1;; esac"
run "$tmp/evict" "$tmp/evict.in"
check "evict: a failed flush is said" has out "cache failed"
check "evict: a failed kick is said" has out "kick-failed alice@x.test"

# auth-check.sh: the new password through the host's own SMTP AUTH path
compose "$tmp/auth" "ports='25 587 465'
" accounts/scripts/auth-check.sh
printf 'alice@x.test\nNewPass123abc\nbob@x.test\nWrongOne456def\n' >"$tmp/auth.in"
# Dovecot SASL: doveadm auth test with the password on its stdin
fake postconf "[ \"\$2\" = smtpd_sasl_type ] && echo dovecot"
fake doveadm "echo \"\$*\" >>$tmp/doveadm.log
read -r pw
if [ \"\$pw\" = NewPass123abc ]; then echo \"passdb: \$4 auth succeeded\"; exit 0; fi
echo \"passdb: \$4 auth failed\"; exit 77"
: >"$tmp/doveadm.log"
run "$tmp/auth" "$tmp/auth.in"
check "auth: dovecot named" has out "sasl dovecot"
check "auth: dovecot takes alice's" has out "auth ok alice@x.test"
check "auth: dovecot refuses bob's" has out "auth refused bob@x.test"
check "auth: doveadm auth test ran" has doveadm.log "auth test -x service=smtp alice@x.test"
check "auth: no password in doveadm's arguments" lacks doveadm.log "NewPass123abc"
fake doveadm "echo 'Fatal: connect(/run/dovecot/auth-client) failed'; exit 75"
run "$tmp/auth" "$tmp/auth.in"
check "auth: an unreachable doveadm is unknown" has out "auth unknown alice@x.test doveadm: Fatal"
# Cyrus SASL (Plesk): SMTP AUTH PLAIN on loopback, plain TCP through bash
fake postconf "case \"\$2\" in smtpd_sasl_type) echo cyrus;; smtpd_tls_security_level) echo none;; esac"
want=$(printf '\000alice@x.test\000NewPass123abc' | base64)
fake bash "echo \"\$*\" >>$tmp/bash.log
printf '220 h1 ESMTP\r\n'
IFS= read -r l; case \$l in EHLO*) printf '250-h1\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n';; esac
IFS= read -r l
l=\${l%\"\$(printf '\r')\"}
echo \"\$l\" >>$tmp/smtp.log
if [ \"\$l\" = 'AUTH PLAIN $want' ]; then printf '235 2.7.0 ok\r\n'; else printf '535 5.7.8 no\r\n'; fi
IFS= read -r l; printf '221 bye\r\n'"
: >"$tmp/bash.log"
run "$tmp/auth" "$tmp/auth.in"
check "auth: cyrus named" has out "sasl cyrus"
check "auth: smtp takes alice's" has out "auth ok alice@x.test"
check "auth: smtp refuses bob's" has out "auth refused bob@x.test"
check "auth: to smtpd on loopback" has bash.log "/dev/tcp/127.0.0.1/"
check "auth: port 25 offers AUTH: used, said" has out "smtp 25 plain"
check "auth: no password in the client's arguments" lacks bash.log "NewPass123abc"
check "auth: no password in base64 in its arguments" lacks bash.log "$want"
# A fake smtpd: server.sh GREET EHLO-EXTENSIONS (greeting or not, as
# after openssl's STARTTLS); logs each line it reads to smtp.log.
cat >"$tmp/server.sh" <<X
[ "\$1" = no ] || printf '220 h1 ESMTP\r\n'
while IFS= read -r l; do
    l=\${l%"\$(printf '\r')"}
    echo "\$l" >>$tmp/smtp.log
    case \$l in
    EHLO*) printf '250-h1\r\n'; for x in \$2; do printf '250-%s\r\n' "\$x"; done; printf '250 8BITMIME\r\n' ;;
    'AUTH PLAIN $want') printf '235 2.7.0 ok\r\n' ;;
    AUTH*) printf '535 5.7.8 no\r\n' ;;
    QUIT) printf '221 bye\r\n'; exit 0 ;;
    esac
done
X
# Submission only, AUTH after STARTTLS (smtpd_tls_auth_only): port 25
# offers neither, 587 STARTTLS in plain and AUTH through openssl
fake bash "echo \"\$*\" >>$tmp/bash.log
case \$3 in 25) exec sh $tmp/server.sh yes PIPELINING ;; 587) exec sh $tmp/server.sh yes STARTTLS ;; esac; exit 3"
fake openssl "echo \"\$*\" >>$tmp/openssl.log
case \"\$*\" in *'-starttls smtp -connect 127.0.0.1:587') exec sh $tmp/server.sh no 'AUTH PLAIN LOGIN' ;; esac; exit 1"
: >"$tmp/bash.log"
: >"$tmp/openssl.log"
: >"$tmp/smtp.log"
run "$tmp/auth" "$tmp/auth.in"
check "auth: 25 without AUTH, 587 with it after STARTTLS" has out "smtp 587 starttls"
check "auth: through 587 takes alice's" has out "auth ok alice@x.test"
check "auth: through 587 refuses bob's" has out "auth refused bob@x.test"
check "auth: port 25 looked at first" [ "$(grep -o 'wait [0-9]*$' "$tmp/bash.log" | head -n 1)" = "wait 25" ]
check "auth: STARTTLS by openssl on 587" has openssl.log "s_client -quiet -starttls smtp -connect 127.0.0.1:587"
check "auth: no STARTTLS where the plain EHLO offers none" lacks openssl.log "127.0.0.1:25"
check "auth: no password in openssl's arguments" lacks openssl.log "NewPass123abc"
check "auth: no password in base64 in openssl's arguments" lacks openssl.log "$want"
check "auth: each account its own session" [ "$(grep -c '^QUIT$' "$tmp/smtp.log")" -ge 4 ]
# smtps only: nothing on 587, 465 TLS from the first byte
fake bash "case \$3 in 25) exec sh $tmp/server.sh yes PIPELINING ;; esac; exit 3"
fake openssl "echo \"\$*\" >>$tmp/openssl.log
case \"\$*\" in *-starttls*) exit 1 ;; *'-connect 127.0.0.1:465') exec sh $tmp/server.sh yes 'AUTH PLAIN' ;; esac; exit 1"
: >"$tmp/openssl.log"
run "$tmp/auth" "$tmp/auth.in"
check "auth: 465 over TLS when only it offers AUTH" has out "smtp 465 tls"
check "auth: through 465 takes alice's" has out "auth ok alice@x.test"
check "auth: through 465 refuses bob's" has out "auth refused bob@x.test"
check "auth: 465 without -starttls" has openssl.log "s_client -quiet -connect 127.0.0.1:465"
# STARTTLS offered but the handshake fails, AUTH in plain: plain
fake bash "case \$3 in 25) exec sh $tmp/server.sh yes 'STARTTLS AUTH=PLAIN' ;; esac; exit 3"
fake openssl "exit 1"
run "$tmp/auth" "$tmp/auth.in"
check "auth: a failed STARTTLS falls back to plain AUTH" has out "smtp 25 plain"
check "auth: ... and takes alice's" has out "auth ok alice@x.test"
# no port offers AUTH: unknown, each port's reason
fake bash "case \$3 in 25) exec sh $tmp/server.sh yes PIPELINING ;; 587) exec sh $tmp/server.sh yes STARTTLS ;; esac; exit 3"
fake openssl "case \"\$*\" in *-starttls*) exec sh $tmp/server.sh no PIPELINING ;; esac; exit 1"
run "$tmp/auth" "$tmp/auth.in"
check "auth: no AUTH offered is unknown" has out "auth unknown alice@x.test smtpd offers no AUTH on 127.0.0.1 (25: no AUTH; 587: no AUTH after STARTTLS; 465: no smtp greeting over TLS)"
check "auth: ... for each account" has out "auth unknown bob@x.test smtpd offers no AUTH on 127.0.0.1 ("
check "auth: ... no smtp line" [ -z "$(grep '^smtp ' "$tmp/out")" ]
fake bash "exit 3"
run "$tmp/auth" "$tmp/auth.in"
check "auth: no smtpd is unknown" has out "auth unknown alice@x.test smtpd offers no AUTH on 127.0.0.1 (25: no smtp greeting; 587: no smtp greeting;"
rm -f "$tmp/bin/openssl"
fake postconf "echo"
run "$tmp/auth" "$tmp/auth.in"
check "auth: no SASL is unknown" has out "auth unknown alice@x.test smtpd_sasl_type"
printf 'alice@x.test\n' >"$tmp/auth.short"
fake postconf "echo dovecot"
run "$tmp/auth" "$tmp/auth.short"
check "auth: a missing password is bad input" [ "$rc" -eq 2 ]

finish
