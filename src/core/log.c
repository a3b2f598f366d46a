/* log.c - error log and access log sinks, levels, reopen, and the
 * access-log format renderer.
 *
 * Owns: the two log file descriptors (error log, access log), their paths,
 * the error-log level and the access-log format string.
 * Must not: include Python.h, allocate shared scratch buffers (every record is
 * built in a buffer local to the calling thread), or write a record with more
 * than one write(2) call unless the kernel returns a short write.
 *
 * Thread model: open/close/reopen are called from the main thread of a
 * process (arbiter or worker) while other threads may be logging. Reopen
 * keeps the fd numbers stable by dup2()ing the new file onto the old number,
 * so a thread that has just read the fd always writes to a valid file. */
#define _GNU_SOURCE /* dup3 */
#include "cunicorn/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct log_sink {
    int fd;     /* owned unless it is stdout/stderr; -1 = off */
    char *path; /* owned; NULL for stdout/stderr */
} log_sink_t;

static void sink_close(log_sink_t *s);
static int sink_open(log_sink_t *s, const char *path, int std_fd, char *err);
static void sink_reopen(log_sink_t *s);
static void write_all(int fd, const char *p, size_t n);
static void append_local_time(cn_buf_t *out, time_t when, bool access_style);
static void append_escaped(cn_buf_t *out, const char *s, size_t n);
static void render_atom(cn_buf_t *out, const char *name, size_t nlen, const cn_access_entry_t *e);
static bool atom_basic_user(cn_buf_t *out, const cn_access_entry_t *e);
static const char *lookup(const cn_access_entry_t *e, char kind, const char *name, size_t *len);

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_t error_sink = {STDERR_FILENO, NULL};
static log_sink_t access_sink = {-1, NULL};
static volatile int error_level = CN_LOG_INFO;
/* owned; NULL = default. Replaced only by cn_access_log_open/close, which
 * run before worker threads start or after they stop. */
static char *access_format;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- sinks ---------------------------------------------------------------- */

int cn_log_level_parse(const char *name)
{
    if (name != NULL && cn_strcase_eq(name, strlen(name), "warn"))
        return CN_LOG_WARNING; /* Python's logging spells it both ways */
    for (size_t i = 0; i < CN_ARRAY_LEN(level_names); i++) {
        if (name != NULL && cn_strcase_eq(name, strlen(name), level_names[i]))
            return (int)i;
    }
    return -1;
}

static void sink_close(log_sink_t *s)
{
    if (s->path != NULL && s->fd >= 0)
        close(s->fd);
    free(s->path);
    s->path = NULL;
    s->fd = -1;
}

/* "-" selects std_fd; anything else is opened for appending, as Python's
 * logging.FileHandler does (mode 'a', 0666 & ~umask). */
static int sink_open(log_sink_t *s, const char *path, int std_fd, char *err)
{
    int fd;
    if (strcmp(path, "-") == 0) {
        sink_close(s);
        s->fd = std_fd;
        return 0;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return cn_err(err, "Error: '%s' isn't writable [%s]", path, strerror(errno));
    sink_close(s);
    s->fd = fd;
    s->path = cn_xstrdup(path);
    return 0;
}

static bool capture_output; /* fds 1 and 2 follow the error log file */

/* capture_output: stdout and stderr become the error log file. */
static void capture_std(void)
{
    if (!capture_output || error_sink.path == NULL || error_sink.fd < 0)
        return;
    dup2(error_sink.fd, STDOUT_FILENO);
    dup2(error_sink.fd, STDERR_FILENO);
}

static void sink_reopen(log_sink_t *s)
{
    int fd;
    if (s->path == NULL || s->fd < 0)
        return;
    fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return; /* keep writing to the old file rather than losing lines */
    /* dup3 keeps the fd number (threads may hold it) and sets O_CLOEXEC */
    if (dup3(fd, s->fd, O_CLOEXEC) < 0) {
        close(s->fd);
        s->fd = fd;
        return;
    }
    close(fd);
}

int cn_log_open(const char *path, enum cn_log_level level, char *err)
{
    int rc;
    pthread_mutex_lock(&log_lock);
    rc = sink_open(&error_sink, path == NULL ? "-" : path, STDERR_FILENO, err);
    if (rc == 0)
        error_level = (int)level;
    pthread_mutex_unlock(&log_lock);
    return rc;
}

int cn_access_log_open(const char *path, const char *format, char *err)
{
    int rc = 0;
    pthread_mutex_lock(&log_lock);
    if (path == NULL)
        sink_close(&access_sink);
    else
        rc = sink_open(&access_sink, path, STDOUT_FILENO, err);
    if (rc == 0) {
        free(access_format);
        access_format = format != NULL ? cn_xstrdup(format) : NULL;
    }
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void cn_log_reopen(void)
{
    pthread_mutex_lock(&log_lock);
    sink_reopen(&error_sink);
    sink_reopen(&access_sink);
    capture_std();
    pthread_mutex_unlock(&log_lock);
}

void cn_log_capture_output(void)
{
    pthread_mutex_lock(&log_lock);
    capture_output = true;
    capture_std();
    pthread_mutex_unlock(&log_lock);
}

void cn_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    sink_close(&error_sink);
    error_sink.fd = STDERR_FILENO;
    sink_close(&access_sink);
    free(access_format);
    access_format = NULL;
    pthread_mutex_unlock(&log_lock);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing log */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* ---- error log ------------------------------------------------------------ */

bool cn_log_enabled(enum cn_log_level level) { return (int)level >= error_level; }

/* Local time as "[2026-11-21 22:35:16 +0000]" (error log) or
 * "[21/Nov/2026:22:35:16 +0000]" (access log). Built by hand so the result
 * does not depend on LC_TIME. */
static void append_local_time(cn_buf_t *out, time_t when, bool access_style)
{
    struct tm tm;
    long off;
    char sign = '+';

    localtime_r(&when, &tm);
    off = tm.tm_gmtoff / 60;
    if (off < 0) {
        sign = '-';
        off = -off;
    }
    if (access_style)
        cn_buf_appendf(out, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]", tm.tm_mday,
                       month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       sign, off / 60, off % 60);
    else
        cn_buf_appendf(out, "[%04d-%02d-%02d %02d:%02d:%02d %c%02ld%02ld]", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
                       off % 60);
}

void cn_log_format_line(cn_buf_t *out, time_t when, pid_t pid, enum cn_log_level level,
                        const char *msg, size_t len)
{
    unsigned lv = (unsigned)level < CN_ARRAY_LEN(level_names) ? (unsigned)level : CN_LOG_CRITICAL;
    append_local_time(out, when, false);
    cn_buf_appendf(out, " [%ld] [%s] ", (long)pid, level_names[lv]);
    cn_buf_append(out, msg, len);
    cn_buf_append(out, "\n", 1);
}

void cn_log_raw(enum cn_log_level level, const char *msg, size_t len)
{
    cn_buf_t line = CN_BUF_INIT;
    int fd;

    if (!cn_log_enabled(level))
        return;
    /* a traceback arrives with its own trailing newline; the record adds one */
    if (len > 0 && msg[len - 1] == '\n')
        len--;
    cn_log_format_line(&line, time(NULL), getpid(), level, msg, len);
    fd = error_sink.fd;
    if (fd >= 0)
        write_all(fd, line.data, line.len);
    cn_buf_free(&line);
}

void cn_log(enum cn_log_level level, const char *fmt, ...)
{
    cn_buf_t msg = CN_BUF_INIT;
    va_list ap;

    if (!cn_log_enabled(level))
        return;
    va_start(ap, fmt);
    cn_buf_vappendf(&msg, fmt, ap);
    va_end(ap);
    cn_log_raw(level, msg.data != NULL ? msg.data : "", msg.len);
    cn_buf_free(&msg);
}

/* ---- access log ----------------------------------------------------------- */

bool cn_access_log_enabled(void) { return access_sink.fd >= 0; }

static const char *lookup(const cn_access_entry_t *e, char kind, const char *name, size_t *len)
{
    if (e->lookup == NULL)
        return NULL;
    return e->lookup(e->lookup_ctx, kind, name, strlen(name), len);
}

/* Gunicorn's SafeAtoms escapes '"' in every string atom as \" */
static void append_escaped(cn_buf_t *out, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            cn_buf_append(out, s + start, i - start);
            cn_buf_append(out, "\\\"", 2);
            start = i + 1;
        }
    }
    cn_buf_append(out, s + start, n - start);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Python's b64decode (validate=False): characters outside the alphabet are
 * skipped, decoding stops at '=', leftover bits must form whole bytes. */
static bool b64_decode(const char *s, size_t n, cn_buf_t *out)
{
    unsigned acc = 0;
    int bits = 0, count = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        count++;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xff);
            cn_buf_append(out, &c, 1);
        }
    }
    return count % 4 != 1;
}

/* %(u)s: the user name of an "Authorization: Basic ..." header */
static bool atom_basic_user(cn_buf_t *out, const cn_access_entry_t *e)
{
    size_t len = 0, i;
    const char *auth = lookup(e, 'i', "authorization", &len);
    cn_buf_t dec = CN_BUF_INIT;
    const char *colon;
    bool ok = false;

    if (auth == NULL || len < 5 || !cn_strcase_eq(auth, 5, "basic"))
        return false;
    for (i = 0; i < len && auth[i] != ' '; i++)
        ;
    if (i == len)
        return false;
    if (!b64_decode(auth + i + 1, len - i - 1, &dec) || dec.len == 0)
        goto done;
    colon = memchr(dec.data, ':', dec.len);
    if (colon != NULL) {
        append_escaped(out, dec.data, (size_t)(colon - dec.data));
        ok = true;
    }
done:
    cn_buf_free(&dec);
    return ok;
}

static void append_or_dash(cn_buf_t *out, const char *s, size_t n)
{
    if (s == NULL)
        cn_buf_append(out, "-", 1);
    else
        append_escaped(out, s, n);
}

/* One case per Gunicorn atom: longer than 60 lines because it is the atom
 * table itself, and splitting it would scatter that table. */
static void render_atom(cn_buf_t *out, const char *name, size_t nlen, const cn_access_entry_t *e)
{
    double dur = e->duration < 0 ? 0 : e->duration;
    long long usec = (long long)(dur * 1e6 + 0.5);
    size_t vlen = 0;
    const char *v;

    if (nlen >= 3 && name[0] == '{' && name[nlen - 2] == '}') {
        char kind = name[nlen - 1];
        char key[256];
        size_t klen = nlen - 3;
        if ((kind != 'i' && kind != 'o' && kind != 'e') || klen >= sizeof(key)) {
            cn_buf_append(out, "-", 1);
            return;
        }
        memcpy(key, name + 1, klen);
        key[klen] = '\0';
        v = lookup(e, kind, key, &vlen);
        append_or_dash(out, v, vlen);
        return;
    }
    if (nlen != 1) {
        cn_buf_append(out, "-", 1);
        return;
    }
    switch (name[0]) {
    case 'h':
        append_or_dash(out, e->remote_addr, e->remote_addr ? strlen(e->remote_addr) : 0);
        break;
    case 'l':
        cn_buf_append(out, "-", 1);
        break;
    case 'u':
        if (!atom_basic_user(out, e))
            cn_buf_append(out, "-", 1);
        break;
    case 't':
        append_local_time(out, e->when, true);
        break;
    case 'r':
        append_escaped(out, e->method ? e->method : "", e->method_len);
        cn_buf_append(out, " ", 1);
        append_escaped(out, e->raw_uri ? e->raw_uri : "", e->raw_uri_len);
        cn_buf_append(out, " ", 1);
        append_or_dash(out, e->protocol, e->protocol ? strlen(e->protocol) : 0);
        break;
    case 's':
        cn_buf_appendf(out, "%d", e->status);
        break;
    case 'm':
        append_or_dash(out, e->method, e->method_len);
        break;
    case 'U':
        append_or_dash(out, e->path, e->path_len);
        break;
    case 'q':
        append_or_dash(out, e->query, e->query_len);
        break;
    case 'H':
        append_or_dash(out, e->protocol, e->protocol ? strlen(e->protocol) : 0);
        break;
    case 'b':
        if (e->sent < 0)
            cn_buf_append(out, "-", 1);
        else
            cn_buf_appendf(out, "%lld", (long long)e->sent);
        break;
    case 'B':
        cn_buf_appendf(out, "%lld", (long long)(e->sent < 0 ? 0 : e->sent));
        break;
    case 'f':
        v = lookup(e, 'i', "referer", &vlen);
        append_or_dash(out, v, vlen);
        break;
    case 'a':
        v = lookup(e, 'i', "user-agent", &vlen);
        append_or_dash(out, v, vlen);
        break;
    case 'T':
        cn_buf_appendf(out, "%lld", usec / 1000000);
        break;
    case 'D':
        cn_buf_appendf(out, "%lld", usec);
        break;
    case 'M':
        cn_buf_appendf(out, "%lld", usec / 1000);
        break;
    case 'L':
        cn_buf_appendf(out, "%lld.%06lld", usec / 1000000, usec % 1000000);
        break;
    case 'p':
        cn_buf_appendf(out, "<%ld>", (long)e->pid);
        break;
    default:
        cn_buf_append(out, "-", 1);
        break;
    }
}

/* Python %-formatting with a mapping: "%(name)<flags><width><conv>" and
 * "%%". Width and the '-' flag pad as Python does; the conversion letter is
 * accepted but every atom renders as its string form. Anything that is not a
 * complete directive is copied literally. */
void cn_access_log_format(cn_buf_t *out, const char *fmt, const cn_access_entry_t *e)
{
    const char *p = fmt != NULL ? fmt : CN_ACCESS_LOG_DEFAULT_FORMAT;

    while (*p != '\0') {
        const char *pct = strchr(p, '%'), *name, *close, *q;
        bool left = false;
        size_t width = 0, start;

        if (pct == NULL) {
            cn_buf_append_str(out, p);
            return;
        }
        cn_buf_append(out, p, (size_t)(pct - p));
        if (pct[1] == '%') {
            cn_buf_append(out, "%", 1);
            p = pct + 2;
            continue;
        }
        close = pct[1] == '(' ? strchr(pct + 2, ')') : NULL;
        if (close == NULL) {
            cn_buf_append(out, "%", 1);
            p = pct + 1;
            continue;
        }
        name = pct + 2;
        for (q = close + 1; *q == '-' || *q == '#' || *q == '0' || *q == ' ' || *q == '+'; q++)
            left = left || *q == '-';
        for (; *q >= '0' && *q <= '9'; q++)
            width = width * 10 + (size_t)(*q - '0');
        if (*q == '\0' || strchr("sdirfgeuxXoac", *q) == NULL) {
            cn_buf_append(out, pct, (size_t)(q - pct));
            p = q;
            continue;
        }
        start = out->len;
        render_atom(out, name, (size_t)(close - name), e);
        while (out->len - start < width) {
            if (left) {
                cn_buf_append(out, " ", 1);
            } else {
                cn_buf_reserve(out, 1);
                memmove(out->data + start + 1, out->data + start, out->len - start);
                out->data[start] = ' ';
                out->len++;
            }
        }
        p = q + 1;
    }
}

void cn_access_log_write(const cn_access_entry_t *e)
{
    cn_buf_t line = CN_BUF_INIT;
    int fd = access_sink.fd;

    if (fd < 0)
        return;
    cn_access_log_format(&line, access_format, e);
    cn_buf_append(&line, "\n", 1);
    write_all(fd, line.data, line.len);
    cn_buf_free(&line);
}
