/* heartbeat.c - worker liveness slots (see heartbeat.h). The clock is
 * cn_now(), the one monotonic clock of the code base, in seconds. */
#define _GNU_SOURCE
#include "cunicorn/heartbeat.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t table_bytes(size_t nslots);

static size_t table_bytes(size_t nslots)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t psz = page > 0 ? (size_t)page : 4096;
    size_t bytes = sizeof(cn_heartbeat_table_t) + nslots * sizeof(cn_heartbeat_t);
    return (bytes + psz - 1) / psz * psz;
}

void cn_heartbeat_beat(cn_heartbeat_t *hb)
{
    if (hb == NULL)
        return;
    double now = cn_now();
    __atomic_store(&hb->last_beat, &now, __ATOMIC_RELAXED);
}

void cn_heartbeat_booted(cn_heartbeat_t *hb)
{
    if (hb == NULL)
        return;
    cn_heartbeat_beat(hb);
    __atomic_store_n(&hb->booted, 1, __ATOMIC_RELEASE);
}

void cn_heartbeat_retire(cn_heartbeat_t *hb)
{
    if (hb != NULL)
        __atomic_store_n(&hb->retire, 1, __ATOMIC_RELEASE);
}

void cn_heartbeat_set_load(cn_heartbeat_t *hb, int conns)
{
    if (hb != NULL)
        __atomic_store_n(&hb->load, conns < 0 ? -1 : conns, __ATOMIC_RELAXED);
}

bool cn_heartbeat_lighter_exists(const cn_heartbeat_table_t *t, const cn_heartbeat_t *me,
                                 int load)
{
    if (t == NULL)
        return false;
    size_t end = __atomic_load_n(&t->end, __ATOMIC_RELAXED);
    for (size_t i = 0; i < end && i < t->nslots; i++) {
        int other = __atomic_load_n(&t->slots[i].load, __ATOMIC_RELAXED);
        if (&t->slots[i] != me && other >= 0 && other + 2 <= load)
            return true;
    }
    return false;
}

cn_heartbeat_table_t *cn_heartbeat_table_new(size_t nslots)
{
    if (nslots == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *p =
        mmap(NULL, table_bytes(nslots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    cn_heartbeat_table_t *t = p;
    t->nslots = nslots;
    for (size_t i = 0; i < nslots; i++)
        t->slots[i].load = -1;
    return t;
}

void cn_heartbeat_table_free(cn_heartbeat_table_t *table)
{
    if (table != NULL)
        munmap(table, table_bytes(table->nslots));
}

void cn_heartbeat_table_set_end(cn_heartbeat_table_t *table, size_t end)
{
    __atomic_store_n(&table->end, end, __ATOMIC_RELAXED);
}

void cn_heartbeat_set_requests(cn_heartbeat_t *hb, uint64_t requests)
{
    if (hb != NULL)
        __atomic_store_n(&hb->requests, requests, __ATOMIC_RELAXED);
}

uint64_t cn_heartbeat_requests(const cn_heartbeat_t *hb)
{
    return __atomic_load_n(&hb->requests, __ATOMIC_RELAXED);
}

void cn_heartbeat_reset(cn_heartbeat_t *hb, double now)
{
    __atomic_store_n(&hb->requests, 0, __ATOMIC_RELAXED);
    __atomic_store(&hb->last_beat, &now, __ATOMIC_RELAXED);
    __atomic_store_n(&hb->booted, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hb->retire, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hb->load, -1, __ATOMIC_RELAXED);
}

void cn_heartbeat_release(cn_heartbeat_t *hb)
{
    __atomic_store_n(&hb->load, -1, __ATOMIC_RELAXED);
}

bool cn_heartbeat_is_booted(const cn_heartbeat_t *hb)
{
    return __atomic_load_n(&hb->booted, __ATOMIC_ACQUIRE) != 0;
}

bool cn_heartbeat_wants_retire(const cn_heartbeat_t *hb)
{
    return __atomic_load_n(&hb->retire, __ATOMIC_ACQUIRE) != 0;
}

double cn_heartbeat_age(const cn_heartbeat_t *hb, double now)
{
    double last;
    __atomic_load(&hb->last_beat, &last, __ATOMIC_RELAXED);
    return now - last;
}
