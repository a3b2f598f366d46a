/* metrics.c - see metrics.h. */
#include "cunicorn/metrics.h"

#include <string.h>
#include <sys/mman.h>

/* Prometheus' default buckets, with 1 ms and 25 s added at the ends: a
 * hello-world answers in well under 5 ms, a slow report in tens of seconds. */
const double cn_metrics_bounds[CN_METRICS_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25,
};

#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

enum cn_metrics_method cn_metrics_method(const char *name, size_t len)
{
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS"};
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return (enum cn_metrics_method)i;
    return CN_M_OTHER;
}

static void observe(cn_metrics_hist_t *h, double seconds)
{
    size_t b = 0;
    while (b < CN_METRICS_BUCKETS && seconds > cn_metrics_bounds[b])
        b++;
    ADD(h->counts[b], 1);
    ADD(h->sum_ns, seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
}

void cn_metrics_request(cn_metrics_slot_t *slot, enum cn_metrics_method m, int status,
                        double seconds)
{
    if (slot == NULL)
        return;
    int cls = status / 100 - 1;
    if (cls < 0 || cls >= CN_METRICS_CLASSES)
        cls = CN_METRICS_CLASSES - 1; /* not a status the server sends */
    ADD(slot->requests[m][cls], 1);
    observe(&slot->duration, seconds);
}

void cn_metrics_wait(cn_metrics_slot_t *slot, double seconds)
{
    if (slot != NULL)
        observe(&slot->wait, seconds);
}

void cn_metrics_bytes_in(cn_metrics_slot_t *slot, uint64_t n)
{
    if (slot != NULL)
        ADD(slot->bytes_in, n);
}

void cn_metrics_bytes_out(cn_metrics_slot_t *slot, uint64_t n)
{
    if (slot != NULL)
        ADD(slot->bytes_out, n);
}

void cn_metrics_refused(cn_metrics_slot_t *slot, int status)
{
    if (slot == NULL)
        return;
    enum cn_metrics_refusal r = status == 400   ? CN_R_400
                                : status == 408 ? CN_R_408
                                : status == 413 ? CN_R_413
                                : status == 414 ? CN_R_414
                                : status == 431 ? CN_R_431
                                                : CN_R_OTHER;
    ADD(slot->refused[r], 1);
}

void cn_metrics_in_flight(cn_metrics_slot_t *slot, int delta)
{
    if (slot != NULL)
        ADD(slot->in_flight, (int64_t)delta);
}

void cn_metrics_keepalive(cn_metrics_slot_t *slot, int delta)
{
    if (slot != NULL)
        ADD(slot->keepalive, (int64_t)delta);
}

cn_metrics_table_t *cn_metrics_table_new(size_t nslots)
{
    size_t size = sizeof(cn_metrics_table_t) + nslots * sizeof(cn_metrics_slot_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    cn_metrics_table_t *t = p; /* zero-filled by the kernel */
    t->nslots = nslots;
    return t;
}

void cn_metrics_table_free(cn_metrics_table_t *t)
{
    if (t != NULL)
        munmap(t, sizeof(*t) + t->nslots * sizeof(cn_metrics_slot_t));
}

/* to += from, counter by counter; the slot is read with relaxed loads (a
 * worker may still be writing it), the totals are the caller's alone. */
static void add_counts(cn_metrics_counts_t *to, const cn_metrics_slot_t *from, bool gauges)
{
    for (int m = 0; m < CN_METRICS_METHODS; m++)
        for (int c = 0; c < CN_METRICS_CLASSES; c++)
            to->requests[m][c] += LOAD(from->requests[m][c]);
    const cn_metrics_hist_t *fh[] = {&from->duration, &from->wait};
    cn_metrics_hist_t *th[] = {&to->duration, &to->wait};
    for (size_t h = 0; h < CN_ARRAY_LEN(fh); h++) {
        for (int b = 0; b <= CN_METRICS_BUCKETS; b++)
            th[h]->counts[b] += LOAD(fh[h]->counts[b]);
        th[h]->sum_ns += LOAD(fh[h]->sum_ns);
    }
    to->bytes_in += LOAD(from->bytes_in);
    to->bytes_out += LOAD(from->bytes_out);
    for (int r = 0; r < CN_METRICS_REFUSALS; r++)
        to->refused[r] += LOAD(from->refused[r]);
    if (gauges) {
        to->in_flight += LOAD(from->in_flight);
        to->keepalive += LOAD(from->keepalive);
    }
}

void cn_metrics_fold(cn_metrics_counts_t *gone, cn_metrics_slot_t *slot)
{
    add_counts(gone, slot, false);
    memset(slot, 0, sizeof(*slot)); /* its writer has exited */
}

void cn_metrics_sum(cn_metrics_counts_t *out, const cn_metrics_counts_t *gone,
                    const cn_metrics_table_t *t, const size_t *slots, size_t n)
{
    *out = *gone;
    out->in_flight = out->keepalive = 0;
    for (size_t i = 0; i < n; i++)
        if (slots[i] < t->nslots)
            add_counts(out, &t->slots[slots[i]], true);
}
