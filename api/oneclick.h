/*
 * api/oneclick.h — the RFC 8058 one-click unsubscribe POST, made safe to run
 * from a server (internal to api/).
 *
 * The URI comes from a message anyone could have sent, so the request is
 * the narrowest one that does the job:
 *   - https only, no user or password in the URI;
 *   - the host resolved once here; every address checked
 *     (api_oneclick_address_public) and the connection pinned to one that
 *     passed (CURLOPT_RESOLVE), and checked again as the socket opens, so a
 *     second resolution can never lead elsewhere; hosts in allow_hosts skip
 *     the check (tests on loopback);
 *   - POST "List-Unsubscribe=One-Click" as application/x-www-form-urlencoded;
 *     no cookies, no credentials, no proxy, no redirect followed;
 *   - one deadline for everything (timeout_ms), and at most body_max bytes
 *     of the answer read.
 * Blocks the calling thread (a worker, never the event loop) for up to
 * timeout_ms. curl_global_init must have run (server/main.c does it once).
 */
#ifndef IMAPGW_API_ONECLICK_H
#define IMAPGW_API_ONECLICK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define API_ONECLICK_BODY "List-Unsubscribe=One-Click"

struct api_oneclick_config {
	unsigned timeout_ms;      /* 0: 10 s */
	size_t body_max;          /* 0: 64 KiB */
	const char *ca;           /* CA file; NULL: the system store */
	const char *allow_hosts;  /* comma-separated host names or IP literals; NULL: none */
};

enum api_oneclick_result {
	API_ONECLICK_DONE,     /* the server answered 2xx */
	API_ONECLICK_REFUSED,  /* not sent: the URI or its addresses are not allowed */
	API_ONECLICK_FAILED,   /* sent or tried, and it did not succeed */
};

struct api_oneclick {
	enum api_oneclick_result result;
	long http_status;      /* the server's status, 0 when none came */
	char reason[256];      /* why, for refused and failed; "" when done */
};

/* POST one-click to url (a C string). Fills *out; never fails otherwise. */
void api_oneclick_post(const char *url, const struct api_oneclick_config *cfg,
                       struct api_oneclick *out);

/* False for an address no unsubscribe request may reach: unspecified,
 * loopback, private (RFC 1918, fc00::/7), shared (100.64.0.0/10, CGNAT),
 * link-local (169.254.0.0/16 with the cloud metadata address, fe80::/10),
 * multicast, reserved and documentation ranges, benchmarking, and the same
 * inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, NAT64 (64:ff9b::/96)
 * and 6to4 (2002::/16) IPv6 forms. Families other than IPv4 and IPv6 are
 * refused. */
bool api_oneclick_address_public(const struct sockaddr *sa);

#endif
