/* rds: Redis commands and Lua scripts by EVALSHA on the event loop; pub/sub via rdssub.h. */
#ifndef AGG_RDS_H
#define AGG_RDS_H

#include <stddef.h>

#include "err.h"
#include "loop.h"
#include "rdssub.h"      /* pub/sub, implemented in rdssub.c */
#include "scripts_gen.h" /* generated from the .lua files in libagg/scripts: enum rds_script_id */

struct redisReply;

typedef struct rds rds;

/* reply is borrowed for the call only; NULL when the command could not be
 * done (disconnected, connection lost before the answer). */
typedef void rds_reply_cb(struct redisReply *reply, void *arg);

/* url: redis://[:password@]host:port[/db]. Connects asynchronously and keeps
 * reconnecting (backoff up to 1 s) for the connection's lifetime; scripts
 * are (re)loaded with SCRIPT LOAD after each connect. NULL with e filled only
 * when url is invalid or out of memory. */
rds *rds_new(loop *l, const char *url, err_t *e);
/* Closes; pending callbacks get reply NULL. Not from inside one of r's own
 * callbacks. */
void rds_free(rds *r);
/* 1 when connected and scripts are loaded. */
int rds_ready(const rds *r);

/* Sends a command (hiredis format string). AGG_ERR (cb not called) when not
 * connected. Otherwise cb runs exactly once. */
int rds_command(rds *r, rds_reply_cb *cb, void *arg, const char *fmt, ...);
/* Same with an argument vector (binary-safe). */
int rds_command_argv(rds *r, rds_reply_cb *cb, void *arg, int argc, const char **argv,
                     const size_t *lens);
/* Runs a script by EVALSHA; on NOSCRIPT it loads the script and retries
 * once. keys and args as for EVALSHA. Same return rules as rds_command. */
int rds_script(rds *r, enum rds_script_id id, rds_reply_cb *cb, void *arg, int nkeys,
               const char **keys, int nargs, const char **args, const size_t *arg_lens);

/* Fills the four key names every session script takes, in order: meta, out,
 * log, deadlines (buffers of RDS_KEY_MAX bytes). */
#define RDS_KEY_MAX 96
void rds_session_keys(const char *correlation_id, char keys[4][RDS_KEY_MAX]);
/* Fills the session's pub/sub channel name (agg:{cid}:ev). */
void rds_session_channel(const char *correlation_id, char channel[RDS_KEY_MAX]);

/* pub/sub (rds_sub, rds_subscribe, ...) is declared in rdssub.h, included above. */

#endif
