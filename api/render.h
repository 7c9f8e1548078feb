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

/* "state": token. */
void api_render_state(struct jsonw *w, const struct imap_state *st, const char *folder);

#endif
