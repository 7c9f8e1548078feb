/*
 * tests/unit/test_authres.c — DKIM-Signature tag lists, Authentication-
 * Results and the trust facts of a header (imap/mail/authres.h): real
 * shapes, and hostile ones (repeated tags, unclosed comments and quotes,
 * overlong values, forged results from untrusted servers).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/mail/authres.h"
#include "imap/mail/mime.h"

#define L(s) (s), (sizeof(s) - 1)

#define SIG_BASE "v=1; a=rsa-sha256; c=relaxed/relaxed; d=News.Example.com; s=s1; " \
                 "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVzdA=="

TestSuite(authres);

Test(authres, dkim_signature_covering_both)
{
	struct imap_dkim_sig s;
	cr_assert_eq(imap_dkim_signature_parse(
	                 L(SIG_BASE "; h=From : To:Subject:\r\n\tList-Unsubscribe :"
	                            " LIST-UNSUBSCRIBE-POST:Date"),
	                 &s),
	             0);
	cr_assert_str_eq(s.domain, "news.example.com");
	cr_assert(s.covers_unsubscribe);
	cr_assert(s.covers_unsubscribe_post);
}

Test(authres, dkim_signature_partial_coverage)
{
	struct imap_dkim_sig s;
	cr_assert_eq(imap_dkim_signature_parse(L(SIG_BASE "; h=from:list-unsubscribe"), &s), 0);
	cr_assert(s.covers_unsubscribe);
	cr_assert_not(s.covers_unsubscribe_post);
	cr_assert_eq(imap_dkim_signature_parse(L(SIG_BASE "; h=from:subject;"), &s), 0);
	cr_assert_not(s.covers_unsubscribe);
	/* a name that only starts like it does not count */
	cr_assert_eq(imap_dkim_signature_parse(
	                 L(SIG_BASE "; h=from:list-unsubscribe-posts:x-list-unsubscribe"), &s), 0);
	cr_assert_not(s.covers_unsubscribe);
	cr_assert_not(s.covers_unsubscribe_post);
}

Test(authres, dkim_signature_refused_shapes)
{
	static const char *const bad[] = {
		/* From not signed */
		SIG_BASE "; h=list-unsubscribe:list-unsubscribe-post",
		/* a tag twice */
		SIG_BASE "; h=from; d=evil.example",
		SIG_BASE "; h=from; h=from:list-unsubscribe:list-unsubscribe-post",
		SIG_BASE "; h=from; t=1; t=2",
		/* required tags missing */
		"v=1; a=rsa-sha256; d=example.com; s=s; bh=x; h=from",
		"a=rsa-sha256; d=example.com; s=s; bh=x; b=y; h=from",
		/* wrong version, bad domain, empty names, upper-case tag name */
		"v=2; a=rsa-sha256; d=example.com; s=s; bh=x; b=y; h=from",
		"v=1; a=rsa-sha256; d=exa mple.com; s=s; bh=x; b=y; h=from",
		"v=1; a=rsa-sha256; d=example..com; s=s; bh=x; b=y; h=from",
		"v=1; a=rsa-sha256; d=; s=s; bh=x; b=y; h=from",
		"v=1; a=rsa-sha256; d=example.com; s=s; bh=x; b=y; h=from::subject",
		"v=1; a=rsa-sha256; D=example.com; s=s; bh=x; b=y; h=from",
		/* not a tag list */
		"v=1; a=rsa-sha256; =example.com; s=s; bh=x; b=y; h=from",
		"v=1; a=rsa-sha256 d example.com",
		"v=1; a=rsa-sha256; d=example.com; s=s; bh=x; b=\x01; h=from",
		"",
		";;;;",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct imap_dkim_sig s;
		memset(&s, 0xa5, sizeof s);
		cr_expect_eq(imap_dkim_signature_parse(bad[i], strlen(bad[i]), &s), IMAP_ERR_INVALID,
		             "accepted: %s", bad[i]);
		cr_expect_eq(s.domain[0], '\0');
		cr_expect_not(s.covers_unsubscribe);
	}
}

Test(authres, dkim_signature_overlong_and_binary)
{
	size_t n = IMAP_AUTH_FIELD_MAX + 100;
	char *v = malloc(n);
	memset(v, 'a', n);
	memcpy(v, SIG_BASE "; h=from:", sizeof SIG_BASE "; h=from:" - 1);
	struct imap_dkim_sig s;
	cr_assert_eq(imap_dkim_signature_parse(v, n, &s), IMAP_ERR_INVALID);
	/* NUL inside, and reading stops at the length */
	char with_nul[] = SIG_BASE "; h=from:list-unsubscribe\0:list-unsubscribe-post";
	cr_assert_eq(imap_dkim_signature_parse(with_nul, sizeof with_nul - 1, &s), IMAP_ERR_INVALID);
	cr_assert_eq(imap_dkim_signature_parse(with_nul, strlen(with_nul), &s), 0);
	cr_assert_not(s.covers_unsubscribe_post);
	/* a domain past 253 bytes */
	char d[600];
	memcpy(d, "v=1; a=x; s=s; bh=x; b=y; h=from; d=", 36);
	memset(d + 36, 'x', 300);
	cr_assert_eq(imap_dkim_signature_parse(d, 336, &s), IMAP_ERR_INVALID);
	free(v);
}

Test(authres, results_real_shapes)
{
	struct imap_authres a;
	cr_assert_eq(imap_authres_parse(
	                 L("mx.google.com;\r\n       dkim=pass header.i=@news.example.com "
	                   "header.s=s1 header.b=abc;\r\n       spf=pass (google.com: domain of "
	                   "bounce@example.com designates 1.2.3.4 as permitted sender) "
	                   "smtp.mailfrom=bounce@example.com;\r\n       dmarc=pass (p=NONE "
	                   "sp=NONE dis=NONE) header.from=example.com"),
	                 &a),
	             0);
	cr_assert_str_eq(a.authserv_id, "mx.google.com");
	cr_assert_eq(a.n_pass, 1);
	cr_assert_str_eq(a.dkim_pass[0], "news.example.com");

	cr_assert_eq(imap_authres_parse(
	                 L("mx.example.net 1; dkim=pass (2048-bit key; unprotected) "
	                   "header.d=Example.COM header.i=@sub.example.com; dkim/1 = fail "
	                   "reason=\"bad sig; really\" header.d=other.example; arc=none"),
	                 &a),
	             0);
	cr_assert_str_eq(a.authserv_id, "mx.example.net");
	cr_assert_eq(a.n_pass, 1);
	cr_assert_str_eq(a.dkim_pass[0], "example.com");  /* header.d wins over header.i */
	cr_assert_eq(a.n_other, 1);
	cr_assert_str_eq(a.dkim_other[0], "other.example");

	cr_assert_eq(imap_authres_parse(L("example.org; none"), &a), 0);
	cr_assert_eq(a.n_pass + a.n_other, 0);
	cr_assert_eq(imap_authres_parse(L("(comment) \"quoted.id\" ; dkim=pass header.d=q.example"),
	                                &a), 0);
	cr_assert_str_eq(a.authserv_id, "quoted.id");
	cr_assert_eq(a.n_pass, 1);
}

Test(authres, results_hostile_shapes)
{
	struct imap_authres a;
	/* an unclosed comment swallows the rest: no result */
	cr_assert_eq(imap_authres_parse(L("mx.example; (dkim=pass header.d=a.example"), &a), 0);
	cr_assert_eq(a.n_pass, 0);
	/* a ";" inside a comment or a quoted reason does not start a result */
	cr_assert_eq(imap_authres_parse(
	                 L("mx.example; spf=fail (x; dkim=pass header.d=evil.example) "
	                   "smtp.mailfrom=a@b; dmarc=fail reason=\"; dkim=pass header.d=evil2.example\""),
	                 &a),
	             0);
	cr_assert_eq(a.n_pass, 0);
	/* a malformed resinfo is skipped, the next one still read */
	cr_assert_eq(imap_authres_parse(L("mx.example; dkim pass header.d=x.example; "
	                                  "dkim=pass header.d=y.example"), &a), 0);
	cr_assert_eq(a.n_pass, 1);
	cr_assert_str_eq(a.dkim_pass[0], "y.example");
	/* no authserv-id, control bytes, overlong */
	cr_assert_eq(imap_authres_parse(L("; dkim=pass header.d=x.example"), &a), IMAP_ERR_INVALID);
	cr_assert_eq(imap_authres_parse(L(""), &a), IMAP_ERR_INVALID);
	cr_assert_eq(imap_authres_parse(L("(only a comment"), &a), IMAP_ERR_INVALID);
	cr_assert_eq(imap_authres_parse(L("\"unclosed ; dkim=pass header.d=x.example"), &a),
	             IMAP_ERR_INVALID);
	char big[IMAP_AUTH_FIELD_MAX + 2];
	memset(big, 'a', sizeof big);
	cr_assert_eq(imap_authres_parse(big, sizeof big, &a), IMAP_ERR_INVALID);
	/* many results: bounded */
	char many[8192] = "mx.example";
	for (int i = 0; i < 40; i++)
		strcat(many, "; dkim=pass header.d=d.example");
	cr_assert_eq(imap_authres_parse(many, strlen(many), &a), 0);
	cr_assert_eq(a.n_pass, IMAP_AUTHRES_PASS_MAX);
	/* deep nesting of comments */
	char deep[4096] = "mx.example; dkim=pass ";
	for (int i = 0; i < 1000; i++)
		strcat(deep, "(");
	cr_assert_eq(imap_authres_parse(deep, strlen(deep), &a), 0);
	cr_assert_eq(a.n_pass, 0);
	/* a header.d that is no domain */
	cr_assert_eq(imap_authres_parse(L("mx.example; dkim=pass header.d=\"a b\""), &a), 0);
	cr_assert_eq(a.n_pass, 0);
}

Test(authres, alignment)
{
	cr_assert(imap_dkim_aligned("example.com", "example.com"));
	cr_assert(imap_dkim_aligned("News.Example.com", "example.COM"));
	cr_assert_not(imap_dkim_aligned("example.com", "news.example.com"));
	cr_assert_not(imap_dkim_aligned("badexample.com", "example.com"));
	cr_assert_not(imap_dkim_aligned("example.com", "com"));
	cr_assert_not(imap_dkim_aligned(NULL, "example.com"));
	cr_assert_not(imap_dkim_aligned("", "example.com"));
}

/* The Public Suffix List decides what a d= may speak for: an ICANN suffix
 * (co.uk), a private one (github.io: its operator is not the owner of the
 * names under it), wildcard and exception rules, and labels the list does
 * not know (its implicit "*" rule: any TLD is a suffix). */
Test(authres, public_suffixes_never_align)
{
	/* ICANN section */
	cr_assert(imap_dkim_public_suffix("co.uk"));
	cr_assert(imap_dkim_public_suffix("CO.UK"));
	cr_assert(imap_dkim_public_suffix("uk"));
	cr_assert(imap_dkim_public_suffix("com"));
	cr_assert_not(imap_dkim_aligned("shop.co.uk", "co.uk"));
	cr_assert_not(imap_dkim_aligned("co.uk", "co.uk"));
	cr_assert(imap_dkim_aligned("news.shop.co.uk", "shop.co.uk"));
	cr_assert(imap_dkim_aligned("shop.co.uk", "Shop.Co.UK"));
	/* private section */
	cr_assert(imap_dkim_public_suffix("github.io"));
	cr_assert_not(imap_dkim_aligned("victim.github.io", "github.io"));
	cr_assert_not(imap_dkim_aligned("github.io", "github.io"));
	cr_assert(imap_dkim_aligned("mail.someone.github.io", "someone.github.io"));
	cr_assert_not(imap_dkim_aligned("someone.github.io", "other.github.io"));
	/* a wildcard rule (*.ck) and its exception (!www.ck) */
	cr_assert(imap_dkim_public_suffix("anything.ck"));
	cr_assert_not(imap_dkim_public_suffix("www.ck"));
	cr_assert_not(imap_dkim_aligned("a.anything.ck", "anything.ck"));
	/* IDN suffixes, punycode (公司.cn) */
	cr_assert(imap_dkim_public_suffix("xn--55qx5d.cn"));
	/* the normal cases */
	cr_assert_not(imap_dkim_public_suffix("example.com"));
	cr_assert_not(imap_dkim_public_suffix("news.example.com"));
	cr_assert_not(imap_dkim_public_suffix("s1.test"));  /* an unknown TLD's child */
	cr_assert(imap_dkim_public_suffix("test"));
	cr_assert(imap_dkim_aligned("news.example.com", "example.com"));
	/* nothing, and more than a domain can be */
	char longest[300];
	memset(longest, 'a', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	longest[10] = '.';
	cr_assert(imap_dkim_public_suffix(""));
	cr_assert(imap_dkim_public_suffix(NULL));
	cr_assert(imap_dkim_public_suffix(longest));
	cr_assert_not(imap_dkim_aligned(longest, longest));
}

static void header_of(const char *raw, struct imap_mime_header *h)
{
	cr_assert_eq(imap_mime_header_read(raw, strlen(raw), NULL, h), 0);
}

#define SIGNED_FULL "DKIM-Signature: " SIG_BASE "; h=from:list-unsubscribe:list-unsubscribe-post\r\n"

Test(authres, trust_from_trusted_results_only)
{
	static const char *const trusted[] = {"mx.trusted.test"};
	struct imap_mime_header h;
	struct imap_sender_trust t;

	header_of(SIGNED_FULL "Authentication-Results: mx.trusted.test; dkim=pass "
	                      "header.d=news.example.com\r\n", &h);
	imap_sender_trust_eval(&h, trusted, 1, "news.example.com", &t);
	cr_assert(t.dkim_covers_unsubscribe && t.dkim_pass && t.aligned);
	imap_sender_trust_eval(&h, trusted, 1, "other.example", &t);
	cr_assert(t.dkim_pass && !t.aligned);
	imap_mime_header_free(&h);

	/* the same pass written by someone else counts for nothing */
	header_of(SIGNED_FULL "Authentication-Results: mx.untrusted.test; dkim=pass "
	                      "header.d=news.example.com\r\n", &h);
	imap_sender_trust_eval(&h, trusted, 1, "news.example.com", &t);
	cr_assert(t.dkim_covers_unsubscribe);  /* no trusted result: coverage as claimed */
	cr_assert_not(t.dkim_pass);
	cr_assert_not(t.aligned);
	imap_mime_header_free(&h);

	/* a trusted server says the covering signature failed: it covers nothing */
	header_of(SIGNED_FULL "Authentication-Results: MX.Trusted.Test; dkim=fail "
	                      "header.d=news.example.com\r\n", &h);
	imap_sender_trust_eval(&h, trusted, 1, "news.example.com", &t);
	cr_assert_not(t.dkim_covers_unsubscribe);
	cr_assert_not(t.dkim_pass);
	imap_mime_header_free(&h);

	/* a pass for another domain does not lend its pass to the covering one */
	header_of(SIGNED_FULL "Authentication-Results: mx.trusted.test; dkim=pass "
	                      "header.d=esp.example\r\n", &h);
	imap_sender_trust_eval(&h, trusted, 1, "news.example.com", &t);
	cr_assert_not(t.dkim_covers_unsubscribe);
	cr_assert(t.dkim_pass);
	cr_assert_not(t.aligned);
	imap_mime_header_free(&h);

	/* coverage split over two signatures is no coverage */
	header_of("DKIM-Signature: " SIG_BASE "; h=from:list-unsubscribe\r\n"
	          "DKIM-Signature: " SIG_BASE "; h=from:list-unsubscribe-post\r\n", &h);
	imap_sender_trust_eval(&h, NULL, 0, "news.example.com", &t);
	cr_assert_not(t.dkim_covers_unsubscribe);
	imap_mime_header_free(&h);

	imap_sender_trust_eval(NULL, NULL, 0, NULL, &t);
	cr_assert_not(t.dkim_covers_unsubscribe || t.dkim_pass || t.aligned);
}
