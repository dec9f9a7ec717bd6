/* test_jbody: the JSON media type check of request bodies (415), and a body's object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "jbody.h"
#include "jscan.h"

static void json_media_types_are_taken(void **state) {
    (void)state;
    const char *ok[] = {"application/json", "APPLICATION/JSON", "Application/Json",
                        "application/json; charset=utf-8", "application/json;charset=UTF-8",
                        "  application/json  ", "application/json ; q=1"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        api_error e = {0};
        if (jbody_media_type(ok[i], &e) != AGG_OK) fail_msg("refused '%s'", ok[i]);
    }
}

static void other_media_types_are_415(void **state) {
    (void)state;
    const char *bad[] = {"", "text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/jsonp", "text/json",
                         "application/json-seq", "application/jso", "json",
                         "application/problem+json", "xapplication/json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        api_error e = {0};
        if (jbody_media_type(bad[i], &e) != AGG_ERR) fail_msg("took '%s'", bad[i]);
        assert_int_equal(e.http_status, 415);
        assert_string_equal(e.code, "unsupported_media_type");
        assert_null(e.field);
    }
    api_error e = {0};
    assert_int_equal(jbody_media_type(NULL, &e), AGG_ERR);
    assert_non_null(strstr(e.message, "none given"));
}

static void the_refused_type_is_shown_bounded_and_printable(void **state) {
    (void)state;
    char long_type[300];
    memset(long_type, 'x', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    long_type[3] = '\n';
    api_error e = {0};
    assert_int_equal(jbody_media_type(long_type, &e), AGG_ERR);
    assert_null(strchr(e.message, '\n'));
    assert_true(strlen(e.message) < 100);
    assert_non_null(strstr(e.message, "xxx?xxx"));
}

static void a_body_must_be_one_object(void **state) {
    (void)state;
    api_error e = {0};
    json_t *o = jbody_object("{\"a\":1}", 7, &e);
    assert_non_null(o);
    json_decref(o);
    assert_null(jbody_object("[1]", 3, &e));
    assert_int_equal(e.http_status, 400);
    assert_null(jbody_object("{\"a\":1,\"a\":2}", 13, &e)); /* duplicate keys */
    assert_int_equal(e.http_status, 400);
    assert_null(jbody_object(NULL, 0, &e));
    assert_non_null(strstr(e.message, "empty body"));
}

static void integers_are_numbers_without_a_fraction(void **state) {
    (void)state;
    api_error e = {0};
    json_t *o = jbody_object("{\"a\":7,\"b\":7.0,\"c\":7.5,\"d\":\"7\",\"e\":1e400}", 41, &e);
    assert_null(o); /* a real jansson cannot hold is still invalid JSON to it */
    o = jbody_object("{\"a\":7,\"b\":7.0,\"c\":7.5,\"d\":\"7\"}", 31, &e);
    assert_non_null(o);
    long long v = 0;
    assert_true(jbody_integer(json_object_get(o, "a"), &v));
    assert_int_equal(v, 7);
    v = 0;
    assert_true(jbody_integer(json_object_get(o, "b"), &v));
    assert_int_equal(v, 7);
    assert_false(jbody_integer(json_object_get(o, "c"), &v));
    assert_false(jbody_integer(json_object_get(o, "d"), &v));
    assert_false(jbody_integer(NULL, &v));
    json_decref(o);
    /* Past 64 bits the whole body is read as reals; the values saturate. */
    o = jbody_object("{\"big\":123456789012345678901234567890,\"neg\":-99999999999999999999}", 66,
                     &e);
    assert_non_null(o);
    assert_true(jbody_integer(json_object_get(o, "big"), &v));
    assert_true(v == LLONG_MAX);
    assert_true(jbody_integer(json_object_get(o, "neg"), &v));
    assert_true(v == LLONG_MIN);
    json_decref(o);
}

/* jansson stops at a NUL byte: what follows it must not be ignored (found by tests/fuzz). */
static void a_nul_byte_is_not_the_end(void **state) {
    (void)state;
    static const char body[] = "{\"a\":1}\0{\"b\":2}";
    api_error e = {0};
    assert_null(jbody_object(body, sizeof body - 1, &e));
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "invalid_json");
    assert_non_null(strstr(e.message, "unexpected data after the value at byte 7"));
    assert_null(jbody_object("-1\0", 3, &e));
    assert_null(jbody_object("{\"a\":1}\0", 8, &e));
    json_error_t jerr;
    int nomem = 1;
    assert_null(jbody_loadb("[1]\0", 4, &nomem, &jerr));
    assert_int_equal(nomem, 0);
    assert_non_null(strstr(jerr.text, "at byte 3"));
    /* The same text without the NUL is taken. */
    json_t *o = jbody_object(body, 7, &e);
    assert_non_null(o);
    json_decref(o);
}

/* Nesting is bounded by jscan's depth, not jansson's 2048. */
static void nesting_is_bounded(void **state) {
    (void)state;
    char buf[2 * JSCAN_MAX_DEPTH + 64];
    for (int depth = JSCAN_MAX_DEPTH - 1; depth <= JSCAN_MAX_DEPTH + 1; depth++) {
        size_t n = (size_t)snprintf(buf, sizeof buf, "{\"a\":");
        for (int i = 1; i < depth; i++) buf[n++] = '[';
        buf[n++] = '1';
        for (int i = 1; i < depth; i++) buf[n++] = ']';
        buf[n++] = '}';
        api_error e = {0};
        json_t *o = jbody_object(buf, n, &e);
        if (depth <= JSCAN_MAX_DEPTH) {
            assert_non_null(o);
            json_decref(o);
        } else {
            assert_null(o);
            assert_int_equal(e.http_status, 400);
            assert_non_null(strstr(e.message, "nesting too deep"));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_media_types_are_taken),
        cmocka_unit_test(other_media_types_are_415),
        cmocka_unit_test(the_refused_type_is_shown_bounded_and_printable),
        cmocka_unit_test(a_body_must_be_one_object),
        cmocka_unit_test(integers_are_numbers_without_a_fraction),
        cmocka_unit_test(a_nul_byte_is_not_the_end),
        cmocka_unit_test(nesting_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
