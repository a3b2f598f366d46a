/* http_body.c - message body framing and the body decoder.
 *
 * Owns: deciding the framing from the header section (RFC 9112 6.1
 * Transfer-Encoding, 6.2 Content-Length, 6.3 message body length: chunked
 * must be the final coding and appear once, a coding without chunked has
 * no knowable length, TE with CL and TE in HTTP/1.0 are refused, repeated
 * CL is refused), limit_request_body (413), and decoding: Content-Length
 * bodies as runs, the chunked coding (7.1: chunk-size in hex, BWS before
 * extensions, extensions ignored as 7.1.1 requires, CRLF after each chunk)
 * and the trailer section (7.1.2: field lines under the header limits;
 * fields that frame, route or authenticate refused, RFC 9110 6.5.1).
 * Bodies are decoded here and not by llhttp: llhttp 8.1 mis-parses chunk
 * extensions with several parameters ("3;a=b;c=d") and does not check
 * trailer names.
 * Must not: include Python.h, do I/O, or buffer more than the caller's
 * input. */
#include "http_internal.h"

#include <string.h>

/* Decoder states; B_LENGTH and B_DATA copy runs, the rest go byte by
 * byte. A chunked body: SIZE [BWS] [";" EXT] CRLF DATA CRLF ... "0" CRLF
 * then trailer lines (TR_*) and a final CRLF. */
enum body_state {
    B_LENGTH, B_SIZE, B_SIZE_BWS, B_EXT, B_SIZE_LF, B_DATA, B_DATA_CR, B_DATA_LF,
    B_TR_START, B_TR_NAME, B_TR_VALUE, B_TR_LF, B_END_LF, B_DONE
};

/* A chunk-size line (size and extensions) longer than this is refused. */
#define CHUNK_LINE_MAX 4096

static int body_byte(cn_http_parser_t *p, unsigned char c);
static int size_byte(cn_http_parser_t *p, unsigned char c);
static int trailer_byte(cn_http_parser_t *p, unsigned char c);
static bool trailer_forbidden(const cn_http_parser_t *p);

/* ---- framing ---------------------------------------------------------------- */

/* Transfer-Encoding is a list of codings in the order they were applied,
 * possibly over several fields (RFC 9112 6.1). chunked must come last and
 * only once; identity is a no-op; gzip/deflate/compress are left in the
 * body for the app (the header is in its environ); others get 501. */
int http_scan_te(cn_http_parser_t *p, const char *v, size_t n, bool *chunked, bool *coded)
{
    size_t i = 0;
    do {
        size_t s, e;
        http_list_item(v, n, &i, &s, &e);
        if (*chunked)
            return http_reject(p, 400, "chunked is not the final transfer coding");
        if (e == s)
            return http_reject(p, 400, "empty transfer coding");
        if (cn_strcase_eq(v + s, e - s, "chunked"))
            *chunked = true;
        else if (cn_strcase_eq(v + s, e - s, "gzip") || cn_strcase_eq(v + s, e - s, "x-gzip") ||
                 cn_strcase_eq(v + s, e - s, "deflate") ||
                 cn_strcase_eq(v + s, e - s, "compress") ||
                 cn_strcase_eq(v + s, e - s, "x-compress"))
            *coded = true;
        else if (!cn_strcase_eq(v + s, e - s, "identity"))
            return http_reject(p, 501, "unsupported transfer coding");
    } while (i++ < n);
    return 0;
}

int http_check_framing(cn_http_parser_t *p, int ncl, const cn_http_header_t *cl, int nte,
                       bool chunked, bool coded)
{
    cn_http_request_t *req = p->_req;
    if (ncl > 1)
        return http_reject(p, 400, "repeated Content-Length");
    if (nte > 0 && req->version_minor == 0)
        return http_reject(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (coded && !chunked) /* RFC 9112 6.3: the length cannot be known */
        return http_reject(p, 400, "Transfer-Encoding without chunked");
    if (ncl > 0 && chunked)
        return http_reject(p, 400, "Content-Length with Transfer-Encoding");
    req->chunked = chunked;
    if (ncl > 0) {
        if (cn_parse_uint(p->_base + cl->value.off, cl->value.len, INT64_MAX,
                          &req->content_length) < 0)
            return http_reject(p, 400, "invalid Content-Length");
        req->has_content_length = true;
    }
    return 0;
}

int http_body_start(cn_http_parser_t *p)
{
    const cn_http_request_t *req = p->_req;
    if (p->limits.body != 0 && req->content_length > p->limits.body)
        return http_reject(p, 413, "Content-Length larger than limit_request_body");
    p->_body_total = 0;
    p->_remaining = req->content_length;
    p->_bstate = req->chunked ? B_SIZE : req->content_length > 0 ? B_LENGTH : B_DONE;
    p->_chunk_line = 0;
    p->_ntrailers = 0; /* each trailer field resets its own counters */
    p->_body_done = p->_bstate == B_DONE;
    return 0;
}

/* ---- decoder ---------------------------------------------------------------- */

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
    int digit = cn_hex_value(c);
    if (++p->_chunk_line > CHUNK_LINE_MAX)
        return http_reject(p, 400, "chunk size line too long");
    switch ((enum body_state)p->_bstate) {
    case B_SIZE:
        if (digit >= 0) {
            if (p->_remaining > (uint64_t)INT64_MAX >> 4)
                return http_reject(p, 400, "chunk size too large");
            p->_remaining = (p->_remaining << 4) | (uint64_t)digit;
            return 0;
        }
        if (p->_chunk_line == 1)
            return http_reject(p, 400, "invalid chunk size");
        p->_bstate = c == ';' ? B_EXT : c == '\r' ? B_SIZE_LF : B_SIZE_BWS;
        if (p->_bstate == B_SIZE_BWS && !cn_http_is_ows((char)c))
            return http_reject(p, 400, "invalid chunk size");
        return 0;
    case B_SIZE_BWS:
        if (c == ';')
            p->_bstate = B_EXT;
        else if (!cn_http_is_ows((char)c))
            return http_reject(p, 400, "invalid chunk size");
        return 0;
    case B_EXT:
        if (c == '\r')
            p->_bstate = B_SIZE_LF;
        else if (cn_http_is_ctl(c))
            return http_reject(p, 400, "invalid byte in chunk extension");
        return 0;
    default: /* B_SIZE_LF */
        if (c != '\n')
            return http_reject(p, 400, "bare CR in chunk size line");
        p->_body_total += p->_remaining; /* sizes are < 2^60; only read with a limit */
        if (p->limits.body != 0 && p->_body_total > p->limits.body)
            return http_reject(p, 413, "chunked request body larger than limit_request_body");
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
        if (cn_http_is_ows((char)c))
            return http_reject(p, 400, "obsolete line folding in trailers");
        if (!cn_http_is_tchar(c))
            return http_reject(p, 400, "invalid trailer field name");
        if (p->limits.fields != 0 && p->_ntrailers >= p->limits.fields)
            return http_reject(p, 431, "too many trailer fields");
        p->_ntrailers++;
        p->_field_len = 0;
        p->_tname_len = 0;
        p->_bstate = B_TR_NAME;
        break;
    case B_TR_NAME:
        if (c == ':') {
            if (trailer_forbidden(p))
                return http_reject(p, 400, "forbidden trailer field");
            p->_bstate = B_TR_VALUE;
        } else if (!cn_http_is_tchar(c)) {
            return http_reject(p, 400, "invalid trailer field name");
        }
        break;
    case B_TR_VALUE:
        if (c == '\r') {
            p->_bstate = B_TR_LF;
            return 0;
        }
        if (cn_http_is_ctl(c))
            return http_reject(p, 400, "invalid byte in trailer value");
        break;
    case B_TR_LF:
        if (c != '\n')
            return http_reject(p, 400, "bare CR in trailers");
        p->_bstate = B_TR_START;
        return 0;
    default: /* B_END_LF */
        if (c != '\n')
            return http_reject(p, 400, "trailer section not ended by CRLF");
        p->_bstate = B_DONE;
        return 0;
    }
    if (p->_bstate == B_TR_NAME) {
        if (p->_tname_len < sizeof(p->_tname))
            p->_tname[p->_tname_len] = (char)c;
        if (p->_tname_len < 255)
            p->_tname_len++;
    }
    if (http_field_too_big(p, ++p->_field_len))
        return http_reject(p, 431, "trailer field too large");
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
            return http_reject(p, 400, "chunk data not followed by CRLF");
        p->_bstate = B_DATA_LF;
        return 0;
    case B_DATA_LF:
        if (c != '\n')
            return http_reject(p, 400, "chunk data not followed by CRLF");
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
    return http_reject(p, 400, "body decoder out of step");
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
        http_reject(p, 400, "body parsed before the head");
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

bool cn_http_body_done(const cn_http_parser_t *p) { return p->_head_done && p->_body_done; }
