/*
 * imap/mail/utf7.c — modified UTF-7 mailbox names and UTF-8 validation.
 * See utf7.h for the contracts.
 *
 * RFC 3501 §5.1.3, in short (modified UTF-7 is RFC 2152 UTF-7 with changes):
 *   - printable US-ASCII 0x20..0x7e represents itself, except "&" (0x26),
 *     which is written "&-"; printable ASCII MUST NOT be base64-encoded;
 *   - any other character is written as "&" + modified BASE64 of its
 *     UTF-16 (big-endian) form + "-", where modified BASE64 is RFC 2045
 *     base64 with "," instead of "/" and without "=" padding;
 *   - the "-" that ends a run is mandatory, and a run always returns to
 *     US-ASCII before the name ends.
 * RFC 2152 fills in the rest: the final bits of a run are padded with zero
 * bits up to a whole base64 character, and characters outside the BMP are
 * UTF-16 surrogate pairs.
 *
 * Both directions append to an imap_buf and roll it back on failure, so no
 * half-converted name is ever visible to the caller.
 */
#include "imap/mail/utf7.h"

#include <stdint.h>

#include "imap/base/codec.h"
#include "imap/base/error.h"

static const char b64_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Value of a modified base64 character, or -1 when c is not one: the
 * RFC 4648 alphabet with "," in place of "/" (RFC 3501 §5.1.3). */
static int b64_value(unsigned char c)
{
	if (c == ',')
		return 63;
	return c == '/' ? -1 : imap_base64_value(c);
}

/* Printable US-ASCII: the bytes that may appear directly in a name. */
static int is_direct(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/*
 * Decode one UTF-8 sequence at s[*i] (with *i < len), advance *i past it
 * and store the code point. Returns 0, or -1 for anything ill-formed.
 * The checks are those of RFC 3629 §4: the lead byte fixes the length, each
 * continuation byte is 10xxxxxx, and the value must need that length
 * (no overlong forms), not be a surrogate, and not exceed U+10FFFF.
 */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	unsigned char c = s[*i];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		*i += 1;
		return 0;
	}
	if (c >= 0xc0 && c <= 0xdf) {
		n = 2;
		v = c & 0x1fu;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0fu;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf7) {
		n = 4;
		v = c & 0x07u;
		min = 0x10000;
	} else {
		return -1; /* continuation byte as lead, or F8..FF */
	}
	if (n > len - *i)
		return -1;
	for (size_t k = 1; k < n; k++) {
		unsigned char cc = s[*i + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		v = (v << 6) | (cc & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	*i += n;
	return 0;
}

/*
 * Length (1..4) of the well-formed UTF-8 sequence at s[0..len), len >= 1,
 * or 0 when there is none; then *bad is the length of the "maximal
 * subpart" (Unicode §3.9, U+FFFD substitution): the longest prefix of a
 * well-formed sequence present, at least 1. Table 3-7 of the standard:
 *   00..7F
 *   C2..DF 80..BF
 *   E0 A0..BF 80..BF | E1..EC 80..BF 80..BF | ED 80..9F 80..BF | EE..EF 80..BF 80..BF
 *   F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3 | F4 80..8F 80..BF 80..BF
 */
size_t imap_utf8_seq(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

int imap_utf8_validate(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		if (p[i] == 0 || utf8_next(p, len, &i, &cp) != 0)
			return IMAP_ERR_INVALID;
	}
	return 0;
}

int imap_utf7_needs_encoding(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++)
		if (!is_direct(p[i]) || p[i] == '&')
			return 1;
	return 0;
}

/*
 * Base64 state of one "&...-" run while encoding: up to 5 bits left over
 * from earlier units wait in `bits` for the next unit.
 */
struct b64_enc {
	uint32_t bits;
	unsigned nbits;
};

static int b64_put_unit(struct b64_enc *e, uint32_t unit, struct imap_buf *out)
{
	e->bits = (e->bits << 16) | unit;
	e->nbits += 16;
	while (e->nbits >= 6) {
		e->nbits -= 6;
		int rc = imap_buf_putc(out, b64_alphabet[(e->bits >> e->nbits) & 0x3f]);
		if (rc)
			return rc;
	}
	e->bits &= (1u << e->nbits) - 1;
	return 0;
}

/* Flush the leftover bits, zero-padded to one base64 character. */
static int b64_finish(struct b64_enc *e, struct imap_buf *out)
{
	if (e->nbits == 0)
		return 0;
	int rc = imap_buf_putc(out, b64_alphabet[(e->bits << (6 - e->nbits)) & 0x3f]);
	e->bits = 0;
	e->nbits = 0;
	return rc;
}

int imap_utf7_encode(const char *utf8, size_t len, struct imap_buf *out)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t start = out->len;
	size_t i = 0;
	int rc = 0;

	while (i < len) {
		if (is_direct(p[i])) {
			rc = p[i] == '&' ? imap_buf_append(out, "&-", 2)
					 : imap_buf_putc(out, (char)p[i]);
			if (rc)
				goto fail;
			i++;
			continue;
		}
		/* One run holds every character up to the next printable ASCII
		 * one, so the output has no adjacent runs. */
		struct b64_enc e = { 0, 0 };
		if ((rc = imap_buf_putc(out, '&')) != 0)
			goto fail;
		while (i < len && !is_direct(p[i])) {
			uint32_t cp;
			if (p[i] == 0 || utf8_next(p, len, &i, &cp) != 0) {
				rc = IMAP_ERR_INVALID;
				goto fail;
			}
			if (cp >= 0x10000) {
				cp -= 0x10000;
				rc = b64_put_unit(&e, 0xd800 | (cp >> 10), out);
				if (!rc)
					rc = b64_put_unit(&e, 0xdc00 | (cp & 0x3ff), out);
			} else {
				rc = b64_put_unit(&e, cp, out);
			}
			if (rc)
				goto fail;
		}
		if ((rc = b64_finish(&e, out)) != 0 ||
		    (rc = imap_buf_putc(out, '-')) != 0)
			goto fail;
	}
	return 0;

fail:
	imap_buf_truncate(out, start);
	return rc;
}

/*
 * Decode the base64 run that starts at p[*i] (just after its "&", which is
 * not followed by "-") up to and including the closing "-", appending UTF-8.
 */
static int decode_run(const unsigned char *p, size_t len, size_t *i,
		      struct imap_buf *out)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	uint32_t high = 0; /* pending high surrogate, 0 when none */

	for (;;) {
		if (*i >= len)
			return IMAP_ERR_INVALID; /* run not closed by "-" */
		unsigned char c = p[(*i)++];
		if (c == '-')
			break;
		int v = b64_value(c);
		if (v < 0)
			return IMAP_ERR_INVALID;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t unit = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;

		uint32_t cp;
		if (high) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return IMAP_ERR_INVALID; /* high not followed by low */
			cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
			continue;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return IMAP_ERR_INVALID; /* low surrogate first */
		} else if (unit == 0) {
			return IMAP_ERR_INVALID;
		} else {
			cp = unit;
		}
		int rc = imap_utf8_put(out, cp);
		if (rc)
			return rc;
	}
	/* A run is whole UTF-16 units plus 0, 2 or 4 zero padding bits; 6 or
	 * more left over means a base64 character that carries no unit (this
	 * also rejects a run with no unit at all, like "&A-"). */
	if (high || nbits >= 6 || bits != 0)
		return IMAP_ERR_INVALID;
	return 0;
}

int imap_utf7_decode(const char *mutf7, size_t len, struct imap_buf *out)
{
	const unsigned char *p = (const unsigned char *)mutf7;
	size_t start = out->len;
	size_t i = 0;
	int rc = 0;

	while (i < len) {
		unsigned char c = p[i++];
		if (!is_direct(c)) {
			rc = IMAP_ERR_INVALID;
			goto fail;
		}
		if (c != '&') {
			rc = imap_buf_putc(out, (char)c);
		} else if (i < len && p[i] == '-') {
			i++; /* "&-" is "&" */
			rc = imap_buf_putc(out, '&');
		} else {
			rc = decode_run(p, len, &i, out);
		}
		if (rc)
			goto fail;
	}
	return 0;

fail:
	imap_buf_truncate(out, start);
	return rc;
}
