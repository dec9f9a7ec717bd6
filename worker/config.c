/* config: the worker's configuration, read from the environment. */
#include <string.h>

#include "cfg.h"
#include "fanoutmsg.h"
#include "worker.h"

int worker_config_load(worker_cfg *c, err_t *e) {
    c->brokers = cfg_str("KAFKA_BROKERS", NULL);
    if (c->brokers == NULL) return err_set(e, "KAFKA_BROKERS is required");
    if (conncfg_kafka_load(&c->kafka_security, e) != AGG_OK) return AGG_ERR;
    if (conncfg_redis_load(&c->redis, e) != AGG_OK) return AGG_ERR;
    c->group = cfg_str("KAFKA_GROUP_ID", "agg-workers");
    c->topic_requests = cfg_str("KAFKA_TOPIC_REQUESTS", "agg.requests");
    c->topic_callbacks = cfg_str("KAFKA_TOPIC_CALLBACKS", "agg.callbacks");
    c->topic_audit = cfg_str("KAFKA_TOPIC_AUDIT", "agg.audit");
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    if (strcmp(c->topic_requests, c->topic_callbacks) == 0)
        return err_set(e, "KAFKA_TOPIC_REQUESTS and KAFKA_TOPIC_CALLBACKS must differ");
    if (strcmp(c->topic_audit, c->topic_requests) == 0 ||
        strcmp(c->topic_audit, c->topic_callbacks) == 0)
        return err_set(e, "KAFKA_TOPIC_AUDIT must differ from the other topics");
    const char *allow = cfg_str("RESOURCE_URLS", NULL);
    c->allow_enforced = allow != NULL;
    if (allow != NULL && reslist_parse(allow, &c->allow, e) != AGG_OK) return AGG_ERR;
    c->resource_tls = (httpc_tls){.ca_file = cfg_str("RESOURCE_TLS_CA_FILE", NULL),
                                  .cert_file = cfg_str("RESOURCE_TLS_CERT_FILE", NULL),
                                  .key_file = cfg_str("RESOURCE_TLS_KEY_FILE", NULL),
                                  .ca_var = "RESOURCE_TLS_CA_FILE",
                                  .cert_var = "RESOURCE_TLS_CERT_FILE",
                                  .key_var = "RESOURCE_TLS_KEY_FILE"};
    if (httpc_tls_check(&c->resource_tls, e) != AGG_OK) return AGG_ERR;
    if (cfg_url("AGGREGATOR_CALLBACK_URL", NULL, &c->callback_url, e) != AGG_OK) return AGG_ERR;
    if (c->callback_url && strlen(c->callback_url) > FANOUTMSG_URL_MAX)
        return err_set(e, "AGGREGATOR_CALLBACK_URL is longer than %d bytes", FANOUTMSG_URL_MAX);
    if (cfg_long("RESOURCE_CONNECT_TIMEOUT_MS", 5000, 1, 600000, &c->connect_timeout_ms, e) ||
        cfg_long("RESOURCE_READ_TIMEOUT_MS", 30000, 1, 600000, &c->read_timeout_ms, e) ||
        cfg_long("SESSION_RETENTION_S", 300, 60, 604800, &c->retention_s, e) ||
        cfg_long("DEADLINE_POLL_MS", 25, 5, 10000, &c->poll_ms, e) ||
        cfg_long("AUDIT_POLL_MS", 250, 10, 60000, &c->audit_poll_ms, e) ||
        cfg_long("AUDIT_CLAIM_IDLE_MS", 30000, 1000, 3600000, &c->audit_claim_idle_ms, e) ||
        cfg_long("MANAGEMENT_PORT", 8091, 0, 65535, &c->mgmt_port, e) ||
        cfg_long("WORKER_MAX_IN_FLIGHT", 1000, 1, 100000, &c->max_in_flight, e) ||
        cfg_long("BREAKER_ENABLED", 1, 0, 1, &c->breaker_enabled, e) ||
        cfg_long("BREAKER_FAILURES", 5, 1, 1000000, &c->breaker_failures, e) ||
        cfg_long("BREAKER_COOLDOWN_MS", 10000, 100, 86400000, &c->breaker_cooldown_ms, e) ||
        cfg_long("BREAKER_REFRESH_MS", 1000, 50, 60000, &c->breaker_refresh_ms, e) ||
        cfg_long("KAFKA_SESSION_TIMEOUT_MS", 6000, 1000, 3600000, &c->session_timeout_ms, e) ||
        cfg_long("KAFKA_HEARTBEAT_INTERVAL_MS", 500, 100, 3600000, &c->heartbeat_interval_ms,
                 e) ||
        cfg_long("KAFKA_MAX_POLL_INTERVAL_MS", 300000, 1000, 86400000, &c->max_poll_interval_ms,
                 e) ||
        cfg_long("SHUTDOWN_TIMEOUT_S", 25, 1, 3600, &c->shutdown_timeout_s, e))
        return AGG_ERR;
    /* The rules librdkafka and the group protocol set, said here in one line each. */
    if (c->heartbeat_interval_ms >= c->session_timeout_ms)
        return err_set(e, "KAFKA_HEARTBEAT_INTERVAL_MS must be below KAFKA_SESSION_TIMEOUT_MS");
    if (c->max_poll_interval_ms < c->session_timeout_ms)
        return err_set(e, "KAFKA_MAX_POLL_INTERVAL_MS must be at least KAFKA_SESSION_TIMEOUT_MS");
    return cap_keys_load(&c->cap_keys, e);
}

