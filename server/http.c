/*
 * server/http.c — libmicrohttpd front end. See http.h for the threading
 * model.
 *
 * libmicrohttpd calls the access handler several times per request:
 *   1. headers are in: we allocate the request context and return (queuing
 *      a response on this first call would disable keep-alive);
 *   2. zero or more calls with body bytes: counted against --body-max, or
 *      --append-max for a message to append (API_ROUTE_MESSAGE);
 *   3. a call with no more body: we hand it to the API. Memory-only routes
 *      (and requests no route takes) answer now; API_ROUTE_IMAP routes
 *      suspend the connection and go to a worker, which resumes it when
 *      done, and the handler is called once more to send the answer.
 * What this file refuses itself (a path, body or query too large, a full
 * queue) it reports as an enum api_err; api/ decides the status and body.
 * The context lives until libmicrohttpd reports the request completed.
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "imap/base/clock.h"
#include "imap/base/codec.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/web.h"
#include "server/workers.h"

struct http_server {
	const struct server_config *cfg;
	struct MHD_Daemon *mhd;
	struct workers *workers;
	atomic_uint inflight;
	atomic_bool stopping;   /* the drain is over: streamed downloads give up */
	atomic_ullong next_id;
	unsigned long long id_salt;
};

enum req_state { REQ_NEW, REQ_BODY, REQ_RUNNING, REQ_STREAM, REQ_STREAMING, REQ_DONE };

/*
 * A streamed body: a bounded ring between the worker (writer) and the
 * libmicrohttpd thread (reader, in stream_read). When the ring is empty the
 * reader suspends the connection and the writer resumes it with the next
 * bytes; when it is full the writer waits (until its deadline). Owned by
 * the worker and by the libmicrohttpd response: freed by the last to let go.
 */
struct stream {
	pthread_mutex_t mu;
	pthread_cond_t room;      /* signalled when the reader took bytes or left */
	struct MHD_Connection *conn;
	char *ring;
	size_t cap, head, len;
	uint64_t length;          /* announced length or MHD_SIZE_UNKNOWN */
	bool eof, complete;       /* the writer has finished (whole or cut short) */
	bool gone;                /* the response was freed: nobody reads any more */
	bool suspended;           /* the reader suspended the connection for data */
	bool events;              /* an event stream: writes never wait (events_write) */
	int refs;
};

struct req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	enum req_state state;
	atomic_int refs;    /* libmicrohttpd's, and the worker's while it runs */
	struct stream *stream;
	bool events;        /* q->stream is an event stream: its writer owns a reference */
	bool too_large;
	bool message_body;  /* the body is a message to append: --append-max */
	size_t uri_len;     /* of the request target as sent, query included */
	size_t header_len;  /* bytes of the header fields (names and values) */
	bool query_cut;     /* more query arguments than API_QUERY_MAX: cut off unread */
	const struct api_route *route; /* NULL: none takes this method and path */
	char id[WEB_REQUEST_ID_MAX + 1]; /* ours, or the client's X-Request-Id */
	char trace[33];     /* the trace id of a W3C traceparent, or "" */
	int64_t start_ms;
	int64_t queued_ms;  /* when handed to the worker queue */
	char *path;
	struct imap_buf body;
	struct api_request api;
	struct api_response resp;
};

/* ---- building the API request ---- */

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	(void)kind;
	struct api_request *r = cls;
	if (r->nquery == API_QUERY_MAX) {
		r->query_overflow = true;
		return MHD_NO;
	}
	r->query[r->nquery].key = key;
	r->query[r->nquery].value = value ? value : "";
	r->nquery++;
	return MHD_YES;
}

static void build_api_request(struct req *q, const char *method)
{
	struct api_request *r = &q->api;
	r->id = q->id;
	r->method = method;
	r->path = q->path;
	r->deadline = q->start_ms + q->srv->cfg->request_timeout_ms;
	r->authorization = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	                                               MHD_HTTP_HEADER_AUTHORIZATION);
	r->imap_user = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Imap-User");
	r->imap_server = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Imap-Server");
	r->if_none_match = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	                                               MHD_HTTP_HEADER_IF_NONE_MATCH);
	r->content_type = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND,
	                                              MHD_HTTP_HEADER_CONTENT_TYPE);
	r->last_event_id = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, "Last-Event-ID");
	r->body = q->body.data;
	r->body_len = q->body.len;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	r->client_addr = ci ? ci->client_addr : NULL;
	MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, collect_query, r);
}

/* ---- answering ---- */

static const char *request_header(const struct req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

/* What a browser needs to read the answer from another origin
 * (--cors-origins): the origin allowed, the headers it may read, and
 * for a preflight (OPTIONS with Access-Control-Request-Method) the
 * methods of the path (the Allow the router computed) and the request
 * headers it may send. */
static void add_cors(struct req *q, struct MHD_Response *r)
{
	const char *origin = web_cors_origin(q->srv->cfg->cors_origins, request_header(q, "Origin"));
	if (!origin)
		return;
	MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
	if (strcmp(origin, "*") != 0)
		MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
	const struct api_response *a = &q->resp;
	if (strcmp(q->api.method ? q->api.method : "", "OPTIONS") == 0 &&
	    request_header(q, "Access-Control-Request-Method")) {
		for (size_t i = 0; i < a->nheaders; i++)
			if (strcmp(a->headers[i].name, "Allow") == 0)
				MHD_add_response_header(r, "Access-Control-Allow-Methods", a->headers[i].value);
		MHD_add_response_header(r, "Access-Control-Allow-Headers",
		                        "Authorization, Content-Type, If-None-Match, Last-Event-ID, "
		                        "X-Imap-User, X-Request-Id, traceparent");
		MHD_add_response_header(r, "Access-Control-Max-Age", "600");
	} else {
		MHD_add_response_header(r, "Access-Control-Expose-Headers",
		                        "ETag, Link, Retry-After, X-Request-Id, Content-Disposition");
	}
}

/* Add q's headers to r and queue it (r is released). vary: the answer
 * differs by Accept-Encoding; gzipped: the body is gzip (a strong ETag
 * becomes weak: the bytes are not those of the identity coding). */
static enum MHD_Result queue(struct req *q, struct MHD_Response *r, bool vary, bool gzipped)
{
	const struct api_response *a = &q->resp;
	if (a->status != 204)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
	MHD_add_response_header(r, "X-Request-Id", q->id);
	for (size_t i = 0; i < a->nheaders; i++) {
		const char *v = a->headers[i].value;
		char weak[sizeof a->headers[0].value + 2];
		if (gzipped && strcmp(a->headers[i].name, "ETag") == 0 && v[0] == '"') {
			snprintf(weak, sizeof weak, "W/%s", v);
			v = weak;
		}
		MHD_add_response_header(r, a->headers[i].name, v);
	}
	if (gzipped)
		MHD_add_response_header(r, "Content-Encoding", "gzip");
	const char *cors = q->srv->cfg->cors_origins;
	bool by_origin = cors && *cors && strcmp(cors, "*") != 0;
	if (vary || by_origin)
		MHD_add_response_header(r, "Vary", vary && by_origin ? "Origin, Accept-Encoding"
		                                   : vary              ? "Accept-Encoding"
		                                                       : "Origin");
	add_cors(q, r);
	enum MHD_Result ret = MHD_queue_response(q->conn, (unsigned)a->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A JSON answer (problems included) that may go out gzipped: a body of
 * at least --gzip-min-bytes (or a 304 standing for one). */
static bool gzip_candidate(const struct req *q)
{
	const struct api_response *a = &q->resp;
	size_t min = q->srv->cfg->gzip_min_bytes;
	/* a 304 says what the 200 would: it varies as the 200 does */
	return min && (a->status == 304 || (a->body.len >= min && a->status != 204)) &&
	       (strncmp(a->content_type, "application/json", 16) == 0 ||
	        strncmp(a->content_type, "application/problem+json", 24) == 0);
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result send_response(struct req *q)
{
	struct api_response *a = &q->resp;
	size_t len = a->body.len;
	bool vary = gzip_candidate(q), gzipped = false;
	char *data = imap_buf_steal(&a->body);
	if (vary && len && web_accepts_gzip(request_header(q, "Accept-Encoding"))) {
		char *z;
		size_t zlen;
		if (web_gzip(data ? data : "", len, 1, &z, &zlen) == 0) {
			free(data);
			data = z;
			len = zlen;
			gzipped = true;
		}
	}
	struct MHD_Response *r;
	if (a->status == 304 || a->status == 204) {
		/* Neither a body nor Content-Length: 0 (RFC 9110 §8.6: a 304's
		 * would have to be the 200's length). libmicrohttpd 0.9.75 can
		 * frame a bodiless 304 only three ways: that wrong length,
		 * chunked (and then it sends a stray last-chunk that corrupts
		 * the next answer on the connection), or by closing the
		 * connection after it. A 304 takes the last: a response of
		 * unknown length without chunked coding (HTTP/1.0 framing);
		 * a 204 gets no framing header at all and keeps the connection. */
		free(data);
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1, no_body, NULL, NULL);
		if (r && a->status == 304)
			MHD_set_response_options(r, MHD_RF_HTTP_VERSION_1_0_ONLY, MHD_RO_END);
	} else {
		r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(data);
	}
	if (!r)
		return MHD_NO;
	return queue(q, r, vary, gzipped);
}

/* ---- streamed bodies ---- */

static void stream_unref(struct stream *st)
{
	pthread_mutex_lock(&st->mu);
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->mu);
	if (!last)
		return;
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->room);
	free(st->ring);
	free(st);
}

/* libmicrohttpd wants the next bytes of the body (on its thread). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *st = cls;
	ssize_t n = 0;
	pthread_mutex_lock(&st->mu);
	if (st->len > 0) {
		size_t take = st->len < max ? st->len : max;
		size_t first = st->cap - st->head < take ? st->cap - st->head : take;
		memcpy(buf, st->ring + st->head, first);
		memcpy(buf + first, st->ring, take - first);
		st->head = (st->head + take) % st->cap;
		st->len -= take;
		pthread_cond_signal(&st->room);
		n = (ssize_t)take;
	} else if (st->eof) {
		n = st->complete ? MHD_CONTENT_READER_END_OF_STREAM
		                 : MHD_CONTENT_READER_END_WITH_ERROR;
	} else {
		/* Nothing yet: park the connection until the writer has more. */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
	}
	pthread_mutex_unlock(&st->mu);
	return n;
}

static void stream_wake(struct stream *st)
{
	if (st->suspended && !st->gone) {
		st->suspended = false;
		MHD_resume_connection(st->conn);
	}
}

static void stream_response_freed(void *cls)
{
	struct stream *st = cls;
	pthread_mutex_lock(&st->mu);
	st->gone = true;
	pthread_cond_signal(&st->room);
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
}

static int stream_begin(void *ctx, const struct api_response *head, uint64_t length)
{
	struct req *q = ctx;
	(void)head;  /* q->resp is head: sent by on_request when resumed */
	struct stream *st = calloc(1, sizeof *st);
	if (!st || !(st->ring = malloc(q->srv->cfg->stream_buffer))) {
		free(st);
		return -1;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->room, NULL);
	st->conn = q->conn;
	st->cap = q->srv->cfg->stream_buffer;
	st->length = length == API_LENGTH_UNKNOWN ? MHD_SIZE_UNKNOWN : length;
	st->refs = 2;  /* the worker's, and the response's once queued */
	q->stream = st;
	q->state = REQ_STREAM;
	MHD_resume_connection(q->conn);  /* on_request queues the response */
	return 0;
}

static int stream_write(void *ctx, const char *data, size_t len, int64_t deadline)
{
	struct req *q = ctx;
	struct stream *st = q->stream;
	int rc = 0;
	pthread_mutex_lock(&st->mu);
	while (len > 0) {
		if (st->gone) {
			rc = -1;
			break;
		}
		if (st->len == st->cap) {
			stream_wake(st);
			int64_t now = imap_now_ms();
			if (now >= deadline || atomic_load(&q->srv->stopping)) {
				rc = -1;
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			/* In slices: a stopping server ends the wait (http_server_stop). */
			int64_t wait = deadline - now < 100 ? deadline - now : 100;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&st->room, &st->mu, &ts);
			continue;
		}
		size_t tail = (st->head + st->len) % st->cap;
		size_t room = st->cap - st->len;
		size_t take = len < room ? len : room;
		size_t first = st->cap - tail < take ? st->cap - tail : take;
		memcpy(st->ring + tail, data, first);
		memcpy(st->ring, data + first, take - first);
		st->len += take;
		data += take;
		len -= take;
	}
	/* Wake a parked reader only once a good share of the ring is ready:
	 * one resume per few pieces, not per piece (a resume costs a wakeup
	 * of the event thread). stream_end wakes it for the rest. */
	if (st->len >= st->cap / 4)
		stream_wake(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static void stream_end(void *ctx, bool complete)
{
	struct req *q = ctx;
	struct stream *st = q->stream;
	pthread_mutex_lock(&st->mu);
	st->eof = true;
	st->complete = complete;
	stream_wake(st);
	pthread_mutex_unlock(&st->mu);
}

static const struct api_stream_ops stream_ops = {stream_begin, stream_write, stream_end};

/* ---- event streams: the same ring, written from the event hub's threads
 * without ever waiting (a client too slow for --events-buffer is cut off),
 * and read by libmicrohttpd, which sleeps (suspended) while it is empty. */

static void *events_open(void *ctx, const struct api_response *head)
{
	struct req *q = ctx;
	(void)head;  /* q->resp is head: sent by on_request when resumed */
	struct stream *st = calloc(1, sizeof *st);
	if (!st || !(st->ring = malloc(q->srv->cfg->events_buffer))) {
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->room, NULL);
	st->conn = q->conn;
	st->cap = q->srv->cfg->events_buffer;
	st->length = MHD_SIZE_UNKNOWN;
	st->events = true;
	st->refs = 2;  /* the writer's (until events_close), and the response's */
	q->stream = st;
	q->events = true;
	q->state = REQ_STREAM;
	MHD_resume_connection(q->conn);  /* on_request queues the response */
	return st;
}

static int events_write(void *handle, const char *data, size_t len)
{
	struct stream *st = handle;
	int rc = 0;
	pthread_mutex_lock(&st->mu);
	if (st->gone || st->eof) {
		rc = -1;
	} else if (st->cap - st->len < len) {
		st->eof = true;  /* cut: the client resumes with Last-Event-ID */
		st->complete = false;
		rc = -1;
	} else {
		size_t tail = (st->head + st->len) % st->cap;
		size_t first = st->cap - tail < len ? st->cap - tail : len;
		memcpy(st->ring + tail, data, first);
		memcpy(st->ring, data + first, len - first);
		st->len += len;
	}
	stream_wake(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

static void events_close(void *handle)
{
	struct stream *st = handle;
	pthread_mutex_lock(&st->mu);
	if (!st->eof) {
		st->eof = true;
		st->complete = true;
	}
	stream_wake(st);
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
}

static const struct api_events_ops events_ops = {events_open, events_write, events_close};

static enum MHD_Result send_stream(struct req *q)
{
	struct stream *st = q->stream;
	struct MHD_Response *r = MHD_create_response_from_callback(
		st->length, 32 * 1024, stream_read, st, stream_response_freed);
	if (!r) {
		stream_response_freed(st);
		return MHD_NO;
	}
	return queue(q, r, false, false);
}

static void req_unref(struct req *q)
{
	if (atomic_fetch_sub(&q->refs, 1) != 1)
		return;
	api_response_free(&q->resp);
	imap_buf_free(&q->body);
	free(q->path);
	free(q);
}

/* The key that keeps one user's requests from holding every worker: the
 * credentials as sent (FNV-1a of Authorization, X-Imap-User and
 * X-Imap-Server: the same user on two servers has two shares). */
static uint64_t fairness_key(const struct api_request *r)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[3] = {r->authorization ? r->authorization : "",
	                        r->imap_user ? r->imap_user : "",
	                        r->imap_server ? r->imap_server : ""};
	for (int i = 0; i < 3; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return h;
}

/* Hand the finished answer back to the event thread. */
static void job_done(struct req *q)
{
	if (q->stream) {
		/* The body went out through the stream: the connection is no
		 * longer ours to resume, nor q->state ours to change. An event
		 * stream's writer keeps its reference (events_close drops it). */
		if (!q->events)
			stream_unref(q->stream);
		req_unref(q);
		return;
	}
	q->state = REQ_DONE;
	MHD_resume_connection(q->conn);
	req_unref(q);
}

/* The job waited for a free worker (or for this user's sessions) longer
 * than --pool-wait: the same answer as a pool that has no session.
 * Called by the workers' watchdog instead of run_job. */
static void job_expired(void *arg)
{
	struct req *q = arg;
	api_fail(&q->resp, API_ERR_BUSY, "too many requests in progress for these credentials");
	job_done(q);
}

/* Work a handler left for after its answer (struct api_after), queued on
 * the workers under its own key, step after step, each at the back. */
struct after_job {
	struct http_server *srv;
	struct api_after a;
	char id[WEB_REQUEST_ID_MAX + 8];  /* the request's, with "/after" */
};

static void after_end(void *arg)
{
	struct after_job *j = arg;
	j->a.end(j->a.arg);
	free(j);
}

static void after_run(void *arg)
{
	struct after_job *j = arg;
	log_set_thread_request(j->id);
	bool again = j->a.step(j->a.arg);
	log_set_thread_request(NULL);
	if (!again || workers_submit(j->srv->workers, j->a.key, after_run, after_end, j) != 0)
		after_end(j);
}

/* Queue a's steps (or end it at once when they cannot be queued). */
static void after_queue(struct http_server *srv, const char *req_id, struct api_after a)
{
	struct after_job *j = malloc(sizeof *j);
	if (!j) {
		a.end(a.arg);
		return;
	}
	*j = (struct after_job){.srv = srv, .a = a};
	snprintf(j->id, sizeof j->id, "%s/after", req_id);
	if (workers_submit(srv->workers, a.key, after_run, after_end, j) != 0)
		after_end(j);
}

static void run_job(void *arg)
{
	struct req *q = arg;
	unsigned wait = q->srv->cfg->pool_wait_ms;
	if (wait && imap_now_ms() - q->queued_ms > wait) {
		job_expired(q);  /* started just as the watchdog would have */
		return;
	}
	log_set_thread_request(q->id);
	api_handle(&q->api, &q->resp);
	log_set_thread_request(NULL);
	/* What the handler left for later starts once the answer is handed
	 * back (job_done may free q). */
	struct api_after after = q->resp.after;
	q->resp.after = (struct api_after){0};
	struct http_server *srv = q->srv;
	char id[WEB_REQUEST_ID_MAX + 1];
	snprintf(id, sizeof id, "%s", q->id);
	job_done(q);
	if (after.step)
		after_queue(srv, id, after);
}

/* The request context, made as soon as the request line is in (before
 * libmicrohttpd splits the query off): the URI's length as sent.
 *
 * A query this request will be refused for (longer than --uri-max, or
 * with more arguments than API_QUERY_MAX) is emptied here, in the
 * connection's own buffer that libmicrohttpd 0.9.75 hands us and parses
 * the arguments from (after the "?") right after this call: otherwise it
 * would parse every argument into the connection's memory pool first,
 * and a flood of them fills the pool and closes the connection with no
 * answer at all. tests/integration/test_http_limits.c holds it to that. */
static void *new_request(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	struct http_server *srv = cls;
	struct req *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->srv = srv;
	atomic_init(&q->refs, 1);
	q->start_ms = imap_now_ms();
	q->uri_len = strlen(uri);
	const char *query = strchr(uri, '?');
	size_t args = 0;
	for (const char *p = query; p && *p; p++)
		args += *p == '&' || *p == ';';
	if (query && (q->uri_len > srv->cfg->uri_max || args >= API_QUERY_MAX)) {
		q->query_cut = args >= API_QUERY_MAX;
		((char *)(uintptr_t)query)[1] = '\0';  /* "path?": the arguments are empty */
	}
	snprintf(q->id, sizeof q->id, "%016llx",
	         (unsigned long long)atomic_fetch_add(&srv->next_id, 1) ^ srv->id_salt);
	api_response_init(&q->resp);
	q->state = REQ_NEW;
	atomic_fetch_add(&srv->inflight, 1);
	return q;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;  /* ": " CRLF */
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct http_server *srv = cls;
	struct req *q = *con_cls;

	if (!q)
		return MHD_NO;  /* new_request failed for want of memory */
	if (q->state == REQ_NEW) {
		q->conn = conn;
		q->api.method = method;
		const char *rid = request_header(q, "X-Request-Id");
		if (web_request_id_ok(rid))
			snprintf(q->id, sizeof q->id, "%s", rid);
		if (!web_traceparent(request_header(q, "traceparent"), q->trace))
			q->trace[0] = '\0';
		q->path = strdup(url);
		q->route = api_route_for(method, url);
		q->message_body = q->route && (q->route->flags & API_ROUTE_MESSAGE);
		imap_buf_init(&q->body, q->message_body ? srv->cfg->append_max : srv->cfg->body_max);
		MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &q->header_len);
		q->state = REQ_BODY;
		return MHD_YES;
	}
	if (q->state == REQ_BODY && *upload_size > 0) {
		/* Count what arrives; never trust Content-Length. */
		if (!q->too_large && imap_buf_append(&q->body, upload_data, *upload_size) != 0) {
			q->too_large = true;
			imap_buf_free(&q->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->state == REQ_DONE)
		return send_response(q);
	if (q->state == REQ_STREAM) {
		q->state = REQ_STREAMING;
		return send_stream(q);
	}
	if (q->state == REQ_RUNNING || q->state == REQ_STREAMING)
		return MHD_YES;  /* spurious call while suspended */

	if (!q->path)
		return MHD_NO;
	if (q->uri_len > srv->cfg->uri_max) {
		api_fail(&q->resp, API_ERR_URI_TOO_LONG,
		         "the request URI is longer than --uri-max (%zu bytes, query included)",
		         srv->cfg->uri_max);
	} else if (q->header_len > srv->cfg->header_max) {
		api_fail(&q->resp, API_ERR_HEADERS_TOO_LARGE,
		         "the header fields are larger than --header-max (%zu bytes)",
		         srv->cfg->header_max);
	} else if (q->too_large) {
		api_fail(&q->resp, API_ERR_TOO_LARGE, "the %s is larger than %s (%zu bytes)",
		         q->message_body ? "message" : "request body",
		         q->message_body ? "--append-max" : "--body-max",
		         q->message_body ? srv->cfg->append_max : srv->cfg->body_max);
	} else {
		build_api_request(q, method);
		if (q->api.query_overflow || q->query_cut) {
			api_fail(&q->resp, API_ERR_BAD_REQUEST, "more than %d query parameters",
			         API_QUERY_MAX);
		} else if (!q->route || !(q->route->flags & API_ROUTE_IMAP)) {
			api_handle(&q->api, &q->resp);
		} else {
			q->state = REQ_RUNNING;
			q->queued_ms = imap_now_ms();
			q->api.stream = &stream_ops;
			q->api.stream_ctx = q;
			q->api.events = &events_ops;
			q->api.events_ctx = q;
			atomic_fetch_add(&q->refs, 1);
			MHD_suspend_connection(conn);
			if (workers_submit(srv->workers, fairness_key(&q->api), run_job, job_expired, q) == 0)
				return MHD_YES;
			atomic_fetch_sub(&q->refs, 1);
			MHD_resume_connection(conn);
			api_fail(&q->resp, API_ERR_BUSY, "too many requests in progress");
		}
	}
	q->state = REQ_DONE;
	return send_response(q);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	struct http_server *srv = cls;
	struct req *q = *con_cls;
	if (!q)
		return;
	bool answered = q->state == REQ_DONE || q->state == REQ_STREAMING;
	metrics_request(q->path ? api_route_name(q->path) : "other",
	                answered ? q->resp.status : 0, imap_now_ms() - q->start_ms);
	if (log_enabled(LOG_INFO)) {
		struct log_field f[] = {
			{"method", q->api.method ? q->api.method : "-", 0},
			{"path", q->path ? q->path : "-", 0},
			{"status", NULL, answered ? q->resp.status : 0},
			{"ms", NULL, (long long)(imap_now_ms() - q->start_ms)},
			{"end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted", 0},
			{"trace_id", q->trace, 0},
		};
		log_fields(LOG_INFO, q->id, "request", f, q->trace[0] ? 6 : 5);
	}
	if (q->stream && q->state == REQ_STREAM) {
		/* Closed before the streamed response was queued: nobody reads. */
		q->state = REQ_STREAMING;
		stream_response_freed(q->stream);
	}
	*con_cls = NULL;
	atomic_fetch_sub(&srv->inflight, 1);
	req_unref(q);
}

/* Percent-decoding of paths and query arguments, as libmicrohttpd's own
 * except that "%00" stays as it is: a NUL would silently cut the string
 * every later step reads ("folder=INBOX%00x" would name INBOX). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	size_t r = 0, w = 0;
	while (s[r]) {
		int hi, lo;
		if (s[r] == '%' && (hi = imap_hex_digit(s[r + 1])) >= 0 &&
		    (lo = imap_hex_digit(s[r + 2])) >= 0 && (hi | lo) != 0) {
			s[w++] = (char)(hi << 4 | lo);
			r += 3;
		} else {
			s[w++] = s[r++];
		}
	}
	s[w] = '\0';
	return w;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_event(LOG_WARN, NULL, msg, (const char *)NULL);
}

/* GET /metrics (api_set_metrics): the pools' and the workers' state. */
static void render_metrics(void *ctx, struct imap_buf *out)
{
	struct http_server *s = ctx;
	metrics_render(workers_busy(s->workers), out);
}

struct http_server *http_server_start(const struct server_config *cfg)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, cfg->listen_host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(cfg->listen_port);
	} else if (inet_pton(AF_INET6, cfg->listen_host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(cfg->listen_port);
		flags |= MHD_USE_IPv6;
	} else {
		log_msgf(LOG_ERROR, NULL, "--listen needs a numeric address, not '%s'", cfg->listen_host);
		return NULL;
	}

	struct http_server *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cfg = cfg;
	unsigned long long salt = 0;
	FILE *ur = fopen("/dev/urandom", "rb");
	if (ur) {
		if (fread(&salt, sizeof salt, 1, ur) != 1)
			salt = (unsigned long long)getpid();
		fclose(ur);
	}
	s->id_salt = salt;
	s->workers = workers_start(cfg->workers, cfg->queue_max, cfg->pool_per_user,
	                           cfg->pool_wait_ms);
	if (!s->workers) {
		free(s);
		return NULL;
	}
	api_set_metrics(render_metrics, s);
	/* The connection's memory pool holds the request line and header
	 * fields as read, an entry (about 56 bytes) per query argument and
	 * header field, and the answer's header. Sized so that a request
	 * within --uri-max and --header-max with a usual number of header
	 * fields reaches on_request, which answers problem+json for what
	 * passes the limits (new_request keeps argument floods out of it).
	 * Beyond that, libmicrohttpd answers itself (see README: what the
	 * HTTP library decides). The pool is touched whole, so this is also
	 * what one open connection costs. */
	size_t mem = cfg->uri_max + cfg->header_max + 256 * 64 + 16 * 1024;
	s->mhd = MHD_start_daemon(
		flags, cfg->listen_port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
		on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss,
		MHD_OPTION_THREAD_POOL_SIZE, cfg->http_threads, MHD_OPTION_CONNECTION_LIMIT,
		cfg->http_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_idle_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, new_request, s,
		MHD_OPTION_END);
	if (!s->mhd) {
		log_msgf(LOG_ERROR, NULL, "cannot listen on %s:%u", cfg->listen_host,
		         (unsigned)cfg->listen_port);
		workers_stop(&s->workers);
		free(s);
		return NULL;
	}
	return s;
}

void http_server_stop(struct http_server **sp)
{
	if (!sp || !*sp)
		return;
	struct http_server *s = *sp;
	MHD_quiesce_daemon(s->mhd);  /* no new connections */
	api_stop_events();           /* event streams end (in-flight until then) */
	/* Requests in flight get --request-timeout to finish (their own
	 * deadline, downloads aside); then streamed downloads give up (a
	 * worker waiting for a slow reader wakes within 100 ms) and what is
	 * left gets most of one more second before the connections close. */
	int64_t start = imap_now_ms(), until = start + s->cfg->request_timeout_ms;
	while (atomic_load(&s->inflight) > 0 && imap_now_ms() < until)
		usleep(10000);
	atomic_store(&s->stopping, true);
	until += 700;  /* the rest of the second: workers join, connections close */
	while (atomic_load(&s->inflight) > 0 && imap_now_ms() < until)
		usleep(10000);
	workers_stop(&s->workers);
	MHD_stop_daemon(s->mhd);
	api_set_metrics(NULL, NULL);
	free(s);
	*sp = NULL;
}
