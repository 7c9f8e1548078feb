/*
 * What reaches the daemon malformed or oversized, sent as raw bytes on a
 * socket (libcurl would refuse to send most of it): every answer imapgw
 * gives itself is problem+json with the status the limit names, and what
 * libmicrohttpd 0.9.75 still answers itself (README: "What the HTTP
 * library decides") is held to what the README says. After each, the
 * daemon answers the next request.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap/base/buf.h"
#include "tests/support/gateway.h"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(http_limits, .init = setup, .timeout = 180);

/* Send `req` (len bytes) and read until the daemon closes the connection
 * (every request here asks for Connection: close, or is one the daemon
 * closes after). Generous waits: a busy machine is slow, never wrong. */
static void exchange(const struct gw *g, const char *req, size_t len, struct imap_buf *out)
{
	imap_buf_init(out, 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	size_t sent = 0;
	while (sent < len) {
		ssize_t n = send(fd, req + sent, len - sent, 0);
		if (n <= 0)
			break;  /* the daemon may answer and close before it read all */
		sent += (size_t)n;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 60000), 0, "no answer within 60 s");
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		imap_buf_append(out, buf, (size_t)n);
	}
	close(fd);
	imap_buf_putc(out, '\0');
	out->len--;
}

/* The daemon still answers a plain request. */
static void still_serving(const struct gw *g)
{
	static const char ok[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct imap_buf out;
	exchange(g, ok, sizeof ok - 1, &out);
	cr_expect(strncmp(out.data ? out.data : "", "HTTP/1.1 200 ", 13) == 0, "%s", out.data);
	imap_buf_free(&out);
}

/* Build "GET <target> HTTP/1.1" with Host, Connection: close and `extra`
 * header lines (each ending in CRLF). */
static void request(struct imap_buf *b, const char *target, const char *extra)
{
	imap_buf_init(b, 0);
	imap_buf_printf(b, "GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n", target,
	                extra ? extra : "");
}

/* The answer is ours: `status`, problem+json, the status in the body. */
static void expect_problem(const struct imap_buf *out, int status, const char *what)
{
	char line[32];
	snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
	const char *d = out->data ? out->data : "";
	cr_expect(strncmp(d, line, strlen(line)) == 0, "%s: %.300s", what, d);
	cr_expect(strstr(d, "\r\nContent-Type: application/problem+json\r\n") != NULL, "%s: %.300s",
	          what, d);
	char member[32];
	snprintf(member, sizeof member, "\"status\":%d", status);
	cr_expect(strstr(d, member) != NULL, "%s: %.300s", what, d);
}

Test(http_limits, query_within_uri_max_and_argument_floods)
{
	struct gw g;
	gw_start(&g, NULL);
	struct imap_buf target, req, out;

	/* 12,000 bytes of query: --uri-max (8 KiB) counts the query too */
	imap_buf_init(&target, 0);
	imap_buf_puts(&target, "/healthz?a=");
	for (int i = 0; i < 12000; i++)
		imap_buf_putc(&target, 'x');
	request(&req, target.data, NULL);
	exchange(&g, req.data, req.len, &out);
	expect_problem(&out, 414, "long query");
	cr_expect(strstr(out.data, "--uri-max") != NULL, "%s", out.data);
	imap_buf_free(&out);
	imap_buf_free(&req);
	imap_buf_free(&target);

	/* a thousand arguments, and 8,000 empty ones: 400, not a closed
	 * connection */
	for (int flood = 0; flood < 2; flood++) {
		imap_buf_init(&target, 0);
		imap_buf_puts(&target, "/messages?");
		for (int i = 0; i < (flood ? 8000 : 1000); i++) {
			if (flood)
				imap_buf_putc(&target, '&');
			else
				imap_buf_printf(&target, "%sa%d=1", i ? "&" : "", i);
		}
		request(&req, target.data, NULL);
		exchange(&g, req.data, req.len, &out);
		expect_problem(&out, 400, flood ? "8000 empty arguments" : "1000 arguments");
		cr_expect(strstr(out.data, "query parameters") != NULL, "%s", out.data);
		imap_buf_free(&out);
		imap_buf_free(&req);
		imap_buf_free(&target);
	}
	still_serving(&g);
	gw_stop(&g);
}

Test(http_limits, header_fields_within_header_max)
{
	struct gw g;
	gw_start(&g, "--header-max", "4K", NULL);
	struct imap_buf hdr, req, out;
	imap_buf_init(&hdr, 0);
	imap_buf_puts(&hdr, "X-Padding: ");
	for (int i = 0; i < 6000; i++)
		imap_buf_putc(&hdr, 'p');
	imap_buf_puts(&hdr, "\r\n");
	request(&req, "/healthz", hdr.data);
	exchange(&g, req.data, req.len, &out);
	expect_problem(&out, 431, "6000 bytes of header over --header-max 4K");
	imap_buf_free(&out);
	imap_buf_free(&req);
	imap_buf_free(&hdr);

	/* 3 KiB passes */
	imap_buf_init(&hdr, 0);
	imap_buf_puts(&hdr, "X-Padding: ");
	for (int i = 0; i < 3000; i++)
		imap_buf_putc(&hdr, 'p');
	imap_buf_puts(&hdr, "\r\n");
	request(&req, "/healthz", hdr.data);
	exchange(&g, req.data, req.len, &out);
	cr_expect(strncmp(out.data, "HTTP/1.1 200 ", 13) == 0, "%.300s", out.data);
	imap_buf_free(&out);
	imap_buf_free(&req);
	imap_buf_free(&hdr);
	still_serving(&g);
	gw_stop(&g);
}

/* What libmicrohttpd 0.9.75 answers before imapgw sees the request: the
 * status is right and the connection closes; the body is the library's
 * HTML (README). A malformed or overflowing Content-Length gets its
 * status line twice from the library; a client reads the first. */
Test(http_limits, what_the_http_library_answers)
{
	struct gw g;
	gw_start(&g, NULL);
	static const struct {
		const char *req;
		const char *status_line;
	} cases[] = {
		{"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
		 "HTTP/1.1 400 "},
		{"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\nConnection: close\r\n\r\n",
		 "HTTP/1.1 400 "},
		{"POST /folders HTTP/1.1\r\nHost: t\r\nContent-Length: 12345678901234567890123\r\n"
		 "Connection: close\r\n\r\n",
		 "HTTP/1.1 413 "},
		{"GET /healthz HTTP/3.0\r\nHost: t\r\nConnection: close\r\n\r\n", "HTTP/1.1 505 "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_buf out;
		exchange(&g, cases[i].req, strlen(cases[i].req), &out);
		const char *d = out.data ? out.data : "";
		cr_expect(strncmp(d, cases[i].status_line, strlen(cases[i].status_line)) == 0,
		          "case %zu: %.300s", i, d);
		imap_buf_free(&out);
		still_serving(&g);
	}
	gw_stop(&g);
}
