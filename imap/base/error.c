/*
 * imap/base/error.c — error codes and the caller-owned error struct. See error.h.
 */
#include "imap/base/error.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

const char *imap_strerror(int code)
{
	switch ((enum imap_err)code) {
	case IMAP_OK: return "ok";
	case IMAP_ERR_NOMEM: return "out of memory";
	case IMAP_ERR_INVALID: return "invalid argument";
	case IMAP_ERR_LIMIT: return "limit exceeded";
	case IMAP_ERR_RESOLVE: return "host not found";
	case IMAP_ERR_CONNECT: return "connection failed";
	case IMAP_ERR_TIMEOUT: return "timeout";
	case IMAP_ERR_IO: return "connection lost";
	case IMAP_ERR_TLS: return "TLS failure";
	case IMAP_ERR_TLS_VERIFY: return "certificate not trusted";
	case IMAP_ERR_PROTOCOL: return "protocol error";
	case IMAP_ERR_BYE: return "server closed the session";
	case IMAP_ERR_UNSUPPORTED: return "not supported by the server";
	case IMAP_ERR_AUTH: return "auth failed";
	case IMAP_ERR_NO: return "command refused";
	case IMAP_ERR_BAD: return "command rejected as invalid";
	case IMAP_ERR_BUSY: return "no IMAP session available";
	case IMAP_ERR_THROTTLED: return "too many failed logins";
	case IMAP_ERR_NOT_FOUND: return "not found";
	case IMAP_ERR_STALE: return "UIDVALIDITY changed";
	case IMAP_ERR_EXISTS: return "already exists";
	case IMAP_ERR_REFUSED: return "refused: it could lose mail";
	}
	return "unknown error";
}

int imap_error_set(struct imap_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	err->code = (enum imap_err)code;
	err->imap_code[0] = '\0';
	err->server_text = false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return code;
}
