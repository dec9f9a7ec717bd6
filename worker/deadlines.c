/* deadlines: the scanner that expires every session whose deadline passed, whoever opened it. */
#include "deadlines.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "policy.h"

#define SCAN_BATCH 256

struct deadlines_state {
    long long next_tick; /* loop_now_ms() of the next scan */
    int scanning;        /* the ZRANGEBYSCORE or some expire call is outstanding */
    int outstanding;     /* expire calls outstanding */
    int batch_full;      /* the running scan returned SCAN_BATCH members */
    int failing;         /* the last scan failed (log once per outage) */
    int ever_ok;         /* a scan has worked once (no warning while first connecting) */
    char now_s[24];      /* the scan's wall-clock time, an expire argument */
};

/* Longest deadlines member passed to session_expire (its keys must fit RDS_KEY_MAX). */
#define MEMBER_MAX 64

typedef struct expire_call {
    worker *w;
    char cid[MEMBER_MAX + 1];
} expire_call;

int deadlines_init(worker *w, err_t *e) {
    w->deadlines = calloc(1, sizeof *w->deadlines);
    if (w->deadlines == NULL) return err_oom(e);
    return AGG_OK;
}

void deadlines_shutdown(worker *w) {
    free(w->deadlines);
    w->deadlines = NULL;
}

int deadlines_busy(const worker *w) { return w->deadlines != NULL && w->deadlines->scanning; }

static void scan_done(worker *w) {
    struct deadlines_state *s = w->deadlines;
    s->scanning = 0;
    if (s->batch_full) s->next_tick = 0; /* more are due: scan again before the next wait */
}

static void on_expire(struct redisReply *reply, void *arg) {
    expire_call *x = arg;
    worker *w = x->w;
    struct deadlines_state *s = w->deadlines;
    if (!w->closing && reply != NULL) {
        const char *result = policy_script_result(reply);
        switch (policy_expire_parse(result)) {
        case POLICY_EXPIRED:
            w->met.timeouts++;
            w->met.summaries++;
            log_info("session %s expired: deadline passed (completedBy TIMEOUT)", x->cid);
            break;
        case POLICY_NOT_DUE:
        case POLICY_GONE: log_debug("session %s: expire: %s", x->cid, result); break;
        case POLICY_EXPIRE_UNKNOWN:
            log_error("session %s: unexpected session_expire reply %.120s", x->cid,
                      reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
                      : result                                       ? result
                                                                     : "(not a result)");
            break;
        }
    }
    free(x);
    if (w->closing) return;
    if (--s->outstanding == 0) scan_done(w);
}

static void expire_one(worker *w, const char *cid, size_t len) {
    struct deadlines_state *s = w->deadlines;
    if (len == 0 || len > MEMBER_MAX || strlen(cid) != len) {
        log_warn("agg:deadlines holds a member that is not a correlation id; ignored");
        return;
    }
    expire_call *x = calloc(1, sizeof *x);
    if (x == NULL) {
        log_error("deadline scan: out of memory");
        return;
    }
    x->w = w;
    memcpy(x->cid, cid, len + 1);
    char keys[4][RDS_KEY_MAX];
    rds_session_keys(x->cid, keys);
    const char *kp[4] = {keys[0], keys[1], keys[2], keys[3]};
    const char *args[3] = {x->cid, s->now_s, w->ttl_s};
    if (rds_script(w->r, RDS_SCRIPT_SESSION_EXPIRE, on_expire, x, 4, kp, 3, args, NULL) != AGG_OK) {
        free(x);
        return; /* Redis went away: the next scan tries again */
    }
    s->outstanding++;
}

static void on_scan(struct redisReply *reply, void *arg) {
    worker *w = arg;
    struct deadlines_state *s = w->deadlines;
    if (w->closing) return;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (!s->failing)
            log_warn("deadline scan failed: %s", reply == NULL ? "no reply from redis"
                                                 : reply->type == REDIS_REPLY_ERROR && reply->str
                                                     ? reply->str
                                                     : "unexpected reply");
        s->failing = 1;
        scan_done(w);
        return;
    }
    if (s->failing && s->ever_ok) log_info("deadline scan works again");
    s->failing = 0;
    s->ever_ok = 1;
    s->batch_full = reply->elements >= SCAN_BATCH;
    s->outstanding = 1; /* held while the expire calls are sent */
    for (size_t i = 0; i < reply->elements; i++) {
        const struct redisReply *el = reply->element[i];
        if (el != NULL && el->type == REDIS_REPLY_STRING && el->str != NULL)
            expire_one(w, el->str, el->len);
    }
    if (--s->outstanding == 0) scan_done(w);
}

static void start_scan(worker *w) {
    struct deadlines_state *s = w->deadlines;
    char keys[4][RDS_KEY_MAX];
    /* The deadlines key is shared by every session; any id gives its name. */
    rds_session_keys("00000000-0000-0000-0000-000000000000", keys);
    long long now = loop_wall_ms();
    snprintf(s->now_s, sizeof s->now_s, "%lld", now);
    s->batch_full = 0;
    if (rds_command(w->r, on_scan, w, "ZRANGEBYSCORE %s -inf %lld LIMIT 0 %d", keys[3], now,
                    SCAN_BATCH) != AGG_OK) {
        if (!s->failing && s->ever_ok) log_warn("deadline scan: redis unavailable");
        s->failing = 1;
        return;
    }
    s->scanning = 1;
}

void deadlines_prepare(worker *w) {
    struct deadlines_state *s = w->deadlines;
    if (s == NULL || w->stopping || w->closing || s->scanning) return;
    long long now = loop_now_ms();
    if (now >= s->next_tick) {
        s->next_tick = now + w->cfg.poll_ms;
        start_scan(w);
    }
    if (!s->scanning) loop_limit_wait(w->l, s->next_tick - now);
}
