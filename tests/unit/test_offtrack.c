/* Unit tests for offtrack: committable offsets under out-of-order completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "offtrack.h"

static int setup(void **state) {
    *state = offtrack_new(NULL);
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    offtrack_free(*state);
    return 0;
}

static void test_in_order(void **state) {
    offtrack *t = *state;
    int64_t next = -1;
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 0);
    assert_int_equal(offtrack_begin(t, 0, 0, 10, NULL), AGG_OK);
    /* nothing finished yet: nothing new to commit */
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 0);
    assert_int_equal(offtrack_in_flight(t), 1);
    assert_int_equal(offtrack_done(t, 0, 0, 10, NULL), AGG_OK);
    assert_int_equal(offtrack_in_flight(t), 0);
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 1);
    assert_int_equal(next, 11);
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 0);
}

static void test_out_of_order_completion(void **state) {
    offtrack *t = *state;
    int64_t next = -1;
    for (int64_t o = 100; o < 105; o++) assert_int_equal(offtrack_begin(t, 1, 3, o, NULL), AGG_OK);
    assert_int_equal(offtrack_in_flight(t), 5);
    /* 102 and 104 finish first: 100 still in flight, nothing to commit */
    assert_int_equal(offtrack_done(t, 1, 3, 102, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 1, 3, 104, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 1, 3, &next), 0);
    assert_int_equal(offtrack_in_flight(t), 3);
    /* 100 finishes: 101 is now the lowest in flight */
    assert_int_equal(offtrack_done(t, 1, 3, 100, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 1, 3, &next), 1);
    assert_int_equal(next, 101);
    /* 101 finishes: 102 done, 103 in flight */
    assert_int_equal(offtrack_done(t, 1, 3, 101, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 1, 3, &next), 1);
    assert_int_equal(next, 103);
    assert_int_equal(offtrack_done(t, 1, 3, 103, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 1, 3, &next), 1);
    assert_int_equal(next, 105);
    assert_int_equal(offtrack_in_flight(t), 0);
}

static void test_gaps_in_offsets(void **state) {
    offtrack *t = *state;
    int64_t next;
    /* compacted topics and transactions leave gaps */
    assert_int_equal(offtrack_begin(t, 0, 0, 5, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 0, 0, 9, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 0, 0, 20, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 0, 0, 5, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 1);
    assert_int_equal(next, 9);
    assert_int_equal(offtrack_done(t, 0, 0, 20, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 0, 0, 9, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 0, 0, &next), 1);
    assert_int_equal(next, 21);
}

static void test_errors(void **state) {
    offtrack *t = *state;
    assert_int_equal(offtrack_begin(t, 0, 0, 10, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 0, 0, 10, NULL), AGG_ERR);
    assert_int_equal(offtrack_begin(t, 0, 0, 9, NULL), AGG_ERR);
    assert_int_equal(offtrack_done(t, 0, 0, 11, NULL), AGG_ERR);
    assert_int_equal(offtrack_done(t, 0, 0, 9, NULL), AGG_ERR);
    assert_int_equal(offtrack_done(t, 0, 1, 10, NULL), AGG_ERR);
    assert_int_equal(offtrack_done(t, 1, 0, 10, NULL), AGG_ERR);
    assert_int_equal(offtrack_done(t, 0, 0, 10, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 0, 0, 10, NULL), AGG_ERR);
    assert_int_equal(offtrack_begin(t, 16, 0, 1, NULL), AGG_ERR);
    assert_int_equal(offtrack_begin(t, -1, 0, 1, NULL), AGG_ERR);
    assert_int_equal(offtrack_begin(t, 0, -1, 1, NULL), AGG_ERR);
    assert_int_equal(offtrack_begin(t, 0, 2, -1, NULL), AGG_ERR);
    assert_int_equal(offtrack_in_flight(t), 0);
    /* the error says why */
    err_t e;
    assert_int_equal(offtrack_begin(t, 0, 0, 10, &e), AGG_ERR);
    assert_string_equal(e.text, "offset 10 is not above the last one begun (10)");
    assert_int_equal(offtrack_begin(t, 0, 0, -1, &e), AGG_ERR);
    assert_string_equal(e.text, "offset -1 is negative");
    assert_int_equal(offtrack_begin(t, 16, 0, 1, &e), AGG_ERR);
    assert_string_equal(e.text, "topic 16, partition 0: out of range");
    assert_int_equal(offtrack_done(t, 0, 0, 10, &e), AGG_ERR);
    assert_string_equal(e.text, "offset 10 is not in flight");
    assert_int_equal(offtrack_done(t, 3, 0, 10, &e), AGG_ERR);
    assert_string_equal(e.text, "topic 3, partition 0: nothing begun");
    int64_t next;
    assert_int_equal(offtrack_committable(t, 16, 0, &next), 0);
    offtrack_forget(t, 16, 0);
    offtrack_forget(t, 0, 99);
}

static void test_done_twice_while_blocked(void **state) {
    offtrack *t = *state;
    assert_int_equal(offtrack_begin(t, 0, 0, 1, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 0, 0, 2, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 0, 0, 2, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 0, 0, 2, NULL), AGG_ERR);
    assert_int_equal(offtrack_in_flight(t), 1);
}

static void test_partitions_and_topics_independent(void **state) {
    offtrack *t = *state;
    int64_t next;
    for (int32_t p = 0; p < 300; p++) {
        assert_int_equal(offtrack_begin(t, 0, p, 1000 + p, NULL), AGG_OK);
        assert_int_equal(offtrack_begin(t, 15, p, 7, NULL), AGG_OK);
    }
    assert_int_equal(offtrack_in_flight(t), 600);
    for (int32_t p = 299; p >= 0; p--)
        assert_int_equal(offtrack_done(t, 0, p, 1000 + p, NULL), AGG_OK);
    for (int32_t p = 0; p < 300; p++) {
        assert_int_equal(offtrack_committable(t, 0, p, &next), 1);
        assert_int_equal(next, 1001 + p);
        assert_int_equal(offtrack_committable(t, 15, p, &next), 0);
    }
    assert_int_equal(offtrack_in_flight(t), 300);
}

static void test_forget(void **state) {
    offtrack *t = *state;
    int64_t next;
    assert_int_equal(offtrack_begin(t, 2, 4, 50, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 2, 4, 51, NULL), AGG_OK);
    assert_int_equal(offtrack_begin(t, 2, 4, 52, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 2, 4, 51, NULL), AGG_OK);
    assert_int_equal(offtrack_in_flight(t), 2);
    offtrack_forget(t, 2, 4);
    assert_int_equal(offtrack_in_flight(t), 0);
    assert_int_equal(offtrack_done(t, 2, 4, 50, NULL), AGG_ERR);
    assert_int_equal(offtrack_committable(t, 2, 4, &next), 0);
    /* re-assigned later: starts again, possibly at a lower offset */
    assert_int_equal(offtrack_begin(t, 2, 4, 50, NULL), AGG_OK);
    assert_int_equal(offtrack_done(t, 2, 4, 50, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 2, 4, &next), 1);
    assert_int_equal(next, 51);
}

static void test_many_in_flight_ring_growth(void **state) {
    offtrack *t = *state;
    int64_t next;
    const int n = 5000;
    for (int i = 0; i < n; i++) assert_int_equal(offtrack_begin(t, 3, 0, i, NULL), AGG_OK);
    /* finish all odd ones, then the even ones from the top down */
    for (int i = 1; i < n; i += 2) assert_int_equal(offtrack_done(t, 3, 0, i, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 3, 0, &next), 0);
    for (int i = n - 2; i > 0; i -= 2) assert_int_equal(offtrack_done(t, 3, 0, i, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 3, 0, &next), 0);
    assert_int_equal(offtrack_done(t, 3, 0, 0, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 3, 0, &next), 1);
    assert_int_equal(next, n);
    /* the ring wraps: interleave begin and done */
    for (int i = n; i < 3 * n; i++) {
        assert_int_equal(offtrack_begin(t, 3, 0, i, NULL), AGG_OK);
        if (i % 3 == 0 && i - 1 > n) assert_int_equal(offtrack_done(t, 3, 0, i - 1, NULL), AGG_OK);
    }
    assert_int_equal(offtrack_committable(t, 3, 0, &next), 0);
    assert_int_equal(offtrack_done(t, 3, 0, n, NULL), AGG_OK);
    assert_int_equal(offtrack_committable(t, 3, 0, &next), 1);
    assert_int_equal(next, n + 1);
    assert_int_equal(offtrack_done(t, 3, 0, n - 1, NULL), AGG_ERR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_in_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_twice_while_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partitions_and_topics_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_in_flight_ring_growth, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
