/*
 * api/flags.c — a message's flags: read, replace, add and remove, for one
 * message or many. The answer is what the server reports after the change
 * (so concurrent changes by others show), never what was asked for.
 *
 *   GET   /messages/{uid}/flags?folder=   -> {"folder","uidvalidity","uid","flags"}
 *   PUT   /messages/{uid}/flags  {"flags":[...]}
 *   PATCH /messages/{uid}/flags  {"add":[...], "remove":[...]}
 *   PATCH /messages/flags        {"uids":[...], "add":[...], "remove":[...]}
 *                                -> {"folder","uidvalidity","messages":[{"uid","flags"}],
 *                                    "not_found":[uid...]}
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/body.h"
#include "api/handlers.h"
#include "api/render.h"
#include "imap/write.h"

struct flags_call {
	struct imap_ref ref;
	const uint32_t *uids;
	size_t n;
	bool write;
	struct imap_store st;
	int64_t deadline;
	struct imap_flags_result res;
};

static int run_flags(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct flags_call *c = ctx;
	imap_flags_result_free(&c->res);
	if (c->write)
		return imap_flags_store(s, &c->ref, c->uids, c->n, &c->st, c->deadline, &c->res, err);
	return imap_flags_get(s, &c->ref, c->uids, c->n, c->deadline, &c->res, err);
}

static void flags_json(struct jsonw *w, const struct imap_msg_flags *m)
{
	jsonw_key(w, "flags");
	jsonw_array(w);
	for (size_t i = 0; i < m->nflags; i++)
		jsonw_string(w, m->flags[i]);
	jsonw_end_array(w);
}

static struct api_bulk_item bulk_at(const void *items, size_t i)
{
	const struct imap_msg_flags *m = (const struct imap_msg_flags *)items + i;
	return (struct api_bulk_item){m->uid, m->found};
}

static void bulk_fields(struct jsonw *w, const void *items, size_t i)
{
	flags_json(w, (const struct imap_msg_flags *)items + i);
}

/* "folder" and "uidvalidity" of every answer. */
static void folder_json(struct jsonw *w, const struct flags_call *c)
{
	jsonw_key(w, "folder");
	jsonw_string(w, c->ref.folder);
	jsonw_key(w, "uidvalidity");
	jsonw_uint(w, c->res.uidvalidity);
}

static bool common_params(const struct api_request *req, struct flags_call *c,
                          struct api_response *resp)
{
	static const char *const params[] = {"folder", "uidvalidity", NULL};
	c->deadline = req->deadline;
	return api_known_params(req, params, resp) && api_folder_param(req, &c->ref.folder, resp) &&
	       api_uidvalidity_param(req, &c->ref.uidvalidity, resp);
}

/* add / remove of a PATCH body: at least one of them. */
static bool change_lists(json_t *body, struct flags_call *c, const char ***add,
                         const char ***remove, struct api_response *resp)
{
	bool has_add, has_remove;
	if (!api_flag_list(body, "add", add, &c->st.nadd, &has_add, resp) ||
	    !api_flag_list(body, "remove", remove, &c->st.nremove, &has_remove, resp))
		return false;
	if (!has_add && !has_remove)
		return api_bad(resp, "give add, remove, or both");
	for (size_t i = 0; i < c->st.nadd; i++)
		for (size_t k = 0; k < c->st.nremove; k++)
			if (strcasecmp((*add)[i], (*remove)[k]) == 0)
				return api_bad(resp, "a flag cannot be both added and removed");
	c->st.add = *add;
	c->st.remove = *remove;
	return true;
}

static void one_reply(struct flags_call *c, struct api_response *resp)
{
	if (c->res.n != 1 || !c->res.v[0].found) {
		api_fail(resp, API_ERR_NOT_FOUND, "no message with this UID in the folder");
		return;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	folder_json(&w, c);
	jsonw_key(&w, "uid");
	jsonw_uint(&w, c->res.v[0].uid);
	flags_json(&w, &c->res.v[0]);
	jsonw_end_object(&w);
}

void api_flags_get(const struct api_request *req, struct api_response *resp,
                   const struct api_match *m)
{
	struct flags_call c = {.uids = &m->uid, .n = 1};
	if (common_params(req, &c, resp) && api_run(req, m, run_flags, &c, resp))
		one_reply(&c, resp);
	imap_flags_result_free(&c.res);
}

/* PUT (replace) or PATCH (add / remove) of one message's flags. */
static void flags_write(const struct api_request *req, struct api_response *resp,
                        const struct api_match *m, bool replace)
{
	static const char *const put_keys[] = {"flags", NULL};
	static const char *const patch_keys[] = {"add", "remove", NULL};
	struct flags_call c = {.uids = &m->uid, .n = 1, .write = true};
	const char **set = NULL, **add = NULL, **remove = NULL;
	bool present = false;
	json_t *body = NULL;
	if (!common_params(req, &c, resp) ||
	    !(body = api_body_object(req, replace ? put_keys : patch_keys, resp)))
		goto done;
	if (replace) {
		if (!api_flag_list(body, "flags", &set, &c.st.nset, &present, resp))
			goto done;
		if (!present) {
			api_bad(resp, "give flags: the complete new list");
			goto done;
		}
		c.st.replace = true;
		c.st.set = set;
	} else if (!change_lists(body, &c, &add, &remove, resp)) {
		goto done;
	}
	if (api_run(req, m, run_flags, &c, resp))
		one_reply(&c, resp);
done:
	imap_flags_result_free(&c.res);
	json_decref(body);
	free(set);
	free(add);
	free(remove);
}

void api_flags_put(const struct api_request *req, struct api_response *resp,
                   const struct api_match *m)
{
	flags_write(req, resp, m, true);
}

void api_flags_patch(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m)
{
	flags_write(req, resp, m, false);
}

void api_flags_bulk(const struct api_request *req, struct api_response *resp,
                    const struct api_match *m)
{
	static const char *const keys[] = {"uids", "add", "remove", NULL};
	struct flags_call c = {.write = true};
	const char **add = NULL, **remove = NULL;
	uint32_t *uids = NULL;
	json_t *body = NULL;
	if (!common_params(req, &c, resp) || !(body = api_body_object(req, keys, resp)) ||
	    !api_uid_list(body, &uids, &c.n, resp) || !change_lists(body, &c, &add, &remove, resp))
		goto done;
	c.uids = uids;
	if (!api_run(req, m, run_flags, &c, resp))
		goto done;
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	folder_json(&w, &c);
	api_render_bulk(&w, c.res.v, c.res.n, bulk_at, bulk_fields);
	jsonw_end_object(&w);
done:
	imap_flags_result_free(&c.res);
	json_decref(body);
	free(uids);
	free(add);
	free(remove);
}
