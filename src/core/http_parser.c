/* http_parser.c - HTTP/1.x request heads on llhttp (strict mode), request
 * lines and bodies by hand.
 *
 * Owns: parsing the request line, driving llhttp over the header section of
 * the caller's read buffer, turning its callbacks into cn_http_request_t
 * spans, the request limits (414/431), every framing rejection llhttp
 * itself lets through, and decoding Content-Length and chunked bodies.
 * Must not: do I/O, include Python.h, keep pointers into the caller's buffer
 * across calls, or grow anything before the matching limit has been checked.
 *
 * Overview. The request line is parsed here (parse_line), because llhttp
 * 8.1 rejects methods it does not know and non-ASCII targets, both of which
 * HTTP and Gunicorn allow. Once it is complete and valid, llhttp is fed a
 * canonical "GET / HTTP/1.x" line in its place and then the original header
 * bytes, so header spans still point into the caller's buffer. Only the
 * bytes after p->_fed are fed, so every span callback arrives once; spans
 * are offsets from the start of the request (the buffer may move between
 * calls). on_headers_complete returns HPE_PAUSED, and the pause position is
 * the first byte after the blank line (head_len). check_head() then applies
 * the rules llhttp does not enforce (below). llhttp is not resumed after the
 * head: cn_http_parse_body() runs our own decoder (body_*), which fixes the
 * llhttp 8.1 chunk-extension bug ("3;a=b;c=d") and checks trailer names.
 *
 * Split of work (llhttp probed as node-llhttp 8.1, LLHTTP_STRICT_MODE=1,
 * with lenient chunked-length so that our framing rules decide TE + CL):
 *   llhttp rejects: space before ':', CTL/NUL/DEL or bare LF in field names
 *     and values, bare CR after a value, malformed Content-Length.
 *   we reject here: everything about the request line, bare LF after any
 *     line, obs-fold, empty field names, repeated Host/Content-Type/
 *     Content-Length, CL with chunked, Transfer-Encoding lists we cannot
 *     frame, TE on HTTP/1.0, asterisk-form except with OPTIONS, authority-
 *     form except with CONNECT, schemes other than http(s), bad chunk
 *     sizes and line ends, forbidden trailer fields, and all limits.
 * docs/http-conformance.md lists every rule with its status and source. */
#include "cunicorn/http.h"

#include <stdlib.h>
#include <string.h>

enum last_cb { CB_NONE, CB_METHOD, CB_URL, CB_VERSION, CB_LINE_DONE, CB_FIELD, CB_VALUE, CB_VALUE_DONE };

static int reject(cn_http_parser_t *p, int status, const char *reason);
static uint32_t off_of(const cn_http_parser_t *p, const char *at);
static int check_line(cn_http_parser_t *p, const char *at, size_t len);
static int on_method(llhttp_t *ll, const char *at, size_t len);
static int on_url(llhttp_t *ll, const char *at, size_t len);
static int on_version(llhttp_t *ll, const char *at, size_t len);
static int on_version_complete(llhttp_t *ll);
static int on_header_field(llhttp_t *ll, const char *at, size_t len);
static int on_header_value(llhttp_t *ll, const char *at, size_t len);
static int on_header_field_complete(llhttp_t *ll);
static int on_header_value_complete(llhttp_t *ll);
static int on_trailer_field(cn_http_parser_t *p, const char *at, size_t len);
static int on_trailer_value(cn_http_parser_t *p, const char *at, size_t len);
static int on_headers_complete(llhttp_t *ll);
static int on_body(llhttp_t *ll, const char *at, size_t len);
static int on_message_complete(llhttp_t *ll);
static cn_http_header_t *push_header(cn_http_parser_t *p, uint32_t off);
static bool version_ok(const llhttp_t *ll);
static int check_request_line(cn_http_parser_t *p);
static int parse_target(cn_http_parser_t *p);
static int parse_absolute(cn_http_parser_t *p, const char *t, uint32_t n);
static void split_path(cn_http_request_t *req, const char *base, uint32_t start, uint32_t end);
static int check_headers(cn_http_parser_t *p);
static int check_framing(cn_http_parser_t *p, int ncl, int nte, const cn_http_header_t *cl,
                         const cn_http_header_t *te);
static void scan_connection(const char *v, size_t n, bool *close, bool *ka, bool *upg);
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len);
static int check_pending_limits(cn_http_parser_t *p, size_t len);
static enum cn_parse head_result(cn_http_parser_t *p, llhttp_errno_t err, const char *buf);
static enum cn_parse fail_from_llhttp(cn_http_parser_t *p);
static void remember_tail(cn_http_parser_t *p, const char *in, size_t n);
static void bind_parser(cn_http_parser_t *p);
static bool is_ows(char c);
static bool is_ctl(unsigned char c);

/* ---- small helpers ------------------------------------------------------- */

static int reject(cn_http_parser_t *p, int status, const char *reason)
{
    if (p->status == 0) {
        p->status = status;
        p->reason = reason;
    }
    return -1;
}

static uint32_t off_of(const cn_http_parser_t *p, const char *at)
{
    return (uint32_t)(at - p->_base);
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* llhttp keeps a pointer to its settings: re-point it at each call so a parser
 * that was copied between calls still works. */
static void bind_parser(cn_http_parser_t *p)
{
    p->_ll.settings = &p->_settings;
    p->_ll.data = p;
}

/* ---- init / reset / request lifetime ------------------------------------ */

void cn_http_parser_init(cn_http_parser_t *p, const cn_http_limits_t *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = *limits;
    llhttp_settings_init(&p->_settings);
    p->_settings.on_method = on_method;
    p->_settings.on_url = on_url;
    p->_settings.on_version = on_version;
    p->_settings.on_version_complete = on_version_complete;
    p->_settings.on_header_field = on_header_field;
    p->_settings.on_header_value = on_header_value;
    p->_settings.on_header_field_complete = on_header_field_complete;
    p->_settings.on_header_value_complete = on_header_value_complete;
    p->_settings.on_headers_complete = on_headers_complete;
    p->_settings.on_body = on_body;
    p->_settings.on_message_complete = on_message_complete;
    cn_http_parser_reset(p);
}

void cn_http_parser_reset(cn_http_parser_t *p)
{
    llhttp_init(&p->_ll, HTTP_REQUEST, &p->_settings);
    bind_parser(p);
    p->_req = NULL;
    p->_base = NULL;
    p->_fed = 0;
    p->_line_len = 0;
    p->_field_len = 0;
    p->_last_cb = CB_NONE;
    p->_head_done = false;
    p->_body_done = false;
    p->_body_out = NULL;
    p->_exec_end = NULL;
    p->_span_at_end = false;
    p->_ntrailers = 0;
    p->_tail[0] = p->_tail[1] = '\0';
    p->status = 0;
    p->reason = NULL;
}

void cn_http_request_init(cn_http_request_t *req) { memset(req, 0, sizeof(*req)); }

void cn_http_request_clear(cn_http_request_t *req)
{
    cn_http_header_t *headers = req->headers;
    uint32_t cap = req->_cap;
    memset(req, 0, sizeof(*req));
    req->headers = headers;
    req->_cap = cap;
}

void cn_http_request_free(cn_http_request_t *req)
{
    free(req->headers);
    cn_http_request_init(req);
}

/* ---- request line callbacks ---------------------------------------------- */

/* The request line is counted from the method to the end of the latest span
 * (spaces between spans included), as bytes arrive. */
static int check_line(cn_http_parser_t *p, const char *at, size_t len)
{
    uint32_t end = off_of(p, at) + (uint32_t)len;
    p->_line_len = end;
    if (p->limits.request_line != 0 && end > p->limits.request_line)
        return reject(p, 414, "request line too long");
    return 0;
}

static int on_method(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_http_request_t *req = p->_req;
    if (p->_last_cb == CB_NONE && at != p->_base)
        return reject(p, 400, "bytes before the request line");
    req->method.len += (uint32_t)len;
    p->_last_cb = CB_METHOD;
    return check_line(p, at, len);
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_http_request_t *req = p->_req;
    if (p->_last_cb != CB_URL) {
        if (off_of(p, at) != req->method.off + req->method.len + 1)
            return reject(p, 400, "extra whitespace in request line");
        req->target.off = off_of(p, at);
    }
    req->target.len += (uint32_t)len;
    p->_last_cb = CB_URL;
    return check_line(p, at, len);
}

static int on_version(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_http_request_t *req = p->_req;
    /* llhttp's version span is "1.1": it follows exactly " HTTP/". */
    if (p->_last_cb != CB_VERSION && off_of(p, at) != req->target.off + req->target.len + 6)
        return reject(p, 400, "extra whitespace in request line");
    p->_last_cb = CB_VERSION;
    return check_line(p, at, len);
}

static bool version_ok(const llhttp_t *ll)
{
    return ll->http_major == 1 && (ll->http_minor == 0 || ll->http_minor == 1);
}

static int on_version_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    if (!version_ok(ll))
        return reject(p, 400, "unsupported HTTP version");
    p->_last_cb = CB_LINE_DONE;
    return 0;
}

/* ---- header and trailer callbacks ----------------------------------------- */

static cn_http_header_t *push_header(cn_http_parser_t *p, uint32_t off)
{
    cn_http_request_t *req = p->_req;
    if (req->nheaders == req->_cap) {
        uint32_t cap = req->_cap ? req->_cap * 2 : 16;
        if (p->limits.fields != 0 && cap > p->limits.fields)
            cap = p->limits.fields;
        req->headers = cn_xrealloc(req->headers, (size_t)cap * sizeof(*req->headers));
        req->_cap = cap;
    }
    cn_http_header_t *h = &req->headers[req->nheaders++];
    h->name.off = off;
    h->name.len = 0;
    h->value.off = off;
    h->value.len = 0;
    return h;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_http_request_t *req = p->_req;
    cn_http_header_t *h;
    if (p->_head_done)
        return on_trailer_field(p, at, len);
    if (p->_last_cb != CB_FIELD) {
        if (p->limits.fields != 0 && req->nheaders >= p->limits.fields)
            return reject(p, 431, "too many header fields");
        h = push_header(p, off_of(p, at));
    } else {
        h = &req->headers[req->nheaders - 1];
    }
    h->name.len += (uint32_t)len;
    p->_last_cb = CB_FIELD;
    if (p->limits.field_size != 0 && off_of(p, at) + len - h->name.off > p->limits.field_size)
        return reject(p, 431, "header field too large");
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    if (p->_head_done)
        return on_trailer_value(p, at, len);
    cn_http_header_t *h = &p->_req->headers[p->_req->nheaders - 1];
    uint32_t off = off_of(p, at);
    if (p->_last_cb != CB_VALUE) {
        h->value.off = off;
        h->value.len = 0;
    } else if (off != h->value.off + h->value.len) {
        /* llhttp folds "\r\n SP" continuation lines into the value */
        return reject(p, 400, "obsolete line folding");
    }
    h->value.len += (uint32_t)len;
    p->_last_cb = CB_VALUE;
    if (p->limits.field_size != 0 && off + len - h->name.off > p->limits.field_size)
        return reject(p, 431, "header field too large");
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    uint32_t n = p->_head_done ? p->_field_len : p->_req->headers[p->_req->nheaders - 1].name.len;
    if (n == 0)
        return reject(p, 400, "empty header name");
    return 0;
}

/* Trim OWS off the value span and re-check its bytes (llhttp already refuses
 * CTLs in strict mode; this keeps the guarantee local). */
static int on_header_value_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    int last = p->_last_cb;
    p->_last_cb = CB_VALUE_DONE;
    if (p->_head_done)
        return 0;
    cn_http_header_t *h = &p->_req->headers[p->_req->nheaders - 1];
    if (h->name.len == 0)
        return reject(p, 400, "empty header name");
    if (last != CB_VALUE)
        return 0; /* empty value */
    const char *v = p->_base + h->value.off;
    while (h->value.len > 0 && is_ows(v[0])) {
        v++;
        h->value.off++;
        h->value.len--;
    }
    while (h->value.len > 0 && is_ows(v[h->value.len - 1]))
        h->value.len--;
    for (uint32_t i = 0; i < h->value.len; i++)
        if (is_ctl((unsigned char)v[i]))
            return reject(p, 400, "invalid byte in header value");
    return 0;
}

/* Trailers are validated and counted, never stored: their bytes are not in
 * the head buffer. A value span may only continue one that ran to the end of
 * the previous input; anything else is llhttp folding a continuation line. */
static int on_trailer_field(cn_http_parser_t *p, const char *at, size_t len)
{
    if (p->_last_cb != CB_FIELD) {
        if (p->limits.fields != 0 && p->_ntrailers >= p->limits.fields)
            return reject(p, 431, "too many trailer fields");
        p->_ntrailers++;
        p->_field_len = 0;
    }
    p->_last_cb = CB_FIELD;
    p->_field_len += (uint32_t)len;
    if (p->limits.field_size != 0 && p->_field_len > p->limits.field_size)
        return reject(p, 431, "trailer field too large");
    return 0;
}

static int on_trailer_value(cn_http_parser_t *p, const char *at, size_t len)
{
    if (p->_last_cb == CB_VALUE && !(p->_span_at_end && at == p->_base))
        return reject(p, 400, "obsolete line folding");
    p->_last_cb = CB_VALUE;
    p->_span_at_end = at + len == p->_exec_end;
    p->_field_len += (uint32_t)len;
    if (p->limits.field_size != 0 && p->_field_len > p->limits.field_size)
        return reject(p, 431, "trailer field too large");
    return 0;
}

/* ---- end of head: rules llhttp leaves to us ------------------------------- */

static int on_headers_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    if (p->_head_done)
        return 0;
    if (!version_ok(ll))
        return reject(p, 400, "unsupported HTTP version");
    p->_req->version_major = ll->http_major;
    p->_req->version_minor = ll->http_minor;
    if (check_request_line(p) < 0 || check_headers(p) < 0)
        return -1;
    return HPE_PAUSED;
}

static int check_request_line(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    if (req->method.len == 0 || req->target.len == 0)
        return reject(p, 400, "malformed request line");
    return parse_target(p);
}

/* origin-form "/p?q#f", absolute-form "http://h/p", authority-form "h:port"
 * (CONNECT only), asterisk-form "*" (OPTIONS only). */
static int parse_target(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    const char *t = p->_base + req->target.off;
    uint32_t n = req->target.len, end = req->target.off + n;
    if (p->_ll.method == HTTP_CONNECT) {
        if (t[0] == '/' || t[0] == '*' || memchr(t, ':', n) == NULL || memchr(t, '/', n) != NULL ||
            memchr(t, '?', n) != NULL || memchr(t, '#', n) != NULL || memchr(t, '@', n) != NULL)
            return reject(p, 400, "CONNECT needs an authority-form target");
        req->path = req->query = req->fragment = (cn_span_t){end, 0};
        return 0;
    }
    if (t[0] == '*') {
        if (n != 1 || p->_ll.method != HTTP_OPTIONS)
            return reject(p, 400, "asterisk-form target is only for OPTIONS");
        req->path = req->target;
        req->query = req->fragment = (cn_span_t){end, 0};
        return 0;
    }
    if (t[0] == '/') {
        split_path(req, p->_base, req->target.off, end);
        return 0;
    }
    return parse_absolute(p, t, n);
}

static int parse_absolute(cn_http_parser_t *p, const char *t, uint32_t n)
{
    cn_http_request_t *req = p->_req;
    uint32_t s, a;
    if (n > 7 && cn_strcase_eq(t, 7, "http://"))
        s = 7;
    else if (n > 8 && cn_strcase_eq(t, 8, "https://"))
        s = 8;
    else
        return reject(p, 400, "unsupported request target");
    for (a = s; a < n && t[a] != '/' && t[a] != '?' && t[a] != '#'; a++)
        ;
    if (a == s)
        return reject(p, 400, "absolute-form target without a host");
    split_path(req, p->_base, req->target.off + a, req->target.off + n);
    if (req->path.len == 0) /* "http://h?q": the path is "/", the last '/' of "://" */
        req->path = (cn_span_t){req->target.off + s - 1, 1};
    return 0;
}

static void split_path(cn_http_request_t *req, const char *base, uint32_t start, uint32_t end)
{
    uint32_t i = start, q;
    while (i < end && base[i] != '?' && base[i] != '#')
        i++;
    req->path = (cn_span_t){start, i - start};
    req->query = req->fragment = (cn_span_t){end, 0};
    if (i < end && base[i] == '?') {
        q = ++i;
        while (i < end && base[i] != '#')
            i++;
        req->query = (cn_span_t){q, i - q};
    }
    if (i < end && base[i] == '#')
        req->fragment = (cn_span_t){i + 1, end - i - 1};
}

static int check_headers(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    const cn_http_header_t *cl = NULL, *te = NULL;
    bool close = false, ka = false, upg_token = false, upg_header = false;
    int ncl = 0, nte = 0;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        const char *name = p->_base + h->name.off, *val = p->_base + h->value.off;
        if (cn_strcase_eq(name, h->name.len, "content-length")) {
            ncl++;
            cl = h;
        } else if (cn_strcase_eq(name, h->name.len, "transfer-encoding")) {
            nte++;
            te = h;
        } else if (cn_strcase_eq(name, h->name.len, "connection")) {
            scan_connection(val, h->value.len, &close, &ka, &upg_token);
        } else if (cn_strcase_eq(name, h->name.len, "expect")) {
            if (cn_strcase_eq(val, h->value.len, "100-continue"))
                req->expect_continue = true;
        } else if (cn_strcase_eq(name, h->name.len, "upgrade")) {
            upg_header = upg_header || h->value.len > 0;
        }
    }
    if (check_framing(p, ncl, nte, cl, te) < 0)
        return -1;
    req->keep_alive = req->version_minor >= 1 ? !close : (ka && !close);
    req->upgrade = upg_token && upg_header;
    return 0;
}

static int check_framing(cn_http_parser_t *p, int ncl, int nte, const cn_http_header_t *cl,
                         const cn_http_header_t *te)
{
    cn_http_request_t *req = p->_req;
    if (ncl > 1)
        return reject(p, 400, "repeated Content-Length");
    if (ncl > 0 && nte > 0)
        return reject(p, 400, "Content-Length with Transfer-Encoding");
    if (nte > 0) {
        if (req->version_minor == 0)
            return reject(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (nte > 1 || !cn_strcase_eq(p->_base + te->value.off, te->value.len, "chunked"))
            return reject(p, 400, "unsupported Transfer-Encoding");
        req->chunked = true;
    }
    if (ncl > 0) {
        if (cn_parse_uint(p->_base + cl->value.off, cl->value.len, INT64_MAX,
                          &req->content_length) < 0)
            return reject(p, 400, "invalid Content-Length");
        req->has_content_length = true;
    }
    return 0;
}

/* Connection is a comma list of tokens, possibly over several fields. */
static void scan_connection(const char *v, size_t n, bool *close, bool *ka, bool *upg)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (cn_strcase_eq(v + s, e - s, "close"))
            *close = true;
        else if (cn_strcase_eq(v + s, e - s, "keep-alive"))
            *ka = true;
        else if (cn_strcase_eq(v + s, e - s, "upgrade"))
            *upg = true;
    }
}

/* llhttp accepts a bare LF after the request line and as the blank line,
 * and folds continuation lines: require every line to end in CRLF and no
 * line to start with SP/HTAB. */
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return reject(p, 400, "bare LF in request head");
            if (i + 1 < len && is_ows(buf[i + 1]))
                return reject(p, 400, "obsolete line folding");
        } else if (buf[i] == '\r' && (i + 1 >= len || buf[i + 1] != '\n')) {
            return reject(p, 400, "bare CR in request head");
        }
    }
    return 0;
}

/* Backstops for bytes llhttp swallows without a span callback (runs of
 * spaces): the request line, the open header line and the whole head. */
static int check_pending_limits(cn_http_parser_t *p, size_t len)
{
    const cn_http_limits_t *l = &p->limits;
    const cn_http_request_t *req = p->_req;
    if (l->request_line != 0 && p->_last_cb < CB_LINE_DONE && len > (size_t)l->request_line + 2)
        return reject(p, 414, "request line too long");
    if (l->field_size != 0 && (p->_last_cb == CB_FIELD || p->_last_cb == CB_VALUE) &&
        len - req->headers[req->nheaders - 1].name.off > (size_t)l->field_size + 2)
        return reject(p, 431, "header field too large");
    if (l->request_line != 0 && l->fields != 0 && l->field_size != 0 &&
        len > (size_t)l->request_line + 4 + (size_t)l->fields * ((size_t)l->field_size + 2))
        return reject(p, 431, "request head too large");
    return 0;
}

/* ---- body callbacks ------------------------------------------------------- */

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_buf_append(p->_body_out, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    (void)ll;
    return HPE_PAUSED; /* leave pipelined bytes for the next request */
}

static void remember_tail(cn_http_parser_t *p, const char *in, size_t n)
{
    if (n >= 2) {
        p->_tail[0] = in[n - 2];
        p->_tail[1] = in[n - 1];
    } else if (n == 1) {
        p->_tail[0] = p->_tail[1];
        p->_tail[1] = in[0];
    }
}

/* ---- public entry points -------------------------------------------------- */

static enum cn_parse fail_from_llhttp(cn_http_parser_t *p)
{
    const char *why = llhttp_get_error_reason(&p->_ll);
    reject(p, 400, why != NULL ? why : "malformed request");
    return CN_PARSE_ERROR;
}

static enum cn_parse head_result(cn_http_parser_t *p, llhttp_errno_t err, const char *buf)
{
    cn_http_request_t *req = p->_req;
    size_t len = (size_t)(p->_exec_end - buf);
    if (err == HPE_OK) {
        p->_fed = len;
        return check_pending_limits(p, len) < 0 ? CN_PARSE_ERROR : CN_PARSE_AGAIN;
    }
    if (err != HPE_PAUSED || p->status != 0)
        return fail_from_llhttp(p);
    req->head_len = (size_t)(llhttp_get_error_pos(&p->_ll) - buf);
    p->_fed = req->head_len;
    if (check_line_endings(p, buf, req->head_len) < 0)
        return CN_PARSE_ERROR;
    p->_head_done = true;
    p->_body_done = !req->chunked && req->content_length == 0;
    p->_last_cb = CB_NONE;
    return CN_PARSE_DONE;
}

enum cn_parse cn_http_parse_head(cn_http_parser_t *p, cn_http_request_t *req, const char *buf,
                                 size_t len)
{
    if (p->status != 0)
        return CN_PARSE_ERROR;
    if (p->_head_done)
        return CN_PARSE_DONE;
    if (p->_fed == 0)
        cn_http_request_clear(req);
    p->_req = req;
    if (len < p->_fed) {
        reject(p, 400, "request buffer shrank");
        return CN_PARSE_ERROR;
    }
    if (len > UINT32_MAX / 2) {
        reject(p, 431, "request head too large");
        return CN_PARSE_ERROR;
    }
    if (len == p->_fed)
        return CN_PARSE_AGAIN;
    bind_parser(p);
    p->_base = buf;
    p->_exec_end = buf + len;
    llhttp_errno_t err = llhttp_execute(&p->_ll, buf + p->_fed, len - p->_fed);
    return head_result(p, err, buf);
}

enum cn_parse cn_http_parse_body(cn_http_parser_t *p, const char *in, size_t len, size_t *consumed,
                                 cn_buf_t *out)
{
    *consumed = 0;
    if (p->status != 0)
        return CN_PARSE_ERROR;
    if (!p->_head_done) {
        reject(p, 400, "body parsed before the head");
        return CN_PARSE_ERROR;
    }
    if (p->_body_done)
        return CN_PARSE_DONE;
    bind_parser(p);
    p->_body_out = out;
    p->_base = in; /* trailer spans are checked relative to this input */
    p->_exec_end = in + len;
    llhttp_resume(&p->_ll);
    llhttp_errno_t err = llhttp_execute(&p->_ll, in, len);
    if (err == HPE_OK) {
        *consumed = len;
        remember_tail(p, in, len);
        return CN_PARSE_AGAIN;
    }
    if ((err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) || p->status != 0)
        return fail_from_llhttp(p);
    *consumed = (size_t)(llhttp_get_error_pos(&p->_ll) - in);
    remember_tail(p, in, *consumed);
    if ((p->_ll.flags & F_CHUNKED) && (p->_tail[0] != '\r' || p->_tail[1] != '\n')) {
        reject(p, 400, "trailer section not ended by CRLF");
        return CN_PARSE_ERROR;
    }
    p->_body_done = true;
    return CN_PARSE_DONE;
}

bool cn_http_body_done(const cn_http_parser_t *p) { return p->_head_done && p->_body_done; }

const cn_http_header_t *cn_http_request_header(const cn_http_request_t *req, const char *base,
                                               const char *name)
{
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        if (cn_strcase_eq(base + h->name.off, h->name.len, name))
            return h;
    }
    return NULL;
}
