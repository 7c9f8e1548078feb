/*
 * tests/unit/test_bodystructure.c — BODYSTRUCTURE trees, section numbers,
 * server dialects, RFC 2231/2047 parameters and file names, attachments
 * and the choice of body text (imap/bodystructure.h).
 *
 * BODYSTRUCTURE inputs go through the real response parser, wrapped as
 * "* 1 FETCH (BODYSTRUCTURE <text>)\r\n" and fed one byte at a time.
 * Trees are compared as outlines: every part in document order as
 * "section:type/subtype" ("-" for the root multipart's empty section).
 * Corpus files (../shared/corpus, or $IMAPGW_CORPUS) are third-party
 * material, read with LF turned into CRLF; the values asserted for them
 * were worked out by reading the inputs. Those tests skip when the corpus
 * is absent.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/bodystructure.h"
#include "imap/buf.h"
#include "imap/error.h"
#include "imap/parser.h"
#include "imap/utf7.h"
#include "tests/support/corpus.h"

/* ---- helpers ---- */

/* Feed in[0..len) byte by byte; the response must complete exactly. */
static struct imap_parser *parse_response(const char *in, size_t len)
{
	struct imap_parser *p = imap_parser_new(NULL);
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	size_t pos = 0;
	while (pos < len && r == IMAP_PARSE_NEED_MORE) {
		size_t used = 0;
		r = imap_parser_feed(p, in + pos, 1, &used);
		pos += used;
	}
	cr_assert_eq(r, IMAP_PARSE_DONE, "parse of \"%.*s\": %s", (int)len, in,
		     r == IMAP_PARSE_ERROR ? imap_parser_error(p) : "incomplete");
	cr_assert_eq(pos, len, "trailing input after the response");
	return p;
}

/* Parse "* 1 FETCH (BODYSTRUCTURE <text>)\r\n" and the value into *bs.
 * Returns imap_bodystructure_parse's result; err gets its message. */
static int bs_from(const char *text, size_t len, struct imap_bodystructure **bs,
		   struct imap_error *err)
{
	struct imap_buf in;
	imap_buf_init(&in, 0);
	imap_buf_puts(&in, "* 1 FETCH (BODYSTRUCTURE ");
	imap_buf_append(&in, text, len);
	imap_buf_puts(&in, ")\r\n");
	struct imap_parser *p = parse_response(in.data, in.len);
	const struct imap_response *resp = imap_parser_response(p);
	const struct imap_value *items = imap_value_at(resp->args, 2);
	cr_assert(imap_value_is_atom(imap_value_at(items, 0), "BODYSTRUCTURE"));
	struct imap_error e = {0};
	int rc = imap_bodystructure_parse(imap_value_at(items, 1), bs, err ? err : &e);
	/* The count used by message summaries agrees with the list. */
	unsigned count = imap_bodystructure_attachments(imap_value_at(items, 1));
	if (rc == 0) {
		struct imap_attachment_list l;
		cr_assert_eq(imap_bodystructure_attachment_list(*bs, &l), 0);
		cr_expect_eq(count, l.n, "summary count %u, list %zu", count, l.n);
		imap_attachment_list_free(&l);
	} else {
		cr_expect_eq(count, 0);
		cr_expect_null(*bs);
	}
	imap_parser_free(&p);
	imap_buf_free(&in);
	return rc;
}

static struct imap_bodystructure *bs_ok(const char *text, size_t len)
{
	struct imap_bodystructure *bs = NULL;
	struct imap_error err = {0};
	int rc = bs_from(text, len, &bs, &err);
	cr_assert_eq(rc, 0, "BODYSTRUCTURE %.*s: %s (%s)", (int)len, text, imap_strerror(rc),
		     err.msg);
	cr_assert_not_null(bs);
	return bs;
}

#define BS(text) bs_ok((text), sizeof(text) - 1)

static void outline_part(const struct imap_body_part *p, struct imap_buf *b)
{
	imap_buf_printf(b, "%s%s:%s/%s", b->len ? " " : "", p->section[0] ? p->section : "-",
			p->type, p->subtype);
	for (size_t i = 0; i < p->nchildren; i++) {
		cr_assert_eq(p->children[i].parent, p, "parent link of %s", p->children[i].section);
		outline_part(&p->children[i], b);
	}
}

static void count_parts(const struct imap_body_part *p, size_t *n)
{
	(*n)++;
	for (size_t i = 0; i < p->nchildren; i++)
		count_parts(&p->children[i], n);
}

/* Every section finds its part (a multipart enclosed by a message part
 * finds that message part). */
static void check_find(const struct imap_bodystructure *bs, const struct imap_body_part *p)
{
	const struct imap_body_part *f = imap_bodystructure_find(bs, p->section);
	if (p->parent && p->parent->kind == IMAP_BODY_MESSAGE && p->kind == IMAP_BODY_MULTIPART)
		cr_expect_eq(f, p->parent, "find(\"%s\") is not the message part", p->section);
	else
		cr_expect_eq(f, p, "find(\"%s\")", p->section);
	if (p->section[0])
		cr_expect(imap_body_section_valid(p->section, strlen(p->section)), "%s", p->section);
	for (size_t i = 0; i < p->nchildren; i++)
		check_find(bs, &p->children[i]);
}

static void expect_outline(const struct imap_bodystructure *bs, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	outline_part(&bs->root, &b);
	cr_expect_str_eq(b.data ? b.data : "", want);
	size_t n = 0;
	count_parts(&bs->root, &n);
	cr_expect_eq(bs->nparts, n);
	check_find(bs, &bs->root);
	imap_buf_free(&b);
}

static void expect_str(const char *got, const char *want, const char *what)
{
	if (!want)
		cr_expect_null(got, "%s: got \"%s\", want NULL", what, got ? got : "");
	else if (!got)
		cr_expect_fail("%s: got NULL, want \"%s\"", what, want);
	else
		cr_expect_str_eq(got, want, "%s", what);
}

/* "name=value;name=value" of a parameter list. */
static void expect_params(const struct imap_mime_param *p, size_t n, const char *want,
			  const char *what)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++)
		imap_buf_printf(&b, "%s%s=%s", i ? ";" : "", p[i].name, p[i].value);
	cr_expect_str_eq(b.data ? b.data : "", want, "%s", what);
	cr_expect_eq(n == 0, p == NULL, "%s: storage without entries", what);
	imap_buf_free(&b);
}

static const struct imap_body_part *part(const struct imap_bodystructure *bs, const char *section)
{
	const struct imap_body_part *p = imap_bodystructure_find(bs, section);
	cr_assert_not_null(p, "no part %s", section);
	return p;
}

/* The sections of the body text of the given kind, comma-separated. */
static void expect_text(const struct imap_body_part *body, enum imap_body_text kind,
			const char *want)
{
	struct imap_body_part_list l = {(const struct imap_body_part **)1, 99};
	cr_assert_eq(imap_body_text_parts(body, kind, &l), 0);
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (size_t i = 0; i < l.n; i++)
		imap_buf_printf(&b, "%s%s", i ? "," : "", l.v[i]->section);
	cr_expect_str_eq(b.data ? b.data : "", want, "%s text",
			 kind == IMAP_TEXT_HTML ? "html" : "plain");
	cr_expect_eq(l.n == 0, l.v == NULL);
	imap_body_part_list_free(&l);
	imap_buf_free(&b);
}

/* Attachments, one per line:
 * "section|filename|type|disposition|inline|content-id|size|decoded"
 * with "-" for NULL and "i"/"a" for the inline flag. */
static void expect_attachments(const struct imap_bodystructure *bs, const char *want)
{
	struct imap_attachment_list l = {(struct imap_attachment *)1, 99};
	cr_assert_eq(imap_bodystructure_attachment_list(bs, &l), 0);
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (size_t i = 0; i < l.n; i++) {
		const struct imap_attachment *a = &l.v[i];
		cr_assert_not_null(a->section);
		cr_assert_not_null(a->content_type);
		imap_buf_printf(&b, "%s%s|%s|%s|%s|%s|%s|%llu|%llu", i ? "\n" : "", a->section,
				a->filename ? a->filename : "-", a->content_type,
				a->disposition ? a->disposition : "-", a->is_inline ? "i" : "a",
				a->content_id ? a->content_id : "-", (unsigned long long)a->size,
				(unsigned long long)a->decoded_size);
	}
	cr_expect_str_eq(b.data ? b.data : "", want);
	cr_expect_eq(l.n == 0, l.v == NULL);
	imap_attachment_list_free(&l);
	cr_expect_eq(l.n, 0);
	cr_expect_null(l.v);
	imap_buf_free(&b);
}

/* ---- section numbers ---- */

Test(bodystructure, single_part_is_section_1)
{
	struct imap_bodystructure *bs =
		BS("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)");
	expect_outline(bs, "1:text/plain");
	const struct imap_body_part *p = &bs->root;
	cr_expect_eq(p->kind, IMAP_BODY_SINGLE);
	cr_expect_null(p->parent);
	cr_expect_eq(p->size, 6);
	cr_expect_eq(p->lines, 1);
	expect_str(p->encoding, "7bit", "encoding");
	expect_params(p->params, p->nparams, "charset=us-ascii", "params");
	cr_expect_null(imap_bodystructure_find(bs, ""));
	cr_expect_null(imap_bodystructure_find(bs, "2"));
	cr_expect_null(imap_bodystructure_find(bs, "1.1"));
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);
	cr_expect_null(bs);
	imap_bodystructure_free(&bs);
	imap_bodystructure_free(NULL);
}

/* The example of RFC 3501 §6.4.5, part for part. */
#define ENV "(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)"
#define PLAIN "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)"
#define OCTETS "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 100)"

Test(bodystructure, rfc3501_section_example)
{
	struct imap_bodystructure *bs = BS(
		"(" PLAIN OCTETS
		"(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 500 " ENV
		" (" PLAIN OCTETS " \"MIXED\") 20)"
		"((\"IMAGE\" \"GIF\" NIL NIL NIL \"BASE64\" 100)"
		" (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 400 " ENV
		"  (" PLAIN "(" PLAIN "(\"TEXT\" \"RICHTEXT\" NIL NIL NIL \"7BIT\" 10 1) \"ALTERNATIVE\")"
		"   \"MIXED\") 30)"
		" \"MIXED\")"
		" \"MIXED\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:application/octet-stream "
			   "3:message/rfc822 3:multipart/mixed 3.1:text/plain "
			   "3.2:application/octet-stream 4:multipart/mixed 4.1:image/gif "
			   "4.2:message/rfc822 4.2:multipart/mixed 4.2.1:text/plain "
			   "4.2.2:multipart/alternative 4.2.2.1:text/plain 4.2.2.2:text/richtext");
	cr_expect_eq(bs->nparts, 15);
	cr_expect_eq(part(bs, "")->kind, IMAP_BODY_MULTIPART);
	cr_expect_eq(part(bs, "3")->kind, IMAP_BODY_MESSAGE);
	cr_expect_eq(part(bs, "3")->nchildren, 1);
	cr_expect_eq(part(bs, "3")->lines, 20);
	cr_expect_eq(part(bs, "3")->size, 500);
	cr_expect_eq(part(bs, "4.2")->lines, 30);
	cr_expect_eq(part(bs, "4")->kind, IMAP_BODY_MULTIPART);
	cr_expect_eq(part(bs, "4.2.2")->nchildren, 2);
	cr_expect_null(part(bs, "")->encoding);
	cr_expect_eq(part(bs, "")->size, 0);
	cr_expect_null(imap_bodystructure_find(bs, "5"));
	cr_expect_null(imap_bodystructure_find(bs, "4.3"));
	cr_expect_null(imap_bodystructure_find(bs, "4.2.3"));
	cr_expect_null(imap_bodystructure_find(bs, "1.1"));
	cr_expect_null(imap_bodystructure_find(bs, "4.2.2.1.1"));
	cr_expect_null(imap_bodystructure_find(bs, "4.2.HEADER"));
	cr_expect_null(imap_bodystructure_find(bs, "04"));
	cr_expect_null(imap_bodystructure_find(NULL, "1"));
	cr_expect_null(imap_bodystructure_find(bs, NULL));
	/* Body text stays out of attached messages. */
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&part(bs, "3")->children[0], IMAP_TEXT_PLAIN, "3.1");
	expect_text(&part(bs, "4.2")->children[0], IMAP_TEXT_PLAIN, "4.2.1,4.2.2.1");
	expect_attachments(bs, "2|-|application/octet-stream|-|a|-|100|72\n"
			       "3|-|message/rfc822|-|a|-|500|500\n"
			       "3.2|-|application/octet-stream|-|a|-|100|72\n"
			       "4.1|-|image/gif|-|a|-|100|72\n"
			       "4.2|-|message/rfc822|-|a|-|400|400");
	imap_bodystructure_free(&bs);
}

/* A message/rfc822 part whose body is a single part: that body is X.1,
 * and a message inside it X.1.1. */
Test(bodystructure, message_rfc822_single_part_bodies)
{
	struct imap_bodystructure *bs = BS(
		"(" PLAIN "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 900 " ENV
		" (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 600 " ENV
		"  (\"application\" \"pdf\" (\"name\" \"deep.pdf\") NIL NIL \"base64\" 78 NIL) 9) 12)"
		" \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822 2.1:message/rfc822 "
			   "2.1.1:application/pdf");
	expect_attachments(bs, "2|-|message/rfc822|-|a|-|900|900\n"
			       "2.1|-|message/rfc822|-|a|-|600|600\n"
			       "2.1.1|deep.pdf|application/pdf|-|a|-|78|57");
	imap_bodystructure_free(&bs);

	/* A message whose whole body is another message. */
	bs = BS("(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 300 " ENV " " PLAIN " 8)");
	expect_outline(bs, "1:message/rfc822 1.1:text/plain");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "1|-|message/rfc822|-|a|-|300|300");
	imap_bodystructure_free(&bs);

	/* message/global (RFC 6532) is laid out the same way. */
	bs = BS("(" PLAIN "(\"message\" \"global\" NIL NIL NIL \"8bit\" 300 " ENV " " PLAIN " 8) \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/global 2.1:text/plain");
	imap_bodystructure_free(&bs);
}

/* ---- every field ---- */

/* Dovecot's test message 06 (corpus dc-bodystructure-06), inline: all
 * extension fields present. */
Test(bodystructure, all_fields)
{
	struct imap_bodystructure *bs = BS(
		"((\"text\" \"x-myown\" (\"charset\" \"us-ascii\" \"foo\" \"quoted\\\"string\") "
		"\"<foo@example.com>\" \"hellodescription\" \"7bit\" 7 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" "
		"(\"inline\" (\"foo\" \"bar\")) (\"en\" \"fi\" \"se\") \"http://example.com/test.txt\")"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 412 " ENV
		" ((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 20 1 NIL NIL NIL NIL)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 1 NIL NIL NIL NIL) "
		"\"alternative\" (\"boundary\" \"sub1\") NIL NIL NIL) 21 NIL NIL NIL NIL) "
		"\"mixed\" (\"boundary\" \"foo bar\") NIL NIL NIL)");
	expect_outline(bs, "-:multipart/mixed 1:text/x-myown 2:message/rfc822 2:multipart/alternative "
			   "2.1:text/html 2.2:text/plain");
	const struct imap_body_part *p = part(bs, "1");
	expect_params(p->params, p->nparams, "charset=us-ascii;foo=quoted\"string", "params");
	expect_str(p->id, "<foo@example.com>", "id");
	expect_str(p->description, "hellodescription", "description");
	expect_str(p->encoding, "7bit", "encoding");
	cr_expect_eq(p->size, 7);
	cr_expect_eq(p->lines, 1);
	expect_str(p->md5, "Q2hlY2sgSW50ZWdyaXR5IQ==", "md5");
	expect_str(p->disposition, "inline", "disposition");
	expect_params(p->dsp_params, p->ndsp_params, "foo=bar", "dsp params");
	cr_assert_eq(p->nlanguage, 3);
	expect_str(p->language[0], "en", "language[0]");
	expect_str(p->language[2], "se", "language[2]");
	expect_str(p->location, "http://example.com/test.txt", "location");
	expect_str(p->filename, NULL, "filename");

	const struct imap_body_part *root = &bs->root;
	expect_params(root->params, root->nparams, "boundary=foo bar", "root params");
	cr_expect_null(root->disposition);
	cr_expect_eq(root->nlanguage, 0);
	cr_expect_null(root->language);
	cr_expect_null(root->location);
	cr_expect_null(root->id);
	cr_expect_null(root->md5);
	cr_expect_eq(root->nchildren, 2);

	const struct imap_body_part *m = part(bs, "2");
	cr_expect_eq(m->lines, 21);
	cr_expect_eq(m->children[0].kind, IMAP_BODY_MULTIPART);
	expect_str(m->children[0].subtype, "alternative", "enclosed subtype");
	expect_params(m->children[0].params, m->children[0].nparams, "boundary=sub1", "enclosed");

	/* text/x-myown is neither plain nor html; an inline text part
	 * without a name is not an attachment either. */
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "2|-|message/rfc822|-|a|-|412|412");
	imap_bodystructure_free(&bs);
}

/* Content-Description is decoded; other strings are kept as sent but
 * made valid UTF-8 without NUL. */
Test(bodystructure, strings_made_safe)
{
	struct imap_bodystructure *bs = BS(
		"(\"text\" \"plain\" (\"charset\" \"caf\xe9\" \"x\" {3}\r\na\0b) \"<id\xff>\" "
		"\"=?utf-8?q?caf=C3=A9?= \xe9t\xe9\" \"7bit\" 6 1 NIL NIL \"fr\" NIL)");
	const struct imap_body_part *p = &bs->root;
	expect_params(p->params, p->nparams, "charset=café;x=a\xef\xbf\xbd" "b", "params");
	expect_str(p->id, "<id\xc3\xbf>", "id");
	expect_str(p->description, "café été", "description");
	cr_assert_eq(p->nlanguage, 1);
	expect_str(p->language[0], "fr", "language");
	imap_bodystructure_free(&bs);
}
