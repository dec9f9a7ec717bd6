/* main: the worker program: configuration, Kafka/Redis/HTTP wired on one loop, offsets, drain. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "cfg.h"
#include "deadlines.h"
#include "fanout.h"
#include "log.h"
#include "logsafe.h"
#include "mgmt.h"
#include "rdsretry.h"
#include "worker.h"

#define PROG     "worker"
#define DRAIN_MS 10000

static const char usage[] =
    "Usage: worker [--help | --version]\n"
    "\n"
    "Consumes fan-out and answer messages from Kafka, calls the resources,\n"
    "records every outcome in Redis and expires sessions whose deadline passed.\n"
    "\n"
    "Environment:\n"
    "  KAFKA_BROKERS                host:port,... (required)\n"
    "  REDIS_URL                    redis://[:password@]host:port[/db] (redis://127.0.0.1:6379)\n"
    "  KAFKA_GROUP_ID               consumer group (agg-workers)\n"
    "  KAFKA_TOPIC_REQUESTS         request topic (agg.requests)\n"
    "  KAFKA_TOPIC_CALLBACKS        answer topic (agg.callbacks)\n"
    "  RESOURCE_URLS                when set, the only resource URLs the worker calls\n"
    "                               (comma-separated, url or name=url)\n"
    "  RESOURCE_CONNECT_TIMEOUT_MS  connect timeout of resource calls (5000, 1..600000)\n"
    "  RESOURCE_READ_TIMEOUT_MS     total timeout of resource calls (30000, 1..600000)\n"
    "  SESSION_RETENTION_S          TTL of session keys (3600, 60..604800)\n"
    "  DEADLINE_POLL_MS             deadline scan period (25, 5..10000)\n"
    "  MANAGEMENT_PORT              health and metrics port (8091; 0 = any free port)\n"
    "  WORKER_MAX_IN_FLIGHT         messages handled at once; at this many the worker\n"
    "                               takes no more from Kafka until half are done\n"
    "                               (1000, 1..100000)\n"
    "  BIND_ADDR                    management listen address (0.0.0.0)\n"
    "  LOG_LEVEL                    debug|info|warn|error (info)\n";

/* Revoke count of one partition (see wmsg.epoch). */
struct part_epoch {
    int topic;
    int32_t partition;
    unsigned epoch;
};

static long long drain_deadline;

static void load_config(worker_cfg *c) {
    err_t e = {{0}};
    c->brokers = cfg_str("KAFKA_BROKERS", NULL);
    if (c->brokers == NULL) {
        err_set(&e, "KAFKA_BROKERS is required");
        cfg_fail(PROG, &e);
    }
    c->redis_url = cfg_str("REDIS_URL", "redis://127.0.0.1:6379");
    c->group = cfg_str("KAFKA_GROUP_ID", "agg-workers");
    c->topic_requests = cfg_str("KAFKA_TOPIC_REQUESTS", "agg.requests");
    c->topic_callbacks = cfg_str("KAFKA_TOPIC_CALLBACKS", "agg.callbacks");
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    if (strcmp(c->topic_requests, c->topic_callbacks) == 0) {
        err_set(&e, "KAFKA_TOPIC_REQUESTS and KAFKA_TOPIC_CALLBACKS must differ");
        cfg_fail(PROG, &e);
    }
    const char *allow = cfg_str("RESOURCE_URLS", NULL);
    c->allow_enforced = allow != NULL;
    if (allow != NULL && reslist_parse(allow, &c->allow, &e) != AGG_OK) cfg_fail(PROG, &e);
    if (cfg_long("RESOURCE_CONNECT_TIMEOUT_MS", 5000, 1, 600000, &c->connect_timeout_ms, &e) ||
        cfg_long("RESOURCE_READ_TIMEOUT_MS", 30000, 1, 600000, &c->read_timeout_ms, &e) ||
        cfg_long("SESSION_RETENTION_S", 3600, 60, 604800, &c->retention_s, &e) ||
        cfg_long("DEADLINE_POLL_MS", 25, 5, 10000, &c->poll_ms, &e) ||
        cfg_long("MANAGEMENT_PORT", 8091, 0, 65535, &c->mgmt_port, &e) ||
        cfg_long("WORKER_MAX_IN_FLIGHT", 1000, 1, 100000, &c->max_in_flight, &e))
        cfg_fail(PROG, &e);
}

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
        struct part_epoch *n = realloc(w->epochs, (size_t)(w->n_epochs + 1) * sizeof *n);
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
        if (offtrack_committable(w->ot, m->topic, m->partition, &next) && w->kc != NULL) {
            err_t e = {{0}};
            if (kafka_consumer_store(w->kc, m->topic, m->partition, next, &e) != AGG_OK)
                log_warn("storing offset %" PRId64 " of partition %" PRId32 ": %s", next,
                         m->partition, e.text);
        }
    }
    if (w->stopping && w->jobs == 0) loop_stop(w->l);
}

static void on_message(const kafka_message *km, void *arg) {
    worker *w = arg;
    /* While stopping, a message is not begun and its offset never stored:
     * the group re-delivers it to another worker. */
    if (w->stopping || w->closing) return;
    int t = km->topic_index;
    if (t != WORKER_TOPIC_REQUESTS && t != WORKER_TOPIC_CALLBACKS) return;
    err_t e;
    if (offtrack_begin(w->ot, t, km->partition, km->offset, &e) != AGG_OK) {
        log_warn("message at offset %" PRId64 " of partition %" PRId32 " ignored: %s", km->offset,
                 km->partition, e.text);
        return;
    }
    w->met.messages[t]++;
    w->jobs++;
    /* Past capacity the backlog waits in Kafka (durable, bounded memory here)
     * rather than in this process; on_prepare lets it in again. */
    if (w->jobs >= w->cfg.max_in_flight && !kafka_consumer_held(w->kc)) {
        kafka_consumer_hold(w->kc, 1);
        w->met.intake_holds++;
        log_debug("intake held at %ld messages in flight", w->jobs);
    }
    wmsg m = {t, km->partition, km->offset, epoch_of(w, t, km->partition)};
    if (t == WORKER_TOPIC_REQUESTS)
        fanout_handle(w, &m, km->value, km->value_len);
    else
        answers_handle(w, &m, km->value, km->value_len);
}

static void on_revoke(int topic_index, int32_t partition, void *arg) {
    worker *w = arg;
    log_debug("partition %" PRId32 " of topic %d revoked", partition, topic_index);
    offtrack_forget(w->ot, topic_index, partition);
    bump_epoch(w, topic_index, partition);
}

static void on_prepare(loop *l, void *arg) {
    worker *w = arg;
    if (w->kc != NULL && kafka_consumer_held(w->kc) && w->jobs <= w->cfg.max_in_flight / 2)
        kafka_consumer_hold(w->kc, 0);
    rdsretry_prepare(w);
    deadlines_prepare(w);
    if (w->stopping && drain_deadline > 0) {
        long long now = loop_now_ms();
        if (now >= drain_deadline) {
            log_warn("drain: %ld messages still in flight after %d ms; leaving them uncommitted",
                     w->jobs, DRAIN_MS);
            drain_deadline = 0;
            loop_stop(l);
        } else {
            loop_limit_wait(l, drain_deadline - now);
        }
    }
}

static void log_config(const worker *w) {
    const worker_cfg *c = &w->cfg;
    char redis[256];
    logsafe_url(c->redis_url, redis, sizeof redis);
    log_info("worker %s starting: brokers=%s redis=%s group=%s topics=%s,%s allowlist=%s(%d) "
             "connect_timeout_ms=%ld read_timeout_ms=%ld retention_s=%ld deadline_poll_ms=%ld "
             "management=%s:%d",
             AGG_VERSION, c->brokers, redis, c->group, c->topic_requests, c->topic_callbacks,
             c->allow_enforced ? "on" : "off", c->allow.n, c->connect_timeout_ms,
             c->read_timeout_ms, c->retention_s, c->poll_ms, c->bind_addr, httpd_port(w->mgmt));
}

static void die(const char *what, const err_t *e) {
    log_error("%s: %s", what, e->text);
    exit(1);
}

static void teardown(worker *w) {
    mgmt_stop(w);
    if (w->kc != NULL) kafka_consumer_free(w->kc); /* commits the stored offsets */
    w->kc = NULL;
    w->closing = 1;
    if (w->hc != NULL) httpc_free(w->hc);
    w->hc = NULL;
    fanout_shutdown(w);
    answers_shutdown(w);
    if (w->r != NULL) rds_free(w->r); /* replies NULL to pending calls: they free themselves */
    w->r = NULL;
    deadlines_shutdown(w);
    rdsretry_shutdown(w);
    offtrack_free(w->ot);
    free(w->epochs);
    loop_free(w->l);
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, usage);
    static worker wk;
    worker *w = &wk;
    err_t e = {{0}};
    if (log_init("worker", &e) != AGG_OK) cfg_fail(PROG, &e);
    load_config(&w->cfg);
    snprintf(w->ttl_s, sizeof w->ttl_s, "%ld", w->cfg.retention_s);

    w->l = loop_new(&e);
    if (w->l == NULL) die("event loop", &e);
    w->ot = offtrack_new(&e);
    if (w->ot == NULL || rdsretry_init(w, &e) || fanout_init(w, &e) || answers_init(w, &e) ||
        deadlines_init(w, &e))
        die("startup", &e);
    if (loop_stop_on_signals(w->l, &e) != AGG_OK) die("signals", &e);
    if (loop_add_prepare(w->l, on_prepare, w, &e) != AGG_OK) die("startup", &e);
    w->r = rds_new(w->l, w->cfg.redis_url, &e);
    if (w->r == NULL) {
        err_t e2;
        err_set(&e2, "REDIS_URL: %s", e.text);
        cfg_fail(PROG, &e2);
    }
    w->hc = httpc_new(w->l, &e);
    if (w->hc == NULL) die("http client", &e);
    if (mgmt_start(w, &e) != AGG_OK) die("management server", &e);

    kafka_config kc = {.brokers = w->cfg.brokers,
                       .client_id = "worker",
                       .linger_ms = 5,
                       .message_timeout_ms = 30000};
    const char *topics[2] = {w->cfg.topic_requests, w->cfg.topic_callbacks};
    w->kc = kafka_consumer_new(w->l, &kc, w->cfg.group, topics, 2, on_message, on_revoke, w, &e);
    if (w->kc == NULL) {
        err_t e2;
        err_set(&e2, "KAFKA_BROKERS: %s", e.text);
        cfg_fail(PROG, &e2);
    }
    log_config(w);

    int rc = 0;
    if (loop_run(w->l) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    w->stopping = 1;
    if (rc == 0 && w->jobs > 0) {
        log_info("stopping: draining %ld messages in flight (up to %d ms)", w->jobs, DRAIN_MS);
        drain_deadline = loop_now_ms() + DRAIN_MS;
        if (loop_run(w->l) != AGG_OK) {
            log_error("event loop failed");
            rc = 1;
        }
    }
    log_info("stopped: %ld messages left uncommitted", w->jobs);
    teardown(w);
    return rc;
}
