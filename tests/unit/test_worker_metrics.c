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
#include "wmetrics.h"

static const char *const TOPICS[2] = {"agg.requests", "agg.callbacks"};

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
    assert_int_equal(wmetrics_init(&m, TOPICS, NULL), AGG_OK);
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

/* Every line is a comment (# HELP/# TYPE name ...) or "name{labels} value"
 * for a name announced by a # TYPE line before it; the text ends with \n. */
static void format_is_well_formed(void **state) {
    wmetrics m;
    assert_int_equal(wmetrics_init(&m, TOPICS, NULL), AGG_OK);
    wmetrics_sample(&m, 0, 0, 0, (const int[2]){0, 0});
    char *t = render(&m);
    size_t len = strlen(t);
    assert_true(len > 0 && t[len - 1] == '\n');
    char typed[32][64];
    int n_typed = 0;
    int samples = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_true(n_typed < 32);
            assert_int_equal(sscanf(line + 7, "%63s", typed[n_typed]), 1);
            n_typed++;
            continue;
        }
        if (strncmp(line, "# HELP ", 7) == 0) continue;
        assert_true(line[0] != '#');
        size_t name_len = strcspn(line, "{ ");
        int known = 0;
        for (int i = 0; i < n_typed; i++)
            if (strlen(typed[i]) == name_len && strncmp(typed[i], line, name_len) == 0) known = 1;
        assert_true(known);
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        assert_string_equal(value, " 0");
        samples++;
    }
    assert_int_equal(n_typed, 17);
    assert_int_equal(samples, 2 + 2 + 5 + 6 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 4 + 1);
    free(t);
    wmetrics_free(&m);
}

static void init_fails_cleanly(void **state) {
    (void)state;
    for (size_t k = 1;; k++) {
        wmetrics m;
        err_t e;
        failalloc_arm(k);
        int rc = wmetrics_init(&m, TOPICS, &e);
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
        cmocka_unit_test(format_is_well_formed),
        cmocka_unit_test(init_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
