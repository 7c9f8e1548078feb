/*
 * tests/support/gateway.c — the real daemon under test. See gateway.h.
 */
#include "tests/support/gateway.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imap/client.h"

#include "imap/folders.h"

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void start_v(struct gw *g, const char *imaps_port, const char *ca, va_list ap)
{
	const char *bin = getenv("IMAPGW_BIN") ? getenv("IMAPGW_BIN") : "build/imapgw";
	const char *dir = getenv("IMAPGW_TEST_DIR");
	cr_assert(dir, "run under tests/with-dovecot.sh");
	cr_assert(imaps_port && ca, "the server's port and CA are not set");
	memset(g, 0, sizeof *g);
	g->port = free_port();
	snprintf(g->base, sizeof g->base, "http://127.0.0.1:%u", g->port);
	snprintf(g->log, sizeof g->log, "%s/imapgw-%d-%u.log", dir, (int)getpid(), g->port);

	char listen[32];
	snprintf(listen, sizeof listen, "127.0.0.1:%u", g->port);
	const char *argv[64] = {bin, "--listen", listen, "--imap-host", "127.0.0.1", "--imap-port",
	                        imaps_port, "--imap-ca", ca, "--imap-trace", "--log-level", "debug"};
	size_t n = 12;
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 62)
		argv[n++] = a;
	argv[n] = NULL;

	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* The daemon must not outlive its test, whatever happens to the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		FILE *f = freopen(g->log, "w", stderr);
		FILE *o = freopen("/dev/null", "w", stdout);
		(void)f;
		(void)o;
		char *args[64];
		for (size_t i = 0; i <= n; i++)
			args[i] = argv[i] ? strdup(argv[i]) : NULL;
		execv(bin, args);
		_exit(127);
	}
	g->pid = pid;
	for (int i = 0; i < 200; i++) {
		struct gw_reply r;
		CURL *c = curl_easy_init();
		char url[128];
		snprintf(url, sizeof url, "%s/healthz", g->base);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
		CURLcode rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_cleanup(c);
		if (rc == CURLE_OK && r.status == 200)
			return;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			cr_assert_fail("imapgw exited at start (see %s)", g->log);
		sleep_ms(20);
	}
	cr_assert_fail("imapgw did not answer /healthz (see %s)", g->log);
}

void gw_start(struct gw *g, ...)
{
	va_list ap;
	va_start(ap, g);
	start_v(g, getenv("IMAPGW_TEST_IMAPS_PORT"), getenv("IMAPGW_TEST_CA"), ap);
	va_end(ap);
}

const struct test_server test_servers[TEST_SERVERS] = {
	{"dovecot", "", '/'},
	{"cyrus", "", '/'},
	{"courier", "INBOX.", '.'},
};

bool test_server_running(const struct test_server *s)
{
	if (strcmp(s->name, "dovecot") == 0)
		return true;
	const char *list = getenv("IMAPGW_TEST_SERVERS");
	size_t n = strlen(s->name);
	for (const char *p = list ? list : ""; (p = strstr(p, s->name)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

void test_server_need(const struct test_server *s)
{
	if (!test_server_running(s))
		cr_skip_test("%s is not started in this run (IMAPGW_TEST_SERVERS)", s->name);
}

/* Wait until tests/servers-lib.sh has the other servers up and seeded
 * ($IMAPGW_TEST_DIR/servers.done), then take their settings from
 * servers.env ("export NAME=VALUE" lines) into this process's environment. */
static void others_ready(void)
{
	static bool loaded;
	if (loaded)
		return;
	const char *dir = getenv("IMAPGW_TEST_DIR");
	char done[512], env[512], line[1024];
	snprintf(done, sizeof done, "%s/servers.done", dir);
	snprintf(env, sizeof env, "%s/servers.env", dir);
	FILE *f = NULL;
	for (int i = 0; i < 6000 && !(f = fopen(done, "r")); i++)  /* a first run installs */
		sleep_ms(100);
	cr_assert_not_null(f, "Cyrus and Courier did not come up (see %s/*-up.log)", dir);
	int rc = fgetc(f);
	fclose(f);
	cr_assert_eq(rc, '0', "Cyrus or Courier failed to start (see %s/*-up.log)", dir);
	f = fopen(env, "r");
	cr_assert_not_null(f, "no %s", env);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *name = strncmp(line, "export ", 7) == 0 ? line + 7 : line;
		char *eq = strchr(name, '=');
		if (!eq)
			continue;
		*eq = '\0';
		/* printf %q of a plain path: drop the backslashes it may add */
		char *w = eq + 1;
		for (char *r = eq + 1; *r; r++)
			if (*r != '\\' || (r[1] == '\\' && r++))
				*w++ = *r;
		*w = '\0';
		setenv(name, eq + 1, 1);
	}
	fclose(f);
	loaded = true;
}

/* The implicit-TLS port and the CA file of server s. */
static void server_endpoint(const struct test_server *s, const char **port, const char **ca)
{
	*port = getenv("IMAPGW_TEST_IMAPS_PORT");
	*ca = getenv("IMAPGW_TEST_CA");
	if (strcmp(s->name, "dovecot") == 0)
		return;
	others_ready();
	char up[16], port_var[64], ca_var[64];
	size_t i = 0;
	for (; s->name[i] && i < sizeof up - 1; i++)
		up[i] = (char)toupper((unsigned char)s->name[i]);
	up[i] = '\0';
	snprintf(port_var, sizeof port_var, "IMAPGW_TEST_%s_IMAPS_PORT", up);
	snprintf(ca_var, sizeof ca_var, "IMAPGW_TEST_%s_CA", up);
	*port = getenv(port_var);
	*ca = getenv(ca_var);
	cr_assert(*port && *ca, "%s: no %s or %s", s->name, port_var, ca_var);
}

void gw_start_on(struct gw *g, const struct test_server *s, ...)
{
	const char *port, *ca;
	server_endpoint(s, &port, &ca);
	va_list ap;
	va_start(ap, s);
	start_v(g, port, ca, ap);
	va_end(ap);
}

void test_imap_server_flag(const char *name, const char *which, char *out, size_t cap)
{
	char port_var[64], ca_var[64];
	if (strcmp(which, "DOVECOT2") != 0)
		others_ready();
	snprintf(port_var, sizeof port_var, "IMAPGW_TEST_%s_IMAPS_PORT", which);
	snprintf(ca_var, sizeof ca_var, "IMAPGW_TEST_%s_CA", which);
	const char *port = getenv(port_var), *ca = getenv(ca_var);
	cr_assert(port && ca, "%s or %s is not set (run under tests/with-dovecot.sh)", port_var,
	          ca_var);
	snprintf(out, cap, "%s=127.0.0.1:%s,tls=implicit,ca=%s", name, port, ca);
}

void test_server_path(const struct test_server *s, const char *logical, char *out, size_t cap)
{
	size_t k = (size_t)snprintf(out, cap, "%s", strcmp(logical, "INBOX") == 0 ? "" : s->prefix);
	for (const char *p = logical; *p && k + 1 < cap; p++)
		out[k++] = *p == '/' ? s->delimiter : *p;
	out[k < cap ? k : cap - 1] = '\0';
}

void gw_stop(struct gw *g)
{
	if (g->pid <= 0)
		return;
	kill(g->pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 500; i++) {
		if (waitpid(g->pid, &st, WNOHANG) == g->pid) {
			g->pid = 0;
			cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "imapgw exit status %d (see %s)",
			          st, g->log);
			return;
		}
		sleep_ms(20);
	}
	kill(g->pid, SIGKILL);
	waitpid(g->pid, &st, 0);
	g->pid = 0;
	cr_expect_fail("imapgw did not stop within 10 s of SIGTERM");
}

/* The header fields of the final response (after any 1xx), names in lower
 * case; a repeated field's values joined with ", ". */
static json_t *headers_json(const char *raw)
{
	json_t *h = json_object();
	for (const char *p = raw; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
			json_object_clear(h);
		} else if (colon && colon > p) {
			char name[128];
			size_t nl = (size_t)(colon - p);
			if (nl > sizeof name - 1)
				nl = sizeof name - 1;
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)tolower((unsigned char)p[i]);
			name[nl] = '\0';
			const char *v = colon + 1, *end = p + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			json_t *old = json_object_get(h, name);
			json_t *val;
			if (old) {
				char *joined = NULL;
				if (asprintf(&joined, "%s, %.*s", json_string_value(old), (int)(end - v), v) < 0)
					joined = NULL;
				val = joined ? json_string(joined) : NULL;
				free(joined);
			} else {
				val = json_stringn(v, (size_t)(end - v));
			}
			if (val)
				json_object_set_new(h, name, val);
		}
		p = eol ? eol + 1 : NULL;
	}
	return h;
}

/* Conformance record: one JSON line per response in
 * $IMAPGW_TEST_DIR/responses.jsonl, which tests/openapi-check.py checks
 * against openapi/openapi.yaml after the run. Each line goes out in one
 * O_APPEND write, so the parallel test processes never interleave. */
static void record_response(const char *method, const char *path, const struct gw_reply *r)
{
	const char *dir = getenv("IMAPGW_TEST_DIR");
	if (!dir)
		return;
	const char *q = strchr(path, '?');
	json_t *o = json_object();
	json_object_set_new(o, "method", json_string(method));
	json_object_set_new(o, "path", json_stringn(path, q ? (size_t)(q - path) : strlen(path)));
	json_object_set_new(o, "query", json_string(q ? q + 1 : ""));
	json_object_set_new(o, "status", json_integer(r->status));
	json_t *headers = headers_json(r->headers.data);
	const char *ct = json_string_value(json_object_get(headers, "content-type"));
	json_object_set_new(o, "content_type", ct ? json_string(ct) : json_null());
	json_object_set_new(o, "headers", headers);
	size_t ctlen = ct ? strcspn(ct, ";") : 0;
	while (ctlen && ct[ctlen - 1] == ' ')
		ctlen--;
	bool is_json = ct && ((ctlen == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	                      (ctlen > 5 && strncasecmp(ct + ctlen - 5, "+json", 5) == 0));
	json_error_t e;
	json_t *body = NULL;
	if (is_json && r->body.len) {
		body = json_loadb(r->body.data, r->body.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
		if (!body)
			json_object_set_new(o, "body_error", json_string(e.text));
	}
	json_object_set_new(o, "body_json", json_boolean(body != NULL));
	if (!body && !is_json) {
		/* Downloads may be large and binary: only their size is kept. */
		char desc[48] = "";
		if (r->body.len)
			snprintf(desc, sizeof desc, "(%zu bytes)", r->body.len);
		body = json_string(desc);
	}
	if (!body)
		body = json_stringn(r->body.data ? r->body.data : "", r->body.len);
	if (!body)
		json_object_set_new(o, "body_error", json_string("the body is not UTF-8 text"));
	json_object_set_new(o, "body", body ? body : json_null());

	char *line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	cr_assert_not_null(line, "cannot record %s %s", method, path);
	size_t len = strlen(line);
	line[len++] = '\n';  /* json_dumps left room: replace the NUL */
	char file[512];
	snprintf(file, sizeof file, "%s/responses.jsonl", dir);
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "cannot open %s", file);
	ssize_t w = write(fd, line, len);
	close(fd);
	free(line);
	cr_assert_eq(w, (ssize_t)len, "short write to %s", file);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	imap_buf_append(ud, p, size * n);
	return size * n;
}

static __thread const char *source_addr;

void gw_source_address(const char *addr)
{
	source_addr = addr;
}

static void request(const struct gw *g, const char *method, const char *path, const char *user,
                    const char *password, const char *extra_header, const char *content_type,
                    const char *body, size_t body_len, struct gw_reply *r)
{
	memset(r, 0, sizeof *r);
	imap_buf_init(&r->body, 0);
	imap_buf_init(&r->headers, 0);
	imap_buf_puts(&r->body, "");
	imap_buf_puts(&r->headers, "");
	CURL *c = curl_easy_init();
	char url[8192];
	snprintf(url, sizeof url, "%s%s", g->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);  /* else curl waits for the body */
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	char iface[80];
	if (source_addr) {
		snprintf(iface, sizeof iface, "host!%s", source_addr);
		curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	if (user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, password);
	}
	struct curl_slist *hl = NULL;
	if (extra_header) {
		char *copy = strdup(extra_header), *save = NULL;
		for (char *h = strtok_r(copy, "\n", &save); h; h = strtok_r(NULL, "\n", &save))
			hl = curl_slist_append(hl, h);
		free(copy);
	}
	if (body) {
		char ct[256];
		/* "Content-Type:" with no value makes curl send none at all. */
		snprintf(ct, sizeof ct, "Content-Type:%s%s", content_type ? " " : "",
		         content_type ? content_type : "");
		hl = curl_slist_append(hl, ct);
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	CURLcode rc = curl_easy_perform(c);
	cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	record_response(method, path, r);
}

void gw_request(const struct gw *g, const char *method, const char *path, const char *user,
                const char *password, const char *extra_header, struct gw_reply *r)
{
	request(g, method, path, user, password, extra_header, NULL, NULL, 0, r);
}

void gw_request_body(const struct gw *g, const char *method, const char *path,
                     const char *user, const char *password, const char *content_type,
                     const char *body, size_t len, struct gw_reply *r)
{
	request(g, method, path, user, password, NULL, content_type, body, len, r);
}

void gw_request_body_headers(const struct gw *g, const char *method, const char *path,
                             const char *user, const char *password, const char *extra_header,
                             const char *content_type, const char *body, size_t len,
                             struct gw_reply *r)
{
	request(g, method, path, user, password, extra_header, content_type, body, len, r);
}

void gw_reply_free(struct gw_reply *r)
{
	imap_buf_free(&r->body);
	imap_buf_free(&r->headers);
}

json_t *gw_call_json(const struct gw *g, const char *user, const char *password,
                     const char *method, const char *path, const char *body, long want)
{
	struct gw_reply r;
	if (body)
		gw_request_body(g, method, path, user, password, "application/json", body,
		                strlen(body), &r);
	else
		gw_request(g, method, path, user, password, NULL, &r);
	cr_assert_eq(r.status, want, "%s %s: %ld %s", method, path, r.status, r.body.data);
	json_t *j = r.body.len ? json_loads(r.body.data, 0, NULL) : json_object();
	cr_assert_not_null(j, "%s %s: not JSON: %.300s", method, path, r.body.data);
	gw_reply_free(&r);
	return j;
}

void test_url_escape(const char *s, char *out, size_t cap)
{
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && k + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
			out[k++] = (char)*p;
		else
			k += (size_t)snprintf(out + k, cap - k, "%%%02X", *p);
	}
	out[k] = '\0';
}

int gw_header(const struct gw_reply *r, const char *name, char *out, size_t cap)
{
	const char *p = r->headers.data;
	size_t nl = strlen(name);
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(p + len - v);
			while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
				vl--;
			snprintf(out, cap, "%.*s", (int)vl, v);
			return 0;
		}
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

int gw_log_contains(const struct gw *g, const char *needle)
{
	FILE *f = fopen(g->log, "r");
	if (!f)
		return 0;
	char line[16384];
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

unsigned gw_count_sent(const struct gw *g, const char *needle)
{
	FILE *f = fopen(g->log, "r");
	if (!f)
		return 0;
	char line[16384];
	unsigned n = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"msg\":\"imap >\"") && strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static int user_turn = -1;

void test_user_lock(const char *user)
{
	char path[512];
	snprintf(path, sizeof path, "%s/turn-%s", getenv("IMAPGW_TEST_DIR"), user);
	cr_assert_eq(user_turn, -1, "one user lock at a time");
	user_turn = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cr_assert(user_turn >= 0 && flock(user_turn, LOCK_EX) == 0, "cannot lock %s", path);
}

void test_user_unlock(void)
{
	if (user_turn >= 0)
		close(user_turn);  /* releases the lock */
	user_turn = -1;
}

const struct imap_folder *test_folder_find(const struct imap_folder_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].path, path) == 0)
			return &l->v[i];
	return NULL;
}

const struct imap_folder *test_folder_must(const struct imap_folder_list *l, const char *path)
{
	static char empty[1];
	static const struct imap_folder none = {.path = empty, .raw = empty};
	const struct imap_folder *f = test_folder_find(l, path);
	if (!f)
		cr_assert_fail("folder %s is not listed", path);
	return f ? f : &none;
}

struct imap_tls *test_tls_open(void)
{
	struct imap_error err = {0};
	struct imap_tls *tls = imap_tls_new(getenv("IMAPGW_TEST_CA"), &err);
	cr_assert_not_null(tls, "test CA: %s", err.msg);
	return tls;
}

static struct imap_session *login_at(struct imap_tls *tls, const char *port, const char *user,
                                     const char *password)
{
	struct imap_client_config cfg;
	struct imap_error err = {0};
	imap_client_config_default(&cfg);
	cfg.host = getenv("IMAPGW_TEST_HOST");
	cfg.port = (uint16_t)atoi(port);
	cfg.tls = tls;
	struct imap_session *s = NULL;
	int64_t deadline = imap_now_ms() + 15000;
	cr_assert_eq(imap_session_connect(&s, &cfg, deadline, &err), 0, "%s", err.msg);
	cr_assert_eq(imap_session_login(s, IMAP_MECH_AUTO, user, password, deadline, &err), 0,
	             "%s: %s", user, err.msg);
	cr_assert_eq(imap_session_enable(s, deadline, &err), 0, "%s", err.msg);
	return s;
}

struct imap_session *test_imap_login(struct imap_tls *tls, const char *user,
                                     const char *password)
{
	return login_at(tls, getenv("IMAPGW_TEST_IMAPS_PORT"), user, password);
}

struct imap_session *test_imap_login_on(const struct test_server *srv, const char *user,
                                        const char *password)
{
	static struct imap_tls *tls[TEST_SERVERS];
	const char *port, *ca;
	server_endpoint(srv, &port, &ca);
	size_t k = 0;
	while (k < TEST_SERVERS && strcmp(test_servers[k].name, srv->name) != 0)
		k++;
	cr_assert(k < TEST_SERVERS, "%s is not one of test_servers", srv->name);
	if (!tls[k]) {
		struct imap_error err = {0};
		tls[k] = imap_tls_new(ca, &err);
		cr_assert_not_null(tls[k], "%s CA: %s", srv->name, err.msg);
	}
	return login_at(tls[k], port, user, password);
}
