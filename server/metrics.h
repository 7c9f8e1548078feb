/*
 * server/metrics.h — counters for /metrics (Prometheus text format 0.0.4).
 * Lock-free: every counter is an atomic, safe from any thread.
 */
#ifndef IMAPGW_SERVER_METRICS_H
#define IMAPGW_SERVER_METRICS_H

#include <stdint.h>

#include "imap/base/buf.h"

/* One finished HTTP request: route name (api_route_name), status, duration. */
void metrics_request(const char *route, int status, int64_t elapsed_ms);

/* One finished IMAP command (an imap_command_fn); ctx is
 * metrics_server_ctx(i) of the server (api_config()->servers[i]) the
 * session talks to. */
void metrics_imap_command(void *ctx, const char *name, int result, int64_t elapsed_ms);
void *metrics_server_ctx(size_t server);

/* Note the process's start time (process_start_time_seconds); called once
 * by main before serving. */
void metrics_start(void);

/* Render every metric, with each server's pool state (labelled server="name")
 * and the index, into out. */
void metrics_render(unsigned workers_busy, struct imap_buf *out);

#endif
