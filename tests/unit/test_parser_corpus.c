/*
 * tests/unit/test_parser_corpus.c — the parser (suite parser, tests named
 * corpus_*) against real server output from ../shared/corpus/imap (third
 * party material, never edited): every transcript must tokenize without
 * error; malformed fragments must end in a result or a clean error. Skips
 * with a message when the corpus is absent, so the project's own tests
 * stand alone.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/base/buf.h"
#include "imap/parser.h"
#include "tests/support/corpus.h"
#include "tests/support/dump.h"

#define NEED_CORPUS(dir) TEST_NEED_CORPUS(dir, "imap")

/* Read a file, converting bare LF to CRLF as the corpus README says; add a
 * final CRLF when the file lacks one. */
static void read_crlf(const char *path, struct imap_buf *out)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	int c, prev = 0;
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n' && prev != '\r')
			imap_buf_putc(out, '\r');
		imap_buf_putc(out, (char)c);
		prev = c;
	}
	fclose(f);
	if (out->len && prev != '\n')
		imap_buf_puts(out, "\r\n");
}

/* Can this line start a server response? "* ", "+", or a tag and a status. */
static bool server_start(const char *line, size_t len)
{
	if (len >= 2 && (strncmp(line, "* ", 2) == 0 || line[0] == '+'))
		return true;
	const char *sp = memchr(line, ' ', len);
	if (!sp)
		return false;
	size_t rest = len - (size_t)(sp + 1 - line);
	return (rest >= 2 && (strncmp(sp + 1, "OK", 2) == 0 || strncmp(sp + 1, "NO", 2) == 0)) ||
	       (rest >= 3 && strncmp(sp + 1, "BAD", 3) == 0);
}

/* The RFC 3501 sample session holds both sides (and the FETCH literal a
 * second time as the client saw it). Take the server's responses: lines
 * that start one, plus whatever their literals need. Returns the number
 * of responses, or -1 after reporting a parse error. */
static int parse_server_side(const char *name, const char *data, size_t len)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t pos = 0;
	int count = 0;
	bool inside = false;
	while (pos < len) {
		const char *eol = memchr(data + pos, '\n', len - pos);
		size_t end = eol ? (size_t)(eol - data) + 1 : len;
		if (inside || server_start(data + pos, end - pos)) {
			size_t used = 0;
			enum imap_parse_result r = imap_parser_feed(p, data + pos, end - pos, &used);
			if (r == IMAP_PARSE_ERROR) {
				cr_expect_fail("%s: %s", name, imap_parser_error(p));
				count = -1;
				break;
			}
			inside = r == IMAP_PARSE_NEED_MORE;
			count += r == IMAP_PARSE_DONE;
			if (r == IMAP_PARSE_DONE && used < end - pos) {
				end = pos + used;  /* a literal ended mid-line: go on from there */
				inside = false;
			}
		}
		pos = end;
	}
	imap_parser_free(&p);
	return count;
}

/* Parse all of buf; on failure report the file and what went wrong. */
static void expect_clean(const char *name, const char *data, size_t len, size_t chunk)
{
	char *got = test_parse_all(data, len, chunk, NULL);
	bool bad = strstr(got, "ERROR: ") || strstr(got, "NEED_MORE");
	cr_expect(!bad, "%s (chunk %zu): %s", name, chunk,
	          strstr(got, "ERROR") ? strstr(got, "ERROR") : "input ended mid-response");
	free(got);
}

Test(parser, corpus_server_transcripts_tokenize)
{
	NEED_CORPUS(dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		bool transcript = strncmp(n, "mkit-", 5) == 0 && strstr(n, ".txt") &&
		                  strncmp(n, "mkit-ImapUtilsTests-", 20) != 0;
		bool rfc = strcmp(n, "ic-rfc3501-transcript.txt") == 0;
		if (!transcript && !rfc)
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, n);
		struct imap_buf in;
		imap_buf_init(&in, 0);
		read_crlf(path, &in);
		if (rfc) {
			/* 16 server responses in RFC 3501 §8 */
			int got = parse_server_side(n, in.data, in.len);
			cr_expect_eq(got, 16, "%s: %d responses", n, got);
		} else {
			expect_clean(n, in.data, in.len, 0);
			expect_clean(n, in.data, in.len, 1);
			expect_clean(n, in.data, in.len, 13);
		}
		imap_buf_free(&in);
		files++;
	}
	closedir(d);
	cr_assert_gt(files, 60, "only %d transcripts found in %s", files, dir);
}

/* Real-world malformed ENVELOPE / BODYSTRUCTURE / flag lists, wrapped in a
 * FETCH response: they must parse (they are odd, not broken framing), and
 * the same way byte by byte. */
Test(parser, corpus_malformed_fragments)
{
	NEED_CORPUS(dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "mkit-ImapUtilsTests-", 20) != 0)
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct imap_buf raw, in;
		imap_buf_init(&raw, 0);
		imap_buf_init(&in, 0);
		read_crlf(path, &raw);
		while (raw.len && (raw.data[raw.len - 1] == '\n' || raw.data[raw.len - 1] == '\r' ||
		                   raw.data[raw.len - 1] == ' '))
			raw.len--;
		imap_buf_puts(&in, "* 1 FETCH (X ");
		imap_buf_append(&in, raw.data, raw.len);
		imap_buf_puts(&in, ")\r\n");
		char *whole = test_parse_all(in.data, in.len, 0, NULL);
		char *bytes = test_parse_all(in.data, in.len, 1, NULL);
		cr_expect_str_eq(whole, bytes, "%s", e->d_name);
		cr_expect(strncmp(whole, "* 1 FETCH (X ", 13) == 0, "%s: %s", e->d_name, whole);
		free(whole);
		free(bytes);
		imap_buf_free(&raw);
		imap_buf_free(&in);
		files++;
	}
	closedir(d);
	cr_assert_gt(files, 10);
}

/* Dovecot's expected BODYSTRUCTURE / BODY / ENVELOPE strings. */
Test(parser, corpus_dovecot_expected_structures)
{
	NEED_CORPUS(dir);
	DIR *d = opendir(dir);
	struct dirent *e;
	int lines = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "dc-", 3) != 0 || !strstr(e->d_name, ".expected.txt"))
			continue;
		char path[8192];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, f)) > 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			if (n == 0)
				continue;
			/* "BODYSTRUCTURE <value>" or "ENVELOPE <value>" */
			struct imap_buf in;
			imap_buf_init(&in, 0);
			imap_buf_printf(&in, "* 1 FETCH (%s)\r\n", line);
			char *got = test_parse_all(in.data, in.len, 1, NULL);
			cr_expect(strncmp(got, "* 1 FETCH (", 11) == 0, "%s: %s", e->d_name, got);
			free(got);
			imap_buf_free(&in);
			lines++;
		}
		free(line);
		fclose(f);
	}
	closedir(d);
	cr_assert_gt(lines, 5);
}

/* tokio-imap's response-line vectors: incomplete ones need more input,
 * the ones that source calls errors may be accepted leniently or refused,
 * everything else parses into exactly one response. */
Test(parser, corpus_response_line_vectors)
{
	NEED_CORPUS(dir);
	char path[8192];
	snprintf(path, sizeof path, "%s/ti-imap-proto-parser-tests.vectors.json", dir);
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	cr_assert_not_null(root, "%s: %s", path, jerr.text);
	json_t *vectors = json_object_get(root, "vectors");
	size_t i;
	json_t *v;
	json_array_foreach(vectors, i, v) {
		const char *in = json_string_value(json_object_get(v, "input"));
		const char *expect = json_string_value(json_object_get(v, "expect"));
		size_t len = json_string_length(json_object_get(v, "input"));
		char *whole = test_parse_all(in, len, 0, NULL);
		char *bytes = test_parse_all(in, len, 1, NULL);
		cr_expect_str_eq(whole, bytes, "vector %zu", i);
		if (strncmp(expect, "incomplete", 10) == 0)
			cr_expect(strstr(whole, "NEED_MORE") != NULL, "vector %zu: %s", i, whole);
		else if (strncmp(expect, "error", 5) != 0)
			cr_expect(!strstr(whole, "ERROR") && !strstr(whole, "NEED_MORE") &&
			          !strchr(whole, '\n'),
			          "vector %zu (%s): %s", i, expect, whole);
		free(whole);
		free(bytes);
	}
	cr_assert_gt(json_array_size(vectors), 30);
	json_decref(root);
}
