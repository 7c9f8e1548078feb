/*
 * server/workers.h — a fixed pool of threads running queued jobs, with a
 * bounded queue: submitting to a full queue fails at once (the caller
 * answers 503) instead of piling up work the IMAP side cannot absorb.
 */
#ifndef IMAPGW_SERVER_WORKERS_H
#define IMAPGW_SERVER_WORKERS_H

typedef void workers_job_fn(void *arg);

struct workers;

/* Start n threads with room for queue_max waiting jobs. NULL on failure. */
struct workers *workers_start(unsigned n, unsigned queue_max);

/* Queue fn(arg). Returns 0, or -1 when the queue is full or stopping. */
int workers_submit(struct workers *w, workers_job_fn *fn, void *arg);

/* Jobs queued or running right now. */
unsigned workers_busy(struct workers *w);

/* Run what is queued, then join the threads and free; sets *w to NULL. */
void workers_stop(struct workers **w);

#endif
