/* common.h - small definitions every module shares: spans, error buffers,
 * checked allocation, attributes. No Python, no libev. */
#ifndef CUNICORN_COMMON_H
#define CUNICORN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define CN_VERSION "0.1.0"
#define CN_SERVER_SOFTWARE "cunicorn/" CN_VERSION

/* Size of the error buffers lower layers fill ("report low, decide high"). */
#define CN_ERR_LEN 256

#define CN_NODISCARD __attribute__((warn_unused_result))
#define CN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define cn_container_of(ptr, type, member)                                     \
    ((type *)((char *)(ptr)-offsetof(type, member)))

/* A slice of a buffer: offsets survive a realloc of the buffer. */
typedef struct cn_span {
    uint32_t off;
    uint32_t len;
} cn_span_t;

/* Parser results (style.md section 4). */
enum cn_parse { CN_PARSE_DONE, CN_PARSE_AGAIN, CN_PARSE_ERROR };

/** Allocation that never returns NULL: aborts the process on OOM. */
void *cn_xmalloc(size_t size);
void *cn_xcalloc(size_t n, size_t size);
void *cn_xrealloc(void *p, size_t size);
char *cn_xstrdup(const char *s);
char *cn_xstrndup(const char *s, size_t n);

/** snprintf into err (CN_ERR_LEN bytes); NULL err is allowed. Returns -1. */
int cn_err(char *err, const char *fmt, ...) CN_PRINTF(2, 3);

/** ASCII case-insensitive comparison of a counted string with a C string. */
bool cn_strcase_eq(const char *a, size_t alen, const char *b);

/** Parse a non-negative decimal integer made only of digits (no sign, no
 * spaces); 0 on success, -1 on empty input, junk or overflow of max. */
int cn_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out) CN_NODISCARD;

/** Monotonic clock in seconds. */
double cn_now(void);

#endif
