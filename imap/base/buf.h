/*
 * imap/base/buf.h — a growable byte buffer with a hard maximum.
 *
 * Every buffer whose size a peer (IMAP server, HTTP client) can influence is
 * one of these, with `max` set from a named limit: growth past it fails with
 * IMAP_ERR_LIMIT instead of allocating. The contents are always followed by
 * a NUL byte (not counted in `len`) so text can be handed to C string
 * functions, but `len` is authoritative: data may contain NUL.
 */
#ifndef IMAPGW_IMAP_BASE_BUF_H
#define IMAPGW_IMAP_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct imap_buf {
	char *data;  /* owned; NULL until the first append */
	size_t len;  /* bytes in use */
	size_t cap;  /* bytes allocated, excluding the trailing NUL */
	size_t max;  /* hard limit on len; 0 means SIZE_MAX */
};

/* Initialise an empty buffer that may grow to `max` bytes (0: no limit). */
void imap_buf_init(struct imap_buf *b, size_t max);

/* Free the storage; the buffer is left empty and reusable. */
void imap_buf_free(struct imap_buf *b);

/* Forget the contents, keep the storage (and keep at most `keep` bytes of
 * it: a buffer that once held a huge response does not pin that memory). */
void imap_buf_reset(struct imap_buf *b, size_t keep);

/* Make room for `extra` more bytes. Returns 0, IMAP_ERR_LIMIT when len+extra
 * would pass max, or IMAP_ERR_NOMEM. */
int imap_buf_reserve(struct imap_buf *b, size_t extra);

/* Append bytes / a C string / one byte. Same returns as imap_buf_reserve. */
int imap_buf_append(struct imap_buf *b, const void *p, size_t n);
int imap_buf_puts(struct imap_buf *b, const char *s);
int imap_buf_putc(struct imap_buf *b, char c);

/* Append formatted text. Same returns as imap_buf_reserve. */
int imap_buf_printf(struct imap_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int imap_buf_vprintf(struct imap_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Shorten the contents to their first len bytes (len <= b->len), as when
 * undoing appends made since b->len was len. The storage is kept. */
void imap_buf_truncate(struct imap_buf *b, size_t len);

/* Remove the first n bytes (n <= len), moving the rest to the front. */
void imap_buf_consume(struct imap_buf *b, size_t n);

/* Take ownership of the contents as a NUL-terminated heap string (never
 * NULL: an empty buffer yields ""). The buffer is left empty. Returns NULL
 * only when out of memory. */
char *imap_buf_steal(struct imap_buf *b);

#endif
