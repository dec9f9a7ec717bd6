/* gateway_app: one gateway on a loop: its clients (Redis, pub/sub, Kafka), its HTTP server and the routes. */
#include "gateway_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answer_intake.h"
#include "journals.h"
#include "listeners.h"
#include "log.h"
#include "streams.h"

void gw_respond_unavailable(httpd_req *r, const char *what) {
    api_error e;
    apierr_set(&e, 503, "unavailable", NULL, "%s unavailable", what);
    httpd_respond_error(r, &e);
}

void gw_respond_draining(gateway *gw, httpd_req *r) {
    api_error e;
    apierr_set(&e, 503, "shutting_down", NULL,
               "this gateway is shutting down; retry (another replica will answer)");
    long s = (gw->cfg.shutdown_retry_ms + 999) / 1000;
    gw->metrics.shutdown_refused++;
    httpd_respond_error_retry(r, &e, s < 1 ? 1 : (int)s);
}

void gw_respond_failure(httpd_req *r, const err_t *e, const char *what) {
    if (!err_is_nomem(e)) {
        gw_respond_unavailable(r, what);
        return;
    }
    api_error ae;
    apierr_nomem(&ae);
    httpd_respond_error(r, &ae);
}

/* with_components: 1 health, 2 readiness (DOWN too while draining, so that a load balancer
 * stops sending new clients), 0 liveness. */
static void respond_health(gateway *gw, httpd_req *r, int with_components) {
    int redis_up = rds_ready(gw->redis) && gw_listeners_ready(gw->listeners);
    int kafka_up = gw_producer_healthy(gw->kafka);
    int draining = with_components == 2 && gw->draining;
    int up = redis_up && kafka_up && !draining;
    char body[256];
    if (with_components) {
        snprintf(body, sizeof body,
                 "{\"status\":\"%s\",\"components\":{\"redis\":{\"status\":\"%s\"},"
                 "\"kafka\":{\"status\":\"%s\"}%s}}",
                 up ? "UP" : "DOWN", redis_up ? "UP" : "DOWN", kafka_up ? "UP" : "DOWN",
                 draining ? ",\"shutdown\":{\"status\":\"DOWN\"}" : "");
    } else {
        snprintf(body, sizeof body, "{\"status\":\"UP\",\"components\":{}}");
        up = 1;
    }
    httpd_respond(r, up ? 200 : 503, NULL, body);
}

/* Requests in progress on both listeners. */
static size_t requests_in_progress(const gateway *gw) {
    return httpd_request_count(gw->http) +
           (gw->callback_http ? httpd_request_count(gw->callback_http) : 0);
}

static void respond_plain_error(httpd_req *r, int status, const char *code, const char *msg);

static void respond_metrics(gateway *gw, httpd_req *r) {
    const gw_metrics *m = &gw->metrics;
    char body[4096];
    snprintf(body, sizeof body,
             "# HELP sse_active_connections Open server-sent-event streams.\n"
             "# TYPE sse_active_connections gauge\n"
             "sse_active_connections %zu\n"
             "# HELP gateway_sessions_started_total Aggregations accepted, by strategy.\n"
             "# TYPE gateway_sessions_started_total counter\n"
             "gateway_sessions_started_total{strategy=\"SSE\"} %llu\n"
             "gateway_sessions_started_total{strategy=\"WAIT_FOR_EVERYONE\"} %llu\n"
             "# TYPE gateway_callbacks_accepted_total counter\n"
             "gateway_callbacks_accepted_total %llu\n"
             "# TYPE gateway_bad_requests_total counter\n"
             "gateway_bad_requests_total %llu\n"
             "# TYPE gateway_kafka_produce_failures_total counter\n"
             "gateway_kafka_produce_failures_total %llu\n"
             "# TYPE gateway_redis_failures_total counter\n"
             "gateway_redis_failures_total %llu\n"
             "# TYPE gateway_wait_timeouts_total counter\n"
             "gateway_wait_timeouts_total %llu\n"
             "# TYPE gateway_streams_opened_total counter\n"
             "gateway_streams_opened_total %llu\n"
             "# TYPE gateway_stream_events_sent_total counter\n"
             "gateway_stream_events_sent_total %llu\n"
             "# TYPE gateway_stream_replays_total counter\n"
             "gateway_stream_replays_total %llu\n"
             "# HELP gateway_streams_aborted_total Streams ended with an aborted event (session "
             "lost, or the session store unreachable past the deadline).\n"
             "# TYPE gateway_streams_aborted_total counter\n"
             "gateway_streams_aborted_total %llu\n"
             "# HELP gateway_sessions_lost_total Streams and WAIT_FOR_EVERYONE requests whose "
             "session Redis no longer held.\n"
             "# TYPE gateway_sessions_lost_total counter\n"
             "gateway_sessions_lost_total %llu\n"
             "# TYPE gateway_stream_overflows_total counter\n"
             "gateway_stream_overflows_total %llu\n"
             "# TYPE gateway_session_listeners gauge\n"
             "gateway_session_listeners %zu\n"
             "# HELP gateway_sessions_shed_total New sessions refused (503 overloaded) while "
             "MAX_PENDING_PUBLISHES were waiting for Kafka.\n"
             "# TYPE gateway_sessions_shed_total counter\n"
             "gateway_sessions_shed_total %llu\n"
             "# HELP gateway_shutting_down 1 while the gateway drains after SIGTERM.\n"
             "# TYPE gateway_shutting_down gauge\n"
             "gateway_shutting_down %d\n"
             "# TYPE gateway_shutdown_refused_total counter\n"
             "gateway_shutdown_refused_total %llu\n"
             "# HELP gateway_streams_handed_over_total Streams closed with a retry hint while "
             "draining.\n"
             "# TYPE gateway_streams_handed_over_total counter\n"
             "gateway_streams_handed_over_total %llu\n"
             "# HELP gateway_http_connections_reaped_total Connections closed for passing "
             "HTTP_HEADER_TIMEOUT_MS, HTTP_BODY_TIMEOUT_MS or HTTP_IDLE_TIMEOUT_MS.\n"
             "# TYPE gateway_http_connections_reaped_total counter\n"
             "gateway_http_connections_reaped_total %llu\n",
             gw_streams_open(gw->streams), m->sessions_started_sse, m->sessions_started_wait,
             m->answers_accepted, m->bad_requests, m->produce_failures, m->redis_failures,
             m->wait_timeouts, m->streams_opened, m->stream_events_sent, m->stream_replays,
             m->streams_aborted, m->sessions_lost, m->stream_overflows, gw_listeners_count(gw->listeners), m->sessions_shed,
             gw->draining, m->shutdown_refused, m->streams_handed_over,
             httpd_reaped_count(gw->http) +
                 (gw->callback_http ? httpd_reaped_count(gw->callback_http) : 0));
    err_t e;
    char *reg = metrics_render_prometheus(gw->reg, &e);
    size_t a = strlen(body), b = reg ? strlen(reg) : 0;
    char *both = reg ? agg_malloc(a + b + 1) : NULL;
    if (!both) {
        agg_free(reg);
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    memcpy(both, body, a);
    memcpy(both + a, reg, b + 1); /* the registry's families after the counters not moved yet */
    agg_free(reg);
    httpd_respond(r, 200, "text/plain; version=0.0.4", both);
    agg_free(both);
}

static void respond_plain_error(httpd_req *r, int status, const char *code, const char *msg) {
    api_error e;
    apierr_set(&e, status, code, NULL, "%s", msg);
    httpd_respond_error(r, &e);
}

/* Which listener serves an endpoint: the API's (SERVER_PORT), the callbacks' (CALLBACK_PORT),
 * or both. With CALLBACK_PORT 0 one listener is both. */
enum { ON_API = 1, ON_CALLBACKS = 2 };

static void route(gateway *gw, httpd_req *r, unsigned listener) {
    const char *path = httpd_path(r);
    const char *method = httpd_method(r);
    int get = strcmp(method, "GET") == 0;
    int post = strcmp(method, "POST") == 0;
    struct {
        const char *path;
        int needs_post;
        unsigned on;
    } known[] = {{"/aggregate/journals", 1, ON_API},
                 {"/aggregate/callback", 1, ON_CALLBACKS},
                 {"/aggregate/stream", 0, ON_API},
                 {"/actuator/health", 0, ON_API | ON_CALLBACKS},
                 {"/actuator/health/liveness", 0, ON_API | ON_CALLBACKS},
                 {"/actuator/health/readiness", 0, ON_API | ON_CALLBACKS},
                 {"/actuator/prometheus", 0, ON_API}};
    size_t i;
    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(path, known[i].path) == 0) break;
    if (i == sizeof known / sizeof known[0]) {
        respond_plain_error(r, 404, "not_found", "no such endpoint");
        return;
    }
    if (!(known[i].on & listener)) {
        respond_plain_error(r, 404, "not_found",
                            listener == ON_API
                                ? "no such endpoint here: callbacks are taken on the callback "
                                  "port (CALLBACK_PORT) only"
                                : "no such endpoint on the callback port: it takes "
                                  "POST /aggregate/callback and health probes only");
        return;
    }
    if (known[i].needs_post ? !post : !get) {
        respond_plain_error(r, 405, "method_not_allowed", "method not allowed on this endpoint");
        return;
    }
    switch (i) {
    case 0: gw_journals_handle(gw, r); break;
    case 1: gw_answer_intake_handle(gw, r); break;
    case 2: gw_streams_handle(gw->streams, r); break;
    case 3: respond_health(gw, r, 1); break;
    case 4: respond_health(gw, r, 0); break;
    case 5: respond_health(gw, r, 2); break;
    default: respond_metrics(gw, r); break;
    }
}

static void route_api(httpd_req *r, void *arg) {
    gateway *gw = arg;
    route(gw, r, gw->cfg.callback_port ? ON_API : ON_API | ON_CALLBACKS);
}

static void route_callbacks(httpd_req *r, void *arg) { route(arg, r, ON_CALLBACKS); }

int gw_start(gateway *gw, loop *l, err_t *e) {
    gw->l = l;
    kafka_config kc = {.brokers = gw->cfg.kafka_brokers,
                       .client_id = "gateway",
                       .linger_ms = gw->cfg.linger_ms,
                       .message_timeout_ms = gw->cfg.produce_timeout_ms,
                       .security = gw->cfg.kafka_security};
    httpd_options ho = {.bind_addr = gw->cfg.bind_addr,
                        .port = gw->cfg.port,
                        .max_body = 1024 * 1024,
                        .stream_buffer_limit = (size_t)gw->cfg.stream_buffer_limit,
                        .conn_memory_limit = (size_t)gw->cfg.conn_memory_limit,
                        .conn_limit = (unsigned)gw->cfg.max_connections,
                        .cors_origins = gw->cfg.cors_origins,
                        .header_timeout_ms = gw->cfg.header_timeout_ms,
                        .body_timeout_ms = gw->cfg.body_timeout_ms,
                        .idle_timeout_ms = gw->cfg.idle_timeout_ms};
    const conncfg_redis *rc = &gw->cfg.redis;
    const char *topics[2] = {gw->cfg.topic_requests, gw->cfg.topic_callbacks};
    if (!(gw->reg = metrics_new(e)) || gwmeasure_init(&gw->meas, gw->reg, topics, e) != AGG_OK)
        return AGG_ERR;
    if (!(gw->redis = rds_new(gw->l, rc, e)) || !(gw->listeners = gw_listeners_new(gw->l, rc, e)) ||
        !(gw->kafka = gw_producer_new(gw->l, &kc, gw->cfg.linger_ms, gw->cfg.batch_above_per_s, e)))
        return AGG_ERR;
    rds_set_observer(gw->redis, rdsmeter_observe, &gw->meas.redis);
    if (!(gw->streams = gw_streams_new(gw, e))) return AGG_ERR;
    if (!(gw->http = httpd_start(gw->l, &ho, route_api, gw, e))) return AGG_ERR;
    if (gw->cfg.callback_port) {
        /* The same limits and deadlines: only the port differs, so that a network policy can
         * let the resources alone reach it. */
        ho.port = gw->cfg.callback_port;
        if (!(gw->callback_http = httpd_start(gw->l, &ho, route_callbacks, gw, e)))
            return AGG_ERR;
        log_info("gateway taking callbacks on %s:%d only", gw->cfg.bind_addr,
                 httpd_port(gw->callback_http));
    }
    log_info("gateway listening on %s:%d; %d resources; answers to %s", gw->cfg.bind_addr,
             httpd_port(gw->http), gw->cfg.resources.n, gw->cfg.callback_url);
    return AGG_OK;
}

typedef struct drain_wait {
    gateway *gw;
    long long deadline;
    loop_timer *t;
} drain_wait;

static int drained(const gateway *gw) {
    return requests_in_progress(gw) == 0 && gw_producer_queued(gw->kafka) == 0;
}

static void drain_check(loop *l, void *arg) {
    drain_wait *w = arg;
    w->t = NULL;
    if (drained(w->gw) || loop_now_ms() >= w->deadline) {
        loop_stop(l);
        return;
    }
    /* NULL (out of memory): stop draining rather than hang. */
    if (!(w->t = loop_timer_add(l, 20, drain_check, w))) loop_stop(l);
}

int gw_drain(gateway *gw, long long deadline_ms) {
    gw->draining = 1;
    log_info("gateway draining: %zu streams to hand over, %zu requests in progress, %zu Kafka "
             "messages pending; at most %lld ms",
             gw_streams_open(gw->streams), requests_in_progress(gw), gw_producer_queued(gw->kafka),
             deadline_ms - loop_now_ms());
    gw_streams_hand_over(gw->streams, gw->cfg.shutdown_retry_ms);
    drain_wait w = {gw, deadline_ms, NULL};
    if ((w.t = loop_defer(gw->l, drain_check, &w)) && loop_run(gw->l) != AGG_OK)
        log_error("event loop failed");
    loop_timer_cancel(gw->l, w.t); /* still set when a second signal ended the drain */
    int done = drained(gw);
    if (done)
        log_info("gateway drained");
    else
        log_warn("gateway stops undrained: %zu requests in progress (%zu streams), %zu Kafka "
                 "messages pending",
                 requests_in_progress(gw), gw_streams_open(gw->streams),
                 gw_producer_queued(gw->kafka));
    return done ? AGG_OK : AGG_ERR;
}

void gw_stop(gateway *gw, int flush_ms) {
    httpd_stop(gw->http);
    gw->http = NULL;
    httpd_stop(gw->callback_http);
    gw->callback_http = NULL;
    gw_streams_free(gw->streams);
    gw->streams = NULL;
    gw_producer_free(gw->kafka, flush_ms);
    gw->kafka = NULL;
    gw_listeners_free(gw->listeners);
    gw->listeners = NULL;
    rds_free(gw->redis);
    gw->redis = NULL;
    metrics_free(gw->reg); /* last: the modules above hold series of it */
    gw->reg = NULL;
}
