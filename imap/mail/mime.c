/*
 * imap/mail/mime.c — body text, header blocks and Content-Disposition. See
 * mime.h for the contracts.
 */
#include "imap/mail/mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/error.h"
#include "imap/mail/charset.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/utf7.h"

static const char bom[3] = { '\xef', '\xbb', '\xbf' };

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- body text ---- */

/* A label that is nothing but blanks and quotes declares nothing. */
static bool declared(const char *cs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_blank(cs[i]) && cs[i] != '"' && cs[i] != '\'')
			return true;
	return false;
}

/* Well-formed UTF-8 (NUL allowed) with at least one non-ASCII character. */
static bool is_utf8_8bit(const char *s, size_t len)
{
	bool eight = false;
	size_t i = 0, bad;

	while (i < len) {
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = imap_utf8_seq(s + i, len - i, &bad);
		if (!n)
			return false;
		eight = true;
		i += n;
	}
	return eight;
}

int imap_mime_text_to_utf8(const char *charset, size_t charset_len, const char *in,
			   size_t len, struct imap_buf *out)
{
	size_t start = out->len;
	int rc;

	if (len >= 3 && memcmp(in, bom, 3) == 0) {
		rc = imap_utf8_sanitize(in + 3, len - 3, out);
	} else if (!declared(charset, charset_len)) {
		rc = imap_utf8_sanitize(in, len, out);
	} else {
		switch (imap_charset_kind(charset, charset_len)) {
		case IMAP_CHARSET_UTF8:
			rc = imap_utf8_sanitize(in, len, out);
			break;
		case IMAP_CHARSET_LATIN1:
			if (is_utf8_8bit(in, len))
				rc = imap_utf8_sanitize(in, len, out);
			else
				rc = imap_charset_to_utf8(charset, charset_len, in, len, out);
			break;
		case IMAP_CHARSET_GUESS:
		case IMAP_CHARSET_OTHER:
		default:
			rc = imap_charset_to_utf8(charset, charset_len, in, len, out);
			break;
		}
	}
	if (rc) {
		imap_buf_truncate(out, start);
		return rc;
	}
	/* A byte order mark in another encoding (UTF-16 with an explicit byte
	 * order, UTF-7 "+/v8-") comes out as U+FEFF: drop it too. */
	if (out->len - start >= 3 && memcmp(out->data + start, bom, 3) == 0) {
		memmove(out->data + start, out->data + start + 3, out->len - start - 3);
		imap_buf_truncate(out, out->len - 3);
	}
	return 0;
}

static bool is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* The length a lead byte announces (2..4), or 0 for ASCII, a continuation
 * byte or a byte that starts nothing. */
static size_t lead_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

size_t imap_mime_utf8_truncate(const char *s, size_t len, size_t max, bool *cut)
{
	if (len <= max) {
		if (cut)
			*cut = false;
		return len;
	}
	if (cut)
		*cut = true;
	/* s[max] is the first byte cut off. If it continues a sequence that
	 * starts before max (at most 3 bytes back), cut before that start. */
	const unsigned char *u = (const unsigned char *)s;
	size_t p = max;
	while (p > 0 && max - p < 3 && is_cont(u[p]))
		p--;
	if (p < max && p + lead_len(u[p]) > max)
		return p;
	return max;
}

/* ---- header blocks ---- */

/* One line of the block: text[0..len) without its line break; `next` is
 * the offset after the break (or the end of input). */
struct line {
	const char *text;
	size_t len;
	size_t next;
};

static void next_line(const char *in, size_t len, size_t pos, struct line *l)
{
	const char *lf = memchr(in + pos, '\n', len - pos);
	size_t end = lf ? (size_t)(lf - in) : len;

	l->text = in + pos;
	l->next = lf ? end + 1 : len;
	if (lf && end > pos && in[end - 1] == '\r')
		end--;
	l->len = end - pos;
}

/* The length of the field name at the start of a line, with the offset
 * just past its colon in *value; 0 when the line starts no field.
 *   field-name = 1*ftext ; %d33-57 / %d59-126
 *   obs-optional = field-name *WSP ":"  (RFC 5322 §4.5)
 */
static size_t field_name(const struct line *l, size_t *value)
{
	const char *colon = memchr(l->text, ':', l->len);
	if (!colon)
		return 0;
	size_t n = (size_t)(colon - l->text);
	while (n > 0 && is_blank(l->text[n - 1]))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l->text[i];
		if (c < 33 || c > 126)
			return 0;
	}
	*value = (size_t)(colon - l->text) + 1;
	return n;
}

/* "From " as the first line of an mbox message; "From :" is a header in
 * the obsolete syntax. */
static bool is_mbox_from(const struct line *l)
{
	if (l->len < 5 || memcmp(l->text, "From ", 5) != 0)
		return false;
	size_t i = 5;
	while (i < l->len && is_blank(l->text[i]))
		i++;
	return i == l->len || l->text[i] != ':';
}

struct field_span {
	const char *name;
	size_t name_len;
	const char *value; /* raw, folded, without the last line break */
	size_t value_len;
};

struct scan {
	const struct imap_mime_header_limits *limits;
	size_t fields;
	/* NULL when only counting. */
	int (*emit)(struct scan *s, const struct field_span *f);
	struct imap_buf tmp; /* name "\0" value "\0" of the field being emitted */
	int (*field)(void *ctx, const char *name, size_t name_len, const char *value,
		     size_t value_len);
	void *ctx;
};

static int end_field(struct scan *s, const struct field_span *f)
{
	if (!f->name)
		return 0;
	s->fields++;
	if (!s->emit)
		return s->fields > s->limits->fields_max ? IMAP_ERR_LIMIT : 0;
	return s->emit(s, f);
}

/* Walk the fields of the block; emit each when s->emit is set, else only
 * check the limits. */
static int scan_block(struct scan *s, const char *in, size_t len)
{
	struct field_span f = { 0 };
	struct line l;
	size_t pos = 0;
	int rc;

	s->fields = 0;
	if (len == 0)
		return 0;
	next_line(in, len, 0, &l);
	if (is_mbox_from(&l)) {
		if (l.next > s->limits->bytes_max)
			return IMAP_ERR_LIMIT;
		pos = l.next;
	}
	while (pos < len) {
		next_line(in, len, pos, &l);
		if (l.len == 0)
			break; /* the empty line that ends the block */
		if (l.next > s->limits->bytes_max)
			return IMAP_ERR_LIMIT;
		pos = l.next;
		if (is_blank(l.text[0])) {
			/* A continuation: part of the current field, if any. */
			if (f.name)
				f.value_len = (size_t)(l.text + l.len - f.value);
			continue;
		}
		if ((rc = end_field(s, &f)) != 0)
			return rc;
		size_t value = 0;
		size_t n = field_name(&l, &value);
		f.name = n ? l.text : NULL;
		f.name_len = n;
		f.value = l.text + value;
		f.value_len = n ? l.len - value : 0;
	}
	return end_field(s, &f);
}

/* Decode one field into s->tmp and hand it to the caller. */
static int emit_field(struct scan *s, const struct field_span *f)
{
	struct imap_buf *b = &s->tmp;
	int rc;

	imap_buf_reset(b, 4096);
	if ((rc = imap_buf_reserve(b, f->name_len + 1)) != 0)
		return rc;
	for (size_t i = 0; i < f->name_len; i++) {
		char c = f->name[i];
		b->data[b->len++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	b->data[b->len++] = '\0';
	size_t vstart = b->len;
	if ((rc = imap_rfc2047_decode(f->value, f->value_len, b)) != 0 ||
	    (rc = imap_buf_putc(b, '\0')) != 0)
		return rc;
	b->len--; /* the terminator stays, uncounted, as buf.h promises */

	size_t a = vstart, z = b->len;
	while (a < z && is_blank(b->data[a]))
		a++;
	while (z > a && is_blank(b->data[z - 1]))
		z--;
	b->data[z] = '\0';
	return s->field(s->ctx, b->data, f->name_len, b->data + a, z - a);
}

static const struct imap_mime_header_limits default_limits = {
	.fields_max = IMAP_MIME_HEADER_FIELDS_MAX,
	.bytes_max = IMAP_MIME_HEADER_BYTES_MAX,
};

/* No charset turns one byte into more than 16 bytes of UTF-8, so this
 * bounds the decoded form of a block within the limits. */
static size_t tmp_max(const struct imap_mime_header_limits *limits)
{
	size_t n = limits->bytes_max;
	return n > (SIZE_MAX - 64) / 16 ? SIZE_MAX - 64 : 16 * n + 64;
}

int imap_mime_header_parse(const char *in, size_t len,
			   const struct imap_mime_header_limits *limits,
			   int (*field)(void *ctx, const char *name, size_t name_len,
					const char *value, size_t value_len),
			   void *ctx)
{
	struct scan s = { .limits = limits ? limits : &default_limits };
	int rc;

	/* First the limits, so that a block that breaks them calls nothing. */
	if ((rc = scan_block(&s, in, len)) != 0)
		return rc;
	s.emit = emit_field;
	s.field = field;
	s.ctx = ctx;
	imap_buf_init(&s.tmp, tmp_max(s.limits));
	rc = scan_block(&s, in, len);
	imap_buf_free(&s.tmp);
	return rc;
}

struct collect {
	struct imap_mime_header *h;
	size_t cap;
};

static int collect_field(void *ctx, const char *name, size_t name_len, const char *value,
			 size_t value_len)
{
	struct collect *c = ctx;
	struct imap_mime_field *f;

	if (c->h->n == c->cap)
		return IMAP_ERR_LIMIT; /* cannot happen: the count was taken first */
	f = &c->h->v[c->h->n];
	f->name = strndup(name, name_len);
	f->value = strndup(value, value_len);
	if (!f->name || !f->value) {
		free(f->name);
		free(f->value);
		return IMAP_ERR_NOMEM;
	}
	c->h->n++;
	return 0;
}

int imap_mime_header_read(const char *in, size_t len,
			  const struct imap_mime_header_limits *limits,
			  struct imap_mime_header *out)
{
	struct scan s = { .limits = limits ? limits : &default_limits };
	struct collect c = { .h = out };
	int rc;

	out->v = NULL;
	out->n = 0;
	if ((rc = scan_block(&s, in, len)) != 0)
		return rc;
	if (s.fields == 0)
		return 0;
	out->v = calloc(s.fields, sizeof *out->v);
	if (!out->v)
		return IMAP_ERR_NOMEM;
	c.cap = s.fields;
	s.emit = emit_field;
	s.field = collect_field;
	s.ctx = &c;
	imap_buf_init(&s.tmp, tmp_max(s.limits));
	rc = scan_block(&s, in, len);
	imap_buf_free(&s.tmp);
	if (rc)
		imap_mime_header_free(out);
	return rc;
}

void imap_mime_header_free(struct imap_mime_header *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].value);
	}
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

const char *imap_mime_header_get(const struct imap_mime_header *h, const char *name)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

/* ---- Content-Disposition ---- */

/* Characters that must not reach a file name: C0 and C1 controls, DEL,
 * the Unicode line and paragraph separators, and the bidirectional
 * formatting characters (an RLO turns "txt.exe" into "exe.txt" on
 * screen). seq is one well-formed UTF-8 sequence of n bytes. */
static bool drop_char(const unsigned char *seq, size_t n)
{
	if (n == 1)
		return seq[0] < 0x20 || seq[0] == 0x7f;
	if (n == 2)
		return seq[0] == 0xc2 && seq[1] < 0xa0; /* U+0080..U+009F */
	if (n == 3 && seq[0] == 0xe2 && seq[1] == 0x80)
		return seq[2] == 0x8e || seq[2] == 0x8f ||      /* LRM, RLM */
		       (seq[2] >= 0xa8 && seq[2] <= 0xae);    /* LS, PS, LRE..RLO */
	if (n == 3 && seq[0] == 0xe2 && seq[1] == 0x81)
		return seq[2] >= 0xa6 && seq[2] <= 0xa9;        /* LRI..PDI */
	return false;
}

/* RFC 5987:
 *   attr-char = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "."
 *             / "^" / "_" / "`" / "|" / "~"
 */
static bool attr_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL);
}

/* Append the name to out without the characters drop_char refuses;
 * bytes that do not form UTF-8 are read as windows-1252, one at a time,
 * as imap_utf8_sanitize does. */
static int clean_name(const char *name, size_t len, struct imap_buf *out)
{
	size_t i = 0, bad;
	int rc = 0;

	while (i < len && !rc) {
		size_t n = imap_utf8_seq(name + i, len - i, &bad);
		if (n == 0) {
			rc = imap_utf8_sanitize(name + i, 1, out);
			i++;
			continue;
		}
		if (!drop_char((const unsigned char *)name + i, n))
			rc = imap_buf_append(out, name + i, n);
		i += n;
	}
	return rc;
}

/* Append the fallback (pct: false) or the pct-encoded form of the clean
 * (valid UTF-8) name. */
static int put_name(const char *name, size_t len, bool pct, struct imap_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (size_t i = 0; i < len && !rc; i++) {
		unsigned char c = (unsigned char)name[i];
		if (pct) {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
			rc = attr_char(c) ? imap_buf_putc(out, (char)c) : imap_buf_append(out, esc, 3);
		} else if (c >= 0x80) {
			/* One "_" per character: at its lead byte only. */
			if (!is_cont(c))
				rc = imap_buf_putc(out, '_');
		} else {
			rc = imap_buf_putc(out, c == '"' || c == '\\' ? '_' : (char)c);
		}
	}
	return rc;
}

int imap_mime_content_disposition(const char *filename, size_t len, bool as_inline,
				  struct imap_buf *out)
{
	const char *type = as_inline ? "inline" : "attachment";
	size_t start = out->len;
	struct imap_buf clean;
	int rc;

	if (!filename)
		len = 0;
	/* Cleaning at most triples the size (one byte -> U+FFFD). */
	imap_buf_init(&clean, len > SIZE_MAX / 4 ? SIZE_MAX / 4 : 3 * len + 1);
	if ((rc = clean_name(filename, len, &clean)) != 0)
		goto done;
	if ((rc = imap_buf_puts(out, type)) != 0 || clean.len == 0)
		goto done;
	if ((rc = imap_buf_puts(out, "; filename=\"")) != 0 ||
	    (rc = put_name(clean.data, clean.len, false, out)) != 0 ||
	    (rc = imap_buf_puts(out, "\"; filename*=UTF-8''")) != 0 ||
	    (rc = put_name(clean.data, clean.len, true, out)) != 0)
		goto done;
done:
	imap_buf_free(&clean);
	if (rc)
		imap_buf_truncate(out, start);
	return rc;
}
