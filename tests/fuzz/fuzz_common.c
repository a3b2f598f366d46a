/* fuzz_common.c - see fuzz_common.h.
 *
 * The reference decoder is deliberately written another way than the
 * parser's: it is not incremental, it walks the grammar of RFC 9112 7.1
 * top-down over the whole input, and it parses chunk extensions strictly
 * (token / quoted-string). Where the parser is lenient by design (it skips
 * any non-CTL bytes of an extension) the reference notes it in lenient_ext
 * rather than refusing, and where the parser refuses by policy (limits,
 * forbidden trailer names) it notes it in policy. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parser's chunk-size line limit (size, extensions and CRLF). */
#define FZ_CHUNK_LINE_MAX 4096
#define FZ_DEFAULT_FIELD_SIZE 8190

static uint64_t rng_next(fz_feed_t *f);
static bool ref_tchar(unsigned char c);
static bool ref_ctl(unsigned char c);
static int ref_hex(unsigned char c);
static size_t skip_ows(const char *in, size_t len, size_t i);
static int ext_strict(const char *in, size_t len, size_t *pi);
static int quoted(const char *in, size_t len, size_t *pi);
static int ext_lenient(const char *in, size_t len, size_t *pi);
static int ref_chunks(const char *in, size_t len, fz_ref_t *r, cn_buf_t *out, size_t *pi);
static int ref_trailers(const char *in, size_t len, const cn_http_limits_t *lim, fz_ref_t *r,
                        size_t *pi);
static bool forbidden_trailer(const char *name, size_t n);

/* ---- feeding and limits ---------------------------------------------------- */

static uint64_t rng_next(fz_feed_t *f)
{
    uint64_t x = f->state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    f->state = x;
    return x;
}

void fz_feed_init(fz_feed_t *f, const uint8_t ctl[4], size_t n)
{
    f->state = ((uint64_t)ctl[1] << 24 | (uint64_t)ctl[2] << 16 | (uint64_t)ctl[3] << 8 | ctl[0]) *
                   0x9E3779B97F4A7C15ull |
               1;
    f->mode = (enum fz_mode)(ctl[0] & 3);
    f->split = n > 0 ? (size_t)(rng_next(f) % n) + 1 : 0;
}

size_t fz_feed_next(fz_feed_t *f, size_t avail, size_t n)
{
    size_t step;
    switch (f->mode) {
    case FZ_BYTEWISE:
        step = 1;
        break;
    case FZ_SMALL:
        step = 1 + (size_t)(rng_next(f) % 16);
        break;
    case FZ_LARGE:
        step = 1 + (size_t)(rng_next(f) % 512);
        break;
    case FZ_TWO:
        step = avail < f->split ? f->split - avail : n - avail;
        break;
    }
    return n - avail < step ? n : avail + step;
}

cn_http_limits_t fz_limits(uint8_t ctl, uint32_t min_field_size)
{
    static const uint32_t line[4] = {4094, 0, 32, 200};
    static const uint32_t fields[4] = {100, 0, 1, 4};
    static const uint32_t size[4] = {8190, 0, 16, 64};
    cn_http_limits_t lim = {.request_line = line[ctl & 3],
                            .fields = fields[(ctl >> 2) & 3],
                            .field_size = size[(ctl >> 4) & 3]};
    if (lim.field_size != 0 && lim.field_size < min_field_size)
        lim.field_size = min_field_size;
    return lim;
}

void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz invariant violated: %s\n", what);
    abort();
}

/* ---- reference decoder: lexical helpers ------------------------------------ */

static bool ref_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

static bool ref_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* Written apart from cn_hex_value on purpose: a reference, not a copy. */
static int ref_hex(unsigned char c)
{
    static const char digits[] = "00112233445566778899aAbBcCdDeEfF";
    const char *at = c != 0 ? memchr(digits, c, sizeof(digits) - 1) : NULL;
    return at != NULL ? (int)(at - digits) / 2 : -1;
}

static size_t skip_ows(const char *in, size_t len, size_t i)
{
    while (i < len && (in[i] == ' ' || in[i] == '\t'))
        i++;
    return i;
}

/* The results below: 1 = matched (*pi moved past it), 0 = the input ends
 * inside it, -1 = it does not match. */

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE */
static int quoted(const char *in, size_t len, size_t *pi)
{
    size_t i = *pi + 1;
    for (;;) {
        if (i >= len)
            return 0;
        unsigned char c = (unsigned char)in[i];
        if (c == '"') {
            *pi = i + 1;
            return 1;
        }
        if (c == '\\') {
            if (++i >= len)
                return 0;
            c = (unsigned char)in[i];
            if (c != '\t' && c != ' ' && (c < 0x21 || c == 0x7f))
                return -1;
        } else if (c != '\t' && c != ' ' && c != 0x21 && !(c >= 0x23 && c <= 0x5b) &&
                   !(c >= 0x5d && c <= 0x7e) && c < 0x80) {
            return -1;
        }
        i++;
    }
}

/* A token from *pi: 1 (non-empty, *pi past it), 0 (input ends inside it),
 * -1 (empty). */
static int token(const char *in, size_t len, size_t *pi)
{
    size_t s = *pi, i = s;
    while (i < len && ref_tchar((unsigned char)in[i]))
        i++;
    *pi = i;
    if (i >= len)
        return 0;
    return i == s ? -1 : 1;
}

/* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
 * ending where the CR of the line is (*pi is left on it). */
static int ext_strict(const char *in, size_t len, size_t *pi)
{
    size_t i = *pi, j;
    for (;;) {
        if (i < len && in[i] == '\r') {
            *pi = i;
            return 1;
        }
        i = skip_ows(in, len, i);
        if (i >= len)
            return 0;
        if (in[i] != ';')
            return -1;
        i = skip_ows(in, len, i + 1);
        int rc = token(in, len, &i);
        if (rc <= 0)
            return rc;
        j = skip_ows(in, len, i);
        if (j >= len)
            return 0;
        if (in[j] != '=')
            continue;
        i = skip_ows(in, len, j + 1);
        if (i >= len)
            return 0;
        rc = in[i] == '"' ? quoted(in, len, &i) : token(in, len, &i);
        if (rc <= 0)
            return rc;
    }
}

/* The parser's documented rule: [OWS] ";" then any non-CTL up to the CR. */
static int ext_lenient(const char *in, size_t len, size_t *pi)
{
    size_t i = *pi;
    if (i < len && in[i] == '\r')
        return 1;
    i = skip_ows(in, len, i);
    if (i >= len)
        return 0;
    if (in[i] != ';')
        return -1;
    for (i++; i < len && in[i] != '\r'; i++)
        if (ref_ctl((unsigned char)in[i]))
            return -1;
    if (i >= len)
        return 0;
    *pi = i;
    return 1;
}

static bool forbidden_trailer(const char *name, size_t n)
{
    static const char *const names[] = {
        "content-length", "transfer-encoding", "host", "trailer", "te", "connection",
        "keep-alive", "upgrade", "expect", "content-encoding", "content-range",
        "authorization", "proxy-authorization",
    };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t m = strlen(names[k]), i;
        if (m != n)
            continue;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)name[i];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)names[k][i])
                break;
        }
        if (i == n)
            return true;
    }
    return false;
}

/* ---- reference decoder: grammar -------------------------------------------- */

/* chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, repeated until a
 * last-chunk; 1 = *pi is after the last chunk's CRLF. */
static int ref_chunks(const char *in, size_t len, fz_ref_t *r, cn_buf_t *out, size_t *pi)
{
    size_t i = *pi;
    for (;;) {
        size_t line = i, j;
        uint64_t size = 0;
        int rc, h;
        for (; i < len && (h = ref_hex((unsigned char)in[i])) >= 0; i++) {
            if (size > (uint64_t)INT64_MAX >> 4)
                r->policy = true; /* keeps scanning; the value no longer matters */
            else
                size = size << 4 | (uint64_t)h;
        }
        if (i == line && i < len)
            return -1;
        j = i;
        rc = i < len ? ext_strict(in, len, &j) : 0;
        if (rc < 0) {
            j = i;
            rc = ext_lenient(in, len, &j);
            r->lenient_ext = r->lenient_ext || rc > 0;
        }
        if (rc < 0)
            return -1;
        if (rc == 0 || j + 1 >= len) {
            r->policy = r->policy || len - line > FZ_CHUNK_LINE_MAX;
            return 0;
        }
        if (in[j + 1] != '\n')
            return -1;
        i = j + 2;
        r->policy = r->policy || i - line > FZ_CHUNK_LINE_MAX;
        if (size == 0) {
            *pi = i;
            return 1;
        }
        if (r->policy || size > len - i)
            return 0;
        cn_buf_append(out, in + i, (size_t)size);
        i += (size_t)size;
        if (i >= len || (in[i] == '\r' && i + 1 >= len))
            return 0;
        if (in[i] != '\r' || in[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

/* trailer-section = *( field-line CRLF ) CRLF, field-line = field-name ":"
 * OWS field-value OWS; values are any byte but CTLs (HTAB allowed). */
static int ref_trailers(const char *in, size_t len, const cn_http_limits_t *lim, fz_ref_t *r,
                        size_t *pi)
{
    size_t i = *pi, n = 0, fs = lim->field_size ? lim->field_size : FZ_DEFAULT_FIELD_SIZE;
    for (;;) {
        size_t line = i, name_end;
        if (i >= len)
            return 0;
        if (in[i] == '\r') {
            if (i + 1 >= len)
                return 0;
            if (in[i + 1] != '\n')
                return -1;
            *pi = i + 2;
            return 1;
        }
        if (lim->fields != 0 && n >= lim->fields)
            r->policy = true;
        n++;
        while (i < len && ref_tchar((unsigned char)in[i]))
            i++;
        name_end = i;
        if (i < len && (i == line || in[i] != ':'))
            return -1;
        if (i < len && forbidden_trailer(in + line, name_end - line))
            r->policy = true;
        while (i < len && in[i] != '\r') {
            if (ref_ctl((unsigned char)in[i]))
                return -1;
            i++;
        }
        /* the parser counts name, ':' and value, plus 2 for the CRLF */
        if (i - line + 2 > fs)
            r->policy = true;
        if (i + 1 >= len)
            return 0;
        if (in[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

void fz_ref_chunked(const char *in, size_t len, const cn_http_limits_t *lim, fz_ref_t *r,
                    cn_buf_t *out)
{
    size_t i = 0;
    int rc;
    memset(r, 0, sizeof(*r));
    rc = ref_chunks(in, len, r, out, &i);
    if (rc > 0)
        rc = ref_trailers(in, len, lim, r, &i);
    r->result = rc > 0 ? FZ_REF_OK : rc == 0 ? FZ_REF_INCOMPLETE : FZ_REF_BAD;
    r->end = rc > 0 ? i : 0;
}

/* ---- the comparison ---------------------------------------------------------- */

void fz_check_chunked(enum cn_parse rc, int status, size_t end, const cn_buf_t *decoded,
                      const char *in, size_t len, const cn_http_limits_t *lim)
{
    fz_ref_t r;
    cn_buf_t out = CN_BUF_INIT;
    fz_ref_chunked(in, len, lim, &r, &out);
    if (decoded->len > len)
        fz_fail("chunked: more decoded bytes than input bytes");
    switch (rc) {
    case CN_PARSE_DONE:
        if (r.policy)
            fz_fail("chunked: parser accepted a body over its own limits");
        if (r.result == FZ_REF_BAD)
            fz_fail("chunked: parser accepted a body the reference refuses");
        if (r.result == FZ_REF_INCOMPLETE)
            fz_fail("chunked: parser ended the body before the reference did");
        if (r.end != end)
            fz_fail("chunked: parser and reference end the body at different bytes");
        if (out.len != decoded->len || (out.len > 0 && memcmp(out.data, decoded->data, out.len)))
            fz_fail("chunked: decoded bytes differ from the reference");
        break;
    case CN_PARSE_AGAIN:
        if (end != len)
            fz_fail("chunked: AGAIN without consuming all input");
        if (r.result != FZ_REF_INCOMPLETE)
            fz_fail("chunked: parser wants more, the reference has a verdict");
        if (r.policy)
            fz_fail("chunked: parser wants more of a body over its own limits");
        if (out.len > decoded->len || (out.len > 0 && memcmp(out.data, decoded->data, out.len)))
            fz_fail("chunked: partial output is not the reference's");
        break;
    case CN_PARSE_ERROR:
        if (r.result != FZ_REF_BAD && !r.policy)
            fz_fail("chunked: parser refused a valid body");
        if (status != 400 && status != 431)
            fz_fail("chunked: unexpected error status");
        break;
    }
    cn_buf_free(&out);
}
