/*
 * api/folder_changes.c — GET /folders/changes: which folders were created,
 * destroyed (a rename is both) or updated since a folder-list state
 * (api/folder_state.c says what a state holds).
 *
 * The route's literal segment would hide a top-level folder named
 * "changes" from /folders/{path}: a GET without `since` is that folder's
 * answer, and PATCH and DELETE of /folders/changes act on it.
 */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/folders.h"

#define FOLDER_NAMED "changes"

struct folder_changes_call {
	int64_t deadline;
	struct imap_folder_list list;
};

/* A NOOP first: some servers (Dovecot) answer the status of the session's
 * selected mailbox from what the session has seen. */
static int list_now(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct folder_changes_call *c = ctx;
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
		named.path = FOLDER_NAMED;
		api_folder_get(req, resp, &named);
		return;
	}
	static const char *const params[] = {"since", NULL};
	const struct api_config *cfg = api_config();
	struct folder_changes_call c = {.deadline = req->deadline};
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

void api_folder_named_changes_patch(const struct api_request *req, struct api_response *resp,
                                    const struct api_match *m)
{
	struct api_match named = *m;
	named.path = FOLDER_NAMED;
	api_folder_patch(req, resp, &named);
}

void api_folder_named_changes_delete(const struct api_request *req,
                                     struct api_response *resp, const struct api_match *m)
{
	struct api_match named = *m;
	named.path = FOLDER_NAMED;
	api_folder_delete(req, resp, &named);
}
