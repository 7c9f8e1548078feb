/*
 * server/web.c: Accept-Encoding, gzip, CORS origins, request ids and W3C
 * traceparent, each at its edges.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "server/web.h"

TestSuite(web);

Test(web, accept_encoding)
{
	static const struct {
		const char *h;
		bool gzip;
	} cases[] = {
		{NULL, false},
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"deflate, gzip;q=0.8", true},
		{"br;q=1.0, gzip;q=0.5, *;q=0.1", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0.001", true},
		{"*", true},
		{"*;q=0", false},
		{"gzip;q=0, *", false},   /* refused by name: the wildcard does not bring it back */
		{"identity", false},
		{"br, deflate", false},
		{"gzipx", false},
		{"xgzip, br", false},
		{" ,, gzip ,", true},
		{"gzip;level=9", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(web_accepts_gzip(cases[i].h), cases[i].gzip, "\"%s\"",
		             cases[i].h ? cases[i].h : "(none)");
}

static void expect_gunzip(const char *z, size_t zlen, const char *want, size_t want_len)
{
	char *back = malloc(want_len + 1);
	z_stream s;
	memset(&s, 0, sizeof s);
	cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = (Bytef *)(uintptr_t)z;
	s.avail_in = (uInt)zlen;
	s.next_out = (Bytef *)back;
	s.avail_out = (uInt)want_len + 1;
	cr_expect_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(s.total_out, want_len);
	cr_expect(memcmp(back, want, want_len) == 0);
	inflateEnd(&s);
	free(back);
}

/* Round trips, one after another on the same thread (its deflate state
 * is reused: nothing of one answer may leak into the next). */
Test(web, gzip_round_trip)
{
	static char in[20000];
	for (int round = 0; round < 4; round++) {
		size_t len = sizeof in - (size_t)round * 4999;
		for (size_t i = 0; i < len; i++)
			in[i] = "{\"uid\":1,\"subject\":\"Hello\"},"[(i + (size_t)round) % 29];
		char *z;
		size_t zlen;
		cr_assert_eq(web_gzip(in, len, round % 2 ? 6 : 1, &z, &zlen), 0);
		cr_expect_lt(zlen, len / 10, "repetitive JSON shrinks: %zu", zlen);
		cr_expect(zlen > 18 && (unsigned char)z[0] == 0x1f && (unsigned char)z[1] == 0x8b,
		          "a gzip member");
		expect_gunzip(z, zlen, in, len);
		free(z);
	}
	char *z;
	size_t zlen;
	cr_assert_eq(web_gzip("", 0, 1, &z, &zlen), 0, "an empty body is a valid member too");
	expect_gunzip(z, zlen, "", 0);
	free(z);
}

Test(web, cors_origins)
{
	const char *list = "https://app.example, http://localhost:5173";
	cr_expect_null(web_cors_origin(NULL, "https://app.example"), "off");
	cr_expect_null(web_cors_origin("", "https://app.example"), "off");
	cr_expect_null(web_cors_origin(list, NULL), "no Origin");
	cr_expect_str_eq(web_cors_origin(list, "https://app.example"), "https://app.example");
	cr_expect_str_eq(web_cors_origin(list, "http://localhost:5173"), "http://localhost:5173");
	cr_expect_null(web_cors_origin(list, "https://app.example.evil"), "exact, not a prefix");
	cr_expect_null(web_cors_origin(list, "https://APP.example"), "byte for byte");
	cr_expect_null(web_cors_origin(list, "https://app.exampl"), "exact, not a prefix");
	cr_expect_null(web_cors_origin(list, "http://localhost"), "the port is part of it");
	cr_expect_null(web_cors_origin(list, "null"));
	cr_expect_str_eq(web_cors_origin("*", "https://anything.example"), "*");
	cr_expect_str_eq(web_cors_origin("*", "null"), "*");
}

Test(web, request_ids)
{
	cr_expect(web_request_id_ok("abc-123"));
	cr_expect(web_request_id_ok("0f8fad5b-d9cb-469f-a165-70867728950e"));
	cr_expect(web_request_id_ok("a.b_c:d"));
	char max[WEB_REQUEST_ID_MAX + 2];
	memset(max, 'a', sizeof max);
	max[WEB_REQUEST_ID_MAX] = '\0';
	cr_expect(web_request_id_ok(max), "%d characters", WEB_REQUEST_ID_MAX);
	max[WEB_REQUEST_ID_MAX] = 'a';
	max[WEB_REQUEST_ID_MAX + 1] = '\0';
	cr_expect_not(web_request_id_ok(max), "one more");
	static const char *const bad[] = {NULL, "", "a b", "a\"b", "a\\b", "a\nb", "\xc3\xa9",
	                                  "a/b", "{\"x\":1}", "a;b"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_not(web_request_id_ok(bad[i]), "%s", bad[i] ? bad[i] : "(none)");
}

Test(web, traceparent)
{
	char t[33];
	cr_expect(web_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t));
	cr_expect_str_eq(t, "4bf92f3577b34da6a3ce929d0e0e4736");
	cr_expect(web_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x", t),
	          "a later version may carry more");
	static const char *const bad[] = {
		NULL,
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  /* 00: nothing more */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",     /* zero trace id */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     /* zero parent id */
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     /* version ff */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     /* upper case */
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",      /* short */
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_not(web_traceparent(bad[i], t), "%s", bad[i] ? bad[i] : "(none)");
}
