/* Unit tests for ratesel: rate buckets, the switch to batching, hysteresis, idle gaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ratesel.h"

/* Sends rate messages/s, evenly spread, for ms milliseconds from *now;
 * returns what the last pick said. */
static int run(ratesel *s, long long *now, long long rate, long long ms) {
    int last = -1;
    long long n = rate * ms / 1000;
    long long start = *now;
    for (long long i = 0; i < n; i++) last = ratesel_pick(s, start + i * 1000 / rate);
    *now = start + ms;
    return last;
}

static void test_low_rate_stays_immediate(void **state) {
    (void)state;
    ratesel s;
    ratesel_init(&s, 4000);
    long long now = 1000;
    assert_int_equal(run(&s, &now, 2000, 1000), 0);
}

static void test_high_rate_batches_then_returns(void **state) {
    (void)state;
    ratesel s;
    ratesel_init(&s, 4000);
    long long now = 1000;
    assert_int_equal(run(&s, &now, 8000, 200), 1);
    /* Between half the threshold and the threshold: keeps batching (hysteresis). */
    assert_int_equal(run(&s, &now, 3000, 500), 1);
    assert_int_equal(run(&s, &now, 1000, 500), 0);
}

static void test_idle_gap_resets(void **state) {
    (void)state;
    ratesel s;
    ratesel_init(&s, 4000);
    long long now = 1000;
    assert_int_equal(run(&s, &now, 8000, 200), 1);
    now += 5000; /* nothing for 5 s: the next message goes out at once */
    assert_int_equal(ratesel_pick(&s, now), 0);
}

static void test_zero_threshold_always_batches(void **state) {
    (void)state;
    ratesel s;
    ratesel_init(&s, 0);
    assert_int_equal(ratesel_pick(&s, 1), 1);
    long long now = 10;
    assert_int_equal(run(&s, &now, 10, 1000), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_low_rate_stays_immediate),
        cmocka_unit_test(test_high_rate_batches_then_returns),
        cmocka_unit_test(test_idle_gap_resets),
        cmocka_unit_test(test_zero_threshold_always_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
