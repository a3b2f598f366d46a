/* http_response.c - the response side of HTTP/1.x: status and header
 * validation, the framing decision and head serialisation, chunk headers,
 * the per-thread Date cache, reason phrases and canned error responses.
 *
 * Must not: do I/O, include Python.h, echo client bytes into error pages.
 *
 * Framing (cn_http_response_head), in order of precedence:
 *   1. no body allowed (HEAD, 1xx, 204, 304): no Transfer-Encoding is sent.
 *      An app Content-Length is dropped for 1xx/204 (RFC 9110 8.6 forbids
 *      it there) and kept for HEAD/304. For HEAD with a known length and no
 *      app Content-Length we send Content-Length: length (what GET would
 *      send); 304 and 1xx/204 never get one from us.
 *   2. the app's Content-Length: used as is.
 *   3. a known length: Content-Length.
 *   4. HTTP/1.1: Transfer-Encoding: chunked.
 *   5. HTTP/1.0 with unknown length: close-delimited (keep-alive off).
 * The connection stays open when the caller allows it and the body is not
 * close-delimited; a Connection header always states the decision. */
#include "cunicorn/http.h"
#include "cunicorn/http_chars.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static bool body_forbidden(int status);
static bool is_app_content_length(const cn_http_field_t *f);
static int decide_framing(const cn_http_field_t *fields, size_t nfields, cn_http_framing_t *fr,
                          bool *our_length);
static void append_field(cn_buf_t *out, const char *name, const char *value, size_t value_len);
static void put2(char *at, int v);
static void format_date(char out[30], time_t t);

static const char *const wkday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- validation ------------------------------------------------------------ */

int cn_http_status_parse(const char *status, size_t len)
{
    if (len < 4 || status[3] != ' ')
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (status[i] < '0' || status[i] > '9')
            return -1;
    if (status[0] == '0')
        return -1;
    for (size_t i = 4; i < len; i++) {
        unsigned char c = (unsigned char)status[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return -1;
    }
    return (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
}

bool cn_http_header_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!cn_http_is_tchar((unsigned char)name[i]))
            return false;
    return true;
}

bool cn_http_header_value_valid(const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return false;
    }
    return true;
}

bool cn_http_header_is_hop_by_hop(const char *name, size_t len)
{
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection", "te",
                                      "trailer", "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < CN_ARRAY_LEN(hop); i++)
        if (cn_strcase_eq(name, len, hop[i]))
            return true;
    return false;
}

/* ---- framing and serialisation --------------------------------------------- */

static bool body_forbidden(int status) { return status < 200 || status == 204 || status == 304; }

static bool is_app_content_length(const cn_http_field_t *f)
{
    return cn_strcase_eq(f->name, f->name_len, "content-length");
}

/* Fills fr's outputs; *our_length says whether we must send Content-Length
 * ourselves. Returns -1 if the app's Content-Length is not a number. */
static int decide_framing(const cn_http_field_t *fields, size_t nfields, cn_http_framing_t *fr,
                          bool *our_length)
{
    const cn_http_field_t *cl = NULL;
    bool close_delimited = false;
    for (size_t i = 0; i < nfields && cl == NULL; i++)
        if (is_app_content_length(&fields[i]))
            cl = &fields[i];
    fr->body_allowed = !fr->head_request && !body_forbidden(fr->status);
    fr->chunked = fr->has_length = *our_length = false;
    fr->content_length = 0;
    if (cl != NULL && fr->status >= 200 && fr->status != 204) {
        if (cn_parse_uint(cl->value, cl->value_len, UINT64_MAX, &fr->content_length) < 0)
            return -1;
        fr->has_length = true;
    } else if (!fr->body_allowed) {
        *our_length = fr->head_request && fr->known_length && !body_forbidden(fr->status);
    } else if (fr->known_length) {
        *our_length = true;
    } else if (fr->version_minor >= 1) {
        fr->chunked = true;
    } else {
        close_delimited = true;
    }
    if (*our_length) {
        fr->has_length = true;
        fr->content_length = fr->length;
    }
    fr->keep_alive = fr->may_keep_alive && !close_delimited;
    return 0;
}

static void append_field(cn_buf_t *out, const char *name, const char *value, size_t value_len)
{
    cn_buf_append_str(out, name);
    cn_buf_append(out, ": ", 2);
    cn_buf_append(out, value, value_len);
    cn_buf_append(out, "\r\n", 2);
}

int cn_http_response_head(cn_buf_t *out, const char *status, size_t status_len,
                          const cn_http_field_t *fields, size_t nfields, cn_http_framing_t *fr)
{
    bool our_length, has_server = false, has_date = false;
    int code = cn_http_status_parse(status, status_len);
    if (code < 0)
        return -1;
    fr->status = code;
    if (decide_framing(fields, nfields, fr, &our_length) < 0)
        return -1;
    cn_buf_append(out, "HTTP/1.1 ", 9);
    cn_buf_append(out, status, status_len);
    cn_buf_append(out, "\r\n", 2);
    for (size_t i = 0; i < nfields; i++) {
        const cn_http_field_t *f = &fields[i];
        if (is_app_content_length(f) && (code < 200 || code == 204))
            continue;
        has_server = has_server || cn_strcase_eq(f->name, f->name_len, "server");
        has_date = has_date || cn_strcase_eq(f->name, f->name_len, "date");
        cn_buf_append(out, f->name, f->name_len);
        cn_buf_append(out, ": ", 2);
        cn_buf_append(out, f->value, f->value_len);
        cn_buf_append(out, "\r\n", 2);
    }
    if (!has_server)
        cn_buf_append_str(out, "Server: cunicorn\r\n");
    if (!has_date)
        append_field(out, "Date", cn_http_date(time(NULL)), 29);
    if (our_length)
        cn_buf_appendf(out, "Content-Length: %llu\r\n", (unsigned long long)fr->content_length);
    else if (fr->chunked)
        cn_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    cn_buf_append_str(out, fr->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    cn_buf_append(out, "\r\n", 2);
    return 0;
}

size_t cn_http_chunk_header(char out[20], size_t n)
{
    char tmp[16];
    size_t k = 0, len = 0;
    do {
        tmp[k++] = CN_HEX_DIGITS[n & 0xf];
        n >>= 4;
    } while (n != 0);
    while (k > 0)
        out[len++] = tmp[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    out[len] = '\0';
    return len;
}

/* ---- Date ------------------------------------------------------------------ */

static void put2(char *at, int v)
{
    at[0] = (char)('0' + v / 10 % 10);
    at[1] = (char)('0' + v % 10);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT", built by hand: strftime depends on the locale. */
static void format_date(char out[30], time_t t)
{
    struct tm tm;
    int year;
    gmtime_r(&t, &tm);
    year = tm.tm_year + 1900;
    if (year < 0 || year > 9999)
        year = 9999;
    memcpy(out, "Xxx, 00 Xxx 0000 00:00:00 GMT", 30);
    memcpy(out, wkday[tm.tm_wday % 7], 3);
    put2(out + 5, tm.tm_mday);
    memcpy(out + 8, month[tm.tm_mon % 12], 3);
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    put2(out + 17, tm.tm_hour);
    put2(out + 20, tm.tm_min);
    put2(out + 23, tm.tm_sec);
}

const char *cn_http_date(time_t now)
{
    static _Thread_local char cached[30];
    static _Thread_local time_t cached_at;
    static _Thread_local bool valid;
    if (!valid || cached_at != now) {
        format_date(cached, now);
        cached_at = now;
        valid = true;
    }
    return cached;
}

/* ---- reasons and canned errors ---------------------------------------------- */

static const struct {
    int code;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *cn_http_reason(int status)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(reasons); i++)
        if (reasons[i].code == status)
            return reasons[i].reason;
    return "Unknown";
}

void cn_http_error_response(cn_buf_t *out, int status)
{
    const char *reason = cn_http_reason(status);
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "<html><head><title>%s</title></head><body><h1><p>%s</p></h1></body></html>",
                     reason, reason);
    if (n < 0 || (size_t)n >= sizeof(body))
        n = 0;
    cn_buf_appendf(out,
                   "HTTP/1.1 %d %s\r\nServer: cunicorn\r\nDate: %s\r\nConnection: close\r\n"
                   "Content-Type: text/html\r\nContent-Length: %d\r\n\r\n",
                   status, reason, cn_http_date(time(NULL)), n);
    cn_buf_append(out, body, (size_t)n);
}
