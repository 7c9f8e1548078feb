/*
 * imap/base/buf.c — growable byte buffer with a hard maximum. See buf.h.
 */
#include "imap/base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/error.h"

void imap_buf_init(struct imap_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX - 1;
}

void imap_buf_free(struct imap_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void imap_buf_reset(struct imap_buf *b, size_t keep)
{
	if (b->cap > keep) {
		size_t max = b->max;
		imap_buf_free(b);
		b->max = max;
		return;
	}
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int imap_buf_reserve(struct imap_buf *b, size_t extra)
{
	if (extra > b->max - b->len)
		return IMAP_ERR_LIMIT;
	size_t need = b->len + extra;
	if (need <= b->cap && b->data)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max)
		cap = b->max;
	char *p = realloc(b->data, cap + 1);
	if (!p)
		return IMAP_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int imap_buf_append(struct imap_buf *b, const void *p, size_t n)
{
	int rc = imap_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int imap_buf_puts(struct imap_buf *b, const char *s)
{
	return imap_buf_append(b, s, strlen(s));
}

int imap_buf_putc(struct imap_buf *b, char c)
{
	return imap_buf_append(b, &c, 1);
}

int imap_buf_vprintf(struct imap_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return IMAP_ERR_INVALID;
	if ((size_t)n < sizeof small)
		return imap_buf_append(b, small, (size_t)n);
	int rc = imap_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int imap_buf_printf(struct imap_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = imap_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void imap_buf_truncate(struct imap_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

void imap_buf_consume(struct imap_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

char *imap_buf_steal(struct imap_buf *b)
{
	char *p = b->data;
	if (!p) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
