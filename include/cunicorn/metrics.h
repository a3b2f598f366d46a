/* metrics.h - the server's own metrics: per-worker counters in shared
 * memory, summed by the master.
 *
 * Owns: the mapping (one slot per heartbeat slot, same index, made by the
 * master before its first fork), what a slot counts, folding the slot of a
 * worker that exited into the master's totals (so no counter ever goes
 * backwards, whoever dies), and summing totals and live slots into one
 * cn_metrics_counts_t for the exporter (metrics_http.c).
 * Must not: include Python.h, log, lock or allocate on the request path:
 * a worker only adds to its own slot with relaxed atomics (a gthread
 * worker's threads share the slot). */
#ifndef CUNICORN_METRICS_H
#define CUNICORN_METRICS_H

#include "cunicorn/common.h"

#include <stddef.h>
#include <stdint.h>

/* Methods counted by name; anything else is "other". */
enum cn_metrics_method {
    CN_M_GET, CN_M_HEAD, CN_M_POST, CN_M_PUT, CN_M_DELETE, CN_M_PATCH, CN_M_OPTIONS,
    CN_M_OTHER, CN_METRICS_METHODS
};
#define CN_METRICS_CLASSES 5 /* 1xx .. 5xx */

/* Requests the parser refused before the app saw them, by the status sent. */
enum cn_metrics_refusal {
    CN_R_400, CN_R_408, CN_R_413, CN_R_414, CN_R_431, CN_R_OTHER, CN_METRICS_REFUSALS
};

/* Histogram upper bounds in seconds (the +Inf bucket follows the last). */
#define CN_METRICS_BUCKETS 14
extern const double cn_metrics_bounds[CN_METRICS_BUCKETS];

typedef struct cn_metrics_hist {
    uint64_t counts[CN_METRICS_BUCKETS + 1]; /* per bucket, not cumulative */
    uint64_t sum_ns;
} cn_metrics_hist_t;

/* One worker's slot; every field is added to with relaxed atomics. */
typedef struct cn_metrics_slot {
    uint64_t requests[CN_METRICS_METHODS][CN_METRICS_CLASSES];
    cn_metrics_hist_t duration; /* request head read -> response sent */
    cn_metrics_hist_t wait;     /* request head read -> app called (the
                                   thread pool's or the hub's queue) */
    uint64_t bytes_in;          /* request bytes read (head and body) */
    uint64_t bytes_out;         /* response bytes written */
    uint64_t refused[CN_METRICS_REFUSALS];
    int64_t in_flight;          /* gauge: requests begun, not yet done */
    int64_t keepalive;          /* gauge: connections open between requests */
} cn_metrics_slot_t;

typedef struct cn_metrics_table {
    size_t nslots;
    cn_metrics_slot_t slots[];
} cn_metrics_table_t;

/* ---- worker side (slot may be NULL: metrics off, nothing happens) ------- */

enum cn_metrics_method cn_metrics_method(const char *name, size_t len);
/** A request ends: the status sent, its server time in seconds. */
void cn_metrics_request(cn_metrics_slot_t *slot, enum cn_metrics_method m, int status,
                        double seconds);
/** The app was called `seconds` after the request head was read. */
void cn_metrics_wait(cn_metrics_slot_t *slot, double seconds);
void cn_metrics_bytes_in(cn_metrics_slot_t *slot, uint64_t n);
void cn_metrics_bytes_out(cn_metrics_slot_t *slot, uint64_t n);
/** The parser refused a request with this status (no app call). */
void cn_metrics_refused(cn_metrics_slot_t *slot, int status);
void cn_metrics_in_flight(cn_metrics_slot_t *slot, int delta);
void cn_metrics_keepalive(cn_metrics_slot_t *slot, int delta);

/* ---- master side ---------------------------------------------------------- */

/** Map nslots zeroed slots; NULL + errno. Freed by cn_metrics_table_free. */
cn_metrics_table_t *cn_metrics_table_new(size_t nslots);
void cn_metrics_table_free(cn_metrics_table_t *t);

/* Counters summed over workers (gauges: over live workers only). */
typedef cn_metrics_slot_t cn_metrics_counts_t;

/** The slot's worker has exited: add its counters to *gone and zero the slot
 * for the next worker (its gauges are dropped: what it held is gone). */
void cn_metrics_fold(cn_metrics_counts_t *gone, cn_metrics_slot_t *slot);
/** *out = *gone + every slot listed (live workers). */
void cn_metrics_sum(cn_metrics_counts_t *out, const cn_metrics_counts_t *gone,
                    const cn_metrics_table_t *t, const size_t *slots, size_t n);

#endif
