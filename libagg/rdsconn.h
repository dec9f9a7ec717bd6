/* rdsconn: one hiredis async connection on the event loop, to a redis:// URL or to the primary
 * the sentinels name, reconnected with backoff. */
#ifndef AGG_RDSCONN_H
#define AGG_RDSCONN_H

#include <hiredis/async.h>

#include "conncfg.h"
#include "err.h"
#include "loop.h"
#include "rdsha.h"

/* A parsed redis://[user[:password]@ or :password@]host[:port][/db]; owns its strings. */
typedef struct rdsconn_url {
    char *host;
    int port;
    char *user;     /* NULL: AUTH <password> */
    char *password; /* NULL: no AUTH */
    int db;
} rdsconn_url;

typedef struct rdsconn rdsconn;
/* Owner hooks; they run on the loop, from inside hiredis callbacks. */
typedef void rdsconn_hook(rdsconn *c);

/* Embedded by its owner (rds, rds_sub), usually as the first member so the
 * hooks can cast back. Owners read ac, up and closing; the rest is private. */
struct rdsconn {
    loop *l;
    rdsconn_url url; /* with sentinels: the primary last named (host NULL before), db 0 */
    const char *what;      /* for log lines; borrowed, must outlive the conn */
    redisAsyncContext *ac; /* NULL while not connected */
    int fd;
    unsigned mask; /* LOOP_READ/LOOP_WRITE interest given to loop_watch */
    loop_flush flush; /* queued when a command waits to be written (see ev_add_write) */
    int flushing;     /* inside flush_writes: a write that did not finish waits for EPOLLOUT */
    int closing;   /* rdsconn_close in progress: no reconnect */
    int up;        /* setup finished on the current connection */
    int lost_logged;
    long long backoff;
    loop_timer *retry;
    loop_timer *setup_timer;
    loop_timer *drop_timer;
    rdsconn_hook *on_connected; /* TCP connected: send the setup commands */
    rdsconn_hook *on_lost;      /* connection gone (ac already NULL) */
    /* Sentinel mode (n_sentinels > 0): ask a sentinel for the primary, connect to it, check
     * ROLE, then hand the connection to the owner (on_connected). */
    conncfg_hostport *sentinels; /* owned copy */
    size_t n_sentinels;
    char *master_name;       /* owned */
    char *sentinel_password; /* owned; NULL: no AUTH to the sentinels */
    rdsha_rotation rot;
    enum rdsha_phase phase; /* what the current connection is for */
    int named;              /* ASK: the sentinel named a primary */
    int authed;             /* AUTH already sent on this connection (ROLE check) */
    int at_once;            /* the next connect skips the backoff */
};

/* Parses url into u (its strings are malloc'd; free with rdsconn_url_free).
 * AGG_ERR with e filled and u zeroed when url is invalid or out of memory. */
int rdsconn_url_parse(const char *url, rdsconn_url *u, err_t *e);
/* Frees u's strings and zeroes it; safe on a zeroed u. */
void rdsconn_url_free(rdsconn_url *u);

/* Prepares c (does not connect) for where cfg says (checked by conncfg_redis_check; copied):
 * cfg->url, or with sentinels the primary they name; stores the hooks. cfg->password (NULL:
 * the URL's, if any) is sent with AUTH to the data node, in place of the URL's, for a password
 * that cannot be written in a URL. what is borrowed for c's lifetime. AGG_ERR with e filled
 * when the url is invalid or out of memory; nothing to free then. */
int rdsconn_init(rdsconn *c, loop *l, const conncfg_redis *cfg, const char *what,
                 rdsconn_hook *on_connected, rdsconn_hook *on_lost, err_t *e);
/* Starts connecting; on failure retries with backoff (100 ms doubling to 500 ms)
 * for as long as c is not closed. on_connected runs once TCP is up (with sentinels: once the
 * server named answered ROLE master); the owner must then call rdsconn_up within 5 s or the
 * connection is dropped. A lost primary is looked up again through the sentinels. */
void rdsconn_start(rdsconn *c);
/* Called by the owner when setup on a fresh connection has finished: resets
 * the backoff and cancels the setup timeout. */
void rdsconn_up(rdsconn *c);
/* Closes the current connection soon (never from inside hiredis, where
 * freeing the context is unsafe in the connect callback), then reconnects.
 * why is borrowed for the call (logged once per outage). */
void rdsconn_drop(rdsconn *c, const char *why);
/* Frees the connection and the parsed URL: pending reply callbacks get NULL,
 * on_lost runs (with closing set), no reconnect. c's memory is the owner's. */
void rdsconn_close(rdsconn *c);
/* Sends AUTH (unless the ROLE check sent it already; and SELECT when select_db and db != 0)
 * with cb/arg as reply callback; returns how many commands were sent, -1 when sending failed.
 * Only while connected (c->ac non-NULL). */
int rdsconn_send_auth(rdsconn *c, redisCallbackFn *cb, void *arg, int select_db);

#endif
