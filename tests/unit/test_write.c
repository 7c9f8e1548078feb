/*
 * tests/unit/test_write.c — imap/write.h and imap/folder_ops.h against
 * the scripted fake server (tests/support/fake_session.h): the exact commands
 * each write sends, on servers with and without MOVE, UIDPLUS and LITERAL+.
 *
 * The fake fails a run when the client sends a byte the script does not
 * expect, so "nothing else was sent" (no plain EXPUNGE, nothing after a
 * refusal) is checked by every test, and the transcripts are compared in
 * full besides.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/client.h"
#include "imap/folder_ops.h"
#include "imap/write.h"
#include "tests/support/fake_session.h"

TestSuite(write, .timeout = 20);

/* Every capability a write may look at, and subsets of them. */
#define CAPS_ALL "IMAP4rev1 LITERAL+ UIDPLUS MOVE"
#define GREETING(caps) FAKE_SEND("* PREAUTH [CAPABILITY " caps "] ready\r\n")
#define SELECT_INBOX(uv)                                                         \
	FAKE_EXPECT("SELECT INBOX"),                                                 \
	FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY " uv "] UIDs valid\r\n"           \
	          "* OK [UIDNEXT 9] next\r\n$TAG OK [READ-WRITE] Select completed\r\n")

/* The client must have sent exactly `want`; and whatever the test, never a
 * plain EXPUNGE (checked on `want`, which the transcript must equal). */
static void finish(struct fake_session *h, const char *want)
{
	for (const char *p = want; (p = strstr(p, "EXPUNGE")); p++)
		cr_expect(p - want >= 4 && strncmp(p - 4, "UID ", 4) == 0, "plain EXPUNGE sent:\n%s",
		          want);
	fake_session_finish(h, want);
}

/* ---- flag names ---- */

Test(write, flag_names)
{
	const char *canon = NULL;
	cr_assert_eq(imap_flag_check("\\seen", &canon), 0);
	cr_assert_str_eq(canon, "\\Seen");
	cr_assert_eq(imap_flag_check("\\DELETED", &canon), 0);
	cr_assert_str_eq(canon, "\\Deleted");
	cr_assert_eq(imap_flag_check("$Forwarded", &canon), 0);
	cr_assert_str_eq(canon, "$Forwarded");
	cr_assert_eq(imap_flag_check("Work,Home+x", NULL), 0, "commas and plus are ATOM-CHARs");
	static const char *const bad[] = {
		"", "\\Recent", "\\*", "\\Important", "a b", "(x", "x)", "x{", "50%", "a*",
		"say\"hi\"", "back\\slash", "x]", "caf\xc3\xa9", "tab\t", "\x7f", NULL,
	};
	for (size_t i = 0; bad[i]; i++)
		cr_expect_eq(imap_flag_check(bad[i], NULL), IMAP_ERR_INVALID, "'%s' accepted", bad[i]);
	char longest[IMAP_FLAG_MAX + 2];
	memset(longest, 'k', sizeof longest);
	longest[IMAP_FLAG_MAX] = '\0';
	cr_assert_eq(imap_flag_check(longest, NULL), 0);
	longest[IMAP_FLAG_MAX] = 'k';
	longest[IMAP_FLAG_MAX + 1] = '\0';
	cr_assert_eq(imap_flag_check(longest, NULL), IMAP_ERR_INVALID);
	cr_assert_eq(imap_flag_check(NULL, NULL), IMAP_ERR_INVALID);
}

Test(write, internaldate_format)
{
	char out[IMAP_INTERNALDATE_MAX];
	/* 1996-07-17T09:44:25Z shown at -07:00 */
	cr_assert_eq(imap_internaldate_format(837596665, -420, out), 0);
	cr_assert_str_eq(out, "17-Jul-1996 02:44:25 -0700");
	cr_assert_eq(imap_internaldate_format(0, 0, out), 0);
	cr_assert_str_eq(out, "01-Jan-1970 00:00:00 +0000");
	cr_assert_eq(imap_internaldate_format(1709251199, 330, out), 0);
	cr_assert_str_eq(out, "01-Mar-2024 05:29:59 +0530");
	cr_assert_eq(imap_internaldate_format(0, 1440, out), IMAP_ERR_INVALID);
	cr_assert_str_eq(out, "");
}

/* ---- flags ---- */

Test(write, store_adds_and_removes_then_reads_back)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		FAKE_EXPECT("UID STORE 4:5,9 +FLAGS.SILENT (\\Seen $Work)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID STORE 4:5,9 -FLAGS.SILENT (\\Flagged)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID FETCH 4:5,9 (UID FLAGS)"),
		FAKE_SEND("* 2 FETCH (UID 5 FLAGS (\\Seen $Work \\Recent))\r\n"
		          "* 1 FETCH (FLAGS (\\Seen $Work) UID 4)\r\n"
		          "$TAG OK Fetch completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uids[] = {5, 9, 4, 5};
	const char *add[] = {"\\seen", "$Work"};
	const char *rem[] = {"\\Flagged"};
	struct imap_store st = {.add = add, .nadd = 2, .remove = rem, .nremove = 1};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_flags_result r;
	cr_assert_eq(imap_flags_store(h.s, &ref, uids, 4, &st, FAKE_DEADLINE(), &r, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert_eq(r.n, 3);
	cr_assert_eq(r.uidvalidity, 7);
	cr_assert_eq(r.v[0].uid, 4);
	cr_assert(r.v[0].found);
	cr_assert_eq(r.v[1].uid, 5);
	cr_assert_eq(r.v[1].nflags, 2, "\\Recent is left out");
	cr_assert_str_eq(r.v[1].flags[1], "$Work");
	cr_assert_eq(r.v[2].uid, 9);
	cr_assert(!r.v[2].found, "no FETCH for 9: it does not exist");
	imap_flags_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID STORE 4:5,9 +FLAGS.SILENT (\\Seen $Work)\n"
	           "A3 UID STORE 4:5,9 -FLAGS.SILENT (\\Flagged)\n"
	           "A4 UID FETCH 4:5,9 (UID FLAGS)");
}

Test(write, replace_with_empty_list_clears)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		FAKE_EXPECT("UID STORE 3 FLAGS.SILENT ()"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID FETCH 3 (UID FLAGS)"),
		FAKE_SEND("* 1 FETCH (UID 3 FLAGS ())\r\n$TAG OK Fetch completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uid = 3;
	struct imap_store st = {.replace = true};
	struct imap_ref ref = {"INBOX", 0};
	struct imap_flags_result r;
	cr_assert_eq(imap_flags_store(h.s, &ref, &uid, 1, &st, FAKE_DEADLINE(), &r, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert(r.v[0].found);
	cr_assert_eq(r.v[0].nflags, 0);
	imap_flags_result_free(&r);
	finish(&h, "A1 SELECT INBOX\nA2 UID STORE 3 FLAGS.SILENT ()\nA3 UID FETCH 3 (UID FLAGS)");
}

/* A selection left by an earlier request is synced (NOOP) before the UIDs
 * are named: the server ignores UIDs its view of the folder lacks, so a
 * message appended meanwhile by another session would be left unchanged. */
Test(write, store_on_an_earlier_selection_syncs_it_first)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		FAKE_EXPECT("UID STORE 3 +FLAGS.SILENT (\\Flagged)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID FETCH 3 (UID FLAGS)"),
		FAKE_SEND("* 1 FETCH (UID 3 FLAGS (\\Flagged))\r\n$TAG OK Fetch completed\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 4 EXISTS\r\n$TAG OK NOOP completed\r\n"),
		FAKE_EXPECT("UID STORE 9 +FLAGS.SILENT (\\Flagged)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID FETCH 9 (UID FLAGS)"),
		FAKE_SEND("* 4 FETCH (UID 9 FLAGS (\\Flagged))\r\n$TAG OK Fetch completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const char *add[] = {"\\Flagged"};
	struct imap_store st = {.add = add, .nadd = 1};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_flags_result r;
	const uint32_t first = 3, appended = 9;
	cr_assert_eq(imap_flags_store(h.s, &ref, &first, 1, &st, FAKE_DEADLINE(), &r, &h.err), 0,
	             "%s", h.err.msg);
	imap_flags_result_free(&r);
	cr_assert_eq(imap_flags_store(h.s, &ref, &appended, 1, &st, FAKE_DEADLINE(), &r, &h.err), 0,
	             "%s", h.err.msg);
	cr_assert(r.v[0].found);
	cr_assert_eq(imap_session_mailbox(h.s)->exists, 4);
	imap_flags_result_free(&r);
	finish(&h, "A1 SELECT INBOX\nA2 UID STORE 3 +FLAGS.SILENT (\\Flagged)\n"
	           "A3 UID FETCH 3 (UID FLAGS)\nA4 NOOP\nA5 UID STORE 9 +FLAGS.SILENT (\\Flagged)\n"
	           "A6 UID FETCH 9 (UID FLAGS)");
}

Test(write, bad_flag_or_stale_uidvalidity_changes_nothing)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uid = 3;
	const char *bad[] = {"\\Seen", "two words"};
	struct imap_store st = {.add = bad, .nadd = 2};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_flags_result r;
	cr_assert_eq(imap_flags_store(h.s, &ref, &uid, 1, &st, FAKE_DEADLINE(), &r, &h.err),
	             IMAP_ERR_INVALID);
	imap_flags_result_free(&r);
	const char *both[] = {"\\Seen"};
	st = (struct imap_store){.add = both, .nadd = 1, .remove = both, .nremove = 1};
	cr_assert_eq(imap_flags_store(h.s, &ref, &uid, 1, &st, FAKE_DEADLINE(), &r, &h.err),
	             IMAP_ERR_INVALID, "added and removed at once");
	imap_flags_result_free(&r);
	ref.uidvalidity = 8;
	st = (struct imap_store){.add = both, .nadd = 1};
	cr_assert_eq(imap_flags_store(h.s, &ref, &uid, 1, &st, FAKE_DEADLINE(), &r, &h.err),
	             IMAP_ERR_STALE);
	cr_assert(strstr(h.err.msg, "7") && strstr(h.err.msg, "8"), "%s", h.err.msg);
	imap_flags_result_free(&r);
	finish(&h, "A1 SELECT INBOX");
}

/* ---- move, copy, delete ---- */

/* Move (or copy) message `uid` of INBOX, UIDVALIDITY not checked, to `to`. */
static int transfer_one(struct fake_session *h, uint32_t uid, const char *to, bool move,
                        struct imap_transfer_result *r)
{
	const struct imap_ref ref = {"INBOX", 0};
	return imap_messages_transfer(h->s, &ref, &uid, 1, to, move, FAKE_DEADLINE(), r, &h->err);
}

#define PREFETCH(set, answer)                                                     \
	FAKE_EXPECT("UID FETCH " set " (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), \
	FAKE_SEND(answer "$TAG OK Fetch completed\r\n")

Test(write, move_with_move_takes_copyuid_from_untagged_ok)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		PREFETCH("5:7", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
		                "Message-ID: <a@b>\r\n\r\n)\r\n"
		                "* 2 FETCH (UID 6 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID MOVE 5:6 Archive"),
		FAKE_SEND("* OK [COPYUID 42 5:6 100:101] Moved\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"
		          "$TAG OK Move completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uids[] = {6, 5, 7};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_transfer_result r;
	cr_assert_eq(imap_messages_transfer(h.s, &ref, uids, 3, "Archive", true, FAKE_DEADLINE(), &r,
	                                    &h.err), 0, "%s", h.err.msg);
	cr_assert_eq(r.uidvalidity, 42);
	cr_assert_eq(r.n, 3);
	cr_assert(r.v[0].found && r.v[0].new_uid == 100);
	cr_assert(r.v[1].found && r.v[1].new_uid == 101);
	cr_assert(!r.v[2].found, "7 does not exist: not sent, not found");
	cr_assert_eq(imap_session_mailbox(h.s)->exists, 1);
	imap_transfer_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID FETCH 5:7 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 UID MOVE 5:6 Archive");
}

Test(write, move_without_move_copies_then_expunges_exactly_those)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+ UIDPLUS"),
		SELECT_INBOX("7"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID COPY 5 Archive"),
		FAKE_SEND("$TAG OK [COPYUID 42 5 12] Copy completed\r\n"),
		FAKE_EXPECT("UID STORE 5 +FLAGS.SILENT (\\Deleted)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID EXPUNGE 5"),
		FAKE_SEND("* 1 EXPUNGE\r\n$TAG OK Expunge completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "Archive", true, &r), 0, "%s", h.err.msg);
	cr_assert(r.v[0].found);
	cr_assert_eq(r.v[0].new_uid, 12);
	cr_assert_eq(r.uidvalidity, 42);
	imap_transfer_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 UID COPY 5 Archive\n"
	           "A4 UID STORE 5 +FLAGS.SILENT (\\Deleted)\n"
	           "A5 UID EXPUNGE 5");
}

Test(write, move_without_move_or_uidplus_is_refused_before_anything)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "Archive", true, &r), IMAP_ERR_REFUSED);
	cr_assert(strstr(h.err.msg, "MOVE") && strstr(h.err.msg, "UIDPLUS"), "%s", h.err.msg);
	imap_transfer_result_free(&r);
	struct imap_ref ref = {"INBOX", 0};
	struct imap_delete_result d;
	cr_assert_eq(imap_message_delete(h.s, &ref, 5, true, FAKE_DEADLINE(), &d, &h.err),
	             IMAP_ERR_REFUSED, "no UID EXPUNGE: no permanent delete");
	imap_delete_result_free(&d);
	cr_assert_eq(imap_message_delete(h.s, &ref, 5, false, FAKE_DEADLINE(), &d, &h.err),
	             IMAP_ERR_REFUSED, "no MOVE, no UID EXPUNGE: not even to the Trash");
	imap_delete_result_free(&d);
	finish(&h, "");
}

Test(write, permanent_delete_without_uidplus_sends_nothing)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 MOVE"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_ref ref = {"INBOX", 0};
	struct imap_delete_result d;
	cr_assert_eq(imap_message_delete(h.s, &ref, 5, true, FAKE_DEADLINE(), &d, &h.err),
	             IMAP_ERR_REFUSED);
	imap_delete_result_free(&d);
	finish(&h, "");
}

Test(write, copy_without_uidplus_finds_the_copy_by_message_id)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n$TAG OK [READ-ONLY] done\r\n"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {25}\r\n"
		              "Message-Id:\r\n <a@b.c>\r\n\r\n)\r\n"),
		FAKE_EXPECT("STATUS Archive (UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS Archive (UIDNEXT 20 UIDVALIDITY 42)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("UID COPY 5 Archive"),
		FAKE_SEND("$TAG OK Copy completed\r\n"),
		FAKE_EXPECT("EXAMINE Archive"),
		FAKE_SEND("* 4 EXISTS\r\n* OK [UIDVALIDITY 42] ok\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID SEARCH UID 20:* HEADER Message-ID \"<a@b.c>\""),
		FAKE_SEND("* SEARCH 3 21\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "Archive", false, &r), 0, "%s", h.err.msg);
	cr_assert(r.v[0].found);
	cr_assert_eq(r.v[0].new_uid, 21);
	cr_assert_eq(r.uidvalidity, 42);
	imap_transfer_result_free(&r);
	finish(&h, "A1 EXAMINE INBOX\n"
	           "A2 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 STATUS Archive (UIDNEXT UIDVALIDITY)\n"
	           "A4 UID COPY 5 Archive\n"
	           "A5 EXAMINE Archive\n"
	           "A6 UID SEARCH UID 20:* HEADER Message-ID \"<a@b.c>\"");
}

Test(write, move_to_unknown_folder_is_not_found_and_nothing_else_is_sent)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+ UIDPLUS"),
		SELECT_INBOX("7"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID COPY 5 Nope"),
		FAKE_SEND("$TAG NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "Nope", true, &r), IMAP_ERR_NOT_FOUND);
	cr_assert_str_eq(h.err.imap_code, "TRYCREATE");
	imap_transfer_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 UID COPY 5 Nope");
}

/* Courier answers a COPY (its move) to a missing folder with a bare NO: a
 * STATUS of the target tells a missing folder (404) from a failing server. */
Test(write, bare_no_to_a_copy_is_not_found_when_the_target_is_missing)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 UIDPLUS"),
		SELECT_INBOX("7"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID COPY 5 INBOX.Nope"),
		FAKE_SEND("$TAG NO Error in IMAP command received by server.\r\n"),
		FAKE_EXPECT("STATUS INBOX.Nope (UIDVALIDITY)"),
		FAKE_SEND("$TAG NO Mailbox does not exist, or must be subscribed to.\r\n"),
		/* the second request's selection is the first one's: looked at again */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
		PREFETCH("6", "* 2 FETCH (UID 6 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID COPY 6 INBOX.Full"),
		FAKE_SEND("$TAG NO Error in IMAP command received by server.\r\n"),
		FAKE_EXPECT("STATUS INBOX.Full (UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX.Full (UIDVALIDITY 3)\r\n$TAG OK STATUS Completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "INBOX.Nope", true, &r), IMAP_ERR_NOT_FOUND, "%s", h.err.msg);
	imap_transfer_result_free(&r);
	cr_assert_eq(transfer_one(&h, 6, "INBOX.Full", true, &r), IMAP_ERR_NO,
	             "the target exists: the server's refusal stands");
	imap_transfer_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 UID COPY 5 INBOX.Nope\n"
	           "A4 STATUS INBOX.Nope (UIDVALIDITY)\n"
	           "A5 NOOP\n"
	           "A6 UID FETCH 6 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A7 UID COPY 6 INBOX.Full\n"
	           "A8 STATUS INBOX.Full (UIDVALIDITY)");
}

/* Courier writes back the keywords a session last read: each STORE there
 * follows a NOOP, so the session has read what other sessions stored. */
Test(write, courier_stores_flags_after_a_fresh_look)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] Courier-IMAP ready. Copyright "
		          "1998-2018 Double Precision, Inc.\r\n"),
		SELECT_INBOX("7"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 1 FETCH (FLAGS ($a))\r\n$TAG OK NOOP completed\r\n"),
		FAKE_EXPECT("UID STORE 4 +FLAGS.SILENT ($b)"),
		FAKE_SEND("$TAG OK STORE completed.\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
		FAKE_EXPECT("UID STORE 4 -FLAGS.SILENT (\\Flagged)"),
		FAKE_SEND("$TAG OK STORE completed.\r\n"),
		FAKE_EXPECT("UID FETCH 4 (UID FLAGS)"),
		FAKE_SEND("* 1 FETCH (UID 4 FLAGS ($a $b))\r\n$TAG OK FETCH completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uid = 4;
	const char *add[] = {"$b"}, *rem[] = {"\\Flagged"};
	struct imap_store st = {.add = add, .nadd = 1, .remove = rem, .nremove = 1};
	struct imap_ref ref = {"INBOX", 7};
	struct imap_flags_result r;
	cr_assert_eq(imap_flags_store(h.s, &ref, &uid, 1, &st, FAKE_DEADLINE(), &r, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert_eq(r.v[0].nflags, 2);
	imap_flags_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 NOOP\n"
	           "A3 UID STORE 4 +FLAGS.SILENT ($b)\n"
	           "A4 NOOP\n"
	           "A5 UID STORE 4 -FLAGS.SILENT (\\Flagged)\n"
	           "A6 UID FETCH 4 (UID FLAGS)");
}

Test(write, move_without_copyuid_keeps_an_unconfirmed_original)
{
	/* UIDPLUS, no MOVE, and the server gives no COPYUID (UIDNOTSTICKY), nor
	 * can the copy be found: the original must stay. */
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+ UIDPLUS"),
		SELECT_INBOX("7"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
		              "Message-ID: <a@b>\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID COPY 5 Archive"),
		FAKE_SEND("$TAG OK [UIDNOTSTICKY] Copy completed\r\n"),
		FAKE_EXPECT("EXAMINE Archive"),
		FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 42] ok\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID SEARCH HEADER Message-ID \"<a@b>\""),
		FAKE_SEND("* SEARCH\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_transfer_result r;
	cr_assert_eq(transfer_one(&h, 5, "Archive", true, &r), IMAP_ERR_REFUSED);
	cr_assert(strstr(h.err.msg, "left in place"), "%s", h.err.msg);
	imap_transfer_result_free(&r);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A3 UID COPY 5 Archive\n"
	           "A4 EXAMINE Archive\n"
	           "A5 UID SEARCH HEADER Message-ID \"<a@b>\"");
}

Test(write, permanent_delete_expunges_that_uid_only)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		FAKE_EXPECT("UID STORE 5 +FLAGS.SILENT (\\Deleted)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID EXPUNGE 5"),
		FAKE_SEND("* 2 EXPUNGE\r\n$TAG OK Expunge completed\r\n"),
		/* a UID that is not there: nothing reported expunged; the
		 * selection of the earlier operation is brought up to date first */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("UID STORE 6 +FLAGS.SILENT (\\Deleted)"),
		FAKE_SEND("$TAG OK Store completed\r\n"),
		FAKE_EXPECT("UID EXPUNGE 6"),
		FAKE_SEND("$TAG OK Expunge completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_ref ref = {"INBOX", 7};
	struct imap_delete_result d;
	cr_assert_eq(imap_message_delete(h.s, &ref, 5, true, FAKE_DEADLINE(), &d, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert(d.found && !d.moved);
	imap_delete_result_free(&d);
	cr_assert_eq(imap_message_delete(h.s, &ref, 6, true, FAKE_DEADLINE(), &d, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert(!d.found);
	imap_delete_result_free(&d);
	finish(&h, "A1 SELECT INBOX\n"
	           "A2 UID STORE 5 +FLAGS.SILENT (\\Deleted)\nA3 UID EXPUNGE 5\n"
	           "A4 NOOP\nA5 UID STORE 6 +FLAGS.SILENT (\\Deleted)\nA6 UID EXPUNGE 6");
}

Test(write, delete_moves_to_trash_found_by_name)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		SELECT_INBOX("7"),
		FAKE_EXPECT("LIST \"\" \"*\""),
		FAKE_SEND("* LIST () \".\" INBOX\r\n* LIST () \".\" \"Deleted Items\"\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("LSUB \"\" \"*\""),
		FAKE_SEND("$TAG OK done\r\n"),
		PREFETCH("5", "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n"),
		FAKE_EXPECT("UID MOVE 5 \"Deleted Items\""),
		FAKE_SEND("* OK [COPYUID 9 5 33] Moved\r\n* 1 EXPUNGE\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_ref ref = {"INBOX", 0};
	struct imap_delete_result d;
	cr_assert_eq(imap_message_delete(h.s, &ref, 5, false, FAKE_DEADLINE(), &d, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert(d.found && d.moved);
	cr_assert_str_eq(d.trash, "Deleted Items");
	cr_assert_eq(d.new_uid, 33);
	cr_assert_eq(d.uidvalidity, 9);
	imap_delete_result_free(&d);
	finish(&h, "A1 SELECT INBOX\nA2 LIST \"\" \"*\"\nA3 LSUB \"\" \"*\"\n"
	           "A4 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	           "A5 UID MOVE 5 \"Deleted Items\"");
}

/* ---- append ---- */

Test(write, append_waits_for_continuation_without_literal_plus)
{
	static const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 UIDPLUS"),
		FAKE_EXPECT("APPEND Donn&AOk-es (\\Seen $Work) \"05-Feb-2024 10:00:00 +0100\" {21}"),
		FAKE_QUIET(200),
		FAKE_SEND("+ Ready for literal data\r\n"),
		FAKE_READ_BYTES(21),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [APPENDUID 77 4] Append completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const char *flags[] = {"\\SEEN", "$Work"};
	struct imap_append a = {.folder = "Donn\u00e9es", .data = msg, .len = sizeof msg - 1,
	                        .flags = flags, .nflags = 2,
	                        .internaldate = "05-Feb-2024 10:00:00 +0100"};
	struct imap_appended out;
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), 0, "%s", h.err.msg);
	cr_assert_eq(out.uidvalidity, 77);
	cr_assert_eq(out.uid, 4);
	finish(&h, "A1 APPEND Donn&AOk-es (\\Seen $Work) \"05-Feb-2024 10:00:00 +0100\" {21}\n"
	           "Subject: hi\r\n\r\nbody\r\n\n");
}

Test(write, append_without_appenduid_searches_by_message_id)
{
	static const char msg[] = "Message-ID: <m1@x>\r\n\r\nhi\r\n";
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
		FAKE_EXPECT("STATUS INBOX (UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (UIDNEXT 12 UIDVALIDITY 3)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("APPEND INBOX {26+}"),
		FAKE_READ_BYTES(26),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK Append completed\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 12 EXISTS\r\n* OK [UIDVALIDITY 3] ok\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID SEARCH UID 12:* HEADER Message-ID \"<m1@x>\""),
		FAKE_SEND("* SEARCH 12\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_append a = {.folder = "INBOX", .data = msg, .len = sizeof msg - 1};
	struct imap_appended out;
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), 0, "%s", h.err.msg);
	cr_assert_eq(out.uidvalidity, 3);
	cr_assert_eq(out.uid, 12);
	finish(&h, "A1 STATUS INBOX (UIDNEXT UIDVALIDITY)\n"
	           "A2 APPEND INBOX {26+}\nMessage-ID: <m1@x>\r\n\r\nhi\r\n\n\n"
	           "A3 EXAMINE INBOX\n"
	           "A4 UID SEARCH UID 12:* HEADER Message-ID \"<m1@x>\"");
}

Test(write, append_refusals_send_nothing)
{
	static const struct fake_step script[] = {
		GREETING(CAPS_ALL),
		FAKE_EXPECT("STATUS INBOX (UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (UIDNEXT 12 UIDVALIDITY 3)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("APPEND Nope {4+}"),
		FAKE_READ_BYTES(4),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	static const char nul[] = "a\0b";
	struct imap_append a = {.folder = "INBOX", .data = nul, .len = 3};
	struct imap_appended out;
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), IMAP_ERR_INVALID);
	const char *bad[] = {"\\Recent"};
	a = (struct imap_append){.folder = "INBOX", .data = "x: y", .len = 4, .flags = bad,
	                         .nflags = 1};
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), IMAP_ERR_INVALID);
	a = (struct imap_append){.folder = "INBOX", .uidvalidity = 4, .data = "x: y", .len = 4};
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), IMAP_ERR_STALE);
	a = (struct imap_append){.folder = "Nope", .data = "x: y", .len = 4};
	cr_assert_eq(imap_message_append(h.s, &a, FAKE_DEADLINE(), &out, &h.err), IMAP_ERR_NOT_FOUND);
	finish(&h, "A1 STATUS INBOX (UIDNEXT UIDVALIDITY)\nA2 APPEND Nope {4+}\nx: y\n");
}

/* ---- folders ---- */

Test(write, create_makes_missing_ancestors_on_a_server_that_does_not)
{
	/* Courier-like: "." delimiter, no LIST-EXTENDED. */
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
		FAKE_EXPECT("LIST \"\" \"\""),
		FAKE_SEND("* LIST (\\Noselect) \".\" \"\"\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("LIST \"\" INBOX.A.B"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("LSUB \"\" INBOX.A.B"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("LIST \"\" INBOX"),
		FAKE_SEND("* LIST () \".\" INBOX\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("LSUB \"\" INBOX"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("LIST \"\" INBOX.A"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("LSUB \"\" INBOX.A"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("CREATE INBOX.A"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("CREATE INBOX.A.B"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("SUBSCRIBE INBOX.A.B"),
		FAKE_SEND("$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(imap_folder_create(h.s, "INBOX.A.B", true, FAKE_DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	finish(&h, "A1 LIST \"\" \"\"\nA2 LIST \"\" INBOX.A.B\nA3 LSUB \"\" INBOX.A.B\n"
	           "A4 LIST \"\" INBOX\nA5 LSUB \"\" INBOX\nA6 LIST \"\" INBOX.A\n"
	           "A7 LSUB \"\" INBOX.A\nA8 CREATE INBOX.A\nA9 CREATE INBOX.A.B\n"
	           "A10 SUBSCRIBE INBOX.A.B");
}

Test(write, folder_names_are_checked_before_anything_changes)
{
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
		FAKE_EXPECT("LIST \"\" \"\""),
		FAKE_SEND("* LIST (\\Noselect) \"/\" \"\"\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("LIST \"\" \"\""),
		FAKE_SEND("* LIST (\\Noselect) \"/\" \"\"\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("LIST \"\" \"\""),
		FAKE_SEND("* LIST (\\Noselect) \"/\" \"\"\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(imap_folder_create(h.s, "a//b", true, FAKE_DEADLINE(), &h.err), IMAP_ERR_INVALID);
	cr_assert_eq(imap_folder_create(h.s, "a/", true, FAKE_DEADLINE(), &h.err), IMAP_ERR_INVALID);
	cr_assert_eq(imap_folder_create(h.s, "50%", true, FAKE_DEADLINE(), &h.err), IMAP_ERR_INVALID);
	cr_assert_eq(imap_folder_rename(h.s, "INBOX", "x", 0, FAKE_DEADLINE(), &h.err), IMAP_ERR_REFUSED);
	struct imap_folder_deleted d;
	cr_assert_eq(imap_folder_delete(h.s, "inbox", true, 0, FAKE_DEADLINE(), &d, &h.err),
	             IMAP_ERR_REFUSED);
	imap_folder_deleted_free(&d);
	finish(&h, "A1 LIST \"\" \"\"\nA2 LIST \"\" \"\"\nA3 LIST \"\" \"\"");
}

Test(write, delete_refuses_children_unless_forced_then_goes_deepest_first)
{
#define LISTING                                                                       \
	FAKE_EXPECT("LIST \"\" \"\""),                                                    \
	FAKE_SEND("* LIST (\\Noselect) \"/\" \"\"\r\n$TAG OK done\r\n"),                  \
	FAKE_EXPECT("LIST \"\" \"*\""),                                                   \
	FAKE_SEND("* LIST () \"/\" INBOX\r\n* LIST () \"/\" P\r\n* LIST () \"/\" P/a\r\n" \
	          "* LIST () \"/\" P/a/x\r\n* LIST () \"/\" P/b\r\n* LIST () \"/\" Px\r\n"  \
	          "$TAG OK done\r\n"),                                                    \
	FAKE_EXPECT("LSUB \"\" \"*\""),                                                   \
	FAKE_SEND("* LSUB () \"/\" P/a\r\n$TAG OK done\r\n"),                             \
	FAKE_EXPECT("STATUS P (MESSAGES UIDVALIDITY)"),                                   \
	FAKE_SEND("* STATUS P (MESSAGES 0 UIDVALIDITY 5)\r\n$TAG OK done\r\n")
	static const struct fake_step script[] = {
		GREETING("IMAP4rev1 LITERAL+"),
		LISTING,
		LISTING,
		FAKE_EXPECT("DELETE P/a/x"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("DELETE P/b"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("DELETE P/a"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("DELETE P"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("UNSUBSCRIBE P/a"),
		FAKE_SEND("$TAG OK done\r\n"),
	};
#undef LISTING
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_folder_deleted d;
	cr_assert_eq(imap_folder_delete(h.s, "P", false, 0, FAKE_DEADLINE(), &d, &h.err),
	             IMAP_ERR_REFUSED);
	cr_assert(strstr(h.err.msg, "3 sub-folders"), "%s", h.err.msg);
	cr_assert_eq(d.n, 0);
	imap_folder_deleted_free(&d);
	cr_assert_eq(imap_folder_delete(h.s, "P", true, 0, FAKE_DEADLINE(), &d, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert_eq(d.n, 4);
	cr_assert_str_eq(d.paths[0], "P/a/x");
	cr_assert_str_eq(d.paths[3], "P");
	imap_folder_deleted_free(&d);
	finish(&h, "A1 LIST \"\" \"\"\nA2 LIST \"\" \"*\"\nA3 LSUB \"\" \"*\"\n"
	           "A4 STATUS P (MESSAGES UIDVALIDITY)\n"
	           "A5 LIST \"\" \"\"\nA6 LIST \"\" \"*\"\nA7 LSUB \"\" \"*\"\n"
	           "A8 STATUS P (MESSAGES UIDVALIDITY)\n"
	           "A9 DELETE P/a/x\nA10 DELETE P/b\nA11 DELETE P/a\nA12 DELETE P\n"
	           "A13 UNSUBSCRIBE P/a");
}
