/*
 * server/log.c — JSON log lines. See log.h.
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/jsonw.h"
#include "imap/base/buf.h"

static enum log_level min_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

static _Thread_local const char *thread_request;

void log_set_thread_request(const char *req_id)
{
	thread_request = req_id;
}

const char *log_thread_request(void)
{
	return thread_request;
}

/* The line is written with the answers' JSON writer (api/jsonw.h): one
 * escaper for both, so a line stays valid UTF-8 JSON whatever bytes a
 * request path or a server's text held. Keys are literals of ours. */
static void begin(struct imap_buf *b, struct jsonw *w, enum log_level level,
                  const char *req_id, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char stamp[96];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         ts.tv_nsec / 1000000);
	imap_buf_init(b, 64 * 1024);
	jsonw_init(w, b);
	jsonw_object(w);
	jsonw_key(w, "ts");
	jsonw_string(w, stamp);
	jsonw_key(w, "level");
	jsonw_string(w, names[level]);
	if (req_id) {
		jsonw_key(w, "req");
		jsonw_string(w, req_id);
	}
	jsonw_key(w, "msg");
	jsonw_string(w, msg);
}

static void end(struct imap_buf *b, struct jsonw *w)
{
	jsonw_end_object(w);
	imap_buf_putc(b, '\n');
	if (b->data) {
		ssize_t n = write(STDERR_FILENO, b->data, b->len);
		(void)n;
	}
	imap_buf_free(b);
}

void log_event(enum log_level level, const char *req_id, const char *msg, ...)
{
	if (!log_enabled(level))
		return;
	struct imap_buf b;
	struct jsonw w;
	begin(&b, &w, level, req_id, msg);
	va_list ap;
	va_start(ap, msg);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		jsonw_key(&w, k);
		jsonw_string(&w, v ? v : "");
	}
	va_end(ap);
	end(&b, &w);
}

void log_fields(enum log_level level, const char *req_id, const char *msg,
                const struct log_field *f, size_t n)
{
	if (!log_enabled(level))
		return;
	struct imap_buf b;
	struct jsonw w;
	begin(&b, &w, level, req_id, msg);
	for (size_t i = 0; i < n; i++) {
		jsonw_key(&w, f[i].key);
		if (f[i].str)
			jsonw_string(&w, f[i].str);
		else
			jsonw_int(&w, f[i].num);
	}
	end(&b, &w);
}

void log_msgf(enum log_level level, const char *req_id, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(level, req_id, msg, (const char *)NULL);
}
