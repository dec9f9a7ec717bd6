/* test_metrics: the registry's series, bounded labels, Prometheus text, actuator JSON and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alloc.h"
#include "failalloc.h"
#include "metrics.h"

static const double BUCKETS[] = {0.1, 1, 2.5};

static const metrics_family_def REQUESTS = {
    .name = "http_server_requests_seconds", .dotted_name = "http.server.requests",
    .help = "HTTP requests", .base_unit = "seconds", .type = METRICS_HISTOGRAM,
    .labels = {"uri", "status"}, .buckets = BUCKETS, .n_buckets = 3, .max_series = 3};
static const metrics_family_def EVENTS = {.name = "sse_events_sent_total",
                                          .dotted_name = "sse.events.sent",
                                          .help = "Events \\ sent\nto clients",
                                          .type = METRICS_COUNTER};
static const metrics_family_def OPEN = {.name = "sse_active_connections",
                                        .dotted_name = "sse.active.connections",
                                        .alias = "sse.active.sinks", .help = "Open streams",
                                        .type = METRICS_GAUGE};

static metrics *registry(metrics_family **req, metrics_family **ev, metrics_family **open) {
    metrics *m = metrics_new(NULL);
    assert_non_null(m);
    assert_non_null(*req = metrics_family_add(m, &REQUESTS, NULL));
    assert_non_null(*ev = metrics_family_add(m, &EVENTS, NULL));
    assert_non_null(*open = metrics_family_add(m, &OPEN, NULL));
    return m;
}

static void series_are_found_again_and_bounded(void **state) {
    (void)state;
    metrics_family *req, *ev, *open;
    metrics *m = registry(&req, &ev, &open);
    const char *a[] = {"/a", "200"}, *a2[] = {"/a", "200"}, *b[] = {"/b", "404"},
               *c[] = {"/c", "500"}, *d[] = {"/d", "503"};
    metrics_series *sa = metrics_series_get(req, a, 2, NULL);
    assert_non_null(sa);
    assert_ptr_equal(metrics_series_get(req, a2, 2, NULL), sa);
    assert_non_null(metrics_series_get(req, b, 2, NULL));
    assert_non_null(metrics_series_get(req, c, 2, NULL));
    err_t e;
    assert_null(metrics_series_get(req, d, 2, &e)); /* max_series 3 */
    assert_non_null(strstr(e.text, "holds its 3 series"));
    assert_null(metrics_series_get(req, a, 1, &e)); /* wrong arity */
    metrics_inc(NULL, 1); /* a series that could not be made is ignored */
    metrics_observe(NULL, 1);
    metrics_set(NULL, 1);
    assert_true(metrics_value(NULL) == 0);
    metrics_free(m);
}

static void families_are_checked(void **state) {
    (void)state;
    metrics *m = metrics_new(NULL);
    err_t e;
    assert_non_null(metrics_family_add(m, &EVENTS, NULL));
    assert_null(metrics_family_add(m, &EVENTS, &e));
    assert_non_null(strstr(e.text, "twice"));
    static const double down[] = {1, 0.5};
    static const metrics_family_def bad = {.name = "bad_seconds", .type = METRICS_HISTOGRAM,
                                           .buckets = down, .n_buckets = 2};
    assert_null(metrics_family_add(m, &bad, &e));
    assert_non_null(strstr(e.text, "ascend"));
    assert_ptr_equal(metrics_family_find(m, "sse_events_sent_total"),
                     metrics_family_find(m, "sse_events_sent_total"));
    assert_null(metrics_family_find(m, "nope"));
    metrics_free(m);
}

static void prometheus_text_is_exact(void **state) {
    (void)state;
    metrics_family *req, *ev, *open;
    metrics *m = registry(&req, &ev, &open);
    const char *a[] = {"/a", "200"}, *q[] = {"/q\"\\\n", "500"};
    metrics_series *sa = metrics_series_get(req, a, 2, NULL), *sq = metrics_series_get(req, q, 2, NULL);
    metrics_observe(sa, 0.05);
    metrics_observe(sa, 0.1); /* on a bound: in that bucket (le is inclusive) */
    metrics_observe(sa, 2);
    metrics_observe(sa, 7);
    metrics_observe(sq, 0.5);
    metrics_inc(metrics_series_get0(ev, NULL), 3);
    metrics_inc(metrics_series_get0(ev, NULL), 0.5);
    metrics_set(metrics_series_get0(open, NULL), 2);
    char *text = metrics_render_prometheus(m, NULL);
    assert_non_null(text);
    assert_string_equal(
        text,
        "# HELP http_server_requests_seconds HTTP requests\n"
        "# TYPE http_server_requests_seconds histogram\n"
        "http_server_requests_seconds_bucket{uri=\"/a\",status=\"200\",le=\"0.1\"} 2\n"
        "http_server_requests_seconds_bucket{uri=\"/a\",status=\"200\",le=\"1\"} 2\n"
        "http_server_requests_seconds_bucket{uri=\"/a\",status=\"200\",le=\"2.5\"} 3\n"
        "http_server_requests_seconds_bucket{uri=\"/a\",status=\"200\",le=\"+Inf\"} 4\n"
        "http_server_requests_seconds_sum{uri=\"/a\",status=\"200\"} 9.1500000000000004\n"
        "http_server_requests_seconds_count{uri=\"/a\",status=\"200\"} 4\n"
        "http_server_requests_seconds_bucket{uri=\"/q\\\"\\\\\\n\",status=\"500\",le=\"0.1\"} 0\n"
        "http_server_requests_seconds_bucket{uri=\"/q\\\"\\\\\\n\",status=\"500\",le=\"1\"} 1\n"
        "http_server_requests_seconds_bucket{uri=\"/q\\\"\\\\\\n\",status=\"500\",le=\"2.5\"} 1\n"
        "http_server_requests_seconds_bucket{uri=\"/q\\\"\\\\\\n\",status=\"500\",le=\"+Inf\"} 1\n"
        "http_server_requests_seconds_sum{uri=\"/q\\\"\\\\\\n\",status=\"500\"} 0.5\n"
        "http_server_requests_seconds_count{uri=\"/q\\\"\\\\\\n\",status=\"500\"} 1\n"
        "# HELP sse_events_sent_total Events \\\\ sent\\nto clients\n"
        "# TYPE sse_events_sent_total counter\n"
        "sse_events_sent_total 3.5\n"
        "# HELP sse_active_connections Open streams\n"
        "# TYPE sse_active_connections gauge\n"
        "sse_active_connections 2\n");
    agg_free(text);
    metrics_free(m);
}

static void names_are_sorted_with_aliases(void **state) {
    (void)state;
    metrics_family *req, *ev, *open;
    metrics *m = registry(&req, &ev, &open);
    char *s = metrics_render_names(m, NULL);
    assert_string_equal(s, "{\"names\":[\"http.server.requests\",\"sse.active.connections\","
                           "\"sse.active.sinks\",\"sse.events.sent\"]}");
    agg_free(s);
    metrics_free(m);
}

/* The value of statistic stat in a rendered /actuator/metrics/{name} body. */
static double statistic(json_t *root, const char *stat) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "measurements"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "statistic")), stat) == 0)
            return json_real_value(json_object_get(v, "value"));
    }
    fail_msg("no statistic %s", stat);
    return -1;
}

static void one_metric_in_springs_shape(void **state) {
    (void)state;
    metrics_family *req, *ev, *open;
    metrics *m = registry(&req, &ev, &open);
    const char *a[] = {"/a", "200"}, *b[] = {"/b", "500"};
    metrics_observe(metrics_series_get(req, a, 2, NULL), 0.25);
    metrics_observe(metrics_series_get(req, a, 2, NULL), 0.75);
    metrics_observe(metrics_series_get(req, b, 2, NULL), 2);
    int found;
    char *s = metrics_render_one(m, "http.server.requests", NULL, 0, &found, NULL);
    assert_true(found);
    json_t *root = json_loads(s, 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "name")), "http.server.requests");
    assert_string_equal(json_string_value(json_object_get(root, "baseUnit")), "seconds");
    assert_true(statistic(root, "COUNT") == 3);
    assert_true(statistic(root, "TOTAL_TIME") == 3);
    assert_true(statistic(root, "MAX") == 2);
    json_t *tags = json_object_get(root, "availableTags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tags, 0), "tag")), "uri");
    assert_int_equal(json_array_size(json_object_get(json_array_get(tags, 0), "values")), 2);
    json_decref(root);
    agg_free(s);

    const char *filter[] = {"uri:/a"};
    s = metrics_render_one(m, "http.server.requests", filter, 1, &found, NULL);
    assert_true(found);
    root = json_loads(s, 0, NULL);
    assert_true(statistic(root, "COUNT") == 2);
    assert_true(statistic(root, "MAX") == 0.75);
    /* The filtered tag is no longer offered. */
    assert_int_equal(json_array_size(json_object_get(root, "availableTags")), 1);
    json_decref(root);
    agg_free(s);

    metrics_set(metrics_series_get0(open, NULL), 4);
    s = metrics_render_one(m, "sse.active.sinks", NULL, 0, &found, NULL);
    root = json_loads(s, 0, NULL);
    assert_true(statistic(root, "VALUE") == 4);
    assert_string_equal(json_string_value(json_object_get(root, "name")), "sse.active.sinks");
    assert_true(json_is_null(json_object_get(root, "baseUnit")));
    json_decref(root);
    agg_free(s);

    const char *unknown_tag[] = {"method:GET"}, *no_match[] = {"uri:/zzz"}, *bad[] = {"uri"};
    assert_null(metrics_render_one(m, "no.such", NULL, 0, &found, NULL));
    assert_false(found);
    assert_null(metrics_render_one(m, "http.server.requests", unknown_tag, 1, &found, NULL));
    assert_false(found);
    assert_null(metrics_render_one(m, "http.server.requests", no_match, 1, &found, NULL));
    assert_false(found);
    err_t e = {0};
    assert_null(metrics_render_one(m, "http.server.requests", bad, 1, &found, &e));
    assert_false(found);
    assert_non_null(strstr(e.text, "key:value"));
    metrics_free(m);
}

/* Every allocation of building, using and rendering a registry may fail: each failure is
 * reported (NULL, e out of memory) and nothing leaks (ASan). */
static void every_allocation_failure_is_reported(void **state) {
    (void)state;
    for (size_t n = 1;; n++) {
        failalloc_arm(n);
        err_t e = {0};
        int reported = 0;
        metrics *m = metrics_new(&e);
        metrics_family *req = m ? metrics_family_add(m, &REQUESTS, &e) : NULL;
        metrics_family *ev = req ? metrics_family_add(m, &EVENTS, &e) : NULL;
        const char *a[] = {"/a", "200"};
        metrics_series *s = ev ? metrics_series_get(req, a, 2, &e) : NULL;
        metrics_observe(s, 1);
        char *text = s ? metrics_render_prometheus(m, &e) : NULL;
        char *names = text ? metrics_render_names(m, &e) : NULL;
        int found = 0;
        char *one = names ? metrics_render_one(m, "http.server.requests", NULL, 0, &found, &e)
                          : NULL;
        reported = one == NULL;
        int fired = failalloc_fired();
        failalloc_disarm();
        agg_free(one);
        agg_free(names);
        agg_free(text);
        metrics_free(m);
        if (!fired) {
            assert_false(reported);
            break;
        }
        if (!reported) fail_msg("allocation %zu failed unreported", n);
        assert_true(err_is_nomem(&e));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_are_found_again_and_bounded),
        cmocka_unit_test(families_are_checked),
        cmocka_unit_test(prometheus_text_is_exact),
        cmocka_unit_test(names_are_sorted_with_aliases),
        cmocka_unit_test(one_metric_in_springs_shape),
        cmocka_unit_test(every_allocation_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
