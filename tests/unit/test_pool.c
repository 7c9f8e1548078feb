/*
 * tests/unit/test_pool.c — the session pool (imap/pool.h) against scripted
 * fake servers (tests/support/fake_session.h).
 *
 * A fake accepts one connection, while the pool opens several to the same
 * host and port (and remembers failed logins per host and port). So the
 * tests start the harness with one script per connection
 * (fake_session_start_many): the n-th connection gets a fake playing the
 * n-th script, and one the test did not script is never answered and
 * counted, so "the server was not contacted" is checked, not assumed.
 *
 * Times the pool keeps (idle stamps, failure windows) come from a clock the
 * test moves, so expiry is tested without sleeping.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/client.h"
#include "imap/conn.h"
#include "imap/pool.h"
#include "tests/support/fake_session.h"

TestSuite(pool, .timeout = 20);

/* ---- the pool under test ---- */

struct test_clock {
	int64_t offset_ms;
};

static int64_t test_clock_now(void *ctx)
{
	const struct test_clock *c = ctx;
	return imap_now_ms() + c->offset_ms;
}

static struct imap_pool *pool_new(const struct imap_pool_config *cfg, struct test_clock *clock)
{
	struct imap_pool *p = imap_pool_new(cfg);
	cr_assert_not_null(p);
	if (clock)
		imap_pool_set_clock(p, test_clock_now, clock);
	return p;
}

/* Start the harness serving scripts[0..n), one a connection, and a pool on
 * it with the limits given in `limits` (0: the pool's defaults) and, unless
 * NULL, the test's clock. */
static struct imap_pool *pool_start(struct fake_session *h, const struct fake_script *scripts,
                                    size_t n, struct imap_pool_config limits,
                                    struct test_clock *clock)
{
	fake_session_start_many(h, scripts, n);
	struct imap_pool_config server = fake_session_pool_config(h);
	limits.client = server.client;
	limits.connect_timeout_ms = server.connect_timeout_ms;
	return pool_new(&limits, clock);
}
#define POOL_START(h, scripts, clock, ...) \
	pool_start((h), (scripts), FAKE_NSTEPS(scripts), \
	           (struct imap_pool_config){__VA_ARGS__}, (clock))

static struct imap_credentials password(const char *user, const char *secret)
{
	return (struct imap_credentials){.kind = IMAP_CRED_PASSWORD, .user = user, .secret = secret};
}

struct got {
	int rc;
	struct imap_session *s;
	bool fresh;
	unsigned retry;
	struct imap_error err;
};

static struct got acquire(struct imap_pool *p, struct imap_credentials c, int64_t deadline)
{
	struct got g = {0};
	g.rc = imap_pool_acquire(p, &c, deadline, &g.s, &g.fresh, &g.retry, &g.err);
	return g;
}

static struct got acquire_ok(struct imap_pool *p, struct imap_credentials c)
{
	struct got g = acquire(p, c, FAKE_DEADLINE());
	cr_assert_eq(g.rc, 0, "acquire %s: %s (%s)", c.user, imap_strerror(g.rc), g.err.msg);
	cr_assert_not_null(g.s);
	cr_assert_eq(imap_session_state(g.s), IMAP_SESSION_AUTHENTICATED);
	return g;
}

static struct imap_pool_stats stats(struct imap_pool *p)
{
	struct imap_pool_stats st;
	imap_pool_stats(p, &st);
	return st;
}

/* Scripts: a server that offers only LOGIN and restates its capabilities
 * in the login's OK, so a pooled login is exactly one command. */
#define GREET FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n")
#define LOGIN_OK FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n")
#define LOGIN_NO FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
#define LOGOUT FAKE_EXPECT("LOGOUT"), FAKE_SEND("* BYE logging out\r\n$TAG OK done\r\n")

static const struct fake_step alice_session[] = {
	GREET, FAKE_EXPECT("LOGIN alice secret"), LOGIN_OK, LOGOUT,
};
static const struct fake_step alice_wrong[] = {
	GREET, FAKE_EXPECT("LOGIN alice wrong"), LOGIN_NO,
};

/* ---- borrowing and giving back ---- */

Test(pool, new_session_is_fresh_then_reused)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	cr_expect(a.fresh);
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.busy, 1);
	cr_expect_eq(st.created, 1);
	imap_pool_release(p, a.s);
	st = stats(p);
	cr_expect_eq(st.busy, 0);
	cr_expect_eq(st.idle, 1);

	struct got b = acquire_ok(p, password("alice", "secret"));
	cr_expect(!b.fresh, "an idle session of the key is reused");
	cr_expect_eq(b.s, a.s);
	st = stats(p);
	cr_expect_eq(st.reused, 1);
	cr_expect_eq(st.created, 1);
	imap_pool_release(p, b.s);
	imap_pool_free(&p, FAKE_DEADLINE());
	cr_expect_null(p);

	fake_session_finish_many(&h, 1, (const char *const[]){"A1 LOGIN alice secret\nA2 LOGOUT"});
}

/* The server said BYE to an idle pooled session and closed it (autologout,
 * a kick, a restart): the session is never handed out again, and nothing
 * is sent on it; the next acquire logs in anew. */
static const struct fake_step alice_then_bye[] = {
	GREET, FAKE_EXPECT("LOGIN alice secret"),
	FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
	          "* BYE Disconnected for inactivity.\r\n"),
	FAKE_SHUTDOWN(),
};

Test(pool, idle_session_the_server_left_is_never_handed_out)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_then_bye),
	                                             FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	struct got b = acquire_ok(p, password("alice", "secret"));
	cr_expect(b.fresh, "a new session, not the one the server left");
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.discarded, 1);
	cr_expect_eq(st.created, 2);
	cr_expect_eq(st.busy, 1);
	cr_expect_eq(st.idle, 0);
	imap_pool_release(p, b.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	/* nothing sent after the BYE */
	fake_session_finish_many(&h, 2, (const char *const[]){"A1 LOGIN alice secret",
	                                                      "A1 LOGIN alice secret\nA2 LOGOUT"});
}

Test(pool, busy_when_every_session_of_the_key_is_borrowed)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .per_user = 1);

	struct got a = acquire_ok(p, password("alice", "secret"));
	int64_t t0 = imap_now_ms();
	struct got b = acquire(p, password("alice", "secret"), t0 + 150);
	int64_t waited = imap_now_ms() - t0;
	cr_expect_eq(b.rc, IMAP_ERR_BUSY, "%s", imap_strerror(b.rc));
	cr_expect_eq(b.err.code, IMAP_ERR_BUSY);
	cr_expect_null(b.s);
	cr_expect_geq(waited, 140, "gave up after %lld ms", (long long)waited);
	cr_expect_lt(waited, 1000, "waited %lld ms", (long long)waited);
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.waiting, 0);
	cr_expect_eq(st.created, 1);
	imap_pool_release(p, a.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 1, NULL);
}

struct waiter_arg {
	struct imap_pool *p;
	struct imap_credentials cred;
	int64_t deadline;
	struct got got;
	int64_t done_at;
};

static void *waiter_thread(void *arg)
{
	struct waiter_arg *w = arg;
	w->got = acquire(w->p, w->cred, w->deadline);
	w->done_at = imap_now_ms();
	return NULL;
}

/* Start a thread acquiring a session for cred (deadline in 3 s) into *w. */
static pthread_t waiter_start(struct waiter_arg *w, struct imap_pool *p,
                              struct imap_credentials cred)
{
	*w = (struct waiter_arg){.p = p, .cred = cred, .deadline = imap_now_ms() + 3000};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, waiter_thread, w), 0);
	return t;
}

static void wait_for_waiters(struct imap_pool *p, unsigned n)
{
	int64_t until = imap_now_ms() + 2000;
	while (stats(p).waiting < n) {
		cr_assert_lt(imap_now_ms(), until, "no acquire started waiting");
		usleep(2000);
	}
}

Test(pool, waiter_gets_the_released_session)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .per_user = 1);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct waiter_arg w;
	pthread_t t = waiter_start(&w, p, password("alice", "secret"));
	wait_for_waiters(p, 1);
	int64_t released_at = imap_now_ms();
	imap_pool_release(p, a.s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s (%s)", imap_strerror(w.got.rc), w.got.err.msg);
	cr_expect_eq(w.got.s, a.s);
	cr_expect(!w.got.fresh);
	cr_expect_lt(w.done_at - released_at, 500, "woken late");
	imap_pool_release(p, w.got.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 1, NULL);
}

/* Work nobody waits for gets only an idle session of its key: never a
 * login (the fake serves one connection only), never a borrowed one, never
 * another key's; and imap_pool_wanted tells it when a request waits. */
Test(pool, spare_session_is_an_idle_one_and_gives_way_to_waiters)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .per_user = 1);
	struct imap_credentials alice = password("alice", "secret");
	struct imap_credentials wrong = password("alice", "wrong");
	struct imap_session *s = NULL;

	cr_assert_eq(imap_pool_acquire_spare(p, &alice, &s), IMAP_ERR_BUSY, "nothing idle: no login");
	cr_assert_null(s);
	struct got a = acquire_ok(p, alice);
	cr_assert_eq(imap_pool_acquire_spare(p, &alice, &s), IMAP_ERR_BUSY, "the one is borrowed");
	imap_pool_release(p, a.s);
	cr_assert_eq(imap_pool_acquire_spare(p, &wrong, &s), IMAP_ERR_BUSY, "another secret");
	cr_assert_eq(imap_pool_acquire_spare(p, &alice, &s), 0);
	cr_assert_eq(s, a.s);
	cr_assert(!imap_pool_wanted(p));

	struct waiter_arg w;
	pthread_t t = waiter_start(&w, p, alice);
	wait_for_waiters(p, 1);
	cr_assert(imap_pool_wanted(p), "a request waits");
	imap_pool_release(p, s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s (%s)", imap_strerror(w.got.rc), w.got.err.msg);
	cr_assert(!imap_pool_wanted(p));
	imap_pool_release(p, w.got.s);
	cr_expect_eq(stats(p).created, 1, "one login in all");
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 1, NULL);
}

Test(pool, broken_session_is_discarded_on_release)
{
	static const struct fake_step dies[] = {
		GREET, FAKE_EXPECT("LOGIN alice secret"), LOGIN_OK,
		FAKE_EXPECT("NOOP"), FAKE_CLOSE(),
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(dies), FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(a.s, &c);
	imap_cmd_atom(&c, "NOOP");
	int rc = imap_session_run(a.s, &c, NULL, NULL, FAKE_DEADLINE(), &err);
	imap_cmd_free(&c);
	cr_assert_neq(rc, 0, "the server hung up");
	cr_assert_eq(imap_session_state(a.s), IMAP_SESSION_BROKEN);
	imap_pool_release(p, a.s);
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.discarded, 1);
	cr_expect_eq(st.idle, 0);
	cr_expect_eq(st.busy, 0);

	struct got b = acquire_ok(p, password("alice", "secret"));
	cr_expect(b.fresh, "the dead session is not handed out again");
	st = stats(p);
	cr_expect_eq(st.created, 2);
	cr_expect_eq(st.reused, 0);
	imap_pool_release(p, b.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 2, (const char *const[]){"A1 LOGIN alice secret\nA2 NOOP",
	                                                      "A1 LOGIN alice secret\nA2 LOGOUT"});
}

Test(pool, idle_session_expires_on_reap)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session)};
	struct fake_session h;
	struct test_clock clock = {0};
	struct imap_pool *p = POOL_START(&h, scripts, &clock, .idle_s = 30);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	clock.offset_ms = 29000;
	imap_pool_reap(p);
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.idle, 1, "not idle for long enough yet");
	cr_expect_eq(st.expired, 0);

	clock.offset_ms = 30100;
	imap_pool_reap(p);
	st = stats(p);
	cr_expect_eq(st.idle, 0);
	cr_expect_eq(st.expired, 1);

	/* LOGOUT was sent by the reap itself */
	fake_session_finish_many(&h, 1, (const char *const[]){"A1 LOGIN alice secret\nA2 LOGOUT"});
	imap_pool_free(&p, FAKE_DEADLINE());
}

/* ---- credentials ---- */

Test(pool, wrong_password_never_rides_on_a_pooled_session)
{
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session), FAKE_SCRIPT(alice_wrong)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	struct got b = acquire(p, password("alice", "wrong"), FAKE_DEADLINE());
	cr_expect_eq(b.rc, IMAP_ERR_AUTH, "%s", imap_strerror(b.rc));
	cr_expect_null(b.s);
	cr_expect_str_eq(b.err.imap_code, "AUTHENTICATIONFAILED");
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.idle, 1, "the right session stays pooled");
	cr_expect_eq(st.login_failures, 1);
	cr_expect_eq(st.reused, 0);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 2, (const char *const[]){NULL, "A1 LOGIN alice wrong"});
}

Test(pool, throttled_after_failures_without_contacting_the_server)
{
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(alice_wrong), FAKE_SCRIPT(alice_wrong), FAKE_SCRIPT(alice_wrong),
	};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 3,
	                                 .login_fail_window_s = 60);

	for (int i = 0; i < 3; i++) {
		struct got g = acquire(p, password("alice", "wrong"), FAKE_DEADLINE());
		cr_assert_eq(g.rc, IMAP_ERR_AUTH, "attempt %d: %s (%s)", i, imap_strerror(g.rc),
		             g.err.msg);
	}
	/* now even the right password is refused, at once and without a connection */
	int64_t t0 = imap_now_ms();
	struct got g = acquire(p, password("alice", "secret"), FAKE_DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_lt(imap_now_ms() - t0, 100);
	cr_expect_null(g.s);
	cr_expect(g.retry >= 59 && g.retry <= 60, "retry after %u s", g.retry);
	char want[64];
	snprintf(want, sizeof want, "retry in %u s", g.retry);
	cr_expect(strstr(g.err.msg, want) != NULL, "message: %s", g.err.msg);
	cr_expect_null(strstr(g.err.msg, "secret"));
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.login_failures, 3);
	cr_expect_eq(st.throttled, 1);
	cr_expect_eq(st.created, 0);
	cr_expect_eq(st.connecting, 0);

	fake_session_finish_many(&h, 3, (const char *const[]){"A1 LOGIN alice wrong",
	                                                      "A1 LOGIN alice wrong",
	                                                      "A1 LOGIN alice wrong"});
	imap_pool_free(&p, FAKE_DEADLINE());
}

Test(pool, throttle_ends_with_the_window_and_success_clears_the_count)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(alice_wrong), FAKE_SCRIPT(alice_session),
		FAKE_SCRIPT(alice_wrong), FAKE_SCRIPT(bob_session),
	};
	struct fake_session h;
	struct test_clock clock = {0};
	struct imap_pool *p = POOL_START(&h, scripts, &clock, .login_fail_max = 1,
	                                 .login_fail_window_s = 10);

	cr_assert_eq(acquire(p, password("alice", "wrong"), FAKE_DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got g = acquire(p, password("alice", "secret"), FAKE_DEADLINE());
	cr_assert_eq(g.rc, IMAP_ERR_THROTTLED);
	cr_expect_eq(g.retry, 10);
	clock.offset_ms = 4000;
	g = acquire(p, password("alice", "secret"), FAKE_DEADLINE());
	cr_assert_eq(g.rc, IMAP_ERR_THROTTLED);
	cr_expect_eq(g.retry, 6);
	clock.offset_ms = 10000;
	g = acquire_ok(p, password("alice", "secret"));
	cr_expect(g.fresh);
	imap_pool_release(p, g.s);
	/* the success cleared the count: one more failure is allowed again
	 * before throttling, and other users were never affected */
	cr_assert_eq(acquire(p, password("alice", "wrong"), FAKE_DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got b = acquire_ok(p, password("bob", "secret"));
	imap_pool_release(p, b.s);
	cr_expect_eq(acquire(p, password("alice", "secret"), FAKE_DEADLINE()).rc, IMAP_ERR_THROTTLED);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 4, NULL);
}

Test(pool, throttle_is_not_bypassed_by_a_matching_idle_session)
{
	/* A guesser must not learn "right password" from a pooled session's
	 * fingerprint while the user is throttled. */
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(alice_session), FAKE_SCRIPT(alice_wrong), FAKE_SCRIPT(alice_wrong),
	};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 2);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(acquire(p, password("alice", "wrong"), FAKE_DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got g = acquire(p, password("alice", "secret"), FAKE_DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s", imap_strerror(g.rc));
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.idle, 1);
	cr_expect_eq(st.reused, 0);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 3, NULL);
}

Test(pool, concurrent_logins_cannot_race_past_the_limit)
{
	/* With one failure allowed, a second login of the same user (another
	 * password) waits for the first instead of going to the server too,
	 * and is then throttled. */
	static const struct fake_step slow_no[] = {
		GREET, FAKE_EXPECT("LOGIN alice wrong"), FAKE_DELAY(200), LOGIN_NO,
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(slow_no)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 1);

	struct waiter_arg w1, w2;
	pthread_t t1 = waiter_start(&w1, p, password("alice", "wrong"));
	int64_t until = imap_now_ms() + 2000;
	while (stats(p).connecting < 1 && imap_now_ms() < until)
		usleep(1000);
	pthread_t t2 = waiter_start(&w2, p, password("alice", "guess2"));
	wait_for_waiters(p, 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_expect_eq(w1.got.rc, IMAP_ERR_AUTH, "%s", imap_strerror(w1.got.rc));
	cr_expect_eq(w2.got.rc, IMAP_ERR_THROTTLED, "%s", imap_strerror(w2.got.rc));
	cr_expect_lt(w2.done_at - w1.done_at, 300, "the waiter learnt of the throttle at once");
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 1, NULL);
}

/* A server that delays refusals (Dovecot: 2, 4, 8, 15 s per address) makes
 * later wrong passwords time out instead of being refused: after a refusal,
 * such a timeout counts as a failure too, so the throttle is reached. A
 * timeout with no refusal before it is the server's trouble, not counted. */
Test(pool, login_timeouts_after_a_refusal_count_as_failures)
{
	static const struct fake_step bob_silent[] = {GREET, FAKE_EXPECT("LOGIN bob wrong")};
	static const struct fake_step bob_wrong[] = {GREET, FAKE_EXPECT("LOGIN bob wrong"), LOGIN_NO};
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(bob_silent), FAKE_SCRIPT(bob_wrong), FAKE_SCRIPT(bob_silent),
	};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 2);

	struct got g = acquire(p, password("bob", "wrong"), imap_now_ms() + 1500);
	cr_expect_eq(g.rc, IMAP_ERR_TIMEOUT, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_eq(stats(p).login_failures, 0, "a timeout alone is not a refusal");
	g = acquire(p, password("bob", "wrong"), FAKE_DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_AUTH, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	g = acquire(p, password("bob", "wrong"), imap_now_ms() + 1500);
	cr_expect_eq(g.rc, IMAP_ERR_TIMEOUT, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_eq(stats(p).login_failures, 2, "the slow refusal counted");
	g = acquire(p, password("bob", "wrong"), FAKE_DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	imap_pool_free(&p, FAKE_DEADLINE());
	fake_session_finish_many(&h, 3, NULL);
}

/* Once a user's login has been refused, the user's logins go one at a
 * time; another user's login does not wait for them. */
Test(pool, after_a_refusal_a_users_logins_go_one_at_a_time_and_others_do_not_wait)
{
	static const struct fake_step bob_wrong[] = {GREET, FAKE_EXPECT("LOGIN bob wrong"), LOGIN_NO};
	static const struct fake_step bob_slow_no[] = {
		GREET, FAKE_EXPECT("LOGIN bob wrong"), FAKE_DELAY(1000), LOGIN_NO,
	};
	static const struct fake_step bob_guess[] = {GREET, FAKE_EXPECT("LOGIN bob guess"), LOGIN_NO};
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(bob_wrong), FAKE_SCRIPT(bob_slow_no), FAKE_SCRIPT(alice_session),
		FAKE_SCRIPT(bob_guess),
	};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 5);

	cr_assert_eq(acquire(p, password("bob", "wrong"), FAKE_DEADLINE()).rc, IMAP_ERR_AUTH);
	struct waiter_arg w1 = {.p = p, .cred = password("bob", "wrong"),
	                        .deadline = imap_now_ms() + 3000};
	struct waiter_arg w2 = {.p = p, .cred = password("bob", "guess"),
	                        .deadline = imap_now_ms() + 3000};
	pthread_t t1, t2;
	cr_assert_eq(pthread_create(&t1, NULL, waiter_thread, &w1), 0);
	/* the scripts go to connections in the order they come: wait for the
	 * second one (bob's slow login) to be there before alice connects */
	int64_t until = imap_now_ms() + 3000;
	while (fake_session_connections(&h) < 2 && imap_now_ms() < until)
		usleep(1000);
	cr_assert_eq(pthread_create(&t2, NULL, waiter_thread, &w2), 0);
	wait_for_waiters(p, 1);  /* bob's second guess waits for his first */
	struct got a = acquire_ok(p, password("alice", "secret"));  /* alice does not */
	cr_expect(a.fresh);
	imap_pool_release(p, a.s);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_expect_eq(w1.got.rc, IMAP_ERR_AUTH, "%s", imap_strerror(w1.got.rc));
	cr_expect_eq(w2.got.rc, IMAP_ERR_AUTH, "then the second: %s", imap_strerror(w2.got.rc));
	cr_expect_geq(w2.done_at, w1.done_at);
	imap_pool_free(&p, FAKE_DEADLINE());
	fake_session_finish_many(&h, 4, NULL);
}

Test(pool, token_without_oauth_mechanism_is_unsupported_and_not_counted)
{
	static const struct fake_step no_oauth[] = {
		GREET,
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(no_oauth), FAKE_SCRIPT(no_oauth)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .login_fail_max = 1);
	struct imap_credentials tok = {.kind = IMAP_CRED_TOKEN, .user = "alice", .secret = "ya29.x"};
	for (int i = 0; i < 2; i++) {
		struct got g = acquire(p, tok, FAKE_DEADLINE());
		cr_expect_eq(g.rc, IMAP_ERR_UNSUPPORTED, "attempt %d: %s", i, imap_strerror(g.rc));
	}
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.login_failures, 0);
	cr_expect_eq(st.throttled, 0);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 2, (const char *const[]){"", ""});  /* nothing was sent */
}

Test(pool, preauth_greeting_is_refused)
{
	static const struct fake_step preauth[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] welcome, whoever you are\r\n"),
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(preauth)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL);
	struct got g = acquire(p, password("alice", "anything"), FAKE_DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_UNSUPPORTED, "%s", imap_strerror(g.rc));
	cr_expect_eq(stats(p).idle + stats(p).busy, 0);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 1, NULL);
}

Test(pool, invalid_arguments)
{
	struct fake_session h;
	fake_session_start_many(&h, NULL, 0);  /* never contacted */
	struct imap_pool_config cfg = fake_session_pool_config(&h);
	struct imap_pool *p = pool_new(&cfg, NULL);
	struct imap_credentials c = {.kind = IMAP_CRED_PASSWORD, .user = "alice", .secret = NULL};
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	cr_expect_eq(imap_pool_acquire(p, &c, FAKE_DEADLINE(), &s, NULL, NULL, &err),
	             IMAP_ERR_INVALID);
	char *longname = malloc(IMAP_POOL_USER_MAX + 2);
	cr_assert_not_null(longname);
	memset(longname, 'a', IMAP_POOL_USER_MAX + 1);
	longname[IMAP_POOL_USER_MAX + 1] = '\0';
	c = password(longname, "x");
	cr_expect_eq(imap_pool_acquire(p, &c, FAKE_DEADLINE(), &s, NULL, NULL, &err),
	             IMAP_ERR_INVALID);
	free(longname);
	cr_expect_null(s);
	imap_pool_free(&p, FAKE_DEADLINE());
	cfg.client.host = NULL;
	cr_expect_null(imap_pool_new(&cfg));
	fake_session_finish_many(&h, 0, NULL);
}

/* ---- several keys ---- */

Test(pool, users_do_not_block_each_other)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(alice_session), FAKE_SCRIPT(bob_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .per_user = 1);

	struct got a = acquire_ok(p, password("alice", "secret"));
	int64_t t0 = imap_now_ms();
	struct got b = acquire_ok(p, password("bob", "secret"));
	cr_expect_lt(imap_now_ms() - t0, 500);
	cr_expect(b.fresh);
	imap_pool_release(p, a.s);
	imap_pool_release(p, b.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 2, NULL);
}

Test(pool, full_pool_evicts_the_least_recently_used_idle_session_of_another_key)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_step carol_session[] = {
		GREET, FAKE_EXPECT("LOGIN carol secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_script scripts[] = {
		FAKE_SCRIPT(alice_session), FAKE_SCRIPT(bob_session), FAKE_SCRIPT(carol_session),
	};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .max_sessions = 2);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	struct got b = acquire_ok(p, password("bob", "secret"));
	imap_pool_release(p, b.s);
	/* full: carol's session replaces alice's, the least recently used */
	struct got c = acquire_ok(p, password("carol", "secret"));
	cr_expect(c.fresh);
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.evicted, 1);
	cr_expect_eq(st.idle, 1);
	cr_expect_eq(st.busy, 1);
	struct got b2 = acquire_ok(p, password("bob", "secret"));
	cr_expect(!b2.fresh, "bob's session survived");
	/* full of busy sessions: nothing to evict, so wait, then BUSY */
	struct got a2 = acquire(p, password("alice", "secret"), imap_now_ms() + 100);
	cr_expect_eq(a2.rc, IMAP_ERR_BUSY, "%s", imap_strerror(a2.rc));
	imap_pool_release(p, b2.s);
	imap_pool_release(p, c.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 3, (const char *const[]){"A1 LOGIN alice secret\nA2 LOGOUT",
	                                                      NULL, NULL});
}

Test(pool, freed_slot_wakes_a_waiter_of_another_user)
{
	/* The pool is full with alice's one borrowed session; bob waits. When
	 * alice's session breaks and is discarded, bob gets the slot. */
	static const struct fake_step dies[] = {
		GREET, FAKE_EXPECT("LOGIN alice secret"), LOGIN_OK, FAKE_CLOSE(),
	};
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(dies), FAKE_SCRIPT(bob_session)};
	struct fake_session h;
	struct imap_pool *p = POOL_START(&h, scripts, NULL, .max_sessions = 1);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct waiter_arg w;
	pthread_t t = waiter_start(&w, p, password("bob", "secret"));
	wait_for_waiters(p, 1);
	/* use the session: the server has hung up, so it breaks */
	struct imap_cmd c;
	imap_session_cmd(a.s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_assert_neq(imap_session_run(a.s, &c, NULL, NULL, FAKE_DEADLINE(), NULL), 0);
	imap_cmd_free(&c);
	imap_pool_release(p, a.s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s (%s)", imap_strerror(w.got.rc), w.got.err.msg);
	cr_expect(w.got.fresh);
	imap_pool_release(p, w.got.s);
	imap_pool_free(&p, FAKE_DEADLINE());

	fake_session_finish_many(&h, 2, NULL);
}
