/*
 * api/write.c — the write routes: dispatch, shared request checks, and
 * move, copy, delete and append. Flags are in api/flags.c, folder changes
 * in api/folder_write.c.
 *
 *   GET|HEAD /messages/{uid}/flags      the flags            (api/flags.c)
 *   PUT      /messages/{uid}/flags      replace them
 *   PATCH    /messages/{uid}/flags      add / remove
 *   PATCH    /messages/flags            add / remove on many UIDs
 *   POST     /messages/{uid}/move|copy  {"to": folder}
 *   POST     /messages/move|copy        {"uids": [...], "to": folder}
 *   DELETE   /messages/{uid}            to the Trash folder, or for good
 *   POST     /messages                  append a message/rfc822 body
 *   POST     /folders                   create               (api/folder_write.c)
 *   PATCH    /folders/{path}            rename, (un)subscribe
 *   DELETE   /folders/{path}            delete
 *
 * Every write runs with idempotent = false: a session that dies under it is
 * not retried, because the server may have done the work already (an
 * APPEND sent twice stores two messages). GET of flags is idempotent.
 */
#include "api/write.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/json.h"
#include "imap/mail/date.h"
#include "imap/mail/utf7.h"
#include "imap/write.h"

/* The Allow lists of the paths the write routes take part in. */
#define ALLOW_MESSAGES "GET, HEAD, POST"
#define ALLOW_MESSAGE "GET, HEAD, DELETE"
#define ALLOW_FLAGS "GET, HEAD, PUT, PATCH"
#define ALLOW_FOLDERS "GET, HEAD, POST"
#define ALLOW_FOLDER "GET, HEAD, PATCH, DELETE"

/* ---- request bodies ---- */

/* The media type of a Content-Type value (before any ";"), compared
 * without case. */
static bool media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (!ct || strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Nesting depth of JSON text, counted without parsing it: brackets outside
 * strings. A hostile body cannot make the parser recurse deeply. */
static bool depth_ok(const char *s, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return true;
}

json_t *api_body_object(const struct api_request *req, const char *const *keys,
                        struct api_response *resp)
{
	if (req->content_type && !media_is(req->content_type, "application/json")) {
		api_problem(resp, 415, "Unsupported Media Type",
		            "this route takes a JSON body: Content-Type: application/json", NULL);
		return NULL;
	}
	if (!req->body || req->body_len == 0) {
		api_bad(resp, "this route needs a JSON object in the body");
		return NULL;
	}
	if (!depth_ok(req->body, req->body_len, API_JSON_DEPTH_MAX)) {
		api_bad(resp, "the body nests deeper than %d levels", API_JSON_DEPTH_MAX);
		return NULL;
	}
	json_error_t e;
	json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!o) {
		api_bad(resp, "the body is not valid JSON: %.120s (line %d, column %d)", e.text, e.line,
		    e.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		api_bad(resp, "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], key) != 0)
			k++;
		if (!keys[k]) {
			api_bad(resp, "unknown member '%.64s' in the body", key);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- parameters ---- */

bool api_flag_list(json_t *body, const char *name, const char ***out, size_t *n,
                   bool *present, struct api_response *resp)
{
	json_t *a = json_object_get(body, name);
	*out = NULL;
	*n = 0;
	if (present)
		*present = a != NULL;
	if (!a)
		return true;
	if (!json_is_array(a) || json_array_size(a) > API_FLAGS_MAX)
		return api_bad(resp, "%s must be an array of at most %d flags", name, API_FLAGS_MAX);
	*out = calloc(json_array_size(a) + 1, sizeof **out);
	if (!*out) {
		api_problem(resp, 503, "Service Unavailable", "out of memory", NULL);
		api_response_header(resp, "Retry-After", "1");
		return false;
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		const char *f = json_string_value(v);
		if (!f || strlen(f) != json_string_length(v) || imap_flag_check(f, NULL)) {
			free(*out);
			*out = NULL;
			if (!f)
				return api_bad(resp, "%s[%zu] must be a string", name, i);
			return api_bad(resp,
			           "%s[%zu] '%.64s' is not a flag that can be stored: \\Seen, "
			           "\\Answered, \\Flagged, \\Deleted, \\Draft, or a keyword of at most %d "
			           "printable ASCII characters without spaces or ( ) { %% * \" \\ ]",
			           name, i, f, IMAP_FLAG_MAX);
		}
		(*out)[(*n)++] = f;
	}
	return true;
}

bool api_uid_list(json_t *body, uint32_t **out, size_t *n, struct api_response *resp)
{
	unsigned max = api_config()->bulk_max ? api_config()->bulk_max : API_BULK_MAX_DEFAULT;
	json_t *a = json_object_get(body, "uids");
	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max)
		return api_bad(resp, "uids must be an array of 1 to %u UIDs", max);
	*out = calloc(json_array_size(a), sizeof **out);
	if (!*out) {
		api_problem(resp, 503, "Service Unavailable", "out of memory", NULL);
		api_response_header(resp, "Retry-After", "1");
		return false;
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		json_int_t u = json_is_integer(v) ? json_integer_value(v) : 0;
		if (u < 1 || u > (json_int_t)UINT32_MAX) {
			free(*out);
			*out = NULL;
			return api_bad(resp, "uids[%zu] must be a whole number from 1 to 4294967295", i);
		}
		(*out)[(*n)++] = (uint32_t)u;
	}
	return true;
}

bool api_path_member(json_t *body, const char *name, bool required, const char **out,
                     struct api_response *resp)
{
	json_t *v = json_object_get(body, name);
	*out = NULL;
	if (!v && !required)
		return true;
	if (!json_is_string(v))
		return api_bad(resp, "%s must be a folder path (a string)", name);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return api_bad(resp, "%s must not hold NUL", name);
	*out = json_string_value(v);
	return api_check_path(*out, name, resp);
}

/* ---- running ---- */

bool api_write_run(const struct api_request *req, bool idempotent, api_session_fn *fn,
                   void *ctx, struct api_response *resp)
{
	struct imap_credentials cred;
	struct imap_buf store;
	if (api_credentials(req, &cred, &store, resp)) {
		imap_buf_free(&store);
		return false;
	}
	struct imap_error err = {0};
	unsigned retry = 0;
	int rc = api_with_session(req, &cred, idempotent, fn, ctx, &err, &retry);
	imap_buf_free(&store);
	if (rc) {
		api_imap_problem(resp, rc, &err, retry);
		return false;
	}
	return true;
}

static json_t *uid_or_null(uint32_t v)
{
	return v ? json_integer(v) : json_null();
}

/* ---- move and copy ---- */

struct transfer_call {
	struct imap_ref ref;
	const uint32_t *uids;
	size_t n;
	const char *to;
	bool move;
	int64_t deadline;
	struct imap_transfer_result res;
};

static int run_transfer(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct transfer_call *c = ctx;
	imap_transfer_result_free(&c->res);
	return imap_messages_transfer(s, &c->ref, c->uids, c->n, c->to, c->move, c->deadline,
	                              &c->res, err);
}

/* POST /messages/{uid}/move|copy (uid != 0) or /messages/move|copy. */
static void transfer(const struct api_request *req, struct api_response *resp, uint32_t uid,
                     bool move)
{
	static const char *const params[] = {"folder", "uidvalidity", NULL};
	static const char *const one_keys[] = {"to", NULL};
	static const char *const bulk_keys[] = {"to", "uids", NULL};
	struct transfer_call c = {.move = move, .deadline = req->deadline};
	uint32_t *uids = NULL;
	json_t *body = NULL;
	if (!api_known_params(req, params, resp) || !api_folder_param(req, &c.ref.folder, resp) ||
	    !api_uidvalidity_param(req, &c.ref.uidvalidity, resp) ||
	    !(body = api_body_object(req, uid ? one_keys : bulk_keys, resp)) ||
	    !api_path_member(body, "to", true, &c.to, resp))
		goto done;
	if (uid) {
		c.uids = &uid;
		c.n = 1;
	} else if (api_uid_list(body, &uids, &c.n, resp)) {
		c.uids = uids;
	} else {
		goto done;
	}
	if (move && strcmp(c.to, c.ref.folder) == 0) {
		api_bad(resp, "to is the folder the message is in already");
		goto done;
	}
	if (!api_write_run(req, false, run_transfer, &c, resp))
		goto done;
	if (uid) {
		if (c.res.n != 1 || !c.res.v[0].found) {
			api_problem(resp, 404, "Not Found", "no message with this UID in the folder", NULL);
			goto done;
		}
		api_json_reply(resp, 200,
		               json_pack("{s:s, s:o, s:o}", "folder", c.to, "uid",
		                         uid_or_null(c.res.v[0].new_uid), "uidvalidity",
		                         uid_or_null(c.res.uidvalidity)));
		goto done;
	}
	json_t *done_list = json_array(), *missing = json_array();
	for (size_t i = 0; i < c.res.n; i++) {
		if (c.res.v[i].found)
			json_array_append_new(done_list,
			                      json_pack("{s:I, s:o}", "uid", (json_int_t)c.res.v[i].uid,
			                                "new_uid", uid_or_null(c.res.v[i].new_uid)));
		else
			json_array_append_new(missing, json_integer(c.res.v[i].uid));
	}
	api_json_reply(resp, 200,
	               json_pack("{s:s, s:o, s:o, s:o}", "folder", c.to, "uidvalidity",
	                         uid_or_null(c.res.uidvalidity), "messages", done_list,
	                         "not_found", missing));
done:
	imap_transfer_result_free(&c.res);
	json_decref(body);
	free(uids);
}

/* ---- delete ---- */

struct delete_call {
	struct imap_ref ref;
	uint32_t uid;
	bool permanent;
	int64_t deadline;
	struct imap_delete_result res;
};

static int run_delete(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct delete_call *c = ctx;
	imap_delete_result_free(&c->res);
	return imap_message_delete(s, &c->ref, c->uid, c->permanent, c->deadline, &c->res, err);
}

static void delete_message(const struct api_request *req, struct api_response *resp,
                           uint32_t uid)
{
	static const char *const params[] = {"folder", "uidvalidity", "permanent", NULL};
	struct delete_call c = {.uid = uid, .deadline = req->deadline};
	if (!api_known_params(req, params, resp) || !api_folder_param(req, &c.ref.folder, resp) ||
	    !api_uidvalidity_param(req, &c.ref.uidvalidity, resp) ||
	    !api_bool_param(req, "permanent", &c.permanent, resp) ||
	    !api_write_run(req, false, run_delete, &c, resp))
		goto done;
	if (!c.res.found) {
		api_problem(resp, 404, "Not Found", "no message with this UID in the folder", NULL);
		goto done;
	}
	json_t *moved = json_null();
	if (c.res.moved)
		moved = json_pack("{s:s, s:o, s:o}", "folder", c.res.trash, "uid",
		                  uid_or_null(c.res.new_uid), "uidvalidity",
		                  uid_or_null(c.res.uidvalidity));
	api_json_reply(resp, 200,
	               json_pack("{s:I, s:b, s:o}", "uid", (json_int_t)uid, "permanent",
	                         !c.res.moved, "moved_to", moved));
done:
	imap_delete_result_free(&c.res);
}

/* ---- append ---- */

struct append_call {
	struct imap_append a;
	int64_t deadline;
	struct imap_appended res;
};

static int run_append(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct append_call *c = ctx;
	return imap_message_append(s, &c->a, c->deadline, &c->res, err);
}

/* RFC 3339 date-time (§5.6) into an IMAP date-time:
 *   date-time = full-date "T" full-time   ; "T" and "Z" in any case
 *   full-time = HH ":" MM ":" SS ["." 1*DIGIT] ("Z" / ("+" / "-") HH ":" MM) */
static bool received_param(const char *v, char out[IMAP_INTERNALDATE_MAX])
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t len = strlen(v), i;
	if (len < sizeof shape || len > 40)
		return false;
	for (i = 0; i < sizeof shape - 1; i++) {
		bool ok = shape[i] == 'd' ? isdigit((unsigned char)v[i])
		        : shape[i] == 'T' ? (v[i] == 'T' || v[i] == 't') : v[i] == shape[i];
		if (!ok)
			return false;
	}
	if (v[i] == '.') {
		size_t start = ++i;
		while (isdigit((unsigned char)v[i]))
			i++;
		if (i == start)
			return false;
	}
	if ((v[i] == 'Z' || v[i] == 'z') && v[i + 1] == '\0') {
		/* fine */
	} else if ((v[i] == '+' || v[i] == '-') && strlen(v + i) == 6 &&
	           isdigit((unsigned char)v[i + 1]) && isdigit((unsigned char)v[i + 2]) &&
	           v[i + 3] == ':' && isdigit((unsigned char)v[i + 4]) &&
	           isdigit((unsigned char)v[i + 5])) {
		/* fine */
	} else {
		return false;
	}
	int64_t epoch;
	int tz;
	char copy[48];
	snprintf(copy, sizeof copy, "%s", v);
	copy[10] = 'T';
	return imap_date_parse_rfc5322(copy, strlen(copy), &epoch, &tz) == 0 &&
	       imap_internaldate_format(epoch, tz, out) == 0;
}

/* Append k=v, URL-encoded, to a query string. */
static void url_encode(struct imap_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p))
			imap_buf_putc(b, (char)*p);
		else
			imap_buf_printf(b, "%%%02X", *p);
	}
}

static void append_message(const struct api_request *req, struct api_response *resp)
{
	static const char *const params[] = {"folder", "uidvalidity", "flags", "received", NULL};
	struct append_call c = {.deadline = req->deadline};
	const char *flags[API_FLAGS_MAX];
	char *copies[API_FLAGS_MAX];
	size_t ncopies = 0;
	char date[IMAP_INTERNALDATE_MAX];
	const char *v;
	if (!req->content_type || !media_is(req->content_type, "message/rfc822")) {
		api_problem(resp, 415, "Unsupported Media Type",
		            "send the message as the body with Content-Type: message/rfc822", NULL);
		return;
	}
	if (!api_known_params(req, params, resp) || !api_folder_param(req, &c.a.folder, resp) ||
	    !api_uidvalidity_param(req, &c.a.uidvalidity, resp))
		return;
	if ((v = api_query(req, "received"))) {
		if (!received_param(v, date)) {
			api_bad(resp, "received must be an RFC 3339 date-time, e.g. 2024-02-05T10:00:00+01:00, "
			          "in the years 1900 to 9999");
			return;
		}
		c.a.internaldate = date;
	}
	/* flags: repeated, and each a list separated by spaces (a flag holds none) */
	for (size_t i = 0; i < req->nquery; i++) {
		if (strcmp(req->query[i].key, "flags") != 0)
			continue;
		for (const char *p = req->query[i].value; *p;) {
			size_t n = strcspn(p, " ");
			if (n && ncopies == API_FLAGS_MAX) {
				api_bad(resp, "at most %d flags", API_FLAGS_MAX);
				goto done;
			}
			if (n) {
				char *f = strndup(p, n);
				if (!f || imap_flag_check(f, NULL)) {
					api_bad(resp, "'%.64s' is not a flag that can be stored", f ? f : "");
					free(f);
					goto done;
				}
				flags[ncopies] = copies[ncopies] = f;
				ncopies++;
			}
			p += n + (p[n] == ' ');
		}
	}
	c.a.flags = flags;
	c.a.nflags = ncopies;
	c.a.data = req->body;
	c.a.len = req->body_len;
	if (!req->body || req->body_len == 0) {
		api_bad(resp, "the body must be the message (RFC 5322)");
		goto done;
	}
	if (memchr(req->body, '\0', req->body_len)) {
		api_bad(resp, "the message holds NUL bytes, which IMAP cannot carry");
		goto done;
	}
	if (!api_write_run(req, false, run_append, &c, resp))
		goto done;
	api_json_reply(resp, 201,
	               json_pack("{s:s, s:o, s:I}", "folder", c.a.folder, "uid",
	                         uid_or_null(c.res.uid), "uidvalidity",
	                         (json_int_t)c.res.uidvalidity));
	if (c.res.uid) {
		struct imap_buf loc;
		imap_buf_init(&loc, sizeof resp->headers[0].value - 1);
		imap_buf_printf(&loc, "/messages/%u?folder=", c.res.uid);
		url_encode(&loc, c.a.folder);
		if (loc.len < sizeof resp->headers[0].value - 1 && loc.data)
			api_response_header(resp, "Location", "%s", loc.data);
		imap_buf_free(&loc);
	}
done:
	for (size_t i = 0; i < ncopies; i++)
		free(copies[i]);
}

/* ---- dispatch ---- */

static bool method_is(const struct api_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static bool is_get(const struct api_request *req)
{
	return method_is(req, "GET") || method_is(req, "HEAD");
}

static bool not_allowed(struct api_response *resp, const char *allow)
{
	api_problem(resp, 405, "Method Not Allowed", "this route does not take that method", NULL);
	api_response_header(resp, "Allow", "%s", allow);
	return true;
}

bool api_takes_message(const char *method, const char *path)
{
	return strcmp(method, "POST") == 0 && strcmp(path, "/messages") == 0;
}

bool api_write_needs_imap(const struct api_request *req)
{
	return strncmp(req->path, "/messages/", 10) == 0;
}

/* The part of /messages/{uid}<rest> after the UID, or NULL. */
static const char *after_uid(const char *path, const char **uid, size_t *len)
{
	if (strncmp(path, "/messages/", 10) != 0)
		return NULL;
	*uid = path + 10;
	*len = strcspn(*uid, "/");
	return *len ? *uid + *len : NULL;
}

const char *api_write_route_name(const char *path)
{
	static const struct { const char *path, *name; } fixed[] = {
		{"/messages/flags", "messages_flags"},
		{"/messages/move", "messages_move"},
		{"/messages/copy", "messages_copy"},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (strcmp(path, fixed[i].path) == 0)
			return fixed[i].name;
	const char *uid, *rest;
	size_t len;
	uint32_t n;
	if (!(rest = after_uid(path, &uid, &len)) || !api_parse_uid(uid, len, &n))
		return NULL;
	if (*rest == '\0')
		return "message";
	if (strcmp(rest, "/flags") == 0)
		return "message_flags";
	if (strcmp(rest, "/move") == 0)
		return "message_move";
	if (strcmp(rest, "/copy") == 0)
		return "message_copy";
	return NULL;
}

bool api_write_handle(const struct api_request *req, struct api_response *resp)
{
	const char *p = req->path;
	if (strcmp(p, "/folders") == 0) {
		if (method_is(req, "POST"))
			return api_folder_create(req, resp), true;
		return is_get(req) ? false : not_allowed(resp, ALLOW_FOLDERS);
	}
	if (strncmp(p, "/folders/", 9) == 0) {
		if (p[9] == '\0' || p[strlen(p) - 1] == '/') {
			if (is_get(req))
				return false;  /* the folder route answers the same 404 */
			api_problem(resp, 404, "Not Found", "no folder named by the path", NULL);
			return true;
		}
		if (method_is(req, "PATCH"))
			return api_folder_patch(req, resp, p + 9), true;
		if (method_is(req, "DELETE"))
			return api_folder_delete(req, resp, p + 9), true;
		return is_get(req) ? false : not_allowed(resp, ALLOW_FOLDER);
	}
	if (strcmp(p, "/messages") == 0) {
		if (method_is(req, "POST"))
			return append_message(req, resp), true;
		return is_get(req) ? false : not_allowed(resp, ALLOW_MESSAGES);
	}
	if (strcmp(p, "/messages/flags") == 0) {
		if (method_is(req, "PATCH"))
			return api_flags_bulk(req, resp), true;
		return not_allowed(resp, "PATCH");
	}
	if (strcmp(p, "/messages/move") == 0 || strcmp(p, "/messages/copy") == 0) {
		if (method_is(req, "POST"))
			return transfer(req, resp, 0, p[10] == 'm'), true;
		return not_allowed(resp, "POST");
	}
	const char *uid_text, *rest;
	size_t len;
	uint32_t uid;
	if (!(rest = after_uid(p, &uid_text, &len)))
		return false;
	bool known = *rest == '\0' || !strcmp(rest, "/flags") || !strcmp(rest, "/move") ||
	             !strcmp(rest, "/copy");
	if (!known || (*rest == '\0' && is_get(req)))
		return false;  /* the message content routes', or none */
	if (!api_parse_uid(uid_text, len, &uid)) {
		api_bad(resp, "the UID in the path must be a whole number from 1 to 4294967295");
		return true;
	}
	if (*rest == '\0') {
		if (method_is(req, "DELETE"))
			return delete_message(req, resp, uid), true;
		return not_allowed(resp, ALLOW_MESSAGE);
	}
	if (strcmp(rest, "/flags") == 0) {
		if (is_get(req))
			return api_flags_get(req, resp, uid), true;
		if (method_is(req, "PUT") || method_is(req, "PATCH"))
			return api_flags_put(req, resp, uid, method_is(req, "PUT")), true;
		return not_allowed(resp, ALLOW_FLAGS);
	}
	if (method_is(req, "POST"))
		return transfer(req, resp, uid, rest[1] == 'm'), true;
	return not_allowed(resp, "POST");
}
