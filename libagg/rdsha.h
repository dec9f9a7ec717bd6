/* rdsha: the pure decisions of following a Redis primary through Sentinel: which sentinel to ask next, what to do when a connection closes, and what the replies mean. */
#ifndef AGG_RDSHA_H
#define AGG_RDSHA_H

#include <stddef.h>

#include "conncfg.h"
#include "err.h"

struct redisReply;

/* The sentinels asked in turn: the one that answered last is asked first. */
typedef struct rdsha_rotation {
    size_t n;      /* sentinels, at least 1 */
    size_t next;   /* the one to ask now */
    size_t failed; /* failures in a row since a primary was last reached */
} rdsha_rotation;

/* Starts with sentinel 0; n must be at least 1. */
void rdsha_rotation_init(rdsha_rotation *r, size_t n);

/* What a connection is for: asking a sentinel, or serving as the primary. */
enum rdsha_phase { RDSHA_ASK, RDSHA_PRIMARY };

typedef struct rdsha_next {
    enum rdsha_phase phase; /* what the next connection is for */
    int at_once;            /* 1: connect now; 0: after the backoff */
} rdsha_next;

/* Decides what follows when a connection of phase closed. named: the sentinel asked named a
 * primary (RDSHA_ASK). was_up: the primary was confirmed (ROLE master) and set up
 * (RDSHA_PRIMARY). A sentinel that gave no address, or whose primary could not be used
 * (refused, not a master any more), counts as failed and the next one is asked at once; once
 * every sentinel failed in a row the next round waits for the backoff. A primary that was up
 * and is lost is looked up again at once (from the sentinel that named it). */
rdsha_next rdsha_after_close(rdsha_rotation *r, enum rdsha_phase phase, int named, int was_up);

/* Parses the reply of SENTINEL get-master-addr-by-name (an array of the address and the
 * port) into out. AGG_ERR with e filled on a nil reply (the sentinel monitors no such name),
 * an error reply, or another shape. */
int rdsha_master_addr_reply(const struct redisReply *reply, conncfg_hostport *out, err_t *e);

/* Reads the reply of ROLE: AGG_OK when the server is a primary ("master"); AGG_ERR with e
 * naming what it is otherwise (a replica: a demoted or stale primary must not be used). */
int rdsha_role_reply(const struct redisReply *reply, err_t *e);

/* 1 when reply is the error a replica answers a write with (-READONLY): the primary moved. */
int rdsha_is_readonly(const struct redisReply *reply);

#endif
