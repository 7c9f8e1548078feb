/*
 * imap/folders.c — LIST, LSUB, STATUS into a folder list. See folders.h.
 *
 *   mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
 *                  [SP mbox-list-extended]                       ; RFC 3501, RFC 5258
 *   status-response = "STATUS" SP mailbox SP "(" [status-att-list] ")"
 */
#include "imap/folders.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/utf7.h"

struct collect {
	struct imap_session *s;
	struct imap_folder_list *out;
	size_t cap;
	bool lsub;          /* responses are LSUB (subscription) lines */
	const char *only;   /* keep only this UTF-8 path */
	int err;
};

static struct imap_folder *find_raw(struct imap_folder_list *l, const char *raw, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i].raw) == len && memcmp(l->v[i].raw, raw, len) == 0)
			return &l->v[i];
	return NULL;
}

static const char *special_use_of(const char *attr)
{
	static const char *const uses[] = {"\\All", "\\Archive", "\\Drafts", "\\Flagged",
	                                   "\\Junk", "\\Sent", "\\Trash"};
	static const struct { const char *xlist; const char *use; } xlist[] = {
		{"\\AllMail", "\\All"}, {"\\Spam", "\\Junk"}, {"\\Starred", "\\Flagged"},
	};
	for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++)
		if (strcasecmp(attr, uses[i]) == 0)
			return uses[i];
	for (size_t i = 0; i < sizeof xlist / sizeof xlist[0]; i++)
		if (strcasecmp(attr, xlist[i].xlist) == 0)
			return xlist[i].use;
	return NULL;
}

void imap_folder_status_apply(struct imap_folder *f, const struct imap_value *items)
{
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(items, v, i) {
		if (i + 1 >= items->count)
			break;
		const struct imap_value *num = imap_value_next(v);
		uint64_t n;
		if (imap_value_is_atom(v, "HIGHESTMODSEQ")) {
			if (imap_value_u64(num, UINT64_MAX, &n) == 0)
				f->highestmodseq = n;
		} else if (imap_value_u64(num, UINT32_MAX, &n) == 0) {
			if (imap_value_is_atom(v, "MESSAGES"))
				f->messages = (uint32_t)n;
			else if (imap_value_is_atom(v, "UNSEEN"))
				f->unseen = (uint32_t)n;
			else if (imap_value_is_atom(v, "UIDNEXT"))
				f->uidnext = (uint32_t)n;
			else if (imap_value_is_atom(v, "UIDVALIDITY"))
				f->uidvalidity = (uint32_t)n;
			f->has_status = true;
		}
		v = num;
		i++;
	}
}

/* The STATUS items of a folder with counts: HIGHESTMODSEQ too once
 * CONDSTORE is enabled, for the folder's change state. */
static const char *status_items(const struct imap_session *s)
{
	return imap_session_condstore(s) ? "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
	                                 : "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)";
}

static int add_folder(struct collect *c, const struct imap_value *args)
{
	const struct imap_value *attrs = imap_value_at(args, 1);
	const struct imap_value *delim = imap_value_at(args, 2);
	const struct imap_value *name = imap_value_at(args, 3);
	if (!attrs || attrs->kind != IMAP_VALUE_LIST || !imap_value_is_string(name))
		return 0;  /* not a mailbox-list: ignore rather than fail the listing */

	if (c->lsub) {
		struct imap_folder *f = find_raw(c->out, name->str, name->len);
		if (f)
			f->subscribed = true;
		return 0;
	}
	struct imap_buf path;
	imap_buf_init(&path, 0);
	int rc;
	if (name->len == 5 && strncasecmp(name->str, "INBOX", 5) == 0)
		rc = imap_buf_puts(&path, "INBOX");
	else
		rc = imap_session_mailbox_decode(c->s, name->str, name->len, &path);
	if (rc == IMAP_ERR_INVALID) {
		/* Not valid modified UTF-7: show it as sent when it is UTF-8. */
		if (imap_utf8_validate(name->str, name->len) != 0)
			return 0;
		rc = imap_buf_append(&path, name->str, name->len);
	}
	if (rc || (c->only && strcmp(path.data ? path.data : "", c->only) != 0)) {
		imap_buf_free(&path);
		return rc;
	}
	if (c->out->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct imap_folder *v = realloc(c->out->v, cap * sizeof *v);
		if (!v) {
			imap_buf_free(&path);
			return IMAP_ERR_NOMEM;
		}
		c->out->v = v;
		c->cap = cap;
	}
	struct imap_folder *f = &c->out->v[c->out->n];
	memset(f, 0, sizeof *f);
	f->path = imap_buf_steal(&path);
	f->raw = strndup(name->str, name->len);
	f->delimiter = imap_value_is_string(delim) && delim->len == 1 ? delim->str[0] : '\0';
	f->selectable = true;
	f->attrs = calloc(attrs->count ? attrs->count : 1, sizeof *f->attrs);
	if (!f->path || !f->raw || !f->attrs) {
		free(f->path);
		free(f->raw);
		free(f->attrs);
		return IMAP_ERR_NOMEM;
	}
	c->out->n++;
	const struct imap_value *a;
	size_t i;
	IMAP_LIST_FOREACH(attrs, a, i) {
		if (!imap_value_is_string(a))
			continue;
		if (a->len == 11 && strncasecmp(a->str, "\\Subscribed", 11) == 0) {
			/* LIST-EXTENDED's attribute: reported as `subscribed` only, so the
			 * answer is the same whether the server has the extension or not */
			f->subscribed = true;
			continue;
		}
		if ((a->len == 7 && strncasecmp(a->str, "\\Marked", 7) == 0) ||
		    (a->len == 9 && strncasecmp(a->str, "\\Unmarked", 9) == 0)) {
			/* RFC 3501 §7.2.2 hints ("new mail since last selected") that
			 * differ between two identical LISTs and between servers: not
			 * a property of the folder, left out */
			continue;
		}
		f->attrs[f->nattrs] = strndup(a->str, a->len);
		if (!f->attrs[f->nattrs])
			return IMAP_ERR_NOMEM;
		const char *attr = f->attrs[f->nattrs++];
		if (strcasecmp(attr, "\\Noselect") == 0 || strcasecmp(attr, "\\NonExistent") == 0)
			f->selectable = false;
		else if (!f->special_use)
			f->special_use = special_use_of(attr);
	}
	return 0;
}

static int on_list(void *ctx, const struct imap_response *r)
{
	struct collect *c = ctx;
	const struct imap_value *kw = imap_value_at(r->args, 0);
	int rc = 0;
	if (imap_value_is_atom(kw, "LIST") || imap_value_is_atom(kw, "LSUB") ||
	    imap_value_is_atom(kw, "XLIST")) {
		rc = add_folder(c, r->args);
	} else if (imap_value_is_atom(kw, "STATUS")) {
		const struct imap_value *name = imap_value_at(r->args, 1);
		const struct imap_value *items = imap_value_at(r->args, 2);
		struct imap_folder *f = imap_value_is_string(name) ? find_raw(c->out, name->str, name->len)
		                                                   : NULL;
		if (f && items && items->kind == IMAP_VALUE_LIST)
			imap_folder_status_apply(f, items);
	}
	if (rc && !c->err)
		c->err = rc;
	return 0;
}

/* Special use by name, for servers that mark none (RFC 6154 absent). */
static void special_use_by_name(struct imap_folder_list *l)
{
	static const struct { const char *name; const char *use; } names[] = {
		{"Sent", "\\Sent"}, {"Sent Items", "\\Sent"}, {"Sent Messages", "\\Sent"},
		{"Sent Mail", "\\Sent"}, {"Trash", "\\Trash"}, {"Deleted Items", "\\Trash"},
		{"Deleted Messages", "\\Trash"}, {"Bin", "\\Trash"}, {"Drafts", "\\Drafts"},
		{"Junk", "\\Junk"}, {"Junk E-mail", "\\Junk"}, {"Junk Email", "\\Junk"},
		{"Spam", "\\Junk"}, {"Bulk Mail", "\\Junk"}, {"Archive", "\\Archive"},
		{"Archives", "\\Archive"}, {"All Mail", "\\All"}, {"Starred", "\\Flagged"},
	};
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].special_use)
			return;
	for (size_t i = 0; i < l->n; i++) {
		struct imap_folder *f = &l->v[i];
		const char *leaf = imap_folder_name(f);
		/* top level, or directly under INBOX (Courier puts all there) */
		bool top = leaf == f->path || (strncasecmp(f->path, "INBOX", 5) == 0 &&
		                              leaf == f->path + 6);
		for (size_t k = 0; top && k < sizeof names / sizeof names[0]; k++)
			if (strcasecmp(leaf, names[k].name) == 0)
				f->special_use = names[k].use;
	}
}

static int by_path(const void *a, const void *b)
{
	const struct imap_folder *x = a, *y = b;
	bool xi = strcmp(x->path, "INBOX") == 0, yi = strcmp(y->path, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* The LIST pattern for one folder: its wire name with % and * (wildcards)
 * replaced by %, then results are filtered by exact name. */
static void add_pattern(struct imap_cmd *c, const char *name)
{
	if (!name) {
		imap_cmd_string(c, "*", 1);
		return;
	}
	char *pat = strdup(name);
	if (!pat) {
		imap_cmd_string(c, "*", 1);  /* filtered afterwards anyway */
		return;
	}
	for (char *p = pat; *p; p++)
		if (*p == '*')
			*p = '%';
	imap_cmd_mailbox(c, pat, strlen(pat));
	free(pat);
}

int imap_folders_list(struct imap_session *s, const char *name, bool counts, int64_t deadline,
                      struct imap_folder_list *out, struct imap_error *err)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	memset(out, 0, sizeof *out);
	struct collect c = {.s = s, .out = out, .only = name};

	if (caps & IMAP_CAP_LIST_EXTENDED) {
		/* RFC 5258 / 6154 / 5819: everything in one round trip. */
		struct imap_cmd cmd;
		imap_session_cmd(s, &cmd);
		imap_cmd_atom(&cmd, "LIST");
		imap_cmd_string(&cmd, "", 0);
		add_pattern(&cmd, name);
		/* return-option list, RFC 5258 §3 (no space after "(" or before ")";
		 * Cyrus refuses the command otherwise):
		 *   list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")" */
		imap_cmd_atom(&cmd, "RETURN");
		imap_cmd_open(&cmd);
		imap_cmd_atom(&cmd, "SUBSCRIBED");
		imap_cmd_atom(&cmd, "CHILDREN");
		if (caps & IMAP_CAP_SPECIAL_USE)
			imap_cmd_atom(&cmd, "SPECIAL-USE");
		if (counts && (caps & IMAP_CAP_LIST_STATUS)) {
			imap_cmd_atom(&cmd, "STATUS");
			imap_cmd_raw(&cmd, status_items(s));
		}
		imap_cmd_close(&cmd);
		rc = imap_session_run(s, &cmd, on_list, &c, deadline, err);
		imap_cmd_free(&cmd);
	} else {
		struct imap_cmd cmds[2];
		int results[2];
		for (int i = 0; i < 2; i++) {
			imap_session_cmd(s, &cmds[i]);
			imap_cmd_atom(&cmds[i], i ? "LSUB" : "LIST");
			imap_cmd_string(&cmds[i], "", 0);
			add_pattern(&cmds[i], name);
		}
		/* LIST answers arrive before LSUB's: subscriptions apply to them. */
		rc = imap_session_run_pipelined(s, cmds, 1, on_list, &c, results, deadline, err);
		if (!rc && results[0] == 0) {
			c.lsub = true;
			rc = imap_session_run_pipelined(s, cmds + 1, 1, on_list, &c, results + 1, deadline, err);
			c.lsub = false;
		} else if (!rc) {
			rc = imap_error_set(err, results[0], "LIST refused");
		}
		imap_cmd_free(&cmds[0]);
		imap_cmd_free(&cmds[1]);
	}
	if (!rc && c.err)
		rc = imap_error_set(err, c.err, "cannot build the folder list: %s", imap_strerror(c.err));

	bool need_status = counts && !rc;
	for (size_t i = 0; need_status && i < out->n; i++)
		need_status = !out->v[i].has_status;
	if (need_status && out->n) {
		/* No LIST-STATUS: one pipelined STATUS per selectable folder. */
		struct imap_cmd *cmds = calloc(out->n, sizeof *cmds);
		int *results = calloc(out->n, sizeof *results);
		size_t n = 0;
		if (!cmds || !results)
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		for (size_t i = 0; !rc && i < out->n; i++) {
			if (!out->v[i].selectable)
				continue;
			imap_session_cmd(s, &cmds[n]);
			imap_cmd_atom(&cmds[n], "STATUS");
			imap_cmd_astring(&cmds[n], out->v[i].raw, strlen(out->v[i].raw));
			imap_cmd_raw(&cmds[n], status_items(s));
			n++;
		}
		if (!rc && n)
			rc = imap_session_run_pipelined(s, cmds, n, on_list, &c, results, deadline, err);
		for (size_t i = 0; i < n; i++)
			imap_cmd_free(&cmds[i]);
		free(cmds);
		free(results);
	}
	if (rc) {
		imap_folder_list_free(out);
		return rc;
	}
	special_use_by_name(out);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, by_path);
	return 0;
}

void imap_folder_list_free(struct imap_folder_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct imap_folder *f = &l->v[i];
		for (size_t k = 0; k < f->nattrs; k++)
			free(f->attrs[k]);
		free(f->attrs);
		free(f->path);
		free(f->raw);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const char *imap_folder_name(const struct imap_folder *f)
{
	if (!f->delimiter)
		return f->path;
	const char *leaf = strrchr(f->path, f->delimiter);
	return leaf ? leaf + 1 : f->path;
}

static int on_one_status(void *ctx, const struct imap_response *r)
{
	const struct imap_value *items = r->args ? imap_value_at(r->args, 2) : NULL;
	if (r->args && imap_value_is_atom(imap_value_at(r->args, 0), "STATUS") && items &&
	    items->kind == IMAP_VALUE_LIST)
		imap_folder_status_apply(ctx, items);
	return 0;
}

int imap_folder_status(struct imap_session *s, const char *path, const char *items,
                       struct imap_folder *out, int64_t deadline, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "STATUS");
	imap_cmd_mailbox(&c, path, strlen(path));
	imap_cmd_raw(&c, items);
	int rc = imap_session_name_refused(imap_session_run(s, &c, on_one_status, out, deadline, err),
	                                   err, path);
	imap_cmd_free(&c);
	if (rc == IMAP_ERR_NO)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", path);
	return rc;
}
