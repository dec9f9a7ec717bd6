/* test_breaker: the circuit breaker's decisions, what counts as a failure, its calls and the
 * parsing of their replies (no Redis). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "breaker.h"
#include "fakereply.h"

#define NOW 1700000000000LL

static void decide_follows_the_state(void **state) {
    (void)state;
    breaker_view closed = {BREAKER_CLOSED, 3, 0};
    assert_int_equal(breaker_decide(&closed, NOW), BREAKER_CALL);
    breaker_view open = {BREAKER_OPEN, 5, NOW + 1};
    assert_int_equal(breaker_decide(&open, NOW), BREAKER_FAIL_FAST);
    assert_int_equal(breaker_decide(&open, NOW + 1), BREAKER_TRY_PROBE);
    assert_int_equal(breaker_decide(&open, NOW + 99999), BREAKER_TRY_PROBE);
    /* Another caller's probe: fail fast until its lease ends, then the probe may be taken over. */
    breaker_view probing = {BREAKER_PROBING, 5, NOW + 10};
    assert_int_equal(breaker_decide(&probing, NOW + 9), BREAKER_FAIL_FAST);
    assert_int_equal(breaker_decide(&probing, NOW + 10), BREAKER_TRY_PROBE);
}

static void failures_are_the_systems_not_the_answers(void **state) {
    (void)state;
    assert_true(breaker_is_failure(OUTCOME_ERROR));
    assert_true(breaker_is_failure(OUTCOME_CONNECTION_CLOSED));
    assert_true(breaker_is_failure(OUTCOME_TIMEOUT));
    assert_false(breaker_is_failure(OUTCOME_ACCEPTED));
    assert_false(breaker_is_failure(OUTCOME_REJECTED));
    assert_false(breaker_is_failure(OUTCOME_OK));
}

/* The hot path: a success on a closed circuit without failures is not reported. */
static void only_what_changes_something_is_reported(void **state) {
    (void)state;
    breaker_view clean = {BREAKER_CLOSED, 0, 0};
    assert_false(breaker_must_report(&clean, 0, 0));
    assert_true(breaker_must_report(&clean, 1, 0));
    assert_true(breaker_must_report(&clean, 0, 1));
    breaker_view failing = {BREAKER_CLOSED, 2, 0};
    assert_true(breaker_must_report(&failing, 0, 0));
    breaker_view open = {BREAKER_OPEN, 5, NOW};
    assert_true(breaker_must_report(&open, 0, 0));
}

static void calls_name_one_key_per_resource(void **state) {
    (void)state;
    breaker_params p = {5, 10000, 35000};
    breaker_call bc;
    assert_int_equal(breaker_call_fail(&bc, "resource-1", &p, NOW, 1, NULL), AGG_OK);
    assert_int_equal(bc.call.script, RDS_SCRIPT_BREAKER_FAIL);
    assert_int_equal(bc.call.nkeys, 1);
    assert_int_equal(bc.call.argc, 6);
    assert_string_equal(bc.call.argv[0], "agg:breaker:{resource-1}");
    assert_string_equal(bc.call.argv[1], "1700000000000");
    assert_string_equal(bc.call.argv[2], "5");
    assert_string_equal(bc.call.argv[3], "10000");
    assert_string_equal(bc.call.argv[4], "1");
    assert_string_equal(bc.call.argv[5], "3645000"); /* cool-down + lease + an hour */
    assert_int_equal(breaker_ttl_ms(&p), 3645000);

    assert_int_equal(breaker_call_success(&bc, "r", 0, NULL), AGG_OK);
    assert_int_equal(bc.call.script, RDS_SCRIPT_BREAKER_SUCCESS);
    assert_int_equal(bc.call.argc, 2);
    assert_string_equal(bc.call.argv[0], "agg:breaker:{r}");
    assert_string_equal(bc.call.argv[1], "0");

    assert_int_equal(breaker_call_probe(&bc, "r", &p, NOW, NULL), AGG_OK);
    assert_int_equal(bc.call.script, RDS_SCRIPT_BREAKER_PROBE);
    assert_int_equal(bc.call.argc, 4);
    assert_string_equal(bc.call.argv[2], "35000");

    assert_int_equal(breaker_call_read(&bc, "r", NULL), AGG_OK);
    assert_int_equal(bc.call.script, RDS_PLAIN_COMMAND);
    assert_int_equal(bc.call.argc, 5);
    assert_string_equal(bc.call.argv[0], "HMGET");
    assert_string_equal(bc.call.argv[1], "agg:breaker:{r}");
    assert_false(bc.call.invalid);
}

static void bad_call_arguments_are_refused(void **state) {
    (void)state;
    breaker_call bc;
    err_t e;
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(breaker_call_read(&bc, "", &e), AGG_ERR);
    assert_non_null(strstr(e.text, "source name"));
    assert_int_equal(breaker_call_read(&bc, NULL, &e), AGG_ERR);
    assert_int_equal(breaker_call_success(&bc, longname, 0, &e), AGG_ERR);
    breaker_params bad = {0, 10000, 35000};
    assert_int_equal(breaker_call_fail(&bc, "r", &bad, NOW, 0, &e), AGG_ERR);
    bad = (breaker_params){5, 10000, 0};
    assert_int_equal(breaker_call_probe(&bc, "r", &bad, NOW, &e), AGG_ERR);
}

static void script_replies(void **state) {
    (void)state;
    breaker_view v = {BREAKER_CLOSED, 0, 0};
    int granted = 7;
    redisReply *r = fakereply_arr(4, fakereply_str("probing"), fakereply_int(5),
                                  fakereply_int(NOW), fakereply_int(1));
    assert_int_equal(breaker_script_reply(r, &v, &granted, NULL), AGG_OK);
    assert_int_equal(v.state, BREAKER_PROBING);
    assert_int_equal(v.fails, 5);
    assert_int_equal(v.until_ms, NOW);
    assert_int_equal(granted, 1);
    r = fakereply_arr(4, fakereply_str("open"), fakereply_int(6), fakereply_int(NOW),
                      fakereply_int(0));
    assert_int_equal(breaker_script_reply(r, &v, &granted, NULL), AGG_OK);
    assert_int_equal(v.state, BREAKER_OPEN);
    assert_int_equal(granted, 0);
    assert_string_equal(breaker_state_name(v.state), "open");

    /* Anything else leaves the view as it was. */
    breaker_view before = v;
    err_t e;
    assert_int_equal(breaker_script_reply(NULL, &v, NULL, &e), AGG_ERR);
    assert_int_equal(breaker_script_reply(fakereply_error("ERR invalid argument"), &v, NULL, &e),
                     AGG_ERR);
    assert_non_null(strstr(e.text, "ERR invalid argument"));
    r = fakereply_arr(4, fakereply_str("half"), fakereply_int(5), fakereply_int(NOW),
                      fakereply_int(1));
    assert_int_equal(breaker_script_reply(r, &v, NULL, &e), AGG_ERR);
    r = fakereply_arr(3, fakereply_str("open"), fakereply_int(5), fakereply_int(NOW));
    assert_int_equal(breaker_script_reply(r, &v, NULL, &e), AGG_ERR);
    r = fakereply_arr(4, fakereply_str("open"), fakereply_str("5"), fakereply_int(NOW),
                      fakereply_int(1));
    assert_int_equal(breaker_script_reply(r, &v, NULL, &e), AGG_ERR);
    assert_memory_equal(&v, &before, sizeof v);
}

static void read_replies(void **state) {
    (void)state;
    breaker_view v = {BREAKER_OPEN, 9, 9};
    redisReply *r = fakereply_arr(3, fakereply_nil(), fakereply_nil(), fakereply_nil());
    assert_int_equal(breaker_read_reply(r, &v, NULL), AGG_OK);
    assert_int_equal(v.state, BREAKER_CLOSED);
    assert_int_equal(v.fails, 0);
    assert_int_equal(v.until_ms, 0);
    r = fakereply_arr(3, fakereply_str("open"), fakereply_str("5"),
                      fakereply_str("1700000000000"));
    assert_int_equal(breaker_read_reply(r, &v, NULL), AGG_OK);
    assert_int_equal(v.state, BREAKER_OPEN);
    assert_int_equal(v.fails, 5);
    assert_int_equal(v.until_ms, NOW);
    r = fakereply_arr(3, fakereply_str("closed"), fakereply_str("2"), fakereply_str("0"));
    assert_int_equal(breaker_read_reply(r, &v, NULL), AGG_OK);
    assert_int_equal(v.state, BREAKER_CLOSED);
    assert_int_equal(v.fails, 2);

    breaker_view before = v;
    err_t e;
    r = fakereply_arr(3, fakereply_str("open"), fakereply_str("-1"), fakereply_nil());
    assert_int_equal(breaker_read_reply(r, &v, &e), AGG_ERR);
    r = fakereply_arr(3, fakereply_str("open"), fakereply_str("5x"), fakereply_nil());
    assert_int_equal(breaker_read_reply(r, &v, &e), AGG_ERR);
    r = fakereply_arr(3, fakereply_int(1), fakereply_nil(), fakereply_nil());
    assert_int_equal(breaker_read_reply(r, &v, &e), AGG_ERR);
    r = fakereply_arr(2, fakereply_nil(), fakereply_nil());
    assert_int_equal(breaker_read_reply(r, &v, &e), AGG_ERR);
    assert_int_equal(breaker_read_reply(fakereply_error("WRONGTYPE x"), &v, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "WRONGTYPE"));
    assert_memory_equal(&v, &before, sizeof v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(decide_follows_the_state, fakereply_reset),
        cmocka_unit_test_setup(failures_are_the_systems_not_the_answers, fakereply_reset),
        cmocka_unit_test_setup(only_what_changes_something_is_reported, fakereply_reset),
        cmocka_unit_test_setup(calls_name_one_key_per_resource, fakereply_reset),
        cmocka_unit_test_setup(bad_call_arguments_are_refused, fakereply_reset),
        cmocka_unit_test_setup(script_replies, fakereply_reset),
        cmocka_unit_test_setup(read_replies, fakereply_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
