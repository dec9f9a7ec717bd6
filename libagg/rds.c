/* rds: hiredis async connections on the event loop, Lua scripts by EVALSHA, and pub/sub. */
#include "rds.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define SETUP_TIMEOUT_MS 5000 /* connect + AUTH/SELECT/SCRIPT LOAD must finish within this */
#define SUB_BATCH 256         /* channels per SUBSCRIBE when resubscribing */
/* Subscribed for the connection's lifetime, so the subscription count never
 * drops to zero (hiredis 0.14 leaves subscribe mode then and asserts on a
 * late confirmation). Nothing is published on it. */
#define ANCHOR_CHANNEL "agg:rds:anchor"

/* ------------------------------------------------------------------------ */
/* URL: redis://[[user]:password@]host[:port][/db]                           */

typedef struct rds_url {
    char *host;
    int port;
    char *user;     /* NULL: AUTH <password> */
    char *password; /* NULL: no AUTH */
    int db;
} rds_url;

static void url_free(rds_url *u) {
    free(u->host);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

static char *dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
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

static int url_parse(const char *url, rds_url *u, err_t *e) {
    memset(u, 0, sizeof *u);
    u->port = 6379;
    static const char scheme[] = "redis://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return err_set(e, "redis url must start with redis://");
    const char *p = url + sizeof scheme - 1;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) goto bad; /* redis://user@host carries no password */
        if (colon > p && !(u->user = dup_range(p, (size_t)(colon - p)))) goto oom;
        if (!(u->password = dup_range(colon + 1, (size_t)(at - colon - 1)))) goto oom;
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
    url_free(u);
    return err_set(e, "invalid redis url (want redis://[:password@]host[:port][/db])");
oom:
    url_free(u);
    return err_set(e, "out of memory");
}

/* ------------------------------------------------------------------------ */
/* conn: one hiredis async context on the loop, reconnected with backoff.    */

typedef struct conn conn;
typedef void conn_hook(conn *c);

struct conn {
    loop *l;
    rds_url url;
    const char *what; /* for log lines */
    redisAsyncContext *ac;
    int fd;
    unsigned mask; /* LOOP_READ/LOOP_WRITE interest given to loop_watch */
    int closing;   /* rds_free/rds_sub_free in progress: no reconnect */
    int up;        /* setup finished on the current connection */
    int lost_logged;
    long long backoff;
    loop_timer *retry;
    loop_timer *setup_timer;
    loop_timer *drop_timer;
    conn_hook *on_connected; /* TCP connected: send the setup commands */
    conn_hook *on_lost;      /* connection gone (ac already NULL) */
};

static void conn_start(conn *c);

static void io_cb(loop *l, int fd, unsigned events, void *arg) {
    (void)l;
    (void)fd;
    conn *c = arg;
    /* Each handler may free the context; c->ac is NULL once it has. */
    if ((events & (LOOP_WRITE | LOOP_HUP)) && c->ac) redisAsyncHandleWrite(c->ac);
    if ((events & (LOOP_READ | LOOP_HUP)) && c->ac) redisAsyncHandleRead(c->ac);
}

static void drop_now(loop *l, void *arg) {
    (void)l;
    conn *c = arg;
    c->drop_timer = NULL;
    if (c->ac) redisAsyncFree(c->ac); /* outside hiredis callbacks: frees at once */
}

/* Closes the current connection soon (never from inside hiredis, where
 * freeing the context is unsafe in the connect callback); it reconnects. */
static void conn_drop(conn *c, const char *why) {
    if (!c->ac || c->drop_timer) return;
    if (!c->lost_logged)
        log_warn("%s %s:%d: %s; reconnecting", c->what, c->url.host, c->url.port, why);
    c->lost_logged = 1;
    c->drop_timer = loop_timer_add(c->l, 0, drop_now, c);
    if (!c->drop_timer) log_error("%s: out of memory closing the connection", c->what);
}

static void ev_set(conn *c, unsigned mask) {
    if (mask == c->mask || c->fd < 0) return;
    if (mask == 0) {
        loop_unwatch(c->l, c->fd);
    } else {
        err_t e;
        if (loop_watch(c->l, c->fd, mask, io_cb, c, &e) != AGG_OK) {
            conn_drop(c, e.text);
            return;
        }
    }
    c->mask = mask;
}

/* The hiredis event hooks; d is the conn. */
static void ev_add_read(void *d) { ev_set(d, ((conn *)d)->mask | LOOP_READ); }
static void ev_del_read(void *d) { ev_set(d, ((conn *)d)->mask & ~(unsigned)LOOP_READ); }
static void ev_add_write(void *d) { ev_set(d, ((conn *)d)->mask | LOOP_WRITE); }
static void ev_del_write(void *d) { ev_set(d, ((conn *)d)->mask & ~(unsigned)LOOP_WRITE); }

static void on_retry(loop *l, void *arg) {
    (void)l;
    conn *c = arg;
    c->retry = NULL;
    conn_start(c);
}

static void schedule_retry(conn *c) {
    if (c->closing || c->retry) return;
    c->retry = loop_timer_add(c->l, c->backoff, on_retry, c);
    if (!c->retry) log_error("%s: out of memory scheduling a reconnect", c->what);
    c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff * 2;
}

/* hiredis calls this exactly once per context, from redisAsyncFree or on a
 * connection error, after every pending reply callback got NULL. */
static void ev_cleanup(void *d) {
    conn *c = d;
    if (c->mask && c->fd >= 0) loop_unwatch(c->l, c->fd);
    c->mask = 0;
    c->fd = -1;
    c->ac = NULL;
    c->up = 0;
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    loop_timer_cancel(c->l, c->drop_timer);
    c->drop_timer = NULL;
    c->on_lost(c);
    schedule_retry(c);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    conn *c = ac->data;
    if (status != REDIS_OK) {
        if (!c->lost_logged)
            log_warn("%s %s:%d: connect failed: %s; retrying", c->what, c->url.host, c->url.port,
                     ac->c.errstr);
        c->lost_logged = 1;
        return; /* hiredis frees the context next; ev_cleanup reconnects */
    }
    redisEnableKeepAlive((redisContext *)&ac->c);
    c->on_connected(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    conn *c = ac->data;
    if (status != REDIS_OK && !c->closing && !c->lost_logged) {
        log_warn("%s %s:%d: connection lost: %s; reconnecting", c->what, c->url.host, c->url.port,
                 ac->c.errstr);
        c->lost_logged = 1;
    }
}

static void on_setup_timeout(loop *l, void *arg) {
    (void)l;
    conn *c = arg;
    c->setup_timer = NULL;
    if (!c->ac) return;
    if (!c->lost_logged)
        log_warn("%s %s:%d: no answer within %d ms; reconnecting", c->what, c->url.host,
                 c->url.port, SETUP_TIMEOUT_MS);
    c->lost_logged = 1;
    redisAsyncFree(c->ac);
}

static void conn_start(conn *c) {
    redisAsyncContext *ac = redisAsyncConnect(c->url.host, c->url.port);
    if (!ac || ac->err) {
        if (!c->lost_logged)
            log_warn("%s %s:%d: %s; retrying", c->what, c->url.host, c->url.port,
                     ac ? ac->errstr : "out of memory");
        c->lost_logged = 1;
        if (ac) redisAsyncFree(ac); /* no event hooks yet: nothing else runs */
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
    c->setup_timer = loop_timer_add(c->l, SETUP_TIMEOUT_MS, on_setup_timeout, c);
}

/* Called by the owner when setup on a fresh connection has finished. */
static void conn_up(conn *c) {
    c->up = 1;
    c->backoff = BACKOFF_MIN_MS;
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    log_info("%s %s:%d: connected", c->what, c->url.host, c->url.port);
    c->lost_logged = 0;
}

static int conn_init(conn *c, loop *l, const char *url, const char *what, conn_hook *on_connected,
                     conn_hook *on_lost, err_t *e) {
    memset(c, 0, sizeof *c);
    if (url_parse(url, &c->url, e) != AGG_OK) return AGG_ERR;
    c->l = l;
    c->what = what;
    c->fd = -1;
    c->backoff = BACKOFF_MIN_MS;
    c->on_connected = on_connected;
    c->on_lost = on_lost;
    return AGG_OK;
}

/* Frees the connection: pending reply callbacks get NULL, on_lost runs. */
static void conn_close(conn *c) {
    c->closing = 1;
    loop_timer_cancel(c->l, c->retry);
    c->retry = NULL;
    if (c->ac) redisAsyncFree(c->ac);
    loop_timer_cancel(c->l, c->setup_timer);
    c->setup_timer = NULL;
    loop_timer_cancel(c->l, c->drop_timer);
    c->drop_timer = NULL;
    url_free(&c->url);
}

/* Sends AUTH (and SELECT when db != 0) with cb/arg as reply callback;
 * returns how many commands were sent, -1 when sending failed. */
static int conn_send_auth(conn *c, redisCallbackFn *cb, void *arg, int select_db) {
    int n = 0;
    if (c->url.password) {
        int rc = c->url.user ? redisAsyncCommand(c->ac, cb, arg, "AUTH %s %s", c->url.user,
                                                 c->url.password)
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

/* ------------------------------------------------------------------------ */
/* rds: commands and scripts                                                 */

typedef struct script_ref {
    rds *r;
    int id;
} script_ref;

struct rds {
    conn c; /* first member: a conn * is an rds * */
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
    conn_up(&r->c);
}

static void setup_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rds *r = arg;
    redisReply *rep = reply;
    if (!rep) return; /* connection going away */
    if (rep->type == REDIS_REPLY_ERROR) {
        conn_drop(&r->c, rep->str);
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
        conn_drop(&ref->r->c, why);
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

static void rds_connected(conn *c) {
    rds *r = (rds *)c;
    int n = conn_send_auth(c, setup_reply, r, 1);
    if (n < 0) {
        conn_drop(c, "cannot send AUTH/SELECT");
        return;
    }
    r->setup_left = n + RDS_SCRIPT__COUNT + 1; /* +1: released below */
    for (int i = 0; i < RDS_SCRIPT__COUNT; i++) {
        if (redisAsyncCommand(c->ac, script_loaded, &r->refs[i], "SCRIPT LOAD %s",
                              rds_script_source[i]) != REDIS_OK) {
            conn_drop(c, "cannot send SCRIPT LOAD");
            return;
        }
    }
    setup_step(r);
}

static void rds_lost(conn *c) {
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
    if (conn_init(&r->c, l, url, "redis", rds_connected, rds_lost, e) != AGG_OK) {
        free(r);
        return NULL;
    }
    for (int i = 0; i < RDS_SCRIPT__COUNT; i++) {
        r->refs[i].r = r;
        r->refs[i].id = i;
    }
    conn_start(&r->c);
    return r;
}

void rds_free(rds *r) {
    if (!r) return;
    conn_close(&r->c);
    free(r);
}

int rds_ready(const rds *r) {
    return r && r->ready && r->c.ac != NULL;
}

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
#define PUT(ptr, n)                      \
    do {                                 \
        memcpy(buf, (ptr), (n));         \
        buf[(n)] = '\0';                 \
        p->argv[k] = buf;                \
        p->lens[k++] = (n);              \
        buf += (n) + 1;                  \
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

/* ------------------------------------------------------------------------ */
/* rds_sub: one subscriber connection, refcounted channels in a hash table   */

enum ch_state {
    CH_NONE,        /* not subscribed on the server */
    CH_SUBSCRIBING, /* SUBSCRIBE sent, confirmation pending */
    CH_SUBSCRIBED,  /* confirmed */
    CH_UNSUBSCRIBING /* UNSUBSCRIBE sent, confirmation pending */
};

typedef struct chan chan;

typedef struct waiter {
    struct waiter *next;
    chan *ch; /* compared only: the channel may be gone while in the failing list */
    rds_subscribed_cb *done;
    void *arg;
} waiter;

struct chan {
    chan *next; /* bucket chain */
    uint64_t hash;
    int refs;
    enum ch_state state;
    int in_resub; /* counted in the resubscription barrier */
    waiter *waiters;
    size_t len;
    char name[];
};

struct rds_sub {
    conn c; /* first member: a conn * is an rds_sub * */
    rds_message_cb *on_message;
    rds_resubscribed_cb *on_resubscribed;
    void *arg;
    int connected_before;
    int resub_pending;
    size_t resub_left;
    chan **buckets;
    size_t n_buckets; /* a power of two */
    size_t n_chans;
    waiter *failing; /* done(0) callbacks being delivered after a lost connection */
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static chan *chan_find(rds_sub *s, const char *name, size_t len) {
    uint64_t h = hash_bytes(name, len);
    for (chan *ch = s->buckets[h & (s->n_buckets - 1)]; ch; ch = ch->next)
        if (ch->hash == h && ch->len == len && memcmp(ch->name, name, len) == 0) return ch;
    return NULL;
}

static void chan_grow(rds_sub *s) {
    size_t n = s->n_buckets * 2;
    chan **b = calloc(n, sizeof *b);
    if (!b) return; /* keep the longer chains */
    for (size_t i = 0; i < s->n_buckets; i++) {
        chan *ch = s->buckets[i];
        while (ch) {
            chan *next = ch->next;
            ch->next = b[ch->hash & (n - 1)];
            b[ch->hash & (n - 1)] = ch;
            ch = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->n_buckets = n;
}

static chan *chan_add(rds_sub *s, const char *name, size_t len) {
    chan *ch = calloc(1, sizeof *ch + len + 1);
    if (!ch) return NULL;
    memcpy(ch->name, name, len);
    ch->len = len;
    ch->hash = hash_bytes(name, len);
    if (s->n_chans >= s->n_buckets) chan_grow(s);
    chan **b = &s->buckets[ch->hash & (s->n_buckets - 1)];
    ch->next = *b;
    *b = ch;
    s->n_chans++;
    return ch;
}

static void chan_remove(rds_sub *s, chan *ch) {
    for (chan **pp = &s->buckets[ch->hash & (s->n_buckets - 1)]; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    }
    s->n_chans--;
    for (waiter *w = ch->waiters; w;) {
        waiter *next = w->next;
        free(w);
        w = next;
    }
    free(ch);
}

static void sub_reply(redisAsyncContext *ac, void *reply, void *arg);

static void chan_send(rds_sub *s, chan *ch, int subscribe) {
    if (!s->c.ac) { /* not connected: the server holds nothing */
        ch->state = CH_NONE;
        return;
    }
    int rc = subscribe
                 ? redisAsyncCommand(s->c.ac, sub_reply, s, "SUBSCRIBE %b", ch->name, ch->len)
                 : redisAsyncCommand(s->c.ac, NULL, NULL, "UNSUBSCRIBE %b", ch->name, ch->len);
    ch->state = subscribe ? CH_SUBSCRIBING : CH_UNSUBSCRIBING;
    if (rc != REDIS_OK) conn_drop(&s->c, "cannot send (UN)SUBSCRIBE");
}

static void resub_check(rds_sub *s) {
    if (s->resub_pending && s->resub_left == 0) {
        s->resub_pending = 0;
        if (s->on_resubscribed) s->on_resubscribed(s->arg);
    }
}

static void on_confirmed(rds_sub *s, chan *ch) {
    ch->state = CH_SUBSCRIBED;
    /* One waiter at a time: a done callback may unsubscribe others. */
    while (ch->state == CH_SUBSCRIBED && ch->waiters) {
        waiter *w = ch->waiters;
        ch->waiters = w->next;
        rds_subscribed_cb *done = w->done;
        void *arg = w->arg;
        free(w);
        done(1, arg);
    }
    if (ch->state == CH_SUBSCRIBED && ch->refs == 0) chan_send(s, ch, 0);
    if (ch->in_resub) {
        ch->in_resub = 0;
        s->resub_left--;
        resub_check(s);
    }
}

static void sub_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rds_sub *s = arg;
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    chan *ch = chan_find(s, rep->element[1]->str, rep->element[1]->len);
    if (!ch) {
        /* The anchor's confirmation: the server answers, so the connection is up. */
        if (!s->c.up && strcmp(kind, "subscribe") == 0 &&
            strcmp(rep->element[1]->str, ANCHOR_CHANNEL) == 0) {
            conn_up(&s->c);
            resub_check(s); /* when there was nothing to resubscribe */
        }
        return;
    }
    if (strcmp(kind, "message") == 0) {
        const redisReply *payload = rep->element[2];
        if (ch->state == CH_SUBSCRIBED && ch->refs > 0 && payload->type == REDIS_REPLY_STRING)
            s->on_message(ch->name, payload->str, payload->len, s->arg);
    } else if (strcmp(kind, "subscribe") == 0) {
        if (ch->state == CH_SUBSCRIBING) on_confirmed(s, ch);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        if (ch->state != CH_UNSUBSCRIBING) return;
        if (ch->refs > 0)
            chan_send(s, ch, 1); /* subscribed again while the UNSUBSCRIBE was in flight */
        else
            chan_remove(s, ch);
    }
}

static void sub_setup(rds_sub *s) {
    conn *c = &s->c;
    if (redisAsyncCommand(c->ac, sub_reply, s, "SUBSCRIBE %s", ANCHOR_CHANNEL) != REDIS_OK) {
        conn_drop(c, "cannot send SUBSCRIBE");
        return;
    }
    /* Every channel still referenced after a lost connection, in batches. */
    const char *argv[SUB_BATCH + 1];
    size_t lens[SUB_BATCH + 1];
    int argc = 0;
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    s->resub_left = 0;
    for (size_t i = 0; i < s->n_buckets; i++) {
        for (chan *ch = s->buckets[i]; ch; ch = ch->next) {
            if (ch->refs == 0 || ch->state != CH_NONE) continue;
            ch->state = CH_SUBSCRIBING;
            ch->in_resub = 1;
            s->resub_left++;
            argv[++argc] = ch->name;
            lens[argc] = ch->len;
            if (argc == SUB_BATCH) {
                if (redisAsyncCommandArgv(c->ac, sub_reply, s, argc + 1, argv, lens) != REDIS_OK)
                    conn_drop(c, "cannot send SUBSCRIBE");
                argc = 0;
            }
        }
    }
    if (argc > 0 && redisAsyncCommandArgv(c->ac, sub_reply, s, argc + 1, argv, lens) != REDIS_OK)
        conn_drop(c, "cannot send SUBSCRIBE");
    s->resub_pending = s->connected_before; /* on_resubscribed once all are confirmed */
    s->connected_before = 1;
}

static void sub_auth_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rds_sub *s = arg;
    redisReply *rep = reply;
    if (!rep) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        conn_drop(&s->c, rep->str);
        return;
    }
    sub_setup(s);
}

static void sub_connected(conn *c) {
    rds_sub *s = (rds_sub *)c;
    int n = conn_send_auth(c, sub_auth_reply, s, 0);
    if (n < 0)
        conn_drop(c, "cannot send AUTH");
    else if (n == 0)
        sub_setup(s);
}

static void sub_lost(conn *c) {
    rds_sub *s = (rds_sub *)c;
    s->resub_pending = 0;
    s->resub_left = 0;
    waiter *failing = NULL, **tail = &failing;
    for (size_t i = 0; i < s->n_buckets; i++) {
        chan **pp = &s->buckets[i];
        while (*pp) {
            chan *ch = *pp;
            ch->state = CH_NONE;
            ch->in_resub = 0;
            *tail = ch->waiters;
            while (*tail) tail = &(*tail)->next;
            ch->waiters = NULL;
            if (ch->refs == 0) {
                *pp = ch->next;
                s->n_chans--;
                free(ch);
            } else {
                pp = &ch->next;
            }
        }
    }
    /* Subscriptions that were not confirmed fail; their references stay and
     * are subscribed again on reconnect. Not during rds_sub_free. */
    s->failing = failing;
    while (s->failing) {
        waiter *w = s->failing;
        s->failing = w->next;
        rds_subscribed_cb *done = w->done;
        void *arg = w->arg;
        free(w);
        if (!c->closing) done(0, arg);
    }
}

rds_sub *rds_sub_new(loop *l, const char *url, rds_message_cb *on_message,
                     rds_resubscribed_cb *on_resubscribed, void *arg, err_t *e) {
    rds_sub *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, "out of memory");
        return NULL;
    }
    s->n_buckets = 1024;
    s->buckets = calloc(s->n_buckets, sizeof *s->buckets);
    if (!s->buckets) {
        free(s);
        err_set(e, "out of memory");
        return NULL;
    }
    if (conn_init(&s->c, l, url, "redis-sub", sub_connected, sub_lost, e) != AGG_OK) {
        free(s->buckets);
        free(s);
        return NULL;
    }
    s->on_message = on_message;
    s->on_resubscribed = on_resubscribed;
    s->arg = arg;
    conn_start(&s->c);
    return s;
}

void rds_sub_free(rds_sub *s) {
    if (!s) return;
    conn_close(&s->c); /* sub_lost frees unreferenced channels, drops waiters */
    for (size_t i = 0; i < s->n_buckets; i++) {
        while (s->buckets[i]) {
            chan *ch = s->buckets[i];
            s->buckets[i] = ch->next;
            chan_remove(s, ch);
        }
    }
    free(s->buckets);
    free(s);
}

int rds_sub_ready(const rds_sub *s) {
    return s && s->c.up && s->c.ac != NULL;
}

int rds_subscribe(rds_sub *s, const char *channel, rds_subscribed_cb *done, void *done_arg) {
    if (!rds_sub_ready(s)) return AGG_ERR;
    size_t len = strlen(channel);
    chan *ch = chan_find(s, channel, len);
    int created = 0;
    if (!ch) {
        if (!(ch = chan_add(s, channel, len))) return AGG_ERR;
        created = 1;
    }
    if (ch->state == CH_SUBSCRIBED) {
        ch->refs++;
        if (done) done(1, done_arg);
        return AGG_OK;
    }
    if (done) {
        waiter *w = malloc(sizeof *w);
        if (!w) {
            if (created) chan_remove(s, ch);
            return AGG_ERR;
        }
        w->ch = ch;
        w->done = done;
        w->arg = done_arg;
        /* Appended: confirmations run in subscription order. */
        w->next = NULL;
        waiter **pp = &ch->waiters;
        while (*pp) pp = &(*pp)->next;
        *pp = w;
    }
    ch->refs++;
    if (ch->state == CH_NONE) chan_send(s, ch, 1);
    /* CH_SUBSCRIBING: the confirmation is on its way; CH_UNSUBSCRIBING: its
     * confirmation sends SUBSCRIBE again because refs > 0. */
    return AGG_OK;
}

static int drop_waiter(waiter **list, const chan *ch, void *done_arg) {
    for (waiter **pp = list; *pp; pp = &(*pp)->next) {
        if ((*pp)->arg == done_arg && (*pp)->ch == ch) {
            waiter *w = *pp;
            *pp = w->next;
            free(w);
            return 1;
        }
    }
    return 0;
}

void rds_unsubscribe(rds_sub *s, const char *channel, void *done_arg) {
    if (!s) return;
    chan *ch = chan_find(s, channel, strlen(channel));
    if (!ch || ch->refs == 0) return;
    if (!drop_waiter(&ch->waiters, ch, done_arg)) drop_waiter(&s->failing, ch, done_arg);
    if (--ch->refs > 0) return;
    if (ch->state == CH_SUBSCRIBED)
        chan_send(s, ch, 0);
    else if (ch->state == CH_NONE)
        chan_remove(s, ch);
    /* CH_SUBSCRIBING: unsubscribed when confirmed; CH_UNSUBSCRIBING: already going. */
}
