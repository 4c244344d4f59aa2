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

# Run a command inside host H (network, mount and UTS namespaces).
on_host() {
    local h=$1
    shift
    [[ -e $LAB_DIR/ns/$h.mnt && -e /run/netns/$(host_ns "$h") ]] || die "no host '$h' in lab '$LAB_NAME'"
    nsenter --net="/run/netns/$(host_ns "$h")" --mount="$LAB_DIR/ns/$h.mnt" \
        --uts="$LAB_DIR/ns/$h.uts" -- "$@" 8>&-
}

# Print the PIDs of every process in this lab's network or mount namespaces.
lab_pids() {
    local ns ino inos=""
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
    local quiet=${1:-} t0 pids p i left=0 m ns l
    t0=$(now)
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
# spamstop lab host: Dovecot for Postfix SASL only (no IMAP/POP3).
protocols = none
base_dir = /run/dovecot
log_path = /var/log/dovecot.log
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
  args = uid=5000 gid=5000 home=/var/mail/%d/%n
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

    # Roles: the plesk stand-in only where the role asks for it.
    case $role in
    plesk | plesk-hashed)
        install -m 0755 "$here/plesk-standin" "$d/usr-local-sbin/plesk"
        mkdir -m 0700 "$d/lib-dovecot/plesk-standin"
        if [[ $role == plesk ]]; then
            echo recoverable >"$d/lib-dovecot/plesk-standin/mode"
            install -m 0600 "$LAB_DIR/passwords" "$d/lib-dovecot/plesk-standin/passwords"
        else
            echo hashed >"$d/lib-dovecot/plesk-standin/mode"
        fi
        ;;
    plain) ;;
    *) die "unknown role '$role' (plesk, plesk-hashed, plain)" ;;
    esac

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

    # Mount and UTS namespaces persisted in files on the private ns mount.
    touch "$LAB_DIR/ns/$h.mnt" "$LAB_DIR/ns/$h.uts"
    nsenter --net="/run/netns/$ns" -- unshare --mount="$LAB_DIR/ns/$h.mnt" \
        --uts="$LAB_DIR/ns/$h.uts" --propagation private -- \
        /bin/bash "$here/host-init.sh" "$LAB_DIR" "$h" </dev/null >"$d/init.out" 2>&1 8>&- || {
        cat "$d/init.out" >&2
        die "$h: init failed"
    }

    # known_hosts is shared by hosts built in parallel: lock it.
    local key
    key=$(cut -d' ' -f1,2 "$d/etc/ssh/ssh_host_ed25519_key.pub")
    (
        flock 9
        printf '%s %s\n%s %s\n' "$ip" "$key" "$h" "$key" >>"$LAB_DIR/known_hosts"
    ) 9>>"$LAB_DIR/known_hosts.lock"

    # Wait until sshd, smtpd and the SASL socket answer.
    local i
    for ((i = 0; i < 100; i++)); do
        if listening "$ns" 22 && listening "$ns" 25 && [[ -S $d/spool/private/auth ]]; then
            return 0
        fi
        sleep 0.05
    done
    die "$h: sshd/smtpd/auth did not come up"
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
        else
            roles+=(plain)
        fi
        case ${roles[i - 1]} in plesk | plesk-hashed | plain) ;; *) die "unknown role '${roles[i - 1]}'" ;; esac
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

    make_templates
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

do_stage() {
    local h=${1:-}
    shift || die "usage: lab.sh stage H [--spam USER:M]... [--legit K] [--script J] [--local L]"
    need_lab
    local ip spams=() legit=0 script=0 local_n=0 t0 before total=0 man tmp
    ip=$(host_ip "$h")
    while (($#)); do
        case $1 in
        --spam) spams+=("$2") ;;
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
    local s user m
    for s in "${spams[@]}"; do
        user=${s%%:*}
        m=${s#*:}
        [[ $m =~ ^[0-9]+$ && -n $user ]] || die "stage: --spam wants USER:M, not '$s'"
        [[ $user == *@* ]] || user=$user@$DOMAIN
        STAGE_PASSWORD=$(password_of "$user") "$PY" "$here/smtp_stage.py" smtp --kind spam \
            --server "$ip" --account "$user" --count "$m" --sources "$SRC_IPS" --host "$h" >>"$tmp"
        total=$((total + m))
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
    [[ $(wc -l <"$tmp") == "$total" ]] || die "stage: manifest has $(wc -l <"$tmp") lines, expected $total"
    on_host "$h" "$PY" - wait "$((before + total))" <"$here/lab_host.py" ||
        die "stage: $h's queue did not settle at $((before + total)) deferred messages"
    cat "$tmp" >>"$man"
    rm -f "$tmp"
    local secs
    secs=$(elapsed "$t0")
    say "stage $h: $total messages in $secs s ($(awk -v n=$total -v s="$secs" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.01) }') msg/s, all deferred); manifest $man"
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
    if [[ -f $d/lib-dovecot/plesk-standin/mode && $(cat "$d/lib-dovecot/plesk-standin/mode") == recoverable ]]; then
        install -m 0600 "$LAB_DIR/passwords" "$d/lib-dovecot/plesk-standin/passwords"
    fi
    on_host "$h" postfix status >/dev/null 2>&1 || on_host "$h" postfix start </dev/null >>"$d/log/init.log" 2>&1
    rm -f "$LAB_DIR/stage-$h.txt"
    # Dovecot re-reads the passwd-file at most once a second.
    ((changed)) && sleep 1.1
    return 0
}

# Restarts H's sshd by the PID in its pid file and waits for port 22.
restart_sshd() {
    local h=$1 d pid i
    d=$LAB_DIR/hosts/$h
    pid=$(on_host "$h" cat /run/sshd.pid)
    kill -TERM "$pid"
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.05; done
    on_host "$h" /usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log </dev/null >>"$d/log/init.log" 2>&1
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
        inos="mnt:[$(stat -L -c %i "$LAB_DIR/ns/$h.mnt")]"
        for p in /proc/[0-9]*; do
            [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$inos" ]] || continue
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
usage: lab.sh up N [ROLE...] | down | env | on H CMD... | stage H [opts] | clear H
              | state H | auth H USER PASS | rekey H | root-login H no|yes
              | sshd-log H | mem
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
root-login) do_root_login "$@" ;;
sshd-log)
    (($# == 1)) || usage
    cat "$LAB_DIR/hosts/$1/log/sshd.log"
    ;;
mem) do_mem ;;
*) usage ;;
esac
