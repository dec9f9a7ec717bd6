/* breakers: the worker's local view of the resources' circuit breakers and the reports that change them. */
#include "breakers.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "reslist.h"
#include "strmap.h"

/* Resources one worker tracks; beyond, a new resource is called without a breaker (logged). */
#define BREAKERS_MAX 1024
/* How much longer than the call's own timeout a probe is its caller's. */
#define LEASE_MARGIN_MS 5000

/* One resource's breaker as this worker knows it. */
typedef struct bentry {
    worker *w;
    breaker_view v;
    long long asking_until; /* loop_wall_ms() until which this worker's probe request or probe
                               call is out: no second one */
    int res; /* index in RESOURCE_URLS for resource_circuit_state (wmetrics_source), or -1 */
    char source[RESLIST_NAME_MAX + 1];
} bentry;

struct breakers_state {
    strmap *by_source; /* source -> bentry (owned) */
    long long next_refresh;
    int reading; /* refresh reads outstanding */
    int full_logged;
};

static struct bentry *find(worker *w, const char *source, int create);
static int track_configured(worker *w, err_t *e);

static breaker_params params_of(const worker *w) {
    breaker_params p = {w->cfg.breaker_failures, w->cfg.breaker_cooldown_ms,
                        w->cfg.read_timeout_ms + LEASE_MARGIN_MS};
    return p;
}

int breakers_init(worker *w, err_t *e) {
    w->breakers = agg_calloc(1, sizeof *w->breakers);
    if (w->breakers == NULL) return err_nomem(e);
    if ((w->breakers->by_source = strmap_new()) == NULL) {
        agg_free(w->breakers);
        w->breakers = NULL;
        return err_nomem(e);
    }
    return track_configured(w, e);
}

/* Tracks the configured resources from the start: a worker that has not called one yet (its
 * partitions carry no fan-out for it) still sees its circuit at the next refresh. */
static int track_configured(worker *w, err_t *e) {
    if (!w->cfg.breaker_enabled || !w->cfg.allow_enforced) return AGG_OK;
    for (int i = 0; i < w->cfg.allow.n; i++)
        if (find(w, w->cfg.allow.items[i].source, 1) == NULL) return err_nomem(e);
    return AGG_OK;
}

static void free_entry(const char *key, void *value, void *arg) {
    (void)key;
    (void)arg;
    agg_free(value);
}

void breakers_shutdown(worker *w) {
    struct breakers_state *s = w->breakers;
    if (s == NULL) return;
    strmap_each(s->by_source, free_entry, NULL);
    strmap_free(s->by_source);
    agg_free(s);
    w->breakers = NULL;
}

/* Replaces b's view, keeping the gauge and logging the transitions. */
static void set_view(bentry *b, const breaker_view *v, const char *why) {
    worker *w = b->w;
    breaker_state was = b->v.state;
    if ((was != BREAKER_CLOSED) != (v->state != BREAKER_CLOSED))
        wmetrics_breakers_open_add(&w->met, v->state != BREAKER_CLOSED ? 1 : -1);
    if (was != v->state) wmetrics_circuit(&w->met, b->res, v->state);
    if (was != v->state) {
        if (v->state == BREAKER_OPEN)
            log_warn("circuit of %s open after %lld consecutive failures (%s); calls fail fast "
                     "until the cool-down ends",
                     b->source, v->fails, why);
        else if (v->state == BREAKER_CLOSED)
            log_info("circuit of %s closed (%s)", b->source, why);
    }
    b->v = *v;
}

static bentry *find(worker *w, const char *source, int create) {
    struct breakers_state *s = w->breakers;
    bentry *b = strmap_get(s->by_source, source);
    if (b != NULL || !create) return b;
    if (strmap_size(s->by_source) >= BREAKERS_MAX || strlen(source) >= sizeof b->source) {
        if (!s->full_logged++)
            log_warn("circuit breakers: %d resources tracked (or a name too long); %s is called "
                     "without one",
                     BREAKERS_MAX, source);
        return NULL;
    }
    if ((b = agg_calloc(1, sizeof *b)) == NULL) return NULL;
    b->w = w;
    b->res = wmetrics_source(&w->met, source, -1);
    memcpy(b->source, source, strlen(source) + 1);
    if (strmap_put(s->by_source, source, b) != AGG_OK) {
        agg_free(b);
        return NULL;
    }
    return b;
}

breaker_decision breakers_decide(worker *w, const char *source) {
    if (!w->cfg.breaker_enabled) return BREAKER_CALL;
    bentry *b = find(w, source, 1);
    if (b == NULL) return BREAKER_CALL; /* untracked (out of memory, too many): no breaker */
    long long now = loop_wall_ms();
    breaker_decision d = breaker_decide(&b->v, now);
    if (d == BREAKER_TRY_PROBE && now < b->asking_until) d = BREAKER_FAIL_FAST;
    if (d == BREAKER_FAIL_FAST) metrics_inc(w->met.breaker_fast_fails, 1);
    return d;
}

rdsretry *breakers_probe(worker *w, const char *source, rdsretry_done_cb *done, void *arg,
                         err_t *e) {
    bentry *b = find(w, source, 0);
    breaker_params p = params_of(w);
    long long now = loop_wall_ms();
    breaker_call bc;
    if (b == NULL) {
        err_set(e, "no circuit breaker for %s", source);
        return NULL;
    }
    if (breaker_call_probe(&bc, source, &p, now, e) != AGG_OK) return NULL;
    rdsretry *r = rdsretry_send(w, &bc.call, done, arg, e);
    if (r != NULL) b->asking_until = now + p.lease_ms;
    return r;
}

int breakers_probe_granted(worker *w, const char *source, const redisReply *reply) {
    bentry *b = find(w, source, 0);
    breaker_view v;
    int granted = 0;
    err_t e;
    if (b == NULL) return 0;
    if (breaker_script_reply(reply, &v, &granted, &e) != AGG_OK) {
        log_warn("circuit of %s: %s; the call fails fast", source, e.text);
        b->asking_until = 0;
        metrics_inc(w->met.breaker_fast_fails, 1);
        return 0;
    }
    set_view(b, &v, "read with the probe request");
    if (granted) {
        metrics_inc(w->met.breaker_probes, 1);
        log_info("circuit of %s: this worker's call is the probe", source);
        return 1;
    }
    b->asking_until = 0;
    if (v.state == BREAKER_CLOSED) return 2;
    metrics_inc(w->met.breaker_fast_fails, 1);
    return 0;
}

static void on_report(struct redisReply *reply, void *arg) {
    bentry *b = arg;
    worker *w = b->w;
    if (w->closing || reply == NULL) return; /* lost: the next refresh reads the state */
    breaker_view v;
    err_t e;
    if (breaker_script_reply(reply, &v, NULL, &e) != AGG_OK) {
        log_warn("circuit of %s: %s", b->source, e.text);
        return;
    }
    if (v.state == BREAKER_OPEN && b->v.state != BREAKER_OPEN)
        metrics_inc(w->met.breaker_opens, 1);
    set_view(b, &v, "reported by this worker");
}

void breakers_outcome(worker *w, const char *source, outcome_t o, int probe) {
    if (!w->cfg.breaker_enabled) return;
    bentry *b = find(w, source, 0);
    if (b == NULL) return;
    int failed = breaker_is_failure(o);
    if (!breaker_must_report(&b->v, failed, probe)) return;
    if (probe) b->asking_until = 0;
    breaker_params p = params_of(w);
    breaker_call bc;
    err_t e;
    int rc = failed ? breaker_call_fail(&bc, source, &p, loop_wall_ms(), probe, &e)
                    : breaker_call_success(&bc, source, probe, &e);
    /* Not retried: a lost report costs one failure's count, and the refresh corrects the view. */
    if (rc != AGG_OK || rds_call_send(w->r, &bc.call, on_report, b, &e) != AGG_OK) {
        log_debug("circuit of %s: %s not reported: %s", source, failed ? "failure" : "success",
                  e.text);
        return;
    }
    /* Until the reply: a success that follows must reset the count it does not see yet. */
    if (failed && b->v.state == BREAKER_CLOSED) b->v.fails++;
}

static void on_read(struct redisReply *reply, void *arg) {
    bentry *b = arg;
    worker *w = b->w;
    if (w->closing) return;
    w->breakers->reading--;
    breaker_view v;
    err_t e;
    if (reply == NULL) return;
    if (breaker_read_reply(reply, &v, &e) != AGG_OK) {
        log_warn("circuit of %s: %s", b->source, e.text);
        return;
    }
    set_view(b, &v, "read from Redis");
}

static void read_one(const char *key, void *value, void *arg) {
    bentry *b = value;
    worker *w = arg;
    breaker_call bc;
    err_t e;
    (void)key;
    if (breaker_call_read(&bc, b->source, &e) != AGG_OK ||
        rds_call_send(w->r, &bc.call, on_read, b, &e) != AGG_OK)
        return; /* Redis away: the next period tries again */
    w->breakers->reading++;
}

void breakers_prepare(worker *w) {
    struct breakers_state *s = w->breakers;
    if (s == NULL || !w->cfg.breaker_enabled || w->stopping || w->closing || w->r == NULL) return;
    long long now = loop_now_ms();
    if (now >= s->next_refresh && s->reading == 0) {
        s->next_refresh = now + w->cfg.breaker_refresh_ms;
        if (rds_ready(w->r)) strmap_each(s->by_source, read_one, w);
    }
    if (s->reading == 0) loop_limit_wait(w->l, s->next_refresh - now);
}
