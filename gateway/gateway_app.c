/* gateway_app: one gateway on a loop: its clients (Redis, pub/sub, Kafka), its HTTP server and the routes. */
#include "gateway_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "actuator.h"
#include "admission.h"
#include "alloc.h"
#include "answer_intake.h"
#include "fanoutmsg.h"
#include "gwauth.h"
#include "httpmetrics.h"
#include "phash.h"
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
    metrics_inc(gw->metrics.shutdown_refused, 1);
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

static int redis_up(const gateway *gw) {
    return rds_ready(gw->redis) && gw_listeners_ready(gw->listeners);
}

/* What readiness answers (aggregator_ready). */
static int ready(void *arg) {
    gateway *gw = arg;
    return redis_up(gw) && gw_producer_healthy(gw->kafka) && !gw->draining;
}

/* with_components: 1 health, 2 readiness (DOWN too while draining, so that a load balancer
 * stops sending new clients), 0 liveness. */
static void respond_health(gateway *gw, httpd_req *r, int with_components) {
    int redis_ok = redis_up(gw);
    int kafka_up = gw_producer_healthy(gw->kafka);
    int draining = with_components == 2 && gw->draining;
    int up = redis_ok && kafka_up && !draining;
    char body[256];
    if (with_components) {
        snprintf(body, sizeof body,
                 "{\"status\":\"%s\",\"components\":{\"redis\":{\"status\":\"%s\"},"
                 "\"kafka\":{\"status\":\"%s\"}%s}}",
                 up ? "UP" : "DOWN", redis_ok ? "UP" : "DOWN", kafka_up ? "UP" : "DOWN",
                 draining ? ",\"shutdown\":{\"status\":\"DOWN\"}" : "");
    } else {
        snprintf(body, sizeof body, "{\"status\":\"UP\",\"components\":{}}");
        up = 1;
    }
    httpd_respond(r, up ? 200 : 503, NULL, body);
}

/* The gauges sampled when scraped. */
static void before_render(void *arg) {
    gateway *gw = arg;
    if (!gw->http || !gw->streams) return; /* scraped before start-up finished */
    gwmetrics_sample(&gw->metrics, gw_streams_open(gw->streams), gw_listeners_count(gw->listeners),
                     gw->draining,
                     httpd_reaped_count(gw->http) +
                         (gw->callback_http ? httpd_reaped_count(gw->callback_http) : 0));
    if (gw->tls)
        gwmetrics_sample_tls(&gw->metrics, tlsserve_expiry(gw->tls), tlsserve_reloads(gw->tls),
                             tlsserve_reload_failures(gw->tls));
    metrics_set(gw->metrics.sessions_in_flight,
                (double)gw_admission_sessions_in_flight(gw->admission));
    metrics_set(gw->metrics.connections_refused,
                (double)(httpd_overflow_count(gw->http) +
                         (gw->callback_http ? httpd_overflow_count(gw->callback_http) : 0)));
}

static void on_done(const httpd_done *d, void *arg) {
    gateway *gw = arg;
    httpmetrics_record(gw->httpmetrics, d);
    accesslog_write(d);
}

/* Requests in progress on both listeners. */
static size_t requests_in_progress(const gateway *gw) {
    return httpd_request_count(gw->http) +
           (gw->callback_http ? httpd_request_count(gw->callback_http) : 0);
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
    /* Metrics, info and configuration: on the API's listener only, as the probes are not; under
     * AUTH_MODE=jwt for admins only (the probes stay open: kubelet has no token). */
    if ((listener & ON_API) && strncmp(path, "/actuator/", 10) == 0 &&
        strcmp(path, "/actuator/health") != 0 && strncmp(path, "/actuator/health/", 17) != 0) {
        if (!gw_auth_admin(gw, r)) return;
        if (actuator_handle(gw->actuator, r)) return;
    }
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
                 {"/actuator/health/readiness", 0, ON_API | ON_CALLBACKS}};
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
    httpd_req_set_route(r, known[i].path);
    if (known[i].needs_post ? !post : !get) {
        api_error e;
        apierr_set(&e, 405, "method_not_allowed", NULL, "method not allowed on this endpoint");
        httpd_respond_error_header(r, &e, "Allow", known[i].needs_post ? "POST" : "GET");
        return;
    }
    /* The token is verified before admission, so that the bucket is the principal's: a client
     * behind a shared address (a hospital's NAT) is limited by who it is, and one without a
     * valid token never reaches a bucket (401 costs one verify and touches no shared state). */
    jwtauth_principal who;
    int authenticated = gw->cfg.auth != NULL;
    switch (i) {
    case 0:
        if (gw_auth_request(gw, r, 0, &who))
            gw_admit(gw, r, GW_ADMIT_SESSION, who.sub, authenticated);
        break;
    case 1: gw_answer_intake_handle(gw, r); break;
    case 2:
        if (gw_auth_request(gw, r, 1, &who))
            gw_admit(gw, r, GW_ADMIT_STREAM, who.sub, authenticated);
        break;
    case 3: respond_health(gw, r, 1); break;
    case 4: respond_health(gw, r, 0); break;
    default: respond_health(gw, r, 2); break;
    }
}

static void route_api(httpd_req *r, void *arg) {
    gateway *gw = arg;
    route(gw, r, gw->cfg.callback_port ? ON_API : ON_API | ON_CALLBACKS);
}

static void route_callbacks(httpd_req *r, void *arg) { route(arg, r, ON_CALLBACKS); }

/* Both listeners' finished requests. */
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
                        .listeners = (unsigned)gw->cfg.http_listeners,
                        .overflow_exempt_prefix = "/actuator/health",
                        .cors_origins = gw->cfg.cors_origins,
                        .header_timeout_ms = gw->cfg.header_timeout_ms,
                        .body_timeout_ms = gw->cfg.body_timeout_ms,
                        .idle_timeout_ms = gw->cfg.idle_timeout_ms,
                        .on_done = on_done,
                        .on_done_arg = gw,
                        .tls = gw->tls};
    actuator_options ao = {.component = "gateway",
                           .before_render = before_render,
                           .ready = ready,
                           .arg = gw};
    const char *topics[2] = {gw->cfg.topic_requests, gw->cfg.topic_callbacks};
    if (gwmetrics_init(&gw->metrics, topics, e) != AGG_OK) return AGG_ERR;
    ao.m = gw->metrics.reg;
    if (!(gw->actuator = actuator_new(&ao, e)) ||
        !(gw->httpmetrics = httpmetrics_new(gw->metrics.reg, e)))
        return AGG_ERR;
    if (!(gw->admission = gw_admission_new(gw, e))) return AGG_ERR;
    const conncfg_redis *rc = &gw->cfg.redis;
    if (!(gw->redis = rds_new(gw->l, rc, e)) || !(gw->listeners = gw_listeners_new(gw->l, rc, e)) ||
        !(gw->kafka = gw_producer_new(gw->l, &kc, gw->cfg.linger_ms, gw->cfg.batch_above_per_s, e)))
        return AGG_ERR;
    rds_set_observer(gw->redis, rdsmeter_observe, &gw->metrics.redis);
    if (!(gw->streams = gw_streams_new(gw, e))) return AGG_ERR;
    if (!(gw->http = httpd_start(gw->l, &ho, route_api, gw, e))) return AGG_ERR;
    if (gw->cfg.callback_port) {
        /* The same limits and deadlines, so that a network policy can let the resources alone
         * reach it; but one daemon: several exist for the walk over idle streams after each
         * resume, and this port holds no streams, only answers waiting for Kafka. Spread over
         * HTTP_LISTENERS daemons, its three answers per session each woke a daemon of their
         * own (bench/README.md, table of changes). */
        ho.port = gw->cfg.callback_port;
        ho.listeners = 1;
        if (!(gw->callback_http = httpd_start(gw->l, &ho, route_callbacks, gw, e)))
            return AGG_ERR;
        log_info("gateway taking callbacks on %s:%d only", gw->cfg.bind_addr,
                 httpd_port(gw->callback_http));
    }
    if (gw->tls && tlsserve_reload_on_sighup(gw->tls, gw->l, e) != AGG_OK) return AGG_ERR;
    log_info("gateway listening on %s:%d%s; %d resources; answers to %s", gw->cfg.bind_addr,
             httpd_port(gw->http), gw->tls ? " (TLS)" : "", gw->cfg.resources.n,
             gw->cfg.callback_url);
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
    gw_config_free(&gw->cfg);
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
    actuator_free(gw->actuator);
    gw->actuator = NULL;
    httpmetrics_free(gw->httpmetrics);
    gw_admission_free(gw->admission);
    gw->admission = NULL;
    gw->httpmetrics = NULL;
    gwmetrics_free(&gw->metrics);
    cap_keys_free(&gw->cfg.cap_keys);
    tlsserve_free(gw->tls); /* after the listeners: their sessions use it */
    gw->tls = NULL;
}
