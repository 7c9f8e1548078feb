/*
 * The streaming JSON writer: output always parses, strings round-trip,
 * invalid UTF-8 and control bytes never break it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "api/jsonw.h"

Test(jsonw, nesting_commas_and_scalars)
{
	struct imap_buf b;
	struct jsonw w;
	imap_buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_object(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, -5);
	jsonw_key(&w, "b");
	jsonw_array(&w);
	jsonw_uint(&w, 18446744073709551615ull);
	jsonw_bool(&w, true);
	jsonw_null(&w);
	jsonw_array(&w);
	jsonw_end_array(&w);
	jsonw_object(&w);
	jsonw_end_object(&w);
	jsonw_end_array(&w);
	jsonw_key(&w, "c");
	jsonw_string(&w, NULL);
	jsonw_end_object(&w);
	cr_assert_str_eq(b.data, "{\"a\":-5,\"b\":[18446744073709551615,true,null,[],{}],\"c\":null}");
	imap_buf_free(&b);
}

static json_t *round_trip(const char *s, size_t len)
{
	struct imap_buf b;
	struct jsonw w;
	imap_buf_init(&b, 0);
	jsonw_init(&w, &b);
	jsonw_array(&w);
	jsonw_stringn(&w, s, len);
	jsonw_end_array(&w);
	json_error_t e;
	json_t *j = json_loads(b.data, 0, &e);
	cr_assert_not_null(j, "%s: %s", b.data, e.text);
	imap_buf_free(&b);
	return j;
}

Test(jsonw, strings_escape_and_round_trip)
{
	static const char *s[] = {"plain", "quote \" backslash \\ slash /", "tab\tnl\ncr\r",
	                          "\x01\x1f\x7f", "Donn\u00e9es \u65e5\u672c\u8a9e \U0001F4EC", ""};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		json_t *j = round_trip(s[i], strlen(s[i]));
		cr_assert_str_eq(json_string_value(json_array_get(j, 0)), s[i]);
		json_decref(j);
	}
}

Test(jsonw, invalid_utf8_and_nul_stay_valid_json)
{
	static const char bad[] = "caf\xe9 \xff\xfe a\0b \xc3";
	json_t *j = round_trip(bad, sizeof bad - 1);
	const char *v = json_string_value(json_array_get(j, 0));
	cr_assert_not_null(v);
	cr_assert(strncmp(v, "caf\u00e9 ", 6) == 0, "%s", v);  /* windows-1252 reading */
	json_decref(j);
}
