/* test_testcluster: the test cluster client against the 3-master cluster of tests/with-redis.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "testcluster.h"

static testcluster *tc;
static char prefix[32]; /* "tc<pid>:": keys of parallel runs never meet */

/* The ASK test's migration state, undone by its teardown even when an assertion fails. */
static int ask_slot = -1;
static redisContext *ask_src, *ask_dst;
static char ask_key[64];

static void fmt_key(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_key(char *buf, size_t n, const char *fmt, ...) {
    int len = snprintf(buf, n, "%s", prefix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - (size_t)len, fmt, ap);
    va_end(ap);
}

/* Sends argv through the client, routed by testcluster_first_key_index; never NULL. */
static redisReply *cmd(int argc, const char **argv) {
    redisReply *r = testcluster_command_argv(tc, argc, argv, NULL,
                                             testcluster_first_key_index(argc, argv));
    if (!r) fail_msg("%s: %s", argv[0], testcluster_error(tc));
    return r;
}

static void want_status(redisReply *r, const char *status) {
    if (r->type == REDIS_REPLY_ERROR) fail_msg("error reply: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    assert_string_equal(r->str, status);
    freeReplyObject(r);
}

static void want_string(redisReply *r, const char *s) {
    if (r->type == REDIS_REPLY_ERROR) fail_msg("error reply: %s", r->str);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, s);
    freeReplyObject(r);
}

static void want_error_prefix(redisReply *r, const char *p) {
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    if (strncmp(r->str, p, strlen(p)) != 0) fail_msg("expected %s..., got %s", p, r->str);
    freeReplyObject(r);
}

/* One round trip on a node's own connection (no routing); never NULL. */
static redisReply *direct(redisContext *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    if (!r) fail_msg("direct command failed: %s", ctx->errstr);
    return r;
}

/* Index of the node that owns key by the table. */
static int owner_index(const char *key) {
    redisContext *ctx = testcluster_node_for_key(tc, key);
    assert_non_null(ctx);
    for (int i = 0; i < testcluster_node_count(tc); i++)
        if (testcluster_node(tc, i) == ctx) return i;
    fail_msg("node_for_key(%s) is none of the nodes", key);
    return -1;
}

/* Writes to key[] a key "<prefix><what>:<i>" owned by node `want`. */
static void key_on_node(char *key, size_t n, const char *what, int want) {
    for (int i = 0; i < 10000; i++) {
        fmt_key(key, n, "%s:%d", what, i);
        if (owner_index(key) == want) return;
    }
    fail_msg("no key for node %d", want);
}

static int group_setup(void **state) {
    (void)state;
    char err[256];
    tc = testcluster_connect_env(err, sizeof err);
    if (!tc) {
        fprintf(stderr, "test_testcluster: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    testcluster_free(tc);
    return 0;
}

static void slot_of_known_keys(void **state) {
    (void)state;
    /* 0x31C3 is the CRC16-XMODEM check value of "123456789"; the rest are CLUSTER KEYSLOT's. */
    assert_int_equal(testcluster_slot("123456789", 9), 0x31C3);
    assert_int_equal(testcluster_slot("foo", 3), 12182);
    assert_int_equal(testcluster_slot("somekey", 7), 11058);
    assert_int_equal(testcluster_slot("{user1000}.following", 20), 3443);
    assert_int_equal(testcluster_slot("foo{hash_tag}", 13), 2515);
    assert_int_equal(testcluster_slot("", 0), 0);
    assert_int_equal(testcluster_slot("{}", 2), 15257);
    assert_int_equal(testcluster_slot("{{a}}", 5), 10276);
    assert_int_equal(testcluster_slot("a{}b{c}", 7), 7353);
    /* The tag is between the first '{' and the first '}' after it, and must not be empty. */
    assert_int_equal(testcluster_slot("x{bar}{zap}", 11), testcluster_slot("bar", 3));
    assert_int_equal(testcluster_slot("x}{bar}", 7), testcluster_slot("bar", 3));
    assert_int_equal(testcluster_slot("{{a}}", 5), testcluster_slot("{a", 2));
    assert_int_equal(testcluster_slot("a{}b{c}", 7), testcluster_slot("a{}b{c}", 7));
    assert_int_not_equal(testcluster_slot("a{}b{c}", 7), testcluster_slot("c", 1));
    assert_int_equal(testcluster_slot("{a\0b}x", 6), testcluster_slot("a\0b", 3));
    assert_int_not_equal(testcluster_slot("{a\0b}x", 6), testcluster_slot("a", 1));
}

/* Random keys over an alphabet heavy in braces (and NUL and 0xff), and the tricky ones, each
 * compared with CLUSTER KEYSLOT of a live node (pipelined). */
static void slot_matches_cluster_keyslot(void **state) {
    (void)state;
    enum { RANDOM = 5000, TRICKY = 16 };
    static const char *const tricky[TRICKY] = {
        "", "{", "}", "{}", "}{", "{}{}", "{{}}", "{{a}}", "a{}b{c}", "{a}{b}", "a{b", "a}b{c",
        "{}a}", "{a}", "x{y}z", "{user1000}.followers"};
    static const char alphabet[] = "{}{}{}ab\0\xff";
    redisContext *ctx = testcluster_node(tc, 0);
    assert_non_null(ctx);
    char keys[RANDOM + TRICKY][24];
    size_t lens[RANDOM + TRICKY];
    uint32_t x = 2463534242u; /* xorshift32: the same keys every run */
    for (int i = 0; i < RANDOM + TRICKY; i++) {
        if (i < TRICKY) {
            lens[i] = strlen(tricky[i]);
            memcpy(keys[i], tricky[i], lens[i]);
        } else {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            lens[i] = x % sizeof keys[i];
            for (size_t j = 0; j < lens[i]; j++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                keys[i][j] = alphabet[x % (sizeof alphabet - 1)];
            }
        }
        const char *argv[] = {"CLUSTER", "KEYSLOT", keys[i]};
        const size_t argl[] = {7, 7, lens[i]};
        assert_int_equal(redisAppendCommandArgv(ctx, 3, argv, argl), REDIS_OK);
    }
    /* Every reply is read before any is judged: a failure leaves no reply queued on ctx. */
    static long long slot[RANDOM + TRICKY];
    for (int i = 0; i < RANDOM + TRICKY; i++) {
        void *v = NULL;
        assert_int_equal(redisGetReply(ctx, &v), REDIS_OK);
        redisReply *r = v;
        slot[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
    }
    for (int i = 0; i < RANDOM + TRICKY; i++)
        if (slot[i] != testcluster_slot(keys[i], lens[i]))
            fail_msg("key %d (%zu bytes): CLUSTER KEYSLOT %lld, testcluster_slot %u", i, lens[i],
                     slot[i], testcluster_slot(keys[i], lens[i]));
}

/* SET/GET through the client on a key of each node; each value is on its owner only (the
 * other nodes answer MOVED), so the three nodes really share the slots. */
static void keys_spread_over_three_nodes(void **state) {
    (void)state;
    assert_int_equal(testcluster_node_count(tc), 3);
    for (int n = 0; n < 3; n++) {
        char key[64];
        key_on_node(key, sizeof key, "spread", n);
        const char *set[] = {"SET", key, "v", "EX", "60"};
        want_status(cmd(5, set), "OK");
        const char *get[] = {"GET", key};
        want_string(cmd(2, get), "v");
        for (int m = 0; m < 3; m++) {
            redisReply *r = direct(testcluster_node(tc, m), "GET %s", key);
            if (m == n)
                want_string(r, "v");
            else
                want_error_prefix(r, "MOVED ");
        }
        const char *del[] = {"DEL", key};
        redisReply *r = cmd(2, del);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
    }
}

/* A stale table: the command goes to the wrong node, which answers MOVED; the client resends
 * to the owner and records it. */
static void moved_is_followed_and_recorded(void **state) {
    (void)state;
    char key[64];
    fmt_key(key, sizeof key, "moved");
    int owner = owner_index(key);
    unsigned moved0, ask0, moved1, ask1;
    testcluster_redirects(tc, &moved0, &ask0);
    assert_int_equal(testcluster_spoil_slot(tc, testcluster_slot(key, strlen(key))), 0);
    assert_int_not_equal(owner_index(key), owner);
    const char *set[] = {"SET", key, "m", "EX", "60"};
    want_status(cmd(5, set), "OK");
    testcluster_redirects(tc, &moved1, &ask1);
    assert_int_equal(moved1, moved0 + 1);
    assert_int_equal(ask1, ask0);
    assert_int_equal(owner_index(key), owner);
    const char *get[] = {"GET", key};
    want_string(cmd(2, get), "m");
    testcluster_redirects(tc, &moved0, &ask0);
    assert_int_equal(moved0, moved1); /* the table is right again */
    want_string(direct(testcluster_node(tc, owner), "GET %s", key), "m");
    const char *del[] = {"DEL", key};
    freeReplyObject(cmd(2, del));
}

static int ask_teardown(void **state) {
    (void)state;
    if (ask_slot < 0) return 0;
    /* A key left on the importing node would sit in a slot it does not own. */
    redisAppendCommand(ask_dst, "ASKING");
    redisAppendCommand(ask_dst, "DEL %s", ask_key);
    for (int i = 0; i < 2; i++) {
        void *r = NULL;
        if (redisGetReply(ask_dst, &r) == REDIS_OK) freeReplyObject(r);
    }
    freeReplyObject(redisCommand(ask_src, "CLUSTER SETSLOT %d STABLE", ask_slot));
    freeReplyObject(redisCommand(ask_dst, "CLUSTER SETSLOT %d STABLE", ask_slot));
    ask_slot = -1;
    return 0;
}

static void node_id(redisContext *ctx, char *id, size_t n) {
    redisReply *r = direct(ctx, "CLUSTER MYID");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(id, n, "%s", r->str);
    freeReplyObject(r);
}

/* A slot half way through a migration: a key missing on the source is asked of the target
 * (ASKING first); the table keeps the source. The slot is only marked, never moved, and is
 * stable again within milliseconds; another test's key in it would meet ASK, which this
 * client follows. */
static void ask_is_followed_without_recording(void **state) {
    (void)state;
    fmt_key(ask_key, sizeof ask_key, "{ask}");
    unsigned slot = testcluster_slot(ask_key, strlen(ask_key));
    int src = owner_index(ask_key), dst = (src + 1) % testcluster_node_count(tc);
    ask_src = testcluster_node(tc, src);
    ask_dst = testcluster_node(tc, dst);
    assert_non_null(ask_src);
    assert_non_null(ask_dst);
    char src_id[64], dst_id[64];
    node_id(ask_src, src_id, sizeof src_id);
    node_id(ask_dst, dst_id, sizeof dst_id);
    ask_slot = (int)slot;
    want_status(direct(ask_dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id), "OK");
    want_status(direct(ask_src, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id), "OK");

    unsigned moved0, ask0, moved1, ask1;
    testcluster_redirects(tc, &moved0, &ask0);
    const char *set[] = {"SET", ask_key, "a", "EX", "60"};
    want_status(cmd(5, set), "OK");
    const char *get[] = {"GET", ask_key};
    want_string(cmd(2, get), "a");
    testcluster_redirects(tc, &moved1, &ask1);
    assert_int_equal(ask1, ask0 + 2);
    assert_int_equal(moved1, moved0);
    assert_int_equal(owner_index(ask_key), src);
    /* Really on the target: the source has no such key. */
    redisReply *r = direct(ask_src, "EXISTS %s", ask_key);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    const char *del[] = {"DEL", ask_key};
    r = cmd(2, del);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
}

/* Scripts are per node: after testcluster_script_load_all, EVALSHA works on keys of every node. */
static void script_load_all_serves_every_node(void **state) {
    (void)state;
    char sha[41];
    static const char src[] = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 60)\n"
                              "return redis.call('GET', KEYS[1])";
    if (testcluster_script_load_all(tc, src, sha) != 0) fail_msg("%s", testcluster_error(tc));
    assert_int_equal(strlen(sha), 40);
    for (int n = 0; n < 3; n++) {
        redisReply *r = direct(testcluster_node(tc, n), "SCRIPT EXISTS %s", sha);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->element[0]->integer, 1);
        freeReplyObject(r);
        char key[64];
        key_on_node(key, sizeof key, "evalsha", n);
        const char *ev[] = {"EVALSHA", sha, "1", key, "s"};
        assert_int_equal(testcluster_first_key_index(5, ev), 3);
        want_string(cmd(5, ev), "s");
        const char *del[] = {"DEL", key};
        freeReplyObject(cmd(2, del));
    }
}

/* What the session scripts rely on: KEYS sharing a hash tag run together; KEYS of two slots
 * are refused (CROSSSLOT), and so is an undeclared key that lives on another node. */
static void cluster_enforces_one_slot_per_script(void **state) {
    (void)state;
    static const char two[] = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 60)\n"
                              "redis.call('SET', KEYS[2], ARGV[1], 'EX', 60)\n"
                              "return redis.call('DEL', KEYS[1], KEYS[2])";
    char a[64], b[64];
    fmt_key(a, sizeof a, "{tag}:a");
    fmt_key(b, sizeof b, "{tag}:b");
    const char *same[] = {"EVAL", two, "2", a, b, "x"};
    redisReply *r = cmd(6, same);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("same tag: %s", r->str);
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);

    int i = 0;
    do {
        fmt_key(a, sizeof a, "a%d", i);
        fmt_key(b, sizeof b, "b%d", i++);
    } while (testcluster_slot(a, strlen(a)) == testcluster_slot(b, strlen(b)));
    const char *cross[] = {"EVAL", two, "2", a, b, "x"};
    want_error_prefix(cmd(6, cross), "CROSSSLOT");

    char declared[64], other[64];
    key_on_node(declared, sizeof declared, "declared", 0);
    key_on_node(other, sizeof other, "undeclared", 1);
    const char *sneak[] = {"EVAL", "return redis.call('GET', ARGV[1])", "1", declared, other};
    r = cmd(5, sneak);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->str, "non local key"));
    freeReplyObject(r);
}

/* A PUBLISH on another node, plain or from a script, reaches a subscriber of the first node. */
static void publish_reaches_subscriber_on_another_node(void **state) {
    (void)state;
    redisContext *sub = testcluster_subscriber(tc);
    if (!sub) fail_msg("%s", testcluster_error(tc));
    char ch[64], key[64];
    key_on_node(ch, sizeof ch, "channel", 1);
    key_on_node(key, sizeof key, "pubkey", 2);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", ch);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "subscribe");
    freeReplyObject(r);

    const char *pub[] = {"PUBLISH", ch, "plain"};
    freeReplyObject(cmd(3, pub));
    const char *ev[] = {"EVAL", "return redis.call('PUBLISH', ARGV[1], 'scripted')", "1", key, ch};
    r = cmd(5, ev);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("EVAL PUBLISH: %s", r->str);
    freeReplyObject(r);

    /* Two nodes forward over two bus links: either may arrive first. */
    int plain = 0, scripted = 0;
    for (int i = 0; i < 2; i++) {
        void *v = NULL;
        assert_int_equal(redisGetReply(sub, &v), REDIS_OK); /* 5 s timeout */
        r = v;
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 3);
        assert_string_equal(r->element[0]->str, "message");
        assert_string_equal(r->element[1]->str, ch);
        plain += strcmp(r->element[2]->str, "plain") == 0;
        scripted += strcmp(r->element[2]->str, "scripted") == 0;
        freeReplyObject(r);
    }
    assert_int_equal(plain, 1);
    assert_int_equal(scripted, 1);
    redisFree(sub);
}

/* A connection killed under the client fails one call, then is reopened. */
static void killed_connection_is_reopened(void **state) {
    (void)state;
    char key[64];
    key_on_node(key, sizeof key, "reopen", 0);
    redisContext *ctx = testcluster_node(tc, 0);
    redisReply *r = direct(ctx, "CLIENT ID");
    long long id = r->integer;
    freeReplyObject(r);
    redisContext *killer = testcluster_subscriber(tc);
    assert_non_null(killer);
    r = direct(killer, "CLIENT KILL ID %lld", id);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(killer);
    const char *get[] = {"GET", key};
    assert_null(testcluster_command_argv(tc, 2, get, NULL, 1));
    assert_true(strlen(testcluster_error(tc)) > 0);
    r = cmd(2, get);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
}

static void bad_input_is_refused(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(testcluster_connect("", err, sizeof err));
    assert_true(strlen(err) > 0);
    assert_null(testcluster_connect("127.0.0.1", err, sizeof err));
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_null(testcluster_connect("127.0.0.1:99999", err, sizeof err));
    assert_non_null(strstr(err, "port"));
    /* Port 1 on loopback refuses. */
    assert_null(testcluster_connect("127.0.0.1:1", err, sizeof err));
    assert_non_null(strstr(err, "127.0.0.1:1"));
    assert_null(testcluster_connect(NULL, NULL, 0));
    /* The single server of REDIS_TEST_URL is no cluster. */
    const char *url = getenv("REDIS_TEST_URL");
    if (url && strncmp(url, "redis://", 8) == 0) {
        assert_null(testcluster_connect(url + 8, err, sizeof err));
        assert_non_null(strstr(err, "CLUSTER SLOTS"));
    }

    const char *get[] = {"GET", "k"};
    assert_null(testcluster_command_argv(tc, 2, get, NULL, 2));
    assert_null(testcluster_command_argv(tc, 0, get, NULL, -1));
    assert_null(testcluster_command_argv(NULL, 2, get, NULL, 1));
    const char *withnull[] = {"GET", NULL};
    assert_null(testcluster_command_argv(tc, 2, withnull, NULL, 1));
    assert_int_equal(testcluster_spoil_slot(tc, TESTCLUSTER_SLOTS), -1);

    const char *ping[] = {"PING"};
    assert_int_equal(testcluster_first_key_index(1, ping), -1);
    want_status(cmd(1, ping), "PONG"); /* keyless: the first node */
    const char *ev0[] = {"EVAL", "return 1", "0"};
    assert_int_equal(testcluster_first_key_index(3, ev0), -1);
    const char *ev1[] = {"evalsha", "x", "1", "k"};
    assert_int_equal(testcluster_first_key_index(4, ev1), 3);
    const char *fc[] = {"FCALL", "f", "0", "a"};
    assert_int_equal(testcluster_first_key_index(4, fc), -1);
    const char *hget[] = {"HGETALL", "k"};
    assert_int_equal(testcluster_first_key_index(2, hget), 1);
}

int main(void) {
    snprintf(prefix, sizeof prefix, "tc%ld:", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slot_of_known_keys),
        cmocka_unit_test(slot_matches_cluster_keyslot),
        cmocka_unit_test(keys_spread_over_three_nodes),
        cmocka_unit_test(moved_is_followed_and_recorded),
        cmocka_unit_test_teardown(ask_is_followed_without_recording, ask_teardown),
        cmocka_unit_test(script_load_all_serves_every_node),
        cmocka_unit_test(cluster_enforces_one_slot_per_script),
        cmocka_unit_test(publish_reaches_subscriber_on_another_node),
        cmocka_unit_test(killed_connection_is_reopened),
        cmocka_unit_test(bad_input_is_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
