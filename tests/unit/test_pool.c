/*
 * tests/unit/test_pool.c — the session pool (imap/pool.h) against scripted
 * fake servers (tests/support/fake_imap.h).
 *
 * A fake accepts one connection, while the pool opens several to the same
 * host and port (and remembers failed logins per host and port). So most
 * tests point the pool at a "front": a listening socket of the test's own
 * that hands the n-th connection to a new fake playing the n-th script and
 * relays the bytes both ways. The front counts connections: one the test
 * did not script is never answered and shows up as `extra` at the end, so
 * "the server was not contacted" is checked, not assumed.
 *
 * Times the pool keeps (idle stamps, failure windows) come from a clock the
 * test moves, so expiry is tested without sleeping.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/buf.h"
#include "imap/client.h"
#include "imap/conn.h"
#include "imap/error.h"
#include "imap/pool.h"
#include "tests/support/fake_imap.h"

TestSuite(pool, .timeout = 20);

#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))
#define SCRIPT(a) {(a), NSTEPS(a)}
#define DEADLINE() (imap_now_ms() + 3000)

/* ---- the front: many connections, one fake each ---- */

#define FRONT_MAX 8
#define FRONT_ACCEPT_MS 4000 /* longest wait for each scripted connection */
#define FRONT_IDLE_MS 6000   /* longest silence on a relayed connection */

struct script {
	const struct fake_step *steps;
	size_t n;
};

struct front;

struct relay {
	struct front *f;
	const struct script *script;
	int cfd;
	pthread_t thread;
	int rc;             /* fake_imap_finish's verdict */
	char *transcript;
};

struct front {
	int lfd;
	uint16_t port;
	const struct script *scripts;
	size_t nscripts;
	pthread_t thread;
	size_t accepted;
	struct relay relays[FRONT_MAX];
};

struct front_result {
	size_t served;               /* scripted connections that came */
	size_t extra;                /* connections beyond the scripts */
	int failed;                  /* fakes whose script failed */
	char *transcript[FRONT_MAX]; /* what the client sent on each */
};

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copy bytes both ways until one side closes or all is quiet too long. */
static void pump(int a, int b)
{
	struct pollfd pfd[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
	char buf[4096];
	for (;;) {
		if (poll(pfd, 2, FRONT_IDLE_MS) <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			if (!pfd[i].revents)
				continue;
			ssize_t got = read(pfd[i].fd, buf, sizeof buf);
			if (got <= 0 || !write_all(pfd[1 - i].fd, buf, (size_t)got))
				return;
		}
	}
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	r->rc = -1;
	struct fake_imap *fake = fake_imap_start(r->script->steps, r->script->n);
	if (!fake) {
		close(r->cfd);
		return NULL;
	}
	int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fake_imap_port(fake)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (sfd >= 0 && connect(sfd, (struct sockaddr *)&sa, sizeof sa) == 0)
		pump(r->cfd, sfd);
	close(r->cfd);
	if (sfd >= 0)
		close(sfd);
	r->rc = fake_imap_finish(&fake, &r->transcript);
	return NULL;
}

static void *front_thread(void *arg)
{
	struct front *f = arg;
	for (size_t i = 0; i < f->nscripts; i++) {
		struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
		if (poll(&pfd, 1, FRONT_ACCEPT_MS) <= 0)
			break;
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			break;
		struct relay *r = &f->relays[i];
		r->f = f;
		r->script = &f->scripts[i];
		r->cfd = c;
		if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) {
			close(c);
			break;
		}
		__atomic_add_fetch(&f->accepted, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Listen on 127.0.0.1 and serve scripts[i] to the i-th connection. */
static struct front *front_start(const struct script *scripts, size_t n)
{
	cr_assert_leq(n, FRONT_MAX);
	struct front *f = calloc(1, sizeof *f);
	cr_assert_not_null(f);
	f->scripts = scripts;
	f->nscripts = n;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->lfd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(f->lfd, 16), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&f->thread, NULL, front_thread, f), 0);
	return f;
}

/* Wait for every relayed conversation to end (the pool must have closed its
 * sessions), count connections nobody scripted, free the front. */
static void front_finish(struct front **fp, struct front_result *res)
{
	struct front *f = *fp;
	*fp = NULL;
	memset(res, 0, sizeof *res);
	pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->accepted; i++) {
		pthread_join(f->relays[i].thread, NULL);
		if (f->relays[i].rc != 0)
			res->failed++;
		res->transcript[i] = f->relays[i].transcript;
	}
	res->served = f->accepted;
	struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
	while (poll(&pfd, 1, 0) > 0) {
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			break;
		close(c);
		res->extra++;
	}
	close(f->lfd);
	free(f);
}

static void front_result_free(struct front_result *res)
{
	for (size_t i = 0; i < FRONT_MAX; i++)
		free(res->transcript[i]);
}

/* The front must have served exactly `want` scripted connections, all
 * played to the end, and no other. */
static void front_check(struct front **fp, size_t want, struct front_result *res)
{
	front_finish(fp, res);
	cr_expect_eq(res->served, want, "connections: %zu, want %zu", res->served, want);
	cr_expect_eq(res->extra, 0, "%zu connections that should not have been made", res->extra);
	cr_expect_eq(res->failed, 0, "a fake's script failed (reason on stderr)");
}

static const char *transcript(const struct front_result *res, size_t i)
{
	return res->transcript[i] ? res->transcript[i] : "(none)";
}

/* ---- the pool under test ---- */

struct test_clock {
	int64_t offset_ms;
};

static int64_t test_clock_now(void *ctx)
{
	const struct test_clock *c = ctx;
	return imap_now_ms() + c->offset_ms;
}

static struct imap_pool_config config(uint16_t port)
{
	struct imap_pool_config cfg = {0};
	imap_client_config_default(&cfg.client);
	cfg.client.host = "127.0.0.1";
	cfg.client.port = port;
	cfg.client.tls_mode = IMAP_TLS_NONE;
	cfg.connect_timeout_ms = 3000;
	return cfg;
}

static struct imap_pool *pool_new(const struct imap_pool_config *cfg, struct test_clock *clock)
{
	struct imap_pool *p = imap_pool_new(cfg);
	cr_assert_not_null(p);
	if (clock)
		imap_pool_set_clock(p, test_clock_now, clock);
	return p;
}

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
	struct got g = acquire(p, c, DEADLINE());
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
	static const struct script scripts[] = {SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	struct imap_pool *p = pool_new(&cfg, NULL);

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
	imap_pool_free(&p, DEADLINE());
	cr_expect_null(p);

	struct front_result res;
	front_check(&f, 1, &res);
	cr_expect_str_eq(transcript(&res, 0), "A1 LOGIN alice secret\nA2 LOGOUT");
	front_result_free(&res);
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
	static const struct script scripts[] = {SCRIPT(alice_then_bye), SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	struct imap_pool *p = pool_new(&cfg, NULL);

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
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	cr_expect_str_eq(transcript(&res, 0), "A1 LOGIN alice secret", "nothing sent after the BYE");
	cr_expect_str_eq(transcript(&res, 1), "A1 LOGIN alice secret\nA2 LOGOUT");
	front_result_free(&res);
}

Test(pool, busy_when_every_session_of_the_key_is_borrowed)
{
	static const struct script scripts[] = {SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	cfg.per_user = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);

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
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 1, &res);
	front_result_free(&res);
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
	static const struct script scripts[] = {SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	cfg.per_user = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct waiter_arg w = {.p = p, .cred = password("alice", "secret"),
	                       .deadline = imap_now_ms() + 3000};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, waiter_thread, &w), 0);
	wait_for_waiters(p, 1);
	int64_t released_at = imap_now_ms();
	imap_pool_release(p, a.s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s (%s)", imap_strerror(w.got.rc), w.got.err.msg);
	cr_expect_eq(w.got.s, a.s);
	cr_expect(!w.got.fresh);
	cr_expect_lt(w.done_at - released_at, 500, "woken late");
	imap_pool_release(p, w.got.s);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 1, &res);
	front_result_free(&res);
}

Test(pool, broken_session_is_discarded_on_release)
{
	static const struct fake_step dies[] = {
		GREET, FAKE_EXPECT("LOGIN alice secret"), LOGIN_OK,
		FAKE_EXPECT("NOOP"), FAKE_CLOSE(),
	};
	static const struct script scripts[] = {SCRIPT(dies), SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(a.s, &c);
	imap_cmd_atom(&c, "NOOP");
	int rc = imap_session_run(a.s, &c, NULL, NULL, DEADLINE(), &err);
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
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	cr_expect_str_eq(transcript(&res, 0), "A1 LOGIN alice secret\nA2 NOOP");
	cr_expect_str_eq(transcript(&res, 1), "A1 LOGIN alice secret\nA2 LOGOUT");
	front_result_free(&res);
}

Test(pool, idle_session_expires_on_reap)
{
	static const struct script scripts[] = {SCRIPT(alice_session)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	cfg.idle_s = 30;
	struct test_clock clock = {0};
	struct imap_pool *p = pool_new(&cfg, &clock);

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

	struct front_result res;
	front_check(&f, 1, &res);  /* LOGOUT was sent by the reap itself */
	cr_expect_str_eq(transcript(&res, 0), "A1 LOGIN alice secret\nA2 LOGOUT");
	front_result_free(&res);
	imap_pool_free(&p, DEADLINE());
}

/* ---- credentials ---- */

Test(pool, wrong_password_never_rides_on_a_pooled_session)
{
	static const struct script scripts[] = {SCRIPT(alice_session), SCRIPT(alice_wrong)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	struct got b = acquire(p, password("alice", "wrong"), DEADLINE());
	cr_expect_eq(b.rc, IMAP_ERR_AUTH, "%s", imap_strerror(b.rc));
	cr_expect_null(b.s);
	cr_expect_str_eq(b.err.imap_code, "AUTHENTICATIONFAILED");
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.idle, 1, "the right session stays pooled");
	cr_expect_eq(st.login_failures, 1);
	cr_expect_eq(st.reused, 0);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	cr_expect_str_eq(transcript(&res, 1), "A1 LOGIN alice wrong");
	front_result_free(&res);
}

Test(pool, throttled_after_failures_without_contacting_the_server)
{
	static const struct script scripts[] = {
		SCRIPT(alice_wrong), SCRIPT(alice_wrong), SCRIPT(alice_wrong),
	};
	struct front *f = front_start(scripts, 3);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 3;
	cfg.login_fail_window_s = 60;
	struct imap_pool *p = pool_new(&cfg, NULL);

	for (int i = 0; i < 3; i++) {
		struct got g = acquire(p, password("alice", "wrong"), DEADLINE());
		cr_assert_eq(g.rc, IMAP_ERR_AUTH, "attempt %d: %s (%s)", i, imap_strerror(g.rc),
		             g.err.msg);
	}
	/* now even the right password is refused, at once and without a connection */
	int64_t t0 = imap_now_ms();
	struct got g = acquire(p, password("alice", "secret"), DEADLINE());
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

	struct front_result res;
	front_check(&f, 3, &res);
	for (size_t i = 0; i < 3; i++)
		cr_expect_str_eq(transcript(&res, i), "A1 LOGIN alice wrong");
	front_result_free(&res);
	imap_pool_free(&p, DEADLINE());
}

Test(pool, throttle_ends_with_the_window_and_success_clears_the_count)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct script scripts[] = {
		SCRIPT(alice_wrong), SCRIPT(alice_session), SCRIPT(alice_wrong), SCRIPT(bob_session),
	};
	struct front *f = front_start(scripts, 4);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 1;
	cfg.login_fail_window_s = 10;
	struct test_clock clock = {0};
	struct imap_pool *p = pool_new(&cfg, &clock);

	cr_assert_eq(acquire(p, password("alice", "wrong"), DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got g = acquire(p, password("alice", "secret"), DEADLINE());
	cr_assert_eq(g.rc, IMAP_ERR_THROTTLED);
	cr_expect_eq(g.retry, 10);
	clock.offset_ms = 4000;
	g = acquire(p, password("alice", "secret"), DEADLINE());
	cr_assert_eq(g.rc, IMAP_ERR_THROTTLED);
	cr_expect_eq(g.retry, 6);
	clock.offset_ms = 10000;
	g = acquire_ok(p, password("alice", "secret"));
	cr_expect(g.fresh);
	imap_pool_release(p, g.s);
	/* the success cleared the count: one more failure is allowed again
	 * before throttling, and other users were never affected */
	cr_assert_eq(acquire(p, password("alice", "wrong"), DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got b = acquire_ok(p, password("bob", "secret"));
	imap_pool_release(p, b.s);
	cr_expect_eq(acquire(p, password("alice", "secret"), DEADLINE()).rc, IMAP_ERR_THROTTLED);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 4, &res);
	front_result_free(&res);
}

Test(pool, throttle_is_not_bypassed_by_a_matching_idle_session)
{
	/* A guesser must not learn "right password" from a pooled session's
	 * fingerprint while the user is throttled. */
	static const struct script scripts[] = {
		SCRIPT(alice_session), SCRIPT(alice_wrong), SCRIPT(alice_wrong),
	};
	struct front *f = front_start(scripts, 3);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 2;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	imap_pool_release(p, a.s);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(acquire(p, password("alice", "wrong"), DEADLINE()).rc, IMAP_ERR_AUTH);
	struct got g = acquire(p, password("alice", "secret"), DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s", imap_strerror(g.rc));
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.idle, 1);
	cr_expect_eq(st.reused, 0);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 3, &res);
	front_result_free(&res);
}

Test(pool, concurrent_logins_cannot_race_past_the_limit)
{
	/* With one failure allowed, a second login of the same user (another
	 * password) waits for the first instead of going to the server too,
	 * and is then throttled. */
	static const struct fake_step slow_no[] = {
		GREET, FAKE_EXPECT("LOGIN alice wrong"), FAKE_DELAY(200), LOGIN_NO,
	};
	static const struct script scripts[] = {SCRIPT(slow_no)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct waiter_arg w1 = {.p = p, .cred = password("alice", "wrong"),
	                        .deadline = imap_now_ms() + 3000};
	struct waiter_arg w2 = {.p = p, .cred = password("alice", "guess2"),
	                        .deadline = imap_now_ms() + 3000};
	pthread_t t1, t2;
	cr_assert_eq(pthread_create(&t1, NULL, waiter_thread, &w1), 0);
	int64_t until = imap_now_ms() + 2000;
	while (stats(p).connecting < 1 && imap_now_ms() < until)
		usleep(1000);
	cr_assert_eq(pthread_create(&t2, NULL, waiter_thread, &w2), 0);
	wait_for_waiters(p, 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_expect_eq(w1.got.rc, IMAP_ERR_AUTH, "%s", imap_strerror(w1.got.rc));
	cr_expect_eq(w2.got.rc, IMAP_ERR_THROTTLED, "%s", imap_strerror(w2.got.rc));
	cr_expect_lt(w2.done_at - w1.done_at, 300, "the waiter learnt of the throttle at once");
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 1, &res);
	front_result_free(&res);
}

/* A server that delays refusals (Dovecot: 2, 4, 8, 15 s per address) makes
 * later wrong passwords time out instead of being refused: after a refusal,
 * such a timeout counts as a failure too, so the throttle is reached. A
 * timeout with no refusal before it is the server's trouble, not counted. */
Test(pool, login_timeouts_after_a_refusal_count_as_failures)
{
	static const struct fake_step bob_silent[] = {GREET, FAKE_EXPECT("LOGIN bob wrong")};
	static const struct fake_step bob_wrong[] = {GREET, FAKE_EXPECT("LOGIN bob wrong"), LOGIN_NO};
	static const struct script scripts[] = {
		SCRIPT(bob_silent), SCRIPT(bob_wrong), SCRIPT(bob_silent),
	};
	struct front *f = front_start(scripts, 3);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 2;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got g = acquire(p, password("bob", "wrong"), imap_now_ms() + 1500);
	cr_expect_eq(g.rc, IMAP_ERR_TIMEOUT, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_eq(stats(p).login_failures, 0, "a timeout alone is not a refusal");
	g = acquire(p, password("bob", "wrong"), DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_AUTH, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	g = acquire(p, password("bob", "wrong"), imap_now_ms() + 1500);
	cr_expect_eq(g.rc, IMAP_ERR_TIMEOUT, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	cr_expect_eq(stats(p).login_failures, 2, "the slow refusal counted");
	g = acquire(p, password("bob", "wrong"), DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_THROTTLED, "%s (%s)", imap_strerror(g.rc), g.err.msg);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 3, &res);
	front_result_free(&res);
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
	static const struct script scripts[] = {
		SCRIPT(bob_wrong), SCRIPT(bob_slow_no), SCRIPT(alice_session), SCRIPT(bob_guess),
	};
	struct front *f = front_start(scripts, 4);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 5;
	struct imap_pool *p = pool_new(&cfg, NULL);

	cr_assert_eq(acquire(p, password("bob", "wrong"), DEADLINE()).rc, IMAP_ERR_AUTH);
	struct waiter_arg w1 = {.p = p, .cred = password("bob", "wrong"),
	                        .deadline = imap_now_ms() + 3000};
	struct waiter_arg w2 = {.p = p, .cred = password("bob", "guess"),
	                        .deadline = imap_now_ms() + 3000};
	pthread_t t1, t2;
	cr_assert_eq(pthread_create(&t1, NULL, waiter_thread, &w1), 0);
	/* the scripts go to connections in the order they come: wait for the
	 * second one (bob's slow login) to be there before alice connects */
	int64_t until = imap_now_ms() + 3000;
	while (__atomic_load_n(&f->accepted, __ATOMIC_SEQ_CST) < 2 && imap_now_ms() < until)
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
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 4, &res);
	front_result_free(&res);
}

Test(pool, token_without_oauth_mechanism_is_unsupported_and_not_counted)
{
	static const struct fake_step no_oauth[] = {
		GREET,
	};
	static const struct script scripts[] = {SCRIPT(no_oauth), SCRIPT(no_oauth)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	cfg.login_fail_max = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);
	struct imap_credentials tok = {.kind = IMAP_CRED_TOKEN, .user = "alice", .secret = "ya29.x"};
	for (int i = 0; i < 2; i++) {
		struct got g = acquire(p, tok, DEADLINE());
		cr_expect_eq(g.rc, IMAP_ERR_UNSUPPORTED, "attempt %d: %s", i, imap_strerror(g.rc));
	}
	struct imap_pool_stats st = stats(p);
	cr_expect_eq(st.login_failures, 0);
	cr_expect_eq(st.throttled, 0);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	cr_expect_str_eq(transcript(&res, 0), "", "nothing was sent");
	front_result_free(&res);
}

Test(pool, preauth_greeting_is_refused)
{
	static const struct fake_step preauth[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] welcome, whoever you are\r\n"),
	};
	static const struct script scripts[] = {SCRIPT(preauth)};
	struct front *f = front_start(scripts, 1);
	struct imap_pool_config cfg = config(f->port);
	struct imap_pool *p = pool_new(&cfg, NULL);
	struct got g = acquire(p, password("alice", "anything"), DEADLINE());
	cr_expect_eq(g.rc, IMAP_ERR_UNSUPPORTED, "%s", imap_strerror(g.rc));
	cr_expect_eq(stats(p).idle + stats(p).busy, 0);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 1, &res);
	front_result_free(&res);
}

Test(pool, invalid_arguments)
{
	struct imap_pool_config cfg = config(1);  /* never contacted */
	struct imap_pool *p = pool_new(&cfg, NULL);
	struct imap_credentials c = {.kind = IMAP_CRED_PASSWORD, .user = "alice", .secret = NULL};
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	cr_expect_eq(imap_pool_acquire(p, &c, DEADLINE(), &s, NULL, NULL, &err), IMAP_ERR_INVALID);
	char *longname = malloc(IMAP_POOL_USER_MAX + 2);
	cr_assert_not_null(longname);
	memset(longname, 'a', IMAP_POOL_USER_MAX + 1);
	longname[IMAP_POOL_USER_MAX + 1] = '\0';
	c = password(longname, "x");
	cr_expect_eq(imap_pool_acquire(p, &c, DEADLINE(), &s, NULL, NULL, &err), IMAP_ERR_INVALID);
	free(longname);
	cr_expect_null(s);
	imap_pool_free(&p, DEADLINE());
	cfg.client.host = NULL;
	cr_expect_null(imap_pool_new(&cfg));
}

/* ---- several keys ---- */

Test(pool, users_do_not_block_each_other)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct script scripts[] = {SCRIPT(alice_session), SCRIPT(bob_session)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	cfg.per_user = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	int64_t t0 = imap_now_ms();
	struct got b = acquire_ok(p, password("bob", "secret"));
	cr_expect_lt(imap_now_ms() - t0, 500);
	cr_expect(b.fresh);
	imap_pool_release(p, a.s);
	imap_pool_release(p, b.s);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	front_result_free(&res);
}

Test(pool, full_pool_evicts_the_least_recently_used_idle_session_of_another_key)
{
	static const struct fake_step bob_session[] = {
		GREET, FAKE_EXPECT("LOGIN bob secret"), LOGIN_OK, LOGOUT,
	};
	static const struct fake_step carol_session[] = {
		GREET, FAKE_EXPECT("LOGIN carol secret"), LOGIN_OK, LOGOUT,
	};
	static const struct script scripts[] = {
		SCRIPT(alice_session), SCRIPT(bob_session), SCRIPT(carol_session),
	};
	struct front *f = front_start(scripts, 3);
	struct imap_pool_config cfg = config(f->port);
	cfg.max_sessions = 2;
	struct imap_pool *p = pool_new(&cfg, NULL);

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
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 3, &res);
	cr_expect_str_eq(transcript(&res, 0), "A1 LOGIN alice secret\nA2 LOGOUT");
	front_result_free(&res);
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
	static const struct script scripts[] = {SCRIPT(dies), SCRIPT(bob_session)};
	struct front *f = front_start(scripts, 2);
	struct imap_pool_config cfg = config(f->port);
	cfg.max_sessions = 1;
	struct imap_pool *p = pool_new(&cfg, NULL);

	struct got a = acquire_ok(p, password("alice", "secret"));
	struct waiter_arg w = {.p = p, .cred = password("bob", "secret"),
	                       .deadline = imap_now_ms() + 3000};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, waiter_thread, &w), 0);
	wait_for_waiters(p, 1);
	/* use the session: the server has hung up, so it breaks */
	struct imap_cmd c;
	imap_session_cmd(a.s, &c);
	imap_cmd_atom(&c, "NOOP");
	cr_assert_neq(imap_session_run(a.s, &c, NULL, NULL, DEADLINE(), NULL), 0);
	imap_cmd_free(&c);
	imap_pool_release(p, a.s);
	pthread_join(t, NULL);
	cr_assert_eq(w.got.rc, 0, "%s (%s)", imap_strerror(w.got.rc), w.got.err.msg);
	cr_expect(w.got.fresh);
	imap_pool_release(p, w.got.s);
	imap_pool_free(&p, DEADLINE());

	struct front_result res;
	front_check(&f, 2, &res);
	front_result_free(&res);
}
