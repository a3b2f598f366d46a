/* test_http_response.c - byte-exact response heads, framing decisions,
 * status/header validation, chunk headers, Date and canned errors. The Date
 * we generate is dynamic: render() replaces it with "Date: DATE". */
#include "cunicorn/http.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define F(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static char rendered[4096];

/* Copies out into rendered, with our own 29-byte Date value replaced. */
static const char *render(const cn_buf_t *out)
{
    size_t j = 0;
    for (size_t i = 0; i < out->len && j < sizeof(rendered) - 16;) {
        if (i + 6 + 29 <= out->len && memcmp(out->data + i, "Date: ", 6) == 0 &&
            memcmp(out->data + i + 6 + 25, " GMT", 4) == 0) {
            memcpy(rendered + j, "Date: DATE", 10);
            j += 10;
            i += 6 + 29;
        } else {
            rendered[j++] = out->data[i++];
        }
    }
    rendered[j] = '\0';
    return rendered;
}

static const char *head(const char *status, const cn_http_field_t *fields, size_t n,
                        cn_http_framing_t *fr)
{
    cn_buf_t out = CN_BUF_INIT;
    int rc = cn_http_response_head(&out, status, strlen(status), fields, n, fr);
    ck_assert_int_eq(rc, 0);
    render(&out);
    cn_buf_free(&out);
    return rendered;
}

static cn_http_framing_t framing(uint8_t minor, bool head_req, bool may_ka, bool known,
                                 uint64_t length)
{
    cn_http_framing_t fr;
    memset(&fr, 0xa5, sizeof(fr)); /* outputs must all be written */
    fr.version_minor = minor;
    fr.head_request = head_req;
    fr.may_keep_alive = may_ka;
    fr.known_length = known;
    fr.length = length;
    return fr;
}

#define SD "Server: cunicorn\r\nDate: DATE\r\n"

START_TEST(test_app_content_length)
{
    cn_http_field_t f[] = {F("Content-Type", "text/plain"), F("Content-Length", "12")};
    cn_http_framing_t fr = framing(1, false, true, true, 99);
    ck_assert_str_eq(head("200 OK", f, 2, &fr), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                                "Content-Length: 12\r\n" SD
                                                "Connection: keep-alive\r\n\r\n");
    ck_assert(fr.has_length && fr.content_length == 12 && !fr.chunked && fr.keep_alive);
    ck_assert(fr.body_allowed && fr.status == 200);
}
END_TEST

START_TEST(test_known_length)
{
    cn_http_field_t f[] = {F("X-A", "1")};
    cn_http_framing_t fr = framing(1, false, true, true, 5);
    ck_assert_str_eq(head("200 OK", f, 1, &fr),
                     "HTTP/1.1 200 OK\r\nX-A: 1\r\n" SD
                     "Content-Length: 5\r\nConnection: keep-alive\r\n\r\n");
    ck_assert(fr.has_length && fr.content_length == 5 && !fr.chunked && fr.keep_alive);
}
END_TEST

START_TEST(test_chunked_http11)
{
    cn_http_framing_t fr = framing(1, false, true, false, 0);
    ck_assert_str_eq(head("201 Created", NULL, 0, &fr),
                     "HTTP/1.1 201 Created\r\n" SD
                     "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
    ck_assert(fr.chunked && !fr.has_length && fr.keep_alive && fr.status == 201);
}
END_TEST

START_TEST(test_close_delimited_http10)
{
    cn_http_framing_t fr = framing(0, false, true, false, 0);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Connection: close\r\n\r\n");
    ck_assert(!fr.chunked && !fr.has_length && !fr.keep_alive && fr.body_allowed);
    /* HTTP/1.0 with a known length keeps the connection when allowed */
    fr = framing(0, false, true, true, 3);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Content-Length: 3\r\nConnection: keep-alive\r\n"
                                              "\r\n");
    ck_assert(fr.keep_alive);
}
END_TEST

START_TEST(test_head_request)
{
    cn_http_framing_t fr = framing(1, true, true, false, 0);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Connection: keep-alive\r\n\r\n");
    ck_assert(!fr.body_allowed && !fr.chunked && !fr.has_length && fr.keep_alive);
    /* a known length is announced as GET would have */
    fr = framing(1, true, true, true, 42);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Content-Length: 42\r\nConnection: keep-alive\r\n"
                                              "\r\n");
    ck_assert(!fr.body_allowed && fr.has_length && fr.content_length == 42);
    /* HTTP/1.0 HEAD with unknown length is not close-delimited */
    fr = framing(0, true, true, false, 0);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Connection: keep-alive\r\n\r\n");
    /* the app's Content-Length is kept for HEAD */
    cn_http_field_t f[] = {F("Content-Length", "7")};
    fr = framing(1, true, true, false, 0);
    ck_assert_str_eq(head("200 OK", f, 1, &fr), "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n" SD
                                                "Connection: keep-alive\r\n\r\n");
    ck_assert(fr.has_length && fr.content_length == 7 && !fr.body_allowed);
}
END_TEST

START_TEST(test_no_body_statuses)
{
    static const char *const statuses[] = {"204 No Content", "304 Not Modified", "100 Continue",
                                           "101 Switching Protocols"};
    char want[256];
    for (size_t i = 0; i < CN_ARRAY_LEN(statuses); i++) {
        cn_http_framing_t fr = framing(1, false, true, true, 10);
        snprintf(want, sizeof(want), "HTTP/1.1 %s\r\n" SD "Connection: keep-alive\r\n\r\n",
                 statuses[i]);
        ck_assert_str_eq(head(statuses[i], NULL, 0, &fr), want);
        ck_assert(!fr.body_allowed && !fr.chunked && !fr.has_length && fr.keep_alive);
        fr = framing(0, false, true, false, 0);
        ck_assert_str_eq(head(statuses[i], NULL, 0, &fr), want);
    }
    /* an app Content-Length is dropped for 204 but kept for 304 */
    cn_http_field_t f[] = {F("Content-Length", "10"), F("ETag", "\"x\"")};
    cn_http_framing_t fr = framing(1, false, true, false, 0);
    ck_assert_str_eq(head("204 No Content", f, 2, &fr), "HTTP/1.1 204 No Content\r\n"
                                                        "ETag: \"x\"\r\n" SD
                                                        "Connection: keep-alive\r\n\r\n");
    ck_assert(!fr.has_length);
    fr = framing(1, false, true, false, 0);
    ck_assert_str_eq(head("304 Not Modified", f, 2, &fr),
                     "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n" SD
                     "Connection: keep-alive\r\n\r\n");
    ck_assert(fr.has_length && fr.content_length == 10 && !fr.body_allowed);
}
END_TEST

START_TEST(test_keep_alive_vs_close)
{
    cn_http_framing_t fr = framing(1, false, false, true, 0);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Content-Length: 0\r\nConnection: close\r\n\r\n");
    ck_assert(!fr.keep_alive);
    fr = framing(1, false, false, false, 0);
    ck_assert_str_eq(head("200 OK", NULL, 0, &fr),
                     "HTTP/1.1 200 OK\r\n" SD "Transfer-Encoding: chunked\r\nConnection: close\r\n"
                                              "\r\n");
    ck_assert(!fr.keep_alive && fr.chunked);
}
END_TEST

START_TEST(test_app_server_and_date)
{
    cn_http_field_t f[] = {F("server", "mine/1.0"), F("DATE", "app-date")};
    cn_http_framing_t fr = framing(1, false, true, true, 1);
    ck_assert_str_eq(head("200 OK", f, 2, &fr),
                     "HTTP/1.1 200 OK\r\nserver: mine/1.0\r\nDATE: app-date\r\n"
                     "Content-Length: 1\r\nConnection: keep-alive\r\n\r\n");
    cn_http_field_t g[] = {F("Server", "mine")};
    fr = framing(1, false, true, true, 1);
    ck_assert_str_eq(head("200 OK", g, 1, &fr),
                     "HTTP/1.1 200 OK\r\nServer: mine\r\nDate: DATE\r\n"
                     "Content-Length: 1\r\nConnection: keep-alive\r\n\r\n");
}
END_TEST

START_TEST(test_bad_status_writes_nothing)
{
    cn_buf_t out = CN_BUF_INIT;
    cn_http_framing_t fr = framing(1, false, true, true, 1);
    ck_assert_int_eq(cn_http_response_head(&out, "20 OK", 5, NULL, 0, &fr), -1);
    ck_assert_int_eq(cn_http_response_head(&out, "200 OK\r\nX: y", 12, NULL, 0, &fr), -1);
    ck_assert_uint_eq(out.len, 0);
    cn_buf_free(&out);
}
END_TEST

START_TEST(test_status_parse)
{
#define S(s) cn_http_status_parse(s, sizeof(s) - 1)
    ck_assert_int_eq(S("200 OK"), 200);
    ck_assert_int_eq(S("404 Not Found"), 404);
    ck_assert_int_eq(S("599 x\ty"), 599);
    ck_assert_int_eq(S("200 "), 200);
    ck_assert_int_eq(S("299 R\xc3\xa9sum\xc3\xa9"), 299);
    ck_assert_int_eq(S("200"), -1);
    ck_assert_int_eq(S("20 OK"), -1);
    ck_assert_int_eq(S("2000 OK"), -1);
    ck_assert_int_eq(S("200 OK\r\nX: y"), -1);
    ck_assert_int_eq(S("200 OK\n"), -1);
    ck_assert_int_eq(S("200 O\0K"), -1);
    ck_assert_int_eq(S("200 O\177K"), -1);
    ck_assert_int_eq(S("abc OK"), -1);
    ck_assert_int_eq(S("2x0 OK"), -1);
    ck_assert_int_eq(S("099 OK"), -1);
    ck_assert_int_eq(S("200\tOK"), -1);
    ck_assert_int_eq(S(" 200 OK"), -1);
    ck_assert_int_eq(S(""), -1);
#undef S
}
END_TEST

START_TEST(test_header_validation)
{
#define N(s) cn_http_header_name_valid(s, sizeof(s) - 1)
#define V(s) cn_http_header_value_valid(s, sizeof(s) - 1)
    ck_assert(N("Content-Type") && N("x") && N("!#$%&'*+-.^_`|~09azAZ"));
    ck_assert(!N("") && !N("X Y") && !N("X:") && !N("X\r\nY") && !N("X\0") && !N("a(b)"));
    ck_assert(!N("\"q\"") && !N("a/b") && !N("\xc3\xa9") && !N("X\t") && !N("{}"));
    ck_assert(V("") && V("text/html; charset=utf-8") && V("a\tb") && V(" x ") && V("caf\xc3\xa9"));
    ck_assert(!V("a\r\nSet-Cookie: x") && !V("a\rb") && !V("a\nb") && !V("a\0b"));
    ck_assert(!V("\001") && !V("\033[0m") && !V("x\177"));
#undef N
#undef V
}
END_TEST

START_TEST(test_hop_by_hop)
{
#define H(s) cn_http_header_is_hop_by_hop(s, sizeof(s) - 1)
    ck_assert(H("Connection") && H("keep-alive") && H("Proxy-Connection") && H("TE"));
    ck_assert(H("Trailer") && H("TRANSFER-ENCODING") && H("upgrade"));
    ck_assert(!H("Content-Length") && !H("Trailers") && !H("T") && !H("Connectio") && !H(""));
    ck_assert(!H("Upgrade-Insecure-Requests") && !H("Server"));
#undef H
}
END_TEST

START_TEST(test_chunk_header)
{
    char buf[20];
    ck_assert_uint_eq(cn_http_chunk_header(buf, 0), 3);
    ck_assert(memcmp(buf, "0\r\n", 3) == 0);
    ck_assert_uint_eq(cn_http_chunk_header(buf, 10), 3);
    ck_assert(memcmp(buf, "a\r\n", 3) == 0);
    ck_assert_uint_eq(cn_http_chunk_header(buf, 4096), 6);
    ck_assert(memcmp(buf, "1000\r\n", 6) == 0);
    ck_assert_uint_eq(cn_http_chunk_header(buf, SIZE_MAX), 18);
    ck_assert(memcmp(buf, "ffffffffffffffff\r\n", 18) == 0);
    ck_assert_str_eq(CN_HTTP_LAST_CHUNK, "0\r\n\r\n");
}
END_TEST

START_TEST(test_date)
{
    ck_assert_str_eq(cn_http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(cn_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_str_eq(cn_http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    ck_assert_str_eq(cn_http_date(1735689599), "Tue, 31 Dec 2024 23:59:59 GMT");
    /* cached per second: the same pointer, refreshed when the second changes */
    const char *a = cn_http_date(784111777);
    ck_assert_ptr_eq(a, cn_http_date(784111777));
    ck_assert_str_eq(cn_http_date(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
    ck_assert_uint_eq(strlen(cn_http_date(time(NULL))), 29);
}
END_TEST

START_TEST(test_reason)
{
    ck_assert_str_eq(cn_http_reason(200), "OK");
    ck_assert_str_eq(cn_http_reason(400), "Bad Request");
    ck_assert_str_eq(cn_http_reason(414), "URI Too Long");
    ck_assert_str_eq(cn_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(cn_http_reason(503), "Service Unavailable");
    ck_assert_str_eq(cn_http_reason(299), "Unknown");
}
END_TEST

START_TEST(test_error_response)
{
    cn_buf_t out = CN_BUF_INIT;
    const char *body = "<html><head><title>Bad Request</title></head>"
                       "<body><h1><p>Bad Request</p></h1></body></html>";
    char want[512];
    cn_http_error_response(&out, 400);
    snprintf(want, sizeof(want),
             "HTTP/1.1 400 Bad Request\r\nServer: cunicorn\r\nDate: DATE\r\nConnection: close\r\n"
             "Content-Type: text/html\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    ck_assert_str_eq(render(&out), want);
    cn_buf_reset(&out);
    cn_http_error_response(&out, 431);
    ck_assert_ptr_nonnull(strstr(render(&out), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    ck_assert_ptr_nonnull(strstr(rendered, "<title>Request Header Fields Too Large</title>"));
    cn_buf_free(&out);
}
END_TEST

static Suite *http_response_suite(void)
{
    Suite *s = suite_create("http_response");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, test_app_content_length);
    tcase_add_test(tc, test_known_length);
    tcase_add_test(tc, test_chunked_http11);
    tcase_add_test(tc, test_close_delimited_http10);
    tcase_add_test(tc, test_head_request);
    tcase_add_test(tc, test_no_body_statuses);
    tcase_add_test(tc, test_keep_alive_vs_close);
    tcase_add_test(tc, test_app_server_and_date);
    tcase_add_test(tc, test_bad_status_writes_nothing);
    suite_add_tcase(s, tc);
    tc = tcase_create("validation");
    tcase_add_test(tc, test_status_parse);
    tcase_add_test(tc, test_header_validation);
    tcase_add_test(tc, test_hop_by_hop);
    suite_add_tcase(s, tc);
    tc = tcase_create("misc");
    tcase_add_test(tc, test_chunk_header);
    tcase_add_test(tc, test_date);
    tcase_add_test(tc, test_reason);
    tcase_add_test(tc, test_error_response);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(http_response_suite());
}
