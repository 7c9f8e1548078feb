/*
 * Unit tests of the response parser: every input is parsed whole, one byte
 * at a time and in odd-sized pieces, and must give the same result.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/parser.h"
#include "tests/support/dump.h"

static const size_t chunks[] = {0, 1, 2, 3, 5, 7, 64};

/* Parse `in` with every chunk size and expect the same dump each time. */
static void expect_parse(const char *in, size_t len, const char *want,
                         const struct imap_parser_limits *lim)
{
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		char *got = test_parse_all(in, len, chunks[i], lim);
		cr_expect_str_eq(got, want, "chunk %zu, input %.*s", chunks[i], (int)len, in);
		free(got);
	}
}

#define EXPECT(in, want) expect_parse((in), sizeof(in) - 1, (want), NULL)

Test(parser, untagged_data)
{
	EXPECT("* 3 EXISTS\r\n", "* 3 EXISTS");
	EXPECT("* SEARCH\r\n", "* SEARCH");
	EXPECT("* SEARCH 2 84 882\r\n", "* SEARCH 2 84 882");
	EXPECT("* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN\r\n",
	       "* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN");
	EXPECT("* FLAGS (\\Answered \\Flagged $Forwarded)\r\n",
	       "* FLAGS (\\Answered \\Flagged $Forwarded)");
	EXPECT("* LIST (\\HasNoChildren) \"/\" \"Old Mail\"\r\n",
	       "* LIST (\\HasNoChildren) \"/\" \"Old Mail\"");
	EXPECT("* LIST () NIL INBOX\r\n", "* LIST () NIL INBOX");
	EXPECT("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
	       "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)");
}

Test(parser, status_responses)
{
	EXPECT("* OK IMAP4rev1 ready\r\n", "* OK IMAP4rev1 ready");
	EXPECT("* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n",
	       "* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.");
	EXPECT("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Flags permitted.\r\n",
	       "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Flags permitted.");
	EXPECT("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
	       "* OK [UIDVALIDITY 3857529045] UIDs valid");
	EXPECT("A0001 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
	       "A0001 OK [COPYUID 38505 304,319:320 3956:3958] Done");
	EXPECT("a1 no [AUTHENTICATIONFAILED] Authentication failed.\r\n",
	       "a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
	EXPECT("A2 BAD Error in IMAP command\r\n", "A2 BAD Error in IMAP command");
	EXPECT("* PREAUTH IMAP4rev1 server logged in as Smith\r\n",
	       "* PREAUTH IMAP4rev1 server logged in as Smith");
	EXPECT("* BYE Autologout; idle for too long\r\n", "* BYE Autologout; idle for too long");
	EXPECT("* OK [ALERT] System shutdown in 10 minutes\r\n",
	       "* OK [ALERT] System shutdown in 10 minutes");
	EXPECT("A3 OK\r\n", "A3 OK ");
	EXPECT("A3 OK [READ-WRITE]\r\n", "A3 OK [READ-WRITE] ");
	EXPECT("* OK [BADCHARSET (UTF-8 \"X Y\")] no\r\n", "* OK [BADCHARSET (UTF-8 \"X Y\")] no");
	/* A bracket later in the text is text, not a code (Exchange's greeting). */
	EXPECT("* OK The service is ready. [TQBOADIA]\r\n", "* OK The service is ready. [TQBOADIA]");
}

Test(parser, status_word_only_first)
{
	/* "OK" after a number is data, and an atom named like a status is data too. */
	EXPECT("* 1 OK\r\n", "* 1 OK");
	EXPECT("* OKAY yes\r\n", "* OKAY yes");
}

Test(parser, continuation)
{
	EXPECT("+ Ready for literal data\r\n", "+ Ready for literal data");
	EXPECT("+\r\n", "+ ");
	EXPECT("+ \r\n", "+ ");
	EXPECT("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n", "+ eyJzdGF0dXMiOiI0MDEifQ==");
}

Test(parser, quoted_escapes)
{
	EXPECT("* LIST () \"/\" \"Say \\\"Hi\\\"\"\r\n", "* LIST () \"/\" \"Say \"Hi\"\"");
	EXPECT("* LIST () \"/\" \"Back\\\\slash\"\r\n", "* LIST () \"/\" \"Back\\slash\"");
	/* An unknown escape keeps its backslash (lenient). */
	EXPECT("* X \"a\\qb\"\r\n", "* X \"a\\qb\"");
	EXPECT("* X \"\"\r\n", "* X \"\"");
	/* 8-bit text in a quoted string (UTF8=ACCEPT servers send it). */
	EXPECT("* LIST () \"/\" \"Donn\xc3\xa9" "es\"\r\n", "* LIST () \"/\" \"Donn\xc3\xa9" "es\"");
}

Test(parser, literals)
{
	EXPECT("* 2 FETCH (BODY[TEXT] {3}\r\nfoo)\r\n", "* 2 FETCH (BODY[TEXT] {3}foo)");
	EXPECT("* 2 FETCH (BODY[] {0}\r\n)\r\n", "* 2 FETCH (BODY[] {0})");
	EXPECT("* 2 FETCH (BINARY[1] ~{4}\r\na\0\r\n)\r\n", "* 2 FETCH (BINARY[1] {4}a\\0\\r\\n)");
	EXPECT("* 2 FETCH (X {2+}\r\nab)\r\n", "* 2 FETCH (X {2}ab)");
	/* A literal may contain anything, including what looks like protocol. */
	EXPECT("* 1 FETCH (BODY[] {12}\r\n) \"\r\nA1 OK\r\n)\r\n",
	       "* 1 FETCH (BODY[] {12}) \"\\r\\nA1 OK\\r\\n)");
	/* A literal as a mailbox name, and a literal followed by more values. */
	EXPECT("* LIST () \"/\" {4}\r\nab\"c\r\n", "* LIST () \"/\" {4}ab\"c");
	EXPECT("* X {1}\r\na {1}\r\nb NIL\r\n", "* X {1}a {1}b NIL");
}

Test(parser, literal_counted_one_short)
{
	/* A line break between literal data and ")" is tolerated... */
	EXPECT("* 1 FETCH (BODY[] {2}\r\nab\n)\r\n", "* 1 FETCH (BODY[] {2}ab)");
	EXPECT("* 1 FETCH (BODY[] {2}\r\nab \r\n)\r\n", "* 1 FETCH (BODY[] {2}ab)");
	/* ... only when ")" follows it ... */
	EXPECT("* 1 FETCH (BODY[] {2}\r\nab\r\n* 2 EXISTS\r\n", "ERROR: list not closed at end of line");
	EXPECT("* 1 FETCH (BODY[] {2}\r\nab\r\r\n)\r\n", "ERROR: CR not followed by LF");
	/* ... and a line break still ends the response outside a list. */
	EXPECT("* X {2}\r\nab\n", "* X {2}ab");
	EXPECT("* X {2}\r\nab\r\n", "* X {2}ab");
}

Test(parser, section_atoms)
{
	EXPECT("* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)] {2}\r\nhi)\r\n",
	       "* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)] {2}hi)");
	EXPECT("* 1 FETCH (BODY[1.2]<0> \"x\")\r\n", "* 1 FETCH (BODY[1.2]<0> \"x\")");
	EXPECT("* LIST () \"/\" [Gmail]/Sent\r\n", "* LIST () \"/\" [Gmail]/Sent");
	/* An unclosed "[" ends with the line rather than swallowing it. */
	EXPECT("* X BODY[1\r\n", "* X BODY[1");
	/* "~" starting an atom is not a literal8. */
	EXPECT("* LIST () \"/\" ~peter/mail\r\n", "* LIST () \"/\" ~peter/mail");
}

Test(parser, nil_and_nesting)
{
	EXPECT("* 1 FETCH (ENVELOPE (NIL \"s\" ((\"n\" NIL \"u\" \"h\")) NIL nil Nil))\r\n",
	       "* 1 FETCH (ENVELOPE (NIL \"s\" ((\"n\" NIL \"u\" \"h\")) NIL NIL NIL))");
	EXPECT("* X (((a) b) (c)) d\r\n", "* X (((a) b) (c)) d");
	EXPECT("* X ()\r\n", "* X ()");
}

Test(parser, several_responses_in_one_buffer)
{
	EXPECT("* 1 EXISTS\r\n* 0 RECENT\r\nA1 OK done\r\n",
	       "* 1 EXISTS\n* 0 RECENT\nA1 OK done");
}

Test(parser, bare_lf_is_a_line_end)
{
	EXPECT("* 1 EXISTS\nA1 OK x\n", "* 1 EXISTS\nA1 OK x");
}

Test(parser, incomplete_input_needs_more)
{
	EXPECT("* 1 EXIS", "NEED_MORE");
	EXPECT("* 1 FETCH (BODY[] {10}\r\nabc", "NEED_MORE");
	EXPECT("* 1 EXISTS\r", "NEED_MORE");
}

/* ---- hostile input: a clean error, never a crash ---- */

Test(parser, hostile_inputs)
{
	EXPECT("* X \"unterminated\r\n", "ERROR: unterminated quoted string");
	EXPECT("* X \"esc\\\r\n", "ERROR: unterminated quoted string");
	EXPECT("* X {5}hello\r\n", "ERROR: literal header not followed by CRLF");
	EXPECT("* X {}\r\n", "ERROR: literal without a size");
	EXPECT("* X {5x}\r\n", "ERROR: malformed literal header");
	EXPECT("* X {99999999999999999999999}\r\n", "ERROR: literal larger than the literal limit");
	EXPECT("* X (a b\r\n", "ERROR: list not closed at end of line");
	EXPECT("* X a)\r\n", "ERROR: unbalanced ')'");
	EXPECT("* X a\rb\r\n", "ERROR: CR not followed by LF");
	EXPECT("* X a\0b\r\n", "ERROR: NUL byte outside a literal");
	EXPECT("* OK te\0xt\r\n", "ERROR: NUL byte in response text");
	EXPECT("* OK [ALERT text\r\n", "ERROR: response code not closed by ']'");
	EXPECT("* OK [] x\r\n", "ERROR: response code without a name");
	EXPECT("*X\r\n", "ERROR: '*' not followed by a space");
	EXPECT("* \r\n", "ERROR: empty response");
	EXPECT("A1\r\n", "ERROR: tag not followed by a space");
	EXPECT("A1 FOO bar\r\n", "ERROR: tagged response without OK/NO/BAD");
	EXPECT("A1 (x)\r\n", "ERROR: tagged response without OK/NO/BAD");
	EXPECT("A1 BYE x\r\n", "ERROR: tagged response without OK/NO/BAD");
	EXPECT("(x)\r\n", "ERROR: response does not start with '*', '+' or a tag");
	EXPECT("* OK [PERMANENTFLAGS (a]) x\r\n", "ERROR: ']' inside a list in a response code");
}

Test(parser, error_is_sticky_until_reset)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, "* X \"a\r\n", 8, &used), IMAP_PARSE_ERROR);
	cr_assert_eq(used, 6, "consumed up to the offending byte");
	cr_assert_eq(imap_parser_error_code(p), IMAP_ERR_PROTOCOL);
	cr_assert_eq(imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &used), IMAP_PARSE_ERROR);
	cr_assert_eq(used, 0);
	imap_parser_reset(p);
	cr_assert_eq(imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &used), IMAP_PARSE_DONE);
	cr_assert_eq(used, 12);
	imap_parser_free(&p);
	cr_assert_null(p);
}

Test(parser, eight_bit_garbage)
{
	/* Deterministic random bytes: must end in a result or a clean error. */
	unsigned seed = 12345;
	char buf[512];
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)(round % (int)sizeof buf);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (char)(seed >> 16);
		}
		char *whole = test_parse_all(buf, n, 0, NULL);
		char *bytes = test_parse_all(buf, n, 1, NULL);
		cr_assert_str_eq(whole, bytes, "round %d", round);
		free(whole);
		free(bytes);
	}
	EXPECT("\xff\xfe OK \x80\x81\r\n", "\xff\xfe OK \x80\x81");  /* lenient: an 8-bit tag */
	EXPECT("* \xc3\xa9t\xc3\xa9 \x80\r\n", "* \xc3\xa9t\xc3\xa9 \x80");
}

/* ---- limits, each at its boundary ---- */

static struct imap_parser_limits small_limits(void)
{
	struct imap_parser_limits l;
	imap_parser_limits_default(&l);
	return l;
}

Test(parser, literal_limit_boundary)
{
	struct imap_parser_limits l = small_limits();
	l.literal_max = 10;
	expect_parse("* X {10}\r\n0123456789\r\n", 22, "* X {10}0123456789", &l);
	expect_parse("* X {11}\r\n01234567890\r\n", 23,
	             "ERROR: literal larger than the literal limit", &l);
	l.literal_max = 0;
	expect_parse("* X {0}\r\n\r\n", 11, "* X {0}", &l);
	expect_parse("* X {1}\r\na\r\n", 12, "ERROR: literal larger than the literal limit", &l);
	l.literal_max = 9;
	expect_parse("* X {9}\r\n123456789\r\n", 20, "* X {9}123456789", &l);
	expect_parse("* X {10}\r\n", 10, "ERROR: literal larger than the literal limit", &l);
}

Test(parser, depth_limit_boundary)
{
	struct imap_parser_limits l = small_limits();
	l.depth_max = 3;
	expect_parse("* X (((a)))\r\n", 13, "* X (((a)))", &l);
	expect_parse("* X ((((a))))\r\n", 15,
	             "ERROR: list nesting deeper than the depth limit", &l);

	/* Runaway nesting with the default limit: a clean error, fast. */
	size_t n = 100000;
	char *deep = malloc(n + 8);
	memcpy(deep, "* X ", 4);
	memset(deep + 4, '(', n);
	memcpy(deep + 4 + n, "\r\n", 2);
	char *got = test_parse_all(deep, n + 6, 0, NULL);
	cr_assert_str_eq(got, "ERROR: list nesting deeper than the depth limit");
	free(got);
	free(deep);
}

Test(parser, line_limit_boundary)
{
	struct imap_parser_limits l = small_limits();
	l.line_max = 12;  /* "* 1 EXISTS\r\n" is exactly 12 bytes */
	expect_parse("* 1 EXISTS\r\n", 12, "* 1 EXISTS", &l);
	expect_parse("* 10 EXISTS\r\n", 13, "ERROR: response line longer than the line limit", &l);
	/* Literal data does not count against the line, its header does. */
	l.line_max = 16;
	expect_parse("* X {20}\r\n01234567890123456789 Y\r\n", 34,
	             "* X {20}01234567890123456789 Y", &l);
	/* The limit applies to each response, not to the stream. */
	l.line_max = 12;
	expect_parse("* 1 EXISTS\r\n* 2 EXISTS\r\n", 24, "* 1 EXISTS\n* 2 EXISTS", &l);
}

Test(parser, response_limit_boundary)
{
	struct imap_parser_limits l = small_limits();
	l.response_max = 30;
	/* 10 line bytes + 20 literal bytes = 30 + the closing CRLF = 32: too big. */
	expect_parse("* X {18}\r\n012345678901234567\r\n", 30, "* X {18}012345678901234567", &l);
	expect_parse("* X {20}\r\n01234567890123456789\r\n", 32,
	             "ERROR: response larger than the response limit", &l);
}

Test(parser, values_api)
{
	static const char in[] = "* 12 FETCH (UID 4827313 FLAGS (\\Seen) BODY[] {2}\r\nhi)\r\n";
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, in, sizeof in - 1, &used), IMAP_PARSE_DONE);
	const struct imap_response *r = imap_parser_response(p);
	cr_assert_eq(r->kind, IMAP_RESPONSE_UNTAGGED);
	cr_assert_eq(r->status, IMAP_STATUS_NONE);
	cr_assert_eq(r->args->count, 3);
	uint64_t n = 0;
	cr_assert_eq(imap_value_u64(imap_value_at(r->args, 0), UINT32_MAX, &n), 0);
	cr_assert_eq(n, 12);
	cr_assert(imap_value_is_atom(imap_value_at(r->args, 1), "fetch"));
	const struct imap_value *att = imap_value_at(r->args, 2);
	cr_assert_eq(att->kind, IMAP_VALUE_LIST);
	cr_assert_eq(att->count, 6);
	cr_assert_eq(imap_value_u64(imap_value_at(att, 1), UINT32_MAX, &n), 0);
	cr_assert_eq(n, 4827313);
	cr_assert_eq(imap_value_at(att, 3)->count, 1);
	cr_assert_str_eq(imap_value_at(imap_value_at(att, 3), 0)->str, "\\Seen");
	cr_assert_eq(imap_value_at(att, 5)->kind, IMAP_VALUE_LITERAL);
	cr_assert_str_eq(imap_value_at(att, 5)->str, "hi");
	cr_assert_null(imap_value_at(att, 6));

	/* Numbers: overflow and non-digits are errors. */
	static const char big[] = "* 2222222222222222222222222222222222222222222C\r\n";
	cr_assert_eq(imap_parser_feed(p, big, sizeof big - 1, &used), IMAP_PARSE_DONE);
	r = imap_parser_response(p);
	cr_assert_eq(imap_value_u64(imap_value_at(r->args, 0), UINT64_MAX, &n), IMAP_ERR_PROTOCOL);
	static const char max[] = "* 4294967295 4294967296 EXISTS\r\n";
	cr_assert_eq(imap_parser_feed(p, max, sizeof max - 1, &used), IMAP_PARSE_DONE);
	r = imap_parser_response(p);
	cr_assert_eq(imap_value_u64(imap_value_at(r->args, 0), UINT32_MAX, &n), 0);
	cr_assert_eq(n, UINT32_MAX);
	cr_assert_eq(imap_value_u64(imap_value_at(r->args, 1), UINT32_MAX, &n), IMAP_ERR_PROTOCOL);
	cr_assert_eq(imap_value_u64(imap_value_at(r->args, 2), UINT32_MAX, &n), IMAP_ERR_PROTOCOL);
	imap_parser_free(&p);
}

Test(parser, big_literal_keeps_memory_bounded)
{
	/* After a large response the parser gives its storage back. */
	size_t n = 4u << 20;
	char *in = malloc(n + 64);
	int h = snprintf(in, 64, "* 1 FETCH (BODY[] {%zu}\r\n", n);
	memset(in + h, 'x', n);
	memcpy(in + h + n, ")\r\n", 3);
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	cr_assert_eq(imap_parser_feed(p, in, (size_t)h + n + 3, &used), IMAP_PARSE_DONE);
	cr_assert_eq(imap_value_at(imap_value_at(imap_parser_response(p)->args, 2), 1)->len, n);
	cr_assert_eq(imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &used), IMAP_PARSE_DONE);
	cr_assert_eq(imap_parser_response(p)->args->count, 2);
	imap_parser_free(&p);
	free(in);
}

/* ---- literal sink ---- */

struct sink_log {
	char data[256];
	size_t len;
	unsigned starts;
	uint64_t total;
	size_t fail_after; /* fail once this many bytes were taken (0: never) */
};

static int sink_collect(void *ctx, const char *data, size_t len, uint64_t total)
{
	struct sink_log *l = ctx;
	if (!data) {
		cr_assert_eq(len, 0);
		l->starts++;
		l->total = total;
		return 0;
	}
	cr_assert_eq(total, l->total);
	cr_assert_leq(l->len + len, sizeof l->data);
	memcpy(l->data + l->len, data, len);
	l->len += len;
	return l->fail_after && l->len >= l->fail_after ? IMAP_ERR_LIMIT : 0;
}

/* Feed in[] in pieces of `chunk` bytes through a parser with a sink; the
 * dumps of the responses, one per line, go to `dump`. */
static void feed_sunk(const char *in, size_t chunk, struct sink_log *log,
                      const struct imap_parser_limits *lim, char *dump, size_t dump_cap)
{
	struct imap_parser *p = imap_parser_new(lim);
	imap_parser_set_literal_sink(p, sink_collect, log);
	size_t len = strlen(in), pos = 0, out = 0;
	dump[0] = '\0';
	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk, used = 0;
		enum imap_parse_result r = imap_parser_feed(p, in + pos, n, &used);
		cr_assert_neq(r, IMAP_PARSE_ERROR, "%s", imap_parser_error(p));
		pos += used;
		if (r == IMAP_PARSE_DONE) {
			struct imap_buf b;
			imap_buf_init(&b, 0);
			imap_response_format(imap_parser_response(p), &b, true);
			out += (size_t)snprintf(dump + out, dump_cap - out, "%s\n", b.data);
			imap_buf_free(&b);
		}
	}
	imap_parser_free(&p);
}

Test(parser, literal_sink_streams_untagged_literals)
{
	const char *in = "* 7 FETCH (UID 42 BODY[] {12}\r\nhello\r\nworld)\r\n"
	                 "* 8 FETCH (UID 43 BODY[] {2}\r\nhi)\r\nA1 OK done\r\n";
	for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
		struct sink_log log = {0};
		char dump[512];
		feed_sunk(in, chunk, &log, NULL, dump, sizeof dump);
		cr_expect_eq(log.starts, 2, "chunk %zu", chunk);
		cr_expect_eq(log.total, 2);
		cr_expect_eq(log.len, 14);
		cr_expect(memcmp(log.data, "hello\r\nworldhi", 14) == 0);
		cr_expect_str_eq(dump,
		                 "* 7 FETCH (UID 42 BODY[] {0})\n* 8 FETCH (UID 43 BODY[] {0})\n"
		                 "A1 OK done\n",
		                 "chunk %zu", chunk);
	}
}

Test(parser, literal_sink_ignores_the_literal_limit)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.literal_max = 4;
	lim.response_max = 64;
	char in[256];
	char body[100];
	memset(body, 'x', sizeof body);
	snprintf(in, sizeof in, "* 1 FETCH (BODY[] {100}\r\n%.100s)\r\n", body);
	struct sink_log log = {0};
	char dump[256];
	feed_sunk(in, 7, &log, &lim, dump, sizeof dump);
	cr_expect_eq(log.len, 100);
	cr_expect_str_eq(dump, "* 1 FETCH (BODY[] {0})\n");
}

Test(parser, literal_sink_failure_keeps_the_stream_in_sync)
{
	const char *in = "* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n* 2 EXISTS\r\n";
	struct sink_log log = {.fail_after = 3};
	struct imap_parser *p = imap_parser_new(NULL);
	imap_parser_set_literal_sink(p, sink_collect, &log);
	size_t len = strlen(in), pos = 0, done = 0;
	while (pos < len) {
		size_t used = 0;
		enum imap_parse_result r = imap_parser_feed(p, in + pos, 2, &used);
		cr_assert_neq(r, IMAP_PARSE_ERROR);
		pos += used;
		done += r == IMAP_PARSE_DONE;
	}
	cr_expect_eq(done, 2);
	cr_expect_eq(log.len, 4, "nothing after the failing piece");
	cr_expect_eq(imap_parser_sink_result(p), IMAP_ERR_LIMIT);
	imap_parser_set_literal_sink(p, NULL, NULL);
	cr_expect_eq(imap_parser_sink_result(p), 0);
	imap_parser_free(&p);
}

/* ---- message data helpers ---- */

static void expect_set(const char *set, const char *want)
{
	char got[256] = "";
	size_t pos = 0, k = 0;
	uint32_t a, b;
	int rc;
	while ((rc = imap_set_next(set, strlen(set), &pos, &a, &b)) == 1)
		k += (size_t)snprintf(got + k, sizeof got - k, "%s%u-%u", k ? " " : "", a, b);
	if (rc < 0)
		snprintf(got + k, sizeof got - k, "%sERROR", k ? " " : "");
	cr_expect_str_eq(got, want, "set \"%s\"", set);
}

Test(parser, sequence_sets)
{
	expect_set("", "");
	expect_set("7", "7-7");
	expect_set("1,3:5,9:7", "1-1 3-5 9-7");
	expect_set("4294967295", "4294967295-4294967295");
	expect_set("1,", "1-1");
	expect_set("4294967296", "ERROR");
	expect_set("0", "ERROR");
	expect_set("1:0", "ERROR");
	expect_set("1,,2", "1-1 ERROR");
	expect_set("*", "ERROR");
	expect_set("2:*", "ERROR");
	expect_set("1 2", "ERROR");
	expect_set("12a", "ERROR");
}

static const struct imap_response *parse_one(struct imap_parser *p, const char *in)
{
	size_t used = 0;
	cr_assert_eq(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE, "%s", in);
	return imap_parser_response(p);
}

Test(parser, fetch_attributes)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_value *att;
	const struct imap_response *r =
		parse_one(p, "* 3 FETCH (FLAGS (\\Seen UID) uid 42 BODY[1.2] {2}\r\nhi BODY[HEADER] NIL)\r\n");
	cr_expect_eq(imap_fetch_attributes(r, &att), 42, "UID in any case, not a flag named UID");
	cr_assert_not_null(att);
	const struct imap_value *v = imap_fetch_item(att, "BODY[", true);
	cr_assert_not_null(v);
	cr_expect_eq(v->kind, IMAP_VALUE_LITERAL);
	cr_expect_str_eq(v->str, "hi");
	cr_expect_eq(imap_fetch_item(att, "BODY[HEADER]", false)->kind, IMAP_VALUE_NIL);
	cr_expect_null(imap_fetch_item(att, "BODY", false), "whole names unless prefix");
	cr_expect_null(imap_fetch_item(att, "RFC822.SIZE", false));

	r = parse_one(p, "* 4 FETCH (FLAGS (\\Deleted))\r\n");
	cr_expect_eq(imap_fetch_attributes(r, &att), 0, "no UID");
	cr_expect_not_null(att);
	r = parse_one(p, "* 4 EXPUNGE\r\n");
	cr_expect_eq(imap_fetch_attributes(r, &att), 0);
	cr_expect_null(att);
	r = parse_one(p, "* 5 FETCH NIL\r\n");
	cr_expect_eq(imap_fetch_attributes(r, &att), 0);
	cr_expect_null(att);
	imap_parser_free(&p);
}
