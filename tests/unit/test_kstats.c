/* test_kstats: broker health, consumer lag and partition counts read from librdkafka statistics documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "failalloc.h"
#include "kstats.h"

/* The shape librdkafka 2.0 gives a consumer (trimmed): a bootstrap placeholder (nodeid -1),
 * one broker UP; agg.requests with two fetched partitions and the unassigned placeholder
 * partition -1, agg.callbacks with one partition not fetched (lag -1). */
static const char stats[] =
    "{\"name\":\"worker#consumer-1\",\"type\":\"consumer\","
    "\"brokers\":{\"GroupCoordinator\":{\"nodeid\":-1,\"state\":\"UP\"},"
    "\"localhost:9092/1\":{\"nodeid\":1,\"state\":\"UP\"}},"
    "\"topics\":{"
    "\"agg.requests\":{\"topic\":\"agg.requests\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"consumer_lag\":5,\"consumer_lag_stored\":4},"
    "\"1\":{\"partition\":1,\"consumer_lag\":7},"
    "\"-1\":{\"partition\":-1,\"consumer_lag\":-1}}},"
    "\"agg.callbacks\":{\"topic\":\"agg.callbacks\",\"partitions\":{"
    "\"0\":{\"partition\":0,\"consumer_lag\":-1}}}}}";

static const char *const topics[] = {"agg.requests", "agg.callbacks", "agg.absent"};

static void lag_is_summed_per_topic_without_unknowns(void **state) {
    (void)state;
    kstats_topic t[3] = {{-9, -9}, {-9, -9}, {-9, -9}};
    assert_int_equal(kstats_read(stats, strlen(stats), topics, 3, t), 1);
    assert_int_equal(t[0].lag, 12);
    assert_int_equal(t[1].lag, 0); /* only -1: not known */
    assert_int_equal(t[2].lag, 0); /* not in the document */
    /* Partitions: the placeholder -1 is none; a partition not fetched still exists. */
    assert_int_equal(t[0].partitions, 2);
    assert_int_equal(t[1].partitions, 1);
    assert_int_equal(t[2].partitions, 0);
}

static void a_bootstrap_placeholder_is_not_a_broker(void **state) {
    (void)state;
    const char *doc = "{\"brokers\":{\"b\":{\"nodeid\":-1,\"state\":\"UP\"},"
                      "\"c\":{\"nodeid\":2,\"state\":\"DOWN\"}}}";
    kstats_topic t[1] = {{-9, -9}};
    assert_int_equal(kstats_read(doc, strlen(doc), topics, 1, t), 0);
    assert_int_equal(t[0].lag, 0);
    assert_int_equal(t[0].partitions, 0);
    /* A producer asks for no lag. */
    assert_int_equal(kstats_read(stats, strlen(stats), NULL, 0, NULL), 1);
}

static void not_json_leaves_the_lag(void **state) {
    (void)state;
    kstats_topic t[2] = {{3, 1}, {4, 1}};
    assert_int_equal(kstats_read("{\"brokers\":", 11, topics, 2, t), 0);
    assert_int_equal(t[0].lag, 3);
    assert_int_equal(t[1].lag, 4);
}

static void out_of_memory_says_nothing(void **state) {
    (void)state;
    for (size_t n = 1;; n++) {
        kstats_topic t[2] = {{3, 1}, {4, 1}};
        failalloc_arm(n);
        int r = kstats_read(stats, strlen(stats), topics, 2, t);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(r, 1);
            assert_int_equal(t[0].lag, 12);
            break;
        }
        assert_int_equal(r, -1);
        assert_int_equal(t[0].lag, 3);
        assert_int_equal(t[1].lag, 4);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lag_is_summed_per_topic_without_unknowns),
        cmocka_unit_test(a_bootstrap_placeholder_is_not_a_broker),
        cmocka_unit_test(not_json_leaves_the_lag),
        cmocka_unit_test(out_of_memory_says_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
