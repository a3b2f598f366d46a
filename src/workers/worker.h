/* worker.h - what every worker class shares: the worker's state, its life
 * (app load, signals, heartbeat, orphan check, exit) and the registry of
 * worker classes. The class-specific files only schedule.
 * GIL: cn_worker_main runs with the GIL held until the class's run()
 * releases it; see each class for where it is taken again. */
#ifndef CUNICORN_WORKER_H
#define CUNICORN_WORKER_H

#include "py/wsgi.h"

#include "cunicorn/config.h"
#include "cunicorn/hooks.h"
#include "cunicorn/timeouts.h"
#include "cunicorn/worker_proc.h"

typedef struct cn_worker {
    cn_worker_ctx_t *ctx;     /* borrowed from the arbiter */
    const cn_config_t *cfg;   /* borrowed */
    cn_wsgi_t *wsgi;          /* owned */
    cn_worker_flags_t flags;  /* set by signal handlers */
    cn_http_limits_t limits;
    cn_timeouts_t timeouts;            /* every time limit, from the settings */
    cn_proxy_allow_t trusted;          /* forwarded_allow_ips, parsed */
    cn_proxy_allow_t proxy_senders;    /* proxy_allow_ips, parsed */
    cn_scheme_headers_t scheme_headers;
    cn_conn_options_t conn_opts;       /* parser options, PROXY protocol */
    PyObject *current_task;   /* strong, or NULL: set by a coroutine class's
                                 prepare() (cn_wsgi_options_t) */
    uint64_t requests;        /* begun so far */
    uint64_t tickets;         /* connections that may still bring a request */
    uint64_t max_requests;    /* retire after this many (0: never): max_requests
                                 plus this worker's jitter */
    bool abandoned;           /* run() left threads inside Python: the exit
                                 path must not take the GIL again */
    bool stop_hook_ran;       /* worker_int/worker_abort called (once) */
    double yielding_since;    /* cn_now() of the burst's first accept yield, or 0 */
    bool retiring;            /* asked the master for a replacement */
    cn_hook_info_t me;        /* this worker, as the server hooks see it */
} cn_worker_t;

typedef struct cn_worker_class {
    const char *name;
    bool multithread;          /* wsgi.multithread */
    bool release_gil_for_io;   /* see cn_wsgi_options_t */
    /** Optional: runs before the app is imported (gevent monkey-patches
     * here). 0, or -1 after logging why. */
    int (*prepare)(cn_worker_t *w);
    /** Optional, NULL-terminated: modules the master imports before it
     * forks, so that each worker (a new one after every max_requests)
     * shares them instead of importing them again. Only modules whose
     * import changes nothing: prepare() still runs in the worker. */
    const char *const *master_imports;
    /** Optional, NULL-terminated: entry point groups (pkg_resources) whose
     * requirements the master resolves before it forks, for the same
     * reason (boot.warm_entry_points). */
    const char *const *master_entry_points;
    /** Serve until told to stop; returns the worker's exit status. Called
     * with the GIL held. */
    int (*run)(cn_worker_t *w);
} cn_worker_class_t;

/** The class by its normalised name (sync, gthread, gevent); NULL if it is
 * not built. */
const cn_worker_class_t *cn_worker_class_find(const char *name);

/** In the master: import klass's master_imports and resolve its
 * master_entry_points. What fails is left to the worker, which reports it.
 * GIL held. */
void cn_worker_class_preimport(const cn_worker_class_t *klass);

/*
 * max_requests without a race. A connection may bring a request only while
 * it holds a ticket, and a worker hands out tickets only while
 * requests + tickets < max_requests: it takes one before accept() and one
 * for a connection to stay open after a response. So when the last request
 * begins, no other connection could still bring one: the worker stops
 * accepting at that moment, that response says Connection: close, and no
 * connection it accepted is closed unanswered. All three are called from the
 * one thread that accepts and starts requests (sync's loop, gthread's loop,
 * gevent's hub greenlets); *ticket is the connection's.
 */

/** Take a ticket into *ticket (true if it already holds one). False when
 * the budget is spent: do not accept (or keep the connection) now. */
bool cn_worker_ticket_take(cn_worker_t *w, bool *ticket);
/** Give back the ticket of a connection that closes without a request. */
void cn_worker_ticket_return(cn_worker_t *w, bool *ticket);
/** A request begins on a connection holding a ticket, which it uses up.
 * With keep true, take a new ticket so the connection may stay open after
 * the response: returns whether it got one. At max_requests the worker logs
 * Gunicorn's "Autorestarting worker after current request." and is no longer
 * alive (cn_worker_alive), so the class stops as on TERM. */
bool cn_worker_request_begin(cn_worker_t *w, bool *ticket, bool keep);
/** Whether cn_worker_ticket_take would succeed. */
bool cn_worker_tickets_left(const cn_worker_t *w);

/** INT/QUIT/ABRT arrived: call Gunicorn's worker_int, or worker_abort
 * after an ABRT, once. GIL held; the class calls it where the stop is
 * noticed (sync: inside the interrupted app, so the hook sees its stack),
 * and cn_worker_main after run() if the class has not. */
void cn_worker_stop_hook(cn_worker_t *w);

/** A request still runs graceful_timeout after its request_timeout: ask
 * the master, once, for a replacement, which then stops this worker with
 * TERM so that its other requests finish (gthread, gevent). */
void cn_worker_request_stuck(cn_worker_t *w);

/** The arbiter's worker entry point (ud is the const cn_config_t *). */
int cn_worker_main(void *ud, cn_worker_ctx_t *ctx);

/** False once the worker should stop accepting: TERM/INT/QUIT, or the
 * master went away. Logs why, once. */
bool cn_worker_alive(cn_worker_t *w);

/** accept4() a non-blocking, close-on-exec connection from l into
 * peer/len (len in: sizeof *peer). Returns the fd, or -1 when there is none
 * to take: another worker won the race, the client gave up, or a real error
 * (EMFILE...), which is logged. */
int cn_worker_accept(const cn_listener_t *l, struct sockaddr_storage *peer, socklen_t *len);

/*
 * The fair share of connections. Every worker waits on the same listeners
 * and the first one awake wins each connection, so after a HUP the first
 * new worker to boot would take every reconnecting keep-alive client and
 * keep them. A gthread or gevent worker therefore publishes its open
 * connections (cn_worker_publish_load) and, before each accept, leaves the
 * connection to an accepting worker that holds two fewer: it pauses
 * accepting for CN_ACCEPT_YIELD seconds, but for at most CN_ACCEPT_YIELD_MAX
 * per burst. A lighter worker that has not taken the connection by then is
 * busy, and the client must not wait for it.
 */
#define CN_ACCEPT_YIELD 0.005
#define CN_ACCEPT_YIELD_MAX 0.05

/** Whether to pause accepting for CN_ACCEPT_YIELD instead of accepting now,
 * holding `conns` connections. */
bool cn_worker_accept_yield(cn_worker_t *w, size_t conns);
/** The listener had nothing more to accept: the burst is over. */
void cn_worker_accept_drained(cn_worker_t *w);
/** Publish the worker's open connections, or that it does not accept. */
void cn_worker_publish_load(cn_worker_t *w, bool accepting, size_t conns);

/** The wait hook of classes that block in poll(2): waits in slices of at
 * most timeouts.heartbeat and beats the heartbeat between them, so a worker waiting
 * on a slow client is not mistaken for a hung one. ctx is the cn_worker_t. */
int cn_worker_wait_poll(void *ctx, int fd, short events, double deadline);

extern const cn_worker_class_t cn_worker_sync;
extern const cn_worker_class_t cn_worker_gthread;
extern const cn_worker_class_t cn_worker_gevent;

#endif
