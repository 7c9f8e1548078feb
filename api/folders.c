/*
 * api/folders.c — GET /folders, GET /folders/{path} and GET /folders/changes:
 * which folders were created, destroyed (a rename is both) or updated since
 * a folder-list state (api/folder_state.c says what a state holds).
 *
 * The literal segment of /folders/changes would hide a top-level folder
 * named "changes" from /folders/{path}: a GET without `since` is that
 * folder's answer (and PATCH and DELETE of the path act on it, in
 * api/folder_write.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/folders.h"

/* Folders nest in ?tree=true answers at most this deep; deeper ones are
 * shown at the top, as orphans are (a server may list paths of any
 * depth; an answer's nesting stays bounded). */
#define TREE_DEPTH_MAX 32

struct folders_call {
	const char *name;  /* one folder, or NULL for all */
	bool counts;
	int64_t deadline;
	struct imap_folder_list list;
};

static int list_folders(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct folders_call *c = ctx;
	imap_folder_list_free(&c->list);
	return imap_folders_list(s, c->name, c->counts, c->deadline, &c->list, err);
}

static bool run(const struct api_request *req, const struct api_match *m,
                struct folders_call *c, struct api_response *resp)
{
	c->deadline = req->deadline;
	return api_run(req, m, list_folders, c, resp);
}

/* Each folder's parent's index in l, or -1 (top level, or an orphan). */
static void parents_of(const struct imap_folder_list *l, long *parent)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct imap_folder *f = &l->v[i];
		const char *cut = f->delimiter ? strrchr(f->path, f->delimiter) : NULL;
		size_t plen = cut ? (size_t)(cut - f->path) : 0;
		parent[i] = -1;
		for (size_t k = 0; cut && k < l->n && parent[i] < 0; k++)
			if (k != i && strlen(l->v[k].path) == plen &&
			    strncmp(l->v[k].path, f->path, plen) == 0)
				parent[i] = (long)k;
	}
}

/* Folder i and, in "children", the folders whose parent it is. */
static void tree_node(struct jsonw *w, const struct imap_folder_list *l, const long *parent,
                      size_t i, bool counts, unsigned depth)
{
	jsonw_object(w);
	api_render_folder_fields(w, &l->v[i], counts);
	jsonw_key(w, "children");
	jsonw_array(w);
	for (size_t k = 0; depth < TREE_DEPTH_MAX && k < l->n; k++)
		if (parent[k] == (long)i)
			tree_node(w, l, parent, k, counts, depth + 1);
	jsonw_end_array(w);
	jsonw_end_object(w);
}

/* A folder is shown at the top when it has no parent in the list, or when
 * it is one level deeper than tree_node goes under its ancestor shown at
 * the top. */
static bool at_top(const long *parent, size_t i)
{
	unsigned depth = 0;
	for (long p = parent[i]; p >= 0; p = parent[p])
		depth++;
	return depth % (TREE_DEPTH_MAX + 1) == 0;
}

/* A weak ETag over the rendered list (FNV-1a of the body: the list, with
 * the query's options, is the whole answer); when If-None-Match names it,
 * a 304 without the body. The list was read from the server first, so the
 * answer is never older than the request. */
static void not_modified_unless_changed(const struct api_request *req, struct api_response *resp)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < resp->body.len; i++)
		h = (h ^ (unsigned char)resp->body.data[i]) * 1099511628211ull;
	char etag[32];
	snprintf(etag, sizeof etag, "W/\"f.%016" PRIx64 "\"", h);
	api_response_header(resp, "Cache-Control", "private, no-cache");
	api_response_header(resp, "ETag", "%s", etag);
	if (api_etag_matches(req->if_none_match, etag + 2)) {
		resp->status = 304;
		imap_buf_reset(&resp->body, 0);
	}
}

void api_folders_list(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	static const char *const params[] = {"counts", "tree", NULL};
	struct folders_call c = {0};
	bool tree = false;
	if (!api_known_params(req, params, resp) || !api_bool_param(req, "counts", &c.counts, resp) ||
	    !api_bool_param(req, "tree", &tree, resp) || !run(req, m, &c, resp))
		goto done;
	long *parent = NULL;
	if (tree && !(parent = calloc(c.list.n ? c.list.n : 1, sizeof *parent))) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto done;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "folders");
	jsonw_array(&w);
	if (tree) {
		parents_of(&c.list, parent);
		for (size_t i = 0; i < c.list.n; i++)
			if (at_top(parent, i))
				tree_node(&w, &c.list, parent, i, c.counts, 0);
		free(parent);
	} else {
		for (size_t i = 0; i < c.list.n; i++)
			api_render_folder(&w, &c.list.v[i], c.counts);
	}
	jsonw_end_array(&w);
	api_render_folder_list_state(&w, &c.list, c.counts);
	jsonw_end_object(&w);
	not_modified_unless_changed(req, resp);
done:
	imap_folder_list_free(&c.list);
}

void api_folder_get(const struct api_request *req, struct api_response *resp,
                    const struct api_match *m)
{
	static const char *const params[] = {"counts", "tree", NULL};
	struct folders_call c = {.name = m->path, .counts = true};
	bool ignored;
	if (!api_known_params(req, params, resp) || !api_bool_param(req, "counts", &ignored, resp) ||
	    !api_bool_param(req, "tree", &ignored, resp) ||
	    !api_check_path(m->path, "the folder path", resp) || !run(req, m, &c, resp))
		goto done;
	if (c.list.n == 0) {
		api_fail(resp, API_ERR_NOT_FOUND, "no such folder");
		goto done;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	api_render_folder(&w, &c.list.v[0], true);
done:
	imap_folder_list_free(&c.list);
}

/* A NOOP first: some servers (Dovecot) answer the status of the session's
 * selected mailbox from what the session has seen. */
static int list_now(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct folders_call *c = ctx;
	imap_folder_list_free(&c->list);
	int rc = imap_session_noop(s, c->deadline, err);
	return rc ? rc : imap_folders_list(s, NULL, true, c->deadline, &c->list, err);
}

/* The folders of entries marked in `pick` (one per entry of cur), with counts. */
static void folder_array(struct jsonw *w, const char *key, const struct imap_folder_list *l,
                         const struct api_folder_set *cur, const unsigned char *mark,
                         unsigned char want)
{
	jsonw_key(w, key);
	jsonw_array(w);
	for (size_t i = 0; i < cur->n; i++)
		if (mark[i] == want)
			api_render_folder(w, &l->v[cur->v[i].folder], true);
	jsonw_end_array(w);
}

enum { KEPT, CREATED, UPDATED };

/* Mark every entry of cur CREATED, UPDATED or KEPT against old (whole),
 * and write the ids of old that cur no longer holds into "destroyed". */
static void compare(struct jsonw *w, const struct api_folder_set *old,
                    const struct api_folder_set *cur, unsigned char *mark)
{
	jsonw_key(w, "destroyed");
	jsonw_array(w);
	size_t i = 0, k = 0;
	while (i < old->n || k < cur->n) {
		if (k == cur->n || (i < old->n && old->v[i].id < cur->v[k].id)) {
			api_render_folder_id_of(w, old->v[i++].id);
		} else if (i == old->n || cur->v[k].id < old->v[i].id) {
			mark[k++] = CREATED;
		} else {
			mark[k] = !old->counts || old->v[i].digest != cur->v[k].digest ? UPDATED : KEPT;
			i++;
			k++;
		}
	}
	jsonw_end_array(w);
}

void api_folder_changes(const struct api_request *req, struct api_response *resp,
                        const struct api_match *m)
{
	const char *since = api_query(req, "since");
	if (!since) {  /* the folder named "changes" (see above) */
		struct api_match named = *m;
		named.path = API_FOLDER_NAMED_CHANGES;
		api_folder_get(req, resp, &named);
		return;
	}
	static const char *const params[] = {"since", NULL};
	const struct api_config *cfg = api_config();
	struct folders_call c = {.deadline = req->deadline};
	struct api_folder_set old = {0}, cur = {0}, plain = {0};
	unsigned char *mark = NULL;
	char *token = NULL;
	if (!api_known_params(req, params, resp) || !api_folder_set_decode(since, &old, resp) ||
	    !api_run(req, m, list_now, &c, resp))
		goto done;
	if (api_folder_set_of(&c.list, true, &cur) ||
	    (!old.counts && api_folder_set_of(&c.list, false, &plain)) ||
	    !(mark = calloc(cur.n ? cur.n : 1, 1)) ||
	    !(token = api_folder_set_token(&cur, cfg->folder_state_max ? cfg->folder_state_max
	                                                                : 500))) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto done;
	}
	if (!old.whole) {
		/* Only the digest of it all: the same list, or no answer. */
		const struct api_folder_set *same = old.counts ? &cur : &plain;
		if (same->n != old.n || same->digest != old.digest) {
			api_fail(resp, API_ERR_CANNOT_CALCULATE,
			         "that state holds more folders than are tracked one by one "
			         "(--folder-state-max): list the folders again");
			goto done;
		}
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "old_state");
	jsonw_string(&w, since);
	jsonw_key(&w, "new_state");
	jsonw_string(&w, token);
	if (old.whole) {
		compare(&w, &old, &cur, mark);
	} else {
		jsonw_key(&w, "destroyed");
		jsonw_array(&w);
		jsonw_end_array(&w);
		memset(mark, old.counts ? KEPT : UPDATED, cur.n);
	}
	folder_array(&w, "created", &c.list, &cur, mark, CREATED);
	folder_array(&w, "updated", &c.list, &cur, mark, UPDATED);
	jsonw_end_object(&w);
	api_response_header(resp, "Cache-Control", "no-store");
done:
	free(mark);
	free(token);
	api_folder_set_free(&old);
	api_folder_set_free(&cur);
	api_folder_set_free(&plain);
	imap_folder_list_free(&c.list);
}
