/*
 * tests/unit/test_unsubscribe.c — List-Unsubscribe / List-Unsubscribe-Post
 * (imap/mail/unsubscribe.h): our own table of header shapes, the Thunderbird
 * for Android vectors and the List-Unsubscribe headers of real messages in
 * ../shared/corpus/eml (third-party material, never edited; those tests
 * skip when it is absent).
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/unsubscribe.h"
#include "imap/mail/utf7.h"
#include "tests/support/corpus.h"

#define L(s) (s), (sizeof(s) - 1)
#define ONE_CLICK "List-Unsubscribe=One-Click"

/* Every string the parser hands out is valid UTF-8 without NUL. */
static void assert_sane(const struct imap_unsubscribe *u)
{
	cr_assert_leq(u->n_mailto + u->n_http, IMAP_UNSUB_ENTRIES_MAX);
	for (size_t i = 0; i < u->n_mailto; i++) {
		const struct imap_unsub_mailto *m = &u->mailto[i];
		cr_assert_not_null(m->address);
		cr_assert_not_null(m->uri);
		cr_assert_eq(imap_utf8_validate(m->address, strlen(m->address)), 0);
		cr_assert_eq(imap_utf8_validate(m->uri, strlen(m->uri)), 0);
		cr_assert(strchr(m->address, '@'));
		if (m->subject && m->subject[0])
			cr_assert_eq(imap_utf8_validate(m->subject, strlen(m->subject)), 0);
		if (m->body && m->body[0])
			cr_assert_eq(imap_utf8_validate(m->body, strlen(m->body)), 0);
	}
	for (size_t i = 0; i < u->n_http; i++) {
		cr_assert_not_null(u->http[i]);
		cr_assert_eq(imap_utf8_validate(u->http[i], strlen(u->http[i])), 0);
		cr_assert(strncasecmp(u->http[i], "http", 4) == 0);
	}
}

static void parse(const char *lu, size_t len, const char *post, size_t post_len,
		  struct imap_unsubscribe *u)
{
	int rc = imap_unsubscribe_parse(lu, len, post, post_len, u);
	cr_assert_eq(rc, 0, "parse \"%.*s\": rc %d", (int)len, lu ? lu : "", rc);
	assert_sane(u);
}

/* Parse a C string without a Post header. */
static void parse1(const char *lu, struct imap_unsubscribe *u)
{
	parse(lu, lu ? strlen(lu) : 0, NULL, 0, u);
}

static void expect_mailto(const struct imap_unsubscribe *u, size_t i, const char *address,
			  const char *subject, const char *body)
{
	cr_assert_gt(u->n_mailto, i, "no mailto #%zu", i);
	const struct imap_unsub_mailto *m = &u->mailto[i];
	cr_assert_str_eq(m->address, address);
	if (subject)
		cr_assert_str_eq(m->subject ? m->subject : "(null)", subject);
	else
		cr_assert_null(m->subject, "subject \"%s\"", m->subject);
	if (body)
		cr_assert_str_eq(m->body ? m->body : "(null)", body);
	else
		cr_assert_null(m->body, "body \"%s\"", m->body);
}

static void expect_counts(const struct imap_unsubscribe *u, size_t n_mailto, size_t n_http)
{
	cr_assert_eq(u->n_mailto, n_mailto, "n_mailto %zu, want %zu", u->n_mailto, n_mailto);
	cr_assert_eq(u->n_http, n_http, "n_http %zu, want %zu", u->n_http, n_http);
}

Test(unsubscribe, mailto_only)
{
	struct imap_unsubscribe u;
	parse1("<mailto:unsub@example.com>", &u);
	expect_counts(&u, 1, 0);
	expect_mailto(&u, 0, "unsub@example.com", NULL, NULL);
	cr_assert_str_eq(u.mailto[0].uri, "mailto:unsub@example.com");
	cr_assert(!u.one_click);
	cr_assert_null(u.post);
	cr_assert_str_eq(imap_unsubscribe_preferred(&u), "mailto:unsub@example.com");
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, https_only)
{
	struct imap_unsubscribe u;
	parse1("<https://example.com/unsubscribe?id=42&t=a%20b>", &u);
	expect_counts(&u, 0, 1);
	/* As given: not percent-decoded. */
	cr_assert_str_eq(u.http[0], "https://example.com/unsubscribe?id=42&t=a%20b");
	cr_assert_str_eq(imap_unsubscribe_preferred(&u), u.http[0]);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, both_in_header_order)
{
	struct imap_unsubscribe u;
	parse1("<https://example.com/u/1>, <mailto:leave@example.com>, <http://example.com/u/2>", &u);
	expect_counts(&u, 1, 2);
	cr_assert_str_eq(u.http[0], "https://example.com/u/1");
	cr_assert_str_eq(u.http[1], "http://example.com/u/2");
	expect_mailto(&u, 0, "leave@example.com", NULL, NULL);
	cr_assert_str_eq(imap_unsubscribe_preferred(&u), "mailto:leave@example.com");
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, mailto_subject_and_body)
{
	struct imap_unsubscribe u;
	parse1("<mailto:list-request@example.com?subject=unsubscribe%20me&body=please%0D%0Aremove>",
	       &u);
	expect_counts(&u, 1, 0);
	expect_mailto(&u, 0, "list-request@example.com", "unsubscribe me", "please\r\nremove");
	cr_assert_str_eq(u.mailto[0].uri,
			 "mailto:list-request@example.com?subject=unsubscribe%20me&body=please%0D%0Aremove");
	imap_unsubscribe_free(&u);

	/* Field names in any case; the first of each wins; "+" is a plus;
	 * UTF-8 percent-encoded; unknown fields ignored. */
	parse1("<mailto:list%2Bleave@example.com?cc=x@y.example&SUBJECT=D%C3%A9sabonner+moi"
	       "&Body=first&body=second&subject=later>",
	       &u);
	expect_mailto(&u, 0, "list+leave@example.com", "Désabonner+moi", "first");
	imap_unsubscribe_free(&u);

	/* "?Subject=" right after the address, empty values, bare "%" */
	parse1("<mailto:a@example.com?Subject=&body=100%>", &u);
	expect_mailto(&u, 0, "a@example.com", "", "100%");
	imap_unsubscribe_free(&u);

	/* The address may come from "to=" (RFC 6068). */
	parse1("<mailto:?to=leave%40example.com&subject=bye>", &u);
	expect_mailto(&u, 0, "leave@example.com", "bye", NULL);
	imap_unsubscribe_free(&u);

	/* Percent-decoded bytes that are not UTF-8 are made readable. */
	parse1("<mailto:a@example.com?subject=caf%E9>", &u);
	expect_mailto(&u, 0, "a@example.com", "café", NULL);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, header_injection_is_defused)
{
	struct imap_unsubscribe u;
	/* An address with CR LF (or any blank) is no address. */
	parse1("<mailto:a@example.com%0D%0ABcc:victim@example.net>, <mailto:b%20c@example.com>", &u);
	expect_counts(&u, 0, 0);
	imap_unsubscribe_free(&u);
	/* The subject is a header line: its controls become spaces. */
	parse1("<mailto:a@example.com?subject=x%0D%0ABcc:%20v@example.net%00>", &u);
	expect_mailto(&u, 0, "a@example.com", "x  Bcc: v@example.net\xef\xbf\xbd", NULL);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, one_click_with_https)
{
	struct imap_unsubscribe u;
	parse(L("<mailto:u@example.com>, <https://example.com/one-click/abc>"), L(ONE_CLICK), &u);
	expect_counts(&u, 1, 1);
	cr_assert(u.one_click);
	cr_assert_str_eq(u.post, ONE_CLICK);
	imap_unsubscribe_free(&u);

	/* Any case, blanks, quotes, folding, other form fields. */
	static const char *const posts[] = {
		"list-unsubscribe=one-click",
		"  List-Unsubscribe = One-Click  ",
		"List-Unsubscribe=\r\n One-Click",
		"\"List-Unsubscribe=One-Click\"",
		"foo=bar&List-Unsubscribe=One-Click",
		"List-Unsubscribe=One-Click; other=1",
	};
	for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
		parse(L("<HTTPS://Example.com/u>"), posts[i], strlen(posts[i]), &u);
		cr_assert(u.one_click, "post \"%s\"", posts[i]);
		cr_assert_str_eq(u.post, ONE_CLICK);
		cr_assert_str_eq(u.http[0], "HTTPS://Example.com/u"); /* as given */
		imap_unsubscribe_free(&u);
	}
	static const char *const not_posts[] = {
		"", "List-Unsubscribe", "List-Unsubscribe=One-Click-Now", "One-Click",
		"List-Unsubscribe=Once", "xList-Unsubscribe=One-Click",
	};
	for (size_t i = 0; i < sizeof not_posts / sizeof not_posts[0]; i++) {
		parse(L("<https://example.com/u>"), not_posts[i], strlen(not_posts[i]), &u);
		cr_assert(!u.one_click, "post \"%s\"", not_posts[i]);
		cr_assert_null(u.post, "post \"%s\"", not_posts[i]);
		imap_unsubscribe_free(&u);
	}
}

Test(unsubscribe, one_click_needs_https)
{
	struct imap_unsubscribe u;
	parse(L("<http://example.com/u>"), L(ONE_CLICK), &u);
	expect_counts(&u, 0, 1);
	cr_assert(!u.one_click);
	cr_assert_str_eq(u.post, ONE_CLICK); /* the header said so; reported as is */
	cr_assert_null(imap_unsubscribe_preferred(&u));
	imap_unsubscribe_free(&u);

	parse(L("<mailto:u@example.com>"), L(ONE_CLICK), &u);
	expect_counts(&u, 1, 0);
	cr_assert(!u.one_click);
	cr_assert_str_eq(u.post, ONE_CLICK);
	imap_unsubscribe_free(&u);

	/* Post header without any List-Unsubscribe. */
	parse(NULL, 0, L(ONE_CLICK), &u);
	expect_counts(&u, 0, 0);
	cr_assert(!u.one_click);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, folded_over_lines)
{
	struct imap_unsubscribe u;
	parse1("<https://example.com/unsubscribe\r\n ?id=42>,\r\n\t<mailto:u@example.com?subject=un\r\n"
	       "    subscribe>",
	       &u);
	expect_counts(&u, 1, 1);
	cr_assert_str_eq(u.http[0], "https://example.com/unsubscribe?id=42");
	expect_mailto(&u, 0, "u@example.com", "unsubscribe", NULL);
	imap_unsubscribe_free(&u);

	parse1("<mailto:u@example.com>,\n <https://example.com/u>", &u);
	expect_counts(&u, 1, 1);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, tabs_and_odd_whitespace)
{
	struct imap_unsubscribe u;
	parse1("\t <  mailto:u@example.com >\t,\t\t< https://example.com/u\t>  ,  ", &u);
	expect_counts(&u, 1, 1);
	expect_mailto(&u, 0, "u@example.com", NULL, NULL);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	/* No separator at all between entries. */
	parse1("<mailto:u@example.com><https://example.com/u>", &u);
	expect_counts(&u, 1, 1);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, comma_inside_brackets_belongs_to_the_url)
{
	struct imap_unsubscribe u;
	parse1("<https://x.example/u?a=1,2>, <mailto:a@example.com,b@example.com?subject=x,y>", &u);
	expect_counts(&u, 1, 1);
	cr_assert_str_eq(u.http[0], "https://x.example/u?a=1,2");
	expect_mailto(&u, 0, "a@example.com,b@example.com", "x,y", NULL);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, missing_brackets)
{
	struct imap_unsubscribe u;
	parse1("mailto:u@example.com, https://example.com/u", &u);
	expect_counts(&u, 1, 1);
	expect_mailto(&u, 0, "u@example.com", NULL, NULL);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	parse1("https://example.com/u mailto:u@example.com", &u);
	expect_counts(&u, 1, 1);
	imap_unsubscribe_free(&u);

	/* Half brackets: an unclosed "<" ends at the next "<"; a stray ">". */
	parse1("<mailto:u@example.com, <https://example.com/u>", &u);
	expect_counts(&u, 1, 1);
	expect_mailto(&u, 0, "u@example.com", NULL, NULL);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	parse1("mailto:u@example.com>, https://example.com/u>", &u);
	expect_counts(&u, 1, 1);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	parse1("<https://example.com/u", &u);
	expect_counts(&u, 0, 1);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	/* Quoted, as some senders do. */
	parse1("\"<https://example.com/u>\"", &u);
	expect_counts(&u, 0, 1);
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, rfc2047_encoded_value)
{
	struct imap_unsubscribe u;
	parse1("=?utf-8?q?=3Cmailto=3Au=40example=2Ecom=3E=2C_=3Chttps=3A=2F=2Fexample=2Ecom=2Fu=3E?=",
	       &u);
	expect_counts(&u, 1, 1);
	expect_mailto(&u, 0, "u@example.com", NULL, NULL);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	imap_unsubscribe_free(&u);

	parse1("=?UTF-8?B?PG1haWx0bzp1QGV4YW1wbGUuY29tP3N1YmplY3Q9dW5zdWJzY3JpYmU+?=", &u);
	expect_mailto(&u, 0, "u@example.com", "unsubscribe", NULL);
	imap_unsubscribe_free(&u);

	/* Raw 8-bit bytes end up valid UTF-8. */
	parse1("<https://example.com/caf\xe9>", &u);
	cr_assert_str_eq(u.http[0], "https://example.com/café");
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, garbage_is_ignored)
{
	static const char *const garbage[] = {
		"<ftp://example.com/u>, <javascript:alert(1)>, <>, <<>>, <mailto:>",
		"<mailto:nobody>, <mailto:@example.com>, <mailto:a@>, <https://>, <http:/x>",
		"<https:///path>, <https://?q>, <httpx://example.com>, <data:text/html,hi>",
		"please unsubscribe me, thanks", ",,,;;; <><> ((", "mailto", "https:",
		"<mailto:a@example.com> (comment with https://evil.example/ in it)",
		"(nested (comment https://evil.example/) still) <mailto:a@example.com>",
	};
	for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
		struct imap_unsubscribe u;
		parse1(garbage[i], &u);
		cr_assert_eq(u.n_http, 0, "\"%s\" gave %s", garbage[i], u.n_http ? u.http[0] : "");
		cr_assert_leq(u.n_mailto, 1);
		if (u.n_mailto)
			expect_mailto(&u, 0, "a@example.com", NULL, NULL);
		imap_unsubscribe_free(&u);
	}
}

Test(unsubscribe, empty_and_absent)
{
	struct imap_unsubscribe u;
	parse(NULL, 0, NULL, 0, &u);
	expect_counts(&u, 0, 0);
	cr_assert_null(u.mailto);
	cr_assert_null(u.http);
	cr_assert_null(u.post);
	cr_assert(!u.one_click);
	cr_assert_null(imap_unsubscribe_preferred(&u));
	imap_unsubscribe_free(&u);
	parse("", 0, "", 0, &u);
	expect_counts(&u, 0, 0);
	imap_unsubscribe_free(&u);
	parse1(" \t\r\n , ", &u);
	expect_counts(&u, 0, 0);
	imap_unsubscribe_free(&u);
	/* Freeing twice, or NULL, is harmless. */
	imap_unsubscribe_free(&u);
	imap_unsubscribe_free(NULL);
	cr_assert_null(imap_unsubscribe_preferred(NULL));
}

Test(unsubscribe, duplicates_removed)
{
	struct imap_unsubscribe u;
	parse1("<mailto:Leave@Example.com>, <mailto:leave@example.com>, <https://example.com/u>, "
	       "<HTTPS://example.com/u>, <https://example.com/U>, mailto:leave@example.com, "
	       "<mailto:leave@example.com?subject=x>",
	       &u);
	expect_counts(&u, 2, 2);
	expect_mailto(&u, 0, "Leave@Example.com", NULL, NULL);
	expect_mailto(&u, 1, "leave@example.com", "x", NULL);
	cr_assert_str_eq(u.http[0], "https://example.com/u");
	cr_assert_str_eq(u.http[1], "https://example.com/U"); /* paths are case-sensitive */
	imap_unsubscribe_free(&u);
}

Test(unsubscribe, very_long_input_is_bounded)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	/* 100 distinct entries: only the first 32 are kept. */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(imap_buf_printf(&b, "<https://example.com/u/%d>, ", i), 0);
	struct imap_unsubscribe u;
	parse(b.data, b.len, NULL, 0, &u);
	expect_counts(&u, 0, IMAP_UNSUB_ENTRIES_MAX);
	cr_assert_str_eq(u.http[31], "https://example.com/u/31");
	imap_unsubscribe_free(&u);

	/* Beyond 16 KiB nothing is read; an entry cut by the limit is dropped,
	 * bracketed or bare. */
	imap_buf_reset(&b, 0);
	cr_assert_eq(imap_buf_puts(&b, "<mailto:first@example.com>,"), 0);
	while (b.len < IMAP_UNSUB_INPUT_MAX - 10)
		cr_assert_eq(imap_buf_putc(&b, ' '), 0);
	cr_assert_eq(imap_buf_puts(&b, "<https://example.com/cut-by-the-limit>, <mailto:late@example.com>"), 0);
	parse(b.data, b.len, NULL, 0, &u);
	expect_counts(&u, 1, 0);
	expect_mailto(&u, 0, "first@example.com", NULL, NULL);
	imap_unsubscribe_free(&u);
	b.data[IMAP_UNSUB_INPUT_MAX - 9] = 'x'; /* "<" -> "x": now a bare token */
	parse(b.data, b.len, NULL, 0, &u);
	expect_counts(&u, 1, 0);
	imap_unsubscribe_free(&u);

	/* A megabyte of one URL, of commas, of brackets, of "=?": quick. */
	static const char *const fills[] = { "a", ",", "<", ">", "=?", "(", "\\" };
	for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
		imap_buf_reset(&b, 0);
		cr_assert_eq(imap_buf_puts(&b, "<https://example.com/"), 0);
		while (b.len < (1 << 20))
			cr_assert_eq(imap_buf_puts(&b, fills[f]), 0);
		parse(b.data, b.len, b.data, b.len, &u);
		cr_assert_leq(u.n_http, 1);
		cr_assert(!u.one_click);
		imap_unsubscribe_free(&u);
	}
	imap_buf_free(&b);
}

/* ---- the shared corpus ---------------------------------------------- */

#define NEED_CORPUS(dir) TEST_NEED_CORPUS(dir, "eml")

Test(unsubscribe, k9_vectors)
{
	NEED_CORPUS(dir);
	char path[4096];
	snprintf(path, sizeof path, "%s/k9-ListUnsubscribeHelperTest.vectors.json", dir);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	cr_assert_not_null(root, "%s: %s", path, jerr.text);
	json_t *vectors = json_object_get(root, "vectors");
	cr_assert(json_is_array(vectors));
	size_t i;
	json_t *v;
	int passed = 0;
	json_array_foreach(vectors, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		json_t *lu = json_object_get(v, "list_unsubscribe");
		json_t *expected = json_object_get(v, "expected");
		struct imap_unsubscribe u;
		parse(json_string_value(lu), json_is_string(lu) ? json_string_length(lu) : 0, NULL, 0,
		      &u);
		const char *got = imap_unsubscribe_preferred(&u);
		if (json_is_null(expected)) {
			cr_expect_null(got, "%s: got \"%s\", want none", name, got);
			passed += got == NULL;
		} else {
			const char *want = json_string_value(json_object_get(expected, "uri"));
			const char *type = json_string_value(json_object_get(expected, "type"));
			cr_assert_not_null(want);
			cr_expect_str_eq(got ? got : "(null)", want, "%s", name);
			cr_expect(got && strncmp(got, type, strlen(type)) == 0 && got[strlen(type)] == ':',
				  "%s: type %s", name, type);
			passed += got && strcmp(got, want) == 0;
		}
		imap_unsubscribe_free(&u);
	}
	cr_assert_eq((size_t)passed, json_array_size(vectors));
	cr_assert_geq(passed, 9);
	json_decref(root);
}

/* The messages corpus/README.md lists under "List-Unsubscribe / List-Id",
 * with the preferred URI of each; folded and unfolded reads agree. */
Test(unsubscribe, corpus_messages)
{
	NEED_CORPUS(dir);
	static const struct {
		const char *file, *preferred;
		size_t n_mailto, n_http;
	} cases[] = {
		{ "sa-welcomelists-cert.org",
		  "mailto:Majordomo@cert.org?body=unsubscribe%20cert-advisory", 1, 0 },
		{ "sa-welcomelists-linuxplanet",
		  "mailto:leave-linuxplanet-text-000000F@list4.internet.com", 1, 0 },
		{ "sa-welcomelists-ryanairmail.com",
		  "mailto:leave-customers-123546K@mail.ryanairmail.com", 1, 0 },
		{ "sa-nice-002",
		  "mailto:spamassassin-talk-request@lists.sourceforge.net?subject=unsubscribe", 1, 1 },
		{ "sa-nice-base64.txt",
		  "mailto:webmake-talk-request@lists.sourceforge.net?subject=unsubscribe", 1, 1 },
		{ "sa-nice-mailman_message.txt",
		  "mailto:wine-announce-request@winehq.com?subject=unsubscribe", 1, 1 },
		{ "sa-nice-cjk-big5-base64.1",
		  "mailto:slat-talk-request@softwareliberty.org?subject=unsubscribe", 1, 1 },
		{ "mp-large_text.eml", "mailto:ubuntu-bugs-request@lists.ubuntu.com?subject=unsubscribe",
		  1, 1 },
		{ "sw-thirdparty-014.eml", "mailto:shapelib-request@lists.maptools.org?subject=unsubscribe",
		  1, 1 },
		{ "wk-1366671050@github.com.eml",
		  "mailto:unsub+aibuo5jooM2quaizuoyae0jeuk9queth@reply.github.com", 1, 1 },
		{ "jw-twine_release.eml", "mailto:distutils-sig-leave@python.org", 1, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
		for (int unfold = 0; unfold < 2; unfold++) {
			struct imap_buf raw;
			imap_buf_init(&raw, 0);
			cr_assert(test_corpus_header(path, "List-Unsubscribe", unfold, &raw), "%s: no header",
				  cases[i].file);
			struct imap_unsubscribe u;
			parse(raw.data, raw.len, NULL, 0, &u);
			cr_expect_geq(u.n_mailto + u.n_http, 1, "%s: no URI", cases[i].file);
			cr_expect_eq(u.n_mailto, cases[i].n_mailto, "%s", cases[i].file);
			cr_expect_eq(u.n_http, cases[i].n_http, "%s", cases[i].file);
			const char *got = imap_unsubscribe_preferred(&u);
			cr_expect_str_eq(got ? got : "(null)", cases[i].preferred, "%s", cases[i].file);
			imap_unsubscribe_free(&u);
			imap_buf_free(&raw);
		}
	}

	/* Field by field for a few. */
	char path[4096];
	struct imap_buf raw;
	struct imap_unsubscribe u;

	snprintf(path, sizeof path, "%s/sa-welcomelists-cert.org", dir);
	imap_buf_init(&raw, 0);
	cr_assert(test_corpus_header(path, "List-Unsubscribe", false, &raw));
	parse(raw.data, raw.len, NULL, 0, &u);
	expect_mailto(&u, 0, "Majordomo@cert.org", NULL, "unsubscribe cert-advisory");
	imap_unsubscribe_free(&u);
	imap_buf_free(&raw);

	snprintf(path, sizeof path, "%s/wk-1366671050@github.com.eml", dir);
	imap_buf_init(&raw, 0);
	cr_assert(test_corpus_header(path, "List-Unsubscribe", false, &raw));
	parse(raw.data, raw.len, NULL, 0, &u);
	expect_mailto(&u, 0, "unsub+aibuo5jooM2quaizuoyae0jeuk9queth@reply.github.com", NULL, NULL);
	cr_assert_str_eq(u.http[0],
			 "https://github.com/notifications/unsubscribe/ooxee3quaequoob4eux3uSe5seehee9o");
	imap_unsubscribe_free(&u);
	imap_buf_free(&raw);

	/* sa-nice-002's List-Subscribe (same syntax) is folded inside both URIs. */
	snprintf(path, sizeof path, "%s/sa-nice-002", dir);
	imap_buf_init(&raw, 0);
	cr_assert(test_corpus_header(path, "List-Subscribe", false, &raw));
	parse(raw.data, raw.len, NULL, 0, &u);
	expect_counts(&u, 1, 1);
	cr_assert_str_eq(u.http[0], "https://lists.sourceforge.net/lists/listinfo/spamassassin-talk");
	expect_mailto(&u, 0, "spamassassin-talk-request@lists.sourceforge.net", "subscribe", NULL);
	imap_unsubscribe_free(&u);
	imap_buf_free(&raw);
}
