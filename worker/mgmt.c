/* mgmt: the worker's management HTTP server (health probes and the shared actuator routes). */
#include "mgmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "actuator.h"
#include "httpmetrics.h"
#include "log.h"
#include "worker_app.h"

static const char *up_down(int up) { return up ? "UP" : "DOWN"; }

typedef struct probe {
    int redis_up, kafka_up, owns, req, cb;
} probe;

static probe probe_now(const worker *w) {
    probe p = {.redis_up = w->r != NULL && rds_ready(w->r),
               .kafka_up = worker_kafka_healthy(w),
               .req = worker_assigned(w, WORKER_TOPIC_REQUESTS),
               .cb = worker_assigned(w, WORKER_TOPIC_CALLBACKS)};
    p.owns = p.req > 0 && p.cb > 0;
    return p;
}

/* Readiness: Redis and Kafka reachable, not draining, and owning work of both kinds: at least
 * one partition in each group (requests and callbacks). Each topic is balanced on its own, so
 * with no more workers than the partitions of each topic every worker owns some of each; one
 * beyond them, or one whose partitions a rebalance has not given back yet, is an unready
 * standby. */
static int is_up(const worker *w, const probe *p, int readiness) {
    return p->redis_up && p->kafka_up && !(readiness && (w->stopping || !p->owns));
}

static void health(worker *w, httpd_req *r, int readiness) {
    probe p = probe_now(w);
    int up = is_up(w, &p, readiness);
    char body[384];
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"components\":{\"redis\":{\"status\":\"%s\"},"
             "\"kafka\":{\"status\":\"%s\"},\"partitions\":{\"status\":\"%s\","
             "\"assigned\":%d,\"requests\":%d,\"callbacks\":%d}}}",
             up_down(up), up_down(p.redis_up), up_down(p.kafka_up), up_down(p.owns),
             p.req + p.cb, p.req, p.cb);
    httpd_respond(r, up ? 200 : 503, NULL, body);
}

static int ready(void *arg) {
    worker *w = arg;
    probe p = probe_now(w);
    return is_up(w, &p, 1);
}

/* The gauges sampled when scraped. */
static void before_render(void *arg) {
    worker *w = arg;
    int assigned[WORKER_TOPICS] = {worker_assigned(w, WORKER_TOPIC_REQUESTS),
                                   worker_assigned(w, WORKER_TOPIC_CALLBACKS)};
    wmetrics_sample(&w->met, w->jobs, w->hc != NULL ? (long)httpc_in_flight(w->hc) : 0,
                    worker_intake_held(w), assigned);
    worker_sample_lag(w);
}

static void on_done(const httpd_done *d, void *arg) {
    worker *w = arg;
    httpmetrics_record(w->httpmetrics, d);
    accesslog_write(d);
}

static void handle(httpd_req *r, void *arg) {
    worker *w = arg;
    const char *path = httpd_path(r);
    const char *method = httpd_method(r);
    api_error ae;
    if (path == NULL) path = "";
    if (actuator_handle(w->actuator, r)) return;
    static const char *const probes[] = {"/actuator/health", "/actuator/health/liveness",
                                         "/actuator/health/readiness"};
    size_t i = 0;
    while (i < 3 && strcmp(path, probes[i]) != 0) i++;
    if (i == 3) {
        apierr_set(&ae, 404, "not_found", NULL, "no such path");
        httpd_respond_error(r, &ae);
        return;
    }
    httpd_req_set_route(r, probes[i]);
    if (method == NULL || strcmp(method, "GET") != 0) {
        apierr_set(&ae, 405, "method_not_allowed", NULL, "only GET is allowed here");
        httpd_respond_error_header(r, &ae, "Allow", "GET");
        return;
    }
    if (i == 1)
        httpd_respond(r, 200, NULL, "{\"status\":\"UP\"}");
    else
        health(w, r, i == 2);
}

int mgmt_start(worker *w, err_t *e) {
    actuator_options ao = {.component = "worker",
                           .m = w->met.reg,
                           .before_render = before_render,
                           .ready = ready,
                           .arg = w};
    if (!(w->actuator = actuator_new(&ao, e)) || !(w->httpmetrics = httpmetrics_new(w->met.reg, e)))
        return AGG_ERR;
    httpd_options o;
    memset(&o, 0, sizeof o);
    o.bind_addr = w->cfg.bind_addr;
    o.port = (int)w->cfg.mgmt_port;
    o.max_body = 4096;
    o.on_done = on_done;
    o.on_done_arg = w;
    w->mgmt = httpd_start(w->l, &o, handle, w, e);
    if (w->mgmt == NULL) return AGG_ERR;
    return AGG_OK;
}

void mgmt_stop(worker *w) {
    if (w->mgmt != NULL) httpd_stop(w->mgmt);
    w->mgmt = NULL;
    actuator_free(w->actuator);
    w->actuator = NULL;
    httpmetrics_free(w->httpmetrics);
    w->httpmetrics = NULL;
}
