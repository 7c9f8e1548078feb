/*
 * tests/support/corpus.c — locating the corpus. See corpus.h.
 */
#include "tests/support/corpus.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

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
