/* listeners: routes each session's pub/sub events to the streams and waiters of this gateway. */
#include "listeners.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "list.h"
#include "log.h"
#include "session.h"
#include "strmap.h"
#include "uuid4.h"

/* The listeners of one session; by_cid maps its cid to it while it has any. */
typedef struct session_listeners {
    list_node head; /* gw_listener.siblings, the newest first */
} session_listeners;

struct gw_listener {
    gw_listeners *owner;
    session_listeners *session;
    list_node siblings;    /* on session->head */
    list_node resync_due;  /* on gw_listeners.resyncs while its resync waits to run */
    char cid[UUID4_LEN + 1];
    gw_event_cb *on_event;
    gw_ready_cb *ready;
    gw_resync_cb *resync;
    void *arg;
};

struct gw_listeners {
    rds_sub *sub;
    list_node resyncs; /* gw_listener.resync_due: resyncs waiting to run */
    strmap *by_cid; /* cid -> session_listeners */
    size_t count;
};

static void on_message(const char *channel, const char *payload, size_t len, void *arg) {
    gw_listeners *ls = arg;
    char cid[UUID4_LEN + 1];
    sse_published ev;
    if (session_cid_of_channel(channel, strlen(channel), cid) != AGG_OK) return;
    if (sse_parse_published(payload, len, &ev, NULL) != AGG_OK) {
        log_warn("ignoring a malformed event on a session channel");
        return;
    }
    session_listeners *s = strmap_get(ls->by_cid, cid);
    if (!s) return;
    /* An event callback may unlisten its own listener, and with the last one
     * s is freed: the walk then only compares with head, never reads it. */
    list_node *head = &s->head, *pos, *tmp;
    list_foreach_safe(pos, tmp, head) {
        gw_listener *li = list_entry(pos, gw_listener, siblings);
        li->on_event(&ev, li->arg);
    }
}

/* strmap_each callback: queues the resync of every listener of one session (the map is not
 * changed: no callback runs during the walk). */
static void queue_resyncs(const char *key, void *value, void *arg) {
    (void)key;
    session_listeners *s = value;
    gw_listeners *ls = arg;
    list_node *pos;
    for (pos = list_first(&s->head); pos != &s->head; pos = pos->next) {
        gw_listener *li = list_entry(pos, gw_listener, siblings);
        if (li->resync && !list_linked(&li->resync_due))
            list_insert_before(&ls->resyncs, &li->resync_due);
    }
}

static void on_resubscribed(void *arg) {
    gw_listeners *ls = arg;
    log_info("pub/sub reconnected: %zu listeners replay from the log", ls->count);
    strmap_each(ls->by_cid, queue_resyncs, ls);
    /* One at a time off the queue: a resync may unlisten any listener, which leaves it. */
    while (!list_empty(&ls->resyncs)) {
        gw_listener *li = list_entry(list_first(&ls->resyncs), gw_listener, resync_due);
        list_remove(&li->resync_due);
        li->resync(li->arg);
    }
}

gw_listeners *gw_listeners_new(loop *l, const conncfg_redis *cfg, err_t *e) {
    gw_listeners *ls = agg_calloc(1, sizeof *ls);
    if (!ls || !(ls->by_cid = strmap_new())) {
        agg_free(ls);
        err_nomem(e);
        return NULL;
    }
    list_init(&ls->resyncs);
    ls->sub = rds_sub_new(l, cfg, on_message, on_resubscribed, ls, e);
    if (!ls->sub) {
        strmap_free(ls->by_cid);
        agg_free(ls);
        return NULL;
    }
    return ls;
}

void gw_listeners_free(gw_listeners *ls) {
    if (!ls) return;
    rds_sub_free(ls->sub);
    strmap_free(ls->by_cid);
    agg_free(ls);
}

int gw_listeners_ready(const gw_listeners *ls) { return rds_sub_ready(ls->sub); }
size_t gw_listeners_count(const gw_listeners *ls) { return ls->count; }

static void unlink_listener(gw_listeners *ls, gw_listener *li);

static void on_subscribed(int ok, void *arg) {
    gw_listener *li = arg;
    if (li->ready) li->ready(ok, li->arg);
}

gw_listener *gw_listen(gw_listeners *ls, const char *cid, gw_event_cb *on_event, gw_ready_cb *ready,
                       gw_resync_cb *resync, void *arg, err_t *e) {
    session_keys k;
    if (session_keys_of(cid, &k, e) != AGG_OK) return NULL;
    if (!rds_sub_ready(ls->sub)) {
        err_set(e, "redis pub/sub not connected");
        return NULL;
    }
    gw_listener *li = agg_calloc(1, sizeof *li);
    if (!li) {
        err_nomem(e);
        return NULL;
    }
    li->owner = ls;
    list_init(&li->resync_due);
    memcpy(li->cid, cid, UUID4_LEN + 1);
    li->on_event = on_event;
    li->ready = ready;
    li->resync = resync;
    li->arg = arg;
    session_listeners *s = strmap_get(ls->by_cid, cid);
    if (!s) {
        s = agg_malloc(sizeof *s);
        if (!s || strmap_put(ls->by_cid, cid, s) != AGG_OK) {
            agg_free(s);
            agg_free(li);
            err_nomem(e);
            return NULL;
        }
        list_init(&s->head);
    }
    li->session = s;
    list_insert_after(&s->head, &li->siblings);
    ls->count++;
    if (rds_subscribe(ls->sub, k.channel, on_subscribed, li, e) != AGG_OK) {
        unlink_listener(ls, li);
        return NULL;
    }
    return li;
}

void gw_unlisten(gw_listeners *ls, gw_listener *li) {
    if (!li) return;
    session_keys k;
    if (session_keys_of(li->cid, &k, NULL) == AGG_OK) rds_unsubscribe(ls->sub, k.channel, li);
    unlink_listener(ls, li);
}

static void unlink_listener(gw_listeners *ls, gw_listener *li) {
    session_listeners *s = li->session;
    list_remove(&li->siblings);
    list_remove(&li->resync_due);
    if (list_empty(&s->head)) {
        strmap_remove(ls->by_cid, li->cid);
        agg_free(s);
    }
    ls->count--;
    agg_free(li);
}
