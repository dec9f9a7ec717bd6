/* callbacks: handles callback messages: records each resource's callback in its session. */
#ifndef WORKER_CALLBACKS_H
#define WORKER_CALLBACKS_H

#include <stddef.h>

#include "worker.h"

/* Sets up w->callbacks. AGG_ERR on out of memory. */
int callbacks_init(worker *w, err_t *e);
/* Cancels every job (their messages stay uncommitted) and frees
 * w->callbacks. Call before rds_free(). */
void callbacks_shutdown(worker *w);

/* Handles one callback message (value borrowed for the call); calls
 * worker_msg_done(w, m) exactly once: at once for a bad message, else when
 * Redis acknowledged session_record. */
void callbacks_handle(worker *w, const wmsg *m, const char *value, size_t len);

#endif
