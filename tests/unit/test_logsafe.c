/* test_logsafe: URLs without credentials and error texts without quoted input, for logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "logsafe.h"

static void url_credentials_redacted(void **state) {
    char out[128];
    logsafe_url("redis://:secret@redis:6379/0", out, sizeof out);
    assert_string_equal(out, "redis://***@redis:6379/0");
    logsafe_url("redis://user:p@ss@host:1", out, sizeof out);
    assert_string_equal(out, "redis://***@host:1");
    logsafe_url("redis://127.0.0.1:6379", out, sizeof out);
    assert_string_equal(out, "redis://127.0.0.1:6379");
    logsafe_url("redis://h:1/x@y", out, sizeof out);
    assert_string_equal(out, "redis://h:1/x@y");
    logsafe_url(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char tiny[8];
    logsafe_url("redis://:secret@redis:6379", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
    assert_null(strstr(tiny, "secret"));
}

static void error_input_cut(void **state) {
    char out[64];
    logsafe_error("fan-out message is not valid JSON: invalid token near 'patient-42'", out,
                  sizeof out);
    assert_string_equal(out, "fan-out message is not valid JSON: invalid token");
    logsafe_error("the body is not valid JSON: unexpected newline near '\"p1'", out, sizeof out);
    assert_string_equal(out, "the body is not valid JSON: unexpected newline");
    logsafe_error("request: unknown field 'p1'", out, sizeof out);
    assert_string_equal(out, "request: unknown field");
    logsafe_error("patientId must be 1..64 characters", out, sizeof out);
    assert_string_equal(out, "patientId must be 1..64 characters");
    logsafe_error(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char tiny[5];
    logsafe_error("abcdefgh", tiny, sizeof tiny);
    assert_string_equal(tiny, "abcd");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_credentials_redacted),
        cmocka_unit_test(error_input_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
