/* wmetrics: the worker's counters and gauges, rendered in Prometheus text format 0.0.4. */
#ifndef WORKER_WMETRICS_H
#define WORKER_WMETRICS_H

#include "err.h"
#include "outcome.h"
#include "session.h"

/* Counters only ever grow; breakers_open is kept current, the other gauges are sampled when
 * rendering. */
typedef struct wmetrics {
    unsigned long long messages[2];     /* by topic index: requests, callbacks (answers) */
    unsigned long long bad_messages[2]; /* by topic index */
    unsigned long long recorded[5];     /* by outcome_t OK..ERROR: recorded or completed replies */
    unsigned long long dropped[SESSION_REFUSALS]; /* by refusal, index r - SESSION_DUPLICATE */
    unsigned long long summaries;     /* summaries this worker wrote (completed + expired) */
    unsigned long long timeouts;      /* sessions this worker expired (completedBy TIMEOUT) */
    unsigned long long redis_retries; /* Redis calls retried after a failure */
    unsigned long long intake_holds;  /* times WORKER_MAX_IN_FLIGHT held the Kafka intake */
    unsigned long long breaker_fast_fails; /* calls not made: their circuit was open */
    unsigned long long breaker_probes;     /* probe calls this worker was granted */
    unsigned long long breaker_opens;      /* circuits this worker's failure report opened */
    long breakers_open; /* gauge, kept by breakers: resources this worker sees open or probing */
    unsigned long long calls_skipped; /* re-delivered calls not made: the session had them claimed */
} wmetrics;

/* Renders every metric with # HELP and # TYPE lines; inflight_messages, inflight_http,
 * intake_held (0/1) and assigned (partitions owned, by topic index) are the gauge values.
 * Returns malloc'd text (caller frees), or NULL with e filled ("out of memory"). m and
 * assigned are borrowed. */
char *wmetrics_render(const wmetrics *m, long inflight_messages, long inflight_http,
                      int intake_held, const int assigned[2], err_t *e);

#endif
