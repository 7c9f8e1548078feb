/*
 * api/mailto.h — sending a mailto: unsubscribe (RFC 2369, RFC 6068) through
 * the SMTP submission server the gateway is configured with (internal to
 * api/).
 *
 * The message goes out as the requesting user: SMTP AUTH with the
 * request's own credentials (the password, or the OAuth token as XOAUTH2),
 * which mail providers accept for submission as for IMAP; the From and
 * envelope sender are the IMAP user name when it is an address, else
 * user@from_domain. TLS as configured (STARTTLS required by default),
 * certificates verified. One deadline for everything. libcurl does the
 * SMTP; it runs on the calling (worker) thread.
 */
#ifndef IMAPGW_API_MAILTO_H
#define IMAPGW_API_MAILTO_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/pool.h"

enum api_smtp_tls { API_SMTP_STARTTLS, API_SMTP_IMPLICIT, API_SMTP_NONE };

struct api_smtp_config {
	const char *host;          /* NULL: no SMTP configured */
	unsigned port;             /* 0: 587 (465 for implicit TLS) */
	enum api_smtp_tls tls;
	const char *ca;            /* CA file; NULL: the system store */
	const char *from_domain;   /* for user names without "@"; NULL: such users cannot send */
	unsigned timeout_ms;       /* 0: 30 s */
};

/* Parse "starttls" / "implicit" / "none"; false for anything else. */
bool api_smtp_tls_parse(const char *s, enum api_smtp_tls *out);

/* Send one plain-text message to `to` (an addr-spec without blanks or
 * controls, as imap_unsubscribe_parse makes them) with subject and body
 * (UTF-8; the subject's controls must be gone already; the body's line
 * ends are made CRLF). Returns true when the server accepted it; false
 * with the reason in reason[0..cap) otherwise. `refused` is set when
 * nothing was tried (no usable sender address). */
bool api_mailto_send(const struct api_smtp_config *cfg, const struct imap_credentials *cred,
                     const char *to, const char *subject, const char *body, bool *refused,
                     char *reason, size_t cap);

#endif
