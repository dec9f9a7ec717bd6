/* test_worker_policy: the worker's pure decisions (script replies, allowlist, backoff, URL
 * redaction). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <string.h>

/* the worker sources are not in libagg: compile the module under test into this program. */
#include "../../worker/policy.c"

static redisReply str_reply(int type, const char *s) {
    redisReply r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.str = (char *)s;
    r.len = strlen(s);
    return r;
}

static void script_result_of_array(void **state) {
    redisReply first = str_reply(REDIS_REPLY_STRING, "recorded");
    redisReply seq;
    memset(&seq, 0, sizeof seq);
    seq.type = REDIS_REPLY_INTEGER;
    seq.integer = 3;
    redisReply *els[2] = {&first, &seq};
    redisReply arr;
    memset(&arr, 0, sizeof arr);
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 2;
    arr.element = els;
    assert_string_equal(policy_script_result(&arr), "recorded");

    redisReply st = str_reply(REDIS_REPLY_STATUS, "gone");
    assert_string_equal(policy_script_result(&st), "gone");
}

static void script_result_rejects_other_shapes(void **state) {
    assert_null(policy_script_result(NULL));
    redisReply err = str_reply(REDIS_REPLY_ERROR, "ERR boom");
    assert_null(policy_script_result(&err));
    redisReply arr;
    memset(&arr, 0, sizeof arr);
    arr.type = REDIS_REPLY_ARRAY;
    assert_null(policy_script_result(&arr));
    redisReply num;
    memset(&num, 0, sizeof num);
    num.type = REDIS_REPLY_INTEGER;
    redisReply *els[1] = {&num};
    arr.elements = 1;
    arr.element = els;
    assert_null(policy_script_result(&arr));
    redisReply nul;
    memset(&nul, 0, sizeof nul);
    nul.type = REDIS_REPLY_NIL;
    assert_null(policy_script_result(&nul));
}

static void record_results(void **state) {
    assert_int_equal(policy_record_parse("recorded"), POLICY_RECORDED);
    assert_int_equal(policy_record_parse("completed"), POLICY_COMPLETED);
    const char *drops[] = {"duplicate",      "unknown-session",  "finished",
                           "unknown-source", "patient-mismatch", "invalid-status"};
    for (int i = 0; i < 6; i++) {
        policy_record r = policy_record_parse(drops[i]);
        assert_true(policy_is_drop(r));
        assert_int_equal(policy_drop_index(r), i);
        assert_string_equal(policy_drop_name(i), drops[i]);
    }
    assert_false(policy_is_drop(POLICY_RECORDED));
    assert_false(policy_is_drop(POLICY_COMPLETED));
    assert_int_equal(policy_record_parse("Recorded"), POLICY_RECORD_UNKNOWN);
    assert_int_equal(policy_record_parse(NULL), POLICY_RECORD_UNKNOWN);
    assert_false(policy_is_drop(POLICY_RECORD_UNKNOWN));
}

static void expire_results(void **state) {
    assert_int_equal(policy_expire_parse("expired"), POLICY_EXPIRED);
    assert_int_equal(policy_expire_parse("not-due"), POLICY_NOT_DUE);
    assert_int_equal(policy_expire_parse("gone"), POLICY_GONE);
    assert_int_equal(policy_expire_parse("recorded"), POLICY_EXPIRE_UNKNOWN);
    assert_int_equal(policy_expire_parse(NULL), POLICY_EXPIRE_UNKNOWN);
}

static void allowlist(void **state) {
    resource_list l;
    memset(&l, 0, sizeof l);
    l.n = 2;
    strcpy(l.items[0].source, "resource-1");
    strcpy(l.items[0].url, "http://127.0.0.1:8081");
    strcpy(l.items[1].source, "lab");
    strcpy(l.items[1].url, "http://lab.local:9000/api");

    assert_true(policy_url_allowed(&l, 0, "http://evil.example"));
    assert_true(policy_url_allowed(&l, 1, "http://127.0.0.1:8081"));
    assert_true(policy_url_allowed(&l, 1, "http://127.0.0.1:8081/"));
    assert_true(policy_url_allowed(&l, 1, "http://lab.local:9000/api"));
    assert_false(policy_url_allowed(&l, 1, "http://127.0.0.1:808"));
    assert_false(policy_url_allowed(&l, 1, "http://127.0.0.1:80812"));
    assert_false(policy_url_allowed(&l, 1, "http://lab.local:9000"));
    assert_false(policy_url_allowed(&l, 1, "http://evil.example"));
    assert_false(policy_url_allowed(&l, 1, ""));
    assert_false(policy_url_allowed(&l, 1, NULL));
    l.n = 0;
    assert_false(policy_url_allowed(&l, 1, "http://127.0.0.1:8081"));
}

static void backoff(void **state) {
    long d = policy_backoff_next(0);
    assert_int_equal(d, 100);
    long seen[8];
    for (int i = 0; i < 8; i++) {
        seen[i] = d;
        d = policy_backoff_next(d);
    }
    assert_int_equal(seen[1], 200);
    assert_int_equal(seen[2], 400);
    assert_int_equal(seen[3], 800);
    assert_int_equal(seen[4], 1600);
    assert_int_equal(seen[5], 2000);
    assert_int_equal(seen[7], 2000);
}

static void redact(void **state) {
    char out[128];
    policy_redact_url("redis://:secret@redis:6379/0", out, sizeof out);
    assert_string_equal(out, "redis://***@redis:6379/0");
    policy_redact_url("redis://user:p@ss@host:1", out, sizeof out);
    assert_string_equal(out, "redis://***@host:1");
    policy_redact_url("redis://127.0.0.1:6379", out, sizeof out);
    assert_string_equal(out, "redis://127.0.0.1:6379");
    policy_redact_url("redis://h:1/x@y", out, sizeof out);
    assert_string_equal(out, "redis://h:1/x@y");
    policy_redact_url(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char tiny[8];
    policy_redact_url("redis://:secret@redis:6379", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
    assert_null(strstr(tiny, "secret"));
}

static void safe_error(void **state) {
    char out[64];
    policy_safe_error("request message is not valid JSON: invalid token near 'patient-42'", out,
                      sizeof out);
    assert_string_equal(out, "request message is not valid JSON: invalid token");
    policy_safe_error("the body is not valid JSON: unexpected newline near '\"p1'", out,
                      sizeof out);
    assert_string_equal(out, "the body is not valid JSON: unexpected newline");
    policy_safe_error("request: unknown field 'p1'", out, sizeof out);
    assert_string_equal(out, "request: unknown field");
    policy_safe_error("patientId must be 1..64 characters", out, sizeof out);
    assert_string_equal(out, "patientId must be 1..64 characters");
    policy_safe_error(NULL, out, sizeof out);
    assert_string_equal(out, "");
    char tiny[5];
    policy_safe_error("abcdefgh", tiny, sizeof tiny);
    assert_string_equal(tiny, "abcd");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(script_result_of_array),
        cmocka_unit_test(script_result_rejects_other_shapes),
        cmocka_unit_test(record_results),
        cmocka_unit_test(expire_results),
        cmocka_unit_test(allowlist),
        cmocka_unit_test(backoff),
        cmocka_unit_test(redact),
        cmocka_unit_test(safe_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
