/*
 * imap/senders.c — grouping mail by sender from header fields alone. See
 * senders.h.
 *
 * One message costs one small literal (the seven header fields) and a few
 * short strings for as long as it is the newest of its group; a group
 * holds counts, two dates, five UIDs per folder and its newest message's
 * unsubscribe fields. Nothing is kept per message.
 */
#include "imap/senders.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/codec.h"
#include "imap/envelope.h"
#include "imap/mail/date.h"
#include "imap/mail/mime.h"
#include "imap/mail/utf7.h"
#include "imap/messages.h"
#include "imap/parser.h"

static atomic_ullong fetches[2];         /* UID FETCHes sent: counting, details */
static atomic_ullong fetched[2];         /* messages asked for by them */
static atomic_ullong indexed;            /* messages counted from an index */

void imap_senders_stats(struct imap_senders_stats *out)
{
	out->count_fetches = atomic_load(&fetches[0]);
	out->details_fetches = atomic_load(&fetches[1]);
	out->count_fetched = atomic_load(&fetched[0]);
	out->details_fetched = atomic_load(&fetched[1]);
	out->indexed = atomic_load(&indexed);
}

void imap_senders_init(struct imap_senders *g, enum imap_senders_grouping grouping,
                       const char *const *trusted, size_t ntrusted)
{
	memset(g, 0, sizeof *g);
	g->grouping = grouping;
	g->trusted = trusted;
	g->ntrusted = ntrusted;
}

static void group_free(struct imap_sender_group *gr)
{
	free(gr->key);
	free(gr->list_id);
	free(gr->from_name);
	free(gr->from_address);
	free(gr->unsub);
	free(gr->unsub_post);
	for (size_t i = 0; i < gr->nfolders; i++)
		free(gr->folders[i].folder);
	free(gr->folders);
}

void imap_senders_free(struct imap_senders *g)
{
	for (size_t i = 0; i < g->n; i++)
		group_free(&g->v[i]);
	free(g->v);
	free(g->slots);
	free(g->matched);
	memset(g, 0, sizeof *g);
}

/* ---- one message's facts ---- */

struct msg_facts {
	struct imap_mime_header h;   /* read only when the details are wanted */
	char *own_name, *own_address, *own_list_id;
	const char *from_name, *from_address, *from_domain; /* "" without an address */
	char list_id[IMAP_SENDERS_KEY_MAX + 1];               /* "" without */
	char key[IMAP_SENDERS_KEY_MAX + 1];
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Copy s[0..n) into out (cap bytes with the NUL) in lower case, cut at a
 * UTF-8 character boundary when it does not fit. */
static void copy_lower(const char *s, size_t n, char *out, size_t cap)
{
	n = imap_mime_utf8_truncate(s, n, cap - 1, NULL);
	for (size_t i = 0; i < n; i++)
		out[i] = lower(s[i]);
	out[n] = '\0';
}

static void facts_free(struct msg_facts *f)
{
	imap_mime_header_free(&f->h);
	free(f->own_name);
	free(f->own_address);
	free(f->own_list_id);
}

/* The key and the fields it is made of, from a List-Id (as
 * imap_header_list_id makes it) and the From address (imap_header_from):
 * the one place both scans, the server's and the index's, make keys. */
static void facts_set(enum imap_senders_grouping grouping, const char *list_id,
                      const char *name, const char *address, struct msg_facts *f)
{
	f->from_name = name;
	f->from_address = address ? address : "";
	const char *at = strrchr(f->from_address, '@');
	f->from_domain = at ? at + 1 : "";
	size_t n = list_id ? imap_mime_utf8_truncate(list_id, strlen(list_id),
	                                             sizeof f->list_id - 1, NULL) : 0;
	memcpy(f->list_id, list_id ? list_id : "", n);
	f->list_id[n] = '\0';
	const char *kind, *val;
	if (grouping == IMAP_SENDERS_BY_DOMAIN) {
		kind = "d:";
		val = f->from_domain;
	} else if (f->list_id[0]) {
		kind = "l:";
		val = f->list_id;
	} else {
		kind = "a:";
		val = f->from_address;
	}
	memcpy(f->key, kind, 2);
	copy_lower(val, strlen(val), f->key + 2, sizeof f->key - 2);
}

/* The facts of a raw header block; with `header` also its parsed fields
 * (the unsubscribe fields and trust need them). */
static int facts_read(enum imap_senders_grouping grouping, const char *raw, size_t len,
                      bool header, struct msg_facts *f)
{
	memset(f, 0, sizeof *f);
	int rc = imap_header_from(raw, len, &f->own_name, &f->own_address);
	if (rc)
		return rc;
	f->own_list_id = imap_header_list_id(raw, len);
	facts_set(grouping, f->own_list_id, f->own_name, f->own_address, f);
	if (header && (rc = imap_mime_header_read(raw, len, NULL, &f->h)) == IMAP_ERR_LIMIT)
		rc = 0;  /* an absurd header: no unsubscribe fields, no trust */
	return rc;
}

int imap_senders_key(enum imap_senders_grouping grouping, const char *header, size_t len,
                     char *out, size_t cap)
{
	struct msg_facts f;
	int rc = facts_read(grouping, header, len, false, &f);
	if (!rc) {
		size_t n = strlen(f.key);
		if (n >= cap)
			n = imap_mime_utf8_truncate(f.key, n, cap - 1, NULL);
		memcpy(out, f.key, n);
		out[n] = '\0';
	}
	facts_free(&f);
	return rc;
}

bool imap_senders_key_valid(const char *key, size_t len)
{
	if (len < 2 || len > IMAP_SENDERS_KEY_MAX || key[1] != ':' ||
	    (key[0] != 'l' && key[0] != 'a' && key[0] != 'd') ||
	    imap_utf8_validate(key, len) != 0)
		return false;
	if (key[0] == 'l' && len == 2)
		return false;  /* a List-Id key always names one */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 0x20 || c == 0x7f || (c >= 'A' && c <= 'Z'))
			return false;
	}
	return true;
}

/* ---- the table ---- */

static uint64_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int rehash(struct imap_senders *g, size_t nslots)
{
	size_t *slots = calloc(nslots, sizeof *slots);
	if (!slots)
		return IMAP_ERR_NOMEM;
	for (size_t i = 0; i < g->n; i++) {
		size_t k = hash(g->v[i].key) & (nslots - 1);
		while (slots[k])
			k = (k + 1) & (nslots - 1);
		slots[k] = i + 1;
	}
	free(g->slots);
	g->slots = slots;
	g->nslots = nslots;
	return 0;
}

/* The group of key, or NULL with *slot set to the free slot where it
 * would go (the table has slots). */
static struct imap_sender_group *probe(const struct imap_senders *g, const char *key,
                                       size_t *slot)
{
	size_t k = hash(key) & (g->nslots - 1);
	while (g->slots[k]) {
		struct imap_sender_group *gr = &g->v[g->slots[k] - 1];
		if (strcmp(gr->key, key) == 0)
			return gr;
		k = (k + 1) & (g->nslots - 1);
	}
	*slot = k;
	return NULL;
}

/* The group of key, or NULL. */
static struct imap_sender_group *group_find(const struct imap_senders *g, const char *key)
{
	size_t k;
	return g->nslots ? probe(g, key, &k) : NULL;
}

/* The group of key, made when new; NULL when memory runs out. */
static struct imap_sender_group *group_of(struct imap_senders *g, const char *key)
{
	if ((g->n + 1) * 2 > g->nslots && rehash(g, g->nslots ? g->nslots * 2 : 64))
		return NULL;
	size_t k;
	struct imap_sender_group *found = probe(g, key, &k);
	if (found)
		return found;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 32;
		struct imap_sender_group *v = realloc(g->v, cap * sizeof *v);
		if (!v)
			return NULL;
		/* newest_folder points into folders[], which do not move */
		g->v = v;
		g->cap = cap;
	}
	struct imap_sender_group *gr = &g->v[g->n];
	memset(gr, 0, sizeof *gr);
	if (!(gr->key = strdup(key)))
		return NULL;
	g->slots[k] = ++g->n;
	return gr;
}

static struct imap_sender_folder *folder_of(struct imap_sender_group *gr, const char *folder)
{
	for (size_t i = 0; i < gr->nfolders; i++)
		if (strcmp(gr->folders[i].folder, folder) == 0)
			return &gr->folders[i];
	struct imap_sender_folder *v = realloc(gr->folders, (gr->nfolders + 1) * sizeof *v);
	if (!v)
		return NULL;
	/* newest_folder points at a folder string, which does not move */
	gr->folders = v;
	struct imap_sender_folder *f = &v[gr->nfolders];
	memset(f, 0, sizeof *f);
	if (!(f->folder = strdup(folder)))
		return NULL;
	gr->nfolders++;
	return f;
}

/* Keep the IMAP_SENDERS_SAMPLES highest UIDs, descending. */
static void sample(struct imap_sender_folder *f, uint32_t uid)
{
	size_t i = f->nuids;
	if (i == IMAP_SENDERS_SAMPLES) {
		if (uid <= f->uids[i - 1])
			return;
		i--;
	} else {
		f->nuids++;
	}
	while (i > 0 && f->uids[i - 1] < uid) {
		f->uids[i] = f->uids[i - 1];
		i--;
	}
	f->uids[i] = uid;
}

static int set_str(char **dst, const char *s)
{
	char *c = s ? strdup(s) : NULL;
	if (s && !c)
		return IMAP_ERR_NOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int details(const struct imap_senders *g, struct imap_sender_group *gr,
                   const struct msg_facts *f);

struct message {
	uint32_t uid;
	bool seen, unsubscribed, has_date;
	int64_t received;
	int tz;
};

static int add(struct imap_senders *g, const char *folder, const struct message *m,
               const struct msg_facts *f)
{
	struct imap_sender_group *gr = group_of(g, f->key);
	struct imap_sender_folder *fo = gr ? folder_of(gr, folder) : NULL;
	if (!fo)
		return IMAP_ERR_NOMEM;
	gr->count++;
	gr->unseen += !m->seen;
	fo->count++;
	sample(fo, m->uid);
	bool newest = gr->count == 1;
	if (m->has_date) {
		if (!gr->has_dates || m->received < gr->first) {
			gr->first = m->received;
			gr->first_tz = m->tz;
		}
		if (!gr->has_dates || m->received > gr->last ||
		    (m->received == gr->last && m->uid > gr->newest_uid)) {
			newest = true;
			gr->last = m->received;
			gr->last_tz = m->tz;
		}
		gr->has_dates = true;
	} else if (!gr->has_dates && m->uid > gr->newest_uid) {
		newest = true;
	}
	if (!newest)
		return 0;
	if (set_str(&gr->list_id, f->list_id[0] ? f->list_id : NULL) ||
	    set_str(&gr->from_name, f->from_name && f->from_name[0] ? f->from_name : NULL) ||
	    set_str(&gr->from_address, f->from_address))
		return IMAP_ERR_NOMEM;
	gr->unsubscribed = m->unsubscribed;
	gr->newest_folder = fo->folder;
	gr->newest_uid = m->uid;
	return g->light ? 0 : details(g, gr, f);
}

/* The unsubscribe fields and trust of a group's newest message. */
static int details(const struct imap_senders *g, struct imap_sender_group *gr,
                   const struct msg_facts *f)
{
	/* the name and address as the header gives them, whichever way the
	 * group was counted (an index holds no display name of its own) */
	if (set_str(&gr->from_name, f->from_name && f->from_name[0] ? f->from_name : NULL) ||
	    set_str(&gr->from_address, f->from_address))
		return IMAP_ERR_NOMEM;
	const char *unsub = imap_mime_header_get(&f->h, "list-unsubscribe");
	const char *post = imap_mime_header_get(&f->h, "list-unsubscribe-post");
	if (set_str(&gr->unsub, unsub) || set_str(&gr->unsub_post, post))
		return IMAP_ERR_NOMEM;
	imap_sender_trust_eval(&f->h, g->trusted, g->ntrusted, f->from_domain, &gr->trust);
	return 0;
}

int imap_senders_add_summary(struct imap_senders *g, const char *folder, uint32_t uid,
                             const struct imap_summary *sum, bool seen, bool unsubscribed)
{
	/* the envelope's display name stands in until the details phase reads
	 * the header's */
	const char *name = NULL;
	for (size_t i = 0; i < sum->env.from.n && sum->from_address; i++) {
		const struct imap_address *a = &sum->env.from.v[i];
		if (a->address && strcasecmp(a->address, sum->from_address) == 0) {
			name = a->name;
			break;
		}
	}
	struct msg_facts f;
	memset(&f, 0, sizeof f);
	facts_set(g->grouping, sum->list_id, name, sum->from_address, &f);
	atomic_fetch_add(&indexed, 1);
	struct message m = {.uid = uid, .seen = seen, .unsubscribed = unsubscribed,
	                    .has_date = sum->has_internaldate, .received = sum->internaldate,
	                    .tz = sum->internaldate_tz};
	return add(g, folder, &m, &f);
}

/* ---- the IMAP side ---- */

int imap_senders_uids(struct imap_session *s, const struct imap_senders *g, const char *folder,
                      const char *since, int64_t deadline, uint32_t **uids, size_t *n,
                      uint32_t *uidvalidity, struct imap_error *err)
{
	*uids = NULL;
	*n = 0;
	const struct imap_mailbox *mb = imap_session_mailbox(s);
	bool selected = mb && mb->name && strcmp(mb->name, folder) == 0;
	/* a selection kept from an earlier request looks again first: its
	 * SEARCH would otherwise miss what other sessions did since */
	int rc = selected ? imap_session_noop(s, deadline, err)
	                  : imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	mb = imap_session_mailbox(s);
	*uidvalidity = mb ? mb->uidvalidity : 0;
	struct imap_filter f = {.since = since};
	if (g->only_key) {
		const char *val = g->only_key + 2;
		if (g->only_key[0] == 'l')
			f.list_id = val;
		else if (*val)
			f.from = val;
	}
	if (mb && mb->exists == 0)
		return 0;  /* nothing to search */
	return imap_messages_search(s, &f, deadline, uids, n, err);
}

struct batch {
	struct imap_senders *g;
	const char *folder;
	const uint32_t *uids;
	size_t n;
	bool *done;
	bool details;   /* imap_senders_details: set facts, count nothing */
	int rc;
};

static bool has_flag(const struct imap_value *flags, const char *name)
{
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(flags, v, i) {
		if (imap_value_is_string(v) && v->len == strlen(name) &&
		    strncasecmp(v->str, name, v->len) == 0)
			return true;
	}
	return false;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int push_matched(struct imap_senders *g, uint32_t uid)
{
	if (g->nmatched == g->matched_cap) {
		size_t cap = g->matched_cap ? g->matched_cap * 2 : 64;
		uint32_t *v = realloc(g->matched, cap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		g->matched = v;
		g->matched_cap = cap;
	}
	g->matched[g->nmatched++] = uid;
	return 0;
}

static int on_fetch(void *ctx, const struct imap_response *r)
{
	struct batch *b = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	if (!att || !uid || b->rc)
		return 0;
	const struct imap_value *hdr = imap_fetch_item(att, "BODY[HEADER.FIELDS", true);
	const uint32_t *pos = bsearch(&uid, b->uids, b->n, sizeof uid, cmp_u32);
	if (!hdr || !pos || b->done[pos - b->uids])
		return 0;  /* a flag update, a UID not asked for, or one seen already */
	b->done[pos - b->uids] = true;
	struct message m = {.uid = uid};
	const struct imap_value *flags = imap_fetch_item(att, "FLAGS", false);
	if (flags && flags->kind == IMAP_VALUE_LIST) {
		m.seen = has_flag(flags, "\\Seen");
		m.unsubscribed = has_flag(flags, IMAP_SENDERS_KEYWORD);
	}
	const struct imap_value *idate = imap_fetch_item(att, "INTERNALDATE", false);
	if (idate && imap_value_is_string(idate))
		m.has_date = imap_date_parse_internal(idate->str, idate->len, &m.received, &m.tz) == 0;
	struct msg_facts f;
	const char *raw = imap_value_is_string(hdr) ? hdr->str : "";
	size_t len = imap_value_is_string(hdr) ? hdr->len : 0;
	int rc = facts_read(b->g->grouping, raw, len, b->details || !b->g->light, &f);
	if (!rc && b->details) {
		struct imap_sender_group *gr = group_find(b->g, f.key);
		if (gr && gr->newest_uid == uid && gr->newest_folder &&
		    strcmp(gr->newest_folder, b->folder) == 0)
			b->rc = details(b->g, gr, &f);
		facts_free(&f);
		return 0;
	}
	if (!rc && b->g->only_key && strcmp(f.key, b->g->only_key) != 0) {
		facts_free(&f);
		return 0;
	}
	if (!rc)
		rc = add(b->g, b->folder, &m, &f);
	if (!rc && b->g->only_key)
		rc = push_matched(b->g, uid);
	facts_free(&f);
	b->rc = rc;
	return 0;
}

/* One UID FETCH of items for uids[0..n) of folder, each answer handed to
 * on_fetch (counting, or only setting details). */
static int fetch(struct imap_senders *g, struct imap_session *s, const char *folder,
                 uint32_t uidvalidity, const uint32_t *uids, size_t n, bool details_only,
                 int64_t deadline, struct imap_error *err)
{
	g->nmatched = 0;
	if (n == 0)
		return 0;
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	const struct imap_mailbox *mb = imap_session_mailbox(s);
	if (!mb || mb->uidvalidity != uidvalidity)
		return imap_error_set(err, IMAP_ERR_STALE,
		                      "the folder's UIDVALIDITY changed during the scan: start again");
	struct batch b = {.g = g, .folder = folder, .uids = uids, .n = n, .details = details_only};
	struct imap_buf set;
	imap_buf_init(&set, 0);
	imap_uid_set_format(uids, n, &set);
	if (!(b.done = calloc(n, sizeof *b.done)) || !set.data) {
		free(b.done);
		imap_buf_free(&set);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_atom(&c, set.data);
	imap_cmd_raw(&c, g->light && !details_only ? IMAP_SENDERS_LIGHT_ITEMS : IMAP_SENDERS_ITEMS);
	atomic_fetch_add(&fetches[details_only], 1);
	atomic_fetch_add(&fetched[details_only], n);
	rc = imap_session_run(s, &c, on_fetch, &b, deadline, err);
	imap_cmd_free(&c);
	imap_buf_free(&set);
	free(b.done);
	if (!rc && b.rc)
		rc = imap_error_set(err, b.rc, "out of memory");
	if (!rc && g->nmatched > 1)
		qsort(g->matched, g->nmatched, sizeof *g->matched, cmp_u32);
	return rc;
}

int imap_senders_batch(struct imap_senders *g, struct imap_session *s, const char *folder,
                       uint32_t uidvalidity, const uint32_t *uids, size_t n, int64_t deadline,
                       struct imap_error *err)
{
	return fetch(g, s, folder, uidvalidity, uids, n, false, deadline, err);
}

int imap_senders_details(struct imap_senders *g, struct imap_session *s, const char *folder,
                         uint32_t uidvalidity, const uint32_t *uids, size_t n,
                         int64_t deadline, struct imap_error *err)
{
	return fetch(g, s, folder, uidvalidity, uids, n, true, deadline, err);
}

int imap_senders_newest(const struct imap_senders *g, const char *folder, uint32_t **uids,
                        size_t *n)
{
	*n = 0;
	*uids = malloc((g->n ? g->n : 1) * sizeof **uids);
	if (!*uids)
		return IMAP_ERR_NOMEM;
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].newest_folder && strcmp(g->v[i].newest_folder, folder) == 0)
			(*uids)[(*n)++] = g->v[i].newest_uid;
	if (*n > 1)
		qsort(*uids, *n, sizeof **uids, cmp_u32);
	return 0;
}

static int by_count(const void *a, const void *b)
{
	const struct imap_sender_group *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

void imap_senders_sort(struct imap_senders *g)
{
	if (g->n > 1)
		qsort(g->v, g->n, sizeof *g->v, by_count);
	/* the hash index no longer matches the order */
	if (g->nslots)
		rehash(g, g->nslots);
}
