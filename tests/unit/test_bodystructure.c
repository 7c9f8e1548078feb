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

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/bodystructure.h"
#include "imap/mail/utf7.h"
#include "imap/parser.h"
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
		cr_expect_str_eq(got, want, "%s: got \"%s\", want \"%s\"", what, got, want);
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

/* ---- server dialects ---- */

/* Cyrus and Gmail send types, subtypes, encodings and parameter names in
 * upper case; values keep their case. BODY has no extension data. */
Test(bodystructure, upper_case_lowered)
{
	struct imap_bodystructure *bs = BS(
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\" \"FORMAT\" \"Flowed\") NIL NIL "
		"\"QUOTED-PRINTABLE\" 850 31)(\"IMAGE\" \"JPEG\" (\"NAME\" \"Photo.JPG\") "
		"\"<Part1.ABC>\" NIL \"BASE64\" 7800 NIL (\"INLINE\" (\"FILENAME\" \"Photo.JPG\")) NIL) "
		"\"RELATED\" (\"BOUNDARY\" \"AbC\" \"TYPE\" \"text/plain\"))");
	expect_outline(bs, "-:multipart/related 1:text/plain 2:image/jpeg");
	const struct imap_body_part *p = part(bs, "1");
	expect_params(p->params, p->nparams, "charset=UTF-8;format=Flowed", "params");
	expect_str(p->encoding, "quoted-printable", "encoding");
	expect_params(bs->root.params, bs->root.nparams, "boundary=AbC;type=text/plain", "root");
	const struct imap_body_part *img = part(bs, "2");
	expect_str(img->disposition, "inline", "disposition");
	expect_params(img->dsp_params, img->ndsp_params, "filename=Photo.JPG", "dsp params");
	expect_str(img->filename, "Photo.JPG", "filename");
	expect_str(img->id, "<Part1.ABC>", "id");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "2|Photo.JPG|image/jpeg|inline|i|<Part1.ABC>|7800|5700");
	imap_bodystructure_free(&bs);
}

/* Gmail and Courier stop one extension field early (no body-fld-loc),
 * or after the md5, or give only the multipart's parameters; unknown
 * extension data after body-fld-loc is ignored. */
Test(bodystructure, fewer_and_more_extension_fields)
{
	struct imap_bodystructure *bs = BS(
		"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 1 NIL "
		"(\"attachment\" (\"filename\" \"a.txt\")) \"de\")"
		"(\"application\" \"pdf\" NIL NIL NIL \"base64\" 4 NIL (\"attachment\" NIL))"
		"(\"application\" \"zip\" NIL NIL NIL \"base64\" 4 \"md5\")"
		"(\"image\" \"png\" NIL NIL NIL \"base64\" 4)"
		"(\"audio\" \"ogg\" NIL NIL NIL \"base64\" 4 NIL NIL NIL \"loc\" \"x\" 1 (\"y\" (2 3)))"
		" \"mixed\" (\"boundary\" \"b\"))");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:application/pdf 3:application/zip "
			   "4:image/png 5:audio/ogg");
	const struct imap_body_part *t = part(bs, "1");
	expect_str(t->disposition, "attachment", "1 disposition");
	cr_assert_eq(t->nlanguage, 1);
	expect_str(t->language[0], "de", "1 language");
	cr_expect_null(t->location);
	expect_str(part(bs, "2")->disposition, "attachment", "2 disposition");
	cr_expect_eq(part(bs, "2")->ndsp_params, 0);
	expect_str(part(bs, "3")->md5, "md5", "3 md5");
	cr_expect_null(part(bs, "3")->disposition);
	cr_expect_null(part(bs, "4")->md5);
	expect_str(part(bs, "5")->location, "loc", "5 location");
	expect_params(bs->root.params, bs->root.nparams, "boundary=b", "root");
	cr_expect_null(bs->root.disposition);
	imap_bodystructure_free(&bs);

	/* Multipart extension data with more than RFC 3501 lists. */
	bs = BS("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1) \"mixed\" (\"boundary\" \"b\") "
		"(\"inline\" NIL) (\"en\") \"where\" \"ext\" (1 (2)) NIL)");
	expect_str(bs->root.disposition, "inline", "root disposition");
	expect_str(bs->root.location, "where", "root location");
	imap_bodystructure_free(&bs);
}

/* NIL where a string is expected: type and subtype get the RFCs'
 * defaults; other fields are absent. */
Test(bodystructure, nil_type_and_subtype)
{
	struct imap_bodystructure *bs = BS(
		"((NIL NIL NIL NIL NIL \"7BIT\" 563 NIL NIL NIL NIL)"
		"(NIL \"pdf\" NIL NIL NIL \"base64\" 10 NIL NIL NIL NIL)"
		"(\"text\" NIL NIL NIL NIL NIL 5 1)"
		"(\"image\" NIL NIL NIL NIL NIL 5)"
		"(\"\" \"\" NIL NIL NIL NIL 5)"
		"(\"multipart\" NIL NIL NIL NIL NIL 5)"
		" NIL NIL)");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:application/octet-stream 3:text/plain "
			   "4:application/octet-stream 5:text/plain 6:multipart/mixed");
	cr_expect_null(part(bs, "3")->encoding);
	cr_expect_eq(part(bs, "1")->size, 563);
	cr_expect_eq(part(bs, "6")->kind, IMAP_BODY_SINGLE);
	cr_expect_eq(bs->root.nparams, 0);
	cr_expect_null(bs->root.params);
	imap_bodystructure_free(&bs);
}

/* A single part without its subtype ("TEXT" ("CHARSET" …) …) is read one
 * field early; a multipart without one is multipart/mixed. */
Test(bodystructure, missing_subtypes)
{
	struct imap_bodystructure *bs = BS(
		"((\"TEXT\" (\"CHARSET\" \"windows-1251\") NIL NIL \"base64\" 356 5)"
		"(\"APPLICATION\" (\"NAME\" \"x.bin\") NIL NIL \"base64\" 78 NIL (\"attachment\" NIL))"
		" (\"BOUNDARY\" \"--cd49\") NIL NIL)");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:application/octet-stream");
	const struct imap_body_part *t = part(bs, "1");
	expect_params(t->params, t->nparams, "charset=windows-1251", "params");
	expect_str(t->encoding, "base64", "encoding");
	cr_expect_eq(t->size, 356);
	cr_expect_eq(t->lines, 5);
	const struct imap_body_part *a = part(bs, "2");
	cr_expect_eq(a->size, 78);
	expect_str(a->disposition, "attachment", "disposition");
	expect_str(a->filename, "x.bin", "filename");
	expect_params(bs->root.params, bs->root.nparams, "boundary=--cd49", "root params");
	imap_bodystructure_free(&bs);
}

/* Gmail's empty multiparts: (subtype params …) with no parts. */
Test(bodystructure, empty_multipart)
{
	struct imap_bodystructure *bs = BS(
		"(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL \"BASE64\" 104 2 NIL NIL NIL)"
		"(\"TEXT\" \"HTML\" (\"CHARSET\" \"UTF-8\") NIL NIL \"BASE64\" 344 5 NIL NIL NIL) "
		"\"ALTERNATIVE\" (\"BOUNDARY\" \"alt\") NIL NIL)"
		"(\"RELATED\" NIL (\"ATTACHMENT\" NIL) NIL)(\"RELATED\" NIL (\"ATTACHMENT\" NIL) NIL) "
		"\"MIXED\" (\"BOUNDARY\" \"mix\") NIL NIL)");
	expect_outline(bs, "-:multipart/mixed 1:multipart/alternative 1.1:text/plain 1.2:text/html "
			   "2:multipart/related 3:multipart/related");
	const struct imap_body_part *r = part(bs, "2");
	cr_expect_eq(r->kind, IMAP_BODY_MULTIPART);
	cr_expect_eq(r->nchildren, 0);
	cr_expect_null(r->children);
	expect_str(r->disposition, "attachment", "disposition");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1.1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1.2");
	expect_attachments(bs, "2|-|multipart/related|attachment|a|-|0|0\n"
			       "3|-|multipart/related|attachment|a|-|0|0");
	imap_bodystructure_free(&bs);

	/* Enclosed by a message part: a multipart, so it shares its number. */
	bs = BS("(" PLAIN "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 5 " ENV
		" (\"ALTERNATIVE\" (\"BOUNDARY\" \"x\")) 1) \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822 2:multipart/alternative");
	cr_expect_null(imap_bodystructure_find(bs, "2.1"));
	imap_bodystructure_free(&bs);

	/* As the root. */
	bs = BS("(\"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL)");
	expect_outline(bs, "-:multipart/mixed");
	cr_expect_eq(part(bs, "")->nchildren, 0);
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);
}

/* body-fld-dsp in the shapes servers really send. */
Test(bodystructure, odd_dispositions)
{
	struct imap_bodystructure *bs = BS(
		"((\"text\" \"plain\" NIL NIL NIL \"qp\" 850 31 NIL \"inline\" NIL NIL)"
		"(\"text\" \"html\" NIL NIL NIL \"qp\" 850 31 NIL \"INLINE\")"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL (NIL NIL) NIL NIL)"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL \"a description\" NIL NIL)"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL (\"attachment\") NIL NIL)"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL (\"attachment\" \"x\") NIL NIL)"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL ((\"x\") NIL) NIL NIL)"
		"(\"application\" \"msword\" NIL NIL NIL \"base64\" 4 NIL (\"\" NIL) NIL NIL)"
		"(\"image\" \"png\" NIL NIL NIL \"base64\" 4 NIL NIL (\"inline\" NIL) NIL)"
		"(\"image\" \"png\" NIL NIL NIL \"base64\" 4 NIL NIL (\"en\" \"de\") NIL)"
		" \"mixed\" (\"boundary\" \"b\") \"Multipart message\" NIL)");
	expect_str(part(bs, "1")->disposition, "inline", "bare string");
	expect_str(part(bs, "2")->disposition, "inline", "bare upper-case string");
	cr_expect_null(part(bs, "3")->disposition, "(NIL NIL)");
	cr_expect_null(part(bs, "4")->disposition, "a string that is no token");
	expect_str(part(bs, "5")->disposition, "attachment", "list of one");
	expect_str(part(bs, "6")->disposition, "attachment", "string for params");
	cr_expect_eq(part(bs, "6")->ndsp_params, 0);
	cr_expect_null(part(bs, "7")->disposition, "list for the type");
	cr_expect_null(part(bs, "8")->disposition, "empty type");
	/* ("inline" NIL) in the language's place after a NIL disposition */
	expect_str(part(bs, "9")->disposition, "inline", "swapped");
	cr_expect_eq(part(bs, "9")->nlanguage, 0);
	cr_expect_null(part(bs, "10")->disposition);
	cr_expect_eq(part(bs, "10")->nlanguage, 2);
	cr_expect_null(bs->root.disposition, "a description in the multipart's dsp place");
	imap_bodystructure_free(&bs);
}

/* Text without body-fld-lines; message/rfc822 without envelope and body;
 * negative or absurd numbers; a literal for a string. */
Test(bodystructure, missing_and_bad_numbers)
{
	struct imap_bodystructure *bs = BS(
		"((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 (\"attachment\" (\"filename\" \"t.txt\")) NIL)"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 40 NIL NIL NIL)"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 40 NIL \"x\" 3)"
		"(\"multipart\" \"digest\" (\"boundary\" \"d\") NIL NIL \"7BIT\" -1 NIL NIL NIL NIL)"
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 99999999999999999999999 x)"
		"({5}\r\nimage \"gif\" NIL NIL NIL \"base64\" 12abc)"
		" \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822 3:message/rfc822 "
			   "4:multipart/digest 5:text/plain 6:image/gif");
	const struct imap_body_part *t = part(bs, "1");
	cr_expect_eq(t->lines, 0);
	expect_str(t->disposition, "attachment", "disposition read one place early");
	expect_str(t->filename, "t.txt", "filename");
	cr_expect_eq(part(bs, "2")->kind, IMAP_BODY_SINGLE);
	cr_expect_eq(part(bs, "3")->kind, IMAP_BODY_SINGLE);
	expect_str(part(bs, "3")->disposition, "x", "a token where body-fld-dsp is");
	cr_expect_eq(part(bs, "4")->kind, IMAP_BODY_SINGLE);
	cr_expect_eq(part(bs, "4")->size, 0);
	cr_expect_eq(part(bs, "5")->size, 0);
	cr_expect_eq(part(bs, "5")->lines, 0);
	cr_expect_eq(part(bs, "6")->size, 0);
	expect_attachments(bs, "1|t.txt|text/plain|attachment|a|-|10|10\n"
			       "2|-|message/rfc822|-|a|-|40|40\n"
			       "3|-|message/rfc822|x|a|-|40|40\n"
			       "6|-|image/gif|-|a|-|0|0");  /* 4: an empty multipart leaf */
	imap_bodystructure_free(&bs);
}

static void expect_not_body(const char *text, size_t len)
{
	struct imap_bodystructure *bs = (struct imap_bodystructure *)1;
	struct imap_error err = {0};
	cr_expect_eq(bs_from(text, len, &bs, &err), IMAP_ERR_PROTOCOL, "%.*s", (int)len, text);
	cr_expect_null(bs);
	cr_expect_eq(err.code, IMAP_ERR_PROTOCOL);
	cr_expect_neq(err.msg[0], '\0');
}

#define NOT_BODY(text) expect_not_body((text), sizeof(text) - 1)

Test(bodystructure, not_a_body)
{
	NOT_BODY("NIL");
	NOT_BODY("\"text\"");
	NOT_BODY("()");
	NOT_BODY("(\"text\")");
	NOT_BODY("(\"text\" \"plain\")");
	NOT_BODY("(NIL)");
	NOT_BODY("(1 2 3 4 5 6 7)");
	struct imap_bodystructure *bs = (struct imap_bodystructure *)1;
	cr_expect_eq(imap_bodystructure_parse(NULL, &bs, NULL), IMAP_ERR_PROTOCOL);
	cr_expect_null(bs);
}

/* "(" * n + leaf + (" \"mixed\")" * n): n nested multiparts. */
static void nested_multiparts(unsigned n, struct imap_buf *b)
{
	for (unsigned i = 0; i < n; i++)
		imap_buf_putc(b, '(');
	imap_buf_puts(b, "(\"image\" \"png\" NIL NIL NIL \"base64\" 4)");
	for (unsigned i = 0; i < n; i++)
		imap_buf_puts(b, " \"mixed\")");
}

Test(bodystructure, depth_limit)
{
	/* IMAP_BODY_DEPTH_MAX multiparts: the leaf is at the deepest depth allowed. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	nested_multiparts(IMAP_BODY_DEPTH_MAX, &b);
	struct imap_bodystructure *bs = bs_ok(b.data, b.len);
	cr_expect_eq(bs->nparts, IMAP_BODY_DEPTH_MAX + 1);
	struct imap_buf want;
	imap_buf_init(&want, 0);
	for (unsigned i = 1; i < IMAP_BODY_DEPTH_MAX; i++)
		imap_buf_printf(&want, "%s1", i > 1 ? "." : "");
	const struct imap_body_part *leaf = part(bs, want.data);
	cr_expect_eq(leaf->kind, IMAP_BODY_MULTIPART);
	cr_assert_eq(leaf->nchildren, 1);
	imap_buf_puts(&want, ".1");
	expect_str(leaf->children[0].section, want.data, "deepest section");
	expect_str(leaf->children[0].type, "image", "deepest type");
	cr_expect_eq(imap_bodystructure_find(bs, want.data), &leaf->children[0]);
	imap_buf_puts(&want, "|-|image/png|-|a|-|4|1");
	expect_attachments(bs, want.data);
	imap_bodystructure_free(&bs);

	/* One more is refused. */
	imap_buf_reset(&b, 0);
	nested_multiparts(IMAP_BODY_DEPTH_MAX + 1, &b);
	struct imap_error err = {0};
	cr_expect_eq(bs_from(b.data, b.len, &bs, &err), IMAP_ERR_LIMIT);
	cr_expect_null(bs);
	cr_expect_eq(err.code, IMAP_ERR_LIMIT);

	/* Messages count as nesting too: a chain of message/rfc822 parts. */
	for (unsigned n = IMAP_BODY_DEPTH_MAX; n <= IMAP_BODY_DEPTH_MAX + 1; n++) {
		imap_buf_reset(&b, 0);
		for (unsigned i = 0; i < n; i++)
			imap_buf_puts(&b, "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 9 NIL ");
		imap_buf_puts(&b, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)");
		for (unsigned i = 0; i < n; i++)
			imap_buf_puts(&b, " 1)");
		int rc = bs_from(b.data, b.len, &bs, NULL);
		cr_expect_eq(rc, n == IMAP_BODY_DEPTH_MAX ? 0 : IMAP_ERR_LIMIT, "%u messages", n);
		if (rc == 0) {
			/* the innermost text: "1" followed by n ".1" */
			imap_buf_reset(&want, 0);
			imap_buf_puts(&want, "1");
			for (unsigned i = 0; i < n; i++)
				imap_buf_puts(&want, ".1");
			cr_expect(imap_body_section_valid(want.data, want.len));
			const struct imap_body_part *t = imap_bodystructure_find(bs, want.data);
			cr_assert_not_null(t, "%s", want.data);
			expect_str(t->type, "text", "innermost");
			imap_bodystructure_free(&bs);
		}
	}
	imap_buf_free(&want);
	imap_buf_free(&b);
}

Test(bodystructure, parts_limit)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	/* The root and IMAP_BODY_PARTS_MAX - 1 parts fit. */
	for (unsigned n = IMAP_BODY_PARTS_MAX - 1; n <= IMAP_BODY_PARTS_MAX; n++) {
		imap_buf_reset(&b, 0);
		imap_buf_putc(&b, '(');
		for (unsigned i = 0; i < n; i++)
			imap_buf_puts(&b, "(\"image\" \"png\" NIL NIL NIL \"base64\" 4)");
		imap_buf_puts(&b, " \"mixed\")");
		struct imap_bodystructure *bs = NULL;
		int rc = bs_from(b.data, b.len, &bs, NULL);
		cr_expect_eq(rc, n < IMAP_BODY_PARTS_MAX ? 0 : IMAP_ERR_LIMIT, "%u parts", n);
		if (rc == 0) {
			cr_expect_eq(bs->nparts, IMAP_BODY_PARTS_MAX);
			char last[16];
			snprintf(last, sizeof last, "%u", n);
			cr_expect_not_null(imap_bodystructure_find(bs, last));
			imap_bodystructure_free(&bs);
		}
	}
	imap_buf_free(&b);
}

/* ---- section strings ---- */

Test(bodystructure, section_valid)
{
	static const char *const good[] = {"1", "9", "10", "1.2", "3.1.2", "123456789", "1.10.100"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_expect(imap_body_section_valid(good[i], strlen(good[i])), "%s", good[i]);
	static const char *const bad[] = {"", "0", "01", "1.0", "1.", ".1", "1..2", "1.a", "a",
					  "1.HEADER", "1.MIME", " 1", "1 ", "-1", "+1", "1,2",
					  "1234567890", "1/2", "1.2.", "TEXT"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_not(imap_body_section_valid(bad[i], strlen(bad[i])), "\"%s\"", bad[i]);
	cr_expect_not(imap_body_section_valid(NULL, 0));
	cr_expect_not(imap_body_section_valid("1\0" "2", 3));
	cr_expect(imap_body_section_valid("12", 1), "only len bytes are read");

	/* IMAP_SECTION_DEPTH_MAX numbers, not one more. */
	struct imap_buf b;
	imap_buf_init(&b, 0);
	for (unsigned i = 0; i < IMAP_SECTION_DEPTH_MAX; i++)
		imap_buf_puts(&b, i ? ".1" : "1");
	cr_expect(imap_body_section_valid(b.data, b.len));
	imap_buf_puts(&b, ".1");
	cr_expect_not(imap_body_section_valid(b.data, b.len));

	/* IMAP_SECTION_LEN_MAX bytes, not one more. */
	imap_buf_reset(&b, 0);
	while (b.len + 10 <= IMAP_SECTION_LEN_MAX)
		imap_buf_puts(&b, b.len ? ".123456789" : "123456789");
	while (b.len < IMAP_SECTION_LEN_MAX)
		imap_buf_puts(&b, b.len + 2 <= IMAP_SECTION_LEN_MAX ? ".1" : "1");
	cr_assert_eq(b.len, IMAP_SECTION_LEN_MAX);
	cr_expect(imap_body_section_valid(b.data, b.len));
	imap_buf_putc(&b, '1');
	cr_expect_not(imap_body_section_valid(b.data, b.len));
	imap_buf_free(&b);
}

/* ---- corpus ---- */

#define NEED_CORPUS(dir) TEST_NEED_CORPUS(dir, "imap")

/* Read dir/name into out, bare LF -> CRLF (the corpus stores LF). */
static void read_crlf(const char *dir, const char *name, struct imap_buf *out)
{
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	int c, prev = 0;
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n' && prev != '\r')
			imap_buf_putc(out, '\r');
		imap_buf_putc(out, (char)c);
		prev = c;
	}
	fclose(f);
}

/* A MailKit fragment: the file is one BODYSTRUCTURE value. */
static struct imap_bodystructure *corpus_fragment(const char *dir, const char *name)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	read_crlf(dir, name, &b);
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.len--;
	cr_assert_gt(b.len, 0, "%s is empty", name);
	struct imap_bodystructure *bs = bs_ok(b.data, b.len);
	imap_buf_free(&b);
	return bs;
}

/* A Dovecot expectation file: "BODYSTRUCTURE <contents>" and
 * "BODY <contents>" lines, the contents without their outer parentheses.
 * Returns the tree of the line starting with `item`. */
static struct imap_bodystructure *corpus_dovecot(const char *dir, const char *name,
						  const char *item)
{
	struct imap_buf b, line;
	imap_buf_init(&b, 0);
	imap_buf_init(&line, 0);
	read_crlf(dir, name, &b);
	size_t ilen = strlen(item);
	const char *s = b.data;
	struct imap_bodystructure *bs = NULL;
	while (s && *s) {
		const char *eol = strstr(s, "\r\n");
		size_t len = eol ? (size_t)(eol - s) : strlen(s);
		if (len > ilen && memcmp(s, item, ilen) == 0 && s[ilen] == ' ') {
			imap_buf_putc(&line, '(');
			imap_buf_append(&line, s + ilen + 1, len - ilen - 1);
			imap_buf_putc(&line, ')');
			bs = bs_ok(line.data, line.len);
			break;
		}
		s = eol ? eol + 2 : NULL;
	}
	cr_assert_not_null(bs, "%s has no %s line", name, item);
	imap_buf_free(&line);
	imap_buf_free(&b);
	return bs;
}

/* Every BODYSTRUCTURE fragment and Dovecot expectation in the corpus has
 * a test here, and every one of them parses. */
Test(bodystructure, corpus_files_all_covered)
{
	NEED_CORPUS(dir);
	static const char *const known[] = {
		"mkit-ImapUtilsTests-TestParseBadlyFormedBodyStructureWithCompletelyNilBodyParts2.txt",
		"mkit-ImapUtilsTests-TestParseBadlyFormedBodyStructureWithMissingMediaSubtypeText.txt",
		"mkit-ImapUtilsTests-TestParseBodyStructureWithBodyExtensions.txt",
		"mkit-ImapUtilsTests-TestParseBodyStructureWithContentMd5DspLanguageAndLocation.txt",
		"mkit-ImapUtilsTests-TestParseBodyStructureWithNilNilBodyFldDsp.txt",
		"mkit-ImapUtilsTests-TestParseExampleMultiLevelDovecotBodyStructure.txt",
		"mkit-ImapUtilsTests-TestParseGMailBadlyFormedMultipartBodyStructure.txt",
		"mkit-ImapUtilsTests-TestParseMultipartBodyStructureWithNilBodyFldParam.txt",
		"mkit-ImapUtilsTests-TestParseMultipartBodyStructureWithoutBodyFldDsp.txt",
		"dc-bodystructure-00.expected.txt",
		"dc-bodystructure-01.expected.txt",
		"dc-bodystructure-03.expected.txt",
		"dc-bodystructure-04.expected.txt",
		"dc-bodystructure-06.expected.txt",
	};
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *de;
	size_t found = 0;
	while ((de = readdir(d))) {
		bool mkit = strncmp(de->d_name, "mkit-ImapUtilsTests-", 20) == 0 &&
			    strstr(de->d_name, "BodyStructure");
		bool dc = strncmp(de->d_name, "dc-bodystructure-", 17) == 0 &&
			  strstr(de->d_name, ".expected.txt");
		if (!mkit && !dc)
			continue;
		found++;
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok = ok || strcmp(de->d_name, known[i]) == 0;
		cr_expect(ok, "corpus file %s has no test here", de->d_name);
		struct imap_bodystructure *bs = NULL;
		if (mkit) {
			bs = corpus_fragment(dir, de->d_name);
		} else {
			bs = corpus_dovecot(dir, de->d_name, "BODYSTRUCTURE");
			imap_bodystructure_free(&bs);
			bs = corpus_dovecot(dir, de->d_name, "BODY");
		}
		imap_bodystructure_free(&bs);
	}
	closedir(d);
	cr_expect_eq(found, sizeof known / sizeof known[0]);
}

/* Exchange/Gmail: a multipart/report whose first part has NIL type and
 * subtype, and an attached message with a related HTML body. */
Test(bodystructure, corpus_mkit_completely_nil_body_parts)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseBadlyFormedBodyStructureWithCompletelyNilBodyParts2.txt");
	expect_outline(bs, "-:multipart/report 1:text/plain 2:message/delivery-status "
			   "3:message/rfc822 3:multipart/mixed 3.1:multipart/alternative "
			   "3.1.1:text/plain 3.1.2:multipart/related 3.1.2.1:text/html "
			   "3.1.2.2:image/png 3.1.2.3:image/png 3.1.2.4:image/png 3.1.2.5:image/png "
			   "3.1.2.6:image/png 3.2:application/pdf");
	expect_params(bs->root.params, bs->root.nparams,
		      "report-type=delivery-status;"
		      "boundary=272F16D4031920.1659452466/hermes.gatewaynet.com",
		      "root params");
	const struct imap_body_part *first = part(bs, "1");
	cr_expect_eq(first->size, 563);
	expect_str(first->encoding, "7bit", "encoding");
	cr_expect_eq(part(bs, "3")->size, 0);
	expect_params(part(bs, "3.1.2")->params, part(bs, "3.1.2")->nparams,
		      "boundary==-5nEE2FIlRoeXkJyZAHV8UA==;type=text/html", "related params");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "");
	const struct imap_body_part *inner = &part(bs, "3")->children[0];
	expect_text(inner, IMAP_TEXT_PLAIN, "3.1.1");
	expect_text(inner, IMAP_TEXT_HTML, "3.1.2.1");
	expect_attachments(bs,
		"2|-|message/delivery-status|-|a|-|658|658\n"
		"3|-|message/rfc822|-|a|-|0|0\n"
		"3.1.2.2|0.dat|image/png|inline|i|<1KWGPFNLIHU4.4RR7HCVM8MQQ1@OUR-SERVER>|14172|10356\n"
		"3.1.2.3|1.dat|image/png|inline|i|<1KWGPFNLIHU4.UWJ8R86RE2KA2@OUR-SERVER>|486|354\n"
		"3.1.2.4|2.dat|image/png|inline|i|<1KWGPFNLIHU4.EC7HN124OJC32@OUR-SERVER>|506|369\n"
		"3.1.2.5|3.dat|image/png|inline|i|<1KWGPFNLIHU4.WM1ALJTG745F1@OUR-SERVER>|616|450\n"
		"3.1.2.6|4.dat|image/png|inline|i|<1KWGPFNLIHU4.1B42S5EVSF4B2@OUR-SERVER>|22470|16419\n"
		"3.2|Reminder.pdf|application/pdf|attachment|a|<RJ2DSFNLIHU4.UUVSNNY5Z3ER@OUR-SERVER>|"
		"359650|262821");
	expect_str(part(bs, "3.1.2.6")->location, "4.dat", "location");
	imap_bodystructure_free(&bs);
}

Test(bodystructure, corpus_mkit_missing_media_subtype)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseBadlyFormedBodyStructureWithMissingMediaSubtypeText.txt");
	expect_outline(bs, "-:multipart/mixed 1:text/plain");
	const struct imap_body_part *t = part(bs, "1");
	expect_params(t->params, t->nparams, "charset=windows-1251", "params");
	expect_str(t->encoding, "base64", "encoding");
	cr_expect_eq(t->size, 356);
	cr_expect_eq(t->lines, 5);
	expect_params(bs->root.params, bs->root.nparams,
		      "boundary=--cd49a2f5ed4ed0cbb6f9f1c7f125541f", "root params");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);
}

/* Extension data everywhere, a literal among it, and unknown extension
 * fields after body-fld-loc. */
Test(bodystructure, corpus_mkit_body_extensions)
{
	NEED_CORPUS(dir);
	static const char *const files[] = {
		"mkit-ImapUtilsTests-TestParseBodyStructureWithBodyExtensions.txt",
		"mkit-ImapUtilsTests-TestParseBodyStructureWithContentMd5DspLanguageAndLocation.txt",
	};
	for (size_t i = 0; i < 2; i++) {
		struct imap_bodystructure *bs = corpus_fragment(dir, files[i]);
		expect_outline(bs, "-:multipart/alternative 1:text/plain 2:text/html");
		const struct imap_body_part *r = &bs->root;
		expect_str(r->disposition, "inline", "root disposition");
		expect_params(r->dsp_params, r->ndsp_params, "filename=alternative.txt", "root dsp");
		expect_str(r->filename, "alternative.txt", "root filename");
		cr_assert_eq(r->nlanguage, 1);
		expect_str(r->language[0], "en", "root language");
		expect_str(r->location, "http://www.google.com/alternative.txt", "root location");
		const struct imap_body_part *t = part(bs, "1");
		expect_str(t->md5, "md5sum", "md5");
		expect_str(t->disposition, "inline", "disposition");
		expect_str(t->filename, "body.txt", "filename");
		cr_expect_eq(t->size, 28);
		cr_expect_eq(t->lines, 2);
		expect_str(t->location, i == 0 ? "body.txt" : "http://www.google.com/body.txt",
			   "location");
		const struct imap_body_part *h = part(bs, "2");
		expect_str(h->filename, "body.html", "html filename");
		expect_str(h->location, "http://www.google.com/body.html", "html location");
		cr_expect_eq(h->size, 1707);
		cr_expect_eq(h->lines, 65);
		/* Named alternatives are still the body, not attachments. */
		expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
		expect_text(&bs->root, IMAP_TEXT_HTML, "2");
		expect_attachments(bs, "");
		imap_bodystructure_free(&bs);
	}
}

/* Exchange's (NIL NIL) body-fld-dsp. */
Test(bodystructure, corpus_mkit_nil_nil_dsp)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs =
		corpus_fragment(dir, "mkit-ImapUtilsTests-TestParseBodyStructureWithNilNilBodyFldDsp.txt");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:application/msword 3:application/msword");
	expect_str(part(bs, "1")->description, "Mail message body", "description");
	cr_expect_null(part(bs, "1")->disposition);
	cr_expect_null(part(bs, "2")->disposition);
	cr_expect_eq(part(bs, "2")->ndsp_params, 0);
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "2|-|application/msword|-|a|-|50446|36864\n"
			       "3|PREIS ANSPRUCHS FORMULAR.doc|application/msword|attachment|a|-|45544|33282");
	imap_bodystructure_free(&bs);
}

/* Dovecot: attached messages with a single-part and a multipart body,
 * languages, ("attachment" NIL). */
Test(bodystructure, corpus_mkit_multi_level_dovecot)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseExampleMultiLevelDovecotBodyStructure.txt");
	expect_outline(bs, "-:multipart/mixed 1:multipart/alternative 1.1:text/plain 1.2:text/html "
			   "2:message/rfc822 2.1:text/plain 3:message/rfc822 3:multipart/alternative "
			   "3.1:text/plain 3.2:text/html");
	cr_assert_eq(bs->root.nlanguage, 1);
	expect_str(bs->root.language[0], "cs", "root language");
	cr_assert_eq(part(bs, "2.1")->nlanguage, 1);
	cr_expect_eq(part(bs, "2")->lines, 31);
	cr_expect_eq(part(bs, "3")->lines, 1669);
	cr_expect_eq(part(bs, "3")->size, 50592);
	expect_str(part(bs, "2")->disposition, "attachment", "disposition");
	cr_expect_eq(part(bs, "2")->ndsp_params, 0);
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1.1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1.2");
	expect_text(&part(bs, "3")->children[0], IMAP_TEXT_HTML, "3.2");
	expect_attachments(bs, "2|-|message/rfc822|attachment|a|-|641|641\n"
			       "3|-|message/rfc822|attachment|a|-|50592|50592");
	imap_bodystructure_free(&bs);
}

/* Gmail: an empty multipart/alternative, and a named HTML body. */
Test(bodystructure, corpus_mkit_gmail_badly_formed_multipart)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseGMailBadlyFormedMultipartBodyStructure.txt");
	expect_outline(bs, "-:multipart/alternative 1:multipart/alternative 2:text/html");
	const struct imap_body_part *empty = part(bs, "1");
	cr_expect_eq(empty->nchildren, 0);
	expect_params(empty->params, empty->nparams, "boundary===alternative_xad5934455aeex", "params");
	const struct imap_body_part *h = part(bs, "2");
	expect_params(h->params, h->nparams, "charset=iso-8859-1;name=seti_letter.html", "html params");
	expect_str(h->filename, "seti_letter.html", "filename");
	cr_expect_eq(h->lines, 171);
	expect_text(&bs->root, IMAP_TEXT_HTML, "2");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);
}

/* A zip that the server took for a multipart with an attachment
 * disposition: one attachment, its insides not listed. */
Test(bodystructure, corpus_mkit_nil_body_fld_param)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseMultipartBodyStructureWithNilBodyFldParam.txt");
	expect_outline(bs, "-:multipart/mixed 1:multipart/alternative 1.1:text/plain 1.2:text/html "
			   "2:multipart/x-zip 2.1:text/plain");
	const struct imap_body_part *z = part(bs, "2");
	cr_expect_eq(z->nparams, 0);
	expect_str(z->disposition, "attachment", "disposition");
	expect_str(z->filename, "YSOZ 265230.ZIP", "filename");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1.1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1.2");
	expect_attachments(bs, "2|YSOZ 265230.ZIP|multipart/x-zip|attachment|a|-|0|0");
	imap_bodystructure_free(&bs);
}

/* A description where the multipart's body-fld-dsp belongs; named inline
 * parts of a multipart/mixed. */
Test(bodystructure, corpus_mkit_without_body_fld_dsp)
{
	NEED_CORPUS(dir);
	struct imap_bodystructure *bs = corpus_fragment(
		dir, "mkit-ImapUtilsTests-TestParseMultipartBodyStructureWithoutBodyFldDsp.txt");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:text/xml 3:application/pdf");
	cr_expect_null(bs->root.disposition);
	const struct imap_body_part *t = part(bs, "1");
	expect_str(t->description, "Message text", "description");
	expect_str(t->encoding, "quoted-printable", "encoding");
	expect_str(t->disposition, "inline", "disposition");
	cr_expect_eq(t->ndsp_params, 0);
	expect_str(part(bs, "2")->description, "4441004299066.xml", "xml description");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "2|4441004299066.xml|text/xml|inline|i|-|10642|7776\n"
			       "3|4441004299066.pdf|application/pdf|inline|i|-|48448|35403");
	imap_bodystructure_free(&bs);
}

/* Dovecot's expected BODYSTRUCTURE and BODY of its test messages. */
Test(bodystructure, corpus_dovecot_expected)
{
	NEED_CORPUS(dir);
	static const struct {
		const char *file, *outline, *plain;
	} cases[] = {
		{"dc-bodystructure-00.expected.txt", "1:text/plain", "1"},
		{"dc-bodystructure-01.expected.txt", "1:text/plain", "1"},
		{"dc-bodystructure-03.expected.txt",
		 "-:multipart/mixed 1:text/plain 2:message/rfc822 2.1:text/plain", "1"},
		{"dc-bodystructure-04.expected.txt",
		 "-:multipart/mixed 1:text/plain 2:message/rfc822 2.1:text/plain", "1"},
		{"dc-bodystructure-06.expected.txt",
		 "-:multipart/mixed 1:text/x-myown 2:message/rfc822 2:multipart/alternative "
		 "2.1:text/html 2.2:text/plain", ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int body = 0; body < 2; body++) {
			struct imap_bodystructure *bs =
				corpus_dovecot(dir, cases[i].file, body ? "BODY" : "BODYSTRUCTURE");
			expect_outline(bs, cases[i].outline);
			expect_text(&bs->root, IMAP_TEXT_PLAIN, cases[i].plain);
			if (strcmp(cases[i].file, "dc-bodystructure-04.expected.txt") == 0) {
				expect_str(part(bs, "1")->id, "<A.frop.example.com>", "id");
				expect_str(part(bs, "1")->description, "Container message", "desc");
				expect_str(part(bs, "2")->id, "<B.frop.example.com>", "2 id");
				expect_str(part(bs, "2")->description, "Forwarded", "2 desc");
				cr_expect_eq(part(bs, "2")->size, 133);
				cr_expect_eq(part(bs, "2")->lines, 6);
				expect_params(bs->root.params, bs->root.nparams,
					      body ? "" : "boundary=foo bar", "root params");
				expect_attachments(bs, "2|-|message/rfc822|-|a|<B.frop.example.com>|133|133");
			}
			if (strcmp(cases[i].file, "dc-bodystructure-01.expected.txt") == 0) {
				expect_params(bs->root.params, bs->root.nparams, "charset=utf-8", "params");
				expect_str(bs->root.encoding, "8bit", "encoding");
				cr_expect_eq(bs->root.size, 8);
				cr_expect_eq(bs->root.lines, 2);
			}
			imap_bodystructure_free(&bs);
		}
	}
}

/* Every BODYSTRUCTURE and BODY in the corpus's FETCH transcripts (and
 * imaptest scripts) parses; the counts per file are what the files hold. */
Test(bodystructure, corpus_fetch_transcripts)
{
	NEED_CORPUS(dir);
	static const struct {
		const char *file;
		size_t n;
	} want[] = {
		{"mkit-dovecot-fetch3.txt", 14},
		{"mkit-dovecot-notify-idle.txt", 1},
		{"mkit-gmail-fetch-previewtext-bodystructure.txt", 7},
		{"dit-fetch-bodystructure.imaptest", 1},
		{"ic-rfc3501-transcript.txt", 1},
	};
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *de;
	size_t total = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct imap_buf b;
		imap_buf_init(&b, 0);
		read_crlf(dir, de->d_name, &b);
		struct imap_parser *p = imap_parser_new(NULL);
		size_t pos = 0, n = 0;
		while (pos < b.len) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_feed(p, b.data + pos, b.len - pos, &used);
			pos += used;
			if (r == IMAP_PARSE_ERROR) {
				/* not a response (script lines, JSON): skip the line */
				imap_parser_reset(p);
				while (pos < b.len && b.data[pos++] != '\n')
					;
				continue;
			}
			if (r != IMAP_PARSE_DONE)
				break;
			const struct imap_response *resp = imap_parser_response(p);
			if (!resp->args || !imap_value_is_atom(imap_value_at(resp->args, 1), "FETCH"))
				continue;
			const struct imap_value *items = imap_value_at(resp->args, 2);
			const struct imap_value *v;
			size_t i;
			IMAP_LIST_FOREACH(items, v, i) {
				if (i % 2 || i + 1 >= items->count)
					continue;
				const struct imap_value *val = imap_value_next(v);
				if ((!imap_value_is_atom(v, "BODYSTRUCTURE") && !imap_value_is_atom(v, "BODY")) ||
				    val->kind != IMAP_VALUE_LIST)
					continue;
				const struct imap_value *first = imap_value_first(val);
				if (first && first->kind == IMAP_VALUE_ATOM && first->str[0] == '$')
					continue; /* an imaptest variable: "body ($!unordered)" */
				struct imap_bodystructure *bs = NULL;
				struct imap_error err = {0};
				cr_expect_eq(imap_bodystructure_parse(val, &bs, &err), 0, "%s: %s",
					     de->d_name, err.msg);
				n++;
				imap_bodystructure_free(&bs);
			}
		}
		imap_parser_free(&p);
		imap_buf_free(&b);
		for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
			if (strcmp(de->d_name, want[i].file) == 0)
				cr_expect_eq(n, want[i].n, "%s: %zu bodies", de->d_name, n);
		total += n;
	}
	closedir(d);
	cr_expect_eq(total, 24, "%zu bodies in all", total);
}

/* Gmail's FETCH answers: no body-fld-loc, upper case, an audio part. */
Test(bodystructure, corpus_gmail_fetch)
{
	NEED_CORPUS(dir);
	struct imap_buf b;
	imap_buf_init(&b, 0);
	read_crlf(dir, "mkit-gmail-fetch-previewtext-bodystructure.txt", &b);
	static const char *const outlines[] = {
		"1:text/plain", "1:text/html", "-:multipart/alternative 1:text/plain 2:text/html",
		"1:text/plain", "1:text/html", "-:multipart/alternative 1:text/plain 2:text/html",
		"1:audio/wav",
	};
	struct imap_parser *p = imap_parser_new(NULL);
	size_t pos = 0, n = 0;
	while (pos < b.len) {
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(p, b.data + pos, b.len - pos, &used);
		pos += used;
		cr_assert_neq(r, IMAP_PARSE_ERROR, "%s", imap_parser_error(p));
		if (r != IMAP_PARSE_DONE)
			break;
		const struct imap_response *resp = imap_parser_response(p);
		const struct imap_value *items = resp->args ? imap_value_at(resp->args, 2) : NULL;
		if (!resp->args || !imap_value_is_atom(imap_value_at(resp->args, 1), "FETCH"))
			continue;
		const struct imap_value *v;
		size_t i;
		IMAP_LIST_FOREACH(items, v, i) {
			if (!imap_value_is_atom(v, "BODYSTRUCTURE"))
				continue;
			struct imap_bodystructure *bs = NULL;
			cr_assert_eq(imap_bodystructure_parse(imap_value_next(v), &bs, NULL), 0);
			cr_assert_lt(n, 7);
			expect_outline(bs, outlines[n]);
			if (n == 2) {
				expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
				expect_text(&bs->root, IMAP_TEXT_HTML, "2");
				expect_params(part(bs, "1")->params, part(bs, "1")->nparams,
					      "charset=utf-8", "params");
				expect_str(part(bs, "1")->encoding, "7bit", "encoding");
				cr_expect_eq(part(bs, "2")->lines, 873);
			}
			if (n == 6)
				expect_attachments(bs, "1|-|audio/wav|-|a|-|5235|3824");
			cr_expect_eq(imap_bodystructure_attachments(imap_value_next(v)), n == 6);
			imap_bodystructure_free(&bs);
			n++;
		}
	}
	cr_expect_eq(n, 7);
	imap_parser_free(&p);
	imap_buf_free(&b);
}

/* ---- parameters: RFC 2231 and RFC 2047 ---- */

static void params_free(struct imap_mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

/* imap_mime_param_get(name) over the pairs kv[0..] (NULL-terminated). */
static char *param(const char *const *kv, const char *name)
{
	size_t n = 0;
	while (kv[2 * n])
		n++;
	struct imap_mime_param *ps = calloc(n ? n : 1, sizeof *ps);
	cr_assert_not_null(ps);
	for (size_t i = 0; i < n; i++) {
		ps[i].name = strdup(kv[2 * i]);
		ps[i].value = strdup(kv[2 * i + 1]);
	}
	char *out = (char *)1;
	cr_assert_eq(imap_mime_param_get(ps, n, name, &out), 0);
	if (out)
		cr_expect_eq(imap_utf8_validate(out, strlen(out)), 0, "not UTF-8: %s", out);
	params_free(ps, n);
	return out;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_param(const char *const *kv, const char *name, const char *want)
{
	char *got = param(kv, name);
	expect_str(got, want, name);
	free(got);
}

Test(bodystructure, rfc2231_extended_values)
{
	/* charset'language'%XX */
	expect_param(KV("filename*", "utf-8''%E2%82%AC%20rates.txt"), "filename", "€ rates.txt");
	expect_param(KV("filename*", "iso-8859-1'en'%E9t%E9.txt"), "filename", "été.txt");
	expect_param(KV("filename*", "ISO-8859-1''caf%e9"), "filename", "café");
	/* RFC 2231's own example, with a language tag */
	expect_param(KV("title*", "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"), "title",
		     "This is ***fun***");
	/* no charset: UTF-8 when valid, else windows-1252 */
	expect_param(KV("filename*", "''caf%C3%A9.txt"), "filename", "café.txt");
	expect_param(KV("filename*", "'en'caf%E9.txt"), "filename", "café.txt");
	/* without the quotes it is all data; a bad escape stays */
	expect_param(KV("filename*", "caf%C3%A9%2.txt%"), "filename", "café%2.txt%");
	expect_param(KV("filename*", "utf-8''%zz%4"), "filename", "%zz%4");
	/* an unknown charset */
	expect_param(KV("filename*", "x-unknown''caf%E9"), "filename", "café");
	/* the extended form wins over the plain one, in either order */
	expect_param(KV("filename", "fallback.txt", "filename*", "utf-8''real.txt"), "filename",
		     "real.txt");
	expect_param(KV("filename*", "utf-8''real.txt", "filename", "fallback.txt"), "filename",
		     "real.txt");
	/* names are matched ignoring case; other parameters are not confused */
	expect_param(KV("name", "a", "filename", "b"), "FileName", "b");
	expect_param(KV("filenamex", "a", "filename*x", "b"), "filename", NULL);
	expect_param(KV("charset", "utf-8"), "filename", NULL);
}

Test(bodystructure, rfc2231_continuations)
{
	/* in order, encoded */
	expect_param(KV("filename*0*", "utf-8''caf", "filename*1*", "%C3%A9.txt"), "filename",
		     "café.txt");
	/* out of order */
	expect_param(KV("filename*2*", ".txt", "filename*1*", "%C3%A9", "filename*0*", "utf-8''caf"),
		     "filename", "café.txt");
	/* a UTF-8 character split across two segments */
	expect_param(KV("filename*0*", "utf-8''%C3", "filename*1*", "%A9t%C3", "filename*2*", "%A9"),
		     "filename", "été");
	/* encoded and plain segments mixed */
	expect_param(KV("filename*0*", "iso-8859-1''%E9", "filename*1", " plain %41.txt"),
		     "filename", "é plain %41.txt");
	/* plain segments only: read like a plain value (RFC 2047 too) */
	expect_param(KV("filename*0", "long ", "filename*1", "name.txt"), "filename", "long name.txt");
	expect_param(KV("filename*1", "?=", "filename*0", "=?utf-8?q?caf=C3=A9"), "filename", "café");
	/* a gap ends the value; numbers with leading zeros or too high are ignored */
	expect_param(KV("filename*0", "a", "filename*2", "c"), "filename", "a");
	expect_param(KV("filename*0", "a", "filename*01", "b", "filename*1", "c"), "filename", "ac");
	expect_param(KV("filename*0", "a", "filename*99", "z"), "filename", "a");
	expect_param(KV("filename*1", "b"), "filename", NULL);
	expect_param(KV("filename*1", "b", "filename", "plain"), "filename", "plain");
	/* the first of duplicates counts */
	expect_param(KV("filename*0", "a", "filename*0", "b"), "filename", "a");
	/* 64 segments are read */
	struct imap_buf names, want;
	imap_buf_init(&names, 0);
	imap_buf_init(&want, 0);
	const char *kv[2 * 65 + 1] = {0};
	char name_store[65][16];
	for (int i = 0; i < 65; i++) {
		snprintf(name_store[i], sizeof name_store[i], "filename*%d", i);
		kv[2 * i] = name_store[i];
		kv[2 * i + 1] = "x";
		if (i < 64)
			imap_buf_putc(&want, 'x');
	}
	char *got = param(kv, "filename");
	expect_str(got, want.data, "64 segments");
	free(got);
	imap_buf_free(&names);
	imap_buf_free(&want);
}

Test(bodystructure, rfc2047_parameter_values)
{
	expect_param(KV("name", "=?UTF-8?B?0L/RgNC40LLQtdGCLnR4dA==?="), "name", "привет.txt");
	expect_param(KV("filename", "=?iso-8859-1?Q?caf=E9.pdf?="), "filename", "café.pdf");
	expect_param(KV("filename", "=?utf-8?q?a?= =?utf-8?q?b?=.txt"), "filename", "ab.txt");
	/* raw 8-bit: UTF-8 kept, Latin-1 read as windows-1252 */
	expect_param(KV("filename", "caf\xc3\xa9"), "filename", "café");
	/* control characters become spaces in a parameter value */
	expect_param(KV("charset", "utf\t8\r\n\x01x"), "charset", "utf 8  x");
	expect_param(KV("filename*", "utf-8''a%00b%0Ac%C2%85d"), "filename", "a\xef\xbf\xbd" "b c d");
	expect_param(KV("charset", ""), "charset", "");
	/* A charset that turns one byte into up to four characters (12
	 * bytes) is not cut off: growth up to 16 times is allowed. Only the
	 * size is checked; the characters are iconv's business. */
	struct imap_buf raw;
	imap_buf_init(&raw, 0);
	imap_buf_puts(&raw, "tscii''");
	for (int i = 0; i < 20; i++)
		imap_buf_puts(&raw, "%82");
	char *big = param(KV("filename*", raw.data), "filename");
	cr_assert_not_null(big);
	cr_expect_gt(strlen(big), 20 * 4 + 64);
	free(big);
	imap_buf_free(&raw);
	char *out = (char *)1;
	cr_expect_eq(imap_mime_param_get(NULL, 0, "x", &out), 0);
	cr_expect_null(out);
}

/* File names through BODYSTRUCTURE: decoded, fallback to "name", made
 * safe. */
static void expect_filename(const char *dsp_params, const char *ct_params, const char *want)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_buf_printf(&b, "(\"application\" \"octet-stream\" %s NIL NIL \"base64\" 4 NIL "
			"(\"attachment\" %s) NIL NIL)", ct_params, dsp_params);
	struct imap_bodystructure *bs = bs_ok(b.data, b.len);
	expect_str(bs->root.filename, want, b.data);
	if (bs->root.filename)
		cr_expect_eq(imap_utf8_validate(bs->root.filename, strlen(bs->root.filename)), 0);
	struct imap_attachment_list l;
	cr_assert_eq(imap_bodystructure_attachment_list(bs, &l), 0);
	cr_assert_eq(l.n, 1);
	expect_str(l.v[0].filename, want, "attachment filename");
	imap_attachment_list_free(&l);
	imap_bodystructure_free(&bs);
	imap_buf_free(&b);
}

Test(bodystructure, filenames)
{
	expect_filename("(\"filename\" \"report.pdf\")", "NIL", "report.pdf");
	expect_filename("(\"FILENAME\" \"Report.PDF\")", "(\"NAME\" \"other.pdf\")", "Report.PDF");
	/* fallback to the Content-Type name, also name* */
	expect_filename("NIL", "(\"name\" \"report.pdf\")", "report.pdf");
	expect_filename("(\"size\" \"3\")", "(\"name*\" \"utf-8''r%C3%A9sum%C3%A9.pdf\")", "résumé.pdf");
	expect_filename("NIL", "(\"name*0*\" \"utf-8''a\" \"name*1*\" \"b.pdf\")", "ab.pdf");
	expect_filename("NIL", "NIL", NULL);
	/* decoded */
	expect_filename("(\"filename*\" \"utf-8''%E2%82%AC.txt\")", "NIL", "€.txt");
	expect_filename("(\"filename\" \"=?utf-8?B?0L/RgNC40LLQtdGCLnR4dA==?=\")", "NIL", "привет.txt");
	/* directories stripped */
	expect_filename("(\"filename\" \"C:\\\\x\\\\a.txt\")", "NIL", "a.txt");
	expect_filename("(\"filename\" \"../a.txt\")", "NIL", "a.txt");
	expect_filename("(\"filename\" \"/etc/passwd\")", "NIL", "passwd");
	expect_filename("(\"filename*\" \"utf-8''..%2F..%5Cb.txt\")", "NIL", "b.txt");
	/* control characters removed, blanks trimmed */
	expect_filename("(\"filename\" \"  a\tb\x01" "c.txt \")", "NIL", "abc.txt");
	expect_filename("(\"filename\" {15}\r\nlong\r\n name.pdf)", "NIL", "long name.pdf");
	expect_filename("(\"filename\" \"=?utf-8?q?a=01b?=.txt\")", "NIL", "a b.txt");
	expect_filename("(\"filename\" \"=?utf-8?q?a=09b?=.txt\")", "NIL", "ab.txt");
	expect_filename("(\"filename*\" \"utf-8''a%0D%0Ab%00c%C2%9F.txt\")", "NIL",
			"ab\xef\xbf\xbd" "c.txt");
	/* nothing left: falls back to name, else NULL */
	expect_filename("(\"filename\" \"dir/\")", "(\"name\" \"n.txt\")", "n.txt");
	expect_filename("(\"filename\" \"..\")", "NIL", NULL);
	expect_filename("(\"filename\" \".\")", "NIL", NULL);
	expect_filename("(\"filename\" \"\")", "NIL", NULL);
	expect_filename("(\"filename\" \"  \")", "(\"name\" \"..\")", NULL);
	expect_filename("(\"filename\" \".hidden\")", "NIL", ".hidden");
}

Test(bodystructure, long_filename_cut)
{
	/* 300 two-byte characters: cut to 254 bytes, not inside a character */
	struct imap_buf name, b;
	imap_buf_init(&name, 0);
	imap_buf_init(&b, 0);
	for (int i = 0; i < 300; i++)
		imap_buf_puts(&name, "é");
	imap_buf_printf(&b, "(\"application\" \"pdf\" (\"name\" \"%s\") NIL NIL \"base64\" 4 NIL)",
			name.data);
	struct imap_bodystructure *bs = bs_ok(b.data, b.len);
	cr_assert_not_null(bs->root.filename);
	cr_expect_eq(strlen(bs->root.filename), 254);
	cr_expect_eq(imap_utf8_validate(bs->root.filename, 254), 0);

	/* ASCII: exactly IMAP_FILENAME_MAX bytes */
	imap_bodystructure_free(&bs);
	imap_buf_reset(&name, 0);
	imap_buf_reset(&b, 0);
	for (int i = 0; i < 300; i++)
		imap_buf_putc(&name, 'a');
	imap_buf_printf(&b, "(\"application\" \"pdf\" (\"name\" \"%s\") NIL NIL \"base64\" 4 NIL)",
			name.data);
	bs = bs_ok(b.data, b.len);
	cr_assert_not_null(bs->root.filename);
	cr_expect_eq(strlen(bs->root.filename), IMAP_FILENAME_MAX);
	imap_bodystructure_free(&bs);
	imap_buf_free(&name);
	imap_buf_free(&b);
}

/* Real Content-Type / Content-Disposition headers from the corpus's
 * messages, split into parameters the way an IMAP server does. */
static void eml_params(const char *file, const char *header, int nth,
		       struct imap_mime_param **out, size_t *nout)
{
	TEST_NEED_CORPUS(dir, "eml");
	struct imap_buf b, value;
	imap_buf_init(&b, 0);
	imap_buf_init(&value, 0);
	read_crlf(dir, file, &b);
	size_t hlen = strlen(header);
	const char *s = b.data;
	int seen = 0;
	while (s && *s) {
		const char *eol = strstr(s, "\r\n");
		if (!eol)
			break;
		if (strncasecmp(s, header, hlen) == 0 && s[hlen] == ':' && seen++ == nth) {
			imap_buf_append(&value, s + hlen + 1, (size_t)(eol - s) - hlen - 1);
			while (eol[2] == ' ' || eol[2] == '\t') { /* unfold */
				s = eol + 2;
				eol = strstr(s, "\r\n");
				imap_buf_append(&value, s, (size_t)(eol - s));
			}
			break;
		}
		s = eol + 2;
	}
	cr_assert_gt(value.len, 0, "%s: no %s #%d", file, header, nth);
	/* value = type *(";" name "=" (token / quoted-string)) */
	struct imap_mime_param *ps = calloc(64, sizeof *ps);
	size_t n = 0;
	const char *p = strchr(value.data, ';');
	while (p && *p && n < 64) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		const char *eq = strchr(p, '=');
		if (!eq)
			break;
		ps[n].name = strndup(p, (size_t)(eq - p));
		for (char *c = ps[n].name; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		struct imap_buf v;
		imap_buf_init(&v, 0);
		p = eq + 1;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				imap_buf_putc(&v, *p);
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ';' && *p != ' ' && *p != '\t')
				imap_buf_putc(&v, *p++);
		}
		ps[n++].value = imap_buf_steal(&v);
		imap_buf_free(&v);
		p = strchr(p, ';');
	}
	*out = ps;
	*nout = n;
	imap_buf_free(&value);
	imap_buf_free(&b);
}

static void expect_eml_param(const char *file, const char *header, int nth, const char *name,
			     const char *want)
{
	struct imap_mime_param *ps = NULL;
	size_t n = 0;
	eml_params(file, header, nth, &ps, &n);
	if (!ps)
		return; /* skipped */
	char *got = NULL;
	cr_assert_eq(imap_mime_param_get(ps, n, name, &got), 0);
	expect_str(got, want, file);
	free(got);
	params_free(ps, n);
}

Test(bodystructure, corpus_rfc2231_names)
{
	expect_eml_param("mt-attachment-filename-encoding-UTF8.msg", "Content-Disposition", 0,
			 "filename", "attachment.äöü");
	expect_eml_param("wk-attachment_long_filename.eml", "Content-Disposition", 0, "filename",
			 "Buchungsbestätigung- Rechnung-Geschäftsbedingungen-Nr.B123-45 - XXXXX "
			 "xxxxxxxxxxxxxxxxx XxxX, Lüxxxxxxxxxx - VM Klaus XXXXXX - xxxxxxxx.pdf");
	expect_eml_param("wk-attachment_long_filename.eml", "Content-Type", 1, "name",
			 "Buchungsbestätigung- Rechnung-Geschäftsbedingungen-Nr.B123-45 - XXXX "
			 "xxxxxxxxxxxxxxxxx XxxX, Lüdxxxxxxxx - VM Klaus XXXXXX - xxxxxxxx.pdf");
	/* iso-8859-15: %A4 is the euro sign */
	expect_eml_param("wk-attachment_long_filename.eml", "Content-Disposition", 1, "filename",
			 "01_A€àä????@Z-0123456789-qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz.txt");
	/* an Arabic letter split between filename*0* and filename*1* */
	expect_eml_param("wk-attachment_long_filename.eml", "Content-Disposition", 2, "filename",
			 "02_A€àäąбيد@Z-0123456789-qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz.txt");
	/* RFC 2047 words folded inside a quoted name */
	expect_eml_param("wk-attachment_long_filename.eml", "Content-Type", 3, "name",
			 "02_A€àäąбيد@Z-0123456789-qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz-0123456789-"
			 "qwertyuiopasdfghjklzxcvbnmopqrstuvz.txt");
	/* an invalid byte in ISO-2022-JP becomes U+FFFD (imap_tools agrees) */
	expect_eml_param("it-attachment_emails-attachment_with_encoded_name.eml", "Content-Type", 2,
			 "name", "01 Quien Te Dij\xef\xbf\xbd" "at. Pitbull.mp3");
	expect_eml_param("mp-nodemailer.eml", "Content-Disposition", 1, "filename",
			 "nyan cat ✔.gif");
}

/* ---- body text and attachments ---- */

#define TXT(sub, extra) "(\"text\" \"" sub "\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 100 4 NIL " extra ")"
#define IMG(cid, extra) "(\"image\" \"png\" (\"name\" \"logo.png\") " cid " NIL \"base64\" 7800 NIL " extra ")"
#define PDF(extra) "(\"application\" \"pdf\" (\"name\" \"doc.pdf\") NIL NIL \"base64\" 780 NIL " extra ")"

Test(bodystructure, choose_alternative)
{
	struct imap_bodystructure *bs = BS("(" TXT("plain", "NIL") TXT("html", "NIL") " \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "2");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);

	/* the last alternative of each kind */
	bs = BS("(" TXT("plain", "NIL") TXT("plain", "NIL") TXT("html", "NIL") TXT("html", "NIL")
		" \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "2");
	expect_text(&bs->root, IMAP_TEXT_HTML, "4");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);

	/* an alternative that is a mixed: all its inline html parts */
	bs = BS("(" TXT("plain", "NIL") "(" TXT("html", "NIL") IMG("NIL", "NIL") TXT("html", "NIL")
		" \"mixed\") \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "2.1,2.3");
	expect_attachments(bs, "2.2|logo.png|image/png|-|a|-|7800|5700");
	imap_bodystructure_free(&bs);

	/* an alternative that is an attachment is skipped */
	bs = BS("(" TXT("plain", "NIL") TXT("plain", "(\"attachment\" NIL)") " \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "2|-|text/plain|attachment|a|-|100|100");
	imap_bodystructure_free(&bs);
	/* an empty last alternative (a misread boundary) loses to a full one;
	 * when all are empty, the last still counts */
	bs = BS("(" TXT("plain", "NIL") "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)"
		" \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	imap_bodystructure_free(&bs);
	bs = BS("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)"
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0) \"alternative\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "2");
	imap_bodystructure_free(&bs);
}

/* mixed(alternative(plain, related(html, image)), pdf) */
Test(bodystructure, choose_mixed_alternative_related)
{
	struct imap_bodystructure *bs = BS(
		"((" TXT("plain", "NIL") "(" TXT("html", "NIL") IMG("\"<logo@x>\"", "NIL")
		" \"related\" (\"boundary\" \"r\" \"type\" \"text/html\")) \"alternative\")"
		PDF("(\"attachment\" (\"filename\" \"report.pdf\"))") " \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:multipart/alternative 1.1:text/plain "
			   "1.2:multipart/related 1.2.1:text/html 1.2.2:image/png 2:application/pdf");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1.1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1.2.1");
	expect_attachments(bs, "1.2.2|logo.png|image/png|-|i|<logo@x>|7800|5700\n"
			       "2|report.pdf|application/pdf|attachment|a|-|780|570");
	imap_bodystructure_free(&bs);

	/* related(alternative(plain, html), image), as Apple Mail writes it */
	bs = BS("((" TXT("plain", "NIL") TXT("html", "NIL") " \"alternative\")"
		IMG("\"<img1>\"", "(\"inline\" (\"filename\" \"a.png\"))") " \"related\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1.1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1.2");
	expect_attachments(bs, "2|a.png|image/png|inline|i|<img1>|7800|5700");
	imap_bodystructure_free(&bs);
}

Test(bodystructure, choose_related_start)
{
	/* the root named by "start" (brackets ignored), else the first part */
	struct imap_bodystructure *bs = BS(
		"(" IMG("\"<a@x>\"", "NIL") "(\"text\" \"html\" NIL \"<root@x>\" NIL \"7bit\" 5 1)"
		" \"related\" (\"start\" \"<root@x>\" \"type\" \"text/html\"))");
	expect_text(&bs->root, IMAP_TEXT_HTML, "2");
	expect_attachments(bs, "1|logo.png|image/png|-|i|<a@x>|7800|5700");
	imap_bodystructure_free(&bs);

	bs = BS("(" TXT("html", "NIL") TXT("html", "NIL") " \"related\" (\"start\" \"<nowhere>\"))");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1");
	imap_bodystructure_free(&bs);

	bs = BS("(" TXT("html", "NIL") "(\"text\" \"html\" NIL \"root@x\" NIL \"7bit\" 5 1)"
		" \"related\" (\"start\" \" <root@x> \"))");
	expect_text(&bs->root, IMAP_TEXT_HTML, "2");
	imap_bodystructure_free(&bs);
}

/* Several inline text parts in a mixed are all body text, in order. */
Test(bodystructure, choose_mixed_inline_texts)
{
	struct imap_bodystructure *bs = BS(
		"(" TXT("plain", "NIL") IMG("NIL", "(\"inline\" NIL)") TXT("plain", "(\"inline\" NIL)")
		TXT("plain", "(\"attachment\" (\"filename\" \"notes.txt\"))")
		"(\"text\" \"csv\" (\"name\" \"data.csv\") NIL NIL \"7bit\" 10 2)"
		"(\"text\" \"plain\" (\"name\" \"named.txt\") NIL NIL \"7bit\" 10 2)"
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 2 NIL (\"x-unknown\" NIL))"
		TXT("html", "NIL") " \"mixed\")");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1,3");
	expect_text(&bs->root, IMAP_TEXT_HTML, "8");
	expect_attachments(bs, "2|logo.png|image/png|inline|i|-|7800|5700\n"
			       "4|notes.txt|text/plain|attachment|a|-|100|100\n"
			       "5|data.csv|text/csv|-|a|-|10|10\n"
			       "6|named.txt|text/plain|-|a|-|10|10\n"
			       "7|-|text/plain|x-unknown|a|-|10|10");
	imap_bodystructure_free(&bs);
}

/* A forwarded message with attachments of its own: the message is one
 * attachment, its attachments follow with their deeper sections, and
 * its text is not the body. */
Test(bodystructure, forwarded_message)
{
	struct imap_bodystructure *bs = BS(
		"(" TXT("plain", "NIL")
		"(\"message\" \"rfc822\" (\"name\" \"Fwd.eml\") NIL NIL \"7bit\" 9000 " ENV
		" ((" TXT("plain", "NIL") TXT("html", "NIL") " \"alternative\")"
		PDF("(\"attachment\" (\"filename\" \"inner.pdf\"))")
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 500 " ENV " " PDF("NIL") " 7)"
		" \"mixed\") 120 NIL (\"attachment\" (\"filename\" \"Fwd: hello.eml\")))"
		" \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822 2:multipart/mixed "
			   "2.1:multipart/alternative 2.1.1:text/plain 2.1.2:text/html "
			   "2.2:application/pdf 2.3:message/rfc822 2.3.1:application/pdf");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_text(&bs->root, IMAP_TEXT_HTML, "");
	expect_attachments(bs, "2|Fwd: hello.eml|message/rfc822|attachment|a|-|9000|9000\n"
			       "2.2|inner.pdf|application/pdf|attachment|a|-|780|570\n"
			       "2.3|-|message/rfc822|-|a|-|500|500\n"
			       "2.3.1|doc.pdf|application/pdf|-|a|-|780|570");
	imap_bodystructure_free(&bs);
}

Test(bodystructure, single_part_messages)
{
	struct imap_bodystructure *bs = BS(TXT("html", "NIL"));
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_text(&bs->root, IMAP_TEXT_HTML, "1");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);

	/* a named single text part is still the body */
	bs = BS("(\"text\" \"plain\" (\"name\" \"a.txt\") NIL NIL \"7bit\" 10 2)");
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "1");
	expect_attachments(bs, "");
	imap_bodystructure_free(&bs);

	/* ... unless it says it is an attachment */
	bs = BS(TXT("plain", "(\"attachment\" (\"filename\" \"a.txt\"))"));
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "1|a.txt|text/plain|attachment|a|-|100|100");
	imap_bodystructure_free(&bs);

	bs = BS(PDF("NIL"));
	expect_text(&bs->root, IMAP_TEXT_PLAIN, "");
	expect_attachments(bs, "1|doc.pdf|application/pdf|-|a|-|780|570");
	imap_bodystructure_free(&bs);
}

Test(bodystructure, decoded_sizes)
{
	struct imap_bodystructure *bs = BS(
		"((\"text\" \"plain\" NIL NIL NIL \"base64\" 780 10 NIL (\"attachment\" NIL))"
		"(\"application\" \"x\" NIL NIL NIL \"BASE64\" 7800 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"base64\" 79 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"base64\" 3 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"base64\" 0 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"quoted-printable\" 500 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"7bit\" 500 NIL)"
		"(\"application\" \"x\" NIL NIL NIL NIL 500 NIL)"
		"(\"application\" \"x\" NIL NIL NIL \"base64\" 18446744073709551615 NIL)"
		" \"mixed\")");
	expect_attachments(bs, "1|-|text/plain|attachment|a|-|780|570\n"
			       "2|-|application/x|-|a|-|7800|5700\n"
			       "3|-|application/x|-|a|-|79|56\n"
			       "4|-|application/x|-|a|-|3|0\n"
			       "5|-|application/x|-|a|-|0|0\n"
			       "6|-|application/x|-|a|-|500|500\n"
			       "7|-|application/x|-|a|-|500|500\n"
			       "8|-|application/x|-|a|-|500|500\n"
			       "9|-|application/x|-|a|-|18446744073709551615|13480312976941595409");
	imap_bodystructure_free(&bs);
}

Test(bodystructure, summary_count)
{
	static const char text[] = "(" TXT("plain", "NIL") PDF("NIL") PDF("NIL") " \"mixed\")";
	struct imap_buf in;
	imap_buf_init(&in, 0);
	imap_buf_printf(&in, "* 1 FETCH (BODYSTRUCTURE %s)\r\n", text);
	struct imap_parser *p = parse_response(in.data, in.len);
	const struct imap_value *items = imap_value_at(imap_parser_response(p)->args, 2);
	cr_expect_eq(imap_bodystructure_attachments(imap_value_at(items, 1)), 2);
	cr_expect_eq(imap_bodystructure_attachments(imap_value_at(items, 0)), 0, "an atom");
	cr_expect_eq(imap_bodystructure_attachments(NULL), 0);
	imap_parser_free(&p);
	imap_buf_free(&in);
}

/* Servers that write strings as atoms (types, charsets, encodings unquoted)
 * and message/rfc822 parts whose envelope or body is NIL, or whose body is
 * left out: each field is read where it is, or left empty, never taken
 * from the next one. */
Test(bodystructure, unquoted_strings_and_odd_message_parts)
{
	struct imap_bodystructure *bs =
		BS("(TEXT PLAIN (CHARSET US-ASCII NAME note.txt) NIL NIL 7BIT 12 1)");
	expect_outline(bs, "1:text/plain");
	expect_params(bs->root.params, bs->root.nparams, "charset=US-ASCII;name=note.txt", "params");
	imap_bodystructure_free(&bs);

	/* an envelope of NIL, then a body of NIL */
	bs = BS("(" PLAIN "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 900 NIL NIL 12) \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822");
	expect_attachments(bs, "2|-|message/rfc822|-|a|-|900|900");
	imap_bodystructure_free(&bs);

	/* a message/rfc822 part that stops after its size (no envelope, body
	 * or lines at all) */
	bs = BS("(" PLAIN "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 900) \"mixed\")");
	expect_outline(bs, "-:multipart/mixed 1:text/plain 2:message/rfc822");
	imap_bodystructure_free(&bs);
}

/* Courier reads a boundary that begins with the enclosing one's
 * ("=_x_1.2" inside "=_x_1") as the enclosing one: it shows the inner
 * multipart/related as an empty leaf, its children as the alternative's,
 * and an empty text part at the end. The empty leaf is no attachment; the
 * image is found where Courier numbers it, and the text is the non-empty one. */
Test(bodystructure, courier_multipart_read_as_an_empty_leaf)
{
	struct imap_bodystructure *bs = BS(
		"(((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 73 1 NIL NIL NIL)"
		"(\"multipart\" \"related\" (\"boundary\" \"=_x_1.2\") NIL NIL \"8bit\" 0 NIL NIL NIL)"
		"(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 105 2 NIL NIL NIL)"
		"(\"image\" \"png\" (\"name\" \"chart.png\") \"<chart@x>\" NIL \"base64\" 1158 NIL "
		"(\"inline\" (\"filename\" \"chart.png\")) NIL)"
		"(\"text\" \"plain\" NIL NIL NIL \"8bit\" 0 0 NIL NIL NIL) \"alternative\" "
		"(\"boundary\" \"=_x_1\") NIL NIL)"
		"(\"application\" \"zip\" (\"name\" \"bundle.zip\") NIL NIL \"base64\" 4106 NIL "
		"(\"attachment\" (\"filename\" \"bundle.zip\")) NIL) \"mixed\" (\"boundary\" \"=_x_top\") NIL NIL)");
	expect_outline(bs, "-:multipart/mixed 1:multipart/alternative 1.1:text/plain "
	                   "1.2:multipart/related 1.3:text/html 1.4:image/png 1.5:text/plain "
	                   "2:application/zip");
	expect_attachments(bs, "1.4|chart.png|image/png|inline|i|<chart@x>|1158|846\n"
	                       "2|bundle.zip|application/zip|attachment|a|-|4106|3000");
	imap_bodystructure_free(&bs);
}
