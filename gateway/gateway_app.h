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
/* Frees everything gw_start made; waits up to flush_ms for Kafka deliveries.
 * The loop stays the caller's. */
void gw_stop(gateway *gw, int flush_ms);

#endif
