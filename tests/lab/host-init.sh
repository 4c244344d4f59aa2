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
bind "$d/usr-local-sbin" /usr/local/sbin
for f in hosts resolv.conf hostname passwd group shadow; do
    bind "$d/etc/$f" "/etc/$f"
done
mount -t tmpfs -o mode=0755,size=16m "lab-$host-run" /run
# No init scripts: hosts share one PID space, so the machine's SysV
# /etc/init.d/postfix (start-stop-daemon looks processes up machine-wide)
# would see another host's master.  Lab hosts are "postfix command" servers.
mount -t tmpfs -o mode=0755,size=1m "lab-$host-initd" /etc/init.d
mkdir -m 0755 /run/sshd
hostname "$host"

# Daemons get /dev/null and a log file as stdio, never the caller's pipes.
exec </dev/null >>/var/log/init.log 2>&1
dovecot -c /etc/dovecot/dovecot.conf
# What `postfix start` runs after its checks (saves about 0.4 s a host).
/usr/lib/postfix/sbin/master -w
/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log
