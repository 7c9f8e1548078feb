/*
 * api/folders.c — GET /folders and GET /folders/{path}.
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
