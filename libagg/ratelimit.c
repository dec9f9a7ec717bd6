/* ratelimit: token buckets per client in an open-addressed table of fixed size. */
#include "ratelimit.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

/* How many slots a client may land in: a new client takes a free one of them or evicts the
 * least recently seen. */
#define PROBES 8

typedef struct bucket {
    char client[RATELIMIT_CLIENT_MAX + 1]; /* "" = free */
    double tokens;
    long long last_ms;
} bucket;

struct ratelimit {
    double rps, burst;
    size_t n;
    bucket *b;
};

ratelimit *ratelimit_new(double rps, double burst, size_t slots, err_t *e) {
    if (!(rps > 0) || !(burst >= 1) || slots < PROBES) {
        err_set(e, "rate limit: rps > 0, burst >= 1 and at least %d slots", PROBES);
        return NULL;
    }
    ratelimit *rl = agg_calloc(1, sizeof *rl);
    bucket *b = agg_calloc(slots, sizeof *b);
    if (!rl || !b) {
        agg_free(rl);
        agg_free(b);
        err_nomem(e);
        return NULL;
    }
    rl->rps = rps;
    rl->burst = burst;
    rl->n = slots;
    rl->b = b;
    return rl;
}

void ratelimit_free(ratelimit *rl) {
    if (!rl) return;
    agg_free(rl->b);
    agg_free(rl);
}

/* FNV-1a of the first RATELIMIT_CLIENT_MAX bytes of s. */
static size_t hash(const char *s) {
    size_t h = (size_t)1469598103934665603ULL;
    for (size_t i = 0; s[i] && i < RATELIMIT_CLIENT_MAX; i++) {
        h ^= (unsigned char)s[i];
        h *= (size_t)1099511628211ULL;
    }
    return h;
}

/* The bucket of client: its own, else a free slot or the least recently seen of its probes,
 * made full for it. */
static bucket *find(ratelimit *rl, const char *client, long long now_ms) {
    size_t h = hash(client), victim = h % rl->n;
    for (size_t i = 0; i < PROBES; i++) {
        size_t k = (h + i) % rl->n;
        bucket *b = &rl->b[k];
        if (strncmp(b->client, client, RATELIMIT_CLIENT_MAX) == 0 && b->client[0]) return b;
        if (!b->client[0]) {
            victim = k;
            break;
        }
        if (b->last_ms < rl->b[victim].last_ms) victim = k;
    }
    bucket *b = &rl->b[victim];
    size_t len = strnlen(client, RATELIMIT_CLIENT_MAX);
    memcpy(b->client, client, len);
    b->client[len] = '\0';
    b->tokens = rl->burst;
    b->last_ms = now_ms;
    return b;
}

void ratelimit_take(ratelimit *rl, const char *client, long long now_ms, ratelimit_result *out) {
    bucket *b = find(rl, client && *client ? client : "?", now_ms);
    if (now_ms > b->last_ms) {
        b->tokens = fmin(rl->burst, b->tokens + (double)(now_ms - b->last_ms) * rl->rps / 1000.0);
        b->last_ms = now_ms;
    }
    int allowed = b->tokens >= 1.0;
    if (allowed) b->tokens -= 1.0;
    ratelimit_figures(b->tokens, allowed, rl->rps, rl->burst, out);
}

void ratelimit_figures(double tokens, int allowed, double rps, double burst,
                       ratelimit_result *out) {
    if (tokens < 0) tokens = 0;
    out->limit = (long)burst;
    out->allowed = allowed;
    out->remaining = (long)floor(tokens);
    out->reset_s = (long)ceil((burst - tokens) / rps);
    double wait = allowed ? 0 : (1.0 - tokens) / rps;
    out->retry_after_s = allowed ? 0 : (long)ceil(wait) < 1 ? 1 : (long)ceil(wait);
}
