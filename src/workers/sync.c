/* sync.c - the sync worker class: one request at a time, and the
 * connection closes after every response (Gunicorn's sync semantics; meant
 * to sit behind a buffering proxy).
 *
 * The loop runs without the GIL: accept, read and parse the head in C, and
 * take the GIL only to run the app (serve_one). Waits on the client beat the
 * heartbeat (cn_worker_wait_poll); an app that hangs does not beat, so the
 * master replaces the worker after `timeout`. */
#include "workers/worker.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sync_run(cn_worker_t *w);
static void accept_ready(cn_worker_t *w, const cn_listener_t *l, PyThreadState **ts);
static void serve_one(cn_worker_t *w, cn_conn_t *c, PyThreadState **ts);

const cn_worker_class_t cn_worker_sync = {
    .name = "sync",
    .multithread = false,
    .release_gil_for_io = true, /* app threads may run while we wait on a client */
    .run = sync_run,
};

static int sync_run(cn_worker_t *w)
{
    size_t n = w->ctx->nlisteners;
    struct pollfd *pfds = cn_xcalloc(n, sizeof(*pfds)); /* owned */
    PyThreadState *ts = PyEval_SaveThread(); /* the loop runs without the GIL */
    while (cn_worker_alive(w)) {
        cn_heartbeat_beat(w->ctx->heartbeat);
        for (size_t i = 0; i < n; i++)
            pfds[i] = (struct pollfd){.fd = w->ctx->listeners[i].fd, .events = POLLIN};
        int ready = poll(pfds, n, 1000);
        if (ready < 0 && errno != EINTR) {
            cn_log_error("poll: %s", strerror(errno));
            break;
        }
        for (size_t i = 0; ready > 0 && i < n && cn_worker_alive(w); i++)
            if (pfds[i].revents & POLLIN)
                accept_ready(w, &w->ctx->listeners[i], &ts);
    }
    PyEval_RestoreThread(ts);
    free(pfds);
    return 0;
}

static void accept_ready(cn_worker_t *w, const cn_listener_t *l, PyThreadState **ts)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = cn_worker_accept(l, &peer, &len);
    if (fd < 0)
        return;
    cn_conn_t c;
    cn_conn_init(&c, fd, (struct sockaddr *)&peer, len, l, &w->limits);
    cn_conn_set_options(&c, &w->conn_opts);
    c.wait = cn_worker_wait_poll;
    c.wait_ctx = w;
    c.io_timeout = w->cfg->timeout > 0 ? w->cfg->timeout : 30;
    serve_one(w, &c, ts);
    cn_conn_close(&c);
}

static void serve_one(cn_worker_t *w, cn_conn_t *c, PyThreadState **ts)
{
    int rc = cn_conn_read_head(c, cn_now() + c->io_timeout);
    if (rc == -EPROTO) {
        cn_conn_reject(c);
        return;
    }
    if (rc < 0) {
        if (rc == -ETIMEDOUT)
            cn_log_debug("Closing a connection from %s: no request within %.0fs", c->peer_host,
                         c->io_timeout);
        return;
    }
    /* The one place this class takes the GIL. */
    PyEval_RestoreThread(*ts);
    (void)cn_wsgi_serve(w->wsgi, c, false);
    *ts = PyEval_SaveThread();
    (void)cn_worker_request_done(w); /* at max_requests the loop ends */
}
