/*
 * api/index_load.c — loading a folder into the index after the listing
 * that found it cold has been answered (api_index_load_after).
 *
 * The listing itself goes the way it would without the index; this claims
 * the folder's loading (imap_index_load_claim) and hands the HTTP layer the
 * steps to run once the answer is out (struct api_after). Each step borrows
 * a spare session of the request's credentials: an idle one, only while no
 * request waits in the pool, never a new login (imap_pool_acquire_spare).
 * So the user's per-user session cap holds, nothing runs for credentials
 * the server has not accepted already, and a request of the user never
 * waits for more than the batch under way: the step stops between batches
 * as soon as one waits (imap_pool_wanted). When no session is spare, or the
 * server is stopping, the loading ends; the next listing of the folder
 * claims it again and it goes on from where it was.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "imap/index.h"

#define LOADS_DEFAULT 4u
#define STEP_TIMEOUT_MS_DEFAULT 30000u

static atomic_uint loading;  /* folders with a loading under way */

struct load {
	const struct api_server *srv;
	struct imap_index *ix;
	unsigned char key[IMAP_INDEX_KEY_LEN];
	uint64_t claim;
	enum imap_cred_kind kind;
	char *user, *secret;  /* in `store`, cleansed when done */
	char *folder;
	char *store;
	size_t store_len;
	char req_id[80];
};

static bool someone_waits(void *ctx)
{
	const struct load *l = ctx;
	return api_stopping() || imap_pool_wanted(l->srv->pool);
}

static bool load_step(void *arg)
{
	struct load *l = arg;
	if (api_stopping())
		return false;
	struct imap_credentials cred = {.kind = l->kind, .user = l->user, .secret = l->secret};
	struct imap_session *s = NULL;
	if (imap_pool_acquire_spare(l->srv->pool, &cred, &s) != 0)
		return false;
	const struct api_config *cfg = api_config();
	unsigned ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : STEP_TIMEOUT_MS_DEFAULT;
	struct imap_error err = {0};
	int rc = imap_index_load(l->ix, l->key, s, l->folder, l->claim, someone_waits, l,
	                         imap_now_ms() + ms, &err);
	imap_pool_release(l->srv->pool, s);
	if (rc < 0 && cfg->log_event) {
		const char *kv[] = {"error", imap_strerror(rc), "detail", err.msg, NULL};
		cfg->log_event(l->req_id, "index load stopped", kv);
	}
	return rc == IMAP_INDEX_MORE;
}

static void load_end(void *arg)
{
	struct load *l = arg;
	imap_index_load_drop(l->ix, l->key, l->folder, l->claim);
	OPENSSL_cleanse(l->store, l->store_len);
	free(l->store);
	free(l);
	atomic_fetch_sub(&loading, 1);
}

void api_index_load_after(const struct api_request *req, struct api_response *resp,
                          const unsigned char key[32], const char *folder)
{
	const struct api_config *cfg = api_config();
	unsigned max = cfg->index_loads_max ? cfg->index_loads_max : LOADS_DEFAULT;
	if (!cfg->index || resp->after.step || api_stopping())
		return;
	if (atomic_fetch_add(&loading, 1) >= max) {
		atomic_fetch_sub(&loading, 1);
		return;  /* a later listing starts it */
	}
	/* the claim first: a loaded folder (the usual case) costs no more */
	uint64_t claim = imap_index_load_claim(cfg->index, key, folder);
	struct load *l = claim ? calloc(1, sizeof *l) : NULL;
	struct imap_credentials cred;
	struct imap_buf store;
	const struct api_server *srv = NULL;
	struct api_response scratch;
	api_response_init(&scratch);
	bool ok = l && api_request_target(req, &cred, &store, &srv, &scratch);
	api_response_free(&scratch);
	if (ok) {
		size_t ul = strlen(cred.user) + 1, sl = strlen(cred.secret) + 1, fl = strlen(folder) + 1;
		l->store_len = ul + sl + fl;
		if ((l->store = malloc(l->store_len))) {
			l->user = memcpy(l->store, cred.user, ul);
			l->secret = memcpy(l->store + ul, cred.secret, sl);
			l->folder = memcpy(l->store + ul + sl, folder, fl);
		}
		OPENSSL_cleanse(store.data, store.len);
		imap_buf_free(&store);
	}
	if (!l || !l->store) {
		imap_index_load_drop(cfg->index, key, folder, claim);
		free(l);
		atomic_fetch_sub(&loading, 1);
		return;
	}
	l->srv = srv;
	l->ix = cfg->index;
	memcpy(l->key, key, IMAP_INDEX_KEY_LEN);
	l->claim = claim;
	l->kind = cred.kind;
	snprintf(l->req_id, sizeof l->req_id, "%s", req->id ? req->id : "");
	uint64_t k = 0;
	for (int i = 0; i < 8; i++)
		k = k << 8 | key[i];
	resp->after = (struct api_after){.step = load_step, .end = load_end, .arg = l, .key = k};
}
