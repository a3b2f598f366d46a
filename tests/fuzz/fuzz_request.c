/* fuzz_request.c - libFuzzer driver for cn_http_parse_head/cn_http_parse_body
 * over a stream of (possibly pipelined) requests.
 *
 * Input: 4 control bytes, then the stream. Control byte 0 picks how reads
 * are sized (byte by byte, small, large, or two reads), byte 1 the limits,
 * bytes 0-3 seed the read sizes. The stream is parsed as a connection
 * would: head, body, then the next request from the first unconsumed byte,
 * until the input is used up or a request fails. Every read is a fresh
 * heap copy of exactly the bytes offered, so ASan flags any read past them
 * and spans must be offsets.
 *
 * It is run twice, split as chosen and whole, and both runs must agree on
 * every request (results, status, head and body lengths, spans, flags,
 * decoded bytes). Each run checks the invariants in check_head() and
 * check_body(); chunked bodies are also compared with the reference decoder
 * of fuzz_common.c. Any violation aborts. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUESTS 64

/* What one request produced; compared field by field between the runs. */
struct rec {
    enum cn_parse head_rc, body_rc;
    int status;
    size_t head_len, body_in; /* body_in: raw body bytes consumed */
    size_t decoded;           /* decoded body bytes */
    cn_span_t method, target, path, query, fragment;
    uint32_t nheaders;
    uint64_t header_hash; /* of every header's name and value spans */
    uint8_t minor;
    bool has_cl, chunked, expect, keep_alive, upgrade;
    uint64_t cl;
};

struct run {
    struct rec recs[MAX_REQUESTS];
    size_t nrecs;
    cn_buf_t body; /* decoded bytes of all requests, in order */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *copy_of(const char *s, size_t n);
static void check_span(cn_span_t s, size_t head_len);
static void check_head(const cn_http_parser_t *p, const cn_http_request_t *req,
                       const char *buf, size_t len);
static void check_body(const cn_http_request_t *req, const struct rec *r, const char *in,
                       size_t len, const cn_buf_t *out, size_t before,
                       const cn_http_limits_t *lim);
static enum cn_parse feed_head(cn_http_parser_t *p, cn_http_request_t *req, const char *s,
                               size_t n, size_t pos, size_t *avail, fz_feed_t *f);
static enum cn_parse feed_body(cn_http_parser_t *p, const char *s, size_t n, size_t *pos,
                               size_t *avail, fz_feed_t *f, cn_buf_t *out);
static void run_stream(const char *s, size_t n, const cn_http_limits_t *lim, fz_feed_t *f,
                       struct run *out);
static void record_head(struct rec *r, const cn_http_request_t *req);
static bool same_span(cn_span_t a, cn_span_t b);
static bool same_rec(const struct rec *x, const struct rec *y);
static bool is_limit(int status);
static bool same_result(const struct rec *x, const struct rec *y);
static void print_run(const char *what, const struct run *r);
static void compare_runs(const struct run *a, const struct run *b);

static char *copy_of(const char *s, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, s, n);
    return c;
}

static void check_span(cn_span_t s, size_t head_len)
{
    if ((size_t)s.off + s.len > head_len)
        fz_fail("span outside the head");
}

/* Invariants of a DONE head; buf/len is the last buffer parse_head saw. */
static void check_head(const cn_http_parser_t *p, const cn_http_request_t *req,
                       const char *buf, size_t len)
{
    const cn_http_limits_t *lim = &p->limits;
    size_t hl = req->head_len;
    if (hl > len || hl < 4 || memcmp(buf + hl - 4, "\r\n\r\n", 4) != 0)
        fz_fail("head_len does not end at a CRLF CRLF inside the buffer");
    check_span(req->method, hl);
    check_span(req->target, hl);
    check_span(req->path, hl);
    check_span(req->query, hl);
    check_span(req->fragment, hl);
    if (req->version_major != 1 || req->version_minor > 1)
        fz_fail("version other than HTTP/1.0 or 1.1 accepted");
    if (req->method.len == 0 || req->target.len == 0)
        fz_fail("empty method or target");
    for (uint32_t i = 0; i < req->target.len; i++) {
        unsigned char c = (unsigned char)buf[req->target.off + i];
        if (c <= 0x20 || c == 0x7f)
            fz_fail("CTL or space in the request target");
    }
    if (lim->request_line != 0 && req->method.len + req->target.len + 10 > lim->request_line)
        fz_fail("request line over the limit accepted");
    if (lim->fields != 0 && req->nheaders > lim->fields)
        fz_fail("more header fields than the limit accepted");
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        check_span(h->name, hl);
        check_span(h->value, hl);
        if (h->name.len == 0 || (h->value.len > 0 && h->value.off < h->name.off + h->name.len))
            fz_fail("empty header name or value before its name");
        if (h->value.off + h->value.len - h->name.off + 2 > p->limits.field_size)
            fz_fail("header field over the limit accepted");
        for (uint32_t k = 0; k < h->value.len; k++) {
            unsigned char c = (unsigned char)buf[h->value.off + k];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                fz_fail("CTL in a header value");
        }
        if (h->value.len > 0 && (buf[h->value.off] == ' ' || buf[h->value.off] == '\t' ||
                                 buf[h->value.off + h->value.len - 1] == ' ' ||
                                 buf[h->value.off + h->value.len - 1] == '\t'))
            fz_fail("header value not trimmed");
    }
    if (req->has_content_length && req->chunked)
        fz_fail("both Content-Length and chunked framing");
    if (req->has_content_length && req->content_length > INT64_MAX)
        fz_fail("Content-Length over INT64_MAX accepted");
}

/* Invariants of a finished body: in/len is the whole rest of the stream
 * after the head, before..out->len the bytes this request decoded. */
static void check_body(const cn_http_request_t *req, const struct rec *r, const char *in,
                       size_t len, const cn_buf_t *out, size_t before,
                       const cn_http_limits_t *lim)
{
    size_t decoded = out->len - before;
    cn_buf_t mine = {out->data != NULL ? out->data + before : NULL, decoded, decoded};
    if (r->body_in > len || (r->body_rc != CN_PARSE_ERROR && decoded > r->body_in))
        fz_fail("body: consumed past the input or decoded more than consumed");
    if (req->chunked) {
        fz_check_chunked(r->body_rc, r->status, r->body_in, &mine, in, len, lim);
        return;
    }
    if (r->body_rc == CN_PARSE_ERROR)
        fz_fail("body: error on a Content-Length or empty body");
    if (decoded != r->body_in || (decoded > 0 && memcmp(mine.data, in, decoded) != 0))
        fz_fail("body: Content-Length bytes not passed through unchanged");
    uint64_t length = req->has_content_length ? req->content_length : 0;
    if (r->body_rc == CN_PARSE_DONE && decoded != length)
        fz_fail("body: DONE with a length other than Content-Length");
    if (r->body_rc == CN_PARSE_AGAIN && (r->body_in != len || decoded >= req->content_length))
        fz_fail("body: AGAIN with input left or the length reached");
}

/* Offers s[pos, *avail) to parse_head, growing *avail read by read. */
static enum cn_parse feed_head(cn_http_parser_t *p, cn_http_request_t *req, const char *s,
                               size_t n, size_t pos, size_t *avail, fz_feed_t *f)
{
    for (;;) {
        if (*avail > pos) {
            size_t len = *avail - pos;
            char *buf = copy_of(s + pos, len);
            enum cn_parse rc = cn_http_parse_head(p, req, buf, len);
            if (rc == CN_PARSE_DONE)
                check_head(p, req, buf, len);
            if (rc == CN_PARSE_ERROR && (p->status == 0 || p->reason == NULL))
                fz_fail("head: ERROR without status and reason");
            free(buf);
            if (rc != CN_PARSE_AGAIN)
                return rc;
        }
        if (*avail == n)
            return CN_PARSE_AGAIN;
        *avail = fz_feed_next(f, *avail, n);
    }
}

/* Offers s[*pos, *avail) to parse_body, advancing *pos by what it used. */
static enum cn_parse feed_body(cn_http_parser_t *p, const char *s, size_t n, size_t *pos,
                               size_t *avail, fz_feed_t *f, cn_buf_t *out)
{
    for (;;) {
        size_t len = *avail - *pos, consumed = 0, before = out->len;
        char *in = copy_of(s + *pos, len);
        enum cn_parse rc = cn_http_parse_body(p, in, len, &consumed, out);
        free(in);
        /* on ERROR *consumed is 0 though bytes before the bad one may have
         * been appended: the caller discards the body then */
        if (consumed > len || (rc != CN_PARSE_ERROR && out->len - before > consumed))
            fz_fail("body: *consumed > len or more decoded than consumed in one call");
        if (rc == CN_PARSE_AGAIN && consumed != len)
            fz_fail("body: AGAIN without consuming all input");
        if (cn_http_body_done(p) != (rc == CN_PARSE_DONE))
            fz_fail("body: cn_http_body_done disagrees with the result");
        *pos += consumed;
        if (rc != CN_PARSE_AGAIN || *avail == n)
            return rc;
        *avail = fz_feed_next(f, *avail, n);
    }
}

static void record_head(struct rec *r, const cn_http_request_t *req)
{
    r->head_len = req->head_len;
    r->method = req->method;
    r->target = req->target;
    r->path = req->path;
    r->query = req->query;
    r->fragment = req->fragment;
    r->nheaders = req->nheaders;
    r->header_hash = 1469598103934665603ull;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        uint32_t v[4] = {h->name.off, h->name.len, h->value.off, h->value.len};
        for (int k = 0; k < 4; k++)
            r->header_hash = (r->header_hash ^ v[k]) * 1099511628211ull;
    }
    r->minor = req->version_minor;
    r->has_cl = req->has_content_length;
    r->cl = req->content_length;
    r->chunked = req->chunked;
    r->expect = req->expect_continue;
    r->keep_alive = req->keep_alive;
    r->upgrade = req->upgrade;
}

/* f == NULL: the whole stream in one read. */
static void run_stream(const char *s, size_t n, const cn_http_limits_t *lim, fz_feed_t *f,
                       struct run *out)
{
    cn_http_parser_t p;
    cn_http_request_t req;
    size_t pos = 0, avail = f != NULL ? 0 : n;
    fz_feed_t whole = {1, FZ_TWO, n};
    if (f == NULL)
        f = &whole;
    cn_http_parser_init(&p, lim);
    cn_http_request_init(&req);
    while (pos < n && out->nrecs < MAX_REQUESTS) {
        struct rec *r = &out->recs[out->nrecs++];
        memset(r, 0, sizeof(*r));
        r->head_rc = feed_head(&p, &req, s, n, pos, &avail, f);
        r->body_rc = CN_PARSE_ERROR;
        r->status = p.status;
        if (r->head_rc != CN_PARSE_DONE)
            break;
        record_head(r, &req);
        size_t bpos = pos + req.head_len, before = out->body.len;
        r->body_rc = feed_body(&p, s, n, &bpos, &avail, f, &out->body);
        r->status = p.status;
        r->body_in = bpos - pos - req.head_len;
        r->decoded = out->body.len - before;
        check_body(&req, r, s + pos + req.head_len, avail - pos - req.head_len, &out->body,
                   before, lim);
        if (r->body_rc == CN_PARSE_ERROR) {
            /* how much was consumed before the bad byte depends on the reads */
            r->body_in = r->decoded = 0;
            out->body.len = before;
        }
        if (r->body_rc != CN_PARSE_DONE)
            break;
        pos = bpos;
        cn_http_parser_reset(&p);
    }
    cn_http_request_free(&req);
}

static bool same_span(cn_span_t a, cn_span_t b) { return a.off == b.off && a.len == b.len; }

static bool same_rec(const struct rec *x, const struct rec *y)
{
    return x->head_len == y->head_len && x->body_in == y->body_in &&
           x->decoded == y->decoded && same_span(x->method, y->method) &&
           same_span(x->target, y->target) && same_span(x->path, y->path) &&
           same_span(x->query, y->query) && same_span(x->fragment, y->fragment) &&
           x->nheaders == y->nheaders && x->header_hash == y->header_hash &&
           x->minor == y->minor && x->has_cl == y->has_cl &&
           x->chunked == y->chunked && x->expect == y->expect &&
           x->keep_alive == y->keep_alive && x->upgrade == y->upgrade && x->cl == y->cl;
}

static bool is_limit(int status) { return status == 413 || status == 414 || status == 431; }

/* Results must match. Statuses too, except that a request which is both
 * malformed and over a limit may be refused for either, depending on which
 * of its bytes a read ends on: llhttp reports a header span (and so the
 * field count or size is checked) at the end of each read, but a syntax
 * error as soon as it sees it (tests/fuzz/crashes/README.md). */
static bool same_result(const struct rec *x, const struct rec *y)
{
    if (x->head_rc != y->head_rc || x->body_rc != y->body_rc)
        return false;
    return x->status == y->status || (is_limit(x->status) || is_limit(y->status));
}

static void print_run(const char *what, const struct run *r)
{
    fprintf(stderr, "%s run: %zu request(s)\n", what, r->nrecs);
    for (size_t i = 0; i < r->nrecs; i++) {
        const struct rec *x = &r->recs[i];
        fprintf(stderr,
                "  #%zu head %d body %d status %d head_len %zu body_in %zu decoded %zu "
                "target %u+%u headers %u cl %d/%llu chunked %d keep_alive %d\n",
                i, x->head_rc, x->body_rc, x->status, x->head_len, x->body_in, x->decoded,
                x->target.off, x->target.len, x->nheaders, x->has_cl,
                (unsigned long long)x->cl, x->chunked, x->keep_alive);
    }
}

static void compare_runs(const struct run *a, const struct run *b)
{
    bool same = a->nrecs == b->nrecs;
    for (size_t i = 0; same && i < a->nrecs; i++)
        same = same_result(&a->recs[i], &b->recs[i]) && same_rec(&a->recs[i], &b->recs[i]);
    if (!same) {
        print_run("split", a);
        print_run("whole", b);
    }
    if (a->nrecs != b->nrecs)
        fz_fail("split and whole runs parsed a different number of requests");
    for (size_t i = 0; i < a->nrecs; i++) {
        const struct rec *x = &a->recs[i], *y = &b->recs[i];
        if (!same_result(x, y))
            fz_fail("split and whole runs disagree on a result or status");
        if (!same_rec(x, y))
            fz_fail("split and whole runs disagree on a request's fields");
    }
    if (a->body.len != b->body.len ||
        (a->body.len > 0 && memcmp(a->body.data, b->body.data, a->body.len) != 0))
        fz_fail("split and whole runs decoded different body bytes");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t ctl[4] = {0, 0, 0, 0};
    size_t k = size < 4 ? size : 4;
    memcpy(ctl, data, k);
    const char *s = (const char *)data + k;
    size_t n = size - k;
    cn_http_limits_t lim = fz_limits(ctl[1], 0);
    fz_feed_t f;
    static struct run split, whole;
    fz_feed_init(&f, ctl, n);
    memset(&split, 0, sizeof(split));
    memset(&whole, 0, sizeof(whole));
    run_stream(s, n, &lim, &f, &split);
    run_stream(s, n, &lim, NULL, &whole);
    compare_runs(&split, &whole);
    cn_buf_free(&split.body);
    cn_buf_free(&whole.body);
    return 0;
}
