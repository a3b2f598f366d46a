/* cli.c - command lines into cn_config_t, and the texts generated from the
 * settings table: --help, --print-config and docs/settings.md (manpage.c
 * writes docs/cunicorn.1 with cn_config_doc_default).
 *
 * Owns: argparse-compatible parsing of argv and $CUNICORN_CMD_ARGS (long
 * flags with "=value" or a separate value, unique prefixes of long flags,
 * short flags with attached or separate values, "--"), shell-like splitting
 * of the env string, and the output formats.
 * Must not: include Python.h, exit(), or print except to the FILE * it is
 * given. Values are stored only through cn_config_set (config.c). */
#include "cunicorn/buf.h"
#include "cunicorn/config.h"
#include "cunicorn/config_foreign.h"
#include "cunicorn/hooks.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* _source[] slot that records which source set app_uri */
#define APP_URI_SLOT (sizeof(((cn_config_t *)0)->_source) - 1)
#define HELP_COLUMN 24
#define HELP_WIDTH 78

typedef struct flag_match {
    const cn_setting_t *setting; /* NULL for --help / --version */
    const char *flag;            /* the canonical spelling that matched */
    int builtin;                 /* 'h' help, 'v' version, 0 = setting */
} flag_match_t;

typedef struct parse_state {
    cn_config_t *cfg;
    enum cn_source src;
    FILE *out;
    int *exit_code;
    char *err;
    cn_buf_t unknown; /* unrecognized arguments, space separated */
} parse_state_t;

static const char *cstr(cn_buf_t *b);
static void py_repr_str(cn_buf_t *b, const char *s);
static void format_value(cn_buf_t *b, const cn_config_t *cfg, const cn_setting_t *s);
static int find_long(const char *name, size_t len, flag_match_t *m, char *err);
static int find_short(char c, flag_match_t *m);
static bool looks_like_flag(const char *arg);
static const char *bare_value(const cn_setting_t *s);
static int apply_flag(parse_state_t *st, const flag_match_t *m, const char *value);
static int parse_one(parse_state_t *st, int argc, char **argv, int *i);
static int parse_args(parse_state_t *st, int argc, char **argv);
static int shell_split(const char *s, char ***out, int *argc, char *err);
static void invocation(cn_buf_t *b, const cn_setting_t *s, const char *sep);
static void help_summary(cn_buf_t *b, const cn_setting_t *s);
static void help_entry(FILE *out, const char *inv, const char *text);
static const char *described_default(const cn_setting_t *s);

/* ---- Python-like value rendering ---------------------------------------- */

/* The buffer's bytes as a C string (cn_buf_t is not NUL-terminated). */
static const char *cstr(cn_buf_t *b)
{
    cn_buf_reserve(b, 1);
    b->data[b->len] = '\0';
    return b->data;
}

/* repr() of a str: single quotes unless the text has ' and no " */
static void py_repr_str(cn_buf_t *b, const char *s)
{
    char q = strchr(s, '\'') != NULL && strchr(s, '"') == NULL ? '"' : '\'';
    cn_buf_append(b, &q, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == (unsigned char)q || *p == '\\')
            cn_buf_appendf(b, "\\%c", *p);
        else if (*p == '\n')
            cn_buf_append_str(b, "\\n");
        else if (*p == '\r')
            cn_buf_append_str(b, "\\r");
        else if (*p == '\t')
            cn_buf_append_str(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            cn_buf_appendf(b, "\\x%02x", *p);
        else
            cn_buf_append(b, p, 1);
    }
    cn_buf_append(b, &q, 1);
}

/* str() of the value as Gunicorn's Config.__str__ shows it */
static void format_value(cn_buf_t *b, const cn_config_t *cfg, const cn_setting_t *s)
{
    const void *field = (const char *)cfg + s->offset;
    const cn_strlist_t *l;

    switch (s->type) {
    case CN_T_INT:
        cn_buf_appendf(b, "%d", *(const int *)field);
        break;
    case CN_T_BOOL:
        cn_buf_append_str(b, *(const bool *)field ? "True" : "False");
        break;
    case CN_T_STR:
        cn_buf_append_str(b, *(char *const *)field != NULL ? *(char *const *)field : "None");
        break;
    case CN_T_LIST:
        l = field;
        cn_buf_append(b, "[", 1);
        for (size_t i = 0; i < l->n; i++) {
            if (i > 0)
                cn_buf_append(b, ", ", 2);
            py_repr_str(b, l->items[i]);
        }
        cn_buf_append(b, "]", 1);
        break;
    }
}

static int cmp_setting_name(const void *a, const void *b)
{
    return strcmp((*(const cn_setting_t *const *)a)->name, (*(const cn_setting_t *const *)b)->name);
}

void cn_config_print(const cn_config_t *cfg, FILE *out)
{
    size_t n, width = 0;
    const cn_setting_t *rows = cn_settings(&n);
    const cn_setting_t **sorted = cn_xcalloc(n, sizeof(*sorted));
    cn_buf_t b = CN_BUF_INIT;

    for (size_t i = 0; i < n; i++) {
        sorted[i] = &rows[i];
        if (strlen(rows[i].name) > width)
            width = strlen(rows[i].name);
    }
    qsort(sorted, n, sizeof(*sorted), cmp_setting_name);
    for (size_t i = 0; i < n; i++) {
        cn_buf_appendf(&b, "%-*s = ", (int)width, sorted[i]->name);
        format_value(&b, cfg, sorted[i]);
        cn_buf_append(&b, "\n", 1);
    }
    fwrite(b.data, 1, b.len, out);
    cn_buf_free(&b);
    free(sorted);
}

/* ---- argument parsing --------------------------------------------------- */

/* Exact long flag, else a unique prefix (argparse's allow_abbrev). */
static int find_long(const char *name, size_t len, flag_match_t *m, char *err)
{
    static const char *const builtins[] = {"--help", "--version"};
    size_t n, hits = 0;
    const cn_setting_t *rows = cn_settings(&n);
    cn_buf_t cand = CN_BUF_INIT;

    for (int exact = 1; exact >= 0 && hits == 0; exact--) {
        for (size_t i = 0; i < CN_ARRAY_LEN(builtins); i++) {
            if (strncmp(builtins[i], name, len) == 0 && (!exact || builtins[i][len] == '\0')) {
                *m = (flag_match_t){NULL, builtins[i], builtins[i][2]};
                cn_buf_appendf(&cand, "%s%s", hits++ ? ", " : "", builtins[i]);
            }
        }
        for (size_t r = 0; r < n; r++) {
            for (size_t f = 0; f < 3 && rows[r].flags[f] != NULL; f++) {
                const char *fl = rows[r].flags[f];
                if (fl[1] != '-' || strncmp(fl, name, len) != 0 || (exact && fl[len] != '\0'))
                    continue;
                *m = (flag_match_t){&rows[r], fl, 0};
                cn_buf_appendf(&cand, "%s%s", hits++ ? ", " : "", fl);
            }
        }
    }
    if (hits > 1)
        cn_err(err, "ambiguous option: %.*s could match %s", (int)len, name, cstr(&cand));
    cn_buf_free(&cand);
    return hits == 1 ? 0 : hits == 0 ? -1 : -2;
}

static int find_short(char c, flag_match_t *m)
{
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);

    if (c == 'h' || c == 'v') {
        *m = (flag_match_t){NULL, c == 'h' ? "-h" : "-v", c};
        return 0;
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t f = 0; f < 3 && rows[r].flags[f] != NULL; f++) {
            if (rows[r].flags[f][1] == c && rows[r].flags[f][2] == '\0') {
                *m = (flag_match_t){&rows[r], rows[r].flags[f], 0};
                return 0;
            }
        }
    }
    return -1;
}

/* argparse takes "-" and negative numbers as values, anything else starting
 * with '-' as an option. */
/* Flags whose argument is optional, as Gunicorn 24's --proxy-protocol
 * [MODE]: the value they take when given bare, else NULL. */
static const char *bare_value(const cn_setting_t *s)
{
    static const struct {
        const char *name, *bare;
    } optional[] = {{"proxy_protocol", "auto"}};
    for (size_t k = 0; k < CN_ARRAY_LEN(optional); k++)
        if (strcmp(s->name, optional[k].name) == 0)
            return optional[k].bare;
    return NULL;
}

static bool looks_like_flag(const char *arg)
{
    if (arg[0] != '-' || arg[1] == '\0')
        return false;
    if (isdigit((unsigned char)arg[1]) || (arg[1] == '.' && isdigit((unsigned char)arg[2])))
        return false;
    return true;
}

/* "-w/--workers" as argparse names an option in its errors */
static void flag_names(cn_buf_t *b, const cn_setting_t *s)
{
    for (size_t f = 0; f < 3 && s->flags[f] != NULL; f++)
        cn_buf_appendf(b, "%s%s", f ? "/" : "", s->flags[f]);
}

static int apply_flag(parse_state_t *st, const flag_match_t *m, const char *value)
{
    if (m->builtin == 'h') {
        cn_config_help(st->out);
        return 1;
    }
    if (m->builtin == 'v') {
        fprintf(st->out, "cunicorn (version %s)\n", CN_VERSION);
        return 1;
    }
    if (cn_config_set(st->cfg, m->setting->name, value, st->src, st->err) != 0) {
        *st->exit_code = 1;
        return -1;
    }
    return 0;
}

static int usage_error(parse_state_t *st, const cn_setting_t *s, const char *what)
{
    cn_buf_t b = CN_BUF_INIT;
    flag_names(&b, s);
    cn_err(st->err, "argument %s: %s", cstr(&b), what);
    cn_buf_free(&b);
    *st->exit_code = 2;
    return -1;
}

/* A Gunicorn flag cunicorn lacks (config_foreign.h): its value consumed as
 * argparse would, then refused or recorded as ignored. */
static int parse_foreign(parse_state_t *st, const cn_foreign_setting_t *f, int argc, char **argv,
                         int *i, const char *value)
{
    cn_buf_t repr = CN_BUF_INIT;
    int rc;
    if (f->takes_value && value == NULL) {
        if (*i + 1 >= argc || looks_like_flag(argv[*i + 1])) {
            *st->exit_code = 2;
            return cn_err(st->err, "argument %s: expected one argument", argv[*i]);
        }
        value = argv[++*i];
    }
    if (f->takes_value)
        py_repr_str(&repr, value);
    else
        cn_buf_append_str(&repr, "True");
    rc = cn_config_foreign(st->cfg, f, cstr(&repr), st->err);
    cn_buf_free(&repr);
    if (rc < 0)
        *st->exit_code = 1;
    return rc;
}

/* One option (and its value) at argv[*i]; advances *i past a separate value. */
static int parse_one(parse_state_t *st, int argc, char **argv, int *i)
{
    const char *arg = argv[*i], *eq = NULL, *value = NULL;
    flag_match_t m;
    int rc;

    /* exact Gunicorn spellings first, so none is taken for a prefix of ours */
    size_t flag_len = arg[1] == '-' && strchr(arg, '=') ? (size_t)(strchr(arg, '=') - arg)
                      : arg[1] == '-'                   ? strlen(arg)
                                                        : 2;
    const cn_foreign_setting_t *f = cn_foreign_find_flag(arg, flag_len);
    if (f != NULL) {
        if (arg[flag_len] != '\0')
            value = arg + flag_len + (arg[flag_len] == '=' ? 1 : 0);
        if (!f->takes_value && value != NULL) {
            *st->exit_code = 2;
            return cn_err(st->err, "argument %.*s: ignored explicit argument '%s'", (int)flag_len,
                          arg, value);
        }
        return parse_foreign(st, f, argc, argv, i, value);
    }
    if (arg[1] == '-') {
        eq = strchr(arg, '=');
        rc = find_long(arg, eq ? (size_t)(eq - arg) : strlen(arg), &m, st->err);
        if (rc == -2) {
            *st->exit_code = 2;
            return -1;
        }
        value = eq ? eq + 1 : NULL;
    } else {
        rc = find_short(arg[1], &m);
        if (rc == 0 && arg[2] != '\0')
            value = arg[2] == '=' ? arg + 3 : arg + 2;
    }
    if (rc != 0) {
        cn_buf_appendf(&st->unknown, "%s%s", st->unknown.len ? " " : "", arg);
        return 0;
    }
    if (m.builtin != 0 || m.setting->type == CN_T_BOOL) {
        if (value != NULL) {
            char what[CN_ERR_LEN];
            snprintf(what, sizeof(what), "ignored explicit argument '%s'", value);
            if (m.builtin != 0) {
                *st->exit_code = 2;
                return cn_err(st->err, "argument %s: %s",
                              m.builtin == 'h' ? "-h/--help" : "-v/--version", what);
            }
            return usage_error(st, m.setting, what);
        }
        /* Gunicorn's --no-X flags (--no-sendfile) turn their setting off */
        return apply_flag(st, &m, strncmp(arg, "--no-", 5) == 0 ? "false" : "true");
    }
    const char *bare = value == NULL ? bare_value(m.setting) : NULL;
    if (bare != NULL) { /* an optional argument: the next one only if valid */
        char ignored[CN_ERR_LEN];
        bool next_is_value = *i + 1 < argc && !looks_like_flag(argv[*i + 1]) &&
                             m.setting->validate(argv[*i + 1], ignored) == 0;
        value = next_is_value ? argv[++*i] : bare;
    }
    if (value == NULL) {
        if (*i + 1 >= argc || looks_like_flag(argv[*i + 1]))
            return usage_error(st, m.setting, "expected one argument");
        value = argv[++*i];
    }
    return apply_flag(st, &m, value);
}

static int parse_args(parse_state_t *st, int argc, char **argv)
{
    bool only_positional = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
        } else if (!only_positional && looks_like_flag(arg)) {
            rc = parse_one(st, argc, argv, &i);
            if (rc != 0)
                return rc;
        } else if (st->src == CN_SRC_CLI && st->cfg->app_uri == NULL) {
            /* Gunicorn takes args[0]; positionals from other sources are ignored */
            st->cfg->app_uri = cn_xstrdup(arg);
            st->cfg->_source[APP_URI_SLOT] = (unsigned char)st->src;
        }
    }
    if (st->unknown.len > 0) {
        *st->exit_code = 2;
        return cn_err(st->err, "unrecognized arguments: %s", cstr(&st->unknown));
    }
    return 0;
}

int cn_config_parse_argv(cn_config_t *cfg, int argc, char **argv, enum cn_source src, FILE *out,
                         int *exit_code, char *err)
{
    parse_state_t st = {cfg, src, out, exit_code, err, CN_BUF_INIT};
    int rc;

    *exit_code = 0;
    rc = parse_args(&st, argc, argv);
    cn_buf_free(&st.unknown);
    return rc;
}

/* ---- $CUNICORN_CMD_ARGS ------------------------------------------------- */

/* Python's shlex.split (POSIX mode, no comments): whitespace separates
 * words; '...' is literal; "..." allows \ to escape \ " $ ` and newline;
 * outside quotes \ escapes any character. */
static int shell_split(const char *s, char ***out, int *argc, char *err)
{
    cn_buf_t word = CN_BUF_INIT;
    bool in_word = false;
    char quote = 0;
    int n = 1;
    char **v = cn_xcalloc(strlen(s) + 2, sizeof(*v));

    v[0] = cn_xstrdup("cunicorn");
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '\0' && quote != 0)
            goto fail;
        if (quote == '\'' && c != '\'') {
            cn_buf_append(&word, p, 1);
        } else if (quote == '"' && c == '\\' && p[1] != '\0' && strchr("\\\"$`\n", p[1])) {
            cn_buf_append(&word, ++p, 1);
        } else if (quote != 0 && c == quote) {
            quote = 0;
        } else if (quote == '"') {
            cn_buf_append(&word, p, 1);
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == '\\') {
            if (p[1] == '\0')
                goto fail;
            cn_buf_append(&word, ++p, 1);
            in_word = true;
        } else if (c == '\0' || isspace((unsigned char)c)) {
            if (in_word)
                v[n++] = cn_xstrndup(word.data != NULL ? word.data : "", word.len);
            cn_buf_reset(&word);
            in_word = false;
            if (c == '\0')
                break;
        } else {
            cn_buf_append(&word, p, 1);
            in_word = true;
        }
    }
    cn_buf_free(&word);
    *out = v;
    *argc = n;
    return 0;
fail:
    cn_buf_free(&word);
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return cn_err(err, quote != 0 ? "No closing quotation" : "No escaped character");
}

int cn_config_parse_env_args(cn_config_t *cfg, const char *args, int *exit_code, char *err)
{
    char **argv = NULL;
    int argc = 0, rc;

    *exit_code = 0;
    if (args == NULL)
        return 0;
    if (shell_split(args, &argv, &argc, err) != 0) {
        *exit_code = 1;
        return -1;
    }
    rc = cn_config_parse_argv(cfg, argc, argv, CN_SRC_ENV, stdout, exit_code, err);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
    return rc;
}

/* ---- --help ------------------------------------------------------------- */

/* "-b ADDRESS, --bind ADDRESS" */
static void invocation(cn_buf_t *b, const cn_setting_t *s, const char *sep)
{
    for (size_t f = 0; f < 3 && s->flags[f] != NULL; f++) {
        cn_buf_appendf(b, "%s%s", f ? sep : "", s->flags[f]);
        if (s->meta != NULL)
            cn_buf_appendf(b, " %s", s->meta);
    }
}

/* The first sentence of the help paragraph. */
static void help_summary(cn_buf_t *b, const cn_setting_t *s)
{
    const char *end = strstr(s->help, ". ");
    size_t n = end != NULL ? (size_t)(end - s->help) + 1 : strlen(s->help);
    cn_buf_append(b, s->help, n);
}

/* argparse layout: invocation at column 2, help at column 24 wrapped to 78. */
static void help_entry(FILE *out, const char *inv, const char *text)
{
    size_t col = 2 + strlen(inv);
    const char *p = text;

    fprintf(out, "  %s", inv);
    if (col + 2 > HELP_COLUMN) {
        fputc('\n', out);
        col = 0;
    }
    fprintf(out, "%*s", (int)(HELP_COLUMN - col), "");
    while (*p != '\0') {
        size_t room = HELP_WIDTH - HELP_COLUMN, n = strlen(p), cut = n;
        if (n > room) {
            for (cut = room; cut > 0 && p[cut] != ' '; cut--)
                ;
            if (cut == 0)
                for (cut = room; p[cut] != '\0' && p[cut] != ' '; cut++)
                    ;
        }
        fprintf(out, "%.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
        if (*p != '\0')
            fprintf(out, "%*s", HELP_COLUMN, "");
    }
}

void cn_config_help(FILE *out)
{
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    cn_config_t defaults;

    cn_config_init(&defaults);
    fprintf(out, "%s\n\noptions:\n", CN_CONFIG_USAGE);
    help_entry(out, "-h, --help", "show this help message and exit");
    help_entry(out, "-v, --version", "show program's version number and exit");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].flags[0] == NULL)
            continue; /* set in the config file only */
        cn_buf_t inv = CN_BUF_INIT, text = CN_BUF_INIT;
        invocation(&inv, &rows[i], ", ");
        help_summary(&text, &rows[i]);
        cn_buf_append(&text, " [", 2);
        format_value(&text, &defaults, &rows[i]);
        cn_buf_append(&text, "]", 1);
        help_entry(out, cstr(&inv), cstr(&text));
        cn_buf_free(&inv);
        cn_buf_free(&text);
    }
    cn_config_free(&defaults);
}

/* ---- docs/settings.md --------------------------------------------------- */

/* Defaults that depend on the machine or the environment are described,
 * not computed, so the generated files are the same everywhere. */
static const char *described_default(const cn_setting_t *s)
{
    if (strcmp(s->name, "bind") == 0)
        return "`['127.0.0.1:8000']`, or `['0.0.0.0:$PORT']` when `$PORT` is set";
    if (strcmp(s->name, "workers") == 0)
        return "`auto`: `$WEB_CONCURRENCY` if set, else `(2 x usable CPUs) + 1`";
    if (strcmp(s->name, "chdir") == 0)
        return "the directory cunicorn was started in";
    return NULL;
}

void cn_config_doc_default(cn_buf_t *b, const cn_setting_t *s, const cn_config_t *defaults)
{
    const char *dd = described_default(s);
    if (dd != NULL) {
        cn_buf_append_str(b, dd);
        return;
    }
    cn_buf_append(b, "`", 1);
    format_value(b, defaults, s);
    cn_buf_append(b, "`", 1);
}

static void markdown_setting(FILE *out, const cn_setting_t *s, const cn_config_t *defaults)
{
    cn_buf_t b = CN_BUF_INIT;

    fprintf(out, "### `%s`\n\n", s->name);
    if (s->flags[0] != NULL) {
        cn_buf_append_str(&b, "`");
        invocation(&b, s, "`, `");
        cn_buf_append_str(&b, "`");
    } else {
        cn_buf_append_str(&b, "none (config file only)");
    }
    fprintf(out, "**Command line:** %s\n\n", cstr(&b));
    cn_buf_reset(&b);
    cn_config_doc_default(&b, s, defaults);
    fprintf(out, "**Default:** %s\n\n%s\n\n", cstr(&b), s->help);
    cn_buf_free(&b);
}

/* The Gunicorn settings of config_foreign.c, as a table. */
static void markdown_foreign(FILE *out)
{
    size_t n;
    const cn_foreign_setting_t *rows = cn_foreign_settings(&n);
    fprintf(out, "## Gunicorn settings cunicorn lacks\n\n"
                 "| Setting | Command line | State | Why |\n"
                 "|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "| `%s` | ", rows[i].name);
        for (size_t f = 0; f < 3 && rows[i].flags[f] != NULL; f++)
            fprintf(out, "%s`%s`", f ? ", " : "", rows[i].flags[f]);
        fprintf(out, " | %s | %s |\n",
                rows[i].state == CN_FOREIGN_REFUSED ? "refused" : "ignored", rows[i].reason);
    }
}

void cn_config_markdown(FILE *out)
{
    static const char *const sections[] = {
        "Config File", "Debugging",        "Logging",       "Process Naming",
        "Security",    "Server Mechanics", "Server Socket", "Worker Processes",
    };
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    cn_config_t defaults;

    cn_config_init(&defaults);
    fprintf(out, "# Settings\n\n"
                 "<!-- Generated by cn_config_markdown() from the table in src/core/config.c; "
                 "do not edit. -->\n\n"
                 "Each setting can come from, in increasing order of precedence: its default, "
                 "the config file, `$GUNICORN_CMD_ARGS`, `$CUNICORN_CMD_ARGS`, and the command "
                 "line. A list setting given by a higher source replaces the whole list.\n\n"
                 "Every other Gunicorn setting is listed under *Gunicorn settings cunicorn "
                 "lacks* at the end: refused ones stop the server at start-up with a one-line "
                 "error; ignored ones have no effect a user can see in cunicorn and are named "
                 "in one warning line at start-up. A lacking setting given with its Gunicorn "
                 "default (`preload_app = False`) is accepted.\n\n");
    for (size_t k = 0; k < CN_ARRAY_LEN(sections); k++) {
        fprintf(out, "## %s\n\n", sections[k]);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].section, sections[k]) == 0)
                markdown_setting(out, &rows[i], &defaults);
        }
    }
    cn_config_free(&defaults);
    fprintf(out, "## Server Hooks\n\n"
                 "Functions of these names in the config file are called as Gunicorn calls "
                 "them, with the same arguments (server, worker: `pid`, `ppid`, `age`, `cfg`, "
                 "`log`, `alive`, `booted`, `num_workers`): ");
    for (int h = 0; h < CN_HOOK_COUNT; h++)
        fprintf(out, "%s`%s`", h ? ", " : "", cn_hook_name((enum cn_hook)h));
    fprintf(out, ". An exception in a master hook is logged with its traceback and the master "
                 "goes on; in `post_fork` or `post_worker_init` it is a worker boot error "
                 "(exit 3); in `pre_request` the request fails with 500; in `post_request` "
                 "it is logged. `req` has `method`, `uri`, `path`, `query`, `fragment`, "
                 "`version`, `headers` (upper-cased names), `scheme`, `remote_addr`; `resp` "
                 "has `status`, `status_code`, `headers`, `response_length`, `sent`. "
                 "`worker_abort` runs when the master sends ABRT to a worker whose heartbeat "
                 "stopped; the worker then exits 1.\n\n");
    markdown_foreign(out);
}
