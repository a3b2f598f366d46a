/* http.h - HTTP/1.x request parsing on llhttp and response framing.
 *
 * Owns: the request head model (cn_http_request_t, all fields are spans into
 * the caller's read buffer), request limits, body decoding (Content-Length
 * and chunked), status lines, header validation, response framing decisions
 * (Content-Length / chunked / close-delimited, keep-alive), the Date cache,
 * canned error responses.
 * Must not: include Python.h, do I/O, or allocate anything a client can
 * grow without a limit checked first. */
#ifndef CUNICORN_HTTP_H
#define CUNICORN_HTTP_H

#include "cunicorn/buf.h"
#include "cunicorn/common.h"

#include <llhttp.h>
#include <time.h>

/* ---- request side ------------------------------------------------------ */

typedef struct cn_http_limits {
    uint32_t request_line; /* 0 = unlimited; Gunicorn default 4094 */
    uint32_t fields;       /* max number of header fields, default 100 */
    uint32_t field_size;   /* max bytes of one "name: value", default 8190 */
    uint64_t body;         /* max decoded body bytes, 0 = unlimited: 413 */
} cn_http_limits_t;

/* What to do with a header name containing '_' (Gunicorn's header_map):
 * a WSGI environ maps '-' and '_' to the same key, so "X_Foo" could pose as
 * "X-Foo" behind a proxy that checked only the latter. */
enum cn_http_header_map {
    CN_HTTP_HEADER_MAP_DROP,      /* left out of the request (still counted
                                     against the limits); the default */
    CN_HTTP_HEADER_MAP_REFUSE,    /* the request is answered 400 */
    CN_HTTP_HEADER_MAP_DANGEROUS, /* kept: the environ joins it with its
                                     '-' twin */
};

/* Parser options (Gunicorn settings of the same names). All false / DROP is
 * Gunicorn's default; each true only makes the parser accept more. */
typedef struct cn_http_options {
    bool strip_header_spaces;          /* "Name : v": spaces before ':' dropped */
    bool permit_unconventional_method; /* any token method, lowercase too */
    bool casefold_method;              /* method upper-cased (cn_http_request_rewrite) */
    bool permit_obsolete_folding;      /* continuation lines joined with SP */
    uint8_t header_map;                /* enum cn_http_header_map */
} cn_http_options_t;

/** "drop", "refuse" or "dangerous" (any case, surrounding spaces ignored,
 * as Gunicorn) -> enum cn_http_header_map; -1 for anything else. */
int cn_http_header_map_parse(const char *s);

typedef struct cn_http_header {
    cn_span_t name;  /* into the head buffer */
    cn_span_t value; /* surrounding OWS already trimmed */
} cn_http_header_t;

/* A parsed request head. Every span is relative to the start of the buffer
 * that was passed to cn_http_parse_head() (which must start at the first
 * byte of the request). */
typedef struct cn_http_request {
    cn_span_t method;
    cn_span_t target; /* request-target as sent (RAW_URI) */
    cn_span_t path;   /* target minus query and fragment; for absolute-form
                         targets the path part only ("/" if empty) */
    cn_span_t query;  /* without '?', empty if none */
    cn_span_t fragment;
    uint8_t version_major;
    uint8_t version_minor;
    cn_http_header_t *headers; /* owned (cn_http_request_free) */
    uint32_t nheaders;
    uint32_t _cap;
    bool has_content_length;
    uint64_t content_length;
    bool chunked;        /* Transfer-Encoding ends in chunked (other codings
                            before it are left for the app: see
                            docs/http-conformance.md) */
    bool expect_continue; /* Expect: 100-continue (any version) */
    bool keep_alive;     /* what the client asked for: 1.1 without
                            "Connection: close", or 1.0 with keep-alive */
    bool upgrade;        /* Connection: upgrade + Upgrade header */
    size_t head_len;     /* bytes of the head, including the final CRLF */
} cn_http_request_t;

typedef struct cn_http_parser {
    llhttp_t _ll;
    llhttp_settings_t _settings;
    cn_http_limits_t limits;
    cn_http_options_t opts;   /* set with cn_http_parser_set_options() */
    cn_http_request_t *_req;  /* borrowed during parse_head */
    const char *_base;        /* borrowed: start of the head buffer */
    size_t _fed;              /* bytes of the head buffer llhttp has seen */
    uint32_t _line_len;       /* bytes of the request line so far */
    uint32_t _field_len;      /* bytes of the current trailer field so far */
    int _last_cb;             /* which span callback ran last */
    bool _head_done;
    bool _body_done;
    const char *_exec_end;    /* borrowed: end of the bytes of the running llhttp_execute() */
    uint32_t _ntrailers;      /* trailer fields seen (bounded by limits.fields) */
    /* The request line is parsed here, not by llhttp (which is fed a
     * canonical "GET / HTTP/1.x" line instead), and bodies are decoded by
     * our own Content-Length/chunked decoder. */
    bool _line_done;          /* request line parsed and accepted */
    uint32_t _scan;           /* request-line bytes already scanned for LF */
    uint8_t _bstate;          /* body decoder state */
    uint8_t _tname_len;       /* bytes of the current trailer name (saturates at 255) */
    char _tname[24];          /* its first bytes, to spot forbidden trailer fields */
    uint32_t _chunk_line;     /* bytes of the current chunk-size line */
    uint64_t _remaining;      /* body bytes left: of the Content-Length or the chunk */
    uint64_t _body_total;     /* chunk sizes announced so far (limits.body) */
    uint32_t _nfields;        /* header fields seen, dropped ones included */
    bool _drop_field;         /* the current field is dropped (header_map) */
    bool _folded;             /* a value holds obs-fold lines to join */
    uint8_t _strip;           /* strip_header_spaces: where the feed is */
    /* On CN_PARSE_ERROR: the status to answer (400, 413, 414, 431) and a
     * static, human readable reason for the log. */
    int status;
    const char *reason;
} cn_http_parser_t;

/** Prepare a parser for a new connection (limits copied). */
void cn_http_parser_init(cn_http_parser_t *p, const cn_http_limits_t *limits);
/** Set the options (copied; the defaults are all false / DROP). Call
 * before the first parse_head. */
void cn_http_parser_set_options(cn_http_parser_t *p, const cn_http_options_t *opts);
/** Forget the current request; the next parse_head starts a new message. */
void cn_http_parser_reset(cn_http_parser_t *p);

void cn_http_request_init(cn_http_request_t *req);
/** Clear for reuse (keeps the header array's storage). */
void cn_http_request_clear(cn_http_request_t *req);
void cn_http_request_free(cn_http_request_t *req);

/**
 * Parse a request head incrementally. buf/len is everything received so far
 * for this request, starting at its first byte (the caller appends to it and
 * calls again; bytes already seen are not parsed twice). Returns DONE when the
 * head is complete (req->head_len set; bytes after it are body or the next
 * request), AGAIN when more bytes are needed, ERROR with p->status/p->reason
 * set. Limits are enforced as bytes arrive, so a caller may bound its buffer
 * by limit_request_line + fields * (field_size + 2) + slack.
 */
enum cn_parse cn_http_parse_head(cn_http_parser_t *p, cn_http_request_t *req,
                                 const char *buf, size_t len);

/**
 * After a DONE head: apply in place, in buf (the buffer the head was parsed
 * from), what the options ask of the request's bytes: upper-case the method
 * (casefold_method) and join folded values into one line, each line's OWS
 * dropped and lines joined with one SP (permit_obsolete_folding; the value
 * span shrinks). Idempotent; does nothing with the default options.
 */
void cn_http_request_rewrite(const cn_http_parser_t *p, cn_http_request_t *req, char *buf);

/**
 * Decode body bytes after a DONE head. in/len are raw bytes from the wire;
 * *consumed is set to how many were used; decoded bytes are appended to out.
 * Returns DONE at the end of the body (bytes after *consumed belong to the
 * next request), AGAIN when more input is needed, ERROR with status/reason.
 * A request with neither Content-Length nor chunked has an empty body.
 */
enum cn_parse cn_http_parse_body(cn_http_parser_t *p, const char *in, size_t len,
                                 size_t *consumed, cn_buf_t *out);

/** Whether the body is complete (always true for bodyless requests). */
bool cn_http_body_done(const cn_http_parser_t *p);

/** The first request header named name (name_len bytes, ASCII
 * case-insensitive); NULL if absent. base: the buffer the head was parsed
 * from. */
const cn_http_header_t *cn_http_request_header(const cn_http_request_t *req, const char *base,
                                               const char *name, size_t name_len);

/* ---- response side ----------------------------------------------------- */

/** A header handed to the framing code; bytes are borrowed from the caller. */
typedef struct cn_http_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} cn_http_field_t;

/** "NNN reason": three digits, a space, a reason of visible chars/SP/HTAB.
 * Returns the status code, or -1 if invalid. */
int cn_http_status_parse(const char *status, size_t len);
/** RFC 9110 token. */
bool cn_http_header_name_valid(const char *name, size_t len);
/** No CR, LF, NUL or other CTL except HTAB. */
bool cn_http_header_value_valid(const char *value, size_t len);
/** Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade (PEP 3333 forbids apps to send these). */
bool cn_http_header_is_hop_by_hop(const char *name, size_t len);

/* Everything the framing decision needs. */
typedef struct cn_http_framing {
    /* inputs */
    uint8_t version_minor;   /* of the request (major is 1) */
    bool head_request;       /* HEAD: no body on the wire */
    bool may_keep_alive;     /* worker class + request allow keep-alive */
    bool known_length;       /* body length known without a header ... */
    uint64_t length;         /* ... and this is it */
    /* outputs of cn_http_response_head() */
    int status;
    bool body_allowed;       /* false for HEAD, 1xx, 204, 304 */
    bool chunked;            /* body must be chunk-encoded */
    bool has_length;         /* a Content-Length was sent */
    uint64_t content_length;
    bool keep_alive;         /* connection stays open after the response */
} cn_http_framing_t;

/**
 * Serialise the status line and headers into out: the app's fields (already
 * validated by the caller), then Server and Date unless the app set them,
 * Content-Length or Transfer-Encoding: chunked as decided, and a Connection
 * header stating the keep-alive decision. The app's Content-Length, if any,
 * is used as is (the caller validated it is a number; fr->has_length and
 * content_length report it). Returns 0, or -1 if status is invalid.
 */
int cn_http_response_head(cn_buf_t *out, const char *status, size_t status_len,
                          const cn_http_field_t *fields, size_t nfields,
                          cn_http_framing_t *fr);

/** Chunk framing: writes "HEX\r\n" to out (returns its length, <= 18). */
size_t cn_http_chunk_header(char out[20], size_t n);
/** The terminating chunk "0\r\n\r\n". */
#define CN_HTTP_LAST_CHUNK "0\r\n\r\n"

/** RFC 9110 IMF-fixdate for now, cached per second per thread; returns a
 * pointer to a thread-local 29-byte string (NUL terminated). */
const char *cn_http_date(time_t now);

/** Reason phrase for a status code ("Unknown" if none). */
const char *cn_http_reason(int status);

/** A complete error response ("Connection: close", small HTML body). The
 * message is for the log only and is never echoed to the client. */
void cn_http_error_response(cn_buf_t *out, int status);

#endif
