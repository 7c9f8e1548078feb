/*
 * Unit tests of the command encoder: atom / quoted / literal choice, escapes,
 * sync points, LITERAL+/-, mailbox names, and refusals.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/command.h"

/* Build "T1 <astring>" and compare the wire bytes. */
static void expect_astring(unsigned flags, const char *s, size_t len, const char *wire)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", flags, 0);
	imap_cmd_astring(&c, s, len);
	cr_assert_eq(imap_cmd_end(&c), 0, "astring %s", s);
	cr_expect_eq(c.wire.len, strlen(wire));
	cr_expect_str_eq(c.wire.data, wire);
	imap_cmd_free(&c);
}

#define ASTR(flags, lit, wire) expect_astring((flags), (lit), sizeof(lit) - 1, (wire))

Test(command, astring_choice)
{
	ASTR(0, "INBOX", "T1 INBOX\r\n");
	ASTR(0, "Archive/2024", "T1 Archive/2024\r\n");
	ASTR(0, "", "T1 \"\"\r\n");
	ASTR(0, "NIL", "T1 \"NIL\"\r\n");
	ASTR(0, "nil", "T1 \"nil\"\r\n");
	ASTR(0, "Old Mail", "T1 \"Old Mail\"\r\n");
	ASTR(0, "Say \"Hi\"", "T1 \"Say \\\"Hi\\\"\"\r\n");
	ASTR(0, "Back\\slash", "T1 \"Back\\\\slash\"\r\n");
	ASTR(0, "a(b)", "T1 \"a(b)\"\r\n");
	ASTR(0, "a{3}", "T1 \"a{3}\"\r\n");
	ASTR(0, "50%*", "T1 \"50%*\"\r\n");
	ASTR(0, "x]", "T1 \"x]\"\r\n");
	/* CR / LF / 8-bit never go in a quoted string without UTF8=ACCEPT. */
	ASTR(0, "a\r\nb", "T1 {4}\r\na\r\nb\r\n");
	ASTR(0, "p\xc3\xa4ss", "T1 {5}\r\np\xc3\xa4ss\r\n");
	ASTR(IMAP_CMD_LITERAL_PLUS, "a\r\nb", "T1 {4+}\r\na\r\nb\r\n");
	ASTR(IMAP_CMD_UTF8, "p\xc3\xa4ss", "T1 \"p\xc3\xa4ss\"\r\n");
	/* ... and invalid UTF-8 is never quoted even then. */
	ASTR(IMAP_CMD_UTF8, "p\xc3ss", "T1 {4}\r\np\xc3ss\r\n");
	ASTR(IMAP_CMD_UTF8, "a\r\nb", "T1 {4}\r\na\r\nb\r\n");
}

Test(command, long_strings_become_literals)
{
	char s[IMAP_CMD_QUOTED_MAX + 2];
	memset(s, 'a', sizeof s);
	s[0] = ' ';  /* not an atom */
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_astring(&c, s, IMAP_CMD_QUOTED_MAX);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_eq(c.wire.data[3], '"');
	imap_cmd_free(&c);
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_astring(&c, s, IMAP_CMD_QUOTED_MAX + 1);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert(strncmp(c.wire.data, "T1 {1025}\r\n", 11) == 0);
	imap_cmd_free(&c);
}

Test(command, literal_minus_only_small)
{
	static char big[IMAP_CMD_LITERAL_MINUS_MAX + 1];
	memset(big, '\n', sizeof big);
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", IMAP_CMD_LITERAL_MINUS, 0);
	imap_cmd_literal(&c, big, IMAP_CMD_LITERAL_MINUS_MAX);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert(strncmp(c.wire.data, "T1 {4096+}\r\n", 12) == 0);
	cr_assert_eq(c.nsync, 0);
	imap_cmd_free(&c);
	imap_cmd_init(&c, "T1", IMAP_CMD_LITERAL_MINUS, 0);
	imap_cmd_literal(&c, big, sizeof big);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert(strncmp(c.wire.data, "T1 {4097}\r\n", 11) == 0);
	cr_assert_eq(c.nsync, 1);
	imap_cmd_free(&c);
}

Test(command, sync_literal_segments)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "A7", 0, 0);
	imap_cmd_atom(&c, "LOGIN");
	imap_cmd_astring(&c, "us\ner", 5);
	imap_cmd_astring(&c, "p\xc3\xa4ss", 5);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.wire.data, "A7 LOGIN {5}\r\nus\ner {5}\r\np\xc3\xa4ss\r\n");
	const char *d;
	size_t n;
	cr_assert_eq(imap_cmd_segment(&c, 0, &d, &n), 3);
	cr_assert_eq(n, strlen("A7 LOGIN {5}\r\n"));
	cr_assert(strncmp(d, "A7 LOGIN {5}\r\n", n) == 0);
	imap_cmd_segment(&c, 1, &d, &n);
	cr_assert(strncmp(d, "us\ner {5}\r\n", n) == 0 && n == 11);
	imap_cmd_segment(&c, 2, &d, &n);
	cr_assert(strncmp(d, "p\xc3\xa4ss\r\n", n) == 0 && n == 7);
	imap_cmd_free(&c);
}

Test(command, nul_is_refused)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", IMAP_CMD_LITERAL_PLUS, 0);
	imap_cmd_astring(&c, "a\0b", 3);
	imap_cmd_atom(&c, "NOOP");  /* later calls are no-ops after an error */
	cr_assert_eq(imap_cmd_end(&c), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_literal(&c, "a\0b", 3);
	cr_assert_eq(imap_cmd_end(&c), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
}

Test(command, trusted_words_are_checked)
{
	static const char *ok[] = {"UID", "\\Seen", "+FLAGS.SILENT", "1:*", "BODY.PEEK[]",
	                           "BODY.PEEK[HEADER.FIELDS (FROM TO)]", "BODY[1.2]<0.100>"};
	static const char *bad[] = {"", "A B", "a\r\nb", "x\"", "a{5}", "(x", "a]", "BODY[",
	                            "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct imap_cmd c;
		imap_cmd_init(&c, "T1", 0, 0);
		imap_cmd_atom(&c, ok[i]);
		cr_expect_eq(imap_cmd_end(&c), 0, "%s", ok[i]);
		imap_cmd_free(&c);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct imap_cmd c;
		imap_cmd_init(&c, "T1", 0, 0);
		imap_cmd_atom(&c, bad[i]);
		cr_expect_eq(imap_cmd_end(&c), IMAP_ERR_INVALID, "%s", bad[i]);
		imap_cmd_free(&c);
	}
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_raw(&c, "(UID FLAGS)\r\nT2 DELETE INBOX");
	cr_assert_eq(imap_cmd_end(&c), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
}

Test(command, mailbox_names)
{
	static const struct { const char *in; unsigned flags; const char *wire; } t[] = {
		{"inbox", 0, "T1 SELECT INBOX\r\n"},
		{"INBOX", 0, "T1 SELECT INBOX\r\n"},
		{"Donn\u00e9es", 0, "T1 SELECT Donn&AOk-es\r\n"},
		{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0, "T1 SELECT &ZeVnLIqe-\r\n"},
		{"R&D", 0, "T1 SELECT R&-D\r\n"},
		{"Old Mail", 0, "T1 SELECT \"Old Mail\"\r\n"},
		{"Say \"Hi\"", 0, "T1 SELECT \"Say \\\"Hi\\\"\"\r\n"},
		{"Donn\u00e9es", IMAP_CMD_UTF8, "T1 SELECT \"Donn\u00e9es\"\r\n"},
		{"\u00fcber uns", IMAP_CMD_UTF8, "T1 SELECT \"\u00fcber uns\"\r\n"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct imap_cmd c;
		imap_cmd_init(&c, "T1", t[i].flags, 0);
		imap_cmd_atom(&c, "SELECT");
		imap_cmd_mailbox(&c, t[i].in, strlen(t[i].in));
		cr_assert_eq(imap_cmd_end(&c), 0, "%s", t[i].in);
		cr_expect_str_eq(c.wire.data, t[i].wire);
		imap_cmd_free(&c);
	}
	struct imap_cmd c;
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_mailbox(&c, "bad\xff", 4);
	cr_assert_eq(imap_cmd_end(&c), IMAP_ERR_INVALID);
	imap_cmd_free(&c);
	/* CR/LF in a name are never spliced: modified UTF-7 encodes them... */
	imap_cmd_init(&c, "T1", 0, 0);
	imap_cmd_atom(&c, "SELECT");
	imap_cmd_mailbox(&c, "x\r\nT2 LOGOUT", 12);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.wire.data, "T1 SELECT \"x&AA0ACg-T2 LOGOUT\"\r\n");
	imap_cmd_free(&c);
	/* ... and with UTF-8 names they travel as a literal. */
	imap_cmd_init(&c, "T1", IMAP_CMD_UTF8, 0);
	imap_cmd_atom(&c, "SELECT");
	imap_cmd_mailbox(&c, "x\r\nT2 LOGOUT", 12);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.wire.data, "T1 SELECT {12}\r\nx\r\nT2 LOGOUT\r\n");
	cr_assert_eq(c.nsync, 1);
	imap_cmd_free(&c);
}

Test(command, lists_numbers_and_spacing)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "A1", 0, 0);
	imap_cmd_atom(&c, "UID");
	imap_cmd_atom(&c, "STORE");
	imap_cmd_number(&c, 4294967295u);
	imap_cmd_atom(&c, "+FLAGS");
	imap_cmd_open(&c);
	imap_cmd_atom(&c, "\\Seen");
	imap_cmd_astring(&c, "$Work", 5);
	imap_cmd_close(&c);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.wire.data, "A1 UID STORE 4294967295 +FLAGS (\\Seen $Work)\r\n");
	imap_cmd_free(&c);
}

Test(command, trace_hides_secrets_and_literals)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "A1", 0, 0);
	imap_cmd_atom(&c, "LOGIN");
	imap_cmd_secret(&c, "alice", 5);
	imap_cmd_secret(&c, "se \"cret", 8);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.trace.data, "A1 LOGIN *** ***");
	imap_cmd_free(&c);

	imap_cmd_init(&c, "A2", 0, 0);
	imap_cmd_atom(&c, "LOGIN");
	imap_cmd_secret(&c, "bob", 3);
	imap_cmd_secret(&c, "p\xc3\xa4ss", 5);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.trace.data, "A2 LOGIN *** ***");
	cr_assert_null(strstr(c.trace.data, "p\xc3\xa4ss"));
	imap_cmd_free(&c);

	imap_cmd_init(&c, "A3", IMAP_CMD_LITERAL_PLUS, 0);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_mailbox(&c, "INBOX", 5);
	imap_cmd_literal(&c, "Subject: x\r\n\r\nbody\r\n", 20);
	cr_assert_eq(imap_cmd_end(&c), 0);
	cr_assert_str_eq(c.trace.data, "A3 APPEND INBOX {20+}<20 bytes>");
	imap_cmd_free(&c);
}

Test(command, size_limit)
{
	struct imap_cmd c;
	imap_cmd_init(&c, "A1", IMAP_CMD_LITERAL_PLUS, 16);
	imap_cmd_atom(&c, "APPEND");
	imap_cmd_literal(&c, "0123456789", 10);
	cr_assert_eq(imap_cmd_end(&c), IMAP_ERR_LIMIT);
	imap_cmd_free(&c);
}
