/* gateway_app: one gateway on a loop: its clients (Redis, pub/sub, Kafka), its HTTP server and the routes. */
#ifndef GW_GATEWAY_APP_H
#define GW_GATEWAY_APP_H

#include "gateway.h"

/* Starts gw (zeroed but for gw->cfg) on l, which the caller keeps: the
 * Redis and pub/sub connections and the Kafka producers (all connecting
 * asynchronously), then the HTTP server. AGG_ERR with e filled when an
 * address is refused, the port cannot be bound, or out of memory; call
 * gw_stop either way. */
int gw_start(gateway *gw, loop *l, err_t *e);
/* Drains gw after SIGTERM, running its loop until nothing is left to do or until
 * deadline_ms (loop_now_ms time), or until loop_stop (a second signal): readiness turns
 * DOWN, new sessions and streams get 503 shutting_down with Retry-After, open streams get
 * their pending events, a retry: hint and their end; answers (POST /aggregate/callback)
 * are still taken, and requests in progress (WAIT_FOR_EVERYONE) get their answer. AGG_OK
 * when drained (no request in progress, no Kafka message pending), AGG_ERR when stopped
 * first. Call gw_stop afterwards either way. */
int gw_drain(gateway *gw, long long deadline_ms);
/* Frees everything gw_start made; waits up to flush_ms for Kafka deliveries.
 * The loop stays the caller's. */
void gw_stop(gateway *gw, int flush_ms);

#endif
