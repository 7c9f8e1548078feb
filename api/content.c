/*
 * api/content.c — one message: in full (JSON), its source, its
 * attachments listed and downloaded.
 *
 * Downloads stream: the bytes go from the IMAP literal (imap_content_stream)
 * through the decoder to the HTTP body (api_stream_*) as they arrive, in
 * pieces, so the gateway never holds a whole message or attachment. The
 * status line and headers go out with the first byte; an error after that
 * cuts the body short (the client sees an incomplete response).
 *
 * The bytes of (folder, UIDVALIDITY, UID[, part]) never change, so downloads
 * carry a strong ETag made of those and answer If-None-Match with 304 after
 * checking only that the message is still there. Cache-Control: no-cache,
 * because the same URL names another message once UIDVALIDITY changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/changes.h"
#include "imap/content.h"
#include "imap/mail/cte.h"
#include "imap/mail/date.h"

/* What every route of a message takes: folder, uidvalidity, credentials. */
struct target {
	const char *folder;
	uint32_t uidvalidity;
	uint32_t uid;
	bool idempotent;   /* the route's: may run again on a fresh session */
	struct imap_credentials cred;
	struct imap_buf cred_store;
	const struct api_server *server;
};

static bool target_parse(const struct api_request *req, struct api_response *resp,
                         const struct api_match *m, const char *const *known, struct target *t)
{
	memset(t, 0, sizeof *t);
	imap_buf_init(&t->cred_store, 0);
	t->uid = m->uid;
	t->idempotent = m->route->flags & API_ROUTE_IDEMPOTENT;
	if (!api_known_params(req, known, resp) || !api_folder_param(req, &t->folder, resp) ||
	    !api_uidvalidity_param(req, &t->uidvalidity, resp))
		return false;
	return api_credentials(req, &t->cred, &t->cred_store, resp) == 0 &&
	       (t->server = api_server_for(req, t->cred.user, resp)) != NULL;
}

static void target_free(struct target *t)
{
	imap_buf_free(&t->cred_store);
}

/* ETag and Cache-Control of a download (see the top of this file). */
static void validators(struct api_response *resp, const char *etag)
{
	api_response_header(resp, "ETag", "%s", etag);
	api_response_header(resp, "Cache-Control", "private, no-cache");
}

/* ---- GET /messages/{uid}/raw ---- */

struct raw {
	const struct api_request *req;
	struct api_response *resp;
	const struct target *t;
	int64_t deadline;  /* of the download */
	char etag[48];
	bool not_modified; /* If-None-Match matched: 304 */
	bool begun;        /* headers sent: no more retries, no problem body */
};

static int raw_sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct raw *r = ctx;
	if (!data) {
		if (r->begun)
			return IMAP_ERR_PROTOCOL;  /* imap_content_stream starts once */
		r->begun = true;
		r->resp->status = 200;
		r->resp->content_type = "message/rfc822";
		validators(r->resp, r->etag);
		return api_stream_begin(r->req, r->resp, total) ? IMAP_ERR_IO : 0;
	}
	return api_stream_write(r->req, r->resp, data, len, r->deadline) ? IMAP_ERR_IO : 0;
}

static int raw_run(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct raw *r = ctx;
	if (r->begun)  /* the session died mid-body: the body cannot restart */
		return imap_error_set(err, IMAP_ERR_IO, "the connection to the server was lost");
	int rc = imap_content_select(s, r->t->folder, false, r->t->uidvalidity, r->t->uid,
	                             r->req->deadline, err);
	if (rc)
		return rc;
	snprintf(r->etag, sizeof r->etag, "\"%u.%u\"", imap_session_mailbox(s)->uidvalidity,
	         r->t->uid);
	if (api_etag_matches(r->req->if_none_match, r->etag)) {
		r->not_modified = true;
		return imap_content_exists(s, r->t->uid, r->req->deadline, err);
	}
	return imap_content_stream(s, r->t->folder, r->t->uidvalidity, r->t->uid, "", raw_sink, r,
	                           r->deadline, err);
}

void api_message_raw(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m)
{
	static const char *const known[] = {"folder", "uidvalidity", NULL};
	struct target t;
	if (!target_parse(req, resp, m, known, &t)) {
		target_free(&t);
		return;
	}
	struct raw r = {.req = req, .resp = resp, .t = &t,
	                .deadline = imap_now_ms() + api_config()->download_timeout_ms};
	struct imap_error err = {0};
	unsigned retry = 0;
	int rc = api_with_session(req, t.server, &t.cred, t.idempotent, raw_run, &r,
	                          &err, &retry);
	target_free(&t);
	if (r.begun) {
		api_stream_end(req, resp, rc == 0);
	} else if (rc == 0 && r.not_modified) {
		resp->status = 304;
		resp->content_type = "message/rfc822";
		validators(resp, r.etag);
	} else {
		api_imap_problem(resp, rc, &err, retry);
	}
}

/* ---- the attachment list (GET /messages/{uid} and /attachments) ---- */

static void attachments_json(struct jsonw *w, const struct imap_bodystructure *bs)
{
	struct imap_attachment_list l = {0};
	jsonw_array(w);
	if (bs && imap_bodystructure_attachment_list(bs, &l) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			const struct imap_attachment *a = &l.v[i];
			jsonw_object(w);
			jsonw_key(w, "part");
			jsonw_string(w, a->section);
			jsonw_key(w, "filename");
			jsonw_string(w, a->filename);
			jsonw_key(w, "content_type");
			jsonw_string(w, a->content_type);
			jsonw_key(w, "disposition");
			jsonw_string(w, a->disposition);
			jsonw_key(w, "inline");
			jsonw_bool(w, a->is_inline);
			jsonw_key(w, "content_id");
			jsonw_string(w, a->content_id);
			jsonw_key(w, "size");
			jsonw_uint(w, a->size);
			jsonw_key(w, "decoded_size");
			jsonw_uint(w, a->decoded_size);
			jsonw_end_object(w);
		}
	}
	imap_attachment_list_free(&l);
	jsonw_end_array(w);
}

/* ---- GET /messages/{uid} ---- */

#define HEADER_NAMES_MAX 64  /* names one ?headers= may list */

struct detail {
	const struct target *t;
	const struct api_request *req;
	bool mark_seen;
	bool all_headers;
	char *names[HEADER_NAMES_MAX]; /* ?headers=a,b: lower-cased; into names_store */
	size_t nnames;
	char names_store[1024];
	uint64_t max_bytes;            /* 0: no limit */
	uint32_t uidvalidity;          /* the folder's */
	struct imap_state state;       /* the folder's, taken before the message */
	struct imap_message msg;
	bool truncated;
};

static bool parse_header_names(const char *v, struct detail *d, struct api_response *resp)
{
	if (strcasecmp(v, "all") == 0) {
		d->all_headers = true;
		return true;
	}
	if (strlen(v) >= sizeof d->names_store)
		return api_bad(resp, "headers lists too many names");
	strcpy(d->names_store, v);
	for (char *p = d->names_store, *next; p; p = next) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		for (char *c = p; *c; c++) {
			/* RFC 5322 ftext: printable US-ASCII but ":" */
			if (*c <= ' ' || *c > '~' || *c == ':')
				return api_bad(resp, "headers must be 'all' or comma-separated header names");
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		}
		if (d->nnames == HEADER_NAMES_MAX)
			return api_bad(resp, "headers lists too many names");
		d->names[d->nnames++] = p;
	}
	return true;
}

static bool header_wanted(const struct detail *d, const char *name)
{
	if (d->all_headers)
		return true;
	for (size_t i = 0; i < d->nnames; i++)
		if (strcmp(d->names[i], name) == 0)
			return true;
	return false;
}

static int detail_run(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct detail *d = ctx;
	int64_t deadline = d->req->deadline;
	imap_message_free(&d->msg);
	/* Marking as seen needs the folder read-write; reading alone does not. */
	int rc = imap_content_select(s, d->t->folder, d->mark_seen, d->t->uidvalidity, d->t->uid,
	                             deadline, err);
	if (rc)
		return rc;
	d->uidvalidity = imap_session_mailbox(s)->uidvalidity;
	if ((rc = imap_state_of(s, d->t->folder, false, deadline, &d->state, err)))
		return rc;
	/* Text parts are fetched up to --text-max, and only as far as max_bytes
	 * will show: 4 encoded bytes per byte shown, and some, cover base64 and
	 * quoted-printable text in any but pathological cases (then less than
	 * max_bytes is shown, still marked truncated). */
	size_t max = api_config()->text_max;
	if (d->max_bytes && d->max_bytes < (max - 4096) / 4)
		max = (size_t)d->max_bytes * 4 + 4096;
	if ((rc = imap_message_fetch(s, d->t->uid, deadline, &d->msg, err)) ||
	    (rc = imap_message_fetch_text(s, &d->msg, max, deadline, err)))
		return rc;
	return d->mark_seen ? imap_message_mark_seen(s, &d->msg, deadline, err) : 0;
}

/* text or html, cut to max_bytes on a character boundary. */
static void body_json(struct jsonw *w, struct detail *d, bool has, const struct imap_buf *b)
{
	if (!has) {
		jsonw_null(w);
		return;
	}
	bool cut = false;
	size_t len = b->len;
	if (d->max_bytes)
		len = imap_mime_utf8_truncate(b->data, b->len, (size_t)d->max_bytes, &cut);
	d->truncated |= cut;
	jsonw_stringn(w, b->data ? b->data : "", len);
}

static void detail_json(struct detail *d, struct api_response *resp)
{
	const struct imap_message *m = &d->msg;
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "folder");
	jsonw_string(&w, d->t->folder);
	jsonw_key(&w, "uidvalidity");
	jsonw_uint(&w, d->uidvalidity);
	api_render_state(&w, &d->state, d->t->folder);
	api_render_summary_fields(&w, &m->sum);
	jsonw_key(&w, "sender");
	api_render_addresses(&w, &m->sum.env.sender);
	jsonw_key(&w, "bcc");
	api_render_addresses(&w, &m->sum.env.bcc);
	jsonw_key(&w, "references");
	jsonw_array(&w);
	for (size_t i = 0; i < m->nreferences; i++)
		jsonw_string(&w, m->references[i]);
	jsonw_end_array(&w);
	jsonw_key(&w, "headers");
	jsonw_object(&w);
	for (size_t i = 0; i < m->header.n; i++) {
		const char *name = m->header.v[i].name;
		bool first = true;
		for (size_t k = 0; k < i && first; k++)
			first = strcmp(m->header.v[k].name, name) != 0;
		if (!first || !header_wanted(d, name))
			continue;
		jsonw_key(&w, name);
		jsonw_array(&w);
		for (size_t k = i; k < m->header.n; k++)
			if (strcmp(m->header.v[k].name, name) == 0)
				jsonw_string(&w, m->header.v[k].value);
		jsonw_end_array(&w);
	}
	jsonw_end_object(&w);
	d->truncated = m->text_cut;
	jsonw_key(&w, "text");
	body_json(&w, d, m->has_text, &m->text);
	jsonw_key(&w, "html");
	body_json(&w, d, m->has_html, &m->html);
	jsonw_key(&w, "truncated");
	jsonw_bool(&w, d->truncated);
	jsonw_key(&w, "attachment_list");
	attachments_json(&w, m->structure);
	jsonw_end_object(&w);
}

void api_message_get(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m)
{
	static const char *const known[] = {"folder", "uidvalidity", "headers", "max_bytes",
	                                    "mark_seen", NULL};
	struct target t;
	struct detail d;
	memset(&d, 0, sizeof d);
	d.t = &t;
	d.req = req;
	const char *v;
	if (target_parse(req, resp, m, known, &t) &&
	    api_bool_param(req, "mark_seen", &d.mark_seen, resp) &&
	    (!(v = api_query(req, "headers")) || parse_header_names(v, &d, resp)) &&
	    (!(v = api_query(req, "max_bytes")) || api_parse_u64(v, 1, UINT32_MAX, &d.max_bytes) ||
	     api_bad(resp, "max_bytes must be a whole number from 1"))) {
		struct imap_error err = {0};
		unsigned retry = 0;
		/* Not idempotent with mark_seen, but setting \Seen twice is harmless. */
		int rc = api_with_session(req, t.server, &t.cred, t.idempotent, detail_run, &d,
		                          &err, &retry);
		if (rc)
			api_imap_problem(resp, rc, &err, retry);
		else
			detail_json(&d, resp);
	}
	target_free(&t);
	imap_message_free(&d.msg);
}

/* ---- GET /messages/{uid}/attachments ---- */

struct listing {
	const struct api_request *req;
	const struct target *t;
	uint32_t uidvalidity;
	struct imap_bodystructure *bs;
};

static int listing_run(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct listing *l = ctx;
	imap_bodystructure_free(&l->bs);
	int rc = imap_content_select(s, l->t->folder, false, l->t->uidvalidity, l->t->uid,
	                             l->req->deadline, err);
	if (rc)
		return rc;
	l->uidvalidity = imap_session_mailbox(s)->uidvalidity;
	return imap_content_structure(s, l->t->uid, l->req->deadline, &l->bs, err);
}

void api_message_attachments(const struct api_request *req, struct api_response *resp,
                             const struct api_match *m)
{
	static const char *const known[] = {"folder", "uidvalidity", NULL};
	struct target t;
	struct listing l = {.req = req, .t = &t};
	if (target_parse(req, resp, m, known, &t)) {
		struct imap_error err = {0};
		unsigned retry = 0;
		int rc = api_with_session(req, t.server, &t.cred, t.idempotent, listing_run, &l,
		                          &err, &retry);
		if (rc) {
			api_imap_problem(resp, rc, &err, retry);
		} else {
			struct jsonw w;
			api_reply_json(resp, 200, &w);
			jsonw_object(&w);
			jsonw_key(&w, "folder");
			jsonw_string(&w, t.folder);
			jsonw_key(&w, "uidvalidity");
			jsonw_uint(&w, l.uidvalidity);
			jsonw_key(&w, "uid");
			jsonw_uint(&w, t.uid);
			jsonw_key(&w, "attachments");
			attachments_json(&w, l.bs);
			jsonw_end_object(&w);
		}
	}
	imap_bodystructure_free(&l.bs);
	target_free(&t);
}

/* ---- GET /messages/{uid}/attachments/{part} ---- */

struct download {
	const struct api_request *req;
	struct api_response *resp;
	const struct target *t;
	const char *part;
	int64_t deadline;
	struct imap_bodystructure *bs;
	const struct imap_body_part *p;
	struct imap_cte_decoder dec;
	char etag[IMAP_SECTION_LEN_MAX + 48];
	bool not_modified;
	bool begun;
};

static int download_out(void *ctx, const char *data, size_t len)
{
	struct download *d = ctx;
	return api_stream_write(d->req, d->resp, data, len, d->deadline) ? IMAP_ERR_IO : 0;
}

static int download_sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct download *d = ctx;
	if (data)
		return imap_cte_feed(&d->dec, data, len);
	if (d->begun)
		return IMAP_ERR_PROTOCOL;  /* imap_content_stream starts once */
	d->begun = true;
	const char *enc = d->p->encoding ? d->p->encoding : "";
	enum imap_cte cte = imap_cte_parse(enc, strlen(enc));
	imap_cte_init(&d->dec, cte, download_out, d);
	d->resp->status = 200;
	d->resp->content_type = d->resp->content_type_buf;
	return api_stream_begin(d->req, d->resp, cte == IMAP_CTE_IDENTITY ? total : API_LENGTH_UNKNOWN)
	               ? IMAP_ERR_IO
	               : 0;
}

/* Content-Type of the download: type/subtype and, for text, the charset
 * (only token characters, so nothing from the message can break out of
 * the header). Written into the response, which outlives this handler
 * (see api_response.content_type_buf). */
static void download_type(struct download *d)
{
	const struct imap_body_part *p = d->p;
	char *ct = d->resp->content_type_buf;
	size_t cap = sizeof d->resp->content_type_buf;
	int n = snprintf(ct, cap, "%s/%s", p->type, p->subtype);
	for (int i = 0; i < n && (size_t)i < cap; i++) {
		char c = ct[i];
		if (!(c > ' ' && c < 0x7f && !strchr("()<>@,;:\\\"[]?={}", c)) && c != '/')
			ct[i] = '_';
	}
	const char *pname = p->kind == IMAP_BODY_MULTIPART ? "boundary"
	                    : strcmp(p->type, "text") == 0 ? "charset" : NULL;
	char *pv = NULL;
	if (pname && imap_mime_param_get(p->params, p->nparams, pname, &pv) == 0 && pv && *pv &&
	    strlen(pv) < 200 && strspn(pv, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                   "0123456789'()+_,-./:=?") == strlen(pv))
		snprintf(ct + strlen(ct), cap - strlen(ct), "; %s=\"%s\"", pname, pv);
	free(pv);
}

static int download_run(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct download *d = ctx;
	if (d->begun)  /* the session died mid-body: the body cannot restart */
		return imap_error_set(err, IMAP_ERR_IO, "the connection to the server was lost");
	imap_bodystructure_free(&d->bs);
	int rc = imap_content_select(s, d->t->folder, false, d->t->uidvalidity, d->t->uid,
	                             d->req->deadline, err);
	if (!rc)
		rc = imap_content_structure(s, d->t->uid, d->req->deadline, &d->bs, err);
	if (rc)
		return rc;
	d->p = imap_bodystructure_find(d->bs, d->part);
	if (!d->p || !*d->p->section)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "the message has no part %s", d->part);
	d->resp->nheaders = 0;  /* a retry starts the headers again */
	snprintf(d->etag, sizeof d->etag, "\"%u.%u.%s\"", imap_session_mailbox(s)->uidvalidity,
	         d->t->uid, d->p->section);
	validators(d->resp, d->etag);
	download_type(d);
	struct imap_buf cd;
	imap_buf_init(&cd, sizeof d->resp->headers[0].value - 1);
	if (imap_mime_content_disposition(d->p->filename, d->p->filename ? strlen(d->p->filename) : 0,
	                                  false, &cd) != 0) {
		imap_buf_reset(&cd, 0);
		imap_buf_puts(&cd, "attachment");
	}
	api_response_header(d->resp, "Content-Disposition", "%s", cd.data);
	api_response_header(d->resp, "X-Content-Type-Options", "nosniff");
	imap_buf_free(&cd);
	if (api_etag_matches(d->req->if_none_match, d->etag)) {
		d->not_modified = true;  /* the structure showed the part is there */
		return 0;
	}
	rc = imap_content_stream(s, d->t->folder, 0, d->t->uid, d->p->section, download_sink, d,
	                         d->deadline, err);
	if (!rc && d->begun)
		rc = imap_cte_finish(&d->dec);
	return rc;
}

void api_message_attachment(const struct api_request *req, struct api_response *resp,
                            const struct api_match *m)
{
	const char *part = m->part;
	static const char *const known[] = {"folder", "uidvalidity", NULL};
	if (!imap_body_section_valid(part, strlen(part))) {
		api_bad(resp, "part must be a section number such as 2 or 1.2");
		return;
	}
	struct target t;
	struct download d = {.req = req, .resp = resp, .t = &t, .part = part,
	                     .deadline = imap_now_ms() + api_config()->download_timeout_ms};
	if (target_parse(req, resp, m, known, &t)) {
		struct imap_error err = {0};
		unsigned retry = 0;
		int rc = api_with_session(req, t.server, &t.cred, t.idempotent, download_run, &d,
		                          &err, &retry);
		if (d.begun) {
			api_stream_end(req, resp, rc == 0);
		} else if (rc == 0 && d.not_modified) {
			resp->status = 304;
			resp->content_type = resp->content_type_buf;
		} else {
			api_imap_problem(resp, rc, &err, retry);
		}
	}
	imap_bodystructure_free(&d.bs);
	target_free(&t);
}
