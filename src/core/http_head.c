/* http_head.c - a request head: llhttp (strict mode) over the field
 * lines, and the rules and limits of the head as a whole.
 *
 * Owns: the parser's lifetime, the incremental head entry point
 * (cn_http_parse_head), driving llhttp over the field lines (RFC 9112 5)
 * and turning its callbacks into cn_http_request_t spans, the limits on
 * field count and size (431), CRLF line endings (2.2: no bare LF or CR), no
 * whitespace before a field's ':' (5.1; strip_header_spaces drops it
 * instead), obs-fold (5.2: refused, or joined with permit_obsolete_folding),
 * field values (5.5: OWS trimmed, no CTLs), and the rewrites options ask
 * for (cn_http_request_rewrite).
 * Must not: do I/O, include Python.h, keep pointers into the caller's buffer
 * across calls, or grow anything before the matching limit has been checked.
 *
 * Overview. The request line is parsed first (http_request_line.c). Once it
 * is complete and valid, llhttp is fed a canonical "GET / HTTP/1.x" line in
 * its place and then the original field bytes, so header spans still point
 * into the caller's buffer. Only the bytes after p->_fed are fed, so every
 * span callback arrives once; spans are offsets from the start of the
 * request (the buffer may move between calls). on_headers_complete runs the
 * target and field checks (http_request_line.c, http_fields.c, which hands
 * framing to http_body.c) and returns HPE_PAUSED; the pause position is the
 * first byte after the blank line (head_len). llhttp is not resumed after
 * the head: bodies are decoded by http_body.c.
 *
 * Split of work (llhttp probed as node-llhttp 8.1, LLHTTP_STRICT_MODE=1,
 * with lenient chunked-length so that our framing rules decide TE + CL):
 *   llhttp rejects: space before ':', CTL/NUL/DEL or bare LF in field names
 *     and values, bare CR after a value, malformed Content-Length.
 *   we reject: everything about the request line, bare LF after any
 *     line, obs-fold, empty field names, repeated Host/Content-Type/
 *     Content-Length, CL with chunked, Transfer-Encoding lists we cannot
 *     frame, TE on HTTP/1.0, asterisk-form except with OPTIONS, authority-
 *     form except with CONNECT, schemes other than http(s), bad chunk
 *     sizes and line ends, forbidden trailer fields, and all limits.
 * docs/http-conformance.md lists every rule with its status and source;
 * docs/design.md says why llhttp stays. */
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

enum last_cb { CB_NONE, CB_LINE_DONE, CB_FIELD, CB_VALUE, CB_VALUE_DONE };

/* Where feed_stripped() is in the header section. */
enum strip_state { STRIP_VALUE, STRIP_LINE_START, STRIP_NAME };

/* Gunicorn's default (and 20.1's maximum) field size, also used for 0. */
#define DEFAULT_FIELD_SIZE 8190

static uint32_t off_of(const cn_http_parser_t *p, const char *at);
static void bind_parser(cn_http_parser_t *p);
static int parse_line(cn_http_parser_t *p, const char *buf, size_t len);
static cn_http_header_t *push_header(cn_http_parser_t *p, uint32_t off);
static int on_header_field(llhttp_t *ll, const char *at, size_t len);
static int on_header_value(llhttp_t *ll, const char *at, size_t len);
static int on_header_field_complete(llhttp_t *ll);
static int on_header_value_complete(llhttp_t *ll);
static int on_headers_complete(llhttp_t *ll);
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len);
static int check_pending_limits(cn_http_parser_t *p, const char *buf, size_t len);
static enum cn_parse head_result(cn_http_parser_t *p, llhttp_errno_t err, const char *buf);
static llhttp_errno_t feed(cn_http_parser_t *p, const char *buf, size_t len);
static llhttp_errno_t feed_stripped(cn_http_parser_t *p, const char *buf, size_t len);
static enum cn_parse fail_from_llhttp(cn_http_parser_t *p);
static void unfold_value(cn_http_header_t *h, char *buf);

static uint32_t off_of(const cn_http_parser_t *p, const char *at)
{
    return (uint32_t)(at - p->_base);
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
    /* TE together with CL is judged by http_check_framing(), not by llhttp */
    llhttp_set_lenient_chunked_length(&p->_ll, 1);
    bind_parser(p);
    p->_req = NULL;
    p->_base = NULL;
    p->_fed = 0;
    p->_line_len = 0;
    p->_last_cb = CB_NONE;
    p->_head_done = false; /* the body decoder's state is set by http_body_start */
    p->_exec_end = NULL;
    p->_line_done = false;
    p->_scan = 0;
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

/* ---- request line: handed to http_request_line.c ------------------------- */

/* Parses the request line once its LF is in, then feeds llhttp a canonical
 * line so that it starts on the header section. 1 = done, 0 = more, -1. */
static int parse_line(cn_http_parser_t *p, const char *buf, size_t len)
{
    static const char canon[2][17] = {"GET / HTTP/1.0\r\n", "GET / HTTP/1.1\r\n"};
    size_t lf = 0;
    int rc = http_request_line_parse(p, buf, len, &lf);
    if (rc <= 0)
        return rc;
    if (llhttp_execute(&p->_ll, canon[p->_req->version_minor], 16) != HPE_OK)
        return http_reject(p, 400, "request line refused by llhttp");
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
            return http_reject(p, 431, "too many header fields");
        p->_nfields++;
        h = push_header(p, off_of(p, at));
    } else {
        h = &req->headers[req->nheaders - 1];
    }
    h->name.len += (uint32_t)len;
    p->_last_cb = CB_FIELD;
    if (http_field_too_big(p, off_of(p, at) + len - h->name.off))
        return http_reject(p, 431, "header field too large");
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
            return http_reject(p, 400, "obsolete line folding");
        h->value.len = off - h->value.off;
        p->_folded = true;
    }
    h->value.len += (uint32_t)len;
    p->_last_cb = CB_VALUE;
    if (http_field_too_big(p, off + len - h->name.off))
        return http_reject(p, 431, "header field too large");
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    return http_check_field_name(p, &p->_req->headers[p->_req->nheaders - 1]);
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
        return http_reject(p, 400, "empty header name");
    const char *v = p->_base + h->value.off;
    if (last == CB_VALUE) { /* else empty */
        size_t n = h->value.len;
        cn_http_trim_ows(&v, &n);
        h->value = (cn_span_t){off_of(p, v), (uint32_t)n};
    }
    for (uint32_t i = 0; i < h->value.len; i++) {
        unsigned char c = (unsigned char)v[i];
        /* CRLFs inside a value are folds (check_line_endings pairs them) */
        if (cn_http_is_ctl(c) && !(p->opts.permit_obsolete_folding && (c == '\r' || c == '\n')))
            return http_reject(p, 400, "invalid byte in header value");
    }
    if (p->_drop_field) { /* header_map = drop: checked, counted, left out */
        p->_req->nheaders--;
        p->_drop_field = false;
    }
    return 0;
}

/* ---- end of head ------------------------------------------------------------ */

static int on_headers_complete(llhttp_t *ll)
{
    cn_http_parser_t *p = ll->data;
    if (http_parse_target(p) < 0 || http_check_headers(p) < 0)
        return -1;
    return HPE_PAUSED;
}

/* llhttp accepts a bare LF after a field line and as the blank line, and
 * folds continuation lines: require every line to end in CRLF and no line
 * to start with SP/HTAB. */
static int check_line_endings(cn_http_parser_t *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return http_reject(p, 400, "bare LF in request head");
            /* a fold may continue a field line, never the request line */
            if (i + 1 < len && cn_http_is_ows(buf[i + 1]) &&
                (!p->opts.permit_obsolete_folding || i == (size_t)p->_line_len + 1))
                return http_reject(p, 400, "obsolete line folding");
        } else if (buf[i] == '\r' && (i + 1 >= len || buf[i + 1] != '\n')) {
            return http_reject(p, 400, "bare CR in request head");
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
        if (http_field_too_big(p, open))
            return http_reject(p, 431, "header field too large");
    }
    if (l->request_line != 0 && l->fields != 0 &&
        len > (size_t)l->request_line + 4 + (size_t)l->fields * ((size_t)l->field_size + 2))
        return http_reject(p, 431, "request head too large");
    return 0;
}

/* ---- public entry points -------------------------------------------------- */

static enum cn_parse fail_from_llhttp(cn_http_parser_t *p)
{
    const char *why = llhttp_get_error_reason(&p->_ll);
    http_reject(p, 400, why != NULL ? why : "malformed request");
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
    if (http_body_start(p) < 0)
        return CN_PARSE_ERROR;
    p->_head_done = true;
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
        http_reject(p, 400, "request buffer shrank");
        return CN_PARSE_ERROR;
    }
    if (len > UINT32_MAX / 2) {
        http_reject(p, 431, "request head too large");
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
            p->_strip = cn_http_is_ows(buf[i]) ? STRIP_VALUE : STRIP_NAME;
        if (p->_strip == STRIP_NAME) {
            while (j < len && buf[j] != ':' && buf[j] != '\r' && buf[j] != '\n')
                j++;
            for (k = j; k > i && cn_http_is_ows(buf[k - 1]); k--)
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
        const char *line = v + r;
        while (r < n && v[r] != '\r')
            r++;
        size_t len = (size_t)(v + r - line);
        cn_http_trim_ows(&line, &len);
        memmove(v + o, line, len);
        o += (uint32_t)len;
        if (r >= n)
            break;
        v[o++] = ' ';
        r += 2; /* CRLF */
    }
    h->value.len = o;
}
