/* journals: POST /aggregate/journals (SSE and WAIT_FOR_EVERYONE strategies). */
#include "journals.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierr.h"
#include "jbody.h"
#include "fanoutmsg.h"
#include "journalmerge.h"
#include "listeners.h"
#include "log.h"
#include "logsafe.h"
#include "session.h"
#include "traceparent.h"
#include "uuid4.h"

/* Order of work, and why:
 *   (WAIT_FOR_EVERYONE only) subscribe to the session channel first, so the
 *   summary cannot be published before we listen;
 *   session_open in Redis, so a stream opened right after the answer finds it;
 *   produce the fan-out message to Kafka and answer only on the broker's ack. */

typedef struct post_ctx {
    gateway *gw;
    httpd_req *r;      /* NULL once answered or the client left */
    fanout_msg *msg;   /* owned until produced */
    gw_listener *li;   /* WAIT_FOR_EVERYONE: the session's channel */
    loop_timer *guard; /* WAIT_FOR_EVERYONE: answer 504 after this */
    int busy;          /* a Redis or Kafka callback is pending with this ctx */
    int dead;          /* answered or the client left: free when not busy */
    int produced;      /* Kafka acknowledged the fan-out message */
    int summary_seen;  /* WAIT_FOR_EVERYONE: the summary was published */
    int fetching;      /* WAIT_FOR_EVERYONE: reading the log */
    int opened;        /* session_open succeeded: the session is in Redis from now on */
    int resync_due;    /* pub/sub reconnected while busy: check the session when idle */
    int publishing;    /* counted in gw->posts_publishing */
    traceparent tp;    /* the gateway's span of the session's trace (the client's or a new one) */
    char tp_header[TRACEPARENT_LEN + 1]; /* tp formatted: the response and Kafka header */
} post_ctx;

/* Lines logged while working for c carry its session and trace. */
static void ctx_enter(const post_ctx *c) {
    log_ctx_set(c->msg ? c->msg->correlation_id : NULL, c->tp.trace_id, c->tp.span_id);
}

/* The request left the publishing phase (acknowledged, failed or abandoned). */
static void published(post_ctx *c) {
    if (!c->publishing) return;
    c->publishing = 0;
    c->gw->posts_publishing--;
}

static void finish(post_ctx *c) {
    c->dead = 1;
    published(c);
    if (c->li) {
        gw_unlisten(c->gw->listeners, c->li);
        c->li = NULL;
    }
    if (c->guard) {
        loop_timer_cancel(c->gw->l, c->guard);
        c->guard = NULL;
    }
    if (c->busy) return;
    fanoutmsg_free(c->msg);
    agg_free(c);
}

static void answer_error(post_ctx *c, int status, const char *code, const char *msg) {
    if (c->r) {
        api_error e;
        apierr_set(&e, status, code, NULL, "%s", msg);
        httpd_respond_error(c->r, &e);
        c->r = NULL;
    }
    finish(c);
}

/* Answers for failure e: 503 naming what is unavailable, or out of memory. */
static void answer_failure(post_ctx *c, const err_t *e, const char *what) {
    if (c->r) {
        gw_respond_failure(c->r, e, what);
        c->r = NULL;
    }
    finish(c);
}

static void on_cancel(void *arg) {
    post_ctx *c = arg;
    ctx_enter(c);
    log_info("request cancelled: the client went away before its answer");
    c->r = NULL;
    finish(c);
}

static void answer_failure(post_ctx *c, const err_t *e, const char *what);

static void answer_accepted(post_ctx *c) {
    err_t e;
    char *sources = fanoutmsg_sources_json(c->msg, &e);
    char *body = NULL;
    size_t n = sources ? strlen(sources) + 160 : 0;
    if (!sources || !(body = agg_malloc(n))) {
        agg_free(sources);
        if (sources) err_nomem(&e);
        answer_failure(c, &e, "memory");
        return;
    }
    snprintf(body, n, "{\"correlationId\":\"%s\",\"resources\":%d,\"sources\":%s}",
             c->msg->correlation_id, c->msg->n_resources, sources);
    httpd_respond_header(c->r, 202, NULL, body, c->tp_header[0] ? "traceparent" : NULL, c->tp_header);
    c->r = NULL;
    agg_free(body);
    agg_free(sources);
    finish(c);
}

/* --- WAIT_FOR_EVERYONE: read the whole log once the summary is out --- */

static void on_wait_log(struct redisReply *reply, void *arg) {
    post_ctx *c = arg;
    c->busy = 0;
    c->fetching = 0;
    if (c->dead || !c->r) {
        finish(c);
        return;
    }
    size_t n;
    err_t e;
    if (session_list_reply(reply, &n, &e) != AGG_OK) {
        metrics_inc(c->gw->metrics.redis_failures, 1);
        log_warn("WAIT_FOR_EVERYONE log read failed: %s", e.text);
        answer_failure(c, &e, "session store");
        return;
    }
    log_event *events = agg_calloc(n ? n : 1, sizeof *events);
    if (!events) {
        err_nomem(&e);
        answer_failure(c, &e, "memory");
        return;
    }
    size_t k = 0;
    int has_summary = 0;
    session_event ev;
    for (size_t i = 0; i < n; i++) {
        if (session_log_entry(reply, i, &ev) != AGG_OK) continue;
        /* Entries are stored with NUL-terminated values by Redis' protocol reader. */
        events[k].seq = ev.seq;
        events[k].event = session_event_is_summary(&ev) ? "summary" : "callback";
        events[k].data = ev.data;
        has_summary |= session_event_is_summary(&ev);
        k++;
    }
    if (!has_summary) { /* resync found no summary yet: keep waiting */
        agg_free(events);
        return;
    }
    char *body;
    int rc = journalmerge_build(c->msg->patient_id, events, k, &body, &e);
    agg_free(events);
    if (rc != AGG_OK) {
        char why[256];
        logsafe_error(e.text, why, sizeof why);
        log_error("session %s: WAIT_FOR_EVERYONE response not built: %s", c->msg->correlation_id,
                  why);
        if (err_is_nomem(&e))
            answer_failure(c, &e, "memory");
        else
            answer_error(c, 500, "internal", "could not build the answer");
        return;
    }
    httpd_respond_header(c->r, 200, NULL, body, c->tp_header[0] ? "traceparent" : NULL, c->tp_header);
    c->r = NULL;
    agg_free(body);
    finish(c);
}

static void fetch_log(post_ctx *c) {
    if (c->busy || c->fetching || c->dead) return;
    session_call sc;
    err_t e;
    if (session_call_log(&sc, c->msg->correlation_id, 0, &e) != AGG_OK ||
        rds_call_send(c->gw->redis, &sc.call, on_wait_log, c, &e) != AGG_OK) {
        answer_failure(c, &e, "session store");
        return;
    }
    c->busy = 1;
    c->fetching = 1;
}

static void on_wait_event(const sse_published *ev, void *arg) {
    post_ctx *c = arg;
    if (ev->event_len == 7 && memcmp(ev->event, "summary", 7) == 0) {
        c->summary_seen = 1;
        if (c->produced) fetch_log(c);
    }
}

/* After pub/sub reconnected: is the session still there? Redis may have come back empty (or
 * a replica taken over without it); then no summary will ever come, so the client gets 503
 * (retry: submit again) at once instead of a 504 after the deadline and WAIT_GRACE_MS. */
static void on_wait_state(struct redisReply *reply, void *arg) {
    post_ctx *c = arg;
    c->busy = 0;
    c->fetching = 0;
    if (c->dead || !c->r) {
        finish(c);
        return;
    }
    session_state st;
    err_t e;
    if (session_state_reply(reply, &st, &e) != AGG_OK) {
        metrics_inc(c->gw->metrics.redis_failures, 1);
        answer_failure(c, &e, "session store");
        return;
    }
    if (!st.exists) {
        metrics_inc(c->gw->metrics.sessions_lost, 1);
        log_warn("session %s: lost by the session store while waiting", c->msg->correlation_id);
        answer_error(c, 503, "unavailable",
                     "the session store lost this session (Redis restarted empty or failed over "
                     "without it); submit the request again");
        return;
    }
    if (c->produced && (st.done || c->summary_seen)) fetch_log(c);
}

static void on_wait_resync(void *arg) {
    post_ctx *c = arg;
    if (!c->opened || c->dead) return;
    if (c->busy || c->fetching) {
        c->resync_due = 1;
        return;
    }
    c->resync_due = 0;
    session_call sc;
    err_t e;
    if (session_call_state(&sc, c->msg->correlation_id, &e) != AGG_OK ||
        rds_call_send(c->gw->redis, &sc.call, on_wait_state, c, &e) != AGG_OK) {
        answer_failure(c, &e, "session store");
        return;
    }
    c->busy = 1;
    c->fetching = 1;
}

static void on_wait_guard(loop *l, void *arg) {
    (void)l;
    post_ctx *c = arg;
    c->guard = NULL;
    metrics_inc(c->gw->metrics.wait_timeouts, 1);
    answer_error(c, 504, "timeout", "the aggregation did not complete in time");
}

/* --- common path --- */

static void on_delivered_ctx(int ok, const char *errstr, post_ctx *c);

static void on_delivered(int ok, const char *errstr, double seconds, void *arg) {
    post_ctx *c = arg;
    gwmetrics_produced(&c->gw->metrics, GW_TOPIC_REQUESTS, seconds);
    ctx_enter(c);
    on_delivered_ctx(ok, errstr, c);
    log_ctx_clear();
}

static void on_delivered_ctx(int ok, const char *errstr, post_ctx *c) {
    c->busy = 0;
    if (c->dead || !c->r) {
        finish(c);
        return;
    }
    if (!ok) {
        metrics_inc(c->gw->metrics.produce_failures, 1);
        log_warn("fan-out message not accepted by Kafka: %s", errstr ? errstr : "unknown error");
        answer_error(c, 503, "unavailable", "message broker unavailable");
        return;
    }
    c->produced = 1;
    published(c);
    if (c->msg->strategy == STRATEGY_SSE) {
        gwmetrics_session_started(&c->gw->metrics, GW_STRATEGY_SSE);
        answer_accepted(c);
        return;
    }
    gwmetrics_session_started(&c->gw->metrics, GW_STRATEGY_WAIT);
    if (c->resync_due)
        on_wait_resync(c);
    else if (c->summary_seen)
        fetch_log(c);
}

static void on_opened_ctx(struct redisReply *reply, post_ctx *c);

static void on_opened(struct redisReply *reply, void *arg) {
    ctx_enter(arg);
    on_opened_ctx(reply, arg);
    log_ctx_clear();
}

static void on_opened_ctx(struct redisReply *reply, post_ctx *c) {
    c->busy = 0;
    if (c->dead || !c->r) {
        finish(c);
        return;
    }
    err_t e;
    if (session_open_reply(reply, &e) != AGG_OK) {
        metrics_inc(c->gw->metrics.redis_failures, 1);
        log_error("%s", e.text);
        answer_failure(c, &e, "session store");
        return;
    }
    c->opened = 1;
    char *json = fanoutmsg_to_json(c->msg, &e);
    if (!json) {
        answer_failure(c, &e, "memory");
        return;
    }
    int rc = gw_produce(c->gw->kafka, c->gw->cfg.topic_requests, c->msg->correlation_id, UUID4_LEN,
                        json, strlen(json), c->tp_header[0] ? c->tp_header : NULL, on_delivered, c, &e);
    agg_free(json);
    if (rc != AGG_OK) {
        metrics_inc(c->gw->metrics.produce_failures, 1);
        log_warn("fan-out message not queued for Kafka: %s", e.text);
        answer_failure(c, &e, "message broker");
        return;
    }
    c->busy = 1;
}

static void open_session(post_ctx *c) {
    const fanout_msg *m = c->msg;
    err_t e;
    char *sources = fanoutmsg_sources_json(m, &e);
    if (!sources) {
        answer_failure(c, &e, "memory");
        return;
    }
    session_def d = {m->correlation_id, m->patient_id,  journalreq_strategy_name(m->strategy),
                     sources,           m->created_ms, m->deadline_ms,
                     loop_wall_ms(),    c->gw->cfg.retention_s, c->tp.trace_id,
                     m->principal};
    session_call sc;
    int rc = session_call_open(&sc, &d, &e);
    if (rc == AGG_OK) rc = rds_call_send(c->gw->redis, &sc.call, on_opened, c, &e);
    agg_free(sources);
    if (rc != AGG_OK) {
        answer_failure(c, &e, "session store");
        return;
    }
    c->busy = 1;
}

static void on_wait_subscribed(int ok, void *arg) {
    post_ctx *c = arg;
    if (c->dead) return;
    if (!ok) {
        err_t e;
        err_set(&e, "subscription lost");
        answer_failure(c, &e, "session store");
        return;
    }
    open_session(c);
}

void gw_journals_handle(gateway *gw, httpd_req *r, const char *principal) {
    size_t len;
    const char *body = httpd_body(r, &len);
    journalreq_limits lim = {gw->cfg.timeout_default_ms, gw->cfg.timeout_max_ms,
                             gw->cfg.resources.n};
    journal_request jr;
    api_error e;
    if (gw->draining) {
        gw_respond_draining(gw, r);
        return;
    }
    if (jbody_media_type(httpd_header(r, "Content-Type"), &e) != AGG_OK ||
        journalreq_parse(body, len, &lim, &jr, &e) != AGG_OK) {
        metrics_inc(gw->metrics.bad_requests, 1);
        httpd_respond_error(r, &e);
        return;
    }
    if (!rds_ready(gw->redis) || !gw_listeners_ready(gw->listeners)) {
        gw_respond_unavailable(r, "redis");
        return;
    }
    if (!gw_producer_healthy(gw->kafka)) {
        gw_respond_unavailable(r, "kafka");
        return;
    }
    /* Load shedding: past this many requests and messages waiting for the broker the
     * pipeline lags; refusing new sessions early lets the ones already accepted finish
     * (their answers are always taken) instead of every session ending by deadline. */
    if (gw->cfg.max_pending > 0 && (size_t)gw->posts_publishing + gw_producer_queued(gw->kafka) >=
                                       (size_t)gw->cfg.max_pending) {
        metrics_inc(gw->metrics.sessions_shed, 1);
        api_error oe;
        apierr_set(&oe, 503, "overloaded", NULL,
                   "too many requests waiting for the message broker; retry in a second");
        httpd_respond_error(r, &oe);
        return;
    }
    post_ctx *c = agg_calloc(1, sizeof *c);
    if (!c) {
        err_t oom;
        err_nomem(&oom);
        gw_respond_failure(r, &oom, "memory");
        return;
    }
    char cid[UUID4_LEN + 1];
    err_t ue;
    if (uuid4_new(cid, &ue) != AGG_OK) {
        agg_free(c);
        log_error("no random bytes for a correlation id: %s", ue.text);
        gw_respond_unavailable(r, "random");
        return;
    }
    err_t me;
    fanout_msg *m = fanoutmsg_from_request(&jr, &gw->cfg.resources, cid, loop_wall_ms(),
                                           gw->cfg.callback_url, principal, &me);
    if (!m) {
        agg_free(c);
        gw_respond_failure(r, &me, "memory");
        return;
    }
    c->gw = gw;
    c->r = r;
    c->msg = m;
    /* The client's trace when its traceparent is valid (the gateway's span is its child), else a
     * new one: never an error. Without random bytes the session goes without a trace. */
    int from_client = 0;
    if (traceparent_take(httpd_header(r, "traceparent"), &c->tp, &from_client, NULL) == AGG_OK &&
        (!from_client || traceparent_child(&c->tp, &c->tp, NULL) == AGG_OK))
        traceparent_format(&c->tp, c->tp_header);
    else
        memset(&c->tp, 0, sizeof c->tp);
    c->publishing = 1;
    gw->posts_publishing++;
    ctx_enter(c);
    log_kv(LOG_INFO, "session started", LOG_STR("strategy", journalreq_strategy_name(jr.strategy)),
           LOG_PATIENT(jr.patient_id), LOG_INT("resources", m->n_resources),
           LOG_INT("timeoutMs", jr.timeout_ms));
    log_ctx_clear();
    httpd_req_on_cancel(r, on_cancel, c);
    if (jr.strategy == STRATEGY_SSE) {
        open_session(c);
        return;
    }
    err_t le;
    c->guard = loop_timer_add(gw->l, jr.timeout_ms + gw->cfg.wait_grace_ms, on_wait_guard, c);
    if (!c->guard) {
        err_nomem(&le);
        answer_failure(c, &le, "memory");
        return;
    }
    c->li = gw_listen(gw->listeners, cid, on_wait_event, on_wait_subscribed, on_wait_resync, c, &le);
    if (!c->li) answer_failure(c, &le, "session store");
}
