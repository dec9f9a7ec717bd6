/* jbody: parsing an HTTP request body into a JSON object, with the API's error on failure. */
#ifndef AGG_JBODY_H
#define AGG_JBODY_H

#include <jansson.h>
#include <stddef.h>

#include "apierr.h"

/* Parses len bytes of body (NULL = empty) as one JSON object; duplicate keys
 * are refused. Returns a new reference the caller must json_decref(), or
 * NULL with e filled (400 "invalid_json"). */
json_t *jbody_object(const char *body, size_t len, api_error *e);

#endif
