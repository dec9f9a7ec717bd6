/* traceparent: W3C Trace Context's traceparent header: parse, validate, make, format (pure). */
#ifndef AGG_TRACEPARENT_H
#define AGG_TRACEPARENT_H

#include <stddef.h>

#include "err.h"

#define TRACEPARENT_TRACE_LEN 32
#define TRACEPARENT_SPAN_LEN 16
/* "00-" trace "-" span "-" flags */
#define TRACEPARENT_LEN 55

typedef struct traceparent {
    char trace_id[TRACEPARENT_TRACE_LEN + 1]; /* lower-case hex, not all zero */
    char span_id[TRACEPARENT_SPAN_LEN + 1];   /* the parent (sender's) span, not all zero */
    unsigned flags;                           /* trace-flags, 0..255 (bit 0: sampled) */
} traceparent;

/* Parses a traceparent header value (NULL is invalid). Version 00 must be exactly
 * 55 characters; a later version (not ff) is read by its first 55 characters when
 * the next one is '-' or the end, as the spec asks. Upper-case hex, an all-zero
 * trace or span id and version ff are invalid. AGG_OK with *out filled, or AGG_ERR
 * with e (may be NULL) saying why and *out untouched. */
int traceparent_parse(const char *s, traceparent *out, err_t *e);

/* Builds a new trace (flags 01, sampled) from 24 random bytes (16 for the trace id,
 * 8 for the span id); an all-zero id is made non-zero. Pure, for tests. */
void traceparent_from_bytes(const unsigned char rnd[24], traceparent *out);
/* As traceparent_from_bytes with bytes from getrandom(2). AGG_ERR with e filled
 * when the kernel gives none. */
int traceparent_generate(traceparent *out, err_t *e);
/* The child of parent: same trace id and flags, a new span id from getrandom(2).
 * AGG_ERR with e filled when the kernel gives no random bytes. out may be parent. */
int traceparent_child(const traceparent *parent, traceparent *out, err_t *e);
/* Takes the parsed header when valid, else generates a new trace: never an error
 * for a bad or missing header (AGG_ERR only when no random bytes can be had).
 * *was_valid (may be NULL) says which. */
int traceparent_take(const char *header, traceparent *out, int *was_valid, err_t *e);

/* Writes the header value and a NUL into out (TRACEPARENT_LEN + 1 bytes). */
void traceparent_format(const traceparent *t, char out[TRACEPARENT_LEN + 1]);

#endif
