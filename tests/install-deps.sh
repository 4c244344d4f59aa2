#!/bin/sh
# Installs what spamstop needs to build, test and run its lab on Debian 12.
# Idempotent; needs root.  Packages only, nothing else is downloaded.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root" >&2
    exit 2
fi
# Postfix must not ask which configuration to use.
echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config git ca-certificates \
    libssh-dev libjansson-dev libcmocka-dev libssl-dev libcrypt-dev \
    clang clang-format shellcheck \
    openssh-server openssh-client postfix dovecot-core dovecot-imapd swaks sudo \
    sasl2-bin libsasl2-modules libsasl2-modules-db \
    iproute2 util-linux systemd-container rsyslog procps psmisc python3 tmux man-db groff-base strace \
    chromium
