/*
 * api/api.h — the REST API, independent of the HTTP library.
 *
 * server/ turns each HTTP request into a struct api_request, calls
 * api_handle (on a worker thread when api_route_for names a route with
 * API_ROUTE_IMAP, inline otherwise) and sends back the struct api_response.
 * Which handler serves a request is decided by one table (api/routes.c);
 * the HTTP status and error body of every failure by one mapping
 * (api_fail and api_imap_problem, api/errors.c), from typed codes: the
 * server's own refusals (body too large, queue full …) included.
 *
 * Inside api/: handlers (one file per resource, declared in
 * api/handlers.h) use the helpers (params, body, session, render, jsonw)
 * and never each other.
 */
#ifndef IMAPGW_API_API_H
#define IMAPGW_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "imap/base/buf.h"
#include "imap/base/clock.h"
#include "imap/base/error.h"
#include "imap/client.h"
#include "imap/pool.h"

struct imap_index;
struct imap_watch_hub;
struct api_response;

/*
 * Streamed bodies, for answers too large to hold (a raw message, an
 * attachment). The HTTP layer provides these; a handler uses them through
 * api_stream_* below, never directly. All three run on the handler's
 * thread and may block.
 *   begin  send resp's status and headers (resp->body must be empty) and
 *          open a body of `length` bytes (API_LENGTH_UNKNOWN: chunked);
 *   write  queue bytes, waiting while the client is slow, until deadline;
 *          0, or -1 when the client went away or the deadline passed;
 *   end    close the body: complete, or cut short (the client then sees an
 *          incomplete response, never a truncated success).
 * After begin the handler must no longer read the request's strings (the
 * connection they live in may close at any time).
 */
#define API_LENGTH_UNKNOWN UINT64_MAX
struct api_stream_ops {
	int (*begin)(void *ctx, const struct api_response *head, uint64_t length);
	int (*write)(void *ctx, const char *data, size_t len, int64_t deadline);
	void (*end)(void *ctx, bool complete);
};

/*
 * Event streams (text/event-stream), fed long after the handler has
 * returned, from other threads. The HTTP layer provides these:
 *   open   send resp's status and headers and open a body of unknown
 *          length fed by write; a handle, or NULL;
 *   write  queue bytes without ever waiting: 0, or -1 when the client has
 *          gone or the buffer (--events-buffer) has no room, and then the
 *          body is cut (the client sees the stream end and may resume);
 *   close  end the body and let go of the handle.
 * write and close may be called from any thread, one at a time per handle.
 */
struct api_events_ops {
	void *(*open)(void *ctx, const struct api_response *head);
	int (*write)(void *stream, const char *data, size_t len);
	void (*close)(void *stream);
};

struct api_param {
	const char *key;
	const char *value;  /* URL-decoded; may be "" */
};

#define API_QUERY_MAX 32  /* query parameters kept; more is a 400 */

struct api_request {
	const char *id;            /* request id for logs and problem bodies */
	const char *method;        /* "GET", "POST", ... */
	const char *path;          /* URL-decoded path, e.g. "/folders/Archive/2024" */
	struct api_param query[API_QUERY_MAX];
	size_t nquery;
	bool query_overflow;       /* more than API_QUERY_MAX parameters arrived */
	const char *authorization; /* Authorization header or NULL */
	const char *imap_user;     /* X-Imap-User header or NULL */
	const char *imap_server;   /* X-Imap-Server header or NULL */
	const char *if_none_match; /* If-None-Match header or NULL */
	const char *content_type;  /* Content-Type header or NULL */
	const struct sockaddr *client_addr; /* the HTTP client's address, or NULL */
	const char *body;
	size_t body_len;
	int64_t deadline;          /* imap_now_ms() based */
	const struct api_stream_ops *stream; /* NULL: bodies are collected in resp->body */
	void *stream_ctx;
	const char *last_event_id; /* Last-Event-ID header or NULL */
	const struct api_events_ops *events; /* NULL: no event streams here */
	void *events_ctx;
};

#define API_HEADERS_MAX 6

/*
 * Work to do once the answer has gone (loading a folder into the index).
 * The HTTP layer queues it on the workers after handing the answer back,
 * under `key` (not the request's: it never takes a place of the user's
 * requests), and runs step(arg) again, each time at the back of the
 * queue, while it returns true; end(arg) runs once, after the last step,
 * or instead of any when it cannot run (the queue full, the server
 * stopping, queued for longer than --pool-wait). Where nothing runs it
 * (no HTTP layer), api_response_free calls end.
 */
struct api_after {
	bool (*step)(void *arg);
	void (*end)(void *arg);
	void *arg;
	uint64_t key;
};

struct api_response {
	int status;
	const char *content_type;  /* static string, or content_type_buf */
	/* A Content-Type made for this response (a download's). The HTTP thread
	 * may send the head after the handler has returned, so it lives here. */
	char content_type_buf[512];
	struct imap_buf body;
	struct {
		const char *name;      /* static string */
		char value[2048];
	} headers[API_HEADERS_MAX];
	size_t nheaders;
	bool streamed;             /* the body went out through api_stream_* */
	struct api_after after;    /* step NULL: nothing to do after the answer */
};

/* Initialise an empty response (status 500 until something sets it). */
void api_response_init(struct api_response *r);
void api_response_free(struct api_response *r);

/* Add a header (name must be a static string). Extra headers are dropped. */
void api_response_header(struct api_response *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The value of query parameter key, or NULL. */
const char *api_query(const struct api_request *req, const char *key);

/* ---- routes (api/routes.c: the one route table) ---- */

enum api_route_flag {
	API_ROUTE_IMAP = 1u << 0,       /* talks to IMAP: run it off the HTTP event threads */
	API_ROUTE_IDEMPOTENT = 1u << 1, /* may run again on a fresh session after a dead one */
	API_ROUTE_MESSAGE = 1u << 2,    /* the body is a message to append: --append-max */
};

/* The values a path template names, checked: {uid} (1 to 2^32-1), {part}
 * (digits and dots), {path} (a folder: the rest of the path). */
struct api_match {
	const struct api_route *route;
	uint32_t uid;
	const char *part;   /* points into the request's path */
	const char *path;   /* points into the request's path */
	const char *id;     /* {id}: one non-empty segment, id_len bytes of the path */
	size_t id_len;
};

typedef void api_handler(const struct api_request *req, struct api_response *resp,
                         const struct api_match *m);

struct api_route {
	const char *method;    /* "GET" also answers HEAD */
	const char *path;      /* template, as in openapi.yaml: "/messages/{uid}/flags" */
	const char *name;      /* metrics label, one per path template */
	api_handler *handler;
	unsigned flags;        /* enum api_route_flag */
};

/* The table, in match order, and its length. */
const struct api_route *api_routes(size_t *n);

/* The route that serves method on path (HEAD as GET), or NULL when none
 * does (the answer is then a 404, 405 or 400 made without IMAP). */
const struct api_route *api_route_for(const char *method, const char *path);

/* The metrics label of the path's template, or "other". */
const char *api_route_name(const char *path);

/* The Allow header value of a path (methods of every route whose template
 * it matches, HEAD after GET, OPTIONS last) into out; "" when no route
 * matches. */
void api_route_allow(const char *path, char *out, size_t size);

/* Handle one request, filling *resp (initialised by the caller). Blocks on
 * IMAP for IMAP routes. Never fails: every error becomes a problem body. */
void api_handle(const struct api_request *req, struct api_response *resp);

/* Streamed bodies (see struct api_stream_ops). api_stream_begin sends
 * resp->status and headers; when the request has no stream the body is
 * collected in resp->body instead (bounded by its max). Each returns 0 or
 * -1 when the body cannot go on (client gone, deadline, limit); then the
 * handler stops and calls api_stream_end(..., false). */
int api_stream_begin(const struct api_request *req, struct api_response *resp,
                     uint64_t length);
int api_stream_write(const struct api_request *req, struct api_response *resp,
                     const char *data, size_t len, int64_t deadline);
void api_stream_end(const struct api_request *req, struct api_response *resp, bool complete);

/* True when the If-None-Match list `header` (RFC 9110 §13.1.2: "*", or
 * entity tags, weak ones included, separated by commas) matches the
 * strong tag `etag` (with its quotes) by the weak comparison. */
bool api_etag_matches(const char *header, const char *etag);

/* ---- set-up ---- */

/* One configured IMAP server: a request reaches it only by its name
 * (X-Imap-Server) or through a domain route, never by a host it names. */
#define API_SERVER_NAME_MAX 32  /* bytes of a server name: [A-Za-z0-9._-] */
#define API_SERVERS_MAX 32      /* configured servers, the default included */
struct api_server {
	const char *name;                        /* "default" is --imap-host's */
	struct imap_pool *pool;                  /* borrowed: its own limits and throttle */
	const struct imap_client_config *client; /* borrowed: for /readyz */
	struct imap_watch_hub *watch;            /* borrowed: its watched folders (GET /events);
	                                            NULL: GET /events answers 503 */
};

/* Users whose address ends in "@domain" (any case) go to servers[server]. */
struct api_domain_route {
	const char *domain;
	size_t server;
};

struct api_config {
	const struct api_server *servers; /* borrowed; at least one */
	size_t nservers;
	const struct api_domain_route *routes; /* borrowed */
	size_t nroutes;
	size_t default_server;       /* index of the server when neither picks one */
	unsigned per_page_max;
	unsigned per_page_default;
	unsigned download_timeout_ms; /* deadline of a streamed download, from its start */
	size_t text_max;              /* bytes of one text part fetched for GET /messages/{uid} */
	unsigned bulk_max;           /* UIDs in one bulk write (0: 1000) */
	unsigned search_deadline_ms; /* time GET /search searches (0: 10 s) */
	unsigned search_max_hits;    /* matches one search orders (0: 100000) */
	unsigned thread_max;         /* messages threaded in one request (0: 10000) */
	unsigned changes_max;        /* largest max_changes of GET /changes (0: 5000) */
	unsigned folder_state_max;   /* folders a folder-list state lists one by one (0: 500) */
	struct imap_index *index;    /* borrowed; NULL: listings without the index */
	unsigned index_loads_max;    /* folders loaded into the index at once (0: 4) */
	unsigned request_timeout_ms; /* bound of one loading step (0: 30 s) */
	unsigned events_folders_max; /* folders one event stream may watch (0: 16) */
	/* /senders */
	unsigned senders_batch;      /* UIDs per header FETCH of a scan (0: 1000) */
	unsigned senders_timeout_ms; /* deadline of a scan or action from its start, when
	                                later than the request's (0: the request's) */
	const char *trusted_authserv_ids; /* comma-separated; NULL: none believed */
	unsigned unsubscribe_timeout_ms;  /* one one-click POST, all in (0: 10 s) */
	size_t unsubscribe_body_max;      /* response bytes read of it (0: 64 KiB) */
	const char *unsubscribe_ca;       /* CA file for its TLS; NULL: the system store */
	const char *unsubscribe_allow_hosts; /* comma-separated hosts exempt from the
	                                        address checks (tests); NULL: none */
	/* mailto: unsubscribes over SMTP (host NULL: not configured) */
	const char *smtp_host;
	unsigned smtp_port;
	int smtp_tls;                /* enum api_smtp_tls (api/mailto.h) */
	const char *smtp_ca;
	const char *smtp_from_domain;
	unsigned smtp_timeout_ms;
	/* An event worth a log line (request id, message, then key/value string
	 * pairs, NULL-terminated); NULL: not logged. */
	void (*log_event)(const char *req_id, const char *msg, const char *const *kv);
};

/* After a listing answered without the index (folder, with the index key
 * of the request's credentials, which the server accepted for it): when
 * the folder is not loaded, claim its loading and set resp->after to load
 * it in steps, each on a spare pooled session of these credentials
 * (imap_pool_acquire_spare), giving it back between batches as soon as a
 * request waits for one. At most index_loads_max folders load at once;
 * errors are only logged. (api/index_load.c) */
void api_index_load_after(const struct api_request *req, struct api_response *resp,
                          const unsigned char key[32], const char *folder);

/* The server is stopping: long handlers (a /senders scan) stop between
 * their steps and answer 503 instead of holding the shutdown up. */
void api_stop(void);
bool api_stopping(void);

/* Remember the configuration for every later api_handle call. */
void api_init(const struct api_config *cfg);

/* End every event stream (a final error event) and refuse new ones: the
 * first step of a shutdown. */
void api_stop_events(void);
const struct api_config *api_config(void);

/* Whether s[0..n) is a server name: 1 to API_SERVER_NAME_MAX of
 * [A-Za-z0-9._-]. */
bool api_server_name_ok(const char *s, size_t n);

/* The index of the server named name (any case) among the configured
 * ones, or -1. */
int api_server_index(const char *name);

/* Draining (after SIGTERM, before the listener closes): /readyz answers 503
 * so that load balancers stop sending new requests; the rest still works. */
void api_set_draining(bool draining);

/* GET /metrics: fn appends the Prometheus text to out (server state the
 * API does not own). Set once by the server before it serves; until then
 * the route answers 404. */
typedef void api_metrics_fn(void *ctx, struct imap_buf *out);
void api_set_metrics(api_metrics_fn *fn, void *ctx);

/* ---- errors (api/errors.c): the one place that picks a status ---- */

/* What went wrong, as every layer reports it; errors.c maps each to its
 * status, problem type and headers (Retry-After, WWW-Authenticate). */
enum api_err {
	API_ERR_BAD_REQUEST,   /* 400: a parameter, path value or body is wrong */
	API_ERR_UNKNOWN_SERVER, /* 400: X-Imap-Server names no configured server */
	API_ERR_UNAUTHORIZED,  /* 401: no or unusable credentials */
	API_ERR_NOT_FOUND,     /* 404: no such route, folder, message or part */
	API_ERR_METHOD,        /* 405: the route does not take the method (add Allow) */
	API_ERR_STALE,         /* 409: the folder's UIDVALIDITY is not the client's */
	API_ERR_EXISTS,        /* 409: what would be created exists already */
	API_ERR_REFUSED,       /* 409: not done, it could lose mail */
	API_ERR_CANNOT_CALCULATE, /* 410: changes since that state cannot be told: re-list */
	API_ERR_TOO_LARGE,     /* 413: the request body passed its limit */
	API_ERR_URI_TOO_LONG,  /* 414: the path and query passed --uri-max */
	API_ERR_MEDIA_TYPE,    /* 415: a body of the wrong Content-Type */
	API_ERR_THROTTLED,     /* 429: too many failed logins just now */
	API_ERR_HEADERS_TOO_LARGE, /* 431: the header fields passed --header-max */
	API_ERR_BAD_GATEWAY,   /* 502: the IMAP server is unreachable or misbehaves */
	API_ERR_BUSY,          /* 503: no worker, session or memory free just now */
	API_ERR_NOT_READY,     /* 503: the IMAP server does not answer (readiness) */
	API_ERR_TIMEOUT,       /* 504: an IMAP deadline passed */
};

/* Fill resp with the problem e and a formatted detail. Headers set so far
 * (a download's Content-Disposition, ETag …) are dropped, here and in
 * api_imap_problem. Returns false, for `return api_fail(…)`. */
bool api_fail(struct api_response *resp, enum api_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* api_fail(resp, API_ERR_BAD_REQUEST, …): the most common failure. */
bool api_bad(struct api_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fill resp with the problem matching an IMAP-side error code (rc) and its
 * detail (err may be NULL): 401 refused login, 404 not found, 409 stale
 * UIDVALIDITY, a folder that exists, or a write refused to keep mail safe,
 * 429 throttled (Retry-After: retry_after_s), 503 no session, 504
 * deadline, 502 for a server that is unreachable, untrusted or misbehaving. */
void api_imap_problem(struct api_response *resp, int rc, const struct imap_error *err,
                      unsigned retry_after_s);

/* ---- query parameters (api/params.c) ---- */

#define API_PATH_MAX 1024  /* bytes of a folder path */

/* s as a decimal number in [min, max] (digits only, no sign or blanks). */
bool api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A UID written in decimal, s[0..len), 1 to 2^32-1, no sign or padding. */
bool api_parse_uid(const char *s, size_t len, uint32_t *out);

/* A folder path (UTF-8, 1 to API_PATH_MAX bytes, no CR or LF): true, or
 * false after a 400 naming `what`. */
bool api_check_path(const char *path, const char *what, struct api_response *resp);

/*
 * The folders a request names in `folders`, one rule for every route that
 * takes several (GET /senders, /search, /events, /threads/{id}):
 *   once:      folders=A,B          a comma-separated list;
 *   repeated:  folders=A&folders=B  each value is one folder, whatever
 *              it holds (commas too); an empty value names nothing, so
 *              folders=a,b&folders= names the one folder "a,b".
 * Each must pass api_check_path, none may come twice, at least one and at
 * most max. Returns true with out filled (out->n == 0: the parameter is
 * absent; free with api_folders_free), or false after a 400 (out freed).
 */
struct api_folders {
	char *store;         /* the names, NUL-separated */
	const char **v;      /* n of them, into store */
	size_t n;
};
bool api_folders_param(const struct api_request *req, size_t max, struct api_folders *out,
                       struct api_response *resp);
void api_folders_free(struct api_folders *f);

/* Each returns true with *out set (a default when the parameter is absent),
 * or false with a 400 in resp. */
bool api_folder_param(const struct api_request *req, const char **out,
                      struct api_response *resp);  /* ?folder=, checked as above; default INBOX */
bool api_uidvalidity_param(const struct api_request *req, uint32_t *out,
                           struct api_response *resp);  /* ?uidvalidity=; 0 when absent */
bool api_bool_param(const struct api_request *req, const char *key, bool *out,
                    struct api_response *resp);  /* true|false|1|0|"" (= true); default false */

/* The filters of GET /messages (and /search): unseen, flagged,
 * has_unsubscribe (true|false), from, to, subject, text (1 to 1024 bytes of
 * UTF-8 without control characters), since, before (YYYY-MM-DD; the IMAP
 * dates are written into days[0] and days[1], which f then points to),
 * larger, smaller (bytes). Their keys, for api_known_params lists:
 * API_FILTER_KEYS. */
struct imap_filter;
bool api_text_param(const struct api_request *req, const char *key, const char **out,
                    struct api_response *resp);  /* search text as above; NULL when absent */
#define API_FILTER_KEYS                                                                  \
	"unseen", "flagged", "has_unsubscribe", "from", "to", "subject", "text", "since", \
	"before", "larger", "smaller"
bool api_filter_params(const struct api_request *req, struct imap_filter *f, char days[2][16],
                       struct api_response *resp);

/* Opaque cursors: raw (printable ASCII, at most API_CURSOR_MAX / 4 * 3
 * bytes) as unpadded base64url into out, and back (false when s is not
 * such a string: empty, too long, another alphabet, a NUL inside). */
#define API_CURSOR_MAX 160
void api_base64url_encode(const void *raw, size_t len, struct imap_buf *out);
/* Decoding appends to out; false for more than max characters, another
 * alphabet, nothing decoded, or a NUL inside. */
bool api_base64url_decode(const char *s, size_t max, struct imap_buf *out);
void api_cursor_encode(const char *raw, char *out, size_t cap);
bool api_cursor_decode(const char *s, char *raw, size_t cap);

/* ?key=YYYY-MM-DD as an IMAP date ("5-Feb-2024") in out, *dst = out; *dst
 * NULL when absent; false after a 400. */
bool api_day_param(const struct api_request *req, const char *key, char out[16],
                   const char **dst, struct api_response *resp);

/* 400 unless every query parameter's key is among keys (NULL-terminated). */
bool api_known_params(const struct api_request *req, const char *const *keys,
                      struct api_response *resp);

/* ---- sessions (api/session.c) ---- */

/* Credentials of a request: Basic (user + password) or Bearer + X-Imap-User.
 * Basic is strict RFC 4648 base64 (padding only at the end and only as
 * needed, no byte outside the alphabet; else 401) of "user:password" in
 * UTF-8 without NUL (else 401); a user name with a control byte (< 0x20,
 * 0x7f) is a 400, in Basic and in X-Imap-User alike.
 * Returns 0, or fills resp with 401 / 400 and returns -1. The strings
 * point into *storage, which the caller frees with imap_buf_free. */
int api_credentials(const struct api_request *req, struct imap_credentials *cred,
                    struct imap_buf *storage, struct api_response *resp);

/* The configured server a request goes to: the one X-Imap-Server names
 * (1 to API_SERVER_NAME_MAX bytes of [A-Za-z0-9._-], else a 400; a name
 * not configured is a 400 API_ERR_UNKNOWN_SERVER), else the route of the
 * domain of user (after its last '@'), else the default. NULL after
 * filling resp. Nothing is ever connected but a configured server. */
const struct api_server *api_server_for(const struct api_request *req, const char *user,
                                        struct api_response *resp);

/* api_credentials, then api_server_for: both for the request, or false
 * after filling resp (store freed). On true, free store when cred is done. */
bool api_request_target(const struct api_request *req, struct imap_credentials *cred,
                        struct imap_buf *store, const struct api_server **srv,
                        struct api_response *resp);

/* Run fn on a pooled session of srv for the request's credentials (a login on
 * the way names req->client_addr to the server). When fn fails
 * because a reused session turned out dead, it runs once more on a fresh
 * session if `idempotent` is set or no byte of its commands had been sent
 * (imap_session_bytes_sent unchanged: the server cannot have acted). Returns fn's result (0 or an imap_err);
 * on failure *err says why (pool errors included) and *retry_after_s is set
 * for throttling. */
typedef int api_session_fn(struct imap_session *s, void *ctx, struct imap_error *err);
int api_with_session(const struct api_request *req, const struct api_server *srv,
                     const struct imap_credentials *cred, bool idempotent, api_session_fn *fn,
                     void *ctx, struct imap_error *err, unsigned *retry_after_s);

/* The whole round: the request's credentials and server, fn on a pooled session
 * (retried as above; idempotent when the matched route is
 * API_ROUTE_IDEMPOTENT).
 * Returns true, or false after filling resp with the problem. */
bool api_run(const struct api_request *req, const struct api_match *m, api_session_fn *fn,
             void *ctx, struct api_response *resp);

/* A fingerprint of the request's server and credentials (server name,
 * kind, user, secret) under a random key made once per process:
 * HMAC-SHA256 into out. The secret cannot be recovered from it; equal
 * credentials on the same server give equal fingerprints, the same
 * credentials on two servers never do (the index keeps their folders
 * apart). Returns false (out zeroed) when the request has no usable
 * credentials or server; api_run then answers the problem. vouched (may
 * be NULL) is set when the server's pool holds a session that logged in
 * with these credentials (imap_pool_vouches). */
bool api_credentials_key(const struct api_request *req, unsigned char out[32], bool *vouched);

#endif
