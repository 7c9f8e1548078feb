/*
 * api/message_write.c — writes that move messages: move, copy, delete and
 * append. Flags are in api/flags.c, folder changes in api/folder_write.c.
 *
 *   POST     /messages/{uid}/move|copy  {"to": folder}
 *   POST     /messages/move|copy        {"uids": [...], "to": folder}
 *   DELETE   /messages/{uid}            to the Trash folder, or for good
 *   POST     /messages                  append a message/rfc822 body
 *
 * No write route is API_ROUTE_IDEMPOTENT: a session that dies under it is
 * retried only when no byte of its commands had left the gateway, because
 * otherwise the server may have done the work already (an APPEND sent
 * twice stores two messages).
 */
#include "api/body.h"
#include "api/handlers.h"
#include "api/render.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/date.h"
#include "imap/mail/utf7.h"
#include "imap/write.h"

/* The Allow lists of the paths the write routes take part in. */
#define ALLOW_MESSAGES "GET, HEAD, POST"
#define ALLOW_MESSAGE "GET, HEAD, DELETE"
#define ALLOW_FLAGS "GET, HEAD, PUT, PATCH"
#define ALLOW_FOLDERS "GET, HEAD, POST"
#define ALLOW_FOLDER "GET, HEAD, PATCH, DELETE"

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

static struct api_bulk_item bulk_at(const void *items, size_t i)
{
	const struct imap_transferred *t = (const struct imap_transferred *)items + i;
	return (struct api_bulk_item){t->uid, t->found};
}

static void bulk_fields(struct jsonw *w, const void *items, size_t i)
{
	api_render_uid(w, "new_uid", ((const struct imap_transferred *)items)[i].new_uid);
}

/* POST /messages/{uid}/move|copy (uid != 0) or /messages/move|copy. */
static void transfer(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m, uint32_t uid, bool move)
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
	if (!api_run(req, m, run_transfer, &c, resp))
		goto done;
	if (uid && (c.res.n != 1 || !c.res.v[0].found)) {
		api_fail(resp, API_ERR_NOT_FOUND, "no message with this UID in the folder");
		goto done;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "folder");
	jsonw_string(&w, c.to);
	api_render_uid(&w, "uidvalidity", c.res.uidvalidity);
	if (uid) {
		api_render_uid(&w, "uid", c.res.v[0].new_uid);
	} else {
		api_render_bulk(&w, c.res.v, c.res.n, bulk_at, bulk_fields);
	}
	jsonw_end_object(&w);
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

void api_message_delete(const struct api_request *req, struct api_response *resp,
                        const struct api_match *m)
{
	static const char *const params[] = {"folder", "uidvalidity", "permanent", NULL};
	struct delete_call c = {.uid = m->uid, .deadline = req->deadline};
	if (!api_known_params(req, params, resp) || !api_folder_param(req, &c.ref.folder, resp) ||
	    !api_uidvalidity_param(req, &c.ref.uidvalidity, resp) ||
	    !api_bool_param(req, "permanent", &c.permanent, resp) ||
	    !api_run(req, m, run_delete, &c, resp))
		goto done;
	if (!c.res.found) {
		api_fail(resp, API_ERR_NOT_FOUND, "no message with this UID in the folder");
		goto done;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "uid");
	jsonw_uint(&w, m->uid);
	jsonw_key(&w, "permanent");
	jsonw_bool(&w, !c.res.moved);
	jsonw_key(&w, "moved_to");
	if (c.res.moved) {
		jsonw_object(&w);
		jsonw_key(&w, "folder");
		jsonw_string(&w, c.res.trash);
		api_render_uid(&w, "uid", c.res.new_uid);
		api_render_uid(&w, "uidvalidity", c.res.uidvalidity);
		jsonw_end_object(&w);
	} else {
		jsonw_null(&w);
	}
	jsonw_end_object(&w);
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

void api_message_append(const struct api_request *req, struct api_response *resp,
                        const struct api_match *m)
{
	static const char *const params[] = {"folder", "uidvalidity", "flags", "received", NULL};
	struct append_call c = {.deadline = req->deadline};
	const char *flags[API_FLAGS_MAX];
	char *copies[API_FLAGS_MAX];
	size_t ncopies = 0;
	char date[IMAP_INTERNALDATE_MAX];
	const char *v;
	if (!req->content_type || !api_media_is(req->content_type, "message/rfc822")) {
		api_fail(resp, API_ERR_MEDIA_TYPE,
		         "send the message as the body with Content-Type: message/rfc822");
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
	if (!api_run(req, m, run_append, &c, resp))
		goto done;
	struct jsonw w;
	api_reply_json(resp, 201, &w);
	jsonw_object(&w);
	jsonw_key(&w, "folder");
	jsonw_string(&w, c.a.folder);
	api_render_uid(&w, "uid", c.res.uid);
	jsonw_key(&w, "uidvalidity");
	jsonw_uint(&w, c.res.uidvalidity);
	jsonw_end_object(&w);
	if (c.res.uid) {
		struct imap_buf loc;
		imap_buf_init(&loc, sizeof resp->headers[0].value - 1);
		imap_buf_printf(&loc, "/messages/%u?folder=", c.res.uid);
		api_url_encode(&loc, c.a.folder);
		if (loc.len < sizeof resp->headers[0].value - 1 && loc.data)
			api_response_header(resp, "Location", "%s", loc.data);
		imap_buf_free(&loc);
	}
done:
	for (size_t i = 0; i < ncopies; i++)
		free(copies[i]);
}

void api_message_move(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	transfer(req, resp, m, m->uid, true);
}

void api_message_copy(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	transfer(req, resp, m, m->uid, false);
}

void api_messages_move(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	transfer(req, resp, m, 0, true);
}

void api_messages_copy(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	transfer(req, resp, m, 0, false);
}
