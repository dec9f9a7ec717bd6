/* config: the gateway's configuration from the environment. */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "gateway.h"
#include "jwtauth.h"

/* AUTH_MODE and, for jwt, the verifier with its key (read and converted once, here). */
static int auth_load(gw_config *c, err_t *e) {
    const char *mode = cfg_str("AUTH_MODE", "none");
    if (strcmp(mode, "none") == 0) return AGG_OK;
    if (strcmp(mode, "jwt") != 0) return err_set(e, "AUTH_MODE must be none or jwt, got '%.20s'", mode);
    jwtauth_options o;
    memset(&o, 0, sizeof o);
    if (cfg_secret("JWT_SECRET", "JWT_SECRET_FILE", &o.hs_secret, &o.hs_secret_len, e) != AGG_OK ||
        cfg_file("JWT_PUBLIC_KEY_FILE", &o.public_key_pem, NULL, e) != AGG_OK ||
        cfg_file("JWT_JWKS_FILE", &o.jwks_json, NULL, e) != AGG_OK ||
        cfg_long("JWT_CLOCK_SKEW_S", 60, 0, 3600, &o.skew_s, e) != AGG_OK)
        return AGG_ERR;
    o.issuer = cfg_str("JWT_ISSUER", NULL);
    o.audience = cfg_str("JWT_AUDIENCE", NULL);
    o.roles_claim = cfg_str("JWT_ROLES_CLAIM", "roles");
    o.admin_role = cfg_str("JWT_ADMIN_ROLE", "aggregator-admin");
    c->auth = jwtauth_new(&o, e);
    return c->auth ? AGG_OK : AGG_ERR;
}

void gw_config_free(gw_config *c) {
    jwtauth_free(c->auth);
    c->auth = NULL;
}

int gw_config_load(gw_config *c, err_t *e) {
    long port;
    memset(c, 0, sizeof *c);
    if (cfg_long("SERVER_PORT", 8080, 1, 65535, &port, e) != AGG_OK) return AGG_ERR;
    c->port = (int)port;
    if (cfg_long("CALLBACK_PORT", 0, 0, 65535, &port, e) != AGG_OK) return AGG_ERR;
    if (port == c->port)
        return err_set(e, "CALLBACK_PORT must differ from SERVER_PORT (%d); 0 serves callbacks "
                          "on SERVER_PORT",
                       c->port);
    c->callback_port = (int)port;
    c->bind_addr = cfg_str("BIND_ADDR", "0.0.0.0");
    c->kafka_brokers = cfg_str("KAFKA_BROKERS", NULL);
    if (!c->kafka_brokers) return err_set(e, "KAFKA_BROKERS is required (host:port,...)");
    if (conncfg_kafka_load(&c->kafka_security, e) != AGG_OK) return AGG_ERR;
    if (conncfg_redis_load(&c->redis, e) != AGG_OK) return AGG_ERR;
    if (reslist_parse(cfg_str("RESOURCE_URLS", ""), &c->resources, e) != AGG_OK) {
        err_t inner = *e;
        return err_set(e, "RESOURCE_URLS: %s", inner.text);
    }
    if (tlsserve_config_load(&c->tls, 0, e) != AGG_OK) return AGG_ERR;
    char def_cb[128];
    snprintf(def_cb, sizeof def_cb, "%s://127.0.0.1:%d/aggregate/callback",
             c->tls.cert_file ? "https" : "http", c->callback_port ? c->callback_port : c->port);
    const char *cb;
    if (cfg_url("AGGREGATOR_CALLBACK_URL", def_cb, &cb, e) != AGG_OK) return AGG_ERR;
    if (strlen(cb) >= sizeof c->callback_url)
        return err_set(e, "AGGREGATOR_CALLBACK_URL is longer than %zu bytes",
                       sizeof c->callback_url - 1);
    strcpy(c->callback_url, cb);
    if (cfg_long("AGGREGATOR_TIMEOUT_MAX_MS", 27000, 1, 3600000, &c->timeout_max_ms, e) != AGG_OK ||
        cfg_long("AGGREGATOR_TIMEOUT_DEFAULT_MS", 10000, 1, 3600000, &c->timeout_default_ms, e) !=
            AGG_OK ||
        cfg_long("SESSION_RETENTION_S", 300, 60, 604800, &c->retention_s, e) != AGG_OK ||
        cfg_long("SSE_KEEPALIVE_MS", 15000, 100, 600000, &c->keepalive_ms, e) != AGG_OK ||
        cfg_long("SSE_BUFFER_LIMIT_BYTES", 65536, 1024, 16777216, &c->stream_buffer_limit, e) !=
            AGG_OK ||
        cfg_long("WAIT_GRACE_MS", 5000, 0, 600000, &c->wait_grace_ms, e) != AGG_OK ||
        cfg_long("MAX_CONNECTIONS", 0, 0, 1000000, &c->max_connections, e) != AGG_OK ||
        cfg_long("HTTP_LISTENERS", 64, 1, HTTPD_MAX_LISTENERS, &c->http_listeners, e) != AGG_OK ||
        cfg_long("CONNECTION_MEMORY_LIMIT_BYTES", 8192, 0, 1048576, &c->conn_memory_limit, e) !=
            AGG_OK ||
        cfg_long("KAFKA_LINGER_MS", 2, 0, 1000, &c->linger_ms, e) != AGG_OK ||
        cfg_long("KAFKA_BATCH_ABOVE_PER_S", 4000, 0, 10000000, &c->batch_above_per_s, e) !=
            AGG_OK ||
        cfg_long("MAX_PENDING_PUBLISHES", 5000, 0, 10000000, &c->max_pending, e) != AGG_OK ||
        cfg_long("KAFKA_PRODUCE_TIMEOUT_MS", 5000, 100, 300000, &c->produce_timeout_ms, e) !=
            AGG_OK ||
        cfg_long("SHUTDOWN_TIMEOUT_S", 25, 1, 3600, &c->shutdown_timeout_s, e) != AGG_OK ||
        cfg_long("SHUTDOWN_RETRY_MS", 1000, 0, 600000, &c->shutdown_retry_ms, e) != AGG_OK ||
        cfg_long("HTTP_HEADER_TIMEOUT_MS", 10000, 0, 3600000, &c->header_timeout_ms, e) !=
            AGG_OK ||
        cfg_long("HTTP_BODY_TIMEOUT_MS", 10000, 0, 3600000, &c->body_timeout_ms, e) != AGG_OK ||
        cfg_long("HTTP_IDLE_TIMEOUT_MS", 65000, 0, 3600000, &c->idle_timeout_ms, e) != AGG_OK ||
        cfg_long("RATE_LIMIT_RPS", 0, 0, 1000000, &c->rate_limit_rps, e) != AGG_OK ||
        cfg_long("RATE_LIMIT_BURST", c->rate_limit_rps ? 2 * c->rate_limit_rps : 1, 1, 10000000,
                 &c->rate_limit_burst, e) != AGG_OK ||
        cfg_long("MAX_SSE_STREAMS", 20000, 0, 10000000, &c->max_sse_streams, e) != AGG_OK ||
        cfg_long("MAX_SESSIONS_IN_FLIGHT", 50000, 0, 100000000, &c->max_sessions_in_flight, e) !=
            AGG_OK)
        return AGG_ERR;
    const char *scope = cfg_str("RATE_LIMIT_SCOPE", "local");
    if (strcmp(scope, "cluster") == 0)
        c->rate_limit_cluster = 1;
    else if (strcmp(scope, "local") != 0)
        return err_set(e, "RATE_LIMIT_SCOPE must be local or cluster, got '%.20s'", scope);
    if (c->timeout_default_ms > c->timeout_max_ms)
        return err_set(
            e, "AGGREGATOR_TIMEOUT_DEFAULT_MS (%ld) is above AGGREGATOR_TIMEOUT_MAX_MS (%ld)",
            c->timeout_default_ms, c->timeout_max_ms);
    if (c->conn_memory_limit && c->conn_memory_limit < 2048)
        return err_set(e, "CONNECTION_MEMORY_LIMIT_BYTES must be 0 (default) or at least 2048");
    c->cors_origins =
        cfg_str("CORS_ALLOWED_ORIGINS", "http://localhost:8082,http://127.0.0.1:8082");
    c->topic_requests = cfg_str("KAFKA_TOPIC_REQUESTS", "agg.requests");
    c->topic_callbacks = cfg_str("KAFKA_TOPIC_CALLBACKS", "agg.callbacks");
    if (cap_keys_load(&c->cap_keys, e) != AGG_OK) return AGG_ERR;
    return auth_load(c, e);
}
