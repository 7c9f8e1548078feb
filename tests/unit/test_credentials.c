/*
 * tests/unit/test_credentials.c — api_credentials (api/session.c): what an
 * Authorization header (and X-Imap-User) must look like before a password
 * or token is ever tried against the IMAP server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

struct outcome {
	int rc;
	int status;                /* resp.status when rc != 0 */
	char user[128], secret[128];
	enum imap_cred_kind kind;
};

static struct outcome run(const char *authorization, const char *imap_user)
{
	struct api_request req = {.authorization = authorization, .imap_user = imap_user};
	struct api_response resp;
	struct imap_credentials cred;
	struct imap_buf store;
	struct outcome o = {0};

	api_response_init(&resp);
	o.rc = api_credentials(&req, &cred, &store, &resp);
	if (o.rc == 0) {
		snprintf(o.user, sizeof o.user, "%s", cred.user);
		snprintf(o.secret, sizeof o.secret, "%s", cred.secret);
		o.kind = cred.kind;
	} else {
		o.status = resp.status;
	}
	imap_buf_free(&store);
	api_response_free(&resp);
	return o;
}

static void expect_basic(const char *header, const char *user, const char *password)
{
	struct outcome o = run(header, NULL);
	cr_expect_eq(o.rc, 0, "%s: refused (%d)", header, o.status);
	cr_expect_eq(o.kind, IMAP_CRED_PASSWORD, "%s", header);
	cr_expect_str_eq(o.user, user, "%s", header);
	cr_expect_str_eq(o.secret, password, "%s", header);
}

static void expect_refused(const char *header, const char *imap_user, int status)
{
	struct outcome o = run(header, imap_user);
	cr_expect_neq(o.rc, 0, "%s: accepted as %s / %s", header, o.user, o.secret);
	cr_expect_eq(o.status, status, "%s: status %d, not %d", header, o.status, status);
}

Test(credentials, basic_accepted)
{
	expect_basic("Basic YWxpY2U6YWxpY2UtcHc=", "alice", "alice-pw");
	expect_basic("basic YWxpY2U6YWxpY2UtcHc=", "alice", "alice-pw");        /* scheme in any case */
	expect_basic("Basic   YWxpY2U6YWxpY2UtcHc=  ", "alice", "alice-pw");    /* spaces around */
	expect_basic("Basic YWxpY2U6", "alice", "");                            /* "alice:" */
	expect_basic("Basic YWxpY2U6Yjpj", "alice", "b:c");                     /* colon in password */
	expect_basic("Basic w6lsaWU6cMOkc3M=", "\xc3\xa9lie", "p\xc3\xa4ss");   /* UTF-8 */
	expect_basic("Basic YWxpY2U6cHcJeA==", "alice", "pw\tx");               /* control in password */
}

Test(credentials, basic_padding_is_strict)
{
	/* Each of these once decoded to a (shorter) password. */
	expect_refused("Basic YWxpY2U6YWxpY2UtcHc=====", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2UtcHc==", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2UtcHc", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxp=2UtcHc=", NULL, 401);   /* "=" in the middle */
	expect_refused("Basic YWxpY2U6=WxpY2UtcHc=", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2UtcHd=", NULL, 401);   /* unused bits set */
}

Test(credentials, basic_illegal_bytes)
{
	expect_refused("Basic YWxpY2U6YWxp Y2UtcHc=", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxp\tY2UtcHc=", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2UtcHc=\r\n", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2Ut-Hc=", NULL, 401);   /* base64url letter */
	expect_refused("Basic YWxpY2U6YWxpY2Ut_Hc=", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxpY2UtcHc=.", NULL, 401);
	expect_refused("Basic YWxpY2U6YWxp*2UtcHc=", NULL, 401);
	expect_refused("Basic ", NULL, 401);
	expect_refused("Basic", NULL, 401);
}

Test(credentials, basic_content_rules)
{
	expect_refused("Basic YWxpY2U=", NULL, 401);          /* "alice": no colon */
	expect_refused("Basic OnB3", NULL, 401);              /* ":pw": no user */
	expect_refused("Basic YWxpY2U6cAB3", NULL, 401);      /* NUL in the password */
	expect_refused("Basic YWxpY2U6/w==", NULL, 401);      /* "alice:\xff": not UTF-8 */
	/* Control bytes in the user name: a 400. */
	expect_refused("Basic YWwJaWNlOnB3", NULL, 400);      /* "al\tice:pw" */
	expect_refused("Basic YWxpY2UNCjpwdw==", NULL, 400);  /* "alice\r\n:pw" */
	expect_refused("Basic AWFsaWNlOnB3", NULL, 400);      /* "\x01alice:pw" */
	expect_refused("Basic YWxpY2UfOnB3", NULL, 400);      /* "alice\x1f:pw" */
	expect_refused("Basic YWxpY2V/OnB3", NULL, 400);      /* "alice\x7f:pw" */
	expect_basic("Basic YWxpY2Ugd29uZGVyOnB3", "alice wonder", "pw"); /* space is fine */
}

Test(credentials, basic_length_limit)
{
	/* 4096 base64 characters are accepted, 4100 are not. */
	static char h[8 + 4200];
	strcpy(h, "Basic ");
	size_t at = strlen(h);
	memcpy(h + at, "YWxpY2U6", 8);  /* "alice:" */
	for (size_t i = 8; i < 4096; i++)
		h[at + i] = 'Q';
	h[at + 4096] = '\0';
	struct outcome o = run(h, NULL);
	cr_expect_eq(o.rc, 0, "4096 characters: %d", o.status);
	for (size_t i = 4096; i < 4100; i++)
		h[at + i] = 'Q';
	h[at + 4100] = '\0';
	expect_refused(h, NULL, 401);
}

Test(credentials, bearer)
{
	struct outcome o = run("Bearer tok.en", "alice");
	cr_expect_eq(o.rc, 0);
	cr_expect_eq(o.kind, IMAP_CRED_TOKEN);
	cr_expect_str_eq(o.user, "alice");
	cr_expect_str_eq(o.secret, "tok.en");
	expect_refused("Bearer tok.en", NULL, 400);
	expect_refused("Bearer tok.en", "", 400);
	expect_refused("Bearer tok.en", "al\x01ice", 400);
	expect_refused("Bearer tok.en", "alice\x7f", 400);
	expect_refused("Bearer tok.en", "alice\r\nx", 400);
	expect_refused("Bearer ", "alice", 401);
}

Test(credentials, missing_or_other_scheme)
{
	expect_refused(NULL, NULL, 401);
	expect_refused("Digest username=\"alice\"", NULL, 401);
}
