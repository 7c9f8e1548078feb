/*
 * Account facts, search across folders and conversations against the
 * private Dovecot: GET /account's quota beside `doveadm quota get`, and
 * the threads of the gateway beside Dovecot's own `UID THREAD REFERENCES`
 * on kim's mailbox, where each test appends the conversations it needs.
 * (The same routes on Cyrus and Courier: tests/integration/test_servers.c.)
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/clock.h"
#include "imap/conn.h"
#include "imap/mail/thread.h"
#include "imap/threads.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(conversations, .init = setup, .timeout = 300);

#define GRACE "grace", "grace-secret"
#define KIM "kim", "kim-secret"

static json_t *get_as(const struct gw *g, const char *user, const char *pw, const char *path,
                      long want)
{
	struct gw_reply r;
	gw_request(g, "GET", path, user, pw, NULL, &r);
	cr_assert_eq(r.status, want, "GET %s: %ld %s", path, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	cr_assert_not_null(j, "GET %s: not JSON: %.300s", path, r.body.data);
	gw_reply_free(&r);
	return j;
}

/* ---- GET /account ---- */

/* `doveadm quota get` of user: value and limit of STORAGE (KiB) and MESSAGE. */
static void doveadm_quota(const char *user, long long *storage, long long *storage_limit,
                          long long *messages, long long *messages_limit)
{
	char cmd[512], line[512];
	snprintf(cmd, sizeof cmd, "%s -f tab quota get -u %s", getenv("IMAPGW_TEST_DOVEADM"), user);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	int found = 0;
	while (fgets(line, sizeof line, p)) {
		char name[128], type[32];
		long long value, limit;
		if (sscanf(line, "%127[^\t]\t%31[^\t]\t%lld\t%lld", name, type, &value, &limit) != 4)
			continue;
		if (strcmp(type, "STORAGE") == 0) {
			*storage = value;
			*storage_limit = limit;
			found++;
		} else if (strcmp(type, "MESSAGE") == 0) {
			*messages = value;
			*messages_limit = limit;
			found++;
		}
	}
	cr_assert_eq(pclose(p), 0, "%s", cmd);
	cr_assert_eq(found, 2, "%s: no STORAGE and MESSAGE lines", cmd);
}

Test(conversations, account_quota_is_doveadms)
{
	struct gw g;
	gw_start(&g, NULL);
	json_t *j = get_as(&g, GRACE, "/account", 200);
	long long st = -1, st_limit = -1, msgs = -1, msgs_limit = -1;
	doveadm_quota("grace", &st, &st_limit, &msgs, &msgs_limit);
	json_t *q = json_object_get(j, "quota");
	cr_assert(json_is_object(q), "quota: %s", json_dumps(j, 0));
	cr_expect_str_eq(json_string_value(json_object_get(q, "root")), "User quota");
	json_t *s = json_object_get(q, "storage"), *m = json_object_get(q, "messages");
	cr_expect_eq(json_integer_value(json_object_get(s, "used")), st * 1024);
	cr_expect_eq(json_integer_value(json_object_get(s, "limit")), st_limit * 1024);
	cr_expect_eq(json_integer_value(json_object_get(m, "used")), msgs);
	cr_expect_eq(json_integer_value(json_object_get(m, "limit")), msgs_limit);
	cr_expect(msgs > 50, "grace holds the seed set: %lld messages", msgs);
	/* the rest of the facts, as Dovecot states them */
	json_t *caps = json_object_get(j, "capabilities");
	cr_expect(json_is_true(json_object_get(caps, "sort")));
	cr_expect(json_is_true(json_object_get(caps, "condstore")));
	cr_expect(json_is_true(json_object_get(caps, "quota")));
	bool refs = false;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(caps, "thread"), i, v)
		refs |= strcmp(json_string_value(v), "REFERENCES") == 0;
	cr_expect(refs, "THREAD=REFERENCES among %s", json_dumps(caps, 0));
	json_t *ns = json_object_get(j, "namespace");
	cr_expect_str_eq(json_string_value(json_object_get(ns, "prefix")), "");
	cr_expect_str_eq(json_string_value(json_object_get(ns, "delimiter")), "/");
	json_t *su = json_object_get(j, "special_use");
	cr_expect_str_eq(json_string_value(json_object_get(su, "sent")), "Sent");
	cr_expect_str_eq(json_string_value(json_object_get(su, "trash")), "Trash");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "id"), "name")),
	                 "Dovecot");
	json_decref(j);
	gw_stop(&g);
}

/* ---- threads: the gateway's algorithm beside Dovecot's THREAD ---- */

struct kim_msg {
	const char *headers;  /* Message-ID, References ... (may be "") */
	const char *subject;
	int day;              /* Date: <day> Mar 2025 */
};

/* The awkward cases, in mailbox order: a plain conversation, replies to a
 * message that is not there (two of them, and one alone), a cycle in
 * References, one subject without references (with Re:, Fwd: and list
 * tags), no Message-ID, a Message-ID seen before, In-Reply-To alone, and a
 * References chain that puts an existing root under new parents. */
static const struct kim_msg awkward[] = {
	{"Message-ID: <a@t>\r\n", "Plans", 1},
	{"Message-ID: <b@t>\r\nIn-Reply-To: <a@t>\r\nReferences: <a@t>\r\n", "Re: Plans", 2},
	{"Message-ID: <c@t>\r\nReferences: <a@t> <b@t>\r\n", "Re: Plans", 3},
	{"Message-ID: <d@t>\r\nReferences: <a@t>\r\n", "Re: Plans", 5},
	{"Message-ID: <e@t>\r\nReferences: <missing1@t>\r\n", "Re: Missing", 4},
	{"Message-ID: <f@t>\r\nReferences: <missing1@t>\r\n", "Re: Missing", 6},
	{"Message-ID: <g@t>\r\nReferences: <missing2@t>\r\n", "Orphan reply", 7},
	{"Message-ID: <h@t>\r\nReferences: <i@t>\r\n", "Loop one", 8},
	{"Message-ID: <i@t>\r\nReferences: <h@t>\r\n", "Loop two", 9},
	{"Message-ID: <j@t>\r\n", "Lunch", 10},
	{"Message-ID: <k@t>\r\n", "Lunch", 11},
	{"Message-ID: <l@t>\r\n", "Re: Lunch", 12},
	{"Message-ID: <m@t>\r\n", "Fwd: Lunch", 13},
	{"Message-ID: <n@t>\r\n", "RE: [team] Budget", 14},
	{"Message-ID: <o@t>\r\n", "Budget (fwd)", 15},
	{"Message-ID: <p@t>\r\n", "[team] Budget", 16},
	{"", "Lonely", 17},
	{"Message-ID: <a@t>\r\n", "Plans again", 18},
	{"Message-ID: <s@t>\r\nIn-Reply-To: <c@t>\r\n", "Re: Plans", 19},
	{"Message-ID: <t@t>\r\nReferences: <x@t> <y@t> <a@t>\r\n", "Re: Plans", 20},
	{"Message-ID: <u@t>\r\nReferences: <j@t>\r\n", "Re: Lunch", 21},
	{"Message-ID: <v@t>\r\n", "Re: Re: Fwd: Orphan reply", 22},
};

/* Create kim's folder (fresh) and append msgs with doveadm. */
static void kim_folder(const char *folder, const struct kim_msg *msgs, size_t n)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s mailbox delete -u kim '%s' >/dev/null 2>&1",
	         getenv("IMAPGW_TEST_DOVEADM"), folder);
	(void)system(cmd);
	snprintf(cmd, sizeof cmd, "%s mailbox create -u kim '%s'", getenv("IMAPGW_TEST_DOVEADM"),
	         folder);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	for (size_t i = 0; i < n; i++) {
		snprintf(cmd, sizeof cmd, "%s save -u kim -m '%s'", getenv("IMAPGW_TEST_DOVEADM"),
		         folder);
		FILE *p = popen(cmd, "w");
		cr_assert_not_null(p);
		fprintf(p, "From: Person %zu <p%zu@example.test>\r\nTo: kim@example.test\r\n"
		           "Subject: %s\r\nDate: %02d Mar 2025 10:00:00 +0000\r\n%s\r\nBody %zu.\r\n",
		        i % 3, i % 3, msgs[i].subject, msgs[i].day, msgs[i].headers, i);
		cr_assert_eq(pclose(p), 0, "%s", cmd);
	}
}

/* The folder's threads as the server gives them and as the local
 * algorithm makes them from the messages' headers, in THREAD syntax. */
static void both_threadings(const char *folder, struct imap_buf *server, struct imap_buf *local)
{
	struct imap_tls *tls = test_tls_open();
	struct imap_session *s = test_imap_login(tls, KIM);
	struct imap_error err = {0};
	int64_t deadline = imap_now_ms() + 30000;
	struct imap_folder_threads ft;
	cr_assert_eq(imap_threads_folder(s, folder, 100000, deadline, &ft, &err), 0, "%s", err.msg);
	cr_assert(ft.by_server);
	uint32_t *ids = calloc(ft.n + 1, sizeof *ids);
	for (size_t i = 0; i < ft.n; i++)
		ids[i] = ft.m[i].uid;
	imap_threads_format(&ft.t, ids, server);

	struct imap_page p;
	cr_assert_eq(imap_messages_fetch(s, folder, ids, ft.n, deadline, &p, &err), 0, "%s", err.msg);
	cr_assert_eq(p.n, ft.n);
	struct imap_thread_msg *in = calloc(p.n + 1, sizeof *in);
	for (size_t i = 0; i < p.n; i++) {
		cr_assert_eq(p.msgs[i].uid, ids[i]);  /* mailbox order */
		imap_thread_msg_of(&p.msgs[i], &in[i]);
	}
	struct imap_threads t;
	cr_assert_eq(imap_thread_references(in, p.n, &t), 0);
	imap_threads_format(&t, ids, local);
	imap_threads_free(&t);
	free(in);
	imap_page_free(&p);
	free(ids);
	imap_folder_threads_free(&ft);
	imap_session_logout(&s, imap_now_ms() + 5000);
	imap_tls_free(&tls);
}

Test(conversations, local_threading_is_dovecots)
{
	test_user_lock("kim");
	kim_folder("Awkward", awkward, sizeof awkward / sizeof awkward[0]);
	struct imap_buf server, local;
	imap_buf_init(&server, 0);
	imap_buf_init(&local, 0);
	both_threadings("Awkward", &server, &local);
	cr_expect_str_eq(local.data, server.data, "local %s\nDovecot %s", local.data, server.data);
	imap_buf_free(&server);
	imap_buf_free(&local);
	test_user_unlock();
}

/* The awkward cases through the API: the server's threads and the
 * gateway's own, conversation by conversation, in the same order. */
static void thread_uids(json_t *j, char *out, size_t cap)
{
	size_t k = 0, i;
	json_t *t;
	out[0] = '\0';
	json_array_foreach(json_object_get(j, "threads"), i, t) {
		size_t a;
		json_t *u;
		json_array_foreach(json_object_get(t, "uids"), a, u)
			k += (size_t)snprintf(out + k, cap - k, "%s%lld", a ? " " : "",
			                      (long long)json_integer_value(u));
		k += (size_t)snprintf(out + k, cap - k, "|");
	}
}

Test(conversations, api_threads_server_and_gateway_agree)
{
	test_user_lock("kim");
	kim_folder("Awkward2", awkward, sizeof awkward / sizeof awkward[0]);
	struct gw g;
	char server[4096], local[4096];
	gw_start(&g, NULL);
	json_t *j = get_as(&g, KIM, "/threads?folder=Awkward2&per_page=500", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "server");
	thread_uids(j, server, sizeof server);
	/* newest first: the conversation of message 22 ("Orphan reply") leads */
	json_t *top = json_array_get(json_object_get(j, "threads"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(top, "subject")), "Orphan reply");
	cr_expect_eq(json_integer_value(json_object_get(top, "count")), 2);
	cr_expect_eq(json_array_size(json_object_get(j, "threads")), 8);
	json_decref(j);
	gw_stop(&g);
	gw_start(&g, "--imap-ignore-caps", "THREAD=REFERENCES", NULL);
	j = get_as(&g, KIM, "/threads?folder=Awkward2&per_page=500", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "threaded_by")), "gateway");
	thread_uids(j, local, sizeof local);
	cr_expect_str_eq(local, server);
	json_decref(j);
	/* paging: the second page of two starts with the third conversation */
	j = get_as(&g, KIM, "/threads?folder=Awkward2&per_page=2&page=2", 200);
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 8);
	cr_expect_eq(json_integer_value(json_object_get(j, "pages")), 4);
	cr_expect_eq(json_array_size(json_object_get(j, "threads")), 2);
	json_decref(j);
	gw_stop(&g);
	test_user_unlock();
}

/* The thread_ids of a /threads answer, one per line; and their counts. */
static void thread_ids(json_t *j, char ids[][160], json_int_t *counts, size_t *n)
{
	size_t i;
	json_t *t;
	*n = 0;
	json_array_foreach(json_object_get(j, "threads"), i, t) {
		snprintf(ids[*n], sizeof ids[0], "%s", json_string_value(json_object_get(t, "thread_id")));
		counts[(*n)++] = json_integer_value(json_object_get(t, "count"));
	}
}

Test(conversations, threads_sort_and_order)
{
	static char desc[256][160], asc[256][160], dflt[256][160];
	json_int_t cd[256], ca[256], c0[256];
	size_t nd, na, n0;
	struct gw g;
	gw_start(&g, NULL);
	json_t *j = get_as(&g, GRACE, "/threads?per_page=200", 200);
	thread_ids(j, dflt, c0, &n0);
	json_decref(j);
	cr_assert_gt(n0, 10);
	static const char *const sorts[] = {"latest", "started", "count"};
	for (size_t k = 0; k < 3; k++) {
		char path[128];
		snprintf(path, sizeof path, "/threads?per_page=200&sort=%s&order=desc", sorts[k]);
		j = get_as(&g, GRACE, path, 200);
		thread_ids(j, desc, cd, &nd);
		json_decref(j);
		snprintf(path, sizeof path, "/threads?per_page=200&sort=%s&order=asc", sorts[k]);
		j = get_as(&g, GRACE, path, 200);
		thread_ids(j, asc, ca, &na);
		json_decref(j);
		cr_assert_eq(nd, n0, "%s", sorts[k]);
		cr_assert_eq(na, n0, "%s", sorts[k]);
		/* every key has a tie-breaker: ascending is descending reversed */
		for (size_t i = 0; i < nd; i++)
			cr_expect_str_eq(asc[i], desc[nd - 1 - i], "%s: #%zu", sorts[k], i);
		if (k == 0)  /* the default is latest, desc */
			for (size_t i = 0; i < nd; i++)
				cr_expect_str_eq(desc[i], dflt[i], "default #%zu", i);
		if (k == 2)
			for (size_t i = 1; i < nd; i++)
				cr_expect_geq(cd[i - 1], cd[i], "count: #%zu", i);
	}
	json_decref(get_as(&g, GRACE, "/threads?sort=subject", 400));
	json_decref(get_as(&g, GRACE, "/threads?order=up", 400));
	gw_stop(&g);
}
