/* rdsretry: one Redis command or script call, retried with backoff until Redis replies. */
#ifndef WORKER_RDSRETRY_H
#define WORKER_RDSRETRY_H

#include <stddef.h>

#include "rds.h"
#include "worker.h"

struct redisReply;

typedef struct rdsretry rdsretry;

/* reply is never NULL and never an error reply; borrowed for the call only.
 * The rdsretry handle is invalid once done has started. */
typedef void rdsretry_done_cb(const struct redisReply *reply, void *arg);

/* Sets up the module's state in w (w->rdsretry). AGG_ERR on out of memory. */
int rdsretry_init(worker *w, err_t *e);
/* Frees the module's state; every call must be cancelled first and rds freed
 * (rds_free answers pending calls, which then free themselves). */
void rdsretry_shutdown(worker *w);

/* Sends call (copied: its strings need not outlive this) and, when Redis
 * is unavailable, the reply is lost or it is an error reply, sends it again
 * after a backoff of 100 ms doubling to 2 s, for as long as the process
 * runs; each retry counts in worker_redis_retries_total. done runs exactly
 * once, later, from the loop, unless the call is cancelled. NULL with e
 * filled (done never called) when call is malformed or out of memory. */
rdsretry *rdsretry_send(worker *w, const rds_call *call, rdsretry_done_cb *done, void *arg, err_t *e);

/* Cancels c (NULL allowed): done will not run. Safe at any time before done starts. */
void rdsretry_cancel(rdsretry *c);

/* Called before each loop wait: resends calls whose retry timer could not be
 * allocated (out of memory), at most every 2 s. */
void rdsretry_prepare(worker *w);

#endif
