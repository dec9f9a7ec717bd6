/* kafka: librdkafka producer and consumer served on the event loop through queue io-event fds. */
#include "kafka.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "kstats.h"
#include "log.h"
#include "tcplive.h"

#define KAFKA_SAFETY_POLL_MS 100   /* periodic poll in case a wake-up is missed */
#define KAFKA_DRAIN_MAX      10000 /* events served per wake-up before yielding to the loop */
/* Consumer group defaults: a stock broker refuses a session timeout below its
 * group.min.session.timeout.ms (6000); a member learns of a rebalance at its
 * next heartbeat, so a short one moves a dead member's partitions soon after
 * the broker dropped it. */
#define KAFKA_SESSION_TIMEOUT_MS    6000
#define KAFKA_HEARTBEAT_INTERVAL_MS 500
#define KAFKA_MAX_POLL_INTERVAL_MS  300000

/* What producer and consumer share: the handle, the queue that wakes the
 * loop, and the health seen in statistics. Must be the first member. */
typedef struct kbase {
    loop *l;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* queue with the io-event: main (producer) or consumer queue */
    int efd;             /* eventfd written by librdkafka when q becomes non-empty */
    loop_timer *timer;
    int healthy; /* a broker with nodeid >= 0 is UP (statistics) */
    int fatal;   /* librdkafka raised a fatal error: this handle is never healthy again */
    void (*drain)(struct kbase *b);
    void (*on_fatal)(struct kbase *b); /* NULL: stay unhealthy */
    /* Consumer: its topics' lag and partitions, read from each statistics document. */
    const char *const *stat_topics;
    int n_stat;
    kstats_topic *stat;
} kbase;

struct kafka_producer {
    kbase b;
    /* A copy of the configuration, for a new handle after a fatal error: the idempotent
     * producer of librdkafka 2.0 can fail fatally on a leader change (OUT_OF_ORDER_SEQUENCE_
     * NUMBER after NOT_LEADER_FOR_PARTITION), and a gateway must not stay unready for good. */
    rd_kafka_conf_t *conf;
    loop_timer *rebuild;
};

/* A partition assigned to the consumer; fresh until its first message. */
typedef struct kpart {
    int topic; /* index in kafka_consumer.topics */
    int32_t partition;
    int fresh;
    long long assigned_ms; /* loop_now_ms() at the assignment */
} kpart;

struct kafka_consumer {
    kbase b;
    kpart *parts; /* the current assignment */
    int n_parts;
    int cap_parts;
    int n_fresh; /* parts with fresh set: the per-message lookup runs only while > 0 */
    char **topics;
    int n_topics;
    kstats_topic *stat; /* by topic index, from statistics */
    kafka_message_cb *on_message;
    kafka_revoke_cb *on_revoke;
    void *arg;
    int closing; /* inside kafka_consumer_free(): on_revoke is not called */
    int held;    /* kafka_consumer_hold(): take no messages */
};

/* Per-message opaque: who to tell about the delivery. */
typedef struct delivery {
    kafka_delivery_cb *done;
    void *arg;
} delivery;

/* --- callbacks shared by producer and consumer --- */

/* Asks for metadata once at start (blocking, at most timeout_ms), so that
 * readiness does not wait a whole statistics interval. */
static void probe_brokers(kbase *b, int timeout_ms) {
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(b->rk, 0, NULL, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        b->healthy = md->broker_cnt > 0;
        rd_kafka_metadata_destroy(md);
    }
}

static int on_stats(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
    (void)rk;
    kbase *b = opaque;
    int up = kstats_read(json, json_len, b->stat_topics, b->n_stat, b->stat);
    if (up >= 0) b->healthy = !b->fatal && up;
    return 0; /* librdkafka frees json */
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    kbase *b = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        log_error("kafka %s: fatal error %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig), why);
        b->fatal = 1;
        b->healthy = 0;
        if (b->on_fatal) b->on_fatal(b);
        return;
    }
    log_warn("kafka %s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) b->healthy = 0;
}

/* librdkafka's own log lines, served on the loop through the log queue. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    /* syslog levels; librdkafka reports transient broker failures at 3 (err),
     * real trouble reaches us through the error callback. */
    log_level lvl = level <= 2   ? LOG_ERROR
                    : level <= 4 ? LOG_WARN
                    : level <= 6 ? LOG_INFO
                                 : LOG_DEBUG;
    log_msg(lvl, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* --- loop integration --- */

static void on_wake(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)events;
    kbase *b = arg;
    uint64_t v;
    /* Read before serving: a wake-up written after this read is kept. */
    while (read(fd, &v, sizeof v) > 0) {
    }
    b->drain(b);
}

static void on_safety_timer(loop *l, void *arg) {
    kbase *b = arg;
    b->timer = NULL;
    b->drain(b);
    b->timer = loop_timer_add(l, KAFKA_SAFETY_POLL_MS, on_safety_timer, b);
    if (!b->timer) log_error("kafka: out of memory re-arming the poll timer");
}

/* Wires queue q of b->rk to the loop. Takes ownership of q. */
static int base_attach(kbase *b, rd_kafka_queue_t *q, err_t *e) {
    static const uint64_t one = 1;
    b->q = q;
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) return err_set(e, "eventfd: %s", strerror(errno));
    rd_kafka_queue_io_event_enable(q, b->efd, &one, sizeof one);
    if (loop_watch(b->l, b->efd, LOOP_READ, on_wake, b, e) != AGG_OK) return AGG_ERR;
    b->timer = loop_timer_add(b->l, KAFKA_SAFETY_POLL_MS, on_safety_timer, b);
    if (!b->timer) return err_nomem(e);
    return AGG_OK;
}

/* Undoes base_attach and destroys the handle (after the caller closed/flushed it). */
static void base_detach(kbase *b) {
    if (b->timer) loop_timer_cancel(b->l, b->timer);
    b->timer = NULL;
    if (b->efd >= 0) loop_unwatch(b->l, b->efd);
    if (b->q) {
        rd_kafka_queue_io_event_enable(b->q, -1, NULL, 0);
        rd_kafka_queue_destroy(b->q);
        b->q = NULL;
    }
    if (b->rk) rd_kafka_destroy(b->rk);
    b->rk = NULL;
    if (b->efd >= 0) close(b->efd);
    b->efd = -1;
}

/* --- configuration --- */

typedef struct confset {
    rd_kafka_conf_t *conf;
    char errstr[256];
    int failed;
} confset;

static void conf_put(confset *cs, const char *name, const char *value) {
    if (cs->failed) return;
    if (rd_kafka_conf_set(cs->conf, name, value, cs->errstr, sizeof cs->errstr) != RD_KAFKA_CONF_OK)
        cs->failed = 1;
}

static void conf_put_long(confset *cs, const char *name, long value) {
    char num[32];
    snprintf(num, sizeof num, "%ld", value);
    conf_put(cs, name, num);
}

/* Every setting conncfg_kafka_security carries; NULL ones keep librdkafka's default. A
 * refused password is reported without its value. */
static void conf_security(confset *cs, const conncfg_kafka_security *s) {
    const struct {
        const char *name;
        const char *value;
    } opt[] = {{"security.protocol", s->protocol},
               {"sasl.mechanisms", s->sasl_mechanism},
               {"sasl.username", s->sasl_username},
               {"ssl.ca.location", s->ssl_ca_location},
               {"ssl.certificate.location", s->ssl_cert_location},
               {"ssl.key.location", s->ssl_key_location}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        if (opt[i].value) conf_put(cs, opt[i].name, opt[i].value);
    if (s->sasl_password && !cs->failed) {
        conf_put(cs, "sasl.password", s->sasl_password);
        if (cs->failed) snprintf(cs->errstr, sizeof cs->errstr, "sasl.password refused");
    }
}

/* Settings common to producer and consumer. */
/* Opens the brokers' sockets as librdkafka's own callback does on Linux (SOCK_CLOEXEC), and
 * gives them tcplive: without it a silent partition keeps a broker UP until socket.timeout.ms
 * (60 s) of unanswered requests. Runs on librdkafka's threads, so it logs nothing; a refused
 * option leaves a usable socket with the kernel's defaults. */
static int open_socket(int domain, int type, int protocol, void *opaque) {
    (void)opaque;
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd >= 0 && (domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM) {
        err_t e;
        (void)tcplive_apply(fd, &e);
    }
    return fd;
}

static void conf_common(confset *cs, const kafka_config *c, kbase *b) {
    conf_put(cs, "bootstrap.servers", c->brokers);
    conf_security(cs, &c->security);
    conf_put(cs, "client.id", c->client_id && *c->client_id ? c->client_id : "aggregator");
    conf_put(cs, "statistics.interval.ms", "1000");
    conf_put(cs, "log.queue", "true");
    if (tcplive_timeout_ms() > 0) rd_kafka_conf_set_socket_cb(cs->conf, open_socket);
    rd_kafka_conf_set_stats_cb(cs->conf, on_stats);
    rd_kafka_conf_set_error_cb(cs->conf, on_error);
    rd_kafka_conf_set_log_cb(cs->conf, on_log);
    rd_kafka_conf_set_opaque(cs->conf, b);
}

/* Creates the handle from cs->conf (consumed on success, destroyed on failure). */
static rd_kafka_t *make_handle(rd_kafka_type_t type, confset *cs, err_t *e) {
    if (cs->failed) {
        rd_kafka_conf_destroy(cs->conf);
        err_set(e, "kafka configuration: %s", cs->errstr);
        return NULL;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, cs->conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(cs->conf);
        err_set(e, "kafka: %s", errstr);
        return NULL;
    }
    /* Log lines go to the main queue and are served by our polls. */
    rd_kafka_set_log_queue(rk, NULL);
    return rk;
}

/* --- producer --- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    delivery *d = m->_private;
    if (!d) return;
    int64_t us = rd_kafka_message_latency(m);
    d->done(m->err == RD_KAFKA_RESP_ERR_NO_ERROR, m->err ? rd_kafka_err2str(m->err) : "",
            us >= 0 ? (double)us / 1e6 : -1.0, d->arg);
    agg_free(d);
}

static void producer_drain(kbase *b) {
    for (int i = 0; i < KAFKA_DRAIN_MAX; i++)
        if (rd_kafka_poll(b->rk, 0) == 0) break;
}

/* Creates p's handle from a copy of p->conf and wires it to the loop. */
static int producer_open(kafka_producer *p, err_t *e) {
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->conf);
    if (!conf) return err_nomem(e);
    confset cs = {.conf = conf};
    p->b.rk = make_handle(RD_KAFKA_PRODUCER, &cs, e);
    if (!p->b.rk) return AGG_ERR;
    if (base_attach(&p->b, rd_kafka_queue_get_main(p->b.rk), e) != AGG_OK) {
        base_detach(&p->b);
        return AGG_ERR;
    }
    probe_brokers(&p->b, 1000);
    return AGG_OK;
}

/* Fails every message of p's handle (each done callback runs once, with an error) and
 * destroys the handle. */
static void producer_close(kafka_producer *p, int flush_ms) {
    rd_kafka_t *rk = p->b.rk;
    rd_kafka_resp_err_t err = rd_kafka_flush(rk, flush_ms > 0 ? flush_ms : 0);
    if (err) {
        log_warn("kafka %s: %d messages undelivered after %d ms, purging", rd_kafka_name(rk),
                 rd_kafka_outq_len(rk), flush_ms);
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk, 1000);
    }
    base_detach(&p->b);
}

static void producer_rebuild(loop *l, void *arg) {
    kafka_producer *p = arg;
    p->rebuild = NULL;
    producer_close(p, 0);
    p->b.fatal = 0;
    p->b.healthy = 0;
    err_t e;
    if (producer_open(p, &e) == AGG_OK) {
        log_warn("kafka: a new producer replaced the one that failed fatally");
        return;
    }
    /* Without a handle kafka_produce fails at once (503); try again in a second. */
    log_error("kafka: cannot make a new producer: %s; retrying", e.text);
    p->b.fatal = 1;
    p->rebuild = loop_timer_add(l, 1000, producer_rebuild, p);
    if (!p->rebuild) log_error("kafka: out of memory: the producer stays down");
}

/* A fatal error: the handle is replaced from the loop, not from inside librdkafka's callback. */
static void producer_on_fatal(kbase *b) {
    kafka_producer *p = (kafka_producer *)b;
    if (p->rebuild || !p->b.rk) return;
    p->rebuild = loop_timer_add(b->l, 0, producer_rebuild, p);
    if (!p->rebuild) log_error("kafka: out of memory: the producer stays down");
}

kafka_producer *kafka_producer_new(loop *l, const kafka_config *c, err_t *e) {
    if (!c || !c->brokers || !*c->brokers) {
        err_set(e, "kafka: no brokers configured");
        return NULL;
    }
    kafka_producer *p = agg_calloc(1, sizeof *p);
    if (!p) {
        err_nomem(e);
        return NULL;
    }
    p->b.l = l;
    p->b.efd = -1;
    p->b.drain = producer_drain;
    confset cs = {.conf = rd_kafka_conf_new()};
    conf_common(&cs, c, &p->b);
    conf_put(&cs, "enable.idempotence", "true");
    conf_put(&cs, "acks", "all");
    conf_put(&cs, "partitioner", "murmur2_random"); /* same key -> partition as Java clients */
    if (c->linger_ms >= 0) conf_put_long(&cs, "linger.ms", c->linger_ms);
    if (c->message_timeout_ms > 0) conf_put_long(&cs, "message.timeout.ms", c->message_timeout_ms);
    rd_kafka_conf_set_dr_msg_cb(cs.conf, on_delivery);
    p->b.on_fatal = producer_on_fatal;
    if (cs.failed) {
        rd_kafka_conf_destroy(cs.conf);
        err_set(e, "kafka configuration: %s", cs.errstr);
        agg_free(p);
        return NULL;
    }
    p->conf = cs.conf; /* kept: each handle is made from a copy */
    if (producer_open(p, e) != AGG_OK) {
        rd_kafka_conf_destroy(p->conf);
        agg_free(p);
        return NULL;
    }
    return p;
}

void kafka_producer_free(kafka_producer *p, int flush_ms) {
    if (!p) return;
    if (p->rebuild) loop_timer_cancel(p->b.l, p->rebuild);
    /* Fail what is left, so every done callback still runs once. */
    if (p->b.rk) producer_close(p, flush_ms);
    rd_kafka_conf_destroy(p->conf);
    agg_free(p);
}

void kafka_producer_test_fatal(kafka_producer *p, const char *reason) {
    rd_kafka_test_fatal_error(p->b.rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason);
}

int kafka_produce(kafka_producer *p, const char *topic, const char *key, size_t key_len,
                  const char *value, size_t value_len, kafka_delivery_cb *done, void *arg,
                  err_t *e) {
    return kafka_produce_headers(p, topic, key, key_len, value, value_len, NULL, 0, done, arg, e);
}

int kafka_produce_headers(kafka_producer *p, const char *topic, const char *key, size_t key_len,
                          const char *value, size_t value_len, const kafka_header *headers,
                          size_t n_headers, kafka_delivery_cb *done, void *arg, err_t *e) {
    if (!topic || !done) return err_set(e, "kafka_produce: topic and done are required");
    if (!p->b.rk) return err_set(e, "kafka produce to %s: no producer (being replaced)", topic);
    delivery *d = agg_malloc(sizeof *d);
    if (!d) return err_nomem(e);
    d->done = done;
    d->arg = arg;
    /* librdkafka owns the headers once the message is queued; until then they are ours. */
    rd_kafka_headers_t *hdrs = n_headers ? rd_kafka_headers_new(n_headers) : NULL;
    for (size_t i = 0; i < n_headers; i++)
        rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value, -1);
    rd_kafka_resp_err_t err =
        hdrs ? rd_kafka_producev(p->b.rk, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY((void *)key, key ? key_len : 0),
                                 RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
                                 RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END)
             : rd_kafka_producev(p->b.rk, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY((void *)key, key ? key_len : 0),
                                 RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
                                 RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err) {
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        agg_free(d);
        return err_set(e, "kafka produce to %s: %s", topic, rd_kafka_err2str(err));
    }
    return AGG_OK;
}

int kafka_message_header(const kafka_message *m, const char *name, char *out, size_t outsz) {
    const void *v;
    size_t n;
    if (!m->headers || outsz == 0 ||
        rd_kafka_header_get_last((rd_kafka_headers_t *)m->headers, name, &v, &n) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        !v || n >= outsz)
        return AGG_ERR;
    memcpy(out, v, n);
    out[n] = '\0';
    return AGG_OK;
}

int kafka_producer_healthy(const kafka_producer *p) { return p->b.rk && p->b.healthy; }

size_t kafka_producer_queued(const kafka_producer *p) {
    int n = p->b.rk ? rd_kafka_outq_len(p->b.rk) : 0;
    return n > 0 ? (size_t)n : 0;
}

static void consumer_drain(kbase *b);

void kafka_consumer_hold(kafka_consumer *c, int hold) {
    int was = c->held;
    c->held = hold ? 1 : 0;
    if (was && !c->held) consumer_drain(&c->b);
}

int kafka_consumer_held(const kafka_consumer *c) { return c->held; }

/* --- consumer --- */

/* The index of topic in the consumer's list into *idx; AGG_ERR when it is not there. */
static int topic_index(const kafka_consumer *c, const char *topic, int *idx) {
    for (int i = 0; i < c->n_topics; i++) {
        if (strcmp(c->topics[i], topic) == 0) {
            *idx = i;
            return AGG_OK;
        }
    }
    return AGG_ERR;
}

/* --- the assignment --- */

static kpart *part_find(kafka_consumer *c, int topic, int32_t partition) {
    for (int i = 0; i < c->n_parts; i++)
        if (c->parts[i].topic == topic && c->parts[i].partition == partition) return &c->parts[i];
    return NULL;
}

static void part_add(kafka_consumer *c, int topic, int32_t partition) {
    if (part_find(c, topic, partition)) return;
    if (c->n_parts == c->cap_parts) {
        int cap = c->cap_parts ? c->cap_parts * 2 : 16;
        kpart *n = agg_realloc(c->parts, (size_t)cap * sizeof *n);
        if (!n) {
            /* Only readiness and the first-message log line miss it; consuming goes on. */
            log_error("kafka %s: out of memory noting partition %d", rd_kafka_name(c->b.rk),
                      (int)partition);
            return;
        }
        c->parts = n;
        c->cap_parts = cap;
    }
    c->parts[c->n_parts++] = (kpart){topic, partition, 1, loop_now_ms()};
    c->n_fresh++;
}

static void part_remove(kafka_consumer *c, int topic, int32_t partition) {
    kpart *p = part_find(c, topic, partition);
    if (!p) return;
    if (p->fresh) c->n_fresh--;
    *p = c->parts[--c->n_parts];
}

static void parts_clear(kafka_consumer *c) {
    c->n_parts = 0;
    c->n_fresh = 0;
}

/* Logs the first message of a newly assigned partition: when the group moved
 * partitions (a member died, joined or left), this line dates the handover. */
static void note_first_message(kafka_consumer *c, int topic, const rd_kafka_message_t *m) {
    kpart *p = part_find(c, topic, m->partition);
    if (!p || !p->fresh) return;
    p->fresh = 0;
    c->n_fresh--;
    log_info("kafka %s: first message of newly assigned %s [%d] consumed (offset %lld, "
             "assigned %lld ms before)",
             rd_kafka_name(c->b.rk), c->topics[topic], (int)m->partition, (long long)m->offset,
             loop_now_ms() - p->assigned_ms);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    kafka_consumer *c = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("kafka %s: assigned %d partitions (%s)", rd_kafka_name(rk), parts->cnt,
                 coop ? "incremental" : "eager");
        if (!coop) parts_clear(c);
        for (int i = 0; i < parts->cnt; i++) {
            int idx;
            if (topic_index(c, parts->elems[i].topic, &idx) == AGG_OK)
                part_add(c, idx, parts->elems[i].partition);
        }
        if (coop) {
            rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, parts);
            if (error) {
                log_error("kafka %s: incremental assign: %s", rd_kafka_name(rk),
                          rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
            }
        } else {
            rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
            if (aerr) log_error("kafka %s: assign: %s", rd_kafka_name(rk), rd_kafka_err2str(aerr));
        }
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        log_info("kafka %s: revoking %d partitions%s", rd_kafka_name(rk), parts->cnt,
                 rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
        for (int i = 0; i < parts->cnt; i++) {
            int idx;
            if (topic_index(c, parts->elems[i].topic, &idx) != AGG_OK) continue;
            part_remove(c, idx, parts->elems[i].partition);
            if (!c->closing && c->on_revoke) c->on_revoke(idx, parts->elems[i].partition, c->arg);
        }
    } else {
        log_warn("kafka %s: rebalance error: %s", rd_kafka_name(rk), rd_kafka_err2str(err));
    }
    if (coop) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error) rd_kafka_error_destroy(error);
    } else {
        parts_clear(c);
        rd_kafka_assign(rk, NULL);
    }
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("kafka %s: offset commit failed: %s", rd_kafka_name(rk), rd_kafka_err2str(err));
}

static void dispatch(kafka_consumer *c, const rd_kafka_message_t *m) {
    if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
        log_warn("kafka %s: consume error on %s [%d]: %s", rd_kafka_name(c->b.rk),
                 m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                 rd_kafka_message_errstr(m));
        return;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    int idx;
    if (topic_index(c, topic, &idx) != AGG_OK) {
        log_warn("kafka %s: message from unexpected topic %s skipped", rd_kafka_name(c->b.rk),
                 topic);
        return;
    }
    kafka_message km = {
        .topic = topic,
        .topic_index = idx,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key ? m->key : "",
        .key_len = m->key ? m->key_len : 0,
        .value = m->payload ? m->payload : "",
        .value_len = m->payload ? m->len : 0,
        .timestamp_ms = rd_kafka_message_timestamp(m, NULL),
    };
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) km.headers = hdrs;
    if (c->n_fresh > 0) note_first_message(c, idx, m);
    c->on_message(&km, c->arg);
    log_ctx_clear(); /* the next message is another session's */
}

static void consumer_drain(kbase *b) {
    kafka_consumer *c = (kafka_consumer *)b;
    for (int i = 0; i < KAFKA_DRAIN_MAX && !c->held; i++) {
        /* Also serves rebalance, statistics, error, commit and log callbacks. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b->rk, 0);
        if (!m) break;
        dispatch(c, m);
        rd_kafka_message_destroy(m);
    }
}

static void free_topics(kafka_consumer *c) {
    for (int i = 0; i < c->n_topics; i++) agg_free(c->topics[i]);
    agg_free(c->topics);
    agg_free(c->parts);
    agg_free(c->stat);
}

kafka_consumer *kafka_consumer_new(loop *l, const kafka_config *c, const kafka_group *g,
                                   const char *const *topics, int n_topics,
                                   kafka_message_cb *on_message, kafka_revoke_cb *on_revoke,
                                   void *arg, err_t *e) {
    if (!c || !c->brokers || !*c->brokers || !g || !g->id || !*g->id || !topics || n_topics <= 0 ||
        !on_message) {
        err_set(e, "kafka consumer: brokers, group, topics and on_message are required");
        return NULL;
    }
    kafka_consumer *kc = agg_calloc(1, sizeof *kc);
    char **names = agg_calloc((size_t)n_topics, sizeof *names);
    kstats_topic *stat = agg_calloc((size_t)n_topics, sizeof *stat);
    if (!kc || !names || !stat) {
        agg_free(kc);
        agg_free(names);
        agg_free(stat);
        err_nomem(e);
        return NULL;
    }
    kc->topics = names;
    kc->stat = stat;
    for (int i = 0; i < n_topics; i++) {
        kc->topics[i] = agg_strdup(topics[i]);
        kc->n_topics = i + 1;
        if (!kc->topics[i]) {
            free_topics(kc);
            agg_free(kc);
            err_nomem(e);
            return NULL;
        }
    }
    kc->on_message = on_message;
    kc->on_revoke = on_revoke;
    kc->arg = arg;
    kc->b.l = l;
    kc->b.efd = -1;
    kc->b.drain = consumer_drain;
    kc->b.stat_topics = (const char *const *)kc->topics;
    kc->b.n_stat = n_topics;
    kc->b.stat = kc->stat;

    confset cs = {.conf = rd_kafka_conf_new()};
    conf_common(&cs, c, &kc->b);
    conf_put(&cs, "group.id", g->id);
    conf_put(&cs, "enable.auto.commit", "true");
    conf_put(&cs, "auto.commit.interval.ms", "1000");
    conf_put(&cs, "enable.auto.offset.store", "false");
    conf_put(&cs, "auto.offset.reset", "earliest");
    conf_put_long(&cs, "session.timeout.ms",
                  g->session_timeout_ms > 0 ? g->session_timeout_ms : KAFKA_SESSION_TIMEOUT_MS);
    conf_put_long(&cs, "heartbeat.interval.ms",
                  g->heartbeat_interval_ms > 0 ? g->heartbeat_interval_ms
                                               : KAFKA_HEARTBEAT_INTERVAL_MS);
    conf_put_long(&cs, "max.poll.interval.ms",
                  g->max_poll_interval_ms > 0 ? g->max_poll_interval_ms
                                              : KAFKA_MAX_POLL_INTERVAL_MS);
    /* Incremental rebalancing: a joining or leaving member takes or gives up
     * only the partitions that move; the others never stop being consumed
     * (the eager protocol revokes every partition of every member first). */
    conf_put(&cs, "partition.assignment.strategy", "cooperative-sticky");
    conf_put(&cs, "enable.partition.eof", "false");
    /* A broker answers a fetch as soon as one byte is there; this bounds the
     * wait where it does not (librdkafka's mock cluster), and the cost of an
     * idle fetch round trip is small. */
    conf_put(&cs, "fetch.wait.max.ms", "10");
    /* Prefetched messages wait in librdkafka's queue while the worker holds
     * its intake (kafka_consumer_hold); 8 MB bounds that memory (the default
     * is 64 MB; a worker runs one consumer per topic, 16 MB in all), and the
     * backlog stays in Kafka, durable. */
    conf_put(&cs, "queued.max.messages.kbytes", "8192");
    /* librdkafka 2.0.2 never asks the broker to auto-create subscribed topics
     * (the request flag ends up false), and rechecks a missing topic only at
     * the metadata refresh: keep that short so a topic created later by a
     * producer is consumed within seconds, not minutes. */
    conf_put(&cs, "topic.metadata.refresh.interval.ms", "5000");
    rd_kafka_conf_set_rebalance_cb(cs.conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(cs.conf, on_commit);
    kc->b.rk = make_handle(RD_KAFKA_CONSUMER, &cs, e);
    if (!kc->b.rk) {
        free_topics(kc);
        agg_free(kc);
        return NULL;
    }
    /* Main queue (logs, statistics, errors) forwards to the consumer queue. */
    rd_kafka_poll_set_consumer(kc->b.rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(n_topics);
    if (!sub) {
        err_nomem(e);
        goto fail;
    }
    for (int i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(sub, kc->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(kc->b.rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        err_set(e, "kafka subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    if (base_attach(&kc->b, rd_kafka_queue_get_consumer(kc->b.rk), e) != AGG_OK) goto fail;
    probe_brokers(&kc->b, 1000);
    return kc;
fail:
    kc->closing = 1;
    rd_kafka_consumer_close(kc->b.rk);
    base_detach(&kc->b);
    free_topics(kc);
    agg_free(kc);
    return NULL;
}

int kafka_consumer_store(kafka_consumer *c, int topic_index_, int32_t partition,
                         int64_t next_offset, err_t *e) {
    if (topic_index_ < 0 || topic_index_ >= c->n_topics)
        return err_set(e, "kafka store: bad topic index %d", topic_index_);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    if (!list) return err_nomem(e);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(list, c->topics[topic_index_], partition);
    tp->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->b.rk, list);
    if (!err) err = tp->err;
    rd_kafka_topic_partition_list_destroy(list);
    if (err)
        return err_set(e, "kafka store %s [%d] @%lld: %s", c->topics[topic_index_], (int)partition,
                       (long long)next_offset, rd_kafka_err2str(err));
    return AGG_OK;
}

void kafka_consumer_free(kafka_consumer *c) {
    if (!c) return;
    c->closing = 1;
    rd_kafka_resp_err_t err = rd_kafka_commit(c->b.rk, NULL, 0 /* sync */);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("kafka %s: final commit: %s", rd_kafka_name(c->b.rk), rd_kafka_err2str(err));
    err = rd_kafka_consumer_close(c->b.rk);
    if (err) log_warn("kafka %s: close: %s", rd_kafka_name(c->b.rk), rd_kafka_err2str(err));
    base_detach(&c->b);
    free_topics(c);
    agg_free(c);
}

int kafka_consumer_healthy(const kafka_consumer *c) { return c->b.healthy; }

int kafka_consumer_assigned(const kafka_consumer *c) { return c->n_parts; }

long long kafka_consumer_lag(const kafka_consumer *c, int topic_index_) {
    return topic_index_ >= 0 && topic_index_ < c->n_topics ? c->stat[topic_index_].lag : 0;
}

int kafka_consumer_partitions(const kafka_consumer *c, int topic_index_) {
    return topic_index_ >= 0 && topic_index_ < c->n_topics ? c->stat[topic_index_].partitions : 0;
}
