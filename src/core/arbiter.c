/* arbiter.c - the master process (Gunicorn's arbiter.py).
 *
 * Owns: the worker table (ordered by age), the heartbeat table mapping, the
 * self-pipe and the master's signal dispositions, the pidfile, forking,
 * reaping, respawning, scaling (TTIN/TTOU), HUP reload, the heartbeat
 * check (SIGABRT, then SIGKILL on the next check), the startup and shutdown
 * log lines, and the exit status (returned, main() exits with it).
 * Must not: touch a client connection, include Python.h, do anything in a
 * signal handler but write the signal number to the self-pipe, or let a
 * forked child return into the master loop (children always _exit()).
 *
 * Loop (one iteration): poll the self-pipe (<= 1 s), reap with WNOHANG,
 * act on the signals read, then murder hung workers and spawn/kill to keep
 * num_workers alive.
 *
 * HUP starts a new generation of workers under the re-read settings
 * (cfg->reload); the old generation serves on until every new worker has
 * booted (its heartbeat slot says so), and is then told to stop. A new
 * worker that cannot boot ends the reload instead: its generation is
 * stopped and the settings go back to the old one's.
 *
 * A stop (TERM graceful, INT/QUIT quick, or a worker that exited 3/4)
 * leaves the loop; stop_workers() then waits up to graceful_timeout and
 * SIGKILLs what is left. */
#define _GNU_SOURCE
#include "cunicorn/arbiter.h"

#include "cunicorn/buf.h"
#include "cunicorn/heartbeat.h"
#include "cunicorn/log.h"
#include "cunicorn/metrics_http.h"
#include "cunicorn/notify.h"
#include "cunicorn/pidfile.h"
#include "cunicorn/procmem.h"
#include "cunicorn/proctitle.h"
#include "cunicorn/reexec.h"
#include "cunicorn/timeouts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MASTER_NAME "Master"
#define MIN_SLOTS 1024       /* heartbeat slots (32 bytes each) */
#define LOOP_TIMEOUT_MS 1000 /* Gunicorn's select() timeout */
#define QUICK_DEATH 1.0       /* s: a worker crashing sooner counts toward a fork storm */
#define MAX_RESPAWN_DELAY 1.0 /* s */
#define KILL_REAP 1.0         /* s: bound on reaping after the final SIGKILL */
#define MAX_SIGS_PER_WAKEUP 64
#define MEMORY_CHECK_EVERY 1.0 /* s between two max_worker_memory samples */
#define NMASTER_SIGNALS 11
#define NOTIFY_BOOT_POLL_MS 50 /* how soon READY=1 follows the last worker's boot */
#define NOTIFY_STATUS_EVERY 1.0 /* s between two STATUS= updates */
#define NOTIFY_EXTEND_USEC 10000000ull /* EXTEND_TIMEOUT_USEC while workers boot */

enum stop_mode { STOP_NONE, STOP_GRACEFUL, STOP_QUICK };

typedef struct worker {
    pid_t pid;
    int age;      /* 1-based spawn order (cn_worker_ctx_t.index) */
    size_t slot;  /* index into the heartbeat table */
    bool aborted; /* SIGABRT already sent for a missed heartbeat */
    int gen;      /* the generation (HUP count) it was forked in; -1: of a
                     failed reload, stopping */
    double born; /* cn_now() at fork */
    bool retiring; /* being replaced (max_worker_memory, or it asked): stopped
                      once its replacement has booted */
    bool over_memory; /* retiring for max_worker_memory */
    bool surplus;     /* stopped by TTOU: not a restart */
} worker_t;

typedef struct arbiter {
    cn_arbiter_config_t store[2];   /* the caller's configuration, and a HUP's */
    const cn_arbiter_config_t *cfg; /* the current generation's: in store */
    const cn_arbiter_config_t *prev; /* while a reload boots: the old one's */
    int gen;                        /* the current generation */
    pid_t pid;
    int num_workers;
    worker_t *workers; /* owned: nworkers entries of cap, oldest first */
    size_t nworkers;
    size_t cap;
    cn_heartbeat_table_t *hb; /* owned: shared mapping of cap slots */
    int pipe_rd;        /* owned: self-pipe read end */
    int worker_age;
    int last_logged_count;
    int quick_deaths;
    double spawn_not_before; /* cn_now(): no respawn before (crash back-off) */
    uint32_t rng;
    cn_pidfile_t pidfile;
    enum stop_mode stop;
    double stop_after;   /* cn_now() when a TERM's shutdown_delay ends; 0: none */
    double next_memory_check;
    bool stopping; /* inside stop_workers(): no respawn, no halt codes */
    int exit_status;
    const char *reason; /* static string or NULL */
    bool signals_installed;
    struct sigaction saved[NMASTER_SIGNALS];
    pid_t reexec_pid; /* the new master a USR2 started, until it is reaped */
    pid_t old_master; /* we are that new master: the old one's pid, until it exits */
    /* systemd (notify.h): what the service manager was told */
    bool ready_notified;    /* READY=1 for the generation that serves */
    bool stop_notified;     /* STOPPING=1 (or the hand-over to a new master) */
    double watchdog;        /* s: $WATCHDOG_USEC, 0: none */
    double next_watchdog;   /* cn_now() when WATCHDOG=1 is due */
    double next_status;     /* cn_now() when STATUS= may be sent again */
    char status[128];       /* the last STATUS= sent */
    uint64_t requests_gone; /* begun by workers that have exited */
    /* --metrics-bind: the slots (mapped before the first fork) and the
     * exporter, which listens once this master serves alone */
    cn_metrics_table_t *metrics;  /* owned, or NULL */
    cn_metrics_server_t *exporter; /* owned, or NULL */
} arbiter_t;

static int arbiter_start(arbiter_t *a);
static void arbiter_loop(arbiter_t *a);
static int arbiter_halt(arbiter_t *a);
static void arbiter_cleanup(arbiter_t *a);
static void log_listening(arbiter_t *a);
static int signals_install(arbiter_t *a);
static void signals_restore(arbiter_t *a);
static void master_on_signal(int sig);
static const char *sig_name(int sig);
static size_t wait_signals(arbiter_t *a, int timeout_ms, int *sigs, size_t max);
static int loop_timeout(arbiter_t *a);
static void handle_signal(arbiter_t *a, int sig);
static void handle_hup(arbiter_t *a);
static void reload_commit(arbiter_t *a);
static void reload_abort(arbiter_t *a, const char *why);
static void close_other_listeners(arbiter_t *a);
static void reap_workers(arbiter_t *a);
static void on_worker_exit(arbiter_t *a, pid_t pid, int status);
static void set_halt(arbiter_t *a, int status, const char *reason);
static void murder_workers(arbiter_t *a);
static void check_retiring(arbiter_t *a);
static void manage_workers(arbiter_t *a);
static void spawn_workers(arbiter_t *a, size_t missing);
static pid_t fork_child(arbiter_t *a);
static int spawn_worker(arbiter_t *a);
static void worker_child(arbiter_t *a, size_t slot, int age) __attribute__((noreturn));
static void child_reset_signals(arbiter_t *a);
static bool free_slot(arbiter_t *a, size_t *slot);
static void update_slots_end(arbiter_t *a);
static ssize_t worker_find(arbiter_t *a, pid_t pid);
static void kill_all(arbiter_t *a, int sig);
static void stop_workers(arbiter_t *a, bool graceful);
static void close_listeners(arbiter_t *a);
static void reexec(arbiter_t *a);
static void maybe_promote(arbiter_t *a);
static const char *pidfile_name(const arbiter_t *a, char *buf, size_t len);
static void set_proc_title(arbiter_t *a, const char *role);
static void sleep_ms(int64_t ms);
static void run_hook(arbiter_t *a, enum cn_hook h, const worker_t *w, int new_value,
                     int old_value);
static void set_num_workers(arbiter_t *a, int n);
static int ms_until(double t);
static void notify_progress(arbiter_t *a);
static int metrics_setup(arbiter_t *a);
static int metrics_listen(arbiter_t *a);
static void metrics_publish(arbiter_t *a, const worker_t *gone, int status);
static void notify_stopping(arbiter_t *a);

static const int master_signals[NMASTER_SIGNALS] = {SIGHUP,   SIGQUIT, SIGINT,  SIGTERM,
                                                    SIGTTIN,  SIGTTOU, SIGUSR1, SIGUSR2,
                                                    SIGWINCH, SIGCHLD, SIGPIPE};

/* The handler's only state: the self-pipe write end (owned by the run). */
static volatile sig_atomic_t self_pipe_wr = -1;

int cn_arbiter_run(const cn_arbiter_config_t *cfg)
{
    arbiter_t a;
    memset(&a, 0, sizeof(a));
    a.store[0] = *cfg;
    a.cfg = &a.store[0];
    a.pipe_rd = -1;
    a.last_logged_count = -1;
    a.exit_status = 0;
    int status = arbiter_start(&a);
    if (status == 0) {
        manage_workers(&a);
        arbiter_loop(&a);
        status = arbiter_halt(&a);
    }
    arbiter_cleanup(&a);
    return status;
}

/* Startup in Gunicorn's order: "Starting", pidfile, signals, "Listening at",
 * "Using worker". Returns 0, or the exit status for a failed start. */
static int arbiter_start(arbiter_t *a)
{
    const cn_arbiter_config_t *cfg = a->cfg;
    char err[CN_ERR_LEN] = "";

    cn_log_info("Starting cunicorn %s", CN_VERSION);
    a->pid = getpid();
    a->rng = (uint32_t)a->pid * 2654435761u + (uint32_t)(cn_now() * 1000);
    a->num_workers = cfg->workers < 0 ? 0 : cfg->workers;
    a->old_master = cfg->old_master;
    /* only a master that speaks to systemd pings its watchdog */
    a->watchdog = cn_notify_enabled() ? cn_notify_watchdog_period(cfg->old_master) : 0;
    if (cfg->worker_main == NULL) {
        cn_log_error("no worker_main callback");
        return 1;
    }
    char name[PATH_MAX];
    if (cfg->pidfile != NULL &&
        cn_pidfile_create(&a->pidfile, pidfile_name(a, name, sizeof(name)), a->pid, err) != 0) {
        /* Gunicorn lets the RuntimeError reach app/base.py, which prints it. */
        fprintf(stderr, "\nError: %s\n\n", err);
        fflush(stderr);
        return 1;
    }
    a->cap = (size_t)a->num_workers * 4 > MIN_SLOTS ? (size_t)a->num_workers * 4 : MIN_SLOTS;
    a->workers = cn_xcalloc(a->cap, sizeof(worker_t));
    a->hb = cn_heartbeat_table_new(a->cap);
    if (a->hb == NULL) {
        cn_log_error("cannot map the heartbeat table: %s", strerror(errno));
        return 1;
    }
    if (signals_install(a) != 0) {
        cn_log_error("cannot set up the signal pipe: %s", strerror(errno));
        return 1;
    }
    if (metrics_setup(a) != 0) {
        cn_pidfile_unlink(&a->pidfile);
        return 1;
    }
    cn_log_debug("Arbiter booted");
    log_listening(a);
    cn_log_info("Using worker: %s", cfg->worker_class ? cfg->worker_class : "sync");
    set_proc_title(a, "master");
    run_hook(a, CN_HOOK_NWORKERS_CHANGED, NULL, a->num_workers, -1);
    run_hook(a, CN_HOOK_WHEN_READY, NULL, 0, 0);
    return 0;
}

/* Tell the hook callback about h; w is the worker concerned, if any. */
static void run_hook(arbiter_t *a, enum cn_hook h, const worker_t *w, int new_value,
                     int old_value)
{
    if (a->cfg->hook == NULL)
        return;
    cn_hook_info_t info = {
        .server_pid = a->pid,
        .num_workers = a->num_workers,
        .worker_age = w ? w->age : 0,
        .worker_pid = w ? w->pid : 0,
        .new_value = new_value,
        .old_value = old_value,
    };
    a->cfg->hook(a->cfg->hook_ud, h, &info);
}

/* Every change of the target count goes through here, for nworkers_changed. */
static void set_num_workers(arbiter_t *a, int n)
{
    int old = a->num_workers;
    a->num_workers = n;
    if (n != old)
        run_hook(a, CN_HOOK_NWORKERS_CHANGED, NULL, n, old);
}

/* Gunicorn joins every listener on one line: "Listening at: a,b (pid)". */
static void log_listening(arbiter_t *a)
{
    cn_buf_t line = CN_BUF_INIT;
    for (size_t i = 0; i < a->cfg->nlisteners; i++) {
        if (i > 0)
            cn_buf_append_str(&line, ",");
        cn_buf_append_str(&line, a->cfg->listeners[i].url);
    }
    cn_log_info("Listening at: %.*s (%d)", (int)line.len, line.data ? line.data : "", (int)a->pid);
    cn_buf_free(&line);
}

static void arbiter_loop(arbiter_t *a)
{
    int sigs[MAX_SIGS_PER_WAKEUP];
    while (a->stop == STOP_NONE) {
        size_t n = wait_signals(a, loop_timeout(a), sigs, CN_ARRAY_LEN(sigs));
        reap_workers(a);
        for (size_t i = 0; i < n && a->stop == STOP_NONE; i++)
            handle_signal(a, sigs[i]);
        if (a->stop != STOP_NONE)
            break;
        if (a->stop_after > 0 && cn_now() >= a->stop_after) {
            a->stop = STOP_GRACEFUL;
            break;
        }
        maybe_promote(a);
        murder_workers(a);
        check_retiring(a);
        manage_workers(a);
        notify_progress(a);
        metrics_publish(a, NULL, 0);
    }
}

static int arbiter_halt(arbiter_t *a)
{
    notify_stopping(a);
    stop_workers(a, a->stop != STOP_QUICK);
    cn_log_info("Shutting down: %s", MASTER_NAME);
    if (a->reason != NULL)
        cn_log_info("Reason: %s", a->reason);
    cn_pidfile_unlink(&a->pidfile);
    run_hook(a, CN_HOOK_ON_EXIT, NULL, 0, 0);
    return a->exit_status;
}

static void arbiter_cleanup(arbiter_t *a)
{
    cn_metrics_server_stop(a->exporter);
    a->exporter = NULL;
    cn_metrics_table_free(a->metrics);
    a->metrics = NULL;
    signals_restore(a);
    cn_heartbeat_table_free(a->hb);
    a->hb = NULL;
    free(a->workers);
    a->workers = NULL;
}

/* ---- signals ---------------------------------------------------------------- */

static void master_on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    int fd = self_pipe_wr;
    if (fd >= 0) {
        ssize_t r = write(fd, &b, 1); /* EAGAIN: the pipe is full, the loop will wake anyway */
        (void)r;
    }
    errno = saved;
}

static int signals_install(arbiter_t *a)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -errno;
    a->pipe_rd = fds[0];
    self_pipe_wr = fds[1];
    for (size_t i = 0; i < CN_ARRAY_LEN(master_signals); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = master_signals[i] == SIGPIPE ? SIG_IGN : master_on_signal;
        sa.sa_flags = master_signals[i] == SIGCHLD ? SA_NOCLDSTOP : 0; /* no SA_RESTART */
        sigaction(master_signals[i], &sa, &a->saved[i]);
    }
    a->signals_installed = true;
    return 0;
}

static void signals_restore(arbiter_t *a)
{
    if (a->signals_installed) {
        for (size_t i = 0; i < CN_ARRAY_LEN(master_signals); i++)
            sigaction(master_signals[i], &a->saved[i], NULL);
        a->signals_installed = false;
    }
    if (self_pipe_wr >= 0) {
        int fd = self_pipe_wr;
        self_pipe_wr = -1;
        close(fd);
    }
    if (a->pipe_rd >= 0) {
        close(a->pipe_rd);
        a->pipe_rd = -1;
    }
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGHUP:
        return "hup";
    case SIGQUIT:
        return "quit";
    case SIGINT:
        return "int";
    case SIGTERM:
        return "term";
    case SIGTTIN:
        return "ttin";
    case SIGTTOU:
        return "ttou";
    case SIGUSR1:
        return "usr1";
    case SIGUSR2:
        return "usr2";
    case SIGWINCH:
        return "winch";
    case SIGCHLD:
        return "chld";
    default:
        return "unknown";
    }
}

/* Sleep in poll() until the self-pipe is readable or timeout_ms passes; read
 * the queued signal numbers into sigs (NULL: discard them). */
static size_t wait_signals(arbiter_t *a, int timeout_ms, int *sigs, size_t max)
{
    struct pollfd pfd = {.fd = a->pipe_rd, .events = POLLIN, .revents = 0};
    unsigned char buf[MAX_SIGS_PER_WAKEUP];
    size_t n = 0;
    if (poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
        return 0; /* timeout or EINTR: the byte is still in the pipe */
    for (;;) {
        ssize_t r = read(a->pipe_rd, buf, sizeof(buf));
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (sigs != NULL && n < max)
                sigs[n++] = buf[i];
        }
    }
    return n;
}

/* 1 s, or sooner when a delayed respawn or the end of a shutdown delay
 * becomes due. */
static int loop_timeout(arbiter_t *a)
{
    int ms = LOOP_TIMEOUT_MS;
    if (a->spawn_not_before > cn_now() && ms_until(a->spawn_not_before) < ms)
        ms = ms_until(a->spawn_not_before);
    if (a->stop_after > 0 && ms_until(a->stop_after) < ms)
        ms = ms_until(a->stop_after);
    if (!a->ready_notified && ms > NOTIFY_BOOT_POLL_MS && cn_notify_enabled())
        ms = NOTIFY_BOOT_POLL_MS; /* READY=1 soon after the workers boot */
    if (a->watchdog > 0 && a->old_master == 0 && ms_until(a->next_watchdog) < ms)
        ms = ms_until(a->next_watchdog) > 0 ? ms_until(a->next_watchdog) : 0;
    return ms;
}

static void handle_signal(arbiter_t *a, int sig)
{
    if (sig == SIGCHLD)
        return; /* only wakes the loop; reap_workers() already ran */
    cn_log_info("Handling signal: %s", sig_name(sig));
    switch (sig) {
    case SIGTERM:
        if (a->cfg->shutdown_delay > 0 && a->stop_after == 0) {
            /* lame duck: a load balancer takes us out of rotation meanwhile */
            cn_log_info("Shutdown delay: serving for %d more seconds before stopping",
                        a->cfg->shutdown_delay);
            notify_stopping(a);
            a->stop_after = cn_now() + a->cfg->shutdown_delay;
            break;
        }
        a->stop = STOP_GRACEFUL;
        break;
    case SIGINT:
    case SIGQUIT:
        a->stop = STOP_QUICK;
        break;
    case SIGTTIN:
        if ((size_t)a->num_workers >= a->cap / 2) {
            cn_log_warning("TTIN ignored: %d workers is the limit", a->num_workers);
            break;
        }
        set_num_workers(a, a->num_workers + 1);
        manage_workers(a);
        break;
    case SIGTTOU:
        if (a->num_workers <= 1)
            break;
        set_num_workers(a, a->num_workers - 1);
        manage_workers(a);
        break;
    case SIGHUP:
        handle_hup(a);
        break;
    case SIGUSR1:
        cn_log_reopen();
        kill_all(a, SIGUSR1);
        break;
    case SIGUSR2:
        reexec(a);
        break;
    case SIGWINCH: /* Gunicorn's: after an upgrade, the old master stops its workers */
        if (!a->cfg->daemon) {
            cn_log_debug("SIGWINCH ignored. Not daemonized");
            break;
        }
        cn_log_info("graceful stop of workers");
        set_num_workers(a, 0);
        kill_all(a, SIGTERM);
        break;
    default:
        break;
    }
}

/* Gunicorn's reload(): re-read the settings, reopen the logs, rewrite the
 * pidfile, and start a new generation of workers; manage_workers() stops
 * the old one once the new one has booted. A HUP during a reload starts
 * over from the generation that serves. */
static void handle_hup(arbiter_t *a)
{
    char err[CN_ERR_LEN] = "";
    cn_log_info("Hang up: %s", MASTER_NAME);
    /* systemd's notify-reload: READY=1 again once a generation serves */
    (void)cn_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading",
                    cn_notify_monotonic_usec());
    a->ready_notified = false;
    if (a->prev != NULL)
        reload_abort(a, "Another HUP arrived.");
    if (a->cfg->reload != NULL) {
        cn_arbiter_config_t *next = &a->store[a->cfg == &a->store[0] ? 1 : 0];
        *next = *a->cfg;
        if (a->cfg->reload(a->cfg->reload_ud, next) < 0) {
            cn_log_error("Reload failed: the workers keep serving with the previous settings");
            return;
        }
        a->prev = a->cfg;
        a->cfg = next;
    } else {
        a->prev = a->cfg; /* the same settings, a new generation all the same */
    }
    a->gen++;
    run_hook(a, CN_HOOK_ON_RELOAD, NULL, 0, 0);
    cn_log_reopen();
    if (a->prev->listeners != a->cfg->listeners)
        log_listening(a);
    if (a->cfg->pidfile != NULL || a->prev->pidfile != NULL) {
        char name[PATH_MAX];
        cn_pidfile_unlink(&a->pidfile);
        if (a->cfg->pidfile != NULL &&
            cn_pidfile_create(&a->pidfile, pidfile_name(a, name, sizeof(name)), a->pid, err) != 0)
            cn_log_error("%s", err);
    }
    set_num_workers(a, a->cfg->workers < 0 ? 0 : a->cfg->workers);
    set_proc_title(a, "master");
    manage_workers(a);
}

/* Every worker of the new generation has booted: the old one stops. */
static void reload_commit(arbiter_t *a)
{
    const cn_arbiter_config_t *old = a->prev;
    a->prev = NULL;
    metrics_publish(a, NULL, 0); /* before the old generation's listeners go */
    if (old != a->cfg && a->cfg->reload_end != NULL)
        a->cfg->reload_end(a->cfg->reload_ud, true);
    for (size_t i = 0; i < a->nworkers; i++) {
        if (a->workers[i].gen != a->gen)
            kill(a->workers[i].pid, SIGTERM);
    }
}

/* The new generation cannot boot (or is overtaken by another HUP): stop it
 * and serve on with the old one and its settings. */
static void reload_abort(arbiter_t *a, const char *why)
{
    cn_log_error("Reload abandoned: %s The previous workers keep serving.", why);
    for (size_t i = 0; i < a->nworkers; i++) {
        worker_t *w = &a->workers[i];
        if (w->gen == a->gen) {
            w->gen = -1;
            kill(w->pid, SIGTERM);
        }
    }
    const cn_arbiter_config_t *failed = a->cfg;
    a->cfg = a->prev;
    a->prev = NULL;
    metrics_publish(a, NULL, 0); /* before the failed generation's listeners go */
    if (failed != a->cfg && failed->reload_end != NULL)
        failed->reload_end(failed->reload_ud, false);
    a->gen--;
    set_num_workers(a, a->cfg->workers < 0 ? 0 : a->cfg->workers);
    char name[PATH_MAX], err[CN_ERR_LEN] = "";
    cn_pidfile_unlink(&a->pidfile);
    if (a->cfg->pidfile != NULL &&
        cn_pidfile_create(&a->pidfile, pidfile_name(a, name, sizeof(name)), a->pid, err) != 0)
        cn_log_error("%s", err);
    a->spawn_not_before = 0;
}

/* ---- reaping and supervision ------------------------------------------------ */

static void reap_workers(arbiter_t *a)
{
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return; /* 0: none exited; ECHILD: no children */
        on_worker_exit(a, pid, status);
    }
}

static void on_worker_exit(arbiter_t *a, pid_t pid, int status)
{
    if (pid == a->reexec_pid) { /* the USR2 child: a master, not a worker */
        cn_log_info("The new master (pid %d) exited with status %d", (int)pid,
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        a->reexec_pid = 0;
        return;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    ssize_t i = worker_find(a, pid);
    bool boot_error = code == CN_EXIT_WORKER_BOOT_ERROR || code == CN_EXIT_APP_LOAD_ERROR;
    int gen = i >= 0 ? a->workers[i].gen : a->gen;
    if (boot_error && a->prev != NULL && gen == a->gen) /* Gunicorn would halt */
        reload_abort(a, code == CN_EXIT_APP_LOAD_ERROR ? "App failed to load."
                                                       : "Worker failed to boot.");
    else if (boot_error && gen != a->gen)
        cn_log_info("Worker (pid:%d) of a replaced generation exited with code %d", (int)pid,
                    code);
    else if (code == CN_EXIT_WORKER_BOOT_ERROR)
        set_halt(a, CN_EXIT_WORKER_BOOT_ERROR, "Worker failed to boot.");
    else if (code == CN_EXIT_APP_LOAD_ERROR)
        set_halt(a, CN_EXIT_APP_LOAD_ERROR, "App failed to load.");
    else if (WIFSIGNALED(status))
        cn_log_warning("Worker with pid %d was terminated due to signal %d", (int)pid,
                       WTERMSIG(status));
    else if (code != 0)
        cn_log_error("Worker (pid:%d) exited with code %d", (int)pid, code);

    if (i < 0)
        return;
    /* Only a crash (a signal, or a non-zero code) soon after the fork counts
     * toward a fork storm; a worker that exits 0 on its own (max_requests)
     * is replaced at once, however short its life. */
    bool crashed = !WIFEXITED(status) || code != 0;
    double now = cn_now();
    if (!a->stopping && crashed && now - a->workers[i].born < QUICK_DEATH) {
        /* Fork-storm guard: back off 100 ms, 200 ms, ... up to 1 s. */
        int shift = a->quick_deaths < 4 ? a->quick_deaths : 4;
        double delay = 0.1 * (1 << shift);
        a->quick_deaths++;
        a->spawn_not_before = now + (delay < MAX_RESPAWN_DELAY ? delay : MAX_RESPAWN_DELAY);
    } else if (!a->stopping) {
        a->quick_deaths = 0;
    }
    run_hook(a, CN_HOOK_CHILD_EXIT, &a->workers[i], 0, 0);
    a->requests_gone += cn_heartbeat_requests(&a->hb->slots[a->workers[i].slot]);
    metrics_publish(a, &a->workers[i], status);
    cn_heartbeat_release(&a->hb->slots[a->workers[i].slot]);
    memmove(&a->workers[i], &a->workers[i + 1], (a->nworkers - (size_t)i - 1) * sizeof(worker_t));
    a->nworkers--;
    update_slots_end(a);
}

/* Workers look for their siblings in slots [0, 1 + the highest in use). */
static void update_slots_end(arbiter_t *a)
{
    size_t end = 0;
    for (size_t i = 0; i < a->nworkers; i++)
        if (a->workers[i].slot + 1 > end)
            end = a->workers[i].slot + 1;
    cn_heartbeat_table_set_end(a->hb, end);
}

/* A worker that cannot boot stops the master (Gunicorn's HaltServer). Only the
 * first reason counts, and not once the final stop has begun. */
static void set_halt(arbiter_t *a, int status, const char *reason)
{
    if (a->stopping || a->stop != STOP_NONE)
        return;
    a->stop = STOP_GRACEFUL;
    a->exit_status = status;
    a->reason = reason;
}

/* Gunicorn's murder_workers(): SIGABRT on the first check that finds the
 * heartbeat older than timeout, SIGKILL on any later one. */
static void murder_workers(arbiter_t *a)
{
    if (a->cfg->timeout <= 0)
        return;
    double now = cn_now();
    for (size_t i = 0; i < a->nworkers; i++) {
        worker_t *w = &a->workers[i];
        if (cn_heartbeat_age(&a->hb->slots[w->slot], now) <= a->cfg->timeout)
            continue;
        if (!w->aborted) {
            cn_log_critical("WORKER TIMEOUT (pid:%d)", (int)w->pid);
            w->aborted = true;
            kill(w->pid, SIGABRT);
        } else {
            kill(w->pid, SIGKILL);
        }
    }
}

/* Workers to replace: those that ask (a request stuck past its deadline)
 * and, every MEMORY_CHECK_EVERY, those over max_worker_memory. Each finishes
 * its requests once its replacement has booted (manage_workers). */
static void check_retiring(arbiter_t *a)
{
    double now = cn_now();
    bool sample = a->cfg->max_worker_memory > 0 && now >= a->next_memory_check;
    if (sample)
        a->next_memory_check = now + MEMORY_CHECK_EVERY;
    for (size_t i = 0; i < a->nworkers; i++) {
        worker_t *w = &a->workers[i];
        if (w->retiring || w->gen != a->gen)
            continue;
        if (cn_heartbeat_wants_retire(&a->hb->slots[w->slot])) {
            cn_log_info("Worker (pid:%d) asked to be replaced", (int)w->pid);
            w->retiring = true;
            continue;
        }
        long kb = sample ? cn_proc_memory_kb(w->pid) : -1;
        if (kb > (long)a->cfg->max_worker_memory * 1024) {
            cn_log_warning("Worker (pid:%d) uses %ld MiB, over max_worker_memory (%d MiB): "
                           "replacing it",
                           (int)w->pid, kb / 1024, a->cfg->max_worker_memory);
            w->retiring = true;
            w->over_memory = true;
        }
    }
}

/* Spawn up to num_workers of the current generation. During a reload the
 * old generation serves on until the new one has booted; otherwise TERM the
 * workers of other generations and the oldest beyond num_workers (they stay
 * in the table, and are TERMed again each pass, until reaped, as in
 * Gunicorn). */
static void manage_workers(arbiter_t *a)
{
    size_t current = 0, booted = 0;
    for (size_t i = 0; i < a->nworkers; i++) {
        if (a->workers[i].gen == a->gen && !a->workers[i].retiring) {
            current++;
            booted += cn_heartbeat_is_booted(&a->hb->slots[a->workers[i].slot]);
        }
    }
    if (current < (size_t)a->num_workers && !a->stopping && cn_now() >= a->spawn_not_before)
        spawn_workers(a, (size_t)a->num_workers - current);
    if (a->prev != NULL && booted >= (size_t)a->num_workers)
        reload_commit(a);
    if (a->prev != NULL) {
        for (size_t i = 0; i < a->nworkers; i++) /* a failed reload's leftovers */
            if (a->workers[i].gen < 0)
                kill(a->workers[i].pid, SIGTERM);
        return;
    }
    size_t excess = current > (size_t)a->num_workers ? current - (size_t)a->num_workers : 0;
    for (size_t i = 0; i < a->nworkers; i++) {
        worker_t *w = &a->workers[i];
        bool surplus = w->gen == a->gen && !w->retiring && excess > 0; /* the oldest */
        if (surplus) {
            excess--;
            w->surplus = true;
        }
        bool replaced = w->retiring && booted >= (size_t)a->num_workers;
        if (w->gen != a->gen || surplus || replaced)
            kill(w->pid, SIGTERM);
    }
    int active = (int)(current < (size_t)a->num_workers ? current : (size_t)a->num_workers);
    if (active != a->last_logged_count) {
        a->last_logged_count = active;
        cn_log_debug("%d workers", active);
    }
}

/* Gunicorn sleeps 0-100 ms between forks; reaping in between lets a worker
 * that fails to boot stop the master before the rest are forked. At most
 * the missing count per call: workers that exit as fast as they are forked
 * must not keep the master from its signals. */
static void spawn_workers(arbiter_t *a, size_t missing)
{
    int gen = a->gen; /* a reload abandoned while we reap ends this round */
    for (size_t n = 0; n < missing && a->stop == STOP_NONE && a->gen == gen; n++) {
        if (spawn_worker(a) != 0)
            return;
        if (n + 1 == missing)
            break; /* the pause is between forks: a lone respawn is not delayed */
        a->rng = a->rng * 1103515245u + 12345u;
        sleep_ms((a->rng >> 16) % 100);
        reap_workers(a);
        if (a->spawn_not_before > cn_now())
            return;
    }
}

static int spawn_worker(arbiter_t *a)
{
    size_t slot;
    if (!free_slot(a, &slot)) {
        cn_log_error("cannot spawn a worker: all %zu heartbeat slots are in use", a->cap);
        return -ENOSPC;
    }
    int age = ++a->worker_age;
    double now = cn_now();
    worker_t next = {.age = age};
    run_hook(a, CN_HOOK_PRE_FORK, &next, 0, 0);
    cn_heartbeat_reset(&a->hb->slots[slot], now);
    pid_t pid = fork_child(a);
    if (pid == 0)
        worker_child(a, slot, age);
    if (pid < 0) {
        int saved = errno;
        cn_log_error("fork failed: %s", strerror(saved));
        a->spawn_not_before = now + MAX_RESPAWN_DELAY;
        return -saved;
    }
    worker_t *w = &a->workers[a->nworkers++];
    w->pid = pid;
    w->age = age;
    w->slot = slot;
    w->aborted = false;
    w->born = now;
    w->gen = a->gen;
    w->retiring = false;
    w->over_memory = false;
    w->surplus = false;
    update_slots_end(a);
    metrics_publish(a, NULL, 0); /* its slot counts from its first request */
    return 0;
}

/* Every fork of the master: signals blocked across it, so the child cannot
 * run the master's handler (which would write into the master's pipe)
 * before it resets them, and the embedded interpreter's fork protocol
 * around it. In the child (0) the protocol's child half has run and the
 * signals are the child's own; in the master, pid or -1 (errno kept). */
static pid_t fork_child(arbiter_t *a)
{
    const cn_arbiter_config_t *cfg = a->cfg;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    if (cfg->before_fork != NULL)
        cfg->before_fork();
    pid_t pid = fork();
    if (pid == 0) {
        if (cfg->after_fork_child != NULL)
            cfg->after_fork_child();
        child_reset_signals(a);
        return 0;
    }
    int saved = errno;
    if (cfg->after_fork_parent != NULL)
        cfg->after_fork_parent();
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}

/* In the child: never returns into the master loop. */
static void worker_child(arbiter_t *a, size_t slot, int age)
{
    const cn_arbiter_config_t *cfg = a->cfg;
    set_proc_title(a, "worker");
    close_other_listeners(a);
    cn_metrics_server_close_in_child(a->exporter);
    cn_log_info("Booting worker with pid: %d", (int)getpid());
    cn_worker_ctx_t ctx = {
        .index = age,
        .ppid = a->pid,
        .heartbeat = &a->hb->slots[slot],
        .heartbeats = a->hb,
        .metrics = a->metrics ? &a->metrics->slots[slot] : NULL,
        .listeners = cfg->listeners,
        .nlisteners = cfg->nlisteners,
    };
    int rc = cfg->worker_main(cfg->worker_ud, &ctx);
    cn_log_info("Worker exiting (pid: %d)", (int)getpid());
    _exit(rc & 0xff);
}

/* In a worker forked during a reload: the old generation's listeners that
 * the new settings dropped are not this worker's to keep open. */
static void close_other_listeners(arbiter_t *a)
{
    if (a->prev == NULL || a->prev->listeners == a->cfg->listeners)
        return;
    for (size_t i = 0; i < a->prev->nlisteners; i++) {
        bool mine = false;
        for (size_t j = 0; j < a->cfg->nlisteners && !mine; j++)
            mine = a->cfg->listeners[j].fd == a->prev->listeners[i].fd;
        if (!mine && a->prev->listeners[i].fd >= 0)
            close(a->prev->listeners[i].fd);
    }
}

static void child_reset_signals(arbiter_t *a)
{
    sigset_t none;
    close(a->pipe_rd);
    a->pipe_rd = -1;
    if (self_pipe_wr >= 0) {
        close(self_pipe_wr);
        self_pipe_wr = -1;
    }
    for (size_t i = 0; i < CN_ARRAY_LEN(master_signals); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = SIG_DFL;
        sigaction(master_signals[i], &sa, NULL);
    }
    a->signals_installed = false;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static bool free_slot(arbiter_t *a, size_t *slot)
{
    if (a->nworkers >= a->cap)
        return false;
    for (size_t s = 0; s < a->cap; s++) {
        bool used = false;
        for (size_t i = 0; i < a->nworkers && !used; i++)
            used = a->workers[i].slot == s;
        if (!used) {
            *slot = s;
            return true;
        }
    }
    return false;
}

static ssize_t worker_find(arbiter_t *a, pid_t pid)
{
    for (size_t i = 0; i < a->nworkers; i++) {
        if (a->workers[i].pid == pid)
            return (ssize_t)i;
    }
    return -1;
}

static void kill_all(arbiter_t *a, int sig)
{
    for (size_t i = 0; i < a->nworkers; i++)
        kill(a->workers[i].pid, sig);
}

/* ---- shutdown ----------------------------------------------------------------- */

/* Gunicorn's stop(): close the listeners, TERM (graceful) or QUIT (quick)
 * every worker, wait up to graceful_timeout for them, then SIGKILL the rest.
 * Unlike Gunicorn we reap the killed ones (bounded) so none is left behind. */
static void stop_workers(arbiter_t *a, bool graceful)
{
    a->stopping = true;
    close_listeners(a);
    kill_all(a, graceful ? SIGTERM : SIGQUIT);
    double limit = cn_now() + a->cfg->graceful_timeout;
    for (;;) {
        reap_workers(a);
        int left = ms_until(limit);
        if (a->nworkers == 0 || left <= 0)
            break;
        wait_signals(a, left < 100 ? left : 100, NULL, 0);
    }
    if (a->nworkers == 0)
        return;
    kill_all(a, SIGKILL);
    limit = cn_now() + KILL_REAP;
    while (a->nworkers > 0 && cn_now() < limit) {
        wait_signals(a, 50, NULL, 0);
        reap_workers(a);
    }
}

/* Only the master, only at the final stop: workers hold their own copies. */
static void close_listeners(arbiter_t *a)
{
    /* a unix socket's file stays while the other master of an upgrade uses it */
    bool sole_master = a->reexec_pid == 0 && a->old_master == 0;
    for (size_t i = 0; i < a->cfg->nlisteners; i++) {
        cn_listener_t *l = &a->cfg->listeners[i];
        if (l->fd >= 0)
            cn_listener_close(l, sole_master && l->addr.kind == CN_ADDR_UNIX);
    }
}

/* ---- USR2: the binary upgrade ------------------------------------------------- */

/* Gunicorn's reexec(): one new master at a time, started by a master that is
 * not itself a new one; it shares the listening sockets. */
static void reexec(arbiter_t *a)
{
    const cn_arbiter_config_t *cfg = a->cfg;
    if (cfg->argv == NULL) {
        cn_log_warning("USR2 signal ignored. Re-exec is not supported.");
        return;
    }
    if (a->reexec_pid != 0) {
        cn_log_warning("USR2 signal ignored. Child exists.");
        return;
    }
    if (a->old_master != 0) {
        cn_log_warning("USR2 signal ignored. Parent exists.");
        return;
    }
    pid_t pid = fork_child(a);
    if (pid == 0) {
        run_hook(a, CN_HOOK_PRE_EXEC, NULL, 0, 0);
        cn_reexec_child(cfg->argv, cfg->start_cwd, a->pid, cfg->listeners, cfg->nlisteners);
        _exit(1);
    }
    if (pid < 0) {
        cn_log_error("Cannot re-exec: fork: %s", strerror(errno));
        return;
    }
    a->reexec_pid = pid;
}

/* The new master of an upgrade takes over once the old one has exited (it
 * was our parent): PIDFILE.2 becomes PIDFILE, as in Gunicorn. */
static void maybe_promote(arbiter_t *a)
{
    if (a->old_master == 0 || getppid() == a->old_master)
        return;
    cn_log_info("Master has been promoted.");
    a->old_master = 0;
    a->ready_notified = false; /* READY=1 again, with MAINPID= */
    (void)metrics_listen(a); /* the old master has released the address */
    set_proc_title(a, "master");
    char err[CN_ERR_LEN] = "";
    if (a->cfg->pidfile != NULL && cn_pidfile_rename(&a->pidfile, a->cfg->pidfile, err) != 0)
        cn_log_error("%s", err);
}

static const char *pidfile_name(const arbiter_t *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", a->cfg->pidfile, a->old_master ? ".2" : "");
    return buf;
}

/* Gunicorn's titles: "cunicorn: master [NAME]", "cunicorn: worker [NAME]". */
static void set_proc_title(arbiter_t *a, const char *role)
{
    char title[256];
    const char *name = a->cfg->proc_name && a->cfg->proc_name[0] ? a->cfg->proc_name : "cunicorn";
    snprintf(title, sizeof(title), "cunicorn: %s [%s%s]", role, name,
             a->old_master ? ".2" : ""); /* Gunicorn's name for an upgrade's new master */
    cn_proctitle_set(title);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cutting it short only shortens the pause */
}

/* Milliseconds from now until cn_now() reaches t (0 if past), rounded up. */
static int ms_until(double t)
{
    double left = (t - cn_now()) * 1000;
    return left <= 0 ? 0 : left > 1e9 ? 1000000000 : (int)left + 1;
}

/* ---- systemd ---------------------------------------------------------------- */

/* Workers of the serving generation that have booted, and of all that. */
static size_t booted_workers(const arbiter_t *a, size_t *current)
{
    size_t booted = 0;
    *current = 0;
    for (size_t i = 0; i < a->nworkers; i++) {
        if (a->workers[i].gen == a->gen) {
            (*current)++;
            booted += cn_heartbeat_is_booted(&a->hb->slots[a->workers[i].slot]);
        }
    }
    return booted;
}

/* Whether some booted worker beat within the watchdog period (at least two
 * beat intervals, so a worker on time never misses one): all of them hung
 * or stopped means systemd's watchdog should act. */
static bool workers_beating(const arbiter_t *a, double now)
{
    double limit = a->watchdog > 2 * CN_TIMEOUTS_BEAT_MAX ? a->watchdog : 2 * CN_TIMEOUTS_BEAT_MAX;
    for (size_t i = 0; i < a->nworkers; i++) {
        const cn_heartbeat_t *hb = &a->hb->slots[a->workers[i].slot];
        if (cn_heartbeat_is_booted(hb) && cn_heartbeat_age(hb, now) < limit)
            return true;
    }
    return false;
}

/* Once per loop pass: READY=1 when the serving generation has booted
 * (after a HUP, once the reload is over; in a USR2's new master, once it
 * is promoted, with MAINPID=), EXTEND_TIMEOUT_USEC= until then (the app
 * import may take longer than TimeoutStartSec), STATUS= about once a
 * second, and WATCHDOG=1 while the workers beat. */
static void notify_progress(arbiter_t *a)
{
    if (!cn_notify_enabled() || a->old_master != 0 || a->stop_notified)
        return; /* not the service's main process, or "Stopping" stands */
    double now = cn_now();
    size_t current, booted = booted_workers(a, &current);
    uint64_t requests = a->requests_gone;
    for (size_t i = 0; i < a->nworkers; i++)
        requests += cn_heartbeat_requests(&a->hb->slots[a->workers[i].slot]);
    bool serving = a->prev == NULL && booted >= (size_t)a->num_workers;
    char status[sizeof(a->status)];
    if (serving)
        snprintf(status, sizeof(status), "%zu workers, %llu requests", booted,
                 (unsigned long long)requests);
    else
        snprintf(status, sizeof(status), "%s: %zu of %d workers booted",
                 a->prev != NULL ? "Reloading" : "Booting", booted, a->num_workers);
    if (serving && !a->ready_notified) {
        a->ready_notified = true;
        if (a->cfg->old_master != 0)
            (void)cn_notify("MAINPID=%d\nREADY=1\nSTATUS=%s", (int)a->pid, status);
        else
            (void)cn_notify("READY=1\nSTATUS=%s", status);
        snprintf(a->status, sizeof(a->status), "%s", status);
        a->next_status = now + NOTIFY_STATUS_EVERY;
    } else if (now >= a->next_status) {
        a->next_status = now + NOTIFY_STATUS_EVERY;
        if (!a->ready_notified)
            (void)cn_notify("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=%s", NOTIFY_EXTEND_USEC, status);
        else if (strcmp(status, a->status) != 0)
            (void)cn_notify("STATUS=%s", status);
        snprintf(a->status, sizeof(a->status), "%s", status);
    }
    if (a->watchdog > 0 && now >= a->next_watchdog) {
        /* no worker beats: look again soon (not at once: the loop would
         * spin), so a ping follows as soon as one beats again */
        bool beating = workers_beating(a, now);
        if (beating)
            (void)cn_notify("WATCHDOG=1");
        a->next_watchdog = now + (beating ? a->watchdog / 2 : NOTIFY_BOOT_POLL_MS / 1000.0);
    }
}

/* The stop begins (TERM, INT, QUIT, a worker that could not boot): STOPPING=1,
 * once. An old master that leaves a USR2's new master serving hands the
 * service over instead: the new master is the main process from now on. */
static void notify_stopping(arbiter_t *a)
{
    if (a->stop_notified)
        return;
    a->stop_notified = true;
    if (a->reexec_pid != 0)
        (void)cn_notify("MAINPID=%d\nSTATUS=Handed over to the new master",
                        (int)a->reexec_pid);
    else
        (void)cn_notify("STOPPING=1\nSTATUS=Stopping");
}

/* ---- metrics (--metrics-bind) ------------------------------------------------ */

/* The slots exist before the first fork, whoever listens: an upgrade's new
 * master listens once promoted (the old one holds the address until then). */
static int metrics_setup(arbiter_t *a)
{
    if (a->cfg->metrics_bind == NULL)
        return 0;
    a->metrics = cn_metrics_table_new(a->cap);
    if (a->metrics == NULL) {
        cn_log_error("cannot map the metrics table: %s", strerror(errno));
        return -1;
    }
    a->exporter = cn_metrics_server_new(a->metrics, a->hb);
    return a->old_master == 0 ? metrics_listen(a) : 0;
}

/* At start a metrics_bind that cannot be bound stops the master, as a bind
 * does; a promoted new master logs it and serves on. */
static int metrics_listen(arbiter_t *a)
{
    char err[CN_ERR_LEN] = "";
    if (a->exporter == NULL)
        return 0;
    if (cn_metrics_server_listen(a->exporter, a->cfg->metrics_bind, err) < 0) {
        cn_log_error("%s", err);
        cn_log_error("Can't serve the metrics on %s", a->cfg->metrics_bind);
        return -1;
    }
    cn_log_info("Metrics at: %s/metrics", cn_metrics_server_url(a->exporter));
    return 0;
}

/* Why an exited worker is replaced, or -1 when it is not (the final stop,
 * TTOU, WINCH, a worker of an abandoned reload). */
static int restart_reason(const arbiter_t *a, const worker_t *w, int status)
{
    if (a->stopping || a->stop != STOP_NONE || w->surplus || w->gen < 0 || a->num_workers == 0)
        return -1;
    if (w->aborted)
        return CN_RESTART_TIMEOUT;
    if (w->gen != a->gen)
        return CN_RESTART_RELOAD;
    if (w->retiring)
        return w->over_memory ? CN_RESTART_MEMORY : CN_RESTART_STUCK;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return CN_RESTART_CRASH;
    return CN_RESTART_MAX_REQUESTS;
}

typedef struct publish {
    const arbiter_t *a;
    const worker_t *gone; /* exited: fold its slot */
    int reason;
} publish_t;

static void publish_view(cn_metrics_view_t *v, void *ud)
{
    const publish_t *p = ud;
    const arbiter_t *a = p->a;
    if (p->gone != NULL) {
        cn_metrics_fold(&v->gone, &a->metrics->slots[p->gone->slot]);
        if (p->reason >= 0)
            v->restarts[p->reason]++;
    }
    v->nworkers = 0;
    for (size_t i = 0; i < a->nworkers && v->nworkers < CN_METRICS_MAX_WORKERS; i++)
        if (&a->workers[i] != p->gone)
            v->workers[v->nworkers++] =
                (cn_metrics_worker_t){.pid = a->workers[i].pid, .slot = a->workers[i].slot};
    v->nlisteners = a->cfg->nlisteners < CN_ARRAY_LEN(v->listeners) ? a->cfg->nlisteners
                                                                    : CN_ARRAY_LEN(v->listeners);
    memcpy(v->listeners, a->cfg->listeners, v->nlisteners * sizeof(v->listeners[0]));
}

/* What the exporter may show, under its lock: the live workers, and the
 * counters of one that exited (folded before its slot is reused, in the
 * same critical section, so a scrape never sees them twice or not at all). */
static void metrics_publish(arbiter_t *a, const worker_t *gone, int status)
{
    if (a->exporter == NULL)
        return;
    publish_t p = {.a = a, .gone = gone, .reason = gone ? restart_reason(a, gone, status) : -1};
    cn_metrics_server_update(a->exporter, publish_view, &p);
}
