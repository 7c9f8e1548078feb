/*
 * imap/mail/sortkey.c: the SORT (SUBJECT) key. The expected keys follow
 * what Dovecot 2.3's UID SORT (SUBJECT) does with the same subjects
 * (probed live; tests/integration/test_index.c compares the orders).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mail/sortkey.h"

static void key(const char *raw, const char *want)
{
	char *k = imap_subject_sort_key(raw, raw ? strlen(raw) : 0);
	cr_assert_not_null(k);
	cr_expect_str_eq(k, want, "key of \"%s\"", raw ? raw : "(NIL)");
	free(k);
}

static int cmp(const char *a, const char *b)
{
	char *x = imap_subject_sort_key(a, strlen(a)), *y = imap_subject_sort_key(b, strlen(b));
	cr_assert(x && y);
	int c = strcmp(x, y);
	free(x);
	free(y);
	return c < 0 ? -1 : c > 0;
}

Test(sortkey, leaders_and_trailers_go_after_titlecasing)
{
	key("Re: Re: x", "X");
	key("[list] Re: x", "X");
	key("Fwd: x (fwd)", "X");
	key("[fwd: x]", "X");
	key("re:x", "X");
	key("RE: [a] [b] x", "X");
	key("Re:", "");
	key("", "");
	key(NULL, "");
	key("  Hello \t  world  ", "HELLO WORLD");
}

Test(sortkey, unicode_titlecase_then_decomposition)
{
	key("\xc3\xa9t\xc3\xa9", "E\xcc\x81TE\xcc\x81");              /* été */
	key("\xc3\x89T\xc3\x89", "E\xcc\x81TE\xcc\x81");              /* ÉTÉ */
	key("\xcf\x83\xce\xbf\xcf\x82", "\xce\xa3\xce\x9f\xce\xa3");  /* σος -> ΣΟΣ */
	key("\xd0\xbf\xd1\x80\xd0\xb8", "\xd0\x9f\xd0\xa0\xd0\x98");  /* при -> ПРИ */
	key("\xd1\x91", "\xd0\x95\xcc\x88");                          /* ё -> Е + diaeresis */
	key("Stra\xc3\x9f" "e", "STRA\xc3\x9f" "E");                  /* ß has no simple titlecase */
	key("\xe2\x91\xa0 one", "1 ONE");                             /* ① (compat) */
	key("\xef\xac\x81x", "fiX");                                  /* ﬁ: lower after decomposition */
	key("\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1");              /* 가: Hangul decomposed */
	key("\xc7\x86", "Dz\xcc\x8c");                                 /* ǆ -> ǅ -> D z caron */
}

Test(sortkey, encoded_words_decoded_for_sorting)
{
	key("=?UTF-8?Q?caf=C3=A9?=", "CAFE\xcc\x81");
	key("=?ISO-8859-1?Q?caf=E9?=", "CAFE\xcc\x81");
	key("=?utf-8?B?w4l0w6k=?=", "E\xcc\x81TE\xcc\x81");
	key("=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2");
	key("=?iso-8859-1?q?=80x?=", "\xc2\x80X");                    /* ISO-8859-1, not windows-1252 */
	key("=?us-ascii?q?caf=E9?=", "CAF\xef\xbf\xbd");              /* US-ASCII read as UTF-8 */
	key("=?x-unknown?Q?caf=E9?=", "caf\xef\xbf\xbd");             /* unknown: copied, not mapped */
	key("=?x-unknown?Q?caf=C3=A9?=", "caf\xc3\xa9");
	key("=?x-unknown-charset?Q?caf=E9?= and =?UTF-8?Q?caf=C3=A9?=",
	    "caf\xef\xbf\xbd AND CAFE\xcc\x81");
	key("Re: =?utf-8?q?Re=3A_x?=", "X");
	key("=?utf-8?q?=E9?=z", "\xef\xbf\xbdZ");
}

Test(sortkey, undecodable_bytes_one_replacement_per_run)
{
	key("a\xe9\xe9", "A\xef\xbf\xbd");
	key("a\xe9" "b", "A\xef\xbf\xbd" "B");
	key("caf\xc3\xa9", "CAFE\xcc\x81");
	key("\xff\xfe\xfd", "\xef\xbf\xbd");
	key("x\xc3", "X\xef\xbf\xbd");                                 /* cut short */
}

Test(sortkey, orders_as_dovecot_does)
{
	/* Dovecot 2.3 UID SORT (SUBJECT) of these, pairwise */
	cr_expect_eq(cmp("a\xe9\xe9", "a\xe9" "b"), -1);
	cr_expect_eq(cmp("caf\xc3\xa9", "cafz"), -1);
	cr_expect_eq(cmp("cafz", "=?us-ascii?q?caf=E9?="), -1);
	cr_expect_eq(cmp("Etz", "\xc3\x89t\xc3\xa9"), -1);
	cr_expect_eq(cmp("STRAT", "Stra\xc3\x9f" "e"), -1);
	cr_expect_eq(cmp("Stra\xc3\x9f" "e", "=?x-unknown?Q?caf=E9?="), -1);
	cr_expect_eq(cmp("=?x-unknown?Q?caf=E9?=", "\xef\xac\x81x"), -1);
	cr_expect_eq(cmp("\xef\xac\x81x", "=?iso-8859-1?q?=80x?="), -1);
	cr_expect_eq(cmp("\xea\xb0\x80", "\xe1\xba\x9e"), -1);         /* 가 < ẞ */
	cr_expect_eq(cmp("\xe4\xb8\x80", "=?utf-8?q?=E9?=z"), -1);      /* 一 < U+FFFD */
	cr_expect_eq(cmp("\xcf\x83\xce\xbf\xcf\x82", "\xce\xa3\xce\x9f\xce\xa3"), 0);
}

Test(sortkey, hostile_input)
{
	char big[4096];
	memset(big, '=', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char *k = imap_subject_sort_key(big, strlen(big));
	cr_assert_not_null(k);
	free(k);
	static const char nul[] = "a\0b";
	k = imap_subject_sort_key(nul, 3);
	cr_assert_not_null(k);
	free(k);
	k = imap_subject_sort_key("=?\x01\x02?Q?x?=", 11);
	cr_assert_not_null(k);
	free(k);
	key("=?ISO-2022-JP?B?GyRCJEIbKEI=?=", "\xe3\x81\xa1\xe3\x82\x99"); /* ぢ decomposed */
}
