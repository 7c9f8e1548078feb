/*
 * tests/unit/test_date.c — Date headers, INTERNALDATE and RFC 3339
 * (imap/mail/date.h). Expected instants were computed independently of the code
 * under test (Python's datetime) and are written out as numbers.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/mail/date.h"

/* Sentinels: a failed parse must leave the outputs alone. */
#define EPOCH_UNSET INT64_C(0x5a5a5a5a5a)
#define TZ_UNSET 0x5a5a

static void ok_n(const char *s, size_t len, int64_t want_epoch, int want_tz)
{
	int64_t epoch = EPOCH_UNSET;
	int tz = TZ_UNSET;
	int rc = imap_date_parse_rfc5322(s, len, &epoch, &tz);
	cr_assert_eq(rc, 0, "\"%.*s\": rc %d", (int)len, s, rc);
	cr_expect_eq(epoch, want_epoch, "\"%.*s\": epoch %lld, want %lld", (int)len, s,
		     (long long)epoch, (long long)want_epoch);
	cr_expect_eq(tz, want_tz, "\"%.*s\": tz %d, want %d", (int)len, s, tz, want_tz);
}

static void ok(const char *s, int64_t want_epoch, int want_tz)
{
	ok_n(s, strlen(s), want_epoch, want_tz);
}

static void bad_n(const char *s, size_t len)
{
	int64_t epoch = EPOCH_UNSET;
	int tz = TZ_UNSET;
	int rc = imap_date_parse_rfc5322(s, len, &epoch, &tz);
	cr_expect_eq(rc, IMAP_ERR_INVALID, "\"%.*s\": rc %d, want IMAP_ERR_INVALID", (int)len, s, rc);
	cr_expect_eq(epoch, EPOCH_UNSET, "\"%.*s\": epoch changed on failure", (int)len, s);
	cr_expect_eq(tz, TZ_UNSET, "\"%.*s\": tz changed on failure", (int)len, s);
}

static void bad(const char *s)
{
	bad_n(s, strlen(s));
}

/* 2015-07-13 21:15:32 at -0400 (the corpus's Dovecot/MailKit date). */
#define JUL13 INT64_C(1436836532)
/* The same wall clock at +0000. */
#define JUL13_UTC INT64_C(1436822132)

Test(date, rfc5322_canonical)
{
	ok("Thu, 15 Feb 2007 01:02:03 +0200", INT64_C(1171494123), 120);
	ok("Mon, 13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("Tue, 24 Sep 2019 09:48:05 +0800", INT64_C(1569289685), 480);
	ok("Thu, 01 Jan 1970 00:00:00 +0000", 0, 0);
	ok("Wed, 31 Dec 1969 23:59:59 +0000", -1, 0);
	ok("Sun, 01 Jan 1950 00:00:00 +0000", INT64_C(-631152000), 0);
	ok("Mon, 01 Jan 1900 00:00:00 +0000", INT64_C(-2208988800), 0);
	ok("Fri, 31 Dec 9999 23:59:59 +0000", INT64_C(253402300799), 0);
	ok("Mon, 13 Jul 2015 21:15:32 +0530", JUL13_UTC - 330 * 60, 330);
	ok("Mon, 13 Jul 2015 21:15:32 -0000", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 +2359", JUL13_UTC - (23 * 60 + 59) * 60, 23 * 60 + 59);
}

Test(date, rfc5322_lenient_forms)
{
	/* Comments, before and after the zone, nested, with quoted parens. */
	ok("Mon, 13 Jul 2015 21:15:32 -0400 (EDT)", JUL13, -240);
	ok("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)", INT64_C(837595405), -420);
	ok("Mon (day), 13 (x) Jul 2015 21:15:32 -0400 (EDT (nested \\) paren))", JUL13, -240);
	ok("Mon, 13 Jul 2015 21:15:32 -0400 (unclosed comment", JUL13, -240);
	/* Whitespace: none after the comma, runs of it, folding, tabs. */
	ok("Mon,13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("  Mon,\r\n 13   Jul\t2015  21 : 15 : 32   -0400  ", JUL13, -240);
	/* No day of week, a full or dotted one, or a wrong one (not checked). */
	ok("13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("Monday, 13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("Mon. 13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("Mon 13 Jul 2015 21:15:32 -0400", JUL13, -240);
	ok("Fri, 13 Jul 2015 21:15:32 -0400", JUL13, -240);
	/* Seconds optional; one-digit day, hour and minute. */
	ok("Mon, 13 Jul 2015 21:15 -0400", INT64_C(1436836500), -240);
	ok("Fri, 3 Jul 2015 21:15:32 -0400", INT64_C(1435972532), -240);
	ok("Fri, 03 Jul 2015 21:15:32 -0400", INT64_C(1435972532), -240);
	ok("Mon, 13 Jul 2015 9:5:2 +0000", JUL13_UTC - (12 * 3600 + 10 * 60 + 30), 0);
	/* Month names: any case, full, "Sept", with a dot. */
	ok("mon, 13 JUL 2015 21:15:32 -0400", JUL13, -240);
	ok("Mon, 13 July 2015 21:15:32 -0400", JUL13, -240);
	ok("Mon, 13 jUlY 2015 21:15:32 -0400", JUL13, -240);
	ok("Mon, 13 Jul. 2015 21:15:32 -0400", JUL13, -240);
	ok("Tue, 24 Sept 2019 09:48:05 +0800", INT64_C(1569289685), 480);
	ok("Tue, 24 September 2019 09:48:05 +0800", INT64_C(1569289685), 480);
	/* Date joined with dashes or slashes, a comma before the time. */
	ok("13-Jul-2015 21:15:32 -0400", JUL13, -240);
	ok("Mon, 13/Jul/2015 21:15:32 -0400", JUL13, -240);
	ok("Mon, 13 Jul 2015, 21:15:32 -0400", JUL13, -240);
	/* asctime / date(1) order. */
	ok("Mon Jul 13 21:15:32 2015", JUL13_UTC, 0);
	ok("Mon Jul 13 21:15:32 EDT 2015", JUL13, -240);
	ok("Mon Jul 13 21:15:32 -0400 2015", JUL13, -240);
	ok("Jul 13, 2015 21:15:32 -0400", JUL13, -240);
	/* ISO 8601-like. */
	ok("2015-07-13 21:15:32", JUL13_UTC, 0);
	ok("2015-07-13T21:15:32Z", JUL13_UTC, 0);
	ok("2015-07-13t21:15:32z", JUL13_UTC, 0);
	ok("2015-07-13T21:15:32-04:00", JUL13, -240);
	ok("2015-07-13T21:15:32-0400", JUL13, -240);
	ok("2015-07-13T21:15:32.123456-04", JUL13, -240);
	ok("2015-7-13 21:15", JUL13_UTC - 32, 0);
}

Test(date, rfc5322_two_and_three_digit_years)
{
	/* RFC 5322 §4.3: 00-49 -> 2000-2049, 50-99 -> 1950-1999, 3 digits + 1900. */
	ok("Mon, 13 Jul 15 21:15:32 -0400", JUL13, -240);
	ok("13 Jul 00 21:15:32 -0400", INT64_C(963537332), -240);
	ok("13 Jul 49 21:15:32 -0400", INT64_C(2509838132), -240);
	ok("13 Jul 50 21:15:32 -0400", INT64_C(-614385868), -240);
	ok("13 Jul 99 21:15:32 -0400", INT64_C(931914932), -240);
	ok("13 Jul 115 21:15:32 -0400", JUL13, -240);
	ok("13 Jul 099 21:15:32 -0400", INT64_C(931914932), -240);
	ok("13 Jul 100 21:15:32 -0400", INT64_C(963537332), -240);
	/* One digit, five digits, or a four-digit year before 1900: no. */
	bad("13 Jul 5 21:15:32 -0400");
	bad("13 Jul 10000 21:15:32 -0400");
	bad("13 Jul 1899 21:15:32 -0400");
	bad("13 Jul 0015 21:15:32 -0400");
}

Test(date, rfc5322_zones)
{
	ok("Mon, 13 Jul 2015 21:15:32", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 UT", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 GMT", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 utc", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 EST", JUL13_UTC + 5 * 3600, -300);
	ok("Mon, 13 Jul 2015 21:15:32 EDT", JUL13, -240);
	ok("Mon, 13 Jul 2015 21:15:32 CST", JUL13_UTC + 6 * 3600, -360);
	ok("Mon, 13 Jul 2015 21:15:32 CDT", JUL13_UTC + 5 * 3600, -300);
	ok("Mon, 13 Jul 2015 21:15:32 MST", JUL13_UTC + 7 * 3600, -420);
	ok("Mon, 13 Jul 2015 21:15:32 mdt", JUL13_UTC + 6 * 3600, -360);
	ok("Mon, 13 Jul 2015 21:15:32 PST", JUL13_UTC + 8 * 3600, -480);
	ok("Mon, 13 Jul 2015 21:15:32 PDT", JUL13_UTC + 7 * 3600, -420);
	/* Military letters and unknown names mean "-0000" (RFC 5322 §4.3). */
	ok("Mon, 13 Jul 2015 21:15:32 Z", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 A", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 M", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 N", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 Y", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 CEST", JUL13_UTC, 0);
	/* A numeric zone wins over a name on either side of it. */
	ok("Mon, 13 Jul 2015 21:15:32 -0400 EDT", JUL13, -240);
	ok("Mon, 13 Jul 2015 21:15:32 +0000 GMT", JUL13_UTC, 0);
	ok("Mon, 13 Jul 2015 21:15:32 EST -0400", JUL13, -240);
	ok("Mon, 13 Jul 2015 21:15:32 GMT+0200", INT64_C(1436814932), 120);
	ok("Mon, 13 Jul 2015 21:15:32 +02:00", INT64_C(1436814932), 120);
	/* Malformed numeric zones. */
	bad("Mon, 13 Jul 2015 21:15:32 +2400");
	bad("Mon, 13 Jul 2015 21:15:32 +0060");
	bad("Mon, 13 Jul 2015 21:15:32 +04000");
	bad("Mon, 13 Jul 2015 21:15:32 +400");
	bad("Mon, 13 Jul 2015 21:15:32 +04");  /* hours alone only in the ISO form */
	bad("Mon, 13 Jul 2015 21:15:32 +");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 +0200");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 1");
}

Test(date, rfc5322_calendar_and_clock_ranges)
{
	ok("Mon, 29 Feb 2016 12:00:00 +0000", INT64_C(1456747200), 0);
	ok("Tue, 29 Feb 2000 12:00:00 +0000", INT64_C(951825600), 0);
	bad("Sun, 29 Feb 2015 12:00:00 +0000");
	bad("29 Feb 1900 12:00:00 +0000");
	bad("29 Feb 2100 12:00:00 +0000");
	bad("31 Feb 2015 12:00:00 +0000");
	bad("30 Feb 2016 12:00:00 +0000");
	bad("31 Apr 2015 12:00:00 +0000");
	bad("31 Jun 2015 12:00:00 +0000");
	bad("31 Sep 2015 12:00:00 +0000");
	bad("31 Nov 2015 12:00:00 +0000");
	ok("31 Dec 2015 12:00:00 +0000", INT64_C(1451563200), 0);
	bad("32 Jan 2015 12:00:00 +0000");
	bad("0 Jan 2015 12:00:00 +0000");
	bad("00 Jan 2015 12:00:00 +0000");
	bad("2015-13-01 12:00:00");
	bad("2015-00-01 12:00:00");
	bad("Mon, 13 Jul 2015 25:00 -0400");
	bad("Mon, 13 Jul 2015 24:00:00 -0400");
	bad("Mon, 13 Jul 2015 21:60:00 -0400");
	bad("Mon, 13 Jul 2015 21:15:61 -0400");
	bad("Mon, 13 Jul 2015 121:15:32 -0400");
	bad("Mon, 13 Jul 2015 21:015:32 -0400");
	bad("Mon, 13 Jul 2015 21:15:032 -0400");
}

Test(date, rfc5322_leap_second)
{
	/* 23:59:60 UTC is the instant of the next 00:00:00 (POSIX time). */
	ok("Sat, 31 Dec 2016 23:59:60 +0000", INT64_C(1483228800), 0);
	ok("Sat, 31 Dec 2016 18:59:60 -0500", INT64_C(1483228800), -300);
	ok("Sat, 31 Dec 2016 23:59:59 +0000", INT64_C(1483228799), 0);
	/* ... except where that instant would be in year 10000. */
	bad("Fri, 31 Dec 9999 23:59:60 +0000");
	bad("Fri, 31 Dec 9999 23:59:60 +0100");
	ok("Fri, 31 Dec 9999 23:59:59 -0100", INT64_C(253402304399), -60);
}

Test(date, rfc5322_junk)
{
	bad("");
	bad("   ");
	bad("(only a comment)");
	bad("junk");
	bad("Mon, 13 Jul 2015");          /* no time */
	bad("Mon, 13 Jul 21:15:32 -0400"); /* no year */
	bad("Mon, Jul 2015 21:15:32 -0400");
	bad("Mon, 13 Foo 2015 21:15:32 -0400");
	bad("Mon, 13 Ju 2015 21:15:32 -0400");
	bad("Mon, 13 Julyy 2015 21:15:32 -0400");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 )");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 [x]");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 \xff");
	bad("Mon, 13 Jul 2015 21:15:32 -0400 12");
	bad("Mon, 13 Jul 2015 21:15:32.5.5 -0400");
	bad("Mon, 13 Jul 2015 21: -0400");
	bad("Mon, 13 Jul 2015 21:15: -0400");
	bad("1436836532");
	bad("99999999999999999999 Jul 2015 21:15:32");
	bad("2015-07-13");
	bad("2015/07/13 21:15:32");
	bad_n("Mon, 13 Jul 2015\0 21:15:32 -0400", 32);
	/* More tokens than any date form has. */
	bad("Mon, 13 Jul 2015 21:15:32 -0400 a b c d e f g h i j k l m n o p");
	/* Never reads past len: the tail here is not part of the value. */
	ok_n("Mon, 13 Jul 2015 21:15:32 -0400 garbage 123", 31, JUL13, -240);
	cr_expect_eq(imap_date_parse_rfc5322(NULL, 0, NULL, NULL), IMAP_ERR_INVALID);
}

Test(date, rfc5322_null_outputs)
{
	cr_expect_eq(imap_date_parse_rfc5322("13 Jul 2015 21:15:32 -0400", 26, NULL, NULL), 0);
	int tz = 1;
	cr_expect_eq(imap_date_parse_rfc5322("13 Jul 2015 21:15:32 +0000", 26, NULL, &tz), 0);
	cr_expect_eq(tz, 0);
}

/* ---- INTERNALDATE ---- */

static void ok_internal(const char *s, int64_t want_epoch, int want_tz)
{
	int64_t epoch = EPOCH_UNSET;
	int tz = TZ_UNSET;
	int rc = imap_date_parse_internal(s, strlen(s), &epoch, &tz);
	cr_assert_eq(rc, 0, "\"%s\": rc %d", s, rc);
	cr_expect_eq(epoch, want_epoch, "\"%s\": epoch %lld, want %lld", s, (long long)epoch,
		     (long long)want_epoch);
	cr_expect_eq(tz, want_tz, "\"%s\": tz %d, want %d", s, tz, want_tz);
}

static void bad_internal(const char *s)
{
	int64_t epoch = EPOCH_UNSET;
	int tz = TZ_UNSET;
	int rc = imap_date_parse_internal(s, strlen(s), &epoch, &tz);
	cr_expect_eq(rc, IMAP_ERR_INVALID, "\"%s\": rc %d, want IMAP_ERR_INVALID", s, rc);
	cr_expect_eq(epoch, EPOCH_UNSET, "\"%s\": epoch changed on failure", s);
	cr_expect_eq(tz, TZ_UNSET, "\"%s\": tz changed on failure", s);
}

Test(date, internaldate)
{
	ok_internal("17-Jul-1996 02:44:25 -0700", INT64_C(837596665), -420);
	ok_internal("\"17-Jul-1996 02:44:25 -0700\"", INT64_C(837596665), -420);
	ok_internal(" 7-Jul-1996 02:44:25 -0700", INT64_C(836732665), -420);
	ok_internal("\" 7-Jul-1996 02:44:25 -0700\"", INT64_C(836732665), -420);
	ok_internal("07-Jul-1996 02:44:25 -0700", INT64_C(836732665), -420);
	ok_internal("7-Jul-1996 02:44:25 -0700", INT64_C(836732665), -420);
	ok_internal("17-JUL-1996 02:44:25 -0700", INT64_C(837596665), -420);
	ok_internal("17-jul-1996 02:44:25 -0700", INT64_C(837596665), -420);
	ok_internal("01-Jan-1970 00:00:00 +0000", 0, 0);
	ok_internal("13-Jul-2015 21:15:32 -0400", JUL13, -240);
	ok_internal("  13-Jul-2015 21:15:32 +0530\t", JUL13_UTC - 330 * 60, 330);
	ok_internal("31-Dec-2016 23:59:60 +0000", INT64_C(1483228800), 0);
	ok_internal("29-Feb-2016 12:00:00 +0000", INT64_C(1456747200), 0);
}

Test(date, internaldate_invalid)
{
	bad_internal("");
	bad_internal("\"\"");
	bad_internal("17-Jul-96 02:44:25 -0700");
	bad_internal("17 Jul 1996 02:44:25 -0700");
	bad_internal("17-July-1996 02:44:25 -0700");
	bad_internal("17-Jux-1996 02:44:25 -0700");
	bad_internal("117-Jul-1996 02:44:25 -0700");
	bad_internal("98765432100-Oct-2018 13:41:57 -0400");
	bad_internal("17-Jul-1996 2:44:25 -0700");
	bad_internal("17-Jul-1996 02:44 -0700");
	bad_internal("17-Jul-1996 02:444:25 -0700");
	bad_internal("17-Jul-1996 02:44:255 -0700");
	bad_internal("17-Jul-1996 02:44:25");
	bad_internal("17-Jul-1996 02:44:25 0700");
	bad_internal("17-Jul-1996 02:44:25 -07:00");
	bad_internal("17-Jul-1996 02:44:25 -070");
	bad_internal("17-Jul-1996 02:44:25 -98765432100");
	bad_internal("17-Jul-1996 02:44:25 -0700 XYZ");
	bad_internal("17-Jul-1996  02:44:25 -0700");
	bad_internal("\"17-Jul-1996 02:44:25 -0700");
	bad_internal("30-Feb-2000 02:44:25 -0700");
	bad_internal("29-Feb-1900 02:44:25 -0700");
	bad_internal("17-Jul-1996 24:00:00 -0700");
	bad_internal("17-Jul-1996 23:60:00 -0700");
	bad_internal("17-Jul-1996 23:59:61 -0700");
	bad_internal("17-Jul-1996 23:59:59 -2400");
	bad_internal("17-Jul-1996 23:59:59 +0075");
	bad_internal("17-Jul-1899 23:59:59 +0000");
	bad_internal("00-Jul-1996 23:59:59 +0000");
	cr_expect_eq(imap_date_parse_internal(NULL, 0, NULL, NULL), IMAP_ERR_INVALID);
}

/* ---- RFC 3339 ---- */

static void fmt(int64_t epoch, int tz, const char *want)
{
	char out[IMAP_DATE_RFC3339_MAX];
	memset(out, 'x', sizeof out);
	size_t n = imap_date_format_rfc3339(epoch, tz, out);
	cr_expect_str_eq(out, want, "format(%lld, %d)", (long long)epoch, tz);
	cr_expect_eq(n, strlen(want), "format(%lld, %d): length %zu", (long long)epoch, tz, n);
}

Test(date, rfc3339_format)
{
	fmt(INT64_C(837596665), -420, "1996-07-17T02:44:25-07:00");
	fmt(0, 0, "1970-01-01T00:00:00Z");
	fmt(0, 330, "1970-01-01T05:30:00+05:30");
	fmt(0, -1, "1969-12-31T23:59:00-00:01");
	fmt(-1, 0, "1969-12-31T23:59:59Z");
	fmt(JUL13, -240, "2015-07-13T21:15:32-04:00");
	fmt(JUL13, 0, "2015-07-14T01:15:32Z");
	fmt(JUL13, 1439, "2015-07-15T01:14:32+23:59");
	fmt(INT64_C(951825600), 0, "2000-02-29T12:00:00Z");
	fmt(INT64_C(1483228800), 0, "2017-01-01T00:00:00Z");
	fmt(INT64_C(-2208988800), 0, "1900-01-01T00:00:00Z");
	fmt(INT64_C(253402300799), 0, "9999-12-31T23:59:59Z");
	fmt(INT64_C(-62135596800), 0, "0001-01-01T00:00:00Z");
	/* Outside years 1..9999, or an impossible offset: nothing. */
	fmt(INT64_C(253402300800), 0, "");
	fmt(INT64_C(253402300799), 1, "");
	fmt(INT64_C(253402304399), -60, "9999-12-31T23:59:59-01:00");
	fmt(INT64_C(-62135596801), 0, "");
	fmt(INT64_C(-62135596800), -1, "");
	fmt(INT64_MAX, 0, "");
	fmt(INT64_MIN, 0, "");
	fmt(0, 1440, "");
	fmt(0, -1440, "");
}

/* Every formatted instant parses back (ISO form) to itself, and dates
 * written the RFC 5322 way format to the expected RFC 3339 text. */
Test(date, rfc3339_round_trips)
{
	static const int zones[] = {0, -420, 330, -720, 840, 1439, -1439, 60};
	size_t z = 0;
	for (int64_t e = INT64_C(-2208988800) + 86400; e <= INT64_C(253402300799) - 86400;
	     e += INT64_C(86400) * 97 + 3671) {
		int tz = zones[z++ % (sizeof zones / sizeof zones[0])];
		char out[IMAP_DATE_RFC3339_MAX];
		size_t n = imap_date_format_rfc3339(e, tz, out);
		cr_assert(n == 20 || n == 25, "format(%lld, %d) -> \"%s\"", (long long)e, tz, out);
		int64_t back = 0;
		int back_tz = 99999;
		cr_assert_eq(imap_date_parse_rfc5322(out, n, &back, &back_tz), 0, "parse \"%s\"", out);
		cr_assert_eq(back, e, "\"%s\": %lld != %lld", out, (long long)back, (long long)e);
		cr_assert_eq(back_tz, tz, "\"%s\": tz %d != %d", out, back_tz, tz);
	}

	static const struct {
		const char *in, *want;
	} pairs[] = {
		{"Mon, 13 Jul 2015 21:15:32 -0400 (EDT)", "2015-07-13T21:15:32-04:00"},
		{"Thu, 15 Feb 2007 01:02:03 +0200", "2007-02-15T01:02:03+02:00"},
		{"13 Jul 15 21:15 GMT", "2015-07-13T21:15:00Z"},
		{"Sat, 31 Dec 2016 23:59:60 +0000", "2017-01-01T00:00:00Z"},
		{"Mon Jul 13 21:15:32 PDT 2015", "2015-07-13T21:15:32-07:00"},
		{"2015-07-13T21:15:32+05:30", "2015-07-13T21:15:32+05:30"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		int64_t e;
		int tz;
		char out[IMAP_DATE_RFC3339_MAX];
		cr_assert_eq(imap_date_parse_rfc5322(pairs[i].in, strlen(pairs[i].in), &e, &tz), 0,
			     "%s", pairs[i].in);
		imap_date_format_rfc3339(e, tz, out);
		cr_expect_str_eq(out, pairs[i].want, "%s", pairs[i].in);
	}

	/* INTERNALDATE keeps its offset through formatting. */
	int64_t e;
	int tz;
	char out[IMAP_DATE_RFC3339_MAX];
	cr_assert_eq(imap_date_parse_internal("17-Jul-1996 02:44:25 -0700", 26, &e, &tz), 0);
	imap_date_format_rfc3339(e, tz, out);
	cr_expect_str_eq(out, "1996-07-17T02:44:25-07:00");
}
