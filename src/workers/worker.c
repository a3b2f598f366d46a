/* worker.c - the life of a worker process, whatever its class: after fork,
 * load the app, hand over to the class, log the exit (see worker.h). */
#include "workers/worker.h"

#include "py/py_app.h"
#include "py/py_boot.h"
#include "py/py_hooks.h"
#include "py/py_reload.h"

#include "cunicorn/proxy_protocol.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const cn_worker_class_t *const classes[] = {&cn_worker_sync, &cn_worker_gthread,
                                                       &cn_worker_gevent};

const cn_worker_class_t *cn_worker_class_find(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(classes); i++)
        if (strcmp(classes[i]->name, name) == 0)
            return classes[i];
    return NULL;
}

void cn_worker_class_preimport(const cn_worker_class_t *klass)
{
    for (const char *const *m = klass->master_imports; m != NULL && *m != NULL; m++) {
        PyObject *mod = PyImport_ImportModule(*m);
        if (mod == NULL)
            PyErr_Clear();
        Py_XDECREF(mod);
    }
    if (klass->master_entry_points == NULL)
        return;
    PyObject *groups = PyList_New(0);
    for (const char *const *g = klass->master_entry_points; groups && *g != NULL; g++) {
        PyObject *name = PyUnicode_FromString(*g);
        if (name == NULL || PyList_Append(groups, name) < 0)
            Py_CLEAR(groups);
        Py_XDECREF(name);
    }
    PyObject *warm = groups ? cn_py_boot_func("warm_entry_points") : NULL;
    PyObject *r = warm ? PyObject_CallOneArg(warm, groups) : NULL;
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(warm);
    Py_XDECREF(groups);
}

/* Flush what the app printed: the process leaves with _exit(). */
static void flush_std_streams(void)
{
    const char *names[] = {"stdout", "stderr"};
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++) {
        PyObject *stream = PySys_GetObject(names[i]); /* borrowed */
        PyObject *r = stream && stream != Py_None ? PyObject_CallMethod(stream, "flush", NULL)
                                                  : NULL;
        Py_XDECREF(r);
        PyErr_Clear(); /* a closed stream is not worth failing the exit for */
    }
}

/* Gunicorn's reading of the limit settings: a request line limit of 0 is
 * unlimited and is capped at 8190; 0 header fields means the maximum. */
static cn_http_limits_t worker_limits(const cn_config_t *cfg)
{
    cn_http_limits_t l;
    l.request_line = cfg->limit_request_line >= 8190 ? 8190 : (uint32_t)cfg->limit_request_line;
    l.fields = cfg->limit_request_fields <= 0 || cfg->limit_request_fields > 32768
                   ? 32768
                   : (uint32_t)cfg->limit_request_fields;
    l.field_size = (uint32_t)cfg->limit_request_field_size;
    l.body = (uint64_t)cfg->limit_request_body;
    return l;
}

/* The per-connection settings; trusted and senders are the worker's
 * forwarded_allow_ips and proxy_allow_ips, which live as long as the worker.
 * header_map and proxy_protocol were validated at start-up. */
static cn_conn_options_t worker_conn_options(const cn_config_t *cfg,
                                             const cn_proxy_allow_t *trusted,
                                             const cn_proxy_allow_t *senders)
{
    int map = cn_http_header_map_parse(cfg->header_map ? cfg->header_map : "drop");
    cn_conn_options_t o = {
        .http = {.strip_header_spaces = cfg->strip_header_spaces,
                 .permit_unconventional_method = cfg->permit_unconventional_http_method,
                 .casefold_method = cfg->casefold_http_method,
                 .permit_obsolete_folding = cfg->permit_obsolete_folding,
                 .header_map = (uint8_t)(map < 0 ? CN_HTTP_HEADER_MAP_DROP : map)},
        .proxy_protocol = (uint8_t)cn_proxy_protocol_mode_parse(cfg->proxy_protocol),
        .forwarded_allow = trusted,
        .proxy_allow = senders,
    };
    return o;
}

/* max_requests plus a jitter drawn per worker (after the fork, so workers
 * differ), as Gunicorn's randint(0, max_requests_jitter); 0: never. */
static uint64_t restart_after(const cn_config_t *cfg)
{
    if (cfg->max_requests <= 0)
        return 0;
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    int jitter = cfg->max_requests_jitter > 0 ? rand_r(&seed) % (cfg->max_requests_jitter + 1) : 0;
    return (uint64_t)cfg->max_requests + (uint64_t)jitter;
}

int cn_worker_main(void *ud, cn_worker_ctx_t *ctx)
{
    const cn_config_t *cfg = ud;
    /* Process lifetime, not this frame's: the signal handlers keep a pointer
     * to w.flags and an abandoned run() leaves threads that still use w, so
     * neither a TERM arriving after this returns (while the exit is logged)
     * nor such a thread may write into whatever reuses the stack. */
    static cn_worker_t w;
    memset(&w, 0, sizeof(w));
    w.ctx = ctx;
    w.cfg = cfg;
    w.limits = worker_limits(cfg);
    w.timeouts = cn_timeouts_from_settings(cfg->timeout, cfg->keepalive, cfg->graceful_timeout);
    w.max_requests = restart_after(cfg);
    cn_worker_signals_install(&w.flags);
    const cn_worker_class_t *klass = cn_worker_class_find(cfg->worker_class);
    char err[CN_ERR_LEN];
    /* the hooks see the server and this worker (Gunicorn's order: post_fork
     * before the privilege drop, post_worker_init once the app is loaded) */
    w.me = (cn_hook_info_t){.server_pid = ctx->ppid,
                            .num_workers = cfg->workers,
                            .worker_age = ctx->index,
                            .worker_pid = getpid()};
    if (cn_py_hook_run(CN_HOOK_POST_FORK, &w.me) < 0)
        return CN_EXIT_WORKER_BOOT_ERROR;
    if (cn_owner_drop(&cfg->owner, cfg->initgroups, err) < 0) { /* before any app code */
        cn_log_error("%s", err);
        return CN_EXIT_WORKER_BOOT_ERROR;
    }

    if (klass->prepare != NULL && klass->prepare(&w) < 0)
        return CN_EXIT_WORKER_BOOT_ERROR;
    int exit_code = 0;
    PyObject *app = cn_py_app_load(cfg->app_uri, &exit_code);
    if (app == NULL)
        return exit_code;
    const char *script_name = getenv("SCRIPT_NAME");
    if (cn_proxy_allow_parse(&w.trusted, cfg->forwarded_allow_ips, err) < 0 ||
        cn_proxy_allow_parse(&w.proxy_senders, cfg->proxy_allow_ips, err) < 0 ||
        cn_scheme_headers_parse(&w.scheme_headers, cfg->secure_scheme_headers, err) < 0) {
        cn_log_error("%s", err); /* validated at start-up: cannot happen */
        return CN_EXIT_WORKER_BOOT_ERROR;
    }
    w.conn_opts = worker_conn_options(cfg, &w.trusted, &w.proxy_senders);
    w.conn_opts.metrics = ctx->metrics;
    cn_wsgi_options_t opt = {.multithread = klass->multithread,
                             .release_gil_for_io = klass->release_gil_for_io,
                             .script_name = script_name ? script_name : "",
                             .scheme_headers = &w.scheme_headers,
                             .current_task = w.current_task,
                             .worker = &w.me,
                             .sendfile = cfg->sendfile};
    w.wsgi = cn_wsgi_new(app, &opt);
    Py_DECREF(app);
    if (w.wsgi == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "Exception in worker process");
        return CN_EXIT_WORKER_BOOT_ERROR;
    }
    if (cn_py_hook_run(CN_HOOK_POST_WORKER_INIT, &w.me) < 0)
        return CN_EXIT_WORKER_BOOT_ERROR;
    if (cfg->reload && cn_py_reload_start(cfg) < 0)
        return CN_EXIT_WORKER_BOOT_ERROR;
    cn_worker_publish_load(&w, true, 0); /* its siblings leave it a share from now */
    cn_heartbeat_booted(ctx->heartbeat); /* a HUP's new generation counts it */

    int rc = klass->run(&w);
    if (w.flags.aborted)
        rc = 1; /* Gunicorn's worker exits 1 after an abort */
    if (!w.abandoned) { /* else threads still in the app: no more Python here */
        cn_worker_stop_hook(&w);
        (void)cn_py_hook_run(CN_HOOK_WORKER_EXIT, &w.me);
        cn_wsgi_free(w.wsgi);
        Py_CLEAR(w.current_task);
        flush_std_streams();
    }
    return rc;
}

void cn_worker_stop_hook(cn_worker_t *w)
{
    if (w->stop_hook_ran || !w->flags.quick_stop)
        return;
    w->stop_hook_ran = true;
    (void)cn_py_hook_run(w->flags.aborted ? CN_HOOK_WORKER_ABORT : CN_HOOK_WORKER_INT, &w->me);
}

bool cn_worker_tickets_left(const cn_worker_t *w)
{
    return w->max_requests == 0 || w->requests + w->tickets < w->max_requests;
}

bool cn_worker_ticket_take(cn_worker_t *w, bool *ticket)
{
    if (*ticket)
        return true;
    if (!cn_worker_tickets_left(w))
        return false;
    w->tickets++;
    *ticket = true;
    return true;
}

void cn_worker_ticket_return(cn_worker_t *w, bool *ticket)
{
    if (*ticket)
        w->tickets--;
    *ticket = false;
}

bool cn_worker_request_begin(cn_worker_t *w, bool *ticket, bool keep)
{
    cn_worker_ticket_return(w, ticket);
    cn_heartbeat_set_requests(w->ctx->heartbeat, ++w->requests);
    if (w->requests == w->max_requests) {
        cn_log_info("Autorestarting worker after current request.");
        w->flags.stop = 1;
    }
    return keep && cn_worker_ticket_take(w, ticket);
}

bool cn_worker_alive(cn_worker_t *w)
{
    if (w->flags.reopen) {
        w->flags.reopen = 0;
        cn_log_reopen();
    }
    if (!w->flags.stop && !w->flags.quick_stop && getppid() != w->ctx->ppid) {
        cn_log_info("Parent changed, shutting down: %d", (int)getpid());
        w->flags.stop = 1;
    }
    if (w->flags.stop || w->flags.quick_stop) {
        cn_worker_publish_load(w, false, 0); /* accepts no more */
        return false;
    }
    return true;
}

int cn_worker_accept(const cn_listener_t *l, struct sockaddr_storage *peer, socklen_t *len)
{
    int fd = accept4(l->fd, (struct sockaddr *)peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
        errno != EINTR) {
        cn_log_error("accept: %s", strerror(errno));
        /* Out of fds or memory: the listener stays readable, so without a
         * pause every class would spin and flood the log. */
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return fd;
}

void cn_worker_request_stuck(cn_worker_t *w)
{
    if (w->retiring)
        return;
    cn_log_error("Worker (pid:%d): a request still runs %.0f s after its deadline: "
                 "asking for a replacement",
                 (int)getpid(), w->timeouts.graceful);
    w->retiring = true;
    cn_heartbeat_retire(w->ctx->heartbeat);
}

bool cn_worker_accept_yield(cn_worker_t *w, size_t conns)
{
    int load = conns > INT_MAX ? INT_MAX : (int)conns;
    if (!cn_heartbeat_lighter_exists(w->ctx->heartbeats, w->ctx->heartbeat, load)) {
        w->yielding_since = 0;
        return false;
    }
    double now = cn_now();
    if (w->yielding_since == 0)
        w->yielding_since = now;
    return now - w->yielding_since < CN_ACCEPT_YIELD_MAX;
}

void cn_worker_accept_drained(cn_worker_t *w)
{
    w->yielding_since = 0;
}

void cn_worker_publish_load(cn_worker_t *w, bool accepting, size_t conns)
{
    int load = conns > INT_MAX ? INT_MAX : (int)conns;
    cn_heartbeat_set_load(w->ctx->heartbeat, accepting ? load : -1);
}

int cn_worker_wait_poll(void *ctx, int fd, short events, double deadline)
{
    cn_worker_t *w = ctx;
    for (;;) {
        cn_heartbeat_beat(w->ctx->heartbeat);
        if (w->flags.quick_stop)
            return -EINTR;
        double now = cn_now(), slice = w->timeouts.heartbeat;
        if (deadline > 0 && deadline - now < slice)
            slice = deadline - now;
        if (slice <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)(slice * 1000) + 1);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}
