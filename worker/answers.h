/* answers: handles answer messages (callbacks topic): records each answer in its session. */
#ifndef WORKER_ANSWERS_H
#define WORKER_ANSWERS_H

#include <stddef.h>

#include "worker.h"

/* Sets up w->answers. AGG_ERR on out of memory. */
int answers_init(worker *w, err_t *e);
/* Cancels every job (their messages stay uncommitted) and frees
 * w->answers. Call before rds_free(). */
void answers_shutdown(worker *w);

/* Handles one answer message (value and capability, its header "capability" or NULL when it has
 * none, borrowed for the call); calls worker_msg_done(w, m) exactly once: at once for a bad
 * message or one whose capability is not valid for its correlationId and source (counted in
 * callbacks_dropped_total{reason="invalid_capability"}), else when Redis acknowledged
 * session_record. */
void answers_handle(worker *w, const wmsg *m, const char *value, size_t len,
                    const char *capability);

#endif
