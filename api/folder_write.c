/*
 * api/folder_write.c — creating, renaming, subscribing and deleting
 * folders (imap/folder_ops.h does the IMAP side).
 *
 *   POST   /folders          {"path": "Projects/Alpha", "subscribed": true}  -> 201 folder
 *   PATCH  /folders/{path}   {"path": "new/name"} and/or {"subscribed": bool} -> 200 folder
 *   DELETE /folders/{path}?force=true                     -> 200 {"deleted": [paths]}
 *
 * Create and rename answer with the folder as GET /folders/{path} shows it
 * afterwards (listed again on the same session, with its counts).
 */
#include <stdlib.h>
#include <string.h>

#include "api/body.h"
#include "api/handlers.h"
#include "api/render.h"
#include "imap/folder_ops.h"
#include "imap/folders.h"

enum folder_op { OP_CREATE, OP_PATCH, OP_DELETE };

struct folder_call {
	enum folder_op op;
	const char *path;       /* the folder acted on */
	const char *new_path;   /* PATCH: rename to (NULL: keep) */
	bool set_subscribed;    /* PATCH: change the subscription */
	bool subscribed;        /* CREATE, PATCH: subscribe or not */
	bool force;             /* DELETE */
	uint32_t uidvalidity;   /* PATCH, DELETE: 0 not checked */
	int64_t deadline;
	struct imap_folder_list after;     /* CREATE, PATCH: the folder now */
	struct imap_folder_deleted deleted;/* DELETE */
};

static int run_folder(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct folder_call *c = ctx;
	int rc = 0;
	imap_folder_list_free(&c->after);
	imap_folder_deleted_free(&c->deleted);
	switch (c->op) {
	case OP_CREATE:
		rc = imap_folder_create(s, c->path, c->subscribed, c->deadline, err);
		break;
	case OP_PATCH:
		if (c->new_path)
			rc = imap_folder_rename(s, c->path, c->new_path, c->uidvalidity, c->deadline, err);
		if (!rc && c->set_subscribed)
			rc = imap_folder_subscribe(s, c->new_path ? c->new_path : c->path, c->subscribed,
			                           c->deadline, err);
		break;
	case OP_DELETE:
		return imap_folder_delete(s, c->path, c->force, c->uidvalidity, c->deadline,
		                          &c->deleted, err);
	}
	if (rc)
		return rc;
	const char *now = c->new_path ? c->new_path : c->path;
	rc = imap_folders_list(s, now, true, c->deadline, &c->after, err);
	if (!rc && c->after.n == 0)
		rc = imap_error_set(err, IMAP_ERR_PROTOCOL,
		                    "the server does not list the folder %.200s afterwards", now);
	return rc;
}

static void finish(struct folder_call *c)
{
	imap_folder_list_free(&c->after);
	imap_folder_deleted_free(&c->deleted);
}

/* The folder as it is now: 200 or 201 with schema Folder. */
static void folder_reply(struct folder_call *c, int status, struct api_response *resp)
{
	struct jsonw w;
	api_reply_json(resp, status, &w);
	api_render_folder(&w, &c->after.v[0], true);
}

void api_folder_create(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	static const char *const params[] = {NULL};
	static const char *const keys[] = {"path", "subscribed", NULL};
	struct folder_call c = {.op = OP_CREATE, .subscribed = true, .deadline = req->deadline};
	bool present;
	json_t *body = NULL;
	if (api_known_params(req, params, resp) && (body = api_body_object(req, keys, resp)) &&
	    api_path_member(body, "path", true, &c.path, resp) &&
	    api_bool_member(body, "subscribed", &present, &c.subscribed, resp) &&
	    api_run(req, m, run_folder, &c, resp))
		folder_reply(&c, 201, resp);
	finish(&c);
	json_decref(body);
}

void api_folder_patch(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	const char *path = m->path;
	static const char *const params[] = {"uidvalidity", NULL};
	static const char *const keys[] = {"path", "subscribed", NULL};
	struct folder_call c = {.op = OP_PATCH, .path = path, .deadline = req->deadline};
	json_t *body = NULL;
	if (!api_check_path(path, "the folder path", resp) ||
	    !api_known_params(req, params, resp) ||
	    !api_uidvalidity_param(req, &c.uidvalidity, resp) ||
	    !(body = api_body_object(req, keys, resp)) ||
	    !api_path_member(body, "path", false, &c.new_path, resp) ||
	    !api_bool_member(body, "subscribed", &c.set_subscribed, &c.subscribed, resp))
		goto done;
	if (!c.new_path && !c.set_subscribed) {
		api_bad(resp, "give path (to rename), subscribed, or both");
		goto done;
	}
	if (c.new_path && strcmp(c.new_path, path) == 0)
		c.new_path = NULL;  /* the same name: nothing to rename */
	if (api_run(req, m, run_folder, &c, resp))
		folder_reply(&c, 200, resp);
done:
	finish(&c);
	json_decref(body);
}

void api_folder_delete(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	const char *path = m->path;
	static const char *const params[] = {"force", "uidvalidity", NULL};
	struct folder_call c = {.op = OP_DELETE, .path = path, .deadline = req->deadline};
	if (api_check_path(path, "the folder path", resp) && api_known_params(req, params, resp) &&
	    api_bool_param(req, "force", &c.force, resp) &&
	    api_uidvalidity_param(req, &c.uidvalidity, resp) &&
	    api_run(req, m, run_folder, &c, resp)) {
		struct jsonw w;
		api_reply_json(resp, 200, &w);
		jsonw_object(&w);
		jsonw_key(&w, "deleted");
		jsonw_array(&w);
		for (size_t i = 0; i < c.deleted.n; i++)
			jsonw_string(&w, c.deleted.paths[i]);
		jsonw_end_array(&w);
		jsonw_end_object(&w);
	}
	finish(&c);
}

/* The top-level folder named "changes" (see api/folders.c). */
void api_folder_named_changes_patch(const struct api_request *req, struct api_response *resp,
                                    const struct api_match *m)
{
	struct api_match named = *m;
	named.path = API_FOLDER_NAMED_CHANGES;
	api_folder_patch(req, resp, &named);
}

void api_folder_named_changes_delete(const struct api_request *req,
                                     struct api_response *resp, const struct api_match *m)
{
	struct api_match named = *m;
	named.path = API_FOLDER_NAMED_CHANGES;
	api_folder_delete(req, resp, &named);
}
