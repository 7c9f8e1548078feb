/*
 * imap/mail/sortkey.h — the comparison form of a Subject for RFC 5256
 * SORT (SUBJECT), made the way Dovecot's SORT makes it, so that keys
 * compared bytewise (strcmp), ties broken by UID, give the server's order.
 *
 * Pure function: no I/O, no shared state (thread-safe). Needs libunistring
 * for the Unicode titlecase and decomposition tables.
 */
#ifndef IMAPGW_IMAP_MAIL_SORTKEY_H
#define IMAPGW_IMAP_MAIL_SORTKEY_H

#include <stddef.h>

/* The sort key of the Subject header value raw[0..len), as an ENVELOPE or
 * the header carries it (encoded words and 8-bit bytes undecoded; NULL
 * with len 0, NIL, is the empty subject). Decoded for sorting, not for
 * display:
 *   - text outside encoded words, and encoded words labelled UTF-8, UTF8,
 *     US-ASCII or ASCII: UTF-8, each run of bytes that is not UTF-8 one
 *     U+FFFD;
 *   - encoded words in a charset iconv knows by that exact name: converted
 *     (ISO-8859-1 is ISO-8859-1 here, not windows-1252), each run of
 *     invalid bytes one U+FFFD;
 *   - both of the above then mapped per RFC 5051 i;unicode-casemap as
 *     Dovecot does it: each character replaced by its simple titlecase
 *     mapping, then fully decomposed (compatibility mappings included:
 *     U+2460 CIRCLED DIGIT ONE is "1", U+FB01 "fi" is "fi", left in lower
 *     case, since the decomposition comes after the titlecase);
 *   - encoded words in a charset iconv does not know: their bytes as
 *     UTF-8 with U+FFFD for the rest, and NOT case-mapped (Dovecot copies
 *     them as they are);
 * then the RFC 5256 base subject of the result (imap_base_subject).
 * New NUL-terminated string (never NULL but out of memory). */
char *imap_subject_sort_key(const char *raw, size_t len);

#endif
