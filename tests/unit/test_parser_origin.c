/*
 * tests/unit/test_parser_origin.c — the literal filter of the parser
 * (imap_parser_set_literal_filter): what it is told about each literal,
 * and that the literals it leaves are stored while the others stream.
 * Input is fed one byte at a time, so the origin is read from values
 * that were themselves split across feeds.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "imap/parser.h"

struct seen {
	char origins[512];  /* "<number> <item> <uid>;" per literal header */
	char sunk[128];     /* streamed bytes */
	size_t sunk_len;
	const char *pick;   /* stream the literal of this item name */
};

static bool want(void *ctx, const struct imap_literal_origin *o)
{
	struct seen *k = ctx;
	cr_assert_eq(strlen(o->item), o->item_len);
	size_t n = strlen(k->origins);
	snprintf(k->origins + n, sizeof k->origins - n, "%u %s %u;", o->number, o->item, o->uid);
	return strcmp(o->item, k->pick) == 0;
}

static int sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct seen *k = ctx;
	(void)total;
	if (data) {
		cr_assert_leq(k->sunk_len + len, sizeof k->sunk - 1);
		memcpy(k->sunk + k->sunk_len, data, len);
		k->sunk_len += len;
	}
	return 0;
}

/* Feed `in` byte by byte; the dumps of the responses go to dump. */
static void run(const char *in, struct seen *k, char *dump, size_t cap)
{
	struct imap_parser *p = imap_parser_new(NULL);
	imap_parser_set_literal_sink(p, sink, k);
	imap_parser_set_literal_filter(p, want);
	size_t len = strlen(in), out = 0;
	dump[0] = '\0';
	for (size_t pos = 0; pos < len;) {
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(p, in + pos, 1, &used);
		cr_assert_neq(r, IMAP_PARSE_ERROR, "%s", imap_parser_error(p));
		pos += used;
		if (r == IMAP_PARSE_DONE) {
			struct imap_buf b;
			imap_buf_init(&b, 0);
			imap_response_format(imap_parser_response(p), &b, true);
			out += (size_t)snprintf(dump + out, cap - out, "%s\n", b.data);
			imap_buf_free(&b);
		}
	}
	imap_parser_free(&p);
}

Test(parser_origin, fetch_items)
{
	struct seen k = {.pick = "BODY[2]"};
	char dump[1024];
	run("* 12 FETCH (UID 7 FLAGS (\\Seen (x)) BODY[HEADER] {3}\r\nabc BODY[2] {4}\r\nwxyz)\r\n"
	    "* 13 fetch (body[2] {2}\r\nno UID 8)\r\n",
	    &k, dump, sizeof dump);
	cr_expect_str_eq(k.origins, "12 BODY[HEADER] 7;12 BODY[2] 7;13 body[2] 0;");
	cr_expect_eq(k.sunk_len, 4);
	cr_expect(memcmp(k.sunk, "wxyz", 4) == 0);
	/* The literal that was left is stored, the streamed one is empty. */
	cr_expect_str_eq(dump, "* 12 FETCH (UID 7 FLAGS (\\Seen (x)) BODY[HEADER] {3}abc BODY[2] {0})\n"
	                       "* 13 fetch (body[2] {2}no UID 8)\n");
}

Test(parser_origin, not_fetch_items)
{
	/* A literal inside a nested list, in a name position, or in a response
	 * that is not "* n FETCH": no item, no number. */
	struct seen k = {.pick = ""};
	char dump[1024];
	run("* 1 FETCH (X (a {1}\r\nb))\r\n"
	    "* 1 FETCH ({1}\r\nc d)\r\n"
	    "* LIST () \"/\" {3}\r\nabc\r\n"
	    "* x FETCH (BODY[] {1}\r\ne)\r\n"
	    /* the value of a name that is no atom: not an item, and the UID
	     * read before it is not told either */
	    "* 1 FETCH (UID 7 (A) {1}\r\nf)\r\n",
	    &k, dump, sizeof dump);
	cr_expect_str_eq(k.origins, "0  0;0  0;0  0;0  0;0  0;");
	cr_expect_eq(k.sunk_len, 7, "the filter picked every one");
}
