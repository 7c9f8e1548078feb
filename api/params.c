/*
 * api/params.c — query parameters shared by the routes: one wording and
 * one set of bounds for each kind of value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "api/api.h"
#include "imap/base/codec.h"
#include "imap/messages.h"

#define SEARCH_TEXT_MAX 1024  /* bytes of one text filter */
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

void api_folders_free(struct api_folders *f)
{
	free(f->store);
	free(f->v);
	memset(f, 0, sizeof *f);
}

static bool folders_add(struct api_folders *f, size_t max, const char *name,
                        struct api_response *resp)
{
	if (f->n == max)
		return api_bad(resp, "folders names more than %zu folders", max);
	if (!api_check_path(name, "each folder in folders", resp))
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i], name) == 0)
			return api_bad(resp, "folders names %.200s twice", name);
	f->v[f->n++] = name;
	return true;
}

bool api_folders_param(const struct api_request *req, size_t max, struct api_folders *out,
                       struct api_response *resp)
{
	memset(out, 0, sizeof *out);
	size_t bytes = 0, items = 0, given = 0;
	for (size_t i = 0; i < req->nquery; i++) {
		if (strcmp(req->query[i].key, "folders"))
			continue;
		given++;
		bytes += strlen(req->query[i].value) + 1;
		items += 1;
		for (const char *c = req->query[i].value; *c; c++)
			items += *c == ',';
	}
	if (!given)
		return true;
	bool repeated = given > 1;  /* then each value is one folder */
	if (!(out->store = malloc(bytes)) || !(out->v = calloc(items, sizeof *out->v))) {
		api_folders_free(out);
		return api_fail(resp, API_ERR_BUSY, "out of memory");
	}
	char *w = out->store;
	bool ok = true;
	for (size_t i = 0; ok && i < req->nquery; i++) {
		if (strcmp(req->query[i].key, "folders"))
			continue;
		size_t len = strlen(req->query[i].value);
		memcpy(w, req->query[i].value, len + 1);
		if (repeated && len)
			ok = folders_add(out, max, w, resp);
		for (char *p = w, *next; !repeated && ok && p; p = next) {
			next = strchr(p, ',');
			if (next)
				*next++ = '\0';
			ok = folders_add(out, max, p, resp);
		}
		w += len + 1;
	}
	if (ok && out->n == 0)
		ok = api_bad(resp, "folders must name at least one folder");
	if (!ok)
		api_folders_free(out);
	return ok;
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

bool api_text_param(const struct api_request *req, const char *key, const char **out,
                       struct api_response *resp)
{
	const char *v = api_query(req, key);
	*out = NULL;
	if (!v)
		return true;
	size_t len = strlen(v);
	bool ok = len > 0 && len <= SEARCH_TEXT_MAX && imap_utf8_validate(v, len) == 0;
	for (size_t i = 0; ok && i < len; i++)
		ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
	if (!ok)
		return api_bad(resp, "%s must be 1 to %d bytes of UTF-8 text", key, SEARCH_TEXT_MAX);
	*out = v;
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

bool api_filter_params(const struct api_request *req, struct imap_filter *f, char days[2][16],
                       struct api_response *resp)
{
	const char *v;
	memset(f, 0, sizeof *f);
	if (!api_bool_param(req, "unseen", &f->unseen, resp) ||
	    !api_bool_param(req, "flagged", &f->flagged, resp) ||
	    !api_bool_param(req, "has_unsubscribe", &f->has_unsubscribe, resp) ||
	    !api_text_param(req, "from", &f->from, resp) || !api_text_param(req, "to", &f->to, resp) ||
	    !api_text_param(req, "subject", &f->subject, resp) ||
	    !api_text_param(req, "text", &f->text, resp) ||
	    !api_day_param(req, "since", days[0], &f->since, resp) ||
	    !api_day_param(req, "before", days[1], &f->before, resp))
		return false;
	if ((v = api_query(req, "larger"))) {
		if (!api_parse_u64(v, 0, UINT32_MAX, &f->larger))
			return api_bad(resp, "larger must be a size in bytes");
		f->has_larger = true;
	}
	if ((v = api_query(req, "smaller"))) {
		if (!api_parse_u64(v, 1, UINT32_MAX, &f->smaller))
			return api_bad(resp, "smaller must be a size in bytes from 1");
		f->has_smaller = true;
	}
	return true;
}

void api_base64url_encode(const void *raw, size_t len, struct imap_buf *out)
{
	const unsigned char *p = raw;
	for (size_t i = 0; i < len; i += 48) {
		unsigned char b64[72];
		int m = EVP_EncodeBlock(b64, p + i, (int)(len - i < 48 ? len - i : 48));
		for (int k = 0; k < m && b64[k] != '='; k++)
			imap_buf_putc(out, b64[k] == '+' ? '-' : b64[k] == '/' ? '_' : (char)b64[k]);
	}
}

bool api_base64url_decode(const char *s, size_t max, struct imap_buf *out)
{
	size_t len = strlen(s);
	if (len == 0 || len > max)
		return false;
	struct imap_buf b64;
	imap_buf_init(&b64, 0);
	bool ok = true;
	for (size_t i = 0; i < len && ok; i++) {
		char c = s[i];
		ok = isalnum((unsigned char)c) || c == '-' || c == '_';
		imap_buf_putc(&b64, c == '-' ? '+' : c == '_' ? '/' : c);
	}
	/* base64url without padding (RFC 4648 §5): the standard alphabet once
	 * mapped back, and the lenient decoder takes the missing "=". */
	size_t before = out->len;
	ok = ok && b64.data && imap_base64_decode(b64.data, b64.len, IMAP_BASE64_LENIENT, out) == 0 &&
	     out->len > before && !memchr(out->data + before, '\0', out->len - before);
	imap_buf_free(&b64);
	return ok;
}

void api_cursor_encode(const char *raw, char *out, size_t cap)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	api_base64url_encode(raw, strlen(raw), &b);
	snprintf(out, cap, "%s", b.data ? b.data : "");
	imap_buf_free(&b);
}

bool api_cursor_decode(const char *s, char *raw, size_t cap)
{
	struct imap_buf b;
	imap_buf_init(&b, 0);
	bool ok = api_base64url_decode(s, API_CURSOR_MAX, &b) && b.len < cap;
	if (ok) {
		memcpy(raw, b.data, b.len);
		raw[b.len] = '\0';
	}
	imap_buf_free(&b);
	return ok;
}
