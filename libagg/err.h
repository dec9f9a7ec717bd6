/* err: the one error convention of the project (status codes + error text). */
#ifndef AGG_ERR_H
#define AGG_ERR_H

/* Every fallible function returns AGG_OK or AGG_ERR. On AGG_ERR it fills the
 * caller's err_t (when non-NULL) with one human-readable line. A constructor
 * returns the new object, or NULL with the err_t filled the same way. A count
 * or an index comes back through an out-parameter, never as "-1 = failed".
 * HTTP-facing validation fills an api_error (apierr.h) instead. */
#define AGG_OK  0
#define AGG_ERR (-1)

typedef struct err_t {
    char text[256];
} err_t;

/* Formats the message into e->text (truncating); e may be NULL. Always
 * returns AGG_ERR so callers can write `return err_set(e, "...")`. */
int err_set(err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text every module gives for a failed allocation. */
#define ERR_OOM "out of memory"

/* Fills e (may be NULL) with ERR_OOM and returns AGG_ERR. */
int err_oom(err_t *e);

/* 1 when e (not NULL) holds ERR_OOM, the failure that says nothing about the
 * input, else 0. */
int err_is_oom(const err_t *e);

#endif
