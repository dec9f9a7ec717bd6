/* jbody: reading and writing JSON with jansson, out of memory told apart (and an HTTP body's object). */
#ifndef AGG_JBODY_H
#define AGG_JBODY_H

#include <jansson.h>
#include <stddef.h>

#include "apierr.h"
#include "err.h"

/* AGG_OK when content_type (a request's Content-Type header, NULL when absent) names
 * application/json, in any case, with or without parameters ("application/json;
 * charset=utf-8"); else AGG_ERR with e filled: 415 "unsupported_media_type". A JSON endpoint
 * checks it before reading the body, so that a form or a text/plain POST from another site's
 * page (which a browser sends without a CORS preflight) is refused. content_type is borrowed. */
int jbody_media_type(const char *content_type, api_error *e);

/* Parses len bytes of body (NULL = empty) as one JSON object; duplicate keys
 * are refused. A body with an integer beyond 64 bits (valid JSON: an unknown
 * field may hold one) is read again with every number as a real, so read
 * numbers with jbody_integer(). Returns a new reference the caller must
 * json_decref(), or NULL with e filled (400 "invalid_json"). */
json_t *jbody_object(const char *body, size_t len, api_error *e);

/* 1 when v is a JSON number without a fractional part (JSON Schema's
 * "integer": 1.0 is one), *out its value saturated to the long long range;
 * 0 otherwise (*out untouched). v is borrowed. */
int jbody_integer(const json_t *v, long long *out);

/* json_loadb with duplicate keys refused, telling running out of memory
 * apart from bad input: NULL with *nomem 1 when any allocation failed during
 * the parse (jansson may then call it a syntax error, or even return a
 * document with a token cut short), NULL with *nomem 0 and jerr filled when
 * buf is not JSON by jscan's rules as well as jansson's (so a raw NUL byte, which
 * jansson alone takes for the end of the text, and nesting deeper than
 * JSCAN_MAX_DEPTH are refused). A new reference otherwise. Every JSON document the
 * project reads goes through here. */
json_t *jbody_loadb(const char *buf, size_t len, int *nomem, json_error_t *jerr);

/* json_dumps(json, JSON_COMPACT) that never returns a damaged text:
 * jansson's writer leaves out an object key it could not write and goes on,
 * so a dump during which any allocation failed is dropped. A malloc'd
 * string (caller frees), or NULL with e filled (out of memory). */
char *jbody_dumps(const json_t *json, err_t *e);

#endif
