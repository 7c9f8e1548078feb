/*
 * mailgen — write many plausible messages straight into a Maildir, for make bench.
 *
 *   mailgen MAILDIR COUNT [SEED]
 *
 * Creates MAILDIR/{cur,new,tmp} and writes COUNT messages into cur/ with names in
 * Dovecot's own form ("<time>.M<usec>P<pid>Q<n>.bench,S=<size>,W=<vsize>:2,<flags>";
 * S= and W= spare Dovecot a stat and a size count). Dovecot assigns UIDs when it
 * first syncs the folder, in directory order, so arrival (UID) order, INTERNALDATE
 * (the file's mtime) and the Date header are three different orders, as in real
 * mailboxes. Varied senders, subjects (some RFC 2047), sizes (a few hundred bytes
 * to ~50 KB, ~2.9 KB on average), MIME shapes (plain, alternative, mixed with an
 * attachment), flags, and List-Unsubscribe on some. Deterministic for a given SEED.
 * LF line endings, as Dovecot stores mail in Maildir.
 *
 * The time goes into creating the files (~7 s for 100,000 on a small VM's ext4).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

#define PICK(a) ((a)[below(sizeof(a) / sizeof((a)[0]))])

static const char *const first_names[] = {
	"Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas",
	"Karin", "Luca", "Maja", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tina",
	"Ulrich", "Vera", "Wim", "Xenia", "Yusuf", "Zoë", "Ada", "Bruno", "Carla", "Dmitri",
	"Elif", "François", "Gabriel", "Hanna", "Ivan", "Jana", "Kenji", "Lena", "Marco", "Nina",
};
static const char *const last_names[] = {
	"Andersen", "Becker", "Costa", "Dubois", "Eriksson", "Fischer", "García", "Hansen",
	"Ivanova", "Jensen", "Kowalski", "Larsen", "Müller", "Nakamura", "Olsen", "Petrov",
	"Quinn", "Rossi", "Schmidt", "Tanaka", "Ueda", "Vargas", "Weber", "Young", "Zimmermann",
};
static const char *const domains[] = {
	"example.com", "example.org", "example.net", "mail.example.com", "lists.example.org",
	"corp.example", "shop.example", "news.example.net", "bank.example", "travel.example",
};
static const char *const words[] = {
	"quarterly", "report", "meeting", "invoice", "update", "project", "review", "draft",
	"schedule", "budget", "release", "notes", "photos", "weekend", "order", "shipped",
	"account", "security", "newsletter", "offer", "reminder", "agenda", "minutes", "plan",
	"design", "feedback", "contract", "travel", "booking", "confirmation", "delivery",
	"team", "lunch", "question", "about", "the", "for", "your", "new", "next", "week",
	"today", "tomorrow", "final", "version", "summary", "status", "ticket", "support",
};
static const char *const lorem[] = {
	"Thanks for the quick reply, that works for me.",
	"Please find the details below and let me know if anything is missing.",
	"We will review the numbers on Thursday and send a summary afterwards.",
	"The delivery is scheduled for next week; tracking follows separately.",
	"Could you take a look at the attached draft before the meeting?",
	"As discussed, the budget for the second half needs another pass.",
	"Your account settings were changed; if this was not you, contact support.",
	"Here are this month's highlights, new features and upcoming events.",
	"I moved the call to 3 pm so that everyone in the team can join.",
	"The release notes list every fix that went into this version.",
};

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 65536;
		while (o->len + n > cap)
			cap *= 2;
		char *q = realloc(o->p, cap);
		if (!q) {
			fprintf(stderr, "mailgen: out of memory\n");
			exit(1);
		}
		o->p = q;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void printf_(struct out *o, const char *f, ...)
{
	char tmp[4096];
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(tmp, sizeof tmp, f, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static int ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* RFC 2047 Q encoding of a short UTF-8 phrase (fits one encoded word here) */
static void put_qword(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	puts_(o, "=?UTF-8?Q?");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ')
			puts_(o, "_");
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			put(o, (const char *)&c, 1);
		else {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			put(o, e, 3);
		}
	}
	puts_(o, "?=");
}

static void put_date(struct out *o, const char *name, time_t t, int tz_min)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t local = t + tz_min * 60;
	struct tm tm;
	gmtime_r(&local, &tm);
	int a = tz_min < 0 ? -tz_min : tz_min;
	printf_(o, "%s: %s, %d %s %d %02d:%02d:%02d %c%02d%02d\n", name, wd[tm.tm_wday], tm.tm_mday,
	        mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	        tz_min < 0 ? '-' : '+', a / 60, a % 60);
}

static void put_text(struct out *o, size_t target)
{
	size_t start = o->len, col = 0;
	while (o->len - start < target) {
		const char *s = PICK(lorem);
		size_t n = strlen(s);
		if (col + n > 72) {
			puts_(o, "\n");
			col = 0;
		} else if (col) {
			puts_(o, " ");
			col++;
		}
		put(o, s, n);
		col += n;
	}
	puts_(o, "\n");
}

static void put_base64_block(struct out *o, size_t bytes)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t chars = (bytes + 2) / 3 * 4;
	char line[77];
	while (chars) {
		size_t n = chars < 76 ? chars : 76;
		for (size_t i = 0; i < n; i++)
			line[i] = b64[below(64)];
		line[n] = '\n';
		put(o, line, n + 1);
		chars -= n;
	}
}

/* a body size: mostly a few hundred bytes to a few KB, sometimes much more */
static size_t body_size(void)
{
	unsigned r = below(1000);
	if (r < 650)
		return 200 + below(1200);
	if (r < 980)
		return 1200 + below(4000);
	return 8000 + below(40000);
}

static void message(struct out *o, unsigned i, time_t date, const char *to)
{
	const char *fn = PICK(first_names), *ln = PICK(last_names), *dom = PICK(domains);
	char name[128], addr[160];
	snprintf(name, sizeof name, "%s %s", fn, ln);
	snprintf(addr, sizeof addr, "%.20s.%.30s@%s", fn, ln, dom);
	for (char *p = addr; *p; p++)  /* local part: ASCII letters only */
		if ((unsigned char)*p >= 0x80)
			*p = 'x';
		else if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');

	printf_(o, "Return-Path: <%s>\n", addr);
	printf_(o, "Received: from mx.%s by imap.bench.example with LMTP id %08x; ", dom, (unsigned)rnd());
	{
		struct out tmp = {0};
		put_date(&tmp, "X", date + 30 + below(300), 0);
		put(o, tmp.p + 3, tmp.len - 3);  /* the date after "X: " */
		free(tmp.p);
	}
	put_date(o, "Date", date, (int)below(25) * 60 - 12 * 60);
	puts_(o, "From: ");
	if (ascii(name))
		printf_(o, "%s <%s>\n", name, addr);
	else {
		put_qword(o, name);
		printf_(o, " <%s>\n", addr);
	}
	printf_(o, "To: %s\n", to);
	if (below(10) == 0)
		printf_(o, "Cc: team@%s\n", dom);
	puts_(o, "Subject: ");
	if (below(5) == 0)
		puts_(o, "Re: ");
	unsigned nw = 3 + below(7);
	if (below(12) == 0) {
		struct out s = {0};
		puts_(&s, "Grüße: ");
		for (unsigned k = 0; k < nw && k < 5; k++) {
			puts_(&s, PICK(words));
			puts_(&s, " ");
		}
		put(&s, "", 1);
		put_qword(o, s.p);
		free(s.p);
	} else {
		for (unsigned k = 0; k < nw; k++) {
			if (k)
				puts_(o, " ");
			puts_(o, PICK(words));
		}
		printf_(o, " #%u", i);
	}
	puts_(o, "\n");
	printf_(o, "Message-ID: <%u.%08x@bench.example>\n", i, (unsigned)rnd());
	if (below(6) == 0)
		printf_(o, "In-Reply-To: <%u.parent@bench.example>\n", below(i + 1));
	if (below(7) == 0) {
		printf_(o, "List-Id: Weekly news <weekly.%s>\n", dom);
		printf_(o, "List-Unsubscribe: <mailto:unsubscribe-%u@%s>,\n <https://%s/unsubscribe/%u>\n",
		        i, dom, dom, i);
		if (below(2))
			puts_(o, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n");
	}
	puts_(o, "MIME-Version: 1.0\n");

	unsigned shape = below(100);
	size_t size = body_size();
	if (shape < 65) {
		puts_(o, "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
		put_text(o, size);
	} else if (shape < 85) {
		printf_(o, "Content-Type: multipart/alternative; boundary=\"alt-%u\"\n\n", i);
		printf_(o, "--alt-%u\nContent-Type: text/plain; charset=utf-8\n\n", i);
		put_text(o, size / 2);
		printf_(o, "--alt-%u\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>\n", i);
		put_text(o, size / 2);
		printf_(o, "</p></body></html>\n--alt-%u--\n", i);
	} else {
		static const char *const att[][2] = {
			{"application/pdf", "report.pdf"}, {"image/png", "photo.png"},
			{"text/csv", "data.csv"}, {"application/zip", "archive.zip"},
		};
		unsigned a = below(4);
		printf_(o, "Content-Type: multipart/mixed; boundary=\"mix-%u\"\n\n", i);
		printf_(o, "--mix-%u\nContent-Type: text/plain; charset=utf-8\n\n", i);
		put_text(o, 200 + size / 8);
		printf_(o, "--mix-%u\nContent-Type: %s; name=\"%s\"\n"
		           "Content-Disposition: attachment; filename=\"%s\"\n"
		           "Content-Transfer-Encoding: base64\n\n",
		        i, att[a][0], att[a][1], att[a][1]);
		put_base64_block(o, size);
		printf_(o, "--mix-%u--\n", i);
	}
}

static void mkdir_p(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		fprintf(stderr, "mailgen: mkdir %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mailgen MAILDIR COUNT [SEED]\n");
		return 2;
	}
	const char *dir = argv[1];
	char *end;
	unsigned long count = strtoul(argv[2], &end, 10);
	if (*end || count == 0 || count > 10000000) {
		fprintf(stderr, "mailgen: COUNT must be 1..10000000\n");
		return 2;
	}
	rng_state = argc == 4 ? strtoull(argv[3], NULL, 10) : 1;

	char path[4096];
	mkdir_p(dir);
	for (int k = 0; k < 3; k++) {
		snprintf(path, sizeof path, "%s/%s", dir, (const char *[]){"cur", "new", "tmp"}[k]);
		mkdir_p(path);
	}
	const char *to = "Bench User <bench@bench.example>";

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Dates spread over ten years up to 2025-01-01, in roughly increasing order
	 * with jitter, so the Date order is neither UID order nor INTERNALDATE order. */
	const time_t last = 1735689600, span = 10 * 365 * 86400L;
	const time_t first = last - span;
	struct out o = {0};
	unsigned long long total = 0;
	pid_t pid = getpid();
	for (unsigned long i = 0; i < count; i++) {
		time_t date = first + (time_t)((double)span * (double)i / (double)count);
		date += (time_t)below(3 * 86400) - 3 * 86400 / 2;
		o.len = 0;
		message(&o, (unsigned)i, date, to);
		size_t lines = 0;
		for (size_t k = 0; k < o.len; k++)
			lines += o.p[k] == '\n';

		unsigned fl = below(100);
		const char *flags = fl < 5 ? "FS" : fl < 13 ? "RS" : fl < 70 ? "S" : fl < 72 ? "F" : "";
		snprintf(path, sizeof path, "%s/cur/%lld.M%06luP%dQ%lu.bench,S=%zu,W=%zu:2,%s", dir,
		         (long long)date, i % 1000000, (int)pid, i, o.len, o.len + lines, flags);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, o.p, o.len) != (ssize_t)o.len) {
			fprintf(stderr, "mailgen: %s: %s\n", path, strerror(errno));
			return 1;
		}
		/* INTERNALDATE: delivered a little after the Date, sometimes days later */
		time_t received = date + 20 + (time_t)below(900);
		if (below(50) == 0)
			received += (time_t)below(14 * 86400);
		struct timespec ts[2] = {{received, 0}, {received, 0}};
		if (futimens(fd, ts) || close(fd)) {
			fprintf(stderr, "mailgen: %s: %s\n", path, strerror(errno));
			return 1;
		}
		total += o.len;
	}
	free(o.p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("mailgen: %lu messages, %.1f MB, in %.2f s\n", count, (double)total / 1e6, secs);
	return 0;
}
