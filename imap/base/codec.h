/*
 * imap/base/codec.h — the small decoders every layer shares: hexadecimal
 * digits, base64 (RFC 4648 §4 alphabet) and UTF-8 output.
 *
 * There is one of each. Percent-decoding (HTTP paths, RFC 2231 parameters,
 * List-Unsubscribe URIs), quoted-printable and RFC 2047 "Q" words read hex
 * digits here; RFC 2047 "B" words, SASL challenges, listing cursors and
 * Basic credentials decode base64 here, and the streaming transfer decoder
 * (imap/mail/cte.c) and modified UTF-7 (imap/mail/utf7.c) read the same
 * per-character table. Nothing here blocks or allocates except through the
 * caller's imap_buf.
 */
#ifndef IMAPGW_IMAP_BASE_CODEC_H
#define IMAPGW_IMAP_BASE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

/* ---- hexadecimal ---- */

/* The value of hex digit c ('0'-'9', 'a'-'f', 'A'-'F'), or -1 for any other
 * byte. Takes a char or an unsigned char alike. */
int imap_hex_digit(int c);

/* The octet spelled by the two hex digits p[0] p[1] (0-255), or -1 when
 * either is not a hex digit. Reads exactly two bytes; the caller checks
 * they are there. */
int imap_hex_octet(const char *p);

/* ---- base64 ---- */

/* 1 + the sextet of each byte of the RFC 4648 §4 alphabet (A-Z a-z 0-9 + /),
 * 0 for every other byte. A table, so that a streaming decoder can look a
 * byte up in its inner loop; use imap_base64_value. */
extern const unsigned char imap_base64_sextets[256];

/* The sextet (0-63) of alphabet byte c, or -1 ("=" included). */
static inline int imap_base64_value(unsigned char c)
{
	return (int)imap_base64_sextets[c] - 1;
}

enum imap_base64_mode {
	/*
	 * RFC 4648 §4 exactly, for text a client sends us (Authorization:
	 * Basic): the length is a multiple of 4; "=" appears only as the
	 * last one or two characters of the last quantum ("QQ==", "QUI=");
	 * no whitespace or other byte outside the alphabet; and the unused
	 * bits of a padded quantum are zero (RFC 4648 §3.5), so every byte
	 * string has exactly one accepted spelling.
	 */
	IMAP_BASE64_STRICT,
	/*
	 * As mail decoders read RFC 2047 "B" words: spaces and tabs anywhere
	 * are skipped; padding may be missing or short (at most two "=", and
	 * nothing but blanks after them); unused bits are ignored. Still
	 * invalid: any other byte, an alphabet byte after "=", and a last
	 * quantum of one sextet (six bits make no byte).
	 */
	IMAP_BASE64_LENIENT,
};

/* Decode in[0..len) (not NUL-terminated) into out[0..cap) and set
 * *out_len (0 on failure). At most len / 4 * 3 + 2 bytes come out. No NUL is
 * added. Returns 0; IMAP_ERR_INVALID when the text is not base64 under
 * `mode`; IMAP_ERR_LIMIT when the bytes do not fit in cap (out may then
 * hold part of them). */
int imap_base64_decode_to(const char *in, size_t len, enum imap_base64_mode mode,
                          void *out, size_t cap, size_t *out_len);

/* The same, appending the bytes to out, which keeps its trailing NUL. An
 * empty input appends nothing and is valid. Returns 0; IMAP_ERR_INVALID
 * when the text is not base64 under `mode` (out's contents unchanged); or
 * IMAP_ERR_LIMIT / IMAP_ERR_NOMEM from out (room for len / 4 * 3 + 3
 * bytes is reserved first, whatever the text). */
int imap_base64_decode(const char *in, size_t len, enum imap_base64_mode mode,
                       struct imap_buf *out);

/* ---- UTF-8 ---- */

/* Append code point cp as UTF-8 (one to four bytes). cp should be a Unicode
 * scalar value; a surrogate or anything above U+10FFFF is written as
 * U+FFFD. Returns 0 or an imap_buf_append error. */
int imap_utf8_put(struct imap_buf *out, uint32_t cp);

#endif
