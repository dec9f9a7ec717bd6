/* listeners: routes each session's pub/sub events to the streams and waiters of this gateway. */
#ifndef GW_LISTENERS_H
#define GW_LISTENERS_H

#include <stddef.h>

#include "gateway.h"
#include "sse.h"

typedef struct gw_listeners gw_listeners;
typedef struct gw_listener gw_listener;

/* A published event of the listener's session; ev borrowed for the call.
 * The callback may gw_unlisten() its own listener, no other. */
typedef void gw_event_cb(const sse_published *ev, void *arg);
/* The subscription is confirmed (ok=1) or failed (ok=0). */
typedef void gw_ready_cb(int ok, void *arg);
/* Pub/sub was reconnected; events may have been missed: replay from the log. */
typedef void gw_resync_cb(void *arg);

/* Creates the registry and its pub/sub connection to where cfg says (as in rds_new). NULL with
 * e filled. */
gw_listeners *gw_listeners_new(loop *l, const conncfg_redis *cfg, err_t *e);
void gw_listeners_free(gw_listeners *ls);
/* 1 when the pub/sub connection is up. */
int gw_listeners_ready(const gw_listeners *ls);

/* Listens to session cid. ready runs once, later, from the loop (never
 * from inside this call) when Redis confirmed the subscription or it
 * failed; events published after a confirmation reach on_event. NULL with
 * e filled (nothing is ever called then) when cid is not a correlation id,
 * pub/sub is down, or out of memory. */
gw_listener *gw_listen(gw_listeners *ls, const char *cid, gw_event_cb *on_event, gw_ready_cb *ready,
                       gw_resync_cb *resync, void *arg, err_t *e);
/* Stops listening and frees the listener; no callback runs after it. */
void gw_unlisten(gw_listeners *ls, gw_listener *li);
/* Listeners alive. */
size_t gw_listeners_count(const gw_listeners *ls);

#endif
