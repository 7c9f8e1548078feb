/*
 * The worker pool's fair dispatch: one key never holds more than per_key
 * workers, so another key's job runs while the first key's extra jobs wait.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "server/workers.h"

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t open;
	bool opened;
	atomic_int running_a, max_running_a, done_a, done_b;
};

static struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .open = PTHREAD_COND_INITIALIZER};

static void job_a(void *arg)
{
	(void)arg;
	int now = atomic_fetch_add(&g.running_a, 1) + 1;
	int max = atomic_load(&g.max_running_a);
	while (now > max && !atomic_compare_exchange_weak(&g.max_running_a, &max, now))
		;
	pthread_mutex_lock(&g.lock);
	while (!g.opened)
		pthread_cond_wait(&g.open, &g.lock);
	pthread_mutex_unlock(&g.lock);
	atomic_fetch_sub(&g.running_a, 1);
	atomic_fetch_add(&g.done_a, 1);
}

static void job_b(void *arg)
{
	(void)arg;
	atomic_fetch_add(&g.done_b, 1);
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

Test(workers, one_key_cannot_hold_every_worker)
{
	struct workers *w = workers_start(4, 64, 2, 0);
	cr_assert_not_null(w);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(workers_submit(w, 0xA, job_a, NULL, NULL), 0);
	wait_for(&g.running_a, 2);
	cr_assert_eq(workers_submit(w, 0xB, job_b, NULL, NULL), 0);
	wait_for(&g.done_b, 1);
	cr_assert_eq(atomic_load(&g.done_b), 1, "key B ran while key A was blocked");
	cr_assert_eq(atomic_load(&g.max_running_a), 2, "key A never had more than per_key workers");
	cr_assert_eq(workers_busy(w), 18 + 2, "A's extra jobs wait in the queue");

	pthread_mutex_lock(&g.lock);
	g.opened = true;
	pthread_cond_broadcast(&g.open);
	pthread_mutex_unlock(&g.lock);
	wait_for(&g.done_a, 20);
	cr_assert_eq(atomic_load(&g.done_a), 20);
	cr_assert_eq(atomic_load(&g.max_running_a), 2);
	workers_stop(&w);
	cr_assert_null(w);
}

static void nothing(void *arg)
{
	(void)arg;
}

Test(workers, full_queue_refuses)
{
	struct workers *w = workers_start(1, 2, 1, 0);
	/* one worker blocked on key A, the queue holds two more: the fourth is refused */
	g.opened = false;
	cr_assert_eq(workers_submit(w, 1, job_a, NULL, NULL), 0);
	wait_for(&g.running_a, 1);
	cr_assert_eq(workers_submit(w, 1, nothing, NULL, NULL), 0);
	cr_assert_eq(workers_submit(w, 2, nothing, NULL, NULL), 0);
	cr_assert_eq(workers_submit(w, 3, nothing, NULL, NULL), -1);
	pthread_mutex_lock(&g.lock);
	g.opened = true;
	pthread_cond_broadcast(&g.open);
	pthread_mutex_unlock(&g.lock);
	workers_stop(&w);  /* runs what is queued, then joins */
}

/* Jobs that only finish once `want` of them run at the same time. */
struct meet {
	pthread_mutex_t lock;
	pthread_cond_t all_here;
	int here, want, met;
};

static void job_meet(void *arg)
{
	struct meet *mt = arg;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&mt->lock);
	mt->here++;
	pthread_cond_broadcast(&mt->all_here);
	while (mt->here < mt->want &&
	       pthread_cond_timedwait(&mt->all_here, &mt->lock, &until) == 0)
		;
	if (mt->here >= mt->want)
		mt->met++;
	pthread_mutex_unlock(&mt->lock);
}

/* A burst of startable jobs wakes as many workers as it needs, also when
 * jobs held back by their key's limit sit in front of them in the queue,
 * and when only completions let the next ones start. */
Test(workers, no_startable_job_waits_for_a_sleeping_worker)
{
	for (int round = 0; round < 50; round++) {
		struct workers *w = workers_start(4, 64, 1, 0);
		cr_assert_not_null(w);
		struct meet first = {.lock = PTHREAD_MUTEX_INITIALIZER,
		                     .all_here = PTHREAD_COND_INITIALIZER, .want = 4};
		struct meet second = first;
		/* key 1's later jobs must wait for its first: they are skipped,
		 * and 2, 3, 4 still find a worker each */
		cr_assert_eq(workers_submit(w, 1, job_meet, NULL, &first), 0);
		cr_assert_eq(workers_submit(w, 1, job_meet, NULL, &second), 0);
		cr_assert_eq(workers_submit(w, 2, job_meet, NULL, &first), 0);
		cr_assert_eq(workers_submit(w, 3, job_meet, NULL, &first), 0);
		cr_assert_eq(workers_submit(w, 2, job_meet, NULL, &second), 0);
		cr_assert_eq(workers_submit(w, 4, job_meet, NULL, &first), 0);
		/* the second four can start only as the first four end */
		cr_assert_eq(workers_submit(w, 3, job_meet, NULL, &second), 0);
		cr_assert_eq(workers_submit(w, 4, job_meet, NULL, &second), 0);
		workers_stop(&w);
		cr_assert_eq(first.met, 4, "round %d: %d of 4 first jobs met", round, first.met);
		cr_assert_eq(second.met, 4, "round %d: %d of 4 second jobs met", round, second.met);
	}
}

static atomic_int ran, expired_n;

static void count_run(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
}

static void count_expired(void *arg)
{
	(void)arg;
	atomic_fetch_add(&expired_n, 1);
}

/* --pool-wait holds while every worker is busy: jobs that waited past
 * max_wait get their expired function (and never run), a job without one
 * waits however long it takes. */
Test(workers, waiting_past_max_wait_expires_while_every_worker_is_busy)
{
	struct workers *w = workers_start(1, 8, 1, 100);
	cr_assert_not_null(w);
	g.opened = false;
	cr_assert_eq(workers_submit(w, 1, job_a, NULL, NULL), 0);
	wait_for(&g.running_a, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(workers_submit(w, 2, count_run, count_expired, NULL), 0);
	cr_assert_eq(workers_submit(w, 3, count_run, NULL, NULL), 0);
	for (int i = 0; i < 30 && atomic_load(&expired_n) < 3; i++)
		wait_for(&expired_n, 3);  /* up to 5 s each: a busy machine is slow */
	cr_expect_eq(atomic_load(&expired_n), 3);
	cr_expect_eq(atomic_load(&ran), 0, "the only worker is still blocked");
	cr_expect_eq(workers_busy(w), 2, "the blocked job and the one that never expires");
	pthread_mutex_lock(&g.lock);
	g.opened = true;
	pthread_cond_broadcast(&g.open);
	pthread_mutex_unlock(&g.lock);
	workers_stop(&w);
	cr_expect_eq(atomic_load(&ran), 1, "the job without expiry ran once the worker was free");
	cr_expect_eq(atomic_load(&expired_n), 3, "an expired job never runs as well");
}
