/* config_foreign.c - the Gunicorn settings cunicorn refuses or ignores.
 *
 * Owns: one row per Gunicorn setting that is not in config.c's table, with
 * its state and reason (see config_foreign.h). tests/data/
 * gunicorn_settings.txt lists every Gunicorn setting; the unit tests check
 * each one is in exactly one of the two tables.
 * Must not: include Python.h, print, or exit. */
#include "cunicorn/config_foreign.h"

#include <string.h>

#define REFUSED CN_FOREIGN_REFUSED
#define IGNORED CN_FOREIGN_IGNORED

#define NOT_YET "not implemented yet (docs/differences.md)"
#define TLS "TLS is not implemented: terminate it in a proxy in front, such as nginx"
#define TLS_ONLY "a TLS option, used only with certfile/keyfile, which cunicorn refuses"
#define SYSLOG_ONLY "used only with syslog, which cunicorn refuses"
#define STATSD_ONLY "used only with statsd_host, which cunicorn refuses"
#define DIRTY_ONLY "used only with dirty_apps, which cunicorn refuses"
#define DIRTY_NO "are not implemented"
#define DIRTY_HOOK "a hook of the dirty arbiters, which " DIRTY_NO

// clang-format off
static const cn_foreign_setting_t foreign[] = {
    {"spew", {"--spew", NULL}, false, "False", REFUSED,
     "tracing every executed line is not supported"},
    {"worker_tmp_dir", {"--worker-tmp-dir", NULL}, true, "None", IGNORED,
     "the worker heartbeat is a shared-memory table, not a file, so there is no file to place"},
    {"tmp_upload_dir", {NULL}, false, "None", IGNORED, "Gunicorn itself never reads it"},
    {"disable_redirect_access_to_syslog", {"--disable-redirect-access-to-syslog", NULL}, false,
     "False", IGNORED, SYSLOG_ONLY},
    {"logger_class", {"--logger-class", NULL}, true, "'gunicorn.glogging.Logger'", REFUSED,
     "a Python logger class cannot replace cunicorn's C logger"},
    {"logconfig", {"--log-config", NULL}, true, "None", REFUSED,
     "Python logging configuration is " NOT_YET},
    {"logconfig_dict", {NULL}, false, "{}", REFUSED, "Python logging configuration is " NOT_YET},
    {"logconfig_json", {"--log-config-json", NULL}, true, "None", REFUSED,
     "Python logging configuration is " NOT_YET},
    {"syslog_addr", {"--log-syslog-to", NULL}, true, "'udp://localhost:514'", IGNORED,
     SYSLOG_ONLY},
    {"syslog", {"--log-syslog", NULL}, false, "False", REFUSED, "syslog output is " NOT_YET},
    {"syslog_prefix", {"--log-syslog-prefix", NULL}, true, "None", IGNORED, SYSLOG_ONLY},
    {"syslog_facility", {"--log-syslog-facility", NULL}, true, "'user'", IGNORED, SYSLOG_ONLY},
    {"statsd_host", {"--statsd-host", NULL}, true, "None", REFUSED,
     "StatsD metrics are " NOT_YET},
    {"dogstatsd_tags", {"--dogstatsd-tags", NULL}, true, "''", IGNORED, STATSD_ONLY},
    {"statsd_prefix", {"--statsd-prefix", NULL}, true, "''", IGNORED, STATSD_ONLY},
    {"default_proc_name", {NULL}, false, NULL, REFUSED,
     "process titles use proc_name, else the app module as Gunicorn's default; set proc_name"},
    {"paste", {"--paste", "--paster", NULL}, true, "None", REFUSED,
     "PasteDeploy configuration is not supported; name the app as MODULE:VARIABLE"},
    {"ssl_context", {NULL}, false, NULL, REFUSED, TLS},
    {"keyfile", {"--keyfile", NULL}, true, "None", REFUSED, TLS},
    {"certfile", {"--certfile", NULL}, true, "None", REFUSED, TLS},
    {"ssl_version", {"--ssl-version", NULL}, true, NULL, IGNORED, TLS_ONLY},
    {"cert_reqs", {"--cert-reqs", NULL}, true, NULL, IGNORED, TLS_ONLY},
    {"ca_certs", {"--ca-certs", NULL}, true, "None", IGNORED, TLS_ONLY},
    {"suppress_ragged_eofs", {"--suppress-ragged-eofs", NULL}, false, "True", IGNORED, TLS_ONLY},
    {"do_handshake_on_connect", {"--do-handshake-on-connect", NULL}, false, "False", IGNORED,
     TLS_ONLY},
    {"ciphers", {"--ciphers", NULL}, true, "None", IGNORED, TLS_ONLY},
    {"raw_paste_global_conf", {"--paste-global", NULL}, true, "[]", IGNORED,
     "used only with paste, which cunicorn refuses"},
    {"permit_unconventional_http_version", {"--permit-unconventional-http-version", NULL}, false,
     "False", REFUSED, "cunicorn serves HTTP/1.0 and HTTP/1.1 only"},
    {"forwarder_headers", {"--forwarder-headers", NULL}, true, "'SCRIPT_NAME,PATH_INFO'",
     REFUSED, NOT_YET},
    {"tolerate_dangerous_framing", {"--tolerate-dangerous-framing", NULL}, false, "False",
     REFUSED, "ambiguous framing is always rejected (RFC 9112 section 6.3; docs/differences.md)"},
    {"control_socket", {"--control-socket", NULL}, true, NULL, REFUSED,
     "the control interface (gunicornc) is not implemented"},
    {"control_socket_mode", {"--control-socket-mode", NULL}, true, NULL, IGNORED,
     "cunicorn never opens a control socket"},
    {"no_control_socket", {"--no-control-socket", NULL}, false, "False", IGNORED,
     "cunicorn never opens a control socket"},
    {"dirty_apps", {"--dirty-app", NULL}, true, "[]", REFUSED, "dirty arbiters " DIRTY_NO},
    {"dirty_workers", {"--dirty-workers", NULL}, true, "0", IGNORED, DIRTY_ONLY},
    {"dirty_timeout", {"--dirty-timeout", NULL}, true, NULL, IGNORED, DIRTY_ONLY},
    {"dirty_threads", {"--dirty-threads", NULL}, true, NULL, IGNORED, DIRTY_ONLY},
    {"dirty_graceful_timeout", {"--dirty-graceful-timeout", NULL}, true, NULL, IGNORED,
     DIRTY_ONLY},
    {"on_dirty_starting", {NULL}, false, NULL, REFUSED, DIRTY_HOOK},
    {"dirty_post_fork", {NULL}, false, NULL, REFUSED, DIRTY_HOOK},
    {"dirty_worker_init", {NULL}, false, NULL, REFUSED, DIRTY_HOOK},
    {"dirty_worker_exit", {NULL}, false, NULL, REFUSED, DIRTY_HOOK},
    {"http_protocols", {"--http-protocols", NULL}, true, "'h1'", REFUSED,
     "cunicorn speaks HTTP/1.x only"},
    {"http_parser", {"--http-parser", NULL}, true, NULL, IGNORED,
     "it picks among Gunicorn's own parsers; cunicorn always uses its C parser"},
};
// clang-format on

const cn_foreign_setting_t *cn_foreign_settings(size_t *n)
{
    *n = CN_ARRAY_LEN(foreign);
    return foreign;
}

const cn_foreign_setting_t *cn_foreign_find(const char *name)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(foreign); i++)
        if (strcmp(foreign[i].name, name) == 0)
            return &foreign[i];
    return NULL;
}

const cn_foreign_setting_t *cn_foreign_find_flag(const char *flag, size_t len)
{
    for (size_t i = 0; i < CN_ARRAY_LEN(foreign); i++)
        for (size_t f = 0; f < 3 && foreign[i].flags[f] != NULL; f++)
            if (strlen(foreign[i].flags[f]) == len && memcmp(foreign[i].flags[f], flag, len) == 0)
                return &foreign[i];
    return NULL;
}

int cn_foreign_refusal(const cn_foreign_setting_t *f, char *err)
{
    if (f->flags[0] != NULL)
        return cn_err(err, "setting %s (%s) is not supported by cunicorn: %s", f->name,
                      f->flags[f->flags[1] != NULL ? 1 : 0], f->reason);
    return cn_err(err, "setting %s is not supported by cunicorn: %s", f->name, f->reason);
}
