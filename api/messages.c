/*
 * api/messages.c — GET /messages: one page of summaries.
 *
 * Every parameter is validated before anything reaches IMAP; a bad one is a
 * 400 naming it. The cursor is opaque to clients: base64url of
 * "v1.<uidvalidity>.<sort>.<order>.<last uid>.<last position>", so a walk
 * continues after the last message it saw even when mail arrives or goes.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/base/codec.h"
#include "imap/mail/date.h"
#include "imap/mail/utf7.h"
#include "imap/changes.h"
#include "imap/index.h"
#include "imap/messages.h"

#define PAGE_MAX 10000000u

static const char *const sort_names[] = {
	[IMAP_SORT_ARRIVAL] = "arrival", [IMAP_SORT_RECEIVED] = "received",
	[IMAP_SORT_DATE] = "date",       [IMAP_SORT_FROM] = "from",
	[IMAP_SORT_TO] = "to",           [IMAP_SORT_SUBJECT] = "subject",
	[IMAP_SORT_SIZE] = "size",
};

struct listing {
	const char *folder;
	struct imap_page_request req;
	char days[2][16];           /* since, before as IMAP dates */
	uint32_t cursor_uidvalidity;
	bool has_uidvalidity;       /* ?uidvalidity= the client holds */
	uint32_t uidvalidity;
	int64_t deadline;
	bool has_key;               /* the index's key for these credentials */
	bool vouched;               /* the pool holds a session these credentials opened */
	unsigned char key[IMAP_INDEX_KEY_LEN];
	uint64_t arrived;           /* imap_index_arrival as the request began */
	struct imap_page page;
	struct imap_state state;    /* taken before the page: never newer than it */
};




static void encode_cursor(const struct listing *l, uint32_t uid, uint32_t pos, char *out,
                          size_t cap)
{
	char raw[96];
	snprintf(raw, sizeof raw, "v1.%u.%s.%s.%u.%u", l->page.uidvalidity,
	         sort_names[l->req.sort], l->req.desc ? "desc" : "asc", uid, pos);
	api_cursor_encode(raw, out, cap);
}

static bool decode_cursor(const char *s, struct listing *l, struct api_response *resp)
{
	char raw[128];
	if (!api_cursor_decode(s, raw, sizeof raw))
		return api_bad(resp, "cursor is not one this service issued");
	char sort[16], order[8];
	unsigned uv, uid, pos;
	int used = 0;
	if (sscanf((char *)raw, "v1.%u.%15[a-z].%7[a-z].%u.%u%n", &uv, sort, order, &uid, &pos,
	           &used) != 5 || (size_t)used != strlen((char *)raw) || uid == 0)
		return api_bad(resp, "cursor is not one this service issued");
	size_t key = 0;
	while (key < sizeof sort_names / sizeof sort_names[0] && strcmp(sort_names[key], sort))
		key++;
	if (key == sizeof sort_names / sizeof sort_names[0] ||
	    (strcmp(order, "asc") && strcmp(order, "desc")))
		return api_bad(resp, "cursor is not one this service issued");
	if (key != l->req.sort || (strcmp(order, "desc") == 0) != l->req.desc)
		return api_bad(resp, "cursor belongs to another sort or order");
	l->req.has_cursor = true;
	l->req.after_uid = uid;
	l->req.after_pos = pos;
	l->cursor_uidvalidity = uv;
	return true;
}

static bool parse_params(const struct api_request *req, struct listing *l,
                         struct api_response *resp)
{
	const struct api_config *cfg = api_config();
	uint64_t n;
	const char *v;
	memset(l, 0, sizeof *l);
	if (!api_folder_param(req, &l->folder, resp))
		return false;

	l->req.page = 1;
	if ((v = api_query(req, "page"))) {
		if (!api_parse_u64(v, 1, PAGE_MAX, &n))
			return api_bad(resp, "page must be a whole number from 1");
		l->req.page = (uint32_t)n;
	}
	l->req.per_page = cfg->per_page_default;
	if ((v = api_query(req, "per_page"))) {
		if (!api_parse_u64(v, 1, cfg->per_page_max, &n))
			return api_bad(resp, "per_page must be from 1 to %u", cfg->per_page_max);
		l->req.per_page = (uint32_t)n;
	}
	l->req.sort = IMAP_SORT_ARRIVAL;
	if ((v = api_query(req, "sort"))) {
		size_t k = 0;
		while (k < sizeof sort_names / sizeof sort_names[0] && strcmp(sort_names[k], v))
			k++;
		if (k == sizeof sort_names / sizeof sort_names[0])
			return api_bad(resp, "sort must be arrival, received, date, from, to, subject or size");
		l->req.sort = (enum imap_sort_key)k;
	}
	l->req.desc = true;
	if ((v = api_query(req, "order"))) {
		if (strcmp(v, "asc") && strcmp(v, "desc"))
			return api_bad(resp, "order must be asc or desc");
		l->req.desc = strcmp(v, "desc") == 0;
	}
	if (!api_filter_params(req, &l->req.filter, l->days, resp))
		return false;
	if ((v = api_query(req, "cursor")) && !decode_cursor(v, l, resp))
		return false;
	if (!api_uidvalidity_param(req, &l->uidvalidity, resp))
		return false;
	l->has_uidvalidity = l->uidvalidity != 0;
	static const char *const known[] = {"folder", "page", "per_page", "sort", "order",
	                                    API_FILTER_KEYS, "cursor", "uidvalidity", NULL};
	return api_known_params(req, known, resp);
}

/* The page against what the client holds (cursor, ?uidvalidity=). */
static int check_page(struct listing *l, struct imap_error *err)
{
	if (l->req.has_cursor && l->page.uidvalidity != l->cursor_uidvalidity) {
		imap_page_free(&l->page);
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY changed: start again without cursor");
	}
	if (l->has_uidvalidity && l->page.uidvalidity != l->uidvalidity) {
		imap_page_free(&l->page);
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY is no longer the one given");
	}
	return 0;
}

static int fetch_page(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct listing *l = ctx;
	imap_page_free(&l->page);
	struct imap_index *ix = l->has_key ? api_config()->index : NULL;
	int rc = imap_state_of(s, l->folder, false, l->deadline, &l->state, err);
	if (!rc)
		rc = imap_index_page(ix, l->key, s, l->folder, &l->req, l->arrived, l->deadline,
		                     &l->page, err);
	return rc ? rc : check_page(l, err);
}

/* The page from the index alone, with no session (imap_index_page_held):
 * false when it cannot answer (the caller takes a session), true when it
 * did, *failed then telling whether resp holds a problem instead. */
static bool held_page(struct listing *l, struct api_response *resp, bool *failed)
{
	*failed = false;
	if (!l->has_key || !l->vouched ||
	    imap_index_page_held(api_config()->index, l->key, l->folder, &l->req, l->arrived,
	                         l->deadline, &l->page, &l->state) != 0)
		return false;
	struct imap_error err = {0};
	int rc = check_page(l, &err);
	if (rc) {
		api_imap_problem(resp, rc, &err, 0);
		*failed = true;
	}
	return true;
}

/* Append k=v, URL-encoded, to a query string. */
static void query_add(struct imap_buf *b, const char *k, const char *v)
{
	imap_buf_printf(b, "%s%s=", b->len ? "&" : "?", k);
	api_url_encode(b, v);
}

/* The request's query with page/cursor replaced. */
static void link_for(const struct api_request *req, const char *page, const char *cursor,
                     struct imap_buf *out)
{
	for (size_t i = 0; i < req->nquery; i++) {
		const char *k = req->query[i].key;
		if (strcmp(k, "page") && strcmp(k, "cursor"))
			query_add(out, k, req->query[i].value);
	}
	if (page)
		query_add(out, "page", page);
	if (cursor)
		query_add(out, "cursor", cursor);
}

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t page_hash(const struct api_request *req, const struct imap_page *p)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < req->nquery; i++) {
		h = fnv(h, req->query[i].key, strlen(req->query[i].key) + 1);
		const char *v = req->query[i].value ? req->query[i].value : "";
		h = fnv(h, v, strlen(v) + 1);
	}
	uint32_t nums[3] = {p->uidvalidity, p->total, p->first_pos};
	h = fnv(h, nums, sizeof nums);
	for (size_t i = 0; i < p->n; i++) {
		h = fnv(h, &p->msgs[i].uid, sizeof p->msgs[i].uid);
		for (size_t k = 0; k < p->msgs[i].nflags; k++)
			h = fnv(h, p->msgs[i].flags[k], strlen(p->msgs[i].flags[k]) + 1);
		h = fnv(h, "", 1);
	}
	return h;
}

void api_messages_list(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	struct listing l;
	if (!parse_params(req, &l, resp))
		return;
	l.deadline = req->deadline;
	l.arrived = imap_index_arrival(api_config()->index);
	l.has_key = api_config()->index && api_credentials_key(req, l.key, &l.vouched);
	bool failed;
	if (held_page(&l, resp, &failed)) {
		if (failed)
			return;
	} else if (!api_run(req, m, fetch_page, &l, resp)) {
		return;
	} else if (l.has_key) {
		/* a folder the index does not hold yet loads once this is out */
		api_index_load_after(req, resp, l.key, l.folder);
	}

	const struct imap_page *p = &l.page;
	uint32_t per = l.req.per_page;
	/* A weak validator: the summaries never change for a (uidvalidity,
	 * uid), so the query, which messages are shown, where, their flags and
	 * the total decide the whole answer. */
	char etag[48];
	snprintf(etag, sizeof etag, "W/\"%u.%016" PRIx64 "\"", p->uidvalidity, page_hash(req, p));
	api_response_header(resp, "Cache-Control", "private, no-cache");
	api_response_header(resp, "ETag", "%s", etag);
	if (api_etag_matches(req->if_none_match, etag + 2)) {
		resp->status = 304;
		resp->content_type = "application/json";
		imap_page_free(&l.page);
		return;
	}
	uint32_t pages = p->total ? (p->total + per - 1) / per : 0;
	uint32_t page = p->first_pos / per + 1;
	char next_cursor[128] = "";
	bool more = (uint64_t)p->first_pos + p->n < p->total;
	if (more && p->n)
		encode_cursor(&l, p->msgs[p->n - 1].uid, p->first_pos + (uint32_t)p->n - 1,
		              next_cursor, sizeof next_cursor);

	struct jsonw w;
	api_reply_json(resp, 200, &w);
	imap_buf_reserve(&resp->body, 1024 + p->n * 1024);
	jsonw_object(&w);
	jsonw_key(&w, "folder");
	jsonw_string(&w, l.folder);
	jsonw_key(&w, "uidvalidity");
	jsonw_uint(&w, p->uidvalidity);
	api_render_state(&w, &l.state, l.folder);
	jsonw_key(&w, "total");
	jsonw_uint(&w, p->total);
	jsonw_key(&w, "page");
	jsonw_uint(&w, page);
	jsonw_key(&w, "per_page");
	jsonw_uint(&w, per);
	jsonw_key(&w, "pages");
	jsonw_uint(&w, pages);
	jsonw_key(&w, "next_cursor");
	jsonw_string(&w, next_cursor[0] ? next_cursor : NULL);
	jsonw_key(&w, "messages");
	jsonw_array(&w);
	for (size_t i = 0; i < p->n; i++)
		api_render_summary(&w, &p->msgs[i]);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	imap_page_free(&l.page);

	/* RFC 8288 Link: next (by cursor) and prev (by page number). */
	struct imap_buf link;
	imap_buf_init(&link, 0);
	if (next_cursor[0]) {
		struct imap_buf q;
		imap_buf_init(&q, 0);
		link_for(req, NULL, next_cursor, &q);
		imap_buf_printf(&link, "</messages%s>; rel=\"next\"", q.data);
		imap_buf_free(&q);
	}
	if (page > 1 && !l.req.has_cursor) {
		struct imap_buf q;
		char num[16];
		snprintf(num, sizeof num, "%u", page - 1);
		imap_buf_init(&q, 0);
		link_for(req, num, NULL, &q);
		imap_buf_printf(&link, "%s</messages%s>; rel=\"prev\"", link.len ? ", " : "", q.data);
		imap_buf_free(&q);
	}
	if (link.len && link.len < sizeof resp->headers[0].value)
		api_response_header(resp, "Link", "%s", link.data);
	imap_buf_free(&link);
}
