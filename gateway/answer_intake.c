/* answer_intake: POST /aggregate/callback: validate a resource's answer and publish it to Kafka. */
#include "answer_intake.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answer.h"
#include "apierr.h"
#include "log.h"

typedef struct intake_ctx {
    gateway *gw;
    httpd_req *r; /* NULL once the client left */
} intake_ctx;

static void on_cancel(void *arg) {
    intake_ctx *c = arg;
    c->r = NULL; /* the delivery callback frees c */
}

static void on_delivered(int ok, const char *errstr, double seconds, void *arg) {
    intake_ctx *c = arg;
    gwmeasure_produced(&c->gw->meas, GWMEASURE_CALLBACKS, seconds);
    if (!ok) {
        c->gw->metrics.produce_failures++;
        log_warn("answer not accepted by Kafka: %s", errstr ? errstr : "unknown error");
    } else {
        c->gw->metrics.answers_accepted++;
    }
    if (c->r) {
        if (ok) {
            httpd_respond(c->r, 202, NULL, "{\"status\":\"accepted\"}");
        } else {
            gw_respond_unavailable(c->r, "kafka");
        }
    }
    agg_free(c);
}

void gw_answer_intake_handle(gateway *gw, httpd_req *r) {
    size_t len;
    const char *body = httpd_body(r, &len);
    answer_msg m;
    api_error e;
    if (answer_parse(body, len, &m, &e) != AGG_OK) {
        gw->metrics.bad_requests++;
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
    err_t err;
    if (gw_produce(gw->kafka, gw->cfg.topic_callbacks, m.correlation_id, strlen(m.correlation_id),
                   m.json, m.json_len, on_delivered, c, &err) != AGG_OK) {
        gw->metrics.produce_failures++;
        log_warn("answer not queued for Kafka: %s", err.text);
        agg_free(c);
        answer_clear(&m);
        gw_respond_failure(r, &err, "kafka");
        return;
    }
    answer_clear(&m);
    httpd_req_on_cancel(r, on_cancel, c);
}
