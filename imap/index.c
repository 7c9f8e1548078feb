/*
 * imap/index.c — the folder index. See index.h for the contract.
 *
 * A folder holds its messages in an array ascending by UID; each sort key
 * other than arrival has an array of positions into it, built when first
 * asked for and dropped whenever a message comes or goes (flags changes
 * keep it: no sort key depends on flags). Flags are a bit mask: the
 * system flags, then up to KEYWORDS_MAX keywords named per folder; a
 * folder using more keywords is not indexed.
 *
 *   status-att-list = status-att-val *(SP status-att-val)          ; RFC 3501
 *   status-att-val  =/ "HIGHESTMODSEQ" SP mod-sequence-valzer       ; RFC 7162
 */
#include "imap/index.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BUCKETS 1024u
#define SYSTEM_FLAGS 6
#define KEYWORDS_MAX (32 - SYSTEM_FLAGS)
#define NKEYS (IMAP_SORT_SIZE + 1)
/* Revalidations a page without a session waits for before it takes one. */
#define HELD_WAITS 3

static const char *const system_flags[SYSTEM_FLAGS] = {
	"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent",
};
enum { FLAG_SEEN = 1u << 0, FLAG_FLAGGED = 1u << 2 };

struct msg {
	uint32_t uid;
	uint32_t flags;
	struct imap_summary_shared *sum;
	/* The RFC 5256 comparison forms of FROM, TO and SUBJECT, one after
	 * the other in one allocation: "from\0to\0subject\0". */
	char *keys;
	uint32_t key_to, key_subject;        /* offsets in keys */
};

struct folder {
	struct folder *lru_prev, *lru_next;  /* index lock */
	struct folder *hash_next;            /* index lock */
	unsigned char key[IMAP_INDEX_KEY_LEN];
	char *name;
	unsigned users;                      /* requests holding it (index lock) */
	bool gone;                           /* unlinked; freed by its last user */

	pthread_mutex_t lock;                /* everything below */
	uint32_t uidvalidity, uidnext, loaded_seq;
	uint64_t modseq;
	uint64_t fresh_from;                 /* ticket taken as the last complete
	                                        revalidation began (0: none) */
	atomic_ullong running;               /* ticket of the revalidation under way
	                                        (0: none); read without the lock */
	bool complete, unindexable;
	bool subjects;                       /* the server's subject order is
	                                        imap_subject_sort_key's */
	atomic_bool loaded;                  /* complete, readable without the lock */
	atomic_ullong loader;                /* the claim of its one loader (0: none) */
	struct msg *v;
	size_t n, cap;
	char *keywords[KEYWORDS_MAX];
	unsigned nkeywords;
	uint32_t *order[NKEYS];              /* positions ascending by key; NULL: not built */
	size_t order_n[NKEYS];               /* entries of each */
	size_t bytes;                        /* estimate, also counted in the index */
};

struct imap_index {
	pthread_mutex_t lock;
	struct folder *buckets[BUCKETS];
	struct folder *lru_head, *lru_tail;  /* most recently used first */
	size_t max_bytes, bytes, folders, messages;
	unsigned long long evicted, dropped;
	atomic_ullong hits, misses, held;
	atomic_ullong tickets;               /* the order requests and revalidations begin in */
	atomic_ullong reval[IMAP_INDEX_REVAL_KINDS];
};

/* ---- folders ---- */

static uint32_t hash_of(const unsigned char *key, const char *name)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < IMAP_INDEX_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static void msg_free(struct msg *m)
{
	imap_summary_shared_release(&m->sum);
	free(m->keys);
}

static size_t msg_bytes(const struct msg *m)
{
	size_t n = sizeof *m + imap_summary_shared_bytes(m->sum);
	if (m->keys)  /* with malloc's 8 bytes, rounded up to 16 */
		n += (m->key_subject + strlen(m->keys + m->key_subject) + 1 + 8 + 15) & ~(size_t)15;
	return n;
}

static void orders_drop(struct folder *f)
{
	for (size_t k = 0; k < NKEYS; k++) {
		if (f->order[k])
			f->bytes -= f->order_n[k] * sizeof *f->order[k];
		free(f->order[k]);
		f->order[k] = NULL;
	}
}

/* Forget every message (a new UIDVALIDITY, or too many keywords). */
static void folder_clear(struct folder *f)
{
	for (size_t i = 0; i < f->n; i++)
		msg_free(&f->v[i]);
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
	for (unsigned i = 0; i < f->nkeywords; i++)
		free(f->keywords[i]);
	f->nkeywords = 0;
	orders_drop(f);
	f->uidnext = f->loaded_seq = 0;
	f->modseq = 0;
	f->fresh_from = 0;
	f->complete = false;
	atomic_store(&f->loaded, false);
	f->bytes = 0;  /* the loader's claim stays: it loads the folder again */
}

static void folder_free(struct folder *f)
{
	folder_clear(f);
	pthread_mutex_destroy(&f->lock);
	free(f->name);
	free(f);
}

static void lru_unlink(struct imap_index *ix, struct folder *f)
{
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		ix->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		ix->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void lru_front(struct imap_index *ix, struct folder *f)
{
	f->lru_prev = NULL;
	f->lru_next = ix->lru_head;
	if (ix->lru_head)
		ix->lru_head->lru_prev = f;
	ix->lru_head = f;
	if (!ix->lru_tail)
		ix->lru_tail = f;
}

/* Take f out of the hash and the LRU (index lock held). */
static void folder_unlink(struct imap_index *ix, struct folder *f)
{
	struct folder **pp = &ix->buckets[hash_of(f->key, f->name) % BUCKETS];
	while (*pp && *pp != f)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = f->hash_next;
	lru_unlink(ix, f);
	f->gone = true;
	ix->folders--;
}

/* Drop least recently used folders nobody is using until the index fits
 * (index lock held). A folder in use is skipped: its user gives it back. */
static void evict(struct imap_index *ix)
{
	struct folder *f = ix->lru_tail;
	while (ix->bytes > ix->max_bytes && f) {
		struct folder *prev = f->lru_prev;
		if (f->users == 0) {
			folder_unlink(ix, f);
			ix->bytes -= f->bytes;
			ix->messages -= f->n;
			ix->evicted++;
			folder_free(f);
		}
		f = prev;
	}
}

/* The folder of (key, name) with one more user; made when absent if
 * `make`, else NULL then. */
static struct folder *folder_get(struct imap_index *ix, const unsigned char *key, const char *name,
                                 bool make)
{
	uint32_t b = hash_of(key, name) % BUCKETS;
	pthread_mutex_lock(&ix->lock);
	struct folder *f = ix->buckets[b];
	while (f && (memcmp(f->key, key, IMAP_INDEX_KEY_LEN) || strcmp(f->name, name)))
		f = f->hash_next;
	if (!f && make && (f = calloc(1, sizeof *f))) {
		if (!(f->name = strdup(name))) {
			free(f);
			f = NULL;
		} else {
			memcpy(f->key, key, IMAP_INDEX_KEY_LEN);
			pthread_mutex_init(&f->lock, NULL);
			f->hash_next = ix->buckets[b];
			ix->buckets[b] = f;
			ix->folders++;
			lru_front(ix, f);
		}
	}
	if (f) {
		lru_unlink(ix, f);
		lru_front(ix, f);
		f->users++;
	}
	pthread_mutex_unlock(&ix->lock);
	return f;
}

/* Give f back; its size and message count changed by the deltas. */
static void folder_put(struct imap_index *ix, struct folder *f, ptrdiff_t dbytes, ptrdiff_t dn)
{
	pthread_mutex_lock(&ix->lock);
	if (!f->gone) {
		ix->bytes = (size_t)((ptrdiff_t)ix->bytes + dbytes);
		ix->messages = (size_t)((ptrdiff_t)ix->messages + dn);
	}
	bool free_it = --f->users == 0 && f->gone;
	if (!free_it)
		evict(ix);
	pthread_mutex_unlock(&ix->lock);
	if (free_it)
		folder_free(f);
}

/* ---- flags ---- */

/* The mask of a FLAGS list; -1 when the folder has more keywords than
 * the mask holds. */
static int64_t flags_mask(struct folder *f, const struct imap_value *list)
{
	uint32_t mask = 0;
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(list, v, i) {
		if (!imap_value_is_string(v))
			continue;
		unsigned bit = 0;
		for (; bit < SYSTEM_FLAGS; bit++)
			if (strlen(system_flags[bit]) == v->len &&
			    strncasecmp(system_flags[bit], v->str, v->len) == 0)
				break;
		if (bit == SYSTEM_FLAGS) {
			unsigned k = 0;
			while (k < f->nkeywords &&
			       !(strlen(f->keywords[k]) == v->len && memcmp(f->keywords[k], v->str, v->len) == 0))
				k++;
			if (k == f->nkeywords) {
				if (k == KEYWORDS_MAX || !(f->keywords[k] = strndup(v->str, v->len)))
					return -1;
				f->nkeywords++;
			}
			bit = SYSTEM_FLAGS + k;
		}
		mask |= 1u << bit;
	}
	return mask;
}

/* The flags of a mask as a summary holds them (new strings). */
static int flags_expand(const struct folder *f, uint32_t mask, struct imap_summary *m)
{
	unsigned n = (unsigned)__builtin_popcount(mask);
	m->flags = calloc(n ? n : 1, sizeof *m->flags);
	if (!m->flags)
		return IMAP_ERR_NOMEM;
	for (unsigned bit = 0; bit < 32; bit++) {
		if (!(mask & (1u << bit)))
			continue;
		const char *name = bit < SYSTEM_FLAGS ? system_flags[bit] : f->keywords[bit - SYSTEM_FLAGS];
		if (!(m->flags[m->nflags] = strdup(name)))
			return IMAP_ERR_NOMEM;
		m->nflags++;
	}
	imap_flags_order(m->flags, m->nflags);
	return 0;
}

/* ---- messages ---- */

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = ((const struct msg *)b)->uid;
	return x < y ? -1 : x > y;
}

static struct msg *find(struct folder *f, uint32_t uid)
{
	return f->n ? bsearch(&uid, f->v, f->n, sizeof *f->v, cmp_uid) : NULL;
}

/* Insert m (taken over) in UID order; an existing UID is replaced. */
static int insert(struct folder *f, struct msg *m)
{
	struct msg *old = find(f, m->uid);
	if (old) {
		f->bytes -= msg_bytes(old);
		msg_free(old);
		*old = *m;
		f->bytes += msg_bytes(old);
		return 0;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct msg *v = realloc(f->v, cap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		f->bytes += (cap - f->cap) * sizeof *v;
		f->v = v;
		f->cap = cap;
	}
	size_t at = f->n;
	while (at > 0 && f->v[at - 1].uid > m->uid)
		at--;
	memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof *f->v);
	f->v[at] = *m;
	f->n++;
	f->bytes += msg_bytes(m) - sizeof *m;  /* the slot itself is counted with cap */
	orders_drop(f);
	return 0;
}

/* Keep the messages for which keep(uid) holds, asked in ascending UID
 * order; free the others. */
static void keep_only(struct folder *f, bool (*keep)(void *ctx, uint32_t uid), void *ctx)
{
	size_t w = 0;
	for (size_t i = 0; i < f->n; i++) {
		struct msg *m = &f->v[i];
		if (keep(ctx, m->uid)) {
			f->v[w++] = *m;
			continue;
		}
		f->bytes -= msg_bytes(m) - sizeof *m;
		msg_free(m);
	}
	if (w != f->n)
		orders_drop(f);
	f->n = w;
}

struct listed {
	const uint32_t *uids;  /* ascending */
	size_t n, k;
	uint32_t from;
};

static bool is_listed(void *ctx, uint32_t uid)
{
	struct listed *l = ctx;
	while (l->k < l->n && l->uids[l->k] < uid)
		l->k++;
	return (l->k < l->n && l->uids[l->k] == uid) || uid >= l->from;
}

/* Keep only the messages whose UID is in keep[] (ascending) or at least
 * `from` (arrived after the search). */
static void retain(struct folder *f, const uint32_t *keep, size_t nkeep, uint32_t from)
{
	struct listed l = {.uids = keep, .n = nkeep, .from = from};
	keep_only(f, is_listed, &l);
}

struct uid_range {
	uint32_t lo, hi;
};

struct load_ctx {
	struct folder *f;
	uint32_t min_uid;   /* ignore UIDs below (a "n:*" answer brings the last one) */
	bool flags_only;    /* FLAGS updates of known UIDs, nothing new */
	uint32_t max_uid, added;
	int err;
	/* QRESYNC (`vanished`): the UID ranges VANISHED named, kept as ranges
	 * (a hostile "1:4294967295" costs one entry), applied by drop_vanished */
	bool vanished;
	struct uid_range *gone;
	size_t ngone, capgone;
};

/* * VANISHED [(EARLIER)] <uid-set> (RFC 7162 §3.2.10): note its ranges. */
static void on_vanished(struct load_ctx *c, const struct imap_response *r)
{
	const struct imap_value *set = imap_value_at(r->args, r->args->count - 1);
	if (!imap_value_is_string(set))
		return;
	size_t pos = 0;
	uint32_t a, b;
	while (!c->err && imap_set_next(set->str, set->len, &pos, &a, &b) == 1) {
		if (c->ngone == c->capgone) {
			size_t cap = c->capgone ? 2 * c->capgone : 16;
			struct uid_range *v = cap <= SIZE_MAX / sizeof *v ? realloc(c->gone, cap * sizeof *v)
			                                                 : NULL;
			if (!v) {
				c->err = IMAP_ERR_NOMEM;
				return;
			}
			c->gone = v;
			c->capgone = cap;
		}
		c->gone[c->ngone++] = (struct uid_range){a < b ? a : b, a < b ? b : a};
	}
}

static int by_lo(const void *a, const void *b)
{
	const struct uid_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

struct vanished {
	const struct uid_range *v;  /* ascending by lo */
	size_t n, k;
};

static bool not_vanished(void *ctx, uint32_t uid)
{
	struct vanished *g = ctx;
	while (g->k < g->n && g->v[g->k].hi < uid)
		g->k++;
	return g->k == g->n || g->v[g->k].lo > uid;
}

/* Drop the messages whose UIDs VANISHED named: one pass over the folder. */
static void drop_vanished(struct folder *f, struct load_ctx *c)
{
	if (!c->ngone)
		return;
	qsort(c->gone, c->ngone, sizeof *c->gone, by_lo);
	struct vanished g = {.v = c->gone, .n = c->ngone};
	keep_only(f, not_vanished, &g);
}

static int on_load(void *ctx, const struct imap_response *r)
{
	struct load_ctx *c = ctx;
	const struct imap_value *att, *v;
	uint32_t uid = imap_fetch_attributes(r, &att);
	if (!uid && c->vanished && r->args && r->args->count >= 2 &&
	    imap_value_is_atom(imap_value_at(r->args, 0), "VANISHED")) {
		on_vanished(c, r);
		return 0;
	}
	if (!uid || c->err || uid < c->min_uid)
		return 0;
	const struct imap_value *flags = NULL;
	size_t i;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 < att->count && imap_value_is_atom(v, "FLAGS"))
			flags = imap_value_next(v);
	}
	struct folder *f = c->f;
	int64_t mask = flags ? flags_mask(f, flags) : -1;
	if (flags && mask < 0) {
		c->err = IMAP_ERR_LIMIT;
		return 0;
	}
	/* Under QRESYNC, flag updates of other messages come with their UID
	 * too: only a FETCH with the ENVELOPE is a summary. */
	if (c->flags_only || !imap_fetch_item(att, "ENVELOPE", false)) {
		struct msg *known = find(f, uid);
		if (known && flags)
			known->flags = (uint32_t)mask;
		return 0;
	}
	struct imap_summary s = {.uid = uid};
	struct msg m = {.uid = uid, .flags = mask < 0 ? 0 : (uint32_t)mask};
	int rc = imap_summary_fill(&s, att);
	if (!rc) {
		char *from = imap_sort_key_string(IMAP_SORT_FROM, att, &s);
		char *to = imap_sort_key_string(IMAP_SORT_TO, att, &s);
		char *subject = imap_sort_key_string(IMAP_SORT_SUBJECT, att, &s);
		if (from && to && subject) {
			size_t lf = strlen(from) + 1, lt = strlen(to) + 1, ls = strlen(subject) + 1;
			if (lf + lt + ls <= UINT32_MAX && (m.keys = malloc(lf + lt + ls))) {
				memcpy(m.keys, from, lf);
				memcpy(m.keys + lf, to, lt);
				memcpy(m.keys + lf + lt, subject, ls);
				m.key_to = (uint32_t)lf;
				m.key_subject = (uint32_t)(lf + lt);
			}
		}
		free(from);
		free(to);
		free(subject);
		m.sum = imap_summary_share(&s);
		if (!m.sum || !m.keys)
			rc = IMAP_ERR_NOMEM;
	}
	imap_summary_free(&s);
	if (!rc)
		rc = insert(f, &m);
	if (rc) {
		msg_free(&m);
		c->err = rc;
		return 0;
	}
	c->added++;
	if (uid > c->max_uid)
		c->max_uid = uid;
	return 0;
}

/* Run a FETCH whose answers go to on_load. */
static int run_load(struct imap_index *ix, enum imap_index_reval kind, struct imap_session *s,
                    struct imap_cmd *c, struct load_ctx *lc, int64_t deadline,
                    struct imap_error *err)
{
	atomic_fetch_add(&ix->reval[kind], 1);
	int rc = imap_session_run(s, c, on_load, lc, deadline, err);
	imap_cmd_free(c);
	if (!rc && lc->err)
		rc = imap_error_set(err, lc->err, "cannot index a summary: %s", imap_strerror(lc->err));
	return rc;
}

/* ---- revalidation ---- */

struct status {
	bool has_messages, has_uidnext, has_modseq;
	uint32_t messages, uidnext, uidvalidity;
	uint64_t modseq;
};

static int on_status(void *ctx, const struct imap_response *r)
{
	struct status *st = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "STATUS"))
		return 0;
	const struct imap_value *items = imap_value_at(r->args, 2), *v;
	size_t i;
	if (!items || items->kind != IMAP_VALUE_LIST)
		return 0;
	IMAP_LIST_FOREACH(items, v, i) {
		if (i + 1 >= items->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		uint64_t n;
		if (imap_value_u64(val, UINT64_MAX, &n) == 0) {
			if (imap_value_is_atom(v, "MESSAGES") && n <= UINT32_MAX) {
				st->messages = (uint32_t)n;
				st->has_messages = true;
			} else if (imap_value_is_atom(v, "UIDNEXT") && n <= UINT32_MAX) {
				st->uidnext = (uint32_t)n;
				st->has_uidnext = true;
			} else if (imap_value_is_atom(v, "UIDVALIDITY") && n <= UINT32_MAX) {
				st->uidvalidity = (uint32_t)n;
			} else if (imap_value_is_atom(v, "HIGHESTMODSEQ")) {
				st->modseq = n;
				st->has_modseq = true;
			}
		}
		v = val;
		i++;
	}
	return 0;
}

static int folder_status(struct imap_index *ix, struct imap_session *s, const char *folder,
                         bool condstore, struct status *st, int64_t deadline,
                         struct imap_error *err)
{
	memset(st, 0, sizeof *st);
	/* NOOP first: a server answers STATUS of the selected folder from the
	 * session's view (Dovecot does), which only a command that may report
	 * changes brings up to date. Not pipelined: Dovecot runs the two at
	 * once and answers STATUS before the NOOP has synced. */
	struct imap_cmd c[2];
	imap_session_cmd(s, &c[0]);
	imap_cmd_atom(&c[0], "NOOP");
	imap_session_cmd(s, &c[1]);
	imap_cmd_atom(&c[1], "STATUS");
	imap_cmd_mailbox(&c[1], folder, strlen(folder));
	imap_cmd_raw(&c[1], condstore ? "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
	                              : "(MESSAGES UIDNEXT UIDVALIDITY)");
	atomic_fetch_add(&ix->reval[IMAP_INDEX_REVAL_STATUS], 1);
	int rc = imap_session_run(s, &c[0], NULL, NULL, deadline, err);
	if (!rc)
		rc = imap_session_run(s, &c[1], on_status, st, deadline, err);
	imap_cmd_free(&c[0]);
	imap_cmd_free(&c[1]);
	return rc;
}

/* Remove what the server no longer has and fetch what is missing below
 * f->uidnext: UID SEARCH ALL, then one UID FETCH for the holes. */
static int reconcile(struct imap_index *ix, struct folder *f, struct imap_session *s,
                     int64_t deadline, struct imap_error *err)
{
	static const struct imap_filter all;
	uint32_t *uids;
	size_t n;
	atomic_fetch_add(&ix->reval[IMAP_INDEX_REVAL_EXPUNGE], 1);
	int rc = imap_messages_search(s, &all, deadline, &uids, &n, err);
	if (rc)
		return rc;
	retain(f, uids, n, f->uidnext);
	struct imap_buf set;
	imap_buf_init(&set, 0);
	size_t holes = 0;
	for (size_t i = 0; i < n && holes < IMAP_INDEX_LOAD_BATCH; i++)
		if (uids[i] < f->uidnext && !find(f, uids[i])) {
			imap_buf_printf(&set, "%s%u", set.len ? "," : "", uids[i]);
			holes++;
		}
	free(uids);
	if (holes) {
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "UID");
		imap_cmd_atom(&c, "FETCH");
		imap_cmd_atom(&c, set.data);
		imap_cmd_raw(&c, "(" IMAP_SUMMARY_ITEMS ")");
		struct load_ctx lc = {.f = f};
		rc = run_load(ix, IMAP_INDEX_REVAL_NEW, s, &c, &lc, deadline, err);
	}
	imap_buf_free(&set);
	return rc;
}

/*
 * Bring a complete folder up to date with the server. With CONDSTORE the
 * flags are current afterwards; without, only membership is.
 */
static int revalidate(struct imap_index *ix, struct folder *f, struct imap_session *s,
                      const struct status *st, bool condstore, int64_t deadline,
                      struct imap_error *err)
{
	int rc = 0;
	if (condstore && st->modseq != f->modseq) {
		/* With QRESYNC the same command names the UIDs expunged since
		 * (VANISHED (EARLIER)), so no UID SEARCH ALL is needed for them. */
		bool qresync = imap_session_qresync(s);
		char since[48];
		snprintf(since, sizeof since, "(CHANGEDSINCE %llu%s)", (unsigned long long)f->modseq,
		         qresync ? " VANISHED" : "");
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_raw(&c, "UID FETCH 1:* (UID FLAGS)");
		imap_cmd_raw(&c, since);
		struct load_ctx lc = {.f = f, .flags_only = true, .vanished = qresync};
		rc = run_load(ix, qresync ? IMAP_INDEX_REVAL_QRESYNC : IMAP_INDEX_REVAL_CHANGEDSINCE, s,
		              &c, &lc, deadline, err);
		if (!rc)
			drop_vanished(f, &lc);
		free(lc.gone);
		if (rc)
			return rc;
	}
	if (st->uidnext > f->uidnext) {
		char range[32];
		snprintf(range, sizeof range, "%u:*", f->uidnext ? f->uidnext : 1);
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "UID");
		imap_cmd_atom(&c, "FETCH");
		imap_cmd_atom(&c, range);
		imap_cmd_raw(&c, "(" IMAP_SUMMARY_ITEMS ")");
		struct load_ctx lc = {.f = f, .min_uid = f->uidnext};
		if ((rc = run_load(ix, IMAP_INDEX_REVAL_NEW, s, &c, &lc, deadline, err)))
			return rc;
		f->uidnext = st->uidnext > lc.max_uid ? st->uidnext : lc.max_uid + 1;
	}
	if (f->n != st->messages && (rc = reconcile(ix, f, s, deadline, err)))
		return rc;
	if (condstore)
		f->modseq = st->modseq;
	return 0;
}

/* One batch of a folder being loaded, by sequence numbers; the last one
 * reconciles with UID SEARCH ALL (numbers shift when mail goes meanwhile). */
static int load_batch(struct imap_index *ix, struct folder *f, struct imap_session *s,
                      const struct status *st, imap_index_stop_fn *stop, void *stop_ctx,
                      int64_t deadline, struct imap_error *err)
{
	if (f->n == 0 && f->loaded_seq == 0) {
		/* Flags changed while loading show up in the first CHANGEDSINCE. */
		f->modseq = st->modseq;
		f->uidnext = st->uidnext;
	}
	int rc = 0;
	int64_t until = imap_now_ms() + IMAP_INDEX_LOAD_MS;
	for (bool first = true; f->loaded_seq < st->messages && imap_now_ms() < until &&
	                        (first || !stop || !stop(stop_ctx));
	     first = false) {
		uint32_t lo = f->loaded_seq + 1;
		uint32_t hi = st->messages - f->loaded_seq > IMAP_INDEX_LOAD_BATCH
		                  ? lo + IMAP_INDEX_LOAD_BATCH - 1 : st->messages;
		char range[32];
		snprintf(range, sizeof range, "%u:%u", lo, hi);
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "FETCH");
		imap_cmd_atom(&c, range);
		imap_cmd_raw(&c, "(" IMAP_SUMMARY_ITEMS ")");
		struct load_ctx lc = {.f = f};
		if ((rc = run_load(ix, IMAP_INDEX_REVAL_LOAD, s, &c, &lc, deadline, err)))
			return rc;
		f->loaded_seq = hi;
	}
	if (f->loaded_seq < st->messages)
		return 0;
	/* Everything up to the count at the start was read: new mail after
	 * the start, expunges and holes are settled as in any revalidation. */
	struct status now = *st;
	now.modseq = f->modseq;  /* keep the load's start: CHANGEDSINCE covers it */
	f->complete = true;
	rc = revalidate(ix, f, s, &now, false, deadline, err);
	if (rc)
		f->complete = false;
	atomic_store(&f->loaded, f->complete);
	return rc;
}

/* ---- pages ---- */

struct order_ctx {
	const struct msg *v;
	enum imap_sort_key key;
	int64_t *num;
};

static int by_key(const void *a, const void *b, void *ctx)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const struct order_ctx *c = ctx;
	const struct msg *mx = &c->v[x], *my = &c->v[y];
	int r = 0;
	switch (c->key) {
	case IMAP_SORT_FROM:
		r = strcmp(mx->keys, my->keys);
		break;
	case IMAP_SORT_TO:
		r = strcmp(mx->keys + mx->key_to, my->keys + my->key_to);
		break;
	case IMAP_SORT_SUBJECT:
		r = strcmp(mx->keys + mx->key_subject, my->keys + my->key_subject);
		break;
	default:
		r = c->num[x] < c->num[y] ? -1 : c->num[x] > c->num[y];
		break;
	}
	return r ? r : mx->uid < my->uid ? -1 : mx->uid > my->uid;
}

/* Positions of f's messages ascending by key (ties: UID); NULL for
 * arrival (the array itself) or no memory. */
static const uint32_t *order_of(struct folder *f, enum imap_sort_key key, bool *nomem)
{
	*nomem = false;
	if (key == IMAP_SORT_ARRIVAL || f->n == 0)
		return NULL;
	if (f->order[key])
		return f->order[key];
	uint32_t *o = malloc(f->n * sizeof *o);
	int64_t *num = malloc(f->n * sizeof *num);
	if (!o || !num) {
		free(o);
		free(num);
		*nomem = true;
		return NULL;
	}
	for (size_t i = 0; i < f->n; i++) {
		o[i] = (uint32_t)i;
		num[i] = imap_summary_shared_number(f->v[i].sum, key);
	}
	struct order_ctx c = {.v = f->v, .key = key, .num = num};
	qsort_r(o, f->n, sizeof *o, by_key, &c);
	free(num);
	f->order[key] = o;
	f->order_n[key] = f->n;
	f->bytes += f->n * sizeof *o;
	return o;
}

static bool filter_local(const struct imap_filter *fl)
{
	return !fl->has_unsubscribe && !fl->thread_of && !fl->from && !fl->to && !fl->subject &&
	       !fl->text && !fl->since && !fl->before && !fl->has_larger && !fl->has_smaller &&
	       !fl->list_id;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Build the page from f (locked, current). When searched, `matches`
 * (ascending UIDs, nmatches of them) is the server's SEARCH answer;
 * otherwise all messages count, less those the flag filters drop. */
static int build_page(struct imap_index *ix, struct folder *f, struct imap_session *s,
                      const struct imap_page_request *req, bool condstore, bool searched,
                      const uint32_t *matches, size_t nmatches, int64_t deadline,
                      struct imap_page *out, struct imap_error *err)
{
	bool nomem;
	const uint32_t *order = order_of(f, req->sort, &nomem);
	if (nomem)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	/* The matching positions in ascending key order. */
	uint32_t *sel = NULL;
	size_t nsel = f->n;
	bool all = !searched && !req->filter.unseen && !req->filter.flagged;
	if (!all) {
		sel = malloc((f->n ? f->n : 1) * sizeof *sel);
		if (!sel)
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		nsel = 0;
		for (size_t i = 0; i < f->n; i++) {
			uint32_t p = order ? order[i] : (uint32_t)i;
			const struct msg *m = &f->v[p];
			if (searched ? !nmatches || !bsearch(&m->uid, matches, nmatches, sizeof *matches,
			                                     cmp_u32)
			            : (req->filter.unseen && (m->flags & FLAG_SEEN)) ||
			              (req->filter.flagged && !(m->flags & FLAG_FLAGGED)))
				continue;
			sel[nsel++] = p;
		}
	}
#define POS(i) (sel ? sel[i] : order ? order[i] : (uint32_t)(i))
#define AT(i) POS(req->desc ? nsel - 1 - (i) : (i))
	uint64_t per = req->per_page ? req->per_page : 1;
	size_t start;
	if (req->has_cursor) {
		/* as imap_messages_page: just past the cursor's UID; when it is
		 * gone, the next UID in its direction (arrival) or its old
		 * position (other keys) */
		start = SIZE_MAX;
		for (size_t i = 0; i < nsel && start == SIZE_MAX; i++)
			if (f->v[AT(i)].uid == req->after_uid)
				start = i + 1;
		if (start == SIZE_MAX && req->sort == IMAP_SORT_ARRIVAL) {
			start = 0;
			while (start < nsel) {
				uint32_t uid = f->v[AT(start)].uid;
				if (req->desc ? uid < req->after_uid : uid > req->after_uid)
					break;
				start++;
			}
		} else if (start == SIZE_MAX) {
			start = req->after_pos + 1 < nsel ? req->after_pos + 1 : nsel;
		}
	} else {
		uint64_t s0 = (uint64_t)(req->page ? req->page - 1 : 0) * per;
		start = s0 > nsel ? nsel : (size_t)s0;
	}
	size_t count = nsel - start < per ? nsel - start : (size_t)per;
	int rc = 0;
	if (!condstore && count) {
		/* Without CONDSTORE only the page's flags are known to be current. */
		uint32_t *uids = malloc(count * sizeof *uids);
		if (!uids) {
			free(sel);
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < count; i++)
			uids[i] = f->v[AT(start + i)].uid;
		qsort(uids, count, sizeof *uids, cmp_u32);
		struct imap_buf set;
		imap_buf_init(&set, 0);
		for (size_t i = 0; i < count; i++)
			imap_buf_printf(&set, "%s%u", i ? "," : "", uids[i]);
		free(uids);
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "UID");
		imap_cmd_atom(&c, "FETCH");
		imap_cmd_atom(&c, set.data);
		imap_cmd_raw(&c, "(UID FLAGS)");
		imap_buf_free(&set);
		struct load_ctx lc = {.f = f, .flags_only = true};
		rc = run_load(ix, IMAP_INDEX_REVAL_PAGE_FLAGS, s, &c, &lc, deadline, err);
	}
	if (!rc) {
		out->uidvalidity = f->uidvalidity;
		out->total = (uint32_t)nsel;
		out->first_pos = (uint32_t)start;
		out->msgs = calloc(count ? count : 1, sizeof *out->msgs);
		if (!out->msgs)
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && i < count; i++) {
		const struct msg *m = &f->v[AT(start + i)];
		struct imap_summary *d = &out->msgs[out->n++];
		d->uid = m->uid;
		if (imap_summary_borrow(d, m->sum) || flags_expand(f, m->flags, d))
			rc = imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
#undef AT
#undef POS
	free(sel);
	return rc;
}

/* The page from f (locked, current), asking the server only for what the
 * index cannot decide (text filters; without CONDSTORE, the page's flags
 * and the flag filters). */
static int serve(struct imap_index *ix, struct folder *f, struct imap_session *s,
                 const struct imap_page_request *req, bool condstore, int64_t deadline,
                 struct imap_page *out, struct imap_error *err)
{
	uint32_t *matches = NULL;
	size_t nmatches = 0;
	int rc = 0;
	bool local = filter_local(&req->filter) &&
	             (condstore || (!req->filter.unseen && !req->filter.flagged));
	if (!local)
		rc = imap_messages_search(s, &req->filter, deadline, &matches, &nmatches, err);
	if (!rc)
		rc = build_page(ix, f, s, req, condstore, !local, matches, nmatches, deadline, out,
		                err);
	free(matches);
	if (rc)
		imap_page_free(out);
	return rc;
}

/* STATUS of folder (folder_status) and its UIDVALIDITY: STATUS's, else the
 * selection's (0: neither says). An unknown folder is IMAP_ERR_NOT_FOUND. */
static int folder_probe(struct imap_index *ix, struct imap_session *s, const char *folder,
                        bool condstore, struct status *st, uint32_t *uidvalidity,
                        int64_t deadline, struct imap_error *err)
{
	int rc = folder_status(ix, s, folder, condstore, st, deadline, err);
	if (rc == IMAP_ERR_NO)
		rc = imap_error_set(err, IMAP_ERR_NOT_FOUND, "no folder %.200s", folder);
	const struct imap_mailbox *mb = imap_session_mailbox(s);
	*uidvalidity = st->uidvalidity ? st->uidvalidity : mb ? mb->uidvalidity : 0;
	return rc;
}

/* Probe folder (folder_probe) and hold f (locked) to what the server
 * says: unindexable when it hides what revalidation needs (*condstore
 * then false), emptied at once on a new UIDVALIDITY. */
static int folder_match(struct imap_index *ix, struct folder *f, struct imap_session *s,
                        const char *folder, bool *condstore, struct status *st,
                        int64_t deadline, struct imap_error *err)
{
	uint32_t uidvalidity;
	int rc = folder_probe(ix, s, folder, *condstore, st, &uidvalidity, deadline, err);
	if (rc)
		return rc;
	if (!st->has_messages || !st->has_uidnext || (*condstore && !st->has_modseq) || !uidvalidity)
		*condstore = false, f->unindexable = true;  /* the server hides what we need */
	if (f->uidvalidity != uidvalidity) {
		if (f->uidvalidity || f->n) {
			pthread_mutex_lock(&ix->lock);
			ix->dropped++;
			pthread_mutex_unlock(&ix->lock);
		}
		folder_clear(f);
		f->uidvalidity = uidvalidity;
	}
	return 0;
}

/* Unlock f and give it back, with what it grew by since old_bytes, old_n. */
static void folder_release(struct imap_index *ix, struct folder *f, size_t old_bytes,
                           size_t old_n)
{
	ptrdiff_t dbytes = (ptrdiff_t)f->bytes - (ptrdiff_t)old_bytes;
	ptrdiff_t dn = (ptrdiff_t)f->n - (ptrdiff_t)old_n;
	pthread_mutex_unlock(&f->lock);
	folder_put(ix, f, dbytes, dn);
}

/* ---- the entry point ---- */

static int lock_until(pthread_mutex_t *m, int64_t deadline)
{
	int64_t ms = deadline;
	struct timespec ts;
	/* deadlines are imap_now_ms based (monotonic); the lock waits on the
	 * realtime clock: convert the remaining time */
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t left = ms - imap_now_ms();
	if (left < 0)
		left = 0;
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_mutex_timedlock(m, &ts);
}

uint64_t imap_index_arrival(struct imap_index *ix)
{
	return ix ? atomic_fetch_add(&ix->tickets, 1) + 1 : 0;
}

/* Whether a subject-sorted page may come from the index on the server of
 * s: when the server sorts by subject as imap_subject_sort_key keys
 * compare (Dovecot), or when it has no SORT the gateway uses (its pages
 * are sorted locally with the same keys anyway). */
static bool subjects_known(struct imap_session *s, int64_t deadline)
{
	uint32_t caps = 0;
	struct imap_error err = {0};
	if (imap_session_caps(s, &caps, deadline, &err) != 0)
		return false;
	return !(caps & IMAP_CAP_SORT) || imap_session_learned(s, IMAP_LEARNED_DOVECOT_SUBJECTS);
}

int imap_index_page(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder,
                    const struct imap_page_request *req, uint64_t arrived, int64_t deadline,
                    struct imap_page *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	if (!ix)
		return imap_messages_page(s, folder, req, deadline, out, err);
	/* A revalidation that begins after the request arrived is as fresh
	 * as one it would make itself. */
	if (!arrived)
		arrived = imap_index_arrival(ix);
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	struct folder *f = folder_get(ix, key, folder, false);
	/* A folder not loaded (yet) is answered exactly as without the
	 * index, with nothing sent before or after the page: imap_index_load
	 * loads it, apart from the requests. */
	if (!f || !atomic_load(&f->loaded) || lock_until(&f->lock, deadline) != 0) {
		if (f)
			folder_put(ix, f, 0, 0);
		atomic_fetch_add(&ix->misses, 1);
		return imap_messages_page(s, folder, req, deadline, out, err);
	}
	size_t old_bytes = f->bytes, old_n = f->n;
	bool condstore = imap_session_condstore(s);
	f->subjects = subjects_known(s, deadline);
	bool local = req->sort != IMAP_SORT_SUBJECT || f->subjects;
	if (f->complete && f->fresh_from > arrived && !f->unindexable && local &&
	    condstore == (f->modseq != 0)) {
		/* Another request revalidated the folder after this one arrived
		 * (while this one waited for the lock): its answer is current. */
		rc = serve(ix, f, s, req, condstore, deadline, out, err);
		atomic_fetch_add(rc ? &ix->misses : &ix->hits, 1);
		folder_release(ix, f, old_bytes, old_n);
		return rc;
	}
	uint64_t began = atomic_fetch_add(&ix->tickets, 1) + 1;
	atomic_store(&f->running, began);
	struct status st;
	rc = folder_match(ix, f, s, folder, &condstore, &st, deadline, err);
	if (!rc && condstore && st.modseq == 0)
		condstore = false;  /* NOMODSEQ folder */
	bool served = false;
	/* A subject order the gateway cannot prove stays with the server's
	 * SORT; the folder is still revalidated or loaded for the next page. */
	if (!rc && !f->unindexable && (local || !f->complete)) {
		if (f->complete) {
			rc = revalidate(ix, f, s, &st, condstore, deadline, err);
			f->fresh_from = rc ? 0 : began;
			if (!rc)
				rc = serve(ix, f, s, req, condstore, deadline, out, err);
			served = true;
		} else {
			/* dropped since it was seen loaded (a new UIDVALIDITY) */
			rc = imap_messages_page(s, folder, req, deadline, out, err);
			served = rc != 0;  /* an error: neither a hit nor a miss */
		}
	} else if (!rc) {
		rc = imap_messages_page(s, folder, req, deadline, out, err);
	}
	if (f->unindexable)
		folder_clear(f);
	atomic_store(&f->running, 0);
	atomic_fetch_add(served && !rc ? &ix->hits : &ix->misses, 1);
	folder_release(ix, f, old_bytes, old_n);
	return rc;
}

/* ---- loading ---- */

uint64_t imap_index_load_claim(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                               const char *folder)
{
	if (!ix)
		return 0;
	struct folder *f = folder_get(ix, key, folder, true);
	if (!f)
		return 0;
	uint64_t claim = 0;
	/* held by someone: a page of a loaded folder, or its loader's step */
	if (!atomic_load(&f->loaded) && pthread_mutex_trylock(&f->lock) == 0) {
		uint64_t none = 0;
		uint64_t mine = atomic_fetch_add(&ix->tickets, 1) + 1;
		if (!f->complete && !f->unindexable &&
		    atomic_compare_exchange_strong(&f->loader, &none, mine))
			claim = mine;
		pthread_mutex_unlock(&f->lock);
	}
	folder_put(ix, f, 0, 0);
	return claim;
}

void imap_index_load_drop(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                          const char *folder, uint64_t claim)
{
	struct folder *f = ix && claim ? folder_get(ix, key, folder, false) : NULL;
	if (!f)
		return;
	atomic_compare_exchange_strong(&f->loader, &claim, 0);
	folder_put(ix, f, 0, 0);
}

int imap_index_load(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder, uint64_t claim,
                    imap_index_stop_fn *stop, void *stop_ctx, int64_t deadline,
                    struct imap_error *err)
{
	struct folder *f = ix && claim ? folder_get(ix, key, folder, false) : NULL;
	if (!f)
		return 0;  /* dropped for room meanwhile: a later claim starts again */
	if (atomic_load(&f->loader) != claim || lock_until(&f->lock, deadline) != 0) {
		imap_index_load_drop(ix, key, folder, claim);
		folder_put(ix, f, 0, 0);
		return 0;
	}
	size_t old_bytes = f->bytes, old_n = f->n;
	int rc = imap_session_select(s, folder, true, deadline, err);
	bool condstore = imap_session_condstore(s);
	struct status st;
	if (!rc)
		rc = folder_match(ix, f, s, folder, &condstore, &st, deadline, err);
	if (!rc && !f->unindexable && !f->complete) {
		rc = load_batch(ix, f, s, &st, stop, stop_ctx, deadline, err);
		if (rc == IMAP_ERR_LIMIT) {
			f->unindexable = true;  /* more keywords than a mask holds */
			rc = 0;
		}
	}
	if (f->unindexable)
		folder_clear(f);
	if (imap_session_state(s) == IMAP_SESSION_BROKEN && !f->complete)
		folder_clear(f);  /* a load cut short: start again */
	bool more = !rc && !f->unindexable && !f->complete;
	if (!more)
		atomic_store(&f->loader, 0);
	folder_release(ix, f, old_bytes, old_n);
	return rc ? rc : more ? IMAP_INDEX_MORE : 0;
}

int imap_index_page_held(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                         const char *folder, const struct imap_page_request *req,
                         uint64_t arrived, int64_t deadline, struct imap_page *out,
                         struct imap_state *state)
{
	memset(out, 0, sizeof *out);
	memset(state, 0, sizeof *state);
	if (!ix || !arrived || !filter_local(&req->filter))
		return IMAP_ERR_UNSUPPORTED;
	struct folder *f = folder_get(ix, key, folder, false);
	if (!f)
		return IMAP_ERR_UNSUPPORTED;
	/* Wait for the revalidation under way (whichever began it): when it
	 * began after the request arrived it answers it; otherwise the next
	 * one, begun by a request with a session, may. With none under way
	 * and none current the request takes a session and begins one. */
	int rc = IMAP_ERR_UNSUPPORTED;
	ptrdiff_t dbytes = 0;  /* a sort order built for the page */
	for (int round = 0; rc && round < HELD_WAITS && atomic_load(&f->loaded); round++) {
		if (round > 0 && atomic_load(&f->running) == 0)
			break;
		if (lock_until(&f->lock, deadline) != 0)
			break;
		/* Only a folder revalidated with CONDSTORE: its flags are all
		 * current, and the page needs nothing more from the server. */
		if (f->complete && !f->unindexable && f->modseq != 0 && f->fresh_from > arrived &&
		    (req->sort != IMAP_SORT_SUBJECT || f->subjects)) {
			struct imap_error err = {0};
			size_t before = f->bytes;
			rc = build_page(ix, f, NULL, req, true, false, NULL, 0, deadline, out, &err);
			dbytes = (ptrdiff_t)f->bytes - (ptrdiff_t)before;
			if (rc) {
				imap_page_free(out);
				rc = IMAP_ERR_UNSUPPORTED;
				round = HELD_WAITS;
			} else {
				state->uidvalidity = f->uidvalidity;
				state->uidnext = f->uidnext;
				state->exists = (uint32_t)f->n;
				state->modseq = f->modseq;
			}
		}
		pthread_mutex_unlock(&f->lock);
		if (rc && atomic_load(&f->running) == 0)
			sched_yield();  /* let a request with a session begin the next one */
	}
	if (!rc) {
		atomic_fetch_add(&ix->hits, 1);
		atomic_fetch_add(&ix->held, 1);
	}
	folder_put(ix, f, dbytes, 0);
	return rc;
}

/* ---- every message of a folder ---- */

/* Whether the flag named `name` is in mask (keywords compared in any case,
 * as RFC 3501 §2.3.2 has them). */
static bool mask_has(const struct folder *f, uint32_t mask, const char *name)
{
	for (unsigned k = 0; k < f->nkeywords; k++)
		if ((mask & (1u << (SYSTEM_FLAGS + k))) && strcasecmp(f->keywords[k], name) == 0)
			return true;
	return false;
}

int imap_index_each(struct imap_index *ix, const unsigned char key[IMAP_INDEX_KEY_LEN],
                    struct imap_session *s, const char *folder, const uint32_t *only,
                    size_t nonly, const char *keyword, int64_t deadline,
                    imap_index_visit_fn fn, void *ctx, uint32_t *uidvalidity,
                    struct imap_error *err)
{
	if (!ix)
		return IMAP_INDEX_UNUSED;
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	struct folder *f = folder_get(ix, key, folder, false);
	if (!f)
		return IMAP_INDEX_UNUSED;
	/* only a loaded folder, and only when nobody else holds it: whoever
	 * waits would be better off asking the server */
	if (!atomic_load(&f->loaded) || pthread_mutex_trylock(&f->lock) != 0) {
		folder_put(ix, f, 0, 0);
		atomic_fetch_add(&ix->misses, 1);
		return IMAP_INDEX_UNUSED;
	}
	size_t old_bytes = f->bytes, old_n = f->n;
	bool condstore = imap_session_condstore(s);
	uint64_t began = atomic_fetch_add(&ix->tickets, 1) + 1;
	struct status st;
	uint32_t uv;
	rc = folder_probe(ix, s, folder, condstore, &st, &uv, deadline, err);
	const struct imap_mailbox *mb = imap_session_mailbox(s);
	bool usable = !rc && f->complete && !f->unindexable && st.has_messages &&
	              st.has_uidnext && uv && uv == f->uidvalidity &&
	              (!mb || mb->uidvalidity == uv);
	if (condstore && (!st.has_modseq || st.modseq == 0 || f->modseq == 0))
		condstore = false;  /* no MODSEQ to go by: all the flags are fetched below */
	if (usable) {
		rc = revalidate(ix, f, s, &st, condstore, deadline, err);
		f->fresh_from = rc ? 0 : began;
		if (!rc && !condstore) {
			/* without CONDSTORE only membership is current: the flags of
			 * every message, one short FETCH without any header */
			struct imap_cmd c;
			imap_session_cmd(s, &c);
			imap_cmd_raw(&c, "UID FETCH 1:* (UID FLAGS)");
			struct load_ctx lc = {.f = f, .flags_only = true};
			rc = run_load(ix, IMAP_INDEX_REVAL_ALL_FLAGS, s, &c, &lc, deadline, err);
		}
		if (rc == IMAP_ERR_LIMIT) {
			f->unindexable = true;  /* more keywords than a mask holds */
			rc = 0;
		}
		usable = !rc && !f->unindexable;
	}
	if (usable) {
		*uidvalidity = f->uidvalidity;
		size_t k = 0;
		for (size_t i = 0; !rc && i < f->n; i++) {
			const struct msg *m = &f->v[i];
			if (only) {
				while (k < nonly && only[k] < m->uid)
					k++;
				if (k == nonly)
					break;
				if (only[k] != m->uid)
					continue;
			}
			struct imap_summary sum = {0};
			if ((rc = imap_summary_borrow(&sum, m->sum)) == 0) {
				rc = fn(ctx, m->uid, &sum, (m->flags & FLAG_SEEN) != 0,
				        keyword && mask_has(f, m->flags, keyword));
				imap_summary_free(&sum);
			}
			if (rc)
				rc = imap_error_set(err, rc, "out of memory");
		}
	}
	if (f->unindexable || imap_session_state(s) == IMAP_SESSION_BROKEN)
		folder_clear(f);  /* what it holds may be half-updated: load it again */
	atomic_fetch_add(usable && !rc ? &ix->hits : &ix->misses, 1);
	folder_release(ix, f, old_bytes, old_n);
	if (rc)
		return rc;
	return usable ? 0 : IMAP_INDEX_UNUSED;
}

/* ---- the index ---- */

struct imap_index *imap_index_new(size_t max_bytes)
{
	if (!max_bytes)
		return NULL;
	struct imap_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return NULL;
	pthread_mutex_init(&ix->lock, NULL);
	ix->max_bytes = max_bytes;
	return ix;
}

void imap_index_free(struct imap_index **ixp)
{
	struct imap_index *ix = ixp ? *ixp : NULL;
	if (!ix)
		return;
	for (struct folder *f = ix->lru_head, *next; f; f = next) {
		next = f->lru_next;
		folder_free(f);
	}
	pthread_mutex_destroy(&ix->lock);
	free(ix);
	*ixp = NULL;
}

void imap_index_stats(struct imap_index *ix, struct imap_index_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!ix)
		return;
	out->hits = atomic_load(&ix->hits);
	out->misses = atomic_load(&ix->misses);
	out->held = atomic_load(&ix->held);
	for (size_t k = 0; k < IMAP_INDEX_REVAL_KINDS; k++)
		out->reval[k] = atomic_load(&ix->reval[k]);
	pthread_mutex_lock(&ix->lock);
	out->folders = ix->folders;
	out->messages = ix->messages;
	out->bytes = ix->bytes;
	out->max_bytes = ix->max_bytes;
	out->evicted = ix->evicted;
	out->dropped = ix->dropped;
	pthread_mutex_unlock(&ix->lock);
}

const char *imap_index_reval_name(enum imap_index_reval kind)
{
	static const char *const names[] = {
		[IMAP_INDEX_REVAL_STATUS] = "status",
		[IMAP_INDEX_REVAL_CHANGEDSINCE] = "changedsince",
		[IMAP_INDEX_REVAL_QRESYNC] = "qresync",
		[IMAP_INDEX_REVAL_PAGE_FLAGS] = "page_flags",
		[IMAP_INDEX_REVAL_NEW] = "new",
		[IMAP_INDEX_REVAL_EXPUNGE] = "expunge_search",
		[IMAP_INDEX_REVAL_LOAD] = "load",
		[IMAP_INDEX_REVAL_ALL_FLAGS] = "all_flags",
	};
	return kind < IMAP_INDEX_REVAL_KINDS ? names[kind] : "other";
}
