/*
 * api/folders.c — GET /folders and GET /folders/{path}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "imap/folders.h"
#include "imap/mail/utf7.h"

struct folders_call {
	const char *name;  /* one folder, or NULL for all */
	bool counts;
	struct imap_folder_list list;
};

struct folders_ctx {
	struct folders_call *call;
	int64_t deadline;
};

static int list_folders(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct folders_ctx *x = ctx;
	return imap_folders_list(s, x->call->name, x->call->counts, x->deadline, &x->call->list, err);
}

/* The folder's parent path, or NULL at the top. */
static json_t *parent_of(const struct imap_folder *f)
{
	if (!f->delimiter)
		return json_null();
	const char *cut = strrchr(f->path, f->delimiter);
	if (!cut || cut == f->path)
		return json_null();
	char *p = strndup(f->path, (size_t)(cut - f->path));
	json_t *j = api_json_str(p);
	free(p);
	return j;
}

json_t *api_folder_json(const struct imap_folder *f, bool counts)
{
	char delim[2] = {f->delimiter, '\0'};
	json_t *flags = json_array();
	for (size_t i = 0; i < f->nattrs; i++)
		json_array_append_new(flags, api_json_str(f->attrs[i]));
	json_t *o = json_object();
	json_object_set_new(o, "path", api_json_str(f->path));
	json_object_set_new(o, "name", api_json_str(imap_folder_name(f)));
	json_object_set_new(o, "delimiter", f->delimiter ? json_string(delim) : json_null());
	json_object_set_new(o, "parent", parent_of(f));
	json_object_set_new(o, "flags", flags);
	json_object_set_new(o, "special_use", api_json_str(f->special_use));
	json_object_set_new(o, "subscribed", json_boolean(f->subscribed));
	json_object_set_new(o, "selectable", json_boolean(f->selectable));
	if (counts) {
		bool st = f->has_status;
		json_object_set_new(o, "messages", st ? json_integer(f->messages) : json_null());
		json_object_set_new(o, "unseen", st ? json_integer(f->unseen) : json_null());
		json_object_set_new(o, "uidnext", st ? json_integer(f->uidnext) : json_null());
		json_object_set_new(o, "uidvalidity", st ? json_integer(f->uidvalidity) : json_null());
	}
	return o;
}

/* Nest folders under their parents ("children"); orphans stay at the top. */
static json_t *tree_json(const struct imap_folder_list *l, json_t **nodes)
{
	json_t *top = json_array();
	for (size_t i = 0; i < l->n; i++) {
		json_t *parent = NULL;
		const struct imap_folder *f = &l->v[i];
		const char *cut = f->delimiter ? strrchr(f->path, f->delimiter) : NULL;
		for (size_t k = 0; cut && k < l->n && !parent; k++)
			if (k != i && strlen(l->v[k].path) == (size_t)(cut - f->path) &&
			    strncmp(l->v[k].path, f->path, (size_t)(cut - f->path)) == 0)
				parent = nodes[k];
		if (parent) {
			json_t *kids = json_object_get(parent, "children");
			json_array_append(kids, nodes[i]);
		} else {
			json_array_append(top, nodes[i]);
		}
	}
	return top;
}

static bool flag_param(const struct api_request *req, const char *key, bool *out,
                       struct api_response *resp)
{
	const char *v = api_query(req, key);
	*out = false;
	if (!v)
		return true;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "") == 0)
		*out = true;
	else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
		api_problem(resp, 400, "Bad Request", "boolean parameters take true or false", NULL);
		return false;
	}
	return true;
}

void api_folders(const struct api_request *req, struct api_response *resp, const char *tail)
{
	struct folders_call c = {.name = tail && *tail ? tail : NULL};
	bool tree = false;
	for (size_t i = 0; i < req->nquery; i++) {
		const char *k = req->query[i].key;
		if (strcmp(k, "counts") && strcmp(k, "tree")) {
			char msg[160];
			snprintf(msg, sizeof msg, "unknown parameter '%.64s'", k);
			api_problem(resp, 400, "Bad Request", msg, NULL);
			return;
		}
	}
	if (tail && !*tail && req->path[strlen(req->path) - 1] == '/') {
		api_problem(resp, 404, "Not Found", "no folder named by the path", NULL);
		return;
	}
	if (!flag_param(req, "counts", &c.counts, resp) || !flag_param(req, "tree", &tree, resp))
		return;
	if (c.name && (strpbrk(c.name, "\r\n") || imap_utf8_validate(c.name, strlen(c.name)))) {
		api_problem(resp, 400, "Bad Request", "folder names are UTF-8 without CR or LF", NULL);
		return;
	}
	if (c.name)
		c.counts = true;
	struct imap_credentials cred;
	struct imap_buf store;
	if (api_credentials(req, &cred, &store, resp)) {
		imap_buf_free(&store);
		return;
	}
	struct imap_error err = {0};
	unsigned retry = 0;
	struct folders_ctx x = {&c, req->deadline};
	int rc = api_with_session(req, &cred, true, list_folders, &x, &err, &retry);
	imap_buf_free(&store);
	if (rc) {
		api_imap_problem(resp, rc, &err, retry);
		return;
	}
	if (c.name) {
		if (c.list.n == 0)
			api_problem(resp, 404, "Not Found", "no such folder", NULL);
		else
			api_json_reply(resp, 200, api_folder_json(&c.list.v[0], true));
		imap_folder_list_free(&c.list);
		return;
	}
	json_t **nodes = calloc(c.list.n ? c.list.n : 1, sizeof *nodes);
	json_t *arr;
	for (size_t i = 0; i < c.list.n; i++) {
		nodes[i] = api_folder_json(&c.list.v[i], c.counts);
		if (tree)
			json_object_set_new(nodes[i], "children", json_array());
	}
	if (tree) {
		arr = tree_json(&c.list, nodes);
		for (size_t i = 0; i < c.list.n; i++)
			json_decref(nodes[i]);
	} else {
		arr = json_array();
		for (size_t i = 0; i < c.list.n; i++)
			json_array_append_new(arr, nodes[i]);
	}
	free(nodes);
	imap_folder_list_free(&c.list);
	api_json_reply(resp, 200, json_pack("{s:o}", "folders", arr));
}
