/*
 * tests/support/fake_imap.c — scripted fake IMAP server. See fake_imap.h.
 *
 * Everything the thread does is bounded in time: each wait is a poll() of at
 * most FAKE_IMAP_WAIT_MS, cut short by the deadline of the whole run, and
 * writes carry a send timeout. So a client that hangs, or a script that
 * waits for something that never comes, turns into a failed run instead of
 * a hung test.
 */
#include "tests/support/fake_imap.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "imap/base/buf.h"

#define LINE_MAX_BYTES (1u << 20)

struct fake_imap {
	int listen_fd;
	int fd;
	uint16_t port;
	pthread_t thread;
	bool thread_started;

	struct fake_step *script;
	size_t nsteps;
	size_t step;           /* the step being played; nsteps when all were */
	int64_t deadline;      /* of the whole run */

	struct imap_buf in;    /* bytes read from the client, not yet used */
	bool eof;              /* the client closed its side */
	char tag[64];          /* tag of the last FAKE_EXPECT line */
	bool have_tag;

	struct imap_buf transcript;
	bool transcript_started;
	char failure[512];     /* the first reason the run failed; "" while fine */
};

__attribute__((constructor)) static void fake_imap_ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3)))
static void fail(struct fake_imap *f, const char *fmt, ...)
{
	if (f->failure[0])
		return; /* the first reason is the one that matters */
	static const char *const names[] = {
		"SEND", "SEND_BYTES", "EXPECT", "EXPECT_PREFIX", "EXPECT_RAW",
		"READ_BYTES", "QUIET", "DELAY", "SHUTDOWN", "CLOSE",
	};
	int used;
	if (f->step < f->nsteps) {
		unsigned op = (unsigned)f->script[f->step].op;
		used = snprintf(f->failure, sizeof f->failure, "step %zu (%s): ", f->step + 1,
		                op < sizeof names / sizeof names[0] ? names[op] : "?");
	} else {
		used = snprintf(f->failure, sizeof f->failure, "after the script: ");
	}
	if (used < 0 || (size_t)used >= sizeof f->failure)
		used = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->failure + used, sizeof f->failure - (size_t)used, fmt, ap);
	va_end(ap);
}

static void record(struct fake_imap *f, const char *data, size_t len)
{
	if (f->transcript_started)
		imap_buf_putc(&f->transcript, '\n');
	f->transcript_started = true;
	imap_buf_append(&f->transcript, data, len);
}

/* Milliseconds to wait now: the smaller of `want` and what is left of the
 * run. */
static int wait_budget(const struct fake_imap *f, int64_t want)
{
	int64_t left = f->deadline - now_ms();
	if (left < 0)
		left = 0;
	return (int)(want < left ? want : left);
}

/* Wait up to ms for the fd to become readable. 1 ready, 0 timeout, -1 error. */
static int wait_readable(int fd, int ms)
{
	int64_t until = now_ms() + ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(until - now_ms());
		int n = poll(&pfd, 1, left > 0 ? left : 0);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Read what the client sends within ms into f->in. 1: got bytes; 0: EOF
 * (f->eof set); -1: timeout or error (nothing recorded as a failure). */
static int read_more(struct fake_imap *f, int ms)
{
	if (f->eof)
		return 0;
	int w = wait_readable(f->fd, ms);
	if (w <= 0)
		return -1;
	char buf[4096];
	ssize_t n;
	do
		n = recv(f->fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno == ECONNRESET)) {
		f->eof = true;
		return 0;
	}
	if (n < 0)
		return -1;
	if (imap_buf_append(&f->in, buf, (size_t)n) != 0)
		return -1;
	return 1;
}

/* Take one CRLF-terminated line off f->in (waiting for it) into a new
 * heap string without the CRLF. NULL on failure (recorded). */
static char *read_line(struct fake_imap *f, const char *what)
{
	for (;;) {
		char *lf = f->in.len ? memchr(f->in.data, '\n', f->in.len) : NULL;
		if (lf) {
			size_t len = (size_t)(lf - f->in.data);
			if (len == 0 || f->in.data[len - 1] != '\r') {
				fail(f, "line not ended by CRLF: \"%.*s\"", (int)len, f->in.data);
				return NULL;
			}
			char *line = malloc(len);
			if (!line) {
				fail(f, "out of memory");
				return NULL;
			}
			memcpy(line, f->in.data, len - 1);
			line[len - 1] = '\0';
			record(f, line, len - 1);
			imap_buf_consume(&f->in, len + 1);
			return line;
		}
		if (f->in.len > LINE_MAX_BYTES) {
			fail(f, "line longer than %u bytes", LINE_MAX_BYTES);
			return NULL;
		}
		int r = read_more(f, wait_budget(f, FAKE_IMAP_WAIT_MS));
		if (r == 0) {
			fail(f, "client closed the connection; expected %s", what);
			return NULL;
		}
		if (r < 0) {
			fail(f, "nothing (or an incomplete line) from the client; expected %s", what);
			return NULL;
		}
	}
}

static bool expect_tagged(struct fake_imap *f, const char *want, bool prefix)
{
	char *line = read_line(f, want);
	if (!line)
		return false;
	bool ok = false;
	size_t tag_len = strcspn(line, " ");
	const char *rest = line[tag_len] ? line + tag_len + 1 : line + tag_len;
	if (tag_len == 0 || tag_len >= sizeof f->tag) {
		fail(f, "no usable tag in \"%s\"", line);
	} else {
		memcpy(f->tag, line, tag_len);
		f->tag[tag_len] = '\0';
		f->have_tag = true;
		ok = prefix ? strncmp(rest, want, strlen(want)) == 0 : strcmp(rest, want) == 0;
		if (!ok)
			fail(f, "expected \"<tag> %s\"%s, got \"%s\"", want, prefix ? "..." : "", line);
	}
	free(line);
	return ok;
}

static bool expect_raw(struct fake_imap *f, const char *want)
{
	char *line = read_line(f, want[0] ? want : "an empty line");
	if (!line)
		return false;
	bool ok = strcmp(line, want) == 0;
	if (!ok)
		fail(f, "expected the line \"%s\", got \"%s\"", want, line);
	free(line);
	return ok;
}

static bool read_bytes(struct fake_imap *f, size_t n)
{
	while (f->in.len < n) {
		int r = read_more(f, wait_budget(f, FAKE_IMAP_WAIT_MS));
		if (r <= 0) {
			fail(f, "expected %zu bytes of data, got %zu before %s", n, f->in.len,
			     r == 0 ? "the client closed" : "the wait ended");
			return false;
		}
	}
	record(f, f->in.data ? f->in.data : "", n);
	imap_buf_consume(&f->in, n);
	return true;
}

static bool write_all(struct fake_imap *f, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(f->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fail(f, "write failed: %s", n < 0 ? strerror(errno) : "nothing written");
			return false;
		}
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* FAKE_SEND: expand $TAG, then one write. */
static bool send_text(struct fake_imap *f, const char *text)
{
	struct imap_buf out;
	imap_buf_init(&out, 0);
	bool ok = true;
	for (const char *p = text; ok && *p;) {
		const char *hit = strstr(p, "$TAG");
		size_t plain = hit ? (size_t)(hit - p) : strlen(p);
		imap_buf_append(&out, p, plain);
		p += plain;
		if (hit) {
			if (!f->have_tag) {
				fail(f, "$TAG used before the client sent a tagged line");
				ok = false;
			}
			imap_buf_puts(&out, f->tag);
			p += 4;
		}
	}
	if (ok)
		ok = write_all(f, out.data ? out.data : "", out.len);
	imap_buf_free(&out);
	return ok;
}

static bool quiet(struct fake_imap *f, size_t ms)
{
	if (f->in.len) {
		fail(f, "client sent \"%.*s\" where it should have waited", (int)f->in.len,
		     f->in.data);
		return false;
	}
	if (f->eof)
		return true;
	int64_t until = now_ms() + (int64_t)ms;
	while (!f->eof) {
		int64_t left = until - now_ms();
		if (left <= 0)
			return true;
		if (read_more(f, (int)left) > 0) {
			fail(f, "client sent \"%.*s\" where it should have waited", (int)f->in.len,
			     f->in.data);
			return false;
		}
	}
	return true;
}

static void sleep_ms(size_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Record the unexpected bytes in f->in as transcript lines: complete lines
 * only, unless `all` (the stream has ended). */
static void record_unexpected(struct fake_imap *f, bool all)
{
	size_t at = 0;
	while (at < f->in.len) {
		const char *start = f->in.data + at;
		const char *lf = memchr(start, '\n', f->in.len - at);
		if (!lf && !all)
			break;
		size_t len = lf ? (size_t)(lf - start) : f->in.len - at;
		size_t shown = len && start[len - 1] == '\r' ? len - 1 : len;
		fail(f, "client sent \"%.*s\"", (int)shown, start);
		record(f, start, shown);
		at += lf ? len + 1 : len;
	}
	imap_buf_consume(&f->in, at);
}

/* After the script: read until the client closes; anything it sends is
 * unexpected. */
static void drain(struct fake_imap *f)
{
	for (;;) {
		record_unexpected(f, false);
		if (f->eof)
			break;
		if (read_more(f, wait_budget(f, FAKE_IMAP_WAIT_MS)) < 0) {
			fail(f, "client did not close the connection");
			break;
		}
	}
	record_unexpected(f, true);
}

static void play(struct fake_imap *f)
{
	for (f->step = 0; f->step < f->nsteps; f->step++) {
		const struct fake_step *st = &f->script[f->step];
		const char *text = st->text ? st->text : "";
		bool ok = true;
		switch (st->op) {
		case FAKE_OP_SEND:
			ok = send_text(f, text);
			break;
		case FAKE_OP_SEND_BYTES:
			ok = write_all(f, text, st->n);
			break;
		case FAKE_OP_EXPECT:
			ok = expect_tagged(f, text, false);
			break;
		case FAKE_OP_EXPECT_PREFIX:
			ok = expect_tagged(f, text, true);
			break;
		case FAKE_OP_EXPECT_RAW:
			ok = expect_raw(f, text);
			break;
		case FAKE_OP_READ_BYTES:
			ok = read_bytes(f, st->n);
			break;
		case FAKE_OP_QUIET:
			ok = quiet(f, st->n);
			break;
		case FAKE_OP_DELAY:
			sleep_ms(st->n);
			break;
		case FAKE_OP_SHUTDOWN:
			shutdown(f->fd, SHUT_WR);
			break;
		case FAKE_OP_CLOSE:
			if (f->step + 1 != f->nsteps) {
				fail(f, "FAKE_CLOSE() must be the last step");
				return;
			}
			close(f->fd);
			f->fd = -1;
			f->step = f->nsteps;
			return;
		default:
			fail(f, "unknown step %d", (int)st->op);
			ok = false;
		}
		if (!ok)
			return;
	}
	drain(f);
}

static void *fake_thread(void *arg)
{
	struct fake_imap *f = arg;
	f->step = 0;
	int w = wait_readable(f->listen_fd, wait_budget(f, FAKE_IMAP_WAIT_MS));
	if (w <= 0) {
		fail(f, "no client connected");
		return NULL;
	}
	do
		f->fd = accept(f->listen_fd, NULL, NULL);
	while (f->fd < 0 && errno == EINTR);
	if (f->fd < 0) {
		fail(f, "accept failed: %s", strerror(errno));
		return NULL;
	}
	int one = 1;
	setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct timeval tv = {.tv_sec = FAKE_IMAP_WAIT_MS / 1000};
	setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	play(f);
	return NULL;
}

static void fake_free(struct fake_imap *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	imap_buf_free(&f->in);
	imap_buf_free(&f->transcript);
	free(f->script);
	free(f);
}

struct fake_imap *fake_imap_start(const struct fake_step *script, size_t n)
{
	struct fake_imap *f = calloc(1, sizeof *f);
	if (!f) {
		fprintf(stderr, "fake_imap: out of memory\n");
		return NULL;
	}
	f->listen_fd = f->fd = -1;
	imap_buf_init(&f->in, 0);
	imap_buf_init(&f->transcript, 0);
	f->nsteps = n;
	if (n) {
		f->script = calloc(n, sizeof *script);
		if (!f->script)
			goto fail;
		memcpy(f->script, script, n * sizeof *script);
	}

	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->listen_fd < 0)
		goto fail;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	if (bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(f->listen_fd, 1) != 0 ||
	    getsockname(f->listen_fd, (struct sockaddr *)&sa, &sl) != 0)
		goto fail;
	f->port = ntohs(sa.sin_port);
	f->deadline = now_ms() + FAKE_IMAP_SCRIPT_MS;
	if (pthread_create(&f->thread, NULL, fake_thread, f) != 0)
		goto fail;
	f->thread_started = true;
	return f;
fail:
	fprintf(stderr, "fake_imap: cannot start: %s\n", strerror(errno));
	fake_free(f);
	return NULL;
}

uint16_t fake_imap_port(const struct fake_imap *f)
{
	return f->port;
}

int fake_imap_finish(struct fake_imap **fp, char **transcript)
{
	if (transcript)
		*transcript = NULL;
	if (!fp || !*fp)
		return -1;
	struct fake_imap *f = *fp;
	*fp = NULL;
	/* The thread ends on its own within FAKE_IMAP_SCRIPT_MS plus the
	 * script's own delays: every wait it makes is bounded. */
	if (f->thread_started)
		pthread_join(f->thread, NULL);

	int rc = 0;
	if (f->failure[0] || f->step < f->nsteps) {
		fprintf(stderr, "fake_imap: %s\n",
		        f->failure[0] ? f->failure : "the script was not played to the end");
		rc = -1;
	}
	if (transcript) {
		*transcript = imap_buf_steal(&f->transcript);
		if (!*transcript)
			rc = -1;
	}
	fake_free(f);
	return rc;
}
