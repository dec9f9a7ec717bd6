/* Unit tests for outcome: names, classification, counting and self-observed events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "outcome.h"

static void test_names_round_trip(void **state) {
    (void)state;
    const outcome_t all[] = {OUTCOME_OK, OUTCOME_REJECTED, OUTCOME_TIMEOUT,
                             OUTCOME_CONNECTION_CLOSED, OUTCOME_ERROR};
    const char *names[] = {"ok", "REJECTED", "TIMEOUT", "CONNECTION_CLOSED", "ERROR"};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(outcome_name(all[i]), names[i]);
        outcome_t o = OUTCOME_ACCEPTED;
        assert_int_equal(outcome_from_name(names[i], &o, NULL), AGG_OK);
        assert_int_equal(o, all[i]);
    }
    assert_string_equal(outcome_name(OUTCOME_ACCEPTED), "ACCEPTED");
}

static void test_from_name_rejects(void **state) {
    (void)state;
    outcome_t o = OUTCOME_OK;
    assert_int_equal(outcome_from_name("ACCEPTED", &o, NULL), AGG_ERR);
    assert_int_equal(outcome_from_name("OK", &o, NULL), AGG_ERR);
    assert_int_equal(outcome_from_name("timeout", &o, NULL), AGG_ERR);
    assert_int_equal(outcome_from_name("", &o, NULL), AGG_ERR);
    assert_int_equal(outcome_from_name("ok ", &o, NULL), AGG_ERR);
    assert_int_equal(outcome_from_name(NULL, &o, NULL), AGG_ERR);
}

static void test_classify(void **state) {
    (void)state;
    assert_int_equal(outcome_classify(TRANSPORT_OK, 200), OUTCOME_ACCEPTED);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 202), OUTCOME_ACCEPTED);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 299), OUTCOME_ACCEPTED);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 199), OUTCOME_ERROR);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 300), OUTCOME_ERROR);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 401), OUTCOME_REJECTED);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 403), OUTCOME_ERROR);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 500), OUTCOME_ERROR);
    assert_int_equal(outcome_classify(TRANSPORT_OK, 503), OUTCOME_ERROR);
    assert_int_equal(outcome_classify(TRANSPORT_TIMEOUT, 0), OUTCOME_TIMEOUT);
    assert_int_equal(outcome_classify(TRANSPORT_CONNECT_FAILED, 0), OUTCOME_CONNECTION_CLOSED);
    assert_int_equal(outcome_classify(TRANSPORT_CLOSED, 200), OUTCOME_CONNECTION_CLOSED);
    assert_int_equal(outcome_classify(TRANSPORT_OTHER, 200), OUTCOME_ERROR);
}

static void test_counting(void **state) {
    (void)state;
    assert_true(outcome_is_respondent(OUTCOME_OK));
    assert_false(outcome_is_error(OUTCOME_OK));
    assert_false(outcome_is_respondent(OUTCOME_REJECTED));
    assert_false(outcome_is_error(OUTCOME_REJECTED));
    const outcome_t errs[] = {OUTCOME_TIMEOUT, OUTCOME_CONNECTION_CLOSED, OUTCOME_ERROR};
    for (size_t i = 0; i < 3; i++) {
        assert_true(outcome_is_error(errs[i]));
        assert_false(outcome_is_respondent(errs[i]));
    }
    assert_false(outcome_is_error(OUTCOME_ACCEPTED));
    assert_false(outcome_is_respondent(OUTCOME_ACCEPTED));
}

static void test_event_json(void **state) {
    (void)state;
    char *s = outcome_event_json("resource-2", "p1", "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f",
                                 OUTCOME_REJECTED, -1, 42, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"source\":\"resource-2\",\"patientId\":\"p1\","
                           "\"correlationId\":\"0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f\","
                           "\"status\":\"REJECTED\",\"delayMs\":-1,\"notes\":[],\"elapsedMs\":42}");
    free(s);
}

/* An outcome from an open circuit says so; without a reason the event has no such member. */
static void test_event_json_with_reason(void **state) {
    (void)state;
    char *s = outcome_event_json_reason("resource-2", "p1", "c", OUTCOME_ERROR, "circuit open",
                                        0, 7, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"source\":\"resource-2\",\"patientId\":\"p1\","
                           "\"correlationId\":\"c\",\"status\":\"ERROR\",\"delayMs\":0,"
                           "\"notes\":[],\"elapsedMs\":7,\"reason\":\"circuit open\"}");
    free(s);
    s = outcome_event_json_reason("r", "p1", "c", OUTCOME_ERROR, NULL, 0, 7, NULL);
    assert_non_null(s);
    assert_null(strstr(s, "reason"));
    free(s);
}

static void test_event_json_escapes_and_large_elapsed(void **state) {
    (void)state;
    char *s = outcome_event_json("a\"b", "p", "c", OUTCOME_TIMEOUT, 600000, 5000000000LL, NULL);
    assert_non_null(s);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "a\"b");
    assert_string_equal(json_string_value(json_object_get(o, "status")), "TIMEOUT");
    assert_int_equal(json_integer_value(json_object_get(o, "elapsedMs")), 5000000000LL);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 0);
    json_decref(o);
    free(s);
}

static void test_event_json_errors(void **state) {
    (void)state;
    err_t e;
    assert_null(outcome_event_json(NULL, "p", "c", OUTCOME_ERROR, 0, 0, &e));
    assert_string_equal(e.text,
                        "an outcome event needs a source, a patient id and a correlation id");
    assert_null(outcome_event_json("r\xff", "p", "c", OUTCOME_ERROR, 0, 0, &e));
    assert_non_null(strstr(e.text, "UTF-8"));
    assert_int_equal(outcome_from_name("nope", NULL, &e), AGG_ERR);
    assert_string_equal(e.text, "not an outcome name");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_from_name_rejects),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_counting),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_event_json_with_reason),
        cmocka_unit_test(test_event_json_escapes_and_large_elapsed),
        cmocka_unit_test(test_event_json_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
