/*
 * imap/mail/cte.c — base64 and quoted-printable decoders. See cte.h for the
 * contracts.
 *
 * Both decoders are byte-at-a-time state machines: every decision depends
 * only on the bytes seen so far and the state kept in the struct, never on
 * where a chunk ends, which is what makes any split of the input give the
 * same output. Output goes through a fixed buffer in the struct and reaches
 * the callback in batches.
 */
#include "imap/mail/cte.h"

#include <stdbool.h>
#include <string.h>

#include "imap/base/codec.h"
#include "imap/base/error.h"

/* Quoted-printable states: where we are in an escape or a line end. */
enum qp_state {
	QP_TEXT,     /* ordinary text; blanks[] may hold a run of blanks */
	QP_CR,       /* text, then CR: a line break if LF follows */
	QP_EQ,       /* "=" */
	QP_EQ_HEX,   /* "=" and one hex digit (in d->hex) */
	QP_EQ_BLANK, /* "=" and blanks (in blanks[]) */
	QP_EQ_CR,    /* "=", blanks (maybe none) and CR */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * mechanism = "7bit" / "8bit" / "binary" / "quoted-printable" / "base64" /
 *             ietf-token / x-token                        (RFC 2045 §6.1)
 * Some mailers quote the value or add a comment or a ";"; the token is
 * what lies between those.
 */
enum imap_cte imap_cte_parse(const char *s, size_t len)
{
	size_t a = 0, b;

	while (a < len && (is_blank(s[a]) || s[a] == '"' || s[a] == '\r' || s[a] == '\n'))
		a++;
	b = a;
	while (b < len && !is_blank(s[b]) && s[b] != '"' && s[b] != ';' && s[b] != '(' &&
	       s[b] != '\r' && s[b] != '\n')
		b++;
	for (size_t i = b; i < len; i++) {
		char c = s[i];
		if (c == ';' || c == '(')
			break;
		if (!is_blank(c) && c != '"' && c != '\r' && c != '\n')
			return IMAP_CTE_IDENTITY; /* "base64 junk": not a name we know */
	}

	static const struct {
		const char *name;
		enum imap_cte cte;
	} names[] = {
		{ "base64", IMAP_CTE_BASE64 },
		{ "quoted-printable", IMAP_CTE_QP },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		size_t n = strlen(names[i].name);
		if (b - a != n)
			continue;
		size_t k = 0;
		while (k < n && lower(s[a + k]) == names[i].name[k])
			k++;
		if (k == n)
			return names[i].cte;
	}
	return IMAP_CTE_IDENTITY;
}

void imap_cte_init(struct imap_cte_decoder *d, enum imap_cte cte,
		   int (*out)(void *ctx, const char *data, size_t len), void *ctx)
{
	d->cte = cte;
	d->out = out;
	d->ctx = ctx;
	d->error = 0;
	d->state = QP_TEXT;
	d->bits = 0;
	d->nbits = 0;
	d->hex = 0;
	d->blanks_len = 0;
	d->out_len = 0;
}

static int flush(struct imap_cte_decoder *d)
{
	if (d->error || d->out_len == 0)
		return d->error;
	size_t n = d->out_len;
	d->out_len = 0;
	d->error = d->out(d->ctx, d->out_buf, n);
	return d->error;
}

static int put(struct imap_cte_decoder *d, char c)
{
	d->out_buf[d->out_len++] = c;
	return d->out_len == sizeof d->out_buf ? flush(d) : 0;
}

static int put_n(struct imap_cte_decoder *d, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = sizeof d->out_buf - d->out_len;
		if (k > n)
			k = n;
		memcpy(d->out_buf + d->out_len, p, k);
		d->out_len += k;
		p += k;
		n -= k;
		if (d->out_len == sizeof d->out_buf) {
			int rc = flush(d);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- identity ---- */

static int identity_feed(struct imap_cte_decoder *d, const char *in, size_t len)
{
	if (len < sizeof d->out_buf)
		return put_n(d, in, len);
	/* A big chunk goes to the callback as it is, after what is batched. */
	int rc = flush(d);
	if (rc)
		return rc;
	d->error = d->out(d->ctx, in, len);
	return d->error;
}

/* ---- base64 (RFC 2045 §6.8, RFC 4648 §4) ---- */

/*
 * A body arrives in pieces of any size, so this decoder keeps its own state
 * (the sextets of an unfinished quantum) across calls, and it skips line
 * breaks and stray bytes as RFC 2045 §6.8 asks, where the whole-buffer
 * imap_base64_decode would refuse the text. The alphabet is the shared
 * table, looked up with imap_base64_value.
 */

/* The whole bytes of a partial quantum: 2 sextets hold 1 byte and 4 spare
 * bits, 3 sextets hold 2 bytes and 2 spare bits, 1 sextet holds none. */
static int b64_end_quantum(struct imap_cte_decoder *d)
{
	int rc = 0;

	if (d->nbits == 2) {
		rc = put(d, (char)(d->bits >> 4));
	} else if (d->nbits == 3) {
		rc = put(d, (char)(d->bits >> 10));
		if (!rc)
			rc = put(d, (char)(d->bits >> 2));
	}
	d->bits = 0;
	d->nbits = 0;
	return rc;
}

static int b64_feed(struct imap_cte_decoder *d, const char *in, size_t len)
{
	int rc;

	for (size_t i = 0; i < len; i++) {
		int v = imap_base64_value((unsigned char)in[i]);
		if (v < 0) {
			/* "=" closes the quantum; the rest is noise. */
			if (in[i] == '=' && (rc = b64_end_quantum(d)) != 0)
				return rc;
			continue;
		}
		d->bits = d->bits << 6 | (uint32_t)v;
		if (++d->nbits < 4)
			continue;
		uint32_t b = d->bits;
		d->bits = 0;
		d->nbits = 0;
		if (sizeof d->out_buf - d->out_len >= 3) {  /* the common case: room */
			d->out_buf[d->out_len++] = (char)(b >> 16);
			d->out_buf[d->out_len++] = (char)(b >> 8);
			d->out_buf[d->out_len++] = (char)b;
			if (d->out_len == sizeof d->out_buf && (rc = flush(d)) != 0)
				return rc;
			continue;
		}
		char three[3] = { (char)(b >> 16), (char)(b >> 8), (char)b };
		if ((rc = put_n(d, three, 3)) != 0)
			return rc;
	}
	return 0;
}

/* ---- quoted-printable (RFC 2045 §6.7) ----
 *
 *   quoted-printable := qp-line *(CRLF qp-line)
 *   qp-line := *(qp-segment transport-padding CRLF)
 *              qp-part transport-padding
 *   qp-segment := qp-section *(SPACE / TAB) "="      ; soft line break
 *   transport-padding := *LWSP-char                  ; must be removed
 *   hex-octet := "=" 2(DIGIT / "A" / "B" / "C" / "D" / "E" / "F")
 *
 * Decoders in the wild also take lower-case hex and bare LF line breaks,
 * and keep an "=" that starts no escape; so do we.
 */

/* The held blanks were not trailing after all: emit them. */
static int release_blanks(struct imap_cte_decoder *d)
{
	size_t n = d->blanks_len;
	d->blanks_len = 0;
	return put_n(d, d->blanks, n);
}

static int hold_blank(struct imap_cte_decoder *d, char c)
{
	if (d->blanks_len == sizeof d->blanks) {
		int rc = release_blanks(d);
		if (rc)
			return rc;
	}
	d->blanks[d->blanks_len++] = c;
	return 0;
}

static int qp_char(struct imap_cte_decoder *d, char c)
{
	int rc;

	for (;;) {
		switch (d->state) {
		case QP_TEXT:
			if (is_blank(c))
				return hold_blank(d, c);
			if (c == '\r') {
				d->state = QP_CR;
				return 0;
			}
			if (c == '\n') {
				d->blanks_len = 0; /* trailing blanks */
				return put(d, c);
			}
			if ((rc = release_blanks(d)) != 0)
				return rc;
			if (c == '=') {
				d->state = QP_EQ;
				return 0;
			}
			return put(d, c);

		case QP_CR:
			d->state = QP_TEXT;
			if (c == '\n') {
				d->blanks_len = 0;
				return put_n(d, "\r\n", 2);
			}
			if ((rc = release_blanks(d)) != 0 || (rc = put(d, '\r')) != 0)
				return rc;
			continue; /* c again, as text */

		case QP_EQ:
			if (imap_hex_digit(c) >= 0) {
				d->hex = c;
				d->state = QP_EQ_HEX;
				return 0;
			}
			if (is_blank(c)) {
				d->state = QP_EQ_BLANK;
				d->blanks[d->blanks_len++] = c; /* empty: released before "=" */
				return 0;
			}
			if (c == '\r') {
				d->state = QP_EQ_CR;
				return 0;
			}
			d->state = QP_TEXT;
			if (c == '\n')
				return 0; /* soft line break */
			if ((rc = put(d, '=')) != 0)
				return rc;
			continue;

		case QP_EQ_HEX:
			d->state = QP_TEXT;
			if (imap_hex_digit(c) >= 0)
				return put(d, (char)(imap_hex_digit(d->hex) << 4 | imap_hex_digit(c)));
			if ((rc = put(d, '=')) != 0 || (rc = put(d, d->hex)) != 0)
				return rc;
			continue;

		case QP_EQ_BLANK:
			if (is_blank(c) && d->blanks_len < sizeof d->blanks) {
				d->blanks[d->blanks_len++] = c;
				return 0;
			}
			if (c == '\r') {
				d->state = QP_EQ_CR;
				return 0;
			}
			if (c == '\n') {
				d->blanks_len = 0; /* soft line break */
				d->state = QP_TEXT;
				return 0;
			}
			/* Not a soft break (or too many blanks to hold): "=" is text. */
			d->state = QP_TEXT;
			if ((rc = put(d, '=')) != 0 || (rc = release_blanks(d)) != 0)
				return rc;
			continue;

		case QP_EQ_CR:
		default:
			d->state = QP_TEXT;
			if (c == '\n') {
				d->blanks_len = 0; /* soft line break */
				return 0;
			}
			/* A lone CR is data, so this "=" starts nothing. */
			if ((rc = put(d, '=')) != 0 || (rc = release_blanks(d)) != 0 ||
			    (rc = put(d, '\r')) != 0)
				return rc;
			continue;
		}
	}
}

static int qp_feed(struct imap_cte_decoder *d, const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		/* Fast path: plain text outside any escape or blank run. */
		if (d->state == QP_TEXT && d->blanks_len == 0 && c != '=' && c != '\r' &&
		    c != '\n' && !is_blank(c)) {
			int rc = put(d, c);
			if (rc)
				return rc;
			continue;
		}
		int rc = qp_char(d, c);
		if (rc)
			return rc;
	}
	return 0;
}

/* The end of input ends the last line: trailing blanks go, and so does a
 * final "=" (the line break of that soft break belonged to the boundary). */
static int qp_finish(struct imap_cte_decoder *d)
{
	int rc = 0;

	switch (d->state) {
	case QP_CR:
		if ((rc = release_blanks(d)) == 0)
			rc = put(d, '\r');
		break;
	case QP_EQ_HEX:
		if ((rc = put(d, '=')) == 0)
			rc = put(d, d->hex);
		break;
	case QP_EQ_CR:
		if ((rc = put(d, '=')) == 0 && (rc = release_blanks(d)) == 0)
			rc = put(d, '\r');
		break;
	case QP_TEXT:
	case QP_EQ:
	case QP_EQ_BLANK:
	default:
		break;
	}
	d->blanks_len = 0;
	d->state = QP_TEXT;
	return rc;
}

/* ---- the interface ---- */

int imap_cte_feed(struct imap_cte_decoder *d, const char *in, size_t len)
{
	if (d->error)
		return d->error;
	if (len == 0)
		return 0;
	switch (d->cte) {
	case IMAP_CTE_BASE64:
		return b64_feed(d, in, len);
	case IMAP_CTE_QP:
		return qp_feed(d, in, len);
	case IMAP_CTE_IDENTITY:
	default:
		return identity_feed(d, in, len);
	}
}

int imap_cte_finish(struct imap_cte_decoder *d)
{
	int rc = 0;

	if (d->error)
		return d->error;
	if (d->cte == IMAP_CTE_BASE64)
		rc = b64_end_quantum(d);
	else if (d->cte == IMAP_CTE_QP)
		rc = qp_finish(d);
	if (rc)
		return rc;
	return flush(d);
}

static int append_to_buf(void *ctx, const char *data, size_t len)
{
	return imap_buf_append(ctx, data, len);
}

int imap_cte_decode(enum imap_cte cte, const char *in, size_t len, struct imap_buf *out)
{
	struct imap_cte_decoder d;
	size_t start = out->len;

	imap_cte_init(&d, cte, append_to_buf, out);
	int rc = imap_cte_feed(&d, in, len);
	if (!rc)
		rc = imap_cte_finish(&d);
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}
