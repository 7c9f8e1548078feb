/*
 * tests/unit/test_client_fake.c — the IMAP client (imap/client.h) against a
 * scripted fake server (tests/support/fake_imap.h).
 *
 * Every test states the whole conversation: what the server sends and the
 * exact lines the client must send, then checks the client's result and
 * the transcript of everything it sent (nothing more is allowed: the fake
 * flags any extra byte). Each test has its own fake on its own port, so
 * they run in parallel.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/buf.h"
#include "imap/client.h"
#include "imap/command.h"
#include "imap/conn.h"
#include "imap/error.h"
#include "tests/support/dump.h"
#include "tests/support/fake_imap.h"

TestSuite(client_fake, .timeout = 20);

#define DEADLINE() (imap_now_ms() + 3000)
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- harness ---- */

struct harness {
	struct fake_imap *fake;
	struct imap_tls *tls;
	struct imap_client_config cfg;
	struct imap_session *s;
	struct imap_error err;
	struct imap_buf trace; /* "C: ...\nS: ...\n" when cfg.trace is on */
};

static void collect_trace(void *ctx, char dir, const char *text, size_t len)
{
	struct imap_buf *b = ctx;
	imap_buf_printf(b, "%c: %.*s\n", dir, (int)len, text);
}

/* Start a fake playing script[0..n) and point h->cfg at it. Tests may
 * change h->cfg before connecting. */
static void start(struct harness *h, const struct fake_step *script, size_t n,
                  enum imap_tls_mode mode)
{
	memset(h, 0, sizeof *h);
	imap_buf_init(&h->trace, 0);
	h->fake = fake_imap_start(script, n);
	cr_assert_not_null(h->fake, "fake server did not start");
	imap_client_config_default(&h->cfg);
	h->cfg.host = "127.0.0.1";
	h->cfg.port = fake_imap_port(h->fake);
	h->cfg.tls_mode = mode;
	if (mode != IMAP_TLS_NONE) {
		h->tls = imap_tls_new(NULL, &h->err);
		cr_assert_not_null(h->tls, "imap_tls_new: %s", h->err.msg);
		h->cfg.tls = h->tls;
	}
}

#define START(h, script, mode) start((h), (script), NSTEPS(script), (mode))

static void enable_trace(struct harness *h)
{
	h->cfg.trace = collect_trace;
	h->cfg.trace_ctx = &h->trace;
}

static int connect_with(struct harness *h, int64_t deadline)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_connect(&h->s, &h->cfg, deadline, &h->err);
}

static void connect_ok(struct harness *h)
{
	int rc = connect_with(h, DEADLINE());
	cr_assert_eq(rc, 0, "connect: rc %d (%s)", rc, h->err.msg);
	cr_assert_not_null(h->s);
}

/* Connecting must fail with `want`, leaving nothing to free. */
static void connect_fails(struct harness *h, int want)
{
	h->s = NULL;
	int rc = connect_with(h, DEADLINE());
	cr_assert_eq(rc, want, "connect: rc %d (%s), want %d", rc, h->err.msg, want);
	cr_assert_eq(h->err.code, want, "err.code %d", h->err.code);
	cr_assert_null(h->s);
}

/* Free the session, then the fake: the whole script must have been played
 * and the client must have sent exactly `want` (lines joined by "\n"). */
static void finish(struct harness *h, const char *want)
{
	imap_session_free(&h->s);
	imap_tls_free(&h->tls);
	char *got = NULL;
	int rc = fake_imap_finish(&h->fake, &got);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want, "transcript:\n%s\n--- want:\n%s", got, want);
	cr_expect_eq(rc, 0, "the fake's script failed (reason on stderr); transcript:\n%s", got);
	free(got);
	imap_buf_free(&h->trace);
}

/* The trace so far ("" when none). */
static const char *trace_text(const struct harness *h)
{
	return h->trace.data ? h->trace.data : "";
}

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
static int run_words(struct harness *h, struct seen *sn, int64_t deadline, ...)
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

static int login(struct harness *h, enum imap_mech mech, const char *user, const char *pass)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_login(h->s, mech, user, pass, DEADLINE(), &h->err);
}

static int oauth(struct harness *h, enum imap_mech mech, const char *user, const char *token)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_authenticate_oauth(h->s, mech, user, token, DEADLINE(), &h->err);
}

static uint32_t caps_of(struct harness *h)
{
	uint32_t caps = 0;
	int rc = imap_session_caps(h->s, &caps, DEADLINE(), &h->err);
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

Test(client_fake, base64_helper_matches_reference_vectors)
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

Test(client_fake, greeting_capability_code_needs_no_command)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN X-GM-EXT-1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK Logged in\r\n"),
		/* the login did not restate capabilities: the client asks at once */
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 LITERAL+ MOVE\r\n$TAG OK done\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
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
	finish(&h, "A1 LOGIN alice secret\nA2 CAPABILITY");
}

Test(client_fake, greeting_without_code_asks_capability_when_needed)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK IMAP4rev1 Service Ready\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK CAPABILITY completed\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	/* connect alone did not ask: nothing is known yet */
	cr_expect(!imap_session_has_cap(h.s, "IMAP4rev1"), "capabilities not known yet");
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), 0, "%s", h.err.msg);
	finish(&h, "A1 CAPABILITY\nA2 LOGIN alice secret");
}

Test(client_fake, capability_learnt_from_untagged_response_during_command)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH IMAP4rev1 logged in\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE MOVE\r\n* 3 EXISTS\r\n"
		            "$TAG OK NOOP completed\r\n"),
	};
	struct harness h;
	struct seen sn = seen_new(0);
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_assert_eq(run_words(&h, &sn, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	cr_expect_str_eq(seen_text(&sn), "* CAPABILITY IMAP4rev1 IDLE MOVE\n* 3 EXISTS");
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE | IMAP_CAP_MOVE);
	cr_expect(imap_session_has_cap(h.s, "MOVE"));
	imap_buf_free(&sn.dumps);
	finish(&h, "A1 NOOP");
}

Test(client_fake, capability_from_login_ok_code_is_not_requested_again)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE MOVE ENABLE CONDSTORE] Logged in\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), 0, "%s", h.err.msg);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE | IMAP_CAP_MOVE |
	                          IMAP_CAP_ENABLE | IMAP_CAP_CONDSTORE);
	cr_expect(!imap_session_has_cap(h.s, "AUTH=PLAIN"), "pre-login capabilities replaced");
	cr_assert_eq(imap_session_enable(h.s, DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	finish(&h, "A1 LOGIN alice secret\nA2 ENABLE CONDSTORE");
}

Test(client_fake, capability_forgotten_after_login_without_code)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK Logged in\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 IDLE\r\n$TAG OK done\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	/* asked right after the login, once, and known from then on */
	cr_expect(!imap_session_has_cap(h.s, "AUTH=PLAIN"), "capabilities must be forgotten");
	cr_expect(imap_session_has_cap(h.s, "IDLE"), "capabilities asked again after login");
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE, "asked only once");
	finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS "\nA2 CAPABILITY");
}

Test(client_fake, greeting_preauth_is_authenticated)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] Logged in as alice\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	/* nothing left to authenticate: refused locally, nothing sent */
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), IMAP_ERR_INVALID);
	finish(&h, "");
}

Test(client_fake, greeting_bye)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* BYE [UNAVAILABLE] Too many connections\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_fails(&h, IMAP_ERR_BYE);
	cr_expect(strstr(h.err.msg, "Too many connections"), "msg: %s", h.err.msg);
	finish(&h, "");
}

Test(client_fake, greeting_garbage_is_protocol_error)
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
	for (size_t i = 0; i < NSTEPS(greetings); i++) {
		const struct fake_step script[] = {
			FAKE_SEND_BYTES(greetings[i].bytes, greetings[i].len),
		};
		struct harness h;
		START(&h, script, IMAP_TLS_NONE);
		h.s = NULL;
		int rc = connect_with(&h, DEADLINE());
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "greeting #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_null(h.s);
		finish(&h, "");
	}
}

Test(client_fake, greeting_never_comes_times_out)
{
	struct harness h;
	start(&h, NULL, 0, IMAP_TLS_NONE);
	int64_t t0 = imap_now_ms();
	int rc = connect_with(&h, t0 + 300);
	int64_t took = imap_now_ms() - t0;
	cr_expect_eq(rc, IMAP_ERR_TIMEOUT, "rc %d (%s)", rc, h.err.msg);
	cr_expect_null(h.s);
	cr_expect(took >= 290 && took < 1300, "took %lld ms for a 300 ms deadline", (long long)took);
	finish(&h, "");
}

Test(client_fake, greeting_cut_off_is_io_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PL"),
		FAKE_CLOSE(),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_fails(&h, IMAP_ERR_IO);
	finish(&h, "");
}

Test(client_fake, greeting_split_across_reads)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(caps_of(&h), IMAP_CAP_IMAP4REV1 | IMAP_CAP_IDLE);
	finish(&h, "");
}

/* ---- passwords ---- */

Test(client_fake, login_refused_is_auth_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice wrong"),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		FAKE_EXPECT("LOGIN alice right"),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "alice", "wrong"), IMAP_ERR_AUTH);
	cr_expect_eq(h.err.code, IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect_str_eq(h.err.msg, "Authentication failed.");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the stream is in sync: the next attempt goes through */
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "alice", "right"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	finish(&h, "A1 LOGIN alice wrong\nA2 LOGIN alice right");
}

Test(client_fake, login_disabled_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "secret"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(h.err.code, IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(login(&h, IMAP_MECH_AUTO, "alice", "secret"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(login(&h, IMAP_MECH_PLAIN, "alice", "secret"), IMAP_ERR_UNSUPPORTED,
	             "AUTH=PLAIN not offered");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	finish(&h, "");
}

Test(client_fake, plain_with_sasl_ir_is_one_line)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client_fake, plain_without_sasl_ir_waits_for_continuation)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN"),
		FAKE_QUIET(150),
		FAKE_SEND("+ \r\n"),
		FAKE_EXPECT_RAW(B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	finish(&h, "A1 AUTHENTICATE PLAIN\n" B64_USER_PASS);
}

Test(client_fake, plain_refused_is_auth_error)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(!strstr(h.err.msg, "pass") && !strstr(h.err.msg, B64_USER_PASS));
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client_fake, login_quotes_and_escapes_password)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN \"alice smith\" \"pa\\\"ss\\\\word\""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice smith", "pa\"ss\\word"), 0, "%s",
	             h.err.msg);
	finish(&h, "A1 LOGIN \"alice smith\" \"pa\\\"ss\\\\word\"");
}

Test(client_fake, login_non_ascii_password_as_literal_plus)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
		FAKE_EXPECT("LOGIN alice {10+}"),
		FAKE_READ_BYTES(10),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	finish(&h, "A1 LOGIN alice {10+}\npässwörd\n");
}

Test(client_fake, login_sync_literal_waits_for_continuation)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	int64_t t0 = imap_now_ms();
	cr_assert_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	cr_expect(imap_now_ms() - t0 >= 290, "login returned before the server's \"+\"");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	finish(&h, "A1 LOGIN alice {10}\npässwörd\n");
}

Test(client_fake, login_sync_literal_refused_sends_no_data)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
		FAKE_EXPECT("LOGIN alice {10}"),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
		/* the next bytes must be the next command, not the literal */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	int rc = login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd");
	cr_expect(rc == IMAP_ERR_AUTH || rc == IMAP_ERR_NO, "rc %d (%s)", rc, h.err.msg);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the command is over: the next one is read as a command, not data */
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	finish(&h, "A1 LOGIN alice {10}\nA2 NOOP");
}

/* ---- STARTTLS ---- */

Test(client_fake, starttls_not_offered_in_greeting)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	finish(&h, "");
}

Test(client_fake, starttls_not_offered_after_capability)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK ready\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n$TAG OK done\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	finish(&h, "A1 CAPABILITY"); /* and never a credential */
}

Test(client_fake, starttls_refuses_preauth)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	connect_fails(&h, IMAP_ERR_UNSUPPORTED);
	finish(&h, "");
}

Test(client_fake, starttls_response_injection_is_refused)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		/* one write: the injected line arrives with the OK */
		FAKE_SEND("$TAG OK Begin TLS negotiation now\r\n* OK injected\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	connect_fails(&h, IMAP_ERR_PROTOCOL);
	finish(&h, "A1 STARTTLS"); /* no TLS handshake attempted either */
}

Test(client_fake, starttls_ok_starts_handshake_at_once)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		FAKE_SEND("$TAG OK Begin TLS negotiation now\r\n"),
		FAKE_READ_BYTES(1), /* a TLS handshake record starts with 0x16 */
		FAKE_CLOSE(),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	h.s = NULL;
	int rc = connect_with(&h, DEADLINE());
	cr_expect(rc == IMAP_ERR_TLS || rc == IMAP_ERR_IO, "rc %d (%s)", rc, h.err.msg);
	cr_expect_null(h.s);
	finish(&h, "A1 STARTTLS\n\x16");
}

Test(client_fake, starttls_refused_by_server_fails)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
		FAKE_EXPECT("STARTTLS"),
		FAKE_SEND("$TAG NO TLS unavailable\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_STARTTLS);
	h.s = NULL;
	int rc = connect_with(&h, DEADLINE());
	cr_expect_neq(rc, 0);
	cr_expect_null(h.s);
	finish(&h, "A1 STARTTLS");
}

/* ---- OAuth 2.0 ---- */

Test(client_fake, xoauth2_success_with_sasl_ir)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice@example.com", "ya29.tok"), 0, "%s",
	             h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2);
}

Test(client_fake, xoauth2_failure_answers_error_challenge_with_empty_line)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("+ " B64_OAUTH_ERROR "\r\n"),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice@example.com", "ya29.tok"),
	             IMAP_ERR_AUTH, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_AUTH);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(strstr(h.err.msg, "status 401"), "msg: %s", h.err.msg);
	cr_expect(!strstr(h.err.msg, "ya29.tok"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2 "\n");
}

/* base64 of the RFC 7628 client response for this fake's port. */
static char *oauthbearer_b64(const struct harness *h, const char *authzid, const char *token)
{
	char gs2[512];
	int n = snprintf(gs2, sizeof gs2,
	                 "n,a=%s,\x01host=127.0.0.1\x01port=%u\x01" "auth=Bearer %s\x01\x01",
	                 authzid, (unsigned)h->cfg.port, token);
	cr_assert(n > 0 && (size_t)n < sizeof gs2);
	return b64(gs2, (size_t)n);
}

Test(client_fake, oauthbearer_success_with_sasl_ir)
{
	struct harness h;
	/* The payload names the fake's port, known only once it runs: the
	 * script borrows this buffer, filled before the client connects. */
	static char expect[1024];
	const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT(expect),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	START(&h, script, IMAP_TLS_NONE);
	char *payload = oauthbearer_b64(&h, "alice@example.com", "ya29.tok");
	snprintf(expect, sizeof expect, "AUTHENTICATE OAUTHBEARER %s", payload);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice@example.com", "ya29.tok"), 0,
	             "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	char want[1100];
	snprintf(want, sizeof want, "A1 %s", expect);
	finish(&h, want);
	free(payload);
}

Test(client_fake, oauthbearer_failure_answers_with_ctrl_a)
{
	struct harness h;
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
	START(&h, script, IMAP_TLS_NONE);
	enable_trace(&h);
	char *payload = oauthbearer_b64(&h, "alice@example.com", "ya29.tok");
	snprintf(initial, sizeof initial, "%s", payload);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice@example.com", "ya29.tok"),
	             IMAP_ERR_AUTH, "%s", h.err.msg);
	cr_expect_str_eq(h.err.imap_code, "AUTHENTICATIONFAILED");
	cr_expect(strstr(h.err.msg, "status 401"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	/* the token and its base64 never reach the trace */
	cr_expect(!strstr(trace_text(&h), "ya29") && !strstr(trace_text(&h), payload),
	          "trace:\n%s", trace_text(&h));
	cr_expect(strstr(trace_text(&h), "C: ***\n"), "trace:\n%s", trace_text(&h));
	char want[1200];
	snprintf(want, sizeof want, "A1 AUTHENTICATE OAUTHBEARER\n%s\nAQ==", payload);
	finish(&h, want);
	free(payload);
}

Test(client_fake, oauth_auto_prefers_oauthbearer)
{
	struct harness h;
	static char expect[1024]; /* filled once the port is known */
	const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi\r\n"),
		FAKE_EXPECT(expect),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	START(&h, script, IMAP_TLS_NONE);
	/* "," and "=" in the authzid are escaped as RFC 5801 requires */
	char *payload = oauthbearer_b64(&h, "a=2Cb=3Dc@example.com", "tok");
	snprintf(expect, sizeof expect, "AUTHENTICATE OAUTHBEARER %s", payload);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_AUTO, "a,b=c@example.com", "tok"), 0, "%s", h.err.msg);
	char want[1100];
	snprintf(want, sizeof want, "A1 %s", expect);
	finish(&h, want);
	free(payload);
}

Test(client_fake, oauth_auto_uses_xoauth2_when_only_offered)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=PLAIN] hi\r\n"),
		FAKE_EXPECT("AUTHENTICATE XOAUTH2 " B64_XOAUTH2),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Success\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(oauth(&h, IMAP_MECH_AUTO, "alice@example.com", "ya29.tok"), 0, "%s",
	             h.err.msg);
	finish(&h, "A1 AUTHENTICATE XOAUTH2 " B64_XOAUTH2);
}

Test(client_fake, oauth_not_offered_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(oauth(&h, IMAP_MECH_AUTO, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(h.err.code, IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(oauth(&h, IMAP_MECH_XOAUTH2, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(oauth(&h, IMAP_MECH_OAUTHBEARER, "alice", "tok"), IMAP_ERR_UNSUPPORTED);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_NOT_AUTHENTICATED);
	finish(&h, "");
}

/* ---- ENABLE ---- */

Test(client_fake, enable_condstore_and_utf8)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect(!imap_session_condstore(h.s) && !imap_session_utf8(h.s));
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			cr_assert_eq(imap_session_enable(h.s, DEADLINE(), &h.err), 0, "%s",
			             h.err.msg);
			cr_expect(imap_session_condstore(h.s));
			cr_expect(imap_session_utf8(h.s));
		}
		/* a mailbox name: modified UTF-7 before, UTF-8 after ENABLE */
		struct imap_cmd c;
		imap_session_cmd(h.s, &c);
		imap_cmd_atom(&c, "SELECT");
		imap_cmd_mailbox(&c, "Entwürfe", strlen("Entwürfe"));
		cr_expect_eq(imap_session_run(h.s, &c, NULL, NULL, DEADLINE(), &h.err), 0, "%s",
		             h.err.msg);
		imap_cmd_free(&c);
	}
	finish(&h, "A1 SELECT Entw&APw-rfe\nA2 ENABLE CONDSTORE UTF8=ACCEPT\n"
	           "A3 SELECT \"Entwürfe\"");
}

Test(client_fake, enable_only_what_the_server_enabled)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 ENABLE CONDSTORE UTF8=ACCEPT] hi\r\n"),
		FAKE_EXPECT("ENABLE CONDSTORE UTF8=ACCEPT"),
		FAKE_SEND("* ENABLED CONDSTORE\r\n$TAG OK Enabled\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(imap_session_enable(h.s, DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	finish(&h, "A1 ENABLE CONDSTORE UTF8=ACCEPT");
}

Test(client_fake, enable_without_enable_capability_sends_nothing)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 CONDSTORE UTF8=ACCEPT] hi\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(imap_session_enable(h.s, DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect(!imap_session_condstore(h.s));
	cr_expect(!imap_session_utf8(h.s));
	finish(&h, "");
}

/* ---- faults while a command runs ---- */

#define PREAUTH_GREETING FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n")

Test(client_fake, disconnect_mid_response_breaks_session)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 1 EXISTS\r\n* 2 EXI"),
		FAKE_SHUTDOWN(), /* the client sees EOF; the fake still listens */
	};
	struct harness h;
	struct seen sn = seen_new(0);
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(run_words(&h, &sn, DEADLINE(), "NOOP", NULL), IMAP_ERR_IO, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_IO);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_str_eq(seen_text(&sn), "* 1 EXISTS");
	/* broken: fails at once, sends nothing */
	int64_t t0 = imap_now_ms();
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), IMAP_ERR_IO);
	cr_expect(imap_now_ms() - t0 < 100);
	imap_buf_free(&sn.dumps);
	finish(&h, "A1 NOOP");
}

Test(client_fake, bye_then_close_is_bye)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* BYE Server shutting down\r\n"),
		FAKE_CLOSE(),
	};
	struct harness h;
	struct seen sn = seen_new(0);
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(run_words(&h, &sn, DEADLINE(), "NOOP", NULL), IMAP_ERR_BYE, "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_BYE);
	cr_expect(strstr(h.err.msg, "Server shutting down"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(sn.calls, 0, "BYE is the session's business, not the handler's");
	finish(&h, "A1 NOOP");
}

/* The client's address goes to the server as ID x-originating-ip before
 * the login, only when ID is offered; a refused ID does not stop the login. */
Test(client_fake, id_names_the_client_before_login_when_offered)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 ID] ready\r\n"),
		FAKE_EXPECT("ID (\"x-originating-ip\" \"192.0.2.7\")"),
		FAKE_SEND("* ID NIL\r\n$TAG OK ID completed\r\n"),
		FAKE_EXPECT("ID (\"x-originating-ip\" \"2001:db8::1\")"),
		FAKE_SEND("$TAG BAD not now\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(imap_session_id_origin(h.s, "192.0.2.7", DEADLINE(), &h.err), 0, "%s", h.err.msg);
	cr_expect_eq(imap_session_id_origin(h.s, "2001:db8::1", DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	cr_expect_eq(imap_session_id_origin(h.s, "1.2.3.4\") (\"x", DEADLINE(), &h.err),
	             IMAP_ERR_INVALID, "only an address is sent");
	finish(&h, "A1 ID (\"x-originating-ip\" \"192.0.2.7\")\n"
	           "A2 ID (\"x-originating-ip\" \"2001:db8::1\")");
}

Test(client_fake, no_id_without_the_capability)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(imap_session_id_origin(h.s, "192.0.2.7", DEADLINE(), &h.err), 0, "%s", h.err.msg);
	finish(&h, "");
}

/* The server said BYE while the session was idle (autologout, a kick, a
 * restart) and closed: the next command must fail before a byte of it is
 * written, so that its caller knows the server never saw it. */
Test(client_fake, bye_while_idle_fails_before_the_command_is_sent)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"
		          "* BYE Disconnected for inactivity.\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	uint64_t sent = imap_session_bytes_sent(h.s);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "CREATE", "K1", NULL), IMAP_ERR_BYE, "%s",
	             h.err.msg);
	cr_expect(strstr(h.err.msg, "Disconnected for inactivity"), "msg: %s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(imap_session_bytes_sent(h.s), sent, "nothing of the command was written");
	finish(&h, "");
}

/* The same when the BYE and the close come while the session waits: the
 * check finds them on the socket, again before anything is written. */
Test(client_fake, close_while_idle_is_found_by_the_check)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_SEND("* BYE Server shutting down.\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_assert_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	/* Wait (bounded) for the server's close to arrive, without reading it. */
	struct imap_error e;
	int rc = 0;
	for (int64_t end = DEADLINE(); rc == 0 && imap_now_ms() < end;) {
		rc = imap_session_check(h.s, &e);
		if (rc == 0)
			poll(NULL, 0, 5);
	}
	cr_expect(rc == IMAP_ERR_BYE, "check: %d (%s)", rc, e.msg);
	uint64_t sent = imap_session_bytes_sent(h.s);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "CREATE", "K1", NULL), IMAP_ERR_IO);
	cr_expect_eq(imap_session_bytes_sent(h.s), sent);
	finish(&h, "A1 NOOP");
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

Test(client_fake, literal_at_limit_is_accepted)
{
	char *resp = fetch_response(1024);
	const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("FETCH 1 BODY[]"),
		FAKE_SEND(resp),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.literal_max = 1024;
	connect_ok(&h);
	struct imap_cmd c;
	size_t got = 0;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_number(&c, 1);
	imap_cmd_atom(&c, "BODY[]");
	cr_expect_eq(imap_session_run(h.s, &c, on_literal, &got, DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_expect_eq(got, 1024);
	finish(&h, "A1 FETCH 1 BODY[]");
	free(resp);
}

Test(client_fake, literal_over_limit_breaks_session)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("FETCH 1 BODY[]"),
		FAKE_SEND("* 1 FETCH (BODY[] {1025}\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.literal_max = 1024;
	connect_ok(&h);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "FETCH", "1", "BODY[]", NULL), IMAP_ERR_LIMIT,
	             "%s", h.err.msg);
	cr_expect_eq(h.err.code, IMAP_ERR_LIMIT);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	finish(&h, "A1 FETCH 1 BODY[]");
}

Test(client_fake, server_stalls_mid_response_times_out)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("* 1 FETCH (UID 5"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	int64_t t0 = imap_now_ms();
	int rc = run_words(&h, NULL, t0 + 300, "NOOP", NULL);
	int64_t took = imap_now_ms() - t0;
	cr_expect_eq(rc, IMAP_ERR_TIMEOUT, "rc %d (%s)", rc, h.err.msg);
	cr_expect(took >= 290 && took < 1300, "took %lld ms for a 300 ms deadline", (long long)took);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	finish(&h, "A1 NOOP");
}

Test(client_fake, garbage_line_is_protocol_error)
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
	for (size_t i = 0; i < NSTEPS(lines); i++) {
		const struct fake_step script[] = {
			PREAUTH_GREETING,
			FAKE_EXPECT("NOOP"),
			FAKE_SEND_BYTES(lines[i].bytes, lines[i].len),
		};
		struct harness h;
		START(&h, script, IMAP_TLS_NONE);
		connect_ok(&h);
		int rc = run_words(&h, NULL, DEADLINE(), "NOOP", NULL);
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "line #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN, "line #%zu", i);
		finish(&h, "A1 NOOP");
	}
}

Test(client_fake, wrong_tag_is_protocol_error)
{
	static const char *const answers[] = {
		"A2 OK NOOP completed\r\n",
		"A11 OK NOOP completed\r\n",
		"B1 OK NOOP completed\r\n",
	};
	for (size_t i = 0; i < NSTEPS(answers); i++) {
		const struct fake_step script[] = {
			PREAUTH_GREETING,
			FAKE_EXPECT("NOOP"),
			FAKE_SEND(answers[i]),
		};
		struct harness h;
		START(&h, script, IMAP_TLS_NONE);
		connect_ok(&h);
		int rc = run_words(&h, NULL, DEADLINE(), "NOOP", NULL);
		cr_expect_eq(rc, IMAP_ERR_PROTOCOL, "answer #%zu: rc %d (%s)", i, rc, h.err.msg);
		cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
		finish(&h, "A1 NOOP");
	}
}

Test(client_fake, tagged_no_and_bad_carry_text_and_code)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);

	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "SELECT", "Archive", NULL), IMAP_ERR_NO);
	cr_expect_eq(h.err.code, IMAP_ERR_NO);
	cr_expect_str_eq(h.err.msg, "Mailbox doesn't exist: Archive");
	cr_expect_str_eq(h.err.imap_code, "TRYCREATE");
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);

	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "FROB", NULL), IMAP_ERR_BAD);
	cr_expect_eq(h.err.code, IMAP_ERR_BAD);
	cr_expect_str_eq(h.err.msg, "Error in IMAP command FROB: Unknown command.");
	cr_expect_str_eq(h.err.imap_code, "");

	/* server text reaches err.msg as printable ASCII only */
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "SELECT", "Archive", NULL), IMAP_ERR_NO);
	cr_expect_str_eq(h.err.msg, "Mailbox ??? gone");
	cr_expect_str_eq(h.err.imap_code, "");

	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	finish(&h, "A1 SELECT Archive\nA2 FROB\nA3 SELECT Archive\nA4 NOOP");
}

Test(client_fake, untagged_responses_reach_handler_in_order)
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
	struct harness h;
	struct seen sn = seen_new(0);
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "FETCH");
	imap_cmd_atom(&c, "1:*");
	imap_cmd_raw(&c, "(UID FLAGS BODY.PEEK[])");
	cr_assert_eq(imap_session_run(h.s, &c, on_untagged, &sn, DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_expect_str_eq(seen_text(&sn),
	                 "* 2 EXISTS\n"
	                 "* OK [UIDNEXT 5] Predicted next UID\n"
	                 "* 1 FETCH (UID 4 FLAGS (\\Seen) BODY[] {5}hello)\n"
	                 "* 2 FETCH (UID 5 FLAGS () BODY[] {0})");
	imap_buf_free(&sn.dumps);
	finish(&h, "A1 UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
}

Test(client_fake, handler_error_returned_after_tagged_answer)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("SEARCH ALL"),
		FAKE_SEND("* SEARCH 1 2\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct harness h;
	struct seen sn = seen_new(2);
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(run_words(&h, &sn, DEADLINE(), "SEARCH", "ALL", NULL), IMAP_ERR_LIMIT);
	cr_expect_eq(h.err.code, IMAP_ERR_LIMIT);
	cr_expect_eq(sn.calls, 2, "the handler is not called after it failed");
	cr_expect_neq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	imap_buf_free(&sn.dumps);
	finish(&h, "A1 SEARCH ALL\nA2 NOOP");
}

Test(client_fake, unexpected_continuation_is_protocol_error)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("+ send more\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), IMAP_ERR_PROTOCOL);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	finish(&h, "A1 NOOP");
}

Test(client_fake, invalid_argument_is_refused_before_sending)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP completed\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "SEARCH");
	imap_cmd_string(&c, "a\0b", 3); /* NUL cannot be sent */
	cr_expect_eq(imap_session_run(h.s, &c, NULL, NULL, DEADLINE(), &h.err), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_AUTHENTICATED);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), 0, "%s", h.err.msg);
	/* the refused command used up tag A1; nothing of it went out */
	finish(&h, "A2 NOOP");
}

Test(client_fake, logout_sends_logout_and_frees)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("LOGOUT"),
		FAKE_SEND("* BYE Logging out\r\n$TAG OK Logout completed.\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	imap_session_logout(&h.s, DEADLINE());
	cr_expect_null(h.s);
	finish(&h, "A1 LOGOUT");
}

Test(client_fake, logout_of_broken_session_sends_nothing)
{
	static const struct fake_step script[] = {
		PREAUTH_GREETING,
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("A9 OK wrong tag\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "NOOP", NULL), IMAP_ERR_PROTOCOL);
	int64_t t0 = imap_now_ms();
	imap_session_logout(&h.s, DEADLINE());
	cr_expect(imap_now_ms() - t0 < 100);
	cr_expect_null(h.s);
	finish(&h, "A1 NOOP");
}

Test(client_fake, line_over_limit_breaks_session)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	h.cfg.limits.line_max = 2048;
	connect_ok(&h);
	cr_expect_eq(run_words(&h, NULL, DEADLINE(), "SEARCH", "ALL", NULL), IMAP_ERR_LIMIT,
	             "%s", h.err.msg);
	cr_expect_eq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	finish(&h, "A1 SEARCH ALL");
	free(line);
}

/* ---- traces ---- */

Test(client_fake, trace_hides_login_secrets)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	enable_trace(&h);
	connect_ok(&h);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "s3cr3t pass"), IMAP_ERR_AUTH);
	cr_expect_eq(login(&h, IMAP_MECH_LOGIN, "alice", "pässwörd"), 0, "%s", h.err.msg);
	cr_expect_str_eq(trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 LITERAL+] ready\n"
	                 "C: A1 LOGIN *** ***\n"
	                 "S: A1 NO [AUTHENTICATIONFAILED] Authentication failed.\n"
	                 "C: A2 LOGIN *** ***\n"
	                 "S: A2 OK [CAPABILITY IMAP4rev1] Logged in\n");
	cr_expect(!strstr(trace_text(&h), "s3cr3t") && !strstr(trace_text(&h), "wörd"));
	finish(&h, "A1 LOGIN alice \"s3cr3t pass\"\nA2 LOGIN alice {10+}\npässwörd\n");
}

Test(client_fake, trace_hides_plain_with_sasl_ir)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN " B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	enable_trace(&h);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_PLAIN, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_str_eq(trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\n"
	                 "C: A1 AUTHENTICATE PLAIN ***\n"
	                 "S: A1 OK [CAPABILITY IMAP4rev1] Logged in\n");
	finish(&h, "A1 AUTHENTICATE PLAIN " B64_USER_PASS);
}

Test(client_fake, trace_hides_plain_continuation)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN"),
		FAKE_SEND("+ \r\n"),
		FAKE_EXPECT_RAW(B64_USER_PASS),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	enable_trace(&h);
	connect_ok(&h);
	cr_assert_eq(login(&h, IMAP_MECH_AUTO, "user", "pass"), 0, "%s", h.err.msg);
	cr_expect_str_eq(trace_text(&h),
	                 "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\n"
	                 "C: A1 AUTHENTICATE PLAIN\n"
	                 "S: + \n"
	                 "C: ***\n"
	                 "S: A1 OK [CAPABILITY IMAP4rev1] Logged in\n");
	finish(&h, "A1 AUTHENTICATE PLAIN\n" B64_USER_PASS);
}

Test(client_fake, trace_shows_literals_as_sizes)
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
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	enable_trace(&h);
	connect_ok(&h);
	struct imap_cmd c;
	imap_session_cmd(h.s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, "INBOX", 5);
	imap_cmd_literal(&c, msg, sizeof msg - 1);
	cr_assert_eq(imap_session_run(h.s, &c, NULL, NULL, DEADLINE(), &h.err), 0, "%s",
	             h.err.msg);
	imap_cmd_free(&c);
	cr_assert_eq(run_words(&h, NULL, DEADLINE(), "FETCH", "7", "BODY[]", NULL), 0, "%s",
	             h.err.msg);
	cr_expect_str_eq(trace_text(&h),
	                 "S: * PREAUTH [CAPABILITY IMAP4rev1] ready\n"
	                 "C: A1 APPEND INBOX {21}<21 bytes>\n"
	                 "S: + Ready for literal data\n"
	                 "S: A1 OK [APPENDUID 1 7] Append completed\n"
	                 "C: A2 FETCH 7 BODY[]\n"
	                 "S: * 7 FETCH (BODY[] {21}<21 bytes>)\n"
	                 "S: A2 OK Fetch completed\n");
	cr_expect(!strstr(trace_text(&h), "Subject"));
	finish(&h, "A1 APPEND INBOX {21}\nSubject: hi\r\n\r\nbody\r\n\n\nA2 FETCH 7 BODY[]");
}

/* ---- the fake itself: it must catch what it is there to catch ---- */

/* A bare TCP client for the fake: connect, send `out`, read until the fake
 * closes or `read_ms` pass, into `in` (cap bytes), then close. */
static void raw_client(const struct fake_imap *f, const char *out, char *in, size_t cap,
                       int read_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fake_imap_port(f)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	if (out && *out)
		cr_assert_eq(send(fd, out, strlen(out), MSG_NOSIGNAL), (ssize_t)strlen(out));
	size_t got = 0;
	int64_t until = imap_now_ms() + read_ms;
	while (got + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(until - imap_now_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		ssize_t n = recv(fd, in + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	in[got] = '\0';
	close(fd);
}

static int raw_finish(struct fake_imap **f, const char *want_transcript)
{
	char *got = NULL;
	int rc = fake_imap_finish(f, &got);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want_transcript);
	free(got);
	return rc;
}

Test(client_fake, fake_self_check_tag_prefix_and_bytes)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT_PREFIX("APPEND INBOX"),
		FAKE_READ_BYTES(3),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "X9 APPEND INBOX {3+}\r\nabc\r\n", in, sizeof in, 2000);
	cr_expect_str_eq(in, "* OK hi\r\nX9 OK done\r\n");
	cr_expect_eq(raw_finish(&f, "X9 APPEND INBOX {3+}\nabc\n"), 0);
}

Test(client_fake, fake_self_check_catches_mismatch, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 LOGIN alice guess\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 LOGIN alice guess"), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 2 (EXPECT): expected \"<tag> LOGIN alice secret\", got \"A1 LOGIN alice guess\"\n");
}

Test(client_fake, fake_self_check_catches_extra_data, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 CAPABILITY\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 CAPABILITY"), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: after the script: client sent \"A1 CAPABILITY\"\n");
}

Test(client_fake, fake_self_check_catches_unplayed_steps, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT("NOOP"),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, NULL, in, sizeof in, 50);
	cr_expect_neq(raw_finish(&f, ""), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 2 (EXPECT): client closed the connection; expected NOOP\n");
}

Test(client_fake, fake_self_check_quiet_catches_early_bytes, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_EXPECT("LOGIN alice {3}"),
		FAKE_QUIET(300),
		FAKE_SEND("+ go\r\n"),
		FAKE_READ_BYTES(3),
		FAKE_EXPECT_RAW(""),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 LOGIN alice {3}\r\nabc\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 LOGIN alice {3}"), 0);
}

Test(client_fake, fake_self_check_requires_crlf, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_EXPECT("NOOP"),
	};
	struct fake_imap *f = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 NOOP\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, ""), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 1 (EXPECT): line not ended by CRLF: \"A1 NOOP\"\n");
}

/* ---- folders on a Courier-style server ---- */

#include "imap/folders.h"

static const struct imap_folder *folder_at(const struct imap_folder_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	cr_assert_fail("no folder %s", path);
	return NULL;
}

Test(client_fake, courier_folders_special_use_by_name_and_pipelined_status)
{
	/* No LIST-EXTENDED, no SPECIAL-USE, everything under "INBOX." with "." */
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 CHILDREN NAMESPACE] Courier-IMAP ready\r\n"),
		FAKE_EXPECT("LIST \"\" \"*\""),
		FAKE_SEND("* LIST (\\HasChildren) \".\" \"INBOX\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Sent\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Trash\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Drafts\"\r\n"
		          "* LIST (\\HasChildren) \".\" \"INBOX.Projects\"\r\n"
		          "* LIST (\\HasNoChildren) \".\" \"INBOX.Projects.Sent\"\r\n"
		          "* LIST (\\Noselect \\HasChildren) \".\" \"INBOX.Donn&AOk-es\"\r\n"
		          "$TAG OK LIST completed\r\n"),
		FAKE_EXPECT("LSUB \"\" \"*\""),
		FAKE_SEND("* LSUB () \".\" \"INBOX.Sent\"\r\n$TAG OK LSUB completed\r\n"),
		/* one STATUS per selectable folder, sent back to back */
		FAKE_EXPECT("STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Trash (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Drafts (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Projects (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		FAKE_EXPECT("STATUS INBOX.Projects.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"),
		/* answers in the server's own order: matched by tag and name */
		FAKE_SEND("* STATUS INBOX.Trash (MESSAGES 2 UNSEEN 2 UIDNEXT 3 UIDVALIDITY 82)\r\nA5 OK\r\n"
		          "* STATUS INBOX (MESSAGES 3 UNSEEN 1 UIDNEXT 4 UIDVALIDITY 77)\r\nA3 OK\r\n"
		          "* STATUS INBOX.Sent (MESSAGES 9 UNSEEN 0 UIDNEXT 10 UIDVALIDITY 81)\r\nA4 OK\r\n"
		          "* STATUS INBOX.Drafts (MESSAGES 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 78)\r\nA6 OK\r\n"
		          "* STATUS INBOX.Projects (MESSAGES 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 79)\r\nA7 OK\r\n"
		          "* STATUS INBOX.Projects.Sent (MESSAGES 1 UNSEEN 0 UIDNEXT 2 UIDVALIDITY 80)\r\nA8 OK\r\n"),
	};
	struct harness h;
	START(&h, script, IMAP_TLS_NONE);
	connect_ok(&h);
	struct imap_folder_list l;
	cr_assert_eq(imap_folders_list(h.s, NULL, true, DEADLINE(), &l, &h.err), 0, "%s", h.err.msg);
	cr_assert_eq(l.n, 7);
	const struct imap_folder *sent = folder_at(&l, "INBOX.Sent");
	cr_assert_str_eq(sent->special_use, "\\Sent");
	cr_assert(sent->subscribed);
	cr_assert_eq(sent->delimiter, '.');
	cr_assert_str_eq(imap_folder_name(sent), "Sent");
	cr_assert_eq(sent->messages, 9);
	cr_assert_str_eq(folder_at(&l, "INBOX.Trash")->special_use, "\\Trash");
	cr_assert_str_eq(folder_at(&l, "INBOX.Drafts")->special_use, "\\Drafts");
	cr_assert_null(folder_at(&l, "INBOX.Projects.Sent")->special_use, "only at the top");
	cr_assert_eq(folder_at(&l, "INBOX.Projects.Sent")->uidvalidity, 80);
	const struct imap_folder *d = folder_at(&l, "INBOX.Donn\u00e9es");
	cr_assert(!d->selectable);
	cr_assert(!d->has_status, "no STATUS for a \\Noselect folder");
	cr_assert_eq(folder_at(&l, "INBOX")->unseen, 1);
	imap_folder_list_free(&l);
	finish(&h, "A1 LIST \"\" \"*\"\nA2 LSUB \"\" \"*\"\n"
	           "A3 STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A4 STATUS INBOX.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A5 STATUS INBOX.Trash (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A6 STATUS INBOX.Drafts (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A7 STATUS INBOX.Projects (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)\n"
	           "A8 STATUS INBOX.Projects.Sent (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)");
}
