/* deadlines: the scanner that expires every session whose deadline passed, whoever opened it. */
#include "deadlines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "session.h"

#define SCAN_BATCH 256

/* One bucket read of a scan; a scan's reads live in the state (one scan at a time). */
typedef struct bucket_read {
    worker *w;
    int bucket;
} bucket_read;

struct deadlines_state {
    long long next_tick; /* loop_now_ms() of the next scan */
    int scanning;        /* a bucket read or some expire call is outstanding */
    int outstanding;     /* bucket reads and expire calls outstanding */
    int batch_full;      /* a bucket of the running scan returned SCAN_BATCH members */
    int failing;         /* the last scan failed (log once per outage) */
    int failed_now;      /* a bucket read of the running scan failed */
    int ever_ok;         /* a scan has worked once (no warning while first connecting) */
    long long now_ms;    /* the scan's wall-clock time, an expire argument */
    bucket_read reads[SESSION_BUCKETS];
};


typedef struct expire_call {
    worker *w;
    char cid[UUID4_LEN + 1];
} expire_call;

int deadlines_init(worker *w, err_t *e) {
    w->deadlines = agg_calloc(1, sizeof *w->deadlines);
    if (w->deadlines == NULL) return err_nomem(e);
    return AGG_OK;
}

void deadlines_shutdown(worker *w) {
    agg_free(w->deadlines);
    w->deadlines = NULL;
}

int deadlines_busy(const worker *w) { return w->deadlines != NULL && w->deadlines->scanning; }

/* One outstanding call of the scan is over; the last one ends the scan. */
static void scan_step(worker *w) {
    struct deadlines_state *s = w->deadlines;
    if (--s->outstanding > 0) return;
    s->scanning = 0;
    if (s->failed_now) {
        s->failing = 1;
        return;
    }
    if (s->failing && s->ever_ok) log_info("deadline scan works again");
    s->failing = 0;
    s->ever_ok = 1;
    if (s->batch_full) s->next_tick = 0; /* more are due: scan again before the next wait */
}

static void on_expire(struct redisReply *reply, void *arg) {
    expire_call *x = arg;
    worker *w = x->w;
    log_ctx_set(x->cid, NULL, NULL);
    if (!w->closing && reply != NULL) {
        session_expire_result r = session_expire_reply(reply);
        switch (r) {
        case SESSION_EXPIRED:
            metrics_inc(w->met.timeouts, 1);
            metrics_inc(w->met.summaries, 1);
            wmetrics_completed(&w->met, 1, session_summary_elapsed_ms(reply));
            for (size_t i = 0, n = session_expire_sources(reply); i < n; i++) {
                const char *src = session_expire_source(reply, i);
                if (src)
                    wmetrics_outcome(&w->met, wmetrics_source(&w->met, src, -1), OUTCOME_TIMEOUT);
            }
            log_info("session %s expired: deadline passed (completedBy TIMEOUT)", x->cid);
            break;
        case SESSION_NOT_DUE:
        case SESSION_GONE:
            log_debug("session %s: expire: %s", x->cid, session_expire_name(r));
            break;
        case SESSION_EXPIRE_UNEXPECTED:
            log_error("session %s: unexpected session_expire reply (%.160s)", x->cid,
                      session_reply_error(reply));
            break;
        }
    }
    agg_free(x);
    if (!w->closing) scan_step(w);
}

static void expire_one(worker *w, const char *cid) {
    struct deadlines_state *s = w->deadlines;
    expire_call *x = agg_calloc(1, sizeof *x);
    if (x == NULL) {
        log_error("deadline scan: out of memory; session %s is expired by a later scan", cid);
        return;
    }
    x->w = w;
    memcpy(x->cid, cid, sizeof x->cid);
    session_call sc;
    err_t e;
    if (session_call_expire(&sc, cid, s->now_ms, w->cfg.retention_s, &e) != AGG_OK ||
        rds_call_send(w->r, &sc.call, on_expire, x, &e) != AGG_OK) {
        /* Redis went away or memory ran out: the session stays due and the next scan tries it. */
        log_debug("session %s: expire not sent: %s", cid, e.text);
        agg_free(x);
        return;
    }
    s->outstanding++;
}

static void on_bucket(struct redisReply *reply, void *arg) {
    const bucket_read *b = arg;
    worker *w = b->w;
    int bucket = b->bucket;
    if (w->closing) return;
    struct deadlines_state *s = w->deadlines;
    size_t n;
    err_t e;
    if (session_list_reply(reply, &n, &e) != AGG_OK) {
        if (!s->failing && !s->failed_now) log_warn("deadline scan failed: %s", e.text);
        s->failed_now = 1;
        scan_step(w);
        return;
    }
    if (n >= SCAN_BATCH) s->batch_full = 1;
    char cid[UUID4_LEN + 1];
    for (size_t i = 0; i < n; i++) {
        if (session_due_entry(reply, i, bucket, cid) == AGG_OK)
            expire_one(w, cid);
        else
            log_warn("deadline index of bucket %d holds a member that is not one of its sessions; "
                     "ignored",
                     bucket);
    }
    scan_step(w);
}

/* Reads every bucket's due sessions; the reads go out together (one round trip). */
static void start_scan(worker *w) {
    struct deadlines_state *s = w->deadlines;
    s->now_ms = loop_wall_ms();
    s->batch_full = 0;
    s->failed_now = 0;
    s->outstanding = 1; /* held while the reads are sent */
    s->scanning = 1;
    for (int i = 0; i < SESSION_BUCKETS; i++) {
        session_call sc;
        err_t e;
        bucket_read *b = &s->reads[i];
        b->w = w;
        b->bucket = i;
        if (session_call_due(&sc, i, s->now_ms, SCAN_BATCH, &e) != AGG_OK ||
            rds_call_send(w->r, &sc.call, on_bucket, b, &e) != AGG_OK) {
            if (!s->failing && s->ever_ok && !s->failed_now)
                log_warn("deadline scan: bucket %d not read: %s", i, e.text);
            s->failed_now = 1;
            continue;
        }
        s->outstanding++;
    }
    scan_step(w);
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
