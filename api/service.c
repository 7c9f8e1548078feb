/*
 * api/service.c — the routes about the gateway itself: liveness,
 * readiness, metrics and the contract.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "api/handlers.h"
#include "api/jsonw.h"
#include "api/openapi.h"

void api_healthz(const struct api_request *req, struct api_response *resp,
                 const struct api_match *m)
{
	(void)req;
	(void)m;
	resp->status = 200;
	imap_buf_puts(&resp->body, "{\"status\":\"ok\"}");
}

static atomic_bool draining;

void api_set_draining(bool on)
{
	atomic_store(&draining, on);
}

/* Ready when not draining and an IMAP server greets us (TLS verified; no
 * credentials used). Every configured server is tried, each within
 * READY_MS, and reported by name; one that answers is enough to serve
 * its users, so the answer is 503 only when none does (a single server
 * down is the same for every replica: taking them all out of a balancer
 * would only refuse the users of the others too). */
#define READY_MS 5000
void api_readyz(const struct api_request *req, struct api_response *resp,
                const struct api_match *m)
{
	(void)m;
	const struct api_config *cfg = api_config();
	if (atomic_load(&draining)) {
		api_fail(resp, API_ERR_NOT_READY, "draining: the gateway is shutting down");
		return;
	}
	struct jsonw w;
	jsonw_init(&w, &resp->body);
	jsonw_object(&w);
	jsonw_key(&w, "servers");
	jsonw_object(&w);
	size_t up = 0;
	char first_err[sizeof ((struct imap_error *)0)->msg + API_SERVER_NAME_MAX + 2] = "";
	for (size_t i = 0; i < cfg->nservers; i++) {
		struct imap_session *s = NULL;
		struct imap_error err = {0};
		int64_t deadline = imap_now_ms() + READY_MS;
		if (deadline > req->deadline)
			deadline = req->deadline;
		jsonw_key(&w, cfg->servers[i].name);
		if (imap_session_connect(&s, cfg->servers[i].client, deadline, &err) == 0) {
			imap_session_logout(&s, imap_now_ms() + 1000);
			jsonw_string(&w, "ready");
			up++;
		} else {
			jsonw_string(&w, err.msg[0] ? err.msg : "unreachable");
			if (!first_err[0])
				snprintf(first_err, sizeof first_err, "%s: %s", cfg->servers[i].name,
				         err.msg);
		}
	}
	jsonw_end_object(&w);
	jsonw_key(&w, "status");
	jsonw_string(&w, up == cfg->nservers ? "ready" : "degraded");
	jsonw_end_object(&w);
	if (up == 0) {
		api_fail(resp, API_ERR_NOT_READY, "%s", first_err);
		return;
	}
	resp->status = 200;
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
