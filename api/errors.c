/*
 * api/errors.c — the one place that turns what went wrong into an HTTP
 * status and an application/problem+json body (RFC 9457).
 *
 * Every failure anywhere (a handler's validation, the HTTP layer's limits,
 * an IMAP error code) is named by an enum api_err; the table below gives
 * its status, problem type and title, and the headers it must carry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "api/jsonw.h"

static const struct {
	int status;
	const char *slug;   /* urn:imapgw:problem:<slug> */
	const char *title;
	unsigned retry_after; /* seconds of Retry-After (0: none) */
} problems[] = {
	[API_ERR_BAD_REQUEST] = {400, "bad-request", "Bad Request", 0},
	[API_ERR_UNKNOWN_SERVER] = {400, "unknown-server", "Bad Request", 0},
	[API_ERR_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized", 0},
	[API_ERR_NOT_FOUND] = {404, "not-found", "Not Found", 0},
	[API_ERR_METHOD] = {405, "method-not-allowed", "Method Not Allowed", 0},
	/* Three conflicts, each with its type: the client's UIDs name other
	 * messages now; what it would create is there already; the write was
	 * refused because it could lose mail. */
	[API_ERR_STALE] = {409, "stale-uidvalidity", "Conflict", 0},
	[API_ERR_EXISTS] = {409, "exists", "Conflict", 0},
	[API_ERR_REFUSED] = {409, "refused", "Conflict", 0},
	[API_ERR_CANNOT_CALCULATE] = {410, "cannot-calculate-changes", "Gone", 0},
	[API_ERR_TOO_LARGE] = {413, "payload-too-large", "Payload Too Large", 0},
	[API_ERR_URI_TOO_LONG] = {414, "uri-too-long", "URI Too Long", 0},
	[API_ERR_MEDIA_TYPE] = {415, "unsupported-media-type", "Unsupported Media Type", 0},
	[API_ERR_THROTTLED] = {429, "too-many-requests", "Too Many Requests", 1},
	[API_ERR_HEADERS_TOO_LARGE] = {431, "request-header-fields-too-large",
	                               "Request Header Fields Too Large", 0},
	[API_ERR_BAD_GATEWAY] = {502, "bad-gateway", "Bad Gateway", 0},
	[API_ERR_BUSY] = {503, "unavailable", "Service Unavailable", 1},
	[API_ERR_NOT_READY] = {503, "unavailable", "Service Unavailable", 5},
	[API_ERR_TIMEOUT] = {504, "gateway-timeout", "Gateway Timeout", 0},
};

/* The problem body: type, title, status, detail, and imap_code and
 * imap_detail (the server's own words) when the server gave them. */
static void problem_full(struct api_response *resp, enum api_err e, const char *detail,
                         const char *imap_code, const char *imap_detail, unsigned retry_after)
{
	char type[64];
	snprintf(type, sizeof type, "urn:imapgw:problem:%s", problems[e].slug);
	resp->status = problems[e].status;
	resp->content_type = "application/problem+json";
	resp->nheaders = 0;
	imap_buf_reset(&resp->body, 0);
	struct jsonw w;
	jsonw_init(&w, &resp->body);
	jsonw_object(&w);
	jsonw_key(&w, "type");
	jsonw_string(&w, type);
	jsonw_key(&w, "title");
	jsonw_string(&w, problems[e].title);
	jsonw_key(&w, "status");
	jsonw_int(&w, problems[e].status);
	jsonw_key(&w, "detail");
	jsonw_string(&w, detail && *detail ? detail : problems[e].title);
	if (imap_code && *imap_code) {
		jsonw_key(&w, "imap_code");
		jsonw_string(&w, imap_code);
	}
	if (imap_detail && *imap_detail) {
		jsonw_key(&w, "imap_detail");
		jsonw_string(&w, imap_detail);
	}
	jsonw_end_object(&w);
	if (e == API_ERR_UNAUTHORIZED)
		api_response_header(resp, "WWW-Authenticate", "Basic realm=\"imapgw\", Bearer");
	if (retry_after || problems[e].retry_after)
		api_response_header(resp, "Retry-After", "%u",
		                    retry_after ? retry_after : problems[e].retry_after);
}

static void problem(struct api_response *resp, enum api_err e, const char *detail,
                    const char *imap_code, unsigned retry_after)
{
	problem_full(resp, e, detail, imap_code, NULL, retry_after);
}

__attribute__((format(printf, 3, 0)))
static bool vfail(struct api_response *resp, enum api_err e, const char *fmt, va_list ap)
{
	char detail[320];
	vsnprintf(detail, sizeof detail, fmt, ap);
	problem(resp, e, detail, NULL, 0);
	return false;
}

bool api_fail(struct api_response *resp, enum api_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(resp, e, fmt, ap);
	va_end(ap);
	return false;
}

bool api_bad(struct api_response *resp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(resp, API_ERR_BAD_REQUEST, fmt, ap);
	va_end(ap);
	return false;
}

/* The detail written for the API's user when the IMAP server's own
 * words are all the error says (they go to imap_detail). */
static const char *our_words(enum api_err e)
{
	switch (e) {
	case API_ERR_BAD_REQUEST:
		return "the IMAP server refused the name or value given (imap_detail says why)";
	case API_ERR_NOT_FOUND:
		return "no such folder or message";
	case API_ERR_STALE:
		return "the folder's UIDVALIDITY is no longer the one given";
	case API_ERR_EXISTS:
		return "what would be created exists already";
	case API_ERR_REFUSED:
		return "the IMAP server refused the change";
	case API_ERR_THROTTLED:
		return "too many attempts just now; retry later";
	case API_ERR_BUSY:
		return "the IMAP server is busy; retry later";
	case API_ERR_TIMEOUT:
		return "the IMAP server did not answer in time";
	default:
		return "the IMAP server refused the command";
	}
}

void api_imap_problem(struct api_response *resp, int rc, const struct imap_error *err,
                      unsigned retry_after_s)
{
	const char *code = err ? err->imap_code : NULL;
	enum api_err e = API_ERR_BAD_GATEWAY;
	unsigned retry = 0;
	switch ((enum imap_err)rc) {
	case IMAP_ERR_AUTH:
		/* The server's words may name the account; ours do not. */
		return problem(resp, API_ERR_UNAUTHORIZED, "the IMAP server refused the credentials",
		               code, 0);
	case IMAP_ERR_THROTTLED:
		e = API_ERR_THROTTLED;
		retry = retry_after_s;
		code = NULL;
		break;
	case IMAP_ERR_BUSY:
	case IMAP_ERR_NOMEM:
		e = API_ERR_BUSY;
		code = NULL;
		break;
	case IMAP_ERR_TIMEOUT:
		e = API_ERR_TIMEOUT;
		code = NULL;
		break;
	case IMAP_ERR_INVALID:
		e = API_ERR_BAD_REQUEST;
		code = NULL;
		break;
	case IMAP_ERR_NOT_FOUND:
		e = API_ERR_NOT_FOUND;
		break;
	case IMAP_ERR_STALE:
		e = API_ERR_STALE;
		break;
	case IMAP_ERR_EXISTS:
		e = API_ERR_EXISTS;
		break;
	case IMAP_ERR_REFUSED:
		e = API_ERR_REFUSED;
		break;
	case IMAP_OK:
	case IMAP_ERR_LIMIT:
	case IMAP_ERR_RESOLVE:
	case IMAP_ERR_CONNECT:
	case IMAP_ERR_IO:
	case IMAP_ERR_TLS:
	case IMAP_ERR_TLS_VERIFY:
	case IMAP_ERR_PROTOCOL:
	case IMAP_ERR_BYE:
	case IMAP_ERR_UNSUPPORTED:
	case IMAP_ERR_NO:
	case IMAP_ERR_BAD:
		break;
	}
	if (err && err->server_text && err->msg[0])
		return problem_full(resp, e, our_words(e), code, err->msg, retry);
	problem(resp, e, err && err->msg[0] ? err->msg : imap_strerror(rc), code, retry);
}
