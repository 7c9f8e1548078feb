/*
 * tests/fuzz/fuzz_mime_header.c — libFuzzer target for the header decoders:
 * imap/mail/rfc2047, imap/mail/charset and imap/mail/unsubscribe.
 *
 * Each input is used as:
 *   - a header value for imap_rfc2047_decode: rc 0, valid UTF-8, no NUL,
 *     no control character but TAB; when imap_rfc2047_needs_decoding says
 *     0 the output is the input; a buffer with a small max gives the same
 *     text or IMAP_ERR_LIMIT with the buffer rolled back;
 *   - charset + text for imap_charset_to_utf8: the first byte picks a
 *     known charset name (high bit set) or says how many of the next bytes
 *     are the name; the rest is the text. rc 0 and valid UTF-8 without NUL;
 *   - text for imap_utf8_sanitize: same;
 *   - List-Unsubscribe (up to the first NUL) and List-Unsubscribe-Post
 *     (after it) for imap_unsubscribe_parse: rc 0, every string valid
 *     UTF-8, the limits kept, one_click only with an https URI, the
 *     preferred URI one of the parsed ones.
 * Any broken property calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/charset.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/unsubscribe.h"
#include "imap/mail/utf7.h"

#define FUZZ_BUF_MAX ((size_t)1 << 24)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Valid UTF-8 without NUL (imap_utf8_validate rejects NUL). */
static void check_text(const char *s, size_t n)
{
	check(n == 0 || imap_utf8_validate(s, n) == 0);
}

static void check_str(const char *s)
{
	check(s != NULL);
	check_text(s, strlen(s));
}

static const char *const charsets[] = {
	"utf-8", "us-ascii", "iso-8859-1", "iso8859-2", "iso-8859-8-i", "windows-1251",
	"cp1252", "koi8-r", "koi8-u", "ks_c_5601-1987", "euc-kr", "gb2312", "gb18030",
	"big5", "shift_jis", "x-sjis", "euc-jp", "iso-2022-jp", "iso-2022-kr",
	"iso-2022-cn", "unicode-1-1-utf-7", "utf-16", "utf-16le", "utf-32be",
	"ucs-2", "macintosh", "tis-620", "hz-gb-2312", "x-user-defined", "ibm037",
	"utf-8*en", "",
};

static void fuzz_rfc2047(const char *s, size_t n)
{
	struct imap_buf b, t;
	imap_buf_init(&b, FUZZ_BUF_MAX);
	check(imap_rfc2047_decode(s, n, &b) == 0);
	check_text(b.data, b.len);
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];
		check(c >= 0x20 || c == '\t');
		check(c != 0x7f);
		if (c == 0xc2 && i + 1 < b.len)
			check((unsigned char)b.data[i + 1] >= 0xa0);
	}
	if (!imap_rfc2047_needs_decoding(s, n))
		check(b.len == n && (n == 0 || memcmp(b.data, s, n) == 0));

	/* Tight: the same text, or LIMIT with the one prefix byte intact. */
	imap_buf_init(&t, 1 + b.len / 2 + 1);
	check(imap_buf_putc(&t, 'P') == 0);
	int rc = imap_rfc2047_decode(s, n, &t);
	if (rc == 0) {
		check(t.len == 1 + b.len && memcmp(t.data + 1, b.data ? b.data : "", b.len) == 0);
	} else {
		check(rc == IMAP_ERR_LIMIT);
		check(t.len == 1 && t.data[0] == 'P' && t.data[1] == '\0');
	}
	imap_buf_free(&t);
	imap_buf_free(&b);
}

static void fuzz_charset(const uint8_t *data, size_t size)
{
	const char *name;
	size_t name_len, skip;
	if (size == 0)
		return;
	if (data[0] & 0x80) {
		name = charsets[data[0] % (sizeof charsets / sizeof charsets[0])];
		name_len = strlen(name);
		skip = 1;
	} else {
		name_len = data[0] % 32;
		if (name_len > size - 1)
			name_len = size - 1;
		name = (const char *)data + 1;
		skip = 1 + name_len;
	}
	const char *text = (const char *)data + skip;
	size_t n = size - skip;

	struct imap_buf b, t;
	imap_buf_init(&b, FUZZ_BUF_MAX);
	check(imap_charset_to_utf8(name, name_len, text, n, &b) == 0);
	check_text(b.data, b.len);

	imap_buf_init(&t, 1 + b.len / 2 + 1);
	check(imap_buf_putc(&t, 'P') == 0);
	int rc = imap_charset_to_utf8(name, name_len, text, n, &t);
	if (rc == 0) {
		check(t.len == 1 + b.len && memcmp(t.data + 1, b.data ? b.data : "", b.len) == 0);
	} else {
		check(rc == IMAP_ERR_LIMIT);
		check(t.len == 1 && t.data[0] == 'P' && t.data[1] == '\0');
	}
	imap_buf_free(&t);
	imap_buf_free(&b);
}

static void fuzz_sanitize(const char *s, size_t n)
{
	struct imap_buf b;
	imap_buf_init(&b, FUZZ_BUF_MAX);
	check(imap_utf8_sanitize(s, n, &b) == 0);
	check_text(b.data, b.len);
	/* Valid UTF-8 without NUL is copied unchanged. */
	if (imap_utf8_validate(s, n) == 0)
		check(b.len == n && (n == 0 || memcmp(b.data, s, n) == 0));
	imap_buf_free(&b);
}

static void fuzz_unsubscribe(const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t lu_len = nul ? (size_t)(nul - s) : n;
	const char *post = nul ? nul + 1 : NULL;
	size_t post_len = nul ? n - lu_len - 1 : 0;
	struct imap_unsubscribe u;

	check(imap_unsubscribe_parse(s, lu_len, post, post_len, &u) == 0);
	check(u.n_mailto + u.n_http <= IMAP_UNSUB_ENTRIES_MAX);
	bool https = false;
	for (size_t i = 0; i < u.n_http; i++) {
		check_str(u.http[i]);
		check(strncasecmp(u.http[i], "http:", 5) == 0 || strncasecmp(u.http[i], "https:", 6) == 0);
		https |= strncasecmp(u.http[i], "https:", 6) == 0;
	}
	for (size_t i = 0; i < u.n_mailto; i++) {
		const struct imap_unsub_mailto *m = &u.mailto[i];
		check_str(m->address);
		check_str(m->uri);
		check(strncasecmp(m->uri, "mailto:", 7) == 0);
		check(strchr(m->address, '@') != NULL);
		for (const char *p = m->address; *p; p++)
			check((unsigned char)*p > ' ' && *p != 0x7f);
		if (m->subject) {
			check_text(m->subject, strlen(m->subject));
			for (const char *p = m->subject; *p; p++)
				check((unsigned char)*p >= ' ' && *p != 0x7f);
		}
		if (m->body)
			check_text(m->body, strlen(m->body));
	}
	if (u.post)
		check(strcmp(u.post, "List-Unsubscribe=One-Click") == 0);
	check(u.one_click == (u.post != NULL && https));

	const char *pref = imap_unsubscribe_preferred(&u);
	if (u.n_mailto)
		check(pref == u.mailto[0].uri);
	else if (https)
		check(pref != NULL && strncasecmp(pref, "https:", 6) == 0);
	else
		check(pref == NULL);
	imap_unsubscribe_free(&u);
	check(u.n_mailto == 0 && u.n_http == 0 && !u.mailto && !u.http && !u.post);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	fuzz_rfc2047(s, size);
	fuzz_charset(data, size);
	fuzz_sanitize(s, size);
	fuzz_unsubscribe(s, size);
	return 0;
}
