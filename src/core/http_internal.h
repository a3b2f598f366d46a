/* http_internal.h - what the request parser's files share (private to
 * src/core/http_*.c; the API is cunicorn/http.h).
 *
 * The parser is one state (cn_http_parser_t) worked on by four files, each
 * owning one part of the message (RFC 9112 section numbers):
 *   http_head.c          the head as a whole: llhttp over the field lines
 *                        (5), line endings (2.2), limits, obs-fold (5.2),
 *                        the public entry points for the head
 *   http_request_line.c  the request line (3) and request-target (3.2)
 *   http_fields.c        what single fields mean: field names and
 *                        header_map, Host (3.2), Connection (9.3, 9.6),
 *                        Expect, Upgrade, and header lookup
 *   http_body.c          message body framing (6.1-6.3: Transfer-Encoding
 *                        and Content-Length) and the body decoder
 *                        (Content-Length runs, chunked coding 7.1, trailer
 *                        section 7.1.2)
 * Must not: include Python.h or do I/O. */
#ifndef CUNICORN_HTTP_INTERNAL_H
#define CUNICORN_HTTP_INTERNAL_H

#include "cunicorn/http.h"
#include "cunicorn/http_chars.h"

/* Record why the request is refused (the first reason wins) and return -1. */
static inline int http_reject(cn_http_parser_t *p, int status, const char *reason)
{
    if (p->status == 0) {
        p->status = status;
        p->reason = reason;
    }
    return -1;
}

/* Gunicorn counts a field line with its CRLF against limit_request_field_size. */
static inline bool http_field_too_big(const cn_http_parser_t *p, size_t n)
{
    return n + 2 > p->limits.field_size;
}

/* ---- http_request_line.c ---- */

/** Scan the bytes not seen yet for the request line's LF; once it is in,
 * check the line and set method, target and version. 1 with *lf set (the
 * LF's offset), 0 for more bytes, -1 refused. */
int http_request_line_parse(cn_http_parser_t *p, const char *buf, size_t len, size_t *lf);

/** Split the request-target by its form (3.2) into path, query and
 * fragment; 0, or -1 refused. Runs when the head is complete (the method
 * may have been case-folded by then). */
int http_parse_target(cn_http_parser_t *p);

/* ---- http_fields.c ---- */

/** The field name just completed: not empty, and '_' as header_map says. */
int http_check_field_name(cn_http_parser_t *p, cn_http_header_t *h);

/** One pass over the complete header section: singletons, Connection,
 * Expect, Upgrade, and the framing fields handed to http_body.c. */
int http_check_headers(cn_http_parser_t *p);

/** The element of a comma-separated list that starts at *i, OWS trimmed:
 * [*s, *e). *i is left on the comma after it (or at n). */
void http_list_item(const char *v, size_t n, size_t *i, size_t *s, size_t *e);

/* ---- http_body.c ---- */

/** One Transfer-Encoding field's codings, added to *chunked / *coded. */
int http_scan_te(cn_http_parser_t *p, const char *v, size_t n, bool *chunked, bool *coded);

/** Decide the body's framing from the Content-Length fields (ncl of them,
 * the last cl) and the Transfer-Encoding fields (nte, as scanned). */
int http_check_framing(cn_http_parser_t *p, int ncl, const cn_http_header_t *cl, int nte,
                       bool chunked, bool coded);

/** The head is done: start the body decoder for the request's framing;
 * 0, or -1 (413: Content-Length over limit_request_body). */
int http_body_start(cn_http_parser_t *p);

#endif
