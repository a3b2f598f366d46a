/* test_threadpool.c - the pthread pool: every job runs once on a pool
 * thread, completions come back on the loop thread in a batch, per-thread
 * hooks run once per thread, and stop is bounded in time. */
#include "cunicorn/threadpool.h"
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct job {
    cn_pool_job_t pj;
    int id;
    pthread_t ran_on;
    bool done_seen;
    unsigned sleep_us;
} job_t;

typedef struct {
    struct ev_loop *loop;
    pthread_t loop_thread;
    int started, stopped; /* guarded by lock */
    pthread_mutex_t lock;
    int done, expect;
    bool done_off_loop;
    int done_order_ok;
    int last_done_id;
    bool signals_blocked;
} fixture_t;

static void *t_start(void *ud)
{
    fixture_t *f = ud;
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    pthread_mutex_lock(&f->lock);
    f->started++;
    if (!sigismember(&mask, SIGTERM))
        f->signals_blocked = false;
    pthread_mutex_unlock(&f->lock);
    return (void *)0x1234;
}

static void t_work(void *ud, void *state, cn_pool_job_t *pj)
{
    job_t *j = (job_t *)pj;
    ck_assert_ptr_eq(state, (void *)0x1234);
    j->ran_on = pthread_self();
    if (j->sleep_us)
        usleep(j->sleep_us);
}

static void t_done(void *ud, cn_pool_job_t *pj)
{
    fixture_t *f = ud;
    job_t *j = (job_t *)pj;
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->done_off_loop = true;
    j->done_seen = true;
    if (++f->done == f->expect)
        ev_break(f->loop, EVBREAK_ALL);
}

static void t_stop(void *ud, void *state)
{
    fixture_t *f = ud;
    pthread_mutex_lock(&f->lock);
    f->stopped++;
    pthread_mutex_unlock(&f->lock);
}

static const cn_pool_ops_t ops = {t_start, t_work, t_done, t_stop};

static void fixture_init(fixture_t *f, int expect)
{
    memset(f, 0, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->loop_thread = pthread_self();
    pthread_mutex_init(&f->lock, NULL);
    f->expect = expect;
    f->signals_blocked = true;
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until every expected completion came, or 10 s passed. */
static void run_until_done(fixture_t *f)
{
    ev_timer deadline;
    ev_timer_init(&deadline, on_deadline, 10, 0);
    ev_timer_start(f->loop, &deadline);
    ev_run(f->loop, 0);
    ev_timer_stop(f->loop, &deadline);
}

START_TEST(every_job_runs_once_and_completes_on_the_loop)
{
    enum { N = 2000 };
    fixture_t f;
    fixture_init(&f, N);
    char err[CN_ERR_LEN];
    cn_pool_t *p = cn_pool_new(f.loop, 4, &ops, &f, err);
    ck_assert_ptr_nonnull(p);
    job_t *jobs = calloc(N, sizeof(*jobs));
    for (int i = 0; i < N; i++) {
        jobs[i].id = i;
        cn_pool_submit(p, &jobs[i].pj);
    }
    run_until_done(&f);
    ck_assert_int_eq(f.done, N);
    ck_assert(!f.done_off_loop);
    for (int i = 0; i < N; i++) {
        ck_assert(jobs[i].done_seen);
        ck_assert(!pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    ck_assert_int_eq(cn_pool_stop(p, 5), 0);
    ck_assert_int_eq(f.started, 4);
    ck_assert_int_eq(f.stopped, 4);
    ck_assert(f.signals_blocked);
    free(jobs);
    ev_loop_destroy(f.loop);
}
END_TEST

START_TEST(jobs_run_in_parallel)
{
    /* 4 jobs of 300 ms on 4 threads finish well before 4 x 300 ms. */
    fixture_t f;
    fixture_init(&f, 4);
    char err[CN_ERR_LEN];
    cn_pool_t *p = cn_pool_new(f.loop, 4, &ops, &f, err);
    job_t jobs[4] = {{.sleep_us = 300000}, {.sleep_us = 300000}, {.sleep_us = 300000},
                     {.sleep_us = 300000}};
    double t0 = ev_time();
    for (int i = 0; i < 4; i++)
        cn_pool_submit(p, &jobs[i].pj);
    run_until_done(&f);
    ck_assert_int_eq(f.done, 4);
    ck_assert(ev_time() - t0 < 1.0);
    ck_assert_int_eq(cn_pool_stop(p, 5), 0);
    ev_loop_destroy(f.loop);
}
END_TEST

START_TEST(stop_is_bounded_by_its_timeout)
{
    fixture_t f;
    fixture_init(&f, 1);
    char err[CN_ERR_LEN];
    cn_pool_t *p = cn_pool_new(f.loop, 1, &ops, &f, err);
    static job_t slow = {.sleep_us = 3000000};
    cn_pool_submit(p, &slow.pj);
    usleep(100000); /* let the thread pick it up */
    double t0 = ev_time();
    ck_assert_int_eq(cn_pool_stop(p, 1), -ETIMEDOUT);
    ck_assert(ev_time() - t0 < 2.0);
    /* the pool is abandoned on purpose; the process would exit now */
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("threadpool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, every_job_runs_once_and_completes_on_the_loop);
    tcase_add_test(tc, jobs_run_in_parallel);
    tcase_add_test(tc, stop_is_bounded_by_its_timeout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(pool_suite());
}
