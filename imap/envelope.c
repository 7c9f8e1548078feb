/*
 * imap/envelope.c — ENVELOPE values and raw address headers as C data.
 * See envelope.h for the contracts.
 *
 * Both halves end in the same place: a list of (name, address) pairs whose
 * strings are clean UTF-8. The ENVELOPE half trusts the server's split of
 * each address into name / route / mailbox / host and only has to cope
 * with NILs in odd places and with group markers. The header half does
 * that split itself, following RFC 5322 §3.4 where the input allows and
 * guessing the way mail clients do where it does not.
 */
#include "imap/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/mail/date.h"
#include "imap/mail/rfc2047.h"
#include "imap/mail/utf7.h"

/* ---- clean UTF-8 strings ---- */

/* Append s[0..len) to b with every NUL and every byte that is not part of
 * a well-formed UTF-8 sequence replaced by U+FFFD. */
static int put_clean(struct imap_buf *b, const char *s, size_t len)
{
	static const char replacement[3] = {'\xef', '\xbf', '\xbd'};
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t run = i, n;
		size_t bad;
		while (run < len && u[run] && (n = imap_utf8_seq(s + run, len - run, &bad)) != 0)
			run += n;
		int rc = imap_buf_append(b, s + i, run - i);
		if (rc == 0 && run < len)
			rc = imap_buf_append(b, replacement, sizeof replacement);
		if (rc != 0)
			return rc;
		i = run + 1;
	}
	return 0;
}

/* *out = a clean heap copy of s[0..len). */
static int dup_clean(const char *s, size_t len, char **out)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = put_clean(&b, s, len);
	if (rc == 0 && !(*out = imap_buf_steal(&b)))
		rc = IMAP_ERR_NOMEM;
	imap_buf_free(&b);
	return rc;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* *out = the RFC 2047 decoding of s[0..len), cleaned, with surrounding
 * whitespace trimmed when `trim`; NULL when that leaves nothing and
 * `empty_is_null`. */
static int dup_decoded(const char *s, size_t len, bool trim, bool empty_is_null, char **out)
{
	struct imap_buf dec, clean;
	imap_buf_init(&dec, 0);
	imap_buf_init(&clean, 0);
	*out = NULL;
	int rc = imap_rfc2047_decode(s, len, &dec);
	if (rc != 0)
		goto done;
	const char *p = dec.data ? dec.data : "";
	size_t n = dec.len;
	if (trim) {
		while (n && is_wsp(*p))
			p++, n--;
		while (n && is_wsp(p[n - 1]))
			n--;
	}
	if (n == 0 && empty_is_null)
		goto done;
	rc = put_clean(&clean, p, n);
	if (rc == 0 && !(*out = imap_buf_steal(&clean)))
		rc = IMAP_ERR_NOMEM;
done:
	imap_buf_free(&dec);
	imap_buf_free(&clean);
	return rc;
}

/* ---- address lists ---- */

void imap_address_list_free(struct imap_address_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].address);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append (name, address) to l, taking ownership of both (freed on error).
 * *cap is the allocated length of l->v. */
static int list_push(struct imap_address_list *l, size_t *cap, char *name, char *address)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct imap_address *v = ncap <= SIZE_MAX / sizeof *v
						 ? realloc(l->v, ncap * sizeof *v)
						 : NULL;
		if (!v) {
			free(name);
			free(address);
			return IMAP_ERR_NOMEM;
		}
		l->v = v;
		*cap = ncap;
	}
	l->v[l->n].name = name;
	l->v[l->n].address = address;
	l->n++;
	return 0;
}

/* ---- ENVELOPE ---- */

/* A string value, or NULL for NIL, lists and anything else. */
static const struct imap_value *str_value(const struct imap_value *v)
{
	return imap_value_is_string(v) ? v : NULL;
}

/* A string value with at least one byte, else NULL. */
static const struct imap_value *nonempty(const struct imap_value *v)
{
	v = str_value(v);
	return v && v->len ? v : NULL;
}

/* Hosts that servers put in place of a missing domain: Dovecot's, and
 * UW imapd's (which Exchange copies). They name no host. */
static bool placeholder_host(const struct imap_value *host)
{
	static const char *const names[] = {"MISSING_DOMAIN", ".MISSING-HOST-NAME."};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (host->len == strlen(names[i]) && memcmp(host->str, names[i], host->len) == 0)
			return true;
	return false;
}

/* The four fields of an address, each NULL unless a non-empty string. */
struct env_addr {
	const struct imap_value *name, *adl, *mailbox, *host;
};

static bool env_addr_get(const struct imap_value *a, struct env_addr *out)
{
	if (!a || a->kind != IMAP_VALUE_LIST)
		return false;
	out->name = nonempty(imap_value_at(a, 0));
	out->adl = nonempty(imap_value_at(a, 1));
	out->mailbox = nonempty(imap_value_at(a, 2));
	out->host = nonempty(imap_value_at(a, 3));
	return true;
}

/* RFC 3501 §7.4.2: NIL host + non-NIL mailbox starts a group (the mailbox
 * is its name); NIL host + NIL mailbox ends one. */
static bool is_group_start(const struct env_addr *a)
{
	return !a->host && a->mailbox;
}

static bool is_group_end(const struct env_addr *a)
{
	return !a->host && !a->mailbox;
}

/* Does an end-of-group marker follow item a (before another start)? Only
 * then is a a group start; otherwise it is an unqualified mailbox. Stopping
 * at the next start keeps the scans linear over the whole list. */
static bool group_end_follows(const struct imap_value *list, const struct imap_value *a,
                              uint32_t idx)
{
	const struct imap_value *v = a;
	for (uint32_t i = idx + 1; i < list->count; i++) {
		v = imap_value_next(v);
		struct env_addr e;
		if (!env_addr_get(v, &e))
			continue;
		if (is_group_end(&e))
			return true;
		if (is_group_start(&e))
			return false;
	}
	return false;
}

/* Append one address to l: name decoded, address "mailbox@host". */
static int push_env_addr(struct imap_address_list *l, size_t *cap, const struct env_addr *a)
{
	char *name = NULL, *address = NULL;
	struct imap_buf b;
	imap_buf_init(&b, 0);
	int rc = 0;
	if (a->name && (rc = dup_decoded(a->name->str, a->name->len, true, true, &name)) != 0)
		goto fail;
	if (a->mailbox) {
		rc = put_clean(&b, a->mailbox->str, a->mailbox->len);
		if (rc == 0 && a->host && !placeholder_host(a->host)) {
			rc = imap_buf_putc(&b, '@');
			if (rc == 0)
				rc = put_clean(&b, a->host->str, a->host->len);
		}
		if (rc != 0)
			goto fail;
	}
	if (!name && b.len == 0)
		goto fail; /* nothing to show: not an entry (rc is 0) */
	if (!(address = imap_buf_steal(&b))) {
		rc = IMAP_ERR_NOMEM;
		goto fail;
	}
	return list_push(l, cap, name, address);
fail:
	free(name);
	imap_buf_free(&b);
	return rc;
}

/* env-from etc.: "(" 1*address ")" / nil, group markers flattened. */
static int parse_env_addresses(const struct imap_value *list, struct imap_address_list *out)
{
	const struct imap_value *item;
	uint32_t i;
	size_t cap = 0;
	bool in_group = false;
	int rc = 0;
	if (!list || list->kind != IMAP_VALUE_LIST)
		return 0;
	IMAP_LIST_FOREACH(list, item, i) {
		struct env_addr a;
		if (!env_addr_get(item, &a))
			continue; /* not an address: skip it */
		if (is_group_start(&a) && !in_group && group_end_follows(list, item, i)) {
			in_group = true;
			continue;
		}
		if (is_group_end(&a)) {
			bool was_in_group = in_group;
			in_group = false;
			if (was_in_group || !a.name)
				continue;
		}
		if ((rc = push_env_addr(out, &cap, &a)) != 0)
			break;
	}
	return rc;
}

/* *out = a clean copy of v when it is a non-empty string, else NULL. */
static int dup_raw(const struct imap_value *v, char **out)
{
	*out = NULL;
	v = nonempty(v);
	return v ? dup_clean(v->str, v->len, out) : 0;
}

void imap_envelope_free(struct imap_envelope *e)
{
	if (!e)
		return;
	free(e->date_raw);
	free(e->subject);
	free(e->in_reply_to);
	free(e->message_id);
	imap_address_list_free(&e->from);
	imap_address_list_free(&e->sender);
	imap_address_list_free(&e->reply_to);
	imap_address_list_free(&e->to);
	imap_address_list_free(&e->cc);
	imap_address_list_free(&e->bcc);
	memset(e, 0, sizeof *e);
}

enum {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_FIELDS
};

int imap_envelope_parse(const struct imap_value *env, struct imap_envelope *out)
{
	const struct imap_value *f[ENV_FIELDS] = {NULL};
	const struct imap_value *v;
	uint32_t i;
	int rc;

	memset(out, 0, sizeof *out);
	if (!env || env->kind != IMAP_VALUE_LIST)
		return IMAP_ERR_PROTOCOL;
	/* Domino wraps the ten fields in one more pair of parentheses:
	 * ENVELOPE (("date" "subject" ...)). A list whose only item is a
	 * list of several items is that; a real envelope's first field (the
	 * date) is never a list. */
	for (const struct imap_value *inner = imap_value_first(env);
	     env->count == 1 && inner && inner->kind == IMAP_VALUE_LIST && inner->count > 1;
	     inner = imap_value_first(env))
		env = inner;
	IMAP_LIST_FOREACH(env, v, i) {
		if (i >= ENV_FIELDS)
			break;
		f[i] = v;
	}

	if ((rc = dup_raw(f[ENV_DATE], &out->date_raw)) != 0)
		goto fail;
	if (out->date_raw)
		out->has_date = imap_date_parse_rfc5322(f[ENV_DATE]->str, f[ENV_DATE]->len,
		                                        &out->date, &out->date_tz) == 0;
	if (str_value(f[ENV_SUBJECT]) &&
	    (rc = dup_decoded(f[ENV_SUBJECT]->str, f[ENV_SUBJECT]->len, false, false,
	                      &out->subject)) != 0)
		goto fail;

	struct {
		int field;
		struct imap_address_list *list;
	} lists[] = {
		{ENV_FROM, &out->from}, {ENV_SENDER, &out->sender}, {ENV_REPLY_TO, &out->reply_to},
		{ENV_TO, &out->to},     {ENV_CC, &out->cc},         {ENV_BCC, &out->bcc},
	};
	for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++)
		if ((rc = parse_env_addresses(f[lists[k].field], lists[k].list)) != 0)
			goto fail;

	if ((rc = dup_raw(f[ENV_IN_REPLY_TO], &out->in_reply_to)) != 0 ||
	    (rc = dup_raw(f[ENV_MESSAGE_ID], &out->message_id)) != 0)
		goto fail;
	return 0;
fail:
	imap_envelope_free(out);
	return rc;
}

/* ---- raw address headers (RFC 5322 §3.4) ---- */

/*
 * The header is first cut into tokens; quoted strings, comments and domain
 * literals are single tokens, so everything after works on a flat array
 * and never needs to know about quoting again.
 *
 *   specials = "(" / ")" / "<" / ">" / "[" / "]" / ":" / ";" / "@" /
 *              "\" / "," / "." / DQUOTE
 *
 * Unlike RFC 5322 atoms, ours also take "." (so dot-atoms and obs-phrase
 * words like "Q." are one token), "\", "]" and any other byte that is not
 * whitespace or one of ( ) < > [ : ; @ , DQUOTE.
 */
enum htok_kind { H_ATOM, H_QUOTED, H_DLIT, H_COMMENT, H_SPECIAL };

struct htok {
	size_t off, len;     /* raw bytes, delimiters included */
	enum htok_kind kind;
	char c;              /* H_SPECIAL: one of < > : ; @ , */
	bool space_before;   /* whitespace or a comment precedes it */
};

struct htoks {
	struct htok *v;
	size_t n, cap;
};

static bool is_hspecial(char c)
{
	return c == '<' || c == '>' || c == ':' || c == ';' || c == '@' || c == ',';
}

static bool ends_atom(char c)
{
	return is_wsp(c) || is_hspecial(c) || c == '(' || c == ')' || c == '[' || c == '"';
}

/* End (exclusive) of the delimited token that starts at s[i] = open:
 * quoted strings and domain literals end at the first unescaped close,
 * comments at the matching ")" (they nest); "\" quotes the next byte. An
 * unclosed token runs to len. */
static size_t delimited_end(const char *s, size_t len, size_t i, char open, char close)
{
	bool nests = open == '(';
	size_t depth = 1;
	for (i++; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == close) {
			if (--depth == 0)
				return i + 1;
		} else if (nests && s[i] == open) {
			depth++;
		}
	}
	return len;
}

static int lex_header(const char *s, size_t len, struct htoks *t)
{
	bool space = false;
	size_t i = 0;
	while (i < len) {
		char c = s[i];
		if (is_wsp(c) || c == ')') { /* a stray ")" is noise */
			space = true;
			i++;
			continue;
		}
		struct htok k = {.off = i, .space_before = space};
		size_t end;
		if (c == '"') {
			k.kind = H_QUOTED;
			end = delimited_end(s, len, i, '"', '"');
		} else if (c == '(') {
			k.kind = H_COMMENT;
			end = delimited_end(s, len, i, '(', ')');
		} else if (c == '[') {
			k.kind = H_DLIT;
			end = delimited_end(s, len, i, '[', ']');
		} else if (is_hspecial(c)) {
			k.kind = H_SPECIAL;
			k.c = c;
			end = i + 1;
		} else {
			k.kind = H_ATOM;
			end = i + 1;
			while (end < len && !ends_atom(s[end]))
				end++;
		}
		if (end > len)
			end = len;
		k.len = end - i;
		i = end;
		space = k.kind == H_COMMENT;
		if (t->n == t->cap) {
			size_t ncap = t->cap ? t->cap * 2 : 32;
			struct htok *v = ncap <= SIZE_MAX / sizeof *v ? realloc(t->v, ncap * sizeof *v)
			                                              : NULL;
			if (!v)
				return IMAP_ERR_NOMEM;
			t->v = v;
			t->cap = ncap;
		}
		t->v[t->n++] = k;
	}
	return 0;
}

/* Inner bytes of a quoted string or comment token (delimiters dropped when
 * present: an unclosed one has no closing delimiter). */
static void token_inner(const char *s, const struct htok *k, const char **p, size_t *n)
{
	char close = k->kind == H_QUOTED ? '"' : ')';
	*p = s + k->off + 1;
	*n = k->len - 1;
	/* Closed when the last byte is the close and not the opening byte itself
	 * (and not escaped: an escaped close would not have ended the token, so
	 * a final close that is escaped means the token is unclosed). */
	if (*n > 0 && (*p)[*n - 1] == close) {
		size_t bs = 0;
		while (bs < *n - 1 && (*p)[*n - 2 - bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			(*n)--;
	}
}

/* Append s[0..n) to b with quoted-pairs ("\x" -> "x") resolved. */
static int put_unescaped(struct imap_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		int rc = imap_buf_putc(b, s[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Append the display-name text of tokens [a, e) to b: words separated by
 * one space where the header had whitespace, quoted strings unquoted,
 * comments left out. */
static int put_phrase(struct imap_buf *b, const char *s, const struct htok *t, size_t a, size_t e)
{
	for (size_t k = a; k < e; k++) {
		int rc = 0;
		if (t[k].kind == H_COMMENT)
			continue;
		if (b->len && t[k].space_before)
			rc = imap_buf_putc(b, ' ');
		if (rc == 0 && t[k].kind == H_QUOTED) {
			const char *p;
			size_t n;
			token_inner(s, &t[k], &p, &n);
			rc = put_unescaped(b, p, n);
		} else if (rc == 0) {
			rc = imap_buf_append(b, s + t[k].off, t[k].len);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* *name = the decoded display name from tokens [a, e), or when they hold
 * no words, from the first comment in [ca, ce); NULL when neither has
 * text. */
static int element_name(const char *s, const struct htok *t, size_t a, size_t e, size_t ca,
                        size_t ce, char **name)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	*name = NULL;
	int rc = put_phrase(&b, s, t, a, e);
	if (rc == 0 && b.len == 0) {
		for (size_t k = ca; k < ce; k++) {
			if (t[k].kind == H_COMMENT) {
				const char *p;
				size_t n;
				token_inner(s, &t[k], &p, &n);
				rc = put_unescaped(&b, p, n);
				break;
			}
		}
	}
	if (rc == 0)
		rc = dup_decoded(b.data ? b.data : "", b.len, true, true, name);
	imap_buf_free(&b);
	return rc;
}

/* Append the addr-spec text of tokens [a, e) to b: words, domain literals
 * and "@" as written, whitespace and comments dropped, other specials
 * skipped. */
static int put_addr_spec(struct imap_buf *b, const char *s, const struct htok *t, size_t a,
                         size_t e)
{
	for (size_t k = a; k < e; k++) {
		int rc = 0;
		if (t[k].kind == H_ATOM || t[k].kind == H_QUOTED || t[k].kind == H_DLIT)
			rc = put_clean(b, s + t[k].off, t[k].len);
		else if (t[k].kind == H_SPECIAL && t[k].c == '@')
			rc = imap_buf_putc(b, '@');
		if (rc != 0)
			return rc;
	}
	return 0;
}

static bool is_special(const struct htok *k, char c)
{
	return k->kind == H_SPECIAL && k->c == c;
}

/* Do two adjacent words belong to one local part or domain? Yes when no
 * whitespace separates them or a dot joins them ("john . doe", obs-local-part). */
static bool joined(const char *s, const struct htok *prev, const struct htok *cur)
{
	return !cur->space_before || s[prev->off + prev->len - 1] == '.' || s[cur->off] == '.';
}

/* Index of the previous / next token that is not a comment, or SIZE_MAX. */
static size_t prev_solid(const struct htok *t, size_t a, size_t k)
{
	while (k > a)
		if (t[--k].kind != H_COMMENT)
			return k;
	return SIZE_MAX;
}

static size_t next_solid(const struct htok *t, size_t k, size_t e)
{
	for (; k < e; k++)
		if (t[k].kind != H_COMMENT)
			return k;
	return SIZE_MAX;
}

/* Append an entry for tokens [a, e) to out unless they hold neither an
 * address nor a name. */
static int parse_element(const char *s, const struct htok *t, size_t a, size_t e,
                         struct imap_address_list *out, size_t *cap)
{
	char *name = NULL, *address = NULL;
	struct imap_buf addr;
	imap_buf_init(&addr, 0);
	int rc = 0;

	size_t lt = a, at = a;
	while (lt < e && !is_special(&t[lt], '<'))
		lt++;
	while (at < e && !is_special(&t[at], '@'))
		at++;

	if (lt < e) {
		/* name-addr = [display-name] "<" [obs-route] addr-spec ">" */
		size_t gt = lt + 1, start = lt + 1;
		while (gt < e && !is_special(&t[gt], '>'))
			gt++;
		for (size_t k = lt + 1; k < gt; k++) /* obs-route = "@a,@b:" */
			if (is_special(&t[k], ':'))
				start = k + 1;
		rc = put_addr_spec(&addr, s, t, start, gt);
		if (rc == 0)
			rc = element_name(s, t, a, lt, a, e, &name);
	} else if (at < e) {
		/* A bare addr-spec, perhaps after an unbracketed name: the local
		 * part is the word run that ends at "@", the domain the run that
		 * starts after it, whatever precedes the local part is the name. */
		size_t ls = prev_solid(t, a, at), le = at;
		if (ls != SIZE_MAX && (t[ls].kind == H_ATOM || t[ls].kind == H_QUOTED)) {
			for (;;) {
				size_t p = prev_solid(t, a, ls);
				if (p == SIZE_MAX || (t[p].kind != H_ATOM && t[p].kind != H_QUOTED) ||
				    !joined(s, &t[p], &t[ls]))
					break;
				ls = p;
			}
		} else {
			ls = le = at; /* no local part */
		}
		size_t ds = next_solid(t, at + 1, e), de = ds;
		if (ds != SIZE_MAX && (t[ds].kind == H_ATOM || t[ds].kind == H_DLIT)) {
			de = ds + 1;
			for (;;) {
				size_t n = next_solid(t, de, e);
				if (n == SIZE_MAX || (t[n].kind != H_ATOM && t[n].kind != H_DLIT) ||
				    !joined(s, &t[de - 1], &t[n]))
					break;
				de = n + 1;
			}
		} else {
			ds = de = at + 1; /* no domain */
		}
		if (ls < le) { /* without a mailbox there is no address */
			rc = put_addr_spec(&addr, s, t, ls, le);
			if (rc == 0 && ds < de) {
				rc = imap_buf_putc(&addr, '@');
				if (rc == 0)
					rc = put_addr_spec(&addr, s, t, ds, de);
			}
		}
		if (rc == 0)
			rc = element_name(s, t, a, ls, a, e, &name);
	} else {
		/* No "@": one atom alone is an unqualified mailbox ("user");
		 * several words, or one quoted string, can only be a name; stray
		 * specials without words are nothing. */
		size_t first = next_solid(t, a, e), words = 0, solid = 0;
		for (size_t k = a; k < e; k++) {
			words += t[k].kind == H_ATOM || t[k].kind == H_QUOTED;
			solid += t[k].kind != H_COMMENT;
		}
		if (solid == 1 && t[first].kind == H_ATOM) {
			rc = put_addr_spec(&addr, s, t, first, first + 1);
			if (rc == 0)
				rc = element_name(s, t, a, a, a, e, &name);
		} else if (words > 0) {
			rc = element_name(s, t, a, e, a, a, &name);
		}
	}
	if (rc != 0 || (!name && addr.len == 0))
		goto done;
	if (!(address = imap_buf_steal(&addr))) {
		rc = IMAP_ERR_NOMEM;
		goto done;
	}
	rc = list_push(out, cap, name, address);
	name = NULL;
done:
	free(name);
	imap_buf_free(&addr);
	return rc;
}

/*
 * address-list = address *("," address); group = display-name ":"
 * [group-list] ";". The top level splits at "," and ";" outside "<...>"; a
 * ":" outside "<...>" and outside a group starts one, and its name (the
 * tokens before the ":") is dropped.
 */
int imap_address_parse_header(const char *value, size_t len, struct imap_address_list *out)
{
	struct htoks t = {NULL, 0, 0};
	size_t cap = 0, start = 0;
	bool in_angle = false, in_group = false;
	int rc;

	out->v = NULL;
	out->n = 0;
	if (!value)
		return 0;
	if ((rc = lex_header(value, len, &t)) != 0)
		goto done;
	for (size_t k = 0; k <= t.n && rc == 0; k++) {
		if (k == t.n) {
			rc = parse_element(value, t.v, start, k, out, &cap);
			break;
		}
		const struct htok *tk = &t.v[k];
		if (tk->kind != H_SPECIAL)
			continue;
		if (tk->c == '<')
			in_angle = true;
		else if (tk->c == '>')
			in_angle = false;
		if (in_angle)
			continue;
		if (tk->c == ',' || tk->c == ';') {
			rc = parse_element(value, t.v, start, k, out, &cap);
			start = k + 1;
			if (tk->c == ';')
				in_group = false;
		} else if (tk->c == ':' && !in_group) {
			start = k + 1;
			in_group = true;
		}
	}
done:
	free(t.v);
	if (rc != 0)
		imap_address_list_free(out);
	return rc;
}
