/* metrics_text.c - cn_metrics_render (metrics_http.h): the exposition
 * formats. Metric names follow Prometheus' conventions (base units,
 * _total for counters), prefixed cunicorn_. */
#include "cunicorn/metrics_http.h"

#include <stdio.h>
#include <string.h>

static const char *const method_names[CN_METRICS_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"};
static const char *const refusal_names[CN_METRICS_REFUSALS] = {"400", "408", "413",
                                                               "414", "431", "other"};
static const char *const reason_names[CN_RESTART_REASONS] = {
    "max_requests", "memory", "timeout", "crash", "reload", "stuck"};

/* "# HELP" and "# TYPE" for a family; OpenMetrics names a counter's family
 * without its _total suffix. */
static void family(cn_buf_t *out, const char *name, const char *type, const char *help,
                   bool om)
{
    size_t len = strlen(name);
    if (om && strcmp(type, "counter") == 0 && len > 6 && strcmp(name + len - 6, "_total") == 0)
        len -= 6;
    cn_buf_appendf(out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, name, help, (int)len,
                   name, type);
}

static void histogram(cn_buf_t *out, const char *name, const char *help,
                      const cn_metrics_hist_t *h, bool om)
{
    family(out, name, "histogram", help, om);
    uint64_t cumulative = 0;
    for (int b = 0; b < CN_METRICS_BUCKETS; b++) {
        cumulative += h->counts[b];
        cn_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, cn_metrics_bounds[b],
                       (unsigned long long)cumulative);
    }
    cumulative += h->counts[CN_METRICS_BUCKETS];
    cn_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    cn_buf_appendf(out, "%s_sum %.9f\n%s_count %llu\n", name, (double)h->sum_ns / 1e9, name,
                   (unsigned long long)cumulative);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(cn_buf_t *out, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            cn_buf_appendf(out, "\\%c", *v);
        else if (*v == '\n')
            cn_buf_append_str(out, "\\n");
        else
            cn_buf_append(out, v, 1);
    }
}

void cn_metrics_render(cn_buf_t *out, const cn_metrics_scrape_t *s, bool om)
{
    const cn_metrics_counts_t *c = &s->counts;
    family(out, "cunicorn_requests_total", "counter",
           "Requests answered, by method and status class.", om);
    for (int m = 0; m < CN_METRICS_METHODS; m++)
        for (int k = 0; k < CN_METRICS_CLASSES; k++)
            if (c->requests[m][k] > 0 || (m == CN_M_GET && k == 1))
                cn_buf_appendf(out, "cunicorn_requests_total{method=\"%s\",status=\"%dxx\"} %llu\n",
                               method_names[m], k + 1, (unsigned long long)c->requests[m][k]);
    histogram(out, "cunicorn_request_duration_seconds",
              "Server time of a request: from its head read to its response sent.",
              &c->duration, om);
    histogram(out, "cunicorn_request_wait_seconds",
              "Time a read request waited for the app (thread pool, event loop).", &c->wait, om);
    family(out, "cunicorn_request_bytes_total", "counter", "Request bytes read.", om);
    cn_buf_appendf(out, "cunicorn_request_bytes_total %llu\n", (unsigned long long)c->bytes_in);
    family(out, "cunicorn_response_bytes_total", "counter", "Response bytes written.", om);
    cn_buf_appendf(out, "cunicorn_response_bytes_total %llu\n",
                   (unsigned long long)c->bytes_out);
    family(out, "cunicorn_requests_refused_total", "counter",
           "Requests refused before the app, by the status sent.", om);
    for (int r = 0; r < CN_METRICS_REFUSALS; r++)
        cn_buf_appendf(out, "cunicorn_requests_refused_total{status=\"%s\"} %llu\n",
                       refusal_names[r], (unsigned long long)c->refused[r]);
    family(out, "cunicorn_requests_in_flight", "gauge", "Requests being served.", om);
    cn_buf_appendf(out, "cunicorn_requests_in_flight %lld\n", (long long)c->in_flight);
    family(out, "cunicorn_keepalive_connections", "gauge",
           "Connections open between two requests.", om);
    cn_buf_appendf(out, "cunicorn_keepalive_connections %lld\n", (long long)c->keepalive);
    family(out, "cunicorn_workers", "gauge", "Worker processes alive.", om);
    cn_buf_appendf(out, "cunicorn_workers %zu\n", s->nworkers);
    family(out, "cunicorn_workers_busy", "gauge", "Workers serving at least one request.", om);
    cn_buf_appendf(out, "cunicorn_workers_busy %zu\n", s->busy);
    family(out, "cunicorn_worker_restarts_total", "counter",
           "Workers replaced by the master, by reason.", om);
    for (int r = 0; r < CN_RESTART_REASONS; r++)
        cn_buf_appendf(out, "cunicorn_worker_restarts_total{reason=\"%s\"} %llu\n",
                       reason_names[r], (unsigned long long)s->restarts[r]);
    family(out, "cunicorn_worker_memory_bytes", "gauge",
           "A worker's memory (PSS where the kernel has it, else RSS).", om);
    for (size_t i = 0; i < s->nworkers; i++)
        if (s->workers[i].rss_kb >= 0)
            cn_buf_appendf(out, "cunicorn_worker_memory_bytes{pid=\"%d\"} %lld\n",
                           (int)s->workers[i].pid, (long long)s->workers[i].rss_kb * 1024);
    family(out, "cunicorn_worker_heartbeat_age_seconds", "gauge",
           "Seconds since a worker's last heartbeat.", om);
    for (size_t i = 0; i < s->nworkers; i++)
        cn_buf_appendf(out, "cunicorn_worker_heartbeat_age_seconds{pid=\"%d\"} %.3f\n",
                       (int)s->workers[i].pid, s->workers[i].beat_age);
    family(out, "cunicorn_listen_queue", "gauge",
           "Connections waiting in a listener's accept queue (TCP only).", om);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].queued >= 0) {
            cn_buf_append_str(out, "cunicorn_listen_queue{listener=\"");
            label_value(out, s->listeners[i].url);
            cn_buf_appendf(out, "\"} %d\n", s->listeners[i].queued);
        }
    if (om)
        cn_buf_append_str(out, "# EOF\n");
}
