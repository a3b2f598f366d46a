/* worker_signals.c - signal dispositions inside a worker process.
 *
 * Owns: the process-wide pointer to the worker's cn_worker_flags_t and the
 * handlers that set it (TERM -> stop, INT/QUIT -> quick_stop and the class's
 * interrupt hook, ABRT -> the same and aborted, USR1 -> reopen). ABRT is
 * what the master sends a worker whose heartbeat stopped (Gunicorn's
 * worker_abort); an abort() of the process's own still ends it, as the
 * C library resets the handler and raises again when it returns.
 * Handlers are installed without SA_RESTART so a blocking poll()/accept()
 * returns EINTR and the worker loop looks at the flags promptly.
 * Must not: do anything in a handler but store a flag (no logging, no
 * allocation), or touch the master's self-pipe (closed before this runs). */
#define _GNU_SOURCE
#include "cunicorn/worker_proc.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

static void worker_on_signal(int sig);
static void set_handler(int sig, void (*fn)(int));

/* borrowed: the worker's flags, valid for the life of the process */
static cn_worker_flags_t *volatile worker_flags;

static void worker_on_signal(int sig)
{
    cn_worker_flags_t *f = worker_flags;
    if (f == NULL)
        return;
    switch (sig) {
    case SIGTERM:
        f->stop = 1;
        break;
    case SIGABRT:
        f->aborted = 1;
        /* fall through */
    case SIGINT:
    case SIGQUIT:
        f->quick_stop = 1;
        if (f->interrupt != NULL)
            f->interrupt();
        break;
    case SIGUSR1:
        f->reopen = 1;
        break;
    default:
        break;
    }
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocking calls return EINTR */
    sigaction(sig, &sa, NULL);
}

static const int handled[] = {SIGTERM, SIGINT, SIGQUIT, SIGABRT, SIGUSR1};

void cn_worker_signals_hold(void)
{
    sigset_t held;
    sigemptyset(&held);
    for (size_t i = 0; i < CN_ARRAY_LEN(handled); i++)
        sigaddset(&held, handled[i]);
    sigprocmask(SIG_BLOCK, &held, NULL);
}

void cn_worker_signals_install(cn_worker_flags_t *flags)
{
    static const int ignored[] = {SIGPIPE, SIGHUP, SIGTTIN, SIGTTOU, SIGWINCH};
    static const int defaulted[] = {SIGCHLD, SIGUSR2};
    sigset_t all;

    worker_flags = flags;
    for (size_t i = 0; i < CN_ARRAY_LEN(defaulted); i++)
        set_handler(defaulted[i], SIG_DFL);
    for (size_t i = 0; i < CN_ARRAY_LEN(ignored); i++)
        set_handler(ignored[i], SIG_IGN);
    for (size_t i = 0; i < CN_ARRAY_LEN(handled); i++)
        set_handler(handled[i], worker_on_signal);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

/* One alternate stack for the worker's main thread, mapped on first use and
 * kept for the life of the process: a handler may run until _exit. */
#define OWN_STACK_BYTES (64 * 1024)

int cn_worker_signals_on_own_stack(const int *sigs, size_t n)
{
    static void *own_stack;
    if (own_stack == NULL) {
        void *p = mmap(NULL, OWN_STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        stack_t ss = {.ss_sp = p, .ss_size = OWN_STACK_BYTES, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) != 0) {
            int saved = errno;
            munmap(p, OWN_STACK_BYTES);
            errno = saved;
            return -1;
        }
        own_stack = p;
    }
    for (size_t i = 0; i < n; i++) {
        struct sigaction sa;
        if (sigaction(sigs[i], NULL, &sa) != 0)
            return -1;
        sa.sa_flags |= SA_ONSTACK;
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return -1;
    }
    return 0;
}
