/*
 * imap/mail/sortkey.c — the SORT (SUBJECT) key. See sortkey.h.
 *
 * The Unicode tables (titlecase, decomposition) are libunistring's.
 */
#include "imap/mail/sortkey.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include "imap/base/buf.h"
#include "imap/base/codec.h"
#include "imap/base/error.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/thread.h"

/* A charset name longer than this is unknown (no iconv name is near it). */
#define LABEL_MAX 64
/* Decomposition depth: Unicode needs 4 at most. */
#define DECOMP_DEPTH 8

static const char replacement[3] = {'\xef', '\xbf', '\xbd'};

/* Append U+FFFD unless out already ends with one: a run of bad bytes, and
 * bad runs only split by what decodes to nothing, give one. */
static int put_replacement(struct imap_buf *out)
{
	if (out->len >= 3 && memcmp(out->data + out->len - 3, replacement, 3) == 0)
		return 0;
	return imap_buf_append(out, replacement, 3);
}

static int put_decomposed(struct imap_buf *out, ucs4_t c, int depth)
{
	ucs4_t d[UC_DECOMPOSITION_MAX_LENGTH];
	int tag, n = depth < DECOMP_DEPTH ? uc_decomposition(c, &tag, d) : -1;
	if (n <= 0)
		return imap_utf8_put(out, c);
	for (int i = 0; i < n; i++) {
		int rc = put_decomposed(out, d[i], depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

/* Append s[0..n), UTF-8 with bad runs made U+FFFD, case-mapped when fold. */
static int put_utf8(struct imap_buf *out, const char *s, size_t n, bool fold)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;
	while (i < n) {
		ucs4_t c;
		int k = u8_mbtoucr(&c, p + i, n - i);
		int rc;
		if (k <= 0 || c == 0) {
			rc = put_replacement(out);
			i++;
		} else {
			rc = fold ? put_decomposed(out, uc_totitle(c), 0)
			          : imap_buf_append(out, s + i, (size_t)k);
			i += (size_t)k;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int on_text(void *ctx, const char *s, size_t n)
{
	return put_utf8(ctx, s, n, true);
}

/* bytes in charset `name` (known to iconv as cd) -> casemapped UTF-8 */
static int put_converted(struct imap_buf *out, iconv_t cd, const char *s, size_t n)
{
	struct imap_buf u;
	imap_buf_init(&u, 0);
	char *in = (char *)(uintptr_t)s, chunk[1024];
	size_t left = n;
	int rc = 0;
	while (!rc && left > 0) {
		char *o = chunk;
		size_t room = sizeof chunk;
		size_t r = iconv(cd, &in, &left, &o, &room);
		int e = errno;
		if ((rc = imap_buf_append(&u, chunk, sizeof chunk - room)) != 0)
			break;
		if (r != (size_t)-1 || e == E2BIG)
			continue;
		/* EILSEQ, or EINVAL (cut short at the end): skip a byte */
		if ((rc = put_replacement(&u)) != 0)
			break;
		in++;
		left--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	if (!rc) {
		char *o = chunk;
		size_t room = sizeof chunk;
		iconv(cd, NULL, NULL, &o, &room); /* a stateful charset's reset */
		rc = imap_buf_append(&u, chunk, sizeof chunk - room);
	}
	if (!rc)
		rc = put_utf8(out, u.data ? u.data : "", u.len, true);
	imap_buf_free(&u);
	return rc;
}

static bool is_utf8_label(const char *name)
{
	return strcasecmp(name, "utf-8") == 0 || strcasecmp(name, "utf8") == 0 ||
	       strcasecmp(name, "us-ascii") == 0 || strcasecmp(name, "ascii") == 0;
}

static int on_words(void *ctx, const char *cs, size_t cs_len, const char *s, size_t n)
{
	char name[LABEL_MAX + 1];
	if (cs_len == 0 || cs_len > LABEL_MAX || memchr(cs, '\0', cs_len))
		return put_utf8(ctx, s, n, false);
	memcpy(name, cs, cs_len);
	name[cs_len] = '\0';
	if (is_utf8_label(name))
		return put_utf8(ctx, s, n, true);
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return errno == EINVAL ? put_utf8(ctx, s, n, false) : IMAP_ERR_NOMEM;
	int rc = put_converted(ctx, cd, s, n);
	iconv_close(cd);
	return rc;
}

char *imap_subject_sort_key(const char *raw, size_t len)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	const struct imap_rfc2047_sink sink = {.text = on_text, .words = on_words, .ctx = &b};
	if (imap_rfc2047_walk(raw, raw ? len : 0, &sink) != 0) {
		imap_buf_free(&b);
		return NULL;
	}
	char *key = imap_base_subject(b.data ? b.data : "", NULL);
	imap_buf_free(&b);
	return key;
}
