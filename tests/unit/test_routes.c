/*
 * The route table (api/routes.c) against the contract it serves: every
 * route is documented with its method, every documented operation has a
 * route (HEAD where GET is), and the table's answers to "which route",
 * "which methods" and "which metrics name" for the paths clients send.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/openapi.h"

TestSuite(routes);

static json_t *contract_paths(json_t **doc)
{
	json_error_t e;
	*doc = json_loadb(api_openapi_json, api_openapi_json_len, 0, &e);
	cr_assert_not_null(*doc, "the embedded contract is not JSON: %s", e.text);
	json_t *paths = json_object_get(*doc, "paths");
	cr_assert(json_is_object(paths));
	return paths;
}

static bool lower_eq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

Test(routes, every_route_is_documented)
{
	json_t *doc, *paths = contract_paths(&doc);
	size_t n;
	const struct api_route *r = api_routes(&n);
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		char method[16];
		size_t k;
		for (k = 0; r[i].method[k] && k < sizeof method - 1; k++)
			method[k] = (char)(r[i].method[k] | 0x20);
		method[k] = '\0';
		json_t *item = json_object_get(paths, r[i].path);
		cr_expect_not_null(item, "%s is not in openapi.yaml", r[i].path);
		cr_expect_not_null(json_object_get(item, method), "%s %s is not in openapi.yaml",
		                   r[i].method, r[i].path);
		if (strcmp(r[i].method, "GET") == 0)
			cr_expect_not_null(json_object_get(item, "head"), "HEAD %s is not in openapi.yaml",
			                   r[i].path);
	}
	json_decref(doc);
}

Test(routes, every_documented_operation_has_a_route)
{
	json_t *doc, *paths = contract_paths(&doc);
	size_t n;
	const struct api_route *r = api_routes(&n);
	const char *tpl;
	json_t *item;
	json_object_foreach(paths, tpl, item) {
		const char *method;
		json_t *op;
		json_object_foreach(item, method, op) {
			static const char *const verbs[] = {"get", "head", "post", "put", "patch",
			                                    "delete", "options", "trace"};
			bool verb = false;
			for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
				verb |= strcmp(method, verbs[v]) == 0;
			if (!verb)
				continue;  /* "parameters", "summary" … */
			const char *want = strcmp(method, "head") == 0 ? "get" : method;
			bool found = false;
			for (size_t i = 0; i < n && !found; i++)
				found = strcmp(r[i].path, tpl) == 0 && lower_eq(r[i].method, want);
			cr_expect(found, "%s %s is documented but no route serves it", method, tpl);
		}
	}
	json_decref(doc);
}

Test(routes, one_name_per_template)
{
	size_t n;
	const struct api_route *r = api_routes(&n);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++) {
			bool same_path = strcmp(r[i].path, r[k].path) == 0;
			bool same_name = strcmp(r[i].name, r[k].name) == 0;
			cr_expect_eq(same_path, same_name, "%s (%s) and %s (%s)", r[i].path, r[i].name,
			             r[k].path, r[k].name);
			if (i != k)
				cr_expect(!same_path || strcmp(r[i].method, r[k].method) != 0,
				          "%s %s twice", r[i].method, r[i].path);
		}
}

static const char *template_for(const char *method, const char *path)
{
	const struct api_route *r = api_route_for(method, path);
	return r ? r->path : NULL;
}

Test(routes, literal_segments_win_over_values)
{
	cr_expect_str_eq(template_for("PATCH", "/messages/flags"), "/messages/flags");
	cr_expect_null(template_for("GET", "/messages/flags"), "GET of the bulk route is a 405");
	cr_expect_str_eq(template_for("POST", "/messages/move"), "/messages/move");
	cr_expect_str_eq(template_for("DELETE", "/messages/7"), "/messages/{uid}");
	cr_expect_str_eq(template_for("HEAD", "/messages/7/raw"), "/messages/{uid}/raw");
	cr_expect_str_eq(template_for("GET", "/messages/7/attachments/1.2"),
	                 "/messages/{uid}/attachments/{part}");
	cr_expect_str_eq(template_for("PATCH", "/folders/Archive/2024"), "/folders/{path}");
	cr_expect_str_eq(template_for("GET", "/folders/flags"), "/folders/{path}");
	/* the folder named "changes" is reached through the literal route */
	cr_expect_str_eq(template_for("GET", "/folders/changes"), "/folders/changes");
	cr_expect_str_eq(template_for("PATCH", "/folders/changes"), "/folders/changes");
	cr_expect_str_eq(template_for("DELETE", "/folders/changes"), "/folders/changes");
	cr_expect_str_eq(template_for("GET", "/folders/changes/2024"), "/folders/{path}");
	cr_expect_str_eq(template_for("POST", "/messages"), "/messages");
	cr_expect(api_route_for("POST", "/messages")->flags & API_ROUTE_MESSAGE);
	cr_expect_not(api_route_for("POST", "/folders")->flags & API_ROUTE_MESSAGE);
}

Test(routes, what_no_route_takes)
{
	static const char *const none[] = {
		"/folders/", "/folders/a/", "/docs/", "/docs/x.js", "/messages/", "/messages//raw", "/messages/7/nope",
		"/messages/7/raw/x", "/healthz/", "/openapi.json/x", "//folders", "folders",
		"/messages/abc",      /* a bad UID: the table takes no route; api_handle says 400 */
		"/messages/0/raw", "/messages/4294967296", "/messages/007",
	};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
		cr_expect_null(api_route_for("GET", none[i]), "%s", none[i]);
	cr_expect_null(api_route_for("get", "/healthz"), "methods are case-sensitive");
	cr_expect_null(api_route_for("OPTIONS", "/folders"));
}

Test(routes, allow_lists)
{
	static const struct {
		const char *path, *allow;
	} cases[] = {
		{"/folders", "GET, HEAD, POST, OPTIONS"},
		{"/folders/Archive/2024", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"/folders/changes", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"/messages", "GET, HEAD, POST, OPTIONS"},
		{"/messages/7", "GET, HEAD, DELETE, OPTIONS"},
		{"/messages/7/flags", "GET, HEAD, PUT, PATCH, OPTIONS"},
		{"/messages/flags", "PATCH, OPTIONS"},
		{"/messages/move", "POST, OPTIONS"},
		{"/messages/7/copy", "POST, OPTIONS"},
		{"/messages/7/raw", "GET, HEAD, OPTIONS"},
		{"/healthz", "GET, HEAD, OPTIONS"},
		{"/metrics", "GET, HEAD, OPTIONS"},
		{"/", "GET, HEAD, OPTIONS"},
		{"/docs", "GET, HEAD, OPTIONS"},
		{"/nope", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char allow[128];
		api_route_allow(cases[i].path, allow, sizeof allow);
		cr_expect_str_eq(allow, cases[i].allow, "%s", cases[i].path);
	}
}

Test(routes, metrics_names)
{
	static const struct {
		const char *path, *name;
	} cases[] = {
		{"/folders", "folders"},           {"/folders/a/b", "folder"},
		{"/folders/changes", "folder_changes"},
		{"/messages", "messages"},         {"/messages/7", "message"},
		{"/messages/abc", "message"},      {"/messages/7/raw", "message_raw"},
		{"/messages/7/attachments", "attachments"},
		{"/messages/7/attachments/2", "attachment"},
		{"/messages/flags", "messages_flags"},
		{"/messages/7/flags", "message_flags"},
		{"/metrics", "metrics"},           {"/openapi.json", "openapi"},
		{"/nope", "other"},                {"/messages/7/nope", "other"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_str_eq(api_route_name(cases[i].path), cases[i].name, "%s", cases[i].path);
}

Test(routes, answers_without_imap)
{
	struct api_request req = {.id = "t", .path = "/messages/7/raw", .method = "POST"};
	struct api_response resp;
	char v[64] = "";
	api_response_init(&resp);
	api_handle(&req, &resp);
	cr_expect_eq(resp.status, 405);
	cr_expect_str_eq(resp.content_type, "application/problem+json");
	for (size_t i = 0; i < resp.nheaders; i++)
		if (strcmp(resp.headers[i].name, "Allow") == 0)
			snprintf(v, sizeof v, "%s", resp.headers[i].value);
	cr_expect_str_eq(v, "GET, HEAD, OPTIONS");
	cr_expect(strstr(resp.body.data, "\"status\":405") != NULL, "%s", resp.body.data);
	api_response_free(&resp);

	static const struct {
		const char *method, *path;
		int status;
	} cases[] = {
		{"GET", "/nope", 404},
		{"GET", "/messages/abc", 400},
		{"DELETE", "/messages/0", 400},
		{"PUT", "/messages/01/flags", 400},
		{"GET", "/messages/7/nope", 404},
		{"DELETE", "/folders/", 404},
		{"GET", "/healthz", 200},
		{"HEAD", "/openapi.json", 200},
		{"POST", "/healthz", 405},
		{"OPTIONS", "/nope", 404},
		{"OPTIONS", "/messages/abc", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		req.method = cases[i].method;
		req.path = cases[i].path;
		api_response_init(&resp);
		api_handle(&req, &resp);
		cr_expect_eq(resp.status, cases[i].status, "%s %s: %d %s", cases[i].method,
		             cases[i].path, resp.status, resp.body.data);
		api_response_free(&resp);
	}
}

/* OPTIONS is answered on the path of every route of the table, from the
 * table alone: 204, no body, Allow with the path's methods and OPTIONS. */
Test(routes, options_on_every_route)
{
	size_t n;
	const struct api_route *r = api_routes(&n);
	for (size_t i = 0; i < n; i++) {
		char path[256];
		size_t k = 0;
		for (const char *t = r[i].path; *t && k + 16 < sizeof path;) {
			const char *close = *t == '{' ? strchr(t, '}') : NULL;
			if (close) {  /* a value each template takes */
				const char *v = strncmp(t, "{uid}", 5) == 0    ? "7"
				                : strncmp(t, "{part}", 6) == 0 ? "1.2"
				                : strncmp(t, "{id}", 4) == 0   ? "t0a1b2c3"
				                                               : "Archive/2024";
				k += (size_t)snprintf(path + k, sizeof path - k, "%s", v);
				t = close + 1;
			} else {
				path[k++] = *t++;
			}
		}
		path[k] = '\0';
		struct api_request req = {.id = "t", .path = path, .method = "OPTIONS"};
		struct api_response resp;
		api_response_init(&resp);
		api_handle(&req, &resp);
		cr_expect_eq(resp.status, 204, "OPTIONS %s: %d", path, resp.status);
		cr_expect_eq(resp.body.len, 0, "OPTIONS %s has a body", path);
		const char *allow = NULL;
		for (size_t h = 0; h < resp.nheaders; h++)
			if (strcmp(resp.headers[h].name, "Allow") == 0)
				allow = resp.headers[h].value;
		cr_expect(allow && strstr(allow, r[i].method), "OPTIONS %s: Allow %s lacks %s", path,
		          allow ? allow : "(none)", r[i].method);
		size_t al = allow ? strlen(allow) : 0;
		cr_expect(al >= 7 && strcmp(allow + al - 7, "OPTIONS") == 0, "OPTIONS %s: Allow %s",
		          path, allow ? allow : "(none)");
		api_response_free(&resp);
	}
}
