/*
 * api/state.c — the change state token of a folder, as clients see it.
 *
 * Opaque to clients: base64url (RFC 4648 §5, no padding) of 25 bytes, all
 * numbers big-endian: a version (1), UIDVALIDITY, UIDNEXT, the message
 * count (0xffffffff: unknown) and HIGHESTMODSEQ of the folder, and a hash
 * of the folder's path, so a state given for another folder is refused
 * instead of answered wrongly. Anything else is a 400.
 */
#include <string.h>
#include <strings.h>

#include "api/render.h"
#include "imap/changes.h"

#define STATE_VERSION 1
#define STATE_BYTES 25

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* FNV-1a of the path; INBOX is one folder however it is spelt. */
static uint32_t path_hash(const char *folder)
{
	const char *p = strcasecmp(folder, "INBOX") == 0 ? "INBOX" : folder;
	uint32_t h = 2166136261u;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

void api_state_encode(const struct imap_state *st, const char *folder,
                      char out[API_STATE_LEN + 1])
{
	unsigned char raw[STATE_BYTES + 2] = {STATE_VERSION};
	put_be(raw + 1, st->uidvalidity, 4);
	put_be(raw + 5, st->uidnext, 4);
	put_be(raw + 9, st->exists, 4);
	put_be(raw + 13, st->modseq, 8);
	put_be(raw + 21, path_hash(folder), 4);
	size_t k = 0;
	for (size_t i = 0; i < STATE_BYTES; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
		size_t chars = STATE_BYTES - i >= 3 ? 4 : (STATE_BYTES - i) + 1;
		for (size_t c = 0; c < chars; c++)
			out[k++] = alphabet[(v >> (18 - 6 * c)) & 63];
	}
	out[k] = '\0';
}

bool api_state_decode(const char *token, const char *folder, struct imap_state *out,
                      struct api_response *resp)
{
	static const char bad[] = "since is not a state this service issued";
	if (!token || strlen(token) != API_STATE_LEN)
		return api_bad(resp, bad);
	unsigned char raw[STATE_BYTES + 2] = {0};
	uint32_t acc = 0;
	size_t bits = 0, n = 0;
	for (size_t i = 0; i < API_STATE_LEN; i++) {
		const char *at = token[i] ? strchr(alphabet, token[i]) : NULL;
		if (!at)
			return api_bad(resp, bad);
		acc = acc << 6 | (uint32_t)(at - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* 34 characters carry 25 bytes and 4 bits that must be zero */
	if (n != STATE_BYTES || acc != 0 || raw[0] != STATE_VERSION)
		return api_bad(resp, bad);
	out->uidvalidity = (uint32_t)get_be(raw + 1, 4);
	out->uidnext = (uint32_t)get_be(raw + 5, 4);
	out->exists = (uint32_t)get_be(raw + 9, 4);
	out->modseq = get_be(raw + 13, 8);
	if (out->uidvalidity == 0 || out->uidnext == 0 ||
	    (out->exists != IMAP_STATE_EXISTS_UNKNOWN && out->exists >= out->uidnext))
		return api_bad(resp, bad);
	if ((uint32_t)get_be(raw + 21, 4) != path_hash(folder))
		return api_bad(resp, "since is a state of another folder");
	return true;
}

void api_render_state(struct jsonw *w, const struct imap_state *st, const char *folder)
{
	char token[API_STATE_LEN + 1];
	api_state_encode(st, folder, token);
	jsonw_key(w, "state");
	jsonw_string(w, token);
}
