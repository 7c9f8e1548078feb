/*
 * tests/unit/test_index_fake.c — imap/index.h against the scripted fake
 * server: the exact commands a listing costs when the folder is cold (the
 * page alone, as without the index), what loading it costs (apart from the
 * page), and what a listing costs unchanged and changed by someone else, on a server without CONDSTORE,
 * ESEARCH or SORT. The fake fails the run on any command the script does
 * not name, so "an unchanged folder costs NOOP, STATUS and the page's
 * flags" is checked in full.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap/client.h"
#include "imap/index.h"
#include "tests/support/fake_imap.h"

TestSuite(index_fake, .timeout = 20);

#define DEADLINE() (imap_now_ms() + 3000)
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

#define ENV(n) "ENVELOPE (\"Mon, 5 Feb 2024 10:00:0" n " +0100\" \"Subject " n "\" " \
	"((\"A\" NIL \"a\" \"example.com\")) NIL NIL ((\"B\" NIL \"b\" \"example.com\")) " \
	"NIL NIL NIL \"<" n "@x>\")"
#define BS "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)"
/* a summary FETCH for sequence number s, UID n */
#define SUMMARY(s, n, flags) "* " s " FETCH (UID " n " FLAGS (" flags ") " \
	"INTERNALDATE \"05-Feb-2024 10:00:0" n " +0000\" RFC822.SIZE 10" n " " ENV(n) " " BS ")\r\n"
#define STATUS_LINE(m, next) "* STATUS INBOX (MESSAGES " m " UIDNEXT " next " UIDVALIDITY 7)\r\n"

static const struct fake_step script[] = {
	FAKE_SEND("* PREAUTH [CAPABILITY IMAP4rev1] ready\r\n"),
	/* 1: a cold folder: the page as without the index, nothing more */
	FAKE_EXPECT("EXAMINE INBOX"),
	FAKE_SEND("* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n"
	          "$TAG OK [READ-ONLY] done\r\n"),
	FAKE_EXPECT("FETCH 2:3 (" IMAP_SUMMARY_ITEMS ")"),
	FAKE_SEND(SUMMARY("2", "2", "") SUMMARY("3", "3", "\\Flagged") "$TAG OK done\r\n"),
	/* 2: its loading, apart: the probe, then one batch */
	FAKE_EXPECT("NOOP"),
	FAKE_SEND("$TAG OK done\r\n"),
	FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
	FAKE_SEND(STATUS_LINE("3", "4") "$TAG OK done\r\n"),
	FAKE_EXPECT("FETCH 1:3 (" IMAP_SUMMARY_ITEMS ")"),
	FAKE_SEND(SUMMARY("1", "1", "\\Seen") SUMMARY("2", "2", "") SUMMARY("3", "3", "\\Flagged")
	          "$TAG OK done\r\n"),
	/* 3: unchanged: NOOP, STATUS, and (no CONDSTORE) the page's flags */
	FAKE_EXPECT("NOOP"),
	FAKE_SEND("$TAG OK done\r\n"),
	FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
	FAKE_SEND(STATUS_LINE("3", "4") "$TAG OK done\r\n"),
	FAKE_EXPECT("UID FETCH 2,3 (UID FLAGS)"),
	FAKE_SEND("* 2 FETCH (UID 2 FLAGS ())\r\n* 3 FETCH (UID 3 FLAGS (\\Seen $Work))\r\n"
	          "$TAG OK done\r\n"),
	/* 4: UID 1 went, UID 4 came: the new summary once, SEARCH for the loss */
	FAKE_EXPECT("NOOP"),
	FAKE_SEND("* 1 EXPUNGE\r\n* 3 EXISTS\r\n$TAG OK done\r\n"),
	FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
	FAKE_SEND(STATUS_LINE("3", "5") "$TAG OK done\r\n"),
	FAKE_EXPECT("UID FETCH 4:* (" IMAP_SUMMARY_ITEMS ")"),
	FAKE_SEND(SUMMARY("3", "4", "") "$TAG OK done\r\n"),
	FAKE_EXPECT("UID SEARCH ALL"),
	FAKE_SEND("* SEARCH 2 3 4\r\n$TAG OK done\r\n"),
	FAKE_EXPECT("UID FETCH 3,4 (UID FLAGS)"),
	FAKE_SEND("* 2 FETCH (UID 3 FLAGS (\\Seen $Work))\r\n* 3 FETCH (UID 4 FLAGS (\\Draft))\r\n"
	          "$TAG OK done\r\n"),
	/* 5: sorted by date, ascending, from the index alone (and the flags) */
	FAKE_EXPECT("NOOP"),
	FAKE_SEND("$TAG OK done\r\n"),
	FAKE_EXPECT("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)"),
	FAKE_SEND(STATUS_LINE("3", "5") "$TAG OK done\r\n"),
	FAKE_EXPECT("UID FETCH 2,3 (UID FLAGS)"),
	FAKE_SEND("* 1 FETCH (UID 2 FLAGS ())\r\n* 2 FETCH (UID 3 FLAGS (\\Seen $Work))\r\n"
	          "$TAG OK done\r\n"),
};

static void expect_page(const struct imap_page *p, uint32_t total, const uint32_t *uids,
                        size_t n, const char *what)
{
	cr_assert_eq(p->total, total, "%s: total %u", what, p->total);
	cr_assert_eq(p->n, n, "%s: %zu messages", what, p->n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(p->msgs[i].uid, uids[i], "%s: #%zu is UID %u", what, i, p->msgs[i].uid);
}

Test(index_fake, loading_unchanged_and_changed)
{
	struct fake_imap *fake = fake_imap_start(script, NSTEPS(script));
	cr_assert_not_null(fake);
	struct imap_client_config cfg;
	imap_client_config_default(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = fake_imap_port(fake);
	cfg.tls_mode = IMAP_TLS_NONE;
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	cr_assert_eq(imap_session_connect(&s, &cfg, DEADLINE(), &err), 0, "%s", err.msg);

	struct imap_index *ix = imap_index_new(1 << 20);
	unsigned char key[IMAP_INDEX_KEY_LEN] = {1};
	struct imap_page_request req = {.sort = IMAP_SORT_ARRIVAL, .desc = true, .page = 1,
	                                .per_page = 2};
	struct imap_page p;

	cr_assert_eq(imap_index_page(ix, key, s, "INBOX", &req, 0, DEADLINE(), &p, &err), 0, "%s",
	             err.msg);
	expect_page(&p, 3, (const uint32_t[]){3, 2}, 2, "cold");
	imap_page_free(&p);
	struct imap_index_stats st;
	imap_index_stats(ix, &st);
	cr_assert_eq(st.reval[IMAP_INDEX_REVAL_LOAD], 0, "the page loads nothing");

	uint64_t claim = imap_index_load_claim(ix, key, "INBOX");
	cr_assert_neq(claim, 0, "a cold folder's loading can be claimed");
	cr_assert_eq(imap_index_load_claim(ix, key, "INBOX"), 0, "by one loader only");
	cr_assert_eq(imap_index_load(ix, key, s, "INBOX", claim + 1, NULL, NULL, DEADLINE(), &err),
	             0, "another's claim loads nothing");
	cr_assert_eq(imap_index_load(ix, key, s, "INBOX", claim, NULL, NULL, DEADLINE(), &err), 0,
	             "%s", err.msg);
	cr_assert_eq(imap_index_load_claim(ix, key, "INBOX"), 0, "a loaded folder needs no loader");

	cr_assert_eq(imap_index_page(ix, key, s, "INBOX", &req, 0, DEADLINE(), &p, &err), 0, "%s",
	             err.msg);
	expect_page(&p, 3, (const uint32_t[]){3, 2}, 2, "unchanged");
	cr_assert_eq(p.msgs[0].nflags, 2, "UID 3's flags as the server now says");
	cr_assert_str_eq(p.msgs[0].flags[0], "\\Seen");
	cr_assert_str_eq(p.msgs[0].flags[1], "$Work");
	cr_assert_str_eq(p.msgs[0].env.subject, "Subject 3");
	imap_index_stats(ix, &st);
	cr_assert_eq(st.hits, 1);
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.messages, 3);
	cr_assert_gt(st.bytes, 0);
	/* the page keeps its summaries whatever happens to the index */
	struct imap_page kept = p;

	cr_assert_eq(imap_index_page(ix, key, s, "INBOX", &req, 0, DEADLINE(), &p, &err), 0, "%s",
	             err.msg);
	expect_page(&p, 3, (const uint32_t[]){4, 3}, 2, "changed");
	cr_assert_eq(p.msgs[0].nflags, 1);
	cr_assert_str_eq(p.msgs[0].flags[0], "\\Draft");
	imap_page_free(&p);

	struct imap_page_request by_date = {.sort = IMAP_SORT_DATE, .page = 1, .per_page = 2};
	cr_assert_eq(imap_index_page(ix, key, s, "INBOX", &by_date, 0, DEADLINE(), &p, &err), 0, "%s",
	             err.msg);
	expect_page(&p, 3, (const uint32_t[]){2, 3}, 2, "by date");
	imap_page_free(&p);

	imap_index_free(&ix);
	cr_assert_null(ix);
	cr_assert_str_eq(kept.msgs[1].env.subject, "Subject 2", "borrowed past the index's end");
	imap_page_free(&kept);

	imap_session_free(&s);
	char *got = NULL;
	int rc = fake_imap_finish(&fake, &got);
	cr_expect_eq(rc, 0, "the fake's script failed; transcript:\n%s", got);
	free(got);
}
