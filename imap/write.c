/*
 * imap/write.c — flags, copy and move, delete, append. See write.h for the
 * rules; this file explains the choices.
 *
 *   store         = "STORE" SP sequence-set SP store-att-flags
 *   store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
 *   resp-code-apnd = "APPENDUID" SP nz-number SP append-uid          ; RFC 4315
 *   resp-code-copy = "COPYUID" SP nz-number SP uid-set SP uid-set
 *   uid-set        = (uniqueid / uid-range) *("," uid-set)
 *   uid-range      = (uniqueid ":" uniqueid)   ; two uniqueid values and all
 *                                              ; values between these two regardless of order
 *   append         = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
 *
 * Why the flags are read back with a separate UID FETCH instead of taking
 * the untagged FETCH of a non-silent STORE: a server sends that FETCH only
 * for messages whose flags changed (Dovecot sends none when +FLAGS adds a
 * flag that is already there), so the answer would be missing exactly when
 * nothing changed. And STORE and FETCH of the same flags are not pipelined:
 * RFC 3501 §5.5 forbids it (the server may run them in either order).
 */
#include "imap/write.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/folders.h"
#include "imap/mail/date.h"

#define MESSAGE_ID_MAX 998  /* one header line (RFC 5322 §2.1.1) */

/* ---- flags ---- */

static const char *const system_flags[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                                           "\\Draft"};

int imap_flag_check(const char *flag, const char **canonical)
{
	size_t len = flag ? strlen(flag) : 0;
	if (len == 0 || len > IMAP_FLAG_MAX)
		return IMAP_ERR_INVALID;
	if (flag[0] == '\\') {
		for (size_t i = 0; i < sizeof system_flags / sizeof system_flags[0]; i++) {
			if (strcasecmp(flag, system_flags[i]) == 0) {
				if (canonical)
					*canonical = system_flags[i];
				return 0;
			}
		}
		return IMAP_ERR_INVALID;  /* \Recent, \*, or not a system flag */
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)flag[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return IMAP_ERR_INVALID;
	}
	if (canonical)
		*canonical = flag;
	return 0;
}

/* ---- UIDs ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* uids[0..n) sorted, without duplicates and zeros, into a new array of
 * *nout; NULL when out of memory. */
static uint32_t *distinct(const uint32_t *uids, size_t n, size_t *nout)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (uids[i])
			v[k++] = uids[i];
	if (k > 1)
		qsort(v, k, sizeof *v, cmp_u32);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	*nout = m;
	return v;
}

/* A sequence set for ascending UIDs: runs become "a:b". */
static int uid_set(const uint32_t *uids, size_t n, struct imap_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (j > i)
			rc = imap_buf_printf(out, "%s%u:%u", out->len ? "," : "", uids[i], uids[j]);
		else
			rc = imap_buf_printf(out, "%s%u", out->len ? "," : "", uids[i]);
		i = j + 1;
	}
	return rc;
}

/* Expand a uid-set from a response into *v (ranges ascending, as RFC 4315
 * defines them), or only count its UIDs when v is NULL. At most `max` UIDs:
 * a set larger than the request it answers is not believed
 * (IMAP_ERR_PROTOCOL). */
static int expand_set(const char *s, size_t len, size_t max, uint32_t **v, size_t *n)
{
	size_t cap = 0, pos = 0;
	uint32_t a, b;
	int more;
	if (v)
		*v = NULL;
	*n = 0;
	while ((more = imap_set_next(s, len, &pos, &a, &b)) == 1) {
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
		if (hi - lo + 1 > max - *n)
			return IMAP_ERR_PROTOCOL;
		if (!v) {
			*n += (size_t)(hi - lo + 1);
			continue;
		}
		if (*n + (hi - lo + 1) > cap) {
			cap = *n + (size_t)(hi - lo + 1);
			uint32_t *nv = realloc(*v, cap * sizeof *nv);
			if (!nv)
				return IMAP_ERR_NOMEM;
			*v = nv;
		}
		for (uint64_t u = lo; u <= hi; u++)
			(*v)[(*n)++] = (uint32_t)u;
	}
	return more < 0 ? more : *n ? 0 : IMAP_ERR_PROTOCOL;
}

/* ---- FETCH responses ---- */

/* The Message-ID in a header block h[0..len) (unfolded, the part in angle
 * brackets), as a new string; NULL when there is none, it is unusable or
 * memory ran out (the caller then simply cannot look the message up). Stops
 * at the empty line that ends the header. */
static char *message_id_of(const char *h, size_t len)
{
	static const char name[] = "Message-ID:";
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		size_t line = eol - i - (eol > i && h[eol - 1] == '\r');
		if (line == 0)
			return NULL;  /* end of the header */
		if (line >= sizeof name - 1 && strncasecmp(h + i, name, sizeof name - 1) == 0) {
			struct imap_buf v;
			imap_buf_init(&v, MESSAGE_ID_MAX);
			size_t from = i + sizeof name - 1;
			for (;;) {
				size_t end = eol - (eol > from && h[eol - 1] == '\r');
				imap_buf_append(&v, h + from, end - from);
				if (eol + 1 < len && (h[eol + 1] == ' ' || h[eol + 1] == '\t')) {
					from = eol + 1;
					eol = from;
					while (eol < len && h[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
			char *id = NULL;
			const char *lt = v.data ? memchr(v.data, '<', v.len) : NULL;
			const char *gt = lt ? memchr(lt, '>', v.len - (size_t)(lt - v.data)) : NULL;
			if (lt && gt && gt > lt + 1) {
				bool ok = true;
				for (const char *p = lt; p <= gt && ok; p++)
					ok = (unsigned char)*p > 0x20 && *p != 0x7f;
				if (ok)
					id = strndup(lt, (size_t)(gt - lt + 1));
			}
			imap_buf_free(&v);
			return id;
		}
		i = eol + 1;
	}
	return NULL;
}

/* ---- selecting ---- */

/* Select ref's folder (read-write unless readonly) and check the caller's
 * UIDVALIDITY against the answer. A selection the session already had is
 * brought up to date with NOOP first: the server ignores UIDs its view of
 * the folder does not hold yet, so a message another session (another
 * request, another gateway) has just appended would otherwise be left
 * unchanged while the answer looked like success. */
static int select_ref_sync(struct imap_session *s, const struct imap_ref *ref, bool readonly,
                           bool sync, int64_t deadline, struct imap_error *err)
{
	const struct imap_mailbox *was = imap_session_mailbox(s);
	bool reused = sync && was && was->name && strcmp(was->name, ref->folder) == 0 &&
	              (readonly || !was->readonly);
	int rc = imap_session_select(s, ref->folder, readonly, deadline, err);
	if (!rc && reused)
		rc = imap_session_noop(s, deadline, err);
	if (rc)
		return rc;
	const struct imap_mailbox *m = imap_session_mailbox(s);
	if (ref->uidvalidity && m->uidvalidity != ref->uidvalidity)
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY is %u now, not %u: its UIDs name "
		                      "other messages; read it again",
		                      m->uidvalidity, ref->uidvalidity);
	return 0;
}

/* The first selection of an operation: brought up to date. */
static int select_ref(struct imap_session *s, const struct imap_ref *ref, bool readonly,
                      int64_t deadline, struct imap_error *err)
{
	return select_ref_sync(s, ref, readonly, true, deadline, err);
}

/* A refused command naming a mailbox that does not exist (RFC 3501
 * TRYCREATE, RFC 5530 NONEXISTENT) becomes IMAP_ERR_NOT_FOUND. */
static int not_found_if_missing(int rc, struct imap_error *err, const char *what)
{
	if (rc == IMAP_ERR_NO && err &&
	    (strcmp(err->imap_code, "TRYCREATE") == 0 || strcmp(err->imap_code, "NONEXISTENT") == 0)) {
		char code[IMAP_ERROR_CODE_MAX];
		snprintf(code, sizeof code, "%s", err->imap_code);
		imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", what);
		snprintf(err->imap_code, sizeof err->imap_code, "%s", code);
		return IMAP_ERR_NOT_FOUND;
	}
	return rc;
}

/* A COPY or MOVE refused with NO: not found when the server says the
 * target is missing (TRYCREATE, NONEXISTENT), or, where it gives no code
 * (Courier), when a STATUS of the target is refused too. */
static int target_missing(struct imap_session *s, int rc, struct imap_error *err,
                          const char *to, int64_t deadline)
{
	rc = not_found_if_missing(rc, err, to);
	if (rc != IMAP_ERR_NO || err->imap_code[0])
		return rc;
	struct imap_folder st;
	struct imap_error why = {0};
	if (imap_folder_status(s, to, "(UIDVALIDITY)", &st, deadline, &why) == IMAP_ERR_NOT_FOUND)
		return imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", to);
	return rc;
}

/* ---- storing ---- */

/*
 * Where a session writes back the keywords it last read
 * (IMAP_LEARNED_STALE_KEYWORDS), the account's sessions take turns at
 * storing flags in a folder, and each looks again (NOOP) before it stores:
 * otherwise two updates through two pooled sessions, even one after the
 * other, keep only the last one's keywords. One of STORE_TURNS locks,
 * picked by account and folder.
 */
#define STORE_TURNS 64
static pthread_mutex_t store_turns[STORE_TURNS];
static pthread_once_t store_turns_once = PTHREAD_ONCE_INIT;

static void store_turns_init(void)
{
	for (size_t i = 0; i < STORE_TURNS; i++)
		pthread_mutex_init(&store_turns[i], NULL);
}

static pthread_mutex_t *store_turn(const struct imap_session *s)
{
	if (!imap_session_learned(s, IMAP_LEARNED_STALE_KEYWORDS))
		return NULL;
	pthread_once(&store_turns_once, store_turns_init);
	const struct imap_mailbox *mb = imap_session_mailbox(s);
	uint64_t h = imap_session_account(s);
	for (const unsigned char *p = (const unsigned char *)(mb ? mb->name : ""); *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return &store_turns[h % STORE_TURNS];
}

/* UID STORE <set> <item> (flags), each flag in its canonical spelling. */
static int store(struct imap_session *s, const char *set, const char *item,
                 const char *const *flags, size_t n, int64_t deadline, struct imap_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (imap_flag_check(flags[i], NULL))
			return imap_error_set(err, IMAP_ERR_INVALID, "not a flag that can be stored");
	pthread_mutex_t *turn = store_turn(s);
	int rc = 0;
	if (turn) {
		pthread_mutex_lock(turn);
		if ((rc = imap_session_noop(s, deadline, err))) {
			pthread_mutex_unlock(turn);
			return rc;
		}
	}
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "STORE");
	imap_cmd_atom(&c, set);
	imap_cmd_atom(&c, item);
	imap_cmd_open(&c);
	for (size_t i = 0; i < n; i++) {
		const char *canon = flags[i];
		imap_flag_check(flags[i], &canon);
		imap_cmd_atom(&c, canon);
	}
	imap_cmd_close(&c);
	rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	if (turn)
		pthread_mutex_unlock(turn);
	return rc;
}

/*
 * The only way this file removes messages: UID EXPUNGE of the named UIDs
 * (RFC 4315), never a plain EXPUNGE, which would also remove every other
 * message flagged \Deleted in the folder. Counts the messages the server
 * reports expunged (EXPUNGE, or VANISHED under QRESYNC).
 */
struct expunged {
	size_t n;
};

static int on_expunge(void *ctx, const struct imap_response *r)
{
	struct expunged *x = ctx;
	const struct imap_value *what = r->args ? imap_value_at(r->args, 1) : NULL;
	if (imap_value_is_atom(what, "EXPUNGE")) {
		x->n++;
	} else if (r->args && imap_value_is_atom(imap_value_at(r->args, 0), "VANISHED")) {
		const struct imap_value *set = imap_value_at(r->args, r->args->count - 1);
		size_t n = 0;
		if (imap_value_is_string(set) &&
		    expand_set(set->str, set->len, (size_t)UINT32_MAX, NULL, &n) == 0)
			x->n += n;
	}
	return 0;
}

static int expunge_uids(struct imap_session *s, const char *set, size_t *count,
                        int64_t deadline, struct imap_error *err)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	if (!(caps & IMAP_CAP_UIDPLUS))
		return imap_error_set(err, IMAP_ERR_REFUSED,
		                      "the IMAP server lacks UIDPLUS: removing one message would need "
		                      "a plain EXPUNGE, which also removes other messages marked "
		                      "\\Deleted");
	struct imap_cmd c;
	struct expunged x = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "EXPUNGE");
	imap_cmd_atom(&c, set);
	rc = imap_session_run(s, &c, on_expunge, &x, deadline, err);
	imap_cmd_free(&c);
	if (count)
		*count = x.n;
	return rc;
}

/* ---- reading flags ---- */

void imap_flags_result_free(struct imap_flags_result *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->v[i].nflags; k++)
			free(r->v[i].flags[k]);
		free(r->v[i].flags);
	}
	free(r->v);
	memset(r, 0, sizeof *r);
}

/* bsearch order of entries that start with their UID (imap_msg_flags,
 * imap_transferred), kept sorted by UID. */
_Static_assert(offsetof(struct imap_msg_flags, uid) == 0, "by_uid reads the UID first");
_Static_assert(offsetof(struct imap_transferred, uid) == 0, "by_uid reads the UID first");

static int by_uid(const void *key, const void *entry)
{
	uint32_t a = *(const uint32_t *)key, b = *(const uint32_t *)entry;
	return a < b ? -1 : a > b;
}

static struct imap_msg_flags *find_flags(struct imap_flags_result *r, uint32_t uid)
{
	return r->n ? bsearch(&uid, r->v, r->n, sizeof *r->v, by_uid) : NULL;
}

static int on_flags(void *ctx, const struct imap_response *r)
{
	struct imap_flags_result *out = ctx;
	const struct imap_value *att = NULL;
	uint32_t uid = imap_fetch_attributes(r, &att);
	struct imap_msg_flags *m = uid ? find_flags(out, uid) : NULL;
	const struct imap_value *fl = m ? imap_fetch_item(att, "FLAGS", false) : NULL;
	if (!fl || fl->kind != IMAP_VALUE_LIST)
		return 0;  /* another message, or a response without FLAGS */
	for (size_t k = 0; k < m->nflags; k++)
		free(m->flags[k]);
	free(m->flags);
	m->nflags = 0;
	m->flags = calloc(fl->count ? fl->count : 1, sizeof *m->flags);
	if (!m->flags)
		return IMAP_ERR_NOMEM;
	const struct imap_value *f;
	size_t i;
	IMAP_LIST_FOREACH(fl, f, i) {
		if (!imap_value_is_string(f) || (f->len == 7 && strncasecmp(f->str, "\\Recent", 7) == 0))
			continue;
		if (!(m->flags[m->nflags] = strndup(f->str, f->len)))
			return IMAP_ERR_NOMEM;
		m->nflags++;
	}
	m->found = true;
	return 0;
}

/* Prepare out for the distinct UIDs of uids[0..n) and their set. */
static int flags_prepare(const uint32_t *uids, size_t n, struct imap_flags_result *out,
                         struct imap_buf *set, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	size_t m = 0;
	uint32_t *v = distinct(uids, n, &m);
	if (!v)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	if (m == 0) {
		free(v);
		return imap_error_set(err, IMAP_ERR_INVALID, "no UID given");
	}
	out->v = calloc(m, sizeof *out->v);
	int rc = out->v ? uid_set(v, m, set) : IMAP_ERR_NOMEM;
	for (size_t i = 0; out->v && i < m; i++)
		out->v[i].uid = v[i];
	out->n = out->v ? m : 0;
	free(v);
	return rc ? imap_error_set(err, rc, "out of memory") : 0;
}

static int fetch_flags(struct imap_session *s, const char *set, struct imap_flags_result *out,
                       int64_t deadline, struct imap_error *err)
{
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_atom(&c, set);
	imap_cmd_raw(&c, "(UID FLAGS)");
	int rc = imap_session_run(s, &c, on_flags, out, deadline, err);
	imap_cmd_free(&c);
	out->uidvalidity = imap_session_mailbox(s) ? imap_session_mailbox(s)->uidvalidity : 0;
	return rc;
}

int imap_flags_get(struct imap_session *s, const struct imap_ref *ref, const uint32_t *uids,
                   size_t n, int64_t deadline, struct imap_flags_result *out,
                   struct imap_error *err)
{
	struct imap_buf set;
	imap_buf_init(&set, 0);
	int rc = flags_prepare(uids, n, out, &set, err);
	if (!rc)
		rc = select_ref(s, ref, true, deadline, err);
	if (!rc)
		rc = fetch_flags(s, set.data, out, deadline, err);
	imap_buf_free(&set);
	return rc;
}

/* Every flag of list[0..n) is storable; none is also in other[0..nother). */
static int check_flags(const char *const *list, size_t n, const char *const *other,
                       size_t nother, struct imap_error *err)
{
	for (size_t i = 0; i < n; i++) {
		if (imap_flag_check(list[i], NULL))
			return imap_error_set(err, IMAP_ERR_INVALID,
			                      "'%.64s' is not a flag that can be stored: use \\Seen, "
			                      "\\Answered, \\Flagged, \\Deleted, \\Draft or a keyword atom",
			                      list[i] ? list[i] : "");
		for (size_t k = 0; k < nother; k++)
			if (strcasecmp(list[i], other[k]) == 0)
				return imap_error_set(err, IMAP_ERR_INVALID,
				                      "'%.64s' is both added and removed", list[i]);
	}
	return 0;
}

int imap_flags_store(struct imap_session *s, const struct imap_ref *ref, const uint32_t *uids,
                     size_t n, const struct imap_store *st, int64_t deadline,
                     struct imap_flags_result *out, struct imap_error *err)
{
	struct imap_buf set;
	imap_buf_init(&set, 0);
	int rc = flags_prepare(uids, n, out, &set, err);
	if (!rc && st->replace)
		rc = check_flags(st->set, st->nset, NULL, 0, err);
	if (!rc && !st->replace)
		rc = check_flags(st->add, st->nadd, st->remove, st->nremove, err);
	if (!rc && !st->replace)
		rc = check_flags(st->remove, st->nremove, NULL, 0, err);
	if (!rc)
		rc = select_ref(s, ref, false, deadline, err);
	if (!rc && st->replace)
		rc = store(s, set.data, "FLAGS.SILENT", st->set, st->nset, deadline, err);
	if (!rc && !st->replace && st->nadd)
		rc = store(s, set.data, "+FLAGS.SILENT", st->add, st->nadd, deadline, err);
	if (!rc && !st->replace && st->nremove)
		rc = store(s, set.data, "-FLAGS.SILENT", st->remove, st->nremove, deadline, err);
	if (!rc)
		rc = fetch_flags(s, set.data, out, deadline, err);
	imap_buf_free(&set);
	return rc;
}

/* ---- copy and move ---- */

void imap_transfer_result_free(struct imap_transfer_result *r)
{
	free(r->v);
	memset(r, 0, sizeof *r);
}

static struct imap_transferred *find_transferred(struct imap_transfer_result *r, uint32_t uid)
{
	return r->n ? bsearch(&uid, r->v, r->n, sizeof *r->v, by_uid) : NULL;
}

/* What one transfer learns on the way, beside the result. */
struct transfer {
	struct imap_transfer_result *out;
	bool *existed;        /* per out->v[i]: reported by the first FETCH */
	char **ids;           /* per out->v[i]: its Message-ID or NULL */
	bool uidplus;         /* COPYUID codes are believed (UIDPLUS is offered) */
	bool copyuid;         /* a COPYUID code came */
	int err;
};

static int on_prefetch(void *ctx, const struct imap_response *r)
{
	struct transfer *t = ctx;
	const struct imap_value *att = NULL;
	uint32_t uid = imap_fetch_attributes(r, &att);
	struct imap_transferred *m = uid ? find_transferred(t->out, uid) : NULL;
	if (!m)
		return 0;
	size_t i = (size_t)(m - t->out->v);
	t->existed[i] = true;
	const struct imap_value *h = imap_fetch_item(att, "BODY[HEADER.FIELDS", true);
	if (imap_value_is_string(h) && !t->ids[i])
		t->ids[i] = message_id_of(h->str, h->len);
	return 0;
}

/* Apply a COPYUID code: the copies it reports are confirmed, with their
 * new UIDs. A malformed code is ignored (the Message-ID search follows). */
static void apply_copyuid(struct transfer *t, const struct imap_value *code)
{
	const struct imap_value *uv = imap_value_at(code, 1);
	const struct imap_value *src = imap_value_at(code, 2);
	const struct imap_value *dst = imap_value_at(code, 3);
	uint64_t n;
	uint32_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	if (imap_value_u64(uv, UINT32_MAX, &n) == 0 && n && imap_value_is_string(src) &&
	    imap_value_is_string(dst) && expand_set(src->str, src->len, t->out->n, &a, &na) == 0 &&
	    expand_set(dst->str, dst->len, t->out->n, &b, &nb) == 0 && na == nb) {
		t->out->uidvalidity = (uint32_t)n;
		t->copyuid = true;
		for (size_t i = 0; i < na; i++) {
			struct imap_transferred *m = find_transferred(t->out, a[i]);
			if (m) {
				m->found = true;
				m->new_uid = b[i];
			}
		}
	}
	free(a);
	free(b);
}

/* A COPYUID code, from a server that offers UIDPLUS: one whose UIDPLUS is
 * treated as not offered (--imap-ignore-caps, for a broken one) is not
 * believed either. */
static bool is_copyuid(const struct transfer *t, const struct imap_response *r)
{
	return t->uidplus && r && r->status == IMAP_STATUS_OK && r->code &&
	       imap_value_is_atom(imap_value_at(r->code, 0), "COPYUID");
}

/* UID MOVE sends COPYUID in an untagged OK before the expunges (RFC 6851
 * §4.3); UID COPY in the tagged OK. Both are looked at. */
static int on_transfer(void *ctx, const struct imap_response *r)
{
	struct transfer *t = ctx;
	if (is_copyuid(t, r))
		apply_copyuid(t, r->code);
	return 0;
}

static int on_search(void *ctx, const struct imap_response *r)
{
	uint32_t *best = ctx;
	const struct imap_value *v;
	size_t i;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "SEARCH"))
		return 0;
	IMAP_LIST_FOREACH(r->args, v, i) {
		uint64_t n;
		if (i > 0 && imap_value_u64(v, UINT32_MAX, &n) == 0 && n > *best)
			*best = (uint32_t)n;
	}
	return 0;
}

/* The highest UID at or above `floor` in the selected folder whose
 * Message-ID is `id` (0: none). */
static int search_message_id(struct imap_session *s, const char *id, uint32_t floor,
                             uint32_t *uid, int64_t deadline, struct imap_error *err)
{
	struct imap_cmd c;
	char range[32];
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "SEARCH");
	if (floor > 1) {
		snprintf(range, sizeof range, "%u:*", floor);
		imap_cmd_atom(&c, "UID");
		imap_cmd_atom(&c, range);
	}
	imap_cmd_atom(&c, "HEADER");
	imap_cmd_atom(&c, "Message-ID");
	imap_cmd_string(&c, id, strlen(id));
	*uid = 0;
	int rc = imap_session_run(s, &c, on_search, uid, deadline, err);
	imap_cmd_free(&c);
	if (*uid < floor)
		*uid = 0;  /* "n:*" with n past the last UID still matches the last message */
	return rc;
}

/* No COPYUID came: find the copies in the target by Message-ID (the
 * target is EXAMINEd: the source has to be selected again afterwards). */
static int find_copies(struct imap_session *s, struct transfer *t, const char *to,
                       uint32_t floor, int64_t deadline, struct imap_error *err)
{
	int rc = imap_session_select(s, to, true, deadline, err);
	if (rc)
		return rc;
	t->out->uidvalidity = imap_session_mailbox(s)->uidvalidity;
	for (size_t i = 0; i < t->out->n && !rc; i++) {
		if (!t->existed[i] || !t->ids[i])
			continue;
		uint32_t uid = 0;
		rc = search_message_id(s, t->ids[i], floor, &uid, deadline, err);
		for (size_t k = 0; k < i && uid; k++)
			if (t->out->v[k].new_uid == uid)
				uid = 0;  /* two copies of one Message-ID: do not guess */
		t->out->v[i].new_uid = uid;
	}
	return rc;
}

/* imap_messages_transfer; sync: its selection is the operation's first
 * (see select_ref), not one a caller has just made. */
static int transfer(struct imap_session *s, const struct imap_ref *ref, const uint32_t *uids,
                    size_t n, const char *to, bool move, bool sync, int64_t deadline,
                    struct imap_transfer_result *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	struct transfer t = {.out = out};
	struct imap_buf set, confirmed;
	imap_buf_init(&set, 0);
	imap_buf_init(&confirmed, 0);
	uint32_t caps = 0;
	size_t m = 0;
	uint32_t *v = NULL;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		goto done;
	bool has_move = caps & IMAP_CAP_MOVE, uidplus = caps & IMAP_CAP_UIDPLUS;
	t.uidplus = uidplus;
	if (move && strcmp(to, ref->folder) == 0) {
		rc = imap_error_set(err, IMAP_ERR_INVALID, "a message cannot be moved to its own folder");
		goto done;
	}
	if (move && !has_move && !uidplus) {
		rc = imap_error_set(err, IMAP_ERR_REFUSED,
		                    "the IMAP server offers neither MOVE nor UIDPLUS: removing the "
		                    "original after copying would need a plain EXPUNGE, which also "
		                    "removes other messages marked \\Deleted; copy instead");
		goto done;
	}
	if (!(v = distinct(uids, n, &m)) || !(out->v = calloc(m ? m : 1, sizeof *out->v)) ||
	    !(t.existed = calloc(m ? m : 1, sizeof *t.existed)) ||
	    !(t.ids = calloc(m ? m : 1, sizeof *t.ids))) {
		rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < m; i++)
		out->v[i].uid = v[i];
	out->n = m;
	if (m == 0) {
		rc = imap_error_set(err, IMAP_ERR_INVALID, "no UID given");
		goto done;
	}
	if ((rc = uid_set(v, m, &set))) {
		rc = imap_error_set(err, rc, "out of memory");
		goto done;
	}
	if ((rc = select_ref_sync(s, ref, !move, sync, deadline, err)))
		goto done;
	uint32_t source_uv = imap_session_mailbox(s)->uidvalidity;

	/* Which messages exist, and their Message-IDs. */
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_atom(&c, set.data);
	imap_cmd_raw(&c, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
	rc = imap_session_run(s, &c, on_prefetch, &t, deadline, err);
	imap_cmd_free(&c);
	if (rc)
		goto done;
	imap_buf_reset(&set, 0);
	size_t nexist = 0;
	for (size_t i = 0; i < m; i++)
		if (t.existed[i])
			v[nexist++] = out->v[i].uid;
	if (nexist == 0)
		goto done;  /* nothing to do: every UID is reported not found */
	uid_set(v, nexist, &set);

	struct imap_folder st = {0};
	if (!uidplus && (rc = imap_folder_status(s, to, "(UIDNEXT UIDVALIDITY)", &st, deadline, err)))
		goto done;
	out->uidvalidity = st.uidvalidity;

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, move && has_move ? "MOVE" : "COPY");
	imap_cmd_atom(&c, set.data);
	imap_cmd_mailbox(&c, to, strlen(to));
	rc = imap_session_run(s, &c, on_transfer, &t, deadline, err);
	imap_cmd_free(&c);
	if (rc) {
		rc = target_missing(s, rc, err, to, deadline);
		goto done;
	}
	const struct imap_response *tagged = imap_session_last_tagged(s);
	if (!t.copyuid && is_copyuid(&t, tagged))
		apply_copyuid(&t, tagged->code);
	if (!t.copyuid) {
		/* No COPYUID: the command succeeded for the messages that existed;
		 * their new UIDs are looked up by Message-ID. */
		for (size_t i = 0; i < m; i++)
			out->v[i].found = t.existed[i];
		if ((rc = find_copies(s, &t, to, uidplus ? 0 : st.uidnext, deadline, err)))
			goto done;
	}
	if (!move || has_move)
		goto done;

	/* A move without MOVE: flag and expunge the originals whose copies are
	 * confirmed (by COPYUID, or found by Message-ID), and nothing else. */
	size_t nconf = 0;
	uint32_t unconfirmed = 0;
	for (size_t i = 0; i < m; i++) {
		if (out->v[i].found && (t.copyuid || out->v[i].new_uid))
			v[nconf++] = out->v[i].uid;
		else if (out->v[i].found && !unconfirmed)
			unconfirmed = out->v[i].uid;
	}
	if (nconf)
		uid_set(v, nconf, &confirmed);
	/* (the same operation's selection again: no NOOP needed) */
	if (nconf && (rc = select_ref_sync(s, ref, false, false, deadline, err)))
		goto done;
	if (nconf && imap_session_mailbox(s)->uidvalidity != source_uv) {
		rc = imap_error_set(err, IMAP_ERR_STALE,
		                    "the source folder's UIDVALIDITY changed during the move: the "
		                    "originals were left in place");
		goto done;
	}
	static const char *const deleted[] = {"\\Deleted"};
	if (nconf && ((rc = store(s, confirmed.data, "+FLAGS.SILENT", deleted, 1, deadline, err)) ||
	              (rc = expunge_uids(s, confirmed.data, NULL, deadline, err))))
		goto done;
	if (unconfirmed)
		rc = imap_error_set(err, IMAP_ERR_REFUSED,
		                    "the server confirmed no copy of UID %u (no COPYUID, no match by "
		                    "Message-ID): the original was left in place, and %.100s may hold "
		                    "a copy",
		                    unconfirmed, to);
done:
	for (size_t i = 0; t.ids && i < m; i++)
		free(t.ids[i]);
	free(t.ids);
	free(t.existed);
	free(v);
	imap_buf_free(&set);
	imap_buf_free(&confirmed);
	return rc;
}

/* ---- delete ---- */

void imap_delete_result_free(struct imap_delete_result *r)
{
	free(r->trash);
	memset(r, 0, sizeof *r);
}

int imap_messages_transfer(struct imap_session *s, const struct imap_ref *ref,
                           const uint32_t *uids, size_t n, const char *to, bool move,
                           int64_t deadline, struct imap_transfer_result *out,
                           struct imap_error *err)
{
	return transfer(s, ref, uids, n, to, move, true, deadline, out, err);
}

int imap_message_delete(struct imap_session *s, const struct imap_ref *ref, uint32_t uid,
                        bool permanent, int64_t deadline, struct imap_delete_result *out,
                        struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	if (!(caps & IMAP_CAP_UIDPLUS) && (permanent || !(caps & IMAP_CAP_MOVE)))
		return imap_error_set(err, IMAP_ERR_REFUSED,
		                      "the IMAP server lacks UIDPLUS%s: deleting one message would "
		                      "need a plain EXPUNGE, which also removes other messages marked "
		                      "\\Deleted",
		                      permanent ? "" : " and MOVE");
	if ((rc = select_ref(s, ref, false, deadline, err)))
		return rc;
	if (!permanent) {
		struct imap_folder_list l;
		if ((rc = imap_folders_list(s, NULL, false, deadline, &l, err)))
			return rc;
		const struct imap_folder *trash = NULL;
		for (size_t i = 0; i < l.n && !trash; i++)
			if (l.v[i].special_use && strcmp(l.v[i].special_use, "\\Trash") == 0 &&
			    l.v[i].selectable)
				trash = &l.v[i];
		if (!trash) {
			imap_folder_list_free(&l);
			return imap_error_set(err, IMAP_ERR_REFUSED,
			                      "there is no Trash folder to move the message to: delete "
			                      "it with permanent=true");
		}
		bool in_trash = strcmp(trash->path, ref->folder) == 0;
		if (!in_trash && !(out->trash = strdup(trash->path))) {
			imap_folder_list_free(&l);
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		}
		imap_folder_list_free(&l);
		if (!in_trash) {
			struct imap_transfer_result tr;
			rc = transfer(s, ref, &uid, 1, out->trash, true, false, deadline, &tr, err);
			if (!rc && tr.n == 1) {
				out->found = tr.v[0].found;
				out->moved = tr.v[0].found;
				out->new_uid = tr.v[0].new_uid;
				out->uidvalidity = tr.uidvalidity;
			}
			imap_transfer_result_free(&tr);
			if (!out->moved) {
				free(out->trash);
				out->trash = NULL;
			}
			return rc;
		}
		/* Already in the Trash folder: deleting it there is for good. */
	}
	if (!(caps & IMAP_CAP_UIDPLUS))
		return imap_error_set(err, IMAP_ERR_REFUSED,
		                      "the IMAP server lacks UIDPLUS: deleting one message for good "
		                      "would need a plain EXPUNGE, which also removes other messages "
		                      "marked \\Deleted");
	char set[16];
	snprintf(set, sizeof set, "%u", uid);
	static const char *const deleted[] = {"\\Deleted"};
	size_t gone = 0;
	if ((rc = store(s, set, "+FLAGS.SILENT", deleted, 1, deadline, err)) ||
	    (rc = expunge_uids(s, set, &gone, deadline, err)))
		return rc;
	out->found = gone > 0;
	return 0;
}

/* ---- append ---- */

int imap_internaldate_format(int64_t epoch, int tz_offset_min, char out[IMAP_INTERNALDATE_MAX])
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char r[IMAP_DATE_RFC3339_MAX];
	out[0] = '\0';
	if (tz_offset_min <= -1440 || tz_offset_min >= 1440 ||
	    imap_date_format_rfc3339(epoch, tz_offset_min, r) < 20)
		return IMAP_ERR_INVALID;
	/* r is "YYYY-MM-DDTHH:MM:SS" + zone: rearranged, no calendar sums twice. */
	int month = (r[5] - '0') * 10 + (r[6] - '0');
	int tz = tz_offset_min < 0 ? -tz_offset_min : tz_offset_min;
	snprintf(out, IMAP_INTERNALDATE_MAX, "%.2s-%s-%.4s %.8s %c%02d%02d", r + 8, mon[month - 1],
	         r, r + 11, tz_offset_min < 0 ? '-' : '+', tz / 60, tz % 60);
	return 0;
}

int imap_message_append(struct imap_session *s, const struct imap_append *a, int64_t deadline,
                        struct imap_appended *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < a->nflags; i++)
		if (imap_flag_check(a->flags[i], NULL))
			return imap_error_set(err, IMAP_ERR_INVALID,
			                      "'%.64s' is not a flag that can be stored", a->flags[i]);
	if (a->len == 0 || memchr(a->data, '\0', a->len))
		return imap_error_set(err, IMAP_ERR_INVALID,
		                      a->len ? "the message holds NUL bytes, which IMAP cannot carry"
		                             : "the message is empty");
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	bool uidplus = caps & IMAP_CAP_UIDPLUS;
	struct imap_folder st = {0};
	if (a->uidvalidity || !uidplus) {
		if ((rc = imap_folder_status(s, a->folder, "(UIDNEXT UIDVALIDITY)", &st, deadline, err)))
			return rc;
		if (a->uidvalidity && st.uidvalidity != a->uidvalidity)
			return imap_error_set(err, IMAP_ERR_STALE,
			                      "the folder's UIDVALIDITY is %u now, not %u", st.uidvalidity,
			                      a->uidvalidity);
	}

	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, a->folder, strlen(a->folder));
	if (a->nflags) {
		imap_cmd_open(&c);
		for (size_t i = 0; i < a->nflags; i++) {
			const char *canon = a->flags[i];
			imap_flag_check(a->flags[i], &canon);
			imap_cmd_atom(&c, canon);
		}
		imap_cmd_close(&c);
	}
	if (a->internaldate)
		imap_cmd_string(&c, a->internaldate, strlen(a->internaldate));
	imap_cmd_literal(&c, a->data, a->len);
	rc = imap_session_run(s, &c, NULL, NULL, deadline, err);
	imap_cmd_free(&c);
	if (rc)
		return not_found_if_missing(rc, err, a->folder);

	const struct imap_response *tagged = imap_session_last_tagged(s);
	const struct imap_value *code = tagged && uidplus ? tagged->code : NULL;
	uint64_t uv, uid;
	if (code && imap_value_is_atom(imap_value_at(code, 0), "APPENDUID") &&
	    imap_value_u64(imap_value_at(code, 1), UINT32_MAX, &uv) == 0 && uv &&
	    imap_value_u64(imap_value_at(code, 2), UINT32_MAX, &uid) == 0 && uid) {
		out->uidvalidity = (uint32_t)uv;
		out->uid = (uint32_t)uid;
		return 0;
	}
	/* No APPENDUID: look for the message by its Message-ID among the UIDs
	 * the folder gave out since the STATUS above. */
	out->uidvalidity = st.uidvalidity;
	char *id = message_id_of(a->data, a->len);
	if (!id)
		return 0;
	rc = imap_session_select(s, a->folder, true, deadline, err);
	if (!rc) {
		out->uidvalidity = imap_session_mailbox(s)->uidvalidity;
		rc = search_message_id(s, id, st.uidnext, &out->uid, deadline, err);
	}
	free(id);
	return rc;
}
