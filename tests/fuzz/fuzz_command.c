/*
 * libFuzzer target: the command encoder.
 *
 * Whatever bytes a user sends, the encoder either refuses them or emits an
 * argument that an IMAP parser reads back as exactly one value equal to the
 * input: nothing is ever spliced into the command line. Checked by
 * encoding "T1 X <arg>", turning it into the response "* X <arg>" and
 * parsing that with our own parser (literal framing included).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/command.h"
#include "imap/mail/utf7.h"
#include "imap/parser.h"

static void check(const char *s, size_t len, unsigned flags, int kind)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", flags, 1u << 20);
	imap_cmd_atom(&c, "X");
	if (kind == 0)
		imap_cmd_astring(&c, s, len);
	else if (kind == 1)
		imap_cmd_string(&c, s, len);
	else if (kind == 2)
		imap_cmd_mailbox(&c, s, len);
	else
		imap_cmd_literal(&c, s, len);
	int rc = imap_cmd_end(&c);
	if (rc) {
		/* Refusals are for NUL, invalid UTF-8 names, or size. */
		if (rc != IMAP_ERR_INVALID && rc != IMAP_ERR_LIMIT)
			abort();
		if (rc == IMAP_ERR_INVALID && !memchr(s, '\0', len) &&
		    !(kind == 2 && imap_utf8_validate(s, len) != 0))
			abort();
		imap_cmd_free(&c);
		return;
	}
	/* The command line must end exactly at the final CRLF. */
	if (c.wire.len < 2 || memcmp(c.wire.data + c.wire.len - 2, "\r\n", 2) != 0)
		abort();

	struct imap_buf resp;
	imap_buf_init(&resp, 0);
	imap_buf_puts(&resp, "*");
	imap_buf_append(&resp, c.wire.data + 2, c.wire.len - 2);  /* drop "T1" */
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used = 0;
	if (imap_parser_feed(p, resp.data, resp.len, &used) != IMAP_PARSE_DONE ||
	    used != resp.len)
		abort();
	const struct imap_response *r = imap_parser_response(p);
	if (!r->args || r->args->count != 2)
		abort();
	const struct imap_value *v = imap_value_at(r->args, 1);
	if (!imap_value_is_string(v))
		abort();
	if (kind == 1 && v->kind == IMAP_VALUE_ATOM)
		abort();
	struct imap_buf back;
	imap_buf_init(&back, 0);
	if (kind == 2 && !(flags & IMAP_CMD_UTF8) && !(len == 5 && strncasecmp(s, "INBOX", 5) == 0)) {
		if (imap_utf7_decode(v->str, v->len, &back) != 0)
			abort();
	} else {
		imap_buf_append(&back, v->str, v->len);
	}
	bool inbox = kind == 2 && len == 5 && strncasecmp(s, "INBOX", 5) == 0;
	if (back.len != len || (!inbox && len && memcmp(back.data, s, len) != 0))
		abort();
	imap_buf_free(&back);
	imap_parser_free(&p);
	imap_buf_free(&resp);
	imap_cmd_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & 7u;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	for (int kind = 0; kind < 4; kind++)
		check(s, len, flags, kind);
	return 0;
}
