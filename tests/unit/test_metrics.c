/* test_metrics.c - the shared counters, their fold and sum, and the text
 * formats: buckets cumulative, _count matching, counters surviving their
 * worker, OpenMetrics' family names and # EOF. */
#include "cunicorn/metrics_http.h"

#include "unit.h"

#include <stdio.h>
#include <string.h>

#define HAS(text, s) ck_assert_msg(strstr(text, s) != NULL, "missing: %s", s)
#define LACKS(text, s) ck_assert_msg(strstr(text, s) == NULL, "unexpected: %s", s)

START_TEST(methods_by_name)
{
    ck_assert_int_eq(cn_metrics_method("GET", 3), CN_M_GET);
    ck_assert_int_eq(cn_metrics_method("OPTIONS", 7), CN_M_OPTIONS);
    ck_assert_int_eq(cn_metrics_method("GETX", 4), CN_M_OTHER);
    ck_assert_int_eq(cn_metrics_method("get", 3), CN_M_OTHER); /* methods are case-sensitive */
    ck_assert_int_eq(cn_metrics_method("", 0), CN_M_OTHER);
}
END_TEST

START_TEST(null_slot_is_off)
{
    cn_metrics_request(NULL, CN_M_GET, 200, 0.1);
    cn_metrics_bytes_out(NULL, 10);
    cn_metrics_refused(NULL, 400);
    cn_metrics_in_flight(NULL, 1);
    cn_metrics_bytes_in(NULL, 5);
    cn_metrics_wait(NULL, 0.1);
    cn_metrics_keepalive(NULL, 1);
}
END_TEST

START_TEST(fold_keeps_counters_of_exited_workers)
{
    cn_metrics_table_t *t = cn_metrics_table_new(4);
    ck_assert_ptr_nonnull(t);
    cn_metrics_counts_t gone, sum;
    memset(&gone, 0, sizeof(gone));
    size_t live[] = {0, 1};
    cn_metrics_request(&t->slots[0], CN_M_GET, 200, 0.0005);
    cn_metrics_request(&t->slots[0], CN_M_POST, 404, 0.2);
    cn_metrics_request(&t->slots[1], CN_M_GET, 503, 30);
    cn_metrics_bytes_out(&t->slots[0], 110);
    cn_metrics_bytes_out(&t->slots[1], 1);
    cn_metrics_in_flight(&t->slots[1], 1);
    cn_metrics_refused(&t->slots[1], 431);
    cn_metrics_refused(&t->slots[1], 418);
    cn_metrics_sum(&sum, &gone, t, live, 2);
    ck_assert_uint_eq(sum.requests[CN_M_GET][1], 1);
    ck_assert_uint_eq(sum.requests[CN_M_POST][3], 1);
    ck_assert_uint_eq(sum.requests[CN_M_GET][4], 1);
    ck_assert_uint_eq(sum.bytes_out, 111);
    ck_assert_int_eq(sum.in_flight, 1);
    ck_assert_uint_eq(sum.refused[CN_R_431], 1);
    ck_assert_uint_eq(sum.refused[CN_R_OTHER], 1);
    ck_assert_uint_eq(sum.duration.counts[0], 1);                  /* <= 1 ms */
    ck_assert_uint_eq(sum.duration.counts[CN_METRICS_BUCKETS], 1); /* 30 s: +Inf */

    /* worker 1 exits: its counters stay, its gauges go, its slot is clean */
    cn_metrics_fold(&gone, &t->slots[1]);
    size_t still[] = {0};
    cn_metrics_counts_t after;
    cn_metrics_sum(&after, &gone, t, still, 1);
    ck_assert_uint_eq(after.requests[CN_M_GET][4], 1);
    ck_assert_uint_eq(after.bytes_out, 111);
    ck_assert_int_eq(after.in_flight, 0);
    ck_assert_uint_eq(t->slots[1].requests[CN_M_GET][4], 0);
    cn_metrics_table_free(t);
}
END_TEST

static cn_metrics_scrape_t *sample(void)
{
    static cn_metrics_scrape_t s;
    memset(&s, 0, sizeof(s));
    cn_metrics_slot_t slot;
    memset(&slot, 0, sizeof(slot));
    for (int i = 0; i < 5; i++)
        cn_metrics_request(&slot, CN_M_GET, 200, 0.003 * i);
    s.counts = slot;
    s.nworkers = 2;
    s.workers[0].pid = 11;
    s.workers[0].rss_kb = 1000;
    s.workers[1].pid = 12;
    s.workers[1].rss_kb = -1;
    s.restarts[CN_RESTART_CRASH] = 3;
    s.nlisteners = 1;
    snprintf(s.listeners[0].url, sizeof(s.listeners[0].url), "http://127.0.0.1:8000");
    s.listeners[0].queued = 2;
    return &s;
}

START_TEST(text_format)
{
    cn_buf_t out = CN_BUF_INIT;
    cn_metrics_render(&out, sample(), false);
    cn_buf_append(&out, "", 1);
    const char *text = (const char *)out.data;
    HAS(text, "# TYPE cunicorn_requests_total counter\n");
    HAS(text, "cunicorn_requests_total{method=\"GET\",status=\"2xx\"} 5\n");
    /* 0, 3, 6, 9, 12 ms: cumulative buckets */
    HAS(text, "cunicorn_request_duration_seconds_bucket{le=\"0.001\"} 1\n");
    HAS(text, "cunicorn_request_duration_seconds_bucket{le=\"0.005\"} 2\n");
    HAS(text, "cunicorn_request_duration_seconds_bucket{le=\"0.01\"} 4\n");
    HAS(text, "cunicorn_request_duration_seconds_bucket{le=\"+Inf\"} 5\n");
    HAS(text, "cunicorn_request_duration_seconds_count 5\n");
    HAS(text, "cunicorn_request_duration_seconds_sum 0.030000000\n");
    HAS(text, "cunicorn_worker_restarts_total{reason=\"crash\"} 3\n");
    HAS(text, "cunicorn_worker_memory_bytes{pid=\"11\"} 1024000\n");
    LACKS(text, "cunicorn_worker_memory_bytes{pid=\"12\"}");
    HAS(text, "cunicorn_listen_queue{listener=\"http://127.0.0.1:8000\"} 2\n");
    LACKS(text, "# EOF");
    cn_buf_free(&out);
}
END_TEST

START_TEST(openmetrics_format)
{
    cn_buf_t out = CN_BUF_INIT;
    cn_metrics_render(&out, sample(), true);
    cn_buf_append(&out, "", 1);
    const char *text = (const char *)out.data;
    HAS(text, "# TYPE cunicorn_requests counter\n");
    HAS(text, "cunicorn_requests_total{method=\"GET\",status=\"2xx\"} 5\n");
    size_t len = strlen(text);
    ck_assert(len > 6 && strcmp(text + len - 6, "# EOF\n") == 0);
    cn_buf_free(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    CN_UNIT_ADD(tc, methods_by_name, null_slot_is_off, fold_keeps_counters_of_exited_workers,
                text_format, openmetrics_format);
    suite_add_tcase(s, tc);
    return cn_unit_run(s);
}
