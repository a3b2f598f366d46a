/* test_timeouts.c - the worker's time limits from the settings, with the 0
 * and negative cases. */
#include "cunicorn/timeouts.h"

#include <check.h>
#include <stdlib.h>

START_TEST(defaults)
{
    /* Gunicorn's defaults: timeout 30, keepalive 2, graceful_timeout 30 */
    cn_timeouts_t t = cn_timeouts_from_settings(30, 2, 30);
    ck_assert_double_eq(t.io, 30);
    ck_assert(t.keepalive);
    ck_assert_double_eq(t.idle, 2);
    ck_assert_double_eq(t.heartbeat, CN_TIMEOUTS_BEAT_MAX);
    ck_assert_double_eq(t.graceful, 30);
    ck_assert_double_eq(t.loop_write, CN_TIMEOUTS_LOOP_WRITE);
}
END_TEST

START_TEST(timeout_zero_or_negative_keeps_a_read_limit)
{
    for (int v = -5; v <= 0; v++) {
        cn_timeouts_t t = cn_timeouts_from_settings(v, 2, 30);
        ck_assert_double_eq(t.io, CN_TIMEOUTS_IO_DEFAULT);
        ck_assert_double_eq(t.idle, 2);
        ck_assert_double_eq(t.heartbeat, CN_TIMEOUTS_BEAT_MAX);
    }
}
END_TEST

START_TEST(keepalive_off)
{
    for (int v = -1; v <= 0; v++) {
        cn_timeouts_t t = cn_timeouts_from_settings(10, v, 30);
        ck_assert(!t.keepalive);
        ck_assert_double_eq(t.idle, 10); /* a new connection's first request */
    }
    /* both off: never an immediate deadline */
    cn_timeouts_t t = cn_timeouts_from_settings(0, 0, 30);
    ck_assert(!t.keepalive);
    ck_assert_double_eq(t.io, CN_TIMEOUTS_IO_DEFAULT);
    ck_assert_double_eq(t.idle, CN_TIMEOUTS_IO_DEFAULT);
}
END_TEST

START_TEST(short_timeout_beats_often)
{
    cn_timeouts_t t = cn_timeouts_from_settings(1, 2, 30);
    ck_assert_double_eq(t.io, 1);
    ck_assert_double_eq(t.heartbeat, 0.25);
    ck_assert(t.heartbeat * 2 < 1);
}
END_TEST

START_TEST(graceful_zero_and_negative)
{
    ck_assert_double_eq(cn_timeouts_from_settings(30, 2, 0).graceful, 0);
    ck_assert_double_eq(cn_timeouts_from_settings(30, 2, -3).graceful, 0);
    ck_assert_double_eq(cn_timeouts_from_settings(30, 2, 7).graceful, 7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeouts");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, timeout_zero_or_negative_keeps_a_read_limit);
    tcase_add_test(tc, keepalive_off);
    tcase_add_test(tc, short_timeout_beats_often);
    tcase_add_test(tc, graceful_zero_and_negative);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
