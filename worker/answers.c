/* answers: handles answer messages (callbacks topic): records each answer in its session. */
#include "answers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answer.h"
#include "journalreq.h"
#include "list.h"
#include "log.h"
#include "logsafe.h"
#include "rdsretry.h"
#include "record.h"
#include "session.h"

typedef struct ajob {
    worker *w;
    wmsg msg;
    answer_msg m;
    rdsretry *rec;
    list_node node; /* on the module's jobs */
} ajob;

struct answers_state {
    list_node jobs; /* ajob.node, the newest first */
};

int answers_init(worker *w, err_t *e) {
    w->answers = agg_calloc(1, sizeof *w->answers);
    if (w->answers == NULL) return err_nomem(e);
    list_init(&w->answers->jobs);
    return AGG_OK;
}

static void unlink_job(ajob *j) { list_remove(&j->node); }

static void free_job(ajob *j) {
    answer_clear(&j->m);
    agg_free(j);
}

void answers_shutdown(worker *w) {
    struct answers_state *s = w->answers;
    if (s == NULL) return;
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &s->jobs) {
        ajob *j = list_entry(pos, ajob, node);
        unlink_job(j);
        rdsretry_cancel(j->rec);
        free_job(j);
    }
    agg_free(s);
    w->answers = NULL;
}

static void on_record(const struct redisReply *reply, void *arg) {
    ajob *j = arg;
    worker *w = j->w;
    log_ctx_set(j->m.correlation_id, j->msg.tp.trace_id, j->msg.tp.span_id);
    wmsg msg = j->msg;
    j->rec = NULL;
    /* A scan of the configured names (RESLIST_MAX at most), once per answer. */
    record_account(w, reply, j->m.correlation_id, j->m.source,
                   wmetrics_source(&w->met, j->m.source, -1), j->m.status);
    unlink_job(j);
    free_job(j);
    worker_msg_done(w, &msg);
}

static void bad(worker *w, const wmsg *m, const char *why) {
    metrics_inc(w->met.bad_messages[WORKER_TOPIC_CALLBACKS], 1);
    log_warn("bad answer message (partition %" PRId32 ", offset %" PRId64 ") skipped: %s",
             m->partition, m->offset, why);
    worker_msg_done(w, m);
}

void answers_handle(worker *w, const wmsg *m, const char *value, size_t len,
                    const char *capability) {
    ajob *j = agg_calloc(1, sizeof *j);
    if (j == NULL) {
        log_error("answer message (partition %" PRId32 ", offset %" PRId64 "): out of memory",
                  m->partition, m->offset);
        worker_msg_done(w, m);
        return;
    }
    j->w = w;
    j->msg = *m;
    api_error ae;
    memset(&ae, 0, sizeof ae);
    if (answer_parse(value ? value : "", len, &j->m, &ae) != AGG_OK) {
        char msg[256], why[320];
        logsafe_error(ae.message, msg, sizeof msg);
        snprintf(why, sizeof why, "%s%s%s: %s", ae.code ? ae.code : "invalid", ae.field ? " " : "",
                 ae.field ? ae.field : "", msg);
        free_job(j);
        bad(w, m, why);
        return;
    }
    /* The gateway checked it; this check keeps out what reached the topic some other way. */
    cap_result cr = cap_verify(&w->cfg.cap_keys, capability, j->m.correlation_id, j->m.source,
                               loop_wall_ms() / 1000);
    if (cr != CAP_VALID) {
        metrics_inc(w->met.dropped_capability, 1);
        log_ctx_set(j->m.correlation_id, m->tp.trace_id, m->tp.span_id);
        log_warn("answer of %s (partition %" PRId32 ", offset %" PRId64
                 ") dropped: invalid_capability (%s)",
                 j->m.source, m->partition, m->offset, cap_result_name(cr));
        free_job(j);
        worker_msg_done(w, m);
        return;
    }
    list_insert_after(&w->answers->jobs, &j->node);
    log_ctx_set(j->m.correlation_id, m->tp.trace_id, m->tp.span_id);
    log_kv(LOG_INFO, "answer received", LOG_STR("source", j->m.source),
           LOG_STR("status", outcome_name(j->m.status)), LOG_PATIENT(j->m.patient_id));

    session_outcome so = {j->m.correlation_id, j->m.patient_id, j->m.source, j->m.status,
                          j->m.json,           loop_wall_ms(),  w->cfg.retention_s};
    session_call sc;
    err_t e;
    if (session_call_record(&sc, &so, &e) == AGG_OK)
        j->rec = rdsretry_send(w, &sc.call, on_record, j, &e);
    if (j->rec == NULL) {
        log_error("session %s: the answer of %s not recorded: %s", j->m.correlation_id,
                  j->m.source, e.text);
        wmsg msg = j->msg;
        unlink_job(j);
        free_job(j);
        worker_msg_done(w, &msg);
    }
}
