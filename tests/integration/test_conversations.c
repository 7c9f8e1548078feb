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
