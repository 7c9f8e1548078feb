/*
 * api/errors.c — the one mapping from IMAP-side errors to HTTP problems.
 */
#include <stdio.h>

#include "api/api.h"

void api_imap_problem(struct api_response *resp, int rc, const struct imap_error *err,
                      unsigned retry_after_s)
{
	const char *detail = err && err->msg[0] ? err->msg : imap_strerror(rc);
	const char *code = err ? err->imap_code : NULL;
	switch ((enum imap_err)rc) {
	case IMAP_ERR_AUTH:
		api_problem(resp, 401, "Unauthorized", "the IMAP server refused the credentials", code);
		api_response_header(resp, "WWW-Authenticate", "Basic realm=\"imapgw\", Bearer");
		return;
	case IMAP_ERR_THROTTLED:
		api_problem(resp, 429, "Too Many Requests", detail, NULL);
		api_response_header(resp, "Retry-After", "%u", retry_after_s ? retry_after_s : 1);
		return;
	case IMAP_ERR_BUSY:
	case IMAP_ERR_NOMEM:
		api_problem(resp, 503, "Service Unavailable", detail, NULL);
		api_response_header(resp, "Retry-After", "1");
		return;
	case IMAP_ERR_TIMEOUT:
		api_problem(resp, 504, "Gateway Timeout", detail, NULL);
		return;
	case IMAP_ERR_NOT_FOUND:
		api_problem(resp, 404, "Not Found", detail, code);
		return;
	/* Three conflicts, each with its type: the client's UIDs name other
	 * messages now; what it would create is there already; the write was
	 * refused because it could lose mail. */
	case IMAP_ERR_STALE:
		api_problem_typed(resp, 409, "stale-uidvalidity", "Conflict", detail, code);
		return;
	case IMAP_ERR_EXISTS:
		api_problem_typed(resp, 409, "exists", "Conflict", detail, code);
		return;
	case IMAP_ERR_REFUSED:
		api_problem_typed(resp, 409, "refused", "Conflict", detail, code);
		return;
	case IMAP_ERR_INVALID:
		api_problem(resp, 400, "Bad Request", detail, NULL);
		return;
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
	api_problem(resp, 502, "Bad Gateway", detail, code);
}
