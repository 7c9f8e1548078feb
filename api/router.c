/*
 * api/router.c — which handler serves a request.
 *
 *   GET /healthz                  liveness (memory only)
 *   GET /readyz                   can we reach the IMAP server? (greeting, no login)
 *   GET /folders                  all folders (?counts, ?tree)
 *   GET /folders/{path}           one folder, {path} is the greedy tail
 *   GET /messages                 a page of summaries
 *   GET /messages/{uid}           one message in full (api/content.c)
 *   GET /messages/{uid}/raw       its RFC 822 source, streamed
 *   GET /messages/{uid}/attachments          its attachment list
 *   GET /messages/{uid}/attachments/{part}   one attachment, decoded, streamed
 *   GET /openapi.json             the contract (memory only, api/openapi.h)
 *
 * The write routes (flags, move, copy, delete, append, folder changes) are
 * dispatched by api_write_handle (api/write.c), which sees a request first
 * and passes on what it does not serve.
 */
#include <string.h>

#include "api/api.h"
#include "api/openapi.h"
#include "api/write.h"

static bool is_get(const struct api_request *req)
{
	return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

/* The tail after prefix ("/folders" → "" or "/x" → "x"), or NULL. */
static const char *tail_of(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return "";
	if (path[n] == '/')
		return path + n + 1;
	return NULL;
}

bool api_needs_imap(const struct api_request *req)
{
	return tail_of(req->path, "/folders") || tail_of(req->path, "/messages") ||
	       strcmp(req->path, "/readyz") == 0;
}

static void method_not_allowed(struct api_response *resp, const char *allow);

const char *api_route_name(const char *path)
{
	const char *write = api_write_route_name(path);
	if (write)
		return write;
	const char *tail = tail_of(path, "/folders");
	if (tail)
		return *tail ? "folder" : "folders";
	static const char *const exact[] = {"healthz", "readyz", "metrics", "messages"};
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (path[0] == '/' && strcmp(path + 1, exact[i]) == 0)
			return exact[i];
	if (strcmp(path, "/openapi.json") == 0)
		return "openapi";
	if ((tail = tail_of(path, "/messages"))) {
		const char *sub = strchr(tail, '/');
		if (!sub)
			return "message";
		if (strcmp(sub, "/raw") == 0)
			return "message_raw";
		if (strcmp(sub, "/attachments") == 0)
			return "attachments";
		if (strncmp(sub, "/attachments/", 13) == 0)
			return "attachment";
	}
	return "other";
}

/* /messages/{uid}[/{sub}]: the uid (api_parse_uid) and the rest, e.g.
 * "raw" or "attachments/1.2" ("" when none). Returns false, with a 400 in
 * resp, when the uid is not one. */
static bool message_path(const char *tail, uint32_t *uid, const char **sub,
                         struct api_response *resp)
{
	size_t n = strcspn(tail, "/");
	if (!api_parse_uid(tail, n, uid)) {
		api_problem(resp, 400, "Bad Request", "uid must be a whole number from 1 to 4294967295",
		            NULL);
		return false;
	}
	*sub = tail[n] == '/' ? tail + n + 1 : "";
	return true;
}

static void message_routes(const struct api_request *req, struct api_response *resp,
                           const char *tail)
{
	uint32_t uid;
	const char *sub;
	if (!message_path(tail, &uid, &sub, resp))
		return;
	const char *part = NULL;
	if (strncmp(sub, "attachments/", 12) == 0)
		part = sub + 12;
	else if (*sub && strcmp(sub, "raw") && strcmp(sub, "attachments"))
		return api_problem(resp, 404, "Not Found", "no such route", NULL);
	if (!is_get(req))
		return method_not_allowed(resp, "GET, HEAD");
	if (!*sub)
		api_message_get(req, resp, uid);
	else if (strcmp(sub, "raw") == 0)
		api_message_raw(req, resp, uid);
	else if (!part)
		api_message_attachments(req, resp, uid);
	else
		api_message_attachment(req, resp, uid, part);
}

/* Ready when the IMAP server greets us (TLS verified); no credentials used. */
static void readyz(const struct api_request *req, struct api_response *resp)
{
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	int64_t deadline = imap_now_ms() + 5000;
	if (deadline > req->deadline)
		deadline = req->deadline;
	int rc = imap_session_connect(&s, api_config()->client, deadline, &err);
	if (rc) {
		api_problem(resp, 503, "Service Unavailable", err.msg, NULL);
		api_response_header(resp, "Retry-After", "5");
		return;
	}
	imap_session_logout(&s, imap_now_ms() + 1000);
	resp->status = 200;
	imap_buf_puts(&resp->body, "{\"status\":\"ready\"}");
}

static void method_not_allowed(struct api_response *resp, const char *allow)
{
	api_problem(resp, 405, "Method Not Allowed", "this route does not take that method", NULL);
	api_response_header(resp, "Allow", "%s", allow);
}

void api_handle(const struct api_request *req, struct api_response *resp)
{
	const char *tail;
	if (strcmp(req->path, "/healthz") == 0) {
		if (!is_get(req))
			return method_not_allowed(resp, "GET, HEAD");
		resp->status = 200;
		imap_buf_puts(&resp->body, "{\"status\":\"ok\"}");
		return;
	}
	if (strcmp(req->path, "/readyz") == 0) {
		if (!is_get(req))
			return method_not_allowed(resp, "GET, HEAD");
		readyz(req, resp);
		return;
	}
	if (api_write_handle(req, resp))
		return;
	if ((tail = tail_of(req->path, "/folders"))) {
		if (!is_get(req))
			return method_not_allowed(resp, "GET, HEAD");
		api_folders(req, resp, tail);
		return;
	}
	if (strcmp(req->path, "/messages") == 0) {
		if (!is_get(req))
			return method_not_allowed(resp, "GET, HEAD");
		api_messages_list(req, resp);
		return;
	}
	if ((tail = tail_of(req->path, "/messages")) && *tail) {
		message_routes(req, resp, tail);
		return;
	}
	if (strcmp(req->path, "/openapi.json") == 0) {
		if (!is_get(req))
			return method_not_allowed(resp, "GET, HEAD");
		resp->status = 200;
		resp->content_type = "application/json";
		imap_buf_append(&resp->body, api_openapi_json, api_openapi_json_len);
		return;
	}
	api_problem(resp, 404, "Not Found", "no such route", NULL);
}
