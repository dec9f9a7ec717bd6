/* rds: the command and script client: hiredis commands and Lua scripts by EVALSHA. */
#include "rds.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "log.h"
#include "rdsconn.h"
#include "rdsha.h"

/* ------------------------------------------------------------------------ */
/* rds: commands and scripts                                                 */

typedef struct script_ref {
    rds *r;
    int id;
} script_ref;

struct rds {
    rdsconn c; /* first member: an rdsconn * is an rds * */
    int ready;
    int setup_left;
    script_ref refs[RDS_SCRIPT__COUNT];
    char sha[RDS_SCRIPT__COUNT][41];
    rds_observer_cb *observer;
    void *observer_arg;
};

/* The plain commands of rds_call_command, in the order of their ids from RDS_CMD_HMGET. */
static const char *const plain_commands[] = {"HMGET", "XRANGE", "ZRANGEBYSCORE"};
_Static_assert(sizeof plain_commands / sizeof plain_commands[0] == RDS_CMD_OTHER - RDS_CMD_HMGET,
               "one name per plain command id");

/* One caller request; for scripts it keeps the EVALSHA argv for the retry. */
typedef struct pending {
    rds *r;
    rds_reply_cb *cb;
    void *arg;
    int script; /* -1: plain command */
    int command;       /* rds_call_command's id, for the observer */
    long long sent_ns; /* CLOCK_MONOTONIC at the send; 0 without an observer */
    int retried;
    int argc;
    const char **argv;
    size_t *lens;
} pending;

static void setup_step(rds *r) {
    if (--r->setup_left > 0) return;
    r->ready = 1;
    rdsconn_up(&r->c);
}

static void setup_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rds *r = arg;
    redisReply *rep = reply;
    if (!rep) return; /* connection going away */
    if (rep->type == REDIS_REPLY_ERROR) {
        rdsconn_drop(&r->c, rep->str);
        return;
    }
    setup_step(r);
}

static int store_sha(rds *r, int id, const redisReply *rep) {
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) return AGG_ERR;
    memcpy(r->sha[id], rep->str, 40);
    r->sha[id][40] = '\0';
    return AGG_OK;
}

static void script_loaded(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    script_ref *ref = arg;
    redisReply *rep = reply;
    if (!rep) return;
    if (store_sha(ref->r, ref->id, rep) != AGG_OK) {
        char why[200];
        snprintf(why, sizeof why, "SCRIPT LOAD %s failed: %s", rds_script_name[ref->id],
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        rdsconn_drop(&ref->r->c, why);
        return;
    }
    setup_step(ref->r);
}

static void script_reloaded(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    script_ref *ref = arg;
    redisReply *rep = reply;
    if (rep && store_sha(ref->r, ref->id, rep) != AGG_OK && rep->type == REDIS_REPLY_ERROR)
        log_error("redis: SCRIPT LOAD %s failed: %s", rds_script_name[ref->id], rep->str);
}

static void rds_connected(rdsconn *c) {
    rds *r = (rds *)c;
    int n = rdsconn_send_auth(c, setup_reply, r, 1);
    if (n < 0) {
        rdsconn_drop(c, "cannot send AUTH/SELECT");
        return;
    }
    r->setup_left = n + RDS_SCRIPT__COUNT + 1; /* +1: released below */
    for (int i = 0; i < RDS_SCRIPT__COUNT; i++) {
        if (redisAsyncCommand(c->ac, script_loaded, &r->refs[i], "SCRIPT LOAD %s",
                              rds_script_source[i]) != REDIS_OK) {
            rdsconn_drop(c, "cannot send SCRIPT LOAD");
            return;
        }
    }
    setup_step(r);
}

static void rds_lost(rdsconn *c) {
    rds *r = (rds *)c;
    r->ready = 0;
    r->setup_left = 0;
}

rds *rds_new(loop *l, const conncfg_redis *cfg, err_t *e) {
    rds *r = agg_calloc(1, sizeof *r);
    if (!r) {
        err_nomem(e);
        return NULL;
    }
    if (rdsconn_init(&r->c, l, cfg, "redis", rds_connected, rds_lost, e) != AGG_OK) {
        agg_free(r);
        return NULL;
    }
    for (int i = 0; i < RDS_SCRIPT__COUNT; i++) {
        r->refs[i].r = r;
        r->refs[i].id = i;
    }
    rdsconn_start(&r->c);
    return r;
}

void rds_free(rds *r) {
    if (!r) return;
    rdsconn_close(&r->c);
    agg_free(r);
}

int rds_ready(const rds *r) { return r && r->ready && r->c.ac != NULL; }

static void command_reply(redisAsyncContext *ac, void *reply, void *arg) {
    pending *p = arg;
    redisReply *rep = reply;
    if (rep && p->script >= 0 && !p->retried && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* The script cache was flushed (SCRIPT FLUSH, restart, failover):
         * load it and run the same EVALSHA again; Redis keeps the order. */
        p->retried = 1;
        script_ref *ref = &p->r->refs[p->script];
        if (redisAsyncCommand(ac, script_reloaded, ref, "SCRIPT LOAD %s",
                              rds_script_source[p->script]) == REDIS_OK &&
            redisAsyncCommandArgv(ac, command_reply, p, p->argc, p->argv, p->lens) == REDIS_OK)
            return;
        rep = NULL;
    }
    /* The primary moved (failover, or a server demoted under us): reconnect and look it up;
     * the caller gets the error and retries as for any other. */
    if (rdsha_is_readonly(rep)) rdsconn_drop(&p->r->c, "READONLY: the server is a replica now");
    if (rep && p->sent_ns && p->r->observer)
        p->r->observer(p->command, (double)(loop_now_ns() - p->sent_ns) / 1e9, p->r->observer_arg);
    p->cb(rep, p->arg);
    log_ctx_clear(); /* one read serves many sessions' replies */
    agg_free(p);
}

void rds_set_observer(rds *r, rds_observer_cb *cb, void *arg) {
    r->observer = cb;
    r->observer_arg = arg;
}

int rds_call_command(const rds_call *c) {
    if (c->script >= 0 && c->script < RDS_SCRIPT__COUNT) return c->script;
    if (c->script == RDS_PLAIN_COMMAND && c->argc > 0)
        for (size_t i = 0; i < sizeof plain_commands / sizeof plain_commands[0]; i++)
            if (strcasecmp(c->argv[0], plain_commands[i]) == 0) return RDS_CMD_HMGET + (int)i;
    return RDS_CMD_OTHER;
}

const char *rds_command_name(int command) {
    if (command >= 0 && command < RDS_SCRIPT__COUNT) return rds_script_name[command];
    if (command >= RDS_CMD_HMGET && command < RDS_CMD_OTHER)
        return plain_commands[command - RDS_CMD_HMGET];
    return "other";
}

static pending *pending_new(rds *r, rds_reply_cb *cb, void *arg, size_t extra) {
    pending *p = agg_malloc(sizeof *p + extra);
    if (!p) return NULL;
    p->r = r;
    p->cb = cb;
    p->arg = arg;
    p->script = -1;
    p->command = RDS_CMD_OTHER;
    p->sent_ns = r->observer ? loop_now_ns() : 0;
    p->retried = 0;
    p->argc = 0;
    p->argv = NULL;
    p->lens = NULL;
    return p;
}

int rds_command(rds *r, rds_reply_cb *cb, void *arg, err_t *e, const char *fmt, ...) {
    if (!rds_ready(r)) return err_set(e, "redis not connected");
    pending *p = pending_new(r, cb, arg, 0);
    if (!p) return err_nomem(e);
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->c.ac, command_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        agg_free(p);
        return err_set(e, "redis: cannot send the command (out of memory or bad format)");
    }
    return AGG_OK;
}

void rds_call_begin_script(rds_call *c, enum rds_script_id id, int nkeys) {
    c->script = (int)id;
    c->nkeys = nkeys;
    c->argc = 0;
    c->invalid = (int)id < 0 || id >= RDS_SCRIPT__COUNT || nkeys < 0;
}

void rds_call_begin_command(rds_call *c) {
    c->script = RDS_PLAIN_COMMAND;
    c->nkeys = 0;
    c->argc = 0;
    c->invalid = 0;
}

void rds_call_push(rds_call *c, const char *s) {
    if (c->argc == RDS_CALL_MAX_ARGV || !s) {
        c->invalid = 1;
        return;
    }
    c->argv[c->argc] = s;
    c->lens[c->argc++] = strlen(s);
}

const char *rds_call_name(const rds_call *c) {
    if (c->script >= 0 && c->script < RDS_SCRIPT__COUNT) return rds_script_name[c->script];
    return c->argc > 0 ? c->argv[0] : "(empty command)";
}

int rds_call_send(rds *r, const rds_call *c, rds_reply_cb *cb, void *arg, err_t *e) {
    int script = c->script >= 0;
    if (c->invalid || (!script && c->argc == 0) || (script && c->nkeys > c->argc))
        return err_set(e, "redis: malformed call %s", rds_call_name(c));
    if (!rds_ready(r)) return err_set(e, "redis not connected");
    /* EVALSHA <sha> <numkeys> then the call's words. */
    int argc = c->argc + (script ? 3 : 0);
    char numkeys[16];
    int numkeys_len = snprintf(numkeys, sizeof numkeys, "%d", c->nkeys);
    size_t bytes = script ? sizeof "EVALSHA" + 41 + (size_t)numkeys_len + 1 : 0;
    for (int i = 0; i < c->argc; i++) bytes += c->lens[i] + 1;
    size_t table = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    pending *p = pending_new(r, cb, arg, table + bytes);
    if (!p) return err_nomem(e);
    /* One block: pending, argv[argc], lens[argc], then the argument bytes. */
    p->script = script ? c->script : -1;
    p->command = rds_call_command(c);
    p->argc = argc;
    p->argv = (const char **)(p + 1);
    p->lens = (size_t *)(p->argv + argc);
    char *buf = (char *)(p->lens + argc);
    int k = 0;
#define PUT(ptr, n)                                                                                \
    do {                                                                                           \
        memcpy(buf, (ptr), (n));                                                                   \
        buf[(n)] = '\0';                                                                           \
        p->argv[k] = buf;                                                                          \
        p->lens[k++] = (n);                                                                        \
        buf += (n) + 1;                                                                            \
    } while (0)
    if (script) {
        PUT("EVALSHA", sizeof "EVALSHA" - 1);
        PUT(r->sha[c->script], (size_t)40);
        PUT(numkeys, (size_t)numkeys_len);
    }
    for (int i = 0; i < c->argc; i++) PUT(c->argv[i], c->lens[i]);
#undef PUT
    if (redisAsyncCommandArgv(r->c.ac, command_reply, p, argc, p->argv, p->lens) != REDIS_OK) {
        agg_free(p);
        return err_nomem(e);
    }
    return AGG_OK;
}
