/*
 * MULTISEARCH (RFC 7377) against the scripted fake server: the exact
 * command (mailbox names quoted, non-ASCII ones in modified UTF-7, the
 * search program after RETURN (ALL)), and the ESEARCH answers read back —
 * the good ones per folder, and hostile ones: a MAILBOX not asked for, a
 * second answer for a folder, no MAILBOX, no UIDVALIDITY, another command's
 * TAG, sets too large or malformed. None of the test servers (Dovecot 2.3,
 * Cyrus 3.6, Courier 5.0) offers MULTISEARCH, so this is where it is shown.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "imap/multisearch.h"
#include "tests/support/fake_session.h"

TestSuite(multisearch, .timeout = 20);

#define GREETING FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ESEARCH MULTISEARCH] ready\r\n")

static const char *const folders[] = {
	"INBOX", "Sent", "Projects/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "Donn\xc3\xa9" "es",
	"say \"hi\" \\ back", "Caf\xc3\xa9 & Co",
};
#define NF (sizeof folders / sizeof folders[0])

/* The command as sent for folders[] and this filter: names that are atoms
 * go as atoms, the others quoted. */
#define THE_COMMAND                                                                   \
	"ESEARCH IN (mailboxes (INBOX Sent Projects/&ZeVnLIqe- Donn&AOk-es "               \
	"\"say \\\"hi\\\" \\\\ back\" \"Caf&AOk- &- Co\")) RETURN (ALL) UNSEEN SUBJECT \"x\""

Test(multisearch, command_syntax)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "A9", 0, 0);
	struct imap_filter f = {.unseen = true, .subject = "x"};
	imap_multisearch_cmd(&c, folders, NF, &f);
	cr_assert_eq(c.err, 0);
	cr_assert_str_eq(c.wire.data, "A9 " THE_COMMAND);
	imap_cmd_free(&c);

	/* UTF8=ACCEPT on: names as UTF-8; a UTF-8 program says its charset */
	imap_cmd_init(&c, "A9", IMAP_CMD_UTF8, 0);
	const char *two[] = {"INBOX", "Donn\xc3\xa9" "es"};
	struct imap_filter g = {.text = "caf\xc3\xa9"};
	imap_multisearch_cmd(&c, two, 2, &g);
	cr_assert_eq(c.err, 0);
	cr_assert_str_eq(c.wire.data, "A9 ESEARCH IN (mailboxes (INBOX \"Donn\xc3\xa9" "es\")) "
	                              "RETURN (ALL) CHARSET UTF-8 TEXT \"caf\xc3\xa9\"");
	imap_cmd_free(&c);

	/* a name that is not UTF-8 cannot be sent */
	imap_cmd_init(&c, "A9", 0, 0);
	const char *bad[] = {"INBOX", "x\xff"};
	imap_multisearch_cmd(&c, bad, 2, &f);
	cr_assert_eq(c.err, IMAP_ERR_INVALID);
	imap_cmd_free(&c);
}

/* Run imap_multisearch over folders[] on a fake that answers `answer`
 * (then "$TAG OK"); its result code, *m filled on success. */
static int run(const char *answer, size_t max_uids, struct imap_multi *m, struct fake_session *h)
{
	const struct fake_step script[] = {
		GREETING,
		FAKE_EXPECT(THE_COMMAND),
		FAKE_SEND(answer),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK still here\r\n"),
	};
	fake_session_open(h, script, FAKE_NSTEPS(script));
	struct imap_filter f = {.unseen = true, .subject = "x"};
	int rc = imap_multisearch(h->s, folders, NF, &f, max_uids, FAKE_DEADLINE(), m, &h->err);
	/* whatever the answer, the session goes on */
	struct imap_cmd c;
	imap_session_cmd(h->s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_assert_eq(imap_session_run(h->s, &c, NULL, NULL, FAKE_DEADLINE(), &h->err), 0, "%s",
	             h->err.msg);
	imap_cmd_free(&c);
	fake_session_finish(h, "A1 " THE_COMMAND "\nA2 NOOP");
	return rc;
}

Test(multisearch, answers_per_folder)
{
	struct imap_multi m;
	struct fake_session h;
	int rc = run("* ESEARCH (TAG \"$TAG\" MAILBOX \"inbox\" UIDVALIDITY 7) UID ALL 3:5,9\r\n"
	             "* ESEARCH (TAG \"$TAG\" MAILBOX Projects/&ZeVnLIqe- UIDVALIDITY 11) UID "
	             "COUNT 2 ALL 12,10\r\n"
	             "* ESEARCH (TAG \"$TAG\" MAILBOX {14}\r\nCaf&AOk- &- Co UIDVALIDITY 5) UID "
	             "MIN 4 ALL 4\r\n"
	             "* ESEARCH (TAG \"$TAG\" MAILBOX \"Trash\" UIDVALIDITY 2) UID ALL 1:100\r\n"
	             "* ESEARCH (TAG \"other\" MAILBOX \"Sent\" UIDVALIDITY 3) UID ALL 1\r\n"
	             "* ESEARCH UID ALL 77\r\n"
	             "* 4 EXISTS\r\n"
	             "$TAG OK done\r\n",
	             1000, &m, &h);
	cr_assert_eq(rc, 0, "%s", h.err.msg);
	cr_assert_eq(m.n, NF);
	cr_assert(m.v[0].answered);
	cr_assert_eq(m.v[0].uidvalidity, 7);
	cr_assert_eq(m.v[0].n, 4);
	cr_assert_eq(m.v[0].uids[0], 3);
	cr_assert_eq(m.v[0].uids[3], 9);
	cr_assert(!m.v[1].answered, "another command's TAG is not ours");
	cr_assert(m.v[2].answered);
	cr_assert_eq(m.v[2].uidvalidity, 11);
	cr_assert_eq(m.v[2].n, 2);
	cr_assert_eq(m.v[2].uids[0], 12);
	cr_assert(!m.v[3].answered && !m.v[4].answered);
	cr_assert(m.v[5].answered, "a literal MAILBOX, modified UTF-7");
	cr_assert_eq(m.v[5].n, 1);
	cr_assert_eq(m.v[5].uids[0], 4);
	cr_assert_eq(m.foreign, 1, "Trash was not asked for: dropped");
	cr_assert_eq(m.total, 7);
	imap_multi_free(&m);
}

Test(multisearch, no_matches_anywhere)
{
	struct imap_multi m;
	struct fake_session h;
	cr_assert_eq(run("$TAG OK nothing\r\n", 1000, &m, &h), 0, "%s", h.err.msg);
	for (size_t i = 0; i < NF; i++)
		cr_assert(!m.v[i].answered);
	cr_assert_eq(m.total, 0);
	imap_multi_free(&m);
}

Test(multisearch, an_answer_without_uidvalidity_is_kept_untrusted)
{
	struct imap_multi m;
	struct fake_session h;
	cr_assert_eq(run("* ESEARCH (TAG \"$TAG\" MAILBOX \"Sent\") UID ALL 8\r\n"
	                 "* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 0) UID ALL 2\r\n"
	                 "$TAG OK done\r\n", 1000, &m, &h), 0, "%s", h.err.msg);
	cr_assert(m.v[1].answered);
	cr_assert_eq(m.v[1].uidvalidity, 0);
	cr_assert_eq(m.v[1].uids[0], 8);
	cr_assert(m.v[0].answered);
	cr_assert_eq(m.v[0].uidvalidity, 0, "0 is no UIDVALIDITY");
	imap_multi_free(&m);
}

/* Answers that fail the command, each leaving the session usable. */
Test(multisearch, hostile_answers_fail_cleanly)
{
	static const struct {
		const char *answer;
		size_t max;
		int rc;
	} bad[] = {
		/* the same folder twice */
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 1\r\n"
		 "* ESEARCH (TAG \"$TAG\" MAILBOX \"INBOX\" UIDVALIDITY 7) UID ALL 2\r\n$TAG OK\r\n",
		 1000, IMAP_ERR_PROTOCOL},
		/* our TAG but no MAILBOX */
		{"* ESEARCH (TAG \"$TAG\" UIDVALIDITY 7) UID ALL 1\r\n$TAG OK\r\n", 1000,
		 IMAP_ERR_PROTOCOL},
		/* a range beyond what may be held, refused before any work */
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 1:4294967295\r\n"
		 "$TAG OK\r\n", 1000, IMAP_ERR_LIMIT},
		/* many small answers beyond it in all */
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 1:600\r\n"
		 "* ESEARCH (TAG \"$TAG\" MAILBOX Sent UIDVALIDITY 7) UID ALL 1:600\r\n$TAG OK\r\n",
		 1000, IMAP_ERR_LIMIT},
		/* malformed sets */
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 1:*\r\n$TAG OK\r\n",
		 1000, IMAP_ERR_PROTOCOL},
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 0\r\n$TAG OK\r\n", 1000,
		 IMAP_ERR_PROTOCOL},
		{"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 3,,4\r\n$TAG OK\r\n",
		 1000, IMAP_ERR_PROTOCOL},
		/* refused by the server */
		{"$TAG BAD unknown command\r\n", 1000, IMAP_ERR_BAD},
		{"$TAG NO [NONEXISTENT] no such mailbox\r\n", 1000, IMAP_ERR_NO},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct imap_multi m;
		struct fake_session h;
		int rc = run(bad[i].answer, bad[i].max, &m, &h);
		cr_assert_eq(rc, bad[i].rc, "case %zu: %d (%s)", i, rc, h.err.msg);
		cr_assert_null(m.v, "case %zu: nothing kept", i);
	}
}
