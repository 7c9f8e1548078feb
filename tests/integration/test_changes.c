/*
 * GET /changes and the `state` of listings, folders and messages, on every
 * server (Dovecot and Cyrus: QRESYNC; Courier: neither QRESYNC nor
 * CONDSTORE, so the UID SEARCH fallback). One gateway reads, a second one
 * (another IMAP session) appends, flags, expunges and moves in ivan's
 * folders; the reader must then see exactly that set.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(changes, .init = setup, .timeout = 600);

#define IVAN "ivan", "ivan-secret"

#define PARAMS(name)                                                                   \
	ParameterizedTestParameters(changes, name)                                     \
	{                                                                              \
		static struct test_server p[TEST_SERVERS];                               \
		memcpy(p, test_servers, sizeof p);                                       \
		return cr_make_param_array(struct test_server, p, TEST_SERVERS);         \
	}                                                                              \
	ParameterizedTest(const struct test_server *srv, changes, name)

static void need(const struct test_server *srv)
{
	if (!test_server_running(srv))
		cr_skip_test("%s is not started in this run (IMAPGW_TEST_SERVERS)", srv->name);
}

static bool has_condstore(const struct test_server *srv)
{
	return strcmp(srv->name, "courier") != 0;
}


static json_t *call(const struct gw *g, const char *method, const char *path, const char *body,
                    long want)
{
	return gw_call_json(g, IVAN, method, path, body, want);
}

/* A new, empty folder (whatever an earlier run left is deleted first). */
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

static json_int_t append(const struct gw *g, const char *folder, const char *subject)
{
	char msg[512], e[256], path[512];
	snprintf(msg, sizeof msg,
	         "From: Ivan <ivan@example.test>\r\nTo: x@example.test\r\nSubject: %s\r\n"
	         "Message-ID: <%s.%d@example.test>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n"
	         "Body of %s.\r\n",
	         subject, subject, (int)getpid(), subject);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s", e);
	struct gw_reply r;
	gw_request_body(g, "POST", path, IVAN, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 201, "append to %s: %ld %s", folder, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	json_int_t uid = json_integer_value(json_object_get(j, "uid"));
	cr_assert(uid > 0, "append gives the new UID: %s", r.body.data);
	json_decref(j);
	gw_reply_free(&r);
	return uid;
}

static void flag(const struct gw *g, const char *folder, json_int_t uid, const char *flag_json)
{
	char e[256], path[512], body[128];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages/%lld/flags?folder=%s", (long long)uid, e);
	snprintf(body, sizeof body, "{\"add\":[%s]}", flag_json);
	json_decref(call(g, "PATCH", path, body, 200));
}

static void expunge(const struct gw *g, const char *folder, json_int_t uid)
{
	char e[256], path[512];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages/%lld?folder=%s&permanent=true", (long long)uid, e);
	struct gw_reply r;
	gw_request(g, "DELETE", path, IVAN, NULL, &r);
	cr_assert(r.status == 200 || r.status == 204, "expunge %lld: %ld %s", (long long)uid,
	          r.status, r.body.data);
	gw_reply_free(&r);
}

static void move(const struct gw *g, const char *folder, json_int_t uid, const char *to)
{
	char e[256], path[512], body[300];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages/%lld/move?folder=%s", (long long)uid, e);
	snprintf(body, sizeof body, "{\"to\":\"%s\"}", to);
	json_decref(call(g, "POST", path, body, 200));
}

/* The folder's state from a listing. */
static char *listing_state(const struct gw *g, const char *folder)
{
	char e[256], path[512];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s&per_page=5", e);
	json_t *j = call(g, "GET", path, NULL, 200);
	const char *s = json_string_value(json_object_get(j, "state"));
	cr_assert_not_null(s, "a listing carries the state");
	char *out = strdup(s);
	json_decref(j);
	return out;
}

/* GET /changes; the answer (status want). */
static json_t *changes(const struct gw *g, const char *folder, const char *since,
                       const char *extra, long want)
{
	char e[256], path[700];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/changes?folder=%s&since=%s%s", e, since, extra ? extra : "");
	return call(g, "GET", path, NULL, want);
}

/* The UIDs of array key of j, as text "1,2,3", ascending as sent. */
static void uids_text(json_t *j, const char *key, char *out, size_t cap)
{
	size_t i, k = 0;
	json_t *v;
	out[0] = '\0';
	json_array_foreach(json_object_get(j, key), i, v)
		k += (size_t)snprintf(out + k, cap - k, "%s%lld", i ? "," : "",
		                      (long long)json_integer_value(v));
}

static void expect_uids(json_t *j, const char *key, const char *want, const char *srv)
{
	char got[512];
	uids_text(j, key, got, sizeof got);
	cr_expect_str_eq(got, want, "%s: %s is [%s], not [%s]", srv, key, got, want);
}

PARAMS(created_updated_destroyed)
{
	need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw reader, writer;
	gw_start_on(&reader, srv, NULL);
	gw_start_on(&writer, srv, NULL);
	char sync[256], other[256], want[256];
	test_server_path(srv, "Sync", sync, sizeof sync);
	test_server_path(srv, "Sync Other", other, sizeof other);
	fresh_folder(&writer, sync);
	fresh_folder(&writer, other);
	json_int_t u[5];
	for (int i = 0; i < 5; i++) {
		char subject[16];
		snprintf(subject, sizeof subject, "m%d", i);
		u[i] = append(&writer, sync, subject);
	}
	char *s0 = listing_state(&reader, sync);

	/* nothing happened: nothing to report (without CONDSTORE every
	 * message may have changed) */
	json_t *j = changes(&reader, sync, s0, NULL, 200);
	expect_uids(j, "created", "", srv->name);
	expect_uids(j, "destroyed", "", srv->name);
	snprintf(want, sizeof want, "%lld,%lld,%lld,%lld,%lld", (long long)u[0], (long long)u[1],
	         (long long)u[2], (long long)u[3], (long long)u[4]);
	expect_uids(j, "updated", has_condstore(srv) ? "" : want, srv->name);
	cr_expect(json_is_false(json_object_get(j, "has_more")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "old_state")), s0);
	json_decref(j);

	/* another session appends, flags, expunges and moves */
	json_int_t c = append(&writer, sync, "new one");
	flag(&writer, sync, u[1], "\"\\\\Flagged\"");
	expunge(&writer, sync, u[2]);
	move(&writer, sync, u[3], other);

	j = changes(&reader, sync, s0, "&summaries=true", 200);
	snprintf(want, sizeof want, "%lld", (long long)c);
	expect_uids(j, "created", want, srv->name);
	if (has_condstore(srv))
		snprintf(want, sizeof want, "%lld", (long long)u[1]);
	else
		snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)u[0], (long long)u[1],
		         (long long)u[4]);
	expect_uids(j, "updated", want, srv->name);
	snprintf(want, sizeof want, "%lld,%lld", (long long)u[2], (long long)u[3]);
	expect_uids(j, "destroyed", want, srv->name);
	/* summaries of what was created and updated */
	json_t *sums = json_object_get(j, "summaries");
	size_t i;
	json_t *m;
	bool saw_new = false;
	json_array_foreach(sums, i, m) {
		if (json_integer_value(json_object_get(m, "uid")) == c) {
			saw_new = true;
			cr_expect_str_eq(json_string_value(json_object_get(m, "subject")), "new one");
		}
		if (json_integer_value(json_object_get(m, "uid")) == u[1])
			cr_expect(json_is_true(json_object_get(m, "flagged")), "%s: flagged", srv->name);
	}
	cr_expect(saw_new, "%s: the new message's summary", srv->name);
	char *s1 = strdup(json_string_value(json_object_get(j, "new_state")));
	json_decref(j);

	/* from the new state: nothing new */
	j = changes(&reader, sync, s1, NULL, 200);
	expect_uids(j, "created", "", srv->name);
	expect_uids(j, "destroyed", "", srv->name);
	if (has_condstore(srv))
		expect_uids(j, "updated", "", srv->name);
	json_decref(j);

	/* one more expunge: the folder now has gaps in its UIDs. QRESYNC names
	 * the UID; the count rule cannot say which of the gaps went: 410. */
	expunge(&writer, sync, u[4]);
	if (has_condstore(srv)) {
		j = changes(&reader, sync, s1, NULL, 200);
		snprintf(want, sizeof want, "%lld", (long long)u[4]);
		expect_uids(j, "destroyed", want, srv->name);
		expect_uids(j, "created", "", srv->name);
		expect_uids(j, "updated", "", srv->name);
	} else {
		j = changes(&reader, sync, s1, NULL, 410);
		cr_expect_str_eq(json_string_value(json_object_get(j, "type")),
		                 "urn:imapgw:problem:cannot-calculate-changes");
	}
	json_decref(j);

	/* the old state still answers on the QRESYNC servers */
	if (has_condstore(srv)) {
		j = changes(&reader, sync, s0, NULL, 200);
		snprintf(want, sizeof want, "%lld,%lld,%lld", (long long)u[2], (long long)u[3],
		         (long long)u[4]);
		expect_uids(j, "destroyed", want, srv->name);
		json_decref(j);
	}

	/* the move landed in the other folder: created there */
	char *t0 = listing_state(&reader, other);
	json_int_t d = append(&writer, other, "into other");
	j = changes(&reader, other, t0, NULL, 200);
	snprintf(want, sizeof want, "%lld", (long long)d);
	expect_uids(j, "created", want, srv->name);
	json_decref(j);
	free(t0);
	free(s0);
	free(s1);
	gw_stop(&writer);
	gw_stop(&reader);
	test_user_unlock();
}

PARAMS(max_changes_pages_through)
{
	need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw reader, writer;
	gw_start_on(&reader, srv, NULL);
	gw_start_on(&writer, srv, NULL);
	char folder[256];
	test_server_path(srv, "Paged", folder, sizeof folder);
	fresh_folder(&writer, folder);
	json_int_t u[4];
	for (int i = 0; i < 4; i++)
		u[i] = append(&writer, folder, "paged");
	char *s = listing_state(&reader, folder);
	/* three changes, each its own MODSEQ, and one new message */
	flag(&writer, folder, u[0], "\"\\\\Seen\"");
	flag(&writer, folder, u[2], "\"\\\\Flagged\"");
	flag(&writer, folder, u[3], "\"$Work\"");
	json_int_t c = append(&writer, folder, "late");
	if (!has_condstore(srv)) {
		/* no order to cut by: more than max_changes cannot be told */
		json_t *j = changes(&reader, folder, s, "&max_changes=2", 410);
		json_decref(j);
		free(s);
		gw_stop(&writer);
		gw_stop(&reader);
		test_user_unlock();
		return;
	}
	bool seen[4] = {false}, created = false;
	unsigned rounds = 0;
	for (bool more = true; more; rounds++) {
		cr_assert_lt(rounds, 10, "%s: has_more never ends", srv->name);
		json_t *j = changes(&reader, folder, s, "&max_changes=1", 200);
		size_t n = json_array_size(json_object_get(j, "created")) +
		           json_array_size(json_object_get(j, "updated"));
		cr_expect_eq(n, 1, "%s: one change per answer, not %zu", srv->name, n);
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(j, "updated"), i, v)
			for (int k = 0; k < 4; k++)
				if (json_integer_value(v) == u[k])
					seen[k] = true;
		json_array_foreach(json_object_get(j, "created"), i, v)
			created |= json_integer_value(v) == c;
		more = json_is_true(json_object_get(j, "has_more"));
		free(s);
		s = strdup(json_string_value(json_object_get(j, "new_state")));
		json_decref(j);
	}
	cr_expect(seen[0] && seen[2] && seen[3] && !seen[1], "%s: updated %d %d %d %d", srv->name,
	          seen[0], seen[1], seen[2], seen[3]);
	cr_expect(created, "%s: the new message came as created", srv->name);
	cr_expect_eq(rounds, 4, "%s: four changes, one per answer", srv->name);
	free(s);
	gw_stop(&writer);
	gw_stop(&reader);
	test_user_unlock();
}

PARAMS(stale_uidvalidity_is_410)
{
	need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char folder[256], e[256], path[400];
	test_server_path(srv, "Recreated", folder, sizeof folder);
	fresh_folder(&g, folder);
	append(&g, folder, "before");
	/* the state of a folder answer works as well as a listing's */
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s", e);
	json_t *f = call(&g, "GET", path, NULL, 200);
	char *s = strdup(json_string_value(json_object_get(f, "state")));
	json_int_t uv = json_integer_value(json_object_get(f, "uidvalidity"));
	json_decref(f);
	json_decref(changes(&g, folder, s, NULL, 200));
	/* deleted and made again: a new UIDVALIDITY (servers that take it
	 * from the clock need the next second) */
	json_int_t now = uv;
	for (int tries = 0; tries < 5 && now == uv; tries++) {
		sleep(1);
		fresh_folder(&g, folder);
		f = call(&g, "GET", path, NULL, 200);
		now = json_integer_value(json_object_get(f, "uidvalidity"));
		json_decref(f);
	}
	cr_assert_neq(now, uv, "%s: the folder got a new UIDVALIDITY", srv->name);
	json_t *j = changes(&g, folder, s, NULL, 410);
	cr_expect_str_eq(json_string_value(json_object_get(j, "type")),
	                 "urn:imapgw:problem:cannot-calculate-changes");
	cr_expect(strstr(json_string_value(json_object_get(j, "detail")), "UIDVALIDITY"));
	json_decref(j);
	free(s);
	gw_stop(&g);
	test_user_unlock();
}

/* Hostile and wrong states: 400, never an answer for the wrong folder. */
Test(changes, bad_states_are_400)
{
	struct gw g;
	gw_start(&g, NULL);
	char *s = listing_state(&g, "INBOX");
	char path[300];
	static const char *const bad[] = {
		"",  "x", "AAAA", "AQAAAAEAAAACAAAAAQAAAAAAAAABAAAAAA", /* version 1, bad hash */
		"%00", "%2F%2F%2F", "not-a-state-not-a-state-not-a-sta",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(path, sizeof path, "/changes?folder=INBOX&since=%s", bad[i]);
		json_decref(call(&g, "GET", path, NULL, 400));
	}
	/* every single-character change of a good state is refused or answers
	 * (it may name another valid state), never a 5xx */
	for (size_t i = 0; i < strlen(s); i++) {
		char t[64];
		snprintf(t, sizeof t, "%s", s);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		snprintf(path, sizeof path, "/changes?folder=INBOX&since=%s", t);
		struct gw_reply r;
		gw_request(&g, "GET", path, IVAN, NULL, &r);
		cr_expect(r.status == 200 || r.status == 400 || r.status == 410, "%s: %ld", t, r.status);
		gw_reply_free(&r);
	}
	/* another folder's state */
	json_t *j = call(&g, "GET", "/changes?folder=Trash&since=x", NULL, 400);
	json_decref(j);
	snprintf(path, sizeof path, "/changes?folder=Elsewhere&since=%s", s);
	j = call(&g, "GET", path, NULL, 400);
	cr_expect(strstr(json_string_value(json_object_get(j, "detail")), "another folder"));
	json_decref(j);
	json_decref(call(&g, "GET", "/changes?folder=INBOX", NULL, 400));
	snprintf(path, sizeof path, "/changes?folder=INBOX&since=%s&max_changes=0", s);
	json_decref(call(&g, "GET", path, NULL, 400));
	snprintf(path, sizeof path, "/changes?folder=INBOX&since=%s&max_changes=99999999", s);
	json_decref(call(&g, "GET", path, NULL, 400));
	snprintf(path, sizeof path, "/changes?folder=INBOX&since=%s&bogus=1", s);
	json_decref(call(&g, "GET", path, NULL, 400));
	/* the good one answers */
	snprintf(path, sizeof path, "/changes?folder=inbox&since=%s", s);
	json_decref(call(&g, "GET", path, NULL, 200));
	free(s);
	gw_stop(&g);
}
