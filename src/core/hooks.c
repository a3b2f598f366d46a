/* hooks.c - the names of the server hooks (see hooks.h). */
#include "cunicorn/hooks.h"

#include <string.h>

static const char *const names[CN_HOOK_COUNT] = {
    [CN_HOOK_ON_STARTING] = "on_starting",
    [CN_HOOK_ON_RELOAD] = "on_reload",
    [CN_HOOK_WHEN_READY] = "when_ready",
    [CN_HOOK_PRE_FORK] = "pre_fork",
    [CN_HOOK_POST_FORK] = "post_fork",
    [CN_HOOK_POST_WORKER_INIT] = "post_worker_init",
    [CN_HOOK_CHILD_EXIT] = "child_exit",
    [CN_HOOK_WORKER_EXIT] = "worker_exit",
    [CN_HOOK_WORKER_INT] = "worker_int",
    [CN_HOOK_WORKER_ABORT] = "worker_abort",
    [CN_HOOK_PRE_REQUEST] = "pre_request",
    [CN_HOOK_POST_REQUEST] = "post_request",
    [CN_HOOK_NWORKERS_CHANGED] = "nworkers_changed",
    [CN_HOOK_ON_EXIT] = "on_exit",
    [CN_HOOK_PRE_EXEC] = "pre_exec",
};

const char *cn_hook_name(enum cn_hook h) { return (unsigned)h < CN_HOOK_COUNT ? names[h] : "?"; }

int cn_hook_find(const char *name)
{
    for (int i = 0; i < CN_HOOK_COUNT; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}
