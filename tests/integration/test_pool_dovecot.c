/*
 * The session pool (imap/pool.h) against the private Dovecot started by
 * tests/with-dovecot.sh (implicit TLS, test CA, users alice/bob/carol).
 *
 * Every test has its own pool, so failed-login memory never crosses tests.
 * Logins are counted from the pool's own protocol trace (other suites log
 * in as the same users concurrently, so Dovecot's log is only used for a
 * user name no other test uses).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/base/buf.h"
#include "imap/client.h"
#include "imap/command.h"
#include "imap/conn.h"
#include "imap/pool.h"

#define TIMEOUT_MS 10000

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(pool_dovecot, .init = setup, .timeout = 60);

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

/* The protocol trace of every session of a pool (sessions run on several
 * threads, so appends are serialized). */
struct trace {
	pthread_mutex_t lock;
	struct imap_buf text;
};

static void collect_trace(void *ctx, char dir, const char *text, size_t len)
{
	struct trace *t = ctx;
	pthread_mutex_lock(&t->lock);
	imap_buf_printf(&t->text, "%c: %.*s\n", dir, (int)len, text);
	pthread_mutex_unlock(&t->lock);
}

/* Client lines of the trace that authenticate (LOGIN or AUTHENTICATE). */
static unsigned count_logins(struct trace *t)
{
	unsigned n = 0;
	pthread_mutex_lock(&t->lock);
	const char *text = t->text.data ? t->text.data : "";
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > 3 && line[0] == 'C' &&
		    (memmem(line, len, " AUTHENTICATE ", 14) || memmem(line, len, " LOGIN ", 7)))
			n++;
		line += len + (end ? 1 : 0);
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct fixture {
	struct imap_tls *tls;
	struct imap_pool *pool;
	struct trace trace;
};

/* A pool on Dovecot's implicit-TLS port with these limits, tracing into fx->trace. */
static void fixture_start(struct fixture *fx, unsigned per_user, unsigned max_sessions,
                          unsigned login_fail_max)
{
	memset(fx, 0, sizeof *fx);
	pthread_mutex_init(&fx->trace.lock, NULL);
	imap_buf_init(&fx->trace.text, 0);
	struct imap_error err = {0};
	fx->tls = imap_tls_new(env("IMAPGW_TEST_CA"), &err);
	cr_assert_not_null(fx->tls, "%s", err.msg);
	struct imap_pool_config cfg = {0};
	imap_client_config_default(&cfg.client);
	cfg.client.host = env("IMAPGW_TEST_HOST");
	cfg.client.port = (uint16_t)atoi(env("IMAPGW_TEST_IMAPS_PORT"));
	cfg.client.tls_mode = IMAP_TLS_IMPLICIT;
	cfg.client.tls = fx->tls;
	cfg.client.trace = collect_trace;
	cfg.client.trace_ctx = &fx->trace;
	cfg.per_user = per_user;
	cfg.max_sessions = max_sessions;
	cfg.login_fail_max = login_fail_max;
	cfg.login_fail_window_s = 60;
	cfg.connect_timeout_ms = TIMEOUT_MS;
	fx->pool = imap_pool_new(&cfg);
	cr_assert_not_null(fx->pool);
}

static void fixture_end(struct fixture *fx)
{
	imap_pool_free(&fx->pool, deadline());
	imap_tls_free(&fx->tls);
	imap_buf_free(&fx->trace.text);
	pthread_mutex_destroy(&fx->trace.lock);
}

static struct imap_credentials password(const char *user, const char *secret)
{
	return (struct imap_credentials){.kind = IMAP_CRED_PASSWORD, .user = user, .secret = secret};
}

#define ALICE password("alice", "alice-secret")
#define BOB password("bob", "b\"o\\b p@ss")
#define CAROL password("carol", "p\xc3\xa4ssw\xc3\xb6rd")

struct got {
	int rc;
	struct imap_session *s;
	bool fresh;
	unsigned retry;
	struct imap_error err;
};

static struct got acquire(struct imap_pool *p, struct imap_credentials c, int64_t dl)
{
	struct got g = {0};
	g.rc = imap_pool_acquire(p, &c, dl, &g.s, &g.fresh, &g.retry, &g.err);
	return g;
}

static struct got acquire_ok(struct imap_pool *p, struct imap_credentials c)
{
	struct got g = acquire(p, c, deadline());
	cr_assert_eq(g.rc, 0, "acquire %s: %s (%s)", c.user, imap_strerror(g.rc), g.err.msg);
	cr_assert_eq(imap_session_state(g.s), IMAP_SESSION_AUTHENTICATED);
	return g;
}

static struct imap_pool_stats stats(struct imap_pool *p)
{
	struct imap_pool_stats st;
	imap_pool_stats(p, &st);
	return st;
}

/* A command that proves the session works. */
static void noop_ok(struct imap_session *s)
{
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "NOOP");
	int rc = imap_session_run(s, &c, NULL, NULL, deadline(), &err);
	imap_cmd_free(&c);
	cr_assert_eq(rc, 0, "NOOP: %s (%s)", imap_strerror(rc), err.msg);
}

/* Lines of Dovecot's log that contain `needle`. */
static unsigned log_count(const char *needle)
{
	FILE *f = fopen(env("IMAPGW_TEST_DOVECOT_LOG"), "r");
	cr_assert_not_null(f);
	char line[4096];
	unsigned n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* ---- credentials ---- */

Test(pool_dovecot, wrong_password_after_right_one_is_refused_by_the_server)
{
	struct fixture fx;
	fixture_start(&fx, 4, 16, 5);
	struct got a = acquire_ok(fx.pool, ALICE);
	cr_expect(a.fresh);
	imap_pool_release(fx.pool, a.s);

	struct got w = acquire(fx.pool, password("alice", "alice-secreT"), deadline());
	cr_expect_eq(w.rc, IMAP_ERR_AUTH, "%s (%s)", imap_strerror(w.rc), w.err.msg);
	cr_expect_null(w.s);
	cr_expect_str_eq(w.err.imap_code, "AUTHENTICATIONFAILED");
	struct imap_pool_stats st = stats(fx.pool);
	cr_expect_eq(st.reused, 0, "the pooled session was not handed out");
	cr_expect_eq(st.idle, 1);
	cr_expect_eq(st.login_failures, 1);
	cr_expect_eq(count_logins(&fx.trace), 2, "the wrong password went to Dovecot");

	/* the right password still gets the pooled session */
	struct got b = acquire_ok(fx.pool, ALICE);
	cr_expect(!b.fresh);
	cr_expect_eq(b.s, a.s);
	noop_ok(b.s);
	imap_pool_release(fx.pool, b.s);
	fixture_end(&fx);
}

Test(pool_dovecot, same_credentials_reuse_one_login)
{
	struct fixture fx;
	fixture_start(&fx, 4, 16, 5);
	struct got a = acquire_ok(fx.pool, BOB);
	cr_expect(a.fresh);
	cr_expect(imap_session_condstore(a.s), "ENABLE CONDSTORE was sent");
	noop_ok(a.s);
	imap_pool_release(fx.pool, a.s);
	for (int i = 0; i < 3; i++) {
		struct got b = acquire_ok(fx.pool, BOB);
		cr_expect(!b.fresh, "round %d", i);
		cr_expect_eq(b.s, a.s);
		noop_ok(b.s);
		imap_pool_release(fx.pool, b.s);
	}
	cr_expect_eq(count_logins(&fx.trace), 1, "Dovecot saw one login:\n%s", fx.trace.text.data);
	struct imap_pool_stats st = stats(fx.pool);
	cr_expect_eq(st.created, 1);
	cr_expect_eq(st.reused, 3);
	/* freeing the pool logs its idle session out */
	imap_pool_free(&fx.pool, deadline());
	cr_expect_not_null(strstr(fx.trace.text.data, " LOGOUT\n"), "%s", fx.trace.text.data);
	fixture_end(&fx);
}

/* ---- concurrency ---- */

struct worker {
	struct fixture *fx;
	int rc[3];
	unsigned max_seen;
	struct imap_session *sessions[3];
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 3; round++) {
		struct got g = acquire(w->fx->pool, CAROL, deadline());
		w->rc[round] = g.rc;
		if (g.rc)
			return NULL;
		w->sessions[round] = g.s;
		struct imap_pool_stats st = stats(w->fx->pool);
		unsigned n = st.idle + st.busy + st.connecting;
		if (n > w->max_seen)
			w->max_seen = n;
		struct imap_cmd c;
		imap_session_cmd(g.s, &c);
		imap_cmd_atom(&c, "NOOP");
		int rc = imap_session_run(g.s, &c, NULL, NULL, deadline(), NULL);
		imap_cmd_free(&c);
		if (rc)
			w->rc[round] = rc;
		usleep(20000);
		imap_pool_release(w->fx->pool, g.s);
	}
	return NULL;
}

Test(pool_dovecot, eight_threads_share_at_most_four_sessions)
{
	struct fixture fx;
	fixture_start(&fx, 4, 16, 5);
	struct worker w[8];
	pthread_t t[8];
	memset(w, 0, sizeof w);
	for (int i = 0; i < 8; i++) {
		w[i].fx = &fx;
		cr_assert_eq(pthread_create(&t[i], NULL, worker_thread, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	struct imap_session *distinct[24];
	size_t ndistinct = 0;
	for (int i = 0; i < 8; i++) {
		for (int r = 0; r < 3; r++) {
			cr_expect_eq(w[i].rc[r], 0, "thread %d round %d: %s", i, r,
			             imap_strerror(w[i].rc[r]));
			cr_expect_leq(w[i].max_seen, 4, "thread %d saw %u sessions", i, w[i].max_seen);
			size_t k;
			for (k = 0; k < ndistinct && distinct[k] != w[i].sessions[r]; k++)
				;
			if (k == ndistinct && w[i].sessions[r])
				distinct[ndistinct++] = w[i].sessions[r];
		}
	}
	struct imap_pool_stats st = stats(fx.pool);
	cr_expect_leq(st.created, 4, "created %llu", st.created);
	cr_expect_leq(ndistinct, 4);
	cr_expect_eq(st.created + st.reused, 24);
	cr_expect_eq(st.busy, 0);
	cr_expect_eq(st.waiting, 0);
	cr_expect_eq(st.idle, st.created);
	cr_expect_eq(count_logins(&fx.trace), st.created);
	fixture_end(&fx);
}

struct waiter {
	struct fixture *fx;
	struct imap_credentials cred;
	struct got got;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	w->got = acquire(w->fx->pool, w->cred, deadline());
	return NULL;
}

Test(pool_dovecot, users_do_not_block_each_other)
{
	struct fixture fx;
	fixture_start(&fx, 2, 16, 5);
	struct got a1 = acquire_ok(fx.pool, ALICE);
	struct got a2 = acquire_ok(fx.pool, ALICE);
	/* alice has all her sessions: a third request of hers waits ... */
	struct waiter w = {.fx = &fx, .cred = ALICE};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, waiter_thread, &w), 0);
	int64_t until = imap_now_ms() + 5000;
	while (stats(fx.pool).waiting < 1) {
		cr_assert_lt(imap_now_ms(), until, "alice's third acquire did not wait");
		usleep(2000);
	}
	/* ... while bob is served at once */
	int64_t t0 = imap_now_ms();
	struct got b = acquire_ok(fx.pool, BOB);
	int64_t took = imap_now_ms() - t0;
	cr_expect(b.fresh);
	cr_expect_lt(took, 3000, "bob waited %lld ms", (long long)took);
	cr_expect_eq(stats(fx.pool).waiting, 1, "alice is still waiting");
	imap_pool_release(fx.pool, b.s);

	imap_pool_release(fx.pool, a1.s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s", imap_strerror(w.got.rc));
	cr_expect(!w.got.fresh);
	cr_expect_eq(w.got.s, a1.s);
	imap_pool_release(fx.pool, w.got.s);
	imap_pool_release(fx.pool, a2.s);

	/* and with every alice session borrowed, her deadline gives BUSY */
	a1 = acquire_ok(fx.pool, ALICE);
	a2 = acquire_ok(fx.pool, ALICE);
	struct got busy = acquire(fx.pool, ALICE, imap_now_ms() + 200);
	cr_expect_eq(busy.rc, IMAP_ERR_BUSY, "%s", imap_strerror(busy.rc));
	imap_pool_release(fx.pool, a1.s);
	imap_pool_release(fx.pool, a2.s);
	fixture_end(&fx);
}

Test(pool_dovecot, global_cap_evicts_the_least_recently_used_idle_session)
{
	struct fixture fx;
	fixture_start(&fx, 4, 2, 5);
	struct got a = acquire_ok(fx.pool, ALICE);
	imap_pool_release(fx.pool, a.s);
	struct got b = acquire_ok(fx.pool, BOB);
	imap_pool_release(fx.pool, b.s);

	/* full (alice and bob idle): carol's new session evicts alice's, the older */
	struct got c = acquire_ok(fx.pool, CAROL);
	cr_expect(c.fresh);
	struct imap_pool_stats st = stats(fx.pool);
	cr_expect_eq(st.evicted, 1);
	cr_expect_eq(st.idle, 1);
	cr_expect_eq(st.busy, 1);
	struct got b2 = acquire_ok(fx.pool, BOB);
	cr_expect(!b2.fresh, "bob's session was kept");
	noop_ok(b2.s);

	/* full of busy sessions: alice cannot get in */
	struct got none = acquire(fx.pool, ALICE, imap_now_ms() + 200);
	cr_expect_eq(none.rc, IMAP_ERR_BUSY, "%s", imap_strerror(none.rc));

	/* carol's session goes idle: alice's acquire evicts it */
	imap_pool_release(fx.pool, c.s);
	struct got a2 = acquire_ok(fx.pool, ALICE);
	cr_expect(a2.fresh, "alice's first session was evicted");
	noop_ok(a2.s);
	st = stats(fx.pool);
	cr_expect_eq(st.evicted, 2);
	cr_expect_eq(st.idle + st.busy + st.connecting, 2);
	cr_expect_eq(st.created, 4);
	imap_pool_release(fx.pool, a2.s);
	imap_pool_release(fx.pool, b2.s);
	fixture_end(&fx);
}

/* ---- failed logins ---- */

Test(pool_dovecot, wrong_passwords_throttle_the_user)
{
	/* a user no other test uses: Dovecot answers NO for unknown users too */
	char user[64], needle[96];
	snprintf(user, sizeof user, "pool-throttle-%d-%lld", (int)getpid(), (long long)imap_now_ms());
	snprintf(needle, sizeof needle, "user=<%s>", user);
	struct fixture fx;
	fixture_start(&fx, 4, 16, 3);
	for (int i = 0; i < 3; i++) {
		struct got g = acquire(fx.pool, password(user, "guess"), deadline());
		cr_assert_eq(g.rc, IMAP_ERR_AUTH, "attempt %d: %s (%s)", i, imap_strerror(g.rc),
		             g.err.msg);
	}
	int64_t t0 = imap_now_ms();
	struct got g = acquire(fx.pool, password(user, "another guess"), deadline());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_lt(imap_now_ms() - t0, 200, "answered without the server");
	cr_expect(g.retry >= 1 && g.retry <= 60, "retry after %u s", g.retry);
	cr_expect(strstr(g.err.msg, "retry in") != NULL, "%s", g.err.msg);
	struct imap_pool_stats st = stats(fx.pool);
	cr_expect_eq(st.login_failures, 3);
	cr_expect_eq(st.throttled, 1);
	cr_expect_eq(count_logins(&fx.trace), 3, "only three attempts reached Dovecot");

	/* Dovecot's own log agrees: three failed logins for that user, no more */
	int64_t until = imap_now_ms() + 5000;
	unsigned seen;
	while ((seen = log_count(needle)) < 3 && imap_now_ms() < until)
		usleep(20000);
	cr_expect_eq(seen, 3, "Dovecot logged %u lines with %s", seen, needle);

	/* other users are not affected */
	struct got a = acquire_ok(fx.pool, ALICE);
	imap_pool_release(fx.pool, a.s);
	fixture_end(&fx);
}

Test(pool_dovecot, oauth_tokens_log_in_and_bad_ones_count_as_failures)
{
	/* The test Dovecot validates HS256 JWTs locally (tests/dovecot-lib.sh). */
	struct fixture fx;
	fixture_start(&fx, 4, 16, 5);
	struct imap_credentials tok = {.kind = IMAP_CRED_TOKEN, .user = "alice",
	                               .secret = getenv("IMAPGW_TEST_TOKEN_ALICE")};
	struct imap_credentials old = {.kind = IMAP_CRED_TOKEN, .user = "alice",
	                               .secret = getenv("IMAPGW_TEST_TOKEN_EXPIRED")};
	cr_assert(tok.secret && old.secret);
	struct got a = acquire_ok(fx.pool, tok);
	cr_assert(a.fresh);
	imap_pool_release(fx.pool, a.s);
	a = acquire_ok(fx.pool, tok);
	cr_assert(!a.fresh, "the same token reuses the session");
	imap_pool_release(fx.pool, a.s);
	struct got b = acquire(fx.pool, old, deadline());
	cr_assert_eq(b.rc, IMAP_ERR_AUTH, "%s (%s)", imap_strerror(b.rc), b.err.msg);
	cr_assert(strstr(b.err.msg, "token refused") != NULL, "%s", b.err.msg);
	cr_assert_eq(stats(fx.pool).login_failures, 1);
	fixture_end(&fx);
}
