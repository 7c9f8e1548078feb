/*
 * The read API end to end: the real imapgw daemon (tests/support/gateway.c)
 * against the private Dovecot, through libcurl; the tests that are not about
 * Dovecot's own folder layout or the gateway's modes against Cyrus and
 * Courier too, where alice holds the same seed set (tests/seed-imap.py).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* long: a test on Cyrus or Courier first waits for them (a first run installs them) */
TestSuite(api_read, .init = setup, .timeout = 600);

/* The server of the running test (each test is a process of its own). */
static struct test_server on;

static void begin(const struct test_server *srv)
{
	test_server_need(srv);
	on = *srv;
}

#define DOVECOT (&test_servers[0])

#define ALICE "alice", "alice-secret"

static json_t *get_json(const struct gw *g, const char *path, long want_status)
{
	struct gw_reply r;
	gw_request(g, "GET", path, ALICE, NULL, &r);
	cr_assert_eq(r.status, want_status, "GET %s: %ld %s", path, r.status, r.body.data);
	json_error_t e;
	json_t *j = json_loads(r.body.data, 0, &e);
	cr_assert_not_null(j, "GET %s: not JSON: %s", path, r.body.data);
	gw_reply_free(&r);
	return j;
}

static unsigned manifest_count(const char *folder)
{
	FILE *f = fopen(getenv("IMAPGW_TEST_SEED_MANIFEST"), "r");
	char line[4096];
	unsigned n = 0;
	size_t fl = strlen(folder);
	while (f && fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab || line[0] == '-' || line[0] == '#')
			continue;
		if (strncmp(tab + 1, folder, fl) == 0 && tab[1 + fl] == '\t')
			n++;
	}
	if (f)
		fclose(f);
	return n;
}

static void doveadm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void doveadm(const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", getenv("IMAPGW_TEST_DOVEADM"), args);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* ---- folders ---- */

static json_t *folder_by_path(json_t *arr, const char *path)
{
	size_t i;
	json_t *f;
	json_array_foreach(arr, i, f)
		if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
			return f;
	return NULL;
}

Test(api_read, folders)
{
	begin(DOVECOT);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	json_t *j = get_json(&g, "/folders?counts=true", 200);
	json_t *arr = json_object_get(j, "folders");
	json_t *inbox = json_array_get(arr, 0);
	cr_assert_str_eq(json_string_value(json_object_get(inbox, "path")), "INBOX");
	cr_assert_eq(json_integer_value(json_object_get(inbox, "messages")), manifest_count("INBOX"));
	cr_assert(json_is_integer(json_object_get(inbox, "uidvalidity")));
	json_t *q1 = folder_by_path(arr, "Archive/2024/Q1");
	cr_assert_not_null(q1);
	cr_assert_str_eq(json_string_value(json_object_get(q1, "name")), "Q1");
	cr_assert_str_eq(json_string_value(json_object_get(q1, "parent")), "Archive/2024");
	cr_assert_str_eq(json_string_value(json_object_get(q1, "delimiter")), "/");
	cr_assert_not_null(folder_by_path(arr, "Donn\u00e9es"), "modified UTF-7 never reaches clients");
	cr_assert_not_null(folder_by_path(arr, "\u65e5\u672c\u8a9e"));
	cr_assert_str_eq(json_string_value(json_object_get(folder_by_path(arr, "Sent"), "special_use")),
	                 "\\Sent");
	cr_assert(json_is_null(json_object_get(folder_by_path(arr, "Old Mail"), "special_use")));
	json_decref(j);

	/* without counts: no count fields */
	j = get_json(&g, "/folders", 200);
	cr_assert_null(json_object_get(json_array_get(json_object_get(j, "folders"), 0), "messages"));
	json_decref(j);

	/* tree: Archive > 2024 > Q1 */
	j = get_json(&g, "/folders?tree=true", 200);
	json_t *archive = folder_by_path(json_object_get(j, "folders"), "Archive");
	cr_assert_not_null(archive);
	json_t *y = folder_by_path(json_object_get(archive, "children"), "Archive/2024");
	cr_assert_not_null(y);
	cr_assert_not_null(folder_by_path(json_object_get(y, "children"), "Archive/2024/Q1"));
	cr_assert_null(folder_by_path(json_object_get(j, "folders"), "Archive/2024"));
	json_decref(j);

	/* one folder: the greedy tail, percent-encoded non-ASCII */
	j = get_json(&g, "/folders/Archive/2024", 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "path")), "Archive/2024");
	cr_assert_eq(json_integer_value(json_object_get(j, "messages")),
	             manifest_count("Archive/2024"));
	json_decref(j);
	j = get_json(&g, "/folders/Donn%C3%A9es", 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "name")), "Donn\u00e9es");
	json_decref(j);
	j = get_json(&g, "/folders/No%20Such%20Folder", 404);
	cr_assert_eq(json_integer_value(json_object_get(j, "status")), 404);
	json_decref(j);
	gw_stop(&g);
}

/* ---- listing: every sort key, both orders, every message once ---- */

static size_t walk(const struct gw *g, const char *folder, const char *sort, const char *order,
                   unsigned per_page, unsigned *uids, size_t cap, json_t **items)
{
	size_t n = 0;
	for (unsigned page = 1;; page++) {
		char path[512];
		snprintf(path, sizeof path, "/messages?folder=%s&sort=%s&order=%s&per_page=%u&page=%u",
		         folder, sort, order, per_page, page);
		json_t *j = get_json(g, path, 200);
		json_t *msgs = json_object_get(j, "messages");
		cr_assert_eq(json_integer_value(json_object_get(j, "page")), page);
		size_t i;
		json_t *m;
		json_array_foreach(msgs, i, m) {
			cr_assert_lt(n, cap);
			uids[n] = (unsigned)json_integer_value(json_object_get(m, "uid"));
			if (items)
				items[n] = json_incref(m);
			n++;
		}
		json_int_t pages = json_integer_value(json_object_get(j, "pages"));
		json_int_t total = json_integer_value(json_object_get(j, "total"));
		bool last = (json_int_t)page >= pages;
		json_int_t want = last ? total - (json_int_t)(page - 1) * per_page : (json_int_t)per_page;
		cr_assert_eq((json_int_t)json_array_size(msgs), want);
		json_decref(j);
		if (last)
			break;
	}
	return n;
}

static long long key_of(json_t *m, const char *sort)
{
	if (!strcmp(sort, "size"))
		return json_integer_value(json_object_get(m, "size"));
	if (!strcmp(sort, "arrival"))
		return json_integer_value(json_object_get(m, "uid"));
	/* received: RFC 3339 with an offset: compare as UTC seconds */
	const char *t = json_string_value(json_object_get(m, "received_at"));
	struct tm tm = {0};
	int oh = 0, om = 0;
	char sign = 'Z';
	sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &sign, &oh, &om);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	long long off = (oh * 60 + om) * 60 * (sign == '-' ? -1 : sign == '+' ? 1 : 0);
	return (long long)timegm(&tm) - off;
}

TEST_ON_EVERY_SERVER(api_read, pages_cover_every_message_once_in_order)
{
	begin(srv);
	static const char *sorts[] = {"arrival", "received", "date", "from", "to", "subject", "size"};
	struct gw g;
	gw_start_on(&g, &on, NULL);
	unsigned total = manifest_count("INBOX");
	for (size_t k = 0; k < sizeof sorts / sizeof sorts[0]; k++) {
		unsigned asc[256], desc[256];
		json_t *items[256];
		size_t na = walk(&g, "INBOX", sorts[k], "asc", 7, asc, 256, items);
		size_t nd = walk(&g, "INBOX", sorts[k], "desc", 7, desc, 256, NULL);
		cr_assert_eq(na, total, "%s asc: %zu of %u", sorts[k], na, total);
		cr_assert_eq(nd, total, "%s desc", sorts[k]);
		for (size_t i = 0; i < na; i++) {
			cr_assert_eq(asc[i], desc[na - 1 - i], "%s: desc is the reverse of asc", sorts[k]);
			for (size_t j = 0; j < i; j++)
				cr_assert_neq(asc[i], asc[j], "%s: uid %u twice", sorts[k], asc[i]);
		}
		bool checkable = !strcmp(sorts[k], "arrival") || !strcmp(sorts[k], "received") ||
		                 !strcmp(sorts[k], "size");
		for (size_t i = 1; checkable && i < na; i++) {
			long long a = key_of(items[i - 1], sorts[k]), b = key_of(items[i], sorts[k]);
			cr_assert(a < b || (a == b && asc[i - 1] < asc[i]), "%s: %u before %u", sorts[k],
			          asc[i - 1], asc[i]);
		}
		for (size_t i = 0; i < na; i++)
			json_decref(items[i]);
	}
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(api_read, summary_fields)
{
	begin(srv);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	json_t *j = get_json(&g, "/messages?per_page=500", 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), manifest_count("INBOX"));
	cr_assert(json_is_null(json_object_get(j, "next_cursor")));
	size_t i;
	json_t *m;
	unsigned with_unsub = 0, one_click = 0, with_attachments = 0, decoded = 0, undecoded = 0;
	json_array_foreach(json_object_get(j, "messages"), i, m) {
		static const char *fields[] = {"uid", "message_id", "subject", "from", "to", "cc",
		                               "reply_to", "date", "received_at", "size", "flags",
		                               "seen", "flagged", "answered", "has_attachments",
		                               "attachments", "in_reply_to", "list_id", "unsubscribe"};
		for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
			cr_assert_not_null(json_object_get(m, fields[f]), "uid %lld lacks %s",
			                   json_integer_value(json_object_get(m, "uid")), fields[f]);
		const char *subject = json_string_value(json_object_get(m, "subject"));
		/* only the seed's deliberately malformed encoded words stay as text */
		undecoded += subject && strstr(subject, "=?") != NULL;
		decoded += subject && strchr(subject, '\xc3') != NULL;
		json_t *u = json_object_get(m, "unsubscribe");
		if (json_is_object(u)) {
			with_unsub++;
			one_click += json_is_true(json_object_get(u, "one_click"));
			if (json_is_true(json_object_get(u, "one_click")))
				cr_assert_str_eq(json_string_value(json_object_get(u, "post")),
				                 "List-Unsubscribe=One-Click");
		}
		with_attachments += json_is_true(json_object_get(m, "has_attachments"));
	}
	cr_assert_geq(with_unsub, 10);
	cr_assert_geq(one_click, 1);
	cr_assert_geq(with_attachments, 5);
	cr_assert_geq(decoded, 1);
	cr_assert_leq(undecoded, 1, "encoded words left undecoded");
	json_decref(j);

	/* the has_unsubscribe filter returns exactly those */
	j = get_json(&g, "/messages?has_unsubscribe=true&per_page=500", 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), with_unsub);
	json_decref(j);
	gw_stop(&g);
}

/* ---- cursor: stable under new mail ---- */

Test(api_read, cursor_walk_survives_new_mail)
{
	begin(DOVECOT);
	test_user_lock("alice");  /* creates and deletes one of alice's folders */
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char box[64];
	snprintf(box, sizeof box, "walk-%d", (int)getpid());
	doveadm("mailbox create -u alice %s", box);
	doveadm("copy -u alice %s mailbox INBOX all", box);
	unsigned total = manifest_count("INBOX");

	unsigned seen[512];
	size_t n = 0;
	char path[1024];
	snprintf(path, sizeof path, "/messages?folder=%s&per_page=10", box);
	for (int round = 0; round < 100; round++) {
		json_t *j = get_json(&g, path, 200);
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(j, "messages"), i, m)
			seen[n++] = (unsigned)json_integer_value(json_object_get(m, "uid"));
		if (round == 0) /* new mail between two calls */
			doveadm("save -u alice -m %s < /dev/null", box);
		const char *next = json_string_value(json_object_get(j, "next_cursor"));
		if (!next) {
			json_decref(j);
			break;
		}
		snprintf(path, sizeof path, "/messages?folder=%s&per_page=10&cursor=%s", box, next);
		json_decref(j);
	}
	cr_assert_eq(n, total, "saw %zu of the %u messages there were", n, total);
	for (size_t i = 1; i < n; i++)
		cr_assert_lt(seen[i], seen[i - 1], "no duplicate, no gap, newest first");
	doveadm("mailbox delete -u alice -s %s", box);
	gw_stop(&g);
}

/* ---- the pool at work ---- */

TEST_ON_EVERY_SERVER(api_read, second_request_sends_no_select)
{
	begin(srv);
	struct gw g;
	/* the path without the index (with it: test_index.c) */
	gw_start_on(&g, &on, "--index-max-mb", "0", NULL);
	json_decref(get_json(&g, "/messages?per_page=5", 200));
	json_decref(get_json(&g, "/messages?per_page=5&page=2", 200));
	/* arrival order: one FETCH by sequence range per page, nothing else */
	cr_assert_eq(gw_count_sent(&g, " FETCH "), 2);
	cr_assert_eq(gw_count_sent(&g, "SEARCH"), 0);
	cr_assert_eq(gw_count_sent(&g, "NOOP"), 0);
	json_decref(get_json(&g, "/messages?per_page=5&sort=date", 200));
	cr_assert_eq(gw_count_sent(&g, "EXAMINE INBOX"), 1);
	cr_assert_eq(gw_count_sent(&g, "AUTHENTICATE"), 1, "one login for three requests");
	gw_stop(&g);
}

struct par {
	const struct gw *g;
	long status;
};

static void *one_request(void *arg)
{
	struct par *p = arg;
	struct gw_reply r;
	gw_request(p->g, "GET", "/messages?per_page=50&sort=subject&text=example", ALICE, NULL, &r);
	p->status = r.status;
	gw_reply_free(&r);
	return NULL;
}

TEST_ON_EVERY_SERVER(api_read, concurrent_requests_use_several_sessions)
{
	begin(srv);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	pthread_t t[8];
	struct par p[8];
	for (int i = 0; i < 8; i++) {
		p[i] = (struct par){&g, 0};
		pthread_create(&t[i], NULL, one_request, &p[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(p[i].status, 200);
	}
	unsigned logins = gw_count_sent(&g, "AUTHENTICATE");
	cr_assert_geq(logins, 2, "concurrent requests shared %u session", logins);
	cr_assert_leq(logins, 4, "--pool-per-user 4 holds");
	gw_stop(&g);
}

/* ---- authentication ---- */

TEST_ON_EVERY_SERVER(api_read, wrong_password_after_right_one)
{
	begin(srv);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/messages?per_page=1", ALICE, NULL, &r);
	cr_assert_eq(r.status, 200);
	gw_reply_free(&r);
	gw_request(&g, "GET", "/messages?per_page=1", "alice", "not-her-password", NULL, &r);
	cr_assert_eq(r.status, 401, "%s", r.body.data);
	char v[256];
	cr_assert_eq(gw_header(&r, "WWW-Authenticate", v, sizeof v), 0);
	cr_assert(strstr(v, "Basic") != NULL);
	cr_assert_eq(gw_header(&r, "Content-Type", v, sizeof v), 0);
	cr_assert_str_eq(v, "application/problem+json");
	gw_reply_free(&r);
	gw_request(&g, "GET", "/messages?per_page=1", NULL, NULL, NULL, &r);
	cr_assert_eq(r.status, 401);
	gw_reply_free(&r);
	gw_request(&g, "GET", "/messages?per_page=1", ALICE, NULL, &r);
	cr_assert_eq(r.status, 200, "the right password still works");
	gw_reply_free(&r);
	gw_stop(&g);
	/* The log (with the IMAP trace on) never holds a password or its base64:
	 * base64("\0alice\0alice-secret") and base64("\0alice\0not-her-password"). */
	cr_assert(gw_log_contains(&g, "\"imap >\""), "the trace was on");
	/* with SASL-IR the secret is on the command's line, else on the next */
	cr_assert(gw_log_contains(&g, "AUTHENTICATE PLAIN ***") ||
	          (gw_log_contains(&g, "AUTHENTICATE PLAIN\"") && gw_log_contains(&g, "\"***\"")),
	          "%s: the login is traced, its secret masked", on.name);
	cr_assert(!gw_log_contains(&g, "alice-secret"));
	cr_assert(!gw_log_contains(&g, "not-her-password"));
	cr_assert(!gw_log_contains(&g, "AGFsaWNlAGFsaWNlLXNlY3JldA"));
	cr_assert(!gw_log_contains(&g, "AGFsaWNlAG5vdC1oZXItcGFzc3dvcmQ"));
	cr_assert(!gw_log_contains(&g, "YWxpY2U6YWxpY2Utc2VjcmV0"), "nor the Basic header");
}

Test(api_read, repeated_failures_are_throttled)
{
	begin(DOVECOT);
	struct gw g;
	gw_start_on(&g, &on, "--login-fail-max", "3", NULL);
	char user[64];
	snprintf(user, sizeof user, "mallory%d", (int)getpid());
	struct gw_reply r;
	for (int i = 0; i < 3; i++) {
		gw_request(&g, "GET", "/folders", user, "guess", NULL, &r);
		cr_assert_eq(r.status, 401);
		gw_reply_free(&r);
	}
	unsigned attempts = gw_count_sent(&g, "AUTHENTICATE");
	gw_request(&g, "GET", "/folders", user, "guess", NULL, &r);
	cr_assert_eq(r.status, 429, "%s", r.body.data);
	char v[64];
	cr_assert_eq(gw_header(&r, "Retry-After", v, sizeof v), 0);
	cr_assert_gt(atoi(v), 0);
	gw_reply_free(&r);
	cr_assert_eq(gw_count_sent(&g, "AUTHENTICATE"), attempts, "the server was not contacted");
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(api_read, untrusted_certificate_is_502)
{
	begin(srv);
	struct gw g;
	gw_start_on(&g, &on, "--imap-ca", getenv("IMAPGW_TEST_OTHER_CA"), NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/folders", ALICE, NULL, &r);
	cr_assert_eq(r.status, 502, "%s", r.body.data);
	cr_assert(strstr(r.body.data, "not trusted") != NULL, "%s", r.body.data);
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- bad input ---- */

TEST_ON_EVERY_SERVER(api_read, bad_inputs_are_problems)
{
	begin(srv);
	static const struct { const char *path; long status; } t[] = {
		{"/messages?page=0", 400},
		{"/messages?page=-1", 400},
		{"/messages?page=abc", 400},
		{"/messages?page=1e3", 400},
		{"/messages?per_page=0", 400},
		{"/messages?per_page=100000", 400},
		{"/messages?sort=bogus", 400},
		{"/messages?order=up", 400},
		{"/messages?unseen=maybe", 400},
		{"/messages?since=2024-13-01", 400},
		{"/messages?before=2023-02-29", 400},
		{"/messages?larger=-5", 400},
		{"/messages?from=a%0D%0AA1%20LOGOUT", 400},
		{"/messages?folder=INBOX%0D%0AA1%20DELETE%20INBOX", 400},
		{"/messages?folder=%FF%FE", 400},
		{"/messages?folder=", 400},
		{"/messages?cursor=garbage", 400},
		{"/messages?cursor=dGhpcyBpcyBub3QgYSBjdXJzb3I", 400},
		{"/messages?bogus=1", 400},
		{"/messages?folder=No%20Such%20Folder", 404},
		{"/messages?folder=No%22Such%5CFolder", 404},
		{"/folders/No%22Such", 404},
		{"/folders?counts=perhaps", 400},
		{"/nowhere", 404},
	};
	struct gw g;
	gw_start_on(&g, &on, NULL);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct gw_reply r;
		gw_request(&g, "GET", t[i].path, ALICE, NULL, &r);
		cr_expect_eq(r.status, t[i].status, "%s: %ld %s", t[i].path, r.status, r.body.data);
		char ct[128];
		cr_expect(gw_header(&r, "Content-Type", ct, sizeof ct) == 0 &&
		          strcmp(ct, "application/problem+json") == 0, "%s: %s", t[i].path, ct);
		json_t *j = json_loads(r.body.data, 0, NULL);
		cr_expect_eq(json_integer_value(json_object_get(j, "status")), t[i].status, "%s",
		             t[i].path);
		cr_expect(json_is_string(json_object_get(j, "title")));
		cr_expect(json_is_string(json_object_get(j, "detail")));
		json_decref(j);
		gw_reply_free(&r);
	}
	/* Folder names with quotes that exist work, and nothing raw reached IMAP. */
	char path[256];
	if (strcmp(on.name, "cyrus") != 0) {  /* Cyrus refuses '"' and '\' in a name */
		snprintf(path, sizeof path, "/messages?folder=%sSay%%20%%22Hi%%22", on.prefix);
		json_decref(get_json(&g, path, 200));
		snprintf(path, sizeof path, "/messages?folder=%sBack%%5Cslash&subject=%%22%%5C",
		         on.prefix);
		json_decref(get_json(&g, path, 200));
	}
	cr_assert_eq(gw_count_sent(&g, "\\u000d"), 0, "no CR ever sent");
	cr_assert_eq(gw_count_sent(&g, "DELETE"), 0);
	cr_assert_eq(gw_count_sent(&g, "LOGOUT\""), 0);
	gw_stop(&g);
}
