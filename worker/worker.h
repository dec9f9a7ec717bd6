/* worker: the state the worker's modules share (config, clients, metrics, message bookkeeping). */
#ifndef WORKER_WORKER_H
#define WORKER_WORKER_H

#include <stdint.h>

#include "capability.h"
#include "httpc.h"
#include "httpd.h"
#include "kafka.h"
#include "loop.h"
#include "offtrack.h"
#include "rds.h"
#include "reslist.h"
#include "traceparent.h"

#include "metrics.h"
#include "wmetrics.h"

/* Kafka topic indexes (offset tracker, epochs, metrics, intakes). */
enum { WORKER_TOPIC_REQUESTS = 0, WORKER_TOPIC_CALLBACKS = 1, WORKER_TOPICS = 2 };

typedef struct worker_cfg {
    const char *brokers;         /* KAFKA_BROKERS */
    conncfg_kafka_security kafka_security; /* KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* */
    conncfg_redis redis;         /* REDIS_URL, REDIS_PASSWORD */
    const char *group;           /* KAFKA_GROUP_ID */
    const char *topic_requests;  /* KAFKA_TOPIC_REQUESTS */
    const char *topic_callbacks; /* KAFKA_TOPIC_CALLBACKS */
    const char *topic_audit;     /* KAFKA_TOPIC_AUDIT */
    long audit_poll_ms;          /* AUDIT_POLL_MS */
    long audit_claim_idle_ms;    /* AUDIT_CLAIM_IDLE_MS */
    const char *bind_addr;       /* BIND_ADDR */
    int allow_enforced;          /* 1 when RESOURCE_URLS is set */
    resource_list allow;         /* RESOURCE_URLS, the only URLs the worker calls */
    /* AGGREGATOR_CALLBACK_URL: when set, the only callback URL given to resources (a fan-out
     * message's callbackUrl is then ignored); NULL: the message's */
    const char *callback_url;
    long connect_timeout_ms;     /* RESOURCE_CONNECT_TIMEOUT_MS */
    long read_timeout_ms;        /* RESOURCE_READ_TIMEOUT_MS */
    httpc_tls resource_tls;      /* RESOURCE_TLS_CA_FILE, RESOURCE_TLS_CERT_FILE, _KEY_FILE */
    long retention_s;            /* SESSION_RETENTION_S */
    long poll_ms;                /* DEADLINE_POLL_MS */
    long mgmt_port;              /* MANAGEMENT_PORT */
    long max_in_flight;          /* WORKER_MAX_IN_FLIGHT */
    long breaker_enabled;        /* BREAKER_ENABLED (0/1) */
    long breaker_failures;       /* BREAKER_FAILURES */
    long breaker_cooldown_ms;    /* BREAKER_COOLDOWN_MS */
    long breaker_refresh_ms;     /* BREAKER_REFRESH_MS */
    long session_timeout_ms;     /* KAFKA_SESSION_TIMEOUT_MS */
    long heartbeat_interval_ms;  /* KAFKA_HEARTBEAT_INTERVAL_MS */
    long max_poll_interval_ms;   /* KAFKA_MAX_POLL_INTERVAL_MS */
    long shutdown_timeout_s;     /* SHUTDOWN_TIMEOUT_S */
    cap_keys cap_keys;           /* CALLBACK_SIGNING_KEY, CALLBACK_SIGNING_KEY_PREVIOUS */
} worker_cfg;

struct fanout_state;
struct answers_state;
struct deadlines_state;
struct breakers_state;
struct rdsretry_state;
struct auditrelay_state;
struct part_epoch;

struct worker;

/* One topic's intake: its own consumer in its own group (KAFKA_GROUP_ID plus ".requests" or
 * ".callbacks"), so that each topic is balanced over the workers on its own. One consumer for
 * both topics let the group balance the sum: one worker got every requests partition (all the
 * fan-out) and another every callbacks partition. */
typedef struct worker_intake {
    struct worker *w;
    int topic;          /* WORKER_TOPIC_*; the consumer's own topic index is 0 */
    kafka_consumer *kc; /* NULL before start and after stop */
    char *group;        /* the group id, owned */
} worker_intake;

/* One process-wide instance, owned by main.c. Modules borrow it for the
 * process lifetime; everything runs on the loop's thread. */
typedef struct worker {
    worker_cfg cfg;
    loop *l;
    rds *r;
    httpc *hc;
    worker_intake in[WORKER_TOPICS]; /* by topic index */
    int release_first;               /* the intake let in first after the next hold */
    offtrack *ot;
    httpd *mgmt;
    struct actuator *actuator;       /* the management server's shared actuator routes */
    struct httpmetrics *httpmetrics; /* its http_server_requests_seconds */
    wmetrics met; /* the registry and every series the modules count into */
    int stopping; /* SIGTERM seen: begin no new message, drain the ones in flight */
    int closing;  /* tearing down: reply callbacks must not start anything */
    long jobs;    /* messages being handled (fan-out and answer jobs) */
    struct fanout_state *fanout;
    struct answers_state *answers;
    struct deadlines_state *deadlines;
    struct breakers_state *breakers;
    struct rdsretry_state *rdsretry;
    struct auditrelay_state *auditrelay;
    struct part_epoch *epochs;
    int n_epochs;
    int prepare_added;        /* the loop hook is registered */
    long long drain_deadline; /* loop_now_ms() when a drain gives up; 0 = none */
} worker;

/* Identifies one consumed message until it is done. epoch is the
 * partition's revoke count when it was begun: a message of a partition
 * revoked since then is no longer tracked, so finishing it commits nothing. */
typedef struct wmsg {
    int topic;
    int32_t partition;
    int64_t offset;
    unsigned epoch;
    traceparent tp; /* the worker's span of the message's trace (all zero: none) */
} wmsg;

/* Called exactly once per begun message when it is fully handled: marks it
 * done in the offset tracker, stores the committable offset, decrements
 * w->jobs, and ends the drain when stopping and nothing is left. */
void worker_msg_done(worker *w, const wmsg *m);

#endif
