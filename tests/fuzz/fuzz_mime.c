/*
 * tests/fuzz/fuzz_mime.c — libFuzzer target for imap/mail/cte and imap/mail/mime.
 *
 * The first input byte picks split points (a seed for chunk sizes); the
 * rest is the payload, used as:
 *   - encoded text for each transfer encoding: fed in chunks of varying
 *     sizes, and one byte at a time, the decoder gives exactly what the
 *     one-shot decoder gives; base64 output is at most 3/4 of the input,
 *     quoted-printable output at most the input, identity output is the
 *     input; a callback error stops the decoder and sticks;
 *   - a raw header block: every field has a lower-case name of printable
 *     ASCII without ":" and a trimmed value of valid UTF-8 without control
 *     characters but TAB; imap_mime_header_read finds the same fields; a
 *     field limit below the count gives IMAP_ERR_LIMIT and no callback;
 *   - a file name for imap_mime_content_disposition: printable US-ASCII
 *     only (no CR, LF, NUL), starting with the disposition type, and the
 *     quoted fallback holds no quote or backslash;
 *   - body text for imap_mime_text_to_utf8 under a charset picked by the
 *     seed: valid UTF-8 without NUL; truncating it at any length keeps it
 *     valid.
 * Any broken property calls abort().
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/cte.h"
#include "imap/mail/mime.h"
#include "imap/mail/utf7.h"

#define FUZZ_BUF_MAX ((size_t)1 << 24)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static bool same(const struct imap_buf *a, const struct imap_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static int to_buf(void *ctx, const char *p, size_t n)
{
	check(n > 0);
	return imap_buf_append(ctx, p, n);
}

static int refuse(void *ctx, const char *p, size_t n)
{
	(void)p;
	(void)n;
	(*(int *)ctx)++;
	return -77;
}

/* Decode s[0..n) in chunks whose sizes come from `seed` (step 0: random
 * sizes; else that fixed size). */
static void chunked(enum imap_cte cte, const char *s, size_t n, uint32_t seed, size_t step,
		    struct imap_buf *out)
{
	struct imap_cte_decoder d;
	imap_cte_init(&d, cte, to_buf, out);
	size_t pos = 0;
	while (pos < n) {
		seed = seed * 1103515245u + 12345u;
		size_t k = step ? step : 1 + (seed >> 16) % 97;
		if (k > n - pos)
			k = n - pos;
		check(imap_cte_feed(&d, s + pos, k) == 0);
		pos += k;
	}
	check(imap_cte_finish(&d) == 0);
}

static void fuzz_cte(enum imap_cte cte, const char *s, size_t n, uint32_t seed)
{
	struct imap_buf whole, part;
	imap_buf_init(&whole, FUZZ_BUF_MAX);
	check(imap_cte_decode(cte, s, n, &whole) == 0);
	if (cte == IMAP_CTE_BASE64)
		check(whole.len <= n / 4 * 3 + 2);
	else if (cte == IMAP_CTE_QP)
		check(whole.len <= n);
	else
		check(whole.len == n && (n == 0 || memcmp(whole.data, s, n) == 0));

	imap_buf_init(&part, FUZZ_BUF_MAX);
	chunked(cte, s, n, seed, 0, &part);
	check(same(&whole, &part));
	imap_buf_free(&part);
	imap_buf_init(&part, FUZZ_BUF_MAX);
	chunked(cte, s, n, seed, 1, &part);
	check(same(&whole, &part));
	imap_buf_free(&part);

	/* Split in two at a point chosen by the seed. */
	size_t cut = n ? seed % (n + 1) : 0;
	struct imap_cte_decoder d;
	imap_buf_init(&part, FUZZ_BUF_MAX);
	imap_cte_init(&d, cte, to_buf, &part);
	check(imap_cte_feed(&d, s, cut) == 0);
	check(imap_cte_feed(&d, s + cut, n - cut) == 0);
	check(imap_cte_finish(&d) == 0);
	check(same(&whole, &part));
	imap_buf_free(&part);

	/* A refusing callback: called once at most, its error sticks. */
	int calls = 0;
	imap_cte_init(&d, cte, refuse, &calls);
	int rc = imap_cte_feed(&d, s, n);
	check(rc == 0 || rc == -77);
	rc = imap_cte_finish(&d);
	check(rc == (whole.len ? -77 : 0));
	check(calls == (whole.len ? 1 : 0));
	check(imap_cte_feed(&d, s, n) == rc);

	imap_buf_free(&whole);
}

struct fields {
	size_t n;
	struct imap_mime_header *h; /* compared against, when set */
};

static int check_field(void *ctx, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	struct fields *f = ctx;
	check(name_len > 0 && strlen(name) == name_len);
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)name[i];
		check(c > ' ' && c < 0x7f && c != ':' && !(c >= 'A' && c <= 'Z'));
	}
	check(strlen(value) == value_len);
	check(value_len == 0 || imap_utf8_validate(value, value_len) == 0);
	for (size_t i = 0; i < value_len; i++) {
		unsigned char c = (unsigned char)value[i];
		check((c >= 0x20 && c != 0x7f) || c == '\t');
	}
	if (value_len)
		check(value[0] != ' ' && value[0] != '\t' && value[value_len - 1] != ' ' &&
		      value[value_len - 1] != '\t');
	if (f->h) {
		check(f->n < f->h->n);
		check(strcmp(f->h->v[f->n].name, name) == 0);
		check(strcmp(f->h->v[f->n].value, value) == 0);
	}
	f->n++;
	return 0;
}

static void fuzz_header(const char *s, size_t n)
{
	struct imap_mime_header h;
	int rc = imap_mime_header_read(s, n, NULL, &h);
	check(rc == 0 || rc == IMAP_ERR_LIMIT);
	if (rc) {
		check(h.n == 0 && h.v == NULL);
		return;
	}
	struct fields f = { .n = 0, .h = &h };
	check(imap_mime_header_parse(s, n, NULL, check_field, &f) == 0);
	check(f.n == h.n);
	if (h.n > 0) {
		struct imap_mime_header_limits lim = { .fields_max = h.n - 1,
						       .bytes_max = IMAP_MIME_HEADER_BYTES_MAX };
		struct fields none = { 0 };
		check(imap_mime_header_parse(s, n, &lim, check_field, &none) == IMAP_ERR_LIMIT);
		check(none.n == 0);
	}
	imap_mime_header_free(&h);
}

static void fuzz_disposition(const char *s, size_t n, bool as_inline)
{
	struct imap_buf b;
	imap_buf_init(&b, FUZZ_BUF_MAX);
	check(imap_mime_content_disposition(s, n, as_inline, &b) == 0);
	const char *type = as_inline ? "inline" : "attachment";
	check(b.len >= strlen(type) && memcmp(b.data, type, strlen(type)) == 0);
	for (size_t i = 0; i < b.len; i++)
		check((unsigned char)b.data[i] >= 0x20 && (unsigned char)b.data[i] < 0x7f);
	if (b.len > strlen(type)) {
		const char *q = b.data + strlen(type);
		check(strncmp(q, "; filename=\"", 12) == 0);
		const char *e = strstr(q + 12, "\"; filename*=UTF-8''");
		check(e != NULL);
		for (const char *p = q + 12; p < e; p++)
			check(*p != '"' && *p != '\\');
		/* filename* is attr-char and %XX only. */
		for (const char *p = e + 20; *p; p++)
			check(strchr("!#$&+-.^_`|~%", *p) || (*p >= '0' && *p <= '9') ||
			      (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'));
	} else {
		check(b.len == strlen(type));
	}
	imap_buf_free(&b);
}

static const char *const charsets[] = {
	NULL, "utf-8", "us-ascii", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis",
	"iso-2022-jp", "utf-16", "utf-16le", "x-foo", "",
};

static void fuzz_text(const char *s, size_t n, uint32_t seed)
{
	const char *cs = charsets[seed % (sizeof charsets / sizeof charsets[0])];
	struct imap_buf b;
	imap_buf_init(&b, FUZZ_BUF_MAX);
	check(imap_mime_text_to_utf8(cs, cs ? strlen(cs) : 0, s, n, &b) == 0);
	check(b.len == 0 || imap_utf8_validate(b.data, b.len) == 0);
	for (size_t max = 0; max < b.len; max += 1 + max / 4) {
		bool cut;
		size_t k = imap_mime_utf8_truncate(b.data, b.len, max, &cut);
		check(k <= max && k + 3 >= max && cut);
		check(k == 0 || imap_utf8_validate(b.data, k) == 0);
	}
	bool cut = true;
	check(imap_mime_utf8_truncate(b.data, b.len, b.len, &cut) == b.len && !cut);
	imap_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint32_t seed = data[0];
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	fuzz_cte(IMAP_CTE_BASE64, s, n, seed);
	fuzz_cte(IMAP_CTE_QP, s, n, seed);
	fuzz_cte(IMAP_CTE_IDENTITY, s, n, seed);
	fuzz_header(s, n);
	fuzz_disposition(s, n, seed & 1);
	fuzz_text(s, n, seed);
	return 0;
}
