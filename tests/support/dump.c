/*
 * tests/support/dump.c — canonical rendering of parsed responses. See dump.h.
 */
#include "tests/support/dump.h"

#include <stdlib.h>
#include <string.h>

#include "imap/buf.h"

static void dump_value(struct imap_buf *b, const struct imap_value *v)
{
	const struct imap_value *c;
	size_t i;

	switch (v->kind) {
	case IMAP_VALUE_NIL:
		imap_buf_puts(b, "NIL");
		break;
	case IMAP_VALUE_ATOM:
		imap_buf_append(b, v->str, v->len);
		break;
	case IMAP_VALUE_QUOTED:
		imap_buf_putc(b, '"');
		imap_buf_append(b, v->str, v->len);
		imap_buf_putc(b, '"');
		break;
	case IMAP_VALUE_LITERAL:
		imap_buf_printf(b, "{%zu}", v->len);
		for (i = 0; i < v->len; i++) {
			unsigned char ch = (unsigned char)v->str[i];
			if (ch == '\r')
				imap_buf_puts(b, "\\r");
			else if (ch == '\n')
				imap_buf_puts(b, "\\n");
			else if (ch == 0)
				imap_buf_puts(b, "\\0");
			else
				imap_buf_putc(b, (char)ch);
		}
		break;
	case IMAP_VALUE_LIST:
		imap_buf_putc(b, '(');
		IMAP_LIST_FOREACH(v, c, i) {
			if (i)
				imap_buf_putc(b, ' ');
			dump_value(b, c);
		}
		imap_buf_putc(b, ')');
		break;
	}
}

static void dump_items(struct imap_buf *b, const struct imap_value *list)
{
	const struct imap_value *c;
	size_t i;
	IMAP_LIST_FOREACH(list, c, i) {
		if (i)
			imap_buf_putc(b, ' ');
		dump_value(b, c);
	}
}

static const char *status_name(enum imap_status s)
{
	switch (s) {
	case IMAP_STATUS_OK: return "OK";
	case IMAP_STATUS_NO: return "NO";
	case IMAP_STATUS_BAD: return "BAD";
	case IMAP_STATUS_PREAUTH: return "PREAUTH";
	case IMAP_STATUS_BYE: return "BYE";
	case IMAP_STATUS_NONE: break;
	}
	return "?";
}

static void dump_into(struct imap_buf *b, const struct imap_response *r)
{
	if (r->kind == IMAP_RESPONSE_CONTINUATION) {
		imap_buf_puts(b, "+ ");
		imap_buf_append(b, r->text, r->text_len);
		return;
	}
	imap_buf_puts(b, r->kind == IMAP_RESPONSE_TAGGED ? r->tag : "*");
	imap_buf_putc(b, ' ');
	if (r->status == IMAP_STATUS_NONE) {
		dump_items(b, r->args);
		return;
	}
	imap_buf_puts(b, status_name(r->status));
	if (r->code) {
		imap_buf_puts(b, " [");
		dump_items(b, r->code);
		imap_buf_putc(b, ']');
	}
	imap_buf_puts(b, " ");
	imap_buf_append(b, r->text, r->text_len);
}

char *test_dump_response(const struct imap_response *r)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	dump_into(&b, r);
	return imap_buf_steal(&b);
}

char *test_parse_all(const char *in, size_t len, size_t chunk,
                     const struct imap_parser_limits *limits)
{
	struct imap_parser *p = imap_parser_new(limits);
	struct imap_buf out;
	imap_buf_init(&out, 0);
	size_t pos = 0;
	bool first = true;

	if (chunk == 0)
		chunk = len ? len : 1;
	while (pos < len) {
		size_t end = pos + chunk < len ? pos + chunk : len;
		while (pos < end) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_feed(p, in + pos, end - pos, &used);
			pos += used;
			if (r == IMAP_PARSE_ERROR) {
				imap_buf_printf(&out, "%sERROR: %s", first ? "" : "\n",
				                imap_parser_error(p));
				goto out;
			}
			if (r == IMAP_PARSE_DONE) {
				if (!first)
					imap_buf_putc(&out, '\n');
				first = false;
				dump_into(&out, imap_parser_response(p));
			}
		}
	}
	if (imap_parser_in_response(p))
		imap_buf_puts(&out, first ? "NEED_MORE" : "\nNEED_MORE");
out:
	imap_parser_free(&p);
	return imap_buf_steal(&out);
}
