/* fanout: handles fan-out messages: calls every resource and records the outcomes it observes. */
#ifndef WORKER_FANOUT_H
#define WORKER_FANOUT_H

#include <stddef.h>

#include "worker.h"

/* Sets up w->fanout. AGG_ERR on out of memory. */
int fanout_init(worker *w, err_t *e);
/* Cancels every job (their messages stay uncommitted) and frees w->fanout.
 * Call after httpc_free() (no HTTP callback may follow) and before rds_free(). */
void fanout_shutdown(worker *w);

/* Handles one fan-out message (value borrowed for the call). The message is
 * begun by the caller; fanout calls worker_msg_done(w, m) exactly once: at
 * once for a bad message or a finished/unknown session, else when every
 * resource call has completed and every outcome to record was acknowledged
 * by Redis. */
void fanout_handle(worker *w, const wmsg *m, const char *value, size_t len);

/* The total timeout of a call started at now_ms (epoch ms) for a session due at deadline_ms:
 * read_timeout_ms (RESOURCE_READ_TIMEOUT_MS), capped by the time left, so that a resource that
 * hangs or trickles its answer holds no call past the session; 0 when the deadline has passed
 * (the call is not worth starting). A call that ends by this cap records nothing: its TIMEOUT
 * comes from the deadline (session_expire). Pure. */
long fanout_call_timeout_ms(long read_timeout_ms, long long deadline_ms, long long now_ms);

#endif
