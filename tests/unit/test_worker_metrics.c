/* test_worker_metrics: the worker's families and series in the registry, as Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* the worker sources are not in libagg: compile the modules under test into this program. */
#include "failalloc.h"
#include "mbuckets.h"
#include "wmetrics.h"

static const char *const TOPICS[2] = {"agg.requests", "agg.callbacks"};

/* Two configured resources: the source label of the per-source series. */
static const resource_list *resources(void) {
    static resource_list r;
    if (r.n == 0) assert_int_equal(reslist_parse("a=http://h:1,b=http://h:2", &r, NULL), AGG_OK);
    return &r;
}

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

static char *render(wmetrics *m) {
    char *t = metrics_render_prometheus(m->reg, NULL);
    assert_non_null(t);
    return t;
}

static void renders_every_series(void **state) {
    wmetrics m;
    assert_int_equal(wmetrics_init(&m, resources(), TOPICS, NULL), AGG_OK);
    metrics_inc(m.messages[0], 7);
    metrics_inc(m.messages[1], 9);
    metrics_inc(m.bad_messages[1], 2);
    metrics_inc(m.recorded[OUTCOME_OK], 5);
    metrics_inc(m.recorded[OUTCOME_REJECTED], 1);
    metrics_inc(m.recorded[OUTCOME_CONNECTION_CLOSED], 3);
    metrics_inc(m.dropped[SESSION_DUPLICATE - SESSION_DUPLICATE], 4);
    metrics_inc(m.dropped[SESSION_INVALID_STATUS - SESSION_DUPLICATE], 6);
    metrics_inc(m.summaries, 11);
    metrics_inc(m.timeouts, 2);
    metrics_inc(m.redis_retries, 13);
    metrics_inc(m.intake_holds, 4);
    metrics_inc(m.breaker_fast_fails, 8);
    metrics_inc(m.breaker_probes, 2);
    metrics_inc(m.breaker_opens, 3);
    wmetrics_breakers_open_add(&m, 1);
    wmetrics_breakers_open_add(&m, 1);
    wmetrics_breakers_open_add(&m, -1);
    metrics_inc(m.calls_skipped, 8);
    wmetrics_sample(&m, 3, 1, 1, (const int[2]){2, 4});
    char *t = render(&m);
    assert_true(has_line(t, "worker_messages_total{topic=\"agg.requests\"} 7"));
    assert_true(has_line(t, "worker_messages_total{topic=\"agg.callbacks\"} 9"));
    assert_true(has_line(t, "worker_bad_messages_total{topic=\"agg.requests\"} 0"));
    assert_true(has_line(t, "worker_bad_messages_total{topic=\"agg.callbacks\"} 2"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"ok\"} 5"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"REJECTED\"} 1"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"TIMEOUT\"} 0"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"CONNECTION_CLOSED\"} 3"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"ERROR\"} 0"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"duplicate\"} 4"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"unknown-session\"} 0"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"finished\"} 0"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"unknown-source\"} 0"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"patient-mismatch\"} 0"));
    assert_true(has_line(t, "callbacks_dropped_total{reason=\"invalid-status\"} 6"));
    assert_true(has_line(t, "worker_summaries_total 11"));
    assert_true(has_line(t, "aggregator_timeouts_total 2"));
    assert_true(has_line(t, "worker_redis_retries_total 13"));
    assert_true(has_line(t, "worker_inflight_messages 3"));
    assert_true(has_line(t, "worker_inflight_http 1"));
    assert_true(has_line(t, "worker_intake_held 1"));
    assert_true(has_line(t, "worker_intake_holds_total 4"));
    assert_true(has_line(t, "worker_partitions_assigned{topic=\"agg.requests\"} 2"));
    assert_true(has_line(t, "worker_partitions_assigned{topic=\"agg.callbacks\"} 4"));
    assert_true(has_line(t, "# TYPE worker_partitions_assigned gauge"));
    assert_true(has_line(t, "worker_breaker_fast_fails_total 8"));
    assert_true(has_line(t, "worker_breaker_probes_total 2"));
    assert_true(has_line(t, "worker_breaker_opens_total 3"));
    assert_true(has_line(t, "worker_breakers_open 1"));
    assert_true(has_line(t, "# TYPE worker_breakers_open gauge"));
    assert_true(has_line(t, "worker_calls_skipped_total 8"));
    assert_true(has_line(t, "# TYPE worker_messages_total counter"));
    assert_true(has_line(t, "# TYPE worker_inflight_http gauge"));
    assert_true(has_line(t, "# TYPE aggregator_timeouts_total counter"));
    free(t);
    wmetrics_free(&m);
}

static void renders_sessions_sources_and_kafka(void **state) {
    (void)state;
    wmetrics m;
    assert_int_equal(wmetrics_init(&m, resources(), TOPICS, NULL), AGG_OK);
    wmetrics_completed(&m, 0, 1500);
    wmetrics_completed(&m, 0, -1); /* unknown duration: counted, not observed */
    wmetrics_completed(&m, 1, 20000);
    int b = wmetrics_source(&m, "b", 1);
    assert_int_equal(b, 1);
    assert_int_equal(wmetrics_source(&m, "b", 0), 1); /* a wrong hint: looked up */
    assert_int_equal(wmetrics_source(&m, "a", -1), 0);
    assert_int_equal(wmetrics_source(&m, "c", 0), -1);
    wmetrics_outcome(&m, b, OUTCOME_OK);
    wmetrics_outcome(&m, b, OUTCOME_TIMEOUT);
    wmetrics_outcome(&m, b, OUTCOME_TIMEOUT);
    wmetrics_outcome(&m, -1, OUTCOME_OK);       /* not configured: not counted */
    wmetrics_outcome(&m, 0, OUTCOME_ACCEPTED);  /* not an outcome of a session */
    wmetrics_call(&m, 0, OUTCOME_ACCEPTED, 0.02);
    wmetrics_call(&m, 0, OUTCOME_ERROR, -1);    /* clock went back: 0 */
    wmetrics_call(&m, 2, OUTCOME_OK, 1);        /* out of range: not counted */
    wmetrics_circuit(&m, b, BREAKER_OPEN);
    metrics_observe(m.consume_delay[1], 0.003);
    metrics_set(m.lag[0], 12);
    metrics_set(m.partitions[1], 6);
    rdsmeter_observe(RDS_CMD_HMGET, 0.0007, &m.redis);
    char *t = render(&m);
    assert_true(
        has_line(t, "aggregator_sessions_completed_total{completed_by=\"ALL_RESPONDED\"} 2"));
    assert_true(has_line(t, "aggregator_sessions_completed_total{completed_by=\"TIMEOUT\"} 1"));
    assert_true(has_line(t, "aggregator_session_duration_seconds_count 2"));
    assert_true(has_line(t, "aggregator_session_duration_seconds_bucket{le=\"1\"} 0"));
    assert_true(has_line(t, "aggregator_session_duration_seconds_bucket{le=\"2.5\"} 1"));
    assert_true(has_line(t, "aggregator_session_duration_seconds_bucket{le=\"20\"} 2"));
    assert_true(has_line(t, "aggregator_outcomes_total{source=\"b\",status=\"ok\"} 1"));
    assert_true(has_line(t, "aggregator_outcomes_total{source=\"b\",status=\"TIMEOUT\"} 2"));
    assert_true(has_line(t, "aggregator_outcomes_total{source=\"a\",status=\"ok\"} 0"));
    assert_null(strstr(t, "aggregator_outcomes_total{source=\"a\",status=\"ACCEPTED\"}"));
    assert_true(has_line(t, "resource_call_seconds_count{source=\"a\",outcome=\"ACCEPTED\"} 1"));
    assert_true(has_line(t, "resource_call_seconds_bucket{source=\"a\",outcome=\"ACCEPTED\","
                            "le=\"0.025\"} 1"));
    assert_true(has_line(t, "resource_call_seconds_count{source=\"a\",outcome=\"ERROR\"} 1"));
    assert_true(has_line(t, "resource_call_seconds_sum{source=\"a\",outcome=\"ERROR\"} 0"));
    assert_true(has_line(t, "resource_call_seconds_count{source=\"b\",outcome=\"ok\"} 0"));
    assert_true(has_line(t, "resource_circuit_state{source=\"a\",state=\"closed\"} 1"));
    assert_true(has_line(t, "resource_circuit_state{source=\"a\",state=\"open\"} 0"));
    assert_true(has_line(t, "resource_circuit_state{source=\"b\",state=\"closed\"} 0"));
    assert_true(has_line(t, "resource_circuit_state{source=\"b\",state=\"open\"} 1"));
    assert_true(has_line(t, "resource_circuit_state{source=\"b\",state=\"half_open\"} 0"));
    assert_true(has_line(t, "kafka_consume_delay_seconds_count{topic=\"agg.callbacks\"} 1"));
    assert_true(has_line(t, "kafka_consume_delay_seconds_bucket{topic=\"agg.callbacks\","
                            "le=\"0.0025\"} 0"));
    assert_true(has_line(t, "kafka_consume_delay_seconds_bucket{topic=\"agg.callbacks\","
                            "le=\"0.005\"} 1"));
    assert_true(has_line(t, "kafka_consume_delay_seconds_count{topic=\"agg.requests\"} 0"));
    assert_true(has_line(t, "kafka_consumer_lag{topic=\"agg.requests\"} 12"));
    assert_true(has_line(t, "kafka_topic_partitions{topic=\"agg.callbacks\"} 6"));
    assert_true(has_line(t, "redis_command_seconds_count{command=\"HMGET\"} 1"));
    assert_true(has_line(t, "redis_command_seconds_bucket{command=\"HMGET\",le=\"0.001\"} 1"));
    assert_true(has_line(t, "# TYPE resource_call_seconds histogram"));
    assert_true(has_line(t, "# TYPE resource_circuit_state gauge"));
    assert_true(has_line(t, "# TYPE kafka_consumer_lag gauge"));
    free(t);
    wmetrics_free(&m);
}

/* Without wmetrics_init (a test's worker): no source is known and nothing is counted. */
static void zeroed_counts_nothing(void **state) {
    (void)state;
    wmetrics m;
    memset(&m, 0, sizeof m);
    assert_int_equal(wmetrics_source(&m, "a", 0), -1);
    wmetrics_outcome(&m, 0, OUTCOME_OK);
    wmetrics_call(&m, 0, OUTCOME_OK, 1);
    wmetrics_circuit(&m, 0, BREAKER_OPEN);
    wmetrics_completed(&m, 0, 10);
    wmetrics_free(&m);
}

/* The sample's metric name (up to '{' or ' ') is the family's, or for a histogram the family's
 * with _bucket, _sum or _count. */
static int names_family(const char *line, size_t name_len, const char *family, int histogram) {
    size_t f = strlen(family);
    if (name_len == f) return strncmp(line, family, f) == 0;
    if (!histogram || name_len < f || strncmp(line, family, f) != 0) return 0;
    const char *suffix = line + f;
    size_t n = name_len - f;
    return (n == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
           (n == 4 && strncmp(suffix, "_sum", 4) == 0) ||
           (n == 6 && strncmp(suffix, "_count", 6) == 0);
}

/* Every line is a comment (# HELP/# TYPE name ...) or "name{labels} value" for a name announced
 * by a # TYPE line before it (a histogram's with its suffixes); the text ends with \n. Before
 * any update every value is 0 but the closed state of each circuit. */
static void format_is_well_formed(void **state) {
    wmetrics m;
    assert_int_equal(wmetrics_init(&m, resources(), TOPICS, NULL), AGG_OK);
    wmetrics_sample(&m, 0, 0, 0, (const int[2]){0, 0});
    char *t = render(&m);
    size_t len = strlen(t);
    assert_true(len > 0 && t[len - 1] == '\n');
    char typed[32][64], kind[32][16];
    int n_typed = 0;
    int samples = 0, ones = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_true(n_typed < 32);
            assert_int_equal(sscanf(line + 7, "%63s %15s", typed[n_typed], kind[n_typed]), 2);
            n_typed++;
            continue;
        }
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        assert_true(line[0] != '#');
        size_t name_len = strcspn(line, "{ ");
        int known = 0;
        for (int i = 0; i < n_typed; i++)
            if (names_family(line, name_len, typed[i], strcmp(kind[i], "histogram") == 0))
                known = 1;
        assert_true(known);
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        if (strncmp(line, "resource_circuit_state{", 23) == 0 && strstr(line, "state=\"closed\"")) {
            assert_string_equal(value, " 1");
            ones++;
        } else {
            assert_string_equal(value, " 0");
        }
        samples++;
    }
    /* 17 families of counts and gauges, 8 of sessions, sources and Kafka, the Redis meter, 3 of
     * the audit relay */
    assert_int_equal(n_typed, 17 + 8 + 1 + 3);
    assert_int_equal(ones, 2);
    /* a histogram's series: its buckets, +Inf, sum and count */
    const int request_h = MBUCKETS_REQUEST_N + 3, fast_h = MBUCKETS_FAST_N + 3;
    /* the 6 refusals of a session and invalid_capability: 7 reasons of callbacks_dropped_total */
    assert_int_equal(samples, 2 + 2 + 5 + 7 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 4 + 1 /* counts */
                                  + 2 + request_h             /* completed, duration */
                                  + 2 * 5 + 2 * 6 * request_h /* outcomes, calls */
                                  + 2 * 3 + 2 * fast_h        /* circuits, delay */
                                  + 2 + 2                     /* lag, partitions */
                                  + RDS_COMMAND__COUNT * fast_h
                                  + 3 /* audit: published, failures, pending */);
    free(t);
    wmetrics_free(&m);
}

static void init_fails_cleanly(void **state) {
    (void)state;
    for (size_t k = 1;; k++) {
        wmetrics m;
        err_t e;
        failalloc_arm(k);
        int rc = wmetrics_init(&m, resources(), TOPICS, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(rc, AGG_OK);
            wmetrics_free(&m);
            break;
        }
        assert_int_equal(rc, AGG_ERR);
        assert_true(err_is_nomem(&e));
        assert_null(m.reg);
        metrics_inc(m.summaries, 1); /* NULL series: harmless */
        wmetrics_free(&m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_every_series),
        cmocka_unit_test(renders_sessions_sources_and_kafka),
        cmocka_unit_test(zeroed_counts_nothing),
        cmocka_unit_test(format_is_well_formed),
        cmocka_unit_test(init_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
