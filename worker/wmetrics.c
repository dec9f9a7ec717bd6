/* wmetrics: registers the worker's metric families, resolves every series once and updates the per-source ones. */
#include "wmetrics.h"

#include <string.h>

#include "mbuckets.h"

enum {
    F_MESSAGES, F_BAD, F_RECORDED, F_DROPPED, F_SUMMARIES, F_TIMEOUTS, F_REDIS_RETRIES,
    F_INFLIGHT_MESSAGES, F_INFLIGHT_HTTP, F_INTAKE_HELD, F_ASSIGNED, F_INTAKE_HOLDS,
    F_FAST_FAILS, F_PROBES, F_OPENS, F_BREAKERS_OPEN, F_SKIPPED, F_COMPLETED, F_DURATION,
    F_OUTCOMES, F_CALLS, F_CIRCUIT, F_DELAY, F_LAG, F_PARTITIONS, F_AUDIT_PUBLISHED,
    F_AUDIT_FAILURES, F_AUDIT_PENDING, F_N
};

#define C(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_COUNTER}
#define G(n, d, h) {.name = n, .dotted_name = d, .help = h, .type = METRICS_GAUGE}
#define L1(l) .labels = {l}
#define L2(a, b) .labels = {a, b}

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
                           "session...) or the worker did (invalid_capability), by reason.",
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
    [F_COMPLETED] = {.name = "aggregator_sessions_completed_total",
                     .dotted_name = "aggregator.sessions.completed",
                     .help = "Session summaries this worker wrote, by the summary's completedBy.",
                     .type = METRICS_COUNTER, L1("completed_by")},
    [F_DURATION] = {.name = "aggregator_session_duration_seconds",
                    .dotted_name = "aggregator.session.duration",
                    .help = "Sessions from their start to the summary this worker wrote.",
                    .base_unit = "seconds", .type = METRICS_HISTOGRAM, MBUCKETS_REQUEST},
    [F_OUTCOMES] = {.name = "aggregator_outcomes_total",
                    .dotted_name = "aggregator.outcomes",
                    .help = "Resource outcomes this worker recorded in a session, by source and "
                            "status.",
                    .type = METRICS_COUNTER, L2("source", "status"),
                    .max_series = RESLIST_MAX * OUTCOME_ACCEPTED},
    [F_CALLS] = {.name = "resource_call_seconds",
                 .dotted_name = "resource.call",
                 .help = "Fan-out calls to resources, by source and outcome (ACCEPTED: the answer "
                         "comes by callback).",
                 .base_unit = "seconds", .type = METRICS_HISTOGRAM, L2("source", "outcome"),
                 MBUCKETS_REQUEST, .max_series = RESLIST_MAX * WMETRICS_OUTCOMES},
    [F_CIRCUIT] = {.name = "resource_circuit_state",
                   .dotted_name = "resource.circuit.state",
                   .help = "1 for the state this worker sees a resource's circuit in, 0 for the "
                           "others.",
                   .type = METRICS_GAUGE, L2("source", "state"),
                   .max_series = RESLIST_MAX * WMETRICS_STATES},
    [F_DELAY] = {.name = "kafka_consume_delay_seconds",
                 .dotted_name = "kafka.consume.delay",
                 .help = "From a message's timestamp to its handling by this worker, by topic.",
                 .base_unit = "seconds", .type = METRICS_HISTOGRAM, L1("topic"), MBUCKETS_FAST},
    [F_LAG] = {.name = "kafka_consumer_lag",
               .dotted_name = "kafka.consumer.lag",
               .help = "Messages not yet consumed on the partitions this worker owns, by topic "
                       "(librdkafka statistics, every second).",
               .type = METRICS_GAUGE, L1("topic")},
    [F_PARTITIONS] = {.name = "kafka_topic_partitions",
                      .dotted_name = "kafka.topic.partitions",
                      .help = "Partitions the topic has (Kafka metadata, every second), by topic: "
                              "what worker_partitions_assigned summed over the workers must reach.",
                      .type = METRICS_GAUGE, L1("topic")},
    [F_AUDIT_PUBLISHED] = C("audit_records_published_total", "audit.records.published",
                            "Audit records this worker relayed from the Redis outbox to the "
                            "audit topic (Kafka confirmed delivery)."),
    [F_AUDIT_FAILURES] = C("audit_publish_failures_total", "audit.publish.failures",
                           "Audit records whose publishing failed (left in the outbox and "
                           "published again later)."),
    [F_AUDIT_PENDING] = G("audit_outbox_pending", "audit.outbox.pending",
                          "Audit records in the Redis outbox not yet published (all buckets, "
                          "read by this worker every second)."),
};

/* The label of breaker state s (the names Resilience4j gives them). */
static const char *const state_names[WMETRICS_STATES] = {"closed", "open", "half_open"};

static const char *const completed_names[2] = {"ALL_RESPONDED", "TIMEOUT"};

/* The series of family f with one label value v (NULL = no label). */
static metrics_series *one(metrics_family *fs[F_N], int f, const char *v, err_t *e) {
    return v ? metrics_series_get(fs[f], &v, 1, e) : metrics_series_get0(fs[f], e);
}

/* The per-source series of every configured resource; each circuit starts closed. */
static int sources_init(wmetrics *m, metrics_family *fs[F_N], err_t *e) {
    for (int i = 0; i < m->res->n; i++) {
        const char *v[2] = {m->res->items[i].source, NULL};
        for (int o = 0; o < WMETRICS_OUTCOMES; o++) {
            v[1] = outcome_name((outcome_t)o);
            if (o < OUTCOME_ACCEPTED &&
                !(m->outcomes[i][o] = metrics_series_get(fs[F_OUTCOMES], v, 2, e)))
                return AGG_ERR;
            if (!(m->calls[i][o] = metrics_series_get(fs[F_CALLS], v, 2, e))) return AGG_ERR;
        }
        for (int s = 0; s < WMETRICS_STATES; s++) {
            v[1] = state_names[s];
            if (!(m->circuit[i][s] = metrics_series_get(fs[F_CIRCUIT], v, 2, e))) return AGG_ERR;
        }
        wmetrics_circuit(m, i, BREAKER_CLOSED);
    }
    return AGG_OK;
}

int wmetrics_init(wmetrics *m, const resource_list *res, const char *const topics[2], err_t *e) {
    memset(m, 0, sizeof *m);
    m->res = res;
    metrics_family *fs[F_N];
    if (!(m->reg = metrics_new(e))) return AGG_ERR;
    for (int i = 0; i < F_N; i++)
        if (!(fs[i] = metrics_family_add(m->reg, &defs[i], e))) goto fail;
    for (int t = 0; t < 2; t++)
        if (!(m->messages[t] = one(fs, F_MESSAGES, topics[t], e)) ||
            !(m->bad_messages[t] = one(fs, F_BAD, topics[t], e)) ||
            !(m->assigned[t] = one(fs, F_ASSIGNED, topics[t], e)) ||
            !(m->consume_delay[t] = one(fs, F_DELAY, topics[t], e)) ||
            !(m->lag[t] = one(fs, F_LAG, topics[t], e)) ||
            !(m->partitions[t] = one(fs, F_PARTITIONS, topics[t], e)))
            goto fail;
    for (int o = OUTCOME_OK; o <= OUTCOME_ERROR; o++)
        if (!(m->recorded[o] = one(fs, F_RECORDED, outcome_name((outcome_t)o), e))) goto fail;
    for (int i = 0; i < SESSION_REFUSALS; i++)
        if (!(m->dropped[i] = one(fs, F_DROPPED,
                                  session_record_name((session_record_result)(SESSION_DUPLICATE + i)),
                                  e)))
            goto fail;
    /* Refused by the worker itself before the session saw it (answers_handle). */
    if (!(m->dropped_capability = one(fs, F_DROPPED, "invalid_capability", e))) goto fail;
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
                   {&m->calls_skipped, F_SKIPPED},
                   {&m->audit_published, F_AUDIT_PUBLISHED},
                   {&m->audit_failures, F_AUDIT_FAILURES},
                   {&m->audit_pending, F_AUDIT_PENDING},
                   {&m->duration, F_DURATION}};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (!(*singles[i].s = one(fs, singles[i].f, NULL, e))) goto fail;
    if (!(m->completed_all = one(fs, F_COMPLETED, completed_names[0], e)) ||
        !(m->completed_timeout = one(fs, F_COMPLETED, completed_names[1], e)) ||
        sources_init(m, fs, e) != AGG_OK || rdsmeter_init(&m->redis, m->reg, e) != AGG_OK)
        goto fail;
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

int wmetrics_source(const wmetrics *m, const char *source, int hint) {
    const resource_list *r = m->res;
    if (r == NULL) return -1; /* not initialised (a test's worker without wmetrics_init) */
    if (hint >= 0 && hint < r->n && strcmp(r->items[hint].source, source) == 0) return hint;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->items[i].source, source) == 0) return i;
    return -1;
}

static int known(const wmetrics *m, int res) { return m->res && res >= 0 && res < m->res->n; }

void wmetrics_completed(wmetrics *m, int by_timeout, long long elapsed_ms) {
    metrics_inc(by_timeout ? m->completed_timeout : m->completed_all, 1);
    if (elapsed_ms >= 0) metrics_observe(m->duration, (double)elapsed_ms / 1000.0);
}

void wmetrics_outcome(wmetrics *m, int res, outcome_t o) {
    if (known(m, res) && o >= OUTCOME_OK && o < OUTCOME_ACCEPTED)
        metrics_inc(m->outcomes[res][o], 1);
}

void wmetrics_call(wmetrics *m, int res, outcome_t o, double seconds) {
    if (known(m, res) && o >= OUTCOME_OK && o <= OUTCOME_ACCEPTED)
        metrics_observe(m->calls[res][o], seconds >= 0 ? seconds : 0);
}

void wmetrics_circuit(wmetrics *m, int res, breaker_state s) {
    if (!known(m, res)) return;
    for (int i = 0; i < WMETRICS_STATES; i++) metrics_set(m->circuit[res][i], (int)s == i);
}
