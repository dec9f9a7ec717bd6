/* Unit tests for rdsha: which sentinel is asked next, what follows a closed connection, and the sentinel and ROLE replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fakereply.h"
#include "rdsha.h"

static void a_named_primary_is_connected_at_once(void **state) {
    (void)state;
    rdsha_rotation r;
    rdsha_rotation_init(&r, 3);
    assert_int_equal(r.next, 0);
    rdsha_next nx = rdsha_after_close(&r, RDSHA_ASK, 1, 0);
    assert_int_equal(nx.phase, RDSHA_PRIMARY);
    assert_int_equal(nx.at_once, 1);
    assert_int_equal(r.next, 0); /* the sentinel that answered is asked first next time */
    /* The primary was up and is lost: ask again at once, the same sentinel first. */
    nx = rdsha_after_close(&r, RDSHA_PRIMARY, 0, 1);
    assert_int_equal(nx.phase, RDSHA_ASK);
    assert_int_equal(nx.at_once, 1);
    assert_int_equal(r.next, 0);
}

static void failing_sentinels_are_skipped_then_a_round_backs_off(void **state) {
    (void)state;
    rdsha_rotation r;
    rdsha_rotation_init(&r, 3);
    rdsha_next nx = rdsha_after_close(&r, RDSHA_ASK, 0, 0); /* sentinel 0 does not answer */
    assert_int_equal(nx.phase, RDSHA_ASK);
    assert_int_equal(nx.at_once, 1);
    assert_int_equal(r.next, 1);
    /* Sentinel 1 names a primary that refuses the connection (the dead one, failover not
     * done yet): that counts against sentinel 1. */
    nx = rdsha_after_close(&r, RDSHA_ASK, 1, 0);
    assert_int_equal(nx.phase, RDSHA_PRIMARY);
    nx = rdsha_after_close(&r, RDSHA_PRIMARY, 0, 0);
    assert_int_equal(nx.phase, RDSHA_ASK);
    assert_int_equal(nx.at_once, 1);
    assert_int_equal(r.next, 2);
    /* The third failure in a row ends the round: wait for the backoff, start over at 0. */
    nx = rdsha_after_close(&r, RDSHA_ASK, 0, 0);
    assert_int_equal(nx.phase, RDSHA_ASK);
    assert_int_equal(nx.at_once, 0);
    assert_int_equal(r.next, 0);
    /* The next round counts afresh. */
    nx = rdsha_after_close(&r, RDSHA_ASK, 0, 0);
    assert_int_equal(nx.at_once, 1);
    /* A primary that was up resets the count. */
    rdsha_after_close(&r, RDSHA_ASK, 1, 0);
    nx = rdsha_after_close(&r, RDSHA_PRIMARY, 0, 1);
    assert_int_equal(r.failed, 0);
    assert_int_equal(nx.at_once, 1);
}

static void one_sentinel_backs_off_after_each_failure(void **state) {
    (void)state;
    rdsha_rotation r;
    rdsha_rotation_init(&r, 1);
    for (int i = 0; i < 3; i++) {
        rdsha_next nx = rdsha_after_close(&r, RDSHA_ASK, 0, 0);
        assert_int_equal(nx.at_once, 0);
        assert_int_equal(r.next, 0);
    }
}

static void master_addr_reply_is_parsed(void **state) {
    (void)state;
    conncfg_hostport hp;
    err_t e;
    assert_int_equal(rdsha_master_addr_reply(fakereply_arr(2, fakereply_str("10.1.2.3"),
                                                           fakereply_str("6380")),
                                             &hp, &e),
                     AGG_OK);
    assert_string_equal(hp.host, "10.1.2.3");
    assert_int_equal(hp.port, 6380);
    assert_int_equal(rdsha_master_addr_reply(fakereply_nil(), &hp, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "no primary of that name"));
    assert_int_equal(rdsha_master_addr_reply(fakereply_error("NOAUTH Authentication required."),
                                             &hp, &e),
                     AGG_ERR);
    assert_non_null(strstr(e.text, "NOAUTH"));
    static const char *const bad_ports[] = {"0", "65536", "12x", "", "123456"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++)
        assert_int_equal(rdsha_master_addr_reply(fakereply_arr(2, fakereply_str("h"),
                                                               fakereply_str(bad_ports[i])),
                                                 &hp, &e),
                         AGG_ERR);
    assert_int_equal(rdsha_master_addr_reply(fakereply_arr(2, fakereply_str(""), fakereply_str("1")),
                                             &hp, &e),
                     AGG_ERR);
    assert_int_equal(rdsha_master_addr_reply(fakereply_arr(1, fakereply_str("h")), &hp, &e), AGG_ERR);
    assert_int_equal(rdsha_master_addr_reply(fakereply_arr(2, fakereply_int(1), fakereply_str("1")),
                                             &hp, &e),
                     AGG_ERR);
    assert_int_equal(rdsha_master_addr_reply(NULL, &hp, &e), AGG_ERR);
}

static void only_a_master_role_is_used(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(rdsha_role_reply(fakereply_arr(3, fakereply_str("master"), fakereply_int(42),
                                                    fakereply_arr(0)),
                                      &e),
                     AGG_OK);
    /* A demoted primary: a replica of the new one. */
    assert_int_equal(rdsha_role_reply(fakereply_arr(5, fakereply_str("slave"), fakereply_str("10.0.0.2"),
                                                    fakereply_int(6379), fakereply_str("connected"),
                                                    fakereply_int(42)),
                                      &e),
                     AGG_ERR);
    assert_non_null(strstr(e.text, "slave, not the primary"));
    assert_int_equal(rdsha_role_reply(fakereply_arr(2, fakereply_str("sentinel"), fakereply_arr(0)), &e),
                     AGG_ERR);
    assert_int_equal(rdsha_role_reply(fakereply_error("NOPERM"), &e), AGG_ERR);
    assert_non_null(strstr(e.text, "NOPERM"));
    assert_int_equal(rdsha_role_reply(fakereply_arr(0), &e), AGG_ERR);
    assert_int_equal(rdsha_role_reply(NULL, &e), AGG_ERR);
}

static void readonly_is_recognised(void **state) {
    (void)state;
    assert_true(rdsha_is_readonly(fakereply_error("READONLY You can't write against a read only replica.")));
    assert_false(rdsha_is_readonly(fakereply_error("ERR unknown command")));
    assert_false(rdsha_is_readonly(fakereply_str("READONLY")));
    assert_false(rdsha_is_readonly(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_named_primary_is_connected_at_once, fakereply_reset),
        cmocka_unit_test_setup(failing_sentinels_are_skipped_then_a_round_backs_off, fakereply_reset),
        cmocka_unit_test_setup(one_sentinel_backs_off_after_each_failure, fakereply_reset),
        cmocka_unit_test_setup(master_addr_reply_is_parsed, fakereply_reset),
        cmocka_unit_test_setup(only_a_master_role_is_used, fakereply_reset),
        cmocka_unit_test_setup(readonly_is_recognised, fakereply_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
