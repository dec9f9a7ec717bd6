/* test_rlcluster: the shared token bucket (ratelimit_take.lua) against a real redis-server (REDIS_TEST_URL): burst, refusal, TTL, bad arguments, and the reply parser's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rlcluster.h"
#include "scripts_gen.h"

static redisContext *rc;

/* Runs c as the services do, but by EVAL of the embedded source (no SCRIPT LOAD state). */
static redisReply *run(const rds_call *c) {
    const char *argv[RDS_CALL_MAX_ARGV + 3];
    size_t lens[RDS_CALL_MAX_ARGV + 3];
    char nkeys[16];
    snprintf(nkeys, sizeof nkeys, "%d", c->nkeys);
    int argc = 0;
    argv[argc] = "EVAL", lens[argc++] = 4;
    argv[argc] = rds_script_source[c->script], lens[argc++] = strlen(rds_script_source[c->script]);
    argv[argc] = nkeys, lens[argc++] = strlen(nkeys);
    for (int i = 0; i < c->argc; i++) argv[argc] = c->argv[i], lens[argc++] = c->lens[i];
    redisReply *r = redisCommandArgv(rc, argc, argv, lens);
    assert_non_null(r);
    return r;
}

static void a_burst_then_a_refusal_with_a_ttl(void **state) {
    (void)state;
    rlcluster p;
    assert_int_equal(rlcluster_init(&p, 0.5, 3, NULL), AGG_OK); /* a token every 2 s */
    assert_string_equal(p.ttl_s, "7000");
    rlcluster_call c;
    char client[64];
    snprintf(client, sizeof client, "test-%ld", (long)random());
    rlcluster_call_take(&c, &p, client);
    assert_int_equal(c.call.script, RDS_SCRIPT_RATELIMIT_TAKE);
    freeReplyObject(redisCommand(rc, "DEL %s", c.key));
    ratelimit_result out;
    for (int i = 0; i < 3; i++) {
        redisReply *r = run(&c.call);
        assert_int_equal(rlcluster_reply(r, &p, &out, NULL), AGG_OK);
        freeReplyObject(r);
        assert_true(out.allowed);
        assert_int_equal(out.limit, 3);
        assert_int_equal(out.remaining, 2 - i); /* a refill in the test's few ms adds < 1 */
    }
    redisReply *r = run(&c.call);
    assert_int_equal(rlcluster_reply(r, &p, &out, NULL), AGG_OK);
    freeReplyObject(r);
    assert_false(out.allowed);
    assert_int_equal(out.remaining, 0);
    assert_true(out.retry_after_s >= 1 && out.retry_after_s <= 2);
    r = redisCommand(rc, "PTTL %s", c.key);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer > 0 && r->integer <= 7000);
    freeReplyObject(r);
    /* The key is the client's own slot: agg:rl:{<client>}. */
    char want[96];
    snprintf(want, sizeof want, "agg:rl:{%s}", client);
    assert_string_equal(c.key, want);
    freeReplyObject(redisCommand(rc, "DEL %s", c.key));
    rlcluster_call_take(&c, &p, "");
    assert_string_equal(c.key, "agg:rl:{?}");
}

static void bad_arguments_and_replies_are_refused(void **state) {
    (void)state;
    err_t e;
    rlcluster p;
    assert_int_equal(rlcluster_init(&p, 0, 3, &e), AGG_ERR);
    assert_int_equal(rlcluster_init(&p, 1, 0.5, &e), AGG_ERR);
    assert_int_equal(rlcluster_init(&p, 1, 2, &e), AGG_OK);
    /* The script refuses what rlcluster_init would never build. */
    rds_call c;
    rds_call_ratelimit_take(&c, "agg:rl:{bad}", "0", "2", "1000");
    redisReply *r = run(&c);
    ratelimit_result out;
    assert_int_equal(rlcluster_reply(r, &p, &out, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "invalid argument"));
    freeReplyObject(r);
    assert_int_equal(rlcluster_reply(NULL, &p, &out, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "no reply"));
    /* Shapes the script never answers. */
    redisReply i1 = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    redisReply i2 = {.type = REDIS_REPLY_INTEGER, .integer = 2};
    redisReply neg = {.type = REDIS_REPLY_INTEGER, .integer = -1};
    redisReply *two[] = {&i1, &i1}, *bad_flag[] = {&i2, &i1}, *bad_tokens[] = {&i1, &neg};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = two};
    assert_int_equal(rlcluster_reply(&arr, &p, &out, &e), AGG_OK);
    assert_true(out.allowed);
    arr.elements = 1;
    assert_int_equal(rlcluster_reply(&arr, &p, &out, &e), AGG_ERR);
    arr.elements = 2;
    arr.element = bad_flag;
    assert_int_equal(rlcluster_reply(&arr, &p, &out, &e), AGG_ERR);
    arr.element = bad_tokens;
    assert_int_equal(rlcluster_reply(&arr, &p, &out, &e), AGG_ERR);
    assert_int_equal(rlcluster_reply(&i1, &p, &out, &e), AGG_ERR);
    assert_non_null(strstr(e.text, "unexpected reply"));
}

int main(void) {
    const char *url = getenv("REDIS_TEST_URL");
    char host[256];
    int port = 0;
    if (!url || sscanf(url, "redis://%255[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "test_rlcluster: REDIS_TEST_URL is not set; run it through "
                        "tests/with-redis.sh (make test does)\n");
        return 1;
    }
    struct timeval tv = {5, 0};
    rc = redisConnectWithTimeout(host, port, tv);
    if (!rc || rc->err) {
        fprintf(stderr, "test_rlcluster: cannot connect to %s\n", url);
        return 1;
    }
    redisSetTimeout(rc, tv);
    srandom((unsigned)time(NULL));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_burst_then_a_refusal_with_a_ttl),
        cmocka_unit_test(bad_arguments_and_replies_are_refused),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    redisFree(rc);
    return failed;
}
