/* test_log.c - error-log line format, access-log atoms, file sinks and reopen. */
#include "cunicorn/log.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WHEN 1795300516 /* 2026-11-21 22:35:16 UTC */

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static char *line_for(time_t when, enum cn_log_level lv, const char *msg)
{
    cn_buf_t b = CN_BUF_INIT;
    cn_log_format_line(&b, when, 4242, lv, msg, strlen(msg));
    cn_buf_append(&b, "", 1);
    return b.data;
}

START_TEST(error_line_format)
{
    char *s;
    set_tz("UTC");
    s = line_for(WHEN, CN_LOG_INFO, "Starting gunicorn 20.1.0");
    ck_assert_str_eq(s, "[2026-11-21 22:35:16 +0000] [4242] [INFO] Starting gunicorn 20.1.0\n");
    free(s);
    s = line_for(WHEN, CN_LOG_DEBUG, "a\nb");
    ck_assert_str_eq(s, "[2026-11-21 22:35:16 +0000] [4242] [DEBUG] a\nb\n");
    free(s);
}
END_TEST

START_TEST(error_line_levels_and_offsets)
{
    static const char *names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    char want[128], *s;
    set_tz("UTC");
    for (int i = 0; i < 5; i++) {
        s = line_for(WHEN, (enum cn_log_level)i, "m");
        snprintf(want, sizeof(want), "[2026-11-21 22:35:16 +0000] [4242] [%s] m\n", names[i]);
        ck_assert_str_eq(s, want);
        free(s);
    }
    set_tz("XYZ-5:30");
    s = line_for(WHEN, CN_LOG_ERROR, "m");
    ck_assert_str_eq(s, "[2026-11-22 04:05:16 +0530] [4242] [ERROR] m\n");
    free(s);
    set_tz("EST5");
    s = line_for(WHEN, CN_LOG_WARNING, "m");
    ck_assert_str_eq(s, "[2026-11-21 17:35:16 -0500] [4242] [WARNING] m\n");
    free(s);
}
END_TEST

START_TEST(level_parse)
{
    ck_assert_int_eq(cn_log_level_parse("debug"), CN_LOG_DEBUG);
    ck_assert_int_eq(cn_log_level_parse("INFO"), CN_LOG_INFO);
    ck_assert_int_eq(cn_log_level_parse("Warning"), CN_LOG_WARNING);
    ck_assert_int_eq(cn_log_level_parse("error"), CN_LOG_ERROR);
    ck_assert_int_eq(cn_log_level_parse("critical"), CN_LOG_CRITICAL);
    ck_assert_int_eq(cn_log_level_parse("warn"), CN_LOG_WARNING); /* Gunicorn takes it too */
    ck_assert_int_eq(cn_log_level_parse("warnings"), -1);
    ck_assert_int_eq(cn_log_level_parse(""), -1);
    ck_assert_int_eq(cn_log_level_parse(NULL), -1);
}
END_TEST

/* ---- access log ------------------------------------------------------------ */

static const char *const headers[][3] = {
    {"i", "authorization", "Basic dXNlcjpwYXNz"}, /* user:pass */
    {"i", "referer", "http://ref.example/"},
    {"i", "user-agent", "curl/8.0 \"quoted\""},
    {"i", "x-forwarded-for", "10.0.0.1"},
    {"o", "content-type", "text/plain"},
    {"e", "remote_port", "51234"},
};

static const char *auth_override;

static const char *lookup(void *ctx, char kind, const char *name, size_t name_len, size_t *len)
{
    ck_assert_ptr_eq(ctx, (void *)&headers);
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        if (headers[i][0][0] == kind && strlen(headers[i][1]) == name_len &&
            strncasecmp(headers[i][1], name, name_len) == 0) {
            const char *v = headers[i][2];
            if (auth_override != NULL && i == 0)
                v = auth_override;
            if (v == NULL)
                return NULL;
            *len = strlen(v);
            return v;
        }
    }
    return NULL;
}

static cn_access_entry_t entry(void)
{
    cn_access_entry_t e = {
        .remote_addr = "127.0.0.1",
        .method = "GET",
        .method_len = 3,
        .raw_uri = "/p/a?x=1",
        .raw_uri_len = 8,
        .path = "/p/a",
        .path_len = 4,
        .query = "x=1",
        .query_len = 3,
        .protocol = "HTTP/1.1",
        .status = 200,
        .sent = 1234,
        .when = WHEN,
        .duration = 1.5,
        .pid = 77,
        .lookup = lookup,
        .lookup_ctx = (void *)&headers,
    };
    return e;
}

static char *render(const char *fmt, const cn_access_entry_t *e)
{
    cn_buf_t b = CN_BUF_INIT;
    cn_access_log_format(&b, fmt, e);
    cn_buf_append(&b, "", 1);
    return b.data;
}

#define ck_render(fmt, e, want)                                                                    \
    do {                                                                                           \
        char *got_ = render(fmt, e);                                                               \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

START_TEST(access_atoms)
{
    cn_access_entry_t e = entry();
    set_tz("UTC");
    ck_render("%(h)s", &e, "127.0.0.1");
    ck_render("%(l)s", &e, "-");
    ck_render("%(u)s", &e, "user");
    ck_render("%(t)s", &e, "[21/Nov/2026:22:35:16 +0000]");
    ck_render("%(r)s", &e, "GET /p/a?x=1 HTTP/1.1");
    ck_render("%(s)s", &e, "200");
    ck_render("%(m)s", &e, "GET");
    ck_render("%(U)s", &e, "/p/a");
    ck_render("%(q)s", &e, "x=1");
    ck_render("%(H)s", &e, "HTTP/1.1");
    ck_render("%(b)s", &e, "1234");
    ck_render("%(B)s", &e, "1234");
    ck_render("%(f)s", &e, "http://ref.example/");
    ck_render("%(a)s", &e, "curl/8.0 \\\"quoted\\\"");
    ck_render("%(T)s", &e, "1");
    ck_render("%(D)s", &e, "1500000");
    ck_render("%(L)s", &e, "1.500000");
    ck_render("%(M)s", &e, "1500");
    ck_render("%(p)s", &e, "<77>");
    ck_render("%({x-forwarded-for}i)s", &e, "10.0.0.1");
    ck_render("%({X-Forwarded-For}i)s", &e, "10.0.0.1");
    ck_render("%({content-type}o)s", &e, "text/plain");
    ck_render("%({remote_port}e)s", &e, "51234");
    ck_render("%({missing}i)s %({missing}o)s %({missing}e)s", &e, "- - -");
}
END_TEST

START_TEST(access_sent_and_missing)
{
    cn_access_entry_t e = entry();
    e.sent = -1;
    ck_render("%(b)s %(B)s", &e, "- 0");
    e.sent = 0;
    ck_render("%(b)s %(B)s", &e, "0 0");
    e.duration = 0.000042;
    ck_render("%(T)s %(D)s %(L)s %(M)s", &e, "0 42 0.000042 0");
    e.duration = 62.0123456;
    ck_render("%(T)s %(D)s %(L)s %(M)s", &e, "62 62012346 62.012346 62012");
    e.remote_addr = NULL;
    e.lookup = NULL;
    ck_render("%(h)s %(u)s %(f)s %(a)s %({x}i)s", &e, "- - - - -");
}
END_TEST

START_TEST(access_user)
{
    cn_access_entry_t e = entry();
    auth_override = "basic dXNlcjpwYXNz";
    ck_render("%(u)s", &e, "user");
    auth_override = "Bearer abc";
    ck_render("%(u)s", &e, "-");
    auth_override = "Basic bm9jb2xvbg=="; /* "nocolon" */
    ck_render("%(u)s", &e, "-");
    auth_override = "Basic !!!";
    ck_render("%(u)s", &e, "-");
    auth_override = "Basic";
    ck_render("%(u)s", &e, "-");
    auth_override = "Basic OmVtcHR5"; /* ":empty" */
    ck_render("[%(u)s]", &e, "[]");
    auth_override = NULL;
}
END_TEST

START_TEST(access_default_format)
{
    cn_access_entry_t e = entry();
    set_tz("UTC");
    ck_render(NULL, &e,
              "127.0.0.1 - user [21/Nov/2026:22:35:16 +0000] \"GET /p/a?x=1 HTTP/1.1\" 200 1234 "
              "\"http://ref.example/\" \"curl/8.0 \\\"quoted\\\"\"");
    ck_render(CN_ACCESS_LOG_DEFAULT_FORMAT, &e,
              "127.0.0.1 - user [21/Nov/2026:22:35:16 +0000] \"GET /p/a?x=1 HTTP/1.1\" 200 1234 "
              "\"http://ref.example/\" \"curl/8.0 \\\"quoted\\\"\"");
}
END_TEST

START_TEST(access_format_syntax)
{
    cn_access_entry_t e = entry();
    ck_render("%(zz)s|%(Z)s|%()s", &e, "-|-|-");
    ck_render("100%% %(s)s", &e, "100% 200");
    ck_render("%(s)d %(D)d", &e, "200 1500000");
    ck_render("[%(s)6s][%(s)-6s]", &e, "[   200][200   ]");
    ck_render("plain text", &e, "plain text");
    ck_render("trailing %", &e, "trailing %");
    ck_render("%(h)", &e, "%(h)");
    ck_render("%(unclosed", &e, "%(unclosed");
    ck_render("", &e, "");
}
END_TEST

/* ---- sinks ----------------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(error_log_file_and_reopen)
{
    char dir[] = "/tmp/cn_logXXXXXX", path[256], rotated[256], err[CN_ERR_LEN];
    char *s;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/error.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/error.log.1", dir);

    ck_assert_int_eq(cn_log_open(path, CN_LOG_INFO, err), 0);
    ck_assert(cn_log_enabled(CN_LOG_INFO));
    ck_assert(!cn_log_enabled(CN_LOG_DEBUG));
    cn_log_info("first %d", 1);
    cn_log_debug("hidden");
    ck_assert_int_eq(rename(path, rotated), 0);
    cn_log_reopen();
    cn_log_error("second");
    cn_log_raw(CN_LOG_CRITICAL, "Traceback\n  line\n", 17);
    cn_log_close();

    s = slurp(rotated);
    ck_assert_ptr_nonnull(strstr(s, "] [INFO] first 1\n"));
    ck_assert_ptr_null(strstr(s, "hidden"));
    ck_assert_ptr_null(strstr(s, "second"));
    free(s);
    s = slurp(path);
    ck_assert_ptr_nonnull(strstr(s, "] [ERROR] second\n"));
    ck_assert_ptr_nonnull(strstr(s, "] [CRITICAL] Traceback\n  line\n"));
    ck_assert_ptr_null(strstr(s, "first"));
    ck_assert_ptr_null(strstr(s, "line\n\n"));
    free(s);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}
END_TEST

START_TEST(error_log_open_failure)
{
    char err[CN_ERR_LEN] = "";
    ck_assert_int_eq(cn_log_open("/nonexistent-dir/x.log", CN_LOG_INFO, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "Error: '/nonexistent-dir/x.log' isn't writable"));
    ck_assert_int_eq(cn_access_log_open("/nonexistent-dir/a.log", NULL, err), -1);
}
END_TEST

START_TEST(access_log_file)
{
    char dir[] = "/tmp/cn_logXXXXXX", path[256], rotated[256], err[CN_ERR_LEN];
    cn_access_entry_t e = entry();
    char *s;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);

    ck_assert(!cn_access_log_enabled());
    ck_assert_int_eq(cn_access_log_open(path, "%(s)s %(m)s", err), 0);
    ck_assert(cn_access_log_enabled());
    cn_access_log_write(&e);
    ck_assert_int_eq(rename(path, rotated), 0);
    cn_log_reopen();
    e.status = 404;
    cn_access_log_write(&e);
    ck_assert_int_eq(cn_access_log_open(NULL, NULL, err), 0);
    ck_assert(!cn_access_log_enabled());
    cn_access_log_write(&e); /* off: no crash, no output */

    s = slurp(rotated);
    ck_assert_str_eq(s, "200 GET\n");
    free(s);
    s = slurp(path);
    ck_assert_str_eq(s, "404 GET\n");
    free(s);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("error");
    tcase_add_test(tc, error_line_format);
    tcase_add_test(tc, error_line_levels_and_offsets);
    tcase_add_test(tc, level_parse);
    tcase_add_test(tc, error_log_file_and_reopen);
    tcase_add_test(tc, error_log_open_failure);
    suite_add_tcase(s, tc);
    tc = tcase_create("access");
    tcase_add_test(tc, access_atoms);
    tcase_add_test(tc, access_sent_and_missing);
    tcase_add_test(tc, access_user);
    tcase_add_test(tc, access_default_format);
    tcase_add_test(tc, access_format_syntax);
    tcase_add_test(tc, access_log_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(log_suite());
}
