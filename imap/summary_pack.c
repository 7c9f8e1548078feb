/*
 * imap/summary_pack.c — shared summaries kept packed: one allocation per
 * message (see imap_summary_share in messages.h).
 *
 * A record is a reference count, a length and the packed fields:
 *
 *   record  = fixed strings addrs unsub
 *   fixed   = size(u64) internaldate(i64) date(i64) internaldate_tz(i16)
 *             date_tz(i16) attachments(u32) bits(u8)  ; host byte order
 *   strings = str{8}        ; date_raw subject in_reply_to message_id
 *                           ; list_id references unsub.post from_address
 *                           ; (from_address NULL with BIT_FROM_FIRST: the
 *                           ;  first From address of the envelope)
 *   addrs   = list{6}       ; from sender reply_to to cc bcc
 *   list    = count *(str str)      ; name address
 *   count   = varint        ; n + 1; 0: the same list as from
 *   unsub   = varint n_mailto *(str str str str) varint n_http *str
 *   str     = varint 0      ; NULL
 *           / varint (len + 1) len*OCTET %x00
 *   varint  = LEB128, 7 bits a byte, low bits first
 *
 * Strings stay NUL-terminated inside the record, so a borrowed summary
 * points into it; only the address and unsubscribe arrays are made per
 * borrow (one allocation, freed by imap_summary_free).
 */
#include "imap/messages.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct imap_summary_shared {
	atomic_uint refs;
	uint32_t len;
	unsigned char data[];
};

enum { BIT_INTERNALDATE = 1, BIT_DATE = 2, BIT_ONE_CLICK = 4, BIT_FROM_FIRST = 8 };
#define FIXED_LEN (8 + 8 + 8 + 2 + 2 + 4 + 1)
#define NSTR 8
#define NLIST 6

/* ---- writing ---- */

struct out {
	unsigned char *p;  /* NULL while measuring */
	size_t n;
};

static void put(struct out *o, const void *src, size_t len)
{
	if (o->p)
		memcpy(o->p + o->n, src, len);
	o->n += len;
}

static void put_varint(struct out *o, size_t v)
{
	do {
		unsigned char b = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b |= 0x80;
		put(o, &b, 1);
	} while (v);
}

static void put_str(struct out *o, const char *s)
{
	if (!s) {
		put_varint(o, 0);
		return;
	}
	size_t len = strlen(s);
	put_varint(o, len + 1);
	put(o, s, len + 1);
}

static bool same_list(const struct imap_address_list *a, const struct imap_address_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct imap_address *x = &a->v[i], *y = &b->v[i];
		if ((!x->name) != (!y->name) || (x->name && strcmp(x->name, y->name)) ||
		    (!x->address) != (!y->address) || (x->address && strcmp(x->address, y->address)))
			return false;
	}
	return true;
}

static void put_list(struct out *o, const struct imap_address_list *l,
                     const struct imap_address_list *from)
{
	if (from && same_list(l, from)) {
		put_varint(o, 0);
		return;
	}
	put_varint(o, l->n + 1);
	for (size_t i = 0; i < l->n; i++) {
		put_str(o, l->v[i].name);
		put_str(o, l->v[i].address);
	}
}

static void pack(struct out *o, const struct imap_summary *m)
{
	const struct imap_envelope *e = &m->env;
	unsigned char fixed[FIXED_LEN];
	int16_t itz = (int16_t)m->internaldate_tz, dtz = (int16_t)e->date_tz;
	uint32_t att = m->attachments;
	/* the From header's address is nearly always the envelope's first */
	bool from_first = m->from_address && e->from.n && e->from.v[0].address &&
	                  strcmp(m->from_address, e->from.v[0].address) == 0;
	unsigned char bits = (unsigned char)((m->has_internaldate ? BIT_INTERNALDATE : 0) |
	                                     (e->has_date ? BIT_DATE : 0) |
	                                     (m->unsub.one_click ? BIT_ONE_CLICK : 0) |
	                                     (from_first ? BIT_FROM_FIRST : 0));
	memcpy(fixed, &m->size, 8);
	memcpy(fixed + 8, &m->internaldate, 8);
	memcpy(fixed + 16, &e->date, 8);
	memcpy(fixed + 24, &itz, 2);
	memcpy(fixed + 26, &dtz, 2);
	memcpy(fixed + 28, &att, 4);
	fixed[32] = bits;
	put(o, fixed, sizeof fixed);
	const char *strs[NSTR] = {e->date_raw, e->subject,    e->in_reply_to,
	                          e->message_id, m->list_id,  m->references,
	                          m->unsub.post, from_first ? NULL : m->from_address};
	for (size_t i = 0; i < NSTR; i++)
		put_str(o, strs[i]);
	const struct imap_address_list *lists[NLIST] = {&e->from, &e->sender, &e->reply_to,
	                                                &e->to,   &e->cc,     &e->bcc};
	for (size_t i = 0; i < NLIST; i++)
		put_list(o, lists[i], i == 0 ? NULL : &e->from);
	put_varint(o, m->unsub.n_mailto);
	for (size_t i = 0; i < m->unsub.n_mailto; i++) {
		const struct imap_unsub_mailto *u = &m->unsub.mailto[i];
		put_str(o, u->address);
		put_str(o, u->subject);
		put_str(o, u->body);
		put_str(o, u->uri);
	}
	put_varint(o, m->unsub.n_http);
	for (size_t i = 0; i < m->unsub.n_http; i++)
		put_str(o, m->unsub.http[i]);
}

struct imap_summary_shared *imap_summary_share(const struct imap_summary *m)
{
	struct out o = {0};
	pack(&o, m);
	if (o.n > UINT32_MAX)
		return NULL;
	struct imap_summary_shared *sh = malloc(sizeof *sh + o.n);
	if (!sh)
		return NULL;
	atomic_init(&sh->refs, 1);
	sh->len = (uint32_t)o.n;
	o.p = sh->data;
	o.n = 0;
	pack(&o, m);
	return sh;
}

/* ---- reading (records written above: no bounds to check but the end) ---- */

struct in {
	unsigned char *p, *end;
};

static size_t get_varint(struct in *in)
{
	size_t v = 0;
	for (unsigned shift = 0; in->p < in->end; shift += 7) {
		unsigned char b = *in->p++;
		v |= (size_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	return v;
}

static char *get_str(struct in *in)
{
	size_t n = get_varint(in);
	if (n == 0)
		return NULL;
	char *s = (char *)in->p;
	in->p += n;  /* len bytes and the NUL */
	return s;
}

static void skip_str(struct in *in)
{
	in->p += get_varint(in);
}

static void read_fixed(const struct imap_summary_shared *sh, struct imap_summary *m)
{
	const unsigned char *f = sh->data;
	int16_t itz, dtz;
	uint32_t att;
	memcpy(&m->size, f, 8);
	memcpy(&m->internaldate, f + 8, 8);
	memcpy(&m->env.date, f + 16, 8);
	memcpy(&itz, f + 24, 2);
	memcpy(&dtz, f + 26, 2);
	memcpy(&att, f + 28, 4);
	m->internaldate_tz = itz;
	m->env.date_tz = dtz;
	m->attachments = att;
	m->has_internaldate = f[32] & BIT_INTERNALDATE;
	m->env.has_date = f[32] & BIT_DATE;
	m->unsub.one_click = f[32] & BIT_ONE_CLICK;
}

int64_t imap_summary_shared_number(const struct imap_summary_shared *sh, enum imap_sort_key key)
{
	struct imap_summary m = {0};
	read_fixed(sh, &m);
	return imap_sort_key_number(key, &m);
}

/* How many address entries the lists hold, and the mailto / http entries:
 * the sizes of the arrays a borrow makes. */
static size_t count_arrays(struct imap_summary_shared *sh, size_t *nmailto, size_t *nhttp)
{
	struct in in = {sh->data + FIXED_LEN, sh->data + sh->len};
	for (size_t i = 0; i < NSTR; i++)
		skip_str(&in);
	size_t n = 0;
	for (size_t l = 0; l < NLIST; l++) {
		size_t c = get_varint(&in);
		if (c == 0)
			continue;
		n += c - 1;
		for (size_t i = 0; i < 2 * (c - 1); i++)
			skip_str(&in);
	}
	*nmailto = get_varint(&in);
	for (size_t i = 0; i < 4 * *nmailto; i++)
		skip_str(&in);
	*nhttp = get_varint(&in);
	return n;
}

int imap_summary_borrow(struct imap_summary *dst, struct imap_summary_shared *sh)
{
	size_t nmailto, nhttp;
	size_t naddr = count_arrays(sh, &nmailto, &nhttp);
	size_t bytes = naddr * sizeof(struct imap_address) +
	               nmailto * sizeof(struct imap_unsub_mailto) + nhttp * sizeof(char *);
	unsigned char *arrays = NULL;
	if (bytes && !(arrays = calloc(1, bytes)))
		return IMAP_ERR_NOMEM;
	struct imap_address *addr = (struct imap_address *)(void *)arrays;
	struct imap_unsub_mailto *mailto = (struct imap_unsub_mailto *)(void *)(addr + naddr);
	char **http = (char **)(void *)(mailto + nmailto);

	read_fixed(sh, dst);
	struct imap_envelope *e = &dst->env;
	struct in in = {sh->data + FIXED_LEN, sh->data + sh->len};
	char **strs[NSTR] = {&e->date_raw,     &e->subject,     &e->in_reply_to,
	                     &e->message_id,   &dst->list_id,   &dst->references,
	                     &dst->unsub.post, &dst->from_address};
	for (size_t i = 0; i < NSTR; i++)
		*strs[i] = get_str(&in);
	struct imap_address_list *lists[NLIST] = {&e->from, &e->sender, &e->reply_to,
	                                          &e->to,   &e->cc,     &e->bcc};
	for (size_t l = 0; l < NLIST; l++) {
		size_t c = get_varint(&in);
		if (c == 0) {
			*lists[l] = e->from;  /* the same entries: one array, freed once */
			continue;
		}
		lists[l]->n = c - 1;
		lists[l]->v = c > 1 ? addr : NULL;
		for (size_t i = 0; i + 1 < c; i++, addr++) {
			addr->name = get_str(&in);
			addr->address = get_str(&in);
		}
	}
	dst->unsub.n_mailto = get_varint(&in);
	dst->unsub.mailto = nmailto ? mailto : NULL;
	for (size_t i = 0; i < nmailto; i++) {
		mailto[i].address = get_str(&in);
		mailto[i].subject = get_str(&in);
		mailto[i].body = get_str(&in);
		mailto[i].uri = get_str(&in);
	}
	dst->unsub.n_http = get_varint(&in);
	dst->unsub.http = nhttp ? http : NULL;
	for (size_t i = 0; i < nhttp; i++)
		http[i] = get_str(&in);
	if (sh->data[FIXED_LEN - 1] & BIT_FROM_FIRST)
		dst->from_address = e->from.v[0].address;
	dst->borrowed = arrays;
	dst->shared = sh;
	atomic_fetch_add(&sh->refs, 1);
	return 0;
}

void imap_summary_shared_release(struct imap_summary_shared **shp)
{
	struct imap_summary_shared *sh = *shp;
	*shp = NULL;
	if (sh && atomic_fetch_sub(&sh->refs, 1) == 1)
		free(sh);
}

size_t imap_summary_shared_bytes(const struct imap_summary_shared *sh)
{
	/* malloc keeps 8 bytes beside a block and rounds it up to 16 */
	return (sizeof *sh + sh->len + 8 + 15) & ~(size_t)15;
}
