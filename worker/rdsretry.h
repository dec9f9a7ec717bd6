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

/* Runs script id on the session cid (keys from rds_session_keys) with args
 * (copied; lens NULL = NUL-terminated strings). When Redis is unavailable,
 * the reply is lost or it is an error reply, the same call is sent again
 * after a backoff of 100 ms doubling to 2 s, for as long as the process
 * runs; each retry counts in worker_redis_retries_total. done runs exactly
 * once, unless the call is cancelled; the handle is the module's (it frees
 * itself after done or rdsretry_cancel()). NULL with e filled ("out of
 * memory"; done not called). */
rdsretry *rdsretry_script(worker *w, enum rds_script_id id, const char *cid, int nargs,
                          const char *const *args, rdsretry_done_cb *done, void *arg, err_t *e);
/* Same for a plain command given as an argument vector (copied; argc >= 1,
 * else NULL with e filled). */
rdsretry *rdsretry_command(worker *w, int argc, const char *const *argv, rdsretry_done_cb *done,
                           void *arg, err_t *e);

/* Cancels c (NULL allowed): done will not run. Safe at any time before done starts. */
void rdsretry_cancel(rdsretry *c);

/* Called before each loop wait: resends calls whose retry timer could not be
 * allocated (out of memory), at most every 2 s. */
void rdsretry_prepare(worker *w);

#endif
