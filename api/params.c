/*
 * api/params.c — query parameters shared by the routes: one wording and
 * one set of bounds for each kind of value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "imap/base/codec.h"
#include "imap/mail/utf7.h"

#include <openssl/evp.h>

bool api_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]) || strlen(s) > 20)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool api_known_params(const struct api_request *req, const char *const *keys,
                      struct api_response *resp)
{
	for (size_t i = 0; i < req->nquery; i++) {
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], req->query[i].key) != 0)
			k++;
		if (!keys[k])
			return api_bad(resp, "unknown parameter '%.64s'", req->query[i].key);
	}
	return true;
}

bool api_check_path(const char *path, const char *what, struct api_response *resp)
{
	size_t len = strlen(path);
	if (len == 0 || len > API_PATH_MAX || strpbrk(path, "\r\n") ||
	    imap_utf8_validate(path, len) != 0)
		return api_bad(resp, "%s must be a folder path: 1 to %d bytes of UTF-8, without CR or LF",
		           what, API_PATH_MAX);
	return true;
}

bool api_folder_param(const struct api_request *req, const char **out,
                      struct api_response *resp)
{
	*out = api_query(req, "folder");
	if (!*out)
		*out = "INBOX";
	return api_check_path(*out, "folder", resp);
}

bool api_parse_uid(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool api_uidvalidity_param(const struct api_request *req, uint32_t *out,
                           struct api_response *resp)
{
	const char *v = api_query(req, "uidvalidity");
	*out = 0;
	if (v && !api_parse_uid(v, strlen(v), out))
		return api_bad(resp, "uidvalidity must be a whole number from 1 to 4294967295");
	return true;
}

bool api_bool_param(const struct api_request *req, const char *key, bool *out,
                    struct api_response *resp)
{
	const char *v = api_query(req, key);
	*out = false;
	if (!v)
		return true;
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, ""))
		*out = true;
	else if (strcmp(v, "false") && strcmp(v, "0"))
		return api_bad(resp, "%s must be true or false", key);
	return true;
}

bool api_day_param(const struct api_request *req, const char *key, char out[16],
                      const char **dst, struct api_response *resp)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *v = api_query(req, key);
	*dst = NULL;
	if (!v)
		return true;
	int y, m, d, n = 0;
	if (strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    !isdigit((unsigned char)v[0]) || v[4] != '-' || v[7] != '-' || y < 1900 || y > 9999 ||
	    m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))) {
		return api_bad(resp, "%s must be a date YYYY-MM-DD", key);
	}
	snprintf(out, 16, "%d-%s-%04d", d % 100, mon[m - 1], y % 10000);
	*dst = out;
	return true;
}

void api_base64url_encode(const void *data, size_t len, char *out, size_t cap)
{
	size_t k = 0;
	const unsigned char *p = data;
	/* 48 bytes at a time: 64 characters, no padding inside */
	for (size_t at = 0; at < len && k + 1 < cap; at += 48) {
		unsigned char b64[68];
		int m = EVP_EncodeBlock(b64, p + at, (int)(len - at < 48 ? len - at : 48));
		for (int i = 0; i < m && k + 1 < cap && b64[i] != '='; i++)
			out[k++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	}
	out[k] = '\0';
}

bool api_base64url_decode(const char *s, size_t len, char *out, size_t cap, size_t *n)
{
	char b64[1024];
	*n = 0;
	if (len == 0 || len > sizeof b64)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!isalnum((unsigned char)c) && c != '-' && c != '_')
			return false;
		b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	/* the standard alphabet once mapped back; the lenient decoder takes
	 * the missing "=" */
	return imap_base64_decode_to(b64, len, IMAP_BASE64_LENIENT, out, cap, n) == 0 && *n > 0;
}

