/*
 * imapbase — the raw-IMAP baseline for make bench, and its CPU meter.
 *
 *   imapbase cpu PID...
 *       For each PID, one line: the clock ticks of CPU (user + system) used so far by
 *       that process and all its descendants, including children already reaped
 *       (cutime/cstime). For a Dovecot master this is the whole instance.
 *
 *   imapbase pages HOST PORT CAFILE USER MODE PER_PAGE SECONDS MAX_PAGES DOVECOT_PID
 *       (password in $IMAPBASE_PASSWORD). One IMAPS session (certificate and host
 *       verified against CAFILE): LOGIN, SELECT INBOX, then pages at random
 *       (uniform over 1..ceil(EXISTS/PER_PAGE), newest first) until SECONDS have
 *       passed or MAX_PAGES are done, issuing exactly what imapgw issues for one
 *       page (imap/messages.c):
 *         arrival    FETCH lo:hi <SUMMARY_ITEMS>          (a sequence range)
 *         date       UID SORT RETURN (COUNT PARTIAL a:b) (DATE) UTF-8 ALL (ESORT, RFC
 *                    5267/9394; the full form below if the server refuses it), then
 *                    UID FETCH <the page's UIDs> <SUMMARY_ITEMS>
 *         date-full  UID SORT (DATE) UTF-8 ALL (every UID), then the same UID FETCH
 *         subject    as date, with (SUBJECT)
 *       Prints one line of key=value pairs: pages, seconds, dovecot_ticks (CPU of
 *       DOVECOT_PID's tree during the page loop only), bytes received, exists, and
 *       sort (partial, full, or - for arrival).
 *
 *   imapbase fetch HOST PORT CAFILE USER UID SECTION SECONDS DOVECOT_PID
 *       (password in $IMAPBASE_PASSWORD) What imapgw sends for one download:
 *       UID FETCH UID (UID BODY.PEEK[SECTION]) (SECTION "" for the whole source),
 *       repeated for SECONDS. Prints fetches, seconds, dovecot_ticks and bytes.
 *
 *   imapbase warm HOST PORT CAFILE USER
 *       (password in $IMAPBASE_PASSWORD) Fetch every summary twice and sort by date
 *       twice, so that Dovecot's index cache holds what listings read.
 *
 * Plain libc + OpenSSL; no part of imapgw is used, so this measures Dovecot alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* keep in step with SUMMARY_ITEMS in imap/messages.c */
#define SUMMARY_ITEMS \
	"(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE " \
	"BODY.PEEK[HEADER.FIELDS (LIST-UNSUBSCRIBE LIST-UNSUBSCRIBE-POST LIST-ID REFERENCES)])"

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *f, ...)
{
	va_list ap;
	fputs("imapbase: ", stderr);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ------------------------------------------------------------- CPU meter */

struct proc {
	long pid, ppid;
	unsigned long long ticks;
	int mark;
};

static unsigned long long tree_ticks(long root)
{
	DIR *d = opendir("/proc");
	if (!d)
		die("/proc: %s", strerror(errno));
	struct proc *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;  /* gone meanwhile */
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		if (!p)
			continue;
		/* after "comm)": state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime cutime cstime */
		char state;
		long ppid;
		unsigned long long ut, st, cut, cst;
		if (sscanf(p + 1, " %c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
		           &state, &ppid, &ut, &st, &cut, &cst) != 6)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 512;
			v = realloc(v, cap * sizeof *v);
			if (!v)
				die("out of memory");
		}
		v[n++] = (struct proc){atol(e->d_name), ppid, ut + st + cut + cst, 0};
	}
	closedir(d);
	unsigned long long sum = 0;
	int changed = 1;
	for (size_t i = 0; i < n; i++)
		v[i].mark = v[i].pid == root;
	while (changed) {  /* mark descendants */
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			if (v[i].mark)
				continue;
			for (size_t k = 0; k < n; k++)
				if (v[k].mark && v[k].pid == v[i].ppid) {
					v[i].mark = changed = 1;
					break;
				}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].mark)
			sum += v[i].ticks;
	free(v);
	return sum;
}

/* ------------------------------------------------------------- IMAP over TLS */

struct conn {
	SSL *ssl;
	char in[65536];
	size_t pos, len;
	unsigned long long bytes;
	unsigned tag;
};

struct line {
	char *p;
	size_t len, cap;
};

static void line_put(struct line *l, const char *s, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (l->len + n + 1 > cap)
			cap *= 2;
		l->p = realloc(l->p, cap);
		if (!l->p)
			die("out of memory");
		l->cap = cap;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len] = '\0';
}

static void fill(struct conn *c)
{
	int r = SSL_read(c->ssl, c->in, sizeof c->in);
	if (r <= 0)
		die("connection closed by the server (SSL error %d)", SSL_get_error(c->ssl, r));
	c->pos = 0;
	c->len = (size_t)r;
	c->bytes += (size_t)r;
}

/* One response line with its literals inlined; CRLF removed. */
static void read_response(struct conn *c, struct line *l)
{
	l->len = 0;
	line_put(l, "", 0);
	for (;;) {
		if (c->pos == c->len)
			fill(c);
		char *nl = memchr(c->in + c->pos, '\n', c->len - c->pos);
		size_t n = nl ? (size_t)(nl - (c->in + c->pos)) : c->len - c->pos;
		line_put(l, c->in + c->pos, n);
		c->pos += n + (nl ? 1 : 0);
		if (!nl)
			continue;
		if (l->len && l->p[l->len - 1] == '\r')
			l->p[--l->len] = '\0';
		/* a literal "{N}" at the end: N raw bytes follow, then the line goes on */
		if (l->len < 3 || l->p[l->len - 1] != '}')
			return;
		char *open = memrchr(l->p, '{', l->len);
		if (!open)
			return;
		char *end;
		unsigned long long size = strtoull(open + 1, &end, 10);
		if (end == open + 1 || (*end != '}' && *end != '+'))
			return;
		while (size) {
			if (c->pos == c->len)
				fill(c);
			size_t take = c->len - c->pos < size ? c->len - c->pos : (size_t)size;
			line_put(l, c->in + c->pos, take);
			c->pos += take;
			size -= take;
		}
	}
}

typedef void (*untagged_fn)(void *ctx, const char *line, size_t len);

/* Send "tag cmd", read until the tagged answer: 0 for OK; for NO or BAD, 1 when
 * may_fail, else the program ends. */
__attribute__((format(printf, 6, 0)))
static int vcommand(struct conn *c, struct line *l, untagged_fn fn, void *ctx, int may_fail,
                    const char *fmt, va_list ap)
{
	char tag[16], *cmd = NULL;
	int ok = 0;
	if (vasprintf(&cmd, fmt, ap) < 0)
		die("out of memory");
	snprintf(tag, sizeof tag, "t%u", ++c->tag);
	char *full = NULL;
	int fl = asprintf(&full, "%s %s\r\n", tag, cmd);
	if (fl < 0)
		die("out of memory");
	if (SSL_write(c->ssl, full, fl) != fl)
		die("write failed");
	size_t tl = strlen(tag);
	for (;;) {
		read_response(c, l);
		if (l->len > tl && strncmp(l->p, tag, tl) == 0 && l->p[tl] == ' ') {
			ok = strncmp(l->p + tl + 1, "OK", 2) == 0;
			if (!ok && !may_fail)  /* never print LOGIN's password */
				die("%.60s: %.200s", strncmp(cmd, "LOGIN", 5) ? cmd : "LOGIN", l->p);
			break;
		}
		if (fn && l->len > 2 && l->p[0] == '*')
			fn(ctx, l->p, l->len);
	}
	free(cmd);
	free(full);
	return ok ? 0 : 1;
}

__attribute__((format(printf, 5, 6)))
static void command(struct conn *c, struct line *l, untagged_fn fn, void *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vcommand(c, l, fn, ctx, 0, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 5, 6)))
static int try_command(struct conn *c, struct line *l, untagged_fn fn, void *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vcommand(c, l, fn, ctx, 1, fmt, ap);
	va_end(ap);
	return rc;
}

static struct conn *imaps_connect(const char *host, const char *port, const char *ca)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		die("%s:%s: %s", host, port, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(ai);

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		die("cannot load CA file %s", ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	struct conn *c = calloc(1, sizeof *c);
	if (!c || !(c->ssl = SSL_new(ctx)))
		die("out of memory");
	SSL_CTX_free(ctx);  /* the SSL keeps a reference */
	X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		X509_VERIFY_PARAM_set1_ip_asc(param, host);
	else {
		X509_VERIFY_PARAM_set1_host(param, host, 0);
		char *sni = strdup(host);  /* the macro casts away const */
		if (!sni || SSL_set_tlsext_host_name(c->ssl, sni) != 1)
			die("cannot set the TLS server name");
		free(sni);
	}
	SSL_set_fd(c->ssl, fd);
	if (SSL_connect(c->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		die("TLS handshake with %s:%s failed", host, port);
	}
	return c;
}

/* ------------------------------------------------------------- pages */

struct uids {
	uint32_t *v;
	size_t n, cap;
};

static void uids_push(struct uids *u, uint32_t uid)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 1024;
		u->v = realloc(u->v, u->cap * sizeof *u->v);
		if (!u->v)
			die("out of memory");
	}
	u->v[u->n++] = uid;
}

static void on_sort(void *ctx, const char *l, size_t len)
{
	struct uids *u = ctx;
	if (len < 6 || strncmp(l, "* SORT", 6) != 0)
		return;
	size_t i = 6;
	for (;;) {
		while (i < len && l[i] == ' ')
			i++;
		if (i == len || !isdigit((unsigned char)l[i]))
			break;
		uint32_t uid = 0;
		while (i < len && isdigit((unsigned char)l[i]))
			uid = uid * 10 + (uint32_t)(l[i++] - '0');
		uids_push(u, uid);
	}
}

/* "* ESEARCH (TAG "t5") UID PARTIAL (lo:hi <uid set in sort order>) COUNT n":
 * the set's items ("7", "1:3", "9:8") are expanded in the order written. */
static void on_esearch(void *ctx, const char *l, size_t len)
{
	struct uids *u = ctx;
	const char *p = memmem(l, len, "PARTIAL (", 9);
	if (strncmp(l, "* ESEARCH", 9) != 0 || !p)
		return;
	p = strchr(p + 9, ' ');  /* past the range */
	if (!p)
		return;
	p++;
	while (isdigit((unsigned char)*p)) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;
		if (*end == ':')
			b = strtoul(end + 1, &end, 10);
		p = end;
		for (unsigned long x = a;; x = a <= b ? x + 1 : x - 1) {
			uids_push(u, (uint32_t)x);
			if (x == b)
				break;
		}
		if (*p == ',')
			p++;
	}
}

static void on_exists(void *ctx, const char *l, size_t len)
{
	unsigned long n;
	char word[16];
	if (len < 64 && sscanf(l, "* %lu %15s", &n, word) == 2 && strcmp(word, "EXISTS") == 0)
		*(unsigned long *)ctx = n;
}

static uint64_t rng = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long num(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end)
		die("%s must be a number, not '%s'", what, s);
	return v;
}

/* Connect, log in (password from $IMAPBASE_PASSWORD), SELECT INBOX. */
static struct conn *login_select(const char *host, const char *port, const char *ca,
                                 const char *user, struct line *l, unsigned long *exists)
{
	const char *password = getenv("IMAPBASE_PASSWORD");
	if (!password || strpbrk(password, "\"\\\r\n") || strpbrk(user, "\"\\\r\n "))
		die("set IMAPBASE_PASSWORD (no quotes, backslashes or line breaks)");
	struct conn *c = imaps_connect(host, port, ca);
	read_response(c, l);  /* greeting */
	if (strncmp(l->p, "* OK", 4) != 0)
		die("greeting: %.200s", l->p);
	command(c, l, NULL, NULL, "LOGIN \"%s\" \"%s\"", user, password);
	*exists = 0;
	command(c, l, on_exists, exists, "SELECT INBOX");
	if (*exists == 0)
		die("INBOX is empty");
	return c;
}

static void logout(struct conn *c, struct line *l)
{
	command(c, l, NULL, NULL, "LOGOUT");
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	free(c);
	free(l->p);
}

/* Read everything a listing can ask for once, so the measured runs find Dovecot's
 * caches as a mailbox in daily use has them (the index cache decides what to keep
 * from what clients ask: the first pass adds the fields, the second one, in another
 * order, makes them permanent). */
static int warm(int argc, char **argv)
{
	if (argc != 6)
		die("usage: imapbase warm HOST PORT CAFILE USER");
	struct line l = {0};
	unsigned long exists;
	double t0 = now();
	struct conn *c = login_select(argv[2], argv[3], argv[4], argv[5], &l, &exists);
	command(c, &l, NULL, NULL, "FETCH 1:* " SUMMARY_ITEMS);
	command(c, &l, NULL, NULL, "UID SORT (DATE) UTF-8 ALL");
	for (unsigned long hi = exists; hi >= 1;) {  /* newest first, in pages */
		unsigned long lo = hi > 500 ? hi - 499 : 1;
		command(c, &l, NULL, NULL, "FETCH %lu:%lu " SUMMARY_ITEMS, lo, hi);
		hi = lo - 1;
	}
	command(c, &l, NULL, NULL, "UID SORT (DATE) UTF-8 ALL");
	printf("warmed=%lu seconds=%.3f bytes=%llu\n", exists, now() - t0, c->bytes);
	logout(c, &l);
	return 0;
}

static int pages(int argc, char **argv)
{
	if (argc != 11)
		die("usage: imapbase pages HOST PORT CAFILE USER MODE PER_PAGE SECONDS MAX_PAGES DOVECOT_PID");
	const char *host = argv[2], *port = argv[3], *ca = argv[4], *user = argv[5], *mode = argv[6];
	unsigned long per = num(argv[7], "PER_PAGE"), max_pages = num(argv[9], "MAX_PAGES");
	double seconds = (double)num(argv[8], "SECONDS");
	long dovecot = (long)num(argv[10], "DOVECOT_PID");
	/* date: as imapgw, RETURN (COUNT PARTIAL) while the server accepts it */
	int subject = strcmp(mode, "subject") == 0;
	int date = subject || strcmp(mode, "date") == 0, full = strcmp(mode, "date-full") == 0;
	const char *key = subject ? "SUBJECT" : "DATE";
	if (!date && !full && strcmp(mode, "arrival") != 0)
		die("MODE must be arrival, date, date-full or subject");
	if (per == 0)
		die("PER_PAGE must be positive");
	rng ^= (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);

	struct line l = {0};
	unsigned long exists = 0;
	struct conn *c = login_select(host, port, ca, user, &l, &exists);
	unsigned long npages = (exists + per - 1) / per;

	unsigned long long bytes0 = c->bytes, ticks0 = tree_ticks(dovecot);
	double t0 = now();
	unsigned long done = 0;
	struct uids u = {0};
	char *set = malloc(per * 11 + 1);
	if (!set)
		die("out of memory");
	while (done < max_pages && (done == 0 || now() - t0 < seconds)) {
		unsigned long page = 1 + (unsigned long)(rnd() % npages);
		unsigned long start = (page - 1) * per;
		unsigned long count = exists - start < per ? exists - start : per;
		if (!date && !full) {
			unsigned long lo = exists - start - count + 1;
			command(c, &l, NULL, NULL, "FETCH %lu:%lu " SUMMARY_ITEMS, lo, lo + count - 1);
		} else {
			/* newest first: the page's positions in ascending date order */
			unsigned long hi = exists - start, lo = hi > per ? hi - per + 1 : 1;
			u.n = 0;
			if (date && try_command(c, &l, on_esearch, &u,
			                        "UID SORT RETURN (COUNT PARTIAL %lu:%lu) (%s) UTF-8 ALL",
			                        lo, hi, key) == 0) {
				if (u.n != hi - lo + 1)
					die("UID SORT RETURN (PARTIAL %lu:%lu) returned %zu UIDs", lo, hi, u.n);
			} else {
				if (date) {
					fprintf(stderr, "imapbase: PARTIAL refused; full UID SORT from now on\n");
					date = 0;
					full = 1;
				}
				u.n = 0;
				command(c, &l, on_sort, &u, "UID SORT (%s) UTF-8 ALL", key);
				if (u.n != exists)
					die("UID SORT returned %zu UIDs for %lu messages", u.n, exists);
				memmove(u.v, u.v + lo - 1, (hi - lo + 1) * sizeof *u.v);
				u.n = hi - lo + 1;
			}
			size_t k = 0;
			for (size_t i = 0; i < u.n; i++)
				k += (size_t)sprintf(set + k, "%s%u", i ? "," : "", u.v[u.n - 1 - i]);
			command(c, &l, NULL, NULL, "UID FETCH %s " SUMMARY_ITEMS, set);
		}
		done++;
	}
	double t1 = now();
	unsigned long long ticks1 = tree_ticks(dovecot);
	printf("pages=%lu seconds=%.3f dovecot_ticks=%llu bytes=%llu exists=%lu sort=%s\n", done,
	       t1 - t0, ticks1 - ticks0, c->bytes - bytes0, exists,
	       date ? "partial" : full ? "full" : "-");
	logout(c, &l);
	free(set);
	free(u.v);
	return 0;
}

static int fetch(int argc, char **argv)
{
	if (argc != 10)
		die("usage: imapbase fetch HOST PORT CAFILE USER UID SECTION SECONDS DOVECOT_PID");
	unsigned long uid = num(argv[6], "UID");
	const char *section = argv[7];
	double seconds = (double)num(argv[8], "SECONDS");
	long dovecot = (long)num(argv[9], "DOVECOT_PID");
	if (strspn(section, "0123456789.") != strlen(section))
		die("SECTION must be digits and dots");
	struct line l = {0};
	unsigned long exists = 0;
	struct conn *c = login_select(argv[2], argv[3], argv[4], argv[5], &l, &exists);
	command(c, &l, NULL, NULL, "UID FETCH %lu (UID BODY.PEEK[%s])", uid, section);  /* warm */
	unsigned long long bytes0 = c->bytes, ticks0 = tree_ticks(dovecot);
	double t0 = now();
	unsigned long done = 0;
	while (done == 0 || now() - t0 < seconds) {
		command(c, &l, NULL, NULL, "UID FETCH %lu (UID BODY.PEEK[%s])", uid, section);
		done++;
	}
	double t1 = now();
	unsigned long long ticks1 = tree_ticks(dovecot);
	printf("fetches=%lu seconds=%.3f dovecot_ticks=%llu bytes=%llu\n", done, t1 - t0,
	       ticks1 - ticks0, c->bytes - bytes0);
	logout(c, &l);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "cpu") == 0) {
		for (int i = 2; i < argc; i++)
			printf("%llu\n", tree_ticks((long)num(argv[i], "PID")));
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "pages") == 0)
		return pages(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "warm") == 0)
		return warm(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
		return fetch(argc, argv);
	fprintf(stderr, "usage: imapbase cpu PID... | imapbase pages ... (see the source)\n");
	return 2;
}
