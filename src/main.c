/* main.c - cunicorn's entry point: settings from every source, the
 * interpreter, the listeners, then the arbiter. Only main() and the arbiter
 * decide exit codes. */
#include "py/py_app.h"
#include "py/py_hooks.h"
#include "py/py_runtime.h"
#include "workers/worker.h"

#include "cunicorn/arbiter.h"
#include "cunicorn/config.h"
#include "cunicorn/log.h"
#include "cunicorn/daemon.h"
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

static int load_settings(cn_config_t *cfg, int argc, char **argv);
static int open_listeners(const cn_config_t *cfg, const char *const *specs, size_t nspecs,
                          cn_listener_t **out, size_t *n);
static int apply_environment(const cn_config_t *cfg);
static void warn_ignored(const cn_config_t *cfg);
static int open_listener(const cn_config_t *cfg, cn_listener_t *l, const cn_addr_t *addr,
                         char *err);

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
    cn_config_t cfg;
    cn_config_init(&cfg);
    int rc = load_settings(&cfg, argc, argv);
    if (rc >= 0)
        return rc;
    char err[CN_ERR_LEN];
    if (cfg.print_config) {
        cn_config_print(&cfg, stdout);
        return 0;
    }
    if (cfg.app_uri == NULL)
        return fail(2, "No application module specified.");
    int level = cn_log_level_parse(cfg.loglevel);
    if (cn_log_open(cfg.errorlog, level, err) < 0 ||
        cn_access_log_open(cfg.accesslog, cfg.access_log_format, err) < 0)
        return fail(1, err);
    warn_ignored(&cfg);
    if (cn_worker_class_find(cfg.worker_class) == NULL) {
        snprintf(err, sizeof(err), "worker class '%s' is not available in this build",
                 cfg.worker_class);
        return fail(1, err);
    }
    if (apply_environment(&cfg) < 0 || cn_py_apply_paths(&cfg, err) < 0)
        return fail(1, err[0] ? err : "cannot apply chdir/env settings");
    if (cfg.check_config) {
        int code;
        PyObject *app = cn_py_app_load(cfg.app_uri, &code);
        Py_XDECREF(app);
        return app ? 0 : 1;
    }
    /* where Gunicorn detaches: before the hooks, preload and binding; not
     * again in the new master of a USR2 upgrade */
    if (cfg.daemon && getenv("GUNICORN_FD") == NULL) {
        cn_py_before_fork();
        if (cn_daemonize(cfg.enable_stdio_inheritance, err) < 0)
            return fail(1, err);
        cn_py_after_fork_child();
    }
    if (cfg.capture_output)
        cn_log_capture_output();
    if (cn_py_hooks_setup(&cfg, err) < 0)
        return fail(1, err);
    int load_code;
    if (cfg.preload_app && cn_py_app_preload(cfg.app_uri, &load_code) < 0)
        return 1; /* logged; Gunicorn's master dies of the exception: 1 */
    cn_hook_info_t master = {.server_pid = getpid(), .num_workers = cfg.workers};
    (void)cn_py_hook_run(CN_HOOK_ON_STARTING, &master);
    char inherited[64][32];
    pid_t old_master = 0;
    int ninherited = cn_reexec_inherited(inherited, CN_ARRAY_LEN(inherited), &old_master, err);
    if (ninherited < 0)
        return fail(1, err);
    /* Refuse to start over a live instance before touching its sockets (the
     * new master of an upgrade writes PIDFILE.2 while the old one lives). */
    int running = cfg.pidfile != NULL && old_master == 0 ? cn_pidfile_validate(cfg.pidfile) : 0;
    if (running > 0) {
        fprintf(stderr, "Error: Already running on PID %d (or pid file '%s' is stale)\n", running,
                cfg.pidfile);
        return 1;
    }
    cn_listener_t *listeners = NULL;
    size_t nlisteners = 0;
    const char *inherited_specs[CN_ARRAY_LEN(inherited)];
    for (int i = 0; i < ninherited; i++)
        inherited_specs[i] = inherited[i];
    bool upgrade = ninherited > 0;
    if (open_listeners(&cfg, upgrade ? inherited_specs : (const char *const *)cfg.bind.items,
                       upgrade ? (size_t)ninherited : cfg.bind.n, &listeners, &nlisteners) < 0)
        return 1;
    cn_arbiter_config_t acfg = {
        .workers = cfg.workers,
        .timeout = cfg.timeout,
        .graceful_timeout = cfg.graceful_timeout,
        .pidfile = cfg.pidfile,
        .proc_name = cfg.proc_name ? cfg.proc_name : cfg.app_uri, /* Gunicorn's default */
        .worker_class = cfg.worker_class,
        .listeners = listeners,
        .nlisteners = nlisteners,
        .worker_main = cn_worker_main,
        .worker_ud = &cfg,
        .hook = cn_py_hook_from_arbiter,
        .before_fork = cn_py_before_fork,
        .after_fork_parent = cn_py_after_fork_parent,
        .after_fork_child = cn_py_after_fork_child,
        .argv = argv,
        .start_cwd = start_cwd[0] ? start_cwd : NULL,
        .old_master = old_master,
        .daemon = cfg.daemon,
    };
    /* The master's Python threads (the preloaded app's, a hook's) run while
     * the arbiter waits; its Python callbacks take the GIL back. */
    PyThreadState *ts = PyEval_SaveThread();
    int status = cn_arbiter_run(&acfg);
    PyEval_RestoreThread(ts);
    return status;
}

/* Defaults < config file < $GUNICORN_CMD_ARGS < $CUNICORN_CMD_ARGS < command
 * line. Returns an exit code when the process should end now, -1 to go on. */
static int load_settings(cn_config_t *cfg, int argc, char **argv)
{
    char err[CN_ERR_LEN] = "";
    int code = 0;
    int rc = cn_config_parse_argv(cfg, argc, argv, CN_SRC_CLI, stdout, &code, err);
    if (rc == 1)
        return 0; /* --help, --version */
    if (rc < 0)
        return fail(code, err);
    /* Gunicorn's variable, then ours: where both name a setting ours wins */
    static const char *const env_vars[] = {"GUNICORN_CMD_ARGS", "CUNICORN_CMD_ARGS"};
    for (size_t i = 0; i < CN_ARRAY_LEN(env_vars); i++) {
        const char *env_args = getenv(env_vars[i]);
        if (env_args != NULL && cn_config_parse_env_args(cfg, env_args, &code, err) < 0)
            return fail(code, err);
    }
    if (cn_py_init(err) < 0)
        return fail(1, err);
    const char *path = cfg->config;
    if (path == NULL)
        path = access("cunicorn.conf.py", F_OK) == 0   ? "cunicorn.conf.py"
               : access("gunicorn.conf.py", F_OK) == 0 ? "gunicorn.conf.py"
                                                       : NULL;
    const char *file = path; /* -c PATH, -c file:PATH; -c python:MODULE is imported */
    if (file != NULL && strncmp(file, "file:", 5) == 0)
        file += 5;
    if (file != NULL && strncmp(file, "python:", 7) != 0 && access(file, F_OK) != 0) {
        snprintf(err, sizeof(err), "'%s' doesn't exist", file);
        return fail(1, err);
    }
    if (path != NULL && cn_py_load_config_file(path, cfg, err) < 0)
        return fail(1, err);
    if (cn_config_finish(cfg, err) < 0)
        return fail(1, err);
    return -1;
}

/* chdir, as Gunicorn does at start (raw_env is applied through Python's
 * os.environ, see cn_py_apply_paths). */
static int apply_environment(const cn_config_t *cfg)
{
    if (cfg->chdir != NULL && chdir(cfg->chdir) < 0) {
        fprintf(stderr, "Error: cannot chdir to %s: %s\n", cfg->chdir, strerror(errno));
        return -1;
    }
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

/* Bind every address before forking; Gunicorn retries a busy address five
 * times, a second apart. specs are the bind setting, or after a USR2 the
 * old master's sockets as fd://N (never bound again: the bind setting is
 * not read then, as in Gunicorn). */
static int open_listeners(const cn_config_t *cfg, const char *const *specs, size_t nspecs,
                          cn_listener_t **out, size_t *n)
{
    cn_listener_t *ls = cn_xcalloc(nspecs ? nspecs : 1, sizeof(*ls));
    char err[CN_ERR_LEN];
    for (size_t i = 0; i < nspecs; i++) {
        cn_addr_t addr;
        if (cn_addr_parse(specs[i], &addr, err) < 0) {
            cn_log_error("%s", err);
            return -1;
        }
        int tries = 5;
        while (open_listener(cfg, &ls[i], &addr, err) < 0) {
            int why = errno; /* before logging, which may change it */
            cn_log_error("%s", err);
            if (why != EADDRINUSE || --tries == 0) {
                cn_log_error("Can't connect to %s", specs[i]);
                return -1;
            }
            cn_log_error("Retrying in 1 second.");
            sleep(1);
        }
    }
    *out = ls;
    *n = nspecs;
    return 0;
}
