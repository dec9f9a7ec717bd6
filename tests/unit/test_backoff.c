/* test_backoff: retry delays, 100 ms doubling to 2 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "backoff.h"

static void doubles_to_the_cap(void **state) {
    long d = backoff_next(0);
    assert_int_equal(d, 100);
    long seen[8];
    for (int i = 0; i < 8; i++) {
        seen[i] = d;
        d = backoff_next(d);
    }
    assert_int_equal(seen[1], 200);
    assert_int_equal(seen[2], 400);
    assert_int_equal(seen[3], 800);
    assert_int_equal(seen[4], 1600);
    assert_int_equal(seen[5], 2000);
    assert_int_equal(seen[7], 2000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(doubles_to_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
