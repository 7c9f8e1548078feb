/*
 * A server that goes silent mid-response (a literal announced and never
 * sent whole) is given up after the session's stall timeout, however far
 * the command's own deadline is; a server that keeps sending is not.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "imap/client.h"
#include "imap/command.h"
#include "tests/support/fake_session.h"

TestSuite(stall, .timeout = 30);

static int run_fetch(unsigned stall_ms, const struct fake_step *script, size_t n,
                     int64_t *took_ms, struct imap_error *err)
{
	struct fake_session h;
	fake_session_start(&h, script, n, IMAP_TLS_NONE);
	h.cfg.stall_ms = stall_ms;
	fake_session_connect(&h);
	struct imap_session *s = h.s;
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_number(&c, 1);
	imap_cmd_raw(&c, "BODY.PEEK[]");
	int64_t t0 = imap_now_ms();
	int rc = imap_session_run(s, &c, NULL, NULL, imap_now_ms() + 20000, err);
	*took_ms = imap_now_ms() - t0;
	imap_cmd_free(&c);
	fake_session_finish(&h, "A1 UID FETCH 1 BODY.PEEK[]");
	return rc;
}

Test(stall, silent_server_is_given_up_after_the_stall_timeout)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("UID FETCH 1 BODY.PEEK[]"),
		FAKE_SEND("* 1 FETCH (UID 1 BODY[] {1000}\r\nonly a little"),
		FAKE_QUIET(3000),
	};
	struct imap_error err = {0};
	int64_t took;
	int rc = run_fetch(300, script, sizeof script / sizeof script[0], &took, &err);
	cr_expect_eq(rc, IMAP_ERR_TIMEOUT, "%d %s", rc, err.msg);
	cr_expect(strstr(err.msg, "sent nothing for 300 ms") != NULL, "%s", err.msg);
	/* the message names the stall, not the command's 20 s deadline */
	cr_expect_lt(took, 15000, "took %lld ms", (long long)took);
}

Test(stall, slow_but_steady_server_is_not)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("UID FETCH 1 BODY.PEEK[]"),
		FAKE_SEND("* 1 FETCH (UID 1 BODY[] {6}\r\nab"),
		FAKE_DELAY(200),
		FAKE_SEND("cd"),
		FAKE_DELAY(200),
		FAKE_SEND("ef)\r\n"),
		FAKE_DELAY(200),
		FAKE_SEND("$TAG OK done\r\n"),
	};
	struct imap_error err = {0};
	int64_t took;
	int rc = run_fetch(1500, script, sizeof script / sizeof script[0], &took, &err);
	cr_expect_eq(rc, 0, "%d %s", rc, err.msg);
}
