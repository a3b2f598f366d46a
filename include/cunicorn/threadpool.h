/* threadpool.h - a fixed pool of pthreads fed from a FIFO of jobs, with
 * completions handed back to a libev loop.
 *
 * Owns: the threads, the job queue (mutex + condition variable), the
 * completion list (mutex + ev_async), orderly stop with a time bound.
 * Must not: include Python.h. What a thread does is the caller's ops: a
 * per-thread start/stop hook (where the Python side creates and deletes a
 * thread state) and the work itself.
 *
 * Jobs are intrusive: embed a cn_pool_job_t in your own struct and recover it
 * with cn_container_of. A job belongs to the pool from submit until its done
 * callback runs on the loop thread. Pool threads block every signal, so
 * signals reach the loop thread. */
#ifndef CUNICORN_THREADPOOL_H
#define CUNICORN_THREADPOOL_H

#include "cunicorn/common.h"

#include <ev.h>

typedef struct cn_pool_job {
    struct cn_pool_job *_next;
} cn_pool_job_t;

typedef struct cn_pool_ops {
    /** In each new thread, before any work; returns its private state. */
    void *(*thread_start)(void *ud);
    /** In a pool thread. */
    void (*work)(void *ud, void *thread_state, cn_pool_job_t *job);
    /** On the loop thread, after work() finished, in completion order. */
    void (*done)(void *ud, cn_pool_job_t *job);
    /** In each thread as it exits. */
    void (*thread_stop)(void *ud, void *thread_state);
} cn_pool_ops_t;

typedef struct cn_pool cn_pool_t;

/** Start nthreads threads. NULL + err on failure. */
cn_pool_t *cn_pool_new(struct ev_loop *loop, int nthreads, const cn_pool_ops_t *ops, void *ud,
                       char *err);
/** Queue a job (loop thread only). */
void cn_pool_submit(cn_pool_t *p, cn_pool_job_t *job);
/**
 * Let the threads finish the queue and exit, waiting at most timeout
 * seconds. Returns 0 when every thread was joined (the pool is freed), or
 * -ETIMEDOUT when some are still busy: the pool is then left running,
 * because its threads may still use it, and the process should exit.
 */
int cn_pool_stop(cn_pool_t *p, double timeout);

#endif
