/*
 * server/log.h — one JSON object per line on stderr:
 *   {"ts":"2026-11-21T23:53:38.123Z","level":"info","req":"7f3a…","msg":"…", …}
 * Strings are written by api/jsonw.h, as in answers: invalid UTF-8 is
 * replaced, control bytes escaped. Thread-safe (one write() per line). Callers never pass secrets; the IMAP
 * trace hook receives already redacted text.
 */
#ifndef IMAPGW_SERVER_LOG_H
#define IMAPGW_SERVER_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parse "debug|info|warn|error". Returns the level or -1. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

/* Log msg with optional request id (NULL: none) and extra JSON members
 * given as "key", "value" string pairs ending with NULL. Values are escaped. */
void log_event(enum log_level level, const char *req_id, const char *msg, ...)
	__attribute__((sentinel));

/* The request the calling thread works for (NULL: none), for lines that
 * name no request themselves (the IMAP trace). The string is borrowed
 * until the next call on this thread. */
void log_set_thread_request(const char *req_id);
const char *log_thread_request(void);

/* A member of a log line: a string (str not NULL) or a JSON number. */
struct log_field {
	const char *key;   /* a literal: not escaped */
	const char *str;   /* NULL: the member is num */
	long long num;
};

/* Log msg with the members f[0..n). */
void log_fields(enum log_level level, const char *req_id, const char *msg,
                const struct log_field *f, size_t n);

/* printf-style message with no extra members. */
void log_msgf(enum log_level level, const char *req_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
