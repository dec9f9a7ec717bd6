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

#include "cfg.h"
#include "err.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_long_default, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_long_values_and_bounds, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_str, unset_var, unset_var),
        cmocka_unit_test_setup_teardown(test_url, unset_var, unset_var),
        cmocka_unit_test(test_args_none_returns),
        cmocka_unit_test(test_exit_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
