/* heartbeat.h - worker liveness slots, shared by the master and its workers.
 *
 * Owns: the table of slots (one MAP_SHARED|MAP_ANONYMOUS mapping the master
 * creates before its first fork, so every worker shares it) and what a slot
 * holds: the cn_now() time of its worker's last beat, whether the worker
 * has booted (loaded the app and is about to serve), whether it asks to
 * be replaced, and how many connections it holds while it accepts (the
 * fair share of connections, cn_heartbeat_lighter_exists).
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
    int load;         /* open connections while accepting, else -1; atomic */
    int unused;
    uint64_t requests; /* begun by the worker so far; atomic */
} cn_heartbeat_t;

/* The mapping: the slots, and how far a worker looks for its siblings. */
typedef struct cn_heartbeat_table {
    size_t nslots;
    size_t end;              /* slots [0, end) may hold live workers; atomic */
    cn_heartbeat_t slots[];
} cn_heartbeat_table_t;

/** Worker side: record that the worker is alive (one atomic store). NULL is
 * allowed and does nothing. */
void cn_heartbeat_beat(cn_heartbeat_t *hb);

/** Worker side: the app is loaded and the worker serves from now on (also a
 * beat). NULL does nothing. */
void cn_heartbeat_booted(cn_heartbeat_t *hb);

/** Worker side: ask the master for a replacement; the master stops this
 * worker (TERM) once the new one has booted. NULL does nothing. */
void cn_heartbeat_retire(cn_heartbeat_t *hb);

/** Worker side: publish the connections this worker holds while it
 * accepts; a negative count says it does not accept. NULL does nothing. */
void cn_heartbeat_set_load(cn_heartbeat_t *hb, int conns);

/** Worker side: whether another worker that accepts holds at least two
 * connections fewer than `load`, and so should take the next one. All the
 * workers wait on the same listeners and race for each connection; the
 * first awake (the first booted after a HUP) would otherwise take every
 * reconnecting keep-alive client. NULL table: false. */
bool cn_heartbeat_lighter_exists(const cn_heartbeat_table_t *t, const cn_heartbeat_t *me,
                                 int load);

/** Worker side: publish how many requests the worker has begun (one
 * relaxed store; the master sums them for systemd's STATUS=). NULL does
 * nothing. */
void cn_heartbeat_set_requests(cn_heartbeat_t *hb, uint64_t requests);
/** The slot's last published request count. */
uint64_t cn_heartbeat_requests(const cn_heartbeat_t *hb);

/** Master side: map a table of nslots zeroed slots, end 0. NULL + errno on
 * failure. The caller owns the mapping and releases it with
 * cn_heartbeat_table_free(). */
cn_heartbeat_table_t *cn_heartbeat_table_new(size_t nslots);
void cn_heartbeat_table_free(cn_heartbeat_table_t *table);
/** Master side: workers look at slots [0, end) only. */
void cn_heartbeat_table_set_end(cn_heartbeat_table_t *table, size_t end);
/** Give a slot to a new worker: its last beat is `now` (fork time, so booting
 * counts against the timeout), it has not booted and does not accept. */
void cn_heartbeat_reset(cn_heartbeat_t *hb, double now);
/** The slot's worker has exited: it accepts no more. */
void cn_heartbeat_release(cn_heartbeat_t *hb);
/** Seconds since the slot's last beat. */
double cn_heartbeat_age(const cn_heartbeat_t *hb, double now);
/** Whether the slot's worker has called cn_heartbeat_booted(). */
bool cn_heartbeat_is_booted(const cn_heartbeat_t *hb);
/** Whether the slot's worker has called cn_heartbeat_retire(). */
bool cn_heartbeat_wants_retire(const cn_heartbeat_t *hb);

#endif
