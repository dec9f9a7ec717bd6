/* Unit tests for uuid4: format, version and variant bits, and distinct ids across pool refills. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fanoutmsg.h"
#include "uuid4.h"

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static void test_format_and_bits(void **state) {
    (void)state;
    char id[UUID4_LEN + 1];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(uuid4_new(id), AGG_OK);
        assert_int_equal(strlen(id), UUID4_LEN);
        assert_true(fanoutmsg_is_uuid(id)); /* the project's own check: lowercase 8-4-4-4-12 */
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
    for (int i = 0; i < N; i++) assert_int_equal(uuid4_new(ids[i]), AGG_OK);
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++) assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_bits),
        cmocka_unit_test(test_distinct_across_refills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
