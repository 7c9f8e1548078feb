/*
 * api/senders.c — mail grouped by sender, and what to do about a sender.
 *
 *   GET  /senders                      groups, most mail first
 *   POST /senders/{id}/read            mark the group's messages \Seen
 *   POST /senders/{id}/archive         move them to the Archive folder
 *   POST /senders/{id}/delete          move them to the Trash folder
 *   POST /senders/{id}/unsubscribe     RFC 8058 one-click, or a ready mailto
 *
 * A scan borrows a pooled session for one step at a time (the folder
 * list; a folder's UID SEARCH; each batch of --senders-batch header
 * fetches) and gives it back in between, so a large folder never holds a
 * session for long and other requests of the user interleave. When the
 * folder index holds a folder (imap_index_each), GET /senders counts it
 * from the index after revalidation instead of the header batches; the
 * newest message of each group is still read from the server.
 *
 * The {id} is base64url of the group key (imap/senders.h): stable across
 * scans and servers, with no state kept here. An action finds the group's
 * messages again (UID SEARCH for candidates by List-Id or From, then the
 * same header fetch keeps exactly the group's), and works on them in chunks
 * of --bulk-max with the write operations of imap/write.h, which carry the
 * no-loss rules (UIDVALIDITY checked, MOVE or COPY + UID EXPUNGE of
 * confirmed copies only, never a plain EXPUNGE).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "api/body.h"
#include "api/handlers.h"
#include "api/mailto.h"
#include "api/oneclick.h"
#include "api/render.h"
#include "imap/base/codec.h"
#include "imap/folders.h"
#include "imap/index.h"
#include "imap/mail/unsubscribe.h"
#include "imap/senders.h"
#include "imap/write.h"

#define FOLDERS_MAX 256      /* folders one request names or scans */
#define TRUSTED_MAX 16       /* authserv-ids of --trusted-authserv-id used */
#define BATCH_DEFAULT 1000u
#define ID_MAX 700           /* base64url of IMAP_SENDERS_KEY_MAX bytes */

/* ---- folders in scope ---- */

struct scope {
	char *folders[FOLDERS_MAX];
	size_t n;
	char *archive, *trash;   /* special-use folders, NULL when none */
	/* per folder: UIDVALIDITY and the matched UIDs of an action */
	uint32_t uidvalidity[FOLDERS_MAX];
	uint32_t *uids[FOLDERS_MAX];
	size_t nuids[FOLDERS_MAX];
	/* input of the folder listing */
	const char *const *named; /* the client's folders, NULL: the default set */
	size_t nnamed;
	const char *exclude;      /* a folder left out (an action's target) */
	int64_t deadline;
};

static void scope_free(struct scope *sc)
{
	for (size_t i = 0; i < sc->n; i++) {
		free(sc->folders[i]);
		free(sc->uids[i]);
	}
	free(sc->archive);
	free(sc->trash);
	memset(sc, 0, sizeof *sc);
}

static bool skipped_by_default(const char *special_use)
{
	static const char *const skip[] = {"\\Trash", "\\Junk", "\\Sent", "\\Drafts"};
	for (size_t i = 0; special_use && i < sizeof skip / sizeof skip[0]; i++)
		if (strcasecmp(special_use, skip[i]) == 0)
			return true;
	return false;
}

static int run_folders(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct scope *sc = ctx;
	struct imap_folder_list l = {0};
	int rc = imap_folders_list(s, NULL, false, sc->deadline, &l, err);
	for (size_t i = 0; i < sc->n; i++)
		free(sc->folders[i]);
	sc->n = 0;
	for (size_t i = 0; !rc && i < l.n; i++) {
		const struct imap_folder *f = &l.v[i];
		if (f->special_use && strcasecmp(f->special_use, "\\Archive") == 0 && !sc->archive)
			sc->archive = strdup(f->path);
		if (f->special_use && strcasecmp(f->special_use, "\\Trash") == 0 && !sc->trash)
			sc->trash = strdup(f->path);
		if (sc->named || !f->selectable || skipped_by_default(f->special_use) ||
		    (sc->exclude && strcmp(f->path, sc->exclude) == 0))
			continue;
		if (sc->n == FOLDERS_MAX)
			break;
		if (!(sc->folders[sc->n++] = strdup(f->path)))
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && sc->named && i < sc->nnamed; i++) {
		if (sc->exclude && strcmp(sc->named[i], sc->exclude) == 0)
			continue;
		if (!(sc->folders[sc->n++] = strdup(sc->named[i])))
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	imap_folder_list_free(&l);
	return rc;
}

/* ---- the scan ---- */

struct scan {
	struct imap_senders g;
	const char *trusted[TRUSTED_MAX];
	char trusted_buf[1024];
	const char *since;
	int64_t deadline;
	/* the step at hand */
	const char *folder;
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t nuids;
	const uint32_t *batch;
	size_t nbatch;
	/* the folder index's key, for the counting phase of a light scan */
	unsigned char key[IMAP_INDEX_KEY_LEN];
	bool indexed;            /* the folder at hand was counted from it */
};

static int run_uids(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct scan *sc = ctx;
	free(sc->uids);
	sc->uids = NULL;
	return imap_senders_uids(s, &sc->g, sc->folder, sc->since, sc->deadline, &sc->uids,
	                         &sc->nuids, &sc->uidvalidity, err);
}

static int run_batch(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct scan *sc = ctx;
	return imap_senders_batch(&sc->g, s, sc->folder, sc->uidvalidity, sc->batch, sc->nbatch,
	                          sc->deadline, err);
}

static int on_indexed(void *ctx, uint32_t uid, const struct imap_summary *sum, bool seen,
                      bool unsubscribed)
{
	struct scan *sc = ctx;
	return imap_senders_add_summary(&sc->g, sc->folder, uid, sum, seen, unsubscribed);
}

/* The counting phase of one folder from the index, when it holds the
 * folder (sc->indexed says whether it did). With `since` the server's
 * SEARCH (run_uids, before) picks the messages: its date rules are the
 * server's own. */
static int run_index(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct scan *sc = ctx;
	sc->indexed = false;
	if (sc->since && sc->nuids == 0)
		return 0;  /* nothing since then: no batch will be sent either */
	int rc = imap_index_each(api_config()->index, sc->key, s, sc->folder,
	                         sc->since ? sc->uids : NULL, sc->since ? sc->nuids : 0,
	                         IMAP_SENDERS_KEYWORD, sc->deadline, on_indexed, sc,
	                         &sc->uidvalidity, err);
	if (rc == IMAP_INDEX_UNUSED)
		return 0;
	sc->indexed = rc == 0;
	return rc;
}

static int run_details(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct scan *sc = ctx;
	return imap_senders_details(&sc->g, s, sc->folder, sc->uidvalidity, sc->batch, sc->nbatch,
	                            sc->deadline, err);
}

/* The comma-separated --trusted-authserv-id into sc->trusted. */
static size_t trusted_ids(struct scan *sc)
{
	const char *cfg = api_config()->trusted_authserv_ids;
	size_t n = 0;
	snprintf(sc->trusted_buf, sizeof sc->trusted_buf, "%s", cfg ? cfg : "");
	for (char *save = NULL, *t = strtok_r(sc->trusted_buf, ", ", &save); t && n < TRUSTED_MAX;
	     t = strtok_r(NULL, ", ", &save))
		sc->trusted[n++] = t;
	return n;
}

static void scan_init(struct scan *sc, enum imap_senders_grouping grouping, int64_t deadline)
{
	memset(sc, 0, sizeof *sc);
	size_t n = trusted_ids(sc);
	imap_senders_init(&sc->g, grouping, sc->trusted, n);
	sc->deadline = deadline;
}

static void scan_free(struct scan *sc)
{
	imap_senders_free(&sc->g);
	free(sc->uids);
}

static bool append_uids(struct scope *sc, size_t f, const uint32_t *v, size_t n)
{
	if (n == 0)
		return true;
	uint32_t *u = realloc(sc->uids[f], (sc->nuids[f] + n) * sizeof *u);
	if (!u)
		return false;
	memcpy(u + sc->nuids[f], v, n * sizeof *u);
	sc->uids[f] = u;
	sc->nuids[f] += n;
	return true;
}

/* The folders of the scope (the client's, or the default set) and the
 * special folders; then every folder, batch by batch, each step on a
 * session of its own. With sc->g.only_key the matched UIDs of each folder
 * are kept in scope. False after filling resp with the problem. */
static bool scan_scope(const struct api_request *req, struct scan *sc, struct scope *scope,
                       struct api_response *resp)
{
	struct imap_credentials cred;
	struct imap_buf store;
	const struct api_server *srv;
	if (!api_request_target(req, &cred, &store, &srv, resp))
		return false;
	unsigned batch = api_config()->senders_batch ? api_config()->senders_batch : BATCH_DEFAULT;
	struct imap_error err = {0};
	unsigned retry = 0;
	scope->deadline = req->deadline;
	int rc = api_with_session(req, srv, &cred, true, run_folders, scope, &err, &retry);
	/* the index can stand in for the counting phase only: actions
	 * (only_key) read the server's current headers of their candidates */
	bool use_index = sc->g.light && !sc->g.only_key && api_config()->index &&
	                 api_credentials_key(req, sc->key, NULL);
	for (size_t f = 0; !rc && f < scope->n; f++) {
		sc->folder = scope->folders[f];
		sc->indexed = false;
		free(sc->uids);
		sc->uids = NULL;
		sc->nuids = 0;
		if (!use_index || sc->since)
			rc = api_with_session(req, srv, &cred, true, run_uids, sc, &err, &retry);
		if (!rc && use_index) {
			uint32_t searched = sc->uidvalidity;
			rc = api_with_session(req, srv, &cred, true, run_index, sc, &err, &retry);
			if (!rc && sc->indexed && sc->since && searched != sc->uidvalidity)
				rc = imap_error_set(&err, IMAP_ERR_STALE, "the folder's UIDVALIDITY "
				                    "changed during the scan: start again");
			if (!rc && !sc->indexed && !sc->since)
				rc = api_with_session(req, srv, &cred, true, run_uids, sc, &err, &retry);
		}
		scope->uidvalidity[f] = sc->uidvalidity;
		for (size_t at = 0; !rc && !sc->indexed && at < sc->nuids; at += batch) {
			if (api_stopping()) {
				rc = imap_error_set(&err, IMAP_ERR_BUSY, "the gateway is stopping");
				break;
			}
			sc->batch = sc->uids + at;
			sc->nbatch = sc->nuids - at < batch ? sc->nuids - at : batch;
			rc = api_with_session(req, srv, &cred, true, run_batch, sc, &err, &retry);
			if (!rc && sc->g.only_key &&
			    !append_uids(scope, f, sc->g.matched, sc->g.nmatched))
				rc = imap_error_set(&err, IMAP_ERR_NOMEM, "out of memory");
		}
	}
	/* a light scan: the newest message of each group, fully, once every
	 * folder has said which message that is */
	for (size_t f = 0; !rc && sc->g.light && f < scope->n; f++) {
		sc->folder = scope->folders[f];
		sc->uidvalidity = scope->uidvalidity[f];
		free(sc->uids);
		sc->uids = NULL;
		if (imap_senders_newest(&sc->g, sc->folder, &sc->uids, &sc->nuids)) {
			rc = imap_error_set(&err, IMAP_ERR_NOMEM, "out of memory");
			break;
		}
		for (size_t at = 0; !rc && at < sc->nuids; at += batch) {
			sc->batch = sc->uids + at;
			sc->nbatch = sc->nuids - at < batch ? sc->nuids - at : batch;
			rc = api_with_session(req, srv, &cred, true, run_details, sc, &err, &retry);
		}
	}
	imap_buf_free(&store);
	if (rc) {
		api_imap_problem(resp, rc, &err, retry);
		return false;
	}
	return true;
}

/* ---- ids ---- */

static void id_of(const char *key, char *out, size_t cap)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	api_base64url_encode(key, strlen(key), &b);
	snprintf(out, cap, "%s", b.data ? b.data : "");
	imap_buf_free(&b);
}

/* The group key of an {id}, into key; false after a 404 (an id this
 * service cannot have made names no group). */
static bool key_of(const struct api_match *m, char *key, size_t cap, struct api_response *resp)
{
	char id[ID_MAX + 1];
	struct imap_buf b;
	imap_buf_init(&b, 0);
	bool ok = m->id_len <= ID_MAX;
	if (ok) {
		memcpy(id, m->id, m->id_len);
		id[m->id_len] = '\0';
		ok = api_base64url_decode(id, ID_MAX, &b) && b.len < cap &&
		     imap_senders_key_valid(b.data, b.len);
	}
	if (ok) {
		memcpy(key, b.data, b.len);
		key[b.len] = '\0';
	}
	imap_buf_free(&b);
	return ok || api_fail(resp, API_ERR_NOT_FOUND, "no sender has this id");
}

/* ---- GET /senders ---- */

static bool usable_unsubscribe(const struct imap_sender_group *gr, struct imap_unsubscribe *u)
{
	memset(u, 0, sizeof *u);
	if (!gr->unsub)
		return false;
	if (imap_unsubscribe_parse(gr->unsub, strlen(gr->unsub), gr->unsub_post,
	                           gr->unsub_post ? strlen(gr->unsub_post) : 0, u))
		return false;
	return u->n_mailto || u->n_http;
}

static void render_group(struct jsonw *w, const struct imap_sender_group *gr)
{
	char id[ID_MAX + 1];
	id_of(gr->key, id, sizeof id);
	jsonw_object(w);
	jsonw_key(w, "id");
	jsonw_string(w, id);
	jsonw_key(w, "list_id");
	jsonw_string(w, gr->list_id);
	jsonw_key(w, "from");
	jsonw_object(w);
	jsonw_key(w, "name");
	jsonw_string(w, gr->from_name);
	jsonw_key(w, "address");
	jsonw_string(w, gr->from_address && gr->from_address[0] ? gr->from_address : NULL);
	jsonw_end_object(w);
	jsonw_key(w, "count");
	jsonw_uint(w, gr->count);
	jsonw_key(w, "unseen");
	jsonw_uint(w, gr->unseen);
	jsonw_key(w, "first_date");
	api_render_time(w, gr->has_dates, gr->first, gr->first_tz);
	jsonw_key(w, "last_date");
	api_render_time(w, gr->has_dates, gr->last, gr->last_tz);
	jsonw_key(w, "folders");
	jsonw_array(w);
	for (size_t i = 0; i < gr->nfolders; i++) {
		jsonw_object(w);
		jsonw_key(w, "folder");
		jsonw_string(w, gr->folders[i].folder);
		jsonw_key(w, "count");
		jsonw_uint(w, gr->folders[i].count);
		jsonw_key(w, "sample_uids");
		jsonw_array(w);
		for (size_t k = 0; k < gr->folders[i].nuids; k++)
			jsonw_uint(w, gr->folders[i].uids[k]);
		jsonw_end_array(w);
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
	struct imap_unsubscribe u;
	usable_unsubscribe(gr, &u);
	jsonw_key(w, "unsubscribe");
	api_render_unsubscribe(w, &u);
	imap_unsubscribe_free(&u);
	jsonw_key(w, "unsubscribed");
	jsonw_bool(w, gr->unsubscribed);
	jsonw_key(w, "trust");
	jsonw_object(w);
	jsonw_key(w, "dkim_covers_unsubscribe");
	jsonw_bool(w, gr->trust.dkim_covers_unsubscribe);
	jsonw_key(w, "dkim_pass");
	jsonw_bool(w, gr->trust.dkim_pass);
	jsonw_key(w, "aligned");
	jsonw_bool(w, gr->trust.aligned);
	jsonw_end_object(w);
	jsonw_end_object(w);
}

/* A scan reads every message's header fields: it may take longer than
 * other requests (--senders-timeout). Sessions are borrowed a batch at a
 * time all the same. */
static struct api_request longer(const struct api_request *req)
{
	struct api_request r = *req;
	int64_t until = imap_now_ms() + api_config()->senders_timeout_ms;
	if (until > r.deadline)
		r.deadline = until;
	return r;
}

static void senders_list(const struct api_request *req, struct api_response *resp)
{
	static const char *const known[] = {"folders", "group", "min_count", "since",
	                                    "has_unsubscribe", "page", "per_page", NULL};
	const struct api_config *cfg = api_config();
	char since_buf[16];
	struct api_folders names = {0};
	uint64_t min_count = 1, page = 1, per_page = cfg->per_page_default;
	bool has_unsub = false;
	const char *v, *since = NULL;
	enum imap_senders_grouping grouping = IMAP_SENDERS_BY_LIST;
	if (!api_known_params(req, known, resp) ||
	    !api_day_param(req, "since", since_buf, &since, resp) ||
	    !api_bool_param(req, "has_unsubscribe", &has_unsub, resp))
		return;
	if ((v = api_query(req, "group"))) {
		if (strcmp(v, "domain") == 0)
			grouping = IMAP_SENDERS_BY_DOMAIN;
		else if (strcmp(v, "list"))
			return (void)api_bad(resp, "group must be list or domain");
	}
	if ((v = api_query(req, "min_count")) && !api_parse_u64(v, 1, UINT32_MAX, &min_count))
		return (void)api_bad(resp, "min_count must be a whole number from 1");
	if ((v = api_query(req, "page")) && !api_parse_u64(v, 1, 10000000, &page))
		return (void)api_bad(resp, "page must be a whole number from 1");
	if ((v = api_query(req, "per_page")) && !api_parse_u64(v, 1, cfg->per_page_max, &per_page))
		return (void)api_bad(resp, "per_page must be from 1 to %u", cfg->per_page_max);

	if (!api_folders_param(req, FOLDERS_MAX, &names, resp))
		return;
	struct scope scope = {.named = names.n ? names.v : NULL, .nnamed = names.n};
	struct scan sc;
	scan_init(&sc, grouping, req->deadline);
	sc.since = since;
	/* every message's From and List-Id; the rest only of each group's newest */
	sc.g.light = true;
	if (!scan_scope(req, &sc, &scope, resp))
		goto done;
	imap_senders_sort(&sc.g);
	/* the filters that need the groups: keep the indexes that pass */
	size_t *keep = malloc((sc.g.n ? sc.g.n : 1) * sizeof *keep), total = 0;
	if (!keep) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < sc.g.n; i++) {
		const struct imap_sender_group *gr = &sc.g.v[i];
		struct imap_unsubscribe u;
		bool usable = has_unsub && usable_unsubscribe(gr, &u);
		if (has_unsub)
			imap_unsubscribe_free(&u);
		if (gr->count >= min_count && (!has_unsub || usable))
			keep[total++] = i;
	}
	uint64_t first = (page - 1) * per_page;
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "group");
	jsonw_string(&w, grouping == IMAP_SENDERS_BY_DOMAIN ? "domain" : "list");
	jsonw_key(&w, "folders");
	jsonw_array(&w);
	for (size_t i = 0; i < scope.n; i++)
		jsonw_string(&w, scope.folders[i]);
	jsonw_end_array(&w);
	jsonw_key(&w, "total");
	jsonw_uint(&w, total);
	jsonw_key(&w, "page");
	jsonw_uint(&w, page);
	jsonw_key(&w, "per_page");
	jsonw_uint(&w, per_page);
	jsonw_key(&w, "pages");
	jsonw_uint(&w, (total + per_page - 1) / per_page);
	jsonw_key(&w, "senders");
	jsonw_array(&w);
	for (uint64_t i = first; i < total && i < first + per_page; i++)
		render_group(&w, &sc.g.v[keep[i]]);
	jsonw_end_array(&w);
	jsonw_end_object(&w);
	free(keep);
done:
	scan_free(&sc);
	scope_free(&scope);
	api_folders_free(&names);
}

void api_senders_list(const struct api_request *req, struct api_response *resp,
                      const struct api_match *m)
{
	(void)m;
	struct api_request r = longer(req);
	senders_list(&r, resp);
}

/* ---- actions ---- */

enum action { ACT_READ, ACT_ARCHIVE, ACT_DELETE, ACT_UNSUBSCRIBE };

/* What a chunk of an action does on its session. */
struct chunk {
	enum action act;
	struct imap_ref ref;
	const uint32_t *uids;
	size_t n;
	const char *to;
	const char *keyword;   /* ACT_READ: "\\Seen"; the unsubscribe mark */
	int64_t deadline;
	size_t done;           /* messages found and changed */
};

static int run_chunk(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct chunk *c = ctx;
	c->done = 0;
	if (c->to) {
		struct imap_transfer_result r = {0};
		int rc = imap_messages_transfer(s, &c->ref, c->uids, c->n, c->to, true, c->deadline, &r,
		                                err);
		for (size_t i = 0; !rc && i < r.n; i++)
			c->done += r.v[i].found;
		imap_transfer_result_free(&r);
		return rc;
	}
	const char *add[] = {c->keyword};
	struct imap_store st = {.add = add, .nadd = 1};
	struct imap_flags_result r = {0};
	int rc = imap_flags_store(s, &c->ref, c->uids, c->n, &st, c->deadline, &r, err);
	for (size_t i = 0; !rc && i < r.n; i++)
		c->done += r.v[i].found;
	imap_flags_result_free(&r);
	return rc;
}

/* Apply the action to every matched UID of scope, --bulk-max at a time.
 * done[f] counts per folder. False after filling resp. */
static bool apply(const struct api_request *req, const struct api_match *m, struct scope *scope,
                  enum action act, const char *to, const char *keyword, size_t *done,
                  struct api_response *resp)
{
	unsigned chunk = api_config()->bulk_max ? api_config()->bulk_max : API_BULK_MAX_DEFAULT;
	for (size_t f = 0; f < scope->n; f++) {
		done[f] = 0;
		for (size_t at = 0; at < scope->nuids[f]; at += chunk) {
			struct chunk c = {
				.act = act,
				.ref = {scope->folders[f], scope->uidvalidity[f]},
				.uids = scope->uids[f] + at,
				.n = scope->nuids[f] - at < chunk ? scope->nuids[f] - at : chunk,
				.to = to,
				.keyword = keyword,
				.deadline = req->deadline,
			};
			if (!api_run(req, m, run_chunk, &c, resp))
				return false;
			done[f] += c.done;
		}
	}
	return true;
}

struct action_req {
	json_t *body;
	bool dry_run;
	const char *names[FOLDERS_MAX];
	size_t nnames;
	char key[IMAP_SENDERS_KEY_MAX + 2];
};

/* The body's folders: an array of paths. */
static bool body_folders(struct action_req *a, struct api_response *resp)
{
	json_t *arr = json_object_get(a->body, "folders");
	if (!arr)
		return true;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > FOLDERS_MAX)
		return api_bad(resp, "folders must be a list of 1 to %d folder paths", FOLDERS_MAX);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return api_bad(resp, "folders[%zu] must be a folder path", i);
		if (!api_check_path(json_string_value(v), "folders", resp))
			return false;
		a->names[a->nnames++] = json_string_value(v);
	}
	return true;
}

/* id, body (parsed with keys), scope and the group's messages: the common
 * start of every action. exclude names a folder left out (a move's target). */
static bool parse_action(const struct api_request *req, const struct api_match *m,
                         const char *const *keys, struct action_req *a,
                         struct api_response *resp)
{
	static const char *const no_params[] = {NULL};
	bool present;
	return api_known_params(req, no_params, resp) && key_of(m, a->key, sizeof a->key, resp) &&
	       (a->body = api_body_object(req, keys, resp)) &&
	       api_bool_member(a->body, "dry_run", &present, &a->dry_run, resp) &&
	       body_folders(a, resp);
}

static bool find_group(const struct api_request *req, struct action_req *a, struct scope *scope,
                       struct scan *sc, const char *exclude, struct api_response *resp)
{
	scope->named = a->nnames ? a->names : NULL;
	scope->nnamed = a->nnames;
	scope->exclude = exclude;
	scan_init(sc, a->key[0] == 'd' ? IMAP_SENDERS_BY_DOMAIN : IMAP_SENDERS_BY_LIST,
	          req->deadline);
	sc->g.only_key = a->key;
	return scan_scope(req, sc, scope, resp);
}

static void action_reply(struct api_response *resp, const char *action, bool dry_run,
                         const char *to, const struct scope *scope, const size_t *done)
{
	size_t matched = 0, total = 0;
	for (size_t f = 0; f < scope->n; f++) {
		matched += scope->nuids[f];
		total += done ? done[f] : 0;
	}
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "action");
	jsonw_string(&w, action);
	jsonw_key(&w, "dry_run");
	jsonw_bool(&w, dry_run);
	jsonw_key(&w, "to");
	jsonw_string(&w, to);
	jsonw_key(&w, "matched");
	jsonw_uint(&w, matched);
	jsonw_key(&w, "done");
	jsonw_uint(&w, total);
	jsonw_key(&w, "folders");
	jsonw_array(&w);
	for (size_t f = 0; f < scope->n; f++) {
		if (!scope->nuids[f])
			continue;
		jsonw_object(&w);
		jsonw_key(&w, "folder");
		jsonw_string(&w, scope->folders[f]);
		jsonw_key(&w, "uidvalidity");
		jsonw_uint(&w, scope->uidvalidity[f]);
		jsonw_key(&w, "matched");
		jsonw_uint(&w, scope->nuids[f]);
		jsonw_key(&w, "done");
		jsonw_uint(&w, done ? done[f] : 0);
		jsonw_end_object(&w);
	}
	jsonw_end_array(&w);
	jsonw_end_object(&w);
}

/* POST /senders/{id}/read|archive|delete */
static void bulk(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m, enum action act)
{
	static const char *const keys_plain[] = {"dry_run", "folders", NULL};
	static const char *const keys_to[] = {"dry_run", "folders", "to", NULL};
	static const char *const names[] = {[ACT_READ] = "read", [ACT_ARCHIVE] = "archive",
	                                    [ACT_DELETE] = "delete"};
	struct action_req a = {0};
	struct scope scope = {0};
	struct scan sc;
	const char *to = NULL;
	size_t *done = NULL;
	memset(&sc, 0, sizeof sc);
	bool ok = parse_action(req, m, act == ACT_ARCHIVE ? keys_to : keys_plain, &a, resp) &&
	          (act != ACT_ARCHIVE || api_path_member(a.body, "to", false, &to, resp)) &&
	          find_group(req, &a, &scope, &sc, to, resp);
	if (ok && act == ACT_ARCHIVE && !to) {
		to = scope.archive;
		/* the Archive folder itself is never a source */
		for (size_t f = 0; to && f < scope.n; f++)
			if (strcmp(scope.folders[f], to) == 0)
				scope.nuids[f] = 0;
		if (!to)
			ok = api_fail(resp, API_ERR_REFUSED,
			              "there is no Archive folder (special use \\Archive): name one with to");
	}
	if (ok && act == ACT_DELETE) {
		to = scope.trash;
		for (size_t f = 0; to && f < scope.n; f++)
			if (strcmp(scope.folders[f], to) == 0)
				scope.nuids[f] = 0;
		if (!to)
			ok = api_fail(resp, API_ERR_REFUSED, "there is no Trash folder to move the mail to");
	}
	if (ok && !a.dry_run) {
		done = calloc(scope.n ? scope.n : 1, sizeof *done);
		ok = done && apply(req, m, &scope, act, to, act == ACT_READ ? "\\Seen" : NULL, done, resp);
		if (!done)
			api_fail(resp, API_ERR_BUSY, "out of memory");
	}
	if (ok)
		action_reply(resp, names[act], a.dry_run, to, &scope, done);
	free(done);
	json_decref(a.body);
	scan_free(&sc);
	scope_free(&scope);
}

void api_sender_read(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m)
{
	struct api_request r = longer(req);
	bulk(&r, resp, m, ACT_READ);
}

void api_sender_archive(const struct api_request *req, struct api_response *resp,
                        const struct api_match *m)
{
	struct api_request r = longer(req);
	bulk(&r, resp, m, ACT_ARCHIVE);
}

void api_sender_delete(const struct api_request *req, struct api_response *resp,
                       const struct api_match *m)
{
	struct api_request r = longer(req);
	bulk(&r, resp, m, ACT_DELETE);
}

/* ---- unsubscribe ---- */

enum method { M_AUTO, M_ONE_CLICK, M_MAILTO, M_HTTPS };

struct outcome {
	const char *method;       /* what was used: "one_click", "mailto", "https" or NULL */
	const char *result;       /* "done", "ready", "refused", "failed" */
	long http_status;
	char reason[320];
	const char *url;          /* borrowed from the parsed unsubscribe */
	const struct imap_unsub_mailto *mailto;
};

static void refuse(struct outcome *o, const char *why)
{
	o->result = "refused";
	snprintf(o->reason, sizeof o->reason, "%s", why);
}

static const char *first_https(const struct imap_unsubscribe *u)
{
	for (size_t i = 0; i < u->n_http; i++)
		if (strncasecmp(u->http[i], "https:", 6) == 0)
			return u->http[i];
	return NULL;
}

static void unsubscribe(const struct imap_unsubscribe *u, const struct imap_sender_group *gr,
                        enum method method, bool force, const struct imap_credentials *cred,
                        struct outcome *o)
{
	const struct api_config *cfg = api_config();
	if (method == M_AUTO)
		method = u->one_click ? M_ONE_CLICK : u->n_mailto ? M_MAILTO : M_HTTPS;
	if (method == M_ONE_CLICK) {
		o->method = "one_click";
		o->url = u->one_click ? first_https(u) : NULL;
		if (!o->url)
			return refuse(o, "the newest message offers no one-click unsubscribe (RFC 8058)");
		if (!gr->trust.dkim_covers_unsubscribe && !force)
			return refuse(o, "no DKIM signature covers List-Unsubscribe and List-Unsubscribe-Post "
			              "(RFC 8058 section 4); send force: true to post anyway");
		struct api_oneclick_config oc = {
			.timeout_ms = cfg->unsubscribe_timeout_ms,
			.body_max = cfg->unsubscribe_body_max,
			.ca = cfg->unsubscribe_ca,
			.allow_hosts = cfg->unsubscribe_allow_hosts,
		};
		struct api_oneclick r;
		api_oneclick_post(o->url, &oc, &r);
		o->result = r.result == API_ONECLICK_DONE      ? "done"
		            : r.result == API_ONECLICK_REFUSED ? "refused"
		                                               : "failed";
		o->http_status = r.http_status;
		snprintf(o->reason, sizeof o->reason, "%s", r.reason);
	} else if (method == M_MAILTO) {
		o->method = "mailto";
		if (!u->n_mailto)
			return refuse(o, "the newest message offers no mailto: unsubscribe");
		o->mailto = &u->mailto[0];
		if (!cfg->smtp_host) {
			o->result = "ready";
			snprintf(o->reason, sizeof o->reason,
			         "no SMTP server is configured: send the message given here");
			return;
		}
		struct api_smtp_config sc = {
			.host = cfg->smtp_host,
			.port = cfg->smtp_port,
			.tls = (enum api_smtp_tls)cfg->smtp_tls,
			.ca = cfg->smtp_ca,
			.from_domain = cfg->smtp_from_domain,
			.timeout_ms = cfg->smtp_timeout_ms,
		};
		bool refused;
		const struct imap_unsub_mailto *mt = o->mailto;
		bool sent = api_mailto_send(&sc, cred, mt->address, mt->subject, mt->body, &refused,
		                            o->reason, sizeof o->reason);
		o->result = sent ? "done" : refused ? "refused" : "failed";
	} else {
		o->method = "https";
		o->url = first_https(u);
		if (!o->url)
			return refuse(o, "the newest message offers no https: unsubscribe link");
		o->result = "ready";
		snprintf(o->reason, sizeof o->reason,
		         "a link without one-click is a web page for a person: open the url");
	}
}

static void sender_unsubscribe(const struct api_request *req, struct api_response *resp,
                               const struct api_match *m)
{
	static const char *const keys[] = {"method", "force", "folders", "dry_run", NULL};
	static const char *const methods[] = {[M_AUTO] = "auto", [M_ONE_CLICK] = "one_click",
	                                      [M_MAILTO] = "mailto", [M_HTTPS] = "https"};
	struct action_req a = {0};
	struct scope scope = {0};
	struct scan sc;
	struct imap_unsubscribe u = {0};
	struct outcome o = {0};
	enum method method = M_AUTO;
	bool force = false, present;
	size_t *done = NULL;
	memset(&sc, 0, sizeof sc);
	/* everything the client sent is checked before IMAP is asked anything */
	if (!parse_action(req, m, keys, &a, resp))
		goto out;
	json_t *mv = json_object_get(a.body, "method");
	if (mv) {
		size_t k = 0;
		while (k < sizeof methods / sizeof methods[0] &&
		       !(json_is_string(mv) && strcmp(json_string_value(mv), methods[k]) == 0))
			k++;
		if (k == sizeof methods / sizeof methods[0]) {
			api_bad(resp, "method must be auto, one_click, mailto or https");
			goto out;
		}
		method = (enum method)k;
	}
	if (!api_bool_member(a.body, "force", &present, &force, resp))
		goto out;
	if (a.dry_run) {
		api_bad(resp, "unsubscribe has no dry run: GET /senders shows what it would use");
		goto out;
	}
	if (!find_group(req, &a, &scope, &sc, NULL, resp))
		goto out;
	if (sc.g.n == 0) {
		api_fail(resp, API_ERR_NOT_FOUND, "no message of this sender in the folders looked at");
		goto out;
	}
	const struct imap_sender_group *gr = &sc.g.v[0];
	usable_unsubscribe(gr, &u);
	struct imap_credentials cred;
	struct imap_buf store;
	if (api_credentials(req, &cred, &store, resp)) {
		imap_buf_free(&store);
		goto out;
	}
	unsubscribe(&u, gr, method, force, &cred, &o);
	imap_buf_free(&store);
	/* the outcome lives in the mailbox: the keyword on the group's mail */
	bool marked = strcmp(o.result, "done") == 0;
	if (marked && !(done = calloc(scope.n ? scope.n : 1, sizeof *done))) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		goto out;
	}
	char status[16];
	snprintf(status, sizeof status, "%ld", o.http_status);
	const char *kv[] = {"sender", a.key[0] == 'l' ? "list" : a.key[0] == 'd' ? "domain" : "address",
	                    "method",
	                    o.method ? o.method : "none", "result", o.result, "http_status", status,
	                    "reason", o.reason, NULL};
	if (api_config()->log_event)
		api_config()->log_event(req->id, "unsubscribe", kv);
	if (marked &&
	    !apply(req, m, &scope, ACT_UNSUBSCRIBE, NULL, IMAP_SENDERS_KEYWORD, done, resp))
		goto out;
	size_t nmarked = 0;
	for (size_t f = 0; done && f < scope.n; f++)
		nmarked += done[f];
	struct jsonw w;
	char id[ID_MAX + 1];
	id_of(a.key, id, sizeof id);
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	jsonw_key(&w, "id");
	jsonw_string(&w, id);
	jsonw_key(&w, "method");
	jsonw_string(&w, o.method);
	jsonw_key(&w, "result");
	jsonw_string(&w, o.result);
	jsonw_key(&w, "http_status");
	if (o.http_status)
		jsonw_int(&w, o.http_status);
	else
		jsonw_null(&w);
	jsonw_key(&w, "reason");
	jsonw_string(&w, o.reason[0] ? o.reason : NULL);
	jsonw_key(&w, "url");
	jsonw_string(&w, o.url);
	jsonw_key(&w, "message");
	if (o.mailto) {
		jsonw_object(&w);
		jsonw_key(&w, "to");
		jsonw_string(&w, o.mailto->address);
		jsonw_key(&w, "subject");
		jsonw_string(&w, o.mailto->subject ? o.mailto->subject : "unsubscribe");
		jsonw_key(&w, "body");
		jsonw_string(&w, o.mailto->body ? o.mailto->body : "unsubscribe");
		jsonw_end_object(&w);
	} else {
		jsonw_null(&w);
	}
	jsonw_key(&w, "marked");
	jsonw_uint(&w, nmarked);
	jsonw_end_object(&w);
out:
	imap_unsubscribe_free(&u);
	free(done);
	json_decref(a.body);
	scan_free(&sc);
	scope_free(&scope);
}

void api_sender_unsubscribe(const struct api_request *req, struct api_response *resp,
                            const struct api_match *m)
{
	struct api_request r = longer(req);
	sender_unsubscribe(&r, resp, m);
}
