/*
 * Unit tests of change states: the token (api/state.c) and what
 * imap_changes asks of a scripted server and makes of its answers, on each
 * path (QRESYNC, CONDSTORE alone, neither) and when it must give up.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "api/render.h"
#include "imap/changes.h"
#include "tests/support/fake_session.h"

/* ---- the token ---- */

static bool decodes(const char *token, const char *folder, struct imap_state *out)
{
	struct api_response resp;
	api_response_init(&resp);
	bool ok = api_state_decode(token, folder, out, &resp);
	if (!ok)
		cr_expect_eq(resp.status, 400, "%s: a refused state is a 400", token);
	api_response_free(&resp);
	return ok;
}

Test(changes, state_round_trip)
{
	static const struct imap_state states[] = {
		{1, 1, 0, 0},
		{7, 12, 5, 120},
		{UINT32_MAX, UINT32_MAX, UINT32_MAX - 1, UINT64_MAX},
		{3, 9, IMAP_STATE_EXISTS_UNKNOWN, 1},
	};
	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
		char t[API_STATE_LEN + 1];
		api_state_encode(&states[i], "Archive/2024", t);
		cr_expect_eq(strlen(t), API_STATE_LEN);
		cr_expect_eq(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		             API_STATE_LEN, "base64url: %s", t);
		struct imap_state back;
		cr_assert(decodes(t, "Archive/2024", &back), "%s", t);
		cr_expect(back.uidvalidity == states[i].uidvalidity && back.uidnext == states[i].uidnext &&
		          back.exists == states[i].exists && back.modseq == states[i].modseq);
		/* another folder's state is refused; INBOX is INBOX in any case */
		cr_expect_not(decodes(t, "Archive/2023", &back));
	}
	char t[API_STATE_LEN + 1];
	struct imap_state st = {7, 12, 5, 120}, back;
	api_state_encode(&st, "INBOX", t);
	cr_expect(decodes(t, "inbox", &back));
}

Test(changes, hostile_tokens_are_refused)
{
	struct imap_state st = {7, 12, 5, 120}, back;
	char good[API_STATE_LEN + 1];
	api_state_encode(&st, "INBOX", good);
	cr_expect_not(decodes(NULL, "INBOX", &back));
	cr_expect_not(decodes("", "INBOX", &back));
	char t[80];
	/* one character short, one too many, padding, the standard alphabet */
	snprintf(t, sizeof t, "%.33s", good);
	cr_expect_not(decodes(t, "INBOX", &back));
	snprintf(t, sizeof t, "%sA", good);
	cr_expect_not(decodes(t, "INBOX", &back));
	snprintf(t, sizeof t, "%.32s==", good);
	cr_expect_not(decodes(t, "INBOX", &back));
	for (const char *bad = "+/=. \x01\xff"; *bad; bad++) {
		snprintf(t, sizeof t, "%s", good);
		t[5] = *bad;
		cr_expect_not(decodes(t, "INBOX", &back), "byte %02x", (unsigned char)*bad);
	}
	/* the last character carries 4 bits that must be zero */
	snprintf(t, sizeof t, "%s", good);
	t[API_STATE_LEN - 1] = t[API_STATE_LEN - 1] == 'B' ? 'C' : 'B';
	cr_expect_not(decodes(t, "INBOX", &back));
	/* numbers no folder has: another version, UIDVALIDITY 0, UIDNEXT 0,
	 * more messages than UIDs */
	static const struct imap_state wrong[] = {{0, 12, 5, 1}, {7, 0, 0, 1}, {7, 5, 5, 1},
	                                          {7, 5, 9, 1}};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		api_state_encode(&wrong[i], "INBOX", t);
		cr_expect_not(decodes(t, "INBOX", &back), "state %zu", i);
	}
	api_state_encode(&st, "INBOX", t);
	t[0] = 'B';  /* version byte 0x05 */
	cr_expect_not(decodes(t, "INBOX", &back));
}

/* ---- what is asked, and what is made of the answers ---- */

static void expect_uids(const uint32_t *v, size_t n, const char *want, const char *what)
{
	char got[256] = "";
	size_t k = 0;
	for (size_t i = 0; i < n && k < sizeof got - 12; i++)
		k += (size_t)snprintf(got + k, sizeof got - k, "%s%u", i ? "," : "", v[i]);
	cr_expect_str_eq(got, want, "%s: [%s], not [%s]", what, got, want);
}

static void changes_of(struct fake_session *h, const struct imap_state *since, uint32_t max,
                       struct imap_changes *out)
{
	cr_assert_eq(imap_session_enable(h->s, FAKE_DEADLINE(), &h->err), 0, "%s", h->err.msg);
	cr_assert_eq(imap_changes(h->s, "INBOX", since, max, FAKE_DEADLINE(), out, &h->err), 0,
	             "%s", h->err.msg);
}

Test(changes, qresync_vanished_and_changedsince)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE QRESYNC] hi\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE QRESYNC"),
		FAKE_SEND("* ENABLED CONDSTORE QRESYNC\r\n$TAG OK Enabled\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 6 UIDNEXT 12 UIDVALIDITY 7 HIGHESTMODSEQ 120)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 6 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 12] n\r\n"
		          "* OK [HIGHESTMODSEQ 120] m\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID FETCH 1:* (UID) (CHANGEDSINCE 100 VANISHED)"),
		/* 11 came and went after the state: the client never knew it */
		FAKE_SEND("* VANISHED (EARLIER) 3:4,11\r\n* 1 FETCH (UID 2 MODSEQ (110))\r\n"
		          "* 5 FETCH (UID 10 MODSEQ (111))\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_state since = {7, 10, 6, 100};
	struct imap_changes c;
	changes_of(&h, &since, 500, &c);
	cr_expect_eq(c.verdict, IMAP_CHANGES_OK);
	cr_expect_eq(c.method, IMAP_CHANGES_QRESYNC);
	expect_uids(c.created, c.ncreated, "10", "created");
	expect_uids(c.updated, c.nupdated, "2", "updated");
	expect_uids(c.destroyed, c.ndestroyed, "3,4", "destroyed");
	cr_expect(!c.has_more);
	cr_expect(c.state.uidnext == 12 && c.state.modseq == 120 && c.state.exists == 6);
	imap_changes_free(&c);
	fake_session_finish(&h, NULL);
}

Test(changes, condstore_alone_cuts_by_modseq)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE] hi\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 6 UIDNEXT 7 UIDVALIDITY 7 HIGHESTMODSEQ 130)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* OK [UIDVALIDITY 7] v\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID FETCH 1:* (UID) (CHANGEDSINCE 100)"),
		FAKE_SEND("* 1 FETCH (UID 1 MODSEQ (120))\r\n* 5 FETCH (UID 5 MODSEQ (110))\r\n"
		          "* 6 FETCH (UID 6 MODSEQ (130))\r\n$TAG OK done\r\n"),
		FAKE_EXPECT_PREFIX("UID SEARCH"),
		FAKE_SEND("* SEARCH 1 2 3 4 5 6\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_state since = {7, 5, 4, 100};
	struct imap_changes c;
	changes_of(&h, &since, 1, &c);
	cr_expect_eq(c.verdict, IMAP_CHANGES_OK);
	cr_expect_eq(c.method, IMAP_CHANGES_CONDSTORE);
	/* the lowest MODSEQ first; the next new message (6) must come as created */
	expect_uids(c.created, c.ncreated, "5", "created");
	expect_uids(c.updated, c.nupdated, "", "updated");
	expect_uids(c.destroyed, c.ndestroyed, "", "destroyed");
	cr_expect(c.has_more);
	cr_expect_eq(c.state.modseq, 110);
	cr_expect_eq(c.state.uidnext, 6);
	cr_expect_eq(c.state.exists, 5, "UIDs 1 to 5 are there: %u", c.state.exists);
	imap_changes_free(&c);
	fake_session_finish(&h, NULL);
}

/* No CONDSTORE: the count rule for destroyed, every old message updated. */
Test(changes, neither_extension_count_rule)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 5 UIDNEXT 7 UIDVALIDITY 7)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* OK [UIDVALIDITY 7] v\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_SEND("* SEARCH 1 2 4 5 6\r\n$TAG OK done\r\n"),
		/* the second time the UIDs below 6 have a gap and one more is gone */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 4 UIDNEXT 7 UIDVALIDITY 7)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_SEND("* SEARCH 1 2 5 6\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_state since = {7, 6, 5, 0};
	struct imap_changes c;
	changes_of(&h, &since, 500, &c);
	cr_expect_eq(c.verdict, IMAP_CHANGES_OK);
	cr_expect_eq(c.method, IMAP_CHANGES_SEARCH);
	expect_uids(c.created, c.ncreated, "6", "created");
	expect_uids(c.updated, c.nupdated, "1,2,4,5", "updated");
	expect_uids(c.destroyed, c.ndestroyed, "3", "destroyed");
	struct imap_state next = c.state;
	imap_changes_free(&c);
	cr_expect(next.uidnext == 7 && next.exists == 5);
	cr_assert_eq(imap_changes(h.s, "INBOX", &next, 500, FAKE_DEADLINE(), &c, &h.err), 0, "%s",
	             h.err.msg);
	cr_expect_eq(c.verdict, IMAP_CHANGES_CANNOT, "3 and 4 are gaps, one of them just went");
	cr_expect_not_null(c.why);
	cr_expect_null(c.created);
	imap_changes_free(&c);
	fake_session_finish(&h, NULL);
}

Test(changes, new_uidvalidity_and_states_from_elsewhere)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE] hi\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 8 HIGHESTMODSEQ 5)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* OK [UIDVALIDITY 8] v\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 8 HIGHESTMODSEQ 5)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_state since = {7, 2, 1, 5};
	struct imap_changes c;
	changes_of(&h, &since, 500, &c);
	cr_expect_eq(c.verdict, IMAP_CHANGES_UIDVALIDITY);
	imap_changes_free(&c);
	/* a UIDNEXT the folder never reached */
	struct imap_state future = {8, 9, 1, 5};
	cr_assert_eq(imap_changes(h.s, "INBOX", &future, 500, FAKE_DEADLINE(), &c, &h.err), 0);
	cr_expect_eq(c.verdict, IMAP_CHANGES_CANNOT);
	imap_changes_free(&c);
	fake_session_finish(&h, NULL);
}
