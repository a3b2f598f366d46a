/* arbiter.h - the master process.
 *
 * Owns: the worker table, forking and reaping workers, respawning, the
 * heartbeat check (SIGABRT then SIGKILL after `timeout`), signals (TERM
 * graceful, INT/QUIT quick, TTIN/TTOU scale, HUP respawn, USR1 reopen logs,
 * CHLD), the pidfile, the startup and shutdown log lines, and the exit codes
 * for workers that cannot boot (3) or load the app (4).
 * Signal handlers only write a byte to a self-pipe; the loop acts.
 * Must not: include Python.h. What a worker does is a callback. */
#ifndef CUNICORN_ARBITER_H
#define CUNICORN_ARBITER_H

#include "cunicorn/common.h"
#include "cunicorn/sock.h"

#include <signal.h>
#include <sys/types.h>

/* Exit codes shared with Gunicorn. */
#define CN_EXIT_WORKER_BOOT_ERROR 3
#define CN_EXIT_APP_LOAD_ERROR 4

/* Liveness: one slot per worker in a MAP_SHARED page created before fork. */
typedef struct cn_heartbeat {
    volatile int64_t last_beat_ms; /* monotonic milliseconds */
    volatile int booted;           /* worker finished loading the app */
} cn_heartbeat_t;

/** Record that the worker is alive (cheap: one store). */
void cn_heartbeat_beat(cn_heartbeat_t *hb);
/** Monotonic clock in milliseconds (the unit of last_beat_ms). */
int64_t cn_heartbeat_now_ms(void);

/* Master side (heartbeat.c). A table is one MAP_SHARED|MAP_ANONYMOUS mapping
 * created before the first fork, so every worker shares it. */

/** Map a zeroed table of nslots slots. NULL + errno on failure. The caller
 * owns the mapping and releases it with cn_heartbeat_table_free(). */
cn_heartbeat_t *cn_heartbeat_table_new(size_t nslots);
void cn_heartbeat_table_free(cn_heartbeat_t *table, size_t nslots);
/** Give a slot to a new worker: not booted, last beat = now_ms (fork time,
 * so booting counts against the timeout). */
void cn_heartbeat_reset(cn_heartbeat_t *hb, int64_t now_ms);
/** Milliseconds since the slot's last beat. */
int64_t cn_heartbeat_age_ms(const cn_heartbeat_t *hb, int64_t now_ms);

/* Flags the worker's signal handling reads (set by the worker's own
 * handlers, installed by cn_worker_signals_install()). */
typedef struct cn_worker_flags {
    volatile sig_atomic_t stop;       /* TERM: graceful */
    volatile sig_atomic_t quick_stop; /* INT/QUIT: exit now */
    volatile sig_atomic_t reopen;     /* USR1 */
} cn_worker_flags_t;

/* Everything a worker needs from the master. */
typedef struct cn_worker_ctx {
    int index;                    /* 1-based worker age order */
    pid_t ppid;                   /* master pid, to detect orphaning */
    cn_heartbeat_t *heartbeat;    /* borrowed: shared slot */
    const cn_listener_t *listeners; /* borrowed */
    size_t nlisteners;
    int graceful_timeout;
    int timeout;
} cn_worker_ctx_t;

/** Run in the child after fork; the return value is the exit status. */
typedef int (*cn_worker_main_cb)(void *ud, cn_worker_ctx_t *ctx);

typedef struct cn_arbiter_config {
    int workers;
    int timeout;          /* seconds; 0 = no heartbeat check */
    int graceful_timeout; /* seconds */
    const char *pidfile;  /* NULL = none */
    const char *proc_name;
    const char *worker_class; /* for "Using worker: X" */
    cn_listener_t *listeners; /* borrowed; closed (and unix paths unlinked) at exit */
    size_t nlisteners;
    cn_worker_main_cb worker_main;
    void *worker_ud;
} cn_arbiter_config_t;

/**
 * Log the startup lines, write the pidfile, fork the workers and supervise
 * them until a stop signal or a boot failure. Returns the process exit
 * status: 0 after a normal stop, 3 or 4 when a worker could not boot.
 */
int cn_arbiter_run(const cn_arbiter_config_t *cfg);

/** In a worker: install TERM/INT/QUIT/USR1 handlers that set flags, restore
 * the master's other handlers to defaults, unblock signals. */
void cn_worker_signals_install(cn_worker_flags_t *flags);

#endif
