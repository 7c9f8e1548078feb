/*
 * imap/conn.c — TCP + TLS with deadlines. See conn.h.
 *
 * Every socket is non-blocking; a call that would block waits in poll()
 * for at most the time left before its deadline. OpenSSL runs on the same
 * non-blocking socket and reports WANT_READ / WANT_WRITE, which map onto the
 * same poll() wait, so TLS and plain connections share one timeout path.
 */
#include "imap/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct imap_tls {
	SSL_CTX *ctx;
};

struct imap_conn {
	int fd;
	SSL *ssl;  /* NULL until imap_conn_start_tls succeeds */
};

/* Wait until fd is ready for `events` or the deadline passes.
 * Returns 0 when ready, IMAP_ERR_TIMEOUT, or IMAP_ERR_IO. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - imap_now_ms();
		if (left <= 0)
			return IMAP_ERR_TIMEOUT;
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;  /* ready, or an error the next call will report */
		if (n < 0 && errno != EINTR)
			return IMAP_ERR_IO;
	}
}

/* The first queued OpenSSL error as text, and clear the queue. */
static const char *ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_get_error();
	if (!e) {
		snprintf(buf, cap, "%s", errno ? strerror(errno) : "unexpected end of stream");
	} else {
		ERR_error_string_n(e, buf, cap);
	}
	ERR_clear_error();
	return buf;
}

/* ---- TLS context ---- */

struct imap_tls *imap_tls_new(const char *ca_file, struct imap_error *err)
{
	struct imap_tls *t = calloc(1, sizeof *t);
	if (!t) {
		imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
		return NULL;
	}
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                         SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	int ok = ca_file ? SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
	                 : SSL_CTX_set_default_verify_paths(t->ctx);
	if (!ok) {
		char why[160];
		imap_error_set(err, IMAP_ERR_TLS, "cannot load CA %s: %s",
		               ca_file ? ca_file : "(system store)", ssl_reason(why, sizeof why));
		SSL_CTX_free(t->ctx);
		free(t);
		return NULL;
	}
	return t;
fail:;
	char why[160];
	imap_error_set(err, IMAP_ERR_TLS, "TLS set-up failed: %s", ssl_reason(why, sizeof why));
	SSL_CTX_free(t->ctx);
	free(t);
	return NULL;
}

void imap_tls_free(struct imap_tls **tls)
{
	if (!tls || !*tls)
		return;
	SSL_CTX_free((*tls)->ctx);
	free(*tls);
	*tls = NULL;
}

/* ---- connect ---- */

int imap_conn_open(struct imap_conn **out, const char *host, uint16_t port,
                   int64_t deadline, struct imap_error *err)
{
	char service[8];
	snprintf(service, sizeof service, "%u", (unsigned)port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0)
		return imap_error_set(err, IMAP_ERR_RESOLVE, "cannot resolve %s: %s", host,
		                      gai_strerror(gai));

	int rc = IMAP_ERR_CONNECT;
	int saved = 0;
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = 0;
			break;
		}
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc == 0) {
				int soerr = 0;
				socklen_t sl = sizeof soerr;
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				if (soerr == 0)
					break;
				saved = soerr;
				rc = IMAP_ERR_CONNECT;
			}
		} else {
			saved = errno;
		}
		close(fd);
		fd = -1;
		if (rc == IMAP_ERR_TIMEOUT)
			break;
	}
	freeaddrinfo(res);
	if (rc == IMAP_ERR_TIMEOUT)
		return imap_error_set(err, rc, "timed out connecting to %s:%u", host, (unsigned)port);
	if (fd < 0)
		return imap_error_set(err, IMAP_ERR_CONNECT, "cannot connect to %s:%u: %s", host,
		                      (unsigned)port, strerror(saved ? saved : ECONNREFUSED));

	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct imap_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	}
	c->fd = fd;
	*out = c;
	return 0;
}

/* ---- TLS handshake ---- */

static int is_ip_literal(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

int imap_conn_start_tls(struct imap_conn *c, struct imap_tls *tls, const char *name,
                        int64_t deadline, struct imap_error *err)
{
	char why[160];
	if (c->ssl)
		return imap_error_set(err, IMAP_ERR_PROTOCOL, "TLS is already active");
	ERR_clear_error();
	SSL *ssl = SSL_new(tls->ctx);
	if (!ssl)
		return imap_error_set(err, IMAP_ERR_NOMEM, "out of memory");
	int ok = SSL_set_fd(ssl, c->fd);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ok && is_ip_literal(name)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	} else if (ok) {
		char sni[256];  /* the SNI macro takes a non-const pointer */
		ok = snprintf(sni, sizeof sni, "%s", name) < (int)sizeof sni &&
		     SSL_set_tlsext_host_name(ssl, sni) && SSL_set1_host(ssl, name);
	}
	if (!ok) {
		SSL_free(ssl);
		return imap_error_set(err, IMAP_ERR_TLS, "TLS set-up failed: %s",
		                      ssl_reason(why, sizeof why));
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		int w = IMAP_ERR_TLS;
		if (e == SSL_ERROR_WANT_READ)
			w = wait_fd(c->fd, POLLIN, deadline);
		else if (e == SSL_ERROR_WANT_WRITE)
			w = wait_fd(c->fd, POLLOUT, deadline);
		if (w == 0)
			continue;
		long vr = SSL_get_verify_result(ssl);
		int rc;
		if (w == IMAP_ERR_TIMEOUT)
			rc = imap_error_set(err, w, "timed out in the TLS handshake with %s", name);
		else if (vr != X509_V_OK)
			rc = imap_error_set(err, IMAP_ERR_TLS_VERIFY,
			                    "certificate of %s not trusted: %s", name,
			                    X509_verify_cert_error_string(vr));
		else
			rc = imap_error_set(err, IMAP_ERR_TLS, "TLS handshake with %s failed: %s",
			                    name, ssl_reason(why, sizeof why));
		ERR_clear_error();
		SSL_free(ssl);
		return rc;
	}
	c->ssl = ssl;
	return 0;
}

/* ---- I/O ---- */

long imap_conn_read(struct imap_conn *c, char *buf, size_t cap, int64_t deadline,
                    struct imap_error *err)
{
	char why[160];
	for (;;) {
		int w;
		if (c->ssl) {
			size_t got = 0;
			ERR_clear_error();
			errno = 0;
			if (SSL_read_ex(c->ssl, buf, cap, &got) == 1)
				return (long)got;
			int e = SSL_get_error(c->ssl, 0);
			if (e == SSL_ERROR_WANT_READ)
				w = wait_fd(c->fd, POLLIN, deadline);
			else if (e == SSL_ERROR_WANT_WRITE)
				w = wait_fd(c->fd, POLLOUT, deadline);
			else if (e == SSL_ERROR_ZERO_RETURN)
				return imap_error_set(err, IMAP_ERR_IO, "server closed the connection");
			else if (e == SSL_ERROR_SYSCALL)
				return imap_error_set(err, IMAP_ERR_IO, "read failed: %s",
				                      ssl_reason(why, sizeof why));
			else
				return imap_error_set(err, IMAP_ERR_TLS, "TLS read failed: %s",
				                      ssl_reason(why, sizeof why));
		} else {
			ssize_t n = recv(c->fd, buf, cap, 0);
			if (n > 0)
				return (long)n;
			if (n == 0)
				return imap_error_set(err, IMAP_ERR_IO, "server closed the connection");
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return imap_error_set(err, IMAP_ERR_IO, "read failed: %s", strerror(errno));
			w = wait_fd(c->fd, POLLIN, deadline);
		}
		if (w == IMAP_ERR_TIMEOUT)
			return imap_error_set(err, w, "timed out waiting for the server");
		if (w)
			return imap_error_set(err, w, "poll failed: %s", strerror(errno));
	}
}

int imap_conn_fd(const struct imap_conn *c)
{
	return c->fd;
}

long imap_conn_read_ready(struct imap_conn *c, char *buf, size_t cap, struct imap_error *err)
{
	if (!c->ssl || SSL_pending(c->ssl) == 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int n;
		while ((n = poll(&pfd, 1, 0)) < 0 && errno == EINTR)
			;
		if (n == 0)
			return 0;
	}
	/* Something is there (or an error the read reports): a deadline that
	 * has passed already makes the read take only what needs no wait. */
	struct imap_error why;
	long n = imap_conn_read(c, buf, cap, imap_now_ms() - 1, &why);
	if (n == IMAP_ERR_TIMEOUT)
		return 0;
	if (n < 0 && err)
		*err = why;
	return n;
}

int imap_conn_write(struct imap_conn *c, const char *buf, size_t len, int64_t deadline,
                    size_t *written, struct imap_error *err)
{
	char why[160];
	if (written)
		*written = 0;
	while (len > 0) {
		int w;
		if (c->ssl) {
			size_t put = 0;
			ERR_clear_error();
			errno = 0;
			if (SSL_write_ex(c->ssl, buf, len, &put) == 1) {
				buf += put;
				len -= put;
				if (written)
					*written += put;
				continue;
			}
			int e = SSL_get_error(c->ssl, 0);
			if (e == SSL_ERROR_WANT_READ)
				w = wait_fd(c->fd, POLLIN, deadline);
			else if (e == SSL_ERROR_WANT_WRITE)
				w = wait_fd(c->fd, POLLOUT, deadline);
			else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
				return imap_error_set(err, IMAP_ERR_IO, "write failed: %s",
				                      ssl_reason(why, sizeof why));
			else
				return imap_error_set(err, IMAP_ERR_TLS, "TLS write failed: %s",
				                      ssl_reason(why, sizeof why));
		} else {
			ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
			if (n > 0) {
				buf += n;
				len -= (size_t)n;
				if (written)
					*written += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
				return imap_error_set(err, IMAP_ERR_IO, "write failed: %s", strerror(errno));
			w = wait_fd(c->fd, POLLOUT, deadline);
		}
		if (w == IMAP_ERR_TIMEOUT)
			return imap_error_set(err, w, "timed out sending to the server");
		if (w)
			return imap_error_set(err, w, "poll failed: %s", strerror(errno));
	}
	return 0;
}

int imap_conn_is_tls(const struct imap_conn *c)
{
	return c->ssl != NULL;
}

void imap_conn_close(struct imap_conn **cp)
{
	if (!cp || !*cp)
		return;
	struct imap_conn *c = *cp;
	if (c->ssl) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);  /* non-blocking: one attempt at close_notify */
		ERR_clear_error();
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
	*cp = NULL;
}
