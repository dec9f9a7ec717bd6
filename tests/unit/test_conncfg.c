/* Unit tests for conncfg: Kafka TLS/SASL settings checked and canonicalised, read from the environment, and the Redis server, sentinels and passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conncfg.h"
#include "err.h"

/* A password no error message may show. */
#define SECRET "s3cr3t-Pa55"

static const char *const VARS_SET_HERE[] = {
    "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",           "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",     "KAFKA_SSL_CA_LOCATION",          "KAFKA_SSL_CERTIFICATE_LOCATION",
    "KAFKA_SSL_KEY_LOCATION",  "REDIS_URL",                      "REDIS_PASSWORD",
    "REDIS_SENTINELS",         "REDIS_MASTER_NAME",              "REDIS_SENTINEL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE", "REDIS_PASSWORD_FILE",           "REDIS_SENTINEL_PASSWORD_FILE"};

static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof VARS_SET_HERE / sizeof VARS_SET_HERE[0]; i++) unsetenv(VARS_SET_HERE[i]);
    return 0;
}

/* Expects s to be refused with a message containing want and never the password. */
static void expect_refused(conncfg_kafka_security s, const char *want) {
    err_t e;
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_ERR);
    if (!strstr(e.text, want)) fail_msg("'%s' does not name '%s'", e.text, want);
    assert_null(strstr(e.text, SECRET));
}

static void test_unset_is_plaintext(void **state) {
    (void)state;
    conncfg_kafka_security s = {0};
    err_t e;
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_OK);
    assert_string_equal(s.protocol, "plaintext");
    assert_null(s.sasl_mechanism);
}

static void test_protocol_and_mechanism_are_canonical(void **state) {
    (void)state;
    err_t e;
    conncfg_kafka_security s = {.protocol = "SASL_SSL", .sasl_username = "agg",
                                .sasl_password = SECRET};
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_OK);
    assert_string_equal(s.protocol, "sasl_ssl");
    assert_string_equal(s.sasl_mechanism, "PLAIN"); /* the default under SASL */
    s = (conncfg_kafka_security){.protocol = "sasl_plaintext", .sasl_mechanism = "plain",
                                 .sasl_username = "agg", .sasl_password = SECRET};
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_OK);
    assert_string_equal(s.sasl_mechanism, "PLAIN");
    s.sasl_mechanism = "scram-sha-256";
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_OK);
    assert_string_equal(s.sasl_mechanism, "SCRAM-SHA-256");
    s = (conncfg_kafka_security){.protocol = "Ssl", .ssl_ca_location = "/ca.pem",
                                 .ssl_cert_location = "/c.pem", .ssl_key_location = "/k.pem"};
    assert_int_equal(conncfg_kafka_check(&s, &e), AGG_OK);
    assert_string_equal(s.protocol, "ssl");
}

static void test_bad_combinations_are_refused(void **state) {
    (void)state;
    expect_refused((conncfg_kafka_security){.protocol = "tls"}, "KAFKA_SECURITY_PROTOCOL");
    expect_refused((conncfg_kafka_security){.protocol = "sasl_ssl", .sasl_mechanism = "GSSAPI",
                                            .sasl_username = "agg", .sasl_password = SECRET},
                   "KAFKA_SASL_MECHANISM");
    expect_refused((conncfg_kafka_security){.protocol = "sasl_ssl", .sasl_password = SECRET},
                   "KAFKA_SASL_USERNAME");
    expect_refused((conncfg_kafka_security){.protocol = "sasl_plaintext", .sasl_username = "agg"},
                   "KAFKA_SASL_PASSWORD");
    /* Credentials or TLS files that the protocol would silently not use. */
    expect_refused((conncfg_kafka_security){.sasl_username = "agg", .sasl_password = SECRET},
                   "KAFKA_SASL_");
    expect_refused((conncfg_kafka_security){.protocol = "sasl_plaintext", .sasl_username = "agg",
                                            .sasl_password = SECRET, .ssl_ca_location = "/ca"},
                   "KAFKA_SSL_");
    expect_refused((conncfg_kafka_security){.protocol = "ssl", .ssl_cert_location = "/c.pem"},
                   "KAFKA_SSL_KEY_LOCATION");
    expect_refused((conncfg_kafka_security){.protocol = "sasl_ssl", .sasl_username = "agg",
                                            .sasl_password = SECRET, .ssl_key_location = "/k"},
                   "KAFKA_SSL_CERTIFICATE_LOCATION");
}

/* A file of the test's own with some PEM-looking text; path filled. */
static void temp_file(char *path, size_t n) {
    snprintf(path, n, "/tmp/agg-test-conncfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "-----BEGIN CERTIFICATE-----\n", 28), 28);
    close(fd);
}

static void test_load_reads_the_environment(void **state) {
    (void)state;
    char ca[64], cert[64], key[64];
    temp_file(ca, sizeof ca);
    temp_file(cert, sizeof cert);
    temp_file(key, sizeof key);
    setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", 1);
    setenv("KAFKA_SASL_USERNAME", "agg", 1);
    setenv("KAFKA_SASL_PASSWORD", SECRET, 1);
    setenv("KAFKA_SSL_CA_LOCATION", ca, 1);
    setenv("KAFKA_SSL_CERTIFICATE_LOCATION", cert, 1);
    setenv("KAFKA_SSL_KEY_LOCATION", key, 1);
    conncfg_kafka_security s;
    err_t e;
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_OK);
    assert_string_equal(s.protocol, "sasl_ssl");
    assert_string_equal(s.sasl_mechanism, "SCRAM-SHA-256");
    assert_string_equal(s.sasl_username, "agg");
    assert_string_equal(s.sasl_password, SECRET);
    assert_string_equal(s.ssl_ca_location, ca);
    assert_string_equal(s.ssl_cert_location, cert);
    assert_string_equal(s.ssl_key_location, key);

    /* A file that cannot be read: missing, or a directory. */
    setenv("KAFKA_SSL_KEY_LOCATION", "/nonexistent/key.pem", 1);
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "KAFKA_SSL_KEY_LOCATION"));
    assert_non_null(strstr(e.text, "/nonexistent/key.pem"));
    assert_null(strstr(e.text, SECRET));
    setenv("KAFKA_SSL_KEY_LOCATION", key, 1);
    setenv("KAFKA_SSL_CA_LOCATION", "/tmp", 1);
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "KAFKA_SSL_CA_LOCATION"));
    /* An empty variable is unset. */
    setenv("KAFKA_SSL_CA_LOCATION", "", 1);
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_OK);
    assert_null(s.ssl_ca_location);
    unlink(ca);
    unlink(cert);
    unlink(key);
}

static void test_redis_password_from_the_environment(void **state) {
    (void)state;
    conncfg_redis r;
    err_t e;
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_OK);
    assert_string_equal(r.url, "redis://127.0.0.1:6379");
    assert_null(r.password);
    assert_int_equal(r.n_sentinels, 0);
    setenv("REDIS_URL", "redis://:inurl@redis:6380", 1);
    setenv("REDIS_PASSWORD", "p@ss:w/rd", 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_OK);
    assert_string_equal(r.url, "redis://:inurl@redis:6380");
    assert_string_equal(r.password, "p@ss:w/rd");
}

/* Each password may come from a file (a mounted Secret) instead; both at once, or a file that
 * cannot be read, is refused naming the variable and never the secret. */
static void test_passwords_from_files(void **state) {
    (void)state;
    char path[64];
    snprintf(path, sizeof path, "/tmp/agg-test-conncfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SECRET "\n", sizeof SECRET), (ssize_t)sizeof SECRET);
    close(fd);
    conncfg_redis r;
    err_t e;
    setenv("REDIS_PASSWORD_FILE", path, 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_OK);
    assert_string_equal(r.password, SECRET);
    setenv("REDIS_PASSWORD", SECRET, 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "REDIS_PASSWORD_FILE"));
    assert_null(strstr(e.text, SECRET));
    unsetenv("REDIS_PASSWORD");
    unsetenv("REDIS_PASSWORD_FILE");
    setenv("REDIS_SENTINELS", "s1", 1);
    setenv("REDIS_MASTER_NAME", "m", 1);
    setenv("REDIS_SENTINEL_PASSWORD_FILE", path, 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_OK);
    assert_string_equal(r.sentinel_password, SECRET);
    setenv("REDIS_SENTINEL_PASSWORD_FILE", "/nonexistent/secret", 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "REDIS_SENTINEL_PASSWORD_FILE"));
    conncfg_kafka_security s;
    setenv("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext", 1);
    setenv("KAFKA_SASL_USERNAME", "agg", 1);
    setenv("KAFKA_SASL_PASSWORD_FILE", path, 1);
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_OK);
    assert_string_equal(s.sasl_password, SECRET);
    setenv("KAFKA_SASL_PASSWORD_FILE", "/nonexistent/secret", 1);
    assert_int_equal(conncfg_kafka_load(&s, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "KAFKA_SASL_PASSWORD_FILE"));
    unlink(path);
}

static void test_sentinels_are_parsed(void **state) {
    (void)state;
    conncfg_redis r;
    err_t e;
    setenv("REDIS_SENTINELS", "s1:26379, s2 ,[::1]:26380,10.0.0.4:1", 1);
    setenv("REDIS_MASTER_NAME", "mymaster", 1);
    setenv("REDIS_SENTINEL_PASSWORD", SECRET, 1);
    setenv("REDIS_PASSWORD", "data", 1);
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_OK);
    assert_null(r.url); /* no default server: the sentinels say where */
    assert_int_equal(r.n_sentinels, 4);
    assert_string_equal(r.sentinels[0].host, "s1");
    assert_int_equal(r.sentinels[0].port, 26379);
    assert_string_equal(r.sentinels[1].host, "s2");
    assert_int_equal(r.sentinels[1].port, 26379); /* the default port */
    assert_string_equal(r.sentinels[2].host, "::1");
    assert_int_equal(r.sentinels[2].port, 26380);
    assert_string_equal(r.sentinels[3].host, "10.0.0.4");
    assert_int_equal(r.sentinels[3].port, 1);
    assert_string_equal(r.master_name, "mymaster");
    assert_string_equal(r.sentinel_password, SECRET);
    assert_string_equal(r.password, "data");
}

/* Expects r to be refused with a message containing want and never the password. */
static void expect_redis_refused(conncfg_redis r, const char *want) {
    err_t e;
    assert_int_equal(conncfg_redis_check(&r, &e), AGG_ERR);
    assert_non_null(strstr(e.text, want));
    assert_null(strstr(e.text, SECRET));
}

static void test_bad_redis_combinations_are_refused(void **state) {
    (void)state;
    conncfg_redis base = {.sentinel_list = "s1:26379", .master_name = "m"};
    conncfg_redis r = base;
    r.url = "redis://x:6379";
    expect_redis_refused(r, "REDIS_URL and REDIS_SENTINELS are both set");
    r = base;
    r.master_name = NULL;
    expect_redis_refused(r, "REDIS_SENTINELS needs REDIS_MASTER_NAME");
    expect_redis_refused((conncfg_redis){.master_name = "m"}, "REDIS_MASTER_NAME is set");
    expect_redis_refused((conncfg_redis){.sentinel_password = SECRET}, "REDIS_SENTINEL_PASSWORD");
    r = base;
    r.master_name = "my master";
    expect_redis_refused(r, "REDIS_MASTER_NAME");
    static const char *const bad[] = {"",        ",",          "s1:26379,", "s1:",     "s1:0",
                                      "s1:65536", "s1:12a",    "::1:26379", "[::1",    "[::1]x",
                                      ":26379",   "user@s1:1", "s1:26379,,s2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = base;
        r.sentinel_list = bad[i];
        expect_redis_refused(r, "REDIS_SENTINELS");
    }
    char many[512] = "";
    for (int i = 0; i <= CONNCFG_SENTINELS_MAX; i++) strcat(many, i ? ",s:1" : "s:1");
    r = base;
    r.sentinel_list = many;
    expect_redis_refused(r, "more than");
    char longhost[CONNCFG_HOST_MAX + 8];
    memset(longhost, 'h', CONNCFG_HOST_MAX);
    strcpy(longhost + CONNCFG_HOST_MAX, ":1");
    r = base;
    r.sentinel_list = longhost;
    expect_redis_refused(r, "REDIS_SENTINELS");
    /* Through the environment as well: both set is a configuration error. */
    setenv("REDIS_URL", "redis://x:6379", 1);
    setenv("REDIS_SENTINELS", "s1", 1);
    setenv("REDIS_MASTER_NAME", "m", 1);
    err_t e;
    assert_int_equal(conncfg_redis_load(&r, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "both set"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_unset_is_plaintext, clear_env),
        cmocka_unit_test_setup(test_protocol_and_mechanism_are_canonical, clear_env),
        cmocka_unit_test_setup(test_bad_combinations_are_refused, clear_env),
        cmocka_unit_test_setup(test_load_reads_the_environment, clear_env),
        cmocka_unit_test_setup(test_redis_password_from_the_environment, clear_env),
        cmocka_unit_test_setup(test_passwords_from_files, clear_env),
        cmocka_unit_test_setup(test_sentinels_are_parsed, clear_env),
        cmocka_unit_test_setup(test_bad_redis_combinations_are_refused, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
