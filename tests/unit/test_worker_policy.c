/* test_worker_policy: the worker's reading of the session scripts' replies. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(script_result_of_array),
        cmocka_unit_test(script_result_rejects_other_shapes),
        cmocka_unit_test(record_results),
        cmocka_unit_test(expire_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
