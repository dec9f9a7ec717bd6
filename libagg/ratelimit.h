/* ratelimit: a token bucket per client in a fixed-size table, for 429 answers (pure). */
#ifndef AGG_RATELIMIT_H
#define AGG_RATELIMIT_H

#include <stddef.h>

#include "err.h"

/* Each client (an address, later a token's subject) has a bucket of `burst` tokens that
 * refills at `rps` tokens a second; a request takes one. The table has a fixed number of
 * slots, allocated once: a flood of new clients evicts the least recently seen of the few slots
 * a client can hash to, so memory never grows with the number of clients (an evicted client
 * starts again with a full bucket: the limit errs on the side of letting a request through,
 * never of refusing a client that kept to it). */
typedef struct ratelimit ratelimit;

#define RATELIMIT_CLIENT_MAX 63 /* longer client keys are cut */

typedef struct ratelimit_result {
    int allowed;          /* 1: the request took a token */
    long limit;           /* the burst: RateLimit-Limit */
    long remaining;       /* whole tokens left after this request: RateLimit-Remaining */
    long retry_after_s;   /* refused: whole seconds until a token is back (>= 1): Retry-After */
    long reset_s;         /* whole seconds until the bucket is full again: RateLimit-Reset */
} ratelimit_result;

/* A table of `slots` buckets (at least 8) of `burst` tokens (>= 1) refilled at rps (> 0) a
 * second. NULL with e filled on out of memory or a bad argument. Caller frees with
 * ratelimit_free. */
ratelimit *ratelimit_new(double rps, double burst, size_t slots, err_t *e);
void ratelimit_free(ratelimit *rl);

/* Takes one token from client's bucket at now_ms (a monotonic clock) and fills *out.
 * client is borrowed for the call. Never fails. */
void ratelimit_take(ratelimit *rl, const char *client, long long now_ms, ratelimit_result *out);

/* The figures of *out from a bucket that holds `tokens` after a request that took one
 * (allowed 1) or was refused (0), at rps and burst: the one rule behind the headers, for a
 * local bucket and for one kept in Redis (rlcluster). */
void ratelimit_figures(double tokens, int allowed, double rps, double burst,
                       ratelimit_result *out);

#endif
