/* conncfg: reads and validates the Kafka security and the Redis address (one server or sentinels) and credentials gateway and worker share. */
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
        .ssl_ca_location = cfg_str("KAFKA_SSL_CA_LOCATION", NULL),
        .ssl_cert_location = cfg_str("KAFKA_SSL_CERTIFICATE_LOCATION", NULL),
        .ssl_key_location = cfg_str("KAFKA_SSL_KEY_LOCATION", NULL),
    };
    if (cfg_secret("KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE", &s->sasl_password, NULL, e) !=
            AGG_OK ||
        conncfg_kafka_check(s, e) != AGG_OK ||
        readable("KAFKA_SSL_CA_LOCATION", s->ssl_ca_location, e) != AGG_OK ||
        readable("KAFKA_SSL_CERTIFICATE_LOCATION", s->ssl_cert_location, e) != AGG_OK ||
        readable("KAFKA_SSL_KEY_LOCATION", s->ssl_key_location, e) != AGG_OK)
        return AGG_ERR;
    return AGG_OK;
}

/* Parses one "host[:port]" or "[v6]:port" of n bytes into hp. */
static int parse_hostport(const char *s, size_t n, conncfg_hostport *hp) {
    const char *host = s, *port = NULL;
    size_t host_len;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return AGG_ERR;
        host = s + 1;
        host_len = (size_t)(close - host);
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':') return AGG_ERR;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        host_len = colon ? (size_t)(colon - s) : n;
        if (colon) port = colon + 1;
        if (colon && memchr(colon + 1, ':', n - host_len - 1)) return AGG_ERR; /* IPv6 unbracketed */
    }
    if (host_len == 0 || host_len >= CONNCFG_HOST_MAX) return AGG_ERR;
    for (size_t i = 0; i < host_len; i++)
        if (host[i] == ' ' || host[i] == '\t' || host[i] == '/' || host[i] == '@') return AGG_ERR;
    memcpy(hp->host, host, host_len);
    hp->host[host_len] = '\0';
    hp->port = 26379;
    if (port) {
        size_t plen = n - (size_t)(port - s);
        long v = 0;
        if (plen == 0 || plen > 5) return AGG_ERR;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9') return AGG_ERR;
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535) return AGG_ERR;
        hp->port = (int)v;
    }
    return AGG_OK;
}

int conncfg_redis_check(conncfg_redis *r, err_t *e) {
    r->n_sentinels = 0;
    if (!r->sentinel_list) {
        if (r->master_name)
            return err_set(e, "REDIS_MASTER_NAME is set but REDIS_SENTINELS is not (host:port,...)");
        if (r->sentinel_password)
            return err_set(e, "REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not");
        if (!r->url) r->url = "redis://127.0.0.1:6379";
        return AGG_OK;
    }
    /* Two ways to find Redis would leave one silently unused. */
    if (r->url)
        return err_set(e, "REDIS_URL and REDIS_SENTINELS are both set: use REDIS_URL for one "
                          "server or REDIS_SENTINELS with REDIS_MASTER_NAME, not both");
    if (!r->master_name)
        return err_set(e, "REDIS_SENTINELS needs REDIS_MASTER_NAME (the name the sentinels "
                          "monitor)");
    if (strpbrk(r->master_name, " \t\r\n"))
        return err_set(e, "REDIS_MASTER_NAME must not contain white space");
    const char *p = r->sentinel_list;
    for (;;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) p++, n--;
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t')) m--;
        if (r->n_sentinels == CONNCFG_SENTINELS_MAX)
            return err_set(e, "REDIS_SENTINELS: more than %d sentinels", CONNCFG_SENTINELS_MAX);
        if (m == 0 || parse_hostport(p, m, &r->sentinels[r->n_sentinels]) != AGG_OK)
            return err_set(e, "REDIS_SENTINELS: entry %zu is not host:port (got '%.*s')",
                           r->n_sentinels + 1, (int)(m > 60 ? 60 : m), p);
        r->n_sentinels++;
        if (p[n] != ',') break;
        p += n + 1;
    }
    return AGG_OK;
}

int conncfg_redis_load(conncfg_redis *r, err_t *e) {
    memset(r, 0, sizeof *r);
    r->url = cfg_str("REDIS_URL", NULL);
    r->sentinel_list = cfg_str("REDIS_SENTINELS", NULL);
    r->master_name = cfg_str("REDIS_MASTER_NAME", NULL);
    if (cfg_secret("REDIS_PASSWORD", "REDIS_PASSWORD_FILE", &r->password, NULL, e) != AGG_OK ||
        cfg_secret("REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_PASSWORD_FILE", &r->sentinel_password,
                   NULL, e) != AGG_OK)
        return AGG_ERR;
    return conncfg_redis_check(r, e);
}
