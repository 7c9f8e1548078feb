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
#include <pthread.h>
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

struct load {
	const struct gw *g;
	const char *header;
	int failed;
};

/* A few listings in a row for alice on one server. */
static void *listings(void *arg)
{
	struct load *l = arg;
	for (int i = 0; i < 4; i++) {
		struct gw_reply r;
		gw_request(l->g, "GET", "/messages?folder=INBOX&per_page=100&sort=subject", ALICE,
		           l->header, &r);
		l->failed += r.status != 200;
		gw_reply_free(&r);
	}
	return NULL;
}

/* max_per_user=1 on one server: however many requests of a user come at
 * once, that server holds one session for them, while the default server
 * (--pool-per-user 3) opens more under the same load. */
Test(multi_server, per_server_session_limits)
{
	char two[600];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	strcat(two, ",max_per_user=1");
	struct gw g;
	gw_start(&g, "--imap-server", two, "--pool-per-user", "3", "--pool-wait", "60000",
	         "--index-max-mb", "0", NULL);
	/* Rounds of 6 clients on each server at once, until the default server
	 * has opened a second session (it does in the first round unless the
	 * machine serialises everything); bounded. */
	for (int round = 0; round < 10; round++) {
		pthread_t t[12];
		struct load l[12];
		for (int i = 0; i < 12; i++) {
			l[i] = (struct load){.g = &g, .header = i % 2 ? TWO : NULL};
			cr_assert_eq(pthread_create(&t[i], NULL, listings, &l[i]), 0);
		}
		for (int i = 0; i < 12; i++) {
			pthread_join(t[i], NULL);
			cr_assert_eq(l[i].failed, 0, "round %d client %d", round, i);
		}
		if (metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"created\"}") >= 2)
			break;
	}
	long long made = metric(&g, "imapgw_pool_events_total{server=\"default\",event=\"created\"}");
	cr_assert(made >= 2 && made <= 3, "default: %lld sessions for one user", made);
	cr_assert_eq(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"created\"}"), 1);
	cr_assert_gt(metric(&g, "imapgw_pool_events_total{server=\"two\",event=\"reused\"}"), 10);
	cr_assert_eq(metric(&g, "imapgw_pool_sessions{server=\"two\",state=\"idle\"}"), 1);
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
		{{"--imap-server", "two=127.0.0.1:993,max_per_user=0", NULL},
		 "'0' is not a number of 1..64 (as --pool-per-user)"},
		{{"--imap-server", "two=127.0.0.1:993,max=lots", NULL}, "(as --pool-max)"},
		{{"--config", "/nonexistent/imapgw.conf", NULL},
		 "--config /nonexistent/imapgw.conf: cannot read it"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[2048];
		int rc = run_config(err, sizeof err, cases[i].args);
		cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
		cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
	}
}

/* A body with this request; the answer as JSON (want: its status). */
static json_t *send_json(const struct gw *g, const char *method, const char *path,
                         const char *header, const char *body, long want)
{
	struct gw_reply r;
	gw_request_body_headers(g, method, path, HEIDI, header, "application/json", body,
	                        strlen(body), &r);
	cr_assert_eq(r.status, want, "%s %s (%s): %ld %s", method, path, header ? header : "-",
	             r.status, r.body.data);
	json_t *j = r.body.len ? json_loads(r.body.data, 0, NULL) : json_object();
	cr_assert_not_null(j);
	gw_reply_free(&r);
	return j;
}

/* Whether GET /folders lists this path. */
static bool has_folder(const struct gw *g, const char *header, const char *path)
{
	json_t *j = call(g, "GET", "/folders", HEIDI, header, 200);
	bool found = false;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(j, "folders"), i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		found |= p && strcmp(p, path) == 0;
	}
	json_decref(j);
	return found;
}

/* The "flagged" of INBOX's message with this subject: 1, 0, or -1 if none. */
static int flagged(const struct gw *g, const char *header, const char *subject)
{
	json_t *j = call(g, "GET", "/messages?folder=INBOX&per_page=500", HEIDI, header, 200);
	int v = -1;
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(j, "messages"), i, m) {
		const char *s = json_string_value(json_object_get(m, "subject"));
		if (s && strcmp(s, subject) == 0)
			v = json_is_true(json_object_get(m, "flagged"));
	}
	json_decref(j);
	return v;
}

/* heidi on three servers behind one gateway at once: the default Dovecot,
 * the second Dovecot ("two") and Cyrus ("cyrus"). Each has its own mail
 * (a marker appended to each); listings, messages, raw content, flag
 * changes and folders never cross; /readyz and /metrics name all three. */
Test(multi_server, same_user_on_two_dovecots_and_cyrus_never_mixed)
{
	if (!test_server_running(&test_servers[1]))
		cr_skip_test("Cyrus is not started in this run (IMAPGW_TEST_SERVERS)");
	char two[512], cyrus[512];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	test_imap_server_flag("cyrus", "CYRUS", cyrus, sizeof cyrus);
	static const char *const hdr[3] = {NULL, TWO, "X-Imap-Server: cyrus"};
	static const char *const name[3] = {"default", "two", "cyrus"};
	char mark[3][96], folder[96];
	long uid[3];
	for (int s = 0; s < 3; s++)
		unique(mark[s], sizeof mark[s], name[s]);
	unique(folder, sizeof folder, "only-on-cyrus");
	test_user_lock("heidi");
	struct gw g;
	gw_start(&g, "--imap-server", two, "--imap-server", cyrus, NULL);
	for (int s = 0; s < 3; s++)
		uid[s] = append(&g, HEIDI, hdr[s], mark[s]);

	/* listings, several rounds (the index warm on the later ones) */
	for (int round = 0; round < 3; round++)
		for (int s = 0; s < 3; s++)
			for (int k = 0; k < 3; k++)
				cr_assert_eq(count_subject(&g, HEIDI, hdr[s], mark[k], NULL), s == k,
				             "round %d: %s on %s", round, mark[k], name[s]);

	/* content: each message on its server; its UID elsewhere is another
	 * message or none */
	for (int s = 0; s < 3; s++)
		for (int k = 0; k < 3; k++) {
			char path[96];
			snprintf(path, sizeof path, "/messages/%ld/raw?folder=INBOX", uid[k]);
			struct gw_reply r;
			gw_request(&g, "GET", path, HEIDI, hdr[s], &r);
			if (s == k) {
				cr_assert_eq(r.status, 200, "%s: %ld", name[s], r.status);
				cr_assert(strstr(r.body.data, mark[k]));
			} else {
				cr_assert(r.status == 200 || r.status == 404, "%ld", r.status);
				cr_assert_null(strstr(r.body.data, mark[k]), "%s's mail on %s", name[k],
				               name[s]);
			}
			gw_reply_free(&r);
		}

	/* writes: flag Cyrus's marker by its UID; the same UID on the Dovecots
	 * is not touched, and nothing else is flagged by it */
	char path[160];
	snprintf(path, sizeof path, "/messages/%ld/flags?folder=INBOX", uid[2]);
	json_decref(send_json(&g, "PATCH", path, hdr[2], "{\"add\":[\"\\\\Flagged\"]}", 200));
	cr_assert_eq(flagged(&g, hdr[2], mark[2]), 1);
	cr_assert_eq(flagged(&g, hdr[0], mark[0]), 0);
	cr_assert_eq(flagged(&g, hdr[1], mark[1]), 0);
	/* a folder made on Cyrus exists there only */
	char body[160];
	snprintf(body, sizeof body, "{\"path\":\"%s\"}", folder);
	json_decref(send_json(&g, "POST", "/folders", hdr[2], body, 201));
	cr_assert(has_folder(&g, hdr[2], folder));
	cr_assert(!has_folder(&g, hdr[0], folder));
	cr_assert(!has_folder(&g, hdr[1], folder));

	/* /readyz names all three; /metrics counts each server's own */
	json_t *j = call(&g, "GET", "/readyz", NULL, NULL, NULL, 200);
	json_t *servers = json_object_get(j, "servers");
	for (int s = 0; s < 3; s++)
		cr_assert_str_eq(json_string_value(json_object_get(servers, name[s])), "ready", "%s",
		                 name[s]);
	cr_assert_eq(json_object_size(servers), 3);
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ready");
	json_decref(j);
	for (int s = 0; s < 3; s++) {
		char series[160];
		snprintf(series, sizeof series,
		         "imapgw_pool_events_total{server=\"%s\",event=\"created\"}", name[s]);
		cr_assert_geq(metric(&g, series), 1, "%s", series);
		snprintf(series, sizeof series,
		         "imapgw_pool_events_total{server=\"%s\",event=\"reused\"}", name[s]);
		cr_assert_geq(metric(&g, series), 5, "%s", series);
		snprintf(series, sizeof series,
		         "imapgw_imap_commands_total{server=\"%s\",command=\"APPEND\",result=\"ok\"}",
		         name[s]);
		cr_assert_eq(metric(&g, series), 1, "%s", series);
		snprintf(series, sizeof series, "imapgw_login_failures_total{server=\"%s\"}", name[s]);
		cr_assert_eq(metric(&g, series), 0, "%s", series);
	}
	cr_assert_eq(metric(&g, "imapgw_imap_commands_total{server=\"cyrus\",command=\"CREATE\","
	                        "result=\"ok\"}"), 1);

	snprintf(path, sizeof path, "/folders/%s", folder);
	json_decref(call(&g, "DELETE", path, HEIDI, hdr[2], 200));
	for (int s = 0; s < 3; s++) {
		snprintf(path, sizeof path, "/messages/%ld?folder=INBOX&permanent=true", uid[s]);
		json_decref(call(&g, "DELETE", path, HEIDI, hdr[s], 200));
	}
	gw_stop(&g);
	test_user_unlock();
}
