/* rds: Redis commands and Lua scripts by EVALSHA on the event loop; pub/sub via rdssub.h. */
#ifndef AGG_RDS_H
#define AGG_RDS_H

#include <stddef.h>

#include "conncfg.h"
#include "err.h"
#include "loop.h"
#include "rdssub.h"      /* pub/sub, implemented in rdssub.c */
#include "scripts_gen.h" /* generated from the .lua files in libagg/scripts: enum rds_script_id */

struct redisReply;

typedef struct rds rds;

/* reply is borrowed for the call only; NULL when the command could not be
 * done (disconnected, connection lost before the answer). */
typedef void rds_reply_cb(struct redisReply *reply, void *arg);

/* cfg (checked by conncfg_redis_check, copied): cfg->url redis://[:password@]host:port[/db], or
 * the primary cfg->sentinels name; cfg->password, when not NULL, is sent with AUTH instead of
 * the URL's. Connects asynchronously and keeps reconnecting (backoff up to 500 ms) for the
 * connection's lifetime; a -READONLY reply (the server became a replica) makes it reconnect
 * (and look the primary up again). Scripts are (re)loaded with SCRIPT LOAD after each
 * connect. NULL with e filled only when the url is invalid or out of memory. */
rds *rds_new(loop *l, const conncfg_redis *cfg, err_t *e);
/* Closes; pending callbacks get reply NULL. Not from inside one of r's own
 * callbacks. */
void rds_free(rds *r);
/* 1 when connected and scripts are loaded. */
int rds_ready(const rds *r);

/* Sends a command (hiredis format string). AGG_ERR with e filled (cb not
 * called) when not connected or out of memory. Otherwise cb runs exactly
 * once, later, from the loop. */
int rds_command(rds *r, rds_reply_cb *cb, void *arg, err_t *e, const char *fmt, ...);

/* One command or EVALSHA, described before it is sent: a plain command's
 * words, or a script's keys then arguments. The strings are borrowed until
 * rds_call_send (or a retrying sender) has copied them. Scripts are built
 * with the generated typed builders rds_call_<script>() in scripts_gen.h;
 * plain commands with rds_call_begin_command and rds_call_push. */
#define RDS_CALL_MAX_ARGV 16
#define RDS_PLAIN_COMMAND (-1)
typedef struct rds_call {
    int script;  /* enum rds_script_id, or RDS_PLAIN_COMMAND */
    int nkeys;   /* scripts: how many of argv are keys */
    int argc;    /* entries of argv in use */
    int invalid; /* more than RDS_CALL_MAX_ARGV pushed, or a NULL string */
    const char *argv[RDS_CALL_MAX_ARGV];
    size_t lens[RDS_CALL_MAX_ARGV];
} rds_call;

/* Starts *c as EVALSHA of script id with nkeys keys to follow (used by the generated builders). */
void rds_call_begin_script(rds_call *c, enum rds_script_id id, int nkeys);
/* Starts *c as a plain command; its name is the first word pushed. */
void rds_call_begin_command(rds_call *c);
/* Appends a NUL-terminated word (borrowed). */
void rds_call_push(rds_call *c, const char *s);
/* What to log for c: the script's name or the command's first word. Static or borrowed from c. */
const char *rds_call_name(const rds_call *c);

/* Commands as the latency metric names them (a bounded set): the scripts (enum rds_script_id,
 * 0..RDS_SCRIPT__COUNT-1), then the plain commands this project sends, then every other one. */
enum {
    RDS_CMD_HMGET = RDS_SCRIPT__COUNT,
    RDS_CMD_XRANGE,
    RDS_CMD_ZRANGEBYSCORE,
    RDS_CMD_OTHER,
    RDS_COMMAND__COUNT
};
/* The command id of c: its script, one of the plain commands above (named by its first word,
 * any case), else RDS_CMD_OTHER. */
int rds_call_command(const rds_call *c);
/* The label of a command id: the script's name, "HMGET", "XRANGE", "ZRANGEBYSCORE", or "other"
 * (also for an id out of range). Static. */
const char *rds_command_name(int command);

/* Told of each command's round trip: command an id as above, seconds from the send to its
 * reply (a NOSCRIPT reload and rerun included). Only commands that got a reply are told. */
typedef void rds_observer_cb(int command, double seconds, void *arg);
/* Sets r's observer (cb NULL: none); arg is passed to it. Costs two clock reads per command
 * while set. */
void rds_set_observer(rds *r, rds_observer_cb *cb, void *arg);

/* Sends c (its strings are copied). A script runs by EVALSHA; on NOSCRIPT
 * it is loaded and run again once. AGG_ERR with e filled (cb not called)
 * when c is invalid, Redis is not connected, or out of memory. Otherwise
 * cb runs exactly once, later, from the loop. */
int rds_call_send(rds *r, const rds_call *c, rds_reply_cb *cb, void *arg, err_t *e);

/* pub/sub (rds_sub, rds_subscribe, ...) is declared in rdssub.h, included above. */

#endif
