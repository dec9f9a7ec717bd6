/* mgmt: the worker's management HTTP server (health probes and Prometheus metrics). */
#include "mgmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "wmetrics.h"
#include "worker_app.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static const char *up_down(int up) { return up ? "UP" : "DOWN"; }

/* Readiness: Redis and Kafka reachable, not draining, and owning work of both kinds: at least
 * one partition in each group (requests and callbacks). Each topic is balanced on its own, so
 * with no more workers than the partitions of each topic every worker owns some of each; one
 * beyond them, or one whose partitions a rebalance has not given back yet, is an unready
 * standby. */
static void health(worker *w, httpd_req *r, int readiness) {
    int redis_up = w->r != NULL && rds_ready(w->r);
    int kafka_up = worker_kafka_healthy(w);
    int req = worker_assigned(w, WORKER_TOPIC_REQUESTS);
    int cb = worker_assigned(w, WORKER_TOPIC_CALLBACKS);
    int owns = req > 0 && cb > 0;
    int up = redis_up && kafka_up && !(readiness && (w->stopping || !owns));
    char body[384];
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"components\":{\"redis\":{\"status\":\"%s\"},"
             "\"kafka\":{\"status\":\"%s\"},\"partitions\":{\"status\":\"%s\","
             "\"assigned\":%d,\"requests\":%d,\"callbacks\":%d}}}",
             up_down(up), up_down(redis_up), up_down(kafka_up), up_down(owns), req + cb, req, cb);
    httpd_respond(r, up ? 200 : 503, NULL, body);
}

static void respond_prometheus(worker *w, httpd_req *r) {
    long http = w->hc != NULL ? (long)httpc_in_flight(w->hc) : 0;
    err_t e;
    int assigned[WORKER_TOPICS] = {worker_assigned(w, WORKER_TOPIC_REQUESTS),
                                   worker_assigned(w, WORKER_TOPIC_CALLBACKS)};
    char *text = wmetrics_render(&w->met, w->jobs, http, worker_intake_held(w), assigned, &e);
    worker_sample_lag(w);
    char *reg = text ? metrics_render_prometheus(w->reg, &e) : NULL;
    if (text != NULL && reg == NULL) {
        agg_free(text);
        text = NULL;
    }
    if (text != NULL) { /* the registry's families after the counters not moved into it yet */
        size_t a = strlen(text), b = strlen(reg);
        char *both = agg_realloc(text, a + b + 1);
        if (both != NULL) memcpy(both + a, reg, b + 1);
        else agg_free(text);
        text = both;
        agg_free(reg);
        if (text == NULL) err_nomem(&e);
    }
    if (text == NULL) {
        api_error ae;
        apierr_set(&ae, 500, "internal", NULL, "%s", e.text);
        httpd_respond_error(r, &ae);
        return;
    }
    httpd_respond(r, 200, PROM_TYPE, text);
    agg_free(text);
}

static void handle(httpd_req *r, void *arg) {
    worker *w = arg;
    const char *path = httpd_path(r);
    const char *method = httpd_method(r);
    api_error ae;
    if (path == NULL) path = "";
    int known = strcmp(path, "/actuator/health") == 0 ||
                strcmp(path, "/actuator/health/liveness") == 0 ||
                strcmp(path, "/actuator/health/readiness") == 0 ||
                strcmp(path, "/actuator/prometheus") == 0;
    if (!known) {
        apierr_set(&ae, 404, "not_found", NULL, "no such path");
        httpd_respond_error(r, &ae);
        return;
    }
    if (method == NULL || strcmp(method, "GET") != 0) {
        apierr_set(&ae, 405, "method_not_allowed", NULL, "only GET is allowed here");
        httpd_respond_error(r, &ae);
        return;
    }
    if (strcmp(path, "/actuator/health/liveness") == 0)
        httpd_respond(r, 200, NULL, "{\"status\":\"UP\"}");
    else if (strcmp(path, "/actuator/prometheus") == 0)
        respond_prometheus(w, r);
    else
        health(w, r, strcmp(path, "/actuator/health/readiness") == 0);
}

int mgmt_start(worker *w, err_t *e) {
    httpd_options o;
    memset(&o, 0, sizeof o);
    o.bind_addr = w->cfg.bind_addr;
    o.port = (int)w->cfg.mgmt_port;
    o.max_body = 4096;
    w->mgmt = httpd_start(w->l, &o, handle, w, e);
    if (w->mgmt == NULL) return AGG_ERR;
    return AGG_OK;
}

void mgmt_stop(worker *w) {
    if (w->mgmt != NULL) httpd_stop(w->mgmt);
    w->mgmt = NULL;
}
