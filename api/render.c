/*
 * api/render.c — JSON pieces of answers that several routes share. See
 * render.h.
 */
#include "api/render.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/changes.h"
#include "imap/folders.h"
#include "imap/mail/date.h"
#include "imap/mail/thread.h"
#include "imap/messages.h"

void api_reply_json(struct api_response *resp, int status, struct jsonw *w)
{
	resp->status = status;
	resp->content_type = "application/json";
	imap_buf_reset(&resp->body, 0);
	jsonw_init(w, &resp->body);
}

void api_url_encode(struct imap_buf *b, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p))
			imap_buf_putc(b, (char)*p);
		else
			imap_buf_printf(b, "%%%02X", *p);
	}
}

void api_render_uid(struct jsonw *w, const char *key, uint32_t v)
{
	jsonw_key(w, key);
	if (v)
		jsonw_uint(w, v);
	else
		jsonw_null(w);
}

void api_render_bulk(struct jsonw *w, const void *items, size_t n, api_bulk_at *at,
                     api_bulk_fields *fields)
{
	jsonw_key(w, "messages");
	jsonw_array(w);
	for (size_t i = 0; i < n; i++) {
		struct api_bulk_item it = at(items, i);
		if (!it.found)
			continue;
		jsonw_object(w);
		jsonw_key(w, "uid");
		jsonw_uint(w, it.uid);
		fields(w, items, i);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "not_found");
	jsonw_array(w);
	for (size_t i = 0; i < n; i++) {
		struct api_bulk_item it = at(items, i);
		if (!it.found)
			jsonw_uint(w, it.uid);
	}
	jsonw_end_array(w);
}

void api_render_time(struct jsonw *w, bool ok, int64_t epoch, int tz)
{
	char out[IMAP_DATE_RFC3339_MAX];
	if (ok && imap_date_format_rfc3339(epoch, tz, out))
		jsonw_string(w, out);
	else
		jsonw_null(w);
}

static void address_json(struct jsonw *w, const struct imap_address *a)
{
	jsonw_object(w);
	jsonw_key(w, "name");
	jsonw_string(w, a->name);
	jsonw_key(w, "address");
	jsonw_string(w, a->address);
	jsonw_end_object(w);
}

void api_render_address(struct jsonw *w, const struct imap_address *a)
{
	address_json(w, a);
}

void api_render_addresses(struct jsonw *w, const struct imap_address_list *l)
{
	jsonw_array(w);
	for (size_t i = 0; i < l->n; i++)
		address_json(w, &l->v[i]);
	jsonw_end_array(w);
}

void api_render_unsubscribe(struct jsonw *w, const struct imap_unsubscribe *u)
{
	if (u->n_mailto == 0 && u->n_http == 0) {
		jsonw_null(w);
		return;
	}
	jsonw_object(w);
	jsonw_key(w, "mailto");
	jsonw_array(w);
	for (size_t i = 0; i < u->n_mailto; i++) {
		jsonw_object(w);
		jsonw_key(w, "address");
		jsonw_string(w, u->mailto[i].address);
		jsonw_key(w, "subject");
		jsonw_string(w, u->mailto[i].subject);
		jsonw_key(w, "body");
		jsonw_string(w, u->mailto[i].body);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	jsonw_key(w, "http");
	jsonw_array(w);
	for (size_t i = 0; i < u->n_http; i++)
		jsonw_string(w, u->http[i]);
	jsonw_end_array(w);
	jsonw_key(w, "one_click");
	jsonw_bool(w, u->one_click);
	jsonw_key(w, "post");
	jsonw_string(w, u->post);
	jsonw_end_object(w);
}

static bool has_flag(const struct imap_summary *m, const char *flag)
{
	for (size_t i = 0; i < m->nflags; i++)
		if (strcasecmp(m->flags[i], flag) == 0)
			return true;
	return false;
}

void api_render_summary(struct jsonw *w, const struct imap_summary *m)
{
	jsonw_object(w);
	api_render_summary_fields(w, m);
	jsonw_end_object(w);
}

void api_thread_id(const struct imap_summary *m, struct imap_buf *out)
{
	size_t len = 0;
	const char *id = imap_thread_root_id(m->env.message_id, m->references, m->env.in_reply_to,
	                                     &len);
	struct imap_buf raw;
	imap_buf_init(&raw, 0);
	if (id) {
		imap_buf_putc(&raw, 'm');
		imap_buf_append(&raw, id, len);
	} else {
		imap_buf_printf(&raw, "u%u", m->uid);
	}
	api_base64url_encode(raw.data, raw.len, out);
	imap_buf_free(&raw);
}

void api_render_summary_fields(struct jsonw *w, const struct imap_summary *m)
{
	const struct imap_envelope *e = &m->env;
	jsonw_key(w, "uid");
	jsonw_uint(w, m->uid);
	struct imap_buf tid;
	imap_buf_init(&tid, 0);
	api_thread_id(m, &tid);
	jsonw_key(w, "thread_id");
	jsonw_string(w, tid.data ? tid.data : "");
	imap_buf_free(&tid);
	jsonw_key(w, "message_id");
	jsonw_string(w, e->message_id);
	jsonw_key(w, "subject");
	jsonw_string(w, e->subject);
	jsonw_key(w, "from");
	if (e->from.n)
		address_json(w, &e->from.v[0]);
	else
		jsonw_null(w);
	jsonw_key(w, "to");
	api_render_addresses(w, &e->to);
	jsonw_key(w, "cc");
	api_render_addresses(w, &e->cc);
	jsonw_key(w, "reply_to");
	api_render_addresses(w, &e->reply_to);
	jsonw_key(w, "date");
	api_render_time(w, e->has_date, e->date, e->date_tz);
	jsonw_key(w, "received_at");
	api_render_time(w, m->has_internaldate, m->internaldate, m->internaldate_tz);
	jsonw_key(w, "size");
	jsonw_uint(w, m->size);
	jsonw_key(w, "flags");
	jsonw_array(w);
	for (size_t i = 0; i < m->nflags; i++)
		if (strcasecmp(m->flags[i], "\\Recent") != 0)
			jsonw_string(w, m->flags[i]);
	jsonw_end_array(w);
	jsonw_key(w, "seen");
	jsonw_bool(w, has_flag(m, "\\Seen"));
	jsonw_key(w, "flagged");
	jsonw_bool(w, has_flag(m, "\\Flagged"));
	jsonw_key(w, "answered");
	jsonw_bool(w, has_flag(m, "\\Answered"));
	jsonw_key(w, "has_attachments");
	jsonw_bool(w, m->attachments > 0);
	jsonw_key(w, "attachments");
	jsonw_uint(w, m->attachments);
	jsonw_key(w, "in_reply_to");
	jsonw_string(w, e->in_reply_to);
	jsonw_key(w, "list_id");
	jsonw_string(w, m->list_id);
	jsonw_key(w, "unsubscribe");
	api_render_unsubscribe(w, &m->unsub);
}


/* The folder's parent path (NULL at the top). */
static void parent_json(struct jsonw *w, const struct imap_folder *f)
{
	const char *cut = f->delimiter ? strrchr(f->path, f->delimiter) : NULL;
	if (!cut || cut == f->path)
		jsonw_null(w);
	else
		jsonw_stringn(w, f->path, (size_t)(cut - f->path));
}

void api_render_folder_fields(struct jsonw *w, const struct imap_folder *f, bool counts)
{
	char delim[2] = {f->delimiter, '\0'};
	char id[API_FOLDER_ID_LEN + 1];
	api_folder_id(f, id);
	jsonw_key(w, "id");
	jsonw_string(w, id);
	jsonw_key(w, "path");
	jsonw_string(w, f->path);
	jsonw_key(w, "name");
	jsonw_string(w, imap_folder_name(f));
	jsonw_key(w, "delimiter");
	jsonw_string(w, f->delimiter ? delim : NULL);
	jsonw_key(w, "parent");
	parent_json(w, f);
	jsonw_key(w, "flags");
	jsonw_array(w);
	for (size_t i = 0; i < f->nattrs; i++)
		jsonw_string(w, f->attrs[i]);
	jsonw_end_array(w);
	jsonw_key(w, "special_use");
	jsonw_string(w, f->special_use);
	jsonw_key(w, "subscribed");
	jsonw_bool(w, f->subscribed);
	jsonw_key(w, "selectable");
	jsonw_bool(w, f->selectable);
	if (!counts)
		return;
	static const char *const keys[] = {"messages", "unseen", "uidnext", "uidvalidity"};
	const uint32_t values[] = {f->messages, f->unseen, f->uidnext, f->uidvalidity};
	for (size_t i = 0; i < 4; i++) {
		jsonw_key(w, keys[i]);
		if (f->has_status)
			jsonw_uint(w, values[i]);
		else
			jsonw_null(w);
	}
	/* The change state, from the same STATUS (GET /changes?since=) */
	struct imap_state st = {.uidvalidity = f->uidvalidity, .uidnext = f->uidnext,
	                        .exists = f->messages, .modseq = f->highestmodseq};
	if (f->has_status && st.uidvalidity && st.uidnext && st.exists < st.uidnext) {
		api_render_state(w, &st, f->path);
	} else {
		jsonw_key(w, "state");
		jsonw_null(w);
	}
}

void api_render_folder(struct jsonw *w, const struct imap_folder *f, bool counts)
{
	jsonw_object(w);
	api_render_folder_fields(w, f, counts);
	jsonw_end_object(w);
}
