/*
 * libFuzzer target: ENVELOPE decoding, Date headers, INTERNALDATE and raw
 * address headers.
 *
 * The input is wrapped as "* 1 FETCH (ENVELOPE <data>)\r\n" and parsed;
 * when that yields a response, every value in it is offered to
 * imap_envelope_parse (so malformed envelopes at any depth are tried, not
 * only the one in the ENVELOPE slot). The raw bytes also go to the date
 * parsers and the address-header parser. Invariants checked beyond "no
 * crash, no leak": every string handed out is NUL-free valid UTF-8, every
 * address is non-NULL, entries are never empty, dates format to RFC 3339
 * and parse back to the same instant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/envelope.h"
#include "imap/mail/date.h"
#include "imap/mail/utf7.h"
#include "imap/parser.h"

static void check_str(const char *s)
{
	if (s && imap_utf8_validate(s, strlen(s)) != 0)
		abort();
}

static void check_list(const struct imap_address_list *l)
{
	if ((l->n == 0) != (l->v == NULL))
		abort();
	for (size_t i = 0; i < l->n; i++) {
		if (!l->v[i].address || (!l->v[i].name && !l->v[i].address[0]))
			abort();
		if (l->v[i].name && !l->v[i].name[0])
			abort();
		check_str(l->v[i].name);
		check_str(l->v[i].address);
	}
}

static void check_date(int64_t epoch, int tz)
{
	char out[IMAP_DATE_RFC3339_MAX];
	size_t n = imap_date_format_rfc3339(epoch, tz, out);
	if (n == 0 || n != strlen(out))
		abort();
	int64_t back;
	int back_tz;
	if (imap_date_parse_rfc5322(out, n, &back, &back_tz) != 0 || back != epoch || back_tz != tz)
		abort();
}

static void check_envelope(const struct imap_value *v)
{
	struct imap_envelope e;
	int rc = imap_envelope_parse(v, &e);
	if (rc == 0) {
		check_str(e.date_raw);
		check_str(e.subject);
		check_str(e.in_reply_to);
		check_str(e.message_id);
		check_list(&e.from);
		check_list(&e.sender);
		check_list(&e.reply_to);
		check_list(&e.to);
		check_list(&e.cc);
		check_list(&e.bcc);
		if (e.has_date && !e.date_raw)
			abort();
		if (e.has_date)
			check_date(e.date, e.date_tz);
	} else if (rc != IMAP_ERR_PROTOCOL || (v && v->kind == IMAP_VALUE_LIST)) {
		abort();
	}
	imap_envelope_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	/* Through the response parser. */
	static const char head[] = "* 1 FETCH (ENVELOPE ", tail[] = ")\r\n";
	struct imap_buf b;
	imap_buf_init(&b, 0);
	if (imap_buf_append(&b, head, sizeof head - 1) == 0 && imap_buf_append(&b, in, size) == 0 &&
	    imap_buf_append(&b, tail, sizeof tail - 1) == 0) {
		struct imap_parser *p = imap_parser_new(NULL);
		size_t used = 0;
		if (imap_parser_feed(p, b.data, b.len, &used) == IMAP_PARSE_DONE) {
			const struct imap_response *r = imap_parser_response(p);
			const struct imap_value *args = r->args;
			if (args) {
				/* args and all its descendants, in document order */
				for (uint32_t i = 0; i <= args->span; i++)
					check_envelope(args + i);
			}
		}
		imap_parser_free(&p);
	}
	imap_buf_free(&b);
	check_envelope(NULL);

	/* Raw bytes as a Date header and as an INTERNALDATE. */
	int64_t epoch;
	int tz;
	if (imap_date_parse_rfc5322(in, size, &epoch, &tz) == 0)
		check_date(epoch, tz);
	if (imap_date_parse_internal(in, size, &epoch, &tz) == 0)
		check_date(epoch, tz);

	/* Raw bytes as an address header. */
	struct imap_address_list l;
	if (imap_address_parse_header(in, size, &l) != 0)
		abort();
	check_list(&l);
	imap_address_list_free(&l);
	return 0;
}
