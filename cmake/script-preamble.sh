#!/bin/sh
# The start of every program spamstop runs on a host (prepended by
# cmake/EmbedScripts.cmake): sbin on PATH (non-login shells may lack it,
# and /usr/bin and /bin for a bare environment), and the C locale, so that
# grep and awk ranges, case patterns and tool messages are the bytes the
# controller's parsers expect.
PATH="$PATH:/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/sbin"
LC_ALL=C
export PATH LC_ALL
