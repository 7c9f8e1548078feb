/*
 * /senders on every server (Dovecot, Cyrus, Courier): judy's mailbox gets,
 * at test time, mail from more than 30 senders (lists with and without
 * List-Id, several List-Unsubscribe shapes, DKIM-Signature h= that covers
 * both unsubscribe fields, one, or none, Authentication-Results from a
 * trusted and an untrusted authserv-id), and the answer is compared with
 * the groups the test computes itself from what it appended. Then bulk
 * clean-up by sender (dry run, read, archive while another client lists
 * the folder), and one-click unsubscribe against a local HTTPS server with
 * every refusal the gateway must make.
 *
 * Each test works in folders of its own and names them (?folders=), so the
 * tests share judy's mailbox without seeing each other's mail.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imap/client.h"
#include "tests/support/gateway.h"

/* The shapes of List-Unsubscribe values and URIs below are format strings
 * from tables of this file. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#define JUDY "judy", "judy-secret"
#define TRUSTED "mx.judy.test"
#define UNTRUSTED "mx.elsewhere.test"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(senders, .init = setup, .timeout = 600);

#define PARAMS(name)                                                                   \
	ParameterizedTestParameters(senders, name)                                     \
	{                                                                              \
		static struct test_server p[TEST_SERVERS];                               \
		memcpy(p, test_servers, sizeof p);                                       \
		return cr_make_param_array(struct test_server, p, TEST_SERVERS);         \
	}                                                                              \
	ParameterizedTest(const struct test_server *srv, senders, name)

static void need(const struct test_server *srv)
{
	if (!test_server_running(srv))
		cr_skip_test("%s is not started in this run (IMAPGW_TEST_SERVERS)", srv->name);
}


static json_t *call(const struct gw *g, const char *method, const char *path, const char *body,
                    long want)
{
	return gw_call_json(g, JUDY, method, path, body, want);
}

static json_int_t num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_integer(v), "%s is not a number", k);
	return json_integer_value(v);
}

/* A folder of judy's for this test, empty: logical name -> server path. */
static void fresh_folder(const struct gw *g, const struct test_server *srv, const char *logical,
                         char *path, size_t cap)
{
	char e[512], url[600], body[600];
	test_server_path(srv, logical, path, cap);
	test_url_escape(path, e, sizeof e);
	snprintf(url, sizeof url, "/folders/%s?force=true", e);
	struct gw_reply r;
	gw_request(g, "DELETE", url, JUDY, NULL, &r);  /* what an earlier run left */
	gw_reply_free(&r);
	snprintf(body, sizeof body, "{\"path\":\"%s\"}", path);
	json_decref(call(g, "POST", "/folders", body, 201));
}

/* APPEND msg to folder, arrived at `minute` minutes after a fixed time. */
static void append(const struct gw *g, const char *folder, const char *msg, int minute, bool seen)
{
	char e[512], url[800];
	test_url_escape(folder, e, sizeof e);
	snprintf(url, sizeof url, "/messages?folder=%s&received=2025-03-%02dT%02d%%3A%02d%%3A00Z%s", e,
	         1 + minute / (24 * 60), (minute / 60) % 24, minute % 60,
	         seen ? "&flags=%5CSeen" : "");
	struct gw_reply r;
	gw_request_body(g, "POST", url, JUDY, "message/rfc822", msg, strlen(msg), &r);
	cr_assert_eq(r.status, 201, "append to %s: %ld %s", folder, r.status, r.body.data);
	gw_reply_free(&r);
}

/* ---- the senders of the grouping test ---- */

enum dkim { D_NONE, D_BOTH, D_UNSUB_ONLY, D_BOTH_OTHER_D };
enum ar { AR_NONE, AR_TRUSTED_PASS, AR_UNTRUSTED_PASS, AR_TRUSTED_FAIL };

struct sender {
	char name[64];      /* display name, as written (may be encoded) */
	char addr[96];      /* From address as written (case varies) */
	char domain[64];    /* From domain, lower case */
	char pass_d[64];    /* header.d= of Authentication-Results */
	char list_id[96];   /* "" without List-Id */
	char unsub[256];    /* List-Unsubscribe value, "" without */
	bool post;          /* List-Unsubscribe-Post: One-Click */
	bool usable;        /* the test's own view: the value names a mailto or http(s) URI */
	bool one_click;     /* ... and post with an https URI */
	enum dkim dkim;
	enum ar ar;
	int n;              /* messages */
};

#define NSENDERS 36

/* 36 senders from a few rules, then the special cases written out. */
static void make_senders(struct sender *s)
{
	static const char *const unsub_shapes[] = {
		"",
		"<https://u.%s/o?id=1>",
		"<mailto:leave@%s?subject=stop>",
		"<mailto:leave@%s>, <https://u.%s/x>",
		"https://u.%s/bare",
		"<http://u.%s/plain>",
		"<ftp://u.%s/nothing>",
		"  <https://u.%s/a,b>  (comment)",
	};
	memset(s, 0, NSENDERS * sizeof *s);
	for (int i = 0; i < NSENDERS; i++) {
		struct sender *x = &s[i];
		snprintf(x->domain, sizeof x->domain, "%ss%d.test", i % 5 == 0 ? "news." : "", i);
		snprintf(x->addr, sizeof x->addr, "%s%d@%s", i % 2 ? "News" : "info", i, x->domain);
		snprintf(x->name, sizeof x->name, "Sender %d", i);
		/* header.d: the From domain, or its parent for the news. ones */
		snprintf(x->pass_d, sizeof x->pass_d, "%s", i % 5 == 0 ? x->domain + 5 : x->domain);
		if (i % 3)
			snprintf(x->list_id, sizeof x->list_id, "List%d.S%d.test", i, i);
		int shape = i % 8;
		snprintf(x->unsub, sizeof x->unsub, unsub_shapes[shape], x->domain, x->domain);
		x->usable = shape != 0 && shape != 6;
		x->post = shape == 1 || shape == 3 || shape == 5 || shape == 7;
		x->one_click = x->post && shape != 5;
		x->dkim = (enum dkim)((i / 2) % 4);
		x->ar = (enum ar)((i / 3) % 4);
		x->n = 1 + i % 4;
	}
	/* 30, 31: one list written by two From addresses: one group */
	snprintf(s[31].list_id, sizeof s[31].list_id, "%s", s[30].list_id);
	/* 32, 33: one address in two spellings, no List-Id: one group */
	s[32].list_id[0] = s[33].list_id[0] = '\0';
	snprintf(s[32].addr, sizeof s[32].addr, "Same.Person@S32.test");
	snprintf(s[33].addr, sizeof s[33].addr, "same.person@s32.TEST");
	snprintf(s[32].domain, sizeof s[32].domain, "s32.test");
	snprintf(s[33].domain, sizeof s[33].domain, "s32.test");
	snprintf(s[32].pass_d, sizeof s[32].pass_d, "s32.test");
	snprintf(s[33].pass_d, sizeof s[33].pass_d, "s32.test");
	/* 34: that address again, but with a List-Id: a group of its own */
	snprintf(s[34].addr, sizeof s[34].addr, "same.person@s32.test");
	snprintf(s[34].domain, sizeof s[34].domain, "s32.test");
	snprintf(s[34].pass_d, sizeof s[34].pass_d, "s32.test");
	snprintf(s[34].list_id, sizeof s[34].list_id, "only34.s32.test");
	/* 35: an encoded display name */
	snprintf(s[35].name, sizeof s[35].name, "=?utf-8?q?Caf=C3=A9_35?=");
}

static void lower(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in[i] && i + 1 < cap; i++)
		out[i] = (char)((in[i] >= 'A' && in[i] <= 'Z') ? in[i] + 32 : in[i]);
	out[i] = '\0';
}

/* The test's own grouping label. */
static void label_of(const struct sender *x, bool by_domain, char *out, size_t cap)
{
	if (by_domain)
		lower(x->domain, out, cap);
	else
		lower(x->list_id[0] ? x->list_id : x->addr, out, cap);
}

/* The test's own trust verdict for a sender's messages. */
static void trust_of(const struct sender *x, bool *covers, bool *pass, bool *aligned)
{
	/* Authentication-Results name the signature's own d= */
	*pass = x->ar == AR_TRUSTED_PASS;
	/* that d= is the From domain or its parent, unless the ESP signed */
	*aligned = *pass && x->dkim != D_BOTH_OTHER_D;
	bool claimed = x->dkim == D_BOTH || x->dkim == D_BOTH_OTHER_D;
	/* a trusted server that saw the signature fail: it covers nothing;
	 * untrusted results count for nothing */
	*covers = claimed && x->ar != AR_TRUSTED_FAIL;
}

static void message_of(const struct sender *x, int idx, int k, char *out, size_t cap)
{
	char dkim[512] = "", ar[256] = "", lid[160] = "", unsub[400] = "";
	const char *sig_d = x->dkim == D_BOTH_OTHER_D ? "esp.test" : x->pass_d;
	if (x->dkim != D_NONE)
		snprintf(dkim, sizeof dkim,
		         "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s1;\r\n"
		         "\th=From:To:Subject%s%s; bh=Ym9keQ==;\r\n\tb=c2lnbmF0dXJl\r\n",
		         sig_d, ":List-Unsubscribe", x->dkim == D_UNSUB_ONLY ? "" : ":List-Unsubscribe-Post");
	if (x->ar != AR_NONE)
		snprintf(ar, sizeof ar, "Authentication-Results: %s;\r\n\tdkim=%s header.d=%s header.s=s1\r\n",
		         x->ar == AR_UNTRUSTED_PASS ? UNTRUSTED : TRUSTED,
		         x->ar == AR_TRUSTED_FAIL ? "fail" : "pass", sig_d);
	if (x->list_id[0])
		snprintf(lid, sizeof lid, "List-Id: The list %d <%s>\r\n", idx, x->list_id);
	if (x->unsub[0])
		snprintf(unsub, sizeof unsub, "List-Unsubscribe: %s\r\n%s", x->unsub,
		         x->post ? "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" : "");
	snprintf(out, cap,
	         "%s%sFrom: %s <%s>\r\nTo: judy@example.test\r\nSubject: sender %d message %d\r\n"
	         "Message-ID: <s%d.m%d.%d@senders.test>\r\nDate: Sat, 1 Mar 2025 10:00:00 +0000\r\n"
	         "%s%sMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello %d.\r\n",
	         ar, dkim, x->name, x->addr, idx, k, idx, k, (int)getpid(), lid, unsub, k);
}

/* Expected groups, computed from what was appended. */
struct want {
	char label[128];
	int count, unseen, in_a, in_b;
	int newest_minute, newest;  /* the sender of the newest message */
};

static int want_of(const struct sender *s, bool by_domain, struct want *w, int *minutes)
{
	int n = 0, minute = 0;
	for (int i = 0; i < NSENDERS; i++) {
		for (int k = 0; k < s[i].n; k++, minute++) {
			char label[128];
			label_of(&s[i], by_domain, label, sizeof label);
			int g = 0;
			while (g < n && strcmp(w[g].label, label))
				g++;
			if (g == n) {
				memset(&w[n], 0, sizeof w[n]);
				snprintf(w[n++].label, sizeof w[0].label, "%s", label);
			}
			w[g].count++;
			w[g].unseen += (i + k) % 3 != 0;
			if (k % 2)
				w[g].in_b++;
			else
				w[g].in_a++;
			if (minute >= w[g].newest_minute) {
				w[g].newest_minute = minute;
				w[g].newest = i;
			}
		}
	}
	*minutes = minute;
	return n;
}

static json_t *sender_by_label(json_t *list, const char *label, bool by_domain)
{
	size_t i;
	json_t *x;
	json_array_foreach(list, i, x) {
		const char *lid = json_string_value(json_object_get(x, "list_id"));
		const char *addr = json_string_value(json_object_get(json_object_get(x, "from"), "address"));
		char l[128];
		if (by_domain) {
			const char *at = addr ? strrchr(addr, '@') : NULL;
			lower(at ? at + 1 : "", l, sizeof l);
		} else {
			lower(lid ? lid : addr ? addr : "", l, sizeof l);
		}
		if (strcmp(l, label) == 0)
			return x;
	}
	return NULL;
}

static json_t *senders_get(const struct gw *g, const char *query)
{
	char url[2048];
	snprintf(url, sizeof url, "/senders?%s", query);
	return call(g, "GET", url, NULL, 200);
}

PARAMS(groups_match_an_independent_count)
{
	need(srv);
	struct gw g;
	gw_start_on(&g, srv, "--trusted-authserv-id", TRUSTED ",other.example", "--senders-batch", "7",
	            NULL);
	test_user_lock("judy");
	char fa[256], fb[256], ea[300], eb[300], q[1024];
	fresh_folder(&g, srv, "Senders/A", fa, sizeof fa);
	fresh_folder(&g, srv, "Senders/B", fb, sizeof fb);
	struct sender s[NSENDERS];
	make_senders(s);
	int minute = 0;
	for (int i = 0; i < NSENDERS; i++) {
		for (int k = 0; k < s[i].n; k++, minute++) {
			char msg[4096];
			message_of(&s[i], i, k, msg, sizeof msg);
			append(&g, k % 2 ? fb : fa, msg, minute, (i + k) % 3 == 0);
		}
	}
	test_url_escape(fa, ea, sizeof ea);
	test_url_escape(fb, eb, sizeof eb);

	for (int by_domain = 0; by_domain < 2; by_domain++) {
		struct want w[NSENDERS];
		int minutes;
		int nw = want_of(s, by_domain, w, &minutes);
		cr_assert_geq(nw, by_domain ? 30 : 30, "the data makes at least 30 groups");
		snprintf(q, sizeof q, "folders=%s%%2C%s&per_page=500%s", ea, eb,
		         by_domain ? "&group=domain" : "");
		json_t *j = senders_get(&g, q);
		/* every message's From and List-Id; the rest only of each newest */
		cr_expect_gt(gw_count_sent(&g, "HEADER.FIELDS (FROM LIST-ID)"), 0);
		json_t *list = json_object_get(j, "senders");
		cr_assert_eq(num(j, "total"), nw, "%s: %lld groups, the test counts %d", srv->name,
		             (long long)num(j, "total"), nw);
		cr_assert_eq(json_array_size(list), (size_t)nw);
		json_int_t last = INT64_MAX;
		size_t i;
		json_t *x;
		json_array_foreach(list, i, x) {  /* most mail first */
			cr_expect_leq(num(x, "count"), last);
			last = num(x, "count");
		}
		for (int k = 0; k < nw; k++) {
			x = sender_by_label(list, w[k].label, by_domain);
			cr_assert_not_null(x, "%s: no group %s", srv->name, w[k].label);
			cr_expect_eq(num(x, "count"), w[k].count, "%s: %s", srv->name, w[k].label);
			cr_expect_eq(num(x, "unseen"), w[k].unseen, "%s: %s unseen", srv->name, w[k].label);
			json_t *folders = json_object_get(x, "folders");
			int in_a = 0, in_b = 0;
			size_t f;
			json_t *fo;
			json_array_foreach(folders, f, fo) {
				const char *p = json_string_value(json_object_get(fo, "folder"));
				json_int_t c = num(fo, "count");
				cr_expect_leq(json_array_size(json_object_get(fo, "sample_uids")), 5);
				cr_expect_eq(json_array_size(json_object_get(fo, "sample_uids")),
				             (size_t)(c < 5 ? c : 5));
				if (strcmp(p, fa) == 0)
					in_a = (int)c;
				else if (strcmp(p, fb) == 0)
					in_b = (int)c;
			}
			cr_expect_eq(in_a, w[k].in_a, "%s: %s in A", srv->name, w[k].label);
			cr_expect_eq(in_b, w[k].in_b, "%s: %s in B", srv->name, w[k].label);
			if (by_domain)
				continue;
			/* the newest message's facts */
			const struct sender *nx = &s[w[k].newest];
			const char *addr =
			    json_string_value(json_object_get(json_object_get(x, "from"), "address"));
			cr_expect(addr && strcmp(addr, nx->addr) == 0, "%s: %s from %s, want %s", srv->name,
			          w[k].label, addr, nx->addr);
			json_t *u = json_object_get(x, "unsubscribe");
			cr_expect_eq(!json_is_null(u), nx->usable, "%s: %s unsubscribe", srv->name,
			             w[k].label);
			if (!json_is_null(u))
				cr_expect_eq(json_is_true(json_object_get(u, "one_click")), nx->one_click,
				             "%s: %s one_click", srv->name, w[k].label);
			bool covers, pass, aligned;
			trust_of(nx, &covers, &pass, &aligned);
			json_t *t = json_object_get(x, "trust");
			cr_expect_eq(json_is_true(json_object_get(t, "dkim_covers_unsubscribe")), covers,
			             "%s: %s covers (dkim %d ar %d)", srv->name, w[k].label, nx->dkim, nx->ar);
			cr_expect_eq(json_is_true(json_object_get(t, "dkim_pass")), pass, "%s: %s pass",
			             srv->name, w[k].label);
			cr_expect_eq(json_is_true(json_object_get(t, "aligned")), aligned, "%s: %s aligned",
			             srv->name, w[k].label);
			if (w[k].newest == 35)
				cr_expect_str_eq(json_string_value(json_object_get(json_object_get(x, "from"),
				                                                   "name")),
				                 "Caf\u00e9 35");
		}
		json_decref(j);

		/* filters: min_count and has_unsubscribe, against the same count */
		int min2 = 0, with_unsub = 0;
		for (int k = 0; k < nw; k++) {
			min2 += w[k].count >= 2;
			with_unsub += s[w[k].newest].usable;
		}
		snprintf(q, sizeof q, "folders=%s%%2C%s&min_count=2%s", ea, eb,
		         by_domain ? "&group=domain" : "");
		j = senders_get(&g, q);
		cr_expect_eq(num(j, "total"), min2, "%s: min_count=2", srv->name);
		json_decref(j);
		if (!by_domain) {
			snprintf(q, sizeof q, "folders=%s%%2C%s&has_unsubscribe=true", ea, eb);
			j = senders_get(&g, q);
			cr_expect_eq(num(j, "total"), with_unsub, "%s: has_unsubscribe", srv->name);
			json_decref(j);
		}
	}

	/* since: SEARCH SINCE on the arrival date (all of it is on 1 March 2025) */
	snprintf(q, sizeof q, "folders=%s%%2C%s&since=2025-02-20&per_page=1", ea, eb);
	json_t *since = senders_get(&g, q);
	snprintf(q, sizeof q, "folders=%s%%2C%s&per_page=1", ea, eb);
	json_t *every = senders_get(&g, q);
	cr_expect_eq(num(since, "total"), num(every, "total"));
	json_decref(since);
	json_decref(every);
	snprintf(q, sizeof q, "folders=%s%%2C%s&since=2025-03-10", ea, eb);
	since = senders_get(&g, q);
	cr_expect_eq(num(since, "total"), 0);
	json_decref(since);

	/* paging: page 2 of 5 is entries 5..9 of the whole list, ids stable */
	snprintf(q, sizeof q, "folders=%s%%2C%s&per_page=500", ea, eb);
	json_t *all = senders_get(&g, q);
	snprintf(q, sizeof q, "folders=%s%%2C%s&per_page=5&page=2", ea, eb);
	json_t *p2 = senders_get(&g, q);
	cr_expect_eq(num(p2, "pages"), (num(all, "total") + 4) / 5);
	for (size_t i = 0; i < 5; i++)
		cr_expect_str_eq(
		    json_string_value(json_object_get(json_array_get(json_object_get(p2, "senders"), i), "id")),
		    json_string_value(json_object_get(json_array_get(json_object_get(all, "senders"), 5 + i), "id")));
	json_decref(p2);
	json_decref(all);

	/* bad parameters never reach IMAP */
	json_decref(call(&g, "GET", "/senders?group=nobody", NULL, 400));
	json_decref(call(&g, "GET", "/senders?min_count=0", NULL, 400));
	json_decref(call(&g, "GET", "/senders?since=2025-13-01", NULL, 400));
	json_decref(call(&g, "GET", "/senders?folders=", NULL, 400));
	json_decref(call(&g, "GET", "/senders?bogus=1", NULL, 400));
	json_decref(call(&g, "GET", "/senders?folders=No%2FSuch%2FFolder", NULL, 404));
	json_decref(call(&g, "POST", "/senders/bm9wZQ/archive", "{}", 404));   /* "nope" */
	json_decref(call(&g, "POST", "/senders/!!/read", "{}", 404));
	test_user_unlock();
	gw_stop(&g);
}

/* ---- bulk clean-up ---- */

struct lister {
	const struct gw *g;
	char folder_q[600];
	volatile bool stop;
	int rounds, dup_pages, strangers;
};

/* Another client: list the folder again and again; no page may hold a
 * message twice or one that was never there. */
static void *list_loop(void *arg)
{
	struct lister *l = arg;
	while (!l->stop) {
		struct gw_reply r;
		char url[800];
		snprintf(url, sizeof url, "/messages?folder=%s&per_page=500", l->folder_q);
		gw_request(l->g, "GET", url, JUDY, NULL, &r);
		if (r.status == 200) {
			json_t *j = json_loads(r.body.data, 0, NULL);
			json_t *msgs = json_object_get(j, "messages");
			size_t i, k;
			json_t *m;
			json_array_foreach(msgs, i, m) {
				const char *id = json_string_value(json_object_get(m, "message_id"));
				if (!id || !strstr(id, "@bulk.test"))
					l->strangers++;
				for (k = 0; k < i; k++)
					if (json_equal(json_object_get(json_array_get(msgs, k), "uid"),
					               json_object_get(m, "uid")))
						l->dup_pages++;
			}
			json_decref(j);
			l->rounds++;
		}
		gw_reply_free(&r);
	}
	return NULL;
}

/* The Message-IDs in a folder, each with how often it is there. */
static int count_ids(const struct gw *g, const char *folder, const char *needle, int *seen, int n)
{
	char e[512], url[700];
	test_url_escape(folder, e, sizeof e);
	snprintf(url, sizeof url, "/messages?folder=%s&per_page=500", e);
	json_t *j = call(g, "GET", url, NULL, 200);
	json_t *msgs = json_object_get(j, "messages");
	int hits = 0;
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m) {
		const char *id = json_string_value(json_object_get(m, "message_id"));
		int k;
		if (id && strstr(id, needle) && sscanf(strstr(id, needle) + strlen(needle), "%d", &k) == 1 &&
		    k >= 0 && k < n) {
			seen[k]++;
			hits++;
		}
	}
	json_decref(j);
	return hits;
}

PARAMS(bulk_archive_while_another_client_lists)
{
	need(srv);
	struct gw g;
	gw_start_on(&g, srv, "--bulk-max", "9", "--senders-batch", "25", NULL);
	test_user_lock("judy");
	char in[256], arch[256], ein[300], q[1024];
	fresh_folder(&g, srv, "Bulk/In", in, sizeof in);
	fresh_folder(&g, srv, "Bulk/Kept", arch, sizeof arch);
	enum { NLIST = 60, NOTHER = 30 };
	for (int i = 0; i < NLIST + NOTHER; i++) {
		char msg[1024];
		bool ours = i % 3 != 2;  /* interleaved with the others */
		int k = i;
		snprintf(msg, sizeof msg,
		         "From: %s\r\nTo: judy@example.test\r\nSubject: bulk %d\r\n"
		         "Message-ID: <%s%d@bulk.test>\r\n%s\r\nbody\r\n",
		         ours ? "Deals <deals@shop.test>" : "Friend <friend@home.test>", i,
		         ours ? "deal-" : "friend-", k,
		         ours ? "List-Id: Shop deals <deals.shop.test>\r\n" : "");
		append(&g, in, msg, i, false);
	}
	test_url_escape(in, ein, sizeof ein);
	snprintf(q, sizeof q, "folders=%s", ein);
	json_t *j = senders_get(&g, q);
	json_t *x = sender_by_label(json_object_get(j, "senders"), "deals.shop.test", false);
	cr_assert_not_null(x);
	cr_assert_eq(num(x, "count"), NLIST);
	char id[800], url[1000], body[1200];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(x, "id")));
	json_decref(j);

	/* dry run: counted, nothing changed */
	snprintf(url, sizeof url, "/senders/%s/archive", id);
	snprintf(body, sizeof body, "{\"dry_run\":true,\"folders\":[\"%s\"],\"to\":\"%s\"}", in, arch);
	j = call(&g, "POST", url, body, 200);
	cr_expect_eq(num(j, "matched"), NLIST);
	cr_expect_eq(num(j, "done"), 0);
	json_decref(j);
	int seen[NLIST + NOTHER] = {0};
	cr_expect_eq(count_ids(&g, in, "deal-", seen, NLIST + NOTHER), NLIST);

	/* read: every message of the sender, and only those */
	snprintf(url, sizeof url, "/senders/%s/read", id);
	snprintf(body, sizeof body, "{\"folders\":[\"%s\"]}", in);
	j = call(&g, "POST", url, body, 200);
	cr_expect_eq(num(j, "done"), NLIST);
	json_decref(j);
	snprintf(url, sizeof url, "/messages?folder=%s&unseen=true&per_page=500", ein);
	j = call(&g, "GET", url, NULL, 200);
	cr_expect_eq(num(j, "total"), NOTHER, "%s: only the sender's mail was marked read", srv->name);
	json_decref(j);

	/* archive while another client lists the folder */
	struct lister l = {.g = &g};
	snprintf(l.folder_q, sizeof l.folder_q, "%s", ein);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, list_loop, &l), 0);
	snprintf(url, sizeof url, "/senders/%s/archive", id);
	snprintf(body, sizeof body, "{\"folders\":[\"%s\"],\"to\":\"%s\"}", in, arch);
	j = call(&g, "POST", url, body, 200);
	l.stop = true;
	pthread_join(t, NULL);
	cr_expect_eq(num(j, "matched"), NLIST);
	cr_expect_eq(num(j, "done"), NLIST, "%s: every message moved", srv->name);
	json_decref(j);
	cr_expect_eq(l.dup_pages, 0);
	cr_expect_eq(l.strangers, 0);
	cr_expect_gt(l.rounds, 0);

	/* nothing lost, nothing twice: each deal once in the target, none left */
	memset(seen, 0, sizeof seen);
	cr_expect_eq(count_ids(&g, arch, "deal-", seen, NLIST + NOTHER), NLIST);
	cr_expect_eq(count_ids(&g, in, "deal-", seen, NLIST + NOTHER), 0);
	for (int i = 0; i < NLIST + NOTHER; i++)
		cr_expect_eq(seen[i], i % 3 != 2 ? 1 : 0, "%s: deal-%d there %d times", srv->name, i,
		             seen[i]);
	memset(seen, 0, sizeof seen);
	cr_expect_eq(count_ids(&g, in, "friend-", seen, NLIST + NOTHER), NOTHER);

	/* a second archive finds nothing more */
	j = call(&g, "POST", url, body, 200);
	cr_expect_eq(num(j, "matched"), 0);
	json_decref(j);
	test_user_unlock();
	gw_stop(&g);
}

/* ---- one-click unsubscribe ---- */

struct https_server {
	pid_t pid;
	unsigned port;
	char log[512];
};

/* Start one of the test servers of tests/support (a Python script taking
 * CERT KEY LOG and printing "PORT n"), with the test PKI's certificate. */
static void helper_start(struct https_server *h, const char *script, const char *name)
{
	const char *dir = getenv("IMAPGW_TEST_DIR");
	cr_assert(dir);
	char cert[512], key[512];
	snprintf(cert, sizeof cert, "%s/pki/server.crt", dir);
	snprintf(key, sizeof key, "%s/pki/server.key", dir);
	snprintf(h->log, sizeof h->log, "%s/%s-%d.jsonl", dir, name, (int)getpid());
	unlink(h->log);
	int fd[2];
	cr_assert_eq(pipe(fd), 0);
	h->pid = fork();
	cr_assert(h->pid >= 0);
	if (h->pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		const char *py = getenv("PYTHON") ? getenv("PYTHON") : "python3";
		execlp(py, py, script, cert, key, h->log, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	FILE *f = fdopen(fd[0], "r");
	char line[64] = "";
	cr_assert(fgets(line, sizeof line, f), "%s did not start", script);
	fclose(f);
	cr_assert_eq(sscanf(line, "PORT %u", &h->port), 1, "%s", line);
}

static void https_start(struct https_server *h)
{
	helper_start(h, "tests/support/oneclick_server.py", "oneclick");
}

static void https_stop(struct https_server *h)
{
	kill(h->pid, SIGTERM);
	waitpid(h->pid, NULL, 0);
}

/* The requests the server got, as JSON lines. */
static json_t *https_requests(const struct https_server *h)
{
	json_t *all = json_array();
	FILE *f = fopen(h->log, "r");
	char line[8192];
	while (f && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		if (j)
			json_array_append_new(all, j);
	}
	if (f)
		fclose(f);
	return all;
}

struct click_case {
	const char *list;     /* List-Id */
	const char *uri;      /* List-Unsubscribe URI; %u is the server's port */
	bool covers;          /* DKIM h= covers both fields */
	const char *result;   /* expected outcome */
	long status;          /* expected http_status (0: null) */
	const char *reason;   /* a piece of the expected reason */
};

static const struct click_case cases[] = {
	{"ok.click.test", "https://127.0.0.1:%u/ok", true, "done", 200, NULL},
	{"uncovered.click.test", "https://127.0.0.1:%u/ok", false, "refused", 0, "DKIM"},
	{"plainhttp.click.test", "http://127.0.0.1:%u/ok", true, "refused", 0, "one-click"},
	{"redirect.click.test", "https://127.0.0.1:%u/redirect", true, "failed", 302, "redirect"},
	{"localhost.click.test", "https://localhost:%u/ok", true, "refused", 0, "address"},
	{"mapped.click.test", "https://[::ffff:127.0.0.1]:%u/ok", true, "refused", 0, "address"},
	{"ten.click.test", "https://10.11.12.13:%u/ok", true, "refused", 0, "address"},
	{"metadata.click.test", "https://169.254.169.254/latest/meta-data/", true, "refused", 0,
	 "address"},
	{"slow.click.test", "https://127.0.0.1:%u/slow", true, "failed", 0, "within"},
	{"huge.click.test", "https://127.0.0.1:%u/huge", true, "failed", 200, "longer"},
};
#define NCASES (sizeof cases / sizeof cases[0])

static int requests_to(json_t *reqs, const char *path)
{
	int n = 0;
	size_t i;
	json_t *r;
	json_array_foreach(reqs, i, r)
		n += strcmp(json_string_value(json_object_get(r, "path")), path) == 0;
	return n;
}

Test(senders, one_click_exact_request_and_refusals)
{
	struct https_server h;
	https_start(&h);
	struct gw g;
	const char *ca = getenv("IMAPGW_TEST_CA");
	gw_start(&g, "--unsubscribe-allow-hosts", "127.0.0.1", "--unsubscribe-ca", ca,
	         "--unsubscribe-timeout", "1500", "--unsubscribe-body-max", "4096", NULL);
	test_user_lock("judy");
	char folder[64], ef[128], q[512];
	fresh_folder(&g, &test_servers[0], "Click", folder, sizeof folder);
	for (size_t i = 0; i < NCASES; i++) {
		for (int k = 0; k < 2; k++) {
			char uri[256], msg[2048];
			snprintf(uri, sizeof uri, cases[i].uri, h.port);
			snprintf(msg, sizeof msg,
			         "DKIM-Signature: v=1; a=rsa-sha256; d=click.test; s=s; bh=eA==; b=eQ==;\r\n"
			         "\th=from:subject:list-unsubscribe%s\r\n"
			         "From: Click <news@click.test>\r\nTo: judy@example.test\r\n"
			         "Subject: click %zu.%d\r\nMessage-ID: <c%zu.%d@click.test>\r\n"
			         "List-Id: <%s>\r\nList-Unsubscribe: <%s>\r\n"
			         "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhi\r\n",
			         cases[i].covers ? ":list-unsubscribe-post" : "", i, k, i, k, cases[i].list,
			         uri);
			append(&g, folder, msg, (int)(i * 2 + (size_t)k), false);
		}
	}
	test_url_escape(folder, ef, sizeof ef);
	snprintf(q, sizeof q, "folders=%s", ef);
	json_t *list = senders_get(&g, q);
	for (size_t i = 0; i < NCASES; i++) {
		json_t *x = sender_by_label(json_object_get(list, "senders"), cases[i].list, false);
		cr_assert_not_null(x, "no group %s", cases[i].list);
		cr_expect_eq(json_is_true(json_object_get(json_object_get(x, "trust"),
		                                          "dkim_covers_unsubscribe")),
		             cases[i].covers);
		json_t *before = https_requests(&h);
		size_t nbefore = json_array_size(before);
		json_decref(before);
		char url[900], body[600];
		snprintf(url, sizeof url, "/senders/%s/unsubscribe",
		         json_string_value(json_object_get(x, "id")));
		snprintf(body, sizeof body, "{\"method\":\"one_click\",\"folders\":[\"%s\"]}", folder);
		json_t *j = call(&g, "POST", url, body, 200);
		const char *result = json_string_value(json_object_get(j, "result"));
		const char *reason = json_string_value(json_object_get(j, "reason"));
		cr_expect_str_eq(result, cases[i].result, "%s: %s (%s)", cases[i].list, result, reason);
		json_t *st = json_object_get(j, "http_status");
		cr_expect_eq(json_is_null(st) ? 0 : json_integer_value(st), cases[i].status, "%s",
		             cases[i].list);
		if (cases[i].reason)
			cr_expect(reason && strstr(reason, cases[i].reason), "%s: reason %s", cases[i].list,
			          reason);
		bool done = strcmp(cases[i].result, "done") == 0;
		cr_expect_eq(num(j, "marked"), done ? 2 : 0, "%s", cases[i].list);
		json_decref(j);
		json_t *after = https_requests(&h);
		size_t sent = json_array_size(after) - nbefore;
		/* what reached the server: one POST for those let through, none for
		 * those refused, and a redirect is never followed */
		bool reached = strcmp(cases[i].result, "refused") != 0;
		cr_expect_eq(sent, reached ? 1u : 0u, "%s: %zu requests", cases[i].list, sent);
		if (sent == 1) {
			json_t *r = json_array_get(after, nbefore);
			json_t *hd = json_object_get(r, "headers");
			cr_expect_str_eq(json_string_value(json_object_get(r, "method")), "POST");
			cr_expect_str_eq(json_string_value(json_object_get(r, "body")),
			                 "List-Unsubscribe=One-Click");
			cr_expect_str_eq(json_string_value(json_object_get(hd, "content-type")),
			                 "application/x-www-form-urlencoded");
			cr_expect_str_eq(json_string_value(json_object_get(hd, "content-length")), "26");
			cr_expect_null(json_object_get(hd, "cookie"));
			cr_expect_null(json_object_get(hd, "authorization"));
			cr_expect_null(json_object_get(hd, "expect"));
		}
		json_decref(after);
	}
	json_t *reqs = https_requests(&h);
	cr_expect_eq(requests_to(reqs, "/landing"), 0, "a redirect was followed");
	json_decref(reqs);
	json_decref(list);

	/* the outcome is in the mailbox: $Unsubscribed, seen by /senders */
	list = senders_get(&g, q);
	json_t *ok = sender_by_label(json_object_get(list, "senders"), "ok.click.test", false);
	json_t *un = sender_by_label(json_object_get(list, "senders"), "uncovered.click.test", false);
	cr_expect(json_is_true(json_object_get(ok, "unsubscribed")));
	cr_expect(json_is_false(json_object_get(un, "unsubscribed")));
	snprintf(q, sizeof q, "/messages?folder=%s&per_page=50", ef);
	json_t *msgs = call(&g, "GET", q, NULL, 200);
	size_t i;
	json_t *m;
	int marked = 0;
	json_array_foreach(json_object_get(msgs, "messages"), i, m) {
		json_t *flags = json_object_get(m, "flags");
		size_t k;
		json_t *f;
		json_array_foreach(flags, k, f)
			marked += strcmp(json_string_value(f), "$Unsubscribed") == 0;
	}
	cr_expect_eq(marked, 2, "only the done sender's two messages carry the keyword");
	json_decref(msgs);

	/* force posts even without DKIM coverage */
	char url[900];
	snprintf(url, sizeof url, "/senders/%s/unsubscribe", json_string_value(json_object_get(un, "id")));
	json_t *j = call(&g, "POST", url, "{\"method\":\"one_click\",\"force\":true}", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "done");
	json_decref(j);
	/* mailto has no SMTP here: the message to send comes back */
	j = call(&g, "POST", url, "{\"method\":\"mailto\"}", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "refused");
	json_decref(j);
	j = call(&g, "POST", url, "{\"method\":\"carrier pigeon\"}", 400);
	json_decref(j);
	json_decref(list);
	cr_expect(gw_log_contains(&g, "\"msg\":\"unsubscribe\""), "every outcome is logged");
	test_user_unlock();
	gw_stop(&g);
	https_stop(&h);
}

Test(senders, mailto_answers_the_message_to_send)
{
	struct gw g;
	gw_start(&g, NULL);
	test_user_lock("judy");
	char folder[64], ef[128], q[512];
	fresh_folder(&g, &test_servers[0], "Mailto", folder, sizeof folder);
	append(&g, folder,
	       "From: Letters <letters@post.test>\r\nTo: judy@example.test\r\nSubject: news\r\n"
	       "List-Unsubscribe: <mailto:leave@post.test?subject=Remove%20me&body=please>,\r\n"
	       " <https://post.test/leave>\r\n\r\nhi\r\n",
	       0, false);
	test_url_escape(folder, ef, sizeof ef);
	snprintf(q, sizeof q, "folders=%s", ef);
	json_t *list = senders_get(&g, q);
	json_t *x = json_array_get(json_object_get(list, "senders"), 0);
	cr_assert_not_null(x);
	char url[900], body[300];
	snprintf(url, sizeof url, "/senders/%s/unsubscribe", json_string_value(json_object_get(x, "id")));
	snprintf(body, sizeof body, "{\"folders\":[\"%s\"]}", folder);
	json_t *j = call(&g, "POST", url, body, 200);  /* auto: no one-click, so mailto */
	cr_expect_str_eq(json_string_value(json_object_get(j, "method")), "mailto");
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "ready");
	json_t *msg = json_object_get(j, "message");
	cr_expect_str_eq(json_string_value(json_object_get(msg, "to")), "leave@post.test");
	cr_expect_str_eq(json_string_value(json_object_get(msg, "subject")), "Remove me");
	cr_expect_str_eq(json_string_value(json_object_get(msg, "body")), "please");
	cr_expect_eq(num(j, "marked"), 0);
	json_decref(j);
	snprintf(body, sizeof body, "{\"method\":\"https\",\"folders\":[\"%s\"]}", folder);
	j = call(&g, "POST", url, body, 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "ready");
	cr_expect_str_eq(json_string_value(json_object_get(j, "url")), "https://post.test/leave");
	json_decref(j);
	json_decref(list);
	test_user_unlock();
	gw_stop(&g);
}

Test(senders, delete_moves_to_trash_and_refuses_without_one)
{
	struct gw g;
	gw_start(&g, NULL);
	test_user_lock("judy");
	char folder[64], ef[128], q[512], url[900], body[300];
	fresh_folder(&g, &test_servers[0], "Del", folder, sizeof folder);
	for (int i = 0; i < 5; i++) {
		char msg[512];
		snprintf(msg, sizeof msg,
		         "From: Spam King <king@spam.test>\r\nTo: judy@example.test\r\nSubject: buy %d\r\n"
		         "Message-ID: <del-%d.%d@spam.test>\r\n\r\nbuy\r\n", i, i, (int)getpid());
		append(&g, folder, msg, i, false);
	}
	test_url_escape(folder, ef, sizeof ef);
	snprintf(q, sizeof q, "folders=%s", ef);
	json_t *list = senders_get(&g, q);
	json_t *x = sender_by_label(json_object_get(list, "senders"), "king@spam.test", false);
	cr_assert_not_null(x);
	snprintf(url, sizeof url, "/senders/%s/delete", json_string_value(json_object_get(x, "id")));
	json_decref(list);
	snprintf(body, sizeof body, "{\"dry_run\":true,\"folders\":[\"%s\"]}", folder);
	json_t *j = call(&g, "POST", url, body, 200);
	cr_expect_eq(num(j, "matched"), 5);
	cr_expect_eq(num(j, "done"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(j, "to")), "Trash");
	json_decref(j);
	snprintf(body, sizeof body, "{\"folders\":[\"%s\"]}", folder);
	j = call(&g, "POST", url, body, 200);
	cr_expect_eq(num(j, "done"), 5);
	json_decref(j);
	int seen[8] = {0};
	char needle[32];
	snprintf(needle, sizeof needle, "del-");
	cr_expect_eq(count_ids(&g, folder, needle, seen, 8), 0);
	/* in Trash now (other runs' copies have other pids: count ours) */
	json_t *t = call(&g, "GET", "/messages?folder=Trash&per_page=500", NULL, 200);
	int ours = 0;
	size_t i;
	json_t *m;
	char mine[32];
	snprintf(mine, sizeof mine, ".%d@spam.test", (int)getpid());
	json_array_foreach(json_object_get(t, "messages"), i, m) {
		const char *id = json_string_value(json_object_get(m, "message_id"));
		ours += id && strstr(id, mine) != NULL;
	}
	cr_expect_eq(ours, 5);
	json_decref(t);
	/* an unknown id, a body that is not JSON, a member not known */
	json_decref(call(&g, "POST", "/senders/YTp4QHkudGVzdA/delete", "{\"folders\":[\"Del\"]}", 200));
	json_decref(call(&g, "POST", url, "not json", 400));
	json_decref(call(&g, "POST", url, "{\"to\":\"Elsewhere\"}", 400));
	json_decref(call(&g, "POST", url, "{\"folders\":[]}", 400));
	test_user_unlock();
	gw_stop(&g);
}

Test(senders, mailto_sent_over_smtp_as_the_user)
{
	struct https_server smtp;
	helper_start(&smtp, "tests/support/smtp_server.py", "smtp");
	char port[16];
	snprintf(port, sizeof port, "%u", smtp.port);
	struct gw g;
	gw_start(&g, "--smtp-host", "127.0.0.1", "--smtp-port", port, "--smtp-ca",
	         getenv("IMAPGW_TEST_CA"), "--smtp-from-domain", "example.test", NULL);
	test_user_lock("judy");
	char folder[64], ef[128], q[512];
	fresh_folder(&g, &test_servers[0], "Smtp", folder, sizeof folder);
	for (int i = 0; i < 3; i++)
		append(&g, folder,
		       "From: Letters <letters@smtp.test>\r\nTo: judy@example.test\r\nSubject: news\r\n"
		       "List-Unsubscribe: <mailto:leave@smtp.test?subject=D%C3%A9sabonner%20moi"
		       "&body=please%0D%0A.line%0Aend>\r\n\r\nhi\r\n",
		       i, false);
	test_url_escape(folder, ef, sizeof ef);
	snprintf(q, sizeof q, "folders=%s", ef);
	json_t *list = senders_get(&g, q);
	json_t *x = json_array_get(json_object_get(list, "senders"), 0);
	cr_assert_not_null(x);
	char url[900];
	snprintf(url, sizeof url, "/senders/%s/unsubscribe", json_string_value(json_object_get(x, "id")));
	json_decref(list);
	json_t *j = call(&g, "POST", url, "{\"method\":\"mailto\"}", 200);
	cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "done", "%s",
	                 json_string_value(json_object_get(j, "reason")));
	cr_expect_eq(num(j, "marked"), 3);
	json_decref(j);
	json_t *got = https_requests(&smtp);
	cr_assert_eq(json_array_size(got), 1);
	json_t *m = json_array_get(got, 0);
	cr_expect(json_is_true(json_object_get(m, "tls")), "STARTTLS before AUTH");
	json_t *auth = json_object_get(m, "auth");
	cr_expect_str_eq(json_string_value(json_array_get(auth, 0)), "judy");
	cr_expect_str_eq(json_string_value(json_array_get(auth, 1)), "judy-secret");
	cr_expect_str_eq(json_string_value(json_object_get(m, "mail_from")),
	                 "FROM:<judy@example.test>");
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(m, "rcpt"), 0)),
	                 "TO:<leave@smtp.test>");
	const char *data = json_string_value(json_object_get(m, "data"));
	cr_expect(strstr(data, "From: <judy@example.test>\r\n"), "%s", data);
	cr_expect(strstr(data, "To: <leave@smtp.test>\r\n"), "%s", data);
	/* "Désabonner moi", RFC 2047 B */
	cr_expect(strstr(data, "Subject: =?UTF-8?B?RMOpc2Fib25uZXIgbW9p?=\r\n"), "%s", data);
	cr_expect(strstr(data, "\r\n\r\nplease\r\n.line\r\nend\r\n"), "%s", data);
	json_decref(got);
	test_user_unlock();
	gw_stop(&g);
	https_stop(&smtp);
}

/* ---- the folder index and the server give the same answer ---- */

/* From and List-Id shapes where an index's reading and the scan's could
 * part (case, display names, encodings, comments, groups, several or no
 * addresses, List-Id without brackets, encoded, "<>", folded). */
static const char *const tricky[] = {
	"From: \"John Q. Doe\" <John.Doe@Example.TEST>\r\nList-Id: Mixed <Mixed.List.EXAMPLE>\r\n",
	"From: john.doe@example.test (John in a comment)\r\n",
	"From: \"Doe, John\" <JOHN.DOE@example.test>\r\n",
	"From: =?utf-8?q?J=C3=B6rg?= <JOERG@example.test>\r\n",
	"From: \"quoted local\"@example.test\r\n",
	"From: Team: a@team.test, b@team.test;\r\n",
	"From: first@multi.test, second@multi.test\r\n",
	"From: localonly\r\n",
	"From: <>\r\n",
	"Subject: no From at all\r\n",
	"From: x@lists.test\r\nList-Id: =?utf-8?q?Encod=C3=A9?=\r\n",
	"From: y@lists.test\r\nList-Id: <>\r\n",
	"From: z@lists.test\r\nList-Id: Folded\r\n <folded.lists.test>\r\n",
	"From: z@lists.test\r\nList-Id:   bare.lists.test  \r\n",
	"From: <@route.test:routed@Example.test>\r\n",
	"From: Mixed <MIXED@Example.Test>\r\nList-Unsubscribe: <https://u.example.test/m>\r\n"
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
};
#define NTRICKY (sizeof tricky / sizeof tricky[0])
#define TRICKY_COPIES 3

static void tricky_message(size_t i, int k, char *out, size_t cap)
{
	snprintf(out, cap,
	         "%sTo: judy@example.test\r\nSubject: tricky %zu copy %d\r\n"
	         "Message-ID: <t%zu.%d.%d@index.senders.test>\r\n"
	         "Date: Sat, 1 Mar 2025 10:00:00 +0000\r\n\r\nHello.\r\n",
	         tricky[i], i, k, i, k, (int)getpid());
}

static unsigned long long metric(const struct gw *g, const char *name)
{
	struct gw_reply r;
	gw_request(g, "GET", "/metrics", NULL, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	unsigned long long v = 0;
	size_t n = strlen(name);
	for (const char *p = r.body.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtoull(p + n + 1, NULL, 10);
	gw_reply_free(&r);
	return v;
}

/* GET query on both gateways: the answers must be equal, field by field. */
static void same_answer(const struct gw *ix, const struct gw *scan, const struct test_server *srv,
                        const char *query, const char *when)
{
	json_t *a = senders_get(ix, query), *b = senders_get(scan, query);
	char *da = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
	char *db = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
	cr_expect(json_equal(a, b), "%s, %s, ?%s:\nindex: %s\nscan:  %s", srv->name, when, query, da,
	          db);
	cr_expect_gt(json_array_size(json_object_get(a, "senders")), 0);
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
}

PARAMS(index_and_scan_give_the_same_answer)
{
	need(srv);
	struct gw ix, scan;
	gw_start_on(&ix, srv, "--trusted-authserv-id", TRUSTED, NULL);
	gw_start_on(&scan, srv, "--trusted-authserv-id", TRUSTED, "--index-max-mb", "0", NULL);
	test_user_lock("judy");
	char fi[256], ei[300], q[1024];
	fresh_folder(&ix, srv, "Senders/Indexed", fi, sizeof fi);
	test_url_escape(fi, ei, sizeof ei);
	/* the tricky shapes, then the senders of the grouping test (one each) */
	int minute = 0;
	for (int k = 0; k < TRICKY_COPIES; k++)
		for (size_t i = 0; i < NTRICKY; i++, minute++) {
			char msg[2048];
			tricky_message(i, k, msg, sizeof msg);
			append(&ix, fi, msg, minute, (i + (size_t)k) % 2 == 0);
		}
	struct sender s[NSENDERS];
	make_senders(s);
	for (int i = 0; i < NSENDERS; i++, minute++) {
		char msg[4096];
		message_of(&s[i], i, 0, msg, sizeof msg);
		append(&ix, fi, msg, minute, i % 3 == 0);
	}
	unsigned total = (unsigned)minute;

	/* pages load the folder into ix's index (a bounded number of them) */
	char url[700];
	snprintf(url, sizeof url, "/messages?folder=%s&per_page=20", ei);
	for (int tries = 0; tries < 100 && metric(&ix, "imapgw_index_messages") < total; tries++)
		json_decref(call(&ix, "GET", url, NULL, 200));
	cr_assert_geq(metric(&ix, "imapgw_index_messages"), total, "%s: the folder is not indexed",
	              srv->name);

	unsigned sent_ix = gw_count_sent(&ix, "HEADER.FIELDS (FROM LIST-ID)");
	unsigned long long counted = metric(&ix, "imapgw_senders_indexed_messages_total");
	snprintf(q, sizeof q, "folders=%s&per_page=500", ei);
	same_answer(&ix, &scan, srv, q, "indexed");
	/* the index counted every message; no header of any was fetched for
	 * it, the scan fetched them all */
	cr_expect_eq(metric(&ix, "imapgw_senders_indexed_messages_total") - counted, total);
	cr_expect_eq(gw_count_sent(&ix, "HEADER.FIELDS (FROM LIST-ID)"), sent_ix, "%s", srv->name);
	cr_expect_gt(gw_count_sent(&scan, "HEADER.FIELDS (FROM LIST-ID)"), 0);
	cr_expect_eq(metric(&scan, "imapgw_senders_fetched_messages_total{phase=\"count\"}"), total);
	cr_expect_eq(metric(&ix, "imapgw_senders_fetched_messages_total{phase=\"count\"}"), 0);
	snprintf(q, sizeof q, "folders=%s&per_page=500&group=domain", ei);
	same_answer(&ix, &scan, srv, q, "by domain");
	snprintf(q, sizeof q, "folders=%s&per_page=500&since=2025-03-01&min_count=2", ei);
	same_answer(&ix, &scan, srv, q, "since");

	/* another client changes the folder: flags (\Seen, $Unsubscribed on the
	 * newest message of a group), an expunge, new mail; the index's answer
	 * is still the server's */
	struct imap_session *other = test_imap_login_on(srv, JUDY);
	struct imap_error err = {0};
	int64_t until = imap_now_ms() + 30000;
	cr_assert_eq(imap_session_select(other, fi, false, until, &err), 0, "%s", err.msg);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "UID STORE 1:%zu -FLAGS (\\Seen)", NTRICKY);
	const char *cmds[] = {
		cmd,
		"UID STORE 2,4 +FLAGS (\\Seen)",
		NULL,
		"UID STORE 3 +FLAGS (\\Deleted)",
	};
	char last[96];
	snprintf(last, sizeof last, "UID STORE %zu +FLAGS ($Unsubscribed)", 2 * NTRICKY + 1);
	cmds[2] = last;
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		struct imap_cmd c;
		imap_session_cmd(other, &c);
		imap_cmd_raw(&c, cmds[i]);
		cr_assert_eq(imap_session_run(other, &c, NULL, NULL, until, &err), 0, "%s: %s", cmds[i],
		             err.msg);
		imap_cmd_free(&c);
	}
	struct imap_cmd c;
	imap_session_cmd(other, &c);
	imap_cmd_raw(&c, imap_session_has_cap(other, "UIDPLUS") ? "UID EXPUNGE 3" : "EXPUNGE");
	cr_assert_eq(imap_session_run(other, &c, NULL, NULL, until, &err), 0, "%s", err.msg);
	imap_cmd_free(&c);
	char msg[2048];
	tricky_message(0, 9, msg, sizeof msg);
	imap_session_cmd(other, &c);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, fi, strlen(fi));
	imap_cmd_literal(&c, msg, strlen(msg));
	cr_assert_eq(imap_session_run(other, &c, NULL, NULL, until, &err), 0, "APPEND: %s", err.msg);
	imap_cmd_free(&c);
	imap_session_logout(&other, until);
	snprintf(q, sizeof q, "folders=%s&per_page=500", ei);
	unsigned long long hits = metric(&ix, "imapgw_index_pages_total{result=\"hit\"}");
	same_answer(&ix, &scan, srv, q, "after another client's changes");
	cr_expect_gt(metric(&ix, "imapgw_index_pages_total{result=\"hit\"}"), hits,
	             "%s: the index answered after revalidating", srv->name);
	cr_expect_eq(metric(&ix, "imapgw_senders_fetched_messages_total{phase=\"count\"}"), 0);
	test_user_unlock();
	gw_stop(&ix);
	gw_stop(&scan);
}

/* ---- a folder whose name holds a comma ---- */

Test(senders, a_folder_with_a_comma_is_named_on_senders_and_search)
{
	const struct test_server *srv = &test_servers[0];  /* the parsing is the gateway's own */
	need(srv);
	struct gw g;
	gw_start_on(&g, srv, NULL);
	test_user_lock("judy");
	char fc[256], fp[256], ec[300], ep[300], q[1200], word[64], msg[1024];
	fresh_folder(&g, srv, "Lists, old", fc, sizeof fc);
	fresh_folder(&g, srv, "Plain", fp, sizeof fp);
	test_url_escape(fc, ec, sizeof ec);
	test_url_escape(fp, ep, sizeof ep);
	snprintf(word, sizeof word, "commaword%d", (int)getpid());
	const char *froms[] = {"a@comma.test", "b@plain.test"};
	const char *into[] = {fc, fp};
	for (int i = 0; i < 2; i++) {
		snprintf(msg, sizeof msg,
		         "From: %s\r\nTo: judy@example.test\r\nSubject: %s %d\r\n"
		         "Message-ID: <c%d.%d@comma.test>\r\n\r\nHi.\r\n",
		         froms[i], word, i, i, (int)getpid());
		append(&g, into[i], msg, i, false);
	}
	/* repeated: one folder each, the comma kept */
	snprintf(q, sizeof q, "folders=%s&folders=%s", ec, ep);
	json_t *j = senders_get(&g, q);
	json_t *fl = json_object_get(j, "folders");
	cr_assert_eq(json_array_size(fl), 2);
	cr_expect_str_eq(json_string_value(json_array_get(fl, 0)), fc);
	cr_expect_str_eq(json_string_value(json_array_get(fl, 1)), fp);
	cr_expect_eq(num(j, "total"), 2);
	json_t *a = sender_by_label(json_object_get(j, "senders"), "a@comma.test", false);
	cr_assert_not_null(a);
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(a, "folders"), 0), "folder")), fc);
	json_decref(j);
	/* that folder alone: an empty value names nothing */
	snprintf(q, sizeof q, "folders=%s&folders=", ec);
	j = senders_get(&g, q);
	cr_expect_eq(json_array_size(json_object_get(j, "folders")), 1);
	cr_expect_eq(num(j, "total"), 1);
	json_decref(j);
	/* once: a comma-separated list, so the name splits into two that do not exist */
	snprintf(q, sizeof q, "/senders?folders=%s", ec);
	json_decref(call(&g, "GET", q, NULL, 404));

	/* /search, the same rule */
	snprintf(q, sizeof q, "/search?subject=%s&folders=%s&folders=", word, ec);
	j = call(&g, "GET", q, NULL, 200);
	cr_expect_eq(num(j, "total"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(j, "messages"), 0), "folder")), fc);
	json_decref(j);
	snprintf(q, sizeof q, "/search?subject=%s&folders=%s&folders=%s", word, ec, ep);
	j = call(&g, "GET", q, NULL, 200);
	cr_expect_eq(num(j, "total"), 2);
	json_decref(j);
	snprintf(q, sizeof q, "/search?subject=%s&folders=%s", word, ec);
	json_decref(call(&g, "GET", q, NULL, 404));
	/* and the list form now works on /search too */
	snprintf(q, sizeof q, "/search?subject=%s&folders=INBOX%%2C%s", word, ep);
	j = call(&g, "GET", q, NULL, 200);
	cr_expect_eq(num(j, "total"), 1);
	json_decref(j);
	/* twice is a 400 on both */
	snprintf(q, sizeof q, "/search?folders=%s&folders=%s", ec, ec);
	json_decref(call(&g, "GET", q, NULL, 400));
	snprintf(q, sizeof q, "/senders?folders=%s%%2C%s", ep, ep);
	json_decref(call(&g, "GET", q, NULL, 400));
	test_user_unlock();
	gw_stop(&g);
}
