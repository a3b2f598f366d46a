/* test_sock.c - bind syntax, TCP v4/v6 and unix listeners, fd:// adoption. */
#include "cunicorn/sock.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- parsing --------------------------------------------------------------- */

static const struct {
    const char *spec;
    enum cn_addr_kind kind;
    const char *host_or_path;
    int port_or_fd;
} good[] = {
    {"127.0.0.1:8000", CN_ADDR_TCP, "127.0.0.1", 8000},
    {"127.0.0.1", CN_ADDR_TCP, "127.0.0.1", 8000},
    {"[::1]:9000", CN_ADDR_TCP, "::1", 9000},
    {"[::1]", CN_ADDR_TCP, "::1", 8000},
    {"::1", CN_ADDR_TCP, "::1", 8000},
    {"[::]:80", CN_ADDR_TCP, "::", 80},
    {":8000", CN_ADDR_TCP, "", 8000},
    {":0", CN_ADDR_TCP, "", 0},
    {"", CN_ADDR_TCP, "", 8000},
    {"localhost:8000", CN_ADDR_TCP, "localhost", 8000},
    {"LocalHost:1", CN_ADDR_TCP, "localhost", 1},
    {"example.com", CN_ADDR_TCP, "example.com", 8000},
    {"0.0.0.0:65535", CN_ADDR_TCP, "0.0.0.0", 65535},
    {"tcp://10.1.2.3:81", CN_ADDR_TCP, "10.1.2.3", 81},
    {"unix:/tmp/x.sock", CN_ADDR_UNIX, "/tmp/x.sock", 0},
    {"unix:relative.sock", CN_ADDR_UNIX, "relative.sock", 0},
    {"unix:///run/a.sock", CN_ADDR_UNIX, "/run/a.sock", 0},
    {"fd://3", CN_ADDR_FD, NULL, 3},
    {"fd://0", CN_ADDR_FD, NULL, 0},
};

START_TEST(parse_good)
{
    cn_addr_t a;
    char err[CN_ERR_LEN] = "";
    const char *spec = good[_i].spec;

    ck_assert_msg(cn_addr_parse(spec, &a, err) == 0, "%s: %s", spec, err);
    ck_assert_int_eq(a.kind, good[_i].kind);
    if (a.kind == CN_ADDR_TCP) {
        ck_assert_str_eq(a.host, good[_i].host_or_path);
        ck_assert_int_eq(a.port, good[_i].port_or_fd);
    } else if (a.kind == CN_ADDR_UNIX) {
        ck_assert_str_eq(a.path, good[_i].host_or_path);
    } else {
        ck_assert_int_eq(a.fd, good[_i].port_or_fd);
    }
}
END_TEST

static const struct {
    const char *spec;
    const char *msg;
} bad[] = {
    {"h:99999", "'99999' is not a valid port number."},
    {"h:abc", "'abc' is not a valid port number."},
    {"h:", "'' is not a valid port number."},
    {"h:-1", "'-1' is not a valid port number."},
    {"[::1]:x", "'x' is not a valid port number."},
    {"[::1]:", "'' is not a valid port number."},
    {"[::1]9", "'[::1]9' is not a valid address."},
    {"a:b:c", "'a:b:c' is not a valid address."},
    {"fd://x", "'x' is not a valid file descriptor."},
    {"fd://", "'' is not a valid file descriptor."},
    {"unix:", "'' is not a valid unix socket path."},
};

START_TEST(parse_bad)
{
    cn_addr_t a;
    char err[CN_ERR_LEN] = "";
    ck_assert_msg(cn_addr_parse(bad[_i].spec, &a, err) == -1, "%s accepted", bad[_i].spec);
    ck_assert_str_eq(err, bad[_i].msg);
}
END_TEST

START_TEST(parse_long_unix_path)
{
    char spec[300], err[CN_ERR_LEN];
    cn_addr_t a;
    memset(spec, 'a', sizeof(spec) - 1);
    memcpy(spec, "unix:/", 6);
    spec[sizeof(spec) - 1] = '\0';
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), -1);
}
END_TEST

/* ---- TCP ------------------------------------------------------------------- */

static void check_flags(int fd)
{
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* connect() to the listener, accept, exchange one byte */
static void roundtrip(const cn_listener_t *l, const struct sockaddr *sa, socklen_t salen)
{
    int c = socket(sa->sa_family, SOCK_STREAM, 0), s;
    char ch = 0;
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(connect(c, sa, salen), 0);
    ck_assert_int_eq(cn_sock_set_nonblock(l->fd, false), 0);
    s = accept(l->fd, NULL, NULL);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(write(c, "x", 1), 1);
    ck_assert_int_eq(read(s, &ch, 1), 1);
    ck_assert_int_eq(ch, 'x');
    close(s);
    close(c);
}

START_TEST(tcp_v4_ephemeral)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "", url[64];
    struct sockaddr_in sin = {.sin_family = AF_INET};

    ck_assert_int_eq(cn_addr_parse("127.0.0.1:0", &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, false, err) == 0, "%s", err);
    check_flags(l.fd);
    ck_assert_int_eq(l.family, AF_INET);
    ck_assert_str_eq(l.host, "127.0.0.1");
    ck_assert_int_gt(l.port, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    ck_assert_str_eq(l.url, url);

    sin.sin_port = htons((uint16_t)l.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    roundtrip(&l, (struct sockaddr *)&sin, sizeof(sin));
    cn_listener_close(&l, true);
    ck_assert_int_eq(l.fd, -1);
    cn_listener_close(&l, true); /* idempotent */
}
END_TEST

START_TEST(tcp_accept_queue_length)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "";
    ck_assert_int_eq(cn_addr_parse("127.0.0.1:0", &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, false, err) == 0, "%s", err);
    ck_assert_int_eq(cn_listener_queued(&l), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int clients[3];
    for (int i = 0; i < 3; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(clients[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
    }
    ck_assert_int_eq(cn_listener_queued(&l), 3); /* a loopback handshake completes in connect */
    int fd = accept(l.fd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(cn_listener_queued(&l), 2);
    for (int i = 0; i < 3; i++)
        close(clients[i]);
    cn_listener_close(&l, true);
    ck_assert_int_eq(cn_listener_queued(&l), -1);
}
END_TEST

START_TEST(tcp_any_and_reuse_port)
{
    cn_addr_t a;
    cn_listener_t l, l2;
    char err[CN_ERR_LEN] = "";
    int on = 0;
    socklen_t len = sizeof(on);

    ck_assert_int_eq(cn_addr_parse(":0", &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, true, err) == 0, "%s", err);
    ck_assert_str_eq(l.host, "0.0.0.0");
    ck_assert_int_eq(getsockopt(l.fd, SOL_SOCKET, SO_REUSEPORT, &on, &len), 0);
    ck_assert_int_ne(on, 0);
    /* a second SO_REUSEPORT listener on the same port succeeds */
    a.port = l.port;
    ck_assert_msg(cn_listener_open(&l2, &a, 16, true, err) == 0, "%s", err);
    cn_listener_close(&l2, true);
    cn_listener_close(&l, true);
}
END_TEST

START_TEST(tcp_v6_ephemeral)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "", url[64];
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    int v6only = 0;
    socklen_t len = sizeof(v6only);

    if (probe < 0 || bind(probe, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
        fprintf(stderr, "tcp_v6_ephemeral: skipped, no IPv6 loopback\n");
        if (probe >= 0)
            close(probe);
        return;
    }
    close(probe);
    ck_assert_int_eq(cn_addr_parse("[::1]:0", &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, false, err) == 0, "%s", err);
    check_flags(l.fd);
    ck_assert_int_eq(l.family, AF_INET6);
    ck_assert_str_eq(l.host, "::1");
    snprintf(url, sizeof(url), "http://[::1]:%d", l.port);
    ck_assert_str_eq(l.url, url);
    ck_assert_int_eq(getsockopt(l.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
    ck_assert_int_eq(v6only, 1);
    sin6.sin6_port = htons((uint16_t)l.port);
    roundtrip(&l, (struct sockaddr *)&sin6, sizeof(sin6));
    cn_listener_close(&l, true);
}
END_TEST

START_TEST(tcp_in_use)
{
    cn_addr_t a;
    cn_listener_t l, l2;
    char err[CN_ERR_LEN] = "", want[CN_ERR_LEN];

    ck_assert_int_eq(cn_addr_parse("127.0.0.1:0", &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), 0);
    a.port = l.port;
    ck_assert_int_eq(cn_listener_open(&l2, &a, 16, false, err), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert_int_eq(l2.fd, -1);
    snprintf(want, sizeof(want), "Connection in use: ('127.0.0.1', %d)", l.port);
    ck_assert_str_eq(err, want);
    cn_listener_close(&l, true);
}
END_TEST

START_TEST(tcp_bad_address)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "";

    ck_assert_int_eq(cn_addr_parse("192.0.2.1:0", &a, err), 0); /* TEST-NET-1 */
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    ck_assert_str_eq(err, "Invalid address: ('192.0.2.1', 0)");
    ck_assert_int_eq(cn_addr_parse("no-such-host.invalid:80", &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "bind no-such-host.invalid:80: "));
}
END_TEST

/* ---- unix ------------------------------------------------------------------ */

START_TEST(unix_create_replace_unlink)
{
    char dir[] = "/tmp/cn_sockXXXXXX", spec[200], err[CN_ERR_LEN] = "";
    cn_addr_t a;
    cn_listener_t l, l2;
    struct stat st;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(spec, sizeof(spec), "unix:%s/app.sock", dir);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, false, err) == 0, "%s", err);
    check_flags(l.fd);
    ck_assert_int_eq(l.family, AF_UNIX);
    ck_assert_str_eq(l.url, spec);
    ck_assert_int_eq(l.port, 0);
    ck_assert_int_eq(stat(a.path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a.path);
    roundtrip(&l, (struct sockaddr *)&sun, sizeof(sun));

    /* close without unlink leaves a stale file; the next open replaces it */
    cn_listener_close(&l, false);
    ck_assert_int_eq(stat(a.path, &st), 0);
    ck_assert_msg(cn_listener_open(&l2, &a, 16, false, err) == 0, "%s", err);
    roundtrip(&l2, (struct sockaddr *)&sun, sizeof(sun));
    cn_listener_close(&l2, true);
    ck_assert_int_eq(stat(a.path, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    rmdir(dir);
}
END_TEST

START_TEST(unix_not_a_socket)
{
    char dir[] = "/tmp/cn_sockXXXXXX", spec[200], err[CN_ERR_LEN] = "", want[CN_ERR_LEN];
    cn_addr_t a;
    cn_listener_t l;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(spec, sizeof(spec), "unix:%s/file", dir);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    f = fopen(a.path, "w");
    fclose(f);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    snprintf(want, sizeof(want), "'%s' is not a socket", a.path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(access(a.path, F_OK), 0); /* a regular file is never removed */
    unlink(a.path);
    rmdir(dir);
}
END_TEST

START_TEST(unix_in_use_by_live_listener_is_replaced)
{
    /* Gunicorn removes any existing socket file, even one in use */
    char dir[] = "/tmp/cn_sockXXXXXX", spec[200], err[CN_ERR_LEN] = "";
    cn_addr_t a;
    cn_listener_t l, l2;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(spec, sizeof(spec), "unix:%s/s", dir);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), 0);
    ck_assert_int_eq(cn_listener_open(&l2, &a, 16, false, err), 0);
    cn_listener_close(&l, false);
    cn_listener_close(&l2, true);
    rmdir(dir);
}
END_TEST

/* ---- fd:// ----------------------------------------------------------------- */

START_TEST(fd_adopt)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "", spec[32], url[64];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    snprintf(spec, sizeof(spec), "fd://%d", fd);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_msg(cn_listener_open(&l, &a, 16, false, err) == 0, "%s", err);
    ck_assert_int_eq(l.fd, fd);
    check_flags(l.fd);
    ck_assert_int_eq(l.family, AF_INET);
    ck_assert_int_eq(l.port, ntohs(sin.sin_port));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", l.port);
    ck_assert_str_eq(l.url, url);
    roundtrip(&l, (struct sockaddr *)&sin, sizeof(sin));
    cn_listener_close(&l, true);
}
END_TEST

START_TEST(fd_adopt_rejects)
{
    cn_addr_t a;
    cn_listener_t l;
    char err[CN_ERR_LEN] = "", spec[32], want[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0), p[2];

    snprintf(spec, sizeof(spec), "fd://%d", fd);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    snprintf(want, sizeof(want), "fd://%d is not a listening socket", fd);
    ck_assert_str_eq(err, want);
    close(fd);

    ck_assert_int_eq(pipe(p), 0);
    snprintf(spec, sizeof(spec), "fd://%d", p[0]);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Socket operation on non-socket"));
    ck_assert_int_eq(cn_addr_parse("fd://999", &a, err), 0);
    ck_assert_int_eq(cn_listener_open(&l, &a, 16, false, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Bad file descriptor"));
}
END_TEST

/* ---- helpers --------------------------------------------------------------- */

START_TEST(peer_name)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4321)};
    struct sockaddr_in6 sin6 = {
        .sin6_family = AF_INET6, .sin6_port = htons(99), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char host[64];
    int port;

    inet_pton(AF_INET, "10.2.3.4", &sin.sin_addr);
    cn_sock_peer_name((struct sockaddr *)&sin, sizeof(sin), host, sizeof(host), &port);
    ck_assert_str_eq(host, "10.2.3.4");
    ck_assert_int_eq(port, 4321);
    cn_sock_peer_name((struct sockaddr *)&sin6, sizeof(sin6), host, sizeof(host), &port);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 99);
    cn_sock_peer_name((struct sockaddr *)&sun, sizeof(sa_family_t), host, sizeof(host), &port);
    ck_assert_str_eq(host, "");
    ck_assert_int_eq(port, 0);
}
END_TEST

START_TEST(fd_flags)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(cn_sock_set_nonblock(p[0], true), 0);
    ck_assert(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    ck_assert_int_eq(cn_sock_set_nonblock(p[0], false), 0);
    ck_assert(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    ck_assert_int_eq(cn_sock_set_cloexec(p[0], true), 0);
    ck_assert(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(cn_sock_set_cloexec(p[0], false), 0);
    ck_assert(!(fcntl(p[0], F_GETFD) & FD_CLOEXEC));
    ck_assert_int_eq(cn_sock_set_nonblock(-1, true), -1);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* A bind setting satisfied by a socket passed in: same fd, same TCP address
 * (also through a name that resolves to it), same socket file (also by a
 * relative path); anything else is not the socket. */
START_TEST(listener_is_at)
{
    cn_addr_t a, q;
    cn_listener_t t, u;
    char dir[] = "/tmp/cn_sockXXXXXX", spec[200], err[CN_ERR_LEN] = "";

    ck_assert_int_eq(cn_addr_parse("127.0.0.1:0", &a, err), 0);
    ck_assert_msg(cn_listener_open(&t, &a, 16, false, err) == 0, "%s", err);
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", t.port);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(cn_listener_is_at(&t, &q));
    snprintf(spec, sizeof(spec), "localhost:%d", t.port);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(cn_listener_is_at(&t, &q));
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", t.port == 65535 ? 1 : t.port + 1);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(!cn_listener_is_at(&t, &q));
    snprintf(spec, sizeof(spec), "0.0.0.0:%d", t.port);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(!cn_listener_is_at(&t, &q));
    snprintf(spec, sizeof(spec), "[::1]:%d", t.port);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(!cn_listener_is_at(&t, &q));
    snprintf(spec, sizeof(spec), "fd://%d", t.fd);
    ck_assert_int_eq(cn_addr_parse(spec, &q, err), 0);
    ck_assert(cn_listener_is_at(&t, &q));

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(spec, sizeof(spec), "unix:%s/app.sock", dir);
    ck_assert_int_eq(cn_addr_parse(spec, &a, err), 0);
    ck_assert_msg(cn_listener_open(&u, &a, 16, false, err) == 0, "%s", err);
    ck_assert(cn_listener_is_at(&u, &a));
    ck_assert(!cn_listener_is_at(&t, &a));
    ck_assert(!cn_listener_is_at(&u, &q));
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(cn_addr_parse("unix:app.sock", &q, err), 0);
    ck_assert(cn_listener_is_at(&u, &q));
    ck_assert_int_eq(cn_addr_parse("unix:other.sock", &q, err), 0);
    ck_assert(!cn_listener_is_at(&u, &q));

    cn_listener_close(&u, true);
    ck_assert(!cn_listener_is_at(&u, &a)); /* closed */
    cn_listener_close(&t, true);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *sock_suite(void)
{
    Suite *s = suite_create("sock");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, parse_good, 0, (int)(sizeof(good) / sizeof(good[0])));
    tcase_add_loop_test(tc, parse_bad, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, parse_long_unix_path);
    suite_add_tcase(s, tc);
    tc = tcase_create("listen");
    tcase_add_test(tc, tcp_v4_ephemeral);
    tcase_add_test(tc, tcp_accept_queue_length);
    tcase_add_test(tc, tcp_any_and_reuse_port);
    tcase_add_test(tc, tcp_v6_ephemeral);
    tcase_add_test(tc, tcp_in_use);
    tcase_add_test(tc, tcp_bad_address);
    tcase_add_test(tc, unix_create_replace_unlink);
    tcase_add_test(tc, unix_not_a_socket);
    tcase_add_test(tc, unix_in_use_by_live_listener_is_replaced);
    tcase_add_test(tc, fd_adopt);
    tcase_add_test(tc, fd_adopt_rejects);
    tcase_add_test(tc, listener_is_at);
    tcase_add_test(tc, peer_name);
    tcase_add_test(tc, fd_flags);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(sock_suite());
}
