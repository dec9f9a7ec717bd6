/* conncfg: the Kafka and Redis connection settings gateway and worker share (TLS, SASL, the Redis server or sentinels and passwords), read from the environment in one place. */
#ifndef AGG_CONNCFG_H
#define AGG_CONNCFG_H

#include <stddef.h>

#include "err.h"

/* How the Kafka clients authenticate and encrypt, in librdkafka's own terms. Strings are
 * borrowed (from the environment or static); NULL = not set. */
typedef struct conncfg_kafka_security {
    const char *protocol;         /* security.protocol: plaintext, ssl, sasl_plaintext, sasl_ssl */
    const char *sasl_mechanism;   /* sasl.mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 */
    const char *sasl_username;    /* sasl.username */
    const char *sasl_password;    /* sasl.password: never in a log line or an error message */
    const char *ssl_ca_location;  /* ssl.ca.location (PEM); NULL: the system's CAs */
    const char *ssl_cert_location; /* ssl.certificate.location (PEM), with ssl_key_location */
    const char *ssl_key_location; /* ssl.key.location (PEM) */
} conncfg_kafka_security;

/* Where Redis is and the passwords sent with AUTH: one server (REDIS_URL), or the primary that
 * Redis Sentinel names (REDIS_SENTINELS, REDIS_MASTER_NAME). */
#define CONNCFG_SENTINELS_MAX 16
#define CONNCFG_HOST_MAX      256
typedef struct conncfg_hostport {
    char host[CONNCFG_HOST_MAX]; /* without the brackets of an IPv6 address */
    int port;
} conncfg_hostport;

typedef struct conncfg_redis {
    const char *url;      /* REDIS_URL; NULL when sentinels are used */
    const char *password; /* REDIS_PASSWORD, overrides the URL's; NULL: the URL's, if any */
    const char *sentinel_list;     /* REDIS_SENTINELS as given; NULL: REDIS_URL */
    const char *master_name;       /* REDIS_MASTER_NAME: the name the sentinels monitor */
    const char *sentinel_password; /* REDIS_SENTINEL_PASSWORD: AUTH to the sentinels; NULL: none */
    size_t n_sentinels;            /* parsed from sentinel_list by conncfg_redis_check */
    conncfg_hostport sentinels[CONNCFG_SENTINELS_MAX];
} conncfg_redis;

/* Validates s and puts it in canonical form (pure): protocol and mechanism matched without
 * regard to case and replaced by librdkafka's spelling, protocol NULL -> plaintext, mechanism
 * NULL -> SCRAM-SHA-512 under SASL. AGG_ERR with one line naming the variable on an unknown
 * protocol or mechanism, SASL without username or password, SASL settings without SASL, TLS
 * files without TLS, or a certificate without its key (or the reverse). */
int conncfg_kafka_check(conncfg_kafka_security *s, err_t *e);

/* Reads KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
 * KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION, KAFKA_SSL_CERTIFICATE_LOCATION and
 * KAFKA_SSL_KEY_LOCATION into s, checks them (conncfg_kafka_check) and that each file given
 * can be read. AGG_ERR with one line naming the variable otherwise. */
int conncfg_kafka_load(conncfg_kafka_security *s, err_t *e);

/* Checks r's combination and parses sentinel_list ("host[:port],...", port 26379 when left out,
 * "[v6addr]:port" for IPv6) into sentinels (pure). url NULL without sentinels becomes
 * redis://127.0.0.1:6379. AGG_ERR with one line naming the variable when REDIS_URL and
 * REDIS_SENTINELS are both set, when REDIS_SENTINELS and REDIS_MASTER_NAME do not come
 * together, on REDIS_SENTINEL_PASSWORD without sentinels, or on a malformed list (an empty
 * entry, a bad port, more than CONNCFG_SENTINELS_MAX entries, a host too long). */
int conncfg_redis_check(conncfg_redis *r, err_t *e);

/* Reads REDIS_URL, REDIS_PASSWORD, REDIS_SENTINELS, REDIS_MASTER_NAME and
 * REDIS_SENTINEL_PASSWORD into r and checks them (conncfg_redis_check). */
int conncfg_redis_load(conncfg_redis *r, err_t *e);

#endif
