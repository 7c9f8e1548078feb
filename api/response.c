/*
 * api/response.c — responses and problem bodies (RFC 9457).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

void api_response_init(struct api_response *r)
{
	memset(r, 0, sizeof *r);
	r->status = 500;
	r->content_type = "application/json";
	imap_buf_init(&r->body, 0);
}

void api_response_free(struct api_response *r)
{
	if (r->after.end)
		r->after.end(r->after.arg);
	r->after = (struct api_after){0};
	imap_buf_free(&r->body);
	r->nheaders = 0;
}

void api_response_header(struct api_response *r, const char *name, const char *fmt, ...)
{
	if (r->nheaders == API_HEADERS_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->headers[r->nheaders].value, sizeof r->headers[0].value, fmt, ap);
	va_end(ap);
	r->headers[r->nheaders++].name = name;
}

const char *api_query(const struct api_request *req, const char *key)
{
	for (size_t i = 0; i < req->nquery; i++)
		if (strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}

int api_stream_begin(const struct api_request *req, struct api_response *resp,
                     uint64_t length)
{
	resp->streamed = true;
	if (!req->stream)
		return 0;
	return req->stream->begin(req->stream_ctx, resp, length);
}

int api_stream_write(const struct api_request *req, struct api_response *resp,
                     const char *data, size_t len, int64_t deadline)
{
	if (!req->stream)
		return imap_buf_append(&resp->body, data, len) ? -1 : 0;
	return req->stream->write(req->stream_ctx, data, len, deadline);
}

void api_stream_end(const struct api_request *req, struct api_response *resp, bool complete)
{
	if (req->stream)
		req->stream->end(req->stream_ctx, complete);
	else if (!complete)
		api_fail(resp, API_ERR_BAD_GATEWAY, "the body could not be read whole");
}

bool api_etag_matches(const char *header, const char *etag)
{
	if (!header)
		return false;
	size_t elen = strlen(etag);
	const char *p = header;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			return false;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;  /* weak comparison: W/"x" matches "x" */
		if (*p != '"')
			return false;  /* not a list of entity tags: no match */
		const char *end = strchr(p + 1, '"');
		if (!end)
			return false;
		size_t n = (size_t)(end - p) + 1;
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		p = end + 1;
	}
}
