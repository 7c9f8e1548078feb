/*
 * server/workers.c — thread pool with a bounded ring-buffer queue.
 */
#include "server/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
	workers_job_fn *fn;
	void *arg;
};

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct job *ring;
	unsigned cap, head, count, running;
	bool stopping;
	unsigned nthreads;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->count == 0 && !w->stopping)
			pthread_cond_wait(&w->ready, &w->lock);
		if (w->count == 0 && w->stopping)
			break;
		struct job j = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		w->count--;
		w->running++;
		pthread_mutex_unlock(&w->lock);
		j.fn(j.arg);
		pthread_mutex_lock(&w->lock);
		w->running--;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct workers *workers_start(unsigned n, unsigned queue_max)
{
	struct workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->ring = calloc(queue_max, sizeof *w->ring);
	w->threads = calloc(n, sizeof *w->threads);
	if (!w->ring || !w->threads) {
		free(w->ring);
		free(w->threads);
		free(w);
		return NULL;
	}
	w->cap = queue_max;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->ready, NULL);
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		workers_stop(&w);
		return NULL;
	}
	return w;
}

int workers_submit(struct workers *w, workers_job_fn *fn, void *arg)
{
	int rc = -1;
	pthread_mutex_lock(&w->lock);
	if (!w->stopping && w->count < w->cap) {
		w->ring[(w->head + w->count) % w->cap] = (struct job){fn, arg};
		w->count++;
		pthread_cond_signal(&w->ready);
		rc = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

unsigned workers_busy(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned n = w->count + w->running;
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
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->ready);
	free(w->ring);
	free(w->threads);
	free(w);
	*wp = NULL;
}
