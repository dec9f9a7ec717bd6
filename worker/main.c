/* main: the worker program: configuration, signals, one worker on one loop, drain and exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_app.h"
#include "cfg.h"
#include "log.h"

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
    "  RESOURCE_READ_TIMEOUT_MS     total timeout of resource calls, capped by the time\n"
    "                               left to the session's deadline (30000, 1..600000)\n"
    "  SESSION_RETENTION_S          TTL of session keys (3600, 60..604800)\n"
    "  DEADLINE_POLL_MS             deadline scan period (25, 5..10000)\n"
    "  MANAGEMENT_PORT              health and metrics port (8091; 0 = any free port)\n"
    "  WORKER_MAX_IN_FLIGHT         messages handled at once; at this many the worker\n"
    "                               takes no more from Kafka until half are done\n"
    "                               (1000, 1..100000)\n"
    "  BIND_ADDR                    management listen address (0.0.0.0)\n"
    "  LOG_LEVEL                    debug|info|warn|error (info)\n";

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, usage);
    static worker wk;
    worker *w = &wk;
    err_t e = {0};
    if (log_init("worker", &e) != AGG_OK || worker_config_load(&w->cfg, &e) != AGG_OK)
        cfg_fail(PROG, &e);
    loop *l = loop_new(&e);
    if (!l || loop_stop_on_signals(l, &e) != AGG_OK) {
        log_error("startup: %s", e.text);
        return 1;
    }
    if (worker_start(w, l, &e) != AGG_OK) {
        /* A URL the client libraries refuse is a bad configuration. */
        if (strncmp(e.text, "REDIS_URL", 9) == 0 || strncmp(e.text, "KAFKA_BROKERS", 13) == 0)
            cfg_fail(PROG, &e);
        log_error("startup: %s", e.text);
        return 1;
    }
    int rc = 0;
    if (loop_run(l) != AGG_OK || worker_drain(w, DRAIN_MS) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    log_info("stopped: %ld messages left uncommitted", w->jobs);
    worker_stop(w);
    loop_free(l);
    return rc;
}
