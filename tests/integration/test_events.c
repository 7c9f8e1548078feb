/*
 * GET /events: live changes over Server-Sent Events, on every server
 * (Dovecot and Cyrus: IDLE; Courier, whose IDLE is silent without FAM:
 * polled, --imap-ignore-caps IDLE --events-poll 1).
 * Another gateway (another IMAP session) makes the changes in ivan's
 * folders. Times are measured and printed, never asserted tightly: a
 * generous bound only says the event came at all.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <limits.h>
#include <unistd.h>

#include "imap/base/clock.h"
#include "imap/client.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(events, .init = setup, .timeout = 600);

#define IVAN "ivan", "ivan-secret"
#define EVENT_WAIT_MS 30000  /* generous: the machine is shared */

#define PARAMS(name)                                                                   \
	ParameterizedTestParameters(events, name)                                      \
	{                                                                              \
		static struct test_server p[TEST_SERVERS];                               \
		memcpy(p, test_servers, sizeof p);                                       \
		return cr_make_param_array(struct test_server, p, TEST_SERVERS);         \
	}                                                                              \
	ParameterizedTest(const struct test_server *srv, events, name)

static void need(const struct test_server *srv)
{
	if (!test_server_running(srv))
		cr_skip_test("%s is not started in this run (IMAPGW_TEST_SERVERS)", srv->name);
}


/* ---- a small SSE client over a plain socket (HTTP/1.0: no chunking) ---- */

struct sse {
	int fd;
	long status;
	char buf[65536];
	size_t len;
	bool eof;
};

struct sse_event {
	char id[1200];
	char name[64];
	char data[8192];
};

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void basic(const char *user, const char *pw, char *out)
{
	char in[256];
	int n = snprintf(in, sizeof in, "%s:%s", user, pw);
	size_t k = 0;
	for (int i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		out[k++] = b64chars[v >> 18 & 63];
		out[k++] = b64chars[v >> 12 & 63];
		out[k++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	out[k] = '\0';
}

static bool fill(struct sse *s, int64_t until)
{
	if (s->eof || s->len == sizeof s->buf - 1)
		return false;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	int64_t left = until - imap_now_ms();
	if (left <= 0 || poll(&p, 1, (int)left) <= 0)
		return false;
	ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
	if (n <= 0) {
		s->eof = true;
		return false;
	}
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
	return true;
}

/* Open GET /events (status in s->status, headers read). A `tiny`
 * connection takes little in flight: a small receive buffer, and small
 * segments (on loopback the sender's buffer is sized from the segment
 * size, megabytes otherwise). */
static void sse_open_as(struct sse *s, const struct gw *g, const char *user, const char *pw,
                        const char *folders, const char *last_id, bool tiny)
{
	memset(s, 0, sizeof *s);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (tiny) {
		int rcv = 1024, seg = 536;
		cr_assert_eq(setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv), 0);
		cr_assert_eq(setsockopt(s->fd, IPPROTO_TCP, TCP_MAXSEG, &seg, sizeof seg), 0);
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	char auth[400], f[600], req[2400];
	basic(user, pw, auth);
	test_url_escape(folders, f, sizeof f);
	int n = snprintf(req, sizeof req,
	                 "GET /events?folders=%s HTTP/1.0\r\nAuthorization: Basic %s\r\n%s%s%s\r\n", f,
	                 auth, last_id ? "Last-Event-ID: " : "", last_id ? last_id : "",
	                 last_id ? "\r\n" : "");
	cr_assert_eq(write(s->fd, req, (size_t)n), n);
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	char *end;
	while (!(end = strstr(s->buf, "\r\n\r\n")) && fill(s, until))
		;
	cr_assert_not_null(end, "no answer to GET /events");
	cr_assert(sscanf(s->buf, "HTTP/1.%*d %ld", &s->status) == 1);
	size_t head = (size_t)(end + 4 - s->buf);
	if (s->status == 200)
		cr_expect(strstr(s->buf, "text/event-stream") && strstr(s->buf, "text/event-stream") < end);
	memmove(s->buf, s->buf + head, s->len - head + 1);
	s->len -= head;
}

static void sse_open(struct sse *s, const struct gw *g, const char *user, const char *pw,
                     const char *folders, const char *last_id)
{
	sse_open_as(s, g, user, pw, folders, last_id, false);
}

static void sse_close(struct sse *s)
{
	close(s->fd);
}

/* The next event (comments skipped) before the deadline; false at EOF or
 * timeout. */
static bool sse_next(struct sse *s, struct sse_event *ev, int64_t until)
{
	for (;;) {
		char *end = strstr(s->buf, "\n\n");
		if (end) {
			*end = '\0';
			memset(ev, 0, sizeof *ev);
			bool any = false;
			for (char *line = s->buf, *next; line && *line; line = next) {
				next = strchr(line, '\n');
				if (next)
					*next++ = '\0';
				if (strncmp(line, "id: ", 4) == 0)
					snprintf(ev->id, sizeof ev->id, "%s", line + 4);
				else if (strncmp(line, "event: ", 7) == 0)
					any = snprintf(ev->name, sizeof ev->name, "%s", line + 7) > 0;
				else if (strncmp(line, "data: ", 6) == 0)
					snprintf(ev->data, sizeof ev->data, "%s", line + 6);
			}
			size_t used = (size_t)(end + 2 - s->buf);
			memmove(s->buf, end + 2, s->len - used + 1);
			s->len -= used;
			if (any)
				return true;
			continue;  /* a comment: the heartbeat */
		}
		if (!fill(s, until))
			return false;
	}
}

/* Wait for an event named `name` of folder whose uids hold `uid` (0: any
 * uids); the others are skipped. Returns true when it came. */
static bool wait_for(struct sse *s, const char *name, long long uid, struct sse_event *ev)
{
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	while (sse_next(s, ev, until)) {
		if (strcmp(ev->name, name) != 0) {
			if (strcmp(ev->name, "error") == 0 || strcmp(ev->name, "folder.changed") == 0)
				fprintf(stderr, "events: while waiting for %s: %s %s\n", name, ev->name,
				        ev->data);
			continue;
		}
		if (!uid)
			return true;
		json_t *j = json_loads(ev->data, 0, NULL);
		size_t i;
		json_t *v;
		bool hit = false;
		json_array_foreach(json_object_get(j, "uids"), i, v)
			hit |= json_integer_value(v) == uid;
		json_decref(j);
		if (hit)
			return true;
	}
	return false;
}

/* ---- writes by another session ---- */

static json_t *call(const struct gw *g, const char *method, const char *path, const char *body,
                    long want)
{
	return gw_call_json(g, IVAN, method, path, body, want);
}

static void fresh_folder(const struct gw *g, const char *path)
{
	char e[256], url[400], body[400];
	test_url_escape(path, e, sizeof e);
	snprintf(url, sizeof url, "/folders/%s?force=true", e);
	struct gw_reply r;
	gw_request(g, "DELETE", url, IVAN, NULL, &r);
	gw_reply_free(&r);
	snprintf(body, sizeof body, "{\"path\":\"%s\"}", path);
	json_decref(call(g, "POST", "/folders", body, 201));
}

static long long append(const struct gw *g, const char *folder, const char *subject)
{
	char msg[512], e[256], path[512];
	snprintf(msg, sizeof msg,
	         "From: Ivan <ivan@example.test>\r\nTo: x@example.test\r\nSubject: %s\r\n"
	         "Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\nBody.\r\n", subject);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s", e);
	struct gw_reply r;
	gw_request_body(g, "POST", path, IVAN, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 201, "append: %ld %s", r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	long long uid = json_integer_value(json_object_get(j, "uid"));
	json_decref(j);
	gw_reply_free(&r);
	return uid;
}

static bool has_condstore(const struct test_server *srv)
{
	return strcmp(srv->name, "courier") != 0;
}

PARAMS(append_flag_expunge_arrive_and_resume)
{
	need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw reader, writer;
	/* Courier's IDLE tells nothing without FAM: it is polled, as the
	 * README says to run it */
	if (strcmp(srv->name, "courier") == 0)
		gw_start_on(&reader, srv, "--events-poll", "1", "--events-heartbeat", "1",
		            "--imap-ignore-caps", "IDLE", "--imap-trace", NULL);
	else
		gw_start_on(&reader, srv, "--events-heartbeat", "1", "--imap-trace", NULL);
	gw_start_on(&writer, srv, NULL);
	char folder[256], e[256], path[600];
	test_server_path(srv, "Live", folder, sizeof folder);
	fresh_folder(&writer, folder);
	long long first = append(&writer, folder, "before the stream");

	struct sse s;
	struct sse_event ev;
	sse_open(&s, &reader, IVAN, folder, NULL);
	cr_assert_eq(s.status, 200);
	cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS), "%s: no ready event", srv->name);
	cr_expect_str_eq(ev.name, "ready");
	cr_expect_eq(strlen(ev.id), 34, "one folder, one state: %s", ev.id);

	/* an append by another session */
	int64_t t0 = imap_now_ms();
	long long uid = append(&writer, folder, "live one");
	cr_assert(wait_for(&s, "message.created", uid, &ev), "%s: no message.created for %lld",
	          srv->name, uid);
	fprintf(stderr, "events: %s: message.created %lld ms after the APPEND answered\n",
	        srv->name, (long long)(imap_now_ms() - t0));
	json_t *j = json_loads(ev.data, 0, NULL);
	cr_expect_str_eq(json_string_value(json_object_get(j, "folder")), folder);
	cr_expect_str_eq(json_string_value(json_object_get(j, "state")), ev.id);
	json_decref(j);

	/* flags (pushed where CONDSTORE can tell them) and an expunge */
	test_url_escape(folder, e, sizeof e);
	if (has_condstore(srv)) {
		snprintf(path, sizeof path, "/messages/%lld/flags?folder=%s", first, e);
		json_decref(call(&writer, "PATCH", path, "{\"add\":[\"\\\\Flagged\"]}", 200));
		cr_expect(wait_for(&s, "message.updated", first, &ev), "%s: no message.updated",
		          srv->name);
	}
	snprintf(path, sizeof path, "/messages/%lld?folder=%s&permanent=true", first, e);
	struct gw_reply r;
	gw_request(&writer, "DELETE", path, IVAN, NULL, &r);
	gw_reply_free(&r);
	cr_expect(wait_for(&s, "message.destroyed", first, &ev), "%s: no message.destroyed",
	          srv->name);
	char last_id[1200];
	snprintf(last_id, sizeof last_id, "%s", ev.id);
	sse_close(&s);

	/* away: two more arrive; back with Last-Event-ID, they come first */
	long long a = append(&writer, folder, "while away 1");
	long long b = append(&writer, folder, "while away 2");
	sse_open(&s, &reader, IVAN, folder, last_id);
	cr_assert_eq(s.status, 200, "%s: resuming: %ld %s", srv->name, s.status, s.buf);
	cr_expect(wait_for(&s, "message.created", a, &ev), "%s: missed %lld", srv->name, a);
	json_t *got = json_loads(ev.data, 0, NULL);
	bool has_b = false;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(got, "uids"), i, v)
		has_b |= json_integer_value(v) == b;
	json_decref(got);
	if (!has_b)
		cr_expect(wait_for(&s, "message.created", b, &ev), "%s: missed %lld", srv->name, b);
	sse_close(&s);

	/* a Last-Event-ID of other folders is a 400 */
	sse_open(&s, &reader, IVAN, "INBOX", last_id);
	cr_expect_eq(s.status, 400);
	sse_close(&s);
	/* Dovecot offers NOTIFY: its watch was woken through it */
	unsigned notify = gw_count_sent(&reader, "NOTIFY SET");
	fprintf(stderr, "events: %s: %s\n", srv->name, notify ? "NOTIFY" : "IDLE or polled");
	if (strcmp(srv->name, "dovecot") == 0)
		cr_expect_geq(notify, 1, "dovecot: NOTIFY SET sent");
	gw_stop(&writer);
	gw_stop(&reader);
	test_user_unlock();
}

/* Many streams, several users: one IDLE session per user and folder, and
 * the users' requests still answered. */
/* 200 streams of 20 users (the crowd of tests/dovecot-lib.sh and four
 * more): one IDLE session per user and folder, at most --pool-per-user
 * sessions per user, and every user's requests still answered. */
Test(events, shared_idle_sessions_and_limits)
{
	static const char *const named[][2] = {
		{"ivan", "ivan-secret"}, {"grace", "grace-secret"},
		{"heidi", "heidi-secret"}, {"frank", "frank-secret"},
	};
	enum { USERS = 20, PER_USER = 10 };
	static char users[USERS][2][32];
	for (int u = 0; u < USERS; u++) {
		if (u < 4) {
			snprintf(users[u][0], sizeof users[u][0], "%s", named[u][0]);
			snprintf(users[u][1], sizeof users[u][1], "%s", named[u][1]);
		} else {
			snprintf(users[u][0], sizeof users[u][0], "crowd%02d", u - 3);
			snprintf(users[u][1], sizeof users[u][1], "crowd%02d-secret", u - 3);
		}
	}
	struct gw g;
	gw_start(&g, "--pool-per-user", "2", "--events-max-per-user", "10", NULL);
	static struct sse s[USERS * PER_USER];
	int64_t t0 = imap_now_ms();
	for (int u = 0; u < USERS; u++) {
		for (int k = 0; k < PER_USER; k++) {
			struct sse *x = &s[u * PER_USER + k];
			sse_open(x, &g, users[u][0], users[u][1], "INBOX", NULL);
			cr_assert_eq(x->status, 200, "%s stream %d: %ld", users[u][0], k, x->status);
		}
	}
	/* each stream gets its ready event */
	for (int i = 0; i < USERS * PER_USER; i++) {
		struct sse_event ev;
		cr_expect(sse_next(&s[i], &ev, imap_now_ms() + EVENT_WAIT_MS) &&
		          strcmp(ev.name, "ready") == 0, "stream %d: no ready event", i);
	}
	fprintf(stderr, "events: %d streams of %d users open and ready in %lld ms\n",
	        USERS * PER_USER, USERS, (long long)(imap_now_ms() - t0));
	/* an eleventh stream of a user: 429; a second folder (one session is
	 * kept for requests of --pool-per-user 2): 429 */
	struct sse x;
	sse_open(&x, &g, "ivan", "ivan-secret", "INBOX", NULL);
	cr_expect_eq(x.status, 429);
	sse_close(&x);
	/* the users' requests are answered meanwhile */
	for (int u = 0; u < USERS; u++) {
		struct gw_reply r;
		gw_request(&g, "GET", "/messages?per_page=5", users[u][0], users[u][1], NULL, &r);
		cr_expect_eq(r.status, 200, "%s: %ld %s", users[u][0], r.status, r.body.data);
		gw_reply_free(&r);
	}
	/* one watched folder (one IDLE session) per user and folder, however
	 * many streams; at most --pool-per-user sessions per user */
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	unsigned streams = 0, watches = 0, idling = 0, busy = 0, idle = 0;
	do {
		struct gw_reply r;
		gw_request(&g, "GET", "/metrics", NULL, NULL, NULL, &r);
		const char *m = r.body.data;
		const char *p;
		if ((p = strstr(m, "\nimapgw_events_streams ")))
			sscanf(p, "\nimapgw_events_streams %u", &streams);
		if ((p = strstr(m, "\nimapgw_events_watches ")))
			sscanf(p, "\nimapgw_events_watches %u", &watches);
		if ((p = strstr(m, "\nimapgw_events_watches_idling ")))
			sscanf(p, "\nimapgw_events_watches_idling %u", &idling);
		busy = idle = UINT_MAX;  /* a line not found fails the test below */
		if ((p = strstr(m, "imapgw_pool_sessions{server=\"default\",state=\"busy\"} ")))
			sscanf(p, "imapgw_pool_sessions{server=\"default\",state=\"busy\"} %u", &busy);
		if ((p = strstr(m, "imapgw_pool_sessions{server=\"default\",state=\"idle\"} ")))
			sscanf(p, "imapgw_pool_sessions{server=\"default\",state=\"idle\"} %u", &idle);
		gw_reply_free(&r);
		if (idling < USERS)
			usleep(100000);
	} while (idling < USERS && imap_now_ms() < until);
	cr_expect_eq(streams, USERS * PER_USER);
	cr_expect_eq(watches, USERS, "%u watched folders for %d users", watches, USERS);
	cr_expect_eq(idling, USERS, "%u in IDLE", idling);
	cr_expect(busy != UINT_MAX && idle != UINT_MAX, "the pool's gauges are in /metrics");
	cr_expect_leq(busy + idle, USERS * 2, "%u sessions for %d users", busy + idle, USERS);
	struct sse y;
	sse_open(&x, &g, "alice", "alice-secret", "INBOX", NULL);
	cr_expect_eq(x.status, 200);
	sse_open(&y, &g, "alice", "alice-secret", "Sent", NULL);
	cr_expect_eq(y.status, 429, "a second watched folder would leave alice no session");
	sse_close(&y);
	sse_close(&x);
	for (int i = 0; i < USERS * PER_USER; i++)
		sse_close(&s[i]);
	gw_stop(&g);
}

/* A gauge of /metrics ("imapgw_events_streams"), or UINT_MAX. */
static unsigned metric(const struct gw *g, const char *name)
{
	struct gw_reply r;
	gw_request(g, "GET", "/metrics", NULL, NULL, NULL, &r);
	char needle[128];
	snprintf(needle, sizeof needle, "\n%s ", name);
	const char *p = r.body.data ? strstr(r.body.data, needle) : NULL;
	unsigned v = UINT_MAX;
	if (p)
		sscanf(p + strlen(needle), "%u", &v);
	gw_reply_free(&r);
	return v;
}

/* Wait (bounded) until the gauge is want; its last value. */
static unsigned metric_becomes(const struct gw *g, const char *name, unsigned want)
{
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	unsigned v;
	while ((v = metric(g, name)) != want && imap_now_ms() < until)
		usleep(100000);
	return v;
}

/* A command of the direct session, pipelined n at a time; all must pass. */
static void direct_run(struct imap_session *d, struct imap_cmd *c, size_t n)
{
	struct imap_error err = {0};
	int results[64];
	cr_assert_leq(n, 64);
	int rc = imap_session_run_pipelined(d, c, n, NULL, NULL, results, imap_now_ms() + 60000,
	                                    &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(results[i], 0, "command %zu refused", i);
		imap_cmd_free(&c[i]);
	}
}

/* A client that never reads is dropped once --events-buffer is full;
 * meanwhile and after, other streams (another folder, and the same folder
 * anew) get their events. The volume: a stream resumed from the state of
 * an empty folder that then received 256 messages, each of its own MODSEQ,
 * with --changes-max 1 (one event per message) and a long folder name (in
 * every event): ~100 KB for a client that takes a few KB in flight. */
Test(events, slow_consumer_is_dropped_others_go_on)
{
	test_user_lock("ivan-dovecot");
	struct gw g;
	gw_start(&g, "--events-buffer", "1K", "--changes-max", "1", "--events-heartbeat", "1",
	         "--pool-per-user", "4", NULL);
	char folder[240], e[800], path[900];
	int k = snprintf(folder, sizeof folder, "Slow ");
	for (; k < 200; k++)
		folder[k] = (char)('a' + k % 26);
	folder[k] = '\0';
	fresh_folder(&g, folder);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s", e);
	json_t *j = call(&g, "GET", path, NULL, 200);
	char empty_state[64];
	snprintf(empty_state, sizeof empty_state, "%s",
	         json_string_value(json_object_get(j, "state")));
	json_decref(j);
	append(&g, folder, "the first");

	/* 256 messages (COPY doubles them), then a flag each on its own */
	struct imap_session *d = test_imap_login_on(&test_servers[0], IVAN);
	struct imap_error err = {0};
	cr_assert_eq(imap_session_select(d, folder, false, imap_now_ms() + 15000, &err), 0, "%s",
	             err.msg);
	struct imap_cmd c[64];
	for (int i = 0; i < 8; i++) {
		imap_session_cmd(d, &c[0]);
		imap_cmd_atom(&c[0], "COPY");
		imap_cmd_atom(&c[0], "1:*");
		imap_cmd_mailbox(&c[0], folder, strlen(folder));
		direct_run(d, c, 1);
	}
	for (int done = 0; done < 256; done += 64) {
		for (int i = 0; i < 64; i++) {
			char seq[16];
			snprintf(seq, sizeof seq, "%d", done + i + 1);
			imap_session_cmd(d, &c[i]);
			imap_cmd_atom(&c[i], "STORE");
			imap_cmd_atom(&c[i], seq);
			imap_cmd_raw(&c[i], "+FLAGS (\\Flagged)");
		}
		direct_run(d, c, 64);
	}
	imap_session_logout(&d, imap_now_ms() + 15000);

	struct sse fast, slow, again;
	struct sse_event ev;
	sse_open(&fast, &g, IVAN, "INBOX", NULL);
	cr_assert_eq(fast.status, 200);
	cr_assert(sse_next(&fast, &ev, imap_now_ms() + EVENT_WAIT_MS) && !strcmp(ev.name, "ready"));
	sse_open_as(&slow, &g, IVAN, folder, empty_state, true);
	cr_assert_eq(slow.status, 200, "%ld", slow.status);
	cr_expect_eq(metric_becomes(&g, "imapgw_events_streams", 1), 1,
	             "the stream that does not read is dropped");

	long long uid = append(&g, "INBOX", "while the slow one was there");
	cr_expect(wait_for(&fast, "message.created", uid, &ev), "the other stream goes on");
	sse_open(&again, &g, IVAN, folder, NULL);
	cr_assert_eq(again.status, 200);
	uid = append(&g, folder, "after the slow one");
	cr_expect(wait_for(&again, "message.created", uid, &ev), "its folder's watch goes on");

	/* what the slow client finds: what was in flight, then the end */
	size_t in_flight = slow.len;
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	while (!slow.eof && imap_now_ms() < until) {
		if (slow.len > sizeof slow.buf / 2)
			slow.len = 0;  /* counted already */
		size_t before = slow.len;
		if (fill(&slow, until))
			in_flight += slow.len - before;
	}
	cr_expect(slow.eof, "the dropped stream ends");
	fprintf(stderr, "events: a dropped client had %zu bytes in flight\n", in_flight);
	sse_close(&slow);
	sse_close(&fast);
	sse_close(&again);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s?force=true", e);
	json_decref(call(&g, "DELETE", path, NULL, 200));
	gw_stop(&g);
	test_user_unlock();
}

/* --events-max in all: 503 beyond it, room again once a stream is gone. */
Test(events, global_limit_is_503)
{
	struct gw g;
	gw_start(&g, "--events-max", "2", "--events-heartbeat", "1", NULL);
	struct sse a, b, c;
	sse_open(&a, &g, "grace", "grace-secret", "INBOX", NULL);
	sse_open(&b, &g, "heidi", "heidi-secret", "INBOX", NULL);
	cr_assert_eq(a.status, 200);
	cr_assert_eq(b.status, 200);
	sse_open(&c, &g, "frank", "frank-secret", "INBOX", NULL);
	cr_expect_eq(c.status, 503, "a third stream of another user: %ld", c.status);
	cr_expect(strstr(c.buf, "application/problem+json") || strstr(c.buf, "urn:imapgw:problem"),
	          "a problem answer: %.300s", c.buf);
	sse_close(&c);
	sse_close(&a);
	/* the heartbeat finds the closed one */
	cr_expect_eq(metric_becomes(&g, "imapgw_events_streams", 1), 1);
	sse_open(&c, &g, "frank", "frank-secret", "INBOX", NULL);
	cr_expect_eq(c.status, 200);
	sse_close(&c);
	sse_close(&b);
	gw_stop(&g);
}

/* Events of a user on the second configured server (X-Imap-Server: two,
 * the second Dovecot): its own watch, its own mail. */
Test(events, through_a_second_server)
{
	char two[512];
	test_imap_server_flag("two", "DOVECOT2", two, sizeof two);
	struct gw g;
	gw_start(&g, "--imap-server", two, "--events-heartbeat", "1", NULL);
	struct sse s;
	memset(&s, 0, sizeof s);
	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(s.fd, (struct sockaddr *)&a, sizeof a), 0);
	char auth[200], req[600];
	basic("ivan", "ivan-secret", auth);
	int n = snprintf(req, sizeof req,
	                 "GET /events?folders=INBOX HTTP/1.0\r\nAuthorization: Basic %s\r\n"
	                 "X-Imap-Server: two\r\n\r\n", auth);
	cr_assert_eq(write(s.fd, req, (size_t)n), n);
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	char *end;
	while (!(end = strstr(s.buf, "\r\n\r\n")) && fill(&s, until))
		;
	cr_assert_not_null(end);
	cr_assert(sscanf(s.buf, "HTTP/1.%*d %ld", &s.status) == 1);
	cr_assert_eq(s.status, 200, "%.300s", s.buf);
	size_t head = (size_t)(end + 4 - s.buf);
	memmove(s.buf, s.buf + head, s.len - head + 1);
	s.len -= head;
	struct sse_event ev;
	cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS) && !strcmp(ev.name, "ready"));
	cr_expect_eq(metric(&g, "imapgw_events_watches"), 1);

	/* mail on the default server is not this stream's */
	long long other = append(&g, "INBOX", "on the default server");
	static const char msg[] = "From: Ivan <ivan@example.test>\r\nTo: x@example.test\r\n"
	                          "Subject: on two\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n"
	                          "Body.\r\n";
	struct gw_reply r;
	gw_request_body_headers(&g, "POST", "/messages?folder=INBOX", IVAN, "X-Imap-Server: two",
	                        "message/rfc822", msg, sizeof msg - 1, &r);
	cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	long long uid = json_integer_value(json_object_get(j, "uid"));
	json_decref(j);
	gw_reply_free(&r);
	cr_expect(wait_for(&s, "message.created", uid, &ev), "the append on two arrives");
	/* the default server's message came with no event of this stream: the
	 * event that came names only the UIDs of two's INBOX */
	j = json_loads(ev.data, 0, NULL);
	cr_expect_eq(json_array_size(json_object_get(j, "uids")), 1, "%s (other server's: %lld)",
	             ev.data, other);
	json_decref(j);
	sse_close(&s);
	gw_stop(&g);
}

/* The pooled sessions busy (IDLE and NOTIFY sessions are) once they are
 * `want` (a watch's round or an index load borrows one for a moment), or
 * after the wait. */
static unsigned busy_sessions(const struct gw *g, unsigned want)
{
	return metric_becomes(g, "imapgw_pool_sessions{server=\"default\",state=\"busy\"}", want);
}

/* Dovecot offers NOTIFY: two folders watched by one user hold one IMAP
 * session while they wait (the watches borrow one for each round), and the
 * events of both arrive. With NOTIFY ignored, each folder holds its own
 * session in IDLE, as before. */
Test(events, notify_one_session_for_a_users_folders)
{
	test_user_lock("ivan-dovecot");
	for (int ignore = 0; ignore < 2; ignore++) {
		struct gw g;
		if (ignore)
			gw_start(&g, "--pool-per-user", "4", "--imap-ignore-caps", "NOTIFY", NULL);
		else
			gw_start(&g, "--pool-per-user", "4", "--imap-trace", NULL);
		fresh_folder(&g, "Notify A");
		fresh_folder(&g, "Notify B");
		struct sse s;
		struct sse_event ev;
		sse_open(&s, &g, IVAN, "Notify A,Notify B", NULL);
		cr_assert_eq(s.status, 200);
		cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS) &&
		          !strcmp(ev.name, "ready"));
		unsigned want = ignore ? 2 : 1;
		cr_expect_eq(metric_becomes(&g, "imapgw_events_watches_idling", want), want,
		             "%s: sessions in IDLE", ignore ? "IDLE" : "NOTIFY");
		cr_expect_eq(metric(&g, "imapgw_events_notify_sessions"), ignore ? 0 : 1);
		cr_expect_eq(metric(&g, "imapgw_events_watches"), 2);
		unsigned busy = busy_sessions(&g, want);
		cr_expect_eq(busy, want, "%s: %u sessions held for two watched folders",
		             ignore ? "IDLE" : "NOTIFY", busy);
		if (!ignore)
			cr_expect_geq(gw_count_sent(&g, "NOTIFY SET"), 1);
		long long a = append(&g, "Notify A", "to A");
		cr_expect(wait_for(&s, "message.created", a, &ev), "the append to A arrives");
		json_t *j = json_loads(ev.data, 0, NULL);
		cr_expect_str_eq(json_string_value(json_object_get(j, "folder")), "Notify A");
		json_decref(j);
		long long b = append(&g, "Notify B", "to B");
		cr_expect(wait_for(&s, "message.created", b, &ev), "the append to B arrives");
		/* a second change of one folder (Dovecot tells nothing after a second
		 * NOTIFY SET on one session: the set of two is a session of its own) */
		long long b2 = append(&g, "Notify B", "to B again");
		cr_expect(wait_for(&s, "message.created", b2, &ev), "a second append to B arrives");
		sse_close(&s);
		json_decref(call(&g, "DELETE", "/folders/Notify%20A?force=true", NULL, 200));
		json_decref(call(&g, "DELETE", "/folders/Notify%20B?force=true", NULL, 200));
		gw_stop(&g);
	}
	test_user_unlock();
}

/* SIGTERM ends every stream with a final error event. */
Test(events, sigterm_ends_streams_cleanly)
{
	struct gw g;
	gw_start(&g, NULL);
	struct sse s;
	struct sse_event ev;
	sse_open(&s, &g, IVAN, "INBOX", NULL);
	cr_assert_eq(s.status, 200);
	cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS));
	kill(g.pid, SIGTERM);
	cr_expect(wait_for(&s, "error", 0, &ev), "a final error event");
	cr_expect(strstr(ev.data, "\"final\":true"), "%s", ev.data);
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	while (!s.eof && imap_now_ms() < until)
		fill(&s, until);
	cr_expect(s.eof, "the stream ends");
	sse_close(&s);
	gw_stop(&g);
}

Test(events, bad_requests)
{
	struct gw g;
	gw_start(&g, NULL);
	struct sse s;
	sse_open(&s, &g, IVAN, "INBOX,INBOX", NULL);
	cr_expect_eq(s.status, 400);
	sse_close(&s);
	sse_open(&s, &g, IVAN, "No such folder", NULL);
	cr_expect_eq(s.status, 404);
	sse_close(&s);
	sse_open(&s, &g, IVAN, "INBOX", "garbage");
	cr_expect_eq(s.status, 400);
	sse_close(&s);
	sse_open(&s, &g, "ivan", "wrong", "INBOX", NULL);
	cr_expect_eq(s.status, 401);
	sse_close(&s);
	gw_stop(&g);
}

/* ---- faults, with the scripted server: the IDLE session gets BYE and the
 * connection closes; the stream says so (an error event), the watch logs
 * in again and the message that came meanwhile arrives. ---- */

#include "tests/support/fake_session.h"

#define LOGIN_STEPS                                                                       \
	FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR IDLE] fake\r\n"),         \
		FAKE_EXPECT_PREFIX("AUTHENTICATE PLAIN "),                                 \
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n")
#define STATE_STEPS(messages, uidnext)                                                    \
	FAKE_EXPECT("NOOP"), FAKE_SEND("$TAG OK done\r\n"),                                \
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),                \
		FAKE_SEND("* STATUS INBOX (MESSAGES " messages " UIDNEXT " uidnext             \
		          " UIDVALIDITY 5)\r\n$TAG OK done\r\n"),                              \
		FAKE_EXPECT("NOOP"), FAKE_SEND("$TAG OK done\r\n")

Test(events, idle_session_lost_stream_recovers)
{
	static const struct fake_step first[] = {
		LOGIN_STEPS,
		/* the handler: the folder's state */
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 5)\r\n$TAG OK done\r\n"),
		/* the watch, on the same pooled session */
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 1 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n* OK [UIDNEXT 2] n\r\n"
		          "$TAG OK [READ-ONLY] done\r\n"),
		STATE_STEPS("1", "2"),
		/* the stream's own state: nothing new */
		STATE_STEPS("1", "2"),
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_SEND("* SEARCH 1\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_DELAY(300),
		FAKE_SEND("* BYE going down\r\n"),
		FAKE_CLOSE(),
	};
	static const struct fake_step second[] = {
		LOGIN_STEPS,
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 2 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n* OK [UIDNEXT 3] n\r\n"
		          "$TAG OK [READ-ONLY] done\r\n"),
		/* what changed while it was away: UID 2 */
		STATE_STEPS("2", "3"),
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_SEND("* SEARCH 1 2\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		/* SIGTERM */
		FAKE_EXPECT_RAW("DONE"),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_EXPECT("LOGOUT"),
		FAKE_SEND("* BYE bye\r\n$TAG OK done\r\n"),
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(first), FAKE_SCRIPT(second)};
	struct fake_session h;
	FAKE_SESSION_START_MANY(&h, scripts);
	char port[16];
	snprintf(port, sizeof port, "%u", (unsigned)h.cfg.port);
	struct gw g;
	gw_start(&g, "--imap-port", port, "--imap-tls", "none", NULL);
	struct sse s;
	struct sse_event ev;
	sse_open(&s, &g, "ivan", "ivan-secret", "INBOX", NULL);
	cr_assert_eq(s.status, 200);
	cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS));
	cr_expect_str_eq(ev.name, "ready");
	cr_expect(wait_for(&s, "error", 0, &ev), "the lost session is told");
	cr_expect(strstr(ev.data, "BYE") && strstr(ev.data, "\"final\":false"), "%s", ev.data);
	cr_expect(wait_for(&s, "message.created", 2, &ev), "the message that came meanwhile");
	sse_close(&s);
	gw_stop(&g);
	fake_session_finish_many(&h, 2, NULL);
}

/* Refused credentials on the way back: the stream ends with a final error. */
Test(events, login_refused_on_reconnect_ends_the_stream)
{
	static const struct fake_step first[] = {
		LOGIN_STEPS,
		FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
		FAKE_SEND("* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 5)\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("EXAMINE INBOX"),
		FAKE_SEND("* 1 EXISTS\r\n* OK [UIDVALIDITY 5] v\r\n* OK [UIDNEXT 2] n\r\n"
		          "$TAG OK [READ-ONLY] done\r\n"),
		STATE_STEPS("1", "2"),
		STATE_STEPS("1", "2"),
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_SEND("* SEARCH 1\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("IDLE"),
		FAKE_SEND("+ idling\r\n"),
		FAKE_DELAY(200),
		FAKE_CLOSE(),  /* dropped without a word */
	};
	static const struct fake_step second[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR IDLE] fake\r\n"),
		FAKE_EXPECT_PREFIX("AUTHENTICATE PLAIN "),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] password changed\r\n"),
	};
	static const struct fake_script scripts[] = {FAKE_SCRIPT(first), FAKE_SCRIPT(second)};
	struct fake_session h;
	FAKE_SESSION_START_MANY(&h, scripts);
	char port[16];
	snprintf(port, sizeof port, "%u", (unsigned)h.cfg.port);
	struct gw g;
	gw_start(&g, "--imap-port", port, "--imap-tls", "none", NULL);
	struct sse s;
	struct sse_event ev;
	sse_open(&s, &g, "ivan", "ivan-secret", "INBOX", NULL);
	cr_assert_eq(s.status, 200);
	bool final = false;
	int64_t until = imap_now_ms() + EVENT_WAIT_MS;
	while (!final && sse_next(&s, &ev, until))
		final = strcmp(ev.name, "error") == 0 && strstr(ev.data, "\"final\":true");
	cr_expect(final, "a final error event");
	while (!s.eof && imap_now_ms() < until)
		fill(&s, until);
	cr_expect(s.eof, "the stream ends after it");
	sse_close(&s);
	gw_stop(&g);
	fake_session_finish_many(&h, 2, NULL);
}

/* A server without IDLE (or whose IDLE is ignored) is polled. */
Test(events, without_idle_the_folder_is_polled)
{
	test_user_lock("ivan-dovecot");
	struct gw reader, writer;
	gw_start(&reader, "--imap-ignore-caps", "IDLE", "--events-poll", "1", "--imap-trace", NULL);
	gw_start(&writer, NULL);
	fresh_folder(&writer, "Polled");
	struct sse s;
	struct sse_event ev;
	sse_open(&s, &reader, IVAN, "Polled", NULL);
	cr_assert_eq(s.status, 200);
	cr_assert(sse_next(&s, &ev, imap_now_ms() + EVENT_WAIT_MS));
	int64_t t0 = imap_now_ms();
	long long uid = append(&writer, "Polled", "polled");
	cr_expect(wait_for(&s, "message.created", uid, &ev), "no message.created when polling");
	fprintf(stderr, "events: dovecot without IDLE (--events-poll 1): %lld ms\n",
	        (long long)(imap_now_ms() - t0));
	cr_expect_gt(gw_count_sent(&reader, " STATUS "), 0, "the trace is there");
	cr_expect_eq(gw_count_sent(&reader, " IDLE"), 0, "IDLE was not used");
	sse_close(&s);
	gw_stop(&writer);
	gw_stop(&reader);
	test_user_unlock();
}
