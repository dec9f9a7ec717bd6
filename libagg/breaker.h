/* breaker: a resource's circuit breaker: its key, the calls of its Lua scripts, the parsing of
 * their replies, and the pure decisions (call, probe or fail fast; what counts as a failure). */
#ifndef AGG_BREAKER_H
#define AGG_BREAKER_H

#include "err.h"
#include "outcome.h"
#include "rds.h"

struct redisReply;

/* The reason an outcome event gives when a call was not made because the circuit is open. */
#define BREAKER_REASON_OPEN "circuit open"

/* Key layout: one hash per resource, agg:breaker:{<source>}, so each script call touches one
 * Redis Cluster slot. Fields: state ("open" | "probing"; absent: closed), fails (consecutive
 * failures), until (epoch ms: the end of the cool-down when open, of the probe's lease when
 * probing). A closed circuit without failures has no key. */
#define BREAKER_KEY_MAX 96

typedef enum breaker_state {
    BREAKER_CLOSED = 0, /* calls go out */
    BREAKER_OPEN,       /* calls fail fast until `until`, then one probe may go out */
    BREAKER_PROBING     /* one caller's probe is out (until its lease ends at `until`) */
} breaker_state;

/* What is known of one resource's breaker (a Redis reply, or a worker's local copy). */
typedef struct breaker_view {
    breaker_state state;
    long long fails;    /* consecutive failures */
    long long until_ms; /* see the key layout; 0 when closed */
} breaker_view;

typedef enum breaker_decision {
    BREAKER_CALL = 0,  /* make the call as usual */
    BREAKER_TRY_PROBE, /* the cool-down is over: ask Redis for the probe (breaker_call_probe) */
    BREAKER_FAIL_FAST  /* do not call: the outcome is ERROR, reason BREAKER_REASON_OPEN */
} breaker_decision;

/* What a call should do given view v at now_ms (the caller's wall clock, epoch ms). */
breaker_decision breaker_decide(const breaker_view *v, long long now_ms);
/* 1 when outcome o of a fan-out call is a failure of the resource: ERROR, CONNECTION_CLOSED and
 * the call's own TIMEOUT. 2xx (ACCEPTED) and REJECTED are answers: 0. */
int breaker_is_failure(outcome_t o);
/* 1 when a call's result must be reported to Redis given the caller's view v: every failure,
 * the probe's result, and a success while v shows failures or a circuit not closed. A success
 * on a closed circuit without failures changes nothing and is not reported (the hot path). */
int breaker_must_report(const breaker_view *v, int failed, int probe);
/* "closed", "open" or "probing". Static. */
const char *breaker_state_name(breaker_state s);

/* A call being built (as session_call: build, send at once, discard). */
typedef struct breaker_call {
    rds_call call;
    char key[BREAKER_KEY_MAX];
    char num[4][24];
} breaker_call;

/* The tunables the scripts take. */
typedef struct breaker_params {
    long threshold;   /* BREAKER_FAILURES */
    long cooldown_ms; /* BREAKER_COOLDOWN_MS */
    long lease_ms;    /* how long a probe is its caller's: the call's timeout and a margin */
} breaker_params;

/* The TTL every write gives the key: the cool-down and the lease plus an hour, so an open
 * circuit outlives its cool-down (the next caller probes) and old failures are forgotten. */
long long breaker_ttl_ms(const breaker_params *p);

/* Builders; each fills *bc. AGG_ERR with e filled when source is empty, too long or NULL, or a
 * parameter is out of range. Strings are copied into *bc. */
/* breaker_fail.lua: one failure (probe: 1 when the call was the probe). */
int breaker_call_fail(breaker_call *bc, const char *source, const breaker_params *p,
                      long long now_ms, int probe, err_t *e);
/* breaker_success.lua: one success. */
int breaker_call_success(breaker_call *bc, const char *source, int probe, err_t *e);
/* breaker_probe.lua: asks for the probe. */
int breaker_call_probe(breaker_call *bc, const char *source, const breaker_params *p,
                       long long now_ms, err_t *e);
/* HMGET of the breaker's state; reply by breaker_read_reply. */
int breaker_call_read(breaker_call *bc, const char *source, err_t *e);

/* Parses a script's reply {state, fails, until, granted} into *v and *granted (may be NULL).
 * AGG_ERR with e filled on an error reply or another shape (v unchanged). */
int breaker_script_reply(const struct redisReply *reply, breaker_view *v, int *granted, err_t *e);
/* Parses breaker_call_read's reply (HMGET state fails until; all nil: closed). AGG_ERR with e
 * filled on an error reply or another shape (v unchanged). */
int breaker_read_reply(const struct redisReply *reply, breaker_view *v, err_t *e);

#endif
