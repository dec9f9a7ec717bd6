/* wmetrics: the worker's metric families in the registry, and the series its modules count into. */
#ifndef WORKER_WMETRICS_H
#define WORKER_WMETRICS_H

#include "breaker.h"
#include "err.h"
#include "metrics.h"
#include "outcome.h"
#include "rdsmeter.h"
#include "reslist.h"
#include "session.h"

#define WMETRICS_OUTCOMES (OUTCOME_ACCEPTED + 1) /* every outcome_t, ACCEPTED included */
#define WMETRICS_STATES   3                      /* breaker_state: closed, open, probing */

/* Every series is resolved once, by wmetrics_init, from fixed sets and the configured resources
 * (RESOURCE_URLS); the modules count with metrics_inc on these pointers or with the
 * wmetrics_* helpers below (an index and a few instructions: no lookup, no allocation). A source
 * that is not configured (index -1) is not counted: its label would come from a message. The
 * gauges are set by wmetrics_sample at scrape time, breakers_open by breakers as circuits change,
 * lag and partitions by worker_sample_lag. */
typedef struct wmetrics {
    metrics *reg;                    /* owned: the worker's registry */
    metrics_series *messages[2];     /* by topic index: requests, callbacks (answers) */
    metrics_series *bad_messages[2]; /* by topic index */
    metrics_series *recorded[5];     /* by outcome_t OK..ERROR: recorded or completed replies */
    metrics_series *dropped[SESSION_REFUSALS]; /* callbacks_dropped_total, r - SESSION_DUPLICATE */
    metrics_series *dropped_capability; /* callbacks_dropped_total{reason="invalid_capability"} */
    metrics_series *summaries;      /* summaries this worker wrote (completed + expired) */
    metrics_series *timeouts;       /* sessions this worker expired (completedBy TIMEOUT) */
    metrics_series *redis_retries;  /* Redis calls retried after a failure */
    metrics_series *intake_holds;   /* times WORKER_MAX_IN_FLIGHT held the Kafka intake */
    metrics_series *breaker_fast_fails; /* calls not made: their circuit was open */
    metrics_series *breaker_probes;     /* probe calls this worker was granted */
    metrics_series *breaker_opens;      /* circuits this worker's failure report opened */
    metrics_series *calls_skipped; /* re-delivered calls not made: the session had them claimed */
    metrics_series *audit_published; /* audit records relayed to Kafka (auditrelay) */
    metrics_series *audit_failures;  /* audit records whose produce failed */
    metrics_series *audit_pending;   /* gauge: the outbox's entries (XLEN over the buckets) */
    metrics_series *breakers_open; /* gauge: resources this worker sees open or probing */
    long breakers_open_n;          /* its value, kept by wmetrics_breakers_open_add */
    metrics_series *inflight_messages, *inflight_http, *intake_held, *assigned[2];
    const resource_list *res;          /* borrowed: the worker's configured resources */
    metrics_series *completed_all;     /* aggregator_sessions_completed_total{ALL_RESPONDED} */
    metrics_series *completed_timeout; /* {completed_by="TIMEOUT"} */
    metrics_series *duration;          /* aggregator_session_duration_seconds */
    metrics_series *outcomes[RESLIST_MAX][OUTCOME_ACCEPTED]; /* {source,status}: final ones */
    metrics_series *calls[RESLIST_MAX][WMETRICS_OUTCOMES];   /* resource_call_seconds */
    metrics_series *circuit[RESLIST_MAX][WMETRICS_STATES];   /* resource_circuit_state */
    metrics_series *consume_delay[2]; /* kafka_consume_delay_seconds, by topic index */
    metrics_series *lag[2];           /* kafka_consumer_lag */
    metrics_series *partitions[2];    /* kafka_topic_partitions */
    rdsmeter redis; /* redis_command_seconds: the rds client's observer (rdsmeter_observe) */
} wmetrics;

/* A new registry with every family of the worker and each of its series at 0 (every circuit
 * closed); the topic label of the per-topic series is the topic's name, topics[0] the
 * requests', topics[1] the callbacks' (as on every Kafka metric, so that rules can compare
 * them); topics is borrowed for the call, res (the configured resources, the source label) for
 * m's lifetime. AGG_ERR with e filled on out of memory (m is then freed: wmetrics_free is
 * harmless). */
int wmetrics_init(wmetrics *m, const resource_list *res, const char *const topics[2], err_t *e);
/* Frees the registry; every series pointer becomes invalid (m is zeroed). */
void wmetrics_free(wmetrics *m);

/* Sets the gauges sampled at scrape time: messages being handled, calls in flight, whether
 * the intake is held (0/1), partitions owned by topic index. */
void wmetrics_sample(wmetrics *m, long inflight_messages, long inflight_http, int intake_held,
                     const int assigned[2]);
/* breakers_open += d (a circuit left or entered closed). */
void wmetrics_breakers_open_add(wmetrics *m, long d);

/* The index of source among the configured resources, -1 when it is not one. hint (may be
 * -1) is tried first: a fan-out message lists the resources in the configured order. */
int wmetrics_source(const wmetrics *m, const char *source, int hint);

/* A session's summary was written by this worker: by_timeout 1 for completedBy TIMEOUT;
 * elapsed_ms from its creation (-1: unknown, not observed). */
void wmetrics_completed(wmetrics *m, int by_timeout, long long elapsed_ms);
/* Outcome o of resource res (wmetrics_source) was recorded. */
void wmetrics_outcome(wmetrics *m, int res, outcome_t o);
/* A call to resource res ended with o after seconds. */
void wmetrics_call(wmetrics *m, int res, outcome_t o, double seconds);
/* Resource res's circuit is in state s now (1 for it, 0 for the others). */
void wmetrics_circuit(wmetrics *m, int res, breaker_state s);

#endif
