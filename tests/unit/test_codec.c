/*
 * tests/unit/test_codec.c — the shared decoders (imap/base/codec.h): hex
 * digits, base64 in both modes at every boundary, UTF-8 output.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "imap/base/codec.h"
#include "imap/base/error.h"

Test(codec, hex_digits)
{
	const char *digits = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		cr_expect_eq(imap_hex_digit(digits[i]), i);
		cr_expect_eq(imap_hex_digit((unsigned char)digits[i]), i);
	}
	cr_expect_eq(imap_hex_digit('A'), 10);
	cr_expect_eq(imap_hex_digit('F'), 15);
	for (int c = -128; c < 256; c++) {
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (!hex)
			cr_expect_eq(imap_hex_digit(c), -1, "byte %d", c);
	}
	cr_expect_eq(imap_hex_octet("00"), 0);
	cr_expect_eq(imap_hex_octet("fF"), 255);
	cr_expect_eq(imap_hex_octet("3d"), '=');
	cr_expect_eq(imap_hex_octet("g0"), -1);
	cr_expect_eq(imap_hex_octet("0g"), -1);
	cr_expect_eq(imap_hex_octet("\0" "0"), -1);
}

/* Decode s in mode; returns the rc, the bytes in *out (freed by the caller). */
static int decode(const char *s, enum imap_base64_mode mode, struct imap_buf *out)
{
	imap_buf_init(out, 0);
	return imap_base64_decode(s, strlen(s), mode, out);
}

static void expect_decodes(const char *s, enum imap_base64_mode mode, const char *want,
                           size_t want_len)
{
	struct imap_buf b;
	int rc = decode(s, mode, &b);
	cr_expect_eq(rc, 0, "\"%s\": rc %d", s, rc);
	if (rc == 0) {
		cr_expect_eq(b.len, want_len, "\"%s\": %zu bytes", s, b.len);
		cr_expect(b.len == want_len && memcmp(b.data, want, want_len) == 0, "\"%s\"", s);
		cr_expect_eq(b.data[b.len], '\0');
	}
	imap_buf_free(&b);
}

static void expect_invalid(const char *s, enum imap_base64_mode mode)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_buf_puts(&b, "kept");
	int rc = imap_base64_decode(s, strlen(s), mode, &b);
	cr_expect_eq(rc, IMAP_ERR_INVALID, "\"%s\" (mode %d): rc %d", s, (int)mode, rc);
	cr_expect_str_eq(b.data, "kept", "\"%s\": output left as it was", s);
	imap_buf_free(&b);
}

#define STRICT IMAP_BASE64_STRICT
#define LENIENT IMAP_BASE64_LENIENT

Test(codec, base64_rfc4648_vectors)
{
	/* RFC 4648 §10 */
	static const struct { const char *enc, *dec; } v[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
		{ "Zm9vYg==", "foob" }, { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		expect_decodes(v[i].enc, STRICT, v[i].dec, strlen(v[i].dec));
		expect_decodes(v[i].enc, LENIENT, v[i].dec, strlen(v[i].dec));
	}
	expect_decodes("+/+/", STRICT, "\xfb\xff\xbf", 3);
	expect_decodes("AAAA", STRICT, "\0\0\0", 3);
}

Test(codec, base64_strict_length_mod_4)
{
	/* Only whole quanta: lengths 1, 2, 3 (mod 4) are refused with or
	 * without padding, whatever the text. */
	expect_invalid("Z", STRICT);
	expect_invalid("Zg", STRICT);
	expect_invalid("Zm8", STRICT);
	expect_invalid("Zm9vY", STRICT);
	expect_invalid("Zm9vYg", STRICT);
	expect_invalid("Zm9vYmE", STRICT);
	expect_invalid("Zg=", STRICT);
	expect_invalid("Zm9vYg=", STRICT);
	/* The lenient mode takes missing padding, but never a lone sextet. */
	expect_decodes("Zg", LENIENT, "f", 1);
	expect_decodes("Zm8", LENIENT, "fo", 2);
	expect_decodes("Zg=", LENIENT, "f", 1);
	expect_invalid("Z", LENIENT);
	expect_invalid("Zm9vY", LENIENT);
	expect_invalid("Zm9vY=", LENIENT);
	expect_invalid("Zm9vY==", LENIENT);
}

Test(codec, base64_strict_padding)
{
	expect_invalid("Zg===", STRICT);
	expect_invalid("Zg=====", STRICT);
	expect_invalid("Zm9v====", STRICT);
	expect_invalid("Zm8==", STRICT);
	expect_invalid("Z===", STRICT);
	expect_invalid("====", STRICT);
	expect_invalid("Zm9v=", STRICT);
	expect_invalid("Zm9v==", STRICT);
	expect_invalid("Zg==Zm9v", STRICT);    /* "=" in the middle */
	expect_invalid("Zm8=Zm9v", STRICT);
	expect_invalid("Zm=vZm9v", STRICT);
	expect_invalid("Zg=A", STRICT);        /* alphabet after "=" */
	expect_invalid("Z=g=", STRICT);
	/* Unused bits must be zero: "Zh==" and "Zm9=" spell "f" and "fo" too. */
	expect_invalid("Zh==", STRICT);
	expect_invalid("Zm9=", STRICT);
	expect_decodes("Zh==", LENIENT, "f", 1);
	expect_decodes("Zm9=", LENIENT, "fo", 2);
	/* Lenient: at most two "=", nothing but blanks after them. */
	expect_invalid("Zg===", LENIENT);
	expect_invalid("Zg==Zm9v", LENIENT);
	expect_decodes("Zg== ", LENIENT, "f", 1);
}

Test(codec, base64_whitespace_and_illegal_bytes)
{
	expect_invalid(" Zm9v", STRICT);
	expect_invalid("Zm9v ", STRICT);
	expect_invalid("Zm 9v", STRICT);
	expect_invalid("Zm9v\r\nYmFy", STRICT);
	expect_invalid("Zm\t9", STRICT);
	expect_decodes(" Zm 9v\tYmFy ", LENIENT, "foobar", 6);
	expect_invalid("Zm9v\r\nYmFy", LENIENT);  /* only spaces and tabs */

	/* Every byte outside the alphabet and "=" is refused in both modes,
	 * in every position of a quantum. */
	for (int c = 1; c < 256; c++) {
		if (imap_base64_value((unsigned char)c) >= 0 || c == '=')
			continue;
		for (int pos = 0; pos < 4; pos++) {
			char s[] = "Zm9vYmFy";
			s[4 + pos] = (char)c;
			expect_invalid(s, STRICT);
			if (c != ' ' && c != '\t')
				expect_invalid(s, LENIENT);
		}
	}
	/* URL-safe and modified-UTF-7 letters are not in the alphabet. */
	expect_invalid("Zm-_", STRICT);
	expect_invalid("Zm,v", STRICT);
	/* An embedded NUL ends nothing: it is just an illegal byte. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_expect_eq(imap_base64_decode("Zm9v\0YmFy", 9, STRICT, &b), IMAP_ERR_INVALID);
	imap_buf_free(&b);
}

Test(codec, base64_table_is_the_alphabet)
{
	const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int n = 0;
	for (int c = 0; c < 256; c++)
		if (imap_base64_value((unsigned char)c) >= 0)
			n++;
	cr_expect_eq(n, 64);
	for (int i = 0; i < 64; i++)
		cr_expect_eq(imap_base64_value((unsigned char)alphabet[i]), i);
}

Test(codec, base64_every_length_round_trips)
{
	/* Encodings of 0..8 bytes (every length mod 3, so every final
	 * quantum shape), decoded in both modes. */
	static const char *const enc[] = {
		"", "/w==", "//4=", "//79", "//79/A==", "//79/Ps=", "//79/Pv6", "//79/Pv6+Q==",
		"//79/Pv6+fg=",
	};
	const char bytes[] = "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8";
	for (size_t n = 0; n < sizeof enc / sizeof enc[0]; n++) {
		expect_decodes(enc[n], STRICT, bytes, n);
		expect_decodes(enc[n], LENIENT, bytes, n);
	}
}

Test(codec, base64_decode_to_respects_cap)
{
	char out[4];
	size_t n = 99;
	cr_expect_eq(imap_base64_decode_to("Zm9vYmFy", 8, STRICT, out, 3, &n), IMAP_ERR_LIMIT);
	cr_expect_eq(n, 0);
	cr_expect_eq(imap_base64_decode_to("Zm9v", 4, STRICT, out, 3, &n), 0);
	cr_expect_eq(n, 3);
	cr_expect(memcmp(out, "foo", 3) == 0);

	struct imap_buf b;
	imap_buf_init(&b, 4);
	cr_expect_eq(imap_base64_decode("Zm9vYmFy", 8, STRICT, &b), IMAP_ERR_LIMIT);
	cr_expect_eq(b.len, 0);
	imap_buf_free(&b);
}

Test(codec, utf8_put)
{
	static const struct { uint32_t cp; const char *utf8; } v[] = {
		{ 0x41, "A" }, { 0x7f, "\x7f" }, { 0x80, "\xc2\x80" }, { 0xe9, "\xc3\xa9" },
		{ 0x7ff, "\xdf\xbf" }, { 0x800, "\xe0\xa0\x80" }, { 0x20ac, "\xe2\x82\xac" },
		{ 0xd7ff, "\xed\x9f\xbf" }, { 0xe000, "\xee\x80\x80" }, { 0xfffd, "\xef\xbf\xbd" },
		{ 0xffff, "\xef\xbf\xbf" }, { 0x10000, "\xf0\x90\x80\x80" },
		{ 0x1f600, "\xf0\x9f\x98\x80" }, { 0x10ffff, "\xf4\x8f\xbf\xbf" },
		/* not scalar values: U+FFFD */
		{ 0xd800, "\xef\xbf\xbd" }, { 0xdfff, "\xef\xbf\xbd" }, { 0x110000, "\xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct imap_buf b;
		imap_buf_init(&b, 0);
		cr_expect_eq(imap_utf8_put(&b, v[i].cp), 0);
		cr_expect_str_eq(b.data, v[i].utf8, "U+%04X", (unsigned)v[i].cp);
		imap_buf_free(&b);
	}
	struct imap_buf b;
	imap_buf_init(&b, 0);
	cr_expect_eq(imap_utf8_put(&b, 0), 0);
	cr_expect_eq(b.len, 1);
	cr_expect_eq(b.data[0], '\0');
	imap_buf_free(&b);

	imap_buf_init(&b, 2);
	cr_expect_eq(imap_utf8_put(&b, 0x20ac), IMAP_ERR_LIMIT);
	imap_buf_free(&b);
}
