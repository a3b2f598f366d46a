/* metrics_http.c - see metrics_http.h: the exporter thread.
 *
 * One connection at a time, each given CLIENT_DEADLINE_MS in all (a scraper
 * is one client; a slow one delays the next scrape by at most that, never
 * the master or a worker), and every wait also watches the stop pipe, so
 * the master's exit never waits for a client. The thread exists only in the
 * master: a fork copies just the forking thread, and a worker closes the
 * inherited descriptors (close-on-exec would be too late), see
 * cn_metrics_server_close_in_child. */
#define _GNU_SOURCE
#include "cunicorn/metrics_http.h"

#include "cunicorn/procmem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST_MAX 8192
#define CLIENT_DEADLINE_MS 5000

struct cn_metrics_server {
    cn_listener_t listener;
    int stop_rd, stop_wr;     /* owned: a byte on stop_wr ends the thread */
    int client;               /* the connection being served, or -1; atomic:
                                 a worker forked meanwhile closes it */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;     /* guards view, and folds against scrapes */
    cn_metrics_view_t view;
    cn_metrics_table_t *table;               /* borrowed */
    const cn_heartbeat_table_t *heartbeats;  /* borrowed */
};

/* Gather a scrape under the lock; /proc and TCP_INFO are read after. */
static void scrape(cn_metrics_server_t *s, cn_metrics_scrape_t *out)
{
    size_t slots[CN_METRICS_MAX_WORKERS];
    double now = cn_now();
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    const cn_metrics_view_t *v = &s->view;
    for (size_t i = 0; i < v->nworkers; i++) {
        slots[i] = v->workers[i].slot;
        out->workers[i].pid = v->workers[i].pid;
        out->workers[i].beat_age = cn_heartbeat_age(&s->heartbeats->slots[slots[i]], now);
        const cn_metrics_slot_t *slot = &s->table->slots[slots[i]];
        out->busy += __atomic_load_n(&slot->in_flight, __ATOMIC_RELAXED) > 0;
    }
    out->nworkers = v->nworkers;
    cn_metrics_sum(&out->counts, &v->gone, s->table, slots, v->nworkers);
    memcpy(out->restarts, v->restarts, sizeof(out->restarts));
    out->nlisteners = v->nlisteners < CN_ARRAY_LEN(out->listeners) ? v->nlisteners
                                                                   : CN_ARRAY_LEN(out->listeners);
    for (size_t i = 0; i < out->nlisteners; i++) {
        memcpy(out->listeners[i].url, v->listeners[i].url, sizeof(out->listeners[i].url));
        out->listeners[i].queued = cn_listener_queued(&v->listeners[i]);
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < out->nworkers; i++)
        out->workers[i].rss_kb = cn_proc_memory_kb(out->workers[i].pid);
}

/* Wait for events on the client until the deadline (cn_now()); false on
 * timeout, error, or when the server is told to stop. */
static bool client_wait(const cn_metrics_server_t *s, int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - cn_now();
        if (left <= 0)
            return false;
        struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = s->stop_rd, .events = POLLIN}};
        int n = poll(p, 2, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && p[1].revents == 0;
    }
}

static void respond(const cn_metrics_server_t *s, int fd, double deadline, int status,
                    const char *reason, const char *type, const char *body, size_t len,
                    bool head)
{
    char top[256];
    int n = snprintf(top, sizeof(top),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, reason, type, len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    const char *parts[2] = {top, head ? "" : body};
    size_t sizes[2] = {(size_t)n, head ? 0 : len};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < sizes[i]) {
            ssize_t w = send(fd, parts[i] + off, sizes[i] - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR) &&
                     client_wait(s, fd, POLLOUT, deadline))
                continue;
            else
                return;
        }
    }
}

static void refuse(const cn_metrics_server_t *s, int fd, double deadline, int status,
                   const char *reason)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);
    respond(s, fd, deadline, status, reason, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* Whether a header block names OpenMetrics in Accept. */
static bool wants_openmetrics(const char *head)
{
    for (const char *p = strcasestr(head, "\r\naccept:"); p != NULL;
         p = strcasestr(p + 2, "\r\naccept:")) {
        const char *end = strstr(p + 2, "\r\n");
        const char *om = strcasestr(p, "application/openmetrics-text");
        if (om != NULL && (end == NULL || om < end))
            return true;
    }
    return false;
}

/* Read one request head (bounded in size and time), answer it. */
static void serve_client(cn_metrics_server_t *s, int fd)
{
    double deadline = cn_now() + CLIENT_DEADLINE_MS / 1000.0;
    char req[REQUEST_MAX + 1] = "";
    size_t len = 0;
    char *end;
    while ((end = strstr(req, "\r\n\r\n")) == NULL) {
        if (len == REQUEST_MAX) {
            refuse(s, fd, deadline, 431, "Request Header Fields Too Large");
            return;
        }
        if (!client_wait(s, fd, POLLIN, deadline))
            return; /* too slow: dropped, as a scraper would time out anyway */
        ssize_t r = recv(fd, req + len, REQUEST_MAX - len, 0);
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR)))
            return;
        if (r > 0)
            len += (size_t)r;
        req[len] = '\0';
        if (memchr(req, '\0', len) != NULL) {
            refuse(s, fd, deadline, 400, "Bad Request");
            return;
        }
    }
    end[4] = '\0'; /* the head only: a body is not read for Accept */
    char method[16], target[256], version[16];
    int after_method = 0;
    if (sscanf(req, "%15[A-Z]%n %255[^ \r\n] HTTP/%15[0-9.]\r\n", method, &after_method, target,
               version) != 3 ||
        req[after_method] != ' ' ||
        (strcmp(version, "1.0") != 0 && strcmp(version, "1.1") != 0)) {
        refuse(s, fd, deadline, 400, "Bad Request");
        return;
    }
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        refuse(s, fd, deadline, 405, "Method Not Allowed");
        return;
    }
    size_t path_len = strcspn(target, "?");
    if (path_len != strlen("/metrics") || strncmp(target, "/metrics", path_len) != 0) {
        refuse(s, fd, deadline, 404, "Not Found");
        return;
    }
    bool om = wants_openmetrics(req);
    cn_metrics_scrape_t *sc = cn_xmalloc(sizeof(*sc)); /* owned: large for a stack */
    scrape(s, sc);
    cn_buf_t body = CN_BUF_INIT;
    cn_metrics_render(&body, sc, om);
    free(sc);
    respond(s, fd, deadline, 200, "OK",
            om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8",
            body.data ? (const char *)body.data : "", body.len, head);
    cn_buf_free(&body);
}

static void *server_loop(void *arg)
{
    cn_metrics_server_t *s = arg;
    struct pollfd p[2] = {{.fd = s->listener.fd, .events = POLLIN},
                          {.fd = s->stop_rd, .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents != 0)
            break;
        if (p[0].revents == 0)
            continue;
        int fd = accept4(s->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                poll(NULL, 0, 100); /* the listener stays readable: do not spin */
            continue;
        }
        __atomic_store_n(&s->client, fd, __ATOMIC_RELEASE);
        serve_client(s, fd);
        __atomic_store_n(&s->client, -1, __ATOMIC_RELEASE);
        close(fd);
    }
    return NULL;
}

cn_metrics_server_t *cn_metrics_server_new(cn_metrics_table_t *table,
                                           const cn_heartbeat_table_t *heartbeats)
{
    cn_metrics_server_t *s = cn_xcalloc(1, sizeof(*s));
    s->listener.fd = s->stop_rd = s->stop_wr = s->client = -1;
    s->table = table;
    s->heartbeats = heartbeats;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

int cn_metrics_server_listen(cn_metrics_server_t *s, const char *spec, char *err)
{
    cn_addr_t addr;
    int pipefd[2];
    if (cn_addr_parse(spec, &addr, err) < 0)
        return -1;
    if (addr.kind == CN_ADDR_FD)
        return cn_err(err, "metrics_bind: give HOST:PORT or unix:PATH, not fd://N");
    if (cn_listener_open(&s->listener, &addr, 64, false, err) < 0)
        return -1;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return cn_err(err, "metrics_bind: %s", strerror(errno));
    s->stop_rd = pipefd[0];
    s->stop_wr = pipefd[1];
    /* the master's signals are the main thread's (its handlers write the
     * self-pipe; an EINTR here would cut a scrape short) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, server_loop, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return cn_err(err, "metrics_bind: cannot start the exporter thread: %s", strerror(rc));
    s->started = true;
    return 0;
}

void cn_metrics_server_stop(cn_metrics_server_t *s)
{
    if (s == NULL)
        return;
    if (s->started) {
        ssize_t w;
        do
            w = write(s->stop_wr, "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(s->thread, NULL);
    }
    if (s->stop_rd >= 0)
        close(s->stop_rd);
    if (s->stop_wr >= 0)
        close(s->stop_wr);
    cn_listener_close(&s->listener, true);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void cn_metrics_server_update(cn_metrics_server_t *s,
                              void (*fn)(cn_metrics_view_t *view, void *ud), void *ud)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    fn(&s->view, ud);
    pthread_mutex_unlock(&s->lock);
}

const char *cn_metrics_server_url(const cn_metrics_server_t *s) { return s->listener.url; }

void cn_metrics_server_close_in_child(cn_metrics_server_t *s)
{
    if (s == NULL)
        return;
    int fds[] = {s->listener.fd, s->stop_rd, s->stop_wr,
                 __atomic_load_n(&s->client, __ATOMIC_ACQUIRE)};
    for (size_t i = 0; i < CN_ARRAY_LEN(fds); i++)
        if (fds[i] >= 0)
            close(fds[i]);
}
