/* Unit tests for journalreq: validation of the POST /aggregate/journals body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "journalreq.h"

static const journalreq_limits LIM = {
    .timeout_default_ms = 10000, .timeout_max_ms = 27000, .n_resources = 3};

static journal_request R;
static api_error E;

static int parse_lim(const char *body, const journalreq_limits *lim) {
    memset(&E, 0, sizeof E);
    return journalreq_parse(body, strlen(body), lim, &R, &E);
}

static int parse(const char *body) { return parse_lim(body, &LIM); }

static void expect_err(const char *body, const char *code, const char *field) {
    assert_int_equal(parse(body), AGG_ERR);
    assert_int_equal(E.http_status, 400);
    assert_string_equal(E.code, code);
    if (field)
        assert_string_equal(E.field, field);
    else
        assert_null(E.field);
    assert_true(strlen(E.message) > 0);
}

static void test_minimal_defaults(void **state) {
    (void)state;
    assert_int_equal(parse("{\"patientId\":\"p1\"}"), AGG_OK);
    assert_string_equal(R.patient_id, "p1");
    assert_int_equal(R.n_delays, 0);
    assert_int_equal(R.timeout_ms, 10000);
    assert_int_equal(R.strategy, STRATEGY_SSE);
    for (int i = 0; i < RESLIST_MAX; i++) assert_int_equal(R.delays[i], 0);
}

static void test_full_string_delays(void **state) {
    (void)state;
    assert_int_equal(parse("{\"patientId\":\"patient-123\",\"delays\":\" 1000 , -1,-3\","
                           "\"timeoutMs\":5000,\"strategy\":\"WAIT_FOR_EVERYONE\",\"extra\":1}"),
                     AGG_OK);
    assert_int_equal(R.n_delays, 3);
    assert_int_equal(R.delays[0], 1000);
    assert_int_equal(R.delays[1], -1);
    assert_int_equal(R.delays[2], -3);
    assert_int_equal(R.timeout_ms, 5000);
    assert_int_equal(R.strategy, STRATEGY_WAIT_FOR_EVERYONE);
}

static void test_array_delays_partial(void **state) {
    (void)state;
    assert_int_equal(parse("{\"patientId\":\"p\",\"delays\":[600000,-2]}"), AGG_OK);
    assert_int_equal(R.n_delays, 2);
    assert_int_equal(R.delays[0], 600000);
    assert_int_equal(R.delays[1], -2);
    assert_int_equal(R.delays[2], 0);
    assert_int_equal(parse("{\"patientId\":\"p\",\"delays\":[]}"), AGG_OK);
    assert_int_equal(R.n_delays, 0);
    assert_int_equal(parse("{\"patientId\":\"p\",\"delays\":\"\"}"), AGG_OK);
    assert_int_equal(R.n_delays, 0);
    assert_int_equal(parse("{\"patientId\":\"p\",\"delays\":null}"), AGG_OK);
    assert_int_equal(R.n_delays, 0);
}

static void test_invalid_json(void **state) {
    (void)state;
    expect_err("", "invalid_json", NULL);
    expect_err("{", "invalid_json", NULL);
    expect_err("[]", "invalid_json", NULL);
    expect_err("\"p1\"", "invalid_json", NULL);
    expect_err("null", "invalid_json", NULL);
    expect_err("{\"patientId\":\"a\",\"patientId\":\"b\"}", "invalid_json", NULL);
    expect_err("{\"patientId\":\"a\"} x", "invalid_json", NULL);
}

static void test_body_not_nul_terminated(void **state) {
    (void)state;
    const char buf[] = "{\"patientId\":\"p9\"}GARBAGE";
    assert_int_equal(journalreq_parse(buf, strlen("{\"patientId\":\"p9\"}"), &LIM, &R, &E), AGG_OK);
    assert_string_equal(R.patient_id, "p9");
}

/* A NUL byte inside the body's length does not end it (found by tests/fuzz). */
static void test_body_with_nul_byte(void **state) {
    (void)state;
    const char buf[] = "{\"patientId\":\"p9\"}\0{\"patientId\":\"x\"}";
    memset(&E, 0, sizeof E);
    assert_int_equal(journalreq_parse(buf, sizeof buf - 1, &LIM, &R, &E), AGG_ERR);
    assert_int_equal(E.http_status, 400);
    assert_string_equal(E.code, "invalid_json");
}

static void test_patient_id(void **state) {
    (void)state;
    expect_err("{}", "missing_field", "patientId");
    expect_err("{\"patientId\":null}", "missing_field", "patientId");
    expect_err("{\"patientId\":\"\"}", "invalid_field", "patientId");
    expect_err("{\"patientId\":12}", "invalid_field", "patientId");
    expect_err("{\"patientId\":[\"p\"]}", "invalid_field", "patientId");
    expect_err("{\"patientId\":\"a b\"}", "invalid_field", "patientId");
    expect_err("{\"patientId\":\"a/b\"}", "invalid_field", "patientId");
    /* jansson refuses NUL escapes in strings: reported as invalid JSON */
    expect_err("{\"patientId\":\"a\\u0000b\"}", "invalid_json", NULL);
    expect_err("{\"patientId\":\"\\u00e9\"}", "invalid_field", "patientId");
    assert_int_equal(parse("{\"patientId\":\"A-z_0.9:x\"}"), AGG_OK);

    char body[200];
    char id[JOURNALREQ_PATIENT_ID_MAX + 2];
    memset(id, 'a', JOURNALREQ_PATIENT_ID_MAX);
    id[JOURNALREQ_PATIENT_ID_MAX] = '\0';
    snprintf(body, sizeof body, "{\"patientId\":\"%s\"}", id);
    assert_int_equal(parse(body), AGG_OK);
    assert_string_equal(R.patient_id, id);
    id[JOURNALREQ_PATIENT_ID_MAX] = 'a';
    id[JOURNALREQ_PATIENT_ID_MAX + 1] = '\0';
    snprintf(body, sizeof body, "{\"patientId\":\"%s\"}", id);
    expect_err(body, "invalid_field", "patientId");
}

static void test_delays_string_errors(void **state) {
    (void)state;
    const char *bad[] = {"abc",  "1.5", "1,,2", "1,",     ",1",
                         " ",    "1 2", "+5",   "--1",    "1e3",
                         "0x10", "-",   "4,-9", "600001", "99999999999999999999",
                         "1;2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"patientId\":\"p\",\"delays\":\"%s\"}", bad[i]);
        expect_err(body, "invalid_field", "delays");
    }
    assert_int_equal(parse("{\"patientId\":\"p\",\"delays\":\"\\t0 ,600000\"}"), AGG_OK);
    assert_int_equal(R.delays[1], 600000);
}

static void test_delays_array_errors(void **state) {
    (void)state;
    expect_err("{\"patientId\":\"p\",\"delays\":[1.5]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[\"1\"]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[true]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[null]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[-9]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[600001]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[9223372036854775807]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":5}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":{}}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":true}", "invalid_field", "delays");
}

static void test_delays_more_than_resources(void **state) {
    (void)state;
    expect_err("{\"patientId\":\"p\",\"delays\":[1,2,3,4]}", "invalid_field", "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":\"1,2,3,4\"}", "invalid_field", "delays");
    journalreq_limits none = LIM;
    none.n_resources = 0;
    assert_int_equal(parse_lim("{\"patientId\":\"p\",\"delays\":[1]}", &none), AGG_ERR);
    assert_string_equal(E.field, "delays");
}

/* Builds a body with n delays, as a string or as an array. */
static char *delays_body(int n, int as_array) {
    size_t cap = 64 + (size_t)n * 8;
    char *b = malloc(cap);
    assert_non_null(b);
    size_t pos =
        (size_t)snprintf(b, cap, "{\"patientId\":\"p\",\"delays\":%s", as_array ? "[" : "\"");
    for (int i = 0; i < n; i++)
        pos += (size_t)snprintf(b + pos, cap - pos, "%s%d", i ? "," : "", i);
    snprintf(b + pos, cap - pos, "%s}", as_array ? "]" : "\"");
    return b;
}

static void test_64_vs_65_delays(void **state) {
    (void)state;
    journalreq_limits big = LIM;
    big.n_resources = RESLIST_MAX;
    for (int as_array = 0; as_array < 2; as_array++) {
        char *b = delays_body(64, as_array);
        assert_int_equal(parse_lim(b, &big), AGG_OK);
        assert_int_equal(R.n_delays, 64);
        assert_int_equal(R.delays[63], 63);
        free(b);
        b = delays_body(65, as_array);
        assert_int_equal(parse_lim(b, &big), AGG_ERR);
        assert_string_equal(E.code, "invalid_field");
        assert_string_equal(E.field, "delays");
        free(b);
    }
    /* a limit above RESLIST_MAX still never overflows the array */
    big.n_resources = 1000;
    char *b = delays_body(65, 1);
    assert_int_equal(parse_lim(b, &big), AGG_ERR);
    free(b);
}

static void test_timeout(void **state) {
    (void)state;
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":null}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 10000);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":1}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 1);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":27000}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 27000);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":27001}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 27000);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":9223372036854775807}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 27000);
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":0}", "invalid_field", "timeoutMs");
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":-1}", "invalid_field", "timeoutMs");
    /* JSON Schema's integer: a number without a fraction, however it is spelt or how big. */
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":1000.0}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 1000);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":123456789012345678901234567890}"),
                     AGG_OK);
    assert_int_equal(R.timeout_ms, 27000);
    assert_int_equal(parse("{\"patientId\":\"p\",\"timeoutMs\":2e3}"), AGG_OK);
    assert_int_equal(R.timeout_ms, 2000);
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":-123456789012345678901234567890}",
               "invalid_field", "timeoutMs");
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":1000.5}", "invalid_field", "timeoutMs");
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":\"1000\"}", "invalid_field", "timeoutMs");
    expect_err("{\"patientId\":\"p\",\"timeoutMs\":false}", "invalid_field", "timeoutMs");
}

/* An unknown field may hold any JSON, an integer past 64 bits too: it is ignored, and the
 * known fields read as before. */
static void test_huge_integers_elsewhere_are_ignored(void **state) {
    (void)state;
    assert_int_equal(parse("{\"x\":-1381776372256849837162496,\"patientId\":\"p\","
                           "\"delays\":[5,-1],\"timeoutMs\":900}"),
                     AGG_OK);
    assert_int_equal(R.timeout_ms, 900);
    assert_int_equal(R.n_delays, 2);
    assert_int_equal(R.delays[0], 5);
    assert_int_equal(R.delays[1], -1);
    expect_err("{\"patientId\":\"p\",\"delays\":[99999999999999999999999]}", "invalid_field",
               "delays");
    expect_err("{\"patientId\":\"p\",\"delays\":[1.5]}", "invalid_field", "delays");
}

static void test_default_capped_by_max(void **state) {
    (void)state;
    journalreq_limits l = LIM;
    l.timeout_default_ms = 50000;
    assert_int_equal(parse_lim("{\"patientId\":\"p\"}", &l), AGG_OK);
    assert_int_equal(R.timeout_ms, 27000);
}

static void test_strategy(void **state) {
    (void)state;
    assert_int_equal(parse("{\"patientId\":\"p\",\"strategy\":\"SSE\"}"), AGG_OK);
    assert_int_equal(R.strategy, STRATEGY_SSE);
    assert_int_equal(parse("{\"patientId\":\"p\",\"strategy\":null}"), AGG_OK);
    assert_int_equal(R.strategy, STRATEGY_SSE);
    expect_err("{\"patientId\":\"p\",\"strategy\":\"sse\"}", "invalid_field", "strategy");
    expect_err("{\"patientId\":\"p\",\"strategy\":\"\"}", "invalid_field", "strategy");
    expect_err("{\"patientId\":\"p\",\"strategy\":1}", "invalid_field", "strategy");
    assert_string_equal(journalreq_strategy_name(STRATEGY_SSE), "SSE");
    assert_string_equal(journalreq_strategy_name(STRATEGY_WAIT_FOR_EVERYONE), "WAIT_FOR_EVERYONE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_string_delays),
        cmocka_unit_test(test_array_delays_partial),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_body_not_nul_terminated),
        cmocka_unit_test(test_body_with_nul_byte),
        cmocka_unit_test(test_patient_id),
        cmocka_unit_test(test_delays_string_errors),
        cmocka_unit_test(test_delays_array_errors),
        cmocka_unit_test(test_delays_more_than_resources),
        cmocka_unit_test(test_64_vs_65_delays),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_huge_integers_elsewhere_are_ignored),
        cmocka_unit_test(test_default_capped_by_max),
        cmocka_unit_test(test_strategy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
