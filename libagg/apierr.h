/* apierr: the 4xx/5xx error body of the HTTP API ({"error","message","field"}). */
#ifndef AGG_APIERR_H
#define AGG_APIERR_H

#include "err.h"

typedef struct api_error {
    int http_status;   /* 400, 404, 413, 503, ... */
    const char *code;  /* static string, e.g. "invalid_field" */
    const char *field; /* static string naming the field, or NULL */
    char message[256];
} api_error;

/* Fills e and returns AGG_ERR. code and field must be static strings. */
int apierr_set(api_error *e, int http_status, const char *code, const char *field, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));

/* Fills e with the answer to running out of memory: 503 "out_of_memory",
 * message "out of memory" (the request was fine; it may be tried again).
 * Returns AGG_ERR. */
int apierr_nomem(api_error *e);

/* Returns a malloc'd JSON body {"error":code,"message":...,"field":...} of ae
 * ("field" omitted when NULL; ae NULL gives an internal_error body); caller
 * frees. NULL with e filled only on out of memory. ae is borrowed. */
char *apierr_to_json(const api_error *ae, err_t *e);

#endif
