/*
 * tests/unit/test_charset.c — MIME charsets -> UTF-8 (imap/mail/charset.h).
 * Every expectation is exact bytes; every output is checked to be valid
 * UTF-8 without NUL.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/charset.h"
#include "imap/mail/utf7.h"

/* A literal and its size (literals here may contain NUL). */
#define L(s) (s), (sizeof(s) - 1)
#define FFFD "\xef\xbf\xbd"

static void assert_utf8_out(const struct imap_buf *b, const char *what)
{
	if (b->len == 0)
		return;
	cr_assert_eq(imap_utf8_validate(b->data, b->len), 0, "%s: output not valid UTF-8: \"%.*s\"",
		     what, (int)b->len, b->data);
	cr_assert_eq(b->data[b->len], '\0', "%s: not NUL-terminated", what);
}

static void check_conv(const char *cs, const char *in, size_t len, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = imap_charset_to_utf8(cs, strlen(cs), in, len, &b);
	cr_assert_eq(rc, 0, "charset \"%s\": rc %d", cs, rc);
	cr_assert_eq(b.len, strlen(want), "charset \"%s\": got \"%.*s\" (%zu bytes), want \"%s\"", cs,
		     (int)b.len, b.data ? b.data : "", b.len, want);
	cr_assert(b.len == 0 || memcmp(b.data, want, b.len) == 0,
		  "charset \"%s\": got \"%.*s\", want \"%s\"", cs, (int)b.len, b.data, want);
	assert_utf8_out(&b, cs);
	imap_buf_free(&b);
}

#define CONV(cs, in, want) check_conv((cs), L(in), (want))

static void check_sanitize(const char *in, size_t len, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_utf8_sanitize(in, len, &b), 0);
	cr_assert_eq(b.len, strlen(want), "sanitize: got \"%.*s\", want \"%s\"", (int)b.len,
		     b.data ? b.data : "", want);
	cr_assert(b.len == 0 || memcmp(b.data, want, b.len) == 0, "sanitize: got \"%.*s\", want \"%s\"",
		  (int)b.len, b.data, want);
	assert_utf8_out(&b, "sanitize");
	imap_buf_free(&b);
}

#define SANITIZE(in, want) check_sanitize(L(in), (want))

Test(charset, utf8_and_its_spellings)
{
	CONV("UTF-8", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x8e\x89", "héllo € 🎉");
	CONV("utf8", "h\xc3\xa9", "hé");
	CONV("Utf-8*en", "h\xc3\xa9", "hé");          /* RFC 2231 language suffix */
	CONV("  \"utf-8\" ", "h\xc3\xa9", "hé");     /* quoted, with blanks */
	CONV("UNICODE-1-1-UTF-8", "h\xc3\xa9", "hé");
}

Test(charset, utf8_invalid_sequences_become_replacement_and_go_on)
{
	CONV("utf-8", "a\xff" "b", "a" FFFD "b");
	/* A truncated sequence is one U+FFFD (its maximal subpart), and the
	 * byte after it is read normally. */
	CONV("utf-8", "a\xe2\x82" "c", "a" FFFD "c");
	CONV("utf-8", "\xe2\x82", FFFD);
	/* Overlong, surrogate, above U+10FFFF: one U+FFFD per bad byte. */
	CONV("utf-8", "\xc0\xaf", FFFD FFFD);
	CONV("utf-8", "\xed\xa0\x80", FFFD FFFD FFFD);
	CONV("utf-8", "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
	CONV("utf-8", "x\xf0\x9f\x8e", "x" FFFD);
}

Test(charset, nul_never_reaches_the_output)
{
	CONV("utf-8", "a\0b", "a" FFFD "b");
	CONV("iso-8859-1", "a\0\xe9", "a" FFFD "é");
	CONV("koi8-r", "a\0b", "a" FFFD "b");          /* ASCII-only fast path */
	CONV("koi8-r", "\xf0\0\xd2", "П" FFFD "р");    /* through iconv */
	CONV("x-unknown-thing", "a\0b", "a" FFFD "b");
}

Test(charset, latin1_family_is_read_as_windows_1252)
{
	CONV("ISO-8859-1", "caf\xe9", "café");
	CONV("iso8859-1", "caf\xe9", "café");
	CONV("ISO_8859-1:1987", "caf\xe9", "café");
	CONV("iso88591", "caf\xe9", "café");
	CONV("latin1", "caf\xe9", "café");
	CONV("Latin-1", "caf\xe9", "café");
	CONV("iso-8859-1*fr", "caf\xe9", "café");
	/* C1 bytes in "Latin-1" mail are Windows punctuation. */
	CONV("iso-8859-1", "\x93quoted\x94 \x85", "“quoted” …");
	CONV("windows-1252", "\x80 5 \x99", "€ 5 ™");
	CONV("cp1252", "\x80", "€");
	CONV("win-1252", "\x80", "€");
	/* The five bytes windows-1252 leaves undefined. */
	CONV("windows-1252", "\x81\x8d\x8f\x90\x9d", FFFD FFFD FFFD FFFD FFFD);
}

Test(charset, iso8859_parts)
{
	CONV("iso-8859-2", "\xb3\xf3" "d\xbc", "łódź");
	CONV("ISO8859-2", "\xb3\xf3" "d\xbc", "łódź");
	CONV("iso_8859-2", "\xb3\xf3" "d\xbc", "łódź");
	CONV("iso-8859-15", "\xa4", "€");
	CONV("ISO-8859-8-I", "\xf9\xec\xe5\xed", "שלום");
	CONV("iso-8859-5", "\xbf\xe0\xd8\xd2\xd5\xe2", "Привет");
}

Test(charset, cyrillic)
{
	CONV("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет");
	CONV("KOI8-U", "\xa4", "є");
	CONV("windows-1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет");
	CONV("cp1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет");
	CONV("WIN-1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет");
	CONV("x-cp1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет");
}

Test(charset, korean_is_read_as_cp949)
{
	CONV("ks_c_5601-1987", "\xc7\xd1\xb1\xb9", "한국");
	CONV("KS_C_5601-1987", "\xc7\xd1\xb1\xb9", "한국");
	CONV("euc-kr", "\xc7\xd1\xb1\xb9", "한국");
	/* A UHC (CP949) extension character that plain EUC-KR lacks. */
	CONV("euc-kr", "\x81\x41", "갂");
	/* An invalid byte costs one U+FFFD, not the rest of the text. */
	CONV("euc-kr", "\xc7\xd1\xff\xb1\xb9", "한" FFFD "국");
}

Test(charset, chinese)
{
	CONV("gb2312", "\xd6\xd0\xce\xc4", "中文");
	CONV("GB2312", "\xd6\xd0\xce\xc4", "中文");
	CONV("gbk", "\xd6\xd0\xce\xc4", "中文");
	/* GB18030 four-byte form: only the superset knows it. */
	CONV("gb2312", "\x81\x30\x81\x30", "\xc2\x80");
	CONV("big5", "\xa4\xa4\xa4\xe5", "中文");
	CONV("Big5", "\xa4\xa4\xa4\xe5", "中文");
	CONV("big5-hkscs", "\xa4\xa4\xa4\xe5", "中文");
}

Test(charset, japanese)
{
	CONV("shift_jis", "\x93\xfa\x96\x7b", "日本");
	CONV("Shift-JIS", "\x93\xfa\x96\x7b", "日本");
	CONV("x-sjis", "\x93\xfa\x96\x7b", "日本");
	CONV("sjis", "\x93\xfa\x96\x7b", "日本");
	CONV("windows-31j", "\x93\xfa\x96\x7b", "日本");
	/* Read as CP932: backslash and tilde stay ASCII (glibc's SHIFT_JIS
	 * would give U+00A5 and U+203E, breaking paths and URLs). */
	CONV("shift_jis", "C:\\dir ~x \x93\xfa", "C:\\dir ~x 日");
	/* NEC row 13 (circled digit one), a CP932 extension. */
	CONV("shift_jis", "\x87\x40", "①");
	CONV("shift_jis", "\x93", FFFD); /* truncated at the end */
	CONV("euc-jp", "\xc6\xfc\xcb\xdc", "日本");
	CONV("iso-2022-jp", "\x1b$B$3$s$K$A$O\x1b(B", "こんにちは");
	CONV("ISO-2022-JP", "abc \x1b$B$3\x1b(B def", "abc こ def");
	/* Half-width katakana (ESC ( I), which strict ISO-2022-JP rejects. */
	CONV("iso-2022-jp", "\x1b(I1\x1b(B", "ｱ");
	/* Unterminated: the converter is flushed, text is not lost. */
	CONV("iso-2022-jp", "\x1b$B$3$s", "こん");
}

Test(charset, utf7_and_others_through_iconv)
{
	CONV("utf-7", "Hi Mom -+Jjo--!", "Hi Mom -☺-!");
	CONV("unicode-1-1-utf-7", "Hi Mom -+Jjo--!", "Hi Mom -☺-!");
	CONV("UTF-16LE", "h\0i\0", "hi");
	CONV("UTF-16BE", "\0h\0\xe9", "hé");
	CONV("utf-16le", "h\0i", "h" FFFD); /* odd length: truncated unit */
	CONV("macintosh", "\x8e", "é");
	CONV("x-mac-roman", "\x8e", "é");
	CONV("tis-620", "\xa1", "ก");
	CONV("windows-874", "\xa1", "ก");
	CONV("windows-1250", "\x8a", "Š");
}

Test(charset, unknown_charset_keeps_utf8_else_windows_1252)
{
	CONV("x-user-defined", "h\xc3\xa9", "hé");
	CONV("x-user-defined", "caf\xe9", "café");
	CONV("unknown-8bit", "caf\xe9", "café");
	CONV("no-such-charset-at-all", "h\xc3\xa9", "hé");
	CONV("no-such-charset-at-all", "caf\xe9 \x80", "café €");
	/* Not valid UTF-8 as a whole: every byte is windows-1252, even a pair
	 * that would be UTF-8 on its own. */
	CONV("x-foo", "\xc3\xa9 \xe9", "Ã© é");
	CONV("", "caf\xe9", "café");
	/* Names iconv would parse as options are not passed to it. */
	CONV("utf-8//TRANSLIT", "caf\xe9", "café");
	CONV("UTF-8//IGNORE", "h\xc3\xa9", "hé");
	CONV("iso-8859-1,utf-8", "h\xc3\xa9", "hé");
	/* An absurdly long name. */
	CONV("iso-8859-1-is-what-this-name-starts-with-but-it-goes-on-and-on", "h\xc3\xa9", "hé");

	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_charset_to_utf8(NULL, 0, L("caf\xe9"), &b), 0);
	cr_assert_str_eq(b.data, "café");
	imap_buf_free(&b);
}

Test(charset, us_ascii_that_lies)
{
	CONV("us-ascii", "plain", "plain");
	/* Says US-ASCII, is UTF-8: keep it. */
	CONV("us-ascii", "J\xc3\xb6rg \xe2\x82\xac", "Jörg €");
	CONV("ASCII", "J\xc3\xb6rg", "Jörg");
	/* Says US-ASCII, has 8-bit bytes that are not UTF-8: windows-1252. */
	CONV("us-ascii", "J\xf6rg \x80", "Jörg €");
	CONV("ANSI_X3.4-1968", "J\xf6rg", "Jörg");
}

Test(charset, kind_of_a_label)
{
	cr_assert_eq(imap_charset_kind(L("UTF-8")), IMAP_CHARSET_UTF8);
	cr_assert_eq(imap_charset_kind(L("utf8")), IMAP_CHARSET_UTF8);
	cr_assert_eq(imap_charset_kind(L("\"utf-8\"")), IMAP_CHARSET_UTF8);
	cr_assert_eq(imap_charset_kind(L("utf-8*en")), IMAP_CHARSET_UTF8);
	cr_assert_eq(imap_charset_kind(L("ISO-8859-1")), IMAP_CHARSET_LATIN1);
	cr_assert_eq(imap_charset_kind(L(" iso8859-1 ")), IMAP_CHARSET_LATIN1);
	cr_assert_eq(imap_charset_kind(L("latin1")), IMAP_CHARSET_LATIN1);
	cr_assert_eq(imap_charset_kind(L("windows-1252")), IMAP_CHARSET_LATIN1);
	cr_assert_eq(imap_charset_kind(L("cp1252")), IMAP_CHARSET_LATIN1);
	cr_assert_eq(imap_charset_kind(L("us-ascii")), IMAP_CHARSET_GUESS);
	cr_assert_eq(imap_charset_kind(L("unknown-8bit")), IMAP_CHARSET_GUESS);
	cr_assert_eq(imap_charset_kind(L("")), IMAP_CHARSET_GUESS);
	cr_assert_eq(imap_charset_kind(NULL, 0), IMAP_CHARSET_GUESS);
	cr_assert_eq(imap_charset_kind(L("utf-8//TRANSLIT")), IMAP_CHARSET_GUESS);
	cr_assert_eq(imap_charset_kind(L("iso-8859-15")), IMAP_CHARSET_OTHER);
	cr_assert_eq(imap_charset_kind(L("koi8-r")), IMAP_CHARSET_OTHER);
	cr_assert_eq(imap_charset_kind(L("shift_jis")), IMAP_CHARSET_OTHER);
	cr_assert_eq(imap_charset_kind(L("x-foo")), IMAP_CHARSET_OTHER);
	/* Only the first len bytes count. */
	cr_assert_eq(imap_charset_kind("utf-8", 3), IMAP_CHARSET_OTHER);
}

Test(charset, empty_input_appends_nothing)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_charset_to_utf8(L("utf-8"), NULL, 0, &b), 0);
	cr_assert_eq(imap_charset_to_utf8(L("iso-2022-jp"), "", 0, &b), 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(imap_utf8_sanitize(NULL, 0, &b), 0);
	cr_assert_eq(b.len, 0);
	imap_buf_free(&b);
}

Test(charset, appends_after_existing_content)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, "A:"), 0);
	cr_assert_eq(imap_charset_to_utf8(L("koi8-r"), L("\xf0\xd2"), &b), 0);
	cr_assert_eq(imap_charset_to_utf8(L("latin1"), L("\xe9"), &b), 0);
	cr_assert_str_eq(b.data, "A:Прé");
	imap_buf_free(&b);
}

/* Output that would pass the buffer's max fails with LIMIT and leaves the
 * buffer exactly as it was, on every path (native and iconv). */
Test(charset, limit_rolls_back)
{
	static const struct {
		const char *cs, *in;
	} cases[] = {
		{ "utf-8", "h\xc3\xa9llo w\xc3\xb6rld, this is long enough" },
		{ "latin1", "caf\xe9 caf\xe9 caf\xe9 caf\xe9 caf\xe9 caf\xe9" },
		{ "x-unknown", "caf\xe9 caf\xe9 caf\xe9 caf\xe9 caf\xe9 caf\xe9" },
		{ "koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4 \xf0\xd2\xc9\xd7\xc5\xd4 \xf0\xd2\xc9\xd7\xc5\xd4" },
		{ "iso-2022-jp", "\x1b$B$3$s$K$A$O$3$s$K$A$O$3$s$K$A$O\x1b(B" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (size_t max = 3; max < 40; max++) {
			struct imap_buf b;
			imap_buf_init(&b, max);
			cr_assert_eq(imap_buf_puts(&b, "ab"), 0);
			int rc = imap_charset_to_utf8(cases[i].cs, strlen(cases[i].cs), cases[i].in,
						      strlen(cases[i].in), &b);
			if (rc == 0) {
				cr_assert_leq(b.len, max);
				assert_utf8_out(&b, cases[i].cs);
			} else {
				cr_assert_eq(rc, IMAP_ERR_LIMIT, "%s max %zu: rc %d", cases[i].cs, max, rc);
				cr_assert_eq(b.len, 2);
				cr_assert_str_eq(b.data, "ab");
			}
			imap_buf_free(&b);
		}
	}
	struct imap_buf b;
	imap_buf_init(&b, 4);
	cr_assert_eq(imap_utf8_sanitize(L("caf\xe9!"), &b), IMAP_ERR_LIMIT);
	cr_assert_eq(b.len, 0);
	imap_buf_free(&b);
}

Test(charset, sanitize_copies_utf8_and_reads_stray_bytes_as_windows_1252)
{
	SANITIZE("plain ascii\ttab", "plain ascii\ttab");
	SANITIZE("J\xc3\xb6rg \xf0\x9f\x8e\x89", "Jörg 🎉");
	SANITIZE("Caf\xe9", "Café");
	SANITIZE("\x93hi\x94", "“hi”");
	SANITIZE("Jörg and J\xf6rg", "Jörg and Jörg"); /* mixed, per byte */
	SANITIZE("\x81", FFFD);                         /* undefined in 1252 */
	SANITIZE("a\0b", "a" FFFD "b");
	SANITIZE("\xe2\x82", "â‚");                    /* truncated UTF-8 */
	SANITIZE("\xc0\xaf", "À¯");                     /* overlong */
	SANITIZE("\xed\xa0\x80", "í\xc2\xa0€");         /* surrogate */
	SANITIZE("\xff\xfe", "ÿþ");
}

/* Pseudo-random bytes through every charset path: always rc 0 and valid
 * UTF-8 without NUL. */
Test(charset, random_bytes_always_give_valid_utf8)
{
	static const char *const names[] = {
		"utf-8", "us-ascii", "iso-8859-1", "iso-8859-2", "windows-1251", "koi8-r",
		"euc-kr", "gb2312", "big5", "shift_jis", "euc-jp", "iso-2022-jp", "utf-7",
		"utf-16le", "UTF-32", "x-user-defined", "",
	};
	uint32_t seed = 12345;
	char in[64];
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)(round % 64);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			in[k] = (char)(seed >> 16);
			if (round % 3 == 0 && (seed & 0x100))
				in[k] = '\x1b';
		}
		for (size_t c = 0; c < sizeof names / sizeof names[0]; c++) {
			struct imap_buf b;
			imap_buf_init(&b, 0);
			cr_assert_eq(imap_charset_to_utf8(names[c], strlen(names[c]), in, n, &b), 0);
			if (b.len)
				cr_assert_eq(imap_utf8_validate(b.data, b.len), 0, "%s round %d", names[c], round);
			imap_buf_free(&b);
		}
		struct imap_buf b;
		imap_buf_init(&b, 0);
		cr_assert_eq(imap_utf8_sanitize(in, n, &b), 0);
		if (b.len)
			cr_assert_eq(imap_utf8_validate(b.data, b.len), 0);
		imap_buf_free(&b);
	}
}

/* Many threads converting at once get the same answers as one. */
static void *convert_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300; i++) {
		struct imap_buf b;
		imap_buf_init(&b, 0);
		int rc = imap_charset_to_utf8(L("iso-2022-jp"), L("\x1b$B$3$s\x1b(B"), &b);
		rc |= imap_charset_to_utf8(L("koi8-r"), L("\xf0\xd2"), &b);
		rc |= imap_charset_to_utf8(L("latin1"), L("\xe9"), &b);
		bool ok = rc == 0 && b.data && strcmp(b.data, "こんПрé") == 0;
		imap_buf_free(&b);
		if (!ok)
			return (void *)1;
	}
	return NULL;
}

Test(charset, thread_safe)
{
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, convert_many, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *res;
		cr_assert_eq(pthread_join(t[i], &res), 0);
		cr_assert_null(res, "thread %d got a wrong result", i);
	}
}

/* More charsets than a thread keeps open, in turn, several rounds: every
 * answer as in the first round; a stateful converter left inside an
 * escape sequence starts afresh for the next text. */
Test(charset, kept_descriptors_are_reused_and_reset)
{
	static const struct {
		const char *cs, *in, *want;
	} t[] = {
		{"koi8-r", "\xf0\xd2", "Пр"},
		{"iso-8859-2", "\xb1", "ą"},
		{"iso-8859-5", "\xbf", "П"},
		{"iso-8859-7", "\xe1", "α"},
		{"windows-1251", "\xcf", "П"},
		{"windows-1250", "\xb9", "ą"},
		{"cp866", "\x8f", "П"},
		{"gb2312", "\xc4\xe3", "你"},
		{"big5", "\xa7\x41", "你"},
		{"euc-kr", "\xb0\xa1", "가"},
		{"shift_jis", "\x82\xa0", "あ"},
		{"iso-2022-jp", "\x1b$B$3\x1b(B", "こ"},
	};
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
			struct imap_buf b;
			imap_buf_init(&b, 0);
			cr_assert_eq(imap_charset_to_utf8(t[i].cs, strlen(t[i].cs), t[i].in,
			                                  strlen(t[i].in), &b), 0);
			cr_expect_str_eq(b.data ? b.data : "", t[i].want, "%s, round %d", t[i].cs, round);
			imap_buf_free(&b);
		}
		/* cut inside the two-byte mode: the next text is read from ASCII mode */
		struct imap_buf b;
		imap_buf_init(&b, 0);
		imap_charset_to_utf8(L("iso-2022-jp"), L("\x1b$B$3"), &b);
		imap_buf_free(&b);
		imap_buf_init(&b, 0);
		cr_assert_eq(imap_charset_to_utf8(L("iso-2022-jp"), L("$3"), &b), 0);
		cr_expect_str_eq(b.data ? b.data : "", "$3", "round %d", round);
		imap_buf_free(&b);
	}
}
