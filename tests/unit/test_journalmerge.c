/* Unit tests for journalmerge: the WAIT_FOR_EVERYONE response built from a session log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "journalmerge.h"

#define CID "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f"
#define NOTE(id, date)                                                                             \
    "{\"id\":\"" id "\",\"date\":\"" date "\",\"caregiverId\":\"c\",\"patientId\":\"p1\","         \
    "\"doctorId\":\"d\",\"note\":\"n\"}"
#define SUMMARY(resp, errs, by)                                                                    \
    "{\"source\":\"AGGREGATOR\",\"correlationId\":\"" CID "\",\"status\":\"COMPLETE\","            \
    "\"respondents\":" #resp ",\"errors\":" #errs ",\"completedBy\":\"" by "\",\"elapsedMs\":900}"

static json_t *build(const log_event *ev, size_t n) {
    char *s = (char *)"not set";
    err_t e;
    if (journalmerge_build("p1", ev, n, &s, &e) != AGG_OK) {
        assert_null(s);
        return NULL;
    }
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(o);
    return o;
}

/* journalmerge_build fails on the log with an error text that contains want. */
static void expect_error(const char *patient_id, const log_event *ev, size_t n, const char *want) {
    char *s = (char *)"not set";
    err_t e = {0};
    assert_int_equal(journalmerge_build(patient_id, ev, n, &s, &e), AGG_ERR);
    assert_null(s);
    if (!strstr(e.text, want)) fail_msg("error \"%s\" does not say \"%s\"", e.text, want);
}

static const char *note_id(json_t *o, size_t i) {
    return json_string_value(json_object_get(json_array_get(json_object_get(o, "notes"), i), "id"));
}

static void test_full_response(void **state) {
    (void)state;
    const log_event ev[] = {
        {1, "callback",
         "{\"source\":\"resource-2\",\"patientId\":\"p1\",\"correlationId\":\"" CID
         "\",\"status\":\"ok\",\"delayMs\":0,\"notes\":[" NOTE("b1", "2024-01-01") "," NOTE(
             "b2", "2024-06-01T08:00:00Z") "],\"elapsedMs\":120}"},
        {2, "callback",
         "{\"source\":\"resource-3\",\"patientId\":\"p1\",\"correlationId\":\"" CID
         "\",\"status\":\"REJECTED\",\"delayMs\":-1,\"notes\":[],\"elapsedMs\":130}"},
        {3, "callback",
         "{\"source\":\"resource-1\",\"patientId\":\"p1\",\"correlationId\":\"" CID
         "\",\"status\":\"ok\",\"notes\":[" NOTE(
             "a1", "2024-03-15T12:00:00.5+01:00") "],"
                                                  "\"elapsedMs\":400}"},
        {4, "summary", SUMMARY(2, 0, "ALL_RESPONDED")},
    };
    json_t *o = build(ev, 4);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 7);
    assert_string_equal(json_string_value(json_object_get(o, "correlationId")), CID);
    assert_string_equal(json_string_value(json_object_get(o, "patientId")), "p1");
    assert_int_equal(json_integer_value(json_object_get(o, "respondents")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "errors")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "completedBy")), "ALL_RESPONDED");
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 3);
    assert_string_equal(note_id(o, 0), "b2");
    assert_string_equal(note_id(o, 1), "a1");
    assert_string_equal(note_id(o, 2), "b1");
    json_t *n0 = json_array_get(json_object_get(o, "notes"), 0);
    assert_int_equal(json_object_size(n0), 6);
    json_t *src = json_object_get(o, "sources");
    assert_int_equal(json_array_size(src), 3);
    const char *names[] = {"resource-2", "resource-3", "resource-1"};
    const char *status[] = {"ok", "REJECTED", "ok"};
    const long long el[] = {120, 130, 400};
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(src, i);
        assert_int_equal(json_object_size(s), 3);
        assert_string_equal(json_string_value(json_object_get(s, "source")), names[i]);
        assert_string_equal(json_string_value(json_object_get(s, "status")), status[i]);
        assert_int_equal(json_integer_value(json_object_get(s, "elapsedMs")), el[i]);
    }
    json_decref(o);
}

static void test_order_ties_and_timezones(void **state) {
    (void)state;
    /* 10:00+02:00 is 08:00Z, older than 09:00Z; equal instants tie by source then id;
     * a date without time is midnight UTC. */
    const log_event ev[] = {
        {1, "callback",
         "{\"source\":\"zeta\",\"status\":\"ok\",\"notes\":[" NOTE(
             "z2",
             "2024-05-01T09:00:00Z") "," NOTE("z1",
                                              "2024-05-01T09:00:00Z") "," NOTE("tz",
                                                                               "2024-05-01T10:00:"
                                                                               "00+02:00") "]}"},
        {2, "callback",
         "{\"source\":\"alpha\",\"status\":\"ok\",\"notes\":[" NOTE("a9", "2024-05-01T09:00:00."
                                                                          "000Z") "," NOTE(
             "d0", "2024-05-01") "," NOTE("ms", "2024-05-01T09:00:00.001Z") "]}"},
        {3, "summary", SUMMARY(2, 0, "ALL_RESPONDED")},
    };
    json_t *o = build(ev, 3);
    assert_non_null(o);
    const char *want[] = {"ms", "a9", "z1", "z2", "tz", "d0"};
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 6);
    for (size_t i = 0; i < 6; i++) assert_string_equal(note_id(o, i), want[i]);
    /* elapsedMs missing -> 0 */
    json_t *s0 = json_array_get(json_object_get(o, "sources"), 0);
    assert_int_equal(json_integer_value(json_object_get(s0, "elapsedMs")), 0);
    json_decref(o);
}

/* An outcome from an open circuit keeps its reason in the sources. */
static void test_reason_is_kept(void **state) {
    (void)state;
    const log_event ev[] = {
        {1, "callback",
         "{\"source\":\"r\",\"status\":\"ERROR\",\"reason\":\"circuit open\",\"notes\":[],"
         "\"elapsedMs\":3}"},
        {2, "summary", SUMMARY(0, 1, "ALL_RESPONDED")},
    };
    json_t *o = build(ev, 2);
    assert_non_null(o);
    json_t *s0 = json_array_get(json_object_get(o, "sources"), 0);
    assert_string_equal(json_string_value(json_object_get(s0, "reason")), "circuit open");
    assert_string_equal(json_string_value(json_object_get(s0, "status")), "ERROR");
    json_decref(o);
}

static void test_timeout_summary_only(void **state) {
    (void)state;
    const log_event ev[] = {
        {1, "callback",
         "{\"source\":\"resource-1\",\"status\":\"TIMEOUT\",\"notes\":[],\"elapsedMs\":27000}"},
        {2, "summary", SUMMARY(0, 1, "TIMEOUT")},
    };
    json_t *o = build(ev, 2);
    assert_non_null(o);
    assert_null(json_object_get(json_array_get(json_object_get(o, "sources"), 0), "reason"));
    assert_string_equal(json_string_value(json_object_get(o, "completedBy")), "TIMEOUT");
    assert_int_equal(json_integer_value(json_object_get(o, "errors")), 1);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 0);
    json_decref(o);
    const log_event only[] = {{1, "summary", SUMMARY(0, 0, "ALL_RESPONDED")}};
    o = build(only, 1);
    assert_non_null(o);
    assert_int_equal(json_array_size(json_object_get(o, "sources")), 0);
    json_decref(o);
}

static void test_errors(void **state) {
    (void)state;
    const log_event no_summary[] = {
        {1, "callback", "{\"source\":\"a\",\"status\":\"ok\",\"notes\":[]}"}};
    expect_error("p1", no_summary, 1, "the log has no summary");
    expect_error("p1", NULL, 0, "the log has no summary");
    expect_error(NULL, no_summary, 1, "no patient id");
    expect_error("p1", NULL, 1, "no log");
    const log_event bad_json[] = {{1, "callback", "{\"source\":"},
                                  {2, "summary", SUMMARY(0, 0, "TIMEOUT")}};
    expect_error("p1", bad_json, 2, "log entry 0 is not valid JSON");
    const log_event bad_summary[] = {{1, "summary", "[]"}};
    expect_error("p1", bad_summary, 1, "log entry 0 is not a JSON object");
    const log_event summary_missing[] = {{1, "summary", "{\"correlationId\":\"" CID "\"}"}};
    expect_error("p1", summary_missing, 1, "the summary lacks");
    const log_event cb_no_source[] = {{1, "callback", "{\"status\":\"ok\"}"},
                                      {2, "summary", SUMMARY(0, 0, "TIMEOUT")}};
    expect_error("p1", cb_no_source, 2, "log entry 0: the outcome event has no source or status");
    const log_event notes_not_array[] = {
        {1, "callback", "{\"source\":\"a\",\"status\":\"ok\",\"notes\":1}"},
        {2, "summary", SUMMARY(1, 0, "TIMEOUT")}};
    expect_error("p1", notes_not_array, 2, "log entry 0: notes is not an array");
    const log_event null_data[] = {{1, "summary", NULL}};
    expect_error("p1", null_data, 1, "log entry 0 has no event or no data");
    const log_event note_not_object[] = {
        {1, "callback", "{\"source\":\"a\",\"status\":\"ok\",\"notes\":[1]}"},
        {2, "summary", SUMMARY(1, 0, "TIMEOUT")}};
    expect_error("p1", note_not_object, 2, "log entry 0: notes[0] is not an object");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_response),
        cmocka_unit_test(test_order_ties_and_timezones),
        cmocka_unit_test(test_timeout_summary_only),
        cmocka_unit_test(test_reason_is_kept),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
