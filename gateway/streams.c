/* streams: GET /aggregate/stream: subscribe, replay the log, de-duplicate, keep alive. */
#include "streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "apierr.h"
#include "fanoutmsg.h"
#include "gwauth.h"
#include "list.h"
#include "listeners.h"
#include "log.h"
#include "session.h"
#include "sse.h"
#include "uuid4.h"

/* Invariant 1 (no event lost, none twice): a stream subscribes to its
 * session's channel first, and only after Redis confirmed the subscription
 * reads the log. Events are sent strictly in seq order: a published event is
 * sent only if its seq is the next one; an event that arrives while the log
 * is being read, or one that leaves a gap, makes the stream read the log
 * again from the last seq it sent.
 *
 * Redis may come back without the session (restarted empty, or a replica promoted before it
 * had the session's writes): then no worker will ever write its summary, since the deadline
 * index is gone with it. So after pub/sub reconnects, and from the deadline plus
 * DEADLINE_CHECK_MS on (every RECHECK_MS until the summary), a stream reads the session's
 * state before the log ("verify"); a session that is no longer there ends the stream with an
 * "aborted" event (reason session-lost). At that check, a session store that cannot be
 * reached ends it too (reason store-unavailable): nothing can complete it until Redis is back,
 * and the client resumes with Last-Event-ID when it is. */

#define DEADLINE_CHECK_MS 500  /* after the deadline: workers write the summary within ~50 ms */
#define RECHECK_MS        1000 /* a session still open after its deadline: its workers are late */

enum phase { P_SUBSCRIBING, P_CHECKING, P_REPLAYING, P_LIVE, P_DONE };

typedef struct stream_ctx {
    gw_streams *owner;
    httpd_req *r;    /* until the stream is open, or the client left */
    httpd_stream *s; /* while the stream is open */
    gw_listener *li;
    long long last_sent;
    loop_timer *retry;
    loop_timer *deadline_check; /* at the deadline plus DEADLINE_CHECK_MS, then every RECHECK_MS */
    long long last_write_ms;
    list_node ka; /* on owner->ka while the stream is open */
    char cid[UUID4_LEN + 1];
    /* Bytes, not ints, and after cid: an idle stream's memory is the gateway's memory per
     * stream (16 bytes less per stream this way). */
    unsigned char phase;  /* enum phase */
    unsigned char busy;   /* a Redis command is in flight with this ctx as its arg */
    unsigned char dirty;  /* an event came while not live: read the log again */
    unsigned char dead;   /* the client is gone: free once not busy */
    unsigned char verify; /* read the state before the log: the session may be gone from Redis */
    /* "" = anyone may read (AUTH_MODE=none). Sized to the principal: an idle stream's
     * memory is the gateway's memory per stream, and most principals are short. */
    char must_own[];
} stream_ctx;

struct gw_streams {
    gateway *gw;
    list_node ka; /* open streams (stream_ctx.ka), least recently written first */
    size_t open;
    size_t live; /* contexts not yet freed: open streams and those still being opened */
    loop_timer *ka_timer;
    int handing_over; /* draining: every stream ends with a retry hint once it is live */
    long retry_ms;
};

static void replay(stream_ctx *c);
static void stop_listening(stream_ctx *c);

/* Draining (gw_streams_hand_over): a stream that is live, with no log read in flight and
 * nothing known to be missing, has sent every event it knows of; it now gets the retry
 * hint and ends after its queue drains, so the client's EventSource reconnects (with
 * Last-Event-ID) to another replica after retry_ms and misses nothing. A stream in the
 * middle of a replay is handed over when the replay is done. */
static void maybe_hand_over(stream_ctx *c) {
    gw_streams *st = c->owner;
    if (!st->handing_over || !c->s || c->phase != P_LIVE || c->busy || c->dirty) return;
    char frame[SSE_RETRY_FRAME_MAX];
    size_t n = sse_retry_frame(st->retry_ms, frame);
    c->phase = P_DONE;
    stop_listening(c);
    metrics_inc(st->gw->metrics.streams_handed_over, 1);
    if (httpd_stream_write(c->s, frame, n, NULL) == AGG_OK) httpd_stream_end(c->s);
}

static void ka_unlink(stream_ctx *c) { list_remove(&c->ka); }

static void ka_append(stream_ctx *c) {
    c->last_write_ms = loop_now_ms();
    list_insert_before(&c->owner->ka, &c->ka);
}

static void free_if_idle(stream_ctx *c) {
    if (!c->dead || c->busy) return;
    if (c->retry) loop_timer_cancel(c->owner->gw->l, c->retry);
    if (c->deadline_check) loop_timer_cancel(c->owner->gw->l, c->deadline_check);
    c->owner->live--;
    agg_free(c);
}

static void stop_listening(stream_ctx *c) {
    if (c->li) {
        gw_unlisten(c->owner->gw->listeners, c->li);
        c->li = NULL;
    }
}

/* Answers the pending request for failure e (of what) and ends this ctx. */
static void fail_request(stream_ctx *c, const err_t *e, const char *what) {
    stop_listening(c);
    if (c->r) {
        gw_respond_failure(c->r, e, what);
        c->r = NULL;
    }
    c->dead = 1;
}

static void fail_not_found(stream_ctx *c) {
    stop_listening(c);
    if (c->r) {
        api_error e;
        apierr_set(&e, 404, "not_found", NULL, "no such session (unknown correlationId, or expired)");
        httpd_respond_error(c->r, &e);
        c->r = NULL;
    }
    c->dead = 1;
}

/* The session is another principal's: as 404, nothing of it is sent. */
static void fail_forbidden(stream_ctx *c) {
    stop_listening(c);
    if (c->r) {
        api_error e;
        apierr_set(&e, 403, "forbidden", NULL,
                   "this session was started by another principal: only its owner may read it");
        httpd_respond_error(c->r, &e);
        c->r = NULL;
    }
    c->dead = 1;
}

static void on_stream_close(void *arg) {
    stream_ctx *c = arg;
    /* The operations guide follows streams with grep "SSE". */
    log_ctx_set(c->cid, NULL, NULL);
    log_kv(LOG_INFO, "SSE stream closed", LOG_INT("lastEventId", c->last_sent),
           LOG_BOOL("complete", c->phase == P_DONE));
    c->s = NULL;
    c->owner->open--;
    ka_unlink(c);
    stop_listening(c);
    c->dead = 1;
    free_if_idle(c);
}

static void on_request_cancel(void *arg) {
    stream_ctx *c = arg;
    log_ctx_set(c->cid, NULL, NULL);
    log_info("SSE request cancelled: the client went away before the stream opened");
    c->r = NULL;
    stop_listening(c);
    c->dead = 1;
    free_if_idle(c);
}

static void emit(stream_ctx *c, long long seq, const char *event, size_t event_len,
                 const char *data, size_t data_len) {
    if (!c->s || c->phase == P_DONE) return;
    char name[32];
    if (event_len == 0 || event_len >= sizeof name) return;
    memcpy(name, event, event_len);
    name[event_len] = '\0';
    size_t len;
    char *frame = sse_frame(seq, name, data, data_len, &len, NULL);
    gw_metrics *m = &c->owner->gw->metrics;
    if (!frame) {
        /* An event this stream cannot send: it must not go on without it. */
        metrics_inc(m->stream_overflows, 1);
        httpd_stream_fail(c->s);
        return;
    }
    if (httpd_stream_write(c->s, frame, len, NULL) != AGG_OK) {
        metrics_inc(m->stream_overflows, 1);
        agg_free(frame);
        /* The stream ends after what it holds; the client resumes with Last-Event-ID. */
        c->phase = P_DONE;
        stop_listening(c);
        return;
    }
    agg_free(frame);
    gwmetrics_event_sent(m);
    c->last_sent = seq;
    ka_unlink(c);
    ka_append(c);
    if (strcmp(name, "summary") == 0) {
        c->phase = P_DONE;
        stop_listening(c);
        httpd_stream_end(c->s);
    }
}

/* Ends the stream with an "aborted" event (no id: it is not in the session's log) saying why;
 * reason and message are static JSON-safe text. */
static void abort_stream(stream_ctx *c, const char *reason, const char *message) {
    if (!c->s || c->phase == P_DONE) return;
    char data[400];
    int n = snprintf(data, sizeof data,
                     "{\"source\":\"AGGREGATOR\",\"correlationId\":\"%s\",\"status\":\"ABORTED\","
                     "\"reason\":\"%s\",\"message\":\"%s\"}",
                     c->cid, reason, message);
    size_t len = 0;
    char *frame = n > 0 && (size_t)n < sizeof data
                      ? sse_frame(-1, "aborted", data, (size_t)n, &len, NULL)
                      : NULL;
    gw_metrics *m = &c->owner->gw->metrics;
    metrics_inc(m->streams_aborted, 1);
    if (strcmp(reason, "session-lost") == 0) metrics_inc(m->sessions_lost, 1);
    log_warn("stream of session %s ended: %s", c->cid, reason);
    c->phase = P_DONE;
    stop_listening(c);
    if (frame && httpd_stream_write(c->s, frame, len, NULL) == AGG_OK)
        httpd_stream_end(c->s);
    else
        httpd_stream_fail(c->s);
    agg_free(frame);
}

static void on_retry(loop *l, void *arg) {
    (void)l;
    stream_ctx *c = arg;
    c->retry = NULL;
    if (c->dead) {
        free_if_idle(c);
        return;
    }
    replay(c);
}

static void schedule_retry(stream_ctx *c) {
    if (!c->retry) c->retry = loop_timer_add(c->owner->gw->l, 500, on_retry, c);
}

static void on_log(struct redisReply *reply, void *arg) {
    stream_ctx *c = arg;
    c->busy = 0;
    if (c->dead) {
        free_if_idle(c);
        return;
    }
    size_t n;
    if (session_list_reply(reply, &n, NULL) != AGG_OK) {
        metrics_inc(c->owner->gw->metrics.redis_failures, 1);
        c->phase = P_LIVE;
        schedule_retry(c);
        return;
    }
    session_event ev;
    for (size_t i = 0; i < n && c->phase != P_DONE; i++)
        if (session_log_entry(reply, i, &ev) == AGG_OK && ev.seq > c->last_sent)
            emit(c, ev.seq, ev.name, ev.name_len, ev.data, ev.data_len);
    if (c->phase == P_DONE) return;
    c->phase = P_LIVE;
    if (c->dirty)
        replay(c);
    else
        maybe_hand_over(c);
}

static void on_verify(struct redisReply *reply, void *arg) {
    stream_ctx *c = arg;
    c->busy = 0;
    if (c->dead) {
        free_if_idle(c);
        return;
    }
    if (c->phase == P_DONE) return;
    session_state st;
    if (session_state_reply(reply, &st, NULL) != AGG_OK) {
        metrics_inc(c->owner->gw->metrics.redis_failures, 1);
        c->phase = P_LIVE;
        schedule_retry(c); /* verify stays due */
        return;
    }
    c->verify = 0;
    if (!st.exists) {
        abort_stream(c, "session-lost",
                     "the session store lost this session (Redis restarted empty or failed "
                     "over without it); submit the request again");
        return;
    }
    c->phase = P_LIVE;
    if (st.seq > c->last_sent || c->dirty)
        replay(c);
    else
        maybe_hand_over(c);
}

static void replay(stream_ctx *c) {
    if (c->busy || c->dead || c->phase == P_DONE || !c->s) return;
    session_call sc;
    if (c->verify) {
        c->phase = P_REPLAYING; /* events meanwhile set dirty */
        if (session_call_state(&sc, c->cid, NULL) != AGG_OK ||
            rds_call_send(c->owner->gw->redis, &sc.call, on_verify, c, NULL) != AGG_OK) {
            c->phase = P_LIVE;
            schedule_retry(c);
            return;
        }
        c->busy = 1;
        return;
    }
    c->dirty = 0;
    c->phase = P_REPLAYING;
    metrics_inc(c->owner->gw->metrics.stream_replays, 1);
    if (session_call_log(&sc, c->cid, c->last_sent, NULL) != AGG_OK ||
        rds_call_send(c->owner->gw->redis, &sc.call, on_log, c, NULL) != AGG_OK) {
        c->phase = P_LIVE;
        schedule_retry(c);
        return;
    }
    c->busy = 1;
}

static void on_event(const sse_published *ev, void *arg) {
    stream_ctx *c = arg;
    if (c->phase != P_LIVE) {
        c->dirty = 1;
        return;
    }
    if (ev->seq <= c->last_sent) return;
    if (ev->seq == c->last_sent + 1) {
        emit(c, ev->seq, ev->event, ev->event_len, ev->data, ev->data_len);
        return;
    }
    replay(c); /* a gap: something was missed */
}

static void on_resync(void *arg) {
    stream_ctx *c = arg;
    c->verify = 1; /* the server that came back may not hold the session */
    if (c->phase == P_LIVE)
        replay(c);
    else
        c->dirty = 1;
}

static void on_deadline_check(loop *l, void *arg) {
    stream_ctx *c = arg;
    c->deadline_check = NULL;
    if (c->dead || c->phase == P_DONE || !c->s) return;
    if (!rds_ready(c->owner->gw->redis)) {
        abort_stream(c, "store-unavailable",
                     "the session store is unreachable past the deadline; reconnect with "
                     "Last-Event-ID to resume once it is back");
        return;
    }
    c->verify = 1;
    if (c->phase == P_LIVE)
        replay(c);
    else
        c->dirty = 1;
    c->deadline_check = loop_timer_add(l, RECHECK_MS, on_deadline_check, c);
}

static void arm_deadline_check(stream_ctx *c, long long deadline_ms) {
    if (deadline_ms <= 0 || c->deadline_check) return;
    long long in = deadline_ms + DEADLINE_CHECK_MS - loop_wall_ms();
    c->deadline_check = loop_timer_add(c->owner->gw->l, in > 0 ? in : 0, on_deadline_check, c);
    if (!c->deadline_check) log_warn("stream: out of memory arming the deadline check");
}

static void on_session_state(struct redisReply *reply, void *arg) {
    stream_ctx *c = arg;
    c->busy = 0;
    if (c->dead) {
        free_if_idle(c);
        return;
    }
    session_state st;
    err_t e;
    if (session_state_reply(reply, &st, &e) != AGG_OK) {
        metrics_inc(c->owner->gw->metrics.redis_failures, 1);
        log_warn("stream: %s", e.text);
        fail_request(c, &e, "session store");
        free_if_idle(c);
        return;
    }
    if (!st.exists) {
        fail_not_found(c);
        free_if_idle(c);
        return;
    }
    if (c->must_own[0] && !session_state_owned_by(&st, c->must_own)) {
        gw_auth_forbidden(c->owner->gw);
        log_ctx_set(c->cid, NULL, NULL);
        log_warn("stream refused: the session belongs to another principal");
        fail_forbidden(c);
        free_if_idle(c);
        return;
    }
    httpd_req *r = c->r;
    c->r = NULL;
    c->s = httpd_stream_open(r, NULL, on_stream_close, c, NULL);
    if (!c->s) {
        stop_listening(c);
        c->dead = 1;
        free_if_idle(c);
        return;
    }
    c->owner->open++;
    metrics_inc(c->owner->gw->metrics.streams_opened, 1);
    log_ctx_set(c->cid, NULL, NULL);
    log_kv(LOG_INFO, "SSE stream opened", LOG_INT("lastEventId", c->last_sent),
           LOG_BOOL("done", st.done));
    ka_append(c);
    /* A client that already has the summary (a browser reconnects after
     * every stream end) gets an empty stream that closes at once. */
    if (st.done && st.seq <= c->last_sent) {
        c->phase = P_DONE;
        stop_listening(c);
        httpd_stream_end(c->s);
        return;
    }
    c->phase = P_LIVE;
    if (!st.done) arm_deadline_check(c, st.deadline_ms);
    /* Subscribed before the state was read, so every event after seq arrives by pub/sub; the
     * log is read only when it holds events this client has not had (not for a fresh
     * session's stream). */
    if (st.seq > c->last_sent || c->dirty)
        replay(c);
    else
        maybe_hand_over(c);
}

static void on_subscribed(int ok, void *arg) {
    stream_ctx *c = arg;
    if (c->dead) return;
    session_call sc;
    err_t e;
    if (!ok) {
        err_set(&e, "subscription lost");
    } else if (session_call_state(&sc, c->cid, &e) == AGG_OK &&
               rds_call_send(c->owner->gw->redis, &sc.call, on_session_state, c, &e) == AGG_OK) {
        c->phase = P_CHECKING;
        c->busy = 1;
        return;
    }
    fail_request(c, &e, "session store");
    free_if_idle(c);
}

void gw_streams_handle(gw_streams *st, httpd_req *r, const char *must_own) {
    gateway *gw = st->gw;
    api_error e;
    const char *cid = httpd_query(r, "correlationId");
    const char *last = httpd_header(r, "Last-Event-ID");
    const char *field = "Last-Event-ID";
    if (!last || !*last) {
        last = httpd_query(r, "lastEventId");
        field = "lastEventId";
    }
    long long last_id;
    if (!cid || !*cid) {
        apierr_set(&e, 400, "missing_field", "correlationId",
                   "query parameter correlationId is required");
    } else if (!uuid4_valid(cid)) {
        apierr_set(&e, 400, "invalid_field", "correlationId",
                   "correlationId must be a lowercase UUID");
    } else if (sse_parse_last_event_id(last, &last_id, NULL) != AGG_OK) {
        apierr_set(&e, 400, "invalid_field", field,
                   "the last event id must be a non-negative integer");
    } else {
        e.http_status = 0;
    }
    if (e.http_status) {
        metrics_inc(gw->metrics.bad_requests, 1);
        httpd_respond_error(r, &e);
        return;
    }
    if (!rds_ready(gw->redis) || !gw_listeners_ready(gw->listeners)) {
        gw_respond_unavailable(r, "redis");
        return;
    }
    err_t err;
    size_t own_len = must_own ? strnlen(must_own, FANOUTMSG_PRINCIPAL_MAX) : 0;
    stream_ctx *c = agg_calloc(1, sizeof *c + own_len + 1);
    if (!c) {
        err_nomem(&err);
        gw_respond_failure(r, &err, "memory");
        return;
    }
    c->owner = st;
    c->r = r;
    list_init(&c->ka);
    memcpy(c->cid, cid, UUID4_LEN + 1);
    memcpy(c->must_own, must_own ? must_own : "", own_len);
    c->last_sent = last_id;
    c->phase = P_SUBSCRIBING;
    c->li = gw_listen(gw->listeners, cid, on_event, on_subscribed, on_resync, c, &err);
    if (!c->li) {
        agg_free(c);
        gw_respond_failure(r, &err, "redis");
        return;
    }
    st->live++;
    httpd_req_on_cancel(r, on_request_cancel, c);
}

static void on_keepalive(loop *l, void *arg) {
    gw_streams *st = arg;
    long long now = loop_now_ms();
    long long period = st->gw->cfg.keepalive_ms;
    while (!list_empty(&st->ka)) {
        stream_ctx *c = list_entry(list_first(&st->ka), stream_ctx, ka);
        if (now - c->last_write_ms < period) break;
        ka_unlink(c);
        ka_append(c);
        httpd_stream_write(c->s, SSE_KEEPALIVE, sizeof SSE_KEEPALIVE - 1, NULL);
    }
    long long tick = period / 4 < 1000 ? period / 4 : 1000;
    st->ka_timer = loop_timer_add(l, tick, on_keepalive, st);
}

gw_streams *gw_streams_new(gateway *gw, err_t *e) {
    gw_streams *st = agg_calloc(1, sizeof *st);
    if (!st) {
        err_nomem(e);
        return NULL;
    }
    st->gw = gw;
    list_init(&st->ka);
    st->ka_timer = loop_timer_add(gw->l, 1000, on_keepalive, st);
    if (!st->ka_timer) {
        agg_free(st);
        err_nomem(e);
        return NULL;
    }
    return st;
}

void gw_streams_free(gw_streams *st) {
    if (!st) return;
    loop_timer_cancel(st->gw->l, st->ka_timer);
    agg_free(st);
}

size_t gw_streams_open(const gw_streams *st) { return st->open; }
size_t gw_streams_admitted(const gw_streams *st) { return st->live; }

void gw_streams_hand_over(gw_streams *st, long retry_ms) {
    st->handing_over = 1;
    st->retry_ms = retry_ms;
    list_node *pos, *tmp;
    list_foreach_safe(pos, tmp, &st->ka) maybe_hand_over(list_entry(pos, stream_ctx, ka));
}
