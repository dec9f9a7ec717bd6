/* rdssub: pub/sub for a process: one Redis connection that holds every subscription, refcounted per
 * channel. */
#include "rdssub.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rdsconn.h"
#include "strmap.h"

#define SUB_BATCH 256 /* channels per SUBSCRIBE when resubscribing */
/* Subscribed for the connection's lifetime, so the subscription count never
 * drops to zero (hiredis 0.14 leaves subscribe mode then and asserts on a
 * late confirmation). Nothing is published on it. */
#define ANCHOR_CHANNEL "agg:rds:anchor"

/* ------------------------------------------------------------------------ */
/* rds_sub: one subscriber connection, refcounted channels in a strmap       */

enum ch_state {
    CH_NONE,         /* not subscribed on the server */
    CH_SUBSCRIBING,  /* SUBSCRIBE sent, confirmation pending */
    CH_SUBSCRIBED,   /* confirmed */
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
    chan *dead_next; /* sub_lost: channels to free once the walk is over */
    int refs;
    enum ch_state state;
    int in_resub; /* counted in the resubscription barrier */
    waiter *waiters;
    size_t len;
    char name[]; /* also the key in rds_sub.chans; passed to on_message */
};

struct rds_sub {
    rdsconn c; /* first member: an rdsconn * is an rds_sub * */
    rds_message_cb *on_message;
    rds_resubscribed_cb *on_resubscribed;
    void *arg;
    int connected_before;
    int resub_pending;
    size_t resub_left;
    strmap *chans;   /* name -> chan *, owned */
    waiter *failing; /* done(0) callbacks being delivered after a lost connection */
    /* done(1) callbacks of channels that were already subscribed: delivered
     * from the loop (confirm_timer), never from inside rds_subscribe. */
    waiter *confirmed, **confirmed_tail;
    loop_timer *confirm_timer;
};

static chan *chan_find(rds_sub *s, const char *name) { return strmap_get(s->chans, name); }

static chan *chan_add(rds_sub *s, const char *name, size_t len) {
    chan *ch = agg_calloc(1, sizeof *ch + len + 1);
    if (!ch) return NULL;
    memcpy(ch->name, name, len);
    ch->len = len;
    if (strmap_put(s->chans, ch->name, ch) != AGG_OK) {
        agg_free(ch);
        return NULL;
    }
    return ch;
}

/* Frees ch and its waiters; ch must no longer be in the map. */
static void chan_free(chan *ch) {
    for (waiter *w = ch->waiters; w;) {
        waiter *next = w->next;
        agg_free(w);
        w = next;
    }
    agg_free(ch);
}

static void chan_remove(rds_sub *s, chan *ch) {
    strmap_remove(s->chans, ch->name);
    chan_free(ch);
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
    if (rc != REDIS_OK) rdsconn_drop(&s->c, "cannot send (UN)SUBSCRIBE");
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
        agg_free(w);
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
    /* A name with a NUL in it is none of ours (channel names are C strings). */
    chan *ch = strlen(rep->element[1]->str) == rep->element[1]->len
                   ? chan_find(s, rep->element[1]->str)
                   : NULL;
    if (!ch) {
        /* The anchor's confirmation: the server answers, so the connection is up. */
        if (!s->c.up && strcmp(kind, "subscribe") == 0 &&
            strcmp(rep->element[1]->str, ANCHOR_CHANNEL) == 0) {
            rdsconn_up(&s->c);
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

/* One SUBSCRIBE batch being filled by resub_one. */
typedef struct resub_batch {
    rds_sub *s;
    int argc;
    const char *argv[SUB_BATCH + 1];
    size_t lens[SUB_BATCH + 1];
} resub_batch;

static void resub_flush(resub_batch *b) {
    rdsconn *c = &b->s->c;
    if (b->argc > 0 &&
        redisAsyncCommandArgv(c->ac, sub_reply, b->s, b->argc + 1, b->argv, b->lens) != REDIS_OK)
        rdsconn_drop(c, "cannot send SUBSCRIBE");
    b->argc = 0;
}

/* strmap_each callback: adds a channel that is referenced but not
 * subscribed on the server to the batch. Leaves the map unchanged. */
static void resub_one(const char *key, void *value, void *arg) {
    (void)key;
    chan *ch = value;
    resub_batch *b = arg;
    if (ch->refs == 0 || ch->state != CH_NONE) return;
    ch->state = CH_SUBSCRIBING;
    ch->in_resub = 1;
    b->s->resub_left++;
    b->argv[++b->argc] = ch->name;
    b->lens[b->argc] = ch->len;
    if (b->argc == SUB_BATCH) resub_flush(b);
}

static void sub_setup(rds_sub *s) {
    rdsconn *c = &s->c;
    if (redisAsyncCommand(c->ac, sub_reply, s, "SUBSCRIBE %s", ANCHOR_CHANNEL) != REDIS_OK) {
        rdsconn_drop(c, "cannot send SUBSCRIBE");
        return;
    }
    /* Every channel still referenced after a lost connection, in batches. */
    resub_batch b;
    b.s = s;
    b.argc = 0;
    b.argv[0] = "SUBSCRIBE";
    b.lens[0] = 9;
    s->resub_left = 0;
    strmap_each(s->chans, resub_one, &b);
    resub_flush(&b);
    s->resub_pending = s->connected_before; /* on_resubscribed once all are confirmed */
    s->connected_before = 1;
}

static void sub_auth_reply(redisAsyncContext *ac, void *reply, void *arg) {
    (void)ac;
    rds_sub *s = arg;
    redisReply *rep = reply;
    if (!rep) return;
    if (rep->type == REDIS_REPLY_ERROR) {
        rdsconn_drop(&s->c, rep->str);
        return;
    }
    sub_setup(s);
}

static void sub_connected(rdsconn *c) {
    rds_sub *s = (rds_sub *)c;
    int n = rdsconn_send_auth(c, sub_auth_reply, s, 0);
    if (n < 0)
        rdsconn_drop(c, "cannot send AUTH");
    else if (n == 0)
        sub_setup(s);
}

/* What sub_lost collects while walking the channels. */
typedef struct lost_walk {
    waiter **tail; /* end of the failing list */
    chan *dead;    /* unreferenced channels, freed after the walk */
} lost_walk;

/* strmap_each callback: the server holds nothing any more. Leaves the map
 * unchanged; unreferenced channels are only listed in w->dead. */
static void lost_one(const char *key, void *value, void *arg) {
    (void)key;
    chan *ch = value;
    lost_walk *w = arg;
    ch->state = CH_NONE;
    ch->in_resub = 0;
    *w->tail = ch->waiters;
    while (*w->tail) w->tail = &(*w->tail)->next;
    ch->waiters = NULL;
    if (ch->refs == 0) {
        ch->dead_next = w->dead;
        w->dead = ch;
    }
}

static void sub_lost(rdsconn *c) {
    rds_sub *s = (rds_sub *)c;
    s->resub_pending = 0;
    s->resub_left = 0;
    waiter *failing = NULL;
    lost_walk walk = {&failing, NULL};
    strmap_each(s->chans, lost_one, &walk);
    while (walk.dead) {
        chan *ch = walk.dead;
        walk.dead = ch->dead_next;
        chan_remove(s, ch); /* its waiters moved to failing already */
    }
    /* Confirmations not yet delivered no longer hold: they fail too. */
    *walk.tail = s->confirmed;
    s->confirmed = NULL;
    s->confirmed_tail = &s->confirmed;
    if (s->confirm_timer) {
        loop_timer_cancel(c->l, s->confirm_timer);
        s->confirm_timer = NULL;
    }
    /* Subscriptions that were not confirmed fail; their references stay and
     * are subscribed again on reconnect. Not during rds_sub_free. */
    s->failing = failing;
    while (s->failing) {
        waiter *w = s->failing;
        s->failing = w->next;
        rds_subscribed_cb *done = w->done;
        void *arg = w->arg;
        agg_free(w);
        if (!c->closing) done(0, arg);
    }
}

rds_sub *rds_sub_new(loop *l, const conncfg_redis *cfg, rds_message_cb *on_message,
                     rds_resubscribed_cb *on_resubscribed, void *arg, err_t *e) {
    rds_sub *s = agg_calloc(1, sizeof *s);
    if (!s) {
        err_nomem(e);
        return NULL;
    }
    s->chans = strmap_new();
    if (!s->chans) {
        agg_free(s);
        err_nomem(e);
        return NULL;
    }
    if (rdsconn_init(&s->c, l, cfg, "redis-sub", sub_connected, sub_lost, e) != AGG_OK) {
        strmap_free(s->chans);
        agg_free(s);
        return NULL;
    }
    s->confirmed_tail = &s->confirmed;
    s->on_message = on_message;
    s->on_resubscribed = on_resubscribed;
    s->arg = arg;
    rdsconn_start(&s->c);
    return s;
}

/* strmap_each callback for rds_sub_free: frees the channel, not the entry. */
static void free_one(const char *key, void *value, void *arg) {
    (void)key;
    (void)arg;
    chan_free(value);
}

void rds_sub_free(rds_sub *s) {
    if (!s) return;
    rdsconn_close(&s->c);                  /* sub_lost frees unreferenced channels, drops waiters */
    strmap_each(s->chans, free_one, NULL); /* the map only borrows the channels */
    strmap_free(s->chans);
    agg_free(s);
}

int rds_sub_ready(const rds_sub *s) { return s && s->c.up && s->c.ac != NULL; }

/* Delivers the done(1) callbacks queued by rds_subscribe, one at a time: a
 * callback may unsubscribe others (drop_waiter takes them off the queue). */
static void deliver_confirmed(loop *l, void *arg) {
    (void)l;
    rds_sub *s = arg;
    s->confirm_timer = NULL;
    while (s->confirmed) {
        waiter *w = s->confirmed;
        s->confirmed = w->next;
        if (!s->confirmed) s->confirmed_tail = &s->confirmed;
        rds_subscribed_cb *done = w->done;
        void *done_arg = w->arg;
        agg_free(w);
        done(1, done_arg);
    }
}

int rds_subscribe(rds_sub *s, const char *channel, rds_subscribed_cb *done, void *done_arg,
                  err_t *e) {
    if (!rds_sub_ready(s)) return err_set(e, "redis pub/sub not connected");
    size_t len = strlen(channel);
    chan *ch = chan_find(s, channel);
    int created = 0;
    if (!ch) {
        if (!(ch = chan_add(s, channel, len))) return err_nomem(e);
        created = 1;
    }
    waiter *w = NULL;
    if (done) {
        w = agg_malloc(sizeof *w);
        if (!w) {
            if (created) chan_remove(s, ch);
            return err_nomem(e);
        }
        w->ch = ch;
        w->done = done;
        w->arg = done_arg;
        w->next = NULL;
    }
    if (ch->state == CH_SUBSCRIBED) {
        /* Already confirmed: done runs from the loop, like every other confirmation. */
        if (w) {
            if (!s->confirm_timer &&
                !(s->confirm_timer = loop_defer(s->c.l, deliver_confirmed, s))) {
                agg_free(w);
                return err_nomem(e);
            }
            *s->confirmed_tail = w;
            s->confirmed_tail = &w->next;
        }
        ch->refs++;
        return AGG_OK;
    }
    if (w) {
        /* Appended: confirmations run in subscription order. */
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

/* Removes the waiter of (ch, done_arg) from list; *tail (may be NULL) is
 * the list's tail pointer, kept right. 1 when one was removed. */
static int drop_waiter(waiter **list, waiter ***tail, const chan *ch, void *done_arg) {
    for (waiter **pp = list; *pp; pp = &(*pp)->next) {
        if ((*pp)->arg == done_arg && (*pp)->ch == ch) {
            waiter *w = *pp;
            *pp = w->next;
            if (tail && *tail == &w->next) *tail = pp;
            agg_free(w);
            return 1;
        }
    }
    return 0;
}

void rds_unsubscribe(rds_sub *s, const char *channel, void *done_arg) {
    if (!s) return;
    chan *ch = chan_find(s, channel);
    if (!ch || ch->refs == 0) return;
    if (!drop_waiter(&ch->waiters, NULL, ch, done_arg) &&
        !drop_waiter(&s->confirmed, &s->confirmed_tail, ch, done_arg))
        drop_waiter(&s->failing, NULL, ch, done_arg);
    if (--ch->refs > 0) return;
    if (ch->state == CH_SUBSCRIBED)
        chan_send(s, ch, 0);
    else if (ch->state == CH_NONE)
        chan_remove(s, ch);
    /* CH_SUBSCRIBING: unsubscribed when confirmed; CH_UNSUBSCRIBING: already going. */
}
