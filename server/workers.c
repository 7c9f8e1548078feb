/*
 * server/workers.c — thread pool with a bounded, per-key fair queue.
 *
 * Waiting jobs sit in a FIFO list; running jobs are counted per key in a
 * small open-addressing table (at most `nthreads` keys are running at
 * once). A worker takes the oldest job whose key is under its limit, so
 * the scan is bounded by the queue length (--queue-max) and costs nothing
 * when no key is at its limit.
 *
 * Wake-ups: a submit signals one idle worker; a worker that finishes a job
 * looks for the next one itself; a worker that takes a job while others
 * still wait in the queue signals one more. So a startable job never waits
 * while a worker sleeps, and no completion wakes every thread to fight
 * over the lock.
 *
 * Expiry: a watchdog thread sleeps until the oldest waiting job (the head:
 * jobs are queued at the tail and the head is always the oldest left) has
 * waited max_wait_ms, then hands every job that has to its `expired`
 * function. So --pool-wait holds while all workers are busy, not only when
 * one comes free.
 */
#include "server/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "imap/base/clock.h"

struct job {
	workers_job_fn *fn;
	workers_job_fn *expired;  /* NULL: never expires */
	void *arg;
	uint64_t key;
	int64_t queued_ms;
	struct job *next;
};

struct running {
	uint64_t key;
	unsigned count;  /* 0: free slot */
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	pthread_cond_t watch;     /* the watchdog: a new oldest job, or stopping */
	struct job *head, *tail;  /* waiting, oldest first */
	struct job *free_jobs;    /* recycled job records */
	unsigned queued, queue_max, running_total, per_key;
	struct running *running;  /* 2 * nthreads slots */
	unsigned nslots;
	bool stopping;
	unsigned max_wait_ms;
	bool watching;            /* the watchdog thread runs */
	pthread_t watchdog;
	unsigned nthreads;
	pthread_t *threads;
};

static struct running *slot_of(struct workers *w, uint64_t key, bool create)
{
	unsigned i = (unsigned)(key % w->nslots);
	struct running *free_slot = NULL;
	for (unsigned n = 0; n < w->nslots; n++, i = (i + 1) % w->nslots) {
		struct running *r = &w->running[i];
		if (r->count && r->key == key)
			return r;
		if (!r->count && !free_slot)
			free_slot = r;
	}
	if (create && free_slot)
		free_slot->key = key;
	return create ? free_slot : NULL;
}

static void unlink_job(struct workers *w, struct job *prev, struct job *j)
{
	if (prev)
		prev->next = j->next;
	else
		w->head = j->next;
	if (w->tail == j)
		w->tail = prev;
	w->queued--;
}

/* The oldest waiting job whose key may start, unlinked; NULL if none. */
static struct job *take(struct workers *w)
{
	struct job *prev = NULL;
	for (struct job *j = w->head; j; prev = j, j = j->next) {
		struct running *r = slot_of(w, j->key, false);
		if (r && r->count >= w->per_key)
			continue;
		unlink_job(w, prev, j);
		return j;
	}
	return NULL;
}

static void recycle(struct workers *w, struct job *j)
{
	j->next = w->free_jobs;
	w->free_jobs = j;
}

/* Hand the jobs that waited max_wait_ms to their expired functions. */
static void *watchdog_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		int64_t now = imap_now_ms();
		struct job *j = w->head;
		while (j && j->expired && now - j->queued_ms >= (int64_t)w->max_wait_ms) {
			unlink_job(w, NULL, j);
			workers_job_fn *expired = j->expired;
			void *job_arg = j->arg;
			recycle(w, j);
			pthread_mutex_unlock(&w->lock);
			expired(job_arg);
			pthread_mutex_lock(&w->lock);
			j = w->head;
		}
		if (j && !j->expired) {
			/* A job that never expires at the head: look again at the
			 * next submit or start, whichever changes the head. */
			pthread_cond_wait(&w->watch, &w->lock);
		} else if (j) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait = j->queued_ms + w->max_wait_ms - imap_now_ms();
			if (wait < 1)
				wait = 1;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&w->watch, &w->lock, &ts);
		} else {
			pthread_cond_wait(&w->watch, &w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j;
		while (!(j = take(w)) && !(w->stopping && w->queued == 0))
			pthread_cond_wait(&w->ready, &w->lock);
		if (!j)
			break;
		/* Pass the wake-up on: more may be startable than this one job
		 * (several submitted at once, or one freed by a completion). The
		 * next worker stops the chain when it finds nothing to start. */
		if (w->queued)
			pthread_cond_signal(&w->ready);
		struct running *r = slot_of(w, j->key, true);
		r->count++;
		w->running_total++;
		workers_job_fn *fn = j->fn;
		void *fn_arg = j->arg;
		uint64_t key = j->key;
		recycle(w, j);
		if (w->watching)
			pthread_cond_signal(&w->watch);  /* the head may have changed */
		pthread_mutex_unlock(&w->lock);
		fn(fn_arg);
		pthread_mutex_lock(&w->lock);
		r = slot_of(w, key, false);
		if (r)
			r->count--;
		w->running_total--;
		/* No wake-up here: this worker loops and takes the next job itself
		 * (the one that may have become startable included). */
		if (w->stopping && w->queued == 0)
			pthread_cond_broadcast(&w->ready);  /* let the others see the end */
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct workers *workers_start(unsigned n, unsigned queue_max, unsigned per_key,
                              unsigned max_wait_ms)
{
	struct workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->nslots = 2 * n + 1;
	w->running = calloc(w->nslots, sizeof *w->running);
	w->threads = calloc(n, sizeof *w->threads);
	if (!w->running || !w->threads) {
		free(w->running);
		free(w->threads);
		free(w);
		return NULL;
	}
	w->queue_max = queue_max;
	w->per_key = per_key ? per_key : n;
	w->max_wait_ms = max_wait_ms;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->ready, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->watch, &attr);
	pthread_condattr_destroy(&attr);
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		workers_stop(&w);
		return NULL;
	}
	if (max_wait_ms)
		w->watching = pthread_create(&w->watchdog, NULL, watchdog_main, w) == 0;
	if (max_wait_ms && !w->watching) {
		workers_stop(&w);
		return NULL;
	}
	return w;
}

int workers_submit(struct workers *w, uint64_t key, workers_job_fn *fn, workers_job_fn *expired,
                   void *arg)
{
	int rc = -1;
	pthread_mutex_lock(&w->lock);
	if (!w->stopping && w->queued < w->queue_max) {
		struct job *j = w->free_jobs;
		if (j)
			w->free_jobs = j->next;
		else
			j = malloc(sizeof *j);
		if (j) {
			*j = (struct job){.fn = fn, .expired = w->max_wait_ms ? expired : NULL,
			                  .arg = arg, .key = key, .queued_ms = imap_now_ms()};
			if (w->tail) {
				w->tail->next = j;
			} else {
				w->head = j;
				if (w->watching)
					pthread_cond_signal(&w->watch);  /* a new oldest job */
			}
			w->tail = j;
			w->queued++;
			pthread_cond_signal(&w->ready);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

unsigned workers_busy(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned n = w->queued + w->running_total;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void workers_stop(struct workers **wp)
{
	if (!wp || !*wp)
		return;
	struct workers *w = *wp;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->ready);
	pthread_cond_broadcast(&w->watch);
	pthread_mutex_unlock(&w->lock);
	if (w->watching)
		pthread_join(w->watchdog, NULL);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->ready);
	pthread_cond_destroy(&w->watch);
	for (struct job *j = w->free_jobs, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	for (struct job *j = w->head, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	free(w->running);
	free(w->threads);
	free(w);
	*wp = NULL;
}
