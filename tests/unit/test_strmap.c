/* test_strmap: put/get/replace/remove, growth past many keys, iteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "err.h"
#include "strmap.h"

static void put_get_replace_remove(void **state) {
    (void)state;
    strmap *m = strmap_new();
    int a = 1, b = 2;
    assert_null(strmap_get(m, "x"));
    assert_int_equal(strmap_put(m, "x", &a), AGG_OK);
    assert_ptr_equal(strmap_get(m, "x"), &a);
    assert_int_equal(strmap_put(m, "x", &b), AGG_OK);
    assert_ptr_equal(strmap_get(m, "x"), &b);
    assert_int_equal(strmap_size(m), 1);
    assert_ptr_equal(strmap_remove(m, "x"), &b);
    assert_null(strmap_remove(m, "x"));
    assert_int_equal(strmap_size(m), 0);
    strmap_free(m);
}

static void count_entry(const char *key, void *value, void *arg) {
    (void)key;
    (void)value;
    (*(size_t *)arg)++;
}

static void many_keys_survive_growth(void **state) {
    (void)state;
    strmap *m = strmap_new();
    static int values[20000];
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "agg:{%d}:ev", i);
        values[i] = i;
        assert_int_equal(strmap_put(m, key, &values[i]), AGG_OK);
    }
    for (int i = 0; i < 20000; i += 7) {
        snprintf(key, sizeof key, "agg:{%d}:ev", i);
        assert_ptr_equal(strmap_get(m, key), &values[i]);
    }
    size_t seen = 0;
    strmap_each(m, count_entry, &seen);
    assert_int_equal(seen, 20000);
    strmap_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_get_replace_remove),
        cmocka_unit_test(many_keys_survive_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
