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
#include "imap/utf7.h"

bool api_bad(struct api_response *resp, const char *detail)
{
	api_problem(resp, 400, "Bad Request", detail, NULL);
	return false;
}

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

bool api_param_bool(const struct api_request *req, const char *key, bool *out,
                    struct api_response *resp)
{
	const char *v = api_query(req, key);
	*out = false;
	if (!v)
		return true;
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, ""))
		*out = true;
	else if (strcmp(v, "false") && strcmp(v, "0")) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s must be true or false", key);
		return api_bad(resp, msg);
	}
	return true;
}

bool api_param_folder(const struct api_request *req, const char **out,
                      struct api_response *resp)
{
	const char *f = api_query(req, "folder");
	if (!f)
		f = "INBOX";
	size_t len = strlen(f);
	if (len == 0 || len > API_FOLDER_MAX || strpbrk(f, "\r\n") ||
	    imap_utf8_validate(f, len) != 0)
		return api_bad(resp, "folder must be a folder path in UTF-8, without CR or LF");
	*out = f;
	return true;
}

bool api_param_uidvalidity(const struct api_request *req, uint32_t *out,
                           struct api_response *resp)
{
	const char *v = api_query(req, "uidvalidity");
	uint64_t n;
	*out = 0;
	if (!v)
		return true;
	if (!api_parse_u64(v, 1, UINT32_MAX, &n))
		return api_bad(resp, "uidvalidity must be a whole number from 1");
	*out = (uint32_t)n;
	return true;
}

bool api_params_known(const struct api_request *req, const char *const *known, size_t n,
                      struct api_response *resp)
{
	for (size_t i = 0; i < req->nquery; i++) {
		size_t k = 0;
		while (k < n && strcmp(known[k], req->query[i].key))
			k++;
		if (k == n) {
			char msg[160];
			snprintf(msg, sizeof msg, "unknown parameter '%.64s'", req->query[i].key);
			return api_bad(resp, msg);
		}
	}
	return true;
}
