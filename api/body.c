/*
 * api/body.c — reading request bodies. See body.h.
 */
#include "api/body.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/write.h"

bool api_media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	if (!ct || strncasecmp(ct, type, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Nesting depth of JSON text, counted without parsing it: brackets outside
 * strings. A hostile body cannot make the parser recurse deeply. */
static bool depth_ok(const char *s, size_t len, unsigned max)
{
	unsigned depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return true;
}

json_t *api_body_object(const struct api_request *req, const char *const *keys,
                        struct api_response *resp)
{
	if (req->content_type && !api_media_is(req->content_type, "application/json")) {
		api_fail(resp, API_ERR_MEDIA_TYPE,
		         "this route takes a JSON body: Content-Type: application/json");
		return NULL;
	}
	if (!req->body || req->body_len == 0) {
		api_bad(resp, "this route needs a JSON object in the body");
		return NULL;
	}
	if (!depth_ok(req->body, req->body_len, API_JSON_DEPTH_MAX)) {
		api_bad(resp, "the body nests deeper than %d levels", API_JSON_DEPTH_MAX);
		return NULL;
	}
	json_error_t e;
	json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	if (!o) {
		api_bad(resp, "the body is not valid JSON: %.120s (line %d, column %d)", e.text, e.line,
		    e.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		api_bad(resp, "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], key) != 0)
			k++;
		if (!keys[k]) {
			api_bad(resp, "unknown member '%.64s' in the body", key);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- parameters ---- */

bool api_flag_list(json_t *body, const char *name, const char ***out, size_t *n,
                   bool *present, struct api_response *resp)
{
	json_t *a = json_object_get(body, name);
	*out = NULL;
	*n = 0;
	if (present)
		*present = a != NULL;
	if (!a)
		return true;
	if (!json_is_array(a) || json_array_size(a) > API_FLAGS_MAX)
		return api_bad(resp, "%s must be an array of at most %d flags", name, API_FLAGS_MAX);
	*out = calloc(json_array_size(a) + 1, sizeof **out);
	if (!*out)
		return api_fail(resp, API_ERR_BUSY, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		const char *f = json_string_value(v);
		if (!f || strlen(f) != json_string_length(v) || imap_flag_check(f, NULL)) {
			free(*out);
			*out = NULL;
			if (!f)
				return api_bad(resp, "%s[%zu] must be a string", name, i);
			return api_bad(resp,
			           "%s[%zu] '%.64s' is not a flag that can be stored: \\Seen, "
			           "\\Answered, \\Flagged, \\Deleted, \\Draft, or a keyword of at most %d "
			           "printable ASCII characters without spaces or ( ) { %% * \" \\ ]",
			           name, i, f, IMAP_FLAG_MAX);
		}
		(*out)[(*n)++] = f;
	}
	return true;
}

bool api_uid_list(json_t *body, uint32_t **out, size_t *n, struct api_response *resp)
{
	unsigned max = api_config()->bulk_max ? api_config()->bulk_max : API_BULK_MAX_DEFAULT;
	json_t *a = json_object_get(body, "uids");
	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max)
		return api_bad(resp, "uids must be an array of 1 to %u UIDs", max);
	*out = calloc(json_array_size(a), sizeof **out);
	if (!*out)
		return api_fail(resp, API_ERR_BUSY, "out of memory");
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		json_int_t u = json_is_integer(v) ? json_integer_value(v) : 0;
		if (u < 1 || u > (json_int_t)UINT32_MAX) {
			free(*out);
			*out = NULL;
			return api_bad(resp, "uids[%zu] must be a whole number from 1 to 4294967295", i);
		}
		(*out)[(*n)++] = (uint32_t)u;
	}
	return true;
}

bool api_path_member(json_t *body, const char *name, bool required, const char **out,
                     struct api_response *resp)
{
	json_t *v = json_object_get(body, name);
	*out = NULL;
	if (!v && !required)
		return true;
	if (!json_is_string(v))
		return api_bad(resp, "%s must be a folder path (a string)", name);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return api_bad(resp, "%s must not hold NUL", name);
	*out = json_string_value(v);
	return api_check_path(*out, name, resp);
}

bool api_bool_member(json_t *body, const char *name, bool *present, bool *out,
                     struct api_response *resp)
{
	json_t *v = json_object_get(body, name);
	*present = v != NULL;
	if (v && !json_is_boolean(v))
		return api_bad(resp, "%s must be true or false", name);
	if (v)
		*out = json_is_true(v);
	return true;
}
