/*
 * api/json.h — small helpers for building JSON answers with jansson.
 */
#ifndef IMAPGW_API_JSON_H
#define IMAPGW_API_JSON_H

#include <jansson.h>

#include "api/api.h"

/* A JSON string from UTF-8 text (NULL gives null; invalid bytes are made
 * readable rather than dropping the field). New reference. */
json_t *api_json_str(const char *s);

/* Serialize v compactly into resp->body with status and steal v. */
void api_json_reply(struct api_response *resp, int status, json_t *v);

/* A folder as GET /folders shows it (schema Folder), with the four counts
 * when `counts`. New reference. */
struct imap_folder;
json_t *api_folder_json(const struct imap_folder *f, bool counts);

#endif
