/* sock.h - listener addresses and listening sockets.
 *
 * Owns: parsing Gunicorn's bind syntax (HOST, HOST:PORT, [v6]:PORT, :PORT,
 * unix:PATH, fd://N), creating and binding listeners (TCP v4/v6 with
 * SO_REUSEADDR, optional SO_REUSEPORT; unix sockets, removing a stale file
 * first and unlinking it at shutdown; inherited fds), and naming them as
 * Gunicorn does in "Listening at: ..." lines.
 * Must not: include Python.h, log, or exit. */
#ifndef CUNICORN_SOCK_H
#define CUNICORN_SOCK_H

#include "cunicorn/common.h"

#include <sys/socket.h>

enum cn_addr_kind { CN_ADDR_TCP, CN_ADDR_UNIX, CN_ADDR_FD };

typedef struct cn_addr {
    enum cn_addr_kind kind;
    char host[256]; /* TCP: literal or name, without brackets; "" = 0.0.0.0 */
    int port;       /* TCP */
    char path[108]; /* UNIX */
    int fd;         /* FD */
} cn_addr_t;

/** Parse a bind string. Default port 8000 as Gunicorn. 0 or -1 + err. */
int cn_addr_parse(const char *spec, cn_addr_t *out, char *err) CN_NODISCARD;

typedef struct cn_listener {
    int fd;            /* owned: -1 when closed */
    cn_addr_t addr;
    int family;        /* AF_INET, AF_INET6, AF_UNIX */
    char host[64];     /* numeric host the socket is bound to (SERVER_NAME) */
    int port;          /* bound port (SERVER_PORT; 0 for unix) */
    char url[160];     /* "http://127.0.0.1:8000", "http://[::1]:8000", "unix:/p" */
} cn_listener_t;

/** Create, bind and listen (non-blocking, close-on-exec). For CN_ADDR_FD the
 * fd is adopted and checked to be a listening socket. 0, or -1 with err
 * and errno set (EADDRINUSE: the address is taken). */
int cn_listener_open(cn_listener_t *l, const cn_addr_t *addr, int backlog, bool reuse_port,
                     char *err) CN_NODISCARD;
/** Whether l is bound to the address addr names: the same fd, the same
 * socket file (by path or, for a relative one, by inode), or a TCP address
 * that resolves to l's. So a bind setting can be satisfied by a socket
 * systemd passed in, instead of binding it a second time. */
bool cn_listener_is_at(const cn_listener_t *l, const cn_addr_t *addr);
/** Connections waiting in a TCP listener's accept queue; -1 where the
 * kernel does not say (unix sockets). */
int cn_listener_queued(const cn_listener_t *l);

/** Close; unlink a unix socket file when unlink_path is true. */
void cn_listener_close(cn_listener_t *l, bool unlink_path);

int cn_sock_set_nonblock(int fd, bool on);
int cn_sock_set_cloexec(int fd, bool on);

/** Numeric host and port of a peer address ("" / 0 for unix peers). */
void cn_sock_peer_name(const struct sockaddr *sa, socklen_t len, char *host, size_t hostlen,
                       int *port);

#endif
