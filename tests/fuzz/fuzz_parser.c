/*
 * libFuzzer target: the response parser.
 *
 * The first bytes choose limits, a split point and whether literals go to
 * a sink (which may fail part-way), all of them or only the BODY[...] items
 * a filter picks; the rest is fed once whole and once in
 * two pieces (then byte by byte for short inputs). Both runs must agree
 * exactly: same responses, same literal origins, same sunk bytes, same
 * error. Crashes, leaks and
 * undefined behaviour are caught by the sanitizers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/base/buf.h"
#include "imap/base/error.h"
#include "imap/parser.h"

struct sink {
	struct imap_buf *out;
	size_t taken, fail_at;  /* fail once fail_at bytes were taken (0: never) */
};

/* Record what reaches the sink; the record must not depend on how the
 * input was split, so a failure takes exactly fail_at bytes. */
static int sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct sink *k = ctx;
	if (!data) {
		imap_buf_printf(k->out, "[literal %llu]", (unsigned long long)total);
		return 0;
	}
	if (k->fail_at && k->taken + len >= k->fail_at) {
		imap_buf_append(k->out, data, k->fail_at - k->taken);
		k->taken = k->fail_at;
		imap_buf_puts(k->out, "[sink failed]");
		return IMAP_ERR_LIMIT;
	}
	imap_buf_append(k->out, data, len);
	k->taken += len;
	return 0;
}

/* Record where each literal stands (the record must not depend on how the
 * input was split either) and stream only BODY[...] items. */
static bool want(void *ctx, const struct imap_literal_origin *o)
{
	struct sink *k = ctx;
	if (strlen(o->item) != o->item_len || (!o->item_len && (o->number || o->uid)))
		abort();
	imap_buf_printf(k->out, "[origin %u %s %u]", o->number, o->item, o->uid);
	return o->item_len >= 5 && strncasecmp(o->item, "BODY[", 5) == 0;
}

/* Parse everything, splitting the input at `split` (and everywhere when
 * bytewise); render every response and the final state into out. */
static void run(const char *in, size_t len, size_t split, int bytewise,
                const struct imap_parser_limits *lim, int sunk, int filter, size_t fail_at,
                struct imap_buf *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct sink k = {out, 0, fail_at};
	if (sunk)
		imap_parser_set_literal_sink(p, sink, &k);
	if (sunk && filter)
		imap_parser_set_literal_filter(p, want);
	size_t pos = 0;
	while (pos < len) {
		size_t end = bytewise ? pos + 1 : (pos < split ? split : len);
		while (pos < end) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_feed(p, in + pos, end - pos, &used);
			if (used > end - pos)
				abort();
			pos += used;
			if (r == IMAP_PARSE_ERROR) {
				imap_buf_printf(out, "ERROR %s at %zu", imap_parser_error(p), pos);
				imap_parser_free(&p);
				return;
			}
			if (r == IMAP_PARSE_DONE) {
				imap_response_format(imap_parser_response(p), out, true);
				imap_buf_putc(out, '\n');
			}
		}
	}
	if (imap_parser_in_response(p))
		imap_buf_puts(out, "PARTIAL");
	imap_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.line_max = data[0] < 128 ? 1u + data[0] * 8u : 1u << 20;
	lim.literal_max = data[1] < 128 ? data[1] : 1u << 20;
	lim.depth_max = 1u + (data[2] & 15u);
	int sunk = (data[2] & 0x80) != 0;
	int filter = (data[0] & 1) != 0;
	size_t fail_at = (data[2] & 0x40) ? 1u + (data[2] & 0x30) : 0;
	lim.response_max = 1u << 22;
	size_t split = data[3];
	const char *in = (const char *)data + 4;
	size_t len = size - 4;
	if (split > len)
		split = len;

	struct imap_buf a, b;
	imap_buf_init(&a, 0);
	imap_buf_init(&b, 0);
	run(in, len, split, 0, &lim, sunk, filter, fail_at, &a);
	run(in, len, len, 0, &lim, sunk, filter, fail_at, &b);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();
	if (len < 512) {
		imap_buf_reset(&b, 0);
		run(in, len, len, 1, &lim, sunk, filter, fail_at, &b);
		if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
			abort();
	}
	imap_buf_free(&a);
	imap_buf_free(&b);
	return 0;
}
