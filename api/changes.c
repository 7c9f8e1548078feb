/*
 * api/changes.c — GET /changes: what changed in a folder since a state the
 * client holds (imap/changes.h says how it is asked of the server).
 */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/changes.h"

#define MAX_CHANGES_DEFAULT 500u

struct changes_call {
	const char *folder;
	const char *since_token;
	struct imap_state since;
	uint32_t max;
	bool summaries;
	int64_t deadline;
	struct imap_changes out;
	struct imap_page sums;
};

/* a[0..na) and b[0..nb), both ascending, merged into a new array. */
static uint32_t *merge(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	uint32_t *v = malloc((na + nb ? na + nb : 1) * sizeof *v);
	size_t i = 0, k = 0, n = 0;
	while (v && (i < na || k < nb))
		v[n++] = k == nb || (i < na && a[i] < b[k]) ? a[i++] : b[k++];
	return v;
}

static int changes_run(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct changes_call *c = ctx;
	imap_changes_free(&c->out);
	imap_page_free(&c->sums);
	int rc = imap_changes(s, c->folder, &c->since, c->max, c->deadline, &c->out, err);
	if (rc || c->out.verdict != IMAP_CHANGES_OK || !c->summaries)
		return rc;
	uint32_t *uids = merge(c->out.created, c->out.ncreated, c->out.updated, c->out.nupdated);
	if (!uids)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	rc = imap_messages_fetch(s, c->folder, uids, c->out.ncreated + c->out.nupdated, c->deadline,
	                         &c->sums, err);
	free(uids);
	return rc;
}

static void uid_array(struct jsonw *w, const char *key, const uint32_t *v, size_t n)
{
	jsonw_key(w, key);
	jsonw_array(w);
	for (size_t i = 0; i < n; i++)
		jsonw_uint(w, v[i]);
	jsonw_end_array(w);
}

void api_changes(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m)
{
	static const char *const params[] = {"folder", "since", "max_changes", "summaries", NULL};
	const struct api_config *cfg = api_config();
	unsigned cap = cfg->changes_max ? cfg->changes_max : 5000;
	struct changes_call c = {.max = cap < MAX_CHANGES_DEFAULT ? cap : MAX_CHANGES_DEFAULT};
	const char *v;
	uint64_t n;
	if (!api_known_params(req, params, resp) || !api_folder_param(req, &c.folder, resp) ||
	    !api_bool_param(req, "summaries", &c.summaries, resp))
		return;
	if (!(c.since_token = api_query(req, "since"))) {
		api_bad(resp, "since is required: a folder's state from a listing, a folder or a "
		              "message answer");
		return;
	}
	if (!api_state_decode(c.since_token, c.folder, &c.since, resp))
		return;
	if ((v = api_query(req, "max_changes"))) {
		if (!api_parse_u64(v, 1, cap, &n)) {
			api_bad(resp, "max_changes must be from 1 to %u", cap);
			return;
		}
		c.max = (uint32_t)n;
	}
	c.deadline = req->deadline;
	if (!api_run(req, m, changes_run, &c, resp))
		goto done;
	if (c.out.verdict == IMAP_CHANGES_UIDVALIDITY) {
		api_fail(resp, API_ERR_CANNOT_CALCULATE,
		         "the folder's UIDVALIDITY changed since that state: list it again");
		goto done;
	}
	if (c.out.verdict == IMAP_CHANGES_CANNOT) {
		api_fail(resp, API_ERR_CANNOT_CALCULATE, "%s: list the folder again", c.out.why);
		goto done;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "folder");
	jsonw_string(&w, c.folder);
	jsonw_key(&w, "old_state");
	jsonw_string(&w, c.since_token);
	char token[API_STATE_LEN + 1];
	api_state_encode(&c.out.state, c.folder, token);
	jsonw_key(&w, "new_state");
	jsonw_string(&w, token);
	jsonw_key(&w, "has_more");
	jsonw_bool(&w, c.out.has_more);
	uid_array(&w, "created", c.out.created, c.out.ncreated);
	uid_array(&w, "updated", c.out.updated, c.out.nupdated);
	uid_array(&w, "destroyed", c.out.destroyed, c.out.ndestroyed);
	if (c.summaries) {
		jsonw_key(&w, "summaries");
		jsonw_array(&w);
		for (size_t i = 0; i < c.sums.n; i++)
			api_render_summary(&w, &c.sums.msgs[i]);
		jsonw_end_array(&w);
	}
	jsonw_end_object(&w);
	api_response_header(resp, "Cache-Control", "no-store");
done:
	imap_changes_free(&c.out);
	imap_page_free(&c.sums);
}
