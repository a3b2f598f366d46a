/* heartbeat.c - worker liveness slots.
 *
 * Owns: the shared table of cn_heartbeat_t slots (one MAP_SHARED|MAP_ANONYMOUS
 * mapping created by the master before it forks), the monotonic clock the
 * slots hold, and the age computation the master uses to find hung workers.
 * Must not: log, signal or kill anything (arbiter.c decides what a stale slot
 * means), or allocate after fork: a worker only stores into its own slot. */
#define _GNU_SOURCE
#include "cunicorn/arbiter.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static size_t table_bytes(size_t nslots);

static size_t table_bytes(size_t nslots)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t psz = page > 0 ? (size_t)page : 4096;
    size_t bytes = nslots * sizeof(cn_heartbeat_t);
    return (bytes + psz - 1) / psz * psz;
}

int64_t cn_heartbeat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cn_heartbeat_beat(cn_heartbeat_t *hb)
{
    if (hb != NULL)
        __atomic_store_n(&hb->last_beat_ms, cn_heartbeat_now_ms(), __ATOMIC_RELAXED);
}

cn_heartbeat_t *cn_heartbeat_table_new(size_t nslots)
{
    if (nslots == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *p =
        mmap(NULL, table_bytes(nslots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : (cn_heartbeat_t *)p;
}

void cn_heartbeat_table_free(cn_heartbeat_t *table, size_t nslots)
{
    if (table != NULL)
        munmap(table, table_bytes(nslots));
}

void cn_heartbeat_reset(cn_heartbeat_t *hb, int64_t now_ms)
{
    __atomic_store_n(&hb->booted, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&hb->last_beat_ms, now_ms, __ATOMIC_RELAXED);
}

int64_t cn_heartbeat_age_ms(const cn_heartbeat_t *hb, int64_t now_ms)
{
    return now_ms - __atomic_load_n(&hb->last_beat_ms, __ATOMIC_RELAXED);
}
