/*
 * imap/mail/mime.h — message parts for display and download: body text to
 * UTF-8, raw header blocks to decoded fields, and the Content-Disposition
 * of a download. (Transfer encodings are decoded by imap/mail/cte.h.)
 *
 * Pure functions: no I/O, no shared state, thread-safe. Inputs are
 * borrowed, never read past their lengths and need no NUL termination.
 * Functions that append to a caller's struct imap_buf roll it back to its
 * length on entry when they fail.
 */
#ifndef IMAPGW_IMAP_MAIL_MIME_H
#define IMAPGW_IMAP_MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/base/buf.h"

/* ---- body text ---- */

/* Append the text part in[0..len) (already transfer-decoded), declared in
 * charset[0..charset_len) (NULL, or blank, when the part names none), to
 * out as valid UTF-8 without NUL (other control characters, line breaks
 * included, are kept as they are).
 *
 * Conversion is imap_charset_to_utf8 (aliases, supersets, fallbacks for
 * unknown names), second-guessed where labels are known to lie:
 *   - a leading UTF-8 byte order mark means UTF-8, whatever the label, and
 *     is dropped; so is a leading U+FEFF produced by any other charset;
 *   - no charset declared: the bytes are untrusted (imap_utf8_sanitize:
 *     UTF-8 where they form it, otherwise windows-1252 byte by byte);
 *   - declared UTF-8: the same, so that stray Latin-1 bytes in a body
 *     labelled UTF-8 stay readable instead of becoming U+FFFD;
 *   - declared ISO-8859-1 or windows-1252 (and aliases), but the bytes are
 *     valid UTF-8 with some non-ASCII: they are kept as UTF-8 (Latin-1 text
 *     that happens to form valid UTF-8 is vanishingly rare);
 *   - declared US-ASCII or an unknown charset: as imap_charset_to_utf8
 *     already does, UTF-8 when valid, else windows-1252.
 * Returns 0; IMAP_ERR_LIMIT when out would grow past its max;
 * IMAP_ERR_NOMEM. charset and in are borrowed (NULL allowed with length
 * 0); out is caller-owned. */
int imap_mime_text_to_utf8(const char *charset, size_t charset_len, const char *in,
			   size_t len, struct imap_buf *out);

/* The length of the longest prefix of the UTF-8 text s[0..len) that is at
 * most max bytes and does not end inside a UTF-8 sequence: len when
 * len <= max, else max or up to 3 bytes less. *cut (when cut is non-NULL)
 * says whether that is less than len. For ill-formed input, only
 * well-formed sequences are protected. s is borrowed. */
size_t imap_mime_utf8_truncate(const char *s, size_t len, size_t max, bool *cut);

/* ---- header blocks ---- */

/* Default limits on a raw header block: the number of fields, and its
 * bytes (everything before the empty line that ends it). */
#define IMAP_MIME_HEADER_FIELDS_MAX 1000
#define IMAP_MIME_HEADER_BYTES_MAX (256 * 1024)

struct imap_mime_header_limits {
	size_t fields_max; /* more fields: IMAP_ERR_LIMIT */
	size_t bytes_max;  /* a longer block: IMAP_ERR_LIMIT */
};

/* Parse the raw header block in[0..len) (RFC 5322 §2.2, as returned by
 * IMAP BODY.PEEK[HEADER]: lines ending in CRLF or LF, up to an empty line
 * or the end of input; whatever follows the empty line is ignored) and
 * call field(ctx, name, name_len, value, value_len) for each field, in
 * order, duplicates included.
 *
 *   - name: the field name in lower case. A line that starts a field must
 *     have a name of printable US-ASCII (no blank, no ":") followed by
 *     optional blanks and ":"; any other line that is not a continuation
 *     (starts with a space or TAB) is skipped, together with its own
 *     continuation lines. So are continuation lines at the very top, and
 *     an mbox "From " line as the first line.
 *   - value: the field body, unfolded and decoded for display by
 *     imap_rfc2047_decode (encoded words decoded, 8-bit bytes sanitised,
 *     control characters other than TAB become spaces; valid UTF-8 without
 *     NUL), then trimmed of leading and trailing blanks.
 *
 * Both strings are NUL-terminated and borrowed for the duration of the
 * call. The callback returns 0 to go on, or an error that stops parsing
 * and is returned.
 *
 * The limits (NULL: IMAP_MIME_HEADER_FIELDS_MAX and
 * IMAP_MIME_HEADER_BYTES_MAX) are checked before any callback: more
 * fields than fields_max, or more than bytes_max bytes before the empty
 * line, give IMAP_ERR_LIMIT and no callback at all.
 * Returns 0, IMAP_ERR_LIMIT, IMAP_ERR_NOMEM or the callback's error.
 * in is borrowed (NULL allowed with len 0); ctx is passed through. */
int imap_mime_header_parse(const char *in, size_t len,
			   const struct imap_mime_header_limits *limits,
			   int (*field)(void *ctx, const char *name, size_t name_len,
					const char *value, size_t value_len),
			   void *ctx);

struct imap_mime_field {
	char *name;  /* lower case */
	char *value; /* decoded, trimmed UTF-8 */
};

/* All the fields of one header block, in order. */
struct imap_mime_header {
	struct imap_mime_field *v; /* n entries; NULL when n == 0 */
	size_t n;
};

/* The same parse as imap_mime_header_parse, collecting the fields into
 * *out (overwritten; need not be initialised). Returns 0,
 * IMAP_ERR_LIMIT or IMAP_ERR_NOMEM; on error *out is empty. The strings
 * are owned by *out; release them with imap_mime_header_free. */
int imap_mime_header_read(const char *in, size_t len,
			  const struct imap_mime_header_limits *limits,
			  struct imap_mime_header *out);

/* Free everything *h owns and leave it empty; harmless on an empty struct
 * or twice. h may be NULL. */
void imap_mime_header_free(struct imap_mime_header *h);

/* The value of the first field called `name` (any case), borrowed from *h,
 * or NULL when there is none. name is a C string. */
const char *imap_mime_header_get(const struct imap_mime_header *h, const char *name);

/* ---- downloads ---- */

/* Append a Content-Disposition header value for a download of a part
 * named by the UTF-8 filename[0..len) (RFC 6266, RFC 5987):
 *   attachment; filename="<fallback>"; filename*=UTF-8''<pct-encoded>
 * ("inline" instead of "attachment" when as_inline), or just "attachment"
 * / "inline" when there is no name (NULL, empty, or nothing left after the
 * clean-up below).
 *
 * The name is first cleaned: bytes that do not form UTF-8 are read as
 * windows-1252 (imap_utf8_sanitize), and control characters (C0, DEL,
 * C1, U+2028/U+2029) and bidirectional formatting characters (U+200E,
 * U+200F, U+202A..U+202E, U+2066..U+2069, which can disguise an
 * extension) are dropped. Then:
 *   fallback:    printable US-ASCII as it is, except '"' and '\' which
 *                become "_"; each non-ASCII character becomes one "_";
 *   pct-encoded: RFC 5987 attr-char (ALPHA DIGIT ! # $ & + - . ^ _ ` | ~)
 *                as it is, every other byte of the UTF-8 as %XX (upper-case
 *                hex).
 * The result never contains CR, LF, NUL or any other control character,
 * whatever the input: it is safe to put in a header as it is.
 * Returns 0, IMAP_ERR_LIMIT or IMAP_ERR_NOMEM (out rolled back).
 * filename is borrowed (NULL allowed); out is caller-owned. */
int imap_mime_content_disposition(const char *filename, size_t len, bool as_inline,
				  struct imap_buf *out);

#endif
