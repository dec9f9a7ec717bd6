/* Unit tests for fanoutmsg: the fan-out message, built, serialised and validated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fanoutmsg.h"

#define CID "0b7e6d3c-1f2a-4b5c-8d9e-0a1b2c3d4e5f"

/* The message built last and the one parsed last; each build or parse frees the one before. */
static fanout_msg *M, *M2;

/* Parses s into M2; AGG_OK or AGG_ERR (M2 NULL, e filled). */
static int parse_m2(const char *s, size_t len, err_t *e) {
    fanoutmsg_free(M2);
    M2 = fanoutmsg_parse(s, len, e);
    return M2 ? AGG_OK : AGG_ERR;
}

/* Builds M for a request of patient p1 to the resources of spec. */
static void build_from(const char *spec) {
    journal_request r;
    memset(&r, 0, sizeof r);
    strcpy(r.patient_id, "p1");
    r.delays[0] = 1000;
    r.delays[1] = -1;
    r.n_delays = 2;
    r.timeout_ms = 10000;
    r.strategy = STRATEGY_SSE;
    resource_list res;
    memset(&res, 0, sizeof res);
    err_t e;
    assert_int_equal(reslist_parse(spec, &res, &e), AGG_OK);
    fanoutmsg_free(M);
    M = fanoutmsg_from_request(&r, &res, CID, 1700000000000LL,
                               "http://127.0.0.1:8080/aggregate/callback", "alice@example", &e);
    assert_non_null(M);
}

static void build_sample(void) {
    build_from("http://127.0.0.1:8081,lab=http://127.0.0.1:8082,http://h:3");
}

static void test_from_request(void **state) {
    (void)state;
    build_sample();
    assert_string_equal(M->correlation_id, CID);
    assert_string_equal(M->patient_id, "p1");
    assert_int_equal(M->strategy, STRATEGY_SSE);
    assert_int_equal(M->timeout_ms, 10000);
    assert_int_equal(M->created_ms, 1700000000000LL);
    assert_int_equal(M->deadline_ms, 1700000010000LL);
    assert_string_equal(M->callback_url, "http://127.0.0.1:8080/aggregate/callback");
    assert_string_equal(M->principal, "alice@example");
    assert_int_equal(M->n_resources, 3);
    assert_string_equal(M->resources[1].source, "lab");
    assert_string_equal(M->resources[1].url, "http://127.0.0.1:8082");
    assert_int_equal(M->resources[0].delay_ms, 1000);
    assert_int_equal(M->resources[1].delay_ms, -1);
    assert_int_equal(M->resources[2].delay_ms, 0);
}

static void test_to_json_exact(void **state) {
    (void)state;
    build_sample();
    char *s = fanoutmsg_to_json(M, NULL);
    assert_non_null(s);
    assert_string_equal(
        s, "{\"correlationId\":\"" CID "\",\"patientId\":\"p1\",\"strategy\":\"SSE\","
           "\"timeoutMs\":10000,\"createdMs\":1700000000000,\"deadlineMs\":1700000010000,"
           "\"callbackUrl\":\"http://127.0.0.1:8080/aggregate/callback\","
           "\"principal\":\"alice@example\",\"resources\":["
           "{\"source\":\"resource-1\",\"url\":\"http://127.0.0.1:8081\",\"delayMs\":1000},"
           "{\"source\":\"lab\",\"url\":\"http://127.0.0.1:8082\",\"delayMs\":-1},"
           "{\"source\":\"resource-3\",\"url\":\"http://h:3\",\"delayMs\":0}]}");
    free(s);
}

static void test_round_trip(void **state) {
    (void)state;
    build_sample();
    M->strategy = STRATEGY_WAIT_FOR_EVERYONE;
    char *s = fanoutmsg_to_json(M, NULL);
    assert_non_null(s);
    err_t e;
    assert_int_equal(parse_m2(s, strlen(s), &e), AGG_OK);
    free(s);
    assert_int_equal(M2->n_resources, M->n_resources);
    assert_memory_equal(M, M2, fanoutmsg_size(M->n_resources));
}

/* NULL is the anonymous principal; an invalid one is refused, not truncated or copied. */
static void test_principal_of_request(void **state) {
    (void)state;
    journal_request r;
    memset(&r, 0, sizeof r);
    strcpy(r.patient_id, "p1");
    r.timeout_ms = 10;
    err_t e;
    fanout_msg *m = fanoutmsg_from_request(&r, NULL, CID, 1, "http://h", NULL, &e);
    assert_non_null(m);
    assert_string_equal(m->principal, FANOUTMSG_ANONYMOUS);
    fanoutmsg_free(m);
    assert_null(fanoutmsg_from_request(&r, NULL, CID, 1, "http://h", "a\nb", &e));
    assert_non_null(strstr(e.text, "principal"));
    assert_null(fanoutmsg_from_request(&r, NULL, CID, 1, "http://h", "", &e));
    assert_false(fanoutmsg_principal_ok("x", 0));
    assert_false(fanoutmsg_principal_ok(NULL, 1));
    assert_true(fanoutmsg_principal_ok("~ !", 3));
}

static void test_sources_json(void **state) {
    (void)state;
    build_sample();
    char *s = fanoutmsg_sources_json(M, NULL);
    assert_non_null(s);
    assert_string_equal(s, "[\"resource-1\",\"lab\",\"resource-3\"]");
    free(s);
    M->n_resources = 0;
    s = fanoutmsg_sources_json(M, NULL);
    assert_non_null(s);
    assert_string_equal(s, "[]");
    free(s);
}

/* Parses the sample with one top-level member replaced (value NULL: removed). */
static int parse_with(const char *key, json_t *value) {
    build_sample();
    char *s = fanoutmsg_to_json(M, NULL);
    assert_non_null(s);
    json_t *o = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(o);
    if (value)
        json_object_set_new(o, key, value);
    else
        json_object_del(o, key);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    err_t e = {0};
    int rc = parse_m2(s, strlen(s), &e);
    if (rc != AGG_OK) assert_true(strlen(e.text) > 0);
    free(s);
    return rc;
}

static void test_required_fields(void **state) {
    (void)state;
    const char *keys[] = {"correlationId", "patientId",   "strategy",  "timeoutMs", "createdMs",
                          "deadlineMs",    "callbackUrl", "principal", "resources"};
    for (size_t i = 0; i < 9; i++) assert_int_equal(parse_with(keys[i], NULL), AGG_ERR);
    assert_int_equal(parse_with("extra", json_true()), AGG_ERR);
}

static void test_field_types_and_ranges(void **state) {
    (void)state;
    assert_int_equal(
        parse_with("correlationId", json_string("0B7E6D3C-1F2A-4B5C-8D9E-0A1B2C3D4E5F")), AGG_ERR);
    assert_int_equal(parse_with("correlationId", json_integer(1)), AGG_ERR);
    assert_int_equal(parse_with("patientId", json_string("")), AGG_ERR);
    assert_int_equal(parse_with("patientId", json_string("a b")), AGG_ERR);
    assert_int_equal(
        parse_with(
            "patientId",
            json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
        AGG_ERR);
    assert_int_equal(
        parse_with("patientId",
                   json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
        AGG_OK);
    assert_int_equal(parse_with("strategy", json_string("sse")), AGG_ERR);
    assert_int_equal(parse_with("strategy", json_string("WAIT_FOR_EVERYONE")), AGG_OK);
    assert_int_equal(M2->strategy, STRATEGY_WAIT_FOR_EVERYONE);
    assert_int_equal(parse_with("timeoutMs", json_integer(0)), AGG_ERR);
    assert_int_equal(parse_with("timeoutMs", json_real(100.0)), AGG_ERR);
    assert_int_equal(parse_with("timeoutMs", json_integer(1)), AGG_OK);
    assert_int_equal(parse_with("createdMs", json_integer(-1)), AGG_ERR);
    assert_int_equal(parse_with("createdMs", json_string("1")), AGG_ERR);
    assert_int_equal(parse_with("deadlineMs", json_integer(-5)), AGG_ERR);
    assert_int_equal(parse_with("deadlineMs", json_null()), AGG_ERR);
    assert_int_equal(parse_with("callbackUrl", json_string("ftp://x")), AGG_ERR);
    assert_int_equal(parse_with("callbackUrl", json_string("http:///x")), AGG_ERR);
    assert_int_equal(parse_with("callbackUrl", json_string("https://gw")), AGG_OK);
    assert_int_equal(parse_with("principal", json_string("")), AGG_ERR);
    assert_int_equal(parse_with("principal", json_string("a\tb")), AGG_ERR);
    assert_int_equal(parse_with("principal", json_string("caf\xc3\xa9")), AGG_ERR);
    assert_int_equal(parse_with("principal", json_integer(1)), AGG_ERR);
    char longp[FANOUTMSG_PRINCIPAL_MAX + 2];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(parse_with("principal", json_string(longp)), AGG_ERR);
    longp[FANOUTMSG_PRINCIPAL_MAX] = '\0';
    assert_int_equal(parse_with("principal", json_string(longp)), AGG_OK);
    assert_int_equal(parse_with("principal", json_string("svc account 1")), AGG_OK);
    assert_string_equal(M2->principal, "svc account 1");
    assert_int_equal(parse_with("resources", json_object()), AGG_ERR);
    assert_int_equal(parse_with("resources", json_array()), AGG_OK);
    assert_int_equal(M2->n_resources, 0);
}

/* A message whose only resource is {source, url, delayMs}. */
static int parse_one_resource(const char *source, const char *url, int delay_ms) {
    return parse_with("resources", json_pack("[{s:s,s:s,s:i}]", "source", source, "url", url,
                                             "delayMs", delay_ms));
}
static void test_resource_entries(void **state) {
    (void)state;
    assert_int_equal(parse_with("resources", json_pack("[i]", 1)), AGG_ERR);
    assert_int_equal(
        parse_with("resources", json_pack("[{s:s,s:s}]", "source", "a", "url", "http://h")),
        AGG_ERR);
    assert_int_equal(parse_with("resources", json_pack("[{s:s,s:s,s:i,s:b}]", "source", "a", "url",
                                                       "http://h", "delayMs", 0, "x", 1)),
                     AGG_ERR);
    assert_int_equal(parse_one_resource("", "http://h", 0), AGG_ERR);
    assert_int_equal(parse_one_resource("a", "h:1", 0), AGG_ERR);
    assert_int_equal(parse_one_resource("a", "http://h", -9), AGG_ERR);
    assert_int_equal(parse_one_resource("a", "http://h", 600001), AGG_ERR);
    assert_int_equal(parse_one_resource("a", "http://h", 600000), AGG_OK);
    assert_int_equal(M2->resources[0].delay_ms, 600000);
}

static void test_max_resources(void **state) {
    (void)state;
    json_t *arr = json_array();
    for (int i = 0; i < RESLIST_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:i}", "source", name, "url", "http://h", "delayMs", i));
    }
    json_incref(arr);
    assert_int_equal(parse_with("resources", arr), AGG_OK);
    assert_int_equal(M2->n_resources, RESLIST_MAX);
    assert_string_equal(M2->resources[63].source, "r63");
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:i}", "source", "x", "url", "http://h", "delayMs", 0));
    assert_int_equal(parse_with("resources", arr), AGG_ERR);
}

static void test_not_json(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(parse_m2("", 0, &e), AGG_ERR);
    assert_int_equal(parse_m2("[]", 2, &e), AGG_ERR);
    const char *dup = "{\"correlationId\":\"" CID "\",\"correlationId\":\"" CID "\"}";
    assert_int_equal(parse_m2(dup, strlen(dup), &e), AGG_ERR);
}

/* A message is allocated for the resources it holds: one resource, room for one. */
static void test_sized_to_its_resources(void **state) {
    (void)state;
    assert_int_equal(fanoutmsg_size(1) - fanoutmsg_size(0), sizeof(fanoutmsg_resource));
    build_from("http://127.0.0.1:8081");
    assert_int_equal(M->n_resources, 1);
    assert_true(malloc_usable_size(M) >= fanoutmsg_size(1));
    assert_true(malloc_usable_size(M) < fanoutmsg_size(2));
    char *s = fanoutmsg_to_json(M, NULL);
    assert_non_null(s);
    err_t e;
    assert_int_equal(parse_m2(s, strlen(s), &e), AGG_OK);
    free(s);
    assert_int_equal(M2->n_resources, 1);
    assert_true(malloc_usable_size(M2) >= fanoutmsg_size(1));
    assert_true(malloc_usable_size(M2) < fanoutmsg_size(2));
    assert_string_equal(M2->resources[0].url, "http://127.0.0.1:8081");
    build_from("");
    assert_int_equal(M->n_resources, 0);
    assert_true(malloc_usable_size(M) < fanoutmsg_size(1));
}

static int free_messages(void **state) {
    (void)state;
    fanoutmsg_free(M);
    fanoutmsg_free(M2);
    M = M2 = NULL;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_request),     cmocka_unit_test(test_to_json_exact),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_sources_json),
        cmocka_unit_test(test_required_fields),  cmocka_unit_test(test_field_types_and_ranges),
        cmocka_unit_test(test_resource_entries), cmocka_unit_test(test_max_resources),
        cmocka_unit_test(test_not_json),         cmocka_unit_test(test_sized_to_its_resources),
        cmocka_unit_test(test_principal_of_request),
    };
    return cmocka_run_group_tests(tests, NULL, free_messages);
}
