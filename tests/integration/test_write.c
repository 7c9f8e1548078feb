/*
 * The write API end to end: the real daemon against the private Dovecot,
 * as erin (whose mailbox starts empty and is used by these tests alone),
 * and, for every test about what the server does rather than about one of
 * the gateway's modes, against Cyrus and Courier too as heidi
 * (tests/servers-lib.sh; the tests that change heidi's folders there take
 * turns).
 *
 * Folder names are written as Dovecot and Cyrus have them ("w-move",
 * "Trash"). On a server with a personal namespace prefix (Courier's
 * "INBOX.") the direct session maps them with name() and requests to the
 * gateway with on_server(), so the same assertions hold on every server.
 *
 * Every outcome is read back from the server over a direct IMAP session
 * (imap/client.h, a fresh login each time), never through imapgw. Tests run
 * in parallel, so each works in folders of its own ("w-<test>") and tells
 * messages apart by Message-ID; only the Trash folder is shared.
 *
 * Every daemon is stopped through stop(), which also checks the protocol
 * trace: every EXPUNGE the gateway sent was a UID EXPUNGE.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap/client.h"
#include "imap/folders.h"
#include "imap/mail/date.h"
#include "tests/support/gateway.h"

#define MSGS_MAX 128

/* The server of the running test (each test is a process of its own) and
 * the user whose folders it changes there. */
static struct test_server on;
static const char *user = "erin", *password = "erin-secret";
#define WRITER user, password

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* long: a test on Cyrus or Courier first waits for them (a first run installs them) */
TestSuite(write, .init = setup, .fini = test_user_unlock, .timeout = 600);

/* Every test starts here: it works on srv, holding the writer's lock there. */
static void begin(const struct test_server *srv)
{
	test_server_need(srv);
	on = *srv;
	char lock[64];
	if (strcmp(srv->name, "dovecot") == 0) {
		snprintf(lock, sizeof lock, "erin");  /* every test here changes erin's folders */
	} else {
		user = "heidi", password = "heidi-secret";
		snprintf(lock, sizeof lock, "heidi-%s", srv->name);
	}
	test_user_lock(lock);
}

#define DOVECOT (&test_servers[0])

/* A folder name of this file as the server has it (a few at a time). */
static const char *name(const char *logical)
{
	static _Thread_local char ring[8][256];
	static _Thread_local unsigned next;
	char *out = ring[next++ % 8];
	test_server_path(&on, logical, out, sizeof ring[0]);
	return out;
}

/* A request path or body with the folder names of this file ("w-…" and
 * "Trash", after '=', '"' or '/') as the server has them. */
static const char *on_server(const char *text)
{
	static _Thread_local char ring[8][4096];
	static _Thread_local unsigned next;
	char *out = ring[next++ % 8];
	size_t k = 0, plen = strlen(on.prefix);
	for (const char *p = text; *p && k + plen + 2 < sizeof ring[0]; p++) {
		bool starts = p > text && (p[-1] == '=' || p[-1] == '"' || p[-1] == '/');
		if (starts && (strncmp(p, "w-", 2) == 0 || strncmp(p, "Trash", 5) == 0)) {
			memcpy(out + k, on.prefix, plen);
			k += plen;
		}
		out[k++] = *p;
	}
	out[k] = '\0';
	return out;
}

/* gw_request_body for this file's user, the path and a JSON body mapped */
static void send_body(const struct gw *g, const char *method, const char *path,
                      const char *type, const char *body, size_t len, struct gw_reply *r)
{
	if (type && strcmp(type, "application/json") == 0) {
		body = on_server(body);
		len = strlen(body);
	}
	gw_request_body(g, method, on_server(path), WRITER, type, body, len, r);
}

static int64_t deadline(void)
{
	return imap_now_ms() + 15000;
}

/* ---- the server's state, read over IMAP directly ---- */

static struct imap_session *writer(void)
{
	return test_imap_login_on(&on, WRITER);
}

/* verb mailbox (CREATE, DELETE, SUBSCRIBE ...); returns the result code,
 * the server's text in *why (when not NULL). */
static int mailbox_cmd_why(struct imap_session *s, const char *verb, const char *mailbox,
                           struct imap_error *why)
{
	struct imap_cmd c;
	struct imap_error err = {0};
	imap_session_cmd(s, &c);
	imap_cmd_atom(&c, verb);
	imap_cmd_mailbox(&c, mailbox, strlen(mailbox));
	int rc = imap_session_run(s, &c, NULL, NULL, deadline(), &err);
	imap_cmd_free(&c);
	if (why)
		*why = err;
	return rc;
}

static int mailbox_cmd(struct imap_session *s, const char *verb, const char *mailbox)
{
	return mailbox_cmd_why(s, verb, mailbox, NULL);
}

/* A folder of the test's own, empty. */
static void fresh_folder(const char *logical)
{
	struct imap_session *s = writer();
	struct imap_error err = {0};
	const char *folder = name(logical);
	mailbox_cmd(s, "DELETE", folder);
	cr_assert_eq(mailbox_cmd_why(s, "CREATE", folder, &err), 0, "CREATE %s: %s [%s]", folder,
	             err.msg, err.imap_code);
	imap_session_logout(&s, deadline());
}

/* Whether the server offers a capability (after login). */
static bool server_has(const char *cap)
{
	struct imap_session *s = writer();
	bool has = imap_session_has_cap(s, cap);
	imap_session_logout(&s, deadline());
	return has;
}

/* The folder, created unless it is there (the Trash folder: Dovecot's test
 * users have it from the start, heidi on the other servers may not yet). */
static void ensure_folder(const char *logical)
{
	struct imap_session *s = writer();
	mailbox_cmd(s, "CREATE", name(logical));
	imap_session_logout(&s, deadline());
}

/* A message with this Message-ID ("<id@test>"). */
static void make_message(char *out, size_t cap, const char *id)
{
	snprintf(out, cap,
	         "Message-ID: <%s@test>\r\nFrom: Writer <w@example.com>\r\nTo: erin@example.com\r\n"
	         "Subject: %s\r\nDate: Mon, 5 Feb 2024 10:00:00 +0100\r\n\r\nBody of %s.\r\n",
	         id, id, id);
}

/* APPEND directly; returns the UID (APPENDUID). flags: "(\\Seen)" or NULL. */
static uint32_t put_message(const char *folder, const char *id, const char *flags)
{
	folder = name(folder);
	char msg[1024];
	make_message(msg, sizeof msg, id);
	struct imap_session *s = writer();
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
	const struct imap_response *t = imap_session_last_tagged(s);
	uint64_t uid = 0;
	cr_assert(t && t->code && imap_value_is_atom(imap_value_at(t->code, 0), "APPENDUID"));
	cr_assert_eq(imap_value_u64(imap_value_at(t->code, 2), UINT32_MAX, &uid), 0);
	imap_session_logout(&s, deadline());
	return (uint32_t)uid;
}

struct msg {
	uint32_t uid;
	char id[160];     /* the Message-ID without brackets' domain: "<x@test>" */
	char flags[512];  /* sorted, space-separated, without \Recent */
	char date[64];    /* INTERNALDATE */
};

struct listing {
	struct msg v[MSGS_MAX];
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void flags_text(const struct imap_value *list, char *out, size_t cap)
{
	const char *f[64];
	size_t n = 0, used = 0;
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(list, v, i) {
		if (imap_value_is_string(v) && strcasecmp(v->str, "\\Recent") != 0 && n < 64)
			f[n++] = v->str;
	}
	qsort(f, n, sizeof *f, cmp_str);
	out[0] = '\0';
	for (size_t k = 0; k < n; k++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? " " : "", f[k]);
}

static int on_fetch(void *ctx, const struct imap_response *r)
{
	struct listing *l = ctx;
	if (!r->args || r->args->count < 3 || !imap_value_is_atom(imap_value_at(r->args, 1), "FETCH"))
		return 0;
	const struct imap_value *att = imap_value_at(r->args, 2), *v;
	struct msg m = {0};
	size_t i;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		uint64_t n;
		if (imap_value_is_atom(v, "UID") && imap_value_u64(val, UINT32_MAX, &n) == 0)
			m.uid = (uint32_t)n;
		else if (imap_value_is_atom(v, "FLAGS"))
			flags_text(val, m.flags, sizeof m.flags);
		else if (imap_value_is_atom(v, "INTERNALDATE") && imap_value_is_string(val))
			snprintf(m.date, sizeof m.date, "%s", val->str);
		else if (v->kind == IMAP_VALUE_ATOM && strncasecmp(v->str, "BODY[HEADER", 11) == 0 &&
		         imap_value_is_string(val)) {
			const char *lt = strchr(val->str, '<'), *gt = lt ? strchr(lt, '>') : NULL;
			if (lt && gt)
				snprintf(m.id, sizeof m.id, "%.*s", (int)(gt - lt + 1), lt);
		}
		v = val;
		i++;
	}
	if (m.uid && l->n < MSGS_MAX)
		l->v[l->n++] = m;
	return 0;
}

/* Every message of a folder; false when the folder does not exist. */
static bool list_folder(const char *folder, struct listing *l)
{
	folder = name(folder);
	struct imap_session *s = writer();
	struct imap_error err = {0};
	memset(l, 0, sizeof *l);
	if (imap_session_select(s, folder, true, deadline(), &err) != 0) {
		imap_session_logout(&s, deadline());
		return false;
	}
	if (imap_session_mailbox(s)->exists) {
		struct imap_cmd c;
		imap_session_cmd(s, &c);
		imap_cmd_raw(&c, "UID FETCH 1:* (UID FLAGS INTERNALDATE "
		                 "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
		cr_assert_eq(imap_session_run(s, &c, on_fetch, l, deadline(), &err), 0, "%s", err.msg);
		imap_cmd_free(&c);
	}
	imap_session_logout(&s, deadline());
	return true;
}

static const struct msg *find_id(const struct listing *l, const char *id)
{
	char want[200];
	snprintf(want, sizeof want, "<%s@test>", id);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, want) == 0)
			return &l->v[i];
	return NULL;
}

static const struct msg *find_uid(const struct listing *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	return NULL;
}

/* The message, or a failed test. */
static const struct msg *must(const struct msg *m, const char *what)
{
	static const struct msg none;
	if (!m)
		cr_assert_fail("%s is not there", what);
	return m ? m : &none;
}

#define must_id(l, id) must(find_id((l), (id)), (id))
#define must_uid(l, uid) must(find_uid((l), (uid)), #uid)

/* The flags of one message as the server has them ("" when none), or
 * NULL (in a static buffer) when the message is not there. */
static const char *server_flags(const char *folder, uint32_t uid)
{
	static struct listing l;
	static char out[512];
	cr_assert(list_folder(folder, &l), "no folder %s", folder);
	const struct msg *m = find_uid(&l, uid);
	if (!m)
		return NULL;
	snprintf(out, sizeof out, "%s", m->flags);
	return out;
}

static uint32_t uidvalidity_of(const char *folder)
{
	folder = name(folder);
	struct imap_session *s = writer();
	struct imap_error err = {0};
	cr_assert_eq(imap_session_select(s, folder, true, deadline(), &err), 0, "%s", err.msg);
	uint32_t uv = imap_session_mailbox(s)->uidvalidity;
	imap_session_logout(&s, deadline());
	return uv;
}

/* The folder list as the server has it. */
static void server_folders(struct imap_folder_list *l)
{
	struct imap_session *s = writer();
	struct imap_error err = {0};
	cr_assert_eq(imap_folders_list(s, NULL, false, deadline(), l, &err), 0, "%s", err.msg);
	imap_session_logout(&s, deadline());
}

/* ---- the gateway ---- */

/* Stop the daemon; every EXPUNGE it ever sent must have been UID EXPUNGE. */
static void stop(struct gw *g)
{
	unsigned all = gw_count_sent(g, " EXPUNGE"), uid = gw_count_sent(g, " UID EXPUNGE ");
	cr_expect_eq(all, uid, "%u EXPUNGE commands sent, only %u of them UID EXPUNGE (see %s)",
	             all, uid, g->log);
	gw_stop(g);
}

/* A request with an optional JSON body; the answer must have status
 * `want`; returns the parsed body (NULL when empty). */
static json_t *call(const struct gw *g, const char *method, const char *path, const char *json,
                    long want)
{
	struct gw_reply r;
	if (json)
		send_body(g, method, path, "application/json", json, strlen(json), &r);
	else
		gw_request(g, method, on_server(path), WRITER, NULL, &r);
	cr_assert_eq(r.status, want, "%s: %s %s %s: %ld %s", on.name, method, path, json ? json : "",
	             r.status, r.body.data);
	json_t *j = r.body.len ? json_loads(r.body.data, 0, NULL) : NULL;
	gw_reply_free(&r);
	return j;
}

static void expect(const struct gw *g, const char *method, const char *path, const char *json,
                   long want)
{
	json_decref(call(g, method, path, json, want));
}

/* The "flags" of an answer as sorted, space-separated text. */
static const char *answer_flags(const json_t *j)
{
	static char out[512];
	const char *f[64];
	size_t n = 0, used = 0, i;
	json_t *v;
	json_array_foreach(json_object_get(j, "flags"), i, v)
		if (n < 64)
			f[n++] = json_string_value(v);
	qsort(f, n, sizeof *f, cmp_str);
	out[0] = '\0';
	for (size_t k = 0; k < n; k++)
		used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", k ? " " : "", f[k]);
	return out;
}

static json_int_t num(const json_t *j, const char *key)
{
	const json_t *v = json_object_get(j, key);
	cr_assert(json_is_integer(v), "%s is not a number", key);
	return json_integer_value(v);
}

/* ---- flags ---- */

TEST_ON_EVERY_SERVER(write, flags_read_replace_add_remove_as_the_server_has_them)
{
	begin(srv);
	fresh_folder("w-flags");
	uint32_t uid = put_message("w-flags", "flags1", "(\\Seen)");
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages/%u/flags?folder=w-flags", uid);

	json_t *j = call(&g, "GET", path, NULL, 200);
	cr_assert_str_eq(answer_flags(j), "\\Seen");
	cr_assert_eq(num(j, "uid"), uid);
	cr_assert_eq(num(j, "uidvalidity"), uidvalidity_of("w-flags"));
	json_decref(j);
	expect(&g, "HEAD", path, NULL, 200);

	j = call(&g, "PATCH", path, "{\"add\":[\"\\\\Flagged\",\"$Work\"],\"remove\":[\"\\\\seen\"]}",
	         200);
	cr_assert_str_eq(answer_flags(j), "$Work \\Flagged");
	cr_assert_str_eq(server_flags("w-flags", uid), "$Work \\Flagged");
	json_decref(j);

	j = call(&g, "PATCH", path, "{\"add\":[\"\\\\Flagged\"]}", 200);
	cr_assert_str_eq(answer_flags(j), "$Work \\Flagged", "adding a flag it has changes nothing");
	json_decref(j);

	j = call(&g, "PUT", path, "{\"flags\":[\"\\\\draft\",\"$Later\",\"\\\\Answered\"]}", 200);
	cr_assert_str_eq(answer_flags(j), "$Later \\Answered \\Draft");
	cr_assert_str_eq(server_flags("w-flags", uid), "$Later \\Answered \\Draft");
	json_decref(j);

	j = call(&g, "PUT", path, "{\"flags\":[]}", 200);
	cr_assert_str_eq(answer_flags(j), "");
	cr_assert_str_eq(server_flags("w-flags", uid), "");
	json_decref(j);
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, bad_flags_and_bad_bodies_change_nothing)
{
	begin(srv);
	fresh_folder("w-badflags");
	uint32_t uid = put_message("w-badflags", "bad1", "(\\Seen $Keep)");
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages/%u/flags?folder=w-badflags", uid);
	static const char *const bodies[] = {
		"{\"add\":[\"two words\"]}",
		"{\"add\":[\"\\\\Recent\"]}",
		"{\"add\":[\"\\\\Important\"]}",
		"{\"add\":[\"$ok\", \"br]acket\"]}",
		"{\"add\":[\"caf\\u00e9\"]}",
		"{\"add\":[\"nul\\u0000\"]}",
		"{\"add\":[\"\"]}",
		"{\"add\":[1]}",
		"{\"add\":\"\\\\Seen\"}",
		"{\"add\":[\"\\\\Flagged\"],\"remove\":[\"\\\\flagged\"]}",
		"{\"add\":[\"\\\\Flagged\"],\"bogus\":1}",
		"{}",
		"[\"\\\\Flagged\"]",
		"{\"add\":[\"\\\\Flagged\"]",
		"{\"add\":[\"\\\\Flagged\"],\"add\":[\"$x\"]}",
		"{\"add\":[[[[[[[[[[\"x\"]]]]]]]]]]}",
		NULL,
	};
	for (size_t i = 0; bodies[i]; i++)
		expect(&g, "PATCH", path, bodies[i], 400);
	expect(&g, "PUT", path, "{\"add\":[\"$x\"]}", 400);
	expect(&g, "PUT", path, "{\"flags\":[\"$ok\",\"(x\"]}", 400);
	expect(&g, "PATCH", "/messages/flags?folder=w-badflags",
	       "{\"uids\":[1],\"add\":[\"$ok\",\"50%\"]}", 400);
	expect(&g, "PATCH", path, NULL, 400);  /* no body at all */
	struct gw_reply r;
	const char *body = "{\"add\":[\"\\\\Flagged\"]}";
	send_body(&g, "PATCH", path, "text/plain", body, strlen(body), &r);
	cr_assert_eq(r.status, 415, "%s", r.body.data);
	gw_reply_free(&r);
	/* flags as query parameters of an append: checked just the same */
	const char *msg = "Subject: x\r\n\r\nx\r\n";
	send_body(&g, "POST", "/messages?folder=w-badflags&flags=%5CRecent",
	                "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 400, "%s", r.body.data);
	gw_reply_free(&r);

	cr_assert_str_eq(server_flags("w-badflags", uid), "$Keep \\Seen", "nothing changed");
	struct listing l;
	list_folder("w-badflags", &l);
	cr_assert_eq(l.n, 1, "nothing appended");
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, stale_uidvalidity_is_409_and_changes_nothing)
{
	begin(srv);
	fresh_folder("w-stale");
	fresh_folder("w-stale-to");
	uint32_t uid = put_message("w-stale", "stale1", "(\\Seen)");
	uint32_t uv = uidvalidity_of("w-stale");
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[160];
	snprintf(path, sizeof path, "/messages/%u/flags?folder=w-stale&uidvalidity=%u", uid, uv + 1);
	expect(&g, "PATCH", path, "{\"add\":[\"\\\\Flagged\"]}", 409);
	expect(&g, "PUT", path, "{\"flags\":[]}", 409);
	expect(&g, "GET", path, NULL, 409);
	snprintf(path, sizeof path, "/messages/flags?folder=w-stale&uidvalidity=%u", uv + 1);
	expect(&g, "PATCH", path, "{\"uids\":[1],\"remove\":[\"\\\\Seen\"]}", 409);
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-stale&uidvalidity=%u", uid, uv + 1);
	expect(&g, "POST", path, "{\"to\":\"w-stale-to\"}", 409);
	snprintf(path, sizeof path, "/messages/%u?folder=w-stale&uidvalidity=%u&permanent=true", uid,
	         uv + 1);
	expect(&g, "DELETE", path, NULL, 409);
	snprintf(path, sizeof path, "/messages?folder=w-stale&uidvalidity=%u", uv + 1);
	struct gw_reply r;
	const char *msg = "Message-ID: <stale2@test>\r\n\r\nx\r\n";
	send_body(&g, "POST", path, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 409, "%s", r.body.data);
	gw_reply_free(&r);

	struct listing l;
	list_folder("w-stale", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].flags, "\\Seen", "nothing changed");
	list_folder("w-stale-to", &l);
	cr_assert_eq(l.n, 0);

	snprintf(path, sizeof path, "/messages/%u/flags?folder=w-stale&uidvalidity=%u", uid, uv);
	json_decref(call(&g, "PATCH", path, "{\"add\":[\"\\\\Flagged\"]}", 200));
	cr_assert_str_eq(server_flags("w-stale", uid), "\\Flagged \\Seen");
	expect(&g, "GET", "/messages/1/flags?folder=w-stale&uidvalidity=0", NULL, 400);
	stop(&g);
}

struct flagger {
	const struct gw *g;
	uint32_t uid;
	int i;
	long status;
};

static void *add_one_flag(void *arg)
{
	struct flagger *f = arg;
	char path[128], body[64];
	snprintf(path, sizeof path, "/messages/%u/flags?folder=w-concurrent", f->uid);
	snprintf(body, sizeof body, "{\"add\":[\"$k%02d\"]}", f->i);
	struct gw_reply r;
	send_body(f->g, "PATCH", path, "application/json", body, strlen(body), &r);
	f->status = r.status;
	gw_reply_free(&r);
	return NULL;
}

TEST_ON_EVERY_SERVER(write, twenty_concurrent_flag_updates_on_one_message_all_land)
{
	begin(srv);
	fresh_folder("w-concurrent");
	uint32_t uid = put_message("w-concurrent", "conc1", NULL);
	struct gw g;
	/* Courier writes back the keywords a session last read, and a NOOP
	 * does not always show it another session's keywords stored within the
	 * same moment: under load, concurrent updates through several sessions
	 * lost some even with the gateway's turns (imap/write.c). One session
	 * per user is what keeps them all there (README, "IMAP servers"). */
	if (strcmp(on.name, "courier") == 0)
		gw_start_on(&g, &on, "--pool-per-user", "1", NULL);
	else
		gw_start_on(&g, &on, NULL);
	pthread_t t[20];
	struct flagger f[20];
	for (int i = 0; i < 20; i++) {
		f[i] = (struct flagger){.g = &g, .uid = uid, .i = i};
		pthread_create(&t[i], NULL, add_one_flag, &f[i]);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(f[i].status, 200, "update %d: %ld", i, f[i].status);
	}
	const char *have = server_flags("w-concurrent", uid);
	cr_assert_not_null(have);
	for (int i = 0; i < 20; i++) {
		char k[8];
		snprintf(k, sizeof k, "$k%02d", i);
		cr_expect(strstr(have, k), "%s: %s is missing: %s", on.name, k, have);
	}
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, missing_messages_are_404_or_listed_as_not_found)
{
	begin(srv);
	ensure_folder("Trash");
	fresh_folder("w-missing");
	uint32_t uid = put_message("w-missing", "miss1", NULL);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	expect(&g, "GET", "/messages/999/flags?folder=w-missing", NULL, 404);
	expect(&g, "PATCH", "/messages/999/flags?folder=w-missing", "{\"add\":[\"$x\"]}", 404);
	expect(&g, "POST", "/messages/999/copy?folder=w-missing", "{\"to\":\"w-missing\"}", 404);
	expect(&g, "DELETE", "/messages/999?folder=w-missing&permanent=true", NULL, 404);
	expect(&g, "DELETE", "/messages/999?folder=w-missing", NULL, 404);
	expect(&g, "GET", "/messages/1/flags?folder=w-no-such-folder", NULL, 404);
	expect(&g, "GET", "/messages/0/flags?folder=w-missing", NULL, 400);
	expect(&g, "GET", "/messages/4294967296/flags?folder=w-missing", NULL, 400);

	char body[128];
	snprintf(body, sizeof body, "{\"uids\":[998,%u,999],\"add\":[\"$bulk\"]}", uid);
	json_t *j = call(&g, "PATCH", "/messages/flags?folder=w-missing", body, 200);
	json_t *msgs = json_object_get(j, "messages"), *missing = json_object_get(j, "not_found");
	cr_assert_eq(json_array_size(msgs), 1);
	cr_assert_eq(num(json_array_get(msgs, 0), "uid"), uid);
	cr_assert_str_eq(answer_flags(json_array_get(msgs, 0)), "$bulk");
	cr_assert_eq(json_array_size(missing), 2);
	cr_assert_eq(json_integer_value(json_array_get(missing, 0)), 998);
	json_decref(j);
	cr_assert_str_eq(server_flags("w-missing", uid), "$bulk");
	struct listing l;
	list_folder("w-missing", &l);
	cr_assert_eq(l.n, 1, "the copy of a missing UID made nothing");
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, bulk_flags_and_the_bulk_limit)
{
	begin(srv);
	fresh_folder("w-bulk");
	uint32_t a = put_message("w-bulk", "bulk1", "(\\Seen)");
	uint32_t b = put_message("w-bulk", "bulk2", "(\\Seen \\Flagged)");
	uint32_t c = put_message("w-bulk", "bulk3", NULL);
	struct gw g;
	gw_start_on(&g, &on, "--bulk-max", "3", NULL);
	char body[160];
	snprintf(body, sizeof body,
	         "{\"uids\":[%u,%u,%u],\"add\":[\"$Filed\"],\"remove\":[\"\\\\Seen\"]}", a, b, c);
	json_t *j = call(&g, "PATCH", "/messages/flags?folder=w-bulk", body, 200);
	cr_assert_eq(json_array_size(json_object_get(j, "messages")), 3);
	cr_assert_eq(json_array_size(json_object_get(j, "not_found")), 0);
	json_decref(j);
	cr_assert_str_eq(server_flags("w-bulk", a), "$Filed");
	cr_assert_str_eq(server_flags("w-bulk", b), "$Filed \\Flagged");
	cr_assert_str_eq(server_flags("w-bulk", c), "$Filed");
	expect(&g, "PATCH", "/messages/flags?folder=w-bulk", "{\"uids\":[1,2,3,4],\"add\":[\"$x\"]}",
	       400);
	expect(&g, "PATCH", "/messages/flags?folder=w-bulk", "{\"uids\":[],\"add\":[\"$x\"]}", 400);
	expect(&g, "PATCH", "/messages/flags?folder=w-bulk", "{\"uids\":[1,-2],\"add\":[\"$x\"]}",
	       400);
	expect(&g, "PATCH", "/messages/flags?folder=w-bulk", "{\"uids\":[1]}", 400);
	cr_assert_str_eq(server_flags("w-bulk", a), "$Filed");
	stop(&g);
}

/* ---- move, copy, delete ---- */

TEST_ON_EVERY_SERVER(write, move_and_copy_report_the_new_uid)
{
	begin(srv);
	fresh_folder("w-mv-src");
	fresh_folder("w-mv-dst");
	put_message("w-mv-dst", "mvfiller", NULL);  /* so new UIDs differ from old ones */
	uint32_t a = put_message("w-mv-src", "mv1", "(\\Flagged)");
	uint32_t b = put_message("w-mv-src", "mv2", NULL);
	uint32_t c = put_message("w-mv-src", "mv3", NULL);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[128], body[128];

	snprintf(path, sizeof path, "/messages/%u/move?folder=w-mv-src", a);
	json_t *j = call(&g, "POST", path, "{\"to\":\"w-mv-dst\"}", 200);
	struct listing src, dst;
	list_folder("w-mv-src", &src);
	list_folder("w-mv-dst", &dst);
	cr_assert_null(find_id(&src, "mv1"), "moved out");
	const struct msg *m = find_id(&dst, "mv1");
	cr_assert_not_null(m, "moved in");
	cr_assert_eq(num(j, "uid"), m->uid, "the answer names the new UID");
	cr_assert_str_eq(m->flags, "\\Flagged", "flags travel with it");
	cr_assert_eq(num(j, "uidvalidity"), uidvalidity_of("w-mv-dst"));
	cr_assert_str_eq(json_string_value(json_object_get(j, "folder")), name("w-mv-dst"));
	json_decref(j);

	snprintf(path, sizeof path, "/messages/%u/copy?folder=w-mv-src", b);
	j = call(&g, "POST", path, "{\"to\":\"w-mv-dst\"}", 200);
	list_folder("w-mv-src", &src);
	list_folder("w-mv-dst", &dst);
	cr_assert_not_null(find_id(&src, "mv2"), "a copy leaves the original");
	cr_assert_eq(num(j, "uid"), must_id(&dst, "mv2")->uid);
	json_decref(j);

	/* bulk: one existing, one not */
	snprintf(body, sizeof body, "{\"uids\":[%u,777],\"to\":\"w-mv-dst\"}", c);
	j = call(&g, "POST", "/messages/move?folder=w-mv-src", body, 200);
	list_folder("w-mv-dst", &dst);
	json_t *moved = json_array_get(json_object_get(j, "messages"), 0);
	cr_assert_eq(num(moved, "uid"), c);
	cr_assert_eq(num(moved, "new_uid"), must_id(&dst, "mv3")->uid);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(j, "not_found"), 0)), 777);
	json_decref(j);
	list_folder("w-mv-src", &src);
	cr_assert_eq(src.n, 1, "only mv2 is left");

	/* unknown target: 404, and the message stays */
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-mv-src", b);
	expect(&g, "POST", path, "{\"to\":\"w-no-such-folder\"}", 404);
	expect(&g, "POST", path, "{\"to\":\"w-mv-src\"}", 400);
	expect(&g, "POST", path, "{\"to\":\"\"}", 400);
	expect(&g, "POST", path, "{\"to\":\"a\\r\\nb\"}", 400);
	expect(&g, "POST", path, "{\"uids\":[1],\"to\":\"w-mv-dst\"}", 400);
	list_folder("w-mv-src", &src);
	cr_assert_not_null(find_id(&src, "mv2"), "still there");
	cr_assert_eq(src.n, 1);
	if (server_has("MOVE"))
		cr_assert_gt(gw_count_sent(&g, "UID MOVE"), 0, "%s offers MOVE: it is used", on.name);
	else
		cr_assert_eq(gw_count_sent(&g, "UID MOVE"), 0, "%s has no MOVE", on.name);
	stop(&g);
}

Test(write, move_without_move_copies_and_expunges_exactly_that_uid)
{
	begin(DOVECOT);
	fresh_folder("w-nomove-src");
	fresh_folder("w-nomove-dst");
	uint32_t doomed = put_message("w-nomove-src", "nomove-keep", "(\\Deleted)");
	uint32_t a = put_message("w-nomove-src", "nomove1", "(\\Seen)");
	uint32_t b = put_message("w-nomove-src", "nomove2", NULL);
	struct gw g;
	gw_start_on(&g, &on, "--imap-ignore-caps", "MOVE", NULL);
	char path[128], body[128];
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-nomove-src", a);
	json_t *j = call(&g, "POST", path, "{\"to\":\"w-nomove-dst\"}", 200);
	struct listing src, dst;
	list_folder("w-nomove-src", &src);
	list_folder("w-nomove-dst", &dst);
	cr_assert_null(find_id(&src, "nomove1"));
	cr_assert_eq(num(j, "uid"), must_id(&dst, "nomove1")->uid);
	cr_assert_str_eq(must_id(&dst, "nomove1")->flags, "\\Seen", "the copy is not \\Deleted");
	json_decref(j);
	const struct msg *keep = find_uid(&src, doomed);
	cr_assert_not_null(keep, "another message marked \\Deleted stays");
	cr_assert_str_eq(keep->flags, "\\Deleted");

	snprintf(body, sizeof body, "{\"uids\":[%u],\"to\":\"w-nomove-dst\"}", b);
	json_decref(call(&g, "POST", "/messages/move?folder=w-nomove-src", body, 200));
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-nomove-src", doomed);
	expect(&g, "POST", path, "{\"to\":\"w-no-such-folder\"}", 404);
	list_folder("w-nomove-src", &src);
	cr_assert_eq(src.n, 1, "only the other \\Deleted message is left");
	cr_assert_eq(src.v[0].uid, doomed);
	cr_assert_eq(gw_count_sent(&g, "UID MOVE"), 0, "MOVE is not used when not offered");
	cr_assert_eq(gw_count_sent(&g, "UID COPY"), 3);
	cr_assert_eq(gw_count_sent(&g, " UID EXPUNGE "), 2);
	stop(&g);
}

Test(write, without_uidplus_copies_are_found_by_message_id)
{
	begin(DOVECOT);
	fresh_folder("w-nouidplus-src");
	fresh_folder("w-nouidplus-dst");
	put_message("w-nouidplus-dst", "nouidplus-filler", NULL);
	uint32_t a = put_message("w-nouidplus-src", "nouidplus1", NULL);
	uint32_t b = put_message("w-nouidplus-src", "nouidplus2", NULL);
	struct gw g;
	gw_start_on(&g, &on, "--imap-ignore-caps", "UIDPLUS", NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages/%u/copy?folder=w-nouidplus-src", a);
	json_t *j = call(&g, "POST", path, "{\"to\":\"w-nouidplus-dst\"}", 200);
	struct listing dst;
	list_folder("w-nouidplus-dst", &dst);
	cr_assert_eq(num(j, "uid"), must_id(&dst, "nouidplus1")->uid);
	cr_assert_eq(num(j, "uidvalidity"), uidvalidity_of("w-nouidplus-dst"));
	json_decref(j);
	/* MOVE is still offered: a move needs no UID EXPUNGE */
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-nouidplus-src", b);
	j = call(&g, "POST", path, "{\"to\":\"w-nouidplus-dst\"}", 200);
	list_folder("w-nouidplus-dst", &dst);
	cr_assert_eq(num(j, "uid"), must_id(&dst, "nouidplus2")->uid);
	json_decref(j);
	/* but deleting one message for good needs UID EXPUNGE: refused */
	snprintf(path, sizeof path, "/messages/%u?folder=w-nouidplus-src&permanent=true", a);
	expect(&g, "DELETE", path, NULL, 409);
	struct listing src;
	list_folder("w-nouidplus-src", &src);
	cr_assert_not_null(find_uid(&src, a), "refused: still there");
	cr_assert_eq(gw_count_sent(&g, "HEADER Message-ID"), 2);
	cr_assert_eq(gw_count_sent(&g, "EXPUNGE"), 0);
	stop(&g);
}

Test(write, without_move_or_uidplus_a_move_is_refused_and_nothing_changes)
{
	begin(DOVECOT);
	fresh_folder("w-neither-src");
	fresh_folder("w-neither-dst");
	uint32_t a = put_message("w-neither-src", "neither1", "(\\Seen)");
	struct gw g;
	gw_start_on(&g, &on, "--imap-ignore-caps", "MOVE,UIDPLUS", NULL);
	char path[128], body[96];
	snprintf(path, sizeof path, "/messages/%u/move?folder=w-neither-src", a);
	json_t *j = call(&g, "POST", path, "{\"to\":\"w-neither-dst\"}", 409);
	const char *detail = json_string_value(json_object_get(j, "detail"));
	cr_assert(strstr(detail, "MOVE") && strstr(detail, "UIDPLUS"), "%s", detail);
	cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "urn:imapgw:problem:refused");
	json_decref(j);
	snprintf(body, sizeof body, "{\"uids\":[%u],\"to\":\"w-neither-dst\"}", a);
	expect(&g, "POST", "/messages/move?folder=w-neither-src", body, 409);
	snprintf(path, sizeof path, "/messages/%u?folder=w-neither-src", a);
	expect(&g, "DELETE", path, NULL, 409);
	snprintf(path, sizeof path, "/messages/%u?folder=w-neither-src&permanent=true", a);
	expect(&g, "DELETE", path, NULL, 409);
	struct listing src, dst;
	list_folder("w-neither-src", &src);
	list_folder("w-neither-dst", &dst);
	cr_assert_eq(src.n, 1, "the message stays");
	cr_assert_str_eq(src.v[0].flags, "\\Seen", "not even flagged \\Deleted");
	cr_assert_eq(dst.n, 0, "and was not copied");
	cr_assert_eq(gw_count_sent(&g, "UID COPY"), 0);
	cr_assert_eq(gw_count_sent(&g, "UID STORE"), 0);
	/* a copy needs neither */
	snprintf(path, sizeof path, "/messages/%u/copy?folder=w-neither-src", a);
	j = call(&g, "POST", path, "{\"to\":\"w-neither-dst\"}", 200);
	list_folder("w-neither-dst", &dst);
	cr_assert_eq(num(j, "uid"), must_id(&dst, "neither1")->uid);
	json_decref(j);
	cr_assert_eq(gw_count_sent(&g, "EXPUNGE"), 0);
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, permanent_delete_leaves_other_deleted_messages)
{
	begin(srv);
	fresh_folder("w-perm");
	uint32_t other = put_message("w-perm", "perm-other", "(\\Deleted)");
	uint32_t a = put_message("w-perm", "perm1", NULL);
	uint32_t b = put_message("w-perm", "perm2", "(\\Seen)");
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages/%u?folder=w-perm&permanent=true", a);
	json_t *j = call(&g, "DELETE", path, NULL, 200);
	cr_assert(json_is_true(json_object_get(j, "permanent")));
	cr_assert(json_is_null(json_object_get(j, "moved_to")));
	json_decref(j);
	struct listing l;
	list_folder("w-perm", &l);
	cr_assert_null(find_uid(&l, a), "gone");
	cr_assert_not_null(find_uid(&l, other), "the other \\Deleted message stays");
	cr_assert_str_eq(must_uid(&l, other)->flags, "\\Deleted");
	cr_assert_str_eq(must_uid(&l, b)->flags, "\\Seen", "untouched");
	cr_assert_eq(l.n, 2);
	cr_assert_eq(gw_count_sent(&g, " UID EXPUNGE "), 1);
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, delete_moves_to_trash_and_from_trash_for_good)
{
	begin(srv);
	ensure_folder("Trash");
	fresh_folder("w-del");
	uint32_t a = put_message("w-del", "del-to-trash", NULL);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	char path[128];
	snprintf(path, sizeof path, "/messages/%u?folder=w-del", a);
	json_t *j = call(&g, "DELETE", path, NULL, 200);
	cr_assert(json_is_false(json_object_get(j, "permanent")));
	json_t *to = json_object_get(j, "moved_to");
	cr_assert_str_eq(json_string_value(json_object_get(to, "folder")), name("Trash"));
	struct listing l;
	list_folder("w-del", &l);
	cr_assert_eq(l.n, 0);
	list_folder("Trash", &l);
	const struct msg *m = find_id(&l, "del-to-trash");
	cr_assert_not_null(m, "in the Trash folder");
	cr_assert_eq(num(to, "uid"), m->uid);
	cr_assert_eq(num(to, "uidvalidity"), uidvalidity_of("Trash"));
	uint32_t in_trash = m->uid;
	json_decref(j);

	/* in the Trash folder already: deleted for good */
	snprintf(path, sizeof path, "/messages/%u?folder=Trash", in_trash);
	j = call(&g, "DELETE", path, NULL, 200);
	cr_assert(json_is_true(json_object_get(j, "permanent")));
	json_decref(j);
	list_folder("Trash", &l);
	cr_assert_null(find_id(&l, "del-to-trash"));
	stop(&g);
}

/* ---- append ---- */

static const char append_body[] =
	"Message-ID: <append1@test>\r\n"
	"From: =?UTF-8?Q?J=C3=B6rg?= <j@example.com>\r\n"
	"To: erin@example.com\r\n"
	"Subject: stored as sent\r\n"
	"Date: Mon, 5 Feb 2024 10:00:00 +0100\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"Gr\xc3\xbc\xc3\x9f""e, a line with trailing spaces   \r\n"
	"\tand a tab, \"quotes\", {braces} and a lone CR\r"
	" in the middle.\r\n"
	".\r\n"
	"\r\n";

struct body_ctx {
	struct imap_buf body;
	char date[64];
};

static int on_body(void *ctx, const struct imap_response *r)
{
	struct body_ctx *b = ctx;
	const struct imap_value *att = r->args ? imap_value_at(r->args, 2) : NULL, *v;
	size_t i;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 >= att->count)
			break;
		const struct imap_value *val = imap_value_next(v);
		if (imap_value_is_atom(v, "BODY[]") && imap_value_is_string(val))
			imap_buf_append(&b->body, val->str, val->len);
		if (imap_value_is_atom(v, "INTERNALDATE") && imap_value_is_string(val))
			snprintf(b->date, sizeof b->date, "%s", val->str);
		v = val;
		i++;
	}
	return 0;
}

static void fetch_body(const char *folder, uint32_t uid, struct body_ctx *b)
{
	folder = name(folder);
	struct imap_session *s = writer();
	struct imap_error err = {0};
	char cmd[96];
	imap_buf_init(&b->body, 0);
	cr_assert_eq(imap_session_select(s, folder, true, deadline(), &err), 0, "%s", err.msg);
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	snprintf(cmd, sizeof cmd, "UID FETCH %u (BODY.PEEK[] INTERNALDATE)", uid);
	imap_cmd_raw(&c, cmd);
	cr_assert_eq(imap_session_run(s, &c, on_body, b, deadline(), &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&s, deadline());
}

static void append_and_check(const struct gw *g, const char *folder)
{
	char path[256];
	snprintf(path, sizeof path,
	         "/messages?folder=%s&flags=%%5CSeen%%20%%24Work&flags=%%5Cflagged"
	         "&received=2023-12-24T18:30:05.5-05:00",
	         folder);
	struct gw_reply r;
	send_body(g, "POST", path, "message/rfc822; charset=utf-8", append_body,
	                sizeof append_body - 1, &r);
	cr_assert_eq(r.status, 201, "%s", r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	uint32_t uid = (uint32_t)num(j, "uid");
	cr_assert_eq(num(j, "uidvalidity"), uidvalidity_of(folder));
	char loc[256], want[256];
	cr_assert_eq(gw_header(&r, "Location", loc, sizeof loc), 0);
	snprintf(want, sizeof want, "/messages/%u?folder=%s", uid, folder);
	cr_assert_str_eq(loc, on_server(want));
	json_decref(j);
	gw_reply_free(&r);

	struct body_ctx b;
	fetch_body(folder, uid, &b);
	/* Courier drops a CR that does not start a CRLF (RFC 5322 has none):
	 * the rest is kept as sent */
	char want_body[sizeof append_body];
	size_t n = 0;
	bool courier = strcmp(on.name, "courier") == 0;
	for (size_t i = 0; i < sizeof append_body - 1; i++)
		if (!courier || append_body[i] != '\r' || append_body[i + 1] == '\n')
			want_body[n++] = append_body[i];
	cr_assert_eq(b.body.len, n, "%s: stored %zu bytes", on.name, b.body.len);
	cr_assert(memcmp(b.body.data, want_body, n) == 0, "%s: stored unchanged", on.name);
	/* the instant asked for (Dovecot keeps the instant, not the zone) */
	int64_t got, want_epoch;
	cr_assert_eq(imap_date_parse_internal(b.date, strlen(b.date), &got, NULL), 0, "%s", b.date);
	cr_assert_eq(imap_date_parse_internal("24-Dec-2023 18:30:05 -0500", 26, &want_epoch, NULL),
	             0);
	cr_assert_eq(got, want_epoch, "INTERNALDATE %s", b.date);
	imap_buf_free(&b.body);
	cr_assert_str_eq(server_flags(folder, uid), "$Work \\Flagged \\Seen");
}

TEST_ON_EVERY_SERVER(write, append_stores_the_bytes_unchanged)
{
	begin(srv);
	fresh_folder("w-append");
	struct gw g;
	gw_start_on(&g, &on, NULL);
	append_and_check(&g, "w-append");
	if (server_has("LITERAL+"))
		cr_assert_gt(gw_count_sent(&g, "+}"), 0, "%s offers LITERAL+: used", on.name);
	stop(&g);
}

Test(write, append_waits_for_the_server_without_literal_plus)
{
	begin(DOVECOT);
	fresh_folder("w-append-sync");
	struct gw g;
	gw_start_on(&g, &on, "--imap-ignore-caps", "LITERAL+", NULL);
	append_and_check(&g, "w-append-sync");
	cr_assert_eq(gw_count_sent(&g, "+}"), 0, "synchronizing literal");
	cr_assert_eq(gw_count_sent(&g, "APPEND w-append-sync"), 1, "sent once");
	stop(&g);
}

TEST_ON_EVERY_SERVER(write, append_limits_and_refusals)
{
	begin(srv);
	fresh_folder("w-append-bad");
	struct gw g;
	gw_start_on(&g, &on, "--append-max", "2K", "--body-max", "200", NULL);
	struct gw_reply r;
	char big[3000];
	make_message(big, sizeof big, "big");
	size_t len = strlen(big);
	memset(big + len, 'x', sizeof big - len);
	send_body(&g, "POST", "/messages?folder=w-append-bad", "message/rfc822", big,
	                sizeof big, &r);
	cr_assert_eq(r.status, 413, "%s", r.body.data);
	cr_assert(strstr(r.body.data, "--append-max"), "%s", r.body.data);
	gw_reply_free(&r);
	/* 1,000 bytes: over --body-max, but a message has its own limit */
	send_body(&g, "POST", "/messages?folder=w-append-bad", "message/rfc822", big,
	                1000, &r);
	cr_assert_eq(r.status, 201, "%s", r.body.data);
	gw_reply_free(&r);
	/* while a JSON body over --body-max is refused */
	char json[400];
	snprintf(json, sizeof json, "{\"add\":[\"$%0300d\"]}", 0);
	send_body(&g, "PATCH", "/messages/1/flags?folder=w-append-bad",
	                "application/json", json, strlen(json), &r);
	cr_assert_eq(r.status, 413, "%s", r.body.data);
	cr_assert(strstr(r.body.data, "--body-max"), "%s", r.body.data);
	gw_reply_free(&r);

	const char *msg = "Message-ID: <bad@test>\r\n\r\nx\r\n";
	static const struct {
		const char *path, *type;
		long status;
	} cases[] = {
		{"/messages?folder=w-append-bad", NULL, 415},
		{"/messages?folder=w-append-bad", "application/json", 415},
		{"/messages?folder=w-no-such-folder", "message/rfc822", 404},
		{"/messages?folder=w-append-bad&received=yesterday", "message/rfc822", 400},
		{"/messages?folder=w-append-bad&received=2024-02-30T10:00:00Z", "message/rfc822", 400},
		{"/messages?folder=w-append-bad&received=1850-01-01T10:00:00Z", "message/rfc822", 400},
		{"/messages?folder=w-append-bad&flags=two%09words", "message/rfc822", 400},
		{"/messages?folder=w-append-bad&bogus=1", "message/rfc822", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		send_body(&g, "POST", cases[i].path, cases[i].type, msg, strlen(msg), &r);
		cr_expect_eq(r.status, cases[i].status, "%s (%s): %ld %s", cases[i].path,
		             cases[i].type ? cases[i].type : "no type", r.status, r.body.data);
		gw_reply_free(&r);
	}
	send_body(&g, "POST", "/messages?folder=w-append-bad", "message/rfc822",
	                "a\0b", 3, &r);
	cr_assert_eq(r.status, 400, "NUL: %s", r.body.data);
	gw_reply_free(&r);
	send_body(&g, "POST", "/messages?folder=w-append-bad", "message/rfc822", "", 0,
	                &r);
	cr_assert_eq(r.status, 400, "empty: %s", r.body.data);
	gw_reply_free(&r);
	struct listing l;
	list_folder("w-append-bad", &l);
	cr_assert_eq(l.n, 1, "only the 1,000-byte message was stored");
	stop(&g);
}

/* ---- folders ---- */

Test(write, folders_create_rename_subscribe_delete_with_non_ascii_names)
{
	begin(DOVECOT);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	/* "Wé/Données/Équipe": parents are created too */
	json_t *j = call(&g, "POST", "/folders",
	                 "{\"path\":\"W\\u00e9/Donn\\u00e9es/\\u00c9quipe\"}", 201);
	cr_assert_str_eq(json_string_value(json_object_get(j, "path")),
	                 "W\u00e9/Donn\u00e9es/\u00c9quipe");
	cr_assert(json_is_true(json_object_get(j, "subscribed")));
	cr_assert_eq(num(j, "messages"), 0);
	json_decref(j);
	struct imap_folder_list l;
	server_folders(&l);
	const struct imap_folder *f = test_folder_find(&l, "W\u00e9/Donn\u00e9es/\u00c9quipe");
	cr_assert_not_null(f);
	cr_assert_str_eq(f->raw, "W&AOk-/Donn&AOk-es/&AMk-quipe", "modified UTF-7 on the wire");
	cr_assert(f->subscribed);
	cr_assert_not_null(test_folder_find(&l, "W\u00e9"));
	cr_assert(test_folder_must(&l, "W\u00e9/Donn\u00e9es")->selectable, "a real folder, created");
	imap_folder_list_free(&l);

	expect(&g, "POST", "/folders", "{\"path\":\"W\\u00e9/Donn\\u00e9es/\\u00c9quipe\"}", 409);
	expect(&g, "POST", "/folders", "{\"path\":\"INBOX\"}", 409);
	expect(&g, "POST", "/folders", "{\"path\":\"a//b\"}", 400);
	expect(&g, "POST", "/folders", "{\"path\":\"trailing/\"}", 400);
	expect(&g, "POST", "/folders", "{\"path\":\"wild*card\"}", 400);
	expect(&g, "POST", "/folders", "{\"path\":7}", 400);
	expect(&g, "POST", "/folders", "{\"name\":\"x\"}", 400);

	/* rename (with a message inside, which goes along), then unsubscribe */
	put_message("W\u00e9/Donn\u00e9es/\u00c9quipe", "folder-msg", NULL);
	j = call(&g, "PATCH", "/folders/W%C3%A9/Donn%C3%A9es/%C3%89quipe",
	         "{\"path\":\"W\\u00e9/Archiv\\u00e9/\\u00c9quipe 2024\"}", 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "path")),
	                 "W\u00e9/Archiv\u00e9/\u00c9quipe 2024");
	cr_assert_eq(num(j, "messages"), 1);
	json_decref(j);
	j = call(&g, "PATCH", "/folders/W%C3%A9/Archiv%C3%A9/%C3%89quipe%202024",
	         "{\"subscribed\":false}", 200);
	cr_assert(json_is_false(json_object_get(j, "subscribed")));
	json_decref(j);
	server_folders(&l);
	cr_assert_null(test_folder_find(&l, "W\u00e9/Donn\u00e9es/\u00c9quipe"), "renamed away");
	f = test_folder_find(&l, "W\u00e9/Archiv\u00e9/\u00c9quipe 2024");
	cr_assert_not_null(f);
	cr_assert(!f->subscribed);
	imap_folder_list_free(&l);
	struct listing m;
	cr_assert(list_folder("W\u00e9/Archiv\u00e9/\u00c9quipe 2024", &m));
	cr_assert_not_null(find_id(&m, "folder-msg"));

	expect(&g, "PATCH", "/folders/W%C3%A9/Nope", "{\"path\":\"x\"}", 404);
	expect(&g, "PATCH", "/folders/W%C3%A9", "{\"path\":\"W\\u00e9/Sub\"}", 400);
	expect(&g, "PATCH", "/folders/W%C3%A9/Archiv%C3%A9", "{\"path\":\"W\\u00e9/Donn\\u00e9es\"}",
	       409);
	expect(&g, "PATCH", "/folders/INBOX", "{\"path\":\"Inbox2\"}", 409);
	expect(&g, "PATCH", "/folders/W%C3%A9", "{}", 400);
	expect(&g, "DELETE", "/folders/INBOX?force=true", NULL, 409);
	expect(&g, "DELETE", "/folders/W%C3%A9/Nope", NULL, 404);

	/* children and messages: refused unless forced */
	j = call(&g, "DELETE", "/folders/W%C3%A9", NULL, 409);
	cr_assert(strstr(json_string_value(json_object_get(j, "detail")), "force=true"));
	cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "urn:imapgw:problem:refused");
	json_decref(j);
	j = call(&g, "PATCH", "/folders/W%C3%A9/Archiv%C3%A9", "{\"path\":\"W\\u00e9/Donn\\u00e9es\"}",
	         409);
	cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "urn:imapgw:problem:exists");
	json_decref(j);
	expect(&g, "DELETE", "/folders/W%C3%A9/Archiv%C3%A9/%C3%89quipe%202024", NULL, 409);
	server_folders(&l);
	cr_assert_not_null(test_folder_find(&l, "W\u00e9/Archiv\u00e9/\u00c9quipe 2024"), "still there");
	imap_folder_list_free(&l);

	j = call(&g, "DELETE", "/folders/W%C3%A9?force=true", NULL, 200);
	json_t *gone = json_object_get(j, "deleted");
	/* Wé/Données (made as a parent, left by the rename), Wé/Archivé (made
	 * as a parent by the rename) and what was renamed */
	cr_assert_eq(json_array_size(gone), 4);
	cr_assert_str_eq(json_string_value(json_array_get(gone, 0)),
	                 "W\u00e9/Archiv\u00e9/\u00c9quipe 2024", "deepest first");
	cr_assert_str_eq(json_string_value(json_array_get(gone, 3)), "W\u00e9");
	json_decref(j);
	server_folders(&l);
	for (size_t i = 0; i < l.n; i++)
		cr_expect(strncmp(l.v[i].path, "W\u00e9", 3) != 0, "%s is left", l.v[i].path);
	cr_assert_not_null(test_folder_find(&l, "INBOX"));
	imap_folder_list_free(&l);
	stop(&g);
}

/* The problem answer must give `needle`: in its detail (the gateway's
 * words) or, when the reason is the server's own, in imap_detail (and then
 * the detail is not the server's text). */
static void expect_detail(const struct gw *g, const char *method, const char *path,
                          const char *json, long want, const char *needle)
{
	json_t *j = call(g, method, path, json, want);
	const char *detail = json_string_value(json_object_get(j, "detail"));
	const char *imap = json_string_value(json_object_get(j, "imap_detail"));
	cr_expect(detail, "%s %s: no detail", method, path);
	cr_expect((detail && strstr(detail, needle)) || (imap && strstr(imap, needle)),
	          "%s %s: detail %s (imap_detail %s) lacks '%s'", method, path,
	          detail ? detail : "(none)", imap ? imap : "(none)", needle);
	cr_expect(!imap || !detail || !strstr(detail, imap), "%s %s: the server's words in detail",
	          method, path);
	json_decref(j);
}

/* Every folder erin has, one per line, as the server lists it. */
static void folder_names(char *out, size_t cap)
{
	struct imap_folder_list l;
	server_folders(&l);
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l.n && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s\n", l.v[i].path);
	imap_folder_list_free(&l);
}

/* Names the server refuses as names are the client's error (400, with the
 * server's reason), and a refused create leaves no folder behind: not the
 * parents it made on the way, and never one that was there before. */
Test(write, folder_names_the_server_refuses_are_400_and_leave_nothing)
{
	begin(DOVECOT);
	char seg[301], json[512], before[8192], after[8192];
	memset(seg, 'y', 300);
	seg[300] = '\0';
	struct gw g;
	gw_start_on(&g, &on, NULL);
	fresh_folder("Kept");
	folder_names(before, sizeof before);

	expect_detail(&g, "POST", "/folders", "{\"path\":\"a/../b\"}", 400, "'..'");
	expect_detail(&g, "POST", "/folders", "{\"path\":\"~tilde\"}", 400, "'~'");
	expect_detail(&g, "POST", "/folders", "{\"path\":\"n1/n2/../x\"}", 400, "'..'");
	snprintf(json, sizeof json, "{\"path\":\"p/%s\"}", seg);
	expect_detail(&g, "POST", "/folders", json, 400, "too long");
	snprintf(json, sizeof json, "{\"path\":\"Kept/%s\"}", seg);
	expect_detail(&g, "POST", "/folders", json, 400, "too long");
	expect_detail(&g, "PATCH", "/folders/Kept", "{\"path\":\"r1/../r2\"}", 400, "'..'");
	expect_detail(&g, "GET", "/messages?folder=..", NULL, 400, "'..'");

	folder_names(after, sizeof after);
	cr_expect_str_eq(after, before, "folders left behind (before, then after)");
	/* and a good name still works, parents and all */
	expect(&g, "POST", "/folders", "{\"path\":\"n1/n2/ok\"}", 201);
	expect(&g, "DELETE", "/folders/n1?force=true", NULL, 200);
	expect(&g, "DELETE", "/folders/Kept?force=true", NULL, 200);
	stop(&g);
}

Test(write, methods_each_route_does_not_take_are_405)
{
	begin(DOVECOT);
	struct gw g;
	gw_start_on(&g, &on, NULL);
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
		{"GET", "/messages/5/move", "POST, OPTIONS"},
		{"DELETE", "/messages/5/copy", "POST, OPTIONS"},
		{"GET", "/messages/move", "POST, OPTIONS"},
		{"POST", "/messages/flags", "PATCH, OPTIONS"},
		{"POST", "/messages/5/flags", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"PUT", "/messages", "GET, HEAD, POST, OPTIONS"},
		{"PUT", "/folders", "GET, HEAD, POST, OPTIONS"},
		{"POST", "/folders/Archive", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"PATCH", "/messages/5", "GET, HEAD, DELETE, OPTIONS"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gw_reply r;
		gw_request(&g, cases[i].method, on_server(cases[i].path), WRITER, NULL, &r);
		cr_expect_eq(r.status, 405, "%s %s: %ld", cases[i].method, cases[i].path, r.status);
		char allow[64] = "";
		gw_header(&r, "Allow", allow, sizeof allow);
		cr_expect_str_eq(allow, cases[i].allow, "%s %s", cases[i].method, cases[i].path);
		gw_reply_free(&r);
	}
	struct gw_reply r;
	gw_request(&g, "DELETE", on_server("/folders/"), WRITER, NULL, &r);
	cr_assert_eq(r.status, 404, "no folder named");
	gw_reply_free(&r);
	gw_request(&g, "DELETE", on_server("/messages/"), WRITER, NULL, &r);
	cr_assert_eq(r.status, 404, "no message named");
	gw_reply_free(&r);
	gw_request(&g, "DELETE", on_server("/messages/abc"), WRITER, NULL, &r);
	cr_assert_eq(r.status, 400, "not a UID");
	gw_reply_free(&r);
	const char *body = "{\"add\":[\"$x\"]}";
	gw_request_body(&g, "PATCH", "/messages/1/flags", NULL, NULL, "application/json", body,
	                strlen(body), &r);
	cr_assert_eq(r.status, 401, "credentials are needed");
	gw_reply_free(&r);
	stop(&g);
}

/* ---- a move while another client pages through the folder ---- */

struct walker {
	const struct gw *g;
	char ids[MSGS_MAX][64];
	size_t n;
	int pages;
	long status;
};

static void *walk(void *arg)
{
	struct walker *w = arg;
	char path[256] = "/messages?folder=w-race-src&per_page=4";
	for (;;) {
		struct gw_reply r;
		gw_request(w->g, "GET", on_server(path), WRITER, NULL, &r);
		w->status = r.status;
		json_t *j = r.status == 200 ? json_loads(r.body.data, 0, NULL) : NULL;
		gw_reply_free(&r);
		if (!j)
			return NULL;
		w->pages++;
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(j, "messages"), i, m) {
			const char *id = json_string_value(json_object_get(m, "message_id"));
			if (id && w->n < MSGS_MAX)
				snprintf(w->ids[w->n++], sizeof w->ids[0], "%s", id);
		}
		const char *next = json_string_value(json_object_get(j, "next_cursor"));
		if (next)
			snprintf(path, sizeof path, "/messages?folder=w-race-src&per_page=4&cursor=%s",
			         next);
		json_decref(j);
		if (!next)
			return NULL;
	}
}

struct mover {
	const struct gw *g;
	uint32_t uids[32];
	size_t n;
	long bad_status;
};

static void *move_some(void *arg)
{
	struct mover *mv = arg;
	for (size_t i = 0; i < mv->n; i++) {
		char path[128];
		snprintf(path, sizeof path, "/messages/%u/move?folder=w-race-src", mv->uids[i]);
		struct gw_reply r;
		const char *body = "{\"to\":\"w-race-dst\"}";
		send_body(mv->g, "POST", path, "application/json", body, strlen(body), &r);
		if (r.status != 200)
			mv->bad_status = r.status;
		gw_reply_free(&r);
	}
	return NULL;
}

TEST_ON_EVERY_SERVER(write, moving_half_a_folder_while_it_is_listed_loses_and_duplicates_nothing)
{
	begin(srv);
	enum { N = 32 };
	fresh_folder("w-race-src");
	fresh_folder("w-race-dst");
	struct mover mv = {0};
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof id, "race%02d", i);
		uint32_t uid = put_message("w-race-src", id, NULL);
		if (i % 2)
			mv.uids[mv.n++] = uid;
	}
	struct gw g;
	gw_start_on(&g, &on, NULL);
	struct walker w = {.g = &g};
	mv.g = &g;
	pthread_t tw, tm;
	pthread_create(&tm, NULL, move_some, &mv);
	pthread_create(&tw, NULL, walk, &w);
	pthread_join(tw, NULL);
	pthread_join(tm, NULL);
	cr_assert_eq(w.status, 200, "the listing answered %ld", w.status);
	cr_assert_eq(mv.bad_status, 0, "%s: a move answered %ld", on.name,
	             mv.bad_status);
	cr_assert_geq(w.pages, 1);

	struct listing src, dst;
	list_folder("w-race-src", &src);
	list_folder("w-race-dst", &dst);
	cr_assert_eq(src.n + dst.n, N, "%zu + %zu messages", src.n, dst.n);
	cr_assert_eq(dst.n, N / 2);
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof id, "race%02d", i);
		const struct msg *a = find_id(&src, id), *b = find_id(&dst, id);
		cr_expect((a != NULL) != (b != NULL), "%s: in src %d, in dst %d", id, a != NULL,
		          b != NULL);
		cr_expect(i % 2 ? b != NULL : a != NULL, "%s is in the wrong folder", id);
	}
	/* what the walker saw: no message twice, nothing unknown */
	for (size_t i = 0; i < w.n; i++) {
		cr_expect(strncmp(w.ids[i], "<race", 5) == 0, "unknown %s", w.ids[i]);
		for (size_t k = 0; k < i; k++)
			cr_expect(strcmp(w.ids[i], w.ids[k]) != 0, "%s listed twice", w.ids[i]);
	}
	for (int i = 0; i < N; i += 2) {
		char id[40];
		snprintf(id, sizeof id, "<race%02d@test>", i);
		bool seen = false;
		for (size_t k = 0; k < w.n && !seen; k++)
			seen = strcmp(w.ids[k], id) == 0;
		cr_expect(seen, "%s never moved, yet the walk missed it", id);
	}
	stop(&g);
}
