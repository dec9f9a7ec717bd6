/* rlcluster: the shared token bucket's key, script call and reply. */
#include "rlcluster.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scripts_gen.h"

int rlcluster_init(rlcluster *p, double rps, double burst, err_t *e) {
    if (!(rps > 0) || !(burst >= 1) || rps > 1e9 || burst > 1e9)
        return err_set(e, "cluster rate limit: rps > 0 and burst >= 1");
    memset(p, 0, sizeof *p);
    p->rps = rps;
    p->burst = burst;
    snprintf(p->rps_s, sizeof p->rps_s, "%.17g", rps);
    snprintf(p->burst_s, sizeof p->burst_s, "%.17g", burst);
    /* An idle client's key goes once its bucket would be full again anyway. */
    snprintf(p->ttl_s, sizeof p->ttl_s, "%lld", (long long)ceil(burst / rps * 1000.0) + 1000);
    return AGG_OK;
}

void rlcluster_call_take(rlcluster_call *c, const rlcluster *p, const char *client) {
    if (!client || !*client) client = "?";
    snprintf(c->key, sizeof c->key, "agg:rl:{%.*s}", RATELIMIT_CLIENT_MAX, client);
    rds_call_ratelimit_take(&c->call, c->key, p->rps_s, p->burst_s, p->ttl_s);
}

int rlcluster_reply(const redisReply *r, const rlcluster *p, ratelimit_result *out, err_t *e) {
    if (!r) return err_set(e, "cluster rate limit: no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return err_set(e, "cluster rate limit: %.200s", r->str ? r->str : "error");
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER ||
        (r->element[0]->integer != 0 && r->element[0]->integer != 1) ||
        r->element[1]->integer < 0)
        return err_set(e, "cluster rate limit: unexpected reply");
    ratelimit_figures((double)r->element[1]->integer / 1000.0, (int)r->element[0]->integer,
                      p->rps, p->burst, out);
    return AGG_OK;
}
