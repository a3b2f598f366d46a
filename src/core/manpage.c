/* manpage.c - docs/cunicorn.1, the cunicorn(1) man page, generated from the
 * settings table.
 *
 * Owns: the roff rendering (man(7) macros) and the page's fixed sections:
 * environment, signals, exit status, files. OPTIONS comes row by row from
 * the table in config.c, grouped by section in the table's order, so the
 * page cannot drift from --help and docs/settings.md; tests/unit/test_config.c
 * fails when the committed file is stale.
 * Must not: print except to the FILE * it is given, or depend on the machine
 * or the environment (defaults that do are described: cn_config_doc_default).
 *
 * Text is written as plain text with `code` in backticks (the same markup
 * cn_config_doc_default uses) and escaped once, in roff_text: a backslash
 * becomes \e, every hyphen \- (so flags copied from the page are ASCII
 * minus signs), `code` becomes bold, a comma inside a word may break the
 * line after it (\:, for long lists such as secure_scheme_headers'
 * default), and a line starting with . or ' gets a \& in front so roff does
 * not read it as a request. */
#include "cunicorn/buf.h"
#include "cunicorn/config.h"
#include "cunicorn/hooks.h"

#include <stdbool.h>
#include <string.h>

/* A tagged paragraph of a fixed section: .TP, tag, text. */
typedef struct entry {
    const char *tag;
    const char *text;
} entry_t;

static void roff_text(FILE *out, const char *text);
static void tagged(FILE *out, const char *tag, const char *text);
static void entries(FILE *out, const char *title, const entry_t *e, size_t n);
static void option_tag(FILE *out, const cn_setting_t *s);
static void option(FILE *out, const cn_setting_t *s, const cn_config_t *defaults);
static bool first_of_section(const cn_setting_t *rows, size_t i);
static void options(FILE *out);
static void config_file(FILE *out);

static const char *const description[] = {
    "cunicorn runs a Python WSGI application in a pool of worker processes: a master process "
    "binds the listening sockets, forks the workers and supervises them (it respawns workers "
    "that die, kills those whose heartbeat stops, and acts on signals), and each worker "
    "embeds CPython, imports the application and serves HTTP/1.1 on the shared sockets. It "
    "takes Gunicorn's command line, configuration file, environment variables, signals, log "
    "formats and exit codes, so `gunicorn` can be replaced by `cunicorn` in a command line, a "
    "service unit or a container entry point.",
    "APP_MODULE is MODULE:VARIABLE (for example `myproject.wsgi:application`), or "
    "MODULE:FACTORY() for a function that returns the application; the variable defaults to "
    "`application`.",
    "Each setting comes from, in increasing order of precedence: its default, the "
    "configuration file, `$GUNICORN_CMD_ARGS`, `$CUNICORN_CMD_ARGS` and the command line. A "
    "list setting given by a higher source replaces the whole list. A bad value stops "
    "cunicorn with one line naming the setting.",
};

static const entry_t environment[] = {
    {"`GUNICORN_CMD_ARGS`, `CUNICORN_CMD_ARGS`",
     "Options, split as a shell would, applied above the configuration file and below the "
     "command line; `CUNICORN_CMD_ARGS` is read after `GUNICORN_CMD_ARGS` and wins over it."},
    {"`WEB_CONCURRENCY`",
     "A positive integer: the default number of workers. Otherwise the default is `auto`, "
     "(2 x usable CPUs) + 1."},
    {"`PORT`", "Makes the default bind `0.0.0.0:$PORT`."},
    {"`FORWARDED_ALLOW_IPS`", "The default of `--forwarded-allow-ips`."},
    {"`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`",
     "systemd socket activation: when `LISTEN_PID` is cunicorn's pid, the `LISTEN_FDS` "
     "sockets from fd 3 on are used instead of binding, and a `--bind` naming the same "
     "address or path is satisfied by the inherited socket (never bound again, never "
     "unlinked). The variables are removed from the environment of the workers and the "
     "application."},
    {"`NOTIFY_SOCKET`",
     "The master reports to systemd through it (sd_notify): `EXTEND_TIMEOUT_USEC=` while it "
     "starts, `READY=1` once the workers serve, `STATUS=`, `RELOADING=1` and `READY=1` "
     "around a HUP (for `Type=notify-reload`), `STOPPING=1` on TERM, INT and QUIT, "
     "`MAINPID=` after a USR2 upgrade."},
    {"`WATCHDOG_USEC`",
     "With `NOTIFY_SOCKET`, the master sends `WATCHDOG=1` within that interval while its "
     "workers heartbeat (systemd's `WatchdogSec=`)."},
    {"`GUNICORN_FD`, `GUNICORN_PID`",
     "Set by a master for the new master it starts on USR2: the listening sockets to adopt, "
     "and the old master's pid."},
};

static const entry_t signals[] = {
    {"TERM",
     "Graceful stop: the listeners are closed and each worker finishes the requests it has "
     "(up to `graceful_timeout` seconds, then KILL). With `shutdown_delay` the master first "
     "serves on for that many seconds; a second TERM does not wait."},
    {"INT, QUIT",
     "Quick stop: each worker gets QUIT and stops at once, running `worker_int`; what is left "
     "after `graceful_timeout` seconds gets KILL."},
    {"HUP", "Reload: re-read the configuration, reopen the logs and start new workers; the old "
            "ones serve until every new one has booted, and serve on if the new ones cannot boot."},
    {"TTIN, TTOU", "One worker more, or one fewer (the oldest stops; never below one)."},
    {"USR1", "Reopen the log files, in the master and every worker."},
    {"USR2", "Binary upgrade: run the same command line again as a new master beside the old one, "
             "sharing its listening sockets; then stop the old master (WINCH first when "
             "daemonized, to stop its workers, then TERM)."},
    {"WINCH", "When daemonized, stop the workers gracefully and keep the master."},
    {"", "The master sends ABRT to a worker whose heartbeat is older than `timeout`: it runs "
         "`worker_abort` and exits 1; a worker that still lives at the next check gets KILL. "
         "docs/signals.md has the details and the differences from Gunicorn."},
};

static const entry_t exit_status[] = {
    {"0", "Stopped by a signal, or `--check-config`/`--print-config`/`--help` succeeded."},
    {"1", "A bad setting, a configuration file that fails, a socket that cannot be bound, or "
          "an application that fails to load in `--check-config` or `--preload`."},
    {"2", "A command-line usage error: an unknown option, a missing argument, no APP_MODULE."},
    {"3", "A worker failed to boot (Gunicorn's WORKER_BOOT_ERROR)."},
    {"4", "A worker could not load the application (Gunicorn's APP_LOAD_ERROR)."},
};

static const entry_t files[] = {
    {"./cunicorn.conf.py, ./gunicorn.conf.py",
     "The configuration file read when `-c` is not given: the first of these that exists in "
     "the working directory."},
};

/* Plain text with `code` spans, as roff (the escaping rules are above). */
static void roff_text(FILE *out, const char *text)
{
    bool line_start = true, code = false;

    for (const char *p = text; *p != '\0'; p++) {
        if (line_start && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        line_start = *p == '\n';
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else if (*p == '`')
            fputs((code = !code) ? "\\fB" : "\\fR", out);
        else if (*p == ',' && p[1] != ' ' && p[1] != '\0')
            fputs(",\\:", out); /* a,b,c may break after a comma */
        else
            fputc(*p, out);
    }
    if (code)
        fputs("\\fR", out);
}

static void tagged(FILE *out, const char *tag, const char *text)
{
    fputs(tag[0] != '\0' ? ".TP\n" : ".PP\n", out);
    if (tag[0] != '\0') {
        roff_text(out, tag);
        fputc('\n', out);
    }
    roff_text(out, text);
    fputc('\n', out);
}

static void entries(FILE *out, const char *title, const entry_t *e, size_t n)
{
    fprintf(out, ".SH \"%s\"\n", title);
    for (size_t i = 0; i < n; i++)
        tagged(out, e[i].tag, e[i].text);
}

/* "\fB\-b\fR \fIADDRESS\fR, \fB\-\-bind\fR \fIADDRESS\fR" */
static void option_tag(FILE *out, const cn_setting_t *s)
{
    for (size_t f = 0; f < 3 && s->flags[f] != NULL; f++) {
        fputs(f > 0 ? ", \\fB" : "\\fB", out);
        roff_text(out, s->flags[f]);
        fputs("\\fR", out);
        if (s->meta != NULL)
            fprintf(out, " \\fI%s\\fR", s->meta);
    }
}

/* Flags, then the help paragraph, then one line: config-file name, default. */
static void option(FILE *out, const cn_setting_t *s, const cn_config_t *defaults)
{
    cn_buf_t dd = CN_BUF_INIT;

    fputs(".TP\n", out);
    if (s->flags[0] != NULL)
        option_tag(out, s);
    else
        fprintf(out, "\\fB%s\\fR (configuration file only)", s->name);
    fputc('\n', out);
    roff_text(out, s->help);
    fputs("\n.IP\n", out);
    cn_config_doc_default(&dd, s, defaults);
    cn_buf_append(&dd, "", 1);
    fprintf(out, "Setting \\fB%s\\fR; default: ", s->name);
    roff_text(out, dd.data);
    fputs(".\n", out);
    cn_buf_free(&dd);
}

static bool first_of_section(const cn_setting_t *rows, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(rows[j].section, rows[i].section) == 0)
            return false;
    return true;
}

static void options(FILE *out)
{
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    cn_config_t defaults;

    cn_config_init(&defaults);
    fputs(".SH OPTIONS\n", out);
    tagged(out, "`-h`, `--help`", "Show the options with their defaults, and exit.");
    tagged(out, "`-v`, `--version`", "Show the version, and exit.");
    for (size_t i = 0; i < n; i++) {
        if (!first_of_section(rows, i))
            continue;
        fprintf(out, ".SS \"%s\"\n", rows[i].section);
        for (size_t j = i; j < n; j++)
            if (strcmp(rows[j].section, rows[i].section) == 0)
                option(out, &rows[j], &defaults);
    }
    cn_config_free(&defaults);
}

static void config_file(FILE *out)
{
    fputs(".SH \"CONFIGURATION FILE\"\n.PP\n", out);
    roff_text(out, "A Python file run at start-up (and again on HUP); each top-level name that is "
                   "a setting sets it, as in `workers = 4` or `bind = ['unix:/run/app.sock']`. "
                   "Functions with these names are server hooks, called as Gunicorn calls "
                   "them: ");
    for (int h = 0; h < CN_HOOK_COUNT; h++) {
        fputs(h > 0 ? ", " : "", out);
        roff_text(out, "`");
        roff_text(out, cn_hook_name((enum cn_hook)h));
        roff_text(out, "`");
    }
    roff_text(out, ". Gunicorn settings cunicorn lacks are refused with one line saying why, or, "
                   "when they would change nothing a user can see, named in one warning.\n");
}

void cn_config_manpage(FILE *out)
{
    fputs(".\\\" Generated by cn_config_manpage() (src/core/manpage.c) from the settings table "
          "in\n"
          ".\\\" src/core/config.c; do not edit. Regenerate: CN_UPDATE_DOCS=1 "
          "build/tests/test_config\n",
          out);
    fprintf(out, ".TH CUNICORN 1 \"\" \"cunicorn %s\" \"User Commands\"\n", CN_VERSION);
    fputs(".nh\n.ad l\n" /* no hyphenation, ragged right: paths and names stay whole */
          ".SH NAME\n"
          "cunicorn \\- pre\\-fork WSGI HTTP server, a drop\\-in replacement for Gunicorn\n"
          ".SH SYNOPSIS\n"
          ".B cunicorn\n"
          "[\\fIOPTIONS\\fR] [\\fIAPP_MODULE\\fR]\n"
          ".SH DESCRIPTION\n",
          out);
    for (size_t i = 0; i < CN_ARRAY_LEN(description); i++)
        tagged(out, "", description[i]);
    options(out);
    config_file(out);
    entries(out, "ENVIRONMENT", environment, CN_ARRAY_LEN(environment));
    entries(out, "SIGNALS", signals, CN_ARRAY_LEN(signals));
    entries(out, "EXIT STATUS", exit_status, CN_ARRAY_LEN(exit_status));
    entries(out, "FILES", files, CN_ARRAY_LEN(files));
    fputs(".SH \"SEE ALSO\"\n"
          ".BR gunicorn (1),\n"
          ".BR systemd.socket (5),\n"
          ".BR sd_notify (3)\n"
          ".PP\n",
          out);
    roff_text(out, "In the source tree: docs/settings.md (every setting, and the Gunicorn "
                   "settings cunicorn lacks), docs/signals.md, docs/differences.md (where "
                   "cunicorn differs from Gunicorn) and docs/design.md.\n");
}
