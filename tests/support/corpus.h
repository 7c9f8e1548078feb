/*
 * tests/support/corpus.h — where the third-party corpus is, for tests that
 * use it ($IMAPGW_CORPUS, else ../shared/corpus). Those tests skip with a
 * message when it is absent, so the project's own tests stand alone.
 */
#ifndef IMAPGW_TESTS_CORPUS_H
#define IMAPGW_TESTS_CORPUS_H

#include <criterion/criterion.h>
#include <stdbool.h>

#include "imap/base/buf.h"

/* The path of the corpus subdirectory `sub` ("imap", "eml"), or NULL when
 * it does not exist. The path is kept until the next call. */
const char *test_corpus_dir(const char *sub);

/* The value of the first `name:` header of the message in path, appended
 * to out (without the line break that ends it): unfolded (line breaks
 * removed) when `unfold`, else as it stands in the file. Returns false when
 * the header is absent. Fails the test when the file cannot be read. */
bool test_corpus_header(const char *path, const char *name, bool unfold, struct imap_buf *out);

/* Declare `var` as the corpus subdirectory, or skip the test. */
#define TEST_NEED_CORPUS(var, sub)                                                     \
	const char *var = test_corpus_dir(sub);                                            \
	if (!var) {                                                                        \
		cr_skip_test("corpus not found (set IMAPGW_CORPUS); skipping corpus tests"); \
		return;                                                                        \
	}

#endif
