/*
 * imap/mail/date.h — dates as mail carries them: RFC 5322 Date headers (and the
 * garbage real mailers put there), IMAP INTERNALDATE, and RFC 3339 output.
 *
 * Pure functions: no I/O, no state, no dependence on the process's time
 * zone or locale (calendar arithmetic is our own proleptic Gregorian code,
 * not timegm/mktime). Inputs are (pointer, length), never read past `len`
 * and need no NUL terminator. Thread-safe.
 *
 * An instant is given as `epoch` (seconds since 1970-01-01T00:00:00Z, UTC)
 * plus the writer's offset from UTC in minutes (east positive: "-0700" is
 * -420), so the original wall-clock time can be shown again.
 */
#ifndef IMAPGW_IMAP_MAIL_DATE_H
#define IMAPGW_IMAP_MAIL_DATE_H

#include <stddef.h>
#include <stdint.h>

/* Years accepted by the parsers (after the RFC 5322 §4.3 mapping of 2- and
 * 3-digit years): RFC 5322 forbids years before 1900, and four digits is
 * the most any form can carry. */
#define IMAP_DATE_YEAR_MIN 1900
#define IMAP_DATE_YEAR_MAX 9999

/*
 * Parse a Date header value s[0..len) leniently. Accepted, in any case, with
 * any whitespace (SP, HTAB, CR, LF) between tokens and (nested) comments
 * anywhere:
 *
 *   RFC 5322   [day-of-week ["," / "."]] day month year [","] time [zone]
 *              day 1-2 digits; month an English name, 3-letter or full
 *              ("Jul", "JULY", "Sept"), optionally followed by "."; the three
 *              may also be joined by "-" or "/" ("13-Jul-2015"); year 2, 3 or
 *              4 digits: 00-49 -> 2000-2049, 50-99 and any 3-digit year ->
 *              +1900 (RFC 5322 §4.3).
 *   asctime    [day-of-week [","]] month day [","] time [zone] year
 *              ("Mon Jul 13 21:15:32 2015", "Mon Jul 13 21:15:32 EDT 2015")
 *   ISO-like   yyyy-mm-dd ("T" / whitespace) time [zone]
 *              ("2015-07-13 21:15:32", "2015-07-13T21:15:32.5Z")
 *
 *   time       hour ":" minute [":" second ["." digits]]  (1-2 digits each;
 *              fractions are dropped)
 *   zone       "+hhmm" / "-hhmm" / "+hh:mm" (and "+hh" in the ISO form);
 *              UT, UTC, GMT, Z -> 0; EST -5h, EDT -4h, CST -6h, CDT -5h,
 *              MST -7h, MDT -6h, PST -8h, PDT -7h; military letters and any
 *              other alphabetic zone -> 0 (RFC 5322 §4.3: unknown zones mean
 *              "-0000"); missing -> 0. A numeric zone wins over a name next
 *              to it ("-0400 EDT", "+0000 GMT", "GMT+0200"), and alphabetic
 *              words after the zone are ignored ("-0400 (EDT)" is a comment
 *              anyway).
 *
 * The day of the week is not checked against the date (mailers get it
 * wrong; the date is what counts). Validated: month, day within its month
 * (leap years per the Gregorian rule), hour <= 23, minute <= 59,
 * second <= 60, zone hours <= 23 and minutes <= 59, year within
 * IMAP_DATE_YEAR_MIN..MAX. A leap second 60 yields the instant of second 0
 * of the next minute (POSIX time has no leap seconds).
 *
 * Returns 0 and sets *epoch and *tz_offset_min (either may be NULL), or
 * IMAP_ERR_INVALID (outputs untouched) for anything else, including
 * trailing tokens that are not alphabetic words.
 */
int imap_date_parse_rfc5322(const char *s, size_t len, int64_t *epoch, int *tz_offset_min);

/*
 * Parse an IMAP INTERNALDATE (RFC 3501 §9):
 *
 *   date-time = DQUOTE date-day-fixed "-" date-month "-" date-year
 *               SP time SP zone DQUOTE
 *   date-day-fixed = (SP DIGIT) / 2DIGIT
 *   time = 2DIGIT ":" 2DIGIT ":" 2DIGIT;  zone = ("+" / "-") 4DIGIT
 *
 * e.g. "17-Jul-1996 02:44:25 -0700" or " 7-Jul-1996 02:44:25 -0700". The
 * surrounding double quotes are optional (a parsed quoted string arrives
 * without them); leading and trailing whitespace and a 1-digit day without
 * padding are tolerated, nothing else is. Month names in any case. Same
 * range checks as above. Returns 0 and sets *epoch and *tz (minutes east of
 * UTC; either may be NULL), or IMAP_ERR_INVALID (outputs untouched).
 */
int imap_date_parse_internal(const char *s, size_t len, int64_t *epoch, int *tz);

/* Size of a buffer that holds any output of imap_date_format_rfc3339. */
#define IMAP_DATE_RFC3339_MAX 32

/*
 * Write the RFC 3339 date-time of `epoch` as seen at UTC offset
 * tz_offset_min into out, NUL-terminated:
 *
 *   "1996-07-17T02:44:25-07:00", "2015-07-14T01:15:32Z"
 *
 * Offset 0 is always written "Z" (never "+00:00" or "-00:00"); any other
 * offset as "+hh:mm" / "-hh:mm". Seconds are whole (no fraction).
 * Returns the length written (20 or 25), or 0 with out = "" when the local
 * date falls outside years 0001..9999 or |tz_offset_min| > 1439.
 */
size_t imap_date_format_rfc3339(int64_t epoch, int tz_offset_min, char out[IMAP_DATE_RFC3339_MAX]);

#endif
