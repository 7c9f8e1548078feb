/*
 * The IMAP client against a real Dovecot started privately by
 * tests/with-dovecot.sh (loopback ports, test CA, users alice/bob/carol).
 * Server state is read back with doveadm where it matters, not only
 * through our own client.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/client.h"
#include "imap/mail/utf7.h"
#include "tests/support/gateway.h"

#define TIMEOUT_MS 10000

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(imap_dovecot, .init = setup, .timeout = 60);

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set: run under tests/with-dovecot.sh", name);
	return v;
}

static int64_t deadline(void)
{
	return imap_now_ms() + TIMEOUT_MS;
}

/* Connect with the given mode, host and CA; returns the error code. */
static int try_connect(struct imap_session **s, enum imap_tls_mode mode, const char *host,
                       const char *ca, struct imap_error *err)
{
	struct imap_client_config cfg;
	imap_client_config_default(&cfg);
	cfg.host = host;
	cfg.tls_mode = mode;
	cfg.port = (uint16_t)atoi(env(mode == IMAP_TLS_IMPLICIT ? "IMAPGW_TEST_IMAPS_PORT"
	                                                         : "IMAPGW_TEST_IMAP_PORT"));
	static struct imap_tls *tls_cache[2];
	static const char *tls_ca[2];
	int slot = strcmp(ca, env("IMAPGW_TEST_CA")) == 0 ? 0 : 1;
	if (!tls_cache[slot] || tls_ca[slot] != ca) {
		tls_cache[slot] = imap_tls_new(ca, err);
		tls_ca[slot] = ca;
		cr_assert_not_null(tls_cache[slot], "CA %s: %s", ca, err->msg);
	}
	cfg.tls = tls_cache[slot];
	return imap_session_connect(s, &cfg, deadline(), err);
}

static struct imap_session *connect_ok(enum imap_tls_mode mode)
{
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	int rc = try_connect(&s, mode, env("IMAPGW_TEST_HOST"), env("IMAPGW_TEST_CA"), &err);
	cr_assert_eq(rc, 0, "connect: %s (%s)", imap_strerror(rc), err.msg);
	return s;
}

static struct imap_session *login_ok(const char *user, const char *pass)
{
	struct imap_session *s = connect_ok(IMAP_TLS_IMPLICIT);
	struct imap_error err = {0};
	int rc = imap_session_login(s, IMAP_MECH_AUTO, user, pass, deadline(), &err);
	cr_assert_eq(rc, 0, "login %s: %s (%s)", user, imap_strerror(rc), err.msg);
	return s;
}

/* Run a doveadm command for a user; returns its output (caller frees). */
static char *doveadm(const char *args)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "%s %s 2>&1", env("IMAPGW_TEST_DOVEADM"), args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	struct imap_buf out;
	imap_buf_init(&out, 0);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		imap_buf_append(&out, chunk, n);
	int st = pclose(p);
	cr_assert_eq(st, 0, "%s: %s", cmd, out.data ? out.data : "");
	return imap_buf_steal(&out);
}

/* Collect a protocol trace into an imap_buf. */

static void collect_trace(void *ctx, char dir, const char *text, size_t len)
{
	struct imap_buf *b = ctx;
	imap_buf_printf(b, "%c: %.*s\n", dir, (int)len, text);
}

/* ---- TLS and verification ---- */

Test(imap_dovecot, implicit_tls_login)
{
	struct imap_session *s = login_ok("alice", "alice-secret");
	cr_assert_eq(imap_session_state(s), IMAP_SESSION_AUTHENTICATED);
	imap_session_logout(&s, deadline());
	cr_assert_null(s);
}

Test(imap_dovecot, starttls_login)
{
	struct imap_session *s = connect_ok(IMAP_TLS_STARTTLS);
	struct imap_error err = {0};
	uint32_t caps = 0;
	/* After STARTTLS the capabilities are asked again: LOGINDISABLED is gone. */
	cr_assert_eq(imap_session_caps(s, &caps, deadline(), &err), 0, "%s", err.msg);
	cr_assert_eq(caps & IMAP_CAP_LOGINDISABLED, 0);
	cr_assert_eq(caps & IMAP_CAP_STARTTLS, 0);
	cr_assert_neq(caps & IMAP_CAP_AUTH_PLAIN, 0);
	int rc = imap_session_login(s, IMAP_MECH_LOGIN, "alice", "alice-secret", deadline(), &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	imap_session_logout(&s, deadline());
}

Test(imap_dovecot, explicit_no_tls_mode)
{
	/* --imap-tls none is an explicit choice: no upgrade is attempted even
	 * though the server offers STARTTLS (Dovecot treats loopback as secure,
	 * so it accepts the password in the clear here). */
	struct imap_session *s = NULL;
	struct imap_client_config cfg;
	struct imap_error err = {0};
	imap_client_config_default(&cfg);
	cfg.host = env("IMAPGW_TEST_HOST");
	cfg.port = (uint16_t)atoi(env("IMAPGW_TEST_IMAP_PORT"));
	cfg.tls_mode = IMAP_TLS_NONE;
	cr_assert_eq(imap_session_connect(&s, &cfg, deadline(), &err), 0, "%s", err.msg);
	uint32_t caps = 0;
	cr_assert_eq(imap_session_caps(s, &caps, deadline(), &err), 0);
	cr_assert_neq(caps & IMAP_CAP_STARTTLS, 0);
	int rc = imap_session_login(s, IMAP_MECH_LOGIN, "alice", "alice-secret", deadline(), &err);
	cr_assert_eq(rc, 0, "%s (%s)", imap_strerror(rc), err.msg);
	imap_session_free(&s);
}

Test(imap_dovecot, logindisabled_keeps_the_password_home)
{
	/* Dovecot offers LOGINDISABLED to a plain connection it does not consider
	 * local (127.0.0.2 here): LOGIN must be refused before anything is sent,
	 * and Dovecot's log must show no login attempt from us. */
	struct imap_buf t;
	imap_buf_init(&t, 0);
	struct imap_session *s = NULL;
	struct imap_client_config cfg;
	struct imap_error err = {0};
	imap_client_config_default(&cfg);
	cfg.host = env("IMAPGW_TEST_ALT_HOST");
	cfg.port = (uint16_t)atoi(env("IMAPGW_TEST_IMAP_PORT"));
	cfg.tls_mode = IMAP_TLS_NONE;
	cfg.trace = collect_trace;
	cfg.trace_ctx = &t;
	cr_assert_eq(imap_session_connect(&s, &cfg, deadline(), &err), 0, "%s", err.msg);
	uint32_t caps = 0;
	cr_assert_eq(imap_session_caps(s, &caps, deadline(), &err), 0);
	cr_assert_neq(caps & IMAP_CAP_LOGINDISABLED, 0);
	int rc = imap_session_login(s, IMAP_MECH_LOGIN, "alice", "alice-secret", deadline(), &err);
	cr_assert_eq(rc, IMAP_ERR_UNSUPPORTED, "%s", imap_strerror(rc));
	imap_session_free(&s);
	cr_assert_null(strstr(t.data, "C: "), "nothing sent: %s", t.data);
	imap_buf_free(&t);
}

Test(imap_dovecot, wrong_ca_is_refused)
{
	static const enum imap_tls_mode modes[] = {IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS};
	for (size_t i = 0; i < 2; i++) {
		struct imap_session *s = NULL;
		struct imap_error err = {0};
		int rc = try_connect(&s, modes[i], env("IMAPGW_TEST_HOST"),
		                     env("IMAPGW_TEST_OTHER_CA"), &err);
		cr_assert_eq(rc, IMAP_ERR_TLS_VERIFY, "mode %zu: %s (%s)", i, imap_strerror(rc),
		             err.msg);
		cr_assert_null(s);
	}
}

Test(imap_dovecot, system_store_does_not_trust_test_ca)
{
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	struct imap_tls *tls = imap_tls_new(NULL, &err);
	cr_assert_not_null(tls, "%s", err.msg);
	struct imap_client_config cfg;
	imap_client_config_default(&cfg);
	cfg.host = env("IMAPGW_TEST_HOST");
	cfg.port = (uint16_t)atoi(env("IMAPGW_TEST_IMAPS_PORT"));
	cfg.tls = tls;
	int rc = imap_session_connect(&s, &cfg, deadline(), &err);
	cr_assert_eq(rc, IMAP_ERR_TLS_VERIFY, "%s (%s)", imap_strerror(rc), err.msg);
	imap_tls_free(&tls);
}

Test(imap_dovecot, host_name_mismatch_is_refused)
{
	/* 127.0.0.2 reaches the same Dovecot, but the certificate does not name it. */
	static const enum imap_tls_mode modes[] = {IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS};
	for (size_t i = 0; i < 2; i++) {
		struct imap_session *s = NULL;
		struct imap_error err = {0};
		int rc = try_connect(&s, modes[i], env("IMAPGW_TEST_ALT_HOST"), env("IMAPGW_TEST_CA"),
		                     &err);
		cr_assert_eq(rc, IMAP_ERR_TLS_VERIFY, "mode %zu: %s (%s)", i, imap_strerror(rc),
		             err.msg);
	}
	/* ... and "localhost", which it does name, is accepted. */
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	int rc = try_connect(&s, IMAP_TLS_IMPLICIT, "localhost", env("IMAPGW_TEST_CA"), &err);
	if (rc == IMAP_ERR_CONNECT)  /* localhost may resolve to ::1 first; Dovecot is on v4 */
		cr_log_warn("localhost: %s", err.msg);
	else
		cr_assert_eq(rc, 0, "%s (%s)", imap_strerror(rc), err.msg);
	imap_session_free(&s);
}

/* ---- authentication ---- */

Test(imap_dovecot, wrong_password_is_auth_failed)
{
	static const enum imap_mech mechs[] = {IMAP_MECH_AUTO, IMAP_MECH_LOGIN, IMAP_MECH_PLAIN};
	for (size_t i = 0; i < 3; i++) {
		struct imap_session *s = connect_ok(IMAP_TLS_IMPLICIT);
		struct imap_error err = {0};
		int rc = imap_session_login(s, mechs[i], "alice", "wrong", deadline(), &err);
		cr_assert_eq(rc, IMAP_ERR_AUTH, "mech %zu: %s (%s)", i, imap_strerror(rc), err.msg);
		cr_assert_str_eq(err.imap_code, "AUTHENTICATIONFAILED");
		cr_assert_eq(imap_session_state(s), IMAP_SESSION_NOT_AUTHENTICATED);
		/* A refused login leaves the session usable for another attempt. */
		rc = imap_session_login(s, mechs[i], "alice", "alice-secret", deadline(), &err);
		cr_assert_eq(rc, 0, "retry: %s", err.msg);
		imap_session_free(&s);
	}
}

Test(imap_dovecot, passwords_that_need_quoting_or_literals)
{
	static const enum imap_mech mechs[] = {IMAP_MECH_LOGIN, IMAP_MECH_PLAIN};
	static const struct { const char *user, *pass; } users[] = {
		{"bob", "b\"o\\b p@ss"},         /* quoted with escapes */
		{"carol", "p\xc3\xa4ssw\xc3\xb6rd"}, /* 8-bit: a literal for LOGIN */
	};
	for (size_t u = 0; u < 2; u++) {
		for (size_t m = 0; m < 2; m++) {
			for (int sync = 0; sync < 2; sync++) {
				struct imap_session *s = connect_ok(IMAP_TLS_IMPLICIT);
				imap_session_set_sync_literals(s, sync);
				struct imap_error err = {0};
				int rc = imap_session_login(s, mechs[m], users[u].user, users[u].pass,
				                            deadline(), &err);
				cr_assert_eq(rc, 0, "%s mech %zu sync %d: %s (%s)", users[u].user, m, sync,
				             imap_strerror(rc), err.msg);
				imap_session_free(&s);
			}
		}
	}
}

/* ---- capabilities, ENABLE ---- */

Test(imap_dovecot, capabilities_read_correctly)
{
	struct imap_session *s = connect_ok(IMAP_TLS_IMPLICIT);
	struct imap_error err = {0};
	uint32_t pre = 0, post = 0;
	cr_assert_eq(imap_session_caps(s, &pre, deadline(), &err), 0);
	/* Dovecot states them in its greeting: pre-login set */
	cr_assert_neq(pre & IMAP_CAP_IMAP4REV1, 0);
	cr_assert_neq(pre & IMAP_CAP_AUTH_PLAIN, 0);
	cr_assert_neq(pre & IMAP_CAP_SASL_IR, 0);
	cr_assert_neq(pre & IMAP_CAP_LITERAL_PLUS, 0);
	cr_assert_eq(pre & IMAP_CAP_LOGINDISABLED, 0);
	cr_assert(imap_session_has_cap(s, "ID"));
	cr_assert(imap_session_has_cap(s, "auth=plain"), "names match in any case");
	cr_assert(!imap_session_has_cap(s, "X-NOT-A-CAP"));
	cr_assert_eq(imap_session_login(s, IMAP_MECH_AUTO, "alice", "alice-secret", deadline(),
	                                &err), 0);
	/* ... and restates the full set in the tagged OK of the login. */
	cr_assert_eq(imap_session_caps(s, &post, deadline(), &err), 0);
	uint32_t want = IMAP_CAP_IMAP4REV1 | IMAP_CAP_LITERAL_PLUS | IMAP_CAP_ENABLE |
	                IMAP_CAP_CONDSTORE | IMAP_CAP_QRESYNC |
	                IMAP_CAP_UIDPLUS | IMAP_CAP_MOVE | IMAP_CAP_SORT | IMAP_CAP_ESORT |
	                IMAP_CAP_ESEARCH | IMAP_CAP_LIST_STATUS | IMAP_CAP_SPECIAL_USE |
	                IMAP_CAP_IDLE | IMAP_CAP_NAMESPACE | IMAP_CAP_CHILDREN |
	                IMAP_CAP_BINARY | IMAP_CAP_LIST_EXTENDED;
	cr_assert_eq(post & want, want, "missing: %#x", want & ~post);
	cr_assert_eq(post & IMAP_CAP_AUTH_PLAIN, 0, "AUTH= is not restated after login");
	cr_assert(imap_session_has_cap(s, "THREAD=REFERENCES"));
	cr_assert(imap_session_has_cap(s, "CONTEXT=SEARCH"));

	/* Dovecot 2.3 offers CONDSTORE but not UTF8=ACCEPT: only the first is
	 * enabled (both together are covered against the fake server). */
	cr_assert(!imap_session_condstore(s));
	cr_assert_eq(imap_session_enable(s, deadline(), &err), 0, "%s", err.msg);
	cr_assert(imap_session_condstore(s));
	cr_assert_eq(imap_session_utf8(s), (post & IMAP_CAP_UTF8_ACCEPT) != 0);
	imap_session_logout(&s, deadline());
}

/* ---- literals and mailbox names round-trip ---- */

struct fetched {
	struct imap_buf body;
	uint64_t uid;
	int count;
};

static int on_fetch(void *ctx, const struct imap_response *r)
{
	struct fetched *f = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 1), "FETCH"))
		return 0;
	const struct imap_value *att = imap_value_at(r->args, 2);
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(att, v, i) {
		if (imap_value_is_atom(v, "BODY[]") && i + 1 < att->count) {
			const struct imap_value *data = imap_value_next(v);
			imap_buf_append(&f->body, data->str, data->len);
		}
	}
	f->count++;
	return 0;
}

static void append_and_fetch_back(bool sync_literals)
{
	test_user_lock("bob");  /* creates and deletes bob's folders */
	struct imap_session *s = login_ok("bob", "b\"o\\b p@ss");
	imap_session_set_sync_literals(s, sync_literals);
	struct imap_error err = {0};
	char mbox[64], msg[512];
	snprintf(mbox, sizeof mbox, "lit-%d-%d", (int)getpid(), sync_literals);
	int mlen = snprintf(msg, sizeof msg,
	                    "From: bob@example.com\r\nTo: bob@example.com\r\n"
	                    "Subject: literal %d\r\nMessage-ID: <lit-%d-%d@example.com>\r\n\r\n"
	                    "Line one\r\n\t\"quoted\" {3}\r\n) A1 OK trap\r\n\xc3\xa9t\xc3\xa9\r\n",
	                    sync_literals, (int)getpid(), sync_literals);

	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "CREATE");
	imap_cmd_mailbox(&c, mbox, strlen(mbox));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, mbox, strlen(mbox));
	imap_cmd_literal(&c, msg, (size_t)mlen);
	cr_assert_eq(c.nsync, sync_literals ? 1u : 0u);
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "EXAMINE");
	imap_cmd_mailbox(&c, mbox, strlen(mbox));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);

	struct fetched f = {0};
	imap_buf_init(&f.body, 0);
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, "FETCH 1 BODY.PEEK[]");
	cr_assert_eq(imap_session_run(s, &c, on_fetch, &f, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	cr_assert_eq(f.count, 1);
	cr_assert_eq(f.body.len, (size_t)mlen);
	cr_assert(memcmp(f.body.data, msg, (size_t)mlen) == 0, "bytes differ");
	imap_buf_free(&f.body);

	/* Read back over doveadm too: the server stored what we sent. */
	char args[256];
	snprintf(args, sizeof args, "fetch -u bob text mailbox %s all", mbox);
	char *out = doveadm(args);
	cr_assert(strstr(out, ") A1 OK trap") != NULL, "%s", out);
	free(out);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "UNSELECT");
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "DELETE");
	imap_cmd_mailbox(&c, mbox, strlen(mbox));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&s, deadline());
}

Test(imap_dovecot, literal_round_trip_synchronizing)
{
	append_and_fetch_back(true);
}

Test(imap_dovecot, literal_round_trip_literal_plus)
{
	append_and_fetch_back(false);
}

struct listed {
	struct imap_session *s;
	struct imap_buf names;  /* decoded names, each followed by '\n' */
	int bad;
};

static int on_list(void *ctx, const struct imap_response *r)
{
	struct listed *l = ctx;
	if (!r->args || !imap_value_is_atom(imap_value_at(r->args, 0), "LIST"))
		return 0;
	const struct imap_value *name = imap_value_at(r->args, 3);
	if (!imap_value_is_string(name)) {
		l->bad++;
		return 0;
	}
	if (imap_session_mailbox_decode(l->s, name->str, name->len, &l->names) != 0)
		l->bad++;
	imap_buf_putc(&l->names, '\n');
	return 0;
}

static char *list_all(struct imap_session *s)
{
	struct listed l = {.s = s};
	struct imap_error err = {0};
	struct imap_cmd c;
	imap_buf_init(&l.names, 0);
	imap_buf_putc(&l.names, '\n');
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, "LIST \"\" \"*\"");
	cr_assert_eq(imap_session_run(s, &c, on_list, &l, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	cr_assert_eq(l.bad, 0);
	return imap_buf_steal(&l.names);
}

static void non_ascii_round_trip(bool utf8)
{
	test_user_lock("bob");  /* creates and deletes bob's folders */
	struct imap_session *s = login_ok("bob", "b\"o\\b p@ss");
	struct imap_error err = {0};
	if (utf8) {
		/* Enabled when the server offers it; names go as UTF-8 then, and
		 * stay modified UTF-7 otherwise: the round trip must hold either way. */
		uint32_t caps = 0;
		cr_assert_eq(imap_session_caps(s, &caps, deadline(), &err), 0);
		cr_assert_eq(imap_session_enable(s, deadline(), &err), 0, "%s", err.msg);
		cr_assert_eq(imap_session_utf8(s), (caps & IMAP_CAP_UTF8_ACCEPT) != 0);
	}
	static const char *names[] = {
		"Donn\u00e9es", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "R&D \"x\" \\y",
		"\xf0\x9f\x93\xac mail", "\u00dcn\u00ef/S\u00fcb",
	};
	char made[5][128];
	for (size_t i = 0; i < 5; i++) {
		snprintf(made[i], sizeof made[i], "%s-%d-%d", names[i], (int)getpid(), utf8);
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "CREATE");
		imap_cmd_mailbox(&c, made[i], strlen(made[i]));
		cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s: %s",
		             made[i], err.msg);
		imap_cmd_free(&c);
	}
	char *listed = list_all(s);
	char *server = doveadm("mailbox list -u bob");
	for (size_t i = 0; i < 5; i++) {
		struct imap_buf line;
		imap_buf_init(&line, 0);
		imap_buf_printf(&line, "\n%s\n", made[i]);
		cr_expect(strstr(listed, line.data) != NULL, "LIST lacks %s:%s", made[i], listed);
		imap_buf_free(&line);
		cr_expect(strstr(server, made[i]) != NULL, "doveadm lacks %s:\n%s", made[i], server);
	}
	free(listed);
	free(server);
	for (size_t i = 5; i-- > 0;) {
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "DELETE");
		imap_cmd_mailbox(&c, made[i], strlen(made[i]));
		cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s: %s",
		             made[i], err.msg);
		imap_cmd_free(&c);
	}
	imap_session_logout(&s, deadline());
}

Test(imap_dovecot, non_ascii_mailbox_round_trip_utf7)
{
	non_ascii_round_trip(false);
}

Test(imap_dovecot, non_ascii_mailbox_round_trip_after_enable)
{
	non_ascii_round_trip(true);
}

Test(imap_dovecot, seeded_folders_list_decoded)
{
	struct imap_session *s = login_ok("alice", "alice-secret");
	char *listed = list_all(s);
	static const char *want[] = {
		"INBOX", "Archive/2024/Q1", "Old Mail", "Donn\u00e9es",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "Say \"Hi\"", "Back\\slash", "Sent", "Trash",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, "\n%s\n", want[i]);
		cr_expect(strstr(listed, line) != NULL, "missing %s in:%s", want[i], listed);
	}
	free(listed);
	/* Names with a quote and a backslash can be selected. */
	struct imap_error err = {0};
	static const char *odd[] = {"Say \"Hi\"", "Back\\slash", "Old Mail", "Donn\u00e9es"};
	for (size_t i = 0; i < 4; i++) {
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "EXAMINE");
		imap_cmd_mailbox(&c, odd[i], strlen(odd[i]));
		cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s: %s",
		             odd[i], err.msg);
		imap_cmd_free(&c);
	}
	imap_session_logout(&s, deadline());
}

/* ---- errors from the server ---- */

Test(imap_dovecot, tagged_no_keeps_session_usable)
{
	struct imap_session *s = login_ok("alice", "alice-secret");
	struct imap_error err = {0};
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "SELECT");
	imap_cmd_mailbox(&c, "No Such Folder", 14);
	int rc = imap_session_run(s, &c, NULL, NULL, deadline(), &err);
	imap_cmd_free(&c);
	cr_assert_eq(rc, IMAP_ERR_NO, "%s", imap_strerror(rc));
	cr_assert(strstr(err.msg, "doesn't exist") != NULL, "%s", err.msg);
	cr_assert_eq(imap_session_state(s), IMAP_SESSION_AUTHENTICATED);

	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0);
	imap_cmd_free(&c);
	imap_session_logout(&s, deadline());
}

/* ---- traces never show secrets ---- */

Test(imap_dovecot, trace_redacts_credentials)
{
	static const enum imap_mech mechs[] = {IMAP_MECH_LOGIN, IMAP_MECH_PLAIN};
	for (size_t m = 0; m < 2; m++) {
		struct imap_buf t;
		imap_buf_init(&t, 0);
		struct imap_client_config cfg;
		struct imap_error err = {0};
		imap_client_config_default(&cfg);
		cfg.host = env("IMAPGW_TEST_HOST");
		cfg.port = (uint16_t)atoi(env("IMAPGW_TEST_IMAPS_PORT"));
		cfg.tls = imap_tls_new(env("IMAPGW_TEST_CA"), &err);
		cfg.trace = collect_trace;
		cfg.trace_ctx = &t;
		struct imap_session *s = NULL;
		cr_assert_eq(imap_session_connect(&s, &cfg, deadline(), &err), 0, "%s", err.msg);
		cr_assert_eq(imap_session_login(s, mechs[m], "carol", "p\xc3\xa4ssw\xc3\xb6rd",
		                                deadline(), &err), 0, "%s", err.msg);
		imap_session_logout(&s, deadline());
		cr_assert_null(strstr(t.data, "p\xc3\xa4ssw"), "%s", t.data);
		/* base64("\0carol\0pässwörd") must not appear either */
		cr_assert_null(strstr(t.data, "AGNhcm9sAHDDpHNzd8O2cmQ"), "%s", t.data);
		cr_assert(strstr(t.data, "***") != NULL, "%s", t.data);
		cr_assert(strstr(t.data, "S: * OK [CAPABILITY") != NULL, "%s", t.data);
		imap_buf_free(&t);
		imap_tls_free(&cfg.tls);
	}
}
