/* test_resource_rsreq: resource-sim request validation for POST /journals and /journals/direct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "rsreq.h"

#define CID "0b9e4d1c-2f3a-4b5c-8d6e-7f8091a2b3c4"

static int parse_str(const char *body, int with_cb, rsreq *q, api_error *e) {
    return rsreq_parse(body, strlen(body), with_cb, q, e);
}

static void valid_journals(void **state) {
    (void)state;
    rsreq q;
    api_error e;
    assert_int_equal(
        parse_str("{\"patientId\":\"p1\",\"delay\":1000,\"callbackUrl\":"
                  "\"http://127.0.0.1:8080/aggregate/callback\",\"correlationId\":\"" CID
                  "\",\"extra\":1}",
                  1, &q, &e),
        AGG_OK);
    assert_string_equal(q.patient_id, "p1");
    assert_int_equal(q.delay, 1000);
    assert_string_equal(q.callback_url, "http://127.0.0.1:8080/aggregate/callback");
    assert_string_equal(q.correlation_id, CID);
    for (long d = RSREQ_DELAY_HUGE; d <= 0; d++) { /* every fault mode, then 0 */
        char body[256];
        snprintf(body, sizeof body,
                 "{\"patientId\":\"p\",\"delay\":%ld,\"callbackUrl\":\"https://"
                 "gw\",\"correlationId\":\"" CID "\"}",
                 d);
        assert_int_equal(parse_str(body, 1, &q, &e), AGG_OK);
        assert_int_equal(q.delay, d);
    }
}

static void valid_direct(void **state) {
    (void)state;
    rsreq q;
    api_error e;
    assert_int_equal(parse_str("{\"patientId\":\"p1\",\"delay\":600000}", 0, &q, &e), AGG_OK);
    assert_int_equal(q.delay, 600000);
    assert_string_equal(q.callback_url, "");
}

static void expect_error(const char *body, int with_cb, const char *code, const char *field) {
    rsreq q;
    api_error e;
    memset(&e, 0, sizeof e);
    assert_int_equal(parse_str(body, with_cb, &q, &e), AGG_ERR);
    assert_int_equal(e.http_status, 400);
    assert_string_equal(e.code, code);
    if (field)
        assert_string_equal(e.field, field);
    else
        assert_null(e.field);
}

static void invalid_bodies(void **state) {
    (void)state;
    expect_error("", 0, "invalid_json", NULL);
    expect_error("{", 0, "invalid_json", NULL);
    expect_error("[1]", 0, "invalid_json", NULL);
    expect_error("{\"delay\":1}", 0, "missing_field", "patientId");
    expect_error("{\"patientId\":null,\"delay\":1}", 0, "missing_field", "patientId");
    expect_error("{\"patientId\":5,\"delay\":1}", 0, "invalid_field", "patientId");
    expect_error("{\"patientId\":\"\",\"delay\":1}", 0, "invalid_field", "patientId");
    expect_error("{\"patientId\":\"a\\u0000b\",\"delay\":1}", 0, "invalid_json", NULL);
    expect_error("{\"patientId\":\"p\"}", 0, "missing_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":\"1\"}", 0, "invalid_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":1.5}", 0, "invalid_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":-4}", 0, "invalid_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":-9,\"callbackUrl\":\"http://gw\",\"correlationId\":"
                 "\"" CID "\"}",
                 1, "invalid_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":600001}", 0, "invalid_field", "delay");
    expect_error("{\"patientId\":\"p\",\"delay\":1}", 1, "missing_field", "callbackUrl");
    expect_error(
        "{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"ftp://x\",\"correlationId\":\"" CID
        "\"}",
        1, "invalid_field", "callbackUrl");
    expect_error(
        "{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"http://\",\"correlationId\":\"" CID
        "\"}",
        1, "invalid_field", "callbackUrl");
    expect_error(
        "{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"http://a b\",\"correlationId\":\"" CID
        "\"}",
        1, "invalid_field", "callbackUrl");
    expect_error("{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"http://gw\"}", 1,
                 "missing_field", "correlationId");
    expect_error(
        "{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"http://gw\",\"correlationId\":\"abc\"}",
        1, "invalid_field", "correlationId");
    expect_error("{\"patientId\":\"p\",\"delay\":1,\"callbackUrl\":\"http://gw\",\"correlationId\":"
                 "\"0B9E4D1C-2F3A-4B5C-8D6E-7F8091A2B3C4\"}",
                 1, "invalid_field", "correlationId");
    expect_error("{\"patientId\":\"p\",\"patientId\":\"q\",\"delay\":1}", 0, "invalid_json", NULL);
}

static void patient_id_length_counts_characters(void **state) {
    (void)state;
    char body[600];
    char pid[300];
    rsreq q;
    api_error e;
    /* 64 two-byte characters: allowed; 65: refused. */
    pid[0] = '\0';
    for (int i = 0; i < 64; i++) strcat(pid, "\xc3\xa9");
    snprintf(body, sizeof body, "{\"patientId\":\"%s\",\"delay\":0}", pid);
    assert_int_equal(parse_str(body, 0, &q, &e), AGG_OK);
    assert_string_equal(q.patient_id, pid);
    strcat(pid, "x");
    snprintf(body, sizeof body, "{\"patientId\":\"%s\",\"delay\":0}", pid);
    expect_error(body, 0, "invalid_field", "patientId");
}

static void url_checks(void **state) {
    (void)state;
    assert_true(rsreq_url_valid("http://h"));
    assert_true(rsreq_url_valid("HTTPS://h:8443/x?y=1"));
    assert_false(rsreq_url_valid("http:/h"));
    assert_false(rsreq_url_valid("http:///x"));
    assert_false(rsreq_url_valid("http://h\n"));
    assert_false(rsreq_url_valid(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_journals), cmocka_unit_test(valid_direct),
        cmocka_unit_test(invalid_bodies), cmocka_unit_test(patient_id_length_counts_characters),
        cmocka_unit_test(url_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
