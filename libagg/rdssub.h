/* rdssub: pub/sub for a process: one Redis connection that holds every subscription, refcounted per
 * channel. */
#ifndef AGG_RDSSUB_H
#define AGG_RDSSUB_H

#include <stddef.h>

#include "conncfg.h"
#include "err.h"
#include "loop.h"

/* The names keep the rds_ prefix they had in rds.h (which includes this
 * header) so callers are unchanged. */
typedef struct rds_sub rds_sub;

/* payload borrowed for the call only. */
typedef void rds_message_cb(const char *channel, const char *payload, size_t len, void *arg);
/* Called after the connection was lost and is subscribed again: messages
 * may have been missed, so readers replay from the log. */
typedef void rds_resubscribed_cb(void *arg);
/* Called when a subscription is confirmed by Redis (ok=1) or could not be made (ok=0). */
typedef void rds_subscribed_cb(int ok, void *arg);

/* cfg as in rds_new (the db is ignored: pub/sub is server-wide). Connects asynchronously and
 * keeps reconnecting for s's lifetime (to the primary the sentinels name, with sentinels), and
 * subscribes every channel again on the new connection. on_resubscribed may be NULL; arg is passed to both callbacks.
 * NULL with e filled only when url is invalid or out of memory. Free with
 * rds_sub_free. */
rds_sub *rds_sub_new(loop *l, const conncfg_redis *cfg, rds_message_cb *on_message,
                     rds_resubscribed_cb *on_resubscribed, void *arg, err_t *e);
/* Pending done callbacks are dropped without a call. Not from inside one of
 * s's own callbacks. */
void rds_sub_free(rds_sub *s);
/* 1 when connected and the connection is set up. */
int rds_sub_ready(const rds_sub *s);
/* Adds one reference to channel; subscribes on the first. done (may be
 * NULL) runs once, later, from the loop, never from inside this call: when
 * Redis has confirmed the subscription, or on the next pass of the loop if
 * it already had. Messages that arrive after confirmation are delivered.
 * AGG_ERR with e filled (no reference taken, done never called) when not
 * connected or out of memory. When the connection is lost before done ran,
 * done gets ok=0; the reference stays (it is subscribed again on reconnect)
 * until unsubscribed. channel is copied. */
int rds_subscribe(rds_sub *s, const char *channel, rds_subscribed_cb *done, void *done_arg,
                  err_t *e);
/* Drops one reference; unsubscribes at zero. A pending done callback for the
 * same done_arg is cancelled. */
void rds_unsubscribe(rds_sub *s, const char *channel, void *done_arg);

#endif
