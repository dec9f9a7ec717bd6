/* test_audit: the audit outbox's call builders and reply parsing (no Redis). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "audit.h"
#include "fakereply.h"

#define CID "3f2b8c1d-5e6a-4b7c-9d8e-0f1a2b3c4d5e"

static void expect_words(const audit_call *ac, const char *const *want, int n) {
    assert_int_equal(ac->call.script, RDS_PLAIN_COMMAND);
    assert_false(ac->call.invalid);
    assert_int_equal(ac->call.argc, n);
    for (int i = 0; i < n; i++) assert_string_equal(ac->call.argv[i], want[i]);
}

static void builders(void **state) {
    (void)state;
    audit_call ac;
    assert_int_equal(audit_call_group(&ac, 15, NULL), AGG_OK);
    const char *g[] = {"XGROUP", "CREATE", "agg:{b15}:audit", AUDIT_GROUP, "0", "MKSTREAM"};
    expect_words(&ac, g, 6);
    assert_int_equal(audit_call_read(&ac, 0, "w1", 100, NULL), AGG_OK);
    const char *r[] = {"XREADGROUP", "GROUP",   AUDIT_GROUP,       "w1", "COUNT",
                       "100",        "STREAMS", "agg:{b00}:audit", ">"};
    expect_words(&ac, r, 9);
    assert_int_equal(audit_call_claim(&ac, 3, "w1", 30000, "0-0", 100, NULL), AGG_OK);
    const char *c[] = {"XAUTOCLAIM", "agg:{b03}:audit", AUDIT_GROUP, "w1", "30000",
                       "0-0",        "COUNT",           "100"};
    expect_words(&ac, c, 8);
    assert_int_equal(audit_call_len(&ac, 9, NULL), AGG_OK);
    const char *l[] = {"XLEN", "agg:{b09}:audit"};
    expect_words(&ac, l, 2);
    const char *ids[AUDIT_ACK_MAX + 1];
    char idbuf[AUDIT_ACK_MAX + 1][16];
    for (int i = 0; i <= AUDIT_ACK_MAX; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "1-%d", i);
        ids[i] = idbuf[i];
    }
    assert_int_equal(audit_call_ack(&ac, 9, ids, 1, NULL), AGG_OK);
    assert_int_equal(ac.call.script, RDS_SCRIPT_AUDIT_ACK);
    assert_int_equal(ac.call.nkeys, 1);
    assert_int_equal(ac.call.argc, 3);
    assert_string_equal(ac.call.argv[0], "agg:{b09}:audit");
    assert_string_equal(ac.call.argv[1], AUDIT_GROUP);
    assert_string_equal(ac.call.argv[2], "1-0");
    /* A full batch fits in one call, in order. */
    assert_int_equal(audit_call_ack(&ac, 9, ids, AUDIT_ACK_MAX, NULL), AGG_OK);
    assert_false(ac.call.invalid);
    assert_int_equal(ac.call.argc, 2 + AUDIT_ACK_MAX);
    assert_string_equal(ac.call.argv[1 + AUDIT_ACK_MAX], idbuf[AUDIT_ACK_MAX - 1]);

    err_t e;
    assert_int_equal(audit_call_group(&ac, SESSION_BUCKETS, &e), AGG_ERR);
    assert_int_equal(audit_call_read(&ac, -1, "w1", 1, &e), AGG_ERR);
    assert_int_equal(audit_call_read(&ac, 0, "", 1, &e), AGG_ERR);
    assert_int_equal(audit_call_read(&ac, 0, "w1", 0, &e), AGG_ERR);
    assert_int_equal(audit_call_claim(&ac, 0, "w1", 0, "0-0", 1, &e), AGG_ERR);
    assert_int_equal(audit_call_claim(&ac, 0, "w1", 1, NULL, 1, &e), AGG_ERR);
    assert_int_equal(audit_call_claim(&ac, 0, NULL, 1, "0-0", 1, &e), AGG_ERR);
    const char *empty[] = {"1-1", ""};
    assert_int_equal(audit_call_ack(&ac, 0, empty, 2, &e), AGG_ERR);
    assert_int_equal(audit_call_ack(&ac, 0, ids, 0, &e), AGG_ERR);
    assert_int_equal(audit_call_ack(&ac, 0, ids, AUDIT_ACK_MAX + 1, &e), AGG_ERR);
    assert_int_equal(audit_call_ack(&ac, 0, NULL, 1, &e), AGG_ERR);
    assert_int_equal(audit_call_len(&ac, 16, &e), AGG_ERR);
}

static void group_replies(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(audit_group_reply(fakereply_status("OK"), NULL), AGG_OK);
    assert_int_equal(
        audit_group_reply(fakereply_error("BUSYGROUP Consumer Group name already exists"), NULL),
        AGG_OK);
    assert_int_equal(audit_group_reply(fakereply_error("WRONGTYPE x"), &e), AGG_ERR);
    assert_non_null(strstr(e.text, "WRONGTYPE"));
    assert_int_equal(audit_group_reply(NULL, &e), AGG_ERR);
    assert_int_equal(audit_group_reply(fakereply_int(1), &e), AGG_ERR);
}

static redisReply *entry(const char *id, const char *type, const char *cid, const char *trace,
                         const char *d) {
    return fakereply_arr(2, fakereply_str(id),
                         fakereply_arr(8, fakereply_str("type"), fakereply_str(type),
                                       fakereply_str("cid"), fakereply_str(cid),
                                       fakereply_str("trace"), fakereply_str(trace),
                                       fakereply_str("d"), fakereply_str(d)));
}

static void read_replies_and_entries(void **state) {
    (void)state;
    const redisReply *entries;
    size_t n;
    err_t e;
    assert_int_equal(audit_read_reply(fakereply_nil(), &entries, &n, NULL), AGG_OK);
    assert_int_equal(n, 0);
    assert_null(entries);
    redisReply *r = fakereply_arr(
        1, fakereply_arr(2, fakereply_str("agg:{b15}:audit"),
                         fakereply_arr(2, entry("1-0", "requested", CID, "", "{\"a\":1}"),
                                       fakereply_arr(2, fakereply_str("1-1"),
                                                     fakereply_arr(2, fakereply_str("type"),
                                                                   fakereply_str("x"))))));
    assert_int_equal(audit_read_reply(r, &entries, &n, NULL), AGG_OK);
    assert_int_equal(n, 2);
    audit_entry en;
    assert_int_equal(audit_entry_at(entries, 0, &en), AGG_OK);
    assert_true(en.valid);
    assert_string_equal(en.id, "1-0");
    assert_string_equal(en.type, "requested");
    assert_string_equal(en.cid, CID);
    assert_string_equal(en.trace, "");
    assert_string_equal(en.data, "{\"a\":1}");
    assert_int_equal(en.data_len, 7);
    /* An entry with an id but no record: not valid, its id kept so that it can be removed. */
    assert_int_equal(audit_entry_at(entries, 1, &en), AGG_OK);
    assert_false(en.valid);
    assert_string_equal(en.id, "1-1");
    assert_null(en.data);
    assert_int_equal(audit_entry_at(entries, 2, &en), AGG_ERR);
    assert_int_equal(audit_entry_at(NULL, 0, &en), AGG_ERR);

    assert_int_equal(audit_read_reply(NULL, &entries, &n, &e), AGG_ERR);
    assert_int_equal(audit_read_reply(fakereply_error("NOGROUP x"), &entries, &n, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "NOGROUP"));
    assert_int_equal(audit_read_reply(fakereply_arr(0), &entries, &n, &e), AGG_ERR);
    assert_int_equal(audit_read_reply(fakereply_arr(1, fakereply_str("x")), &entries, &n, &e),
                     AGG_ERR);
}

static void entries_that_are_not_records(void **state) {
    (void)state;
    audit_entry en;
    /* A correlation id that is not one, missing data, a field that is not a string. */
    redisReply *bad = fakereply_arr(
        3, entry("2-0", "completed", "nope", "", "{}"),
        fakereply_arr(2, fakereply_str("2-1"),
                      fakereply_arr(4, fakereply_str("type"), fakereply_str("completed"),
                                    fakereply_str("cid"), fakereply_str(CID))),
        fakereply_arr(2, fakereply_str("2-2"),
                      fakereply_arr(2, fakereply_str("type"), fakereply_int(3))));
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(audit_entry_at(bad, i, &en), AGG_OK);
        assert_false(en.valid);
        assert_non_null(en.id);
    }
    /* No id at all: skipped. */
    redisReply *noid = fakereply_arr(2, fakereply_arr(1, fakereply_str("3-0")),
                                     fakereply_arr(2, fakereply_int(1), fakereply_arr(0)));
    assert_int_equal(audit_entry_at(noid, 0, &en), AGG_ERR);
    assert_int_equal(audit_entry_at(noid, 1, &en), AGG_ERR);
    /* A trace field is optional. */
    redisReply *notrace = fakereply_arr(
        1, fakereply_arr(2, fakereply_str("4-0"),
                         fakereply_arr(6, fakereply_str("type"), fakereply_str("requested"),
                                       fakereply_str("cid"), fakereply_str(CID), fakereply_str("d"),
                                       fakereply_str("{}"))));
    assert_int_equal(audit_entry_at(notrace, 0, &en), AGG_OK);
    assert_true(en.valid);
    assert_string_equal(en.trace, "");
}

static void claim_replies(void **state) {
    (void)state;
    const redisReply *entries;
    size_t n;
    char cursor[AUDIT_ID_MAX];
    err_t e;
    redisReply *r = fakereply_arr(3, fakereply_str("5-3"),
                                  fakereply_arr(1, entry("5-1", "completed", CID, "t", "{}")),
                                  fakereply_arr(0));
    assert_int_equal(audit_claim_reply(r, &entries, &n, cursor, NULL), AGG_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cursor, "5-3");
    /* Redis 6.2: no list of deleted ids. */
    r = fakereply_arr(2, fakereply_str("0-0"), fakereply_arr(0));
    assert_int_equal(audit_claim_reply(r, &entries, &n, cursor, NULL), AGG_OK);
    assert_int_equal(n, 0);
    assert_string_equal(cursor, "0-0");
    strcpy(cursor, "7-7");
    assert_int_equal(audit_claim_reply(NULL, &entries, &n, cursor, &e), AGG_ERR);
    assert_int_equal(
        audit_claim_reply(fakereply_arr(1, fakereply_str("0-0")), &entries, &n, cursor, &e),
        AGG_ERR);
    assert_int_equal(audit_claim_reply(fakereply_arr(2, fakereply_int(0), fakereply_arr(0)),
                                       &entries, &n, cursor, &e),
                     AGG_ERR);
    char longid[AUDIT_ID_MAX + 4];
    memset(longid, '1', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(audit_claim_reply(fakereply_arr(2, fakereply_str(longid), fakereply_arr(0)),
                                       &entries, &n, cursor, &e),
                     AGG_ERR);
    assert_string_equal(cursor, "7-7"); /* a refused reply leaves the cursor */
    assert_int_equal(audit_claim_reply(fakereply_error("ERR x"), &entries, &n, cursor, &e),
                     AGG_ERR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(builders, fakereply_reset),
        cmocka_unit_test_setup(group_replies, fakereply_reset),
        cmocka_unit_test_setup(read_replies_and_entries, fakereply_reset),
        cmocka_unit_test_setup(entries_that_are_not_records, fakereply_reset),
        cmocka_unit_test_setup(claim_replies, fakereply_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
