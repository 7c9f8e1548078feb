/*
 * tests/unit/test_senders.c — group keys of imap/senders.h from raw header
 * blocks, as FETCH BODY[HEADER.FIELDS (...)] returns them, and the check of
 * keys that come back from clients.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/senders.h"

TestSuite(senders);

static const char *key(enum imap_senders_grouping g, const char *hdr)
{
	static char out[IMAP_SENDERS_KEY_MAX + 1];
	cr_assert_eq(imap_senders_key(g, hdr, strlen(hdr), out, sizeof out), 0);
	return out;
}

Test(senders, keys_by_list_address_and_domain)
{
	const char *h = "From: \"News\" <News@Mail.Example.COM>\r\n"
	                "List-Id: Weekly news <Weekly.Example.COM>\r\n\r\n";
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, h), "l:weekly.example.com");
	cr_expect_str_eq(key(IMAP_SENDERS_BY_DOMAIN, h), "d:mail.example.com");
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "From: Ann <Ann@Example.org>\r\n\r\n"),
	                 "a:ann@example.org");
	/* folded, encoded, a List-Id without brackets */
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "From: =?utf-8?q?Z=C3=BC?=\r\n <z@x.test>\r\n"
	                                           "List-Id:   plain-id.x.test  \r\n\r\n"),
	                 "l:plain-id.x.test");
	/* no From at all, or one without an address */
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "Subject: hi\r\n\r\n"), "a:");
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "From: undisclosed-recipients:;\r\n\r\n"), "a:");
	cr_expect_str_eq(key(IMAP_SENDERS_BY_DOMAIN, ""), "d:");
	/* an empty List-Id is no List-Id */
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "From: a@b.test\r\nList-Id: <>\r\n\r\n"),
	                 "a:a@b.test");
	cr_expect_str_eq(key(IMAP_SENDERS_BY_LIST, "From: a@b.test\r\nList-Id:\r\n\r\n"),
	                 "a:a@b.test");
}

Test(senders, overlong_list_id_is_cut_at_a_character)
{
	char h[4096] = "From: a@b.test\r\nList-Id: <";
	size_t n = strlen(h);
	for (int i = 0; i < 600; i++) {
		memcpy(h + n, "\xc3\xa9", 2);  /* é */
		n += 2;
	}
	strcpy(h + n, ">\r\n\r\n");
	const char *k = key(IMAP_SENDERS_BY_LIST, h);
	cr_expect_leq(strlen(k), IMAP_SENDERS_KEY_MAX);
	cr_expect(imap_senders_key_valid(k, strlen(k)));
	cr_expect_eq((strlen(k) - 2) % 2, 0, "cut inside a character");
}

Test(senders, client_keys_checked)
{
	static const char *const good[] = {"l:x.test", "a:a@b.test", "a:", "d:b.test", "d:"};
	static const char *const bad[] = {"", "l:", "x:abc", "l-abc", "a:UPPER@b.test",
	                                  "l:tab\there", "a:\x7f", "l:\xff\xfe"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_expect(imap_senders_key_valid(good[i], strlen(good[i])), "%s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_not(imap_senders_key_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
	char big[IMAP_SENDERS_KEY_MAX + 2];
	memset(big, 'a', sizeof big);
	big[0] = 'l';
	big[1] = ':';
	cr_expect_not(imap_senders_key_valid(big, sizeof big));
	cr_expect(imap_senders_key_valid(big, IMAP_SENDERS_KEY_MAX));
}

/* A summary (the index's) and the scan's header block give the same key:
 * the summary's block has more fields around From and List-Id. */
Test(senders, summary_and_header_make_the_same_key)
{
	static const char *const heads[] = {
		"From: \"Doe, John\" <JOHN.Doe@Example.TEST>\r\n",
		"From: john.doe@example.test (a comment)\r\nList-Id: Mixed <Mixed.List.TEST>\r\n",
		"From: =?utf-8?q?J=C3=B6rg?= <j@x.test>\r\nList-Id: =?utf-8?q?Encod=C3=A9?=\r\n",
		"From: y@lists.test\r\nList-Id: <>\r\n",
		"From: z@lists.test\r\nList-Id: Folded\r\n <folded.lists.test>\r\n",
		"From: Team: a@team.test, b@team.test;\r\n",
		"From: <@route.test:routed@Example.test>\r\n",
		"Subject: none\r\n",
	};
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		char summary_block[1024], want[IMAP_SENDERS_KEY_MAX + 1];
		snprintf(summary_block, sizeof summary_block,
		         "List-Unsubscribe: <https://u.test/x>\r\nReferences: <a@b>\r\n%s\r\n",
		         heads[i]);
		for (int g = 0; g < 2; g++) {
			enum imap_senders_grouping grouping = g ? IMAP_SENDERS_BY_DOMAIN : IMAP_SENDERS_BY_LIST;
			cr_assert_eq(imap_senders_key(grouping, heads[i], strlen(heads[i]), want, sizeof want), 0);
			struct imap_summary sum = {0};
			char *name = NULL;
			cr_assert_eq(imap_header_from(summary_block, strlen(summary_block), &name,
			                              &sum.from_address), 0);
			sum.list_id = imap_header_list_id(summary_block, strlen(summary_block));
			struct imap_senders s;
			imap_senders_init(&s, grouping, NULL, 0);
			s.light = true;
			cr_assert_eq(imap_senders_add_summary(&s, "INBOX", 7, &sum, false, false), 0);
			cr_assert_eq(s.n, 1);
			cr_expect_str_eq(s.v[0].key, want, "%s", heads[i]);
			imap_senders_free(&s);
			free(name);
			free(sum.from_address);
			free(sum.list_id);
		}
	}
	/* "<>" names no list, in /messages too */
	cr_expect_null(imap_header_list_id("List-Id: <>\r\n", 14));
	char *l = imap_header_list_id("List-Id: x <A.b>\r\n", 18);
	cr_expect_str_eq(l, "A.b");
	free(l);
}
