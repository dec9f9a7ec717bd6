/* test_actuator: the shared actuator routes through a real httpd on port 0, http_server_requests_seconds and its bounded series, allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actuator.h"
#include "alloc.h"
#include "cfg.h"
#include "failalloc.h"
#include "httpmetrics.h"

typedef struct fixture {
    loop *l;
    httpd *d;
    metrics *m;
    actuator *a;
    httpmetrics *hm;
    int renders; /* before_render calls */
    int is_ready;
    int done;    /* requests reported by on_done */
    int fail_render; /* the handler fails the first allocation of the actuator's answer */
} fixture;

static fixture fx;

static void before_render(void *arg) { ((fixture *)arg)->renders++; }
static int ready(void *arg) { return ((fixture *)arg)->is_ready; }

static void on_done(const httpd_done *d, void *arg) {
    fixture *f = arg;
    httpmetrics_record(f->hm, d);
    f->done++;
}

static void handler(httpd_req *r, void *arg) {
    fixture *f = arg;
    if (f->fail_render) failalloc_arm(1);
    int answered = actuator_handle(f->a, r);
    failalloc_disarm();
    if (answered) return;
    if (strcmp(httpd_path(r), "/hello") == 0) {
        httpd_req_set_route(r, "/hello");
        httpd_respond(r, 200, NULL, "{}");
        return;
    }
    api_error ae;
    apierr_set(&ae, 404, "not_found", NULL, "no such path");
    httpd_respond_error(r, &ae);
}

static int setup(void **state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    fx.is_ready = 1;
    fx.l = loop_new(NULL);
    fx.m = metrics_new(NULL);
    actuator_options ao = {"test", fx.m, before_render, ready, &fx};
    fx.a = actuator_new(&ao, NULL);
    fx.hm = httpmetrics_new(fx.m, NULL);
    httpd_options o = {.bind_addr = "127.0.0.1", .on_done = on_done, .on_done_arg = &fx};
    fx.d = httpd_start(fx.l, &o, handler, &fx, NULL);
    return fx.l && fx.m && fx.a && fx.hm && fx.d ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    httpd_stop(fx.d);
    loop_free(fx.l);
    actuator_free(fx.a);
    httpmetrics_free(fx.hm);
    metrics_free(fx.m);
    cfg_vars_clear();
    return 0;
}

typedef struct reply {
    const char *path;
    const char *method;
    long status;
    char type[128];
    char body[65536];
    size_t len;
    int port;
    loop *l;
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    reply *r = arg;
    size_t len = size * n;
    if (r->len + len < sizeof r->body) {
        memcpy(r->body + r->len, p, len);
        r->len += len;
        r->body[r->len] = '\0';
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
    reply *r = arg;
    size_t len = size * n;
    if (len > 14 && strncasecmp(p, "Content-Type: ", 14) == 0) {
        size_t v = len - 14;
        while (v > 0 && (p[14 + v - 1] == '\r' || p[14 + v - 1] == '\n')) v--;
        if (v < sizeof r->type) {
            memcpy(r->type, p + 14, v);
            r->type[v] = '\0';
        }
    }
    return len;
}

static void *client(void *arg) {
    reply *r = arg;
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", r->port, r->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (r->method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    return NULL;
}

static void wait_done(loop *l, void *arg) {
    if (fx.done >= *(int *)arg)
        loop_stop(l);
    else
        loop_timer_add(l, 2, wait_done, arg);
}

static void on_deadline(loop *l, void *arg) {
    *(loop_timer **)arg = NULL;
    loop_stop(l);
}

/* One request from a client thread; the loop runs until on_done reported it (at most 5 s). */
static void get(reply *r, const char *method, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->method = method;
    r->port = httpd_port(fx.d);
    static int want;
    want = fx.done + 1;
    pthread_t t;
    pthread_create(&t, NULL, client, r);
    loop_timer *deadline = NULL;
    deadline = loop_timer_add(fx.l, 5000, on_deadline, &deadline);
    loop_timer_add(fx.l, 0, wait_done, &want);
    loop_run(fx.l);
    pthread_join(t, NULL);
    loop_timer_cancel(fx.l, deadline);
}

static json_t *json_of(const reply *r) {
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    return j;
}

static void prometheus_has_process_build_and_ready(void **state) {
    (void)state;
    static reply r;
    get(&r, NULL, "/actuator/prometheus");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    assert_true(fx.renders >= 1);
    assert_non_null(strstr(r.body, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_non_null(strstr(r.body, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(r.body, "\nprocess_open_fds "));
    assert_non_null(strstr(r.body, "\nprocess_max_fds "));
    assert_non_null(strstr(r.body, "\nprocess_start_time_seconds "));
    assert_non_null(strstr(r.body, "\nprocess_virtual_memory_bytes "));
    assert_non_null(strstr(r.body, "build_info{component=\"test\",version=\"" AGG_VERSION
                                   "\",commit=\""));
    assert_non_null(strstr(r.body, "\naggregator_ready 1\n"));
    fx.is_ready = 0;
    get(&r, NULL, "/actuator/prometheus");
    assert_non_null(strstr(r.body, "\naggregator_ready 0\n"));
    /* Its own request was counted under its route template. */
    assert_non_null(strstr(r.body, "http_server_requests_seconds_count{method=\"GET\",uri=\"/"
                                   "actuator/prometheus\",status=\"200\",outcome=\"SUCCESS\"} 1\n"));
}

static void metrics_names_and_one_in_springs_shape(void **state) {
    (void)state;
    static reply r;
    get(&r, NULL, "/hello");
    get(&r, NULL, "/hello");
    get(&r, NULL, "/nowhere");
    get(&r, NULL, "/actuator/metrics");
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    json_t *names = json_object_get(j, "names");
    int http = 0, rss = 0;
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        http |= strcmp(n, "http.server.requests") == 0;
        rss |= strcmp(n, "process.memory.rss") == 0;
    }
    assert_true(http && rss);
    json_decref(j);

    get(&r, NULL, "/actuator/metrics/http.server.requests?tag=uri:/hello");
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "http.server.requests");
    assert_string_equal(json_string_value(json_object_get(j, "baseUnit")), "seconds");
    json_t *m0 = json_array_get(json_object_get(j, "measurements"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "statistic")), "COUNT");
    assert_true(json_number_value(json_object_get(m0, "value")) == 2.0);
    json_decref(j);

    /* Two filters at once; the 404 on no route counts as NOT_FOUND. */
    get(&r, NULL, "/actuator/metrics/http.server.requests?tag=uri:NOT_FOUND&tag=status:404");
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    m0 = json_array_get(json_object_get(j, "measurements"), 0);
    assert_true(json_number_value(json_object_get(m0, "value")) == 1.0);
    json_decref(j);

    get(&r, NULL, "/actuator/metrics/no.such.metric");
    assert_int_equal(r.status, 404);
    get(&r, NULL, "/actuator/metrics/http.server.requests?tag=nosuchtag:x");
    assert_int_equal(r.status, 404);
    get(&r, NULL, "/actuator/metrics/http.server.requests?tag=nocolon");
    assert_int_equal(r.status, 400);
    get(&r, NULL, "/actuator/metrics/http.server.requests?tag=a:1&tag=b:2&tag=c:3&tag=d:4&tag=e:5");
    assert_int_equal(r.status, 400);
    /* Every one of them under its template, never the raw name. */
    get(&r, NULL, "/actuator/prometheus");
    assert_non_null(strstr(r.body, "uri=\"/actuator/metrics/{name}\",status=\"404\""));
    assert_null(strstr(r.body, "no.such.metric"));
}

static void info_and_configprops(void **state) {
    (void)state;
    static reply r;
    get(&r, NULL, "/actuator/info");
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    json_t *b = json_object_get(j, "build");
    assert_string_equal(json_string_value(json_object_get(b, "name")), "test");
    assert_string_equal(json_string_value(json_object_get(b, "version")), AGG_VERSION);
    assert_non_null(json_string_value(json_object_get(b, "time")));
    const char *id = json_string_value(
        json_object_get(json_object_get(json_object_get(j, "git"), "commit"), "id"));
    assert_non_null(id);
    assert_true(strlen(id) > 0);
    json_decref(j);

    setenv("AGG_TEST_ACT_PASSWORD", "hunter2", 1);
    cfg_str("AGG_TEST_ACT_PASSWORD", NULL);
    long v;
    cfg_long("AGG_TEST_ACT_TIMEOUT_MS", 1500, 0, 99999, &v, NULL);
    get(&r, NULL, "/actuator/configprops");
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "hunter2"));
    j = json_of(&r);
    json_t *act = json_object_get(json_object_get(j, "agg"), "test");
    act = json_object_get(act, "act");
    assert_string_equal(json_string_value(json_object_get(act, "password")), "******");
    assert_int_equal(json_integer_value(json_object_get(act, "timeoutMs")), 1500);
    json_decref(j);
    unsetenv("AGG_TEST_ACT_PASSWORD");
}

static void other_methods_and_paths(void **state) {
    (void)state;
    static reply r;
    get(&r, "POST", "/actuator/prometheus");
    assert_int_equal(r.status, 405);
    get(&r, NULL, "/actuator/metrics/");
    assert_int_equal(r.status, 404); /* not the actuator's: the program's own 404 */
    get(&r, NULL, "/actuator/metrics/a/b");
    assert_int_equal(r.status, 404);
    get(&r, NULL, "/actuator/prometheus");
    assert_non_null(strstr(r.body, "{method=\"POST\",uri=\"/actuator/prometheus\",status=\"405\","
                                   "outcome=\"CLIENT_ERROR\"} 1\n"));
    assert_non_null(strstr(r.body, "uri=\"NOT_FOUND\",status=\"404\""));
}

static void answers_503_when_out_of_memory(void **state) {
    (void)state;
    static reply r;
    /* The first allocation of the answer fails; the ones after it (the error's) succeed. */
    fx.fail_render = 1;
    static const char *const paths[] = {"/actuator/info", "/actuator/configprops",
                                        "/actuator/metrics", "/actuator/prometheus",
                                        "/actuator/metrics/process.memory.rss"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        get(&r, NULL, paths[i]);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "out_of_memory"));
    }
    fx.fail_render = 0;
    get(&r, NULL, "/actuator/info");
    assert_int_equal(r.status, 200);
}

/* Counts the series of http_server_requests_seconds in the exposition. */
static size_t http_series(metrics *m) {
    char *t = metrics_render_prometheus(m, NULL);
    assert_non_null(t);
    size_t n = 0;
    for (const char *p = t; (p = strstr(p, "\nhttp_server_requests_seconds_count{")); p++) n++;
    agg_free(t);
    return n;
}

static void flood_makes_no_series_past_the_cap(void **state) {
    (void)state;
    metrics *m = metrics_new(NULL);
    httpmetrics *h = httpmetrics_new(m, NULL);
    assert_non_null(h);
    static const char *const odd[] = {"BREW", "get", "PROPFIND", "", "X-Y"};
    for (int i = 0; i < 5; i++)
        httpmetrics_record(h, &(httpd_done){.method = odd[i], .route = "/r", .status = 200});
    assert_int_equal(http_series(m), 1); /* every odd method is OTHER */
    metrics_family *f = metrics_family_find(m, "http_server_requests_seconds");
    metrics_series *other = metrics_series_get(f, (const char *const[]){"OTHER", "/r", "200",
                                                                       "SUCCESS"}, 4, NULL);
    assert_true(metrics_value(other) == 5.0);
    httpmetrics_record(h, &(httpd_done){.method = "GET", .route = NULL, .status = 404});
    for (int st = -5; st < 3000; st++)
        httpmetrics_record(h, &(httpd_done){.method = "GET", .route = NULL, .status = st});
    size_t n = http_series(m);
    assert_true(n <= HTTPMETRICS_MAX_SERIES);
    assert_true(n > 100);
    httpmetrics_record(h, &(httpd_done){.method = "PUT", .route = "/new", .status = 201});
    assert_int_equal(http_series(m), n);
    /* A series made before the cap keeps counting. */
    httpmetrics_record(h, &(httpd_done){.method = "BREW", .route = "/r", .status = 200});
    assert_true(metrics_value(other) == 6.0);
    metrics_series *nf = metrics_series_get(f, (const char *const[]){"GET", "NOT_FOUND", "404",
                                                                    "CLIENT_ERROR"}, 4, NULL);
    assert_true(metrics_value(nf) == 2.0); /* before the flood and in it */
    metrics_series *unk = metrics_series_get(f, (const char *const[]){"GET", "UNKNOWN", "0",
                                                                     "UNKNOWN"}, 4, NULL);
    assert_true(metrics_value(unk) >= 1.0);
    httpmetrics_free(h);
    metrics_free(m);
}

static void outcomes_are_springs(void **state) {
    (void)state;
    assert_string_equal(httpmetrics_outcome(101), "INFORMATIONAL");
    assert_string_equal(httpmetrics_outcome(204), "SUCCESS");
    assert_string_equal(httpmetrics_outcome(304), "REDIRECTION");
    assert_string_equal(httpmetrics_outcome(429), "CLIENT_ERROR");
    assert_string_equal(httpmetrics_outcome(503), "SERVER_ERROR");
    assert_string_equal(httpmetrics_outcome(0), "UNKNOWN");
    assert_string_equal(httpmetrics_outcome(600), "UNKNOWN");
}

static void constructors_fail_cleanly(void **state) {
    (void)state;
    for (size_t k = 1;; k++) {
        failalloc_arm(k);
        err_t e;
        metrics *m = metrics_new(&e);
        actuator_options ao = {"test", m, NULL, NULL, NULL};
        actuator *a = m ? actuator_new(&ao, &e) : NULL;
        httpmetrics *h = a ? httpmetrics_new(m, &e) : NULL;
        int fired = failalloc_fired();
        /* A failed allocation surfaces as NULL and out of memory, nothing half-made. */
        if (fired) {
            assert_null(h);
            assert_true(err_is_nomem(&e));
        } else {
            assert_non_null(h);
        }
        /* The first series is made on first use: when that fails the request is not counted. */
        if (h) httpmetrics_record(h, &(httpd_done){.method = "GET", .route = "/", .status = 200});
        if (!fired && failalloc_fired()) {
            assert_int_equal(http_series(m), 0);
            failalloc_disarm();
            httpmetrics_record(h, &(httpd_done){.method = "GET", .route = "/", .status = 200});
            assert_int_equal(http_series(m), 1); /* memory back: counted */
        }
        fired = failalloc_fired();
        failalloc_disarm();
        httpmetrics_free(h);
        actuator_free(a);
        metrics_free(m);
        if (!fired) break;
    }
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(prometheus_has_process_build_and_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_names_and_one_in_springs_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(info_and_configprops, setup, teardown),
        cmocka_unit_test_setup_teardown(other_methods_and_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(answers_503_when_out_of_memory, setup, teardown),
        cmocka_unit_test(flood_makes_no_series_past_the_cap),
        cmocka_unit_test(outcomes_are_springs),
        cmocka_unit_test(constructors_fail_cleanly),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
