#!/bin/bash
# shellcheck disable=SC1091,SC2154,SC2012 # runbook.sh and lab.env set these
# e2e: the password check finds the port that offers AUTH (issue 21,
# leftover of item 4).  h1 (Plesk: Cyrus SASL) is set up as many
# production hosts are: port 25 offers no AUTH (smtpd_sasl_auth_enable =
# no, STARTTLS offered), submission (587) offers it only after STARTTLS
# (master.cf -o smtpd_tls_security_level=encrypt, -o
# smtpd_tls_auth_only=yes, which postconf -h does not show).  respond
# rotates dave's password; the check confirms the new one through
# 127.0.0.1:587 with STARTTLS (not "unknown"), the mail log shows that
# session on submission, and over real SMTP AUTH on 587 the old password
# is refused and the new one taken.  Then the same with submission gone
# and smtps on 465 (TLS from the first byte).  h1's Postfix configuration
# is put back at exit.
. "$(dirname "$0")/lib/runbook.sh"
[[ $LAB_ROLE_h1 == plesk ]] || fail "h1 has role $LAB_ROLE_h1, not plesk"
on() { "$lab" on h1 "$@"; }
etc=/etc/postfix
# restore_h1: h1's configuration as it was, reloaded; its queue and
# passwords as lab.sh made them.
restore_h1() {
    on sh -c "[ ! -f $etc/main.cf.v587 ] ||
        { mv $etc/main.cf.v587 $etc/main.cf && mv $etc/master.cf.v587 $etc/master.cf; }
        rm -f $etc/v587.key $etc/v587.crt
        ! postfix status 2>/dev/null || postfix reload" >/dev/null 2>&1
    "$lab" clear h1 >/dev/null 2>&1
}
at_exit restore_h1

# sub_auth PORT MODE USER PASSWORD: one SMTP AUTH from the controller to
# h1 on PORT, MODE starttls (AUTH must show only after it) or tls (TLS
# from the first byte); the password in python's environment, not argv.
# Exit 0 accepted, 1 refused (535), 2 anything else.
sub_auth() {
    SUB_PW=$4 timeout 30 python3 - "$LAB_ADDR_h1" "$1" "$2" "$3@example.test" <<'PY'
import os, smtplib, ssl, sys
ip, port, mode, user = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    if mode == "tls":
        s = smtplib.SMTP_SSL(ip, port, timeout=20, context=ctx)
    else:
        s = smtplib.SMTP(ip, port, timeout=20)
        s.ehlo()
        if s.has_extn("auth") or not s.has_extn("starttls"):
            print("AUTH before STARTTLS, or no STARTTLS", file=sys.stderr)
            sys.exit(2)
        s.starttls(context=ctx)
    s.ehlo()
    s.login(user, os.environ["SUB_PW"])
    s.quit()
except smtplib.SMTPAuthenticationError:
    sys.exit(1)
except (OSError, smtplib.SMTPException) as e:
    print(e, file=sys.stderr)
    sys.exit(2)
PY
}

# old_out PORT MODE: over SMTP AUTH on PORT, dave's old password is
# refused and his new one taken.
old_out() {
    local rc=0
    sub_auth "$1" "$2" dave "$old" || rc=$?
    [[ $rc == 1 ]] || fail "$1: the old password: exit $rc, want 1 (refused)"
    sub_auth "$1" "$2" dave "$new" || fail "$1: the new password is refused"
}

# reconf [SETUP]: h1's saved configuration, then the function SETUP's
# changes, reloaded.
reconf() {
    on sh -c "cp -p $etc/main.cf.v587 $etc/main.cf &&
        cp -p $etc/master.cf.v587 $etc/master.cf" || fail "cannot put h1's configuration back"
    [[ -z ${1:-} ]] || "$1" || fail "h1: $1 failed"
    on postfix reload >/dev/null 2>&1 || fail "postfix reload on h1"
}

# Both: port 25 without AUTH but with STARTTLS (a certificate made here).
tls_on_25() {
    on postconf -e smtpd_sasl_auth_enable=no smtpd_tls_security_level=may \
        smtpd_tls_cert_file=$etc/v587.crt smtpd_tls_key_file=$etc/v587.key
}
# submission (587) takes AUTH only after STARTTLS.
setup_submission() {
    tls_on_25 && on postconf -P submission/inet/smtpd_tls_security_level=encrypt \
        submission/inet/smtpd_tls_auth_only=yes
}
# no submission; smtps (465), TLS from the first byte, takes AUTH.
setup_smtps() {
    tls_on_25 && on postconf -MX submission/inet &&
        on postconf -M '465/inet=465 inet n - n - - smtpd' &&
        on postconf -P 465/inet/smtpd_tls_wrappermode=yes \
            465/inet/smtpd_sasl_auth_enable=yes 465/inet/syslog_name=postfix/smtps
}

# respond_check PORT WORDS SETUP: dave's spam staged with h1's own
# configuration (staging logs in on 25), then SETUP, respond; the check
# line must name 127.0.0.1:PORT WORDS; sets check, new (dave's new
# password) and R.
respond_check() {
    local setup=$3 rc=0 rd
    reconf ""
    "$lab" clear h1 >/dev/null
    "$lab" stage h1 --spam dave:60 --legit 3 >/dev/null
    reconf "$setup"
    rm -rf "$work/state"
    run respond --yes h1 >"$work/run.out" 2>&1 || rc=$?
    [[ $rc == 0 ]] || fail "respond (port $1) exited $rc: $(tail -20 "$work/run.out")"
    R=$(ls -t "$work/state/runs" | head -1)
    rd=$work/state/runs/$R
    check=$(grep -E '(^|Z )h1 check: ' "$work/run.out" || true)
    [[ $check =~ h1\ check:\ dave@example.test:\ password\ confirmed\ \(smtp\ auth\ on\ 127\.0\.0\.1:$1$2\)$ ]] ||
        fail "the check (port $1): ${check:-none}: $(grep -i 'check\|password' "$work/run.out")"
    new=$(awk '$1 == "h1" && $2 == "dave@example.test" { print $3 }' "$rd/credentials")
    [[ -n $new ]] || fail "no new password in the credentials file"
    grep -rqF -- "$new" "$rd/audit.jsonl" "$rd/journal" "$rd/evidence" "$work/run.out" &&
        fail "the new password is in the trail, journal, evidence or output"
    grep -q "\"via\":\"smtp auth on 127.0.0.1:$1" "$rd/evidence/h1/verify.evidence.json" ||
        fail "evidence: $(cat "$rd/evidence/h1/verify.evidence.json")"
    return 0
}

"$lab" clear h1 >/dev/null
on sh -c "cp -p $etc/main.cf $etc/main.cf.v587 && cp -p $etc/master.cf $etc/master.cf.v587" ||
    fail "cannot save h1's configuration"
on openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj /CN=h1.example.test -days 2 -keyout $etc/v587.key -out $etc/v587.crt \
    >/dev/null 2>&1 || fail "cannot make a certificate on h1"
old=$(pw dave)

# --- submission (587), AUTH only after STARTTLS --------------------------
reconf setup_submission
rc=0
"$lab" auth h1 dave "$old" >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "port 25 still takes AUTH (exit $rc)"
sub_auth 587 starttls dave "$old" || fail "587 does not take dave's password after STARTTLS"
ok "h1: port 25 offers no AUTH; 587 offers it only after STARTTLS"

respond_check 587 " with STARTTLS" setup_submission
echo "$t: $check"
on grep -qE 'postfix/submission/smtpd\[[0-9]+\]: disconnect from [^ ]*\[127\.0\.0\.1\] ehlo=2 starttls=1 auth=1 quit=1' /var/log/maillog ||
    fail "no STARTTLS and AUTH session on submission from loopback in h1's log"
ok "the check: dave's new password confirmed on 127.0.0.1:587 with STARTTLS (the log has that session)"
old_out 587 starttls
ok "over SMTP AUTH on 587: the old password refused, the new one taken"

# --- smtps (465) only: submission gone ---------------------------------
respond_check 465 " over TLS" setup_smtps
echo "$t: $check"
old_out 465 tls
ok "only smtps offers AUTH: confirmed on 127.0.0.1:465 over TLS; the old password refused there"
