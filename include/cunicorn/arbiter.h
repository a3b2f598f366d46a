/* arbiter.h - the master process.
 *
 * Owns: the worker table, forking and reaping workers, respawning, the
 * heartbeat check (SIGABRT then SIGKILL after `timeout`), signals (TERM
 * graceful, INT/QUIT quick, TTIN/TTOU scale, HUP reload (a new generation
 * of workers replaces the old once it has booted), USR1 reopen logs,
 * CHLD), the pidfile, the startup and shutdown log lines, and the exit codes
 * for workers that cannot boot (3) or load the app (4).
 * Signal handlers only write a byte to a self-pipe; the loop acts.
 * Must not: include Python.h. What a worker does is a callback. */
#ifndef CUNICORN_ARBITER_H
#define CUNICORN_ARBITER_H

#include "cunicorn/hooks.h"
#include "cunicorn/worker_proc.h"

typedef struct cn_arbiter_config cn_arbiter_config_t;

struct cn_arbiter_config {
    int workers;
    int timeout;          /* seconds; 0 = no heartbeat check */
    int graceful_timeout; /* seconds */
    int shutdown_delay;   /* seconds of serving on after TERM before stopping */
    int max_worker_memory; /* MiB (PSS, else RSS) past which a worker is replaced; 0: no check */
    const char *pidfile;  /* NULL = none */
    const char *metrics_bind; /* --metrics-bind, NULL = no /metrics endpoint */
    const char *proc_name;
    const char *worker_class; /* for "Using worker: X" */
    cn_listener_t *listeners; /* borrowed; closed (and unix paths unlinked) at exit */
    size_t nlisteners;
    cn_worker_main_cb worker_main;
    void *worker_ud;
    /* the master's server-hook points (when_ready, pre_fork, child_exit,
     * nworkers_changed, on_reload, on_exit); NULL = none */
    cn_hook_cb hook;
    void *hook_ud;
    /* the embedded interpreter's fork protocol, around every fork (workers
     * and the USR2 child): before, then after in the master and first thing
     * in the child; NULL = none */
    void (*before_fork)(void);
    void (*after_fork_parent)(void);
    void (*after_fork_child)(void);
    /* USR2 (src/core/reexec.c): the command line to run again (NULL: USR2
     * is refused) and the directory the master started in */
    char *const *argv;
    const char *start_cwd;
    pid_t old_master; /* $GUNICORN_PID: this is an upgrade's new master,
                         whose pidfile is PIDFILE.2 until the old one exits */
    bool daemon;      /* WINCH stops the workers only when daemonized */
    /* HUP re-reads the settings: reload() fills *next (a copy of the current
     * configuration) for the new generation of workers and returns 0, or
     * returns -1 after logging why, and nothing changes. Once the new
     * generation has booted, reload_end(true) drops what only the old one
     * used; if it cannot boot, reload_end(false) goes back to the current
     * settings, whose workers kept serving. NULL: HUP replaces the workers
     * with the same settings. */
    int (*reload)(void *ud, cn_arbiter_config_t *next);
    void (*reload_end)(void *ud, bool commit);
    void *reload_ud;
};

/**
 * Log the startup lines, write the pidfile, fork the workers and supervise
 * them until a stop signal or a boot failure. Returns the process exit
 * status: 0 after a normal stop, 3 or 4 when a worker could not boot.
 */
int cn_arbiter_run(const cn_arbiter_config_t *cfg);

#endif
