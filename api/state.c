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

void api_put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

uint64_t api_get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

void api_b64url(const unsigned char *raw, size_t n, char *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= raw[i + 2];
		size_t chars = n - i >= 3 ? 4 : (n - i) + 1;
		for (size_t c = 0; c < chars; c++)
			out[k++] = alphabet[(v >> (18 - 6 * c)) & 63];
	}
	out[k] = '\0';
}

size_t api_b64url_decode(const char *s, size_t len, unsigned char *out)
{
	uint32_t acc = 0;
	size_t bits = 0, n = 0;
	for (size_t i = 0; i < len; i++) {
		const char *at = s[i] ? strchr(alphabet, s[i]) : NULL;
		if (!at)
			return SIZE_MAX;
		acc = acc << 6 | (uint32_t)(at - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc == 0 && len % 4 != 1 ? n : SIZE_MAX;
}

void api_state_encode(const struct imap_state *st, const char *folder,
                      char out[API_STATE_LEN + 1])
{
	unsigned char raw[STATE_BYTES + 2] = {STATE_VERSION};
	api_put_be(raw + 1, st->uidvalidity, 4);
	api_put_be(raw + 5, st->uidnext, 4);
	api_put_be(raw + 9, st->exists, 4);
	api_put_be(raw + 13, st->modseq, 8);
	api_put_be(raw + 21, path_hash(folder), 4);
	api_b64url(raw, STATE_BYTES, out);
}

bool api_state_decode(const char *token, const char *folder, struct imap_state *out,
                      struct api_response *resp)
{
	static const char bad[] = "since is not a state this service issued";
	if (!token || strlen(token) != API_STATE_LEN)
		return api_bad(resp, bad);
	unsigned char raw[STATE_BYTES + 2] = {0};
	/* 34 characters carry 25 bytes and 4 bits that must be zero */
	if (api_b64url_decode(token, API_STATE_LEN, raw) != STATE_BYTES || raw[0] != STATE_VERSION)
		return api_bad(resp, bad);
	out->uidvalidity = (uint32_t)api_get_be(raw + 1, 4);
	out->uidnext = (uint32_t)api_get_be(raw + 5, 4);
	out->exists = (uint32_t)api_get_be(raw + 9, 4);
	out->modseq = api_get_be(raw + 13, 8);
	if (out->uidvalidity == 0 || out->uidnext == 0 ||
	    (out->exists != IMAP_STATE_EXISTS_UNKNOWN && out->exists >= out->uidnext))
		return api_bad(resp, bad);
	if ((uint32_t)api_get_be(raw + 21, 4) != path_hash(folder))
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
