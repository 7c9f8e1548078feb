/*
 * api/service.c — the routes about the gateway itself: liveness,
 * readiness, metrics and the contract.
 */
#include "api/handlers.h"
#include "api/openapi.h"

void api_healthz(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	imap_buf_puts(&resp->body, "{\"status\":\"ok\"}");
}

/* Ready when the IMAP server greets us (TLS verified); no credentials used. */
void api_readyz(const struct api_request *req, struct api_response *resp,
                const struct api_match *m)
{
	(void)m;
	struct imap_session *s = NULL;
	struct imap_error err = {0};
	int64_t deadline = imap_now_ms() + 5000;
	if (deadline > req->deadline)
		deadline = req->deadline;
	if (imap_session_connect(&s, api_config()->client, deadline, &err)) {
		api_fail(resp, API_ERR_NOT_READY, "%s", err.msg);
		return;
	}
	imap_session_logout(&s, imap_now_ms() + 1000);
	resp->status = 200;
	imap_buf_puts(&resp->body, "{\"status\":\"ready\"}");
}

void api_openapi(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	resp->content_type = "application/json";
	imap_buf_append(&resp->body, api_openapi_json, api_openapi_json_len);
}

static api_metrics_fn *metrics_fn;
static void *metrics_ctx;

void api_set_metrics(api_metrics_fn *fn, void *ctx)
{
	metrics_fn = fn;
	metrics_ctx = ctx;
}

/* Server-side state (pool, workers), rendered by the server's callback. */
void api_metrics(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m)
{
	(void)req;
	(void)m;
	if (!metrics_fn) {
		api_fail(resp, API_ERR_NOT_FOUND, "no metrics here");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	metrics_fn(metrics_ctx, &resp->body);
}
