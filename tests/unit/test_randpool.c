/* Unit tests for randpool: requests smaller and larger than the pool, across refills, all distinct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "err.h"
#include "randpool.h"

/* 8-byte draws across several 4 KB pools never repeat (2^-64 per pair by chance). */
static void test_small_draws_distinct(void **state) {
    (void)state;
    enum { N = 2000 };
    static uint64_t v[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(randpool_bytes((unsigned char *)&v[i], sizeof v[i], NULL), AGG_OK);
        for (int j = 0; j < i; j++) assert_true(v[i] != v[j]);
    }
}

/* A request larger than the pool is served whole, over several refills, and is not
 * mostly zero (the wiped part of the pool is never handed out). */
static void test_large_draw(void **state) {
    (void)state;
    static unsigned char a[10000], b[10000];
    err_t e = {0};
    assert_int_equal(randpool_bytes(a, sizeof a, &e), AGG_OK);
    assert_int_equal(randpool_bytes(b, sizeof b, &e), AGG_OK);
    assert_memory_not_equal(a, b, sizeof a);
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof a; i++) zeros += a[i] == 0;
    assert_true(zeros < sizeof a / 64); /* about 1/256 of random bytes are 0 */
}

/* Odd sizes straddle the pool's end: consecutive draws never overlap. */
static void test_odd_sizes(void **state) {
    (void)state;
    unsigned char prev[37] = {0}, cur[37];
    for (int i = 0; i < 500; i++) {
        assert_int_equal(randpool_bytes(cur, sizeof cur, NULL), AGG_OK);
        assert_memory_not_equal(prev, cur, sizeof cur);
        memcpy(prev, cur, sizeof cur);
    }
    assert_int_equal(randpool_bytes(cur, 0, NULL), AGG_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_draws_distinct),
        cmocka_unit_test(test_large_draw),
        cmocka_unit_test(test_odd_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
