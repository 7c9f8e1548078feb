/*
 * server/log.c — JSON log lines. See log.h.
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Append s as the contents of a JSON string (control bytes escaped). */
static void json_escape(struct imap_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			imap_buf_putc(b, '\\');
			imap_buf_putc(b, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			imap_buf_printf(b, "\\u%04x", c);
		} else {
			imap_buf_putc(b, (char)c);
		}
	}
}

static void begin(struct imap_buf *b, enum log_level level, const char *req_id)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	imap_buf_printf(b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
	                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
	if (req_id) {
		imap_buf_puts(b, ",\"req\":\"");
		json_escape(b, req_id);
		imap_buf_putc(b, '"');
	}
}

static void end(struct imap_buf *b)
{
	imap_buf_puts(b, "}\n");
	if (b->data) {
		ssize_t w = write(STDERR_FILENO, b->data, b->len);
		(void)w;
	}
	imap_buf_free(b);
}

void log_event(enum log_level level, const char *req_id, const char *msg, ...)
{
	if (!log_enabled(level))
		return;
	struct imap_buf b;
	imap_buf_init(&b, 64 * 1024);
	begin(&b, level, req_id);
	imap_buf_puts(&b, ",\"msg\":\"");
	json_escape(&b, msg);
	imap_buf_putc(&b, '"');
	va_list ap;
	va_start(ap, msg);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		imap_buf_puts(&b, ",\"");
		json_escape(&b, k);
		imap_buf_puts(&b, "\":\"");
		json_escape(&b, v ? v : "");
		imap_buf_putc(&b, '"');
	}
	va_end(ap);
	end(&b);
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
