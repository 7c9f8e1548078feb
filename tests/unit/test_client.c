/*
 * tests/unit/test_client.c — the IMAP client (imap/client.h) against a
 * scripted fake server (tests/support/fake_session.h).
 *
 * Every test states the whole conversation: what the server sends and the
 * exact lines the client must send, then checks the client's result and
 * the transcript of everything it sent (nothing more is allowed: the fake
 * flags any extra byte). Each test has its own fake on its own port, so
 * they run in parallel.
 */
#include <criterion/criterion.h>

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/client.h"
#include "imap/command.h"
#include "imap/conn.h"
#include "tests/support/dump.h"
#include "tests/support/fake_session.h"

TestSuite(client, .timeout = 20);

/* ---- helpers ---- */

/* Untagged responses a command's handler saw, as canonical dumps. */
struct seen {
	struct imap_buf dumps;
	int calls;
	int fail_at; /* return IMAP_ERR_LIMIT on this call (1-based); 0: never */
};

static struct seen seen_new(int fail_at)
{
	struct seen sn = {.fail_at = fail_at};
	imap_buf_init(&sn.dumps, 0);
	return sn;
}

static int on_untagged(void *ctx, const struct imap_response *r)
{
	struct seen *sn = ctx;
	char *d = test_dump_response(r);
	if (sn->dumps.len)
		imap_buf_putc(&sn->dumps, '\n');
	imap_buf_puts(&sn->dumps, d ? d : "(null)");
	free(d);
	sn->calls++;
	return sn->calls == sn->fail_at ? IMAP_ERR_LIMIT : 0;
}

static const char *seen_text(const struct seen *sn)
{
	return sn->dumps.data ? sn->dumps.data : "";
}

/* Run a command of trusted words (NULL-terminated) through imap_session_run. */
static int run_words(struct fake_session *h, struct seen *sn, int64_t deadline, ...)
{
	struct imap_cmd c;
	imap_session_cmd(h->s, &c);
	va_list ap;
	va_start(ap, deadline);
	for (const char *w; (w = va_arg(ap, const char *));)
		imap_cmd_atom(&c, w);
	va_end(ap);
	memset(&h->err, 0, sizeof h->err);
	int rc = imap_session_run(h->s, &c, sn ? on_untagged : NULL, sn, deadline, &h->err);
	imap_cmd_free(&c);
	return rc;
}

static int login(struct fake_session *h, enum imap_mech mech, const char *user, const char *pass)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_login(h->s, mech, user, pass, FAKE_DEADLINE(), &h->err);
}

static int oauth(struct fake_session *h, enum imap_mech mech, const char *user, const char *token)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_authenticate_oauth(h->s, mech, user, token, FAKE_DEADLINE(), &h->err);
}

static uint32_t caps_of(struct fake_session *h)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(h->s, &caps, FAKE_DEADLINE(), &h->err);
	cr_assert_eq(rc, 0, "imap_session_caps: rc %d (%s)", rc, h->err.msg);
	return caps;
}

/* Plain base64 (RFC 4648), written here so the expected SASL payloads do
 * not depend on the encoder the client uses. Caller frees. */
static char *b64(const char *data, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	cr_assert_not_null(out);
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)(unsigned char)data[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)(unsigned char)data[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char)data[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

#define B64_USER_PASS "AHVzZXIAcGFzcw==" /* "\0user\0pass" */
/* "user=alice@example.com\x01auth=Bearer ya29.tok\x01\x01" */
#define B64_XOAUTH2 "dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnRvawEB"
/* {"status":"401","schemes":"bearer","scope":"https://mail.example.com/"} */
#define B64_OAUTH_ERROR \
	"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZXhh" \
	"bXBsZS5jb20vIn0="

Test(client, base64_helper_matches_reference_vectors)
{
	char *a = b64("\0user\0pass", 10);
	cr_expect_str_eq(a, B64_USER_PASS);
	free(a);
	const char xo[] = "user=alice@example.com\x01" "auth=Bearer ya29.tok\x01\x01";
	a = b64(xo, sizeof xo - 1);
	cr_expect_str_eq(a, B64_XOAUTH2);
	free(a);
	a = b64("\x01", 1);
	cr_expect_str_eq(a, "AQ==");
	free(a);
}

/* ---- greetings and capabilities ---- */

Test(client, greeting_capability_code_needs_no_command)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN X-GM-EXT-1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK Logged in\r\n"),
		/* the login did not restate capabilities: the client asks at once */
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 LITERAL+ MOVE\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_LITERAL_PLUS | IMAP_CAP_AUTH_PLAIN);
	cr_expect(imap_session_has_cap(h.s, "X-GM-EXT-1"));
	cr_expect(imap_session_has_cap(h.s, "x-gm-ext-1"));
	cr_expect(imap_session_has_cap(h.s, "literal+"));
	cr_expect(!imap_session_has_cap(h.s, "IDLE"));
	cr_expect(!imap_session_has_cap(h.s, "X-GM"));
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_LITERAL_PLUS | IMAP_CAP_MOVE);
	fake_session_finish(&h, "A1 LOGIN alice secret\nA2 CAPABILITY");
}

Test(client, greeting_without_code_asks_capability_when_needed)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK IMAP4rev1 Service Ready\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK CAPABILITY completed\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	/* connect alone did not ask: nothing is known yet */
	cr_expect(!imap_session_has_cap(h.s, "IMAP4rev1"), "capabilities not known yet");
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), 0, "%s", h.err.msg);
	fake_session_finish(&h, "A1 CAPABILITY\nA2 LOGIN alice secret");
}

Test(client, capability_learnt_from_untagged_response_during_command)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH IMAP4rev1 logged in\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE MOVE\r\n* 3 EXISTS\r\n"
		            "$TAG OK NOOP completed\r\n"),
	};
	struct fake_session h;
	struct seen sn = seen_new(0);
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_assert_eq(run_words(&h, &sn, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	cr_expect_str_eq(seen_text(&sn), "* CAPABILITY IMAP4rev1 IDLE MOVE\n* 3 EXISTS");
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE | IMAP_CAP_MOVE);
	cr_expect(imap_session_has_cap(h.s, "MOVE"));
	imap_buf_free(&sn.dumps);
	fake_session_finish(&h, "A1 NOOP");
}

Test(client, capability_from_login_ok_code_is_not_requested_again)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE MOVE ENABLE CONDSTORE] Logged in\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), 0, "%s", h.err.msg);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE | IMAP_CAP_MOVE |
	                          IMAP_CAP_ENABLE | IMAP_CAP_CONDSTORE);
	cr_expect(!imap_session_has_cap(h.s, "AUTH=PLAIN"), "pre-login capabilities replaced");
	cr_assert_eq(imap_session_enable(h.s, FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	fake_session_finish(&h, "A1 LOGIN alice secret\nA2 ENABLE CONDSTORE");
}

Test(client, capability_forgotten_after_login_without_code)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK Logged in\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	/* asked right after the login, once, and known from then on */
	cr_expect(!imap_session_has_cap(h.s, "AUTH=PLAIN"), "capabilities must be forgotten");
	cr_expect(imap_session_has_cap(h.s, "IDLE"), "capabilities asked again after login");
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE, "asked only once");
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS "\nA2 CAPABILITY");
}

Test(client, greeting_preauth_is_authenticated)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] Logged in as alice\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	/* nothing left to authenticate: refused locally, nothing sent */
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), IMAP_ERR_INVALID);
	fake_session_finish(&h, "");
}

Test(client, greeting_bye)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* BYE [UNAVAILABLE] Too many connections\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect_fails(&h, IMAP_ERR_BYE);
	cr_expect(strstr(h.err.msg, "Too many connections"), "msg: %s", h.err.msg);
	fake_session_finish(&h, "");
}

Test(client, greeting_garbage_is_protocol_error)
{
	static const struct {
		const char *bytes;
		size_t len;
	} greetings[] = {
#define G(s) {s, sizeof(s) - 1}
		G("HTTP/1.1 400 Bad Request\r\n"),   /* not IMAP at all */
		G("SSH-2.0-OpenSSH_9.2p1\r\n"),
		G("\x16\x03\x01\x00\x05hello\r\n"),  /* binary, with NUL */
		G("* 3 EXISTS\r\n"),                 /* data, not a status */
		G("* NO go away\r\n"),               /* NO is not a greeting */
		G("A1 OK hello\r\n"),                /* tagged */
		G("+ go ahead\r\n"),                 /* continuation */
		G("* OK hi\rthere\r\n"),             /* bare CR */
#undef G
	};
	for (size_t i = 0; i < FAKE_NSTEPS(greetings); i++) {
		const struct fake_step script[] = {
			FAKE_SEND_BYTES(greetings[i].bytes, greetings[i].len),
		};
		struct fake_session h;
		FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
		h.s = NULL;
		int rc = fake_session_connect_by(&h, FAKE_DEADLINE());
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "greeting #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_null(h.s);
		fake_session_finish(&h, "");
	}
}

Test(client, greeting_never_comes_times_out)
{
	struct fake_session h;
	fake_session_start(&h, NULL, 0, IMAP_TLS_NONE);
	int64_t t0 = imap_now_ms();
	int rc = fake_session_connect_by(&h, t0 + 300);
	int64_t took = imap_now_ms() - t0;
	cr_expect_eq(rc, IMAP_ERR_TIMEOUT, "rc %d (%s)", rc, h.err.msg);
	cr_expect_null(h.s);
	cr_expect(took >= 290 && took < 1300, "took %lld ms for a 300 ms deadline", (long long)took);
	fake_session_finish(&h, "");
}

Test(client, greeting_cut_off_is_io_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PL"),
		FAKE_CLOSE(),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect_fails(&h, IMAP_ERR_IO);
	fake_session_finish(&h, "");
}

Test(client, greeting_split_across_reads)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPA"),
		FAKE_DELAY(20),
		FAKE_SEND("BILITY IMAP4rev1 ID"),
		FAKE_DELAY(20),
		FAKE_SEND("LE] ready\r"),
		FAKE_DELAY(20),
		FAKE_SEND("\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	fake_session_finish(&h, "");
}

/* ---- passwords ---- */

Test(client, login_refused_is_auth_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice wrong"),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		FAKE_EXPECT("LOGIN alice right"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "alice", "wrong"), IMAP_ERR_AUTH);
	cr_expect_eq(h.err.code, IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect_str_eq(h.err.msg, "Authentication failed.");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the stream is in sync: the next attempt goes through */
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "alice", "right"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 LOGIN alice wrong\nA2 LOGIN alice right");
}

Test(client, login_disabled_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(h.err.code, IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(login(&h, IMAP_MECH_AUTO, "alice", "secret"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(login(&h, IMAP_MECH_PLAIN, "alice", "secret"), IMAP_ERR_UNSUPPORTED,
	             "AUTH=PLAIN not offered");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	fake_session_finish(&h, "");
}

Test(client, plain_with_sasl_ir_is_one_line)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client, plain_without_sasl_ir_waits_for_continuation)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN"),
		FAKE_QUIET(150),
		FAKE_SEND("+ \r\n"),
		FAKE_EXPECT_RAW(B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN\n" B64_USER_PASS);
}

Test(client, plain_refused_is_auth_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(!strstr(h.err.msg, "pass") && !strstr(h.err.msg, B64_USER_PASS));
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client, login_quotes_and_escapes_password)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN \"alice smith\" \"pa\\\"ss\\\\word\""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice smith", "pa\"ss\\word"), 0, "%s",
	             h.err.msg);
	fake_session_finish(&h, "A1 LOGIN \"alice smith\" \"pa\\\"ss\\\\word\"");
}

Test(client, login_non_ascii_password_as_literal_plus)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
		FAKE_EXPECT("LOGIN alice {10+}"),
		FAKE_READ_BYTES(10),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	fake_session_finish(&h, "A1 LOGIN alice {10+}\npässwörd\n");
}

Test(client, login_sync_literal_waits_for_continuation)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice {10}"),
		/* no data may come before the "+": the client must wait */
		FAKE_QUIET(300),
		FAKE_SEND("+ Ready for literal data\r\n"),
		FAKE_READ_BYTES(10),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	int64_t t0 = imap_now_ms();
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	cr_expect(imap_now_ms() - t0 >= 290, "login returned before the server's \"+\"");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 LOGIN alice {10}\npässwörd\n");
}

Test(client, login_sync_literal_refused_sends_no_data)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice {10}"),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		/* the next bytes must be the next command, not the literal */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	int rc = login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd");
	cr_expect(rc == IMAP_ERR_AUTH || rc == IMAP_ERR_NO, "rc %d (%s)", rc, h.err.msg);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the command is over: the next one is read as a command, not data */
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	fake_session_finish(&h, "A1 LOGIN alice {10}\nA2 NOOP");
}

/* ---- STARTTLS ---- */

Test(client, starttls_not_offered_in_greeting)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	fake_session_connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	fake_session_finish(&h, "");
}

Test(client, starttls_not_offered_after_capability)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK ready\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	fake_session_connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	fake_session_finish(&h, "A1 CAPABILITY"); /* and never a credential */
}

Test(client, starttls_refuses_preauth)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	fake_session_connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	fake_session_finish(&h, "");
}

Test(client, starttls_response_injection_is_refused)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		/* one write: the injected line arrives with the OK */
		FAKE_SEND("$TAG OK Begin TLS negotiation now\r\n* OK injected\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	fake_session_connect_fails(&h, IMAP_ERR_PROTOCOL);
	fake_session_finish(&h, "A1 STARTTLS"); /* no TLS handshake attempted either */
}

Test(client, starttls_ok_starts_handshake_at_once)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		FAKE_SEND("$TAG OK Begin TLS negotiation now\r\n"),
		FAKE_READ_BYTES(1), /* a TLS handshake record starts with 0x16 */
		FAKE_CLOSE(),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	h.s = NULL;
	int rc = fake_session_connect_by(&h, FAKE_DEADLINE());
	cr_expect(rc == IMAP_ERR_TLS || rc == IMAP_ERR_IO, "rc %d (%s)", rc, h.err.msg);
	cr_expect_null(h.s);
	fake_session_finish(&h, "A1 STARTTLS\n\x16");
}

Test(client, starttls_refused_by_server_fails)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		FAKE_SEND("$TAG NO TLS unavailable\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_STARTTLS);
	h.s = NULL;
	int rc = fake_session_connect_by(&h, FAKE_DEADLINE());
	cr_expect_neq(rc, 0);
	cr_expect_null(h.s);
	fake_session_finish(&h, "A1 STARTTLS");
}

/* ---- OAuth 2.0 ---- */

Test(client, xoauth2_success_with_sasl_ir)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice@example.com", "ya29.tok"), 0, "%s",
	             h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	fake_session_finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2);
}

Test(client, xoauth2_failure_answers_error_challenge_with_empty_line)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("+ " B64_OAUTH_ERROR "\r\n"),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice@example.com", "ya29.tok"),
	             IMAP_ERR_AUTH, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(strstr(h.err.msg, "status 401"), "msg: %s", h.err.msg);
	cr_expect(!strstr(h.err.msg, "ya29.tok"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	fake_session_finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2 "\n");
}

/* base64 of the RFC 7628 client response for this fake's port. */
static char *oauthbearer_b64(const struct fake_session *h, const char *authzid, const char *token)
{
	char gs2[512];
	int n = snprintf(gs2, sizeof gs2,
	                 "n,a=%s,\x01host=127.0.0.1\x01port=%u\x01" "auth=Bearer %s\x01\x01",
	                 authzid, (unsigned)h->cfg.port, token);
	cr_assert(n > 0 && (size_t)n < sizeof gs2);
	return b64(gs2, (size_t)n);
}

Test(client, oauthbearer_success_with_sasl_ir)
{
	struct fake_session h;
	/* The payload names the fake's port, known only once it runs: the
	 * script borrows this buffer, filled before the client connects. */
	static char expect[1024];
	const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT(expect),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	char *payload = oauthbearer_b64(&h, "alice@example.com", "ya29.tok");
	snprintf(expect, sizeof expect, "AUTHENTICATE OAUTHBEARER %s", payload);
	fake_session_connect(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice@example.com", "ya29.tok"), 0,
	             "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	char want[1100];
	snprintf(want, sizeof want, "A1 %s", expect);
	fake_session_finish(&h, want);
	free(payload);
}

Test(client, oauthbearer_failure_answers_with_ctrl_a)
{
	struct fake_session h;
	static char initial[1024]; /* filled once the port is known */
	const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE OAUTHBEARER"),
		FAKE_SEND("+ \r\n"),
		FAKE_EXPECT_RAW(initial),
		FAKE_SEND("+ " B64_OAUTH_ERROR "\r\n"),
		FAKE_EXPECT_RAW("AQ=="),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed\r\n"),
	};
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_trace(&h);
	char *payload = oauthbearer_b64(&h, "alice@example.com", "ya29.tok");
	snprintf(initial, sizeof initial, "%s", payload);
	fake_session_connect(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice@example.com", "ya29.tok"),
	             IMAP_ERR_AUTH, "%s", h.err.msg);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(strstr(h.err.msg, "status 401"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the token and its base64 never reach the trace */
	const char *trace = fake_session_trace_text(&h);
	cr_expect(!strstr(trace, "ya29") && !strstr(trace, payload), "trace:\n%s", trace);
	cr_expect(strstr(trace, "C: ***\n"), "trace:\n%s", trace);
	char want[1200];
	snprintf(want, sizeof want, "A1 AUTHENTICATE OAUTHBEARER\n%s\nAQ==", payload);
	fake_session_finish(&h, want);
	free(payload);
}

Test(client, oauth_auto_prefers_oauthbearer)
{
	struct fake_session h;
	static char expect[1024]; /* filled once the port is known */
	const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT(expect),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	/* "," and "=" in the authzid are escaped as RFC 5801 requires */
	char *payload = oauthbearer_b64(&h, "a=2Cb=3Dc@example.com", "tok");
	snprintf(expect, sizeof expect, "AUTHENTICATE OAUTHBEARER %s", payload);
	fake_session_connect(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_AUTO, "a,b=c@example.com", "tok"), 0, "%s", h.err.msg);
	char want[1100];
	snprintf(want, sizeof want, "A1 %s", expect);
	fake_session_finish(&h, want);
	free(payload);
}

Test(client, oauth_auto_uses_xoauth2_when_only_offered)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=PLAIN] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(oauth(&h, IMAP_MECH_AUTO, "alice@example.com", "ya29.tok"), 0, "%s",
	             h.err.msg);
	fake_session_finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2);
}

Test(client, oauth_not_offered_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(oauth(&h, IMAP_MECH_AUTO, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(h.err.code, IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	fake_session_finish(&h, "");
}

/* ---- ENABLE ---- */

Test(client, enable_condstore_and_utf8)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE UTF8=ACCEPT] hi\r\n"),
		FAKE_EXPECT("SELECT Entw&APw-rfe"),
		FAKE_SEND("$TAG OK [READ-WRITE] Selected\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE UTF8=ACCEPT"),
		FAKE_SEND("* ENABLED CONDSTORE UTF8=ACCEPT\r\n$TAG OK Enabled\r\n"),
		FAKE_EXPECT("SELECT \"Entwürfe\""),
		FAKE_SEND("$TAG OK [READ-WRITE] Selected\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect(!imap_session_condstore(h.s) && !imap_session_utf8(h.s));
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			cr_assert_eq(imap_session_enable(h.s, FAKE_DEADLINE(), &h.err), 0, "%s",
			             h.err.msg);
			cr_expect(imap_session_condstore(h.s));
			cr_expect(imap_session_utf8(h.s));
		}
		/* a mailbox name: modified UTF-7 before, UTF-8 after ENABLE */
		struct imap_cmd c;
		imap_session_cmd(h.s, &c);
		imap_cmd_atom(&c, "SELECT");
		imap_cmd_mailbox(&c, "Entwürfe", strlen("Entwürfe"));
		cr_expect_eq(imap_session_run(h.s, &c, NULL, NULL, FAKE_DEADLINE(), &h.err), 0, "%s",
		             h.err.msg);
		imap_cmd_free(&c);
	}
	fake_session_finish(&h, "A1 SELECT Entw&APw-rfe\nA2 ENABLE CONDSTORE UTF8=ACCEPT\n"
	           "A3 SELECT \"Entwürfe\"");
}

Test(client, enable_only_what_the_server_enabled)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE UTF8=ACCEPT] hi\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE UTF8=ACCEPT"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(imap_session_enable(h.s, FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	fake_session_finish(&h, "A1 ENABLE CONDSTORE UTF8=ACCEPT");
}

Test(client, enable_without_enable_capability_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 CONDSTORE UTF8=ACCEPT] hi\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_assert_eq(imap_session_enable(h.s, FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(!imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	fake_session_finish(&h, "");
}

/* ---- faults while a command runs ---- */

#define PREAUTH_GREETING FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n")

Test(client, disconnect_mid_response_breaks_session)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 1 EXISTS\r\n* 2 EXI"),
		FAKE_SHUTDOWN(), /* the client sees EOF; the fake still listens */
	};
	struct fake_session h;
	struct seen sn = seen_new(0);
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(run_words(&h, &sn, FAKE_DEADLINE(), "NOOP", NULL), IMAP_ERR_IO, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_IO);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_str_eq(seen_text(&sn), "* 1 EXISTS");
	/* broken: fails at once, sends nothing */
	int64_t t0 = imap_now_ms();
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), IMAP_ERR_IO);
	cr_expect(imap_now_ms() - t0 < 100);
	imap_buf_free(&sn.dumps);
	fake_session_finish(&h, "A1 NOOP");
}

Test(client, bye_then_close_is_bye)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* BYE Server shutting down\r\n"),
		FAKE_CLOSE(),
	};
	struct fake_session h;
	struct seen sn = seen_new(0);
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(run_words(&h, &sn, FAKE_DEADLINE(), "NOOP", NULL), IMAP_ERR_BYE, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_BYE);
	cr_expect(strstr(h.err.msg, "Server shutting down"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(sn.calls, 0, "BYE is the session's business, not the handler's");
	fake_session_finish(&h, "A1 NOOP");
}

/* The client's address goes to the server as ID x-originating-ip before
 * the login, only when ID is offered; a refused ID does not stop the login. */
Test(client, id_names_the_client_before_login_when_offered)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 ID] ready\r\n"),
		FAKE_EXPECT("ID (\"x-originating-ip\" \"192.0.2.7\")"),
		FAKE_SEND("* ID NIL\r\n$TAG OK ID completed\r\n"),
		FAKE_EXPECT("ID (\"x-originating-ip\" \"2001:db8::1\")"),
		FAKE_SEND("$TAG BAD not now\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect(&h);
	cr_expect_eq(imap_session_id_origin(h.s, "192.0.2.7", FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_id_origin(h.s, "2001:db8::1", FAKE_DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	cr_expect_eq(imap_session_id_origin(h.s, "1.2.3.4\") (\"x", FAKE_DEADLINE(), &h.err),
	             IMAP_ERR_INVALID, "only an address is sent");
	fake_session_finish(&h, "A1 ID (\"x-originating-ip\" \"192.0.2.7\")\n"
	           "A2 ID (\"x-originating-ip\" \"2001:db8::1\")");
}

Test(client, no_id_without_the_capability)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect(&h);
	cr_expect_eq(imap_session_id_origin(h.s, "192.0.2.7", FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
	fake_session_finish(&h, "");
}

/* The server said BYE while the session was idle (autologout, a kick, a
 * restart) and closed: the next command must fail before a byte of it is
 * written, so that its caller knows the server never saw it. */
Test(client, bye_while_idle_fails_before_the_command_is_sent)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"
		          "* BYE Disconnected for inactivity.\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect(&h);
	uint64_t sent = imap_session_bytes_sent(h.s);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "CREATE", "K1", NULL), IMAP_ERR_BYE, "%s",
	             h.err.msg);
	cr_expect(strstr(h.err.msg, "Disconnected for inactivity"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(imap_session_bytes_sent(h.s), sent, "nothing of the command was written");
	fake_session_finish(&h, "");
}

/* The same when the BYE and the close come while the session waits: the
 * check finds them on the socket, again before anything is written. */
Test(client, close_while_idle_is_found_by_the_check)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_SEND("* BYE Server shutting down.\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_connect(&h);
	cr_assert_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	/* Wait (bounded) for the server's close to arrive, without reading it. */
	struct imap_error e;
	int rc = 0;
	for (int64_t end = FAKE_DEADLINE(); rc == 0 && imap_now_ms() < end;) {
		rc = imap_session_check(h.s, &e);
		if (rc == 0)
			poll(NULL, 0, 5);
	}
	cr_expect(rc == IMAP_ERR_BYE, "check: %d (%s)", rc, e.msg);
	uint64_t sent = imap_session_bytes_sent(h.s);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "CREATE", "K1", NULL), IMAP_ERR_IO);
	cr_expect_eq(imap_session_bytes_sent(h.s), sent);
	fake_session_finish(&h, "A1 NOOP");
}

/* "* 1 FETCH (BODY[] {n}" CRLF n bytes ")" CRLF, tagged OK. Caller frees. */
static char *fetch_response(size_t n)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_buf_printf(&b, "* 1 FETCH (BODY[] {%zu}\r\n", n);
	for (size_t i = 0; i < n; i++)
		imap_buf_putc(&b, (char)('a' + i % 26));
	imap_buf_puts(&b, ")\r\n$TAG OK FETCH completed\r\n");
	return imap_buf_steal(&b);
}

static int on_literal(void *ctx, const struct imap_response *r)
{
	size_t *len = ctx;
	const struct imap_value *body = imap_value_at(imap_value_at(r->args, 2), 1);
	if (body && body->kind == IMAP_VALUE_LITERAL)
		*len = body->len;
	return 0;
}

Test(client, literal_at_limit_is_accepted)
{
	char *resp = fetch_response(1024);
	const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("FETCH 1 BODY[]"),
		FAKE_SEND(resp),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.literal_max = 1024;
	fake_session_connect(&h);
	struct imap_cmd c;
	size_t got = 0;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_number(&c, 1);
	imap_cmd_atom(&c, "BODY[]");
	cr_expect_eq(imap_session_run(h.s, &c, on_literal, &got, FAKE_DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_expect_eq(got, 1024);
	fake_session_finish(&h, "A1 FETCH 1 BODY[]");
	free(resp);
}

Test(client, literal_over_limit_breaks_session)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("FETCH 1 BODY[]"),
		FAKE_SEND("* 1 FETCH (BODY[] {1025}\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.literal_max = 1024;
	fake_session_connect(&h);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "FETCH", "1", "BODY[]", NULL), IMAP_ERR_LIMIT,
	             "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_LIMIT);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, "A1 FETCH 1 BODY[]");
}

Test(client, server_stalls_mid_response_times_out)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 1 FETCH (UID 5"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	int64_t t0 = imap_now_ms();
	int rc = run_words(&h, NULL, t0 + 300, "NOOP", NULL);
	int64_t took = imap_now_ms() - t0;
	cr_expect_eq(rc, IMAP_ERR_TIMEOUT, "rc %d (%s)", rc, h.err.msg);
	cr_expect(took >= 290 && took < 1300, "took %lld ms for a 300 ms deadline", (long long)took);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, "A1 NOOP");
}

Test(client, garbage_line_is_protocol_error)
{
	static const struct {
		const char *bytes;
		size_t len;
	} lines[] = {
#define G(s) {s, sizeof(s) - 1}
		G("\x80\x81\xfe\xff\r\n"),
		G("* 1 EXISTS\r\n\xff\xfe\x00\x80garbage\r\n"),
		G("* 1 FETCH (FLAGS (\\Seen)\r\n"), /* list left open at the end of the line */
		G("* 1 EXISTS\rX\r\n"),
#undef G
	};
	for (size_t i = 0; i < FAKE_NSTEPS(lines); i++) {
		const struct fake_step script[] = {
			PREAUTH_GREETING,
			FAKE_EXPECT("NOOP"),
			FAKE_SEND_BYTES(lines[i].bytes, lines[i].len),
		};
		struct fake_session h;
		FAKE_SESSION_OPEN(&h, script);
		int rc = run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL);
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "line #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN, "line #%zu", i);
		fake_session_finish(&h, "A1 NOOP");
	}
}

Test(client, wrong_tag_is_protocol_error)
{
	static const char *const answers[] = {
		"A2 OK NOOP completed\r\n",
		"A11 OK NOOP completed\r\n",
		"B1 OK NOOP completed\r\n",
	};
	for (size_t i = 0; i < FAKE_NSTEPS(answers); i++) {
		const struct fake_step script[] = {
			PREAUTH_GREETING,
			FAKE_EXPECT("NOOP"),
			FAKE_SEND(answers[i]),
		};
		struct fake_session h;
		FAKE_SESSION_OPEN(&h, script);
		int rc = run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL);
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "answer #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
		fake_session_finish(&h, "A1 NOOP");
	}
}

Test(client, tagged_no_and_bad_carry_text_and_code)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("SELECT Archive"),
		FAKE_SEND("$TAG NO [TRYCREATE] Mailbox doesn't exist: Archive\r\n"),
		FAKE_EXPECT("FROB"),
		FAKE_SEND("$TAG BAD Error in IMAP command FROB: Unknown command.\r\n"),
		FAKE_EXPECT("SELECT Archive"),
		FAKE_SEND("$TAG NO Mailbox \xc3\xa4\x7f gone\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);

	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "SELECT", "Archive", NULL), IMAP_ERR_NO);
	cr_expect_eq(h.err.code, IMAP_ERR_NO);
	cr_expect_str_eq(h.err.msg, "Mailbox doesn't exist: Archive");
	cr_expect_str_eq(h.err.imap_code, "TRYCREATE");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);

	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "FROB", NULL), IMAP_ERR_BAD);
	cr_expect_eq(h.err.code, IMAP_ERR_BAD);
	cr_expect_str_eq(h.err.msg, "Error in IMAP command FROB: Unknown command.");
	cr_expect_str_eq(h.err.imap_code, "");

	/* server text reaches err.msg as printable ASCII only */
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "SELECT", "Archive", NULL), IMAP_ERR_NO);
	cr_expect_str_eq(h.err.msg, "Mailbox ??? gone");
	cr_expect_str_eq(h.err.imap_code, "");

	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	fake_session_finish(&h, "A1 SELECT Archive\nA2 FROB\nA3 SELECT Archive\nA4 NOOP");
}

Test(client, untagged_responses_reach_handler_in_order)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("UID FETCH 1:* (UID FLAGS BODY.PEEK[])"),
		FAKE_SEND("* 2 EXISTS\r\n* OK [UIDNEXT 5] Predicted next UID\r\n"),
		FAKE_DELAY(20), /* the rest in another read */
		FAKE_SEND("* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[] {5}\r\nhello)\r\n"
		            "* 2 FETCH (UID 5 FLAGS () BODY[] {0}\r\n)\r\n"
		            "$TAG OK Fetch completed\r\n"),
	};
	struct fake_session h;
	struct seen sn = seen_new(0);
	FAKE_SESSION_OPEN(&h, script);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_atom(&c, "1:*");
	imap_cmd_raw(&c, "(UID FLAGS BODY.PEEK[])");
	cr_assert_eq(imap_session_run(h.s, &c, on_untagged, &sn, FAKE_DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_expect_str_eq(seen_text(&sn),
	                 "* 2 EXISTS\n"
	                 "* OK [UIDNEXT 5] Predicted next UID\n"
	                 "* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[] {5}hello)\n"
	                 "* 2 FETCH (UID 5 FLAGS () BODY[] {0})");
	imap_buf_free(&sn.dumps);
	fake_session_finish(&h, "A1 UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
}

Test(client, handler_error_returned_after_tagged_answer)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("SEARCH ALL"),
		FAKE_SEND("* SEARCH 1 2\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct fake_session h;
	struct seen sn = seen_new(2);
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(run_words(&h, &sn, FAKE_DEADLINE(), "SEARCH", "ALL", NULL), IMAP_ERR_LIMIT);
	cr_expect_eq(h.err.code, IMAP_ERR_LIMIT);
	cr_expect_eq(sn.calls, 2, "the handler is not called after it failed");
	cr_expect_neq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	imap_buf_free(&sn.dumps);
	fake_session_finish(&h, "A1 SEARCH ALL\nA2 NOOP");
}

Test(client, unexpected_continuation_is_protocol_error)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("+ send more\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), IMAP_ERR_PROTOCOL);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, "A1 NOOP");
}

Test(client, invalid_argument_is_refused_before_sending)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "SEARCH");
	imap_cmd_string(&c, "a\0b", 3); /* NUL cannot be sent */
	cr_expect_eq(imap_session_run(h.s, &c, NULL, NULL, FAKE_DEADLINE(), &h.err), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	/* the refused command used up tag A1; nothing of it went out */
	fake_session_finish(&h, "A2 NOOP");
}

Test(client, logout_sends_logout_and_frees)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("LOGOUT"),
		FAKE_SEND("* BYE Logging out\r\n$TAG OK Logout completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	imap_session_logout(&h.s, FAKE_DEADLINE());
	cr_expect_null(h.s);
	fake_session_finish(&h, "A1 LOGOUT");
}

Test(client, logout_of_broken_session_sends_nothing)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("A9 OK wrong tag\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "NOOP", NULL), IMAP_ERR_PROTOCOL);
	int64_t t0 = imap_now_ms();
	imap_session_logout(&h.s, FAKE_DEADLINE());
	cr_expect(imap_now_ms() - t0 < 100);
	cr_expect_null(h.s);
	fake_session_finish(&h, "A1 NOOP");
}

Test(client, line_over_limit_breaks_session)
{
	char *line = malloc(3000);
	cr_assert_not_null(line);
	memcpy(line, "* SEARCH", 8);
	size_t n = 8;
	while (n < 2990)
		n += (size_t)sprintf(line + n, " %zu", n);
	memcpy(line + n, "\r\n", 3);
	const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("SEARCH ALL"),
		FAKE_SEND(line),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.line_max = 2048;
	fake_session_connect(&h);
	cr_expect_eq(run_words(&h, NULL, FAKE_DEADLINE(), "SEARCH", "ALL", NULL), IMAP_ERR_LIMIT,
	             "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, "A1 SEARCH ALL");
	free(line);
}

/* ---- traces ---- */

Test(client, trace_hides_login_secrets)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
		FAKE_EXPECT("LOGIN alice \"s3cr3t pass\""),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		FAKE_EXPECT("LOGIN alice {10+}"),
		FAKE_READ_BYTES(10),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_trace(&h);
	fake_session_connect(&h);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "s3cr3t pass"), IMAP_ERR_AUTH);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	cr_expect_str_eq(fake_session_trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 LITERAL+] ready\n"
	                 "C: A1 LOGIN *** ***\n"
	                 "S: A1 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
	                 "C: A2 LOGIN *** ***\n"
	                 "S: A2 OK [CAPABILITY IMAP4rev1] Logged in\n");
	const char *trace = fake_session_trace_text(&h);
	cr_expect(!strstr(trace, "s3cr3t") && !strstr(trace, "wörd"));
	fake_session_finish(&h, "A1 LOGIN alice \"s3cr3t pass\"\nA2 LOGIN alice {10+}\npässwörd\n");
}

Test(client, trace_hides_plain_with_sasl_ir)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_trace(&h);
	fake_session_connect(&h);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_str_eq(fake_session_trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\n"
	                 "C: A1 AUTHENTICATE PLAIN ***\n"
	                 "S: A1 OK [CAPABILITY IMAP4rev1] Logged in\n");
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client, trace_hides_plain_continuation)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN"),
		FAKE_SEND("+ \r\n"),
		FAKE_EXPECT_RAW(B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_trace(&h);
	fake_session_connect(&h);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_str_eq(fake_session_trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\n"
	                 "C: A1 AUTHENTICATE PLAIN\n"
	                 "S: + \n"
	                 "C: ***\n"
	                 "S: A1 OK [CAPABILITY IMAP4rev1] Logged in\n");
	fake_session_finish(&h, "A1 AUTHENTICATE PLAIN\n" B64_USER_PASS);
}

Test(client, trace_shows_literals_as_sizes)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("APPEND INBOX {21}"),
		FAKE_SEND("+ Ready for literal data\r\n"),
		FAKE_READ_BYTES(21),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [APPENDUID 1 7] Append completed\r\n"),
		FAKE_EXPECT("FETCH 7 BODY[]"),
		FAKE_SEND("* 7 FETCH (BODY[] {21}\r\nSubject: hi\r\n\r\nbody\r\n)\r\n"
		            "$TAG OK Fetch completed\r\n"),
	};
	static const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	struct fake_session h;
	FAKE_SESSION_START(&h, script, IMAP_TLS_NONE);
	fake_session_trace(&h);
	fake_session_connect(&h);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, "INBOX", 5);
	imap_cmd_literal(&c, msg, sizeof msg - 1);
	cr_assert_eq(imap_session_run(h.s, &c, NULL, NULL, FAKE_DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_assert_eq(run_words(&h, NULL, FAKE_DEADLINE(), "FETCH", "7", "BODY[]", NULL), 0, "%s",
	             h.err.msg);
	cr_expect_str_eq(fake_session_trace_text(&h),
	                 "S: * PREAUTH [CAPABILITY IMAP4rev1] ready\n"
	                 "C: A1 APPEND INBOX {21}<21 bytes>\n"
	                 "S: + Ready for literal data\n"
	                 "S: A1 OK [APPENDUID 1 7] Append completed\n"
	                 "C: A2 FETCH 7 BODY[]\n"
	                 "S: * 7 FETCH (BODY[] {21}<21 bytes>)\n"
	                 "S: A2 OK Fetch completed\n");
	cr_expect(!strstr(fake_session_trace_text(&h), "Subject"));
	fake_session_finish(&h, "A1 APPEND INBOX {21}\nSubject: hi\r\n\r\nbody\r\n\n\nA2 FETCH 7 BODY[]");
}
