/* test_rds_scripts: the session and circuit breaker Lua scripts against a real redis-server
 * (REDIS_TEST_URL) and a 3-master Redis Cluster (REDIS_CLUSTER_TEST_NODES), each call sent to
 * the node of its slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "audit.h"
#include "breaker.h"
#include "rds.h"
#include "session.h"
#include "testcluster.h"
#include "uuid4.h"

#define TTL_S 600
#define TTL   "600"
/* Far in the future, so a deadline poller sharing this Redis never finds these sessions due. */
#define CREATED 4102444800000LL
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

static char host[256];
static int port;
static redisContext *rc;
static char sha[RDS_SCRIPT__COUNT][41];

static redisContext *connect_redis(void) {
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to redis %s:%d: %s\n", host, port, c ? c->errstr : "oom");
        exit(1);
    }
    redisSetTimeout(c, tv); /* a missing reply fails the test instead of hanging */
    return c;
}

/* The cluster group sets tc; the single-server group leaves it NULL. */
static testcluster *tc;

static int load_scripts(void) {
    for (int i = 0; i < RDS_SCRIPT__COUNT; i++) {
        if (tc) {
            if (testcluster_script_load_all(tc, rds_script_source[i], sha[i]) != 0) {
                fprintf(stderr, "SCRIPT LOAD %s on the cluster failed: %s\n", rds_script_name[i],
                        testcluster_error(tc));
                return -1;
            }
            continue;
        }
        redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", rds_script_source[i]);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
            fprintf(stderr, "SCRIPT LOAD %s failed: %s\n", rds_script_name[i],
                    r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
            return -1;
        }
        memcpy(sha[i], r->str, 41);
        freeReplyObject(r);
    }
    return 0;
}

static int single_setup(void **state) {
    (void)state;
    rc = connect_redis();
    return load_scripts();
}

static int single_teardown(void **state) {
    (void)state;
    redisFree(rc);
    rc = NULL;
    return 0;
}

static int cluster_setup(void **state) {
    (void)state;
    char err[256];
    tc = testcluster_connect_env(err, sizeof err);
    if (!tc) {
        fprintf(stderr, "test_rds_scripts: %s\n", err);
        return -1;
    }
    return load_scripts();
}

static int cluster_teardown(void **state) {
    (void)state;
    testcluster_free(tc);
    tc = NULL;
    return 0;
}

/* Sends a built call as the services do (EVALSHA for scripts); on the cluster, to the node that
 * owns its first key's slot. */
static redisReply *send_argv(int argc, const char **argv, const size_t *lens) {
    if (!tc) return redisCommandArgv(rc, argc, argv, lens);
    redisReply *r =
        testcluster_command_argv(tc, argc, argv, lens, testcluster_first_key_index(argc, argv));
    if (!r) fail_msg("cluster: %s", testcluster_error(tc));
    return r;
}

static redisReply *send_call(const rds_call *c) {
    assert_false(c->invalid);
    const char *argv[RDS_CALL_MAX_ARGV + 3];
    size_t lens[RDS_CALL_MAX_ARGV + 3];
    int argc = 0;
    char nkeys[16];
    if (c->script >= 0) {
        snprintf(nkeys, sizeof nkeys, "%d", c->nkeys);
        argv[argc] = "EVALSHA", lens[argc++] = 7;
        argv[argc] = sha[c->script], lens[argc++] = 40;
        argv[argc] = nkeys, lens[argc++] = strlen(nkeys);
    }
    for (int i = 0; i < c->argc; i++) argv[argc] = c->argv[i], lens[argc++] = c->lens[i];
    redisReply *r = send_argv(argc, argv, lens);
    assert_non_null(r);
    if (c->script >= 0 && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* test_rds runs SCRIPT FLUSH on the same server: load and retry. */
        freeReplyObject(r);
        assert_int_equal(load_scripts(), 0);
        r = send_argv(argc, argv, lens);
        assert_non_null(r);
    }
    /* The cluster refuses a script whose keys span slots: none of ours may. */
    if (r->type == REDIS_REPLY_ERROR) assert_null(strstr(r->str, "CROSSSLOT"));
    return r;
}

/* The connection that serves key: the server, or the key's node on the cluster. */
static redisContext *ctx_for(const char *key) {
    if (!tc) return rc;
    redisContext *c = testcluster_node_for_key(tc, key);
    if (!c) fail_msg("cluster: %s", testcluster_error(tc));
    return c;
}

/* The session's key names (rotating static storage). */
static const session_keys *keys_of(const char *cid) {
    static session_keys k[8];
    static int i;
    session_keys *p = &k[i++ % 8];
    assert_int_equal(session_keys_of(cid, p, NULL), AGG_OK);
    return p;
}

/* A direct command for checks. fmt's first conversion is the %s of the key the command reads,
 * and routes it. */
static redisReply *vcmd(const char *fmt, va_list ap) {
    va_list peek;
    va_copy(peek, ap);
    const char *key = va_arg(peek, const char *);
    va_end(peek);
    redisReply *r = redisvCommand(ctx_for(key), fmt, ap);
    assert_non_null(r);
    return r;
}

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(fmt, ap);
    va_end(ap);
    return r;
}

static long long cmd_int(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = vcmd(fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long open_traced(const char *cid, const char *patient, const char *sources,
                             long long deadline, const char *trace_id) {
    session_def d = {cid,   patient, "SSE",    sources, CREATED, deadline,
                     CREATED, TTL_S, trace_id, "owner-1"};
    session_call sc;
    assert_int_equal(session_call_open(&sc, &d, NULL), AGG_OK);
    redisReply *r = send_call(&sc.call);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("session_open: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(session_open_reply(r, NULL), AGG_OK);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long open_session(const char *cid, const char *patient, const char *sources,
                              long long deadline) {
    return open_traced(cid, patient, sources, deadline, NULL);
}

/* Records through the generated builder, so that a status the C side could not express
 * ("DONE") reaches the script. */
static void expect_record(const char *cid, const char *source, const char *status, const char *json,
                          const char *patient, long long now, const char *want,
                          long long want_seq) {
    char nows[32];
    snprintf(nows, sizeof nows, "%lld", now);
    const session_keys *k = keys_of(cid);
    rds_call c;
    rds_call_session_record(&c, k->meta, k->out, k->log, k->deadlines, k->audit, cid, k->channel,
                            source, status, json, TTL, patient, nows);
    redisReply *r = send_call(&c);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("session_record: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    /* completed: {result, seq, elapsedMs}, the others {result, seq} */
    int completed = strcmp(want, "completed") == 0;
    assert_int_equal(r->elements, completed ? 3 : 2);
    assert_int_equal(session_summary_elapsed_ms(r), completed ? now - CREATED : -1);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
    assert_string_equal(r->element[0]->str, want);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[1]->integer, want_seq);
    long long seq;
    session_record_result res = session_record_reply(r, &seq);
    assert_string_equal(session_record_name(res), want);
    assert_int_equal(seq, want_seq);
    freeReplyObject(r);
}

static void expect_expire(const char *cid, long long now, const char *want) {
    session_call sc;
    assert_int_equal(session_call_expire(&sc, cid, now, TTL_S, NULL), AGG_OK);
    redisReply *r = send_call(&sc.call);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("session_expire: %s", r->str);
    assert_string_equal(session_expire_name(session_expire_reply(r)), want);
    if (strcmp(want, "expired") == 0) { /* {"expired", elapsedMs, the sources timed out...} */
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(session_summary_elapsed_ms(r), now - CREATED);
        /* Both tests' sessions have sources without an outcome: each is named once. */
        assert_true(session_expire_sources(r) > 0);
        for (size_t i = 0; i < session_expire_sources(r); i++)
            assert_non_null(session_expire_source(r, i));
    } else {
        assert_true(r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
        assert_string_equal(r->str, want);
        assert_int_equal(session_summary_elapsed_ms(r), -1);
    }
    freeReplyObject(r);
}

static void expect_field(const char *cid, const char *field, const char *want) {
    redisReply *r = cmd("HGET %s %s", keys_of(cid)->meta, field);
    if (!want) {
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    } else {
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, want);
    }
    freeReplyObject(r);
}

/* Every session key that exists has a TTL. */
static void expect_ttls(const char *cid, int n_existing) {
    const session_keys *k = keys_of(cid);
    const char *const names[] = {k->meta, k->out, k->log};
    int existing = 0;
    for (int i = 0; i < 3; i++) {
        long long ttl = cmd_int("TTL %s", names[i]);
        if (ttl == -2) continue; /* absent */
        existing++;
        assert_true(ttl > 0);
    }
    assert_int_equal(existing, n_existing);
}

static int in_deadlines(const char *cid) {
    redisReply *r = cmd("ZSCORE %s %s", keys_of(cid)->deadlines, cid);
    int in = r->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return in;
}

/* Checks the log: n entries with ids 0-1..0-n, events and data as given. */
static void expect_log(const char *cid, int n, const char *const *events, const char *const *data) {
    redisReply *r = cmd("XRANGE %s - +", keys_of(cid)->log);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, (size_t)n);
    for (int i = 0; i < n; i++) {
        redisReply *ent = r->element[i];
        char id[32];
        snprintf(id, sizeof id, "0-%d", i + 1);
        assert_string_equal(ent->element[0]->str, id);
        redisReply *f = ent->element[1];
        assert_int_equal(f->elements, 4);
        assert_string_equal(f->element[0]->str, "e");
        assert_string_equal(f->element[1]->str, events[i]);
        assert_string_equal(f->element[2]->str, "d");
        assert_string_equal(f->element[3]->str, data[i]);
    }
    freeReplyObject(r);
}

/* A second connection subscribed to the session's channel. */
static redisContext *sub_open(const char *cid) {
    /* On the cluster, a PUBLISH reaches the subscribers of every node. */
    redisContext *s = tc ? testcluster_subscriber(tc) : connect_redis();
    assert_non_null(s);
    redisReply *r = redisCommand(s, "SUBSCRIBE %s", keys_of(cid)->channel);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "subscribe");
    freeReplyObject(r);
    return s;
}

static void sub_expect(redisContext *s, const char *cid, int seq, const char *event,
                       const char *data) {
    void *v = NULL;
    assert_int_equal(redisGetReply(s, &v), REDIS_OK);
    redisReply *r = v;
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "message");
    assert_string_equal(r->element[1]->str, keys_of(cid)->channel);
    char want[1024];
    snprintf(want, sizeof want, "%d %s %s", seq, event, data);
    assert_string_equal(r->element[2]->str, want);
    freeReplyObject(r);
}

/* Nothing more was published: a PING through the subscriber comes back first. */
static void sub_expect_nothing(redisContext *s) {
    redisReply *r = redisCommand(s, "PING");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "pong");
    freeReplyObject(r);
}

/* A new correlation id: other tests share the server. base names the case in the source only. */
static void mkcid(char *cid, const char *base) {
    (void)base;
    assert_int_equal(uuid4_new(cid, NULL), AGG_OK);
}

static const char *ev(const char *src, const char *status) {
    static char buf[8][256];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 256, "{\"source\":\"%s\",\"status\":\"%s\",\"notes\":[],\"elapsedMs\":7}", src,
             status);
    return b;
}

/* A callback has no elapsedMs: the script adds now - created. */
static void record_adds_elapsed_to_callbacks(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "elapsed");
    assert_int_equal(open_session(cid, "p1", "[\"a\",\"b\"]", CREATED + 10000), 1);
    expect_record(cid, "a", "ok", "{\"source\":\"a\",\"status\":\"ok\",\"notes\":[]}", "p1",
                  CREATED + 42, "recorded", 1);
    const char *events[] = {"callback"};
    const char *data[] = {"{\"source\":\"a\",\"status\":\"ok\",\"notes\":[],\"elapsedMs\":42}"};
    expect_log(cid, 1, events, data);
}

static void open_twice_is_a_noop(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-open");
    assert_int_equal(open_session(cid, "p1", "[\"a\",\"b\"]", CREATED + 10000), 1);
    assert_int_equal(open_session(cid, "p2", "[\"x\"]", CREATED + 99999), 0);
    expect_field(cid, "patientId", "p1");
    expect_field(cid, "strategy", "SSE");
    expect_field(cid, "created", "4102444800000");
    expect_field(cid, "deadline", "4102444810000");
    expect_field(cid, "sources", "[\"a\",\"b\"]");
    expect_field(cid, "n", "2");
    expect_field(cid, "seq", "0");
    expect_field(cid, "state", "open");
    expect_field(cid, "respondents", "0");
    expect_field(cid, "errors", "0");
    expect_field(cid, "owner", "owner-1");
    expect_field(cid, "completedBy", NULL);
    redisReply *r = cmd("ZSCORE %s %s", keys_of(cid)->deadlines, cid);
    assert_string_equal(r->str, "4102444810000");
    freeReplyObject(r);
    expect_ttls(cid, 1);
    /* The bucket's index lives at least as long as this session. */
    assert_true(cmd_int("TTL %s", keys_of(cid)->meta) <= cmd_int("TTL %s", keys_of(cid)->deadlines));
}

static void open_rejects_bad_sources(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-bad");
    const char *bad[] = {"not json", "{\"a\":1}", "[\"a\",\"a\"]", "[1]", "[\"\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        session_def d = {cid, "p1", "SSE", bad[i], 1, 2, 1, TTL_S, NULL, "o"};
        session_call sc;
        assert_int_equal(session_call_open(&sc, &d, NULL), AGG_OK);
        redisReply *r = send_call(&sc.call);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        err_t e;
        assert_int_equal(session_open_reply(r, &e), AGG_ERR);
        assert_non_null(strstr(e.text, "invalid sources"));
        freeReplyObject(r);
    }
    /* Through the generated builder: an empty owner, which session_call_open never sends. */
    const session_keys *k = keys_of(cid);
    rds_call c;
    rds_call_session_open(&c, k->meta, k->out, k->log, k->deadlines, k->audit, cid, k->channel,
                          "p1", "SSE", "1", "2", "[\"a\"]", TTL, "1", "", "");
    redisReply *r = send_call(&c);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "invalid owner"));
    freeReplyObject(r);
    assert_int_equal(cmd_int("EXISTS %s", keys_of(cid)->meta), 0);
}

static void record_flow_and_summary(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-rec");
    redisContext *s = sub_open(cid);
    assert_int_equal(open_session(cid, "p1", "[\"a\",\"b\",\"c\"]", CREATED + 10000), 1);

    expect_record(cid, "a", "ok", ev("a", "ok"), "p1", CREATED + 5, "recorded", 1);
    expect_ttls(cid, 3);
    expect_record(cid, "a", "ok", ev("a", "ok"), "p1", CREATED + 6, "duplicate", 0);
    expect_record(cid, "a", "ERROR", ev("a", "ERROR"), "p1", CREATED + 6, "duplicate", 0);
    expect_record(cid, "x", "ok", ev("x", "ok"), "p1", CREATED + 6, "unknown-source", 0);
    expect_record(cid, "b", "ok", ev("b", "ok"), "p2", CREATED + 6, "patient-mismatch", 0);
    expect_record(cid, "b", "DONE", ev("b", "DONE"), "p1", CREATED + 6, "invalid-status", 0);
    expect_record(cid, "b", "REJECTED", ev("b", "REJECTED"), "p1", CREATED + 7, "recorded", 2);
    expect_field(cid, "state", "open");
    assert_true(in_deadlines(cid));
    expect_record(cid, "c", "ERROR", ev("c", "ERROR"), "p1", CREATED + 1234, "completed", 4);
    expect_record(cid, "c", "ok", ev("c", "ok"), "p1", CREATED + 1300, "finished", 0);
    expect_record(cid, "b", "ok", ev("b", "ok"), "p1", CREATED + 1300, "finished", 0);

    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\","
             "\"status\":\"COMPLETE\",\"respondents\":1,\"errors\":1,"
             "\"completedBy\":\"ALL_RESPONDED\",\"elapsedMs\":1234}",
             cid);
    const char *events[] = {"callback", "callback", "callback", "summary"};
    const char *data[] = {ev("a", "ok"), ev("b", "REJECTED"), ev("c", "ERROR"), summary};
    expect_log(cid, 4, events, data);
    expect_field(cid, "state", "done");
    expect_field(cid, "completedBy", "ALL_RESPONDED");
    expect_field(cid, "seq", "4");
    expect_field(cid, "respondents", "1");
    expect_field(cid, "errors", "1");
    assert_false(in_deadlines(cid));
    redisReply *r = cmd("HGETALL %s", keys_of(cid)->out);
    assert_int_equal(r->elements, 6);
    freeReplyObject(r);
    r = cmd("HGET %s a", keys_of(cid)->out);
    assert_string_equal(r->str, "ok");
    freeReplyObject(r);
    expect_ttls(cid, 3);

    for (int i = 0; i < 4; i++) sub_expect(s, cid, i + 1, events[i], data[i]);
    sub_expect_nothing(s);
    redisFree(s);
}

/* session_claim of the sources in names (NULL-terminated): returns the state it read, with the
 * calls claimed before this claim in *before (owned by the caller: free with freeReplyObject). */
static session_state claim(const char *cid, const char *const *names, redisReply **before) {
    char claims[512];
    size_t len = 0;
    claims[0] = '\0';
    for (int i = 0; names[i]; i++)
        assert_int_equal(session_claims_append(claims, sizeof claims, &len, names[i], NULL),
                         AGG_OK);
    session_call sc;
    assert_int_equal(session_call_claim(&sc, cid, claims, NULL), AGG_OK);
    redisReply *r = send_call(&sc.call);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("session_claim: %s", r->str);
    session_state st;
    assert_int_equal(session_state_reply(r, &st, NULL), AGG_OK);
    *before = r;
    return st;
}

/* Whether the fan-out's read (session_call_state) lists source as claimed. */
static int called(const char *cid, const char *source) {
    session_call sc;
    assert_int_equal(session_call_state(&sc, cid, NULL), AGG_OK);
    redisReply *r = send_call(&sc.call);
    session_state st;
    assert_int_equal(session_state_reply(r, &st, NULL), AGG_OK);
    assert_true(st.exists);
    int yes = session_state_called(&st, source);
    freeReplyObject(r);
    return yes;
}

static void claims_list_the_sources_once(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-claim");
    /* "b/c": JSON may spell it "b\/c", so the script's quick search misses and decodes. */
    assert_int_equal(open_session(cid, "p1", "[\"a\",\"b/c\",\"d\",\"e\"]", CREATED + 10000), 1);
    assert_false(called(cid, "a"));
    redisReply *r;
    /* The first claim sees nothing claimed and claims what the session knows ("x" it does not). */
    session_state st = claim(cid, (const char *[]){"a", "b/c", "x", NULL}, &r);
    assert_true(st.exists);
    assert_false(st.done);
    assert_null(st.calls);
    freeReplyObject(r);
    expect_field(cid, "calls", "1:a,3:b/c,");
    assert_true(called(cid, "a"));
    assert_true(called(cid, "b/c"));
    assert_false(called(cid, "d"));
    assert_false(called(cid, "x"));
    /* A re-delivery sees the first claim and adds only what is new. */
    st = claim(cid, (const char *[]){"a", "b/c", "d", "e", NULL}, &r);
    assert_true(session_state_called(&st, "a"));
    assert_true(session_state_called(&st, "b/c"));
    assert_false(session_state_called(&st, "d"));
    freeReplyObject(r);
    expect_field(cid, "calls", "1:a,3:b/c,1:d,1:e,");
    expect_ttls(cid, 1);
    expect_record(cid, "d", "ERROR", ev("d", "ERROR"), "p1", CREATED + 5, "recorded", 1);
    expect_record(cid, "a", "ok", ev("a", "ok"), "p1", CREATED + 6, "recorded", 2);
    expect_record(cid, "b/c", "ok", ev("b/c", "ok"), "p1", CREATED + 7, "recorded", 3);
    expect_record(cid, "e", "ok", ev("e", "ok"), "p1", CREATED + 8, "completed", 5);
    /* Done: a claim reads the state and changes nothing. */
    st = claim(cid, (const char *[]){"a", NULL}, &r);
    assert_true(st.done);
    freeReplyObject(r);
    expect_field(cid, "calls", "1:a,3:b/c,1:d,1:e,");
    expect_ttls(cid, 3);
    /* No session: no key is created (it would have no TTL). */
    char none[64];
    mkcid(none, "c-claim-none");
    st = claim(none, (const char *[]){"a", NULL}, &r);
    assert_false(st.exists);
    freeReplyObject(r);
    assert_int_equal(cmd_int("EXISTS %s", keys_of(none)->meta), 0);
    /* Claims that are not netstrings are refused, and nothing is written. */
    char bad[64];
    mkcid(bad, "c-claim-bad");
    assert_int_equal(open_session(bad, "p1", "[\"ab\"]", CREATED + 10000), 1);
    const char *malformed[] = {"3:ab,", "2:ab", "x:ab,", "2ab,"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        session_call sc;
        assert_int_equal(session_call_claim(&sc, bad, malformed[i], NULL), AGG_OK);
        r = send_call(&sc.call);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
    }
    expect_field(bad, "calls", NULL);
}

static void record_unknown_session(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-none");
    expect_record(cid, "a", "ok", ev("a", "ok"), "p1", CREATED, "unknown-session", 0);
    assert_int_equal(cmd_int("EXISTS %s", keys_of(cid)->out), 0);
    assert_int_equal(cmd_int("EXISTS %s", keys_of(cid)->log), 0);
}

static void counting_rules(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-count");
    assert_int_equal(
        open_session(cid, "p1", "[\"s1\",\"s2\",\"s3\",\"s4\",\"s5\",\"s6\"]",
                     CREATED + 1800000000000LL),
        1);
    const char *st[] = {"ok", "REJECTED", "TIMEOUT", "CONNECTION_CLOSED", "ERROR", "ok"};
    const char *src[] = {"s1", "s2", "s3", "s4", "s5", "s6"};
    for (int i = 0; i < 5; i++)
        expect_record(cid, src[i], st[i], ev(src[i], st[i]), "p1", CREATED + 1, "recorded", i + 1);
    expect_field(cid, "respondents", "1");
    expect_field(cid, "errors", "3");
    expect_record(cid, "s6", "ok", ev("s6", "ok"), "p1", CREATED + 1700000000000LL, "completed", 7);
    redisReply *r = cmd("XRANGE %s 0-7 0-7", keys_of(cid)->log);
    assert_int_equal(r->elements, 1);
    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\","
             "\"status\":\"COMPLETE\",\"respondents\":2,\"errors\":3,"
             "\"completedBy\":\"ALL_RESPONDED\",\"elapsedMs\":1700000000000}",
             cid);
    assert_string_equal(r->element[0]->element[1]->element[3]->str, summary);
    freeReplyObject(r);
}

/* An answer after the deadline is refused even before a worker expired the session (Redis
 * down at the deadline): it must not count as ok. */
static void record_after_deadline_is_finished(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-late");
    assert_int_equal(open_session(cid, "p1", "[\"s1\",\"s2\"]", CREATED + 1000), 1);
    expect_record(cid, "s1", "ok", ev("s1", "ok"), "p1", CREATED + 1000, "recorded", 1);
    expect_record(cid, "s2", "ok", ev("s2", "ok"), "p1", CREATED + 1001, "finished", 0);
    expect_field(cid, "respondents", "1");
}

static void expire_writes_timeouts_and_summary(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-exp");
    redisContext *s = sub_open(cid);
    assert_int_equal(open_session(cid, "p9", "[\"a\",\"b\",\"c\"]", CREATED + 1000), 1);
    expect_record(cid, "b", "ok", ev("b", "ok"), "p9", CREATED + 10, "recorded", 1);
    expect_expire(cid, CREATED + 999, "not-due");
    expect_field(cid, "state", "open");
    expect_expire(cid, CREATED + 1000, "expired");

    char ta[512];
    snprintf(ta, sizeof ta,
             "{\"source\":\"a\",\"patientId\":\"p9\",\"correlationId\":\"%s\","
             "\"status\":\"TIMEOUT\",\"notes\":[],\"elapsedMs\":1000}",
             cid);
    char tcc[512];
    snprintf(tcc, sizeof tcc,
             "{\"source\":\"c\",\"patientId\":\"p9\",\"correlationId\":\"%s\","
             "\"status\":\"TIMEOUT\",\"notes\":[],\"elapsedMs\":1000}",
             cid);
    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\","
             "\"status\":\"COMPLETE\",\"respondents\":1,\"errors\":2,"
             "\"completedBy\":\"TIMEOUT\",\"elapsedMs\":1000}",
             cid);
    const char *events[] = {"callback", "callback", "callback", "summary"};
    const char *data[] = {ev("b", "ok"), ta, tcc, summary};
    expect_log(cid, 4, events, data);
    expect_field(cid, "state", "done");
    expect_field(cid, "completedBy", "TIMEOUT");
    expect_field(cid, "errors", "2");
    expect_field(cid, "respondents", "1");
    redisReply *r = cmd("HGET %s a", keys_of(cid)->out);
    assert_string_equal(r->str, "TIMEOUT");
    freeReplyObject(r);
    r = cmd("HGET %s b", keys_of(cid)->out);
    assert_string_equal(r->str, "ok");
    freeReplyObject(r);
    assert_false(in_deadlines(cid));
    expect_ttls(cid, 3);

    expect_record(cid, "c", "ok", ev("c", "ok"), "p9", CREATED + 2000, "finished", 0);
    expect_expire(cid, CREATED + 3000, "gone");
    for (int i = 0; i < 4; i++) sub_expect(s, cid, i + 1, events[i], data[i]);
    sub_expect_nothing(s);
    redisFree(s);
}


/* The trace id given to session_open is in every event: an answer's (added), a worker's that
 * has one already (kept), the deadline's TIMEOUTs and both kinds of summary. */
static void trace_id_in_every_event(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "trace");
    assert_int_equal(open_traced(cid, "p1", "[\"a\",\"b\",\"c\"]", CREATED + 1000, TRACE), 1);
    expect_field(cid, "trace", TRACE);
    expect_record(cid, "a", "ok", "{\"source\":\"a\",\"status\":\"ok\",\"notes\":[]}", "p1",
                  CREATED + 42, "recorded", 1);
    expect_record(cid, "b", "ERROR", "{\"source\":\"b\",\"elapsedMs\":5,\"traceId\":\"x\"}",
                  "p1", CREATED + 43, "recorded", 2);
    expect_expire(cid, CREATED + 1000, "expired");
    char tmo[512], summary[512];
    snprintf(tmo, sizeof tmo,
             "{\"source\":\"c\",\"patientId\":\"p1\",\"correlationId\":\"%s\","
             "\"status\":\"TIMEOUT\",\"notes\":[],\"elapsedMs\":1000,\"traceId\":\"" TRACE "\"}",
             cid);
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\",\"status\":\"COMPLETE\","
             "\"respondents\":1,\"errors\":2,\"completedBy\":\"TIMEOUT\",\"elapsedMs\":1000,"
             "\"traceId\":\"" TRACE "\"}",
             cid);
    const char *events[] = {"callback", "callback", "callback", "summary"};
    const char *data[] = {
        "{\"source\":\"a\",\"status\":\"ok\",\"notes\":[],\"elapsedMs\":42,\"traceId\":\"" TRACE "\"}",
        "{\"source\":\"b\",\"elapsedMs\":5,\"traceId\":\"x\"}", tmo, summary};
    expect_log(cid, 4, events, data);

    /* An empty object gets both fields, and the ALL_RESPONDED summary carries the trace. */
    mkcid(cid, "trace-all");
    assert_int_equal(open_traced(cid, "p1", "[\"a\"]", CREATED + 1000, TRACE), 1);
    expect_record(cid, "a", "ok", "{}", "p1", CREATED + 7, "completed", 2);
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\",\"status\":\"COMPLETE\","
             "\"respondents\":1,\"errors\":0,\"completedBy\":\"ALL_RESPONDED\",\"elapsedMs\":7,"
             "\"traceId\":\"" TRACE "\"}",
             cid);
    const char *events2[] = {"callback", "summary"};
    const char *data2[] = {"{\"elapsedMs\":7,\"traceId\":\"" TRACE "\"}", summary};
    expect_log(cid, 2, events2, data2);

    /* Without a trace (an older gateway) nothing is added. */
    mkcid(cid, "untraced");
    assert_int_equal(open_traced(cid, "p1", "[]", CREATED + 1000, ""), 1);
    expect_field(cid, "trace", NULL);
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\",\"status\":\"COMPLETE\","
             "\"respondents\":0,\"errors\":0,\"completedBy\":\"ALL_RESPONDED\",\"elapsedMs\":0}",
             cid);
    const char *data3[] = {summary};
    expect_log(cid, 1, events2 + 1, data3);
}

static void expire_unknown_session_is_gone(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-ghost");
    assert_int_equal(cmd_int("ZADD %s 5 %s", keys_of(cid)->deadlines, cid), 1);
    expect_expire(cid, CREATED, "gone");
    assert_false(in_deadlines(cid));
}

static void expire_when_all_timed_out(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-exp-all");
    assert_int_equal(open_session(cid, "p1", "[\"only\"]", CREATED + 50), 1);
    expect_expire(cid, CREATED + 51, "expired");
    char t[512];
    snprintf(t, sizeof t,
             "{\"source\":\"only\",\"patientId\":\"p1\",\"correlationId\":\"%s\","
             "\"status\":\"TIMEOUT\",\"notes\":[],\"elapsedMs\":51}",
             cid);
    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\","
             "\"status\":\"COMPLETE\",\"respondents\":0,\"errors\":1,"
             "\"completedBy\":\"TIMEOUT\",\"elapsedMs\":51}",
             cid);
    const char *events[] = {"callback", "summary"};
    const char *data[] = {t, summary};
    expect_log(cid, 2, events, data);
}

static void no_sources_completes_at_once(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-empty");
    redisContext *s = sub_open(cid);
    assert_int_equal(open_session(cid, "p1", "[]", CREATED + 10000), 1);
    char summary[512];
    snprintf(summary, sizeof summary,
             "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\","
             "\"status\":\"COMPLETE\",\"respondents\":0,\"errors\":0,"
             "\"completedBy\":\"ALL_RESPONDED\",\"elapsedMs\":0}",
             cid);
    const char *events[] = {"summary"};
    const char *data[] = {summary};
    expect_log(cid, 1, events, data);
    expect_field(cid, "state", "done");
    expect_field(cid, "seq", "1");
    expect_field(cid, "n", "0");
    expect_field(cid, "completedBy", "ALL_RESPONDED");
    assert_false(in_deadlines(cid));
    expect_ttls(cid, 2); /* meta and log; out is never written */
    assert_int_equal(open_session(cid, "p1", "[]", CREATED + 10000), 0);
    expect_record(cid, "a", "ok", ev("a", "ok"), "p1", CREATED, "finished", 0);
    expect_expire(cid, CREATED + 20000, "gone");
    sub_expect(s, cid, 1, "summary", summary);
    sub_expect_nothing(s);
    redisFree(s);
}

static int parse_url(const char *url) {
    const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
    if (!p) return -1;
    const char *at = strchr(p, '@');
    if (at) p = at + 1;
    const char *colon = strrchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizeof host) return -1;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    port = atoi(colon + 1);
    return port > 0 ? 0 : -1;
}

/* An open session lives until its deadline plus the retention; completion
 * brings every key back to the retention. */
static void ttls_span_deadline_then_retention(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "c-ttl");
    assert_int_equal(open_session(cid, "p1", "[\"a/b\",\"c\"]", CREATED + 100000), 1);
    const session_keys *sk = keys_of(cid);
    const char *const names[] = {sk->meta, sk->out, sk->log};
    long long meta = cmd_int("TTL %s", sk->meta);
    assert_true(meta > 600 + 95 && meta <= 600 + 100);
    /* "a/b" is the name JSON may spell "a\/b": found through the decoding path. */
    expect_record(cid, "a/b", "ok", ev("a/b", "ok"), "p1", CREATED + 5, "recorded", 1);
    for (int k = 0; k < 3; k++) {
        long long ttl = cmd_int("TTL %s", names[k]);
        assert_true(ttl > 600 + 95 && ttl <= 600 + 100);
    }
    expect_record(cid, "c", "ok", ev("c", "ok"), "p1", CREATED + 6, "completed", 3);
    for (int k = 0; k < 3; k++) {
        long long ttl = cmd_int("TTL %s", names[k]);
        assert_true(ttl > 595 && ttl <= 600);
    }
}

/* The deadline index is not one hot key: its buckets live on every node of the cluster (the
 * single server trivially holds them all). */
static void buckets_spread_over_the_cluster(void **state) {
    (void)state;
    int nodes = tc ? testcluster_node_count(tc) : 1;
    int seen[16] = {0}, distinct = 0;
    char cid[UUID4_LEN + 1];
    for (int b = 0, tries = 0; b < SESSION_BUCKETS && tries < 100000; tries++) {
        assert_int_equal(uuid4_new(cid, NULL), AGG_OK);
        if (session_bucket_of(cid) != b) continue;
        redisContext *c = ctx_for(keys_of(cid)->deadlines);
        int n = 0;
        while (n < nodes && (tc ? testcluster_node(tc, n) : rc) != c) n++;
        assert_true(n < nodes);
        assert_true(n < 16);
        if (!seen[n]++) distinct++;
        b++;
    }
    assert_int_equal(distinct, nodes);
}

/* --- circuit breakers (breaker_*.lua) --- */

static const breaker_params BP = {3, 1000, 500};

/* Sends a built breaker call; its reply as a view, and whether it granted the probe. */
static breaker_view breaker_send(int built, const breaker_call *bc, int *granted) {
    assert_int_equal(built, AGG_OK);
    redisReply *r = send_call(&bc->call);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("breaker script: %s", r->str);
    breaker_view v;
    int g;
    assert_int_equal(breaker_script_reply(r, &v, &g, NULL), AGG_OK);
    freeReplyObject(r);
    if (granted) *granted = g;
    return v;
}

static breaker_view bfail(const char *src, long long now, int probe) {
    breaker_call bc;
    return breaker_send(breaker_call_fail(&bc, src, &BP, now, probe, NULL), &bc, NULL);
}
static breaker_view bsuccess(const char *src, int probe) {
    breaker_call bc;
    return breaker_send(breaker_call_success(&bc, src, probe, NULL), &bc, NULL);
}
static int bprobe(const char *src, long long now) {
    breaker_call bc;
    int g;
    breaker_send(breaker_call_probe(&bc, src, &BP, now, NULL), &bc, &g);
    return g;
}
/* The breaker as a worker's refresh reads it. */
static breaker_view bread(const char *src) {
    breaker_call bc;
    assert_int_equal(breaker_call_read(&bc, src, NULL), AGG_OK);
    redisReply *r = send_call(&bc.call);
    breaker_view v;
    assert_int_equal(breaker_read_reply(r, &v, NULL), AGG_OK);
    freeReplyObject(r);
    return v;
}
static const char *bkey(const char *src) {
    static breaker_call bc;
    assert_int_equal(breaker_call_read(&bc, src, NULL), AGG_OK);
    return bc.key;
}

/* N consecutive failures open; a success in between starts the count again; while open nothing
 * changes; after the cool-down exactly one caller gets the probe; its failure opens again, its
 * success closes (and removes the key). */

/* The audit records (field d) the scripts appended for cid, in order, and their types; the
 * bucket's outbox holds other sessions' records too. Returns how many (at most max). */
static size_t audit_records(const char *cid, char out[][1024], const char **types, size_t max) {
    redisReply *r = cmd("XRANGE %s - +", keys_of(cid)->audit);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        audit_entry en;
        assert_int_equal(audit_entry_at(r, i, &en), AGG_OK);
        assert_true(en.valid);
        if (strcmp(en.cid, cid) != 0) continue;
        assert_true(n < max);
        snprintf(out[n], 1024, "%s", en.data);
        types[n] = strcmp(en.type, "requested") == 0 ? "requested" : "completed";
        n++;
    }
    freeReplyObject(r);
    return n;
}

/* Each session writes one "requested" record when it opens and one "completed" record when its
 * summary is written (all answered, or by its deadline), in the same script call; the completed
 * one names the principal (meta's owner, "anonymous" when a session has none) and every source's
 * status. */
static void audit_records_follow_the_session(void **state) {
    (void)state;
    char cid[64], out[4][1024];
    const char *types[4];
    mkcid(cid, "audit");
    assert_int_equal(open_traced(cid, "p7", "[\"a\",\"b\",\"c\"]", CREATED + 10000, TRACE), 1);
    assert_int_equal(open_traced(cid, "p7", "[\"a\",\"b\",\"c\"]", CREATED + 10000, TRACE), 0);
    assert_int_equal(audit_records(cid, out, types, 4), 1);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"type\":\"requested\",\"correlationId\":\"%s\",\"principal\":\"owner-1\","
             "\"patientId\":\"p7\",\"strategy\":\"SSE\",\"sources\":[\"a\",\"b\",\"c\"],"
             "\"requestedAt\":%lld,\"traceId\":\"" TRACE "\"}",
             cid, (long long)CREATED);
    assert_string_equal(out[0], want);
    /* The completed record reads meta's owner (here changed, to tell it from the argument). */
    redisReply *r = cmd("HSET %s owner alice", keys_of(cid)->meta);
    freeReplyObject(r);
    expect_record(cid, "a", "ok", ev("a", "ok"), "p7", CREATED + 5, "recorded", 1);
    expect_record(cid, "b", "REJECTED", ev("b", "REJECTED"), "p7", CREATED + 6, "recorded", 2);
    assert_int_equal(audit_records(cid, out, types, 4), 1); /* nothing until the summary */
    expect_record(cid, "c", "ERROR", ev("c", "ERROR"), "p7", CREATED + 7, "completed", 4);
    assert_int_equal(audit_records(cid, out, types, 4), 2);
    assert_string_equal(types[1], "completed");
    snprintf(want, sizeof want,
             "{\"type\":\"completed\",\"correlationId\":\"%s\",\"principal\":\"alice\","
             "\"patientId\":\"p7\",\"strategy\":\"SSE\",\"requestedAt\":%lld,\"completedAt\":%lld,"
             "\"completedBy\":\"ALL_RESPONDED\",\"respondents\":1,\"errors\":1,\"sources\":["
             "{\"source\":\"a\",\"status\":\"ok\"},{\"source\":\"b\",\"status\":\"REJECTED\"},"
             "{\"source\":\"c\",\"status\":\"ERROR\"}],\"traceId\":\"" TRACE "\"}",
             cid, (long long)CREATED, (long long)CREATED + 7);
    assert_string_equal(out[1], want);
    /* A refused duplicate writes no record. */
    expect_record(cid, "c", "ok", ev("c", "ok"), "p7", CREATED + 8, "finished", 0);
    assert_int_equal(audit_records(cid, out, types, 4), 2);

    /* By the deadline: the missing sources are TIMEOUT. */
    char cid2[64];
    mkcid(cid2, "audit2");
    assert_int_equal(open_session(cid2, "p8", "[\"a\",\"b\"]", CREATED + 1000), 1);
    expect_record(cid2, "b", "ok", ev("b", "ok"), "p8", CREATED + 10, "recorded", 1);
    /* A session an older gateway opened has no owner: "anonymous". */
    r = cmd("HDEL %s owner", keys_of(cid2)->meta);
    freeReplyObject(r);
    expect_expire(cid2, CREATED + 1000, "expired");
    expect_expire(cid2, CREATED + 1001, "gone");
    assert_int_equal(audit_records(cid2, out, types, 4), 2);
    snprintf(want, sizeof want,
             "{\"type\":\"completed\",\"correlationId\":\"%s\",\"principal\":\"anonymous\","
             "\"patientId\":\"p8\",\"strategy\":\"SSE\",\"requestedAt\":%lld,\"completedAt\":%lld,"
             "\"completedBy\":\"TIMEOUT\",\"respondents\":1,\"errors\":1,\"sources\":["
             "{\"source\":\"a\",\"status\":\"TIMEOUT\"},{\"source\":\"b\",\"status\":\"ok\"}]}",
             cid2, (long long)CREATED, (long long)CREATED + 1000);
    assert_string_equal(out[1], want);

    /* With no sources both records come at once. */
    char cid3[64];
    mkcid(cid3, "audit3");
    assert_int_equal(open_session(cid3, "p9", "[]", CREATED + 1000), 1);
    assert_int_equal(audit_records(cid3, out, types, 4), 2);
    assert_non_null(strstr(out[1], "\"completedBy\":\"ALL_RESPONDED\",\"respondents\":0,"
                                   "\"errors\":0,\"sources\":[]"));
}

/* Acknowledges and deletes the n entries of a read or claim reply of bucket b's outbox. */
static void ack_entries(int b, const redisReply *entries, size_t n) {
    for (size_t i = 0; i < n; i++) {
        audit_entry en;
        assert_int_equal(audit_entry_at(entries, i, &en), AGG_OK);
        audit_call ak;
        const char *one[] = {en.id};
        assert_int_equal(audit_call_ack(&ak, b, one, 1, NULL), AGG_OK);
        freeReplyObject(send_call(&ak.call));
    }
}

/* audit_ack.lua on bucket b's outbox for ids[0..n); returns its reply (entries deleted). */
static long long ack_ids(int b, const char *const *ids, int n) {
    audit_call ac;
    assert_int_equal(audit_call_ack(&ac, b, ids, n, NULL), AGG_OK);
    redisReply *r = send_call(&ac.call);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The relay's calls on a real server: the group is created once (BUSYGROUP is fine), a read
 * takes each entry once, an entry not acknowledged is claimed by another consumer after its idle
 * time, and the ack script deletes it. */
static void audit_outbox_group_read_claim_ack(void **state) {
    (void)state;
    char cid[64];
    mkcid(cid, "outbox");
    int b = session_bucket_of(cid);
    const char *key = keys_of(cid)->audit;
    audit_call ac;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(audit_call_group(&ac, b, NULL), AGG_OK);
        redisReply *r = send_call(&ac.call);
        assert_int_equal(audit_group_reply(r, NULL), AGG_OK);
        freeReplyObject(r);
    }
    /* Earlier cases' records are in the group too: read them all away first. */
    for (;;) {
        assert_int_equal(audit_call_read(&ac, b, "drain", 100, NULL), AGG_OK);
        redisReply *r = send_call(&ac.call);
        const redisReply *entries;
        size_t n;
        assert_int_equal(audit_read_reply(r, &entries, &n, NULL), AGG_OK);
        ack_entries(b, entries, n);
        freeReplyObject(r);
        if (n == 0) break;
    }
    /* And entries an earlier case (or run, on this server) read and left pending: the claims
     * below must find only this case's. */
    char drained[AUDIT_ID_MAX] = "0-0";
    for (;;) {
        assert_int_equal(audit_call_claim(&ac, b, "drain", 1, drained, 100, NULL), AGG_OK);
        redisReply *r = send_call(&ac.call);
        const redisReply *entries;
        size_t n;
        assert_int_equal(audit_claim_reply(r, &entries, &n, drained, NULL), AGG_OK);
        ack_entries(b, entries, n);
        freeReplyObject(r);
        if (strcmp(drained, "0-0") == 0) break; /* the scan went round */
    }
    assert_int_equal(open_session(cid, "p1", "[\"a\"]", CREATED + 1000), 1);
    assert_int_equal(audit_call_read(&ac, b, "dead", 10, NULL), AGG_OK);
    redisReply *r = send_call(&ac.call);
    const redisReply *entries;
    size_t n;
    assert_int_equal(audit_read_reply(r, &entries, &n, NULL), AGG_OK);
    assert_int_equal(n, 1);
    audit_entry en;
    assert_int_equal(audit_entry_at(entries, 0, &en), AGG_OK);
    assert_string_equal(en.cid, cid);
    assert_string_equal(en.type, "requested");
    char id[AUDIT_ID_MAX];
    snprintf(id, sizeof id, "%s", en.id);
    freeReplyObject(r);
    /* Read once: a second read of the group finds nothing new. */
    assert_int_equal(audit_call_read(&ac, b, "live", 10, NULL), AGG_OK);
    r = send_call(&ac.call);
    assert_int_equal(audit_read_reply(r, &entries, &n, NULL), AGG_OK);
    assert_int_equal(n, 0);
    freeReplyObject(r);
    /* Not idle long enough yet for a claim with a long limit; then claimed with a short one. */
    assert_int_equal(audit_call_claim(&ac, b, "live", 3600000, "0-0", 10, NULL), AGG_OK);
    r = send_call(&ac.call);
    char cursor[AUDIT_ID_MAX];
    assert_int_equal(audit_claim_reply(r, &entries, &n, cursor, NULL), AGG_OK);
    assert_int_equal(n, 0);
    freeReplyObject(r);
    /* Claimed once its idle time passes 1 ms (tried until then, within 5 s). */
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    for (;;) {
        assert_int_equal(audit_call_claim(&ac, b, "live", 1, "0-0", 10, NULL), AGG_OK);
        r = send_call(&ac.call);
        assert_int_equal(audit_claim_reply(r, &entries, &n, cursor, NULL), AGG_OK);
        if (n > 0) break;
        freeReplyObject(r);
        gettimeofday(&t1, NULL);
        assert_true(t1.tv_sec - t0.tv_sec < 5);
    }
    assert_int_equal(n, 1);
    assert_string_equal(cursor, "0-0");
    assert_int_equal(audit_entry_at(entries, 0, &en), AGG_OK);
    assert_string_equal(en.id, id);
    freeReplyObject(r);
    long long before = cmd_int("XLEN %s", key);
    const char *ids[] = {id};
    assert_int_equal(ack_ids(b, ids, 1), 1);
    assert_int_equal(cmd_int("XLEN %s", key), before - 1);
    assert_int_equal(audit_call_len(&ac, b, NULL), AGG_OK);
    r = send_call(&ac.call);
    assert_int_equal(r->integer, before - 1);
    freeReplyObject(r);

    /* One call acknowledges and deletes a batch; an id already gone counts nothing. */
    char batch[3][AUDIT_ID_MAX];
    for (int i = 0; i < 3;) {
        char c[64];
        mkcid(c, "batch");
        if (session_bucket_of(c) != b) continue; /* the batch is one bucket's */
        assert_int_equal(open_session(c, "p1", "[\"a\"]", CREATED + 1000), 1);
        i++;
    }
    assert_int_equal(audit_call_read(&ac, b, "live", 10, NULL), AGG_OK);
    r = send_call(&ac.call);
    assert_int_equal(audit_read_reply(r, &entries, &n, NULL), AGG_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(audit_entry_at(entries, i, &en), AGG_OK);
        snprintf(batch[i], sizeof batch[i], "%s", en.id);
    }
    freeReplyObject(r);
    before = cmd_int("XLEN %s", key);
    const char *acked[] = {batch[0], batch[1], batch[2], id};
    assert_int_equal(ack_ids(b, acked, 4), 3);
    assert_int_equal(cmd_int("XLEN %s", key), before - 3);
}

static void breaker_opens_probes_and_closes(void **state) {
    (void)state;
    char src[64];
    snprintf(src, sizeof src, "t%d-b1", (int)getpid());
    long long t = CREATED;
    assert_int_equal(bfail(src, t, 0).fails, 1);
    assert_int_equal(bfail(src, t, 0).fails, 2);
    breaker_view v = bsuccess(src, 0);
    assert_int_equal(v.state, BREAKER_CLOSED);
    assert_int_equal(cmd_int("EXISTS %s", bkey(src)), 0);
    assert_int_equal(bfail(src, t, 0).fails, 1);
    long long pttl = cmd_int("PTTL %s", bkey(src));
    assert_true(pttl > 0 && pttl <= breaker_ttl_ms(&BP));
    assert_int_equal(bfail(src, t, 0).state, BREAKER_CLOSED);
    v = bfail(src, t + 1, 0);
    assert_int_equal(v.state, BREAKER_OPEN);
    assert_int_equal(v.fails, 3);
    assert_int_equal(v.until_ms, t + 1 + 1000);
    /* Open: late results of calls made before change nothing, and there is no probe yet. */
    assert_int_equal(bfail(src, t + 2, 0).until_ms, t + 1001);
    assert_int_equal(bsuccess(src, 0).state, BREAKER_OPEN);
    assert_false(bprobe(src, t + 1000));
    assert_int_equal(bread(src).until_ms, t + 1001);
    /* The cool-down is over: one probe, whoever asks next is refused. */
    assert_true(bprobe(src, t + 1001));
    assert_false(bprobe(src, t + 1002));
    v = bread(src);
    assert_int_equal(v.state, BREAKER_PROBING);
    assert_int_equal(v.until_ms, t + 1001 + 500);
    /* Only the probe decides. */
    assert_int_equal(bfail(src, t + 1100, 0).state, BREAKER_PROBING);
    assert_int_equal(bsuccess(src, 0).state, BREAKER_PROBING);
    v = bfail(src, t + 1200, 1);
    assert_int_equal(v.state, BREAKER_OPEN);
    assert_int_equal(v.until_ms, t + 2200);
    assert_false(bprobe(src, t + 2199));
    assert_true(bprobe(src, t + 2200));
    v = bsuccess(src, 1);
    assert_int_equal(v.state, BREAKER_CLOSED);
    assert_int_equal(v.fails, 0);
    assert_int_equal(cmd_int("EXISTS %s", bkey(src)), 0);
    assert_int_equal(bread(src).state, BREAKER_CLOSED);
    assert_false(bprobe(src, t + 9999)); /* closed: nothing to probe */
}

/* A probe that never reports (its worker died) is taken over when its lease ends. */
static void breaker_lost_probe_is_taken_over(void **state) {
    (void)state;
    char src[64];
    snprintf(src, sizeof src, "t%d-b2", (int)getpid());
    long long t = CREATED;
    for (int i = 0; i < 3; i++) bfail(src, t, 0);
    assert_true(bprobe(src, t + 1000));
    assert_false(bprobe(src, t + 1499));
    assert_true(bprobe(src, t + 1500));
    assert_int_equal(bsuccess(src, 1).state, BREAKER_CLOSED);
}

static void breaker_scripts_refuse_bad_arguments(void **state) {
    (void)state;
    char src[64];
    snprintf(src, sizeof src, "t%d-b3", (int)getpid());
    rds_call c;
    const char *key = bkey(src);
    const char *const bad[][5] = {{"x", "3", "1000", "0", "1000"}, {"1", "0", "1000", "0", "1000"},
                                  {"1", "3", "1000", "2", "1000"}, {"1", "3", "1000", "0", "0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rds_call_breaker_fail(&c, key, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4]);
        redisReply *r = send_call(&c);
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        freeReplyObject(r);
    }
    rds_call_breaker_success(&c, key, "yes");
    redisReply *r = send_call(&c);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    rds_call_breaker_probe(&c, key, "1", "0", "1000");
    r = send_call(&c);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    assert_int_equal(cmd_int("EXISTS %s", key), 0);
}

int main(void) {
    const char *url = getenv("REDIS_TEST_URL");
    if (!url || !*url) {
        fprintf(stderr, "test_rds_scripts: REDIS_TEST_URL is not set; run it through "
                        "tests/with-redis.sh (make test does)\n");
        return 1;
    }
    if (parse_url(url) != 0) {
        fprintf(stderr, "test_rds_scripts: cannot parse REDIS_TEST_URL=%s\n", url);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_spread_over_the_cluster),
        cmocka_unit_test(open_twice_is_a_noop),
        cmocka_unit_test(open_rejects_bad_sources),
        cmocka_unit_test(record_flow_and_summary),
        cmocka_unit_test(record_adds_elapsed_to_callbacks),
        cmocka_unit_test(record_unknown_session),
        cmocka_unit_test(claims_list_the_sources_once),
        cmocka_unit_test(counting_rules),
        cmocka_unit_test(record_after_deadline_is_finished),
        cmocka_unit_test(expire_writes_timeouts_and_summary),
        cmocka_unit_test(trace_id_in_every_event),
        cmocka_unit_test(expire_unknown_session_is_gone),
        cmocka_unit_test(expire_when_all_timed_out),
        cmocka_unit_test(no_sources_completes_at_once),
        cmocka_unit_test(ttls_span_deadline_then_retention),
        cmocka_unit_test(audit_records_follow_the_session),
        cmocka_unit_test(audit_outbox_group_read_claim_ack),
        cmocka_unit_test(breaker_opens_probes_and_closes),
        cmocka_unit_test(breaker_lost_probe_is_taken_over),
        cmocka_unit_test(breaker_scripts_refuse_bad_arguments),
    };
    /* The same cases, first on one server, then on the cluster. */
    int failed = cmocka_run_group_tests_name("single server", tests, single_setup, single_teardown);
    failed += cmocka_run_group_tests_name("redis cluster", tests, cluster_setup, cluster_teardown);
    return failed;
}
