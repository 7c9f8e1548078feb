/*
 * GET /folders/changes and the folder list's state, on every server. A
 * direct IMAP session (not the gateway) creates, renames and deletes
 * folders of ivan's and appends to one between two calls; the gateway must
 * then name exactly those. Also: a state from a listing without counts, the
 * --folder-state-max cut (410 once something changed), hostile tokens (400)
 * and the top-level folder named "changes".
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/clock.h"
#include "imap/client.h"
#include "imap/folders.h"
#include "imap/write.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(folder_changes, .init = setup, .timeout = 300);

#define IVAN "ivan", "ivan-secret"

static json_t *call(const struct gw *g, const char *method, const char *path, const char *body,
                    long want)
{
	return gw_call_json(g, IVAN, method, path, body, want);
}

/* A command on the direct session; its result (0, or the error). */
static int raw(struct imap_session *s, const char *verb, const char *a, const char *b)
{
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, verb);
	imap_cmd_mailbox(&c, a, strlen(a));
	if (b)
		imap_cmd_mailbox(&c, b, strlen(b));
	int rc = imap_session_run(s, &c, NULL, NULL, imap_now_ms() + 15000, &err);
	imap_cmd_free(&c);
	return rc;
}

static void must(struct imap_session *s, const char *verb, const char *a, const char *b)
{
	cr_assert_eq(raw(s, verb, a, b), 0, "%s %s %s refused", verb, a, b ? b : "");
}

static void append_direct(struct imap_session *s, const char *folder)
{
	static const char msg[] = "From: Ivan <ivan@example.test>\r\nTo: x@example.test\r\n"
	                          "Subject: folder changes\r\nMessage-ID: <fc.1@example.test>\r\n"
	                          "Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\nBody.\r\n";
	struct imap_append a = {.folder = folder, .data = msg, .len = sizeof msg - 1};
	struct imap_appended out;
	struct imap_error err = {0};
	cr_assert_eq(imap_message_append(s, &a, imap_now_ms() + 15000, &out, &err), 0, "%s",
	             err.msg);
}

/* The id of path in a GET /folders answer, or NULL. */
static const char *id_in(json_t *list, const char *path)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(list, "folders"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
			return json_string_value(json_object_get(f, "id"));
	return NULL;
}

/* The paths of the folder objects of key (or the strings, for destroyed),
 * sorted and joined by ",". */
static void names(json_t *j, const char *key, char *out, size_t cap)
{
	json_t *a = json_object_get(j, key);
	cr_assert(json_is_array(a), "%s is a list", key);
	const char *v[64];
	size_t n = 0, i;
	json_t *f;
	json_array_foreach(a, i, f) {
		const char *s = json_is_string(f) ? json_string_value(f)
		                                  : json_string_value(json_object_get(f, "path"));
		if (n < 64)
			v[n++] = s;
	}
	for (size_t x = 1; x < n; x++)
		for (size_t y = x; y > 0 && strcmp(v[y - 1], v[y]) > 0; y--) {
			const char *t = v[y];
			v[y] = v[y - 1];
			v[y - 1] = t;
		}
	size_t k = 0;
	out[0] = '\0';
	for (size_t x = 0; x < n && k < cap; x++)
		k += (size_t)snprintf(out + k, cap - k, "%s%s", x ? "," : "", v[x]);
}

static char *folders_state(const struct gw *g, const char *query, json_t **list)
{
	char path[64];
	snprintf(path, sizeof path, "/folders%s", query);
	json_t *j = call(g, "GET", path, NULL, 200);
	const char *s = json_string_value(json_object_get(j, "state"));
	cr_assert_not_null(s, "GET %s carries the list's state", path);
	char *out = strdup(s);
	if (list)
		*list = j;
	else
		json_decref(j);
	return out;
}

static json_t *changes(const struct gw *g, const char *since, long want)
{
	size_t cap = strlen(since) + 64;
	char *path = malloc(cap);
	snprintf(path, cap, "/folders/changes?since=%s", since);
	json_t *j = call(g, "GET", path, NULL, want);
	free(path);
	return j;
}

/* A LIST on the direct session after its folder changes. Dovecot 2.3
 * puts a folder created by a session into the user's folder-list index
 * only when that session lists (or later): until then other sessions'
 * extended LISTs (RETURN SUBSCRIBED, STATUS) may not show it, for
 * seconds. A client that creates a folder and lists it does this anyway. */
static void list_direct(struct imap_session *s)
{
	struct imap_folder_list l = {0};
	struct imap_error err = {0};
	cr_assert_eq(imap_folders_list(s, NULL, false, imap_now_ms() + 15000, &l, &err), 0, "%s",
	             err.msg);
	imap_folder_list_free(&l);
}

TEST_ON_EVERY_SERVER(folder_changes, created_renamed_destroyed_updated)
{
	test_server_need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	struct imap_session *s = test_imap_login_on(srv, IVAN);
	char old[64], renamed[64], gone[64], fresh[64], grows[64];
	test_server_path(srv, "FcOld", old, sizeof old);
	test_server_path(srv, "FcRenamed", renamed, sizeof renamed);
	test_server_path(srv, "FcGone", gone, sizeof gone);
	test_server_path(srv, "FcNew", fresh, sizeof fresh);
	test_server_path(srv, "FcGrows", grows, sizeof grows);
	const char *all[] = {old, renamed, gone, fresh, grows};
	for (size_t i = 0; i < 5; i++)
		raw(s, "DELETE", all[i], NULL);  /* what an earlier run left */
	must(s, "CREATE", old, NULL);
	must(s, "CREATE", gone, NULL);
	must(s, "CREATE", grows, NULL);

	json_t *before;
	char *plain = folders_state(&g, "", NULL);
	char *since = folders_state(&g, "?counts=true", &before);
	char *tree = folders_state(&g, "?tree=true", NULL);
	cr_expect_str_eq(tree, plain, "a tree lists the same folders");
	char old_id[16], gone_id[16];
	snprintf(old_id, sizeof old_id, "%s", id_in(before, old));
	snprintf(gone_id, sizeof gone_id, "%s", id_in(before, gone));
	size_t nbefore = json_array_size(json_object_get(before, "folders"));

	/* nothing changed yet */
	json_t *j = changes(&g, since, 200);
	char got[512];
	names(j, "created", got, sizeof got);
	cr_expect_str_eq(got, "", "%s: created", srv->name);
	names(j, "updated", got, sizeof got);
	cr_expect_str_eq(got, "", "%s: updated", srv->name);
	names(j, "destroyed", got, sizeof got);
	cr_expect_str_eq(got, "", "%s: destroyed", srv->name);
	cr_expect_str_eq(json_string_value(json_object_get(j, "new_state")), since);
	json_decref(j);

	must(s, "CREATE", fresh, NULL);
	must(s, "RENAME", old, renamed);
	must(s, "DELETE", gone, NULL);
	append_direct(s, grows);
	list_direct(s);

	j = changes(&g, since, 200);
	char want[256];
	snprintf(want, sizeof want, "%s,%s", strcmp(fresh, renamed) < 0 ? fresh : renamed,
	         strcmp(fresh, renamed) < 0 ? renamed : fresh);
	names(j, "created", got, sizeof got);
	cr_expect_str_eq(got, want, "%s: created", srv->name);
	snprintf(want, sizeof want, "%s,%s", strcmp(old_id, gone_id) < 0 ? old_id : gone_id,
	         strcmp(old_id, gone_id) < 0 ? gone_id : old_id);
	names(j, "destroyed", got, sizeof got);
	cr_expect_str_eq(got, want, "%s: destroyed (the rename's old id and the deleted one)",
	                 srv->name);
	names(j, "updated", got, sizeof got);
	cr_expect_str_eq(got, grows, "%s: updated", srv->name);
	json_t *u = json_array_get(json_object_get(j, "updated"), 0);
	cr_expect_eq(json_integer_value(json_object_get(u, "messages")), 1, "with its counts");
	cr_expect(json_is_string(json_object_get(u, "state")), "and its message state");
	char *next = strdup(json_string_value(json_object_get(j, "new_state")));
	json_decref(j);

	/* the created folders' ids are those GET /folders shows */
	json_t *after;
	char *now = folders_state(&g, "?counts=true", &after);
	cr_expect_str_eq(now, next, "the new state is the list's state now");
	cr_expect_null(id_in(after, old));
	cr_expect_str_neq(id_in(after, renamed), old_id, "a renamed folder has another id");
	j = changes(&g, next, 200);
	names(j, "created", got, sizeof got);
	cr_expect_str_eq(got, "", "%s: nothing since the new state", srv->name);
	names(j, "updated", got, sizeof got);
	cr_expect_str_eq(got, "");
	json_decref(j);

	/* from a listing without counts every folder still there is updated */
	j = changes(&g, plain, 200);
	cr_expect_eq(json_array_size(json_object_get(j, "updated")), nbefore - 2,
	             "%s: all %zu kept folders", srv->name, nbefore - 2);
	cr_expect_eq(json_array_size(json_object_get(j, "created")), 2);
	cr_expect_eq(json_array_size(json_object_get(j, "destroyed")), 2);
	json_decref(j);

	/* an old state still answers */
	j = changes(&g, since, 200);
	cr_expect_eq(json_array_size(json_object_get(j, "created")), 2);
	json_decref(j);

	json_decref(before);
	json_decref(after);
	free(plain);
	free(since);
	free(tree);
	free(next);
	free(now);
	for (size_t i = 0; i < 5; i++)
		raw(s, "DELETE", all[i], NULL);
	imap_session_logout(&s, imap_now_ms() + 15000);
	gw_stop(&g);
	test_user_unlock();
}

/* With --folder-state-max 1 the state holds a digest only: an empty answer
 * while nothing changed, then 410. */
TEST_ON_EVERY_SERVER(folder_changes, beyond_the_cap)
{
	test_server_need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, "--folder-state-max", "1", NULL);
	struct imap_session *s = test_imap_login_on(srv, IVAN);
	char extra[64], base[64];
	test_server_path(srv, "FcCap", extra, sizeof extra);
	test_server_path(srv, "FcCapBase", base, sizeof base);
	raw(s, "DELETE", extra, NULL);
	raw(s, "CREATE", base, NULL);  /* INBOX and it: more than one folder */
	char *since = folders_state(&g, "?counts=true", NULL);
	cr_expect_eq(strlen(since), 19, "a digest only: %s", since);
	json_t *j = changes(&g, since, 200);
	cr_expect_eq(json_array_size(json_object_get(j, "created")) +
	                     json_array_size(json_object_get(j, "updated")) +
	                     json_array_size(json_object_get(j, "destroyed")),
	             0);
	json_decref(j);
	must(s, "CREATE", extra, NULL);
	list_direct(s);
	/* A state outlives the gateway that made it; a new gateway's session
	 * also reads the folder list afresh (Dovecot's list index in a session
	 * that lists many times a second can miss another session's CREATE). */
	gw_stop(&g);
	gw_start_on(&g, srv, "--folder-state-max", "1", NULL);
	j = changes(&g, since, 410);
	cr_expect_str_eq(json_string_value(json_object_get(j, "type")),
	                 "urn:imapgw:problem:cannot-calculate-changes");
	json_decref(j);
	raw(s, "DELETE", extra, NULL);
	raw(s, "DELETE", base, NULL);
	free(since);
	imap_session_logout(&s, imap_now_ms() + 15000);
	gw_stop(&g);
	test_user_unlock();
}

Test(folder_changes, hostile_states_are_400)
{
	struct gw g;
	gw_start(&g, NULL);
	char *good = folders_state(&g, "?counts=true", NULL);
	size_t len = strlen(good);
	json_t *j = call(&g, "GET", "/messages?folder=INBOX&per_page=1", NULL, 200);
	char *message_state = strdup(json_string_value(json_object_get(j, "state")));
	json_decref(j);
	const char *bad[] = {"", "x", "AAAAAAAAAAAAAAAAAAA", "%00", message_state, "!!!!",
	                     "AgMAAAADAAAAAAAAAAAA%2B"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		json_decref(changes(&g, bad[i], 400));
	/* every character of a real token changed once: 400, never anything else */
	char *t = malloc(len + 1);
	for (size_t i = 0; i < len; i++) {
		memcpy(t, good, len + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		json_decref(changes(&g, t, 400));
	}
	/* one folder's state is not a folder-list state, nor the reverse */
	size_t cap = len + 64;
	char *path = malloc(cap);
	snprintf(path, cap, "/changes?folder=INBOX&since=%s", good);
	json_decref(call(&g, "GET", path, NULL, 400));
	json_decref(call(&g, "GET", "/folders/changes?since=x&other=1", NULL, 400));
	free(path);
	free(t);
	free(good);
	free(message_state);
	gw_stop(&g);
}

/* A top-level folder named "changes" stays reachable at /folders/changes:
 * GET without since, PATCH and DELETE (Dovecot and Cyrus: top-level folders
 * outside INBOX). */
TEST_ON_EVERY_SERVER(folder_changes, folder_named_changes)
{
	test_server_need(srv);
	if (srv->prefix[0])
		cr_skip_test("%s keeps folders under %s", srv->name, srv->prefix);
	char lock[64];
	snprintf(lock, sizeof lock, "ivan-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	struct gw_reply r;
	gw_request(&g, "DELETE", "/folders/changes?force=true", IVAN, NULL, &r);
	gw_reply_free(&r);
	json_decref(call(&g, "GET", "/folders/changes", NULL, 404));
	json_decref(call(&g, "POST", "/folders", "{\"path\":\"changes\"}", 201));
	json_t *j = call(&g, "GET", "/folders/changes?counts=true", NULL, 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "path")), "changes");
	cr_expect(json_is_integer(json_object_get(j, "messages")));
	json_decref(j);
	j = call(&g, "PATCH", "/folders/changes", "{\"subscribed\":false}", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "path")), "changes");
	cr_expect(json_is_false(json_object_get(j, "subscribed")));
	json_decref(j);
	json_decref(call(&g, "DELETE", "/folders/changes", NULL, 200));
	json_decref(call(&g, "GET", "/folders/changes", NULL, 404));
	gw_stop(&g);
	test_user_unlock();
}
