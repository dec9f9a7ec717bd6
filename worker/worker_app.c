/* worker_app: one worker on a loop: Kafka intake, offsets and partitions, the Redis and HTTP clients, drain.
 */
#include "worker_app.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "answers.h"
#include "auditrelay.h"
#include "breakers.h"
#include "deadlines.h"
#include "fanout.h"
#include "log.h"
#include "logsafe.h"
#include "mgmt.h"
#include "rdsretry.h"

/* Revoke count of one partition (see wmsg.epoch). */
struct part_epoch {
    int topic;
    int32_t partition;
    unsigned epoch;
};

static struct part_epoch *find_epoch(worker *w, int topic, int32_t partition) {
    for (int i = 0; i < w->n_epochs; i++)
        if (w->epochs[i].topic == topic && w->epochs[i].partition == partition)
            return &w->epochs[i];
    return NULL;
}

static unsigned epoch_of(worker *w, int topic, int32_t partition) {
    struct part_epoch *p = find_epoch(w, topic, partition);
    return p ? p->epoch : 0;
}

static void bump_epoch(worker *w, int topic, int32_t partition) {
    struct part_epoch *p = find_epoch(w, topic, partition);
    if (p == NULL) {
        struct part_epoch *n = agg_realloc(w->epochs, (size_t)(w->n_epochs + 1) * sizeof *n);
        if (n == NULL) {
            log_error("partition revoke: out of memory");
            return;
        }
        w->epochs = n;
        p = &n[w->n_epochs++];
        p->topic = topic;
        p->partition = partition;
        p->epoch = 0;
    }
    p->epoch++;
}

void worker_msg_done(worker *w, const wmsg *m) {
    w->jobs--;
    if (m->epoch == epoch_of(w, m->topic, m->partition) &&
        offtrack_done(w->ot, m->topic, m->partition, m->offset, NULL) == AGG_OK) {
        int64_t next;
        kafka_consumer *kc = w->in[m->topic].kc;
        if (offtrack_committable(w->ot, m->topic, m->partition, &next) && kc != NULL) {
            err_t e = {0};
            if (kafka_consumer_store(kc, 0, m->partition, next, &e) != AGG_OK)
                log_warn("storing offset %" PRId64 " of partition %" PRId32 ": %s", next,
                         m->partition, e.text);
        }
    }
    if (w->stopping && w->jobs == 0) loop_stop(w->l);
}

/* Past capacity the backlog waits in Kafka (durable, bounded memory here) rather than in this
 * process: the bound is the worker's, so both intakes hold; on_prepare lets them in again. */
static void intake_hold(worker *w) {
    int held = 0;
    for (int i = 0; i < WORKER_TOPICS; i++) {
        kafka_consumer *kc = w->in[i].kc;
        if (kc != NULL && !kafka_consumer_held(kc)) {
            kafka_consumer_hold(kc, 1);
            held = 1;
        }
    }
    if (held) {
        metrics_inc(w->met.intake_holds, 1);
        log_debug("intake held at %ld messages in flight", w->jobs);
    }
}

/* Lets the held intakes in again once half the bound is free. The first one let in takes
 * messages until the bound holds both again, so the first place goes to each in turn: under a
 * backlog of fan-out messages the answers still get every other turn, and the other way round. */
static void intake_release(worker *w) {
    int released = 0;
    for (int k = 0; k < WORKER_TOPICS; k++) {
        kafka_consumer *kc = w->in[(w->release_first + k) % WORKER_TOPICS].kc;
        if (kc != NULL && kafka_consumer_held(kc) && w->jobs <= w->cfg.max_in_flight / 2) {
            kafka_consumer_hold(kc, 0);
            released = 1;
        }
    }
    if (released) w->release_first = (w->release_first + 1) % WORKER_TOPICS;
}

static void on_message(const kafka_message *km, void *arg) {
    worker_intake *in = arg;
    worker *w = in->w;
    /* While stopping, a message is not begun and its offset never stored:
     * the group re-delivers it to another worker. */
    if (w->stopping || w->closing) return;
    int t = in->topic;
    err_t e;
    if (offtrack_begin(w->ot, t, km->partition, km->offset, &e) != AGG_OK) {
        log_warn("message at offset %" PRId64 " of partition %" PRId32 " ignored: %s", km->offset,
                 km->partition, e.text);
        return;
    }
    metrics_inc(w->met.messages[t], 1);
    if (km->timestamp_ms >= 0) {
        long long delay = loop_wall_ms() - km->timestamp_ms;
        metrics_observe(w->met.consume_delay[t], delay > 0 ? (double)delay / 1000.0 : 0);
    }
    w->jobs++;
    if (w->jobs >= w->cfg.max_in_flight) intake_hold(w);
    wmsg m = {t, km->partition, km->offset, epoch_of(w, t, km->partition), {{0}, {0}, 0}};
    /* The producer's span is the parent of the worker's; a message without a valid header
     * (an older producer) starts a new trace. */
    char h[TRACEPARENT_LEN + 2];
    int parsed = kafka_message_header(km, "traceparent", h, sizeof h) == AGG_OK &&
                 traceparent_parse(h, &m.tp, NULL) == AGG_OK;
    if ((parsed ? traceparent_child(&m.tp, &m.tp, NULL) : traceparent_generate(&m.tp, NULL)) !=
        AGG_OK)
        memset(&m.tp, 0, sizeof m.tp);
    if (t == WORKER_TOPIC_REQUESTS)
        fanout_handle(w, &m, km->value, km->value_len);
    else {
        /* Too long to be one is as good as none: answers_handle refuses it. */
        char cap[CAP_MAX_LEN + 1];
        int have_cap = kafka_message_header(km, "capability", cap, sizeof cap) == AGG_OK;
        answers_handle(w, &m, km->value, km->value_len, have_cap ? cap : NULL);
    }
}

static void on_revoke(int topic_index, int32_t partition, void *arg) {
    (void)topic_index; /* 0: each intake's consumer has its one topic */
    worker_intake *in = arg;
    log_debug("partition %" PRId32 " of topic %d revoked", partition, in->topic);
    offtrack_forget(in->w->ot, in->topic, partition);
    bump_epoch(in->w, in->topic, partition);
}

static void on_prepare(loop *l, void *arg) {
    worker *w = arg;
    intake_release(w);
    rdsretry_prepare(w);
    deadlines_prepare(w);
    breakers_prepare(w);
    auditrelay_prepare(w);
    if (w->stopping && w->drain_deadline > 0) {
        long long now = loop_now_ms();
        if (now >= w->drain_deadline) {
            log_warn("drain: %ld messages still in flight; leaving them uncommitted", w->jobs);
            w->drain_deadline = 0;
            loop_stop(l);
        } else {
            loop_limit_wait(l, w->drain_deadline - now);
        }
    }
}

int worker_kafka_healthy(const worker *w) {
    for (int i = 0; i < WORKER_TOPICS; i++)
        if (w->in[i].kc == NULL || !kafka_consumer_healthy(w->in[i].kc)) return 0;
    return 1;
}

void worker_sample_lag(worker *w) {
    for (int i = 0; i < WORKER_TOPICS; i++) {
        if (w->in[i].kc == NULL) continue;
        metrics_set(w->met.lag[i], (double)kafka_consumer_lag(w->in[i].kc, 0));
        metrics_set(w->met.partitions[i], (double)kafka_consumer_partitions(w->in[i].kc, 0));
    }
}

int worker_assigned(const worker *w, int topic) {
    const kafka_consumer *kc = w->in[topic].kc;
    return kc != NULL ? kafka_consumer_assigned(kc) : 0;
}

int worker_intake_held(const worker *w) {
    for (int i = 0; i < WORKER_TOPICS; i++)
        if (w->in[i].kc != NULL && kafka_consumer_held(w->in[i].kc)) return 1;
    return 0;
}

/* The intake of topic: its group (KAFKA_GROUP_ID and suffix) and consumer. */
static int intake_start(worker *w, int topic, const char *name, const char *suffix, err_t *e) {
    worker_intake *in = &w->in[topic];
    in->w = w;
    in->topic = topic;
    size_t n = strlen(w->cfg.group) + strlen(suffix) + 1;
    if (!(in->group = agg_malloc(n))) return err_nomem(e);
    snprintf(in->group, n, "%s%s", w->cfg.group, suffix);
    char client_id[32];
    snprintf(client_id, sizeof client_id, "worker-%s", suffix + 1);
    kafka_config kc = {.brokers = w->cfg.brokers,
                       .client_id = client_id,
                       .linger_ms = 5,
                       .message_timeout_ms = 30000,
                       .security = w->cfg.kafka_security};
    kafka_group g = {in->group, w->cfg.session_timeout_ms, w->cfg.heartbeat_interval_ms,
                     w->cfg.max_poll_interval_ms};
    const char *topics[1] = {name};
    err_t ke;
    in->kc = kafka_consumer_new(w->l, &kc, &g, topics, 1, on_message, on_revoke, in, &ke);
    if (!in->kc) return err_set(e, "KAFKA_BROKERS: %s", ke.text);
    return AGG_OK;
}

static void log_config(const worker *w) {
    const worker_cfg *c = &w->cfg;
    char redis[256];
    if (c->redis.url)
        logsafe_url(c->redis.url, redis, sizeof redis);
    else
        snprintf(redis, sizeof redis, "sentinels(%.160s)/%.60s", c->redis.sentinel_list,
                 c->redis.master_name);
    log_info(
        "worker %s starting: brokers=%s redis=%s groups=%s%s,%s%s topics=%s,%s,%s allowlist=%s(%d) "
        "connect_timeout_ms=%ld read_timeout_ms=%ld retention_s=%ld deadline_poll_ms=%ld "
        "audit_poll_ms=%ld audit_claim_idle_ms=%ld session_timeout_ms=%ld heartbeat_ms=%ld "
        "shutdown_timeout_s=%ld management=%s:%d "
        "breaker=%s(failures=%ld cooldown_ms=%ld refresh_ms=%ld)",
        AGG_VERSION, c->brokers, redis, c->group, WORKER_GROUP_REQUESTS, c->group,
        WORKER_GROUP_CALLBACKS, c->topic_requests, c->topic_callbacks, c->topic_audit,
        c->allow_enforced ? "on" : "off", c->allow.n, c->connect_timeout_ms, c->read_timeout_ms,
        c->retention_s, c->poll_ms, c->audit_poll_ms, c->audit_claim_idle_ms, c->session_timeout_ms,
        c->heartbeat_interval_ms, c->shutdown_timeout_s, c->bind_addr, httpd_port(w->mgmt),
        c->breaker_enabled ? "on" : "off", c->breaker_failures, c->breaker_cooldown_ms,
        c->breaker_refresh_ms);
}

int worker_start(worker *w, loop *l, err_t *e) {
    w->l = l;
    /* First: the modules resolve their series as they start. */
    const char *topics[WORKER_TOPICS] = {w->cfg.topic_requests, w->cfg.topic_callbacks};
    if (wmetrics_init(&w->met, &w->cfg.allow, topics, e) != AGG_OK) return AGG_ERR;
    if (!(w->ot = offtrack_new(e))) return AGG_ERR;
    if (rdsretry_init(w, e) || fanout_init(w, e) || answers_init(w, e) || deadlines_init(w, e) ||
        breakers_init(w, e) || auditrelay_init(w, e))
        return AGG_ERR;
    if (loop_add_prepare(w->l, on_prepare, w, e) != AGG_OK) return AGG_ERR;
    w->prepare_added = 1;
    err_t re;
    if (!(w->r = rds_new(w->l, &w->cfg.redis, &re))) return err_set(e, "REDIS_URL: %s", re.text);
    rds_set_observer(w->r, rdsmeter_observe, &w->met.redis);
    if (!(w->hc = httpc_new(w->l, e)) || httpc_set_tls(w->hc, &w->cfg.resource_tls, e) != AGG_OK)
        return AGG_ERR;
    if (mgmt_start(w, e) != AGG_OK) return AGG_ERR;
    if (intake_start(w, WORKER_TOPIC_REQUESTS, w->cfg.topic_requests, WORKER_GROUP_REQUESTS, e) ||
        intake_start(w, WORKER_TOPIC_CALLBACKS, w->cfg.topic_callbacks, WORKER_GROUP_CALLBACKS, e))
        return AGG_ERR;
    log_config(w);
    return AGG_OK;
}

int worker_drain(worker *w, long long timeout_ms) {
    w->stopping = 1; /* readiness DOWN from the next probe on; no message is begun any more */
    log_info("stopping: readiness DOWN, %ld messages in flight (drain up to %lld ms)", w->jobs,
             timeout_ms);
    if (w->jobs == 0) return AGG_OK;
    w->drain_deadline = loop_now_ms() + timeout_ms;
    return loop_run(w->l);
}

void worker_stop(worker *w) {
    mgmt_stop(w);
    for (int i = 0; i < WORKER_TOPICS; i++) {
        /* Commits the stored offsets and leaves the group. */
        if (w->in[i].kc != NULL) kafka_consumer_free(w->in[i].kc);
        w->in[i].kc = NULL;
        agg_free(w->in[i].group);
        w->in[i].group = NULL;
    }
    w->closing = 1;
    if (w->hc != NULL) httpc_free(w->hc);
    w->hc = NULL;
    fanout_shutdown(w);
    answers_shutdown(w);
    if (w->r != NULL) rds_free(w->r); /* replies NULL to pending calls: they free themselves */
    w->r = NULL;
    auditrelay_shutdown(w, 2000);
    deadlines_shutdown(w);
    breakers_shutdown(w);
    rdsretry_shutdown(w);
    offtrack_free(w->ot);
    agg_free(w->epochs);
    w->epochs = NULL;
    w->n_epochs = 0;
    if (w->prepare_added) loop_remove_prepare(w->l, on_prepare, w);
    w->prepare_added = 0;
    wmetrics_free(&w->met);
    cap_keys_free(&w->cfg.cap_keys);
}
