/* test_resource_notes: resource-sim note generation, dates, and the callback / direct JSON bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../resource-sim/notes.c"

#define NOW_MS 1700000000123LL /* 2023-11-14T22:13:20.123Z */

static int is_lower_uuid(const char *s) {
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static json_t *parse(const char *s) {
    assert_non_null(s);
    json_error_t je;
    json_t *o = json_loads(s, 0, &je);
    assert_non_null(o);
    return o;
}

static const char *str_field(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void resource_id_validation(void **state) {
    (void)state;
    assert_true(notes_resource_id_valid("resource-1"));
    assert_true(notes_resource_id_valid("Lab_2.eu-north"));
    assert_false(notes_resource_id_valid(""));
    assert_false(notes_resource_id_valid(NULL));
    assert_false(notes_resource_id_valid("res ource"));
    assert_false(notes_resource_id_valid("res/1"));
    assert_false(notes_resource_id_valid("r\"1"));
    char id[80];
    memset(id, 'a', 64);
    id[64] = '\0';
    assert_true(notes_resource_id_valid(id));
    id[64] = 'a';
    id[65] = '\0';
    assert_false(notes_resource_id_valid(id));
}

static void date_format(void **state) {
    (void)state;
    char d[NOTES_DATE_LEN + 1];
    assert_int_equal(notes_format_date(0, d), AGG_OK);
    assert_string_equal(d, "1970-01-01T00:00:00Z");
    assert_int_equal(notes_format_date(1700000000, d), AGG_OK);
    assert_string_equal(d, "2023-11-14T22:13:20Z");
}

static void callback_body_shape(void **state) {
    (void)state;
    char *s = notes_result_json("resource-1", "patient-123", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4",
                                1000, 3, NOW_MS);
    json_t *o = parse(s);
    assert_int_equal(json_object_size(o), 6);
    assert_string_equal(str_field(o, "source"), "resource-1");
    assert_string_equal(str_field(o, "patientId"), "patient-123");
    assert_string_equal(str_field(o, "correlationId"), "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4");
    assert_string_equal(str_field(o, "status"), "ok");
    assert_true(json_is_integer(json_object_get(o, "delayMs")));
    assert_int_equal(json_integer_value(json_object_get(o, "delayMs")), 1000);
    json_t *notes = json_object_get(o, "notes");
    assert_true(json_is_array(notes));
    assert_int_equal(json_array_size(notes), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *n = json_array_get(notes, i);
        assert_int_equal(json_object_size(n), 6);
        assert_true(is_lower_uuid(str_field(n, "id")));
        char want[NOTES_DATE_LEN + 1];
        assert_int_equal(notes_format_date(notes_date_s("resource-1", (int)i, NOW_MS / 1000), want),
                         AGG_OK);
        assert_string_equal(str_field(n, "date"), want);
        assert_string_equal(str_field(n, "patientId"), "patient-123");
        assert_memory_equal(str_field(n, "caregiverId"), "resource-1-caregiver-", 21);
        assert_memory_equal(str_field(n, "doctorId"), "doctor-", 7);
        assert_true(strlen(str_field(n, "note")) > 0);
    }
    /* Ids are random per note. */
    assert_string_not_equal(str_field(json_array_get(notes, 0), "id"),
                            str_field(json_array_get(notes, 1), "id"));
    json_decref(o);
    free(s);
}

static void direct_body_has_no_correlation_id(void **state) {
    (void)state;
    char *s = notes_result_json("resource-2", "p1", NULL, 0, 2, NOW_MS);
    json_t *o = parse(s);
    assert_null(json_object_get(o, "correlationId"));
    assert_int_equal(json_object_size(o), 5);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "delayMs")), 0);
    json_decref(o);
    free(s);
}

static void zero_notes_is_empty_array(void **state) {
    (void)state;
    char *s =
        notes_result_json("resource-1", "p1", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4", 5, 0, NOW_MS);
    json_t *o = parse(s);
    json_t *notes = json_object_get(o, "notes");
    assert_true(json_is_array(notes));
    assert_int_equal(json_array_size(notes), 0);
    json_decref(o);
    free(s);
}

static void patient_id_is_escaped(void **state) {
    (void)state;
    const char *pid = "p\"1\\\xc3\xa9<x>";
    char *s = notes_result_json("lab", pid, NULL, 7, 1, NOW_MS);
    json_t *o = parse(s);
    assert_string_equal(str_field(o, "patientId"), pid);
    assert_string_equal(str_field(json_array_get(json_object_get(o, "notes"), 0), "patientId"),
                        pid);
    json_decref(o);
    free(s);
}

static void rejected_body(void **state) {
    (void)state;
    char *s = notes_rejected_json("resource-3", "patient-9");
    assert_non_null(s);
    assert_string_equal(
        s, "{\"source\":\"resource-3\",\"patientId\":\"patient-9\",\"status\":\"REJECTED\","
           "\"notes\":null,\"delayMs\":-1}");
    free(s);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Newest-first ordering must be well defined: no two notes share a date,
 * within one resource or across the demo's three resources. */
static void dates_distinct_and_deterministic(void **state) {
    (void)state;
    const char *ids[] = {"resource-1", "resource-2", "resource-3"};
    enum { PER = 10 };
    char dates[3 * PER][NOTES_DATE_LEN + 1];
    char *ptrs[3 * PER];
    for (int r = 0; r < 3; r++) {
        long long prev = 0;
        for (int i = 0; i < PER; i++) {
            long long t = notes_date_s(ids[r], i, NOW_MS / 1000);
            assert_true(t < NOW_MS / 1000);
            if (i > 0) assert_true(t < prev); /* note 0 is the newest */
            prev = t;
            assert_int_equal(t, notes_date_s(ids[r], i, NOW_MS / 1000));
            assert_int_equal(notes_format_date(t, dates[r * PER + i]), AGG_OK);
            ptrs[r * PER + i] = dates[r * PER + i];
        }
    }
    qsort(ptrs, 3 * PER, sizeof ptrs[0], cmp_str);
    for (int k = 1; k < 3 * PER; k++) assert_string_not_equal(ptrs[k - 1], ptrs[k]);

    /* The same (resource, time) gives the same dates in the JSON body. */
    char *a = notes_result_json("resource-1", "p", NULL, 0, 3, NOW_MS);
    char *b = notes_result_json("resource-1", "p", NULL, 0, 3, NOW_MS + 1);
    json_t *ja = parse(a), *jb = parse(b);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(str_field(json_array_get(json_object_get(ja, "notes"), i), "date"),
                            str_field(json_array_get(json_object_get(jb, "notes"), i), "date"));
    json_decref(ja);
    json_decref(jb);
    free(a);
    free(b);
}

static void many_notes(void **state) {
    (void)state;
    char *s = notes_result_json("resource-1", "p", NULL, 0, 1000, NOW_MS);
    json_t *o = parse(s);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 1000);
    json_decref(o);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resource_id_validation),
        cmocka_unit_test(date_format),
        cmocka_unit_test(callback_body_shape),
        cmocka_unit_test(direct_body_has_no_correlation_id),
        cmocka_unit_test(zero_notes_is_empty_array),
        cmocka_unit_test(patient_id_is_escaped),
        cmocka_unit_test(rejected_body),
        cmocka_unit_test(dates_distinct_and_deterministic),
        cmocka_unit_test(many_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
