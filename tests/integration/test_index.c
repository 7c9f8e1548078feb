/*
 * Listings served from the folder index (imap/index.h), checked against
 * what the server itself says over a direct IMAP session, on Dovecot, Cyrus
 * and Courier (tests/servers-lib.sh):
 *   - another client sets and clears flags, expunges, appends and moves
 *     between two listings: the next listing shows exactly the server's
 *     state (on Courier, without CONDSTORE or MOVE, through the fallbacks);
 *     on Dovecot also with CONDSTORE hidden and with the index off;
 *   - every sort key in both orders equals the server's own SORT (Dovecot,
 *     Cyrus; Courier's SORT is not RFC 5256's, see imap/messages.c);
 *   - a cursor walk with mail arriving between pages sees every message
 *     that was there once;
 *   - an unchanged listing is a 304, a change is not (also the folder list);
 *   - listings running at once share revalidations (some need no IMAP
 *     session at all), and each still shows a change made before it.
 * Works as heidi, in folders "ix-*" of its own, holding heidi's lock on
 * that server like the other tests that change heidi's folders; the sort
 * test reads the seeded INBOX (alice on Dovecot, grace elsewhere), which
 * no test changes.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/client.h"
#include "tests/support/gateway.h"

#define HEIDI "heidi", "heidi-secret"
#define DOVECOT (&test_servers[0])

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* long: a test on Cyrus or Courier first waits for them (a first run installs them) */
TestSuite(index, .init = setup, .timeout = 600);

static int64_t deadline(void)
{
	return imap_now_ms() + 15000;
}

/* heidi's folders on srv are this test's until it ends */
static void take_turn(const struct test_server *srv)
{
	char lock[64];
	test_server_need(srv);
	snprintf(lock, sizeof lock, "heidi-%s", srv->name);
	test_user_lock(lock);
}

static struct imap_session *login(const struct test_server *srv)
{
	return test_imap_login_on(srv, HEIDI);
}

/* Run a command given as text (no user input in it); 0 or the error. */
static int run(struct imap_session *s, const char *text, imap_untagged_fn *fn, void *ctx)
{
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, text);
	int rc = imap_session_run(s, &c, fn, ctx, deadline(), &err);
	imap_cmd_free(&c);
	cr_assert_eq(rc, 0, "%s: %s", text, err.msg);
	return rc;
}

static void must_select(struct imap_session *s, const char *folder)
{
	struct imap_error err = {0};
	cr_assert_eq(imap_session_select(s, folder, false, deadline(), &err), 0, "%s", err.msg);
}

static void append(struct imap_session *s, const char *folder, const char *id, const char *flags,
                   const char *subject)
{
	char msg[1024];
	snprintf(msg, sizeof msg,
	         "Message-ID: <%s@test>\r\nFrom: Writer <w@example.com>\r\nTo: heidi@example.com\r\n"
	         "Subject: %s\r\nDate: Mon, 5 Feb 2024 10:00:00 +0100\r\n\r\nBody of %s.\r\n",
	         id, subject ? subject : id, id);
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, folder, strlen(folder));
	if (flags)
		imap_cmd_raw(&c, flags);
	imap_cmd_literal(&c, msg, strlen(msg));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "APPEND: %s",
	             err.msg);
	imap_cmd_free(&c);
}

static void fresh_folder(struct imap_session *s, const char *name)
{
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "DELETE");
	imap_cmd_mailbox(&c, name, strlen(name));
	imap_session_run(s, &c, NULL, NULL, deadline(), &err);
	imap_cmd_free(&c);
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "CREATE");
	imap_cmd_mailbox(&c, name, strlen(name));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
}

/* ---- the server's truth ---- */

struct truth {
	uint32_t uid[512];
	char flags[512][128];  /* sorted, space-separated, \Recent left out */
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void flags_text(char *const *v, size_t n, char *out, size_t cap)
{
	const char *sorted[64];
	size_t k = 0;
	for (size_t i = 0; i < n && k < 64; i++)
		if (strcmp(v[i], "\\Recent"))
			sorted[k++] = v[i];
	qsort(sorted, k, sizeof *sorted, cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		strncat(out, sorted[i], cap - strlen(out) - 1);
		strncat(out, " ", cap - strlen(out) - 1);
	}
}

static int on_flags(void *ctx, const struct imap_response *r)
{
	struct truth *t = ctx;
	const struct imap_value *att, *v;
	uint32_t uid = imap_fetch_attributes(r, &att);
	size_t i;
	if (!uid || t->n == 512)
		return 0;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 < att->count && imap_value_is_atom(v, "FLAGS")) {
			const struct imap_value *list = imap_value_next(v), *f;
			char *names[64];
			size_t n = 0, k;
			IMAP_LIST_FOREACH(list, f, k) {
				if (n < 64)
					names[n++] = strndup(f->str, f->len);
			}
			t->uid[t->n] = uid;
			flags_text(names, n, t->flags[t->n], sizeof t->flags[0]);
			t->n++;
			for (size_t j = 0; j < n; j++)
				free(names[j]);
		}
	}
	return 0;
}

static void server_state(const struct test_server *srv, const char *folder, struct truth *t)
{
	struct imap_session *s = login(srv);
	memset(t, 0, sizeof *t);
	must_select(s, folder);
	run(s, "UID FETCH 1:* (UID FLAGS)", on_flags, t);
	imap_session_logout(&s, deadline());
	/* FETCH answers in sequence order: ascending UIDs */
}

/* ---- the gateway's listing ---- */

static json_t *listing(const struct gw *g, const char *user, const char *password,
                       const char *query)
{
	struct gw_reply r;
	char path[512];
	snprintf(path, sizeof path, "/messages?%s", query);
	gw_request(g, "GET", path, user, password, NULL, &r);
	cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	cr_assert_not_null(j);
	gw_reply_free(&r);
	return j;
}

static unsigned long long metric_value(const struct gw *g, const char *name)
{
	struct gw_reply r;
	gw_request(g, "GET", "/metrics", NULL, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	const char *at = strstr(r.body.data, name);
	unsigned long long v = 0;
	while (at && at > r.body.data && at[-1] != '\n')
		at = strstr(at + 1, name);  /* the sample, not the HELP line */
	if (at)
		sscanf(at + strlen(name), " %llu", &v);
	gw_reply_free(&r);
	return v;
}

/* The index holds at least n messages: the folders listed so far are
 * loaded (apart from the listings, after their answers), within a bound. */
static void wait_indexed(const struct gw *g, unsigned long long n)
{
	int64_t until = imap_now_ms() + 60000;
	unsigned long long held;
	while ((held = metric_value(g, "imapgw_index_messages ")) < n) {
		cr_assert_lt(imap_now_ms(), until, "the index holds %llu of %llu messages after 60 s",
		             held, n);
		usleep(20000);
	}
}

static void expect_state(const struct gw *g, const struct test_server *srv, const char *folder,
                         const char *when)
{
	struct truth t;
	server_state(srv, folder, &t);
	char q[256];
	snprintf(q, sizeof q, "folder=%s&per_page=500&order=asc", folder);
	json_t *j = listing(g, HEIDI, q);
	json_t *msgs = json_object_get(j, "messages");
	cr_assert_eq(json_array_size(msgs), t.n, "%s: %zu listed, the server has %zu", when,
	             json_array_size(msgs), t.n);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), (json_int_t)t.n, "%s", when);
	size_t unseen = 0, flagged = 0;
	for (size_t i = 0; i < t.n; i++) {
		json_t *m = json_array_get(msgs, i);
		cr_assert_eq(json_integer_value(json_object_get(m, "uid")), t.uid[i], "%s: #%zu", when, i);
		json_t *fl = json_object_get(m, "flags");
		char *names[64];
		size_t n = 0;
		for (size_t k = 0; k < json_array_size(fl) && n < 64; k++)
			names[n++] = strdup(json_string_value(json_array_get(fl, k)));
		char text[128];
		flags_text(names, n, text, sizeof text);
		for (size_t k = 0; k < n; k++)
			free(names[k]);
		cr_assert_str_eq(text, t.flags[i], "%s: UID %u", when, t.uid[i]);
		unseen += strstr(t.flags[i], "\\Seen") == NULL;
		flagged += strstr(t.flags[i], "\\Flagged") != NULL;
	}
	json_decref(j);
	/* the flag filters count exactly what the server holds */
	snprintf(q, sizeof q, "folder=%s&per_page=500&unseen=true", folder);
	j = listing(g, HEIDI, q);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), (json_int_t)unseen, "%s: unseen",
	             when);
	json_decref(j);
	snprintf(q, sizeof q, "folder=%s&per_page=500&flagged=true", folder);
	j = listing(g, HEIDI, q);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), (json_int_t)flagged,
	             "%s: flagged", when);
	json_decref(j);
	/* and a text filter goes through SEARCH with the same summaries */
	snprintf(q, sizeof q, "folder=%s&per_page=500&subject=keep", folder);
	j = listing(g, HEIDI, q);
	json_decref(j);
	snprintf(q, sizeof q, "folder=%s&per_page=500&subject=nowhere-to-be-found", folder);
	j = listing(g, HEIDI, q);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 0, "%s: no match", when);
	cr_assert_eq(json_array_size(json_object_get(j, "messages")), 0, "%s: no match", when);
	json_decref(j);
}

/* Expunge exactly these UIDs (a set such as "3" or "4:5"), as a client
 * would on this server: UID EXPUNGE where UIDPLUS is offered, else EXPUNGE
 * (the test's own folder holds no other \Deleted message). */
static void expunge(struct imap_session *s, const char *set)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "UID STORE %s +FLAGS (\\Deleted)", set);
	run(s, cmd, NULL, NULL);
	if (imap_session_has_cap(s, "UIDPLUS")) {
		snprintf(cmd, sizeof cmd, "UID EXPUNGE %s", set);
		run(s, cmd, NULL, NULL);
	} else {
		run(s, "EXPUNGE", NULL, NULL);
	}
}

/* MOVE, or where the server has none (Courier) COPY and expunge */
static void move(struct imap_session *s, const char *set, const char *to)
{
	char cmd[160];
	bool has_move = imap_session_has_cap(s, "MOVE");
	snprintf(cmd, sizeof cmd, "UID %s %s %s", has_move ? "MOVE" : "COPY", set, to);
	run(s, cmd, NULL, NULL);
	if (!has_move)
		expunge(s, set);
}

static void changes_are_seen(const struct test_server *srv, const char *name, const char *flag,
                             const char *value)
{
	char folder[64], other[64], logical[64];
	take_turn(srv);
	test_server_path(srv, name, folder, sizeof folder);
	snprintf(logical, sizeof logical, "%s-to", name);
	test_server_path(srv, logical, other, sizeof other);
	struct imap_session *s = login(srv);
	fresh_folder(s, folder);
	fresh_folder(s, other);
	for (int i = 0; i < 8; i++) {
		char id[32];
		snprintf(id, sizeof id, "%s-%d", name, i);
		append(s, folder, id, i % 2 ? "(\\Seen)" : NULL, i % 3 ? "keep" : "other");
	}
	struct gw g;
	if (flag)
		gw_start_on(&g, srv, flag, value, NULL);
	else
		gw_start_on(&g, srv, NULL);
	expect_state(&g, srv, folder, "first listing");
	if (!flag || strcmp(flag, "--index-max-mb") != 0)
		wait_indexed(&g, 8);  /* loaded after the first listing's answer */
	expect_state(&g, srv, folder, "unchanged");

	must_select(s, folder);
	run(s, "UID STORE 1 +FLAGS (\\Flagged $Work)", NULL, NULL);
	run(s, "UID STORE 2 -FLAGS (\\Seen)", NULL, NULL);
	expect_state(&g, srv, folder, "after flag changes");
	if (flag && strcmp(flag, "--index-max-mb") == 0) {
		/* Without the index an arrival page is a FETCH by sequence
		 * numbers on a session that has not yet heard of expunges: only
		 * flags are current at once. */
		imap_session_logout(&s, deadline());
		gw_stop(&g);
		return;
	}

	expunge(s, "3");
	expect_state(&g, srv, folder, "after an expunge");

	append(s, folder, "late-1", NULL, "keep");
	append(s, folder, "late-2", "(\\Flagged)", "keep");
	expect_state(&g, srv, folder, "after two appends");

	move(s, "4:5", other);
	run(s, "UID STORE 6 +FLAGS (\\Answered)", NULL, NULL);
	expect_state(&g, srv, folder, "after a move and a flag");
	expect_state(&g, srv, other, "the move's target");

	/* expunge and append at once: the count stays, the UIDs do not */
	expunge(s, "7");
	append(s, folder, "late-3", NULL, "keep");
	expect_state(&g, srv, folder, "after an expunge and an append");
	imap_session_logout(&s, deadline());

	if (!flag && strcmp(srv->name, "courier") != 0) {
		/* QRESYNC servers named the expunged UIDs (VANISHED): no UID
		 * SEARCH ALL was needed for them */
		cr_expect_gt(metric_value(&g, "imapgw_index_revalidations_total{kind=\"qresync\"}"), 0,
		             "%s", srv->name);
		cr_expect_eq(
			metric_value(&g, "imapgw_index_revalidations_total{kind=\"expunge_search\"}"), 0,
			"%s: a UID SEARCH ALL for expunges", srv->name);
	}
	if (!flag) {
		struct gw_reply r;
		gw_request(&g, "GET", "/metrics", NULL, NULL, NULL, &r);
		cr_assert(strstr(r.body.data, "imapgw_index_pages_total{result=\"hit\"}"), "%s",
		          r.body.data);
		cr_assert_null(strstr(r.body.data, "imapgw_index_pages_total{result=\"hit\"} 0\n"),
		               "%s: the index served nothing:\n%s", srv->name, r.body.data);
		gw_reply_free(&r);
	}
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(index, another_clients_changes_show_in_the_next_listing)
{
	changes_are_seen(srv, "ix-cs", NULL, NULL);
}

Test(index, without_condstore_too)
{
	changes_are_seen(DOVECOT, "ix-plain", "--imap-ignore-caps", "CONDSTORE,QRESYNC");
}

Test(index, with_the_index_off)
{
	changes_are_seen(DOVECOT, "ix-off", "--index-max-mb", "0");
}

/* ---- sort orders against the server's SORT ---- */

struct uidlist {
	uint32_t v[1024];
	size_t n;
};

static int on_sort(void *ctx, const struct imap_response *r)
{
	struct uidlist *u = ctx;
	const struct imap_value *v;
	size_t i;
	if (!imap_value_is_atom(imap_value_at(r->args, 0), "SORT") &&
	    !imap_value_is_atom(imap_value_at(r->args, 0), "SEARCH"))
		return 0;
	IMAP_LIST_FOREACH(r->args, v, i) {
		uint64_t n;
		if (i > 0 && u->n < 1024 && imap_value_u64(v, UINT32_MAX, &n) == 0)
			u->v[u->n++] = (uint32_t)n;
	}
	return 0;
}

/* The Message-IDs of a listing, in its order */
struct idlist {
	char v[512][128];
	size_t n;
};

static void listed_ids(const struct gw *g, const char *user, const char *password,
                       const char *query, struct idlist *out)
{
	json_t *j = listing(g, user, password, query);
	json_t *msgs = json_object_get(j, "messages");
	out->n = 0;
	for (size_t i = 0; i < json_array_size(msgs) && out->n < 512; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(msgs, i), "message_id"));
		cr_assert_not_null(id, "%s: #%zu has no message_id", query, i);
		snprintf(out->v[out->n++], sizeof out->v[0], "%s", id);
	}
	json_decref(j);
}

/*
 * Every sort key in both orders against RFC 5256 as a server computes it:
 * the server's own SORT, except on Courier, whose SORT is not RFC 5256's
 * (the gateway sorts locally there): its truth is Dovecot's SORT of the same
 * seeded mailbox (grace's, the same messages on every server), compared by
 * Message-ID.
 */
TEST_ON_EVERY_SERVER(index, every_sort_key_both_orders_as_the_server_sorts)
{
	static const struct {
		const char *name, *imap;
	} keys[] = {
		{"arrival", NULL},          {"received", "ARRIVAL"}, {"date", "DATE"},
		{"from", "FROM"},           {"to", "TO"},            {"subject", "SUBJECT"},
		{"size", "SIZE"},
	};
	test_server_need(srv);
	bool dovecot = strcmp(srv->name, "dovecot") == 0;
	const char *user = dovecot ? "alice" : "grace";
	const char *password = dovecot ? "alice-secret" : "grace-secret";
	const struct test_server *judge = strcmp(srv->name, "courier") == 0 ? DOVECOT : srv;
	struct gw g, gj;
	gw_start_on(&g, srv, NULL);
	gw_start_on(&gj, judge, NULL);
	struct imap_session *s = test_imap_login_on(judge, user, password);
	must_select(s, "INBOX");
	/* the judge's UIDs by Message-ID: its listing in arrival order */
	static struct idlist by_uid_order;
	listed_ids(&gj, user, password, "per_page=500&order=asc", &by_uid_order);
	struct uidlist all = {0};
	run(s, "UID SEARCH ALL", on_sort, &all);
	cr_assert_eq(all.n, by_uid_order.n, "%s: UIDs and listing differ", judge->name);
	/* a first listing has the index load the folder (once it is
	 * answered); the ones below are served from it */
	json_decref(listing(&g, user, password, "per_page=1"));
	wait_indexed(&g, all.n);
	for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
		struct uidlist want = {0};
		char cmd[96];
		if (keys[k].imap)
			snprintf(cmd, sizeof cmd, "UID SORT (%s) UTF-8 ALL", keys[k].imap);
		else
			snprintf(cmd, sizeof cmd, "UID SEARCH ALL");
		run(s, cmd, on_sort, &want);
		cr_assert_gt(want.n, 10);
		for (int desc = 0; desc < 2; desc++) {
			char q[96];
			snprintf(q, sizeof q, "per_page=500&sort=%s&order=%s", keys[k].name,
			         desc ? "desc" : "asc");
			static struct idlist got;
			listed_ids(&g, user, password, q, &got);
			cr_assert_eq(got.n, want.n, "%s: %s", srv->name, q);
			for (size_t i = 0; i < want.n; i++) {
				uint32_t w = want.v[desc ? want.n - 1 - i : i];
				size_t at = 0;
				while (at < all.n && all.v[at] != w)
					at++;
				cr_assert_lt(at, all.n, "%s: UID %u not in UID SEARCH ALL", judge->name, w);
				cr_assert_str_eq(got.v[i], by_uid_order.v[at],
				                 "%s: %s: #%zu is %s, %s's SORT says %s", srv->name, q, i,
				                 got.v[i], judge->name, by_uid_order.v[at]);
			}
		}
	}
	imap_session_logout(&s, deadline());
	static const char *const local[] = {"SORT (ARRIVAL)", "SORT (DATE)", "SORT (FROM)",
	                                    "SORT (TO)", "SORT (SIZE)", "SORT (SUBJECT)"};
	/* Cyrus's subject order is its SORT's (awkward_subjects_... below) */
	size_t nlocal = sizeof local / sizeof local[0] - (strcmp(srv->name, "cyrus") == 0);
	for (size_t k = 0; k < nlocal; k++)
		cr_assert_eq(gw_count_sent(&g, local[k]), 0, "%s: %s: the index sorts, not the server",
		             srv->name, local[k]);
	gw_stop(&gj);
	gw_stop(&g);
}

/* Subjects whose order is easy to get wrong: RFC 5256 leaders and trailers,
 * encoded words in UTF-8, ISO-8859-1 and charsets the server does not know,
 * undecodable bytes, Greek, Cyrillic, German sharp s, accented capitals,
 * compatibility characters, the empty subject, a subject of only "Re:",
 * and none at all. Raw header values, appended as they are. */
static const char *const awkward[] = {
	"Re: Re: x", "[list] Re: x", "Fwd: x (fwd)", "[fwd: x]", "re:x", "RE: [a] [b] x", "x",
	"Re:", "", NULL, "=?UTF-8?Q?caf=C3=A9?=", "=?ISO-8859-1?Q?caf=E9?=", "cafz",
	"=?x-unknown-charset?Q?caf=E9?=", "=?us-ascii?Q?caf=E9?=", "=?iso-8859-1?q?=80x?=",
	"=?UTF-8?B?zrHOss6z?=", /* αβγ */ "\xce\x91\xce\x92\xce\x93", /* ΑΒΓ */
	"\xcf\x83\xce\xbf\xcf\x82", "\xce\xa3\xce\x9f\xce\xa3", /* σος ΣΟΣ */
	"=?KOI8-R?B?8NLJ18XU?=", "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2",
	"\xd1\x91\xd0\xbb\xd0\xba\xd0\xb0", /* ёлка */ "Stra\xc3\x9f" "e", "STRASSE", "STRAT",
	"\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9", "Etz", "\xc3\x80 bient\xc3\xb4t", "A bient",
	"\xe2\x91\xa0 one", "1 one", "\xef\xac\x81x", "fiz", "a\xe9\xe9", "a\xe9" "b",
	"=?utf-8?q?=E9?=z", "Re: =?UTF-8?Q?=C3=9Cberpr=C3=BCfung?=", "\xc3\x9c" "ber",
	"=?UTF-8?Q?Re=3A_y?=", "y", "  spaced   out  ", "spaced out",
};
#define AWKWARD (sizeof awkward / sizeof awkward[0])

/* heidi's folder ix-subjects on srv, emptied and given the awkward
 * subjects (Message-IDs <subj-NN@test>, NN their index) in order. */
static void awkward_folder(const struct test_server *srv, char *folder, size_t cap)
{
	take_turn(srv);
	test_server_path(srv, "ix-subjects", folder, cap);
	struct imap_session *s = login(srv);
	fresh_folder(s, folder);
	for (size_t i = 0; i < AWKWARD; i++) {
		char id[32], msg[1024];
		snprintf(id, sizeof id, "subj-%02zu", i);
		snprintf(msg, sizeof msg,
		         "Message-ID: <%s@test>\r\nFrom: w@example.com\r\nTo: heidi@example.com\r\n"
		         "%s%s%sDate: Mon, 5 Feb 2024 10:00:00 +0100\r\n\r\nBody.\r\n",
		         id, awkward[i] ? "Subject: " : "", awkward[i] ? awkward[i] : "",
		         awkward[i] ? "\r\n" : "");
		struct imap_cmd c;
		struct imap_error err = {0};
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "APPEND");
		imap_cmd_mailbox(&c, folder, strlen(folder));
		imap_cmd_literal(&c, msg, strlen(msg));
		cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0,
		             "%s: APPEND %s: %s", srv->name, id, err.msg);
		imap_cmd_free(&c);
	}
	imap_session_logout(&s, deadline());
}

/*
 * The subject order of the awkward subjects, both directions, served from
 * the index, against the server's SORT (SUBJECT) (Courier's: Dovecot's, of
 * the same messages). On a server whose subject order the gateway cannot
 * reproduce, the gateway must ask the server's SORT instead, and the order
 * must still be the server's.
 */
TEST_ON_EVERY_SERVER(index, awkward_subjects_sort_as_the_server_sorts)
{
	const struct test_server *judge = strcmp(srv->name, "courier") == 0 ? DOVECOT : srv;
	/* Cyrus's SORT (SUBJECT) orders otherwise than Dovecot's, for reasons
	 * of its own (it sorts "cafz" before "café"): its subject pages stay
	 * with its SORT */
	bool local = strcmp(srv->name, "cyrus") != 0;
	char folder[64];
	struct uidlist all = {0}, want = {0};
	awkward_folder(judge, folder, sizeof folder);
	struct imap_session *s = login(judge);
	must_select(s, folder);
	run(s, "UID SEARCH ALL", on_sort, &all);
	run(s, "UID SORT (SUBJECT) UTF-8 ALL", on_sort, &want);
	imap_session_logout(&s, deadline());
	cr_assert_eq(all.n, AWKWARD, "%s: %zu messages", judge->name, all.n);
	cr_assert_eq(want.n, AWKWARD);
	if (judge != srv) {  /* one user lock at a time: the judge's is done with */
		test_user_unlock();
		awkward_folder(srv, folder, sizeof folder);
	}
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char q[160];
	snprintf(q, sizeof q, "folder=%s&per_page=1", folder);
	json_decref(listing(&g, HEIDI, q));  /* loads the index */
	for (int desc = 0; desc < 2; desc++) {
		static struct idlist got;
		snprintf(q, sizeof q, "folder=%s&per_page=500&sort=subject&order=%s", folder,
		         desc ? "desc" : "asc");
		listed_ids(&g, HEIDI, q, &got);
		cr_assert_eq(got.n, AWKWARD, "%s: %s", srv->name, q);
		for (size_t i = 0; i < AWKWARD; i++) {
			uint32_t w = want.v[desc ? AWKWARD - 1 - i : i];
			size_t at = 0;
			while (at < all.n && all.v[at] != w)
				at++;
			char id[32];
			snprintf(id, sizeof id, "<subj-%02zu@test>", at);
			cr_assert_str_eq(got.v[i], id, "%s: %s: #%zu is %s, %s's SORT says %s (\"%s\")",
			                 srv->name, q, i, got.v[i], judge->name, id,
			                 at < AWKWARD && awkward[at] ? awkward[at] : "(none)");
		}
	}
	if (local)
		cr_assert_eq(gw_count_sent(&g, "SORT (SUBJECT)"), 0,
		             "%s: the index sorts, not the server", srv->name);
	else
		cr_assert_gt(gw_count_sent(&g, "SORT (SUBJECT)"), 0, "%s: the server sorts", srv->name);
	gw_stop(&g);
}

/* heidi's folder `name` on srv, emptied and given n messages whose
 * Message-IDs are <prefix-NN@test> (NN = 00, 01, ...); its path in folder,
 * a session logged in as heidi returned. */
static struct imap_session *filled_folder(const struct test_server *srv, const char *name,
                                          const char *prefix, int n, char *folder, size_t cap)
{
	take_turn(srv);
	test_server_path(srv, name, folder, cap);
	struct imap_session *s = login(srv);
	fresh_folder(s, folder);
	for (int i = 0; i < n; i++) {
		char id[48];
		snprintf(id, sizeof id, "%s-%02d", prefix, i);
		append(s, folder, id, NULL, NULL);
	}
	return s;
}

/* ---- a cursor walk while mail arrives ---- */

TEST_ON_EVERY_SERVER(index, cursor_walk_with_mail_arriving_has_no_duplicate_or_gap)
{
	char folder[64];
	struct imap_session *s = filled_folder(srv, "ix-walk", "walk", 20, folder, sizeof folder);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	for (int desc = 0; desc < 2; desc++) {
		int seen[20] = {0};
		char cursor[256] = "";
		int late = 0;
		for (int pages = 0; pages < 40; pages++) {
			char q[512];
			snprintf(q, sizeof q, "folder=%s&per_page=3&order=%s%s%s", folder,
			         desc ? "desc" : "asc", cursor[0] ? "&cursor=" : "", cursor);
			json_t *j = listing(&g, HEIDI, q);
			json_t *msgs = json_object_get(j, "messages");
			for (size_t i = 0; i < json_array_size(msgs); i++) {
				const char *id = json_string_value(
					json_object_get(json_array_get(msgs, i), "message_id"));
				int n;
				if (id && sscanf(id, "<walk-%d@", &n) == 1 && n >= 0 && n < 20)
					seen[n]++;
			}
			const char *next = json_string_value(json_object_get(j, "next_cursor"));
			snprintf(cursor, sizeof cursor, "%s", next ? next : "");
			json_decref(j);
			char id[32];
			snprintf(id, sizeof id, "late-%d-%d", desc, late++);
			append(s, folder, id, NULL, NULL);  /* mail arrives between pages */
			if (!cursor[0])
				break;
		}
		for (int i = 0; i < 20; i++)
			cr_expect_eq(seen[i], 1, "%s: %s: walk-%02d seen %d times", srv->name,
			             desc ? "desc" : "asc", i, seen[i]);
	}
	imap_session_logout(&s, deadline());
	gw_stop(&g);
}

/* ---- ETag and If-None-Match on listings ---- */

static long conditional(const struct gw *g, const char *path, const char *etag, char *out,
                        size_t cap)
{
	char header[160];
	struct gw_reply r;
	snprintf(header, sizeof header, "If-None-Match: %s", etag);
	gw_request(g, "GET", path, HEIDI, etag[0] ? header : NULL, &r);
	long status = r.status;
	if (status == 304)
		cr_assert_eq(r.body.len, 0, "a 304 has no body");
	cr_assert_eq(gw_header(&r, "ETag", out, cap), 0, "no ETag on %ld", status);
	gw_reply_free(&r);
	return status;
}

TEST_ON_EVERY_SERVER(index, unchanged_listing_is_304_and_a_change_is_not)
{
	char folder[64];
	take_turn(srv);
	test_server_path(srv, "ix-etag", folder, sizeof folder);
	struct imap_session *s = login(srv);
	fresh_folder(s, folder);
	for (int i = 0; i < 4; i++) {
		char id[32];
		snprintf(id, sizeof id, "etag-%d", i);
		append(s, folder, id, NULL, NULL);
	}
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char path[128], tag[128], again[128];
	snprintf(path, sizeof path, "/messages?folder=%s&per_page=2", folder);
	cr_assert_eq(conditional(&g, path, "", tag, sizeof tag), 200);
	cr_assert(strncmp(tag, "W/\"", 3) == 0, "%s", tag);
	wait_indexed(&g, 4);
	cr_assert_eq(conditional(&g, path, tag, again, sizeof again), 304);
	cr_assert_str_eq(again, tag);
	unsigned fetches = gw_count_sent(&g, " FETCH ");
	cr_assert_eq(conditional(&g, path, tag, again, sizeof again), 304);
	/* without CONDSTORE (Courier) only a FETCH of the flags tells that
	 * nothing changed */
	if (imap_session_has_cap(s, "CONDSTORE"))
		cr_assert_eq(gw_count_sent(&g, " FETCH "), fetches,
		             "%s: a 304 of an unchanged folder: no FETCH", srv->name);

	/* a flag set elsewhere on a message of the page: a new page */
	must_select(s, folder);
	run(s, "UID STORE 4 +FLAGS (\\Flagged)", NULL, NULL);
	cr_assert_eq(conditional(&g, path, tag, again, sizeof again), 200);
	cr_assert_str_neq(again, tag);
	/* another query is another tag */
	char other[128], tag2[128];
	snprintf(other, sizeof other, "/messages?folder=%s&per_page=3", folder);
	cr_assert_eq(conditional(&g, other, again, tag2, sizeof tag2), 200);
	/* new mail changes the total, so the first page too */
	cr_assert_eq(conditional(&g, path, again, tag2, sizeof tag2), 304);
	append(s, folder, "etag-late", NULL, NULL);
	cr_assert_eq(conditional(&g, path, again, tag2, sizeof tag2), 200);
	imap_session_logout(&s, deadline());
	gw_stop(&g);
}

/* ---- concurrent listings ---- */

struct reader {
	const struct gw *g;
	char query[128];
	volatile int *stop;
	int requests, bad;
	long last_status;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	while (!*r->stop && r->requests < 2000) {
		struct gw_reply rep;
		gw_request(r->g, "GET", r->query, HEIDI, NULL, &rep);
		r->requests++;
		if (rep.status != 200) {
			r->bad++;
			r->last_status = rep.status;
		}
		gw_reply_free(&rep);
	}
	return NULL;
}

/* Whether the listing shows UID uid with \Flagged as `flagged` says. */
static bool listed_flagged(const struct gw *g, const char *folder, uint32_t uid, bool flagged)
{
	char q[160];
	snprintf(q, sizeof q, "folder=%s&per_page=50&order=asc", folder);
	json_t *j = listing(g, HEIDI, q);
	json_t *msgs = json_object_get(j, "messages");
	bool ok = false;
	for (size_t i = 0; i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i);
		if (json_integer_value(json_object_get(m, "uid")) != uid)
			continue;
		json_t *fl = json_object_get(m, "flags");
		bool has = false;
		for (size_t k = 0; k < json_array_size(fl); k++)
			has |= strcmp(json_string_value(json_array_get(fl, k)), "\\Flagged") == 0;
		ok = has == flagged;
	}
	json_decref(j);
	return ok;
}

/*
 * Readers list one folder as fast as they can while another client flags
 * and unflags its messages: every listing the writer makes right after a
 * change shows it (a revalidation shared with other requests counts only
 * when it began after the request arrived), and some readers' pages come
 * from revalidations made for others, with no IMAP session of their own.
 */
Test(index, concurrent_listings_share_revalidations_and_see_every_change)
{
	const struct test_server *srv = DOVECOT;
	char folder[64];
	struct imap_session *s = filled_folder(srv, "ix-many", "many", 10, folder, sizeof folder);
	must_select(s, folder);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char q[160];
	snprintf(q, sizeof q, "folder=%s&per_page=50", folder);
	json_decref(listing(&g, HEIDI, q));  /* the index loads the folder after it */
	wait_indexed(&g, 10);

	volatile int stop = 0;
	enum { READERS = 6 };
	pthread_t t[READERS];
	struct reader rd[READERS];
	for (int i = 0; i < READERS; i++) {
		rd[i] = (struct reader){.g = &g, .stop = &stop};
		snprintf(rd[i].query, sizeof rd[i].query, "/messages?folder=%s&per_page=%d", folder,
		         5 + i);
		cr_assert_eq(pthread_create(&t[i], NULL, read_loop, &rd[i]), 0);
	}
	int changes = 0;
	int64_t until = imap_now_ms() + 120000;
	/* at least 20 changes, then until some page was served with no
	 * session (within the bound) */
	while (changes < 20 ||
	       (metric_value(&g, "imapgw_index_sessionless_total") == 0 && imap_now_ms() < until)) {
		uint32_t uid = (uint32_t)(changes % 10) + 1;
		bool set = (changes / 10) % 2 == 0;
		char cmd[64];
		snprintf(cmd, sizeof cmd, "UID STORE %u %sFLAGS (\\Flagged)", uid, set ? "+" : "-");
		run(s, cmd, NULL, NULL);
		cr_assert(listed_flagged(&g, folder, uid, set), "change %d: UID %u %s \\Flagged is not listed",
		          changes, uid, set ? "with" : "without");
		changes++;
	}
	stop = 1;
	int requests = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(rd[i].bad, 0, "reader %d: %d of %d answers not 200 (last %ld)", i,
		             rd[i].bad, rd[i].requests, rd[i].last_status);
		requests += rd[i].requests;
	}
	unsigned long long held = metric_value(&g, "imapgw_index_sessionless_total");
	unsigned long long rounds =
		metric_value(&g, "imapgw_index_revalidations_total{kind=\"status\"}");
	cr_log_info("%d reader requests, %d changes: %llu revalidations, %llu pages with no session",
	            requests, changes, rounds, held);
	cr_expect_gt(held, 0, "no listing was served from another's revalidation");
	imap_session_logout(&s, deadline());
	gw_stop(&g);
}

/* ---- ETag and If-None-Match on the folder list ---- */

Test(index, unchanged_folder_list_is_304_and_a_new_folder_is_not)
{
	const struct test_server *srv = DOVECOT;
	char folder[64];
	take_turn(srv);
	test_server_path(srv, "ix-fl", folder, sizeof folder);
	struct imap_session *s = login(srv);
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "DELETE");
	imap_cmd_mailbox(&c, folder, strlen(folder));
	imap_session_run(s, &c, NULL, NULL, deadline(), &err);  /* absent is fine */
	imap_cmd_free(&c);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	char tag[128], again[128], counted[128];
	cr_assert_eq(conditional(&g, "/folders", "", tag, sizeof tag), 200);
	cr_assert(strncmp(tag, "W/\"f.", 5) == 0, "%s", tag);
	cr_assert_eq(conditional(&g, "/folders", tag, again, sizeof again), 304);
	cr_assert_str_eq(again, tag);
	/* other options, another answer: another tag */
	cr_assert_eq(conditional(&g, "/folders?counts=true", tag, counted, sizeof counted), 200);
	cr_assert_str_neq(counted, tag);
	/* a folder made elsewhere: the list is new */
	fresh_folder(s, folder);
	cr_assert_eq(conditional(&g, "/folders", tag, again, sizeof again), 200);
	cr_assert_str_neq(again, tag);
	cr_assert_eq(conditional(&g, "/folders", again, tag, sizeof tag), 304);
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, "DELETE");
	imap_cmd_mailbox(&c, folder, strlen(folder));
	cr_assert_eq(imap_session_run(s, &c, NULL, NULL, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&s, deadline());
	gw_stop(&g);
}

/* ---- a cold folder's first page ---- */

/* What the gateway sent to the server for request id `req` (as its trace
 * names it), one command a line without its tag. */
static void sent_for(const struct gw *g, const char *req, struct imap_buf *out)
{
	imap_buf_init(out, 0);
	FILE *f = fopen(g->log, "r");
	cr_assert_not_null(f, "%s", g->log);
	static char line[65536];
	while (fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "req"));
		const char *msg = json_string_value(json_object_get(j, "msg"));
		const char *cmd = json_string_value(json_object_get(j, "line"));
		if (id && msg && cmd && strcmp(id, req) == 0 && strcmp(msg, "imap >") == 0) {
			const char *sp = strchr(cmd, ' ');
			imap_buf_printf(out, "%s\n", sp ? sp + 1 : cmd);
		}
		json_decref(j);
	}
	fclose(f);
	imap_buf_putc(out, '\0');
}

/*
 * The first page of a folder the index does not hold costs what it costs
 * without the index: the same commands as a gateway with --index-max-mb=0
 * sends, and the same answer; no probe and no load batch among them. The
 * folder is loaded after the answer, by work of its own (its trace id is
 * the request's with "/after"), without another request; the next page
 * comes from the index.
 */
TEST_ON_EVERY_SERVER(index, a_cold_first_page_is_answered_as_without_the_index)
{
	char folder[64];
	struct imap_session *s = filled_folder(srv, "ix-cold", "cold", 30, folder, sizeof folder);
	imap_session_logout(&s, deadline());
	struct gw on, off;
	gw_start_on(&on, srv, NULL);
	gw_start_on(&off, srv, "--index-max-mb", "0", NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages?folder=%s&per_page=5", folder);
	struct gw_reply a, b;
	gw_request(&on, "GET", path, HEIDI, "X-Request-Id: cold-on", &a);
	gw_request(&off, "GET", path, HEIDI, "X-Request-Id: cold-off", &b);
	cr_assert_eq(a.status, 200, "%s", a.body.data);
	cr_assert_eq(b.status, 200, "%s", b.body.data);
	cr_assert_str_eq(a.body.data, b.body.data, "%s: the index changes the first page",
	                 srv->name);
	gw_reply_free(&a);
	gw_reply_free(&b);

	struct imap_buf with, without, after;
	sent_for(&on, "cold-on", &with);
	sent_for(&off, "cold-off", &without);
	cr_assert(strstr(with.data, "FETCH"), "%s: the trace names the request:\n%s", srv->name,
	          with.data);
	cr_assert_str_eq(with.data, without.data, "%s: the first page's commands differ",
	                 srv->name);
	cr_assert_null(strstr(with.data, "NOOP"), "%s: a probe in the first page:\n%s",
	               srv->name, with.data);
	cr_assert_null(strstr(with.data, "FETCH 1:30 "), "%s: a load batch in the first page:\n%s",
	               srv->name, with.data);

	wait_indexed(&on, 30);
	sent_for(&on, "cold-on/after", &after);
	cr_assert(strstr(after.data, "FETCH 1:30 ("), "%s: the load, after the answer:\n%s",
	          srv->name, after.data);
	cr_assert_null(strstr(after.data, "LOGIN"), "%s: the load logged in:\n%s", srv->name,
	               after.data);
	imap_buf_free(&with);
	imap_buf_free(&without);
	imap_buf_free(&after);

	unsigned long long hits = metric_value(&on, "imapgw_index_pages_total{result=\"hit\"}");
	json_decref(listing(&on, HEIDI, path + strlen("/messages?")));
	cr_assert_eq(metric_value(&on, "imapgw_index_pages_total{result=\"hit\"}"), hits + 1,
	             "%s: the next page is not the index's", srv->name);
	gw_stop(&off);
	gw_stop(&on);
}
