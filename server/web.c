/*
 * server/web.c — gzip, CORS origins and request identity. See web.h.
 */
#include "server/web.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

/* A q-value ("q=0", "q=0.000", "q=1", "q=0.5") is zero. Anything we do
 * not read as a q-value leaves the coding accepted. */
static bool q_zero(const char *params, size_t len)
{
	const char *p = params, *end = params + len;
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			if (p < end && *p == '0') {
				p++;
				if (p < end && *p == '.')
					p++;
				while (p < end && *p == '0')
					p++;
				return p == end || *p == ';' || *p == ' ' || *p == '\t';
			}
			return false;
		}
		while (p < end && *p != ';')
			p++;
	}
	return false;
}

bool web_accepts_gzip(const char *h)
{
	if (!h)
		return false;
	bool named = false, gzip = false, star = false;
	const char *p = h;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		size_t item = strcspn(p, ",");
		size_t name = strcspn(p, ";, \t");
		if (name > item)
			name = item;
		bool ok = !q_zero(p + name, item - name);
		if ((name == 4 && strncasecmp(p, "gzip", 4) == 0) ||
		    (name == 6 && strncasecmp(p, "x-gzip", 6) == 0)) {
			named = true;
			gzip |= ok;
		} else if (name == 1 && *p == '*') {
			star = ok;
		}
		p += item;
	}
	return named ? gzip : star;
}

/* One deflate state per thread, reset for each answer: setting one up
 * allocates and clears about 260 KiB, which costs far more than
 * compressing a page (make bench measured 0.76 ms against 0.02 ms for a
 * 15 KB page). Freed when the thread ends. */
static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zfree(void *p)
{
	deflateEnd(p);
	free(p);
}

static void zkey_make(void)
{
	pthread_key_create(&zkey, zfree);
}

static z_stream *thread_stream(int level)
{
	pthread_once(&zonce, zkey_make);
	z_stream *z = pthread_getspecific(zkey);
	if (z && (deflateReset(z) != Z_OK || deflateParams(z, level, Z_DEFAULT_STRATEGY) != Z_OK)) {
		pthread_setspecific(zkey, NULL);
		zfree(z);
		z = NULL;
	}
	if (!z) {
		z = calloc(1, sizeof *z);
		if (!z)
			return NULL;
		if (deflateInit2(z, level, Z_DEFLATED, 15 + 16 /* gzip wrapper */, 8,
		                 Z_DEFAULT_STRATEGY) != Z_OK) {
			free(z);
			return NULL;
		}
		pthread_setspecific(zkey, z);
	}
	return z;
}

int web_gzip(const char *in, size_t len, int level, char **out, size_t *out_len)
{
	z_stream *z = thread_stream(level);
	if (!z)
		return -1;
	uLong cap = deflateBound(z, (uLong)len);
	char *buf = malloc(cap);
	if (!buf)
		return -1;
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)buf;
	z->avail_out = (uInt)cap;
	if (deflate(z, Z_FINISH) != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = z->total_out;
	return 0;
}

const char *web_cors_origin(const char *list, const char *origin)
{
	if (!list || !*list || !origin || !*origin)
		return NULL;
	size_t olen = strlen(origin);
	for (const char *p = list; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		if (n == 1 && *p == '*')
			return "*";
		if (n && n == olen && memcmp(p, origin, n) == 0)
			return origin;
		p += n;
	}
	return NULL;
}

bool web_request_id_ok(const char *id)
{
	if (!id)
		return false;
	size_t n = 0;
	for (; id[n]; n++) {
		char c = id[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '.' || c == '_' || c == ':' || c == '-';
		if (!ok || n == WEB_REQUEST_ID_MAX)
			return false;
	}
	return n > 0;
}

/* n lower-case hex digits at s, not all zero when nonzero is set. */
static bool lower_hex(const char *s, size_t n, bool nonzero)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		any |= c != '0';
	}
	return any || !nonzero;
}

bool web_traceparent(const char *h, char out[33])
{
	/* vv-<trace 32>-<parent 16>-ff: 55 characters */
	if (!h || strlen(h) < 55 || !lower_hex(h, 2, false) || memcmp(h, "ff", 2) == 0 ||
	    h[2] != '-' || !lower_hex(h + 3, 32, true) || h[35] != '-' ||
	    !lower_hex(h + 36, 16, true) || h[52] != '-' || !lower_hex(h + 53, 2, false))
		return false;
	if (h[55] != '\0' && (memcmp(h, "00", 2) == 0 || h[55] != '-'))
		return false;  /* version 00 has nothing after the flags */
	memcpy(out, h + 3, 32);
	out[32] = '\0';
	return true;
}
