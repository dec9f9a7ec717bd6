/* conncfg: the Kafka and Redis connection settings gateway and worker share (TLS, SASL, the Redis password), read from the environment in one place. */
#ifndef AGG_CONNCFG_H
#define AGG_CONNCFG_H

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

/* Where Redis is and the password sent with AUTH. */
typedef struct conncfg_redis {
    const char *url;      /* REDIS_URL */
    const char *password; /* REDIS_PASSWORD, overrides the URL's; NULL: the URL's, if any */
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

/* Reads REDIS_URL (default redis://127.0.0.1:6379) and REDIS_PASSWORD into r. */
void conncfg_redis_load(conncfg_redis *r);

#endif
