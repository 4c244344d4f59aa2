#!/bin/sh
# The rotate step's commit: destroys what was kept of the old passwords on
# the host (the Plesk copies, the passwd-file backup), so a committed run
# leaves no password there.  Idempotent.
# Inputs: b the run's backup folder (must end in /accounts).
# Output: none.  Exit 2 for another folder, 3 when it cannot be removed.
# shellcheck disable=SC2154 # b comes from the caller
case $b in /*/accounts) ;; *) echo 'bad backup folder' >&2; exit 2;; esac
rm -rf -- "$b" || exit 3
