/* threadpool.c - pthread pool with a FIFO of jobs and completions returned
 * to a libev loop through ev_async (see threadpool.h).
 *
 * Hand-off costs one mutex round trip and, only when a thread sleeps, one
 * condition-variable signal; completions are batched: the loop takes the
 * whole list under the lock and runs the callbacks unlocked. */
#define _GNU_SOURCE
#include "cunicorn/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cn_pool {
    struct ev_loop *loop;  /* borrowed */
    cn_pool_ops_t ops;
    void *ud;
    pthread_t *threads;    /* owned */
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t work_cv;
    cn_pool_job_t *head, *tail;   /* queued jobs */
    cn_pool_job_t *done_head, *done_tail;
    int sleeping;          /* threads waiting on work_cv */
    bool stopping;
    ev_async done_async;
};

static void *thread_main(void *arg);
static void pool_on_done(struct ev_loop *loop, ev_async *w, int revents);

cn_pool_t *cn_pool_new(struct ev_loop *loop, int nthreads, const cn_pool_ops_t *ops, void *ud,
                       char *err)
{
    cn_pool_t *p = cn_xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->ops = *ops;
    p->ud = ud;
    p->threads = cn_xcalloc((size_t)nthreads, sizeof(*p->threads));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    ev_async_init(&p->done_async, pool_on_done);
    p->done_async.data = p;
    ev_async_start(loop, &p->done_async);

    /* Threads inherit the creator's mask: block everything while creating. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; p->nthreads < nthreads; p->nthreads++) {
        int rc = pthread_create(&p->threads[p->nthreads], NULL, thread_main, p);
        if (rc != 0) {
            cn_err(err, "cannot start thread %d: %s", p->nthreads + 1, strerror(rc));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads < nthreads) {
        (void)cn_pool_stop(p, 5);
        return NULL;
    }
    return p;
}

void cn_pool_submit(cn_pool_t *p, cn_pool_job_t *job)
{
    job->_next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->_next = job;
    else
        p->head = job;
    p->tail = job;
    bool wake = p->sleeping > 0;
    pthread_mutex_unlock(&p->lock);
    if (wake)
        pthread_cond_signal(&p->work_cv);
}

/* Next job, or NULL when the pool stops and the queue is empty. */
static cn_pool_job_t *take_job(cn_pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->head == NULL && !p->stopping) {
        p->sleeping++;
        pthread_cond_wait(&p->work_cv, &p->lock);
        p->sleeping--;
    }
    cn_pool_job_t *job = p->head;
    if (job != NULL) {
        p->head = job->_next;
        if (p->head == NULL)
            p->tail = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    return job;
}

static void *thread_main(void *arg)
{
    cn_pool_t *p = arg;
    void *state = p->ops.thread_start ? p->ops.thread_start(p->ud) : NULL;
    cn_pool_job_t *job;
    while ((job = take_job(p)) != NULL) {
        p->ops.work(p->ud, state, job);
        pthread_mutex_lock(&p->lock);
        job->_next = NULL;
        if (p->done_tail)
            p->done_tail->_next = job;
        else
            p->done_head = job;
        p->done_tail = job;
        pthread_mutex_unlock(&p->lock);
        ev_async_send(p->loop, &p->done_async);
    }
    if (p->ops.thread_stop)
        p->ops.thread_stop(p->ud, state);
    return NULL;
}

static void pool_on_done(struct ev_loop *loop, ev_async *w, int revents)
{
    cn_pool_t *p = w->data;
    pthread_mutex_lock(&p->lock);
    cn_pool_job_t *job = p->done_head;
    p->done_head = p->done_tail = NULL;
    pthread_mutex_unlock(&p->lock);
    while (job != NULL) {
        cn_pool_job_t *next = job->_next;
        p->ops.done(p->ud, job);
        job = next;
    }
}

int cn_pool_stop(cn_pool_t *p, double timeout)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->lock);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long long ns = deadline.tv_nsec + (long long)((timeout - (double)(time_t)timeout) * 1e9);
    deadline.tv_sec += (time_t)timeout + (time_t)(ns / 1000000000);
    deadline.tv_nsec = (long)(ns % 1000000000);
    for (int i = 0; i < p->nthreads; i++) {
        if (pthread_timedjoin_np(p->threads[i], NULL, &deadline) != 0)
            return -ETIMEDOUT;
    }
    ev_async_stop(p->loop, &p->done_async);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_cv);
    free(p->threads);
    free(p);
    return 0;
}
