/* test_gateway_metrics: the gateway's families and series in the registry, as Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "failalloc.h"
#include "gwmetrics.h"

static const char *const TOPICS[2] = {"agg.requests", "agg.callbacks"};

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

static char *render(gw_metrics *m) {
    char *t = metrics_render_prometheus(m->reg, NULL);
    assert_non_null(t);
    return t;
}

static void renders_every_series(void **state) {
    (void)state;
    gw_metrics m;
    assert_int_equal(gwmetrics_init(&m, TOPICS, NULL), AGG_OK);
    gwmetrics_session_started(&m, GW_STRATEGY_SSE);
    gwmetrics_session_started(&m, GW_STRATEGY_WAIT);
    gwmetrics_session_started(&m, GW_STRATEGY_WAIT);
    gwmetrics_event_sent(&m);
    metrics_inc(m.sessions_shed, 3);
    gwmetrics_sample(&m, 4, 2, 1, 7);
    char *t = render(&m);
    assert_true(has_line(t, "gateway_sessions_started_total{strategy=\"SSE\"} 1"));
    assert_true(has_line(t, "aggregator_sessions_started_total{strategy=\"WAIT_FOR_EVERYONE\"} 2"));
    assert_true(has_line(t, "gateway_stream_events_sent_total 1"));
    assert_true(has_line(t, "sse_events_sent_total 1"));
    assert_true(has_line(t, "gateway_sessions_shed_total 3"));
    assert_true(has_line(t, "sse_active_connections 4"));
    assert_true(has_line(t, "gateway_session_listeners 2"));
    assert_true(has_line(t, "gateway_shutting_down 1"));
    assert_true(has_line(t, "gateway_http_connections_reaped_total 7"));
    assert_true(has_line(t, "# TYPE kafka_produce_seconds histogram"));
    assert_true(has_line(t, "# TYPE redis_command_seconds histogram"));
    free(t);
    gwmetrics_free(&m);
}

static void produce_and_redis_latency(void **state) {
    (void)state;
    gw_metrics m;
    assert_int_equal(gwmetrics_init(&m, TOPICS, NULL), AGG_OK);
    gwmetrics_produced(&m, GW_TOPIC_REQUESTS, 0.004);
    gwmetrics_produced(&m, GW_TOPIC_CALLBACKS, 0.02);
    gwmetrics_produced(&m, GW_TOPIC_CALLBACKS, 0.03);
    gwmetrics_produced(&m, GW_TOPIC_REQUESTS, -1); /* unknown: not observed */
    gwmetrics_produced(&m, 2, 1);                   /* not a topic: not observed */
    rdsmeter_observe(RDS_CMD_XRANGE, 0.002, &m.redis);
    rdsmeter_observe(RDS_COMMAND__COUNT, 0.002, &m.redis); /* not a command id: ignored */
    char *t = render(&m);
    assert_true(has_line(t, "kafka_produce_seconds_count{topic=\"agg.requests\"} 1"));
    assert_true(has_line(t, "kafka_produce_seconds_bucket{topic=\"agg.requests\",le=\"0.005\"} 1"));
    assert_true(
        has_line(t, "kafka_produce_seconds_bucket{topic=\"agg.requests\",le=\"0.0025\"} 0"));
    assert_true(has_line(t, "kafka_produce_seconds_count{topic=\"agg.callbacks\"} 2"));
    assert_true(
        has_line(t, "kafka_produce_seconds_bucket{topic=\"agg.callbacks\",le=\"0.025\"} 1"));
    assert_true(
        has_line(t, "kafka_produce_seconds_bucket{topic=\"agg.callbacks\",le=\"+Inf\"} 2"));
    assert_true(has_line(t, "redis_command_seconds_count{command=\"XRANGE\"} 1"));
    assert_true(has_line(t, "redis_command_seconds_count{command=\"other\"} 0"));
    free(t);
    gwmetrics_free(&m);
}

static void init_fails_cleanly(void **state) {
    (void)state;
    for (size_t k = 1;; k++) {
        gw_metrics m;
        err_t e;
        failalloc_arm(k);
        int rc = gwmetrics_init(&m, TOPICS, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(rc, AGG_OK);
            gwmetrics_free(&m);
            break;
        }
        assert_int_equal(rc, AGG_ERR);
        assert_true(err_is_nomem(&e));
        assert_null(m.reg);
        gwmetrics_produced(&m, GW_TOPIC_REQUESTS, 1); /* NULL series: harmless */
        gwmetrics_free(&m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_every_series),
        cmocka_unit_test(produce_and_redis_latency),
        cmocka_unit_test(init_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
