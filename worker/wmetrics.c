/* wmetrics: the worker's counters and gauges, rendered in Prometheus text format 0.0.4. */
#include "wmetrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"

static const char *const topic_names[2] = {"requests", "callbacks"};

static void header(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric without labels: its header and its one sample. */
static void single(FILE *f, const char *name, const char *type, const char *help, long long v) {
    header(f, name, type, help);
    fprintf(f, "%s %lld\n", name, v);
}

char *wmetrics_render(const wmetrics *m, long inflight_messages, long inflight_http,
                      int intake_held, const int assigned[2], err_t *e) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        err_nomem(e);
        return NULL;
    }

    header(f, "worker_messages_total", "counter", "Kafka messages received, by topic.");
    for (int i = 0; i < 2; i++)
        fprintf(f, "worker_messages_total{topic=\"%s\"} %llu\n", topic_names[i], m->messages[i]);

    header(f, "worker_bad_messages_total", "counter",
           "Kafka messages that failed validation and were skipped, by topic.");
    for (int i = 0; i < 2; i++)
        fprintf(f, "worker_bad_messages_total{topic=\"%s\"} %llu\n", topic_names[i],
                m->bad_messages[i]);

    header(f, "worker_outcomes_recorded_total", "counter",
           "Resource outcomes this worker wrote to a session, by status.");
    for (int o = OUTCOME_OK; o <= OUTCOME_ERROR; o++)
        fprintf(f, "worker_outcomes_recorded_total{status=\"%s\"} %llu\n",
                outcome_name((outcome_t)o), m->recorded[o]);

    header(f, "worker_callbacks_dropped_total", "counter",
           "Outcomes the session refused (already recorded, unknown or finished session...), by "
           "reason.");
    for (int i = 0; i < SESSION_REFUSALS; i++)
        fprintf(f, "worker_callbacks_dropped_total{reason=\"%s\"} %llu\n",
                session_record_name((session_record_result)(SESSION_DUPLICATE + i)), m->dropped[i]);

    single(f, "worker_summaries_total", "counter", "Session summaries this worker wrote.",
           (long long)m->summaries);

    single(f, "aggregator_timeouts_total", "counter",
           "Sessions this worker completed by deadline (completedBy TIMEOUT).",
           (long long)m->timeouts);

    single(f, "worker_redis_retries_total", "counter",
           "Redis calls retried after Redis was unavailable or failed.",
           (long long)m->redis_retries);

    single(f, "worker_inflight_messages", "gauge", "Kafka messages being handled.",
           (long long)inflight_messages);

    single(f, "worker_inflight_http", "gauge", "Calls to resources in flight.",
           (long long)inflight_http);

    single(f, "worker_intake_held", "gauge",
           "1 while WORKER_MAX_IN_FLIGHT messages are in flight and no more are taken from Kafka.",
           intake_held ? 1 : 0);

    header(f, "worker_partitions_assigned", "gauge",
           "Partitions this worker owns, by topic (each topic has its own consumer group).");
    for (int i = 0; i < 2; i++)
        fprintf(f, "worker_partitions_assigned{topic=\"%s\"} %d\n", topic_names[i], assigned[i]);

    single(f, "worker_intake_holds_total", "counter",
           "Times the worker stopped taking messages at WORKER_MAX_IN_FLIGHT (sustained "
           "overload: add workers and partitions).",
           (long long)m->intake_holds);

    single(f, "worker_breaker_fast_fails_total", "counter",
           "Resource calls not made because the resource's circuit was open (outcome ERROR, "
           "reason circuit open).",
           (long long)m->breaker_fast_fails);

    single(f, "worker_breaker_probes_total", "counter",
           "Probe calls this worker was granted after a cool-down.", (long long)m->breaker_probes);

    single(f, "worker_breaker_opens_total", "counter",
           "Circuits opened (or opened again by a failed probe) by this worker's failure reports.",
           (long long)m->breaker_opens);

    single(f, "worker_breakers_open", "gauge",
           "Resources whose circuit this worker sees open or probing.",
           (long long)m->breakers_open);

    single(f, "worker_calls_skipped_total", "counter",
           "Resource calls of a re-delivered fan-out message not made again: the session "
           "had them claimed.",
           (long long)m->calls_skipped);

    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        agg_free(buf);
        err_nomem(e);
        return NULL;
    }
    return buf;
}
