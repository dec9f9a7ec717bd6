/* admission: one place that decides whether a new session or stream starts; every refusal counted by reason. */
#include "admission.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "gateway.h"
#include "inflight.h"
#include "journals.h"
#include "fanoutmsg.h"
#include "log.h"
#include "phash.h"
#include "ratelimit.h"
#include "rlcluster.h"
#include "streams.h"

struct gw_admission {
    gateway *gw;
    ratelimit *local;  /* NULL when RATE_LIMIT_RPS is 0 */
    rlcluster shared;  /* RATE_LIMIT_SCOPE=cluster: the settings of the shared buckets */
    int cluster;       /* RATE_LIMIT_SCOPE=cluster and a rate limit */
    int falling_back;  /* said once: the shared bucket failed, local ones decide */
    inflight *sessions; /* NULL when MAX_SESSIONS_IN_FLIGHT is 0 */
};

gw_admission *gw_admission_new(gateway *gw, err_t *e) {
    gw_admission *a = agg_calloc(1, sizeof *a);
    if (!a) {
        err_nomem(e);
        return NULL;
    }
    a->gw = gw;
    const gw_config *c = &gw->cfg;
    if (c->rate_limit_rps) {
        if (!(a->local = ratelimit_new((double)c->rate_limit_rps, (double)c->rate_limit_burst,
                                       4096, e)) ||
            rlcluster_init(&a->shared, (double)c->rate_limit_rps, (double)c->rate_limit_burst, e) !=
                AGG_OK)
            goto fail;
        a->cluster = c->rate_limit_cluster;
    }
    /* A deadline is at most AGGREGATOR_TIMEOUT_MAX_MS after the POST. */
    if (c->max_sessions_in_flight && !(a->sessions = inflight_new(c->timeout_max_ms, e))) goto fail;
    return a;
fail:
    gw_admission_free(a);
    return NULL;
}

void gw_admission_free(gw_admission *a) {
    if (!a) return;
    ratelimit_free(a->local);
    inflight_free(a->sessions);
    agg_free(a);
}

void gw_admission_session_started(gw_admission *a, long timeout_ms) {
    if (a->sessions) inflight_add(a->sessions, loop_now_ms() + timeout_ms, loop_now_ms());
}

size_t gw_admission_sessions_in_flight(gw_admission *a) {
    return a->sessions ? inflight_count(a->sessions, loop_now_ms()) : 0;
}

/* The key of r's bucket. Authenticated, the principal's: "s:<sub>", or for a sub too long for a
 * bucket's key (which would be cut, and shared with every sub of the same start) "h:" and the
 * hex of a hash of it; an address has no such prefix, so no principal shares an address's
 * bucket. Else its client address. */
static void client_key(httpd_req *r, const char *principal, int authenticated,
                       char key[RATELIMIT_CLIENT_MAX + 1]) {
    if (!authenticated) {
        httpd_client_ip(r, key, RATELIMIT_CLIENT_MAX + 1);
        return;
    }
    size_t n = strlen(principal);
    if (n + 2 <= RATELIMIT_CLIENT_MAX) {
        snprintf(key, RATELIMIT_CLIENT_MAX + 1, "s:%s", principal);
        return;
    }
    unsigned char mac[PHASH_MAC_LEN];
    phash_hmac_sha256("ratelimit", 9, principal, n, mac);
    key[0] = 'h';
    key[1] = ':';
    size_t i = 0;
    for (; i < PHASH_MAC_LEN && 2 + 2 * i + 2 <= RATELIMIT_CLIENT_MAX; i++)
        snprintf(key + 2 + 2 * i, 3, "%02x", mac[i]);
    key[2 + 2 * i] = '\0';
}

/* Who asks: the verified principal (FANOUTMSG_ANONYMOUS under AUTH_MODE=none), copied so that
 * a request that waits for the shared bucket keeps it. */
typedef struct asker {
    char principal[FANOUTMSG_PRINCIPAL_MAX + 1];
    int authenticated;
} asker;

static void refuse(gateway *gw, httpd_req *r, int reason, const char *code, int retry_s,
                   const char *msg) {
    metrics_inc(gw->metrics.admission_refused[reason], 1);
    api_error e;
    apierr_set(&e, 503, code, NULL, "%s", msg);
    httpd_respond_error_retry(r, &e, retry_s);
}

static void respond_rate_limited(gateway *gw, httpd_req *r, const ratelimit_result *rl,
                                 int authenticated) {
    metrics_inc(gw->metrics.rate_limited, 1);
    metrics_inc(gw->metrics.admission_refused[GW_REFUSED_RATE_LIMITED], 1);
    char limit[24], remaining[24], reset[24], retry[24];
    snprintf(limit, sizeof limit, "%ld", rl->limit);
    snprintf(remaining, sizeof remaining, "%ld", rl->remaining);
    snprintf(reset, sizeof reset, "%ld", rl->reset_s);
    snprintf(retry, sizeof retry, "%ld", rl->retry_after_s);
    const char *headers[] = {"Retry-After", retry, "RateLimit-Limit", limit,
                             "RateLimit-Remaining", remaining, "RateLimit-Reset", reset};
    api_error e;
    apierr_set(&e, 429, "rate_limited", NULL,
               "more than RATE_LIMIT_RPS (%ld/s, burst %ld) from this %s; retry after %ld s",
               gw->cfg.rate_limit_rps, gw->cfg.rate_limit_burst,
               authenticated ? "principal" : "client address", rl->retry_after_s);
    char *body = apierr_to_json(&e, NULL);
    httpd_respond_headers(r, 429, NULL,
                          body ? body : "{\"error\":\"rate_limited\",\"message\":\"rate limited\"}",
                          headers, sizeof headers / sizeof headers[0] / 2);
    agg_free(body);
}

/* After the rate limit: the global caps, load shedding, then the handler. Checked here, after
 * any wait for Redis, so that the figures are those of the moment the work starts. */
static void admit_rest(gateway *gw, httpd_req *r, int kind, const asker *who) {
    gw_admission *a = gw->admission;
    const gw_config *c = &gw->cfg;
    if (gw->draining) {
        metrics_inc(gw->metrics.admission_refused[GW_REFUSED_SHUTTING_DOWN], 1);
        gw_respond_draining(gw, r);
        return;
    }
    if (kind == GW_ADMIT_STREAM) {
        if (c->max_sse_streams &&
            gw_streams_admitted(gw->streams) >= (size_t)c->max_sse_streams) {
            refuse(gw, r, GW_REFUSED_TOO_MANY_STREAMS, "too_many_streams", 1,
                   "this gateway has MAX_SSE_STREAMS streams open; retry (another replica may "
                   "have room)");
            return;
        }
        gw_streams_handle(gw->streams, r, who->authenticated ? who->principal : NULL);
        return;
    }
    if (a->sessions && inflight_count(a->sessions, loop_now_ms()) >=
                           (size_t)c->max_sessions_in_flight) {
        refuse(gw, r, GW_REFUSED_TOO_MANY_SESSIONS, "too_many_sessions", 1,
               "this gateway has MAX_SESSIONS_IN_FLIGHT sessions before their deadline; retry "
               "(another replica may have room)");
        return;
    }
    /* Load shedding: past this many requests and messages waiting for the broker the
     * pipeline lags; refusing new sessions early lets the ones already accepted finish
     * (their answers are always taken) instead of every session ending by deadline. */
    if (c->max_pending > 0 &&
        (size_t)gw->posts_publishing + gw_producer_queued(gw->kafka) >= (size_t)c->max_pending) {
        metrics_inc(gw->metrics.sessions_shed, 1);
        refuse(gw, r, GW_REFUSED_OVERLOADED, "overloaded", 1,
               "too many requests waiting for the message broker; retry in a second");
        return;
    }
    gw_journals_handle(gw, r, who->principal);
}

/* The local bucket decides: the rate limit of this replica alone. */
static void admit_local(gateway *gw, httpd_req *r, int kind, const asker *who,
                        const char *client) {
    ratelimit_result rl;
    ratelimit_take(gw->admission->local, client, loop_now_ms(), &rl);
    if (!rl.allowed) {
        respond_rate_limited(gw, r, &rl, who->authenticated);
        return;
    }
    admit_rest(gw, r, kind, who);
}

/* The shared bucket cannot answer: the local one does, said once until it answers again. */
static void fall_back(gw_admission *a, const char *why) {
    metrics_inc(a->gw->metrics.rate_limit_fallbacks, 1);
    if (a->falling_back) return;
    a->falling_back = 1;
    log_warn("RATE_LIMIT_SCOPE=cluster: the shared rate limit in Redis failed (%s); each gateway "
             "limits on its own until Redis answers again",
             why);
}

typedef struct admit_wait {
    gateway *gw;
    httpd_req *r;
    int kind;
    int cancelled;
    asker who;
    char client[RATELIMIT_CLIENT_MAX + 1];
} admit_wait;

static void on_wait_cancel(void *arg) { ((admit_wait *)arg)->cancelled = 1; }

static void on_shared_bucket(struct redisReply *reply, void *arg) {
    admit_wait *w = arg;
    if (w->cancelled) {
        agg_free(w);
        return;
    }
    gateway *gw = w->gw;
    gw_admission *a = gw->admission;
    httpd_req_on_cancel(w->r, NULL, NULL);
    ratelimit_result rl;
    err_t e;
    if (rlcluster_reply(reply, &a->shared, &rl, &e) != AGG_OK) {
        fall_back(a, e.text);
        admit_local(gw, w->r, w->kind, &w->who, w->client);
    } else {
        if (a->falling_back) {
            a->falling_back = 0;
            log_info("RATE_LIMIT_SCOPE=cluster: the shared rate limit answers again");
        }
        if (!rl.allowed)
            respond_rate_limited(gw, w->r, &rl, w->who.authenticated);
        else
            admit_rest(gw, w->r, w->kind, &w->who);
    }
    agg_free(w);
}

void gw_admit(gateway *gw, httpd_req *r, int kind, const char *principal, int authenticated) {
    gw_admission *a = gw->admission;
    asker who = {.authenticated = authenticated};
    snprintf(who.principal, sizeof who.principal, "%s", principal);
    if (!a->local) {
        admit_rest(gw, r, kind, &who);
        return;
    }
    char client[RATELIMIT_CLIENT_MAX + 1];
    client_key(r, principal, authenticated, client);
    if (!a->cluster) {
        admit_local(gw, r, kind, &who, client);
        return;
    }
    if (!rds_ready(gw->redis)) {
        fall_back(a, "not connected");
        admit_local(gw, r, kind, &who, client);
        return;
    }
    admit_wait *w = agg_malloc(sizeof *w);
    if (!w) {
        fall_back(a, "out of memory");
        admit_local(gw, r, kind, &who, client);
        return;
    }
    *w = (admit_wait){.gw = gw, .r = r, .kind = kind, .who = who};
    snprintf(w->client, sizeof w->client, "%s", client);
    rlcluster_call c;
    rlcluster_call_take(&c, &a->shared, client);
    err_t e;
    if (rds_call_send(gw->redis, &c.call, on_shared_bucket, w, &e) != AGG_OK) {
        agg_free(w);
        fall_back(a, e.text);
        admit_local(gw, r, kind, &who, client);
        return;
    }
    httpd_req_on_cancel(r, on_wait_cancel, w);
}
