/* http_chars.h - the character classes of HTTP's grammar, in one place:
 * token characters, optional whitespace, control bytes and hex digits.
 * Every parser of HTTP syntax (request head, chunked body, response
 * headers from the app, the environ's percent-decoding, config lists of
 * header names) uses these, so a rule is written once.
 * Must not: include Python.h. */
#ifndef CUNICORN_HTTP_CHARS_H
#define CUNICORN_HTTP_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Lowercase hex digits, for writing chunk sizes. */
#define CN_HEX_DIGITS "0123456789abcdef"

/** RFC 9110 5.6.2: tchar, the bytes of a token (method, field name). */
static inline bool cn_http_is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/** RFC 9110 5.6.3: OWS / BWS are SP and HTAB only. */
static inline bool cn_http_is_ows(char c) { return c == ' ' || c == '\t'; }

/** A control byte a field value may not hold (RFC 9110 5.5: HTAB is
 * allowed, the other C0 controls and DEL are not). */
static inline bool cn_http_is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/** The value of a hex digit (RFC 5234 HEXDIG, either case), or -1. */
static inline int cn_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/** Trim OWS from both ends of the counted string *s / *n. */
static inline void cn_http_trim_ows(const char **s, size_t *n)
{
    while (*n > 0 && cn_http_is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && cn_http_is_ows((*s)[*n - 1]))
        (*n)--;
}

#endif
