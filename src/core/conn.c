/* conn.c - one client connection's I/O, shared by every worker class.
 *
 * Owns: the accepted fd, rbuf/body buffers, reading and parsing a request
 * head within a deadline, decoding the body on demand (so an upload is never
 * buffered whole), 100-continue, writing with bounded waits (writev, and one
 * sendfile at a time for a file body), keep-alive reuse.
 * Must not: include Python.h or decide policy (keep-alive, timeouts): the
 * worker class passes deadlines and decides.
 *
 * Sockets are non-blocking. Every operation that would block calls
 * c->wait(), the one hook that differs between worker classes. */
#include "cunicorn/conn.h"
#include "cunicorn/log.h"
#include "cunicorn/proxy_protocol.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONTINUE_LINE "HTTP/1.1 100 Continue\r\n\r\n"

static ssize_t recv_some(cn_conn_t *c, double deadline);
static int send_continue(cn_conn_t *c);
static int read_preamble(cn_conn_t *c);
static int parser_failed(cn_conn_t *c);

/* The deadline for one read or write wait. */
static double io_deadline(const cn_conn_t *c)
{
    return c->io_timeout > 0 ? cn_now() + c->io_timeout : 0;
}

int cn_conn_wait_poll(void *ctx, int fd, short events, double deadline)
{
    (void)ctx;
    for (;;) {
        int ms = -1;
        if (deadline > 0) {
            double left = deadline - cn_now();
            if (left <= 0)
                return -ETIMEDOUT;
            ms = (int)(left * 1000) + 1;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, ms);
        if (n > 0)
            return 0;
        if (n == 0)
            continue; /* re-check the deadline */
        if (errno != EINTR)
            return -errno;
    }
}

void cn_conn_init(cn_conn_t *c, int fd, const struct sockaddr *peer, socklen_t peerlen,
                  const cn_listener_t *listener, const cn_http_limits_t *limits)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->listener = listener;
    cn_sock_peer_name(peer, peerlen, c->peer_host, sizeof(c->peer_host), &c->peer_port);
    cn_buf_init(&c->rbuf);
    cn_buf_init(&c->body);
    cn_http_parser_init(&c->parser, limits);
    cn_http_request_init(&c->req);
    c->wait = cn_conn_wait_poll;
}

void cn_conn_set_options(cn_conn_t *c, const cn_conn_options_t *opts)
{
    cn_http_parser_set_options(&c->parser, &opts->http);
    c->_pp_allow = opts->proxy_allow;
    c->metrics = opts->metrics;
    c->_pp_mode = opts->proxy_protocol;
    c->peer_trusted = opts->forwarded_allow != NULL &&
                      cn_proxy_allow_match(opts->forwarded_allow, c->peer_host);
    c->_pp_pending =
        opts->proxy_protocol != CN_PROXY_PROTOCOL_OFF && c->requests == 0 && c->rbuf.len == 0;
}

/* Keep-alive: a connection counts as idle from one response to the next
 * request's head (or its close). */
static void set_idle(cn_conn_t *c, bool idle)
{
    if (c->_idle != idle)
        cn_metrics_keepalive(c->metrics, idle ? 1 : -1);
    c->_idle = idle;
}

void cn_conn_close(cn_conn_t *c)
{
    set_idle(c, false);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    cn_buf_free(&c->rbuf);
    cn_buf_free(&c->body);
    cn_http_request_free(&c->req);
}

ssize_t cn_conn_recv_nowait(cn_conn_t *c)
{
    for (;;) {
        if (c->rbuf.cap - c->rbuf.len < CN_CONN_READ_MIN)
            cn_buf_reserve(&c->rbuf, c->rbuf.len < CN_CONN_READ_CHUNK ? CN_CONN_READ_MIN
                                                                       : CN_CONN_READ_CHUNK);
        ssize_t n = recv(c->fd, c->rbuf.data + c->rbuf.len, c->rbuf.cap - c->rbuf.len, 0);
        if (n >= 0) {
            c->rbuf.len += (size_t)n;
            cn_metrics_bytes_in(c->metrics, (uint64_t)n);
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return errno == ECONNRESET ? -EPIPE : -errno;
    }
}

/* Read once, waiting as needed: bytes read, 0 on EOF, or -errno
 * (-ETIMEDOUT when the deadline passes). */
static ssize_t recv_some(cn_conn_t *c, double deadline)
{
    for (;;) {
        ssize_t n = cn_conn_recv_nowait(c);
        if (n != -EAGAIN)
            return n;
        int rc = c->wait(c->wait_ctx, c->fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

/* The PROXY preamble, before the first request only. Gunicorn checks the
 * peer as soon as it sees one, so an untrusted peer gets 403 whatever
 * follows. 0 when done (or there is none; rbuf then starts at the request),
 * -EAGAIN for more bytes, -EPROTO with c->error. */
static int read_preamble(cn_conn_t *c)
{
    cn_proxy_protocol_info_t info;
    size_t used = 0;
    const char *why = NULL;
    enum cn_proxy_protocol_result r =
        cn_proxy_protocol_parse(c->rbuf.data, c->rbuf.len, &info, &used, &why);
    if (r == CN_PROXY_PROTOCOL_NONE) {
        c->_pp_pending = false;
        return 0;
    }
    if (info.version != 0 && (c->_pp_allow == NULL ||
                              !cn_proxy_allow_match(c->_pp_allow, c->peer_host))) {
        return cn_conn_fail(c, 403,
                            "PROXY protocol preamble from a peer not in proxy_allow_ips");
    }
    if ((info.version == 1 && c->_pp_mode == CN_PROXY_PROTOCOL_V2) ||
        (info.version == 2 && c->_pp_mode == CN_PROXY_PROTOCOL_V1))
        return cn_conn_fail(c, 400,
                            info.version == 1 ? "PROXY protocol v1 preamble, proxy_protocol is v2"
                                              : "PROXY protocol v2 preamble, proxy_protocol is v1");
    if (r == CN_PROXY_PROTOCOL_AGAIN)
        return -EAGAIN;
    if (r == CN_PROXY_PROTOCOL_ERROR)
        return cn_conn_fail(c, 400, why);
    if (!info.local) {
        snprintf(c->peer_host, sizeof(c->peer_host), "%s", info.src_host);
        c->peer_port = info.src_port;
    }
    cn_buf_consume(&c->rbuf, used);
    c->_pp_pending = false;
    return 0;
}

int cn_conn_try_read_head(cn_conn_t *c)
{
    for (;;) {
        int rc = c->_pp_pending && c->rbuf.len > 0 ? read_preamble(c) : 0;
        if (rc == -EPROTO)
            return rc;
        if (rc == 0 && c->rbuf.len > 0) {
            enum cn_parse r = cn_http_parse_head(&c->parser, &c->req, c->rbuf.data, c->rbuf.len);
            if (r == CN_PARSE_DONE) {
                cn_http_request_rewrite(&c->parser, &c->req, c->rbuf.data);
                c->raw_off = c->req.head_len;
                c->head_at = cn_now();
                set_idle(c, false);
                return 0;
            }
            if (r == CN_PARSE_ERROR)
                return parser_failed(c);
        }
        ssize_t n = cn_conn_recv_nowait(c);
        if (n == -EAGAIN)
            return -EAGAIN;
        if (n == 0 || n == -EPIPE) {
            if (c->rbuf.len == 0)
                return -EPIPE;
            return cn_conn_fail(c, 400, c->_pp_pending
                                            ? "connection closed inside the PROXY preamble"
                                            : "connection closed inside the request head");
        }
        if (n < 0)
            return (int)n;
    }
}

int cn_conn_read_head(cn_conn_t *c, double deadline)
{
    for (;;) {
        int rc = cn_conn_try_read_head(c);
        if (rc != -EAGAIN)
            return rc;
        rc = c->wait(c->wait_ctx, c->fd, POLLIN, deadline);
        if (rc < 0)
            return rc;
    }
}

static int send_continue(cn_conn_t *c)
{
    c->continue_sent = true;
    return cn_conn_write_all(c, CONTINUE_LINE, sizeof(CONTINUE_LINE) - 1);
}

ssize_t cn_conn_body_fill(cn_conn_t *c)
{
    if (c->req.expect_continue && !c->continue_sent && c->req.version_minor >= 1 &&
        !cn_http_body_done(&c->parser)) {
        int rc = send_continue(c);
        if (rc < 0)
            return rc;
    }
    if (c->body_off > 0) {
        /* Drop what the app already took, so the buffer holds at most one
         * read's worth beyond what the app asked for. */
        cn_buf_consume(&c->body, c->body_off);
        c->body_off = 0;
    }
    size_t before = c->body.len;
    while (!cn_http_body_done(&c->parser) && c->body.len == before) {
        if (c->raw_off == c->rbuf.len) {
            /* Nothing raw left: drop what was decoded (keeping the head)
             * and read more, so rbuf never holds more than one read. */
            c->rbuf.len = c->req.head_len;
            c->raw_off = c->req.head_len;
            ssize_t n = recv_some(c, io_deadline(c));
            if (n == 0)
                return -EPIPE;
            if (n < 0)
                return n;
        }
        size_t used = 0;
        enum cn_parse r = cn_http_parse_body(&c->parser, c->rbuf.data + c->raw_off,
                                             c->rbuf.len - c->raw_off, &used, &c->body);
        c->raw_off += used;
        if (r == CN_PARSE_ERROR)
            return parser_failed(c);
    }
    return (ssize_t)(c->body.len - before);
}

void cn_conn_body_consume(cn_conn_t *c, size_t n)
{
    c->body_off += n;
    if (c->body_off == c->body.len) {
        c->body.len = 0;
        c->body_off = 0;
    }
}

int cn_conn_body_drain(cn_conn_t *c, uint64_t limit)
{
    uint64_t drained = 0;
    for (;;) {
        size_t avail = c->body.len - c->body_off;
        drained += avail;
        cn_conn_body_consume(c, avail);
        if (cn_http_body_done(&c->parser))
            return 0;
        if (drained > limit)
            return -E2BIG;
        /* A client that was never told to continue may not send the body:
         * the connection cannot be reused safely. */
        if (c->req.expect_continue && !c->continue_sent)
            return -E2BIG;
        ssize_t n = cn_conn_body_fill(c);
        if (n < 0)
            return (int)n;
    }
}

/* The first write of a response claims the answer; false if the deadline
 * took it. */
static bool claim_answer(cn_conn_t *c)
{
    int expected = CN_ANSWER_OPEN;
    if (__atomic_load_n(&c->_answer, __ATOMIC_ACQUIRE) == CN_ANSWER_APP)
        return true;
    return __atomic_compare_exchange_n(&c->_answer, &expected, CN_ANSWER_APP, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
           expected == CN_ANSWER_APP;
}

/* What a request past its deadline gets; static, so that sending it needs
 * nothing that is unsafe in a signal handler. */
#define DEADLINE_BODY                                                                         \
    "<html><head><title>Service Unavailable</title></head><body><h1><p>Service Unavailable" \
    "</p></h1></body></html>"
static const char deadline_response[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                        "Server: cunicorn\r\n"
                                        "Connection: close\r\n"
                                        "Content-Type: text/html\r\n"
                                        "Content-Length: 108\r\n\r\n" DEADLINE_BODY;
_Static_assert(sizeof(DEADLINE_BODY) - 1 == 108, "the Content-Length above");

bool cn_conn_deadline_expire(cn_conn_t *c)
{
    int expected = CN_ANSWER_OPEN;
    bool ours = __atomic_compare_exchange_n(&c->_answer, &expected, CN_ANSWER_DEADLINE, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    if (!ours && expected == CN_ANSWER_DEADLINE)
        return false; /* already done */
    bool sent = false;
    if (ours) {
        /* nothing of this response was written: the socket buffer has room
         * for 250 bytes unless the client stopped reading, which then gets
         * the cut connection instead */
        size_t len = sizeof(deadline_response) - 1;
        sent = send(c->fd, deadline_response, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len;
    }
    shutdown(c->fd, SHUT_RDWR);
    __atomic_store_n(&c->_answer, CN_ANSWER_DEADLINE, __ATOMIC_RELEASE);
    return sent;
}

void cn_conn_request_line(const cn_conn_t *c, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s %.*s", (int)c->req.method.len, cn_conn_span(c, c->req.method),
             (int)c->req.target.len, cn_conn_span(c, c->req.target));
}

bool cn_conn_deadline_hit(const cn_conn_t *c)
{
    return __atomic_load_n(&c->_answer, __ATOMIC_ACQUIRE) == CN_ANSWER_DEADLINE;
}

int cn_conn_writev_all(cn_conn_t *c, struct iovec *iov, int iovcnt)
{
    if (!claim_answer(c))
        return -ECONNABORTED;
    while (iovcnt > 0) {
        ssize_t n = writev(c->fd, iov, iovcnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
            int rc = c->wait(c->wait_ctx, c->fd, POLLOUT, io_deadline(c));
            if (rc < 0)
                return rc;
            continue;
        }
        cn_metrics_bytes_out(c->metrics, (uint64_t)n);
        size_t done = (size_t)n;
        while (iovcnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

ssize_t cn_conn_sendfile_nowait(cn_conn_t *c, int in_fd, off_t *offset, size_t len)
{
    if (!claim_answer(c))
        return -ECONNABORTED;
    for (;;) {
        ssize_t n = sendfile(c->fd, in_fd, offset, len);
        if (n >= 0) {
            cn_metrics_bytes_out(c->metrics, (uint64_t)n);
            return n;
        }
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
}

void cn_conn_cork(cn_conn_t *c, bool on)
{
    int v = on;
    if (c->listener != NULL && c->listener->family == AF_UNIX)
        return;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

int cn_conn_wait_writable(cn_conn_t *c)
{
    return c->wait(c->wait_ctx, c->fd, POLLOUT, io_deadline(c));
}

int cn_conn_write_all(cn_conn_t *c, const void *data, size_t len)
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return cn_conn_writev_all(c, &iov, 1);
}

void cn_conn_send_error(cn_conn_t *c, int status)
{
    cn_buf_t out = CN_BUF_INIT;
    cn_http_error_response(&out, status);
    /* Best effort: the connection is closed right after either way. */
    (void)!cn_conn_write_all(c, out.data, out.len);
    cn_buf_free(&out);
}

int cn_conn_fail(cn_conn_t *c, int status, const char *reason)
{
    if (c->error.status == 0)
        c->error = (cn_conn_error_t){.status = status, .reason = reason};
    return -EPROTO;
}

/* The one place the parser's verdict becomes the connection's. */
static int parser_failed(cn_conn_t *c)
{
    return cn_conn_fail(c, c->parser.status, c->parser.reason);
}

void cn_conn_reject(cn_conn_t *c)
{
    int status = c->error.status ? c->error.status : 400;
    cn_log_info("Invalid request from ip=%s: %s (answered %d)", c->peer_host,
                c->error.reason ? c->error.reason : "malformed request", status);
    cn_metrics_refused(c->metrics, status);
    cn_conn_send_error(c, status);
}

void cn_conn_next_request(cn_conn_t *c)
{
    cn_buf_consume(&c->rbuf, c->raw_off);
    c->raw_off = 0;
    c->body.len = 0;
    c->body_off = 0;
    c->continue_sent = false;
    c->requests++;
    set_idle(c, true);
    __atomic_store_n(&c->_answer, CN_ANSWER_OPEN, __ATOMIC_RELEASE);
    cn_http_parser_reset(&c->parser);
    cn_http_request_clear(&c->req);
}
