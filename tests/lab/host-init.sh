#!/bin/bash
# Lab host init: runs once inside a host's new (persisted) mount namespace,
# binds the host's own copies over the shared root filesystem and starts its
# daemons.  Called by lab.sh only: host-init.sh LAB_DIR HOST
set -eu
lab_dir=$1
host=$2
d=$lab_dir/hosts/$host

# Drop this namespace's copies of the other hosts' namespace files so that a
# host never pins another host's namespaces.
umount -l "$lab_dir/ns" 2>/dev/null || true

bind() { mount --bind "$1" "$2"; }
bind "$d/etc/postfix" /etc/postfix
bind "$d/spool" /var/spool/postfix
bind "$d/lib-postfix" /var/lib/postfix
bind "$d/etc/dovecot" /etc/dovecot
bind "$d/lib-dovecot" /var/lib/dovecot
bind "$d/etc/ssh" /etc/ssh
bind "$d/log" /var/log
bind "$d/root" /root
bind "$d/home" /home
bind "$d/tmp" /tmp
bind "$d/var-tmp" /var/tmp
bind "$d/mail" /var/mail
bind "$d/etc/sudoers.d" /etc/sudoers.d
# Plesk's own tree (its mail log) on plesk hosts: /usr/local of their own.
if [ -d "$d/usr-local" ]; then
    bind "$d/usr-local" /usr/local
fi
bind "$d/usr-local-sbin" /usr/local/sbin
for f in hosts resolv.conf hostname passwd group shadow; do
    bind "$d/etc/$f" "/etc/$f"
done
# (the lab's folder is under /run: read what is needed from it first)
syslog_conf=''
[ ! -f "$d/etc/rsyslog.conf" ] || syslog_conf=$(cat "$d/etc/rsyslog.conf")
mount -t tmpfs -o mode=0755,size=16m "lab-$host-run" /run
# No init scripts: hosts share one PID space, so the machine's SysV
# /etc/init.d/postfix (start-stop-daemon looks processes up machine-wide)
# would see another host's master.  Lab hosts are "postfix command" servers.
mount -t tmpfs -o mode=0755,size=1m "lab-$host-initd" /etc/init.d
mkdir -m 0755 /run/sshd
hostname "$host"

# Daemons get /dev/null and a log file as stdio, never the caller's pipes.
exec </dev/null >>/var/log/init.log 2>&1
# The host's own syslog daemon (rsyslog, as on Debian and RHEL) writes the
# mail log.  Its socket is in this host's /run; /dev/log leads there: the
# machine's /dev/log is lab.sh's link into /run, or else this host's socket
# is bound over it.
if [ -n "$syslog_conf" ]; then
    mkdir -m 0755 /run/lab-syslog
    printf '%s\n' "$syslog_conf" >/run/lab-syslog/rsyslog.conf
    rsyslogd -f /run/lab-syslog/rsyslog.conf -i /run/rsyslogd.pid
    i=0
    while [ ! -S /run/lab-syslog/dev-log ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S /run/lab-syslog/dev-log ] || { echo "host-init: rsyslogd made no socket" >&2; exit 1; }
    if [ "$(readlink /dev/log)" != /run/lab-syslog/dev-log ]; then
        mount --bind /run/lab-syslog/dev-log /dev/log
    fi
fi
dovecot -c /etc/dovecot/dovecot.conf
# What `postfix start` runs after its checks (saves about 0.4 s a host).
/usr/lib/postfix/sbin/master -w
/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log
