/*
 * tests/support/corpus.c — locating the corpus. See corpus.h.
 */
#include "tests/support/corpus.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *test_corpus_dir(const char *sub)
{
	static char path[4096];
	const char *root = getenv("IMAPGW_CORPUS");
	snprintf(path, sizeof path, "%s/%s", root ? root : "../shared/corpus", sub);
	DIR *d = opendir(path);
	if (!d)
		return NULL;
	closedir(d);
	return path;
}

bool test_corpus_header(const char *path, const char *name, bool unfold, struct imap_buf *out)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	struct imap_buf all;
	imap_buf_init(&all, 1 << 24);
	char chunk[8192];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		cr_assert_eq(imap_buf_append(&all, chunk, got), 0);
	fclose(f);

	size_t nlen = strlen(name), pos = 0, n = all.len;
	const char *s = all.data ? all.data : "";
	bool found = false;
	while (pos < n) {
		const char *eol = memchr(s + pos, '\n', n - pos);
		size_t end = eol ? (size_t)(eol - s) + 1 : n;
		size_t text_end = end;
		while (text_end > pos && (s[text_end - 1] == '\n' || s[text_end - 1] == '\r'))
			text_end--;
		if (text_end == pos)
			break; /* end of the header */
		bool cont = s[pos] == ' ' || s[pos] == '\t';
		if (found && cont) {
			if (!unfold)
				cr_assert_eq(imap_buf_append(out, "\r\n", 2), 0);
			cr_assert_eq(imap_buf_append(out, s + pos, text_end - pos), 0);
		} else if (found) {
			break;
		} else if (!cont && text_end - pos > nlen && strncasecmp(s + pos, name, nlen) == 0 &&
			   s[pos + nlen] == ':') {
			size_t v = pos + nlen + 1;
			while (v < text_end && (s[v] == ' ' || s[v] == '\t'))
				v++;
			cr_assert_eq(imap_buf_append(out, s + v, text_end - v), 0);
			found = true;
		}
		pos = end;
	}
	imap_buf_free(&all);
	return found;
}
