/* metrics_http.h - the master's GET /metrics endpoint (--metrics-bind).
 *
 * Owns: the exporter thread of the master, its listener (never one of the
 * app's: the endpoint never serves the app), the small HTTP/1.x reading it
 * does (GET or HEAD /metrics; 400, 404, 405 otherwise), what the arbiter
 * publishes for it (cn_metrics_view_t, under the exporter's lock), and the
 * Prometheus text format (and OpenMetrics when the scraper's Accept asks).
 * Must not: include Python.h, take the GIL, or touch the arbiter's state:
 * the arbiter publishes, the thread reads only what was published, the
 * shared slots and the kernel (/proc, TCP_INFO). */
#ifndef CUNICORN_METRICS_HTTP_H
#define CUNICORN_METRICS_HTTP_H

#include "cunicorn/buf.h"
#include "cunicorn/heartbeat.h"
#include "cunicorn/metrics.h"
#include "cunicorn/sock.h"

#include <sys/types.h>

/* Why the master replaced a worker. */
enum cn_restart_reason {
    CN_RESTART_MAX_REQUESTS, CN_RESTART_MEMORY, CN_RESTART_TIMEOUT, CN_RESTART_CRASH,
    CN_RESTART_RELOAD, CN_RESTART_STUCK, CN_RESTART_REASONS
};

#define CN_METRICS_MAX_WORKERS 1024

typedef struct cn_metrics_worker {
    pid_t pid;
    size_t slot; /* in the heartbeat and metrics tables */
} cn_metrics_worker_t;

/* What the arbiter publishes: the live workers, the counters of the exited
 * ones, the restarts, and copies of the app's listeners (for their backlog;
 * republished before a generation's listeners are closed). */
typedef struct cn_metrics_view {
    cn_metrics_counts_t gone;
    uint64_t restarts[CN_RESTART_REASONS];
    cn_metrics_worker_t workers[CN_METRICS_MAX_WORKERS];
    size_t nworkers;
    cn_listener_t listeners[64];
    size_t nlisteners;
} cn_metrics_view_t;

typedef struct cn_metrics_server cn_metrics_server_t;

/** The exporter's state (view and lock), not listening yet. The tables are
 * borrowed for its life. */
cn_metrics_server_t *cn_metrics_server_new(cn_metrics_table_t *table,
                                           const cn_heartbeat_table_t *heartbeats);
/** Bind spec (HOST:PORT or unix:PATH) and start the thread. 0, or -1 with
 * err (the caller then stops it). */
int cn_metrics_server_listen(cn_metrics_server_t *s, const char *spec, char *err) CN_NODISCARD;
/** Stop the thread if it runs, close (and unlink) its socket, free. NULL is
 * allowed. */
void cn_metrics_server_stop(cn_metrics_server_t *s);
/** In a forked worker: close the inherited descriptors (the thread did not
 * come along; the memory is the master's). NULL is allowed. */
void cn_metrics_server_close_in_child(cn_metrics_server_t *s);
/** The arbiter's side: change the view under the lock (fn(view, ud)). */
void cn_metrics_server_update(cn_metrics_server_t *s,
                              void (*fn)(cn_metrics_view_t *view, void *ud), void *ud);
/** The endpoint's URL, for the start-up line. */
const char *cn_metrics_server_url(const cn_metrics_server_t *s);

/* What one scrape shows, gathered under the lock. */
typedef struct cn_metrics_scrape {
    cn_metrics_counts_t counts;
    uint64_t restarts[CN_RESTART_REASONS];
    size_t nworkers, busy;
    struct {
        pid_t pid;
        long rss_kb;       /* -1: unknown */
        double beat_age;   /* s */
    } workers[CN_METRICS_MAX_WORKERS];
    struct {
        char url[160];     /* cn_listener_t.url */
        int queued;        /* -1: unknown */
    } listeners[64];
    size_t nlisteners;
} cn_metrics_scrape_t;

/** Render a scrape in the Prometheus text format 0.0.4, or OpenMetrics
 * 1.0.0 (with "# EOF"). */
void cn_metrics_render(cn_buf_t *out, const cn_metrics_scrape_t *s, bool openmetrics);

#endif
