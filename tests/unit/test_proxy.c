/* test_proxy.c - forwarded_allow_ips matching and secure scheme headers. */
#include "cunicorn/proxy.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static bool allowed(const char *list, const char *peer)
{
    cn_proxy_allow_t a;
    char err[CN_ERR_LEN];
    ck_assert_msg(cn_proxy_allow_parse(&a, list, err) == 0, "%s: %s", list, err);
    bool m = cn_proxy_allow_match(&a, peer);
    cn_proxy_allow_free(&a);
    return m;
}

START_TEST(allow_lists)
{
    ck_assert(allowed("127.0.0.1", "127.0.0.1"));
    ck_assert(!allowed("127.0.0.1", "127.0.0.2"));
    ck_assert(allowed("10.0.0.0/8, 192.168.1.1", "10.200.3.4"));
    ck_assert(allowed("10.0.0.0/8, 192.168.1.1", "192.168.1.1"));
    ck_assert(!allowed("10.0.0.0/8, 192.168.1.1", "11.0.0.1"));
    ck_assert(allowed("172.16.0.0/12", "172.31.255.255"));
    ck_assert(!allowed("172.16.0.0/12", "172.32.0.0"));
    ck_assert(allowed("::1", "::1"));
    ck_assert(allowed("fd00::/8", "fd12:3456::1"));
    ck_assert(!allowed("fd00::/8", "fe80::1"));
    ck_assert(!allowed("127.0.0.1", "::ffff:127.0.0.2"));
    ck_assert(allowed("*", "203.0.113.9"));
    ck_assert(allowed("", ""));             /* unix socket peers are local */
    ck_assert(!allowed("", "127.0.0.1"));   /* an empty list trusts no TCP peer */
    ck_assert(allowed(" 127.0.0.1 ,", "127.0.0.1"));
}
END_TEST

START_TEST(allow_list_errors)
{
    cn_proxy_allow_t a;
    char err[CN_ERR_LEN];
    const char *bad[] = {"localhost", "10.0.0.0/33", "::1/129", "1.2.3.4/x", "1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(cn_proxy_allow_parse(&a, bad[i], err) == -1, "%s accepted", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "'"));
    }
}
END_TEST

/* Parse a head and ask which scheme the headers claim. */
static int scheme_of(const char *head, bool *https)
{
    static const char *defaults =
        "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on";
    cn_scheme_headers_t sh;
    char err[CN_ERR_LEN];
    ck_assert_int_eq(cn_scheme_headers_parse(&sh, defaults, err), 0);
    cn_http_parser_t p;
    cn_http_request_t req;
    cn_http_limits_t limits = {4094, 100, 8190, 0};
    cn_http_parser_init(&p, &limits);
    cn_http_request_init(&req);
    ck_assert_int_eq(cn_http_parse_head(&p, &req, head, strlen(head)), CN_PARSE_DONE);
    int rc = cn_scheme_from_request(&sh, &req, head, https);
    cn_http_request_free(&req);
    cn_scheme_headers_free(&sh);
    return rc;
}

START_TEST(scheme_headers)
{
    bool https;
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &https), 0);
    ck_assert(!https);
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\n\r\n", &https), 0);
    ck_assert(https);
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nx-forwarded-proto: HTTPS\r\n\r\n", &https), 0);
    ck_assert(https);
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nX-Forwarded-Proto: http\r\n\r\n", &https), 0);
    ck_assert(!https);
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nX-Forwarded-Ssl: on\r\n"
                               "X-Forwarded-Proto: https\r\n\r\n", &https), 0);
    ck_assert(https);
    /* two headers that disagree: Gunicorn's InvalidSchemeHeaders */
    ck_assert_int_eq(scheme_of("GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\n"
                               "X-Forwarded-Ssl: off\r\n\r\n", &https), -1);
}
END_TEST

START_TEST(scheme_header_spec_errors)
{
    cn_scheme_headers_t sh;
    char err[CN_ERR_LEN];
    ck_assert_int_eq(cn_scheme_headers_parse(&sh, "X-A=1,NOEQUALS", err), -1);
    ck_assert_int_eq(cn_scheme_headers_parse(&sh, "=on", err), -1);
    ck_assert_int_eq(cn_scheme_headers_parse(&sh, "Bad Name=on", err), -1);
    ck_assert_int_eq(cn_scheme_headers_parse(&sh, "", err), 0);
    ck_assert_uint_eq(sh.n, 0);
    cn_scheme_headers_free(&sh);
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, allow_lists);
    tcase_add_test(tc, allow_list_errors);
    tcase_add_test(tc, scheme_headers);
    tcase_add_test(tc, scheme_header_spec_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(proxy_suite());
}
