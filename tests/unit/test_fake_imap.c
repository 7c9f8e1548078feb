/*
 * tests/unit/test_fake_imap.c — the scripted fake IMAP server itself
 * (tests/support/fake_imap.h): it must catch what it is there to catch.
 * A bare TCP client plays the part of the IMAP client.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/conn.h"
#include "tests/support/fake_imap.h"

TestSuite(fake_imap, .timeout = 20);

/* A bare TCP client for the fake: connect, send `out`, read until the fake
 * closes or `read_ms` pass, into `in` (cap bytes), then close. */
static void raw_client(const struct fake_imap *f, const char *out, char *in, size_t cap,
                       int read_ms)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(fake_imap_port(f)),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	if (out && *out)
		cr_assert_eq(send(fd, out, strlen(out), MSG_NOSIGNAL), (ssize_t)strlen(out));
	size_t got = 0;
	int64_t until = imap_now_ms() + read_ms;
	while (got + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int left = (int)(until - imap_now_ms());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		ssize_t n = recv(fd, in + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	in[got] = '\0';
	close(fd);
}

static int raw_finish(struct fake_imap **f, const char *want_transcript)
{
	char *got = NULL;
	int rc = fake_imap_finish(f, &got);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want_transcript);
	free(got);
	return rc;
}

Test(fake_imap, tag_prefix_and_bytes)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT_PREFIX("APPEND INBOX"),
		FAKE_READ_BYTES(3),
		FAKE_EXPECT_RAW(""),
		FAKE_SEND("$TAG OK done\r\n"),
		FAKE_SHUTDOWN(),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "X9 APPEND INBOX {3+}\r\nabc\r\n", in, sizeof in, 2000);
	cr_expect_str_eq(in, "* OK hi\r\nX9 OK done\r\n");
	cr_expect_eq(raw_finish(&f, "X9 APPEND INBOX {3+}\nabc\n"), 0);
}

Test(fake_imap, catches_mismatch, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT("LOGIN alice secret"),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 LOGIN alice guess\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 LOGIN alice guess"), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 2 (EXPECT): expected \"<tag> LOGIN alice secret\", got \"A1 LOGIN alice guess\"\n");
}

Test(fake_imap, catches_extra_data, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 CAPABILITY\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 CAPABILITY"), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: after the script: client sent \"A1 CAPABILITY\"\n");
}

Test(fake_imap, catches_unplayed_steps, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_SEND("* OK hi\r\n"),
		FAKE_EXPECT("NOOP"),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, NULL, in, sizeof in, 50);
	cr_expect_neq(raw_finish(&f, ""), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 2 (EXPECT): client closed the connection; expected NOOP\n");
}

Test(fake_imap, quiet_catches_early_bytes, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_EXPECT("LOGIN alice {3}"),
		FAKE_QUIET(300),
		FAKE_SEND("+ go\r\n"),
		FAKE_READ_BYTES(3),
		FAKE_EXPECT_RAW(""),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 LOGIN alice {3}\r\nabc\r\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, "A1 LOGIN alice {3}"), 0);
}

Test(fake_imap, requires_crlf, .init = cr_redirect_stderr)
{
	static const struct fake_step script[] = {
		FAKE_EXPECT("NOOP"),
	};
	struct fake_imap *f = fake_imap_start(script, FAKE_NSTEPS(script));
	cr_assert_not_null(f);
	char in[256];
	raw_client(f, "A1 NOOP\n", in, sizeof in, 100);
	cr_expect_neq(raw_finish(&f, ""), 0);
	fflush(stderr);
	cr_expect_stderr_eq_str("fake_imap: step 1 (EXPECT): line not ended by CRLF: \"A1 NOOP\"\n");
}
