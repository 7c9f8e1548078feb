/*
 * tests/unit/test_api.c — the REST API (api/api.h) in process: requests go
 * straight to api_handle, without HTTP, and the IMAP side is the scripted
 * fake (tests/support/fake_session.h) behind a real session pool.
 *
 * Most tests are about what never reaches IMAP: routing, methods, and the
 * validation of paths, parameters and bodies. They warm the pool with one
 * login first, so the fake's transcript ("A1 LOGIN alice secret\nA2 LOGOUT",
 * the LOGOUT sent when the pool is freed) proves that none of the requests
 * sent anything to the server: a command the script does not expect fails
 * the run.
 *
 * Every error must be a problem body (RFC 9457): the status, Content-Type
 * application/problem+json, and a "status" member equal to the status.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/api.h"
#include "imap/messages.h"
#include "tests/support/fake_session.h"

TestSuite(api, .timeout = 30);

/* Basic base64("alice:secret"). */
#define ALICE "Basic YWxpY2U6c2VjcmV0"

#define GREET FAKE_SEND("* OK [CAPABILITY IMAP4rev1] ready\r\n")
#define LOGIN FAKE_EXPECT("LOGIN alice secret"), \
	FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1] Logged in\r\n")
#define LOGOUT FAKE_EXPECT("LOGOUT"), FAKE_SEND("* BYE logging out\r\n$TAG OK done\r\n")

/* What the server sees when nothing but the warm-up login reached it. */
#define LOGIN_ONLY "A1 LOGIN alice secret\nA2 LOGOUT"

static const struct fake_step login_only[] = {GREET, LOGIN, LOGOUT};

/* ---- the gateway under test ---- */

struct gateway {
	struct fake_session fs;
	struct imap_pool *pool;
};

/* A fake playing script[0..n), a pool pointed at it, and api_init. */
static void gateway_start(struct gateway *g, const struct fake_step *script, size_t n)
{
	fake_session_start(&g->fs, script, n, IMAP_TLS_NONE);
	struct imap_pool_config pc = fake_session_pool_config(&g->fs);
	g->pool = imap_pool_new(&pc);
	cr_assert_not_null(g->pool);
	static struct api_server server;
	server = (struct api_server){.name = "default", .pool = g->pool, .client = &g->fs.cfg};
	api_init(&(struct api_config){.servers = &server, .nservers = 1, .per_page_max = 100,
	                              .per_page_default = 50, .download_timeout_ms = 3000,
	                              .text_max = 65536});
}
#define GATEWAY_START(g, script) gateway_start((g), (script), FAKE_NSTEPS(script))

/* Log alice in and give the session back to the pool, idle. */
static void gateway_warm(struct gateway *g)
{
	struct imap_credentials c = {.kind = IMAP_CRED_PASSWORD, .user = "alice",
	                             .secret = "secret"};
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	int rc = imap_pool_acquire(g->pool, &c, FAKE_DEADLINE(), &s, NULL, NULL, &err);
	cr_assert_eq(rc, 0, "warm-up login: %s", err.msg);
	imap_pool_release(g->pool, s);
}

/* Start with a pool holding alice's idle session, for tests where nothing
 * else may reach the server. */
static void gateway_start_warm(struct gateway *g)
{
	GATEWAY_START(g, login_only);
	gateway_warm(g);
}

/* Free the pool (its LOGOUTs), then the server must have seen exactly want. */
static void gateway_finish(struct gateway *g, const char *want)
{
	imap_pool_free(&g->pool, FAKE_DEADLINE());
	fake_session_finish(&g->fs, want);
}

/* ---- requests ---- */

/* A struct call: method, path, then members by name. */
#define CALL(method_, path_, ...) {.method = (method_), .path = (path_), __VA_ARGS__}
#define JSON(body_) .content_type = "application/json", .body = (body_)
#define MESSAGE(body_) .content_type = "message/rfc822", .body = (body_)
#define ADD_SEEN "{\"add\":[\"\\\\Seen\"]}"

struct call {
	const char *method;
	const char *path;         /* URL-decoded, as the HTTP layer hands it over */
	const char *query;        /* "k=v&k=v", decoded; NULL: none */
	const char *content_type; /* NULL: none */
	const char *body;         /* NULL: none */
	size_t body_len;          /* 0: strlen(body) */
	const char *auth;         /* Authorization; NULL: ALICE */
	bool anonymous;           /* no Authorization at all */
	const char *user;         /* X-Imap-User; NULL: none */
};

/* Run c through api_handle into *resp (initialised here; the caller frees). */
static void run(const struct call *c, struct api_response *resp)
{
	struct api_request req = {.id = "test", .method = c->method, .path = c->path,
	                          .content_type = c->content_type, .body = c->body,
	                          .imap_user = c->user, .deadline = FAKE_DEADLINE()};
	req.authorization = c->anonymous ? NULL : c->auth ? c->auth : ALICE;
	if (c->body)
		req.body_len = c->body_len ? c->body_len : strlen(c->body);
	char query[4096] = "";
	if (c->query) {
		cr_assert_lt(strlen(c->query), sizeof query);
		strcpy(query, c->query);
		for (char *p = query, *next; p && *p; p = next) {
			next = strchr(p, '&');
			if (next)
				*next++ = '\0';
			cr_assert_lt(req.nquery, API_QUERY_MAX);
			char *eq = strchr(p, '=');
			if (eq)
				*eq = '\0';
			req.query[req.nquery++] = (struct api_param){p, eq ? eq + 1 : ""};
		}
	}
	api_response_init(resp);
	api_handle(&req, resp);
}

/* "METHOD /path?query" for messages. */
static const char *describe(const struct call *c, char *out, size_t cap)
{
	snprintf(out, cap, "%s %s%s%s", c->method, c->path, c->query ? "?" : "",
	         c->query ? c->query : "");
	return out;
}

static const char *body_text(const struct api_response *r)
{
	return r->body.data ? r->body.data : "";
}

/* The value of header `name` in r, or NULL. */
static const char *header(const struct api_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* r must be a problem with this status. */
static void expect_problem(const struct api_response *r, int status, const char *what)
{
	cr_expect_eq(r->status, status, "%s: status %d, want %d: %s", what, r->status, status,
	             body_text(r));
	cr_expect_str_eq(r->content_type, "application/problem+json", "%s", what);
	json_error_t e;
	json_t *o = json_loads(body_text(r), 0, &e);
	cr_expect(json_is_object(o), "%s: body is no JSON object: %s", what, body_text(r));
	cr_expect_eq(json_integer_value(json_object_get(o, "status")), status,
	             "%s: the body's status is not %d: %s", what, status, body_text(r));
	json_decref(o);
}

/* Run c: it must be a problem with this status. */
static void expect_call_problem(const struct call *c, int status)
{
	char what[512];
	struct api_response r;
	run(c, &r);
	expect_problem(&r, status, describe(c, what, sizeof what));
	api_response_free(&r);
}

/* Each of calls[0..n) must be a problem with this status. */
static void expect_all(const struct call *calls, size_t n, int status)
{
	for (size_t i = 0; i < n; i++)
		expect_call_problem(&calls[i], status);
}

/* Each of calls[0..n) must be a problem with this status, and none may send
 * anything to the server. */
static void expect_refused(const struct call *calls, size_t n, int status)
{
	struct gateway g;
	gateway_start_warm(&g);
	expect_all(calls, n, status);
	gateway_finish(&g, LOGIN_ONLY);
}
#define EXPECT_REFUSED(calls, status) expect_refused((calls), FAKE_NSTEPS(calls), (status))

/* ---- routing ---- */

Test(api, unknown_routes_are_404)
{
	static const struct call calls[] = {
		CALL("GET", "//"),
		CALL("GET", "/nope"),
		CALL("GET", "/docs/"),
		CALL("GET", "/docs/redoc.js"),
		CALL("GET", "/folder"),
		CALL("GET", "/foldersX"),
		CALL("GET", "/messagesX"),
		CALL("GET", "/messages/"),
		CALL("GET", "/messages/5/nope"),
		CALL("GET", "/messages/5/flags/x"),
		CALL("GET", "/healthz/"),
		CALL("POST", "/nope"),
		CALL("DELETE", "//"),
		CALL("OPTIONS", "/nope"),
	};
	EXPECT_REFUSED(calls, 404);
}

Test(api, wrong_method_is_405_with_the_allowed_ones)
{
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
		{"POST", "/healthz", "GET, HEAD, OPTIONS"},
		{"DELETE", "/", "GET, HEAD, OPTIONS"},
		{"POST", "/docs", "GET, HEAD, OPTIONS"},
		{"DELETE", "/readyz", "GET, HEAD, OPTIONS"},
		{"PUT", "/openapi.json", "GET, HEAD, OPTIONS"},
		{"PUT", "/folders", "GET, HEAD, POST, OPTIONS"},
		{"DELETE", "/folders", "GET, HEAD, POST, OPTIONS"},
		{"POST", "/folders/Archive", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"PUT", "/folders/Archive/2024", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"PUT", "/messages", "GET, HEAD, POST, OPTIONS"},
		{"DELETE", "/messages", "GET, HEAD, POST, OPTIONS"},
		{"POST", "/messages/5", "GET, HEAD, DELETE, OPTIONS"},
		{"PATCH", "/messages/5", "GET, HEAD, DELETE, OPTIONS"},
		{"POST", "/messages/5/flags", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"DELETE", "/messages/5/flags", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"GET", "/messages/flags", "PATCH, OPTIONS"},
		{"HEAD", "/messages/flags", "PATCH, OPTIONS"},
		{"POST", "/messages/flags", "PATCH, OPTIONS"},
		{"GET", "/messages/move", "POST, OPTIONS"},
		{"PUT", "/messages/copy", "POST, OPTIONS"},
		{"GET", "/messages/5/move", "POST, OPTIONS"},
		{"DELETE", "/messages/5/copy", "POST, OPTIONS"},
		{"POST", "/messages/5/raw", "GET, HEAD, OPTIONS"},
		{"DELETE", "/messages/5/raw", "GET, HEAD, OPTIONS"},
		{"POST", "/messages/5/attachments", "GET, HEAD, OPTIONS"},
		{"PUT", "/messages/5/attachments/2", "GET, HEAD, OPTIONS"},
	};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(cases); i++) {
		const struct call c = CALL(cases[i].method, cases[i].path);
		char what[512];
		struct api_response r;
		run(&c, &r);
		describe(&c, what, sizeof what);
		expect_problem(&r, 405, what);
		const char *allow = header(&r, "Allow");
		cr_expect(allow && strcmp(allow, cases[i].allow) == 0, "%s: Allow \"%s\", want \"%s\"",
		          what, allow ? allow : "(none)", cases[i].allow);
		api_response_free(&r);
	}
	gateway_finish(&g, LOGIN_ONLY);
}

Test(api, head_is_answered_like_get)
{
	/* Without credentials every mail route stops at the 401, so HEAD and
	 * GET are compared without IMAP; the others answer from memory. */
	static const char *const paths[] = {
		"/healthz", "/openapi.json", "/folders", "/folders/INBOX", "/messages",
		"/messages/5", "/messages/5/raw", "/messages/5/flags", "/messages/5/attachments",
		"/messages/5/attachments/2",
	};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(paths); i++) {
		const struct call get = CALL("GET", paths[i], .anonymous = true);
		const struct call head = CALL("HEAD", paths[i], .anonymous = true);
		struct api_response a, b;
		run(&get, &a);
		run(&head, &b);
		cr_expect_neq(b.status, 405, "HEAD %s: 405", paths[i]);
		cr_expect_eq(a.status, b.status, "%s: GET %d, HEAD %d", paths[i], a.status, b.status);
		cr_expect_str_eq(a.content_type, b.content_type, "%s", paths[i]);
		cr_expect_eq(a.body.len, b.body.len, "%s: the bodies differ", paths[i]);
		api_response_free(&a);
		api_response_free(&b);
	}
	struct api_response r;
	run(&(struct call)CALL("HEAD", "/healthz"), &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(body_text(&r), "{\"status\":\"ok\"}");
	api_response_free(&r);
	run(&(struct call)CALL("HEAD", "/openapi.json"), &r);
	cr_expect_eq(r.status, 200);
	cr_expect_str_eq(r.content_type, "application/json");
	cr_expect_gt(r.body.len, 0);
	api_response_free(&r);
	gateway_finish(&g, LOGIN_ONLY);
}

/* ---- paths and parameters ---- */

Test(api, bad_uid_in_the_path_is_400)
{
	static const char *const uids[] = {
		"0", "4294967296", "99999999999", "05", "00", "abc", "5a", "-1", "+5", "0x10",
	};
	static const struct {
		const char *method, *suffix;
	} routes[] = {
		{"GET", ""}, {"HEAD", ""}, {"DELETE", ""}, {"GET", "/raw"}, {"GET", "/flags"},
		{"PUT", "/flags"}, {"PATCH", "/flags"}, {"POST", "/move"}, {"POST", "/copy"},
		{"GET", "/attachments"}, {"GET", "/attachments/2"},
	};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(uids); i++)
		for (size_t k = 0; k < FAKE_NSTEPS(routes); k++) {
			char path[64];
			snprintf(path, sizeof path, "/messages/%s%s", uids[i], routes[k].suffix);
			const struct call c = {routes[k].method, path,
			                       .content_type = "application/json",
			                       .body = "{\"to\":\"Archive\"}"};
			expect_call_problem(&c, 400);
		}
	gateway_finish(&g, LOGIN_ONLY);
}

Test(api, unknown_query_parameter_is_400)
{
	static const struct call calls[] = {
		CALL("GET", "/folders", .query = "bogus=1"),
		CALL("GET", "/folders", .query = "counts=true&Counts=true"),
		CALL("GET", "/folders/INBOX", .query = "folder=INBOX"),
		CALL("GET", "/messages", .query = "bogus=1"),
		CALL("GET", "/messages", .query = "folder=INBOX&page=2&Page=3"),
		CALL("GET", "/messages/5", .query = "bogus="),
		CALL("GET", "/messages/5/raw", .query = "headers=all"),
		CALL("GET", "/messages/5/flags", .query = "mark_seen=true"),
		CALL("GET", "/messages/5/attachments", .query = "max_bytes=10"),
		CALL("GET", "/messages/5/attachments/2", .query = "bogus=1"),
		CALL("DELETE", "/messages/5", .query = "force=true"),
		CALL("DELETE", "/folders/Archive", .query = "permanent=true"),
		CALL("PATCH", "/messages/5/flags", .query = "bogus=1", JSON(ADD_SEEN)),
		CALL("POST", "/messages/5/move", .query = "to=Archive", JSON("{\"to\":\"Archive\"}")),
		CALL("POST", "/folders", .query = "path=x", JSON("{\"path\":\"x\"}")),
		CALL("POST", "/messages", .query = "bogus=1", MESSAGE("Subject: hi\r\n\r\nhi\r\n")),
	};
	EXPECT_REFUSED(calls, 400);
}

Test(api, bad_paging_sorting_and_filters_are_400)
{
	static const char *const queries[] = {
		"page=0", "page=-1", "page=", "page=abc", "page=1.5", "page= 2", "page=10000001",
		"page=99999999999999999999999",
		"per_page=0", "per_page=101", "per_page=", "per_page=ten", "per_page=+5",
		"sort=name", "sort=Date", "sort=", "order=up", "order=DESC",
		"unseen=yes", "flagged=2", "since=2024-02-30", "before=yesterday", "larger=-1",
		"smaller=0", "cursor=!!!", "cursor=djEuNy5hcnJpdmFsLmRlc2MuNS4w&sort=date",
		"uidvalidity=0", "uidvalidity=4294967296", "from=", "subject=a\tb",
	};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(queries); i++)
		expect_call_problem(&(struct call)CALL("GET", "/messages", .query = queries[i]), 400);
	gateway_finish(&g, LOGIN_ONLY);
}

Test(api, folder_with_cr_or_lf_is_400_and_nothing_is_sent)
{
	static const char *const folders[] = {"IN\rBOX", "INBOX\n", "a\r\nb", "", "\xff\xfe"};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(folders); i++) {
		char q[64], path[64];
		snprintf(q, sizeof q, "folder=%s", folders[i]);
		const struct call calls[] = {
			CALL("GET", "/messages", .query = q),
			CALL("GET", "/messages/5", .query = q),
			CALL("GET", "/messages/5/raw", .query = q),
			CALL("GET", "/messages/5/flags", .query = q),
			CALL("GET", "/messages/5/attachments", .query = q),
			CALL("GET", "/messages/5/attachments/2", .query = q),
			CALL("DELETE", "/messages/5", .query = q),
			CALL("PATCH", "/messages/5/flags", .query = q, JSON(ADD_SEEN)),
			CALL("PATCH", "/messages/flags", .query = q, JSON("{\"uids\":[5],\"add\":[\"\\\\Seen\"]}")),
			CALL("POST", "/messages/5/copy", .query = q, JSON("{\"to\":\"Archive\"}")),
			CALL("POST", "/messages", .query = q, MESSAGE("Subject: hi\r\n\r\nhi\r\n")),
		};
		expect_all(calls, FAKE_NSTEPS(calls), 400);
		/* the same in a body, where a path is a member (JSON carries UTF-8 only) */
		json_t *o = json_object();
		json_object_set_new(o, "to", json_stringn_nocheck(folders[i], strlen(folders[i])));
		char *body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (body)
			expect_call_problem(&(struct call)CALL("POST", "/messages/5/move", JSON(body)), 400);
		free(body);
		/* and a folder named by the path (the empty one is a 404, below) */
		if (folders[i][0]) {
			snprintf(path, sizeof path, "/folders/%s", folders[i]);
			expect_call_problem(&(struct call)CALL("GET", path), 400);
			expect_call_problem(&(struct call)CALL("DELETE", path), 400);
		}
	}
	expect_call_problem(&(struct call)CALL("GET", "/folders/"), 404);
	gateway_finish(&g, LOGIN_ONLY);
}

/* ---- request bodies ---- */

/* A JSON body of `n` UIDs for PATCH /messages/flags. Caller frees. */
static char *uids_body(unsigned n)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_buf_puts(&b, "{\"add\":[\"\\\\Seen\"],\"uids\":[");
	for (unsigned i = 1; i <= n; i++)
		imap_buf_printf(&b, "%s%u", i > 1 ? "," : "", i);
	imap_buf_puts(&b, "]}");
	return imap_buf_steal(&b);
}

Test(api, json_body_of_the_wrong_type_is_415)
{
	static const struct call calls[] = {
		CALL("PATCH", "/messages/5/flags", .content_type = "text/plain", .body = ADD_SEEN),
		CALL("PUT", "/messages/5/flags", .content_type = "application/jsonx", .body = "{\"flags\":[]}"),
		CALL("PATCH", "/messages/flags", .content_type = "application/x-www-form-urlencoded",
		     .body = "uids=5"),
		CALL("POST", "/messages/5/move", .content_type = "text/json", .body = "{\"to\":\"Archive\"}"),
		CALL("POST", "/messages/copy", .content_type = "multipart/form-data", .body = "{}"),
		CALL("POST", "/folders", .content_type = "text/plain", .body = "{\"path\":\"x\"}"),
		CALL("PATCH", "/folders/x", .content_type = "application/xml", .body = "{\"path\":\"y\"}"),
		/* an appended message is message/rfc822, and only that */
		CALL("POST", "/messages", JSON("{}")),
		CALL("POST", "/messages", .body = "Subject: hi\r\n\r\nhi\r\n"),
	};
	EXPECT_REFUSED(calls, 415);
}

Test(api, bad_json_bodies_are_400_and_nothing_is_sent)
{
#define FLAGS_PATCH(body_) CALL("PATCH", "/messages/5/flags", JSON(body_))
#define BULK_PATCH(body_) CALL("PATCH", "/messages/flags", JSON(body_))
	static const struct call calls[] = {
		/* not a JSON object */
		FLAGS_PATCH(""),
		FLAGS_PATCH("add"),
		FLAGS_PATCH("{\"add\":[\"\\\\Seen\"]"),
		FLAGS_PATCH("[\"\\\\Seen\"]"),
		FLAGS_PATCH("\"\\\\Seen\""),
		FLAGS_PATCH("null"),
		/* nested deeper than 8 */
		FLAGS_PATCH("{\"add\":[[[[[[[[\"x\"]]]]]]]]}"),
		/* a duplicate key, a member the route does not know */
		FLAGS_PATCH("{\"add\":[\"\\\\Seen\"],\"add\":[\"$Work\"]}"),
		FLAGS_PATCH("{\"add\":[\"\\\\Seen\"],\"flags\":[]}"),
		/* flags that cannot be stored */
		FLAGS_PATCH("{\"add\":[\"\\\\Recent\"]}"),
		FLAGS_PATCH("{\"add\":[\"two words\"]}"),
		FLAGS_PATCH("{\"add\":[\"a\\r\\nb\"]}"),
		FLAGS_PATCH("{\"add\":[\"nul\\u0000\"]}"),
		FLAGS_PATCH("{\"add\":[1]}"),
		FLAGS_PATCH("{\"add\":\"\\\\Seen\"}"),
		FLAGS_PATCH("{\"remove\":[\"(x\"]}"),
		/* nothing to change, or a flag both added and removed */
		FLAGS_PATCH("{}"),
		FLAGS_PATCH("{\"add\":[\"\\\\Seen\"],\"remove\":[\"\\\\seen\"]}"),
		CALL("PUT", "/messages/5/flags", JSON("{}")),
		CALL("PUT", "/messages/5/flags", JSON("{\"flags\":\"\\\\Seen\"}")),
		CALL("PUT", "/messages/5/flags", JSON("{\"add\":[]}")),
		/* uids: empty, missing, or not UIDs */
		BULK_PATCH("{\"uids\":[],\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH(ADD_SEEN),
		BULK_PATCH("{\"uids\":5,\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH("{\"uids\":[0],\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH("{\"uids\":[4294967296],\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH("{\"uids\":[\"5\"],\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH("{\"uids\":[1.5],\"add\":[\"\\\\Seen\"]}"),
		BULK_PATCH("{\"uids\":[5]}"),
		/* move and copy */
		CALL("POST", "/messages/5/move", JSON("{}")),
		CALL("POST", "/messages/5/move", JSON("{\"to\":5}")),
		CALL("POST", "/messages/5/move", JSON("{\"to\":\"INBOX\"}")),
		CALL("POST", "/messages/5/copy", JSON("{\"to\":\"A\",\"uids\":[5]}")),
		CALL("POST", "/messages/move", JSON("{\"to\":\"Archive\"}")),
		CALL("POST", "/messages/copy", JSON("{\"uids\":[5]}")),
		/* folders */
		CALL("POST", "/folders", JSON("{}")),
		CALL("POST", "/folders", JSON("{\"path\":\"\"}")),
		CALL("POST", "/folders", JSON("{\"path\":\"x\",\"subscribed\":1}")),
		CALL("PATCH", "/folders/x", JSON("{}")),
		CALL("PATCH", "/folders/x", JSON("{\"name\":\"y\"}")),
	};
#undef FLAGS_PATCH
#undef BULK_PATCH
	EXPECT_REFUSED(calls, 400);
}

Test(api, bulk_uids_up_to_the_limit)
{
	/* 1000 by default: one more is a 400 before anything is sent. */
	char *over = uids_body(1001);
	struct gateway g;
	gateway_start_warm(&g);
	expect_call_problem(&(struct call)CALL("PATCH", "/messages/flags", JSON(over)), 400);
	gateway_finish(&g, LOGIN_ONLY);
	free(over);
}

Test(api, bad_appended_messages_are_400)
{
	static const char with_nul[] = "Subject: a\r\n\r\nnul \0 here\r\n";
#define APPEND(query_) CALL("POST", "/messages", .query = (query_), MESSAGE("Subject: a\r\n\r\n"))
	static const struct call calls[] = {
		CALL("POST", "/messages", MESSAGE("")),
		CALL("POST", "/messages", MESSAGE(with_nul), .body_len = sizeof with_nul - 1),
		APPEND("flags=\\Recent"),
		APPEND("flags=a(b"),
		APPEND("received=yesterday"),
		APPEND("received=2024-02-30T10:00:00Z"),
		APPEND("received=2024-02-05T10:00:00"),
		APPEND("uidvalidity=0"),
	};
#undef APPEND
	EXPECT_REFUSED(calls, 400);
}

/* ---- credentials ---- */

Test(api, missing_or_malformed_authorization_is_401)
{
	static const struct call anonymous[] = {
		CALL("GET", "/folders", .anonymous = true),
		CALL("GET", "/folders/INBOX", .anonymous = true),
		CALL("GET", "/messages", .anonymous = true),
		CALL("GET", "/messages/5", .anonymous = true),
		CALL("GET", "/messages/5/raw", .anonymous = true),
		CALL("GET", "/messages/5/flags", .anonymous = true),
		CALL("DELETE", "/messages/5", .anonymous = true),
		CALL("PATCH", "/messages/5/flags", JSON(ADD_SEEN), .anonymous = true),
		CALL("POST", "/messages", MESSAGE("Subject: a\r\n\r\n"), .anonymous = true),
		CALL("POST", "/folders", JSON("{\"path\":\"x\"}"), .anonymous = true),
	};
	static const char *const malformed[] = {
		"Basic", "Basic !!!!", "Basic YWxpY2U=", /* "alice", no colon */
		"Basic OnNlY3JldA==",                     /* ":secret", no user */
		"Digest username=\"alice\"", "alice:secret", "",
	};
	struct gateway g;
	gateway_start_warm(&g);
	for (size_t i = 0; i < FAKE_NSTEPS(anonymous); i++) {
		char what[512];
		struct api_response r;
		run(&anonymous[i], &r);
		describe(&anonymous[i], what, sizeof what);
		expect_problem(&r, 401, what);
		const char *www = header(&r, "WWW-Authenticate");
		cr_expect(www && strcmp(www, "Basic realm=\"imapgw\", Bearer") == 0,
		          "%s: WWW-Authenticate %s", what, www ? www : "(none)");
		api_response_free(&r);
	}
	for (size_t i = 0; i < FAKE_NSTEPS(malformed); i++)
		expect_call_problem(&(struct call)CALL("GET", "/messages", .auth = malformed[i]), 401);
	gateway_finish(&g, LOGIN_ONLY);
}

Test(api, bearer_without_imap_user_is_400)
{
	static const struct call calls[] = {
		CALL("GET", "/messages", .auth = "Bearer ya29.token"),
		CALL("GET", "/folders", .auth = "Bearer ya29.token", .user = ""),
		CALL("GET", "/messages/5/flags", .auth = "bearer ya29.token"),
		CALL("PATCH", "/messages/5/flags", JSON(ADD_SEEN), .auth = "Bearer ya29.token"),
	};
	EXPECT_REFUSED(calls, 400);
}

/* ---- through the fake server ---- */

#define EXAMINE_INBOX                                                                  \
	FAKE_EXPECT("EXAMINE INBOX"),                                                      \
	FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n* OK [UIDNEXT 9] next\r\n" \
	          "$TAG OK [READ-ONLY] Examine completed\r\n")

Test(api, flags_of_a_message_come_from_a_fetch)
{
	static const struct fake_step script[] = {
		GREET, LOGIN, EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID FLAGS)"),
		FAKE_SEND("* 2 FETCH (UID 5 FLAGS (\\Seen $Work \\Recent))\r\n"
		          "$TAG OK Fetch completed\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("GET", "/messages/5/flags"), &r);
	cr_expect_eq(r.status, 200, "%d: %s", r.status, body_text(&r));
	cr_expect_str_eq(r.content_type, "application/json");
	cr_expect_str_eq(body_text(&r),
	                 "{\"folder\":\"INBOX\",\"uidvalidity\":7,\"uid\":5,"
	                 "\"flags\":[\"\\\\Seen\",\"$Work\"]}");
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 EXAMINE INBOX\n"
	                   "A3 UID FETCH 5 (UID FLAGS)\nA4 LOGOUT");
}

Test(api, uid_the_server_does_not_have_is_404)
{
	static const struct fake_step script[] = {
		GREET, LOGIN, EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 42 (UID FLAGS)"),
		FAKE_SEND("$TAG OK Fetch completed\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("GET", "/messages/42/flags"), &r);
	expect_problem(&r, 404, "GET /messages/42/flags");
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 EXAMINE INBOX\n"
	                   "A3 UID FETCH 42 (UID FLAGS)\nA4 LOGOUT");
}

Test(api, stale_uidvalidity_is_409_and_nothing_is_fetched)
{
	static const struct fake_step script[] = {GREET, LOGIN, EXAMINE_INBOX, LOGOUT};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("GET", "/messages/5/flags", .query = "uidvalidity=6"), &r);
	expect_problem(&r, 409, "GET /messages/5/flags?uidvalidity=6");
	cr_expect(strstr(body_text(&r), "urn:imapgw:problem:stale-uidvalidity"), "%s",
	          body_text(&r));
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 EXAMINE INBOX\nA3 LOGOUT");
}

Test(api, refused_login_is_401)
{
	static const struct fake_step script[] = {
		GREET,
		FAKE_EXPECT("LOGIN alice secret"),
		FAKE_SEND("$TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("GET", "/messages/5/flags"), &r);
	expect_problem(&r, 401, "GET /messages/5/flags");
	cr_expect(strstr(body_text(&r), "\"imap_code\":\"AUTHENTICATIONFAILED\""), "%s",
	          body_text(&r));
	cr_expect_null(strstr(body_text(&r), "secret"));
	cr_expect_not_null(header(&r, "WWW-Authenticate"));
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret");
}

/* ---- dialects of real servers, through the API ---- */

/* Yandex answers BODY[] with NIL: the message is there and the server
 * would not give it. A 502 saying so, never "no such message". */
Test(api, a_body_the_server_will_not_give_is_502_not_404)
{
	static const struct fake_step script[] = {
		GREET, LOGIN, EXAMINE_INBOX,
		FAKE_EXPECT("UID FETCH 3 (UID BODY.PEEK[])"),
		FAKE_SEND("* 1 FETCH (UID 3 BODY[] NIL)\r\n$TAG OK FETCH Completed.\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("GET", "/messages/3/raw"), &r);
	expect_problem(&r, 502, "GET /messages/3/raw");
	cr_expect(strstr(body_text(&r), "no data") != NULL, "%s", body_text(&r));
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 EXAMINE INBOX\n"
	                   "A3 UID FETCH 3 (UID BODY.PEEK[])\nA4 LOGOUT");
}

/* Exchange answers UID MOVE with its COPYUID code alone on a line: the
 * move is done and its new UID known, not a 502. */
Test(api, exchange_move_with_a_bare_copyuid_is_done)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK The Microsoft Exchange IMAP4 service is ready.\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID "
		          "UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n$TAG OK CAPABILITY completed.\r\n"),
		FAKE_EXPECT("AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="),
		FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE ID UNSELECT CHILDREN IDLE] "
		          "LOGIN completed.\r\n"),
		FAKE_EXPECT_PREFIX("SELECT INBOX"),
		FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		          "* OK [UIDNEXT 9] next\r\n$TAG OK [READ-WRITE] Select completed\r\n"),
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
		FAKE_SEND("* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
		          "Message-ID: <a@b>\r\n\r\n)\r\n$TAG OK FETCH completed.\r\n"),
		FAKE_EXPECT("UID MOVE 5 Archive"),
		FAKE_SEND("* [COPYUID 42 5 100]\r\n* 1 EXPUNGE\r\n$TAG OK MOVE completed.\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	struct api_response r;
	run(&(struct call)CALL("POST", "/messages/5/move", JSON("{\"to\":\"Archive\"}")), &r);
	cr_expect_eq(r.status, 200, "%d: %s", r.status, body_text(&r));
	cr_expect_str_eq(body_text(&r), "{\"folder\":\"Archive\",\"uidvalidity\":42,\"uid\":100}");
	api_response_free(&r);
	gateway_finish(&g, "A1 CAPABILITY\nA2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\nA3 SELECT INBOX\n"
	                   "A4 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\n"
	                   "A5 UID MOVE 5 Archive\nA6 LOGOUT");
}

/* GET /search past --search-deadline-ms: the folder under way is finished,
 * the next one is not started, and the answer says partial instead of 504. */
Test(api, search_past_its_deadline_is_partial)
{
	static const struct fake_step script[] = {
		GREET, LOGIN, EXAMINE_INBOX,
		FAKE_EXPECT("UID SEARCH ALL"),
		FAKE_DELAY(1200),
		FAKE_SEND("* SEARCH 5\r\n$TAG OK Search completed\r\n"),
		FAKE_EXPECT("UID FETCH 5 (UID INTERNALDATE)"),
		FAKE_SEND("* 2 FETCH (UID 5 INTERNALDATE \"02-Jun-2025 10:00:00 +0000\")\r\n"
		          "$TAG OK Fetch completed\r\n"),
		FAKE_EXPECT_PREFIX("UID FETCH 5 (UID FLAGS INTERNALDATE RFC822.SIZE"),
		FAKE_SEND("* 2 FETCH (UID 5 FLAGS () INTERNALDATE \"02-Jun-2025 10:00:00 +0000\" "
		          "RFC822.SIZE 10)\r\n$TAG OK Fetch completed\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	gateway_warm(&g);  /* the login does not count against the deadline */
	struct api_config cfg = *api_config();
	cfg.search_deadline_ms = 500;
	api_init(&cfg);
	struct api_response r;
	run(&(struct call)CALL("GET", "/search", .query = "folders=INBOX&folders=Archive"), &r);
	cr_expect_eq(r.status, 200, "%d: %s", r.status, body_text(&r));
	json_t *j = json_loads(body_text(&r), 0, NULL);
	cr_expect(json_is_true(json_object_get(j, "partial")), "%s", body_text(&r));
	cr_expect_eq(json_array_size(json_object_get(j, "folders")), 1, "%s", body_text(&r));
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 1);
	cr_expect_eq(json_array_size(json_object_get(j, "messages")), 1);
	json_decref(j);
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 EXAMINE INBOX\nA3 UID SEARCH ALL\n"
	                   "A4 UID FETCH 5 (UID INTERNALDATE)\n"
	                   "A5 UID FETCH 5 (" IMAP_SUMMARY_ITEMS ")\nA6 LOGOUT");
}

/* folders=: once a comma-separated list, repeated one folder per value. */
static bool folders_of(const char *const *kv, size_t npairs, size_t max, struct api_folders *f,
                       struct api_response *resp)
{
	struct api_request req = {.id = "test"};
	for (size_t i = 0; i < npairs; i++)
		req.query[req.nquery++] = (struct api_param){kv[2 * i], kv[2 * i + 1]};
	api_response_init(resp);
	return api_folders_param(&req, max, f, resp);
}

Test(api, folders_param_one_rule)
{
	struct api_folders f;
	struct api_response r;
	/* absent: nothing named, no answer */
	cr_assert(folders_of((const char *[]){"q", "x"}, 1, 8, &f, &r));
	cr_assert_eq(f.n, 0);
	api_response_free(&r);
	/* once: a list */
	cr_assert(folders_of((const char *[]){"folders", "INBOX,Lists/a b,Archive"}, 1, 8, &f, &r));
	cr_assert_eq(f.n, 3);
	cr_assert_str_eq(f.v[1], "Lists/a b");
	api_folders_free(&f);
	api_response_free(&r);
	/* repeated: each value one folder, commas kept, in order; "" names nothing */
	const char *rep[] = {"folders", "Lists, old", "page", "2", "folders", "INBOX", "folders", ""};
	cr_assert(folders_of(rep, 4, 8, &f, &r));
	cr_assert_eq(f.n, 2);
	cr_assert_str_eq(f.v[0], "Lists, old");
	cr_assert_str_eq(f.v[1], "INBOX");
	api_folders_free(&f);
	api_response_free(&r);
	/* one folder whose name holds a comma, alone */
	cr_assert(folders_of((const char *[]){"folders", "a,b", "folders", ""}, 2, 8, &f, &r));
	cr_assert_eq(f.n, 1);
	cr_assert_str_eq(f.v[0], "a,b");
	api_folders_free(&f);
	api_response_free(&r);
	/* refused, each a 400: empty, an empty item, twice, too many, CR/LF, bad UTF-8 */
	const char *bad[][4] = {
		{"folders", "", NULL, NULL},           {"folders", "a,,b", NULL, NULL},
		{"folders", ",", NULL, NULL},          {"folders", "a,a", NULL, NULL},
		{"folders", "a", "folders", "a"},      {"folders", "", "folders", ""},
		{"folders", "a,b,c", NULL, NULL},      {"folders", "a\r\nb", NULL, NULL},
		{"folders", "a\xff", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_not(folders_of(bad[i], bad[i][2] ? 2 : 1, 2, &f, &r), "case %zu", i);
		cr_assert_eq(r.status, 400, "case %zu", i);
		cr_assert_eq(f.n, 0);
		cr_assert_null(f.v);
		api_response_free(&r);
	}
}

/* ---- GET /search with MULTISEARCH (RFC 7377) ----
 * No test server offers it (Dovecot 2.3, Cyrus 3.6 and Courier 5.0 do not),
 * so the fake plays one that does; the same mail is played folder by folder
 * too, and the two answers must be the same. INBOX holds matches 5 and 6,
 * Archive 2, Empty none. */
#define LOGIN_MULTI FAKE_EXPECT("LOGIN alice secret"), \
	FAKE_SEND("$TAG OK [CAPABILITY IMAP4rev1 ESEARCH MULTISEARCH] Logged in\r\n")
#define EXAMINE_ARCHIVE                                                                \
	FAKE_EXPECT("EXAMINE Archive"),                                                    \
	FAKE_SEND("* 1 EXISTS\r\n* OK [UIDVALIDITY 3] UIDs valid\r\n* OK [UIDNEXT 10] next\r\n" \
	          "$TAG OK [READ-ONLY] Examine completed\r\n")
#define DATES_INBOX                                                                    \
	FAKE_EXPECT("UID FETCH 5:6 (UID INTERNALDATE)"),                                   \
	FAKE_SEND("* 1 FETCH (UID 5 INTERNALDATE \"02-Jun-2025 10:00:00 +0000\")\r\n"       \
	          "* 2 FETCH (UID 6 INTERNALDATE \"04-Jun-2025 10:00:00 +0000\")\r\n"       \
	          "$TAG OK Fetch completed\r\n")
#define DATES_ARCHIVE                                                                  \
	FAKE_EXPECT("UID FETCH 2 (UID INTERNALDATE)"),                                     \
	FAKE_SEND("* 1 FETCH (UID 2 INTERNALDATE \"03-Jun-2025 10:00:00 +0000\")\r\n"       \
	          "$TAG OK Fetch completed\r\n")
#define PAGE_INBOX                                                                     \
	FAKE_EXPECT_PREFIX("UID FETCH 5:6 (UID FLAGS INTERNALDATE RFC822.SIZE"),           \
	FAKE_SEND("* 1 FETCH (UID 5 FLAGS () INTERNALDATE \"02-Jun-2025 10:00:00 +0000\" "  \
	          "RFC822.SIZE 10)\r\n* 2 FETCH (UID 6 FLAGS (\\Seen) INTERNALDATE "        \
	          "\"04-Jun-2025 10:00:00 +0000\" RFC822.SIZE 20)\r\n$TAG OK Fetch completed\r\n")
#define PAGE_ARCHIVE                                                                   \
	FAKE_EXPECT_PREFIX("UID FETCH 2 (UID FLAGS INTERNALDATE RFC822.SIZE"),             \
	FAKE_SEND("* 1 FETCH (UID 2 FLAGS () INTERNALDATE \"03-Jun-2025 10:00:00 +0000\" "  \
	          "RFC822.SIZE 30)\r\n$TAG OK Fetch completed\r\n")
#define MULTI_CMD "ESEARCH IN (mailboxes (INBOX Archive Empty)) RETURN (ALL) SUBJECT \"report\""
#define PAGE_WANT "A6 EXAMINE INBOX\nA7 UID FETCH 5:6 (" IMAP_SUMMARY_ITEMS ")\n" \
	"A8 EXAMINE Archive\nA9 UID FETCH 2 (" IMAP_SUMMARY_ITEMS ")\nA10 LOGOUT"

/* GET /search?subject=report over the three folders; the body (malloc'd). */
static char *search_three(const struct fake_step *script, size_t n, const char *want)
{
	struct gateway g;
	gateway_start(&g, script, n);
	struct api_response r;
	run(&(struct call)CALL("GET", "/search",
	                       .query = "subject=report&folders=INBOX&folders=Archive&folders=Empty"),
	    &r);
	cr_assert_eq(r.status, 200, "%d: %s", r.status, body_text(&r));
	char *body = strdup(body_text(&r));
	api_response_free(&r);
	gateway_finish(&g, want);
	return body;
}

static char *search_folder_by_folder(void)
{
	static const struct fake_step script[] = {
		GREET, LOGIN,
		EXAMINE_INBOX,
		FAKE_EXPECT("UID SEARCH SUBJECT \"report\""),
		FAKE_SEND("* SEARCH 5 6\r\n$TAG OK done\r\n"),
		DATES_INBOX,
		EXAMINE_ARCHIVE,
		FAKE_EXPECT("UID SEARCH SUBJECT \"report\""),
		FAKE_SEND("* SEARCH 2\r\n$TAG OK done\r\n"),
		DATES_ARCHIVE,
		FAKE_EXPECT("EXAMINE Empty"),
		FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 4] UIDs valid\r\n$TAG OK [READ-ONLY] ok\r\n"),
		FAKE_EXPECT("UID SEARCH SUBJECT \"report\""),
		FAKE_SEND("* SEARCH\r\n$TAG OK done\r\n"),
		EXAMINE_INBOX, PAGE_INBOX, EXAMINE_ARCHIVE, PAGE_ARCHIVE,
		LOGOUT,
	};
	return search_three(script, FAKE_NSTEPS(script),
	                    "A1 LOGIN alice secret\nA2 EXAMINE INBOX\nA3 UID SEARCH SUBJECT \"report\"\n"
	                    "A4 UID FETCH 5:6 (UID INTERNALDATE)\nA5 EXAMINE Archive\n"
	                    "A6 UID SEARCH SUBJECT \"report\"\nA7 UID FETCH 2 (UID INTERNALDATE)\n"
	                    "A8 EXAMINE Empty\nA9 UID SEARCH SUBJECT \"report\"\nA10 EXAMINE INBOX\n"
	                    "A11 UID FETCH 5:6 (" IMAP_SUMMARY_ITEMS ")\nA12 EXAMINE Archive\n"
	                    "A13 UID FETCH 2 (" IMAP_SUMMARY_ITEMS ")\nA14 LOGOUT");
}

/* One ESEARCH for the three; Empty, answered with no matches (or, in the
 * second case, not answered), is never selected. */
Test(api, search_with_multisearch_asks_once_and_answers_the_same)
{
	static const struct fake_step script[] = {
		GREET, LOGIN_MULTI,
		FAKE_EXPECT(MULTI_CMD),
		FAKE_SEND("* ESEARCH (TAG \"$TAG\" MAILBOX Archive UIDVALIDITY 3) UID ALL 2\r\n"
		          "* ESEARCH (TAG \"$TAG\" MAILBOX Empty UIDVALIDITY 4) UID\r\n"
		          "* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 5:6\r\n"
		          "$TAG OK done\r\n"),
		EXAMINE_INBOX, DATES_INBOX, EXAMINE_ARCHIVE, DATES_ARCHIVE,
		EXAMINE_INBOX, PAGE_INBOX, EXAMINE_ARCHIVE, PAGE_ARCHIVE,
		LOGOUT,
	};
	char *multi = search_three(script, FAKE_NSTEPS(script),
	                           "A1 LOGIN alice secret\nA2 " MULTI_CMD "\nA3 EXAMINE INBOX\n"
	                           "A4 UID FETCH 5:6 (UID INTERNALDATE)\nA5 EXAMINE Archive\n"
	                           "A6 UID FETCH 2 (UID INTERNALDATE)\nA7 EXAMINE INBOX\n"
	                           "A8 UID FETCH 5:6 (" IMAP_SUMMARY_ITEMS ")\nA9 EXAMINE Archive\n"
	                           "A10 UID FETCH 2 (" IMAP_SUMMARY_ITEMS ")\nA11 LOGOUT");
	char *one_by_one = search_folder_by_folder();
	cr_assert_str_eq(multi, one_by_one);
	json_t *j = json_loads(multi, 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 3);
	cr_assert_eq(json_array_size(json_object_get(j, "folders")), 3, "%s", multi);
	json_t *m = json_object_get(j, "messages");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(m, 0), "uid")), 6);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(m, 1), "folder")), "Archive");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(m, 2), "uid")), 5);
	json_decref(j);
	free(multi);
	free(one_by_one);
}

/* Hostile or stale answers: INBOX's UIDVALIDITY is not the folder's (it is
 * searched again there), an answer for a folder not asked (Secret) is
 * never visited, and a UID the folder does not hold (Archive 9) is left
 * out. The answer is still the folder-by-folder one. */
Test(api, search_with_multisearch_trusts_only_what_it_can_check)
{
	static const struct fake_step script[] = {
		GREET, LOGIN_MULTI,
		FAKE_EXPECT(MULTI_CMD),
		FAKE_SEND("* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 99) UID ALL 1:4\r\n"
		          "* ESEARCH (TAG \"$TAG\" MAILBOX Secret UIDVALIDITY 1) UID ALL 1:50\r\n"
		          "* ESEARCH (TAG \"$TAG\" MAILBOX Archive UIDVALIDITY 3) UID ALL 2,9\r\n"
		          "$TAG OK done\r\n"),
		EXAMINE_INBOX,
		FAKE_EXPECT("UID SEARCH RETURN (ALL) SUBJECT \"report\""),
		FAKE_SEND("* ESEARCH (TAG \"$TAG\") UID ALL 5:6\r\n$TAG OK done\r\n"),
		DATES_INBOX,
		EXAMINE_ARCHIVE,
		FAKE_EXPECT("UID FETCH 2,9 (UID INTERNALDATE)"),
		FAKE_SEND("* 1 FETCH (UID 2 INTERNALDATE \"03-Jun-2025 10:00:00 +0000\")\r\n"
		          "$TAG OK Fetch completed\r\n"),
		EXAMINE_INBOX, PAGE_INBOX, EXAMINE_ARCHIVE, PAGE_ARCHIVE,
		LOGOUT,
	};
	char *multi = search_three(script, FAKE_NSTEPS(script),
	                           "A1 LOGIN alice secret\nA2 " MULTI_CMD "\nA3 EXAMINE INBOX\n"
	                           "A4 UID SEARCH RETURN (ALL) SUBJECT \"report\"\n"
	                           "A5 UID FETCH 5:6 (UID INTERNALDATE)\nA6 EXAMINE Archive\n"
	                           "A7 UID FETCH 2,9 (UID INTERNALDATE)\nA8 EXAMINE INBOX\n"
	                           "A9 UID FETCH 5:6 (" IMAP_SUMMARY_ITEMS ")\nA10 EXAMINE Archive\n"
	                           "A11 UID FETCH 2 (" IMAP_SUMMARY_ITEMS ")\nA12 LOGOUT");
	char *one_by_one = search_folder_by_folder();
	cr_assert_str_eq(multi, one_by_one);
	free(multi);
	free(one_by_one);
}

/* An ESEARCH the server refuses, or answers with more than can be held,
 * is not an error: the folders are searched one by one. */
Test(api, search_with_multisearch_refused_goes_folder_by_folder)
{
	static const char *const answers[] = {
		"$TAG BAD unknown command\r\n",
		"* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 1:4294967295\r\n"
		"$TAG OK done\r\n",
	};
	for (size_t i = 0; i < 2; i++) {
		const struct fake_step script[] = {
			GREET, LOGIN_MULTI,
			FAKE_EXPECT(MULTI_CMD),
			FAKE_SEND(answers[i]),
			EXAMINE_INBOX,
			FAKE_EXPECT("UID SEARCH RETURN (ALL) SUBJECT \"report\""),
			FAKE_SEND("* ESEARCH (TAG \"$TAG\") UID ALL 5:6\r\n$TAG OK done\r\n"),
			DATES_INBOX,
			EXAMINE_ARCHIVE,
			FAKE_EXPECT("UID SEARCH RETURN (ALL) SUBJECT \"report\""),
			FAKE_SEND("* ESEARCH (TAG \"$TAG\") UID ALL 2\r\n$TAG OK done\r\n"),
			DATES_ARCHIVE,
			FAKE_EXPECT("EXAMINE Empty"),
			FAKE_SEND("* 0 EXISTS\r\n* OK [UIDVALIDITY 4] ok\r\n$TAG OK [READ-ONLY] ok\r\n"),
			FAKE_EXPECT("UID SEARCH RETURN (ALL) SUBJECT \"report\""),
			FAKE_SEND("* ESEARCH (TAG \"$TAG\")\r\n$TAG OK done\r\n"),
			EXAMINE_INBOX, PAGE_INBOX, EXAMINE_ARCHIVE, PAGE_ARCHIVE,
			LOGOUT,
		};
		char *multi = search_three(
			script, FAKE_NSTEPS(script),
			"A1 LOGIN alice secret\nA2 " MULTI_CMD "\nA3 EXAMINE INBOX\n"
			"A4 UID SEARCH RETURN (ALL) SUBJECT \"report\"\nA5 UID FETCH 5:6 (UID INTERNALDATE)\n"
			"A6 EXAMINE Archive\nA7 UID SEARCH RETURN (ALL) SUBJECT \"report\"\n"
			"A8 UID FETCH 2 (UID INTERNALDATE)\nA9 EXAMINE Empty\n"
			"A10 UID SEARCH RETURN (ALL) SUBJECT \"report\"\nA11 EXAMINE INBOX\n"
			"A12 UID FETCH 5:6 (" IMAP_SUMMARY_ITEMS ")\nA13 EXAMINE Archive\n"
			"A14 UID FETCH 2 (" IMAP_SUMMARY_ITEMS ")\nA15 LOGOUT");
		char *one_by_one = search_folder_by_folder();
		cr_assert_str_eq(multi, one_by_one, "case %zu", i);
		free(multi);
		free(one_by_one);
	}
}

/* The ESEARCH outlasts --search-deadline-ms (1.2 s against 0.5 s; the
 * login is done before): no folder is visited after
 * it; the folders without matches were searched, the others are left out,
 * and the answer is partial, not a 504. */
Test(api, search_with_multisearch_past_its_deadline_is_partial)
{
	static const struct fake_step script[] = {
		GREET, LOGIN_MULTI,
		FAKE_EXPECT(MULTI_CMD),
		FAKE_DELAY(1200),
		FAKE_SEND("* ESEARCH (TAG \"$TAG\" MAILBOX INBOX UIDVALIDITY 7) UID ALL 5:6\r\n"
		          "$TAG OK done\r\n"),
		LOGOUT,
	};
	struct gateway g;
	GATEWAY_START(&g, script);
	gateway_warm(&g);  /* the login does not count against the deadline */
	struct api_config cfg = *api_config();
	cfg.search_deadline_ms = 500;
	api_init(&cfg);
	struct api_response r;
	run(&(struct call)CALL("GET", "/search",
	                       .query = "subject=report&folders=INBOX&folders=Archive&folders=Empty"),
	    &r);
	cr_expect_eq(r.status, 200, "%d: %s", r.status, body_text(&r));
	json_t *j = json_loads(body_text(&r), 0, NULL);
	cr_expect(json_is_true(json_object_get(j, "partial")), "%s", body_text(&r));
	json_t *f = json_object_get(j, "folders");
	cr_expect_eq(json_array_size(f), 2, "%s", body_text(&r));
	cr_expect_str_eq(json_string_value(json_array_get(f, 0)), "Archive");
	cr_expect_str_eq(json_string_value(json_array_get(f, 1)), "Empty");
	cr_expect_eq(json_integer_value(json_object_get(j, "total")), 0);
	json_decref(j);
	api_response_free(&r);
	gateway_finish(&g, "A1 LOGIN alice secret\nA2 " MULTI_CMD "\nA3 LOGOUT");
}
