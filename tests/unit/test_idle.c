/*
 * Unit tests of IDLE (imap_session_idle) against the scripted server: what
 * ends it (news, a wake-up, its time), that silence longer than the stall
 * limit is fine while idling, and the faults (BYE, a closed connection).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "imap/client.h"
#include "tests/support/fake_session.h"

static int on_news(void *ctx, const struct imap_response *r)
{
	int *seen = ctx;
	const struct imap_value *what = r->args ? imap_value_at(r->args, 1) : NULL;
	if (imap_value_is_atom(what, "EXISTS")) {
		(*seen)++;
		return 1;
	}
	return 0;
}

static void open_stalling(struct fake_session *h, const struct fake_step *script, size_t n)
{
	fake_session_start(h, script, n, IMAP_TLS_NONE);
	h->cfg.stall_ms = 100;  /* IDLE waits far longer than this */
	fake_session_connect(h);
}

Test(idle, news_ends_it_and_silence_is_no_stall)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_DELAY(600),
		FAKE_SEND("* OK still here\r\n"),
		FAKE_DELAY(300),
		FAKE_SEND("* 4 EXISTS\r\n"),
		FAKE_EXPECT_RAW("DONE"),
		FAKE_SEND("* 5 EXISTS\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	open_stalling(&h, script, FAKE_NSTEPS(script));
	int seen = 0;
	int64_t until = imap_now_ms() + 10000;
	int rc = imap_session_idle(h.s, -1, until, on_news, &seen, until + 3000, &h.err);
	cr_expect_eq(rc, 0, "%s", h.err.msg);
	cr_expect_eq(seen, 2, "both EXISTS handed over");
	cr_expect_eq(imap_session_mailbox(h.s), NULL);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 IDLE\nDONE");
}

Test(idle, ends_when_woken_or_at_its_time)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_EXPECT_RAW("DONE"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_EXPECT_RAW("DONE"),
		FAKE_SEND("$TAG OK done\r\n"),
	};
	struct fake_session h;
	open_stalling(&h, script, FAKE_NSTEPS(script));
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);  /* woken at once */
	int64_t until = imap_now_ms() + 60000;
	cr_expect_eq(imap_session_idle(h.s, p[0], until, NULL, NULL, until + 3000, &h.err), 0, "%s",
	             h.err.msg);
	cr_expect_lt(imap_now_ms(), until - 50000, "the wake-up ended it, not the time");
	char b;
	cr_assert_eq(read(p[0], &b, 1), 1);
	until = imap_now_ms() + 300;  /* its time */
	cr_expect_eq(imap_session_idle(h.s, p[0], until, NULL, NULL, until + 3000, &h.err), 0, "%s",
	             h.err.msg);
	cr_expect_geq(imap_now_ms(), until);
	close(p[0]);
	close(p[1]);
	fake_session_finish(&h, "A1 IDLE\nDONE\nA2 IDLE\nDONE");
}

Test(idle, bye_and_a_closed_connection_break_the_session)
{
	static const struct fake_step bye[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_DELAY(200),
		FAKE_SEND("* BYE shutting down\r\n"),
		FAKE_CLOSE(),
	};
	struct fake_session h;
	open_stalling(&h, bye, FAKE_NSTEPS(bye));
	int64_t until = imap_now_ms() + 10000;
	cr_expect_eq(imap_session_idle(h.s, -1, until, NULL, NULL, until + 3000, &h.err),
	             IMAP_ERR_BYE);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, NULL);

	static const struct fake_step eof[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_DELAY(200),
		FAKE_CLOSE(),
	};
	open_stalling(&h, eof, FAKE_NSTEPS(eof));
	until = imap_now_ms() + 10000;
	cr_expect_eq(imap_session_idle(h.s, -1, until, NULL, NULL, until + 3000, &h.err),
	             IMAP_ERR_IO);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, NULL);

	static const struct fake_step refused[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("$TAG BAD unknown command\r\n"),
	};
	open_stalling(&h, refused, FAKE_NSTEPS(refused));
	until = imap_now_ms() + 10000;
	cr_expect_eq(imap_session_idle(h.s, -1, until, NULL, NULL, until + 3000, &h.err),
	             IMAP_ERR_BAD);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, NULL);
}
