/* Unit tests for cfg: environment parsing and the shared argv handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc.h"
#include "cfg.h"
#include "err.h"
#include "failalloc.h"

#define VAR "AGG_TEST_CFG_VAR"

static int unset_var(void **state) {
    (void)state;
    unsetenv(VAR);
    return 0;
}

static void test_long_default(void **state) {
    (void)state;
    long v = 0;
    err_t e;
    assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, &e), AGG_OK);
    assert_int_equal(v, 42);
    setenv(VAR, "", 1);
    v = 0;
    assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, &e), AGG_OK);
    assert_int_equal(v, 42);
}

static void test_long_values_and_bounds(void **state) {
    (void)state;
    long v = 0;
    err_t e;
    setenv(VAR, "1", 1);
    assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, &e), AGG_OK);
    assert_int_equal(v, 1);
    setenv(VAR, "100", 1);
    assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, &e), AGG_OK);
    assert_int_equal(v, 100);
    setenv(VAR, "-5", 1);
    assert_int_equal(cfg_long(VAR, 0, -10, 10, &v, &e), AGG_OK);
    assert_int_equal(v, -5);
    const char *bad[] = {
        "0", "101", "abc", "1x", " 5", "5 ", "+5", "1.0", "-", "0x10", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(VAR, bad[i], 1);
        memset(&e, 0, sizeof e);
        v = 7;
        assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, &e), AGG_ERR);
        assert_int_equal(v, 7);
        assert_non_null(strstr(e.text, VAR));
    }
    assert_int_equal(cfg_long(VAR, 42, 1, 100, &v, NULL), AGG_ERR);
}

static void test_str(void **state) {
    (void)state;
    assert_string_equal(cfg_str(VAR, "dflt"), "dflt");
    assert_null(cfg_str(VAR, NULL));
    setenv(VAR, "", 1);
    assert_string_equal(cfg_str(VAR, "dflt"), "dflt");
    setenv(VAR, "value", 1);
    assert_string_equal(cfg_str(VAR, "dflt"), "value");
}

static void test_url(void **state) {
    (void)state;
    const char *u = NULL;
    err_t e;
    assert_int_equal(cfg_url(VAR, "http://127.0.0.1:8080/aggregate/callback", &u, &e), AGG_OK);
    assert_string_equal(u, "http://127.0.0.1:8080/aggregate/callback");
    assert_int_equal(cfg_url(VAR, NULL, &u, &e), AGG_OK);
    assert_null(u);
    const char *good[] = {"http://h", "https://gw.example:8443/cb", "http://10.0.0.1:80"};
    for (size_t i = 0; i < 3; i++) {
        setenv(VAR, good[i], 1);
        assert_int_equal(cfg_url(VAR, NULL, &u, &e), AGG_OK);
        assert_string_equal(u, good[i]);
    }
    const char *bad[] = {"h:80",       "ftp://h", "http://", "http:///x",
                         "http://h x", "HTTP//h", "https:/h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(VAR, bad[i], 1);
        memset(&e, 0, sizeof e);
        assert_int_equal(cfg_url(VAR, "http://d", &u, &e), AGG_ERR);
        assert_non_null(strstr(e.text, VAR));
    }
}

static void test_args_none_returns(void **state) {
    (void)state;
    char *argv[] = {"prog", NULL};
    cfg_handle_args(1, argv, "prog", "usage");
}

/* Runs fn in a child with stdout and stderr captured; returns the exit status. */
static int run_child(void (*fn)(void), char *out, size_t cap) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        fn();
        _exit(99);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0) n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void child_version(void) {
    char *argv[] = {"gateway", "--version", NULL};
    cfg_handle_args(2, argv, "gateway", "usage text");
}

static void child_help(void) {
    char *argv[] = {"gateway", "-h", NULL};
    cfg_handle_args(2, argv, "gateway", "Usage: gateway\n");
}

static void child_unknown(void) {
    char *argv[] = {"gateway", "--bogus", NULL};
    cfg_handle_args(2, argv, "gateway", "usage text");
}

static void child_fail(void) {
    err_t e;
    err_set(&e, "SERVER_PORT must be a decimal integer");
    cfg_fail("worker", &e);
}

static void test_exit_paths(void **state) {
    (void)state;
    char out[512];
    assert_int_equal(run_child(child_version, out, sizeof out), 0);
    assert_string_equal(out, "gateway " AGG_VERSION "\n");
    assert_int_equal(run_child(child_help, out, sizeof out), 0);
    assert_string_equal(out, "Usage: gateway\n");
    assert_int_equal(run_child(child_unknown, out, sizeof out), 2);
    assert_string_equal(out, "gateway: unknown argument '--bogus' (try --help)\n");
    assert_int_equal(run_child(child_fail, out, sizeof out), 2);
    assert_string_equal(out,
                        "worker: configuration error: SERVER_PORT must be a decimal integer\n");
}


static const cfg_var *find_var(const char *name) {
    size_t n;
    const cfg_var *v = cfg_vars(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) return &v[i];
    return NULL;
}

static int clear_vars(void **state) {
    (void)state;
    unsetenv(VAR);
    cfg_vars_clear();
    return 0;
}

static void test_reads_are_recorded(void **state) {
    (void)state;
    long v;
    const char *u;
    assert_int_equal(cfg_long("AGG_TEST_CFG_NUM", 7, 0, 10, &v, NULL), AGG_OK);
    setenv(VAR, "text", 1);
    assert_string_equal(cfg_str(VAR, "dflt"), "text");
    assert_null(cfg_str("AGG_TEST_CFG_UNSET", NULL));
    assert_int_equal(cfg_url("AGG_TEST_CFG_URL", "http://h:1/x", &u, NULL), AGG_OK);
    size_t n;
    cfg_vars(&n);
    assert_int_equal(n, 4);
    const cfg_var *num = find_var("AGG_TEST_CFG_NUM");
    assert_non_null(num);
    assert_string_equal(num->value, "7");
    assert_true(num->is_number && num->is_default);
    const cfg_var *str = find_var(VAR);
    assert_string_equal(str->value, "text");
    assert_false(str->is_default || str->is_number);
    assert_null(find_var("AGG_TEST_CFG_UNSET")->value);
    assert_true(find_var("AGG_TEST_CFG_URL")->is_default);
    /* A second read replaces the first: one entry per name. */
    setenv(VAR, "other", 1);
    cfg_str(VAR, NULL);
    cfg_vars(&n);
    assert_int_equal(n, 4);
    assert_string_equal(find_var(VAR)->value, "other");
    /* A rejected value is not recorded as read. */
    setenv("AGG_TEST_CFG_NUM", "11", 1);
    assert_int_equal(cfg_long("AGG_TEST_CFG_NUM", 7, 0, 10, &v, NULL), AGG_ERR);
    assert_string_equal(find_var("AGG_TEST_CFG_NUM")->value, "7");
    unsetenv("AGG_TEST_CFG_NUM");
}

static void test_list_is_bounded(void **state) {
    (void)state;
    static char names[CFG_MAX_VARS + 5][32];
    for (int i = 0; i < CFG_MAX_VARS + 5; i++) {
        snprintf(names[i], sizeof names[i], "AGG_TEST_CFG_N%d", i);
        assert_string_equal(cfg_str(names[i], "d"), "d"); /* past the cap the read still works */
    }
    size_t n;
    cfg_vars(&n);
    assert_int_equal(n, CFG_MAX_VARS);
}

static void test_record_out_of_memory(void **state) {
    (void)state;
    setenv(VAR, "value", 1);
    failalloc_arm(1);
    const char *got = cfg_str(VAR, NULL);
    failalloc_disarm();
    assert_string_equal(got, "value");
    assert_null(find_var(VAR)); /* not recorded, nothing leaked */
    cfg_str(VAR, NULL);
    failalloc_arm(1); /* replacing a value: the old one stays when the copy fails */
    setenv(VAR, "newer", 1);
    cfg_str(VAR, NULL);
    failalloc_disarm();
    assert_string_equal(find_var(VAR)->value, "value");
}

static json_t *props(const cfg_var *v, size_t n) {
    err_t e;
    char *text = cfg_props_json(v, n, &e);
    assert_non_null(text);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    agg_free(text);
    return j;
}

static void test_props_nesting_numbers_secrets(void **state) {
    (void)state;
    cfg_var v[] = {
        {"AGGREGATOR_TIMEOUT_MAX_MS", "27000", 1, 1},
        {"AGGREGATOR_TIMEOUT_DEFAULT_MS", "10000", 0, 1},
        {"AGGREGATOR_CALLBACK_URL", "http://gw:8080/aggregate/callback", 1, 0},
        {"SSE_BUFFER_LIMIT_BYTES", "65536", 1, 1},
        {"SESSION_RETENTION_S", "3600", 1, 1},
        {"RESOURCE_ID", "42", 0, 0}, /* read as a string: stays one */
        {"REDIS_PASSWORD", "hunter2", 0, 0},
        {"REDIS_SENTINEL_PASSWORD", NULL, 1, 0},
        {"LOG_PATIENT_KEY", "k", 0, 0},
        {"API_TOKEN", "t", 0, 0},
        {"MY_SECRET", "s", 0, 0},
        {"KAFKA_SASL_MECHANISM", NULL, 1, 0},
    };
    json_t *j = props(v, sizeof v / sizeof v[0]);
    json_t *t = json_object_get(json_object_get(j, "aggregator"), "timeout");
    assert_int_equal(json_object_size(t), 2);
    assert_true(json_is_integer(json_object_get(t, "maxMs")));
    assert_int_equal(json_integer_value(json_object_get(t, "maxMs")), 27000);
    assert_int_equal(json_integer_value(json_object_get(t, "defaultMs")), 10000);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "aggregator"),
                                                          "callback"), "url")),
        "http://gw:8080/aggregate/callback");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_object_get(j, "sse"), "buffer"),
                                           "limitBytes")), 65536);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "session"),
                                                        "retentionS")), 3600);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "resource"), "id")),
                        "42");
    json_t *redis = json_object_get(j, "redis");
    assert_string_equal(json_string_value(json_object_get(redis, "password")), "******");
    /* Unset: null (nothing to hide). */
    assert_true(json_is_null(json_object_get(json_object_get(redis, "sentinel"), "password")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "log"), "patient"),
                                          "key")), "******");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "api"), "token")),
                        "******");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "my"), "secret")),
                        "******");
    json_t *d = json_object_get(j, "_defaulted");
    assert_true(json_is_array(d));
    assert_string_equal(json_string_value(json_array_get(d, 0)), "AGGREGATOR_TIMEOUT_MAX_MS");
    assert_int_equal(json_array_size(d), 6);
    char *text = json_dumps(j, 0);
    assert_null(strstr(text, "hunter2"));
    free(text);
    json_decref(j);
}

static void test_props_clashes_lose_nothing(void **state) {
    (void)state;
    cfg_var v[] = {{"A_B", "1", 0, 1}, {"A_B_C", "2", 0, 1}, {"X_Y_Z", "3", 0, 1},
                   {"X_Y", "4", 0, 1}, {"_LEAD__GAP_", "5", 0, 1}};
    json_t *j = props(v, sizeof v / sizeof v[0]);
    json_t *a = json_object_get(j, "a");
    assert_int_equal(json_integer_value(json_object_get(a, "b")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "bC")), 2);
    json_t *y = json_object_get(json_object_get(j, "x"), "y");
    assert_int_equal(json_integer_value(json_object_get(y, "z")), 3);
    assert_int_equal(json_integer_value(json_object_get(y, "")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "lead"), "gap")), 5);
    json_decref(j);
}

/* The real names of the three programs nest without a clash. */
static void test_props_real_names_no_clash(void **state) {
    (void)state;
    static const char *const names[] = {
        "SERVER_PORT", "CALLBACK_PORT", "BIND_ADDR", "KAFKA_BROKERS", "RESOURCE_URLS",
        "AGGREGATOR_CALLBACK_URL", "AGGREGATOR_TIMEOUT_MAX_MS", "AGGREGATOR_TIMEOUT_DEFAULT_MS",
        "SESSION_RETENTION_S", "SSE_KEEPALIVE_MS", "SSE_BUFFER_LIMIT_BYTES", "WAIT_GRACE_MS",
        "MAX_CONNECTIONS", "CONNECTION_MEMORY_LIMIT_BYTES", "KAFKA_LINGER_MS",
        "KAFKA_BATCH_ABOVE_PER_S", "MAX_PENDING_PUBLISHES", "KAFKA_PRODUCE_TIMEOUT_MS",
        "SHUTDOWN_TIMEOUT_S", "SHUTDOWN_RETRY_MS", "HTTP_HEADER_TIMEOUT_MS",
        "HTTP_BODY_TIMEOUT_MS", "HTTP_IDLE_TIMEOUT_MS", "CORS_ALLOWED_ORIGINS",
        "KAFKA_TOPIC_REQUESTS", "KAFKA_TOPIC_CALLBACKS", "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION",
        "REDIS_URL", "REDIS_PASSWORD", "REDIS_SENTINELS", "REDIS_MASTER_NAME",
        "REDIS_SENTINEL_PASSWORD", "TCP_USER_TIMEOUT_MS", "LOG_LEVEL", "LOG_FORMAT",
        "LOG_PATIENT_KEY", "KAFKA_GROUP_ID", "RESOURCE_CONNECT_TIMEOUT_MS",
        "RESOURCE_READ_TIMEOUT_MS", "DEADLINE_POLL_MS", "MANAGEMENT_PORT", "WORKER_MAX_IN_FLIGHT",
        "BREAKER_ENABLED", "BREAKER_FAILURES", "BREAKER_COOLDOWN_MS", "BREAKER_REFRESH_MS",
        "KAFKA_SESSION_TIMEOUT_MS", "KAFKA_HEARTBEAT_INTERVAL_MS", "KAFKA_MAX_POLL_INTERVAL_MS",
        "NOTES_PER_RESPONSE", "CALLBACK_CONNECT_TIMEOUT_MS", "CALLBACK_TIMEOUT_MS",
        "CALLBACK_RETRIES", "RESOURCES", "RESOURCE_ID"};
    enum { N = sizeof names / sizeof names[0] };
    cfg_var v[N];
    for (size_t i = 0; i < N; i++) v[i] = (cfg_var){names[i], "1", 0, 1};
    json_t *j = props(v, N);
    char *text = json_dumps(j, JSON_COMPACT);
    /* Every value landed at its own leaf: N values, and no "" or camelCase fallback key. */
    size_t values = 0;
    for (const char *p = text; (p = strstr(p, ":1")) != NULL; p++) values++;
    for (const char *p = text; (p = strstr(p, ":\"******\"")) != NULL; p++) values++;
    assert_int_equal(values, N);
    assert_null(strstr(text, "\"\":"));
    free(text);
    json_decref(j);
}

static void test_props_out_of_memory(void **state) {
    (void)state;
    cfg_var v[] = {{"A_B_C", "1", 1, 1}, {"D", "x", 0, 0}};
    for (size_t k = 1;; k++) {
        err_t e;
        failalloc_arm(k);
        char *t = cfg_props_json(v, 2, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_non_null(t);
            agg_free(t);
            break;
        }
        assert_null(t);
        assert_true(err_is_nomem(&e));
    }
}

#define SECRET_VAR  "AGG_TEST_CFG_SECRET"
#define SECRET_FILE "AGG_TEST_CFG_SECRET_FILE"

static int unset_secret(void **state) {
    (void)state;
    unsetenv(SECRET_VAR);
    unsetenv(SECRET_FILE);
    cfg_secrets_free();
    cfg_vars_clear();
    return 0;
}

/* A temporary file holding len bytes of text; its path in path (caller unlinks). */
static void write_temp(char path[64], const char *text, size_t len) {
    strcpy(path, "/tmp/agg-test-secret-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void test_secret_from_env_file_or_neither(void **state) {
    (void)state;
    const char *v = "x";
    size_t len = 9;
    err_t e;
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, &len, &e), AGG_OK);
    assert_null(v);
    assert_int_equal(len, 0);
    setenv(SECRET_VAR, "from-env", 1);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, &len, &e), AGG_OK);
    assert_string_equal(v, "from-env");
    assert_int_equal(len, 8);
    unsetenv(SECRET_VAR);
    char path[64];
    write_temp(path, "from-file\r\n", 11); /* as `kubectl create secret --from-file` keeps it */
    setenv(SECRET_FILE, path, 1);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e), AGG_OK);
    assert_string_equal(v, "from-file");
    /* Both recorded, neither shown. */
    size_t n;
    const cfg_var *vars = cfg_vars(&n);
    char *props = cfg_props_json(vars, n, &e);
    assert_non_null(props);
    assert_null(strstr(props, "from-file"));
    assert_null(strstr(props, path));
    agg_free(props);
    unlink(path);
}

/* A public file (a JWKS): its contents, its path shown, the secret files' errors. */
static void test_file_read_once_path_shown(void **state) {
    (void)state;
    const char *v = "x";
    size_t len = 9;
    err_t e;
    unsetenv("AGG_TEST_JWKS_FILE");
    assert_int_equal(cfg_file("AGG_TEST_JWKS_FILE", &v, &len, &e), AGG_OK);
    assert_null(v);
    assert_int_equal(len, 0);
    char path[64];
    write_temp(path, "{\"keys\":[]}\n", 12);
    setenv("AGG_TEST_JWKS_FILE", path, 1);
    assert_int_equal(cfg_file("AGG_TEST_JWKS_FILE", &v, &len, &e), AGG_OK);
    assert_string_equal(v, "{\"keys\":[]}");
    assert_int_equal(len, 11);
    size_t n;
    const cfg_var *vars = cfg_vars(&n);
    assert_int_equal(n, 1);
    assert_string_equal(vars[0].value, path);
    assert_false(cfg_is_secret(vars[0].name));
    unlink(path);
    write_temp(path, "", 0);
    setenv("AGG_TEST_JWKS_FILE", path, 1);
    assert_int_equal(cfg_file("AGG_TEST_JWKS_FILE", &v, NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "AGG_TEST_JWKS_FILE"));
    unlink(path);
    setenv("AGG_TEST_JWKS_FILE", "/nonexistent/jwks", 1);
    assert_int_equal(cfg_file("AGG_TEST_JWKS_FILE", &v, NULL, &e), AGG_ERR);
    unsetenv("AGG_TEST_JWKS_FILE");
    cfg_secrets_free();
}

static void test_secret_errors_name_the_variable_not_the_value(void **state) {
    (void)state;
    const char *v;
    err_t e;
    setenv(SECRET_VAR, "hunter2-value", 1);
    setenv(SECRET_FILE, "/nonexistent/secret", 1);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "not both"));
    assert_null(strstr(e.text, "hunter2"));
    unsetenv(SECRET_VAR);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.text, SECRET_FILE));
    char path[64];
    write_temp(path, "\n", 1);
    setenv(SECRET_FILE, path, 1);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "empty"));
    unlink(path);
    static char big[CFG_SECRET_MAX + 1];
    memset(big, 'k', sizeof big);
    write_temp(path, big, sizeof big);
    setenv(SECRET_FILE, path, 1);
    assert_int_equal(cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "over"));
    unlink(path);
}

static void test_secret_out_of_memory(void **state) {
    (void)state;
    char path[64];
    write_temp(path, "k", 1);
    setenv(SECRET_FILE, path, 1);
    for (size_t k = 1;; k++) {
        const char *v;
        err_t e;
        cfg_secrets_free();
        failalloc_arm(k);
        int rc = cfg_secret(SECRET_VAR, SECRET_FILE, &v, NULL, &e);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_int_equal(rc, AGG_OK);
            assert_string_equal(v, "k");
            break;
        }
        /* A record that cannot be copied is skipped; the secret's own copy fails the read. */
        if (rc == AGG_ERR) assert_true(err_is_nomem(&e));
    }
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_from_env_file_or_neither, unset_secret,
                                        unset_secret),
        cmocka_unit_test_setup_teardown(test_secret_errors_name_the_variable_not_the_value,
                                        unset_secret, unset_secret),
        cmocka_unit_test_setup_teardown(test_secret_out_of_memory, unset_secret, unset_secret),
        cmocka_unit_test_setup_teardown(test_file_read_once_path_shown, clear_vars, clear_vars),
        cmocka_unit_test_setup_teardown(test_long_default, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_long_values_and_bounds, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_str, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_url, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_reads_are_recorded, clear_vars, clear_vars),
        cmocka_unit_test_setup_teardown(test_list_is_bounded, clear_vars, clear_vars),
        cmocka_unit_test_setup_teardown(test_record_out_of_memory, clear_vars, clear_vars),
        cmocka_unit_test(test_props_nesting_numbers_secrets),
        cmocka_unit_test(test_props_clashes_lose_nothing),
        cmocka_unit_test(test_props_real_names_no_clash),
        cmocka_unit_test(test_props_out_of_memory),
        cmocka_unit_test(test_args_none_returns),
        cmocka_unit_test(test_exit_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
