/* test_resource_calls: the resource simulator's count of calls per correlationId. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "calls.h"

#define A "3f2b8c1d-5e6a-4b7c-9d8e-0f1a2b3c4d5e"
#define B "c0ffee00-1111-4222-8333-444455556666"

static void counts_each_id_and_its_repeats(void **state) {
    (void)state;
    rs_calls *c = rs_calls_new(8, NULL);
    assert_non_null(c);
    assert_int_equal(rs_calls_count(c, A), 0);
    rs_calls_note(c, A);
    rs_calls_note(c, B);
    rs_calls_note(c, A);
    rs_calls_note(c, A);
    assert_int_equal(rs_calls_count(c, A), 3);
    assert_int_equal(rs_calls_count(c, B), 1);
    assert_int_equal(rs_calls_total(c), 4);
    assert_int_equal(rs_calls_repeated(c), 2);
    /* Not a correlation id: not counted at all. */
    rs_calls_note(c, "not-an-id");
    rs_calls_note(c, "");
    rs_calls_note(c, NULL);
    assert_int_equal(rs_calls_total(c), 4);
    assert_int_equal(rs_calls_count(c, "not-an-id"), 0);
    assert_int_equal(rs_calls_count(c, NULL), 0);
    rs_calls_free(c);
    rs_calls_free(NULL);
}

static void memory_is_bounded_oldest_forgotten_first(void **state) {
    (void)state;
    rs_calls *c = rs_calls_new(3, NULL);
    assert_non_null(c);
    char ids[5][40];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "%08x-0000-4000-8000-000000000000", i);
        rs_calls_note(c, ids[i]);
        rs_calls_note(c, ids[i]);
    }
    /* Capacity 3: the first two are forgotten, the last three kept with their counts. */
    assert_int_equal(rs_calls_count(c, ids[0]), 0);
    assert_int_equal(rs_calls_count(c, ids[1]), 0);
    for (int i = 2; i < 5; i++) assert_int_equal(rs_calls_count(c, ids[i]), 2);
    assert_int_equal(rs_calls_total(c), 10);
    assert_int_equal(rs_calls_repeated(c), 5);
    /* A forgotten id counts from 1 again and takes the oldest slot (ids[2]'s). */
    rs_calls_note(c, ids[0]);
    assert_int_equal(rs_calls_count(c, ids[0]), 1);
    assert_int_equal(rs_calls_count(c, ids[2]), 0);
    assert_int_equal(rs_calls_count(c, ids[4]), 2);
    rs_calls_free(c);
    err_t e;
    assert_null(rs_calls_new(0, &e));
    assert_string_equal(e.text, "call count: capacity must be at least 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_each_id_and_its_repeats),
        cmocka_unit_test(memory_is_bounded_oldest_forgotten_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
