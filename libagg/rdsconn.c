/* rdsconn: one hiredis async connection on the event loop, to a redis:// URL or to the primary
 * the sentinels name, reconnected with backoff. */
#include "rdsconn.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "tcplive.h"

#define BACKOFF_MIN_MS   100
/* New sessions must work within a second of Redis being back: a reconnect at most 500 ms
 * after it returned leaves room for the setup. */
#define BACKOFF_MAX_MS   500
#define SETUP_TIMEOUT_MS 5000 /* connect + AUTH/SELECT/SCRIPT LOAD must finish within this */
/* A sentinel answers from memory: one that does not within this is skipped for the next. */
#define SENTINEL_TIMEOUT_MS 1000

/* ------------------------------------------------------------------------ */
/* URL: redis://[user[:password]@ | :password@]host[:port][/db]         */

void rdsconn_url_free(rdsconn_url *u) {
    agg_free(u->host);
    agg_free(u->user);
    agg_free(u->password);
    memset(u, 0, sizeof *u);
}

static char *dup_range(const char *s, size_t n) {
    char *d = agg_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int parse_int(const char *s, size_t n, long min, long max, long *out) {
    if (n == 0 || n > 10) return AGG_ERR;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return AGG_ERR;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return AGG_ERR;
    *out = v;
    return AGG_OK;
}

int rdsconn_url_parse(const char *url, rdsconn_url *u, err_t *e) {
    memset(u, 0, sizeof *u);
    u->port = 6379;
    static const char scheme[] = "redis://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return err_set(e, "redis url must start with redis://");
    const char *p = url + sizeof scheme - 1;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        /* redis://user@host names the ACL user alone: its password comes from
         * REDIS_PASSWORD (rdsconn_init refuses the user without one). */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        if (user_end > p && !(u->user = dup_range(p, (size_t)(user_end - p)))) goto oom;
        if (colon && !(u->password = dup_range(colon + 1, (size_t)(at - colon - 1)))) goto oom;
        if (!colon && !u->user) goto bad; /* redis://@host */
        p = at + 1;
    }
    const char *host_end;
    const char *port_start = NULL;
    if (*p == '[') { /* [ipv6]:port */
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) goto bad;
        if (!(u->host = dup_range(p + 1, (size_t)(close - p - 1)))) goto oom;
        host_end = close + 1;
        if (host_end < end) {
            if (*host_end != ':') goto bad;
            port_start = host_end + 1;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
        if (!(u->host = dup_range(p, (size_t)(host_end - p)))) goto oom;
        if (colon) port_start = colon + 1;
    }
    if (u->host[0] == '\0') goto bad;
    if (port_start) {
        long port;
        if (parse_int(port_start, (size_t)(end - port_start), 1, 65535, &port) != AGG_OK) goto bad;
        u->port = (int)port;
    }
    if (*end == '/' && end[1] != '\0') {
        long db;
        if (parse_int(end + 1, strlen(end + 1), 0, 1000000, &db) != AGG_OK) goto bad;
        u->db = (int)db;
    } else if (*end != '\0' && strcmp(end, "/") != 0) {
        goto bad;
    }
    return AGG_OK;
bad:
    rdsconn_url_free(u);
    return err_set(e, "invalid redis url (want redis://[:password@]host[:port][/db])");
oom:
    rdsconn_url_free(u);
    return err_nomem(e);
}

/* ------------------------------------------------------------------------ */
/* rdsconn: one hiredis async context on the loop, reconnected with backoff. */

static int asking(const rdsconn *c) { return c->n_sentinels > 0 && c->phase == RDSHA_ASK; }

/* Where the current (or next) connection goes: a sentinel, or the data node. */
static const char *host_of(const rdsconn *c) {
    return asking(c) ? c->sentinels[c->rot.next].host : c->url.host;
}
static int port_of(const rdsconn *c) {
    return asking(c) ? c->sentinels[c->rot.next].port : c->url.port;
}

static void io_cb(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)fd;
    rdsconn *c = arg;
    /* Each handler may free the context; c->ac is NULL once it has. */
    if ((events & (LOOP_WRITE | LOOP_HUP)) && c->ac) redisAsyncHandleWrite(c->ac);
    if ((events & (LOOP_READ | LOOP_HUP)) && c->ac) redisAsyncHandleRead(c->ac);
}

static void drop_now(loop *l, void *arg) {
    (void)l;
    rdsconn *c = arg;
    c->drop_timer = NULL;
    if (c->ac) redisAsyncFree(c->ac); /* outside hiredis callbacks: frees at once */
}

static void close_soon(rdsconn *c) {
    if (!c->ac || c->drop_timer) return;
    c->drop_timer = loop_timer_add(c->l, 0, drop_now, c);
    if (!c->drop_timer) log_error("%s: out of memory closing the connection", c->what);
}

/* Closes the current connection soon (never from inside hiredis, where
 * freeing the context is unsafe in the connect callback); it reconnects. */
void rdsconn_drop(rdsconn *c, const char *why) {
    if (!c->ac || c->drop_timer) return;
    if (!c->lost_logged)
        log_warn("%s %s:%d: %s; reconnecting", c->what, host_of(c), port_of(c), why);
    c->lost_logged = 1;
    close_soon(c);
}

static void ev_set(rdsconn *c, unsigned mask) {
    if (mask == c->mask || c->fd < 0) return;
    if (mask == 0) {
        loop_unwatch(c->l, c->fd);
    } else {
        err_t e;
        if (loop_watch(c->l, c->fd, mask, io_cb, c, &e) != AGG_OK) {
            rdsconn_drop(c, e.text);
            return;
        }
    }
    c->mask = mask;
}

/* The hiredis event hooks; d is the conn. */
static void ev_add_read(void *d) { ev_set(d, ((rdsconn *)d)->mask | LOOP_READ); }
static void ev_del_read(void *d) { ev_set(d, ((rdsconn *)d)->mask & ~(unsigned)LOOP_READ); }
/* A command on a connected context is written at the end of the loop's pass (flush_writes),
 * together with every other command of that pass, instead of waiting for EPOLLOUT: that wait
 * cost two epoll_ctl and one more wake-up per command. Connecting, and a write the socket did
 * not take whole, still wait for EPOLLOUT. */
static void ev_add_write(void *d) {
    rdsconn *c = d;
    if (!c->flushing && !(c->mask & LOOP_WRITE) && c->ac && (c->ac->c.flags & REDIS_CONNECTED)) {
        loop_flush_queue(c->l, &c->flush);
        return;
    }
    ev_set(c, c->mask | LOOP_WRITE);
}
static void ev_del_write(void *d) { ev_set(d, ((rdsconn *)d)->mask & ~(unsigned)LOOP_WRITE); }

static void flush_writes(loop *l, void *arg) {
    (void)l;
    rdsconn *c = arg;
    if (!c->ac) return;
    c->flushing = 1;
    redisAsyncHandleWrite(c->ac); /* may free the context (a write error) */
    c->flushing = 0;
}

static void on_retry(loop *l, void *arg) {
    (void)l;
    rdsconn *c = arg;
    c->retry = NULL;
    rdsconn_start(c);
}

static void schedule_retry(rdsconn *c) {
    if (c->closing || c->retry) return;
    int at_once = c->at_once;
    c->at_once = 0;
    c->retry = loop_timer_add(c->l, at_once ? 0 : c->backoff, on_retry, c);
    if (!c->retry) log_error("%s: out of memory scheduling a reconnect", c->what);
    if (!at_once) c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
}

/* hiredis calls this exactly once per context, from redisAsyncFree or on a
 * connection error, after every pending reply callback got NULL. */
static void ev_cleanup(void *d) {
    rdsconn *c = d;
    if (c->mask && c->fd >= 0) loop_unwatch(c->l, c->fd);
    loop_flush_cancel(&c->flush);
    c->mask = 0;
    c->fd = -1;
    c->ac = NULL;
    if (c->n_sentinels && !c->closing) {
        rdsha_next nx = rdsha_after_close(&c->rot, c->phase, c->named, c->up);
        c->phase = nx.phase;
        c->at_once = nx.at_once;
    }
    c->named = 0;
    c->authed = 0;
    c->up = 0;
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    loop_timer_cancel(c->l, c->drop_timer);
    c->drop_timer = NULL;
    c->on_lost(c);
    schedule_retry(c);
}

/* ---- Sentinel mode: ask a sentinel, then check that the server named is the primary. ---- */

static void ask_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rdsconn *c = arg;
    if (!reply) return;
    conncfg_hostport hp;
    err_t e;
    if (rdsha_master_addr_reply(reply, &hp, &e) != AGG_OK) {
        rdsconn_drop(c, e.text);
        return;
    }
    if (!c->url.host || strcmp(c->url.host, hp.host) != 0 || c->url.port != hp.port) {
        char *host = agg_strdup(hp.host);
        if (!host) {
            rdsconn_drop(c, "out of memory");
            return;
        }
        log_info("%s: sentinel %s:%d names the primary %s:%d", c->what, host_of(c), port_of(c),
                 hp.host, hp.port);
        agg_free(c->url.host);
        c->url.host = host;
        c->url.port = hp.port;
    }
    c->named = 1;
    close_soon(c); /* ev_cleanup connects to the primary at once */
}

/* AUTH to a sentinel or the data node before the question: an error ends the connection. */
static void pre_auth_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR) rdsconn_drop(arg, rep->str);
}

static void ask_sentinel(rdsconn *c) {
    if (c->sentinel_password &&
        redisAsyncCommand(c->ac, pre_auth_reply, c, "AUTH %s", c->sentinel_password) != REDIS_OK) {
        rdsconn_drop(c, "cannot send AUTH");
        return;
    }
    if (redisAsyncCommand(c->ac, ask_reply, c, "SENTINEL get-master-addr-by-name %s",
                          c->master_name) != REDIS_OK)
        rdsconn_drop(c, "cannot send SENTINEL get-master-addr-by-name");
}

static void role_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rdsconn *c = arg;
    if (!reply || c->drop_timer) return; /* gone, or AUTH failed */
    err_t e;
    if (rdsha_role_reply(reply, &e) != AGG_OK) {
        rdsconn_drop(c, e.text);
        return;
    }
    c->on_connected(c);
}

static void check_role(rdsconn *c) {
    int n = rdsconn_send_auth(c, pre_auth_reply, c, 0);
    c->authed = 1;
    if (n < 0 || redisAsyncCommand(c->ac, role_reply, c, "ROLE") != REDIS_OK)
        rdsconn_drop(c, "cannot send AUTH/ROLE");
}

static void on_connect(const redisAsyncContext *ac, int status) {
    rdsconn *c = ac->data;
    if (status != REDIS_OK) {
        if (!c->lost_logged)
            log_warn("%s %s:%d: connect failed: %s; retrying", c->what,
                     ac->c.tcp.host ? ac->c.tcp.host : "?", ac->c.tcp.port, ac->c.errstr);
        c->lost_logged = 1;
        return; /* hiredis frees the context next; ev_cleanup reconnects */
    }
    /* A silent partition leaves a connection waiting for minutes of retransmissions while
     * readiness stays UP; tcplive makes the kernel fail it within TCP_USER_TIMEOUT_MS, so
     * readiness turns DOWN, pending replies get NULL (and are retried) and we reconnect. */
    err_t e;
    if (tcplive_timeout_ms() == 0)
        redisEnableKeepAlive((redisContext *)&ac->c);
    else if (tcplive_apply(ac->c.fd, &e) != AGG_OK)
        log_warn("%s %s:%d: %s", c->what, ac->c.tcp.host ? ac->c.tcp.host : "?", ac->c.tcp.port,
                 e.text);
    if (asking(c))
        ask_sentinel(c);
    else if (c->n_sentinels)
        check_role(c);
    else
        c->on_connected(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    rdsconn *c = ac->data;
    if (status != REDIS_OK && !c->closing && !c->lost_logged) {
        /* The context's own address: ev_cleanup may already have moved c on to a sentinel. */
        log_warn("%s %s:%d: connection lost: %s; reconnecting", c->what,
                 ac->c.tcp.host ? ac->c.tcp.host : "?", ac->c.tcp.port, ac->c.errstr);
        c->lost_logged = 1;
    }
}

static void on_setup_timeout(loop *l, void *arg) {
    (void)l;
    rdsconn *c = arg;
    c->setup_timer = NULL;
    if (!c->ac) return;
    if (!c->lost_logged)
        log_warn("%s %s:%d: no answer in time; reconnecting", c->what, host_of(c), port_of(c));
    c->lost_logged = 1;
    redisAsyncFree(c->ac);
}

void rdsconn_start(rdsconn *c) {
    redisAsyncContext *ac = redisAsyncConnect(host_of(c), port_of(c));
    if (!ac || ac->err) {
        if (!c->lost_logged)
            log_warn("%s %s:%d: %s; retrying", c->what, host_of(c), port_of(c),
                     ac ? ac->errstr : "out of memory");
        c->lost_logged = 1;
        if (ac) redisAsyncFree(ac); /* no event hooks yet: nothing else runs */
        if (c->n_sentinels) {
            rdsha_next nx = rdsha_after_close(&c->rot, c->phase, 0, 0);
            c->phase = nx.phase;
            c->at_once = nx.at_once;
        }
        schedule_retry(c);
        return;
    }
    c->ac = ac;
    c->fd = ac->c.fd;
    c->mask = 0;
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* registers write interest */
    c->setup_timer =
        loop_timer_add(c->l, asking(c) ? SENTINEL_TIMEOUT_MS : SETUP_TIMEOUT_MS, on_setup_timeout, c);
}

/* Called by the owner when setup on a fresh connection has finished. */
void rdsconn_up(rdsconn *c) {
    c->up = 1;
    c->backoff = BACKOFF_MIN_MS;
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    log_info("%s %s:%d: connected%s", c->what, c->url.host, c->url.port,
             c->n_sentinels ? " (the primary)" : "");
    c->lost_logged = 0;
}

/* Copies the sentinel settings of cfg into c. */
static int init_sentinels(rdsconn *c, const conncfg_redis *cfg, err_t *e) {
    c->sentinels = agg_calloc(cfg->n_sentinels, sizeof *c->sentinels);
    if (!c->sentinels || !(c->master_name = agg_strdup(cfg->master_name)) ||
        (cfg->sentinel_password && !(c->sentinel_password = agg_strdup(cfg->sentinel_password))))
        return err_nomem(e);
    memcpy(c->sentinels, cfg->sentinels, cfg->n_sentinels * sizeof *c->sentinels);
    c->n_sentinels = cfg->n_sentinels;
    rdsha_rotation_init(&c->rot, c->n_sentinels);
    c->phase = RDSHA_ASK;
    c->url.port = 0;
    return AGG_OK;
}

static void free_settings(rdsconn *c) {
    rdsconn_url_free(&c->url);
    agg_free(c->sentinels);
    agg_free(c->master_name);
    agg_free(c->sentinel_password);
    c->sentinels = NULL;
    c->master_name = c->sentinel_password = NULL;
    c->n_sentinels = 0;
}

int rdsconn_init(rdsconn *c, loop *l, const conncfg_redis *cfg, const char *what,
                 rdsconn_hook *on_connected, rdsconn_hook *on_lost, err_t *e) {
    memset(c, 0, sizeof *c);
    loop_flush_init(&c->flush, flush_writes, c);
    c->phase = RDSHA_PRIMARY;
    if (cfg->n_sentinels > 0) {
        if (init_sentinels(c, cfg, e) != AGG_OK) {
            free_settings(c);
            return AGG_ERR;
        }
    } else if (rdsconn_url_parse(cfg->url, &c->url, e) != AGG_OK) {
        return AGG_ERR;
    }
    if (cfg->password) {
        agg_free(c->url.password);
        if (!(c->url.password = agg_strdup(cfg->password))) {
            free_settings(c);
            return err_nomem(e);
        }
    }
    if (c->url.user && !c->url.password) {
        err_set(e, "REDIS_URL names the ACL user '%s' without a password: give it in "
                   "REDIS_PASSWORD (or redis://user:password@...)",
                c->url.user);
        free_settings(c);
        return AGG_ERR;
    }
    c->l = l;
    c->what = what;
    c->fd = -1;
    c->backoff = BACKOFF_MIN_MS;
    c->on_connected = on_connected;
    c->on_lost = on_lost;
    return AGG_OK;
}

/* Frees the connection: pending reply callbacks get NULL, on_lost runs. */
void rdsconn_close(rdsconn *c) {
    c->closing = 1;
    loop_timer_cancel(c->l, c->retry);
    c->retry = NULL;
    if (c->ac) redisAsyncFree(c->ac);
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    loop_timer_cancel(c->l, c->drop_timer);
    c->drop_timer = NULL;
    free_settings(c);
}

/* Sends AUTH (and SELECT when db != 0) with cb/arg as reply callback;
 * returns how many commands were sent, -1 when sending failed. */
int rdsconn_send_auth(rdsconn *c, redisCallbackFn *cb, void *arg, int select_db) {
    int n = 0;
    if (c->url.password && !c->authed) {
        int rc = c->url.user
                     ? redisAsyncCommand(c->ac, cb, arg, "AUTH %s %s", c->url.user, c->url.password)
                     : redisAsyncCommand(c->ac, cb, arg, "AUTH %s", c->url.password);
        if (rc != REDIS_OK) return -1;
        n++;
    }
    if (select_db && c->url.db != 0) {
        if (redisAsyncCommand(c->ac, cb, arg, "SELECT %d", c->url.db) != REDIS_OK) return -1;
        n++;
    }
    return n;
}