/*
 * imap/bodystructure.c — BODYSTRUCTURE values as a tree of parts, file
 * names, attachments and body text. See bodystructure.h for the contracts
 * and the list of server dialects accepted.
 *
 * The parser never trusts a position: every field is fetched by index
 * from the list actually sent (a missing one is NULL) and its kind is
 * checked before use, so a short, long or mistyped list degrades into
 * absent fields instead of a misread. Which layout a list has (multipart,
 * single part, message) is decided from the kinds of its first fields.
 */
#include "imap/bodystructure.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/codec.h"
#include "imap/mail/charset.h"
#include "imap/mail/rfc2047.h"

/* RFC 2231 continuations read per parameter: "name*0" .. "name*63". A
 * higher number is ignored (so is everything after a gap). */
#define PARAM_SEGMENTS_MAX 64u

/* Fields of a single part we look at: type .. body-fld-loc of a message
 * part is 14; the rest (body-extension) is ignored. */
#define FIELDS_MAX 16u

/* Decoded text (RFC 2047, RFC 2231, charsets) may be at most this many
 * times as long as its raw form, plus 64 bytes: a byte of an unknown or
 * invalid sequence becomes 3 (U+FFFD), one of TSCII up to 12. A value
 * that would grow more counts as absent. */
#define DECODED_GROWTH_MAX 16u

/* Longest digit run of a part number component accepted. */
#define SECTION_NUMBER_DIGITS_MAX 9u

_Static_assert((IMAP_BODY_DEPTH_MAX + 1u) * 5u <= IMAP_SECTION_LEN_MAX,
               "every section of a tree within the limits must be a valid section");
_Static_assert(IMAP_BODY_PARTS_MAX < 10000u, "part numbers have at most four digits");

/* ---- small string helpers ---- */

static bool is_list(const struct imap_value *v)
{
	return v && v->kind == IMAP_VALUE_LIST;
}

static bool is_nil(const struct imap_value *v)
{
	return v && v->kind == IMAP_VALUE_NIL;
}

/* True when v is a string equal to s, ignoring ASCII case. */
static bool str_is(const struct imap_value *v, const char *s)
{
	size_t n = strlen(s);
	return imap_value_is_string(v) && v->len == n && strncasecmp(v->str, s, n) == 0;
}

static void lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* *out = s[0..len) as valid UTF-8 without NUL (imap_utf8_sanitize),
 * ASCII lower-cased when `lower`. */
static int dup_sanitized(const char *s, size_t len, bool lower, char **out)
{
	struct imap_buf b;
	/* A byte becomes at most three (U+FFFD or a windows-1252 character). */
	imap_buf_init(&b, len * 3 + 16);
	int rc = imap_utf8_sanitize(s, len, &b);
	if (rc == 0 && !(*out = imap_buf_steal(&b)))
		rc = IMAP_ERR_NOMEM;
	imap_buf_free(&b);
	if (rc == 0 && lower)
		lower_ascii(*out);
	return rc;
}

/* *out = the string value v, sanitized (and lower-cased); NULL when v is
 * not a string, or is empty and `empty_is_null`. */
static int dup_value(const struct imap_value *v, bool lower, bool empty_is_null, char **out)
{
	*out = NULL;
	if (!imap_value_is_string(v) || (empty_is_null && v->len == 0))
		return 0;
	return dup_sanitized(v->str, v->len, lower, out);
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return IMAP_ERR_NOMEM;
	return 0;
}

/* A number field; 0 when absent, negative or not a number. */
static uint64_t number(const struct imap_value *v)
{
	uint64_t n = 0;
	if (imap_value_u64(v, UINT64_MAX, &n) != 0)
		return 0;
	return n;
}

/* RFC 2045 token: 1*<any CHAR except SPACE, CTLs, or tspecials>. */
static bool is_token(const struct imap_value *v)
{
	if (!imap_value_is_string(v) || v->len == 0)
		return false;
	for (size_t i = 0; i < v->len; i++) {
		unsigned char c = (unsigned char)v->str[i];
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return false;
	}
	return true;
}

/* Up to max children of list, from index `from`, into f; returns how
 * many were stored. Missing ones are left NULL by the caller's
 * initialisation. */
static size_t fields_from(const struct imap_value *list, size_t from, const struct imap_value **f,
                          size_t max)
{
	const struct imap_value *v;
	size_t i, n = 0;
	IMAP_LIST_FOREACH(list, v, i) {
		if (i < from)
			continue;
		if (n == max)
			break;
		f[n++] = v;
	}
	return n;
}

/* ---- parsing ---- */

struct parse_ctx {
	size_t nparts;
	struct imap_error *err;
};

static void params_free(struct imap_mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static void part_free(struct imap_body_part *p)
{
	free(p->section);
	free(p->type);
	free(p->subtype);
	params_free(p->params, p->nparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->md5);
	free(p->disposition);
	params_free(p->dsp_params, p->ndsp_params);
	for (size_t i = 0; i < p->nlanguage; i++)
		free(p->language[i]);
	free(p->language);
	free(p->location);
	free(p->filename);
	for (size_t i = 0; i < p->nchildren; i++)
		part_free(&p->children[i]);
	free(p->children);
	memset(p, 0, sizeof *p);
}

/*
 * body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
 * Every pair whose name is a string is kept (a NIL value becomes "");
 * an odd last element is dropped.
 */
static int parse_params(const struct imap_value *list, struct imap_mime_param **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!is_list(list) || list->count < 2)
		return 0;
	struct imap_mime_param *p = calloc(list->count / 2, sizeof *p);
	if (!p)
		return IMAP_ERR_NOMEM;
	const struct imap_value *v;
	size_t i;
	int rc = 0;
	IMAP_LIST_FOREACH(list, v, i) {
		if (i % 2 == 1 || i + 1 >= list->count)
			continue;
		const struct imap_value *val = imap_value_next(v);
		if (!imap_value_is_string(v))
			continue;
		struct imap_mime_param *e = &p[*n];
		rc = dup_value(v, true, false, &e->name);
		if (rc == 0)
			rc = imap_value_is_string(val) ? dup_value(val, false, false, &e->value)
			                               : dup_str("", &e->value);
		if (e->name)
			(*n)++;
		if (rc != 0)
			break;
	}
	if (rc != 0 || *n == 0) {
		params_free(p, *n);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = p;
	return 0;
}

/* A list shaped like ("inline" NIL) / ("attachment" (params)): what a
 * server sent in the body-fld-lang place after a NIL body-fld-dsp. */
static bool looks_like_dsp(const struct imap_value *v)
{
	if (!is_list(v) || v->count < 1 || v->count > 2)
		return false;
	const struct imap_value *a = imap_value_first(v), *b = imap_value_at(v, 1);
	return (str_is(a, "inline") || str_is(a, "attachment")) && (!b || is_nil(b) || is_list(b));
}

/*
 * body-fld-dsp, body-fld-lang and body-fld-loc (any may be NULL). A bare
 * token counts as a disposition type without parameters; (NIL …) as none.
 */
static int parse_dsp_lang_loc(struct imap_body_part *p, const struct imap_value *dsp,
                              const struct imap_value *lang, const struct imap_value *loc)
{
	int rc = 0;
	if ((!dsp || is_nil(dsp)) && looks_like_dsp(lang)) {
		dsp = lang;
		lang = NULL;
	}
	if (is_list(dsp)) {
		const struct imap_value *type = imap_value_first(dsp);
		if (imap_value_is_string(type) && type->len > 0) {
			rc = dup_value(type, true, true, &p->disposition);
			if (rc == 0)
				rc = parse_params(imap_value_at(dsp, 1), &p->dsp_params, &p->ndsp_params);
		}
	} else if (is_token(dsp)) {
		rc = dup_value(dsp, true, true, &p->disposition);
	}
	if (rc != 0)
		return rc;

	if (imap_value_is_string(lang) && lang->len > 0) {
		if (!(p->language = calloc(1, sizeof *p->language)))
			return IMAP_ERR_NOMEM;
		rc = dup_value(lang, false, true, &p->language[0]);
		p->nlanguage = p->language[0] ? 1 : 0;
	} else if (is_list(lang) && lang->count > 0) {
		if (!(p->language = calloc(lang->count, sizeof *p->language)))
			return IMAP_ERR_NOMEM;
		const struct imap_value *v;
		size_t i;
		IMAP_LIST_FOREACH(lang, v, i) {
			char *s = NULL;
			if ((rc = dup_value(v, false, true, &s)) != 0)
				break;
			if (s)
				p->language[p->nlanguage++] = s;
		}
	}
	if (p->language && p->nlanguage == 0) {
		free(p->language);
		p->language = NULL;
	}
	if (rc == 0)
		rc = dup_value(loc, false, true, &p->location);
	return rc;
}

static int filename_of(const struct imap_body_part *p, char **out);

/* "<parent>.<index>", or "<index>" below the root (""). */
static int child_section(const char *parent, size_t index, char **out)
{
	struct imap_buf b;
	imap_buf_init(&b, IMAP_SECTION_LEN_MAX);
	int rc = parent[0] ? imap_buf_printf(&b, "%s.%zu", parent, index)
	                   : imap_buf_printf(&b, "%zu", index);
	if (rc == 0 && !(*out = imap_buf_steal(&b)))
		rc = IMAP_ERR_NOMEM;
	imap_buf_free(&b);
	return rc;
}

/*
 * A list that can be a body: one whose first field is a list (multipart),
 * or whose first field is a string or NIL and whose second is a list
 * (missing subtype, Gmail's empty multipart), or whose third is a list or
 * NIL (the parameters of a single part). A parameter list ("boundary" "x")
 * is not one, which is how the parts of a multipart end when its subtype
 * is missing.
 */
static bool looks_like_body(const struct imap_value *v)
{
	if (!is_list(v) || v->count == 0)
		return false;
	const struct imap_value *a = imap_value_first(v);
	if (is_list(a))
		return true;
	if (!imap_value_is_string(a) && !is_nil(a))
		return false;
	const struct imap_value *b = imap_value_at(v, 1), *c = imap_value_at(v, 2);
	if (is_list(b))
		return true;
	return (imap_value_is_string(b) || is_nil(b)) && (is_list(c) || is_nil(c));
}

/* A body (looks_like_body) that is a multipart: its first field is a
 * part, or it has Gmail's empty form (subtype params [dsp [lang [loc]]]). */
static bool is_multipart_body(const struct imap_value *v)
{
	const struct imap_value *first = imap_value_first(v), *second = imap_value_at(v, 1);
	if (is_list(first))
		return true;
	return v->count < 6 && imap_value_is_string(first) && (is_list(second) || is_nil(second));
}

static int parse_body(struct parse_ctx *ctx, const struct imap_value *v, char *section,
                      const struct imap_body_part *parent, unsigned depth,
                      struct imap_body_part *p);

/* Defaults for a missing type or subtype (see the header). */
static int media_defaults(struct imap_body_part *p)
{
	const char *type = NULL, *sub = NULL;
	if (!p->type && !p->subtype) {
		type = "text";
		sub = "plain";
	} else if (!p->type) {
		type = "application";
		sub = "octet-stream";
	} else if (!p->subtype) {
		if (strcmp(p->type, "text") == 0) {
			sub = "plain";
		} else if (strcmp(p->type, "multipart") == 0) {
			sub = "mixed";
		} else {
			type = "application";
			sub = "octet-stream";
		}
	}
	if (type) {
		free(p->type);
		free(p->subtype);
		p->type = p->subtype = NULL;
		if (dup_str(type, &p->type) != 0)
			return IMAP_ERR_NOMEM;
	}
	if (sub) {
		free(p->subtype);
		if (dup_str(sub, &p->subtype) != 0)
			return IMAP_ERR_NOMEM;
	}
	return 0;
}

/* Parse the first n fields of list (all bodies) as p's parts, numbered
 * below p's section. */
static int parse_children(struct parse_ctx *ctx, struct imap_body_part *p,
                          const struct imap_value *list, size_t n, unsigned depth)
{
	if (n == 0)
		return 0;
	if (depth + 1 > IMAP_BODY_DEPTH_MAX)
		return imap_error_set(ctx->err, IMAP_ERR_LIMIT,
		                      "BODYSTRUCTURE nested deeper than %u parts", IMAP_BODY_DEPTH_MAX);
	if (n > IMAP_BODY_PARTS_MAX)
		return imap_error_set(ctx->err, IMAP_ERR_LIMIT, "BODYSTRUCTURE has more than %u parts",
		                      IMAP_BODY_PARTS_MAX);
	if (!(p->children = calloc(n, sizeof *p->children)))
		return IMAP_ERR_NOMEM;
	const struct imap_value *v;
	size_t i;
	IMAP_LIST_FOREACH(list, v, i) {
		if (i == n)
			break;
		char *section = NULL;
		int rc = child_section(p->section, i + 1, &section);
		if (rc != 0)
			return rc == IMAP_ERR_LIMIT
			           ? imap_error_set(ctx->err, rc, "BODYSTRUCTURE section too long")
			           : rc;
		p->nchildren++;
		if ((rc = parse_body(ctx, v, section, p, depth + 1, &p->children[i])) != 0)
			return rc;
	}
	return 0;
}

/*
 * body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
 * `nbodies` leading fields are the parts (0 for Gmail's empty form, where
 * the subtype comes first).
 */
static int parse_multipart(struct parse_ctx *ctx, const struct imap_value *v, size_t nbodies,
                           unsigned depth, struct imap_body_part *p)
{
	p->kind = IMAP_BODY_MULTIPART;
	const struct imap_value *f[8] = {0}; /* subtype params dsp lang loc, with room */
	fields_from(v, nbodies, f, 8);
	size_t k = 0;
	int rc = dup_str("multipart", &p->type);
	if (rc == 0 && imap_value_is_string(f[0])) {
		rc = dup_value(f[0], true, true, &p->subtype);
		k = 1;
	} else if (is_nil(f[0])) {
		k = 1; /* NIL subtype; a list there means it is missing */
	}
	if (rc == 0)
		rc = media_defaults(p);
	if (rc == 0)
		rc = parse_params(f[k], &p->params, &p->nparams);
	if (rc == 0)
		rc = parse_dsp_lang_loc(p, f[k + 1], f[k + 2], f[k + 3]);
	if (rc == 0)
		rc = filename_of(p, &p->filename);
	if (rc == 0)
		rc = parse_children(ctx, p, v, nbodies, depth);
	return rc;
}

/*
 * body-type-basic / body-type-text / body-type-msg, then body-ext-1part.
 * `base` is where body-fld-param is: 2, or 1 when the subtype is missing.
 */
static int parse_single(struct parse_ctx *ctx, const struct imap_value *v, unsigned depth,
                        struct imap_body_part *p)
{
	const struct imap_value *f[FIELDS_MAX] = {0};
	fields_from(v, 0, f, FIELDS_MAX);
	size_t base = is_list(f[1]) ? 1 : 2;
	p->kind = IMAP_BODY_SINGLE;

	int rc = dup_value(f[0], true, true, &p->type);
	if (rc == 0 && base == 2)
		rc = dup_value(f[1], true, true, &p->subtype);
	if (rc == 0)
		rc = media_defaults(p);
	if (rc == 0)
		rc = parse_params(f[base], &p->params, &p->nparams);
	if (rc == 0)
		rc = dup_value(f[base + 1], false, true, &p->id);
	if (rc == 0 && imap_value_is_string(f[base + 2]) && f[base + 2]->len > 0) {
		struct imap_buf b;
		imap_buf_init(&b, f[base + 2]->len * DECODED_GROWTH_MAX + 64);
		rc = imap_rfc2047_decode(f[base + 2]->str, f[base + 2]->len, &b);
		if (rc == 0 && !(p->description = imap_buf_steal(&b)))
			rc = IMAP_ERR_NOMEM;
		if (rc == IMAP_ERR_LIMIT)
			rc = 0; /* absent */
		imap_buf_free(&b);
	}
	if (rc == 0)
		rc = dup_value(f[base + 3], true, true, &p->encoding);
	if (rc != 0)
		return rc;
	p->size = number(f[base + 4]);

	size_t next = base + 5; /* first field after body-fields */
	const struct imap_value *enclosed = NULL;
	if (strcmp(p->type, "text") == 0) {
		if (!is_list(f[next])) /* a list there: lines left out */
			p->lines = number(f[next++]);
	} else if (strcmp(p->type, "message") == 0 &&
	           (strcmp(p->subtype, "rfc822") == 0 || strcmp(p->subtype, "global") == 0) &&
	           (is_list(f[next]) || is_nil(f[next])) && looks_like_body(f[next + 1])) {
		enclosed = f[next + 1];
		p->lines = number(f[next + 2]);
		next += 3;
	}
	/* body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc ...]]]
	 * A list in the md5's place: a field before it was left out, so this
	 * is the disposition. */
	if (is_list(f[next]))
		next--;
	else
		rc = dup_value(f[next], false, true, &p->md5);
	if (rc == 0)
		rc = parse_dsp_lang_loc(p, f[next + 1], f[next + 2], f[next + 3]);
	if (rc == 0)
		rc = filename_of(p, &p->filename);
	if (rc != 0 || !enclosed)
		return rc;

	/* The enclosed message: a multipart body shares this part's number
	 * (its parts are X.1, X.2 …); a single-part body is X.1. */
	p->kind = IMAP_BODY_MESSAGE;
	if (depth + 1 > IMAP_BODY_DEPTH_MAX)
		return imap_error_set(ctx->err, IMAP_ERR_LIMIT,
		                      "BODYSTRUCTURE nested deeper than %u parts", IMAP_BODY_DEPTH_MAX);
	if (!(p->children = calloc(1, sizeof *p->children)))
		return IMAP_ERR_NOMEM;
	p->nchildren = 1;
	char *section = NULL;
	rc = is_multipart_body(enclosed) ? dup_str(p->section, &section)
	                                 : child_section(p->section, 1, &section);
	if (rc != 0)
		return rc == IMAP_ERR_LIMIT ? imap_error_set(ctx->err, rc, "BODYSTRUCTURE section too long")
		                            : rc;
	return parse_body(ctx, enclosed, section, p, depth + 1, &p->children[0]);
}

/* Parse the body v into *p, which takes `section` (even on failure). */
static int parse_body(struct parse_ctx *ctx, const struct imap_value *v, char *section,
                      const struct imap_body_part *parent, unsigned depth,
                      struct imap_body_part *p)
{
	p->section = section;
	p->parent = parent;
	if (++ctx->nparts > IMAP_BODY_PARTS_MAX)
		return imap_error_set(ctx->err, IMAP_ERR_LIMIT, "BODYSTRUCTURE has more than %u parts",
		                      IMAP_BODY_PARTS_MAX);
	if (!looks_like_body(v))
		return imap_error_set(ctx->err, IMAP_ERR_PROTOCOL, "BODYSTRUCTURE part is not a body");

	if (!is_multipart_body(v))
		return parse_single(ctx, v, depth, p);
	/* The leading fields that are bodies are the parts; none in Gmail's
	 * empty form. */
	size_t nbodies = 0;
	const struct imap_value *c;
	size_t i;
	IMAP_LIST_FOREACH(v, c, i) {
		if (!looks_like_body(c))
			break;
		nbodies++;
	}
	return parse_multipart(ctx, v, nbodies, depth, p);
}

int imap_bodystructure_parse(const struct imap_value *body, struct imap_bodystructure **out,
                             struct imap_error *err)
{
	*out = NULL;
	if (!looks_like_body(body))
		return imap_error_set(err, IMAP_ERR_PROTOCOL, "BODYSTRUCTURE is not a body");
	struct imap_bodystructure *bs = calloc(1, sizeof *bs);
	if (!bs)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	struct parse_ctx ctx = {.err = err};
	char *section = NULL;
	/* The root multipart is ""; a single-part message's body is "1". */
	int rc = dup_str(is_multipart_body(body) ? "" : "1", &section);
	if (rc == 0)
		rc = parse_body(&ctx, body, section, NULL, 0, &bs->root);
	if (rc != 0) {
		if (rc == IMAP_ERR_NOMEM)
			imap_error_set(err, rc, "out of memory");
		imap_bodystructure_free(&bs);
		return rc;
	}
	bs->nparts = ctx.nparts;
	*out = bs;
	return 0;
}

void imap_bodystructure_free(struct imap_bodystructure **bs)
{
	if (!bs || !*bs)
		return;
	part_free(&(*bs)->root);
	free(*bs);
	*bs = NULL;
}

/* ---- sections ---- */

bool imap_body_section_valid(const char *s, size_t len)
{
	if (!s || len == 0 || len > IMAP_SECTION_LEN_MAX)
		return false;
	size_t parts = 0, i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		size_t digits = i - start;
		if (digits == 0 || digits > SECTION_NUMBER_DIGITS_MAX || s[start] == '0')
			return false;
		if (++parts > IMAP_SECTION_DEPTH_MAX)
			return false;
		if (i == len)
			return true;
		if (s[i] != '.' || i + 1 == len)
			return false;
		i++;
	}
	return false;
}

/* Part n (1-based) of the message whose body is `body`: a part of it
 * when it is multipart, else (n == 1) the body itself. */
static const struct imap_body_part *message_part(const struct imap_body_part *body, size_t n)
{
	if (body->kind == IMAP_BODY_MULTIPART)
		return n <= body->nchildren ? &body->children[n - 1] : NULL;
	return n == 1 ? body : NULL;
}

const struct imap_body_part *imap_bodystructure_find(const struct imap_bodystructure *bs,
                                                     const char *section)
{
	if (!bs || !section)
		return NULL;
	if (!section[0])
		return bs->root.kind == IMAP_BODY_MULTIPART ? &bs->root : NULL;
	size_t len = strlen(section);
	if (!imap_body_section_valid(section, len))
		return NULL;
	const struct imap_body_part *cur = NULL;
	const char *s = section;
	while (*s) {
		size_t n = 0;
		while (*s >= '0' && *s <= '9')
			n = n * 10 + (size_t)(*s++ - '0');
		if (*s == '.')
			s++;
		if (!cur)
			cur = message_part(&bs->root, n);
		else if (cur->kind == IMAP_BODY_MULTIPART)
			cur = n <= cur->nchildren ? &cur->children[n - 1] : NULL;
		else if (cur->kind == IMAP_BODY_MESSAGE)
			cur = message_part(&cur->children[0], n);
		else
			cur = NULL;
		if (!cur)
			return NULL;
	}
	return cur;
}

/* ---- parameters (RFC 2231, RFC 2047) ---- */

/* Append s with %XX decoded ("%" without two hex digits stays). */
static int put_pct_decoded(struct imap_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int octet, rc;
		if (s[i] == '%' && i + 2 < len && (octet = imap_hex_octet(s + i + 1)) >= 0) {
			rc = imap_buf_putc(b, (char)octet);
			i += 2;
		} else {
			rc = imap_buf_putc(b, s[i]);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The continuation number in "*<digits>" / "*<digits>*" (rest of a
 * parameter name after the base name), with *encoded set; -1 when rest
 * is not that form or the number is not canonical or too high. */
static int segment_number(const char *rest, bool *encoded)
{
	if (rest[0] != '*' || rest[1] < '0' || rest[1] > '9')
		return -1;
	const char *d = rest + 1;
	if (d[0] == '0' && d[1] >= '0' && d[1] <= '9')
		return -1; /* leading zero */
	unsigned n = 0;
	while (*d >= '0' && *d <= '9') {
		n = n * 10 + (unsigned)(*d - '0');
		if (n >= PARAM_SEGMENTS_MAX)
			return -1;
		d++;
	}
	*encoded = d[0] == '*';
	if (d[*encoded ? 1 : 0] != '\0')
		return -1;
	return (int)n;
}

/* Length of a C0/DEL (1 byte) or C1 (U+0080..U+009F, 2 bytes) control
 * character at s, else 0. */
static size_t control_len(const char *s)
{
	unsigned char c = (unsigned char)s[0];
	if (c < 0x20 || c == 0x7f)
		return 1;
	if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f)
		return 2;
	return 0;
}

/* Replace (with a space) or remove every control character of s. */
static void controls(char *s, bool remove)
{
	char *w = s;
	while (*s) {
		size_t n = control_len(s);
		if (n == 0) {
			*w++ = *s++;
			continue;
		}
		if (!remove)
			*w++ = ' ';
		s += n;
	}
	*w = '\0';
}

/* Decode RFC 2231 segments seg[0..n) (enc[i]: the segment had "*") as
 * UTF-8 into out (an empty buffer). `drop_controls`: remove control
 * characters from a value without encoded segments before RFC 2047
 * decoding turns them into spaces. */
static int decode_extended(const struct imap_mime_param *const *seg, const bool *enc, size_t n,
                           bool drop_controls, struct imap_buf *out)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(seg[i]->value);
	struct imap_buf bytes;
	imap_buf_init(&bytes, total + 16);
	const char *charset = "";
	size_t charset_len = 0;
	bool any_encoded = false;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *v = seg[i]->value;
		size_t len = strlen(v);
		if (!enc[i]) {
			rc = imap_buf_append(&bytes, v, len);
			continue;
		}
		any_encoded = true;
		if (i == 0) {
			/* charset'language'data; without both quotes it is all data */
			const char *q1 = memchr(v, '\'', len);
			const char *q2 = q1 ? memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - v)) : NULL;
			if (q2) {
				charset = v;
				charset_len = (size_t)(q1 - v);
				len -= (size_t)(q2 + 1 - v);
				v = q2 + 1;
			}
		}
		rc = put_pct_decoded(&bytes, v, len);
	}
	if (rc == 0) {
		imap_buf_init(out, bytes.len * DECODED_GROWTH_MAX + 64);
		const char *data = bytes.data ? bytes.data : "";
		if (!any_encoded && drop_controls && bytes.data) {
			controls(bytes.data, true); /* raw values hold no NUL */
			bytes.len = strlen(bytes.data);
		}
		if (any_encoded)
			rc = imap_charset_to_utf8(charset, charset_len, data, bytes.len, out);
		else
			rc = imap_rfc2047_decode(data, bytes.len, out);
	}
	imap_buf_free(&bytes);
	return rc;
}

/* *out = parameter `name` of ps[0..n) decoded (see imap_mime_param_get),
 * control characters left in (or, with `drop_controls`, removed from raw
 * text before decoding); NULL when there is no such parameter. */
static int param_decode(const struct imap_mime_param *ps, size_t n, const char *name,
                        bool drop_controls, char **out)
{
	size_t nlen = strlen(name);
	const struct imap_mime_param *plain = NULL, *single = NULL;
	const struct imap_mime_param *seg[PARAM_SEGMENTS_MAX] = {0};
	bool enc[PARAM_SEGMENTS_MAX] = {0};
	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strncasecmp(ps[i].name, name, nlen) != 0)
			continue;
		const char *rest = ps[i].name + nlen;
		bool e = false;
		int k;
		if (rest[0] == '\0') {
			if (!plain)
				plain = &ps[i];
		} else if (strcmp(rest, "*") == 0) {
			if (!single)
				single = &ps[i];
		} else if ((k = segment_number(rest, &e)) >= 0 && !seg[k]) {
			seg[k] = &ps[i];
			enc[k] = e;
		}
	}
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = 0;
	if (single) {
		bool yes = true;
		rc = decode_extended(&single, &yes, 1, drop_controls, &b);
	} else if (seg[0]) {
		size_t k = 0;
		while (k < PARAM_SEGMENTS_MAX && seg[k])
			k++;
		rc = decode_extended(seg, enc, k, drop_controls, &b);
	} else if (plain) {
		bool no = false;
		rc = decode_extended(&plain, &no, 1, drop_controls, &b);
	} else {
		return 0;
	}
	if (rc == 0 && !(*out = imap_buf_steal(&b)))
		rc = IMAP_ERR_NOMEM;
	imap_buf_free(&b);
	return rc == IMAP_ERR_LIMIT ? 0 : rc; /* too long decoded: absent */
}

int imap_mime_param_get(const struct imap_mime_param *params, size_t n, const char *name,
                        char **out)
{
	*out = NULL;
	if (!params || !name)
		return 0;
	int rc = param_decode(params, n, name, false, out);
	if (rc == 0 && *out)
		controls(*out, false);
	return rc;
}

/* *out = the safe file name made from decoded text s (see the header),
 * or NULL when nothing is left. */
static int clean_filename(char *s, char **out)
{
	*out = NULL;
	controls(s, true);
	const char *start = s;
	for (const char *c = s; *c; c++)
		if (*c == '/' || *c == '\\')
			start = c + 1;
	while (*start == ' ')
		start++;
	size_t len = strlen(start);
	if (len > IMAP_FILENAME_MAX) {
		len = IMAP_FILENAME_MAX;
		while (len > 0 && ((unsigned char)start[len] & 0xc0) == 0x80)
			len--; /* do not cut a character */
	}
	while (len > 0 && start[len - 1] == ' ')
		len--;
	if (len == 0 || (len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.'))
		return 0;
	if (!(*out = strndup(start, len)))
		return IMAP_ERR_NOMEM;
	return 0;
}

/* The decoded, cleaned parameter `name` as a file name, or NULL. */
static int filename_param(const struct imap_mime_param *ps, size_t n, const char *name, char **out)
{
	char *raw = NULL;
	*out = NULL;
	int rc = param_decode(ps, n, name, true, &raw);
	if (rc == 0 && raw)
		rc = clean_filename(raw, out);
	free(raw);
	return rc;
}

static int filename_of(const struct imap_body_part *p, char **out)
{
	int rc = filename_param(p->dsp_params, p->ndsp_params, "filename", out);
	if (rc == 0 && !*out)
		rc = filename_param(p->params, p->nparams, "name", out);
	return rc;
}

/* ---- body text ---- */

static int list_push(struct imap_body_part_list *l, size_t *cap, const struct imap_body_part *p)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		const struct imap_body_part **v = realloc(l->v, ncap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		l->v = v;
		*cap = ncap;
	}
	l->v[l->n++] = p;
	return 0;
}

void imap_body_part_list_free(struct imap_body_part_list *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool type_is(const struct imap_body_part *p, const char *type, const char *sub)
{
	return strcmp(p->type, type) == 0 && (!sub || strcmp(p->subtype, sub) == 0);
}

/* A disposition other than "inline" (RFC 2183 §2.8: an unknown one is
 * treated as "attachment"). */
static bool attachment_dsp(const struct imap_body_part *p)
{
	return p->disposition && strcmp(p->disposition, "inline") != 0;
}

/* s without surrounding blanks and angle brackets: [*start, *start+len). */
static void bare_id(const char *s, const char **start, size_t *len)
{
	while (*s == ' ' || *s == '<')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '>'))
		n--;
	*start = s;
	*len = n;
}

/* The root of a multipart/related: the part named by "start", else the
 * first. NULL when it has no parts. */
static int related_root(const struct imap_body_part *p, const struct imap_body_part **root)
{
	*root = p->nchildren ? &p->children[0] : NULL;
	char *start = NULL;
	int rc = imap_mime_param_get(p->params, p->nparams, "start", &start);
	if (rc != 0 || !start)
		return rc;
	const char *want;
	size_t want_len;
	bare_id(start, &want, &want_len);
	for (size_t i = 0; i < p->nchildren && want_len > 0; i++) {
		const char *id;
		size_t id_len;
		if (!p->children[i].id)
			continue;
		bare_id(p->children[i].id, &id, &id_len);
		if (id_len == want_len && memcmp(id, want, id_len) == 0) {
			*root = &p->children[i];
			break;
		}
	}
	free(start);
	return 0;
}

struct text_ctx {
	const char *subtype;
	struct imap_body_part_list *out;
	size_t cap;
};

/* `in_mixed`: p is a part of a multipart/mixed (or of a kind treated
 * so), where a named text part is an attachment. */
static int choose_text(struct text_ctx *t, const struct imap_body_part *p, bool in_mixed)
{
	switch (p->kind) {
	case IMAP_BODY_MESSAGE:
		return 0;
	case IMAP_BODY_SINGLE:
		if (type_is(p, "text", t->subtype) && !attachment_dsp(p) && !(in_mixed && p->filename))
			return list_push(t->out, &t->cap, p);
		return 0;
	case IMAP_BODY_MULTIPART:
		break;
	}
	if (p->disposition && strcmp(p->disposition, "attachment") == 0)
		return 0;
	if (strcmp(p->subtype, "alternative") == 0) {
		/* The last alternative that yields text, preferring one whose
		 * text is not empty (a server that misreads a boundary may see
		 * an extra, empty part at the end). */
		const struct imap_body_part *empty = NULL;
		for (size_t i = p->nchildren; i-- > 0;) {
			size_t before = t->out->n;
			int rc = choose_text(t, &p->children[i], false);
			if (rc != 0)
				return rc;
			uint64_t size = 0;
			for (size_t k = before; k < t->out->n; k++)
				size += t->out->v[k]->size;
			if (size > 0)
				return 0;
			if (t->out->n > before && !empty)
				empty = &p->children[i];
			t->out->n = before;
		}
		return empty ? choose_text(t, empty, false) : 0;
	}
	if (strcmp(p->subtype, "related") == 0) {
		const struct imap_body_part *root = NULL;
		int rc = related_root(p, &root);
		return rc != 0 || !root ? rc : choose_text(t, root, false);
	}
	for (size_t i = 0; i < p->nchildren; i++) {
		int rc = choose_text(t, &p->children[i], true);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int imap_body_text_parts(const struct imap_body_part *body, enum imap_body_text kind,
                         struct imap_body_part_list *out)
{
	out->v = NULL;
	out->n = 0;
	if (!body)
		return 0;
	struct text_ctx t = {.subtype = kind == IMAP_TEXT_HTML ? "html" : "plain", .out = out};
	int rc = choose_text(&t, body, false);
	if (rc != 0)
		imap_body_part_list_free(out);
	return rc;
}

/* ---- attachments ---- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t leaves_size(const struct imap_body_part *p)
{
	if (p->kind != IMAP_BODY_MULTIPART)
		return p->size;
	uint64_t sum = 0;
	for (size_t i = 0; i < p->nchildren; i++)
		sum = add_sat(sum, leaves_size(&p->children[i]));
	return sum;
}

static uint64_t decoded_size(const struct imap_body_part *p, uint64_t size)
{
	if (!p->encoding || strcmp(p->encoding, "base64") != 0)
		return size;
	uint64_t lines = p->lines ? p->lines : size / 78 + (size % 78 != 0);
	if (lines > size / 2)
		return 0;
	uint64_t data = size - 2 * lines;
	return data / 4 * 3 + data % 4 * 3 / 4;
}

static void attachment_free(struct imap_attachment *a)
{
	free(a->section);
	free(a->filename);
	free(a->content_type);
	free(a->disposition);
	free(a->content_id);
	free(a->encoding);
}

void imap_attachment_list_free(struct imap_attachment_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		attachment_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

struct att_ctx {
	struct imap_attachment_list *out;
	size_t cap;
};

static int add_attachment(struct att_ctx *a, const struct imap_body_part *p)
{
	if (a->out->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 4;
		struct imap_attachment *v = realloc(a->out->v, ncap * sizeof *v);
		if (!v)
			return IMAP_ERR_NOMEM;
		a->out->v = v;
		a->cap = ncap;
	}
	struct imap_attachment *e = &a->out->v[a->out->n];
	memset(e, 0, sizeof *e);
	a->out->n++;
	size_t tlen = strlen(p->type), slen = strlen(p->subtype);
	if (!(e->content_type = malloc(tlen + slen + 2)))
		return IMAP_ERR_NOMEM;
	memcpy(e->content_type, p->type, tlen);
	e->content_type[tlen] = '/';
	memcpy(e->content_type + tlen + 1, p->subtype, slen + 1);
	if (dup_str(p->section, &e->section) != 0 || dup_str(p->filename, &e->filename) != 0 ||
	    dup_str(p->disposition, &e->disposition) != 0 || dup_str(p->id, &e->content_id) != 0 ||
	    dup_str(p->encoding, &e->encoding) != 0)
		return IMAP_ERR_NOMEM;
	e->is_inline = (p->disposition && strcmp(p->disposition, "inline") == 0) ||
	               (p->id && p->parent && p->parent->kind == IMAP_BODY_MULTIPART &&
	                strcmp(p->parent->subtype, "related") == 0);
	e->size = leaves_size(p);
	e->decoded_size = p->kind == IMAP_BODY_MULTIPART ? e->size : decoded_size(p, e->size);
	return 0;
}

static bool listed(const struct imap_body_part_list *l, const struct imap_body_part *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == p)
			return true;
	return false;
}

static int collect_message(struct att_ctx *a, const struct imap_body_part *body);

static int walk_attachments(struct att_ctx *a, const struct imap_body_part *p,
                            const struct imap_body_part_list *plain,
                            const struct imap_body_part_list *html)
{
	switch (p->kind) {
	case IMAP_BODY_MULTIPART:
		if (p->disposition && strcmp(p->disposition, "attachment") == 0)
			return add_attachment(a, p);
		for (size_t i = 0; i < p->nchildren; i++) {
			int rc = walk_attachments(a, &p->children[i], plain, html);
			if (rc != 0)
				return rc;
		}
		return 0;
	case IMAP_BODY_MESSAGE: {
		int rc = add_attachment(a, p);
		return rc != 0 ? rc : collect_message(a, &p->children[0]);
	}
	case IMAP_BODY_SINGLE:
		break;
	}
	/* An empty leaf typed multipart holds nothing to download (Courier
	 * shows so a multipart whose boundary begins with its parent's: it
	 * reads the children as its parent's, and this part as empty) */
	if (type_is(p, "multipart", NULL) && p->size == 0 && !attachment_dsp(p) && !p->filename)
		return 0;
	if (!type_is(p, "text", NULL))
		return add_attachment(a, p);
	if ((attachment_dsp(p) || p->filename) && !listed(plain, p) && !listed(html, p))
		return add_attachment(a, p);
	return 0;
}

/* The attachments of the message whose body is `body`. */
static int collect_message(struct att_ctx *a, const struct imap_body_part *body)
{
	struct imap_body_part_list plain = {0}, html = {0};
	int rc = imap_body_text_parts(body, IMAP_TEXT_PLAIN, &plain);
	if (rc == 0)
		rc = imap_body_text_parts(body, IMAP_TEXT_HTML, &html);
	if (rc == 0)
		rc = walk_attachments(a, body, &plain, &html);
	imap_body_part_list_free(&plain);
	imap_body_part_list_free(&html);
	return rc;
}

int imap_bodystructure_attachment_list(const struct imap_bodystructure *bs,
                                       struct imap_attachment_list *out)
{
	out->v = NULL;
	out->n = 0;
	if (!bs)
		return 0;
	struct att_ctx a = {.out = out};
	return collect_message(&a, &bs->root);
}

unsigned imap_bodystructure_attachments(const struct imap_value *body)
{
	struct imap_bodystructure *bs = NULL;
	if (imap_bodystructure_parse(body, &bs, NULL) != 0)
		return 0;
	struct imap_attachment_list l;
	unsigned n = 0;
	if (imap_bodystructure_attachment_list(bs, &l) == 0)
		n = (unsigned)l.n;
	imap_attachment_list_free(&l);
	imap_bodystructure_free(&bs);
	return n;
}
