/* err: the one error convention of the project (status codes + error text). */
#ifndef AGG_ERR_H
#define AGG_ERR_H

/* Every fallible function returns AGG_OK or AGG_ERR. On AGG_ERR it fills the
 * caller's err_t (when non-NULL) with one human-readable line and a kind, so
 * that a caller can tell running out of memory from the rest. A constructor
 * returns the new object, or NULL with the err_t filled the same way. A count
 * or an index comes back through an out-parameter, never as "-1 = failed".
 * HTTP-facing validation fills an api_error (apierr.h) instead. */
#define AGG_OK  0
#define AGG_ERR (-1)

typedef enum err_kind {
    ERR_FAILED = 1, /* anything but out of memory; the text says what */
    ERR_NOMEM       /* out of memory; the text is "out of memory" */
} err_kind;

typedef struct err_t {
    err_kind kind;
    char text[256];
} err_t;

/* Formats the message into e->text (truncating) with kind ERR_FAILED; e may
 * be NULL. Always returns AGG_ERR so callers can write
 * `return err_set(e, "...")`. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets e (may be NULL) to out of memory. Returns AGG_ERR. */
int err_nomem(err_t *e);
/* 1 when e holds an out-of-memory error. */
int err_is_nomem(const err_t *e);

#endif
