/* test_arbiter.c - the master process with fake workers, driven by real signals.
 *
 * Each test forks a child that runs cn_arbiter_run() in its own process group
 * (so a final kill(-pgid, SIGKILL) leaves nothing behind), with fake
 * worker_main callbacks that report what happened to them through a
 * MAP_SHARED page. Every wait is bounded; the error log goes to a temp file
 * whose lines the tests look for. Also covers heartbeat.c, pidfile.c and
 * worker_signals.c directly. */
#define _GNU_SOURCE
#include "cunicorn/arbiter.h"
#include "cunicorn/log.h"
#include "cunicorn/pidfile.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXW 128

enum fake_mode {
    M_BEAT,        /* beat until TERM/INT/QUIT */
    M_IGNORE_TERM, /* beat; TERM is noted but ignored */
    M_EXIT3,       /* boot error */
    M_EXIT4,       /* app load error */
    M_HANG_FIRST,  /* worker 1 never beats; the others beat */
    M_HANG_NOABRT, /* worker 1 never beats and ignores SIGABRT */
    M_DIE_FIRST,   /* worker 1 exits 1 at once; the others beat */
    M_EXIT1,       /* every worker exits 1 at once (fork storm) */
    M_EXIT0,       /* every worker exits 0 at once (as at max_requests) */
    M_EXIT3_LATER, /* worker 1 beats; the others fail to boot */
    M_SLOW_REBOOT, /* workers 3 and later (a HUP's) take 700 ms to boot */
    M_EXIT3_REBOOT, /* workers 3 and later (a HUP's) fail to boot */
};

typedef struct fake {
    enum fake_mode mode;
    int term_delay_ms; /* time a worker needs to finish after TERM */
    bool reload_fails; /* fake_reload returns -1 */
} fake_t;

typedef struct shared {
    int nspawned;
    pid_t pids[MAXW];  /* by age: pids[0] is worker 1 */
    int index[MAXW];   /* the ctx->index each worker got */
    int alive;
    int terms;    /* workers that saw TERM */
    int finished; /* workers that completed their graceful exit */
    int quick;    /* workers that saw INT/QUIT */
    int aborted;  /* workers that saw ABRT (the flag worker_abort is called on) */
    int reopened; /* workers that saw USR1 */
    int bad_ctx;  /* a ctx field was wrong */
    int reloads;  /* calls of the reload callback */
    int reload_ends[2]; /* reload_end(false), reload_end(true) */
} shared_t;

static shared_t *sh;
static char tmpdir[64];
static char logpath[128];
static char errpath[128];
static fake_t fake;
static cn_arbiter_config_t cfg;
static pid_t master = -1;

static void sleep_ms(int ms);
static void setup(void);
static void teardown(void);
static int fake_main(void *ud, cn_worker_ctx_t *ctx);
static void fake_loop(const fake_t *f, cn_worker_ctx_t *ctx, cn_worker_flags_t *flags, bool beat);
static pid_t start_master(void);
static int wait_master(int timeout_ms);
static bool wait_for(int *counter, int at_least, int timeout_ms);
static bool wait_gone(pid_t pid, int timeout_ms);
static char *slurp(const char *path);
static bool log_has(const char *needle);
static int log_count(const char *needle);
static void config_defaults(int workers);
static int nspawned(void);
static Suite *arbiter_suite(void);

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void setup(void)
{
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    memset(sh, 0, sizeof(*sh));
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cn-arb-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(logpath, sizeof(logpath), "%s/error.log", tmpdir);
    snprintf(errpath, sizeof(errpath), "%s/stderr", tmpdir);
    master = -1;
    config_defaults(2);
}

static void teardown(void)
{
    if (master > 0) {
        kill(-master, SIGKILL);
        waitpid(master, NULL, 0);
    }
    char cmd[128];
    if (getenv("CN_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", tmpdir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void config_defaults(int workers)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(&fake, 0, sizeof(fake));
    cfg.workers = workers;
    cfg.timeout = 0;
    cfg.graceful_timeout = 2;
    cfg.worker_class = "fake";
    cfg.worker_main = fake_main;
    cfg.worker_ud = &fake;
}

/* ---- fake workers -------------------------------------------------------------- */

static int fake_main(void *ud, cn_worker_ctx_t *ctx)
{
    const fake_t *f = ud;
    cn_worker_flags_t flags = {0};
    cn_worker_signals_install(&flags);
    /* Slot by age (spawn order), not by which child ran first: forked
     * workers start running in any order on a busy machine. Recorded
     * before nspawned counts it, so a test that saw the count sees it. */
    if (f->mode == M_EXIT3_LATER && ctx->index == 1)
        sleep_ms(100); /* the healthy worker runs last, as on a busy machine */
    int i = ctx->index - 1;
    if (i >= 0 && i < MAXW) {
        sh->index[i] = ctx->index;
        __atomic_store_n(&sh->pids[i], getpid(), __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_add(&sh->nspawned, 1, __ATOMIC_SEQ_CST);
    if (ctx->ppid != getppid() || ctx->heartbeat == NULL || ctx->index < 1 ||
        ctx->nlisteners != cfg.nlisteners || ctx->listeners != cfg.listeners)
        __atomic_fetch_add(&sh->bad_ctx, 1, __ATOMIC_SEQ_CST);
    switch (f->mode) {
    case M_EXIT3:
        return CN_EXIT_WORKER_BOOT_ERROR;
    case M_EXIT4:
        return CN_EXIT_APP_LOAD_ERROR;
    case M_EXIT1:
        return 1;
    case M_EXIT0:
        return 0;
    case M_EXIT3_LATER:
        if (ctx->index > 1)
            return CN_EXIT_WORKER_BOOT_ERROR;
        break;
    case M_DIE_FIRST:
        if (ctx->index == 1)
            return 1;
        break;
    case M_HANG_NOABRT:
        if (ctx->index == 1)
            signal(SIGABRT, SIG_IGN);
        break;
    case M_SLOW_REBOOT:
        if (ctx->index > 2)
            sleep_ms(700);
        break;
    case M_EXIT3_REBOOT:
        if (ctx->index > 2)
            return CN_EXIT_WORKER_BOOT_ERROR;
        break;
    default:
        break;
    }
    bool hang = (f->mode == M_HANG_FIRST || f->mode == M_HANG_NOABRT) && ctx->index == 1;
    if (!hang)
        cn_heartbeat_booted(ctx->heartbeat);
    __atomic_fetch_add(&sh->alive, 1, __ATOMIC_SEQ_CST);
    fake_loop(f, ctx, &flags, !hang);
    __atomic_fetch_sub(&sh->alive, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void fake_loop(const fake_t *f, cn_worker_ctx_t *ctx, cn_worker_flags_t *flags, bool beat)
{
    bool termed = false;
    for (;;) {
        if (beat)
            cn_heartbeat_beat(ctx->heartbeat);
        if (flags->reopen) {
            flags->reopen = 0;
            __atomic_fetch_add(&sh->reopened, 1, __ATOMIC_SEQ_CST);
        }
        if (flags->quick_stop && flags->aborted) {
            __atomic_fetch_add(&sh->aborted, 1, __ATOMIC_SEQ_CST);
            _exit(1); /* as a real worker leaves after worker_abort */
        }
        if (flags->quick_stop) {
            __atomic_fetch_add(&sh->quick, 1, __ATOMIC_SEQ_CST);
            return;
        }
        if (flags->stop && !termed) {
            termed = true;
            __atomic_fetch_add(&sh->terms, 1, __ATOMIC_SEQ_CST);
            if (f->mode != M_IGNORE_TERM) {
                for (int t = 0; t < f->term_delay_ms; t += 20) {
                    cn_heartbeat_beat(ctx->heartbeat);
                    sleep_ms(20);
                }
                __atomic_fetch_add(&sh->finished, 1, __ATOMIC_SEQ_CST);
                return;
            }
        }
        if (getppid() != ctx->ppid)
            return; /* orphaned: never outlive the test */
        sleep_ms(20);
    }
}

/* ---- driving the master --------------------------------------------------------- */

static pid_t start_master(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char err[CN_ERR_LEN];
        struct rlimit rl = {0, 0};
        setpgid(0, 0);
        setrlimit(RLIMIT_CORE, &rl); /* SIGABRT'd fake workers dump no core */
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        if (cn_log_open(logpath, CN_LOG_DEBUG, err) != 0)
            _exit(99);
        _exit(cn_arbiter_run(&cfg));
    }
    setpgid(pid, pid); /* also from here, so kill(-pid) works at once */
    master = pid;
    return pid;
}

/* The master's raw wait status, or -1 after timeout_ms (then it is killed). */
static int wait_master(int timeout_ms)
{
    int status;
    for (int t = 0; t < timeout_ms; t += 10) {
        pid_t r = waitpid(master, &status, WNOHANG);
        if (r == master) {
            master = -master; /* reaped; teardown still kills the group */
            return status;
        }
        sleep_ms(10);
    }
    kill(-master, SIGKILL);
    waitpid(master, &status, 0);
    master = -master;
    return -1;
}

static bool wait_for(int *counter, int at_least, int timeout_ms)
{
    for (int t = 0; t <= timeout_ms; t += 10) {
        if (__atomic_load_n(counter, __ATOMIC_SEQ_CST) >= at_least)
            return true;
        sleep_ms(10);
    }
    return false;
}

static bool wait_gone(pid_t pid, int timeout_ms)
{
    for (int t = 0; t <= timeout_ms; t += 10) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        sleep_ms(10);
    }
    return false;
}

static int nspawned(void) { return __atomic_load_n(&sh->nspawned, __ATOMIC_SEQ_CST); }

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 20);
    if (f != NULL) {
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static bool log_has(const char *needle) { return log_count(needle) > 0; }

static int log_count(const char *needle)
{
    char *text = slurp(logpath);
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

/* The log has the line formatted from the arguments (a macro, so Check
 * reports the caller's line). */
#define ASSERT_LOGGED(...)                                                                         \
    do {                                                                                           \
        char line_[256];                                                                           \
        snprintf(line_, sizeof(line_), __VA_ARGS__);                                               \
        ck_assert_msg(log_has(line_), "no '%s' in the log", line_);                                \
    } while (0)

/* Terminate and expect a clean exit 0. */
#define STOP_MASTER_OK()                                                                           \
    do {                                                                                           \
        ck_assert_int_eq(kill(master, SIGTERM), 0);                                                \
        int st_ = wait_master(5000);                                                               \
        ck_assert_msg(st_ != -1, "master did not exit after TERM");                                \
        ck_assert_msg(WIFEXITED(st_) && WEXITSTATUS(st_) == 0, "master status %d", st_);           \
    } while (0)

/* ---- tests: lifecycle ------------------------------------------------------------- */

START_TEST(spawns_n_workers_and_logs_startup)
{
    config_defaults(3);
    start_master();
    ck_assert(wait_for(&sh->alive, 3, 3000));
    sleep_ms(200);
    ck_assert_int_eq(nspawned(), 3);
    ck_assert_int_eq(sh->bad_ctx, 0);
    ck_assert(log_has("[INFO] Starting cunicorn 0.1.0"));
    ASSERT_LOGGED("Listening at:  (%d)", (int)master);
    ck_assert(log_has("[INFO] Using worker: fake"));
    for (int i = 0; i < 3; i++) {
        ASSERT_LOGGED("[%d] [INFO] Booting worker with pid: %d", (int)sh->pids[i],
                      (int)sh->pids[i]);
        ck_assert_int_eq(sh->index[i], i + 1);
    }
    pid_t pids[3] = {sh->pids[0], sh->pids[1], sh->pids[2]};
    STOP_MASTER_OK();
    ck_assert_int_eq(sh->terms, 3);
    ck_assert_int_eq(sh->finished, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(wait_gone(pids[i], 1000));
    ck_assert(log_has("[INFO] Handling signal: term"));
    ck_assert(log_has("[INFO] Shutting down: Master"));
    ck_assert_int_eq(log_count("Worker exiting (pid: "), 3);
    ck_assert(!log_has("Reason:"));
}
END_TEST

START_TEST(respawns_after_sigkill)
{
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    pid_t victim = sh->pids[0];
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    ck_assert_msg(wait_for(&sh->nspawned, 3, 3000), "no respawn");
    ck_assert(wait_gone(victim, 1000));
    sleep_ms(200);
    ck_assert_int_eq(nspawned(), 3);
    ck_assert_int_eq(sh->index[2], 3);
    ASSERT_LOGGED("[WARNING] Worker with pid %d was terminated due to signal 9", (int)victim);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(respawns_after_worker_exits)
{
    fake.mode = M_DIE_FIRST;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ck_assert_int_eq(nspawned(), 3);
    ASSERT_LOGGED("[ERROR] Worker (pid:%d) exited with code 1", (int)sh->pids[0]);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(ttin_ttou_change_the_count)
{
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ck_assert_int_eq(kill(master, SIGTTIN), 0);
    ck_assert(wait_for(&sh->alive, 3, 3000));
    ck_assert(log_has("[INFO] Handling signal: ttin"));

    pid_t oldest = sh->pids[0];
    ck_assert_int_eq(kill(master, SIGTTOU), 0);
    ck_assert_msg(wait_gone(oldest, 3000), "oldest worker not stopped by TTOU");
    ck_assert(log_has("[INFO] Handling signal: ttou"));
    sleep_ms(1300); /* a loop pass or more: nothing is respawned */
    ck_assert_int_eq(__atomic_load_n(&sh->alive, __ATOMIC_SEQ_CST), 2);
    ck_assert_int_eq(nspawned(), 3);
    ck_assert_int_eq(sh->finished, 1);

    /* Down to one, and TTOU at one worker is a no-op. */
    kill(master, SIGTTOU);
    ck_assert(wait_gone(sh->pids[1], 3000));
    kill(master, SIGTTOU);
    sleep_ms(1300);
    ck_assert_int_eq(__atomic_load_n(&sh->alive, __ATOMIC_SEQ_CST), 1);
    ck_assert_int_eq(kill(sh->pids[2], 0), 0);
    ck_assert_int_eq(nspawned(), 3);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(term_is_graceful)
{
    config_defaults(1);
    fake.term_delay_ms = 1000;
    cfg.graceful_timeout = 5;
    start_master();
    ck_assert(wait_for(&sh->alive, 1, 3000));
    double t0 = cn_now();
    STOP_MASTER_OK();
    double took = (cn_now() - t0) * 1000;
    ck_assert_int_eq(sh->terms, 1);
    ck_assert_int_eq(sh->finished, 1);
    ck_assert_msg(took >= 900 && took < 4000, "took %.0f ms", took);
    ck_assert(!log_has("terminated due to signal"));
}
END_TEST

START_TEST(graceful_timeout_kills_stubborn_worker)
{
    config_defaults(1);
    fake.mode = M_IGNORE_TERM;
    cfg.graceful_timeout = 1;
    start_master();
    ck_assert(wait_for(&sh->alive, 1, 3000));
    pid_t w = sh->pids[0];
    double t0 = cn_now();
    STOP_MASTER_OK();
    double took = (cn_now() - t0) * 1000;
    ck_assert_int_eq(sh->terms, 1);
    ck_assert_int_eq(sh->finished, 0);
    ck_assert_msg(took >= 900 && took < 3000, "took %.0f ms", took);
    ck_assert(wait_gone(w, 1000));
    ck_assert(log_has("was terminated due to signal 9"));
    ck_assert(log_has("[INFO] Shutting down: Master"));
}
END_TEST

START_TEST(int_and_quit_are_quick)
{
    static const int sigs[] = {SIGINT, SIGQUIT};
    static const char *const names[] = {"int", "quit"};
    int i = _i;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ck_assert_int_eq(kill(master, sigs[i]), 0);
    int st = wait_master(5000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    ck_assert_int_eq(sh->quick, 2);
    ck_assert_int_eq(sh->terms, 0);
    ASSERT_LOGGED("[INFO] Handling signal: %s", names[i]);
    ck_assert(log_has("[INFO] Shutting down: Master"));
}
END_TEST

START_TEST(hup_replaces_workers)
{
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    pid_t old0 = sh->pids[0], old1 = sh->pids[1];
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    ck_assert(wait_for(&sh->nspawned, 4, 3000));
    ck_assert(wait_gone(old0, 3000));
    ck_assert(wait_gone(old1, 3000));
    ck_assert_int_eq(sh->finished, 2);
    sleep_ms(300);
    ck_assert_int_eq(__atomic_load_n(&sh->alive, __ATOMIC_SEQ_CST), 2);
    ck_assert_int_eq(nspawned(), 4);
    ck_assert(log_has("[INFO] Handling signal: hup"));
    ck_assert(log_has("[INFO] Hang up: Master"));
    STOP_MASTER_OK();
}
END_TEST

START_TEST(hup_stops_the_old_workers_once_the_new_have_booted)
{
    fake.mode = M_SLOW_REBOOT;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    pid_t old0 = sh->pids[0], old1 = sh->pids[1];
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    ck_assert(wait_for(&sh->nspawned, 4, 3000));
    sleep_ms(300); /* the new ones are still booting: the old serve on */
    ck_assert_int_eq(sh->terms, 0);
    ck_assert_int_eq(kill(old0, 0), 0);
    ck_assert(wait_gone(old0, 3000));
    ck_assert(wait_gone(old1, 3000));
    ck_assert_int_eq(sh->finished, 2);
    ck_assert_int_eq(nspawned(), 4);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(hup_keeps_the_old_workers_when_the_new_cannot_boot)
{
    fake.mode = M_EXIT3_REBOOT;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    pid_t old0 = sh->pids[0], old1 = sh->pids[1];
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    ck_assert(wait_for(&sh->nspawned, 3, 3000));
    sleep_ms(500);
    ck_assert(log_has("[ERROR] Reload abandoned: Worker failed to boot. "
                      "The previous workers keep serving."));
    ck_assert_int_eq(kill(master, 0), 0);
    ck_assert_int_eq(kill(old0, 0), 0);
    ck_assert_int_eq(kill(old1, 0), 0);
    ck_assert_int_eq(sh->terms, 0);
    ck_assert_int_eq(__atomic_load_n(&sh->alive, __ATOMIC_SEQ_CST), 2);
    STOP_MASTER_OK();
}
END_TEST

/* A reload callback: 3 workers from now on, or a failure when told to. */
static int fake_reload(void *ud, cn_arbiter_config_t *next)
{
    (void)ud;
    __atomic_fetch_add(&sh->reloads, 1, __ATOMIC_SEQ_CST); /* runs in the master */
    if (fake.reload_fails)
        return -1;
    next->workers = 3;
    return 0;
}

static void fake_reload_end(void *ud, bool commit)
{
    (void)ud;
    __atomic_fetch_add(&sh->reload_ends[commit], 1, __ATOMIC_SEQ_CST);
}

START_TEST(hup_applies_the_reloaded_settings)
{
    cfg.reload = fake_reload;
    cfg.reload_end = fake_reload_end;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    pid_t old0 = sh->pids[0];
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    ck_assert(wait_for(&sh->nspawned, 5, 3000));
    ck_assert(wait_gone(old0, 3000));
    sleep_ms(300);
    ck_assert_int_eq(__atomic_load_n(&sh->alive, __ATOMIC_SEQ_CST), 3);
    ck_assert_int_eq(sh->reloads, 1);
    ck_assert_int_eq(sh->reload_ends[1], 1);
    ck_assert_int_eq(sh->reload_ends[0], 0);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(hup_with_a_failing_reload_changes_nothing)
{
    cfg.reload = fake_reload;
    cfg.reload_end = fake_reload_end;
    fake.reload_fails = true;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ck_assert_int_eq(kill(master, SIGHUP), 0);
    sleep_ms(500);
    ck_assert(log_has("[ERROR] Reload failed: the workers keep serving with the previous "
                      "settings"));
    ck_assert_int_eq(nspawned(), 2);
    ck_assert_int_eq(sh->terms, 0);
    ck_assert_int_eq(sh->reloads, 1);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(usr1_reaches_workers_and_winch_is_ignored)
{
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ck_assert_int_eq(kill(master, SIGUSR1), 0);
    ck_assert(wait_for(&sh->reopened, 2, 3000));
    ck_assert(log_has("[INFO] Handling signal: usr1"));
    ck_assert_int_eq(kill(master, SIGWINCH), 0);
    sleep_ms(300);
    ck_assert(log_has("[INFO] Handling signal: winch"));
    ck_assert(log_has("[DEBUG] SIGWINCH ignored. Not daemonized"));
    ck_assert_int_eq(nspawned(), 2);
    STOP_MASTER_OK();
}
END_TEST

/* ---- tests: heartbeat ----------------------------------------------------------------- */

START_TEST(heartbeat_timeout_aborts_and_respawns)
{
    config_defaults(1);
    fake.mode = M_HANG_FIRST;
    cfg.timeout = 1;
    start_master();
    ck_assert(wait_for(&sh->nspawned, 1, 3000));
    pid_t hung = sh->pids[0];
    ck_assert_msg(wait_for(&sh->nspawned, 2, 5000), "hung worker not replaced");
    ck_assert(wait_gone(hung, 1000));
    ASSERT_LOGGED("[CRITICAL] WORKER TIMEOUT (pid:%d)", (int)hung);
    /* the worker's ABRT handler made it leave with 1 (worker_abort's exit) */
    ASSERT_LOGGED("Worker (pid:%d) exited with code 1", (int)hung);
    ck_assert_int_eq(sh->aborted, 1);
    /* The replacement beats, so it outlives several checks. */
    sleep_ms(2200);
    ck_assert_int_eq(nspawned(), 2);
    ck_assert_int_eq(log_count("WORKER TIMEOUT"), 1);
    STOP_MASTER_OK();
}
END_TEST

START_TEST(heartbeat_timeout_sigkill_when_abort_ignored)
{
    config_defaults(1);
    fake.mode = M_HANG_NOABRT;
    cfg.timeout = 1;
    start_master();
    ck_assert(wait_for(&sh->nspawned, 1, 3000));
    pid_t hung = sh->pids[0];
    ck_assert_msg(wait_gone(hung, 6000), "hung worker survived");
    ASSERT_LOGGED("Worker with pid %d was terminated due to signal 9", (int)hung);
    ck_assert_int_eq(log_count("WORKER TIMEOUT"), 1);
    ck_assert(wait_for(&sh->nspawned, 2, 2000));
    STOP_MASTER_OK();
}
END_TEST

START_TEST(timeout_zero_disables_the_check)
{
    config_defaults(1);
    fake.mode = M_HANG_FIRST;
    cfg.timeout = 0;
    start_master();
    ck_assert(wait_for(&sh->nspawned, 1, 3000));
    sleep_ms(2500);
    ck_assert_int_eq(kill(sh->pids[0], 0), 0);
    ck_assert_int_eq(nspawned(), 1);
    ck_assert(!log_has("WORKER TIMEOUT"));
    STOP_MASTER_OK();
}
END_TEST

/* ---- tests: boot failures and fork storms ------------------------------------------------ */

START_TEST(boot_error_halts_with_3)
{
    fake.mode = M_EXIT3;
    start_master();
    int st = wait_master(5000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "status %d", st);
    ck_assert_int_eq(WEXITSTATUS(st), 3);
    ck_assert(log_has("[INFO] Shutting down: Master"));
    ck_assert(log_has("[INFO] Reason: Worker failed to boot."));
    ck_assert_int_le(nspawned(), 2);
}
END_TEST

START_TEST(app_load_error_halts_with_4)
{
    fake.mode = M_EXIT4;
    start_master();
    int st = wait_master(5000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "status %d", st);
    ck_assert_int_eq(WEXITSTATUS(st), 4);
    ck_assert(log_has("[INFO] Reason: App failed to load."));
}
END_TEST

START_TEST(boot_error_stops_the_healthy_workers)
{
    /* Worker 1 boots and beats; worker 2 fails to boot: the master stops
     * worker 1 gracefully and exits 3. */
    fake.mode = M_EXIT3_LATER;
    start_master();
    int st = wait_master(5000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "status %d", st);
    ck_assert_int_eq(WEXITSTATUS(st), 3);
    ck_assert_int_eq(sh->index[0], 1);
    ck_assert(wait_gone(sh->pids[0], 1000));
    ck_assert_int_eq(sh->terms, 1);
    ck_assert_int_eq(sh->finished, 1);
    ck_assert(log_has("[INFO] Reason: Worker failed to boot."));
}
END_TEST

START_TEST(fork_storm_is_throttled)
{
    config_defaults(2);
    fake.mode = M_EXIT1;
    start_master();
    sleep_ms(2000);
    int n = nspawned();
    ck_assert_msg(n >= 3 && n <= 14, "%d spawns in 2 s", n);
    STOP_MASTER_OK();
}
END_TEST

/* A worker that exits 0 on its own (max_requests) is no crash: it is
 * replaced at once, not after the fork-storm back-off (which allows at most
 * about a dozen spawns in 3 s; see fork_storm_is_throttled). */
START_TEST(normal_exit_is_respawned_at_once)
{
    config_defaults(2);
    fake.mode = M_EXIT0;
    start_master();
    sleep_ms(3000);
    int n = nspawned();
    ck_assert_msg(n >= 25, "%d spawns in 3 s", n);
    ck_assert(!log_has("exited with code"));
    STOP_MASTER_OK();
}
END_TEST

/* ---- tests: pidfile ----------------------------------------------------------------------- */

static void pidfile_path(char *out, size_t n) { snprintf(out, n, "%s/master.pid", tmpdir); }

START_TEST(pidfile_written_and_removed)
{
    char path[128], want[32];
    pidfile_path(path, sizeof(path));
    cfg.pidfile = path;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    char *text = slurp(path);
    snprintf(want, sizeof(want), "%d\n", (int)master);
    ck_assert_str_eq(text, want);
    free(text);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    STOP_MASTER_OK();
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(pidfile_kept_when_not_ours)
{
    char path[128], other[32];
    pidfile_path(path, sizeof(path));
    cfg.pidfile = path;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    FILE *f = fopen(path, "w");
    snprintf(other, sizeof(other), "%d\n", (int)getpid());
    fputs(other, f);
    fclose(f);
    STOP_MASTER_OK();
    char *text = slurp(path);
    ck_assert_str_eq(text, other);
    free(text);
}
END_TEST

START_TEST(stale_pidfile_is_replaced)
{
    char path[128], want[32];
    pidfile_path(path, sizeof(path));
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    FILE *f = fopen(path, "w");
    fprintf(f, "%d\n", (int)dead);
    fclose(f);
    cfg.pidfile = path;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    char *text = slurp(path);
    snprintf(want, sizeof(want), "%d\n", (int)master);
    ck_assert_str_eq(text, want);
    free(text);
    STOP_MASTER_OK();
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(live_pidfile_refuses_to_start)
{
    char path[128], want[256];
    pidfile_path(path, sizeof(path));
    FILE *f = fopen(path, "w");
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    cfg.pidfile = path;
    start_master();
    int st = wait_master(3000);
    ck_assert_msg(st != -1 && WIFEXITED(st), "status %d", st);
    ck_assert_int_eq(WEXITSTATUS(st), 1);
    ck_assert_int_eq(nspawned(), 0);
    char *err = slurp(errpath);
    snprintf(want, sizeof(want), "\nError: Already running on PID %d (or pid file '%s' is stale)\n",
             (int)getpid(), path);
    ck_assert_msg(strstr(err, want) != NULL, "stderr: %s", err);
    free(err);
    ck_assert(log_has("Starting cunicorn"));
    ck_assert(!log_has("Booting worker"));
    char *text = slurp(path);
    snprintf(want, sizeof(want), "%d\n", (int)getpid());
    ck_assert_str_eq(text, want); /* not ours: left alone */
    free(text);
}
END_TEST

START_TEST(pidfile_unit)
{
    char path[128], err[CN_ERR_LEN];
    cn_pidfile_t pf;
    memset(&pf, 0, sizeof(pf));
    pidfile_path(path, sizeof(path));
    ck_assert_int_eq(cn_pidfile_validate(path), 0); /* missing */
    FILE *f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    ck_assert_int_eq(cn_pidfile_validate(path), 0);
    ck_assert_int_eq(cn_pidfile_create(&pf, path, getpid(), err), 0);
    ck_assert_int_eq(cn_pidfile_validate(path), getpid());
    /* Our own pid in the file: create again is fine. */
    ck_assert_int_eq(cn_pidfile_create(&pf, path, getpid(), err), 0);
    cn_pidfile_unlink(&pf);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_ne(cn_pidfile_create(&pf, "/nonexistent-dir-cn/x.pid", getpid(), err), 0);
    ck_assert_str_eq(err, "/nonexistent-dir-cn doesn't exist. Can't create pidfile.");
    /* rename moves it */
    char path2[160];
    snprintf(path2, sizeof(path2), "%s/moved.pid", tmpdir);
    ck_assert_int_eq(cn_pidfile_create(&pf, path, getpid(), err), 0);
    ck_assert_int_eq(cn_pidfile_rename(&pf, path2, err), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(cn_pidfile_validate(path2), getpid());
    cn_pidfile_unlink(&pf);
    ck_assert_int_eq(access(path2, F_OK), -1);
}
END_TEST

/* ---- tests: listeners at exit --------------------------------------------------------------- */

START_TEST(unix_listener_closed_and_unlinked_at_exit)
{
    cn_listener_t l;
    struct sockaddr_un sun;
    memset(&l, 0, sizeof(l));
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s.sock", tmpdir);
    l.fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(l.fd, 0);
    ck_assert_int_eq(bind(l.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(l.fd, 8), 0);
    l.addr.kind = CN_ADDR_UNIX;
    snprintf(l.addr.path, sizeof(l.addr.path), "%s", sun.sun_path);
    l.family = AF_UNIX;
    snprintf(l.url, sizeof(l.url), "unix:%s", sun.sun_path);
    cfg.listeners = &l;
    cfg.nlisteners = 1;
    start_master();
    ck_assert(wait_for(&sh->alive, 2, 3000));
    ASSERT_LOGGED("[INFO] Listening at: unix:%s (%d)", sun.sun_path, (int)master);
    ck_assert_int_eq(access(sun.sun_path, F_OK), 0);
    STOP_MASTER_OK();
    ck_assert_int_eq(access(sun.sun_path, F_OK), -1);
    close(l.fd);
}
END_TEST

/* ---- tests: heartbeat.c and worker_signals.c directly ------------------------------------------
 */

START_TEST(heartbeat_unit)
{
    cn_heartbeat_table_t *t = cn_heartbeat_table_new(300);
    ck_assert_ptr_nonnull(t);
    cn_heartbeat_t *s = t->slots;
    ck_assert(s[299].last_beat == 0);
    double now = cn_now();
    cn_heartbeat_reset(&s[5], now - 5);
    ck_assert(cn_heartbeat_age(&s[5], now) >= 5);
    cn_heartbeat_beat(&s[5]);
    ck_assert(cn_heartbeat_age(&s[5], cn_now()) < 0.1);
    /* shared across fork */
    pid_t pid = fork();
    if (pid == 0) {
        s[7].last_beat = 4242;
        cn_heartbeat_set_load(&s[7], 3);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    ck_assert(s[7].last_beat == 4242);
    ck_assert_int_eq(s[7].load, 3);
    cn_heartbeat_table_free(t);
    ck_assert_ptr_null(cn_heartbeat_table_new(0));
}
END_TEST

/* The fair share: a worker yields only to an accepting sibling holding two
 * connections fewer, within [0, end), never to itself or a released slot. */
START_TEST(heartbeat_lighter_sibling)
{
    cn_heartbeat_table_t *t = cn_heartbeat_table_new(8);
    cn_heartbeat_t *s = t->slots;
    for (int i = 0; i < 4; i++)
        cn_heartbeat_reset(&s[i], cn_now());
    cn_heartbeat_table_set_end(t, 3);
    cn_heartbeat_set_load(&s[0], 5);
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[0], 5)); /* others do not accept */
    cn_heartbeat_set_load(&s[1], 4);
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[0], 5)); /* one fewer is even enough */
    cn_heartbeat_set_load(&s[1], 3);
    ck_assert(cn_heartbeat_lighter_exists(t, &s[0], 5));
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[1], 3));
    cn_heartbeat_release(&s[1]);
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[0], 5));
    cn_heartbeat_set_load(&s[3], 0); /* beyond end: not a live worker */
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[0], 5));
    cn_heartbeat_table_set_end(t, 4);
    ck_assert(cn_heartbeat_lighter_exists(t, &s[0], 5));
    cn_heartbeat_set_load(&s[3], -7); /* any negative: not accepting */
    ck_assert(!cn_heartbeat_lighter_exists(t, &s[0], 5));
    ck_assert(!cn_heartbeat_lighter_exists(NULL, &s[0], 5));
    cn_heartbeat_table_free(t);
}
END_TEST

START_TEST(worker_signals_set_flags)
{
    cn_worker_flags_t flags = {0};
    cn_worker_signals_install(&flags);
    raise(SIGTERM);
    ck_assert_int_eq(flags.stop, 1);
    ck_assert_int_eq(flags.quick_stop, 0);
    raise(SIGINT);
    ck_assert_int_eq(flags.quick_stop, 1);
    flags.quick_stop = 0;
    raise(SIGQUIT);
    ck_assert_int_eq(flags.quick_stop, 1);
    raise(SIGUSR1);
    ck_assert_int_eq(flags.reopen, 1);
    /* ignored: the process survives */
    raise(SIGPIPE);
    raise(SIGHUP);
    raise(SIGTTIN);
    raise(SIGTTOU);
    raise(SIGWINCH);
    struct sigaction sa;
    sigaction(SIGTERM, NULL, &sa);
    ck_assert_int_eq(sa.sa_flags & SA_RESTART, 0);
}
END_TEST

/* Whether the handler ran on the alternate stack (SS_ONSTACK while in it). */
static volatile sig_atomic_t handler_on_own_stack = -1;

static void note_stack(int sig)
{
    (void)sig;
    stack_t st;
    handler_on_own_stack = sigaltstack(NULL, &st) == 0 && (st.ss_flags & SS_ONSTACK) != 0;
}

/* gevent's handlers (libev's) move to a stack of their own, keeping what
 * they were: the ASan fix for signals that land on a greenlet's stack. */
START_TEST(worker_signals_move_to_own_stack)
{
    signal(SIGUSR2, note_stack);
    raise(SIGUSR2);
    ck_assert_int_eq(handler_on_own_stack, 0);
    int sigs[] = {SIGUSR2, SIGTERM};
    ck_assert_int_eq(cn_worker_signals_on_own_stack(sigs, 2), 0);
    ck_assert_int_eq(cn_worker_signals_on_own_stack(sigs, 1), 0); /* again: same stack */
    struct sigaction sa;
    sigaction(SIGUSR2, NULL, &sa);
    ck_assert(sa.sa_handler == note_stack);
    ck_assert(sa.sa_flags & SA_ONSTACK);
    raise(SIGUSR2);
    ck_assert_int_eq(handler_on_own_stack, 1);
}
END_TEST

START_TEST(worker_signals_interrupt_blocking_calls)
{
    cn_worker_flags_t flags = {0};
    cn_worker_signals_install(&flags);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t me = getpid();
    pid_t k = fork();
    if (k == 0) {
        sleep_ms(200);
        kill(me, SIGTERM);
        _exit(0);
    }
    char c;
    ssize_t r = read(fds[0], &c, 1); /* blocks until TERM */
    int e = errno;
    waitpid(k, NULL, 0);
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(e, EINTR);
    ck_assert_int_eq(flags.stop, 1);
}
END_TEST

/* Held signals survive a reset to SIG_DFL (what libev does when it closes
 * its watchers) and reach the handlers once they are installed again. */
START_TEST(worker_signals_hold_until_reinstalled)
{
    cn_worker_flags_t flags = {0};
    cn_worker_signals_install(&flags);
    cn_worker_signals_hold();
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    ck_assert_int_eq(flags.stop, 0);
    cn_worker_signals_install(&flags);
    ck_assert_int_eq(flags.stop, 1);
}
END_TEST

static Suite *arbiter_suite(void)
{
    Suite *s = suite_create("arbiter");
    TCase *tc = tcase_create("master");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, spawns_n_workers_and_logs_startup);
    tcase_add_test(tc, respawns_after_sigkill);
    tcase_add_test(tc, respawns_after_worker_exits);
    tcase_add_test(tc, ttin_ttou_change_the_count);
    tcase_add_test(tc, term_is_graceful);
    tcase_add_test(tc, graceful_timeout_kills_stubborn_worker);
    tcase_add_loop_test(tc, int_and_quit_are_quick, 0, 2);
    tcase_add_test(tc, hup_replaces_workers);
    tcase_add_test(tc, hup_stops_the_old_workers_once_the_new_have_booted);
    tcase_add_test(tc, hup_keeps_the_old_workers_when_the_new_cannot_boot);
    tcase_add_test(tc, hup_applies_the_reloaded_settings);
    tcase_add_test(tc, hup_with_a_failing_reload_changes_nothing);
    tcase_add_test(tc, usr1_reaches_workers_and_winch_is_ignored);
    tcase_add_test(tc, heartbeat_timeout_aborts_and_respawns);
    tcase_add_test(tc, heartbeat_timeout_sigkill_when_abort_ignored);
    tcase_add_test(tc, timeout_zero_disables_the_check);
    tcase_add_test(tc, boot_error_halts_with_3);
    tcase_add_test(tc, app_load_error_halts_with_4);
    tcase_add_test(tc, boot_error_stops_the_healthy_workers);
    tcase_add_test(tc, fork_storm_is_throttled);
    tcase_add_test(tc, normal_exit_is_respawned_at_once);
    tcase_add_test(tc, pidfile_written_and_removed);
    tcase_add_test(tc, pidfile_kept_when_not_ours);
    tcase_add_test(tc, stale_pidfile_is_replaced);
    tcase_add_test(tc, live_pidfile_refuses_to_start);
    tcase_add_test(tc, pidfile_unit);
    tcase_add_test(tc, unix_listener_closed_and_unlinked_at_exit);
    tcase_add_test(tc, heartbeat_unit);
    tcase_add_test(tc, heartbeat_lighter_sibling);
    tcase_add_test(tc, worker_signals_set_flags);
    tcase_add_test(tc, worker_signals_move_to_own_stack);
    tcase_add_test(tc, worker_signals_interrupt_blocking_calls);
    tcase_add_test(tc, worker_signals_hold_until_reinstalled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(arbiter_suite());
}
