/*
 * api/threads.c — GET /threads (a folder's conversations, newest first by
 * their latest message) and GET /threads/{id} (one conversation across
 * folders, in date order).
 *
 * A thread_id is opaque: base64url of "m<message id>" (the conversation's
 * first message, as every reply's References names it first) or "u<uid>"
 * for a message that has no id at all (see api_thread_id). It stays the
 * same while that first message's id is referred to, even when the
 * message itself is deleted. GET /threads/{id} finds the conversation with
 * one SEARCH per folder (the message with that id, and those whose
 * References or In-Reply-To name it), so it needs no threading of whole
 * folders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/folders.h"
#include "imap/mail/thread.h"
#include "imap/mail/utf7.h"
#include "imap/threads.h"

#define THREAD_ID_MAX 2048  /* characters of a thread_id in a path (a message id is <= 998 bytes) */
#define PAGE_MAX 10000000u

static unsigned thread_max(void)
{
	return api_config()->thread_max ? api_config()->thread_max : 10000;
}

/* ---- what both routes render ---- */

/* A conversation's messages (borrowed summaries), with their folders. */
struct conv_msg {
	const struct imap_summary *m;
	const char *folder;
	uint32_t uidvalidity;
};

static int64_t sent_date(const struct imap_summary *m)
{
	return m->env.has_date ? m->env.date : m->has_internaldate ? m->internaldate : 0;
}

static bool seen(const struct imap_summary *m)
{
	for (size_t i = 0; i < m->nflags; i++)
		if (strcasecmp(m->flags[i], "\\Seen") == 0)
			return true;
	return false;
}

/* "subject", "count", "unseen", "participants": msgs[0..n) in date order;
 * the subject is the base subject of `first`. */
static void render_facts(struct jsonw *w, const struct imap_summary *first,
                         const struct conv_msg *msgs, size_t n)
{
	char *subject = first ? imap_base_subject(first->env.subject, NULL) : NULL;
	jsonw_key(w, "subject");
	jsonw_string(w, first && first->env.subject ? subject : NULL);
	free(subject);
	size_t unseen = 0;
	for (size_t i = 0; i < n; i++)
		unseen += !seen(msgs[i].m);
	jsonw_key(w, "count");
	jsonw_uint(w, n);
	jsonw_key(w, "unseen");
	jsonw_uint(w, unseen);
	jsonw_key(w, "participants");
	jsonw_array(w);
	for (size_t i = 0; i < n; i++) {
		const struct imap_address_list *from = &msgs[i].m->env.from;
		if (!from->n || !from->v[0].address)
			continue;
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++) {
			const struct imap_address_list *o = &msgs[k].m->env.from;
			dup = o->n && o->v[0].address &&
			      strcasecmp(o->v[0].address, from->v[0].address) == 0;
		}
		if (dup)
			continue;
		api_render_address(w, &from->v[0]);
	}
	jsonw_end_array(w);
}

static int by_date(const void *a, const void *b)
{
	const struct conv_msg *x = a, *y = b;
	int64_t dx = sent_date(x->m), dy = sent_date(y->m);
	if (dx != dy)
		return dx < dy ? -1 : 1;
	int64_t rx = x->m->internaldate, ry = y->m->internaldate;
	if (rx != ry)
		return rx < ry ? -1 : 1;
	int f = strcmp(x->folder, y->folder);
	return f ? f : x->m->uid < y->m->uid ? -1 : x->m->uid > y->m->uid;
}

/* ---- GET /threads ---- */

struct conv {
	long root;
	size_t count;
	int64_t latest;      /* newest INTERNALDATE */
	uint32_t latest_uid;
	int64_t started;     /* oldest INTERNALDATE */
	uint32_t started_uid;
};

/* The orders of GET /threads (?sort=, ?order=; newest activity first by
 * default). Ties: by the UID of the message the key was taken from. */
enum conv_sort { SORT_LATEST, SORT_STARTED, SORT_COUNT };
static const char *const conv_sorts[] = {"latest", "started", "count"};
struct conv_order {
	enum conv_sort key;
	bool asc;
};

struct list_call {
	const char *folder;
	struct conv_order order;
	uint32_t page, per_page;
	int64_t deadline;
	struct imap_folder_threads ft;
	struct conv *convs;
	size_t nconvs;
	size_t first;        /* the page's first conversation */
	struct imap_page summaries;  /* of the page's conversations */
};

/* The next node of the subtree of top after x, depth first; -1 at its end. */
static long next_in(const struct imap_threads *t, long top, long x)
{
	if (t->v[x].child >= 0)
		return t->v[x].child;
	while (x != top && t->v[x].next < 0)
		x = t->v[x].parent;
	return x == top ? -1 : t->v[x].next;
}

static int conv_cmp(const void *a, const void *b, void *ctx)
{
	const struct conv *x = a, *y = b;
	const struct conv_order *o = ctx;
	int c = 0;
	if (o->key == SORT_STARTED) {
		c = x->started < y->started ? -1 : x->started > y->started;
		if (!c)
			c = x->started_uid < y->started_uid ? -1 : x->started_uid > y->started_uid;
		return o->asc ? c : -c;
	}
	if (o->key == SORT_COUNT)
		c = x->count < y->count ? -1 : x->count > y->count;
	if (!c)  /* latest activity: the key, and what breaks a tie of counts */
		c = x->latest < y->latest ? -1 : x->latest > y->latest;
	if (!c)
		c = x->latest_uid < y->latest_uid ? -1 : x->latest_uid > y->latest_uid;
	return o->asc ? c : -c;
}

static int list_threads(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct list_call *c = ctx;
	imap_folder_threads_free(&c->ft);
	imap_page_free(&c->summaries);
	free(c->convs);
	c->convs = NULL;
	c->nconvs = 0;
	int rc = imap_threads_folder(s, c->folder, thread_max(), c->deadline, &c->ft, err);
	if (rc)
		return rc;
	const struct imap_threads *t = &c->ft.t;
	size_t n = 0;
	for (long r = t->first; r >= 0; r = t->v[r].next)
		n++;
	if (!(c->convs = calloc(n ? n : 1, sizeof *c->convs)))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	for (long r = t->first; r >= 0; r = t->v[r].next) {
		struct conv cv = {.root = r, .latest = INT64_MIN, .started = INT64_MAX,
		                  .started_uid = UINT32_MAX};
		for (long x = r; x >= 0; x = next_in(t, r, x)) {
			if (t->v[x].msg < 0)
				continue;
			const struct imap_match *mm = &c->ft.m[t->v[x].msg];
			cv.count++;
			if (mm->received > cv.latest ||
			    (mm->received == cv.latest && mm->uid > cv.latest_uid)) {
				cv.latest = mm->received;
				cv.latest_uid = mm->uid;
			}
			if (mm->received < cv.started ||
			    (mm->received == cv.started && mm->uid < cv.started_uid)) {
				cv.started = mm->received;
				cv.started_uid = mm->uid;
			}
		}
		if (cv.count)
			c->convs[c->nconvs++] = cv;
	}
	qsort_r(c->convs, c->nconvs, sizeof *c->convs, conv_cmp, &c->order);
	uint64_t start = (uint64_t)(c->page - 1) * c->per_page;
	c->first = start < c->nconvs ? (size_t)start : c->nconvs;
	size_t end = c->first + c->per_page < c->nconvs ? c->first + c->per_page : c->nconvs;
	/* the summaries of every message of the page's conversations */
	size_t want = 0;
	for (size_t i = c->first; i < end; i++)
		want += c->convs[i].count;
	if (want > thread_max())
		want = thread_max();
	uint32_t *uids = malloc((want ? want : 1) * sizeof *uids);
	if (!uids)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = c->first; i < end; i++)
		for (long x = c->convs[i].root; x >= 0 && k < want; x = next_in(t, c->convs[i].root, x))
			if (t->v[x].msg >= 0)
				uids[k++] = c->ft.m[t->v[x].msg].uid;
	rc = imap_messages_fetch(s, c->folder, uids, k, c->deadline, &c->summaries, err);
	free(uids);
	return rc;
}

static const struct imap_summary *summary_of(const struct imap_page *p, uint32_t uid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->msgs[i].uid == uid)
			return &p->msgs[i];
	return NULL;
}

static void render_conv(struct jsonw *w, struct list_call *c, const struct conv *cv)
{
	const struct imap_threads *t = &c->ft.t;
	struct conv_msg *msgs = calloc(cv->count ? cv->count : 1, sizeof *msgs);
	size_t n = 0;
	const struct imap_summary *first = NULL;
	for (long x = cv->root; msgs && x >= 0; x = next_in(t, cv->root, x)) {
		if (t->v[x].msg < 0)
			continue;
		const struct imap_summary *m = summary_of(&c->summaries, c->ft.m[t->v[x].msg].uid);
		if (!m)
			continue;  /* expunged meanwhile, or past --thread-max */
		if (!first)
			first = m;  /* the root, or a dummy root's first child */
		msgs[n++] = (struct conv_msg){m, c->folder, c->summaries.uidvalidity};
	}
	if (n > 1)
		qsort(msgs, n, sizeof *msgs, by_date);
	jsonw_object(w);
	struct imap_buf tid;
	imap_buf_init(&tid, 0);
	if (first)
		api_thread_id(first, &tid);
	jsonw_key(w, "thread_id");
	jsonw_string(w, tid.data ? tid.data : "");
	imap_buf_free(&tid);
	render_facts(w, first, msgs, n);
	jsonw_key(w, "latest");
	const struct imap_summary *latest = summary_of(&c->summaries, cv->latest_uid);
	if (latest)
		api_render_summary(w, latest);
	else
		jsonw_null(w);
	jsonw_key(w, "uids");
	jsonw_array(w);
	for (size_t i = 0; i < n; i++)
		jsonw_uint(w, msgs[i].m->uid);
	jsonw_end_array(w);
	jsonw_end_object(w);
	free(msgs);
}

void api_threads_list(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	const struct api_config *cfg = api_config();
	static const char *const known[] = {"folder", "page", "per_page", "sort", "order", NULL};
	struct list_call c;
	memset(&c, 0, sizeof c);
	c.ft.t.first = -1;
	const char *v;
	uint64_t n;
	if (!api_known_params(req, known, resp) || !api_folder_param(req, &c.folder, resp))
		return;
	if ((v = api_query(req, "sort"))) {
		size_t k = 0;
		while (k < sizeof conv_sorts / sizeof conv_sorts[0] && strcmp(v, conv_sorts[k]) != 0)
			k++;
		if (k == sizeof conv_sorts / sizeof conv_sorts[0])
			return (void)api_bad(resp, "sort must be latest, started or count");
		c.order.key = (enum conv_sort)k;
	}
	if ((v = api_query(req, "order"))) {
		if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
			return (void)api_bad(resp, "order must be asc or desc");
		c.order.asc = strcmp(v, "asc") == 0;
	}
	c.page = 1;
	if ((v = api_query(req, "page"))) {
		if (!api_parse_u64(v, 1, PAGE_MAX, &n))
			return (void)api_bad(resp, "page must be a whole number from 1");
		c.page = (uint32_t)n;
	}
	c.per_page = cfg->per_page_default;
	if ((v = api_query(req, "per_page"))) {
		if (!api_parse_u64(v, 1, cfg->per_page_max, &n))
			return (void)api_bad(resp, "per_page must be from 1 to %u", cfg->per_page_max);
		c.per_page = (uint32_t)n;
	}
	c.deadline = req->deadline;
	if (api_run(req, m, list_threads, &c, resp)) {
		size_t end = c.first + c.per_page < c.nconvs ? c.first + c.per_page : c.nconvs;
		struct jsonw w;
		api_reply_json(resp, 200, &w);
		jsonw_object(&w);
		jsonw_key(&w, "folder");
		jsonw_string(&w, c.folder);
		jsonw_key(&w, "uidvalidity");
		jsonw_uint(&w, c.ft.uidvalidity);
		jsonw_key(&w, "threaded_by");
		jsonw_string(&w, c.ft.by_server ? "server" : "gateway");
		jsonw_key(&w, "total");
		jsonw_uint(&w, c.nconvs);
		jsonw_key(&w, "page");
		jsonw_uint(&w, c.page);
		jsonw_key(&w, "per_page");
		jsonw_uint(&w, c.per_page);
		jsonw_key(&w, "pages");
		jsonw_uint(&w, (c.nconvs + c.per_page - 1) / c.per_page);
		jsonw_key(&w, "threads");
		jsonw_array(&w);
		for (size_t i = c.first; i < end; i++)
			render_conv(&w, &c, &c.convs[i]);
		jsonw_end_array(&w);
		jsonw_end_object(&w);
	}
	imap_folder_threads_free(&c.ft);
	imap_page_free(&c.summaries);
	free(c.convs);
}

/* ---- GET /threads/{id} ---- */

struct get_call {
	const char *id;            /* as the client sent it */
	struct imap_buf raw;       /* decoded: "m<id>" or "u<uid>" */
	struct api_folders named;  /* ?folders= */
	const char *folder;        /* ?folder= (default INBOX), when folders= is absent */
	int64_t deadline;
	char *folders[API_QUERY_MAX + 1];
	size_t nfolders;
	struct imap_page pages[API_QUERY_MAX + 1];
};

static void get_reset(struct get_call *c)
{
	for (size_t i = 0; i < c->nfolders; i++) {
		free(c->folders[i]);
		imap_page_free(&c->pages[i]);
	}
	c->nfolders = 0;
}

static int add(struct get_call *c, const char *path)
{
	for (size_t i = 0; i < c->nfolders; i++)
		if (strcmp(c->folders[i], path) == 0)
			return 0;
	if (c->nfolders == sizeof c->folders / sizeof c->folders[0])
		return 0;
	if (!(c->folders[c->nfolders] = strdup(path)))
		return IMAP_ERR_NOMEM;
	c->nfolders++;
	return 0;
}

static int get_thread(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct get_call *c = ctx;
	get_reset(c);
	int rc = 0;
	bool by_uid = c->raw.data[0] == 'u';
	if (c->named.n) {
		for (size_t i = 0; i < c->named.n && !rc; i++)
			rc = add(c, c->named.v[i]);
	} else {
		/* the folder, and the Sent folder beside it */
		struct imap_folder_list l = {0};
		rc = add(c, c->folder);
		if (!rc && !by_uid)
			rc = imap_folders_list(s, NULL, false, c->deadline, &l, err);
		for (size_t i = 0; !rc && i < l.n; i++)
			if (l.v[i].special_use && strcmp(l.v[i].special_use, "\\Sent") == 0 &&
			    l.v[i].selectable)
				rc = add(c, l.v[i].path);
		imap_folder_list_free(&l);
	}
	if (rc)
		return rc == IMAP_ERR_NOMEM ? imap_error_set(err, rc, "out of memory") : rc;
	size_t total = 0;
	for (size_t i = 0; i < c->nfolders && !rc; i++) {
		uint32_t uid = 0;
		struct imap_matches mm = {0};
		if (by_uid) {
			if (i > 0)
				break;  /* a message without ids is its own conversation */
			uid = (uint32_t)strtoul(c->raw.data + 1, NULL, 10);
			rc = imap_messages_fetch(s, c->folders[i], &uid, 1, c->deadline, &c->pages[i], err);
			continue;
		}
		struct imap_filter f = {.thread_of = c->raw.data + 1};
		rc = imap_messages_matches(s, c->folders[i], &f, c->deadline, &mm, err);
		if (rc == IMAP_ERR_NOT_FOUND && !c->named.n && i > 0) {
			rc = 0;  /* the Sent folder went since the LIST */
			continue;
		}
		if (rc)
			break;
		size_t n = mm.n;
		if (total + n > thread_max())
			n = total < thread_max() ? thread_max() - total : 0;
		uint32_t *uids = malloc((n ? n : 1) * sizeof *uids);
		if (!uids) {
			free(mm.v);
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		}
		for (size_t k = 0; k < n; k++)
			uids[k] = mm.v[mm.n - n + k].uid;  /* the newest, when there are too many */
		total += n;
		rc = imap_messages_fetch(s, c->folders[i], uids, n, c->deadline, &c->pages[i], err);
		free(uids);
		free(mm.v);
	}
	return rc;
}

/* The id decoded: "m<...>" with one message id, or "u<uid>". */
static bool decode_id(struct get_call *c, struct api_response *resp)
{
	imap_buf_init(&c->raw, 0);
	bool ok = api_base64url_decode(c->id, THREAD_ID_MAX, &c->raw) && c->raw.len >= 2;
	if (ok && c->raw.data[0] == 'm') {
		size_t pos = 0, len = 0;
		ok = imap_msgid_next(c->raw.data + 1, c->raw.len - 1, &pos, &len) == c->raw.data + 1 &&
		     len == c->raw.len - 1 && imap_utf8_validate(c->raw.data, c->raw.len) == 0;
	} else if (ok && c->raw.data[0] == 'u') {
		uint32_t uid;
		ok = api_parse_uid(c->raw.data + 1, c->raw.len - 1, &uid);
	} else {
		ok = false;
	}
	return ok ? true : api_bad(resp, "not a thread_id this service issued");
}

void api_thread_get(const struct api_request *req, struct api_response *resp,
                    const struct api_match *m)
{
	static const char *const known[] = {"folder", "folders", NULL};
	struct get_call c;
	memset(&c, 0, sizeof c);
	c.id = m->id;
	if (!api_known_params(req, known, resp) || !api_folder_param(req, &c.folder, resp) ||
	    !api_folders_param(req, API_QUERY_MAX, &c.named, resp))
		return;
	if (!decode_id(&c, resp)) {
		imap_buf_free(&c.raw);
		api_folders_free(&c.named);
		return;
	}
	c.deadline = req->deadline;
	if (!api_run(req, m, get_thread, &c, resp))
		goto done;
	size_t n = 0;
	for (size_t i = 0; i < c.nfolders; i++)
		n += c.pages[i].n;
	if (n == 0) {
		api_fail(resp, API_ERR_NOT_FOUND, "no message of this conversation in the folders searched");
		goto done;
	}
	struct conv_msg *msgs = calloc(n, sizeof *msgs);
	if (!msgs) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto done;
	}
	n = 0;
	for (size_t i = 0; i < c.nfolders; i++)
		for (size_t k = 0; k < c.pages[i].n; k++)
			msgs[n++] = (struct conv_msg){&c.pages[i].msgs[k], c.folders[i],
			                              c.pages[i].uidvalidity};
	qsort(msgs, n, sizeof *msgs, by_date);
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "thread_id");
	jsonw_string(&w, c.id);
	render_facts(&w, msgs[0].m, msgs, n);
	jsonw_key(&w, "folders");
	jsonw_array(&w);
	for (size_t i = 0; i < c.nfolders; i++)
		jsonw_string(&w, c.folders[i]);
	jsonw_end_array(&w);
	jsonw_key(&w, "messages");
	jsonw_array(&w);
	for (size_t i = 0; i < n; i++) {
		jsonw_object(&w);
		jsonw_key(&w, "folder");
		jsonw_string(&w, msgs[i].folder);
		jsonw_key(&w, "uidvalidity");
		jsonw_uint(&w, msgs[i].uidvalidity);
		api_render_summary_fields(&w, msgs[i].m);
		jsonw_end_object(&w);
	}
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	free(msgs);
done:
	get_reset(&c);
	imap_buf_free(&c.raw);
	api_folders_free(&c.named);
}
