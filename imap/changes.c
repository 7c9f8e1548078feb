/*
 * imap/changes.c — a folder's change state and what changed since one.
 * See changes.h.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/changes.h"
#include "imap/folders.h"

int imap_state_of(struct imap_session *s, const char *folder, bool fresh, int64_t deadline,
                  struct imap_state *out, struct imap_error *err)
{
	const struct imap_mailbox *m = imap_session_mailbox(s);
	bool condstore = imap_session_condstore(s);
	bool selected = m && m->name && strcmp(m->name, folder) == 0;
	memset(out, 0, sizeof *out);
	/* Servers answer STATUS of the selected mailbox from what that session
	 * has seen (Dovecot) or from the mailbox itself; a NOOP first brings
	 * the session up to date, one after makes it no older than the answer. */
	int rc = selected && fresh ? imap_session_noop(s, deadline, err) : 0;
	if (rc)
		return rc;
	if (!fresh && selected && m->uidvalidity && m->uidnext && (!condstore || m->highestmodseq)) {
		out->uidvalidity = m->uidvalidity;
		out->uidnext = m->uidnext;
		out->exists = m->exists;
		out->modseq = m->highestmodseq;
		return 0;
	}
	struct imap_folder f;
	rc = imap_folder_status(s, folder,
	                            condstore ? "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
	                                      : "(MESSAGES UIDNEXT UIDVALIDITY)",
	                            &f, deadline, err);
	if (rc)
		return rc;
	if (!f.uidvalidity || !f.uidnext || f.messages >= f.uidnext)
		return imap_error_set(err, IMAP_ERR_PROTOCOL,
		                      "the server's STATUS lacks UIDVALIDITY or UIDNEXT");
	out->uidvalidity = f.uidvalidity;
	out->uidnext = f.uidnext;
	out->exists = f.messages;
	out->modseq = condstore ? f.highestmodseq : 0;
	/* Not selected: the SELECT to come sees at least this. Selected: the
	 * session sees the mailbox as of its last command, and what it reads
	 * next must not be older than the state (changes would be lost). */
	return selected ? imap_session_noop(s, deadline, err) : 0;
}

void imap_changes_free(struct imap_changes *c)
{
	free(c->created);
	free(c->updated);
	free(c->destroyed);
	memset(c, 0, sizeof *c);
}

/* ---- collecting ---- */

struct upsert {
	uint32_t uid;
	uint64_t modseq;
};

struct collect {
	struct upsert *v;
	size_t n, cap;
	uint32_t *gone;          /* VANISHED UIDs below `below` */
	size_t ngone, capgone;
	uint32_t below;
	int err;
};

static int push_upsert(struct collect *c, uint32_t uid, uint64_t modseq)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct upsert *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (struct upsert){uid, modseq};
	return 0;
}

static int push_gone(struct collect *c, uint32_t uid)
{
	if (c->ngone >= IMAP_CHANGES_DESTROYED_MAX)
		return IMAP_ERR_LIMIT;
	if (c->ngone == c->capgone) {
		size_t cap = c->capgone ? c->capgone * 2 : 256;
		uint32_t *v = realloc(c->gone, cap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		c->gone = v;
		c->capgone = cap;
	}
	c->gone[c->ngone++] = uid;
	return 0;
}

static int on_changed(void *ctx, const struct imap_response *r)
{
	struct collect *c = ctx;
	if (c->err)
		return 0;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	if (uid) {
		const struct imap_value *ms = imap_fetch_item(att, "MODSEQ", false);
		uint64_t modseq = 0;
		if (!ms || imap_value_u64(imap_value_first(ms), UINT64_MAX, &modseq))
			modseq = 0;  /* no MODSEQ: ordered first, never lost */
		c->err = push_upsert(c, uid, modseq);
		return 0;
	}
	if (!r->args || r->args->count < 2 || !imap_value_is_atom(imap_value_at(r->args, 0), "VANISHED"))
		return 0;
	const struct imap_value *set = imap_value_at(r->args, r->args->count - 1);
	if (!imap_value_is_string(set))
		return 0;
	size_t pos = 0;
	uint32_t a, b;
	int more;
	while (!c->err && (more = imap_set_next(set->str, set->len, &pos, &a, &b)) == 1) {
		uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
		if (hi >= c->below)
			hi = c->below - 1;  /* new since the state: the client never knew them */
		for (uint64_t u = lo; u <= hi && !c->err; u++)
			c->err = push_gone(c, (uint32_t)u);
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int by_modseq(const void *a, const void *b)
{
	const struct upsert *x = a, *y = b;
	if (x->modseq != y->modseq)
		return x->modseq < y->modseq ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Sort v[0..*n) and drop repeats. */
static void sort_unique(uint32_t *v, size_t *n)
{
	if (*n < 2)
		return;
	qsort(v, *n, sizeof *v, cmp_u32);
	size_t k = 1;
	for (size_t i = 1; i < *n; i++)
		if (v[i] != v[k - 1])
			v[k++] = v[i];
	*n = k;
}

static int cannot(struct imap_changes *out, const char *why)
{
	out->verdict = IMAP_CHANGES_CANNOT;
	out->why = why;
	return 0;
}

/* The count rule (changes.h): destroyed from the present UIDs p[0..n)
 * (ascending). Returns 0 (out->destroyed set, or the verdict CANNOT), or
 * IMAP_ERR_NOMEM. */
static int count_rule(const struct imap_state *since, const uint32_t *p, size_t n,
                      struct imap_changes *out)
{
	if (since->exists == IMAP_STATE_EXISTS_UNKNOWN)
		return cannot(out, "the state comes from a server with QRESYNC, which this one "
		                   "no longer offers");
	size_t old = 0;
	while (old < n && p[old] < since->uidnext)
		old++;
	if (old > since->exists)
		return cannot(out, "the folder holds more of the state's messages than it had");
	uint32_t missing = since->exists - (uint32_t)old;
	if (missing == 0)
		return 0;
	uint64_t gaps = (uint64_t)since->uidnext - 1 - old;
	if (gaps != missing)
		return cannot(out, "messages were removed from a folder whose UIDs have gaps; "
		                   "without QRESYNC the server cannot say which");
	if (missing > IMAP_CHANGES_DESTROYED_MAX)
		return cannot(out, "too many messages were removed to list them");
	out->destroyed = malloc(missing * sizeof *out->destroyed);
	if (!out->destroyed)
		return IMAP_ERR_NOMEM;
	size_t k = 0, i = 0;
	for (uint32_t u = 1; u < since->uidnext && k < missing; u++) {
		if (i < old && p[i] == u)
			i++;
		else
			out->destroyed[k++] = u;
	}
	out->ndestroyed = k;
	return 0;
}

/* UID FETCH 1:* (UID) (CHANGEDSINCE m [VANISHED]) into c. */
static int fetch_changed(struct imap_session *s, uint64_t modseq, bool vanished,
                         struct collect *c, int64_t deadline, struct imap_error *err)
{
	struct imap_cmd cmd;
	imap_session_cmd(s, &cmd);
	imap_cmd_raw(&cmd, "UID FETCH 1:* (UID)");
	imap_cmd_open(&cmd);
	imap_cmd_atom(&cmd, "CHANGEDSINCE");
	imap_cmd_number(&cmd, modseq);
	if (vanished)
		imap_cmd_atom(&cmd, "VANISHED");
	imap_cmd_close(&cmd);
	int rc = imap_session_run(s, &cmd, on_changed, c, deadline, err);
	imap_cmd_free(&cmd);
	if (!rc && c->err == IMAP_ERR_LIMIT)
		return 1;  /* more destroyed than an answer lists */
	if (!rc && c->err)
		rc = imap_error_set(err, c->err, "out of memory");
	return rc;
}

/* Split the upserts of c (sorted by MODSEQ) into created and updated,
 * cutting after `max` as changes.h says; sets out->state to the
 * intermediate state when cut. present[0..npresent) are the current UIDs
 * when known (NULL: QRESYNC). */
static int split(struct collect *c, const struct imap_state *since, uint32_t max,
                 const uint32_t *present, size_t npresent, struct imap_changes *out)
{
	size_t take = c->n;
	if (c->n > max) {
		uint64_t k = c->v[max - 1].modseq;
		take = max;
		if (c->v[max].modseq == k) {
			size_t i = max - 1;
			while (i > 0 && c->v[i - 1].modseq == k)
				i--;
			if (i > 0) {
				take = i;
			} else {  /* one change of more than max messages: whole */
				while (take < c->n && c->v[take].modseq == k)
					take++;
			}
		}
	}
	out->created = malloc((take ? take : 1) * sizeof *out->created);
	out->updated = malloc((take ? take : 1) * sizeof *out->updated);
	if (!out->created || !out->updated)
		return IMAP_ERR_NOMEM;
	for (size_t i = 0; i < take; i++) {
		if (c->v[i].uid >= since->uidnext)
			out->created[out->ncreated++] = c->v[i].uid;
		else
			out->updated[out->nupdated++] = c->v[i].uid;
	}
	sort_unique(out->created, &out->ncreated);
	sort_unique(out->updated, &out->nupdated);
	if (take == c->n)
		return 0;
	/* The rest follows from an intermediate state: its MODSEQ is the last
	 * one taken; its UIDNEXT stays below every new message not taken, so
	 * that one comes as created, not updated. */
	out->has_more = true;
	uint32_t next = out->state.uidnext;
	for (size_t i = take; i < c->n; i++)
		if (c->v[i].uid >= since->uidnext && c->v[i].uid < next)
			next = c->v[i].uid;
	out->state.uidnext = next < since->uidnext ? since->uidnext : next;
	out->state.modseq = c->v[take - 1].modseq;
	if (!present) {
		out->state.exists = IMAP_STATE_EXISTS_UNKNOWN;
	} else {
		uint32_t e = 0;
		for (size_t i = 0; i < npresent && present[i] < out->state.uidnext; i++)
			e++;
		out->state.exists = e;
	}
	return 0;
}

int imap_changes(struct imap_session *s, const char *folder, const struct imap_state *since,
                 uint32_t max, int64_t deadline, struct imap_changes *out,
                 struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	if (max == 0)
		max = 1;
	/* The state first, then the mailbox as it is now: what is read can
	 * only be newer than the state (reported again later), never older. */
	int rc = imap_state_of(s, folder, true, deadline, &out->state, err);
	if (rc || (rc = imap_session_select(s, folder, true, deadline, err)))
		return rc;
	const struct imap_mailbox *m = imap_session_mailbox(s);
	if (out->state.uidvalidity != since->uidvalidity ||
	    (m && m->uidvalidity != out->state.uidvalidity)) {
		out->verdict = IMAP_CHANGES_UIDVALIDITY;
		return 0;
	}
	if (since->uidnext > out->state.uidnext ||
	    (out->state.modseq && since->modseq > out->state.modseq))
		return cannot(out, "the state is not one this folder had");

	bool modseqs = imap_session_condstore(s) && since->modseq && out->state.modseq;
	bool qresync = modseqs && imap_session_qresync(s);
	out->method = qresync ? IMAP_CHANGES_QRESYNC
	              : modseqs ? IMAP_CHANGES_CONDSTORE : IMAP_CHANGES_SEARCH;
	if (modseqs && since->modseq == out->state.modseq && since->uidnext == out->state.uidnext &&
	    since->exists == out->state.exists)
		return 0;  /* nothing happened: no change leaves MODSEQ as it was */

	struct collect c = {.below = since->uidnext};
	uint32_t *present = NULL;
	size_t npresent = 0;
	if (modseqs) {
		rc = fetch_changed(s, since->modseq, qresync, &c, deadline, err);
		if (rc == 1) {
			rc = cannot(out, "too many messages were removed to list them");
			goto done;
		}
		if (rc)
			goto done;
	}
	if (!qresync) {
		struct imap_filter all = {0};
		if ((rc = imap_messages_search(s, &all, deadline, &present, &npresent, err)))
			goto done;
		if ((rc = count_rule(since, present, npresent, out)) || out->verdict)
			goto done;
	} else {
		out->destroyed = c.gone;
		out->ndestroyed = c.ngone;
		c.gone = NULL;
		sort_unique(out->destroyed, &out->ndestroyed);
	}
	if (!modseqs) {
		/* No MODSEQ to compare: each message that was there may have
		 * changed; the new ones are created. */
		if (npresent > max) {
			rc = cannot(out, "more messages than max_changes, on a server without CONDSTORE");
			goto done;
		}
		for (size_t i = 0; i < npresent; i++)
			if ((rc = push_upsert(&c, present[i], 0)))
				goto done;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, by_modseq);
	rc = split(&c, since, max, present, npresent, out);
done:
	if (rc == IMAP_ERR_NOMEM)
		rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	free(c.v);
	free(c.gone);
	free(present);
	if (rc || out->verdict != IMAP_CHANGES_OK) {
		enum imap_changes_verdict v = out->verdict;
		const char *why = out->why;
		imap_changes_free(out);
		out->verdict = v;
		out->why = why;
	}
	return rc;
}
