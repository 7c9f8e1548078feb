/*
 * The contract, served and exercised. GET /openapi.json must answer the
 * embedded document; the other tests here reach answers the rest of the
 * suite does not (HEAD, 405, 409, 414, the Bearer and scheme errors, every
 * filter) so that tests/openapi-check.py, which checks every response
 * recorded by gw_request against openapi/openapi.yaml after the run, sees
 * them too. That checker also compares the served document with the YAML.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(openapi, .init = setup, .timeout = 120);

#define ALICE "alice", "alice-secret"

static long req(const struct gw *g, const char *method, const char *path,
                const char *extra_header, struct gw_reply *r)
{
	gw_request(g, method, path, ALICE, extra_header, r);
	return r->status;
}

Test(openapi, served_document)
{
	struct gw g;
	struct gw_reply r;
	char v[256];
	gw_start(&g, NULL);
	cr_assert_eq(req(&g, "GET", "/openapi.json", NULL, &r), 200, "%s", r.body.data);
	cr_assert_eq(gw_header(&r, "Content-Type", v, sizeof v), 0);
	cr_assert_str_eq(v, "application/json");
	json_error_t e;
	json_t *doc = json_loadb(r.body.data, r.body.len, JSON_REJECT_DUPLICATES, &e);
	cr_assert_not_null(doc, "not JSON: %s", e.text);
	cr_assert(strncmp(json_string_value(json_object_get(doc, "openapi")), "3.1.", 4) == 0);
	static const char *const routes[] = {"/healthz", "/folders", "/folders/{path}", "/messages",
	                                     "/openapi.json"};
	json_t *paths = json_object_get(doc, "paths");
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		cr_expect_not_null(json_object_get(paths, routes[i]), "%s is not documented", routes[i]);
	json_decref(doc);
	size_t len = r.body.len;
	gw_reply_free(&r);

	/* HEAD: the same headers, no body */
	cr_assert_eq(req(&g, "HEAD", "/openapi.json", NULL, &r), 200);
	cr_assert_eq(r.body.len, 0);
	cr_assert_eq(gw_header(&r, "Content-Length", v, sizeof v), 0);
	cr_assert_eq(strtoul(v, NULL, 10), len);
	gw_reply_free(&r);
	gw_stop(&g);
}

Test(openapi, head_and_wrong_methods)
{
	static const char *const heads[] = {"/healthz", "/readyz", "/metrics", "/folders",
	                                    "/folders/INBOX", "/messages?per_page=3"};
	struct gw g;
	struct gw_reply r;
	char v[256];
	gw_start(&g, NULL);
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		cr_expect_eq(req(&g, "HEAD", heads[i], NULL, &r), 200, "HEAD %s", heads[i]);
		cr_expect_eq(r.body.len, 0, "HEAD %s has a body", heads[i]);
		gw_reply_free(&r);
	}
	static const struct { const char *method, *path; } wrong[] = {
		{"DELETE", "/healthz"}, {"PUT", "/openapi.json"}, {"POST", "/readyz"},
		{"PATCH", "/messages"}, {"PUT", "/folders/INBOX"},
	};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		cr_expect_eq(req(&g, wrong[i].method, wrong[i].path, NULL, &r), 405, "%s %s",
		             wrong[i].method, wrong[i].path);
		cr_expect_eq(gw_header(&r, "Allow", v, sizeof v), 0);
		gw_reply_free(&r);
	}
	gw_stop(&g);
}

Test(openapi, listings_and_filters)
{
	static const char *const paths[] = {
		"/folders?tree=1&counts=1",
		"/folders?tree=false&counts=0",
		"/folders/Archive/2024/Q1",
		"/folders/Sent?counts=true",
		"/messages?per_page=4&page=2",
		"/messages?folder=Archive/2024&sort=date&order=asc&per_page=3",
		"/messages?unseen=true&flagged=false&per_page=5",
		"/messages?flagged=1",
		"/messages?from=example&to=example&subject=a&since=2000-01-01&before=2099-12-31",
		"/messages?text=unsubscribe&larger=0&smaller=4294967295",
		"/messages?sort=size&order=desc&per_page=500",
		"/messages?folder=Donn%C3%A9es",
	};
	struct gw g;
	struct gw_reply r;
	gw_start(&g, NULL);
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		cr_expect_eq(req(&g, "GET", paths[i], NULL, &r), 200, "%s: %s", paths[i], r.body.data);
		gw_reply_free(&r);
	}
	gw_stop(&g);
}

Test(openapi, error_answers)
{
	struct gw g;
	struct gw_reply r;
	char v[256];
	gw_start(&g, "--uri-max", "256", NULL);

	/* a cursor issued under another UIDVALIDITY (1): base64url of
	 * "v1.1.arrival.desc.5.4", the format api/messages.c documents */
	cr_expect_eq(req(&g, "GET", "/messages?cursor=djEuMS5hcnJpdmFsLmRlc2MuNS40", NULL, &r), 409,
	             "%s", r.body.data);
	gw_reply_free(&r);

	/* Bearer needs X-Imap-User; unknown schemes are refused */
	gw_request(&g, "GET", "/folders", NULL, NULL, "Authorization: Bearer abc", &r);
	cr_expect_eq(r.status, 400, "%s", r.body.data);
	gw_reply_free(&r);
	gw_request(&g, "GET", "/messages", NULL, NULL, "Authorization: Digest abc", &r);
	cr_expect_eq(r.status, 401, "%s", r.body.data);
	cr_expect_eq(gw_header(&r, "WWW-Authenticate", v, sizeof v), 0);
	gw_reply_free(&r);

	/* a path longer than --uri-max */
	char path[400] = "/folders/";
	memset(path + 9, 'x', 300);
	path[309] = '\0';
	cr_expect_eq(req(&g, "GET", path, NULL, &r), 414, "%s", r.body.data);
	gw_reply_free(&r);

	/* more than 32 query parameters */
	char many[512] = "/healthz?";
	for (int i = 0; i < 40; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "%sp%d=1", i ? "&" : "", i);
	cr_expect_eq(req(&g, "GET", many, NULL, &r), 400, "%s", r.body.data);
	gw_reply_free(&r);
	gw_stop(&g);
}
