/*
 * tests/unit/test_dialects.c — what the big providers send that the RFCs do
 * not say, each as a line written from the behaviour seen in the wild:
 * Exchange, Domino, Yandex, Gmail, Office 365, iCloud, Yahoo, and servers that
 * count a literal in characters. The measure: a line a real server sent is
 * never the reason a request fails, and a field the parser cannot read is
 * dropped or null, never shifted into another field.
 *
 * Lines are checked through the parser (fed one byte at a time) and, where
 * the outcome of a request depends on them, through the session against the
 * scripted fake server (tests/support/fake_imap.h).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mail/charset.h"
#include "imap/client.h"
#include "imap/content.h"
#include "imap/envelope.h"
#include "imap/folders.h"
#include "imap/messages.h"
#include "imap/write.h"
#include "tests/support/fake_session.h"

TestSuite(dialects, .timeout = 20);


/* ---- the parser, one byte at a time ---- */

static struct imap_parser *parse(const char *in)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t len = strlen(in), pos = 0;
	enum imap_parse_result r = IMAP_PARSE_NEED_MORE;
	while (pos < len && r == IMAP_PARSE_NEED_MORE) {
		size_t used = 0;
		r = imap_parser_feed(p, in + pos, 1, &used);
		pos += used;
	}
	cr_assert_eq(r, IMAP_PARSE_DONE, "parse of \"%s\": %s", in,
	             r == IMAP_PARSE_ERROR ? imap_parser_error(p) : "incomplete");
	cr_assert_eq(pos, len, "trailing input after the response");
	return p;
}

/* Exchange after UID MOVE: the COPYUID code alone on a line, no OK. */
Test(dialects, response_code_alone_on_a_line)
{
	struct imap_parser *p = parse("* [COPYUID 8 3:4 10:11]\r\n");
	const struct imap_response *r = imap_parser_response(p);
	cr_assert_eq(r->kind, IMAP_RESPONSE_UNTAGGED);
	cr_assert_eq(r->status, IMAP_STATUS_OK);
	cr_assert_not_null(r->code);
	cr_assert(imap_value_is_atom(imap_value_at(r->code, 0), "COPYUID"));
	cr_assert_eq(r->text_len, 0);
	imap_parser_free(&p);

	p = parse("A5 [COPYUID 8 3 10] Move completed\r\n");
	r = imap_parser_response(p);
	cr_assert_eq(r->kind, IMAP_RESPONSE_TAGGED);
	cr_assert_eq(r->status, IMAP_STATUS_OK);
	cr_assert(imap_value_is_atom(imap_value_at(r->code, 0), "COPYUID"));
	cr_assert_str_eq(r->text, "Move completed");
	imap_parser_free(&p);
}

/* The ENVELOPE of "* 1 FETCH (ENVELOPE <env>)". */
static void envelope_of(const char *line, struct imap_envelope *env)
{
	struct imap_parser *p = parse(line);
	const struct imap_value *att = imap_value_at(imap_parser_response(p)->args, 2);
	const struct imap_value *v = imap_fetch_item(att, "ENVELOPE", false);
	cr_assert_not_null(v);
	cr_assert_eq(imap_envelope_parse(v, env), 0);
	imap_parser_free(&p);
}

/* Domino: the ten fields in one more pair of parentheses. */
Test(dialects, domino_envelope_in_extra_parentheses)
{
	struct imap_envelope env;
	envelope_of("* 1 FETCH (ENVELOPE ((\"Tue, 4 Mar 2025 10:00:00 +0100\" \"Quarterly figures\" "
	            "((\"Ann Lee\" NIL \"ann\" \"corp.example\")) NIL NIL "
	            "((NIL NIL \"bob\" \"corp.example\")) NIL NIL NIL \"<d1@corp.example>\")))\r\n",
	            &env);
	cr_assert_str_eq(env.subject, "Quarterly figures");
	cr_assert(env.has_date);
	cr_assert_eq(env.from.n, 1);
	cr_assert_str_eq(env.from.v[0].name, "Ann Lee");
	cr_assert_str_eq(env.from.v[0].address, "ann@corp.example");
	cr_assert_eq(env.to.n, 1);
	cr_assert_str_eq(env.message_id, "<d1@corp.example>");
	imap_envelope_free(&env);
}

/* A literal announced in characters, not bytes: "Résumé" is 6 characters
 * and 8 bytes. The field is recovered whole and the next ones stay. */
Test(dialects, literal_length_in_characters)
{
	struct imap_envelope env;
	envelope_of("* 1 FETCH (ENVELOPE (\"Tue, 4 Mar 2025 10:00:00 +0100\" {6}\r\n"
	            "R\xc3\xa9sum\xc3\xa9 ((\"Jos\xc3\xa9\" NIL \"jose\" \"example.es\")) NIL NIL "
	            "NIL NIL NIL NIL \"<r1@example.es>\"))\r\n",
	            &env);
	cr_assert_str_eq(env.subject, "R\xc3\xa9sum\xc3\xa9");
	cr_assert_eq(env.from.n, 1);
	cr_assert_str_eq(env.from.v[0].address, "jose@example.es");
	cr_assert_str_eq(env.message_id, "<r1@example.es>");
	imap_envelope_free(&env);

	/* a display name: {11} for the 13 bytes of "José Müller" */
	envelope_of("* 1 FETCH (ENVELOPE (NIL \"Hi\" (({11}\r\nJos\xc3\xa9 M\xc3\xbcller NIL \"jm\" "
	            "\"example.de\")) NIL NIL NIL NIL NIL NIL \"<r2@example.de>\"))\r\n",
	            &env);
	cr_assert_str_eq(env.subject, "Hi");
	cr_assert_eq(env.from.n, 1);
	cr_assert_str_eq(env.from.v[0].name, "Jos\xc3\xa9 M\xc3\xbcller");
	cr_assert_str_eq(env.from.v[0].address, "jm@example.de");
	cr_assert_str_eq(env.message_id, "<r2@example.de>");
	imap_envelope_free(&env);

	/* a literal that is right stays right, also before a non-ASCII atom */
	struct imap_parser *p = parse("* 1 FETCH (X {8}\r\nR\xc3\xa9sum\xc3\xa9 Y)\r\n");
	const struct imap_value *att = imap_value_at(imap_parser_response(p)->args, 2);
	cr_assert_eq(imap_value_at(att, 1)->len, 8, "%zu: %s", imap_value_at(att, 1)->len, imap_value_at(att, 1)->str);
	cr_assert(imap_value_is_atom(imap_value_at(att, 2), "Y"));
	imap_parser_free(&p);
}

/* ---- through the session ---- */

#define SELECT_INBOX                                                                 \
	FAKE_EXPECT_PREFIX("SELECT INBOX"),                                          \
	FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"                \
	          "* OK [UIDNEXT 9] next\r\n$TAG OK [READ-WRITE] Select completed\r\n")

/* Exchange: UID MOVE answered with the COPYUID code alone, then the
 * expunge: the move completed and its new UID is known. */
Test(dialects, exchange_move_with_a_bare_copyuid)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK The Microsoft Exchange IMAP4 service is ready.\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID "
		          "UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n$TAG OK CAPABILITY completed.\r\n"),
		SELECT_INBOX,
		FAKE_EXPECT("UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
		FAKE_SEND("* 1 FETCH (UID 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
		          "Message-ID: <a@b>\r\n\r\n)\r\n$TAG OK FETCH completed.\r\n"),
		FAKE_EXPECT("UID MOVE 5 Archive"),
		FAKE_SEND("* [COPYUID 42 5 100]\r\n* 1 EXPUNGE\r\n$TAG OK MOVE completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	const uint32_t uid = 5;
	struct imap_ref ref = {"INBOX", 7};
	struct imap_transfer_result r;
	cr_assert_eq(imap_messages_transfer(h.s, &ref, &uid, 1, "Archive", true, FAKE_DEADLINE(), &r,
	                                    &h.err), 0, "%s", h.err.msg);
	cr_assert(r.v[0].found);
	cr_assert_eq(r.v[0].new_uid, 100);
	cr_assert_eq(r.uidvalidity, 42);
	imap_transfer_result_free(&r);
	cr_assert_neq(imap_session_state(h.s), IMAP_SESSION_BROKEN);
	fake_session_finish(&h, NULL);
}

static int count_sink(void *ctx, const char *data, size_t len, uint64_t total)
{
	(void)data;
	(void)total;
	*(size_t *)ctx += len;
	return 0;
}

/* Yandex: BODY[n] answered with NIL, or the FETCH without the item: the
 * message is there, the server did not give the part. Not "no message". */
Test(dialects, yandex_body_section_nil_is_not_a_missing_message)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE IDLE] Yandex IMAP4rev1 at ready\r\n"),
		FAKE_EXPECT_PREFIX("EXAMINE INBOX"),
		FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n"
		          "$TAG OK [READ-ONLY] EXAMINE Completed.\r\n"),
		FAKE_EXPECT("UID FETCH 3 (UID BODY.PEEK[2])"),
		FAKE_SEND("* 1 FETCH (UID 3 BODY[2] NIL)\r\n$TAG OK FETCH Completed.\r\n"),
		/* no UIDNEXT was said: a reused selection looks again first */
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP Completed.\r\n"),
		FAKE_EXPECT("UID FETCH 3 (UID BODY.PEEK[2])"),
		FAKE_SEND("* 1 FETCH (UID 3)\r\n$TAG OK FETCH Completed.\r\n"),
		FAKE_EXPECT("NOOP"),
		FAKE_SEND("$TAG OK NOOP Completed.\r\n"),
		FAKE_EXPECT("UID FETCH 4 (UID BODY.PEEK[2])"),
		FAKE_SEND("$TAG OK FETCH Completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	size_t got = 0;
	cr_assert_eq(imap_content_stream(h.s, "INBOX", 7, 3, "2", count_sink, &got, FAKE_DEADLINE(),
	                                 &h.err), IMAP_ERR_PROTOCOL, "%s", h.err.msg);
	cr_assert(strstr(h.err.msg, "no data"), "%s", h.err.msg);
	cr_assert_eq(imap_content_stream(h.s, "INBOX", 7, 3, "2", count_sink, &got, FAKE_DEADLINE(),
	                                 &h.err), IMAP_ERR_PROTOCOL, "%s", h.err.msg);
	/* no FETCH at all: that message is not there */
	cr_assert_eq(imap_content_stream(h.s, "INBOX", 7, 4, "2", count_sink, &got, FAKE_DEADLINE(),
	                                 &h.err), IMAP_ERR_NOT_FOUND, "%s", h.err.msg);
	cr_assert_eq(got, 0);
	fake_session_finish(&h, NULL);
}

#define GMAIL_CAPS                                                                        \
	"IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "      \
	"COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS " \
	"LITERAL- SPECIAL-USE APPENDLIMIT=35651584"

/* Gmail: no SORT. A date-sorted page is sorted locally from the keys, and
 * FETCH answers carry X-GM-LABELS and X-GM-MSGID among the items. */
Test(dialects, gmail_without_sort_sorts_locally)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK Gimap ready for requests from 192.0.2.1 x1mb12345\r\n"),
		FAKE_EXPECT_PREFIX("EXAMINE INBOX"),
		FAKE_SEND("* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $NotPhishing $Phishing)\r\n"
		          "* OK [UIDVALIDITY 3] UIDs valid.\r\n* 3 EXISTS\r\n* 0 RECENT\r\n"
		          "* OK [UIDNEXT 40] Predicted next UID.\r\n* OK [HIGHESTMODSEQ 4242]\r\n"
		          "$TAG OK [READ-ONLY] INBOX selected. (Success)\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY " GMAIL_CAPS "\r\n$TAG OK Thats all she wrote! x1mb12345\r\n"),
		FAKE_EXPECT("UID SEARCH RETURN (ALL) ALL"),
		FAKE_SEND("* ESEARCH (TAG \"$TAG\") UID ALL 10,20,30\r\n$TAG OK SEARCH completed (Success)\r\n"),
		FAKE_EXPECT_PREFIX("UID FETCH 10,20,30 (UID INTERNALDATE ENVELOPE)"),
		FAKE_SEND("* 1 FETCH (X-GM-LABELS (\\Inbox \"Work stuff\") UID 10 INTERNALDATE "
		          "\"01-Mar-2025 10:00:00 +0000\" ENVELOPE (\"Sat, 1 Mar 2025 10:00:00 +0000\" "
		          "\"a\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
		          "* 2 FETCH (UID 20 X-GM-MSGID 1234567890123 INTERNALDATE "
		          "\"02-Mar-2025 10:00:00 +0000\" ENVELOPE (\"Mon, 3 Feb 2025 10:00:00 +0000\" "
		          "\"b\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
		          "* 3 FETCH (UID 30 INTERNALDATE \"03-Mar-2025 10:00:00 +0000\" ENVELOPE "
		          "(\"Wed, 5 Mar 2025 10:00:00 +0000\" \"c\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		          "X-GM-LABELS ())\r\n$TAG OK Success\r\n"),
		FAKE_EXPECT_PREFIX("UID FETCH 10,20,30 (UID FLAGS"),
		FAKE_SEND("* 1 FETCH (X-GM-LABELS (\\Important) UID 10 FLAGS (\\Seen) RFC822.SIZE 10)\r\n"
		          "* 2 FETCH (UID 20 FLAGS () RFC822.SIZE 20 X-GM-THRID 99)\r\n"
		          "* 3 FETCH (UID 30 FLAGS () RFC822.SIZE 30)\r\n$TAG OK Success\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_page_request req = {.sort = IMAP_SORT_DATE, .page = 1, .per_page = 50};
	struct imap_page p;
	int prc = imap_messages_page(h.s, "INBOX", &req, FAKE_DEADLINE(), &p, &h.err);
	if (prc) {
		imap_session_free(&h.s);
		char *got = NULL;
		fake_imap_finish(&h.fake, &got);
		cr_assert_fail("%s\n%s", h.err.msg, got);
	}
	cr_assert_eq(p.n, 3);
	cr_assert_eq(p.msgs[0].uid, 20, "Feb before Mar, whatever the UIDs");
	cr_assert_eq(p.msgs[1].uid, 10);
	cr_assert_eq(p.msgs[2].uid, 30);
	cr_assert_eq(p.msgs[1].size, 10);
	imap_page_free(&p);
	fake_session_finish(&h, NULL);
}

/* The folder with this path; a failed test when there is none. */
static const struct imap_folder *find(const struct imap_folder_list *l, const char *path)
{
	static char empty[1];
	static char *no_attrs[1] = {empty};
	static const struct imap_folder none = {.path = empty, .raw = empty, .attrs = no_attrs};
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	cr_assert_fail("no folder %s", path);
	return &none;
}

/* Gmail's special-use folders live under "[Gmail]/", which itself is
 * \Noselect; their names are localised, their attributes are not. */
Test(dialects, gmail_special_use_folders)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK [CAPABILITY " GMAIL_CAPS "] Gimap ready\r\n"),
		FAKE_EXPECT_PREFIX("LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)"),
		FAKE_SEND("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"
		          "* LIST (\\HasChildren \\Noselect \\Subscribed) \"/\" \"[Gmail]\"\r\n"
		          "* LIST (\\All \\HasNoChildren \\Subscribed) \"/\" \"[Gmail]/Alle Nachrichten\"\r\n"
		          "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"[Gmail]/Gesendet\"\r\n"
		          "* LIST (\\Flagged \\HasNoChildren \\Subscribed) \"/\" \"[Gmail]/Markiert\"\r\n"
		          "* LIST (\\HasNoChildren \\Subscribed \\Trash) \"/\" \"[Gmail]/Papierkorb\"\r\n"
		          "* LIST (\\HasNoChildren \\Important \\Subscribed) \"/\" \"[Gmail]/Wichtig\"\r\n"
		          "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work stuff\"\r\n"
		          "$TAG OK Success\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_folder_list l;
	cr_assert_eq(imap_folders_list(h.s, NULL, false, FAKE_DEADLINE(), &l, &h.err), 0, "%s",
	             h.err.msg);
	const struct imap_folder *f = find(&l, "[Gmail]/Alle Nachrichten");
	cr_assert_str_eq(f->special_use, "\\All");
	cr_assert_str_eq(find(&l, "[Gmail]/Gesendet")->special_use, "\\Sent");
	cr_assert_str_eq(find(&l, "[Gmail]/Papierkorb")->special_use, "\\Trash");
	cr_assert_str_eq(find(&l, "[Gmail]/Markiert")->special_use, "\\Flagged");
	cr_assert(!find(&l, "[Gmail]")->selectable);
	cr_assert_str_eq(imap_folder_name(f), "Alle Nachrichten");
	cr_assert_null(find(&l, "Work stuff")->special_use, "no guessing by name when marked");
	imap_folder_list_free(&l);
	fake_session_finish(&h, NULL);
}

/* Office 365 marks special use in LIST without announcing SPECIAL-USE. */
Test(dialects, office365_special_use_without_the_capability)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAOAB]\r\n"),
		FAKE_EXPECT("CAPABILITY"),
		FAKE_SEND("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID "
		          "UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n$TAG OK CAPABILITY completed.\r\n"),
		FAKE_EXPECT("LIST \"\" \"*\""),
		FAKE_SEND("* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		          "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
		          "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"\r\n"
		          "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Email\"\r\n"
		          "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"
		          "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n"
		          "* LIST (\\Marked \\HasNoChildren) \"/\" \"Conversation History\"\r\n"
		          "$TAG OK LIST completed.\r\n"),
		FAKE_EXPECT("LSUB \"\" \"*\""),
		FAKE_SEND("* LSUB () \"/\" INBOX\r\n$TAG OK LSUB completed.\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_folder_list l;
	cr_assert_eq(imap_folders_list(h.s, NULL, false, FAKE_DEADLINE(), &l, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert_str_eq(find(&l, "Sent Items")->special_use, "\\Sent");
	cr_assert_str_eq(find(&l, "Deleted Items")->special_use, "\\Trash");
	cr_assert_str_eq(find(&l, "Junk Email")->special_use, "\\Junk");
	cr_assert_str_eq(find(&l, "Drafts")->special_use, "\\Drafts");
	cr_assert_str_eq(find(&l, "Archive")->special_use, "\\Archive");
	const struct imap_folder *c = find(&l, "Conversation History");
	cr_assert_eq(c->nattrs, 1, "\\Marked is a hint, not a folder flag");
	cr_assert_str_eq(c->attrs[0], "\\HasNoChildren");
	cr_assert(find(&l, "INBOX")->subscribed);
	imap_folder_list_free(&l);
	fake_session_finish(&h, NULL);
}

/* iCloud and Yahoo greet with their own words and capability lists; a
 * login and a capability check go through. */
Test(dialects, icloud_and_yahoo_greetings)
{
	static const struct {
		const char *greeting, *login, *caps_after;
		uint32_t want, not_want;
	} servers[] = {
		{"* OK [CAPABILITY st11p00mm-iscream012 1W XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 SASL-IR "
		 "AUTH=ATOKEN AUTH=PLAIN AUTH=ATOKEN2] iSCREAM ready to rumble (1W:3.2.0) "
		 "st11p00mm-iscream012 [2]\r\n",
		 "AUTHENTICATE PLAIN ",
		 "* CAPABILITY XAPPLEPUSHSERVICE IMAP4 IMAP4rev1 ACL QUOTA LITERAL+ NAMESPACE UIDPLUS "
		 "CHILDREN BINARY UNSELECT SORT CATENATE URLAUTH LANGUAGE ESEARCH ESORT THREAD=ORDEREDSUBJECT "
		 "THREAD=REFERENCES CONDSTORE ENABLE CONTEXT=SEARCH CONTEXT=SORT WITHIN SASL-IR SEARCHRES "
		 "XSENDER X-NETSCAPE XUM1 XAPPLEBOXES ID\r\n",
		 IMAP_CAP_SORT | IMAP_CAP_ESORT | IMAP_CAP_UIDPLUS | IMAP_CAP_CONDSTORE, IMAP_CAP_MOVE},
		{"* OK [CAPABILITY IMAP4rev1 ID MOVE NAMESPACE XYMHIGHESTMODSEQ UIDPLUS LITERAL+ CHILDREN "
		 "X-MSG-EXT UNSELECT OBJECTID] IMAP4rev1 Hello\r\n",
		 "LOGIN ",
		 "* CAPABILITY IMAP4rev1 ID MOVE NAMESPACE XYMHIGHESTMODSEQ UIDPLUS LITERAL+ CHILDREN "
		 "X-MSG-EXT UNSELECT OBJECTID\r\n",
		 IMAP_CAP_MOVE | IMAP_CAP_UIDPLUS | IMAP_CAP_LITERAL_PLUS, IMAP_CAP_SORT},
	};
	for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++) {
		char after[1024];
		snprintf(after, sizeof after, "%s$TAG OK LOGIN completed\r\n", servers[i].caps_after);
		const struct fake_step script[] = {
			FAKE_SEND(servers[i].greeting),
			FAKE_EXPECT_PREFIX(servers[i].login),
			FAKE_SEND(after),
		};
		struct fake_session h;
		FAKE_SESSION_OPEN(&h, script);
		cr_assert_eq(imap_session_login(h.s, IMAP_MECH_AUTO, "user@example.com", "pw",
		                                FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
		uint32_t caps = 0;
		cr_assert_eq(imap_session_caps(h.s, &caps, FAKE_DEADLINE(), &h.err), 0, "%s", h.err.msg);
		cr_expect_eq(caps & servers[i].want, servers[i].want, "server %zu: caps %x", i, caps);
		cr_expect_eq(caps & servers[i].not_want, 0, "server %zu", i);
		fake_session_finish(&h, NULL);
	}
}

/* has_unsubscribe: a List-Unsubscribe that parses to nothing usable does
 * not match (its summary shows unsubscribe null). */
Test(dialects, has_unsubscribe_matches_only_usable_headers)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] ready\r\n"),
		FAKE_EXPECT_PREFIX("EXAMINE INBOX"),
		FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n$TAG OK [READ-ONLY] done\r\n"),
		FAKE_EXPECT("UID SEARCH HEADER List-Unsubscribe \"\""),
		FAKE_SEND("* SEARCH 1 2 3\r\n$TAG OK done\r\n"),
		FAKE_EXPECT("UID FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (LIST-UNSUBSCRIBE)])"),
		FAKE_SEND("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (LIST-UNSUBSCRIBE)] {47}\r\n"
		          "List-Unsubscribe: <mailto:off@list.example>\r\n\r\n)\r\n"
		          "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (LIST-UNSUBSCRIBE)] {40}\r\n"
		          "List-Unsubscribe: please write to us\r\n\r\n)\r\n"
		          "* 3 FETCH (UID 3 BODY[HEADER.FIELDS (LIST-UNSUBSCRIBE)] {24}\r\n"
		          "List-Unsubscribe: <>\r\n\r\n)\r\n"
		          "$TAG OK done\r\n"),
		FAKE_EXPECT_PREFIX("UID FETCH 1 (UID FLAGS"),
		FAKE_SEND("* 1 FETCH (UID 1 FLAGS () BODY[HEADER.FIELDS (LIST-UNSUBSCRIBE "
		          "LIST-UNSUBSCRIBE-POST LIST-ID)] {47}\r\n"
		          "List-Unsubscribe: <mailto:off@list.example>\r\n\r\n)\r\n$TAG OK done\r\n"),
	};
	struct fake_session h;
	FAKE_SESSION_OPEN(&h, script);
	struct imap_page_request req = {.sort = IMAP_SORT_ARRIVAL, .desc = true, .page = 1,
	                                .per_page = 50, .filter = {.has_unsubscribe = true}};
	struct imap_page p;
	cr_assert_eq(imap_messages_page(h.s, "INBOX", &req, FAKE_DEADLINE(), &p, &h.err), 0, "%s",
	             h.err.msg);
	cr_assert_eq(p.total, 1);
	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.msgs[0].uid, 1);
	cr_assert_eq(p.msgs[0].unsub.n_mailto, 1);
	imap_page_free(&p);
	fake_session_finish(&h, NULL);
}

/* ---- charsets whose label lies ---- */

static void expect_text(const char *label, const char *in, const char *want)
{
	struct imap_buf out;
	imap_buf_init(&out, 0);
	cr_assert_eq(imap_charset_to_utf8(label, strlen(label), in, strlen(in), &out), 0);
	cr_expect_str_eq(out.data ? out.data : "", want, "%s", label);
	imap_buf_free(&out);
}

Test(dialects, charset_label_that_lies_falls_back)
{
	/* 日本語のテキスト in UTF-8, in EUC-JP and in Shift_JIS (CP932) */
	static const char utf8[] = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
	                           "\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88";
	static const char eucjp[] = "\xc6\xfc\xcb\xdc\xb8\xec\xa4\xce\xa5\xc6\xa5\xad\xa5\xb9\xa5\xc8";
	static const char sjis[] = "\x93\xfa\x96\x7b\x8c\xea\x82\xcc\x83\x65\x83\x4c\x83\x58\x83\x67";
	expect_text("iso-2022-jp", utf8, utf8);
	expect_text("iso-2022-jp", eucjp, utf8);
	expect_text("ISO-2022-JP", sjis, utf8);
	expect_text("euc-jp", sjis, utf8);
	expect_text("shift_jis", eucjp, utf8);
	/* the label's own bytes are read as the label says */
	expect_text("iso-2022-jp", "\x1b$BF|K\\8l\x1b(B", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	expect_text("euc-jp", eucjp, utf8);
	/* nothing fits: U+FFFD where the bytes are invalid, the rest kept */
	expect_text("iso-2022-jp", "ab\xff\xfe" "cd", "ab\xef\xbf\xbd\xef\xbf\xbd" "cd");
}
