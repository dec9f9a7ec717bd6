/* test_allowlist: the worker's check of resource URLs against RESOURCE_URLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

/* the worker sources are not in libagg: compile the module under test into this program. */
#include "allowlist.h"

static void allowlist_matches(void **state) {
    resource_list l;
    memset(&l, 0, sizeof l);
    l.n = 2;
    strcpy(l.items[0].source, "resource-1");
    strcpy(l.items[0].url, "http://127.0.0.1:8081");
    strcpy(l.items[1].source, "lab");
    strcpy(l.items[1].url, "http://lab.local:9000/api");

    assert_true(allowlist_url_allowed(&l, 0, "http://evil.example"));
    assert_true(allowlist_url_allowed(&l, 1, "http://127.0.0.1:8081"));
    assert_true(allowlist_url_allowed(&l, 1, "http://127.0.0.1:8081/"));
    assert_true(allowlist_url_allowed(&l, 1, "http://lab.local:9000/api"));
    assert_false(allowlist_url_allowed(&l, 1, "http://127.0.0.1:808"));
    assert_false(allowlist_url_allowed(&l, 1, "http://127.0.0.1:80812"));
    assert_false(allowlist_url_allowed(&l, 1, "http://lab.local:9000"));
    assert_false(allowlist_url_allowed(&l, 1, "http://evil.example"));
    assert_false(allowlist_url_allowed(&l, 1, ""));
    assert_false(allowlist_url_allowed(&l, 1, NULL));
    l.n = 0;
    assert_false(allowlist_url_allowed(&l, 1, "http://127.0.0.1:8081"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allowlist_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
