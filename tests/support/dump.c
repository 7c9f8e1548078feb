/*
 * tests/support/dump.c — canonical rendering of parsed responses. See dump.h.
 */
#include "tests/support/dump.h"

#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"

char *test_dump_response(const struct imap_response *r)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_response_format(r, &b, true);
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
				imap_response_format(imap_parser_response(p), &out, true);
			}
		}
	}
	if (imap_parser_in_response(p))
		imap_buf_puts(&out, first ? "NEED_MORE" : "\nNEED_MORE");
out:
	imap_parser_free(&p);
	return imap_buf_steal(&out);
}
