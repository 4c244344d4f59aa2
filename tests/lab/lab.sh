#!/bin/bash
# spamstop test lab: N real mail servers (sshd, Postfix, Dovecot SASL) on this
# machine, each in its own network and mount namespace.  See README.md here.
set -euo pipefail

LAB_NAME=${LAB_NAME:-sslab}
LAB_NET=${LAB_NET:-77}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3

die() {
    echo "lab: $*" >&2
    exit 2
}
say() { echo "lab[$LAB_NAME]: $*" >&2; }

[[ $LAB_NAME =~ ^[a-z][a-z0-9]{0,7}$ ]] ||
    die "LAB_NAME '$LAB_NAME' must be 1-8 of [a-z0-9], starting with a letter"
[[ $LAB_NET =~ ^[0-9]+$ ]] && ((LAB_NET >= 1 && LAB_NET <= 254)) ||
    die "LAB_NET '$LAB_NET' must be 1..254"
[[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"

LAB_DIR=/run/spamstop-lab/$LAB_NAME
NET=10.$LAB_NET.0
CTL_IP=$NET.1
SINK_IP=$NET.250
BR=$LAB_NAME-br
SINK_NS=$LAB_NAME-sink
SINK_VETH=$LAB_NAME-sk
# Extra controller addresses used as SMTP client sources when staging.
SRC_IPS="$NET.2 $NET.3 $NET.4 $NET.5"
USERS="alice bob carol dave erin"
DOMAIN=example.test
MAX_PAR=${LAB_PARALLEL:-6}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
host_num() { [[ $1 =~ ^h([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}" || die "bad host name '$1'"; }
host_ns() { echo "$LAB_NAME-$1"; }
host_ip() { echo "$NET.$((10 + $(host_num "$1")))"; }
host_mac() { printf '02:5a:%02x:00:%02x:%02x' "$LAB_NET" $(($1 / 256)) $(($1 % 256)); }

# True when something in netns NS listens on TCP port PORT (no probe
# connection, so sshd's log shows only real clients).
listening() { [[ -n $(nsenter --net="/run/netns/$1" ss -Hltn "sport = :$2" 2>/dev/null) ]]; }

# The PID of host H's systemd (role systemd: its PID 1), empty for other
# roles; dies when that systemd is gone.
host_leader() {
    local f=$LAB_DIR/hosts/$1/leader.pid l
    [[ -f $f ]] || return 0
    l=$(<"$f")
    [[ $(cat "/proc/$l/comm" 2>/dev/null) == systemd ]] || die "host '$1': its systemd ($l) is gone"
    echo "$l"
}

# Run a command inside host H (network, mount and UTS namespaces; for a
# systemd host those of its systemd, and its PID and IPC namespaces).
on_host() {
    local h=$1 l
    shift
    l=$(host_leader "$h")
    if [[ -n $l ]]; then
        nsenter -t "$l" -m -u -i -n -p -- "$@" 8>&-
        return
    fi
    [[ -e $LAB_DIR/ns/$h.mnt && -e /run/netns/$(host_ns "$h") ]] || die "no host '$h' in lab '$LAB_NAME'"
    nsenter --net="/run/netns/$(host_ns "$h")" --mount="$LAB_DIR/ns/$h.mnt" \
        --uts="$LAB_DIR/ns/$h.uts" -- "$@" 8>&-
}

# Print the PIDs of every process in this lab's network or mount namespaces,
# and of its systemd-nspawn processes (systemd hosts).
lab_pids() {
    local ns ino inos="" f
    for f in "$LAB_DIR"/hosts/*/nspawn.pid; do
        [[ -f $f && $(cat "/proc/$(<"$f")/comm" 2>/dev/null) == systemd-nspawn ]] && cat "$f"
    done
    for ns in /run/netns/"$LAB_NAME"-*; do
        [[ -e $ns ]] || continue
        ip netns pids "$(basename "$ns")" 2>/dev/null || true
    done
    for ns in "$LAB_DIR"/ns/*.mnt; do
        [[ -e $ns ]] || continue
        ino=$(stat -L -c %i "$ns" 2>/dev/null) || continue
        [[ $ino == 0 ]] || inos+=" mnt:[$ino]"
    done
    if [[ -n $inos ]]; then
        # One ls for all processes: "... /proc/PID/ns/mnt -> mnt:[INODE]".
        ls -l /proc/[0-9]*/ns/mnt 2>/dev/null | awk -v inos="$inos " '
            { split($(NF - 2), p, "/"); if (index(inos, " " $NF " ")) print p[3] }'
    fi
    return 0
}

# Print the mount points at or under the run dir, deepest first.
lab_mounts() { findmnt -rn -o TARGET | awk -v d="$LAB_DIR" '$0 == d || index($0, d "/") == 1' | sort -r; }

# True when PID is alive and not a zombie.
pid_alive() {
    local st
    read -r st 2>/dev/null <"/proc/$1/stat" || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# Serialise up/down of one LAB_NAME (other labs are not blocked).  Children
# inherit the lock, so the orphans of a killed `up` hold it until they end;
# daemons never get it (fd 8 is closed for everything run in a host).
lab_lock() {
    local f=/run/spamstop-lab/$LAB_NAME.lock
    mkdir -p /run/spamstop-lab
    while :; do
        exec 8>>"$f"
        flock -w 120 8 || die "lab '$LAB_NAME' is busy: another lab.sh holds $f"
        [[ $(stat -c %i "$f" 2>/dev/null) == "$(stat -L -c %i /proc/$$/fd/8)" ]] && return 0
        exec 8>&-
    done
}

# Tear down everything this LAB_NAME started; report leftovers.
do_down() {
    local quiet=${1:-} t0 pids p i left=0 m ns l f cg=/sys/fs/cgroup/systemd/spamstop-lab/$LAB_NAME
    t0=$(now)
    # A systemd host ends at once with its PID 1 (SIGTERM would make
    # systemd re-execute itself); its systemd-nspawn then exits.
    for f in "$LAB_DIR"/hosts/*/leader.pid; do
        [[ -f $f && $(cat "/proc/$(<"$f")/comm" 2>/dev/null) == systemd ]] && kill -KILL "$(<"$f")"
    done
    pids=$(lab_pids | sort -un)
    if [[ -n $pids ]]; then
        kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            left=0
            for p in $pids; do pid_alive "$p" && left=1; done
            ((left)) || break
            sleep 0.1
        done
        for p in $pids; do pid_alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
        sleep 0.1
    fi
    # Unmount namespace files and anything else under the run dir, deepest first.
    for m in $(lab_mounts); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    for ns in /run/netns/"$LAB_NAME"-*; do
        [[ -e $ns ]] && ip netns del "$(basename "$ns")" 2>/dev/null || true
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep "^$LAB_NAME-" || true); do
        ip link del "$l" 2>/dev/null || true
    done
    rm -rf "$LAB_DIR"
    # The systemd hosts' cgroups (empty now) and systemd-nspawn's own folders.
    rmdir /run/systemd/nspawn/propagate/"$LAB_NAME"-h* 2>/dev/null || true
    for f in "$cg" "${cg/systemd/unified}"; do
        [[ ! -d $f ]] || find "$f" -depth -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "${f%/*}" 2>/dev/null || true
    done

    # Check and report what is left.
    local bad=()
    pids=$(lab_pids | sort -un)
    for p in $pids; do pid_alive "$p" && bad+=("process $p"); done
    for ns in /run/netns/"$LAB_NAME"-*; do [[ -e $ns ]] && bad+=("netns $(basename "$ns")"); done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep "^$LAB_NAME-" || true); do
        bad+=("link $l")
    done
    for m in $(lab_mounts); do bad+=("mount $m"); done
    [[ -e $LAB_DIR ]] && bad+=("dir $LAB_DIR")
    for f in "$cg" "${cg/systemd/unified}"; do [[ -e $f ]] && bad+=("cgroup $f"); done
    if ((${#bad[@]})); then
        say "down: LEFTOVERS: ${bad[*]}"
        return 1
    fi
    [[ -n $quiet ]] || say "down in $(elapsed "$t0") s, nothing left"
    return 0
}

# Build what every host shares: keys, passwords, config and queue templates.
make_templates() {
    local t=$LAB_DIR/tpl u pw
    mkdir -p "$t"/{log,lib-postfix,spool}
    ssh-keygen -q -t ed25519 -N '' -C "spamstop-lab-operator@$LAB_NAME" -f "$LAB_DIR/operator_ed25519"
    : >"$LAB_DIR/passwords"
    chmod 0600 "$LAB_DIR/passwords"
    for u in $USERS; do
        pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
        echo "$u@$DOMAIN $pw" >>"$LAB_DIR/passwords"
    done
    # Hashes are made once (about 10 ms each) and shared by all hosts.
    "$PY" "$here/lab_host.py" hash-users <"$LAB_DIR/passwords" >"$t/users"

    cp -a /etc/postfix "$t/postfix"
    rm -f "$t/postfix/main.cf"
    cp /usr/share/postfix/master.cf.dist "$t/postfix/master.cf"
    cat >"$t/postfix/main.cf" <<EOF
# spamstop lab host (tests/lab/lab.sh): mail defers at the sink, never leaves.
compatibility_level = 3.6
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination = localhost
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [$SINK_IP]:25
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination
smtpd_tls_security_level = none
smtp_tls_security_level = none
maillog_file = /var/log/mail.log
# Mail to sent.test leaves (an SMTP sink that accepts and discards, in the
# sink namespace): stage --sent.  Everything else defers.
transport_maps = inline:{ sent.test=smtp:[$SINK_IP]:2525 }
queue_run_delay = 1h
minimal_backoff_time = 1h
maximal_backoff_time = 4h
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
readme_directory = no
append_dot_mydomain = no
EOF
    postconf -c "$t/postfix" -F '*/*/chroot = n'
    postconf -c "$t/postfix" -M 'submission/inet=submission inet n - n - - smtpd'
    postconf -c "$t/postfix" -P 'submission/inet/syslog_name=postfix/submission' \
        'submission/inet/smtpd_sasl_auth_enable=yes' \
        'submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject'
    # The empty queue tree, made once by `postfix check` (about 2 s) in a
    # throwaway mount namespace, in the background; every host waits for
    # it, then takes a copy.
    touch "$t/log/mail.log"
    chown postfix:postfix "$t/log/mail.log" "$t/lib-postfix"
    (
        if unshare --mount --propagation private -- sh -c "
            mount --bind '$t/postfix' /etc/postfix &&
            mount --bind '$t/spool' /var/spool/postfix &&
            mount --bind '$t/lib-postfix' /var/lib/postfix &&
            mount --bind '$t/log' /var/log &&
            postfix check" >"$t/check.log" 2>&1; then
            rm -f "$t/lib-postfix"/*
            touch "$t/spool.ready"
        else
            touch "$t/spool.failed"
        fi
    ) </dev/null &

    mkdir -p "$t/dovecot"
    cat >"$t/dovecot/dovecot.conf" <<'EOF'
# spamstop lab host: Dovecot for Postfix SASL (plain hosts) and IMAP on
# port 143 (logins and open sessions that a rotation must end; mail stays
# empty: nothing is delivered to it).
protocols = imap
base_dir = /run/dovecot
log_path = /var/log/dovecot.log
mail_location = maildir:~/Maildir
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
# Test speed only: no delay and no penalty after a failed login.
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT username_format=%u /etc/dovecot/users
}
userdb {
  driver = static
  args = uid=5000 gid=5000 home=/var/mail/vmail/%d/%n
}
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
    cp /etc/passwd /etc/group /etc/shadow "$t/"
    grep -q '^deploy:' "$t/passwd" || {
        echo 'deploy:x:2000:2000:spamstop lab deploy:/home/deploy:/bin/bash' >>"$t/passwd"
        echo 'deploy:x:2000:' >>"$t/group"
        echo 'deploy:*:19000:0:99999:7:::' >>"$t/shadow"
    }
    : >"$LAB_DIR/known_hosts"
}

# A plesk role on host folder D: the stand-in, Plesk's per-account storage
# (plesk: every password stored readable; plesk-hashed: every one hashed;
# plesk-mixed: hashing switched on after alice, bob and carol got theirs,
# so dave and erin are hashed) and Plesk's SMTP AUTH path: Postfix through
# Cyrus SASL (auxprop sasldb), a database the stand-in keeps in step with
# Dovecot's passwd-file.  A copy of that state is what `clear` puts back.
plesk_role() {
    local d=$1 role=$2 s=$1/lib-dovecot/plesk-standin sasl=$1/etc/postfix/sasl u pw
    install -m 0755 "$here/plesk-standin" "$d/usr-local-sbin/plesk"
    mkdir -m 0700 "$s"
    install -m 0600 /dev/null "$s/passwords"
    install -m 0600 /dev/null "$s/hashed"
    echo medium >"$s/policy"
    if [[ $role == plesk ]]; then echo recoverable >"$s/mode"; else echo hashed >"$s/mode"; fi
    mkdir -p "$sasl"
    while read -r u pw; do
        if [[ $role == plesk || ($role == plesk-mixed && $u != dave@* && $u != erin@*) ]]; then
            echo "$u $pw" >>"$s/passwords"
        else
            awk -F: -v u="$u" '$1 == u { print $1 " " $2 }' "$LAB_DIR/tpl/users" >>"$s/hashed"
        fi
        printf '%s\n' "$pw" | saslpasswd2 -p -c -f "$sasl/sasldb2" "$u"
    done <"$LAB_DIR/passwords"
    chown root:postfix "$sasl/sasldb2"
    chmod 0640 "$sasl/sasldb2"
    cat >"$sasl/smtpd.conf" <<'EOF'
# spamstop lab plesk host: SMTP AUTH through Cyrus SASL, as on Plesk.
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: /etc/postfix/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
    postconf -c "$d/etc/postfix" -e smtpd_sasl_type=cyrus smtpd_sasl_path=smtpd \
        cyrus_sasl_config_path=/etc/postfix/sasl
    mkdir -m 0700 "$d/plesk-orig"
    cp -a "$s" "$sasl/sasldb2" "$d/plesk-orig/"
}

# Build and start host N with ROLE (runs in the background, in parallel).
build_host() {
    local n=$1 role=$2 h=h$1 d ip ns veth peer t=$LAB_DIR/tpl
    d=$LAB_DIR/hosts/$h
    ip=$NET.$((10 + n))
    ns=$(host_ns "$h")
    veth=$LAB_NAME-$h
    peer=$LAB_NAME-p$n
    mkdir -p "$d"/{etc,log,root/.ssh,home/deploy/.ssh,tmp,var-tmp,mail,lib-dovecot,usr-local-sbin}
    chmod 0700 "$d/root" "$d/root/.ssh" "$d/home/deploy/.ssh"
    chmod 1777 "$d/tmp" "$d/var-tmp"
    chown root:mail "$d/mail"
    chmod 2775 "$d/mail"
    install -d -m 0700 -o 5000 -g 5000 "$d/mail/vmail"
    cp -a "$t/postfix" "$d/etc/postfix"
    echo "myhostname = $h.$DOMAIN" >>"$d/etc/postfix/main.cf"
    cp -a "$t/dovecot" "$d/etc/dovecot"
    install -m 0640 -o root -g dovecot "$t/users" "$d/etc/dovecot/users"
    install -m 0640 -o postfix -g postfix /dev/null "$d/log/mail.log"
    : >"$d/log/sshd.log"
    cp "$t/passwd" "$t/group" "$t/shadow" "$d/etc/"
    printf '127.0.0.1 localhost\n%s %s.%s %s\n' "$ip" "$h" "$DOMAIN" "$h" >"$d/etc/hosts"
    echo "$h" >"$d/etc/hostname"
    : >"$d/etc/resolv.conf"
    mkdir -m 0750 "$d/etc/sudoers.d"
    echo 'deploy ALL=(ALL) NOPASSWD: ALL' >"$d/etc/sudoers.d/deploy"
    chmod 0440 "$d/etc/sudoers.d/deploy"
    cp "$LAB_DIR/operator_ed25519.pub" "$d/root/.ssh/authorized_keys"
    cp "$LAB_DIR/operator_ed25519.pub" "$d/home/deploy/.ssh/authorized_keys"
    chmod 0600 "$d/root/.ssh/authorized_keys" "$d/home/deploy/.ssh/authorized_keys"
    chown -R 2000:2000 "$d/home/deploy"

    # sshd: own host key, root and deploy by key only.
    mkdir -p "$d/etc/ssh"
    cp -a /etc/ssh/ssh_config /etc/ssh/moduli "$d/etc/ssh/"
    ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/etc/ssh/ssh_host_ed25519_key"
    cat >"$d/etc/ssh/sshd_config" <<EOF
# spamstop lab host $h
ListenAddress $ip
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 100:30:200
MaxSessions 64
UseDNS no
LogLevel VERBOSE
PrintMotd no
X11Forwarding no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF

    # Roles: the plesk stand-in and Plesk's SMTP AUTH path only where the
    # role asks for it.
    case $role in
    plesk | plesk-hashed | plesk-mixed) plesk_role "$d" "$role" ;;
    plain | systemd) ;;
    *) die "unknown role '$role' (plesk, plesk-hashed, plesk-mixed, plain)" ;;
    esac
    log_layout "$d" "$role"

    # Network: veth with a fixed MAC into the host's netns; no default route.
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "$veth" type veth peer name "$peer"
    echo 1 >"/proc/sys/net/ipv6/conf/$veth/disable_ipv6"
    ip link set "$peer" netns "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set "$peer" name eth0 address "$(host_mac "$n")"
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip link set "$veth" master "$BR" up

    # The queue tree from the template (waits for `postfix check`).
    local w
    for ((w = 0; w < 600; w++)); do
        [[ -e $t/spool.ready || -e $t/spool.failed ]] && break
        sleep 0.05
    done
    [[ -e $t/spool.ready ]] || {
        cat "$t/check.log" >&2
        die "$h: no queue template (postfix check failed)"
    }
    cp -a "$t/spool" "$d/spool"
    cp -a "$t/lib-postfix" "$d/lib-postfix"

    local tries=100
    if [[ $role == systemd ]]; then
        # systemd as PID 1 (systemd-host.sh); Postfix and Dovecot log
        # through syslog(3) to journald only, as sshd does under ssh.service.
        sed -i '/^log_path/d' "$d/etc/dovecot/dovecot.conf"
        "$here/systemd-host.sh" "$LAB_DIR" "$h" "$ns" "$LAB_NAME-$h" </dev/null >"$d/init.out" 2>&1 8>&- || {
            cat "$d/init.out" >&2
            die "$h: systemd-nspawn failed"
        }
        tries=600
    else
        # Mount and UTS namespaces persisted in files on the private ns mount.
        touch "$LAB_DIR/ns/$h.mnt" "$LAB_DIR/ns/$h.uts"
        nsenter --net="/run/netns/$ns" -- unshare --mount="$LAB_DIR/ns/$h.mnt" \
            --uts="$LAB_DIR/ns/$h.uts" --propagation private -- \
            /bin/bash "$here/host-init.sh" "$LAB_DIR" "$h" </dev/null >"$d/init.out" 2>&1 8>&- || {
            cat "$d/init.out" >&2
            die "$h: init failed"
        }
    fi

    # known_hosts is shared by hosts built in parallel: lock it.
    local key
    key=$(cut -d' ' -f1,2 "$d/etc/ssh/ssh_host_ed25519_key.pub")
    (
        flock 9
        printf '%s %s\n%s %s\n' "$ip" "$key" "$h" "$key" >>"$LAB_DIR/known_hosts"
    ) 9>>"$LAB_DIR/known_hosts.lock"

    # Wait until sshd, smtpd and the SASL socket answer.
    local i
    for ((i = 0; i < tries; i++)); do
        if listening "$ns" 22 && listening "$ns" 25 && [[ -S $d/spool/private/auth ]]; then
            return 0
        fi
        sleep 0.05
    done
    die "$h: sshd/smtpd/auth did not come up"
}

# Where host folder D's mail log goes, as on real servers of ROLE: Debian
# (plain) /var/log/mail.log, RHEL/Plesk (plesk roles) /var/log/maillog with
# Plesk's /usr/local/psa/var/log/maillog a link to it, both through the
# host's own rsyslogd (host-init.sh); systemd: journald only.  Without
# rsyslogd on the machine, Postfix's own maillog_file (/var/log/mail.log).
log_layout() {
    local d=$1 role=$2 f=mail.log fmt=''
    if [[ $role == systemd ]]; then
        postconf -c "$d/etc/postfix" -X maillog_file
        rm -f "$d/log/mail.log" "$d/log/sshd.log"
        return 0
    fi
    command -v rsyslogd >/dev/null || return 0
    postconf -c "$d/etc/postfix" -X maillog_file
    # Dovecot logs through syslog's mail facility, as on Debian and Plesk
    sed -i '/^log_path/d' "$d/etc/dovecot/dovecot.conf"
    if [[ $role == plesk* ]]; then
        f=maillog
        # RHEL's rsyslog.conf: traditional "Mon DD HH:MM:SS" times (Debian
        # 12's default is RFC 3339)
        fmt='module(load="builtin:omfile" Template="RSYSLOG_TraditionalFileFormat")'
        rm -f "$d/log/mail.log"
        mkdir -p "$d/usr-local/sbin" "$d/usr-local/psa/var/log"
        ln -s /var/log/maillog "$d/usr-local/psa/var/log/maillog"
    fi
    install -m 0640 -o root -g adm /dev/null "$d/log/$f"
    cat >"$d/etc/rsyslog.conf" <<EOF
# spamstop lab host: the host's own syslog daemon (host-init.sh starts it)
module(load="imuxsock" SysSock.Name="/run/lab-syslog/dev-log" SysSock.RateLimit.Interval="0")
$fmt
\$FileOwner root
\$FileGroup adm
\$FileCreateMode 0640
mail.*			-/var/log/$f
*.*;mail.none		-/var/log/syslog
EOF
}

# Write lab.env and the ssh_config for the hosts brought up.
write_env() {
    local hosts=$1 roles=$2 h cfg=$LAB_DIR/ssh_config env=$LAB_DIR/lab.env
    {
        echo "# spamstop lab '$LAB_NAME': source with sh (tests/lab/README.md)"
        echo "LAB_DIR='$LAB_DIR'"
        echo "LAB_NAME='$LAB_NAME'"
        echo "LAB_NET='$LAB_NET'"
        echo "LAB_HOSTS='$hosts'"
        echo "LAB_CONTROLLER='$CTL_IP'"
        echo "LAB_SINK='$SINK_IP'"
        echo "LAB_KEY='$LAB_DIR/operator_ed25519'"
        echo "LAB_KNOWN_HOSTS='$LAB_DIR/known_hosts'"
        echo "LAB_SSH_CONFIG='$cfg'"
        echo "LAB_PASSWORDS='$LAB_DIR/passwords'"
        local i=0 r
        for h in $hosts; do
            i=$((i + 1))
            r=$(echo "$roles" | cut -d' ' -f"$i")
            echo "LAB_ADDR_$h='$(host_ip "$h")'"
            echo "LAB_ROLE_$h='$r'"
        done
        echo "export LAB_DIR LAB_NAME LAB_NET LAB_HOSTS LAB_CONTROLLER LAB_SINK LAB_KEY LAB_KNOWN_HOSTS LAB_SSH_CONFIG LAB_PASSWORDS"
    } >"$env"
    {
        echo "# spamstop lab '$LAB_NAME'; 'ssh -F this h1' (root) or 'ssh -F this deploy@h1'"
        for h in $hosts; do
            cat <<EOF
Host $h
    HostName $(host_ip "$h")
    User root
    IdentityFile $LAB_DIR/operator_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $LAB_DIR/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
EOF
        done
    } >"$cfg"
}

do_up() {
    local n=${1:-}
    shift || true
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || die "usage: lab.sh up N [ROLE...] (1 <= N <= 200)"
    local t0 roles=() i
    t0=$(now)
    for ((i = 1; i <= n; i++)); do
        if (($# >= i)); then
            roles+=("${!i}")
        elif ((i == 1)); then
            roles+=(plesk)
        elif ((i == 2)); then
            roles+=(systemd)
        else
            roles+=(plain)
        fi
        case ${roles[i - 1]} in plesk | plesk-hashed | plesk-mixed | plain | systemd) ;; *) die "unknown role '${roles[i - 1]}'" ;; esac
        if [[ ${roles[i - 1]} == systemd ]] && ! command -v systemd-nspawn >/dev/null; then
            say "SKIP role systemd for h$i: systemd-nspawn is not installed (tests/install-deps.sh); h$i is plain"
            roles[i - 1]=plain
        fi
    done
    do_down quiet || die "could not clear the previous lab '$LAB_NAME'"
    if ip -o addr show | grep -q " $CTL_IP/"; then
        die "$CTL_IP is already in use on this machine (another lab with LAB_NET=$LAB_NET?)"
    fi
    # The whole lab lives on a tmpfs: queue files are fsync'ed per message,
    # and a disk would cap staging at a few hundred messages a second.
    mkdir -p "$LAB_DIR"
    mount -t tmpfs -o "mode=0700,size=${LAB_TMPFS_SIZE:-4g}" "spamstop-lab-$LAB_NAME" "$LAB_DIR"
    mkdir -p "$LAB_DIR/ns" "$LAB_DIR/hosts"
    mount --bind "$LAB_DIR/ns" "$LAB_DIR/ns"
    mount --make-private "$LAB_DIR/ns"

    # Bridge with the controller's addresses, and the sink where nothing listens.
    ip link add "$BR" type bridge
    echo 1 >"/proc/sys/net/ipv6/conf/$BR/disable_ipv6"
    ip addr add "$CTL_IP/24" dev "$BR"
    for i in $SRC_IPS; do ip addr add "$i/24" dev "$BR"; done
    ip link set "$BR" up
    ip netns add "$SINK_NS"
    ip -n "$SINK_NS" link set lo up
    ip link add "$SINK_VETH" type veth peer name "$LAB_NAME-ps"
    echo 1 >"/proc/sys/net/ipv6/conf/$SINK_VETH/disable_ipv6"
    ip link set "$LAB_NAME-ps" netns "$SINK_NS"
    ip -n "$SINK_NS" link set "$LAB_NAME-ps" name eth0 address "$(host_mac 250)"
    ip -n "$SINK_NS" addr add "$SINK_IP/24" dev eth0
    ip -n "$SINK_NS" link set eth0 up
    ip link set "$SINK_VETH" master "$BR" up

    # The sink's one listener: an SMTP sink on port 2525 that accepts and
    # discards (mail to sent.test); port 25 stays closed.  Ends at down
    # with the sink namespace's other processes, by PID.
    nsenter --net="/run/netns/$SINK_NS" -- smtp-sink -u postfix "$SINK_IP:2525" 64 </dev/null >/dev/null 2>&1 8>&- &
    # glibc's syslog() writes to /dev/log: let it lead into each host's
    # own /run, where its rsyslogd listens (host-init.sh); a machine
    # without /dev/log sees no socket there, as before.
    if command -v rsyslogd >/dev/null && [[ ! -e /dev/log && ! -L /dev/log ]]; then
        ln -s /run/lab-syslog/dev-log /dev/log
    fi

    make_templates
    for ((i = 0; i < 100; i++)); do listening "$SINK_NS" 2525 && break; sleep 0.05; done
    listening "$SINK_NS" 2525 || die "the sink's smtp-sink did not start"
    local t1 pids=() failed=0 p
    t1=$(now)
    for ((i = 1; i <= n; i++)); do
        while (($(jobs -rp | wc -l) >= MAX_PAR)); do wait -n || failed=1; done
        build_host "$i" "${roles[i - 1]}" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    local hosts=""
    for ((i = 1; i <= n; i++)); do hosts+="${hosts:+ }h$i"; done
    write_env "$hosts" "${roles[*]}"
    if ((failed)); then
        say "up FAILED; tearing down"
        do_down quiet || true
        exit 1
    fi
    say "up: $n hosts (${roles[*]}) in $(elapsed "$t0") s (hosts $(elapsed "$t1") s); env: $LAB_DIR/lab.env"
}

need_lab() { [[ -f $LAB_DIR/lab.env ]] || die "lab '$LAB_NAME' is not up (no $LAB_DIR/lab.env)"; }

# Read a password of the lab's passwords file.
password_of() { awk -v u="$1" '$1 == u { print $2 }' "$LAB_DIR/passwords"; }

# Count messages in host H's queue.
queue_count() { on_host "$1" "$PY" - count <"$here/lab_host.py"; }

# Submits spam to host H over SMTP AUTH for option OPT's "USER:M" (M
# messages as USER, see smtp_stage.py), appending its manifest lines to
# OUT; more smtp_stage.py arguments after OUT.
spam_burst() {
    local h=$1 opt=$2 spec=$3 out=$4 user m
    shift 4
    user=${spec%%:*}
    m=${spec#*:}
    [[ $m =~ ^[0-9]+$ && -n $user ]] || die "stage: $opt wants USER:M, not '$spec'"
    [[ $user == *@* ]] || user=$user@$DOMAIN
    STAGE_PASSWORD=$(password_of "$user") "$PY" "$here/smtp_stage.py" smtp --kind spam \
        --server "$(host_ip "$h")" --account "$user" --count "$m" --sources "$SRC_IPS" \
        --host "$h" "$@" >>"$out"
}

do_stage() {
    local h=${1:-}
    shift || die "usage: lab.sh stage H [--spam USER:M]... [--sent USER:M]... [--legit K] [--script J] [--local L]"
    need_lab
    local ip spams=() sents=() legit=0 script=0 local_n=0 t0 before total=0 man tmp nsent=0
    ip=$(host_ip "$h")
    while (($#)); do
        case $1 in
        --spam) spams+=("$2") ;;
        --sent) sents+=("$2") ;;
        --legit) legit=$2 ;;
        --script) script=$2 ;;
        --local) local_n=$2 ;;
        *) die "stage: unknown option '$1'" ;;
        esac
        shift 2
    done
    man=$LAB_DIR/stage-$h.txt
    tmp=$(mktemp "$LAB_DIR/stage-$h.XXXXXX")
    before=$(queue_count "$h")
    t0=$(now)
    local s
    for s in "${spams[@]}"; do
        spam_burst "$h" --spam "$s" "$tmp"
        total=$((total + ${s#*:}))
    done
    if ((legit > 0)); then
        local half=$(((legit + 1) / 2))
        STAGE_PASSWORD=$(password_of "bob@$DOMAIN") "$PY" "$here/smtp_stage.py" smtp --kind legit \
            --server "$ip" --account "bob@$DOMAIN" --count "$half" --sources "$CTL_IP" --host "$h" >>"$tmp"
        if ((legit - half > 0)); then
            STAGE_PASSWORD=$(password_of "carol@$DOMAIN") "$PY" "$here/smtp_stage.py" smtp --kind legit \
                --server "$ip" --account "carol@$DOMAIN" --count "$((legit - half))" --sources "$CTL_IP" \
                --host "$h" >>"$tmp"
        fi
        total=$((total + legit))
    fi
    if ((script > 0)); then
        on_host "$h" "$PY" - local --kind script --count "$script" --host "$h" <"$here/smtp_stage.py" >>"$tmp"
        total=$((total + script))
    fi
    if ((local_n > 0)); then
        on_host "$h" "$PY" - local --kind local --count "$local_n" --host "$h" <"$here/smtp_stage.py" >>"$tmp"
        total=$((total + local_n))
    fi
    # --sent USER:M: like --spam, to sent.test, which the sink accepts:
    # these leave the host (status=sent) and are listed in sent-H.txt,
    # not in the manifest of queued mail.
    for s in "${sents[@]}"; do
        spam_burst "$h" --sent "$s" "$LAB_DIR/sent-$h.txt" --remote sent.test
        nsent=$((nsent + ${s#*:}))
    done
    [[ $(wc -l <"$tmp") == "$total" ]] || die "stage: manifest has $(wc -l <"$tmp") lines, expected $total"
    on_host "$h" "$PY" - wait "$((before + total))" <"$here/lab_host.py" ||
        die "stage: $h's queue did not settle at $((before + total)) deferred messages"
    cat "$tmp" >>"$man"
    rm -f "$tmp"
    local secs
    secs=$(elapsed "$t0")
    say "stage $h: $total messages in $secs s ($(awk -v n=$total -v s="$secs" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.01) }') msg/s, all deferred)$( ((nsent == 0)) || echo ", $nsent more sent"); manifest $man"
}

# Multiplies H's deferred mail K times, fast (docs/lab.md, "A million
# messages"): Postfix stopped, each deferred queue file copied K - 1 times
# with its owner, mode and times (lab_host.py clone), `postsuper -s`
# renames every copy to the queue id of its own inode, Postfix started.
do_clone() {
    local h=${1:-} k=${2:-} d t0 made n
    [[ -n $h && $k =~ ^[0-9]+$ ]] && ((k >= 1)) || die "usage: lab.sh clone H K"
    need_lab
    d=$LAB_DIR/hosts/$h
    [[ -d $d ]] || die "no host '$h'"
    [[ ! -f $d/leader.pid ]] || die "clone: $h runs systemd; clone a plain or plesk host"
    t0=$(now)
    on_host "$h" postfix stop >/dev/null 2>&1 || die "clone: cannot stop Postfix on $h"
    made=$(on_host "$h" "$PY" - clone "$k" <"$here/lab_host.py") || die "clone: copying failed on $h"
    on_host "$h" postsuper -s 2>>"$d/log/clone.log" || die "clone: postsuper -s failed on $h"
    on_host "$h" postfix start </dev/null >>"$d/log/init.log" 2>&1 || die "clone: Postfix did not start on $h"
    n=$(queue_count "$h")
    say "clone $h: $made copies in $(elapsed "$t0") s; $n messages queued"
}

do_clear() {
    local h=${1:-} d
    [[ -n $h ]] || die "usage: lab.sh clear H"
    need_lab
    d=$LAB_DIR/hosts/$h
    [[ -d $d ]] || die "no host '$h'"
    on_host "$h" postsuper -d ALL 2>/dev/null
    local changed=0
    if ! cmp -s "$LAB_DIR/tpl/users" "$d/etc/dovecot/users"; then
        install -m 0640 -o root -g dovecot "$LAB_DIR/tpl/users" "$d/etc/dovecot/users.lab-clear"
        mv -f "$d/etc/dovecot/users.lab-clear" "$d/etc/dovecot/users"
        changed=1
    fi
    if [[ -d $d/plesk-orig ]]; then
        # the plesk roles: the stand-in's storage and the SASL database
        cp -a "$d/plesk-orig/plesk-standin/." "$d/lib-dovecot/plesk-standin/"
        cp -a "$d/plesk-orig/sasldb2" "$d/etc/postfix/sasl/sasldb2.lab-clear"
        mv -f "$d/etc/postfix/sasl/sasldb2.lab-clear" "$d/etc/postfix/sasl/sasldb2"
    fi
    if [[ -f $d/leader.pid ]] && ! on_host "$h" systemctl is-active --quiet postfix@-.service; then
        # a Postfix started by hand runs outside its unit: back to systemd
        on_host "$h" postfix stop >/dev/null 2>&1 || true
    fi
    if ! on_host "$h" postfix status >/dev/null 2>&1; then
        if [[ -f $d/leader.pid ]]; then
            # through systemd: postfix.service may still be active while
            # its instance postfix@- stopped
            on_host "$h" systemctl reset-failed postfix@-.service >/dev/null 2>&1 || true
            on_host "$h" systemctl start postfix@-.service postfix.service </dev/null >>"$d/log/init.log" 2>&1
        else
            on_host "$h" postfix start </dev/null >>"$d/log/init.log" 2>&1
        fi
    fi
    rm -f "$LAB_DIR/stage-$h.txt" "$LAB_DIR/sent-$h.txt"
    # Dovecot re-reads the passwd-file at most once a second.
    ((changed)) && sleep 1.1
    return 0
}

# Rotates H's mail log as logrotate's "rotate 4, compress, delaycompress"
# would (NAME.1 plain, older ones NAME.N.gz), then HUPs its rsyslogd so it
# writes a new file; on a systemd host, journalctl --rotate.
do_rotate() {
    local h=${1:-} d f n
    [[ -n $h ]] || die "usage: lab.sh rotate H"
    need_lab
    d=$LAB_DIR/hosts/$h
    [[ -d $d ]] || die "no host '$h'"
    if [[ -f $d/leader.pid ]]; then
        on_host "$h" journalctl --rotate
        return
    fi
    [[ -f $d/etc/rsyslog.conf ]] || die "$h: no syslog daemon (rsyslogd is not installed)"
    f=$d/log/$(awk '$1 == "mail.*" { sub(/^-?\/var\/log\//, "", $2); print $2 }' "$d/etc/rsyslog.conf")
    rm -f "$f.4.gz"
    for n in 3 2 1; do
        [[ ! -e $f.$n.gz ]] || mv "$f.$n.gz" "$f.$((n + 1)).gz"
    done
    if [[ -e $f.1 ]]; then
        gzip -n "$f.1"
        mv "$f.1.gz" "$f.2.gz"
    fi
    mv "$f" "$f.1"
    install -m 0640 -o root -g adm /dev/null "$f"
    kill -HUP "$(on_host "$h" cat /run/rsyslogd.pid)"
}

# Restarts H's sshd by the PID in its pid file and waits for port 22.
restart_sshd() {
    local h=$1 d pid i
    d=$LAB_DIR/hosts/$h
    if [[ -f $d/leader.pid ]]; then
        on_host "$h" systemctl restart ssh.service </dev/null >>"$d/log/init.log" 2>&1
    else
        pid=$(on_host "$h" cat /run/sshd.pid)
        kill -TERM "$pid"
        for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.05; done
        on_host "$h" /usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log </dev/null >>"$d/log/init.log" 2>&1
    fi
    for ((i = 0; i < 100; i++)); do
        listening "$(host_ns "$h")" 22 && break
        sleep 0.05
    done
    listening "$(host_ns "$h")" 22 || die "$h: sshd did not come back"
}

# Lets root log in over ssh on H (yes: by key, as at 'up') or refuses it (no).
do_root_login() {
    local h=${1:-} v=${2:-} d
    [[ -n $h && ($v == yes || $v == no) ]] || die "usage: lab.sh root-login H no|yes"
    need_lab
    d=$LAB_DIR/hosts/$h
    [[ -f $d/etc/ssh/sshd_config ]] || die "no host '$h'"
    [[ $v == yes ]] && v=prohibit-password
    sed -i "s/^PermitRootLogin .*/PermitRootLogin $v/" "$d/etc/ssh/sshd_config"
    grep -q "^PermitRootLogin $v\$" "$d/etc/ssh/sshd_config" || die "$h: no PermitRootLogin line"
    restart_sshd "$h"
    say "root-login $h: PermitRootLogin $v"
}

do_rekey() {
    local h=${1:-} d
    [[ -n $h ]] || die "usage: lab.sh rekey H"
    need_lab
    d=$LAB_DIR/hosts/$h
    rm -f "$d/etc/ssh/ssh_host_ed25519_key" "$d/etc/ssh/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$h-rekeyed" -f "$d/etc/ssh/ssh_host_ed25519_key"
    restart_sshd "$h"
    say "rekey $h: new host key $(ssh-keygen -lf "$d/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2) (known_hosts unchanged)"
}

do_mem() {
    local h p pss total=0 count=0
    need_lab
    for h in $(. "$LAB_DIR/lab.env" && echo "$LAB_HOSTS"); do
        local inos hp=0 hc=0
        local kind=mnt
        if [[ -f $LAB_DIR/hosts/$h/leader.pid ]]; then
            # a systemd host: its PID namespace (units may have their own mounts)
            kind=pid
            inos=$(readlink "/proc/$(host_leader "$h")/ns/pid")
        else
            inos="mnt:[$(stat -L -c %i "$LAB_DIR/ns/$h.mnt")]"
        fi
        for p in /proc/[0-9]*; do
            [[ $(readlink "$p/ns/$kind" 2>/dev/null) == "$inos" ]] || continue
            pss=$(awk '/^Pss:/ { print $2 }' "$p/smaps_rollup" 2>/dev/null) || continue
            hp=$((hp + ${pss:-0}))
            hc=$((hc + 1))
        done
        echo "$h pss_kib=$hp processes=$hc"
        total=$((total + hp))
        count=$((count + 1))
    done
    echo "total pss_kib=$total hosts=$count"
}

usage() {
    cat >&2 <<'EOF'
usage: lab.sh up N [ROLE...] | down | env | on H CMD... | stage H [opts] | clone H K | clear H
              | state H | auth H USER PASS | rekey H | root-login H no|yes
              | sshd-log H | mem | rotate H
env: LAB_NAME (default sslab), LAB_NET (default 77); see tests/lab/README.md
EOF
    exit 2
}

cmd=${1:-}
shift || usage
case $cmd in
up)
    lab_lock
    # A failed up leaves no lab behind, and then no lock file either.
    trap '[[ -e $LAB_DIR ]] || rm -f "/run/spamstop-lab/$LAB_NAME.lock"' EXIT
    do_up "$@"
    ;;
down)
    lab_lock
    do_down
    rc=$?
    rm -f "/run/spamstop-lab/$LAB_NAME.lock"
    exit $rc
    ;;
env)
    need_lab
    echo "$LAB_DIR/lab.env"
    ;;
on)
    (($# >= 2)) || usage
    h=$1
    shift
    on_host "$h" "$@"
    ;;
stage) do_stage "$@" ;;
clone) do_clone "$@" ;;
clear) do_clear "$@" ;;
state)
    (($# == 1)) || usage
    on_host "$1" "$PY" - state <"$here/lab_host.py" | LC_ALL=C sort
    ;;
auth)
    (($# == 3)) || usage
    need_lab
    STAGE_PASSWORD=$3 exec "$PY" "$here/smtp_stage.py" auth --server "$(host_ip "$1")" --account "$2"
    ;;
rekey) do_rekey "$@" ;;
rotate) do_rotate "$@" ;;
root-login) do_root_login "$@" ;;
sshd-log)
    (($# == 1)) || usage
    if [[ -f $LAB_DIR/hosts/$1/leader.pid ]]; then
        # a systemd host: sshd logs to journald (messages only, as sshd -E)
        on_host "$1" journalctl --sync 2>/dev/null || true
        on_host "$1" journalctl -q --no-pager -o cat _SYSTEMD_UNIT=ssh.service
    else
        cat "$LAB_DIR/hosts/$1/log/sshd.log"
    fi
    ;;
mem) do_mem ;;
*) usage ;;
esac
