/* wmeasure: the worker's series in the metrics registry, resolved at start-up, and their updates. */
#ifndef WORKER_WMEASURE_H
#define WORKER_WMEASURE_H

#include "breaker.h"
#include "err.h"
#include "metrics.h"
#include "outcome.h"
#include "rdsmeter.h"
#include "reslist.h"

#define WMEASURE_OUTCOMES (OUTCOME_ACCEPTED + 1) /* every outcome_t, ACCEPTED included */
#define WMEASURE_STATES   3                      /* breaker_state: closed, open, probing */

/* Every series is resolved once, from fixed sets and the configured resources
 * (RESOURCE_URLS): an update is an index and a few instructions. A source that is not
 * configured (index -1) is not counted: its label would come from a message. */
typedef struct wmeasure {
    const resource_list *res; /* borrowed: the worker's configuration */
    metrics_series *completed_all;     /* aggregator_sessions_completed_total{ALL_RESPONDED} */
    metrics_series *completed_timeout; /* {completed_by="TIMEOUT"} */
    metrics_series *duration;          /* aggregator_session_duration_seconds */
    metrics_series *outcomes[RESLIST_MAX][OUTCOME_ACCEPTED]; /* {source,status}: final ones */
    metrics_series *calls[RESLIST_MAX][WMEASURE_OUTCOMES];   /* resource_call_seconds */
    metrics_series *circuit[RESLIST_MAX][WMEASURE_STATES];   /* resource_circuit_state */
    metrics_series *consume_delay[2]; /* kafka_consume_delay_seconds, by worker topic index */
    metrics_series *lag[2];           /* kafka_consumer_lag */
    metrics_series *partitions[2];    /* kafka_topic_partitions */
    rdsmeter redis;                   /* redis_command_seconds */
} wmeasure;

/* Adds the worker's families to reg and resolves their series into *m: topics[0..1] are the
 * requests and callbacks topic names, res the configured resources (borrowed for m's
 * lifetime). Every circuit starts closed. AGG_ERR with e filled on out of memory. */
int wmeasure_init(wmeasure *m, metrics *reg, const resource_list *res, const char *const topics[2],
                  err_t *e);

/* The index of source among the configured resources, -1 when it is not one. hint (may be
 * -1) is tried first: a fan-out message lists the resources in the configured order. */
int wmeasure_source(const wmeasure *m, const char *source, int hint);

/* A session's summary was written by this worker: by_timeout 1 for completedBy TIMEOUT;
 * elapsed_ms from its creation (-1: unknown, not observed). */
void wmeasure_completed(wmeasure *m, int by_timeout, long long elapsed_ms);
/* Outcome o of resource res (wmeasure_source) was recorded. */
void wmeasure_outcome(wmeasure *m, int res, outcome_t o);
/* A call to resource res ended with o after seconds. */
void wmeasure_call(wmeasure *m, int res, outcome_t o, double seconds);
/* Resource res's circuit is in state s now (1 for it, 0 for the others). */
void wmeasure_circuit(wmeasure *m, int res, breaker_state s);

#endif
