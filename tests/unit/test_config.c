/* test_config.c - the settings table, sources and precedence, every CLI flag
 * form and error, $CUNICORN_CMD_ARGS splitting, $PORT/$WEB_CONCURRENCY,
 * cross-setting rules, --print-config/--help, the freshness of the generated
 * docs (docs/settings.md, docs/cunicorn.1), --workers=auto and the start-up
 * line on the worker count. Each test runs in its own process (CK_FORK), so
 * setenv() does not leak between tests. */
#include "cunicorn/config.h"
#include "cunicorn/config_foreign.h"
#include "cunicorn/cpus.h"
#include "cunicorn/hooks.h"
#include "cunicorn/http.h"
#include "cunicorn/log.h"
#include "cunicorn/proxy_protocol.h"
#include "unit.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CN_TEST_DATA is <source>/tests/.../data; the docs live in <source>/docs */
static void docs_path(char *out, size_t len, const char *name)
{
    const char *tests = strstr(CN_TEST_DATA, "/tests/");
    ck_assert_ptr_nonnull(tests);
    snprintf(out, len, "%.*s/docs/%s", (int)(tests - CN_TEST_DATA), CN_TEST_DATA, name);
}

/* The CPU-based count, as the default and "auto" compute it. */
static int cpu_workers(void)
{
    cn_cpus_t c;
    cn_cpus_detect(&c);
    return 2 * c.n + 1;
}

static cn_config_t cfg;
static char err[CN_ERR_LEN];
static int exit_code;

static void setup(void)
{
    unsetenv("PORT");
    unsetenv("WEB_CONCURRENCY");
    cn_config_init(&cfg);
    err[0] = '\0';
    exit_code = -1;
}

static void teardown(void) { cn_config_free(&cfg); }

/* parse a NULL-terminated list of arguments as CLI (argv[0] added) */
static int cli(const char *first, ...)
{
    char *argv[128] = {"cunicorn"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *)) {
        ck_assert_int_lt(argc, (int)CN_ARRAY_LEN(argv)); /* a longer test needs a bigger argv */
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    return cn_config_parse_argv(&cfg, argc, argv, CN_SRC_CLI, stdout, &exit_code, err);
}

#define ck_cli_error(code, msg, ...)                                                               \
    do {                                                                                           \
        ck_assert_int_eq(cli(__VA_ARGS__, NULL), -1);                                              \
        ck_assert_int_eq(exit_code, code);                                                         \
        ck_assert_str_eq(err, msg);                                                                \
    } while (0)

static void assert_list(const cn_strlist_t *l, size_t n, ...)
{
    va_list ap;
    ck_assert_uint_eq(l->n, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(l->items[i], va_arg(ap, const char *));
    va_end(ap);
}

/* ---- table and defaults ------------------------------------------------- */

START_TEST(table_sane)
{
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    ck_assert_uint_eq(n, 54);
    ck_assert_uint_lt(n, sizeof(cfg._source));
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_eq(cn_setting_find(rows[i].name), &rows[i]);
        /* only dict-valued settings and wsgi_app are config-file only, as in Gunicorn */
        ck_assert(rows[i].flags[0] != NULL || strcmp(rows[i].meta, "DICT") == 0 ||
                  strcmp(rows[i].name, "wsgi_app") == 0);
        ck_assert_ptr_nonnull(rows[i].section);
        ck_assert_ptr_nonnull(rows[i].help);
        ck_assert((rows[i].meta == NULL) == (rows[i].type == CN_T_BOOL));
    }
    ck_assert_ptr_eq(cn_setting_find("limit-request-field-size"),
                     cn_setting_find("limit_request_field_size"));
    ck_assert_ptr_null(cn_setting_find("nope"));
    ck_assert_ptr_null(cn_setting_find("worker"));
}
END_TEST

START_TEST(defaults)
{
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    assert_list(&cfg.bind, 1, "127.0.0.1:8000");
    ck_assert_int_eq(cfg.backlog, 2048);
    ck_assert_int_eq(cfg.workers, cpu_workers());
    ck_assert_int_ge(cfg.workers, 3);
    ck_assert_str_eq(cfg.worker_class, "sync");
    ck_assert_int_eq(cfg.threads, 1);
    ck_assert_int_eq(cfg.worker_connections, 1000);
    ck_assert_int_eq(cfg.timeout, 30);
    ck_assert_int_eq(cfg.graceful_timeout, 30);
    ck_assert_int_eq(cfg.keepalive, 2);
    ck_assert_int_eq(cfg.max_requests, 0);
    ck_assert_int_eq(cfg.max_requests_jitter, 0);
    ck_assert_int_eq(cfg.limit_request_line, 4094);
    ck_assert_int_eq(cfg.limit_request_fields, 100);
    ck_assert_int_eq(cfg.limit_request_field_size, 8190);
    ck_assert_str_eq(cfg.chdir, cwd);
    ck_assert_ptr_null(cfg.pythonpath);
    assert_list(&cfg.raw_env, 0);
    ck_assert_ptr_null(cfg.proc_name);
    ck_assert_ptr_null(cfg.pidfile);
    ck_assert(!cfg.reuse_port && !cfg.check_config && !cfg.print_config);
    ck_assert_ptr_null(cfg.config);
    ck_assert_ptr_null(cfg.accesslog);
    ck_assert_str_eq(cfg.access_log_format, CN_ACCESS_LOG_DEFAULT_FORMAT);
    ck_assert_str_eq(cfg.errorlog, "-");
    ck_assert_str_eq(cfg.loglevel, "info");
    ck_assert_ptr_null(cfg.app_uri);
    /* HTTP parsing and PROXY protocol: Gunicorn's defaults */
    ck_assert_str_eq(cfg.proxy_protocol, "off");
    ck_assert_str_eq(cfg.proxy_allow_ips, "127.0.0.1,::1");
    ck_assert(!cfg.strip_header_spaces &&
              !cfg.permit_unconventional_http_method && !cfg.casefold_http_method &&
              !cfg.permit_obsolete_folding);
    ck_assert_str_eq(cfg.header_map, "drop");
    for (size_t i = 0; i < sizeof(cfg._source); i++)
        ck_assert_int_eq(cfg._source[i], CN_SRC_DEFAULT);
}
END_TEST

START_TEST(env_port_and_web_concurrency)
{
    cn_config_free(&cfg);
    setenv("PORT", "5000", 1);
    setenv("WEB_CONCURRENCY", "7", 1);
    cn_config_init(&cfg);
    assert_list(&cfg.bind, 1, "0.0.0.0:5000");
    ck_assert_int_eq(cfg.workers, 7);
    cn_config_free(&cfg);

    /* invalid $WEB_CONCURRENCY falls back to the CPU-based default */
    setenv("WEB_CONCURRENCY", "abc", 1);
    cn_config_init(&cfg);
    ck_assert_int_eq(cfg.workers, cpu_workers());
    cn_config_free(&cfg);
    setenv("WEB_CONCURRENCY", "0", 1);
    cn_config_init(&cfg);
    ck_assert_int_eq(cfg.workers, cpu_workers());

    /* a CLI value still wins over the environment-derived defaults */
    ck_assert_int_eq(cli("-w", "2", "-b", "unix:/x", NULL), 0);
    ck_assert_int_eq(cfg.workers, 2);
    assert_list(&cfg.bind, 1, "unix:/x");
}
END_TEST

/* ---- sources and precedence --------------------------------------------- */

START_TEST(precedence_scalar)
{
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "3", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cfg.workers, 3);
    ck_assert_int_eq(cfg._source[cn_setting_find("workers") - cn_settings(&(size_t){0})] & 0x7f,
                     CN_SRC_FILE);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-w 5", &exit_code, err), 0);
    ck_assert_int_eq(cfg.workers, 5);
    /* a lower source is ignored, even when its value is invalid */
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "9", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "bad", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cfg.workers, 5);
    ck_assert_int_eq(cli("--workers", "7", NULL), 0);
    ck_assert_int_eq(cfg.workers, 7);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-w 6", &exit_code, err), 0);
    ck_assert_int_eq(cfg.workers, 7);
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "8", CN_SRC_DEFAULT, err), 0);
    ck_assert_int_eq(cfg.workers, 7);
    /* the same source may overwrite itself */
    ck_assert_int_eq(cli("-w", "11", NULL), 0);
    ck_assert_int_eq(cfg.workers, 11);
}
END_TEST

START_TEST(precedence_order_independent)
{
    /* CLI parsed first (main needs -c early), file and env afterwards */
    ck_assert_int_eq(cli("-t", "5", NULL), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "timeout", "60", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "keepalive", "9", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "--timeout 50 --keep-alive 8", &exit_code, err),
                     0);
    ck_assert_int_eq(cfg.timeout, 5);
    ck_assert_int_eq(cfg.keepalive, 8);
}
END_TEST

START_TEST(precedence_lists)
{
    ck_assert_int_eq(cn_config_set(&cfg, "bind", "a:1", CN_SRC_FILE, err), 0);
    assert_list(&cfg.bind, 1, "a:1"); /* replaces the default */
    ck_assert_int_eq(cn_config_set(&cfg, "bind", "b:2", CN_SRC_FILE, err), 0);
    assert_list(&cfg.bind, 2, "a:1", "b:2"); /* same source appends */
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-b c:3 --bind=d:4", &exit_code, err), 0);
    assert_list(&cfg.bind, 2, "c:3", "d:4");
    ck_assert_int_eq(cn_config_set(&cfg, "bind", "x:9", CN_SRC_FILE, err), 0);
    assert_list(&cfg.bind, 2, "c:3", "d:4");
    ck_assert_int_eq(cli("-b", "e:5", NULL), 0);
    assert_list(&cfg.bind, 1, "e:5");
    ck_assert_int_eq(cli("-b", "f:6", NULL), 0);
    assert_list(&cfg.bind, 2, "e:5", "f:6");

    ck_assert_int_eq(cn_config_set(&cfg, "raw_env", "A=1", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "raw_env", "B=2", CN_SRC_FILE, err), 0);
    assert_list(&cfg.raw_env, 2, "A=1", "B=2");
    ck_assert_int_eq(cli("-e", "C=3", "--env", "D=4=5", NULL), 0);
    assert_list(&cfg.raw_env, 2, "C=3", "D=4=5");
    /* a None list value from a higher source empties the list */
    ck_assert_int_eq(cn_config_set(&cfg, "bind", NULL, CN_SRC_CLI, err), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "raw_env", NULL, CN_SRC_CLI, err), 0);
    assert_list(&cfg.raw_env, 2, "C=3", "D=4=5"); /* same source: appended nothing */
}
END_TEST

START_TEST(file_values)
{
    ck_assert_int_eq(cn_config_set(&cfg, "reuse_port", "yes", CN_SRC_FILE, err), 0);
    ck_assert(cfg.reuse_port);
    ck_assert_int_eq(cn_config_set(&cfg, "reuse_port", " False ", CN_SRC_FILE, err), 0);
    ck_assert(!cfg.reuse_port);
    ck_assert_int_eq(cn_config_set(&cfg, "check_config", "1", CN_SRC_FILE, err), 0);
    ck_assert(cfg.check_config);
    ck_assert_int_eq(cn_config_set(&cfg, "backlog", " 64 ", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cfg.backlog, 64);
    ck_assert_int_eq(cn_config_set(&cfg, "proc_name", "  web  ", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.proc_name, "web");
    ck_assert_int_eq(cn_config_set(&cfg, "proc_name", NULL, CN_SRC_FILE, err), 0);
    ck_assert_ptr_null(cfg.proc_name);
    ck_assert_int_eq(cn_config_set(&cfg, "worker-class", "gevent", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.worker_class, "gevent");
    ck_assert_int_eq(cn_config_set(&cfg, "chdir", "/tmp/../tmp/./", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.chdir, "/tmp");
    ck_assert_int_eq(cn_config_set(&cfg, "chdir", "/", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.chdir, "/");
}
END_TEST

/* The HTTP parsing settings from a config file (as the Python glue hands
 * them over: str() of the value). */
START_TEST(file_values_http)
{
    const char *bools[] = {"strip_header_spaces",
                           "permit_unconventional_http_method", "casefold_http_method",
                           "permit_obsolete_folding"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bools); i++) {
        const cn_setting_t *row = cn_setting_find(bools[i]);
        ck_assert_ptr_nonnull(row);
        ck_assert_int_eq(row->type, CN_T_BOOL);
        ck_assert_str_eq(row->section, "Server Mechanics");
        ck_assert_int_eq(cn_config_set(&cfg, bools[i], "True", CN_SRC_FILE, err), 0);
        ck_assert(*(bool *)((char *)&cfg + row->offset));
    }
    ck_assert_int_eq(cn_config_set(&cfg, "header_map", "dangerous", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.header_map, "dangerous");
    ck_assert_int_eq(cn_config_set(&cfg, "header-map", " Refuse ", CN_SRC_FILE, err), 0);
    ck_assert_str_eq(cfg.header_map, "Refuse");
    ck_assert_int_eq(cn_http_header_map_parse(cfg.header_map), CN_HTTP_HEADER_MAP_REFUSE);
    ck_assert_int_eq(cn_http_header_map_parse("DROP"), CN_HTTP_HEADER_MAP_DROP);
    ck_assert_int_eq(cn_http_header_map_parse("dangerous"), CN_HTTP_HEADER_MAP_DANGEROUS);
    ck_assert_int_eq(cn_http_header_map_parse("keep"), -1);
    ck_assert_int_eq(cn_config_set(&cfg, "header_map", "keep", CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "Invalid value for header_map: 'keep' (expected one of drop, refuse, "
                          "dangerous)");
    ck_assert_int_eq(cn_config_set(&cfg, "proxy_protocol", "maybe", CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "Invalid value for proxy_protocol: 'maybe' (expected one of off, v1, "
                          "v2, auto)");
    /* Gunicorn 20-23's boolean, from a config file */
    ck_assert_int_eq(cn_config_set(&cfg, "proxy_protocol", "True", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_proxy_protocol_mode_parse(cfg.proxy_protocol), CN_PROXY_PROTOCOL_AUTO);
    ck_assert_int_eq(cn_config_set(&cfg, "proxy_allow_ips", "10.0.0.0/33", CN_SRC_FILE, err), -1);
    ck_assert_msg(strncmp(err, "Invalid value for proxy_allow_ips: ", 35) == 0, "%s", err);
}

/* --proxy-protocol [MODE]: bare it means auto, and takes the next argument
 * only when that is a mode. */
START_TEST(proxy_protocol_optional_mode)
{
    ck_assert_int_eq(cli("--proxy-protocol", "main:app", NULL), 0);
    ck_assert_str_eq(cfg.proxy_protocol, "auto");
    ck_assert_str_eq(cfg.app_uri, "main:app");
    ck_assert_int_eq(cli("--proxy-protocol", "v2", "main:app", NULL), 0);
    ck_assert_str_eq(cfg.proxy_protocol, "v2");
    ck_assert_int_eq(cli("--proxy-protocol=v1", "--proxy-allow-from", "10.0.0.0/8", NULL), 0);
    ck_assert_str_eq(cfg.proxy_protocol, "v1");
    ck_assert_str_eq(cfg.proxy_allow_ips, "10.0.0.0/8");
    ck_assert_int_eq(cli("--proxy-protocol", "--workers", "2", NULL), 0);
    ck_assert_str_eq(cfg.proxy_protocol, "auto");
    ck_cli_error(1, "Invalid value for proxy_protocol: 'v3' (expected one of off, v1, v2, auto)",
                 "--proxy-protocol=v3");
}
END_TEST

START_TEST(chdir_relative)
{
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    ck_assert_int_eq(chdir("/tmp"), 0);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(cli("--chdir", ".", NULL), 0);
    ck_assert_str_eq(cfg.chdir, cwd);
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_eq(cli("--chdir", "tmp/..//tmp", NULL), 0);
    snprintf(want, sizeof(want), "/tmp");
    ck_assert_str_eq(cfg.chdir, want);
}
END_TEST

START_TEST(set_errors)
{
    ck_assert_int_eq(cn_config_set(&cfg, "nope", "1", CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "No configuration setting for: nope");
    ck_assert_int_eq(cn_config_set(&cfg, "reuse_port", "maybe", CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "Invalid value for reuse_port: 'maybe' (expected true or false)");
    ck_assert_int_eq(cn_config_set(&cfg, "workers", NULL, CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "Invalid value for workers: None");
    ck_assert_int_eq(cn_config_set(&cfg, "timeout", "1.5", CN_SRC_FILE, err), -1);
    ck_assert_str_eq(err, "Invalid value for timeout: '1.5' (expected an integer >= 0)");
    ck_assert_int_eq(cn_config_set(&cfg, "timeout", "99999999999", CN_SRC_FILE, err), -1);
    ck_assert_int_eq(cn_config_set(&cfg, "timeout", "", CN_SRC_FILE, err), -1);
    /* a failed set leaves value and source untouched */
    ck_assert_int_eq(cfg.timeout, 30);
    ck_assert_int_eq(cfg._source[7], CN_SRC_DEFAULT);
    ck_assert_int_eq(cn_config_set(&cfg, "raw_env", "BAD", CN_SRC_FILE, err), -1);
    assert_list(&cfg.raw_env, 0);
}
END_TEST

/* ---- CLI forms ---------------------------------------------------------- */

START_TEST(cli_forms)
{
    ck_assert_int_eq(cli("--workers", "4", NULL), 0);
    ck_assert_int_eq(cfg.workers, 4);
    ck_assert_int_eq(cli("--workers=5", NULL), 0);
    ck_assert_int_eq(cfg.workers, 5);
    ck_assert_int_eq(cli("-w6", NULL), 0);
    ck_assert_int_eq(cfg.workers, 6);
    ck_assert_int_eq(cli("-w", "7", NULL), 0);
    ck_assert_int_eq(cfg.workers, 7);
    ck_assert_int_eq(cli("-w=8", NULL), 0);
    ck_assert_int_eq(cfg.workers, 8);
    ck_assert_int_eq(cli("--backl", "10", NULL), 0); /* unique prefix */
    ck_assert_int_eq(cfg.backlog, 10);
    ck_assert_int_eq(cli("--limit-request-field_size", "11", NULL), 0);
    ck_assert_int_eq(cfg.limit_request_field_size, 11);
    ck_assert_int_eq(cli("--limit-request-field-size=12", NULL), 0);
    ck_assert_int_eq(cfg.limit_request_field_size, 12);
    ck_assert_int_eq(cli("--log-file", "/tmp/e.log", NULL), 0);
    ck_assert_str_eq(cfg.errorlog, "/tmp/e.log");
    ck_assert_int_eq(cli("--error-logfile=-", NULL), 0);
    ck_assert_str_eq(cfg.errorlog, "-");
    ck_assert_int_eq(cli("--access-logfile", "-", NULL), 0); /* "-" is a value */
    ck_assert_str_eq(cfg.accesslog, "-");
    ck_assert_int_eq(cli("--access-logformat", "%(h)s %(s)s", NULL), 0);
    ck_assert_str_eq(cfg.access_log_format, "%(h)s %(s)s");
    ck_assert_int_eq(cli("--bind=[::1]:9000", NULL), 0);
    assert_list(&cfg.bind, 1, "[::1]:9000");
}
END_TEST

START_TEST(cli_every_flag)
{
    ck_assert_int_eq(cli("-c", "conf.py", "-b", "h:1", "--backlog", "1", "-w", "2", "-k", "gthread",
                         "--threads", "3", "--worker-connections", "4", "-t", "5",
                         "--graceful-timeout", "6", "--max-requests", "12",
                         "--max-requests-jitter", "13", "--keep-alive", "7", "--limit-request-line",
                         "8", "--limit-request-fields", "9", "--limit-request-field_size", "10",
                         "--chdir", "/tmp", "--pythonpath", "a,b", "-e", "K=V", "-n", "name", "-p",
                         "/tmp/pid", "--access-logfile", "/tmp/a", "--access-logformat", "F",
                         "--error-logfile", "/tmp/e", "--log-level", "DEBUG", "--reuse-port",
                         "--check-config", "--print-config", "--forwarded-allow-ips", "*",
                         "--limit-request-body", "11",
                         "--proxy-protocol", "--proxy-allow-from", "*", "--strip-header-spaces",
                         "--permit-unconventional-http-method", "--casefold-http-method",
                         "--permit-obsolete-folding", "--header-map", "refuse", "-u", "0", "-g",
                         "0", "-m", "0o7", "--initgroups", "--preload", "-D", "-R",
                         "--capture-output", "--reload", "--reload-engine", "inotify",
                         "--reload-extra-file", "x", "--request-timeout", "14",
                         "--shutdown-delay", "15", "--max-worker-memory", "16",
                         "--metrics-bind", "127.0.0.1:9100", "--no-sendfile", "app:wsgi", NULL),
                     0);
    ck_assert_str_eq(cfg.config, "conf.py");
    assert_list(&cfg.bind, 1, "h:1");
    ck_assert_int_eq(cfg.backlog, 1);
    ck_assert_int_eq(cfg.workers, 2);
    ck_assert_str_eq(cfg.worker_class, "gthread");
    ck_assert_int_eq(cfg.threads, 3);
    ck_assert_int_eq(cfg.worker_connections, 4);
    ck_assert_int_eq(cfg.timeout, 5);
    ck_assert_int_eq(cfg.graceful_timeout, 6);
    ck_assert_int_eq(cfg.keepalive, 7);
    ck_assert_int_eq(cfg.max_requests, 12);
    ck_assert_int_eq(cfg.max_requests_jitter, 13);
    ck_assert_int_eq(cfg.request_timeout, 14);
    ck_assert_int_eq(cfg.shutdown_delay, 15);
    ck_assert_int_eq(cfg.max_worker_memory, 16);
    ck_assert_str_eq(cfg.metrics_bind, "127.0.0.1:9100");
    ck_assert(!cfg.sendfile); /* --no-sendfile turns it off */
    ck_assert_int_eq(cfg.limit_request_line, 8);
    ck_assert_int_eq(cfg.limit_request_fields, 9);
    ck_assert_int_eq(cfg.limit_request_field_size, 10);
    ck_assert_str_eq(cfg.chdir, "/tmp");
    ck_assert_str_eq(cfg.pythonpath, "a,b");
    assert_list(&cfg.raw_env, 1, "K=V");
    ck_assert_str_eq(cfg.proc_name, "name");
    ck_assert_str_eq(cfg.pidfile, "/tmp/pid");
    ck_assert_str_eq(cfg.accesslog, "/tmp/a");
    ck_assert_str_eq(cfg.access_log_format, "F");
    ck_assert_str_eq(cfg.errorlog, "/tmp/e");
    ck_assert_str_eq(cfg.loglevel, "DEBUG");
    ck_assert(cfg.reuse_port && cfg.check_config && cfg.print_config);
    ck_assert_str_eq(cfg.app_uri, "app:wsgi");
    ck_assert_str_eq(cfg.forwarded_allow_ips, "*");
    ck_assert_int_eq(cfg.limit_request_body, 11);
    ck_assert_str_eq(cfg.proxy_protocol, "auto");
    ck_assert(cfg.strip_header_spaces &&
              cfg.permit_unconventional_http_method && cfg.casefold_http_method &&
              cfg.permit_obsolete_folding);
    ck_assert_str_eq(cfg.header_map, "refuse");
    ck_assert_str_eq(cfg.user, "0");
    ck_assert_str_eq(cfg.group, "0");
    ck_assert_int_eq(cfg.umask, 7);
    ck_assert(cfg.initgroups && cfg.preload_app && cfg.daemon && cfg.enable_stdio_inheritance &&
              cfg.capture_output && cfg.reload);
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    for (size_t i = 0; i < n; i++)
        if (rows[i].flags[0] != NULL) /* every setting that has a flag was set */
            ck_assert_int_eq(cfg._source[i] & 0x7f, CN_SRC_CLI);
}
END_TEST

START_TEST(cli_positionals)
{
    ck_assert_int_eq(cli("first:app", "-w", "2", "second:app", NULL), 0);
    ck_assert_str_eq(cfg.app_uri, "first:app"); /* Gunicorn uses args[0] */
    cn_config_free(&cfg);
    cn_config_init(&cfg);
    ck_assert_int_eq(cli("-w", "2", "--", "-odd:app", NULL), 0);
    ck_assert_str_eq(cfg.app_uri, "-odd:app");
    cn_config_free(&cfg);
    cn_config_init(&cfg);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "env:app -w 3", &exit_code, err), 0);
    ck_assert_ptr_null(cfg.app_uri); /* positionals in the env string are ignored */
    ck_assert_int_eq(cfg.workers, 3);
}
END_TEST

START_TEST(cli_usage_errors)
{
    ck_cli_error(2, "unrecognized arguments: --foo", "--foo");
    ck_cli_error(2, "unrecognized arguments: --foo -x --bar=1", "--foo", "-x", "app", "--bar=1");
    ck_cli_error(2, "argument -w/--workers: expected one argument", "-w");
    ck_cli_error(2, "argument -w/--workers: expected one argument", "--workers", "--threads", "2");
    ck_cli_error(2, "argument -b/--bind: expected one argument", "--bind");
    ck_cli_error(2, "argument --reuse-port: ignored explicit argument 'yes'", "--reuse-port=yes");
    ck_cli_error(2, "argument -h/--help: ignored explicit argument 'x'", "--help=x");
    ck_cli_error(2,
                 "ambiguous option: --work could match --workers, --worker-class, "
                 "--worker-connections",
                 "--work", "2");
    ck_cli_error(2,
                 "ambiguous option: --limit-request-field could match --limit-request-fields, "
                 "--limit-request-field_size, --limit-request-field-size",
                 "--limit-request-field", "2");
}
END_TEST

START_TEST(cli_value_errors)
{
    ck_cli_error(1, "Invalid value for workers: 'abc' (expected an integer >= 1)", "-w", "abc");
    ck_cli_error(1, "Invalid value for workers: '0' (expected an integer >= 1)", "-w0");
    ck_cli_error(1, "Invalid value for workers: '-1' (expected an integer >= 1)", "-w", "-1");
    ck_cli_error(1, "Invalid value for threads: '0' (expected an integer >= 1)", "--threads=0");
    ck_cli_error(1, "Invalid value for backlog: '-5' (expected an integer >= 0)", "--backlog",
                 "-5");
    /* Above Gunicorn's caps the limits are accepted (and capped by the
     * worker), as Gunicorn does; negative ones are not. */
    ck_cli_error(1, "Invalid value for limit_request_line: '-1' (expected an integer >= 0)",
                 "--limit-request-line", "-1");
    ck_cli_error(1, "Invalid value for limit_request_fields: '-2' (expected an integer >= 0)",
                 "--limit-request-fields", "-2");
    ck_cli_error(1,
                 "Invalid value for loglevel: 'loud' (expected one of debug, info, warning, "
                 "error, critical)",
                 "--log-level", "loud");
    ck_cli_error(1, "Invalid value for raw_env: 'NOEQ' (expected KEY=VALUE)", "-e", "NOEQ");
    ck_cli_error(1, "Invalid value for chdir: '/no/such/dir' (can't chdir to '/no/such/dir')",
                 "--chdir", "/no/such/dir");
    ck_cli_error(1, "Invalid value for timeout: 'x' (expected an integer >= 0)", "-t", "x");
    ck_cli_error(1, "Invalid value for keepalive: '' (expected an integer >= 0)", "--keep-alive=");
    ck_cli_error(1,
                 "Invalid value for header_map: 'allow' (expected one of drop, refuse, "
                 "dangerous)",
                 "--header-map", "allow");
}
END_TEST

static char *capture(int *rc, const char *arg)
{
    char *buf = NULL, *argv[] = {"cunicorn", (char *)arg, "--bogus"};
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    *rc = cn_config_parse_argv(&cfg, 3, argv, CN_SRC_CLI, out, &exit_code, err);
    fclose(out);
    return buf;
}

START_TEST(cli_help_and_version)
{
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    int rc;
    char *s = capture(&rc, "--version");
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(s, "cunicorn (version 0.1.0)\n");
    free(s);
    s = capture(&rc, "-v");
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(s, "cunicorn (version 0.1.0)\n");
    free(s);

    s = capture(&rc, "-h");
    ck_assert_int_eq(rc, 1);
    ck_assert_ptr_eq(strstr(s, CN_CONFIG_USAGE "\n"), s);
    ck_assert_ptr_nonnull(strstr(s, "  -h, --help            show this help message and exit\n"));
    ck_assert_ptr_nonnull(strstr(s, "  -b ADDRESS, --bind ADDRESS\n"));
    ck_assert_ptr_nonnull(strstr(s, "['127.0.0.1:8000']"));
    ck_assert_ptr_nonnull(strstr(s, "  --backlog INT         The maximum number of pending "));
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < 3 && rows[i].flags[f] != NULL; f++) {
            char want[128];
            snprintf(want, sizeof(want), "%s%s%s", rows[i].flags[f], rows[i].meta ? " " : "",
                     rows[i].meta ? rows[i].meta : "");
            ck_assert_msg(strstr(s, want) != NULL, "help lacks %s", want);
        }
    }
    for (char *line = s; *line != '\0';) {
        char *nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_int_le(nl - line, 78);
        line = nl + 1;
    }
    free(s);
}
END_TEST

/* ---- $CUNICORN_CMD_ARGS ------------------------------------------------- */

START_TEST(env_args_quoting)
{
    ck_assert_int_eq(
        cn_config_parse_env_args(&cfg,
                                 "  --access-logformat '%(h)s \"%(r)s\"'\t-n \"a \\\"b\\\" "
                                 "\\$c\" -e X=a\\ b -e 'Y=' -e Z=\"\"q ",
                                 &exit_code, err),
        0);
    ck_assert_str_eq(cfg.access_log_format, "%(h)s \"%(r)s\"");
    ck_assert_str_eq(cfg.proc_name, "a \"b\" $c");
    assert_list(&cfg.raw_env, 3, "X=a b", "Y=", "Z=q");
    ck_assert_int_eq(cfg._source[cn_setting_find("proc_name") - cn_settings(&(size_t){0})],
                     0x80 | CN_SRC_ENV);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-n 'x\\y'", &exit_code, err), 0);
    ck_assert_str_eq(cfg.proc_name, "x\\y");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-n \"x\\y\"", &exit_code, err), 0);
    ck_assert_str_eq(cfg.proc_name, "x\\y");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "", &exit_code, err), 0);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, NULL, &exit_code, err), 0);
}
END_TEST

START_TEST(env_args_errors)
{
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-n 'open", &exit_code, err), -1);
    ck_assert_int_eq(exit_code, 1);
    ck_assert_str_eq(err, "No closing quotation");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-n \"open", &exit_code, err), -1);
    ck_assert_str_eq(err, "No closing quotation");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-n x\\", &exit_code, err), -1);
    ck_assert_str_eq(err, "No escaped character");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "--nope", &exit_code, err), -1);
    ck_assert_int_eq(exit_code, 2);
    ck_assert_str_eq(err, "unrecognized arguments: --nope");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "-w x", &exit_code, err), -1);
    ck_assert_int_eq(exit_code, 1);
    ck_assert_str_eq(err, "Invalid value for workers: 'x' (expected an integer >= 1)");
}
END_TEST

/* ---- cross-setting rules ------------------------------------------------ */

static const struct {
    const char *klass;
    const char *threads;
    const char *want;
} finish_cases[] = {
    {"sync", "1", "sync"},
    {"sync", "4", "gthread"},
    {"gunicorn.workers.sync.SyncWorker", "1", "sync"},
    {"gunicorn.workers.sync.SyncWorker", "2", "gthread"},
    {"gthread", "1", "gthread"},
    {"gunicorn.workers.gthread.ThreadWorker", "8", "gthread"},
    {"gevent", "4", "gevent"},
    {"gunicorn.workers.ggevent.GeventWorker", "1", "gevent"},
    {"egg:gunicorn#gthread", "1", "gthread"},
};

START_TEST(finish_worker_class)
{
    ck_assert_int_eq(cli("-k", finish_cases[_i].klass, "--threads", finish_cases[_i].threads, NULL),
                     0);
    ck_assert_int_eq(cn_config_finish(&cfg, err), 0);
    ck_assert_str_eq(cfg.worker_class, finish_cases[_i].want);
}
END_TEST

START_TEST(finish_errors)
{
    ck_assert_int_eq(cli("-k", "eventlet", NULL), 0);
    ck_assert_int_eq(cn_config_finish(&cfg, err), -1);
    ck_assert_str_eq(err, "Invalid value for worker_class: 'eventlet' (expected sync, gthread or "
                          "gevent)");
    ck_assert_int_eq(cn_config_set(&cfg, "worker_class", NULL, CN_SRC_CLI, err), 0);
    ck_assert_int_eq(cn_config_finish(&cfg, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "worker_class: 'None'"));
}
END_TEST

/* ---- --print-config ----------------------------------------------------- */

START_TEST(print_config_format)
{
    char *buf = NULL, cwd[PATH_MAX], want[PATH_MAX + 64];
    size_t len = 0, n, lines = 0;
    FILE *out;
    const char *prev = "";

    cn_settings(&n);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(cli("-w", "3", "-b", "a:1", "-b", "b:2", "-e", "Q=it's", "-e", "B=\\x", NULL),
                     0);
    out = open_memstream(&buf, &len);
    cn_config_print(&cfg, out);
    fclose(out);
    ck_assert_ptr_eq(
        strstr(buf, "access_log_format                 = " CN_ACCESS_LOG_DEFAULT_FORMAT "\n"), buf);
    ck_assert_ptr_nonnull(strstr(buf, "\naccesslog                         = None\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nbind                              = ['a:1', 'b:2']\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\ncheck_config                      = False\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nconfig                            = None\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nlimit_request_field_size          = 8190\n"));
    ck_assert_ptr_nonnull(
        strstr(buf, "\nraw_env                           = [\"Q=it's\", 'B=\\\\x']\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nworkers                           = 3\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\nworker_class                      = sync\n"));
    snprintf(want, sizeof(want), "\nchdir                             = %s\n", cwd);
    ck_assert_ptr_nonnull(strstr(buf, want));
    for (char *line = buf; *line != '\0'; lines++) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        ck_assert_msg(strcmp(prev, line) < 0, "not sorted: %s", line);
        ck_assert(strncmp(line + 33, " = ", 3) == 0);
        prev = line;
        line = nl + 1;
    }
    ck_assert_uint_eq(lines, n);
    free(buf);
}
END_TEST

/* ---- docs/settings.md --------------------------------------------------- */

/* A generated doc as the generator writes it now: the text must not depend
 * on the machine or the environment. Returns it (owned), length in *len. */
static char *generate(void (*gen)(FILE *), size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    setenv("PORT", "1234", 1);
    setenv("WEB_CONCURRENCY", "13", 1);
    gen(out);
    fclose(out);
    ck_assert_ptr_null(strstr(text, "1234"));
    ck_assert_ptr_null(strstr(text, "13`"));
    return text;
}

/* docs/<name> must be what gen writes; CN_UPDATE_DOCS=1 rewrites it first. */
static void check_fresh(const char *name, void (*gen)(FILE *))
{
    char *have, path[PATH_MAX];
    size_t wlen = 0, hlen;
    char *want = generate(gen, &wlen);
    FILE *f;

    docs_path(path, sizeof(path), name);
    if (getenv("CN_UPDATE_DOCS") != NULL) {
        f = fopen(path, "w");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        fwrite(want, 1, wlen, f);
        fclose(f);
    }
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    have = calloc(1, wlen + 2);
    hlen = fread(have, 1, wlen + 1, f);
    fclose(f);
    ck_assert_msg(hlen == wlen && memcmp(have, want, wlen) == 0,
                  "docs/%s is stale: run CN_UPDATE_DOCS=1 build/tests/test_config", name);
    free(have);
    free(want);
}

START_TEST(settings_doc_is_fresh)
{
    check_fresh("settings.md", cn_config_markdown);
}
END_TEST

START_TEST(man_page_is_fresh)
{
    check_fresh("cunicorn.1", cn_config_manpage);
}
END_TEST

START_TEST(markdown_covers_table)
{
    char *md = NULL, want[128];
    size_t len = 0, n;
    const cn_setting_t *rows = cn_settings(&n);
    FILE *out = open_memstream(&md, &len);
    cn_config_markdown(out);
    fclose(out);
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "### `%s`\n", rows[i].name);
        ck_assert_msg(strstr(md, want) != NULL, "markdown lacks %s", rows[i].name);
        ck_assert_ptr_nonnull(strstr(md, rows[i].help));
    }
    free(md);
}
END_TEST

/* Every setting, by name and by each flag as roff writes it. */
START_TEST(man_page_covers_table)
{
    size_t len = 0, n;
    const cn_setting_t *rows = cn_settings(&n);
    char *man = generate(cn_config_manpage, &len), want[128];

    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof(want), "Setting \\fB%s\\fR; default: ", rows[i].name);
        ck_assert_msg(strstr(man, want) != NULL, "man page lacks %s", rows[i].name);
        for (size_t f = 0; f < 3 && rows[i].flags[f] != NULL; f++) {
            size_t k = 0;
            for (const char *p = rows[i].flags[f]; *p != '\0' && k + 3 < sizeof(want); p++) {
                if (*p == '-')
                    want[k++] = '\\';
                want[k++] = *p;
            }
            want[k] = '\0';
            ck_assert_msg(strstr(man, want) != NULL, "man page lacks %s", rows[i].flags[f]);
        }
    }
    for (const char *sec = ".SH NAME\n.SH SYNOPSIS\n.SH DESCRIPTION\n.SH OPTIONS\n"
                           ".SH \"ENVIRONMENT\"\n.SH \"SIGNALS\"\n.SH \"EXIT STATUS\"\n"
                           ".SH \"SEE ALSO\"\n";
         *sec != '\0'; sec = strchr(sec, '\n') + 1) {
        snprintf(want, sizeof(want), "%.*s", (int)(strchr(sec, '\n') - sec + 1), sec);
        ck_assert_msg(strstr(man, want) != NULL, "man page lacks %s", want);
    }
    free(man);
}
END_TEST

/* roff reads a line that starts with . or ' as a request, and \ as an
 * escape: only the generator's own requests may start a line, and every
 * hyphen and backslash of the text is escaped. */
START_TEST(man_page_escaping)
{
    static const char *const requests[] = {".\\\" ", ".TH ", ".SH ", ".SS ",  ".TP\n",  ".IP\n",
                                           ".PP\n",  ".B ",  ".BR ", ".nh\n", ".ad l\n"};
    size_t len = 0;
    char *man = generate(cn_config_manpage, &len);

    for (char *line = man; *line != '\0'; line = strchr(line, '\n') + 1) {
        bool known = line[0] != '.' && line[0] != '\'';
        for (size_t i = 0; !known && i < sizeof(requests) / sizeof(requests[0]); i++)
            known = strncmp(line, requests[i], strlen(requests[i])) == 0;
        ck_assert_msg(known, "a line roff reads as an unknown request: %.40s", line);
        if (strncmp(line, ".\\\"", 3) == 0)
            continue; /* a comment says what it likes */
        for (char *p = line; *p != '\n'; p++) {
            if (*p == '\\') {
                ck_assert_msg(strchr("e-&f:", p[1]) != NULL, "escape \\%c in: %.60s", p[1], line);
                p += p[1] == 'f' ? 2 : 1; /* \fB, \fI, \fR */
            } else {
                ck_assert_msg(*p != '-' && *p != '`', "raw %c in: %.60s", *p, line);
            }
        }
    }
    ck_assert_ptr_nonnull(strstr(man, "\\fB\\-\\-workers\\fR \\fIINT\\fR"));
    ck_assert_ptr_nonnull(strstr(man, "\\fBauto\\fR: \\fB$WEB_CONCURRENCY\\fR"));
    free(man);
}
END_TEST

/* ---- every Gunicorn setting: honoured, refused, or ignored --------------- */

static bool has_flag(const char *const flags[3], const char *flag)
{
    for (size_t f = 0; f < 3 && flags[f] != NULL; f++)
        if (strcmp(flags[f], flag) == 0)
            return true;
    return false;
}

static bool ignored_has(const char *name)
{
    for (size_t i = 0; i < cfg.ignored.n; i++)
        if (strcmp(cfg.ignored.items[i], name) == 0)
            return true;
    return false;
}

/* One foreign setting given through its first flag (or, config-file only,
 * through cn_config_foreign as the Python glue does) with a non-default
 * value: refused with exit code 1 and its name, or recorded as ignored. */
static void check_foreign_state(const cn_foreign_setting_t *f)
{
    int rc;
    bool given_default = !f->takes_value && f->gunicorn_default != NULL &&
                         strcmp(f->gunicorn_default, "True") == 0 && f->flags[0] != NULL;
    cn_config_free(&cfg);
    cn_config_init(&cfg);
    if (f->flags[0] != NULL)
        rc = f->takes_value ? cli(f->flags[0], "not-the-default", NULL) : cli(f->flags[0], NULL);
    else
        rc = cn_config_foreign(&cfg, f, "<function hook at 0x1>", err);
    if (f->state == CN_FOREIGN_REFUSED) {
        ck_assert_msg(rc == -1, "%s was not refused", f->name);
        ck_assert_msg(strstr(err, f->name) != NULL && strstr(err, "not supported") != NULL,
                      "%s: %s", f->name, err);
        ck_assert_ptr_null(strchr(err, '\n'));
        if (f->flags[0] != NULL)
            ck_assert_int_eq(exit_code, 1);
    } else {
        ck_assert_msg(rc == 0, "%s: %s", f->name, err);
        /* a store_true flag whose default is True changes nothing */
        ck_assert_msg(ignored_has(f->name) != given_default, "%s: ignored recorded wrongly",
                      f->name);
        ck_assert_msg(f->reason[0] != '\0', "%s has no reason", f->name);
    }
}

START_TEST(every_gunicorn_setting_has_one_state)
{
    char path[PATH_MAX], line[512];
    size_t listed = 0, nforeign;
    const cn_foreign_setting_t *foreign = cn_foreign_settings(&nforeign);
    snprintf(path, sizeof(path), "%s/gunicorn_settings.txt", CN_TEST_DATA);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL, *name = strtok_r(line, " \n", &save);
        if (name == NULL || name[0] == '#')
            continue;
        listed++;
        const cn_setting_t *ours = cn_setting_find(name);
        const cn_foreign_setting_t *other = cn_foreign_find(name);
        bool hook = cn_hook_find(name) >= 0; /* honoured, by src/py/py_hooks.c */
        ck_assert_msg((ours != NULL) + (other != NULL) + hook == 1, "%s: %s", name,
                      ours || other || hook ? "in two states" : "in no state");
        if (hook)
            continue;
        for (char *flag = strtok_r(NULL, " \n", &save); flag; flag = strtok_r(NULL, " \n", &save))
            ck_assert_msg(has_flag(ours ? ours->flags : other->flags, flag),
                          "%s lacks Gunicorn's flag %s", name, flag);
        if (other != NULL)
            check_foreign_state(other);
    }
    fclose(f);
    ck_assert_uint_ge(listed, 100);
    /* nothing in the foreign table that Gunicorn does not have */
    for (size_t i = 0; i < nforeign; i++) {
        f = fopen(path, "r");
        bool found = false;
        size_t len = strlen(foreign[i].name);
        while (!found && fgets(line, sizeof(line), f) != NULL)
            found = strncmp(line, foreign[i].name, len) == 0 &&
                    (line[len] == ' ' || line[len] == '\n');
        fclose(f);
        ck_assert_msg(found, "%s is not a Gunicorn setting", foreign[i].name);
    }
}
END_TEST

/* A lacking setting given as its Gunicorn default is not an error, from the
 * command line or a config file; a refused one is refused once it differs. */
START_TEST(foreign_defaults_are_accepted)
{
    ck_assert_int_eq(cn_config_foreign(&cfg, cn_foreign_find("syslog"), "False", err), 0);
    ck_assert_int_eq(cn_config_foreign(&cfg, cn_foreign_find("keyfile"), "None", err), 0);
    ck_assert_int_eq(cli("--http-protocols", "h1", "--log-syslog-facility=user", NULL), 0);
    ck_assert_uint_eq(cfg.ignored.n, 0);
    ck_cli_error(1,
                 "setting http_protocols (--http-protocols) is not supported by cunicorn: "
                 "cunicorn speaks HTTP/1.x only",
                 "--http-protocols=h2");
    ck_cli_error(2, "argument --spew: ignored explicit argument 'yes'", "--spew=yes");
    ck_cli_error(2, "argument --certfile: expected one argument", "--certfile");
    ck_cli_error(1,
                 "setting syslog (--log-syslog) is not supported by cunicorn: syslog output is not "
                 "implemented yet (docs/differences.md)",
                 "--log-syslog");
    /* an ignored flag's value is consumed, not taken for the app */
    ck_assert_int_eq(cli("--worker-tmp-dir", "/dev/shm", "--worker-tmp-dir", "/tmp", "a:b", NULL),
                     0);
    assert_list(&cfg.ignored, 1, "worker_tmp_dir");
    ck_assert_str_eq(cfg.app_uri, "a:b");
}
END_TEST

START_TEST(privilege_settings)
{
    ck_assert_int_eq(cfg.umask, 0);
    ck_assert_ptr_null(cfg.user);
    ck_assert_int_eq(cli("-u", "nobody", "-g", "65534", "--initgroups", "-m", "022", NULL), 0);
    ck_assert_str_eq(cfg.user, "nobody");
    ck_assert_str_eq(cfg.group, "65534");
    ck_assert(cfg.initgroups);
    ck_assert_int_eq(cfg.umask, 022);
    ck_assert_int_eq(cn_config_finish(&cfg, err), 0); /* resolved once, for every worker */
    ck_assert_str_eq(cfg.reload_engine, "auto");
    ck_assert_int_eq(cli("--reload", "--reload-engine", "poll", "--reload-extra-file", "a.html",
                         "--reload-extra-file", "t/*.txt", NULL),
                     0);
    ck_assert(cfg.reload);
    ck_assert_str_eq(cfg.reload_engine, "poll");
    assert_list(&cfg.reload_extra_files, 2, "a.html", "t/*.txt");
    ck_cli_error(1, "Invalid value for reload_engine: 'fsevents' (expected one of auto, poll, "
                    "inotify)", "--reload-engine=fsevents");
    ck_assert(cfg.owner.set_uid && cfg.owner.set_gid);
    ck_assert_int_eq(cfg.owner.uid, 65534);
    ck_assert_int_eq(cfg.owner.gid, 65534);
    static const struct {
        const char *text;
        int mode;
    } umasks[] = {{"0", 0}, {"18", 18}, {"0o77", 077}, {"0x1f", 0x1f}, {"007", 7}, {" 0O7 ", 7}};
    for (size_t i = 0; i < CN_ARRAY_LEN(umasks); i++) {
        ck_assert_msg(cn_config_set(&cfg, "umask", umasks[i].text, CN_SRC_CLI, err) == 0, "%s",
                      err);
        ck_assert_int_eq(cfg.umask, umasks[i].mode);
    }
    static const char *const bad_umasks[] = {"", "08", "0o8", "-1", "0x", "1000", "abc", "0777x"};
    for (size_t i = 0; i < CN_ARRAY_LEN(bad_umasks); i++)
        ck_assert_msg(cn_config_set(&cfg, "umask", bad_umasks[i], CN_SRC_CLI, err) == -1, "%s",
                      bad_umasks[i]);
    ck_cli_error(1, "No such user: 'no-such-user-here'", "--user", "no-such-user-here");
    ck_cli_error(1, "No such group: 'no-such-group-here'", "--group", "no-such-group-here");
}
END_TEST

START_TEST(wsgi_app_and_log_level_spellings)
{
    ck_assert_int_eq(cn_config_set(&cfg, "wsgi_app", "pkg.mod:app", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_finish(&cfg, err), 0);
    ck_assert_str_eq(cfg.app_uri, "pkg.mod:app");
    cn_config_free(&cfg);
    cn_config_init(&cfg);
    ck_assert_int_eq(cli("cli:app", NULL), 0);
    ck_assert_int_eq(cn_config_set(&cfg, "wsgi_app", "pkg.mod:app", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_finish(&cfg, err), 0);
    ck_assert_str_eq(cfg.app_uri, "cli:app"); /* APP_MODULE wins */
    ck_assert_int_eq(cli("--log-level", "warn", NULL), 0);
    ck_assert_int_eq(cn_log_level_parse(cfg.loglevel), CN_LOG_WARNING);
    ck_assert_int_eq(cn_log_level_parse("WARNING"), CN_LOG_WARNING);
}
END_TEST

/* ---- worker count ------------------------------------------------------- */

START_TEST(workers_auto)
{
    char note[CN_ERR_LEN];
    int want = cpu_workers();

    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_CPUS); /* the default */
    ck_assert_int_eq(cfg.workers, want);
    ck_assert_int_eq(cli("--workers=auto", NULL), 0);
    ck_assert_int_eq(cfg.workers, want);
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_CPUS);
    ck_assert(cn_config_given(&cfg, "workers"));
    ck_assert(cn_config_workers_note(&cfg, note));
    snprintf(err, sizeof(err), "Workers: %d ((2 x %d CPU", want, (want - 1) / 2);
    ck_assert_msg(strncmp(note, err, strlen(err)) == 0, "%s", note);
    ck_assert_int_eq(cli("-w", "3", NULL), 0);
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_GIVEN);
    ck_assert(!cn_config_workers_note(&cfg, note));
    ck_assert_int_eq(cli("-w", " AUTO ", NULL), 0); /* stripped and case-folded like a bool */
    ck_assert_int_eq(cfg.workers, want);

    /* a higher source's number wins over a lower one's auto, and back */
    cn_config_free(&cfg);
    cn_config_init(&cfg);
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "auto", CN_SRC_FILE, err), 0);
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "--workers 4", &exit_code, err), 0);
    ck_assert_int_eq(cfg.workers, 4);
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_GIVEN);
    ck_assert_int_eq(cli("-wauto", NULL), 0);
    ck_assert_int_eq(cfg.workers, want);
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_CPUS);
    ck_assert_int_eq(cn_config_set(&cfg, "workers", "9", CN_SRC_FILE, err), 0); /* lower */
    ck_assert_int_eq(cfg.workers, want);
}
END_TEST

START_TEST(workers_auto_env)
{
    char note[CN_ERR_LEN];

    cn_config_free(&cfg);
    setenv("WEB_CONCURRENCY", "auto", 1);
    cn_config_init(&cfg);
    ck_assert_int_eq(cfg.workers, cpu_workers());
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_CPUS);
    ck_assert(!cn_config_given(&cfg, "workers"));
    cn_config_free(&cfg);
    setenv("WEB_CONCURRENCY", "7", 1);
    cn_config_init(&cfg);
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_ENV);
    ck_assert(cn_config_workers_note(&cfg, note));
    ck_assert_str_eq(note, "Workers: 7 (from $WEB_CONCURRENCY)");
    ck_assert_int_eq(cn_config_parse_env_args(&cfg, "--workers=auto", &exit_code, err), 0);
    ck_assert_int_eq(cfg.workers, cpu_workers());
    ck_assert_int_eq(cfg.workers_from, CN_WORKERS_CPUS);
}
END_TEST

START_TEST(workers_refused)
{
    static const char *const bad[] = {"autox", "auto1", "au to", "", "1.5", "none", "0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[CN_ERR_LEN];
        snprintf(want, sizeof(want), "Invalid value for workers: '%s' (expected an integer >= 1)",
                 bad[i]);
        ck_cli_error(1, want, "--workers", bad[i]);
        ck_assert_int_eq(cn_config_set(&cfg, "workers", bad[i], CN_SRC_FILE, err), -1);
        ck_assert_str_eq(err, want);
    }
}
END_TEST

/* The line's wording for each source of the CPU count. */
START_TEST(workers_note_wording)
{
    char note[CN_ERR_LEN];
    cfg.workers_from = CN_WORKERS_CPUS;
    cfg.workers = 3;
    cfg.cpus =
        (cn_cpus_t){.n = 1, .source = CN_CPUS_CGROUP, .quota_us = 50000, .period_us = 100000};
    ck_assert(cn_config_workers_note(&cfg, note));
    ck_assert_str_eq(note, "Workers: 3 ((2 x 1 CPU) + 1, from the cgroup CPU quota, "
                           "50000/100000 us)");
    cfg.workers = 5;
    cfg.cpus = (cn_cpus_t){.n = 2, .source = CN_CPUS_AFFINITY};
    ck_assert(cn_config_workers_note(&cfg, note));
    ck_assert_str_eq(note, "Workers: 5 ((2 x 2 CPUs) + 1, from the scheduler affinity mask)");
    cfg.workers = 9;
    cfg.cpus = (cn_cpus_t){.n = 4, .source = CN_CPUS_ONLINE};
    ck_assert(cn_config_workers_note(&cfg, note));
    ck_assert_str_eq(note, "Workers: 9 ((2 x 4 CPUs) + 1, from the online CPU count)");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, table_sane);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, env_port_and_web_concurrency);
    tcase_add_test(tc, precedence_scalar);
    tcase_add_test(tc, precedence_order_independent);
    tcase_add_test(tc, precedence_lists);
    tcase_add_test(tc, file_values);
    tcase_add_test(tc, file_values_http);
    tcase_add_test(tc, proxy_protocol_optional_mode);
    tcase_add_test(tc, chdir_relative);
    tcase_add_test(tc, set_errors);
    tcase_add_test(tc, cli_forms);
    tcase_add_test(tc, cli_every_flag);
    tcase_add_test(tc, cli_positionals);
    tcase_add_test(tc, cli_usage_errors);
    tcase_add_test(tc, cli_value_errors);
    tcase_add_test(tc, cli_help_and_version);
    tcase_add_test(tc, env_args_quoting);
    tcase_add_test(tc, env_args_errors);
    tcase_add_loop_test(tc, finish_worker_class, 0,
                        (int)(sizeof(finish_cases) / sizeof(finish_cases[0])));
    tcase_add_test(tc, finish_errors);
    tcase_add_test(tc, print_config_format);
    tcase_add_test(tc, settings_doc_is_fresh);
    tcase_add_test(tc, markdown_covers_table);
    tcase_add_test(tc, man_page_is_fresh);
    tcase_add_test(tc, man_page_covers_table);
    tcase_add_test(tc, man_page_escaping);
    tcase_add_test(tc, every_gunicorn_setting_has_one_state);
    tcase_add_test(tc, foreign_defaults_are_accepted);
    tcase_add_test(tc, privilege_settings);
    tcase_add_test(tc, wsgi_app_and_log_level_spellings);
    tcase_add_test(tc, workers_auto);
    tcase_add_test(tc, workers_auto_env);
    tcase_add_test(tc, workers_refused);
    tcase_add_test(tc, workers_note_wording);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(config_suite());
}
