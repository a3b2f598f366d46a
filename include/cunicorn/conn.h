/* conn.h - one client connection: its socket, read buffer, parser state and
 * the I/O every worker class shares.
 *
 * Owns: the accepted fd, the read buffer (request head + raw body bytes not
 * yet decoded + pipelined bytes), the decoded-body buffer, 100-continue, the
 * per-request deadlines, and the write path (writev, and sendfile for
 * bodies that are files).
 * Must not: include Python.h. Sockets are always non-blocking; where an
 * operation would block, conn calls its wait hook, which is what differs
 * between worker classes (poll(2) for sync and gthread pool threads, the
 * gevent hub for gevent).
 *
 * Buffer layout while a request is served:
 *
 *   rbuf: [ head (req.head_len) | raw body not yet decoded | next request... ]
 *   body: decoded body bytes not yet handed to the app, from body_off
 */
#ifndef CUNICORN_CONN_H
#define CUNICORN_CONN_H

#include "cunicorn/buf.h"
#include "cunicorn/http.h"
#include "cunicorn/metrics.h"
#include "cunicorn/proxy.h"
#include "cunicorn/sock.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Reads start small (idle connections stay small) and grow for bodies. */
#define CN_CONN_READ_MIN 4096
#define CN_CONN_READ_CHUNK 65536

/**
 * Wait until fd is ready for events (POLLIN or POLLOUT) or the absolute
 * monotonic deadline (cn_now() seconds; <= 0 means no deadline) passes.
 * Returns 0 when ready, -ETIMEDOUT, or another -errno; -ECANCELED means the
 * worker's runtime interrupted the wait and recorded why (the Python layer:
 * an exception is set). conn returns the hook's errors unchanged.
 */
typedef int (*cn_conn_wait_cb)(void *ctx, int fd, short events, double deadline);

/** The default wait: poll(2). */
int cn_conn_wait_poll(void *ctx, int fd, short events, double deadline);

/* Per-worker settings for every connection (cn_conn_set_options). */
typedef struct cn_conn_options {
    cn_http_options_t http;             /* parser options */
    uint8_t proxy_protocol;             /* enum cn_proxy_protocol_mode: which
                                           PROXY preamble may come first */
    const cn_proxy_allow_t *forwarded_allow; /* borrowed: forwarded_allow_ips,
                                                the peers trusted for scheme
                                                headers; valid for the worker's
                                                life */
    const cn_proxy_allow_t *proxy_allow; /* borrowed: proxy_allow_ips, the
                                           peers that may send a preamble */
    cn_metrics_slot_t *metrics;         /* borrowed: the worker's slot, or NULL */
} cn_conn_options_t;

/* Why a connection cannot go on: what to answer and what to log. */
typedef struct cn_conn_error {
    int status;                      /* 4xx to answer; 0 while there is none */
    const char *reason;              /* static, for the log */
} cn_conn_error_t;

typedef struct cn_conn {
    int fd;                          /* owned */
    const cn_listener_t *listener;   /* borrowed: valid for the worker's life */
    char peer_host[64];              /* REMOTE_ADDR: the socket's peer, or the
                                        client a PROXY preamble names */
    int peer_port;                   /* REMOTE_PORT */
    bool peer_trusted;               /* the socket's peer (the proxy, not the
                                        client a preamble names) is in
                                        forwarded_allow_ips */
    const cn_proxy_allow_t *_pp_allow; /* borrowed: cn_conn_options_t */
    bool _pp_pending;                /* a PROXY preamble may still come */
    uint8_t _pp_mode;                /* enum cn_proxy_protocol_mode */

    cn_buf_t rbuf;                   /* owned */
    cn_http_parser_t parser;
    cn_http_request_t req;           /* spans into rbuf */
    size_t raw_off;                  /* rbuf offset of the next raw body byte */
    cn_buf_t body;                   /* owned: decoded, not yet read by the app */
    size_t body_off;
    bool continue_sent;              /* "100 Continue" written */

    cn_conn_wait_cb wait;
    void *wait_ctx;
    double io_timeout;               /* seconds for one read/write wait, set
                                        by the worker class (0: no limit) */
    cn_conn_error_t error;           /* set by cn_conn_fail */

    uint64_t requests;               /* served on this connection */
    double head_at;                  /* cn_now() when the request head was parsed */
    cn_metrics_slot_t *metrics;      /* borrowed: cn_conn_options_t */
    bool _idle;                      /* counted as a keep-alive connection */
    int _answer;                     /* atomic enum cn_conn_answer: who answers
                                        the request in flight */
} cn_conn_t;

/* request_timeout: a request past its deadline is answered by whoever gets
 * there first, the app's response (its first write) or the deadline's 503,
 * decided by one compare-and-swap, so a worker's watchdog can answer while
 * the app still runs in another thread, greenlet or an interrupted call. */
enum cn_conn_answer { CN_ANSWER_OPEN, CN_ANSWER_APP, CN_ANSWER_DEADLINE };

/** Take ownership of an accepted, non-blocking fd. */
void cn_conn_init(cn_conn_t *c, int fd, const struct sockaddr *peer, socklen_t peerlen,
                  const cn_listener_t *listener, const cn_http_limits_t *limits);
/** Apply the worker's options; call right after cn_conn_init (without it a
 * connection has the defaults: no PROXY protocol, default parsing). */
void cn_conn_set_options(cn_conn_t *c, const cn_conn_options_t *opts);
/** Close the fd (if open) and free the buffers. */
void cn_conn_close(cn_conn_t *c);

/**
 * Non-blocking: read what the socket has and parse. Returns 0 when a head is
 * complete, -EAGAIN when more bytes are needed, and otherwise as
 * cn_conn_read_head().
 */
int cn_conn_try_read_head(cn_conn_t *c) CN_NODISCARD;

/** One non-blocking recv into rbuf: bytes read, 0 at EOF, -EAGAIN, -EPIPE
 * (reset), or another -errno. */
ssize_t cn_conn_recv_nowait(cn_conn_t *c) CN_NODISCARD;

/**
 * Read and parse a request head, waiting up to deadline. Returns 0 when a
 * head is parsed; -EPIPE if the peer closed or reset before sending a byte of
 * this request (nothing to answer); -ETIMEDOUT; -EPROTO for a bad request
 * (c->error says what to answer and log); other -errno.
 * With proxy_protocol, a PROXY preamble before the first request is read
 * and removed first: from a peer outside proxy_allow it is -EPROTO with 403,
 * a malformed one, or one of a version the mode excludes, -EPROTO with 400;
 * a good one sets peer_host/peer_port to
 * the client it names. The parser's rewrites (cn_http_request_rewrite) are
 * applied to rbuf when a head is complete.
 */
int cn_conn_read_head(cn_conn_t *c, double deadline) CN_NODISCARD;

/**
 * Make decoded body bytes available in c->body (from c->body_off). Sends
 * "100 Continue" first if the client asked for it. Returns the number of new
 * decoded bytes (> 0), 0 at the end of the body, -EPROTO for a malformed body
 * (c->error set), -ETIMEDOUT, -EPIPE (peer closed early), -errno.
 */
ssize_t cn_conn_body_fill(cn_conn_t *c) CN_NODISCARD;

/** Mark n decoded bytes (from body_off) as consumed by the app. */
void cn_conn_body_consume(cn_conn_t *c, size_t n);

/** Read and discard the rest of the body (before keep-alive reuse). Returns 0
 * or a negative code as cn_conn_body_fill. Stops after limit bytes (-E2BIG). */
int cn_conn_body_drain(cn_conn_t *c, uint64_t limit) CN_NODISCARD;

/** Write everything, waiting as needed (io_timeout per wait). 0 or -errno. */
int cn_conn_writev_all(cn_conn_t *c, struct iovec *iov, int iovcnt) CN_NODISCARD;
int cn_conn_write_all(cn_conn_t *c, const void *data, size_t len) CN_NODISCARD;

/**
 * One non-blocking sendfile(2): up to len bytes of in_fd (a regular file,
 * borrowed) from *offset, which is advanced by what was sent; the file's
 * own position is not used or moved. Returns the bytes sent (> 0), 0 when
 * the file ends before *offset, -EAGAIN when the socket is full (wait with
 * cn_conn_wait_writable), or another -errno (-EINVAL, -ENOSYS: this file
 * cannot be sent so). Touches no shared state but the socket, so callers
 * may run it without any lock (the Python layer: without the GIL).
 */
ssize_t cn_conn_sendfile_nowait(cn_conn_t *c, int in_fd, off_t *offset, size_t len)
    CN_NODISCARD;

/** Hold partial segments back (on) until the body follows, then let them go
 * (off: what is queued is sent at once): TCP_CORK, so the head and the
 * first bytes of a file share segments. Best effort: a unix socket has no
 * such option, and nothing depends on it. */
void cn_conn_cork(cn_conn_t *c, bool on);

/** Wait, through the worker's hook, until the socket takes more bytes
 * (io_timeout). 0, or the hook's error (-ETIMEDOUT, -ECANCELED, ...). */
int cn_conn_wait_writable(cn_conn_t *c) CN_NODISCARD;

/** Send a canned error response for status (Connection: close). */
void cn_conn_send_error(cn_conn_t *c, int status);

/** Record why the connection cannot go on (the first reason wins: a
 * connection fails once). Returns -EPROTO, for `return cn_conn_fail(...)`. */
int cn_conn_fail(cn_conn_t *c, int status, const char *reason);

/** Answer a failed connection (c->error; 400 if none was recorded) and log
 * it at info level. The caller closes the connection. */
void cn_conn_reject(cn_conn_t *c);

/**
 * After a response on a kept-alive connection: drop this request's head and
 * body bytes from rbuf, keep pipelined bytes, reset the parser and request.
 */
void cn_conn_next_request(cn_conn_t *c);

/** The request on c ran past its deadline: answer 503 Service Unavailable
 * (Connection: close) unless the response has begun, then shut the socket
 * down both ways, so the app's reads and writes fail from now on (the fd
 * stays open until its owner closes it). Returns whether the 503 went out.
 * Callable from any thread and from a signal handler; once per request. */
bool cn_conn_deadline_expire(cn_conn_t *c);

/** "METHOD TARGET" of the request whose head was read, truncated to fit
 * buf, for log lines written where the request may no longer be read. */
void cn_conn_request_line(const cn_conn_t *c, char *buf, size_t len);

/** Whether the deadline took the request over (cn_conn_deadline_expire). */
bool cn_conn_deadline_hit(const cn_conn_t *c);

/** The bytes of a request span (borrowed from rbuf). */
static inline const char *cn_conn_span(const cn_conn_t *c, cn_span_t s)
{
    return c->rbuf.data + s.off;
}

#endif
