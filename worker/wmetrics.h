/* wmetrics: the worker's metric families in the registry, and the series its modules count into. */
#ifndef WORKER_WMETRICS_H
#define WORKER_WMETRICS_H

#include "err.h"
#include "metrics.h"
#include "outcome.h"
#include "session.h"

/* Every series is resolved once, by wmetrics_init; the modules count with metrics_inc on these
 * pointers (no lookup, no allocation). The gauges are set by wmetrics_sample at scrape time,
 * breakers_open by breakers as circuits change. */
typedef struct wmetrics {
    metrics *reg;                    /* owned: the worker's registry */
    metrics_series *messages[2];     /* by topic index: requests, callbacks (answers) */
    metrics_series *bad_messages[2]; /* by topic index */
    metrics_series *recorded[5];     /* by outcome_t OK..ERROR: recorded or completed replies */
    metrics_series *dropped[SESSION_REFUSALS]; /* callbacks_dropped_total, r - SESSION_DUPLICATE */
    metrics_series *summaries;      /* summaries this worker wrote (completed + expired) */
    metrics_series *timeouts;       /* sessions this worker expired (completedBy TIMEOUT) */
    metrics_series *redis_retries;  /* Redis calls retried after a failure */
    metrics_series *intake_holds;   /* times WORKER_MAX_IN_FLIGHT held the Kafka intake */
    metrics_series *breaker_fast_fails; /* calls not made: their circuit was open */
    metrics_series *breaker_probes;     /* probe calls this worker was granted */
    metrics_series *breaker_opens;      /* circuits this worker's failure report opened */
    metrics_series *calls_skipped; /* re-delivered calls not made: the session had them claimed */
    metrics_series *breakers_open; /* gauge: resources this worker sees open or probing */
    long breakers_open_n;          /* its value, kept by wmetrics_breakers_open_add */
    metrics_series *inflight_messages, *inflight_http, *intake_held, *assigned[2];
} wmetrics;

/* A new registry with every family of the worker and each of its series at 0; the topic label
 * of the per-topic series is the topic's name, topics[0] the requests', topics[1] the
 * callbacks' (as on every Kafka metric, so that rules can compare them). topics is borrowed for
 * the call. AGG_ERR with e filled on out of memory (m is then freed: wmetrics_free is harmless). */
int wmetrics_init(wmetrics *m, const char *const topics[2], err_t *e);
/* Frees the registry; every series pointer becomes invalid (m is zeroed). */
void wmetrics_free(wmetrics *m);

/* Sets the gauges sampled at scrape time: messages being handled, calls in flight, whether
 * the intake is held (0/1), partitions owned by topic index. */
void wmetrics_sample(wmetrics *m, long inflight_messages, long inflight_http, int intake_held,
                     const int assigned[2]);
/* breakers_open += d (a circuit left or entered closed). */
void wmetrics_breakers_open_add(wmetrics *m, long d);

#endif
