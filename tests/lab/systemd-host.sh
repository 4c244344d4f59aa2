#!/bin/bash
# Lab host with systemd as its PID 1 (role "systemd"): boots the machine's
# own /usr under systemd-nspawn in the host's network namespace, with the
# host's own /etc files bound in (TESTBED.md, "systemd on this kind of
# machine").  Postfix (postfix@-), Dovecot and sshd run as systemd units and
# log to journald only.  Called by lab.sh only, after the host's files are
# made: systemd-host.sh LAB_DIR HOST NETNS MACHINE
# Writes HOSTDIR/nspawn.pid (systemd-nspawn) and HOSTDIR/leader.pid
# (systemd, the container's PID 1; lab.sh enters its namespaces).
set -eu
lab_dir=$1
host=$2
netns=$3
machine=$4
d=$lab_dir/hosts/$host

# Only the units a mail server needs: the machine's own enabled units
# (timers, a database, getty) stay off; the wait for a network manager that
# does not run here is masked.
u=$d/etc/systemd-system
mkdir -p "$u/multi-user.target.wants"
for s in postfix dovecot ssh; do
    ln -sfn "/lib/systemd/system/$s.service" "$u/multi-user.target.wants/$s.service"
done
for s in systemd-networkd-wait-online.service console-getty.service getty@.service \
    systemd-timesyncd.service systemd-pstore.service; do
    ln -sfn /dev/null "$u/$s"
done
# journald: the tests count every sshd and Postfix line, so no rate limit.
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\nRuntimeMaxUse=64M\n' >"$d/etc/journald.conf"

binds=()
for p in etc/postfix:/etc/postfix spool:/var/spool/postfix lib-postfix:/var/lib/postfix \
    etc/dovecot:/etc/dovecot lib-dovecot:/var/lib/dovecot etc/ssh:/etc/ssh log:/var/log \
    root:/root home:/home tmp:/tmp var-tmp:/var/tmp mail:/var/mail \
    etc/sudoers.d:/etc/sudoers.d usr-local-sbin:/usr/local/sbin etc/hosts:/etc/hosts \
    etc/hostname:/etc/hostname etc/passwd:/etc/passwd etc/group:/etc/group \
    etc/shadow:/etc/shadow etc/resolv.conf:/etc/resolv.conf \
    etc/systemd-system:/etc/systemd/system etc/journald.conf:/etc/systemd/journald.conf; do
    binds+=("--bind=$d/${p%%:*}:${p#*:}")
done

# Its own cgroup, in the named systemd hierarchy of cgroup v1 and in the
# unified one (systemd-nspawn takes its place from the latter in this
# hybrid layout): without it every container's units would share one
# "payload" cgroup, and one host's systemd would stop another host's
# services.
cgs=()
for c in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [[ -d $c ]] || continue
    mkdir -p "$c/spamstop-lab/${lab_dir##*/}/$host"
    cgs+=("$c/spamstop-lab/${lab_dir##*/}/$host/cgroup.procs")
done

# Daemons get /dev/null and a log file as stdio, never the caller's pipes.
# --volatile=yes: a tmpfs root with the machine's /usr (a plain `-D /`
# is refused); the machine's /etc read-only, the host's own files over it.
(
    for c in "${cgs[@]}"; do echo "$BASHPID" >"$c"; done
    exec setsid systemd-nspawn -D / --volatile=yes --bind-ro=/etc "${binds[@]}" \
        --network-namespace-path="/run/netns/$netns" --register=no --keep-unit \
        -M "$machine" --console=passive -b -- systemd.firstboot=off
) </dev/null >"$d/nspawn.out" 2>&1 8>&- &
echo $! >"$d/nspawn.pid"

# systemd is the one child of systemd-nspawn.
nsp=$!
for ((i = 0; i < 200; i++)); do
    leader=$(cat "/proc/$nsp"/task/*/children 2>/dev/null | awk '{ print $1 }')
    if [[ -n $leader && $(cat "/proc/$leader/comm" 2>/dev/null) == systemd ]]; then
        echo "$leader" >"$d/leader.pid"
        exit 0
    fi
    kill -0 "$nsp" 2>/dev/null || break
    sleep 0.05
done
cat "$d/nspawn.out" >&2
echo "$host: systemd did not start under systemd-nspawn" >&2
exit 1
