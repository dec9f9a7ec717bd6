/* kafka-mock: runs librdkafka's mock Kafka cluster with the aggregator's topics for the local demo.
 */
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "loop.h"

#define PROG "kafka-mock"

static const char usage[] =
    "Usage: kafka-mock [--help] [--version]\n"
    "\n"
    "Runs librdkafka's in-process mock Kafka cluster (one broker on 127.0.0.1, a\n"
    "random port) with the aggregator's topics, prints one line\n"
    "KAFKA_BROKERS=<host:port> on stdout, and serves until SIGINT or SIGTERM.\n"
    "Not a real broker: for the one-command demo only.\n"
    "\n"
    "Environment:\n"
    "  KAFKA_MOCK_PARTITIONS  partitions per topic (default 6)\n"
    "  KAFKA_TOPIC_REQUESTS   requests topic (default agg.requests)\n"
    "  KAFKA_TOPIC_CALLBACKS  callbacks topic (default agg.callbacks)\n"
    "  LOG_LEVEL              debug|info|warn|error (default info)\n";

/* librdkafka's log lines, served on the loop through the log queue. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* syslog levels; librdkafka reports transient connection failures at 3 (err). */
    log_level lvl = level <= 2   ? LOG_ERROR
                    : level <= 4 ? LOG_WARN
                    : level <= 6 ? LOG_INFO
                                 : LOG_DEBUG;
    log_msg(lvl, "mock: %s: %s", fac, buf);
}

static void on_poll(loop *l, void *arg) {
    rd_kafka_t *rk = arg;
    while (rd_kafka_poll(rk, 0) > 0) {
    }
    if (!loop_timer_add(l, 200, on_poll, rk)) {
        log_error("out of memory");
        loop_stop(l);
    }
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, usage);
    err_t e;
    long partitions;
    if (log_init(PROG, &e) != AGG_OK) cfg_fail(PROG, &e);
    if (cfg_long("KAFKA_MOCK_PARTITIONS", 6, 1, 10000, &partitions, &e) != AGG_OK)
        cfg_fail(PROG, &e);
    const char *topics[2] = {cfg_str("KAFKA_TOPIC_REQUESTS", "agg.requests"),
                             cfg_str("KAFKA_TOPIC_CALLBACKS", "agg.callbacks")};

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only owns the cluster; it never connects anywhere, so its
     * "no bootstrap.servers" notice is below the log level set here. */
    if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log.queue", "true", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", PROG, errstr);
        return 1;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "%s: %s\n", PROG, errstr);
        return 1;
    }
    rd_kafka_set_log_queue(rk, NULL);

    int rc = 1;
    loop *l = NULL;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        log_error("cannot start the mock cluster");
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topics[i], (int)partitions, 1);
        if (err) {
            log_error("cannot create topic %s: %s", topics[i], rd_kafka_err2str(err));
            goto out;
        }
    }
    l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK) {
        log_error("event loop: %s", e.text);
        goto out;
    }
    if (!loop_timer_add(l, 200, on_poll, rk)) {
        log_error("out of memory");
        goto out;
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    printf("KAFKA_BROKERS=%s\n", bootstraps);
    fflush(stdout);
    log_info("mock Kafka cluster at %s: topics %s and %s with %ld partitions", bootstraps,
             topics[0], topics[1], partitions);
    if (loop_run(l) != AGG_OK) {
        log_error("event loop failed");
        goto out;
    }
    log_info("stopping");
    rc = 0;
out:
    if (mc) rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    loop_free(l);
    return rc;
}
