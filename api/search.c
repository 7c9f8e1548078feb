/*
 * api/search.c — GET /search: the /messages filters across folders.
 *
 * Folder by folder on one of the user's pooled sessions: SEARCH (ESEARCH
 * RETURN (ALL) where offered) and one UID FETCH of the matches'
 * INTERNALDATE. Where the server offers MULTISEARCH (RFC 7377) and there
 * are two folders or more, one ESEARCH IN (mailboxes ...) asks them all;
 * then only the folders with matches are visited, for the INTERNALDATEs
 * (their UIDs are trusted while the folder keeps the UIDVALIDITY of the
 * answer, else it is searched again). An answer the gateway cannot use
 * (refused, malformed, too large) falls back to folder by folder. The
 * matches of all folders are then ordered newest first
 * (INTERNALDATE descending, then folder, then UID descending) and the page
 * is fetched folder by folder. No folder is started once
 * --search-deadline-ms has passed since the request began, and no more
 * than --search-max-hits matches are ordered: the answer then says
 * "partial": true and names the folders it searched, rather than a 504.
 *
 * The cursor is opaque: base64url of
 * "s1.<received>.<fnv64 of the folder path, hex>.<uid>", the last match
 * shown; the next page starts after it in the order above, so it does not
 * shift when mail arrives.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/folders.h"
#include "imap/messages.h"
#include "imap/multisearch.h"

#define SEARCH_FOLDERS_MAX 1000  /* folders one search visits (a hostile LIST is bounded) */
#define SEARCH_MULTI_UIDS (16u << 20) /* UIDs one MULTISEARCH answer may carry in all */

struct hit {
	uint32_t folder;      /* index in the call's folders */
	uint32_t uid;
	int64_t received;
};

struct search_call {
	/* request */
	struct imap_filter filter;
	char days[2][16];
	struct api_folders named;          /* folders= */
	uint32_t per_page;
	bool has_cursor;
	int64_t after_received;
	uint64_t after_folder;
	uint32_t after_uid;
	int64_t deadline, search_deadline;
	size_t max_hits;
	/* answer */
	char **folders;        /* searched or to be searched, UTF-8 paths */
	uint64_t *hash;        /* fnv64 of each path */
	size_t nfolders;
	bool *done;            /* searched (and there) */
	uint32_t *uidvalidity;
	struct hit *hits;
	size_t nhits, cap;
	bool partial;
	size_t first;          /* where the page starts in hits */
	struct imap_page *pages; /* per folder, the summaries of the page's hits there */
};

static uint64_t fnv64(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void call_reset(struct search_call *c)
{
	for (size_t i = 0; i < c->nfolders; i++) {
		free(c->folders[i]);
		if (c->pages)
			imap_page_free(&c->pages[i]);
	}
	free(c->folders);
	free(c->hash);
	free(c->uidvalidity);
	free(c->done);
	free(c->hits);
	free(c->pages);
	c->folders = NULL;
	c->hash = NULL;
	c->uidvalidity = NULL;
	c->done = NULL;
	c->hits = NULL;
	c->pages = NULL;
	c->nfolders = c->nhits = c->cap = c->first = 0;
	c->partial = false;
}

static int add_folder(struct search_call *c, const char *path)
{
	size_t n = c->nfolders;
	char **f = realloc(c->folders, (n + 1) * sizeof *f);
	if (f)
		c->folders = f;
	uint64_t *h = realloc(c->hash, (n + 1) * sizeof *h);
	if (h)
		c->hash = h;
	uint32_t *uv = realloc(c->uidvalidity, (n + 1) * sizeof *uv);
	if (uv)
		c->uidvalidity = uv;
	bool *d = realloc(c->done, (n + 1) * sizeof *d);
	if (d)
		c->done = d;
	if (!f || !h || !uv || !d || !(c->folders[n] = strdup(path)))
		return IMAP_ERR_NOMEM;
	c->hash[n] = fnv64(path);
	c->uidvalidity[n] = 0;
	c->done[n] = false;
	c->nfolders++;
	return 0;
}

/* Which folders: those named, else every selectable one but Trash and Junk. */
static int choose_folders(struct imap_session *s, struct search_call *c, struct imap_error *err)
{
	int rc = 0;
	if (c->named.n) {
		for (size_t i = 0; i < c->named.n && !rc; i++)
			rc = add_folder(c, c->named.v[i]);
		return rc ? imap_error_set(err, rc, "out of memory") : 0;
	}
	struct imap_folder_list l = {0};
	rc = imap_folders_list(s, NULL, false, c->deadline, &l, err);
	for (size_t i = 0; !rc && i < l.n && c->nfolders < SEARCH_FOLDERS_MAX; i++) {
		const struct imap_folder *f = &l.v[i];
		if (!f->selectable || (f->special_use && (strcmp(f->special_use, "\\Trash") == 0 ||
		                                          strcmp(f->special_use, "\\Junk") == 0)))
			continue;
		if (add_folder(c, f->path))
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	imap_folder_list_free(&l);
	return rc;
}

/* Newest first; then by folder, then by UID descending: a total order. */
static int hit_cmp(int64_t ra, uint64_t fa, uint32_t ua, int64_t rb, uint64_t fb, uint32_t ub)
{
	if (ra != rb)
		return ra > rb ? -1 : 1;
	if (fa != fb)
		return fa < fb ? -1 : 1;
	return ua > ub ? -1 : ua < ub;
}

static int by_order(const void *a, const void *b, void *ctx)
{
	const struct hit *x = a, *y = b;
	const uint64_t *hash = ctx;
	return hit_cmp(x->received, hash[x->folder], x->uid, y->received, hash[y->folder], y->uid);
}

static int collect(struct search_call *c, size_t folder, const struct imap_matches *m)
{
	for (size_t i = 0; i < m->n; i++) {
		if (c->nhits == c->max_hits) {
			c->partial = true;
			return 0;
		}
		if (c->nhits == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 256;
			struct hit *v = realloc(c->hits, cap * sizeof *v);
			if (!v)
				return IMAP_ERR_NOMEM;
			c->hits = v;
			c->cap = cap;
		}
		c->hits[c->nhits++] = (struct hit){(uint32_t)folder, m->v[i].uid, m->v[i].received};
	}
	return 0;
}

/* Folder i's matches into the call (found: what MULTISEARCH answered for
 * it, NULL to search it here). */
static int search_folder(struct imap_session *s, struct search_call *c, size_t i,
                         const struct imap_multi_folder *found, struct imap_error *err)
{
	struct imap_matches m;
	int rc = found ? imap_messages_matches_found(s, c->folders[i], &c->filter, found->uids,
	                                             found->n, found->uidvalidity, c->deadline, &m,
	                                             err)
	               : imap_messages_matches(s, c->folders[i], &c->filter, c->deadline, &m, err);
	if (rc == IMAP_ERR_NOT_FOUND && !c->named.n)
		return 0;  /* gone since the LIST: nothing to find there */
	if (rc)
		return rc;
	c->uidvalidity[i] = m.uidvalidity;
	c->done[i] = true;
	if (collect(c, i, &m))
		rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	free(m.v);
	return rc;
}

/* All folders by one MULTISEARCH, then the INTERNALDATEs of the folders
 * with matches. Returns 1 when the answer cannot be used (search folder by
 * folder instead), else 0 or an error. */
static int search_at_once(struct imap_session *s, struct search_call *c, struct imap_error *err)
{
	struct imap_multi m;
	int rc = imap_multisearch(s, (const char *const *)c->folders, c->nfolders, &c->filter,
	                          SEARCH_MULTI_UIDS, c->deadline, &m, err);
	if (rc == IMAP_ERR_NO || rc == IMAP_ERR_BAD || rc == IMAP_ERR_NOT_FOUND ||
	    rc == IMAP_ERR_PROTOCOL || rc == IMAP_ERR_LIMIT) {
		*err = (struct imap_error){0};
		return 1;
	}
	/* A folder without an answer, or with an empty one, has been searched:
	 * nothing there. One with matches is visited while the deadline and
	 * --search-max-hits allow; the rest are left out, and the answer is
	 * partial. */
	for (size_t i = 0; !rc && i < c->nfolders; i++) {
		if (!m.v[i].answered || m.v[i].n == 0)
			c->done[i] = true;
		else if (c->partial || imap_now_ms() >= c->search_deadline)
			c->partial = true;
		else
			rc = search_folder(s, c, i, &m.v[i], err);
	}
	imap_multi_free(&m);
	return rc;
}

static int run_search(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct search_call *c = ctx;
	call_reset(c);
	int rc = choose_folders(s, c, err);
	uint32_t caps = 0;
	if (!rc && c->nfolders > 1 && imap_now_ms() < c->search_deadline &&
	    imap_session_caps(s, &caps, c->deadline, err) == 0 && (caps & IMAP_CAP_MULTISEARCH)) {
		rc = search_at_once(s, c, err);
		if (rc == 1) {  /* folder by folder after all */
			rc = 0;
			c->partial = false;
			c->nhits = 0;
			memset(c->done, 0, c->nfolders * sizeof *c->done);
			memset(c->uidvalidity, 0, c->nfolders * sizeof *c->uidvalidity);
		} else if (!rc)
			goto order;
		else
			return rc;
	}
	for (size_t i = 0; !rc && i < c->nfolders && !c->partial; i++) {
		if (imap_now_ms() >= c->search_deadline) {
			c->partial = true;
			break;
		}
		rc = search_folder(s, c, i, NULL, err);
	}
	if (rc)
		return rc;
order:
	if (c->nhits > 1)  /* hits is NULL without any */
		qsort_r(c->hits, c->nhits, sizeof *c->hits, by_order, c->hash);
	c->first = 0;
	if (c->has_cursor)
		while (c->first < c->nhits &&
		       hit_cmp(c->hits[c->first].received, c->hash[c->hits[c->first].folder],
		               c->hits[c->first].uid, c->after_received, c->after_folder,
		               c->after_uid) <= 0)
			c->first++;
	size_t end = c->first + c->per_page < c->nhits ? c->first + c->per_page : c->nhits;
	if (!(c->pages = calloc(c->nfolders ? c->nfolders : 1, sizeof *c->pages)))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	uint32_t *uids = malloc((c->per_page ? c->per_page : 1) * sizeof *uids);
	if (!uids)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	for (size_t f = 0; !rc && f < c->nfolders; f++) {
		size_t n = 0;
		for (size_t i = c->first; i < end; i++)
			if (c->hits[i].folder == f)
				uids[n++] = c->hits[i].uid;
		if (n)
			rc = imap_messages_fetch(s, c->folders[f], uids, n, c->deadline, &c->pages[f], err);
	}
	free(uids);
	return rc;
}

static bool parse_cursor(const char *v, struct search_call *c, struct api_response *resp)
{
	char raw[128], hex[17];
	long long received;
	unsigned uid;
	int used = 0;
	if (!api_cursor_decode(v, raw, sizeof raw) ||
	    sscanf(raw, "s1.%lld.%16[0-9a-f].%u%n", &received, hex, &uid, &used) != 3 ||
	    (size_t)used != strlen(raw) || strlen(hex) != 16 || uid == 0)
		return api_bad(resp, "cursor is not one this service issued");
	c->has_cursor = true;
	c->after_received = received;
	c->after_folder = strtoull(hex, NULL, 16);
	c->after_uid = uid;
	return true;
}

static bool parse_params(const struct api_request *req, struct search_call *c,
                         struct api_response *resp)
{
	const struct api_config *cfg = api_config();
	static const char *const known[] = {"q", "folders", "per_page", "cursor", API_FILTER_KEYS,
	                                    NULL};
	if (!api_known_params(req, known, resp) ||
	    !api_filter_params(req, &c->filter, c->days, resp))
		return false;
	const char *q = api_query(req, "q");
	if (q && *q) {
		if (c->filter.text)
			return api_bad(resp, "q and text are the same filter: send one of them");
		if (!api_text_param(req, "q", &c->filter.text, resp))
			return false;
	}
	if (!api_folders_param(req, SEARCH_FOLDERS_MAX, &c->named, resp))
		return false;
	c->per_page = cfg->per_page_default;
	const char *v;
	uint64_t n;
	if ((v = api_query(req, "per_page"))) {
		if (!api_parse_u64(v, 1, cfg->per_page_max, &n))
			return api_bad(resp, "per_page must be from 1 to %u", cfg->per_page_max);
		c->per_page = (uint32_t)n;
	}
	if ((v = api_query(req, "cursor")) && !parse_cursor(v, c, resp))
		return false;
	return true;
}

void api_search(const struct api_request *req, struct api_response *resp,
                const struct api_match *m)
{
	const struct api_config *cfg = api_config();
	struct search_call c;
	memset(&c, 0, sizeof c);
	if (!parse_params(req, &c, resp)) {
		api_folders_free(&c.named);
		return;
	}
	c.deadline = req->deadline;
	c.search_deadline = imap_now_ms() + (cfg->search_deadline_ms ? cfg->search_deadline_ms : 10000);
	if (c.search_deadline > req->deadline)
		c.search_deadline = req->deadline;
	c.max_hits = cfg->search_max_hits ? cfg->search_max_hits : 100000;
	if (!api_run(req, m, run_search, &c, resp)) {
		call_reset(&c);
		api_folders_free(&c.named);
		return;
	}
	size_t end = c.first + c.per_page < c.nhits ? c.first + c.per_page : c.nhits;
	char next[API_CURSOR_MAX + 1] = "";
	if (end < c.nhits && end > c.first) {
		const struct hit *h = &c.hits[end - 1];
		char raw[96];
		snprintf(raw, sizeof raw, "s1.%lld.%016" PRIx64 ".%u", (long long)h->received,
		         c.hash[h->folder], h->uid);
		api_cursor_encode(raw, next, sizeof next);
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	imap_buf_reserve(&resp->body, 1024 + (end - c.first) * 1024);
	jsonw_object(&w);
	jsonw_key(&w, "partial");
	jsonw_bool(&w, c.partial);
	jsonw_key(&w, "folders");
	jsonw_array(&w);
	for (size_t i = 0; i < c.nfolders; i++)
		if (c.done[i])
			jsonw_string(&w, c.folders[i]);
	jsonw_end_array(&w);
	jsonw_key(&w, "total");
	jsonw_uint(&w, c.nhits);
	jsonw_key(&w, "per_page");
	jsonw_uint(&w, c.per_page);
	jsonw_key(&w, "next_cursor");
	jsonw_string(&w, next[0] ? next : NULL);
	jsonw_key(&w, "messages");
	jsonw_array(&w);
	for (size_t i = c.first; i < end; i++) {
		const struct hit *h = &c.hits[i];
		const struct imap_page *p = &c.pages[h->folder];
		for (size_t k = 0; k < p->n; k++) {
			if (p->msgs[k].uid != h->uid)
				continue;
			jsonw_object(&w);
			jsonw_key(&w, "folder");
			jsonw_string(&w, c.folders[h->folder]);
			jsonw_key(&w, "uidvalidity");
			jsonw_uint(&w, p->uidvalidity);
			api_render_summary_fields(&w, &p->msgs[k]);
			jsonw_end_object(&w);
			break;
		}
	}
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	call_reset(&c);
	api_folders_free(&c.named);
}
