/*
 * imap/account.c — NAMESPACE, GETQUOTAROOT, ID and the folder list into
 * the facts of an account. See account.h.
 *
 *   namespace-response = "NAMESPACE" SP namespace SP namespace SP namespace
 *   namespace          = nil / "(" 1*( "(" string SP
 *                        (DQUOTE QUOTED-CHAR DQUOTE / nil) ... ")" ) ")"
 *   quotaroot_response = "QUOTAROOT" SP astring *(SP astring)      ; RFC 9208
 *   quota_response     = "QUOTA" SP astring SP quota_list
 *   quota_list         = "(" quota_resource *(SP quota_resource) ")"
 *   quota_resource     = atom SP number SP number                  ; name usage limit
 *   id-response        = "ID" SP id-params-list                     ; RFC 2971
 */
#include "imap/account.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/utf7.h"

struct collect {
	struct imap_session *s;
	struct imap_account *out;
	bool quota_seen;
	int err;
};

static char *dup_value(const struct imap_value *v)
{
	return strndup(v->str, v->len);
}

static void on_namespace(struct collect *c, const struct imap_value *args)
{
	const struct imap_value *personal = imap_value_at(args, 1);
	const struct imap_value *first = personal && personal->kind == IMAP_VALUE_LIST
	                                         ? imap_value_at(personal, 0)
	                                         : NULL;
	if (!first || first->kind != IMAP_VALUE_LIST)
		return;
	const struct imap_value *prefix = imap_value_at(first, 0);
	const struct imap_value *delim = imap_value_at(first, 1);
	if (!imap_value_is_string(prefix))
		return;
	struct imap_buf b;
	imap_buf_init(&b, 4096);
	if (imap_session_mailbox_decode(c->s, prefix->str, prefix->len, &b) != 0) {
		imap_buf_free(&b);
		return;
	}
	free(c->out->prefix);
	c->out->prefix = b.data ? imap_buf_steal(&b) : strdup("");
	c->out->delimiter = imap_value_is_string(delim) && delim->len == 1 ? delim->str[0] : '\0';
	c->out->has_namespace = c->out->prefix != NULL;
}

static void on_quota(struct collect *c, const struct imap_value *args)
{
	const struct imap_value *root = imap_value_at(args, 1);
	const struct imap_value *list = imap_value_at(args, 2);
	if (c->quota_seen || !imap_value_is_string(root) || !list || list->kind != IMAP_VALUE_LIST)
		return;
	struct imap_quota *q = &c->out->quota;
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(list, v, i) {
		if (i + 2 >= list->count)
			break;
		const struct imap_value *used = imap_value_next(v), *limit = imap_value_next(used);
		uint64_t u, l;
		if (imap_value_u64(used, UINT64_MAX >> 10, &u) == 0 &&
		    imap_value_u64(limit, UINT64_MAX >> 10, &l) == 0) {
			if (imap_value_is_atom(v, "STORAGE")) {
				q->has_storage = true;
				q->storage_used = u * 1024;
				q->storage_limit = l * 1024;
			} else if (imap_value_is_atom(v, "MESSAGE")) {
				q->has_messages = true;
				q->messages_used = u;
				q->messages_limit = l;
			}
		}
		v = limit;
		i += 2;
	}
	if (!(q->root = dup_value(root))) {
		c->err = IMAP_ERR_NOMEM;
		return;
	}
	c->quota_seen = true;
	c->out->has_quota = true;
}

static void on_id(struct collect *c, const struct imap_value *args)
{
	const struct imap_value *list = imap_value_at(args, 1);
	struct imap_account *a = c->out;
	a->has_id = true;
	if (!list || list->kind != IMAP_VALUE_LIST)
		return;  /* ID NIL: offered, nothing said */
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(list, v, i) {
		if (i + 1 >= list->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		bool dup = false;
		for (size_t k = 0; imap_value_is_string(v) && k < a->nid && !dup; k++)
			dup = strlen(a->id[k][0]) == v->len && strncasecmp(a->id[k][0], v->str, v->len) == 0;
		if (!dup && imap_value_is_string(v) && a->nid < IMAP_ACCOUNT_ID_MAX &&
		    imap_utf8_validate(v->str, v->len) == 0 &&
		    (!imap_value_is_string(val) || imap_utf8_validate(val->str, val->len) == 0)) {
			a->id[a->nid][0] = dup_value(v);
			a->id[a->nid][1] = imap_value_is_string(val) ? dup_value(val) : NULL;
			if (!a->id[a->nid][0] || (imap_value_is_string(val) && !a->id[a->nid][1])) {
				free(a->id[a->nid][0]);
				free(a->id[a->nid][1]);
				c->err = IMAP_ERR_NOMEM;
				return;
			}
			a->nid++;
		}
		v = val;
		i++;
	}
}

static int on_untagged(void *ctx, const struct imap_response *r)
{
	struct collect *c = ctx;
	const struct imap_value *kw = imap_value_at(r->args, 0);
	if (imap_value_is_atom(kw, "NAMESPACE"))
		on_namespace(c, r->args);
	else if (imap_value_is_atom(kw, "QUOTA"))
		on_quota(c, r->args);
	else if (imap_value_is_atom(kw, "ID"))
		on_id(c, r->args);
	return 0;
}

/* APPENDLIMIT=n among the capabilities (RFC 7889); without "=n" the
 * limits are per folder and none is the account's. */
static void append_limit(struct imap_session *s, struct imap_account *a)
{
	const char *caps = imap_session_caps_text(s);
	const char *p = strstr(caps, " APPENDLIMIT=");
	if (!p)
		return;
	p += 13;
	uint64_t n = 0;
	size_t digits = 0;
	while (p[digits] >= '0' && p[digits] <= '9' && digits < 20)
		n = n * 10 + (uint64_t)(p[digits++] - '0');
	if (digits && digits < 20 && p[digits] == ' ') {
		a->has_append_limit = true;
		a->append_limit = n;
	}
}

int imap_account_get(struct imap_session *s, int64_t deadline, struct imap_account *out,
                     struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	struct imap_cmd cmds[3];
	size_t n = 0;
	if (caps & IMAP_CAP_NAMESPACE) {
		imap_session_cmd(s, &cmds[n]);
		imap_cmd_atom(&cmds[n++], "NAMESPACE");
	}
	if (imap_session_has_cap(s, "QUOTA")) {
		imap_session_cmd(s, &cmds[n]);
		imap_cmd_atom(&cmds[n], "GETQUOTAROOT");
		imap_cmd_atom(&cmds[n++], "INBOX");
	}
	if (imap_session_has_cap(s, "ID")) {
		imap_session_cmd(s, &cmds[n]);
		imap_cmd_atom(&cmds[n], "ID");
		imap_cmd_atom(&cmds[n++], "NIL");
	}
	struct collect c = {.s = s, .out = out};
	int results[3] = {0};
	if (n)
		rc = imap_session_run_pipelined(s, cmds, n, on_untagged, &c, results, deadline, err);
	for (size_t i = 0; i < n; i++)
		imap_cmd_free(&cmds[i]);
	if (!rc && c.err)
		rc = imap_error_set(err, c.err, "out of memory");
	if (!rc)
		rc = imap_folders_list(s, NULL, false, deadline, &out->folders, err);
	if (rc) {
		imap_account_free(out);
		return rc;
	}
	if (!out->has_namespace) {
		/* No NAMESPACE: no prefix, and INBOX's delimiter is the account's */
		free(out->prefix);
		out->prefix = strdup("");
		for (size_t i = 0; i < out->folders.n; i++)
			if (strcmp(out->folders.v[i].path, "INBOX") == 0)
				out->delimiter = out->folders.v[i].delimiter;
		if (!out->prefix) {
			imap_account_free(out);
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		}
	}
	append_limit(s, out);
	return 0;
}

void imap_account_free(struct imap_account *a)
{
	free(a->prefix);
	free(a->quota.root);
	for (size_t i = 0; i < a->nid; i++) {
		free(a->id[i][0]);
		free(a->id[i][1]);
	}
	imap_folder_list_free(&a->folders);
	memset(a, 0, sizeof *a);
}
