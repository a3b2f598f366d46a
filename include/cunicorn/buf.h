/* buf.h - growable byte buffer: the only place I/O bytes are (re)allocated.
 * A buffer is always passed by handle (cn_buf_t *); functions never return a
 * moved pointer for the caller to store. */
#ifndef CUNICORN_BUF_H
#define CUNICORN_BUF_H

#include "cunicorn/common.h"
#include <stdarg.h>

typedef struct cn_buf {
    char *data; /* owned */
    size_t len;
    size_t cap;
} cn_buf_t;

#define CN_BUF_INIT {NULL, 0, 0}

void cn_buf_init(cn_buf_t *b);
/** Release the storage; the buffer is empty and reusable afterwards. */
void cn_buf_free(cn_buf_t *b);
/** Make room for at least extra more bytes after len (aborts on OOM). */
void cn_buf_reserve(cn_buf_t *b, size_t extra);
void cn_buf_append(cn_buf_t *b, const void *data, size_t n);
void cn_buf_append_str(cn_buf_t *b, const char *s);
void cn_buf_appendf(cn_buf_t *b, const char *fmt, ...) CN_PRINTF(2, 3);
void cn_buf_vappendf(cn_buf_t *b, const char *fmt, va_list ap);
/** Drop the first n bytes (memmove of the rest). */
void cn_buf_consume(cn_buf_t *b, size_t n);
/** Drop n bytes starting at off, moving what follows down. */
void cn_buf_cut(cn_buf_t *b, size_t off, size_t n);
static inline void cn_buf_reset(cn_buf_t *b) { b->len = 0; }

#endif
