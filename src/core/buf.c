/* buf.c - growable byte buffer (see buf.h). */
#include "cunicorn/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_buf_init(cn_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cn_buf_free(cn_buf_t *b)
{
    free(b->data);
    cn_buf_init(b);
}

void cn_buf_reserve(cn_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    b->data = cn_xrealloc(b->data, cap);
    b->cap = cap;
}

void cn_buf_append(cn_buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    cn_buf_reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

void cn_buf_append_str(cn_buf_t *b, const char *s) { cn_buf_append(b, s, strlen(s)); }

void cn_buf_vappendf(cn_buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n > 0) {
        cn_buf_reserve(b, (size_t)n + 1);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void cn_buf_appendf(cn_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cn_buf_vappendf(b, fmt, ap);
    va_end(ap);
}

void cn_buf_consume(cn_buf_t *b, size_t n) { cn_buf_cut(b, 0, n); }

void cn_buf_cut(cn_buf_t *b, size_t off, size_t n)
{
    if (off >= b->len)
        return;
    if (n > b->len - off)
        n = b->len - off;
    memmove(b->data + off, b->data + off + n, b->len - off - n);
    b->len -= n;
}
