/* wmetrics: registers the worker's metric families and resolves every series once. */
#include "wmetrics.h"

#include <string.h>


enum {
    F_MESSAGES, F_BAD, F_RECORDED, F_DROPPED, F_SUMMARIES, F_TIMEOUTS, F_REDIS_RETRIES,
    F_INFLIGHT_MESSAGES, F_INFLIGHT_HTTP, F_INTAKE_HELD, F_ASSIGNED, F_INTAKE_HOLDS,
    F_FAST_FAILS, F_PROBES, F_OPENS, F_BREAKERS_OPEN, F_SKIPPED, F_N
};

#define C(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_COUNTER}
#define G(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_GAUGE}
#define L1(l) .labels = {l}

static const metrics_family_def defs[F_N] = {
    [F_MESSAGES] = {.name = "worker_messages_total", .dotted_name = "worker.messages",
                    .help = "Kafka messages received, by topic.", .type = METRICS_COUNTER,
                    L1("topic")},
    [F_BAD] = {.name = "worker_bad_messages_total", .dotted_name = "worker.bad.messages",
               .help = "Kafka messages that failed validation and were skipped, by topic.",
               .type = METRICS_COUNTER, L1("topic")},
    [F_RECORDED] = {.name = "worker_outcomes_recorded_total",
                    .dotted_name = "worker.outcomes.recorded",
                    .help = "Resource outcomes this worker wrote to a session, by status.",
                    .type = METRICS_COUNTER, L1("status")},
    [F_DROPPED] = {.name = "callbacks_dropped_total", .dotted_name = "callbacks.dropped",
                   .help = "Outcomes the session refused (already recorded, unknown or finished "
                           "session...), by reason.",
                   .type = METRICS_COUNTER, L1("reason")},
    [F_SUMMARIES] = C("worker_summaries_total", "worker.summaries",
                      "Session summaries this worker wrote."),
    [F_TIMEOUTS] = C("aggregator_timeouts_total", "aggregator.timeouts",
                     "Sessions this worker completed by deadline (completedBy TIMEOUT)."),
    [F_REDIS_RETRIES] = C("worker_redis_retries_total", "worker.redis.retries",
                          "Redis calls retried after Redis was unavailable or failed."),
    [F_INFLIGHT_MESSAGES] = G("worker_inflight_messages", "worker.inflight.messages",
                              "Kafka messages being handled."),
    [F_INFLIGHT_HTTP] = G("worker_inflight_http", "worker.inflight.http",
                          "Calls to resources in flight."),
    [F_INTAKE_HELD] = G("worker_intake_held", "worker.intake.held",
                        "1 while WORKER_MAX_IN_FLIGHT messages are in flight and no more are "
                        "taken from Kafka."),
    [F_ASSIGNED] = {.name = "worker_partitions_assigned",
                    .dotted_name = "worker.partitions.assigned",
                    .help = "Partitions this worker owns, by topic (each topic has its own "
                            "consumer group).",
                    .type = METRICS_GAUGE, L1("topic")},
    [F_INTAKE_HOLDS] = C("worker_intake_holds_total", "worker.intake.holds",
                         "Times the worker stopped taking messages at WORKER_MAX_IN_FLIGHT "
                         "(sustained overload: add workers and partitions)."),
    [F_FAST_FAILS] = C("worker_breaker_fast_fails_total", "worker.breaker.fast.fails",
                       "Resource calls not made because the resource's circuit was open "
                       "(outcome ERROR, reason circuit open)."),
    [F_PROBES] = C("worker_breaker_probes_total", "worker.breaker.probes",
                   "Probe calls this worker was granted after a cool-down."),
    [F_OPENS] = C("worker_breaker_opens_total", "worker.breaker.opens",
                  "Circuits opened (or opened again by a failed probe) by this worker's failure "
                  "reports."),
    [F_BREAKERS_OPEN] = G("worker_breakers_open", "worker.breakers.open",
                          "Resources whose circuit this worker sees open or probing."),
    [F_SKIPPED] = C("worker_calls_skipped_total", "worker.calls.skipped",
                    "Resource calls of a re-delivered fan-out message not made again: the "
                    "session had them claimed."),
};

/* The series of family f with one label value v (NULL = no label). */
static metrics_series *one(metrics_family *fs[F_N], int f, const char *v, err_t *e) {
    return v ? metrics_series_get(fs[f], &v, 1, e) : metrics_series_get0(fs[f], e);
}

int wmetrics_init(wmetrics *m, const char *const topics[2], err_t *e) {
    memset(m, 0, sizeof *m);
    metrics_family *fs[F_N];
    if (!(m->reg = metrics_new(e))) return AGG_ERR;
    for (int i = 0; i < F_N; i++)
        if (!(fs[i] = metrics_family_add(m->reg, &defs[i], e))) goto fail;
    for (int t = 0; t < 2; t++)
        if (!(m->messages[t] = one(fs, F_MESSAGES, topics[t], e)) ||
            !(m->bad_messages[t] = one(fs, F_BAD, topics[t], e)) ||
            !(m->assigned[t] = one(fs, F_ASSIGNED, topics[t], e)))
            goto fail;
    for (int o = OUTCOME_OK; o <= OUTCOME_ERROR; o++)
        if (!(m->recorded[o] = one(fs, F_RECORDED, outcome_name((outcome_t)o), e))) goto fail;
    for (int i = 0; i < SESSION_REFUSALS; i++)
        if (!(m->dropped[i] = one(fs, F_DROPPED,
                                  session_record_name((session_record_result)(SESSION_DUPLICATE + i)),
                                  e)))
            goto fail;
    struct {
        metrics_series **s;
        int f;
    } singles[] = {{&m->summaries, F_SUMMARIES},
                   {&m->timeouts, F_TIMEOUTS},
                   {&m->redis_retries, F_REDIS_RETRIES},
                   {&m->inflight_messages, F_INFLIGHT_MESSAGES},
                   {&m->inflight_http, F_INFLIGHT_HTTP},
                   {&m->intake_held, F_INTAKE_HELD},
                   {&m->intake_holds, F_INTAKE_HOLDS},
                   {&m->breaker_fast_fails, F_FAST_FAILS},
                   {&m->breaker_probes, F_PROBES},
                   {&m->breaker_opens, F_OPENS},
                   {&m->breakers_open, F_BREAKERS_OPEN},
                   {&m->calls_skipped, F_SKIPPED}};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (!(*singles[i].s = one(fs, singles[i].f, NULL, e))) goto fail;
    return AGG_OK;
fail:
    wmetrics_free(m);
    return AGG_ERR;
}

void wmetrics_free(wmetrics *m) {
    metrics_free(m->reg);
    memset(m, 0, sizeof *m);
}

void wmetrics_sample(wmetrics *m, long inflight_messages, long inflight_http, int intake_held,
                     const int assigned[2]) {
    metrics_set(m->inflight_messages, (double)inflight_messages);
    metrics_set(m->inflight_http, (double)inflight_http);
    metrics_set(m->intake_held, intake_held ? 1 : 0);
    for (int t = 0; t < 2; t++) metrics_set(m->assigned[t], assigned[t]);
}

void wmetrics_breakers_open_add(wmetrics *m, long d) {
    m->breakers_open_n += d;
    metrics_set(m->breakers_open, (double)m->breakers_open_n);
}
