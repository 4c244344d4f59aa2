# shellcheck shell=sh
# A part, not a program (no #!): sent before a program only when the
# controller does not know Postfix's directories yet; a program calls
# postfix_dirs when q is empty.  Each postconf start reads main.cf and
# master.cf, so a command given the directories starts none.
# Sets q and pdd, the queue and daemon directories, from one postconf run.
# shellcheck disable=SC2034 # q and pdd are for the program
postfix_dirs() {
    { IFS= read -r q; IFS= read -r pdd; } <<SPAMSTOP_DIRS
$(postconf -h queue_directory daemon_directory 2>/dev/null)
SPAMSTOP_DIRS
}
