/*
 * imap/mail/rfc2047.c — header values for display. See rfc2047.h.
 *
 * RFC 2047 §2:
 *   encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
 *   charset      = token    ; RFC 2231 §5 adds an optional "*" language
 *   encoding     = token    ; "B" or "Q", case-insensitive
 *   encoded-text = 1*<any printable ASCII except "?" and SPACE>
 *
 * The value is first unfolded into a scratch copy (raw control bytes become
 * spaces there, except ESC, which ISO-2022-JP needs), then scanned once.
 * Every "=?" is tried as the start of an encoded word; each scan stops at
 * the next "?", so the work stays linear however many false starts the
 * input holds. Decoded bytes of adjacent words in one charset collect in
 * `pend` and are converted together when the run ends.
 */
#include "imap/mail/rfc2047.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "imap/base/codec.h"
#include "imap/base/error.h"
#include "imap/mail/charset.h"

/* Longest charset name (with "*lang") accepted in an encoded word. */
#define RFC2047_CHARSET_MAX 64

struct word {
	const char *cs; /* charset, with any "*lang" */
	size_t cs_len;
	char enc; /* 'b' or 'q' */
	const char *text;
	size_t text_len;
	size_t len; /* of the whole word, "=?" to "?=" */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* Unfold in[0..len) into text; see the header for the rules. Other
 * control bytes become spaces here, except ESC (kept for ISO-2022-JP; the
 * final pass replaces any that survive). */
static int unfold(const char *in, size_t len, struct imap_buf *text)
{
	int rc = imap_buf_reserve(text, len);
	if (rc)
		return rc;
	char *d = text->data;
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\r' || c == '\n') {
			size_t j = i + 1;
			if (c == '\r' && j < len && in[j] == '\n')
				j++;
			/* Removed before a blank (a fold), before another line break
			 * and at the end; otherwise the lines are joined by a space. */
			if (j < len && !is_blank(in[j]) && in[j] != '\r' && in[j] != '\n')
				d[w++] = ' ';
			i = j - 1;
		} else if (is_ctl((unsigned char)c) && c != '\x1b') {
			d[w++] = ' ';
		} else {
			d[w++] = c;
		}
	}
	text->len = w;
	d[w] = '\0';
	return 0;
}

/* s[0..n) starts with "=?". Fill *w when an encoded word starts there. */
static bool parse_word(const char *s, size_t n, struct word *w)
{
	size_t i = 2;

	while (i < n && s[i] != '?') {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || i - 2 >= RFC2047_CHARSET_MAX)
			return false;
		i++;
	}
	if (i == 2 || i + 2 >= n)
		return false;
	w->cs = s + 2;
	w->cs_len = i - 2;
	char e = s[i + 1];
	if (e == 'B' || e == 'b')
		w->enc = 'b';
	else if (e == 'Q' || e == 'q')
		w->enc = 'q';
	else
		return false;
	if (s[i + 2] != '?')
		return false;
	i += 3;
	size_t t = i;
	/* Lenient: blanks and 8-bit bytes are allowed in the text. */
	while (i < n && s[i] != '?')
		i++;
	if (i + 1 >= n || s[i + 1] != '=')
		return false;
	w->text = s + t;
	w->text_len = i - t;
	w->len = i + 2;
	return true;
}

/* Base64 (RFC 2045 §6.8), tolerating blanks and missing padding. Returns 0,
 * 1 when the text is not base64 (out unchanged), or a buffer error. */
static int decode_b(const char *t, size_t n, struct imap_buf *out)
{
	int rc = imap_base64_decode(t, n, IMAP_BASE64_LENIENT, out);
	return rc == IMAP_ERR_INVALID ? 1 : rc;
}

/* The "Q" encoding (RFC 2047 §4.2). Never malformed: a "=" that does not
 * start "=XX" stands for itself. */
static int decode_q(const char *t, size_t n, struct imap_buf *out)
{
	int rc = imap_buf_reserve(out, n);
	if (rc)
		return rc;
	char *d = out->data + out->len;
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < n) {
			int octet = imap_hex_octet(t + i + 1);
			if (octet >= 0) {
				c = (char)octet;
				i += 2;
			}
		}
		d[w++] = c;
	}
	out->len += w;
	out->data[out->len] = '\0';
	return 0;
}

/* Charset names equal up to any "*lang", ignoring case. */
static bool same_charset(const char *a, size_t an, const char *b, size_t bn)
{
	const char *star = memchr(a, '*', an);
	if (star)
		an = (size_t)(star - a);
	star = memchr(b, '*', bn);
	if (star)
		bn = (size_t)(star - b);
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static bool only_blanks(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_blank(s[i]))
			return false;
	return true;
}

/* Text outside encoded words: raw ISO-2022-JP when it has that encoding's
 * escape sequences (ESC "$" designates JIS X 0208), else sanitized. */
static int emit_literal(void *ctx, const char *s, size_t n)
{
	struct imap_buf *out = ctx;
	if (n == 0)
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '\x1b' && s[i + 1] == '$')
			return imap_charset_to_utf8("ISO-2022-JP", 11, s, n, out);
	return imap_utf8_sanitize(s, n, out);
}

static int emit_words(void *ctx, const char *cs, size_t cs_len, const char *s, size_t n)
{
	return imap_charset_to_utf8(cs, cs_len, s, n, ctx);
}

/* Hand the pending bytes of a run of encoded words to the sink, empty it. */
static int flush(struct imap_buf *pend, const char *cs, size_t cs_len,
		 const struct imap_rfc2047_sink *sink)
{
	if (pend->len == 0)
		return 0;
	int rc = sink->words(sink->ctx, cs, cs_len, pend->data, pend->len);
	imap_buf_reset(pend, 4096);
	return rc;
}

/* Replace control characters in out[from..) with spaces: C0 but TAB, DEL,
 * and U+0080..U+009F (C2 80..C2 9F; the region is valid UTF-8, so C2 is
 * always a lead byte). */
static void clean_controls(struct imap_buf *out, size_t from)
{
	unsigned char *d = (unsigned char *)out->data;
	size_t w = from, r = from;

	if (!d)
		return;
	while (r < out->len) {
		unsigned char c = d[r];
		if (is_ctl(c)) {
			d[w++] = ' ';
			r++;
		} else if (c == 0xc2 && r + 1 < out->len && d[r + 1] >= 0x80 && d[r + 1] <= 0x9f) {
			d[w++] = ' ';
			r += 2;
		} else {
			d[w++] = d[r++];
		}
	}
	out->len = w;
	d[w] = '\0';
}

int imap_rfc2047_walk(const char *in, size_t len, const struct imap_rfc2047_sink *sink)
{
	struct imap_buf text, pend, word;
	const char *pend_cs = NULL;
	size_t pend_cs_len = 0;
	bool have_word = false; /* an encoded word ends at `lit` */
	size_t lit = 0, i = 0;
	int rc;

	if (len == 0)
		return 0;
	imap_buf_init(&text, 0);
	imap_buf_init(&pend, 0);
	imap_buf_init(&word, 0);
	if ((rc = unfold(in, len, &text)) != 0)
		goto done;

	const char *s = text.data;
	size_t n = text.len;
	while (i + 1 < n) {
		struct word w;
		if (s[i] != '=' || s[i + 1] != '?' || !parse_word(s + i, n - i, &w)) {
			i++;
			continue;
		}
		imap_buf_reset(&word, 4096);
		rc = w.enc == 'b' ? decode_b(w.text, w.text_len, &word)
				  : decode_q(w.text, w.text_len, &word);
		if (rc < 0)
			goto done;
		if (rc > 0) { /* not base64: the word stays literal text */
			i++;
			continue;
		}
		bool adjacent = have_word && only_blanks(s + lit, i - lit);
		if (!adjacent || !same_charset(pend_cs, pend_cs_len, w.cs, w.cs_len)) {
			if ((rc = flush(&pend, pend_cs, pend_cs_len, sink)) != 0)
				goto done;
			if (!adjacent && i > lit &&
			    (rc = sink->text(sink->ctx, s + lit, i - lit)) != 0)
				goto done;
			pend_cs = w.cs;
			pend_cs_len = w.cs_len;
		}
		if (word.len && (rc = imap_buf_append(&pend, word.data, word.len)) != 0)
			goto done;
		have_word = true;
		i += w.len;
		lit = i;
	}
	if ((rc = flush(&pend, pend_cs, pend_cs_len, sink)) != 0)
		goto done;
	if (n > lit)
		rc = sink->text(sink->ctx, s + lit, n - lit);
done:
	imap_buf_free(&text);
	imap_buf_free(&pend);
	imap_buf_free(&word);
	return rc;
}

int imap_rfc2047_decode(const char *in, size_t len, struct imap_buf *out)
{
	size_t start = out->len;
	const struct imap_rfc2047_sink sink = {.text = emit_literal, .words = emit_words, .ctx = out};
	int rc = imap_rfc2047_walk(in, len, &sink);
	if (rc)
		imap_buf_truncate(out, start);
	else
		clean_controls(out, start);
	return rc;
}

int imap_rfc2047_needs_decoding(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x80 || is_ctl(p[i]))
			return 1;
		if (p[i] == '=' && i + 1 < len && p[i + 1] == '?')
			return 1;
	}
	return 0;
}
