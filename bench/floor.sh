#!/bin/bash
# The floor of the contain benchmark: the runbook's steps as one sh script
# per host, sent over one SSH connection per host, all hosts at once. No
# journal, no audit trail, no evidence copy, no safety checks beyond what a
# careful admin would type. Not a tool: a lower bound to compare with.
#
# usage: bench/floor.sh [-F SSH_CONFIG] [--min-messages N] [--min-share X] HOST...
# Prints per host "HOST ok|failed", the accounts rotated and the counts held
# and deleted (the new passwords go to FLOOR_CREDENTIALS if set, else are
# dropped: this is a benchmark). Exit 0 when every host succeeded.
set -euo pipefail

cfg=()
min_messages=50
min_share=0.2
while (($#)); do
    case $1 in
    -F)
        cfg=(-F "$2")
        shift 2
        ;;
    --min-messages)
        min_messages=$2
        shift 2
        ;;
    --min-share)
        min_share=$2
        shift 2
        ;;
    --)
        shift
        break
        ;;
    -*)
        echo "floor: unknown option '$1'" >&2
        exit 2
        ;;
    *) break ;;
    esac
done
(($#)) || {
    echo "usage: floor.sh [-F SSH_CONFIG] HOST..." >&2
    exit 2
}
[[ $min_messages =~ ^[0-9]+$ && $min_share =~ ^[0-9.]+$ ]] || {
    echo "floor: bad thresholds" >&2
    exit 2
}

# The per-host script: stop, list, identify (postcat -e, sasl_username per
# queue id), rotate (Plesk's CLI where there is one, else the Dovecot
# passwd-file), hold + delete, start.
script=$(
    cat <<EOF
PATH="\$PATH:/usr/sbin:/sbin:/usr/local/sbin"; LC_ALL=C; export PATH LC_ALL
set -e
min_messages=$min_messages
min_share=$min_share
EOF
    cat <<'EOF'
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
postfix stop >/dev/null 2>&1 || true
i=0
while postfix status >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "postfix did not stop" >&2; exit 1; }
    sleep 0.1
done
cd "$(postconf -h queue_directory)"
find deferred active incoming hold maildrop -type f >"$t/list"
total=$(wc -l <"$t/list")
tr '\n' '\0' <"$t/list" | xargs -0 -r postcat -e 2>/dev/null | awk '
    /^\*\*\* ENVELOPE RECORDS / { id = $4; sub(/.*\//, "", id); next }
    /^named_attribute: sasl_username=/ { print id, substr($0, index($0, "=") + 1) }' >"$t/ids"
awk -v n="$total" -v mm="$min_messages" -v ms="$min_share" '
    { c[$2]++ }
    END { for (a in c) if (c[a] >= mm && c[a] >= ms * n) print a }' "$t/ids" >"$t/accounts"
users=$(doveconf -n 2>/dev/null | sed -n 's/^ *args = .* \(\/[^ ]*\)$/\1/p' | head -1)
[ -n "$users" ] || users=/etc/dovecot/users
held=0
while read -r a; do
    pw=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
    if command -v plesk >/dev/null 2>&1; then
        # Plesk keeps the password (and its SMTP authentication) itself
        PSA_PASSWORD=$pw plesk bin mail --update "$a" -passwd '' >/dev/null
    else
        h=$(printf '%s\n' "$pw" | openssl passwd -6 -stdin)
        awk -F: -v OFS=: -v a="$a" -v h="{SHA512-CRYPT}$h" '$1 == a { $2 = h } { print }' \
            "$users" >"$users.floor"
        chown --reference="$users" "$users.floor"
        chmod --reference="$users" "$users.floor"
        mv -f "$users.floor" "$users"
    fi
    echo "password $a $pw"
    awk -v a="$a" '$2 == a { print $1 }' "$t/ids" >"$t/hold"
    postsuper -h - <"$t/hold" 2>/dev/null
    postsuper -d - hold <"$t/hold" 2>/dev/null
    n=$(wc -l <"$t/hold")
    echo "purged $a $n"
    held=$((held + n))
done <"$t/accounts"
postfix start >/dev/null 2>&1
postfix status >/dev/null 2>&1
echo "done total $total purged $held"
EOF
)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pids=()
for h in "$@"; do
    ssh "${cfg[@]}" -T "$h" sh -s <<<"$script" >"$out/$h" 2>"$out/$h.err" &
    pids+=($!)
done
rc=0
i=0
for h in "$@"; do
    if wait "${pids[i]}" && grep -q '^done ' "$out/$h"; then
        echo "$h ok $(grep '^done ' "$out/$h" | cut -d' ' -f2-)"
        grep '^purged ' "$out/$h" | sed "s/^/$h /"
    else
        echo "$h failed: $(tail -3 "$out/$h.err" | tr '\n' ' ')"
        rc=1
    fi
    if [[ -n ${FLOOR_CREDENTIALS:-} ]]; then
        grep '^password ' "$out/$h" | sed "s/^password /$h /" >>"$FLOOR_CREDENTIALS"
    fi
    i=$((i + 1))
done
exit $rc
