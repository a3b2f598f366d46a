/* config.c - THE settings table, defaults, validation and precedence.
 *
 * Owns: the one static table of settings (Gunicorn's names, flags, defaults,
 * sections), turning a string into a typed value in cn_config_t with the
 * source rules of enum cn_source, cross-setting rules (cn_config_finish) and
 * the default worker count (from cpus.c) and the line that explains it.
 * Must not: include Python.h, exit(), or print. argv parsing, --help,
 * --print-config and docs/settings.md live in cli.c, driven by this table. */
#include "cunicorn/config.h"
#include "cunicorn/config_foreign.h"
#include "cunicorn/http.h"
#include "cunicorn/log.h"
#include "cunicorn/proxy.h"
#include "cunicorn/proxy_protocol.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* _source[] bit: the setting was set through cn_config_set at least once by
 * its current source (so list values from the same source append). */
#define SRC_EXPLICIT 0x80
#define SRC_MASK 0x7f

static int validate_raw_env(const char *value, char *err);
static int validate_user(const char *value, char *err);
static int validate_group(const char *value, char *err);
static int validate_umask(const char *value, char *err);
static int validate_loglevel(const char *value, char *err);
static int validate_chdir(const char *value, char *err);
static int validate_allow_ips(const char *value, char *err);
static int validate_scheme_headers(const char *value, char *err);
static int validate_header_map(const char *value, char *err);
static int validate_reload_engine(const char *value, char *err);
static int validate_proxy_protocol(const char *value, char *err);
static int validate_proxy_allow_ips(const char *value, char *err);
static int row_index(const cn_setting_t *s);
static void strlist_clear(cn_strlist_t *l);
static void strlist_push(cn_strlist_t *l, const char *s, size_t n);
static void strip(const char **s, size_t *n);
static int parse_int(const cn_setting_t *s, const char *value, int *out, char *err);
static int parse_bool(const cn_setting_t *s, const char *value, bool *out, char *err);
static int store_workers(cn_config_t *cfg, const cn_setting_t *s, const char *value, char *err);
static char *normalize_path(const char *value);
static int store(cn_config_t *cfg, const cn_setting_t *s, const char *value, bool append,
                 char *err);
static void set_default(cn_config_t *cfg, const cn_setting_t *s);
static int env_int(const char *name, int min);
static const char *worker_class_canonical(const char *name);

#define OFF(field) offsetof(cn_config_t, field)

/* One row per setting, in Gunicorn's order. The first sentence of help is
 * the --help summary; the whole paragraph goes to docs/settings.md. */
/* clang-format off: one row per setting reads better than one field per line */
// clang-format off
static const cn_setting_t settings[] = {
    {"config", {"-c", "--config", NULL}, "CONFIG", CN_T_STR, OFF(config), NULL, 0, 0, NULL,
     "Config File",
     "The configuration file to read. A Python file whose top-level assignments name settings "
     "(for example workers = 4), given as PATH or file:PATH, or python:MODULE for a module to "
     "import (the working directory is importable). Without this flag ./cunicorn.conf.py is "
     "read if it exists, otherwise ./gunicorn.conf.py if it exists."},
    {"wsgi_app", {NULL}, "STRING", CN_T_STR, OFF(wsgi_app), NULL, 0, 0, NULL, "Config File",
     "The WSGI application, as MODULE:VARIABLE, for a config file to name; an APP_MODULE on "
     "the command line takes precedence."},
    {"bind", {"-b", "--bind", NULL}, "ADDRESS", CN_T_LIST, OFF(bind), "127.0.0.1:8000", 0, 0,
     NULL, "Server Socket",
     "The socket to bind. One of HOST, HOST:PORT, [IPV6]:PORT, unix:PATH or fd://FD; the port "
     "defaults to 8000. Repeat the flag to listen on several addresses. When $PORT is set the "
     "default is 0.0.0.0:$PORT."},
    {"backlog", {"--backlog", NULL}, "INT", CN_T_INT, OFF(backlog), "2048", 0, INT_MAX, NULL,
     "Server Socket",
     "The maximum number of pending connections. Clients beyond this queue length get an error "
     "when connecting; it only matters under heavy load. Usually between 64 and 2048."},
    {"workers", {"-w", "--workers", NULL}, "INT", CN_T_INT, OFF(workers), "auto", 1, INT_MAX,
     NULL, "Worker Processes",
     "The number of worker processes for handling requests. Tune it to the workload; a few per "
     "CPU core is typical. The default is $WEB_CONCURRENCY when that is set to a positive "
     "integer, otherwise (2 x usable CPUs) + 1, where usable CPUs honour the affinity mask and "
     "the cgroup CPU quota (v2 cpu.max or v1 cpu.cfs_quota_us, of the process's cgroup and its "
     "ancestors). The value auto asks for that CPU-based count explicitly. When the count was "
     "not given as a number, the master logs it and where it came from at start-up."},
    {"worker_class", {"-k", "--worker-class", NULL}, "STRING", CN_T_STR, OFF(worker_class),
     "sync", 0, 0, NULL, "Worker Processes",
     "The type of workers to use. One of sync, gthread or gevent; Gunicorn's class paths "
     "(gunicorn.workers.sync.SyncWorker, gunicorn.workers.gthread.ThreadWorker, "
     "gunicorn.workers.ggevent.GeventWorker) are accepted too."},
    {"threads", {"--threads", NULL}, "INT", CN_T_INT, OFF(threads), "1", 1, INT_MAX, NULL,
     "Worker Processes",
     "The number of worker threads for handling requests. Only the gthread worker uses it; a "
     "sync worker with more than one thread becomes a gthread worker."},
    {"worker_connections", {"--worker-connections", NULL}, "INT", CN_T_INT,
     OFF(worker_connections), "1000", 1, INT_MAX, NULL, "Worker Processes",
     "The maximum number of simultaneous clients. Only the gevent worker uses it."},
    {"timeout", {"-t", "--timeout", NULL}, "INT", CN_T_INT, OFF(timeout), "30", 0, INT_MAX, NULL,
     "Worker Processes",
     "Workers silent for more than this many seconds are killed and restarted. 0 disables the "
     "check. For non-sync workers it measures worker liveness, not request duration."},
    {"graceful_timeout", {"--graceful-timeout", NULL}, "INT", CN_T_INT, OFF(graceful_timeout),
     "30", 0, INT_MAX, NULL, "Worker Processes",
     "Timeout for graceful workers restart. After a restart or stop signal workers get this "
     "many seconds to finish their requests before they are killed."},
    {"request_timeout", {"--request-timeout", NULL}, "INT", CN_T_INT, OFF(request_timeout), "0",
     0, INT_MAX, NULL, "Worker Processes",
     "cunicorn only. The most seconds one request may run in the app; 0 (the default) means no "
     "limit. A request past it is answered 503 Service Unavailable (or, when its response had "
     "begun, its connection is cut), its Python stack is logged, and cunicorn.RequestTimeout is "
     "raised inside it. If the app still has not returned graceful_timeout seconds later, the "
     "worker is replaced: other requests finish first. With the sync worker this uses SIGALRM."},
    {"shutdown_delay", {"--shutdown-delay", NULL}, "INT", CN_T_INT, OFF(shutdown_delay), "0", 0,
     INT_MAX, NULL, "Worker Processes",
     "cunicorn only. Seconds to go on serving, and accepting new connections, after TERM before "
     "the graceful stop begins, so a load balancer can take the instance out of rotation first. "
     "A second TERM, or INT/QUIT, stops at once."},
    {"max_requests", {"--max-requests", NULL}, "INT", CN_T_INT, OFF(max_requests), "0", 0,
     INT_MAX, NULL, "Worker Processes",
     "The maximum number of requests a worker serves before it restarts: it finishes the "
     "requests in flight, exits, and the master starts a new one. A simple way to bound the "
     "damage of memory leaks in the app. 0 (the default) disables restarts."},
    {"max_requests_jitter", {"--max-requests-jitter", NULL}, "INT", CN_T_INT,
     OFF(max_requests_jitter), "0", 0, INT_MAX, NULL, "Worker Processes",
     "The maximum jitter to add to max_requests: each worker restarts after max_requests + "
     "randint(0, max_requests_jitter) requests, so the workers do not all restart at once."},
    {"max_worker_memory", {"--max-worker-memory", NULL}, "INT", CN_T_INT,
     OFF(max_worker_memory), "0", 0, INT_MAX, NULL, "Worker Processes",
     "cunicorn only. A worker whose memory (PSS where the kernel reports it, else RSS) exceeds "
     "this many MiB is replaced: the master checks every second, starts a new worker and lets "
     "the old one finish its requests. 0 (the default) disables the check."},
    {"keepalive", {"--keep-alive", NULL}, "INT", CN_T_INT, OFF(keepalive), "2", 0, INT_MAX, NULL,
     "Worker Processes",
     "The number of seconds to wait for the next request on a Keep-Alive connection. 1-5 suits "
     "direct client connections; behind a load balancer a higher value is often better. The "
     "sync worker closes after each response and ignores it."},
    {"limit_request_line", {"--limit-request-line", NULL}, "INT", CN_T_INT,
     OFF(limit_request_line), "4094", 0, INT_MAX, NULL, "Security",
     "The maximum size of the HTTP request line in bytes. The request line holds the method, "
     "the URI with its query and the protocol, so this bounds URI length. 0 means unlimited; "
     "values above 8190 are treated as 8190, as Gunicorn does."},
    {"limit_request_fields", {"--limit-request-fields", NULL}, "INT", CN_T_INT,
     OFF(limit_request_fields), "100", 0, INT_MAX, NULL, "Security",
     "Limit the number of HTTP header fields in a request. Protects against header floods "
     "together with limit_request_field_size. 0 and values above 32768 mean 32768."},
    {"limit_request_field_size", {"--limit-request-field_size", "--limit-request-field-size", NULL},
     "INT", CN_T_INT, OFF(limit_request_field_size), "8190", 0, INT_MAX, NULL, "Security",
     "Limit the allowed size of an HTTP request header field (name, value and line end). "
     "0 means the default, 8190."},
    {"limit_request_body", {"--limit-request-body", NULL}, "INT", CN_T_INT,
     OFF(limit_request_body), "0", 0, INT_MAX, NULL, "Security",
     "The maximum size of a request body in bytes, Content-Length and chunked alike; a larger "
     "body is answered with 413 before it is read (or, for chunked bodies, as soon as the "
     "chunk sizes pass the limit). 0 means unlimited."},
    {"check_config", {"--check-config", NULL}, NULL, CN_T_BOOL, OFF(check_config), "false", 0, 0,
     NULL, "Debugging",
     "Check the configuration and exit. The exit status is 0 when the configuration (and the "
     "application) loads, 1 otherwise."},
    {"print_config", {"--print-config", NULL}, NULL, CN_T_BOOL, OFF(print_config), "false", 0, 0,
     NULL, "Debugging",
     "Print the fully resolved configuration and exit. Implies check_config."},
    {"daemon", {"-D", "--daemon", NULL}, NULL, CN_T_BOOL, OFF(daemon), "false", 0, 0, NULL,
     "Server Mechanics",
     "Detach the master from the terminal (fork, setsid, fork) before binding, with stdin, "
     "stdout and stderr on /dev/null, as Gunicorn does. Set pidfile to find it again; an error "
     "log of \"-\" is then lost."},
    {"enable_stdio_inheritance", {"-R", "--enable-stdio-inheritance", NULL}, NULL, CN_T_BOOL,
     OFF(enable_stdio_inheritance), "false", 0, 0, NULL, "Logging",
     "With daemon, keep stdout and stderr where they were instead of /dev/null."},
    {"capture_output", {"--capture-output", NULL}, NULL, CN_T_BOOL, OFF(capture_output), "false",
     0, 0, NULL, "Logging",
     "Send the app's stdout and stderr (print(), tracebacks it writes) to the error log file, "
     "again after each USR1 reopen. No effect when the error log is \"-\" (stderr)."},
    {"reload", {"--reload", NULL}, NULL, CN_T_BOOL, OFF(reload), "false", 0, 0, NULL, "Debugging",
     "Restart the workers when a source file of a loaded module, or a reload_extra_files path, "
     "changes; for development. Each worker watches and, on a change, logs \"Worker reloading: "
     "FILE modified\" and stops gracefully; the master starts a new one."},
    {"reload_engine", {"--reload-engine", NULL}, "STRING", CN_T_STR, OFF(reload_engine), "auto",
     0, 0, validate_reload_engine, "Debugging",
     "How reload watches files: inotify (Linux's file change events), poll (modification times "
     "every second) or auto (inotify, else poll)."},
    {"reload_extra_files", {"--reload-extra-file", NULL}, "FILES", CN_T_LIST,
     OFF(reload_extra_files), NULL, 0, 0, NULL, "Debugging",
     "More files for reload to watch (templates, settings). Repeat the flag for several; glob "
     "patterns are expanded when the worker starts."},
    {"preload_app", {"--preload", NULL}, NULL, CN_T_BOOL, OFF(preload_app), "false", 0, 0, NULL,
     "Server Mechanics",
     "Load the application in the master before forking the workers, which then share its "
     "memory pages copy-on-write and start faster. The master forks with CPython's fork "
     "protocol (PyOS_BeforeFork/PyOS_AfterFork_*). A HUP then does not reload the "
     "application's code, as in Gunicorn."},
    {"reuse_port", {"--reuse-port", NULL}, NULL, CN_T_BOOL, OFF(reuse_port), "false", 0, 0, NULL,
     "Server Mechanics", "Set the SO_REUSEPORT flag on the listening sockets."},
    {"chdir", {"--chdir", NULL}, "CHDIR", CN_T_STR, OFF(chdir), NULL, 0, 0, validate_chdir,
     "Server Mechanics",
     "Change to this directory before loading the application. Relative paths are resolved "
     "against the directory cunicorn was started in, which is also the default."},
    {"raw_env", {"-e", "--env", NULL}, "ENV", CN_T_LIST, OFF(raw_env), NULL, 0, 0,
     validate_raw_env, "Server Mechanics",
     "Set an environment variable for the application, as KEY=VALUE. Repeat the flag for "
     "several variables; in a config file use a list, e.g. raw_env = [\"FOO=1\"]."},
    {"forwarded_allow_ips", {"--forwarded-allow-ips", NULL}, "STRING", CN_T_STR,
     OFF(forwarded_allow_ips), "127.0.0.1", 0, 0, validate_allow_ips, "Server Mechanics",
     "Front-end addresses trusted to set the secure scheme headers: a comma-separated list of "
     "IP addresses and CIDR networks, or '*' to trust every peer (only when the network "
     "guarantees it). Peers on a unix socket are trusted. The default comes from "
     "$FORWARDED_ALLOW_IPS when set, else 127.0.0.1."},
    {"secure_scheme_headers", {NULL}, "DICT", CN_T_STR, OFF(secure_scheme_headers),
     "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on", 0, 0,
     validate_scheme_headers, "Server Mechanics",
     "Headers, and the values that mean HTTPS, that a trusted front end uses to tell the "
     "original scheme (wsgi.url_scheme). Set it in the config file as a dict, as with Gunicorn; "
     "requests whose scheme headers disagree are rejected with 400."},
    {"proxy_protocol", {"--proxy-protocol", NULL}, "MODE", CN_T_STR, OFF(proxy_protocol), "off",
     0, 0, validate_proxy_protocol, "Server Mechanics",
     "Accept a PROXY protocol preamble before the first request of a connection, as sent by "
     "HAProxy, stunnel or a cloud load balancer: v1 (text), v2 (binary), auto (either; what the "
     "flag without a value means) or off. REMOTE_ADDR and REMOTE_PORT then name the client it "
     "reports. Only peers in proxy_allow_ips may send one (others are answered 403); a "
     "malformed preamble, or one of the version not accepted, is answered 400. Connections "
     "without a preamble are served as usual. True and False (Gunicorn 20-23) mean auto and "
     "off."},
    {"proxy_allow_ips", {"--proxy-allow-from", NULL}, "STRING", CN_T_STR, OFF(proxy_allow_ips),
     "127.0.0.1,::1", 0, 0, validate_proxy_allow_ips, "Server Mechanics",
     "The peers allowed to send a PROXY protocol preamble: a comma-separated list of IP "
     "addresses and CIDR networks, or \"*\" for any. A unix socket peer is always allowed."},
    {"sendfile", {"--no-sendfile", NULL}, NULL, CN_T_BOOL, OFF(sendfile), "true", 0, 0, NULL,
     "Server Mechanics",
     "Send the regular file of a wsgi.file_wrapper with sendfile(2), without the GIL. "
     "--no-sendfile (or sendfile = False) reads and writes it in blocks instead, for file "
     "systems where sendfile(2) misbehaves."},
    {"metrics_bind", {"--metrics-bind", NULL}, "ADDRESS", CN_T_STR, OFF(metrics_bind), NULL, 0,
     0, NULL, "Logging",
     "Serve GET /metrics (Prometheus text format, OpenMetrics when the scraper asks) from the "
     "master on this address: HOST:PORT or unix:PATH, never one of the app's. The counters are "
     "summed over every worker, those that exited included. Off when unset."},
    {"pidfile", {"-p", "--pid", NULL}, "FILE", CN_T_STR, OFF(pidfile), NULL, 0, 0, NULL,
     "Server Mechanics",
     "A filename to use for the PID file. When unset no PID file is written."},
    {"user", {"-u", "--user", NULL}, "USER", CN_T_STR, OFF(user), NULL, 0, 0, validate_user,
     "Server Mechanics",
     "Switch worker processes to run as this user: a name or a numeric uid. The master keeps "
     "its user, binds the sockets first, and each worker drops to this user (and group) after "
     "the fork, before loading the app. When unset the workers keep the master's user."},
    {"group", {"-g", "--group", NULL}, "GROUP", CN_T_STR, OFF(group), NULL, 0, 0, validate_group,
     "Server Mechanics",
     "Switch worker processes to run as this group: a name or a numeric gid. When unset the "
     "workers keep the master's group."},
    {"umask", {"-m", "--umask", NULL}, "INT", CN_T_INT, OFF(umask), "0", 0, 0777, validate_umask,
     "Server Mechanics",
     "The file mode creation mask applied while binding unix sockets, so the default 0 makes a "
     "socket 0777. Like Gunicorn it is parsed as Python does: 022 and 0o22 are octal, 0x12 "
     "hexadecimal."},
    {"initgroups", {"--initgroups", NULL}, NULL, CN_T_BOOL, OFF(initgroups), "false", 0, 0, NULL,
     "Server Mechanics",
     "With user set, give the workers that user's supplementary groups (initgroups(3)) "
     "instead of none."},
    {"accesslog", {"--access-logfile", NULL}, "FILE", CN_T_STR, OFF(accesslog), NULL, 0, 0, NULL,
     "Logging",
     "The access log file to write to. '-' means stdout; when unset there is no access log."},
    {"access_log_format", {"--access-logformat", NULL}, "STRING", CN_T_STR,
     OFF(access_log_format), CN_ACCESS_LOG_DEFAULT_FORMAT, 0, 0, NULL, "Logging",
     "The access log format. Python %-style with named atoms, e.g. %(h)s: h remote address, "
     "l '-', u user name, t date of the request, r request line, m method, U path without "
     "query, q query string, H protocol, s status, B response length, b response length or "
     "'-', f referer, a user agent, T request time in seconds, M in milliseconds, D in "
     "microseconds, L in decimal seconds, p process ID, {header}i request header, {header}o "
     "response header, {variable}e environment variable. Write header and variable names in "
     "lowercase, e.g. %({x-forwarded-for}i)s."},
    {"errorlog", {"--error-logfile", "--log-file", NULL}, "FILE", CN_T_STR, OFF(errorlog), "-", 0,
     0, NULL, "Logging", "The error log file to write to. '-' means stderr."},
    {"loglevel", {"--log-level", NULL}, "LEVEL", CN_T_STR, OFF(loglevel), "info", 0, 0,
     validate_loglevel, "Logging",
     "The granularity of error log output. One of debug, info, warning, error or critical."},
    {"proc_name", {"-n", "--name", NULL}, "STRING", CN_T_STR, OFF(proc_name), NULL, 0, 0, NULL,
     "Process Naming",
     "A base to use for process titles, as seen in ps and top. Useful to tell several "
     "instances apart; when unset the application module name is used."},
    {"pythonpath", {"--pythonpath", NULL}, "STRING", CN_T_STR, OFF(pythonpath), NULL, 0, 0, NULL,
     "Server Mechanics",
     "A comma-separated list of directories to add to the Python path, for example "
     "/home/djangoprojects/myproject,/home/python/mylibrary."},
    {"strip_header_spaces", {"--strip-header-spaces", NULL}, NULL, CN_T_BOOL,
     OFF(strip_header_spaces), "false", 0, 0, NULL, "Server Mechanics",
     "Strip spaces between a header name and the colon (\"Content-Length : 3\"), instead of "
     "rejecting the request with 400. Such requests break HTTP/1.1 and are a known request "
     "smuggling vector; use with care, only if a client needs it."},
    {"permit_unconventional_http_method", {"--permit-unconventional-http-method", NULL}, NULL,
     CN_T_BOOL, OFF(permit_unconventional_http_method), "false", 0, 0, NULL, "Server Mechanics",
     "Accept any token as the request method. By default a method must be 3 to 20 characters "
     "without lowercase letters or '#', which covers every registered method; others get 400. "
     "Use with care and only if necessary."},
    {"casefold_http_method", {"--casefold-http-method", NULL}, NULL, CN_T_BOOL,
     OFF(casefold_http_method), "false", 0, 0, NULL, "Server Mechanics",
     "Upper-case the request method before the application sees it (REQUEST_METHOD). Methods "
     "are case-sensitive; this only helps with clients that send lowercase methods, which "
     "also needs permit_unconventional_http_method."},
    {"permit_obsolete_folding", {"--permit-obsolete-folding", NULL}, NULL, CN_T_BOOL,
     OFF(permit_obsolete_folding), "false", 0, 0, NULL, "Server Mechanics",
     "Accept header values continued on lines that start with a space or tab (obsolete line "
     "folding, RFC 9112 5.2); the lines are joined with one space. By default such requests "
     "are rejected with 400."},
    {"header_map", {"--header-map", NULL}, "STRING", CN_T_STR, OFF(header_map), "drop", 0, 0,
     validate_header_map, "Server Mechanics",
     "What to do with request header names containing '_', which the WSGI environ cannot tell "
     "apart from '-' (X_Foo and X-Foo are both HTTP_X_FOO). drop: leave them out (they still "
     "count against the limits); refuse: answer 400; dangerous: keep them, joined with the "
     "'-' header of the same key as repeated headers are."},
};
// clang-format on

_Static_assert(CN_ARRAY_LEN(settings) < sizeof(((cn_config_t *)0)->_source),
               "cn_config_t._source is too small for the settings table");

const cn_setting_t *cn_settings(size_t *n)
{
    *n = CN_ARRAY_LEN(settings);
    return settings;
}

const cn_setting_t *cn_setting_find(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(settings); i++) {
        const char *a = settings[i].name, *b = name;
        while (*a != '\0' && (*a == *b || (*a == '_' && *b == '-'))) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0')
            return &settings[i];
    }
    return NULL;
}

static int row_index(const cn_setting_t *s) { return (int)(s - settings); }

/* ---- validators --------------------------------------------------------- */

static int validate_raw_env(const char *value, char *err)
{
    if (strchr(value, '=') == NULL)
        return cn_err(err, "Invalid value for raw_env: '%s' (expected KEY=VALUE)", value);
    return 0;
}

static int validate_user(const char *value, char *err)
{
    return cn_owner_lookup_user(value, NULL, err);
}

static int validate_group(const char *value, char *err)
{
    return cn_owner_lookup_group(value, NULL, err);
}

/* Python's int(x, 0) after Gunicorn's auto_int turns a leading 0 into 0o. */
static int parse_auto_int(const char *p, size_t n, long *out)
{
    int base = 10;
    char *end = NULL;
    if (n > 1 && p[0] == '0' && isdigit((unsigned char)p[1])) {
        base = 8;
        p++, n--;
    } else if (n > 2 && p[0] == '0' && strchr("oOxXbB", p[1]) != NULL) {
        base = strchr("oO", p[1]) ? 8 : strchr("xX", p[1]) ? 16 : 2;
        p += 2, n -= 2;
    }
    if (n == 0 || !isxdigit((unsigned char)p[0]))
        return -1;
    errno = 0;
    *out = strtol(p, &end, base);
    return end == p + n && errno == 0 ? 0 : -1;
}

static int validate_umask(const char *value, char *err)
{
    const char *p = value;
    size_t n = strlen(value);
    long v;
    strip(&p, &n);
    if (parse_auto_int(p, n, &v) < 0 || v < 0 || v > 0777)
        return cn_err(err, "Invalid value for umask: '%s' (expected a mode such as 0, 022 or 0o77)",
                      value);
    return 0;
}

static int validate_loglevel(const char *value, char *err)
{
    if (cn_log_level_parse(value) < 0)
        return cn_err(err,
                      "Invalid value for loglevel: '%s' (expected one of debug, info, "
                      "warning, error, critical)",
                      value);
    return 0;
}

static int check_allow_list(const char *name, const char *value, char *err)
{
    cn_proxy_allow_t a;
    char why[CN_ERR_LEN];
    if (cn_proxy_allow_parse(&a, value, why) < 0)
        return cn_err(err, "Invalid value for %s: %s", name, why);
    cn_proxy_allow_free(&a);
    return 0;
}

static int validate_allow_ips(const char *value, char *err)
{
    return check_allow_list("forwarded_allow_ips", value, err);
}

static int validate_proxy_allow_ips(const char *value, char *err)
{
    return check_allow_list("proxy_allow_ips", value, err);
}

static int validate_scheme_headers(const char *value, char *err)
{
    cn_scheme_headers_t sh;
    char why[CN_ERR_LEN];
    if (cn_scheme_headers_parse(&sh, value, why) < 0)
        return cn_err(err, "Invalid value for secure_scheme_headers: %s", why);
    cn_scheme_headers_free(&sh);
    return 0;
}

/* The settings that take one of a few words: ok says whether value is one. */
static int check_choice(bool ok, const char *name, const char *value, const char *choices,
                        char *err)
{
    if (!ok)
        return cn_err(err, "Invalid value for %s: '%s' (expected one of %s)", name, value,
                      choices);
    return 0;
}

static int validate_header_map(const char *value, char *err)
{
    return check_choice(cn_http_header_map_parse(value) >= 0, "header_map", value,
                        "drop, refuse, dangerous", err);
}

static int validate_proxy_protocol(const char *value, char *err)
{
    return check_choice(cn_proxy_protocol_mode_parse(value) >= 0, "proxy_protocol", value,
                        "off, v1, v2, auto", err);
}

static int validate_reload_engine(const char *value, char *err)
{
    bool ok = strcmp(value, "auto") == 0 || strcmp(value, "poll") == 0 ||
              strcmp(value, "inotify") == 0;
    return check_choice(ok, "reload_engine", value, "auto, poll, inotify", err);
}

static int validate_chdir(const char *value, char *err)
{
    char *path = normalize_path(value);
    struct stat st;
    int rc = 0;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = cn_err(err, "Invalid value for chdir: '%s' (can't chdir to '%s')", value, value);
    free(path);
    return rc;
}

/* ---- values ------------------------------------------------------------- */

static void strlist_clear(cn_strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void strlist_push(cn_strlist_t *l, const char *s, size_t n)
{
    l->items = cn_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = cn_xstrndup(s, n);
}

/* Gunicorn's validate_string strips surrounding whitespace. */
static void strip(const char **s, size_t *n)
{
    while (*n > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int parse_int(const cn_setting_t *s, const char *value, int *out, char *err)
{
    const char *p = value;
    size_t n = strlen(value);
    char *end = NULL;
    long v;

    strip(&p, &n);
    if (s->validate == validate_umask) { /* validated: Python's int(x, 0) */
        (void)parse_auto_int(p, n, &v);
        *out = (int)v;
        return 0;
    }
    errno = 0;
    v = n > 0 && (isdigit((unsigned char)p[0]) || p[0] == '-' || p[0] == '+') ? strtol(p, &end, 10)
                                                                              : 0;
    if (n == 0 || end != p + n || errno != 0 || v < s->min || v > s->max) {
        if (s->max == INT_MAX)
            return cn_err(err, "Invalid value for %s: '%s' (expected an integer >= %d)", s->name,
                          value, s->min);
        return cn_err(err, "Invalid value for %s: '%s' (expected an integer between %d and %d)",
                      s->name, value, s->min, s->max);
    }
    *out = (int)v;
    return 0;
}

static int parse_bool(const cn_setting_t *s, const char *value, bool *out, char *err)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    const char *p = value;
    size_t n = strlen(value);

    strip(&p, &n);
    for (size_t i = 0; i < CN_ARRAY_LEN(yes); i++) {
        if (cn_strcase_eq(p, n, yes[i]) || cn_strcase_eq(p, n, no[i])) {
            *out = cn_strcase_eq(p, n, yes[i]);
            return 0;
        }
    }
    return cn_err(err, "Invalid value for %s: '%s' (expected true or false)", s->name, value);
}

/* os.path.abspath(os.path.normpath(os.path.join(cwd, value))): lexical, no
 * symlink resolution, as Gunicorn's validate_chdir. Returns an owned string. */
static char *normalize_path(const char *value)
{
    char cwd[PATH_MAX];
    size_t cap = strlen(value) + sizeof(cwd) + 2, n = 0;
    char *src = cn_xmalloc(cap), *out = cn_xmalloc(cap), *tok, *save = NULL;

    if (value[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        snprintf(src, cap, "%s", value);
    else
        snprintf(src, cap, "%s/%s", cwd, value);
    for (tok = strtok_r(src, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            continue;
        }
        n += (size_t)sprintf(out + n, "/%s", tok);
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(src);
    return out;
}

/* Convert and store one value; append only matters for lists. */
static int store(cn_config_t *cfg, const cn_setting_t *s, const char *value, bool append, char *err)
{
    void *field = (char *)cfg + s->offset;
    const char *p = value;
    size_t n;

    if (value == NULL && s->type != CN_T_STR && s->type != CN_T_LIST)
        return cn_err(err, "Invalid value for %s: None", s->name);
    if (value != NULL && s->validate != NULL && s->validate(value, err) != 0)
        return -1;
    switch (s->type) {
    case CN_T_INT:
        if (field == &cfg->workers)
            return store_workers(cfg, s, value, err);
        return parse_int(s, value, (int *)field, err);
    case CN_T_BOOL:
        return parse_bool(s, value, (bool *)field, err);
    case CN_T_STR:
        free(*(char **)field);
        *(char **)field = NULL;
        if (value == NULL)
            return 0;
        if (s->validate == validate_chdir) {
            *(char **)field = normalize_path(value);
            return 0;
        }
        n = strlen(value);
        strip(&p, &n);
        *(char **)field = cn_xstrndup(p, n);
        return 0;
    case CN_T_LIST:
        if (!append)
            strlist_clear(field);
        if (value == NULL)
            return 0;
        n = strlen(value);
        strip(&p, &n);
        strlist_push(field, p, n);
        return 0;
    }
    return cn_err(err, "Invalid value for %s", s->name);
}

int cn_config_set(cn_config_t *cfg, const char *name, const char *value, enum cn_source src,
                  char *err)
{
    const cn_setting_t *s = cn_setting_find(name);
    int i;
    unsigned cur;
    bool append;

    if (s == NULL)
        return cn_err(err, "No configuration setting for: %s", name);
    i = row_index(s);
    cur = cfg->_source[i];
    if ((unsigned)src < (cur & SRC_MASK))
        return 0;
    append = (cur & SRC_EXPLICIT) != 0 && (unsigned)src == (cur & SRC_MASK);
    if (store(cfg, s, value, append, err) != 0)
        return -1;
    cfg->_source[i] = (unsigned char)(src | SRC_EXPLICIT);
    return 0;
}

bool cn_config_given(const cn_config_t *cfg, const char *name)
{
    const cn_setting_t *s = cn_setting_find(name);
    return s != NULL && (cfg->_source[row_index(s)] & SRC_EXPLICIT) != 0;
}

/* ---- defaults ----------------------------------------------------------- */

/* A positive integer from the environment, or -1. */
static int env_int(const char *name, int min)
{
    const char *v = getenv(name);
    uint64_t n;
    if (v == NULL || cn_parse_uint(v, strlen(v), INT_MAX, &n) != 0 || (int)n < min)
        return -1;
    return (int)n;
}

static void set_default(cn_config_t *cfg, const cn_setting_t *s)
{
    char buf[64];
    const char *v = s->default_value;
    const char *port;
    char cwd[PATH_MAX];
    int w = 0;

    if (strcmp(s->name, "bind") == 0 && (port = getenv("PORT")) != NULL) {
        snprintf(buf, sizeof(buf), "0.0.0.0:%s", port);
        v = buf;
    } else if (strcmp(s->name, "workers") == 0 && (w = env_int("WEB_CONCURRENCY", 1)) > 0) {
        snprintf(buf, sizeof(buf), "%d", w);
        v = buf;
    } else if (strcmp(s->name, "forwarded_allow_ips") == 0 && getenv("FORWARDED_ALLOW_IPS")) {
        v = getenv("FORWARDED_ALLOW_IPS");
    } else if (strcmp(s->name, "chdir") == 0) {
        v = getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".";
    }
    if (store(cfg, s, v, false, NULL) != 0)
        abort(); /* a default that fails its own validation is a bug in the table */
    if (w > 0) /* the workers row, from $WEB_CONCURRENCY */
        cfg->workers_from = CN_WORKERS_ENV;
}

void cn_config_init(cn_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CN_ARRAY_LEN(settings); i++) {
        set_default(cfg, &settings[i]);
        cfg->_source[i] = CN_SRC_DEFAULT;
    }
}

void cn_config_free(cn_config_t *cfg)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(settings); i++) {
        void *field = (char *)cfg + settings[i].offset;
        if (settings[i].type == CN_T_STR) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (settings[i].type == CN_T_LIST) {
            strlist_clear(field);
        }
    }
    free(cfg->app_uri);
    cfg->app_uri = NULL;
    strlist_clear(&cfg->ignored);
}

int cn_config_foreign(cn_config_t *cfg, const cn_foreign_setting_t *f, const char *value_repr,
                      char *err)
{
    if (f->gunicorn_default != NULL && strcmp(value_repr, f->gunicorn_default) == 0)
        return 0;
    if (f->state == CN_FOREIGN_REFUSED)
        return cn_foreign_refusal(f, err);
    for (size_t i = 0; i < cfg->ignored.n; i++)
        if (strcmp(cfg->ignored.items[i], f->name) == 0)
            return 0;
    strlist_push(&cfg->ignored, f->name, strlen(f->name));
    return 0;
}

/* ---- cross-setting rules ------------------------------------------------ */

static const char *worker_class_canonical(const char *name)
{
    static const char *const map[][2] = {
        {"sync", "sync"},       {"gunicorn.workers.sync.SyncWorker", "sync"},
        {"gthread", "gthread"}, {"gunicorn.workers.gthread.ThreadWorker", "gthread"},
        {"gevent", "gevent"},   {"gunicorn.workers.ggevent.GeventWorker", "gevent"},
    };
    if (strncmp(name, "egg:gunicorn#", 13) == 0)
        name += 13;
    for (size_t i = 0; i < CN_ARRAY_LEN(map); i++) {
        if (strcmp(name, map[i][0]) == 0)
            return map[i][1];
    }
    return NULL;
}

int cn_config_finish(cn_config_t *cfg, char *err)
{
    const char *k = cfg->worker_class != NULL ? worker_class_canonical(cfg->worker_class) : NULL;

    if (k == NULL)
        return cn_err(err,
                      "Invalid value for worker_class: '%s' (expected sync, gthread or gevent)",
                      cfg->worker_class != NULL ? cfg->worker_class : "None");
    if (strcmp(k, "sync") == 0 && cfg->threads > 1)
        k = "gthread";
    if (strcmp(k, cfg->worker_class) != 0) {
        free(cfg->worker_class);
        cfg->worker_class = cn_xstrdup(k);
    }
    if (cfg->app_uri == NULL && cfg->wsgi_app != NULL)
        cfg->app_uri = cn_xstrdup(cfg->wsgi_app);
    return cn_owner_resolve(cfg->user, cfg->group, &cfg->owner, err);
}

/* ---- worker count ------------------------------------------------------- */

/* A number, or "auto" (any source, the default included): (2 x usable CPUs)
 * + 1, with the CPU count kept for cn_config_workers_note. */
static int store_workers(cn_config_t *cfg, const cn_setting_t *s, const char *value, char *err)
{
    const char *p = value;
    size_t n = strlen(value);

    strip(&p, &n);
    if (!cn_strcase_eq(p, n, "auto")) {
        if (parse_int(s, value, &cfg->workers, err) != 0)
            return -1;
        cfg->workers_from = CN_WORKERS_GIVEN;
        return 0;
    }
    cn_cpus_detect(&cfg->cpus);
    cfg->workers = cfg->cpus.n > (INT_MAX - 1) / 2 ? INT_MAX : 2 * cfg->cpus.n + 1;
    cfg->workers_from = CN_WORKERS_CPUS;
    return 0;
}

bool cn_config_workers_note(const cn_config_t *cfg, char *out)
{
    const cn_cpus_t *c = &cfg->cpus;
    char from[96];

    if (cfg->workers_from == CN_WORKERS_GIVEN)
        return false;
    if (cfg->workers_from == CN_WORKERS_ENV) {
        snprintf(out, CN_ERR_LEN, "Workers: %d (from $WEB_CONCURRENCY)", cfg->workers);
        return true;
    }
    if (c->source == CN_CPUS_CGROUP)
        snprintf(from, sizeof(from), "the cgroup CPU quota, %lld/%lld us", c->quota_us,
                 c->period_us);
    else
        snprintf(from, sizeof(from), "%s",
                 c->source == CN_CPUS_AFFINITY ? "the scheduler affinity mask"
                                               : "the online CPU count");
    snprintf(out, CN_ERR_LEN, "Workers: %d ((2 x %d CPU%s) + 1, from %s)", cfg->workers, c->n,
             c->n == 1 ? "" : "s", from);
    return true;
}
