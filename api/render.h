/*
 * api/render.h — JSON pieces of answers that several routes share,
 * written with api/jsonw.h (internal to api/). Handlers use these and
 * never each other's code.
 */
#ifndef IMAPGW_API_RENDER_H
#define IMAPGW_API_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/jsonw.h"

struct imap_summary;
struct imap_address_list;
struct imap_folder;
struct imap_folder_list;
struct imap_state;

/* Start a JSON answer: status, Content-Type application/json, an empty
 * body, and *w writing into it. */
void api_reply_json(struct api_response *resp, int status, struct jsonw *w);

/* Append v URL-encoded (RFC 3986 unreserved characters kept) to b. */
void api_url_encode(struct imap_buf *b, const char *v);

/* "key": v, or null when v is 0 (a UID or UIDVALIDITY the server did not
 * say). */
void api_render_uid(struct jsonw *w, const char *key, uint32_t v);

/* The two lists of a bulk answer: "messages", an object per item found
 * with its "uid" and the members fields() writes, and "not_found", the
 * UIDs of the others. at() tells item i's UID and whether it was found. */
struct api_bulk_item {
	uint32_t uid;
	bool found;
};
typedef struct api_bulk_item api_bulk_at(const void *items, size_t i);
typedef void api_bulk_fields(struct jsonw *w, const void *items, size_t i);
void api_render_bulk(struct jsonw *w, const void *items, size_t n, api_bulk_at *at,
                     api_bulk_fields *fields);

/* A message summary (schema MessageSummary), as an object or as members
 * only (for answers that add their own). */
void api_render_summary(struct jsonw *w, const struct imap_summary *m);
void api_render_summary_fields(struct jsonw *w, const struct imap_summary *m);

/* A message's thread_id (opaque): base64url of "m" and the id
 * imap_thread_root_id names (the first of References, In-Reply-To,
 * Message-ID: the conversation's first message), or of "u<uid>" for a
 * message with none of them. Appended to out. */
void api_thread_id(const struct imap_summary *m, struct imap_buf *out);

/* An RFC 3339 date-time of epoch at UTC offset tz (minutes), or null when
 * !ok or it cannot be written. */
void api_render_time(struct jsonw *w, bool ok, int64_t epoch, int tz);

struct imap_unsubscribe;
/* Parsed List-Unsubscribe (schema Unsubscribe), or null when it holds no
 * usable method. */
void api_render_unsubscribe(struct jsonw *w, const struct imap_unsubscribe *u);

/* One address: {"name","address"}; a list of them: [{"name","address"}...]. */
struct imap_address;
void api_render_address(struct jsonw *w, const struct imap_address *a);
void api_render_addresses(struct jsonw *w, const struct imap_address_list *l);

/* A folder as GET /folders shows it (schema Folder), with the four counts
 * when `counts`; as an object or as members only. */
void api_render_folder(struct jsonw *w, const struct imap_folder *f, bool counts);
void api_render_folder_fields(struct jsonw *w, const struct imap_folder *f, bool counts);

/* ---- change state tokens (api/state.c) ---- */

#define API_STATE_LEN 34  /* characters of a state token */

/* The token of state st of folder (as the client names it) into out. */
void api_state_encode(const struct imap_state *st, const char *folder,
                      char out[API_STATE_LEN + 1]);

/* The state in token, which must have been made for folder: true, or
 * false after a 400 in resp (NULL, malformed, forged numbers, another
 * folder's). */
bool api_state_decode(const char *token, const char *folder, struct imap_state *out,
                      struct api_response *resp);

/* base64url without padding of raw[0..n) into out (4 characters per 3
 * bytes, and a NUL) (api/state.c). */
void api_b64url(const unsigned char *raw, size_t n, char *out);

/* The bytes of base64url s[0..len) (no padding) into out (room for
 * len * 3 / 4): their number, or SIZE_MAX for a character outside the
 * alphabet, a length no encoding has, or trailing bits that are not 0. */
size_t api_b64url_decode(const char *s, size_t len, unsigned char *out);

/* Big-endian numbers of `bytes` bytes in tokens (api/state.c). */
void api_put_be(unsigned char *p, uint64_t v, int bytes);
uint64_t api_get_be(const unsigned char *p, int bytes);

/* "state": token. */
void api_render_state(struct jsonw *w, const struct imap_state *st, const char *folder);

/* ---- folder ids and folder-list states (api/folder_state.c) ---- */

#define API_FOLDER_ID_LEN 8  /* characters of a folder id */

/* The folder's id: the same for one path as long as the folder keeps it. */
void api_folder_id(const struct imap_folder *f, char out[API_FOLDER_ID_LEN + 1]);
/* An id of api_folder_set as a JSON string. */
void api_render_folder_id_of(struct jsonw *w, uint64_t id);

/* A folder list as a state holds it: (id, digest) pairs ascending by id,
 * and a digest of them all. */
struct api_folder_entry {
	uint64_t id;        /* 48 bits */
	uint32_t digest;    /* of the folder's counts and properties; 0 without counts */
	size_t folder;      /* its index in the list it was made of (not in decoded sets) */
};
struct api_folder_set {
	bool counts;        /* digests hold the counts */
	bool whole;         /* v holds every pair (a decoded token may hold none) */
	size_t n;           /* folders; entries in v when whole */
	uint64_t digest;    /* of counts and all pairs */
	struct api_folder_entry *v;
};

/* The set of list l (with its counts when `counts`): 0, or -1 out of memory. */
int api_folder_set_of(const struct imap_folder_list *l, bool counts, struct api_folder_set *out);
void api_folder_set_free(struct api_folder_set *s);

/* The state token of s (malloc'd; NULL out of memory); the pairs are left
 * out when s has more than listed_max. */
char *api_folder_set_token(const struct api_folder_set *s, unsigned listed_max);

/* The set in token: true, or false after a 400 (or 503) in resp. */
bool api_folder_set_decode(const char *token, struct api_folder_set *out,
                           struct api_response *resp);

/* "state": the token of list l (--folder-state-max). */
void api_render_folder_list_state(struct jsonw *w, const struct imap_folder_list *l, bool counts);

#endif
