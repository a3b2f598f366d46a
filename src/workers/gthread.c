/* gthread.c - the gthread worker class: a libev loop in the main thread and
 * a pool of `threads` pthreads that run the app.
 *
 * The loop (no GIL, no PyObject) accepts, reads and parses request heads,
 * reads small bodies whole, and parks idle keep-alive connections, so a
 * client that trickles its request never occupies an app thread. A
 * connection goes to the pool only with a complete head (and, for a
 * Content-Length body up to BODY_BUFFER_MAX, the whole body); larger or
 * chunked bodies stream to the app through wsgi.input from the pool thread.
 *
 * Connection states (one owner at a time):
 *
 *   HEAD --head done--> BODY --body buffered--> APP (pool thread owns it)
 *    ^  \--small/no body or streamed-----------/  |
 *    |                                            v
 *    +---- keep-alive (loop owns it again) <--- done
 *
 * Timers (cn_timeouts_t): an idle connection (no byte of the next request
 * yet) is closed after timeouts.idle; once a request has started, its head
 * and buffered body must arrive within timeouts.io (not reset per byte, so
 * a slowloris client cannot extend it).
 *
 * max_requests: the loop takes a ticket before each accept and stops
 * accepting when there is none (cn_worker_ticket_take); a request begins at
 * dispatch, where the loop also decides whether the connection may stay
 * open, so the pool threads never touch the worker's counters.
 *
 * request_timeout: the loop's deadline timer looks at the requests in the
 * pool; one past its deadline is answered 503 by the loop (cn_conn's answer
 * claim decides against the app thread) and gets cunicorn.RequestTimeout
 * through PyThreadState_SetAsyncExc, which takes effect at its next Python
 * instruction. Still running graceful_timeout later, it makes the worker
 * ask the master for a replacement, which then stops it gracefully: the
 * others finish, the stuck thread is abandoned.
 *
 * The GIL is taken in serve_in_thread() for every request, and by the loop
 * only in deadline_passed(), for a request past request_timeout. */
#include "workers/worker.h"

#include "cunicorn/threadpool.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_BUFFER_MAX (64 * 1024)
#define ACCEPTS_PER_WAKEUP 64
#define DEADLINE_TICK 0.1 /* s between two looks at the requests' clocks */

typedef enum { G_HEAD, G_BODY, G_APP } gstate_t;

struct gworker;

typedef struct gconn {
    cn_conn_t c;
    cn_pool_job_t job;
    ev_io io;
    ev_timer timer;
    struct gworker *gw;          /* borrowed */
    struct gconn *prev, *next;   /* the worker's list of open connections */
    gstate_t state;
    bool started;                /* a byte of the current request arrived */
    bool ticket;                 /* may bring a request (max_requests) */
    bool may_keep;               /* the loop's offer, at dispatch */
    bool keep;                   /* the pool thread's verdict */
    double dispatched;           /* ev_now() when the request went to the pool */
    unsigned long thread;        /* atomic: the pool thread running it, 0 before */
    bool overdue;                /* past request_timeout: answered, interrupted */
    char what[160];              /* "METHOD TARGET", for the overdue log line */
} gconn_t;

typedef struct gworker {
    cn_worker_t *w;              /* borrowed */
    struct ev_loop *loop;
    ev_io *accept_io;            /* owned: one per listener */
    ev_timer beat;
    ev_timer accept_pause;       /* accepting again after a yield */
    ev_timer deadlines;          /* request_timeout's clock; started if set */
    ev_signal sig_term, sig_int, sig_quit, sig_abrt, sig_usr1;
    cn_pool_t *pool;             /* owned */
    PyInterpreterState *interp;  /* borrowed */
    gconn_t *conns;              /* owned: every open connection */
    size_t nconns;
    bool accepting;
    int stopping;                /* read by pool threads: atomic */
    bool quick;
    ev_tstamp stop_deadline;
} gworker_t;

static int gthread_run(cn_worker_t *w);
static void accept_on_ready(struct ev_loop *loop, ev_io *io, int revents);
static void conn_on_read(struct ev_loop *loop, ev_io *io, int revents);
static void conn_on_timeout(struct ev_loop *loop, ev_timer *t, int revents);
static void conn_advance(gconn_t *g);
static void conn_wait_request(gconn_t *g);
static void conn_close(gconn_t *g);
static void *thread_start(void *ud);
static void serve_in_thread(void *ud, void *thread_state, cn_pool_job_t *job);
static void serve_done(void *ud, cn_pool_job_t *job);
static void thread_stop(void *ud, void *thread_state);
static void begin_stop(gworker_t *gw);
static void set_accepting(gworker_t *gw, bool on);
static void listeners_watch(gworker_t *gw, bool on);
static void pause_accepting(gworker_t *gw);
static void accept_on_pause_end(struct ev_loop *loop, ev_timer *t, int revents);

const cn_worker_class_t cn_worker_gthread = {
    .name = "gthread",
    .multithread = true,
    .release_gil_for_io = true,
    .run = gthread_run,
};

static const cn_pool_ops_t pool_ops = {thread_start, serve_in_thread, serve_done, thread_stop};

/* ---- pool threads (GIL) ------------------------------------------------- */

static void *thread_start(void *ud)
{
    gworker_t *gw = ud;
    return PyThreadState_New(gw->interp); /* made current under the GIL per request */
}

static void serve_in_thread(void *ud, void *thread_state, cn_pool_job_t *job)
{
    gworker_t *gw = ud;
    gconn_t *g = cn_container_of(job, gconn_t, job);
    bool may_keep = g->may_keep && !__atomic_load_n(&gw->stopping, __ATOMIC_RELAXED);
    if (cn_conn_deadline_hit(&g->c)) { /* answered 503 while it waited for a thread */
        g->keep = false;
        return;
    }
    __atomic_store_n(&g->thread, PyThread_get_thread_ident(), __ATOMIC_RELEASE);
    PyEval_RestoreThread(thread_state); /* the GIL, for the request */
    g->keep = cn_wsgi_serve(gw->w->wsgi, &g->c, may_keep);
    PyEval_SaveThread();
}

static void thread_stop(void *ud, void *thread_state)
{
    PyEval_RestoreThread(thread_state);
    PyThreadState_Clear(thread_state);
    PyThreadState_DeleteCurrent();
}

/* ---- the loop (no GIL) --------------------------------------------------- */

static void serve_done(void *ud, cn_pool_job_t *job)
{
    gconn_t *g = cn_container_of(job, gconn_t, job);
    g->c.io_timeout = g->gw->w->timeouts.loop_write;
    __atomic_store_n(&g->thread, 0, __ATOMIC_RELEASE);
    g->overdue = false;
    if (!g->keep) { /* a keep-alive answer stays open, stopping or not (begin_stop) */
        conn_close(g);
        return;
    }
    cn_conn_next_request(&g->c);
    g->state = G_HEAD;
    g->started = false;
    if (g->c.rbuf.len > 0)
        conn_advance(g); /* a pipelined request is already here */
    else
        conn_wait_request(g);
}

/* Watch for the next request: idle timer until its first byte. */
static void conn_wait_request(gconn_t *g)
{
    gworker_t *gw = g->gw;
    if (g->c.rbuf.len == 0)
        cn_buf_free(&g->c.rbuf); /* idle connections keep no buffer */
    ev_timer_set(&g->timer, gw->stopping ? gw->w->timeouts.stop_idle : gw->w->timeouts.idle, 0);
    ev_timer_start(gw->loop, &g->timer);
    ev_io_start(gw->loop, &g->io);
}

static void dispatch(gconn_t *g)
{
    gworker_t *gw = g->gw;
    ev_io_stop(gw->loop, &g->io);
    ev_timer_stop(gw->loop, &g->timer);
    g->state = G_APP;
    g->c.io_timeout = gw->w->timeouts.io;
    g->may_keep = cn_worker_request_begin(gw->w, &g->ticket,
                                          gw->w->timeouts.keepalive && !gw->stopping);
    if (gw->w->flags.stop)
        begin_stop(gw); /* the last request of max_requests has begun */
    if (gw->w->cfg->request_timeout > 0) {
        g->dispatched = ev_now(gw->loop);
        cn_conn_request_line(&g->c, g->what, sizeof(g->what));
    }
    cn_pool_submit(gw->pool, &g->job);
}

/* A small Content-Length body is read by the loop before dispatch. */
static bool body_buffered(const gconn_t *g)
{
    const cn_http_request_t *r = &g->c.req;
    if (!r->has_content_length || r->content_length > BODY_BUFFER_MAX || r->expect_continue)
        return true; /* nothing to buffer here: streamed by the app thread */
    return g->c.rbuf.len - g->c.raw_off >= r->content_length;
}

static void mark_started(gconn_t *g)
{
    if (g->started || g->c.rbuf.len == 0)
        return;
    g->started = true;
    ev_timer_stop(g->gw->loop, &g->timer);
    ev_timer_set(&g->timer, g->gw->w->timeouts.io, 0);
    ev_timer_start(g->gw->loop, &g->timer);
}

/* Make progress on what the socket has; never blocks. */
static void conn_advance(gconn_t *g)
{
    if (g->state == G_HEAD) {
        int rc = cn_conn_try_read_head(&g->c);
        mark_started(g);
        if (rc == -EAGAIN)
            goto wait;
        if (rc == -EPROTO)
            cn_conn_reject(&g->c);
        if (rc < 0) {
            conn_close(g);
            return;
        }
        g->state = G_BODY;
    }
    while (!body_buffered(g)) {
        ssize_t n = cn_conn_recv_nowait(&g->c);
        if (n == -EAGAIN)
            goto wait;
        if (n == 0) { /* answered as sync and gevent answer a body cut short */
            (void)cn_conn_fail(&g->c, 400, "connection closed inside the request body");
            cn_conn_reject(&g->c);
        }
        if (n <= 0) {
            conn_close(g);
            return;
        }
    }
    dispatch(g);
    return;
wait:
    if (!ev_is_active(&g->io))
        ev_io_start(g->gw->loop, &g->io);
}

static void conn_on_read(struct ev_loop *loop, ev_io *io, int revents)
{
    conn_advance(cn_container_of(io, gconn_t, io));
}

static void conn_on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    gconn_t *g = cn_container_of(t, gconn_t, timer);
    if (g->state == G_HEAD && !g->started && cn_conn_recv_nowait(&g->c) > 0) {
        conn_advance(g); /* the next request raced the idle timeout: answer it */
        return;
    }
    if (g->state == G_BODY) {
        cn_metrics_refused(g->c.metrics, 408);
        cn_conn_send_error(&g->c, 408);
    }
    if (g->started)
        cn_log_debug("Closing a connection from %s: request not received in time",
                     g->c.peer_host);
    conn_close(g);
}

static void conn_close(gconn_t *g)
{
    gworker_t *gw = g->gw;
    ev_io_stop(gw->loop, &g->io);
    ev_timer_stop(gw->loop, &g->timer);
    if (g->prev)
        g->prev->next = g->next;
    else
        gw->conns = g->next;
    if (g->next)
        g->next->prev = g->prev;
    cn_conn_close(&g->c);
    cn_worker_ticket_return(gw->w, &g->ticket);
    free(g);
    gw->nconns--;
    cn_worker_publish_load(gw->w, gw->accepting, gw->nconns);
    if (gw->stopping) {
        if (gw->nconns == 0)
            ev_break(gw->loop, EVBREAK_ALL);
    } else if (!gw->accepting && gw->nconns < (size_t)gw->w->cfg->worker_connections &&
               cn_worker_tickets_left(gw->w)) {
        set_accepting(gw, true);
    }
}

/* Takes the ticket *ticket holds. */
static void accept_one(gworker_t *gw, const cn_listener_t *l, int fd,
                       const struct sockaddr_storage *peer, socklen_t len, bool *ticket)
{
    gconn_t *g = cn_xcalloc(1, sizeof(*g));
    g->ticket = *ticket;
    *ticket = false;
    cn_conn_init(&g->c, fd, (const struct sockaddr *)peer, len, l, &gw->w->limits);
    cn_conn_set_options(&g->c, &gw->w->conn_opts);
    /* While the loop owns the connection its writes (a reject, a 408) are
     * bounded by loop_write: the loop serves everyone. The app thread's
     * I/O gets the read timeout (dispatch). */
    g->c.io_timeout = gw->w->timeouts.loop_write;
    g->gw = gw;
    g->state = G_HEAD;
    ev_io_init(&g->io, conn_on_read, fd, EV_READ);
    ev_timer_init(&g->timer, conn_on_timeout, 0, 0);
    g->next = gw->conns;
    if (gw->conns)
        gw->conns->prev = g;
    gw->conns = g;
    gw->nconns++;
    cn_worker_publish_load(gw->w, gw->accepting, gw->nconns);
    conn_wait_request(g);
}

static void accept_on_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    gworker_t *gw = io->data;
    const cn_listener_t *l = &gw->w->ctx->listeners[io - gw->accept_io];
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && gw->accepting; i++) {
        if (cn_worker_accept_yield(gw->w, gw->nconns)) {
            pause_accepting(gw);
            return;
        }
        bool ticket = false;
        if (!cn_worker_ticket_take(gw->w, &ticket)) {
            set_accepting(gw, false); /* until a connection gives its ticket back */
            return;
        }
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = cn_worker_accept(l, &peer, &len);
        if (fd < 0) {
            cn_worker_ticket_return(gw->w, &ticket);
            cn_worker_accept_drained(gw->w);
            return;
        }
        accept_one(gw, l, fd, &peer, len, &ticket);
        if (gw->nconns >= (size_t)gw->w->cfg->worker_connections)
            set_accepting(gw, false); /* others take the load until we drop below */
    }
}

static void set_accepting(gworker_t *gw, bool on)
{
    gw->accepting = on;
    ev_timer_stop(gw->loop, &gw->accept_pause);
    listeners_watch(gw, on);
    cn_worker_publish_load(gw->w, on, gw->nconns);
}

static void listeners_watch(gworker_t *gw, bool on)
{
    for (size_t i = 0; i < gw->w->ctx->nlisteners; i++) {
        if (on)
            ev_io_start(gw->loop, &gw->accept_io[i]);
        else
            ev_io_stop(gw->loop, &gw->accept_io[i]);
    }
}

/* A lighter worker should take the next connection: stop watching the
 * listeners for CN_ACCEPT_YIELD, still accepting as far as the others see. */
static void pause_accepting(gworker_t *gw)
{
    listeners_watch(gw, false);
    ev_timer_stop(gw->loop, &gw->accept_pause);
    ev_timer_set(&gw->accept_pause, CN_ACCEPT_YIELD, 0);
    ev_timer_start(gw->loop, &gw->accept_pause);
}

static void accept_on_pause_end(struct ev_loop *loop, ev_timer *t, int revents)
{
    gworker_t *gw = t->data;
    if (gw->accepting)
        listeners_watch(gw, true);
}

/* ---- life: heartbeat, signals, stop ------------------------------------- */

static void beat_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    gworker_t *gw = t->data;
    cn_heartbeat_beat(gw->w->ctx->heartbeat);
    if (!gw->stopping && !cn_worker_alive(gw->w))
        begin_stop(gw);
    if (gw->stopping && ev_now(loop) >= gw->stop_deadline) {
        cn_log_warning("Worker %d: graceful timeout with %zu connection(s) open",
                       (int)getpid(), gw->nconns);
        ev_break(loop, EVBREAK_ALL);
    }
}

/* A request past request_timeout: the 503 (or the cut), its stack in the
 * log, and the exception in its thread. The loop's only use of the GIL. */
static void deadline_passed(gworker_t *gw, gconn_t *g)
{
    g->overdue = true;
    bool answered = cn_conn_deadline_expire(&g->c);
    unsigned long thread = __atomic_load_n(&g->thread, __ATOMIC_ACQUIRE);
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *frame = thread ? cn_wsgi_thread_frame(thread) : NULL;
    cn_wsgi_overdue_log(g->what, frame, gw->w->cfg->request_timeout, answered);
    Py_XDECREF(frame);
    PyObject *type = thread ? cn_wsgi_request_timeout_type() : NULL;
    if (type != NULL)
        PyThreadState_SetAsyncExc(thread, type);
    else
        PyErr_Clear();
    Py_XDECREF(type);
    PyGILState_Release(gil);
}

static void deadlines_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    gworker_t *gw = t->data;
    double limit = gw->w->cfg->request_timeout, now = ev_now(loop);
    for (gconn_t *g = gw->conns; g != NULL; g = g->next) {
        if (g->state != G_APP || now - g->dispatched < limit)
            continue;
        if (!g->overdue) {
            deadline_passed(gw, g);
        } else if (now - g->dispatched >= limit + gw->w->timeouts.graceful) {
            cn_worker_request_stuck(gw->w);
        }
    }
}

static void begin_stop(gworker_t *gw)
{
    if (gw->stopping)
        return;
    __atomic_store_n(&gw->stopping, 1, __ATOMIC_RELAXED);
    gw->stop_deadline = ev_now(gw->loop) + gw->w->timeouts.graceful;
    set_accepting(gw, false);
    /* Open connections stay until their request is answered. An idle
     * keep-alive one waits up to stop_idle more for its next request, which
     * is answered with Connection: close (dispatch); one accepted but not
     * yet spoken on keeps its timer: its client is sending its request. */
    for (gconn_t *g = gw->conns; g != NULL; g = g->next) {
        if (g->state == G_HEAD && !g->started && g->c.requests > 0 &&
            ev_timer_remaining(gw->loop, &g->timer) > gw->w->timeouts.stop_idle) {
            ev_timer_stop(gw->loop, &g->timer);
            ev_timer_set(&g->timer, gw->w->timeouts.stop_idle, 0);
            ev_timer_start(gw->loop, &g->timer);
        }
    }
    if (gw->nconns == 0)
        ev_break(gw->loop, EVBREAK_ALL);
}

static void signal_on_stop(struct ev_loop *loop, ev_signal *s, int revents)
{
    gworker_t *gw = s->data;
    if (s->signum == SIGTERM) {
        gw->w->flags.stop = 1;
        begin_stop(gw);
        return;
    }
    if (s->signum == SIGABRT)
        gw->w->flags.aborted = 1;
    gw->w->flags.quick_stop = 1;
    gw->quick = true;
    ev_break(loop, EVBREAK_ALL);
}

static void signal_on_usr1(struct ev_loop *loop, ev_signal *s, int revents) { cn_log_reopen(); }

static void watchers_start(gworker_t *gw)
{
    ev_signal *stops[] = {&gw->sig_term, &gw->sig_int, &gw->sig_quit, &gw->sig_abrt};
    int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGABRT};
    for (size_t i = 0; i < CN_ARRAY_LEN(stops); i++) {
        ev_signal_init(stops[i], signal_on_stop, signums[i]);
        stops[i]->data = gw;
        ev_signal_start(gw->loop, stops[i]);
    }
    ev_signal_init(&gw->sig_usr1, signal_on_usr1, SIGUSR1);
    ev_signal_start(gw->loop, &gw->sig_usr1);
    ev_timer_init(&gw->beat, beat_on_timer, 0, gw->w->timeouts.heartbeat);
    gw->beat.data = gw;
    ev_timer_again(gw->loop, &gw->beat);
    if (gw->w->cfg->request_timeout > 0) {
        ev_timer_init(&gw->deadlines, deadlines_on_timer, DEADLINE_TICK, DEADLINE_TICK);
        gw->deadlines.data = gw;
        ev_timer_start(gw->loop, &gw->deadlines);
    }
    gw->accept_io = cn_xcalloc(gw->w->ctx->nlisteners, sizeof(*gw->accept_io));
    for (size_t i = 0; i < gw->w->ctx->nlisteners; i++) {
        ev_io_init(&gw->accept_io[i], accept_on_ready, gw->w->ctx->listeners[i].fd, EV_READ);
        gw->accept_io[i].data = gw;
    }
    ev_timer_init(&gw->accept_pause, accept_on_pause_end, 0, 0);
    gw->accept_pause.data = gw;
    set_accepting(gw, true);
}

static int gthread_run(cn_worker_t *w)
{
    gworker_t gw;
    memset(&gw, 0, sizeof(gw));
    gw.w = w;
    /* A loop of its own, not libev's default one: that one reaps every child
     * on SIGCHLD, taking the app's subprocesses from it (ECHILD). */
    gw.loop = ev_loop_new(EVFLAG_AUTO);
    if (gw.loop == NULL) {
        cn_log_error("cannot create the event loop");
        return CN_EXIT_WORKER_BOOT_ERROR;
    }
    gw.interp = PyInterpreterState_Get();
    char err[CN_ERR_LEN];
    PyThreadState *main_ts = PyEval_SaveThread();
    int threads = w->cfg->threads > 0 ? w->cfg->threads : 1;
    gw.pool = cn_pool_new(gw.loop, threads, &pool_ops, &gw, err);
    if (gw.pool == NULL) {
        cn_log_error("%s", err);
        PyEval_RestoreThread(main_ts);
        return 1;
    }
    watchers_start(&gw);
    ev_run(gw.loop, 0);

    double left = gw.stopping ? gw.stop_deadline - ev_now(gw.loop) : 0;
    if (gw.quick) { /* worker_int sees the app threads still running */
        PyEval_RestoreThread(main_ts);
        cn_worker_stop_hook(w);
        main_ts = PyEval_SaveThread();
    }
    if (gw.quick || cn_pool_stop(gw.pool, left > 0 ? left : 0.1) < 0) {
        w->abandoned = true; /* threads are still inside the app */
        return 0;
    }
    while (gw.conns != NULL)
        conn_close(gw.conns);
    free(gw.accept_io);
    ev_loop_destroy(gw.loop);
    PyEval_RestoreThread(main_ts);
    return 0;
}
