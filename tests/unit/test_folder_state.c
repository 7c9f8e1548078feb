/*
 * Folder ids and folder-list state tokens (api/folder_state.c): round
 * trips, what a digest notices, the size cap, and hostile tokens (400).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/render.h"
#include "imap/folders.h"

/* Paths live as long as the test: string literals copied here. */
static char paths[16][32];
static size_t npaths;

static struct imap_folder folder(const char *path, uint32_t messages, uint32_t uidvalidity)
{
	char *p = paths[npaths++ % 16];
	snprintf(p, sizeof paths[0], "%s", path);
	return (struct imap_folder){.path = p, .selectable = true, .has_status = true,
	                            .messages = messages, .unseen = 0, .uidnext = messages + 1,
	                            .uidvalidity = uidvalidity};
}

static bool decodes(const char *token, struct api_folder_set *out)
{
	struct api_response resp;
	api_response_init(&resp);
	bool ok = api_folder_set_decode(token, out, &resp);
	if (!ok)
		cr_expect_eq(resp.status, 400, "%s: a refused state is a 400", token ? token : "(null)");
	api_response_free(&resp);
	return ok;
}

static char *token_of(struct imap_folder *v, size_t n, bool counts, unsigned max)
{
	struct imap_folder_list l = {.v = v, .n = n};
	struct api_folder_set s;
	cr_assert_eq(api_folder_set_of(&l, counts, &s), 0);
	char *t = api_folder_set_token(&s, max);
	cr_assert_not_null(t);
	api_folder_set_free(&s);
	return t;
}

Test(folder_state, ids)
{
	struct imap_folder a = folder("Archive/2024", 1, 7), b = folder("Archive/2025", 1, 7);
	struct imap_folder i1 = folder("INBOX", 1, 7), i2 = folder("inbox", 9, 8);
	char x[API_FOLDER_ID_LEN + 1], y[API_FOLDER_ID_LEN + 1];
	api_folder_id(&a, x);
	cr_expect_eq(strlen(x), API_FOLDER_ID_LEN);
	cr_expect_eq(strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	             API_FOLDER_ID_LEN, "base64url: %s", x);
	api_folder_id(&b, y);
	cr_expect_str_neq(x, y, "another path, another id");
	a.messages = 99;
	api_folder_id(&a, y);
	cr_expect_str_eq(x, y, "the counts are not part of the id");
	api_folder_id(&i1, x);
	api_folder_id(&i2, y);
	cr_expect_str_eq(x, y, "INBOX however it is spelt");
}

Test(folder_state, round_trip_and_digest)
{
	struct imap_folder v[] = {folder("INBOX", 3, 1), folder("Sent", 0, 2), folder("Zeta", 5, 3)};
	char *t = token_of(v, 3, true, 500);
	struct api_folder_set s;
	cr_assert(decodes(t, &s), "%s", t);
	cr_expect(s.counts && s.whole);
	cr_expect_eq(s.n, 3);
	for (size_t i = 1; i < s.n; i++)
		cr_expect_lt(s.v[i - 1].id, s.v[i].id, "ascending ids");
	/* the same list gives the same token; a changed count another one */
	char *again = token_of(v, 3, true, 500);
	cr_expect_str_eq(t, again);
	v[1].unseen = 1;
	char *changed = token_of(v, 3, true, 500);
	cr_expect_str_neq(t, changed);
	v[1].unseen = 0;
	v[1].subscribed = true;
	char *subscribed = token_of(v, 3, true, 500);
	cr_expect_str_neq(t, subscribed, "the subscription is part of the digest");
	/* without counts the digests are 0 */
	char *plain = token_of(v, 3, false, 500);
	struct api_folder_set p;
	cr_assert(decodes(plain, &p));
	cr_expect(!p.counts && p.whole);
	for (size_t i = 0; i < p.n; i++)
		cr_expect_eq(p.v[i].digest, 0);
	api_folder_set_free(&s);
	api_folder_set_free(&p);
	free(t);
	free(again);
	free(changed);
	free(subscribed);
	free(plain);
}

Test(folder_state, beyond_the_cap_only_the_digest)
{
	struct imap_folder v[] = {folder("INBOX", 3, 1), folder("Sent", 0, 2), folder("Zeta", 5, 3)};
	char *whole = token_of(v, 3, true, 3), *cut = token_of(v, 3, true, 2);
	cr_expect_gt(strlen(whole), strlen(cut));
	cr_expect_eq(strlen(cut), 19, "14 bytes: %s", cut);
	struct api_folder_set s, w;
	cr_assert(decodes(cut, &s));
	cr_assert(decodes(whole, &w));
	cr_expect(!s.whole && s.n == 3 && s.digest == w.digest);
	api_folder_set_free(&s);
	api_folder_set_free(&w);
	free(whole);
	free(cut);
	/* an empty list is a state too */
	char *none = token_of(NULL, 0, true, 500);
	cr_assert(decodes(none, &s));
	cr_expect_eq(s.n, 0);
	api_folder_set_free(&s);
	free(none);
}

Test(folder_state, hostile_tokens_are_refused)
{
	struct imap_folder v[] = {folder("INBOX", 3, 1), folder("Sent", 0, 2), folder("Zeta", 5, 3)};
	char *good = token_of(v, 3, true, 500);
	size_t len = strlen(good);
	struct api_folder_set s;
	cr_expect_not(decodes(NULL, &s));
	cr_expect_not(decodes("", &s));
	/* a message state (version 1) is not a folder-list state */
	cr_expect_not(decodes("AWsV4ncAAAADAAAAAgAAAAAAAAADbOvkTA", &s));
	char *t = malloc(len + 8);
	/* cut short by one character and by one pair, one too many, padding */
	snprintf(t, len + 8, "%.*s", (int)len - 1, good);
	cr_expect_not(decodes(t, &s));
	snprintf(t, len + 8, "%.*s", (int)len - 14, good);
	cr_expect_not(decodes(t, &s));
	snprintf(t, len + 8, "%sA", good);
	cr_expect_not(decodes(t, &s));
	snprintf(t, len + 8, "%s==", good);
	cr_expect_not(decodes(t, &s));
	/* every single character changed: refused (the digest no longer fits)
	 * or, where it still decodes, a well-formed set; never a crash */
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. ";
	unsigned accepted = 0;
	for (size_t i = 0; i < len; i++)
		for (const char *c = alphabet; *c; c++) {
			if (*c == good[i])
				continue;
			memcpy(t, good, len + 1);
			t[i] = *c;
			if (decodes(t, &s)) {
				accepted++;
				cr_expect(!s.whole || s.n == 3);
				api_folder_set_free(&s);
			}
		}
	cr_expect_eq(accepted, 0, "no mutation of a token decodes");
	/* a count far beyond what the length holds */
	char *big = malloc(200001);
	memset(big, 'A', 200000);
	big[200000] = '\0';
	cr_expect_not(decodes(big, &s));
	free(big);
	free(t);
	free(good);
}
