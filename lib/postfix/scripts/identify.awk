# The filter of identify's postcat text (the C code hands it to identify.sh
# as F): keeps the markers, the envelope records identify reads (the first
# K recipients, then "spamstop_recipients: N" when there were more) and, of
# the headers, only those identify reads, with their continuation lines.
# Inputs: -v N=files postcat said it read, -v K=recipients kept
# (POSTFIX_RCPT_KEEP).  Exit 2, with a line on stderr, when fewer than N
# messages came out: postcat's output was cut (it does not notice a full
# disk), so a cut file never passes for a smaller queue.
/^\*\*\* / {
    if ($2 == "MESSAGE" && $3 == "FILE" && r > K) print "spamstop_recipients: " r
    if ($2 == "ENVELOPE") { r = 0; m++ }
    print; h = ($2 == "MESSAGE" && $3 == "CONTENTS"); k = 0; next
}
h && /^[ \t]/ { if (k) print; next }
h {
    l = tolower(substr($0, 1, 40))
    k = (l ~ /^(from|message-id|subject|x-php-originating-script)[ \t]*:/)
    if (k) print
    next
}
/^recipient: / { if (++r <= K) print; next }
/^(sender|message_arrival_time): |^named_attribute: (sasl_(method|username|sender)|log_client_address|log_helo_name)=/
END {
    if (m < N) {
        print "postcat printed " m " of " N " messages: its output was cut (is the temporary folder full?)" >"/dev/stderr"
        exit 2
    }
}
