/* rdsretry: one Redis command or script call, retried with backoff until Redis replies. */
#include "rdsretry.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backoff.h"
#include "list.h"
#include "log.h"

#define STALL_SWEEP_MS 2000

struct rdsretry {
    worker *w;
    rds_call call; /* its strings point into bytes[] */
    rdsretry_done_cb *done;
    void *arg;
    loop_timer *timer;
    long backoff_ms;
    int pending; /* an rds request is outstanding: its callback frees us if cancelled */
    int cancelled;
    list_node stall; /* on the stalled list while waiting for rdsretry_prepare because a timer
                      * could not be added */
    char bytes[];    /* the call's strings, NUL-terminated, one after another */
};

struct rdsretry_state {
    list_node stalled; /* rdsretry.stall, the most recently stalled first */
    long long next_sweep;
};

static void send_call(rdsretry *c);

int rdsretry_init(worker *w, err_t *e) {
    w->rdsretry = agg_calloc(1, sizeof *w->rdsretry);
    if (w->rdsretry == NULL) return err_nomem(e);
    list_init(&w->rdsretry->stalled);
    return AGG_OK;
}

void rdsretry_shutdown(worker *w) {
    agg_free(w->rdsretry);
    w->rdsretry = NULL;
}

static void free_call(rdsretry *c) {
    list_remove(&c->stall);
    agg_free(c);
}

static void on_timer(loop *l, void *arg) {
    rdsretry *c = arg;
    c->timer = NULL;
    send_call(c);
}

static void schedule_retry(rdsretry *c) {
    worker *w = c->w;
    metrics_inc(w->met.redis_retries, 1);
    c->backoff_ms = backoff_next(c->backoff_ms);
    c->timer = loop_timer_add(w->l, c->backoff_ms, on_timer, c);
    if (c->timer != NULL) return;
    log_error("redis retry timer: out of memory; retrying within %d ms", STALL_SWEEP_MS);
    list_insert_after(&w->rdsretry->stalled, &c->stall);
}

static void on_reply(struct redisReply *reply, void *arg) {
    rdsretry *c = arg;
    c->pending = 0;
    if (c->cancelled || c->w->closing) {
        free_call(c);
        return;
    }
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        const char *what = rds_call_name(&c->call);
        if (reply == NULL)
            log_warn("redis: %s got no reply (connection lost); retrying", what);
        else
            log_warn("redis: %s failed: %.200s; retrying", what, reply->str ? reply->str : "");
        schedule_retry(c);
        return;
    }
    c->done(reply, c->arg);
    free_call(c);
}

static void send_call(rdsretry *c) {
    err_t e;
    if (rds_call_send(c->w->r, &c->call, on_reply, c, &e) == AGG_OK) {
        c->pending = 1;
        return;
    }
    if (c->backoff_ms == 0)
        log_warn("redis: %s not sent (%s); it will be retried", rds_call_name(&c->call), e.text);
    schedule_retry(c);
}

rdsretry *rdsretry_send(worker *w, const rds_call *call, rdsretry_done_cb *done, void *arg, err_t *e) {
    if (call->invalid || call->argc < 1) {
        err_set(e, "redis: malformed call %s", rds_call_name(call));
        return NULL;
    }
    size_t bytes = 0;
    for (int i = 0; i < call->argc; i++) bytes += call->lens[i] + 1;
    rdsretry *c = agg_calloc(1, sizeof *c + bytes);
    if (c == NULL) {
        err_nomem(e);
        return NULL;
    }
    c->w = w;
    c->done = done;
    c->arg = arg;
    list_init(&c->stall);
    c->call = *call;
    char *p = c->bytes;
    for (int i = 0; i < call->argc; i++) {
        memcpy(p, call->argv[i], call->lens[i]);
        p[call->lens[i]] = '\0';
        c->call.argv[i] = p;
        p += call->lens[i] + 1;
    }
    send_call(c);
    return c;
}

void rdsretry_cancel(rdsretry *c) {
    if (c == NULL) return;
    if (c->pending) {
        c->cancelled = 1; /* on_reply frees it */
        return;
    }
    loop_timer_cancel(c->w->l, c->timer);
    free_call(c);
}

void rdsretry_prepare(worker *w) {
    struct rdsretry_state *s = w->rdsretry;
    if (s == NULL || list_empty(&s->stalled) || w->closing) return;
    long long now = loop_now_ms();
    if (now < s->next_sweep) {
        loop_limit_wait(w->l, s->next_sweep - now);
        return;
    }
    s->next_sweep = now + STALL_SWEEP_MS;
    /* Only the calls stalled so far: one that stalls again waits for the next sweep. */
    list_node batch, *pos, *tmp;
    list_init(&batch);
    list_splice_tail(&batch, &s->stalled);
    list_foreach_safe(pos, tmp, &batch) {
        rdsretry *c = list_entry(pos, rdsretry, stall);
        list_remove(&c->stall);
        send_call(c);
    }
    if (!list_empty(&s->stalled)) loop_limit_wait(w->l, STALL_SWEEP_MS);
}
