/* http_fields.c - what single header fields mean.
 *
 * Owns: the field-name rules llhttp leaves to us (not empty; '_' handled
 * as header_map says, because the environ maps '-' and '_' to one key),
 * the fields that must appear once (Host: RFC 9112 3.2; Content-Type: a
 * second one is ambiguous), Connection (close / keep-alive / upgrade
 * options: RFC 9112 9.3, 9.6, RFC 9110 7.6.1), Expect: 100-continue (RFC
 * 9110 10.1.1), Upgrade, comma-separated lists (RFC 9110 5.6.1), header
 * lookup by name, and header_map's setting values. The framing fields
 * (Transfer-Encoding, Content-Length) are collected here and judged by
 * http_body.c.
 * Must not: include Python.h or do I/O. */
#include "http_internal.h"

#include <string.h>
#include <strings.h>

static void scan_connection(const char *v, size_t n, bool *close, bool *ka, bool *upg);

/* header_map decides about '_' (Gunicorn: after the token check, which
 * llhttp has done). */
int http_check_field_name(cn_http_parser_t *p, cn_http_header_t *h)
{
    const char *name = p->_base + h->name.off;
    if (h->name.len == 0)
        return http_reject(p, 400, "empty header name");
    p->_drop_field = false;
    if (memchr(name, '_', h->name.len) == NULL)
        return 0;
    switch ((enum cn_http_header_map)p->opts.header_map) {
    case CN_HTTP_HEADER_MAP_REFUSE:
        return http_reject(p, 400, "'_' in a header name (header_map = refuse)");
    case CN_HTTP_HEADER_MAP_DROP:
        p->_drop_field = true;
        return 0;
    case CN_HTTP_HEADER_MAP_DANGEROUS:
        return 0;
    }
    return http_reject(p, 400, "unknown header_map");
}

/* One pass over the fields: framing, singletons, connection options. Host
 * and Content-Type are single-valued; a second line is ambiguous (which one
 * a proxy routed or parsed on is unknown), so both are refused (RFC 9112
 * 3.2 makes it a MUST for Host). */
int http_check_headers(cn_http_parser_t *p)
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
            if (http_scan_te(p, val, h->value.len, &chunked, &coded) < 0)
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
        return http_reject(p, 400, "repeated Host");
    if (nctype > 1)
        return http_reject(p, 400, "repeated Content-Type");
    if (http_check_framing(p, ncl, cl, nte, chunked, coded) < 0)
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
void http_list_item(const char *v, size_t n, size_t *i, size_t *s, size_t *e)
{
    size_t start = *i;
    while (*i < n && v[*i] != ',')
        (*i)++;
    const char *item = v + start;
    size_t len = *i - start;
    cn_http_trim_ows(&item, &len);
    *s = (size_t)(item - v);
    *e = *s + len;
}

/* Connection is a comma list of tokens, possibly over several fields. */
static void scan_connection(const char *v, size_t n, bool *close, bool *ka, bool *upg)
{
    for (size_t i = 0; i < n; i++) {
        size_t s, e;
        http_list_item(v, n, &i, &s, &e); /* empty items match nothing below */
        if (cn_strcase_eq(v + s, e - s, "close"))
            *close = true;
        else if (cn_strcase_eq(v + s, e - s, "keep-alive"))
            *ka = true;
        else if (cn_strcase_eq(v + s, e - s, "upgrade"))
            *upg = true;
    }
}

const cn_http_header_t *cn_http_request_header(const cn_http_request_t *req, const char *base,
                                               const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < req->nheaders; i++) {
        const cn_http_header_t *h = &req->headers[i];
        if (h->name.len == name_len && strncasecmp(base + h->name.off, name, name_len) == 0)
            return h;
    }
    return NULL;
}

int cn_http_header_map_parse(const char *s)
{
    static const char *const names[] = {"drop", "refuse", "dangerous"}; /* enum order */
    size_t n = strlen(s);
    cn_http_trim_ows(&s, &n);
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (cn_strcase_eq(s, n, names[i]))
            return (int)i;
    return -1;
}
