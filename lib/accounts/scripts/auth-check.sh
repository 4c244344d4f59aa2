#!/bin/sh
# After the start: whether each new password is the one in force, asked
# through the path the host's own SMTP AUTH takes (read-only).  Where
# Postfix's SASL is Dovecot (smtpd_sasl_type = dovecot): `doveadm auth
# test ADDR`, the password on doveadm's stdin (with no password argument
# and a stdin that is no terminal, doveadm reads it from stdin).  Where it
# is Cyrus (Plesk): a real SMTP AUTH PLAIN against the host's own smtpd on
# 127.0.0.1:port, through `openssl s_client -starttls smtp` when smtpd
# offers TLS, else plain TCP (bash's /dev/tcp); the base64 of
# "\0ADDR\0PASSWORD" is made here, from stdin.  The password never
# reaches an argument, the environment or a file.
# Inputs: port (smtpd's port on 127.0.0.1, for Cyrus).  Stdin: per account
# its address, then its password, a line each.
# Output: "sasl TYPE" (postconf's smtpd_sasl_type), then per account
# "auth ok ADDR", "auth refused ADDR" or "auth unknown ADDR REASON".
# Exit 0 (each account answered), 2 on bad input.
# shellcheck disable=SC2154 # port comes from the caller
umask 077
t=$(mktemp -d) || exit 3
pid=
trap 'exec 3>&- 4<&-; [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$t"' EXIT
sasl=$(postconf -h smtpd_sasl_type 2>/dev/null) || sasl=
echo "sasl ${sasl:-none}"

# reply: reads one SMTP reply from fd 4 into code (its first line's code)
# and text (every line); 1 when the server went away first.
reply() {
    code='' text=''
    while IFS= read -r line <&4; do
        line=${line%"$(printf '\r')"}
        text="$text $line"
        case $line in
        [0-9][0-9][0-9]-*) ;;
        [0-9][0-9][0-9]*) code=${line%"${line#???}"}; return 0 ;;
        *) ;;
        esac
    done
    return 1
}

# offers_auth: whether the EHLO reply in text names AUTH.
offers_auth() {
    case $text in
    *[\ -]AUTH[\ =]*) return 0 ;;
    *) return 1 ;;
    esac
}

# smtp ADDR PASSWORD: one SMTP session on loopback; prints the verdict.
smtp() {
    tls=$(postconf -h smtpd_tls_security_level 2>/dev/null)
    rm -f "$t/in" "$t/out"
    mkfifo "$t/in" "$t/out" || { echo "auth unknown $1 no fifo"; return; }
    if [ "$tls" = may ] || [ "$tls" = encrypt ] &&
        command -v openssl >/dev/null 2>&1; then
        timeout 20 openssl s_client -quiet -starttls smtp \
            -connect "127.0.0.1:$port" <"$t/in" >"$t/out" 2>/dev/null &
        greet=no
    elif command -v bash >/dev/null 2>&1; then
        # shellcheck disable=SC2016 # $0 is bash's, not ours
        timeout 20 bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$0" || exit 3
            cat <&5 & cat >&5; wait' "$port" <"$t/in" >"$t/out" 2>/dev/null &
        greet=yes
    else
        echo "auth unknown $1 no client for smtp (openssl or bash)"
        return
    fi
    pid=$!
    exec 3>"$t/in" 4<"$t/out"
    if [ $greet = yes ] && { ! reply || [ "$code" != 220 ]; }; then
        echo "auth unknown $1 no smtp greeting on 127.0.0.1:$port"
    else
        printf 'EHLO localhost\r\n' >&3
        if ! reply || [ "$code" != 250 ]; then
            echo "auth unknown $1 no answer to EHLO on 127.0.0.1:$port"
        elif ! offers_auth; then
            echo "auth unknown $1 smtpd offers no AUTH on 127.0.0.1:$port"
        else
            b=$(printf '\000%s\000%s' "$1" "$2" | base64 | tr -d '\n')
            printf 'AUTH PLAIN %s\r\n' "$b" >&3
            b=
            reply || code=
            case $code in
            235) echo "auth ok $1" ;;
            535) echo "auth refused $1" ;;
            *) echo "auth unknown $1 smtpd answered ${code:-nothing}" ;;
            esac
            printf 'QUIT\r\n' >&3
        fi
    fi
    exec 3>&- 4<&-
    wait "$pid" 2>/dev/null
    pid=
}

# dovecot ADDR PASSWORD: doveadm's own test of the passdb.
dovecot() {
    if ! command -v doveadm >/dev/null 2>&1; then
        echo "auth unknown $1 no doveadm"
        return
    fi
    out=$(printf '%s\n' "$2" | doveadm auth test -x service=smtp "$1" 2>&1)
    case $out in
    *"auth succeeded"*) echo "auth ok $1" ;;
    *"auth failed"*) echo "auth refused $1" ;;
    *) echo "auth unknown $1 doveadm: $(printf '%s' "$out" | head -n 1 | cut -c1-160)" ;;
    esac
}

while IFS= read -r a; do
    IFS= read -r p || [ -n "$p" ] || { echo 'no password on stdin' >&2; exit 2; }
    case $a in '' | -*) echo 'bad account on stdin' >&2; exit 2 ;; esac
    case $sasl in
    dovecot) dovecot "$a" "$p" ;;
    cyrus) smtp "$a" "$p" ;;
    *) echo "auth unknown $a smtpd_sasl_type '${sasl:-}' is neither dovecot nor cyrus" ;;
    esac
    p=
done
