/*
 * One gateway in front of several IMAP servers (--imap-server, --imap-route,
 * X-Imap-Server): the private Dovecot as "default", the second Dovecot of
 * tests/dovecot-lib.sh (dovecot_second_start: the same users, other mail,
 * domains dropped from user names) and Cyrus (tests/servers-lib.sh). The
 * same user name on two servers must never see the other's mail: not in a
 * listing, not in a message, not through the index, not through a pooled
 * session, and a throttle on one server leaves the other alone. A request
 * that names no configured server is refused before anything is connected.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* long: the Cyrus test first waits for Cyrus (a first run installs it) */
TestSuite(multi_server, .init = setup, .timeout = 600);

#define ALICE "alice", "alice-secret"
#define HEIDI "heidi", "heidi-secret"
#define TWO "X-Imap-Server: two"

static json_t *call(const struct gw *g, const char *method, const char *path, const char *user,
                    const char *pw, const char *header, long want)
{
	struct gw_reply r;
	gw_request(g, method, path, user, pw, header, &r);
	cr_assert_eq(r.status, want, "%s %s (%s): %ld %s", method, path, header ? header : "-",
	             r.status, r.body.data);
	json_t *j = r.body.len ? json_loads(r.body.data, 0, NULL) : json_object();
	cr_assert_not_null(j, "%s %s: not JSON: %.300s", method, path, r.body.data);
	gw_reply_free(&r);
	return j;
}

/* Append a message with this subject to INBOX; its UID. */
static long append(const struct gw *g, const char *user, const char *pw, const char *header,
                   const char *subject)
{
	char msg[512];
	int n = snprintf(msg, sizeof msg,
	                 "From: t@example.org\r\nTo: %s@example.org\r\nSubject: %s\r\n"
	                 "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <%s@test>\r\n\r\n"
	                 "body of %s\r\n", user, subject, subject, subject);
	struct gw_reply r;
	gw_request_body_headers(g, "POST", "/messages?folder=INBOX", user, pw, header,
	                        "message/rfc822", msg, (size_t)n, &r);
	cr_assert_eq(r.status, 201, "append %s: %ld %s", subject, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	cr_assert_not_null(j);
	long uid = (long)json_integer_value(json_object_get(j, "uid"));
	json_decref(j);
	gw_reply_free(&r);
	cr_assert_gt(uid, 0);
	return uid;
}

/* How many messages of INBOX's first page (of up to 500) have this subject;
 * *total is the folder's count. */
static int count_subject(const struct gw *g, const char *user, const char *pw,
                         const char *header, const char *subject, long *total)
{
	json_t *j = call(g, "GET", "/messages?folder=INBOX&per_page=500", user, pw, header, 200);
	if (total)
		*total = (long)json_integer_value(json_object_get(j, "total"));
	int found = 0;
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(j, "messages"), i, m) {
		const char *s = json_string_value(json_object_get(m, "subject"));
		found += s && strcmp(s, subject) == 0;
	}
	json_decref(j);
	return found;
}

/* The value of the metric line that starts with `series` ("name{labels}"). */
static long long metric(const struct gw *g, const char *series)
{
	struct gw_reply r;
	gw_request(g, "GET", "/metrics", NULL, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	char needle[256];
	snprintf(needle, sizeof needle, "\n%s ", series);
	const char *p = strstr(r.body.data, needle);
	cr_assert_not_null(p, "no %s in:\n%s", series, r.body.data);
	long long v = strtoll(p + strlen(needle), NULL, 10);
	gw_reply_free(&r);
	return v;
}

static void unique(char *out, size_t cap, const char *what)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, cap, "%s-%d-%ld%09ld", what, (int)getpid(), (long)ts.tv_sec, ts.tv_nsec);
}

/* alice on two Dovecots with the same password: listings, a message, the
 * index (warm on both) and the pools keep them apart. */
Test(multi_server, same_user_on_two_dovecots_never_mixed)
{
	char two[512], subject[96];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	unique(subject, sizeof subject, "only-on-two");
	struct gw g;
	gw_start(&g, "--imap-server", two, NULL);

	long uid = append(&g, ALICE, TWO, subject);
	long total_default = 0, total_two = 0;
	/* Several rounds, alternating: the index is loaded and then served warm
	 * on both; a shared entry would show one server's mail on the other. */
	for (int round = 0; round < 4; round++) {
		long t1, t2;
		cr_assert_eq(count_subject(&g, ALICE, NULL, subject, &t1), 0, "round %d", round);
		cr_assert_eq(count_subject(&g, ALICE, TWO, subject, &t2), 1, "round %d", round);
		cr_assert(round == 0 || (t1 == total_default && t2 == total_two));
		total_default = t1;
		total_two = t2;
	}
	cr_assert_gt(total_default, 20, "the seeded INBOX on the default server");
	cr_assert_lt(total_two, total_default, "the second server's INBOX holds only what tests add");
	cr_assert_gt(metric(&g, "imapgw_index_pages_total{result=\"hit\"}"), 0);
	cr_assert_geq(metric(&g, "imapgw_index_folders"), 2, "one INBOX per server");

	/* The message itself: on two it is ours; on default that UID is another
	 * message or none. */
	char path[96];
	snprintf(path, sizeof path, "/messages/%ld?folder=INBOX", uid);
	json_t *j = call(&g, "GET", path, ALICE, TWO, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "subject")), subject);
	json_decref(j);
	struct gw_reply r;
	gw_request(&g, "GET", path, ALICE, NULL, &r);
	cr_assert(r.status == 200 || r.status == 404, "%ld %s", r.status, r.body.data);
	cr_assert_null(strstr(r.body.data, subject));
	gw_reply_free(&r);

	/* One pool per server: each opened its own session and reused it. */
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"created\"}"), 1);
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"created\"}"), 1);
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"reused\"}"), 3);
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"reused\"}"), 3);
	cr_assert_geq(metric(&g, "imapgw_imap_commands_total{server=\"two\",command=\"APPEND\","
	                         "result=\"ok\"}"), 1);

	/* /readyz names both */
	j = call(&g, "GET", "/readyz", NULL, NULL, NULL, 200);
	json_t *servers = json_object_get(j, "servers");
	cr_assert_str_eq(json_string_value(json_object_get(servers, "default")), "ready");
	cr_assert_str_eq(json_string_value(json_object_get(servers, "two")), "ready");
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ready");
	json_decref(j);

	snprintf(path, sizeof path, "/messages/%ld?folder=INBOX&permanent=true", uid);
	json_decref(call(&g, "DELETE", path, ALICE, TWO, 200));
	gw_stop(&g);
}

/* Users of a routed domain go to its server; others to the default one. */
Test(multi_server, domain_routes_pick_the_server)
{
	char two[512], subject[96];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	unique(subject, sizeof subject, "routed");
	struct gw g;
	gw_start(&g, "--imap-server", two, "--imap-route", "Two.Test=two", NULL);

	/* alice@two.test is alice on the second Dovecot (it drops the domain) */
	long uid = append(&g, "alice@two.test", "alice-secret", NULL, subject);
	cr_assert_eq(count_subject(&g, "alice@TWO.test", "alice-secret", NULL, subject, NULL), 1);
	cr_assert_eq(count_subject(&g, ALICE, TWO, subject, NULL), 1);
	cr_assert_eq(count_subject(&g, ALICE, NULL, subject, NULL), 0);
	/* no route for other.test: the default server, where no such user is */
	json_decref(call(&g, "GET", "/folders", "alice@other.test", "alice-secret", NULL, 401));
	cr_assert_eq(metric(&g, "imapgw_login_failures_total{server=\"default\"}"), 1);
	cr_assert_eq(metric(&g, "imapgw_login_failures_total{server=\"two\"}"), 0);
	/* the header wins over the route */
	json_decref(call(&g, "GET", "/folders", "alice@two.test", "alice-secret",
	                 "X-Imap-Server: default", 401));
	cr_assert_eq(metric(&g, "imapgw_login_failures_total{server=\"default\"}"), 2);

	char path[96];
	snprintf(path, sizeof path, "/messages/%ld?folder=INBOX&permanent=true", uid);
	json_decref(call(&g, "DELETE", path, ALICE, TWO, 200));
	gw_stop(&g);

	/* --imap-route-default: requests that pick nothing go there */
	gw_start(&g, "--imap-server", two, "--imap-route-default", "two", NULL);
	json_decref(call(&g, "GET", "/folders", ALICE, NULL, 200));
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"created\"}"), 1);
	cr_assert_eq(metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"created\"}"), 0);
	gw_stop(&g);
}

/* Failed logins throttle the user on that server only. */
Test(multi_server, throttle_is_per_server)
{
	char two[512];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	struct gw g;
	gw_start(&g, "--imap-server", two, "--login-fail-max", "2", NULL);
	json_decref(call(&g, "GET", "/folders", "alice", "wrong", TWO, 401));
	json_decref(call(&g, "GET", "/folders", "alice", "wrong", TWO, 401));
	json_decref(call(&g, "GET", "/folders", ALICE, TWO, 429));
	json_decref(call(&g, "GET", "/folders", ALICE, NULL, 200));
	json_decref(call(&g, "GET", "/folders", ALICE, "X-Imap-Server: DEFAULT", 200));
	cr_assert_eq(metric(&g, "imapgw_login_throttled_total{server=\"two\"}"), 1);
	cr_assert_eq(metric(&g, "imapgw_login_throttled_total{server=\"default\"}"), 0);
	cr_assert_eq(metric(&g, "imapgw_login_failures_total{server=\"two\"}"), 2);
	cr_assert_eq(metric(&g, "imapgw_login_failures_total{server=\"default\"}"), 0);
	gw_stop(&g);
}

/* A name that is not configured, or not a name at all, is a 400 and
 * nothing is connected. */
Test(multi_server, unknown_or_malformed_server_is_refused_unconnected)
{
	char two[512];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	struct gw g;
	gw_start(&g, "--imap-server", two, NULL);
	static const struct {
		const char *header;
		const char *type;
	} bad[] = {
		{"X-Imap-Server: three", "urn:imapgw:problem:unknown-server"},
		{"X-Imap-Server: default2", "urn:imapgw:problem:unknown-server"},
		{"X-Imap-Server: 127.0.0.1:993", "urn:imapgw:problem:bad-request"},
		{"X-Imap-Server: imaps://evil.example:993", "urn:imapgw:problem:bad-request"},
		{"X-Imap-Server: two,default", "urn:imapgw:problem:bad-request"},
		{"X-Imap-Server: two default", "urn:imapgw:problem:bad-request"},
		{"X-Imap-Server;", "urn:imapgw:problem:bad-request"},  /* empty */
		{"X-Imap-Server: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "urn:imapgw:problem:bad-request"},
	};
	static const char *const paths[] = {"/folders", "/messages?folder=INBOX",
	                                    "/messages/1?folder=INBOX", "/messages/1/raw"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
			json_t *j = call(&g, "GET", paths[p], ALICE, bad[i].header, 400);
			cr_assert_str_eq(json_string_value(json_object_get(j, "type")), bad[i].type, "%s %s",
			                 bad[i].header, paths[p]);
			json_decref(j);
		}
	json_t *j = call(&g, "POST", "/folders", ALICE, "X-Imap-Server: nowhere", 400);
	json_decref(j);
	cr_assert_eq(gw_count_sent(&g, "LOGIN"), 0);
	cr_assert_eq(gw_count_sent(&g, "AUTHENTICATE"), 0);
	cr_assert_eq(metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"created\"}"), 0);
	cr_assert_eq(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"created\"}"), 0);
	gw_stop(&g);
}

/* Run imapgw with these arguments (NULL-terminated, at most 14); its exit
 * status, and its stderr into err. */
static int run_config(char *err, size_t cap, const char *const *args)
{
	const char *bin = getenv("IMAPGW_BIN") ? getenv("IMAPGW_BIN") : "build/imapgw";
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		char *argv[16] = {(char *)(uintptr_t)bin};
		size_t n = 1;
		for (; args[n - 1] && n < 15; n++)
			argv[n] = (char *)(uintptr_t)args[n - 1];
		argv[n] = NULL;
		execv(bin, argv);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0;
	ssize_t k;
	while (len + 1 < cap && (k = read(fds[0], err + len, cap - len - 1)) > 0)
		len += (size_t)k;
	err[len] = '\0';
	close(fds[0]);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "imapgw did not exit (signal?)");
	return WEXITSTATUS(st);
}

/* Configuration mistakes stop the daemon before it listens. */
Test(multi_server, bad_configuration_exits_with_a_message)
{
	static const struct {
		const char *args[8];
		const char *says;
	} cases[] = {
		{{"--imap-route", "example.org=nope", NULL}, "no IMAP server named 'nope'"},
		{{"--imap-server", "two=127.0.0.1:1993", "--imap-route", "a.org=three", NULL},
		 "no IMAP server named 'three'"},
		{{"--imap-route-default", "nope", NULL}, "--imap-route-default nope"},
		{{"--imap-server", "two=127.0.0.1:99999", NULL}, "port"},
		{{"--imap-server", "two=127.0.0.1:993,tls=maybe", NULL}, "tls="},
		{{"--imap-server", "two=127.0.0.1:993,cert=x", NULL}, "unknown setting"},
		{{"--imap-server", "default=127.0.0.1:993", NULL}, "is taken"},
		{{"--imap-server", "a=h:1", "--imap-server", "A=h:2", NULL}, "is taken"},
		{{"--imap-server", "a b=h:1", NULL}, "NAME"},
		{{"--imap-server", "a=:993", NULL}, "no host"},
		{{"--imap-route", "a.org", NULL}, "DOMAIN=NAME"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[2048];
		int rc = run_config(err, sizeof err, cases[i].args);
		cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
		cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
	}
}

/* heidi on Dovecot and on Cyrus at once: each sees only its own mail. */
Test(multi_server, same_user_on_dovecot_and_cyrus_never_mixed)
{
	const char *list = getenv("IMAPGW_TEST_SERVERS");
	if (!list || !strstr(list, "cyrus"))
		cr_skip_test("Cyrus is not started in this run (IMAPGW_TEST_SERVERS)");
	char cyrus[512], on_d[96], on_c[96];
	test_imap_server_flag("cyrus", "CYRUS", cyrus, sizeof cyrus);
	unique(on_d, sizeof on_d, "on-dovecot");
	unique(on_c, sizeof on_c, "on-cyrus");
	test_user_lock("heidi");
	struct gw g;
	gw_start(&g, "--imap-server", cyrus, NULL);
	const char *cy = "X-Imap-Server: cyrus";
	long ud = append(&g, HEIDI, NULL, on_d);
	long uc = append(&g, HEIDI, cy, on_c);
	for (int round = 0; round < 3; round++) {
		cr_assert_eq(count_subject(&g, HEIDI, NULL, on_d, NULL), 1);
		cr_assert_eq(count_subject(&g, HEIDI, NULL, on_c, NULL), 0);
		cr_assert_eq(count_subject(&g, HEIDI, cy, on_c, NULL), 1);
		cr_assert_eq(count_subject(&g, HEIDI, cy, on_d, NULL), 0);
	}
	char path[96];
	snprintf(path, sizeof path, "/messages/%ld/raw?folder=INBOX", uc);
	struct gw_reply r;
	gw_request(&g, "GET", path, HEIDI, cy, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body.data, on_c));
	gw_reply_free(&r);
	cr_assert_geq(metric(&g, "imapgw_pool_events_total{server=\"cyrus\",event=\"reused\"}"), 2);
	snprintf(path, sizeof path, "/messages/%ld?folder=INBOX&permanent=true", ud);
	json_decref(call(&g, "DELETE", path, HEIDI, NULL, 200));
	snprintf(path, sizeof path, "/messages/%ld?folder=INBOX&permanent=true", uc);
	json_decref(call(&g, "DELETE", path, HEIDI, cy, 200));
	gw_stop(&g);
	test_user_unlock();
}
