/* jscan: a strict, allocation-free JSON validator and tokenizer for hot-path messages. */
#ifndef AGG_JSCAN_H
#define AGG_JSCAN_H

#include <stddef.h>

#include "err.h"

/* Why not jansson here: an answer is parsed by the gateway and again by the
 * worker, about 6,000 times a second at full load, and building a jansson
 * tree (one allocation per value, a hashtable per object) then dumping it was
 * a quarter of the gateway's CPU. jscan checks RFC 8259 in one pass over the
 * text and hands out spans of it; nothing is copied or allocated. */

#define JSCAN_MAX_DEPTH 128

typedef enum jscan_type {
    JSCAN_NULL,
    JSCAN_FALSE,
    JSCAN_TRUE,
    JSCAN_NUMBER,
    JSCAN_STRING,
    JSCAN_ARRAY,
    JSCAN_OBJECT
} jscan_type;

/* One validated value: a span of the scanned text, borrowed from it (valid
 * while the text is). For a string the span includes the quotes. */
typedef struct jscan_val {
    jscan_type type;
    const char *text; /* first byte of the value */
    size_t len;       /* bytes of the value's text */
    size_t str_len;   /* JSCAN_STRING: bytes of the decoded UTF-8 */
    int str_escaped;  /* JSCAN_STRING: the text holds a backslash escape */
    int str_has_nul;  /* JSCAN_STRING: the decoded string holds U+0000 */
    int num_integer;  /* JSCAN_NUMBER: no fraction or exponent, and fits a long long */
} jscan_val;

/* Iterator over the members of an object or the elements of an array. */
typedef struct jscan_iter {
    const char *p, *end;
    int first;
} jscan_iter;

/* Validates that text[0..len) is exactly one JSON value with optional
 * whitespace around it: UTF-8 checked, no lone surrogates, nesting at most
 * JSCAN_MAX_DEPTH. Fills *root (borrowing from text). On error fills e (may
 * be NULL) with one line naming the byte offset and returns AGG_ERR. */
int jscan_document(const char *text, size_t len, jscan_val *root, err_t *e);

/* Starts iterating a validated JSCAN_OBJECT or JSCAN_ARRAY value. */
void jscan_iter_init(jscan_iter *it, const jscan_val *container);

/* The next member of an object: 1 with *key (a string) and *val filled,
 * 0 at the end. Only for values that jscan_document validated. */
int jscan_obj_next(jscan_iter *it, jscan_val *key, jscan_val *val);

/* The next element of an array: 1 with *val filled, 0 at the end. */
int jscan_arr_next(jscan_iter *it, jscan_val *val);

/* Writes the decoded string (NUL-terminated, truncated to cap - 1 bytes)
 * into out (cap >= 1). Returns the full decoded length (v->str_len). */
size_t jscan_str_decode(const jscan_val *v, char *out, size_t cap);

/* 1 when the string value v decodes to exactly lit (at most 127 bytes), else 0. */
int jscan_str_eq(const jscan_val *v, const char *lit);

#endif
