/* main: the worker program: configuration, signals, one worker on one loop, drain and exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker_app.h"
#include "cfg.h"
#include "cpusched.h"
#include "log.h"
#include "tcplive.h"

#define PROG "worker"

static const char usage[] =
    "Usage: worker [--help | --version]\n"
    "\n"
    "Consumes fan-out and answer messages from Kafka, calls the resources,\n"
    "records every outcome in Redis and expires sessions whose deadline passed.\n"
    "\n"
    "Environment:\n"
    "  KAFKA_BROKERS                host:port,... (required)\n"
    "  REDIS_URL                    redis://[:password@]host:port[/db] (redis://127.0.0.1:6379)\n"
    "  REDIS_PASSWORD               sent with AUTH instead of the URL's password (none)\n"
    "  REDIS_SENTINELS              host:port,... of Redis Sentinels, instead of REDIS_URL\n"
    "                               (both set: configuration error) (none)\n"
    "  REDIS_MASTER_NAME            the name the sentinels monitor (required with them)\n"
    "  REDIS_SENTINEL_PASSWORD      sent with AUTH to the sentinels (none)\n"
    "  TCP_USER_TIMEOUT_MS          a Redis or Kafka connection whose data or keep-alive\n"
    "                               probes (after 1 s of silence) stay unacknowledged\n"
    "                               this long is closed and reconnected, readiness DOWN\n"
    "                               meanwhile (3000, 0..600000; 0: the kernel's defaults)\n"
    "  KAFKA_SECURITY_PROTOCOL      plaintext, ssl, sasl_plaintext or sasl_ssl (plaintext)\n"
    "  KAFKA_SASL_MECHANISM         PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN)\n"
    "  KAFKA_SASL_USERNAME          required with SASL\n"
    "  KAFKA_SASL_PASSWORD          required with SASL\n"
    "  KAFKA_SSL_CA_LOCATION        CA certificates, PEM (the system's), with TLS\n"
    "  KAFKA_SSL_CERTIFICATE_LOCATION client certificate, PEM, with its key (none)\n"
    "  KAFKA_SSL_KEY_LOCATION       the client certificate's key, PEM (none)\n"
    "  KAFKA_GROUP_ID               prefix of the two consumer groups, one per topic:\n"
    "                               <id>.requests and <id>.callbacks (agg-workers)\n"
    "  KAFKA_TOPIC_REQUESTS         request topic (agg.requests)\n"
    "  KAFKA_TOPIC_CALLBACKS        answer topic (agg.callbacks)\n"
    "  CALLBACK_SIGNING_KEY         key of the callback capabilities (required, at least\n"
    "                               32 bytes; the gateways' key): each callbackUrl\n"
    "                               carries cap=<one> for its session and source,\n"
    "                               checked again on the answer\n"
    "  CALLBACK_SIGNING_KEY_FILE    a file holding that key, instead of the variable\n"
    "  CALLBACK_SIGNING_KEY_PREVIOUS\n"
    "                               a key whose capabilities are still accepted while\n"
    "                               keys rotate; never signs (none)\n"
    "  CALLBACK_SIGNING_KEY_PREVIOUS_FILE\n"
    "                               a file holding that key, instead of the variable\n"
    "  KAFKA_TOPIC_AUDIT            audit topic: the audit records relayed from the Redis\n"
    "                               outbox, key correlationId (agg.audit)\n"
    "  AUDIT_POLL_MS                how often the outbox is read (250, 10..60000)\n"
    "  AUDIT_CLAIM_IDLE_MS          an outbox record a worker read and did not publish\n"
    "                               this long (it died) is taken over by another\n"
    "                               (30000, 1000..3600000)\n"
    "  RESOURCE_URLS                when set, the only resource URLs the worker calls\n"
    "                               (comma-separated, url or name=url)\n"
    "  AGGREGATOR_CALLBACK_URL      when set, the only callback URL the worker gives\n"
    "                               resources (the gateways' callback Service); unset: the\n"
    "                               one each fan-out message names (none)\n"
    "  RESOURCE_CONNECT_TIMEOUT_MS  connect timeout of resource calls (5000, 1..600000)\n"
    "  RESOURCE_READ_TIMEOUT_MS     total timeout of resource calls, capped by the time\n"
    "                               left to the session's deadline (30000, 1..600000)\n"
    "  RESOURCE_TLS_CA_FILE         CA certificates (PEM) trusted for https:// resources\n"
    "                               (the system's); a resource is always verified,\n"
    "                               TLS 1.2 or later\n"
    "  RESOURCE_TLS_CERT_FILE       client certificate (PEM) for mutual TLS with the\n"
    "                               resources (none; with RESOURCE_TLS_KEY_FILE)\n"
    "  RESOURCE_TLS_KEY_FILE        its unencrypted private key, PEM (none)\n"
    "  SESSION_RETENTION_S          TTL of session keys (300, 60..604800)\n"
    "  DEADLINE_POLL_MS             deadline scan period (25, 5..10000)\n"
    "  MANAGEMENT_PORT              health and metrics port (8091; 0 = any free port)\n"
    "  WORKER_MAX_IN_FLIGHT         messages handled at once; at this many the worker\n"
    "                               takes no more from Kafka until half are done\n"
    "                               (1000, 1..100000)\n"
    "  BREAKER_ENABLED              circuit breaker per resource: 1 on, 0 off (1)\n"
    "  BREAKER_FAILURES             consecutive failures (ERROR, CONNECTION_CLOSED, the\n"
    "                               call's TIMEOUT) that open a resource's circuit\n"
    "                               (5, 1..1000000)\n"
    "  BREAKER_COOLDOWN_MS          how long calls to an open circuit fail fast before one\n"
    "                               probe call decides (10000, 100..86400000)\n"
    "  BREAKER_REFRESH_MS           how often the worker reads the breakers that other\n"
    "                               workers may have changed (1000, 50..60000)\n"
    "  KAFKA_SESSION_TIMEOUT_MS     the group drops a worker silent this long; its\n"
    "                               partitions then move (6000, 1000..3600000; a\n"
    "                               stock broker accepts 6000..1800000)\n"
    "  KAFKA_HEARTBEAT_INTERVAL_MS  heartbeat period; a rebalance reaches a worker at\n"
    "                               its next heartbeat (500, 100.., below the above)\n"
    "  KAFKA_MAX_POLL_INTERVAL_MS   a worker that takes no message this long leaves\n"
    "                               the group (300000, 1000..86400000, at least the\n"
    "                               session timeout)\n"
    "  SHUTDOWN_TIMEOUT_S           on SIGTERM: readiness DOWN, messages in flight\n"
    "                               finished (or left uncommitted at the end),\n"
    "                               offsets committed, group left, exit 0, all\n"
    "                               within this (25, 1..3600)\n"
    "  BIND_ADDR                    management listen address (0.0.0.0)\n"
    "  CPU_SCHED_POLICY             batch (SCHED_BATCH: a just-woken process does not\n"
    "                               preempt the running one; fewer context switches when\n"
    "                               processes share cores) or normal (SCHED_OTHER) (batch)\n"
    "  LOG_LEVEL                    debug|info|warn|error (info)\n"
    "  LOG_FORMAT                   json|text (json)\n"
    "  LOG_PATIENT_KEY              key of the patient id hashes in logs (random per process)\n"
    "  REDIS_PASSWORD_FILE, REDIS_SENTINEL_PASSWORD_FILE, KAFKA_SASL_PASSWORD_FILE,\n"
    "  LOG_PATIENT_KEY_FILE         a file holding that secret instead (a mounted Secret;\n"
    "                               one final newline dropped; not with the variable)\n";

/* Closing the consumer (final commit, leaving the group) blocks in librdkafka;
 * with the broker gone it could outlast SHUTDOWN_TIMEOUT_S, after which the
 * orchestrator would kill the process anyway: end it here with one line. */
static void on_shutdown_overrun(int sig) {
    static const char msg[] = "worker: SHUTDOWN_TIMEOUT_S passed before shutdown finished\n";
    (void)sig;
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(1);
}

/* The drain's share of SHUTDOWN_TIMEOUT_S: what remains (up to 5 s) is for
 * committing and leaving the group. */
static long long drain_budget_ms(long timeout_s) {
    long long total = (long long)timeout_s * 1000;
    long long reserve = total / 2 < 5000 ? total / 2 : 5000;
    return total - reserve;
}

int main(int argc, char **argv) {
    cfg_handle_args(argc, argv, PROG, usage);
    static worker wk;
    worker *w = &wk;
    err_t e = {0};
    if (log_init("worker", &e) != AGG_OK || worker_config_load(&w->cfg, &e) != AGG_OK ||
        tcplive_configure_env(&e) != AGG_OK || cpusched_configure_env(&e) != AGG_OK)
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
    if (loop_run(l) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    signal(SIGALRM, on_shutdown_overrun);
    alarm((unsigned)w->cfg.shutdown_timeout_s);
    if (rc == 0 && worker_drain(w, drain_budget_ms(w->cfg.shutdown_timeout_s)) != AGG_OK) {
        log_error("event loop failed");
        rc = 1;
    }
    log_info("stopped: %ld messages left uncommitted", w->jobs);
    worker_stop(w);
    loop_free(l);
    return rc;
}
