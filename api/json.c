/*
 * api/json.c — JSON helpers. See json.h.
 */
#include "api/json.h"

#include <stdlib.h>
#include <string.h>

#include "imap/mail/charset.h"
#include "imap/mail/utf7.h"

json_t *api_json_str(const char *s)
{
	if (!s)
		return json_null();
	size_t len = strlen(s);
	if (imap_utf8_validate(s, len) == 0)
		return json_stringn_nocheck(s, len);
	struct imap_buf b;
	imap_buf_init(&b, 0);
	imap_utf8_sanitize(s, len, &b);
	json_t *j = json_stringn(b.data ? b.data : "", b.len);
	imap_buf_free(&b);
	return j ? j : json_string("");
}

void api_json_reply(struct api_response *resp, int status, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(v);
	if (!text) {
		api_problem(resp, 503, "Service Unavailable", "out of memory", NULL);
		api_response_header(resp, "Retry-After", "1");
		return;
	}
	resp->status = status;
	resp->content_type = "application/json";
	imap_buf_reset(&resp->body, 0);
	imap_buf_puts(&resp->body, text);
	free(text);
}
