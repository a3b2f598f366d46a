/* sync.c - the sync worker class: one request at a time, and the
 * connection closes after every response (Gunicorn's sync semantics; meant
 * to sit behind a buffering proxy).
 *
 * The loop runs without the GIL: accept, read and parse the head in C, and
 * take the GIL only to run the app (serve_one). Waits on the client beat the
 * heartbeat (cn_worker_wait_poll); an app that hangs does not beat, so the
 * master replaces the worker after `timeout`.
 *
 * INT/QUIT/ABRT stop at once, as Gunicorn's sync worker does: while the app
 * runs, the signal handler asks Python to run raise_exit
 * (PyErr_SetInterruptEx), which calls worker_int (worker_abort) and raises
 * SystemExit inside the app; the connection is closed without an answer and
 * the worker exits.
 *
 * request_timeout: a per-request timer sends SIGALRM to the main thread, so
 * whatever the app is blocked in returns EINTR and Python runs on_deadline,
 * which answers 503, logs the app's stack and raises cunicorn.RequestTimeout
 * there. If the app is still in the request graceful_timeout later, the
 * timer fires again and the worker exits: there is nothing else in flight
 * to finish, and the master replaces it. */
#define _GNU_SOURCE
#include "workers/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* request_timeout's clock: one request at a time, so one timer. */
typedef struct sync_deadline {
    cn_worker_t *w;     /* borrowed */
    cn_conn_t *conn;    /* borrowed: the request in the app, or NULL */
    timer_t timer;      /* owned: SIGALRM to the main thread */
    bool past;          /* the 503 went out; the next alarm ends the worker */
} sync_deadline_t;

static sync_deadline_t request_clock;

static int sync_run(cn_worker_t *w);
static bool accept_ready(cn_worker_t *w, const cn_listener_t *l, PyThreadState **ts);
static void drain_backlog(cn_worker_t *w, PyThreadState **ts);
static bool serve_one(cn_worker_t *w, cn_conn_t *c, PyThreadState **ts);
static int install_interrupt(cn_worker_t *w);
static void interrupt_app(void);
static PyObject *raise_exit(PyObject *self, PyObject *args);
static int install_deadline(cn_worker_t *w);
static int set_python_handler(int signum, PyObject *fn, const char *what);
static void deadline_arm(double seconds);
static PyObject *on_deadline(PyObject *self, PyObject *args);

const cn_worker_class_t cn_worker_sync = {
    .name = "sync",
    .multithread = false,
    .release_gil_for_io = true, /* app threads may run while we wait on a client */
    .run = sync_run,
};

static int sync_run(cn_worker_t *w)
{
    if (install_interrupt(w) < 0)
        return CN_EXIT_WORKER_BOOT_ERROR;
    size_t n = w->ctx->nlisteners;
    int slice_ms = (int)(w->timeouts.heartbeat * 1000);
    struct pollfd *pfds = cn_xcalloc(n, sizeof(*pfds)); /* owned */
    PyThreadState *ts = PyEval_SaveThread(); /* the loop runs without the GIL */
    while (cn_worker_alive(w)) {
        cn_heartbeat_beat(w->ctx->heartbeat);
        for (size_t i = 0; i < n; i++)
            pfds[i] = (struct pollfd){.fd = w->ctx->listeners[i].fd, .events = POLLIN};
        int ready = poll(pfds, n, slice_ms);
        if (ready < 0 && errno != EINTR) {
            cn_log_error("poll: %s", strerror(errno));
            break;
        }
        for (size_t i = 0; ready > 0 && i < n && cn_worker_alive(w); i++)
            if (pfds[i].revents & POLLIN)
                (void)accept_ready(w, &w->ctx->listeners[i], &ts);
    }
    drain_backlog(w, &ts);
    PyEval_RestoreThread(ts);
    free(pfds);
    return 0;
}

/* TERM: the connections already waiting in the accept queue are answered
 * before the worker exits; at a final stop no other worker would. As many
 * as the kernel says were queued (a unix socket: until none is left), and
 * within graceful_timeout. Not at max_requests (no ticket left) or after
 * INT/QUIT. */
static void drain_backlog(cn_worker_t *w, PyThreadState **ts)
{
    double deadline = cn_now() + w->timeouts.graceful;
    for (size_t i = 0; i < w->ctx->nlisteners; i++) {
        const cn_listener_t *l = &w->ctx->listeners[i];
        int queued = cn_listener_queued(l);
        for (int n = 0; queued < 0 || n < queued; n++) {
            if (w->flags.quick_stop || cn_now() >= deadline || !accept_ready(w, l, ts))
                break;
        }
    }
}

/* Accept one connection from l and serve it: false if there was none (or
 * no ticket for one). */
static bool accept_ready(cn_worker_t *w, const cn_listener_t *l, PyThreadState **ts)
{
    bool ticket = false;
    if (!cn_worker_ticket_take(w, &ticket))
        return false; /* at max_requests: the loop ends */
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    int fd = cn_worker_accept(l, &peer, &len);
    if (fd < 0) {
        cn_worker_ticket_return(w, &ticket);
        return false;
    }
    cn_conn_t c;
    cn_conn_init(&c, fd, (struct sockaddr *)&peer, len, l, &w->limits);
    cn_conn_set_options(&c, &w->conn_opts);
    c.wait = cn_worker_wait_poll;
    c.wait_ctx = w;
    c.io_timeout = w->timeouts.io;
    if (serve_one(w, &c, ts))
        (void)cn_worker_request_begin(w, &ticket, false);
    cn_worker_ticket_return(w, &ticket);
    cn_conn_close(&c);
    return true;
}

/* Reads one request and runs the app on it; true if a request began. */
static bool serve_one(cn_worker_t *w, cn_conn_t *c, PyThreadState **ts)
{
    int rc = cn_conn_read_head(c, cn_now() + w->timeouts.io);
    if (rc == -EPROTO) {
        cn_conn_reject(c);
        return false;
    }
    if (rc < 0) {
        if (rc == -ETIMEDOUT)
            cn_log_debug("Closing a connection from %s: no request within %.0fs", c->peer_host,
                         w->timeouts.io);
        return false;
    }
    /* The one place this class takes the GIL. */
    PyEval_RestoreThread(*ts);
    w->flags.interrupt = interrupt_app;
    if (w->cfg->request_timeout > 0) {
        request_clock.conn = c;
        request_clock.past = false;
        deadline_arm(w->cfg->request_timeout);
    }
    if (!w->flags.quick_stop)
        (void)cn_wsgi_serve(w->wsgi, c, false);
    if (request_clock.conn != NULL) {
        deadline_arm(0);
        request_clock.conn = NULL;
    }
    w->flags.interrupt = NULL;
    if (PyErr_CheckSignals() < 0) /* an interrupt that came too late for the app */
        PyErr_Clear();
    *ts = PyEval_SaveThread();
    return true;
}

/* Makes raise_exit Python's handler of SIGINT, then puts the worker's own C
 * handler back: Python keeps the function to run when interrupt_app trips
 * it. Called with the GIL, in the main thread (signal.signal requires it). */
static int install_interrupt(cn_worker_t *w)
{
    static PyMethodDef def = {"raise_exit", raise_exit, METH_VARARGS, NULL};
    PyObject *self = PyCapsule_New(w, "cunicorn.sync_worker", NULL);
    PyObject *fn = self ? PyCFunction_New(&def, self) : NULL;
    Py_XDECREF(self); /* fn holds it */
    int rc = set_python_handler(SIGINT, fn, "Cannot install the sync worker's INT handler");
    if (rc == 0 && w->cfg->request_timeout > 0)
        rc = install_deadline(w);
    cn_worker_signals_install(&w->flags);
    return rc;
}

/* on_deadline becomes Python's SIGALRM handler; the timer sends SIGALRM to
 * this (the main) thread only: Python runs handlers there, and only a
 * signal to the blocked thread interrupts its call. GIL held. */
static int install_deadline(cn_worker_t *w)
{
    static PyMethodDef def = {"on_deadline", on_deadline, METH_VARARGS, NULL};
    request_clock.w = w;
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &request_clock.timer) < 0) {
        cn_log_error("request_timeout: cannot create the timer: %s", strerror(errno));
        return -1;
    }
    return set_python_handler(SIGALRM, PyCFunction_New(&def, NULL),
                              "Cannot install the request_timeout handler");
}

/* signal.signal(signum, fn), stealing fn (NULL: an exception is set). 0, or
 * -1 after logging `what` with the exception. GIL held, main thread. */
static int set_python_handler(int signum, PyObject *fn, const char *what)
{
    PyObject *signal = fn ? PyImport_ImportModule("signal") : NULL;
    PyObject *old = signal ? PyObject_CallMethod(signal, "signal", "iO", signum, fn) : NULL;
    int rc = old != NULL ? 0 : -1;
    if (rc < 0)
        cn_py_log_exception(CN_LOG_ERROR, what);
    Py_XDECREF(old);
    Py_XDECREF(signal);
    Py_XDECREF(fn);
    return rc;
}

/* Fire once, `seconds` from now; 0 disarms. */
static void deadline_arm(double seconds)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)seconds;
    its.it_value.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (seconds > 0 && its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
        its.it_value.tv_nsec = 1;
    timer_settime(request_clock.timer, 0, &its, NULL);
}

/* Python's SIGALRM handler (signum, frame), in the app's frame. */
static PyObject *on_deadline(PyObject *self, PyObject *args)
{
    PyObject *frame = PyTuple_Size(args) == 2 ? PyTuple_GET_ITEM(args, 1) : Py_None;
    cn_worker_t *w = request_clock.w;
    if (request_clock.conn == NULL)
        Py_RETURN_NONE; /* the request ended before the alarm was seen */
    if (request_clock.past) {
        cn_log_error("Worker (pid:%d): a request still runs %d s after its deadline: exiting",
                     (int)getpid(), w->cfg->graceful_timeout);
        _exit(1);
    }
    request_clock.past = true;
    char what[256];
    cn_conn_request_line(request_clock.conn, what, sizeof(what));
    bool answered = cn_conn_deadline_expire(request_clock.conn);
    cn_wsgi_overdue_log(what, frame == Py_None ? NULL : frame, w->cfg->request_timeout, answered);
    deadline_arm(w->timeouts.graceful > 0 ? w->timeouts.graceful : 0.1);
    PyObject *type = cn_wsgi_request_timeout_type();
    if (type != NULL) {
        PyErr_SetNone(type);
        Py_DECREF(type);
    }
    return NULL;
}

/* The INT/QUIT handler's hook while the app runs; async-signal-safe. */
static void interrupt_app(void)
{
    PyErr_SetInterruptEx(SIGINT);
}

static PyObject *raise_exit(PyObject *self, PyObject *args)
{
    cn_worker_stop_hook(PyCapsule_GetPointer(self, "cunicorn.sync_worker"));
    PyErr_SetNone(PyExc_SystemExit);
    return NULL;
}
