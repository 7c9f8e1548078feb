/*
 * imap/threads.c — a folder's conversations, by the server's THREAD or
 * here. See threads.h.
 *
 *   thread-data   = "THREAD" [SP 1*thread-list]                ; RFC 5256
 *   thread-list   = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested = 2*thread-list
 */
#include "imap/threads.h"

#include <stdlib.h>
#include <string.h>


struct thread_read {
	struct imap_folder_threads *out;
	int err;
};

static int by_uid(const void *a, const void *b)
{
	const struct imap_match *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* One thread-list under parent: its numbers form a chain, its nested
 * lists hang under the last number (under a dummy when it has none). */
static int read_list(struct thread_read *r, const struct imap_value *list, long parent)
{
	const struct imap_value *v;
	size_t i;
	long at = parent;
	bool numbers = false;
	IMAP_LIST_FOREACH(list, v, i) {
		if (v->kind == IMAP_VALUE_LIST) {
			if (!numbers && at == parent) {
				at = imap_threads_add(&r->out->t, -1, parent);
				if (at < 0)
					return IMAP_ERR_NOMEM;
				numbers = true;  /* the dummy stands for them */
			}
			int rc = read_list(r, v, at);
			if (rc)
				return rc;
			continue;
		}
		uint64_t uid;
		if (imap_value_u64(v, UINT32_MAX, &uid) || uid == 0)
			return IMAP_ERR_PROTOCOL;
		struct imap_match key = {.uid = (uint32_t)uid};
		const struct imap_match *m = bsearch(&key, r->out->m, r->out->n, sizeof key, by_uid);
		/* a message expunged meanwhile stays in the tree as a dummy */
		long node = imap_threads_add(&r->out->t, m ? (long)(m - r->out->m) : -1, at);
		if (node < 0)
			return IMAP_ERR_NOMEM;
		at = node;
		numbers = true;
	}
	return 0;
}

static int on_thread(void *ctx, const struct imap_response *r)
{
	struct thread_read *t = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "THREAD"))
		return 0;
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(r->args, v, i) {
		if (i == 0 || t->err)
			continue;
		if (v->kind != IMAP_VALUE_LIST)
			t->err = IMAP_ERR_PROTOCOL;
		else
			t->err = read_list(t, v, -1);
	}
	return 0;
}

void imap_thread_msg_of(const struct imap_summary *m, struct imap_thread_msg *out)
{
	out->message_id = m->env.message_id;
	out->references = m->references;
	out->in_reply_to = m->env.in_reply_to;
	out->subject = m->env.subject;
	out->date = m->env.has_date ? m->env.date : m->has_internaldate ? m->internaldate : 0;
}

/* Threaded here: the newest max messages' summaries. */
static int thread_locally(struct imap_session *s, const char *folder, size_t max,
                          int64_t deadline, struct imap_folder_threads *out,
                          struct imap_error *err)
{
	if (out->n > max) {
		memmove(out->m, out->m + (out->n - max), max * sizeof *out->m);
		out->n = max;
	}
	uint32_t *uids = malloc((out->n ? out->n : 1) * sizeof *uids);
	if (!uids)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < out->n; i++)
		uids[i] = out->m[i].uid;
	struct imap_page p;
	int rc = imap_messages_fetch(s, folder, uids, out->n, deadline, &p, err);
	free(uids);
	if (rc)
		return rc;
	/* the messages fetched, in the order of m (ascending UID: mailbox order) */
	struct imap_thread_msg *in = calloc(p.n ? p.n : 1, sizeof *in);
	if (!in) {
		imap_page_free(&p);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++) {
		for (size_t j = 0; j < p.n; j++) {
			if (p.msgs[j].uid != out->m[i].uid)
				continue;
			imap_thread_msg_of(&p.msgs[j], &in[k]);
			out->m[k++] = out->m[i];
			break;
		}
	}
	out->n = k;
	if (imap_thread_references(in, k, &out->t) != 0)
		rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	free(in);
	imap_page_free(&p);
	return rc;
}

int imap_threads_folder(struct imap_session *s, const char *folder, size_t max,
                        int64_t deadline, struct imap_folder_threads *out,
                        struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	out->t.first = -1;
	struct imap_filter all = {0};
	struct imap_matches m;
	int rc = imap_messages_matches(s, folder, &all, deadline, &m, err);
	if (rc)
		return rc;
	out->uidvalidity = m.uidvalidity;
	out->m = m.v;
	out->n = m.n;
	uint32_t caps = 0;
	if ((rc = imap_session_caps(s, &caps, deadline, err)) != 0) {
		imap_folder_threads_free(out);
		return rc;
	}
	if (!(caps & IMAP_CAP_THREAD_REFERENCES)) {
		rc = thread_locally(s, folder, max, deadline, out, err);
		if (rc)
			imap_folder_threads_free(out);
		return rc;
	}
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, "UID THREAD REFERENCES UTF-8 ALL");
	struct thread_read r = {.out = out};
	rc = imap_session_run(s, &c, on_thread, &r, deadline, err);
	imap_cmd_free(&c);
	if (!rc && r.err)
		rc = imap_error_set(err, r.err == IMAP_ERR_NOMEM ? IMAP_ERR_NOMEM : IMAP_ERR_PROTOCOL,
		                    "cannot read the THREAD answer");
	if (rc) {
		imap_folder_threads_free(out);
		return rc;
	}
	out->by_server = true;
	return 0;
}

void imap_folder_threads_free(struct imap_folder_threads *f)
{
	imap_threads_free(&f->t);
	free(f->m);
	memset(f, 0, sizeof *f);
	f->t.first = -1;
}
