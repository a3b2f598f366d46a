/* http_request_line.c - the request line and the request-target.
 *
 * Owns (RFC 9112 section 3): request-line = method SP request-target SP
 * HTTP-version CRLF, with single spaces and no other whitespace (3, 3.1 for
 * the method as a token, 2.3 for the version), the line limit
 * (limit_request_line: 414), and the four forms of request-target (3.2):
 * origin-form, absolute-form (http and https only), authority-form (CONNECT
 * only) and asterisk-form (OPTIONS only).
 * Parsed by hand, not by llhttp, because llhttp 8.1 refuses methods it
 * does not know and bytes above 0x7f in the target, both of which HTTP and
 * Gunicorn allow (the target is passed on as latin-1, PEP 3333).
 * Must not: include Python.h or do I/O. */
#include "http_internal.h"

#include <string.h>

static bool method_ok(const cn_http_parser_t *p, const char *m, size_t n);
static bool method_is(const cn_http_parser_t *p, const char *name);
static int scan_line(cn_http_parser_t *p, const char *buf, size_t len, size_t *lf);
static int accept_line(cn_http_parser_t *p, const char *buf, size_t n);
static int parse_absolute(cn_http_parser_t *p, const char *t, uint32_t n);
static void split_path(cn_http_request_t *req, const char *base, uint32_t start, uint32_t end);

int http_request_line_parse(cn_http_parser_t *p, const char *buf, size_t len, size_t *lf)
{
    int rc = scan_line(p, buf, len, lf);
    if (rc <= 0)
        return rc;
    return accept_line(p, buf, *lf - 1) < 0 ? -1 : 1;
}

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
        if (!cn_http_is_tchar(c) || (!any && ((c >= 'a' && c <= 'z') || c == '#')))
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
                return http_reject(p, 400, "bare LF in request line");
            *lf = i;
            return 1;
        }
        /* Checked from the byte after the CR, which may come in a later read. */
        if (i > 0 && buf[i - 1] == '\r')
            return http_reject(p, 400, "bare CR in request line");
        if (c != '\r' && (c < 0x20 || c == 0x7f))
            return http_reject(p, 400, "control character in request line");
    }
    p->_scan = (uint32_t)len;
    size_t n = len - (buf[len - 1] == '\r');
    if (p->limits.request_line != 0 && n > p->limits.request_line)
        return http_reject(p, 414, "request line too long");
    return 0;
}

/* method SP request-target SP HTTP-version, single spaces (RFC 9112 3).
 * The target may hold obs-text: PEP 3333 passes it on as latin-1. */
static int accept_line(cn_http_parser_t *p, const char *buf, size_t n)
{
    cn_http_request_t *req = p->_req;
    const char *sp1, *sp2, *v;
    if (n == 0)
        return http_reject(p, 400, "bytes before the request line");
    if (p->limits.request_line != 0 && n > p->limits.request_line)
        return http_reject(p, 414, "request line too long");
    sp1 = memchr(buf, ' ', n);
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - buf)) : NULL;
    if (sp2 == NULL || sp2 == sp1 + 1)
        return http_reject(p, 400, "malformed request line");
    if (!method_ok(p, buf, (size_t)(sp1 - buf)))
        return http_reject(p, 400, "invalid method");
    v = sp2 + 1;
    if ((size_t)(buf + n - v) != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return http_reject(p, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return http_reject(p, 400, "unsupported HTTP version");
    req->method = (cn_span_t){0, (uint32_t)(sp1 - buf)};
    req->target = (cn_span_t){(uint32_t)(sp1 + 1 - buf), (uint32_t)(sp2 - sp1 - 1)};
    req->version_major = 1;
    req->version_minor = (uint8_t)(v[7] - '0');
    p->_line_len = (uint32_t)n;
    return 0;
}

/* ---- request-target ---------------------------------------------------- */

/* origin-form "/p?q#f", absolute-form "http://h/p", authority-form "h:port"
 * (CONNECT only), asterisk-form "*" (OPTIONS only). */
int http_parse_target(cn_http_parser_t *p)
{
    cn_http_request_t *req = p->_req;
    const char *t = p->_base + req->target.off;
    uint32_t n = req->target.len, end = req->target.off + n;
    if (method_is(p, "CONNECT")) {
        if (t[0] == '/' || t[0] == '*' || memchr(t, ':', n) == NULL || memchr(t, '/', n) != NULL ||
            memchr(t, '?', n) != NULL || memchr(t, '#', n) != NULL || memchr(t, '@', n) != NULL)
            return http_reject(p, 400, "CONNECT needs an authority-form target");
        req->path = req->query = req->fragment = (cn_span_t){end, 0};
        return 0;
    }
    if (t[0] == '*') {
        if (n != 1 || !method_is(p, "OPTIONS"))
            return http_reject(p, 400, "asterisk-form target is only for OPTIONS");
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
        return http_reject(p, 400, "unsupported request target");
    for (a = s; a < n && t[a] != '/' && t[a] != '?' && t[a] != '#'; a++)
        ;
    if (a == s)
        return http_reject(p, 400, "absolute-form target without a host");
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
