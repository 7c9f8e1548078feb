/*
 * api/jsonw.h — a streaming JSON writer into an imap_buf, for hot paths
 * (a listing page): no tree, no per-field allocation, no key sorting.
 * Commas are placed automatically; the caller nests begin/end correctly.
 * Strings must be UTF-8; invalid bytes are replaced so the output is
 * always valid JSON.
 */
#ifndef IMAPGW_API_JSONW_H
#define IMAPGW_API_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/base/buf.h"

/* Nesting of an answer: a folder tree (api/folders.c, TREE_DEPTH_MAX
 * levels of object and children array) is the deepest. */
#define JSONW_DEPTH_MAX 72

struct jsonw {
	struct imap_buf *out;
	unsigned depth;
	bool first[JSONW_DEPTH_MAX]; /* nothing written yet at this level */
	bool after_key;
};

void jsonw_init(struct jsonw *w, struct imap_buf *out);

void jsonw_object(struct jsonw *w);   /* { */
void jsonw_array(struct jsonw *w);    /* [ */
void jsonw_end_object(struct jsonw *w);
void jsonw_end_array(struct jsonw *w);

/* "key": (key is a trusted ASCII literal: not escaped) */
void jsonw_key(struct jsonw *w, const char *key);
/* A key from elsewhere (a server's text): escaped as a string is. */
void jsonw_key_text(struct jsonw *w, const char *key);

void jsonw_string(struct jsonw *w, const char *s);  /* NULL writes null */
void jsonw_stringn(struct jsonw *w, const char *s, size_t len);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

#endif
