/*
 * api/write.h — what the write routes share (api/write.c, api/flags.c,
 * api/folder_write.c): reading request bodies and parameters, and running
 * a write on a pooled session. Internal to api/.
 *
 * Request bodies of the JSON routes are checked before anything else is
 * looked at (after the route): Content-Type application/json (or none),
 * nesting no deeper than API_JSON_DEPTH_MAX (counted before jansson parses
 * anything), valid JSON without duplicate keys, an object, and only the
 * members the route knows. Members are then checked for type and range;
 * every failure is a 400 that names what is wrong, and nothing reaches IMAP.
 */
#ifndef IMAPGW_API_WRITE_H
#define IMAPGW_API_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"

#define API_JSON_DEPTH_MAX 8      /* nesting of a request body ({"uids":[1]} is 2) */
#define API_FLAGS_MAX 64          /* flags in one list of a request */
#define API_BULK_MAX_DEFAULT 1000 /* UIDs in one bulk request unless configured */

/* The body as a JSON object whose members are all among keys
 * (NULL-terminated). Returns a new reference, or NULL after filling resp
 * with 415 (another Content-Type) or 400. */
json_t *api_body_object(const struct api_request *req, const char *const *keys,
                        struct api_response *resp);







/* Member `name` of a body: an array of at most API_FLAGS_MAX flags that
 * imap_flag_check accepts (absent: n = 0, *present = false). The strings
 * are borrowed from the JSON; *out is a new array (free it). */
bool api_flag_list(json_t *body, const char *name, const char ***out, size_t *n,
                   bool *present, struct api_response *resp);

/* Member "uids" of a body: 1 to the configured bulk maximum UIDs. *out is
 * a new array (free it). */
bool api_uid_list(json_t *body, uint32_t **out, size_t *n, struct api_response *resp);

/* Member `name`: a folder path string (see api_check_path). Borrowed. */
bool api_path_member(json_t *body, const char *name, bool required, const char **out,
                     struct api_response *resp);

/* Run fn on a pooled session for the request's credentials: writes with
 * idempotent = false (never retried, even on a session found dead).
 * Returns true, or false after filling resp with the problem. */
bool api_write_run(const struct api_request *req, bool idempotent, api_session_fn *fn,
                   void *ctx, struct api_response *resp);

/* Route handlers. */
void api_flags_get(const struct api_request *req, struct api_response *resp, uint32_t uid);
void api_flags_put(const struct api_request *req, struct api_response *resp, uint32_t uid,
                   bool replace);
void api_flags_bulk(const struct api_request *req, struct api_response *resp);
void api_folder_create(const struct api_request *req, struct api_response *resp);
void api_folder_patch(const struct api_request *req, struct api_response *resp,
                      const char *path);
void api_folder_delete(const struct api_request *req, struct api_response *resp,
                       const char *path);

#endif
