/* test_session: the session module's key layout, call builders and reply parsing (no Redis). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "fakereply.h"
#include "session.h"

#define CID  "3f2b8c1d-5e6a-4b7c-9d8e-0f1a2b3c4d5e"
#define CID2 "c0ffee00-1111-4222-8333-444455556666"

/* --- key layout --- */

static void keys_share_the_bucket_tag(void **state) {
    (void)state;
    session_keys k;
    assert_int_equal(session_keys_of(CID, &k, NULL), AGG_OK);
    /* 0x3f = 63 -> bucket 63 % 16 = 15 */
    assert_int_equal(session_bucket_of(CID), 15);
    assert_string_equal(k.meta, "agg:{b15}:" CID ":meta");
    assert_string_equal(k.out, "agg:{b15}:" CID ":out");
    assert_string_equal(k.log, "agg:{b15}:" CID ":log");
    assert_string_equal(k.deadlines, "agg:{b15}:deadlines");
    assert_string_equal(k.channel, "agg:{b15}:" CID ":ev");
    assert_int_equal(session_bucket_of(CID2), 0xc0 % SESSION_BUCKETS);
    err_t e;
    assert_int_equal(session_keys_of("not-a-uuid", &k, &e), AGG_ERR);
    assert_string_equal(e.text, "not a correlation id");
    assert_int_equal(session_keys_of("3F2B8C1D-5E6A-4B7C-9D8E-0F1A2B3C4D5E", &k, NULL), AGG_ERR);
    assert_int_equal(session_keys_of(NULL, &k, NULL), AGG_ERR);
}

static void buckets_cover_every_value(void **state) {
    (void)state;
    int seen[SESSION_BUCKETS] = {0};
    char cid[] = CID;
    static const char hex[] = "0123456789abcdef";
    for (int hi = 0; hi < 16; hi++)
        for (int lo = 0; lo < 16; lo++) {
            cid[0] = hex[hi];
            cid[1] = hex[lo];
            int b = session_bucket_of(cid);
            assert_true(b >= 0 && b < SESSION_BUCKETS);
            seen[b]++;
        }
    for (int b = 0; b < SESSION_BUCKETS; b++) assert_int_equal(seen[b], 256 / SESSION_BUCKETS);
}

static void channel_names_round_trip(void **state) {
    (void)state;
    session_keys k;
    assert_int_equal(session_keys_of(CID, &k, NULL), AGG_OK);
    char cid[UUID4_LEN + 1];
    assert_int_equal(session_cid_of_channel(k.channel, strlen(k.channel), cid), AGG_OK);
    assert_string_equal(cid, CID);
    const char *bad[] = {
        "agg:{b15}:" CID ":eV",
        "agg:{b14}:" CID ":ev", /* the bucket does not match the id */
        "agg:{b15}:" CID "x:ev",
        "agg:{" CID "}:ev", /* the old layout */
        "agg:{b15}:3F2B8C1D-5E6A-4B7C-9D8E-0F1A2B3C4D5E:ev",
        "agg:rds:anchor",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(session_cid_of_channel(bad[i], strlen(bad[i]), cid), AGG_ERR);
    /* Length is taken as given: a prefix of a valid name is not one. */
    assert_int_equal(session_cid_of_channel(k.channel, strlen(k.channel) - 1, cid), AGG_ERR);
}

/* --- builders --- */

static void open_call_has_its_keys_then_arguments(void **state) {
    (void)state;
    session_def d = {CID, "p1", "SSE", "[\"a\"]", 1000, 11000, 1001, 60,
                     "4bf92f3577b34da6a3ce929d0e0e4736", "alice"};
    session_call sc;
    assert_int_equal(session_call_open(&sc, &d, NULL), AGG_OK);
    assert_int_equal(sc.call.script, RDS_SCRIPT_SESSION_OPEN);
    assert_int_equal(sc.call.nkeys, 5);
    assert_int_equal(sc.call.argc, 5 + 11);
    assert_false(sc.call.invalid);
    assert_string_equal(sc.keys.audit, "agg:{b15}:audit");
    const char *want[] = {sc.keys.meta, sc.keys.out, sc.keys.log, sc.keys.deadlines,
                          sc.keys.audit, CID, sc.keys.channel, "p1", "SSE", "1000", "11000",
                          "[\"a\"]", "60", "1001", "4bf92f3577b34da6a3ce929d0e0e4736", "alice"};
    for (int i = 0; i < 16; i++) {
        assert_string_equal(sc.call.argv[i], want[i]);
        assert_int_equal(sc.call.lens[i], strlen(want[i]));
    }
    session_def untraced = d; /* no trace: an empty argument, the script stores none */
    untraced.trace_id = NULL;
    assert_int_equal(session_call_open(&sc, &untraced, NULL), AGG_OK);
    assert_string_equal(sc.call.argv[14], "");
    assert_string_equal(rds_call_name(&sc.call), "session_open");
    session_def missing = d;
    missing.sources_json = NULL;
    err_t e;
    assert_int_equal(session_call_open(&sc, &missing, &e), AGG_ERR);
    missing = d; /* every session has an owner: "anonymous" without authentication */
    missing.owner = NULL;
    assert_int_equal(session_call_open(&sc, &missing, &e), AGG_ERR);
    missing.owner = "";
    assert_int_equal(session_call_open(&sc, &missing, &e), AGG_ERR);
    session_def badcid = d;
    badcid.cid = "x";
    assert_int_equal(session_call_open(&sc, &badcid, &e), AGG_ERR);
    assert_string_equal(e.text, "not a correlation id");
}

static void record_and_expire_calls(void **state) {
    (void)state;
    session_outcome o = {CID, "p1", "resource-1", OUTCOME_CONNECTION_CLOSED, "{}", 5000, 60};
    session_call sc;
    assert_int_equal(session_call_record(&sc, &o, NULL), AGG_OK);
    assert_int_equal(sc.call.script, RDS_SCRIPT_SESSION_RECORD);
    assert_int_equal(sc.call.argc, 5 + 8);
    assert_string_equal(sc.call.argv[4], "agg:{b15}:audit");
    assert_string_equal(sc.call.argv[5], CID);
    assert_string_equal(sc.call.argv[6], sc.keys.channel);
    assert_string_equal(sc.call.argv[7], "resource-1");
    assert_string_equal(sc.call.argv[8], "CONNECTION_CLOSED");
    assert_string_equal(sc.call.argv[9], "{}");
    assert_string_equal(sc.call.argv[10], "60");
    assert_string_equal(sc.call.argv[11], "p1");
    assert_string_equal(sc.call.argv[12], "5000");

    assert_int_equal(session_call_expire(&sc, CID, 7000, 60, NULL), AGG_OK);
    assert_int_equal(sc.call.script, RDS_SCRIPT_SESSION_EXPIRE);
    assert_int_equal(sc.call.argc, 5 + 4);
    assert_string_equal(sc.call.argv[3], "agg:{b15}:deadlines");
    assert_string_equal(sc.call.argv[4], "agg:{b15}:audit");
    assert_string_equal(sc.call.argv[7], "7000");
    assert_string_equal(sc.call.argv[8], "60");
    char key[SESSION_KEY_MAX];
    assert_int_equal(session_audit_key(3, key, NULL), AGG_OK);
    assert_string_equal(key, "agg:{b03}:audit");
    err_t e;
    assert_int_equal(session_audit_key(SESSION_BUCKETS, key, &e), AGG_ERR);
    assert_int_equal(session_audit_key(-1, key, &e), AGG_ERR);
}

static void claim_call(void **state) {
    (void)state;
    char claims[32];
    size_t len = 0;
    claims[0] = '\0';
    assert_int_equal(session_claims_append(claims, sizeof claims, &len, "resource-2", NULL), AGG_OK);
    assert_int_equal(session_claims_append(claims, sizeof claims, &len, "r3", NULL), AGG_OK);
    assert_string_equal(claims, "10:resource-2,2:r3,");
    assert_int_equal(len, strlen(claims));
    err_t e;
    /* Full: refused, and what was there stays whole. */
    assert_int_equal(session_claims_append(claims, sizeof claims, &len, "resource-3", &e), AGG_ERR);
    assert_string_equal(claims, "10:resource-2,2:r3,");
    assert_int_equal(session_claims_append(claims, sizeof claims, &len, "", &e), AGG_ERR);
    assert_int_equal(session_claims_append(claims, sizeof claims, &len, NULL, &e), AGG_ERR);
    assert_string_equal(e.text, "session_claim: missing source");

    session_call sc;
    assert_int_equal(session_call_claim(&sc, CID, claims, NULL), AGG_OK);
    assert_int_equal(sc.call.script, RDS_SCRIPT_SESSION_CLAIM);
    assert_int_equal(sc.call.nkeys, 1);
    assert_int_equal(sc.call.argc, 2);
    assert_string_equal(sc.call.argv[0], "agg:{b15}:" CID ":meta");
    assert_string_equal(sc.call.argv[1], "10:resource-2,2:r3,");
    assert_int_equal(session_call_claim(&sc, "not-a-uuid", claims, &e), AGG_ERR);
    assert_int_equal(session_call_claim(&sc, CID, "", &e), AGG_ERR);
    assert_string_equal(e.text, "session_claim: no source to claim");
}

static void plain_calls(void **state) {
    (void)state;
    session_call sc;
    assert_int_equal(session_call_state(&sc, CID, NULL), AGG_OK);
    assert_int_equal(sc.call.script, RDS_PLAIN_COMMAND);
    assert_int_equal(sc.call.argc, 7);
    assert_string_equal(sc.call.argv[0], "HMGET");
    assert_string_equal(sc.call.argv[1], "agg:{b15}:" CID ":meta");
    assert_string_equal(sc.call.argv[2], "state");
    assert_string_equal(sc.call.argv[3], "seq");
    assert_string_equal(sc.call.argv[4], "calls");
    assert_string_equal(sc.call.argv[5], "deadline");
    assert_string_equal(sc.call.argv[6], "owner");

    assert_int_equal(session_call_log(&sc, CID, 0, NULL), AGG_OK);
    assert_string_equal(sc.call.argv[0], "XRANGE");
    assert_string_equal(sc.call.argv[1], "agg:{b15}:" CID ":log");
    assert_string_equal(sc.call.argv[2], "0-1");
    assert_string_equal(sc.call.argv[3], "+");
    assert_int_equal(session_call_log(&sc, CID, 41, NULL), AGG_OK);
    assert_string_equal(sc.call.argv[2], "0-42");
    assert_int_equal(session_call_log(&sc, CID, -1, NULL), AGG_ERR);

    assert_int_equal(session_call_due(&sc, 7, 123456, 256, NULL), AGG_OK);
    const char *want[] = {"ZRANGEBYSCORE", "agg:{b07}:deadlines", "-inf", "123456",
                          "LIMIT", "0", "256"};
    assert_int_equal(sc.call.argc, 7);
    for (int i = 0; i < 7; i++) assert_string_equal(sc.call.argv[i], want[i]);
    assert_int_equal(session_call_due(&sc, SESSION_BUCKETS, 1, 1, NULL), AGG_ERR);
    assert_int_equal(session_call_due(&sc, -1, 1, 1, NULL), AGG_ERR);
    assert_int_equal(session_call_due(&sc, 0, 1, 0, NULL), AGG_ERR);
}

static void rds_call_overflow_is_invalid(void **state) {
    (void)state;
    rds_call c;
    rds_call_begin_command(&c);
    for (int i = 0; i < RDS_CALL_MAX_ARGV; i++) rds_call_push(&c, "x");
    assert_false(c.invalid);
    rds_call_push(&c, "one too many");
    assert_true(c.invalid);
    assert_int_equal(c.argc, RDS_CALL_MAX_ARGV);
    rds_call_begin_command(&c);
    rds_call_push(&c, NULL);
    assert_true(c.invalid);
    assert_string_equal(rds_call_name(&c), "(empty command)");
}

/* --- replies --- */

static void open_replies(void **state) {
    (void)state;
    err_t e;
    assert_int_equal(session_open_reply(fakereply_int(1), NULL), AGG_OK);
    assert_int_equal(session_open_reply(fakereply_int(0), NULL), AGG_OK);
    assert_int_equal(session_open_reply(fakereply_int(2), &e), AGG_ERR);
    assert_int_equal(session_open_reply(fakereply_error("ERR invalid sources: x"), &e), AGG_ERR);
    assert_string_equal(e.text, "session_open: ERR invalid sources: x");
    assert_int_equal(session_open_reply(NULL, &e), AGG_ERR);
    assert_string_equal(e.text, "session_open: no reply");
}

static void record_replies(void **state) {
    (void)state;
    long long seq = -1;
    assert_int_equal(session_record_reply(fakereply_arr(2, fakereply_str("recorded"), fakereply_int(3)), &seq),
                     SESSION_RECORDED);
    assert_int_equal(seq, 3);
    assert_int_equal(session_record_reply(fakereply_arr(2, fakereply_str("completed"), fakereply_int(4)), &seq),
                     SESSION_COMPLETED);
    assert_int_equal(seq, 4);
    const char *refusals[] = {"duplicate",      "unknown-session",  "finished",
                              "unknown-source", "patient-mismatch", "invalid-status"};
    for (int i = 0; i < SESSION_REFUSALS; i++) {
        session_record_result r = session_record_reply(fakereply_arr(2, fakereply_str(refusals[i]), fakereply_int(0)), &seq);
        assert_int_equal(r, SESSION_DUPLICATE + i);
        assert_true(session_record_refused(r));
        assert_string_equal(session_record_name(r), refusals[i]);
        assert_int_equal(seq, 0);
    }
    assert_false(session_record_refused(SESSION_RECORDED));
    assert_false(session_record_refused(SESSION_RECORD_UNEXPECTED));
    assert_int_equal(session_record_reply(fakereply_arr(2, fakereply_str("bogus"), fakereply_int(0)), NULL),
                     SESSION_RECORD_UNEXPECTED);
    assert_int_equal(session_record_reply(fakereply_arr(1, fakereply_str("recorded")), NULL),
                     SESSION_RECORD_UNEXPECTED);
    assert_int_equal(session_record_reply(fakereply_arr(2, fakereply_str("recorded"), fakereply_str("1")), NULL),
                     SESSION_RECORD_UNEXPECTED);
    assert_int_equal(session_record_reply(fakereply_str("recorded"), NULL), SESSION_RECORD_UNEXPECTED);
    assert_int_equal(session_record_reply(fakereply_error("ERR x"), NULL), SESSION_RECORD_UNEXPECTED);
    assert_int_equal(session_record_reply(NULL, NULL), SESSION_RECORD_UNEXPECTED);
    redisReply *nul = fakereply_str("recorded");
    nul->len = 9; /* an embedded NUL: none of ours */
    assert_int_equal(session_record_reply(fakereply_arr(2, nul, fakereply_int(1)), NULL),
                     SESSION_RECORD_UNEXPECTED);
    assert_string_equal(session_record_name(SESSION_RECORD_UNEXPECTED), "unexpected");
}

static void expire_replies(void **state) {
    (void)state;
    assert_int_equal(session_expire_reply(fakereply_status("expired")), SESSION_EXPIRED);
    assert_int_equal(session_expire_reply(fakereply_str("not-due")), SESSION_NOT_DUE);
    assert_int_equal(session_expire_reply(fakereply_str("gone")), SESSION_GONE);
    assert_int_equal(session_expire_reply(fakereply_str("went")), SESSION_EXPIRE_UNEXPECTED);
    assert_int_equal(session_expire_reply(fakereply_error("ERR")), SESSION_EXPIRE_UNEXPECTED);
    assert_int_equal(session_expire_reply(NULL), SESSION_EXPIRE_UNEXPECTED);
    assert_string_equal(session_expire_name(SESSION_NOT_DUE), "not-due");
    assert_string_equal(session_expire_name(SESSION_EXPIRE_UNEXPECTED), "unexpected");
}

static void summary_elapsed_of_replies(void **state) {
    (void)state;
    long long seq;
    redisReply *done = fakereply_arr(3, fakereply_str("completed"), fakereply_int(4), fakereply_int(1234));
    assert_int_equal(session_record_reply(done, &seq), SESSION_COMPLETED);
    assert_int_equal(seq, 4);
    assert_int_equal(session_summary_elapsed_ms(done), 1234);
    redisReply *exp = fakereply_arr(2, fakereply_str("expired"), fakereply_int(1000));
    assert_int_equal(session_expire_reply(exp), SESSION_EXPIRED);
    assert_int_equal(session_summary_elapsed_ms(exp), 1000);
    assert_int_equal(session_expire_sources(exp), 0);
    redisReply *two = fakereply_arr(4, fakereply_str("expired"), fakereply_int(7), fakereply_str("a"), fakereply_int(1));
    assert_int_equal(session_summary_elapsed_ms(two), 7);
    assert_int_equal(session_expire_sources(two), 2);
    assert_string_equal(session_expire_source(two, 0), "a");
    assert_null(session_expire_source(two, 1)); /* not a string */
    assert_null(session_expire_source(two, 2));
    assert_int_equal(session_expire_sources(fakereply_str("gone")), 0);
    /* No summary, or no duration in it. */
    assert_int_equal(session_summary_elapsed_ms(fakereply_arr(3, fakereply_str("recorded"), fakereply_int(2), fakereply_int(5))), -1);
    assert_int_equal(session_summary_elapsed_ms(fakereply_arr(2, fakereply_str("completed"), fakereply_int(4))), -1);
    assert_int_equal(session_summary_elapsed_ms(fakereply_arr(3, fakereply_str("completed"), fakereply_int(4), fakereply_int(-1))), -1);
    assert_int_equal(session_summary_elapsed_ms(fakereply_status("expired")), -1);
    assert_int_equal(session_summary_elapsed_ms(fakereply_str("not-due")), -1);
    assert_int_equal(session_summary_elapsed_ms(NULL), -1);
    redisReply *bad = fakereply_arr(2, fakereply_str("expired"), fakereply_str("1000"));
    assert_int_equal(session_expire_reply(bad), SESSION_EXPIRE_UNEXPECTED);
    assert_int_equal(session_summary_elapsed_ms(bad), -1);
    assert_int_equal(session_record_reply(fakereply_arr(4, fakereply_str("completed"), fakereply_int(4), fakereply_int(1), fakereply_int(1)), NULL),
                     SESSION_RECORD_UNEXPECTED);
}

static void state_replies(void **state) {
    (void)state;
    session_state st;
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_nil(), fakereply_nil(), fakereply_nil()), &st, NULL), AGG_OK);
    assert_false(st.exists);
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("open"), fakereply_str("2"), fakereply_nil()), &st, NULL),
                     AGG_OK);
    assert_true(st.exists);
    assert_false(st.done);
    assert_int_equal(st.seq, 2);
    assert_null(st.calls);
    assert_false(session_state_called(&st, "resource-1"));
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("done"), fakereply_str("4"), fakereply_nil()), &st, NULL),
                     AGG_OK);
    assert_true(st.done);
    assert_int_equal(st.seq, 4);
    err_t e;
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("open"), fakereply_str("x"), fakereply_nil()), &st, &e), AGG_ERR);
    assert_string_equal(e.text, "session state: malformed meta");
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("open"), fakereply_nil(), fakereply_nil()), &st, &e), AGG_ERR);
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("open"), fakereply_str("1"), fakereply_int(1)), &st, &e),
                     AGG_ERR);
    /* The reply of the former two-field read is refused, not half understood. */
    assert_int_equal(session_state_reply(fakereply_arr(2, fakereply_str("open"), fakereply_str("2")), &st, &e), AGG_ERR);
    assert_int_equal(session_state_reply(fakereply_error("LOADING"), &st, &e), AGG_ERR);
    assert_string_equal(e.text, "session state: LOADING");
    /* session_call_state's fourth and fifth fields: the deadline, for the gateway's own check,
     * and the owner. */
    assert_int_equal(session_state_reply(fakereply_arr(5, fakereply_str("open"), fakereply_str("1"),
                                                       fakereply_nil(), fakereply_str("1700000010000"),
                                                       fakereply_str("alice")),
                                         &st, &e),
                     AGG_OK);
    assert_int_equal(st.deadline_ms, 1700000010000LL);
    assert_int_equal(st.owner_len, 5);
    assert_true(session_state_owned_by(&st, "alice"));
    assert_false(session_state_owned_by(&st, "alic"));
    assert_false(session_state_owned_by(&st, "alice2"));
    assert_false(session_state_owned_by(&st, "bob"));
    assert_int_equal(session_state_reply(fakereply_arr(5, fakereply_nil(), fakereply_nil(),
                                                       fakereply_nil(), fakereply_nil(),
                                                       fakereply_nil()),
                                         &st, &e),
                     AGG_OK);
    assert_false(st.exists);
    assert_int_equal(st.deadline_ms, 0);
    /* A session without an owner (opened by an older gateway) is nobody's. */
    assert_int_equal(session_state_reply(fakereply_arr(5, fakereply_str("open"), fakereply_str("1"),
                                                       fakereply_nil(), fakereply_nil(),
                                                       fakereply_nil()),
                                         &st, &e),
                     AGG_OK);
    assert_null(st.owner);
    assert_false(session_state_owned_by(&st, "anonymous"));
    assert_int_equal(session_state_reply(fakereply_arr(5, fakereply_str("open"), fakereply_str("1"),
                                                       fakereply_nil(), fakereply_str("soon"),
                                                       fakereply_nil()),
                                         &st, &e),
                     AGG_ERR);
    assert_int_equal(session_state_reply(fakereply_arr(5, fakereply_str("open"), fakereply_str("1"),
                                                       fakereply_nil(), fakereply_nil(),
                                                       fakereply_int(3)),
                                         &st, &e),
                     AGG_ERR);
    assert_string_equal(e.text, "session state: malformed owner");
    /* The former four-field read is refused, not half understood. */
    assert_int_equal(session_state_reply(fakereply_arr(4, fakereply_str("open"), fakereply_str("1"),
                                                       fakereply_nil(), fakereply_nil()),
                                         &st, &e),
                     AGG_ERR);
    assert_int_equal(session_state_reply(NULL, &st, &e), AGG_ERR);
}

static int called(const char *calls, const char *source) {
    session_state st;
    assert_int_equal(session_state_reply(fakereply_arr(3, fakereply_str("open"), fakereply_str("1"), fakereply_str(calls)), &st, NULL),
                     AGG_OK);
    assert_int_equal(st.calls_len, strlen(calls));
    return session_state_called(&st, source);
}

static void called_sources(void **state) {
    (void)state;
    const char *calls = "10:resource-1,3:a,b,1::,10:resource-3,";
    assert_true(called(calls, "resource-1"));
    assert_true(called(calls, "a,b"));
    assert_true(called(calls, ":"));
    assert_true(called(calls, "resource-3"));
    /* Whole names only: neither a part of one nor a name inside another's text. */
    assert_false(called(calls, "resource-"));
    assert_false(called(calls, "resource-2"));
    assert_false(called(calls, "b"));
    assert_false(called(calls, "a"));
    assert_false(called("", "a"));
    /* A malformed list is read up to the fault; what follows counts as not called. */
    assert_true(called("1:a,x:b,", "a"));
    assert_false(called("1:a,x:b,", "b"));
    assert_false(called("5:abc,", "abc"));   /* length past the end */
    assert_false(called("3:abc;", "abc"));   /* no comma */
    assert_false(called("3:abc", "abc"));    /* truncated */
    assert_false(called(":abc,", "abc"));    /* no length */
    assert_false(called("9999999:a,", "a")); /* absurd length */
}

static redisReply *entry(const char *id, const char *ev, const char *data) {
    return fakereply_arr(2, fakereply_str(id), fakereply_arr(4, fakereply_str("e"), fakereply_str(ev), fakereply_str("d"), fakereply_str(data)));
}

static void log_entries(void **state) {
    (void)state;
    redisReply *log = fakereply_arr(6, entry("0-1", "callback", "{\"a\":1}"), entry("0-2", "summary", "{}"),
                          entry("1-3", "callback", "{}"), fakereply_arr(2, fakereply_str("0-4"), fakereply_str("x")),
                          fakereply_arr(2, fakereply_str("0-5"), fakereply_arr(2, fakereply_str("e"), fakereply_str("callback"))),
                          entry("0-x", "callback", "{}"));
    session_event ev;
    assert_int_equal(session_log_entry(log, 0, &ev), AGG_OK);
    assert_int_equal(ev.seq, 1);
    assert_int_equal(ev.name_len, 8);
    assert_memory_equal(ev.name, "callback", 8);
    assert_int_equal(ev.data_len, 7);
    assert_false(session_event_is_summary(&ev));
    assert_int_equal(session_log_entry(log, 1, &ev), AGG_OK);
    assert_int_equal(ev.seq, 2);
    assert_true(session_event_is_summary(&ev));
    for (size_t i = 2; i < 6; i++) assert_int_equal(session_log_entry(log, i, &ev), AGG_ERR);
    assert_int_equal(session_log_entry(log, 6, &ev), AGG_ERR); /* past the end */
    size_t n;
    err_t e;
    assert_int_equal(session_list_reply(log, &n, NULL), AGG_OK);
    assert_int_equal(n, 6);
    assert_int_equal(session_list_reply(fakereply_error("OOM command not allowed"), &n, &e), AGG_ERR);
    assert_string_equal(e.text, "OOM command not allowed");
    assert_int_equal(n, 0);
    assert_int_equal(session_list_reply(NULL, &n, &e), AGG_ERR);
    assert_string_equal(e.text, "no reply");
    assert_int_equal(session_log_entry(fakereply_error("ERR"), 0, &ev), AGG_ERR);
    assert_int_equal(session_log_entry(NULL, 0, &ev), AGG_ERR);
}

static void due_entries(void **state) {
    (void)state;
    int b = session_bucket_of(CID);
    redisReply *due = fakereply_arr(4, fakereply_str(CID), fakereply_str(CID2), fakereply_str("junk"), fakereply_int(1));
    char cid[UUID4_LEN + 1];
    assert_int_equal(session_due_entry(due, 0, b, cid), AGG_OK);
    assert_string_equal(cid, CID);
    assert_int_equal(session_due_entry(due, 1, b, cid), AGG_ERR); /* another bucket's */
    assert_int_equal(session_due_entry(due, 1, session_bucket_of(CID2), cid), AGG_OK);
    assert_int_equal(session_due_entry(due, 2, b, cid), AGG_ERR);
    assert_int_equal(session_due_entry(due, 3, b, cid), AGG_ERR);
    assert_int_equal(session_due_entry(due, 4, b, cid), AGG_ERR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(keys_share_the_bucket_tag, fakereply_reset),
        cmocka_unit_test_setup(buckets_cover_every_value, fakereply_reset),
        cmocka_unit_test_setup(channel_names_round_trip, fakereply_reset),
        cmocka_unit_test_setup(open_call_has_its_keys_then_arguments, fakereply_reset),
        cmocka_unit_test_setup(record_and_expire_calls, fakereply_reset),
        cmocka_unit_test_setup(claim_call, fakereply_reset),
        cmocka_unit_test_setup(plain_calls, fakereply_reset),
        cmocka_unit_test_setup(rds_call_overflow_is_invalid, fakereply_reset),
        cmocka_unit_test_setup(open_replies, fakereply_reset),
        cmocka_unit_test_setup(record_replies, fakereply_reset),
        cmocka_unit_test_setup(expire_replies, fakereply_reset),
        cmocka_unit_test_setup(summary_elapsed_of_replies, fakereply_reset),
        cmocka_unit_test_setup(state_replies, fakereply_reset),
        cmocka_unit_test_setup(called_sources, fakereply_reset),
        cmocka_unit_test_setup(log_entries, fakereply_reset),
        cmocka_unit_test_setup(due_entries, fakereply_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
