/*
 * tests/unit/test_senders.c — group keys of imap/senders.h from raw header
 * blocks, as FETCH BODY[HEADER.FIELDS (...)] returns them, and the check of
 * keys that come back from clients.
 */
#include <criterion/criterion.h>

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
