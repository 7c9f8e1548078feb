/*
 * imap/mail/utf7.h — mailbox names: modified UTF-7 (RFC 3501 §5.1.3) <-> UTF-8,
 * and a strict UTF-8 validator.
 *
 * The HTTP side speaks UTF-8; IMAP4rev1 servers name mailboxes in modified
 * UTF-7. These functions convert between the two. They do no I/O, keep no
 * state, never read past `len` and never rely on NUL termination of their
 * input. Output is appended to a caller-owned struct imap_buf (see buf.h),
 * whose `max` bounds the memory a hostile name can make us use.
 *
 * On any failure the output buffer is rolled back to the length it had on
 * entry, NUL-terminated there as buf.h promises (its storage may have
 * grown), so a caller can append several names to one buffer and lose
 * nothing but the name that failed.
 */
#ifndef IMAPGW_IMAP_MAIL_UTF7_H
#define IMAPGW_IMAP_MAIL_UTF7_H

#include <stddef.h>

#include "imap/base/buf.h"

/* Check that s[0..len) is well-formed UTF-8 and contains no NUL byte.
 * Rejected: stray continuation bytes, truncated sequences, overlong forms
 * (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates U+D800..U+DFFF,
 * code points above U+10FFFF (F4 90.., F5..FF).
 * Returns 0 when valid, IMAP_ERR_INVALID otherwise. s is borrowed. */
/* The length (1 to 4) of the well-formed UTF-8 sequence at s[0..len)
 * (len >= 1; NUL counts as a 1-byte sequence), or 0 when it is ill-formed,
 * with *bad set to the length of its maximal subpart (>= 1), which a
 * repairing decoder replaces by one U+FFFD (Unicode §3.9). */
size_t imap_utf8_seq(const char *s, size_t len, size_t *bad);

int imap_utf8_validate(const char *s, size_t len);

/* Append the modified UTF-7 form of the UTF-8 mailbox name utf8[0..len) to
 * out. Printable US-ASCII (0x20..0x7e) stands for itself, except "&" which
 * becomes "&-"; every maximal run of other characters (including the
 * controls 0x01..0x1f and 0x7f) becomes "&" + modified base64 of its UTF-16BE
 * form + "-". The output is the canonical form, which imap_utf7_decode
 * accepts and maps back to exactly utf8[0..len).
 * Returns 0; IMAP_ERR_INVALID when the input is not valid UTF-8 or contains
 * NUL (see imap_utf8_validate); IMAP_ERR_LIMIT or IMAP_ERR_NOMEM from the
 * buffer. On error out is rolled back to its length on entry.
 * utf8 is borrowed; out is caller-owned. An empty input appends nothing. */
int imap_utf7_encode(const char *utf8, size_t len, struct imap_buf *out);

/* Append the UTF-8 form of the modified UTF-7 mailbox name mutf7[0..len)
 * (as received from a server) to out. The result always passes
 * imap_utf8_validate.
 * Strict: IMAP_ERR_INVALID for a byte outside 0x20..0x7e; a "&" run not
 * closed by "-"; a character outside the modified base64 alphabet
 * (A-Z a-z 0-9 + ,) inside a run; a run whose length is not whole UTF-16
 * units plus fewer than 6 zero padding bits (non-zero padding bits, or a
 * dangling base64 character); an unpaired or reversed surrogate (pairs may
 * not span two runs); a run that encodes U+0000; an empty run other than
 * "&-" (which is how "&" itself is written).
 * Lenient, deliberately: a run that encodes printable US-ASCII (which a
 * conforming encoder writes directly, e.g. "&AGE-" for "a") and two adjacent
 * runs that a conforming encoder would have merged ("&AOk-&AOk-") are
 * accepted and decoded; no real server produces them and rejecting them
 * would only make such a mailbox unreachable. Consequently
 * encode(decode(x)) == x only for canonical x, while
 * decode(encode(y)) == y for every valid y.
 * Returns 0; IMAP_ERR_INVALID as above; IMAP_ERR_LIMIT or IMAP_ERR_NOMEM
 * from the buffer. On error out is rolled back to its length on entry.
 * mutf7 is borrowed; out is caller-owned. An empty input appends nothing. */
int imap_utf7_decode(const char *mutf7, size_t len, struct imap_buf *out);

/* Cheap scan: 0 when imap_utf7_encode would append s[0..len) unchanged
 * (only printable US-ASCII, no "&"), 1 otherwise — including when encode
 * would reject the input. Does not validate UTF-8. s is borrowed. */
int imap_utf7_needs_encoding(const char *s, size_t len);

#endif
