/* rdsretry: one Redis command or script call, retried with backoff until Redis replies. */
#include "rdsretry.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "list.h"
#include "log.h"

#define STALL_SWEEP_MS 2000

struct rdsretry {
    worker *w;
    int is_script;
    enum rds_script_id id;
    char keys[4][RDS_KEY_MAX];
    int argc;
    char **argv;
    size_t *lens;
    rdsretry_done_cb *done;
    void *arg;
    loop_timer *timer;
    long backoff_ms;
    int pending; /* an rds request is outstanding: its callback frees us if cancelled */
    int cancelled;
    list_node stall; /* on the stalled list while waiting for rdsretry_prepare because a timer
                      * could not be added */
};

struct rdsretry_state {
    list_node stalled; /* rdsretry.stall, the most recently stalled first */
    long long next_sweep;
};

static void send_call(rdsretry *c);

int rdsretry_init(worker *w, err_t *e) {
    w->rdsretry = calloc(1, sizeof *w->rdsretry);
    if (w->rdsretry == NULL) return err_oom(e);
    list_init(&w->rdsretry->stalled);
    return AGG_OK;
}

void rdsretry_shutdown(worker *w) {
    free(w->rdsretry);
    w->rdsretry = NULL;
}

static void free_call(rdsretry *c) {
    list_remove(&c->stall);
    for (int i = 0; i < c->argc; i++) free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    free(c);
}

static void on_timer(loop *l, void *arg) {
    rdsretry *c = arg;
    c->timer = NULL;
    send_call(c);
}

static void schedule_retry(rdsretry *c) {
    worker *w = c->w;
    w->met.redis_retries++;
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
        const char *what = c->is_script ? rds_script_name[c->id] : c->argv[0];
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
    worker *w = c->w;
    int rc;
    if (c->is_script) {
        const char *keys[4] = {c->keys[0], c->keys[1], c->keys[2], c->keys[3]};
        rc =
            rds_script(w->r, c->id, on_reply, c, 4, keys, c->argc, (const char **)c->argv, c->lens);
    } else {
        rc = rds_command_argv(w->r, on_reply, c, c->argc, (const char **)c->argv, c->lens);
    }
    if (rc == AGG_OK) {
        c->pending = 1;
        return;
    }
    if (c->backoff_ms == 0)
        log_warn("redis unavailable; %s will be retried",
                 c->is_script ? rds_script_name[c->id] : c->argv[0]);
    schedule_retry(c);
}

static rdsretry *new_call(worker *w, int argc, const char *const *argv, rdsretry_done_cb *done,
                          void *arg, err_t *e) {
    rdsretry *c = calloc(1, sizeof *c);
    if (c == NULL) {
        err_oom(e);
        return NULL;
    }
    c->w = w;
    c->done = done;
    c->arg = arg;
    list_init(&c->stall);
    c->argv = calloc((size_t)argc, sizeof *c->argv);
    c->lens = calloc((size_t)argc, sizeof *c->lens);
    if (c->argv == NULL || c->lens == NULL) {
        free_call(c);
        err_oom(e);
        return NULL;
    }
    c->argc = argc;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = strdup(argv[i]);
        if (c->argv[i] == NULL) {
            free_call(c);
            err_oom(e);
            return NULL;
        }
        c->lens[i] = strlen(argv[i]);
    }
    return c;
}

rdsretry *rdsretry_script(worker *w, enum rds_script_id id, const char *cid, int nargs,
                          const char *const *args, rdsretry_done_cb *done, void *arg, err_t *e) {
    rdsretry *c = new_call(w, nargs, args, done, arg, e);
    if (c == NULL) return NULL;
    c->is_script = 1;
    c->id = id;
    rds_session_keys(cid, c->keys);
    send_call(c);
    return c;
}

rdsretry *rdsretry_command(worker *w, int argc, const char *const *argv, rdsretry_done_cb *done,
                           void *arg, err_t *e) {
    if (argc < 1) {
        err_set(e, "a command needs its name");
        return NULL;
    }
    rdsretry *c = new_call(w, argc, argv, done, arg, e);
    if (c == NULL) return NULL;
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
