/*
 * tests/support/fake_session.c — the fake-server harness. See fake_session.h.
 */
#include "tests/support/fake_session.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the front: many connections, one fake each ---- */

#define FRONT_ACCEPT_MS 4000 /* longest wait for each scripted connection */
#define FRONT_IDLE_MS 6000   /* longest silence on a relayed connection */

struct relay {
	const struct fake_script *script;
	int cfd;
	pthread_t thread;
	int rc;             /* fake_imap_finish's verdict */
	char *transcript;
};

struct fake_front {
	int lfd;
	uint16_t port;
	const struct fake_script *scripts;
	size_t nscripts;
	pthread_t thread;
	size_t accepted;
	struct relay relays[FAKE_SESSION_MAX_CONNECTIONS];
};

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Copy bytes both ways until one side closes or all is quiet too long. */
static void pump(int a, int b)
{
	struct pollfd pfd[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
	char buf[4096];
	for (;;) {
		if (poll(pfd, 2, FRONT_IDLE_MS) <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			if (!pfd[i].revents)
				continue;
			ssize_t got = read(pfd[i].fd, buf, sizeof buf);
			if (got <= 0 || !write_all(pfd[1 - i].fd, buf, (size_t)got))
				return;
		}
	}
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	r->rc = -1;
	struct fake_imap *fake = fake_imap_start(r->script->steps, r->script->n);
	if (!fake) {
		close(r->cfd);
		return NULL;
	}
	int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fake_imap_port(fake)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (sfd >= 0 && connect(sfd, (struct sockaddr *)&sa, sizeof sa) == 0)
		pump(r->cfd, sfd);
	close(r->cfd);
	if (sfd >= 0)
		close(sfd);
	r->rc = fake_imap_finish(&fake, &r->transcript);
	return NULL;
}

static void *front_thread(void *arg)
{
	struct fake_front *f = arg;
	for (size_t i = 0; i < f->nscripts; i++) {
		struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
		if (poll(&pfd, 1, FRONT_ACCEPT_MS) <= 0)
			break;
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			break;
		struct relay *r = &f->relays[i];
		r->script = &f->scripts[i];
		r->cfd = c;
		if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) {
			close(c);
			break;
		}
		__atomic_add_fetch(&f->accepted, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

size_t fake_session_connections(const struct fake_session *h)
{
	return h->front ? __atomic_load_n(&h->front->accepted, __ATOMIC_SEQ_CST) : 0;
}

static struct fake_front *front_start(const struct fake_script *scripts, size_t n)
{
	cr_assert_leq(n, FAKE_SESSION_MAX_CONNECTIONS);
	struct fake_front *f = calloc(1, sizeof *f);
	cr_assert_not_null(f);
	f->scripts = scripts;
	f->nscripts = n;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(f->lfd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	cr_assert_eq(listen(f->lfd, 16), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&f->thread, NULL, front_thread, f), 0);
	return f;
}

/* ---- starting ---- */

static void point_at(struct fake_session *h, uint16_t port, enum imap_tls_mode mode)
{
	imap_client_config_default(&h->cfg);
	h->cfg.host = "127.0.0.1";
	h->cfg.port = port;
	h->cfg.tls_mode = mode;
	if (mode != IMAP_TLS_NONE) {
		h->tls = imap_tls_new(NULL, &h->err);
		cr_assert_not_null(h->tls, "imap_tls_new: %s", h->err.msg);
		h->cfg.tls = h->tls;
	}
}

void fake_session_start(struct fake_session *h, const struct fake_step *script, size_t n,
                        enum imap_tls_mode mode)
{
	memset(h, 0, sizeof *h);
	imap_buf_init(&h->trace, 0);
	h->fake = fake_imap_start(script, n);
	cr_assert_not_null(h->fake, "fake server did not start");
	point_at(h, fake_imap_port(h->fake), mode);
}

void fake_session_open(struct fake_session *h, const struct fake_step *script, size_t n)
{
	fake_session_start(h, script, n, IMAP_TLS_NONE);
	fake_session_connect(h);
}

void fake_session_start_many(struct fake_session *h, const struct fake_script *scripts,
                             size_t n)
{
	memset(h, 0, sizeof *h);
	imap_buf_init(&h->trace, 0);
	h->front = front_start(scripts, n);
	point_at(h, h->front->port, IMAP_TLS_NONE);
}

/* ---- the client side ---- */

static void collect_trace(void *ctx, char dir, const char *text, size_t len)
{
	struct imap_buf *b = ctx;
	imap_buf_printf(b, "%c: %.*s\n", dir, (int)len, text);
}

void fake_session_trace(struct fake_session *h)
{
	h->cfg.trace = collect_trace;
	h->cfg.trace_ctx = &h->trace;
}

const char *fake_session_trace_text(const struct fake_session *h)
{
	return h->trace.data ? h->trace.data : "";
}

int fake_session_connect_by(struct fake_session *h, int64_t deadline)
{
	memset(&h->err, 0, sizeof h->err);
	return imap_session_connect(&h->s, &h->cfg, deadline, &h->err);
}

void fake_session_connect(struct fake_session *h)
{
	int rc = fake_session_connect_by(h, FAKE_DEADLINE());
	cr_assert_eq(rc, 0, "connect: rc %d (%s)", rc, h->err.msg);
	cr_assert_not_null(h->s);
}

void fake_session_connect_fails(struct fake_session *h, int want)
{
	h->s = NULL;
	int rc = fake_session_connect_by(h, FAKE_DEADLINE());
	cr_assert_eq(rc, want, "connect: rc %d (%s), want %d", rc, h->err.msg, want);
	cr_assert_eq(h->err.code, want, "err.code %d", h->err.code);
	cr_assert_null(h->s);
}

struct imap_pool_config fake_session_pool_config(const struct fake_session *h)
{
	struct imap_pool_config pc = {.client = h->cfg, .connect_timeout_ms = 3000};
	return pc;
}

/* ---- the verdict ---- */

static void release(struct fake_session *h)
{
	imap_session_free(&h->s);
	imap_tls_free(&h->tls);
	imap_buf_free(&h->trace);
}

void fake_session_finish(struct fake_session *h, const char *want)
{
	cr_assert_not_null(h->fake, "fake_session_finish without fake_session_start");
	release(h);
	char *got = NULL;
	int rc = fake_imap_finish(&h->fake, &got);
	cr_assert_not_null(got);
	if (want)
		cr_expect_str_eq(got, want, "transcript:\n%s\n--- want:\n%s", got, want);
	cr_expect_eq(rc, 0, "the fake's script failed (reason on stderr); transcript:\n%s", got);
	free(got);
}

void fake_session_finish_many(struct fake_session *h, size_t connections,
                              const char *const *want)
{
	cr_assert_not_null(h->front, "fake_session_finish_many without fake_session_start_many");
	release(h);
	struct fake_front *f = h->front;
	h->front = NULL;
	pthread_join(f->thread, NULL);
	int failed = 0;
	for (size_t i = 0; i < f->accepted; i++) {
		pthread_join(f->relays[i].thread, NULL);
		if (f->relays[i].rc != 0)
			failed++;
	}
	size_t extra = 0;
	struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
	while (poll(&pfd, 1, 0) > 0) {
		int c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			break;
		close(c);
		extra++;
	}
	close(f->lfd);
	cr_expect_eq(f->accepted, connections, "connections: %zu, want %zu", f->accepted,
	             connections);
	cr_expect_eq(extra, 0, "%zu connections that should not have been made", extra);
	cr_expect_eq(failed, 0, "a fake's script failed (reason on stderr)");
	for (size_t i = 0; want && i < connections; i++) {
		const char *got = i < f->accepted && f->relays[i].transcript ?
		                  f->relays[i].transcript : "(none)";
		if (want[i])
			cr_expect_str_eq(got, want[i], "connection %zu:\n%s\n--- want:\n%s", i, got,
			                 want[i]);
	}
	for (size_t i = 0; i < f->accepted; i++)
		free(f->relays[i].transcript);
	free(f);
}
