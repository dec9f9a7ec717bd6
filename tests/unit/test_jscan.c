/* Unit tests for jscan: JSON validation, iteration and string decoding, checked against jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jscan.h"

static int valid(const char *text) {
    jscan_val v;
    err_t err;
    return jscan_document(text, strlen(text), &v, &err) == AGG_OK;
}

/* jansson (with NUL allowed in strings, any top-level value) is the oracle. */
static int jansson_valid(const char *text) {
    json_error_t je;
    json_t *j = json_loadb(text, strlen(text), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    json_decref(j);
    return j != NULL;
}

static void test_agrees_with_jansson(void **state) {
    (void)state;
    const char *cases[] = {
        "{}", "[]", " {\"a\" : [1, -2.5e+3, true, false, null, \"x\"] } ", "0", "-0", "1.0", "1e5",
        "\"\"", "\"\\u00e5\\ud83d\\ude00\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"å😀\"", "[[[[]]]]",
        "{\"a\":{\"b\":{}}}",
        /* invalid */
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[01]", "[1.]", "[.5]",
        "[1e]", "[-]", "[+1]", "tru", "nul", "[true false]", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "\"\x01\"", "\"\xc3\x28\"",
        "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xff\"", "\"\xe2\x82\"",
        "{} {}", "[1] x", "{\"a\":1}}", "[\"a\"]]"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int want = jansson_valid(cases[i]);
        if (valid(cases[i]) != want) fail_msg("case %zu (%s): jansson says %d", i, cases[i], want);
    }
}

static void test_error_text_has_offset(void **state) {
    (void)state;
    jscan_val v;
    err_t err;
    assert_int_equal(jscan_document("{\"a\":tx}", 8, &v, &err), AGG_ERR);
    assert_string_equal(err.text, "unexpected character at byte 5");
    assert_int_equal(jscan_document(NULL, 0, &v, &err), AGG_ERR);
    assert_string_equal(err.text, "empty text");
    assert_int_equal(jscan_document("[1]", 3, &v, NULL), AGG_OK); /* err may be NULL */
    assert_int_equal(jscan_document("[1", 2, &v, NULL), AGG_ERR);
}

static void test_depth_limit(void **state) {
    (void)state;
    char deep[2 * JSCAN_MAX_DEPTH + 3];
    for (int n = JSCAN_MAX_DEPTH; n <= JSCAN_MAX_DEPTH + 1; n++) {
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = '\0';
        assert_int_equal(valid(deep), n <= JSCAN_MAX_DEPTH);
    }
}

static void test_numbers(void **state) {
    (void)state;
    struct {
        const char *text;
        int integer;
    } cases[] = {{"0", 1},
                 {"-12", 1},
                 {"9223372036854775807", 1},
                 {"-9223372036854775808", 1},
                 {"9223372036854775808", 0},
                 {"-9223372036854775809", 0},
                 {"12345678901234567890", 0},
                 {"1.0", 0},
                 {"1e2", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jscan_val v;
        assert_int_equal(jscan_document(cases[i].text, strlen(cases[i].text), &v, NULL), AGG_OK);
        assert_int_equal(v.type, JSCAN_NUMBER);
        assert_int_equal(v.num_integer, cases[i].integer);
        assert_int_equal(v.len, strlen(cases[i].text));
    }
}

static void test_iterate_object_and_array(void **state) {
    (void)state;
    const char *text = " { \"a\" : 1 , \"b\":[ \"x\" , {\"c\":null} ,[] ], \"d\":\"e\" } ";
    jscan_val root, k, v, el;
    assert_int_equal(jscan_document(text, strlen(text), &root, NULL), AGG_OK);
    assert_int_equal(root.type, JSCAN_OBJECT);
    jscan_iter it, ai;
    jscan_iter_init(&it, &root);
    assert_int_equal(jscan_obj_next(&it, &k, &v), 1);
    assert_true(jscan_str_eq(&k, "a"));
    assert_int_equal(v.type, JSCAN_NUMBER);
    assert_int_equal(jscan_obj_next(&it, &k, &v), 1);
    assert_true(jscan_str_eq(&k, "b"));
    assert_int_equal(v.type, JSCAN_ARRAY);
    jscan_iter_init(&ai, &v);
    jscan_type want[] = {JSCAN_STRING, JSCAN_OBJECT, JSCAN_ARRAY};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jscan_arr_next(&ai, &el), 1);
        assert_int_equal(el.type, want[i]);
    }
    assert_int_equal(jscan_arr_next(&ai, &el), 0);
    assert_int_equal(jscan_obj_next(&it, &k, &v), 1);
    assert_true(jscan_str_eq(&k, "d"));
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.text, "\"e\"", 3);
    assert_int_equal(jscan_obj_next(&it, &k, &v), 0);
    assert_int_equal(jscan_obj_next(&it, &k, &v), 0);

    jscan_val empty;
    assert_int_equal(jscan_document("[ ]", 3, &empty, NULL), AGG_OK);
    jscan_iter_init(&ai, &empty);
    assert_int_equal(jscan_arr_next(&ai, &el), 0);
}

static void test_decode_matches_jansson(void **state) {
    (void)state;
    const char *cases[] = {"\"plain\"",
                           "\"a\\\"b\\\\c\\/d\"",
                           "\"\\b\\f\\n\\r\\t\"",
                           "\"\\u0041\\u00e5\\u20ac\\ud83d\\ude00\"",
                           "\"åäö😀\"",
                           "\"\""};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jscan_val v;
        assert_int_equal(jscan_document(cases[i], strlen(cases[i]), &v, NULL), AGG_OK);
        json_t *j = json_loads(cases[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        char buf[64];
        assert_int_equal(jscan_str_decode(&v, buf, sizeof buf), json_string_length(j));
        assert_int_equal(v.str_len, json_string_length(j));
        assert_string_equal(buf, json_string_value(j));
        assert_true(jscan_str_eq(&v, json_string_value(j)));
        json_decref(j);
    }
}

static void test_decode_truncates_and_flags_nul(void **state) {
    (void)state;
    jscan_val v;
    const char *t = "\"abcdef\"";
    assert_int_equal(jscan_document(t, strlen(t), &v, NULL), AGG_OK);
    char buf[4];
    assert_int_equal(jscan_str_decode(&v, buf, sizeof buf), 6);
    assert_string_equal(buf, "abc");
    assert_false(jscan_str_eq(&v, "abc"));
    assert_false(jscan_str_eq(&v, "abcdeg"));
    const char *n = "\"a\\u0000b\"";
    assert_int_equal(jscan_document(n, strlen(n), &v, NULL), AGG_OK);
    assert_int_equal(v.str_has_nul, 1);
    assert_int_equal(v.str_len, 3);
    assert_int_equal(v.str_escaped, 1);
}

/* Random edits of a valid document: jscan and jansson must agree on each. */
static void test_mutations_agree_with_jansson(void **state) {
    (void)state;
    const char *base = "{\"source\":\"r-1\",\"n\":[12,-3.5e2,true,null,{\"k\":\"\\u00e5\\n\"}],"
                       "\"s\":\"\xc3\xa5\"}";
    const char alphabet[] = "{}[]:,\"\\u0123456789eE+-.tfnrl aA\x01\xc3\xa5\xff";
    unsigned seed = 12345;
    size_t n = strlen(base);
    char buf[128];
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, base, n + 1);
        size_t len = n;
        int edits = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
        for (int k = 0; k < edits; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
            switch ((seed >> 4) % 3) {
            case 0: buf[at] = c; break;                                      /* replace */
            case 1: memmove(buf + at, buf + at + 1, len - at), len--; break; /* delete */
            default: memmove(buf + at + 1, buf + at, len - at + 1), buf[at] = c, len++; /* insert */
            }
        }
        buf[len] = '\0';
        if (strlen(buf) != len) continue; /* an inserted NUL byte: not a C-string case */
        if (valid(buf) != jansson_valid(buf))
            fail_msg("round %d: jscan and jansson disagree on %s", round, buf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_jansson),
        cmocka_unit_test(test_error_text_has_offset),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_iterate_object_and_array),
        cmocka_unit_test(test_decode_matches_jansson),
        cmocka_unit_test(test_decode_truncates_and_flags_nul),
        cmocka_unit_test(test_mutations_agree_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
