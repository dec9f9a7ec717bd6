/* api: the resource's HTTP endpoints, delayed answers with retries, and deferred direct answers. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "actuator.h"
#include "alloc.h"
#include "apierr.h"
#include "calls.h"
#include "httpmetrics.h"
#include "jbody.h"
#include "list.h"
#include "log.h"
#include "notes.h"
#include "rsreq.h"
#include "traceparent.h"

#define RETRY_BASE_MS 200
/* Fault modes (rsreq.h): -6 sends ACCEPTED_BODY one byte every TRICKLE_MS (about 5 s); -5 sends
 * HANG_PREFIX and stops; -8 answers a body of HUGE_BODY_BYTES. */
#define TRICKLE_MS      250
#define HANG_PREFIX     "{\"status\":\"acc"
#define HUGE_BODY_BYTES (8u * 1024 * 1024)

static const char ACCEPTED_BODY[] = "{\"status\":\"accepted\"}";

/* One answer to deliver: waits for its delay, then POSTs body to url,
 * retrying failed attempts. Owned by the api's job list until finished. */
typedef struct answer_job {
    rs_api *a;
    list_node node; /* on a->jobs */
    loop_timer *t;  /* the delay or backoff timer; NULL when none is pending */
    int in_flight;  /* a POST is running */
    int attempts;   /* POSTs started so far */
    long delay;
    char *body; /* built when the delay has passed; kept for retries */
    rsreq q;
    traceparent tp; /* the worker's call's (or a new trace): the callback is its child */
} answer_job;

/* A /journals/direct request waiting for its delay; freed when answered or cancelled. */
typedef struct direct_wait {
    rs_api *a;
    httpd_req *r;
    loop_timer *t;
    long delay;
    char patient_id[RSREQ_PATIENT_MAX * 4 + 1];
} direct_wait;

/* A -6 answer being sent a byte at a time; freed when its stream closes. */
typedef struct trickle {
    rs_api *a;
    httpd_stream *s;
    loop_timer *t; /* the next byte's timer; NULL when none is pending */
    size_t sent;
    int whole; /* every byte was queued and the stream ended */
    rsreq q;
} trickle;

struct rs_api {
    loop *l;
    httpc *c;
    rs_config cfg;
    char *huge; /* the -8 body, built at its first use; owned */
    list_node jobs; /* answer_job.node, the newest first */
    size_t n_jobs;
    void (*idle)(void *arg);
    void *idle_arg;
    rs_calls *calls; /* POST /journals per correlationId (GET /journals/calls) */
    metrics *reg;    /* this resource's registry, owned */
    actuator *act;
    httpmetrics *httpm;
};

static const char HEALTH_BODY[] = "{\"status\":\"UP\",\"components\":{}}";

/* The simulator is ready once it listens. */
static int always_ready(void *arg) {
    (void)arg;
    return 1;
}

rs_api *rs_api_new(loop *l, httpc *c, const rs_config *cfg, err_t *e) {
    rs_api *a = agg_calloc(1, sizeof *a);
    if (!a) {
        err_nomem(e);
        return NULL;
    }
    a->l = l;
    a->c = c;
    a->cfg = *cfg;
    list_init(&a->jobs);
    actuator_options ao = {.component = "resource-sim", .ready = always_ready};
    if (!(a->calls = rs_calls_new(RS_CALLS_TRACKED, e)) || !(ao.m = a->reg = metrics_new(e)) ||
        !(a->act = actuator_new(&ao, e)) || !(a->httpm = httpmetrics_new(a->reg, e))) {
        rs_api_free(a);
        return NULL;
    }
    return a;
}

void rs_api_done(const httpd_done *d, void *arg) {
    rs_api *a = arg;
    httpmetrics_record(a->httpm, d);
    accesslog_write(d);
}

size_t rs_api_pending(const rs_api *a) { return a->n_jobs; }

void rs_api_on_idle(rs_api *a, void (*idle)(void *arg), void *arg) {
    a->idle = idle;
    a->idle_arg = arg;
}

void rs_api_free(rs_api *a) {
    if (!a) return;
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &a->jobs) {
        answer_job *j = list_entry(pos, answer_job, node);
        list_remove(&j->node);
        loop_timer_cancel(a->l, j->t);
        log_warn("answer for correlationId %s abandoned at shutdown after %d attempt(s)",
                 j->q.correlation_id, j->attempts);
        agg_free(j->body);
        agg_free(j);
    }
    rs_calls_free(a->calls);
    actuator_free(a->act);
    httpmetrics_free(a->httpm);
    metrics_free(a->reg);
    agg_free(a->huge);
    agg_free(a);
}

static void respond_plain_error(httpd_req *r, int status, const char *code, const char *fmt_msg) {
    api_error e;
    apierr_set(&e, status, code, NULL, "%s", fmt_msg);
    httpd_respond_error(r, &e);
}

/* --- answers to callbackUrl (POST /journals) --- */

/* Logs of the job's work carry its session and trace. */
static void job_ctx(const answer_job *j) {
    log_ctx_set(j->q.correlation_id, j->tp.trace_id, j->tp.span_id);
}

static void job_finish(answer_job *j) {
    rs_api *a = j->a;
    list_remove(&j->node);
    a->n_jobs--;
    agg_free(j->body);
    agg_free(j);
    if (a->n_jobs == 0 && a->idle) a->idle(a->idle_arg);
}

static void job_fire(loop *l, void *arg);

/* An attempt failed: schedules the next one with backoff, or gives up. */
static void job_failed(answer_job *j, const char *why) {
    rs_api *a = j->a;
    if (j->attempts <= a->cfg.retries) {
        long long backoff = (long long)RETRY_BASE_MS << (j->attempts - 1);
        j->t = loop_timer_add(a->l, backoff, job_fire, j);
        if (j->t) {
            log_warn("answer for correlationId %s: attempt %d failed (%s); retrying in %lld ms",
                     j->q.correlation_id, j->attempts, why, backoff);
            return;
        }
        log_error("answer for correlationId %s: out of memory scheduling a retry",
                  j->q.correlation_id);
    }
    log_error("answer for correlationId %s to %s failed after %d attempt(s): %s",
              j->q.correlation_id, j->q.callback_url, j->attempts, why);
    job_finish(j);
}

static void job_done_ctx(const httpc_result *res, answer_job *j);

static void job_done(const httpc_result *res, void *arg) {
    job_ctx(arg);
    job_done_ctx(res, arg);
    log_ctx_clear();
}

static void job_done_ctx(const httpc_result *res, answer_job *j) {
    j->in_flight = 0;
    if (res->transport == TRANSPORT_OK && res->status >= 200 && res->status < 300) {
        log_debug("answer for correlationId %s delivered (http %ld, attempt %d, delay %ld ms)",
                  j->q.correlation_id, res->status, j->attempts, j->delay);
        job_finish(j);
        return;
    }
    if (res->transport == TRANSPORT_OK && res->status >= 400 && res->status < 500) {
        log_warn("answer for correlationId %s refused by the receiver (http %ld); not retried",
                 j->q.correlation_id, res->status);
        job_finish(j);
        return;
    }
    char why[300];
    if (res->transport == TRANSPORT_OK)
        snprintf(why, sizeof why, "http %ld", res->status);
    else
        snprintf(why, sizeof why, "%s: %s",
                 res->transport == TRANSPORT_TIMEOUT          ? "timeout"
                 : res->transport == TRANSPORT_CONNECT_FAILED ? "connect failed"
                 : res->transport == TRANSPORT_CLOSED         ? "connection closed"
                                                              : "transport error",
                 res->error && *res->error ? res->error : "no detail");
    job_failed(j, why);
}

static void job_fire_ctx(answer_job *j);

static void job_fire(loop *l, void *arg) {
    job_ctx(arg);
    job_fire_ctx(arg);
    log_ctx_clear();
    (void)l;
}

static void job_fire_ctx(answer_job *j) {
    rs_api *a = j->a;
    j->t = NULL;
    if (!j->body) {
        err_t be;
        j->body = notes_result_json(a->cfg.resource_id, j->q.patient_id, j->q.correlation_id,
                                    j->delay, a->cfg.notes_per_response, loop_wall_ms(), &be);
        if (!j->body) {
            log_error("answer for correlationId %s dropped: its body not built: %s",
                      j->q.correlation_id, be.text);
            job_finish(j);
            return;
        }
    }
    j->attempts++;
    j->in_flight = 1;
    err_t e;
    /* The callback is a span of its own in the worker's call's trace; without random bytes it
     * goes without (the trace is lost, the answer is not). */
    traceparent child;
    char header[sizeof "traceparent: " + TRACEPARENT_LEN];
    const char *h = NULL;
    if (traceparent_child(&j->tp, &child, NULL) == AGG_OK) {
        memcpy(header, "traceparent: ", sizeof "traceparent: " - 1);
        traceparent_format(&child, header + sizeof "traceparent: " - 1);
        h = header;
    }
    if (httpc_post_json_header(a->c, j->q.callback_url, j->body, h, a->cfg.connect_timeout_ms,
                               a->cfg.timeout_ms, job_done, j, &e) != AGG_OK) {
        j->in_flight = 0;
        job_failed(j, e.text);
    }
}

/* Schedules the answer j (its q filled) after delay ms and takes it into a's jobs; AGG_ERR
 * with e filled (out of memory) and j freed. */
static int job_start(rs_api *a, answer_job *j, long delay, err_t *e) {
    j->a = a;
    j->delay = delay;
    j->t = loop_timer_add(a->l, delay, job_fire, j);
    if (!j->t) {
        agg_free(j);
        return err_nomem(e);
    }
    list_insert_after(&a->jobs, &j->node);
    a->n_jobs++;
    return AGG_OK;
}

/* --- fault modes -4 to -8 of POST /journals --- */

static void trickle_closed(void *arg) {
    trickle *t = arg;
    rs_api *a = t->a;
    loop_timer_cancel(a->l, t->t);
    /* A resource that got its answer out calls back; one whose caller gave up does not. */
    answer_job *j = t->whole ? agg_calloc(1, sizeof *j) : NULL;
    err_t e;
    if (j) {
        list_init(&j->node);
        j->q = t->q;
        if (job_start(a, j, 0, &e) != AGG_OK)
            log_error("answer for correlationId %s dropped: %s", t->q.correlation_id, e.text);
    } else if (t->whole) {
        log_error("answer for correlationId %s dropped: out of memory", t->q.correlation_id);
    } else {
        log_info("journals for correlationId %s: the caller left after %zu byte(s) of the "
                 "answer",
                 t->q.correlation_id, t->sent);
    }
    agg_free(t);
}

static void trickle_next(loop *l, void *arg) {
    trickle *t = arg;
    t->t = NULL;
    if (httpd_stream_write(t->s, ACCEPTED_BODY + t->sent, 1, NULL) != AGG_OK) return;
    if (++t->sent == sizeof ACCEPTED_BODY - 1) {
        t->whole = 1;
        httpd_stream_end(t->s);
        return;
    }
    t->t = loop_timer_add(l, TRICKLE_MS, trickle_next, t);
    if (!t->t) httpd_stream_fail(t->s); /* out of memory: the caller sees a broken answer */
}

static void start_trickle(rs_api *a, httpd_req *r, const rsreq *q) {
    trickle *t = agg_calloc(1, sizeof *t);
    if (!t) {
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    t->a = a;
    t->q = *q;
    err_t e;
    t->s = httpd_stream_open(r, "application/json", trickle_closed, t, &e);
    if (!t->s) {
        agg_free(t);
        return; /* answered 500 by httpd_stream_open */
    }
    trickle_next(a->l, t);
}

static void start_hang(rs_api *a, httpd_req *r) {
    err_t e;
    httpd_stream *s = httpd_stream_open(r, "application/json", NULL, NULL, &e);
    /* Freed by httpd when the caller leaves or the simulator stops. */
    if (s) httpd_stream_write(s, HANG_PREFIX, sizeof HANG_PREFIX - 1, NULL);
    (void)a;
}

static void answer_huge(rs_api *a, httpd_req *r) {
    if (!a->huge) {
        static const char head[] = "{\"status\":\"accepted\",\"padding\":\"";
        char *b = agg_malloc(HUGE_BODY_BYTES + 1);
        if (!b) {
            respond_plain_error(r, 500, "internal", "out of memory");
            return;
        }
        memset(b, 'x', HUGE_BODY_BYTES);
        memcpy(b, head, sizeof head - 1);
        memcpy(b + HUGE_BODY_BYTES - 2, "\"}", 2);
        b[HUGE_BODY_BYTES] = '\0';
        a->huge = b;
    }
    httpd_respond(r, 200, NULL, a->huge);
}

/* Answers the fault modes -4 to -8; 0 when q asks for none of them. */
static int handle_fault(rs_api *a, httpd_req *r, const rsreq *q) {
    static const char *const what[] = {"answering 200 and never calling back",
                                       "hanging in the middle of its answer",
                                       "answering a byte at a time",
                                       "redirecting to /actuator/health",
                                       "answering a body of several MiB"};
    if (q->delay > RSREQ_DELAY_SILENT || q->delay < RSREQ_DELAY_HUGE) return 0;
    log_info("journals for correlationId %s: %s (simulated, delay %ld)", q->correlation_id,
             what[RSREQ_DELAY_SILENT - q->delay], q->delay);
    switch (q->delay) {
    case RSREQ_DELAY_SILENT: httpd_respond(r, 200, NULL, ACCEPTED_BODY); break;
    case RSREQ_DELAY_HANG: start_hang(a, r); break;
    case RSREQ_DELAY_TRICKLE: start_trickle(a, r, q); break;
    case RSREQ_DELAY_REDIRECT:
        /* A target that answers 200: a call that followed it would count as accepted. */
        httpd_respond_header(r, 302, NULL, "{}", "Location", "/actuator/health");
        break;
    default: answer_huge(a, r); break;
    }
    return 1;
}

static void handle_journals_ctx(rs_api *a, httpd_req *r, answer_job *j);

static void handle_journals(rs_api *a, httpd_req *r) {
    answer_job *j = agg_calloc(1, sizeof *j);
    if (!j) {
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    err_t e;
    if (traceparent_take(httpd_header(r, "traceparent"), &j->tp, NULL, &e) != AGG_OK) {
        agg_free(j);
        respond_plain_error(r, 500, "internal", e.text);
        return;
    }
    log_ctx_set(NULL, j->tp.trace_id, j->tp.span_id);
    handle_journals_ctx(a, r, j);
    log_ctx_clear();
}

/* Takes j (freed or kept as a job). */
static void handle_journals_ctx(rs_api *a, httpd_req *r, answer_job *j) {
    size_t len;
    const char *body = httpd_body(r, &len);
    api_error ae;
    list_init(&j->node);
    if (jbody_media_type(httpd_header(r, "Content-Type"), &ae) != AGG_OK ||
        rsreq_parse(body, len, 1, &j->q, &ae) != AGG_OK) {
        agg_free(j);
        httpd_respond_error(r, &ae);
        return;
    }
    job_ctx(j);
    /* The operations guide follows a resource's work with grep "Processing". */
    log_kv(LOG_INFO, "Processing journal request", LOG_STR("source", a->cfg.resource_id),
           LOG_PATIENT(j->q.patient_id), LOG_INT("delayMs", j->q.delay));
    rs_calls_note(a->calls, j->q.correlation_id);
    switch (j->q.delay) {
    case RSREQ_DELAY_REJECT:
        log_info("journals for correlationId %s: rejected (simulated, delay -1)",
                 j->q.correlation_id);
        agg_free(j);
        apierr_set(&ae, 401, "rejected", NULL, "%s refused the request (simulated rejection)",
                   a->cfg.resource_id);
        httpd_respond_error(r, &ae);
        return;
    case RSREQ_DELAY_FAIL:
        log_info("journals for correlationId %s: failing (simulated, delay -2)",
                 j->q.correlation_id);
        agg_free(j);
        apierr_set(&ae, 500, "simulated_failure", NULL, "%s failed (simulated failure)",
                   a->cfg.resource_id);
        httpd_respond_error(r, &ae);
        return;
    case RSREQ_DELAY_DROP:
        log_info("journals for correlationId %s: dropping the connection (simulated, delay -3)",
                 j->q.correlation_id);
        agg_free(j);
        httpd_drop(r);
        return;
    default: break;
    }
    err_t e;
    if (handle_fault(a, r, &j->q)) {
        agg_free(j);
        return;
    }
    if (job_start(a, j, j->q.delay, &e) != AGG_OK) {
        respond_plain_error(r, 500, "internal", e.text);
        return;
    }
    log_debug("journals for correlationId %s accepted; answer in %ld ms", j->q.correlation_id,
              j->delay);
    httpd_respond(r, 200, NULL, ACCEPTED_BODY);
}

/* --- direct answers (POST /journals/direct) --- */

static void direct_fire(loop *l, void *arg) {
    direct_wait *w = arg;
    rs_api *a = w->a;
    (void)l;
    w->t = NULL;
    err_t e;
    char *body = notes_result_json(a->cfg.resource_id, w->patient_id, NULL, w->delay,
                                   a->cfg.notes_per_response, loop_wall_ms(), &e);
    if (body) {
        httpd_respond(w->r, 200, NULL, body);
        log_debug("direct answer sent after %ld ms", w->delay);
    } else {
        respond_plain_error(w->r, 500, "internal", e.text);
    }
    agg_free(body);
    agg_free(w);
}

static void direct_cancel(void *arg) {
    direct_wait *w = arg;
    loop_timer_cancel(w->a->l, w->t);
    log_info("direct request ended before its answer (client gone or shutting down)");
    agg_free(w);
}

static void handle_direct(rs_api *a, httpd_req *r) {
    size_t len;
    const char *body = httpd_body(r, &len);
    api_error ae;
    rsreq *q = agg_malloc(sizeof *q);
    if (!q) {
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    if (jbody_media_type(httpd_header(r, "Content-Type"), &ae) != AGG_OK ||
        rsreq_parse(body, len, 0, q, &ae) != AGG_OK) {
        agg_free(q);
        httpd_respond_error(r, &ae);
        return;
    }
    if (q->delay == RSREQ_DELAY_REJECT) {
        err_t e;
        char *out = notes_rejected_json(a->cfg.resource_id, q->patient_id, &e);
        agg_free(q);
        if (!out) {
            respond_plain_error(r, 500, "internal", e.text);
            return;
        }
        httpd_respond(r, 200, NULL, out);
        agg_free(out);
        log_info("direct request rejected (simulated, delay -1)");
        return;
    }
    if (q->delay == RSREQ_DELAY_FAIL) {
        agg_free(q);
        apierr_set(&ae, 500, "simulated_failure", NULL, "%s failed (simulated failure)",
                   a->cfg.resource_id);
        httpd_respond_error(r, &ae);
        log_info("direct request failed (simulated, delay -2)");
        return;
    }
    if (q->delay == RSREQ_DELAY_DROP) {
        agg_free(q);
        httpd_drop(r);
        log_info("direct request dropped (simulated, delay -3)");
        return;
    }
    direct_wait *w = agg_calloc(1, sizeof *w);
    if (!w) {
        agg_free(q);
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    w->a = a;
    w->r = r;
    w->delay = q->delay;
    memcpy(w->patient_id, q->patient_id, sizeof w->patient_id);
    agg_free(q);
    w->t = loop_timer_add(a->l, w->delay, direct_fire, w);
    if (!w->t) {
        agg_free(w);
        respond_plain_error(r, 500, "internal", "out of memory");
        return;
    }
    /* Returning without an answer suspends r until direct_fire or direct_cancel. */
    httpd_req_on_cancel(r, direct_cancel, w);
}

/* --- routing --- */

void rs_api_handle(httpd_req *r, void *arg) {
    rs_api *a = arg;
    const char *path = httpd_path(r);
    const char *method = httpd_method(r);
    if (actuator_handle(a->act, r)) return;
    static const struct {
        const char *path;
        const char *method;
    } routes[] = {{"/journals", "POST"},
                  {"/journals/direct", "POST"},
                  {"/actuator/health", "GET"},
                  {"/actuator/health/liveness", "GET"},
                  {"/actuator/health/readiness", "GET"},
                  {"/journals/calls", "GET"}};
    size_t n = sizeof routes / sizeof routes[0], i;
    for (i = 0; i < n; i++)
        if (path && strcmp(path, routes[i].path) == 0) break;
    if (i == n) {
        respond_plain_error(r, 404, "not_found", "no such endpoint");
        return;
    }
    httpd_req_set_route(r, routes[i].path);
    if (!method || strcmp(method, routes[i].method) != 0) {
        api_error e;
        apierr_set(&e, 405, "method_not_allowed", NULL, "method not allowed on this endpoint");
        httpd_respond_error_header(r, &e, "Allow", routes[i].method);
        return;
    }
    switch (i) {
    case 0: handle_journals(a, r); break;
    case 1: handle_direct(a, r); break;
    case 5: rs_calls_handle(a->calls, r); break;
    default: httpd_respond(r, 200, NULL, HEALTH_BODY); break;
    }
}
