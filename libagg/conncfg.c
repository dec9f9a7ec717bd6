/* conncfg: reads and validates the Kafka security and Redis credentials gateway and worker share. */
#include "conncfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

static const char *const PROTOCOLS[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
static const char *const MECHANISMS[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
#define DEFAULT_MECHANISM "PLAIN" /* SCRAM of librdkafka < 2.6.1 fails with Kafka 4 */

/* The entry of names[0..n) equal to s without regard to case, or NULL. */
static const char *match(const char *s, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0) return names[i];
    return NULL;
}

int conncfg_kafka_check(conncfg_kafka_security *s, err_t *e) {
    const char *protocol = s->protocol ? s->protocol : PROTOCOLS[0];
    s->protocol = match(protocol, PROTOCOLS, sizeof PROTOCOLS / sizeof PROTOCOLS[0]);
    if (!s->protocol)
        return err_set(e,
                       "KAFKA_SECURITY_PROTOCOL must be plaintext, ssl, sasl_plaintext or "
                       "sasl_ssl, got '%.40s'",
                       protocol);
    int sasl = strncmp(s->protocol, "sasl_", 5) == 0;
    int tls = strcmp(s->protocol, "ssl") == 0 || strcmp(s->protocol, "sasl_ssl") == 0;
    if (!sasl) {
        /* Credentials without SASL would silently not be sent: a forgotten protocol. */
        if (s->sasl_mechanism || s->sasl_username || s->sasl_password)
            return err_set(e, "KAFKA_SASL_* are set but KAFKA_SECURITY_PROTOCOL is %s (want "
                              "sasl_plaintext or sasl_ssl)",
                           s->protocol);
    } else {
        const char *mech = s->sasl_mechanism ? s->sasl_mechanism : DEFAULT_MECHANISM;
        s->sasl_mechanism = match(mech, MECHANISMS, sizeof MECHANISMS / sizeof MECHANISMS[0]);
        if (!s->sasl_mechanism)
            return err_set(e,
                           "KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, "
                           "got '%.40s'",
                           mech);
        if (!s->sasl_username || !s->sasl_password)
            return err_set(e, "KAFKA_SECURITY_PROTOCOL %s needs KAFKA_SASL_USERNAME and "
                              "KAFKA_SASL_PASSWORD",
                           s->protocol);
    }
    if (!tls && (s->ssl_ca_location || s->ssl_cert_location || s->ssl_key_location))
        return err_set(e, "KAFKA_SSL_* are set but KAFKA_SECURITY_PROTOCOL is %s (want ssl or "
                          "sasl_ssl)",
                       s->protocol);
    if (!s->ssl_cert_location != !s->ssl_key_location)
        return err_set(e, "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go "
                          "together (a client certificate and its key)");
    return AGG_OK;
}

/* AGG_OK when path is unset or a file that can be read (a directory opens but cannot: its first
 * read fails). */
static int readable(const char *name, const char *path, err_t *e) {
    if (!path) return AGG_OK;
    FILE *f = fopen(path, "r");
    if (f) {
        (void)getc(f);
        errno = ferror(f) ? (errno ? errno : EIO) : 0;
        fclose(f);
        if (errno == 0) return AGG_OK;
    }
    return err_set(e, "%s: cannot read '%.120s': %s", name, path, strerror(errno));
}

int conncfg_kafka_load(conncfg_kafka_security *s, err_t *e) {
    *s = (conncfg_kafka_security){
        .protocol = cfg_str("KAFKA_SECURITY_PROTOCOL", NULL),
        .sasl_mechanism = cfg_str("KAFKA_SASL_MECHANISM", NULL),
        .sasl_username = cfg_str("KAFKA_SASL_USERNAME", NULL),
        .sasl_password = cfg_str("KAFKA_SASL_PASSWORD", NULL),
        .ssl_ca_location = cfg_str("KAFKA_SSL_CA_LOCATION", NULL),
        .ssl_cert_location = cfg_str("KAFKA_SSL_CERTIFICATE_LOCATION", NULL),
        .ssl_key_location = cfg_str("KAFKA_SSL_KEY_LOCATION", NULL),
    };
    if (conncfg_kafka_check(s, e) != AGG_OK ||
        readable("KAFKA_SSL_CA_LOCATION", s->ssl_ca_location, e) != AGG_OK ||
        readable("KAFKA_SSL_CERTIFICATE_LOCATION", s->ssl_cert_location, e) != AGG_OK ||
        readable("KAFKA_SSL_KEY_LOCATION", s->ssl_key_location, e) != AGG_OK)
        return AGG_ERR;
    return AGG_OK;
}

void conncfg_redis_load(conncfg_redis *r) {
    r->url = cfg_str("REDIS_URL", "redis://127.0.0.1:6379");
    r->password = cfg_str("REDIS_PASSWORD", NULL);
}
