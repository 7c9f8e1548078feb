/*
 * api/openapi.h — the OpenAPI contract (openapi/openapi.yaml), embedded.
 *
 * The build turns the YAML into compact JSON and a C array
 * ($(BUILD)/gen/openapi_json.c, by openapi/embed.py); GET /openapi.json
 * answers it from memory.
 */
#ifndef IMAPGW_API_OPENAPI_H
#define IMAPGW_API_OPENAPI_H

#include <stddef.h>

extern const char api_openapi_json[];   /* JSON text, NUL-terminated */
extern const size_t api_openapi_json_len; /* without the NUL */

#endif
