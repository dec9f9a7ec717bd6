/* Unit tests for uuid4: format, version and variant bits, distinct ids, and the UUID check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "uuid4.h"

#define CID "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f"

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static void test_format_and_bits(void **state) {
    (void)state;
    char id[UUID4_LEN + 1];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(uuid4_new(id, NULL), AGG_OK);
        assert_int_equal(strlen(id), UUID4_LEN);
        assert_true(uuid4_valid(id));
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
    }
}

/* 2,000 ids span several 4 KB pools (256 ids each): all distinct. */
static void test_distinct_across_refills(void **state) {
    (void)state;
    enum { N = 2000 };
    char(*ids)[UUID4_LEN + 1] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) assert_int_equal(uuid4_new(ids[i], NULL), AGG_OK);
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

/* The one check of correlation ids: lowercase 8-4-4-4-12 hex, any version. */
static void test_valid(void **state) {
    (void)state;
    assert_true(uuid4_valid(CID));
    assert_true(uuid4_valid("00000000-0000-0000-0000-000000000000"));
    assert_true(uuid4_valid("0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4"));
    assert_false(uuid4_valid("0B7E6D3C-1F2A-4B5C-8D9E-0A1B2C3D4E5F"));
    assert_false(uuid4_valid(CID "0"));
    assert_false(uuid4_valid("0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5"));
    assert_false(uuid4_valid("0b7e6d3c1f2a-4b5c-8d9e-0a1b2c3d4e5f0"));
    assert_false(uuid4_valid("0b9e4d1c22f3a-4b5c-8d6e-7f8091a2b3c4"));
    assert_false(uuid4_valid("0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5g"));
    assert_false(uuid4_valid("0b7e6d3c-1f2a-4b5c-8d9e_0a1b2c3d4e5f"));
    assert_false(uuid4_valid(" 0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5"));
    assert_false(uuid4_valid(""));
    assert_false(uuid4_valid(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_bits),
        cmocka_unit_test(test_distinct_across_refills),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
