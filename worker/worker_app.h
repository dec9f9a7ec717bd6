/* worker_app: one worker on a loop: Kafka intake, offsets and partitions, the Redis and HTTP clients, drain.
 */
#ifndef WORKER_WORKER_APP_H
#define WORKER_WORKER_APP_H

#include "worker.h"

/* Suffixes of KAFKA_GROUP_ID that name the groups of the two intakes. */
#define WORKER_GROUP_REQUESTS  ".requests"
#define WORKER_GROUP_CALLBACKS ".callbacks"

/* Reads the configuration from the environment into c. AGG_ERR with one
 * line naming the variable when a value is invalid. */
int worker_config_load(worker_cfg *c, err_t *e);

/* Starts w (zeroed, w->cfg filled) on l, which the caller keeps: connects
 * to Redis and Kafka (both asynchronously), starts the management server
 * and joins the two consumer groups. AGG_ERR with e filled (REDIS_URL or
 * KAFKA_BROKERS naming a refused address) on failure; call worker_stop
 * either way. */
int worker_start(worker *w, loop *l, err_t *e);
/* Begins no new message and runs the loop until the messages in flight are
 * done or timeout_ms passed. AGG_ERR when the loop failed. */
int worker_drain(worker *w, long long timeout_ms);
/* 1 when the consumer of every topic sees a broker up. */
int worker_kafka_healthy(const worker *w);
/* Partitions of topic (WORKER_TOPIC_*) assigned to this worker now. */
int worker_assigned(const worker *w, int topic);
/* Sets the kafka_consumer_lag and kafka_topic_partitions gauges from the consumers' last
 * statistics (before a scrape). */
void worker_sample_lag(worker *w);
/* 1 while WORKER_MAX_IN_FLIGHT holds the intake (of either topic). */
int worker_intake_held(const worker *w);
/* Frees everything worker_start made (commits the stored offsets); the loop
 * stays the caller's. */
void worker_stop(worker *w);

#endif
