/* fanout: handles fan-out messages: calls every resource and records the outcomes it observes. */
#include "fanout.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "allowlist.h"
#include "breakers.h"
#include "fanoutmsg.h"
#include "jbody.h"
#include "list.h"
#include "log.h"
#include "logsafe.h"
#include "outcome.h"
#include "rdsretry.h"
#include "record.h"
#include "session.h"

struct fjob;

/* One resource of a request: its HTTP call, then its record (an outcome the
 * worker observed) unless it was accepted (the answer comes by callback). */
typedef struct fcall {
    struct fjob *job;
    int idx;
    int capped; /* the call's timeout is the session's deadline (fanout_call_timeout_ms) */
    outcome_t outcome;
    int probe;     /* the call is its circuit breaker's probe */
    int res;       /* the resource's index in RESOURCE_URLS (wmetrics_source), -1: not there */
    long long started_ns; /* loop_now_ns() when the HTTP call started */
    rdsretry *rec; /* the record, or before the call the probe request */
} fcall;

/* One fan-out message being handled; allocated with one call slot per resource. */
typedef struct fjob {
    worker *w;
    wmsg msg;
    fanout_msg *m; /* owned */
    rdsretry *meta;
    int pending;    /* resource calls not finished (+1 while they are being started) */
    list_node node; /* on the module's jobs */
    fcall calls[];  /* m->n_resources of them */
} fjob;

/* Lines logged for j carry its session and trace (the loop clears it after the callback). */
static void job_ctx(const fjob *j) {
    log_ctx_set(j->m->correlation_id, j->msg.tp.trace_id, j->msg.tp.span_id);
}

/* Frees j and its message (j is on no list). */
static void free_job(fjob *j) {
    fanoutmsg_free(j->m);
    agg_free(j);
}

struct fanout_state {
    list_node jobs; /* fjob.node, the newest first */
};

int fanout_init(worker *w, err_t *e) {
    w->fanout = agg_calloc(1, sizeof *w->fanout);
    if (w->fanout == NULL) return err_nomem(e);
    list_init(&w->fanout->jobs);
    return AGG_OK;
}

static void unlink_job(fjob *j) { list_remove(&j->node); }

void fanout_shutdown(worker *w) {
    struct fanout_state *s = w->fanout;
    if (s == NULL) return;
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &s->jobs) {
        fjob *j = list_entry(pos, fjob, node);
        unlink_job(j);
        rdsretry_cancel(j->meta);
        for (int i = 0; i < j->m->n_resources; i++) rdsretry_cancel(j->calls[i].rec);
        free_job(j);
    }
    agg_free(s);
    w->fanout = NULL;
}

static void finish(fjob *j) {
    worker *w = j->w;
    wmsg msg = j->msg;
    unlink_job(j);
    free_job(j);
    worker_msg_done(w, &msg);
}

static void release(fjob *j) {
    if (--j->pending == 0) finish(j);
}

static void on_record(const struct redisReply *reply, void *arg) {
    fcall *c = arg;
    fjob *j = c->job;
    job_ctx(j);
    c->rec = NULL;
    record_account(j->w, reply, j->m->correlation_id, j->m->resources[c->idx].source, c->res,
                   c->outcome);
    release(j);
}

/* Records outcome o for resource c, with reason (NULL: none) in its event; releases c once
 * Redis acknowledged it. */
static void record_reason(fcall *c, outcome_t o, const char *reason) {
    fjob *j = c->job;
    worker *w = j->w;
    const fanoutmsg_resource *res = &j->m->resources[c->idx];
    long long now = loop_wall_ms();
    long long elapsed = now - j->m->created_ms;
    if (elapsed < 0) elapsed = 0;
    c->outcome = o;
    err_t e;
    char *event = outcome_event_json_reason(res->source, j->m->patient_id, j->m->correlation_id,
                                            o, reason, res->delay_ms, elapsed, &e);
    if (event == NULL) {
        log_error("session %s: the %s event of %s not built: %s", j->m->correlation_id,
                  outcome_name(o), res->source, e.text);
        release(j);
        return;
    }
    session_outcome so = {j->m->correlation_id, j->m->patient_id, res->source, o, event, now,
                          w->cfg.retention_s};
    session_call sc;
    if (session_call_record(&sc, &so, &e) == AGG_OK)
        c->rec = rdsretry_send(w, &sc.call, on_record, c, &e);
    agg_free(event);
    if (c->rec == NULL) {
        log_error("session %s: %s of %s not recorded: %s", j->m->correlation_id, outcome_name(o),
                  res->source, e.text);
        release(j);
    }
}

static void record(fcall *c, outcome_t o) { record_reason(c, o, NULL); }

static void on_http(const httpc_result *res, void *arg) {
    fcall *c = arg;
    fjob *j = c->job;
    job_ctx(j);
    const fanoutmsg_resource *r = &j->m->resources[c->idx];
    outcome_t o = outcome_classify(res->transport, res->status);
    wmetrics_call(&j->w->met, c->res, o, (double)(loop_now_ns() - c->started_ns) / 1e9);
    int cut_by_deadline = o == OUTCOME_TIMEOUT && c->capped;
    /* A call cut by its session's deadline says little of the resource (a clinician's short
     * timeout must not open a circuit for everyone), unless it was the probe, which decides. */
    if (!cut_by_deadline || c->probe) breakers_outcome(j->w, r->source, o, c->probe);
    if (cut_by_deadline) {
        /* The session's deadline writes this TIMEOUT, with the summary's completedBy TIMEOUT:
         * recording it here first would complete the session as ALL_RESPONDED. */
        log_info("session %s: the call to %s ended at the session's deadline (%.160s)",
                 j->m->correlation_id, r->source, res->error ? res->error : "");
        release(j);
        return;
    }
    if (o == OUTCOME_ACCEPTED) {
        log_debug("session %s: %s accepted (http %ld)", j->m->correlation_id, r->source,
                  res->status);
        release(j);
        return;
    }
    log_info("session %s: %s -> %s (http %ld%s%.160s)", j->m->correlation_id, r->source,
             outcome_name(o), res->status, res->error && res->error[0] ? ", " : "",
             res->error ? res->error : "");
    record(c, o);
}

/* Where the resource is to answer: AGGREGATOR_CALLBACK_URL when the worker has it, so that
 * whoever can write to the requests topic cannot point resources (hospital systems that send
 * patient data there) at a URL of its own; else the message's, which the gateway took from its
 * own AGGREGATOR_CALLBACK_URL. */
static const char *callback_url(const fjob *j) {
    const char *own = j->w->cfg.callback_url;
    if (!own) return j->m->callback_url;
    static int told;
    if (!told && strcmp(own, j->m->callback_url) != 0) {
        told = 1;
        log_warn("a fan-out message names callbackUrl %.200s; resources are given "
                 "AGGREGATOR_CALLBACK_URL %.200s (said once)",
                 j->m->callback_url, own);
    }
    return own;
}

/* The fan-out call's body; malloc'd (caller frees), or NULL with e filled ("out of memory"). Its
 * callbackUrl carries the capability for this session and source, valid CAP_GRACE_S past the
 * session's deadline. */
static char *call_body(const fjob *j, const fanoutmsg_resource *r, err_t *e) {
    char cap[CAP_MAX_LEN + 1];
    if (cap_sign(&j->w->cfg.cap_keys, j->m->correlation_id, r->source,
                 cap_expiry(j->m->deadline_ms), cap) == 0) {
        err_set(e, "no capability for source %s", r->source);
        return NULL;
    }
    char url[FANOUTMSG_URL_MAX + sizeof "&cap=" + CAP_MAX_LEN];
    /* Fits: either URL is at most FANOUTMSG_URL_MAX (fanoutmsg_parse, worker_config_load). */
    cap_url(url, sizeof url, callback_url(j), cap);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "patientId", j->m->patient_id, "delay",
                          (json_int_t)r->delay_ms, "callbackUrl", url, "correlationId",
                          j->m->correlation_id);
    char *s = jbody_dumps(o, e);
    json_decref(o);
    return s;
}

long fanout_call_timeout_ms(long read_timeout_ms, long long deadline_ms, long long now_ms) {
    long long left = deadline_ms - now_ms;
    if (left <= 0) return 0;
    return left < read_timeout_ms ? (long)left : read_timeout_ms;
}

/* 1 when j's deadline has passed: resource i is not called (the deadline records its TIMEOUT)
 * and c is released. */
static int past_deadline(fjob *j, int i, long timeout_ms) {
    if (timeout_ms > 0) return 0;
    log_info("session %s: deadline passed before %s was called; not called (the deadline "
             "records its TIMEOUT)",
             j->m->correlation_id, j->m->resources[i].source);
    release(j);
    return 1;
}

/* Makes resource i's call, its timeout capped by the session's deadline. */
static void call_resource(fjob *j, int i) {
    worker *w = j->w;
    fcall *c = &j->calls[i];
    const fanoutmsg_resource *r = &j->m->resources[i];
    long timeout_ms = fanout_call_timeout_ms(w->cfg.read_timeout_ms, j->m->deadline_ms,
                                             loop_wall_ms());
    if (past_deadline(j, i, timeout_ms)) return;
    c->capped = timeout_ms < w->cfg.read_timeout_ms;
    char url[RESLIST_URL_MAX + 16];
    snprintf(url, sizeof url, "%s/journals", r->url);
    err_t e = {0};
    char *body = call_body(j, r, &e);
    if (body == NULL) {
        log_error("session %s: the call to %s not built: %s", j->m->correlation_id, r->source,
                  e.text);
        record(c, OUTCOME_ERROR);
        return;
    }
    /* Each call is a span of its own, a child of the worker's. */
    traceparent child;
    char header[sizeof "traceparent: " + TRACEPARENT_LEN];
    const char *h = NULL;
    if (j->msg.tp.trace_id[0] && traceparent_child(&j->msg.tp, &child, NULL) == AGG_OK) {
        memcpy(header, "traceparent: ", sizeof "traceparent: " - 1);
        traceparent_format(&child, header + sizeof "traceparent: " - 1);
        h = header;
    }
    c->started_ns = loop_now_ns();
    int rc = httpc_post_json_header(w->hc, url, body, h, w->cfg.connect_timeout_ms, timeout_ms,
                                    on_http, c, &e);
    agg_free(body);
    if (rc != AGG_OK) {
        log_warn("session %s: call to %s could not start: %s", j->m->correlation_id, r->source,
                 e.text);
        record(c, OUTCOME_ERROR);
    }
}

static void fail_fast(fcall *c) {
    log_debug("session %s: %s not called: circuit open", c->job->m->correlation_id,
              c->job->m->resources[c->idx].source);
    record_reason(c, OUTCOME_ERROR, BREAKER_REASON_OPEN);
}

static void on_probe(const struct redisReply *reply, void *arg) {
    fcall *c = arg;
    fjob *j = c->job;
    job_ctx(j);
    c->rec = NULL;
    int granted = breakers_probe_granted(j->w, j->m->resources[c->idx].source, reply);
    c->probe = granted == 1;
    if (granted)
        call_resource(j, c->idx);
    else
        fail_fast(c);
}

static void start_call(fjob *j, int i) {
    worker *w = j->w;
    fcall *c = &j->calls[i];
    const fanoutmsg_resource *r = &j->m->resources[i];
    if (!allowlist_url_allowed(&w->cfg.allow, w->cfg.allow_enforced, r->url)) {
        log_warn("session %s: %s has a URL that is not in RESOURCE_URLS; not called, "
                 "recorded as ERROR",
                 j->m->correlation_id, r->source);
        record(c, OUTCOME_ERROR);
        return;
    }
    /* Checked before the breaker, so that no probe is taken for a call not made. */
    if (past_deadline(j, i, fanout_call_timeout_ms(w->cfg.read_timeout_ms, j->m->deadline_ms,
                                                   loop_wall_ms())))
        return;
    switch (breakers_decide(w, r->source)) {
    case BREAKER_CALL: call_resource(j, i); return;
    case BREAKER_FAIL_FAST: fail_fast(c); return;
    case BREAKER_TRY_PROBE: break;
    }
    err_t e;
    if ((c->rec = breakers_probe(w, r->source, on_probe, c, &e)) == NULL) {
        log_warn("session %s: probe of %s not asked: %s", j->m->correlation_id, r->source, e.text);
        fail_fast(c);
    }
}

static void on_meta(const struct redisReply *reply, void *arg) {
    fjob *j = arg;
    job_ctx(j);
    j->meta = NULL;
    session_state st;
    err_t e;
    if (session_state_reply(reply, &st, &e) != AGG_OK) {
        /* Not one of ours: calling the resources is what the message asked. */
        log_warn("session %s: %s; fanning out anyway", j->m->correlation_id, e.text);
        st.exists = 1;
        st.done = 0;
    }
    if (!st.exists) {
        log_info("session %s: unknown (expired or never opened); request skipped",
                 j->m->correlation_id);
        finish(j);
        return;
    }
    if (st.done) {
        log_debug("session %s: already done; request skipped", j->m->correlation_id);
        finish(j);
        return;
    }
    j->pending = 1; /* held while the calls start */
    for (int i = 0; i < j->m->n_resources; i++) {
        /* A re-delivery (the worker that had this message died, or its partition moved):
         * a resource that already took the call, or has an outcome, is not asked again. */
        if (session_state_called(&st, j->m->resources[i].source)) {
            metrics_inc(j->w->met.calls_skipped, 1);
            log_info("session %s: %s already called; not called again", j->m->correlation_id,
                     j->m->resources[i].source);
            continue;
        }
        j->pending++;
        start_call(j, i);
    }
    release(j);
}

void fanout_handle(worker *w, const wmsg *m, const char *value, size_t len) {
    err_t e = {0};
    fanout_msg *fm = fanoutmsg_parse(value ? value : "", len, &e);
    if (fm == NULL && !err_is_nomem(&e)) {
        char why[256];
        logsafe_error(e.text, why, sizeof why);
        metrics_inc(w->met.bad_messages[WORKER_TOPIC_REQUESTS], 1);
        log_warn("bad fan-out message (partition %" PRId32 ", offset %" PRId64 ") skipped: %s",
                 m->partition, m->offset, why);
        worker_msg_done(w, m);
        return;
    }
    fjob *j = fm ? agg_calloc(1, sizeof *j + (size_t)fm->n_resources * sizeof j->calls[0]) : NULL;
    if (j == NULL) {
        log_error("fan-out message (partition %" PRId32 ", offset %" PRId64 "): out of memory",
                  m->partition, m->offset);
        fanoutmsg_free(fm);
        worker_msg_done(w, m);
        return;
    }
    j->w = w;
    j->msg = *m;
    j->m = fm;
    for (int i = 0; i < fm->n_resources; i++) {
        j->calls[i].job = j;
        j->calls[i].idx = i;
        j->calls[i].res = wmetrics_source(&w->met, fm->resources[i].source, i);
    }
    list_insert_after(&w->fanout->jobs, &j->node);
    job_ctx(j);
    log_kv(LOG_INFO, "fan-out received", LOG_PATIENT(fm->patient_id),
           LOG_INT("resources", fm->n_resources));

    if (fm->n_resources == 0) { /* nothing to call: the gateway completed the session */
        finish(j);
        return;
    }
    /* One step reads the session and claims its calls (session_claim): a re-delivery of this
     * message, here or on another worker, calls none of them again. */
    char claims[RESLIST_MAX * (RESLIST_NAME_MAX + 4) + 1];
    size_t claims_len = 0;
    claims[0] = '\0';
    int rc = AGG_OK;
    for (int i = 0; i < fm->n_resources && rc == AGG_OK; i++)
        rc = session_claims_append(claims, sizeof claims, &claims_len, fm->resources[i].source,
                                   &e);
    session_call sc;
    if (rc == AGG_OK && session_call_claim(&sc, j->m->correlation_id, claims, &e) == AGG_OK)
        j->meta = rdsretry_send(w, &sc.call, on_meta, j, &e);
    if (j->meta == NULL) {
        log_error("session %s: state not read: %s", j->m->correlation_id, e.text);
        finish(j);
    }
}
