/* main.c - cunicorn's entry point: settings from every source, the
 * interpreter, the listeners, then the arbiter. Only main() and the arbiter
 * decide exit codes. */
#include "py/py_app.h"
#include "py/py_hooks.h"
#include "py/py_runtime.h"
#include "workers/worker.h"

#include "cunicorn/activation.h"
#include "cunicorn/arbiter.h"
#include "cunicorn/config.h"
#include "cunicorn/log.h"
#include "cunicorn/daemon.h"
#include "cunicorn/notify.h"
#include "cunicorn/pidfile.h"
#include "cunicorn/proctitle.h"
#include "cunicorn/reexec.h"
#include "cunicorn/sock.h"

#include <errno.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The settings of the generation that serves, and of the one a HUP boots;
 * each with the listeners it uses (a reload shares the ones both bind). */
typedef struct settings {
    cn_config_t cfg;
    cn_listener_t *listeners; /* owned, unless the same array as the other's */
    size_t nlisteners;
} settings_t;

static struct {
    int argc;
    char **argv;
    /* the sockets a USR2's old master or systemd passed in, adopted at start
     * and in every generation's listeners from then on (the fds are theirs) */
    cn_listener_t *inherited;
    size_t ninherited;
    bool bind_ignored; /* a USR2's new master: the bind setting is not read */
    settings_t gens[2];
    settings_t *cur;            /* the generation that serves */
    settings_t *next;           /* while a reload boots */
    cn_py_hook_set_t old_hooks; /* cur's hooks, while a reload boots */
} server;

static int load_settings(cn_config_t *cfg, int argc, char **argv);
static int read_settings(cn_config_t *cfg, int argc, char **argv, int *code, char *err);
static int reload_settings(void *ud, cn_arbiter_config_t *next);
static void reload_end(void *ud, bool commit);
static void arbiter_settings(cn_arbiter_config_t *acfg, settings_t *gen);
/* The sockets passed in, as the environment names them. */
typedef struct handover {
    char specs[CN_ACTIVATION_MAX_FDS][32]; /* "fd://N" */
    int n;
    bool upgrade;     /* a USR2's old master passed them, else systemd */
    pid_t old_master; /* upgrade: $GUNICORN_PID */
    cn_activation_t activation;
} handover_t;

static int take_handover(handover_t *h, char *err);
static int adopt_inherited(const handover_t *h, char *err);
static int open_listeners(settings_t *gen, const settings_t *cur, int tries, char *err);
static int apply_environment(const cn_config_t *cfg, char *err);
static int open_logs(const cn_config_t *cfg, char *err);
static void warn_ignored(const cn_config_t *cfg);
static int open_listener(const cn_config_t *cfg, cn_listener_t *l, const cn_addr_t *addr,
                         char *err);
static bool same_address(const cn_addr_t *a, const cn_addr_t *b);
static void drop_listeners(settings_t *gen, const settings_t *other);

/* One line naming the accepted-and-ignored Gunicorn settings given. */
static void warn_ignored(const cn_config_t *cfg)
{
    char names[CN_ERR_LEN] = "";
    size_t len = 0;
    for (size_t i = 0; i < cfg->ignored.n && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                cfg->ignored.items[i]);
    if (cfg->ignored.n > 0)
        cn_log_warning("Ignoring Gunicorn settings that have no effect in cunicorn: %s "
                       "(docs/settings.md says why)",
                       names);
}

static int fail(int code, const char *msg)
{
    if (code == 2)
        fprintf(stderr, "%s\ncunicorn: error: %s\n", CN_CONFIG_USAGE, msg);
    else
        fprintf(stderr, "Error: %s\n", msg);
    return code;
}

int main(int argc, char **argv)
{
    /* where USR2 runs the command line again (it may name relative paths) */
    static char start_cwd[PATH_MAX];
    if (getcwd(start_cwd, sizeof(start_cwd)) == NULL)
        start_cwd[0] = '\0';
    cn_proctitle_init(argc, argv);
    server.argc = argc;
    server.argv = argv;
    server.cur = &server.gens[0];
    char err[CN_ERR_LEN];
    handover_t handover;
    if (take_handover(&handover, err) < 0)
        return fail(1, err);
    cn_config_t cfg;
    cn_config_init(&cfg);
    int rc = load_settings(&cfg, argc, argv);
    if (rc >= 0)
        return rc;
    if (cfg.print_config) {
        cn_config_print(&cfg, stdout);
        return 0;
    }
    if (cfg.app_uri == NULL)
        return fail(2, "No application module specified.");
    if (open_logs(&cfg, err) < 0)
        return fail(1, err);
    warn_ignored(&cfg);
    if (cn_config_workers_note(&cfg, err))
        cn_log_info("%s", err);
    const cn_worker_class_t *klass = cn_worker_class_find(cfg.worker_class);
    if (klass == NULL) {
        snprintf(err, sizeof(err), "worker class '%s' is not available in this build",
                 cfg.worker_class);
        return fail(1, err);
    }
    if (apply_environment(&cfg, err) < 0 || cn_py_apply_paths(&cfg, err) < 0)
        return fail(1, err);
    if (cfg.check_config) {
        int code;
        PyObject *app = cn_py_app_load(cfg.app_uri, &code);
        Py_XDECREF(app);
        return app ? 0 : 1;
    }
    /* where Gunicorn detaches: before the hooks, preload and binding; not
     * again in the new master of a USR2 upgrade */
    if (cfg.daemon && !handover.upgrade) {
        cn_py_before_fork();
        if (cn_daemonize(cfg.enable_stdio_inheritance, err) < 0)
            return fail(1, err);
        cn_py_after_fork_child();
    }
    if (cfg.capture_output)
        cn_log_capture_output();
    if (cn_py_hooks_setup(&cfg, err) < 0)
        return fail(1, err);
    cn_worker_class_preimport(klass);
    int load_code;
    if (cfg.preload_app)
        cn_notify_extend_start(); /* the import may outlast TimeoutStartSec */
    int preloaded = cfg.preload_app ? cn_py_app_preload(cfg.app_uri, &load_code) : 0;
    cn_notify_extend_stop();
    if (preloaded < 0)
        return 1; /* logged; Gunicorn's master dies of the exception: 1 */
    cn_hook_info_t master = {.server_pid = getpid(), .num_workers = cfg.workers};
    (void)cn_py_hook_run(CN_HOOK_ON_STARTING, &master);
    if (adopt_inherited(&handover, err) < 0)
        return fail(1, err);
    pid_t old_master = handover.old_master;
    /* Refuse to start over a live instance before touching its sockets (the
     * new master of an upgrade writes PIDFILE.2 while the old one lives). */
    int running = cfg.pidfile != NULL && old_master == 0 ? cn_pidfile_validate(cfg.pidfile) : 0;
    if (running > 0) {
        fprintf(stderr, "Error: Already running on PID %d (or pid file '%s' is stale)\n", running,
                cfg.pidfile);
        return 1;
    }
    settings_t *gen = server.cur;
    gen->cfg = cfg; /* moved: the settings live there from now on */
    if (open_listeners(gen, NULL, 5, err) < 0) {
        cn_log_error("%s", err);
        return 1;
    }
    cn_arbiter_config_t acfg = {
        .worker_main = cn_worker_main,
        .hook = cn_py_hook_from_arbiter,
        .before_fork = cn_py_before_fork,
        .after_fork_parent = cn_py_after_fork_parent,
        .after_fork_child = cn_py_after_fork_child,
        .argv = argv,
        .start_cwd = start_cwd[0] ? start_cwd : NULL,
        .old_master = old_master,
        .daemon = cfg.daemon,
        .reload = reload_settings,
        .reload_end = reload_end,
    };
    arbiter_settings(&acfg, gen);
    /* The master's Python threads (the preloaded app's, a hook's) run while
     * the arbiter waits; its Python callbacks take the GIL back. */
    PyThreadState *ts = PyEval_SaveThread();
    int status = cn_arbiter_run(&acfg);
    PyEval_RestoreThread(ts);
    return status;
}

/* What the arbiter takes from one generation's settings. */
static void arbiter_settings(cn_arbiter_config_t *acfg, settings_t *gen)
{
    const cn_config_t *cfg = &gen->cfg;
    acfg->workers = cfg->workers;
    acfg->timeout = cfg->timeout;
    acfg->graceful_timeout = cfg->graceful_timeout;
    acfg->shutdown_delay = cfg->shutdown_delay;
    acfg->max_worker_memory = cfg->max_worker_memory;
    acfg->pidfile = cfg->pidfile;
    acfg->metrics_bind = cfg->metrics_bind;
    acfg->proc_name = cfg->proc_name ? cfg->proc_name : cfg->app_uri; /* Gunicorn's default */
    acfg->worker_class = cfg->worker_class;
    acfg->listeners = gen->listeners;
    acfg->nlisteners = gen->nlisteners;
    acfg->worker_ud = &gen->cfg;
}

/* Defaults < config file < $GUNICORN_CMD_ARGS < $CUNICORN_CMD_ARGS < command
 * line. Returns an exit code when the process should end now, -1 to go on. */
static int load_settings(cn_config_t *cfg, int argc, char **argv)
{
    char err[CN_ERR_LEN] = "";
    int code = 0;
    int rc = read_settings(cfg, argc, argv, &code, err);
    if (rc == 1)
        return 0; /* --help, --version */
    return rc < 0 ? fail(code, err) : -1;
}

/* Every source into cfg (a fresh cn_config_init): 0, 1 after --help or
 * --version, or -1 with err and the exit *code. At start and on HUP. */
static int read_settings(cn_config_t *cfg, int argc, char **argv, int *code, char *err)
{
    int rc = cn_config_parse_argv(cfg, argc, argv, CN_SRC_CLI, stdout, code, err);
    if (rc != 0)
        return rc;
    /* Gunicorn's variable, then ours: where both name a setting ours wins */
    static const char *const env_vars[] = {"GUNICORN_CMD_ARGS", "CUNICORN_CMD_ARGS"};
    for (size_t i = 0; i < CN_ARRAY_LEN(env_vars); i++) {
        const char *env_args = getenv(env_vars[i]);
        if (env_args != NULL && cn_config_parse_env_args(cfg, env_args, code, err) < 0)
            return -1;
    }
    *code = 1;
    if (!Py_IsInitialized() && cn_py_init(err) < 0)
        return -1;
    const char *path = cfg->config;
    if (path == NULL)
        path = access("cunicorn.conf.py", F_OK) == 0   ? "cunicorn.conf.py"
               : access("gunicorn.conf.py", F_OK) == 0 ? "gunicorn.conf.py"
                                                       : NULL;
    const char *file = path; /* -c PATH, -c file:PATH; -c python:MODULE is imported */
    if (file != NULL && strncmp(file, "file:", 5) == 0)
        file += 5;
    if (file != NULL && strncmp(file, "python:", 7) != 0 && access(file, F_OK) != 0)
        return cn_err(err, "'%s' doesn't exist", file);
    if (path != NULL && cn_py_load_config_file(path, cfg, err) < 0)
        return -1;
    return cn_config_finish(cfg, err);
}

/* chdir, as Gunicorn does at start (raw_env is applied through Python's
 * os.environ, see cn_py_apply_paths). */
static int apply_environment(const cn_config_t *cfg, char *err)
{
    if (cfg->chdir != NULL && chdir(cfg->chdir) < 0)
        return cn_err(err, "cannot chdir to %s: %s", cfg->chdir, strerror(errno));
    return 0;
}

static int open_logs(const cn_config_t *cfg, char *err)
{
    int level = cn_log_level_parse(cfg->loglevel);
    if (cn_log_open(cfg->errorlog, level, err) < 0 ||
        cn_access_log_open(cfg->accesslog, cfg->access_log_format, err) < 0)
        return -1;
    return 0;
}

/* One listener; a unix socket is bound under cfg->umask (Gunicorn's default
 * 0 makes it 0777) and then given to user/group, as Gunicorn does, so the
 * workers (and a proxy in their group) may use it. */
static int open_listener(const cn_config_t *cfg, cn_listener_t *l, const cn_addr_t *addr,
                         char *err)
{
    bool unix_path = addr->kind == CN_ADDR_UNIX;
    mode_t old = unix_path ? umask((mode_t)cfg->umask) : 0;
    int rc = cn_listener_open(l, addr, cfg->backlog, cfg->reuse_port, err);
    if (unix_path)
        umask(old);
    const cn_owner_t *owner = &cfg->owner;
    if (rc == 0 && unix_path && (owner->set_uid || owner->set_gid) &&
        chown(addr->path, owner->set_uid ? owner->uid : (uid_t)-1,
              owner->set_gid ? owner->gid : (gid_t)-1) < 0) {
        cn_err(err, "cannot give %s to user/group: %s", addr->path, strerror(errno));
        cn_listener_close(l, true);
        return -1;
    }
    return rc;
}

/* First thing in main(): the variables that pass sockets in are read and
 * removed before the interpreter copies the environment into os.environ,
 * so neither the workers nor the app see them; and before --daemon forks,
 * while $LISTEN_PID still names this process. After a USR2 the sockets
 * are the old master's ($GUNICORN_FD), else systemd's. */
static int take_handover(handover_t *h, char *err)
{
    memset(h, 0, sizeof(*h));
    if (cn_activation_take(&h->activation, err) < 0)
        return -1;
    h->n = cn_reexec_inherited(h->specs, CN_ARRAY_LEN(h->specs), &h->old_master, err);
    if (h->n < 0)
        return -1;
    h->upgrade = h->n > 0;
    if (!h->upgrade) {
        h->n = h->activation.nfds;
        for (int i = 0; i < h->n; i++)
            snprintf(h->specs[i], sizeof(h->specs[i]), "fd://%d", CN_ACTIVATION_FIRST_FD + i);
    }
    return 0;
}

/* The sockets passed in become server.inherited; after a USR2 the bind
 * setting is not read, as in Gunicorn. */
static int adopt_inherited(const handover_t *h, char *err)
{
    server.bind_ignored = h->upgrade;
    server.inherited = cn_xcalloc(h->n ? (size_t)h->n : 1, sizeof(cn_listener_t));
    for (int i = 0; i < h->n; i++) {
        cn_addr_t addr;
        if (cn_addr_parse(h->specs[i], &addr, err) < 0 ||
            cn_listener_open(&server.inherited[i], &addr, 0, false, err) < 0)
            return -1;
        server.ninherited++;
        const char *name = h->activation.names[i];
        if (!h->upgrade)
            cn_log_info("Socket activation: %s%s%s%s", server.inherited[i].url,
                        name[0] ? " (" : "", name, name[0] ? ")" : "");
    }
    return 0;
}

/* A new listener for addr, retrying a busy address tries - 1 times, a
 * second apart (Gunicorn: five tries at start). */
static int open_retrying(const cn_config_t *cfg, cn_listener_t *l, const cn_addr_t *addr,
                         int tries, char *err)
{
    while (open_listener(cfg, l, addr, err) < 0) {
        if (errno != EADDRINUSE || --tries <= 0)
            return -1;
        cn_log_error("%s", err);
        cn_log_error("Retrying in 1 second.");
        sleep(1);
    }
    return 0;
}

/* gen's listeners, before it forks: the sockets passed in, then one for
 * each bind address none of them serves (a --bind naming systemd's socket
 * is that socket, never bound again, so never unlinked): cur's where it
 * has the address (a HUP never binds one twice), else a new one. Under
 * socket activation the default bind is not used; after a USR2 bind is not
 * read. cur is NULL at start. On failure err names the address. */
static int open_listeners(settings_t *gen, const settings_t *cur, int tries, char *err)
{
    const cn_strlist_t *bind = &gen->cfg.bind;
    bool use_bind =
        !server.bind_ignored && (server.ninherited == 0 || cn_config_given(&gen->cfg, "bind"));
    size_t nbind = use_bind ? bind->n : 0;
    gen->listeners = cn_xcalloc(server.ninherited + nbind + 1, sizeof(cn_listener_t));
    gen->nlisteners = 0;
    for (size_t i = 0; i < server.ninherited; i++)
        gen->listeners[gen->nlisteners++] = server.inherited[i];
    for (size_t i = 0; i < nbind; i++) {
        cn_addr_t addr;
        if (cn_addr_parse(bind->items[i], &addr, err) < 0)
            goto fail;
        bool passed_in = false;
        for (size_t j = 0; j < server.ninherited && !passed_in; j++)
            passed_in = cn_listener_is_at(&server.inherited[j], &addr);
        if (passed_in)
            continue;
        cn_listener_t *l = &gen->listeners[gen->nlisteners];
        const cn_listener_t *have = NULL;
        for (size_t j = 0; cur != NULL && j < cur->nlisteners && have == NULL; j++)
            if (same_address(&cur->listeners[j].addr, &addr))
                have = &cur->listeners[j];
        if (have != NULL) {
            *l = *have;
        } else if (open_retrying(&gen->cfg, l, &addr, tries, err) < 0) {
            cn_log_error("%s", err);
            cn_err(err, "Can't connect to %s", bind->items[i]);
            goto fail;
        }
        gen->nlisteners++;
    }
    return 0;
fail:
    drop_listeners(gen, cur);
    return -1;
}

/* ---- HUP: the settings read again ------------------------------------------- */

static bool same_address(const cn_addr_t *a, const cn_addr_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case CN_ADDR_TCP:
        return a->port == b->port && strcmp(a->host, b->host) == 0;
    case CN_ADDR_UNIX:
        return strcmp(a->path, b->path) == 0;
    case CN_ADDR_FD:
        return a->fd == b->fd;
    }
    return false;
}

static bool holds_fd(const cn_listener_t *ls, size_t n, int fd)
{
    for (size_t i = 0; i < n; i++)
        if (ls[i].fd == fd)
            return true;
    return false;
}

/* Close gen's listeners that other (NULL: none) and the server's passed-in
 * sockets do not use, and free gen's array. */
static void drop_listeners(settings_t *gen, const settings_t *other)
{
    if (other != NULL && gen->listeners == other->listeners)
        return;
    for (size_t i = 0; i < gen->nlisteners; i++) {
        cn_listener_t *l = &gen->listeners[i];
        if (l->fd >= 0 && !(other && holds_fd(other->listeners, other->nlisteners, l->fd)) &&
            !holds_fd(server.inherited, server.ninherited, l->fd))
            cn_listener_close(l, l->addr.kind == CN_ADDR_UNIX);
    }
    free(gen->listeners);
    gen->listeners = NULL;
}

/* gen's listeners: cur's own array when the bind setting is the same, else
 * open_listeners (sharing what both bind), as Gunicorn applies a changed
 * bind on HUP. */
static int reload_listeners(const settings_t *cur, settings_t *gen, char *err)
{
    const cn_strlist_t *bind = &gen->cfg.bind;
    bool same = bind->n == cur->cfg.bind.n &&
                cn_config_given(&gen->cfg, "bind") == cn_config_given(&cur->cfg, "bind");
    for (size_t i = 0; same && i < bind->n; i++)
        same = strcmp(bind->items[i], cur->cfg.bind.items[i]) == 0;
    if (same || server.bind_ignored) {
        gen->listeners = cur->listeners;
        gen->nlisteners = cur->nlisteners;
        return 0;
    }
    return open_listeners(gen, cur, 1, err);
}

/* The arbiter's reload (HUP, without the GIL): every source read again into
 * the other generation's settings, applied to the master (chdir, raw_env,
 * sys.path, hooks, logs, listeners), or nothing changed if one fails. */
static int reload_settings(void *ud, cn_arbiter_config_t *next)
{
    (void)ud;
    settings_t *cur = server.cur, *gen = &server.gens[cur == &server.gens[0] ? 1 : 0];
    char err[CN_ERR_LEN] = "";
    int code = 0;
    PyGILState_STATE gil = PyGILState_Ensure();
    cn_config_init(&gen->cfg);
    gen->listeners = NULL;
    bool hooks_taken = cn_py_hooks_take(&server.old_hooks) == 0;
    int rc = hooks_taken ? read_settings(&gen->cfg, server.argc, server.argv, &code, err)
                         : cn_err(err, "cannot set the server hooks aside");
    if (rc == 0 && cn_worker_class_find(gen->cfg.worker_class) == NULL)
        rc = cn_err(err, "worker class '%s' is not available in this build",
                    gen->cfg.worker_class);
    if (rc == 0)
        rc = apply_environment(&gen->cfg, err) < 0 || cn_py_apply_paths(&gen->cfg, err) < 0 ||
                     cn_py_hooks_setup(&gen->cfg, err) < 0 || open_logs(&gen->cfg, err) < 0 ||
                     reload_listeners(cur, gen, err) < 0
                 ? -1
                 : 0;
    if (rc != 0) {
        cn_log_error("Reload failed: %s", err);
        if (hooks_taken)
            cn_py_hooks_put_back(&server.old_hooks);
        (void)apply_environment(&cur->cfg, err);
        (void)open_logs(&cur->cfg, err);
        cn_config_free(&gen->cfg);
        rc = -1;
    } else {
        warn_ignored(&gen->cfg);
        const char *was = cur->cfg.metrics_bind, *now = gen->cfg.metrics_bind;
        if ((was == NULL) != (now == NULL) || (was && strcmp(was, now) != 0))
            cn_log_warning("metrics_bind: a change takes effect at the next start; /metrics "
                           "stays where it was (%s)",
                           was ? was : "off");
        server.next = gen;
        arbiter_settings(next, gen);
    }
    PyGILState_Release(gil);
    return rc;
}

/* The new generation booted (commit): the old settings go. Or it could not:
 * back to the old ones, which the serving workers use. */
static void reload_end(void *ud, bool commit)
{
    (void)ud;
    settings_t *gone = commit ? server.cur : server.next, *kept = commit ? server.next : server.cur;
    char err[CN_ERR_LEN] = "";
    PyGILState_STATE gil = PyGILState_Ensure();
    drop_listeners(gone, kept);
    cn_config_free(&gone->cfg);
    if (commit) {
        cn_py_hooks_drop(&server.old_hooks);
    } else {
        cn_py_hooks_put_back(&server.old_hooks);
        if (apply_environment(&kept->cfg, err) < 0 || open_logs(&kept->cfg, err) < 0)
            cn_log_error("%s", err);
    }
    server.cur = kept;
    server.next = NULL;
    PyGILState_Release(gil);
}
