/* test_worker_metrics: the worker's Prometheus text rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* the worker sources are not in libagg: compile the modules under test into this program. */
#include "wmetrics.h"

/* 1 when text holds line as a whole line. */
static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    return 0;
}

static void renders_every_series(void **state) {
    wmetrics m;
    memset(&m, 0, sizeof m);
    m.messages[0] = 7;
    m.messages[1] = 9;
    m.bad_messages[1] = 2;
    m.recorded[OUTCOME_OK] = 5;
    m.recorded[OUTCOME_REJECTED] = 1;
    m.recorded[OUTCOME_CONNECTION_CLOSED] = 3;
    m.dropped[SESSION_DUPLICATE - SESSION_DUPLICATE] = 4;
    m.dropped[SESSION_INVALID_STATUS - SESSION_DUPLICATE] = 6;
    m.summaries = 11;
    m.timeouts = 2;
    m.redis_retries = 13;
    m.intake_holds = 4;
    m.breaker_fast_fails = 8;
    m.breaker_probes = 2;
    m.breaker_opens = 3;
    m.breakers_open = 1;
    m.calls_skipped = 8;
    char *t = wmetrics_render(&m, 3, 1, 1, (const int[2]){2, 4}, NULL);
    assert_non_null(t);
    assert_true(has_line(t, "worker_messages_total{topic=\"requests\"} 7"));
    assert_true(has_line(t, "worker_messages_total{topic=\"callbacks\"} 9"));
    assert_true(has_line(t, "worker_bad_messages_total{topic=\"requests\"} 0"));
    assert_true(has_line(t, "worker_bad_messages_total{topic=\"callbacks\"} 2"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"ok\"} 5"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"REJECTED\"} 1"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"TIMEOUT\"} 0"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"CONNECTION_CLOSED\"} 3"));
    assert_true(has_line(t, "worker_outcomes_recorded_total{status=\"ERROR\"} 0"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"duplicate\"} 4"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"unknown-session\"} 0"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"finished\"} 0"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"unknown-source\"} 0"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"patient-mismatch\"} 0"));
    assert_true(has_line(t, "worker_callbacks_dropped_total{reason=\"invalid-status\"} 6"));
    assert_true(has_line(t, "worker_summaries_total 11"));
    assert_true(has_line(t, "aggregator_timeouts_total 2"));
    assert_true(has_line(t, "worker_redis_retries_total 13"));
    assert_true(has_line(t, "worker_inflight_messages 3"));
    assert_true(has_line(t, "worker_inflight_http 1"));
    assert_true(has_line(t, "worker_intake_held 1"));
    assert_true(has_line(t, "worker_intake_holds_total 4"));
    assert_true(has_line(t, "worker_partitions_assigned{topic=\"requests\"} 2"));
    assert_true(has_line(t, "worker_partitions_assigned{topic=\"callbacks\"} 4"));
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
}

/* Every line is a comment (# HELP/# TYPE name ...) or "name{labels} value"
 * for a name announced by a # TYPE line before it; the text ends with \n. */
static void format_is_well_formed(void **state) {
    wmetrics m;
    memset(&m, 0, sizeof m);
    char *t = wmetrics_render(&m, 0, 0, 0, (const int[2]){0, 0}, NULL);
    assert_non_null(t);
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
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_every_series),
        cmocka_unit_test(format_is_well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
