/* gevent.c - the coroutine worker class: every connection is served in a
 * greenlet on gevent's hub, so an app doing its I/O through gevent-patched
 * libraries overlaps thousands of requests in one process.
 *
 * The HTTP layer stays in C. Sockets are non-blocking; only when a read or
 * write would block (EAGAIN) does conn's wait hook, gevent_wait(), park the
 * greenlet: it starts the connection's io watcher on the hub's loop with the
 * greenlet's own switch as callback and switches to the hub, which switches
 * back when the fd is ready. That costs nothing when data is already there
 * (the common case for a request that arrives in one segment) and uses only
 * gevent's public watcher API: no coupling to the greenlet C-API or to
 * gevent's build of libev.
 *
 * Deadlines are not a gevent.Timeout per wait (gevent.socket.wait makes a
 * Waiter, a Timeout, its timer and its exception each time). A parked wait
 * records its deadline instead,
 * and the ticker, a repeating timer on the hub, wakes the waits whose
 * deadline has passed (TICK_SECONDS granularity). It runs on the hub, where
 * every parked greenlet is suspended in hub.switch(), so it can stop the
 * watcher and switch in without a race with the fd becoming ready.
 * The ticker also beats the heartbeat; it and the signal watchers are plain
 * libev watchers on the hub, so their callbacks run on the hub too.
 *
 * GIL: the worker is one OS thread running greenlets; it holds the GIL the
 * whole time (gevent needs it to switch), so this class never releases it
 * and wsgi's socket I/O keeps it (release_gil_for_io = false).
 *
 * Greenlets: one acceptor per listener and one per connection (spawned into
 * a gevent.pool.Pool of worker_connections; a full pool makes the acceptor
 * wait before it accepts, leaving new connections in the listen backlog for
 * a worker with room). TERM stops the acceptors; open connections get
 * graceful_timeout, and an idle keep-alive one up to timeouts.stop_idle for
 * its next request, answered with Connection: close. */
#include "workers/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64
#define TICK_SECONDS 0.1
/* libev runs a loop iteration's ready callbacks last-queued first, and it
 * queues expired timers after io events: at default priority every timer
 * due (the app's sleeps ending) runs before any request that arrived. A
 * higher priority for connection io serves requests first, which in our
 * sleep-50 ms benchmark at 1,000 connections took mean latency from 52.4
 * to 51.7 ms (0.947 -> 0.958 of the ideal rate). */
#define CONN_IO_PRIORITY 1

struct gevent_worker;

/* The waits of one greenlet, on one io watcher at a time. */
typedef struct gwait {
    PyObject *owner;             /* strong: the greenlet (wsgi refuses the
                                    request's I/O to any other) */
    PyObject *wake;              /* strong: its switch */
    PyObject *watcher;           /* borrowed: what it waits on, while parked */
    double deadline;             /* cn_now() seconds; 0: none */
    bool parked;                 /* suspended in hub.switch() in park() */
    bool timed_out;              /* the ticker woke it */
} gwait_t;

typedef struct gconn {
    cn_conn_t c;
    struct gevent_worker *gw;    /* borrowed */
    struct gconn *prev, *next;   /* the worker's list of open connections */
    PyObject *watchers[2];       /* strong, made on first use: read, write io watchers */
    gwait_t wait;
    bool ticket;                 /* may bring a request (max_requests) */
    bool idle_keepalive;         /* parked for the next request of a keep-alive connection */
    double started;              /* cn_now() when its request went to the app; 0: none */
    bool overdue;                /* past request_timeout: answered, interrupted */
    char what[160];              /* "METHOD TARGET", for the overdue log line */
} gconn_t;

typedef struct gevent_worker {
    cn_worker_t *w;              /* borrowed */
    PyObject *loop, *hub_switch, *joinall, *sleep; /* strong */
    PyObject *str_start, *str_stop, *str_close; /* strong: interned method names */
    PyObject *pool;              /* strong: gevent.pool.Pool */
    PyObject *acceptors;         /* strong: list of the acceptor greenlets */
    PyObject *hub_watchers;      /* strong: list of the ticker and signal watchers */
    PyObject *self;              /* strong: capsule of this struct, the self of our functions */
    gconn_t *conns;              /* every open connection */
    size_t nconns;
    bool stopping;
    bool quick;
} gevent_worker_t;

static int gevent_prepare(cn_worker_t *w);
static int gevent_run(cn_worker_t *w);
static void stop_accepting(struct gevent_worker *gw, bool quick);
static void kill_with(PyObject *greenlet, PyObject *exception);

/* What patch_all() imports, but not ssl (patched before it is imported;
 * its C half _ssl is fine): importing them in the master, with
 * master_entry_points below, takes a gevent worker's boot (fork to first
 * accept) from about 105 to 28 ms, which is what recycling (max_requests)
 * costs. gevent.events alone is 65 ms: it imports pkg_resources to look
 * for plugins. */
static const char *const master_imports[] = {
    "gevent.monkey", "gevent.events", "gevent.socket", "gevent.threading", "gevent.select",
    "gevent.subprocess", "gevent.signal", "gevent.queue", "gevent.pool", "_ssl", NULL};

/* The plugin groups patch_all() loads: resolving their requirements in the
 * master halves what patch_all() costs each worker (38 -> 19 ms). */
static const char *const master_entry_points[] = {
    "gevent.plugins.monkey.will_patch_all", "gevent.plugins.monkey.did_patch_all",
    "gevent.plugins.monkey.will_patch_module", "gevent.plugins.monkey.did_patch_module", NULL};

const cn_worker_class_t cn_worker_gevent = {
    .name = "gevent",
    .multithread = true, /* PEP 3333: greenlets run the app concurrently */
    .release_gil_for_io = false,
    .prepare = gevent_prepare,
    .master_imports = master_imports,
    .master_entry_points = master_entry_points,
    .run = gevent_run,
};

static gevent_worker_t *worker_of(PyObject *capsule)
{
    return PyCapsule_GetPointer(capsule, "cunicorn.gevent_worker");
}

/* Monkey-patch before the app is imported, as Gunicorn's gevent worker does;
 * requests belong to their greenlet (w->current_task). */
static int gevent_prepare(cn_worker_t *w)
{
    PyObject *monkey = PyImport_ImportModule("gevent.monkey");
    PyObject *r = monkey ? PyObject_CallMethod(monkey, "patch_all", NULL) : NULL;
    Py_XDECREF(monkey);
    PyObject *gevent = r ? PyImport_ImportModule("gevent") : NULL;
    w->current_task = gevent ? PyObject_GetAttrString(gevent, "getcurrent") : NULL;
    Py_XDECREF(gevent);
    Py_XDECREF(r);
    if (w->current_task == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "The gevent worker needs gevent (Debian: apt-get install "
                                          "python3-gevent)");
        return -1;
    }
    return 0;
}

/* Call obj.<name>() for its effect, keeping any exception already set
 * (park() stops its watcher while a thrown exception is pending). */
static void call_quietly(PyObject *obj, PyObject *name)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    if (r == NULL)
        PyErr_Clear(); /* stopping or closing a watcher is best effort */
    Py_XDECREF(r);
    PyErr_Restore(type, value, tb);
}

/* Park the current greenlet until `watcher` is ready, or until the ticker
 * finds `deadline` passed: 0, -ETIMEDOUT, or -ECANCELED with the exception
 * thrown into the wait left set (GreenletExit: the worker is stopping; or
 * the app's own, such as a gevent.Timeout around wsgi.input.read()). */
static int park(gevent_worker_t *gw, gwait_t *wt, PyObject *watcher, double deadline)
{
    if (deadline > 0 && deadline <= cn_now())
        return -ETIMEDOUT;
    PyObject *r = PyObject_CallMethodOneArg(watcher, gw->str_start, wt->wake);
    if (r == NULL)
        return -ECANCELED;
    Py_DECREF(r);
    wt->watcher = watcher;
    wt->deadline = deadline;
    wt->timed_out = false;
    wt->parked = true;
    r = PyObject_CallNoArgs(gw->hub_switch);
    wt->parked = false;
    call_quietly(watcher, gw->str_stop);
    if (r == NULL)
        return -ECANCELED;
    Py_DECREF(r);
    return wt->timed_out ? -ETIMEDOUT : 0;
}

/* conn's wait hook (ctx: the gconn_t): park this greenlet until fd is ready. */
static int gevent_wait(void *ctx, int fd, short events, double deadline)
{
    gconn_t *g = ctx;
    int kind = events & POLLIN ? 0 : 1;
    if (g->watchers[kind] == NULL) {
        g->watchers[kind] = PyObject_CallMethod(g->gw->loop, "io", "iiOi", fd, kind == 0 ? 1 : 2,
                                                Py_True, CONN_IO_PRIORITY);
        if (g->watchers[kind] == NULL)
            return -ECANCELED;
    }
    return park(g->gw, &g->wait, g->watchers[kind], deadline);
}

/* The current greenlet becomes wt's owner. */
static int wait_init(gevent_worker_t *gw, gwait_t *wt)
{
    wt->owner = PyObject_CallNoArgs(gw->w->current_task); /* gevent.getcurrent */
    wt->wake = wt->owner ? PyObject_GetAttrString(wt->owner, "switch") : NULL;
    return wt->wake ? 0 : -1;
}

static void wait_clear(gwait_t *wt)
{
    Py_CLEAR(wt->owner);
    Py_CLEAR(wt->wake);
}

/* Close the connection's watchers before its fd is closed. */
static void release_waits(gconn_t *g)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(g->watchers); i++) {
        if (g->watchers[i] != NULL)
            call_quietly(g->watchers[i], g->gw->str_close);
        Py_CLEAR(g->watchers[i]);
    }
    wait_clear(&g->wait);
}

/* From the hub: end the waits whose deadline has passed. */
static void wake_expired(gevent_worker_t *gw)
{
    double now = cn_now();
    for (gconn_t *g = gw->conns, *next; g != NULL; g = next) {
        next = g->next; /* g may end and free itself while it runs */
        gwait_t *wt = &g->wait;
        if (!wt->parked || wt->deadline <= 0 || wt->deadline > now)
            continue;
        call_quietly(wt->watcher, gw->str_stop); /* and drops an event already pending */
        wt->timed_out = true;
        PyObject *r = PyObject_CallNoArgs(wt->wake); /* back here when it parks again or ends */
        if (r == NULL)
            cn_py_log_exception(CN_LOG_WARNING, "cannot wake a connection's greenlet");
        Py_XDECREF(r);
    }
}

/* Read the next request head: timeouts.idle for its first byte (as
 * gthread), then timeouts.io for the whole head. */
static int read_head(gconn_t *g)
{
    const cn_timeouts_t *t = &g->gw->w->timeouts;
    double idle_deadline = cn_now() + (g->gw->stopping ? t->stop_idle : t->idle);
    double head_deadline = 0;
    /* Right after a response the client's next request is seldom there
     * yet: wait first instead of spending a recv() on EAGAIN. */
    bool wait_first = g->c.requests > 0 && g->c.rbuf.len == 0;
    for (;;) {
        int rc = wait_first ? -EAGAIN : cn_conn_try_read_head(&g->c);
        wait_first = false;
        if (rc != -EAGAIN)
            return rc;
        bool idle = g->c.rbuf.len == 0; /* no byte of the request yet */
        g->idle_keepalive = idle && g->c.requests > 0;
        if (!idle && head_deadline == 0)
            head_deadline = cn_now() + t->io;
        rc = gevent_wait(g, g->c.fd, POLLIN, idle ? idle_deadline : head_deadline);
        g->idle_keepalive = false;
        if (rc == -ETIMEDOUT && idle) {
            /* read once more after deciding to close: a request that raced
             * the idle timeout is served */
            rc = cn_conn_try_read_head(&g->c);
            return rc == -EAGAIN ? -ETIMEDOUT : rc;
        }
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
        if (rc < 0) {
            PyErr_Clear(); /* an exception thrown into a wait, with no app to take it */
            return;
        }
        bool may_keep = cn_worker_request_begin(gw->w, &g->ticket,
                                                gw->w->timeouts.keepalive && !gw->stopping);
        if (gw->w->flags.stop)
            stop_accepting(gw, false); /* the last request of max_requests has begun */
        /* a keep-alive answer stays open, stopping or not: the next
         * request is answered with Connection: close */
        if (gw->w->cfg->request_timeout > 0) {
            g->started = cn_now();
            cn_conn_request_line(&g->c, g->what, sizeof(g->what));
        }
        bool keep = cn_wsgi_serve(gw->w->wsgi, &g->c, may_keep);
        g->started = 0;
        g->overdue = false;
        if (!keep)
            return;
        cn_conn_next_request(&g->c);
    }
}

static void conn_unlink(gconn_t *g)
{
    gevent_worker_t *gw = g->gw;
    if (g->prev)
        g->prev->next = g->next;
    else
        gw->conns = g->next;
    if (g->next)
        g->next->prev = g->prev;
    gw->nconns--;
    cn_worker_publish_load(gw->w, !gw->stopping, gw->nconns);
}

/* _serve(capsule of a gconn_t): a connection's greenlet. */
static PyObject *py_serve(PyObject *self, PyObject *conn_capsule)
{
    gconn_t *g = PyCapsule_GetPointer(conn_capsule, "cunicorn.gevent_conn");
    if (g == NULL)
        return NULL;
    if (wait_init(g->gw, &g->wait) == 0)
        serve_connection(g);
    else
        cn_py_log_exception(CN_LOG_ERROR, "cannot serve a connection without its greenlet");
    conn_unlink(g);
    release_waits(g);
    cn_conn_close(&g->c);
    cn_worker_ticket_return(g->gw->w, &g->ticket);
    free(g);
    Py_RETURN_NONE;
}

static PyMethodDef serve_def = {"_serve", py_serve, METH_O, NULL};

/* Hand an accepted fd and its ticket to a new greenlet in the pool, which
 * has a free slot (py_accept waits for one before it accepts). */
static int spawn_connection(gevent_worker_t *gw, PyObject *serve, const cn_listener_t *l, int fd,
                            const struct sockaddr_storage *peer, socklen_t len, bool *ticket)
{
    gconn_t *g = cn_xcalloc(1, sizeof(*g));
    g->ticket = *ticket;
    *ticket = false;
    cn_conn_init(&g->c, fd, (const struct sockaddr *)peer, len, l, &gw->w->limits);
    cn_conn_set_options(&g->c, &gw->w->conn_opts);
    g->c.wait = gevent_wait;
    g->c.wait_ctx = g;
    g->c.io_timeout = gw->w->timeouts.io;
    g->gw = gw;
    g->next = gw->conns;
    if (gw->conns)
        gw->conns->prev = g;
    gw->conns = g;
    gw->nconns++;
    cn_worker_publish_load(gw->w, !gw->stopping, gw->nconns);
    PyObject *cap = PyCapsule_New(g, "cunicorn.gevent_conn", NULL);
    PyObject *r = cap ? PyObject_CallMethod(gw->pool, "spawn", "OO", serve, cap) : NULL;
    Py_XDECREF(cap);
    if (r == NULL) {
        conn_unlink(g);
        cn_conn_close(&g->c);
        cn_worker_ticket_return(gw->w, &g->ticket);
        free(g);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Wait until the pool has room for one more connection: that is the
 * worker_connections bound. Waiting before accept() rather than in
 * pool.spawn() means a stop never finds an acceptor holding a connection it
 * has not handed on. 0, or -1 with an exception set (killed). */
static int wait_for_slot(gevent_worker_t *gw)
{
    PyObject *full = PyObject_CallMethod(gw->pool, "full", NULL);
    int rc = full ? PyObject_IsTrue(full) : -1;
    Py_XDECREF(full);
    if (rc <= 0)
        return rc;
    PyObject *r = PyObject_CallMethod(gw->pool, "wait_available", NULL);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Wait until a connection may bring a request (max_requests: idle
 * keep-alive connections may hold every ticket left until they close). 0,
 * or -1 with an exception set (killed). */
static int wait_for_ticket(gevent_worker_t *gw, bool *ticket)
{
    while (!cn_worker_ticket_take(gw->w, ticket)) {
        PyObject *r = PyObject_CallFunction(gw->sleep, "d", TICK_SECONDS);
        Py_XDECREF(r);
        if (r == NULL)
            return -1;
    }
    return 0;
}

/* Leave the next connection to a lighter worker for a while (the fair
 * share, worker.h). 0, or -1 with an exception set (killed). */
static int yield_to_lighter(gevent_worker_t *gw)
{
    while (!gw->stopping && cn_worker_accept_yield(gw->w, gw->nconns)) {
        PyObject *r = PyObject_CallFunction(gw->sleep, "d", CN_ACCEPT_YIELD);
        Py_XDECREF(r);
        if (r == NULL)
            return -1;
    }
    return 0;
}

/* Accept what the listener has ready, up to ACCEPTS_PER_WAKEUP. 0, or -1
 * with an exception set (killed while waiting for a slot or a ticket). */
static int accept_batch(gevent_worker_t *gw, PyObject *serve, const cn_listener_t *l)
{
    for (int n = 0; n < ACCEPTS_PER_WAKEUP && !gw->stopping; n++) {
        bool ticket = false;
        if (yield_to_lighter(gw) < 0 || wait_for_slot(gw) < 0 || wait_for_ticket(gw, &ticket) < 0)
            return -1;
        /* no switch from here to spawn: the slot stays free */
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = cn_worker_accept(l, &peer, &len);
        if (fd < 0) {
            cn_worker_ticket_return(gw->w, &ticket);
            cn_worker_accept_drained(gw->w);
            return 0;
        }
        if (spawn_connection(gw, serve, l, fd, &peer, len, &ticket) < 0) {
            cn_py_log_exception(CN_LOG_ERROR, "cannot start a greenlet for a connection");
            return 0;
        }
    }
    return 0;
}

/* _accept(index): a listener's greenlet, until the worker stops (killed:
 * stop_accepting()). */
static PyObject *py_accept(PyObject *self, PyObject *index)
{
    gevent_worker_t *gw = worker_of(self);
    Py_ssize_t i = PyLong_AsSsize_t(index);
    if (gw == NULL || i < 0)
        return NULL;
    const cn_listener_t *l = &gw->w->ctx->listeners[i];
    gwait_t wait = {0};
    PyObject *serve = wait_init(gw, &wait) == 0 ? PyCFunction_New(&serve_def, gw->self) : NULL;
    PyObject *watcher = serve ? PyObject_CallMethod(gw->loop, "io", "ii", l->fd, 1) : NULL;
    if (watcher == NULL) {
        wait_clear(&wait);
        Py_XDECREF(serve);
        return NULL;
    }
    while (!gw->stopping && park(gw, &wait, watcher, 0) == 0 && accept_batch(gw, serve, l) == 0)
        ;
    PyErr_Clear(); /* GreenletExit: killed at stop, this greenlet just ends */
    call_quietly(watcher, gw->str_close);
    Py_DECREF(watcher);
    Py_DECREF(serve);
    wait_clear(&wait);
    Py_RETURN_NONE;
}

/* greenlet.kill(block=False): GreenletExit is raised in it at its next
 * switch. */
static void kill_nowait(PyObject *greenlet)
{
    kill_with(greenlet, NULL);
}

/* greenlet.kill(exception, block=False); NULL: GreenletExit. */
static void kill_with(PyObject *greenlet, PyObject *exception)
{
    PyObject *kill = PyObject_GetAttrString(greenlet, "kill");
    PyObject *kwargs = kill ? Py_BuildValue("{s:O}", "block", Py_False) : NULL;
    if (kwargs != NULL && exception != NULL && PyDict_SetItemString(kwargs, "exception",
                                                                     exception) < 0)
        Py_CLEAR(kwargs);
    PyObject *r = kwargs ? PyObject_VectorcallDict(kill, NULL, 0, kwargs) : NULL;
    if (r == NULL)
        cn_py_log_exception(CN_LOG_WARNING, "cannot stop a greenlet");
    Py_XDECREF(r);
    Py_XDECREF(kwargs);
    Py_XDECREF(kill);
}

/* End the acceptors, and for a quick stop every connection; idle
 * connections are closed by wake_expired(), on the hub. From any greenlet:
 * kills take effect at the victim's next switch. */
static void stop_accepting(gevent_worker_t *gw, bool quick)
{
    for (Py_ssize_t i = 0; !gw->stopping && i < PyList_GET_SIZE(gw->acceptors); i++)
        kill_nowait(PyList_GET_ITEM(gw->acceptors, i));
    for (gconn_t *g = gw->conns; quick && !gw->quick && g != NULL; g = g->next)
        if (g->wait.owner != NULL)
            kill_nowait(g->wait.owner);
    /* an idle keep-alive connection waits up to stop_idle more for its next
     * request (answered with Connection: close); the ticker ends the wait */
    double stop_idle = cn_now() + gw->w->timeouts.stop_idle;
    for (gconn_t *g = gw->conns; !gw->stopping && g != NULL; g = g->next)
        if (g->idle_keepalive && g->wait.deadline > stop_idle)
            g->wait.deadline = stop_idle;
    gw->stopping = true;
    gw->quick = gw->quick || quick;
    cn_worker_publish_load(gw->w, false, gw->nconns);
}

/* request_timeout, from the hub: a request past its deadline is answered
 * 503 (or cut), its greenlet's stack logged and cunicorn.RequestTimeout
 * thrown into it; still running graceful_timeout later, the worker asks
 * the master for a replacement, which then stops it gracefully. */
static void check_deadlines(gevent_worker_t *gw)
{
    double limit = gw->w->cfg->request_timeout, now = cn_now();
    for (gconn_t *g = gw->conns; g != NULL; g = g->next) {
        if (g->started == 0 || now - g->started < limit || g->wait.owner == NULL)
            continue;
        if (!g->overdue) {
            g->overdue = true;
            bool answered = cn_conn_deadline_expire(&g->c);
            PyObject *frame = PyObject_GetAttrString(g->wait.owner, "gr_frame");
            if (frame == NULL)
                PyErr_Clear();
            cn_wsgi_overdue_log(g->what, frame == Py_None ? NULL : frame, (int)limit, answered);
            Py_XDECREF(frame);
            PyObject *type = cn_wsgi_request_timeout_type();
            if (type != NULL)
                kill_with(g->wait.owner, type);
            else
                PyErr_Clear();
            Py_XDECREF(type);
        } else if (now - g->started >= limit + gw->w->timeouts.graceful) {
            cn_worker_request_stuck(gw->w);
        }
    }
}

/* _tick(): the ticker's callback on the hub, every TICK_SECONDS. */
static PyObject *py_tick(PyObject *self, PyObject *unused)
{
    gevent_worker_t *gw = worker_of(self);
    cn_heartbeat_beat(gw->w->ctx->heartbeat);
    if (!gw->stopping && !cn_worker_alive(gw->w))
        stop_accepting(gw, false);
    wake_expired(gw);
    if (gw->w->cfg->request_timeout > 0)
        check_deadlines(gw);
    Py_RETURN_NONE;
}

/* _signal(signum): gevent runs it on the hub for TERM, INT, QUIT, ABRT, USR1. */
static PyObject *py_signal(PyObject *self, PyObject *signum)
{
    gevent_worker_t *gw = worker_of(self);
    long sig = PyLong_AsLong(signum);
    if (sig == SIGUSR1) {
        cn_log_reopen();
        Py_RETURN_NONE;
    }
    if (sig != SIGTERM) {
        gw->w->flags.aborted = gw->w->flags.aborted || sig == SIGABRT;
        gw->w->flags.quick_stop = 1;
        cn_worker_stop_hook(gw->w);
    }
    stop_accepting(gw, sig != SIGTERM);
    Py_RETURN_NONE;
}

static PyMethodDef accept_def = {"_accept", py_accept, METH_O, NULL};
static PyMethodDef tick_def = {"_tick", py_tick, METH_NOARGS, NULL};
static PyMethodDef signal_def = {"_signal", py_signal, METH_O, NULL};

/* gevent.Greenlet with switch_out = None. gevent's Hub.switch() calls the
 * current greenlet's switch_out hook if it has one; looking up a missing
 * one raises and clears an AttributeError on every wait the app makes
 * (time.sleep, socket reads): ~0.8 us each. */
static PyObject *greenlet_class(PyObject *gevent)
{
    PyObject *base = PyObject_GetAttrString(gevent, "Greenlet");
    PyObject *cls = base ? PyObject_CallFunction((PyObject *)&PyType_Type, "s(O){sOss}",
                                                 "CunicornGreenlet", base, "switch_out", Py_None,
                                                 "__module__", "cunicorn")
                         : NULL;
    Py_XDECREF(base);
    return cls;
}

/* greenlet's own switch bound to the hub: what park() switches with, for
 * the same reason (Hub.switch() is that lookup, then this). */
static PyObject *raw_hub_switch(PyObject *greenlet_module, PyObject *hub)
{
    PyObject *type = PyObject_GetAttrString(greenlet_module, "greenlet");
    PyObject *unbound = type ? PyObject_GetAttrString(type, "switch") : NULL;
    PyObject *bound = unbound ? PyObject_CallMethod(unbound, "__get__", "O", hub) : NULL;
    Py_XDECREF(unbound);
    Py_XDECREF(type);
    return bound;
}

static int import_api(gevent_worker_t *gw)
{
    PyObject *gevent = NULL, *greenlet = NULL, *gpool = NULL, *hub = NULL, *cls = NULL;
    int rc = -1;
    if ((gevent = PyImport_ImportModule("gevent")) == NULL ||
        (greenlet = PyImport_ImportModule("greenlet")) == NULL ||
        (gpool = PyImport_ImportModule("gevent.pool")) == NULL ||
        (hub = PyObject_CallMethod(gevent, "get_hub", NULL)) == NULL ||
        (gw->loop = PyObject_GetAttrString(hub, "loop")) == NULL ||
        (gw->hub_switch = raw_hub_switch(greenlet, hub)) == NULL ||
        (gw->joinall = PyObject_GetAttrString(gevent, "joinall")) == NULL ||
        (gw->sleep = PyObject_GetAttrString(gevent, "sleep")) == NULL ||
        (cls = greenlet_class(gevent)) == NULL ||
        (gw->pool = PyObject_CallMethod(gpool, "Pool", "iO", gw->w->cfg->worker_connections,
                                        cls)) == NULL ||
        (gw->str_start = PyUnicode_InternFromString("start")) == NULL ||
        (gw->str_stop = PyUnicode_InternFromString("stop")) == NULL ||
        (gw->str_close = PyUnicode_InternFromString("close")) == NULL ||
        (gw->acceptors = PyList_New(0)) == NULL || (gw->hub_watchers = PyList_New(0)) == NULL)
        goto done;
    rc = 0;
done:
    Py_XDECREF(gevent);
    Py_XDECREF(greenlet);
    Py_XDECREF(gpool);
    Py_XDECREF(hub);
    Py_XDECREF(cls);
    return rc;
}

/* Start a new watcher (stolen) with callback, or callback(cb_arg); it joins
 * gw->hub_watchers, which gevent_run() closes: the callbacks point at its
 * stack frame. */
static int start_hub_watcher(gevent_worker_t *gw, PyObject *watcher, PyObject *callback,
                             PyObject *cb_arg)
{
    PyObject *r = NULL;
    if (watcher != NULL && PyList_Append(gw->hub_watchers, watcher) == 0)
        r = cb_arg ? PyObject_CallMethodObjArgs(watcher, gw->str_start, callback, cb_arg, NULL)
                   : PyObject_CallMethodOneArg(watcher, gw->str_start, callback);
    Py_XDECREF(watcher);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The ticker, and a libev signal watcher for each signal we act on: both
 * call back on the hub itself (gevent.signal_handler would run _signal in
 * a new greenlet, from which wake_expired() could not switch back). */
static int start_hub_watchers(gevent_worker_t *gw)
{
    PyObject *tick = PyCFunction_New(&tick_def, gw->self);
    PyObject *on_signal = tick ? PyCFunction_New(&signal_def, gw->self) : NULL;
    /* neither ref'd: they alone do not keep the hub's loop running */
    int rc = on_signal ? start_hub_watcher(gw,
                                           PyObject_CallMethod(gw->loop, "timer", "ddO",
                                                               TICK_SECONDS, TICK_SECONDS,
                                                               Py_False),
                                           tick, NULL)
                       : -1;
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGABRT, SIGUSR1};
    for (size_t i = 0; rc == 0 && i < CN_ARRAY_LEN(sigs); i++) {
        PyObject *signum = PyLong_FromLong(sigs[i]);
        rc = signum ? start_hub_watcher(gw, PyObject_CallMethod(gw->loop, "signal", "OO", signum,
                                                                Py_False),
                                        on_signal, signum)
                    : -1;
        Py_XDECREF(signum);
    }
    /* libev's handler writes to its wake-up pipe from a buffer on whatever
     * stack the signal lands on: a greenlet's slice of the stack, whose
     * AddressSanitizer shadow still marks the redzones of frames that were
     * switched away from and never returned. ASan then kills the worker for
     * a bad write that is not one (seen at TERM, under load). On a stack of
     * their own the handlers never touch a greenlet's. */
    if (rc == 0 && cn_worker_signals_on_own_stack(sigs, CN_ARRAY_LEN(sigs)) != 0) {
        cn_log_error("cannot give the signal handlers their own stack: %s", strerror(errno));
        rc = -1;
    }
    Py_XDECREF(tick);
    Py_XDECREF(on_signal);
    return rc;
}

/* Start the acceptors, wait for them to end (stop), then give in-flight
 * requests graceful_timeout. */
static int serve_until_stopped(gevent_worker_t *gw)
{
    PyObject *accept = PyCFunction_New(&accept_def, gw->self);
    PyObject *gevent = PyImport_ImportModule("gevent");
    PyObject *r = NULL;
    int rc = -1;
    if (accept == NULL || gevent == NULL)
        goto done;
    /* Acceptors live outside the pool: its slots are for connections. */
    for (size_t i = 0; i < gw->w->ctx->nlisteners; i++) {
        PyObject *g = PyObject_CallMethod(gevent, "spawn", "On", accept, (Py_ssize_t)i);
        if (g == NULL || PyList_Append(gw->acceptors, g) < 0) {
            Py_XDECREF(g);
            goto done;
        }
        Py_DECREF(g);
    }
    if ((r = PyObject_CallOneArg(gw->joinall, gw->acceptors)) == NULL)
        goto done;
    Py_CLEAR(r);
    if (!gw->quick)
        r = PyObject_CallMethod(gw->pool, "join", "d", gw->w->timeouts.graceful);
    rc = gw->quick || r != NULL ? 0 : -1;
done:
    Py_XDECREF(gevent);
    Py_XDECREF(r);
    Py_XDECREF(accept);
    return rc;
}

static int gevent_run(cn_worker_t *w)
{
    gevent_worker_t gw;
    memset(&gw, 0, sizeof(gw));
    gw.w = w;
    gw.self = PyCapsule_New(&gw, "cunicorn.gevent_worker", NULL);
    int rc = gw.self != NULL && import_api(&gw) == 0 && start_hub_watchers(&gw) == 0 &&
                     serve_until_stopped(&gw) == 0
                 ? 0
                 : 1;
    if (rc != 0)
        cn_py_log_exception(CN_LOG_ERROR, "gevent worker failed");
    if (gw.conns != NULL) {
        if (!gw.quick)
            cn_log_warning("Worker %d: graceful timeout with connections open", (int)getpid());
        w->abandoned = true; /* greenlets still reference this stack frame */
        return rc;
    }
    /* libev gives a signal back to SIG_DFL when its last watcher closes: a
     * TERM repeated while the worker exits must still be a no-op, not a kill,
     * so the signals wait, blocked, until the worker's own handlers are back
     * (cn_worker_signals_install unblocks them). */
    cn_worker_signals_hold();
    for (Py_ssize_t i = 0; gw.hub_watchers && i < PyList_GET_SIZE(gw.hub_watchers); i++)
        call_quietly(PyList_GET_ITEM(gw.hub_watchers, i), gw.str_close);
    cn_worker_signals_install(&w->flags);
    PyObject **refs[] = {&gw.loop,      &gw.hub_switch, &gw.joinall,     &gw.sleep,
                         &gw.pool,      &gw.acceptors,  &gw.hub_watchers, &gw.str_start,
                         &gw.str_stop,  &gw.str_close,  &gw.self};
    for (size_t i = 0; i < CN_ARRAY_LEN(refs); i++)
        Py_CLEAR(*refs[i]);
    return rc;
}
