/* test_http_parser.c - cn_http_parse_head/cn_http_parse_body against tables
 * of valid and invalid requests. Every valid request is fed all at once,
 * split into two reads at every byte offset, and one byte per read; each
 * read is a fresh heap copy, so spans must be offsets and ASan sees any read
 * past what was passed in. */
#include "cunicorn/http.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 8

struct hdr {
    const char *name;
    const char *value;
};

struct valid_case {
    const char *name;
    const char *raw;
    const char *method, *target, *path, *query, *fragment;
    int minor;
    struct hdr headers[MAX_HDRS];
    bool has_cl;
    uint64_t cl;
    bool chunked, expect, keep_alive, upgrade;
    const char *body;
    const char *rest;        /* pipelined bytes that must be left over */
    const char *next_target; /* target of the pipelined request, if any */
};

struct invalid_case {
    const char *name;
    const char *raw;
    size_t len; /* raw may contain NUL bytes */
    int status;
};

#define BAD(name, raw, status) {name, raw, sizeof(raw) - 1, status}

static const cn_http_limits_t default_limits = {4094, 100, 8190, 0};
/* Parser options run_feed() applies (all off unless a test sets them). */
static cn_http_options_t feed_opts;

/* ---- the feeding harness ------------------------------------------------- */

/* Reads arrive as [0, split) then [split, len) when split > 0, else one byte
 * per read when bytewise, else everything at once. */
struct feed {
    const char *raw;
    size_t len;
    size_t split;
    bool bytewise;
};

static size_t next_avail(const struct feed *f, size_t avail)
{
    if (avail >= f->len)
        return f->len;
    if (f->bytewise)
        return avail + 1;
    if (f->split > 0 && avail < f->split)
        return f->split;
    return f->len;
}

struct outcome {
    enum cn_parse rc;
    int status;
    size_t head_len;
    size_t end; /* offset after the message (head + body) */
    cn_buf_t body;
    char *copy; /* the last head buffer, kept for span checks */
};

static char *dup_bytes(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return p;
}

static enum cn_parse feed_head(cn_http_parser_t *p, cn_http_request_t *req, const struct feed *f,
                               size_t *avail, struct outcome *o)
{
    enum cn_parse rc = CN_PARSE_AGAIN;
    while (rc == CN_PARSE_AGAIN) {
        size_t prev = *avail;
        *avail = next_avail(f, *avail);
        if (*avail == prev && prev == f->len)
            break;
        free(o->copy);
        o->copy = dup_bytes(f->raw, *avail); /* a new address each time */
        rc = cn_http_parse_head(p, req, o->copy, *avail);
    }
    return rc;
}

static enum cn_parse feed_body(cn_http_parser_t *p, const struct feed *f, size_t *avail,
                               size_t *pos, cn_buf_t *out)
{
    for (;;) {
        size_t consumed = 0;
        char *in = dup_bytes(f->raw + *pos, *avail - *pos);
        enum cn_parse rc = cn_http_parse_body(p, in, *avail - *pos, &consumed, out);
        free(in);
        ck_assert_uint_le(consumed, *avail - *pos);
        *pos += consumed;
        if (rc != CN_PARSE_AGAIN)
            return rc;
        ck_assert_uint_eq(*pos, *avail);
        if (*avail == f->len)
            return CN_PARSE_AGAIN;
        *avail = next_avail(f, *avail);
    }
}

static void run_feed(const struct feed *f, const cn_http_limits_t *lim, cn_http_parser_t *p,
                     cn_http_request_t *req, struct outcome *o)
{
    size_t avail = 0, pos;
    memset(o, 0, sizeof(*o));
    cn_buf_init(&o->body);
    cn_http_parser_init(p, lim);
    cn_http_parser_set_options(p, &feed_opts);
    cn_http_request_init(req);
    o->rc = feed_head(p, req, f, &avail, o);
    if (o->rc == CN_PARSE_DONE) {
        o->head_len = req->head_len;
        pos = req->head_len;
        o->rc = feed_body(p, f, &avail, &pos, &o->body);
        o->end = pos;
    }
    o->status = p->status;
}

static void outcome_free(struct outcome *o, cn_http_request_t *req)
{
    free(o->copy);
    cn_buf_free(&o->body);
    cn_http_request_free(req);
}

/* ---- valid requests -------------------------------------------------------- */

#define CHUNKED_BODY                                                                               \
    "5;name=val\r\nhello\r\n6;flag;q=\"a b\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"

static const struct valid_case valid[] = {
    {"simple GET", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/", "/", "", "", 1,
     {{"Host", "example.com"}}, .keep_alive = true},
    {"query and fragment", "GET /p/a%20b?x=1&y=2#frag HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
     "/p/a%20b?x=1&y=2#frag", "/p/a%20b", "x=1&y=2", "frag", 1, {{"Host", "a"}},
     .keep_alive = true},
    {"absolute-form", "GET http://example.com:8080/path/x?q=1 HTTP/1.1\r\nHost: e\r\n\r\n", "GET",
     "http://example.com:8080/path/x?q=1", "/path/x", "q=1", "", 1, {{"Host", "e"}},
     .keep_alive = true},
    {"absolute-form, empty path", "GET HTTPS://example.com?q HTTP/1.1\r\n\r\n", "GET",
     "HTTPS://example.com?q", "/", "q", "", 1, {{0}}, .keep_alive = true},
    {"HTTP/1.0 close", "GET /old HTTP/1.0\r\n\r\n", "GET", "/old", "/old", "", "", 0, {{0}},
     .keep_alive = false},
    {"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", "/",
     "", "", 0, {{"Connection", "Keep-Alive"}}, .keep_alive = true},
    {"HTTP/1.1 close in a list", "GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\n\r\n", "GET", "/",
     "/", "", "", 1, {{"Connection", "foo, CLOSE"}}, .keep_alive = false},
    {"POST Content-Length",
     "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world", "POST",
     "/submit", "/submit", "", "", 1, {{"Host", "a"}, {"Content-Length", "11"}}, true, 11,
     .keep_alive = true, .body = "hello world"},
    {"HTTP/1.0 POST", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", "POST", "/", "/", "", "",
     0, {{"Content-Length", "2"}}, true, 2, .body = "hi"},
    {"chunked, extensions, trailers",
     "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNKED_BODY, "POST", "/c", "/c",
     "", "", 1, {{"Transfer-Encoding", "chunked"}}, .chunked = true, .keep_alive = true,
     .body = "hello world"},
    {"Expect: 100-continue",
     "PUT /u HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc", "PUT", "/u", "/u",
     "", "", 1, {{"Expect", "100-Continue"}, {"Content-Length", "3"}}, true, 3, .expect = true,
     .keep_alive = true, .body = "abc"},
    {"repeated headers", "GET / HTTP/1.1\r\nX-A: 1\r\nX-A: 2\r\nCookie: a=b\r\n\r\n", "GET", "/",
     "/", "", "", 1, {{"X-A", "1"}, {"X-A", "2"}, {"Cookie", "a=b"}}, .keep_alive = true},
    {"value trimming", "GET / HTTP/1.1\r\nX:   spaced  out \t \r\nY:\r\nZ: \t\r\nW:\tv\r\n\r\n",
     "GET", "/", "/", "", "", 1, {{"X", "spaced  out"}, {"Y", ""}, {"Z", ""}, {"W", "v"}},
     .keep_alive = true},
    {"obs-text value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", "GET", "/", "/", "", "", 1,
     {{"X", "caf\xc3\xa9"}}, .keep_alive = true},
    {"OPTIONS *", "OPTIONS * HTTP/1.1\r\n\r\n", "OPTIONS", "*", "*", "", "", 1, {{0}},
     .keep_alive = true},
    {"CONNECT authority", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", "CONNECT",
     "example.com:443", "", "", "", 1, {{0}}, .keep_alive = true},
    {"upgrade", "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "GET",
     "/ws", "/ws", "", "", 1, {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}},
     .keep_alive = true, .upgrade = true},
    {"pipelined GETs", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n"
                       "\r\n", "GET",
     "/1", "/1", "", "", 1, {{"Host", "a"}}, .keep_alive = true,
     .rest = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", .next_target = "/2"},
    {"pipelined after a body",
     "POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /2?x HTTP/1.1\r\n\r\n", "POST", "/1",
     "/1", "", "", 1, {{"Content-Length", "3"}}, true, 3, .keep_alive = true, .body = "abc",
     .rest = "GET /2?x HTTP/1.1\r\n\r\n", .next_target = "/2?x"},
    {"pipelined after chunked",
     "POST /1 HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
     "GET /n HTTP/1.1\r\n\r\n",
     "POST", "/1", "/1", "", "", 1, {{"Transfer-Encoding", "Chunked"}}, .chunked = true,
     .keep_alive = true, .body = "abc", .rest = "GET /n HTTP/1.1\r\n\r\n", .next_target = "/n"},
    {"unknown token method", "-BLARGH /foo HTTP/1.1\r\n\r\n", "-BLARGH", "/foo", "/foo", "", "",
     1, {{0}}, .keep_alive = true},
    {"unknown method with a body", "FOO /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", "FOO", "/x",
     "/x", "", "", 1, {{"Content-Length", "2"}}, true, 2, .keep_alive = true, .body = "hi"},
    {"non-ASCII path", "GET /\xc3\xa0%20k?q=\xff HTTP/1.0\r\n\r\n", "GET", "/\xc3\xa0%20k?q=\xff",
     "/\xc3\xa0%20k", "q=\xff", "", 0, {{0}}, .keep_alive = false},
    {"TE identity + CL", "POST /i HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n"
                         "\r\nWorld",
     "POST", "/i", "/i", "", "", 1,
     {{"Transfer-Encoding", "identity"}, {"Content-Length", "5"}}, true,
     5, .keep_alive = true, .body = "World"},
    {"TE identity alone", "GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"
                          "GET /2 HTTP/1.1\r\n\r\n",
     "GET", "/", "/", "", "", 1, {{"Transfer-Encoding", "identity"}}, .keep_alive = true,
     .rest = "GET /2 HTTP/1.1\r\n\r\n", .next_target = "/2"},
    {"TE gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\n"
                         "hello\r\n0\r\n\r\n",
     "POST", "/", "/", "", "", 1, {{"Transfer-Encoding", "gzip, chunked"}}, .chunked = true,
     .keep_alive = false, .body = "hello"},
    {"TE identity, chunked",
     "POST / HTTP/1.1\r\nTransfer-Encoding: identity,chunked\r\n\r\n5\r\nhello\r\n0\r\n"
     "\r\n", "POST", "/",
     "/", "", "", 1, {{"Transfer-Encoding", "identity,chunked"}}, .chunked = true,
     .keep_alive = true, .body = "hello"},
    {"TE over two fields",
     "GET / HTTP/1.1\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"
     "hello\r\n000\r\n\r\n",
     "GET", "/", "/", "", "", 1,
     {{"Transfer-Encoding", "identity"}, {"Transfer-Encoding", "chunked"}},
     .chunked = true, .keep_alive = true, .body = "hello"},
    {"chunk extensions, several",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b;c=d\r\nabc\r\n"
     "5; some; parameters=stuff\r\nhello\r\n2 ;x=\"q;s\"\r\n!!\r\n0;last=1\r\n\r\n",
     "POST", "/", "/", "", "", 1, {{"Transfer-Encoding", "chunked"}}, .chunked = true,
     .keep_alive = true, .body = "abchello!!"},
    {"allowed trailers",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nVary: *\r\n"
     "Content-Type: text/plain\r\n\r\nGET /n HTTP/1.1\r\n\r\n",
     "POST", "/", "/", "", "", 1, {{"Transfer-Encoding", "chunked"}}, .chunked = true,
     .keep_alive = true, .body = "0123456789", .rest = "GET /n HTTP/1.1\r\n\r\n",
     .next_target = "/n"},
    {"Content-Length: 0", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
     "POST", "/", "/", "", "", 1, {{"Content-Length", "0"}}, true, 0, .keep_alive = true,
     .body = "", .rest = "GET / HTTP/1.1\r\n\r\n", .next_target = "/"},
};

static void assert_span(const char *base, cn_span_t s, const char *want, const char *what)
{
    ck_assert_msg(s.len == strlen(want) && memcmp(base + s.off, want, s.len) == 0,
                  "%s: got '%.*s', want '%s'", what, (int)s.len, base + s.off, want);
}

static void check_second(const struct valid_case *c)
{
    cn_http_parser_t p;
    cn_http_request_t req;
    cn_http_parser_init(&p, &default_limits);
    cn_http_request_init(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, c->rest, strlen(c->rest)), CN_PARSE_DONE);
    assert_span(c->rest, req.target, c->next_target, "second target");
    cn_http_request_free(&req);
}

static void check_valid(const struct valid_case *c, const struct feed *f)
{
    cn_http_parser_t p;
    cn_http_request_t req;
    struct outcome o;
    const char *body = c->body ? c->body : "";
    size_t rest = c->rest ? strlen(c->rest) : 0, n = 0;
    run_feed(f, &default_limits, &p, &req, &o);
    ck_assert_msg(o.rc == CN_PARSE_DONE, "%s split %zu: rc %d status %d (%s)", c->name, f->split,
                  o.rc, o.status, p.reason ? p.reason : "");
    ck_assert_uint_eq(o.head_len, (size_t)(strstr(c->raw, "\r\n\r\n") - c->raw) + 4);
    ck_assert_uint_eq(o.end, f->len - rest);
    assert_span(o.copy, req.method, c->method, "method");
    assert_span(o.copy, req.target, c->target, "target");
    assert_span(o.copy, req.path, c->path, "path");
    assert_span(o.copy, req.query, c->query, "query");
    assert_span(o.copy, req.fragment, c->fragment, "fragment");
    ck_assert_int_eq(req.version_major, 1);
    ck_assert_int_eq(req.version_minor, c->minor);
    while (n < MAX_HDRS && c->headers[n].name)
        n++;
    ck_assert_uint_eq(req.nheaders, n);
    for (size_t i = 0; i < n; i++) {
        assert_span(o.copy, req.headers[i].name, c->headers[i].name, "header name");
        assert_span(o.copy, req.headers[i].value, c->headers[i].value, "header value");
    }
    ck_assert(req.has_content_length == c->has_cl && req.content_length == c->cl);
    ck_assert(req.chunked == c->chunked && req.expect_continue == c->expect);
    ck_assert(req.keep_alive == c->keep_alive && req.upgrade == c->upgrade);
    ck_assert(cn_http_body_done(&p));
    ck_assert_uint_eq(o.body.len, strlen(body));
    ck_assert(memcmp(o.body.data ? o.body.data : "", body, o.body.len) == 0);
    outcome_free(&o, &req);
    if (c->rest)
        check_second(c);
}

START_TEST(test_valid_whole)
{
    const struct valid_case *c = &valid[_i];
    struct feed f = {c->raw, strlen(c->raw), 0, false};
    check_valid(c, &f);
}
END_TEST

START_TEST(test_valid_every_split)
{
    const struct valid_case *c = &valid[_i];
    size_t len = strlen(c->raw);
    for (size_t k = 1; k < len; k++) {
        struct feed f = {c->raw, len, k, false};
        check_valid(c, &f);
    }
}
END_TEST

START_TEST(test_valid_bytewise)
{
    const struct valid_case *c = &valid[_i];
    struct feed f = {c->raw, strlen(c->raw), 0, true};
    check_valid(c, &f);
}
END_TEST

/* ---- invalid requests -------------------------------------------------------- */

#define POSTC "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"

static const struct invalid_case invalid[] = {
    /* framing */
    BAD("CL + TE", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "abc", 400),
    BAD("TE + CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                   "abc", 400),
    BAD("CL repeated, equal", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"
                              "abc", 400),
    BAD("CL repeated, differing", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n"
                                  "\r\nabcd", 400),
    BAD("CL list", "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
    BAD("CL +1", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na", 400),
    BAD("CL -1", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\na", 400),
    BAD("CL 1 2", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\na", 400),
    BAD("CL empty", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400),
    BAD("CL hex", "POST / HTTP/1.1\r\nContent-Length: 0x1\r\n\r\na", 400),
    BAD("CL overflow", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    BAD("CL over INT64_MAX", "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", 400),
    BAD("TE gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
    BAD("TE chunked, gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", 400),
    BAD("TE chunked twice, one field", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n"
                                       "\r\n0\r\n\r\n", 400),
    BAD("TE chunked twice, two fields",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
     "\r\n", 400),
    BAD("TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    BAD("TE unknown coding", "POST / HTTP/1.1\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n"
                             "\r\n", 501),
    BAD("TE chunked, identity", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                                "0\r\n\r\n", 400),
    BAD("TE chunked then identity field",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n"
     "\r\n", 400),
    BAD("TE empty element", "POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n"
                            "\r\n", 400),
    BAD("TE gzip + CL", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"
                        "abc", 400),
    BAD("TE identity, chunked + CL",
     "POST / HTTP/1.1\r\nTransfer-Encoding: identity, chunked\r\nContent-Length: 3\r\n\r\n0\r\n"
     "\r\n", 400),
    BAD("repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: evil\r\n\r\n", 400),
    BAD("repeated Content-Type",
     "GET / HTTP/1.1\r\nContent-Type: a/b\r\ncontent-type: text/html\r\n\r\n", 400),
    /* chunked bodies */
    BAD("chunk size non-hex", POSTC "zz\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size empty", POSTC "\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size negative", POSTC "-3\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size overflow", POSTC "fffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size bare LF", POSTC "3\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk data without CRLF", POSTC "3\r\nabcX\r\n0\r\n\r\n", 400),
    BAD("chunk data bare LF", POSTC "3\r\nabc\n0\r\n\r\n", 400),
    BAD("last chunk bare LF", POSTC "3\r\nabc\r\n0\n\r\n", 400),
    BAD("trailers end bare LF", POSTC "3\r\nabc\r\n0\r\n\n", 400),
    BAD("trailer line bare LF", POSTC "3\r\nabc\r\n0\r\nT: x\n\r\n", 400),
    BAD("trailer then bare LF", POSTC "3\r\nabc\r\n0\r\nT: x\r\n\n", 400),
    BAD("trailer obs-fold", POSTC "3\r\nabc\r\n0\r\nT: x\r\n y\r\n\r\n", 400),
    BAD("trailer CTL", POSTC "3\r\nabc\r\n0\r\nT: a\001b\r\n\r\n", 400),
    BAD("trailer empty name", POSTC "3\r\nabc\r\n0\r\n: x\r\n\r\n", 400),
    BAD("trailer Content-Length", POSTC "3\r\nabc\r\n0\r\nContent-Length: 99\r\n\r\n", 400),
    BAD("trailer Host", POSTC "3\r\nabc\r\n0\r\nhost: evil\r\n\r\n", 400),
    BAD("trailer Transfer-Encoding", POSTC "3\r\nabc\r\n0\r\nTransfer-Encoding: chunked\r\n"
                                           "\r\n", 400),
    BAD("trailer space before colon", POSTC "3\r\nabc\r\n0\r\nT : x\r\n\r\n", 400),
    BAD("chunk size trailing space", POSTC "3 \r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size plus", POSTC "+3\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk extension CTL", POSTC "3;a=\001\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk extension bare CR", POSTC "3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
    BAD("chunk size line bare LF after ext", POSTC "3;a\nabc\r\n0\r\n\r\n", 400),
    /* header syntax */
    BAD("obs-fold SP", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
    BAD("obs-fold HTAB", "GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 400),
    BAD("fold as first field line", "GET / HTTP/1.1\r\n A: b\r\n\r\n", 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    BAD("tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),
    BAD("empty field name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400),
    BAD("no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400),
    BAD("bare LF after request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
    BAD("bare LF after field", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400),
    BAD("bare LF blank line", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400),
    BAD("bare LF only", "GET / HTTP/1.1\n\n", 400),
    BAD("bare CR in value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400),
    BAD("bare CR line end", "GET / HTTP/1.1\r\nA: b\r\r\n\r\n", 400),
    BAD("bare CR after request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
    BAD("NUL in value", "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 400),
    BAD("SOH in value", "GET / HTTP/1.1\r\nA: b\001c\r\n\r\n", 400),
    BAD("DEL in value", "GET / HTTP/1.1\r\nA: b\177\r\n\r\n", 400),
    BAD("ESC in value", "GET / HTTP/1.1\r\nA: \033[0m\r\n\r\n", 400),
    BAD("NUL in name", "GET / HTTP/1.1\r\nA\0B: c\r\n\r\n", 400),
    BAD("DEL in name", "GET / HTTP/1.1\r\nA\177: c\r\n\r\n", 400),
    BAD("separator in name", "GET / HTTP/1.1\r\nA(B): c\r\n\r\n", 400),
    /* request line */
    BAD("bad method char", "G@T / HTTP/1.1\r\n\r\n", 400),
    BAD("CTL in method", "GE\001T / HTTP/1.1\r\n\r\n", 400),
    BAD("lowercase method", "get / HTTP/1.1\r\n\r\n", 400),
    BAD("mixed-case method", "Get / HTTP/1.1\r\n\r\n", 400),
    BAD("'#' in method", "GE#T / HTTP/1.1\r\n\r\n", 400),
    BAD("method too short", "GE / HTTP/1.1\r\n\r\n", 400),
    BAD("method too long", "ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n\r\n", 400),
    BAD("non-ASCII method", "G\xc3\x89T / HTTP/1.1\r\n\r\n", 400),
    BAD("NUL in target", "GET /a\0b HTTP/1.1\r\n\r\n", 400),
    BAD("HTAB in target", "GET /a\tb HTTP/1.1\r\n\r\n", 400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 400),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 400),
    BAD("HTTP/0.9 no version", "GET /\r\n\r\n", 400),
    BAD("HTTP/11", "GET / HTTP/11\r\n\r\n", 400),
    BAD("lowercase http", "GET / http/1.1\r\n\r\n", 400),
    BAD("version junk", "GET / HTTP/1.1x\r\n\r\n", 400),
    BAD("space in target", "GET /a b HTTP/1.1\r\n\r\n", 400),
    BAD("CTL in target", "GET /a\001 HTTP/1.1\r\n\r\n", 400),
    BAD("DEL in target", "GET /a\177 HTTP/1.1\r\n\r\n", 400),
    BAD("relative target", "GET a/b HTTP/1.1\r\n\r\n", 400),
    BAD("asterisk with GET", "GET * HTTP/1.1\r\n\r\n", 400),
    BAD("asterisk plus", "OPTIONS *x HTTP/1.1\r\n\r\n", 400),
    BAD("authority without CONNECT", "GET example.com:443 HTTP/1.1\r\n\r\n", 400),
    BAD("CONNECT with origin-form", "CONNECT /p HTTP/1.1\r\n\r\n", 400),
    BAD("CONNECT with absolute-form", "CONNECT http://h/ HTTP/1.1\r\n\r\n", 400),
    BAD("other scheme", "GET ftp://h/p HTTP/1.1\r\n\r\n", 400),
    BAD("absolute without host", "GET http:///p HTTP/1.1\r\n\r\n", 400),
    BAD("two spaces before target", "GET  / HTTP/1.1\r\n\r\n", 400),
    BAD("two spaces before version", "GET /  HTTP/1.1\r\n\r\n", 400),
    BAD("tab separator", "GET\t/ HTTP/1.1\r\n\r\n", 400),
    BAD("leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", 400),
    BAD("trailing space after version", "GET / HTTP/1.1 \r\n\r\n", 400),
};

static void check_invalid(const struct invalid_case *c, size_t len, bool bytewise,
                          const cn_http_limits_t *lim)
{
    cn_http_parser_t p;
    cn_http_request_t req;
    struct outcome o;
    struct feed f = {c->raw, len, 0, bytewise};
    run_feed(&f, lim, &p, &req, &o);
    ck_assert_msg(o.rc == CN_PARSE_ERROR, "%s (bytewise %d): rc %d", c->name, bytewise, o.rc);
    ck_assert_msg(o.status == c->status, "%s (bytewise %d): status %d (%s), want %d", c->name,
                  bytewise, o.status, p.reason ? p.reason : "", c->status);
    ck_assert_ptr_nonnull(p.reason);
    outcome_free(&o, &req);
}

START_TEST(test_invalid_whole)
{
    check_invalid(&invalid[_i], invalid[_i].len, false, &default_limits);
}
END_TEST

START_TEST(test_invalid_bytewise)
{
    check_invalid(&invalid[_i], invalid[_i].len, true, &default_limits);
}
END_TEST

/* ---- limits ------------------------------------------------------------------ */

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    char *s = malloc(a + n + b + 1);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

/* Feeds raw whole, split at every offset and bytewise; all must agree. */
static void expect_all_ways(const char *raw, const cn_http_limits_t *lim, enum cn_parse want,
                            int status)
{
    size_t len = strlen(raw);
    for (size_t k = 0; k <= len + 1; k++) {
        cn_http_parser_t p;
        cn_http_request_t req;
        struct outcome o;
        struct feed f = {raw, len, k <= len ? k : 0, k == len + 1};
        run_feed(&f, lim, &p, &req, &o);
        ck_assert_msg(o.rc == want && o.status == status, "split %zu: rc %d status %d (%s)", k,
                      o.rc, o.status, p.reason ? p.reason : "");
        outcome_free(&o, &req);
    }
}

/* A CR at the end of one read and a non-LF byte at the start of the next is
 * refused as soon as that byte arrives (found by fuzz_request). */
START_TEST(test_bare_cr_across_reads)
{
    const char *raw = "GET /a\rb HTTP/1.1\r\n\r\n";
    cn_http_parser_t p;
    cn_http_request_t req;
    cn_http_parser_init(&p, &default_limits);
    cn_http_request_init(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, 7), CN_PARSE_AGAIN); /* ends on the CR */
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, 8), CN_PARSE_ERROR);
    ck_assert_int_eq(p.status, 400);
    cn_http_request_free(&req);
}
END_TEST

START_TEST(test_limit_request_body)
{
    cn_http_limits_t lim = {4094, 100, 8190, 10};
    expect_all_ways("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", &lim,
                    CN_PARSE_DONE, 0);
    /* refused from the head alone, before any body byte is read */
    expect_all_ways("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", &lim, CN_PARSE_ERROR, 413);
    expect_all_ways("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n",
                    &lim, CN_PARSE_DONE, 0);
    /* refused when the chunk sizes announced pass the limit */
    expect_all_ways("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4\r\n0123\r\n7\r\n",
                    &lim, CN_PARSE_ERROR, 413);
    expect_all_ways("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "fffffffffffffff\r\n",
                    &lim, CN_PARSE_ERROR, 413);
}
END_TEST

START_TEST(test_limit_request_line)
{
    cn_http_limits_t lim = {30, 100, 8190, 0};
    /* "GET " + target + " HTTP/1.1" = 13 + target */
    char *ok = repeat("GET /", 'a', 16, " HTTP/1.1\r\nHost: x\r\n\r\n");
    char *bad = repeat("GET /", 'a', 17, " HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_all_ways(ok, &lim, CN_PARSE_DONE, 0);
    expect_all_ways(bad, &lim, CN_PARSE_ERROR, 414);
    free(ok);
    free(bad);
}
END_TEST

START_TEST(test_limit_request_line_unlimited)
{
    cn_http_limits_t lim = {0, 100, 8190, 0};
    char *big = repeat("GET /", 'a', 100000, " HTTP/1.1\r\n\r\n");
    struct feed f = {big, strlen(big), 0, false};
    cn_http_parser_t p;
    cn_http_request_t req;
    struct outcome o;
    run_feed(&f, &lim, &p, &req, &o);
    ck_assert_int_eq(o.rc, CN_PARSE_DONE);
    ck_assert_uint_eq(req.target.len, 100001);
    outcome_free(&o, &req);
    free(big);
}
END_TEST

START_TEST(test_limit_fields)
{
    cn_http_limits_t lim = {4094, 3, 8190, 0};
    expect_all_ways("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim, CN_PARSE_DONE, 0);
    expect_all_ways("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &lim, CN_PARSE_ERROR,
                    431);
    expect_all_ways(POSTC "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &lim, CN_PARSE_DONE, 0);
    expect_all_ways(POSTC "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", &lim, CN_PARSE_ERROR, 431);
}
END_TEST

START_TEST(test_limit_field_size)
{
    cn_http_limits_t lim = {4094, 100, 20, 0};
    /* Gunicorn counts the line with its CRLF: "X-Long: " is 8 bytes, 10 more
     * and the CRLF make exactly 20 */
    expect_all_ways("GET / HTTP/1.1\r\nX-Long: 1234567890\r\n\r\n", &lim, CN_PARSE_DONE, 0);
    expect_all_ways("GET / HTTP/1.1\r\nX-Long: 12345678901\r\n\r\n", &lim, CN_PARSE_ERROR, 431);
    /* OWS after the colon counts: "X-Long:" + 10 SP + "a" + CRLF is 20 */
    char *ows_ok = repeat("GET / HTTP/1.1\r\nX-Long:", ' ', 10, "a\r\n\r\n");
    char *ows_bad = repeat("GET / HTTP/1.1\r\nX-Long:", ' ', 11, "a\r\n\r\n");
    expect_all_ways(ows_ok, &lim, CN_PARSE_DONE, 0);
    expect_all_ways(ows_bad, &lim, CN_PARSE_ERROR, 431);
    free(ows_ok);
    free(ows_bad);
    expect_all_ways("GET / HTTP/1.1\r\nX-Very-Long-Name-Here: a\r\n"
                    "\r\n", &lim, CN_PARSE_ERROR, 431);
    /* trailers: the same rule ("Transfer-Encoding: chunked" + CRLF is 28) */
    lim.field_size = 30;
    expect_all_ways(POSTC "0\r\nX-Long: 12345678901234567890\r\n\r\n", &lim, CN_PARSE_DONE, 0);
    expect_all_ways(POSTC "0\r\nX-Long: 123456789012345678901\r\n\r\n", &lim, CN_PARSE_ERROR, 431);
}
END_TEST

/* limit_request_field_size 0 is Gunicorn 26's default (8190), not unlimited:
 * a field line of 8188 bytes plus CRLF fits, one more byte does not. */
START_TEST(test_limit_field_size_zero)
{
    cn_http_limits_t lim = {4094, 100, 0, 0};
    char *ok = repeat("GET / HTTP/1.1\r\nX: ", 'y', 8185, "\r\n\r\n");
    char *bad = repeat("GET / HTTP/1.1\r\nX: ", 'y', 8186, "\r\n\r\n");
    struct feed fok = {ok, strlen(ok), 0, false}, fbad = {bad, strlen(bad), 0, true};
    cn_http_parser_t p;
    cn_http_request_t req;
    struct outcome o;
    run_feed(&fok, &lim, &p, &req, &o);
    ck_assert_int_eq(o.rc, CN_PARSE_DONE);
    outcome_free(&o, &req);
    run_feed(&fbad, &lim, &p, &req, &o);
    ck_assert_int_eq(o.rc, CN_PARSE_ERROR);
    ck_assert_int_eq(o.status, 431);
    outcome_free(&o, &req);
    free(ok);
    free(bad);
}
END_TEST

/* A head that never ends must fail while it arrives, never AGAIN forever. */
static void expect_stream_fails(const char *start, const char *unit, int status)
{
    size_t cap = 4u << 20, len = strlen(start), ulen = strlen(unit);
    char *buf = malloc(cap);
    cn_http_parser_t p;
    cn_http_request_t req;
    enum cn_parse rc = CN_PARSE_AGAIN;
    memcpy(buf, start, len);
    cn_http_parser_init(&p, &default_limits);
    cn_http_request_init(&req);
    while (rc == CN_PARSE_AGAIN && len + 4096 < cap) {
        for (size_t end = len + 4096; len + ulen <= end; len += ulen)
            memcpy(buf + len, unit, ulen);
        rc = cn_http_parse_head(&p, &req, buf, len);
    }
    ck_assert_msg(rc == CN_PARSE_ERROR, "%s...: still %d after %zu bytes", start, rc, len);
    ck_assert_int_eq(p.status, status);
    ck_assert_uint_lt(len, 1u << 20);
    cn_http_request_free(&req);
    free(buf);
}

START_TEST(test_endless_heads)
{
    expect_stream_fails("GET / HTTP/1.1\r\n", "X-Header: value\r\n", 431);
    expect_stream_fails("GET / HTTP/1.1\r\nX: ", "a", 431);
    expect_stream_fails("GET / HTTP/1.1\r\nX-", "a", 431);
    expect_stream_fails("GET / HTTP/1.1\r\nX:", " ", 431);
    expect_stream_fails("GET / HTTP/1.1\r\nX: a", " ", 431);
    expect_stream_fails("GET /", "a", 414);
    expect_stream_fails("GET", " ", 414);
    expect_stream_fails("GET /?", "q=1&", 414);
}
END_TEST

/* ---- odds and ends --------------------------------------------------------- */

START_TEST(test_header_lookup)
{
    const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-Thing: 1\r\n\r\n";
    cn_http_parser_t p;
    cn_http_request_t req;
    cn_http_parser_init(&p, &default_limits);
    cn_http_request_init(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, strlen(raw)), CN_PARSE_DONE);
    const cn_http_header_t *h = cn_http_request_header(&req, raw, "x-thing", 7);
    ck_assert_ptr_nonnull(h);
    assert_span(raw, h->value, "1", "x-thing");
    ck_assert_ptr_null(cn_http_request_header(&req, raw, "x-missing", 9));
    /* DONE is sticky; reset starts a new message reusing the header storage */
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, strlen(raw)), CN_PARSE_DONE);
    cn_http_parser_reset(&p);
    cn_http_request_clear(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, "GET /z HTTP/1.1\r\n\r\n", 19), CN_PARSE_DONE);
    ck_assert_uint_eq(req.nheaders, 0);
    cn_http_request_free(&req);
}
END_TEST

START_TEST(test_error_is_sticky)
{
    const char *raw = "GET / HTTP/2.0\r\n\r\n";
    cn_http_parser_t p;
    cn_http_request_t req;
    size_t consumed = 7;
    cn_buf_t out = CN_BUF_INIT;
    cn_http_parser_init(&p, &default_limits);
    cn_http_request_init(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, strlen(raw)), CN_PARSE_ERROR);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, strlen(raw)), CN_PARSE_ERROR);
    ck_assert_int_eq(cn_http_parse_body(&p, "x", 1, &consumed, &out), CN_PARSE_ERROR);
    ck_assert_uint_eq(consumed, 0);
    ck_assert_int_eq(p.status, 400);
    cn_http_request_free(&req);
}
END_TEST

/* ---- options (Gunicorn's parsing settings) ------------------------------------ */

struct opt_case {
    const char *name;
    const char *raw;
    cn_http_options_t opts;
    int status;                  /* 0: must parse; else the rejection */
    const char *method;          /* after cn_http_request_rewrite */
    struct hdr headers[MAX_HDRS]; /* exactly these, in order (after rewrite) */
    const char *body;
    bool has_cl;
};

#define STRIP {.strip_header_spaces = true}
#define UNCONV {.permit_unconventional_method = true}
#define CASEFOLD {.casefold_method = true}
#define FOLD {.permit_obsolete_folding = true}
#define MAP(m) {.header_map = CN_HTTP_HEADER_MAP_##m}

static const struct opt_case opt_cases[] = {
    /* strip_header_spaces (valid/028) */
    {"space before colon, default", "GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n"
                                    "xyz", {0}, .status = 400},
    {"space before colon, stripped", "GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\n"
                                     "xyz", STRIP, .status = 0,
     "GET", {{"Content-Length", "3"}}, "xyz", true},
    {"several spaces stripped", "GET / HTTP/1.1\r\nX-A   :  v \r\nHost: h\r\n"
                                "\r\n", STRIP, .status = 0, "GET",
     {{"X-A", "v"}, {"Host", "h"}}},
    {"strip keeps names tokens", "GET / HTTP/1.1\r\nX A : v\r\n\r\n", STRIP, .status = 400},
    {"strip: HTAB before colon", "GET / HTTP/1.1\r\nX\t : v\r\n\r\n", STRIP, .status = 0, "GET",
     {{"X", "v"}}},
    {"strip: a fold line is not a name", "GET / HTTP/1.1\r\nA: 1\r\n B : 2\r\n\r\n", STRIP,
     .status = 400},
    {"strip: empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n", STRIP, .status = 400},
    {"strip: spaces inside a value kept", "GET / HTTP/1.1\r\nX : a : b\r\n\r\n", STRIP,
     .status = 0, "GET", {{"X", "a : b"}}},
    {"strip: CTL in value", "GET / HTTP/1.1\r\nX : a\x01b\r\n\r\n", STRIP, .status = 400},
    {"strip: DEL in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", STRIP, .status = 400},
    {"strip: only spaces as name", "GET / HTTP/1.1\r\n : v\r\n\r\n", STRIP, .status = 400},
    /* permit_unconventional_http_method, casefold_http_method (valid/031compat*) */
    {"lowercase method, default", "-blargh /foo HTTP/1.1\r\n\r\n", {0}, .status = 400},
    {"lowercase method, permitted", "-blargh /foo HTTP/1.1\r\n"
                                    "\r\n", UNCONV, .status = 0, "-blargh"},
    {"lowercase method, casefolded", "-blargh /foo HTTP/1.1\r\n\r\n",
     {.permit_unconventional_method = true, .casefold_method = true}, .status = 0, "-BLARGH"},
    {"casefold alone keeps the default rule", "get / HTTP/1.1\r\n\r\n", CASEFOLD, .status = 400},
    {"casefold of a conventional method", "GET / HTTP/1.1\r\n\r\n", CASEFOLD, .status = 0, "GET"},
    {"short method, permitted", "GE / HTTP/1.1\r\n\r\n", UNCONV, .status = 0, "GE"},
    {"short method, default", "GE / HTTP/1.1\r\n\r\n", {0}, .status = 400},
    {"'#' in method, permitted", "G#T / HTTP/1.1\r\n\r\n", UNCONV, .status = 0, "G#T"},
    {"non-token method, permitted", "G(T / HTTP/1.1\r\n\r\n", UNCONV, .status = 400},
    {"casefolded OPTIONS *", "options * HTTP/1.1\r\n\r\n",
     {.permit_unconventional_method = true, .casefold_method = true}, .status = 0, "OPTIONS"},
    {"lowercase options * without casefold", "options * HTTP/1.1\r\n\r\n", UNCONV, .status = 400},
    /* permit_obsolete_folding (valid/compat_obs_fold*) */
    {"obs-fold, default", "GET / HTTP/1.1\r\nLong: one\r\n two\r\nHost: localhost\r\n\r\n", {0},
     .status = 400},
    {"obs-fold joined", "GET / HTTP/1.1\r\nLong: one\r\n two\r\nHost: localhost\r\n\r\n", FOLD,
     .status = 0, "GET", {{"Long", "one two"}, {"Host", "localhost"}}},
    {"obs-fold, OWS of every line dropped",
     "GET / HTTP/1.1\r\nLong:  one  \r\n \t two \r\n\tthree\r\n\r\n", FOLD, .status = 0, "GET",
     {{"Long", "one two three"}}},
    {"obs-fold, empty middle line", "GET / HTTP/1.1\r\nL: a\r\n \r\n b\r\n"
                                    "\r\n", FOLD, .status = 0, "GET",
     {{"L", "a  b"}}},
    {"obs-fold of Content-Length", "POST / HTTP/1.1\r\nContent-Length:\r\n 2\r\n\r\n"
                                   "hi", FOLD, .status = 0,
     "POST", {{"Content-Length", "2"}}, "hi", true},
    {"obs-fold after the request line", "GET / HTTP/1.1\r\n X: y\r\n\r\n", FOLD, .status = 400},
    {"obs-fold: bare LF stays refused", "GET / HTTP/1.1\r\nL: a\n b\r\n\r\n", FOLD, .status = 400},
    {"obs-fold: CTL stays refused", "GET / HTTP/1.1\r\nL: a\r\n b\x01\r\n"
                                    "\r\n", FOLD, .status = 400},
    /* header_map (valid/040, valid/040_compat, invalid/040, invalid/chunked_07) */
    {"underscore dropped",
     "GET / HTTP/1.0\r\nTransfer_Encoding: tricked\r\nContent-Length: 7\r\n"
     "Content_Length: -1E23\r\n\r\ntricked",
     MAP(DROP), .status = 0, "GET", {{"Content-Length", "7"}}, "tricked", true},
    {"underscore kept (dangerous)",
     "GET / HTTP/1.0\r\nTransfer_Encoding: tricked\r\nContent-Length: 7\r\n"
     "Content_Length: -1E23\r\n\r\ntricked",
     MAP(DANGEROUS), .status = 0, "GET",
     {{"Transfer_Encoding", "tricked"}, {"Content-Length", "7"}, {"Content_Length", "-1E23"}},
     "tricked", true},
    {"underscore refused",
     "GET / HTTP/1.0\r\nTransfer_Encoding: tricked\r\nContent-Length: 7\r\n\r\ntricked",
     MAP(REFUSE), .status = 400},
    {"underscore refused before chunked",
     "POST / HTTP/1.1\r\nTransfer_Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n0\r\n\r\n",
     MAP(REFUSE), .status = 400},
    {"dropped empty value", "GET / HTTP/1.1\r\nX_A:\r\nB: 1\r\n\r\n", MAP(DROP), .status = 0, "GET",
     {{"B", "1"}}},
    {"dropped last field", "GET / HTTP/1.1\r\nB: 1\r\nX_A: 2\r\n"
                           "\r\n", MAP(DROP), .status = 0, "GET",
     {{"B", "1"}}},
    {"dropped field still checked", "GET / HTTP/1.1\r\nX_A: a\x01\r\n"
                                    "\r\n", MAP(DROP), .status = 400},
    {"stripped name then refused", "GET / HTTP/1.1\r\nX_A : 1\r\n\r\n",
     {.strip_header_spaces = true, .header_map = CN_HTTP_HEADER_MAP_REFUSE}, .status = 400},
};

static void check_opt_outcome(const struct opt_case *c, size_t k, cn_http_parser_t *p,
                              cn_http_request_t *req, struct outcome *o)
{
    ck_assert_msg(o->rc == (c->status ? CN_PARSE_ERROR : CN_PARSE_DONE) && o->status == c->status,
                  "%s, split %zu: rc %d status %d (%s)", c->name, k, o->rc, o->status,
                  p->reason ? p->reason : "");
    if (c->status != 0)
        return;
    cn_http_request_rewrite(p, req, o->copy);
    cn_http_request_rewrite(p, req, o->copy); /* idempotent */
    assert_span(o->copy, req->method, c->method, "method");
    uint32_t n = 0;
    while (n < MAX_HDRS && c->headers[n].name != NULL)
        n++;
    ck_assert_msg(req->nheaders == n, "%s: %u headers, want %u", c->name, req->nheaders, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_span(o->copy, req->headers[i].name, c->headers[i].name, "header name");
        assert_span(o->copy, req->headers[i].value, c->headers[i].value, "header value");
    }
    ck_assert(req->has_content_length == c->has_cl);
    const char *body = c->body ? c->body : "";
    ck_assert_msg(o->body.len == strlen(body) &&
                      (o->body.len == 0 || memcmp(o->body.data, body, o->body.len) == 0),
                  "%s: body '%.*s'", c->name, (int)o->body.len, o->body.data);
}

/* Whole, split at every offset, and bytewise. */
START_TEST(test_options)
{
    const struct opt_case *c = &opt_cases[_i];
    size_t len = strlen(c->raw);
    feed_opts = c->opts;
    for (size_t k = 0; k <= len + 1; k++) {
        cn_http_parser_t p;
        cn_http_request_t req;
        struct outcome o;
        struct feed f = {c->raw, len, k <= len ? k : 0, k == len + 1};
        run_feed(&f, &default_limits, &p, &req, &o);
        check_opt_outcome(c, k, &p, &req, &o);
        outcome_free(&o, &req);
    }
    memset(&feed_opts, 0, sizeof(feed_opts));
}
END_TEST

/* Dropped fields count against limit_request_fields; folded lines against
 * limit_request_field_size (invalid/013: "Accept:\r\n *\/\*" is 15 bytes). */
START_TEST(test_options_limits)
{
    cn_http_limits_t fields = {4094, 2, 8190, 0}, size = {4094, 100, 14, 0};
    feed_opts.header_map = CN_HTTP_HEADER_MAP_DROP;
    expect_all_ways("GET / HTTP/1.1\r\nA: 1\r\nX_B: 2\r\n\r\n", &fields, CN_PARSE_DONE, 0);
    expect_all_ways("GET / HTTP/1.1\r\nA: 1\r\nX_B: 2\r\nC: 3\r\n\r\n", &fields, CN_PARSE_ERROR,
                    431);
    feed_opts.header_map = CN_HTTP_HEADER_MAP_DROP;
    feed_opts.permit_obsolete_folding = true;
    expect_all_ways("GET /test HTTP/1.1\r\nAccept:\r\n */*\r\n\r\n", &size, CN_PARSE_ERROR, 431);
    expect_all_ways("GET /test HTTP/1.1\r\nAccept:\r\n */\r\n\r\n", &size, CN_PARSE_DONE, 0);
    memset(&feed_opts, 0, sizeof(feed_opts));
}
END_TEST

/* Options survive cn_http_parser_reset() (keep-alive). */
START_TEST(test_options_survive_reset)
{
    static const char raw[] = "get / HTTP/1.1\r\nA : 1\r\n\r\n";
    cn_http_options_t o = {.strip_header_spaces = true, .permit_unconventional_method = true};
    cn_http_parser_t p;
    cn_http_request_t req;
    cn_http_parser_init(&p, &default_limits);
    cn_http_parser_set_options(&p, &o);
    cn_http_request_init(&req);
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(cn_http_parse_head(&p, &req, raw, sizeof(raw) - 1), CN_PARSE_DONE);
        assert_span(raw, req.headers[0].name, "A", "name");
        cn_http_parser_reset(&p);
    }
    cn_http_request_free(&req);
}
END_TEST

static Suite *http_parser_suite(void)
{
    Suite *s = suite_create("http_parser");
    TCase *tc = tcase_create("valid");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_valid_whole, 0, (int)CN_ARRAY_LEN(valid));
    tcase_add_loop_test(tc, test_valid_every_split, 0, (int)CN_ARRAY_LEN(valid));
    tcase_add_loop_test(tc, test_valid_bytewise, 0, (int)CN_ARRAY_LEN(valid));
    suite_add_tcase(s, tc);
    tc = tcase_create("invalid");
    tcase_add_loop_test(tc, test_invalid_whole, 0, (int)CN_ARRAY_LEN(invalid));
    tcase_add_loop_test(tc, test_invalid_bytewise, 0, (int)CN_ARRAY_LEN(invalid));
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_limit_request_line);
    tcase_add_test(tc, test_limit_request_body);
    tcase_add_test(tc, test_bare_cr_across_reads);
    tcase_add_test(tc, test_limit_request_line_unlimited);
    tcase_add_test(tc, test_limit_fields);
    tcase_add_test(tc, test_limit_field_size);
    tcase_add_test(tc, test_limit_field_size_zero);
    tcase_add_test(tc, test_endless_heads);
    suite_add_tcase(s, tc);
    tc = tcase_create("options");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_options, 0, (int)CN_ARRAY_LEN(opt_cases));
    tcase_add_test(tc, test_options_limits);
    tcase_add_test(tc, test_options_survive_reset);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_test(tc, test_header_lookup);
    tcase_add_test(tc, test_error_is_sticky);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(http_parser_suite());
}
