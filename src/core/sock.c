/* sock.c - listener addresses and listening sockets.
 *
 * Owns: Gunicorn's bind syntax (util.parse_address), creating, binding and
 * naming listeners (TCP v4/v6, unix, inherited fd://N), and the small fd
 * flag helpers.
 * Must not: include Python.h, log, or exit: failures go into err and the
 * caller (the arbiter) decides whether to retry, log or exit. errno is left
 * as the failing call set it so the caller can tell EADDRINUSE apart. */
#include "cunicorn/sock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_PORT 8000

static int parse_port(const char *s, size_t n, int *port, char *err);
static int parse_tcp(const char *spec, cn_addr_t *out, char *err);
static void addr_repr(const cn_addr_t *a, char *buf, size_t len);
static int bind_error(const cn_addr_t *a, int e, char *err);
static int open_tcp(cn_listener_t *l, const cn_addr_t *a, int backlog, bool reuse_port, char *err);
static int open_unix(cn_listener_t *l, const cn_addr_t *a, int backlog, char *err);
static int adopt_fd(cn_listener_t *l, const cn_addr_t *a, char *err);
static void name_listener(cn_listener_t *l);

/* ---- addresses ------------------------------------------------------------ */

static int parse_port(const char *s, size_t n, int *port, char *err)
{
    uint64_t v;
    if (cn_parse_uint(s, n, 65535, &v) != 0)
        return cn_err(err, "'%.*s' is not a valid port number.", (int)n, s);
    *port = (int)v;
    return 0;
}

/* HOST, HOST:PORT, [V6]:PORT, [V6], :PORT, V6 (bare literal, port 8000) */
static int parse_tcp(const char *spec, cn_addr_t *out, char *err)
{
    const char *host = spec, *colon, *port = NULL;
    size_t hlen = strlen(spec);
    struct in6_addr a6;
    char tmp[sizeof(out->host)];

    out->kind = CN_ADDR_TCP;
    out->port = DEFAULT_PORT;
    if (spec[0] == '[' && (colon = strchr(spec, ']')) != NULL) {
        host = spec + 1;
        hlen = (size_t)(colon - host);
        if (colon[1] == ':')
            port = colon + 2;
        else if (colon[1] != '\0')
            return cn_err(err, "'%s' is not a valid address.", spec);
    } else if ((colon = strchr(spec, ':')) != NULL) {
        if (strchr(colon + 1, ':') != NULL && hlen < sizeof(tmp)) {
            memcpy(tmp, spec, hlen + 1); /* a bare IPv6 literal, e.g. ::1 */
            if (inet_pton(AF_INET6, tmp, &a6) != 1)
                return cn_err(err, "'%s' is not a valid address.", spec);
        } else {
            hlen = (size_t)(colon - spec);
            port = colon + 1;
        }
    }
    if (hlen >= sizeof(out->host))
        return cn_err(err, "'%s' is not a valid address.", spec);
    if (port != NULL && parse_port(port, strlen(port), &out->port, err) != 0)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        out->host[i] = (char)tolower((unsigned char)host[i]);
    out->host[hlen] = '\0';
    return 0;
}

int cn_addr_parse(const char *spec, cn_addr_t *out, char *err)
{
    uint64_t fd;
    const char *p;

    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (strncmp(spec, "unix:", 5) == 0) {
        p = spec + 5;
        if (strncmp(p, "//", 2) == 0)
            p += 2;
        if (*p == '\0' || strlen(p) >= sizeof(out->path))
            return cn_err(err, "'%s' is not a valid unix socket path.", p);
        out->kind = CN_ADDR_UNIX;
        memcpy(out->path, p, strlen(p) + 1);
        return 0;
    }
    if (strncmp(spec, "fd://", 5) == 0) {
        if (cn_parse_uint(spec + 5, strlen(spec + 5), INT32_MAX, &fd) != 0)
            return cn_err(err, "'%s' is not a valid file descriptor.", spec + 5);
        out->kind = CN_ADDR_FD;
        out->fd = (int)fd;
        return 0;
    }
    if (strncmp(spec, "tcp://", 6) == 0)
        spec += 6;
    return parse_tcp(spec, out, err);
}

/* ---- listeners ------------------------------------------------------------ */

/* str() of Gunicorn's address: "('127.0.0.1', 8000)" or the unix path */
static void addr_repr(const cn_addr_t *a, char *buf, size_t len)
{
    if (a->kind == CN_ADDR_UNIX)
        snprintf(buf, len, "%s", a->path);
    else if (a->kind == CN_ADDR_FD)
        snprintf(buf, len, "fd://%d", a->fd);
    else
        snprintf(buf, len, "('%s', %d)", a->host, a->port);
}

static int bind_error(const cn_addr_t *a, int e, char *err)
{
    char repr[300];
    addr_repr(a, repr, sizeof(repr));
    if (e == EADDRINUSE)
        cn_err(err, "Connection in use: %s", repr);
    else if (e == EADDRNOTAVAIL)
        cn_err(err, "Invalid address: %s", repr);
    else if (a->kind == CN_ADDR_TCP)
        cn_err(err, "bind %s:%d: %s", a->host[0] ? a->host : "0.0.0.0", a->port, strerror(e));
    else
        cn_err(err, "bind %s: %s", repr, strerror(e));
    errno = e;
    return -1;
}

static void name_listener(cn_listener_t *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    l->host[0] = '\0';
    l->port = 0;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    l->family = ss.ss_family;
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
        if (l->addr.path[0] == '\0' && len > offsetof(struct sockaddr_un, sun_path))
            snprintf(l->addr.path, sizeof(l->addr.path), "%.*s", (int)sizeof(l->addr.path) - 1,
                     un->sun_path); /* sun_path may lack a NUL: bound the read */
        snprintf(l->url, sizeof(l->url), "unix:%s", l->addr.path);
        return;
    }
    cn_sock_peer_name((struct sockaddr *)&ss, len, l->host, sizeof(l->host), &l->port);
    if (ss.ss_family == AF_INET6)
        snprintf(l->url, sizeof(l->url), "http://[%s]:%d", l->host, l->port);
    else
        snprintf(l->url, sizeof(l->url), "http://%s:%d", l->host, l->port);
}

/* As Python's socket.bind((host, port)) with Gunicorn's family choice: an
 * address containing ':' is IPv6, anything else (names too) IPv4. */
static int open_tcp(cn_listener_t *l, const cn_addr_t *a, int backlog, bool reuse_port, char *err)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    int one = 1, rc, fd = -1, e;

    hints.ai_family = strchr(a->host, ':') != NULL ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", a->port);
    rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &ai);
    if (rc != 0)
        return cn_err(err, "bind %s:%d: %s", a->host, a->port, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto fail;
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 &&
        errno != ENOPROTOOPT && errno != EINVAL)
        goto fail;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0)
        goto fail;
    freeaddrinfo(ai);
    l->fd = fd;
    return 0;
fail:
    e = errno;
    freeaddrinfo(ai);
    if (fd >= 0)
        close(fd);
    return bind_error(a, e, err);
}

static int open_unix(cn_listener_t *l, const cn_addr_t *a, int backlog, char *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    int fd = -1, e;

    if (stat(a->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            errno = EEXIST;
            return cn_err(err, "'%s' is not a socket", a->path);
        }
        if (unlink(a->path) != 0)
            return bind_error(a, errno, err);
    } else if (errno != ENOENT) {
        return bind_error(a, errno, err);
    }
    memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bind_error(a, errno, err);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, backlog) != 0) {
        e = errno;
        close(fd);
        return bind_error(a, e, err);
    }
    l->fd = fd;
    return 0;
}

static int adopt_fd(cn_listener_t *l, const cn_addr_t *a, char *err)
{
    int listening = 0;
    socklen_t len = sizeof(listening);

    if (getsockopt(a->fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
        return cn_err(err, "fd://%d: %s", a->fd, strerror(errno));
    if (!listening) {
        errno = EINVAL;
        return cn_err(err, "fd://%d is not a listening socket", a->fd);
    }
    if (cn_sock_set_nonblock(a->fd, true) != 0 || cn_sock_set_cloexec(a->fd, true) != 0)
        return cn_err(err, "fd://%d: %s", a->fd, strerror(errno));
    l->fd = a->fd;
    return 0;
}

int cn_listener_open(cn_listener_t *l, const cn_addr_t *addr, int backlog, bool reuse_port,
                     char *err)
{
    int rc = -1;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    l->addr = *addr;
    switch (addr->kind) {
    case CN_ADDR_TCP:
        rc = open_tcp(l, addr, backlog, reuse_port, err);
        break;
    case CN_ADDR_UNIX:
        rc = open_unix(l, addr, backlog, err);
        break;
    case CN_ADDR_FD:
        rc = adopt_fd(l, addr, err);
        break;
    }
    if (rc == 0)
        name_listener(l);
    return rc;
}

/* Whether the socket bound at ss is one of the addresses host:port
 * resolves to, as open_tcp would bind it. */
static bool tcp_is_at(const struct sockaddr_storage *ss, const cn_addr_t *a)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    hints.ai_family = strchr(a->host, ':') != NULL ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", a->port);
    if (ss->ss_family != hints.ai_family ||
        getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &ai) != 0)
        return false;
    bool found = false;
    for (const struct addrinfo *p = ai; p != NULL && !found; p = p->ai_next) {
        if (p->ai_family == AF_INET) {
            const struct sockaddr_in *x = (const void *)p->ai_addr, *y = (const void *)ss;
            found = x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
        } else if (p->ai_family == AF_INET6) {
            const struct sockaddr_in6 *x = (const void *)p->ai_addr, *y = (const void *)ss;
            found = x->sin6_port == y->sin6_port &&
                    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
        }
    }
    freeaddrinfo(ai);
    return found;
}

bool cn_listener_is_at(const cn_listener_t *l, const cn_addr_t *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct stat a, b;
    if (l->fd < 0)
        return false;
    switch (addr->kind) {
    case CN_ADDR_FD:
        return addr->fd == l->fd;
    case CN_ADDR_UNIX:
        if (l->family != AF_UNIX || l->addr.path[0] == '\0')
            return false;
        return strcmp(l->addr.path, addr->path) == 0 ||
               (stat(l->addr.path, &a) == 0 && stat(addr->path, &b) == 0 &&
                a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    case CN_ADDR_TCP:
        return l->family != AF_UNIX && getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0 &&
               tcp_is_at(&ss, addr);
    }
    return false;
}

int cn_listener_queued(const cn_listener_t *l)
{
    if (l->fd < 0 || l->family == AF_UNIX)
        return -1;
    /* Linux reports a listening TCP socket's accept queue in tcpi_unacked. */
    struct tcp_info info;
    socklen_t len = sizeof(info);
    if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_state != TCP_LISTEN)
        return -1;
    return (int)info.tcpi_unacked;
}

void cn_listener_close(cn_listener_t *l, bool unlink_path)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    if (unlink_path && l->family == AF_UNIX && l->addr.path[0] != '\0')
        (void)unlink(l->addr.path);
}

/* ---- helpers -------------------------------------------------------------- */

int cn_sock_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -1 : 0;
}

int cn_sock_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
    return fcntl(fd, F_SETFD, fl) < 0 ? -1 : 0;
}

void cn_sock_peer_name(const struct sockaddr *sa, socklen_t len, char *host, size_t hostlen,
                       int *port)
{
    if (hostlen > 0)
        host[0] = '\0';
    *port = 0;
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hostlen) == NULL && hostlen > 0)
            host[0] = '\0';
        *port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hostlen) == NULL && hostlen > 0)
            host[0] = '\0';
        *port = ntohs(in6->sin6_port);
    }
}
