/*
 * The API on every server: the same tests, parameterised by server, against
 * the private Dovecot, Cyrus and Courier that tests/with-dovecot.sh starts
 * (tests/servers-lib.sh). grace's mailbox holds the same set on each
 * (../shared/servers/seed_any.py: 50 INBOX messages, nested and non-ASCII
 * folders, special-use folders), under each server's own namespace; heidi is
 * for the tests that write.
 *
 * Expectations come from the seed where it is fixed (counts, folder names)
 * and otherwise from the gateway's own unfiltered answer (a filter must
 * select exactly the messages whose fields say so), never from one server's
 * habits. Where a server lacks an extension (Courier: MOVE, ESEARCH,
 * CONDSTORE, LIST-EXTENDED) the same assertions check the fallback.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/client.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* long: a test on Cyrus or Courier first waits for them (a first run installs them) */
TestSuite(servers, .init = setup, .timeout = 600);

#define GRACE "grace", "grace-secret"
#define HEIDI "heidi", "heidi-secret"
#define INBOX_COUNT 50

#define PARAMS(name) TEST_ON_EVERY_SERVER(servers, name)

static json_t *call(const struct gw *g, const char *method, const char *path, const char *user,
                    const char *pw, const char *body, long want)
{
	return gw_call_json(g, user, pw, method, path, body, want);
}

static json_t *get(const struct gw *g, const char *path)
{
	return call(g, "GET", path, GRACE, NULL, 200);
}

static json_t *folder_by_path(json_t *arr, const char *path)
{
	size_t i;
	json_t *f;
	json_array_foreach(arr, i, f)
		if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
			return f;
	return NULL;
}

/* ---- folders and counts ---- */

PARAMS(folders_and_counts)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	json_t *j = get(&g, "/folders?counts=true");
	json_t *arr = json_object_get(j, "folders");
	static const struct {
		const char *logical;
		int messages, unseen;
		const char *special_use;
	} want[] = {
		{"INBOX", INBOX_COUNT, 17, NULL},       {"Archive/2023", 6, 3, NULL},
		{"Archive/2024", 6, 3, NULL},           {"Projects/Alpha/Specs", 4, 2, NULL},
		{"Projects/\u65e5\u672c\u8a9e", 2, 1, NULL}, {"Travel Plans", 3, 1, NULL},
		{"Donn\u00e9es", 3, 1, NULL},           {"Receipts & Bills", 4, 2, NULL},
		{"Sent", 3, 0, "\\Sent"},               {"Drafts", 1, 0, "\\Drafts"},
		{"Junk", 2, 1, "\\Junk"},               {"Trash", 1, 0, "\\Trash"},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char path[256];
		test_server_path(srv, want[i].logical, path, sizeof path);
		json_t *f = folder_by_path(arr, path);
		cr_assert_not_null(f, "%s: no folder %s", srv->name, path);
		cr_expect_eq(json_integer_value(json_object_get(f, "messages")), want[i].messages,
		             "%s messages", path);
		cr_expect_eq(json_integer_value(json_object_get(f, "unseen")), want[i].unseen,
		             "%s unseen", path);
		cr_expect(json_integer_value(json_object_get(f, "uidvalidity")) > 0);
		if (want[i].special_use)
			cr_expect_str_eq(json_string_value(json_object_get(f, "special_use")),
			                 want[i].special_use, "%s special use", path);
		/* \Marked and \Unmarked are hints that change from one LIST to the next */
		json_t *fl;
		size_t k;
		json_array_foreach(json_object_get(f, "flags"), k, fl) {
			cr_expect(strcasecmp(json_string_value(fl), "\\Marked") != 0 &&
			          strcasecmp(json_string_value(fl), "\\Unmarked") != 0,
			          "%s: %s in flags", path, json_string_value(fl));
		}
		/* GET /folders/{path}: the same counts */
		char e[512], one[600];
		test_url_escape(path, e, sizeof e);
		snprintf(one, sizeof one, "/folders/%s", e);
		json_t *o = get(&g, one);
		cr_expect_eq(json_integer_value(json_object_get(o, "messages")), want[i].messages);
		cr_expect_eq(json_integer_value(json_object_get(o, "uidvalidity")),
		             json_integer_value(json_object_get(f, "uidvalidity")));
		json_decref(o);
	}
	/* parent, name and delimiter */
	char specs[256], alpha[256];
	test_server_path(srv, "Projects/Alpha/Specs", specs, sizeof specs);
	test_server_path(srv, "Projects/Alpha", alpha, sizeof alpha);
	json_t *f = folder_by_path(arr, specs);
	cr_assert_not_null(f);
	cr_expect_str_eq(json_string_value(json_object_get(f, "name")), "Specs");
	cr_expect_str_eq(json_string_value(json_object_get(f, "parent")), alpha);
	char d[2] = {srv->delimiter, '\0'};
	cr_expect_str_eq(json_string_value(json_object_get(f, "delimiter")), d);

	/* the same answer twice in a row */
	json_t *again = get(&g, "/folders?counts=true");
	cr_expect(json_equal(j, again), "%s: two identical listings differ", srv->name);
	json_decref(again);
	/* a tree holds every folder once */
	json_t *tree = get(&g, "/folders?tree=true");
	cr_expect_not_null(json_object_get(tree, "folders"));
	json_decref(tree);
	json_decref(j);
	gw_stop(&g);
}

/* ---- paging and every sort ---- */

static const char *const sorts[] = {"arrival", "received", "date", "from",
                                    "to",      "subject",  "size"};

/* The UIDs of a whole listing, page by page (per_page), and the messages. */
static size_t walk(const struct gw *g, const char *query, unsigned per_page, json_int_t *uids,
                   size_t cap, json_t *all)
{
	size_t n = 0;
	for (unsigned page = 1; page < 200; page++) {
		char path[512];
		snprintf(path, sizeof path, "/messages?%s&per_page=%u&page=%u", query, per_page, page);
		json_t *j = get(g, path);
		json_t *msgs = json_object_get(j, "messages");
		size_t i;
		json_t *m;
		json_array_foreach(msgs, i, m) {
			cr_assert_lt(n, cap);
			uids[n++] = json_integer_value(json_object_get(m, "uid"));
			if (all)
				json_array_append(all, m);
		}
		bool last = json_array_size(msgs) < per_page ||
		            page >= json_integer_value(json_object_get(j, "pages"));
		json_decref(j);
		if (last)
			break;
	}
	return n;
}

static json_int_t field_int(json_t *m, const char *k)
{
	return json_integer_value(json_object_get(m, k));
}

PARAMS(paging_and_every_sort)
{
	test_server_need(srv);
	struct gw g, local;
	gw_start_on(&g, srv, NULL);
	/* the same server as if it had no SORT: the gateway sorts the keys itself */
	gw_start_on(&local, srv, "--imap-ignore-caps", "SORT", NULL);
	json_int_t one[INBOX_COUNT + 1], paged[INBOX_COUNT + 1], rev[INBOX_COUNT + 1];
	json_int_t mine[INBOX_COUNT + 1];
	for (size_t s = 0; s < sizeof sorts / sizeof sorts[0]; s++) {
		char q[128];
		snprintf(q, sizeof q, "folder=INBOX&sort=%s&order=asc", sorts[s]);
		json_t *all = json_array();
		size_t n1 = walk(&g, q, 500, one, INBOX_COUNT + 1, all);
		cr_assert_eq(n1, INBOX_COUNT, "%s sort=%s: %zu messages", srv->name, sorts[s], n1);
		size_t n2 = walk(&g, q, 7, paged, INBOX_COUNT + 1, NULL);
		cr_assert_eq(n2, INBOX_COUNT);
		for (size_t i = 0; i < n1; i++) {
			cr_assert_eq(one[i], paged[i], "%s sort=%s: pages differ from one page at %zu",
			             srv->name, sorts[s], i);
			for (size_t k = 0; k < i; k++)
				cr_assert_neq(one[i], one[k], "%s sort=%s: uid %lld twice", srv->name,
				              sorts[s], (long long)one[i]);
		}
		cr_assert_eq(walk(&local, q, 500, mine, INBOX_COUNT + 1, NULL), INBOX_COUNT);
		for (size_t i = 0; i < n1; i++)
			cr_expect_eq(mine[i], one[i], "%s sort=%s: the local sort differs at %zu",
			             srv->name, sorts[s], i);
		snprintf(q, sizeof q, "folder=INBOX&sort=%s&order=desc", sorts[s]);
		cr_assert_eq(walk(&g, q, 9, rev, INBOX_COUNT + 1, NULL), INBOX_COUNT);
		for (size_t i = 0; i < n1; i++)
			cr_assert_eq(rev[i], one[n1 - 1 - i], "%s sort=%s: desc is not asc reversed",
			             srv->name, sorts[s]);
		/* the keys the API shows are in order (ties on UID) */
		for (size_t i = 1; i < n1; i++) {
			json_t *a = json_array_get(all, i - 1), *b = json_array_get(all, i);
			if (strcmp(sorts[s], "received") == 0) {
				const char *ra = json_string_value(json_object_get(a, "received_at"));
				const char *rb = json_string_value(json_object_get(b, "received_at"));
				int c = ra && rb ? strcmp(ra, rb) : 0;  /* all in UTC ("Z") */
				cr_expect(c < 0 || (c == 0 && field_int(a, "uid") < field_int(b, "uid")),
				          "%s: received order at %zu", srv->name, i);
			} else if (strcmp(sorts[s], "arrival") == 0) {
				cr_expect_lt(field_int(a, "uid"), field_int(b, "uid"));
			} else if (strcmp(sorts[s], "size") == 0) {
				cr_expect(field_int(a, "size") < field_int(b, "size") ||
				          (field_int(a, "size") == field_int(b, "size") &&
				           field_int(a, "uid") < field_int(b, "uid")),
				          "%s: size order at %zu", srv->name, i);
			}
		}
		json_decref(all);
	}
	/* a cursor walk gives the same sequence as pages */
	json_int_t cur[INBOX_COUNT + 1];
	size_t n = 0;
	char path[512] = "/messages?folder=INBOX&sort=date&per_page=11";
	for (int guard = 0; guard < 20; guard++) {
		json_t *j = get(&g, path);
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(j, "messages"), i, m) {
			cr_assert_lt(n, INBOX_COUNT + 1);
			cur[n++] = field_int(m, "uid");
		}
		const char *next = json_string_value(json_object_get(j, "next_cursor"));
		bool more = next != NULL;
		if (more)
			snprintf(path, sizeof path, "/messages?folder=INBOX&sort=date&per_page=11&cursor=%s",
			         next);
		json_decref(j);
		if (!more)
			break;
	}
	cr_assert_eq(n, INBOX_COUNT);
	cr_assert_eq(walk(&g, "folder=INBOX&sort=date", 500, one, INBOX_COUNT + 1, NULL),
	             INBOX_COUNT);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(cur[i], one[i], "%s: cursor walk differs at %zu", srv->name, i);
	gw_stop(&local);
	gw_stop(&g);
}

/* ---- filters ---- */

static bool contains_ci(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

static bool addr_has(json_t *a, const char *needle)
{
	if (json_is_array(a)) {
		size_t i;
		json_t *x;
		json_array_foreach(a, i, x)
			if (addr_has(x, needle))
				return true;
		return false;
	}
	return contains_ci(json_string_value(json_object_get(a, "address")), needle) ||
	       contains_ci(json_string_value(json_object_get(a, "name")), needle);
}

enum filter { F_UNSEEN, F_FLAGGED, F_UNSUB, F_FROM, F_TO, F_SUBJECT, F_LARGER, F_SMALLER };

static bool matches(json_t *m, enum filter f)
{
	switch (f) {
	case F_UNSEEN: return !json_is_true(json_object_get(m, "seen"));
	case F_FLAGGED: return json_is_true(json_object_get(m, "flagged"));
	case F_UNSUB: return !json_is_null(json_object_get(m, "unsubscribe"));
	case F_FROM: return addr_has(json_object_get(m, "from"), "gitlab");
	case F_TO: return addr_has(json_object_get(m, "to"), "team@example.test");
	case F_SUBJECT: return contains_ci(json_string_value(json_object_get(m, "subject")),
		                               "Quarterly");
	case F_LARGER: return field_int(m, "size") > 100000;
	case F_SMALLER: return field_int(m, "size") < 2000;
	}
	return false;
}

PARAMS(filters_select_exactly_what_the_fields_say)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	json_int_t uids[INBOX_COUNT + 1], got[INBOX_COUNT + 1];
	json_t *all = json_array();
	cr_assert_eq(walk(&g, "folder=INBOX&sort=arrival&order=asc", 500, uids, INBOX_COUNT + 1, all),
	             INBOX_COUNT);
	static const struct { enum filter f; const char *q; size_t at_least; } cases[] = {
		{F_UNSEEN, "unseen=true", 17},   {F_FLAGGED, "flagged=true", 8},
		{F_UNSUB, "has_unsubscribe=true", 9}, {F_FROM, "from=gitlab", 1},
		{F_TO, "to=team%40example.test", 1}, {F_SUBJECT, "subject=quarterly", 1},
		{F_LARGER, "larger=100000", 1},  {F_SMALLER, "smaller=2000", 1},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		char q[256];
		snprintf(q, sizeof q, "folder=INBOX&sort=arrival&order=asc&%s", cases[c].q);
		json_t *sel = json_array();
		size_t n = walk(&g, q, 500, got, INBOX_COUNT + 1, sel);
		size_t want = 0, k = 0;
		size_t i;
		json_t *m;
		json_array_foreach(all, i, m) {
			if (!matches(m, cases[c].f))
				continue;
			want++;
			cr_expect(k < n && got[k] == field_int(m, "uid"), "%s %s: uid %lld missing",
			          srv->name, cases[c].q, (long long)field_int(m, "uid"));
			if (k < n && got[k] == field_int(m, "uid"))
				k++;
		}
		cr_expect_eq(n, want, "%s %s: %zu messages, the fields say %zu", srv->name,
		             cases[c].q, n, want);
		cr_expect_geq(want, cases[c].at_least, "%s %s", srv->name, cases[c].q);
		json_array_foreach(sel, i, m)
			cr_expect(matches(m, cases[c].f), "%s %s: uid %lld does not match", srv->name,
			          cases[c].q, (long long)field_int(m, "uid"));
		json_decref(sel);
	}
	json_decref(all);
	gw_stop(&g);
}

/* ---- content and downloads ---- */

/* The UID of the INBOX message whose attachment list has `filename`. */
static json_int_t find_attachment(const struct gw *g, json_t *all, const char *filename,
                                  json_t **att_out)
{
	size_t i;
	json_t *m;
	json_array_foreach(all, i, m) {
		if (!json_is_true(json_object_get(m, "has_attachments")))
			continue;
		char path[128];
		snprintf(path, sizeof path, "/messages/%lld/attachments?folder=INBOX",
		         (long long)field_int(m, "uid"));
		json_t *j = get(g, path);
		size_t k;
		json_t *a;
		json_array_foreach(json_object_get(j, "attachments"), k, a) {
			const char *fn = json_string_value(json_object_get(a, "filename"));
			if (fn && strcmp(fn, filename) == 0) {
				*att_out = json_deep_copy(a);
				json_decref(j);
				return field_int(m, "uid");
			}
		}
		json_decref(j);
	}
	return 0;
}

PARAMS(content_and_downloads)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	json_int_t uids[INBOX_COUNT + 1];
	json_t *all = json_array();
	cr_assert_eq(walk(&g, "folder=INBOX&sort=arrival&order=asc", 500, uids, INBOX_COUNT + 1, all),
	             INBOX_COUNT);
	/* seed message #2 (arrival order): text and a PDF attachment */
	json_t *m = json_array_get(all, 2);
	char path[256];
	snprintf(path, sizeof path, "/messages/%lld?folder=INBOX", (long long)field_int(m, "uid"));
	json_t *full = get(&g, path);
	cr_expect(contains_ci(json_string_value(json_object_get(full, "text")),
	                      "this is seeded message #2."),
	          "%s: text %s", srv->name, json_string_value(json_object_get(full, "text")));
	cr_expect(contains_ci(json_string_value(json_object_get(full, "text")), "\u65e5\u672c\u8a9e"));
	json_decref(full);

	const char *const names[] = {"report-2.pdf", "notes \u00e9 \u00fc.txt", "pixel.png",
	                             "\u00dcbersicht_Q3.docx", "big.bin"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		json_t *att = NULL;
		json_int_t uid = find_attachment(&g, all, names[i], &att);
		cr_assert(uid > 0, "%s: no attachment named %s", srv->name, names[i]);
		snprintf(path, sizeof path, "/messages/%lld/attachments/%s?folder=INBOX",
		         (long long)uid, json_string_value(json_object_get(att, "part")));
		struct gw_reply r;
		gw_request(&g, "GET", path, GRACE, NULL, &r);
		cr_expect_eq(r.status, 200, "%s %s: %ld", srv->name, path, r.status);
		/* decoded_size is an estimate from the structure (base64 padding and
		 * the last line's CRLF are not known there) */
		json_int_t diff = (json_int_t)r.body.len - field_int(att, "decoded_size");
		cr_expect(r.body.len > 0 && diff >= -3 && diff <= 3,
		          "%s %s: %zu bytes, decoded_size %lld", srv->name, names[i], r.body.len,
		          (long long)field_int(att, "decoded_size"));
		gw_reply_free(&r);
		json_decref(att);
	}
	/* /raw is the message as stored, its size RFC822.SIZE */
	snprintf(path, sizeof path, "/messages/%lld/raw?folder=INBOX", (long long)field_int(m, "uid"));
	struct gw_reply r;
	gw_request(&g, "GET", path, GRACE, NULL, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_eq((json_int_t)r.body.len, field_int(m, "size"));
	cr_expect(strstr(r.body.data, "X-Seed: seed_any.py/1\r\n") != NULL);
	gw_reply_free(&r);
	/* a message that is not there, a part that is not there */
	json_decref(call(&g, "GET", "/messages/999999?folder=INBOX", GRACE, NULL, 404));
	snprintf(path, sizeof path, "/messages/%lld/attachments/9?folder=INBOX",
	         (long long)field_int(m, "uid"));
	json_decref(call(&g, "GET", path, GRACE, NULL, 404));
	json_decref(all);
	gw_stop(&g);
}

/* ---- writes: heidi's own folders ---- */

static void heidi_folder(const struct gw *g, const struct test_server *srv, const char *logical,
                         char *path, size_t cap)
{
	test_server_path(srv, logical, path, cap);
	char body[512];
	snprintf(body, sizeof body, "{\"path\":\"%s\"}", path);
	struct gw_reply r;
	gw_request_body(g, "POST", "/folders", HEIDI, "application/json", body, strlen(body), &r);
	cr_assert(r.status == 201 || r.status == 409, "%s: create %s: %ld %s", srv->name, path,
	          r.status, r.body.data);
	gw_reply_free(&r);
}

static json_int_t append(const struct gw *g, const char *folder, const char *subject)
{
	char msg[512], e[256], path[512];
	snprintf(msg, sizeof msg,
	         "From: Heidi <heidi@example.test>\r\nTo: x@example.test\r\nSubject: %s\r\n"
	         "Message-ID: <%s.%d@example.test>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n"
	         "Body of %s.\r\n",
	         subject, subject, (int)getpid(), subject);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s", e);
	struct gw_reply r;
	gw_request_body(g, "POST", path, HEIDI, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 201, "append to %s: %ld %s", folder, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	json_int_t uid = field_int(j, "uid");
	cr_assert(uid > 0, "append gives the new UID: %s", r.body.data);
	json_decref(j);
	gw_reply_free(&r);
	return uid;
}

static json_int_t count(const struct gw *g, const char *folder)
{
	char e[256], path[512];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s", e);
	json_t *j = call(g, "GET", path, HEIDI, NULL, 200);
	json_int_t n = field_int(j, "messages");
	json_decref(j);
	return n;
}

PARAMS(flags_move_copy_delete_append)
{
	test_server_need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "heidi-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char src[256], dst[256], trash[256], e[256], path[640], body[512];
	heidi_folder(&g, srv, "Work", src, sizeof src);
	heidi_folder(&g, srv, "Work/Done", dst, sizeof dst);
	heidi_folder(&g, srv, "Trash", trash, sizeof trash);
	json_int_t before_src = count(&g, src), before_dst = count(&g, dst);
	json_int_t before_trash = count(&g, trash);
	json_int_t a = append(&g, src, "first"), b = append(&g, src, "second");
	json_int_t c = append(&g, src, "third");
	cr_assert_eq(count(&g, src), before_src + 3);
	test_url_escape(src, e, sizeof e);

	/* flags: add, remove, replace, read back */
	snprintf(path, sizeof path, "/messages/%lld/flags?folder=%s", (long long)a, e);
	json_t *j = call(&g, "PATCH", path, HEIDI, "{\"add\":[\"\\\\Flagged\",\"\\\\Seen\"]}", 200);
	json_decref(j);
	j = call(&g, "GET", path, HEIDI, NULL, 200);
	char *dump = json_dumps(j, JSON_COMPACT);
	cr_expect(strstr(dump, "\\\\Flagged") && strstr(dump, "\\\\Seen"), "%s: %s", srv->name, dump);
	free(dump);
	json_decref(j);
	j = call(&g, "PUT", path, HEIDI, "{\"flags\":[\"\\\\Answered\"]}", 200);
	json_decref(j);
	j = call(&g, "GET", path, HEIDI, NULL, 200);
	dump = json_dumps(j, JSON_COMPACT);
	cr_expect(strstr(dump, "\\\\Answered") && !strstr(dump, "\\\\Flagged"), "%s: %s", srv->name,
	          dump);
	free(dump);
	json_decref(j);

	/* copy: the source keeps it; the copy's UID is reported */
	snprintf(path, sizeof path, "/messages/%lld/copy?folder=%s", (long long)b, e);
	snprintf(body, sizeof body, "{\"to\":\"%s\"}", dst);
	j = call(&g, "POST", path, HEIDI, body, 200);
	dump = json_dumps(j, JSON_COMPACT);
	cr_expect(strstr(dump, "uid"), "%s: copy answer %s", srv->name, dump);
	free(dump);
	json_decref(j);
	cr_expect_eq(count(&g, src), before_src + 3);
	cr_expect_eq(count(&g, dst), before_dst + 1);

	/* move (Courier has no MOVE: COPY + \Deleted + UID EXPUNGE of that UID) */
	snprintf(path, sizeof path, "/messages/%lld/move?folder=%s", (long long)c, e);
	j = call(&g, "POST", path, HEIDI, body, 200);
	json_decref(j);
	cr_expect_eq(count(&g, src), before_src + 2, "%s: moved away", srv->name);
	cr_expect_eq(count(&g, dst), before_dst + 2);
	snprintf(path, sizeof path, "/messages/%lld?folder=%s", (long long)c, e);
	json_decref(call(&g, "GET", path, HEIDI, NULL, 404));

	/* delete: to Trash, then for good */
	snprintf(path, sizeof path, "/messages/%lld?folder=%s", (long long)b, e);
	struct gw_reply r;
	gw_request(&g, "DELETE", path, HEIDI, NULL, &r);
	cr_expect(r.status == 200 || r.status == 204, "%s: delete %ld %s", srv->name, r.status,
	          r.body.data);
	gw_reply_free(&r);
	cr_expect_eq(count(&g, trash), before_trash + 1, "%s: in the Trash", srv->name);
	snprintf(path, sizeof path, "/messages/%lld?folder=%s&permanent=true", (long long)a, e);
	gw_request(&g, "DELETE", path, HEIDI, NULL, &r);
	cr_expect(r.status == 200 || r.status == 204, "%s: permanent delete %ld %s", srv->name,
	          r.status, r.body.data);
	gw_reply_free(&r);
	cr_expect_eq(count(&g, src), before_src, "%s: both gone", srv->name);
	gw_stop(&g);
	test_user_unlock();
}

/* A message another client has just appended is readable at once through
 * a pooled session that had the folder selected before it came (one
 * session per user, so it is that session). */
PARAMS(a_message_appended_elsewhere_is_read_at_once)
{
	test_server_need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "heidi-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, "--pool-per-user", "1", "--index-max-mb", "0", NULL);
	char folder[256], e[256], path[640];
	heidi_folder(&g, srv, "Fresh", folder, sizeof folder);
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s", e);
	json_decref(call(&g, "GET", path, HEIDI, NULL, 200));  /* the session selects it */

	struct imap_session *s = test_imap_login_on(srv, HEIDI);
	struct imap_error err = {0};
	char msg[256];
	snprintf(msg, sizeof msg, "From: x@example.test\r\nSubject: fresh %d\r\n\r\nJust now.\r\n",
	         (int)getpid());
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, folder, strlen(folder));
	imap_cmd_literal(&c, msg, strlen(msg));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, imap_now_ms() + 15000, &err), 0, "%s",
	             err.msg);
	imap_cmd_free(&c);
	const struct imap_response *t = imap_session_last_tagged(s);
	uint64_t uid = 0;
	cr_assert(t && t->code && imap_value_is_atom(imap_value_at(t->code, 0), "APPENDUID"),
	          "%s: no APPENDUID", srv->name);
	cr_assert_eq(imap_value_u64(imap_value_at(t->code, 2), UINT32_MAX, &uid), 0);
	imap_session_logout(&s, imap_now_ms() + 15000);

	static const char *const suffixes[] = {"", "/raw", "/attachments"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "/messages/%llu%s?folder=%s", (unsigned long long)uid,
		         suffixes[i], e);
		struct gw_reply r;
		gw_request(&g, "GET", path, HEIDI, NULL, &r);
		cr_expect_eq(r.status, 200, "%s: GET %s: %ld %s", srv->name, path, r.status,
		             r.body.data);
		gw_reply_free(&r);
	}
	gw_stop(&g);
	test_user_unlock();
}

PARAMS(folder_writes_with_non_ascii_names)
{
	test_server_need(srv);
	char lock[64];
	snprintf(lock, sizeof lock, "heidi-%s", srv->name);
	test_user_lock(lock);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char p1[256], p2[256], child[256], body[600], e[256], path[600];
	test_server_path(srv, "Caf\u00e9 & Co/\u65e5\u672c", p1, sizeof p1);
	test_server_path(srv, "Caf\u00e9 & Co", p2, sizeof p2);
	/* leftovers of an earlier run of this test */
	test_url_escape(p2, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s?force=true", e);
	struct gw_reply r;
	gw_request(&g, "DELETE", path, HEIDI, NULL, &r);
	gw_reply_free(&r);

	snprintf(body, sizeof body, "{\"path\":\"%s\"}", p1);
	json_decref(call(&g, "POST", "/folders", HEIDI, body, 201));
	json_decref(call(&g, "POST", "/folders", HEIDI, body, 409));
	json_t *j = call(&g, "GET", "/folders", HEIDI, NULL, 200);
	json_t *f = folder_by_path(json_object_get(j, "folders"), p1);
	cr_assert_not_null(f, "%s: %s not listed", srv->name, p1);
	cr_expect(json_is_true(json_object_get(f, "subscribed")));
	cr_expect_str_eq(json_string_value(json_object_get(f, "parent")), p2);
	json_decref(j);

	/* rename the child, unsubscribe it */
	test_server_path(srv, "Caf\u00e9 & Co/Tokyo", child, sizeof child);
	test_url_escape(p1, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s", e);
	snprintf(body, sizeof body, "{\"path\":\"%s\",\"subscribed\":false}", child);
	json_decref(call(&g, "PATCH", path, HEIDI, body, 200));
	j = call(&g, "GET", "/folders", HEIDI, NULL, 200);
	cr_expect_null(folder_by_path(json_object_get(j, "folders"), p1));
	f = folder_by_path(json_object_get(j, "folders"), child);
	cr_assert_not_null(f, "%s: %s not listed after the rename", srv->name, child);
	cr_expect(json_is_false(json_object_get(f, "subscribed")));
	json_decref(j);

	/* a folder with sub-folders goes only with force */
	test_url_escape(p2, e, sizeof e);
	snprintf(path, sizeof path, "/folders/%s", e);
	json_decref(call(&g, "DELETE", path, HEIDI, NULL, 409));
	snprintf(path, sizeof path, "/folders/%s?force=true", e);
	gw_request(&g, "DELETE", path, HEIDI, NULL, &r);
	cr_expect(r.status == 200 || r.status == 204, "%s: %ld %s", srv->name, r.status, r.body.data);
	gw_reply_free(&r);
	j = call(&g, "GET", "/folders", HEIDI, NULL, 200);
	cr_expect_null(folder_by_path(json_object_get(j, "folders"), p2));
	cr_expect_null(folder_by_path(json_object_get(j, "folders"), child));
	json_decref(j);
	gw_stop(&g);
	test_user_unlock();
}

/* ---- account facts ---- */

PARAMS(account_facts)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	json_t *j = get(&g, "/account");
	json_t *ns = json_object_get(j, "namespace");
	char delim[2] = {srv->delimiter, '\0'};
	cr_expect_str_eq(json_string_value(json_object_get(ns, "prefix")), srv->prefix, "%s",
	                 srv->name);
	cr_expect_str_eq(json_string_value(json_object_get(ns, "delimiter")), delim, "%s",
	                 srv->name);
	static const struct { const char *key, *logical; } uses[] = {
		{"sent", "Sent"}, {"drafts", "Drafts"}, {"junk", "Junk"}, {"trash", "Trash"},
	};
	json_t *su = json_object_get(j, "special_use");
	for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) {
		char path[64];
		test_server_path(srv, uses[i].logical, path, sizeof path);
		cr_expect_str_eq(json_string_value(json_object_get(su, uses[i].key)), path, "%s %s",
		                 srv->name, uses[i].key);
	}
	/* the capabilities say what the server's list says, but SORT, which the
	 * gateway does not use on Courier */
	json_t *caps = json_object_get(j, "capabilities");
	json_t *list = json_object_get(j, "server_capabilities");
	bool move = false, esearch = false, quota = false;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		move |= strcmp(json_string_value(v), "MOVE") == 0;
		esearch |= strcmp(json_string_value(v), "ESEARCH") == 0;
		quota |= strcmp(json_string_value(v), "QUOTA") == 0;
	}
	cr_expect_eq(json_is_true(json_object_get(caps, "move")), move, "%s move", srv->name);
	cr_expect_eq(json_is_true(json_object_get(caps, "esearch")), esearch, "%s", srv->name);
	cr_expect_eq(json_is_true(json_object_get(caps, "quota")), quota, "%s", srv->name);
	cr_expect_eq(json_is_true(json_object_get(caps, "sort")), strcmp(srv->name, "courier") != 0,
	             "%s sort", srv->name);
	json_t *limit = json_object_get(j, "append_limit");
	bool stated = false;
	json_array_foreach(list, i, v) {
		const char *c = json_string_value(v);
		if (strncmp(c, "APPENDLIMIT=", 12) == 0) {
			stated = true;
			cr_expect_eq(json_integer_value(limit), strtoll(c + 12, NULL, 10), "%s", srv->name);
		}
	}
	if (!stated)
		cr_expect(json_is_null(limit), "%s: append_limit without APPENDLIMIT=", srv->name);
	json_t *q = json_object_get(j, "quota");
	cr_expect(json_is_null(q) || json_is_object(q), "%s", srv->name);
	if (!quota)
		cr_expect(json_is_null(q), "%s: quota without QUOTA", srv->name);
	json_decref(j);
	gw_stop(&g);
}

/* ---- search across folders ---- */

/* Every hit of a search walked with per_page and next_cursor; checks the
 * order (newest first) on the way. Returns the number of hits. */
static size_t search_walk(const struct gw *g, const char *query, unsigned per_page,
                          json_t *hits)
{
	char path[1024], cursor[256] = "";
	size_t n = 0;
	char *prev = NULL;
	for (int round = 0; round < 100; round++) {
		snprintf(path, sizeof path, "/search?%s&per_page=%u%s%s", query, per_page,
		         cursor[0] ? "&cursor=" : "", cursor);
		json_t *j = get(g, path);
		cr_assert(json_is_false(json_object_get(j, "partial")), "%s", path);
		json_t *m;
		size_t i;
		json_array_foreach(json_object_get(j, "messages"), i, m) {
			const char *at = json_string_value(json_object_get(m, "received_at"));
			/* RFC 3339 with the same offset (UTC) compares as text */
			if (prev && at)
				cr_expect(strcmp(prev, at) >= 0, "newest first: %s then %s", prev, at);
			json_array_append(hits, m);
			n++;
		}
		free(prev);
		prev = NULL;
		size_t k = json_array_size(hits);
		if (k)
			prev = strdup(json_string_value(json_object_get(json_array_get(hits, k - 1),
			                                                "received_at")));
		json_t *next = json_object_get(j, "next_cursor");
		if (!json_is_string(next)) {
			json_decref(j);
			break;
		}
		snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
		json_decref(j);
	}
	free(prev);
	return n;
}

PARAMS(search_across_folders)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	/* "<leaf> item 1" is in every folder the seed fills but INBOX */
	json_t *hits = json_array();
	size_t n = search_walk(&g, "subject=item%201", 3, hits);
	static const char *const want[] = {
		"Archive/2023", "Archive/2024", "Projects/Alpha/Specs", "Projects/\u65e5\u672c\u8a9e",
		"Travel Plans", "Donn\u00e9es", "Receipts & Bills", "Sent", "Drafts",
	};
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
		char path[128];
		test_server_path(srv, want[w], path, sizeof path);
		size_t found = 0, i;
		json_t *m;
		json_array_foreach(hits, i, m)
			found += strcmp(json_string_value(json_object_get(m, "folder")), path) == 0;
		cr_expect_eq(found, 1, "%s: %zu hits in %s", srv->name, found, path);
	}
	/* Trash and Junk are not searched unless named; no hit twice */
	size_t i;
	json_t *m;
	json_array_foreach(hits, i, m) {
		const char *f = json_string_value(json_object_get(m, "folder"));
		cr_expect(!strstr(f, "Trash") && !strstr(f, "Junk"), "%s: a hit in %s", srv->name, f);
		cr_expect(strstr(json_string_value(json_object_get(m, "subject")), "item 1") != NULL);
		for (size_t k = 0; k < i; k++) {
			json_t *o = json_array_get(hits, k);
			cr_expect(!(json_integer_value(json_object_get(o, "uid")) ==
			                    json_integer_value(json_object_get(m, "uid")) &&
			            strcmp(json_string_value(json_object_get(o, "folder")), f) == 0),
			          "%s: %s %lld twice", srv->name, f,
			          (long long)json_integer_value(json_object_get(m, "uid")));
		}
	}
	/* one page holding everything: the same hits in the same order */
	json_t *all = json_array();
	cr_expect_eq(search_walk(&g, "subject=item%201", 500, all), n);
	json_array_foreach(all, i, m) {
		json_t *o = json_array_get(hits, i);
		cr_expect_eq(json_integer_value(json_object_get(o, "uid")),
		             json_integer_value(json_object_get(m, "uid")));
	}
	json_decref(all);
	json_decref(hits);

	/* named folders: Trash too, and a non-ASCII one */
	char trash[64], donnees[64], e1[128], e2[128], path[512];
	test_server_path(srv, "Trash", trash, sizeof trash);
	test_server_path(srv, "Donn\u00e9es", donnees, sizeof donnees);
	test_url_escape(trash, e1, sizeof e1);
	test_url_escape(donnees, e2, sizeof e2);
	snprintf(path, sizeof path, "/search?subject=item&folders=%s&folders=%s", e1, e2);
	json_t *j = get(&g, path);
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 1 + 3, "%s: %s", srv->name,
	             path);
	cr_expect_eq(json_array_size(json_object_get(j, "folders")), 2);
	json_decref(j);
	/* an unknown named folder is a 404 */
	json_decref(call(&g, "GET", "/search?folders=No%20such%20folder", GRACE, NULL, 404));
	json_decref(call(&g, "GET", "/search?q=x&text=y", GRACE, NULL, 400));
	gw_stop(&g);

	/* past --search-max-hits the answer is what was found, partial */
	gw_start_on(&g, srv, "--search-max-hits", "2", NULL);
	j = get(&g, "/search?subject=item");
	cr_expect(json_is_true(json_object_get(j, "partial")), "%s", srv->name);
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 2);
	json_decref(j);
	gw_stop(&g);
}

/* ---- conversations ---- */

static json_int_t append_raw(const struct gw *g, const char *folder, const char *msg)
{
	char e[256], path[512];
	test_url_escape(folder, e, sizeof e);
	snprintf(path, sizeof path, "/messages?folder=%s", e);
	struct gw_reply r;
	gw_request_body(g, "POST", path, HEIDI, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 201, "append to %s: %ld %s", folder, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	json_int_t uid = field_int(j, "uid");
	json_decref(j);
	gw_reply_free(&r);
	return uid;
}

/* Each thread of a /threads answer as its UIDs, ascending, one line per
 * thread, in the answer's order. */
static void thread_lines(json_t *j, char *out, size_t cap)
{
	size_t k = 0, i;
	json_t *t;
	out[0] = '\0';
	json_array_foreach(json_object_get(j, "threads"), i, t) {
		json_t *uids = json_object_get(t, "uids");
		size_t n = json_array_size(uids);
		json_int_t v[512];
		cr_assert(n < 512);
		for (size_t a = 0; a < n; a++)
			v[a] = json_integer_value(json_array_get(uids, a));
		for (size_t a = 1; a < n; a++)  /* insertion sort: few */
			for (size_t b = a; b > 0 && v[b - 1] > v[b]; b--) {
				json_int_t x = v[b];
				v[b] = v[b - 1];
				v[b - 1] = x;
			}
		for (size_t a = 0; a < n && k + 16 < cap; a++)
			k += (size_t)snprintf(out + k, cap - k, "%s%lld", a ? " " : "", (long long)v[a]);
		if (k + 2 < cap)
			out[k++] = '\n';
		out[k] = '\0';
	}
}

PARAMS(conversation_across_inbox_and_sent)
{
	test_server_need(srv);
	test_user_lock("heidi");
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char sent[64], msg[1024];
	heidi_folder(&g, srv, "Sent", sent, sizeof sent);
	int pid = (int)getpid();
	snprintf(msg, sizeof msg,
	         "From: Ann <ann@example.test>\r\nTo: heidi@example.test\r\nSubject: Trip %d\r\n"
	         "Message-ID: <trip.%d@example.test>\r\nDate: Sun, 1 Jun 2025 10:00:00 +0000\r\n\r\n"
	         "Shall we go?\r\n", pid, pid);
	json_int_t first = append_raw(&g, "INBOX", msg);
	snprintf(msg, sizeof msg,
	         "From: Heidi <heidi@example.test>\r\nTo: ann@example.test\r\nSubject: Re: Trip %d\r\n"
	         "Message-ID: <trip-re.%d@example.test>\r\nIn-Reply-To: <trip.%d@example.test>\r\n"
	         "References: <trip.%d@example.test>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\n"
	         "Yes.\r\n", pid, pid, pid, pid);
	json_int_t reply = append_raw(&g, sent, msg);
	snprintf(msg, sizeof msg,
	         "From: Ann <ann@example.test>\r\nTo: heidi@example.test\r\nSubject: Re: Re: Trip %d\r\n"
	         "Message-ID: <trip-re-re.%d@example.test>\r\nIn-Reply-To: <trip-re.%d@example.test>\r\n"
	         "References: <trip.%d@example.test> <trip-re.%d@example.test>\r\n"
	         "Date: Tue, 3 Jun 2025 10:00:00 +0000\r\n\r\nGood.\r\n", pid, pid, pid, pid, pid);
	json_int_t last = append_raw(&g, "INBOX", msg);

	/* every summary names the same conversation */
	char path[2400], e[128];
	test_url_escape(sent, e, sizeof e);
	snprintf(path, sizeof path, "/search?subject=Trip%%20%d&folders=INBOX&folders=%s", pid, e);
	json_t *j = call(&g, "GET", path, HEIDI, NULL, 200);
	json_t *hits = json_object_get(j, "messages");
	cr_assert_eq(json_array_size(hits), 3, "%s: %s", srv->name, json_dumps(j, 0));
	char id[2100];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(json_array_get(hits, 0),
	                                                                  "thread_id")));
	for (size_t i = 1; i < 3; i++)
		cr_expect_str_eq(json_string_value(json_object_get(json_array_get(hits, i), "thread_id")),
		                 id, "%s", srv->name);
	json_decref(j);

	/* the whole conversation, INBOX and Sent, in date order */
	snprintf(path, sizeof path, "/threads/%s", id);
	j = call(&g, "GET", path, HEIDI, NULL, 200);
	json_t *msgs = json_object_get(j, "messages");
	cr_assert_eq(json_array_size(msgs), 3, "%s: %s", srv->name, json_dumps(j, 0));
	const char *want_folder[] = {"INBOX", sent, "INBOX"};
	json_int_t want_uid[] = {first, reply, last};
	for (size_t i = 0; i < 3; i++) {
		json_t *m = json_array_get(msgs, i);
		cr_expect_str_eq(json_string_value(json_object_get(m, "folder")), want_folder[i],
		                 "%s message %zu", srv->name, i);
		cr_expect_eq(field_int(m, "uid"), want_uid[i], "%s message %zu", srv->name, i);
	}
	char subject[64];
	snprintf(subject, sizeof subject, "Trip %d", pid);
	cr_expect_str_eq(json_string_value(json_object_get(j, "subject")), subject);
	cr_expect_eq(field_int(j, "count"), 3);
	cr_expect_eq(json_array_size(json_object_get(j, "participants")), 2, "%s", srv->name);
	json_decref(j);
	json_decref(call(&g, "GET", "/threads/bm90LWFuLWlk", HEIDI, NULL, 400));
	json_decref(call(&g, "GET", "/threads/bTxub25lLXN1Y2hAeD4", HEIDI, NULL, 404));

	/* GET /threads: the INBOX part of it, newest first */
	j = call(&g, "GET", "/threads?per_page=500", HEIDI, NULL, 200);
	json_t *t, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(j, "threads"), i, t)
		if (strcmp(json_string_value(json_object_get(t, "thread_id")), id) == 0)
			found = t;
	cr_assert_not_null(found, "%s: no thread %s in %s", srv->name, id, json_dumps(j, 0));
	cr_expect_eq(field_int(found, "count"), 2);
	cr_expect_eq(field_int(json_object_get(found, "latest"), "uid"), last);
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "server");
	char by_server[8192];
	thread_lines(j, by_server, sizeof by_server);
	json_decref(j);
	gw_stop(&g);

	/* the gateway's own threading of the same folder: the same conversations */
	gw_start_on(&g, srv, "--imap-ignore-caps", "THREAD=REFERENCES", NULL);
	j = call(&g, "GET", "/threads?per_page=500", HEIDI, NULL, 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "gateway");
	char by_gateway[8192];
	thread_lines(j, by_gateway, sizeof by_gateway);
	cr_expect_str_eq(by_gateway, by_server, "%s: gateway\n%s\nserver\n%s", srv->name,
	                 by_gateway, by_server);
	json_decref(j);
	gw_stop(&g);
	test_user_unlock();
}

/* grace's INBOX (the seed's thread, subjects of every kind): the server's
 * THREAD and the gateway's own threading make the same conversations */
PARAMS(threads_server_and_gateway_agree)
{
	test_server_need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	json_t *j = get(&g, "/threads?per_page=500");
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "server");
	char by_server[8192], by_gateway[8192];
	thread_lines(j, by_server, sizeof by_server);
	/* the seed's conversation: messages 10 to 14 of INBOX */
	json_t *t;
	size_t i, five = 0;
	json_array_foreach(json_object_get(j, "threads"), i, t)
		five += field_int(t, "count") == 5 &&
		        strcmp(json_string_value(json_object_get(t, "subject")), "Thread test") == 0;
	cr_expect_eq(five, 1, "%s: %s", srv->name, by_server);
	json_decref(j);
	gw_stop(&g);
	gw_start_on(&g, srv, "--imap-ignore-caps", "THREAD=REFERENCES", NULL);
	j = get(&g, "/threads?per_page=500");
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "gateway");
	thread_lines(j, by_gateway, sizeof by_gateway);
	cr_expect_str_eq(by_gateway, by_server, "%s: gateway\n%s\nserver\n%s", srv->name,
	                 by_gateway, by_server);
	json_decref(j);
	gw_stop(&g);
}
