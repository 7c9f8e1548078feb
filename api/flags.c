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

#include "api/json.h"
#include "api/write.h"
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

static json_t *flags_json(const struct imap_msg_flags *m)
{
	json_t *a = json_array();
	for (size_t i = 0; i < m->nflags; i++)
		json_array_append_new(a, api_json_str(m->flags[i]));
	return a;
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
	if (!has_add && !has_remove) {
		api_problem(resp, 400, "Bad Request", "give add, remove, or both", NULL);
		return false;
	}
	for (size_t i = 0; i < c->st.nadd; i++)
		for (size_t k = 0; k < c->st.nremove; k++)
			if (strcasecmp((*add)[i], (*remove)[k]) == 0) {
				api_problem(resp, 400, "Bad Request", "a flag cannot be both added and removed",
				            NULL);
				return false;
			}
	c->st.add = *add;
	c->st.remove = *remove;
	return true;
}

static void one_reply(struct flags_call *c, struct api_response *resp)
{
	if (c->res.n != 1 || !c->res.v[0].found) {
		api_problem(resp, 404, "Not Found", "no message with this UID in the folder", NULL);
		return;
	}
	api_json_reply(resp, 200,
	               json_pack("{s:s, s:I, s:I, s:o}", "folder", c->ref.folder, "uidvalidity",
	                         (json_int_t)c->res.uidvalidity, "uid",
	                         (json_int_t)c->res.v[0].uid, "flags", flags_json(&c->res.v[0])));
}

void api_flags_get(const struct api_request *req, struct api_response *resp, uint32_t uid)
{
	struct flags_call c = {.uids = &uid, .n = 1};
	if (common_params(req, &c, resp) && api_write_run(req, true, run_flags, &c, resp))
		one_reply(&c, resp);
	imap_flags_result_free(&c.res);
}

void api_flags_put(const struct api_request *req, struct api_response *resp, uint32_t uid,
                   bool replace)
{
	static const char *const put_keys[] = {"flags", NULL};
	static const char *const patch_keys[] = {"add", "remove", NULL};
	struct flags_call c = {.uids = &uid, .n = 1, .write = true};
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
			api_problem(resp, 400, "Bad Request", "give flags: the complete new list", NULL);
			goto done;
		}
		c.st.replace = true;
		c.st.set = set;
	} else if (!change_lists(body, &c, &add, &remove, resp)) {
		goto done;
	}
	if (api_write_run(req, false, run_flags, &c, resp))
		one_reply(&c, resp);
done:
	imap_flags_result_free(&c.res);
	json_decref(body);
	free(set);
	free(add);
	free(remove);
}

void api_flags_bulk(const struct api_request *req, struct api_response *resp)
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
	if (!api_write_run(req, false, run_flags, &c, resp))
		goto done;
	json_t *msgs = json_array(), *missing = json_array();
	for (size_t i = 0; i < c.res.n; i++) {
		const struct imap_msg_flags *m = &c.res.v[i];
		if (m->found)
			json_array_append_new(msgs, json_pack("{s:I, s:o}", "uid", (json_int_t)m->uid,
			                                      "flags", flags_json(m)));
		else
			json_array_append_new(missing, json_integer(m->uid));
	}
	api_json_reply(resp, 200,
	               json_pack("{s:s, s:I, s:o, s:o}", "folder", c.ref.folder, "uidvalidity",
	                         (json_int_t)c.res.uidvalidity, "messages", msgs, "not_found",
	                         missing));
done:
	imap_flags_result_free(&c.res);
	json_decref(body);
	free(uids);
	free(add);
	free(remove);
}
