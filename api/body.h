/*
 * api/body.h — reading request bodies (internal to api/).
 *
 * Request bodies of the JSON routes are checked before anything else is
 * looked at (after the route): Content-Type application/json (or none),
 * nesting no deeper than API_JSON_DEPTH_MAX (counted before jansson parses
 * anything), valid JSON without duplicate keys, an object, and only the
 * members the route knows. Members are then checked for type and range;
 * every failure is a 400 that names what is wrong, and nothing reaches IMAP.
 *
 * jansson is used here, for parsing only: a request body is small and
 * bounded (--body-max) and must be checked whole (duplicate keys, types)
 * before anything acts on it. Answers are written with api/jsonw.h.
 */
#ifndef IMAPGW_API_BODY_H
#define IMAPGW_API_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/api.h"

#define API_JSON_DEPTH_MAX 8      /* nesting of a request body ({"uids":[1]} is 2) */
#define API_FLAGS_MAX 64          /* flags in one list of a request */
#define API_BULK_MAX_DEFAULT 1000 /* UIDs in one bulk request unless configured */

/* True when the media type of the Content-Type value ct (before any ";")
 * is `type`, compared without case. */
bool api_media_is(const char *ct, const char *type);

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

/* Member `name`: true or false, when present (*present says whether). */
bool api_bool_member(json_t *body, const char *name, bool *present, bool *out,
                     struct api_response *resp);

#endif
