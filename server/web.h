/*
 * server/web.h — what browsers and proxies ask of an HTTP answer, as pure
 * functions (no libmicrohttpd): content coding (gzip), CORS origins, and
 * the request identity a client or a tracing proxy sends along.
 */
#ifndef IMAPGW_SERVER_WEB_H
#define IMAPGW_SERVER_WEB_H

#include <stdbool.h>
#include <stddef.h>

/* Whether an Accept-Encoding value (RFC 9110 §12.5.3) accepts gzip:
 * "gzip", "x-gzip" or "*" with a q-value above 0, and gzip not refused
 * by name ("gzip;q=0, *" does not). NULL (no header): false. */
bool web_accepts_gzip(const char *accept_encoding);

/* in[0..len) as one gzip member at level (1-9) into a new malloc'd
 * buffer: 0 with *out and *out_len set, or -1 (no memory). Each thread
 * keeps one deflate state for its calls (freed when it ends). */
int web_gzip(const char *in, size_t len, int level, char **out, size_t *out_len);

/* The Access-Control-Allow-Origin value for a request's Origin under the
 * configured list (comma-separated exact origins, or "*"): "*" for the
 * wildcard, origin itself when the list names it byte for byte, NULL when
 * CORS is off (list NULL or empty), the request has no Origin, or the
 * origin is not listed. */
const char *web_cors_origin(const char *list, const char *origin);

/* A client's X-Request-Id is used as ours when it is 1 to
 * WEB_REQUEST_ID_MAX characters of [A-Za-z0-9._:-] (anything else: we
 * make one). */
#define WEB_REQUEST_ID_MAX 64
bool web_request_id_ok(const char *id);

/* The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>",
 * lower-case, ids not all zero, version not ff; a later version may carry
 * more after the flags) into out (33 bytes): true, or false when the
 * header is absent or malformed. */
bool web_traceparent(const char *header, char out[33]);

#endif
