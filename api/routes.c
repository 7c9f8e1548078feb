/*
 * api/routes.c — the route table: which handler serves a request, which
 * methods a path takes (405 and Allow), HEAD, which routes talk to IMAP
 * and may be retried, and the metrics label. The OpenAPI contract is
 * checked against this table (tests/unit/test_routes.c).
 *
 * Templates are those of openapi.yaml. A path matches a template segment
 * by segment: a literal segment exactly, {uid} and {id} any one non-empty
 * segment, {part} any one segment, {path} the non-empty rest (a folder path holds
 * "/") without a "/" at its end.
 * Where several templates match, the one with the most literal segments
 * wins: /messages/flags is that route, not a message with UID "flags".
 *
 * OPTIONS is answered for every path a template matches, from this table
 * alone: 204 with Allow (the methods of the path, HEAD after GET, and
 * OPTIONS last). The server adds the CORS preflight headers to it
 * (server/http.c, --cors-origins). The contract documents it once
 * (components/responses/Preflight), not under every path.
 */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"

#define IMAP API_ROUTE_IMAP
#define READ (API_ROUTE_IMAP | API_ROUTE_IDEMPOTENT)

static const struct api_route routes[] = {
	{"GET", "/healthz", "healthz", api_healthz, 0},
	{"GET", "/readyz", "readyz", api_readyz, IMAP},
	{"GET", "/metrics", "metrics", api_metrics, 0},
	{"GET", "/openapi.json", "openapi", api_openapi, 0},
	{"GET", "/", "root", api_root, 0},
	{"GET", "/docs", "docs", api_docs, 0},
	{"GET", "/docs/redoc.standalone.js", "docs_asset", api_docs_asset, 0},

	{"GET", "/account", "account", api_account_get, READ},

	{"GET", "/folders", "folders", api_folders_list, READ},
	{"POST", "/folders", "folders", api_folder_create, IMAP},
	{"GET", "/folders/changes", "folder_changes", api_folder_changes, READ},
	{"PATCH", "/folders/changes", "folder_changes", api_folder_named_changes_patch, IMAP},
	{"DELETE", "/folders/changes", "folder_changes", api_folder_named_changes_delete, IMAP},
	{"GET", "/folders/{path}", "folder", api_folder_get, READ},
	{"PATCH", "/folders/{path}", "folder", api_folder_patch, IMAP},
	{"DELETE", "/folders/{path}", "folder", api_folder_delete, IMAP},

	{"GET", "/messages", "messages", api_messages_list, READ},
	{"GET", "/search", "search", api_search, READ},
	{"GET", "/threads", "threads", api_threads_list, READ},
	{"GET", "/threads/{id}", "thread", api_thread_get, READ},
	{"GET", "/changes", "changes", api_changes, READ},
	{"GET", "/events", "events", api_events, IMAP},
	{"POST", "/messages", "messages", api_message_append, IMAP | API_ROUTE_MESSAGE},
	{"PATCH", "/messages/flags", "messages_flags", api_flags_bulk, IMAP},
	{"POST", "/messages/move", "messages_move", api_messages_move, IMAP},
	{"POST", "/messages/copy", "messages_copy", api_messages_copy, IMAP},

	{"GET", "/messages/{uid}", "message", api_message_get, READ},
	{"DELETE", "/messages/{uid}", "message", api_message_delete, IMAP},
	{"GET", "/messages/{uid}/raw", "message_raw", api_message_raw, READ},
	{"GET", "/messages/{uid}/attachments", "attachments", api_message_attachments, READ},
	{"GET", "/messages/{uid}/attachments/{part}", "attachment", api_message_attachment, READ},
	{"GET", "/messages/{uid}/flags", "message_flags", api_flags_get, READ},
	{"PUT", "/messages/{uid}/flags", "message_flags", api_flags_put, IMAP},
	{"PATCH", "/messages/{uid}/flags", "message_flags", api_flags_patch, IMAP},
	{"POST", "/messages/{uid}/move", "message_move", api_message_move, IMAP},
	{"POST", "/messages/{uid}/copy", "message_copy", api_message_copy, IMAP},

	{"GET", "/senders", "senders", api_senders_list, READ},
	{"POST", "/senders/{id}/read", "sender_read", api_sender_read, IMAP},
	{"POST", "/senders/{id}/archive", "sender_archive", api_sender_archive, IMAP},
	{"POST", "/senders/{id}/delete", "sender_delete", api_sender_delete, IMAP},
	{"POST", "/senders/{id}/unsubscribe", "sender_unsubscribe", api_sender_unsubscribe, IMAP},
};

#define NROUTES (sizeof routes / sizeof routes[0])

const struct api_route *api_routes(size_t *n)
{
	*n = NROUTES;
	return routes;
}

/* How well path fits tpl: the number of literal segments (more is a
 * better fit), or -1 when it does not. The values of {uid}, {part} and
 * {path} are taken as text; *bad is set when one is not valid. */
static int fit(const char *tpl, const char *path, struct api_match *m, bool *bad)
{
	int literal = 0;
	*bad = false;
	if (tpl[0] == '/' && tpl[1] == '\0')  /* the root: only itself */
		return path[0] == '/' && path[1] == '\0' ? 0 : -1;
	while (*tpl == '/' && *path == '/') {
		tpl++;
		path++;
		size_t tn = strcspn(tpl, "/"), pn = strcspn(path, "/");
		if (tn == 6 && memcmp(tpl, "{path}", 6) == 0) {
			size_t rest = strlen(path);
			if (rest == 0 || path[rest - 1] == '/')
				return -1;  /* no folder named */
			m->path = path;
			return literal;
		}
		if (tn == 6 && memcmp(tpl, "{part}", 6) == 0) {
			m->part = path;  /* even empty: the handler says what a part is */
		} else if (pn == 0) {
			return -1;
		} else if (tn == 4 && memcmp(tpl, "{id}", 4) == 0) {
			m->id = path;    /* one segment: the handler says what an id is */
			m->id_len = pn;
		} else if (pn == 0) {
			return -1;
		} else if (tn == 5 && memcmp(tpl, "{uid}", 5) == 0) {
			if (!api_parse_uid(path, pn, &m->uid))
				*bad = true;
		} else if (tn == pn && memcmp(tpl, path, tn) == 0) {
			literal++;
		} else {
			return -1;
		}
		tpl += tn;
		path += pn;
	}
	return *tpl == '\0' && *path == '\0' ? literal : -1;
}

static bool method_takes(const struct api_route *r, const char *method)
{
	return strcmp(r->method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

enum outcome { FOUND, NO_ROUTE, BAD_VALUE, NO_METHOD };

/* The route of the best-fitting template that takes method, in m. */
static enum outcome resolve(const char *method, const char *path, struct api_match *m)
{
	int best = -1;
	bool bad = false;
	memset(m, 0, sizeof *m);
	for (size_t i = 0; i < NROUTES; i++) {
		struct api_match here = {0};
		bool here_bad;
		int f = fit(routes[i].path, path, &here, &here_bad);
		if (f < 0 || f < best)
			continue;
		if (f > best) {  /* a better template: what fitted before is out */
			best = f;
			bad = here_bad;
			m->route = NULL;
		}
		if (!m->route && method_takes(&routes[i], method)) {
			*m = here;
			m->route = &routes[i];
		}
	}
	if (best < 0)
		return NO_ROUTE;
	if (bad)
		return BAD_VALUE;
	return m->route ? FOUND : NO_METHOD;
}

const struct api_route *api_route_for(const char *method, const char *path)
{
	struct api_match m;
	return resolve(method, path, &m) == FOUND ? m.route : NULL;
}

const char *api_route_name(const char *path)
{
	int best = -1;
	const char *name = "other";
	for (size_t i = 0; i < NROUTES; i++) {
		struct api_match m;
		bool bad;
		int f = fit(routes[i].path, path, &m, &bad);
		if (f > best) {
			best = f;
			name = routes[i].name;
		}
	}
	return name;
}

void api_route_allow(const char *path, char *out, size_t size)
{
	int best = -1;
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		struct api_match m;
		bool bad;
		int f = fit(routes[i].path, path, &m, &bad);
		if (f < 0 || f < best)
			continue;
		if (f > best) {
			best = f;
			len = 0;
			out[0] = '\0';
		}
		bool get = strcmp(routes[i].method, "GET") == 0;
		int n = snprintf(out + len, size - len, "%s%s%s", len ? ", " : "", routes[i].method,
		                 get ? ", HEAD" : "");
		if (n > 0 && (size_t)n < size - len)
			len += (size_t)n;
	}
	if (len && size - len > 9)
		memcpy(out + len, ", OPTIONS", 10);
}

void api_handle(const struct api_request *req, struct api_response *resp)
{
	struct api_match m;
	switch (resolve(req->method, req->path, &m)) {
	case FOUND:
		m.route->handler(req, resp, &m);
		return;
	case NO_ROUTE:
		api_fail(resp, API_ERR_NOT_FOUND, "no such route");
		return;
	case BAD_VALUE:
		api_bad(resp, "the UID in the path must be a whole number from 1 to 4294967295");
		return;
	case NO_METHOD: {
		char allow[128];
		api_route_allow(req->path, allow, sizeof allow);
		if (strcmp(req->method, "OPTIONS") == 0) {
			resp->status = 204;
			api_response_header(resp, "Allow", "%s", allow);
			return;
		}
		api_fail(resp, API_ERR_METHOD, "this route does not take %.16s; it takes %s",
		         req->method, allow);
		api_response_header(resp, "Allow", "%s", allow);
		return;
	}
	}
}
