/* gateway: the state shared by the gateway's modules (one instance per process). */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include "err.h"
#include "gwmetrics.h"
#include "httpd.h"
#include "kafka.h"
#include "metrics.h"
#include "produce.h"
#include "loop.h"
#include "rds.h"
#include "reslist.h"
#include "tlsserve.h"

typedef struct gw_config {
    int port;                    /* SERVER_PORT */
    int callback_port;           /* CALLBACK_PORT: 0 = callbacks on SERVER_PORT */
    const char *bind_addr;       /* BIND_ADDR */
    const char *kafka_brokers;   /* KAFKA_BROKERS */
    conncfg_kafka_security kafka_security; /* KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* */
    conncfg_redis redis;         /* REDIS_URL, REDIS_PASSWORD */
    resource_list resources;     /* RESOURCE_URLS */
    char callback_url[600];      /* AGGREGATOR_CALLBACK_URL */
    long timeout_default_ms;     /* AGGREGATOR_TIMEOUT_DEFAULT_MS */
    long timeout_max_ms;         /* AGGREGATOR_TIMEOUT_MAX_MS */
    long retention_s;            /* SESSION_RETENTION_S */
    const char *cors_origins;    /* CORS_ALLOWED_ORIGINS */
    long keepalive_ms;           /* SSE_KEEPALIVE_MS */
    long stream_buffer_limit;    /* SSE_BUFFER_LIMIT_BYTES */
    long wait_grace_ms;          /* WAIT_GRACE_MS: extra wait for a WAIT_FOR_EVERYONE summary */
    long max_connections;        /* MAX_CONNECTIONS, 0 = libmicrohttpd's default */
    long http_listeners;         /* HTTP_LISTENERS: libmicrohttpd daemons per port */
    long conn_memory_limit;      /* CONNECTION_MEMORY_LIMIT_BYTES */
    const char *topic_requests;  /* KAFKA_TOPIC_REQUESTS */
    const char *topic_callbacks; /* KAFKA_TOPIC_CALLBACKS */
    long linger_ms;              /* KAFKA_LINGER_MS: linger of the batching producer */
    long batch_above_per_s;      /* KAFKA_BATCH_ABOVE_PER_S: messages/s from which to batch */
    long max_pending;            /* MAX_PENDING_PUBLISHES: shed new sessions above, 0 = never */
    long produce_timeout_ms;     /* KAFKA_PRODUCE_TIMEOUT_MS */
    long shutdown_timeout_s;     /* SHUTDOWN_TIMEOUT_S: the longest drain after SIGTERM */
    long shutdown_retry_ms;      /* SHUTDOWN_RETRY_MS: retry hint to handed-over streams */
    long header_timeout_ms;      /* HTTP_HEADER_TIMEOUT_MS */
    long body_timeout_ms;        /* HTTP_BODY_TIMEOUT_MS */
    long idle_timeout_ms;        /* HTTP_IDLE_TIMEOUT_MS */
    long rate_limit_rps;         /* RATE_LIMIT_RPS: per client address, 0 = no limit */
    long rate_limit_burst;       /* RATE_LIMIT_BURST */
    cap_keys cap_keys;           /* CALLBACK_SIGNING_KEY, CALLBACK_SIGNING_KEY_PREVIOUS */
    struct jwtauth *auth;        /* AUTH_MODE=jwt: the verifier (owned, gw_config_free); none: NULL */
    tlsserve_config tls;         /* TLS_CERT_FILE, TLS_KEY_FILE: both listeners */
    int rate_limit_cluster;      /* RATE_LIMIT_SCOPE=cluster: one bucket per client in Redis */
    long max_sse_streams;        /* MAX_SSE_STREAMS: open streams on this replica, 0 = no cap */
    long max_sessions_in_flight; /* MAX_SESSIONS_IN_FLIGHT: before their deadline, 0 = no cap */
} gw_config;


struct gw_listeners;
struct gw_streams;

typedef struct gateway {
    loop *l;
    gw_config cfg;
    httpd *http;          /* SERVER_PORT */
    httpd *callback_http; /* CALLBACK_PORT; NULL when callbacks come to SERVER_PORT */
    rds *redis;
    rds_sub *sub;
    gw_producer *kafka;
    struct gw_listeners *listeners;
    struct gw_streams *streams;
    struct actuator *actuator;       /* the shared actuator routes */
    struct httpmetrics *httpmetrics; /* http_server_requests_seconds of both listeners */
    gw_metrics metrics;
    tlsserve *tls;                /* NULL without TLS_CERT_FILE; owned */
    struct gw_admission *admission; /* rate limit, caps, shedding (admission.h) */
    long posts_publishing; /* POSTs accepted and not yet acknowledged by Kafka */
    int draining;          /* SIGTERM: not ready, no new sessions or streams (gw_drain) */
} gateway;

/* Reads the configuration from the environment into c. AGG_ERR with one
 * line naming the variable when a value is invalid. */
int gw_config_load(gw_config *c, err_t *e);
/* Frees what gw_config_load allocated (the verifier; cfg keeps the files it read). */
void gw_config_free(gw_config *c);

/* Answers 503 {"error":"unavailable"} naming what is down. */
void gw_respond_unavailable(httpd_req *r, const char *what);
/* Answers 503 {"error":"shutting_down"} with Retry-After: a new session or stream
 * while the gateway drains. */
void gw_respond_draining(gateway *gw, httpd_req *r);
/* Answers a request that failed with e: 503 {"error":"out_of_memory"} when
 * e is out of memory, else as gw_respond_unavailable(r, what). */
void gw_respond_failure(httpd_req *r, const err_t *e, const char *what);

#endif
