/* test_resource_notes: resource-sim notes, dates, and the answer bodies (callback and direct). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "notes.h"
#include "uuid4.h"

#define NOW_MS 1700000000123LL /* 2023-11-14T22:13:20.123Z */

/* 1 when s is a lowercase version-4 UUID: version nibble 4, variant 10xx. */
static int is_v4_uuid(const char *s) {
    return uuid4_valid(s) && s[14] == '4' && strchr("89ab", s[19]) != NULL;
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
    assert_int_equal(notes_format_date(0, d, NULL), AGG_OK);
    assert_string_equal(d, "1970-01-01T00:00:00Z");
    assert_int_equal(notes_format_date(1700000000, d, NULL), AGG_OK);
    assert_string_equal(d, "2023-11-14T22:13:20Z");
}

static void answer_body_shape(void **state) {
    (void)state;
    char *s = notes_result_json("resource-1", "patient-123", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4",
                                1000, 3, NOW_MS, NULL);
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
        assert_true(is_v4_uuid(str_field(n, "id")));
        char want[NOTES_DATE_LEN + 1];
        assert_int_equal(
            notes_format_date(notes_date_s("resource-1", (int)i, NOW_MS / 1000), want, NULL),
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
    char *s = notes_result_json("resource-2", "p1", NULL, 0, 2, NOW_MS, NULL);
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
    char *s = notes_result_json("resource-1", "p1", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4", 5, 0,
                                NOW_MS, NULL);
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
    char *s = notes_result_json("lab", pid, NULL, 7, 1, NOW_MS, NULL);
    json_t *o = parse(s);
    assert_string_equal(str_field(o, "patientId"), pid);
    assert_string_equal(str_field(json_array_get(json_object_get(o, "notes"), 0), "patientId"),
                        pid);
    json_decref(o);
    free(s);
}

static void rejected_body(void **state) {
    (void)state;
    char *s = notes_rejected_json("resource-3", "patient-9", NULL);
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
            assert_int_equal(notes_format_date(t, dates[r * PER + i], NULL), AGG_OK);
            ptrs[r * PER + i] = dates[r * PER + i];
        }
    }
    qsort(ptrs, 3 * PER, sizeof ptrs[0], cmp_str);
    for (int k = 1; k < 3 * PER; k++) assert_string_not_equal(ptrs[k - 1], ptrs[k]);

    /* The same (resource, time) gives the same dates in the JSON body. */
    char *a = notes_result_json("resource-1", "p", NULL, 0, 3, NOW_MS, NULL);
    char *b = notes_result_json("resource-1", "p", NULL, 0, 3, NOW_MS + 1, NULL);
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
    char *s = notes_result_json("resource-1", "p", NULL, 0, 1000, NOW_MS, NULL);
    json_t *o = parse(s);
    assert_int_equal(json_array_size(json_object_get(o, "notes")), 1000);
    json_decref(o);
    free(s);
}

/* --- reference: the former jansson implementation, with the note ids taken
 * from the body under test (ids are random), so bodies compare byte for byte. */

static int ref_set_str(json_t *o, const char *key, const char *s) {
    json_t *v = json_string(s);
    return v ? json_object_set_new(o, key, v) : -1;
}

/* The jansson body for these inputs and ids (an array of n id strings, or NULL
 * when n <= 0); malloc'd, NULL where the jansson version returned NULL. */
static char *ref_result_json(const char *resource_id, const char *patient_id,
                             const char *correlation_id, long delay_ms, int n, long long now_ms,
                             json_t *ids) {
    json_t *o = json_object();
    json_t *arr = json_array();
    assert_non_null(o);
    assert_non_null(arr);
    char *out = NULL;
    if (ref_set_str(o, "source", resource_id) || ref_set_str(o, "patientId", patient_id) ||
        (correlation_id && ref_set_str(o, "correlationId", correlation_id)) ||
        json_object_set_new(o, "delayMs", json_integer(delay_ms)) || ref_set_str(o, "status", "ok"))
        goto done;
    unsigned h = notes_resource_hash(resource_id);
    for (int i = 0; i < n; i++) {
        char date[NOTES_DATE_LEN + 1], caregiver[NOTES_RESOURCE_ID_MAX + 32], doctor[32];
        if (notes_format_date(notes_date_s(resource_id, i, now_ms / 1000), date, NULL) != AGG_OK)
            goto done;
        snprintf(caregiver, sizeof caregiver, "%s-caregiver-%u", resource_id,
                 (h + (unsigned)i) % 5u + 1u);
        snprintf(doctor, sizeof doctor, "doctor-%u", (h / 7u + (unsigned)i * 3u) % 12u + 1u);
        json_t *note = json_object();
        assert_non_null(note);
        json_array_append_new(arr, note);
        if (ref_set_str(note, "id",
                        ids ? json_string_value(json_array_get(ids, (size_t)i)) : NULL) ||
            ref_set_str(note, "date", date) || ref_set_str(note, "caregiverId", caregiver) ||
            ref_set_str(note, "patientId", patient_id) || ref_set_str(note, "doctorId", doctor) ||
            ref_set_str(note, "note", notes_text((h + (unsigned)i) % notes_text_count())))
            goto done;
    }
    json_object_set(o, "notes", arr);
    out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(out);
done:
    json_decref(arr);
    json_decref(o);
    return out;
}

/* Calls notes_result_json() and checks it against the reference byte for byte
 * (both NULL counts as equal). Returns the body (caller frees) or NULL. */
static char *result_matches_reference(const char *resource_id, const char *patient_id,
                                      const char *correlation_id, long delay_ms, int n,
                                      long long now_ms) {
    char *s = notes_result_json(resource_id, patient_id, correlation_id, delay_ms, n, now_ms, NULL);
    json_t *ids = json_array();
    assert_non_null(ids);
    if (s) {
        json_t *o = parse(s);
        json_t *notes = json_object_get(o, "notes");
        assert_true(json_is_array(notes));
        for (size_t i = 0; i < json_array_size(notes); i++)
            json_array_append(ids, json_object_get(json_array_get(notes, i), "id"));
        json_decref(o);
    }
    char *want = ref_result_json(resource_id, patient_id, correlation_id, delay_ms, n, now_ms,
                                 s ? ids : NULL);
    if (!want || !s) {
        assert_null(s);
        assert_null(want);
    } else {
        assert_string_equal(s, want);
    }
    free(want);
    json_decref(ids);
    return s;
}

static void key_order_and_fields(void **state) {
    (void)state;
    static const char *const top[] = {"source",  "patientId", "correlationId",
                                      "delayMs", "status",    "notes"};
    static const char *const note_keys[] = {"id",        "date",     "caregiverId",
                                            "patientId", "doctorId", "note"};
    char *s = notes_result_json("resource-1", "p1", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4", 0, 3,
                                NOW_MS, NULL);
    json_t *o = parse(s);
    size_t k = 0;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it), k++) {
        assert_true(k < 6);
        assert_string_equal(json_object_iter_key(it), top[k]);
    }
    assert_int_equal(k, 6);
    json_t *notes = json_object_get(o, "notes");
    for (size_t i = 0; i < json_array_size(notes); i++) {
        json_t *n = json_array_get(notes, i);
        k = 0;
        for (void *it = json_object_iter(n); it; it = json_object_iter_next(n, it), k++) {
            assert_true(k < 6);
            assert_string_equal(json_object_iter_key(it), note_keys[k]);
            assert_true(json_is_string(json_object_iter_value(it)));
        }
        assert_int_equal(k, 6);
    }
    json_decref(o);
    /* Compact: no whitespace anywhere outside the strings (the note texts have spaces). */
    const char *head = "{\"source\":\"resource-1\",\"patientId\":\"p1\",\"correlationId\":"
                       "\"0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4\",\"delayMs\":0,\"status\":\"ok\","
                       "\"notes\":[{\"id\":\"";
    assert_memory_equal(s, head, strlen(head));
    free(s);
}

static void byte_identical_to_jansson(void **state) {
    (void)state;
    char long_id[NOTES_RESOURCE_ID_MAX + 40];
    const char *pids[] = {"p1",           "",
                          "a/b",          "\x7f",
                          "\x01\x1f\x1e", "\b\f\n\r\t",
                          "\"\\\"",       "\xc3\xa5\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        free(result_matches_reference("resource-1", pids[i], "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4",
                                      1000, 3, NOW_MS));
        free(result_matches_reference("Lab_2.eu-north", pids[i], NULL, 0, 2, NOW_MS));
        char *rej = notes_rejected_json("resource-3", pids[i], NULL);
        json_t *o = json_object();
        json_object_set_new(o, "source", json_string("resource-3"));
        json_object_set_new(o, "patientId", json_string(pids[i]));
        json_object_set_new(o, "status", json_string("REJECTED"));
        json_object_set_new(o, "notes", json_null());
        json_object_set_new(o, "delayMs", json_integer(-1));
        char *want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        assert_non_null(rej);
        assert_string_equal(rej, want);
        free(want);
        free(rej);
        json_decref(o);
    }
    /* delayMs extremes and the other numbers. */
    free(result_matches_reference("r", "p", NULL, -3, 1, NOW_MS));
    free(result_matches_reference("r", "p", NULL, 600000, 12, NOW_MS));
    free(result_matches_reference("r", "p", NULL, LONG_MIN, 1, NOW_MS));
    free(result_matches_reference("r", "p", NULL, LONG_MAX, 1, NOW_MS));
    free(result_matches_reference("r", "p", NULL, 0, -1, NOW_MS));
    /* Longest valid resource id, and longer ones where the jansson version cut
     * caregiverId to 95 bytes (never reached by main.c, which validates). */
    for (size_t len = NOTES_RESOURCE_ID_MAX; len < sizeof long_id; len++) {
        memset(long_id, 'x', len);
        long_id[len] = '\0';
        free(result_matches_reference(long_id, "p", NULL, 0, 6, NOW_MS));
    }
}

static void special_patient_id_round_trips(void **state) {
    (void)state;
    const char *pid = "q\"b\\s\nn\x01"
                      "c\xc3\xa5/\x1f";
    char *s = notes_result_json("resource-1", pid, "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4", 1, 2,
                                NOW_MS, NULL);
    assert_non_null(s);
    /* jansson's escapes: short forms, \u00XX in upper case, '/' and UTF-8 as is. */
    assert_non_null(strstr(s, "\"patientId\":\"q\\\"b\\\\s\\nn\\u0001c\xc3\xa5/\\u001F\""));
    json_t *o = parse(s);
    assert_string_equal(str_field(o, "patientId"), pid);
    json_t *notes = json_object_get(o, "notes");
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(str_field(json_array_get(notes, i), "patientId"), pid);
    json_decref(o);
    free(s);

    s = notes_rejected_json("resource-1", pid, NULL);
    o = parse(s);
    assert_string_equal(str_field(o, "patientId"), pid);
    json_decref(o);
    free(s);
}

static void invalid_utf8_gives_null(void **state) {
    (void)state;
    /* As before: jansson's json_string() refused these, so the body was NULL. */
    const char *bad[] = {"\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(notes_result_json("resource-1", bad[i], NULL, 0, 1, NOW_MS, NULL));
        assert_null(notes_result_json("resource-1", bad[i], NULL, 0, 0, NOW_MS, NULL));
        assert_null(notes_rejected_json("resource-1", bad[i], NULL));
    }
    assert_null(notes_result_json("resource-1", NULL, NULL, 0, 1, NOW_MS, NULL));
    assert_null(notes_rejected_json(NULL, "p", NULL));
    err_t e;
    assert_null(notes_rejected_json(NULL, "p", &e));
    assert_string_equal(e.text, "a resource id and a patient id are required");
    assert_null(notes_result_json("resource-1", "a\xff", NULL, 0, 1, NOW_MS, &e));
    assert_string_equal(e.text, "the resource id or the patient id is not valid UTF-8");
}

static void ids_distinct_v4(void **state) {
    (void)state;
    enum { N = 1000 };
    char *s = notes_result_json("resource-1", "p", NULL, 0, N, NOW_MS, NULL);
    json_t *o = parse(s);
    json_t *notes = json_object_get(o, "notes");
    assert_int_equal(json_array_size(notes), N);
    static char ids[N][UUID4_LEN + 1];
    static char *ptrs[N];
    for (size_t i = 0; i < N; i++) {
        const char *id = str_field(json_array_get(notes, i), "id");
        assert_true(is_v4_uuid(id));
        strcpy(ids[i], id);
        ptrs[i] = ids[i];
    }
    qsort(ptrs, N, sizeof ptrs[0], cmp_str);
    for (size_t i = 1; i < N; i++) assert_string_not_equal(ptrs[i - 1], ptrs[i]);
    json_decref(o);
    free(s);
}

static void empty_notes_and_no_correlation_id_raw(void **state) {
    (void)state;
    char *s = notes_result_json("resource-2", "p1", NULL, 5, 0, NOW_MS, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"source\":\"resource-2\",\"patientId\":\"p1\",\"delayMs\":5,"
                           "\"status\":\"ok\",\"notes\":[]}");
    free(s);
    s = notes_result_json("resource-2", "p1", "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4", -2, 0, NOW_MS,
                          NULL);
    assert_string_equal(s, "{\"source\":\"resource-2\",\"patientId\":\"p1\",\"correlationId\":"
                           "\"0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4\",\"delayMs\":-2,"
                           "\"status\":\"ok\",\"notes\":[]}");
    free(s);
}

static void out_of_range_date_gives_null(void **state) {
    (void)state;
    const long long far_future_ms = 400000000000000LL; /* year ~14645 */
    const long long far_past_ms = -70000000000000LL;   /* year ~ -248 */
    assert_null(notes_result_json("resource-1", "p", NULL, 0, 1, far_future_ms, NULL));
    assert_null(notes_result_json("resource-1", "p", NULL, 0, 3, far_past_ms, NULL));
    err_t e;
    assert_null(notes_result_json("resource-1", "p", NULL, 0, 1, far_future_ms, &e));
    assert_non_null(strstr(e.text, "is outside the years 0..9999"));
    /* No note, no date: the body is still built (unchanged behaviour). */
    char *s = notes_result_json("resource-1", "p", NULL, 0, 0, far_future_ms, NULL);
    assert_non_null(s);
    free(s);
    free(result_matches_reference("resource-1", "p", NULL, 0, 2, far_future_ms));
}

/* The note texts are written without escaping: every text that a body
 * carries is printable ASCII with nothing JSON would escape. */
static void note_texts_need_no_escaping(void **state) {
    (void)state;
    enum { N = 500 }; /* far more notes than there are texts */
    char *s = notes_result_json("resource-1", "p", NULL, 0, N, NOW_MS, NULL);
    json_t *o = parse(s);
    json_t *notes = json_object_get(o, "notes");
    assert_int_equal(json_array_size(notes), N);
    for (size_t i = 0; i < N; i++) {
        const char *text = str_field(json_array_get(notes, i), "note");
        for (const char *p = text; *p; p++) {
            assert_true(*p >= 0x20 && *p < 0x7f);
            assert_true(*p != '"' && *p != '\\');
        }
        assert_non_null(strstr(s, text)); /* as written, unescaped */
    }
    json_decref(o);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resource_id_validation),
        cmocka_unit_test(date_format),
        cmocka_unit_test(answer_body_shape),
        cmocka_unit_test(direct_body_has_no_correlation_id),
        cmocka_unit_test(zero_notes_is_empty_array),
        cmocka_unit_test(patient_id_is_escaped),
        cmocka_unit_test(rejected_body),
        cmocka_unit_test(dates_distinct_and_deterministic),
        cmocka_unit_test(many_notes),
        cmocka_unit_test(key_order_and_fields),
        cmocka_unit_test(byte_identical_to_jansson),
        cmocka_unit_test(special_patient_id_round_trips),
        cmocka_unit_test(invalid_utf8_gives_null),
        cmocka_unit_test(ids_distinct_v4),
        cmocka_unit_test(empty_notes_and_no_correlation_id_raw),
        cmocka_unit_test(out_of_range_date_gives_null),
        cmocka_unit_test(note_texts_need_no_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
