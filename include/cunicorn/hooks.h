/* hooks.h - Gunicorn's server hooks that cunicorn calls, by name.
 *
 * Owns: the list of hooks (config-file functions such as post_fork) and
 * what a call site tells the hook about the server and the worker. The
 * arbiter (core) reports its hook points through cn_arbiter_config_t.hook;
 * the Python side (src/py/py_hooks.c) turns them into calls; the worker
 * ones are called by src/workers/worker.c.
 * Must not: include Python.h. */
#ifndef CUNICORN_HOOKS_H
#define CUNICORN_HOOKS_H

#include "cunicorn/common.h"

#include <sys/types.h>

enum cn_hook {
    CN_HOOK_ON_STARTING,      /* master, before binding: (server) */
    CN_HOOK_ON_RELOAD,        /* master, on HUP: (server) */
    CN_HOOK_WHEN_READY,       /* master, listeners open, before the workers: (server) */
    CN_HOOK_PRE_FORK,         /* master, before each fork: (server, worker) */
    CN_HOOK_POST_FORK,        /* worker, after the fork: (server, worker) */
    CN_HOOK_POST_WORKER_INIT, /* worker, app loaded: (worker) */
    CN_HOOK_CHILD_EXIT,       /* master, worker reaped: (server, worker) */
    CN_HOOK_WORKER_EXIT,      /* worker, leaving: (server, worker) */
    CN_HOOK_WORKER_INT,       /* worker, told INT/QUIT: (worker) */
    CN_HOOK_WORKER_ABORT,     /* worker, told ABRT (missed heartbeat): (worker) */
    CN_HOOK_PRE_REQUEST,      /* worker, before the app: (worker, req) */
    CN_HOOK_POST_REQUEST,     /* worker, after the response: (worker, req, environ, resp) */
    CN_HOOK_NWORKERS_CHANGED, /* master: (server, new_value, old_value) */
    CN_HOOK_ON_EXIT,          /* master, last thing: (server) */
    CN_HOOK_PRE_EXEC,         /* USR2 child of the master, before exec: (server) */
    CN_HOOK_COUNT
};

/* What the server and the worker objects a hook receives describe. */
typedef struct cn_hook_info {
    pid_t server_pid;
    int num_workers;
    int worker_age;     /* 0: no worker */
    pid_t worker_pid;   /* 0: not forked yet (pre_fork) */
    int new_value, old_value; /* nworkers_changed; old -1 = None */
} cn_hook_info_t;

/* The master's hook points: h with what it knows (see cn_arbiter_config_t). */
typedef void (*cn_hook_cb)(void *ud, enum cn_hook h, const cn_hook_info_t *info);

/** Gunicorn's name of h ("post_fork"). */
const char *cn_hook_name(enum cn_hook h);
/** The hook named name, or -1 if it is not one cunicorn calls. */
int cn_hook_find(const char *name);

#endif
