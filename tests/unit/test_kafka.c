/* test_kafka: producer and consumer adapters against librdkafka's in-process mock cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka.h"

#define DEADLINE_MS 30000

typedef struct fixture {
    loop *l;
    rd_kafka_t *mrk; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    char brokers[256];
} fixture;

/* One mock cluster for the whole run (creating and destroying one costs about
 * a second); every test uses its own loop, topics or groups. */
static fixture shared;

static int group_setup(void **state) {
    (void)state;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return -1;
    shared.mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!shared.mrk) return -1;
    shared.mc = rd_kafka_mock_cluster_new(shared.mrk, 1);
    if (!shared.mc) return -1;
    if (rd_kafka_mock_topic_create(shared.mc, "agg.requests", 4, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "agg.callbacks", 4, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.index.a", 2, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.index.b", 2, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.single", 1, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.rebalance", 4, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.kind.a", 4, 1) ||
        rd_kafka_mock_topic_create(shared.mc, "t.kind.b", 4, 1))
        return -1;
    snprintf(shared.brokers, sizeof shared.brokers, "%s",
             rd_kafka_mock_cluster_bootstraps(shared.mc));
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    rd_kafka_mock_cluster_destroy(shared.mc);
    rd_kafka_destroy(shared.mrk);
    return 0;
}

static int setup(void **state) {
    shared.l = loop_new(NULL);
    assert_non_null(shared.l);
    *state = &shared;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    loop_free(f->l);
    f->l = NULL;
    return 0;
}

static kafka_config config(const fixture *f, long message_timeout_ms) {
    kafka_config c = {.brokers = f->brokers,
                      .client_id = "test",
                      .linger_ms = 5,
                      .message_timeout_ms = message_timeout_ms};
    return c;
}

/* --- waiting: the loop runs until pred holds or the deadline passes --- */

typedef int pred_fn(void *ctx);

typedef struct waiter {
    pred_fn *pred;
    void *ctx;
    loop_timer *check;
    int met;
} waiter;

static void on_check(loop *l, void *arg) {
    waiter *w = arg;
    w->check = NULL;
    if (w->pred(w->ctx)) {
        w->met = 1;
        loop_stop(l);
        return;
    }
    w->check = loop_timer_add(l, 10, on_check, w);
}

static void on_deadline(loop *l, void *arg) {
    int *hit = arg;
    *hit = 1;
    loop_stop(l);
}

/* Returns 1 when pred became true before the deadline. */
static int wait_for(loop *l, pred_fn *pred, void *ctx, long long deadline_ms) {
    waiter w = {.pred = pred, .ctx = ctx};
    int hit = 0;
    loop_timer *deadline = loop_timer_add(l, deadline_ms, on_deadline, &hit);
    w.check = loop_timer_add(l, 0, on_check, &w);
    assert_non_null(deadline);
    assert_non_null(w.check);
    assert_int_equal(loop_run(l), AGG_OK);
    if (!hit) loop_timer_cancel(l, deadline);
    if (w.check) loop_timer_cancel(l, w.check);
    return w.met;
}

/* --- producer --- */

typedef struct dr {
    int calls;
    int ok;
    double seconds;
    char errstr[256];
} dr;

static void on_delivery(int ok, const char *errstr, double seconds, void *arg) {
    dr *d = arg;
    d->calls++;
    d->seconds = seconds;
    d->ok = ok;
    assert_non_null(errstr);
    snprintf(d->errstr, sizeof d->errstr, "%s", errstr);
}

static int dr_done(void *ctx) { return ((dr *)ctx)->calls > 0; }

static int dr_all_done(void *ctx) {
    dr *d = ctx;
    for (int i = 0; i < 3; i++)
        if (d[i].calls == 0) return 0;
    return 1;
}

static int producer_is_healthy(void *ctx) { return kafka_producer_healthy(ctx); }
static int consumer_is_healthy(void *ctx) { return kafka_consumer_healthy(ctx); }

static void produce_is_acknowledged(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    err_t e = {0};
    kafka_producer *p = kafka_producer_new(f->l, &c, &e);
    assert_non_null(p);
    dr d = {0};
    const char *v = "{\"correlationId\":\"c1\"}";
    assert_int_equal(kafka_produce(p, "agg.requests", "c1", 2, v, strlen(v), on_delivery, &d, &e),
                     AGG_OK);
    assert_true(wait_for(f->l, dr_done, &d, DEADLINE_MS));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.ok, 1);
    assert_string_equal(d.errstr, "");
    assert_true(d.seconds >= 0); /* the latency is known for an acknowledged message */
    kafka_producer_free(p, 1000);
    assert_int_equal(d.calls, 1);
}

static void producer_becomes_healthy(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    /* The start-up metadata probe may already have seen the broker. */
    assert_true(wait_for(f->l, producer_is_healthy, p, DEADLINE_MS));
    kafka_producer_free(p, 1000);
}

static void free_flushes_outstanding_deliveries(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    dr d[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            kafka_produce(p, "agg.callbacks", "k", 1, "v", 1, on_delivery, &d[i], NULL), AGG_OK);
    /* No loop run: the deliveries are reported during the flush in free. */
    kafka_producer_free(p, 10000);
    assert_true(dr_all_done(d));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].ok, 1);
    }
}

/* Produces once the producer takes the message (it refuses while its handle is fatal). */
typedef struct retried_produce {
    kafka_producer *p;
    dr d;
    int taken;
} retried_produce;

static int produce_taken(void *ctx) {
    retried_produce *r = ctx;
    if (!r->taken)
        r->taken = kafka_produce(r->p, "agg.requests", "c3", 2, "{}", 2, on_delivery, &r->d,
                                 NULL) == AGG_OK;
    return r->taken;
}

/* A fatal error of librdkafka's idempotent producer: the handle is replaced from the loop and
 * the producer takes and delivers messages again, instead of staying unready until a restart. */
static void producer_recovers_from_a_fatal_error(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    assert_true(wait_for(f->l, producer_is_healthy, p, DEADLINE_MS));
    kafka_producer_test_fatal(p, "test: rewound sequence number");
    retried_produce r = {.p = p};
    assert_true(wait_for(f->l, produce_taken, &r, DEADLINE_MS));
    assert_true(wait_for(f->l, dr_done, &r.d, DEADLINE_MS));
    assert_int_equal(r.d.calls, 1);
    assert_int_equal(r.d.ok, 1); /* a fatal handle would fail it */
    assert_true(kafka_producer_healthy(p));
    kafka_producer_free(p, 1000);
    assert_int_equal(r.d.calls, 1);
}

static void delivery_fails_when_broker_down(void **state) {
    fixture *f = *state;
    assert_int_equal(rd_kafka_mock_broker_set_down(f->mc, 1), 0);
    kafka_config c = config(f, 1000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    dr d = {0};
    assert_int_equal(kafka_produce(p, "agg.requests", "c2", 2, "{}", 2, on_delivery, &d, NULL),
                     AGG_OK);
    assert_true(wait_for(f->l, dr_done, &d, DEADLINE_MS));
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.ok, 0);
    assert_true(strlen(d.errstr) > 0);
    assert_int_equal(kafka_producer_healthy(p), 0);
    kafka_producer_free(p, 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(rd_kafka_mock_broker_set_up(f->mc, 1), 0);
}

/* --- consumer --- */

typedef struct got {
    int n;
    int topic_index[16];
    int32_t partition[16];
    int64_t offset[16];
    char key[16][32];
    char value[16][64];
    int64_t timestamp_ms[16];
    int revoked;
} got;

static void on_message(const kafka_message *m, void *arg) {
    got *g = arg;
    if (g->n >= 16) return;
    g->topic_index[g->n] = m->topic_index;
    g->partition[g->n] = m->partition;
    g->offset[g->n] = m->offset;
    g->timestamp_ms[g->n] = m->timestamp_ms;
    snprintf(g->key[g->n], sizeof g->key[0], "%.*s", (int)m->key_len, m->key);
    snprintf(g->value[g->n], sizeof g->value[0], "%.*s", (int)m->value_len, m->value);
    g->n++;
}

static void on_revoke(int topic_index, int32_t partition, void *arg) {
    (void)topic_index;
    (void)partition;
    got *g = arg;
    g->revoked++;
}

typedef struct count_ctx {
    got *g;
    int want;
} count_ctx;

static int got_enough(void *ctx) {
    count_ctx *cc = ctx;
    return cc->g->n >= cc->want;
}

static void produce_sync(fixture *f, kafka_producer *p, const char *topic, const char *key,
                         const char *value) {
    dr d = {0};
    assert_int_equal(
        kafka_produce(p, topic, key, strlen(key), value, strlen(value), on_delivery, &d, NULL),
        AGG_OK);
    assert_true(wait_for(f->l, dr_done, &d, DEADLINE_MS));
    assert_int_equal(d.ok, 1);
}

static void consume_delivers_with_topic_index(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    long long before_ms = loop_wall_ms();
    produce_sync(f, p, "t.index.b", "k-b", "v-b");
    produce_sync(f, p, "t.index.a", "k-a", "v-a");
    long long after_ms = loop_wall_ms();

    static const char *const topics[] = {"t.index.a", "t.index.b"};
    got g = {0};
    err_t e = {0};
    kafka_consumer *kc = kafka_consumer_new(f->l, &c, &(kafka_group){"g-index", 0, 0, 0}, topics, 2,
                                            on_message, on_revoke, &g, &e);
    assert_non_null(kc);
    count_ctx cc = {&g, 2};
    assert_true(wait_for(f->l, got_enough, &cc, DEADLINE_MS));
    assert_int_equal(g.n, 2);
    for (int i = 0; i < 2; i++) {
        /* The producer's create time (librdkafka's clock may round differently: 1 s slack). */
        assert_true(g.timestamp_ms[i] >= before_ms - 1000 && g.timestamp_ms[i] <= after_ms + 1000);
        if (strcmp(g.key[i], "k-a") == 0) {
            assert_int_equal(g.topic_index[i], 0);
            assert_string_equal(g.value[i], "v-a");
        } else {
            assert_string_equal(g.key[i], "k-b");
            assert_int_equal(g.topic_index[i], 1);
            assert_string_equal(g.value[i], "v-b");
        }
    }
    assert_true(wait_for(f->l, consumer_is_healthy, kc, DEADLINE_MS));
    /* Revocation during free is not reported. */
    kafka_consumer_free(kc);
    assert_int_equal(g.revoked, 0);
    kafka_producer_free(p, 1000);
}

/* The group's committed offset of t.single [0], read with a plain librdkafka
 * handle (OffsetFetch; it does not join the group). */
static int64_t committed_offset(const fixture *f, const char *group) {
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", f->brokers, errstr, sizeof errstr),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, "t.single", 0);
    assert_int_equal(rd_kafka_committed(rk, list, DEADLINE_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(list->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t off = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return off;
}

static void stored_offsets_are_committed(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    produce_sync(f, p, "t.single", "a", "va");
    produce_sync(f, p, "t.single", "b", "vb");
    produce_sync(f, p, "t.single", "c", "vc");

    static const char *const topics[] = {"t.single"};
    got g = {0};
    kafka_consumer *kc = kafka_consumer_new(f->l, &c, &(kafka_group){"g-commit", 0, 0, 0}, topics,
                                            1, on_message, NULL, &g, NULL);
    assert_non_null(kc);
    count_ctx cc = {&g, 3};
    assert_true(wait_for(f->l, got_enough, &cc, DEADLINE_MS));
    assert_string_equal(g.key[0], "a");
    assert_string_equal(g.key[1], "b");
    assert_string_equal(g.key[2], "c");
    /* a and b are handled, c is not: the committable offset is c's. */
    err_t e = {0};
    assert_int_equal(kafka_consumer_store(kc, 0, g.partition[1], g.offset[1] + 1, &e), AGG_OK);
    assert_int_equal(kafka_consumer_store(kc, 5, 0, 1, &e), AGG_ERR);
    assert_int_equal(kafka_consumer_store(kc, 0, 3, 1, &e), AGG_ERR); /* no such partition */
    kafka_consumer_free(kc);
    assert_int_equal(committed_offset(f, "g-commit"), g.offset[2]);
    kafka_producer_free(p, 1000);
}

typedef struct split_ctx {
    kafka_consumer *k1, *k2;
    int want1, want2;
} split_ctx;

static int assignment_is(void *ctx) {
    split_ctx *s = ctx;
    return kafka_consumer_assigned(s->k1) == s->want1 &&
           (!s->k2 || kafka_consumer_assigned(s->k2) == s->want2);
}

static void rebalance_is_incremental(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    /* The mock cluster waits a second less than the session timeout before it
     * rebalances (but 3 s for a first join, which a shorter session would not
     * survive): 4 s keeps the test short. */
    kafka_group fast = {"g-rebal", 4000, 400, 0};
    kafka_producer *p = kafka_producer_new(f->l, &c, NULL);
    assert_non_null(p);
    static const char *const topics[] = {"t.rebalance"};
    got g1 = {0}, g2 = {0};
    kafka_consumer *k1 =
        kafka_consumer_new(f->l, &c, &fast, topics, 1, on_message, on_revoke, &g1, NULL);
    assert_non_null(k1);
    assert_int_equal(kafka_consumer_assigned(k1), 0);
    /* k1 owns every partition once it reads a message. */
    produce_sync(f, p, "t.rebalance", "x", "vx");
    count_ctx cc = {&g1, 1};
    assert_true(wait_for(f->l, got_enough, &cc, DEADLINE_MS));
    assert_int_equal(kafka_consumer_assigned(k1), 4);
    kafka_consumer *k2 =
        kafka_consumer_new(f->l, &c, &fast, topics, 1, on_message, on_revoke, &g2, NULL);
    assert_non_null(k2);
    split_ctx half = {k1, k2, 2, 2};
    assert_true(wait_for(f->l, assignment_is, &half, DEADLINE_MS));
    /* Cooperative: k1 gave up only the two partitions that moved (eager revokes all four). */
    assert_int_equal(g1.revoked, 2);
    assert_int_equal(g2.revoked, 0);
    /* k2 leaves: k1 takes its partitions back without giving up any of its own. */
    kafka_consumer_free(k2);
    split_ctx all = {k1, NULL, 4, 0};
    assert_true(wait_for(f->l, assignment_is, &all, DEADLINE_MS));
    assert_int_equal(g1.revoked, 2);
    kafka_consumer_free(k1);
    assert_int_equal(g2.revoked, 0);
    kafka_producer_free(p, 1000);
}

typedef struct pertopic_ctx {
    kafka_consumer *k[2][2]; /* [member][topic] */
} pertopic_ctx;

static int each_member_owns_half_of_each_topic(void *ctx) {
    pertopic_ctx *p = ctx;
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++)
            if (kafka_consumer_assigned(p->k[m][t]) != 2) return 0;
    return 1;
}

/* The worker's intake: one consumer per topic, each topic in its own group. Two members each
 * own half of each topic (one group over both topics balances only the sum, and may give one
 * member every partition of one topic), and a member that leaves both groups hands each topic
 * to the other. */
static void a_group_per_topic_balances_each_topic(void **state) {
    fixture *f = *state;
    kafka_config c = config(f, 10000);
    static const char *const topics[2][1] = {{"t.kind.a"}, {"t.kind.b"}};
    static const char *const groups[2] = {"g-kind.a", "g-kind.b"};
    pertopic_ctx p = {0};
    got g[2][2] = {{{0}}};
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            kafka_group kg = {groups[t], 4000, 400, 0};
            p.k[m][t] = kafka_consumer_new(f->l, &c, &kg, topics[t], 1, on_message, on_revoke,
                                           &g[m][t], NULL);
            assert_non_null(p.k[m][t]);
        }
    assert_true(wait_for(f->l, each_member_owns_half_of_each_topic, &p, DEADLINE_MS));
    kafka_consumer_free(p.k[1][0]);
    kafka_consumer_free(p.k[1][1]);
    split_ctx all = {p.k[0][0], p.k[0][1], 4, 4};
    assert_true(wait_for(f->l, assignment_is, &all, DEADLINE_MS));
    kafka_consumer_free(p.k[0][0]);
    kafka_consumer_free(p.k[0][1]);
}

static void bad_arguments_are_refused(void **state) {
    fixture *f = *state;
    err_t e = {0};
    kafka_config none = {.brokers = ""};
    assert_null(kafka_producer_new(f->l, &none, &e));
    assert_true(strlen(e.text) > 0);
    kafka_config bad = config(f, 10000);
    bad.linger_ms = 1000000000L; /* above librdkafka's maximum */
    assert_null(kafka_producer_new(f->l, &bad, &e));
    assert_non_null(strstr(e.text, "kafka configuration: "));
    static const char *const topics[] = {"agg.requests"};
    assert_null(kafka_consumer_new(f->l, &bad, &(kafka_group){"", 0, 0, 0}, topics, 1, on_message,
                                   NULL, NULL, &e));
}

/* The security settings reach librdkafka: it loads TLS files when the handle is made, so a
 * key it cannot use stops the producer there (conncfg_kafka_load refuses it earlier). */
static void security_settings_reach_librdkafka(void **state) {
    fixture *f = *state;
    err_t e = {0};
    kafka_config c = config(f, 10000);
    c.security = (conncfg_kafka_security){.protocol = "ssl",
                                          .ssl_cert_location = "/nonexistent/client.pem",
                                          .ssl_key_location = "/nonexistent/client.key"};
    assert_null(kafka_producer_new(f->l, &c, &e));
    assert_non_null(strstr(e.text, "ssl"));
    c.security = (conncfg_kafka_security){.protocol = "sasl_plaintext",
                                          .sasl_mechanism = "SCRAM-SHA-512",
                                          .sasl_username = "agg",
                                          .sasl_password = "pw"};
    kafka_producer *p = kafka_producer_new(f->l, &c, &e);
    assert_non_null(p);
    kafka_producer_free(p, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(produce_is_acknowledged, setup, teardown),
        cmocka_unit_test_setup_teardown(producer_becomes_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(free_flushes_outstanding_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(consume_delivers_with_topic_index, setup, teardown),
        cmocka_unit_test_setup_teardown(stored_offsets_are_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(rebalance_is_incremental, setup, teardown),
        cmocka_unit_test_setup_teardown(a_group_per_topic_balances_each_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(security_settings_reach_librdkafka, setup, teardown),
        cmocka_unit_test_setup_teardown(producer_recovers_from_a_fatal_error, setup, teardown),
        cmocka_unit_test_setup_teardown(delivery_fails_when_broker_down, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
