/*
 * api/router.c — which handler serves a request.
 */
#include <string.h>

#include "api/api.h"

bool api_needs_imap(const struct api_request *req)
{
	(void)req;
	return false;
}

static void healthz(const struct api_request *req, struct api_response *resp)
{
	(void)req;
	resp->status = 200;
	imap_buf_puts(&resp->body, "{\"status\":\"ok\"}");
}

void api_handle(const struct api_request *req, struct api_response *resp)
{
	if (strcmp(req->path, "/healthz") == 0) {
		if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
			api_problem(resp, 405, "Method Not Allowed", "use GET", NULL);
			api_response_header(resp, "Allow", "GET, HEAD");
			return;
		}
		healthz(req, resp);
		return;
	}
	api_problem(resp, 404, "Not Found", "no such route", NULL);
}
