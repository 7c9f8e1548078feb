/*
 * Failed logins against a Dovecot that delays them per client address, as
 * a default installation does (2, 4, 8 ... 15 s), with loopback trusted to
 * name the real client. It is a Dovecot of this suite's own: the shared one
 * runs without the delay, since other tests fail logins on purpose.
 *
 * Every user's logins come from the gateway's one address, so unless the
 * gateway names each request's client, one client's wrong passwords delay
 * every other user's logins too; and the delayed refusals must still count
 * towards the gateway's own throttle (429).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imap/conn.h"
#include "tests/support/gateway.h"

static char dir[512];
static char port[16];
static char ca[600];

/* Run a function of tests/dovecot-lib.sh on dir; its output goes to
 * dir/lib.log. Returns the exit status. */
static int lib(const char *call)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
	         "bash -c '. tests/dovecot-lib.sh && DOVECOT_LOGIN_PENALTY=1 %s \"$0\"' '%s' "
	         ">>'%s/lib.log' 2>&1",
	         call, dir, dir);
	return system(cmd);
}

/* The value of `export NAME=value` in dir/env, into out. */
static void env_value(const char *name, char *out, size_t cap)
{
	char path[600], line[1024], want[128];
	snprintf(path, sizeof path, "%s/env", dir);
	snprintf(want, sizeof want, "export %s=", name);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "no %s", path);
	out[0] = '\0';
	while (fgets(line, sizeof line, f))
		if (strncmp(line, want, strlen(want)) == 0) {
			snprintf(out, cap, "%s", line + strlen(want));
			out[strcspn(out, "\n")] = '\0';
		}
	fclose(f);
	cr_assert(out[0], "%s not in %s", name, path);
}

static void start(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "%s/penalty-%d", getenv("IMAPGW_TEST_DIR"), (int)getpid());
	cr_assert_eq(mkdir(dir, 0755), 0, "cannot make %s", dir);
	cr_assert_eq(lib("dovecot_start"), 0, "the Dovecot with login delays did not start (see %s/lib.log)",
	             dir);
	env_value("IMAPGW_TEST_IMAPS_PORT", port, sizeof port);
	env_value("IMAPGW_TEST_CA", ca, sizeof ca);
}

static void stop(void)
{
	lib("dovecot_stop");
}

TestSuite(login_throttle, .init = start, .fini = stop, .timeout = 120);

static long folders(const struct gw *g, const char *user, const char *password)
{
	struct gw_reply r;
	gw_request(g, "GET", "/folders", user, password, NULL, &r);
	long status = r.status;
	gw_reply_free(&r);
	return status;
}

struct guess {
	const struct gw *g;
	long status;
};

static void *guess(void *arg)
{
	struct guess *x = arg;
	gw_source_address("127.0.0.3");
	x->status = folders(x->g, "bob", "wrong");
	return NULL;
}

Test(login_throttle, one_clients_wrong_passwords_delay_no_other_login_and_end_in_429)
{
	struct gw g;
	/* A login may take 3 s: less than Dovecot's delay after a refusal. */
	gw_start(&g, "--imap-port", port, "--imap-ca", ca, "--login-fail-max", "3",
	         "--imap-connect-timeout", "3000", NULL);

	/* A guesser at 127.0.0.3: the first wrong password is refused at once. */
	gw_source_address("127.0.0.3");
	cr_assert_eq(folders(&g, "bob", "wrong"), 401);

	/* The next guess waits in Dovecot's delay for 127.0.0.3; meanwhile alice,
	 * at 127.0.0.4, logs in as fast as ever. */
	struct guess second = {.g = &g};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, guess, &second), 0);
	gw_source_address("127.0.0.4");
	/* held up, her login would time out (504) after the 3 s connect timeout */
	cr_expect_eq(folders(&g, "alice", "alice-secret"), 200,
	             "alice's login was held up by bob's wrong passwords");
	pthread_join(t, NULL);
	cr_expect(second.status == 401 || second.status == 504, "second guess: %ld", second.status);

	/* Slow refusals (timeouts after a refusal) count: 429 comes. */
	gw_source_address("127.0.0.3");
	long status = second.status;
	int tries = 0;
	while (status != 429 && tries++ < 5) {
		status = folders(&g, "bob", "wrong");
		cr_expect(status == 401 || status == 504 || status == 429, "guess: %ld", status);
	}
	cr_expect_eq(status, 429, "no 429 after %d more wrong passwords", tries);
	cr_expect_eq(folders(&g, "bob", "b\"o\\b p@ss"), 429, "the user is throttled, not the key");

	/* (the trace is JSON: its quotes are escaped) */
	cr_expect_geq(gw_count_sent(&g, "ID (\\\"x-originating-ip\\\" \\\"127.0.0.4\\\")"), 1,
	              "the server was told who logs in");
	gw_source_address(NULL);
	gw_stop(&g);
}
