/*
 * imap/mail/rfc2047.h — header text for display: RFC 2047 encoded words,
 * folding and raw 8-bit bytes -> one line of UTF-8.
 *
 * For unstructured header values (Subject, Comments) and the phrases of
 * structured ones (display names), as found in the raw header or in an
 * IMAP ENVELOPE. No I/O, no shared state (thread-safe); inputs are
 * borrowed, never read past their lengths and need no NUL termination.
 * On failure the output buffer is rolled back to its length on entry.
 */
#ifndef IMAPGW_IMAP_MAIL_RFC2047_H
#define IMAPGW_IMAP_MAIL_RFC2047_H

#include <stddef.h>

#include "imap/base/buf.h"

/* Append the decoded form of the header value in[0..len) to out.
 *
 *   - Unfolding (RFC 5322 §2.2.3): a line break (CRLF, LF or a lone CR)
 *     followed by a space or TAB is removed, the blank kept; one at the
 *     very end is dropped; any other becomes one space.
 *   - Encoded words "=?charset[*lang]?B|Q?text?=" (encoding letter in any
 *     case; Q: "_" is a space, "=XX" a byte, a "=" without two hex digits
 *     itself) are decoded and converted with imap_charset_to_utf8, so
 *     unknown charsets still yield readable text.
 *   - Blanks between two encoded words are dropped (RFC 2047 §6.2), and
 *     the bytes of adjacent words in the same charset are joined BEFORE
 *     conversion, so a character split across two words (common in UTF-8
 *     and ISO-2022-JP "B" words) comes out whole.
 *   - Lenient where mailers are not: encoded words inside quoted strings,
 *     comments or glued to other text ("Re:=?utf-8?q?x?=") are decoded, as
 *     are words whose text holds blanks or raw 8-bit bytes. A malformed
 *     word (base64 that cannot be decoded, an encoding letter other than
 *     B/Q, an empty charset, no closing "?=") stays as its literal text.
 *   - Text outside encoded words goes through imap_utf8_sanitize (stray
 *     Latin-1 bytes become readable), or is decoded as ISO-2022-JP when it
 *     carries that encoding's escape sequences.
 *   - The result is valid UTF-8 with no control characters other than
 *     TAB: NUL, other C0 controls, DEL and U+0080..U+009F each become a
 *     space (except that a NUL inside an encoded word, which must go
 *     through its charset, becomes U+FFFD).
 *   - Nothing is trimmed: leading and trailing blanks of the value stay.
 *
 * Returns 0; IMAP_ERR_LIMIT when out would grow past its max;
 * IMAP_ERR_NOMEM. in is borrowed (NULL allowed with len 0); out is
 * caller-owned. An empty input appends nothing. */
int imap_rfc2047_decode(const char *in, size_t len, struct imap_buf *out);

/* The pieces of a header value as imap_rfc2047_decode sees them, for a
 * caller that decodes them its own way (a sort key): after unfolding, in
 * order, text outside encoded words goes to text() (raw bytes, never
 * empty) and each run of adjacent encoded words in one charset to words()
 * (the decoded bytes joined, still in charset cs[0..cs_len), never empty).
 * Blanks between adjacent encoded words are dropped, malformed words are
 * text, as in imap_rfc2047_decode. A callback's non-zero return stops the
 * walk and is returned. */
struct imap_rfc2047_sink {
	int (*text)(void *ctx, const char *s, size_t n);
	int (*words)(void *ctx, const char *cs, size_t cs_len, const char *s, size_t n);
	void *ctx;
};

/* Walk in[0..len) (NULL allowed with len 0) into sink. Returns 0, a
 * callback's return, or IMAP_ERR_NOMEM. */
int imap_rfc2047_walk(const char *in, size_t len, const struct imap_rfc2047_sink *sink);

/* Cheap scan: 0 when imap_rfc2047_decode would append s[0..len) unchanged
 * (printable US-ASCII and TAB only, no "=?"), 1 otherwise — when the value
 * holds "=?", a byte >= 0x80, or a control character (line breaks
 * included). s is borrowed. */
int imap_rfc2047_needs_decoding(const char *s, size_t len);

#endif
