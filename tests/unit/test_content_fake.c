/*
 * tests/unit/test_content_fake.c — streaming one body section
 * (imap_content_stream, imap/content.h) against the scripted fake server
 * (tests/support/fake_imap.h), when the server sends literals the stream
 * did not ask for, in any order: the sink must get the bytes of
 * BODY[section] of the wanted UID, and nothing else.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/client.h"
#include "imap/command.h"
#include "imap/content.h"
#include "tests/support/fake_session.h"

TestSuite(content_fake, .timeout = 20);


#define GREETING FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n")
#define EXAMINE_INBOX                                                                 \
	FAKE_EXPECT("EXAMINE INBOX"),                                                   \
	FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n$TAG OK [READ-ONLY] done\r\n")

/* What the sink was given: start calls, the last total, the bytes. */
struct sunk {
	int starts;
	uint64_t total;
	struct imap_buf bytes;
};

static int collect(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct sunk *k = ctx;
	if (!data) {
		k->starts++;
		k->total = total;
		return 0;
	}
	cr_expect_eq(total, k->total, "pieces carry the literal's size");
	return imap_buf_append(&k->bytes, data, len);
}

static int stream(struct fake_session *h, uint32_t uid, const char *section, struct sunk *k)
{
	memset(k, 0, sizeof *k);
	imap_buf_init(&k->bytes, 0);
	return imap_content_stream(h->s, "INBOX", 7, uid, section, collect, k, FAKE_DEADLINE(), &h->err);
}

static void expect_streamed(const struct sunk *k, const char *want)
{
	cr_expect_eq(k->starts, 1, "%d start calls", k->starts);
	cr_expect_eq(k->total, strlen(want));
	cr_expect_eq(k->bytes.len, strlen(want));
	cr_expect_str_eq(k->bytes.data ? k->bytes.data : "", want);
}

Test(content_fake, header_literal_before_the_wanted_section)
{
	/* One FETCH holds BODY[HEADER] first (which was not asked for), then
	 * BODY[2]; an unsolicited FETCH of another message and a repeat of
	 * the section come around it. */
	static const struct fake_step script[] = {
		GREETING,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[2])"),
		FAKE_SEND("* 1 FETCH (UID 4 BODY[2] {11}\r\nnot this one)\r\n"
		          "* 2 FETCH (UID 5 BODY[HEADER] {16}\r\nSubject: hello\r\n"
		          " BODY[2] {11}\r\nright bytes)\r\n"
		          "* 2 FETCH (UID 5 BODY[2] {5}\r\nagain)\r\n"
		          "$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct sunk k;
	int rc = stream(&h, 5, "2", &k);
	cr_expect_eq(rc, 0, "rc %d: %s", rc, h.err.msg);
	expect_streamed(&k, "right bytes");
	imap_buf_free(&k.bytes);
	fake_session_finish(&h, "A1 EXAMINE INBOX\nA2 UID FETCH 5 (UID BODY.PEEK[2])");
}

Test(content_fake, uid_after_the_body_and_similar_sections)
{
	/* BODY[12], BODY[1.2] and BODY[1.MIME] are not BODY[1]; the UID may
	 * follow the body; a partial's "<0>" origin names the same section. */
	static const struct fake_step script[] = {
		GREETING,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 9 (UID BODY.PEEK[1])"),
		FAKE_SEND("* 3 FETCH (BODY[12] {2}\r\nxx BODY[1.2] {2}\r\nyy BODY[1.MIME] {2}\r\nzz"
		          " BODY[1]<0> {4}\r\npart UID 9)\r\n"
		          "$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct sunk k;
	int rc = stream(&h, 9, "1", &k);
	cr_expect_eq(rc, 0, "rc %d: %s", rc, h.err.msg);
	expect_streamed(&k, "part");
	imap_buf_free(&k.bytes);
	fake_session_finish(&h, "A1 EXAMINE INBOX\nA2 UID FETCH 9 (UID BODY.PEEK[1])");
}

Test(content_fake, whole_message_after_other_items)
{
	static const struct fake_step script[] = {
		GREETING,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[])"),
		FAKE_SEND("* 2 FETCH (FLAGS (\\Seen) BODY[TEXT] {4}\r\ntext UID 5 BODY[] {8}\r\n"
		          "A: b\r\n\r\n)\r\n"
		          "$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct sunk k;
	int rc = stream(&h, 5, "", &k);
	cr_expect_eq(rc, 0, "rc %d: %s", rc, h.err.msg);
	expect_streamed(&k, "A: b\r\n\r\n");
	imap_buf_free(&k.bytes);
	fake_session_finish(&h, "A1 EXAMINE INBOX\nA2 UID FETCH 5 (UID BODY.PEEK[])");
}

Test(content_fake, body_later_found_to_be_another_message)
{
	/* Without a UID before the body, the first BODY[2] goes out; when its
	 * FETCH then names another message, the call fails rather than pass
	 * for a success, and the session stays usable. */
	static const struct fake_step script[] = {
		GREETING,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[2])"),
		FAKE_SEND("* 1 FETCH (BODY[2] {3}\r\nxyz UID 4)\r\n"
		          "* 2 FETCH (UID 5 BODY[2] {3}\r\nabc)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct sunk k;
	int rc = stream(&h, 5, "2", &k);
	cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "rc %d: %s", rc, h.err.msg);
	cr_expect_eq(k.starts, 1);
	imap_buf_free(&k.bytes);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_expect_eq(imap_session_run(h.s, &c, NULL, NULL, FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	imap_cmd_free(&c);
	fake_session_finish(&h, "A1 EXAMINE INBOX\nA2 UID FETCH 5 (UID BODY.PEEK[2])\nA3 NOOP");
}

Test(content_fake, no_such_section)
{
	static const struct fake_step script[] = {
		GREETING,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[3])"),
		FAKE_SEND("* 2 FETCH (UID 5 BODY[3] NIL BODY[HEADER] {4}\r\nx\r\n\r\n)\r\n"
		          "$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct sunk k;
	int rc = stream(&h, 5, "3", &k);
	/* the message is there and the server will not give the section: its
	 * failure (502), never "no such message" */
	cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "rc %d: %s", rc, h.err.msg);
	cr_expect(strstr(h.err.msg, "no data for section") != NULL, "%s", h.err.msg);
	cr_expect_eq(k.starts, 0);
	imap_buf_free(&k.bytes);
	fake_session_finish(&h, "A1 EXAMINE INBOX\nA2 UID FETCH 5 (UID BODY.PEEK[3])");
}
