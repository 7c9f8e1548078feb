/*
 * tests/fuzz/fuzz_bodystructure.c — libFuzzer target for
 * imap/bodystructure: the BODYSTRUCTURE parser, section numbers, RFC 2231
 * parameters, file names, the attachment list and the body text choice.
 *
 * Each input is used as:
 *   - a BODYSTRUCTURE value, wrapped as "* 1 FETCH (BODYSTRUCTURE <data>)\r\n"
 *     and parsed; every value of the response (at any depth) is then
 *     offered to imap_bodystructure_parse. A tree must hold: every string
 *     valid UTF-8 without NUL; types lower-case; kinds consistent with the
 *     children; parent links; nparts right; every section valid and found
 *     again by imap_bodystructure_find; file names safe (no "/", "\",
 *     control characters, not "." or "..", at most IMAP_FILENAME_MAX
 *     bytes); body text only text/plain or text/html parts of the tree;
 *     attachments with valid strings, as many as the summary count. A
 *     failure is IMAP_ERR_PROTOCOL or IMAP_ERR_LIMIT with no tree.
 *   - a section string for imap_body_section_valid: valid ones are
 *     digits and single dots only, within the limits;
 *   - parameters "name=value" per line (up to the first line that is
 *     not valid UTF-8) for imap_mime_param_get: the value of each name
 *     is valid UTF-8 without control characters.
 * Any broken property calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/bodystructure.h"
#include "imap/mail/utf7.h"
#include "imap/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_str(const char *s)
{
	if (s)
		check(imap_utf8_validate(s, strlen(s)) == 0);
}

static void check_no_controls(const char *s)
{
	check_str(s);
	for (const unsigned char *u = (const unsigned char *)s; u && *u; u++) {
		check(*u >= 0x20 && *u != 0x7f);
		check(!(u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f));
	}
}

static void check_lower(const char *s)
{
	check(s != NULL);
	check_str(s);
	for (; *s; s++)
		check(!(*s >= 'A' && *s <= 'Z'));
}

/* imap_mime_param_get of the usual names: valid UTF-8, no controls. */
static void check_param_get(const struct imap_mime_param *p, size_t n)
{
	static const char *const names[] = {"filename", "name", "charset", "boundary", "start"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *v = NULL;
		check(imap_mime_param_get(p, n, names[i], &v) == 0);
		check_no_controls(v);
		free(v);
	}
}

static void check_params(const struct imap_mime_param *p, size_t n)
{
	check((n == 0) == (p == NULL));
	for (size_t i = 0; i < n; i++) {
		check_lower(p[i].name);
		check(p[i].value != NULL);
		check_str(p[i].value);
	}
	check_param_get(p, n);
}

static void check_filename(const char *f)
{
	if (!f)
		return;
	check_no_controls(f);
	size_t len = strlen(f);
	check(len > 0 && len <= IMAP_FILENAME_MAX);
	check(!strchr(f, '/') && !strchr(f, '\\'));
	check(strcmp(f, ".") != 0 && strcmp(f, "..") != 0);
	check(f[0] != ' ' && f[len - 1] != ' ');
}

static size_t check_part(const struct imap_bodystructure *bs, const struct imap_body_part *p)
{
	check(p->section != NULL);
	check_str(p->section);
	if (p->section[0]) {
		check(imap_body_section_valid(p->section, strlen(p->section)));
		const struct imap_body_part *f = imap_bodystructure_find(bs, p->section);
		bool enclosed = p->parent && p->parent->kind == IMAP_BODY_MESSAGE &&
		                p->kind == IMAP_BODY_MULTIPART;
		check(f == (enclosed ? p->parent : p));
	} else {
		check(p == &bs->root && p->kind == IMAP_BODY_MULTIPART);
		check(imap_bodystructure_find(bs, "") == p);
	}
	check_lower(p->type);
	check_lower(p->subtype);
	check_params(p->params, p->nparams);
	check_params(p->dsp_params, p->ndsp_params);
	check_str(p->id);
	check_str(p->description);
	check_str(p->md5);
	check_str(p->location);
	if (p->encoding)
		check_lower(p->encoding);
	if (p->disposition)
		check_lower(p->disposition);
	check((p->nlanguage == 0) == (p->language == NULL));
	for (size_t i = 0; i < p->nlanguage; i++) {
		check(p->language[i] != NULL);
		check_str(p->language[i]);
	}
	check_filename(p->filename);
	switch (p->kind) {
	case IMAP_BODY_SINGLE:
		check(p->nchildren == 0 && p->children == NULL);
		break;
	case IMAP_BODY_MESSAGE:
		check(p->nchildren == 1);
		break;
	case IMAP_BODY_MULTIPART:
		check(strcmp(p->type, "multipart") == 0 && p->size == 0 && !p->encoding);
		check((p->nchildren == 0) == (p->children == NULL));
		break;
	}
	size_t n = 1;
	for (size_t i = 0; i < p->nchildren; i++) {
		check(p->children[i].parent == p);
		n += check_part(bs, &p->children[i]);
	}
	return n;
}

static void check_text(const struct imap_body_part *body, enum imap_body_text kind)
{
	struct imap_body_part_list l;
	check(imap_body_text_parts(body, kind, &l) == 0);
	check((l.n == 0) == (l.v == NULL));
	for (size_t i = 0; i < l.n; i++) {
		check(l.v[i]->kind == IMAP_BODY_SINGLE && strcmp(l.v[i]->type, "text") == 0);
		check(strcmp(l.v[i]->subtype, kind == IMAP_TEXT_HTML ? "html" : "plain") == 0);
	}
	imap_body_part_list_free(&l);
}

static void check_body(const struct imap_value *v)
{
	struct imap_bodystructure *bs = (struct imap_bodystructure *)1;
	struct imap_error err;
	int rc = imap_bodystructure_parse(v, &bs, &err);
	unsigned count = imap_bodystructure_attachments(v);
	if (rc != 0) {
		check(bs == NULL && count == 0);
		check(rc == IMAP_ERR_PROTOCOL || rc == IMAP_ERR_LIMIT || rc == IMAP_ERR_NOMEM);
		check(err.code == (enum imap_err)rc);
		return;
	}
	check(bs != NULL);
	check(check_part(bs, &bs->root) == bs->nparts);
	check(bs->nparts <= IMAP_BODY_PARTS_MAX);
	check_text(&bs->root, IMAP_TEXT_PLAIN);
	check_text(&bs->root, IMAP_TEXT_HTML);
	struct imap_attachment_list l;
	check(imap_bodystructure_attachment_list(bs, &l) == 0);
	check(l.n == count);
	for (size_t i = 0; i < l.n; i++) {
		const struct imap_attachment *a = &l.v[i];
		check(a->section && a->content_type);
		check(imap_bodystructure_find(bs, a->section) != NULL);
		check_str(a->content_type);
		check_filename(a->filename);
		check_str(a->disposition);
		check_str(a->content_id);
		check_str(a->encoding);
		check(a->decoded_size <= a->size);
	}
	imap_attachment_list_free(&l);
	imap_bodystructure_free(&bs);
	check(bs == NULL);
}

/* The input as "name=value" lines, through imap_mime_param_get. */
static void check_param_lines(const char *in, size_t size)
{
	struct imap_mime_param ps[16];
	size_t n = 0, pos = 0;
	while (pos < size && n < 16) {
		const char *nl = memchr(in + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - in) : size;
		const char *eq = memchr(in + pos, '=', end - pos);
		if (eq) {
			ps[n].name = strndup(in + pos, (size_t)(eq - (in + pos)));
			ps[n].value = strndup(eq + 1, end - (size_t)(eq + 1 - in));
			if (!ps[n].name || !ps[n].value)
				abort();
			/* a real parameter never holds NUL or invalid UTF-8: stop there */
			if (imap_utf8_validate(ps[n].name, strlen(ps[n].name)) != 0 ||
			    imap_utf8_validate(ps[n].value, strlen(ps[n].value)) != 0) {
				free(ps[n].name);
				free(ps[n].value);
				break;
			}
			n++;
		}
		pos = end + 1;
	}
	for (size_t i = 0; i < n; i++) {
		char *v = NULL;
		check(imap_mime_param_get(ps, n, ps[i].name, &v) == 0);
		check_no_controls(v);
		free(v);
	}
	check_param_get(ps, n);
	for (size_t i = 0; i < n; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	static const char head[] = "* 1 FETCH (BODYSTRUCTURE ", tail[] = ")\r\n";
	struct imap_buf b;
	imap_buf_init(&b, 0);
	if (imap_buf_append(&b, head, sizeof head - 1) == 0 && imap_buf_append(&b, in, size) == 0 &&
	    imap_buf_append(&b, tail, sizeof tail - 1) == 0) {
		struct imap_parser *p = imap_parser_new(NULL);
		size_t used = 0;
		if (imap_parser_feed(p, b.data, b.len, &used) == IMAP_PARSE_DONE) {
			const struct imap_value *args = imap_parser_response(p)->args;
			if (args)
				for (uint32_t i = 0; i <= args->span; i++)
					check_body(args + i);
		}
		imap_parser_free(&p);
	}
	imap_buf_free(&b);
	check_body(NULL);

	if (imap_body_section_valid(in, size)) {
		check(size <= IMAP_SECTION_LEN_MAX);
		check(in[0] != '.' && in[size - 1] != '.' && in[0] != '0');
		for (size_t i = 0; i < size; i++) {
			check((in[i] >= '0' && in[i] <= '9') || in[i] == '.');
			check(!(in[i] == '.' && in[i + 1] == '.'));
			check(!(in[i] == '.' && in[i + 1] == '0'));
		}
	}

	check_param_lines(in, size);
	return 0;
}
