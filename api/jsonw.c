/*
 * api/jsonw.c — streaming JSON writer. See jsonw.h.
 */
#include "api/jsonw.h"

#include <inttypes.h>
#include <string.h>

#include "imap/mail/charset.h"
#include "imap/mail/utf7.h"

void jsonw_init(struct jsonw *w, struct imap_buf *out)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	w->first[0] = true;
}

/* Before a value: a comma unless first at this level or right after a key. */
static void sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		imap_buf_putc(w->out, ',');
	w->first[w->depth] = false;
}

static void begin_container(struct jsonw *w, char c)
{
	sep(w);
	imap_buf_putc(w->out, c);
	if (w->depth + 1 < JSONW_DEPTH_MAX)
		w->depth++;
	w->first[w->depth] = true;
}

static void end_container(struct jsonw *w, char c)
{
	if (w->depth)
		w->depth--;
	imap_buf_putc(w->out, c);
}

void jsonw_object(struct jsonw *w) { begin_container(w, '{'); }
void jsonw_array(struct jsonw *w) { begin_container(w, '['); }
void jsonw_end_object(struct jsonw *w) { end_container(w, '}'); }
void jsonw_end_array(struct jsonw *w) { end_container(w, ']'); }

void jsonw_key(struct jsonw *w, const char *key)
{
	sep(w);
	imap_buf_putc(w->out, '"');
	imap_buf_puts(w->out, key);
	imap_buf_puts(w->out, "\":");
	w->after_key = true;
}

static void escaped(struct imap_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		imap_buf_append(out, s + run, i - run);
		run = i + 1;
		char esc[7] = {'\\', 0};
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			imap_buf_append(out, esc, 6);
			continue;
		}
		imap_buf_append(out, esc, 2);
	}
	imap_buf_append(out, s + run, len - run);
}

void jsonw_stringn(struct jsonw *w, const char *s, size_t len)
{
	sep(w);
	imap_buf_putc(w->out, '"');
	if (imap_utf8_validate(s, len) == 0) {
		escaped(w->out, s, len);
	} else {
		/* invalid bytes (or NUL) made readable, never dropped */
		struct imap_buf clean;
		imap_buf_init(&clean, 0);
		imap_utf8_sanitize(s, len, &clean);
		escaped(w->out, clean.data ? clean.data : "", clean.len);
		imap_buf_free(&clean);
	}
	imap_buf_putc(w->out, '"');
}

void jsonw_key_text(struct jsonw *w, const char *key)
{
	jsonw_stringn(w, key, strlen(key));
	imap_buf_putc(w->out, ':');
	w->after_key = true;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (!s)
		jsonw_null(w);
	else
		jsonw_stringn(w, s, strlen(s));
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	sep(w);
	imap_buf_printf(w->out, "%" PRId64, v);
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	sep(w);
	imap_buf_printf(w->out, "%" PRIu64, v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	sep(w);
	imap_buf_puts(w->out, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
	sep(w);
	imap_buf_puts(w->out, "null");
}
