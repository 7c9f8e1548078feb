/*
 * Unit tests of If-None-Match matching (api_etag_matches, RFC 9110 §13.1.2).
 */
#include <criterion/criterion.h>

#include "api/api.h"

Test(etag, if_none_match_lists)
{
	const char *tag = "\"7.42.2\"";
	cr_expect(api_etag_matches("\"7.42.2\"", tag));
	cr_expect(api_etag_matches("W/\"7.42.2\"", tag), "weak comparison");
	cr_expect(api_etag_matches("\"a\", \"7.42.2\"", tag));
	cr_expect(api_etag_matches(" \"a\" ,W/\"7.42.2\" ", tag));
	cr_expect(api_etag_matches("*", tag));
	cr_expect_not(api_etag_matches(NULL, tag));
	cr_expect_not(api_etag_matches("", tag));
	cr_expect_not(api_etag_matches("\"7.42\"", tag));
	cr_expect_not(api_etag_matches("\"7.42.2", tag), "unterminated");
	cr_expect_not(api_etag_matches("7.42.2", tag), "not quoted");
	cr_expect_not(api_etag_matches("\"7.42.20\"", tag));
	cr_expect_not(api_etag_matches("\"a\" junk \"7.42.2\"", tag), "junk ends the list");
}
