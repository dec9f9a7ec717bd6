/* Unit tests for answer: validation and normalisation of a resource's answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "err.h"

#define CID "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f"
#define NOTE(id, date)                                                                             \
    "{\"id\":\"" id "\",\"date\":\"" date "\",\"caregiverId\":\"c\",\"patientId\":\"p1\","         \
    "\"doctorId\":\"d\",\"note\":\"n\"}"

static answer_msg M;
static api_error E;

static int parse(const char *body) {
    memset(&E, 0, sizeof E);
    return answer_parse(body, strlen(body), &M, &E);
}

static void expect_err(const char *body, const char *code, const char *field) {
    assert_int_equal(parse(body), AGG_ERR);
    assert_null(M.json);
    assert_int_equal(E.http_status, 400);
    assert_string_equal(E.code, code);
    if (field)
        assert_string_equal(E.field, field);
    else
        assert_null(E.field);
}

/* Parses the valid base body with one member replaced (value NULL: removed). */
static int parse_with(const char *key, json_t *value) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s,s:[]}", "source", "resource-1", "patientId", "p1",
                          "correlationId", CID, "delayMs", 5, "status", "ok", "notes");
    assert_non_null(o);
    if (value)
        json_object_set_new(o, key, value);
    else
        json_object_del(o, key);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = parse(s);
    free(s);
    return rc;
}

static void test_ok_normalised_drops_unknown(void **state) {
    (void)state;
    assert_int_equal(
        parse("{\"extra\":1,\"notes\":[{\"x\":1,\"id\":\"n1\",\"date\":\"2024-05-01T10:15:30Z\","
              "\"caregiverId\":\"c\",\"patientId\":\"p1\",\"doctorId\":\"d\",\"note\":\"hi\"}],"
              "\"status\":\"ok\",\"delayMs\":1000,\"correlationId\":\"" CID "\","
              "\"patientId\":\"p1\",\"source\":\"resource-1\"}"),
        AGG_OK);
    assert_string_equal(M.correlation_id, CID);
    assert_string_equal(M.source, "resource-1");
    assert_int_equal(M.status, OUTCOME_OK);
    assert_string_equal(M.json,
                        "{\"source\":\"resource-1\",\"patientId\":\"p1\",\"correlationId\":\"" CID
                        "\",\"delayMs\":1000,\"status\":\"ok\",\"notes\":[{\"id\":\"n1\","
                        "\"date\":\"2024-05-01T10:15:30Z\",\"caregiverId\":\"c\","
                        "\"patientId\":\"p1\",\"doctorId\":\"d\",\"note\":\"hi\"}]}");
    answer_clear(&M);
    assert_null(M.json);
    answer_clear(&M);
}

static void test_non_ok_without_notes(void **state) {
    (void)state;
    assert_int_equal(parse("{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
                           "\",\"status\":\"ERROR\"}"),
                     AGG_OK);
    assert_int_equal(M.status, OUTCOME_ERROR);
    assert_string_equal(M.json, "{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
                                "\",\"status\":\"ERROR\",\"notes\":[]}");
    answer_clear(&M);
    assert_int_equal(parse("{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
                           "\",\"status\":\"REJECTED\",\"notes\":null}"),
                     AGG_OK);
    assert_int_equal(M.status, OUTCOME_REJECTED);
    assert_non_null(strstr(M.json, "\"notes\":[]"));
    answer_clear(&M);
}

static void test_invalid_json(void **state) {
    (void)state;
    expect_err("", "invalid_json", NULL);
    expect_err("[1]", "invalid_json", NULL);
    expect_err("{\"source\":\"a\",\"source\":\"b\"}", "invalid_json", NULL);
    expect_err("{\"source\":", "invalid_json", NULL);
}

static void test_missing_fields(void **state) {
    (void)state;
    const char *keys[] = {"source", "patientId", "correlationId", "status"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(parse_with(keys[i], NULL), AGG_ERR);
        assert_string_equal(E.code, "missing_field");
        assert_string_equal(E.field, keys[i]);
    }
    assert_int_equal(parse_with("notes", NULL), AGG_ERR);
    assert_string_equal(E.code, "missing_field");
    assert_string_equal(E.field, "notes");
    assert_int_equal(parse_with("notes", json_null()), AGG_ERR);
    assert_string_equal(E.field, "notes");
    assert_int_equal(parse_with("delayMs", NULL), AGG_OK);
    assert_null(strstr(M.json, "delayMs"));
    answer_clear(&M);
}

static void expect_invalid(const char *key, json_t *value) {
    assert_int_equal(parse_with(key, value), AGG_ERR);
    assert_null(M.json);
    assert_string_equal(E.code, "invalid_field");
    assert_string_equal(E.field, key);
}

static void test_invalid_fields(void **state) {
    (void)state;
    expect_invalid("source", json_string(""));
    expect_invalid("source", json_integer(1));
    expect_invalid(
        "source", json_string("sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss"));
    expect_invalid("patientId", json_string(""));
    expect_invalid("patientId", json_null());
    expect_invalid(
        "patientId",
        json_string("ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"));
    expect_invalid("correlationId", json_string("0B7E6D3C-1F2A-4B5C-8D9E-0A1B2C3D4E5F"));
    expect_invalid("correlationId", json_string("not-a-uuid"));
    expect_invalid("delayMs", json_string("5"));
    expect_invalid("delayMs", json_real(5.0));
    expect_invalid("delayMs", json_null());
    expect_invalid("status", json_string("OK"));
    expect_invalid("status", json_string("ACCEPTED"));
    expect_invalid("status", json_integer(0));
    expect_invalid("notes", json_string("[]"));
    expect_invalid("notes", json_object());
    assert_int_equal(
        parse_with("source",
                   json_string("ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss")),
        AGG_OK);
    assert_int_equal(strlen(M.source), 64);
    answer_clear(&M);
}

static void test_note_validation(void **state) {
    (void)state;
    const char *fields[] = {"id", "date", "caregiverId", "patientId", "doctorId", "note"};
    for (size_t i = 0; i < 6; i++) {
        json_t *note = json_loads(NOTE("n1", "2024-05-01"), 0, NULL);
        json_object_del(note, fields[i]);
        assert_int_equal(parse_with("notes", json_pack("[o]", note)), AGG_ERR);
        assert_string_equal(E.code, "missing_field");
        assert_string_equal(E.field, "notes");
        note = json_loads(NOTE("n1", "2024-05-01"), 0, NULL);
        json_object_set_new(note, fields[i], json_integer(1));
        expect_invalid("notes", json_pack("[o]", note));
    }
    expect_invalid("notes", json_loads("[" NOTE("", "2024-05-01") "]", 0, NULL));
    expect_invalid("notes", json_loads("[1]", 0, NULL));
    expect_invalid("notes", json_loads("[" NOTE("a", "2024-05-01") ",null]", 0, NULL));
}

static void test_dates(void **state) {
    (void)state;
    const char *good[] = {"2024-05-01",
                          "2024-05-01T10:15",
                          "2024-05-01T10:15:30",
                          "2024-05-01T10:15:30Z",
                          "2024-05-01T10:15:30.123Z",
                          "2024-05-01T10:15:30+02:00",
                          "2024-05-01T10:15-0530",
                          "2024-12-31T23:59:60.5+14:00"};
    const char *bad[] = {"",
                         "2024",
                         "2024-5-01",
                         "2024-05-1",
                         "20240501",
                         "2024-13-01",
                         "2024-00-10",
                         "2024-05-32",
                         "2023-02-29",
                         "2024-04-31",
                         "2024-05-01T",
                         "2024-05-01T25:00",
                         "2024-05-01T10:60",
                         "2024-05-01 10:15",
                         "2024-05-01T10:15:30.",
                         "2024-05-01T10:15:30Zx",
                         "2024-05-01T10:15:30+2",
                         "yesterday",
                         "2024-05-01T10:15:30z"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *note = json_loads(NOTE("n1", "2024-05-01"), 0, NULL);
        json_object_set_new(note, "date", json_string(good[i]));
        assert_int_equal(parse_with("notes", json_pack("[o]", note)), AGG_OK);
        answer_clear(&M);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *note = json_loads(NOTE("n1", "2024-05-01"), 0, NULL);
        json_object_set_new(note, "date", json_string(bad[i]));
        expect_invalid("notes", json_pack("[o]", note));
    }
}

static void test_max_notes(void **state) {
    (void)state;
    json_t *arr = json_array();
    for (int i = 0; i < ANSWER_MAX_NOTES; i++)
        json_array_append_new(arr, json_loads(NOTE("n", "2024-05-01"), 0, NULL));
    json_incref(arr);
    assert_int_equal(parse_with("notes", arr), AGG_OK);
    answer_clear(&M);
    json_array_append_new(arr, json_loads(NOTE("n", "2024-05-01"), 0, NULL));
    expect_invalid("notes", arr);
}

static void test_escapes_kept_and_fields_decoded(void **state) {
    (void)state;
    assert_int_equal(parse("{\"sourc\\u0065\":\"r\\u00e5\",\"patientId\":\"p\\\"1\","
                           "\"correlationId\":\"" CID "\",\"status\":\"\\u006fk\",\"notes\":[]}"),
                     AGG_OK);
    assert_string_equal(M.source, "r\xc3\xa5");
    assert_string_equal(M.patient_id, "p\"1");
    assert_int_equal(M.status, OUTCOME_OK);
    assert_int_equal(M.json_len, strlen(M.json));
    assert_string_equal(M.json,
                        "{\"source\":\"r\\u00e5\",\"patientId\":\"p\\\"1\",\"correlationId\":\"" CID
                        "\",\"status\":\"\\u006fk\",\"notes\":[]}");
    /* It means what the body meant. */
    json_t *o = json_loads(M.json, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
    answer_clear(&M);
}

static void test_duplicates_and_bad_strings(void **state) {
    (void)state;
    expect_err("{\"source\":\"a\",\"sourc\\u0065\":\"b\"}", "invalid_json", NULL);
    expect_err("{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
               "\",\"status\":\"ok\",\"notes\":[{\"id\":\"a\",\"id\":\"b\"}]}",
               "invalid_json", NULL);
    /* Unknown members are dropped, so their repeats do not matter. */
    assert_int_equal(
        parse("{\"x\":1,\"x\":2,\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
              "\",\"status\":\"ERROR\"}"),
        AGG_OK);
    answer_clear(&M);
    expect_err("{\"source\":\"s\\u0000\",\"patientId\":\"p\",\"correlationId\":\"" CID
               "\",\"status\":\"ERROR\"}",
               "invalid_field", "source");
    expect_err(
        "{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
        "\",\"status\":\"ok\",\"notes\":[{\"id\":\"a\",\"date\":\"2024-05-01\","
        "\"caregiverId\":\"c\",\"patientId\":\"p1\",\"doctorId\":\"d\",\"note\":\"\\u0000\"}]}",
        "invalid_field", "notes");
    expect_err("{\"source\":\"\xff\"}", "invalid_json", NULL);
    expect_err("{\"delayMs\":1} x", "invalid_json", NULL);
    expect_err("{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
               "\",\"status\":\"ERROR\",\"delayMs\":99999999999999999999}",
               "invalid_field", "delayMs");
    /* A date spelled with escapes is checked decoded. */
    assert_int_equal(
        parse("{\"source\":\"s\",\"patientId\":\"p\",\"correlationId\":\"" CID
              "\",\"status\":\"ok\",\"notes\":[{\"id\":\"a\",\"date\":\"2024\\u002d05-01\","
              "\"caregiverId\":\"c\",\"patientId\":\"p1\",\"doctorId\":\"d\",\"note\":\"n\"}]}"),
        AGG_OK);
    answer_clear(&M);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_normalised_drops_unknown),
        cmocka_unit_test(test_non_ok_without_notes),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_invalid_fields),
        cmocka_unit_test(test_note_validation),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_max_notes),
        cmocka_unit_test(test_escapes_kept_and_fields_decoded),
        cmocka_unit_test(test_duplicates_and_bad_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
