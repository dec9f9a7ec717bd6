/* Unit tests for apierr: the JSON error body of the HTTP API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierr.h"
#include "err.h"
#include "failalloc.h"

static void test_set_fills_all_fields(void **state) {
    (void)state;
    api_error e;
    assert_int_equal(apierr_set(&e, 400, "invalid_field", "timeoutMs", "bad %s %d", "value", 7),
                     AGG_ERR);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, "invalid_field");
    assert_string_equal(e.field, "timeoutMs");
    assert_string_equal(e.message, "bad value 7");
}

static void test_set_truncates_long_message(void **state) {
    (void)state;
    api_error e;
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    apierr_set(&e, 413, "payload_too_large", NULL, "%s", big);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
}

static void test_json_with_field(void **state) {
    (void)state;
    api_error e;
    apierr_set(&e, 400, "missing_field", "patientId", "patientId is required");
    char *s = apierr_to_json(&e, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"error\":\"missing_field\",\"message\":\"patientId is required\","
                           "\"field\":\"patientId\"}");
    free(s);
}

static void test_json_without_field_and_escaping(void **state) {
    (void)state;
    api_error e;
    apierr_set(&e, 503, "unavailable", NULL, "redis \"down\"\n");
    char *s = apierr_to_json(&e, NULL);
    assert_non_null(s);
    assert_string_equal(s, "{\"error\":\"unavailable\",\"message\":\"redis \\\"down\\\"\\n\"}");
    free(s);
}

static void test_json_invalid_utf8_message_still_valid_json(void **state) {
    (void)state;
    api_error e;
    apierr_set(&e, 400, "invalid_json", NULL, "bad byte \xff here");
    char *s = apierr_to_json(&e, NULL);
    assert_non_null(s);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "invalid_json");
    assert_true(json_is_string(json_object_get(o, "message")));
    assert_null(json_object_get(o, "field"));
    json_decref(o);
    free(s);
}

/* Every allocation failed in turn: NULL saying out of memory, never a body whose message was
 * swapped for the invalid-UTF-8 placeholder. */
static void test_json_every_allocation_failure(void **state) {
    (void)state;
    api_error e;
    apierr_set(&e, 404, "not_found", "id", "no such file");
    for (size_t n = 1;; n++) {
        err_t err = {0};
        failalloc_arm(n);
        char *s = apierr_to_json(&e, &err);
        int fired = failalloc_fired();
        failalloc_disarm();
        if (!fired) {
            assert_non_null(s);
            agg_free(s);
            break;
        }
        if (s) fail_msg("allocation %zu failed and the body is %s", n, s);
        assert_true(err_is_nomem(&err));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_fills_all_fields),
        cmocka_unit_test(test_set_truncates_long_message),
        cmocka_unit_test(test_json_with_field),
        cmocka_unit_test(test_json_without_field_and_escaping),
        cmocka_unit_test(test_json_invalid_utf8_message_still_valid_json),
        cmocka_unit_test(test_json_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
