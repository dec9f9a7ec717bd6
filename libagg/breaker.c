/* breaker: a resource's circuit breaker: key, script calls, replies, and the pure decisions. */
#include "breaker.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_PREFIX "agg:breaker:{"
/* Old failures are forgotten, and an open circuit without traffic closes, an hour after its
 * last write beyond the cool-down and the lease. */
#define RETAIN_MS 3600000LL

static const char *const state_names[] = {"closed", "open", "probing"};

const char *breaker_state_name(breaker_state s) {
    if ((int)s < 0 || (size_t)s >= sizeof state_names / sizeof state_names[0]) return "closed";
    return state_names[s];
}

breaker_decision breaker_decide(const breaker_view *v, long long now_ms) {
    if (v->state == BREAKER_CLOSED) return BREAKER_CALL;
    /* Open: the cool-down; probing: another caller's probe, until its lease ends. */
    return now_ms < v->until_ms ? BREAKER_FAIL_FAST : BREAKER_TRY_PROBE;
}

int breaker_is_failure(outcome_t o) {
    return o == OUTCOME_ERROR || o == OUTCOME_CONNECTION_CLOSED || o == OUTCOME_TIMEOUT;
}

int breaker_must_report(const breaker_view *v, int failed, int probe) {
    return failed || probe || v->state != BREAKER_CLOSED || v->fails > 0;
}

long long breaker_ttl_ms(const breaker_params *p) {
    return (long long)p->cooldown_ms + p->lease_ms + RETAIN_MS;
}

static int key_of(breaker_call *bc, const char *source, err_t *e) {
    size_t n = source ? strlen(source) : 0;
    if (n == 0 || n > BREAKER_KEY_MAX - sizeof KEY_PREFIX - 1)
        return err_set(e, "circuit breaker: the source name must be 1..%zu characters",
                       (size_t)(BREAKER_KEY_MAX - sizeof KEY_PREFIX - 1));
    snprintf(bc->key, sizeof bc->key, KEY_PREFIX "%s}", source);
    return AGG_OK;
}

static int params_ok(const breaker_params *p, err_t *e) {
    if (p->threshold < 1 || p->cooldown_ms < 0 || p->lease_ms < 1)
        return err_set(e, "circuit breaker: parameter out of range");
    return AGG_OK;
}

static const char *num(breaker_call *bc, int i, long long v) {
    snprintf(bc->num[i], sizeof bc->num[i], "%lld", v);
    return bc->num[i];
}

int breaker_call_fail(breaker_call *bc, const char *source, const breaker_params *p,
                      long long now_ms, int probe, err_t *e) {
    if (key_of(bc, source, e) != AGG_OK || params_ok(p, e) != AGG_OK) return AGG_ERR;
    rds_call_breaker_fail(&bc->call, bc->key, num(bc, 0, now_ms), num(bc, 1, p->threshold),
                          num(bc, 2, p->cooldown_ms), probe ? "1" : "0",
                          num(bc, 3, breaker_ttl_ms(p)));
    return AGG_OK;
}

int breaker_call_success(breaker_call *bc, const char *source, int probe, err_t *e) {
    if (key_of(bc, source, e) != AGG_OK) return AGG_ERR;
    rds_call_breaker_success(&bc->call, bc->key, probe ? "1" : "0");
    return AGG_OK;
}

int breaker_call_probe(breaker_call *bc, const char *source, const breaker_params *p,
                       long long now_ms, err_t *e) {
    if (key_of(bc, source, e) != AGG_OK || params_ok(p, e) != AGG_OK) return AGG_ERR;
    rds_call_breaker_probe(&bc->call, bc->key, num(bc, 0, now_ms), num(bc, 1, p->lease_ms),
                           num(bc, 2, breaker_ttl_ms(p)));
    return AGG_OK;
}

int breaker_call_read(breaker_call *bc, const char *source, err_t *e) {
    if (key_of(bc, source, e) != AGG_OK) return AGG_ERR;
    rds_call_begin_command(&bc->call);
    rds_call_push(&bc->call, "HMGET");
    rds_call_push(&bc->call, bc->key);
    rds_call_push(&bc->call, "state");
    rds_call_push(&bc->call, "fails");
    rds_call_push(&bc->call, "until");
    return AGG_OK;
}

static int state_of(const char *s, size_t len, breaker_state *out) {
    for (size_t i = 0; i < sizeof state_names / sizeof state_names[0]; i++) {
        if (strlen(state_names[i]) == len && memcmp(s, state_names[i], len) == 0) {
            *out = (breaker_state)i;
            return AGG_OK;
        }
    }
    return AGG_ERR;
}

/* A non-negative decimal integer of a string reply (HMGET) into *out. */
static int int_of_string(const redisReply *r, long long *out) {
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 19) return AGG_ERR;
    long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9') return AGG_ERR;
        v = v * 10 + (r->str[i] - '0');
    }
    *out = v;
    return AGG_OK;
}

static int shape_error(const redisReply *r, const char *what, err_t *e) {
    if (r && r->type == REDIS_REPLY_ERROR && r->str)
        return err_set(e, "circuit breaker %s: %.200s", what, r->str);
    return err_set(e, "circuit breaker %s: %s", what, r ? "unexpected reply" : "no reply");
}

int breaker_script_reply(const redisReply *r, breaker_view *v, int *granted, err_t *e) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) return shape_error(r, "script", e);
    const redisReply *s = r->element[0];
    breaker_view n;
    if (s->type != REDIS_REPLY_STRING || state_of(s->str, s->len, &n.state) != AGG_OK)
        return shape_error(r, "script", e);
    for (int i = 1; i < 4; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer < 0)
            return shape_error(r, "script", e);
    n.fails = r->element[1]->integer;
    n.until_ms = r->element[2]->integer;
    *v = n;
    if (granted) *granted = r->element[3]->integer == 1;
    return AGG_OK;
}

int breaker_read_reply(const redisReply *r, breaker_view *v, err_t *e) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return shape_error(r, "read", e);
    const redisReply *const *f = (const redisReply *const *)r->element;
    breaker_view n = {BREAKER_CLOSED, 0, 0};
    if (f[0]->type != REDIS_REPLY_NIL &&
        (f[0]->type != REDIS_REPLY_STRING || state_of(f[0]->str, f[0]->len, &n.state) != AGG_OK))
        return shape_error(r, "read", e);
    if ((f[1]->type != REDIS_REPLY_NIL && int_of_string(f[1], &n.fails) != AGG_OK) ||
        (f[2]->type != REDIS_REPLY_NIL && int_of_string(f[2], &n.until_ms) != AGG_OK))
        return shape_error(r, "read", e);
    *v = n;
    return AGG_OK;
}
