/* config.h - THE settings table and the configuration it fills.
 *
 * Owns: one row per setting (name, CLI flags, type, default, validator, help)
 * from which the CLI parser, $CUNICORN_CMD_ARGS, config-file values (handed
 * over as strings by the Python glue), --help and --print-config all come;
 * precedence (CLI > env args > config file > defaults); the worker count
 * when it is not a number given (cpus.h counts the CPUs), and why.
 * Must not: include Python.h, exit(), or print except where a function says. */
#ifndef CUNICORN_CONFIG_H
#define CUNICORN_CONFIG_H

#include "cunicorn/common.h"
#include "cunicorn/cpus.h"
#include "cunicorn/owner.h"

#include <stdio.h>

/* First line of --help and of usage errors ("usage: ..." then
 * "cunicorn: error: <err>", exit code 2), as argparse prints them. */
#define CN_CONFIG_USAGE "usage: cunicorn [OPTIONS] [APP_MODULE]"

/* Where a value came from; a higher source replaces a lower one, a lower one
 * never replaces a higher one. */
enum cn_source { CN_SRC_DEFAULT, CN_SRC_FILE, CN_SRC_ENV, CN_SRC_CLI };

enum cn_setting_type {
    CN_T_INT,     /* int, validated by min/max */
    CN_T_BOOL,    /* flag on the CLI; true/false/1/0/yes/no elsewhere */
    CN_T_STR,     /* char * (NULL = None) */
    CN_T_LIST,    /* cn_strlist_t: repeatable flag, appends */
};

/* How the worker count was decided. */
enum cn_workers_from {
    CN_WORKERS_CPUS,  /* (2 x usable CPUs) + 1: the default, or "auto" */
    CN_WORKERS_ENV,   /* the default, from $WEB_CONCURRENCY */
    CN_WORKERS_GIVEN, /* a number, from any source */
};

typedef struct cn_strlist {
    char **items; /* owned, each owned */
    size_t n;
} cn_strlist_t;

typedef struct cn_config {
    /* server socket */
    cn_strlist_t bind;
    int backlog;
    /* worker processes */
    int workers;
    char *worker_class;
    int threads;
    int worker_connections;
    int timeout;
    int graceful_timeout;
    int request_timeout;   /* s per request; 0: none */
    int shutdown_delay;    /* s of serving on after TERM */
    int max_worker_memory; /* MiB; 0: no check */
    int keepalive;
    int max_requests;
    int max_requests_jitter;
    /* security */
    int limit_request_line;
    int limit_request_fields;
    int limit_request_field_size;
    int limit_request_body;
    /* server mechanics */
    char *chdir;
    char *pythonpath;  /* comma-separated directories */
    cn_strlist_t raw_env; /* KEY=VALUE */
    char *proc_name;
    char *pidfile;
    char *metrics_bind; /* NULL: no /metrics endpoint */
    bool sendfile;      /* wsgi.file_wrapper through sendfile(2) */
    char *user;        /* worker user: name or uid; NULL = the master's */
    char *group;       /* worker group: name or gid; NULL = the master's */
    int umask;         /* while binding unix sockets */
    bool initgroups;
    bool reuse_port;
    bool check_config;
    bool preload_app;
    bool reload;
    char *reload_engine;          /* auto, poll, inotify */
    cn_strlist_t reload_extra_files;
    bool daemon;
    bool enable_stdio_inheritance;
    bool capture_output;
    bool print_config;
    char *config;      /* -c/--config path; NULL = look for the default files */
    char *wsgi_app;    /* the config file's app, when there is no APP_MODULE */
    /* proxies */
    char *forwarded_allow_ips;    /* "*" or IPs/CIDRs, comma-separated */
    char *secure_scheme_headers;  /* "NAME=VALUE,..." */
    char *proxy_protocol;         /* off, v1, v2, auto (cn_proxy_protocol_mode_parse) */
    char *proxy_allow_ips;        /* peers that may send a PROXY preamble */
    /* HTTP parsing (all off by default; each one accepts more) */
    bool strip_header_spaces;
    bool permit_unconventional_http_method;
    bool casefold_http_method;
    bool permit_obsolete_folding;
    char *header_map;             /* "drop", "refuse" or "dangerous" */
    /* logging */
    char *accesslog;
    char *access_log_format;
    char *errorlog;
    char *loglevel;
    /* not a setting: the positional APP_MODULE */
    char *app_uri;
    /* not settings: the accepted-and-ignored Gunicorn settings that were
     * given (config_foreign.h), for main's one warning line */
    cn_strlist_t ignored;
    /* not settings: how workers was decided, and the CPUs it counted when
     * workers_from is CN_WORKERS_CPUS */
    enum cn_workers_from workers_from;
    cn_cpus_t cpus;
    /* not a setting: user/group as ids, resolved once by cn_config_finish */
    cn_owner_t owner;
    /* bookkeeping: which source set each setting (index = table row) */
    unsigned char _source[64];
} cn_config_t;

typedef int (*cn_setting_validator)(const char *value, char *err);

typedef struct cn_setting {
    const char *name;      /* "limit_request_line" */
    const char *flags[3];  /* "--limit-request-line", NULL-terminated */
    const char *meta;      /* "INT" for --help */
    enum cn_setting_type type;
    size_t offset;         /* into cn_config_t */
    const char *default_value; /* as a string, NULL = None */
    int min, max;          /* CN_T_INT bounds */
    cn_setting_validator validate; /* extra check, may be NULL */
    const char *section;   /* "Server Socket", ... as in Gunicorn's docs */
    const char *help;      /* one paragraph */
} cn_setting_t;

/** The table, in Gunicorn's order. */
const cn_setting_t *cn_settings(size_t *n);
/** Row by setting name (also accepts dashes for underscores); NULL if none. */
const cn_setting_t *cn_setting_find(const char *name);

/** Fill every setting with its default (honours $WEB_CONCURRENCY and $PORT). */
void cn_config_init(cn_config_t *cfg);
void cn_config_free(cn_config_t *cfg);

/**
 * Set one setting from a string. For CN_T_LIST the first value from a new
 * source replaces the list, later ones from the same source append. A value
 * from a lower source than the current one is ignored (returns 0). On a bad
 * value returns -1 and err says e.g. "Invalid value for workers: 'abc'
 * (expected an integer >= 1)".
 */
int cn_config_set(cn_config_t *cfg, const char *name, const char *value,
                  enum cn_source src, char *err) CN_NODISCARD;

/**
 * Parse argv (argv[0] is the program). Sets settings with CN_SRC_CLI and
 * app_uri. Returns 0; 1 if --help or --version was handled (printed to out);
 * -1 with err set for an unknown flag, a missing argument or a bad value.
 * *exit_code is the code Gunicorn uses for that error (2 for usage errors,
 * 1 for bad values).
 */
int cn_config_parse_argv(cn_config_t *cfg, int argc, char **argv, enum cn_source src,
                         FILE *out, int *exit_code, char *err) CN_NODISCARD;

/** Split a command-line string with shell quoting ($CUNICORN_CMD_ARGS) and
 * parse it as CN_SRC_ENV arguments. Same returns as parse_argv. */
int cn_config_parse_env_args(cn_config_t *cfg, const char *args, int *exit_code,
                             char *err) CN_NODISCARD;

struct cn_foreign_setting;
/**
 * A Gunicorn setting cunicorn lacks, given with value_repr (its Python repr:
 * "True", "'x'") by any source. Its Gunicorn default is accepted as a no-op;
 * an ignored one is recorded in cfg->ignored; a refused one returns -1 with
 * err naming it and why.
 */
int cn_config_foreign(cn_config_t *cfg, const struct cn_foreign_setting *f,
                      const char *value_repr, char *err) CN_NODISCARD;

/** Whether a source set `name` (a default, even one taken from $PORT or
 * $WEB_CONCURRENCY, is not given). */
bool cn_config_given(const cn_config_t *cfg, const char *name);

/** After all sources: cross-setting rules (sync + threads > 1 -> gthread,
 * worker_class known, wsgi_app as the app, user/group resolved to
 * owner). Returns 0 or -1 with err. */
int cn_config_finish(cn_config_t *cfg, char *err) CN_NODISCARD;

/** --print-config output: "name = value" sorted, values shown as Gunicorn's
 * Python reprs would be (lists as ['a', 'b'], None, True/False). */
void cn_config_print(const cn_config_t *cfg, FILE *out);
/** --help output, generated from the table. */
void cn_config_help(FILE *out);
/** docs/settings.md, generated from the table. */
void cn_config_markdown(FILE *out);
/** docs/cunicorn.1, the man page, generated from the table (manpage.c). */
void cn_config_manpage(FILE *out);
struct cn_buf;
/** Append a setting's default as the generated docs show it, with `code`
 * marked by backticks: the value of defaults (cn_config_init's), or a
 * description where it depends on the machine or the environment. */
void cn_config_doc_default(struct cn_buf *b, const cn_setting_t *s, const cn_config_t *defaults);

/**
 * The master's start-up line on the worker count, into out (CN_ERR_LEN), when
 * it was not given as a number: "Workers: 5 ((2 x 2 CPUs) + 1, from the cgroup
 * CPU quota, 200000/100000 us)" or "Workers: 4 (from $WEB_CONCURRENCY)".
 * Returns false, writing nothing, for a number given by any source.
 */
bool cn_config_workers_note(const cn_config_t *cfg, char *out);

#endif
