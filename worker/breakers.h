/* breakers: the worker's circuit breakers: a local view of every resource's breaker in Redis,
 * so that a call on a closed circuit costs no Redis round trip, and the reports that change it. */
#ifndef WORKER_BREAKERS_H
#define WORKER_BREAKERS_H

#include "breaker.h"
#include "rdsretry.h"
#include "worker.h"

struct redisReply;

/* Sets up w->breakers. AGG_ERR on out of memory. */
int breakers_init(worker *w, err_t *e);
/* Frees w->breakers. Call after rds_free() (pending reads and reports then have had their
 * NULL replies). */
void breakers_shutdown(worker *w);

/* What a call to source should do now, from the local view (no Redis call): BREAKER_CALL on a
 * closed circuit (and when BREAKER_ENABLED=0), BREAKER_FAIL_FAST while open (counted in
 * worker_breaker_fast_fails_total), BREAKER_TRY_PROBE when the cool-down is over and this
 * worker has no probe request out: then ask with breakers_probe. source borrowed. */
breaker_decision breakers_decide(worker *w, const char *source);
/* Asks Redis for source's probe (breaker_probe.lua, retried until Redis replies); done gets the
 * reply, to pass to breakers_probe_granted. NULL with e filled (done never called) when the
 * call cannot be made: fail the call fast. The handle is cancelled with rdsretry_cancel. */
rdsretry *breakers_probe(worker *w, const char *source, rdsretry_done_cb *done, void *arg,
                         err_t *e);
/* Updates the local view from breakers_probe's reply and returns 1 when this worker got the
 * probe (make the call, then report it with probe 1), else 0: fail fast (counted), or (the
 * circuit closed meanwhile) 2: call as usual. reply borrowed. */
int breakers_probe_granted(worker *w, const char *source, const struct redisReply *reply);
/* The outcome o of a call to source that was made (probe: 1 for the probe call). Reports it to
 * Redis only when breaker_must_report says so: nothing on a closed circuit without failures. */
void breakers_outcome(worker *w, const char *source, outcome_t o, int probe);

/* Called before each loop wait: every BREAKER_REFRESH_MS, reads the breaker of every resource
 * this worker has called (one pipelined round trip), so that what other workers reported
 * reaches this worker's view within that period. */
void breakers_prepare(worker *w);

#endif
