/* test_worker_fanout: the resource call's timeout, bounded by the session's deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fanout.h"

#define NOW 1700000000000LL

static void read_timeout_when_the_deadline_is_further(void **state) {
    (void)state;
    assert_int_equal(fanout_call_timeout_ms(30000, NOW + 60000, NOW), 30000);
    assert_int_equal(fanout_call_timeout_ms(30000, NOW + 30000, NOW), 30000);
}

static void capped_by_the_time_left(void **state) {
    (void)state;
    assert_int_equal(fanout_call_timeout_ms(30000, NOW + 2999, NOW), 2999);
    assert_int_equal(fanout_call_timeout_ms(30000, NOW + 1, NOW), 1);
}

static void zero_once_the_deadline_passed(void **state) {
    (void)state;
    assert_int_equal(fanout_call_timeout_ms(30000, NOW, NOW), 0);
    assert_int_equal(fanout_call_timeout_ms(30000, NOW - 5000, NOW), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_timeout_when_the_deadline_is_further),
        cmocka_unit_test(capped_by_the_time_left),
        cmocka_unit_test(zero_once_the_deadline_passed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
