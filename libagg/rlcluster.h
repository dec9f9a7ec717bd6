/* rlcluster: the token bucket per client kept in Redis for a rate limit shared by every gateway (RATE_LIMIT_SCOPE=cluster): its key, its script call and the parsing of the reply. */
#ifndef AGG_RLCLUSTER_H
#define AGG_RLCLUSTER_H

#include "err.h"
#include "ratelimit.h"
#include "rds.h"

struct redisReply;

/* Key layout: one hash per client, agg:rl:{<client>} (its own hash tag, so a call touches one
 * Redis Cluster slot), fields tokens and ts (the server's ms), with a TTL of the time the bucket
 * takes to refill plus a second: an expired key is a full bucket, as a missing one is. */
#define RLCLUSTER_KEY_MAX (16 + RATELIMIT_CLIENT_MAX)

/* The settings, formatted once at start-up so that a request formats nothing but its key. */
typedef struct rlcluster {
    double rps, burst;
    char rps_s[32], burst_s[32], ttl_s[24];
} rlcluster;

/* Fills p for rps (> 0) and burst (>= 1). AGG_ERR with e filled on a bad argument. */
int rlcluster_init(rlcluster *p, double rps, double burst, err_t *e);

/* One call of ratelimit_take.lua for a client; it borrows p and holds its key, so it must live
 * until rds_call_send returned. */
typedef struct rlcluster_call {
    rds_call call;
    char key[RLCLUSTER_KEY_MAX + 1];
} rlcluster_call;

/* Builds the call that takes a token from client's bucket (client cut to RATELIMIT_CLIENT_MAX
 * bytes; NULL or "" is "?", as the local table has it). Never fails. */
void rlcluster_call_take(rlcluster_call *c, const rlcluster *p, const char *client);

/* The script's reply into *out (the same figures as a local bucket: ratelimit_figures).
 * AGG_ERR with e filled when r is NULL, an error or not the script's shape: the caller then
 * falls back to its local bucket. */
int rlcluster_reply(const struct redisReply *r, const rlcluster *p, ratelimit_result *out,
                    err_t *e);

#endif
