/*
 * api/api.h — the REST API, independent of the HTTP library.
 *
 * server/ turns each HTTP request into a struct api_request, calls
 * api_handle (on a worker thread when api_needs_imap says the route talks
 * to IMAP, inline otherwise) and sends back the struct api_response. The
 * HTTP status and error body of every failure are decided here, in one
 * mapping (api_error_*), from typed imap_err codes.
 */
#ifndef IMAPGW_API_API_H
#define IMAPGW_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"
#include "imap/base/clock.h"
#include "imap/base/error.h"
#include "imap/client.h"
#include "imap/pool.h"

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
	const char *if_none_match; /* If-None-Match header or NULL */
	const char *content_type;  /* Content-Type header or NULL */
	const char *body;
	size_t body_len;
	int64_t deadline;          /* imap_now_ms() based */
	const struct api_stream_ops *stream; /* NULL: bodies are collected in resp->body */
	void *stream_ctx;
};

#define API_HEADERS_MAX 6

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
};

/* Initialise an empty response (status 500 until something sets it). */
void api_response_init(struct api_response *r);
void api_response_free(struct api_response *r);

/* Add a header (name must be a static string). Extra headers are dropped. */
void api_response_header(struct api_response *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The value of query parameter key, or NULL. */
const char *api_query(const struct api_request *req, const char *key);

/* A fixed name for the route serving path, for metrics labels:
 * healthz, readyz, metrics, openapi, folders, folder, messages, message,
 * message_raw, attachments, attachment, other. */
const char *api_route_name(const char *path);

/* True when the route talks to IMAP (the caller must run it off the HTTP
 * event threads); false for routes answered from memory. */
bool api_needs_imap(const struct api_request *req);

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

struct api_config {
	struct imap_pool *pool;      /* borrowed */
	const struct imap_client_config *client; /* borrowed: for /readyz */
	unsigned per_page_max;
	unsigned per_page_default;
	unsigned download_timeout_ms; /* deadline of a streamed download, from its start */
	size_t text_max;              /* bytes of one text part fetched for GET /messages/{uid} */
	unsigned bulk_max;           /* UIDs in one bulk write (0: 1000) */
};

/* Remember the configuration for every later api_handle call. */
void api_init(const struct api_config *cfg);
const struct api_config *api_config(void);

/* ---- errors (api/errors.c): the one place that picks a status ---- */

/* Fill resp with an application/problem+json body whose type is
 * urn:imapgw:problem:<the status's usual name> ("bad-request", "conflict" ...). */
void api_problem(struct api_response *resp, int status, const char *title, const char *detail,
                 const char *imap_code);

/* The same with a type of its own, urn:imapgw:problem:<slug>, where one
 * status has several causes a client tells apart (409). */
void api_problem_typed(struct api_response *resp, int status, const char *slug, const char *title,
                       const char *detail, const char *imap_code);

/* Fill resp with the problem matching an IMAP-side error code (rc) and its
 * detail (err may be NULL): 401 refused login, 404 not found, 409 stale
 * UIDVALIDITY, a folder that exists, or a write refused to keep mail safe,
 * 429 throttled, 503 no session, 504 deadline, 502 for a server that is
 * unreachable, untrusted or misbehaving. */
void api_imap_problem(struct api_response *resp, int rc, const struct imap_error *err,
                      unsigned retry_after_s);

/* ---- query parameters (api/params.c) ---- */

#define API_PATH_MAX 1024  /* bytes of a folder path */

/* Fill resp with a 400 whose detail is the formatted text; returns false
 * (for `return api_bad(…)`). */
bool api_bad(struct api_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* s as a decimal number in [min, max] (digits only, no sign or blanks). */
bool api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A UID written in decimal, s[0..len), 1 to 2^32-1, no sign or padding. */
bool api_parse_uid(const char *s, size_t len, uint32_t *out);

/* A folder path (UTF-8, 1 to API_PATH_MAX bytes, no CR or LF): true, or
 * false after a 400 naming `what`. */
bool api_check_path(const char *path, const char *what, struct api_response *resp);

/* Each returns true with *out set (a default when the parameter is absent),
 * or false with a 400 in resp. */
bool api_folder_param(const struct api_request *req, const char **out,
                      struct api_response *resp);  /* ?folder=, checked as above; default INBOX */
bool api_uidvalidity_param(const struct api_request *req, uint32_t *out,
                           struct api_response *resp);  /* ?uidvalidity=; 0 when absent */
bool api_bool_param(const struct api_request *req, const char *key, bool *out,
                    struct api_response *resp);  /* true|false|1|0|"" (= true); default false */

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

/* Run fn on a pooled session for the request's credentials. When fn fails
 * because a reused session turned out dead and `idempotent` is set, it runs
 * once more on a fresh session. Returns fn's result (0 or an imap_err);
 * on failure *err says why (pool errors included) and *retry_after_s is set
 * for throttling. */
typedef int api_session_fn(struct imap_session *s, void *ctx, struct imap_error *err);
int api_with_session(const struct api_request *req, const struct imap_credentials *cred,
                     bool idempotent, api_session_fn *fn, void *ctx, struct imap_error *err,
                     unsigned *retry_after_s);

/* ---- handlers ---- */

void api_folders(const struct api_request *req, struct api_response *resp, const char *tail);
void api_messages_list(const struct api_request *req, struct api_response *resp);

/* JSON pieces shared by the list and the single message (api/messages.c):
 * the summary's members (without braces), and an address list. */
struct jsonw;
struct imap_summary;
struct imap_address_list;
void api_summary_fields(struct jsonw *w, const struct imap_summary *m);
void api_addresses_json(struct jsonw *w, const struct imap_address_list *l);

/* api/content.c: one message; uid already validated (>= 1). part is the
 * text after "attachments/", not yet validated. */
void api_message_get(const struct api_request *req, struct api_response *resp, uint32_t uid);
void api_message_raw(const struct api_request *req, struct api_response *resp, uint32_t uid);
void api_message_attachments(const struct api_request *req, struct api_response *resp,
                             uint32_t uid);
void api_message_attachment(const struct api_request *req, struct api_response *resp,
                            uint32_t uid, const char *part);

/* ---- write routes (api/write.c, api/flags.c, api/folder_write.c) ---- */

/* True when a request with this method and path carries a message to
 * append (POST /messages): the server bounds its body by --append-max
 * instead of --body-max. */
bool api_takes_message(const char *method, const char *path);

/* True for the write routes' paths that only they serve (/messages/...). */
bool api_write_needs_imap(const struct api_request *req);

/* The metrics name of a path only the write routes serve, or NULL. */
const char *api_write_route_name(const char *path);

/* Answer req when it is a write route (or a method a write path does not
 * take: 405 with Allow) and return true; return false for everything
 * else, GET and HEAD of the read routes included. Blocks on IMAP. */
bool api_write_handle(const struct api_request *req, struct api_response *resp);

#endif
