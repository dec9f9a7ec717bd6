/* sess: the session engine: POST, then the SSE stream (or one WAIT_FOR_EVERYONE POST), timed and validated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "http.h"
#include "net.h"
#include "sse.h"

const char *const bench_err_names[E_COUNT] = {
    "post_connect", "post_status", "post_parse", "stream_connect", "stream_status", "stream_eof",
    "event_order", "validation", "timeout_post", "timeout_stream", "client_overload",
};

#define LINGER_NS 2000000000LL  /* a finished stream waits this long for the server's close */
#define SWEEP_NS 20000000LL

typedef struct pconn pconn;
typedef struct session session;

/* A keep-alive connection for POSTs; idle ones wait in their gateway's pool. */
struct pconn {
    net_conn *c;
    int gw;
    int reused;
    session *s;             /* the session whose POST is in flight, or NULL when idle */
    pconn *prev, *next;     /* the idle pool */
};

struct session {
    int64_t t0;             /* intended start: latencies count from here */
    int64_t t_post, t_first, t_summary;
    int gw;
    int record;
    int retried;
    int done;               /* set inside parser callbacks; acted on after the feed returns */
    int ended;              /* the stream's HTTP response ended (terminating chunk) */
    int err;                /* -1: success */
    int callbacks;
    long respondents;
    long long last_id;
    pconn *pc;
    net_conn *stream;
    http_resp resp;
    char *body;
    size_t blen, bcap;
    sse_parser sse;
    char cid[48];
    session *prev, *next;   /* the active list, in start order */
};

/* A stream whose summary arrived, waiting for the server to end the response (the terminating
 * chunk) or close the connection; then it is reset, so no TIME_WAIT piles up on the client. */
typedef struct lingering {
    net_conn *c;
    http_resp resp;
    int64_t t;
    struct lingering *prev, *next;
} lingering;

static const bench_cfg *cfg;
static const sess_plan *plan;
static sess_stats *stats;
static pconn *pool[BENCH_MAX_GW];
static long pool_len[BENCH_MAX_GW];
static session *act_head, *act_tail;
static long active;
static lingering *lg_head, *lg_tail;
static unsigned long rr, patient_seq, src_rr;
static long pending_starts;
static int64_t win_start, win_end;

static void pconn_data(net_conn *c, const char *buf, size_t n);
static void pconn_closed(net_conn *c, int err);
static void stream_data(net_conn *c, const char *buf, size_t n);
static void stream_closed(net_conn *c, int err);
static void linger_data(net_conn *c, const char *buf, size_t n);
static void linger_closed(net_conn *c, int err);
static const net_ops pconn_ops = {pconn_data, pconn_closed};
static const net_ops stream_ops = {stream_data, stream_closed};
static const net_ops linger_ops = {linger_data, linger_closed};

void sess_setup(const bench_cfg *c) {
    cfg = c;
}

void sess_stats_init(sess_stats *st) {
    memset(st, 0, sizeof *st);
    hdr_init(&st->post);
    hdr_init(&st->first);
    hdr_init(&st->summary);
    hdr_init(&st->overhead);
}

static const struct sockaddr_in *next_src(void) {
    return cfg->nsrc ? &cfg->src[src_rr++ % (unsigned long)cfg->nsrc] : NULL;
}

/* ---- pool ---------------------------------------------------------------- */

static void pool_remove(pconn *p) {
    if (p->prev) p->prev->next = p->next;
    else if (pool[p->gw] == p) pool[p->gw] = p->next;
    else return;    /* not pooled */
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
    pool_len[p->gw]--;
}

/* Keeps p for the next POST, or closes it when the pool is full. */
static void pool_put(pconn *p) {
    p->s = NULL;
    if (pool_len[p->gw] >= cfg->post_pool) {
        net_close(p->c, 0);
        free(p);
        return;
    }
    pool_len[p->gw]++;
    p->reused = 1;
    p->prev = NULL;
    p->next = pool[p->gw];
    if (p->next) p->next->prev = p;
    pool[p->gw] = p;
}

static pconn *pool_get(int gw) {
    pconn *p = pool[gw];
    if (p) {
        pool_remove(p);
        return p;
    }
    p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->gw = gw;
    p->c = net_connect(&cfg->gw[gw], next_src(), &pconn_ops, p);
    if (!p->c) {
        free(p);
        return NULL;
    }
    stats->post_conns++;
    return p;
}

void sess_close_pool(void) {
    for (int g = 0; g < BENCH_MAX_GW; g++) {
        while (pool[g]) {
            pconn *p = pool[g];
            pool_remove(p);
            net_close(p->c, 0);
            free(p);
        }
    }
}

/* ---- session life -------------------------------------------------------- */

static void linger_add(net_conn *c, const http_resp *resp) {
    lingering *l = calloc(1, sizeof *l);
    if (!l) {
        net_close(c, 1);
        return;
    }
    l->c = c;
    l->resp = *resp;
    l->t = net_now();
    c->ops = &linger_ops;
    c->ud = l;
    l->prev = lg_tail;
    if (lg_tail) lg_tail->next = l;
    else lg_head = l;
    lg_tail = l;
}

static void linger_remove(lingering *l) {
    if (l->prev) l->prev->next = l->next;
    else lg_head = l->next;
    if (l->next) l->next->prev = l->prev;
    else lg_tail = l->prev;
    free(l);
}

static void linger_data(net_conn *c, const char *buf, size_t n) {
    lingering *l = c->ud;
    size_t used;
    if (http_resp_feed(&l->resp, buf, n, &used, NULL, NULL) == HTTP_MORE) return;
    stats->server_closed++;     /* the response ended (or is malformed): done with it */
    net_close(c, 1);
    linger_remove(l);
}

static void linger_closed(net_conn *c, int err) {
    (void)err;
    stats->server_closed++;
    linger_remove(c->ud);
}

/* Ends session s: records it (err < 0: success) and frees it. */
static void finish(session *s, int err) {
    int64_t now = net_now();
    if (s->pc) {    /* a POST still in flight: that connection cannot be reused */
        net_close(s->pc->c, 1);
        free(s->pc);
        s->pc = NULL;
    }
    if (s->stream) {
        if (err < 0 && !s->ended) {
            linger_add(s->stream, &s->resp);
        } else if (err < 0) {
            stats->server_closed++;
            net_close(s->stream, 1);
        } else {
            net_close(s->stream, 1);
        }
        s->stream = NULL;
    }
    if (err < 0) {
        stats->ok++;
        if (now >= win_start && now < win_end) stats->window_ok++;
        if (s->record) {
            stats->recorded_ok++;
            hdr_record(&stats->post, (s->t_post - s->t0) / 1000);
            if (!plan->post_only) {
                int64_t sum_us = (s->t_summary - s->t0) / 1000;
                hdr_record(&stats->summary, sum_us);
                hdr_record(&stats->overhead, sum_us - cfg->max_delay_ms * 1000);
                if (!cfg->wfe) hdr_record(&stats->first, (s->t_first - s->t0) / 1000);
            }
        }
    } else {
        stats->failed++;
        stats->errors[err]++;
        if (err == E_TIMEOUT && !stats->stuck_cid[0]) {
            memcpy(stats->stuck_cid, s->cid, sizeof stats->stuck_cid);
            stats->stuck_last_id = s->last_id;
        }
        if (s->record) stats->recorded_failed++;
    }
    if (s->prev) s->prev->next = s->next;
    else act_head = s->next;
    if (s->next) s->next->prev = s->prev;
    else act_tail = s->prev;
    active--;
    free(s->body);
    sse_free(&s->sse);
    free(s);
    if (!plan->open_loop) pending_starts++;
}

static int send_post(session *s) {
    char body[512], req[1024];
    int bl = snprintf(body, sizeof body,
                      "{\"patientId\":\"bench-%lu\",\"delays\":\"%s\",\"timeoutMs\":%ld,\"strategy\":\"%s\"}",
                      patient_seq++ % 100000, cfg->delays, cfg->timeout_ms, cfg->wfe ? "WAIT_FOR_EVERYONE" : "SSE");
    int rl = snprintf(req, sizeof req,
                      "POST /aggregate/journals HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      ntohs(cfg->gw[s->gw].sin_port), bl, body);
    pconn *p = pool_get(s->gw);
    if (!p) return -1;
    p->s = s;
    s->pc = p;
    http_resp_init(&s->resp);
    s->blen = 0;
    if (net_send(p->c, req, (size_t)rl)) {
        s->pc = NULL;
        free(p);
        return -1;
    }
    return 0;
}

static void start(int64_t t0, int record) {
    if (plan->open_loop && cfg->max_active && active >= cfg->max_active) {
        stats->started++;
        stats->failed++;
        stats->errors[E_OVERLOAD]++;
        if (record) stats->recorded_failed++;
        return;
    }
    session *s = calloc(1, sizeof *s);
    if (!s) {
        stats->errors[E_OVERLOAD]++;
        stats->failed++;
        return;
    }
    s->t0 = t0;
    s->record = record;
    s->err = -1;
    s->last_id = 0;
    s->gw = (int)(rr++ % (unsigned long)cfg->ngw);
    sse_init(&s->sse);
    s->prev = act_tail;
    if (act_tail) act_tail->next = s;
    else act_head = s;
    act_tail = s;
    active++;
    stats->started++;
    if (send_post(s)) finish(s, E_POST_CONN);
}

static void body_append(void *ud, const char *p, size_t n) {
    session *s = ud;
    if (s->blen + n + 1 > s->bcap) {
        size_t cap = s->bcap ? s->bcap : 512;
        while (cap < s->blen + n + 1) cap *= 2;
        char *b = realloc(s->body, cap);
        if (!b) {
            s->done = 1;
            s->err = E_POST_PARSE;
            return;
        }
        s->body = b;
        s->bcap = cap;
    }
    memcpy(s->body + s->blen, p, n);
    s->blen += n;
    s->body[s->blen] = 0;
}

static void open_stream(session *s) {
    int sgw = (s->gw + cfg->stream_offset) % cfg->ngw;
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "GET /aggregate/stream?correlationId=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      "Accept: text/event-stream\r\n\r\n",
                      s->cid, ntohs(cfg->gw[sgw].sin_port));
    http_resp_init(&s->resp);
    s->stream = net_connect(&cfg->gw[sgw], next_src(), &stream_ops, s);
    if (!s->stream) {
        finish(s, E_STREAM_CONN);
        return;
    }
    stats->stream_conns++;
    if (net_send(s->stream, req, (size_t)rl)) {
        s->stream = NULL;
        finish(s, E_STREAM_CONN);
    }
}

/* The POST's response is complete. */
static void post_done(session *s, int keepalive) {
    pconn *p = s->pc;
    s->pc = NULL;
    s->t_post = net_now();
    if (p && keepalive) {
        pool_put(p);
    } else if (p) {
        net_close(p->c, 0);
        free(p);
    }
    int st = s->resp.status;
    if (st / 100 >= 1 && st / 100 <= 5) stats->post_status[st / 100]++;
    int want = cfg->wfe ? 200 : 202;
    if (st != want) {
        if (!stats->first_error_status) stats->first_error_status = st;
        finish(s, E_POST_STATUS);
        return;
    }
    if (cfg->wfe) {
        s->t_summary = s->t_post;
        if (http_json_long(s->body, s->blen, "respondents", &s->respondents) ||
            s->respondents != cfg->resources) {
            finish(s, E_VALIDATION);
            return;
        }
        finish(s, -1);
        return;
    }
    if (http_json_str(s->body, s->blen, "correlationId", s->cid, sizeof s->cid)) {
        finish(s, E_POST_PARSE);
        return;
    }
    if (plan->post_only) {
        if (plan->on_cid) plan->on_cid(s->cid, plan->ud);
        finish(s, -1);
        return;
    }
    open_stream(s);
}

static void pconn_data(net_conn *c, const char *buf, size_t n) {
    pconn *p = c->ud;
    session *s = p->s;
    if (!s) {   /* bytes on an idle connection: not HTTP as we know it */
        pool_remove(p);
        net_close(c, 1);
        free(p);
        return;
    }
    size_t used;
    int r = http_resp_feed(&s->resp, buf, n, &used, body_append, s);
    if (r == HTTP_ERR || s->done || (r == HTTP_DONE && used != n)) {
        finish(s, E_POST_PARSE);
        return;
    }
    if (r == HTTP_DONE) post_done(s, !s->resp.conn_close);
}

static void pconn_closed(net_conn *c, int err) {
    pconn *p = c->ud;
    session *s = p->s;
    int reused = p->reused;
    if (!s) {
        pool_remove(p);
        free(p);
        return;
    }
    s->pc = NULL;
    free(p);
    if (!err && s->resp.status && http_resp_eof(&s->resp) == HTTP_DONE) {   /* close-delimited answer */
        post_done(s, 0);
        return;
    }
    /* A reused keep-alive connection the server closed before answering: retry once. */
    if (reused && !s->resp.status && !s->retried) {
        s->retried = 1;
        if (send_post(s) == 0) return;
    }
    finish(s, E_POST_CONN);
}

static void on_event(void *ud, long long id, const char *event, const char *data, size_t len) {
    session *s = ud;
    if (s->done) return;
    stats->events++;
    if (id <= s->last_id) {
        s->done = 1;
        s->err = E_ORDER;
        return;
    }
    s->last_id = id;
    if (!strcmp(event, "callback")) {
        if (!s->callbacks++) s->t_first = net_now();
        return;
    }
    if (!strcmp(event, "summary")) {
        s->t_summary = net_now();
        if (!s->callbacks) s->t_first = s->t_summary;
        s->done = 1;
        char by[32];
        if (!http_json_str(data, len, "completedBy", by, sizeof by) && !strcmp(by, "TIMEOUT"))
            stats->timeout_summaries++;
        if (http_json_long(data, len, "respondents", &s->respondents) || s->respondents != cfg->resources ||
            s->callbacks != cfg->resources)
            s->err = E_VALIDATION;
    }
}

static void stream_body(void *ud, const char *p, size_t n) {
    session *s = ud;
    if (s->done) return;
    if (sse_feed(&s->sse, p, n, on_event, s)) {
        s->done = 1;
        s->err = E_STREAM_EOF;
    }
}

static void stream_data(net_conn *c, const char *buf, size_t n) {
    session *s = c->ud;
    size_t used;
    int r = http_resp_feed(&s->resp, buf, n, &used, stream_body, s);
    if (s->resp.headers_done && s->resp.status != 200) {
        finish(s, E_STREAM_STATUS);
        return;
    }
    if (s->done) {
        s->ended = r == HTTP_DONE;
        finish(s, s->err);
        return;
    }
    if (r != HTTP_MORE) finish(s, E_STREAM_EOF);
}

static void stream_closed(net_conn *c, int err) {
    session *s = c->ud;
    s->stream = NULL;
    if (s->done) {  /* the summary and the close arrived together */
        stats->server_closed++;
        finish(s, s->err);
        return;
    }
    finish(s, err && !s->resp.status ? E_STREAM_CONN : E_STREAM_EOF);
}

/* ---- the run loop -------------------------------------------------------- */

static void sweep(int64_t now) {
    int64_t limit = (int64_t)(cfg->session_timeout_s * 1e9);
    while (act_head && now - act_head->t0 > limit) finish(act_head, act_head->pc ? E_TIMEOUT_POST : E_TIMEOUT);
    while (lg_head && now - lg_head->t > LINGER_NS) {
        lingering *l = lg_head;
        stats->linger_expired++;
        net_close(l->c, 1);
        linger_remove(l);
    }
}

int sess_run(const sess_plan *pl, sess_stats *st) {
    plan = pl;
    stats = st;
    pending_starts = 0;
    int64_t t_begin = net_now();
    win_start = t_begin + (int64_t)(pl->warmup_s * 1e9);
    win_end = win_start + (int64_t)(pl->duration_s * 1e9);
    st->window_s = pl->duration_s;
    int64_t period = pl->open_loop ? (int64_t)(1e9 / pl->rate) : 0;
    long i = 0, started = 0;
    int64_t next_sweep = t_begin, next_sample = win_start;
    int in_window = 0, window_done = 0;
    if (!pl->open_loop) pending_starts = pl->concurrency;
    for (;;) {
        int64_t now = net_now();
        int stopping = now >= win_end || (pl->total > 0 && started >= pl->total);
        if (pl->open_loop) {
            for (int64_t t = t_begin + i * period; t <= now && t < win_end && !stopping; t = t_begin + i * period) {
                start(t, t >= win_start);
                i++;
                started++;
                stopping = pl->total > 0 && started >= pl->total;
            }
        } else {
            while (pending_starts > 0 && !stopping) {
                pending_starts--;
                start(now, now >= win_start);
                started++;
                stopping = pl->total > 0 && started >= pl->total;
            }
        }
        if (pl->sample_procs) {
            if (!in_window && now >= win_start) {
                procstat_begin((procstat_set *)&cfg->procs, now);
                in_window = 1;
            }
            if (in_window && !window_done && now >= next_sample) {
                procstat_sample((procstat_set *)&cfg->procs);
                next_sample = now + 500000000LL;
            }
            if (in_window && !window_done && now >= win_end) {
                procstat_end((procstat_set *)&cfg->procs, now);
                window_done = 1;
            }
        }
        if (now >= next_sweep) {
            sweep(now);
            next_sweep = now + SWEEP_NS;
        }
        if (stopping && active == 0 && (!pl->sample_procs || window_done || pl->total > 0)) break;
        int64_t wake = next_sweep;
        if (pl->open_loop && !stopping) {
            int64_t t = t_begin + i * period;
            if (t < wake) wake = t;
        }
        if (pl->sample_procs && !window_done) {
            int64_t t = in_window ? (next_sample < win_end ? next_sample : win_end) : win_start;
            if (t < wake) wake = t;
        }
        if (!stopping && !pl->open_loop && pending_starts > 0) wake = now;
        if (!stopping && pl->total <= 0 && win_end < wake) wake = win_end;
        int64_t to = wake - now;
        if (net_run_once(to < 0 ? 0 : to) < 0) return -1;
    }
    if (pl->total > 0) st->window_s = (double)(net_now() - t_begin) / 1e9;
    return 0;
}

static void err_json(const sess_stats *st, FILE *f) {
    fputc('{', f);
    int first = 1;
    for (int e = 0; e < E_COUNT; e++) {
        if (!st->errors[e]) continue;
        fprintf(f, "%s\"%s\":%llu", first ? "" : ",", bench_err_names[e], (unsigned long long)st->errors[e]);
        first = 0;
    }
    fputc('}', f);
}

void sess_stats_json(const sess_stats *st, int wfe, FILE *f) {
    double tput = st->window_s > 0 ? (double)st->window_ok / st->window_s : 0;
    fprintf(f, "{\"started\":%llu,\"ok\":%llu,\"failed\":%llu,\"recorded_ok\":%llu,\"recorded_failed\":%llu,"
               "\"window_s\":%.3f,\"window_ok\":%llu,\"sessions_per_s\":%.1f,\"events\":%llu,"
               "\"timeout_summaries\":%llu,\"post_connections\":%llu,\"stream_connections\":%llu,"
               "\"streams_ended_by_server\":%llu,\"streams_not_ended_after_2s\":%llu,"
               "\"post_status\":{\"2xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},\"first_error_status\":%lld,\"errors\":",
            (unsigned long long)st->started, (unsigned long long)st->ok, (unsigned long long)st->failed,
            (unsigned long long)st->recorded_ok, (unsigned long long)st->recorded_failed, st->window_s,
            (unsigned long long)st->window_ok, tput, (unsigned long long)st->events,
            (unsigned long long)st->timeout_summaries, (unsigned long long)st->post_conns,
            (unsigned long long)st->stream_conns, (unsigned long long)st->server_closed,
            (unsigned long long)st->linger_expired, (unsigned long long)st->post_status[2],
            (unsigned long long)st->post_status[4], (unsigned long long)st->post_status[5],
            (long long)st->first_error_status);
    err_json(st, f);
    if (st->stuck_cid[0])
        fprintf(f, ",\"first_stuck_stream\":{\"correlationId\":\"%s\",\"last_event_id\":%lld}", st->stuck_cid,
                st->stuck_last_id);
    fputs(",\"latency\":{\"post\":", f);
    hdr_json(&st->post, f);
    if (!wfe) {
        fputs(",\"first_event\":", f);
        hdr_json(&st->first, f);
    }
    fputs(",\"summary\":", f);
    hdr_json(&st->summary, f);
    fputs(",\"overhead\":", f);
    hdr_json(&st->overhead, f);
    fputs("}}", f);
}
