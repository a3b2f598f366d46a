/* worker_proc.h - what the master hands a worker process, and the worker's
 * own signal dispositions: the contract between arbiter.c (which forks) and
 * the worker side (src/workers), so neither includes the other's header.
 *
 * Owns: the worker exit codes shared with Gunicorn, cn_worker_ctx_t, the
 * worker entry point type, and the flags the worker's signal handlers set
 * (worker_signals.c).
 * Must not: include Python.h. */
#ifndef CUNICORN_WORKER_PROC_H
#define CUNICORN_WORKER_PROC_H

#include "cunicorn/heartbeat.h"
#include "cunicorn/metrics.h"
#include "cunicorn/sock.h"

#include <signal.h>
#include <sys/types.h>

/* Exit codes shared with Gunicorn: the master stops with the same code
 * instead of respawning a worker that cannot start. */
#define CN_EXIT_WORKER_BOOT_ERROR 3
#define CN_EXIT_APP_LOAD_ERROR 4

/* Flags the worker's signal handlers set (cn_worker_signals_install). */
typedef struct cn_worker_flags {
    volatile sig_atomic_t stop;       /* TERM: graceful */
    volatile sig_atomic_t quick_stop; /* INT/QUIT/ABRT: exit now */
    volatile sig_atomic_t aborted;    /* ABRT: the master saw the heartbeat stop */
    volatile sig_atomic_t reopen;     /* USR1 */
    /* Set by a class while it can interrupt the app (sync): called by the
     * INT/QUIT/ABRT handler after quick_stop is set, so async-signal-safe. */
    void (*volatile interrupt)(void);
} cn_worker_flags_t;

/* Everything a worker needs from the master. */
typedef struct cn_worker_ctx {
    int index;                      /* 1-based worker age order */
    pid_t ppid;                     /* master pid, to detect orphaning */
    cn_heartbeat_t *heartbeat;      /* borrowed: this worker's shared slot */
    const cn_heartbeat_table_t *heartbeats; /* borrowed: every worker's slot */
    cn_metrics_slot_t *metrics;     /* borrowed: this worker's counters, or NULL */
    const cn_listener_t *listeners; /* borrowed: valid for the process's life */
    size_t nlisteners;
} cn_worker_ctx_t;

/** Run in the child after fork; the return value is the exit status. */
typedef int (*cn_worker_main_cb)(void *ud, cn_worker_ctx_t *ctx);

/** In a worker: install TERM/INT/QUIT/ABRT/USR1 handlers that set flags, restore
 * the master's other handlers to defaults, unblock signals. */
void cn_worker_signals_install(cn_worker_flags_t *flags);

/** Block TERM/INT/QUIT/ABRT/USR1 until the next cn_worker_signals_install: for
 * code that hands their dispositions back to SIG_DFL (libev closing its
 * signal watchers) and must not be killed before the handlers return. */
void cn_worker_signals_hold(void);

/** Run the present handlers of sigs, whoever installed them, on an
 * alternate stack of the calling thread from now on (sigaltstack +
 * SA_ONSTACK). For the gevent worker, whose signals may land while a
 * greenlet runs (see gevent.c). 0, or -1 with errno set. */
int cn_worker_signals_on_own_stack(const int *sigs, size_t n);

#endif
