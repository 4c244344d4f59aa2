#!/bin/sh
# Sets a Dovecot passwd-file account's hash, after copying the file to the
# backup folder (once per run: the copy keeps the state before the first
# rotation, what a rollback puts back).
# Parts before it: dovecot.sh.
# Inputs: f the passwd-file, b the backup folder.  Stdin: the account name,
# then its new "{SHA512-CRYPT}$6$..." hash.
# Output: none.  Exit 2 for bad stdin, 3 when a file cannot be read or
# written, 4 when the account is not exactly once in the file.
# shellcheck disable=SC2154 # f and b come from the caller
umask 077
read_account
IFS= read -r new || { echo 'no hash on stdin' >&2; exit 2; }
# shellcheck disable=SC2016 # a literal "$6$"
case $new in *:*|*' '*) echo 'bad hash' >&2; exit 2;; '{SHA512-CRYPT}$6$'*) ;; *) echo 'bad hash' >&2; exit 2;; esac
mkdir -p "$b" || exit 3
if [ ! -f "$k" ]; then cp -p "$f" "$k.tmp" && mv -f "$k.tmp" "$k" || exit 3; fi
rewrite "$new"
