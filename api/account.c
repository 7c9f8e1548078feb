/*
 * api/account.c — GET /account: what the account and its server offer, as
 * the gateway uses it. See imap/account.h for what it costs.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/handlers.h"
#include "api/render.h"
#include "imap/account.h"

struct account_call {
	int64_t deadline;
	struct imap_account a;
	uint32_t caps;
	struct imap_buf caps_text;  /* the server's list, copied while the session is ours */
};

static int read_account(struct imap_session *s, void *ctx, struct imap_error *err)
{
	struct account_call *c = ctx;
	imap_account_free(&c->a);
	int rc = imap_account_get(s, c->deadline, &c->a, err);
	if (!rc)
		rc = imap_session_caps(s, &c->caps, c->deadline, err);
	if (!rc) {
		imap_buf_reset(&c->caps_text, 0);
		if (imap_buf_puts(&c->caps_text, imap_session_caps_text(s)) != 0)
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	return rc;
}

static bool has(const char *caps, const char *name)
{
	char needle[64];
	snprintf(needle, sizeof needle, " %s ", name);
	return strstr(caps, needle) != NULL;
}

/* "capabilities": what the gateway acts on, each true or false (sort is
 * false where the gateway does not trust the server's SORT), and the
 * THREAD algorithms offered. */
static void render_capabilities(struct jsonw *w, uint32_t caps, const char *text)
{
	static const struct { const char *key; uint32_t bit; const char *name; } flags[] = {
		{"sort", IMAP_CAP_SORT, NULL},          {"esort", IMAP_CAP_ESORT, NULL},
		{"esearch", IMAP_CAP_ESEARCH, NULL},    {"multisearch", IMAP_CAP_MULTISEARCH, NULL},
		{"condstore", IMAP_CAP_CONDSTORE, NULL}, {"qresync", IMAP_CAP_QRESYNC, NULL},
		{"move", IMAP_CAP_MOVE, NULL},          {"uidplus", IMAP_CAP_UIDPLUS, NULL},
		{"idle", IMAP_CAP_IDLE, NULL},          {"notify", 0, "NOTIFY"},
		{"special_use", IMAP_CAP_SPECIAL_USE, NULL}, {"list_status", IMAP_CAP_LIST_STATUS, NULL},
		{"list_extended", IMAP_CAP_LIST_EXTENDED, NULL}, {"namespace", IMAP_CAP_NAMESPACE, NULL},
		{"quota", 0, "QUOTA"},                  {"id", 0, "ID"},
		{"utf8_accept", IMAP_CAP_UTF8_ACCEPT, NULL}, {"binary", IMAP_CAP_BINARY, NULL},
		{"partial", IMAP_CAP_PARTIAL, NULL},    {"literal_plus", IMAP_CAP_LITERAL_PLUS, NULL},
		{"imap4rev2", IMAP_CAP_IMAP4REV2, NULL},
	};
	jsonw_key(w, "capabilities");
	jsonw_object(w);
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		jsonw_key(w, flags[i].key);
		jsonw_bool(w, flags[i].bit ? (caps & flags[i].bit) != 0 : has(text, flags[i].name));
	}
	jsonw_key(w, "thread");
	jsonw_array(w);
	for (const char *p = strstr(text, " THREAD="); p; p = strstr(p + 1, " THREAD=")) {
		const char *alg = p + 8;
		jsonw_stringn(w, alg, strcspn(alg, " "));
	}
	jsonw_end_array(w);
	jsonw_end_object(w);
	jsonw_key(w, "server_capabilities");
	jsonw_array(w);
	for (const char *p = text; *p;) {
		p += strspn(p, " ");
		size_t n = strcspn(p, " ");
		if (n)
			jsonw_stringn(w, p, n);
		p += n;
	}
	jsonw_end_array(w);
}

/* "key": {"used", "limit"}, or null when the server counts no such resource. */
static void quota_resource(struct jsonw *w, const char *key, bool has, uint64_t used,
                           uint64_t limit)
{
	jsonw_key(w, key);
	if (!has) {
		jsonw_null(w);
		return;
	}
	jsonw_object(w);
	jsonw_key(w, "used");
	jsonw_uint(w, used);
	jsonw_key(w, "limit");
	jsonw_uint(w, limit);
	jsonw_end_object(w);
}

static void render_quota(struct jsonw *w, const struct imap_account *a)
{
	jsonw_key(w, "quota");
	if (!a->has_quota) {
		jsonw_null(w);
		return;
	}
	const struct imap_quota *q = &a->quota;
	jsonw_object(w);
	jsonw_key(w, "root");
	jsonw_string(w, q->root);
	quota_resource(w, "storage", q->has_storage, q->storage_used, q->storage_limit);
	quota_resource(w, "messages", q->has_messages, q->messages_used, q->messages_limit);
	jsonw_end_object(w);
}

/* "special_use": {"sent": path or null, ...}, the first folder of each use. */
static void render_special_use(struct jsonw *w, const struct imap_folder_list *l)
{
	static const char *const uses[][2] = {
		{"all", "\\All"},   {"archive", "\\Archive"}, {"drafts", "\\Drafts"},
		{"flagged", "\\Flagged"}, {"junk", "\\Junk"}, {"sent", "\\Sent"}, {"trash", "\\Trash"},
	};
	jsonw_key(w, "special_use");
	jsonw_object(w);
	for (size_t u = 0; u < sizeof uses / sizeof uses[0]; u++) {
		const char *path = NULL;
		for (size_t i = 0; i < l->n && !path; i++)
			if (l->v[i].special_use && strcmp(l->v[i].special_use, uses[u][1]) == 0)
				path = l->v[i].path;
		jsonw_key(w, uses[u][0]);
		jsonw_string(w, path);
	}
	jsonw_end_object(w);
}

void api_account_get(const struct api_request *req, struct api_response *resp,
                     const struct api_match *m)
{
	static const char *const known[] = {NULL};
	if (!api_known_params(req, known, resp))
		return;
	struct account_call c = {.deadline = req->deadline};
	imap_buf_init(&c.caps_text, 64 * 1024);
	if (!api_run(req, m, read_account, &c, resp)) {
		imap_account_free(&c.a);
		imap_buf_free(&c.caps_text);
		return;
	}
	const struct imap_account *a = &c.a;
	struct jsonw w;
	api_reply_json(resp, 200, &w);
	jsonw_object(&w);
	render_capabilities(&w, c.caps, c.caps_text.data ? c.caps_text.data : " ");
	jsonw_key(&w, "namespace");
	jsonw_object(&w);
	jsonw_key(&w, "prefix");
	jsonw_string(&w, a->prefix);
	jsonw_key(&w, "delimiter");
	if (a->delimiter)
		jsonw_stringn(&w, &a->delimiter, 1);
	else
		jsonw_null(&w);
	jsonw_end_object(&w);
	render_special_use(&w, &a->folders);
	render_quota(&w, a);
	jsonw_key(&w, "append_limit");
	if (a->has_append_limit)
		jsonw_uint(&w, a->append_limit);
	else
		jsonw_null(&w);
	jsonw_key(&w, "id");
	if (a->has_id) {
		jsonw_object(&w);
		for (size_t i = 0; i < a->nid; i++) {
			jsonw_key_text(&w, a->id[i][0]);
			jsonw_string(&w, a->id[i][1]);
		}
		jsonw_end_object(&w);
	} else {
		jsonw_null(&w);
	}
	jsonw_end_object(&w);
	imap_account_free(&c.a);
	imap_buf_free(&c.caps_text);
}
