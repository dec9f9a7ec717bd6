/* Unit tests for reslist: parsing RESOURCE_URLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "reslist.h"

static resource_list L;

static void test_empty(void **state) {
    (void)state;
    err_t e;
    L.n = 5;
    assert_int_equal(reslist_parse("", &L, &e), AGG_OK);
    assert_int_equal(L.n, 0);
    assert_int_equal(reslist_parse("   ", &L, &e), AGG_OK);
    assert_int_equal(L.n, 0);
    assert_int_equal(reslist_parse(NULL, &L, &e), AGG_OK);
    assert_int_equal(L.n, 0);
}

static void test_unnamed_get_index_names(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(
        reslist_parse("http://127.0.0.1:8081, http://127.0.0.1:8082/ ,https://h.example/x/", &L,
                      &e),
        AGG_OK);
    assert_int_equal(L.n, 3);
    assert_string_equal(L.items[0].source, "resource-1");
    assert_string_equal(L.items[0].url, "http://127.0.0.1:8081");
    assert_string_equal(L.items[1].source, "resource-2");
    assert_string_equal(L.items[1].url, "http://127.0.0.1:8082");
    assert_string_equal(L.items[2].source, "resource-3");
    assert_string_equal(L.items[2].url, "https://h.example/x");
}

static void test_named_and_mixed(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(
        reslist_parse("lab=http://lab:9000//, http://b:1, x-ray = http://xr:2", &L, &e), AGG_OK);
    assert_int_equal(L.n, 3);
    assert_string_equal(L.items[0].source, "lab");
    assert_string_equal(L.items[0].url, "http://lab:9000");
    /* unnamed entries are named by their position among all entries */
    assert_string_equal(L.items[1].source, "resource-2");
    assert_string_equal(L.items[2].source, "x-ray");
    assert_string_equal(L.items[2].url, "http://xr:2");
}

static void test_query_with_equals_is_not_a_name(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(reslist_parse("http://h:1/p?a=b", &L, &e), AGG_OK);
    assert_int_equal(L.n, 1);
    assert_string_equal(L.items[0].source, "resource-1");
    assert_string_equal(L.items[0].url, "http://h:1/p?a=b");
}

static void expect_error(const char *spec) {
    err_t e = {0};
    L.n = 7;
    assert_int_equal(reslist_parse(spec, &L, &e), AGG_ERR);
    assert_true(strlen(e.text) > 0);
    assert_int_equal(L.n, 0);
}

static void test_bad_urls(void **state) {
    (void)state;
    expect_error("ftp://h:1");
    expect_error("127.0.0.1:8081");
    expect_error("http://");
    expect_error("http:///path");
    expect_error("http://h:0");
    expect_error("http://h:65536");
    expect_error("http://h:");
    expect_error("http://h:80x");
    expect_error("http://h st:1");
    expect_error("name=");
    expect_error("=http://h:1");
    expect_error("bad name=http://h:1");
}

static void test_empty_entries(void **state) {
    (void)state;
    expect_error("http://a:1,,http://b:2");
    expect_error("http://a:1,");
    expect_error(",http://a:1");
}

static void test_duplicates(void **state) {
    (void)state;
    expect_error("a=http://h:1,a=http://h:2");
    /* an explicit name that collides with a generated one */
    expect_error("resource-2=http://h:1,http://h:2");
}

static void test_limits(void **state) {
    (void)state;
    err_t e;
    size_t cap = 70 * 32;
    char *spec = malloc(cap);
    assert_non_null(spec);
    size_t pos = 0;
    for (int i = 0; i < RESLIST_MAX; i++)
        pos += (size_t)snprintf(spec + pos, cap - pos, "%shttp://h:%d", i ? "," : "", 1000 + i);
    assert_int_equal(reslist_parse(spec, &L, &e), AGG_OK);
    assert_int_equal(L.n, RESLIST_MAX);
    assert_string_equal(L.items[63].source, "resource-64");
    snprintf(spec + pos, cap - pos, ",http://h:9");
    expect_error(spec);
    free(spec);

    char name[RESLIST_NAME_MAX + 2 + 20];
    memset(name, 'n', RESLIST_NAME_MAX);
    strcpy(name + RESLIST_NAME_MAX, "=http://h:1");
    assert_int_equal(reslist_parse(name, &L, &e), AGG_OK);
    assert_int_equal(strlen(L.items[0].source), RESLIST_NAME_MAX);
    memset(name, 'n', RESLIST_NAME_MAX + 1);
    strcpy(name + RESLIST_NAME_MAX + 1, "=http://h:1");
    expect_error(name);

    char url[RESLIST_URL_MAX + 16];
    strcpy(url, "http://h/");
    size_t ul = strlen(url);
    memset(url + ul, 'p', RESLIST_URL_MAX - ul);
    url[RESLIST_URL_MAX] = '\0';
    assert_int_equal(reslist_parse(url, &L, &e), AGG_OK);
    assert_int_equal(strlen(L.items[0].url), RESLIST_URL_MAX);
    strcat(url, "p");
    expect_error(url);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_unnamed_get_index_names),
        cmocka_unit_test(test_named_and_mixed),
        cmocka_unit_test(test_query_with_equals_is_not_a_name),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_empty_entries),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
