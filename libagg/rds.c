/* rds: the command and script client: hiredis commands and Lua scripts by EVALSHA. */
#include "rds.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rdsconn.h"

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
};

/* One caller request; for scripts it keeps the EVALSHA argv for the retry. */
typedef struct pending {
    rds *r;
    rds_reply_cb *cb;
    void *arg;
    int script; /* -1: plain command */
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

rds *rds_new(loop *l, const char *url, err_t *e) {
    rds *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(e, "out of memory");
        return NULL;
    }
    if (rdsconn_init(&r->c, l, url, "redis", rds_connected, rds_lost, e) != AGG_OK) {
        free(r);
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
    free(r);
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
    p->cb(rep, p->arg);
    free(p);
}

static pending *pending_new(rds *r, rds_reply_cb *cb, void *arg, size_t extra) {
    pending *p = malloc(sizeof *p + extra);
    if (!p) return NULL;
    p->r = r;
    p->cb = cb;
    p->arg = arg;
    p->script = -1;
    p->retried = 0;
    p->argc = 0;
    p->argv = NULL;
    p->lens = NULL;
    return p;
}

int rds_command(rds *r, rds_reply_cb *cb, void *arg, const char *fmt, ...) {
    if (!rds_ready(r)) return AGG_ERR;
    pending *p = pending_new(r, cb, arg, 0);
    if (!p) return AGG_ERR;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->c.ac, command_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(p);
        return AGG_ERR;
    }
    return AGG_OK;
}

int rds_command_argv(rds *r, rds_reply_cb *cb, void *arg, int argc, const char **argv,
                     const size_t *lens) {
    if (!rds_ready(r) || argc <= 0) return AGG_ERR;
    pending *p = pending_new(r, cb, arg, 0);
    if (!p) return AGG_ERR;
    if (redisAsyncCommandArgv(r->c.ac, command_reply, p, argc, argv, lens) != REDIS_OK) {
        free(p);
        return AGG_ERR;
    }
    return AGG_OK;
}

int rds_script(rds *r, enum rds_script_id id, rds_reply_cb *cb, void *arg, int nkeys,
               const char **keys, int nargs, const char **args, const size_t *arg_lens) {
    if (!rds_ready(r) || (int)id < 0 || id >= RDS_SCRIPT__COUNT || nkeys < 0 || nargs < 0)
        return AGG_ERR;
    int argc = 3 + nkeys + nargs;
    char numkeys[16];
    int numkeys_len = snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    size_t bytes = 40 + (size_t)numkeys_len + 2 + sizeof "EVALSHA";
    for (int i = 0; i < nkeys; i++) bytes += strlen(keys[i]) + 1;
    for (int i = 0; i < nargs; i++) bytes += (arg_lens ? arg_lens[i] : strlen(args[i])) + 1;
    size_t table = (size_t)argc * (sizeof(char *) + sizeof(size_t));
    pending *p = pending_new(r, cb, arg, table + bytes);
    if (!p) return AGG_ERR;
    /* One block: pending, argv[argc], lens[argc], then the argument bytes. */
    p->script = (int)id;
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
    PUT("EVALSHA", sizeof "EVALSHA" - 1);
    PUT(r->sha[id], (size_t)40);
    PUT(numkeys, (size_t)numkeys_len);
    for (int i = 0; i < nkeys; i++) PUT(keys[i], strlen(keys[i]));
    for (int i = 0; i < nargs; i++) PUT(args[i], arg_lens ? arg_lens[i] : strlen(args[i]));
#undef PUT
    if (redisAsyncCommandArgv(r->c.ac, command_reply, p, argc, p->argv, p->lens) != REDIS_OK) {
        free(p);
        return AGG_ERR;
    }
    return AGG_OK;
}

void rds_session_keys(const char *correlation_id, char keys[4][RDS_KEY_MAX]) {
    snprintf(keys[0], RDS_KEY_MAX, "agg:{%s}:meta", correlation_id);
    snprintf(keys[1], RDS_KEY_MAX, "agg:{%s}:out", correlation_id);
    snprintf(keys[2], RDS_KEY_MAX, "agg:{%s}:log", correlation_id);
    snprintf(keys[3], RDS_KEY_MAX, "agg:deadlines");
}

void rds_session_channel(const char *correlation_id, char channel[RDS_KEY_MAX]) {
    snprintf(channel, RDS_KEY_MAX, "agg:{%s}:ev", correlation_id);
}
