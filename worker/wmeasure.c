/* wmeasure: the worker's session, outcome, resource call, Kafka and circuit series. */
#include "wmeasure.h"

#include <string.h>

#include "mbuckets.h"

static metrics_family_def completed_def = {
    .name = "aggregator_sessions_completed_total",
    .dotted_name = "aggregator.sessions.completed",
    .help = "Session summaries this worker wrote, by the summary's completedBy.",
    .type = METRICS_COUNTER,
    .labels = {"completed_by"},
};
static metrics_family_def duration_def = {
    .name = "aggregator_session_duration_seconds",
    .dotted_name = "aggregator.session.duration",
    .help = "Sessions from their start to the summary this worker wrote.",
    .base_unit = "seconds",
    .type = METRICS_HISTOGRAM,
};
static metrics_family_def outcomes_def = {
    .name = "aggregator_outcomes_total",
    .dotted_name = "aggregator.outcomes",
    .help = "Resource outcomes this worker recorded in a session, by source and status.",
    .type = METRICS_COUNTER,
    .labels = {"source", "status"},
    .max_series = RESLIST_MAX * OUTCOME_ACCEPTED,
};
static metrics_family_def calls_def = {
    .name = "resource_call_seconds",
    .dotted_name = "resource.call",
    .help = "Fan-out calls to resources, by source and outcome (ACCEPTED: the answer comes by "
            "callback).",
    .base_unit = "seconds",
    .type = METRICS_HISTOGRAM,
    .labels = {"source", "outcome"},
    .max_series = RESLIST_MAX * WMEASURE_OUTCOMES,
};
static metrics_family_def circuit_def = {
    .name = "resource_circuit_state",
    .dotted_name = "resource.circuit.state",
    .help = "1 for the state this worker sees a resource's circuit in, 0 for the others.",
    .type = METRICS_GAUGE,
    .labels = {"source", "state"},
    .max_series = RESLIST_MAX * WMEASURE_STATES,
};
static metrics_family_def delay_def = {
    .name = "kafka_consume_delay_seconds",
    .dotted_name = "kafka.consume.delay",
    .help = "From a message's timestamp to its handling by this worker, by topic.",
    .base_unit = "seconds",
    .type = METRICS_HISTOGRAM,
    .labels = {"topic"},
};
static metrics_family_def lag_def = {
    .name = "kafka_consumer_lag",
    .dotted_name = "kafka.consumer.lag",
    .help = "Messages not yet consumed on the partitions this worker owns, by topic "
            "(librdkafka statistics, every second).",
    .type = METRICS_GAUGE,
    .labels = {"topic"},
};

static const metrics_family_def partitions_def = {
    .name = "kafka_topic_partitions",
    .dotted_name = "kafka.topic.partitions",
    .help = "Partitions the topic has (Kafka metadata, every second), by topic: what "
            "worker_partitions_assigned summed over the workers must reach.",
    .type = METRICS_GAUGE,
    .labels = {"topic"},
};

/* The label of breaker state s (the names Resilience4j gives them). */
static const char *const state_names[WMEASURE_STATES] = {"closed", "open", "half_open"};

static const char *completed_names[2] = {"ALL_RESPONDED", "TIMEOUT"};

int wmeasure_init(wmeasure *m, metrics *reg, const resource_list *res, const char *const topics[2],
                  err_t *e) {
    memset(m, 0, sizeof *m);
    m->res = res;
    duration_def.buckets = calls_def.buckets = mbuckets_request;
    duration_def.n_buckets = calls_def.n_buckets = mbuckets_request_n;
    delay_def.buckets = mbuckets_fast;
    delay_def.n_buckets = mbuckets_fast_n;
    metrics_family *fc, *fd, *fo, *fr, *fs, *fk, *fl, *fp;
    if (!(fc = metrics_family_add(reg, &completed_def, e)) ||
        !(fd = metrics_family_add(reg, &duration_def, e)) ||
        !(fo = metrics_family_add(reg, &outcomes_def, e)) ||
        !(fr = metrics_family_add(reg, &calls_def, e)) ||
        !(fs = metrics_family_add(reg, &circuit_def, e)) ||
        !(fk = metrics_family_add(reg, &delay_def, e)) ||
        !(fl = metrics_family_add(reg, &lag_def, e)) ||
        !(fp = metrics_family_add(reg, &partitions_def, e)))
        return AGG_ERR;
    if (!(m->completed_all = metrics_series_get(fc, &completed_names[0], 1, e)) ||
        !(m->completed_timeout = metrics_series_get(fc, &completed_names[1], 1, e)) ||
        !(m->duration = metrics_series_get0(fd, e)))
        return AGG_ERR;
    for (int t = 0; t < 2; t++)
        if (!(m->consume_delay[t] = metrics_series_get(fk, &topics[t], 1, e)) ||
            !(m->lag[t] = metrics_series_get(fl, &topics[t], 1, e)) ||
            !(m->partitions[t] = metrics_series_get(fp, &topics[t], 1, e)))
            return AGG_ERR;
    for (int i = 0; i < res->n; i++) {
        const char *v[2] = {res->items[i].source, NULL};
        for (int o = 0; o < WMEASURE_OUTCOMES; o++) {
            v[1] = outcome_name((outcome_t)o);
            if (o < OUTCOME_ACCEPTED && !(m->outcomes[i][o] = metrics_series_get(fo, v, 2, e)))
                return AGG_ERR;
            if (!(m->calls[i][o] = metrics_series_get(fr, v, 2, e))) return AGG_ERR;
        }
        for (int s = 0; s < WMEASURE_STATES; s++) {
            v[1] = state_names[s];
            if (!(m->circuit[i][s] = metrics_series_get(fs, v, 2, e))) return AGG_ERR;
        }
        wmeasure_circuit(m, i, BREAKER_CLOSED);
    }
    return rdsmeter_init(&m->redis, reg, e);
}

int wmeasure_source(const wmeasure *m, const char *source, int hint) {
    const resource_list *r = m->res;
    if (r == NULL) return -1; /* not initialised (a test's worker without wmeasure_init) */
    if (hint >= 0 && hint < r->n && strcmp(r->items[hint].source, source) == 0) return hint;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->items[i].source, source) == 0) return i;
    return -1;
}

static int known(const wmeasure *m, int res) { return m->res && res >= 0 && res < m->res->n; }

void wmeasure_completed(wmeasure *m, int by_timeout, long long elapsed_ms) {
    metrics_inc(by_timeout ? m->completed_timeout : m->completed_all, 1);
    if (elapsed_ms >= 0) metrics_observe(m->duration, (double)elapsed_ms / 1000.0);
}

void wmeasure_outcome(wmeasure *m, int res, outcome_t o) {
    if (known(m, res) && o >= OUTCOME_OK && o < OUTCOME_ACCEPTED)
        metrics_inc(m->outcomes[res][o], 1);
}

void wmeasure_call(wmeasure *m, int res, outcome_t o, double seconds) {
    if (known(m, res) && o >= OUTCOME_OK && o <= OUTCOME_ACCEPTED)
        metrics_observe(m->calls[res][o], seconds >= 0 ? seconds : 0);
}

void wmeasure_circuit(wmeasure *m, int res, breaker_state s) {
    if (!known(m, res)) return;
    for (int i = 0; i < WMEASURE_STATES; i++) metrics_set(m->circuit[res][i], (int)s == i);
}
