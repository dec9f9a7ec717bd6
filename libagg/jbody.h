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

/* json_loadb with duplicate keys refused, telling running out of memory
 * apart from bad input: NULL with *nomem 1 when any allocation failed during
 * the parse (jansson may then call it a syntax error, or even return a
 * document with a token cut short), NULL with *nomem 0 and jerr filled when
 * buf is not JSON. A new reference otherwise. Every JSON document the
 * project reads goes through here. */
json_t *jbody_loadb(const char *buf, size_t len, int *nomem, json_error_t *jerr);

#endif
