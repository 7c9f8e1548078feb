/*
 * imap/base/codec.c — hex digits, base64, UTF-8 output. See codec.h.
 */
#include "imap/base/codec.h"

#include <stdbool.h>

#include "imap/base/error.h"

int imap_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int imap_hex_octet(const char *p)
{
	int hi = imap_hex_digit(p[0]);
	int lo = imap_hex_digit(p[1]);
	return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

/* ---- base64 (RFC 4648 §4) ----
 *
 *   encoded   = *quantum [ final ]
 *   quantum   = 4alpha
 *   final     = 2alpha "==" / 3alpha "="
 *   alpha     = ALPHA / DIGIT / "+" / "/"
 *
 * (the lenient mode also takes a final quantum of 2 or 3 alphas with
 * fewer or no "=", as mailers write them).
 */

const unsigned char imap_base64_sextets[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['/'] = 64,
};

int imap_base64_decode_to(const char *in, size_t len, enum imap_base64_mode mode,
                          void *out, size_t cap, size_t *out_len)
{
	bool strict = mode == IMAP_BASE64_STRICT;
	unsigned char *d = out;
	size_t w = 0;      /* bytes written to d */
	size_t q = 0;      /* sextets read */
	unsigned pad = 0;  /* "=" read */
	unsigned bits = 0; /* bits held in acc */
	uint32_t acc = 0;

	*out_len = 0;
	if (strict && len % 4)
		return IMAP_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!strict && (c == ' ' || c == '\t'))
			continue;
		if (c == '=') {
			/* Strict: "=" only in the last quantum, after two or
			 * three sextets ("QQ==", "QUI="). */
			if (++pad > 2 || (strict && (len - i > 2 || q % 4 < 2)))
				return IMAP_ERR_INVALID;
			continue;
		}
		int v = imap_base64_value(c);
		if (v < 0 || pad)
			return IMAP_ERR_INVALID;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		q++;
		if (bits >= 8) {
			if (w == cap)
				return IMAP_ERR_LIMIT;
			bits -= 8;
			d[w++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (q % 4 == 1)
		return IMAP_ERR_INVALID; /* six bits cannot make a byte */
	if (strict && acc != 0)
		return IMAP_ERR_INVALID; /* unused bits set: not the canonical spelling */
	*out_len = w;
	return 0;
}

int imap_base64_decode(const char *in, size_t len, enum imap_base64_mode mode,
                       struct imap_buf *out)
{
	size_t n;
	int rc = imap_buf_reserve(out, len / 4 * 3 + 3);
	if (rc)
		return rc;
	rc = imap_base64_decode_to(in, len, mode, out->data + out->len, out->cap - out->len, &n);
	out->len += n;  /* 0 on failure */
	out->data[out->len] = '\0';
	return rc;
}

/* ---- UTF-8 (RFC 3629 §3) ----
 *
 *   U+0000..U+007F     0xxxxxxx
 *   U+0080..U+07FF     110xxxxx 10xxxxxx
 *   U+0800..U+FFFF     1110xxxx 10xxxxxx 10xxxxxx
 *   U+10000..U+10FFFF  11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
 */
int imap_utf8_put(struct imap_buf *out, uint32_t cp)
{
	char u[4];
	size_t n;

	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return imap_buf_append(out, u, n);
}
