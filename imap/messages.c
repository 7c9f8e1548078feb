/*
 * imap/messages.c — choosing a page and fetching its summaries. See
 * messages.h for the costs per page.
 *
 *   esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
 *   search-return-data = "ALL" SP sequence-set / "COUNT" SP number / ...   ; RFC 4731
 *   sort-data = "SORT" *(SP nz-number)                                      ; RFC 5256
 */
#include "imap/messages.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/mail/date.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/sortkey.h"
#include "imap/mail/thread.h"

#define UIDS_MAX (16u << 20)      /* UIDs one SEARCH/SORT answer may carry */

#define SUMMARY_ITEMS "(" IMAP_SUMMARY_ITEMS ")"

/* ---- UID lists ---- */

struct uids {
	uint32_t *v;
	size_t n, cap;
	bool esearch_count;
	uint32_t count;  /* ESEARCH COUNT, when given */
};

static int uids_push(struct uids *u, uint32_t uid)
{
	if (u->n == u->cap) {
		if (u->cap >= UIDS_MAX)
			return IMAP_ERR_LIMIT;
		size_t cap = u->cap ? u->cap * 2 : 256;
		uint32_t *v = realloc(u->v, cap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = uid;
	return 0;
}

/* Append the UIDs of a sequence set "1:3,7,9:8" (no "*" in answers), in
 * the order written: a range "9:8" gives 9 then 8 (ESORT answers keep the
 * sort order that way). */
static int uids_push_set(struct uids *u, const char *s, size_t len)
{
	size_t pos = 0;
	uint32_t a, b;
	int more;
	while ((more = imap_set_next(s, len, &pos, &a, &b)) == 1) {
		uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
		if (hi - lo >= UIDS_MAX)
			return IMAP_ERR_LIMIT;
		for (uint64_t k = 0; k <= (uint64_t)(hi - lo); k++) {
			int rc = uids_push(u, (uint32_t)(a <= b ? lo + k : hi - k));
			if (rc)
				return rc;
		}
	}
	return more;
}

static int on_uids(void *ctx, const struct imap_response *r)
{
	struct uids *u = ctx;
	const struct imap_value *kw = imap_value_at(r->args, 0);
	const struct imap_value *v;
	size_t i;
	if (imap_value_is_atom(kw, "SEARCH") || imap_value_is_atom(kw, "SORT")) {
		IMAP_LIST_FOREACH(r->args, v, i) {
			uint64_t n;
			if (i == 0)
				continue;
			if (v->kind == IMAP_VALUE_LIST)  /* "(MODSEQ n)" after CONDSTORE searches */
				continue;
			if (imap_value_u64(v, UINT32_MAX, &n) || n == 0)
				return IMAP_ERR_PROTOCOL;
			int rc = uids_push(u, (uint32_t)n);
			if (rc)
				return rc;
		}
	} else if (imap_value_is_atom(kw, "ESEARCH")) {
		IMAP_LIST_FOREACH(r->args, v, i) {
			if (i + 1 >= r->args->count)
				break;
			const struct imap_value *next = imap_value_next(v);
			uint64_t n;
			if (imap_value_is_atom(v, "ALL") && imap_value_is_string(next)) {
				int rc = uids_push_set(u, next->str, next->len);
				if (rc)
					return rc;
			} else if (imap_value_is_atom(v, "COUNT") &&
			           imap_value_u64(next, UINT32_MAX, &n) == 0) {
				u->esearch_count = true;
				u->count = (uint32_t)n;
			} else if (imap_value_is_atom(v, "PARTIAL") && next->kind == IMAP_VALUE_LIST) {
				/* RFC 9394: PARTIAL (<range> <uids in order> / NIL) */
				const struct imap_value *set = imap_value_at(next, 1);
				if (imap_value_is_string(set)) {
					int rc = uids_push_set(u, set->str, set->len);
					if (rc)
						return rc;
				}
			}
		}
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_uid_set_format(const uint32_t *uids, size_t n, struct imap_buf *out)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (j > i)
			imap_buf_printf(out, "%s%u:%u", out->len ? "," : "", uids[i], uids[j]);
		else
			imap_buf_printf(out, "%s%u", out->len ? "," : "", uids[i]);
		i = j + 1;
	}
}

/* ---- search criteria ---- */

static bool eight_bit(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static bool filter_needs_utf8(const struct imap_filter *f)
{
	return eight_bit(f->from) || eight_bit(f->to) || eight_bit(f->subject) || eight_bit(f->text) ||
	       eight_bit(f->thread_of) || eight_bit(f->list_id);
}

/* Append the SEARCH keys of f ("ALL" when there are none), in this order:
 * flags, substrings (quoted or literal), dates (atoms), sizes. */
static void add_criteria(struct imap_cmd *c, const struct imap_filter *f)
{
	const struct { bool on; const char *key; } flags[] = {
		{f->unseen, "UNSEEN"},
		{f->flagged, "FLAGGED"},
	};
	const struct { const char *key, *value; bool atom; } words[] = {
		{"FROM", f->from, false},  {"TO", f->to, false},       {"SUBJECT", f->subject, false},
		{"TEXT", f->text, false},  {"SINCE", f->since, true},  {"BEFORE", f->before, true},
	};
	const struct { bool on; const char *key; uint64_t value; } sizes[] = {
		{f->has_larger, "LARGER", f->larger},
		{f->has_smaller, "SMALLER", f->smaller},
	};
	bool any = false;
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		if (flags[i].on) {
			imap_cmd_atom(c, flags[i].key);
			any = true;
		}
	}
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		const char *v = words[i].value;
		if (!v)
			continue;
		imap_cmd_atom(c, words[i].key);
		if (words[i].atom)
			imap_cmd_atom(c, v);
		else
			imap_cmd_string(c, v, strlen(v));
		any = true;
	}
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		if (sizes[i].on) {
			imap_cmd_atom(c, sizes[i].key);
			imap_cmd_number(c, sizes[i].value);
			any = true;
		}
	}
	if (f->has_unsubscribe) {
		imap_cmd_raw(c, "HEADER List-Unsubscribe \"\"");
		any = true;
	}
	if (f->thread_of) {
		size_t n = strlen(f->thread_of);
		imap_cmd_raw(c, "OR OR HEADER Message-ID");
		imap_cmd_string(c, f->thread_of, n);
		imap_cmd_raw(c, "HEADER References");
		imap_cmd_string(c, f->thread_of, n);
		imap_cmd_raw(c, "HEADER In-Reply-To");
		imap_cmd_string(c, f->thread_of, n);
		any = true;
	}
	if (f->list_id) {
		imap_cmd_raw(c, "HEADER List-Id");
		imap_cmd_string(c, f->list_id, strlen(f->list_id));
		any = true;
	}
	if (!any)
		imap_cmd_atom(c, "ALL");
}

void imap_filter_criteria(struct imap_cmd *c, const struct imap_filter *f)
{
	if (filter_needs_utf8(f))
		imap_cmd_raw(c, "CHARSET UTF-8");
	add_criteria(c, f);
}

static bool filter_empty(const struct imap_filter *f)
{
	return !f->unseen && !f->flagged && !f->has_unsubscribe && !f->thread_of && !f->from &&
	       !f->to && !f->subject && !f->text && !f->since && !f->before && !f->has_larger &&
	       !f->has_smaller && !f->list_id;
}

/* ---- summaries ---- */

static bool att_is(const struct imap_value *v, const char *name)
{
	return imap_value_is_atom(v, name);
}

/* Find header `name` in raw header lines; unfold its value into out. */
static bool header_value(const char *h, size_t len, const char *name, struct imap_buf *out)
{
	size_t nl = strlen(name), i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		if (eol - i > nl && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == ':') {
			size_t v = i + nl + 1;
			for (;;) {
				size_t end = eol;
				if (end > v && h[end - 1] == '\r')
					end--;
				imap_buf_append(out, h + v, end - v);
				if (eol + 1 < len && (h[eol + 1] == ' ' || h[eol + 1] == '\t')) {
					v = eol + 1;
					eol = v;
					while (eol < len && h[eol] != '\n')
						eol++;
					continue;
				}
				break;
			}
			return true;
		}
		i = eol + 1;
	}
	return false;
}

/* List-Id: the identifier inside <...>, else the trimmed decoded value;
 * NULL for "<>", which names no list. */
static char *list_id_of(const char *v, size_t len)
{
	const char *lt = memchr(v, '<', len);
	const char *gt = lt ? memchr(lt, '>', len - (size_t)(lt - v)) : NULL;
	struct imap_buf out;
	imap_buf_init(&out, 4096);
	if (lt && gt) {
		imap_buf_append(&out, lt + 1, (size_t)(gt - lt - 1));
	} else {
		while (len && (*v == ' ' || *v == '\t')) {
			v++;
			len--;
		}
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		imap_rfc2047_decode(v, len, &out);
	}
	return out.len ? imap_buf_steal(&out) : (imap_buf_free(&out), NULL);
}

char *imap_header_list_id(const char *hdr, size_t len)
{
	struct imap_buf id;
	imap_buf_init(&id, 4096);
	char *r = header_value(hdr, len, "List-Id", &id) && id.len ? list_id_of(id.data, id.len)
	                                                          : NULL;
	imap_buf_free(&id);
	return r;
}

int imap_header_from(const char *hdr, size_t len, char **name, char **address)
{
	*name = *address = NULL;
	struct imap_buf v;
	imap_buf_init(&v, 64 * 1024);
	struct imap_address_list l = {0};
	int rc = 0;
	if (header_value(hdr, len, "From", &v) && v.len)
		rc = imap_address_parse_header(v.data, v.len, &l);
	imap_buf_free(&v);
	if (rc == IMAP_ERR_NOMEM)
		return rc;
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].address && l.v[i].address[0]) {
			if (!(*address = strdup(l.v[i].address)) ||
			    (l.v[i].name && l.v[i].name[0] && !(*name = strdup(l.v[i].name)))) {
				free(*address);
				*address = NULL;
				rc = IMAP_ERR_NOMEM;
			}
			break;
		}
	}
	imap_address_list_free(&l);
	return rc == IMAP_ERR_NOMEM ? rc : 0;
}

/* System flags in one order (the index's, imap/index.c), then keywords by
 * name: a summary lists its flags the same way whether the page came from
 * the server or the index. */
static int flag_rank(const char *f)
{
	static const char *const order[] = {"\\Seen", "\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Draft", "\\Recent"};
	for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
		if (strcasecmp(f, order[i]) == 0)
			return i;
	return f[0] == '\\' ? 6 : 7;  /* another system flag, then keywords */
}

static int flag_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int rx = flag_rank(x), ry = flag_rank(y);
	return rx != ry ? rx - ry : strcmp(x, y);
}

void imap_flags_order(char **flags, size_t n)
{
	if (n > 1)
		qsort(flags, n, sizeof *flags, flag_cmp);
}

static int fill_summary(struct imap_summary *m, const struct imap_value *att)
{
	const struct imap_value *v;
	size_t i;
	int rc = 0;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		uint64_t n;
		if (att_is(v, "FLAGS") && val->kind == IMAP_VALUE_LIST) {
			/* A second FETCH of the message (under QRESYNC unsolicited
			 * flag updates carry the UID) brings newer flags. */
			for (size_t k = 0; k < m->nflags; k++)
				free(m->flags[k]);
			free(m->flags);
			m->nflags = 0;
			m->flags = calloc(val->count ? val->count : 1, sizeof *m->flags);
			if (!m->flags)
				return IMAP_ERR_NOMEM;
			const struct imap_value *f;
			size_t k;
			IMAP_LIST_FOREACH(val, f, k) {
				if (imap_value_is_string(f) && !(m->flags[m->nflags] = strndup(f->str, f->len)))
					return IMAP_ERR_NOMEM;
				m->nflags += imap_value_is_string(f);
			}
			imap_flags_order(m->flags, m->nflags);
		} else if (att_is(v, "INTERNALDATE") && imap_value_is_string(val)) {
			m->has_internaldate = imap_date_parse_internal(val->str, val->len, &m->internaldate,
			                                               &m->internaldate_tz) == 0;
		} else if (att_is(v, "RFC822.SIZE") && imap_value_u64(val, UINT64_MAX, &n) == 0) {
			m->size = n;
		} else if (att_is(v, "ENVELOPE")) {
			imap_envelope_free(&m->env);
			rc = imap_envelope_parse(val, &m->env);
			if (rc == IMAP_ERR_PROTOCOL)
				rc = 0;  /* a broken envelope leaves empty fields, not a failed page */
		} else if (att_is(v, "BODYSTRUCTURE")) {
			m->attachments = imap_bodystructure_attachments(val);
		} else if (v->kind == IMAP_VALUE_ATOM && v->len > 18 &&
		           strncasecmp(v->str, "BODY[HEADER.FIELDS", 18) == 0 &&
		           imap_value_is_string(val)) {
			struct imap_buf unsub, post, id;
			imap_buf_init(&unsub, 64 * 1024);
			imap_buf_init(&post, 4096);
			imap_buf_init(&id, 4096);
			bool has_unsub = header_value(val->str, val->len, "List-Unsubscribe", &unsub);
			bool has_post = header_value(val->str, val->len, "List-Unsubscribe-Post", &post);
			if (header_value(val->str, val->len, "List-Id", &id) && id.len) {
				free(m->list_id);
				m->list_id = list_id_of(id.data, id.len);
			}
			char *from_name = NULL, *from_address = NULL;
			if (!(rc = imap_header_from(val->str, val->len, &from_name, &from_address))) {
				free(m->from_address);
				m->from_address = from_address;
			}
			free(from_name);
			struct imap_buf refs;
			imap_buf_init(&refs, 64 * 1024);
			if (header_value(val->str, val->len, "References", &refs) && refs.len) {
				free(m->references);
				m->references = imap_buf_steal(&refs);
			}
			imap_buf_free(&refs);
			if (has_unsub) {
				imap_unsubscribe_free(&m->unsub);
				rc = imap_unsubscribe_parse(unsub.data, unsub.len, has_post ? post.data : NULL,
				                            post.len, &m->unsub);
			}
			imap_buf_free(&unsub);
			imap_buf_free(&post);
			imap_buf_free(&id);
		}
		if (rc)
			return rc;
		v = val;
		i++;
	}
	return 0;
}

struct fetch_ctx {
	struct imap_page *page;
	size_t cap;
	bool append;  /* add every FETCH (sequence fetch) instead of matching UIDs */
	int err;
};

static int on_fetch(void *ctx, const struct imap_response *r)
{
	struct fetch_ctx *f = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	if (!uid)
		return 0;  /* not a FETCH, or an unsolicited FLAGS update without UID */
	struct imap_page *p = f->page;
	struct imap_summary *m = NULL;
	for (size_t k = 0; k < p->n && !m; k++)
		if (p->msgs[k].uid == uid)
			m = &p->msgs[k];
	/* Under QRESYNC, flag updates of other messages come with their UID
	 * too: only a FETCH with the ENVELOPE adds a message. */
	if (!m && f->append && imap_fetch_item(att, "ENVELOPE", false)) {
		if (p->n == f->cap)
			return 0;  /* more than asked for: a message arrived meanwhile */
		m = &p->msgs[p->n++];
		memset(m, 0, sizeof *m);
		m->uid = (uint32_t)uid;
	}
	if (!m)
		return 0;
	int rc = fill_summary(m, att);
	if (rc && !f->err)
		f->err = rc;
	return 0;
}

static void summary_free(struct imap_summary *m)
{
	for (size_t i = 0; i < m->nflags; i++)
		free(m->flags[i]);
	free(m->flags);
	if (m->shared) {
		imap_summary_shared_release(&m->shared);
		free(m->borrowed);
		memset(m, 0, sizeof *m);
		return;
	}
	imap_envelope_free(&m->env);
	imap_unsubscribe_free(&m->unsub);
	free(m->list_id);
	free(m->from_address);
	free(m->references);
	memset(m, 0, sizeof *m);
}

void imap_page_free(struct imap_page *p)
{
	for (size_t i = 0; i < p->n; i++)
		summary_free(&p->msgs[i]);
	free(p->msgs);
	memset(p, 0, sizeof *p);
}

/* ---- sorting locally, for servers without SORT (RFC 5256 keys) ---- */

struct sort_item {
	uint32_t uid;
	bool fetched; /* the server answered a FETCH for it */
	int64_t num;  /* dates and sizes */
	char *str;    /* from / to mailbox, base subject (ASCII-lowercased) */
};

struct sort_ctx {
	struct sort_item *v;  /* ascending by UID, for lookup */
	size_t n;
	enum imap_sort_key key;
	int err;
};

/* Base letters of U+00C0..U+017F ('.': none), for sort_fold. */
static const char latin_base[] =
	"AAAAAA.CEEEEIIII.NOOOOO..UUUUY..AAAAAA.CEEEEIIII.NOOOOO..UUUUY.YAAAAAACCCCCCCCDD..EEEEEEEEEEGGGGGGGGHH..IIIIIIIII...JJKK.LLLLLL....NNNNNN...OOOOOO..RRRRRRSSSSSSSSTTTT..UUUUUUUUUUUUWWYYYZZZZZZ.";

/* The comparison form of a sort key: ASCII letters upper-cased (RFC 4790
 * i;ascii-casemap), and accented Latin letters decomposed into their base
 * letter followed by a mark that sorts after every ASCII byte, the way a
 * Unicode case map with decomposition orders them ("RÉUNION" between
 * "REUNION" and "RF"), as Dovecot's SORT does. Consumes `s`. */
static char *sort_fold(char *s)
{
	if (!s)
		return NULL;
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 'a' && *p <= 'z') {
			imap_buf_putc(&b, (char)(*p - 'a' + 'A'));
			continue;
		}
		if ((*p == 0xC3 || *p == 0xC4 || *p == 0xC5) && (p[1] & 0xC0) == 0x80) {
			unsigned cp = ((unsigned)(*p & 0x1F) << 6) | (p[1] & 0x3F);
			char base = cp >= 0xC0 && cp <= 0x17F ? latin_base[cp - 0xC0] : '.';
			if (base != '.') {
				imap_buf_putc(&b, base);
				imap_buf_append(&b, "\xCC\x80", 2);
				imap_buf_append(&b, p, 2);
				p++;
				continue;
			}
		}
		imap_buf_putc(&b, (char)*p);
	}
	free(s);
	return imap_buf_steal(&b);
}

/* RFC 5256: the addr-mailbox of the first address of an ENVELOPE address
 * list (field 2 = from, 5 = to), as the server sent it: a group's start
 * marker counts ("undisclosed-recipients" of "undisclosed-recipients:;"). */
static char *first_mailbox(const struct imap_value *env, size_t field)
{
	const struct imap_value *list = imap_value_at(env, field);
	const struct imap_value *addr = list && list->kind == IMAP_VALUE_LIST ? imap_value_at(list, 0)
	                                                                      : NULL;
	const struct imap_value *mbox = addr && addr->kind == IMAP_VALUE_LIST ? imap_value_at(addr, 2)
	                                                                      : NULL;
	return imap_value_is_string(mbox) ? strndup(mbox->str, mbox->len) : strdup("");
}

/* The SORT (SUBJECT) key of an ENVELOPE: its subject (field 1) as sent,
 * encoded words and all, keyed the way the server's SORT keys it. */
static char *subject_key(const struct imap_value *env)
{
	const struct imap_value *subj = env && env->kind == IMAP_VALUE_LIST ? imap_value_at(env, 1)
	                                                                    : NULL;
	if (!imap_value_is_string(subj))
		return imap_subject_sort_key(NULL, 0);
	return imap_subject_sort_key(subj->str, subj->len);
}

static int on_sort_keys(void *ctx, const struct imap_response *r)
{
	struct sort_ctx *c = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 1), "FETCH"))
		return 0;
	struct imap_summary m = {0};
	const struct imap_value *att = imap_value_at(r->args, 2);
	const struct imap_value *v;
	size_t i;
	uint64_t uid = 0;
	const struct imap_value *env = NULL;
	IMAP_LIST_FOREACH(att, v, i) {
		if (att_is(v, "UID") && i + 1 < att->count &&
		    imap_value_u64(imap_value_next(v), UINT32_MAX, &uid))
			uid = 0;
		if (att_is(v, "ENVELOPE") && i + 1 < att->count)
			env = imap_value_next(v);
	}
	struct sort_item key = {.uid = (uint32_t)uid};
	struct sort_item *it = uid ? bsearch(&key, c->v, c->n, sizeof *c->v, cmp_u32) : NULL;
	if (!it)
		return 0;
	it->fetched = true;
	int rc = fill_summary(&m, att);
	if (!rc) {
		switch (c->key) {
		case IMAP_SORT_RECEIVED:
			it->num = m.has_internaldate ? m.internaldate : 0;
			break;
		case IMAP_SORT_DATE:  /* the sent date, else INTERNALDATE (RFC 5256) */
			it->num = m.env.has_date ? m.env.date : m.has_internaldate ? m.internaldate : 0;
			break;
		case IMAP_SORT_SIZE:
			it->num = (int64_t)m.size;
			break;
		case IMAP_SORT_FROM:
			it->str = sort_fold(first_mailbox(env, 2));
			break;
		case IMAP_SORT_TO:
			it->str = sort_fold(first_mailbox(env, 5));
			break;
		case IMAP_SORT_SUBJECT:
			it->str = subject_key(env);
			break;
		case IMAP_SORT_ARRIVAL:
			break;
		}
	}
	summary_free(&m);
	if (rc && !c->err)
		c->err = rc;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;
	int c = 0;
	if (x->str || y->str)
		c = strcmp(x->str ? x->str : "", y->str ? y->str : "");
	else
		c = x->num < y->num ? -1 : x->num > y->num;
	return c ? c : x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The key of each of uids (ascending) into c->v, by one UID FETCH. */
static int fetch_keys(struct imap_session *s, enum imap_sort_key key, const struct uids *u,
                      struct sort_ctx *c, int64_t deadline, struct imap_error *err)
{
	static const char *const items[] = {
		[IMAP_SORT_RECEIVED] = "(UID INTERNALDATE)",
		[IMAP_SORT_DATE] = "(UID INTERNALDATE ENVELOPE)",
		[IMAP_SORT_FROM] = "(UID ENVELOPE)", [IMAP_SORT_TO] = "(UID ENVELOPE)",
		[IMAP_SORT_SUBJECT] = "(UID ENVELOPE)", [IMAP_SORT_SIZE] = "(UID RFC822.SIZE)",
	};
	*c = (struct sort_ctx){.n = u->n, .key = key};
	if (u->n == 0)
		return 0;
	c->v = calloc(u->n, sizeof *c->v);
	if (!c->v)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < u->n; i++)
		c->v[i].uid = u->v[i];
	struct imap_buf set;
	imap_buf_init(&set, 0);
	imap_uid_set_format(u->v, u->n, &set);
	struct imap_cmd cmd;
	imap_session_cmd(s, &cmd);
	imap_cmd_atom(&cmd, "UID");
	imap_cmd_atom(&cmd, "FETCH");
	imap_cmd_atom(&cmd, set.data);
	imap_cmd_raw(&cmd, items[key]);
	imap_buf_free(&set);
	int rc = imap_session_run(s, &cmd, on_sort_keys, c, deadline, err);
	imap_cmd_free(&cmd);
	if (!rc && c->err)
		rc = imap_error_set(err, c->err, "cannot read sort keys: %s", imap_strerror(c->err));
	return rc;
}

static void sort_ctx_free(struct sort_ctx *c)
{
	for (size_t i = 0; c->v && i < c->n; i++)
		free(c->v[i].str);
	free(c->v);
	c->v = NULL;
}

/* uids (ascending) reordered by the key, the way UID SORT would. */
static int sort_locally(struct imap_session *s, enum imap_sort_key key, struct uids *u,
                        int64_t deadline, struct imap_error *err)
{
	struct sort_ctx c;
	int rc = fetch_keys(s, key, u, &c, deadline, err);
	if (!rc && c.n) {
		qsort(c.v, c.n, sizeof *c.v, by_key);
		for (size_t i = 0; i < c.n; i++)
			u->v[i] = c.v[i].uid;
	}
	sort_ctx_free(&c);
	return rc;
}

/* The SORT criterion of each order (RFC 5256; ARRIVAL is INTERNALDATE). */
static const char *const sort_keys[] = {
	[IMAP_SORT_RECEIVED] = "(ARRIVAL)", [IMAP_SORT_DATE] = "(DATE)",
	[IMAP_SORT_FROM] = "(FROM)",        [IMAP_SORT_TO] = "(TO)",
	[IMAP_SORT_SUBJECT] = "(SUBJECT)",  [IMAP_SORT_SIZE] = "(SIZE)",
};

/* The matching UIDs in ascending order of the key (ties: UID). */
static int ordered_uids(struct imap_session *s, const struct imap_page_request *req,
                        int64_t deadline, struct uids *u, struct imap_error *err)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	bool server_sorts = req->sort != IMAP_SORT_ARRIVAL && (caps & IMAP_CAP_SORT);
	if (!server_sorts) {
		imap_cmd_atom(&c, "SEARCH");
		if (caps & IMAP_CAP_ESEARCH)
			imap_cmd_raw(&c, "RETURN (ALL)");
		if (filter_needs_utf8(&req->filter))
			imap_cmd_raw(&c, "CHARSET UTF-8");
	} else {
		imap_cmd_atom(&c, "SORT");
		imap_cmd_raw(&c, sort_keys[req->sort]);
		imap_cmd_atom(&c, "UTF-8");
	}
	add_criteria(&c, &req->filter);
	rc = imap_session_run(s, &c, on_uids, u, deadline, err);
	imap_cmd_free(&c);
	if (rc)
		return rc;
	if (!server_sorts) {
		if (u->n > 1)  /* never trust the answer's order */
			qsort(u->v, u->n, sizeof *u->v, cmp_u32);
		if (req->sort != IMAP_SORT_ARRIVAL)
			return sort_locally(s, req->sort, u, deadline, err);
	}
	return 0;
}

/* has_unsubscribe: SEARCH HEADER List-Unsubscribe "" matches every message
 * that has the header, also one that parses to nothing usable (no mailto
 * address, no http URI), whose summary then shows unsubscribe null. The
 * filter means the latter: the candidates' headers are fetched (one UID
 * FETCH) and those without a usable URI are dropped, order kept. */
/* Build "UID FETCH <set> <items>" into c for uids[0..n) in any order
 * (the set is made from a sorted copy). Returns 0, or -1 out of memory
 * (c is then not started). */
static int uid_fetch_cmd(struct imap_session *s, const uint32_t *uids, size_t n,
                         const char *items, struct imap_cmd *c)
{
	uint32_t *sorted = malloc(n * sizeof *sorted);
	if (!sorted)
		return -1;
	memcpy(sorted, uids, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_u32);
	struct imap_buf set;
	imap_buf_init(&set, 0);
	imap_uid_set_format(sorted, n, &set);
	free(sorted);
	imap_session_cmd(s, c);
	imap_cmd_atom(c, "UID");
	imap_cmd_atom(c, "FETCH");
	imap_cmd_atom(c, set.data);
	imap_cmd_raw(c, items);
	imap_buf_free(&set);
	return 0;
}

struct unsub_check {
	uint32_t *ok;     /* UIDs with a usable List-Unsubscribe, unordered */
	size_t n, cap;
	int err;
};

static int on_unsub_header(void *ctx, const struct imap_response *r)
{
	struct unsub_check *c = ctx;
	const struct imap_value *att;
	uint32_t uid = imap_fetch_attributes(r, &att);
	const struct imap_value *val = att ? imap_fetch_item(att, "BODY[HEADER.FIELDS", true) : NULL;
	bool usable = false;
	if (val && imap_value_is_string(val)) {
		struct imap_buf h;
		imap_buf_init(&h, 64 * 1024);
		if (header_value(val->str, val->len, "List-Unsubscribe", &h)) {
			struct imap_unsubscribe u;
			if (imap_unsubscribe_parse(h.data, h.len, NULL, 0, &u) == 0) {
				usable = u.n_mailto || u.n_http;
				imap_unsubscribe_free(&u);
			} else if (!c->err) {
				c->err = IMAP_ERR_NOMEM;
			}
		}
		imap_buf_free(&h);
	}
	if (uid && usable) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			uint32_t *ok = realloc(c->ok, cap * sizeof *ok);
			if (!ok) {
				c->err = IMAP_ERR_NOMEM;
				return 0;
			}
			c->ok = ok;
			c->cap = cap;
		}
		c->ok[c->n++] = uid;
	}
	return 0;
}

static int keep_usable_unsubscribe(struct imap_session *s, struct uids *u, int64_t deadline,
                                   struct imap_error *err)
{
	if (u->n == 0)
		return 0;
	struct imap_cmd c;
	if (uid_fetch_cmd(s, u->v, u->n, "(UID BODY.PEEK[HEADER.FIELDS (LIST-UNSUBSCRIBE)])", &c))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	struct unsub_check k = {0};
	int rc = imap_session_run(s, &c, on_unsub_header, &k, deadline, err);
	imap_cmd_free(&c);
	if (!rc && k.err)
		rc = imap_error_set(err, k.err, "out of memory");
	if (!rc) {
		if (k.n > 1)
			qsort(k.ok, k.n, sizeof *k.ok, cmp_u32);
		size_t w = 0;
		for (size_t i = 0; i < u->n; i++)
			if (k.n && bsearch(&u->v[i], k.ok, k.n, sizeof *k.ok, cmp_u32))
				u->v[w++] = u->v[i];
		u->n = w;
	}
	free(k.ok);
	return rc;
}

/*
 * A numbered page of a server-sorted order with RETURN (COUNT PARTIAL a:b)
 * (ESORT, RFC 5267 / 9394): the server sends the page's UIDs and the count,
 * not every UID. Positions are counted in ascending order; a descending page
 * is mapped through the total, known without a filter (EXISTS). Returns 0
 * with out->... filled; 1 when this way does not apply (use the full list);
 * or an error.
 */
static int partial_sort_page(struct imap_session *s, const struct imap_page_request *req,
                             uint32_t *page, size_t *count, uint32_t *total, int64_t deadline,
                             struct imap_error *err)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(s, &caps, deadline, err);
	if (rc)
		return rc;
	const struct imap_mailbox *m = imap_session_mailbox(s);
	bool known_total = filter_empty(&req->filter) && m;
	if (req->sort == IMAP_SORT_ARRIVAL || req->has_cursor || !(caps & IMAP_CAP_SORT) ||
	    req->filter.has_unsubscribe ||
	    !(caps & IMAP_CAP_ESORT) || imap_session_learned(s, IMAP_LEARNED_NO_PARTIAL_SORT) ||
	    (req->desc && !known_total))
		return 1;
	uint64_t per = req->per_page, start = (uint64_t)(req->page - 1) * per;
	uint64_t lo, hi;
	if (!req->desc) {
		lo = start + 1;
		hi = start + per;
	} else {
		if (start >= m->exists)
			return 1;
		hi = m->exists - start;
		lo = hi > per ? hi - per + 1 : 1;
	}
	if (hi > UINT32_MAX)
		return 1;
	char range[64];
	snprintf(range, sizeof range, "(COUNT PARTIAL %llu:%llu)", (unsigned long long)lo,
	         (unsigned long long)hi);
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "SORT");
	imap_cmd_atom(&c, "RETURN");
	imap_cmd_raw(&c, range);
	imap_cmd_raw(&c, sort_keys[req->sort]);
	imap_cmd_atom(&c, "UTF-8");
	add_criteria(&c, &req->filter);
	struct uids u = {0};
	rc = imap_session_run(s, &c, on_uids, &u, deadline, err);
	imap_cmd_free(&c);
	if (rc == IMAP_ERR_BAD || rc == IMAP_ERR_NO) {
		imap_session_learn(s, IMAP_LEARNED_NO_PARTIAL_SORT);  /* full lists from now on */
		free(u.v);
		return 1;
	}
	if (rc || !u.esearch_count || u.n > per || (req->desc && u.count != m->exists)) {
		free(u.v);
		return rc ? rc : 1;  /* no COUNT, or the folder changed: the full list decides */
	}
	for (size_t i = 0; i < u.n; i++)
		page[i] = u.v[req->desc ? u.n - 1 - i : i];
	*count = u.n;
	*total = u.count;
	free(u.v);
	return 0;
}

static int by_uid_desc(const void *a, const void *b)
{
	const struct imap_summary *x = a, *y = b;
	return x->uid > y->uid ? -1 : x->uid < y->uid;
}

static int by_uid_asc(const void *a, const void *b)
{
	return -by_uid_desc(a, b);
}

/* Fetch summaries of the given UIDs, in that order. */
static int fetch_uids(struct imap_session *s, const uint32_t *uids, size_t n, int64_t deadline,
                      struct imap_page *out, struct imap_error *err)
{
	out->msgs = calloc(n ? n : 1, sizeof *out->msgs);
	if (!out->msgs)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		out->msgs[i].uid = uids[i];
	out->n = n;
	if (n == 0)
		return 0;
	struct imap_cmd c;
	if (uid_fetch_cmd(s, uids, n, SUMMARY_ITEMS, &c))
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	struct fetch_ctx f = {.page = out, .cap = n};
	int rc = imap_session_run(s, &c, on_fetch, &f, deadline, err);
	imap_cmd_free(&c);
	if (!rc && f.err)
		rc = imap_error_set(err, f.err, "cannot read a summary: %s", imap_strerror(f.err));
	return rc;
}

/* Where a cursor continues: the index just past after_uid. */
static size_t cursor_start(const struct uids *u, const struct imap_page_request *req)
{
	for (size_t i = 0; i < u->n; i++) {
		size_t k = req->desc ? u->n - 1 - i : i;
		if (u->v[k] == req->after_uid)
			return i + 1;
	}
	if (req->sort == IMAP_SORT_ARRIVAL) {
		/* The UID is gone: continue with the next UID in its direction. */
		size_t i = 0;
		while (i < u->n) {
			uint32_t uid = u->v[req->desc ? u->n - 1 - i : i];
			if (req->desc ? uid < req->after_uid : uid > req->after_uid)
				break;
			i++;
		}
		return i;
	}
	return req->after_pos + 1 < u->n ? req->after_pos + 1 : u->n;
}

int imap_messages_page(struct imap_session *s, const char *folder,
                       const struct imap_page_request *req, int64_t deadline,
                       struct imap_page *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	const struct imap_mailbox *m = imap_session_mailbox(s);
	out->uidvalidity = m->uidvalidity;
	uint64_t per = req->per_page ? req->per_page : 1;

	if (req->sort == IMAP_SORT_ARRIVAL && filter_empty(&req->filter) && !req->has_cursor) {
		/* One FETCH by sequence range; if the mailbox changed while it ran
		 * (the numbers moved), fetch again with the new numbers. */
		for (int attempt = 0; attempt < 3; attempt++) {
			imap_page_free(out);
			m = imap_session_mailbox(s);
			if (!m)
				return imap_error_set(err, IMAP_ERR_NOT_FOUND, "folder closed meanwhile");
			out->uidvalidity = m->uidvalidity;
			out->total = m->exists;
			uint64_t start = (uint64_t)(req->page ? req->page - 1 : 0) * per;
			out->first_pos = start > UINT32_MAX ? UINT32_MAX : (uint32_t)start;
			if (start >= m->exists) {
				/* Nothing to fetch by the numbers we hold; they may be old
				 * (a FETCH would have brought news): ask once. */
				if (attempt > 0)
					return 0;
				if ((rc = imap_session_noop(s, deadline, err)))
					return rc;
				continue;
			}
			uint64_t count = m->exists - start < per ? m->exists - start : per;
			uint64_t lo = req->desc ? m->exists - start - count + 1 : start + 1;
			uint64_t hi = lo + count - 1;
			unsigned changes = m->changes;
			out->msgs = calloc(count, sizeof *out->msgs);
			if (!out->msgs)
				return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
			struct imap_cmd c;
			char range[32];
			snprintf(range, sizeof range, "%llu:%llu", (unsigned long long)lo,
			         (unsigned long long)hi);
			imap_session_cmd(s, &c);
			imap_cmd_atom(&c, "FETCH");
			imap_cmd_atom(&c, range);
			imap_cmd_raw(&c, SUMMARY_ITEMS);
			struct fetch_ctx f = {.page = out, .cap = count, .append = true};
			rc = imap_session_run(s, &c, on_fetch, &f, deadline, err);
			imap_cmd_free(&c);
			if (!rc && f.err)
				rc = imap_error_set(err, f.err, "cannot read a summary: %s", imap_strerror(f.err));
			if (rc) {
				imap_page_free(out);
				return rc;
			}
			m = imap_session_mailbox(s);
			if (m && m->changes == changes)
				break;
		}
		if (out->n > 1)
			qsort(out->msgs, out->n, sizeof *out->msgs, req->desc ? by_uid_desc : by_uid_asc);
		return 0;
	}

	uint32_t *partial = malloc((size_t)per * sizeof *partial);
	size_t pcount = 0;
	uint32_t ptotal = 0;
	if (!partial)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	rc = partial_sort_page(s, req, partial, &pcount, &ptotal, deadline, err);
	if (rc <= 0) {
		if (rc == 0) {
			out->total = ptotal;
			out->first_pos = (uint32_t)((uint64_t)(req->page - 1) * per);
			rc = fetch_uids(s, partial, pcount, deadline, out, err);
		}
		free(partial);
		if (rc)
			imap_page_free(out);
		return rc;
	}
	free(partial);

	struct uids u = {0};
	rc = ordered_uids(s, req, deadline, &u, err);
	if (!rc && req->filter.has_unsubscribe)
		rc = keep_usable_unsubscribe(s, &u, deadline, err);
	if (rc) {
		free(u.v);
		return rc;
	}
	out->total = (uint32_t)u.n;
	size_t start = req->has_cursor ? cursor_start(&u, req)
	                               : (size_t)((uint64_t)(req->page ? req->page - 1 : 0) * per);
	if (start > u.n)
		start = u.n;
	size_t count = u.n - start < per ? u.n - start : (size_t)per;
	uint32_t *page = malloc((count ? count : 1) * sizeof *page);
	if (!page) {
		free(u.v);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++)
		page[i] = u.v[req->desc ? u.n - 1 - (start + i) : start + i];
	free(u.v);
	out->first_pos = (uint32_t)start;
	rc = fetch_uids(s, page, count, deadline, out, err);
	free(page);
	if (rc)
		imap_page_free(out);
	return rc;
}

int imap_summary_fill(struct imap_summary *m, const struct imap_value *att)
{
	return fill_summary(m, att);
}

void imap_summary_free(struct imap_summary *m)
{
	summary_free(m);
	memset(m, 0, sizeof *m);
}

char *imap_sort_key_string(enum imap_sort_key key, const struct imap_value *att,
                           const struct imap_summary *m)
{
	const struct imap_value *env = NULL, *v;
	size_t i;
	(void)m;
	if (key != IMAP_SORT_SUBJECT && key != IMAP_SORT_FROM && key != IMAP_SORT_TO)
		return NULL;
	IMAP_LIST_FOREACH(att, v, i) {
		if (att_is(v, "ENVELOPE") && i + 1 < att->count)
			env = imap_value_next(v);
	}
	if (key == IMAP_SORT_SUBJECT)
		return subject_key(env);
	return sort_fold(first_mailbox(env, key == IMAP_SORT_FROM ? 2 : 5));
}

int64_t imap_sort_key_number(enum imap_sort_key key, const struct imap_summary *m)
{
	switch (key) {
	case IMAP_SORT_RECEIVED:
		return m->has_internaldate ? m->internaldate : 0;
	case IMAP_SORT_DATE:
		return m->env.has_date ? m->env.date : m->has_internaldate ? m->internaldate : 0;
	case IMAP_SORT_SIZE:
		return (int64_t)m->size;
	default:
		return 0;
	}
}

int imap_messages_search(struct imap_session *s, const struct imap_filter *f, int64_t deadline,
                         uint32_t **uids, size_t *n, struct imap_error *err)
{
	struct imap_page_request req = {.sort = IMAP_SORT_ARRIVAL, .filter = *f};
	struct uids u = {0};
	*uids = NULL;
	*n = 0;
	int rc = ordered_uids(s, &req, deadline, &u, err);
	if (rc) {
		free(u.v);
		return rc;
	}
	*uids = u.v;
	*n = u.n;
	return 0;
}

/* The matches of f in folder: searched here, or, when found is not NULL,
 * the n UIDs a search elsewhere found under uidvalidity (trusted only
 * while the folder keeps that UIDVALIDITY; those the folder does not have
 * are left out). */
static int matches(struct imap_session *s, const char *folder, const struct imap_filter *f,
                   const uint32_t *found, size_t n, uint32_t uidvalidity, int64_t deadline,
                   struct imap_matches *out, struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	out->uidvalidity = imap_session_mailbox(s)->uidvalidity;
	struct uids u = {0};
	bool given = found && uidvalidity && uidvalidity == out->uidvalidity;
	if (given) {
		if (n && !(u.v = malloc(n * sizeof *u.v)))
			return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		memcpy(u.v, found, n * sizeof *u.v);
		u.cap = n;
		qsort(u.v, n, sizeof *u.v, cmp_u32);
		for (size_t i = 0; i < n; i++)  /* ascending, once each */
			if (u.v[i] && (u.n == 0 || u.v[u.n - 1] != u.v[i]))
				u.v[u.n++] = u.v[i];
	} else {
		struct imap_page_request req = {.sort = IMAP_SORT_ARRIVAL, .filter = *f};
		rc = ordered_uids(s, &req, deadline, &u, err);
	}
	if (!rc && f->has_unsubscribe)
		rc = keep_usable_unsubscribe(s, &u, deadline, err);
	struct sort_ctx c = {0};
	if (!rc)
		rc = fetch_keys(s, IMAP_SORT_RECEIVED, &u, &c, deadline, err);
	free(u.v);
	if (rc) {
		sort_ctx_free(&c);
		return rc;
	}
	if (c.n && !(out->v = malloc(c.n * sizeof *out->v))) {
		sort_ctx_free(&c);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < c.n; i++)
		if (!given || c.v[i].fetched)
			out->v[out->n++] = (struct imap_match){.uid = c.v[i].uid, .received = c.v[i].num};
	sort_ctx_free(&c);
	return 0;
}

int imap_messages_matches(struct imap_session *s, const char *folder, const struct imap_filter *f,
                          int64_t deadline, struct imap_matches *out, struct imap_error *err)
{
	return matches(s, folder, f, NULL, 0, 0, deadline, out, err);
}

int imap_messages_matches_found(struct imap_session *s, const char *folder,
                                const struct imap_filter *f, const uint32_t *found, size_t n,
                                uint32_t uidvalidity, int64_t deadline,
                                struct imap_matches *out, struct imap_error *err)
{
	static const uint32_t none;
	return matches(s, folder, f, found ? found : &none, n, uidvalidity, deadline, out, err);
}

int imap_messages_fetch(struct imap_session *s, const char *folder, const uint32_t *uids,
                        size_t n, int64_t deadline, struct imap_page *out,
                        struct imap_error *err)
{
	memset(out, 0, sizeof *out);
	int rc = imap_session_select(s, folder, true, deadline, err);
	if (rc)
		return rc;
	out->uidvalidity = imap_session_mailbox(s)->uidvalidity;
	rc = fetch_uids(s, uids, n, deadline, out, err);
	if (rc) {
		imap_page_free(out);
		return rc;
	}
	/* a UID expunged meanwhile got no FETCH: not shown */
	size_t k = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (out->msgs[i].has_internaldate || out->msgs[i].size)  /* it had a FETCH */
			out->msgs[k++] = out->msgs[i];
		else
			summary_free(&out->msgs[i]);
	}
	out->n = k;
	out->total = (uint32_t)k;
	return 0;
}
