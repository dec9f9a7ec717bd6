/* worker_app: one worker on a loop: Kafka intake, offsets and partitions, the Redis and HTTP clients, drain.
 */
#ifndef WORKER_WORKER_APP_H
#define WORKER_WORKER_APP_H

#include "worker.h"

/* Reads the configuration from the environment into c. AGG_ERR with one
 * line naming the variable when a value is invalid. */
int worker_config_load(worker_cfg *c, err_t *e);

/* Starts w (zeroed, w->cfg filled) on l, which the caller keeps: connects
 * to Redis and Kafka (both asynchronously), starts the management server
 * and joins the consumer group. AGG_ERR with e filled (REDIS_URL or
 * KAFKA_BROKERS naming a refused address) on failure; call worker_stop
 * either way. */
int worker_start(worker *w, loop *l, err_t *e);
/* Begins no new message and runs the loop until the messages in flight are
 * done or timeout_ms passed. AGG_ERR when the loop failed. */
int worker_drain(worker *w, long long timeout_ms);
/* Frees everything worker_start made (commits the stored offsets); the loop
 * stays the caller's. */
void worker_stop(worker *w);

#endif
