/*
 * server/workers.h — a fixed pool of threads running queued jobs, with a
 * bounded queue: submitting to a full queue fails at once (the caller
 * answers 503) instead of piling up work the IMAP side cannot absorb.
 *
 * Fairness: every job carries a key (the request's credentials), and a
 * worker never starts a job whose key already has `per_key` jobs running.
 * Those would only wait for one of the key's pooled IMAP sessions while
 * holding a thread; left in the queue instead, they cannot starve other
 * users' requests. Jobs otherwise start oldest first.
 */
#ifndef IMAPGW_SERVER_WORKERS_H
#define IMAPGW_SERVER_WORKERS_H

#include <stdint.h>

typedef void workers_job_fn(void *arg);

struct workers;

/* Start n threads with room for queue_max waiting jobs, running at most
 * per_key jobs of one key at a time. A job still waiting to start
 * max_wait_ms after it was queued (0: no limit) is not run: its `expired`
 * function is called instead, on the pool's watchdog thread, at most a few
 * milliseconds late. NULL on failure. */
struct workers *workers_start(unsigned n, unsigned queue_max, unsigned per_key,
                              unsigned max_wait_ms);

/* Queue fn(arg) under key; expired(arg) runs instead of fn when the job
 * waited too long (NULL: it waits however long it takes). Exactly one of
 * the two runs, once. Returns 0, or -1 when the queue is full or
 * stopping. */
int workers_submit(struct workers *w, uint64_t key, workers_job_fn *fn, workers_job_fn *expired,
                   void *arg);

/* Jobs queued or running right now. */
unsigned workers_busy(struct workers *w);

/* Run what is queued, then join the threads and free; sets *w to NULL. */
void workers_stop(struct workers **w);

#endif
