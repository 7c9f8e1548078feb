/*
 * tests/unit/test_utf7.c — modified UTF-7 mailbox names and UTF-8
 * validation (imap/mail/utf7.h). Every expectation is exact bytes.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/utf7.h"

/* Sizes of literals that may contain NUL. */
#define L(s) (s), (sizeof(s) - 1)

/* The buffer holds exactly want[0..want_len), NUL-terminated. */
static void assert_buf(const struct imap_buf *b, const char *want, size_t want_len,
		       const char *what)
{
	cr_assert_eq(b->len, want_len, "%s: length %zu, want %zu (\"%.*s\")", what,
		     b->len, want_len, (int)b->len, b->data ? b->data : "");
	if (want_len == 0)
		return;
	cr_assert_not_null(b->data, "%s", what);
	cr_assert(memcmp(b->data, want, want_len) == 0, "%s: got \"%.*s\", want \"%.*s\"",
		  what, (int)b->len, b->data, (int)want_len, want);
	cr_assert_eq(b->data[b->len], '\0', "%s: not NUL-terminated", what);
}

static void check_encode(const char *utf8, size_t len, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = imap_utf7_encode(utf8, len, &b);
	cr_assert_eq(rc, 0, "encode \"%.*s\": rc %d", (int)len, utf8, rc);
	assert_buf(&b, want, strlen(want), "encode");
	imap_buf_free(&b);
}

static void check_decode(const char *mutf7, const char *want, size_t want_len)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = imap_utf7_decode(mutf7, strlen(mutf7), &b);
	cr_assert_eq(rc, 0, "decode \"%s\": rc %d", mutf7, rc);
	assert_buf(&b, want, want_len, "decode");
	cr_assert_eq(imap_utf8_validate(b.data ? b.data : "", b.len), 0);
	imap_buf_free(&b);
}

/* Both directions, for canonical pairs. */
static void check_pair(const char *utf8, const char *mutf7)
{
	check_encode(utf8, strlen(utf8), mutf7);
	check_decode(mutf7, utf8, strlen(utf8));
}

#define PREFIX "prefix&"

/* The call fails with IMAP_ERR_INVALID and leaves a non-empty buffer as it
 * was, then the same for an empty buffer. */
static void check_invalid(int (*fn)(const char *, size_t, struct imap_buf *),
			  const char *in, size_t len, const char *what)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, PREFIX), 0);
	int rc = fn(in, len, &b);
	cr_assert_eq(rc, IMAP_ERR_INVALID, "%s: input #%zu bytes \"%.*s\": rc %d", what, len,
		     (int)len, in, rc);
	assert_buf(&b, L(PREFIX), what);
	imap_buf_free(&b);

	imap_buf_init(&b, 0);
	rc = fn(in, len, &b);
	cr_assert_eq(rc, IMAP_ERR_INVALID, "%s (empty buffer): rc %d", what, rc);
	cr_assert_eq(b.len, 0, "%s: len %zu after failure", what, b.len);
	if (b.data)
		cr_assert_eq(b.data[0], '\0');
	imap_buf_free(&b);
}

static void check_decode_invalid(const char *in, size_t len)
{
	check_invalid(imap_utf7_decode, in, len, "decode");
}

static void check_encode_invalid(const char *in, size_t len)
{
	check_invalid(imap_utf7_encode, in, len, "encode");
	cr_assert_eq(imap_utf8_validate(in, len), IMAP_ERR_INVALID,
		     "validate accepted what encode rejected");
}

/* ---- known pairs -------------------------------------------------------- */

Test(utf7, rfc3501_example)
{
	check_pair("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
}

Test(utf7, ampersand)
{
	check_pair("&", "&-");
	check_pair("a&b", "a&-b");
	check_pair("&&", "&-&-");
	check_pair("Tom & Jerry", "Tom &- Jerry");
	check_pair("&é", "&-&AOk-");
	check_pair("é&", "&AOk-&-");
}

Test(utf7, latin1_accent)
{
	check_pair("Données", "Donn&AOk-es");
	check_pair("é", "&AOk-");
	check_pair("éé", "&AOkA6Q-");
	check_pair("\xc2\x80", "&AIA-");
}

Test(utf7, cjk)
{
	check_pair("日本語", "&ZeVnLIqe-");
	check_pair("日", "&ZeU-");
	check_pair("台北", "&U,BTFw-");
	check_pair("\xef\xbf\xbf", "&,,8-"); /* U+FFFF */
}

Test(utf7, non_bmp_surrogate_pairs)
{
	check_pair("\xf0\x9f\x98\x80", "&2D3eAA-");                    /* U+1F600 */
	check_pair("\xf0\x9f\x98\x80\xf0\x9f\x98\x81", "&2D3eANg93gE-"); /* U+1F600 U+1F601 */
	check_pair("\xf0\x90\x80\x80", "&2ADcAA-");                    /* U+10000 */
	check_pair("\xf4\x8f\xbf\xbf", "&2,,f,w-");                    /* U+10FFFF */
	check_pair("Inbox \xf0\x9f\x98\x80!", "Inbox &2D3eAA-!");
}

Test(utf7, mixed_runs)
{
	check_pair("a日b", "a&ZeU-b");
	check_pair("日a日", "&ZeU-a&ZeU-");
	check_pair("Archive/2024/Données/日本語", "Archive/2024/Donn&AOk-es/&ZeVnLIqe-");
	/* Non-ASCII characters next to each other share one run. */
	check_pair("é日\xf0\x9f\x98\x80", "&AOll5dg93gA-");
}

Test(utf7, control_characters)
{
	check_pair("\t", "&AAk-");
	check_pair("\x7f", "&AH8-");
	check_pair("\x01", "&AAE-");
	check_pair("\r\n", "&AA0ACg-");
	check_pair("a\tb\x7f", "a&AAk-b&AH8-");
}

Test(utf7, plain_ascii_unchanged)
{
	const char *all = " !\"#$%'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
	check_pair(all, all);
	check_pair("INBOX", "INBOX");
	check_pair("-", "-");
	check_pair("a-b", "a-b");
}

Test(utf7, empty_string)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_utf7_encode("", 0, &b), 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(imap_utf7_decode("", 0, &b), 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(imap_utf8_validate("", 0), 0);
	cr_assert_eq(imap_utf7_needs_encoding("", 0), 0);
	imap_buf_free(&b);
}

Test(utf7, appends_after_existing_content)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, "x/"), 0);
	cr_assert_eq(imap_utf7_encode(L("日本語"), &b), 0);
	assert_buf(&b, L("x/&ZeVnLIqe-"), "encode append");
	cr_assert_eq(imap_utf7_decode(L("/&AOk-"), &b), 0);
	assert_buf(&b, L("x/&ZeVnLIqe-/é"), "decode append");
	imap_buf_free(&b);
}

Test(utf7, does_not_read_past_len)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	/* Only the first 6 bytes ("&AOk-a") belong to the name. */
	cr_assert_eq(imap_utf7_decode("&AOk-a&ZeU", 6, &b), 0);
	assert_buf(&b, L("éa"), "decode prefix");
	imap_buf_reset(&b, 0);
	/* "é" is 2 bytes; the trailing invalid byte is outside len. */
	cr_assert_eq(imap_utf7_encode("\xc3\xa9\xff", 2, &b), 0);
	assert_buf(&b, L("&AOk-"), "encode prefix");
	imap_buf_free(&b);
}

Test(utf7, long_names)
{
	struct imap_buf in, want, out;
	imap_buf_init(&in, 0);
	imap_buf_init(&want, 0);
	imap_buf_init(&out, 0);
	for (int i = 0; i < 500; i++) {
		cr_assert_eq(imap_buf_puts(&in, "日本語/"), 0);
		cr_assert_eq(imap_buf_puts(&want, "&ZeVnLIqe-/"), 0);
	}
	cr_assert_eq(imap_utf7_encode(in.data, in.len, &out), 0);
	assert_buf(&out, want.data, want.len, "long encode");
	imap_buf_reset(&out, 0);
	cr_assert_eq(imap_utf7_decode(want.data, want.len, &out), 0);
	assert_buf(&out, in.data, in.len, "long decode");

	/* One long run: 3000 "é" in a row, 3 units per 8 base64 characters. */
	imap_buf_reset(&in, 0);
	imap_buf_reset(&want, 0);
	imap_buf_reset(&out, 0);
	cr_assert_eq(imap_buf_putc(&want, '&'), 0);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(imap_buf_puts(&in, "ééé"), 0);
		cr_assert_eq(imap_buf_puts(&want, "AOkA6QDp"), 0);
	}
	cr_assert_eq(imap_buf_putc(&want, '-'), 0);
	cr_assert_eq(imap_utf7_encode(in.data, in.len, &out), 0);
	assert_buf(&out, want.data, want.len, "long run encode");
	imap_buf_reset(&out, 0);
	cr_assert_eq(imap_utf7_decode(want.data, want.len, &out), 0);
	assert_buf(&out, in.data, in.len, "long run decode");

	imap_buf_free(&in);
	imap_buf_free(&want);
	imap_buf_free(&out);
}

Test(utf7, round_trip_table)
{
	static const char *const names[] = {
		"INBOX", "Sent Items", "&", "&&&", "a&-b", "-&-", "~peter/mail/台北/日本語",
		"Données", "Überweisungen", "Корзина", "البريد", "שלום", "Ελληνικά",
		"日本語", "한국어", "\xf0\x9f\x98\x80", "\xf0\x9f\x93\xa7 Mail",
		"\t\x01\x1f\x7f", "a\177b", "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf",
		"\xed\x9f\xbf\xee\x80\x80", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		"x/y.z [Gmail]/All Mail", "é", "éé", "ééé", "éééé",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *n = names[i];
		struct imap_buf enc, dec;
		imap_buf_init(&enc, 0);
		imap_buf_init(&dec, 0);
		cr_assert_eq(imap_utf8_validate(n, strlen(n)), 0, "validate #%zu", i);
		cr_assert_eq(imap_utf7_encode(n, strlen(n), &enc), 0, "encode #%zu", i);
		cr_assert_eq(imap_utf7_needs_encoding(n, strlen(n)),
			     enc.len != strlen(n) || memcmp(enc.data, n, enc.len) != 0,
			     "needs_encoding #%zu", i);
		for (size_t k = 0; k < enc.len; k++)
			cr_assert(enc.data[k] >= 0x20 && enc.data[k] <= 0x7e, "#%zu byte %zu", i, k);
		cr_assert_eq(imap_utf7_decode(enc.data, enc.len, &dec), 0, "decode #%zu", i);
		assert_buf(&dec, n, strlen(n), "round trip");
		/* The encoding is canonical: encoding the decoded name again gives
		 * the same bytes. */
		struct imap_buf enc2;
		imap_buf_init(&enc2, 0);
		cr_assert_eq(imap_utf7_encode(dec.data, dec.len, &enc2), 0);
		assert_buf(&enc2, enc.data, enc.len, "re-encode");
		imap_buf_free(&enc);
		imap_buf_free(&enc2);
		imap_buf_free(&dec);
	}
}

/* ---- needs_encoding ----------------------------------------------------- */

Test(utf7, needs_encoding)
{
	cr_assert_eq(imap_utf7_needs_encoding(L("INBOX")), 0);
	cr_assert_eq(imap_utf7_needs_encoding(L("~peter/mail/x y-z")), 0);
	cr_assert_eq(imap_utf7_needs_encoding(L("a&b")), 1);
	cr_assert_eq(imap_utf7_needs_encoding(L("Données")), 1);
	cr_assert_eq(imap_utf7_needs_encoding(L("a\tb")), 1);
	cr_assert_eq(imap_utf7_needs_encoding(L("a\x7f")), 1);
	cr_assert_eq(imap_utf7_needs_encoding(L("a\0b")), 1);
	cr_assert_eq(imap_utf7_needs_encoding(L("\xff")), 1);
	/* Only len bytes are looked at. */
	cr_assert_eq(imap_utf7_needs_encoding("ab&", 2), 0);
}

/* ---- UTF-8 validation --------------------------------------------------- */

Test(utf7, utf8_validate_accepts)
{
	cr_assert_eq(imap_utf8_validate(L("plain ascii")), 0);
	cr_assert_eq(imap_utf8_validate(L("\x01\x7f")), 0);
	cr_assert_eq(imap_utf8_validate(L("\xc2\x80")), 0);         /* U+0080 */
	cr_assert_eq(imap_utf8_validate(L("\xdf\xbf")), 0);         /* U+07FF */
	cr_assert_eq(imap_utf8_validate(L("\xe0\xa0\x80")), 0);     /* U+0800 */
	cr_assert_eq(imap_utf8_validate(L("\xed\x9f\xbf")), 0);     /* U+D7FF */
	cr_assert_eq(imap_utf8_validate(L("\xee\x80\x80")), 0);     /* U+E000 */
	cr_assert_eq(imap_utf8_validate(L("\xef\xbf\xbf")), 0);     /* U+FFFF */
	cr_assert_eq(imap_utf8_validate(L("\xf0\x90\x80\x80")), 0); /* U+10000 */
	cr_assert_eq(imap_utf8_validate(L("\xf4\x8f\xbf\xbf")), 0); /* U+10FFFF */
	cr_assert_eq(imap_utf8_validate(L("日本語 Données")), 0);
	/* Only len bytes are looked at. */
	cr_assert_eq(imap_utf8_validate("ab\xff", 2), 0);
}

/* Ill-formed UTF-8: rejected by validate and by encode. */
Test(utf7, encode_rejects_invalid_utf8)
{
	check_encode_invalid(L("a\0b"));                     /* NUL */
	check_encode_invalid(L("\0"));                       /* NUL alone */
	check_encode_invalid(L("\xc3\xa9\0"));               /* NUL inside a run */
	check_encode_invalid(L("\x80"));                     /* stray continuation */
	check_encode_invalid(L("ab\xbf"));                   /* stray continuation */
	check_encode_invalid(L("\xc0\xaf"));                 /* overlong '/' */
	check_encode_invalid(L("\xc1\xbf"));                 /* overlong U+007F */
	check_encode_invalid(L("\xe0\x80\xaf"));             /* overlong, 3 bytes */
	check_encode_invalid(L("\xe0\x9f\xbf"));             /* overlong U+07FF */
	check_encode_invalid(L("\xf0\x80\x80\xaf"));         /* overlong, 4 bytes */
	check_encode_invalid(L("\xf0\x8f\xbf\xbf"));         /* overlong U+FFFF */
	check_encode_invalid(L("\xed\xa0\x80"));             /* U+D800 */
	check_encode_invalid(L("\xed\xbf\xbf"));             /* U+DFFF */
	check_encode_invalid(L("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
	check_encode_invalid(L("\xf4\x90\x80\x80"));         /* U+110000 */
	check_encode_invalid(L("\xf5\x80\x80\x80"));         /* lead F5 */
	check_encode_invalid(L("\xf8\x88\x80\x80\x80"));     /* 5-byte form */
	check_encode_invalid(L("\xfe"));
	check_encode_invalid(L("\xff"));
	check_encode_invalid(L("\xc3"));                     /* truncated at end */
	check_encode_invalid(L("\xe6\x97"));                 /* truncated at end */
	check_encode_invalid(L("\xf0\x9f\x98"));             /* truncated at end */
	check_encode_invalid(L("\xc3" "a"));                 /* truncated by ASCII */
	check_encode_invalid(L("\xe6\x97" "a"));
	check_encode_invalid(L("\xe6\xc3\xa9"));             /* truncated by a lead */
	check_encode_invalid(L("Donn\xc3\xa9" "es/\xff"));   /* valid runs, then bad */
}

/* ---- strict decoding ---------------------------------------------------- */

Test(utf7, decode_rejects_bytes_outside_printable_ascii)
{
	check_decode_invalid(L("a\x7f"));
	check_decode_invalid(L("a\tb"));
	check_decode_invalid(L("\x1f"));
	check_decode_invalid(L("a\0b"));
	check_decode_invalid(L("\x80"));
	check_decode_invalid(L("Donn\xc3\xa9" "es"));        /* raw UTF-8 */
	check_decode_invalid(L("&AOk\x80-"));                /* inside a run */
	check_decode_invalid(L("&AOk-\n"));
}

Test(utf7, decode_rejects_unterminated_run)
{
	check_decode_invalid(L("&"));
	check_decode_invalid(L("a&"));
	check_decode_invalid(L("&AOk"));
	check_decode_invalid(L("~peter/mail/&ZeVnLIqe"));
	check_decode_invalid(L("&ZeVnLIqe/x"));              /* '/' is not "-" */
}

Test(utf7, decode_rejects_bad_base64_character)
{
	check_decode_invalid(L("&AO/-"));   /* standard base64 '/', not ',' */
	check_decode_invalid(L("&AOk=-"));  /* no '=' padding */
	check_decode_invalid(L("&AO k-"));
	check_decode_invalid(L("&AOk&-"));  /* nested "&" */
	check_decode_invalid(L("&AO.k-"));
	check_decode_invalid(L("&_-"));
}

Test(utf7, decode_rejects_bad_padding)
{
	check_decode_invalid(L("&AOl-"));        /* 'l': padding bits 01 */
	check_decode_invalid(L("&AOm-"));        /* padding bits 10 */
	check_decode_invalid(L("&AOkA6R-"));     /* 4 padding bits, non-zero */
	check_decode_invalid(L("&ZeVnLB-"));     /* 4 padding bits, non-zero */
	/* 6 or more leftover bits: a base64 character with no unit. */
	check_decode_invalid(L("&AOkA-"));
	check_decode_invalid(L("&AOkA6QA-"));
	check_decode_invalid(L("&ZeVnLIqeA-"));
	check_decode_invalid(L("&ZeVnLIqeAA-"));
}

Test(utf7, decode_rejects_empty_run)
{
	/* "&-" is "&"; any other run must carry at least one unit. */
	check_decode_invalid(L("&A-"));
	check_decode_invalid(L("&AA-"));
	check_decode_invalid(L("a&"));
	check_decode_invalid(L("&-&"));
}

Test(utf7, decode_rejects_bad_surrogates)
{
	check_decode_invalid(L("&2D0-"));        /* high alone */
	check_decode_invalid(L("&2,8-"));        /* U+DBFF alone */
	check_decode_invalid(L("&3gA-"));        /* low alone */
	check_decode_invalid(L("&3,8-"));        /* U+DFFF alone */
	check_decode_invalid(L("&3gDYPQ-"));     /* low, high: reversed */
	check_decode_invalid(L("&2D0AQQ-"));     /* high, 'A' */
	check_decode_invalid(L("&2D3YPQ-"));     /* high, high */
	check_decode_invalid(L("&2D0-&3gA-"));   /* pair split across runs */
	check_decode_invalid(L("&AOnYPQ-"));     /* 'é', then high at the end */
}

Test(utf7, decode_rejects_nul)
{
	check_decode_invalid(L("&AAA-"));
	check_decode_invalid(L("&AOkAAA-"));
	check_decode_invalid(L("a&AAA-b"));
}

Test(utf7, decode_rejects_late_error_after_output)
{
	/* Plenty of good output before the error: all of it is rolled back. */
	check_decode_invalid(L("~peter/mail/&U,BTFw-/&ZeVnLIqe-/&"));
	check_decode_invalid(L("Donn&AOk-es&AOl-"));
}

/* Lenient by design (see utf7.h): non-canonical but unambiguous forms. */
Test(utf7, decode_accepts_noncanonical_runs)
{
	check_decode("&AGE-", L("a"));              /* printable ASCII in a run */
	check_decode("&ACY-", L("&"));              /* "&" in a run */
	check_decode("&AOk-&AOk-", L("éé"));        /* adjacent runs */

	/* Encoding them again yields the canonical form. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_utf7_encode(L("éé"), &b), 0);
	assert_buf(&b, L("&AOkA6Q-"), "canonical");
	imap_buf_free(&b);
}

/* ---- limits ------------------------------------------------------------- */

Test(utf7, limit_on_encode)
{
	struct imap_buf b;

	/* "&ZeVnLIqe-" is 10 bytes. */
	imap_buf_init(&b, 10);
	cr_assert_eq(imap_utf7_encode(L("日本語"), &b), 0);
	assert_buf(&b, L("&ZeVnLIqe-"), "exact fit");
	imap_buf_free(&b);

	for (size_t max = 1; max < 10; max++) {
		imap_buf_init(&b, max);
		cr_assert_eq(imap_utf7_encode(L("日本語"), &b), IMAP_ERR_LIMIT, "max %zu", max);
		cr_assert_eq(b.len, 0, "max %zu", max);
		imap_buf_free(&b);
	}

	imap_buf_init(&b, 10); /* "ab" + "a&-b&ZeU-" needs 11 */
	cr_assert_eq(imap_buf_puts(&b, "ab"), 0);
	cr_assert_eq(imap_utf7_encode(L("a&b日"), &b), IMAP_ERR_LIMIT);
	assert_buf(&b, L("ab"), "rolled back");
	imap_buf_free(&b);
}

Test(utf7, limit_on_decode)
{
	struct imap_buf b;

	/* "日本語" is 9 bytes of UTF-8. */
	imap_buf_init(&b, 9);
	cr_assert_eq(imap_utf7_decode(L("&ZeVnLIqe-"), &b), 0);
	assert_buf(&b, L("日本語"), "exact fit");
	imap_buf_free(&b);

	for (size_t max = 1; max < 9; max++) {
		imap_buf_init(&b, max);
		cr_assert_eq(imap_utf7_decode(L("&ZeVnLIqe-"), &b), IMAP_ERR_LIMIT, "max %zu", max);
		cr_assert_eq(b.len, 0, "max %zu", max);
		imap_buf_free(&b);
	}

	imap_buf_init(&b, 4);
	cr_assert_eq(imap_buf_puts(&b, "xy"), 0);
	cr_assert_eq(imap_utf7_decode(L("a&-b"), &b), IMAP_ERR_LIMIT);
	assert_buf(&b, L("xy"), "rolled back");
	imap_buf_free(&b);
}
