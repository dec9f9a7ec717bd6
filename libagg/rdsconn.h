/* rdsconn: one hiredis async connection on the event loop, from a redis:// URL, reconnected with
 * backoff. */
#ifndef AGG_RDSCONN_H
#define AGG_RDSCONN_H

#include <hiredis/async.h>

#include "err.h"
#include "loop.h"

/* A parsed redis://[[user]:password@]host[:port][/db]; owns its strings. */
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
    rdsconn_url url;
    const char *what;      /* for log lines; borrowed, must outlive the conn */
    redisAsyncContext *ac; /* NULL while not connected */
    int fd;
    unsigned mask; /* LOOP_READ/LOOP_WRITE interest given to loop_watch */
    int closing;   /* rdsconn_close in progress: no reconnect */
    int up;        /* setup finished on the current connection */
    int lost_logged;
    long long backoff;
    loop_timer *retry;
    loop_timer *setup_timer;
    loop_timer *drop_timer;
    rdsconn_hook *on_connected; /* TCP connected: send the setup commands */
    rdsconn_hook *on_lost;      /* connection gone (ac already NULL) */
};

/* Parses url into u (its strings are malloc'd; free with rdsconn_url_free).
 * AGG_ERR with e filled and u zeroed when url is invalid or out of memory. */
int rdsconn_url_parse(const char *url, rdsconn_url *u, err_t *e);
/* Frees u's strings and zeroes it; safe on a zeroed u. */
void rdsconn_url_free(rdsconn_url *u);

/* Prepares c (does not connect): parses url, stores the hooks. password (copied; NULL:
 * the URL's, if any) replaces the URL's password in AUTH, for a password that cannot be
 * written in a URL. what is borrowed for c's lifetime. AGG_ERR with e filled when url is
 * invalid or out of memory; nothing to free then. */
int rdsconn_init(rdsconn *c, loop *l, const char *url, const char *password, const char *what,
                 rdsconn_hook *on_connected, rdsconn_hook *on_lost, err_t *e);
/* Starts connecting; on failure retries with backoff (100 ms doubling to 1 s)
 * for as long as c is not closed. on_connected runs once TCP is up; the owner
 * must then call rdsconn_up within 5 s or the connection is dropped. */
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
/* Sends AUTH (and SELECT when select_db and db != 0) with cb/arg as reply
 * callback; returns how many commands were sent, -1 when sending failed.
 * Only while connected (c->ac non-NULL). */
int rdsconn_send_auth(rdsconn *c, redisCallbackFn *cb, void *arg, int select_db);

#endif
