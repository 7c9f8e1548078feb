/*
 * imap/mail/thread.c: the RFC 5256 base subject and REFERENCES threading.
 * The expected trees are Dovecot 2.3's answers to UID THREAD REFERENCES on
 * the same messages (tests/integration/test_conversations.c compares the
 * two live).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mail/thread.h"

static void base(const char *subject, const char *want, bool want_reply)
{
	bool reply = !want_reply;
	char *b = imap_base_subject(subject, &reply);
	cr_assert_not_null(b);
	cr_expect_str_eq(b, want, "base subject of \"%s\"", subject ? subject : "(null)");
	cr_expect_eq(reply, want_reply, "reply of \"%s\"", subject ? subject : "(null)");
	free(b);
}

Test(thread, base_subject)
{
	base("Plans", "Plans", false);
	base("Re: Plans", "Plans", true);
	base("RE: [team] Budget", "Budget", true);
	base("[team] Budget", "Budget", false);
	base("Budget (fwd)", "Budget", true);
	base("Re: Re: Fwd: Orphan reply", "Orphan reply", true);
	base("Re[2]: Lunch", "Lunch", true);  /* "[2]" is a blob after "re": allowed */
	base("[Fwd: Lunch at  noon]", "Lunch at noon", true);
	base("  \tRe:   spaced\r\n  out ", "spaced out", true);
	base("[only a tag]", "[only a tag]", false);
	base("", "", false);
	base(NULL, "", false);
	base("Fw: fwd: RE: x", "x", true);
}

struct msg {
	const char *id, *refs, *irt, *subject;
	int64_t date;
};

static char *thread(const struct msg *m, size_t n)
{
	struct imap_thread_msg *in = calloc(n, sizeof *in);
	uint32_t *ids = calloc(n, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		in[i] = (struct imap_thread_msg){m[i].id, m[i].refs, m[i].irt, m[i].subject, m[i].date};
		ids[i] = (uint32_t)i + 1;
	}
	struct imap_threads t;
	cr_assert_eq(imap_thread_references(in, n, &t), 0);
	struct imap_buf out;
	imap_buf_init(&out, 0);
	imap_threads_format(&t, ids, &out);
	imap_threads_free(&t);
	free(in);
	free(ids);
	return out.data ? out.data : strdup("");
}

/* Mailbox order 1..22, dates as the days below. */
Test(thread, awkward_cases_as_dovecot)
{
	static const struct msg m[] = {
		{"<a@t>", NULL, NULL, "Plans", 1},
		{"<b@t>", "<a@t>", "<a@t>", "Re: Plans", 2},
		{"<c@t>", "<a@t> <b@t>", NULL, "Re: Plans", 3},
		{"<d@t>", "<a@t>", NULL, "Re: Plans", 5},
		{"<e@t>", "<missing1@t>", NULL, "Re: Missing", 4},
		{"<f@t>", "<missing1@t>", NULL, "Re: Missing", 6},
		{"<g@t>", "<missing2@t>", NULL, "Orphan reply", 7},
		{"<h@t>", "<i@t>", NULL, "Loop one", 8},
		{"<i@t>", "<h@t>", NULL, "Loop two", 9},
		{"<j@t>", NULL, NULL, "Lunch", 10},
		{"<k@t>", NULL, NULL, "Lunch", 11},
		{"<l@t>", NULL, NULL, "Re: Lunch", 12},
		{"<m@t>", NULL, NULL, "Fwd: Lunch", 13},
		{"<n@t>", NULL, NULL, "RE: [team] Budget", 14},
		{"<o@t>", NULL, NULL, "Budget (fwd)", 15},
		{"<p@t>", NULL, NULL, "[team] Budget", 16},
		{NULL, NULL, NULL, "Lonely", 17},
		{"<a@t>", NULL, NULL, "Plans again", 18},
		{"<s@t>", NULL, "<c@t>", "Re: Plans", 19},
		{"<t@t>", "<x@t> <y@t> <a@t>", NULL, "Re: Plans", 20},
		{"<u@t>", "<j@t>", NULL, "Re: Lunch", 21},
		{"<v@t>", NULL, NULL, "Re: Re: Fwd: Orphan reply", 22},
	};
	char *s = thread(m, sizeof m / sizeof m[0]);
	cr_expect_str_eq(s, "(1 (2 3 19)(4)(20))((5)(6))(7 22)(9 8)((10 21)(11)(12)(13))"
	                    "(16 (14)(15))(17)(18)");
	free(s);
}

Test(thread, dates_order_siblings_and_roots)
{
	static const struct msg m[] = {
		{"<r@t>", NULL, NULL, "Root", 50},
		{"<late@t>", "<r@t>", NULL, "Re: Root", 90},
		{"<early@t>", "<r@t>", NULL, "Re: Root", 60},
		{"<other@t>", NULL, NULL, "Other", 10},
	};
	char *s = thread(m, 4);
	cr_expect_str_eq(s, "(4)(1 (3)(2))");
	free(s);
}

Test(thread, hostile_ids_and_empty_input)
{
	static const struct msg m[] = {
		{"no brackets", "<> < > <a b> <<x>>", "garbage", "x", 1},
		{"<x>", "<x>", "<x>", "self", 2},
	};
	char *s = thread(m, 2);
	/* "<x>" inside "<<x>>" is an id, so 1 replies to 2; 2 naming itself is no loop */
	cr_expect_str_eq(s, "(2 1)");
	free(s);
	s = thread(NULL, 0);
	cr_expect_str_eq(s, "");
	free(s);
	size_t len;
	const char *id = imap_thread_root_id("<m@t>", "junk <first@t> <second@t>", "<irt@t>", &len);
	cr_assert_not_null(id);
	cr_expect_eq(len, 9);
	cr_expect(strncmp(id, "<first@t>", len) == 0);
	cr_expect_null(imap_thread_root_id(NULL, "none", NULL, &len));
}
