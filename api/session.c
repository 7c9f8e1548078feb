/*
 * api/session.c — credentials from the request, and borrowing a pooled
 * IMAP session for the shortest possible time.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api/api.h"
#include "imap/base/codec.h"
#include "imap/mail/utf7.h"
#include "imap/watch.h"

#define CREDENTIAL_MAX 4096

static struct api_config config;
static atomic_bool stopping;

void api_stop(void)
{
	atomic_store(&stopping, true);
}

bool api_stopping(void)
{
	return atomic_load(&stopping);
}

void api_init(const struct api_config *cfg)
{
	config = *cfg;
}

const struct api_config *api_config(void)
{
	return &config;
}

void api_stop_events(void)
{
	for (size_t i = 0; i < config.nservers; i++)
		imap_watch_hub_stop(config.servers[i].watch);
}

static int unauthorized(struct api_response *resp, const char *detail)
{
	api_fail(resp, API_ERR_UNAUTHORIZED, "%s", detail);
	return -1;
}

static int bad_user(struct api_response *resp, const char *detail)
{
	api_bad(resp, "%s", detail);
	return -1;
}

/* A user name goes to the IMAP server (and into logs): C0 controls and DEL
 * have no place in one. */
static bool has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

int api_credentials(const struct api_request *req, struct imap_credentials *cred,
                    struct imap_buf *storage, struct api_response *resp)
{
	const char *h = req->authorization;
	memset(cred, 0, sizeof *cred);
	imap_buf_init(storage, CREDENTIAL_MAX * 2);
	if (!h)
		return unauthorized(resp, "send Authorization: Basic, or Bearer with X-Imap-User");
	if (strncasecmp(h, "Basic ", 6) == 0) {
		const char *b64 = h + 6;
		while (*b64 == ' ')
			b64++;
		size_t len = strlen(b64);
		while (len && b64[len - 1] == ' ')
			len--;
		/* Strict RFC 4648: a stray "=" or byte must not leave a shorter
		 * password to be tried against the server. */
		if (len == 0 || len > CREDENTIAL_MAX ||
		    imap_base64_decode(b64, len, IMAP_BASE64_STRICT, storage) != 0)
			return unauthorized(resp, "malformed Basic credentials");
		char *colon = memchr(storage->data, ':', storage->len);
		if (!colon || colon == storage->data || memchr(storage->data, '\0', storage->len) ||
		    imap_utf8_validate(storage->data, storage->len) != 0)
			return unauthorized(resp, "Basic credentials need user:password in UTF-8");
		if (has_control(storage->data, (size_t)(colon - storage->data)))
			return bad_user(resp, "the user name in Basic credentials has control characters");
		*colon = '\0';
		cred->kind = IMAP_CRED_PASSWORD;
		cred->user = storage->data;
		cred->secret = colon + 1;
		return 0;
	}
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		const char *tok = h + 7;
		while (*tok == ' ')
			tok++;
		const char *user = req->imap_user;
		if (!*tok || strlen(tok) > CREDENTIAL_MAX)
			return unauthorized(resp, "malformed Bearer token");
		if (!user || !*user || strlen(user) > 320 ||
		    imap_utf8_validate(user, strlen(user)) != 0)
			return bad_user(resp, "Bearer needs the X-Imap-User header");
		if (has_control(user, strlen(user)))
			return bad_user(resp, "X-Imap-User has control characters");
		imap_buf_puts(storage, user);
		imap_buf_putc(storage, '\0');
		size_t at = storage->len;
		imap_buf_puts(storage, tok);
		cred->kind = IMAP_CRED_TOKEN;
		cred->user = storage->data;
		cred->secret = storage->data + at;
		return 0;
	}
	return unauthorized(resp, "unsupported authorization scheme");
}

int api_server_index(const char *name)
{
	for (size_t i = 0; i < config.nservers; i++)
		if (strcasecmp(config.servers[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool api_server_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > API_SERVER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

const struct api_server *api_server_for(const struct api_request *req, const char *user,
                                        struct api_response *resp)
{
	if (req->imap_server) {
		/* Only names: a host, port or URL here is refused, never tried. */
		if (!api_server_name_ok(req->imap_server, strlen(req->imap_server))) {
			api_bad(resp, "X-Imap-Server takes the name of a configured IMAP server "
			              "(1 to %d of A-Z a-z 0-9 . _ -)", API_SERVER_NAME_MAX);
			return NULL;
		}
		int i = api_server_index(req->imap_server);
		if (i < 0) {
			api_fail(resp, API_ERR_UNKNOWN_SERVER, "no IMAP server named '%s' is configured",
			         req->imap_server);
			return NULL;
		}
		return &config.servers[i];
	}
	const char *at = user ? strrchr(user, '@') : NULL;
	if (at && at[1])
		for (size_t r = 0; r < config.nroutes; r++)
			if (strcasecmp(config.routes[r].domain, at + 1) == 0)
				return &config.servers[config.routes[r].server];
	return &config.servers[config.default_server];
}

/* Errors after which the session is known dead (it was, before we used it). */
static bool transport_failure(int rc)
{
	return rc == IMAP_ERR_IO || rc == IMAP_ERR_BYE || rc == IMAP_ERR_TLS;
}

/* The request's client address as an IP literal in buf, or NULL. */
static const char *client_addr(const struct api_request *req, char *buf, size_t cap)
{
	const struct sockaddr *sa = req->client_addr;
	const void *ip = NULL;
	if (sa && sa->sa_family == AF_INET)
		ip = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		ip = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return ip && inet_ntop(sa->sa_family, ip, buf, (socklen_t)cap) ? buf : NULL;
}

int api_with_session(const struct api_request *req, const struct api_server *srv,
                     const struct imap_credentials *cred, bool idempotent, api_session_fn *fn,
                     void *ctx, struct imap_error *err, unsigned *retry_after_s)
{
	char addr[INET6_ADDRSTRLEN];
	struct imap_credentials who = *cred;
	who.client_addr = client_addr(req, addr, sizeof addr);
	for (int attempt = 0;; attempt++) {
		struct imap_session *s = NULL;
		bool fresh = false;
		int rc = imap_pool_acquire(srv->pool, &who, req->deadline, &s, &fresh, retry_after_s,
		                           err);
		if (rc)
			return rc;
		uint64_t sent_before = imap_session_bytes_sent(s);
		rc = fn(s, ctx, err);
		bool dead = imap_session_state(s) == IMAP_SESSION_BROKEN;
		/* Nothing of the request's commands left this process: the
		 * server cannot have acted on any of them, so even a write may
		 * run again. */
		bool unsent = imap_session_bytes_sent(s) == sent_before;
		imap_pool_release(srv->pool, s);
		if (rc && dead && !fresh && (idempotent || unsent) && attempt == 0 &&
		    transport_failure(rc) && imap_now_ms() < req->deadline)
			continue;  /* a pooled session had died while idle: once more, fresh */
		return rc;
	}
}

bool api_request_target(const struct api_request *req, struct imap_credentials *cred,
                        struct imap_buf *store, const struct api_server **srv,
                        struct api_response *resp)
{
	if (api_credentials(req, cred, store, resp) ||
	    !(*srv = api_server_for(req, cred->user, resp))) {
		imap_buf_free(store);
		return false;
	}
	return true;
}

bool api_run(const struct api_request *req, const struct api_match *m, api_session_fn *fn,
             void *ctx, struct api_response *resp)
{
	struct imap_credentials cred;
	struct imap_buf store;
	const struct api_server *srv;
	if (!api_request_target(req, &cred, &store, &srv, resp))
		return false;
	struct imap_error err = {0};
	unsigned retry = 0;
	bool idempotent = m->route && (m->route->flags & API_ROUTE_IDEMPOTENT);
	int rc = api_with_session(req, srv, &cred, idempotent, fn, ctx, &err, &retry);
	imap_buf_free(&store);
	if (rc) {
		api_imap_problem(resp, rc, &err, retry);
		return false;
	}
	return true;
}

static unsigned char key_secret[32];
static bool key_ready;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void key_init(void)
{
	key_ready = RAND_bytes(key_secret, sizeof key_secret) == 1;
}

bool api_credentials_key(const struct api_request *req, unsigned char out[32], bool *vouched)
{
	if (vouched)
		*vouched = false;
	struct imap_credentials cred;
	struct imap_buf store;
	struct api_response scratch;
	memset(out, 0, 32);
	api_response_init(&scratch);
	pthread_once(&key_once, key_init);
	const struct api_server *srv = NULL;
	bool ok = key_ready && api_credentials(req, &cred, &store, &scratch) == 0 &&
	          (srv = api_server_for(req, cred.user, &scratch)) != NULL;
	if (ok) {
		/* server, kind, user and secret, each length-prefixed: no two
		 * quadruples give the same input */
		struct imap_buf in;
		imap_buf_init(&in, 0);
		size_t ul = strlen(cred.user), sl = strlen(cred.secret);
		imap_buf_printf(&in, "%zu:%s:%d:%zu:", strlen(srv->name), srv->name, (int)cred.kind, ul);
		imap_buf_append(&in, cred.user, ul);
		imap_buf_printf(&in, ":%zu:", sl);
		imap_buf_append(&in, cred.secret, sl);
		unsigned len = 32;
		ok = in.data && HMAC(EVP_sha256(), key_secret, sizeof key_secret,
		                     (const unsigned char *)in.data, in.len, out, &len) != NULL;
		if (in.data)
			OPENSSL_cleanse(in.data, in.len);
		imap_buf_free(&in);
		if (ok && vouched)
			*vouched = imap_pool_vouches(srv->pool, &cred);
	}
	if (store.data)
		OPENSSL_cleanse(store.data, store.len);
	imap_buf_free(&store);
	api_response_free(&scratch);
	return ok;
}
