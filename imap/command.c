/*
 * imap/command.c — the one place where user data becomes protocol text.
 * See command.h for the rules.
 *
 * RFC 3501 §9 (with RFC 6855 for UTF-8 and RFC 7888 for LITERAL+/-):
 *   astring     = 1*ASTRING-CHAR / string
 *   string      = quoted / literal
 *   quoted      = DQUOTE *QUOTED-CHAR DQUOTE
 *   QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
 *   literal     = "{" number ["+"] "}" CRLF *CHAR8     ; CHAR8 excludes NUL
 *   atom-specials = "(" / ")" / "{" / SP / CTL / "%" / "*" / DQUOTE / "\" / "]"
 */
#include "imap/command.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap/base/error.h"
#include "imap/mail/utf7.h"

void imap_cmd_init(struct imap_cmd *c, const char *tag, unsigned flags, size_t max)
{
	memset(c, 0, sizeof *c);
	imap_buf_init(&c->wire, max);
	imap_buf_init(&c->trace, 0);
	c->flags = flags;
	imap_cmd_atom(c, tag);
}

void imap_cmd_free(struct imap_cmd *c)
{
	imap_buf_free(&c->wire);
	imap_buf_free(&c->trace);
	c->nsync = 0;
}

static void set_err(struct imap_cmd *c, int rc)
{
	if (rc && !c->err)
		c->err = rc;
}

/* Append to wire and trace (trace text may differ: NULL means the same). */
static void emit(struct imap_cmd *c, const char *w, size_t wn, const char *t, size_t tn)
{
	if (c->err)
		return;
	set_err(c, imap_buf_append(&c->wire, w, wn));
	if (!c->err)
		set_err(c, imap_buf_append(&c->trace, t ? t : w, t ? tn : wn));
}

/* One space before each argument, except first and right after "(". */
static void separate(struct imap_cmd *c)
{
	if (c->err || c->wire.len == 0)
		return;
	char last = c->wire.data[c->wire.len - 1];
	if (last != '(' && last != ' ')
		emit(c, " ", 1, NULL, 0);
}

static bool is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return false;
	return !strchr("(){%*\"\\]", ch);
}

int imap_cmd_encoding(const char *s, size_t len, unsigned flags, bool as_string)
{
	bool atom = !as_string && len > 0;
	bool quoted = len <= IMAP_CMD_QUOTED_MAX;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\0')
			return IMAP_ERR_INVALID;
		if (!is_atom_char(ch))
			atom = false;
		if (ch == '\r' || ch == '\n' || (ch >= 0x80 && !(flags & IMAP_CMD_UTF8)))
			quoted = false;
	}
	if (atom && len == 3 && strncasecmp(s, "NIL", 3) == 0)
		atom = false;
	if ((flags & IMAP_CMD_UTF8) && !atom && quoted) {
		/* 8-bit in a quoted string is allowed only as valid UTF-8. */
		bool eight = false;
		for (size_t i = 0; i < len && !eight; i++)
			eight = (unsigned char)s[i] >= 0x80;
		if (eight && imap_utf8_validate(s, len) != 0)
			quoted = false;
	}
	return atom ? 0 : quoted ? 1 : 2;
}

static void emit_quoted(struct imap_cmd *c, const char *s, size_t len, bool secret)
{
	/* A secret shows as "***" in the trace: every piece adds nothing there. */
	const char *hide = secret ? "" : NULL;
	emit(c, "\"", 1, hide, 0);
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			emit(c, s + run, i - run, hide, 0);
			emit(c, "\\", 1, hide, 0);
			run = i;
		}
	}
	emit(c, s + run, len - run, hide, 0);
	emit(c, "\"", 1, secret ? "***" : NULL, secret ? 3 : 0);
}

static void emit_literal(struct imap_cmd *c, const char *s, size_t len, bool secret)
{
	if (memchr(s, '\0', len)) {
		set_err(c, IMAP_ERR_INVALID);
		return;
	}
	bool plus = (c->flags & IMAP_CMD_LITERAL_PLUS) ||
	            ((c->flags & IMAP_CMD_LITERAL_MINUS) && len <= IMAP_CMD_LITERAL_MINUS_MAX);
	char head[40], shown[48];
	int hn = snprintf(head, sizeof head, "{%zu%s}\r\n", len, plus ? "+" : "");
	int sn = snprintf(shown, sizeof shown, "{%zu%s}<%zu bytes>", len, plus ? "+" : "", len);
	if (secret)
		sn = snprintf(shown, sizeof shown, "***");
	emit(c, head, (size_t)hn, shown, (size_t)sn);
	if (!plus && !c->err) {
		if (c->nsync == IMAP_CMD_SYNC_MAX) {
			set_err(c, IMAP_ERR_LIMIT);
			return;
		}
		c->sync[c->nsync++] = c->wire.len;
	}
	emit(c, s, len, "", 0);
}

static void emit_string(struct imap_cmd *c, const char *s, size_t len, bool as_string,
                        bool secret)
{
	if (c->err)
		return;
	int enc = imap_cmd_encoding(s, len, c->flags, as_string);
	separate(c);
	if (enc == 0)
		emit(c, s, len, secret ? "***" : NULL, secret ? 3 : 0);
	else if (enc == 1)
		emit_quoted(c, s, len, secret);
	else if (enc == 2)
		emit_literal(c, s, len, secret);
	else
		set_err(c, enc);
}

void imap_cmd_atom(struct imap_cmd *c, const char *word)
{
	size_t len = strlen(word);
	int bracket = 0;
	if (len == 0)
		set_err(c, IMAP_ERR_INVALID);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)word[i];
		if (ch == '[')
			bracket++;
		else if (ch == ']' && bracket > 0)
			bracket--;
		else if (ch == '(' || ch == ')' || ch == ' ')
			; /* allowed inside "[...]": BODY.PEEK[HEADER.FIELDS (FROM)] */
		else if (ch <= 0x20 || ch >= 0x7f || ch == '{' || ch == '"' || ch == ']')
			set_err(c, IMAP_ERR_INVALID);
		if ((ch == '(' || ch == ')' || ch == ' ') && bracket == 0)
			set_err(c, IMAP_ERR_INVALID);
	}
	if (bracket)
		set_err(c, IMAP_ERR_INVALID);
	separate(c);
	emit(c, word, len, NULL, 0);
}

void imap_cmd_raw(struct imap_cmd *c, const char *text)
{
	size_t len = strlen(text);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch < 0x20 || ch >= 0x7f || ch == '{')
			set_err(c, IMAP_ERR_INVALID);
	}
	/* A closing parenthesis ends a list: no space before it (RFC 3501 §9
	 * lists have none; Cyrus answers BAD to "( ... )" with one). */
	if (text[0] != ')')
		separate(c);
	emit(c, text, len, NULL, 0);
}

void imap_cmd_number(struct imap_cmd *c, uint64_t n)
{
	char num[24];
	int len = snprintf(num, sizeof num, "%" PRIu64, n);
	separate(c);
	emit(c, num, (size_t)len, NULL, 0);
}

void imap_cmd_astring(struct imap_cmd *c, const char *s, size_t len)
{
	emit_string(c, s, len, false, false);
}

void imap_cmd_string(struct imap_cmd *c, const char *s, size_t len)
{
	emit_string(c, s, len, true, false);
}

void imap_cmd_secret(struct imap_cmd *c, const char *s, size_t len)
{
	emit_string(c, s, len, false, true);
}

void imap_cmd_mailbox(struct imap_cmd *c, const char *utf8, size_t len)
{
	if (c->err)
		return;
	if (imap_utf8_validate(utf8, len) != 0) {
		set_err(c, IMAP_ERR_INVALID);
		return;
	}
	if (len == 5 && strncasecmp(utf8, "INBOX", 5) == 0) {
		emit_string(c, "INBOX", 5, false, false);
		return;
	}
	if ((c->flags & IMAP_CMD_UTF8) || !imap_utf7_needs_encoding(utf8, len)) {
		emit_string(c, utf8, len, false, false);
		return;
	}
	struct imap_buf enc;
	imap_buf_init(&enc, 0);
	int rc = imap_utf7_encode(utf8, len, &enc);
	if (rc)
		set_err(c, rc);
	else
		emit_string(c, enc.data, enc.len, false, false);
	imap_buf_free(&enc);
}

void imap_cmd_literal(struct imap_cmd *c, const void *data, size_t len)
{
	if (c->err)
		return;
	separate(c);
	emit_literal(c, data, len, false);
}

void imap_cmd_open(struct imap_cmd *c)
{
	separate(c);
	emit(c, "(", 1, NULL, 0);
}

void imap_cmd_close(struct imap_cmd *c)
{
	emit(c, ")", 1, NULL, 0);
}

int imap_cmd_end(struct imap_cmd *c)
{
	if (!c->err)
		set_err(c, imap_buf_append(&c->wire, "\r\n", 2));
	return c->err;
}

size_t imap_cmd_segment(const struct imap_cmd *c, size_t i, const char **data, size_t *len)
{
	size_t n = c->nsync + 1;
	if (i < n) {
		size_t from = i == 0 ? 0 : c->sync[i - 1];
		size_t to = i < c->nsync ? c->sync[i] : c->wire.len;
		*data = c->wire.data + from;
		*len = to - from;
	}
	return n;
}
