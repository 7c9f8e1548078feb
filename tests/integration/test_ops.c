/*
 * Operating the daemon and using it from the web: what a 304 carries,
 * /metrics as Prometheus reads it, log lines that stay JSON whatever a
 * request held, the client's request id and trace id, problem details in
 * the gateway's words, OPTIONS and CORS, gzip, the drain promise on
 * SIGTERM, and the HTML reference rendered by a real browser (Debian's
 * chromium, headless). Against the private Dovecot: alice read-only,
 * frank for a folder of its own.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "api/openapi.h"
#include "imap/base/buf.h"
#include "tests/support/gateway.h"

#define ALICE "alice", "alice-secret"
#define FRANK "frank", "frank-secret"

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(ops, .init = setup, .timeout = 240);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(const struct gw *g, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	if (rcvbuf)  /* before connect: the window a slow reader offers */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g->port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(fd, s, len, 0);
		cr_assert_gt(n, 0, "send failed");
		s += n;
		len -= (size_t)n;
	}
}

/* Read into out until it holds `until` (a string), or the peer closes.
 * Generous waits: a loaded machine is slow, never wrong. */
static void read_until(int fd, struct imap_buf *out, const char *until)
{
	for (;;) {
		if (until && out->data && memmem(out->data, out->len, until, strlen(until)))
			return;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_gt(poll(&p, 1, 60000), 0, "no answer within 60 s");
		char buf[16384];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			return;
		imap_buf_append(out, buf, (size_t)n);
	}
}

/* One HTTP/1.1 answer on a kept-alive connection, framed by its
 * Content-Length (or none: a 304), split into head and body. */
struct raw_reply {
	int status;
	char head[8192];
	struct imap_buf body;
};

static void raw_read_one(int fd, struct imap_buf *in, struct raw_reply *r)
{
	read_until(fd, in, "\r\n\r\n");
	cr_assert_not_null(in->data);
	char *end = memmem(in->data, in->len, "\r\n\r\n", 4);
	cr_assert_not_null(end, "no complete head: %.*s", (int)in->len, in->data);
	size_t hl = (size_t)(end - in->data) + 4;
	cr_assert_lt(hl, sizeof r->head);
	memcpy(r->head, in->data, hl);
	r->head[hl] = '\0';
	r->status = atoi(r->head + 9);
	size_t blen = 0;
	const char *cl = strcasestr(r->head, "\r\nContent-Length: ");
	if (cl)
		blen = strtoul(cl + 18, NULL, 10);
	while (in->len < hl + blen) {
		struct imap_buf more;
		imap_buf_init(&more, 0);
		read_until(fd, &more, NULL);
		cr_assert_gt(more.len, 0, "the body was cut short");
		imap_buf_append(in, more.data, more.len);
		imap_buf_free(&more);
	}
	imap_buf_init(&r->body, 0);
	imap_buf_append(&r->body, in->data + hl, blen);
	imap_buf_putc(&r->body, '\0');
	r->body.len--;
	memmove(in->data, in->data + hl + blen, in->len - hl - blen);
	in->len -= hl + blen;
}

/* The value of header `name` in a raw head, or "" */
static void raw_header(const struct raw_reply *r, const char *name, char *out, size_t cap)
{
	char key[128];
	snprintf(key, sizeof key, "\r\n%s: ", name);
	out[0] = '\0';
	const char *p = strcasestr(r->head, key);
	if (p) {
		p += strlen(key);
		snprintf(out, cap, "%.*s", (int)strcspn(p, "\r"), p);
	}
}

/* GET path on a new connection with alice's credentials and extra header
 * lines (each ending in CRLF). */
static void raw_get(const struct gw *g, const char *path, const char *extra, struct raw_reply *r)
{
	int fd = connect_to(g, 0);
	char req[2048];
	/* alice:alice-secret */
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0\r\n"
	                 "%sConnection: close\r\n\r\n",
	                 path, extra ? extra : "");
	send_all(fd, req, (size_t)n);
	struct imap_buf in;
	imap_buf_init(&in, 0);
	raw_read_one(fd, &in, r);
	imap_buf_free(&in);
	close(fd);
}

/* ---- a 304 ---- */

/* A 304 carries no Content-Length: 0 (RFC 9110 §8.6: it would have to be
 * the 200's length) and nothing after its head: libmicrohttpd 0.9.75
 * frames it by closing the connection (server/http.c says why), which the
 * client sees as a clean end, no stray byte. */
Test(ops, not_modified_has_no_content_length_and_nothing_after_it)
{
	struct gw g;
	gw_start(&g, NULL);
	struct raw_reply first;
	raw_get(&g, "/messages?per_page=3", NULL, &first);  /* the folder's first listing */
	imap_buf_free(&first.body);
	raw_get(&g, "/messages?per_page=3", NULL, &first);
	cr_assert_eq(first.status, 200, "%s", first.head);
	char etag[256];
	raw_header(&first, "ETag", etag, sizeof etag);
	cr_assert(etag[0], "a page has an ETag: %s", first.head);

	int fd = connect_to(&g, 0);
	char req[1024];
	int n = snprintf(req, sizeof req,
	                 "GET /messages?per_page=3 HTTP/1.1\r\nHost: t\r\n"
	                 "Authorization: Basic YWxpY2U6YWxpY2Utc2VjcmV0\r\nIf-None-Match: %s\r\n\r\n"
	                 "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
	                 etag);
	send_all(fd, req, (size_t)n);
	struct imap_buf in;
	imap_buf_init(&in, 0);
	read_until(fd, &in, NULL);  /* all of it, to the close */
	imap_buf_putc(&in, '\0');
	const char *all = in.data;
	cr_assert(strncmp(all, "HTTP/1.1 304 ", 13) == 0, "%s", all);
	const char *end = strstr(all, "\r\n\r\n");
	cr_assert_not_null(end, "%s", all);
	char head[4096];
	snprintf(head, sizeof head, "%.*s", (int)(end - all), all);
	cr_expect_null(strcasestr(head, "Content-Length"), "a 304 with a length: %s", head);
	cr_expect_null(strcasestr(head, "Transfer-Encoding"), "a 304 with framing: %s", head);
	cr_expect_not_null(strcasestr(head, "\r\nConnection: close"), "%s", head);
	cr_expect_not_null(strstr(head, etag), "the 304 names the tag: %s", head);
	cr_expect_str_eq(end + 4, "", "bytes after the 304's head");
	imap_buf_free(&in);
	imap_buf_free(&first.body);
	close(fd);

	/* a 204 has no framing either, and the connection goes on */
	fd = connect_to(&g, 0);
	static const char two[] = "OPTIONS /folders HTTP/1.1\r\nHost: t\r\n\r\n"
	                          "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	send_all(fd, two, sizeof two - 1);
	imap_buf_init(&in, 0);
	struct raw_reply nc, next;
	raw_read_one(fd, &in, &nc);
	cr_expect_eq(nc.status, 204, "%s", nc.head);
	cr_expect_null(strcasestr(nc.head, "Content-Length"), "%s", nc.head);
	cr_expect_null(strcasestr(nc.head, "Transfer-Encoding"), "%s", nc.head);
	raw_read_one(fd, &in, &next);
	cr_expect_eq(next.status, 200, "the answer after the 204: %s", next.head);
	cr_expect_str_eq(next.body.data, "{\"status\":\"ok\"}");
	imap_buf_free(&in);
	imap_buf_free(&nc.body);
	imap_buf_free(&next.body);
	close(fd);
	gw_stop(&g);
}

/* ---- /metrics ---- */

/* Every sample line of the text format: a metric name, optional labels
 * with quoted values, a number. Comments are HELP or TYPE. */
static bool sample_line_ok(const char *l)
{
	const char *p = l;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':'))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '_' || *p == ':')
		p++;
	if (*p == '{') {
		p = strchr(p, '}');
		if (!p)
			return false;
		p++;
	}
	if (*p++ != ' ')
		return false;
	char *end;
	strtod(p, &end);
	return end != p && *end == '\0';
}

Test(ops, metrics_are_prometheus_text_with_build_and_process)
{
	struct gw g;
	gw_start(&g, NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/folders", ALICE, NULL, &r);  /* something to count */
	gw_reply_free(&r);
	gw_request(&g, "GET", "/metrics", NULL, NULL, NULL, &r);
	cr_assert_eq(r.status, 200);
	char ct[128];
	cr_assert_eq(gw_header(&r, "Content-Type", ct, sizeof ct), 0);
	cr_expect_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
	static const char *const want[] = {
		"\nimapgw_build_info{version=\"", "\nprocess_cpu_seconds_total ",
		"\nprocess_resident_memory_bytes ", "\nprocess_open_fds ",
		"\nprocess_start_time_seconds ", "\n# TYPE process_cpu_seconds_total counter\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect_not_null(strstr(r.body.data, want[i]), "no %s", want[i] + 1);
	/* the process started this very run, a few minutes ago at most */
	const char *st = strstr(r.body.data, "\nprocess_start_time_seconds ");
	if (st) {
		double t = strtod(st + 28, NULL);
		cr_expect(t > (double)time(NULL) - 600 && t <= (double)time(NULL) + 1, "start %f", t);
	}
	char *copy = strdup(r.body.data), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		cr_expect(strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0 ||
		          sample_line_ok(l), "not a sample line: %s", l);
	free(copy);

	/* and as Prometheus itself reads it */
	if (access("/usr/bin/promtool", X_OK) == 0) {
		char path[512], cmd[1200];
		snprintf(path, sizeof path, "%s/metrics-%d.txt", getenv("IMAPGW_TEST_DIR"), (int)getpid());
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fwrite(r.body.data, 1, r.body.len, f);
		fclose(f);
		snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics <'%s' >'%s.out' 2>&1", path,
		         path);
		int rc = system(cmd);
		snprintf(cmd, sizeof cmd, "cat '%s.out' >&2", path);
		if (rc != 0)
			cr_expect(system(cmd) == 0);
		cr_expect_eq(rc, 0, "promtool check metrics failed (its report above)");
	} else {
		cr_log_warn("promtool is not installed (Debian package prometheus): format checked here only");
	}
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- logs, request ids, trace ids ---- */

/* The daemon's log line of the request with id `id`, parsed (NULL: none). */
static json_t *log_line_of(const struct gw *g, const char *id)
{
	FILE *f = fopen(g->log, "r");
	cr_assert_not_null(f);
	char line[65536];
	json_t *found = NULL;
	while (!found && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *req = json_string_value(json_object_get(j, "req"));
		const char *msg = json_string_value(json_object_get(j, "msg"));
		if (req && msg && strcmp(req, id) == 0 && strcmp(msg, "request") == 0)
			found = json_incref(j);
		json_decref(j);
	}
	fclose(f);
	return found;
}

Test(ops, log_lines_stay_json_with_numbers_and_the_clients_ids)
{
	struct gw g;
	gw_start(&g, NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/nope%FF%22%0A", NULL, NULL,
	           "X-Request-Id: edge-7f3a.1\n"
	           "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	           &r);
	cr_expect_eq(r.status, 404);
	char v[128];
	cr_assert_eq(gw_header(&r, "X-Request-Id", v, sizeof v), 0);
	cr_expect_str_eq(v, "edge-7f3a.1", "the client's id is the request's");
	gw_reply_free(&r);
	/* an id that is not sane is not taken */
	gw_request(&g, "GET", "/healthz", NULL, NULL, "X-Request-Id: a\"b{c}", &r);
	cr_assert_eq(gw_header(&r, "X-Request-Id", v, sizeof v), 0);
	cr_expect_str_neq(v, "a\"b{c}");
	cr_expect(strlen(v) == 16, "one of ours: %s", v);
	gw_reply_free(&r);
	gw_stop(&g);  /* every line written */

	/* Every line of the log is UTF-8 JSON (jansson refuses anything else). */
	FILE *f = fopen(g.log, "r");
	cr_assert_not_null(f);
	char line[65536];
	unsigned lines = 0;
	while (fgets(line, sizeof line, f)) {
		json_error_t e;
		json_t *j = json_loads(line, 0, &e);
		cr_expect_not_null(j, "not a JSON line (%s): %s", e.text, line);
		json_decref(j);
		lines++;
	}
	fclose(f);
	cr_expect_gt(lines, 3);

	json_t *j = log_line_of(&g, "edge-7f3a.1");
	cr_assert_not_null(j, "no request line under the client's id in %s", g.log);
	cr_expect(json_is_integer(json_object_get(j, "status")), "status is a number");
	cr_expect_eq(json_integer_value(json_object_get(j, "status")), 404);
	cr_expect(json_is_integer(json_object_get(j, "ms")), "ms is a number");
	cr_expect_str_eq(json_string_value(json_object_get(j, "trace_id")),
	                 "4bf92f3577b34da6a3ce929d0e0e4736");
	const char *path = json_string_value(json_object_get(j, "path"));
	cr_expect(path && strncmp(path, "/nope", 5) == 0 && strchr(path, '"') && strchr(path, '\n'),
	          "the path as received, escaped: %s", path ? path : "(none)");
	json_decref(j);
}

/* ---- problem details ---- */

/* The server's own words are not the detail: they go to imap_detail. */
Test(ops, imap_server_text_is_imap_detail_not_detail)
{
	struct gw g;
	gw_start(&g, NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/messages?folder=NoSuchFolder", ALICE, NULL, &r);
	cr_assert_eq(r.status, 404, "%s", r.body.data);
	json_t *j = json_loads(r.body.data, 0, NULL);
	cr_assert_not_null(j);
	const char *detail = json_string_value(json_object_get(j, "detail"));
	const char *imap = json_string_value(json_object_get(j, "imap_detail"));
	cr_expect_str_eq(detail, "no such folder or message");
	cr_expect(imap && strstr(imap, "NoSuchFolder"), "Dovecot's words: %s", imap ? imap : "(none)");
	cr_expect(!strstr(detail, "secs") && !strstr(detail, "NoSuchFolder"), "%s", detail);
	json_decref(j);
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- OPTIONS and CORS ---- */

static void expect_header(const struct gw_reply *r, const char *name, const char *want)
{
	char v[1024];
	if (!want) {
		cr_expect_neq(gw_header(r, name, v, sizeof v), 0, "%s present: %s", name, v);
		return;
	}
	cr_expect_eq(gw_header(r, name, v, sizeof v), 0, "no %s", name);
	cr_expect_str_eq(v, want, "%s", name);
}

Test(ops, options_is_204_with_allow_and_no_cors_unless_configured)
{
	struct gw g;
	gw_start(&g, NULL);
	struct gw_reply r;
	gw_request(&g, "OPTIONS", "/messages/5", NULL, NULL,
	           "Origin: https://app.example\nAccess-Control-Request-Method: DELETE", &r);
	cr_expect_eq(r.status, 204);
	cr_expect_eq(r.body.len, 0);
	expect_header(&r, "Allow", "GET, HEAD, DELETE, OPTIONS");
	expect_header(&r, "Access-Control-Allow-Origin", NULL);
	expect_header(&r, "Access-Control-Allow-Methods", NULL);
	gw_reply_free(&r);
	gw_request(&g, "OPTIONS", "/folders/Archive/2024", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 204);
	expect_header(&r, "Allow", "GET, HEAD, PATCH, DELETE, OPTIONS");
	gw_reply_free(&r);
	gw_request(&g, "OPTIONS", "/nope", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 404);
	gw_reply_free(&r);
	gw_stop(&g);
}

Test(ops, cors_for_listed_origins)
{
	struct gw g;
	gw_start(&g, "--cors-origins", "https://app.example,http://localhost:5173", NULL);
	struct gw_reply r;
	gw_request(&g, "OPTIONS", "/messages/5/flags", NULL, NULL,
	           "Origin: http://localhost:5173\nAccess-Control-Request-Method: PATCH\n"
	           "Access-Control-Request-Headers: authorization, content-type",
	           &r);
	cr_expect_eq(r.status, 204);
	expect_header(&r, "Access-Control-Allow-Origin", "http://localhost:5173");
	expect_header(&r, "Access-Control-Allow-Credentials", "true");
	expect_header(&r, "Access-Control-Allow-Methods", "GET, HEAD, PUT, PATCH, OPTIONS");
	char v[512];
	cr_assert_eq(gw_header(&r, "Access-Control-Allow-Headers", v, sizeof v), 0);
	static const char *const hs[] = {"Authorization", "If-None-Match", "Last-Event-ID",
	                                 "Content-Type", "X-Imap-User"};
	for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
		cr_expect_not_null(strstr(v, hs[i]), "Allow-Headers %s lacks %s", v, hs[i]);
	expect_header(&r, "Vary", "Origin");
	gw_reply_free(&r);

	/* an answer read from the page: what it may see */
	gw_request(&g, "GET", "/folders", ALICE, "Origin: https://app.example", &r);
	cr_expect_eq(r.status, 200);
	expect_header(&r, "Access-Control-Allow-Origin", "https://app.example");
	cr_assert_eq(gw_header(&r, "Access-Control-Expose-Headers", v, sizeof v), 0);
	static const char *const ex[] = {"ETag", "Link", "Retry-After", "X-Request-Id"};
	for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++)
		cr_expect_not_null(strstr(v, ex[i]), "Expose-Headers %s lacks %s", v, ex[i]);
	cr_assert_eq(gw_header(&r, "Vary", v, sizeof v), 0);
	cr_expect_not_null(strstr(v, "Origin"), "Vary %s", v);
	gw_reply_free(&r);

	/* an origin not listed, or a lookalike: nothing for the browser */
	static const char *const others[] = {"Origin: https://evil.example",
	                                     "Origin: https://app.example.evil.example",
	                                     "Origin: null"};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		gw_request(&g, "GET", "/healthz", NULL, NULL, others[i], &r);
		expect_header(&r, "Access-Control-Allow-Origin", NULL);
		gw_reply_free(&r);
	}
	gw_stop(&g);
}

Test(ops, cors_wildcard_is_without_credentials)
{
	struct gw g;
	gw_start(&g, "--cors-origins", "*", NULL);
	struct gw_reply r;
	gw_request(&g, "OPTIONS", "/messages", NULL, NULL,
	           "Origin: https://any.example\nAccess-Control-Request-Method: POST", &r);
	cr_expect_eq(r.status, 204);
	expect_header(&r, "Access-Control-Allow-Origin", "*");
	expect_header(&r, "Access-Control-Allow-Credentials", NULL);
	expect_header(&r, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
	gw_reply_free(&r);
	gw_stop(&g);
}

/* ---- gzip ---- */

static void gunzip(const struct imap_buf *in, struct imap_buf *out)
{
	imap_buf_init(out, 0);
	z_stream s;
	memset(&s, 0, sizeof s);
	cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = (Bytef *)in->data;
	s.avail_in = (uInt)in->len;
	int rc;
	do {
		char buf[65536];
		s.next_out = (Bytef *)buf;
		s.avail_out = sizeof buf;
		rc = inflate(&s, Z_NO_FLUSH);
		cr_assert(rc == Z_OK || rc == Z_STREAM_END, "not gzip: %d", rc);
		imap_buf_append(out, buf, sizeof buf - s.avail_out);
	} while (rc != Z_STREAM_END);
	inflateEnd(&s);
	imap_buf_putc(out, '\0');
	out->len--;
}

Test(ops, json_is_gzipped_when_accepted_and_large_enough)
{
	struct gw g;
	gw_start(&g, NULL);
	const char *page = "/messages?per_page=40&sort=date";
	struct raw_reply plain, gz, small, refused;
	raw_get(&g, page, NULL, &plain);  /* the folder's first listing: tagged apart */
	imap_buf_free(&plain.body);
	raw_get(&g, page, NULL, &plain);
	raw_get(&g, page, "Accept-Encoding: br, gzip;q=0.9\r\n", &gz);
	cr_assert_eq(plain.status, 200, "%s", plain.head);
	cr_assert_eq(gz.status, 200, "%s", gz.head);
	char v[256], tag_plain[256], tag_gz[256];
	raw_header(&plain, "Content-Encoding", v, sizeof v);
	cr_expect_str_eq(v, "", "identity without Accept-Encoding");
	raw_header(&gz, "Content-Encoding", v, sizeof v);
	cr_expect_str_eq(v, "gzip");
	raw_header(&plain, "Vary", v, sizeof v);
	cr_expect_not_null(strstr(v, "Accept-Encoding"), "Vary: %s", v);
	raw_header(&gz, "Vary", v, sizeof v);
	cr_expect_not_null(strstr(v, "Accept-Encoding"), "Vary: %s", v);
	struct imap_buf un;
	gunzip(&gz.body, &un);
	cr_expect_str_eq(un.data, plain.body.data, "the same JSON either way");
	cr_expect_lt(gz.body.len, plain.body.len / 2, "%zu gzipped of %zu", gz.body.len,
	             plain.body.len);
	/* a page's tag is weak: one tag for both codings, a 304 for either */
	raw_header(&plain, "ETag", tag_plain, sizeof tag_plain);
	raw_header(&gz, "ETag", tag_gz, sizeof tag_gz);
	cr_expect(strncmp(tag_gz, "W/\"", 3) == 0, "weak: %s", tag_gz);
	cr_expect_str_eq(tag_gz, tag_plain);
	char inm[320];
	snprintf(inm, sizeof inm, "Accept-Encoding: gzip\r\nIf-None-Match: %s\r\n", tag_gz);
	struct raw_reply nm;
	raw_get(&g, page, inm, &nm);
	cr_expect_eq(nm.status, 304, "%s", nm.head);
	raw_header(&nm, "Vary", v, sizeof v);
	cr_expect_not_null(strstr(v, "Accept-Encoding"), "a 304 varies as its 200: %s", v);

	raw_get(&g, "/healthz", "Accept-Encoding: gzip\r\n", &small);
	raw_header(&small, "Content-Encoding", v, sizeof v);
	cr_expect_str_eq(v, "", "below --gzip-min-bytes: as it is");
	raw_get(&g, page, "Accept-Encoding: gzip;q=0, identity\r\n", &refused);
	raw_header(&refused, "Content-Encoding", v, sizeof v);
	cr_expect_str_eq(v, "", "gzip;q=0 refuses it");
	imap_buf_free(&un);
	imap_buf_free(&plain.body);
	imap_buf_free(&gz.body);
	imap_buf_free(&nm.body);
	imap_buf_free(&small.body);
	imap_buf_free(&refused.body);
	gw_stop(&g);

	gw_start(&g, "--gzip-min-bytes", "0", NULL);
	raw_get(&g, page, "Accept-Encoding: gzip\r\n", &gz);
	raw_header(&gz, "Content-Encoding", v, sizeof v);
	cr_expect_str_eq(v, "", "--gzip-min-bytes 0: never");
	raw_header(&gz, "Vary", v, sizeof v);
	cr_expect_null(strstr(v, "Accept-Encoding"), "Vary: %s", v);
	imap_buf_free(&gz.body);
	gw_stop(&g);
}

/* ---- drain on SIGTERM ---- */

#define DRAIN_BYTES (15u << 20)  /* the message: a 15 MB attachment, base64 */

/* SIGTERM while a client reads a 15 MB attachment slowly (it reads the
 * head and then nothing): the daemon keeps http_server_stop's promise of
 * --request-timeout + 1 s (5 + 1 s here), checked with a wide margin for
 * a loaded machine but far below the 30 s after which an orchestrator
 * kills. */
Test(ops, sigterm_with_a_slow_reader_exits_within_request_timeout)
{
	test_user_lock("frank");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s mailbox create -u frank Drain", getenv("IMAPGW_TEST_DOVEADM"));
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof cmd, "%s save -u frank -m Drain", getenv("IMAPGW_TEST_DOVEADM"));
	FILE *p = popen(cmd, "w");
	cr_assert_not_null(p);
	fputs("From: a@example.com\r\nSubject: drain\r\nMIME-Version: 1.0\r\n"
	      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
	      "Content-Type: text/plain\r\n\r\nBig.\r\n--b\r\n"
	      "Content-Type: application/octet-stream; name=\"big.bin\"\r\n"
	      "Content-Transfer-Encoding: base64\r\n\r\n",
	      p);
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[78];
	for (size_t done = 0; done < DRAIN_BYTES; done += 78) {
		for (size_t i = 0; i < 76; i++)
			line[i] = b64[(done / 78 * 7 + i * 13) % 64];
		line[76] = '\r';
		line[77] = '\n';
		fwrite(line, 1, sizeof line, p);
	}
	fputs("--b--\r\n", p);
	cr_assert_eq(pclose(p), 0, "%s", cmd);

	struct gw g;
	gw_start(&g, "--request-timeout", "5000", NULL);
	int fd = connect_to(&g, 4096);
	/* frank:frank-secret */
	static const char req[] = "GET /messages/1/attachments/2?folder=Drain HTTP/1.1\r\nHost: t\r\n"
	                          "Authorization: Basic ZnJhbms6ZnJhbmstc2VjcmV0\r\n\r\n";
	send_all(fd, req, sizeof req - 1);
	struct imap_buf in;
	imap_buf_init(&in, 0);
	read_until(fd, &in, "\r\n\r\n");  /* the download began; now read nothing more */
	cr_assert(in.data && strncmp(in.data, "HTTP/1.1 200 ", 13) == 0, "%.*s", (int)in.len,
	          in.data ? in.data : "");
	imap_buf_free(&in);
	struct timespec settle = {1, 0};  /* the buffers fill; the worker waits for the reader */
	nanosleep(&settle, NULL);

	int64_t t0 = now_ms();
	kill(g.pid, SIGTERM);
	int st = 0;
	pid_t got = 0;
	while ((got = waitpid(g.pid, &st, WNOHANG)) == 0 && now_ms() - t0 < 28000) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	int64_t took = now_ms() - t0;
	if (got != g.pid) {
		kill(g.pid, SIGKILL);
		waitpid(g.pid, &st, 0);
	}
	g.pid = 0;
	close(fd);
	cr_log_info("SIGTERM to exit with a slow reader: %lld ms (promise: 6000 ms)", (long long)took);
	cr_assert(got > 0, "still running %lld ms after SIGTERM", (long long)took);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	cr_expect_lt(took, 15000, "SIGTERM took %lld ms; the promise is 6000 ms", (long long)took);
	cr_expect(gw_log_contains(&g, "\"msg\":\"stopped\""), "a clean stop is logged");
}

/* ---- the HTML reference ---- */

/* GET / links the reference; GET /docs is Redoc over /openapi.json with
 * every asset from the gateway. Debian's chromium, headless and with no
 * other network than loopback, renders it: every operation of the contract
 * is listed. */
Test(ops, docs_page_lists_every_operation_in_chromium, .timeout = 300)
{
	struct gw g;
	gw_start(&g, NULL);
	struct gw_reply r;
	gw_request(&g, "GET", "/", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 200);
	char v[256];
	cr_expect_eq(gw_header(&r, "Link", v, sizeof v), 0);
	cr_expect_not_null(strstr(v, "</docs>; rel=\"service-doc\""), "%s", v);
	cr_expect_not_null(strstr(r.body.data, "\"docs\":\"/docs\""), "%s", r.body.data);
	gw_reply_free(&r);
	gw_request(&g, "GET", "/docs", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_not_null(strstr(r.body.data, "docs/redoc.standalone.js"));
	cr_expect_null(strstr(r.body.data, "https://"), "nothing from elsewhere");
	gw_reply_free(&r);
	gw_request(&g, "HEAD", "/docs/redoc.standalone.js", NULL, NULL, NULL, &r);
	cr_expect_eq(r.status, 200);
	gw_reply_free(&r);

	cr_assert_eq(access("/usr/bin/chromium", X_OK), 0,
	             "Debian's chromium is needed (tests/install-deps.sh installs it)");
	const char *dir = getenv("IMAPGW_TEST_DIR");
	char profile[512], dom[512], cmd[2400];
	snprintf(profile, sizeof profile, "%s/chromium-%d", dir, (int)getpid());
	snprintf(dom, sizeof dom, "%s/docs-dom-%d.html", dir, (int)getpid());
	snprintf(cmd, sizeof cmd,
	         "timeout 180 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic "
	         "--no-first-run --disable-background-networking --disable-component-update "
	         "--disable-sync --disable-extensions --user-data-dir='%s' "
	         "--virtual-time-budget=5000 --dump-dom '%s/docs' >'%s' 2>'%s.log'",
	         profile, g.base, dom, dom);
	int64_t t0 = now_ms();
	int rc = system(cmd);
	cr_log_info("chromium rendered /docs in %lld ms", (long long)(now_ms() - t0));
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", profile);
	cr_expect_eq(system(cmd), 0);
	cr_assert_eq(rc, 0, "chromium failed (see %s.log)", dom);

	FILE *f = fopen(dom, "r");
	cr_assert_not_null(f);
	struct imap_buf html;
	imap_buf_init(&html, 0);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		imap_buf_append(&html, buf, n);
	fclose(f);
	imap_buf_putc(&html, '\0');

	/* every operationId of the contract has its entry in the page */
	json_t *doc = json_loadb(api_openapi_json, api_openapi_json_len, 0, NULL);
	cr_assert_not_null(doc);
	const char *tpl, *method;
	json_t *item, *op;
	unsigned ops = 0;
	json_object_foreach(json_object_get(doc, "paths"), tpl, item) {
		json_object_foreach(item, method, op) {
			const char *id = json_string_value(json_object_get(op, "operationId"));
			if (!id)
				continue;
			char needle[160];
			snprintf(needle, sizeof needle, "operation/%s\"", id);
			cr_expect_not_null(strstr(html.data, needle), "%s %s (%s) is not in the page", method,
			                   tpl, id);
			ops++;
		}
	}
	cr_expect_gt(ops, 40);
	cr_expect_not_null(strstr(html.data, "Every folder of the mailbox."), "summaries rendered");
	json_decref(doc);
	imap_buf_free(&html);
	gw_stop(&g);
}
