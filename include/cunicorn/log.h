/* log.h - error log and access log.
 *
 * Owns: Gunicorn's error log line format "[%Y-%m-%d %H:%M:%S %z] [PID] [LEVEL]
 * message", levels, log file sinks ("-" = stderr for the error log, stdout
 * for the access log), reopen (SIGUSR1), and the access_log_format renderer
 * with Gunicorn's atoms.
 * Must not: include Python.h. Each line is written with a single write(2) so
 * lines from threads and processes sharing a file never interleave. */
#ifndef CUNICORN_LOG_H
#define CUNICORN_LOG_H

#include "cunicorn/buf.h"
#include "cunicorn/common.h"

#include <sys/types.h>
#include <time.h>

enum cn_log_level {
    CN_LOG_DEBUG,
    CN_LOG_INFO,
    CN_LOG_WARNING,
    CN_LOG_ERROR,
    CN_LOG_CRITICAL,
};

/** Level by Gunicorn's name (debug, info, warning, error, critical; case
 * insensitive); -1 if unknown. */
int cn_log_level_parse(const char *name);

/** Open the error log: path NULL or "-" = stderr. Returns 0 or -1 + err. */
int cn_log_open(const char *path, enum cn_log_level level, char *err) CN_NODISCARD;
/** Open the access log: NULL = off, "-" = stdout. format NULL = default. */
int cn_access_log_open(const char *path, const char *format, char *err) CN_NODISCARD;
/** Reopen both files (after rotation). */
void cn_log_reopen(void);
/** capture_output: point stdout and stderr (fds 1 and 2) at the error log
 * file, now and after each cn_log_reopen. Nothing when it is stderr. */
void cn_log_capture_output(void);
void cn_log_close(void);

bool cn_log_enabled(enum cn_log_level level);
void cn_log(enum cn_log_level level, const char *fmt, ...) CN_PRINTF(2, 3);
/** Log a message that may span lines (a traceback) as one record. */
void cn_log_raw(enum cn_log_level level, const char *msg, size_t len);

#define cn_log_debug(...) cn_log(CN_LOG_DEBUG, __VA_ARGS__)
#define cn_log_info(...) cn_log(CN_LOG_INFO, __VA_ARGS__)
#define cn_log_warning(...) cn_log(CN_LOG_WARNING, __VA_ARGS__)
#define cn_log_error(...) cn_log(CN_LOG_ERROR, __VA_ARGS__)
#define cn_log_critical(...) cn_log(CN_LOG_CRITICAL, __VA_ARGS__)

/** Format one error-log line into out (no write); used by cn_log and tests. */
void cn_log_format_line(cn_buf_t *out, time_t when, pid_t pid, enum cn_log_level level,
                        const char *msg, size_t len);

/* ---- access log -------------------------------------------------------- */

#define CN_ACCESS_LOG_DEFAULT_FORMAT                                           \
    "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\""

/* Lookups for {name}i (request header), {name}o (response header) and
 * {name}e (environ). Returns the value (length in *len) or NULL if absent. */
typedef const char *(*cn_access_lookup_cb)(void *ctx, char kind, const char *name,
                                           size_t name_len, size_t *len);

typedef struct cn_access_entry {
    const char *remote_addr;  /* h */
    const char *method;       /* m */
    size_t method_len;
    const char *raw_uri;      /* in r */
    size_t raw_uri_len;
    const char *path;         /* U: path without the query */
    size_t path_len;
    const char *query;        /* q */
    size_t query_len;
    const char *protocol;     /* H: "HTTP/1.1" */
    int status;               /* s */
    int64_t sent;             /* b/B: body bytes sent, -1 = unknown */
    time_t when;              /* t: request start (wall clock) */
    double duration;          /* T/D/L/M: seconds */
    pid_t pid;                /* p */
    cn_access_lookup_cb lookup; /* i/o/e and f, a, u */
    void *lookup_ctx;
} cn_access_entry_t;

/** Whether the access log is on (so callers can skip gathering an entry). */
bool cn_access_log_enabled(void);
/** Render fmt (Gunicorn's %(atom)s syntax) for e into out, no newline. */
void cn_access_log_format(cn_buf_t *out, const char *fmt, const cn_access_entry_t *e);
/** Render with the configured format and write one line. */
void cn_access_log_write(const cn_access_entry_t *e);

#endif
