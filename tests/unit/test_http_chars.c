/* test_http_chars.c - the shared character classes of HTTP's grammar
 * (cunicorn/http_chars.h), checked byte by byte against the RFC text. */
#include "cunicorn/http_chars.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
START_TEST(test_tchar_is_exactly_the_rfc_set)
{
    const char *specials = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        bool want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c != 0 && memchr(specials, c, strlen(specials)) != NULL);
        ck_assert_msg(cn_http_is_tchar((unsigned char)c) == want, "byte 0x%02x", c);
    }
}
END_TEST

START_TEST(test_ows_and_ctl)
{
    for (int c = 0; c < 256; c++) {
        ck_assert(cn_http_is_ows((char)c) == (c == ' ' || c == '\t'));
        bool ctl = (c < 0x20 && c != '\t') || c == 0x7f;
        ck_assert_msg(cn_http_is_ctl((unsigned char)c) == ctl, "byte 0x%02x", c);
    }
}
END_TEST

START_TEST(test_hex_value)
{
    const char *digits = "0123456789abcdef", *upper = "0123456789ABCDEF";
    for (int c = 0; c < 256; c++) {
        const char *lo = c ? memchr(digits, c, 16) : NULL, *up = c ? memchr(upper, c, 16) : NULL;
        int want = lo ? (int)(lo - digits) : up ? (int)(up - upper) : -1;
        ck_assert_msg(cn_hex_value((unsigned char)c) == want, "byte 0x%02x", c);
    }
    for (int v = 0; v < 16; v++)
        ck_assert_int_eq(cn_hex_value((unsigned char)CN_HEX_DIGITS[v]), v);
}
END_TEST

START_TEST(test_trim_ows)
{
    struct {
        const char *in, *out;
    } cases[] = {{"", ""}, {" \t ", ""}, {"a", "a"}, {" \ta b\t ", "a b"}, {"x\t", "x"},
                 {"\r\nx", "\r\nx"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].in;
        size_t n = strlen(s);
        cn_http_trim_ows(&s, &n);
        ck_assert_uint_eq(n, strlen(cases[i].out));
        ck_assert_int_eq(memcmp(s, cases[i].out, n), 0);
    }
}
END_TEST

static Suite *http_chars_suite(void)
{
    Suite *s = suite_create("http_chars");
    TCase *tc = tcase_create("classes");
    tcase_add_test(tc, test_tchar_is_exactly_the_rfc_set);
    tcase_add_test(tc, test_ows_and_ctl);
    tcase_add_test(tc, test_hex_value);
    tcase_add_test(tc, test_trim_ows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(http_chars_suite());
}
