/* Fuzz target: the identify push parser against the whole-text parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelopes_same.h"
#include "spamstop/postfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first two bytes choose how the rest is cut: a largest piece (1 to
 * 256 bytes) and a seed for the sizes of the pieces, so the fuzzer can
 * reach every split of a record.  The pieces go to the push parser, the
 * whole rest to postfix_envelopes_parse: both must find the same.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct postfix_envelopes whole = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes pushed = POSTFIX_ENVELOPES_INIT;
    struct postfix_envelopes_stream *s = NULL;
    struct errbuf err = ERRBUF_INIT;
    const char *text;
    size_t at = 0, len, max, n;
    uint32_t seed;
    int rw, rs = 0;

    if (size < 2)
        return 0;
    max = (size_t)data[0] + 1;
    seed = (uint32_t)data[1] * 2654435761u + 1u;
    text = (const char *)data + 2;
    len = size - 2;
    rw = postfix_envelopes_parse(&whole, text, len, &err);
    if (postfix_envelopes_stream_new(&s, &pushed, &err) < 0)
        abort();
    while (at < len && rs == 0) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        n = (size_t)(seed % max) + 1;
        if (n > len - at)
            n = len - at;
        rs = postfix_envelopes_stream_feed(s, text + at, n, &err);
        at += n;
    }
    if (rs == 0)
        rs = postfix_envelopes_stream_end(s, &err);
    /* a line too long for the push parser is its only extra refusal */
    if (rs == SS_ETOOBIG && len > POSTFIX_STREAM_LINE_MAX)
        goto out;
    if ((rw < 0) != (rs < 0))
        abort();
    if (rw == 0)
        envelopes_same(&pushed, &whole);
out:
    postfix_envelopes_stream_free(s);
    postfix_envelopes_release(&pushed);
    postfix_envelopes_release(&whole);
    return 0;
}
