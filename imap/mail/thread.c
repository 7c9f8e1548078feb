/*
 * imap/mail/thread.c — RFC 5256 base subject and REFERENCES threading.
 * See thread.h.
 */
#include "imap/mail/thread.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- base subject ---- */

/* After a subj-blob ("[" *BLOBCHAR "]", RFC 5256) at s[p] and the blanks
 * after it: where the subject goes on; p itself when no blob is at p. */
static size_t after_blob(const char *s, size_t len, size_t p)
{
	if (p >= len || s[p] != '[')
		return p;
	size_t e = p + 1;
	while (e < len && s[e] != '[' && s[e] != ']')
		e++;
	if (e >= len || s[e] != ']')
		return p;
	e++;
	while (e < len && s[e] == ' ')
		e++;
	return e;
}

char *imap_base_subject(const char *subject, bool *reply)
{
	struct imap_buf b;
	bool marker = false;
	imap_buf_init(&b, 0);
	/* (1) whitespace runs become one space */
	for (const char *p = subject ? subject : ""; *p; p++) {
		char c = (*p == '\t' || *p == '\r' || *p == '\n') ? ' ' : *p;
		if (c == ' ' && (b.len == 0 || b.data[b.len - 1] == ' '))
			continue;
		imap_buf_putc(&b, c);
	}
	char *s = b.data;
	size_t start = 0, len = b.len;
	for (bool changed = true; s && changed;) {
		changed = false;
		/* (2) trailing "(fwd)" and blanks */
		for (;;) {
			while (len > start && s[len - 1] == ' ')
				len--, changed = true;
			if (len - start >= 5 && strncasecmp(s + len - 5, "(fwd)", 5) == 0) {
				len -= 5;
				changed = marker = true;
				continue;
			}
			break;
		}
		/* (3) leading subj-leader: *(blob) ("re" / "fw" / "fwd") [blob] ":" */
		for (bool again = true; again;) {
			again = false;
			size_t p = start;
			while (p < len && s[p] == ' ')
				p++;
			size_t q = p, next;
			while ((next = after_blob(s, len, q)) != q)  /* subj-blob */
				q = next;
			size_t w = 0;
			if (len - q >= 3 && strncasecmp(s + q, "fwd", 3) == 0)
				w = 3;
			else if (len - q >= 2 &&
			         (strncasecmp(s + q, "re", 2) == 0 || strncasecmp(s + q, "fw", 2) == 0))
				w = 2;
			if (!w)
				break;
			size_t r = q + w;
			while (r < len && s[r] == ' ')
				r++;
			r = after_blob(s, len, r);
			if (r < len && s[r] == ':') {
				start = r + 1;
				changed = again = marker = true;
			}
		}
		/* (4) a leading blob, when something remains after it */
		size_t p = start;
		while (p < len && s[p] == ' ')
			p++;
		size_t rest = after_blob(s, len, p);
		if (rest != p && rest < len) {
			start = rest;
			changed = true;
		}
		/* (6) "[fwd:" ... "]" */
		while (start < len && s[start] == ' ')
			start++;
		if (!changed && len - start >= 6 && strncasecmp(s + start, "[fwd:", 5) == 0 &&
		    s[len - 1] == ']') {
			start += 5;
			len -= 1;
			changed = marker = true;
		}
	}
	char *out = strndup(s ? s + start : "", s ? len - start : 0);
	imap_buf_free(&b);
	if (reply)
		*reply = marker;
	return out;
}

/* ---- message ids ---- */

const char *imap_msgid_next(const char *s, size_t len, size_t *pos, size_t *len_out)
{
	for (size_t i = *pos; s && i < len; i++) {
		if (s[i] != '<')
			continue;
		size_t e = i + 1;
		while (e < len && s[e] != '>' && s[e] != '<' && s[e] != ' ' && s[e] != '\t' &&
		       s[e] != '\r' && s[e] != '\n')
			e++;
		if (e < len && s[e] == '>' && e > i + 1) {
			*pos = e + 1;
			*len_out = e + 1 - i;
			return s + i;
		}
		i = e - 1;
	}
	*pos = len;
	return NULL;
}

/* ---- a table of strings (message ids, subjects) to nodes ---- */

struct slot {
	const char *key;
	size_t len;
	long node;
};

struct table {
	struct slot *v;
	size_t cap;   /* a power of two */
};

static int table_init(struct table *t, size_t n)
{
	t->cap = 16;
	while (t->cap < n * 2)
		t->cap *= 2;
	t->v = calloc(t->cap, sizeof *t->v);
	return t->v ? 0 : -1;
}

/* The slot of key: its entry, or the free slot where it goes. */
static struct slot *table_slot(struct table *t, const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
	for (size_t i = (size_t)h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct slot *s = &t->v[i];
		if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

/* ---- the algorithm ---- */

struct ctx {
	const struct imap_thread_msg *msgs;
	struct imap_thread_node *v;
	size_t n, cap;
	char **subj;       /* base subject of each message, ASCII lower-cased */
	bool *reply;
};

static long node_new(struct ctx *c, long msg)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct imap_thread_node *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return -1;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n] = (struct imap_thread_node){msg, -1, -1, -1};
	return (long)c->n++;
}

static bool is_ancestor(const struct ctx *c, long a, long b)
{
	for (long x = b; x >= 0; x = c->v[x].parent)
		if (x == a)
			return true;
	return false;
}

static void link_child(struct ctx *c, long parent, long child)
{
	c->v[child].parent = parent;
	c->v[child].next = c->v[parent].child;
	c->v[parent].child = child;
}

static void unlink_child(struct ctx *c, long child)
{
	long p = c->v[child].parent;
	if (p < 0)
		return;
	long *at = &c->v[p].child;
	while (*at >= 0 && *at != child)
		at = &c->v[*at].next;
	if (*at == child)
		*at = c->v[child].next;
	c->v[child].parent = -1;
	c->v[child].next = -1;
}

/* The node of message id s[0..len), made as a dummy when new; -1 out of memory. */
static long id_node(struct ctx *c, struct table *ids, const char *s, size_t len)
{
	struct slot *sl = table_slot(ids, s, len);
	if (sl->key)
		return sl->node;
	long x = node_new(c, -1);
	if (x >= 0)
		*sl = (struct slot){s, len, x};
	return x;
}

/* Step 1: the containers and their links. */
static int build(struct ctx *c, struct table *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_thread_msg *m = &c->msgs[i];
		size_t pos = 0, len = 0;
		const char *mid = m->message_id ? imap_msgid_next(m->message_id, strlen(m->message_id),
		                                                  &pos, &len)
		                                : NULL;
		long x = -1;
		if (mid) {
			struct slot *sl = table_slot(ids, mid, len);
			if (sl->key && c->v[sl->node].msg < 0) {
				x = sl->node;
				c->v[x].msg = (long)i;
			} else if (!sl->key) {
				if ((x = node_new(c, (long)i)) < 0)
					return -1;
				*sl = (struct slot){mid, len, x};
			}
		}
		if (x < 0 && (x = node_new(c, (long)i)) < 0)  /* no id, or one seen before */
			return -1;
		/* (B) the references, linked in order where no link exists */
		const char *refs = m->references;
		size_t rlen = refs ? strlen(refs) : 0;
		pos = 0;
		if (!refs || !imap_msgid_next(refs, rlen, &pos, &len)) {
			refs = m->in_reply_to;
			rlen = refs ? strlen(refs) : 0;
		}
		pos = 0;
		long prev = -1;
		const char *r;
		while ((r = imap_msgid_next(refs, rlen, &pos, &len)) != NULL) {
			long y = id_node(c, ids, r, len);
			if (y < 0)
				return -1;
			if (prev >= 0 && y != prev && c->v[y].parent < 0 && !is_ancestor(c, y, prev))
				link_child(c, prev, y);
			prev = y;
			if (refs == m->in_reply_to)
				break;  /* In-Reply-To: its first id only */
		}
		/* (C) the message under its last reference */
		unlink_child(c, x);
		if (prev >= 0 && prev != x && !is_ancestor(c, x, prev))
			link_child(c, prev, x);
	}
	return 0;
}

/* Step 3: dummies without children go; a dummy's children take its place,
 * except at the top when it has more than one. */
static long prune(struct ctx *c, long head, long parent)
{
	long out = -1, tail = -1, x = head;
	while (x >= 0) {
		long next = c->v[x].next;
		if (c->v[x].msg < 0) {
			long kid = c->v[x].child;
			if (kid < 0) {
				x = next;
				continue;
			}
			if (parent >= 0 || c->v[kid].next < 0) {
				long last = kid;
				for (long k = kid; k >= 0; k = c->v[k].next) {
					c->v[k].parent = parent;
					last = k;
				}
				c->v[last].next = next;
				c->v[x].child = -1;
				x = kid;
				continue;
			}
		}
		c->v[x].child = prune(c, c->v[x].child, x);
		c->v[x].next = -1;
		if (tail < 0)
			out = x;
		else
			c->v[tail].next = x;
		tail = x;
		x = next;
	}
	return out;
}

/* The message that stands for x in sorting and subjects: x's, or for a
 * dummy its first child's. */
static long stand_in(const struct ctx *c, long x)
{
	while (x >= 0 && c->v[x].msg < 0)
		x = c->v[x].child;
	return x >= 0 ? c->v[x].msg : -1;
}

struct sort_key {
	long node;
	int64_t date;
	long seq;
};

static int by_date(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the siblings from head (children first, so a dummy's first child
 * is known), by sent date, ties in input order. Returns the new head. */
static long sort_level(struct ctx *c, long head, int *err)
{
	size_t k = 0;
	for (long x = head; x >= 0; x = c->v[x].next) {
		c->v[x].child = sort_level(c, c->v[x].child, err);
		k++;
	}
	if (k < 2 || *err)
		return head;
	struct sort_key *keys = malloc(k * sizeof *keys);
	if (!keys) {
		*err = -1;
		return head;
	}
	k = 0;
	for (long x = head; x >= 0; x = c->v[x].next) {
		long m = stand_in(c, x);
		keys[k++] = (struct sort_key){x, m >= 0 ? c->msgs[m].date : 0, m};
	}
	qsort(keys, k, sizeof *keys, by_date);
	for (size_t i = 0; i < k; i++)
		c->v[keys[i].node].next = i + 1 < k ? keys[i + 1].node : -1;
	head = keys[0].node;
	free(keys);
	return head;
}

static const char *subject_of(const struct ctx *c, long x, bool *reply)
{
	long m = stand_in(c, x);
	*reply = m >= 0 && c->reply[m];
	return m >= 0 ? c->subj[m] : "";
}

/* Step 5: threads of one base subject gathered. */
static int gather(struct ctx *c, long *first)
{
	size_t nroots = 0;
	for (long x = *first; x >= 0; x = c->v[x].next)
		nroots++;
	long *roots = malloc((nroots ? nroots : 1) * sizeof *roots);
	struct table subjects;
	if (!roots || table_init(&subjects, nroots) != 0) {
		free(roots);
		return -1;
	}
	nroots = 0;
	for (long x = *first; x >= 0; x = c->v[x].next)
		roots[nroots++] = x;
	/* (B) one container per subject: a dummy before a message, a
	 * message that is no reply before one that is */
	for (size_t i = 0; i < nroots; i++) {
		bool reply;
		const char *s = subject_of(c, roots[i], &reply);
		if (!*s)
			continue;
		struct slot *sl = table_slot(&subjects, s, strlen(s));
		if (!sl->key) {
			*sl = (struct slot){s, strlen(s), roots[i]};
			continue;
		}
		bool table_reply;
		subject_of(c, sl->node, &table_reply);
		if (c->v[sl->node].msg >= 0 &&
		    (c->v[roots[i]].msg < 0 || (table_reply && !reply)))
			sl->node = roots[i];
	}
	/* (C) the others merged into it */
	int rc = 0;
	for (size_t i = 0; i < nroots && !rc; i++) {
		long x = roots[i];
		bool reply;
		const char *s = subject_of(c, x, &reply);
		if (!*s)
			continue;
		struct slot *sl = table_slot(&subjects, s, strlen(s));
		long e = sl->node;
		if (e == x)
			continue;
		bool table_reply;
		subject_of(c, e, &table_reply);
		if (c->v[x].msg < 0 && c->v[e].msg < 0) {
			for (long k = c->v[x].child, nx; k >= 0; k = nx) {
				nx = c->v[k].next;
				link_child(c, e, k);
			}
			c->v[x].child = -1;
		} else if (c->v[e].msg < 0 || (reply && !table_reply)) {
			link_child(c, e, x);
		} else {
			long d = node_new(c, -1);
			if (d < 0) {
				rc = -1;
				break;
			}
			for (size_t k = 0; k < nroots; k++)
				if (roots[k] == e)
					roots[k] = d;
			link_child(c, d, e);
			link_child(c, d, x);
			sl->node = d;
		}
		roots[i] = -1;
	}
	/* the roots that are left, in their order */
	long tail = -1;
	*first = -1;
	for (size_t i = 0; i < nroots; i++) {
		long x = roots[i];
		if (x < 0)
			continue;
		c->v[x].parent = -1;
		c->v[x].next = -1;
		if (tail < 0)
			*first = x;
		else
			c->v[tail].next = x;
		tail = x;
	}
	free(roots);
	free(subjects.v);
	return rc;
}

int imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
                           struct imap_threads *out)
{
	memset(out, 0, sizeof *out);
	out->first = -1;
	struct ctx c = {.msgs = msgs};
	struct table ids = {0};
	int rc = -1;
	c.subj = calloc(n ? n : 1, sizeof *c.subj);
	c.reply = calloc(n ? n : 1, sizeof *c.reply);
	if (!c.subj || !c.reply)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if (!(c.subj[i] = imap_base_subject(msgs[i].subject, &c.reply[i])))
			goto done;
		for (char *p = c.subj[i]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	/* the id table must not grow past half full: every message and
	 * reference adds at most one entry */
	size_t entries = n;
	for (size_t i = 0; i < n; i++) {
		const char *r = msgs[i].references ? msgs[i].references : msgs[i].in_reply_to;
		size_t pos = 0, len, rl = r ? strlen(r) : 0;
		while (imap_msgid_next(r, rl, &pos, &len))
			entries++;
		r = msgs[i].in_reply_to;
		rl = r ? strlen(r) : 0;
		pos = 0;
		entries += imap_msgid_next(r, rl, &pos, &len) != NULL;
	}
	if (table_init(&ids, entries) != 0)
		goto done;
	if (build(&c, &ids, n) != 0)
		goto done;
	/* (2) the root set, in the order the containers were made */
	long first = -1, tail = -1;
	for (size_t x = 0; x < c.n; x++) {
		if (c.v[x].parent >= 0)
			continue;
		if (tail < 0)
			first = (long)x;
		else
			c.v[tail].next = (long)x;
		tail = (long)x;
		c.v[x].next = -1;
	}
	first = prune(&c, first, -1);
	int err = 0;
	first = sort_level(&c, first, &err);          /* (4) */
	if (err || gather(&c, &first) != 0)          /* (5) */
		goto done;
	first = sort_level(&c, first, &err);          /* (6) */
	if (err)
		goto done;
	out->v = c.v;
	out->n = c.n;
	out->first = first;
	c.v = NULL;
	rc = 0;
done:
	for (size_t i = 0; c.subj && i < n; i++)
		free(c.subj[i]);
	free(c.subj);
	free(c.reply);
	free(ids.v);
	free(c.v);
	return rc;
}

void imap_threads_free(struct imap_threads *t)
{
	free(t->v);
	memset(t, 0, sizeof *t);
	t->first = -1;
}

static void members(const struct imap_threads *t, const uint32_t *ids, long x,
                    struct imap_buf *out)
{
	bool first = true;
	while (x >= 0) {
		if (t->v[x].msg >= 0) {
			imap_buf_printf(out, "%s%u", first ? "" : " ", ids[t->v[x].msg]);
			first = false;
		}
		long kid = t->v[x].child;
		if (kid < 0)
			return;
		if (t->v[kid].next < 0 && t->v[x].msg >= 0) {
			x = kid;
			continue;
		}
		if (!first)
			imap_buf_putc(out, ' ');
		for (long k = kid; k >= 0; k = t->v[k].next) {
			imap_buf_putc(out, '(');
			members(t, ids, k, out);
			imap_buf_putc(out, ')');
		}
		return;
	}
}

void imap_threads_format(const struct imap_threads *t, const uint32_t *ids, struct imap_buf *out)
{
	for (long r = t->first; r >= 0; r = t->v[r].next) {
		imap_buf_putc(out, '(');
		members(t, ids, r, out);
		imap_buf_putc(out, ')');
	}
}

long imap_threads_add(struct imap_threads *t, long msg, long parent)
{
	if ((t->n & (t->n - 1)) == 0 || t->n == 0) {  /* grow at powers of two */
		size_t cap = t->n ? t->n * 2 : 16;
		struct imap_thread_node *v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return -1;
		t->v = v;
	}
	long x = (long)t->n++;
	t->v[x] = (struct imap_thread_node){msg, parent, -1, -1};
	long *at = parent >= 0 ? &t->v[parent].child : &t->first;
	if (parent < 0 && t->first >= 0)
		at = &t->v[t->last_root_].next;  /* roots may be many: no walk */
	while (*at >= 0)
		at = &t->v[*at].next;
	*at = x;
	if (parent < 0)
		t->last_root_ = x;
	return x;
}

const char *imap_thread_root_id(const char *message_id, const char *references,
                                const char *in_reply_to, size_t *len)
{
	const char *from[] = {references, in_reply_to, message_id};
	for (size_t i = 0; i < 3; i++) {
		size_t pos = 0;
		const char *id = from[i] ? imap_msgid_next(from[i], strlen(from[i]), &pos, len) : NULL;
		if (id)
			return id;
	}
	return NULL;
}
