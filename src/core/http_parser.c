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
 * calls). on_headers_complete applies the rules llhttp does not enforce
 * (below) and returns HPE_PAUSED; the pause position is the first byte after
 * the blank line (head_len). llhttp is not resumed after the
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

enum last_cb { CB_NONE, CB_LINE_DONE, CB_FIELD, CB_VALUE, CB_VALUE_DONE };

/* Where feed_stripped() is in the header section. */
enum strip_state { STRIP_VALUE, STRIP_LINE_START, STRIP_NAME };

/* Body decoder states; B_LENGTH and B_DATA copy runs, the rest go byte by
 * byte. A chunked body: SIZE [BWS] [";" EXT] CRLF DATA CRLF ... "0" CRLF
 * then trailer lines (TR_*) and a final CRLF. */
enum body_state {
    B_LENGTH, B_SIZE, B_SIZE_BWS, B_EXT, B_SIZE_LF, B_DATA, B_DATA_CR, B_DATA_LF,
    B_TR_START, B_TR_NAME, B_TR_VALUE, B_TR_LF, B_END_LF, B_DONE
};

/* Gunicorn's default (and 20.1's maximum) field size, also used for 0. */
#define DEFAULT_FIELD_SIZE 8190
/* A chunk-size line (size and extensions) longer than this is refused. */
#define CHUNK_LINE_MAX 4096

static int reject(cn_http_parser_t *p, int status, const char *reason);
static uint32_t off_of(const cn_http_parser_t *p, const char *at);
static bool field_too_big(const cn_http_parser_t *p, size_t n);
static bool is_tchar(unsigned char c);
static bool method_ok(const cn_http_parser_t *p, const char *m, size_t n);
static int scan_line(cn_http_parser_t *p, const char *buf, size_t len, size_t *lf);
static int parse_line(cn_http_parser_t *p, const char *buf, size_t len);
static int accept_line(cn_http_parser_t *p, const char *buf, size_t n);
static bool method_is(const cn_http_parser_t *p, const char *name);
static int on_header_field(llhttp_t *ll, const char *at, size_t len);
static int on_header_value(llhttp_t *ll, const char *at, size_t len);
static int on_header_field_complete(llhttp_t *ll);
static int on_header_value_complete(llhttp_t *ll);
static int on_headers_complete(llhttp_t *ll);
static int check_field_name(cn_http_parser_t *p, cn_http_header_t *h);
static void unfold_value(cn_http_header_t *h, char *buf);
static cn_http_header_t *push_header(cn_http_parser_t *p, uint32_t off);
static int parse_target(cn_http_parser_t *p);
static int parse_absolute(cn_http_parser_t *p, const char *t, uint32_t n);
static void split_path(cn_http_request_t *req, const char *base, uint32_t start, uint32_t end);
static int check_headers(cn_http_parser_t *p);
static void list_item(const char *v, size_t n, size_t *i, size_t *s, size_t *e);
static int scan_te(cn_http_parser_t *p, const char *v, size_t n, bool *chunked, bool *coded);
static int check_framing(cn_http_parser_t *p, int ncl, const cn_http_header_t *cl, int nte,
                         bool chunked, bool coded);
static void scan_connection(const char *v, size_t n, bool *close, bool *ka, bool *upg);
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len);
static int check_pending_limits(cn_http_parser_t *p, const char *buf, size_t len);
static enum cn_parse head_result(cn_http_parser_t *p, llhttp_errno_t err, const char *buf);
static llhttp_errno_t feed(cn_http_parser_t *p, const char *buf, size_t len);
static llhttp_errno_t feed_stripped(cn_http_parser_t *p, const char *buf, size_t len);
static enum cn_parse fail_from_llhttp(cn_http_parser_t *p);
static void bind_parser(cn_http_parser_t *p);
static int body_byte(cn_http_parser_t *p, unsigned char c);
static int size_byte(cn_http_parser_t *p, unsigned char c);
static int trailer_byte(cn_http_parser_t *p, unsigned char c);
static bool trailer_forbidden(const cn_http_parser_t *p);
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

/* Gunicorn counts a field line with its CRLF against limit_request_field_size. */
static bool field_too_big(const cn_http_parser_t *p, size_t n)
{
    return n + 2 > p->limits.field_size;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static bool is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

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
    if (p->limits.field_size == 0) /* Gunicorn 26: 0 means the default */
        p->limits.field_size = DEFAULT_FIELD_SIZE;
    llhttp_settings_init(&p->_settings);
    p->_settings.on_header_field = on_header_field;
    p->_settings.on_header_value = on_header_value;
    p->_settings.on_header_field_complete = on_header_field_complete;
    p->_settings.on_header_value_complete = on_header_value_complete;
    p->_settings.on_headers_complete = on_headers_complete;
    cn_http_parser_reset(p);
}

void cn_http_parser_set_options(cn_http_parser_t *p, const cn_http_options_t *opts)
{
    p->opts = *opts;
}

void cn_http_parser_reset(cn_http_parser_t *p)
{
    llhttp_init(&p->_ll, HTTP_REQUEST, &p->_settings);
    /* TE together with CL is judged by check_framing(), not by llhttp */
    llhttp_set_lenient_chunked_length(&p->_ll, 1);
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
    p->_ntrailers = 0;
    p->_line_done = false;
    p->_scan = 0;
    p->_bstate = B_DONE;
    p->_tname_len = 0;
    p->_chunk_line = 0;
    p->_remaining = 0;
    p->_nfields = 0;
    p->_drop_field = false;
    p->_folded = false;
    p->_strip = STRIP_LINE_START;
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

/* ---- request line ---------------------------------------------------------- */

/* Gunicorn's default method rule (permit_unconventional_http_method off):
 * a token of 3 to 20 bytes without lowercase letters or '#'. Any such token
 * is accepted; the app decides what it means. With the option, any token. */
static bool method_ok(const cn_http_parser_t *p, const char *m, size_t n)
{
    bool any = p->opts.permit_unconventional_method;
    if (n == 0 || (!any && (n < 3 || n > 20)))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (!is_tchar(c) || (!any && ((c >= 'a' && c <= 'z') || c == '#')))
            return false;
    }
    return true;
}

/* With casefold_http_method the method is upper-cased before anything
 * looks at it (Gunicorn), so "connect" is CONNECT. */
static bool method_is(const cn_http_parser_t *p, const char *name)
{
    size_t n = strlen(name);
    const char *m = p->_base + p->_req->method.off;
    if (p->_req->method.len != n)
        return false;
    return p->opts.casefold_method ? cn_strcase_eq(m, n, name) : memcmp(m, name, n) == 0;
}

/* Scans the bytes not seen yet for the LF ending the request line. CTLs
 * (HTAB included) and a CR not followed by LF are refused as they arrive,
 * so garbage fails early. Returns 1 with *lf set, 0 for more, -1 on error. */
static int scan_line(cn_http_parser_t *p, const char *buf, size_t len, size_t *lf)
{
    size_t i;
    for (i = p->_scan; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return reject(p, 400, "bare LF in request line");
            *lf = i;
            return 1;
        }
        /* Checked from the byte after the CR, which may come in a later read. */
        if (i > 0 && buf[i - 1] == '\r')
            return reject(p, 400, "bare CR in request line");
        if (c != '\r' && (c < 0x20 || c == 0x7f))
            return reject(p, 400, "control character in request line");
    }
    p->_scan = (uint32_t)len;
    size_t n = len - (buf[len - 1] == '\r');
    if (p->limits.request_line != 0 && n > p->limits.request_line)
        return reject(p, 414, "request line too long");
    return 0;
}

/* method SP request-target SP HTTP-version, single spaces (RFC 9112 3).
 * The target may hold obs-text: PEP 3333 passes it on as latin-1. */
static int accept_line(cn_http_parser_t *p, const char *buf, size_t n)
{
    cn_http_request_t *req = p->_req;
    const char *sp1, *sp2, *v;
    if (n == 0)
        return reject(p, 400, "bytes before the request line");
    if (p->limits.request_line != 0 && n > p->limits.request_line)
        return reject(p, 414, "request line too long");
    sp1 = memchr(buf, ' ', n);
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - buf)) : NULL;
    if (sp2 == NULL || sp2 == sp1 + 1)
        return reject(p, 400, "malformed request line");
    if (!method_ok(p, buf, (size_t)(sp1 - buf)))
        return reject(p, 400, "invalid method");
    v = sp2 + 1;
    if ((size_t)(buf + n - v) != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return reject(p, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return reject(p, 400, "unsupported HTTP version");
    req->method = (cn_span_t){0, (uint32_t)(sp1 - buf)};
    req->target = (cn_span_t){(uint32_t)(sp1 + 1 - buf), (uint32_t)(sp2 - sp1 - 1)};
    req->version_major = 1;
    req->version_minor = (uint8_t)(v[7] - '0');
    p->_line_len = (uint32_t)n;
    return 0;
}

/* Parses the request line once its LF is in, then feeds llhttp a canonical
 * line so that it starts on the header section. 1 = done, 0 = more, -1. */
static int parse_line(cn_http_parser_t *p, const char *buf, size_t len)
{
    static const char canon[2][17] = {"GET / HTTP/1.0\r\n", "GET / HTTP/1.1\r\n"};
    size_t lf = 0;
    int rc = scan_line(p, buf, len, &lf);
    if (rc <= 0)
        return rc;
    if (accept_line(p, buf, lf - 1) < 0)
        return -1;
    if (llhttp_execute(&p->_ll, canon[p->_req->version_minor], 16) != HPE_OK)
        return reject(p, 400, "request line refused by llhttp");
    p->_line_done = true;
    p->_last_cb = CB_LINE_DONE;
    p->_fed = lf + 1;
    return 1;
}

/* ---- header callbacks ------------------------------------------------------ */

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
    if (p->_last_cb != CB_FIELD) {
        /* dropped fields count too (Gunicorn) */
        if (p->limits.fields != 0 && p->_nfields >= p->limits.fields)
            return reject(p, 431, "too many header fields");
        p->_nfields++;
        h = push_header(p, off_of(p, at));
    } else {
        h = &req->headers[req->nheaders - 1];
    }
    h->name.len += (uint32_t)len;
    p->_last_cb = CB_FIELD;
    if (field_too_big(p, off_of(p, at) + len - h->name.off))
        return reject(p, 431, "header field too large");
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    cn_http_parser_t *p = ll->data;
    cn_http_header_t *h = &p->_req->headers[p->_req->nheaders - 1];
    uint32_t off = off_of(p, at);
    if (p->_last_cb != CB_VALUE) {
        h->value.off = off;
        h->value.len = 0;
    } else if (off != h->value.off + h->value.len) {
        /* llhttp folds "\r\n SP" continuation lines into the value: the
         * span grows over the line break, cn_http_request_rewrite() joins */
        if (!p->opts.permit_obsolete_folding)
            return reject(p, 400, "obsolete line folding");
        h->value.len = off - h->value.off;
        p->_folded = true;
    }
    h->value.len += (uint32_t)len;
    p->_last_cb = CB_VALUE;
    if (field_too_big(p, off + len - h->name.off))
        return reject(p, 431, "header field too large");
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    return check_field_name(p, &p->_req->headers[p->_req->nheaders - 1]);
}

/* header_map decides about '_' (Gunicorn: after the token check, which
 * llhttp has done). */
static int check_field_name(cn_http_parser_t *p, cn_http_header_t *h)
{
    const char *name = p->_base + h->name.off;
    if (h->name.len == 0)
        return reject(p, 400, "empty header name");
    p->_drop_field = false;
    if (memchr(name, '_', h->name.len) == NULL)
        return 0;
    switch ((enum cn_http_header_map)p->opts.header_map) {
    case CN_HTTP_HEADER_MAP_REFUSE:
        return reject(p, 400, "'_' in a header name (header_map = refuse)");
    case CN_HTTP_HEADER_MAP_DROP:
        p->_drop_field = true;
        return 0;
    case CN_HTTP_HEADER_MAP_DANGEROUS:
        return 0;
    }
    return reject(p, 400, "unknown header_map");
}

/* Trim OWS off the value span and re-check its bytes (llhttp already refuses
 * CTLs in strict mode; this keeps the guarantee local). */
static int on_header_value_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    int last = p->_last_cb;
    p->_last_cb = CB_VALUE_DONE;
    cn_http_header_t *h = &p->_req->headers[p->_req->nheaders - 1];
    if (h->name.len == 0)
        return reject(p, 400, "empty header name");
    const char *v = p->_base + h->value.off;
    if (last == CB_VALUE) { /* else empty */
        while (h->value.len > 0 && is_ows(v[0])) {
            v++;
            h->value.off++;
            h->value.len--;
        }
        while (h->value.len > 0 && is_ows(v[h->value.len - 1]))
            h->value.len--;
    }
    for (uint32_t i = 0; i < h->value.len; i++) {
        unsigned char c = (unsigned char)v[i];
        /* CRLFs inside a value are folds (check_line_endings pairs them) */
        if (is_ctl(c) && !(p->opts.permit_obsolete_folding && (c == '\r' || c == '\n')))
            return reject(p, 400, "invalid byte in header value");
    }
    if (p->_drop_field) { /* header_map = drop: checked, counted, left out */
        p->_req->nheaders--;
        p->_drop_field = false;
    }
    return 0;
}

/* ---- end of head: rules llhttp leaves to us ------------------------------- */

static int on_headers_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    if (parse_target(p) < 0 || check_headers(p) < 0)
        return -1;
    return HPE_PAUSED;
}

/* origin-form "/p?q#f", absolute-form "http://h/p", authority-form "h:port"
 * (CONNECT only), asterisk-form "*" (OPTIONS only). */
static int parse_target(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    const char *t = p->_base + req->target.off;
    uint32_t n = req->target.len, end = req->target.off + n;
    if (method_is(p, "CONNECT")) {
        if (t[0] == '/' || t[0] == '*' || memchr(t, ':', n) == NULL || memchr(t, '/', n) != NULL ||
            memchr(t, '?', n) != NULL || memchr(t, '#', n) != NULL || memchr(t, '@', n) != NULL)
            return reject(p, 400, "CONNECT needs an authority-form target");
        req->path = req->query = req->fragment = (cn_span_t){end, 0};
        return 0;
    }
    if (t[0] == '*') {
        if (n != 1 || !method_is(p, "OPTIONS"))
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

/* One pass over the fields: framing, singletons, connection options. Host
 * and Content-Type are single-valued; a second line is ambiguous (which one
 * a proxy routed or parsed on is unknown), so both are refused (RFC 9112
 * 3.2 makes it a MUST for Host). */
static int check_headers(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    const cn_http_header_t *cl = NULL;
    bool close = false, ka = false, upg_token = false, upg_header = false, chunked = false,
         coded = false;
    int ncl = 0, nte = 0, nhost = 0, nctype = 0;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        const char *name = p->_base + h->name.off, *val = p->_base + h->value.off;
        if (cn_strcase_eq(name, h->name.len, "content-length")) {
            ncl++;
            cl = h;
        } else if (cn_strcase_eq(name, h->name.len, "transfer-encoding")) {
            nte++;
            if (scan_te(p, val, h->value.len, &chunked, &coded) < 0)
                return -1;
        } else if (cn_strcase_eq(name, h->name.len, "host")) {
            nhost++;
        } else if (cn_strcase_eq(name, h->name.len, "content-type")) {
            nctype++;
        } else if (cn_strcase_eq(name, h->name.len, "connection")) {
            scan_connection(val, h->value.len, &close, &ka, &upg_token);
        } else if (cn_strcase_eq(name, h->name.len, "expect")) {
            if (cn_strcase_eq(val, h->value.len, "100-continue"))
                req->expect_continue = true;
        } else if (cn_strcase_eq(name, h->name.len, "upgrade")) {
            upg_header = upg_header || h->value.len > 0;
        }
    }
    if (nhost > 1)
        return reject(p, 400, "repeated Host");
    if (nctype > 1)
        return reject(p, 400, "repeated Content-Type");
    if (check_framing(p, ncl, cl, nte, chunked, coded) < 0)
        return -1;
    req->keep_alive = req->version_minor >= 1 ? !close : (ka && !close);
    /* Gunicorn 26 closes after a request whose body still carries a coding */
    if (coded)
        req->keep_alive = false;
    req->upgrade = upg_token && upg_header;
    return 0;
}

/* The element of a comma-separated list that starts at *i, OWS trimmed:
 * [*s, *e). *i is left on the comma after it (or at n). */
static void list_item(const char *v, size_t n, size_t *i, size_t *s, size_t *e)
{
    while (*i < n && is_ows(v[*i]))
        (*i)++;
    *s = *i;
    while (*i < n && v[*i] != ',')
        (*i)++;
    *e = *i;
    while (*e > *s && is_ows(v[*e - 1]))
        (*e)--;
}

/* Transfer-Encoding is a list of codings in the order they were applied,
 * possibly over several fields (RFC 9112 6.1). chunked must come last and
 * only once; identity is a no-op; gzip/deflate/compress are left in the
 * body for the app (the header is in its environ); others get 501. */
static int scan_te(cn_http_parser_t *p, const char *v, size_t n, bool *chunked, bool *coded)
{
    size_t i = 0;
    do {
        size_t s, e;
        list_item(v, n, &i, &s, &e);
        if (*chunked)
            return reject(p, 400, "chunked is not the final transfer coding");
        if (e == s)
            return reject(p, 400, "empty transfer coding");
        if (cn_strcase_eq(v + s, e - s, "chunked"))
            *chunked = true;
        else if (cn_strcase_eq(v + s, e - s, "gzip") || cn_strcase_eq(v + s, e - s, "x-gzip") ||
                 cn_strcase_eq(v + s, e - s, "deflate") ||
                 cn_strcase_eq(v + s, e - s, "compress") ||
                 cn_strcase_eq(v + s, e - s, "x-compress"))
            *coded = true;
        else if (!cn_strcase_eq(v + s, e - s, "identity"))
            return reject(p, 501, "unsupported transfer coding");
    } while (i++ < n);
    return 0;
}

static int check_framing(cn_http_parser_t *p, int ncl, const cn_http_header_t *cl, int nte,
                         bool chunked, bool coded)
{
    cn_http_request_t *req = p->_req;
    if (ncl > 1)
        return reject(p, 400, "repeated Content-Length");
    if (nte > 0 && req->version_minor == 0)
        return reject(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (coded && !chunked) /* RFC 9112 6.3: the length cannot be known */
        return reject(p, 400, "Transfer-Encoding without chunked");
    if (ncl > 0 && chunked)
        return reject(p, 400, "Content-Length with Transfer-Encoding");
    req->chunked = chunked;
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
    for (size_t i = 0; i < n; i++) {
        size_t s, e;
        list_item(v, n, &i, &s, &e); /* empty items match nothing below */
        if (cn_strcase_eq(v + s, e - s, "close"))
            *close = true;
        else if (cn_strcase_eq(v + s, e - s, "keep-alive"))
            *ka = true;
        else if (cn_strcase_eq(v + s, e - s, "upgrade"))
            *upg = true;
    }
}

/* llhttp accepts a bare LF after a field line and as the blank line, and
 * folds continuation lines: require every line to end in CRLF and no line
 * to start with SP/HTAB. */
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return reject(p, 400, "bare LF in request head");
            /* a fold may continue a field line, never the request line */
            if (i + 1 < len && is_ows(buf[i + 1]) &&
                (!p->opts.permit_obsolete_folding || i == (size_t)p->_line_len + 1))
                return reject(p, 400, "obsolete line folding");
        } else if (buf[i] == '\r' && (i + 1 >= len || buf[i + 1] != '\n')) {
            return reject(p, 400, "bare CR in request head");
        }
    }
    return 0;
}

/* Backstops for bytes llhttp swallows without a span callback (runs of
 * spaces): the open header line and the whole head. */
static int check_pending_limits(cn_http_parser_t *p, const char *buf, size_t len)
{
    const cn_http_limits_t *l = &p->limits;
    const cn_http_request_t *req = p->_req;
    if (p->_last_cb == CB_FIELD || p->_last_cb == CB_VALUE) {
        /* llhttp reports the end of a line only when it sees the next
         * byte (it might be an obs-fold): do not count a CR or CRLF */
        size_t open = len - req->headers[req->nheaders - 1].name.off;
        if (buf[len - 1] == '\n')
            open -= buf[len - 2] == '\r' ? 2 : 1;
        else if (buf[len - 1] == '\r')
            open -= 1;
        if (field_too_big(p, open))
            return reject(p, 431, "header field too large");
    }
    if (l->request_line != 0 && l->fields != 0 &&
        len > (size_t)l->request_line + 4 + (size_t)l->fields * ((size_t)l->field_size + 2))
        return reject(p, 431, "request head too large");
    return 0;
}

/* ---- body decoder ---------------------------------------------------------- */

/* RFC 9110 6.5.1: fields that frame, route or control the message cannot be
 * trailers. A receiver that merged them into the header section would
 * reframe or reroute it, so they are refused rather than dropped. */
static bool trailer_forbidden(const cn_http_parser_t *p)
{
    static const char *const names[] = {
        "content-length", "transfer-encoding", "host", "trailer", "te", "connection",
        "keep-alive", "upgrade", "expect", "content-encoding", "content-range",
        "authorization", "proxy-authorization",
    };
    if (p->_tname_len > sizeof(p->_tname))
        return false;
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (cn_strcase_eq(p->_tname, p->_tname_len, names[i]))
            return true;
    return false;
}

/* chunk-size [BWS ";" chunk-ext] CRLF, then the data's CRLF. Extensions
 * are skipped: any byte but CTLs up to the CR (RFC 9112 7.1.1 says
 * unrecognised extensions MUST be ignored). */
static int size_byte(cn_http_parser_t *p, unsigned char c)
{
    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
    const char *h = c != 0 ? strchr(hex, c) : NULL;
    if (++p->_chunk_line > CHUNK_LINE_MAX)
        return reject(p, 400, "chunk size line too long");
    switch ((enum body_state)p->_bstate) {
    case B_SIZE:
        if (h != NULL) {
            if (p->_remaining > (uint64_t)INT64_MAX >> 4)
                return reject(p, 400, "chunk size too large");
            p->_remaining = (p->_remaining << 4) | (uint64_t)((h - hex) & 15);
            return 0;
        }
        if (p->_chunk_line == 1)
            return reject(p, 400, "invalid chunk size");
        p->_bstate = c == ';' ? B_EXT : c == '\r' ? B_SIZE_LF : B_SIZE_BWS;
        if (p->_bstate == B_SIZE_BWS && !is_ows((char)c))
            return reject(p, 400, "invalid chunk size");
        return 0;
    case B_SIZE_BWS:
        if (c == ';')
            p->_bstate = B_EXT;
        else if (!is_ows((char)c))
            return reject(p, 400, "invalid chunk size");
        return 0;
    case B_EXT:
        if (c == '\r')
            p->_bstate = B_SIZE_LF;
        else if (is_ctl(c))
            return reject(p, 400, "invalid byte in chunk extension");
        return 0;
    default: /* B_SIZE_LF */
        if (c != '\n')
            return reject(p, 400, "bare CR in chunk size line");
        p->_body_total += p->_remaining; /* sizes are < 2^60; only read with a limit */
        if (p->limits.body != 0 && p->_body_total > p->limits.body)
            return reject(p, 413, "chunked request body larger than limit_request_body");
        p->_bstate = p->_remaining == 0 ? B_TR_START : B_DATA;
        return 0;
    }
}

/* trailer-section = *( field-line CRLF ) CRLF, with the header limits. */
static int trailer_byte(cn_http_parser_t *p, unsigned char c)
{
    switch ((enum body_state)p->_bstate) {
    case B_TR_START:
        if (c == '\r') {
            p->_bstate = B_END_LF;
            return 0;
        }
        if (is_ows((char)c))
            return reject(p, 400, "obsolete line folding in trailers");
        if (!is_tchar(c))
            return reject(p, 400, "invalid trailer field name");
        if (p->limits.fields != 0 && p->_ntrailers >= p->limits.fields)
            return reject(p, 431, "too many trailer fields");
        p->_ntrailers++;
        p->_field_len = 0;
        p->_tname_len = 0;
        p->_bstate = B_TR_NAME;
        break;
    case B_TR_NAME:
        if (c == ':') {
            if (trailer_forbidden(p))
                return reject(p, 400, "forbidden trailer field");
            p->_bstate = B_TR_VALUE;
        } else if (!is_tchar(c)) {
            return reject(p, 400, "invalid trailer field name");
        }
        break;
    case B_TR_VALUE:
        if (c == '\r') {
            p->_bstate = B_TR_LF;
            return 0;
        }
        if (is_ctl(c))
            return reject(p, 400, "invalid byte in trailer value");
        break;
    case B_TR_LF:
        if (c != '\n')
            return reject(p, 400, "bare CR in trailers");
        p->_bstate = B_TR_START;
        return 0;
    default: /* B_END_LF */
        if (c != '\n')
            return reject(p, 400, "trailer section not ended by CRLF");
        p->_bstate = B_DONE;
        return 0;
    }
    if (p->_bstate == B_TR_NAME) {
        if (p->_tname_len < sizeof(p->_tname))
            p->_tname[p->_tname_len] = (char)c;
        if (p->_tname_len < 255)
            p->_tname_len++;
    }
    if (field_too_big(p, ++p->_field_len))
        return reject(p, 431, "trailer field too large");
    return 0;
}

static int body_byte(cn_http_parser_t *p, unsigned char c)
{
    switch ((enum body_state)p->_bstate) {
    case B_SIZE:
    case B_SIZE_BWS:
    case B_EXT:
    case B_SIZE_LF:
        return size_byte(p, c);
    case B_DATA_CR:
        if (c != '\r')
            return reject(p, 400, "chunk data not followed by CRLF");
        p->_bstate = B_DATA_LF;
        return 0;
    case B_DATA_LF:
        if (c != '\n')
            return reject(p, 400, "chunk data not followed by CRLF");
        p->_bstate = B_SIZE;
        p->_chunk_line = 0;
        return 0;
    case B_TR_START:
    case B_TR_NAME:
    case B_TR_VALUE:
    case B_TR_LF:
    case B_END_LF:
        return trailer_byte(p, c);
    case B_LENGTH:
    case B_DATA:
    case B_DONE:
        break;
    }
    return reject(p, 400, "body decoder out of step");
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
    if (err == HPE_OK)
        return check_pending_limits(p, buf, len) < 0 ? CN_PARSE_ERROR : CN_PARSE_AGAIN;
    if (err != HPE_PAUSED || p->status != 0)
        return fail_from_llhttp(p);
    req->head_len = (size_t)(llhttp_get_error_pos(&p->_ll) - buf);
    p->_fed = req->head_len;
    if (check_line_endings(p, buf, req->head_len) < 0)
        return CN_PARSE_ERROR;
    if (p->limits.body != 0 && req->content_length > p->limits.body) {
        reject(p, 413, "Content-Length larger than limit_request_body");
        return CN_PARSE_ERROR;
    }
    p->_head_done = true;
    p->_body_total = 0;
    p->_remaining = req->content_length;
    p->_bstate = req->chunked ? B_SIZE : req->content_length > 0 ? B_LENGTH : B_DONE;
    p->_chunk_line = 0;
    p->_body_done = p->_bstate == B_DONE;
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
    if (p->_fed == 0 && p->_scan == 0)
        cn_http_request_clear(req);
    p->_req = req;
    if (len < p->_fed || len < p->_scan) {
        reject(p, 400, "request buffer shrank");
        return CN_PARSE_ERROR;
    }
    if (len > UINT32_MAX / 2) {
        reject(p, 431, "request head too large");
        return CN_PARSE_ERROR;
    }
    if (len == 0)
        return CN_PARSE_AGAIN;
    bind_parser(p);
    p->_base = buf;
    p->_exec_end = buf + len;
    if (!p->_line_done) {
        int rc = parse_line(p, buf, len);
        if (rc <= 0)
            return rc < 0 ? CN_PARSE_ERROR : CN_PARSE_AGAIN;
    }
    if (len == p->_fed)
        return CN_PARSE_AGAIN;
    llhttp_errno_t err = p->opts.strip_header_spaces ? feed_stripped(p, buf, len)
                                                     : feed(p, buf, len);
    return head_result(p, err, buf);
}

/* Everything not fed yet goes to llhttp. */
static llhttp_errno_t feed(cn_http_parser_t *p, const char *buf, size_t len)
{
    llhttp_errno_t err = llhttp_execute(&p->_ll, buf + p->_fed, len - p->_fed);
    if (err == HPE_OK)
        p->_fed = len;
    return err;
}

/* strip_header_spaces: llhttp refuses "Name :" (even lenient, it passes it
 * for a few names only), so the run of SP/HTAB before a field's ':' is
 * never fed to it: it is skipped, or held back at the end of a read until
 * the next bytes tell whether a ':' follows. llhttp still gets pointers
 * into buf, so spans stay offsets into it (the name span ends before the
 * run). A line starting with SP/HTAB is a fold and is fed as it is. */
static llhttp_errno_t feed_stripped(cn_http_parser_t *p, const char *buf, size_t len)
{
    size_t i = p->_fed;
    llhttp_errno_t err = HPE_OK;
    while (i < len && err == HPE_OK) {
        size_t j = i, k;
        if (p->_strip == STRIP_LINE_START)
            p->_strip = is_ows(buf[i]) ? STRIP_VALUE : STRIP_NAME;
        if (p->_strip == STRIP_NAME) {
            while (j < len && buf[j] != ':' && buf[j] != '\r' && buf[j] != '\n')
                j++;
            for (k = j; k > i && is_ows(buf[k - 1]); k--)
                ;
            if (k > i)
                err = llhttp_execute(&p->_ll, buf + i, k - i);
            if (j == len) { /* hold the run back */
                i = k;
                break;
            }
            p->_strip = STRIP_VALUE;
            i = j; /* the run is skipped */
            continue;
        }
        const char *lf = memchr(buf + i, '\n', len - i);
        j = lf != NULL ? (size_t)(lf - buf) + 1 : len;
        err = llhttp_execute(&p->_ll, buf + i, j - i);
        if (lf != NULL)
            p->_strip = STRIP_LINE_START;
        i = j;
    }
    if (err == HPE_OK)
        p->_fed = i;
    return err;
}

/* Copies Content-Length and chunk data in runs; everything else goes through
 * body_byte(). All input is consumed unless the body ends inside it. */
enum cn_parse cn_http_parse_body(cn_http_parser_t *p, const char *in, size_t len, size_t *consumed,
                                 cn_buf_t *out)
{
    size_t i = 0;
    *consumed = 0;
    if (p->status != 0)
        return CN_PARSE_ERROR;
    if (!p->_head_done) {
        reject(p, 400, "body parsed before the head");
        return CN_PARSE_ERROR;
    }
    if (p->_body_done)
        return CN_PARSE_DONE;
    while (i < len && p->_bstate != B_DONE) {
        if (p->_bstate == B_LENGTH || p->_bstate == B_DATA) {
            size_t n = len - i < p->_remaining ? len - i : (size_t)p->_remaining;
            cn_buf_append(out, in + i, n);
            i += n;
            p->_remaining -= n;
            if (p->_remaining == 0)
                p->_bstate = p->_bstate == B_LENGTH ? B_DONE : B_DATA_CR;
        } else if (body_byte(p, (unsigned char)in[i++]) < 0) {
            return CN_PARSE_ERROR;
        }
    }
    *consumed = i;
    if (p->_bstate != B_DONE)
        return CN_PARSE_AGAIN;
    p->_body_done = true;
    return CN_PARSE_DONE;
}

int cn_http_header_map_parse(const char *s)
{
    static const char *const names[] = {"drop", "refuse", "dangerous"}; /* enum order */
    size_t n;
    while (is_ows(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_ows(s[n - 1]))
        n--;
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (cn_strcase_eq(s, n, names[i]))
            return (int)i;
    return -1;
}

void cn_http_request_rewrite(const cn_http_parser_t *p, cn_http_request_t *req, char *buf)
{
    if (p->opts.casefold_method)
        for (uint32_t i = 0; i < req->method.len; i++) {
            char *c = &buf[req->method.off + i];
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        }
    if (p->_folded)
        for (uint32_t i = 0; i < req->nheaders; i++)
            if (memchr(buf + req->headers[i].value.off, '\r', req->headers[i].value.len) != NULL)
                unfold_value(&req->headers[i], buf);
}

/* Gunicorn's join: every line of the value stripped of SP/HTAB, then the
 * lines joined with one SP. Each "CRLF OWS" (>= 3 bytes) becomes one byte,
 * so the result is written over the value itself. */
static void unfold_value(cn_http_header_t *h, char *buf)
{
    char *v = buf + h->value.off;
    uint32_t n = h->value.len, r = 0, o = 0;
    for (;;) {
        uint32_t s = r, e;
        while (r < n && v[r] != '\r')
            r++;
        e = r;
        while (s < e && is_ows(v[s]))
            s++;
        while (e > s && is_ows(v[e - 1]))
            e--;
        memmove(v + o, v + s, e - s);
        o += e - s;
        if (r >= n)
            break;
        v[o++] = ' ';
        r += 2; /* CRLF */
    }
    h->value.len = o;
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
