/*
 * imap/base/error.h — typed errors of the IMAP client library.
 *
 * Functions return 0 on success or a negative enum imap_err. Those that can
 * say more fill a caller-owned struct imap_error (fixed buffers, no
 * allocation on the failure path). Messages never contain credentials.
 * The API layer maps codes to HTTP statuses in one place.
 */
#ifndef IMAPGW_IMAP_BASE_ERROR_H
#define IMAPGW_IMAP_BASE_ERROR_H

enum imap_err {
	IMAP_OK = 0,
	IMAP_ERR_NOMEM = -1,       /* allocation failed */
	IMAP_ERR_INVALID = -2,     /* caller's argument cannot be sent safely */
	IMAP_ERR_LIMIT = -3,       /* a configured size/depth limit was exceeded */
	IMAP_ERR_RESOLVE = -4,     /* host name did not resolve */
	IMAP_ERR_CONNECT = -5,     /* TCP connect refused/unreachable */
	IMAP_ERR_TIMEOUT = -6,     /* a deadline passed (msg says which phase) */
	IMAP_ERR_IO = -7,          /* read/write failed, or EOF from the server */
	IMAP_ERR_TLS = -8,         /* TLS handshake/record failure */
	IMAP_ERR_TLS_VERIFY = -9,  /* certificate chain or host name not trusted */
	IMAP_ERR_PROTOCOL = -10,   /* the server sent something unparseable */
	IMAP_ERR_BYE = -11,        /* the server closed the session (BYE) */
	IMAP_ERR_UNSUPPORTED = -12,/* the server lacks a needed capability */
	IMAP_ERR_AUTH = -13,       /* credentials refused */
	IMAP_ERR_NO = -14,         /* tagged NO */
	IMAP_ERR_BAD = -15,        /* tagged BAD */
	IMAP_ERR_BUSY = -16,       /* no pooled session became free before the deadline */
	IMAP_ERR_THROTTLED = -17,  /* too many failed logins for this user just now */
	IMAP_ERR_NOT_FOUND = -18,  /* no such mailbox / message / part */
	IMAP_ERR_STALE = -19,      /* UIDVALIDITY changed under the caller's reference */
	IMAP_ERR_EXISTS = -20,     /* the mailbox to create (or rename to) exists already */
	IMAP_ERR_REFUSED = -21,    /* not done: it could lose mail (a plain EXPUNGE would be
	                              needed, a folder still holds messages, INBOX ...) */
};

#include <stdbool.h>

#define IMAP_ERROR_CODE_MAX 64
#define IMAP_ERROR_MSG_MAX 256

struct imap_error {
	enum imap_err code;
	char imap_code[IMAP_ERROR_CODE_MAX]; /* response code, e.g. "AUTHENTICATIONFAILED"; "" if none */
	char msg[IMAP_ERROR_MSG_MAX];        /* human-readable detail */
	/* msg is the IMAP server's own text (a tagged NO or BAD), not ours:
	 * for logs and the problem's imap_detail, never its detail. */
	bool server_text;
};

/* Short constant description of a code ("timeout", "auth failed", ...). */
const char *imap_strerror(int code);

/* Fill *err (when err is non-NULL) and return code, for `return imap_error_set(...)`.
 * imap_code and server_text are cleared. */
int imap_error_set(struct imap_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
