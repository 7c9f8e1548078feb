/*
 * imap/mail/charset.h — text in a MIME charset -> UTF-8.
 *
 * Mail declares its charset in a Content-Type parameter or an RFC 2047
 * encoded word, and the declaration is often wrong, misspelt or absent.
 * These functions always produce readable text: they never fail because of
 * the input, only because of the output buffer (its `max`) or memory.
 * Everything they append is well-formed UTF-8 without NUL bytes (a NUL in
 * the input becomes U+FFFD, so the result is safe as a C string); other
 * control characters (TAB, CR, LF ...) are kept, since bodies need them.
 *
 * Thread-safe: no state is shared between calls (an iconv descriptor is
 * opened and closed per call). No I/O. Inputs are borrowed, never read past
 * their lengths and need no NUL termination. On failure the output buffer
 * is rolled back to its length on entry (NUL-terminated there).
 */
#ifndef IMAPGW_IMAP_MAIL_CHARSET_H
#define IMAPGW_IMAP_MAIL_CHARSET_H

#include <stddef.h>

#include "imap/base/buf.h"

/* Append the UTF-8 form of in[0..len), text in the charset named by
 * charset[0..charset_len), to out.
 *
 * The name is case-insensitive; surrounding blanks and quotes and an
 * RFC 2231 language suffix ("utf-8*en") are ignored. Common misspellings
 * and aliases are understood, and some charsets are read as the superset
 * that mailers really produce:
 *   utf8                          -> UTF-8
 *   latin1, iso8859-1, iso-8859-1 -> windows-1252 (its printable superset)
 *   iso8859-N, iso_8859-N:1987    -> ISO-8859-N
 *   cp125N, win-125N              -> windows-125N
 *   ks_c_5601-1987, euc-kr        -> CP949
 *   gb2312, gbk, euc-cn           -> GB18030
 *   big5                          -> Big5-HKSCS
 *   shift_jis, x-sjis, sjis       -> CP932 (not glibc's SHIFT_JIS, which
 *                                    turns "\" and "~" into yen and overline)
 *   iso-2022-jp                   -> ISO-2022-JP-2 (adds half-width kana)
 *   unicode-1-1-utf-7, utf-7      -> UTF-7
 * any other name that iconv knows is used as it is.
 *
 * When the bytes are not valid in the named charset (a label that lies:
 * iso-2022-jp over UTF-8 or EUC-JP bytes), they are read as UTF-8 when they
 * are valid UTF-8, else in the first of a few charsets likely for that label
 * (Japanese: EUC-JP, CP932, ISO-2022-JP-2; Big5 -> GB18030; CP949 ->
 * ISO-2022-KR) in which they are valid. Only when none fits, invalid or
 * truncated sequences become U+FFFD and conversion goes on with the next
 * byte, so the rest of the text is never lost.
 *
 * Unknown charsets (x-user-defined, unknown-8bit, a name iconv lacks, an
 * empty or absurd name) and US-ASCII (which is routinely a lie): when the
 * bytes are valid UTF-8 they are kept as UTF-8, otherwise the whole input
 * is read as windows-1252. This still returns 0: callers want readable
 * text, not an error.
 *
 * Returns 0; IMAP_ERR_LIMIT when out would grow past its max;
 * IMAP_ERR_NOMEM. charset and in are borrowed (NULL allowed with length
 * 0); out is caller-owned. */
int imap_charset_to_utf8(const char *charset, size_t charset_len, const char *in,
			 size_t len, struct imap_buf *out);

/* Append in[0..len), text that should be UTF-8 but is not trusted (raw
 * 8-bit header bytes, an undeclared body), to out as valid UTF-8:
 * well-formed UTF-8 sequences are copied; every byte that is not part of
 * one is read as windows-1252, one byte at a time, so stray Latin-1 text
 * comes out readable ("Caf\xe9" -> "Café"); the five bytes windows-1252
 * leaves undefined (0x81 0x8d 0x8f 0x90 0x9d) and NUL become U+FFFD.
 * Returns 0, IMAP_ERR_LIMIT or IMAP_ERR_NOMEM (out rolled back).
 * in is borrowed; out is caller-owned. */
int imap_utf8_sanitize(const char *in, size_t len, struct imap_buf *out);

/* How imap_charset_to_utf8 reads the charset named by charset[0..len)
 * (the same name rules apply), for callers that second-guess a label:
 *   IMAP_CHARSET_UTF8    UTF-8 and its aliases;
 *   IMAP_CHARSET_LATIN1  ISO-8859-1, windows-1252 and their aliases (read
 *                        as windows-1252);
 *   IMAP_CHARSET_GUESS   US-ASCII, unknown-8bit and the like, and an empty
 *                        or unusable name (UTF-8 when valid, else
 *                        windows-1252);
 *   IMAP_CHARSET_OTHER   anything else (iconv, with the same guess when
 *                        iconv does not know the name).
 * charset is borrowed (NULL allowed with len 0). */
enum imap_charset_kind {
	IMAP_CHARSET_UTF8,
	IMAP_CHARSET_LATIN1,
	IMAP_CHARSET_GUESS,
	IMAP_CHARSET_OTHER,
};
enum imap_charset_kind imap_charset_kind(const char *charset, size_t len);

#endif
