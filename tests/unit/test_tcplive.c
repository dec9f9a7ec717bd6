/* test_tcplive: TCP_USER_TIMEOUT_MS read from the environment and applied to a TCP socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcplive.h"

static int opt(int fd, int level, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static void default_is_three_seconds(void **state) {
    (void)state;
    err_t e;
    unsetenv("TCP_USER_TIMEOUT_MS");
    tcplive_configure(12345);
    assert_int_equal(tcplive_configure_env(&e), AGG_OK);
    assert_int_equal(tcplive_timeout_ms(), TCPLIVE_DEFAULT_MS);
    assert_int_equal(TCPLIVE_DEFAULT_MS, 3000);
}

static void bad_values_are_refused_and_change_nothing(void **state) {
    (void)state;
    const char *bad[] = {"-1", "600001", "3s", "abc", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e;
        tcplive_configure(777);
        setenv("TCP_USER_TIMEOUT_MS", bad[i], 1);
        assert_int_equal(tcplive_configure_env(&e), AGG_ERR);
        assert_non_null(strstr(e.text, "TCP_USER_TIMEOUT_MS"));
        assert_int_equal(tcplive_timeout_ms(), 777);
    }
    unsetenv("TCP_USER_TIMEOUT_MS");
}

static void applies_keepalive_and_user_timeout(void **state) {
    (void)state;
    err_t e;
    setenv("TCP_USER_TIMEOUT_MS", "2500", 1);
    assert_int_equal(tcplive_configure_env(&e), AGG_OK);
    unsetenv("TCP_USER_TIMEOUT_MS");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(tcplive_apply(fd, &e), AGG_OK);
    assert_int_equal(opt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(opt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 1);
    assert_int_equal(opt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 1);
    assert_int_equal(opt(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
    assert_int_equal(opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
    close(fd);
}

static void zero_leaves_the_kernel_defaults(void **state) {
    (void)state;
    err_t e;
    tcplive_configure(0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int keep = opt(fd, SOL_SOCKET, SO_KEEPALIVE);
    int uto = opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT);
    assert_int_equal(tcplive_apply(fd, &e), AGG_OK);
    assert_int_equal(opt(fd, SOL_SOCKET, SO_KEEPALIVE), keep);
    assert_int_equal(opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), uto);
    close(fd);
}

static void a_refused_option_is_an_error(void **state) {
    (void)state;
    err_t e;
    tcplive_configure(3000);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* no TCP options on a unix socket */
    assert_true(fd >= 0);
    assert_int_equal(tcplive_apply(fd, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "setsockopt"));
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_is_three_seconds),
        cmocka_unit_test(bad_values_are_refused_and_change_nothing),
        cmocka_unit_test(applies_keepalive_and_user_timeout),
        cmocka_unit_test(zero_leaves_the_kernel_defaults),
        cmocka_unit_test(a_refused_option_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
