/*
 * The shared budget of response bytes (struct imap_budget): parsers take
 * from it before they store, fail with IMAP_ERR_BUSY past it, and give
 * everything back when their response is done or they are freed.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/error.h"
#include "imap/parser.h"

TestSuite(budget);

/* "* 1 FETCH (BODY[] {n}\r\n" and n bytes, without the closing ")\r\n". */
static char *literal_response(size_t n, size_t *len)
{
	char head[64];
	int h = snprintf(head, sizeof head, "* 1 FETCH (BODY[] {%zu}\r\n", n);
	char *r = malloc((size_t)h + n);
	cr_assert_not_null(r);
	memcpy(r, head, (size_t)h);
	memset(r + h, 'x', n);
	*len = (size_t)h + n;
	return r;
}

static enum imap_parse_result feed(struct imap_parser *p, const char *s, size_t n)
{
	size_t used = 0;
	return imap_parser_feed(p, s, n, &used);
}

Test(budget, shared_by_parsers_and_given_back)
{
	struct imap_budget budget = {.max = 1u << 20};
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.budget = &budget;
	struct imap_parser *a = imap_parser_new(&lim), *b = imap_parser_new(&lim);
	size_t len;
	char *big = literal_response(600 * 1024, &len);

	/* a holds 600 KiB of an unfinished response */
	cr_assert_eq(feed(a, big, len), IMAP_PARSE_NEED_MORE);
	cr_expect_geq(budget.used, 600u * 1024);
	cr_expect_leq(budget.used, budget.max);

	/* b cannot take as much again: busy, not out of memory */
	cr_assert_eq(feed(b, big, len), IMAP_PARSE_ERROR);
	cr_expect_eq(imap_parser_error_code(b), IMAP_ERR_BUSY);
	cr_expect(strstr(imap_parser_error(b), "--imap-memory-max") != NULL);

	/* a finishes: its next response starts afresh (what is held now is
	 * a's first step for it and b's for the start of its failed one) */
	cr_assert_eq(feed(a, ")\r\n", 3), IMAP_PARSE_DONE);
	cr_assert_eq(feed(a, "* OK x", 6), IMAP_PARSE_NEED_MORE);
	cr_expect_leq(budget.used, 2 * 64u * 1024, "used %zu", (size_t)budget.used);

	/* now b gets the room */
	imap_parser_reset(b);
	cr_expect_eq(feed(b, big, len), IMAP_PARSE_NEED_MORE);
	cr_expect_eq(feed(b, ")\r\n", 3), IMAP_PARSE_DONE);

	imap_parser_free(&a);
	imap_parser_free(&b);
	cr_expect_eq(budget.used, 0, "freed parsers give everything back: %zu",
	             (size_t)budget.used);
	free(big);
}

Test(budget, none_means_no_limit)
{
	struct imap_budget budget = {.max = 0};
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.budget = &budget;
	struct imap_parser *p = imap_parser_new(&lim);
	size_t len;
	char *big = literal_response(2u << 20, &len);
	cr_expect_eq(feed(p, big, len), IMAP_PARSE_NEED_MORE);
	cr_expect_eq(feed(p, ")\r\n", 3), IMAP_PARSE_DONE);
	cr_expect_eq(budget.used, 0);
	imap_parser_free(&p);
	free(big);
}
