/* gevent.c - the coroutine worker class: every connection is served in a
 * greenlet on gevent's hub, so an app doing its I/O through gevent-patched
 * libraries overlaps thousands of requests in one process.
 *
 * The HTTP layer stays in C. Sockets are non-blocking; only when a read or
 * write would block (EAGAIN) does conn's wait hook, gevent_wait(), call
 * gevent.socket.wait() on an io watcher of the hub's loop, which parks the
 * greenlet until the fd is ready. We chose Python-level waits on EAGAIN over
 * driving watchers on gevent's loop from C: they use only gevent's public
 * API (no greenlet C-API or libev ABI coupling to Debian's gevent build),
 * they cost nothing when data is already there (the common case for a
 * request that arrives in one segment), and a timeout is gevent's own.
 * Each connection keeps its two io watchers for its whole life, so a wait
 * does not create one. (Reusing one gevent.Timeout per connection for the
 * keep-alive wait would save ~5 us more per request, but a reused Timeout
 * fired from its first start under load here, closing busy connections; each
 * wait with a deadline gets its own Timeout from gevent.socket.wait.)
 *
 * GIL: the worker is one OS thread running greenlets; it holds the GIL the
 * whole time (gevent needs it to switch), so this class never releases it
 * and wsgi's socket I/O keeps it (release_gil_for_io = false).
 *
 * Greenlets: one acceptor per listener, one per connection (spawned into a
 * gevent.pool.Pool of worker_connections, so the bound holds: a full pool
 * makes the acceptor wait), one heartbeat. TERM closes idle keep-alive
 * connections and stops accepting; in-flight requests get graceful_timeout. */
#include "workers/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64

struct gevent_worker;

typedef struct gconn {
    cn_conn_t c;
    struct gevent_worker *gw;    /* borrowed */
    struct gconn *prev, *next;   /* the worker's list of open connections */
    PyObject *greenlet;          /* strong: the greenlet serving it */
    PyObject *watchers[2];       /* strong, made on first use: read, write io watchers */
    bool idle;                   /* waiting for the first byte of a request */
} gconn_t;

typedef struct gevent_worker {
    cn_worker_t *w;              /* borrowed */
    PyObject *wait, *loop, *sleep, *getcurrent, *joinall; /* strong */
    PyObject *pool;              /* strong: gevent.pool.Pool */
    PyObject *signal_handlers;   /* strong: list of gevent.signal_handler objects */
    PyObject *self;              /* strong: capsule of this struct, the self of our functions */
    gconn_t *conns;              /* every open connection */
    bool stopping;
    bool quick;
} gevent_worker_t;

static int gevent_prepare(cn_worker_t *w);
static int gevent_run(cn_worker_t *w);

const cn_worker_class_t cn_worker_gevent = {
    .name = "gevent",
    .multithread = false,
    .release_gil_for_io = false,
    .prepare = gevent_prepare,
    .run = gevent_run,
};

static gevent_worker_t *worker_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, "cunicorn.gevent_worker");
}

/* Monkey-patch before the app is imported, as Gunicorn's gevent worker does. */
static int gevent_prepare(cn_worker_t *w)
{
    PyObject *monkey = PyImport_ImportModule("gevent.monkey");
    PyObject *r = monkey ? PyObject_CallMethod(monkey, "patch_all", NULL) : NULL;
    Py_XDECREF(monkey);
    if (r == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "The gevent worker needs gevent (Debian: apt-get install "
                                          "python3-gevent)");
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* 0 when a wait returned, -ETIMEDOUT, or -EINTR (GreenletExit at stop, or
 * a closed fd: this connection is over). Steals r. */
static int wait_result(PyObject *r)
{
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    int rc = PyErr_ExceptionMatches(PyExc_TimeoutError) ? -ETIMEDOUT : -EINTR;
    PyErr_Clear();
    return rc;
}

/* gevent.socket.wait(watcher, timeout): park until ready or the deadline. */
static int wait_watcher(gevent_worker_t *gw, PyObject *watcher, double deadline)
{
    PyObject *timeout = Py_None;
    if (deadline > 0) {
        double left = deadline - cn_now();
        if (left <= 0)
            return -ETIMEDOUT;
        if ((timeout = PyFloat_FromDouble(left)) == NULL)
            return -ENOMEM;
    } else {
        Py_INCREF(timeout);
    }
    PyObject *r = PyObject_CallFunctionObjArgs(gw->wait, watcher, timeout, NULL);
    Py_DECREF(timeout);
    return wait_result(r);
}

/* conn's wait hook (ctx: the gconn_t): park this greenlet until fd is ready. */
static int gevent_wait(void *ctx, int fd, short events, double deadline)
{
    gconn_t *g = ctx;
    int kind = events & POLLIN ? 0 : 1;
    if (g->watchers[kind] == NULL) {
        g->watchers[kind] = PyObject_CallMethod(g->gw->loop, "io", "ii", fd, kind == 0 ? 1 : 2);
        if (g->watchers[kind] == NULL)
            return wait_result(NULL);
    }
    return wait_watcher(g->gw, g->watchers[kind], deadline);
}

/* Close the connection's watchers before its fd is closed. */
static void release_waits(gconn_t *g)
{
    PyObject **objs[] = {&g->watchers[0], &g->watchers[1]};
    for (size_t i = 0; i < CN_ARRAY_LEN(objs); i++) {
        if (*objs[i] == NULL)
            continue;
        PyObject *r = PyObject_CallMethod(*objs[i], "close", NULL);
        if (r == NULL)
            PyErr_Clear(); /* closing is best effort: the object goes anyway */
        Py_XDECREF(r);
        Py_CLEAR(*objs[i]);
    }
}

/* Read the next request head: `keepalive` seconds for its first byte (as
 * gthread; `timeout` when keep-alive is off), then `timeout` seconds for the
 * whole head. */
static int read_head(gconn_t *g)
{
    const cn_config_t *cfg = g->gw->w->cfg;
    double idle = cfg->keepalive > 0 ? cfg->keepalive : cfg->timeout;
    double idle_deadline = cn_now() + idle, head_deadline = 0;
    for (;;) {
        g->idle = g->c.rbuf.len == 0;
        int rc = cn_conn_try_read_head(&g->c);
        if (rc != -EAGAIN) {
            g->idle = false;
            return rc;
        }
        if (!g->idle && head_deadline == 0)
            head_deadline = cn_now() + cfg->timeout;
        rc = gevent_wait(g, g->c.fd, POLLIN, g->idle ? idle_deadline : head_deadline);
        if (rc < 0)
            return rc;
    }
}

static void serve_connection(gconn_t *g)
{
    gevent_worker_t *gw = g->gw;
    for (;;) {
        int rc = read_head(g);
        if (rc == -EPROTO)
            cn_conn_reject(&g->c);
        if (rc < 0)
            return;
        bool may_keep = gw->w->cfg->keepalive > 0 && !gw->stopping;
        if (!cn_wsgi_serve(gw->w->wsgi, &g->c, may_keep) || gw->stopping)
            return;
        cn_conn_next_request(&g->c);
    }
}

static void conn_unlink(gconn_t *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        g->gw->conns = g->next;
    if (g->next)
        g->next->prev = g->prev;
}

/* _serve(capsule of a gconn_t): a connection's greenlet. */
static PyObject *py_serve(PyObject *self, PyObject *conn_capsule)
{
    gconn_t *g = PyCapsule_GetPointer(conn_capsule, "cunicorn.gevent_conn");
    if (g == NULL)
        return NULL;
    g->greenlet = PyObject_CallNoArgs(g->gw->getcurrent);
    PyErr_Clear(); /* without a handle the connection just cannot be interrupted */
    serve_connection(g);
    conn_unlink(g);
    Py_CLEAR(g->greenlet);
    release_waits(g);
    cn_conn_close(&g->c);
    free(g);
    Py_RETURN_NONE;
}

static PyMethodDef serve_def = {"_serve", py_serve, METH_O, NULL};

/* Hand an accepted fd to a new greenlet in the pool (waits while it is
 * full: that is the worker_connections bound). */
static int spawn_connection(gevent_worker_t *gw, PyObject *serve, const cn_listener_t *l, int fd,
                            const struct sockaddr_storage *peer, socklen_t len)
{
    gconn_t *g = cn_xcalloc(1, sizeof(*g));
    cn_conn_init(&g->c, fd, (const struct sockaddr *)peer, len, l, &gw->w->limits);
    cn_conn_set_options(&g->c, &gw->w->conn_opts);
    g->c.wait = gevent_wait;
    g->c.wait_ctx = g;
    g->c.io_timeout = gw->w->cfg->timeout > 0 ? gw->w->cfg->timeout : 30;
    g->gw = gw;
    g->next = gw->conns;
    if (gw->conns)
        gw->conns->prev = g;
    gw->conns = g;
    PyObject *cap = PyCapsule_New(g, "cunicorn.gevent_conn", NULL);
    PyObject *r = cap ? PyObject_CallMethod(gw->pool, "spawn", "OO", serve, cap) : NULL;
    Py_XDECREF(cap);
    if (r == NULL) {
        conn_unlink(g);
        cn_conn_close(&g->c);
        free(g);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* _accept(index): a listener's greenlet, until the worker stops. */
static PyObject *py_accept(PyObject *self, PyObject *index)
{
    gevent_worker_t *gw = worker_of(self);
    Py_ssize_t i = PyLong_AsSsize_t(index);
    if (gw == NULL || i < 0)
        return NULL;
    const cn_listener_t *l = &gw->w->ctx->listeners[i];
    PyObject *serve = PyCFunction_New(&serve_def, gw->self);
    PyObject *watcher = serve ? PyObject_CallMethod(gw->loop, "io", "ii", l->fd, 1) : NULL;
    if (watcher == NULL) {
        Py_XDECREF(serve);
        return NULL;
    }
    while (!gw->stopping) {
        /* wake up at least once a second to notice a stop */
        int rc = wait_watcher(gw, watcher, cn_now() + 1.0);
        if (rc == -EINTR)
            break;
        for (int n = 0; rc == 0 && n < ACCEPTS_PER_WAKEUP && !gw->stopping; n++) {
            struct sockaddr_storage peer;
            socklen_t len = sizeof(peer);
            int fd = cn_worker_accept(l, &peer, &len);
            if (fd < 0)
                break;
            if (spawn_connection(gw, serve, l, fd, &peer, len) < 0) {
                cn_py_log_exception(CN_LOG_ERROR, "cannot start a greenlet for a connection");
                break;
            }
        }
    }
    PyObject *closed = PyObject_CallMethod(watcher, "close", NULL);
    Py_XDECREF(closed);
    PyErr_Clear();
    Py_DECREF(watcher);
    Py_DECREF(serve);
    Py_RETURN_NONE;
}

/* Kill greenlets: the idle ones (graceful stop) or all (quick stop). */
static void kill_connections(gevent_worker_t *gw, bool idle_only)
{
    PyObject *no_args = PyTuple_New(0), *kwargs = Py_BuildValue("{s:O}", "block", Py_False);
    for (gconn_t *g = gw->conns; no_args && kwargs && g != NULL; g = g->next) {
        if (g->greenlet == NULL || (idle_only && !g->idle))
            continue;
        /* kill(block=False): GreenletExit is raised in it at its next switch */
        PyObject *kill = PyObject_GetAttrString(g->greenlet, "kill");
        PyObject *r = kill ? PyObject_Call(kill, no_args, kwargs) : NULL;
        if (r == NULL)
            cn_py_log_exception(CN_LOG_WARNING, "cannot stop a connection's greenlet");
        Py_XDECREF(r);
        Py_XDECREF(kill);
    }
    Py_XDECREF(no_args);
    Py_XDECREF(kwargs);
}

static void begin_stop(gevent_worker_t *gw, bool quick)
{
    gw->stopping = true;
    gw->quick = gw->quick || quick;
    kill_connections(gw, !quick);
}

/* _beat(): the heartbeat greenlet; also notices an orphaned worker. */
static PyObject *py_beat(PyObject *self, PyObject *unused)
{
    gevent_worker_t *gw = worker_of(self);
    for (;;) {
        cn_heartbeat_beat(gw->w->ctx->heartbeat);
        if (!gw->stopping && !cn_worker_alive(gw->w))
            begin_stop(gw, false);
        if (gw->stopping)
            kill_connections(gw, !gw->quick); /* connections that went idle since */
        PyObject *r = PyObject_CallFunction(gw->sleep, "d", 1.0);
        if (r == NULL)
            return NULL; /* killed at exit */
        Py_DECREF(r);
    }
}

/* _signal(signum): gevent runs it on the hub for TERM, INT, QUIT, USR1. */
static PyObject *py_signal(PyObject *self, PyObject *signum)
{
    gevent_worker_t *gw = worker_of(self);
    long sig = PyLong_AsLong(signum);
    if (sig == SIGUSR1)
        cn_log_reopen();
    else
        begin_stop(gw, sig != SIGTERM);
    Py_RETURN_NONE;
}

static PyMethodDef accept_def = {"_accept", py_accept, METH_O, NULL};
static PyMethodDef beat_def = {"_beat", py_beat, METH_NOARGS, NULL};
static PyMethodDef signal_def = {"_signal", py_signal, METH_O, NULL};

static int import_api(gevent_worker_t *gw)
{
    PyObject *gevent = PyImport_ImportModule("gevent");
    PyObject *gsocket = PyImport_ImportModule("gevent.socket");
    PyObject *gpool = PyImport_ImportModule("gevent.pool");
    int rc = -1;
    if (gevent == NULL || gsocket == NULL || gpool == NULL)
        goto done;
    PyObject *hub = PyObject_CallMethod(gevent, "get_hub", NULL);
    gw->loop = hub ? PyObject_GetAttrString(hub, "loop") : NULL;
    Py_XDECREF(hub);
    gw->wait = PyObject_GetAttrString(gsocket, "wait");
    gw->sleep = PyObject_GetAttrString(gevent, "sleep");
    gw->getcurrent = PyObject_GetAttrString(gevent, "getcurrent");
    gw->joinall = PyObject_GetAttrString(gevent, "joinall");
    gw->pool = PyObject_CallMethod(gpool, "Pool", "i", gw->w->cfg->worker_connections);
    if (gw->loop && gw->wait && gw->sleep && gw->getcurrent && gw->joinall && gw->pool)
        rc = 0;
done:
    Py_XDECREF(gevent);
    Py_XDECREF(gsocket);
    Py_XDECREF(gpool);
    return rc;
}

/* gevent.signal_handler(sig, _signal, sig) for each signal we act on. */
static int install_signals(gevent_worker_t *gw)
{
    PyObject *gevent = PyImport_ImportModule("gevent");
    PyObject *fn = PyCFunction_New(&signal_def, gw->self);
    gw->signal_handlers = PyList_New(0);
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
    int rc = gevent && fn && gw->signal_handlers ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < CN_ARRAY_LEN(sigs); i++) {
        PyObject *h = PyObject_CallMethod(gevent, "signal_handler", "iOi", sigs[i], fn, sigs[i]);
        rc = h && PyList_Append(gw->signal_handlers, h) == 0 ? 0 : -1;
        Py_XDECREF(h);
    }
    Py_XDECREF(gevent);
    Py_XDECREF(fn);
    return rc;
}

/* Spawn the acceptors and the heartbeat, wait for the acceptors to end
 * (stop), then give in-flight requests graceful_timeout. */
static int serve_until_stopped(gevent_worker_t *gw)
{
    size_t n = gw->w->ctx->nlisteners;
    PyObject *accept = PyCFunction_New(&accept_def, gw->self);
    PyObject *beat = PyCFunction_New(&beat_def, gw->self);
    PyObject *acceptors = PyList_New(0), *beater = NULL, *r = NULL;
    PyObject *gevent = PyImport_ImportModule("gevent");
    int rc = -1;
    if (accept == NULL || beat == NULL || acceptors == NULL || gevent == NULL)
        goto done;
    /* Acceptors live outside the pool: its slots are for connections. */
    for (size_t i = 0; i < n; i++) {
        PyObject *g = PyObject_CallMethod(gevent, "spawn", "On", accept, (Py_ssize_t)i);
        if (g == NULL || PyList_Append(acceptors, g) < 0) {
            Py_XDECREF(g);
            goto done;
        }
        Py_DECREF(g);
    }
    beater = PyObject_CallMethod(gevent, "spawn", "O", beat);
    if (beater == NULL || (r = PyObject_CallOneArg(gw->joinall, acceptors)) == NULL)
        goto done;
    Py_CLEAR(r);
    if (!gw->quick)
        r = PyObject_CallMethod(gw->pool, "join", "d", (double)gw->w->cfg->graceful_timeout);
    rc = gw->quick || r != NULL ? 0 : -1;
done:
    if (beater != NULL) {
        PyObject *k = PyObject_CallMethod(beater, "kill", NULL);
        if (k == NULL && rc == 0)
            PyErr_Clear();
        Py_XDECREF(k);
    }
    Py_XDECREF(gevent);
    Py_XDECREF(r);
    Py_XDECREF(accept);
    Py_XDECREF(beat);
    Py_XDECREF(acceptors);
    Py_XDECREF(beater);
    return rc;
}

static int gevent_run(cn_worker_t *w)
{
    gevent_worker_t gw;
    memset(&gw, 0, sizeof(gw));
    gw.w = w;
    gw.self = PyCapsule_New(&gw, "cunicorn.gevent_worker", NULL);
    int rc = gw.self != NULL && import_api(&gw) == 0 && install_signals(&gw) == 0 &&
                     serve_until_stopped(&gw) == 0
                 ? 0
                 : 1;
    if (rc != 0)
        cn_py_log_exception(CN_LOG_ERROR, "gevent worker failed");
    if (gw.conns != NULL) {
        cn_log_warning("Worker %d: graceful timeout with connections open", (int)getpid());
        w->abandoned = true; /* greenlets still reference this stack frame */
        return rc;
    }
    /* The handlers' callbacks point at this stack frame: cancel them. */
    for (Py_ssize_t i = 0; gw.signal_handlers && i < PyList_GET_SIZE(gw.signal_handlers); i++) {
        PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(gw.signal_handlers, i), "cancel", NULL);
        if (r == NULL)
            PyErr_Clear(); /* already gone with the hub: nothing left to call us */
        Py_XDECREF(r);
    }
    PyObject **refs[] = {&gw.wait,    &gw.loop, &gw.sleep, &gw.getcurrent,
                         &gw.joinall, &gw.pool, &gw.signal_handlers, &gw.self};
    for (size_t i = 0; i < CN_ARRAY_LEN(refs); i++)
        Py_CLEAR(*refs[i]);
    return rc;
}
