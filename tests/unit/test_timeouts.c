/* test_timeouts.c - the worker's time limits from the settings, with the 0
 * and negative cases: one row per setting combination, every field checked. */
#include "cunicorn/timeouts.h"
#include "unit.h"

#include <stdlib.h>

#define IO_DEFAULT CN_TIMEOUTS_IO_DEFAULT
#define BEAT_MAX CN_TIMEOUTS_BEAT_MAX
#define LOOP CN_TIMEOUTS_LOOP_WRITE
#define STOP CN_TIMEOUTS_STOP_IDLE

static const struct timeouts_case {
    const char *name;
    int timeout, keepalive, graceful; /* the settings */
    cn_timeouts_t want;
} cases[] = {
    {"Gunicorn's defaults", 30, 2, 30, {30, 2, true, BEAT_MAX, 30, LOOP, STOP}},
    {"timeout 0 keeps a read limit", 0, 2, 30, {IO_DEFAULT, 2, true, BEAT_MAX, 30, LOOP, STOP}},
    {"negative timeout as 0", -5, 2, 30, {IO_DEFAULT, 2, true, BEAT_MAX, 30, LOOP, STOP}},
    /* without keep-alive, idle is a new connection's wait for its request */
    {"keepalive 0", 10, 0, 30, {10, 10, false, BEAT_MAX, 30, LOOP, STOP}},
    {"negative keepalive as 0", 10, -1, 30, {10, 10, false, BEAT_MAX, 30, LOOP, STOP}},
    {"both 0: never an immediate deadline", 0, 0, 30,
     {IO_DEFAULT, IO_DEFAULT, false, BEAT_MAX, 30, LOOP, STOP}},
    /* beats at least 4 times per timeout */
    {"timeout 1 beats often", 1, 2, 30, {1, 2, true, 0.25, 30, LOOP, STOP}},
    {"graceful 0", 30, 2, 0, {30, 2, true, BEAT_MAX, 0, LOOP, STOP}},
    {"negative graceful as 0", 30, 2, -3, {30, 2, true, BEAT_MAX, 0, LOOP, STOP}},
    {"graceful 7", 30, 2, 7, {30, 2, true, BEAT_MAX, 7, LOOP, STOP}},
    /* a stopping worker's idle wait is never longer than a running one's */
    {"timeout 1, no keep-alive", 1, 0, 30, {1, 1, false, 0.25, 30, LOOP, STOP}},
};

START_TEST(from_settings)
{
    const struct timeouts_case *tc = &cases[_i];
    cn_timeouts_t t = cn_timeouts_from_settings(tc->timeout, tc->keepalive, tc->graceful);
    ck_assert_msg(t.io == tc->want.io, "%s: io %g", tc->name, t.io);
    ck_assert_msg(t.idle == tc->want.idle, "%s: idle %g", tc->name, t.idle);
    ck_assert_msg(t.keepalive == tc->want.keepalive, "%s: keepalive", tc->name);
    ck_assert_msg(t.heartbeat == tc->want.heartbeat, "%s: heartbeat %g", tc->name, t.heartbeat);
    ck_assert_msg(t.graceful == tc->want.graceful, "%s: graceful %g", tc->name, t.graceful);
    ck_assert_msg(t.loop_write == tc->want.loop_write, "%s: loop_write", tc->name);
    ck_assert_msg(t.stop_idle == tc->want.stop_idle, "%s: stop_idle %g", tc->name, t.stop_idle);
    if (tc->timeout > 0) /* the master checks every `timeout`: two beats fit in it */
        ck_assert(t.heartbeat * 2 < tc->timeout);
}
END_TEST

static Suite *timeouts_suite(void)
{
    Suite *s = suite_create("timeouts");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, from_settings, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(timeouts_suite());
}
