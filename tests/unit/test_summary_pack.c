/*
 * tests/unit/test_summary_pack.c — shared summaries (imap/summary_pack.c):
 * what is packed is what a borrow reads back, field by field, NULL and
 * empty strings kept apart, a sender equal to the from list stored once;
 * borrows outlive the creator's reference; and a message like the bench's
 * takes one small allocation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "imap/messages.h"

TestSuite(summary_pack);

static char *dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void set_list(struct imap_address_list *l, size_t n, const char *const *pairs)
{
	l->n = n;
	l->v = n ? calloc(n, sizeof *l->v) : NULL;
	for (size_t i = 0; i < n; i++) {
		l->v[i].name = dup(pairs[2 * i]);
		l->v[i].address = dup(pairs[2 * i + 1]);
	}
}

/* A summary with every kind of field: NULL and "" strings, lists of 0, 1
 * and 2 entries, a sender equal to from, a reply-to that is not. */
static void full(struct imap_summary *m)
{
	memset(m, 0, sizeof *m);
	m->uid = 42;
	m->size = 123456789012ull;
	m->has_internaldate = true;
	m->internaldate = 1707127200;
	m->internaldate_tz = -330;
	m->attachments = 3;
	m->env.date_raw = dup("Mon, 5 Feb 2024 10:00:00 +0100");
	m->env.has_date = true;
	m->env.date = 1707123600;
	m->env.date_tz = 60;
	m->env.subject = dup("");
	m->env.message_id = dup("<id@x>");
	m->env.in_reply_to = NULL;
	static const char *const from[] = {"Åsa Writer", "asa@example.com"};
	static const char *const reply[] = {NULL, "list@example.com"};
	static const char *const to[] = {"B", "b@example.com", NULL, ""};
	set_list(&m->env.from, 1, from);
	set_list(&m->env.sender, 1, from);
	set_list(&m->env.reply_to, 1, reply);
	set_list(&m->env.to, 2, to);
	m->list_id = dup("weekly.example.com");
	m->from_address = dup("asa@example.com");
	m->references = dup("<a@x> <b@x>");
	m->unsub.n_mailto = 1;
	m->unsub.mailto = calloc(1, sizeof *m->unsub.mailto);
	m->unsub.mailto[0].address = dup("u@example.com");
	m->unsub.mailto[0].subject = dup("stop");
	m->unsub.mailto[0].body = NULL;
	m->unsub.mailto[0].uri = dup("mailto:u@example.com?subject=stop");
	m->unsub.n_http = 2;
	m->unsub.http = calloc(2, sizeof *m->unsub.http);
	m->unsub.http[0] = dup("https://example.com/u/1");
	m->unsub.http[1] = dup("http://example.com/u/2");
	m->unsub.one_click = true;
	m->unsub.post = dup("List-Unsubscribe=One-Click");
}

static void str_same(const char *a, const char *b, const char *what)
{
	if (!a || !b)
		cr_assert_eq(a, b, "%s: %s / %s", what, a ? a : "NULL", b ? b : "NULL");
	else
		cr_assert_str_eq(a, b, "%s", what);
}

static void list_same(const struct imap_address_list *a, const struct imap_address_list *b,
                      const char *what)
{
	cr_assert_eq(a->n, b->n, "%s", what);
	for (size_t i = 0; i < a->n; i++) {
		str_same(a->v[i].name, b->v[i].name, what);
		str_same(a->v[i].address, b->v[i].address, what);
	}
}

static void same(const struct imap_summary *a, const struct imap_summary *b)
{
	cr_assert_eq(a->size, b->size);
	cr_assert_eq(a->has_internaldate, b->has_internaldate);
	cr_assert_eq(a->internaldate, b->internaldate);
	cr_assert_eq(a->internaldate_tz, b->internaldate_tz);
	cr_assert_eq(a->attachments, b->attachments);
	str_same(a->env.date_raw, b->env.date_raw, "date_raw");
	cr_assert_eq(a->env.has_date, b->env.has_date);
	cr_assert_eq(a->env.date, b->env.date);
	cr_assert_eq(a->env.date_tz, b->env.date_tz);
	str_same(a->env.subject, b->env.subject, "subject");
	str_same(a->env.message_id, b->env.message_id, "message_id");
	str_same(a->env.in_reply_to, b->env.in_reply_to, "in_reply_to");
	list_same(&a->env.from, &b->env.from, "from");
	list_same(&a->env.sender, &b->env.sender, "sender");
	list_same(&a->env.reply_to, &b->env.reply_to, "reply_to");
	list_same(&a->env.to, &b->env.to, "to");
	list_same(&a->env.cc, &b->env.cc, "cc");
	list_same(&a->env.bcc, &b->env.bcc, "bcc");
	str_same(a->list_id, b->list_id, "list_id");
	str_same(a->from_address, b->from_address, "from_address");
	str_same(a->references, b->references, "references");
	cr_assert_eq(a->unsub.n_mailto, b->unsub.n_mailto);
	for (size_t i = 0; i < a->unsub.n_mailto; i++) {
		str_same(a->unsub.mailto[i].address, b->unsub.mailto[i].address, "mailto address");
		str_same(a->unsub.mailto[i].subject, b->unsub.mailto[i].subject, "mailto subject");
		str_same(a->unsub.mailto[i].body, b->unsub.mailto[i].body, "mailto body");
		str_same(a->unsub.mailto[i].uri, b->unsub.mailto[i].uri, "mailto uri");
	}
	cr_assert_eq(a->unsub.n_http, b->unsub.n_http);
	for (size_t i = 0; i < a->unsub.n_http; i++)
		str_same(a->unsub.http[i], b->unsub.http[i], "http");
	cr_assert_eq(a->unsub.one_click, b->unsub.one_click);
	str_same(a->unsub.post, b->unsub.post, "post");
}

Test(summary_pack, a_borrow_reads_back_every_field)
{
	struct imap_summary m;
	full(&m);
	struct imap_summary_shared *sh = imap_summary_share(&m);
	cr_assert_not_null(sh);
	struct imap_summary a = {.uid = 7}, b = {.uid = 8};
	cr_assert_eq(imap_summary_borrow(&a, sh), 0);
	cr_assert_eq(imap_summary_borrow(&b, sh), 0);
	cr_assert_eq(a.uid, 7, "the borrower's uid stays");
	cr_assert_eq(a.shared, sh);
	same(&m, &a);
	/* the creator's reference and the source go first: borrows keep the record */
	imap_summary_shared_release(&sh);
	cr_assert_null(sh);
	imap_summary_free(&m);
	same(&b, &a);
	cr_assert_str_eq(a.env.from.v[0].name, "Åsa Writer");
	imap_summary_free(&a);
	imap_summary_free(&b);
}

/* The From header's address is kept apart only when it is not the
 * envelope's first From address (servers read odd From headers their own
 * way). */
Test(summary_pack, a_from_address_unlike_the_envelope_is_kept)
{
	struct imap_summary m;
	full(&m);
	struct imap_summary_shared *sh = imap_summary_share(&m);
	size_t same_bytes = imap_summary_shared_bytes(sh);
	imap_summary_shared_release(&sh);
	free(m.from_address);
	m.from_address = dup("someone.else@example.org");
	sh = imap_summary_share(&m);
	cr_assert_gt(imap_summary_shared_bytes(sh), same_bytes, "the address is stored once more");
	struct imap_summary a = {0};
	cr_assert_eq(imap_summary_borrow(&a, sh), 0);
	same(&m, &a);
	imap_summary_free(&a);
	imap_summary_shared_release(&sh);
	imap_summary_free(&m);
}

Test(summary_pack, an_empty_summary_and_numbers)
{
	struct imap_summary m = {0};
	struct imap_summary_shared *sh = imap_summary_share(&m);
	cr_assert_not_null(sh);
	struct imap_summary a = {0};
	cr_assert_eq(imap_summary_borrow(&a, sh), 0);
	same(&m, &a);
	cr_assert_null(a.borrowed, "no arrays to make");
	imap_summary_free(&a);
	imap_summary_shared_release(&sh);

	full(&m);
	sh = imap_summary_share(&m);
	cr_assert_eq(imap_summary_shared_number(sh, IMAP_SORT_SIZE), (int64_t)m.size);
	cr_assert_eq(imap_summary_shared_number(sh, IMAP_SORT_DATE), m.env.date);
	cr_assert_eq(imap_summary_shared_number(sh, IMAP_SORT_RECEIVED), m.internaldate);
	imap_summary_shared_release(&sh);
	imap_summary_free(&m);
}

/* A message as tests/bench/mailgen.c writes them: the record, with its
 * allocation, takes at most 300 bytes (the old layout took ~1,100). */
Test(summary_pack, a_bench_like_message_is_small)
{
	struct imap_summary m = {0};
	m.size = 4321;
	m.has_internaldate = true;
	m.env.date_raw = dup("Tue, 14 Mar 2023 09:26:53 +0100");
	m.env.has_date = true;
	m.env.subject = dup("Quarterly report for the northern region #1234");
	m.env.message_id = dup("<1234.5f3a9c01@bench.example>");
	static const char *const from[] = {"Margaret Thompson", "margaret.thompson@example.org"};
	static const char *const to[] = {NULL, "bench10k@bench.example"};
	set_list(&m.env.from, 1, from);
	set_list(&m.env.sender, 1, from);
	set_list(&m.env.reply_to, 1, from);
	set_list(&m.env.to, 1, to);
	struct imap_summary_shared *sh = imap_summary_share(&m);
	cr_assert_not_null(sh);
	size_t bytes = imap_summary_shared_bytes(sh);
	cr_assert_leq(bytes, 300, "%zu bytes", bytes);
	struct imap_summary a = {0};
	cr_assert_eq(imap_summary_borrow(&a, sh), 0);
	same(&m, &a);
	cr_assert_eq(a.env.sender.v, a.env.from.v, "sender stored once, read as from");
	imap_summary_free(&a);
	imap_summary_shared_release(&sh);
	imap_summary_free(&m);
}
