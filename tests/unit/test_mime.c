/*
 * tests/unit/test_mime.c — transfer decoders (imap/mail/cte.h), body text to
 * UTF-8, header blocks and Content-Disposition (imap/mail/mime.h).
 *
 * Every decoder case is run whole, one byte at a time, split at every
 * position and in random chunk sizes, and must give the same exact bytes
 * each time. The corpus tests decode parts of Apache mime4j's test
 * messages and compare them with mime4j's own decoded files, and compare
 * header blocks with mime4j's field lists (../shared/corpus/eml,
 * third-party material, never edited; skipped when absent).
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/cte.h"
#include "imap/mail/mime.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/utf7.h"
#include "tests/support/corpus.h"

/* A literal and its size (literals here may contain NUL). */
#define L(s) (s), (sizeof(s) - 1)
#define FFFD "\xef\xbf\xbd"

/* ---- helpers ---- */

struct sink {
	struct imap_buf b;
	size_t calls;
	size_t max_chunk;
	size_t fail_after; /* fail the call that would pass this many bytes; 0: never */
};

static int sink_out(void *ctx, const char *data, size_t len)
{
	struct sink *s = ctx;
	cr_assert_gt(len, 0, "callback with an empty chunk");
	if (s->fail_after && s->b.len + len > s->fail_after)
		return -42;
	s->calls++;
	if (len > s->max_chunk)
		s->max_chunk = len;
	cr_assert_eq(imap_buf_append(&s->b, data, len), 0);
	return 0;
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof *s);
	imap_buf_init(&s->b, 0);
}

/* Small deterministic generator, so failures can be replayed. */
static uint32_t rnd(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Decode in[0..len) fed in chunks of `step` bytes (0: random sizes of
 * 1..17 drawn from seed); appends to s. */
static void feed_chunks(enum imap_cte cte, const char *in, size_t len, size_t step,
			uint32_t seed, struct sink *s)
{
	struct imap_cte_decoder d;
	imap_cte_init(&d, cte, sink_out, s);
	size_t pos = 0;
	while (pos < len) {
		size_t n = step ? step : 1 + rnd(&seed) % 17;
		if (n > len - pos)
			n = len - pos;
		cr_assert_eq(imap_cte_feed(&d, in + pos, n), 0);
		pos += n;
	}
	cr_assert_eq(imap_cte_finish(&d), 0);
	cr_assert_leq(s->max_chunk, IMAP_CTE_OUT_CHUNK > len ? IMAP_CTE_OUT_CHUNK : len);
}

static void assert_bytes(const struct imap_buf *b, const char *want, size_t want_len,
			 const char *what)
{
	cr_assert_eq(b->len, want_len, "%s: got %zu bytes \"%.*s\", want %zu \"%.*s\"", what,
		     b->len, (int)b->len, b->data ? b->data : "", want_len, (int)want_len, want);
	cr_assert(want_len == 0 || memcmp(b->data, want, want_len) == 0,
		  "%s: got \"%.*s\", want \"%.*s\"", what, (int)b->len, b->data, (int)want_len,
		  want);
}

/* The one-shot decoder, whole feeding, byte at a time, every split in two
 * (for short inputs) and random chunk sizes must all give want. */
static void check_decode(enum imap_cte cte, const char *in, size_t len, const char *want,
			 size_t want_len)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_cte_decode(cte, in, len, &b), 0);
	assert_bytes(&b, want, want_len, "one shot");
	imap_buf_free(&b);

	size_t steps[] = { len ? len : 1, 1, 2, 3, 5 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct sink s;
		sink_init(&s);
		feed_chunks(cte, in, len, steps[i], 0, &s);
		assert_bytes(&s.b, want, want_len, "fixed chunks");
		imap_buf_free(&s.b);
	}
	for (uint32_t seed = 1; seed <= 8; seed++) {
		struct sink s;
		sink_init(&s);
		feed_chunks(cte, in, len, 0, seed, &s);
		assert_bytes(&s.b, want, want_len, "random chunks");
		imap_buf_free(&s.b);
	}
	if (len > 300)
		return;
	for (size_t cut = 0; cut <= len; cut++) {
		struct sink s;
		struct imap_cte_decoder d;
		sink_init(&s);
		imap_cte_init(&d, cte, sink_out, &s);
		cr_assert_eq(imap_cte_feed(&d, in, cut), 0);
		cr_assert_eq(imap_cte_feed(&d, in + cut, len - cut), 0);
		cr_assert_eq(imap_cte_finish(&d), 0);
		assert_bytes(&s.b, want, want_len, "split in two");
		imap_buf_free(&s.b);
	}
}

#define B64(in, want) check_decode(IMAP_CTE_BASE64, L(in), L(want))
#define QP(in, want) check_decode(IMAP_CTE_QP, L(in), L(want))

static void slurp(const char *path, struct imap_buf *out)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	char chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		cr_assert_eq(imap_buf_append(out, chunk, got), 0);
	fclose(f);
}

static const char *memfind(const char *hay, size_t n, const char *needle, size_t m)
{
	return m <= n ? memmem(hay, n, needle, m) : NULL;
}

/* ---- Content-Transfer-Encoding names ---- */

Test(mime, cte_parse)
{
	cr_assert_eq(imap_cte_parse(L("base64")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("BASE64")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("  Base64 \t")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("\"base64\"")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("base64;")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("base64 (sent by X)")), IMAP_CTE_BASE64);
	cr_assert_eq(imap_cte_parse(L("quoted-printable")), IMAP_CTE_QP);
	cr_assert_eq(imap_cte_parse(L("Quoted-Printable")), IMAP_CTE_QP);
	cr_assert_eq(imap_cte_parse(L(" QUOTED-PRINTABLE\r\n")), IMAP_CTE_QP);
	cr_assert_eq(imap_cte_parse(L("7bit")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("8bit")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("7-bit")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("8-Bit")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("binary")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("x-uuencode")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(NULL, 0), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("base6")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("base64x")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("base64 junk")), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse(L("quoted-printable-ish")), IMAP_CTE_IDENTITY);
	/* Only the first len bytes count. */
	cr_assert_eq(imap_cte_parse("base64", 4), IMAP_CTE_IDENTITY);
	cr_assert_eq(imap_cte_parse("base64garbage", 6), IMAP_CTE_BASE64);
}

/* ---- base64 ---- */

Test(mime, base64_rfc4648_vectors)
{
	B64("", "");
	B64("Zg==", "f");
	B64("Zm8=", "fo");
	B64("Zm9v", "foo");
	B64("Zm9vYg==", "foob");
	B64("Zm9vYmE=", "fooba");
	B64("Zm9vYmFy", "foobar");
}

Test(mime, base64_line_breaks_blanks_and_garbage_are_skipped)
{
	B64("Zm9v\r\nYmFy\r\n", "foobar");
	B64("Zm9v\nYmFy\n", "foobar");
	B64(" Z m 9 v\tY m F y ", "foobar");
	B64("Zm9v!*Ym@Fy\x00\xff\x80-_.", "foobar");
	B64("\r\n\r\nZm9vYmFy\r\n\r\n", "foobar");
}

Test(mime, base64_padding_in_the_middle_of_the_stream)
{
	B64("Zm8=Zm9v", "fofoo");
	B64("Zg==Zg==", "ff");
	B64("Zm8=\r\nYmFy", "fobar");
	B64("Zg===", "f");
	B64("Zg= =Zg", "ff");
	B64("=Zm9v", "foo");
	B64("====", "");
	/* Two encoded files glued together, as some mailers do. */
	B64("SGVsbG8=\r\nV29ybGQ=\r\n", "HelloWorld");
}

Test(mime, base64_truncated_final_quantum)
{
	B64("Zm9vYg", "foob");
	B64("Zm9vYmE", "fooba");
	B64("Zg", "f");
	B64("Zg=", "f");
	/* One sextet holds no whole byte. */
	B64("Zm9vY", "foo");
	B64("Z", "");
	B64("Z=Zm9v", "foo");
}

Test(mime, base64_all_byte_values)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[3 * 256];
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)(i * 7 + i / 256);
	struct imap_buf enc;
	imap_buf_init(&enc, 0);
	for (size_t i = 0; i < sizeof raw; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
		for (int k = 3; k >= 0; k--)
			cr_assert_eq(imap_buf_putc(&enc, alphabet[(v >> (6 * k)) & 63]), 0);
		if (i % 57 == 54)
			cr_assert_eq(imap_buf_append(&enc, "\r\n", 2), 0); /* 76 columns */
	}
	check_decode(IMAP_CTE_BASE64, enc.data, enc.len, (const char *)raw, sizeof raw);
	imap_buf_free(&enc);
}

Test(mime, output_is_batched)
{
	/* 30000 bytes of "AAA" (QUFB) in 76-column lines. */
	struct imap_buf enc;
	imap_buf_init(&enc, 0);
	for (int i = 0; i < 10000; i++) {
		cr_assert_eq(imap_buf_append(&enc, "QUFB", 4), 0);
		if (i % 19 == 18)
			cr_assert_eq(imap_buf_append(&enc, "\r\n", 2), 0);
	}
	struct sink s;
	sink_init(&s);
	feed_chunks(IMAP_CTE_BASE64, enc.data, enc.len, 1, 0, &s);
	cr_assert_eq(s.b.len, 30000);
	cr_assert_eq(s.max_chunk, IMAP_CTE_OUT_CHUNK);
	cr_assert_eq(s.calls, (30000 + IMAP_CTE_OUT_CHUNK - 1) / IMAP_CTE_OUT_CHUNK);
	for (size_t i = 0; i < s.b.len; i++)
		cr_assert_eq(s.b.data[i], 'A');
	imap_buf_free(&s.b);
	imap_buf_free(&enc);
}

/* ---- quoted-printable ---- */

Test(mime, qp_rfc2045_examples)
{
	/* RFC 2045 §6.7, the soft line break example. */
	QP("Now's the time =\r\nfor all folk to come=\r\n to the aid of their country.",
	   "Now's the time for all folk to come to the aid of their country.");
	/* Rule (1) and (2): escapes and literal characters. */
	QP("=3D", "=");
	QP("a=3Db=09c", "a=b\tc");
	QP("J=C3=B6rg M=C3=BCller", "J\xc3\xb6rg M\xc3\xbcller");
	/* Rule (3): an encoded blank at the end of a line stays. */
	QP("end=20\r\nnext=09\r\n", "end \r\nnext\t\r\n");
}

Test(mime, qp_lowercase_hex)
{
	QP("=c3=a9t=C3=a9", "\xc3\xa9t\xc3\xa9");
	QP("=ff=Ff=fF", "\xff\xff\xff");
}

Test(mime, qp_soft_line_breaks)
{
	QP("ab=\r\ncd", "abcd");
	QP("ab=\ncd", "abcd");
	QP("ab=\r\n=\r\ncd", "abcd");
	/* Transport padding after the "=" (RFC 2045 rule 3). */
	QP("ab= \t \r\ncd", "abcd");
	QP("ab=  \ncd", "abcd");
	/* A soft break at the very end (its line break went with the boundary). */
	QP("abc=", "abc");
	QP("abc=  ", "abc");
	QP("abc=\r\n", "abc");
}

Test(mime, qp_trailing_blanks_are_removed)
{
	QP("ab  \r\ncd \t\nef", "ab\r\ncd\nef");
	QP("a  b\r\n", "a  b\r\n");
	QP("\t\r\n", "\r\n");
	QP("trail   ", "trail");
	QP("x \r\n \r\n", "x\r\n\r\n");
	/* A lone CR is data, so blanks before it are not trailing. */
	QP("a \rb", "a \rb");
	QP("a \r", "a \r");
}

Test(mime, qp_invalid_escapes_stay_literal)
{
	QP("=4G", "=4G");
	QP("=G4", "=G4");
	QP("= x", "= x");
	QP("=\tx", "=\tx");
	QP("==41", "=A");
	QP("a=4", "a=4");
	QP("100%=", "100%");
	QP("=\rX", "=\rX");
	QP("= \rX", "= \rX");
	QP("=\r", "=\r");
	QP("a=b=c", "a=b=c");
	QP("=\xc3\xa9", "=\xc3\xa9");
	QP("=4\r\n", "=4\r\n");
	QP("=4 \r\n", "=4\r\n");
}

Test(mime, qp_raw_8bit_and_nul_pass_through)
{
	QP("caf\xc3\xa9\x00z", "caf\xc3\xa9\x00z");
}

Test(mime, qp_long_blank_runs)
{
	/* At most IMAP_CTE_QP_BLANKS_MAX blanks are held back: of a longer
	 * run before a line break, the first ones are emitted. */
	char in[300], want[300];
	memset(in, ' ', 200);
	memcpy(in + 200, "\r\n", 2);
	memset(want, ' ', IMAP_CTE_QP_BLANKS_MAX);
	memcpy(want + IMAP_CTE_QP_BLANKS_MAX, "\r\n", 2);
	check_decode(IMAP_CTE_QP, in, 202, want, IMAP_CTE_QP_BLANKS_MAX + 2);

	/* A run that is not trailing comes out whole. */
	memcpy(in + 200, "x", 1);
	memset(want, ' ', 200);
	want[200] = 'x';
	check_decode(IMAP_CTE_QP, in, 201, want, 201);

	/* Blanks after "=" beyond the bound: the "=" is text. */
	in[0] = '=';
	memcpy(in + 200, "\r\nz", 3);
	memset(want, ' ', sizeof want);
	want[0] = '=';
	memcpy(want + 1 + IMAP_CTE_QP_BLANKS_MAX, "\r\nz", 3);
	check_decode(IMAP_CTE_QP, in, 203, want, 1 + IMAP_CTE_QP_BLANKS_MAX + 3);
}

Test(mime, qp_every_byte_value_escaped)
{
	static const char hex[] = "0123456789ABCDEF";
	char in[256 * 3 + 256 / 16 * 3], want[256];
	size_t n = 0;
	for (int i = 0; i < 256; i++) {
		in[n++] = '=';
		in[n++] = hex[i >> 4];
		in[n++] = (i & 1) ? (char)(hex[i & 15] | 0x20) : hex[i & 15]; /* mixed case */
		want[i] = (char)i;
		if (i % 16 == 15) {
			memcpy(in + n, "=\r\n", 3);
			n += 3;
		}
	}
	check_decode(IMAP_CTE_QP, in, n, want, sizeof want);
}

/* ---- identity ---- */

Test(mime, identity)
{
	check_decode(IMAP_CTE_IDENTITY, L("a\r\nb\x00\xff=41 \r\n"), L("a\r\nb\x00\xff=41 \r\n"));
	check_decode(IMAP_CTE_IDENTITY, L(""), L(""));

	/* A chunk of at least IMAP_CTE_OUT_CHUNK bytes goes straight through,
	 * after what was batched before it. */
	static char big[IMAP_CTE_OUT_CHUNK * 2];
	memset(big, 'b', sizeof big);
	struct sink s;
	struct imap_cte_decoder d;
	sink_init(&s);
	imap_cte_init(&d, IMAP_CTE_IDENTITY, sink_out, &s);
	cr_assert_eq(imap_cte_feed(&d, "xy", 2), 0);
	cr_assert_eq(imap_cte_feed(&d, big, sizeof big), 0);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(s.max_chunk, sizeof big);
	cr_assert_eq(imap_cte_feed(&d, "z", 1), 0);
	cr_assert_eq(imap_cte_finish(&d), 0);
	cr_assert_eq(s.calls, 3);
	cr_assert_eq(s.b.len, sizeof big + 3);
	cr_assert(memcmp(s.b.data, "xy", 2) == 0 && s.b.data[s.b.len - 1] == 'z');
	imap_buf_free(&s.b);
}

/* ---- errors from the caller's side ---- */

Test(mime, callback_error_stops_and_sticks)
{
	enum imap_cte all[] = { IMAP_CTE_IDENTITY, IMAP_CTE_BASE64, IMAP_CTE_QP };
	static char in[20000];
	for (size_t i = 0; i < sizeof in; i++)
		in[i] = "QUFB"[i % 4];
	for (size_t k = 0; k < 3; k++) {
		struct sink s;
		struct imap_cte_decoder d;
		sink_init(&s);
		s.fail_after = 5000;
		imap_cte_init(&d, all[k], sink_out, &s);
		int rc = 0;
		for (size_t pos = 0; pos < sizeof in && rc == 0; pos += 1000)
			rc = imap_cte_feed(&d, in + pos, 1000);
		cr_assert_eq(rc, -42, "cte %d: rc %d", (int)all[k], rc);
		size_t calls = s.calls;
		cr_assert_eq(imap_cte_feed(&d, in, 10), -42);
		cr_assert_eq(imap_cte_finish(&d), -42);
		cr_assert_eq(s.calls, calls, "no callback after the error");
		cr_assert_leq(s.b.len, 5000);
		imap_buf_free(&s.b);
	}
}

Test(mime, one_shot_limit_rolls_back)
{
	struct imap_buf b;
	imap_buf_init(&b, 8);
	cr_assert_eq(imap_buf_puts(&b, "ab"), 0);
	cr_assert_eq(imap_cte_decode(IMAP_CTE_BASE64, L("Zm9vYmE="), &b), 0);
	cr_assert_str_eq(b.data, "abfooba");
	cr_assert_eq(imap_cte_decode(IMAP_CTE_BASE64, L("Zm9v"), &b), IMAP_ERR_LIMIT);
	cr_assert_eq(b.len, 7);
	cr_assert_str_eq(b.data, "abfooba");
	imap_buf_free(&b);

	imap_buf_init(&b, 0);
	cr_assert_eq(imap_cte_decode(IMAP_CTE_QP, NULL, 0, &b), 0);
	cr_assert_eq(b.len, 0);
	imap_buf_free(&b);
}

/* ---- corpus: mime4j's messages and its decoded parts ---- */

/* The body of a single-part message: after the first empty line. */
static void single_body(const struct imap_buf *msg, const char **body, size_t *n)
{
	const char *sep = memfind(msg->data, msg->len, "\r\n\r\n", 4);
	cr_assert_not_null(sep);
	*body = sep + 4;
	*n = msg->len - (size_t)(*body - msg->data);
}

/* The body of part `k` (1-based) of a multipart message with `boundary`
 * (RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it). */
static void part_body(const struct imap_buf *msg, const char *boundary, int k,
		      const char **body, size_t *n)
{
	char delim[200];
	int dn = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	const char *p = msg->data, *end = msg->data + msg->len;
	for (int i = 0; i < k; i++) {
		p = memfind(p, (size_t)(end - p), delim, (size_t)dn);
		cr_assert_not_null(p, "part %d", k);
		p += dn;
	}
	const char *head_end = memfind(p, (size_t)(end - p), "\r\n\r\n", 4);
	cr_assert_not_null(head_end);
	*body = head_end + 4;
	const char *next = memfind(*body, (size_t)(end - *body), delim, (size_t)dn);
	cr_assert_not_null(next);
	*n = (size_t)(next - *body);
}

static void check_corpus_part(const char *dir, const char *msg_name, const char *boundary,
			      int part, enum imap_cte cte, const char *decoded_name)
{
	char path[4096];
	struct imap_buf msg, want;
	imap_buf_init(&msg, 0);
	imap_buf_init(&want, 0);
	snprintf(path, sizeof path, "%s/%s", dir, msg_name);
	slurp(path, &msg);
	snprintf(path, sizeof path, "%s/%s", dir, decoded_name);
	slurp(path, &want);

	const char *body;
	size_t n;
	if (boundary)
		part_body(&msg, boundary, part, &body, &n);
	else
		single_body(&msg, &body, &n);
	cr_log_info("%s part %d: %zu bytes -> %zu", msg_name, part, n, want.len);
	check_decode(cte, body, n, want.data ? want.data : "", want.len);
	imap_buf_free(&msg);
	imap_buf_free(&want);
}

Test(mime, corpus_mime4j_decoded_parts)
{
	TEST_NEED_CORPUS(dir, "eml");
	check_corpus_part(dir, "m4j-qp-body.msg", NULL, 0, IMAP_CTE_QP,
			  "m4j-qp-body_decoded_1.txt");
	check_corpus_part(dir, "m4j-base64-encoded-text.msg", NULL, 0, IMAP_CTE_BASE64,
			  "m4j-base64-encoded-text_decoded_1.txt");
	check_corpus_part(dir, "m4j-example.msg", "=-tIdGYVstQJghyEDATnJ+", 1, IMAP_CTE_IDENTITY,
			  "m4j-example_decoded_1_1.txt");
	check_corpus_part(dir, "m4j-example.msg", "=-tIdGYVstQJghyEDATnJ+", 2, IMAP_CTE_BASE64,
			  "m4j-example_decoded_1_2.bin");
	check_corpus_part(dir, "m4j-example.msg", "=-tIdGYVstQJghyEDATnJ+", 3, IMAP_CTE_BASE64,
			  "m4j-example_decoded_1_3.bin");
	check_corpus_part(dir, "m4j-example.msg", "=-tIdGYVstQJghyEDATnJ+", 4, IMAP_CTE_QP,
			  "m4j-example_decoded_1_4.txt");
	check_corpus_part(dir, "m4j-simple-attachment.msg",
			  "------------090404080405080108000909", 2, IMAP_CTE_BASE64,
			  "m4j-simple-attachment_decoded_1_2.bin");
}

/* ---- body text to UTF-8 ---- */

static void check_text(const char *cs, const char *in, size_t len, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = imap_mime_text_to_utf8(cs, cs ? strlen(cs) : 0, in, len, &b);
	cr_assert_eq(rc, 0, "charset %s: rc %d", cs ? cs : "(none)", rc);
	assert_bytes(&b, want, strlen(want), cs ? cs : "(none)");
	if (b.len) {
		cr_assert_eq(imap_utf8_validate(b.data, b.len), 0);
		cr_assert_eq(b.data[b.len], '\0');
	}
	imap_buf_free(&b);
}

#define TEXT(cs, in, want) check_text((cs), L(in), (want))

Test(mime, text_declared_charsets)
{
	TEXT("iso-8859-1", "caf\xe9 \xa9 1\xbd", "café © 1½");
	TEXT("ISO-8859-1", "\x93quoted\x94 \x80", "“quoted” €"); /* read as windows-1252 */
	TEXT("windows-1252", "\x93quoted\x94 \x80 \x85", "“quoted” € …");
	TEXT("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2", "Привет, мир");
	TEXT("iso-8859-15", "\xa4uro", "€uro");
	TEXT("windows-1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет");
	TEXT("utf-8", "na\xc3\xafve", "naïve");
	TEXT("\"utf-8\"", "na\xc3\xafve", "naïve");
	TEXT("us-ascii", "plain\r\ntext\r\n", "plain\r\ntext\r\n");
}

Test(mime, text_byte_order_mark)
{
	TEXT("utf-8", "\xef\xbb\xbfhello", "hello");
	TEXT(NULL, "\xef\xbb\xbfhello", "hello");
	/* A UTF-8 BOM outranks the label. */
	TEXT("iso-8859-1", "\xef\xbb\xbf" "caf\xc3\xa9", "café");
	TEXT("windows-1251", "\xef\xbb\xbf\xd0\x9f", "П");
	/* Only at the start. */
	TEXT("utf-8", "a\xef\xbb\xbf", "a\xef\xbb\xbf");
	/* A BOM in another encoding. */
	TEXT("utf-16le", "\xff\xfeh\0i\0", "hi");
	TEXT("utf-16be", "\xfe\xff\0h\0i", "hi");
	TEXT("utf-8", "\xef\xbb\xbf", "");
}

Test(mime, text_lying_labels)
{
	/* Declared US-ASCII or Latin-1, but the bytes are UTF-8. */
	TEXT("us-ascii", "caf\xc3\xa9", "café");
	TEXT("iso-8859-1", "caf\xc3\xa9 \xe2\x82\xac", "café €");
	TEXT("windows-1252", "\xe6\x97\xa5\xe6\x9c\xac", "日本");
	TEXT("latin1", "na\xc3\xafve", "naïve");
	/* Declared Latin-1 and really Latin-1 (not valid UTF-8). */
	TEXT("iso-8859-1", "\xc3\xa9t\xe9", "Ã©té");
	/* US-ASCII that is really Latin-1. */
	TEXT("us-ascii", "caf\xe9", "café");
	/* Declared UTF-8 but Latin-1: readable, no U+FFFD. */
	TEXT("utf-8", "caf\xe9", "café");
	TEXT("utf-8", "caf\xc3\xa9 caf\xe9", "café café");
}

Test(mime, text_unknown_and_missing_charsets)
{
	TEXT("x-foo", "caf\xc3\xa9", "café");
	TEXT("x-foo", "caf\xe9", "café");
	TEXT("x-foo", "\x93hi\x94", "“hi”");
	TEXT("unknown-8bit", "caf\xe9", "café");
	TEXT(NULL, "caf\xe9", "café");
	TEXT(NULL, "caf\xc3\xa9 and caf\xe9", "café and café");
	TEXT("", "caf\xe9", "café");
	TEXT("  ", "caf\xc3\xa9", "café");
	TEXT(NULL, "", "");
}

Test(mime, text_no_replacement_where_text_is_clean)
{
	static const struct {
		const char *cs, *in;
	} cases[] = {
		{ "iso-8859-1", "caf\xe9" }, { "windows-1252", "\x93x\x94" },
		{ "koi8-r", "\xf0\xd2\xc9" }, { "x-foo", "caf\xe9" },
		{ "x-foo", "caf\xc3\xa9" },  { NULL, "caf\xe9" },
		{ "us-ascii", "caf\xc3\xa9" }, { "utf-8", "caf\xe9" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_buf b;
		imap_buf_init(&b, 0);
		const char *cs = cases[i].cs;
		cr_assert_eq(imap_mime_text_to_utf8(cs, cs ? strlen(cs) : 0, cases[i].in,
						    strlen(cases[i].in), &b),
			     0);
		cr_assert_null(memfind(b.data, b.len, FFFD, 3), "%s: U+FFFD in \"%s\"",
			       cs ? cs : "(none)", b.data);
		imap_buf_free(&b);
	}
}

Test(mime, text_nul_and_invalid_sequences)
{
	TEXT("utf-8", "a\0b", "a" FFFD "b");
	TEXT(NULL, "a\0b", "a" FFFD "b");
	TEXT("iso-8859-1", "a\0b", "a" FFFD "b");
	TEXT("koi8-r", "a\0b", "a" FFFD "b");
	/* Shift_JIS with a truncated last character. */
	TEXT("shift_jis", "\x82\xa0\x82", "あ" FFFD);
}

Test(mime, text_limit_rolls_back)
{
	struct imap_buf b;
	imap_buf_init(&b, 6);
	cr_assert_eq(imap_buf_puts(&b, "x"), 0);
	cr_assert_eq(imap_mime_text_to_utf8(L("iso-8859-1"), L("\xe9\xe9\xe9"), &b), IMAP_ERR_LIMIT);
	cr_assert_eq(b.len, 1);
	cr_assert_str_eq(b.data, "x");
	cr_assert_eq(imap_mime_text_to_utf8(L("utf-16le"), L("\xff\xfeh\0i\0"), &b), 0);
	cr_assert_str_eq(b.data, "xhi");
	imap_buf_free(&b);
}

/* ---- truncation ---- */

Test(mime, truncate_at_sequence_boundaries)
{
	/* a | é (2) | € (3) | 😀 (4) | b: starts at 0, 1, 3, 6, 10; 11 bytes. */
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "b";
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11 };
	for (size_t max = 0; max <= 11; max++) {
		bool cut = false;
		size_t n = imap_mime_utf8_truncate(s, 11, max, &cut);
		cr_assert_eq(n, want[max], "max %zu: got %zu, want %zu", max, n, want[max]);
		cr_assert_eq(cut, max < 11, "max %zu", max);
		if (n)
			cr_assert_eq(imap_utf8_validate(s, n), 0);
	}
	bool cut = true;
	cr_assert_eq(imap_mime_utf8_truncate(s, 11, 100, &cut), 11);
	cr_assert(!cut);
	cr_assert_eq(imap_mime_utf8_truncate(s, 11, 5, NULL), 3);
	cr_assert_eq(imap_mime_utf8_truncate(NULL, 0, 0, &cut), 0);
	cr_assert(!cut);
}

Test(mime, truncate_ill_formed_input)
{
	bool cut;
	/* Stray continuation bytes protect nothing. */
	cr_assert_eq(imap_mime_utf8_truncate(L("\x80\x80\x80\x80\x80\x80"), 4, &cut), 4);
	cr_assert(cut);
	/* A complete sequence followed by stray continuation bytes. */
	cr_assert_eq(imap_mime_utf8_truncate(L("\xc3\xa9\x80\x80"), 3, &cut), 3);
	/* A truncated sequence straddling the cut is not split either. */
	cr_assert_eq(imap_mime_utf8_truncate(L("ab\xe2\x82"), 3, &cut), 2);
	/* ASCII bytes are always boundaries. */
	cr_assert_eq(imap_mime_utf8_truncate(L("abcdef"), 3, &cut), 3);
}

/* ---- header blocks ---- */

/* Collected fields as "name=value\n" lines. */
static int collect(void *ctx, const char *name, size_t name_len, const char *value,
		   size_t value_len)
{
	struct imap_buf *b = ctx;
	cr_assert_eq(strlen(name), name_len);
	cr_assert_eq(strlen(value), value_len);
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)name[i];
		cr_assert(c > ' ' && c < 0x7f && c != ':' && !(c >= 'A' && c <= 'Z'));
	}
	if (value_len) {
		cr_assert_eq(imap_utf8_validate(value, value_len), 0);
		cr_assert(value[0] != ' ' && value[0] != '\t');
		cr_assert(value[value_len - 1] != ' ' && value[value_len - 1] != '\t');
	}
	for (size_t i = 0; i < value_len; i++)
		cr_assert((unsigned char)value[i] >= ' ' || value[i] == '\t');
	cr_assert_eq(imap_buf_printf(b, "%s=%s\n", name, value), 0);
	return 0;
}

static void check_header(const char *in, size_t len, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = imap_mime_header_parse(in, len, NULL, collect, &b);
	cr_assert_eq(rc, 0, "rc %d", rc);
	cr_assert_str_eq(b.data ? b.data : "", want);
	imap_buf_free(&b);
}

#define HDR(in, want) check_header(L(in), (want))

Test(mime, header_simple_crlf_and_lf)
{
	HDR("From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\n\r\nbody: no\r\n",
	    "from=a@example.com\nto=b@example.com\nsubject=Hi\n");
	HDR("From: a@example.com\nSubject: Hi\n\nbody: no\n", "from=a@example.com\nsubject=Hi\n");
	/* No empty line, no final line break. */
	HDR("X-A: 1\r\nX-B: 2", "x-a=1\nx-b=2\n");
	HDR("", "");
	HDR("\r\nX-A: 1\r\n", "");
}

Test(mime, header_folded_received_and_duplicates)
{
	HDR("Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
	    "\tby mail.example.com with ESMTPS id 123\r\n"
	    "        for <u@example.com>; Sun, 25 May 2008 14:38:53 +0000\r\n"
	    "Received: from localhost\r\n"
	    " by mx.example.org\r\n"
	    "X-Spam: no\r\n"
	    "Received: (qmail 1 invoked by uid 2)\r\n\r\n",
	    "received=from mx.example.org (mx.example.org [192.0.2.1])\tby mail.example.com "
	    "with ESMTPS id 123        for <u@example.com>; Sun, 25 May 2008 14:38:53 +0000\n"
	    "received=from localhost by mx.example.org\n"
	    "x-spam=no\n"
	    "received=(qmail 1 invoked by uid 2)\n");
}

Test(mime, header_encoded_words_and_8bit)
{
	HDR("Subject: =?UTF-8?B?0YHRgtCw0YLRg9GB?= =?utf-8?q?J=C3=B6rg?=\r\n",
	    "subject=статусJörg\n");
	HDR("Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n =?ISO-8859-1?Q?_au_lait?=\r\n",
	    "subject=Café au lait\n");
	HDR("From: =?koi8-r?B?8NLJ18XU?= <a@b.c>\r\n", "from=Привет <a@b.c>\n");
	HDR("Subject: caf\xe9\r\n", "subject=café\n");
	HDR("Subject: a\x01" "b\x7f" "c\r\n", "subject=a b c\n");
	HDR("Subject: a\0b\r\n", "subject=a b\n");
}

Test(mime, header_values_trimmed_and_names_lowercased)
{
	HDR("SUBJECT:   spaced out  \t\r\n", "subject=spaced out\n");
	HDR("X-Empty:\r\nX-Blank:   \r\nX-Tight:x\r\n", "x-empty=\nx-blank=\nx-tight=x\n");
	HDR("Content-Type: text/plain;\r\n\tcharset=utf-8\r\n \r\n",
	    "content-type=text/plain;\tcharset=utf-8\n");
	/* Obsolete syntax: blanks between the name and the colon. */
	HDR("Subject  : old style\r\n", "subject=old style\n");
	HDR("Subject\t: tab\r\n", "subject=tab\n");
	/* Colons in the value are the value's. */
	HDR("X-Url: http://example.com:8080/\r\n", "x-url=http://example.com:8080/\n");
}

Test(mime, header_garbage_lines)
{
	/* A first line that is a continuation, then fields. */
	HDR("  stray continuation\r\n\tmore\r\nSubject: ok\r\n", "subject=ok\n");
	/* A line without a colon, with its continuation lines, is skipped. */
	HDR("Subject: a\r\nThis is not a header\r\n continued\r\nTo: b\r\n", "subject=a\nto=b\n");
	/* Names with blanks or 8-bit bytes are not names. */
	HDR("Bad Name: x\r\nX\xe9: y\r\nOk: z\r\n", "ok=z\n");
	HDR(": no name\r\nOk: z\r\n", "ok=z\n");
	/* A lone CR does not end a line. */
	HDR("X-A: 1\rX-B: 2\r\n", "x-a=1 X-B: 2\n");
}

Test(mime, header_mbox_from_line)
{
	HDR("From alice@example.com Sat Jan  3 01:05:34 1996\r\nFrom: Alice <alice@example.com>\r\n"
	    "Subject: s\r\n\r\n",
	    "from=Alice <alice@example.com>\nsubject=s\n");
	HDR("From alice@example.com Sat Jan  3 01:05:34 1996\nSubject: s\n", "subject=s\n");
	/* "From :" is a field in the obsolete syntax, not an mbox line. */
	HDR("From : Alice <alice@example.com>\r\n", "from=Alice <alice@example.com>\n");
	/* Only the first line. */
	HDR("Subject: s\r\nFrom x\r\n", "subject=s\n");
}

static int count_calls(void *ctx, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	(void)name;
	(void)name_len;
	(void)value;
	(void)value_len;
	(*(size_t *)ctx)++;
	return 0;
}

static int stop_at_second(void *ctx, const char *name, size_t name_len, const char *value,
			  size_t value_len)
{
	(void)name;
	(void)name_len;
	(void)value;
	(void)value_len;
	return ++*(size_t *)ctx == 2 ? -42 : 0;
}

Test(mime, header_field_limit_at_the_boundary)
{
	const char *block = "A: 1\r\nB: 2\r\nC: 3\r\n garbage continuation\r\nnot a field\r\n\r\n";
	struct imap_mime_header_limits lim = { .fields_max = 3, .bytes_max = 1000 };
	size_t calls = 0;
	cr_assert_eq(imap_mime_header_parse(block, strlen(block), &lim, count_calls, &calls), 0);
	cr_assert_eq(calls, 3);
	lim.fields_max = 2;
	calls = 0;
	cr_assert_eq(imap_mime_header_parse(block, strlen(block), &lim, count_calls, &calls),
		     IMAP_ERR_LIMIT);
	cr_assert_eq(calls, 0, "no callback when a limit is broken");

	/* The default: IMAP_MIME_HEADER_FIELDS_MAX fields pass, one more fails. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (int i = 0; i < IMAP_MIME_HEADER_FIELDS_MAX; i++)
		cr_assert_eq(imap_buf_printf(&b, "Received: %d\r\n", i), 0);
	calls = 0;
	cr_assert_eq(imap_mime_header_parse(b.data, b.len, NULL, count_calls, &calls), 0);
	cr_assert_eq(calls, IMAP_MIME_HEADER_FIELDS_MAX);
	cr_assert_eq(imap_buf_puts(&b, "X: y\r\n"), 0);
	calls = 0;
	cr_assert_eq(imap_mime_header_parse(b.data, b.len, NULL, count_calls, &calls),
		     IMAP_ERR_LIMIT);
	cr_assert_eq(calls, 0);
	imap_buf_free(&b);
}

Test(mime, header_size_limit_at_the_boundary)
{
	/* 12 bytes of fields, then the empty line and a body (not counted). */
	const char *block = "A: 1\r\nB: 2\r\n\r\nbody body body";
	struct imap_mime_header_limits lim = { .fields_max = 10, .bytes_max = 12 };
	size_t calls = 0;
	cr_assert_eq(imap_mime_header_parse(block, strlen(block), &lim, count_calls, &calls), 0);
	cr_assert_eq(calls, 2);
	lim.bytes_max = 11;
	calls = 0;
	cr_assert_eq(imap_mime_header_parse(block, strlen(block), &lim, count_calls, &calls),
		     IMAP_ERR_LIMIT);
	cr_assert_eq(calls, 0);
	/* Garbage and an mbox line count too. */
	const char *mbox = "From x\r\nA: 1\r\n";
	lim.bytes_max = 14;
	cr_assert_eq(imap_mime_header_parse(mbox, strlen(mbox), &lim, count_calls, &calls), 0);
	lim.bytes_max = 13;
	cr_assert_eq(imap_mime_header_parse(mbox, strlen(mbox), &lim, count_calls, &calls),
		     IMAP_ERR_LIMIT);
	lim.bytes_max = 7;
	cr_assert_eq(imap_mime_header_parse(mbox, strlen(mbox), &lim, count_calls, &calls),
		     IMAP_ERR_LIMIT);

	/* The default: exactly IMAP_MIME_HEADER_BYTES_MAX bytes pass. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, "X-Long: "), 0);
	while (b.len < IMAP_MIME_HEADER_BYTES_MAX - 2)
		cr_assert_eq(imap_buf_putc(&b, (b.len % 70) ? 'x' : ' '), 0);
	cr_assert_eq(imap_buf_puts(&b, "\r\n"), 0);
	cr_assert_eq(b.len, IMAP_MIME_HEADER_BYTES_MAX);
	cr_assert_eq(imap_buf_puts(&b, "\r\nbody"), 0);
	calls = 0;
	cr_assert_eq(imap_mime_header_parse(b.data, b.len, NULL, count_calls, &calls), 0);
	cr_assert_eq(calls, 1);
	imap_buf_free(&b);
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, "X-Long: "), 0);
	while (b.len < IMAP_MIME_HEADER_BYTES_MAX - 1)
		cr_assert_eq(imap_buf_putc(&b, 'x'), 0);
	cr_assert_eq(imap_buf_puts(&b, "\r\n"), 0);
	cr_assert_eq(imap_mime_header_parse(b.data, b.len, NULL, count_calls, &calls),
		     IMAP_ERR_LIMIT);
	imap_buf_free(&b);
}

Test(mime, header_callback_error_stops)
{
	size_t calls = 0;
	cr_assert_eq(imap_mime_header_parse(L("A: 1\r\nB: 2\r\nC: 3\r\n"), NULL, stop_at_second,
					    &calls),
		     -42);
	cr_assert_eq(calls, 2);
}

Test(mime, header_read_get_free)
{
	struct imap_mime_header h;
	const char *block = "Received: a\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
			    "Received: b\r\n\tc\r\n\r\n";
	cr_assert_eq(imap_mime_header_read(block, strlen(block), NULL, &h), 0);
	cr_assert_eq(h.n, 3);
	cr_assert_str_eq(h.v[0].name, "received");
	cr_assert_str_eq(h.v[0].value, "a");
	cr_assert_str_eq(h.v[1].name, "subject");
	cr_assert_str_eq(h.v[1].value, "café");
	cr_assert_str_eq(h.v[2].value, "b\tc");
	cr_assert_str_eq(imap_mime_header_get(&h, "SUBJECT"), "café");
	cr_assert_str_eq(imap_mime_header_get(&h, "received"), "a");
	cr_assert_null(imap_mime_header_get(&h, "to"));
	imap_mime_header_free(&h);
	cr_assert_null(h.v);
	cr_assert_eq(h.n, 0);
	imap_mime_header_free(&h);
	imap_mime_header_free(NULL);
	cr_assert_null(imap_mime_header_get(NULL, "x"));

	cr_assert_eq(imap_mime_header_read(L("no fields here\r\n"), NULL, &h), 0);
	cr_assert_eq(h.n, 0);
	cr_assert_null(h.v);

	struct imap_mime_header_limits lim = { .fields_max = 1, .bytes_max = 1000 };
	cr_assert_eq(imap_mime_header_read(block, strlen(block), &lim, &h), IMAP_ERR_LIMIT);
	cr_assert_eq(h.n, 0);
	cr_assert_null(h.v);
}

/* mime4j's expected field list (the first <header> of the .xml) as
 * "name=value\n" lines, each value put through the same decoding. */
static void mime4j_fields(const struct imap_buf *xml, struct imap_buf *out)
{
	const char *p = memfind(xml->data, xml->len, "<header>", 8);
	cr_assert_not_null(p);
	const char *end = memfind(p, xml->len - (size_t)(p - xml->data), "</header>", 9);
	cr_assert_not_null(end);
	for (;;) {
		const char *f = memfind(p, (size_t)(end - p), "<field>", 7);
		if (!f)
			break;
		f += 7;
		while (*f == '\r' || *f == '\n')
			f++;
		const char *fe = memfind(f, (size_t)(end - f), "</field>", 8);
		cr_assert_not_null(fe);
		/* Unescape the XML entities the file uses. */
		struct imap_buf raw;
		imap_buf_init(&raw, 0);
		for (const char *q = f; q < fe; q++) {
			static const struct {
				const char *ent, *c;
			} ents[] = { { "&lt;", "<" }, { "&gt;", ">" }, { "&amp;", "&" },
				     { "&quot;", "\"" }, { "&apos;", "'" } };
			size_t k;
			for (k = 0; k < sizeof ents / sizeof ents[0]; k++)
				if ((size_t)(fe - q) >= strlen(ents[k].ent) &&
				    memcmp(q, ents[k].ent, strlen(ents[k].ent)) == 0)
					break;
			if (k < sizeof ents / sizeof ents[0]) {
				cr_assert_eq(imap_buf_puts(&raw, ents[k].c), 0);
				q += strlen(ents[k].ent) - 1;
			} else {
				cr_assert_eq(imap_buf_putc(&raw, *q), 0);
			}
		}
		const char *colon = memchr(raw.data, ':', raw.len);
		cr_assert_not_null(colon);
		size_t nlen = (size_t)(colon - raw.data);
		while (nlen && (raw.data[nlen - 1] == ' ' || raw.data[nlen - 1] == '\t'))
			nlen--;
		for (size_t i = 0; i < nlen; i++) {
			char c = raw.data[i];
			cr_assert_eq(imap_buf_putc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c), 0);
		}
		cr_assert_eq(imap_buf_putc(out, '='), 0);
		struct imap_buf v;
		imap_buf_init(&v, 0);
		const char *val = colon + 1;
		cr_assert_eq(imap_rfc2047_decode(val, raw.len - (size_t)(val - raw.data), &v), 0);
		size_t a = 0, z = v.len;
		while (a < z && (v.data[a] == ' ' || v.data[a] == '\t'))
			a++;
		while (z > a && (v.data[z - 1] == ' ' || v.data[z - 1] == '\t'))
			z--;
		cr_assert_eq(imap_buf_append(out, v.data + a, z - a), 0);
		cr_assert_eq(imap_buf_putc(out, '\n'), 0);
		imap_buf_free(&v);
		imap_buf_free(&raw);
		p = fe + 8;
	}
}

Test(mime, corpus_mime4j_header_blocks)
{
	TEST_NEED_CORPUS(dir, "eml");
	static const char *const names[] = {
		"bad-newlines-multiple-parts", "base64-encoded-text", "base64encoded-rfc822message",
		"basic-plain-very-long-lines", "basic-plain-with-bad-header-separator",
		"basic-plain", "ending-boundaries", "example", "malformedHeader-nocrlfcrlf",
		"missing-boundary", "missing-inner-boundary", "missing-inner-start-boundary",
		"multipartemptypart", "multipartnestedemptyparts", "multipartnopart", "qp-body",
		"russian-headers", "simple-attachment", "very-long-boundary",
		/* Not "malformedHeaderStartsBody-nocrlfcrlf": that is mime4j's other
		 * policy, ending the header at the first line that is no field. */
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[4096];
		struct imap_buf msg, xml, got, want;
		imap_buf_init(&msg, 0);
		imap_buf_init(&xml, 0);
		imap_buf_init(&got, 0);
		imap_buf_init(&want, 0);
		snprintf(path, sizeof path, "%s/m4j-%s.msg", dir, names[i]);
		slurp(path, &msg);
		snprintf(path, sizeof path, "%s/m4j-%s.xml", dir, names[i]);
		slurp(path, &xml);
		cr_assert_eq(imap_mime_header_parse(msg.data, msg.len, NULL, collect, &got), 0);
		mime4j_fields(&xml, &want);
		cr_assert_str_eq(got.data ? got.data : "", want.data ? want.data : "", "%s",
				 names[i]);
		imap_buf_free(&msg);
		imap_buf_free(&xml);
		imap_buf_free(&got);
		imap_buf_free(&want);
	}
}

/* ---- Content-Disposition ---- */

static void check_disposition(const char *name, size_t len, bool as_inline, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_mime_content_disposition(name, len, as_inline, &b), 0);
	cr_assert_str_eq(b.data, want);
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];
		cr_assert(c >= 0x20 && c < 0x7f, "byte 0x%02x in \"%s\"", c, b.data);
	}
	imap_buf_free(&b);
}

#define DISP(name, want) check_disposition(L(name), false, (want))

Test(mime, disposition_ascii)
{
	DISP("report.pdf", "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
	DISP("my report (v2).pdf",
	     "attachment; filename=\"my report (v2).pdf\"; "
	     "filename*=UTF-8''my%20report%20%28v2%29.pdf");
	DISP("!#$&+-.^_`|~", "attachment; filename=\"!#$&+-.^_`|~\"; filename*=UTF-8''!#$&+-.^_`|~");
	DISP("100%;'*=,/?.txt", "attachment; filename=\"100%;'*=,/?.txt\"; "
				"filename*=UTF-8''100%25%3B%27%2A%3D%2C%2F%3F.txt");
	check_disposition(L("a.png"), true, "inline; filename=\"a.png\"; filename*=UTF-8''a.png");
}

Test(mime, disposition_non_ascii)
{
	DISP("naïve résumé.pdf", "attachment; filename=\"na_ve r_sum_.pdf\"; "
				 "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.pdf");
	DISP("報告書.pdf", "attachment; filename=\"___.pdf\"; "
			   "filename*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8.pdf");
	DISP("😀.txt", "attachment; filename=\"_.txt\"; filename*=UTF-8''%F0%9F%98%80.txt");
	/* Bytes that are not UTF-8 are read as windows-1252. */
	DISP("caf\xe9.txt", "attachment; filename=\"caf_.txt\"; filename*=UTF-8''caf%C3%A9.txt");
}

Test(mime, disposition_quotes_and_backslashes)
{
	DISP("a\"b\\c.txt", "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt");
	DISP("\"", "attachment; filename=\"_\"; filename*=UTF-8''%22");
	DISP("x\\\"; filename=evil.exe",
	     "attachment; filename=\"x__; filename=evil.exe\"; "
	     "filename*=UTF-8''x%5C%22%3B%20filename%3Devil.exe");
}

Test(mime, disposition_header_injection)
{
	DISP("evil\r\nSet-Cookie: x=1.txt", "attachment; filename=\"evilSet-Cookie: x=1.txt\"; "
					    "filename*=UTF-8''evilSet-Cookie%3A%20x%3D1.txt");
	DISP("a\0b.txt", "attachment; filename=\"ab.txt\"; filename*=UTF-8''ab.txt");
	DISP("a\nb\rc\td\x1b\x7f.txt", "attachment; filename=\"abcd.txt\"; filename*=UTF-8''abcd.txt");
	/* C1 controls, line separators and bidi overrides go too. */
	DISP("a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xae" "fdp.exe",
	     "attachment; filename=\"abcfdp.exe\"; filename*=UTF-8''abcfdp.exe");
	DISP("\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f", "attachment; filename=\"x\"; filename*=UTF-8''x");
	/* Nothing left: no filename at all. */
	DISP("\r\n\0\t", "attachment");
	check_disposition(L("\r\n"), true, "inline");
}

Test(mime, disposition_empty)
{
	check_disposition(NULL, 0, false, "attachment");
	check_disposition(NULL, 5, false, "attachment");
	check_disposition("", 0, false, "attachment");
	check_disposition(NULL, 0, true, "inline");
}

Test(mime, disposition_hostile_bytes_never_escape)
{
	uint32_t seed = 7;
	for (int round = 0; round < 2000; round++) {
		char name[64];
		size_t n = rnd(&seed) % sizeof name;
		for (size_t i = 0; i < n; i++) {
			uint32_t r = rnd(&seed);
			/* Favour the dangerous bytes. */
			name[i] = (r & 3) == 0 ? "\r\n\0\"\\;%"[r % 7] : (char)(r >> 4);
		}
		struct imap_buf b;
		imap_buf_init(&b, 0);
		cr_assert_eq(imap_mime_content_disposition(name, n, round & 1, &b), 0);
		cr_assert(strncmp(b.data, round & 1 ? "inline" : "attachment",
				  round & 1 ? 6 : 10) == 0);
		for (size_t i = 0; i < b.len; i++) {
			unsigned char c = (unsigned char)b.data[i];
			cr_assert(c >= 0x20 && c < 0x7f, "byte 0x%02x", c);
		}
		/* The quoted fallback holds no quote or backslash of its own. */
		const char *q = strstr(b.data, "filename=\"");
		if (q) {
			const char *e = strstr(q, "\"; filename*=UTF-8''");
			cr_assert_not_null(e);
			for (const char *p = q + 10; p < e; p++)
				cr_assert(*p != '"' && *p != '\\');
		}
		imap_buf_free(&b);
	}
}

Test(mime, disposition_limit_rolls_back)
{
	struct imap_buf b;
	imap_buf_init(&b, 30);
	cr_assert_eq(imap_buf_puts(&b, "X"), 0);
	cr_assert_eq(imap_mime_content_disposition(L("a-rather-long-name.pdf"), false, &b),
		     IMAP_ERR_LIMIT);
	cr_assert_eq(b.len, 1);
	cr_assert_str_eq(b.data, "X");
	imap_buf_free(&b);
}
