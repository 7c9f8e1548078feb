/*
 * Message content end to end: GET /messages/{uid}, /raw, /attachments and
 * /attachments/{part} of the real daemon against the private Dovecot,
 * Cyrus and Courier, compared with the seed files the messages were made
 * from (tests/seed/seedgen.c: <id>.eml and parts/<id>/<section>; alice holds
 * them on every server, tests/seed-imap.py). frank's folders hold messages
 * the tests append themselves. Only the test of the gateway's memory with a
 * 50 MiB attachment runs on Dovecot alone.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imap/client.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(content, .init = setup, .timeout = 600);

#define ALICE "alice", "alice-secret"
#define FRANK "frank", "frank-secret"
#define DOVECOT (&test_servers[0])

/* The server of the running test (each test is a process of its own). */
static struct test_server on;

static void begin(const struct test_server *srv)
{
	test_server_need(srv);
	on = *srv;
}

static void start(struct gw *g)
{
	gw_start_on(g, &on, NULL);
}

/* ---- the seed set ---- */

static const char *seed_dir(void)
{
	static char dir[512];
	snprintf(dir, sizeof dir, "%s", getenv("IMAPGW_TEST_SEED_MANIFEST"));
	return dirname(dir);
}

/* The folder and UID of seed message `id` (the n-th line of its folder). */
static unsigned seed_uid(const char *id, char *folder, size_t cap)
{
	FILE *f = fopen(getenv("IMAPGW_TEST_SEED_MANIFEST"), "r");
	cr_assert_not_null(f);
	char line[4096], want[256] = "";
	unsigned uid = 0;
	/* first pass: its folder */
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (tab && (size_t)(tab - line) == strlen(id) && strncmp(line, id, strlen(id)) == 0) {
			size_t n = strcspn(tab + 1, "\t");
			snprintf(want, sizeof want, "%.*s", (int)n, tab + 1);
		}
	}
	cr_assert(want[0], "no seed message %s", id);
	rewind(f);
	while (fgets(line, sizeof line, f)) {
		char *tab = strchr(line, '\t');
		if (!tab || line[0] == '-' || strncmp(tab + 1, want, strlen(want)) ||
		    tab[1 + strlen(want)] != '\t')
			continue;
		uid++;
		if ((size_t)(tab - line) == strlen(id) && strncmp(line, id, strlen(id)) == 0)
			break;
	}
	fclose(f);
	if (folder)
		snprintf(folder, cap, "%s", want);
	return uid;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static char *seed_part(const char *id, const char *section, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/parts/%s/%s", seed_dir(), id, section);
	return read_file(path, len);
}

/* ---- requests ---- */

/* "/messages/<uid><suffix>?folder=<folder>&<query>" with the folder escaped. */
static void msg_path(char *out, size_t cap, const char *folder, unsigned uid, const char *suffix,
                     const char *query)
{
	char esc[512], path[256];
	test_server_path(&on, folder, path, sizeof path);
	test_url_escape(path, esc, sizeof esc);
	snprintf(out, cap, "/messages/%u%s?folder=%s%s%s", uid, suffix, esc, query ? "&" : "",
	         query ? query : "");
}

static json_t *get_json(const struct gw *g, const char *path, long want)
{
	struct gw_reply r;
	gw_request(g, "GET", path, ALICE, NULL, &r);
	cr_assert_eq(r.status, want, "GET %s: %ld %s", path, r.status, r.body.data);
	json_error_t e;
	json_t *j = json_loads(r.body.data, 0, &e);
	cr_assert_not_null(j, "GET %s: not JSON: %s", path, r.body.data);
	gw_reply_free(&r);
	return j;
}

static json_t *seed_json(const struct gw *g, const char *id, const char *suffix,
                         const char *query)
{
	char folder[256], path[1024];
	unsigned uid = seed_uid(id, folder, sizeof folder);
	msg_path(path, sizeof path, folder, uid, suffix, query);
	return get_json(g, path, 200);
}

/* ---- messages of our own (user frank) ---- */

/* Dovecot's own tool appends without the size limit a client's command
 * has (the 50 MiB message). */
static void frank_folder_doveadm(const char *folder, const char *const *msgs, size_t n)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s mailbox create -u frank '%s'", getenv("IMAPGW_TEST_DOVEADM"),
	         folder);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	for (size_t i = 0; i < n; i++) {
		snprintf(cmd, sizeof cmd, "%s save -u frank -m '%s'", getenv("IMAPGW_TEST_DOVEADM"),
		         folder);
		FILE *p = popen(cmd, "w");
		cr_assert_not_null(p);
		fwrite(msgs[i], 1, strlen(msgs[i]), p);
		cr_assert_eq(pclose(p), 0, "%s", cmd);
	}
}

/* A new folder `folder` of frank's holding the messages msgs[0..n),
 * appended by the server's own tool on Dovecot and over IMAP elsewhere
 * (not through imapgw): message i gets UID i + 1. */
static void frank_folder(const char *folder, const char *const *msgs, size_t n)
{
	char lock[64], path[256];
	snprintf(lock, sizeof lock, "frank-%s", on.name);
	test_user_lock(lock);  /* for the rest of the test: it changes frank's folders */
	if (strcmp(on.name, "dovecot") == 0) {
		frank_folder_doveadm(folder, msgs, n);
		return;
	}
	test_server_path(&on, folder, path, sizeof path);
	struct imap_session *s = test_imap_login_on(&on, FRANK);
	struct imap_error err = {0};
	struct imap_cmd c;
	static const char *const verbs[] = {"DELETE", "CREATE"};
	for (size_t v = 0; v < 2; v++) {
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, verbs[v]);
		imap_cmd_mailbox(&c, path, strlen(path));
		int rc = imap_session_run(s, &c, NULL, NULL, imap_now_ms() + 15000, &err);
		imap_cmd_free(&c);
		cr_assert(v == 0 || rc == 0, "CREATE %s: %s", path, err.msg);
	}
	for (size_t i = 0; i < n; i++) {
		imap_session_cmd(s, &c);
		imap_cmd_atom(&c, "APPEND");
		imap_cmd_mailbox(&c, path, strlen(path));
		imap_cmd_literal(&c, msgs[i], strlen(msgs[i]));
		cr_assert_eq(imap_session_run(s, &c, NULL, NULL, imap_now_ms() + 120000, &err), 0,
		             "APPEND to %s: %s", path, err.msg);
		imap_cmd_free(&c);
	}
	imap_session_logout(&s, imap_now_ms() + 15000);
}

/* A request path with frank's folder (after "folder=") as the server has it. */
static const char *frank_path(const char *path)
{
	static _Thread_local char out[1024];
	const char *at = strstr(path, "folder=");
	if (!at) {
		snprintf(out, sizeof out, "%s", path);
	} else {
		at += strlen("folder=");
		snprintf(out, sizeof out, "%.*s%s%s", (int)(at - path), path, on.prefix, at);
	}
	return out;
}

static json_t *frank_json(const struct gw *g, const char *path, long want)
{
	struct gw_reply r;
	gw_request(g, "GET", frank_path(path), FRANK, NULL, &r);
	cr_assert_eq(r.status, want, "GET %s: %ld %s", path, r.status, r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	cr_assert_not_null(j, "GET %s: not JSON: %s", path, r.body.data);
	gw_reply_free(&r);
	return j;
}

static bool has_seen(const json_t *msg)
{
	return json_is_true(json_object_get(msg, "seen"));
}

/* ---- GET /messages/{uid}/raw ---- */

/* What Cyrus stores of a message with raw 8-bit bytes in its header (its
 * munge8bit setting, on by default): each such byte becomes an 'X'; the
 * body is kept. */
static void munge_8bit_headers(char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i >= 3 && memcmp(msg + i - 3, "\r\n\r\n", 4) == 0)
			return;
		if ((unsigned char)msg[i] >= 0x80)
			msg[i] = 'X';
	}
}

TEST_ON_EVERY_SERVER(content, raw_source_is_byte_identical_to_what_was_appended)
{
	begin(srv);
	struct gw g;
	start(&g);
	const char *ids[] = {"plain-7bit", "plain-latin1", "nested-structure", "large-attachment",
	                     "nihongo", "subj-raw-utf8"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char folder[256], path[1024], file[1024], v[64];
		unsigned uid = seed_uid(ids[i], folder, sizeof folder);
		msg_path(path, sizeof path, folder, uid, "/raw", NULL);
		struct gw_reply r;
		gw_request(&g, "GET", path, ALICE, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %ld %s", ids[i], r.status, r.body.data);
		cr_assert_eq(gw_header(&r, "Content-Type", v, sizeof v), 0);
		cr_expect_str_eq(v, "message/rfc822");
		snprintf(file, sizeof file, "%s/%s.eml", seed_dir(), ids[i]);
		size_t len;
		char *want = read_file(file, &len);
		if (strcmp(on.name, "cyrus") == 0)
			munge_8bit_headers(want, len);
		cr_assert_eq(gw_header(&r, "Content-Length", v, sizeof v), 0, "length announced");
		cr_expect_eq(strtoull(v, NULL, 10), len);
		cr_assert_eq(r.body.len, len, "%s: %zu bytes, want %zu", ids[i], r.body.len, len);
		size_t at = 0;
		while (at < len && r.body.data[at] == want[at])
			at++;
		cr_assert(at == len, "%s: %s: bytes differ from byte %zu: %.60s", on.name, ids[i], at,
		          r.body.data + at);
		free(want);
		gw_reply_free(&r);
	}
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK[]"), 6, "one FETCH per download");
	cr_expect_eq(gw_count_sent(&g, "BODY[]"), 0, "never a FETCH that sets \\Seen");
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(content, bad_references_are_problems)
{
	begin(srv);
	struct gw g;
	start(&g);
	struct {
		const char *path;
		long status;
	} cases[] = {
		{"/messages/abc", 400},
		{"/messages/0", 400},
		{"/messages/01", 400},
		{"/messages/4294967296", 400},
		{"/messages/-1/raw", 400},
		{"/messages/99999/raw", 404},
		{"/messages/99999", 404},
		{"/messages/99999/attachments", 404},
		{"/messages/1/attachments/9", 404},
		{"/messages/1/attachments/1..2", 400},
		{"/messages/1/attachments/a", 400},
		{"/messages/1/attachments/1.HEADER", 400},
		{"/messages/1/attachments/0", 400},
		{"/messages/1/attachments/", 400},
		{"/messages/1/nope", 404},
		{"/messages/1/raw?folder=No%20Such%20Folder", 404},
		{"/messages/1/raw?uidvalidity=1", 409},
		{"/messages/1?uidvalidity=1", 409},
		{"/messages/1/attachments?uidvalidity=1", 409},
		{"/messages/1?max_bytes=0", 400},
		{"/messages/1?max_bytes=x", 400},
		{"/messages/1?mark_seen=maybe", 400},
		{"/messages/1?headers=a%20b", 400},
		{"/messages/1?headers=a:b", 400},
		{"/messages/1?bogus=1", 400},
		{"/messages/1/raw?folder=%0D%0A", 400},
		{"/messages/1/raw?folder=INBOX%00x", 404},   /* no NUL cuts the name short */
		{"/messages/1/attachments/1%00", 400},
		{"/messages/1%00/raw", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gw_reply r;
		char v[128];
		gw_request(&g, "GET", cases[i].path, ALICE, NULL, &r);
		cr_expect_eq(r.status, cases[i].status, "%s: %ld %s", cases[i].path, r.status,
		             r.body.data);
		cr_expect_eq(gw_header(&r, "Content-Type", v, sizeof v), 0);
		cr_expect_str_eq(v, "application/problem+json", "%s", cases[i].path);
		if (cases[i].status == 409)
			cr_expect(strstr(r.body.data, "\"urn:imapgw:problem:stale-uidvalidity\"") != NULL,
			          "%s: %s", cases[i].path, r.body.data);
		gw_reply_free(&r);
	}
	struct gw_reply r;
	gw_request(&g, "POST", "/messages/1/raw", ALICE, NULL, &r);
	cr_expect_eq(r.status, 405);
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- GET /messages/{uid}: text and html ---- */

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	cr_assert(v && (json_is_string(v) || json_is_null(v)), "no string member %s", key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The text the detail shows equals the seed part (UTF-8 parts) exactly. */
static void expect_text_is_part(const struct gw *g, const char *id, const char *key,
                                const char *section)
{
	json_t *j = seed_json(g, id, "", NULL);
	size_t len;
	char *want = seed_part(id, section, &len);
	const char *got = jstr(j, key);
	cr_assert_not_null(got, "%s: %s is null", id, key);
	cr_expect_str_eq(got, want, "%s: %s", id, key);
	cr_expect(json_is_false(json_object_get(j, "truncated")));
	free(want);
	json_decref(j);
}

TEST_ON_EVERY_SERVER(content, text_and_html_are_decoded_as_a_mail_client_shows_them)
{
	begin(srv);
	struct gw g;
	start(&g);
	/* transfer encodings: 7bit, quoted-printable, base64, 8bit */
	expect_text_is_part(&g, "plain-7bit", "text", "1");
	expect_text_is_part(&g, "plain-qp", "text", "1");
	expect_text_is_part(&g, "plain-base64", "text", "1");
	expect_text_is_part(&g, "plain-8bit", "text", "1");
	/* the choice of parts */
	expect_text_is_part(&g, "alternative", "text", "1");
	expect_text_is_part(&g, "alternative", "html", "2");
	expect_text_is_part(&g, "related-image", "html", "1");
	expect_text_is_part(&g, "nested-structure", "text", "1.1");
	expect_text_is_part(&g, "nested-structure", "html", "1.2.1");
	expect_text_is_part(&g, "mixed-attachments", "text", "1");
	expect_text_is_part(&g, "forwarded", "text", "1");

	/* charsets to UTF-8 */
	json_t *j = seed_json(&g, "plain-latin1", "", NULL);
	cr_expect_str_eq(jstr(j, "text"),
	                 "Corps en ISO-8859-1, 8bit : déjà vu, garçon, été, Noël, naïf, l'hôtel.\r\n"
	                 "Deutsch: Größe, Übung, Fußgänger. Español: año, señor, ¿qué?\r\n");
	cr_expect_null(jstr(j, "html"));
	json_decref(j);
	j = seed_json(&g, "latin1-qp", "", NULL);
	cr_expect_str_eq(jstr(j, "text"),
	                 "Corps ISO-8859-1 en quoted-printable : à bientôt, façade, crème brûlée.\r\n");
	json_decref(j);
	j = seed_json(&g, "html-only", "", NULL);
	cr_expect_null(jstr(j, "text"));
	cr_expect(strstr(jstr(j, "html"), "“smart quotes”, € and …") != NULL, "%s", jstr(j, "html"));
	json_decref(j);
	j = seed_json(&g, "nihongo", "", NULL);
	cr_expect(strstr(jstr(j, "text"), "日本語") != NULL, "%s", jstr(j, "text"));
	json_decref(j);

	cr_expect_eq(gw_count_sent(&g, "BODY[]"), 0, "never the whole message");
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK[]"), 0, "never the whole message");
	cr_expect_eq(gw_count_sent(&g, "UID STORE"), 0, "reading sets no flag");
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(content, max_bytes_cuts_on_a_character_boundary)
{
	begin(srv);
	struct gw g;
	start(&g);
	/* "Raw 8bit UTF-8 body.\r\n\r\nGrüße": "ü" is bytes 27 and 28 */
	json_t *j = seed_json(&g, "plain-8bit", "", "max_bytes=27");
	cr_expect_str_eq(jstr(j, "text"), "Raw 8bit UTF-8 body.\r\n\r\nGr");
	cr_expect(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	j = seed_json(&g, "plain-8bit", "", "max_bytes=100000");
	cr_expect(json_is_false(json_object_get(j, "truncated")));
	json_decref(j);
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(content, text_max_bounds_what_is_fetched)
{
	begin(srv);
	static char msg[8192];
	int n = snprintf(msg, sizeof msg, "From: a@example.com\r\nSubject: long\r\n\r\n");
	for (int i = 0; i < 50; i++)
		n += snprintf(msg + n, sizeof msg - (size_t)n, "line %02d of a long text body............\r\n", i);
	const char *msgs[] = {msg};
	frank_folder("LongText", msgs, 1);
	struct gw g;
	gw_start_on(&g, &on, "--text-max", "1024", NULL);
	json_t *j = frank_json(&g, "/messages/1?folder=LongText", 200);
	const char *text = jstr(j, "text");
	cr_expect_eq(strlen(text), 1024);
	cr_expect(strncmp(text, "line 00 of", 10) == 0);
	cr_expect(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK[1]<0.1024>"), 1, "a partial fetch");
	gw_stop(&g);
}

/* A preview of a long body fetches little more than it shows. */
TEST_ON_EVERY_SERVER(content, max_bytes_bounds_what_is_fetched)
{
	begin(srv);
	static char msg[64 * 1024];
	int n = snprintf(msg, sizeof msg, "From: a@example.com\r\nSubject: euros\r\n"
	                 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                 "Content-Transfer-Encoding: 8bit\r\n\r\n");
	for (int i = 0; i < 15000; i++)
		n += snprintf(msg + n, sizeof msg - (size_t)n, "\xe2\x82\xac");  /* 45 kB of "€" */
	snprintf(msg + n, sizeof msg - (size_t)n, "\r\n");
	const char *msgs[] = {msg};
	frank_folder("Preview", msgs, 1);
	struct gw g;
	start(&g);
	json_t *j = frank_json(&g, "/messages/1?folder=Preview&max_bytes=1000", 200);
	const char *text = jstr(j, "text");
	cr_expect_eq(strlen(text), 999, "whole characters only");
	cr_expect(strncmp(text, "\xe2\x82\xac\xe2\x82\xac", 6) == 0);
	cr_expect(json_is_true(json_object_get(j, "truncated")));
	json_decref(j);
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK[1]<0.8096>"), 1, "4 bytes per byte shown, and 4096");
	j = frank_json(&g, "/messages/1?folder=Preview", 200);
	cr_expect_eq(strlen(jstr(j, "text")), 45002, "without max_bytes, all of it");
	cr_expect(json_is_false(json_object_get(j, "truncated")));
	json_decref(j);
	gw_stop(&g);
}

TEST_ON_EVERY_SERVER(content, people_references_and_headers)
{
	begin(srv);
	struct gw g;
	start(&g);
	json_t *j = seed_json(&g, "thread-reply", "", NULL);
	json_t *refs = json_object_get(j, "references");
	cr_assert(json_is_array(refs) && json_array_size(refs) >= 1, "references");
	cr_expect_str_eq(json_string_value(json_array_get(refs, json_array_size(refs) - 1)),
	                 jstr(j, "in_reply_to"));
	cr_expect(json_is_array(json_object_get(j, "sender")));
	cr_expect(json_is_array(json_object_get(j, "bcc")));
	cr_expect_eq(json_object_size(json_object_get(j, "headers")), 0, "no header unless asked");
	json_decref(j);

	j = seed_json(&g, "plain-7bit", "", "headers=ALL");
	json_t *h = json_object_get(j, "headers");
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(h, "x-seed-id"), 0)),
	                 "plain-7bit");
	const char *received = json_string_value(json_array_get(json_object_get(h, "received"), 0));
	cr_assert_not_null(received);
	cr_expect(strchr(received, '\n') == NULL && strchr(received, '\r') == NULL, "unfolded");
	cr_expect(strstr(received, "by imap.example.com with ESMTPS id plain-7bit") != NULL, "%s",
	          received);
	json_decref(j);

	j = seed_json(&g, "subj-koi8r", "", "headers=Subject,X-Seed-Id");
	h = json_object_get(j, "headers");
	cr_expect_eq(json_object_size(h), 2);
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(h, "subject"), 0)),
	                 "Привет, мир! Отчёт за март", "decoded");
	json_decref(j);
	gw_stop(&g);
}

/* ---- attachments ---- */

/*
 * Where a server numbers a seed message's parts otherwise than the seed
 * does. Courier reads a boundary that begins with the enclosing one's as
 * the enclosing one (nested-structure: "=_..._1.2" inside "=_..._1"): the
 * multipart/related becomes an empty leaf and its children the
 * alternative's (see imap/bodystructure.c).
 */
static const struct {
	const char *server, *id, *seed, *there;
} renumbered[] = {
	{"courier", "nested-structure", "1.2.1", "1.3"},
	{"courier", "nested-structure", "1.2.2", "1.4"},
};

/* The section on this server of the seed's section of message id, or the
 * other way round (to_seed). */
static const char *section_on(const char *id, const char *section, bool to_seed)
{
	for (size_t i = 0; i < sizeof renumbered / sizeof renumbered[0]; i++)
		if (strcmp(renumbered[i].server, on.name) == 0 && strcmp(renumbered[i].id, id) == 0 &&
		    strcmp(to_seed ? renumbered[i].there : renumbered[i].seed, section) == 0)
			return to_seed ? renumbered[i].seed : renumbered[i].there;
	return section;
}

struct want_att {
	const char *part, *filename, *content_type, *disposition;
	bool is_inline;
	bool has_content_id;
};

static void expect_attachments(const struct gw *g, const char *id, const struct want_att *w,
                               size_t n)
{
	json_t *j = seed_json(g, id, "/attachments", NULL);
	json_t *list = json_object_get(j, "attachments");
	cr_assert(json_is_array(list));
	char *dump = json_dumps(list, JSON_COMPACT);
	cr_assert_eq(json_array_size(list), n, "%s: %s: %zu attachments, want %zu: %s", on.name, id,
	             json_array_size(list), n, dump);
	free(dump);
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(list, i);
		cr_expect_str_eq(jstr(a, "part"), section_on(id, w[i].part, false), "%s: %s[%zu]",
		                 on.name, id, i);
		if (w[i].filename)
			cr_expect_str_eq(jstr(a, "filename") ? jstr(a, "filename") : "(null)",
			                 w[i].filename, "%s[%zu]", id, i);
		else
			cr_expect_null(jstr(a, "filename"), "%s[%zu]", id, i);
		cr_expect_str_eq(jstr(a, "content_type"), w[i].content_type, "%s[%zu]", id, i);
		if (w[i].disposition)
			cr_expect_str_eq(jstr(a, "disposition") ? jstr(a, "disposition") : "(null)",
			                 w[i].disposition, "%s[%zu]", id, i);
		else
			cr_expect_null(jstr(a, "disposition"), "%s[%zu]", id, i);
		cr_expect_eq(json_is_true(json_object_get(a, "inline")), w[i].is_inline, "%s[%zu]", id, i);
		cr_expect_eq(jstr(a, "content_id") != NULL, w[i].has_content_id, "%s[%zu]", id, i);
		cr_expect(json_integer_value(json_object_get(a, "size")) > 0);
		cr_expect(json_is_integer(json_object_get(a, "decoded_size")));
	}
	/* the same list in the full message, and the summary's count */
	json_decref(j);
	j = seed_json(g, id, "", NULL);
	cr_expect_eq(json_array_size(json_object_get(j, "attachment_list")), n, "%s", id);
	cr_expect_eq(json_integer_value(json_object_get(j, "attachments")), (json_int_t)n, "%s", id);
	json_decref(j);
}

#define EXPECT_ATTS(g, id, ...) \
	do { \
		const struct want_att w_[] = {__VA_ARGS__}; \
		expect_attachments((g), (id), w_, sizeof w_ / sizeof w_[0]); \
	} while (0)

TEST_ON_EVERY_SERVER(content, attachments_are_listed_from_the_structure_alone)
{
	begin(srv);
	struct gw g;
	start(&g);
	EXPECT_ATTS(&g, "mixed-attachments",
	            {"2", "report.pdf", "application/pdf", "attachment", false, false},
	            {"3", "data.csv", "text/csv", "attachment", false, false});
	EXPECT_ATTS(&g, "related-image", {"2", "logo.png", "image/png", "inline", true, true});
	EXPECT_ATTS(&g, "nested-structure",
	            {"1.2.2", "chart.png", "image/png", "inline", true, true},
	            {"2", "bundle.zip", "application/zip", "attachment", false, false});
	EXPECT_ATTS(&g, "att-rfc2231",
	            {"2", "Übersicht März 2024 €.pdf", "application/pdf", "attachment", false, false});
	EXPECT_ATTS(&g, "att-continued",
	            {"2", "Très long nom de fichier — rapport trimestriel détaillé (version finale).txt",
	             "text/plain", "attachment", false, false});
	EXPECT_ATTS(&g, "att-rfc2047",
	            {"2", "Präsentation Q1 — Ergebnisse.pptx",
	             "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	             "attachment", false, false});
	EXPECT_ATTS(&g, "att-ctype-name",
	            {"2", "firmware-v2.bin", "application/octet-stream", NULL, false, false});
	EXPECT_ATTS(&g, "att-noname", {"2", NULL, "application/octet-stream", "attachment", false, false});
	EXPECT_ATTS(&g, "forwarded",
	            {"2", "forwarded.eml", "message/rfc822", "attachment", false, false},
	            {"2.2", "diagram.png", "image/png", "attachment", false, false});
	json_t *j = seed_json(&g, "plain-7bit", "/attachments", NULL);
	cr_expect_eq(json_array_size(json_object_get(j, "attachments")), 0);
	json_decref(j);
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK[2"), 0, "listing downloads nothing");
	gw_stop(&g);
}

/* Download every attachment of seed `id` and compare with the seed parts. */
static void expect_downloads(const struct gw *g, const char *id)
{
	json_t *j = seed_json(g, id, "/attachments", NULL);
	json_t *list = json_object_get(j, "attachments");
	char folder[256];
	unsigned uid = seed_uid(id, folder, sizeof folder);
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *a = json_array_get(list, i);
		const char *part = jstr(a, "part");
		if (strcmp(jstr(a, "content_type"), "message/rfc822") == 0)
			continue;  /* not a leaf: no seed file (checked below) */
		char suffix[128], path[1024], v[2048];
		snprintf(suffix, sizeof suffix, "/attachments/%s", part);
		msg_path(path, sizeof path, folder, uid, suffix, NULL);
		struct gw_reply r;
		gw_request(g, "GET", path, ALICE, NULL, &r);
		cr_assert_eq(r.status, 200, "%s %s: %ld %s", id, part, r.status, r.body.data);
		size_t len;
		char *want = seed_part(id, section_on(id, part, true), &len);
		cr_expect_eq(r.body.len, len, "%s %s: %zu bytes, want %zu", id, part, r.body.len, len);
		cr_expect(r.body.len == len && memcmp(r.body.data, want, len) == 0, "%s %s: bytes", id,
		          part);
		free(want);
		cr_assert_eq(gw_header(&r, "Content-Type", v, sizeof v), 0);
		cr_expect(strncmp(v, jstr(a, "content_type"), strlen(jstr(a, "content_type"))) == 0,
		          "%s %s: %s", id, part, v);
		cr_assert_eq(gw_header(&r, "Content-Disposition", v, sizeof v), 0);
		cr_expect(strncmp(v, "attachment", 10) == 0, "%s", v);
		cr_expect_eq(gw_header(&r, "X-Content-Type-Options", v, sizeof v), 0);
		gw_reply_free(&r);
	}
	json_decref(j);
}

TEST_ON_EVERY_SERVER(content, attachments_download_decoded_byte_for_byte)
{
	begin(srv);
	struct gw g;
	start(&g);
	const char *ids[] = {"mixed-attachments", "related-image", "nested-structure",
	                     "att-rfc2231", "att-continued", "att-rfc2047", "att-ctype-name",
	                     "att-noname", "forwarded", "large-attachment", "alpha-spec"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		expect_downloads(&g, ids[i]);

	/* RFC 6266 names */
	char folder[256], path[1024], v[2048];
	unsigned uid = seed_uid("att-rfc2231", folder, sizeof folder);
	msg_path(path, sizeof path, folder, uid, "/attachments/2", NULL);
	struct gw_reply r;
	gw_request(&g, "GET", path, ALICE, NULL, &r);
	gw_header(&r, "Content-Disposition", v, sizeof v);
	cr_expect_str_eq(v, "attachment; filename=\"_bersicht M_rz 2024 _.pdf\"; "
	                    "filename*=UTF-8''%C3%9Cbersicht%20M%C3%A4rz%202024%20%E2%82%AC.pdf");
	gw_reply_free(&r);
	uid = seed_uid("att-noname", folder, sizeof folder);
	msg_path(path, sizeof path, folder, uid, "/attachments/2", NULL);
	gw_request(&g, "GET", path, ALICE, NULL, &r);
	gw_header(&r, "Content-Disposition", v, sizeof v);
	cr_expect_str_eq(v, "attachment");
	gw_reply_free(&r);

	/* the attached message as a whole: its own source */
	uid = seed_uid("forwarded", folder, sizeof folder);
	msg_path(path, sizeof path, folder, uid, "/attachments/2", NULL);
	gw_request(&g, "GET", path, ALICE, NULL, &r);
	cr_expect_eq(r.status, 200);
	gw_header(&r, "Content-Type", v, sizeof v);
	cr_expect_str_eq(v, "message/rfc822");
	cr_expect(strstr(r.body.data, "Message-ID: <inner.forwarded@seed.example.com>") != NULL);
	gw_reply_free(&r);
	cr_expect_eq(gw_count_sent(&g, "BODY[2"), 0, "never a FETCH that sets \\Seen");
	gw_stop(&g);
}

/* A download's Content-Type is made per request. The HTTP thread sends the
 * head when it next runs, which for a small body can be after the worker
 * has sent all of it, returned and taken the next request: the value must
 * not live on the worker's stack. Several clients at once make that likely. */
struct type_run {
	const struct gw *g;
	const char *path;
	unsigned bad;
	char example[256];
};

#define TYPE_RUNS 8
#define TYPE_DOWNLOADS 100

static void *download_types(void *arg)
{
	struct type_run *t = arg;
	for (int i = 0; i < TYPE_DOWNLOADS; i++) {
		struct gw_reply r;
		char v[256] = "(none)";
		gw_request(t->g, "GET", frank_path(t->path), FRANK, NULL, &r);
		bool ok = r.status == 200 && gw_header(&r, "Content-Type", v, sizeof v) == 0 &&
		          strcmp(v, "image/gif") == 0 && r.body.len == 42;
		if (!ok && t->bad++ == 0)
			snprintf(t->example, sizeof t->example, "status %ld, Content-Type %s, %zu bytes",
			         r.status, v, r.body.len);
		gw_reply_free(&r);
	}
	return NULL;
}

TEST_ON_EVERY_SERVER(content, small_downloads_keep_their_content_type)
{
	begin(srv);
	const char *msgs[] = {
		"From: a@example.com\r\nSubject: a dot\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\nthe dot\r\n"
		"--b\r\nContent-Type: image/gif; name=dot.gif\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7\r\n--b--\r\n"};
	frank_folder("SmallDownloads", msgs, 1);
	struct gw g;
	start(&g);
	struct type_run runs[TYPE_RUNS];
	pthread_t th[TYPE_RUNS];
	for (int i = 0; i < TYPE_RUNS; i++) {
		runs[i] = (struct type_run){.g = &g, .path = "/messages/1/attachments/2?folder=SmallDownloads"};
		cr_assert_eq(pthread_create(&th[i], NULL, download_types, &runs[i]), 0);
	}
	unsigned bad = 0;
	const char *example = "";
	for (int i = 0; i < TYPE_RUNS; i++) {
		pthread_join(th[i], NULL);
		bad += runs[i].bad;
		if (runs[i].bad && !*example)
			example = runs[i].example;
	}
	cr_expect_eq(bad, 0, "%u of %d downloads without Content-Type image/gif (first: %s)", bad,
	             TYPE_RUNS * TYPE_DOWNLOADS, example);
	gw_stop(&g);
}

/* The FLAGS of UIDs 1 and 2 as text, into ((char (*)[256])ctx)[uid - 1]. */
static int on_flags(void *ctx, const struct imap_response *r)
{
	char (*out)[256] = ctx;
	const struct imap_value *att, *v;
	uint32_t uid = imap_fetch_attributes(r, &att);
	size_t i;
	if (uid < 1 || uid > 2)
		return 0;
	IMAP_LIST_FOREACH(att, v, i) {
		if (i + 1 < att->count && imap_value_is_atom(v, "FLAGS")) {
			const struct imap_value *f;
			size_t k;
			IMAP_LIST_FOREACH(imap_value_next(v), f, k) {
				size_t used = strlen(out[uid - 1]);
				snprintf(out[uid - 1] + used, 256 - used, "%.*s ", (int)f->len, f->str);
			}
		}
	}
	return 0;
}

TEST_ON_EVERY_SERVER(content, seen_is_set_only_when_asked)
{
	begin(srv);
	const char *msgs[] = {"From: a@example.com\r\nSubject: one\r\n\r\nbody one\r\n",
	                      "From: a@example.com\r\nSubject: two\r\n\r\nbody two\r\n"};
	frank_folder("SeenTest", msgs, 2);
	struct gw g;
	start(&g);
	json_t *j = frank_json(&g, "/messages/1?folder=SeenTest", 200);
	cr_expect(!has_seen(j));
	json_decref(j);
	struct gw_reply r;
	gw_request(&g, "GET", frank_path("/messages/1/raw?folder=SeenTest"), FRANK, NULL, &r);
	gw_reply_free(&r);
	gw_request(&g, "GET", frank_path("/messages/1/attachments/1?folder=SeenTest"), FRANK, NULL, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.body.data, "body one\r\n");
	gw_reply_free(&r);
	j = frank_json(&g, "/messages/1?folder=SeenTest", 200);
	cr_expect(!has_seen(j), "reading, the source and a download set no \\Seen");
	json_decref(j);

	j = frank_json(&g, "/messages/2?folder=SeenTest&mark_seen=true", 200);
	cr_expect(has_seen(j), "the answer shows the new flag");
	json_decref(j);

	/* read back over IMAP, not through imapgw */
	char path[256], flags[2][256];
	test_server_path(&on, "SeenTest", path, sizeof path);
	struct imap_session *s = test_imap_login_on(&on, FRANK);
	struct imap_error err = {0};
	cr_assert_eq(imap_session_select(s, path, true, imap_now_ms() + 15000, &err), 0, "%s",
	             err.msg);
	struct imap_cmd c;
	imap_session_cmd(s, &c);
	imap_cmd_raw(&c, "UID FETCH 1:2 (UID FLAGS)");
	memset(flags, 0, sizeof flags);
	cr_assert_eq(imap_session_run(s, &c, on_flags, flags, imap_now_ms() + 15000, &err), 0, "%s",
	             err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&s, imap_now_ms() + 15000);
	cr_expect(strstr(flags[1], "\\Seen") != NULL, "%s: message 2: %s", on.name, flags[1]);
	cr_expect(strstr(flags[0], "\\Seen") == NULL, "%s: message 1 unseen: %s", on.name, flags[0]);
	gw_stop(&g);
}

/* Malformed bodies: a readable best effort, never a 500. */
TEST_ON_EVERY_SERVER(content, malformed_bodies_give_a_best_effort)
{
	begin(srv);
	const char *msgs[] = {
		/* 1: bad base64 (garbage, a stray '=' in the middle, truncated quantum) */
		"From: a@example.com\r\nSubject: bad base64\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"SGVsbG8g!!d29y=bGQ\r\n",
		/* 2: multipart whose boundary never appears */
		"From: a@example.com\r\nSubject: no boundary\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"nowhere\"\r\n\r\n"
		"Just some text and no parts at all.\r\n",
		/* 3: declared us-ascii, really UTF-8 */
		"From: a@example.com\r\nSubject: lying charset\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=us-ascii\r\n\r\nCaf\xc3\xa9 cr\xc3\xa8me\r\n",
		/* 4: declared utf-8, really Latin-1 */
		"From: a@example.com\r\nSubject: lying utf-8\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
		"Caf\xe9 cr\xe8me\r\n",
		/* 5: an unknown charset and an unknown transfer encoding */
		"From: a@example.com\r\nSubject: unknown\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=x-no-such-charset\r\n"
		"Content-Transfer-Encoding: x-weird\r\n\r\nplain words\r\n",
		/* 6: bad quoted-printable */
		"From: a@example.com\r\nSubject: bad qp\r\nMIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
		"\r\na=3Db =ZZ c=\r\nd =C3=A9\r\n",
	};
	frank_folder("Broken", msgs, 6);
	struct gw g;
	start(&g);
	struct {
		const char *text;
	} want[] = {{"Hello world"}, {NULL}, {"Café crème\r\n"}, {"Café crème\r\n"},
	            {"plain words\r\n"}, {"a=b =ZZ cd é\r\n"}};
	for (unsigned i = 0; i < 6; i++) {
		char path[128];
		snprintf(path, sizeof path, "/messages/%u?folder=Broken", i + 1);
		json_t *j = frank_json(&g, path, 200);
		if (want[i].text)
			cr_expect_str_eq(jstr(j, "text") ? jstr(j, "text") : "(null)", want[i].text,
			                 "message %u", i + 1);
		json_decref(j);
		snprintf(path, sizeof path, "/messages/%u/attachments?folder=Broken", i + 1);
		json_decref(frank_json(&g, path, 200));
		snprintf(path, sizeof path, "/messages/%u/attachments/1?folder=Broken", i + 1);
		struct gw_reply r;
		gw_request(&g, "GET", frank_path(path), FRANK, NULL, &r);
		cr_expect(r.status == 200 || r.status == 404, "%s: %ld", path, r.status);
		gw_reply_free(&r);
	}
	gw_stop(&g);
}

/* ---- a 50 MB attachment ---- */

static long peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

#define BIG_BYTES (50u << 20)

static unsigned char big_byte(size_t i)
{
	uint32_t x = (uint32_t)i * 2654435761u;
	return (unsigned char)(x >> 24 ^ x >> 11);
}

Test(content, fifty_megabytes_stream_in_bounded_memory, .timeout = 600)
{
	begin(DOVECOT);
	/* Build the message: a text part and a 50 MiB base64 attachment. */
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t enc_cap = BIG_BYTES / 3 * 4 + BIG_BYTES / 57 * 2 + 4096;
	char *msg = malloc(enc_cap + 1024);
	cr_assert_not_null(msg);
	size_t k = (size_t)sprintf(msg,
		"From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
		"Content-Type: text/plain\r\n\r\nSee the attachment.\r\n--b\r\n"
		"Content-Type: application/octet-stream; name=\"big.bin\"\r\n"
		"Content-Disposition: attachment; filename=\"big.bin\"\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n");
	for (size_t i = 0; i < BIG_BYTES; i += 3) {
		uint32_t v = (uint32_t)big_byte(i) << 16 | (uint32_t)big_byte(i + 1) << 8 | big_byte(i + 2);
		msg[k++] = b64[v >> 18 & 63];
		msg[k++] = b64[v >> 12 & 63];
		msg[k++] = i + 1 < BIG_BYTES ? b64[v >> 6 & 63] : '=';
		msg[k++] = i + 2 < BIG_BYTES ? b64[v & 63] : '=';
		if ((i / 3 + 1) % 19 == 0)
			k += (size_t)sprintf(msg + k, "\r\n");
	}
	k += (size_t)sprintf(msg + k, "\r\n--b--\r\n");
	const char *msgs[] = {msg};
	frank_folder("Big", msgs, 1);

	struct gw g;
	start(&g);
	json_t *j = frank_json(&g, "/messages/1/attachments?folder=Big", 200);
	json_t *a = json_array_get(json_object_get(j, "attachments"), 0);
	cr_expect_str_eq(jstr(a, "filename"), "big.bin");
	json_int_t est = json_integer_value(json_object_get(a, "decoded_size"));
	cr_expect(est >= BIG_BYTES - 1024 && est <= BIG_BYTES + 1024, "estimate %lld",
	          (long long)est);
	json_decref(j);
	long before = peak_rss_kb(g.pid);

	struct gw_reply r;
	gw_request(&g, "GET", frank_path("/messages/1/attachments/2?folder=Big"), FRANK, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body.len, BIG_BYTES);
	size_t bad = 0;
	for (size_t i = 0; i < BIG_BYTES; i++)
		bad += (unsigned char)r.body.data[i] != big_byte(i);
	cr_expect_eq(bad, 0, "%zu bytes differ", bad);
	gw_reply_free(&r);
	long after_download = peak_rss_kb(g.pid);

	gw_request(&g, "GET", frank_path("/messages/1/raw?folder=Big"), FRANK, NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_expect_eq(r.body.len, k);
	cr_expect(r.body.len == k && memcmp(r.body.data, msg, k) == 0, "raw bytes");
	gw_reply_free(&r);
	long after_raw = peak_rss_kb(g.pid);
	free(msg);
	gw_stop(&g);

	fprintf(stderr, "content: 50 MiB attachment: peak RSS %ld kB before, +%ld kB after the "
	        "download, +%ld kB after the %zu-byte source\n", before, after_download - before,
	        after_raw - before, k);
	cr_expect_lt(after_download - before, 8 * 1024, "grew %ld kB", after_download - before);
	cr_expect_lt(after_raw - before, 8 * 1024, "grew %ld kB", after_raw - before);
}

/* ---- clients that go away ---- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* Ask for path over a raw socket, read `keep` bytes of the answer, close. */
static void read_some_and_leave(const struct gw *g, const char *path, size_t keep)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	char req[1024];
	/* alice:alice-secret */
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0\r\n\r\n",
	                 path);
	cr_assert_eq(write(fd, req, (size_t)n), n);
	char buf[4096];
	size_t got = 0;
	while (got < keep) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	cr_expect_geq(got, keep);
	close(fd);
}

TEST_ON_EVERY_SERVER(content, a_client_leaving_mid_download_costs_nothing_lasting)
{
	begin(srv);
	struct gw g;
	gw_start_on(&g, &on, "--pool-per-user", "1", "--stream-buffer", "64K", NULL);
	char folder[256], raw[1024], att[1024];
	unsigned uid = seed_uid("large-attachment", folder, sizeof folder);
	msg_path(raw, sizeof raw, folder, uid, "/raw", NULL);
	msg_path(att, sizeof att, folder, uid, "/attachments/2", NULL);
	for (int i = 0; i < 5; i++) {
		read_some_and_leave(&g, raw, 1000);
		read_some_and_leave(&g, att, 70000);
	}
	/* the one pooled session is still usable, and whole downloads work */
	struct gw_reply r;
	gw_request(&g, "GET", att, ALICE, NULL, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.body.len, 1024 * 1024);
	gw_reply_free(&r);
	gw_request(&g, "HEAD", raw, ALICE, NULL, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_eq(r.body.len, 0);
	gw_reply_free(&r);
	gw_request(&g, "GET", "/messages?per_page=1", ALICE, NULL, &r);
	cr_expect_eq(r.status, 200);
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- conditional downloads ---- */

/* GET path with If-None-Match: inm (NULL: none); the status, and the ETag
 * into etag. */
static long conditional(const struct gw *g, const char *path, const char *inm, char *etag,
                        size_t cap, size_t *body_len)
{
	char hdr[256];
	struct gw_reply r;
	if (inm)
		snprintf(hdr, sizeof hdr, "If-None-Match: %s", inm);
	gw_request(g, "GET", path, ALICE, inm ? hdr : NULL, &r);
	long st = r.status;
	etag[0] = '\0';
	gw_header(&r, "ETag", etag, cap);
	if (body_len)
		*body_len = r.body.len;
	if (st == 200 || st == 304) {
		char cc[64] = "";
		gw_header(&r, "Cache-Control", cc, sizeof cc);
		cr_expect_str_eq(cc, "private, no-cache", "%s", path);
	}
	gw_reply_free(&r);
	return st;
}

TEST_ON_EVERY_SERVER(content, downloads_answer_if_none_match_with_304)
{
	begin(srv);
	struct gw g;
	start(&g);
	char folder[256], raw[1024], att[1024], etag[128], again[128], inm[300];
	unsigned uid = seed_uid("large-attachment", folder, sizeof folder);
	msg_path(raw, sizeof raw, folder, uid, "/raw", NULL);
	msg_path(att, sizeof att, folder, uid, "/attachments/2", NULL);
	json_t *j = seed_json(&g, "large-attachment", "/attachments", NULL);
	json_int_t uv = json_integer_value(json_object_get(j, "uidvalidity"));
	json_decref(j);

	const char *paths[] = {raw, att};
	const char *suffix[] = {"", ".2"};
	for (int k = 0; k < 2; k++) {
		size_t len;
		cr_assert_eq(conditional(&g, paths[k], NULL, etag, sizeof etag, &len), 200);
		char want[128];
		snprintf(want, sizeof want, "\"%lld.%u%s\"", (long long)uv, uid, suffix[k]);
		cr_expect_str_eq(etag, want);
		cr_expect_gt(len, 1000000);
		cr_expect_eq(conditional(&g, paths[k], etag, again, sizeof again, &len), 304);
		cr_expect_eq(len, 0);
		cr_expect_str_eq(again, etag);
		snprintf(inm, sizeof inm, "\"other\", W/%s", etag);
		cr_expect_eq(conditional(&g, paths[k], inm, again, sizeof again, NULL), 304, "weak");
		cr_expect_eq(conditional(&g, paths[k], "*", again, sizeof again, NULL), 304);
		cr_expect_eq(conditional(&g, paths[k], "\"1.2\"", again, sizeof again, &len), 200);
		cr_expect_gt(len, 1000000);
	}
	cr_expect_eq(gw_count_sent(&g, "BODY.PEEK["), 4, "two downloads each, none for a 304");

	/* a message that is gone is a 404 even with a matching tag */
	char gone[1024], tag[64];
	msg_path(gone, sizeof gone, folder, 99999, "/raw", NULL);
	snprintf(tag, sizeof tag, "\"%lld.99999\"", (long long)uv);
	cr_expect_eq(conditional(&g, gone, tag, again, sizeof again, NULL), 404);
	gw_stop(&g);
}
