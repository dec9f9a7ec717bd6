/* gwmeasure: the gateway's series in the metrics registry (Kafka produce and Redis latency), resolved at start-up. */
#ifndef GW_GWMEASURE_H
#define GW_GWMEASURE_H

#include "err.h"
#include "metrics.h"
#include "rdsmeter.h"

enum { GWMEASURE_REQUESTS = 0, GWMEASURE_CALLBACKS = 1 };

typedef struct gwmeasure {
    metrics_series *produce[2]; /* kafka_produce_seconds, by GWMEASURE_* topic */
    rdsmeter redis;             /* redis_command_seconds */
} gwmeasure;

/* Adds the gateway's families to reg and resolves their series into *m; topics[0..1] are the
 * requests and callbacks topic names (the topic label). AGG_ERR with e filled on out of
 * memory. */
int gwmeasure_init(gwmeasure *m, metrics *reg, const char *const topics[2], err_t *e);
/* A delivery report for topic (GWMEASURE_*) came seconds after the produce call (seconds < 0:
 * unknown, not observed). */
void gwmeasure_produced(gwmeasure *m, int topic, double seconds);

#endif
