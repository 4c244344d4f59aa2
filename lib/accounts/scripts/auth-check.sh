#!/bin/sh
# After the start: whether each new password is the one in force, asked
# through the path the host's own SMTP AUTH takes (read-only).  Where
# Postfix's SASL is Dovecot (smtpd_sasl_type = dovecot): `doveadm auth
# test ADDR`, the password on doveadm's stdin (with no password argument
# and a stdin that is no terminal, doveadm reads it from stdin).  Where it
# is Cyrus (Plesk): a real SMTP AUTH PLAIN against the host's own smtpd on
# 127.0.0.1, on the first of the given ports whose EHLO offers AUTH (AUTH
# is often only on submission, per service in master.cf, which postconf
# -h does not show: the server's own answer decides).  STARTTLS through
# `openssl s_client -starttls smtp` when the plain EHLO offers it (AUTH
# may only show after it), else plain TCP (bash's /dev/tcp); port 465 is
# smtps, TLS from the first byte.  The base64 of "\0ADDR\0PASSWORD" is
# made here, from stdin.  The password never reaches an argument, the
# environment or a file.
# Inputs: ports (smtpd's ports on 127.0.0.1 to try in order, for Cyrus).
# Stdin: per account its address, then its password, a line each.
# Output: "sasl TYPE" (postconf's smtpd_sasl_type); under Cyrus, "smtp
# PORT MODE" once a port offers AUTH (MODE plain, starttls or tls); then
# per account "auth ok ADDR", "auth refused ADDR" or "auth unknown ADDR
# REASON".
# Exit 0 (each account answered), 2 on bad input.
# shellcheck disable=SC2154 # ports comes from the caller
umask 077
t=$(mktemp -d) || exit 3
pid=
trap 'exec 3>&- 4<&-; [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$t"' EXIT
sasl=$(postconf -h smtpd_sasl_type 2>/dev/null) || sasl=
echo "sasl ${sasl:-none}"

have() { command -v "$1" >/dev/null 2>&1; }

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

# send LINE: one line to the server; in a subshell, so that a client
# that is gone (a write to a fifo without a reader) is not our SIGPIPE.
send() {
    (printf '%s\r\n' "$1" >&3) 2>/dev/null
}

# offers WORD: whether the EHLO reply in text names the extension WORD.
offers() {
    case $text in
    *[\ -]"$1" | *[\ -]"$1"[\ =]*) return 0 ;;
    *) return 1 ;;
    esac
}

# session PORT MODE: a session with smtpd on 127.0.0.1:PORT, EHLO sent
# (MODE plain: TCP through bash's /dev/tcp; starttls: openssl s_client
# -starttls smtp, which reads the greeting and does the first EHLO
# itself; tls: openssl s_client, TLS from the first byte); 0 with the
# EHLO reply in text, else 1 with the reason in why.  quit ends it.
session() {
    rm -f "$t/in" "$t/out"
    mkfifo "$t/in" "$t/out" || { why='no fifo'; return 1; }
    greet=yes
    case $2 in
    plain)
        # shellcheck disable=SC2016 # $0 is bash's, not ours
        timeout 20 bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$0" || exit 3
            cat <&5 & cat >&5; wait' "$1" <"$t/in" >"$t/out" 2>/dev/null &
        ;;
    starttls)
        timeout 20 openssl s_client -quiet -starttls smtp \
            -connect "127.0.0.1:$1" <"$t/in" >"$t/out" 2>/dev/null &
        greet=no
        ;;
    *)
        timeout 20 openssl s_client -quiet \
            -connect "127.0.0.1:$1" <"$t/in" >"$t/out" 2>/dev/null &
        ;;
    esac
    pid=$!
    exec 3>"$t/in" 4<"$t/out"
    if [ $greet = yes ] && { ! reply || [ "$code" != 220 ]; }; then
        why='no smtp greeting'
        [ "$2" = plain ] || why='no smtp greeting over TLS'
        return 1
    fi
    send 'EHLO localhost'
    if ! reply || [ "$code" != 250 ]; then
        why='no answer to EHLO'
        [ "$2" != starttls ] || why='no answer to EHLO after STARTTLS'
        return 1
    fi
    return 0
}

# quit: QUIT, and the client's end.
quit() {
    send QUIT
    exec 3>&- 4<&-
    wait "$pid" 2>/dev/null
    pid=
}

# try PORT MODE: whether a session in MODE offers AUTH; why when not.
try() {
    why=''
    if session "$1" "$2" && ! offers AUTH; then
        why='no AUTH'
        [ "$2" != starttls ] || why='no AUTH after STARTTLS'
    fi
    quit
    [ -z "$why" ]
}

# probe PORT: how smtpd on 127.0.0.1:PORT takes AUTH, into mode; 1 with
# the reason in why when it does not.  STARTTLS when offered, as a real
# client does; plain when AUTH shows without TLS and TLS cannot be had.
probe() {
    why='' mode='' starttls=yes auth=no
    if [ "$1" = 465 ]; then
        if ! have openssl; then
            why='no openssl for TLS'
        elif try "$1" tls; then
            mode=tls
        fi
        [ -n "$mode" ]
        return
    fi
    if have bash; then
        # what the plain EHLO offers (without bash: try STARTTLS)
        session "$1" plain && { offers STARTTLS || starttls=no; } &&
            { ! offers AUTH || auth=yes; }
        quit
        [ -z "$why" ] || return 1
    elif ! have openssl; then
        why='no client for smtp (openssl or bash)'
        return 1
    fi
    if [ $starttls = yes ] && have openssl && try "$1" starttls; then
        mode=starttls
    elif [ $auth = yes ]; then
        mode=plain why=''
    else
        [ -n "$why" ] || why='no AUTH'
        return 1
    fi
}

# pick: the first of ports whose smtpd offers AUTH, into port and mode
# (said once: "smtp PORT MODE"); 1 with each port's reason in nowhy.
pick() {
    nowhy=''
    for q in $ports; do
        case $q in '' | *[!0-9]*) continue ;; esac
        if probe "$q"; then
            port=$q
            echo "smtp $port $mode"
            return 0
        fi
        nowhy="${nowhy:+$nowhy; }$q: $why"
    done
    nowhy="smtpd offers no AUTH on 127.0.0.1 (${nowhy:-no port})"
    return 1
}

# smtp ADDR PASSWORD: one SMTP AUTH PLAIN on port, in mode; the verdict.
smtp() {
    if ! session "$port" "$mode"; then
        echo "auth unknown $1 $why on 127.0.0.1:$port"
    elif ! offers AUTH; then
        echo "auth unknown $1 smtpd offers no AUTH on 127.0.0.1:$port"
    else
        b=$(printf '\000%s\000%s' "$1" "$2" | base64 | tr -d '\n')
        send "AUTH PLAIN $b"
        b=
        reply || code=
        case $code in
        235) echo "auth ok $1" ;;
        535) echo "auth refused $1" ;;
        *) echo "auth unknown $1 smtpd answered ${code:-nothing} on 127.0.0.1:$port" ;;
        esac
    fi
    quit
}

# dovecot ADDR PASSWORD: doveadm's own test of the passdb.
dovecot() {
    if ! have doveadm; then
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

picked=
while IFS= read -r a; do
    IFS= read -r p || [ -n "$p" ] || { echo 'no password on stdin' >&2; exit 2; }
    case $a in '' | -*) echo 'bad account on stdin' >&2; exit 2 ;; esac
    case $sasl in
    dovecot) dovecot "$a" "$p" ;;
    cyrus)
        if [ -z "$picked" ]; then
            if pick; then picked=yes; else picked=no; fi
        fi
        if [ $picked = yes ]; then
            smtp "$a" "$p"
        else
            echo "auth unknown $a $nowhy"
        fi
        ;;
    *) echo "auth unknown $a smtpd_sasl_type '${sasl:-}' is neither dovecot nor cyrus" ;;
    esac
    p=
done
