/* fuzz_chunked.c - libFuzzer driver for the chunked body decoder.
 *
 * Input: 4 control bytes (read sizes and limits, as in fuzz_request.c),
 * then a chunked body. The request is
 *   "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
 * whose head must parse; the body is then fed to cn_http_parse_body in
 * pieces and again whole. Invariants (abort on violation):
 *   - per call: *consumed <= len, AGAIN consumes everything, no more bytes
 *     decoded than consumed;
 *   - the split and whole runs agree on result, status, end and output;
 *   - the verdict agrees with the strict reference decoder of
 *     fuzz_common.c: the same end and bytes when both accept, and neither
 *     accepts what the other refuses, except where the parser refuses by
 *     policy (limits, forbidden trailers) or skips extensions by design. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

struct outcome {
    enum cn_parse rc;
    int status;
    size_t end; /* body bytes consumed */
    cn_buf_t out;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void start(cn_http_parser_t *p, cn_http_request_t *req, const cn_http_limits_t *lim);
static void decode(const char *body, size_t n, const cn_http_limits_t *lim, fz_feed_t *f,
                   struct outcome *o);

/* Parses the fixed head; the body decoder is then ready. */
static void start(cn_http_parser_t *p, cn_http_request_t *req, const cn_http_limits_t *lim)
{
    cn_http_parser_init(p, lim);
    cn_http_request_init(req);
    if (cn_http_parse_head(p, req, PREFIX, sizeof(PREFIX) - 1) != CN_PARSE_DONE ||
        req->head_len != sizeof(PREFIX) - 1 || !req->chunked)
        fz_fail("the fixed chunked head did not parse");
}

/* f == NULL: the whole body in one call. */
static void decode(const char *body, size_t n, const cn_http_limits_t *lim, fz_feed_t *f,
                   struct outcome *o)
{
    cn_http_parser_t p;
    cn_http_request_t req;
    size_t avail = f != NULL ? 0 : n;
    memset(o, 0, sizeof(*o));
    start(&p, &req, lim);
    for (;;) {
        if (f != NULL && avail < n)
            avail = fz_feed_next(f, avail, n);
        size_t len = avail - o->end, consumed = 0, before = o->out.len;
        char *in = malloc(len ? len : 1);
        if (in == NULL)
            abort();
        if (len)
            memcpy(in, body + o->end, len);
        o->rc = cn_http_parse_body(&p, in, len, &consumed, &o->out);
        free(in);
        /* on ERROR *consumed is 0 though bytes before the bad one may have
         * been appended: the caller discards the body then */
        if (consumed > len || (o->rc != CN_PARSE_ERROR && o->out.len - before > consumed))
            fz_fail("*consumed > len or more decoded than consumed in one call");
        if (o->rc == CN_PARSE_AGAIN && consumed != len)
            fz_fail("AGAIN without consuming all input");
        o->end += consumed;
        if (o->rc != CN_PARSE_AGAIN || avail == n)
            break;
    }
    o->status = p.status;
    if (o->rc == CN_PARSE_ERROR && (p.status == 0 || p.reason == NULL))
        fz_fail("ERROR without status and reason");
    if (cn_http_body_done(&p) != (o->rc == CN_PARSE_DONE))
        fz_fail("cn_http_body_done disagrees with the result");
    cn_http_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ctl[4] = {0, 0, 0, 0};
    size_t k = size < 4 ? size : 4;
    memcpy(ctl, data, k);
    const char *body = (const char *)data + k;
    size_t n = size - k;
    /* "Transfer-Encoding: chunked" + CRLF is 28 bytes */
    cn_http_limits_t lim = fz_limits(ctl[1], 28);
    struct outcome split, whole;
    fz_feed_t f;
    fz_feed_init(&f, ctl, n);
    decode(body, n, &lim, &f, &split);
    decode(body, n, &lim, NULL, &whole);
    if (split.rc != whole.rc || split.status != whole.status)
        fz_fail("split and whole decoding disagree on the result");
    /* on ERROR, what was consumed before the bad byte depends on the reads */
    if (split.rc != CN_PARSE_ERROR &&
        (split.end != whole.end || split.out.len != whole.out.len ||
         (split.out.len > 0 && memcmp(split.out.data, whole.out.data, split.out.len) != 0)))
        fz_fail("split and whole decoding disagree on the bytes");
    if (split.rc != CN_PARSE_ERROR && split.out.len > split.end)
        fz_fail("more decoded bytes than input bytes");
    /* on ERROR the reference judges the bytes the parser had seen */
    fz_check_chunked(split.rc, split.status, split.end, &split.out, body, n, &lim);
    cn_buf_free(&split.out);
    cn_buf_free(&whole.out);
    return 0;
}
