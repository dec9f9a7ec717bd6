/* test_inflight: the ring of deadline counters: counting until each deadline, never low, bounded lateness, wrap-around, bad settings and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "failalloc.h"
#include "inflight.h"

static void counts_each_until_its_deadline(void **state) {
    (void)state;
    inflight *f = inflight_new(1022, NULL); /* 1022 ms over 1022 usable slots: 1 ms a slot */
    assert_non_null(f);
    long long t0 = 5000;
    assert_int_equal(inflight_count(f, t0), 0);
    inflight_add(f, t0 + 100, t0);
    inflight_add(f, t0 + 100, t0);
    inflight_add(f, t0 + 500, t0);
    assert_int_equal(inflight_count(f, t0), 3);
    assert_int_equal(inflight_count(f, t0 + 99), 3);
    assert_int_equal(inflight_count(f, t0 + 100), 1); /* with 1 ms slots: exact */
    assert_int_equal(inflight_count(f, t0 + 499), 1);
    assert_int_equal(inflight_count(f, t0 + 500), 0);
    inflight_add(f, t0 + 400, t0 + 500); /* already passed: not counted */
    inflight_add(f, t0 + 500, t0 + 500);
    assert_int_equal(inflight_count(f, t0 + 500), 0);
    inflight_free(f);
}

/* With wide slots a session counts a little past its deadline, never less than until it. */
static void never_low_and_at_most_one_slot_late(void **state) {
    (void)state;
    inflight *f = inflight_new(27000, NULL);
    assert_non_null(f);
    long long now = 1234567;
    for (long long d = 1; d <= 27000; d += 997) {
        inflight_add(f, now + d, now);
    }
    size_t n = inflight_count(f, now);
    assert_int_equal(n, 28);
    /* Walk time: at each moment the count is at least the deadlines ahead and at most those
     * ahead of (now - 27 ms): a slot is 27 ms wide here. */
    for (long long t = now; t <= now + 27100; t += 13) {
        size_t ahead = 0, ahead_late = 0;
        for (long long d = 1; d <= 27000; d += 997) {
            if (now + d > t) ahead++;
            if (now + d + 27 > t) ahead_late++;
        }
        size_t c = inflight_count(f, t);
        assert_true(c >= ahead);
        assert_true(c <= ahead_late);
    }
    assert_int_equal(inflight_count(f, now + 27100), 0);
    inflight_free(f);
}

/* A deadline beyond the span is kept at the span's end; a long gap empties the whole ring; the
 * ring is reused round after round. */
static void the_span_the_gap_and_wrap_around(void **state) {
    (void)state;
    inflight *f = inflight_new(1000, NULL);
    assert_non_null(f);
    inflight_add(f, 100000, 0); /* capped to about 1000 */
    assert_int_equal(inflight_count(f, 999), 1);
    assert_int_equal(inflight_count(f, 1100), 0);
    long long t = 2000;
    for (int round = 0; round < 50; round++, t += 700) {
        for (int i = 0; i < 10; i++) inflight_add(f, t + 600, t);
        assert_int_equal(inflight_count(f, t + 1), 10);
        assert_int_equal(inflight_count(f, t + 700), 0);
    }
    for (int i = 0; i < 5; i++) inflight_add(f, t + 900, t);
    assert_int_equal(inflight_count(f, t + 10000000), 0); /* far later: all gone at once */
    inflight_add(f, t + 10000000 + 10, t + 10000000);
    assert_int_equal(inflight_count(f, t + 10000000), 1);
    inflight_free(f);
}

static void bad_settings_and_allocation_failure(void **state) {
    (void)state;
    err_t e;
    assert_null(inflight_new(0, &e));
    assert_int_equal(e.kind, ERR_FAILED);
    failalloc_arm(1);
    assert_null(inflight_new(1000, &e));
    assert_true(failalloc_fired());
    failalloc_disarm();
    assert_true(err_is_nomem(&e));
    inflight_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_each_until_its_deadline),
        cmocka_unit_test(never_low_and_at_most_one_slot_late),
        cmocka_unit_test(the_span_the_gap_and_wrap_around),
        cmocka_unit_test(bad_settings_and_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
