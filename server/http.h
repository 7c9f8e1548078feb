/*
 * server/http.h — the libmicrohttpd front end.
 *
 * Threading model: libmicrohttpd runs its own poll()-based thread pool
 * (--http-threads) that only parses HTTP and writes responses; it never
 * waits on IMAP. A request whose route talks to IMAP is suspended and
 * handed to a bounded pool of worker threads (--workers, --queue-max);
 * the worker runs the API handler (blocking on IMAP under the request's
 * deadline) and resumes the connection, and the event thread sends the
 * answer. The queue is fair: a user never holds more workers than it has
 * pooled IMAP sessions (--pool-per-user); its other requests wait in the
 * queue rather than in a worker. So a slow IMAP server or a busy user ties
 * up a few workers, never the event loop nor other users' requests, and
 * thousands of idle keep-alive connections cost only their buffers
 * (--http-connections). A full queue answers 503 at once.
 * Why not the epoll modes: libmicrohttpd 0.9.75's epoll thread stalls when
 * exactly 128 connections are ready at once (see DESIGN §5).
 */
#ifndef IMAPGW_SERVER_HTTP_H
#define IMAPGW_SERVER_HTTP_H

#include "server/config.h"

struct http_server;

/* Start listening (api_init must have been called: /metrics reads the
 * servers' pools from api_config). Returns NULL after logging why. */
struct http_server *http_server_start(const struct server_config *cfg);

/* Stop accepting, let in-flight requests finish, then stop and free:
 * returns within --request-timeout + 1 s. A streamed download still
 * running after --request-timeout is cut short (the client sees an
 * incomplete body); a slow reader's connection is closed. */
void http_server_stop(struct http_server **s);

#endif
