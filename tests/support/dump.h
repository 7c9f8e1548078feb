/*
 * tests/support/dump.h — render parsed IMAP responses as one canonical line,
 * so tests compare whole responses with one string assertion.
 *
 *   untagged data:  "* <values>"          values: ATOM "quoted" {n}literal NIL (list)
 *   status:         "<tag|*> OK [<code values>] text"
 *   continuation:   "+ text"
 */
#ifndef IMAPGW_TESTS_DUMP_H
#define IMAPGW_TESTS_DUMP_H

#include <stddef.h>

#include "imap/parser.h"

/* Render r into a new heap string (caller frees). */
char *test_dump_response(const struct imap_response *r);

/* Parse all of `in` (len bytes) feeding `chunk` bytes at a time (0: all at
 * once) with the given limits (NULL: defaults). Returns the dumps of every
 * response joined by "\n", or "ERROR: <message>" appended at the point a
 * parse error happened, or "... NEED_MORE" when input ended mid-response.
 * Caller frees. */
char *test_parse_all(const char *in, size_t len, size_t chunk,
                     const struct imap_parser_limits *limits);

#endif
