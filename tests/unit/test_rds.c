/* test_rds: the hiredis adapter on the real loop against a real redis-server (REDIS_TEST_URL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rds.h"
#include "session.h"
#include "uuid4.h"

#define WAIT_MS 5000
#ifndef TEST_RDS_CHANNELS
#define TEST_RDS_CHANNELS 3000 /* channels in resubscribes_after_kill */
#endif

static const char *url;

/* Where a client under test connects: one server, as REDIS_URL and REDIS_PASSWORD say. */
static const conncfg_redis *at(const char *u, const char *password) {
    static conncfg_redis cfg[4];
    static int next;
    conncfg_redis *c = &cfg[next++ % 4];
    memset(c, 0, sizeof *c);
    c->url = u;
    c->password = password;
    return c;
}
static char prefix[32]; /* "t<pid>:": other tests share the server */

/* Key or channel name unique to this process (rotating static buffers). */
static const char *K(const char *base) {
    static char buf[16][96];
    static int i;
    char *b = buf[i++ % 16];
    snprintf(b, sizeof buf[0], "%s%s", prefix, base);
    return b;
}
static char host[256];
static int port;
static loop *L;
static redisContext *sync_rc; /* side channel: PUBSUB NUMSUB, CLIENT LIST/KILL */

/* --- waiting on conditions with a deadline --- */

typedef int cond_fn(void *arg);

typedef struct waitctx {
    cond_fn *cond;
    void *arg;
    long long deadline;
    loop_timer *t;
} waitctx;

static void wait_tick(loop *l, void *arg) {
    waitctx *w = arg;
    w->t = NULL;
    if (w->cond(w->arg) || loop_now_ms() >= w->deadline) {
        loop_stop(l);
        return;
    }
    w->t = loop_timer_add(l, 2, wait_tick, w);
}

/* Runs the loop until cond(arg) holds or timeout_ms passed; returns cond(arg). */
static int run_until(cond_fn *cond, void *arg, long long timeout_ms) {
    waitctx w = {cond, arg, loop_now_ms() + timeout_ms, NULL};
    w.t = loop_timer_add(L, 0, wait_tick, &w);
    assert_non_null(w.t);
    assert_int_equal(loop_run(L), AGG_OK);
    loop_timer_cancel(L, w.t);
    return cond(arg);
}

static int is_ready(void *arg) { return rds_ready(arg); }

static int is_sub_ready(void *arg) { return rds_sub_ready(arg); }

static int int_positive(void *arg) { return *(int *)arg > 0; }

typedef struct atleast {
    const int *value;
    int want;
} atleast;

static int at_least(void *arg) {
    atleast *a = arg;
    return *a->value >= a->want;
}

/* --- replies --- */

typedef struct got {
    int calls;
    int null;
    int type;
    long long integer;
    char str[256];
    size_t len;
    size_t elements;
    char el[2][64];
    long long el_int[2];
} got;

static void on_reply(struct redisReply *r, void *arg) {
    got *g = arg;
    g->calls++;
    if (!r) {
        g->null = 1;
        return;
    }
    g->type = r->type;
    g->integer = r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
        r->type == REDIS_REPLY_ERROR) {
        g->len = r->len < sizeof g->str ? r->len : sizeof g->str - 1;
        memcpy(g->str, r->str, g->len);
        g->str[g->len] = '\0';
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        g->elements = r->elements;
        for (size_t i = 0; i < r->elements && i < 2; i++) {
            if (r->element[i]->type == REDIS_REPLY_STRING)
                snprintf(g->el[i], sizeof g->el[i], "%s", r->element[i]->str);
            g->el_int[i] = r->element[i]->integer;
        }
    }
}

static int got_reply(void *arg) { return ((got *)arg)->calls > 0; }

static void wait_reply(got *g) {
    assert_true(run_until(got_reply, g, WAIT_MS));
    assert_int_equal(g->calls, 1);
}

static rds *new_ready_rds(void) {
    err_t e;
    rds *r = rds_new(L, at(url, NULL), &e);
    assert_non_null(r);
    assert_true(run_until(is_ready, r, WAIT_MS));
    return r;
}

static long long sync_int(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(sync_rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long numsub(const char *channel) {
    redisReply *r = redisCommand(sync_rc, "PUBSUB NUMSUB %s", channel);
    assert_non_null(r);
    assert_int_equal(r->elements, 2);
    long long v = r->element[1]->integer;
    freeReplyObject(r);
    return v;
}

/* Local ports of this process's TCP connections to the test server. */
static int own_ports(int *ports, int max) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd == dirfd(d)) continue;
        struct sockaddr_in peer, local;
        socklen_t pl = sizeof peer, ll = sizeof local;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || peer.sin_family != AF_INET ||
            ntohs(peer.sin_port) != port)
            continue;
        if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
            ports[n++] = ntohs(local.sin_port);
    }
    closedir(d);
    return n;
}

/* Counts (and with kill, closes) this process's clients of a type
 * (normal|pubsub), sync_rc excepted; blocked: only those in a blocking call.
 * Other tests share the server, so CLIENT KILL TYPE would hit them too. */
static int own_clients(const char *type, int blocked, int kill) {
    int ports[64];
    int np = own_ports(ports, 64);
    redisReply *me = redisCommand(sync_rc, "CLIENT ID");
    assert_non_null(me);
    long long my_id = me->integer;
    freeReplyObject(me);
    redisReply *r = redisCommand(sync_rc, "CLIENT LIST TYPE %s", type);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int count = 0;
    for (char *line = r->str; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        long long id = strtoll(line + 3, NULL, 10); /* "id=" */
        const char *addr = strstr(line, " addr=");
        const char *colon = addr ? strchr(addr, ':') : NULL;
        const char *flags = strstr(line, " flags=");
        size_t flen = flags ? strcspn(flags + 7, " ") : 0;
        int is_blocked = flags && memchr(flags + 7, 'b', flen) != NULL;
        int lport = colon ? atoi(colon + 1) : -1;
        int mine = 0;
        for (int i = 0; i < np; i++) mine |= ports[i] == lport;
        if (mine && id != my_id && (!blocked || is_blocked)) {
            count++;
            if (kill) {
                redisReply *k = redisCommand(sync_rc, "CLIENT KILL ID %lld", id);
                assert_non_null(k);
                assert_int_equal(k->type, REDIS_REPLY_INTEGER);
                assert_int_equal(k->integer, 1);
                freeReplyObject(k);
            }
        }
        line = next;
    }
    freeReplyObject(r);
    return count;
}

static int own_blocked(void *arg) {
    (void)arg;
    return own_clients("normal", 1, 0) > 0;
}

/* --- commands and scripts --- */

static void commands_run_once_connected(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    got g = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "SET %s %s", K("k"), "v1"), AGG_OK);
    wait_reply(&g);
    assert_int_equal(g.type, REDIS_REPLY_STATUS);
    assert_string_equal(g.str, "OK");

    /* A plain command as an rds_call; the value is binary (lens set by hand). */
    rds_call c;
    rds_call_begin_command(&c);
    rds_call_push(&c, "SET");
    rds_call_push(&c, K("bin"));
    rds_call_push(&c, "a");
    c.argv[2] = "a\0b";
    c.lens[2] = 3;
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_call_send(r, &c, on_reply, &g, NULL), AGG_OK);
    wait_reply(&g);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "GET %s", K("bin")), AGG_OK);
    wait_reply(&g);
    assert_int_equal(g.type, REDIS_REPLY_STRING);
    assert_int_equal(g.len, 3);
    assert_memory_equal(g.str, "a\0b", 3);
    rds_free(r);
}

static void command_names_are_a_fixed_set(void **state) {
    (void)state;
    session_call sc;
    assert_int_equal(session_call_expire(&sc, "0b8e2a4c-1f7d-4a5e-9c3b-2d6f8e1a7b9c", 1, 60, NULL),
                     AGG_OK);
    assert_int_equal(rds_call_command(&sc.call), RDS_SCRIPT_SESSION_EXPIRE);
    assert_string_equal(rds_command_name(rds_call_command(&sc.call)), "session_expire");
    rds_call c;
    rds_call_begin_command(&c);
    assert_int_equal(rds_call_command(&c), RDS_CMD_OTHER); /* no word yet */
    rds_call_push(&c, "hmget");
    assert_int_equal(rds_call_command(&c), RDS_CMD_HMGET);
    assert_string_equal(rds_command_name(RDS_CMD_HMGET), "HMGET");
    rds_call_begin_command(&c);
    rds_call_push(&c, "ZRANGEBYSCORE");
    assert_string_equal(rds_command_name(rds_call_command(&c)), "ZRANGEBYSCORE");
    rds_call_begin_command(&c);
    rds_call_push(&c, "XRANGE");
    assert_string_equal(rds_command_name(rds_call_command(&c)), "XRANGE");
    /* Any other word is one label, whatever it is: no series per command text. */
    rds_call_begin_command(&c);
    rds_call_push(&c, "SET");
    assert_int_equal(rds_call_command(&c), RDS_CMD_OTHER);
    assert_string_equal(rds_command_name(RDS_CMD_OTHER), "other");
    assert_string_equal(rds_command_name(-1), "other");
    assert_string_equal(rds_command_name(RDS_COMMAND__COUNT), "other");
}

typedef struct seen {
    int n;
    int command[8];
    double seconds[8];
} seen;

static void on_observe(int command, double seconds, void *arg) {
    seen *s = arg;
    if (s->n < 8) {
        s->command[s->n] = command;
        s->seconds[s->n] = seconds;
    }
    s->n++;
}

static void observer_sees_each_round_trip(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    seen s = {0};
    got g = {0};
    /* Before an observer is set nothing is told. */
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "SET %s %s", K("obs"), "v"), AGG_OK);
    wait_reply(&g);
    rds_set_observer(r, on_observe, &s);
    session_call sc;
    assert_int_equal(session_call_state(&sc, "0b8e2a4c-1f7d-4a5e-9c3b-2d6f8e1a7b9c", NULL), AGG_OK);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_call_send(r, &sc.call, on_reply, &g, NULL), AGG_OK);
    wait_reply(&g);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "GET %s", K("obs")), AGG_OK);
    wait_reply(&g);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.command[0], RDS_CMD_HMGET);
    assert_int_equal(s.command[1], RDS_CMD_OTHER);
    assert_true(s.seconds[0] >= 0 && s.seconds[1] >= 0);
    rds_set_observer(r, NULL, NULL);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "GET %s", K("obs")), AGG_OK);
    wait_reply(&g);
    assert_int_equal(s.n, 2);
    rds_free(r);
}

/* A TCP server that accepts and closes at once: a Redis that always hangs up. */
typedef struct hangup {
    int fd;
    int port;
    int accepted;
} hangup;

static void hangup_accept(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)events;
    hangup *h = arg;
    int c = accept(fd, NULL, NULL);
    if (c >= 0) {
        close(c);
        h->accepted++;
    }
}

static void hangup_start(hangup *h) {
    memset(h, 0, sizeof *h);
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(h->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(h->fd, 16), 0);
    assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &al), 0);
    h->port = ntohs(a.sin_port);
    assert_int_equal(loop_watch(L, h->fd, LOOP_READ, hangup_accept, h, NULL), AGG_OK);
}

static void hangup_stop(hangup *h) {
    loop_unwatch(L, h->fd);
    close(h->fd);
}

static int three_accepted(void *arg) { return ((hangup *)arg)->accepted >= 3; }

static void reconnects_while_refused_and_frees_clean(void **state) {
    (void)state;
    hangup h;
    hangup_start(&h);
    char u[64];
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", h.port);
    err_t e;
    rds *r = rds_new(L, at(u, NULL), &e);
    assert_non_null(r);
    assert_true(run_until(three_accepted, &h, WAIT_MS)); /* retried with backoff */
    assert_false(rds_ready(r));
    got g = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "PING"), AGG_ERR);
    rds_call c;
    rds_call_begin_command(&c);
    rds_call_push(&c, "PING");
    err_t ce;
    assert_int_equal(rds_call_send(r, &c, on_reply, &g, &ce), AGG_ERR);
    assert_string_equal(ce.text, "redis not connected");
    assert_int_equal(g.calls, 0);
    rds_free(r);

    h.accepted = 0;
    rds_sub *s = rds_sub_new(L, at(u, NULL), NULL, NULL, NULL, &e);
    assert_non_null(s);
    assert_true(run_until(three_accepted, &h, WAIT_MS));
    assert_false(rds_sub_ready(s));
    assert_int_equal(rds_subscribe(s, "x", NULL, NULL, NULL), AGG_ERR);
    rds_sub_free(s);
    hangup_stop(&h);

    r = rds_new(L, at("redis://127.0.0.1:1", NULL), &e); /* connection refused */
    assert_non_null(r);
    assert_false(rds_ready(r));
    rds_free(r);
}

static void bad_urls_are_refused(void **state) {
    (void)state;
    const char *bad[] = {"http://127.0.0.1:6379", "redis://",      "redis://h:0",
                         "redis://h:70000",       "redis://h:12x", "redis://h:1/x",
                         "redis://user@h:1",      "redis://[::1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e = {0};
        assert_null(rds_new(L, at(bad[i], NULL), &e));
        assert_true(e.text[0] != '\0');
        assert_null(rds_sub_new(L, at(bad[i], NULL), NULL, NULL, NULL, &e));
    }
    const char *good[] = {"redis://127.0.0.1", "redis://:pw@127.0.0.1:1/2",
                          "redis://u:pw@127.0.0.1:1", "redis://[::1]:1/", "redis://127.0.0.1:1/"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        rds *r = rds_new(L, at(good[i], NULL), NULL);
        assert_non_null(r);
        rds_free(r);
    }
}

/* Failed AUTH attempts for user in ACL LOG. */
static int auth_failures(const char *user) {
    redisReply *r = redisCommand(sync_rc, "ACL LOG");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    int n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *ent = r->element[i];
        long long count = 0;
        int match = 0, auth = 0;
        for (size_t j = 0; j + 1 < ent->elements; j += 2) {
            const char *k = ent->element[j]->str;
            redisReply *v = ent->element[j + 1];
            if (strcmp(k, "count") == 0) count = v->integer;
            if (strcmp(k, "username") == 0) match = strcmp(v->str, user) == 0;
            if (strcmp(k, "reason") == 0) auth = strcmp(v->str, "auth") == 0;
        }
        if (match && auth) n += (int)count;
    }
    freeReplyObject(r);
    return n;
}

static int two_auth_failures(void *arg) { return auth_failures(arg) >= 2; }

/* ACL LOG keeps earlier failures: a later wait counts from what is there. */
typedef struct auth_wait {
    const char *user;
    int at_least;
} auth_wait;

static int auth_failures_reach(void *arg) {
    const auth_wait *w = arg;
    return auth_failures(w->user) >= w->at_least;
}

static void auth_and_select_from_url(void **state) {
    (void)state;
    char user[32], u[400];
    snprintf(user, sizeof user, "u%ld", (long)getpid());
    /* A second password that no URL can carry unescaped (REDIS_PASSWORD's case). */
    static const char url_unsafe_pw[] = "p@:/w";
    redisReply *rep =
        redisCommand(sync_rc, "ACL SETUSER %s on >pw >%s ~* &* +@all", user, url_unsafe_pw);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);

    /* A wrong password: AUTH fails, it keeps retrying, never ready. */
    snprintf(u, sizeof u, "redis://%s:wrong@%s:%d", user, host, port);
    rds *r = rds_new(L, at(u, NULL), NULL);
    assert_non_null(r);
    rds_sub *s = rds_sub_new(L, at(u, NULL), NULL, NULL, NULL, NULL);
    assert_non_null(s);
    assert_true(run_until(two_auth_failures, user, WAIT_MS));
    assert_false(rds_ready(r));
    assert_false(rds_sub_ready(s));
    rds_sub_free(s);
    rds_free(r);

    /* The right one, and /3 selects database 3. */
    snprintf(u, sizeof u, "redis://%s:pw@%s:%d/3", user, host, port);
    r = rds_new(L, at(u, NULL), NULL);
    assert_true(run_until(is_ready, r, WAIT_MS));
    s = rds_sub_new(L, at(u, NULL), NULL, NULL, NULL, NULL);
    assert_true(run_until(is_sub_ready, s, WAIT_MS));
    rds_sub_free(s);
    got g = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "SET %s x", K("db3")), AGG_OK);
    wait_reply(&g);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "ACL WHOAMI"), AGG_OK);
    wait_reply(&g);
    assert_string_equal(g.str, user);
    rds_free(r);
    assert_int_equal(sync_int("EXISTS %s", K("db3")), 0);
    freeReplyObject(redisCommand(sync_rc, "SELECT 3"));
    assert_int_equal(sync_int("EXISTS %s", K("db3")), 1);
    assert_int_equal(sync_int("DEL %s", K("db3")), 1);
    freeReplyObject(redisCommand(sync_rc, "SELECT 0"));

    /* A password given apart replaces the URL's (here wrong) one, for both kinds of
     * connection; and a wrong one given apart overrides the URL's right one. */
    snprintf(u, sizeof u, "redis://%s:wrong@%s:%d", user, host, port);
    r = rds_new(L, at(u, url_unsafe_pw), NULL);
    assert_true(run_until(is_ready, r, WAIT_MS));
    s = rds_sub_new(L, at(u, url_unsafe_pw), NULL, NULL, NULL, NULL);
    assert_true(run_until(is_sub_ready, s, WAIT_MS));
    rds_sub_free(s);
    rds_free(r);
    snprintf(u, sizeof u, "redis://%s:pw@%s:%d", user, host, port);
    auth_wait more = {user, auth_failures(user) + 2};
    r = rds_new(L, at(u, "wrong"), NULL);
    assert_true(run_until(auth_failures_reach, &more, WAIT_MS));
    assert_false(rds_ready(r));
    rds_free(r);
    freeReplyObject(redisCommand(sync_rc, "ACL DELUSER %s", user));
}

static void scripts_survive_script_flush(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    char cid[UUID4_LEN + 1];
    assert_int_equal(uuid4_new(cid, NULL), AGG_OK);

    /* A deadline ahead: a worker's deadline scan on this server (test_pipeline_oom runs in
     * parallel) would expire a session whose deadline has passed. */
    long long now = loop_wall_ms();
    session_def d = {cid, "p1", "SSE", "[\"a\",\"b\"]", now, now + 600000, now, 60, NULL, "o"};
    session_call sc;
    assert_int_equal(session_call_open(&sc, &d, NULL), AGG_OK);
    got g = {0};
    assert_int_equal(rds_call_send(r, &sc.call, on_reply, &g, NULL), AGG_OK);
    wait_reply(&g);
    assert_int_equal(g.type, REDIS_REPLY_INTEGER);
    assert_int_equal(g.integer, 1);

    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "SCRIPT FLUSH"), AGG_OK);
    wait_reply(&g);
    assert_string_equal(g.str, "OK");

    /* NOSCRIPT is recovered from. */
    session_outcome o = {cid, "p1", "a", OUTCOME_OK, "{\"x\":1}", now + 500, 60};
    session_call rec;
    assert_int_equal(session_call_record(&rec, &o, NULL), AGG_OK);
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_call_send(r, &rec.call, on_reply, &g, NULL), AGG_OK);
    wait_reply(&g);
    assert_int_equal(g.type, REDIS_REPLY_ARRAY);
    assert_string_equal(g.el[0], "recorded");
    assert_int_equal(g.el_int[1], 1);

    /* Two in flight after another flush: both recover, each answered once. */
    memset(&g, 0, sizeof g);
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "SCRIPT FLUSH"), AGG_OK);
    wait_reply(&g);
    session_call exp;
    assert_int_equal(session_call_expire(&exp, cid, now + 3000, 60, NULL), AGG_OK);
    got g1 = {0}, g2 = {0};
    assert_int_equal(rds_call_send(r, &exp.call, on_reply, &g1, NULL), AGG_OK);
    assert_int_equal(rds_call_send(r, &rec.call, on_reply, &g2, NULL), AGG_OK);
    wait_reply(&g2);
    assert_int_equal(g1.calls, 1);
    assert_string_equal(g1.str, "not-due");
    assert_string_equal(g2.el[0], "duplicate");
    rds_free(r);
}

static void pending_callbacks_get_null_on_free(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    got g = {0}, q = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "BLPOP %s 30", K("never")), AGG_OK);
    assert_true(run_until(own_blocked, NULL, WAIT_MS));
    assert_int_equal(rds_command(r, on_reply, &q, NULL, "PING"), AGG_OK); /* queued behind BLPOP */
    rds_free(r);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.null, 1);
    assert_int_equal(q.calls, 1);
    assert_int_equal(q.null, 1);
}

static void lost_connection_gives_null_then_reconnects(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    got g = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "BLPOP %s 30", K("never")), AGG_OK);
    assert_true(run_until(own_blocked, NULL, WAIT_MS));
    assert_int_equal(own_clients("normal", 0, 1), 1);
    wait_reply(&g);
    assert_int_equal(g.null, 1);
    assert_true(run_until(is_ready, r, WAIT_MS));
    got p = {0};
    assert_int_equal(rds_command(r, on_reply, &p, NULL, "PING"), AGG_OK);
    wait_reply(&p);
    assert_string_equal(p.str, "PONG");
    assert_int_equal(g.calls, 1);
    rds_free(r);
}

/* --- pub/sub --- */

typedef struct subst {
    int messages;
    char channel[64];
    char payload[64];
    int resubscribed;
} subst;

typedef struct done_rec {
    int calls;
    int ok;
} done_rec;

static void on_msg(const char *channel, const char *payload, size_t len, void *arg) {
    subst *st = arg;
    st->messages++;
    snprintf(st->channel, sizeof st->channel, "%s", channel);
    snprintf(st->payload, sizeof st->payload, "%.*s", (int)len, payload);
}

static void on_resub(void *arg) {
    subst *st = arg;
    st->resubscribed++;
}

static void on_done(int ok, void *arg) {
    done_rec *d = arg;
    d->calls++;
    d->ok = ok;
}

static int done_called(void *arg) { return ((done_rec *)arg)->calls > 0; }

typedef struct msgwait {
    subst *st;
    int want;
} msgwait;

static int enough_messages(void *arg) {
    msgwait *m = arg;
    return m->st->messages >= m->want;
}

static int no_subscribers(void *arg) { return numsub(arg) == 0; }

static long long publish(rds *r, const char *channel, const char *payload) {
    got g = {0};
    assert_int_equal(rds_command(r, on_reply, &g, NULL, "PUBLISH %s %s", channel, payload), AGG_OK);
    wait_reply(&g);
    assert_int_equal(g.type, REDIS_REPLY_INTEGER);
    return g.integer;
}

/* Publishes through r and waits for the message to arrive at st. */
static void publish_expect(rds *r, subst *st, const char *channel, const char *payload) {
    msgwait m = {st, st->messages + 1};
    assert_int_equal(publish(r, channel, payload), 1);
    assert_true(run_until(enough_messages, &m, WAIT_MS));
    assert_string_equal(st->channel, channel);
    assert_string_equal(st->payload, payload);
}

static rds_sub *new_ready_sub(subst *st) {
    err_t e;
    rds_sub *s = rds_sub_new(L, at(url, NULL), on_msg, on_resub, st, &e);
    assert_non_null(s);
    assert_true(run_until(is_sub_ready, s, WAIT_MS));
    return s;
}

static void subscribe_done_then_messages(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    subst st = {0};
    rds_sub *s = new_ready_sub(&st);
    done_rec d1 = {0}, d2 = {0};
    assert_int_equal(rds_subscribe(s, K("a"), on_done, &d1, NULL), AGG_OK);
    assert_int_equal(d1.calls, 0); /* not before Redis confirmed */
    assert_true(run_until(done_called, &d1, WAIT_MS));
    assert_int_equal(d1.ok, 1);
    publish_expect(r, &st, K("a"), "hello");

    /* Already confirmed: done still runs from the loop, not from inside rds_subscribe. */
    assert_int_equal(rds_subscribe(s, K("a"), on_done, &d2, NULL), AGG_OK);
    assert_int_equal(d2.calls, 0);
    assert_true(run_until(done_called, &d2, WAIT_MS));
    assert_int_equal(d2.ok, 1);
    rds_unsubscribe(s, K("a"), &d1); /* one reference left */
    publish_expect(r, &st, K("a"), "two");
    rds_unsubscribe(s, K("a"), &d2);
    assert_true(run_until(no_subscribers, (void *)K("a"), WAIT_MS));
    assert_int_equal(publish(r, K("a"), "three"), 0);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.resubscribed, 0);
    rds_sub_free(s);
    rds_free(r);
}

/* The libuv rule for an already-confirmed channel: done is queued for the
 * loop; unsubscribing first cancels it, and freeing drops it. */
static void confirmed_channel_done_is_deferred(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    subst st = {0};
    rds_sub *s = new_ready_sub(&st);
    done_rec d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};
    assert_int_equal(rds_subscribe(s, K("q"), on_done, &d1, NULL), AGG_OK);
    assert_true(run_until(done_called, &d1, WAIT_MS));

    assert_int_equal(rds_subscribe(s, K("q"), on_done, &d2, NULL), AGG_OK);
    assert_int_equal(rds_subscribe(s, K("q"), on_done, &d3, NULL), AGG_OK);
    rds_unsubscribe(s, K("q"), &d2); /* before the loop ran: never called */
    assert_int_equal(d2.calls + d3.calls, 0);
    assert_true(run_until(done_called, &d3, WAIT_MS));
    assert_int_equal(d3.ok, 1);
    assert_int_equal(d2.calls, 0);

    rds_unsubscribe(s, K("q"), &d1);
    rds_unsubscribe(s, K("q"), &d3);

    /* Queued at free: dropped without a call (and without a leak). */
    assert_int_equal(rds_subscribe(s, K("q2"), on_done, &d1, NULL), AGG_OK);
    assert_true(run_until(done_called, &d1, WAIT_MS));
    assert_int_equal(rds_subscribe(s, K("q2"), on_done, &d4, NULL), AGG_OK);
    rds_sub_free(s);
    assert_int_equal(d4.calls, 0);
    rds_free(r);
}

static void unsubscribe_cancels_pending_done(void **state) {
    (void)state;
    rds *r = new_ready_rds();
    subst st = {0};
    rds_sub *s = new_ready_sub(&st);
    done_rec d1 = {0}, d2 = {0}, d3 = {0}, d4 = {0};

    /* Cancelled before the confirmation, then subscribed again at once. */
    assert_int_equal(rds_subscribe(s, K("b"), on_done, &d1, NULL), AGG_OK);
    rds_unsubscribe(s, K("b"), &d1);
    assert_int_equal(rds_subscribe(s, K("b"), on_done, &d2, NULL), AGG_OK);
    assert_true(run_until(done_called, &d2, WAIT_MS));
    assert_int_equal(d2.ok, 1);
    assert_int_equal(d1.calls, 0);
    publish_expect(r, &st, K("b"), "b1");

    /* Subscribed again while the UNSUBSCRIBE is in flight. */
    assert_int_equal(rds_subscribe(s, K("c"), on_done, &d3, NULL), AGG_OK);
    assert_true(run_until(done_called, &d3, WAIT_MS));
    rds_unsubscribe(s, K("c"), &d3);
    assert_int_equal(rds_subscribe(s, K("c"), on_done, &d4, NULL), AGG_OK);
    assert_int_equal(d4.calls, 0);
    assert_true(run_until(done_called, &d4, WAIT_MS));
    assert_int_equal(d4.ok, 1);
    publish_expect(r, &st, K("c"), "c1");

    /* Pending at free: dropped without a call. */
    done_rec d5 = {0};
    assert_int_equal(rds_subscribe(s, K("d"), on_done, &d5, NULL), AGG_OK);
    rds_sub_free(s);
    assert_int_equal(d5.calls, 0);
    rds_free(r);
}

typedef struct many {
    done_rec *d;
    int n;
} many;

static int all_done(void *arg) {
    many *m = arg;
    for (int i = 0; i < m->n; i++)
        if (m->d[i].calls == 0) return 0;
    return 1;
}

static void resubscribes_after_kill(void **state) {
    (void)state;
    enum { N = TEST_RDS_CHANNELS };
    rds *r = new_ready_rds();
    subst st = {0};
    rds_sub *s = new_ready_sub(&st);
    done_rec *d = calloc(N, sizeof *d);
    assert_non_null(d);
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%sm:%d", prefix, i);
        assert_int_equal(rds_subscribe(s, name, on_done, &d[i], NULL), AGG_OK);
    }
    many m = {d, N};
    assert_true(run_until(all_done, &m, WAIT_MS));
    for (int i = 0; i < N; i++) assert_int_equal(d[i].ok, 1);

    assert_int_equal(own_clients("pubsub", 0, 1), 1);
    assert_true(run_until(int_positive, &st.resubscribed, WAIT_MS));
    assert_int_equal(st.resubscribed, 1);
    assert_true(rds_sub_ready(s));
    assert_int_equal(numsub(K("m:0")), 1);
    snprintf(name, sizeof name, "%sm:%d", prefix, N - 1);
    assert_int_equal(numsub(name), 1);
    publish_expect(r, &st, name, "after");
    publish_expect(r, &st, K("m:7"), "seven");

    /* A subscription sent to a dead connection fails (ok=0), keeps its
     * reference, and is subscribed again after the reconnect. */
    done_rec f = {0};
    int before = st.resubscribed;
    assert_int_equal(rds_subscribe(s, K("f"), on_done, &f, NULL), AGG_OK);
    assert_int_equal(own_clients("pubsub", 0, 1), 1); /* before SUBSCRIBE is written */
    assert_true(run_until(done_called, &f, WAIT_MS));
    assert_int_equal(f.ok, 0);
    atleast a = {&st.resubscribed, before + 1};
    assert_true(run_until(at_least, &a, WAIT_MS));
    publish_expect(r, &st, K("f"), "back");
    rds_unsubscribe(s, K("f"), &f);

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%sm:%d", prefix, i);
        rds_unsubscribe(s, name, &d[i]);
    }
    assert_true(run_until(no_subscribers, name, WAIT_MS));
    for (int i = 0; i < N; i++) assert_int_equal(d[i].calls, 1);
    free(d);
    rds_sub_free(s);
    rds_free(r);
}

static int parse_url(const char *u) {
    const char *p = strncmp(u, "redis://", 8) == 0 ? u + 8 : NULL;
    if (!p) return -1;
    const char *colon = strrchr(p, ':');
    if (!colon || strchr(p, '@') || (size_t)(colon - p) >= sizeof host) return -1;
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    port = atoi(colon + 1);
    return port > 0 ? 0 : -1;
}

static int group_setup(void **state) {
    (void)state;
    L = loop_new(NULL);
    struct timeval tv = {5, 0};
    sync_rc = redisConnectWithTimeout(host, port, tv);
    if (!L || !sync_rc || sync_rc->err) return -1;
    redisSetTimeout(sync_rc, tv);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    redisFree(sync_rc);
    loop_free(L);
    return 0;
}

int main(void) {
    snprintf(prefix, sizeof prefix, "t%ld:", (long)getpid());
    url = getenv("REDIS_TEST_URL");
    if (!url || !*url) {
        fprintf(stderr, "test_rds: REDIS_TEST_URL is not set; run it through tests/with-redis.sh "
                        "(make test does)\n");
        return 1;
    }
    if (parse_url(url) != 0) {
        fprintf(stderr, "test_rds: REDIS_TEST_URL must be redis://host:port, got %s\n", url);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commands_run_once_connected),
        cmocka_unit_test(command_names_are_a_fixed_set),
        cmocka_unit_test(observer_sees_each_round_trip),
        cmocka_unit_test(reconnects_while_refused_and_frees_clean),
        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(auth_and_select_from_url),
        cmocka_unit_test(scripts_survive_script_flush),
        cmocka_unit_test(pending_callbacks_get_null_on_free),
        cmocka_unit_test(lost_connection_gives_null_then_reconnects),
        cmocka_unit_test(subscribe_done_then_messages),
        cmocka_unit_test(confirmed_channel_done_is_deferred),
        cmocka_unit_test(unsubscribe_cancels_pending_done),
        cmocka_unit_test(resubscribes_after_kill),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
