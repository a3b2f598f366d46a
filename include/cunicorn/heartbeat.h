/* heartbeat.h - worker liveness slots, shared by the master and its workers.
 *
 * Owns: the table of slots (one MAP_SHARED|MAP_ANONYMOUS mapping the master
 * creates before its first fork, so every worker shares it) and what a slot
 * holds: the cn_now() time of its worker's last beat, whether the worker
 * has booted (loaded the app and is about to serve), and whether it asks to
 * be replaced.
 * Must not: log, signal or kill anything (the arbiter decides what a stale
 * slot means), or allocate after fork: a worker only stores into its slot. */
#ifndef CUNICORN_HEARTBEAT_H
#define CUNICORN_HEARTBEAT_H

#include "cunicorn/common.h"

/* One worker's slot. */
typedef struct cn_heartbeat {
    double last_beat; /* cn_now() seconds; written and read atomically */
    int booted;       /* 0 until cn_heartbeat_booted(); atomic */
    int retire;       /* 1: the worker asks to be replaced; atomic */
} cn_heartbeat_t;

/** Worker side: record that the worker is alive (one atomic store). NULL is
 * allowed and does nothing. */
void cn_heartbeat_beat(cn_heartbeat_t *hb);

/** Worker side: the app is loaded and the worker serves from now on (also a
 * beat). NULL does nothing. */
void cn_heartbeat_booted(cn_heartbeat_t *hb);

/** Worker side: ask the master for a replacement; the master stops this
 * worker (TERM) once the new one has booted. NULL does nothing. */
void cn_heartbeat_retire(cn_heartbeat_t *hb);

/** Master side: map a zeroed table of nslots slots. NULL + errno on failure.
 * The caller owns the mapping and releases it with cn_heartbeat_table_free(). */
cn_heartbeat_t *cn_heartbeat_table_new(size_t nslots);
void cn_heartbeat_table_free(cn_heartbeat_t *table, size_t nslots);
/** Give a slot to a new worker: its last beat is `now` (fork time, so booting
 * counts against the timeout), and it has not booted. */
void cn_heartbeat_reset(cn_heartbeat_t *hb, double now);
/** Seconds since the slot's last beat. */
double cn_heartbeat_age(const cn_heartbeat_t *hb, double now);
/** Whether the slot's worker has called cn_heartbeat_booted(). */
bool cn_heartbeat_is_booted(const cn_heartbeat_t *hb);
/** Whether the slot's worker has called cn_heartbeat_retire(). */
bool cn_heartbeat_wants_retire(const cn_heartbeat_t *hb);

#endif
