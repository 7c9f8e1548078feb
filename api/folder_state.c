/*
 * api/folder_state.c — folder ids and the change state of a folder list.
 *
 * A folder's id is 8 base64url characters: 48 bits of an FNV-1a hash of
 * its path (INBOX however it is spelt). A renamed folder is another id.
 *
 * A folder-list state is opaque to clients: base64url (no padding) of
 *   version (1 byte, 2: a message state's version is 1)
 *   flags   (1 byte: COUNTS, the digests hold counts; WHOLE, the pairs follow)
 *   n       (4 bytes, the folders listed)
 *   digest  (8 bytes, of the flags and all pairs: the whole list at once)
 *   n pairs, with WHOLE only: id (6 bytes), digest of the folder (4 bytes),
 *   ascending by id, no id twice.
 * Numbers are big-endian. A list of more than the configured number of
 * folders leaves the pairs out (no WHOLE): changes from it are told only
 * when there are none. The folder digest covers UIDVALIDITY, UIDNEXT,
 * MESSAGES, UNSEEN, HIGHESTMODSEQ, the subscription, selectability and
 * special use; without COUNTS it is 0 and every folder kept counts as
 * updated. Anything else is a 400.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/render.h"
#include "imap/folders.h"

#define LIST_VERSION 2
#define FLAG_COUNTS 0x01
#define FLAG_WHOLE 0x02
#define HEAD_BYTES 14
#define PAIR_BYTES 10
#define ID_BITS 48
#define LISTED_MAX 100000u  /* pairs a token may hold at all (--folder-state-max's top) */


#define FNV_START 14695981039346656037ull

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	return fnv(h, b, sizeof b);
}

static uint64_t folder_id(const struct imap_folder *f)
{
	const char *p = strcasecmp(f->path, "INBOX") == 0 ? "INBOX" : f->path;
	return fnv(FNV_START, p, strlen(p)) >> (64 - ID_BITS);
}

static uint32_t folder_digest(const struct imap_folder *f)
{
	uint64_t h = FNV_START;
	if (f->has_status) {
		h = fnv_u64(h, f->uidvalidity);
		h = fnv_u64(h, f->uidnext);
		h = fnv_u64(h, f->messages);
		h = fnv_u64(h, f->unseen);
		h = fnv_u64(h, f->highestmodseq);
	}
	unsigned char bits = (unsigned char)(f->has_status | f->subscribed << 1 | f->selectable << 2);
	h = fnv(h, &bits, 1);
	if (f->special_use)
		h = fnv(h, f->special_use, strlen(f->special_use));
	return (uint32_t)(h ^ h >> 32);
}


void api_folder_id(const struct imap_folder *f, char out[API_FOLDER_ID_LEN + 1])
{
	unsigned char raw[6];
	api_put_be(raw, folder_id(f), 6);
	api_b64url(raw, sizeof raw, out);
}

static void id_text(uint64_t id, char out[API_FOLDER_ID_LEN + 1])
{
	unsigned char raw[6];
	api_put_be(raw, id, 6);
	api_b64url(raw, sizeof raw, out);
}

static int by_id(const void *a, const void *b)
{
	const struct api_folder_entry *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The entries of l, ascending by id; folders of one id (a hash collision)
 * are one entry of their combined digests. */
static int entries_of(const struct imap_folder_list *l, bool counts, struct api_folder_set *out)
{
	memset(out, 0, sizeof *out);
	out->counts = counts;
	out->v = malloc((l->n ? l->n : 1) * sizeof *out->v);
	if (!out->v)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		out->v[i] = (struct api_folder_entry){.id = folder_id(&l->v[i]),
		                                      .digest = counts ? folder_digest(&l->v[i]) : 0,
		                                      .folder = i};
	qsort(out->v, l->n, sizeof *out->v, by_id);
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (n && out->v[n - 1].id == out->v[i].id) {
			/* the same path listed twice, or two paths of one hash */
			out->v[n - 1].digest = out->v[n - 1].digest * 31u + out->v[i].digest;
			continue;
		}
		out->v[n++] = out->v[i];
	}
	out->n = n;
	out->whole = true;
	unsigned char head = (unsigned char)(counts ? FLAG_COUNTS : 0);
	uint64_t h = fnv(FNV_START, &head, 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char pair[PAIR_BYTES];
		api_put_be(pair, out->v[i].id, 6);
		api_put_be(pair + 6, out->v[i].digest, 4);
		h = fnv(h, pair, sizeof pair);
	}
	out->digest = h;
	return 0;
}

int api_folder_set_of(const struct imap_folder_list *l, bool counts, struct api_folder_set *out)
{
	return entries_of(l, counts, out);
}

void api_folder_set_free(struct api_folder_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

char *api_folder_set_token(const struct api_folder_set *s, unsigned listed_max)
{
	bool whole = s->n <= listed_max;
	size_t bytes = HEAD_BYTES + (whole ? s->n * PAIR_BYTES : 0);
	unsigned char *raw = malloc(bytes);
	char *out = malloc((bytes + 2) / 3 * 4 + 1);
	if (!raw || !out) {
		free(raw);
		free(out);
		return NULL;
	}
	raw[0] = LIST_VERSION;
	raw[1] = (unsigned char)((s->counts ? FLAG_COUNTS : 0) | (whole ? FLAG_WHOLE : 0));
	api_put_be(raw + 2, s->n, 4);
	api_put_be(raw + 6, s->digest, 8);
	for (size_t i = 0; whole && i < s->n; i++) {
		api_put_be(raw + HEAD_BYTES + i * PAIR_BYTES, s->v[i].id, 6);
		api_put_be(raw + HEAD_BYTES + i * PAIR_BYTES + 6, s->v[i].digest, 4);
	}
	api_b64url(raw, bytes, out);
	free(raw);
	return out;
}

bool api_folder_set_decode(const char *token, struct api_folder_set *out,
                           struct api_response *resp)
{
	static const char bad[] = "since is not a folder-list state this service issued";
	memset(out, 0, sizeof *out);
	size_t len = token ? strlen(token) : 0;
	size_t max_chars = ((size_t)HEAD_BYTES + (size_t)LISTED_MAX * PAIR_BYTES + 2) / 3 * 4;
	if (len < (HEAD_BYTES * 4 + 2) / 3 || len > max_chars || len % 4 == 1)
		return api_bad(resp, bad);
	size_t bytes = len * 6 / 8;
	unsigned char *raw = malloc(bytes);
	if (!raw) {
		api_fail(resp, API_ERR_BUSY, "out of memory");
		return false;
	}
	size_t n = api_b64url_decode(token, len, raw);
	uint32_t count = n != SIZE_MAX && n >= HEAD_BYTES ? (uint32_t)api_get_be(raw + 2, 4) : 0;
	bool whole = n != SIZE_MAX && n >= HEAD_BYTES && (raw[1] & FLAG_WHOLE);
	if (n == SIZE_MAX || n < HEAD_BYTES || raw[0] != LIST_VERSION ||
	    (raw[1] & ~(FLAG_COUNTS | FLAG_WHOLE)) || (whole && count > LISTED_MAX) ||
	    n != HEAD_BYTES + (whole ? (size_t)count * PAIR_BYTES : 0)) {
		free(raw);
		return api_bad(resp, bad);
	}
	out->counts = raw[1] & FLAG_COUNTS;
	out->whole = whole;
	out->n = count;
	out->digest = api_get_be(raw + 6, 8);
	if (whole) {
		out->v = malloc((count ? count : 1) * sizeof *out->v);
		if (!out->v) {
			free(raw);
			api_fail(resp, API_ERR_BUSY, "out of memory");
			return false;
		}
		unsigned char head = raw[1] & FLAG_COUNTS;
		uint64_t h = fnv(FNV_START, &head, 1);
		for (size_t i = 0; i < count; i++) {
			const unsigned char *p = raw + HEAD_BYTES + i * PAIR_BYTES;
			out->v[i] = (struct api_folder_entry){.id = api_get_be(p, 6),
			                                      .digest = (uint32_t)api_get_be(p + 6, 4)};
			h = fnv(h, p, PAIR_BYTES);
		}
		bool ascending = true;
		for (size_t i = 1; i < count; i++)
			ascending = ascending && out->v[i - 1].id < out->v[i].id;
		if (!ascending || h != out->digest) {
			free(raw);
			api_folder_set_free(out);
			return api_bad(resp, bad);
		}
	}
	free(raw);
	return true;
}

void api_render_folder_list_state(struct jsonw *w, const struct imap_folder_list *l, bool counts)
{
	const struct api_config *cfg = api_config();
	struct api_folder_set s;
	char *token = NULL;
	if (entries_of(l, counts, &s) == 0)
		token = api_folder_set_token(&s, cfg->folder_state_max ? cfg->folder_state_max : 500);
	api_folder_set_free(&s);
	jsonw_key(w, "state");
	jsonw_string(w, token);  /* null only when out of memory */
	free(token);
}

void api_render_folder_id_of(struct jsonw *w, uint64_t id)
{
	char text[API_FOLDER_ID_LEN + 1];
	id_text(id, text);
	jsonw_string(w, text);
}
