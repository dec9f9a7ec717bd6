/* answer_intake: POST /aggregate/callback: validate a resource's answer and publish it to Kafka. */
#include "answer_intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answer.h"
#include "apierr.h"
#include "capability.h"
#include "jbody.h"
#include "log.h"
#include "traceparent.h"

typedef struct intake_ctx {
    gateway *gw;
    httpd_req *r; /* NULL once the client left */
    char cid[UUID4_LEN + 1];
    traceparent tp; /* the resource's callback's, or a new trace */
} intake_ctx;

static void on_cancel(void *arg) {
    intake_ctx *c = arg;
    c->r = NULL; /* the delivery callback frees c */
}

static void on_delivered(int ok, const char *errstr, double seconds, void *arg) {
    intake_ctx *c = arg;
    gwmetrics_produced(&c->gw->metrics, GW_TOPIC_CALLBACKS, seconds);
    log_ctx_set(c->cid, c->tp.trace_id, c->tp.span_id);
    if (!ok) {
        metrics_inc(c->gw->metrics.produce_failures, 1);
        log_warn("answer not accepted by Kafka: %s", errstr ? errstr : "unknown error");
    } else {
        metrics_inc(c->gw->metrics.answers_accepted, 1);
    }
    if (c->r) {
        if (ok) {
            httpd_respond(c->r, 202, NULL, "{\"status\":\"accepted\"}");
        } else {
            gw_respond_unavailable(c->r, "kafka");
        }
    }
    log_ctx_clear();
    agg_free(c);
}

void gw_answer_intake_handle(gateway *gw, httpd_req *r) {
    size_t len;
    const char *body = httpd_body(r, &len);
    answer_msg m;
    api_error e;
    if (jbody_media_type(httpd_header(r, "Content-Type"), &e) != AGG_OK ||
        answer_parse(body, len, &m, &e) != AGG_OK) {
        metrics_inc(gw->metrics.bad_requests, 1);
        httpd_respond_error(r, &e);
        return;
    }
    /* The query parameter is decoded by libmicrohttpd; a capability needs no escaping. */
    const char *cap = httpd_query(r, "cap");
    cap_result cr =
        cap_verify(&gw->cfg.cap_keys, cap, m.correlation_id, m.source, loop_wall_ms() / 1000);
    if (cr != CAP_VALID) {
        metrics_inc(gw->metrics.callbacks_rejected[cr - CAP_MISSING], 1);
        log_ctx_set(m.correlation_id, NULL, NULL);
        log_info("callback from %s refused: capability %s", m.source, cap_result_name(cr));
        log_ctx_clear();
        apierr_set(&e, 401, "invalid_capability", "cap",
                   "the callback's capability (query parameter cap) is %s for this correlationId "
                   "and source",
                   cap_result_name(cr));
        answer_clear(&m);
        httpd_respond_error(r, &e);
        return;
    }
    if (!gw_producer_healthy(gw->kafka)) {
        answer_clear(&m);
        gw_respond_unavailable(r, "kafka");
        return;
    }
    intake_ctx *c = agg_malloc(sizeof *c);
    if (!c) {
        answer_clear(&m);
        err_t oom;
        err_nomem(&oom);
        gw_respond_failure(r, &oom, "memory");
        return;
    }
    c->gw = gw;
    c->r = r;
    snprintf(c->cid, sizeof c->cid, "%s", m.correlation_id);
    err_t err;
    /* A callback without a valid traceparent (an older resource) starts a trace of its own. */
    char tp[TRACEPARENT_LEN + 1];
    int have_tp = traceparent_take(httpd_header(r, "traceparent"), &c->tp, NULL, &err) == AGG_OK;
    if (have_tp) traceparent_format(&c->tp, tp);
    log_ctx_set(c->cid, have_tp ? c->tp.trace_id : NULL, have_tp ? c->tp.span_id : NULL);
    log_debug("answer from %s taken", m.source);
    if (gw_produce(gw->kafka, gw->cfg.topic_callbacks, m.correlation_id, strlen(m.correlation_id),
                   m.json, m.json_len, have_tp ? tp : NULL, cap, on_delivered, c, &err) != AGG_OK) {
        metrics_inc(gw->metrics.produce_failures, 1);
        log_warn("answer not queued for Kafka: %s", err.text);
        log_ctx_clear();
        agg_free(c);
        answer_clear(&m);
        gw_respond_failure(r, &err, "kafka");
        return;
    }
    log_ctx_clear();
    answer_clear(&m);
    httpd_req_on_cancel(r, on_cancel, c);
}
