#!/bin/sh
# Sets a Plesk account's password: the secret goes stdin -> shell variable
# -> plesk's environment (PSA_PASSWORD), never argv.  With k, it comes
# from the file plesk-read.sh kept instead (the rollback's restore; no
# file: the rotation never ran, nothing to put back).
# Inputs: A the address; k (optional) the kept password's file.  Stdin:
# the password and a newline (without k).
# Output: plesk's.  Exit 2 without a password, else plesk's status.
# shellcheck disable=SC2154 # A and k come from the caller
if [ -n "$k" ]; then
  [ -s "$k" ] || { echo 'not rotated: nothing to put back'; exit 0; }
  exec <"$k"
fi
IFS= read -r PSA_PASSWORD || [ -n "$PSA_PASSWORD" ] || { echo 'no password on stdin' >&2; exit 2; }
export PSA_PASSWORD
exec plesk bin mail --update "$A" -passwd ''
