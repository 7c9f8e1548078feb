/*
 * imap/folder_ops.c — CREATE, RENAME, SUBSCRIBE, DELETE. See folder_ops.h.
 *
 *   create   = "CREATE" SP mailbox
 *   rename   = "RENAME" SP mailbox SP mailbox
 *   delete   = "DELETE" SP mailbox
 *   subscribe = "SUBSCRIBE" SP mailbox / "UNSUBSCRIBE" SP mailbox
 *   mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
 *
 * What exists is asked with imap_folders_list (one LIST, with LSUB when the
 * server lacks LIST-EXTENDED) rather than inferred from a command's answer:
 * servers word their refusals differently, and only some send the RFC 5530
 * codes (ALREADYEXISTS, NONEXISTENT) that would make that reliable.
 */
#include "imap/folder_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/folders.h"
#include "imap/mail/utf7.h"

/* ---- helpers ---- */

static bool is_inbox(const char *path)
{
	return strcasecmp(path, "INBOX") == 0;
}

static int on_delimiter(void *ctx, const struct imap_response *r)
{
	char *delim = ctx;
	const struct imap_value *d = r->args ? imap_value_at(r->args, 2) : NULL;
	if (r->args && imap_value_is_atom(imap_value_at(r->args, 0), "LIST"))
		*delim = imap_value_is_string(d) && d->len == 1 ? d->str[0] : '\0';
	return 0;
}

/* The hierarchy delimiter: LIST "" "" (RFC 3501 §6.3.8); '\0' when flat. */
static int delimiter_of(struct imap_session *s, char *delim, int64_t deadline,
                        struct imap_error *err)
{
	struct imap_cmd c;
	*delim = '\0';
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "LIST");
	imap_cmd_string(&c, "", 0);
	imap_cmd_string(&c, "", 0);
	int rc = imap_session_run(s, &c, on_delimiter, delim, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

/* A path to act on; a new name (`fresh`) also may not hold the LIST
 * wildcards, which would make it hard to list exactly. */
static int check_path(const char *path, char delim, bool fresh, struct imap_error *err)
{
	size_t len = strlen(path);
	bool ok = len > 0 && imap_utf8_validate(path, len) == 0 && !strpbrk(path, "\r\n") &&
	          !(fresh && strpbrk(path, "%*"));
	if (ok && delim)
		ok = path[0] != delim && path[len - 1] != delim;
	for (size_t i = 0; ok && delim && i + 1 < len; i++)
		ok = !(path[i] == delim && path[i + 1] == delim);
	if (!ok)
		return imap_error_set(err, IMAP_ERR_INVALID,
		                      "'%.200s' is not a folder path: UTF-8 without CR, LF, %% or *, "
		                      "and no empty segment between '%c' delimiters",
		                      path, delim ? delim : '/');
	return 0;
}

/* True when `path` is `top` or inside it. */
static bool under(const char *path, const char *top, char delim)
{
	size_t n = strlen(top);
	return strncmp(path, top, n) == 0 && (path[n] == '\0' || (delim && path[n] == delim));
}

struct probe {
	bool exists;
	bool subscribed;
	bool selectable;
};

static bool has_attr(const struct imap_folder *f, const char *attr)
{
	for (size_t i = 0; i < f->nattrs; i++)
		if (strcasecmp(f->attrs[i], attr) == 0)
			return true;
	return false;
}

/* Whether `path` exists (listed, and not as \NonExistent: LIST-EXTENDED
 * lists a subscribed name whose folder is gone that way). */
static int probe(struct imap_session *s, const char *path, struct probe *p, int64_t deadline,
                 struct imap_error *err)
{
	struct imap_folder_list l;
	memset(p, 0, sizeof *p);
	int rc = imap_folders_list(s, path, false, deadline, &l, err);
	if (rc)
		return rc;
	if (l.n) {
		p->exists = !has_attr(&l.v[0], "\\NonExistent");
		p->subscribed = l.v[0].subscribed;
		p->selectable = l.v[0].selectable;
	}
	imap_folder_list_free(&l);
	return 0;
}

/* A command with one mailbox argument (two for RENAME). */
static int mailbox_cmd(struct imap_session *s, const char *verb, const char *a, const char *b,
                       int64_t deadline, struct imap_error *err)
{
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, verb);
	imap_cmd_mailbox(&c, a, strlen(a));
	if (b)
		imap_cmd_mailbox(&c, b, strlen(b));
	int rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	return rc;
}

static int check_uidvalidity(struct imap_session *s, const char *path, uint32_t uidvalidity,
                             int64_t deadline, struct imap_error *err)
{
	if (!uidvalidity)
		return 0;
	struct imap_folder c;
	int rc = imap_folder_status(s, path, "(MESSAGES UIDVALIDITY)", &c, deadline, err);
	if (rc)
		return rc;
	if (c.uidvalidity != uidvalidity)
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY is %u now, not %u: it is not the folder "
		                      "the caller knew",
		                      c.uidvalidity, uidvalidity);
	return 0;
}

/* Leave a selected folder that is `path` or inside it. EXAMINE of another
 * folder closes the old one without expunging (RFC 3501 §6.3.1, §6.4.2). */
static int deselect_under(struct imap_session *s, const char *path, char delim,
                          int64_t deadline, struct imap_error *err)
{
	const struct imap_mailbox *m = imap_session_mailbox(s);
	if (!m || !under(m->name, path, delim))
		return 0;
	return imap_session_select(s, "INBOX", true, deadline, err);
}

/* The ancestors one call created, shallowest first: what it must remove
 * again when the folder it created them for cannot be made. */
struct made {
	char **paths;
	size_t n;
};

static void made_free(struct made *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->paths[i]);
	free(m->paths);
	memset(m, 0, sizeof *m);
}

/* DELETE what this call created, deepest first, so the hierarchy is left
 * as the call found it; folders that were there before are never touched.
 * Errors are ignored: a listing shows the truth, and a session that broke
 * meanwhile sends nothing. */
static void undo_made(struct imap_session *s, struct made *m, int64_t deadline)
{
	for (size_t i = m->n; i-- > 0 && imap_session_state(s) != IMAP_SESSION_BROKEN;) {
		struct imap_error ignored;
		mailbox_cmd(s, "DELETE", m->paths[i], NULL, deadline, &ignored);
	}
	made_free(m);
}

/* CREATE each missing ancestor of path (not path itself), noting in *made
 * the ones created here. A name the server refuses as a name is
 * IMAP_ERR_INVALID. */
static int create_ancestors(struct imap_session *s, const char *path, char delim,
                            struct made *made, int64_t deadline, struct imap_error *err)
{
	if (!delim)
		return 0;
	int rc = 0;
	for (const char *p = strchr(path, delim); p && !rc; p = strchr(p + 1, delim)) {
		char *prefix = strndup(path, (size_t)(p - path));
		struct probe pr;
		if (!prefix)
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		rc = probe(s, prefix, &pr, deadline, err);
		if (!rc && !pr.exists) {
			rc = mailbox_cmd(s, "CREATE", prefix, NULL, deadline, err);
			if (rc == IMAP_ERR_NO && err && strcmp(err->imap_code, "ALREADYEXISTS") == 0) {
				rc = 0;  /* made meanwhile: what we wanted, but not ours */
			} else if (rc == 0) {
				char **grown = realloc(made->paths, (made->n + 1) * sizeof *grown);
				if (!grown) {
					rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
				} else {
					made->paths = grown;
					made->paths[made->n++] = prefix;
					prefix = NULL;
				}
			}
			rc = imap_session_name_refused(rc, err, path);
		}
		free(prefix);
	}
	return rc;
}

/* ---- the operations ---- */

int imap_folder_create(struct imap_session *s, const char *path, bool subscribe,
                       int64_t deadline, struct imap_error *err)
{
	char delim;
	struct probe pr;
	int rc = delimiter_of(s, &delim, deadline, err);
	if (!rc)
		rc = check_path(path, delim, true, err);
	if (!rc)
		rc = probe(s, path, &pr, deadline, err);
	if (!rc && pr.exists)
		return imap_error_set(err, IMAP_ERR_EXISTS, "the folder %.200s exists already", path);
	struct made made = {0};
	if (!rc)
		rc = create_ancestors(s, path, delim, &made, deadline, err);
	if (!rc) {
		rc = mailbox_cmd(s, "CREATE", path, NULL, deadline, err);
		if (rc == IMAP_ERR_NO && err && strcmp(err->imap_code, "ALREADYEXISTS") == 0) {
			imap_error_set(err, IMAP_ERR_EXISTS, "the folder %.200s exists already", path);
			snprintf(err->imap_code, sizeof err->imap_code, "ALREADYEXISTS");
			rc = IMAP_ERR_EXISTS;
		}
		rc = imap_session_name_refused(rc, err, path);
	}
	if (rc)
		undo_made(s, &made, deadline);
	made_free(&made);
	if (!rc && subscribe) {
		struct imap_error ignored;
		mailbox_cmd(s, "SUBSCRIBE", path, NULL, deadline, &ignored);
	}
	return rc;
}

int imap_folder_rename(struct imap_session *s, const char *from, const char *to,
                       uint32_t uidvalidity, int64_t deadline, struct imap_error *err)
{
	char delim;
	struct probe pf, pt;
	if (is_inbox(from))
		return imap_error_set(err, IMAP_ERR_REFUSED,
		                      "INBOX cannot be renamed: that would move its messages out and "
		                      "leave it empty; move the messages instead");
	int rc = delimiter_of(s, &delim, deadline, err);
	if (!rc)
		rc = check_path(from, delim, false, err);
	if (!rc)
		rc = check_path(to, delim, true, err);
	if (rc)
		return rc;
	if (under(to, from, delim))
		return imap_error_set(err, IMAP_ERR_INVALID, "a folder cannot be renamed into itself");
	if ((rc = probe(s, from, &pf, deadline, err)))
		return rc;
	if (!pf.exists)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", from);
	if (pf.selectable && (rc = check_uidvalidity(s, from, uidvalidity, deadline, err)))
		return rc;
	if (is_inbox(to))
		return imap_error_set(err, IMAP_ERR_EXISTS, "INBOX exists already");
	if ((rc = probe(s, to, &pt, deadline, err)))
		return rc;
	if (pt.exists)
		return imap_error_set(err, IMAP_ERR_EXISTS, "the folder %.200s exists already", to);
	struct made made = {0};
	if ((rc = create_ancestors(s, to, delim, &made, deadline, err)) ||
	    (rc = deselect_under(s, from, delim, deadline, err))) {
		undo_made(s, &made, deadline);
		return rc;
	}
	rc = mailbox_cmd(s, "RENAME", from, to, deadline, err);
	if (rc == IMAP_ERR_NO && err && strcmp(err->imap_code, "ALREADYEXISTS") == 0)
		rc = imap_error_set(err, IMAP_ERR_EXISTS, "the folder %.200s exists already", to);
	else if (rc == IMAP_ERR_NO && err && strcmp(err->imap_code, "NONEXISTENT") == 0)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", from);
	rc = imap_session_name_refused(rc, err, to);
	if (rc) {
		undo_made(s, &made, deadline);
		return rc;
	}
	made_free(&made);
	if (!rc && pf.subscribed) {
		/* Servers differ in whether subscriptions follow a RENAME. */
		struct imap_error ignored;
		mailbox_cmd(s, "SUBSCRIBE", to, NULL, deadline, &ignored);
		mailbox_cmd(s, "UNSUBSCRIBE", from, NULL, deadline, &ignored);
	}
	return rc;
}

int imap_folder_subscribe(struct imap_session *s, const char *path, bool on, int64_t deadline,
                          struct imap_error *err)
{
	struct imap_folder_list l;
	int rc = imap_folders_list(s, path, false, deadline, &l, err);
	if (rc)
		return rc;
	bool listed = l.n > 0, exists = listed && !has_attr(&l.v[0], "\\NonExistent");
	bool subscribed = listed && l.v[0].subscribed;
	imap_folder_list_free(&l);
	if (on && !exists)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", path);
	if (!on && !listed)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", path);
	if (!on && !subscribed)
		return 0;
	return mailbox_cmd(s, on ? "SUBSCRIBE" : "UNSUBSCRIBE", path, NULL, deadline, err);
}

void imap_folder_deleted_free(struct imap_folder_deleted *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->paths[i]);
	free(d->paths);
	memset(d, 0, sizeof *d);
}

struct doomed {
	const struct imap_folder *f;
	size_t depth;  /* delimiters in its path */
};

/* Deepest first, then by name: a child always goes before its parent. */
static int deepest_first(const void *a, const void *b)
{
	const struct doomed *x = a, *y = b;
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return -strcmp(x->f->path, y->f->path);
}

int imap_folder_delete(struct imap_session *s, const char *path, bool force,
                       uint32_t uidvalidity, int64_t deadline,
                       struct imap_folder_deleted *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	if (is_inbox(path))
		return imap_error_set(err, IMAP_ERR_REFUSED, "INBOX cannot be deleted");
	char delim;
	struct imap_folder_list all = {0};
	struct doomed *doomed = NULL;
	bool *subscribed = NULL;
	int rc = delimiter_of(s, &delim, deadline, err);
	if (!rc)
		rc = check_path(path, delim, false, err);
	if (!rc)
		rc = imap_folders_list(s, NULL, false, deadline, &all, err);
	if (rc)
		return rc;

	/* The folder and its sub-folders, sub-folders first. */
	const struct imap_folder *self = NULL;
	size_t n = 0;
	doomed = calloc(all.n + 1, sizeof *doomed);
	subscribed = calloc(all.n + 1, sizeof *subscribed);
	out->paths = calloc(all.n + 1, sizeof *out->paths);
	if (!doomed || !subscribed || !out->paths) {
		rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < all.n; i++) {
		const struct imap_folder *f = &all.v[i];
		if (has_attr(f, "\\NonExistent") || !under(f->path, path, delim))
			continue;
		if (strcmp(f->path, path) == 0) {
			self = f;
			continue;
		}
		doomed[n].f = f;
		for (const char *p = f->path; *p; p++)
			doomed[n].depth += *p == delim;
		n++;
	}
	if (!self) {
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", path);
		goto done;
	}
	struct imap_folder counts = {0};
	if (self->selectable &&
	    (rc = imap_folder_status(s, path, "(MESSAGES UIDVALIDITY)", &counts, deadline, err)))
		goto done;
	if (uidvalidity && counts.uidvalidity != uidvalidity) {
		rc = imap_error_set(err, IMAP_ERR_STALE,
		                    "the folder's UIDVALIDITY is %u now, not %u: it is not the folder "
		                    "the caller knew",
		                    counts.uidvalidity, uidvalidity);
		goto done;
	}
	if (!force && (n || counts.messages)) {
		rc = imap_error_set(err, IMAP_ERR_REFUSED,
		                    "the folder holds %u message%s and %zu sub-folder%s: delete with "
		                    "force=true to delete them all",
		                    counts.messages, counts.messages == 1 ? "" : "s", n,
		                    n == 1 ? "" : "s");
		goto done;
	}
	if (n > 1)
		qsort(doomed, n, sizeof *doomed, deepest_first);
	doomed[n++].f = self;
	if ((rc = deselect_under(s, path, delim, deadline, err)))
		goto done;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = mailbox_cmd(s, "DELETE", doomed[i].f->path, NULL, deadline, err);
		if (rc == 0) {
			subscribed[out->n] = doomed[i].f->subscribed;
			if (!(out->paths[out->n] = strdup(doomed[i].f->path)))
				rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
			else
				out->n++;
		}
	}
	for (size_t i = 0; i < out->n; i++) {
		struct imap_error ignored;
		if (subscribed[i])
			mailbox_cmd(s, "UNSUBSCRIBE", out->paths[i], NULL, deadline, &ignored);
	}
done:
	free(doomed);
	free(subscribed);
	imap_folder_list_free(&all);
	return rc;
}
