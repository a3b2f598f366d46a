/* test_conn.c - cn_conn_t, the connection I/O every worker class goes
 * through, over real sockets (socketpairs, and TCP on 127.0.0.1 where a
 * reset is needed): heads arriving in pieces, waits through the hook
 * (EAGAIN, a hook that fails, deadlines), EOF and reset, the request
 * limits, chunked errors, 100-continue, draining, keep-alive, pipelining,
 * writes (and sendfile) into a small send buffer, and what a rejected client
 * receives.
 *
 * The wait hook here plays the client: each time conn would block it may
 * send the next scripted bytes or read what conn wrote, then it waits with
 * cn_conn_wait_poll, so every test runs in one thread. */
#define _GNU_SOURCE /* accept4 */
#include "cunicorn/conn.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a connection and its client ------------------------------------------ */

struct pair {
    cn_conn_t c;
    int client;           /* the other end, non-blocking */
    /* the scripted client, run by script_wait */
    const char *to_send;  /* sent (all of it) at the first wait */
    size_t to_send_len;
    bool drain;           /* read whatever conn wrote, at each wait */
    cn_buf_t received;    /* what the client read */
    int waits;            /* times conn waited */
    double last_deadline; /* the deadline of the last wait */
};

static const cn_http_limits_t default_limits = {4094, 100, 8190, 0};

static void client_read_all(struct pair *pr)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(pr->client, buf, sizeof(buf))) > 0)
        cn_buf_append(&pr->received, buf, (size_t)n);
}

static int script_wait(void *ctx, int fd, short events, double deadline)
{
    struct pair *pr = ctx;
    pr->waits++;
    pr->last_deadline = deadline;
    if (pr->to_send != NULL) {
        ck_assert_int_eq(write(pr->client, pr->to_send, pr->to_send_len),
                         (ssize_t)pr->to_send_len);
        pr->to_send = NULL;
    }
    if (pr->drain)
        client_read_all(pr);
    return cn_conn_wait_poll(NULL, fd, events, deadline);
}

static void pair_init(struct pair *pr, int server_fd, int client_fd,
                      const cn_http_limits_t *limits)
{
    memset(pr, 0, sizeof(*pr));
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(4000)};
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    cn_conn_init(&pr->c, server_fd, (struct sockaddr *)&peer, sizeof(peer), NULL, limits);
    pr->c.wait = script_wait;
    pr->c.wait_ctx = pr;
    pr->c.io_timeout = 2;
    pr->client = client_fd;
    cn_buf_init(&pr->received);
}

static void pair_open_limits(struct pair *pr, const cn_http_limits_t *limits)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    pair_init(pr, sv[0], sv[1], limits);
}

static void pair_open(struct pair *pr)
{
    pair_open_limits(pr, &default_limits);
}

/* A TCP connection on 127.0.0.1, for what only TCP has (a reset). */
static void pair_open_tcp(struct pair *pr)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
    int sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    ck_assert_int_ge(sfd, 0);
    close(lfd);
    pair_init(pr, sfd, cfd, &default_limits);
}

static void pair_close(struct pair *pr)
{
    cn_conn_close(&pr->c);
    close(pr->client);
    cn_buf_free(&pr->received);
}

static void client_send(struct pair *pr, const char *s)
{
    ck_assert_int_eq(write(pr->client, s, strlen(s)), (ssize_t)strlen(s));
}

/* A connection whose client sent these bytes, and whose head was read. */
static void pair_open_with_head(struct pair *pr, const char *bytes)
{
    pair_open(pr);
    client_send(pr, bytes);
    ck_assert_int_eq(cn_conn_read_head(&pr->c, cn_now() + 2), 0);
}

static bool span_is(const cn_conn_t *c, cn_span_t s, const char *want)
{
    return s.len == strlen(want) && memcmp(cn_conn_span(c, s), want, s.len) == 0;
}

/* Everything the app would read: body_fill until the end or an error. */
static ssize_t read_body(struct pair *pr, cn_buf_t *out)
{
    for (;;) {
        ssize_t n = cn_conn_body_fill(&pr->c);
        if (n <= 0)
            return n;
        cn_buf_append(out, pr->c.body.data + pr->c.body_off, (size_t)n);
        cn_conn_body_consume(&pr->c, (size_t)n);
    }
}

/* ---- reading a head ---------------------------------------------------------- */

START_TEST(test_head_byte_by_byte)
{
    static const char req[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Long: v\r\n\r\n";
    struct pair pr;
    pair_open(&pr);
    for (size_t i = 0; i + 1 < sizeof(req) - 1; i++) {
        ck_assert_int_eq(write(pr.client, req + i, 1), 1);
        ck_assert_int_eq(cn_conn_try_read_head(&pr.c), -EAGAIN);
    }
    ck_assert_int_eq(write(pr.client, req + sizeof(req) - 2, 1), 1);
    ck_assert_int_eq(cn_conn_try_read_head(&pr.c), 0);
    ck_assert(span_is(&pr.c, pr.c.req.method, "GET"));
    ck_assert(span_is(&pr.c, pr.c.req.path, "/a/b"));
    ck_assert(span_is(&pr.c, pr.c.req.query, "x=1"));
    ck_assert_uint_eq(pr.c.req.nheaders, 2);
    ck_assert_uint_eq(pr.c.req.head_len, sizeof(req) - 1);
    ck_assert_int_eq(pr.c.error.status, 0);
    pair_close(&pr);
}
END_TEST

/* Nothing there yet: conn waits through the hook, and the bytes that arrive
 * meanwhile complete the head. */
START_TEST(test_head_waits_through_the_hook)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct pair pr;
    pair_open(&pr);
    client_send(&pr, "GET / HT");
    pr.to_send = "TP/1.1\r\nHost: h\r\n\r\n";
    pr.to_send_len = strlen(pr.to_send);
    double deadline = cn_now() + 5;
    ck_assert_int_eq(cn_conn_read_head(&pr.c, deadline), 0);
    ck_assert_int_ge(pr.waits, 1);
    ck_assert(pr.last_deadline == deadline);
    ck_assert_uint_eq(pr.c.req.head_len, sizeof(req) - 1);
    pair_close(&pr);
}
END_TEST

static int cancelled_wait(void *ctx, int fd, short events, double deadline)
{
    return -ECANCELED;
}

/* The hook's own error comes back unchanged (gevent: the app's exception). */
START_TEST(test_head_returns_the_hook_error)
{
    struct pair pr;
    pair_open(&pr);
    pr.c.wait = cancelled_wait;
    client_send(&pr, "GET / HTTP/1.1\r\n");
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 5), -ECANCELED);
    ck_assert_int_eq(pr.c.error.status, 0);
    pair_close(&pr);
}
END_TEST

START_TEST(test_head_deadline)
{
    struct pair pr;
    pair_open(&pr);
    client_send(&pr, "GET / HTTP/1.1\r\n");
    double t0 = cn_now();
    ck_assert_int_eq(cn_conn_read_head(&pr.c, t0 + 0.05), -ETIMEDOUT);
    ck_assert(cn_now() - t0 >= 0.05);
    pair_close(&pr);
}
END_TEST

/* EOF before a byte: nothing to answer; EOF inside the head: a 400. */
START_TEST(test_head_eof)
{
    struct pair pr;
    pair_open(&pr);
    shutdown(pr.client, SHUT_WR);
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), -EPIPE);
    pair_close(&pr);

    pair_open(&pr);
    client_send(&pr, "GET / HTTP/1.1\r\nHost:");
    shutdown(pr.client, SHUT_WR);
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 400);
    ck_assert_str_eq(pr.c.error.reason, "connection closed inside the request head");
    pair_close(&pr);
}
END_TEST

static void client_reset(struct pair *pr)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(pr->client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(pr->client);
    pr->client = -1;
}

START_TEST(test_head_peer_reset)
{
    struct pair pr;
    pair_open_tcp(&pr);
    client_reset(&pr);
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), -EPIPE);
    pair_close(&pr);
}
END_TEST

START_TEST(test_body_peer_reset)
{
    struct pair pr;
    pair_open_tcp(&pr);
    client_send(&pr, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
    client_reset(&pr);
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_int_eq(read_body(&pr, &got), -EPIPE);
    ck_assert_uint_le(got.len, 3);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

/* ---- limits and malformed input ---------------------------------------------- */

struct limit_case {
    const char *name;
    cn_http_limits_t limits;
    const char *head; /* the start of a head: the limit trips inside it */
    int status;
};

static const struct limit_case limit_cases[] = {
    {"request line", {20, 100, 8190, 0}, "GET /0123456789012345678901234 HTTP/1.1\r\n", 414},
    {"field count", {4094, 2, 8190, 0}, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n", 431},
    {"field size", {4094, 100, 16, 0}, "GET / HTTP/1.1\r\nX-Field: 0123456789abcdef\r\n", 431},
    {"bad version", {4094, 100, 8190, 0}, "GET / HTTP/9.9\r\n\r\n", 400},
    {"space in name", {4094, 100, 8190, 0}, "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400},
};

START_TEST(test_head_limits)
{
    const struct limit_case *lc = &limit_cases[_i];
    struct pair pr;
    pair_open_limits(&pr, &lc->limits);
    client_send(&pr, lc->head);
    ck_assert_msg(cn_conn_read_head(&pr.c, cn_now() + 0.5) == -EPROTO, "%s", lc->name);
    ck_assert_int_eq(pr.c.error.status, lc->status);
    ck_assert_ptr_nonnull(pr.c.error.reason);
    pair_close(&pr);
}
END_TEST

/* The client reads the canned answer, status line first, then the close. */
START_TEST(test_reject_answers_and_closes)
{
    cn_http_limits_t limits = {20, 100, 8190, 0};
    struct pair pr;
    pair_open_limits(&pr, &limits);
    client_send(&pr, "GET /0123456789012345678901234 HTTP/1.1\r\n");
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), -EPROTO);
    cn_conn_reject(&pr.c);
    cn_conn_close(&pr.c);
    client_read_all(&pr);
    cn_buf_append(&pr.received, "", 1);
    const char *got = pr.received.data;
    ck_assert_msg(strncmp(got, "HTTP/1.1 414 URI Too Long\r\n", 27) == 0, "%s", got);
    ck_assert_ptr_nonnull(strstr(got, "\r\nConnection: close\r\n"));
    const char *cl = strstr(got, "\r\nContent-Length: ");
    const char *end = strstr(got, "\r\n\r\n");
    ck_assert(cl != NULL && end != NULL);
    ck_assert_uint_eq(strlen(end + 4), (size_t)atoi(cl + 18));
    pair_close(&pr);
}
END_TEST

/* A connection fails once: the first reason is the one answered. */
START_TEST(test_fail_keeps_the_first_reason)
{
    struct pair pr;
    pair_open(&pr);
    ck_assert_int_eq(cn_conn_fail(&pr.c, 403, "first"), -EPROTO);
    ck_assert_int_eq(cn_conn_fail(&pr.c, 400, "second"), -EPROTO);
    ck_assert_int_eq(pr.c.error.status, 403);
    ck_assert_str_eq(pr.c.error.reason, "first");
    pair_close(&pr);
}
END_TEST

/* ---- bodies -------------------------------------------------------------------- */

START_TEST(test_body_content_length_in_pieces)
{
    struct pair pr;
    pair_open_with_head(&pr, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello");
    pr.to_send = " world";
    pr.to_send_len = 6;
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_int_eq(read_body(&pr, &got), 0);
    ck_assert_uint_eq(got.len, 11);
    ck_assert_int_eq(memcmp(got.data, "hello world", 11), 0);
    ck_assert_int_ge(pr.waits, 1);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

START_TEST(test_body_chunked)
{
    struct pair pr;
    pair_open_with_head(&pr, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_int_eq(read_body(&pr, &got), 0);
    ck_assert_uint_eq(got.len, 11);
    ck_assert_int_eq(memcmp(got.data, "hello world", 11), 0);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

struct chunk_case {
    const char *name;
    const char *body;
    uint64_t limit;
    int status;
};

static const struct chunk_case chunk_cases[] = {
    {"bad size", "zz\r\nhello\r\n0\r\n\r\n", 0, 400},
    {"no CRLF after data", "5\r\nhelloXX0\r\n\r\n", 0, 400},
    {"size overflow", "fffffffffffffffffffff\r\n", 0, 400},
    {"over limit_request_body", "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n", 10, 413},
};

START_TEST(test_body_chunked_errors)
{
    const struct chunk_case *cc = &chunk_cases[_i];
    cn_http_limits_t limits = default_limits;
    limits.body = cc->limit;
    struct pair pr;
    pair_open_limits(&pr, &limits);
    client_send(&pr, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    client_send(&pr, cc->body);
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_msg(read_body(&pr, &got) == -EPROTO, "%s", cc->name);
    ck_assert_int_eq(pr.c.error.status, cc->status);
    ck_assert_ptr_nonnull(pr.c.error.reason);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

/* The body ends early: the peer closed (-EPIPE, not a parse error), or
 * went silent past io_timeout. What arrived is passed on either way. */
static const struct cut_case {
    const char *name;
    bool peer_closes;
    int rc;
} cut_cases[] = {
    {"peer closed", true, -EPIPE},
    {"peer silent", false, -ETIMEDOUT},
};

START_TEST(test_body_cut_short)
{
    const struct cut_case *cc = &cut_cases[_i];
    struct pair pr;
    pair_open_with_head(&pr, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    pr.c.io_timeout = 0.05;
    if (cc->peer_closes)
        shutdown(pr.client, SHUT_WR);
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_msg(read_body(&pr, &got) == cc->rc, "%s", cc->name);
    ck_assert_uint_eq(got.len, 3);
    ck_assert_int_eq(pr.c.error.status, 0);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

/* io_timeout 0 means no limit: the wait is given no deadline. */
START_TEST(test_io_timeout_zero_is_no_deadline)
{
    struct pair pr;
    pair_open_with_head(&pr, "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
    pr.c.io_timeout = 0;
    pr.to_send = "cd";
    pr.to_send_len = 2;
    pr.last_deadline = -1;
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_int_eq(read_body(&pr, &got), 0);
    ck_assert(pr.last_deadline == 0);
    ck_assert_uint_eq(got.len, 4);
    cn_buf_free(&got);
    pair_close(&pr);
}
END_TEST

/* 100 Continue goes out before the first body read, once, and only when
 * the client asked and the body is not all here. */
START_TEST(test_body_100_continue)
{
    struct pair pr;
    pair_open(&pr);
    pr.drain = true;
    client_send(&pr, "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
    pr.to_send = "ab";
    pr.to_send_len = 2;
    cn_buf_t got = CN_BUF_INIT;
    ck_assert_int_eq(cn_conn_body_fill(&pr.c), 2);
    cn_conn_body_consume(&pr.c, 2);
    pr.to_send = "cd";
    pr.to_send_len = 2;
    ck_assert_int_eq(cn_conn_body_fill(&pr.c), 2);
    ck_assert_int_eq(cn_conn_body_fill(&pr.c), 0);
    ck_assert(pr.c.continue_sent);
    client_read_all(&pr);
    ck_assert_uint_eq(pr.received.len, 25);
    ck_assert_int_eq(memcmp(pr.received.data, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    cn_buf_free(&got);
    pair_close(&pr);

    /* HTTP/1.0 clients are never sent one */
    pair_open_with_head(&pr, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n"
                             "Content-Length: 2\r\n\r\nab");
    ck_assert_int_eq(cn_conn_body_fill(&pr.c), 2);
    ck_assert(!pr.c.continue_sent);
    client_read_all(&pr);
    ck_assert_uint_eq(pr.received.len, 0);
    pair_close(&pr);
}
END_TEST

/* ---- draining, keep-alive, pipelining ------------------------------------------ */

START_TEST(test_drain_then_next_request)
{
    struct pair pr;
    pair_open_with_head(&pr, "POST /1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
                     "GET /2 HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(cn_conn_body_drain(&pr.c, 100), 0);
    cn_conn_next_request(&pr.c);
    ck_assert_uint_eq(pr.c.requests, 1);
    ck_assert_int_eq(cn_conn_try_read_head(&pr.c), 0);
    ck_assert(span_is(&pr.c, pr.c.req.target, "/2"));
    pair_close(&pr);
}
END_TEST

START_TEST(test_drain_refuses_too_much)
{
    struct pair pr;
    pair_open_with_head(&pr, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    char block[4096];
    memset(block, 'x', sizeof(block));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(write(pr.client, block, sizeof(block)), (ssize_t)sizeof(block));
    ck_assert_int_eq(cn_conn_body_drain(&pr.c, 1000), -E2BIG);
    pair_close(&pr);

    /* a client waiting for 100 Continue may never send its body */
    pair_open_with_head(&pr, "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    ck_assert_int_eq(cn_conn_body_drain(&pr.c, 1000), -E2BIG);
    ck_assert_int_eq(pr.waits, 0);
    pair_close(&pr);
}
END_TEST

/* Two requests on one connection, the second sent after the first. */
START_TEST(test_keep_alive)
{
    struct pair pr;
    pair_open_with_head(&pr, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert(pr.c.req.keep_alive);
    ck_assert_int_eq(cn_conn_body_drain(&pr.c, 0), 0);
    cn_conn_next_request(&pr.c);
    ck_assert_uint_eq(pr.c.rbuf.len, 0);
    ck_assert_int_eq(cn_conn_try_read_head(&pr.c), -EAGAIN);
    client_send(&pr, "GET /second HTTP/1.1\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
    ck_assert(span_is(&pr.c, pr.c.req.target, "/second"));
    ck_assert(!pr.c.req.keep_alive);
    ck_assert_uint_eq(pr.c.req.nheaders, 1);
    pair_close(&pr);
}
END_TEST

/* Three requests in one write, bodies between them: each is found in the
 * bytes already read, and the socket is not read again. */
START_TEST(test_pipelining)
{
    struct pair pr;
    pair_open(&pr);
    client_send(&pr, "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                     "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
                     "GET /c HTTP/1.1\r\n\r\n");
    const char *targets[] = {"/a", "/b", "/c"};
    const char *bodies[] = {"abc", "de", ""};
    ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            cn_conn_next_request(&pr.c);
            pr.c.wait = cancelled_wait; /* everything is already in rbuf */
            ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
        }
        ck_assert(span_is(&pr.c, pr.c.req.target, targets[i]));
        cn_buf_t got = CN_BUF_INIT;
        ck_assert_int_eq(read_body(&pr, &got), 0);
        ck_assert_uint_eq(got.len, strlen(bodies[i]));
        ck_assert(got.len == 0 || memcmp(got.data, bodies[i], got.len) == 0);
        cn_buf_free(&got);
    }
    ck_assert_uint_eq(pr.c.requests, 2);
    pair_close(&pr);
}
END_TEST

/* Each request's trailers count against limit_request_fields on their
 * own: the count starts again for the next request on the connection. */
START_TEST(test_trailer_count_is_per_request)
{
    cn_http_limits_t limits = {4094, 1, 8190, 0};
    struct pair pr;
    pair_open_limits(&pr, &limits);
    client_send(&pr, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n\r\n"
                     "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 2\r\n\r\n");
    for (int i = 0; i < 2; i++) {
        if (i > 0)
            cn_conn_next_request(&pr.c);
        ck_assert_int_eq(cn_conn_read_head(&pr.c, cn_now() + 2), 0);
        cn_buf_t got = CN_BUF_INIT;
        ck_assert_msg(read_body(&pr, &got) == 0, "request %d: %s", i + 1,
                      pr.c.error.reason ? pr.c.error.reason : "");
        cn_buf_free(&got);
    }
    pair_close(&pr);
}
END_TEST

/* ---- writing ------------------------------------------------------------------- */

/* A megabyte through a small send buffer: writev returns short, conn
 * waits for POLLOUT and resumes mid-iovec; the client gets every byte in
 * order. */
START_TEST(test_writev_small_send_buffer)
{
    struct pair pr;
    pair_open(&pr);
    int small = 4096;
    ck_assert_int_eq(setsockopt(pr.c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    pr.drain = true;
    enum { PARTS = 4, PART = 256 * 1024 };
    static char parts[PARTS][PART];
    struct iovec iov[PARTS];
    for (int i = 0; i < PARTS; i++) {
        for (int j = 0; j < PART; j++)
            parts[i][j] = (char)('a' + (i * 7 + j) % 26);
        iov[i] = (struct iovec){.iov_base = parts[i], .iov_len = PART};
    }
    ck_assert_int_eq(cn_conn_writev_all(&pr.c, iov, PARTS), 0);
    ck_assert_int_ge(pr.waits, 1);
    client_read_all(&pr);
    ck_assert_uint_eq(pr.received.len, (size_t)PARTS * PART);
    for (int i = 0; i < PARTS; i++)
        ck_assert_int_eq(memcmp(pr.received.data + (size_t)i * PART, parts[i], PART), 0);
    pair_close(&pr);
}
END_TEST

/* Nobody reads: the write gives up after io_timeout. */
START_TEST(test_write_timeout)
{
    struct pair pr;
    pair_open(&pr);
    pr.c.io_timeout = 0.05;
    static char big[4 << 20];
    ck_assert_int_eq(cn_conn_write_all(&pr.c, big, sizeof(big)), -ETIMEDOUT);
    pair_close(&pr);
}
END_TEST

START_TEST(test_write_to_closed_peer)
{
    struct pair pr;
    pair_open(&pr);
    close(pr.client);
    pr.client = -1;
    ck_assert_int_eq(cn_conn_write_all(&pr.c, "x", 1), -EPIPE);
    pair_close(&pr);
}
END_TEST

/* A temporary regular file holding len bytes of a pattern (the caller
 * closes it). */
static int temp_file(char *pattern, size_t len)
{
    char path[] = "/tmp/cunicorn-test-conn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    for (size_t i = 0; i < len; i++)
        pattern[i] = (char)('A' + (i * 13 + i / 251) % 58);
    ck_assert_int_eq(write(fd, pattern, len), (ssize_t)len);
    return fd;
}

/* sendfile from an offset through a small send buffer: each call sends
 * what the buffer takes, -EAGAIN when it is full, and 0 at the file's end;
 * the file's own position does not move. */
START_TEST(test_sendfile_small_send_buffer)
{
    struct pair pr;
    pair_open(&pr);
    int small = 4096;
    ck_assert_int_eq(setsockopt(pr.c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    pr.drain = true;
    enum { LEN = 1 << 20, FROM = 1000 };
    static char pattern[LEN];
    int fd = temp_file(pattern, LEN);
    off_t off = FROM;
    size_t left = LEN - FROM;
    int again = 0;
    while (left > 0) {
        ssize_t n = cn_conn_sendfile_nowait(&pr.c, fd, &off, left);
        if (n == -EAGAIN) {
            again++;
            ck_assert_int_eq(cn_conn_wait_writable(&pr.c), 0);
            continue;
        }
        ck_assert_int_gt(n, 0);
        left -= (size_t)n;
    }
    ck_assert_int_ge(again, 1);
    ck_assert_int_eq(off, LEN);
    ck_assert_int_eq(cn_conn_sendfile_nowait(&pr.c, fd, &off, 10), 0); /* the end */
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), LEN);                    /* where write left it */
    client_read_all(&pr);
    ck_assert_uint_eq(pr.received.len, LEN - FROM);
    ck_assert_int_eq(memcmp(pr.received.data, pattern + FROM, LEN - FROM), 0);
    close(fd);
    pair_close(&pr);
}
END_TEST

/* What cannot be sent says so: a closed peer, a file opened write-only,
 * and a response the deadline took over. */
START_TEST(test_sendfile_errors)
{
    struct pair pr;
    pair_open_with_head(&pr, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
    static char pattern[100];
    int fd = temp_file(pattern, sizeof(pattern));
    int wronly = open("/dev/null", O_WRONLY);
    off_t off = 0;
    ck_assert_int_eq(cn_conn_sendfile_nowait(&pr.c, wronly, &off, 10), -EBADF);
    ck_assert(!cn_conn_deadline_expire(&pr.c)); /* sendfile claimed the answer: no 503 */
    ck_assert_int_lt(cn_conn_sendfile_nowait(&pr.c, fd, &off, 10), 0); /* shut down */
    close(wronly);
    close(fd);
    pair_close(&pr);

    pair_open_with_head(&pr, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
    fd = temp_file(pattern, sizeof(pattern));
    ck_assert(cn_conn_deadline_expire(&pr.c));
    ck_assert_int_eq(cn_conn_sendfile_nowait(&pr.c, fd, &off, 10), -ECONNABORTED);
    close(pr.client);
    pr.client = -1;
    pair_close(&pr);

    pair_open(&pr);
    close(pr.client);
    pr.client = -1;
    ck_assert_int_eq(cn_conn_sendfile_nowait(&pr.c, fd, &off, 10), -EPIPE);
    close(fd);
    pair_close(&pr);
}
END_TEST

START_TEST(test_deadline_answers_503_before_the_app)
{
    struct pair pr;
    pair_open_with_head(&pr, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(!cn_conn_deadline_hit(&pr.c));
    ck_assert(cn_conn_deadline_expire(&pr.c));
    ck_assert(cn_conn_deadline_hit(&pr.c));
    ck_assert(!cn_conn_deadline_expire(&pr.c)); /* once */
    /* the app's response comes too late: refused, nothing more is sent */
    ck_assert_int_eq(cn_conn_write_all(&pr.c, "HTTP/1.1 200 OK\r\n", 17), -ECONNABORTED);
    client_read_all(&pr); /* until the end: the socket was shut down */
    const cn_buf_t got = pr.received;
    const char *want_head = "HTTP/1.1 503 Service Unavailable\r\n";
    ck_assert(got.len > strlen(want_head) && memcmp(got.data, want_head, strlen(want_head)) == 0);
    const char *sep = memmem(got.data, got.len, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull(sep);
    ck_assert(memmem(got.data, got.len, "Connection: close\r\n", 19) != NULL);
    char cl[32];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", got.len - (size_t)(sep + 4 - got.data));
    ck_assert(memmem(got.data, got.len, cl, strlen(cl)) != NULL);
    pair_close(&pr);
}
END_TEST

START_TEST(test_deadline_cuts_a_response_already_begun)
{
    struct pair pr;
    pair_open_with_head(&pr, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(cn_conn_write_all(&pr.c, "HTTP/1.1 200 OK\r\n", 17), 0);
    ck_assert(!cn_conn_deadline_expire(&pr.c)); /* no second response */
    ck_assert(cn_conn_deadline_hit(&pr.c));
    ck_assert_int_lt(cn_conn_write_all(&pr.c, "more", 4), 0);
    client_read_all(&pr);
    ck_assert_uint_eq(pr.received.len, 17); /* what was sent, then the end */
    pair_close(&pr);
}
END_TEST

START_TEST(test_deadline_is_per_request)
{
    struct pair pr;
    pair_open_with_head(&pr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(cn_conn_write_all(&pr.c, "x", 1), 0);
    cn_conn_next_request(&pr.c);
    ck_assert(!cn_conn_deadline_hit(&pr.c));
    ck_assert(cn_conn_deadline_expire(&pr.c)); /* the new request is not yet answered */
    pair_close(&pr);
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("head");
    CN_UNIT_ADD(tc, test_head_byte_by_byte, test_head_waits_through_the_hook,
                test_head_returns_the_hook_error, test_head_deadline, test_head_eof,
                test_head_peer_reset, test_reject_answers_and_closes,
                test_fail_keeps_the_first_reason);
    tcase_add_loop_test(tc, test_head_limits, 0, (int)CN_ARRAY_LEN(limit_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("body");
    CN_UNIT_ADD(tc, test_body_content_length_in_pieces, test_body_chunked, test_body_peer_reset,
                test_io_timeout_zero_is_no_deadline, test_body_100_continue);
    tcase_add_loop_test(tc, test_body_chunked_errors, 0, (int)CN_ARRAY_LEN(chunk_cases));
    tcase_add_loop_test(tc, test_body_cut_short, 0, (int)CN_ARRAY_LEN(cut_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("reuse");
    CN_UNIT_ADD(tc, test_drain_then_next_request, test_drain_refuses_too_much, test_keep_alive,
                test_pipelining, test_trailer_count_is_per_request);
    suite_add_tcase(s, tc);
    tc = tcase_create("write");
    CN_UNIT_ADD(tc, test_writev_small_send_buffer, test_write_timeout, test_write_to_closed_peer,
                test_sendfile_small_send_buffer, test_sendfile_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("deadline");
    CN_UNIT_ADD(tc, test_deadline_answers_503_before_the_app,
                test_deadline_cuts_a_response_already_begun, test_deadline_is_per_request);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the server: a write to a closed peer is -EPIPE */
    return cn_unit_run(conn_suite());
}
