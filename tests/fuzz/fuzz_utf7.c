/*
 * tests/fuzz/fuzz_utf7.c — libFuzzer target for imap/mail/utf7.
 *
 * Each input is used twice:
 *   - as a modified UTF-7 name from a server: decoding must not crash; when
 *     it succeeds the result is valid UTF-8 and encodes to something that
 *     decodes back to the same UTF-8 (the encoder's output is canonical, so
 *     encoding that again is byte-identical);
 *   - as a UTF-8 name from an HTTP client: when it is valid,
 *     decode(encode(x)) == x.
 * Failures (and LIMIT) must leave the output buffer at its length on entry,
 * and a smaller buffer maximum may only turn a result into IMAP_ERR_LIMIT.
 * Any broken property calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/utf7.h"

/* Bounds memory: far above what libFuzzer's input sizes need (encoding
 * grows a name at most about 5x), so LIMIT here would be a bug. */
#define FUZZ_BUF_MAX ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static const char *bytes(const struct imap_buf *b)
{
	return b->data ? b->data : "";
}

static int same(const struct imap_buf *b, const char *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

typedef int (*codec_fn)(const char *, size_t, struct imap_buf *);

/* Run fn again into a buffer that already holds one byte and may hold only
 * about half the full result: the outcome must be the full one or LIMIT,
 * and a failure must leave the one byte alone. */
static void check_tight(codec_fn fn, const char *in, size_t n, int full_rc,
			const struct imap_buf *full)
{
	struct imap_buf b;
	imap_buf_init(&b, 1 + full->len / 2 + 1);
	check(imap_buf_putc(&b, 'P') == 0);
	int rc = fn(in, n, &b);
	if (rc == 0) {
		check(full_rc == 0);
		check(b.len == 1 + full->len);
		check(full->len == 0 || memcmp(b.data + 1, full->data, full->len) == 0);
	} else {
		check(rc == full_rc || rc == IMAP_ERR_LIMIT);
		check(b.len == 1 && b.data[0] == 'P' && b.data[1] == '\0');
	}
	imap_buf_free(&b);
}

static void fuzz_decode(const char *s, size_t size)
{
	struct imap_buf dec, enc, dec2, enc2;
	imap_buf_init(&dec, FUZZ_BUF_MAX);
	imap_buf_init(&enc, FUZZ_BUF_MAX);
	imap_buf_init(&dec2, FUZZ_BUF_MAX);
	imap_buf_init(&enc2, FUZZ_BUF_MAX);

	int rc = imap_utf7_decode(s, size, &dec);
	check(rc == 0 || rc == IMAP_ERR_INVALID);
	check_tight(imap_utf7_decode, s, size, rc, &dec);
	if (rc != 0) {
		check(dec.len == 0);
		goto out;
	}
	check(imap_utf8_validate(bytes(&dec), dec.len) == 0);

	check(imap_utf7_encode(bytes(&dec), dec.len, &enc) == 0);
	for (size_t i = 0; i < enc.len; i++)
		check(enc.data[i] >= 0x20 && enc.data[i] <= 0x7e);
	check(imap_utf7_decode(bytes(&enc), enc.len, &dec2) == 0);
	check(same(&dec2, bytes(&dec), dec.len));
	check(imap_utf7_encode(bytes(&dec2), dec2.len, &enc2) == 0);
	check(same(&enc2, bytes(&enc), enc.len));
	/* A name that needs no encoding is its own encoding. */
	if (!imap_utf7_needs_encoding(bytes(&dec), dec.len))
		check(same(&enc, bytes(&dec), dec.len));
out:
	imap_buf_free(&dec);
	imap_buf_free(&enc);
	imap_buf_free(&dec2);
	imap_buf_free(&enc2);
}

static void fuzz_encode(const char *s, size_t size)
{
	struct imap_buf enc, dec;
	imap_buf_init(&enc, FUZZ_BUF_MAX);
	imap_buf_init(&dec, FUZZ_BUF_MAX);

	int valid = imap_utf8_validate(s, size);
	check(valid == 0 || valid == IMAP_ERR_INVALID);
	int rc = imap_utf7_encode(s, size, &enc);
	check(rc == valid); /* encode accepts exactly what validate accepts */
	check_tight(imap_utf7_encode, s, size, rc, &enc);
	if (rc != 0) {
		check(enc.len == 0);
		check(imap_utf7_needs_encoding(s, size) == 1);
		goto out;
	}
	check(imap_utf7_needs_encoding(s, size) == !same(&enc, s, size));
	check(imap_utf7_decode(bytes(&enc), enc.len, &dec) == 0);
	check(same(&dec, s, size));
out:
	imap_buf_free(&enc);
	imap_buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	fuzz_decode(s, size);
	fuzz_encode(s, size);
	return 0;
}
