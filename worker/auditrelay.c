/* auditrelay: relays the audit outbox from Redis to the audit topic, at least once. */
#include "auditrelay.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "audit.h"
#include "log.h"
#include "session.h"
#include "uuid4.h"

#define READ_COUNT      100  /* entries per bucket and read */
#define MAX_IN_FLIGHT   2000 /* records produced and not yet confirmed: no new read above */
#define CLAIM_PERIOD_MS 1000 /* claims of dead relays' entries and the pending gauge */

/* The argument of one bucket's replies of a round (a round at a time). */
typedef struct bucket_ref {
    worker *w;
    int bucket;
} bucket_ref;

struct auditrelay_state {
    kafka_producer *p;
    char consumer[UUID4_LEN + 8];    /* this relay's name in the groups: "worker-<uuid>" */
    long long next_poll, next_claim; /* loop_now_ms() */
    int outstanding;                 /* replies of the running round still to come */
    int groups_ok[SESSION_BUCKETS];  /* the bucket's group exists */
    char cursor[SESSION_BUCKETS][AUDIT_ID_MAX]; /* XAUTOCLAIM's next start, per bucket */
    long long pending; /* XLEN summed over the buckets answered in this round */
    int claim_round;   /* the running round claims and reads the lengths */
    int round_failed;  /* a call of the running round failed */
    long in_flight;    /* records produced, delivery not yet reported */
    int failing;       /* a round failed: log once per outage */
    bucket_ref refs[SESSION_BUCKETS];
    /* Entries Kafka confirmed, acknowledged together: at the next loop pass or when full. */
    int acks[SESSION_BUCKETS];
    char ack_ids[SESSION_BUCKETS][AUDIT_ACK_MAX][AUDIT_ID_MAX];
};

/* One record in flight to Kafka. */
typedef struct audit_msg {
    worker *w;
    int bucket;
    char id[AUDIT_ID_MAX];
} audit_msg;

int auditrelay_init(worker *w, err_t *e) {
    struct auditrelay_state *s = agg_calloc(1, sizeof *s);
    if (s == NULL) return err_nomem(e);
    char id[UUID4_LEN + 1];
    if (uuid4_new(id, e) != AGG_OK) {
        agg_free(s);
        return AGG_ERR;
    }
    snprintf(s->consumer, sizeof s->consumer, "worker-%s", id);
    for (int b = 0; b < SESSION_BUCKETS; b++) {
        memcpy(s->cursor[b], "0-0", 4);
        s->refs[b].w = w;
        s->refs[b].bucket = b;
    }
    /* A record Kafka has not confirmed within half the claim time fails and waits in the
     * outbox, so a live relay's record is not claimed by another while it is in flight. */
    long timeout = w->cfg.audit_claim_idle_ms / 2;
    kafka_config kc = {.brokers = w->cfg.brokers,
                       .client_id = "worker-audit",
                       .linger_ms = 5,
                       .message_timeout_ms = timeout < 30000 ? timeout : 30000,
                       .security = w->cfg.kafka_security};
    err_t ke;
    if (!(s->p = kafka_producer_new(w->l, &kc, &ke))) {
        agg_free(s);
        return err_set(e, "KAFKA_BROKERS: %s", ke.text);
    }
    w->auditrelay = s;
    return AGG_OK;
}

void auditrelay_shutdown(worker *w, int flush_ms) {
    struct auditrelay_state *s = w->auditrelay;
    if (s == NULL) return;
    if (s->p != NULL) kafka_producer_free(s->p, flush_ms);
    agg_free(s);
    w->auditrelay = NULL;
}

static void on_ack(struct redisReply *reply, void *arg) {
    const bucket_ref *b = arg;
    if (reply == NULL && !b->w->closing)
        log_warn("audit records of bucket %d published, not acknowledged (Redis): they are "
                 "published again",
                 b->bucket);
}

/* Acknowledges and deletes the bucket's confirmed entries in one call. */
static void flush_acks(worker *w, int bucket) {
    struct auditrelay_state *s = w->auditrelay;
    int n = s->acks[bucket];
    if (n == 0) return;
    s->acks[bucket] = 0;
    const char *ids[AUDIT_ACK_MAX];
    for (int i = 0; i < n; i++) ids[i] = s->ack_ids[bucket][i];
    audit_call ac;
    err_t e;
    if (w->closing || w->r == NULL || audit_call_ack(&ac, bucket, ids, n, &e) != AGG_OK ||
        rds_call_send(w->r, &ac.call, on_ack, &s->refs[bucket], &e) != AGG_OK) {
        if (!w->closing)
            log_warn("%d audit records of bucket %d published, not acknowledged: they are "
                     "published again",
                     n, bucket);
    }
}

/* Queues m's entry for acknowledgement and deletion; m is freed. */
static void ack(audit_msg *m) {
    struct auditrelay_state *s = m->w->auditrelay;
    if (s != NULL && !m->w->closing) {
        int b = m->bucket;
        snprintf(s->ack_ids[b][s->acks[b]++], AUDIT_ID_MAX, "%s", m->id);
        if (s->acks[b] == AUDIT_ACK_MAX) flush_acks(m->w, b);
    }
    agg_free(m);
}

static void on_delivery(int ok, const char *errstr, double seconds, void *arg) {
    (void)seconds;
    audit_msg *m = arg;
    worker *w = m->w;
    if (w->auditrelay != NULL) w->auditrelay->in_flight--;
    if (!ok) {
        /* Left pending: claimed again after AUDIT_CLAIM_IDLE_MS, by this relay or another. */
        if (!w->closing) {
            metrics_inc(w->met.audit_failures, 1);
            log_warn("audit record %s not published: %s", m->id, errstr ? errstr : "failed");
        }
        agg_free(m);
        return;
    }
    metrics_inc(w->met.audit_published, 1);
    ack(m);
}

/* The Kafka header of the record: a span of the session's trace, when it has one. */
static size_t trace_header(const char *trace, char out[TRACEPARENT_LEN + 1]) {
    traceparent tp;
    if (strlen(trace) != TRACEPARENT_TRACE_LEN || traceparent_generate(&tp, NULL) != AGG_OK)
        return 0;
    char s[TRACEPARENT_LEN + 1];
    snprintf(s, sizeof s, "00-%s-%s-01", trace, tp.span_id);
    if (traceparent_parse(s, &tp, NULL) != AGG_OK) return 0;
    memcpy(out, s, sizeof s);
    return 1;
}

static void publish(worker *w, int bucket, const audit_entry *en) {
    struct auditrelay_state *s = w->auditrelay;
    audit_msg *m = agg_calloc(1, sizeof *m);
    if (m == NULL) {
        log_error("audit record %s: out of memory; published later", en->id);
        return;
    }
    m->w = w;
    m->bucket = bucket;
    snprintf(m->id, sizeof m->id, "%s", en->id);
    if (!en->valid) {
        /* It can never be published; left, it would come back at every claim. */
        metrics_inc(w->met.audit_failures, 1);
        log_error("audit outbox entry %s of bucket %d is not a record: removed", en->id, bucket);
        ack(m);
        return;
    }
    char tp[TRACEPARENT_LEN + 1];
    kafka_header h = {"traceparent", tp};
    size_t nh = trace_header(en->trace, tp);
    err_t e;
    if (kafka_produce_headers(s->p, w->cfg.topic_audit, en->cid, strlen(en->cid), en->data,
                              en->data_len, &h, nh, on_delivery, m, &e) != AGG_OK) {
        metrics_inc(w->met.audit_failures, 1);
        log_warn("audit record %s not queued: %s; published later", en->id, e.text);
        agg_free(m);
        return;
    }
    s->in_flight++;
}

static void publish_all(worker *w, int bucket, const struct redisReply *entries, size_t n) {
    for (size_t i = 0; i < n; i++) {
        audit_entry en;
        if (audit_entry_at(entries, i, &en) == AGG_OK) publish(w, bucket, &en);
    }
}

/* One reply of the round is in; the last one ends it. ok 0: it failed (logged once). */
static void round_step(worker *w, int ok, const char *why) {
    struct auditrelay_state *s = w->auditrelay;
    if (!ok) {
        if (!s->failing) log_warn("audit outbox: %s", why);
        s->failing = 1;
        s->round_failed = 1;
    }
    if (--s->outstanding > 0 || s->round_failed) return;
    if (s->claim_round) metrics_set(w->met.audit_pending, (double)s->pending);
    if (s->failing) log_info("audit outbox read again");
    s->failing = 0;
}

static void on_group(struct redisReply *reply, void *arg) {
    const bucket_ref *b = arg;
    if (b->w->closing) return;
    err_t e;
    int ok = audit_group_reply(reply, &e) == AGG_OK;
    if (ok) b->w->auditrelay->groups_ok[b->bucket] = 1;
    round_step(b->w, ok, e.text);
}

static void on_read(struct redisReply *reply, void *arg) {
    const bucket_ref *b = arg;
    if (b->w->closing) return;
    const struct redisReply *entries;
    size_t n;
    err_t e;
    int ok = audit_read_reply(reply, &entries, &n, &e) == AGG_OK;
    if (ok) publish_all(b->w, b->bucket, entries, n);
    round_step(b->w, ok, e.text);
}

static void on_claim(struct redisReply *reply, void *arg) {
    const bucket_ref *b = arg;
    if (b->w->closing) return;
    struct auditrelay_state *s = b->w->auditrelay;
    const struct redisReply *entries;
    size_t n;
    err_t e;
    int ok = audit_claim_reply(reply, &entries, &n, s->cursor[b->bucket], &e) == AGG_OK;
    if (ok && n > 0) {
        log_info("audit outbox: %zu records of bucket %d claimed from a relay that did not "
                 "publish them",
                 n, b->bucket);
        publish_all(b->w, b->bucket, entries, n);
    }
    round_step(b->w, ok, e.text);
}

static void on_len(struct redisReply *reply, void *arg) {
    const bucket_ref *b = arg;
    if (b->w->closing) return;
    int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    if (ok) b->w->auditrelay->pending += reply->integer;
    round_step(b->w, ok, "XLEN failed");
}

/* Sends one call of the round; a call not sent makes the round fail (tried at the next). */
static void send_step(worker *w, const audit_call *ac, int built, const err_t *be, rds_reply_cb *cb,
                      bucket_ref *b) {
    struct auditrelay_state *s = w->auditrelay;
    err_t e;
    if (!built) {
        e = *be;
    } else if (rds_call_send(w->r, &ac->call, cb, b, &e) == AGG_OK) {
        s->outstanding++;
        return;
    }
    if (!s->failing) log_warn("audit outbox: %s", e.text);
    s->failing = 1;
    s->round_failed = 1;
}

/* Every bucket's calls go out together: one round trip per round. */
static void start_round(worker *w, int claim) {
    struct auditrelay_state *s = w->auditrelay;
    s->outstanding = 1; /* held while sending */
    s->pending = 0;
    s->claim_round = claim;
    s->round_failed = 0;
    for (int i = 0; i < SESSION_BUCKETS; i++) {
        bucket_ref *b = &s->refs[i];
        audit_call ac;
        err_t e = {0};
        if (!s->groups_ok[i])
            send_step(w, &ac, audit_call_group(&ac, i, &e) == AGG_OK, &e, on_group, b);
        send_step(w, &ac, audit_call_read(&ac, i, s->consumer, READ_COUNT, &e) == AGG_OK, &e,
                  on_read, b);
        if (!claim) continue;
        send_step(w, &ac,
                  audit_call_claim(&ac, i, s->consumer, w->cfg.audit_claim_idle_ms, s->cursor[i],
                                   READ_COUNT, &e) == AGG_OK,
                  &e, on_claim, b);
        send_step(w, &ac, audit_call_len(&ac, i, &e) == AGG_OK, &e, on_len, b);
    }
    round_step(w, 1, NULL);
}

void auditrelay_prepare(worker *w) {
    struct auditrelay_state *s = w->auditrelay;
    if (s == NULL || w->r == NULL || w->closing) return;
    for (int b = 0; b < SESSION_BUCKETS; b++) flush_acks(w, b);
    if (w->stopping || s->outstanding > 0) return;
    long long now = loop_now_ms();
    if (now >= s->next_poll && rds_ready(w->r) && s->in_flight < MAX_IN_FLIGHT) {
        int claim = now >= s->next_claim;
        s->next_poll = now + w->cfg.audit_poll_ms;
        if (claim) s->next_claim = now + CLAIM_PERIOD_MS;
        start_round(w, claim);
    } else if (now >= s->next_poll) {
        s->next_poll = now + w->cfg.audit_poll_ms;
    }
    if (s->outstanding == 0) loop_limit_wait(w->l, s->next_poll - now);
}
